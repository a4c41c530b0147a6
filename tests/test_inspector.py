"""The inspector's views over HTTP, in process: one exchange's story, the rule made from it,
the state, and the access rules of the page and its data."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx
import pytest
import yaml

from mockllm.app import create_app
from mockllm.config import ServerConfig
from mockllm.loader import load_text

KEY = "sk-live-inspector-0123456789abcdef"
RULES = load_text(
    """\
version: 1
rules:
  - name: greet
    match: { model: "gpt-4o*", last_user: { contains: hello } }
    reply: { content: "Hi there!", latency: { ttft_ms: 5, inter_token_ms: 1 } }
  - name: weather
    match: { model: gpt-4o, last_user: { contains: weather }, stream: true }
    reply: { content: "Sunny." }
  - name: steps
    match: { model: stepper }
    sequence: [{ content: one }, { content: two }]
    sequence_scope: api_key
  - name: broken
    match: { model: broken-model }
    reply: { error: { status: 503, message: "down for maintenance" } }
""",
    "inspect.yaml",
)


def chat(content: str, model: str = "gpt-4o", **fields: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **fields}


def client(
    config: ServerConfig | None = None,
    peer: str = "127.0.0.1",
    rules: tuple = RULES,
    key: str | None = KEY,
) -> httpx.AsyncClient:
    app = create_app(config or ServerConfig(), rules)
    transport = httpx.ASGITransport(app=app, client=(peer, 1234))
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers)


async def last_id(http: httpx.AsyncClient) -> str:
    return (await http.get("/__admin/requests")).json()["requests"][-1]["id"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- one exchange ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_exchange_shows_its_request_answer_headers_and_pace():
    async with client() as http:
        sent = await http.post("/v1/chat/completions", json=chat("hello there", stream=True))
        assert sent.status_code == 200
        detail = (await http.get(f"/__admin/requests/{sent.headers['x-request-id']}")).json()
    row = detail["row"]
    assert row["by"] == "greet (inspect.yaml:3)" and row["source"] == "rule"
    assert row["key"] == "sk-l…def" and row["stream"] is True and row["done"] is True
    assert detail["request"]["body"]["messages"][0]["content"] == "hello there"
    answer = detail["answer"]
    assert answer["kind"] == "stream"
    texts = [e["text"] for e in answer["events"]]
    assert texts[-1] == "data: [DONE]\n\n" and any('"Hi' in t for t in texts)
    assert answer["events"][0]["due_ms"] == 5.0
    # No page was open: nothing was measured, the intended pace is there.
    assert detail["timing"]["measured"] is False
    assert detail["timing"]["pace"]["ttft_ms"] == 5.0
    assert detail["timing"]["pace"]["from"] == "inspect.yaml#greet"
    received = dict(detail["request"]["headers"])
    assert received["authorization"] == "Bearer sk-l…def"
    # The headers sent are a list made per request: kept only while a page is open.
    assert detail["sent_headers"] is None
    assert KEY not in json.dumps(detail)


@pytest.mark.anyio
async def test_a_strict_miss_ranks_near_misses_with_the_failing_values():
    async with client(ServerConfig(strict=True)) as http:
        missed = await http.post("/v1/chat/completions", json=chat("what is the weather?"))
        assert missed.status_code == 404
        detail = (await http.get(f"/__admin/requests/{missed.headers['x-request-id']}")).json()
    assert detail["row"]["source"] == "miss" and detail["row"]["by"] == "miss"
    near = detail["why_not"]["rules"]
    assert near[0]["name"] == "weather"  # its message condition held; only `stream` failed
    failed = [c for c in near[0]["conditions"] if not c["held"]]
    assert [c["key"] for c in failed] == ["stream"]
    assert failed[0]["why"] == "stream: False is not True"
    assert failed[0]["line"] == 7
    greet = next(n for n in near if n["name"] == "greet")
    why = [c["why"] for c in greet["conditions"] if not c["held"]]
    assert why == ["last_user: 'what is the weather?' is not contains 'hello'"]


@pytest.mark.anyio
async def test_a_cassette_miss_shows_the_diff_with_the_nearest_interaction(tmp_path: Path):
    recorded = {"model": "gpt-4o", "messages": [{"role": "user", "content": "recorded question"}]}
    cassette = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "https://api.openai.com/v1/chat/completions",
                    "body": json.dumps(recorded),
                    "headers": {},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["application/json"]},
                    "body": {"string": json.dumps({"choices": []})},
                },
            }
        ],
    }
    (tmp_path / "tape.yaml").write_text(yaml.safe_dump(cassette))
    async with client(ServerConfig(cassettes=tmp_path), rules=()) as http:
        missed = await http.post("/v1/chat/completions", json=chat("another question"))
        assert missed.status_code == 404
        detail = (await http.get(f"/__admin/requests/{missed.headers['x-request-id']}")).json()
    cassette_miss = detail["why_not"]["cassette"]
    assert cassette_miss["nearest"] == "tape.yaml#0"
    assert cassette_miss["diff"] == [
        "messages[0].content: recorded 'recorded question' != sent 'another question'"
    ]
    assert cassette_miss["recorded"] == recorded


@pytest.mark.anyio
async def test_an_unknown_exchange_is_a_404_naming_the_journal():
    async with client() as http:
        missing = await http.get("/__admin/requests/req_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "exchange_not_found"


# --- from an exchange to a rule ----------------------------------------------------------


@pytest.mark.anyio
async def test_a_generated_answer_becomes_a_rule_that_answers_the_next_identical_request():
    async with client() as http:
        body = chat("tell me about lighthouses", model="gpt-4o-mini", stream=True)
        first = await http.post("/v1/chat/completions", json=body)
        exchange_id = first.headers["x-request-id"]
        text = (await http.get(f"/__admin/requests/{exchange_id}/rule")).text
        document = yaml.safe_load(text)
        rule = document["rules"][0]
        assert rule["match"] == {"model": "gpt-4o-mini", "last_user": "tell me about lighthouses"}
        assert "chunks" in rule["reply"]
        added = await http.post(
            "/__admin/rules", content=text, headers={"content-type": "application/yaml"}
        )
        assert added.status_code == 201, added.text
        second = await http.post("/v1/chat/completions", json=body)
        journal = (await http.get("/__admin/requests")).json()["requests"]
    assert journal[-1]["source"] == "rule"
    assert journal[-1]["rule"] == f"<admin>#{rule['name']}"
    assert _deltas(second.text) == _deltas(first.text)


@pytest.mark.anyio
async def test_an_answer_with_text_and_calls_becomes_a_rule_with_both():
    said_and_called = """\
version: 1
rules:
  - name: preamble
    match: { model: preamble }
    reply:
      content: "Let me check."
      tool_calls: [{ name: get_weather, arguments: { city: Paris } }]
"""
    frozen = ServerConfig(freeze_time=1700000000)  # the same bytes, in any second
    async with client(frozen, rules=load_text(said_and_called, "preamble.yaml")) as http:
        body = chat("weather?", model="preamble", stream=True)
        first = await http.post("/v1/chat/completions", json=body)
        text = (await http.get(f"/__admin/requests/{first.headers['x-request-id']}/rule")).text
        reply = yaml.safe_load(text)["rules"][0]["reply"]
        assert reply["chunks"] == ["Let", " me", " check", "."]
        assert [(c["name"], c["arguments"]) for c in reply["tool_calls"]] == [
            ("get_weather", {"city": "Paris"})
        ]
        added = await http.post(
            "/__admin/rules", content=text, headers={"content-type": "application/yaml"}
        )
        assert added.status_code == 201, added.text
        second = await http.post("/v1/chat/completions", json=body)
        answered_by = (await http.get("/__admin/requests")).json()["requests"][-1]["rule"]
    assert answered_by.startswith("<admin>#from-")
    assert second.text == first.text


@pytest.mark.anyio
async def test_a_miss_becomes_a_rule_with_a_reply_to_write():
    async with client(ServerConfig(strict=True)) as http:
        missed = await http.post("/v1/chat/completions", json=chat("{{ not a template }}"))
        text = (await http.get(f"/__admin/requests/{missed.headers['x-request-id']}/rule")).text
    assert "a miss" in text.splitlines()[1]
    rules = load_text(text, "made.yaml")
    assert rules[0].conditions[1].key == "last_user"
    assert yaml.safe_load(text)["rules"][0]["reply"] == {"content": "Write the answer here."}


@pytest.mark.anyio
async def test_an_error_reply_becomes_a_rule_with_that_error():
    async with client() as http:
        failed = await http.post("/v1/chat/completions", json=chat("hi", model="broken-model"))
        text = (await http.get(f"/__admin/requests/{failed.headers['x-request-id']}/rule")).text
    error = yaml.safe_load(text)["rules"][0]["reply"]["error"]
    assert error["status"] == 503 and error["message"] == "down for maintenance"


@pytest.mark.anyio
async def test_a_request_refused_before_it_was_read_cannot_become_a_rule():
    async with client() as http:
        refused = await http.post("/v1/chat/completions", content=b"{not json")
        assert refused.status_code == 400
        answer = await http.get(f"/__admin/requests/{refused.headers['x-request-id']}/rule")
    assert answer.status_code == 400
    assert "nothing to match on" in answer.json()["error"]["message"]
    assert "refused before it was read (status 400)" in answer.json()["error"]["message"]


@pytest.mark.anyio
async def test_an_answered_exchange_without_a_parsed_request_says_why_it_cannot_be_a_rule():
    """A path that is not a family's POST, and a body over 64 KiB (kept in part): both were
    answered (200), neither was refused, and the message says what happened instead."""
    async with client() as http:
        models = await http.get("/v1/models")
        big = await http.post("/v1/chat/completions", json=chat("hello " + "y" * 100_000))
        assert (models.status_code, big.status_code) == (200, 200)
        route = await http.get(f"/__admin/requests/{models.headers['x-request-id']}/rule")
        clipped = await http.get(f"/__admin/requests/{big.headers['x-request-id']}/rule")
    assert route.status_code == clipped.status_code == 400
    message = route.json()["error"]["message"]
    assert "GET /v1/models is not a request of an API family" in message
    assert "refused" not in message
    message = clipped.json()["error"]["message"]
    assert "was over 64 KiB: the journal kept its first 64 KiB" in message
    assert "refused" not in message


@pytest.mark.anyio
async def test_a_refused_requests_row_shows_the_model_it_sent():
    """The Model column is the model as sent, also for a request refused while it was read,
    so that filtering by model finds it."""
    async with client() as http:
        refused = await http.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
        assert refused.status_code == 400
        detail = (await http.get(f"/__admin/requests/{refused.headers['x-request-id']}")).json()
    assert (detail["row"]["model"], detail["row"]["by"]) == ("gpt-4o", "refused")


@pytest.mark.anyio
async def test_a_request_refused_past_a_latency_models_queue_says_so():
    """A request a latency model's full queue refused (source "capacity") was shown as
    answered by "…", the mark of an exchange still in flight."""
    busy = load_text(
        """\
version: 1
rules:
  - name: busy
    match: { model: busy }
    latency_model: { ttft_ms: 0, inter_token_ms: 50, max_concurrency: 1, max_queue: 0 }
    reply: { content: "one two three" }
""",
        "busy.yaml",
    )
    answers: list[httpx.Response] = []

    async def ask(content: str) -> None:
        answers.append(await http.post("/v1/chat/completions", json=chat(content, "busy")))

    async with client(rules=busy) as http:
        async with anyio.create_task_group() as both:  # one runs, the other finds it full
            both.start_soon(ask, "x")
            both.start_soon(ask, "y")
        assert sorted(a.status_code for a in answers) == [200, 429]
        refused = max(answers, key=lambda a: a.status_code)
        detail = (await http.get(f"/__admin/requests/{refused.headers['x-request-id']}")).json()
    assert (detail["row"]["source"], detail["row"]["by"]) == ("capacity", "capacity")


# --- state -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_state_counts_answers_and_shows_where_each_sequence_stands(tmp_path: Path):
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - key: {KEY}\n    credits: 10\n    rpm: 60\n    tpm: 10000\n")
    async with client(ServerConfig(keys=keys)) as http:
        for _ in range(3):
            await http.post("/v1/chat/completions", json=chat("go", model="stepper"))
        await http.post("/v1/chat/completions", json=chat("hello"))
        state = (await http.get("/__admin/state")).json()
        answered = {r["name"]: r["answered"] for r in state["rules"]}
        assert answered == {"greet": 1, "weather": 0, "steps": 3, "broken": 0}
        [sequence] = state["sequences"]
        assert sequence["of"] == "sk-l…def"  # counted per key: shown by its alias
        assert (sequence["answered"], sequence["next"], sequence["steps"]) == (3, 1, 2)
        [key] = state["keys"]["keys"]
        assert key["key"] == "sk-l…def" and key["credits"] == 10.0
        assert key["left"]["requests"] < 57  # four requests taken from 60 (refilling slowly)
        assert state["profile"]["name"] == "openai"
        assert (
            state["process"]["shared"] is False and "this process only" in state["process"]["note"]
        )
        assert KEY not in json.dumps(state)
        assert (await http.post("/__admin/reset")).status_code == 200
        state = (await http.get("/__admin/state")).json()
    assert state["sequences"][0]["answered"] == 0 and state["journal"]["kept"] == 0


# --- the page and its access rules -------------------------------------------------------


@pytest.mark.anyio
async def test_the_page_is_served_from_the_package_with_a_strict_policy():
    async with client() as http:
        page = await http.get("/__admin/ui")
        script = await http.get("/__admin/ui/inspector.js")
        missing = await http.get("/__admin/ui/../admin.py")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "http" not in page.text.replace("http-equiv", "")  # no file from elsewhere
    assert script.status_code == 200 and "innerHTML" not in script.text
    assert missing.status_code == 404


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path", ["/__admin/ui", "/__admin/ui/inspector.js", "/__admin/feed", "/__admin/state"]
)
async def test_remote_callers_are_refused(path: str):
    async with client(peer="10.1.2.3") as http:
        refused = await http.get(path)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_remote_refused"


@pytest.mark.anyio
async def test_with_a_token_the_page_keeps_it_in_a_strict_cookie():
    config = ServerConfig(admin_token="t0ken-for-the-page")
    async with client(config, peer="10.1.2.3", key=None) as http:
        assert (await http.get("/__admin/ui")).status_code == 401
        assert (await http.get("/__admin/state?token=t0ken-for-the-page")).status_code == 401
        assert (await http.get("/__admin/ui?token=wrong")).status_code == 401
        opened = await http.get("/__admin/ui?token=t0ken-for-the-page")
        assert opened.status_code == 303 and opened.headers["location"] == "/__admin/ui"
        cookie = opened.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/__admin" in cookie
        assert (await http.get("/__admin/ui")).status_code == 200  # the cookie, from now on
        assert (await http.get("/__admin/state")).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"origin": "null"},
        {"sec-fetch-site": "same-origin", "host": "rebound.example:8000"},
    ],
)
async def test_browsers_sent_by_another_site_are_refused(headers: dict[str, str]):
    async with client() as http:
        refused = await http.post("/__admin/reset", headers=headers)
        assert refused.status_code == 403, refused.text
        page = await http.get("/__admin/ui", headers=headers)
        assert page.status_code == 403


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/__admin/ui", "/__admin/state", "/__admin/requests"])
async def test_a_rebound_name_is_refused_without_a_browsers_headers(path: str):
    """A browser sends neither Origin nor Sec-Fetch-Site with a same-origin GET to a
    plain-http name: a page on a name rebound to 127.0.0.1 must be refused all the same."""
    async with client() as http:
        refused = await http.get(path, headers={"host": "rebound.example:8000"})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "admin_remote_refused"
        assert "'rebound.example:8000'" in refused.json()["error"]["message"]
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "app.localhost"):
            assert (await http.get("/__admin/state", headers={"host": host})).status_code == 200


@pytest.mark.anyio
async def test_the_page_own_requests_pass():
    same = {
        "origin": "http://127.0.0.1:8000",
        "host": "127.0.0.1:8000",
        "sec-fetch-site": "same-origin",
    }
    async with client() as http:
        assert (await http.post("/__admin/reset", headers=same)).status_code == 200
        typed = {"sec-fetch-site": "none", "host": "localhost:8000"}
        assert (await http.get("/__admin/ui", headers=typed)).status_code == 200


def _deltas(raw: str) -> list[str]:
    out = []
    for line in raw.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                out.append(choice["delta"].get("content") or "")
    return out


def test_a_missing_browser_fails_the_browser_tests_saying_how_to_install_it(monkeypatch):
    from tests.e2e.browser import chromium_path

    monkeypatch.setenv("MOCKLLM_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        chromium_path()
