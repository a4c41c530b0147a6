"""Chat Completions bodies, whole and streamed, byte for byte against what the API writes
for each kind of model (raw httpx; the SDK's types and OpenAI's schemas read them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conftest import RunningServer, start_server
from tests.openai_schemas import check


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("chat-bytes")
    running = start_server("--freeze-time", "1700000000", tmp_path=tmp)
    yield running
    running.stop()


def _post(server: RunningServer, body: dict[str, object]) -> httpx.Response:
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response


def _events(response: httpx.Response) -> list[bytes]:
    raw = response.content
    assert raw.endswith(b"data: [DONE]\n\n"), raw[-200:]
    return [e[len(b"data: ") :] for e in raw.split(b"\n\n")[:-2]]


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.mark.parametrize("model", ["gpt-5-nano", "gpt-5-mini", "gpt-5.1", "o3-mini", "o4-mini"])
def test_a_reasoning_models_choices_carry_no_logprobs(server, model):
    # The API's reasoning models write their choices without the `logprobs` key, whole
    # and streamed: envoyproxy/ai-gateway's cassettes (chat-basic, gpt-5-nano-2025-08-07:
    # {"finish_reason", "index", "message"}; the o3-mini-2025-01-31 answer alike), and
    # gpt-5-nano's chunks {"index":0,"delta":{"content":" like"},"finish_reason":null}.
    body = {"model": model, "messages": [{"role": "user", "content": "Hello!"}]}
    data = _post(server, body).json()
    (choice,) = data["choices"]
    assert list(choice) == ["index", "message", "finish_reason"]
    assert ChatCompletion.model_validate(data).choices[0].logprobs is None

    streamed = _post(server, {**body, "stream": True, "stream_options": {"include_usage": True}})
    events = _events(streamed)
    assert (
        b'"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}'
        in (events[0])
    )
    for event in events:
        chunk = json.loads(event)
        ChatCompletionChunk.model_validate(chunk)
        for c in chunk["choices"]:
            assert "logprobs" not in c, event


def test_a_reasoning_models_tool_call_chunks_carry_no_logprobs(server):
    body = {
        "model": "o3-mini",
        "stream": True,
        "tools": [WEATHER],
        "tool_choice": "required",
        "messages": [{"role": "user", "content": "The weather in Paris?"}],
    }
    events = _events(_post(server, body))
    assert b'"arguments":""}}],"refusal":null},"finish_reason":null}' in events[0]
    assert (
        events[-1]
        .split(b'"choices":')[1]
        .startswith(b'[{"index":0,"delta":{},"finish_reason":"tool_calls"}]')
    )
    assert all(b'"logprobs"' not in e for e in events)


def test_logprobs_asked_of_a_model_that_takes_them_are_written(server):
    # gpt-5.1 answers without reasoning by default, and then takes logprobs.
    body = {
        "model": "gpt-5.1",
        "logprobs": True,
        "max_completion_tokens": 3,
        "messages": [{"role": "user", "content": "Hello!"}],
    }
    (choice,) = _post(server, body).json()["choices"]
    assert list(choice) == ["index", "message", "logprobs", "finish_reason"]
    assert len(choice["logprobs"]["content"]) == 3


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "deepseek-reasoner"])
def test_other_models_choices_carry_logprobs_null(server, model):
    body = {"model": model, "messages": [{"role": "user", "content": "Hello!"}]}
    data = _post(server, body).json()
    check("CreateChatCompletionResponse", data)
    assert list(data["choices"][0]) == ["index", "message", "logprobs", "finish_reason"]
    assert data["choices"][0]["logprobs"] is None
    events = _events(_post(server, {**body, "stream": True}))
    assert all(b'"logprobs":null,"finish_reason":' in e for e in events)


@pytest.mark.parametrize(
    "model", ["gpt-5-nano", "gpt-5-mini", "gpt-5", "gpt-5.1", "gpt-4-0613", "gpt-3.5-turbo-0125"]
)
def test_models_without_a_fingerprint_say_null(server, model):
    # gpt-5-nano-2025-08-07 (envoyproxy/ai-gateway's cassettes, August 2025; chunks of
    # October 2025), gpt-5.1-2025-11-13 (December 2025), gpt-3.5-turbo-0125 (March and
    # October 2025) and gpt-4-0613 (November 2025) answer "system_fingerprint":null.
    body = {"model": model, "messages": [{"role": "user", "content": "Hello!"}]}
    whole = _post(server, body)
    assert whole.content.endswith(b'"service_tier":"default","system_fingerprint":null}')
    assert ChatCompletion.model_validate(whole.json()).system_fingerprint is None
    streamed = _post(server, {**body, "stream": True, "stream_options": {"include_usage": True}})
    for event in _events(streamed):
        assert b',"service_tier":"default","system_fingerprint":null,"choices":[' in event
        assert ChatCompletionChunk.model_validate_json(event).system_fingerprint is None


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1-nano", "o3-mini", "gpt-5-chat-latest"])
def test_other_models_name_their_fingerprint(server, model):
    body = {"model": model, "messages": [{"role": "user", "content": "Hello!"}]}
    assert _post(server, body).json()["system_fingerprint"].startswith("fp_")


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-5-nano"])
@pytest.mark.parametrize("tools", [False, True])
def test_every_chunk_is_a_stream_response_of_the_openapi_document(server, model, tools):
    """Every chunk of a stream (its role delta and finish chunk, whose finish_reason is null
    and then set; the usage chunk with no choices), against the document's
    CreateChatCompletionStreamResponse."""
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tools:
        body |= {"tools": [WEATHER], "tool_choice": "required"}
    events = _events(_post(server, body))
    assert len(events) >= 3
    for event in events:
        check("CreateChatCompletionStreamResponse", json.loads(event))
