"""The Responses API's response object and events, byte for byte as the API writes them:
the keys, their order and the values a client sees when nothing sets them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from openai.types.responses import Response

from ..conftest import RunningServer, start_server

# The response object's keys as the API wrote them in September 2026 (gpt-4o-mini, whole
# and streamed alike; `conversation` only when the request continues one).
RESPONSE_KEYS = [
    "id", "object", "created_at", "status", "background", "completed_at", "error",
    "frequency_penalty", "incomplete_details", "instructions", "max_output_tokens",
    "max_tool_calls", "model", "moderation", "output", "parallel_tool_calls",
    "presence_penalty", "previous_response_id", "prompt_cache_key", "prompt_cache_retention",
    "reasoning", "safety_identifier", "service_tier", "store", "temperature", "text",
    "tool_choice", "tool_usage", "tools", "top_logprobs", "top_p", "truncation", "usage",
    "user", "metadata",
]  # fmt: skip
# No hosted tool ran: each family counts zero, in the API's order.
NO_TOOL_USAGE = (
    b'"tool_usage":{"image_gen":{"input_tokens":0,"input_tokens_details":{"image_tokens":0,'
    b'"text_tokens":0},"output_tokens":0,"output_tokens_details":{"image_tokens":0,'
    b'"text_tokens":0},"total_tokens":0},"web_search":{"num_requests":0}}'
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    running = start_server(
        "--seed", "7", "--freeze-time", "1700000000",
        tmp_path=tmp_path_factory.mktemp("bytes"),
    )  # fmt: skip
    yield running
    running.stop()


def post(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    answer = httpx.post(
        f"{server.base_url}/responses",
        json=body,
        headers={"authorization": "Bearer sk-test"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer


def streamed(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(block.split(b"\ndata: ", 1)[1]) for block in raw[:-2].split(b"\n\n")]


def test_the_response_object_has_the_apis_fields_in_its_order(server: RunningServer) -> None:
    body = {"model": "gpt-4o-mini", "input": "Say hi in three words.", "max_output_tokens": 32}
    whole = post(server, body)
    response = whole.json()
    assert list(response) == RESPONSE_KEYS
    assert response["moderation"] is None
    assert NO_TOOL_USAGE in whole.content
    assert b'"tool_choice":"auto",' + NO_TOOL_USAGE + b',"tools":[]' in whole.content
    parsed = Response.model_validate(response)
    assert parsed.tool_usage is not None and parsed.tool_usage.web_search.num_requests == 0
    events = streamed(post(server, {**body, "stream": True}).content)
    first, last = events[0]["response"], events[-1]["response"]
    assert list(first) == RESPONSE_KEYS and list(last) == RESPONSE_KEYS
    assert first["tool_usage"] == last["tool_usage"] == response["tool_usage"]


@pytest.mark.parametrize(
    ("body", "echoed"),
    [
        # gpt-4o-mini, September 2026
        ({"model": "gpt-4o-mini"}, b'{"context":null,"effort":null,"summary":null}'),
        # gpt-5-nano (September 2026) and gpt-5.5, sent no reasoning
        (
            {"model": "gpt-5-nano"},
            b'{"context":"current_turn","effort":"medium","mode":"standard","summary":null}',
        ),
        # a reasoning model sent a context, an effort and a summary (August 2026)
        (
            {
                "model": "gpt-5.5",
                "reasoning": {"context": "all_turns", "effort": "low", "summary": "detailed"},
            },
            b'{"context":"all_turns","effort":"low","mode":"standard","summary":"detailed"}',
        ),
    ],
    ids=["no-reasoning", "reasoning-defaults", "reasoning-sent"],
)
def test_reasoning_is_echoed_with_its_context_and_mode(
    server: RunningServer, body: dict[str, Any], echoed: bytes
) -> None:
    request = {**body, "input": "What is 17*23?"}
    whole = post(server, request)
    assert b'"reasoning":' + echoed + b',"safety_identifier"' in whole.content
    Response.model_validate(whole.json())
    first = streamed(post(server, {**request, "stream": True}).content)[0]["response"]
    assert json.dumps(first["reasoning"], separators=(",", ":")).encode() == echoed


def test_a_reasoning_context_the_api_does_not_know_is_refused(server: RunningServer) -> None:
    answer = httpx.post(
        f"{server.base_url}/responses",
        json={"model": "gpt-5.5", "input": "hi", "reasoning": {"context": "everything"}},
        headers={"authorization": "Bearer sk-test"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "reasoning.context"
