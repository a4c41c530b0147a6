"""The inspector page as a user meets it across the API families, in a real headless
Chromium against a real server, with requests sent by the official SDKs: what the page
shows of secrets other services' headers carry, of exchanges no rule could answer, of a
stream cut by a fault, and of many exchanges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import RunningServer, start_server
from tests.e2e.browser import chromium, inspector_page

KEY = "sk-families-e2e-7d41b08e365f2c9a"
RULES = """\
version: 1
rules:
  - name: greet
    match: { last_user: { contains: hello } }
    reply: { content: "Hello from the families test!" }

  - name: drop
    match: { model: fault-disconnect }
    reply:
      content: "partial answer that never ends because the connection drops"
      fault: { disconnect_after_tokens: 3 }
"""
ROW = '#exchanges tbody tr[data-id="{}"]'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("families")
    (folder / "app.yaml").write_text(RULES)
    running = start_server("--scenarios", str(folder / "app.yaml"), tmp_path=folder)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(server: RunningServer, browser: Any) -> Iterator[Any]:
    httpx.post(f"{server.url}/__admin/reset")
    with inspector_page(browser, server.url) as opened:
        yield opened


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        yield client


def open_section(page: Any, exchange_id: str, section: str) -> Any:
    page.wait_for_selector(ROW.format(exchange_id), timeout=2000)
    page.click(ROW.format(exchange_id))
    page.wait_for_selector(f"#detail-title:text('{exchange_id}')")
    page.click(f'.subtabs button[data-section="{section}"]')
    return page.wait_for_selector(f'#detail-body[data-section="{section}"]')


def test_other_services_keys_in_headers_never_reach_the_page(
    page: Any, server: RunningServer, sdk: openai.OpenAI
) -> None:
    """Keys a client sends along for other services (a gateway's, an observability
    proxy's) are masked like the API key: neither the page nor its data holds them."""
    secrets = {
        "x-goog-api-key": "AIzaSyFamiliesGoogleSecret0123456789",
        "helicone-auth": "Bearer sk-helicone-families-secret-0123456789",
        "x-portkey-api-key": "pk-families-portkey-secret-0123456789",
        "ocp-apim-subscription-key": "apim0families0subscription0secret",
        "cf-aig-authorization": "Bearer cf-families-gateway-secret-0123456789",
    }
    raw = sdk.with_options(default_headers=secrets).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello with headers"}]
    )
    exchange_id = raw.headers["x-request-id"]
    body = open_section(page, exchange_id, "headers")
    shown = body.inner_text()
    assert "x-goog-api-key\tAIza…789" in shown, shown
    assert "helicone-auth\tBearer sk-h…789" in shown
    detail = page.evaluate(f"fetch('/__admin/requests/{exchange_id}').then((r) => r.text())")
    for value in secrets.values():
        secret = value.removeprefix("Bearer ")
        assert secret not in page.content() and secret not in detail, secret


def made_rule(page: Any, exchange_id: str) -> str:
    """What "Make a rule" gives: the YAML in the box, or the page's message why not."""
    open_section(page, exchange_id, "rule")
    if page.is_disabled("#make-rule"):  # the page knows already: it says why
        return str(page.inner_text(".result.bad"))
    page.click("#make-rule")
    page.wait_for_function(
        "document.querySelector('#detail-body textarea').value !== ''"
        " || document.querySelector('#detail-body .result.bad') !== null"
    )
    return str(page.input_value("#detail-body textarea") or page.inner_text(".result.bad"))


def test_an_exchange_no_rule_could_answer_says_so(
    page: Any, server: RunningServer, sdk: openai.OpenAI
) -> None:
    """Token counting is answered from the request alone, and a request refused as bad
    input is refused before any rule: their why-not lists no near misses, and "Make a
    rule" makes none (a rule would answer neither), where it offered a rule for a miss.
    The page says so without asking the server, whose refusal (400) the browser logged as
    an error in its console."""
    console: list[str] = []

    def heard(message: Any) -> None:
        console.append(message.text)

    page.on("console", heard)
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0) as claude:
        counted = claude.messages.with_raw_response.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hello, count me"}]
        )
    assert counted.parse().input_tokens > 0
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hello"}], temperature=9
        )
    for exchange_id, why in (
        (
            counted.headers["request-id"],
            "POST /v1/messages/count_tokens is answered from the request alone: no rule answers it",
        ),
        (
            refused.value.response.headers["x-request-id"],
            "the request was refused (400: Invalid 'temperature'",
        ),
    ):
        body = open_section(page, exchange_id, "whynot")
        assert body.query_selector(".near") is None
        assert why[1:] in body.inner_text()
        assert f"This exchange cannot become a rule: {why}" in made_rule(page, exchange_id)
        assert page.is_disabled("#make-rule") and console == [], console
        asked = page.evaluate(
            f"fetch('/__admin/requests/{exchange_id}/rule')"
            ".then(async (r) => [r.status, await r.text()])"
        )
        assert asked[0] == 400 and f"This exchange cannot become a rule: {why}" in asked[1]
        console.clear()  # the browser logs the refused fetch above
    page.remove_listener("console", heard)


def test_a_stream_cut_by_a_fault_shows_which_events_were_never_sent(
    page: Any, server: RunningServer, sdk: openai.OpenAI
) -> None:
    """disconnect_after_tokens: 3 sends the role delta and three deltas, then closes the
    connection: the answer's events after them (the finish chunk, [DONE]) are shown as
    never sent, not as a stream that ended well."""
    got = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in sdk.chat.completions.create(
            model="fault-disconnect", messages=[{"role": "user", "content": "drop"}], stream=True
        ):
            got += [c.delta.content for c in chunk.choices if c.delta.content]
    assert got == ["partial", " answer", " that"]
    journal = httpx.get(f"{server.url}/__admin/requests").json()["requests"]
    exchange_id = journal[-1]["id"]
    body = open_section(page, exchange_id, "answer")
    rows = body.query_selector_all("table.events tbody tr")
    cut = [i for i, row in enumerate(rows) if row.get_attribute("class") == "cut"]
    assert cut == [4], [row.inner_text() for row in rows]
    assert "The connection was cut here: the 9 events below were never sent." in (
        rows[4].inner_text()
    )
    sent, unsent = rows[:4], rows[5:]
    assert [r.get_attribute("class") for r in sent] == [None] * 4
    assert [r.get_attribute("class") for r in unsent] == ["unsent"] * 9
    assert all(r.query_selector_all("td")[2].inner_text() == "not sent" for r in unsent)
    assert "[DONE]" in unsent[-1].inner_text()


def test_the_filters_offer_only_what_the_rows_kept_hold(
    server: RunningServer, browser: Any, sdk: openai.OpenAI
) -> None:
    """The page keeps the newest 5000 rows; its model and source filters offered every
    value ever seen, so a long replay of many models (or cassette interactions) grew the
    lists, and the page, without end. The feed here is the server's row shape, 5600 times
    (a real feed takes minutes to send as many)."""
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    row = httpx.get(f"{server.url}/__admin/requests/{raw.headers['x-request-id']}").json()["row"]
    made = [{**row, "id": f"req_{i:08d}", "model": f"model-{i}"} for i in range(5600)]
    hello = {"version": "test", "pid": 1, "process": 0, "shared": False, "note": None}
    feed = (
        "retry: 600000\n\n"
        + f"event: hello\ndata: {json.dumps(hello)}\n\n"
        + f"event: snapshot\ndata: {json.dumps(made[:1000])}\n\n"
        + "".join(
            f"event: rows\ndata: {json.dumps(made[i : i + 500])}\n\n"
            for i in range(1000, 5600, 500)
        )
    )
    context = browser.new_context(bypass_csp=True)
    try:
        opened = context.new_page()
        opened.route(
            "**/__admin/feed",
            lambda route: route.fulfill(
                status=200, headers={"content-type": "text/event-stream"}, body=feed
            ),
        )
        opened.goto(f"{server.url}/__admin/ui")
        opened.wait_for_function(
            "document.querySelector('#counts').textContent === '5000 of 5000 exchanges'"
        )
        offered = opened.eval_on_selector_all(
            "#filter-model option", "(o) => o.map((x) => x.value)"
        )
        assert len(offered) == 5001, len(offered)  # "any model" and the rows' 5000
        assert "model-5599" in offered and "model-599" not in offered
    finally:
        context.close()
