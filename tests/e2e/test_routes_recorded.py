"""Route calls through record and replay: stored responses, token counts, models and a
background response's polls.

A mockllm playing the real API (it knows models the recorder does not: `--model`) answers
them; `mockllm record` forwards every one and records it, and a replay server, with the
upstream stopped, answers each from the cassette as the upstream did, where its own
routes would have answered otherwise (a 404 for a response it never stored, a 404 for a
model it does not know).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import RunningServer, start_server

from .helpers import journal, write_scenario

RULES = """\
version: 1
rules:
  - name: haiku
    match: { last_user: "Write a haiku" }
    reply: { content: "Old pond, a frog." }
  - name: paced
    match: { last_user: { contains: "paced" } }
    reply:
      content: "one two three four five six"
      latency: { ttft_ms: 150, inter_token_ms: 30 }
"""
KEY = "sk-routes-recording-key-0000000000000"
ANTHROPIC_KEY = "sk-ant-routes-recording-key-00000000"
HOUSE_GPT = "house-gpt-1"  # known to the upstream only
HOUSE_CLAUDE = "house-claude-1"
COUNTED = [{"role": "user", "content": "How many tokens is this question?"}]


@dataclass
class Recorded:
    folder: Path
    seen: dict[str, Any] = field(default_factory=dict)


def openai_client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)


def anthropic_client(server: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=ANTHROPIC_KEY, max_retries=0)


def calls(server: RunningServer) -> dict[str, Any]:
    """The calls both runs make, with what each answered."""
    sdk = openai_client(server)
    seen: dict[str, Any] = {}
    created = sdk.responses.create(model="gpt-4.1", input="Write a haiku", store=True)
    seen["created"] = created.model_dump()
    seen["retrieved"] = sdk.responses.retrieve(created.id).model_dump()
    seen["items"] = sdk.responses.input_items.list(created.id).model_dump()
    sdk.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as gone:
        sdk.responses.retrieve(created.id)
    seen["gone"] = gone.value.response.json()
    seen["models"] = [m.id for m in sdk.models.list()]
    seen["model"] = sdk.models.retrieve(HOUSE_GPT).model_dump()
    counted = anthropic_client(server).messages.count_tokens(
        model=HOUSE_CLAUDE,
        messages=COUNTED,  # type: ignore[arg-type]
    )
    seen["count_tokens"] = counted.input_tokens
    input_tokens = httpx.post(
        f"{server.base_url}/responses/input_tokens",
        json={"model": HOUSE_GPT, "input": "How many tokens is this question?"},
        headers={"authorization": f"Bearer {KEY}"},
    )
    seen["input_tokens"] = (input_tokens.status_code, input_tokens.json())
    compacted = httpx.post(
        f"{server.base_url}/responses/compact",
        json={"model": HOUSE_GPT, "input": "Compact this conversation."},
        headers={"authorization": f"Bearer {KEY}"},
    )
    seen["compact"] = (compacted.status_code, compacted.json())
    with sdk.responses.create(
        model="gpt-4.1", input="a paced answer", background=True, stream=True
    ) as stream:  # left after its first event: the answer runs on upstream
        background = next(iter(stream)).response  # type: ignore[union-attr]
    statuses = [background.status]
    deadline = time.monotonic() + 5
    while statuses[-1] in ("queued", "in_progress") and time.monotonic() < deadline:
        polled = sdk.responses.retrieve(background.id)
        statuses.append(polled.status)
        time.sleep(0.05)
    seen["statuses"] = statuses
    seen["final"] = polled.model_dump()
    resumed = httpx.get(
        f"{server.base_url}/responses/{background.id}",
        params={"stream": "true", "starting_after": "2"},
        headers={"authorization": f"Bearer {KEY}"},
    )
    seen["resumed"] = (resumed.status_code, resumed.headers["content-type"], resumed.content)
    return seen


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    tmp = tmp_path_factory.mktemp("routes")
    upstream = start_server(
        "--scenarios",
        str(write_scenario(tmp, RULES)),
        "--freeze-time",
        "1700000000",
        "--model",
        HOUSE_GPT,
        "--model",
        "house-claude-*",
        tmp_path=tmp,
    )
    folder = tmp / "cassettes"
    recorder = start_server(
        "--upstream",
        upstream.base_url,
        "--cassettes",
        str(folder),
        "--cassette",
        "routes",
        "--record-mode",
        "all",
        tmp_path=tmp,
    )
    try:
        seen = calls(recorder)
        sources = {(e["method"], e["path"]): e["source"] for e in journal(recorder.url)}
    finally:
        recorder.stop()
        upstream.stop()
    assert "Traceback" not in recorder.log(), recorder.log()
    assert set(sources.values()) == {"upstream"}, sources  # every call was forwarded
    yield Recorded(folder, seen)


@pytest.fixture(scope="module")
def replayer(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("replay")
    server = start_server("--cassettes", str(recorded.folder), tmp_path=tmp)
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_the_upstream_answered_what_the_recorder_could_not(recorded: Recorded) -> None:
    seen = recorded.seen
    assert seen["retrieved"] == seen["created"]  # stored upstream, not in the recorder
    assert [i["content"][0]["text"] for i in seen["items"]["data"]] == ["Write a haiku"]
    assert "not found" in seen["gone"]["error"]["message"]
    assert HOUSE_GPT in seen["models"] and seen["model"]["id"] == HOUSE_GPT
    assert seen["count_tokens"] > 0  # the recorder alone answers 404: it knows no house-*
    assert seen["input_tokens"][0] == 200 and seen["input_tokens"][1]["input_tokens"] > 0
    assert seen["compact"][0] == 200
    assert [o["type"] for o in seen["compact"][1]["output"]] == ["message", "compaction"]
    assert seen["statuses"][0] == "queued" and seen["statuses"][-1] == "completed"
    assert "in_progress" in seen["statuses"]
    assert seen["final"]["output"][0]["content"][0]["text"] == "one two three four five six"
    status, content_type, body = seen["resumed"]
    assert (status, content_type.split(";")[0]) == (200, "text/event-stream")
    assert b'"sequence_number":3' in body and b'"sequence_number":2,' not in body


def test_the_cassette_holds_every_call_and_no_key(recorded: Recorded) -> None:
    text = (recorded.folder / "routes.yaml").read_text()
    assert KEY not in text and ANTHROPIC_KEY not in text
    for path in (
        "/v1/responses/input_tokens",
        "/v1/responses/compact",
        "/v1/messages/count_tokens",
        "/v1/models/house-gpt-1",
        "/input_items",
        "starting_after=2",
    ):
        assert path in text, path
    assert "method: DELETE" in text and "method: GET" in text


def test_every_call_replays_as_recorded(recorded: Recorded, replayer: RunningServer) -> None:
    seen = calls(replayer)
    expected = recorded.seen
    for name in ("created", "retrieved", "items", "gone", "models", "model", "count_tokens"):
        assert seen[name] == expected[name], name
    assert seen["input_tokens"] == expected["input_tokens"]
    assert seen["compact"] == expected["compact"]
    assert seen["statuses"] == expected["statuses"]  # each poll's answer, in order
    assert seen["final"] == expected["final"]
    assert seen["resumed"] == expected["resumed"]
    answered = journal(replayer.url)
    routes = [e for e in answered if e["api"] is None]
    assert routes and {e["source"] for e in routes} == {"cassette"}
    assert all(e["rule"].startswith("routes.yaml#") for e in routes)


def test_a_call_not_recorded_is_answered_by_the_route(replayer: RunningServer) -> None:
    sdk = openai_client(replayer)
    with pytest.raises(openai.NotFoundError):  # the server's own: it knows no house-gpt-2
        sdk.models.retrieve("house-gpt-2")
    assert sdk.models.retrieve("gpt-4o").id == "gpt-4o"
    counted = anthropic_client(replayer).messages.count_tokens(
        model="claude-3-5-haiku-20241022",
        messages=COUNTED,  # type: ignore[arg-type]
    )
    assert counted.input_tokens > 0
    sources = [e["source"] for e in journal(replayer.url)[-3:]]
    assert "cassette" not in sources
