"""The inspector page in a real headless Chromium, against a real server, with requests sent
by the official openai SDK: rows as they happen, a miss and its near misses, a stream's
events and timing, an exchange made into a rule, the state and a reset.

Screenshots of each view are saved (to $MOCKLLM_SCREENSHOTS when set: that is how
docs/inspector/*.png are made)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import RunningServer, start_server
from tests.e2e.browser import (
    CHROMIUM_FLAGS,
    chromium,
    chromium_path,
    inspector_page,
    screenshot_dir,
)

KEY = "sk-inspector-e2e-5f2c9a7d41b08e36"
RULES = """\
version: 1
rules:
  - name: greet
    match: { last_user: { contains: hello } }
    reply: { content: "Hello from the inspector test!" }

  - name: story
    match: { model: gpt-4o, last_user: { contains: story }, stream: true }
    reply:
      content: "Once upon a time a small mock server answered every request right on time."
      latency: { ttft_ms: 150, inter_token_ms: 12, jitter_ms: 3 }

  - name: weather
    match:
      model: gpt-4o
      last_user: { contains: weather }
      tools: [get_weather]
    reply:
      tool_calls: [{ name: get_weather, arguments: { city: Paris } }]

  - name: flaky
    match: { model: flaky-model }
    sequence:
      - error: { status: 429, headers: { Retry-After: "0" } }
      - content: "third time lucky"

  - name: vectors
    match: { api: embeddings }
    reply: { latency: { ttft_ms: 5 } }
"""
KEYS = f"""\
keys:
  - key: {KEY}
    credits: 5
    rpm: 600
    tpm: 200000
prices:
  "*": {{ prompt: 0.5, completion: 1.0 }}
"""
ROW = '#exchanges tbody tr[data-id="{}"]'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("inspector")
    (folder / "app.yaml").write_text(RULES)
    (folder / "keys.yaml").write_text(KEYS)
    running = start_server(
        "--scenarios", str(folder / "app.yaml"), "--keys", str(folder / "keys.yaml"),
        "--strict", "--seed", "3", tmp_path=folder,
    )  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_dir(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
def page(server: RunningServer, browser: Any) -> Iterator[Any]:
    httpx.delete(f"{server.url}/__admin/rules")
    httpx.post(f"{server.url}/__admin/reset")
    with inspector_page(browser, server.url) as opened:
        yield opened


@pytest.fixture
def sdk(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)


def chat(sdk: openai.OpenAI, content: str, model: str = "gpt-4o-mini", **fields: Any) -> str:
    """Send a chat completion with the SDK; the exchange's id (whatever the status)."""
    messages = [{"role": "user", "content": content}]
    try:
        raw = sdk.chat.completions.with_raw_response.create(
            model=model, messages=messages, **fields
        )
        if fields.get("stream"):
            for _ in raw.parse():
                pass
        return raw.headers["x-request-id"]
    except openai.APIStatusError as exc:
        return exc.response.headers["x-request-id"]


def row_within_a_second(page: Any, exchange_id: str) -> Any:
    """The exchange's row, which must be drawn within a second of its answer."""
    started = time.monotonic()
    row = page.wait_for_selector(ROW.format(exchange_id), timeout=1000)
    assert time.monotonic() - started < 1.0
    return row


def open_section(page: Any, exchange_id: str, section: str) -> Any:
    page.click(ROW.format(exchange_id))
    page.wait_for_selector(f"#detail-title:text('{exchange_id}')")
    page.click(f'.subtabs button[data-section="{section}"]')
    return page.wait_for_selector(f'#detail-body[data-section="{section}"]')


def test_rows_arrive_as_the_sdk_sends_requests(page: Any, sdk: openai.OpenAI, shots: Path):
    ids = [chat(sdk, "hello there")]
    row_within_a_second(page, ids[0])
    ids.append(chat(sdk, "tell me a story", model="gpt-4o", stream=True))
    row_within_a_second(page, ids[-1])
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object"}},
    }
    ids.append(chat(sdk, "what is the weather in Paris?", model="gpt-4o", tools=[tool]))
    row_within_a_second(page, ids[-1])
    ids.append(chat(sdk, "hi again", model="flaky-model"))
    row_within_a_second(page, ids[-1])
    ids.append(chat(sdk, "is anyone there?", model="gpt-4o-mini"))
    row_within_a_second(page, ids[-1])
    embedded = sdk.embeddings.with_raw_response.create(model="text-embedding-3-small", input="x")
    ids.append(embedded.headers["x-request-id"])
    row_within_a_second(page, ids[-1])
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr.open').length === 0")
    cells = {
        exchange_id: page.inner_text(ROW.format(exchange_id)).split("\t") for exchange_id in ids
    }
    assert "greet (app.yaml:3)" in cells[ids[0]]
    assert "story (app.yaml:7)" in cells[ids[1]] and "stream" in cells[ids[1]]
    assert "429" in cells[ids[3]] and "flaky (app.yaml:21)" in cells[ids[3]]
    assert "404" in cells[ids[4]] and "miss" in cells[ids[4]]
    assert "sk-i…e36" in cells[ids[0]]  # the key's alias, never the key
    assert "embeddings · /v1/embeddings" in page.inner_text(ROW.format(ids[5]))
    page.screenshot(path=str(shots / "exchanges.png"))

    # Filter by text, status, rule and model.
    page.fill("#filter-text", "story")
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr').length === 1")
    page.fill("#filter-text", "")
    page.select_option("#filter-status", "4xx")
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr').length === 2")
    page.select_option("#filter-status", "")
    page.select_option("#filter-rule", "miss")
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr').length === 1")
    page.select_option("#filter-rule", "")
    page.select_option("#filter-model", "gpt-4o")
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr').length === 2")
    page.select_option("#filter-model", "")

    # Pause: rows wait; resume: they are drawn. Clear empties the journal and the table.
    page.click("#pause")
    waiting = chat(sdk, "hello while paused")
    page.wait_for_selector("#pause:text('Resume (1 new)')", timeout=2000)
    assert page.query_selector(ROW.format(waiting)) is None
    page.click("#pause")
    row_within_a_second(page, waiting)
    # Clear while paused: the table empties at once (the journal did), and what arrives
    # after waits for Resume.
    page.click("#pause")
    page.click("#clear")
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr').length === 0")
    assert page.text_content("#counts") == "0 of 0 exchanges"
    after = chat(sdk, "hello after the clear")
    page.wait_for_selector("#pause:text('Resume (1 new)')", timeout=2000)
    assert page.query_selector(ROW.format(after)) is None
    page.click("#pause")
    row_within_a_second(page, after)
    page.click("#clear")
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr').length === 0")
    assert httpx.get(f"{sdk.base_url}".removesuffix("/v1/") + "/__admin/requests").json() == {
        "requests": []
    }


def test_a_miss_shows_its_near_misses(page: Any, sdk: openai.OpenAI, shots: Path):
    missed = chat(sdk, "what is the weather in Oslo?", model="gpt-4o")
    row_within_a_second(page, missed)
    body = open_section(page, missed, "whynot")
    nearest = body.query_selector(".near")
    assert nearest.get_attribute("data-rule") == "app.yaml#weather"
    failed = [c.inner_text() for c in nearest.query_selector_all(".cond.failed")]
    assert failed == ["tools: get_weather not offered (line 17)"]
    held = [c.inner_text() for c in nearest.query_selector_all(".cond.held")]
    assert held == ["model (line 15) held", "last_user (line 16) held"]
    greet = body.query_selector('.near[data-rule="app.yaml#greet"]')
    assert "last_user: 'what is the weather in Oslo?' is not contains 'hello'" in greet.inner_text()
    page.screenshot(path=str(shots / "why-not.png"))


def test_a_stream_shows_its_events_and_its_timing(page: Any, sdk: openai.OpenAI, shots: Path):
    streamed = chat(sdk, "tell me a story", model="gpt-4o", stream=True)
    row_within_a_second(page, streamed)
    body = open_section(page, streamed, "answer")
    events = body.query_selector_all("table.events tbody tr")
    assert len(events) > 10
    assert "data: [DONE]" in events[-1].inner_text()
    first_due = float(events[0].query_selector_all("td")[1].inner_text())
    assert 147 <= first_due <= 153  # ttft_ms 150 ± jitter 3
    page.screenshot(path=str(shots / "answer.png"))
    body = open_section(page, streamed, "timing")
    assert "TTFT 150 ms, then 12 ms per event ± 3 ms" in body.inner_text()
    # One tick per event where it was due, one where it was sent: measured, the page was open.
    assert len(body.query_selector_all("svg.strip line.due")) == len(events)
    assert len(body.query_selector_all("svg.strip line.sent")) == len(events)
    page.screenshot(path=str(shots / "timing.png"))
    body = open_section(page, streamed, "headers")
    text = body.inner_text()
    assert "Bearer sk-i…e36" in text and KEY not in text
    assert "x-ratelimit-remaining-requests" in text


def test_an_exchange_becomes_a_rule_that_answers_the_next_identical_request(
    page: Any, sdk: openai.OpenAI, shots: Path
):
    missed = chat(sdk, "how do I rotate my keys?", model="gpt-4o")
    row_within_a_second(page, missed)
    open_section(page, missed, "rule")
    page.click("#make-rule")
    page.wait_for_function(
        "document.querySelector('#detail-body textarea').value.includes('rules:')"
    )
    text = page.input_value("#detail-body textarea")
    assert "last_user: how do I rotate my keys?" in text
    page.fill(
        "#detail-body textarea", text.replace("Write the answer here.", "Rotate them monthly.")
    )
    page.screenshot(path=str(shots / "make-a-rule.png"))
    page.click("#add-rule")
    page.wait_for_selector("#detail-body .result.ok")
    answered = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "how do I rotate my keys?"}]
    )
    assert answered.parse().choices[0].message.content == "Rotate them monthly."
    row = row_within_a_second(page, answered.headers["x-request-id"])
    assert f"from-{missed[-8:]} (<admin>:" in row.inner_text()


def test_the_state_view_and_reset(
    page: Any, sdk: openai.OpenAI, server: RunningServer, shots: Path
):
    first = chat(sdk, "hi", model="flaky-model")
    chat(sdk, "hello there")
    row_within_a_second(page, first)
    page.click('.tab[data-view="state"]')
    page.wait_for_selector('[data-table="rules"]')
    rules = page.inner_text('[data-table="rules"]')
    assert "greet\t" in rules and "/app.yaml:3\t" in rules
    sequence = page.inner_text('[data-table="sequences"]')
    assert "app.yaml#flaky\tonce for all\t1\t2 of 2\trepeat_last" in sequence
    keys = page.inner_text('[data-table="keys"]')
    assert "sk-i…e36" in keys and KEY not in keys and "of 5" in keys
    assert "of 600/min" in keys
    page.screenshot(path=str(shots / "state.png"), full_page=True)
    page.click("#reset")
    page.wait_for_function(
        "document.querySelector('[data-table=\"sequences\"]')?.innerText.includes('1 of 2')"
    )
    assert "5 of 5" in page.inner_text('[data-table="keys"]')
    page.click('.tab[data-view="exchanges"]')
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr').length === 0")
    assert httpx.get(f"{server.url}/__admin/requests").json() == {"requests": []}


def test_request_bodies_are_text_and_no_key_reaches_the_page(
    page: Any, sdk: openai.OpenAI, server: RunningServer
):
    prompt = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> hello'
    sent = chat(sdk, prompt)
    row = row_within_a_second(page, sent)
    assert prompt in row.inner_text()
    open_section(page, sent, "request")
    assert prompt in page.inner_text("#detail-body")
    assert page.evaluate("window.pwned") is None
    assert page.query_selector("#exchanges img, #detail-body img, #detail-body script") is None
    # Everything the page fetched or can fetch about this exchange, without the key.
    for path in (f"/__admin/requests/{sent}", "/__admin/state", "/__admin/requests"):
        assert KEY not in page.evaluate(f"fetch('{path}').then((r) => r.text())")
    assert KEY not in page.content()


def test_every_row_is_reachable_under_the_pages_own_policy(
    server: RunningServer, browser: Any
) -> None:
    """Only the rows in view are drawn; spacer rows stand for the others. Under the page's
    content security policy (not bypassed here) a style attribute is dropped, so the
    spacers must be sized another way, or older exchanges cannot be scrolled to."""
    httpx.post(f"{server.url}/__admin/reset")
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for i in range(150):
            client.post(
                "/chat/completions",
                json={
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"row {i}"}],
                },
                headers={"authorization": f"Bearer {KEY}"},
            )
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        opened = context.new_page()
        console: list[str] = []
        opened.on("console", lambda message: console.append(message.text))
        opened.goto(f"{server.url}/__admin/ui")
        opened.wait_for_selector('#conn[data-state="live"]', timeout=5000)
        opened.wait_for_selector("#exchanges tbody tr:not(.spacer)", timeout=5000)
        bottom = (
            "() => { const w = document.querySelector('.table-wrap');"
            " w.scrollTop = w.scrollHeight; }"
        )
        last = (
            "() => { const rows = document.querySelectorAll('#exchanges tbody tr:not(.spacer)');"
            " return rows.length ? rows[rows.length - 1].textContent : ''; }"
        )
        deadline = time.monotonic() + 5
        text = ""
        while time.monotonic() < deadline and "row 0gpt" not in text:
            opened.evaluate(bottom)
            time.sleep(0.2)
            text = opened.evaluate(last)
        assert "row 0gpt" in text, text  # the oldest exchange, at the bottom
        assert not [m for m in console if "Content Security Policy" in m], console
    finally:
        context.close()


def test_a_name_rebound_to_this_machine_cannot_open_the_page(
    server: RunningServer, browser: Any
) -> None:
    """DNS rebinding: a page on another site's name, resolved to 127.0.0.1. Chromium sends
    no Origin and no Sec-Fetch-Site to a plain-http name, so the server must refuse by the
    Host alone: neither the page nor the journal reaches that site's script."""
    port = server.url.rsplit(":", 1)[1]
    httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello secret"}]},
        headers={"authorization": f"Bearer {KEY}"},
    )
    rebinding = browser.browser_type.launch(
        executable_path=chromium_path(),
        args=[*CHROMIUM_FLAGS, "--host-resolver-rules=MAP rebound.example 127.0.0.1"],
    )
    try:
        context = rebinding.new_context()
        opened = context.new_page()
        answer = opened.goto(f"http://rebound.example:{port}/__admin/ui")
        assert answer is not None and answer.status == 403
        assert "admin_remote_refused" in opened.content()
        assert opened.evaluate("fetch('/__admin/requests').then((r) => r.status)") == 403
    finally:
        rebinding.close()


def test_a_path_that_is_not_a_familys_shows_no_family(page: Any, server: RunningServer) -> None:
    """GET /v1/models and a background response's polls are rows with no family: the row
    shows the path alone, not `null · /v1/models`."""
    listed = httpx.get(f"{server.base_url}/models", headers={"authorization": f"Bearer {KEY}"})
    row = row_within_a_second(page, listed.headers["x-request-id"])
    cell = row.query_selector_all("td")[1].inner_text()
    assert cell == "/v1/models", cell
