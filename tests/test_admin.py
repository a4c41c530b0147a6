"""The admin API, in process: health, journal, reset, rules at run time, access control."""

from __future__ import annotations

import httpx
import pytest

from mockllm.app import create_app
from mockllm.config import ServerConfig
from mockllm.loader import load_text

RULES = load_text(
    "rules:\n  - name: seq\n    match: {model: m}\n"
    "    sequence: [{content: one}, {content: two}]\n",
    "s.yaml",
)
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def client(config: ServerConfig | None = None, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    app = create_app(config or ServerConfig(), RULES)
    transport = httpx.ASGITransport(app=app, client=(peer, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


def content(response: httpx.Response) -> str:
    return response.json()["choices"][0]["message"]["content"]


@pytest.mark.anyio
async def test_journal_names_the_rule_and_reset_restarts_sequences():
    async with client() as http:
        assert (await http.get("/__admin/health")).status_code == 200
        assert content(await http.post("/v1/chat/completions", json=CHAT)) == "one"
        assert content(await http.post("/v1/chat/completions", json=CHAT)) == "two"
        journal = (await http.get("/__admin/requests")).json()["requests"]
        assert [e["rule"] for e in journal] == ["s.yaml#seq", "s.yaml#seq"]
        assert journal[0]["request"]["model"] == "m" and journal[0]["status"] == 200
        assert (await http.post("/__admin/reset")).status_code == 200
        assert (await http.get("/__admin/requests")).json() == {"requests": []}
        assert content(await http.post("/v1/chat/completions", json=CHAT)) == "one"


@pytest.mark.anyio
async def test_rules_added_at_run_time_win_and_can_be_removed():
    async with client() as http:
        added = await http.post(
            "/__admin/rules",
            content="rules:\n  - name: live\n    match: {model: m}\n    reply: {content: live}\n",
            headers={"content-type": "application/yaml"},
        )
        assert added.status_code == 201, added.text
        assert content(await http.post("/v1/chat/completions", json=CHAT)) == "live"
        names = [r["name"] for r in (await http.get("/__admin/rules")).json()["rules"]]
        assert names == ["live", "seq"]
        assert (await http.delete("/__admin/rules")).status_code == 200
        assert content(await http.post("/v1/chat/completions", json=CHAT)) == "one"


@pytest.mark.anyio
async def test_bad_rules_are_refused_with_the_loader_messages():
    async with client() as http:
        response = await http.post(
            "/__admin/rules", json={"rules": [{"reply": {"content": "x", "latency": {"ttft": 1}}}]}
        )
        assert response.status_code == 400
        body = response.json()
        assert body["error"]["code"] == "invalid_scenario"
        assert "did you mean 'ttft_ms'" in body["problems"][0]["message"]


@pytest.mark.anyio
async def test_bad_json_rules_are_refused_in_the_same_shape_as_bad_yaml():
    async with client() as http:
        response = await http.post(
            "/__admin/rules",
            content=b'{"rules": [\n  {"reply": {"content": "x"},}\n]}',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400
        body = response.json()
        assert body["error"]["code"] == "invalid_scenario"
        assert body["error"]["message"].startswith("<admin>:2: not valid JSON: ")
        assert [p["line"] for p in body["problems"]] == [2]
        assert body["problems"][0]["message"].startswith("not valid JSON: ")


@pytest.mark.anyio
async def test_journal_filters_that_can_match_nothing_are_refused():
    async with client() as http:
        await http.post("/v1/chat/completions", json=CHAT)
        bad_status = await http.get("/__admin/requests", params={"status": "abc"})
        assert bad_status.status_code == 400
        assert bad_status.json()["error"]["param"] == "status"
        bad_source = await http.get("/__admin/requests", params={"source": "bogus"})
        assert bad_source.status_code == 400
        assert "valid: rule, default, cassette" in bad_source.json()["error"]["message"]
        found = await http.get("/__admin/requests", params={"status": "200"})
        assert found.status_code == 200 and found.json()["requests"]


@pytest.mark.anyio
async def test_remote_callers_are_refused_unless_allowed():
    async with client(peer="10.1.2.3") as http:
        assert (await http.get("/__admin/health")).status_code == 200
        refused = await http.post("/__admin/reset")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "admin_remote_refused"
    async with client(ServerConfig(admin_remote=True), peer="10.1.2.3") as http:
        assert (await http.post("/__admin/reset")).status_code == 200


@pytest.mark.anyio
async def test_admin_token():
    async with client(ServerConfig(admin_token="s3cret"), peer="10.1.2.3") as http:
        assert (await http.get("/__admin/requests")).status_code == 401
        ok = await http.get("/__admin/requests", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
