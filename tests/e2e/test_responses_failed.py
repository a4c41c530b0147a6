"""A streamed response that fails part way (a rule's `error_after_tokens`): the response
`GET /v1/responses/{id}` keeps is the one the stream's `response.failed` event carried,
the items finished before the failure included, in the foreground and in background mode
(polled, and resumed with `stream=true`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai.types.responses import Response

from tests.openai_schemas import check

from ..conftest import RunningServer, start_server
from .helpers import RESPONSES_WEATHER, write_scenario

RULES = """\
version: 1
rules:
  - name: fails-after-the-call
    match: { last_user: { contains: "weather in Rome" } }
    reply:
      content: "Let me check."
      tool_calls: [{ name: get_weather, arguments: { city: Rome } }]
      fault: { error_after_tokens: 5, error: { status: 500, message: "the model broke" } }
"""
BODY = {"model": "gpt-4o", "input": "The weather in Rome?", "tools": [RESPONSES_WEATHER]}
HEADERS = {"authorization": "Bearer sk-test"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("failed")
    rules = write_scenario(tmp, RULES)
    running = start_server("--scenarios", str(rules), "--freeze-time", "1700000000", tmp_path=tmp)
    yield running
    running.stop()


def _events(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(block.split(b"\ndata: ")[1]) for block in raw[:-2].split(b"\n\n")]


def _stored(server: RunningServer, response_id: str) -> dict[str, Any]:
    got = httpx.get(f"{server.base_url}/responses/{response_id}", headers=HEADERS)
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


def _failed_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events[-1]["type"] == "response.failed"
    failed: dict[str, Any] = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "the model broke"}
    check("Response", failed)
    Response.model_validate(failed)
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [item["type"] for item in done] == ["message"]  # the call was cut
    assert failed["output"] == done
    return failed


def test_the_stored_response_is_the_one_the_stream_failed_with(server: RunningServer) -> None:
    raw = httpx.post(f"{server.base_url}/responses", json={**BODY, "stream": True}, headers=HEADERS)
    failed = _failed_event(_events(raw.content))
    assert _stored(server, failed["id"]) == failed


def test_a_background_stream_fails_as_its_polls_and_resumption_say(server: RunningServer) -> None:
    body = {**BODY, "stream": True, "background": True}
    raw = httpx.post(f"{server.base_url}/responses", json=body, headers=HEADERS)
    events = _events(raw.content)
    failed = _failed_event(events)
    deadline = time.monotonic() + 5
    while (polled := _stored(server, failed["id"]))["status"] != "failed":
        assert time.monotonic() < deadline, polled["status"]
        time.sleep(0.05)
    assert polled == failed
    resumed = httpx.get(
        f"{server.base_url}/responses/{failed['id']}",
        params={"stream": "true", "starting_after": "0"},
        headers=HEADERS,
    )
    assert _events(resumed.content) == events[1:]
