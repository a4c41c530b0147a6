"""The inspector page against what a user's traffic may hold, in a real headless Chromium:
values that are markup, bidirectional overrides, names of thousands of characters, every
family's and fault's row, and keys sent every way a client sends them (headers, cookie,
query string), none of which may reach the page, its feed or its views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import anthropic
import httpx
import pytest
import yaml

from tests.conftest import RunningServer, start_server
from tests.e2e.browser import chromium

KEY = "sk-audit-e2e-0c9b1f5e7a2d4b38"
CLAUDE_KEY = "sk-ant-audit-e2e-6f1d2c9a8b7e5d43"
RULES = """\
version: 1
rules:
  - name: "<img src=x onerror=alert(1)>"
    match: { model: "evil-<script>alert(2)</script>" }
    reply: { content: "<script>alert(3)</script></textarea><img src=x onerror=alert(4)>" }

  - name: "tilted\u202eABC"
    match: { model: "tilted*" }
    reply: { content: "leaning" }

  - name: limited
    match: { model: limited }
    reply: { error: { status: 429, headers: { Retry-After: "0" } } }

  - name: overloaded
    match: { model: claude-overloaded }
    reply:
      content: "this stream fails half way"
      fault: { error_after_tokens: 2, error: { status: 529, type: overloaded_error } }

  - name: drop
    match: { model: fault-disconnect }
    reply:
      content: "partial answer that never ends because the connection drops"
      fault: { disconnect_after_tokens: 3 }
"""
KEYS = f"""\
keys:
  - key: {KEY}
  - key: {CLAUDE_KEY}
"""
# Every secret a request below carries; none may be on the page or in what it reads.
SECRETS = (
    KEY,
    CLAUDE_KEY,
    "COOKIE-SECRET-5e1f",
    "AZURE-SECRET-93bd",
    "QUERY-SECRET-17ac",
    "QUERY-SECRET-8d2e",
)
ROW = '#exchanges tbody tr[data-id="{}"]'
# The page's feed, as it reads it: every event's data, kept for the test to read.
FEED_TAP = """(() => {
  const Source = window.EventSource;
  window.feedEvents = [];
  window.EventSource = function (url) {
    const source = new Source(url);
    for (const name of ["hello", "snapshot", "rows", "cleared"]) {
      source.addEventListener(name, (event) => window.feedEvents.push(event.data));
    }
    return source;
  };
})()"""


def chat(model: str, content: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **fields}


# A recorded stream whose events hold a "__proto__" key and an integer past 2^53, asked
# with a seed past 2^53: values a page that parses JSON plainly drops or rounds.
SEED = 9007199254740993
RECORDED_ASK = chat("recorded-exact", "count past 2^53", stream=True, seed=SEED)
_CHUNK = (
    '{"id":"chatcmpl-x1","object":"chat.completion.chunk","created":1,'
    '"model":"recorded-exact","choices":[{"index":0,"delta":%s,"finish_reason":%s}],'
    '"__proto__":{"polluted":true},"seq":12345678901234567891}'
)
RECORDED = {
    "interactions": [
        {
            "request": {
                "body": json.dumps(RECORDED_ASK),
                "headers": {"content-type": ["application/json"]},
                "method": "POST",
                "uri": "https://api.openai.com/v1/chat/completions",
            },
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {"content-type": ["text/event-stream; charset=utf-8"]},
                "body": {
                    "string": "".join(
                        f"data: {chunk}\n\n"
                        for chunk in (
                            _CHUNK % ('{"role":"assistant","content":"Hi"}', "null"),
                            _CHUNK % ("{}", '"stop"'),
                            "[DONE]",
                        )
                    )
                },
            },
        }
    ],
    "version": 1,
}


@pytest.fixture(scope="module")
def starting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Future[RunningServer]]:
    """The module's server, started in a thread while the browser launches."""
    folder = tmp_path_factory.mktemp("inspector-audit")
    (folder / "app.yaml").write_text(RULES)
    (folder / "keys.yaml").write_text(KEYS)
    (folder / "cassettes").mkdir()
    (folder / "cassettes" / "exact.yaml").write_text(yaml.safe_dump(RECORDED))
    args = ("--scenarios", str(folder / "app.yaml"), "--keys", str(folder / "keys.yaml"))
    args += ("--cassettes", str(folder / "cassettes"), "--cassette-miss", "fallthrough")
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(start_server, *args, tmp_path=folder)
        yield started
        started.result().stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(starting: Future[RunningServer], browser: Any) -> RunningServer:
    return starting.result()


@pytest.fixture(scope="module")
def opened(server: RunningServer, browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """One page for the module, its policy bypassed (so that escaping, not the policy, keeps
    markup out) and its feed tapped; the script errors and dialogs that happen on it."""
    context = browser.new_context(viewport={"width": 1440, "height": 860}, bypass_csp=True)
    context.add_init_script(FEED_TAP)
    page = context.new_page()
    trouble: list[str] = []
    page.on("pageerror", lambda exc: trouble.append(f"error: {exc}"))
    page.on(
        "dialog", lambda dialog: (trouble.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    page.goto(f"{server.url}/__admin/ui")
    page.wait_for_selector('#conn[data-state="live"]', timeout=5000)
    yield page, trouble
    context.close()


@pytest.fixture
def page(server: RunningServer, opened: tuple[Any, list[str]]) -> Iterator[Any]:
    """The module's page on the Exchanges tab, no exchange open, its journal empty; no
    script error and no dialog may happen while a test uses it."""
    page, trouble = opened
    httpx.post(f"{server.url}/__admin/reset")
    page.click('.tab[data-view="exchanges"]')
    page.evaluate("document.querySelector('#detail-close').click()")
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr').length === 0")
    yield page
    assert trouble == []


def send(server: RunningServer, path: str, body: Any = None, **options: Any) -> httpx.Response:
    """POST with the key; the response, its body read as far as the server sent it."""
    headers = {"authorization": f"Bearer {KEY}", **options.pop("headers", {})}
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    with httpx.Client() as client:
        request = client.build_request(
            "POST", f"{server.url}{path}", content=body, headers=headers, **options
        )
        response = client.send(request, stream=True)
        try:
            response.read()
        except httpx.RemoteProtocolError:  # a fault cut the connection
            pass
        finally:
            response.close()
    return response


def exchange_id(response: httpx.Response) -> str:
    return response.headers.get("x-request-id") or response.headers["request-id"]


def open_detail(page: Any, exchange: str, section: str = "request") -> Any:
    page.click(ROW.format(exchange), timeout=2000)
    page.wait_for_selector(f"#detail-title:text('{exchange}')")
    page.click(f'.subtabs button[data-section="{section}"]')
    return page.wait_for_selector(f'#detail-body[data-section="{section}"]')


def page_is_as_wide_as_the_window(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_bidi_override_in_a_value_reorders_nothing_after_it(
    page: Any, server: RunningServer
) -> None:
    """A model named with U+202E (right-to-left override) turned the rest of the exchange's
    summary back to front: its status and its rule were drawn reversed, before the model's
    end; a rule's name did the same to the timing's pace. Each value is isolated: what
    follows it is drawn after it, as written."""
    sent = send(server, "/v1/chat/completions", chat("tilted\u202eXYZ", "hello \u202eright"))
    assert sent.status_code == 200
    open_detail(page, exchange_id(sent))
    status = f" {sent.status_code} "
    assert follows(page, "#detail-summary", "XYZ", status)  # the model, then the status
    assert follows(page, "#detail-summary", "ABC", " ms")  # the rule, then the duration
    open_detail(page, exchange_id(sent), "timing")
    assert follows(page, "#detail-body", "ABC", "TTFT")  # the rule, then its pace


def follows(page: Any, where: str, first: str, then: str) -> bool:
    """Whether the text `then` is drawn to the right of the text `first`, within `where`."""
    left, right = page.evaluate(
        """([where, texts]) => texts.map((text) => {
          const root = document.querySelector(where);
          const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
          for (let node; (node = walk.nextNode());) {
            const at = node.data.indexOf(text);
            if (at < 0) continue;
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + text.length);
            return range.getBoundingClientRect().toJSON();
          }
          return null;
        })""",
        [where, [first, then]],
    )
    return bool(right["left"] >= left["right"] > left["left"])


def test_long_values_wrap_inside_the_page(page: Any, server: RunningServer) -> None:
    """A model, a header value or a rule name of thousands of characters without a space:
    the model filter (a select is as wide as its longest option), the headers' table and
    the state's rules table widened the page to tens of thousands of pixels."""
    long = "w" * 4000
    sent = send(server, "/v1/chat/completions", chat(long, "hi"), headers={"x-trace": long})
    rule = f"version: 1\nrules:\n  - name: {long}\n    match: {{ model: x }}\n    reply: {{}}\n"
    added = httpx.post(
        f"{server.url}/__admin/rules", content=rule, headers={"content-type": "application/yaml"}
    )
    assert added.status_code == 201
    try:
        body = open_detail(page, exchange_id(sent), "headers")
        assert long in body.inner_text()
        assert body.evaluate("(b) => b.scrollWidth <= b.clientWidth")
        assert page_is_as_wide_as_the_window(page)
        page.click('.tab[data-view="state"]')
        page.wait_for_selector('[data-table="rules"]')
        assert page_is_as_wide_as_the_window(page)
    finally:
        httpx.delete(f"{server.url}/__admin/rules")


def test_every_familys_rows_show_and_no_key_reaches_the_page(
    page: Any, server: RunningServer
) -> None:
    """The families, their side routes, faults and refusals each get a row saying what
    answered; keys sent in headers, a cookie or the query string are nowhere in the page,
    its feed or the views it can fetch; markup in names and prompts stays text."""
    with anthropic.Anthropic(base_url=server.url, api_key=CLAUDE_KEY, max_retries=0) as claude:
        counted = claude.messages.with_raw_response.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "count me"}]
        )
        with claude.messages.with_streaming_response.create(
            model="claude-overloaded",
            max_tokens=20,
            messages=[{"role": "user", "content": "x"}],
            stream=True,
        ) as overloaded:
            overloaded.read()
    secret = {
        "cookie": "session=COOKIE-SECRET-5e1f",
        "api-key": "AZURE-SECRET-93bd",
        "x-api-key": KEY,
    }
    query = {"key": "QUERY-SECRET-17ac", "api_key": "QUERY-SECRET-8d2e"}
    hostile = "<script>alert(5)</script></textarea><img src=x onerror=alert(6)> javascript:x"
    rows = {
        "<img src=x onerror=alert(1)> (": send(
            server,
            "/v1/chat/completions",
            chat("evil-<script>alert(2)</script>", hostile + "\u0000"),
            headers=secret,
            params=query,
        ),
        "limited (": send(server, "/v1/chat/completions", chat("limited", "hi")),
        "drop (": send(server, "/v1/chat/completions", chat("fault-disconnect", "x", stream=True)),
        "refused": send(server, "/v1/chat/completions", b'{"model": "gpt-4o", "messages": ['),
        "generator": send(server, "/v1/responses", {"model": "gpt-4o", "input": "hello"}),
        "the request alone": counted.http_response,
        "overloaded (": overloaded.http_response,
        "route": httpx.get(f"{server.base_url}/models", headers={"authorization": f"Bearer {KEY}"}),
    }
    missing = httpx.post(f"{server.url}/v1/nowhere/<b>", headers={"x-api-key": KEY})
    assert missing.status_code == 404
    for by, response in rows.items():
        row = page.wait_for_selector(ROW.format(exchange_id(response)), timeout=2000)
        assert by in row.inner_text(), (by, row.inner_text())
    page.wait_for_function("document.querySelectorAll('#exchanges tbody tr.open').length === 0")
    texts = {by: page.inner_text(ROW.format(exchange_id(r))) for by, r in rows.items()}
    assert "error_after_tokens=2" in texts["overloaded ("]
    assert "disconnect_after_tokens=3" in texts["drop ("]
    assert "429" in texts["limited ("]
    assert hostile in texts["<img src=x onerror=alert(1)> ("]
    nowhere = page.inner_text(ROW.format(exchange_id(missing)))
    assert "/v1/nowhere/<b>" in nowhere and "404" in nowhere and "refused" in nowhere
    assert page.query_selector("#exchanges img, #exchanges script") is None
    ids = [exchange_id(r) for r in rows.values()]
    paths = [f"/__admin/requests/{i}" for i in ids] + ["/__admin/requests", "/__admin/state"]
    views = page.evaluate(
        "(paths) => Promise.all(paths.map((path) => fetch(path).then((r) => r.text())))", paths
    )
    feed = "\n".join(page.evaluate("window.feedEvents"))
    for value in SECRETS:
        assert value not in page.content(), value
        assert value not in feed, value
        assert not [v for v in views if value in v], value


def test_a_page_that_fell_behind_the_feed_says_what_it_dropped(
    page: Any, server: RunningServer
) -> None:
    """A page more than 8 MiB behind gets a fresh snapshot (docs/inspector.md, the feed),
    and the rows that were waiting for it are dropped. The table was replaced without a
    word; now the page says so. The feed here is the server's row shape, as the server
    sends it to a page that fell behind: hello, snapshot, rows, snapshot again."""
    sent = send(server, "/v1/chat/completions", chat("gpt-4o-mini", "hello"))
    row = httpx.get(f"{server.url}/__admin/requests/{exchange_id(sent)}").json()["row"]
    made = [{**row, "id": f"req_{i:08d}"} for i in range(5)]
    hello = {"version": "test", "pid": 1, "process": 0, "shared": False, "note": None}
    feed = (
        "retry: 600000\n\n"
        + f"event: hello\ndata: {json.dumps(hello)}\n\n"
        + f"event: snapshot\ndata: {json.dumps(made[:2])}\n\n"
        + f"event: rows\ndata: {json.dumps(made[2:3])}\n\n"
        + f"event: snapshot\ndata: {json.dumps(made[3:])}\n\n"
    )
    assert page.is_hidden("#behind-note")  # a page that keeps up is told nothing
    behind = page.context.new_page()
    errors: list[str] = []
    behind.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        behind.route(
            "**/__admin/feed",
            lambda route: route.fulfill(
                status=200, headers={"content-type": "text/event-stream"}, body=feed
            ),
        )
        behind.goto(f"{server.url}/__admin/ui")
        behind.wait_for_function(
            "document.querySelector('#counts').textContent === '2 of 2 exchanges'"
        )
        note = behind.inner_text("#behind-note")
        assert "this page fell behind the feed" in note
        assert "the journal's newest 2 exchanges; those in between are not shown" in note
        assert errors == []
    finally:
        behind.close()


def test_json_values_are_shown_as_sent(page: Any, server: RunningServer) -> None:
    """An integer past 2^53 kept its digits neither in the request (a seed of
    9007199254740993 shown as 9007199254740992) nor in a stream's events, and an event's
    "__proto__" key was left out of its short view: the page parsed JSON plainly, and
    copied fields into a plain object, where that key sets the prototype."""
    response = send(server, "/v1/chat/completions", RECORDED_ASK)
    assert response.status_code == 200 and b'"__proto__"' in response.content
    exchange = exchange_id(response)
    page.wait_for_selector(ROW.format(exchange))
    assert str(SEED) in open_detail(page, exchange, "request").inner_text()
    events = open_detail(page, exchange, "answer")
    rows = [row.inner_text() for row in events.query_selector_all("table.events tbody tr")]
    assert len(rows) == 3
    for row in rows[:2]:
        assert '"__proto__":{"polluted":true}' in row and '"seq":12345678901234567891' in row
