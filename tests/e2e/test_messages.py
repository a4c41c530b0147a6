"""The Anthropic Messages API through the front door: the official `anthropic` SDK (sync
and async) and raw httpx for the exact bytes, against real servers on loopback ports.

Bodies and events are validated with the SDK's own types, and their keys are compared
with those of the API's recorded answers, so a field the SDK would miss or reject shows.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
import yaml
from anthropic import Anthropic, AsyncAnthropic
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
from openai import OpenAI
from pydantic import TypeAdapter

from tests.conftest import RunningServer, start_server

from .helpers import SCENARIOS_DIR, journal, reset, write_scenario

MODEL = "claude-sonnet-4-5"
KEY = "sk-ant-api03-test-key"
EVENTS = TypeAdapter(RawMessageStreamEvent)
REFUND = "You can return any item within 30 days for a full refund."
COUNT = ["One", ", two", ", three", ", four", ", five."]
# The keys of the API's answers, in its order (recordings of 2025-2026: see
# mockllm/dialects/messages_answer.py).
MESSAGE_KEYS = [
    "model",
    "id",
    "type",
    "role",
    "content",
    "stop_reason",
    "stop_sequence",
    "stop_details",
    "usage",
]
USAGE_KEYS = [
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "output_tokens",
    "service_tier",
    "inference_geo",
]
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
RULES = """\
version: 1
rules:
  - name: count
    match: { last_user: "count for me" }
    reply: { chunks: ["One", ", two", ", three", ", four", ", five."] }
  - name: paced
    match: { last_user: "take your time" }
    reply:
      chunks: ["slow", " and", " steady", " wins"]
      latency: { ttft_ms: 150, inter_token_ms: 60 }
  - name: rate-limited-once
    match: { model: claude-retry-429 }
    sequence:
      - error: { status: 429, headers: { retry-after: "1" } }
      - content: "after the rate limit"
    then: cycle
  - name: overloaded-once
    match: { model: claude-retry-529 }
    sequence:
      - error: { status: 529 }
      - content: "after the overload"
    then: cycle
  - name: overloaded
    match: { model: claude-overloaded }
    reply: { error: { status: 529 } }
  - name: in-band-error
    match: { model: claude-error-after }
    reply:
      chunks: ["one", " two", " three", " four"]
      fault: { error_after_tokens: 2, error: { status: 529 } }
  - name: disconnect
    match: { model: claude-disconnect }
    reply:
      chunks: ["one", " two", " three", " four"]
      fault: { disconnect_after_tokens: 2 }
  - name: malformed
    match: { model: claude-malformed }
    reply:
      chunks: ["one", " two", " three", " four"]
      fault: { malformed_chunk_at: 2 }
  - name: thinking-scripted
    match: { last_user: "think it through" }
    reply:
      reasoning: "First the facts, then the answer."
      content: "Here is the answer."
  - name: declined
    match: { last_user: "decline this" }
    reply: { refusal: "I can't help with that." }
  - name: own-error-type
    match: { model: claude-own-type }
    reply: { error: { status: 400, type: quota_rule_error, message: "Scripted." } }
  - name: openai-error-type
    match: { model: claude-openai-type }
    reply: { error: { status: 402, type: insufficient_quota } }
  - name: finish-tool-calls
    match: { last_user: "end as a tool call" }
    reply: { content: "Calling nothing.", finish_reason: tool_calls }
"""
KEYS = """\
keys:
  - { key: sk-ant-known-key, rpm: 2 }
  - { key: sk-ant-open-key }
  - { key: sk-ant-no-credits, credits: 0 }
  - { key: sk-ant-few-credits, credits: 0.012 }
  - { key: sk-ant-token-key, tpm: 100 }
prices:
  "*": { prompt: 1, completion: 1 }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The bundled scenarios and this module's rules, seeded, time frozen."""
    folder = tmp_path_factory.mktemp("messages")
    scenarios = folder / "scenarios"
    scenarios.mkdir()
    for path in SCENARIOS_DIR.glob("*.yaml"):
        (scenarios / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    write_scenario(scenarios, RULES, "messages.yaml")
    running = start_server(
        "--scenarios", str(scenarios), "--seed", "7", "--freeze-time", "1700000000", tmp_path=folder
    )
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with a keys file: unknown keys are refused, one key has a rate limit."""
    folder = tmp_path_factory.mktemp("messages-keys")
    keys = write_scenario(folder, KEYS, "keys.yaml")
    running = start_server("--keys", str(keys), tmp_path=folder)
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


_CLIENTS: dict[tuple[str, str, int], Anthropic] = {}


def client(server: RunningServer, *, api_key: str = KEY, max_retries: int = 0) -> Anthropic:
    """The module's SDK client for a server and key (kept open, closed after the module)."""
    key = (server.url, api_key, max_retries)
    if key not in _CLIENTS:
        _CLIENTS[key] = Anthropic(base_url=server.url, api_key=api_key, max_retries=max_retries)
    return _CLIENTS[key]


@pytest.fixture(scope="module", autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    for sdk in _CLIENTS.values():
        sdk.close()
    _CLIENTS.clear()


def post(
    server: RunningServer, body: dict[str, Any], path: str = "/v1/messages", **headers: str
) -> httpx.Response:
    sent = {"x-api-key": KEY, "anthropic-version": "2023-06-01", **headers}
    return httpx.post(f"{server.url}{path}", json=body, headers=sent, timeout=10)


def request(text: str = "Tell me about lighthouses", **fields: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
        **fields,
    }


def check_message(data: dict[str, Any]) -> Message:
    """A message body: the API's keys in its order, and the SDK's type accepts it whole."""
    assert list(data) == MESSAGE_KEYS, list(data)
    usage = [k for k in data["usage"] if k not in ("output_tokens_details", "server_tool_use")]
    assert usage == USAGE_KEYS, list(data["usage"])
    message = Message.model_validate(data)
    assert message.model_dump(exclude_unset=True) == data  # no field the SDK does not know
    return message


def plain(message: Message) -> dict[str, Any]:
    """A message as data, without what `messages.stream()` adds (`parsed_output`)."""
    return message.model_dump(mode="json", exclude={"content": {"__all__": {"parsed_output"}}})


def events_of(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each event, asserting the framing: `event: X` then
    `data: {...}` with the same type, and a blank line after each."""
    assert raw.endswith(b"\n\n"), raw[-80:]
    out = []
    for block in raw[:-2].split(b"\n\n"):
        lines = block.split(b"\n")
        assert len(lines) == 2, block
        assert lines[0].startswith(b"event: ") and lines[1].startswith(b"data: "), block
        name = lines[0][len(b"event: ") :].decode()
        data = json.loads(lines[1][len(b"data: ") :])
        assert data["type"] == name, block
        out.append((name, data))
    return out


def validated(events: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """The events as the SDK's own union type reads them (ping and error are not in it)."""
    parsed = []
    for name, data in events:
        if name in ("ping", "error"):
            continue
        event = EVENTS.validate_python(data)
        assert event.model_dump(exclude_unset=True) == data, data
        parsed.append(event)
    return parsed


# --- text -----------------------------------------------------------------------------------


def test_text_sync(server: RunningServer) -> None:
    raw = client(server).messages.with_raw_response.create(
        model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "Can I get a refund?"}]
    )
    data = json.loads(raw.http_response.text)
    message = check_message(data)
    assert re.fullmatch(r"msg_01[1-9A-HJ-NP-Za-km-z]{22}", message.id)
    assert [b.type for b in message.content] == ["thinking", "text"]  # support.yaml's reasoning
    assert message.content[1].text == REFUND
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens == 0
    request_id = raw.headers["request-id"]
    assert re.fullmatch(r"req_011C[1-9A-HJ-NP-Za-km-z]{20}", request_id)
    assert raw.parse()._request_id == request_id
    assert "openai-processing-ms" not in raw.headers
    assert "x-request-id" not in raw.headers


def test_text_async_create_and_stream(server: RunningServer) -> None:
    async def main() -> tuple[Message, list[str], Message]:
        async with AsyncAnthropic(base_url=server.url, api_key=KEY, max_retries=0) as aclient:
            created = await aclient.messages.create(
                model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "count for me"}]
            )
            async with aclient.messages.stream(
                model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "count for me"}]
            ) as stream:
                pieces = [text async for text in stream.text_stream]
                final = await stream.get_final_message()
        return created, pieces, final

    created, pieces, final = asyncio.run(main())
    assert created.content[0].text == "".join(COUNT)
    assert pieces == COUNT
    assert plain(final) == plain(created)


def test_generated_text_follows_the_prompt_language(server: RunningServer) -> None:
    message = client(server).messages.create(
        model=MODEL,
        max_tokens=300,
        messages=[{"role": "user", "content": "给我讲一个关于灯塔的故事"}],
    )
    assert re.search(r"[\u4e00-\u9fff]", message.content[0].text), message.content[0].text


def test_system_blocks_with_cache_control_are_matched(server: RunningServer) -> None:
    message = client(server).messages.create(
        model=MODEL,
        max_tokens=100,
        system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "count for me"}]}],
    )
    assert message.content[0].text == "".join(COUNT)
    entry = journal(server.url)[-1]
    assert entry["api"] == "messages" and entry["rule"].endswith("#count")


# --- tools ----------------------------------------------------------------------------------


def test_forced_tool_gives_schema_valid_input_and_a_round_trip(server: RunningServer) -> None:
    sdk = client(server)
    forced = sdk.messages.create(
        model=MODEL,
        max_tokens=500,
        tools=[WEATHER_TOOL, {**WEATHER_TOOL, "name": "get_time"}],
        tool_choice={"type": "tool", "name": "get_time"},
        messages=[{"role": "user", "content": "What time is it in Lima?"}],
    )
    assert forced.stop_reason == "tool_use"
    (use,) = forced.content
    assert use.type == "tool_use" and use.name == "get_time"
    assert re.fullmatch(r"toolu_01[A-Za-z0-9]{22}", use.id)
    jsonschema.validate(use.input, WEATHER_TOOL["input_schema"])
    # The round trip: the scripted tool call, its result, the answer that uses it.
    asked = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = sdk.messages.create(model=MODEL, max_tokens=500, tools=[WEATHER_TOOL], messages=asked)
    assert first.stop_reason == "tool_use"
    (call,) = first.content
    assert call.input == {"city": "Paris", "unit": "celsius"}
    second = sdk.messages.create(
        model=MODEL,
        max_tokens=500,
        tools=[WEATHER_TOOL],
        messages=[
            *asked,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C"}],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "It is 18°C and sunny in Paris."


def test_parallel_tool_use_and_its_opt_out(server: RunningServer) -> None:
    sdk = client(server)
    asked = [{"role": "user", "content": "What is the weather in Paris and Tokyo?"}]
    both = sdk.messages.create(model=MODEL, max_tokens=500, tools=[WEATHER_TOOL], messages=asked)
    assert [b.input["city"] for b in both.content] == ["Paris", "Tokyo"]
    assert len({b.id for b in both.content}) == 2
    one = sdk.messages.create(
        model=MODEL,
        max_tokens=500,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        messages=asked,
    )
    assert [b.input["city"] for b in one.content] == ["Paris"]
    # Streamed, the SDK rebuilds each input from its input_json_delta fragments.
    with sdk.messages.stream(
        model=MODEL, max_tokens=500, tools=[WEATHER_TOOL], messages=asked
    ) as stream:
        final = stream.get_final_message()
    assert [b.input for b in final.content] == [b.input for b in both.content]


def test_tool_choice_none_answers_in_text(server: RunningServer) -> None:
    message = client(server).messages.create(
        model=MODEL,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
    )
    assert [b.type for b in message.content] == ["text"] and message.stop_reason == "end_turn"


def test_a_server_tool_is_answered_as_unavailable(server: RunningServer) -> None:
    response = post(
        server,
        request(
            "Search the web for lighthouses",
            tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
            tool_choice={"type": "tool", "name": "web_search"},
        ),
    )
    assert response.status_code == 200, response.text
    data = response.json()
    message = Message.model_validate(data)
    use, result, _ = message.content  # then the text (the next test)
    assert use.type == "server_tool_use" and use.name == "web_search"
    assert re.fullmatch(r"srvtoolu_01[1-9A-HJ-NP-Za-km-z]{22}", use.id)
    assert result.type == "web_search_tool_result" and result.tool_use_id == use.id
    assert result.content.type == "web_search_tool_result_error"
    assert result.content.error_code == "unavailable"
    assert message.stop_reason == "end_turn"
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1


SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}


def test_after_a_server_tool_the_answer_says_it_could_not_run(server: RunningServer) -> None:
    """The API runs its own tools within the turn and goes on to answer: with no rule, the
    call and its `unavailable` result are followed by text saying so (an app showing the
    reply's text shows something), whole and streamed alike, and billed."""
    sdk = client(server)
    asked = [{"role": "user", "content": "Search the web for lighthouses"}]
    forced = {"type": "tool", "name": "web_search"}
    message = sdk.messages.create(
        model=MODEL, max_tokens=500, tools=[SEARCH], tool_choice=forced, messages=asked
    )
    assert [b.type for b in message.content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    text = message.content[2]
    assert text.type == "text"
    assert text.text == "I couldn't get that. web_search failed: unavailable."
    assert message.stop_reason == "end_turn"
    plain = sdk.messages.create(model=MODEL, max_tokens=500, tools=[SEARCH], messages=asked)
    assert plain.content[-1] == text  # offered, not forced: called all the same here
    with sdk.messages.stream(
        model=MODEL, max_tokens=500, tools=[SEARCH], tool_choice=forced, messages=asked
    ) as stream:
        events = list(stream)
        streamed = stream.get_final_message()
    assert streamed.model_dump() == message.model_dump()
    starts = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert starts == ["server_tool_use", "web_search_tool_result", "text"]
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    texts = [d.text for d in deltas if d.type == "text_delta"]
    assert "".join(texts) == text.text and len(texts) > 1
    # The text counts: more output tokens than the call alone.
    alone = sdk.messages.create(
        model=MODEL, max_tokens=9, tools=[SEARCH], tool_choice=forced, messages=asked
    )
    assert alone.stop_reason == "max_tokens" and [b.type for b in alone.content][:2] == [
        "server_tool_use",
        "web_search_tool_result",
    ]
    assert alone.usage.output_tokens == 9 < message.usage.output_tokens
    # Sent back with the next question, the turn is taken as the API wrote it.
    again = sdk.messages.create(
        model=MODEL,
        max_tokens=500,
        tools=[SEARCH],
        messages=[
            *asked,
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},
            {"role": "user", "content": "Thanks. Tell me about lighthouses then."},
        ],
    )
    assert again.content[-1].type == "text"


def test_a_page_the_message_names_is_fetched_with_web_fetch(server: RunningServer) -> None:
    """With web_fetch offered and no rule, "Summarize <address>" fetches that address."""
    message = client(server).messages.create(
        model=MODEL,
        max_tokens=500,
        tools=[{"type": "web_fetch_20250910", "name": "web_fetch"}],
        messages=[{"role": "user", "content": "Summarize https://example.com/blog/post-1."}],
    )
    use, result, text = message.content
    assert use.type == "server_tool_use" and use.name == "web_fetch"
    assert use.input == {"url": "https://example.com/blog/post-1"}
    assert result.type == "web_fetch_tool_result"
    assert text.type == "text" and text.text.endswith("web_fetch failed: unavailable.")


# --- thinking, stop sequences, max_tokens ----------------------------------------------------


def test_thinking_is_generated_signed_and_checked_when_sent_back(server: RunningServer) -> None:
    sdk = client(server)
    asked = [{"role": "user", "content": "Tell me about lighthouses"}]
    message = sdk.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=asked,
    )
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.type == "text" and text.text
    assert message.usage.output_tokens_details is not None
    assert 0 < message.usage.output_tokens_details.thinking_tokens < message.usage.output_tokens
    follow_up = [*asked, {"role": "assistant", "content": message.content}]
    again = sdk.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[*follow_up, {"role": "user", "content": "And then?"}],
    )
    assert again.content[0].type == "thinking"
    edited = {"type": "thinking", "thinking": "edited", "signature": thinking.signature}
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk.messages.create(
            model=MODEL,
            max_tokens=2048,
            messages=[
                *asked,
                {"role": "assistant", "content": [edited, text.model_dump()]},
                {"role": "user", "content": "And then?"},
            ],
        )
    assert caught.value.body["error"]["message"] == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )


def test_thinking_streams_deltas_and_a_signature(server: RunningServer) -> None:
    response = post(server, request("think it through", stream=True))
    events = events_of(response.content)
    validated(events)
    deltas = [d["delta"] for name, d in events if name == "content_block_delta"]
    thinking = [d["thinking"] for d in deltas if d["type"] == "thinking_delta"]
    assert "".join(thinking) == "First the facts, then the answer."
    signatures = [d for d in deltas if d["type"] == "signature_delta"]
    assert len(signatures) == 1 and signatures[0]["signature"]
    kinds = [d["content_block"]["type"] for name, d in events if name == "content_block_start"]
    assert kinds == ["thinking", "text"]


def test_a_rules_finish_reason_tool_calls_is_tool_use(server: RunningServer) -> None:
    """finish_reason maps as FAMILIES says (tool_calls -> tool_use) for a rule that gives it
    with no calls too: it came out end_turn, as if the calls (none) were all server tools."""
    sdk = client(server)
    message = sdk.messages.create(**request("end as a tool call"))
    assert (message.stop_reason, message.content[0].text) == ("tool_use", "Calling nothing.")
    with sdk.messages.stream(**request("end as a tool call")) as stream:
        assert stream.get_final_message().stop_reason == "tool_use"


def test_stop_sequences(server: RunningServer) -> None:
    message = client(server).messages.create(
        model=MODEL,
        max_tokens=100,
        stop_sequences=["END", ", three"],
        messages=[{"role": "user", "content": "count for me"}],
    )
    assert message.content[0].text == "One, two"
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == ", three"
    with client(server).messages.stream(
        model=MODEL,
        max_tokens=100,
        stop_sequences=[", three"],
        messages=[{"role": "user", "content": "count for me"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == ", three"


def test_max_tokens_cuts_the_answer(server: RunningServer) -> None:
    message = client(server).messages.create(
        model=MODEL, max_tokens=3, messages=[{"role": "user", "content": "Tell me a long story"}]
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3
    cut_tool = client(server).messages.create(
        model=MODEL,
        max_tokens=2,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather somewhere?"}],
    )
    assert cut_tool.stop_reason == "max_tokens"


# --- the stream -----------------------------------------------------------------------------


def test_stream_helper_text_stream_and_final_message(server: RunningServer) -> None:
    sdk = client(server)
    with sdk.messages.stream(
        model=MODEL, max_tokens=300, messages=[{"role": "user", "content": "count for me"}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == COUNT
    created = sdk.messages.create(
        model=MODEL, max_tokens=300, messages=[{"role": "user", "content": "count for me"}]
    )
    assert plain(final) == plain(created)


def test_raw_event_bytes(server: RunningServer) -> None:
    body = request("count for me", stream=True)
    response = post(server, body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    raw = response.content
    events = events_of(raw)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * len(COUNT),
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert b'event: ping\ndata: {"type": "ping"}\n\n' in raw  # written as the API writes it
    assert raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    parsed = validated(events)
    start = events[0][1]["message"]
    assert list(start) == MESSAGE_KEYS and start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["output_tokens"] == 1
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert [d["delta"] for _, d in events[3:-3]] == [
        {"type": "text_delta", "text": piece} for piece in COUNT
    ]
    delta = events[-2][1]
    assert delta["delta"] == {
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "stop_details": None,
    }
    created = post(server, request("count for me")).json()
    assert delta["usage"]["output_tokens"] == created["usage"]["output_tokens"]
    assert delta["usage"]["input_tokens"] == created["usage"]["input_tokens"]
    assert parsed[0].message.id == created["id"]
    # The same request gives the same bytes (seeded ids and padding, frozen time).
    assert post(server, body).content == raw


def test_stop_details_and_the_caller_of_a_tool(server: RunningServer) -> None:
    """As 2026 recordings of the API write them: `stop_details` after `stop_sequence` in the
    message, `message_start` and `message_delta` (null, or a refusal's details), and each
    `tool_use` block's `caller`, `{"type": "direct"}`, whole and in its
    `content_block_start`."""
    declined = post(server, request("decline this")).json()
    assert (declined["stop_reason"], declined["stop_details"]) == (
        "refusal",
        {"type": "refusal", "category": None, "explanation": None},
    )
    streamed = events_of(post(server, request("decline this", stream=True)).content)
    assert streamed[0][1]["message"]["stop_details"] is None
    assert streamed[-2][1]["delta"] == {
        "stop_reason": "refusal",
        "stop_sequence": None,
        "stop_details": {"type": "refusal", "category": None, "explanation": None},
    }
    validated(streamed)
    forced = request(
        "Weather in Oslo?",
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    message = check_message(post(server, forced).json())
    (use,) = message.content
    assert use.type == "tool_use" and use.caller is not None
    assert use.caller.model_dump() == {"type": "direct"}
    streamed = events_of(post(server, {**forced, "stream": True}).content)
    (start,) = [data for name, data in streamed if name == "content_block_start"]
    assert start["content_block"] == {
        "type": "tool_use",
        "id": use.id,
        "name": "get_weather",
        "input": {},
        "caller": {"type": "direct"},
    }
    validated(streamed)


def test_the_stream_is_paced_per_delta(server: RunningServer) -> None:
    started = time.monotonic()
    arrivals = []
    with httpx.stream(
        "POST",
        f"{server.url}/v1/messages",
        json=request("take your time", stream=True),
        headers={"x-api-key": KEY},
        timeout=10,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"text_delta"' in line:
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 4
    # Lower bounds only: a loaded machine may be late, never early.
    assert arrivals[0] >= 0.14
    assert arrivals[-1] >= 0.14 + 3 * 0.06 - 0.01


# --- errors ---------------------------------------------------------------------------------


def check_error(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    data = response.json()
    assert list(data) == ["type", "error", "request_id"], data
    assert data["type"] == "error" and data["error"]["type"] == kind
    assert data["request_id"] == response.headers["request-id"]
    return data["error"]


def test_401_for_an_unknown_or_missing_key(keyed: RunningServer) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client(keyed, api_key="sk-ant-unknown-key").messages.create(**request())
    assert caught.value.status_code == 401
    assert caught.value.body["error"] == {
        "type": "authentication_error",
        "message": "invalid x-api-key",
    }
    assert caught.value.request_id == caught.value.body["request_id"]
    missing = httpx.post(f"{keyed.url}/v1/messages", json=request(), timeout=10)
    error = check_error(missing, 401, "authentication_error")
    assert error["message"] == "x-api-key header is required"
    assert missing.headers["x-should-retry"] == "false"
    # A gateway's clients may send the key as a bearer token.
    bearer = httpx.post(
        f"{keyed.url}/v1/messages",
        json=request(),
        headers={"authorization": "Bearer sk-ant-open-key"},
        timeout=10,
    )
    assert bearer.status_code == 200, bearer.text


def test_credits_refuse_and_cut_answers(keyed: RunningServer) -> None:
    reset(keyed.url)
    # The API's 400, not retried (the default profile, speaking for OpenAI, says 429).
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(keyed, api_key="sk-ant-no-credits").messages.create(**request())
    assert caught.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "Your credit balance is too low to access the Anthropic API. Please go to "
        "Plans & Billing to upgrade or purchase credits.",
    }
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in caught.value.response.headers
    # 12 tokens' worth of credits: the prompt's, then an answer cut where they run out.
    cut = client(keyed, api_key="sk-ant-few-credits").messages.create(**request())
    assert cut.stop_reason == "max_tokens"
    assert cut.usage.input_tokens + cut.usage.output_tokens == 12


def test_rate_limit_headers_and_the_429(keyed: RunningServer) -> None:
    reset(keyed.url)
    sdk = client(keyed, api_key="sk-ant-known-key")
    raw = sdk.messages.with_raw_response.create(**request())
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "1"
    reset_at = raw.headers["anthropic-ratelimit-requests-reset"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reset_at)
    assert not any(name.startswith("x-ratelimit") for name in raw.headers)
    sdk.messages.create(**request())
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk.messages.create(**request())
    headers = caught.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["x-should-retry"] == "true"
    error = caught.value.body["error"]
    assert error["type"] == "rate_limit_error"
    assert error["message"].startswith(
        "This request would exceed the rate limit for your organization of 2 requests per minute."
    )


def test_a_token_limit_429_names_the_tokens(keyed: RunningServer) -> None:
    """A key with only `tpm`: the 429 speaks of input tokens (it spoke of "0 requests per
    minute" for a key without an rpm)."""
    reset(keyed.url)
    sdk = client(keyed, api_key="sk-ant-token-key")
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk.messages.create(**{**request(), "max_tokens": 500})
    assert caught.value.response.headers["anthropic-ratelimit-tokens-limit"] == "100"
    assert caught.value.body["error"]["message"].startswith(
        "This request would exceed the rate limit for your organization of 100 input tokens "
        "per minute."
    )
    assert sdk.messages.create(**{**request(), "max_tokens": 20}).content


def test_every_answer_names_its_rate_limits(server: RunningServer, keyed: RunningServer) -> None:
    """The API sends anthropic-ratelimit-* on every answer, not only when a limit is near
    (clients that pace themselves read them): with no keys file, or a key the file gives no
    rpm or tpm, a whole or streamed answer named none, while the OpenAI families' answers
    name theirs."""
    frozen = "2023-11-14T22:13:21Z"  # 1700000000 (22:13:20), the bucket whole again after
    sdk = client(server)
    raw = sdk.messages.with_raw_response.create(**request(max_tokens=1024))
    usage = raw.parse().usage
    assert usage.cache_read_input_tokens == 0
    expected = {
        "requests-limit": "4000",
        "requests-remaining": "3999",
        "requests-reset": frozen,
        "tokens-limit": "2400000",
        "tokens-remaining": str(round((2_400_000 - usage.input_tokens - 1024) / 1000) * 1000),
        "tokens-reset": frozen,
        "input-tokens-limit": "2000000",
        "input-tokens-remaining": "2000000",  # rounded to the nearest thousand, as sent
        "input-tokens-reset": frozen,
        "output-tokens-limit": "400000",
        "output-tokens-remaining": "399000",
        "output-tokens-reset": frozen,
    }
    named = {
        name.removeprefix("anthropic-ratelimit-"): value
        for name, value in raw.headers.items()
        if name.startswith("anthropic-ratelimit-")
    }
    assert named == expected
    assert not any(name.startswith("x-ratelimit") for name in raw.headers)
    with sdk.messages.with_streaming_response.create(**request(stream=True)) as streamed:
        assert streamed.headers["anthropic-ratelimit-requests-remaining"] == "3999"
        assert streamed.headers["anthropic-ratelimit-output-tokens-remaining"] == "399000"
    reset(keyed.url)
    open_key = client(keyed, api_key="sk-ant-open-key").messages.with_raw_response
    headers = open_key.create(**request(max_tokens=20)).headers
    assert headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == "400000"


def test_429_then_success_honours_retry_after(server: RunningServer) -> None:
    sdk = client(server, max_retries=2)
    started = time.monotonic()
    message = sdk.messages.create(**request(model="claude-retry-429"))
    elapsed = time.monotonic() - started
    assert message.content[0].text == "after the rate limit"
    assert elapsed >= 0.95, elapsed  # retry-after: 1
    statuses = [e["status"] for e in journal(server.url) if e["model"] == "claude-retry-429"]
    assert statuses[-2:] == [429, 200]


def test_529_then_success_and_the_overloaded_error(server: RunningServer) -> None:
    message = client(server, max_retries=2).messages.create(**request(model="claude-retry-529"))
    assert message.content[0].text == "after the overload"
    with pytest.raises(anthropic.APIStatusError) as caught:
        client(server).messages.create(**request(model="claude-overloaded"))
    assert caught.value.status_code == 529
    assert isinstance(caught.value, anthropic.InternalServerError)
    assert caught.value.body["error"] == {
        "details": None,
        "type": "overloaded_error",
        "message": "Overloaded",
    }
    raw = post(server, request(model="claude-overloaded"))
    check_error(raw, 529, "overloaded_error")
    assert raw.headers["x-should-retry"] == "true"


def test_async_client_retries_and_raises_its_own_classes(server: RunningServer) -> None:
    async def main() -> str:
        async with AsyncAnthropic(base_url=server.url, api_key=KEY, max_retries=2) as aclient:
            message = await aclient.messages.create(**request(model="claude-retry-529"))
            with pytest.raises(anthropic.NotFoundError):
                await aclient.messages.create(**request(model="no-such-model"))
            return message.content[0].text

    assert asyncio.run(main()) == "after the overload"


def test_async_tools_thinking_count_tokens_and_retry_after(server: RunningServer) -> None:
    asked = [{"role": "user", "content": "What is the weather in Paris?"}]

    async def main() -> tuple[Message, Message, Message, int, float, Message]:
        async with AsyncAnthropic(base_url=server.url, api_key=KEY, max_retries=2) as aclient:
            first = await aclient.messages.create(
                model=MODEL, max_tokens=500, tools=[WEATHER_TOOL], messages=asked
            )
            use = first.content[0]
            result = {"type": "tool_result", "tool_use_id": use.id, "content": "18C"}
            second = await aclient.messages.create(
                model=MODEL,
                max_tokens=500,
                tools=[WEATHER_TOOL],
                messages=[
                    *asked,
                    {"role": "assistant", "content": first.content},
                    {"role": "user", "content": [result]},
                ],
            )
            thought = await aclient.messages.create(
                model=MODEL,
                max_tokens=2048,
                thinking={"type": "enabled", "budget_tokens": 1024},
                messages=[{"role": "user", "content": "Tell me about lighthouses"}],
            )
            counted = await aclient.messages.count_tokens(
                model=MODEL, tools=[WEATHER_TOOL], messages=asked
            )
            started = time.monotonic()
            retried = await aclient.messages.create(**request(model="claude-retry-429"))
            return first, second, thought, counted.input_tokens, time.monotonic() - started, retried

    first, second, thought, counted, waited, retried = asyncio.run(main())
    assert first.stop_reason == "tool_use" and first.content[0].input["city"] == "Paris"
    assert second.content[0].text == "It is 18°C and sunny in Paris."
    assert [b.type for b in thought.content] == ["thinking", "text"]
    assert counted == first.usage.input_tokens
    assert retried.content[0].text == "after the rate limit" and waited >= 0.95


def test_an_unknown_model_is_a_not_found_error(server: RunningServer) -> None:
    error = check_error(post(server, request(model="no-such-model")), 404, "not_found_error")
    assert error["message"] == "model: no-such-model"


def test_error_types_follow_the_status(server: RunningServer) -> None:
    for model, status, kind in [
        ("error-400", 400, "invalid_request_error"),
        ("error-401", 401, "authentication_error"),
        ("error-402", 402, "billing_error"),
        ("error-403", 403, "permission_error"),
        ("error-404", 404, "not_found_error"),
        ("error-429", 429, "rate_limit_error"),
        ("error-500", 500, "api_error"),
        # a rule's own type is kept; OpenAI's (a scenario every family shares) is mapped
        ("claude-own-type", 400, "quota_rule_error"),
        ("claude-openai-type", 402, "billing_error"),
    ]:
        check_error(post(server, request(model=model)), status, kind)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"messages": []}, "messages: at least one message is required"),
        ({"model": None}, "model: Field required"),
        ({"max_tokens": "many"}, "max_tokens: Input should be a valid integer"),
        ({"temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
        ({"top_k": -1}, "top_k: Input should be greater than or equal to 0"),
        ({"n": 2}, "n: Extra inputs are not permitted"),
        (
            {"messages": [{"role": "developer", "content": "hi"}]},
            'messages: Unexpected role "developer". The Messages API accepts a top-level '
            '`system` parameter, not "developer" as an input message role.',
        ),
        (
            # as the API words it (github.com/QuixiAI/dolphin-mcp issue 5)
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "hi"},
                ]
            },
            'messages: Unexpected role "system". The Messages API accepts a top-level '
            '`system` parameter, not "system" as an input message role.',
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}],
                    },
                ]
            },
            "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
            "toolu_x. Each `tool_result` block must have a corresponding `tool_use` block in "
            "the previous message.",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "toolu_y", "name": "f", "input": {}}
                        ],
                    },
                    {"role": "user", "content": "go on"},
                ]
            },
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately "
            "after: toolu_y. Each `tool_use` block must have a corresponding `tool_result` "
            "block in the next message.",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}]},
            "messages.0.content.0: Input tag 'input_text' found using 'type' does not match any "
            "of the expected tags: 'text', 'image', 'document', 'search_result', 'thinking', "
            "'redacted_thinking', 'tool_use', 'tool_result', 'server_tool_use', "
            "'web_search_tool_result', 'web_fetch_tool_result', 'advisor_tool_result', "
            "'code_execution_tool_result', 'bash_code_execution_tool_result', "
            "'text_editor_code_execution_tool_result', 'tool_search_tool_result', "
            "'mcp_tool_use', 'mcp_tool_result', 'container_upload', 'compaction', "
            "'tool_addition', 'tool_removal', 'mcp_tool_listing', 'fallback'",
        ),
        (
            {"tools": [{"name": "f"}]},
            "tools.0.custom.input_schema: Field required",
        ),
        (
            {
                "max_tokens": 4096,
                "tool_choice": {"type": "any"},
                "thinking": {"type": "enabled", "budget_tokens": 1024},
            },
            "Thinking may not be enabled when tool_choice forces tool use.",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 512}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
    ],
)
def test_validation_errors_name_the_field(
    server: RunningServer, change: dict[str, Any], message: str
) -> None:
    body = {k: v for k, v in {**request(), **change}.items() if v is not None}
    if "tool_choice" in change:
        body["tools"] = [WEATHER_TOOL]
    error = check_error(post(server, body), 400, "invalid_request_error")
    assert error["message"] == message


def test_invalid_json_is_refused_in_anthropic_shape(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/v1/messages",
        content=b'{"model": ',
        headers={"x-api-key": KEY, "content-type": "application/json"},
        timeout=10,
    )
    error = check_error(response, 400, "invalid_request_error")
    assert error["message"].startswith("The request body is not valid JSON: ")


def _assistant_turn(block: dict[str, Any], answer: Any = "go on") -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [block]},
            {"role": "user", "content": answer},
        ]
    }


USE = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Each path names the block's type, as the API's validator does (its words, as
        # public reports quote them).
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages.0.content.0.text.text: Field required",
        ),
        (
            _assistant_turn({"type": "thinking", "thinking": "Hmm."}),
            "messages.1.content.0.thinking.signature: Field required",
        ),
        (
            _assistant_turn({k: v for k, v in USE.items() if k != "id"}),
            "messages.1.content.0.tool_use.id: Field required",
        ),
        (
            _assistant_turn({k: v for k, v in USE.items() if k != "name"}),
            "messages.1.content.0.tool_use.name: Field required",
        ),
        (
            _assistant_turn({**USE, "input": '{"city": "Oslo"}'}),
            "messages.1.content.0.tool_use.input: Input should be an object",
        ),
        (
            _assistant_turn({**USE, "input": None}),
            "messages.1.content.0.tool_use.input: Input should be an object",
        ),
        (
            _assistant_turn(USE, [{"type": "tool_result", "content": "3C"}]),
            "messages.2.content.0.tool_result.tool_use_id: Field required",
        ),
        (
            _assistant_turn(
                USE,
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A",
                        "content": [{"type": "text"}],
                    }
                ],
            ),
            "messages.2.content.0.tool_result.content.0.text.text: Field required",
        ),
    ],
)
def test_a_block_field_is_named_under_its_type(
    server: RunningServer, change: dict[str, Any], message: str
) -> None:
    error = check_error(post(server, {**request(), **change}), 400, "invalid_request_error")
    assert error["message"] == message


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_json_nested_too_deep_is_refused_not_a_crash(server: RunningServer, path: str) -> None:
    for nested in (b"[" * 1100 + b"]" * 1100, b'{"a":' * 1100 + b"1" + b"}" * 1100):
        response = httpx.post(
            f"{server.url}{path}",
            content=nested,
            headers={"x-api-key": KEY, "content-type": "application/json"},
            timeout=10,
        )
        error = check_error(response, 400, "invalid_request_error")
        assert error["message"].startswith(
            "The request body is not valid JSON: depth limit exceeded: line 1 column"
        )
    assert "Traceback" not in server.log()


# --- faults ---------------------------------------------------------------------------------


def test_an_in_band_error_event(server: RunningServer) -> None:
    raw = post(server, request(model="claude-error-after", stream=True)).content
    events = events_of(raw)
    names = [name for name, _ in events]
    assert names[-1] == "error" and "message_stop" not in names
    assert names.count("content_block_delta") == 2
    assert events[-1][1]["error"] == {
        "details": None,
        "type": "overloaded_error",
        "message": "Overloaded",
    }
    with pytest.raises(anthropic.APIStatusError) as caught:
        with client(server).messages.stream(**request(model="claude-error-after")) as stream:
            list(stream.text_stream)
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_a_disconnect_and_a_malformed_event(server: RunningServer) -> None:
    with pytest.raises((anthropic.APIConnectionError, httpx.HTTPError)):
        with client(server).messages.stream(**request(model="claude-disconnect")) as stream:
            list(stream.text_stream)
    raw = b""
    try:
        with httpx.stream(
            "POST",
            f"{server.url}/v1/messages",
            json=request(model="claude-disconnect", stream=True),
            headers={"x-api-key": KEY},
            timeout=10,
        ) as response:
            for chunk in response.iter_raw():
                raw += chunk
    except httpx.HTTPError:
        pass
    assert raw.count(b"event: content_block_delta") == 2 and b"message_stop" not in raw
    bad = post(server, request(model="claude-malformed", stream=True)).content
    payloads = [line[6:] for line in bad.split(b"\n") if line.startswith(b"data: ")]
    broken = []
    for payload in payloads:
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            broken.append(payload)
    assert len(broken) == 1 and broken[0].startswith(b'{"type":"content_block_delta"')
    with pytest.raises(ValueError):
        with client(server).messages.stream(**request(model="claude-malformed")) as stream:
            list(stream.text_stream)


# --- token counting, models, one scenario for every family ---------------------------------


def test_count_tokens_counts_as_usage_does(server: RunningServer) -> None:
    sdk = client(server)
    fields: dict[str, Any] = {
        "model": MODEL,
        "system": "You are a weather assistant.",
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "Tell me about lighthouses and the sea"}],
    }
    counted = sdk.messages.count_tokens(**fields)
    assert isinstance(counted, MessageTokensCount)
    message = sdk.messages.create(max_tokens=300, **fields)
    assert counted.input_tokens == message.usage.input_tokens > 0
    raw = post(server, fields, "/v1/messages/count_tokens")
    assert raw.json() == {"input_tokens": counted.input_tokens}
    assert re.fullmatch(r"req_011C\w{20}", raw.headers["request-id"])
    entry = journal(server.url)[-1]
    assert (entry["path"], entry["source"], entry["status"]) == (
        "/v1/messages/count_tokens",
        "direct",
        200,
    )
    assert entry["id"] == raw.headers["request-id"]
    refused = post(server, {**fields, "max_tokens": 10}, "/v1/messages/count_tokens")
    assert check_error(refused, 400, "invalid_request_error")["message"] == (
        "max_tokens: Extra inputs are not permitted"
    )
    # a model the API does not have is refused as /v1/messages refuses it
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk.messages.count_tokens(**{**fields, "model": "no-such-model"})
    assert caught.value.body["error"] == {
        "type": "not_found_error",
        "message": "model: no-such-model",
    }
    assert caught.value.response.headers["x-should-retry"] == "false"
    entry = journal(server.url)[-1]
    assert (entry["source"], entry["status"]) == ("error", 404)


def test_a_prompt_over_the_context_window_is_refused_as_the_api_words_it(
    server: RunningServer,
) -> None:
    sdk = client(server)
    asked = [{"role": "user", "content": "lighthouse " * 210_000}]
    counted = sdk.messages.count_tokens(model=MODEL, messages=asked).input_tokens
    assert counted > 200_000
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk.messages.create(model=MODEL, max_tokens=100, messages=asked)
    assert caught.value.body["error"] == {
        "type": "invalid_request_error",
        "message": f"prompt is too long: {counted} tokens > 200000 maximum",
    }


def test_models_list_in_anthropic_shape(server: RunningServer) -> None:
    models = list(client(server).models.list())
    assert models and all(m.type == "model" for m in models)
    ids = [m.id for m in models]
    assert "claude-sonnet-4-5-20250929" in ids and "gpt-4o" not in ids
    sonnet = client(server).models.retrieve("claude-sonnet-4-5-20250929")
    assert sonnet.display_name == "Claude Sonnet 4.5"
    assert (sonnet.max_input_tokens, sonnet.max_tokens) == (200_000, 64_000)
    # An alias resolves to the model id it stands for, as the API resolves it.
    for alias, model_id, created in (
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "2025-09-29"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219", "2025-02-19"),
    ):
        found = client(server).models.retrieve(alias)
        assert (found.id, found.created_at.date().isoformat()) == (model_id, created)
    assert re.fullmatch(r"req_011C\w{20}", sonnet._request_id or "")
    with pytest.raises(anthropic.NotFoundError) as caught:
        client(server).models.retrieve("no-such-model")
    assert caught.value.body["error"] == {
        "type": "not_found_error",
        "message": "model: no-such-model",
    }
    # Without anthropic-version the OpenAI shape stays.
    plain = httpx.get(f"{server.url}/v1/models", timeout=5).json()
    assert plain["object"] == "list" and "gpt-4o" in [m["id"] for m in plain["data"]]
    for limit, said in (
        ("0", "Input should be greater than or equal to 1"),
        ("-5", "Input should be greater than or equal to 1"),
        ("abc", "Input should be a valid integer, unable to parse string as an integer"),
        ("1001", "Input should be less than or equal to 1000"),
    ):
        page = httpx.get(
            f"{server.url}/v1/models",
            params={"limit": limit},
            headers={"anthropic-version": "2023-06-01"},
            timeout=5,
        )
        assert check_error(page, 400, "invalid_request_error")["message"] == f"limit: {said}"
        assert page.json()["request_id"] == page.headers["request-id"]
    assert len(list(client(server).models.list(limit=2).data)) == 2


def test_one_rule_answers_every_family(server: RunningServer) -> None:
    """scenarios/support.yaml: chat, responses and messages answer from one rule."""
    openai = OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    question = "Can I get a refund?"
    chat = openai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
    )
    assert chat.choices[0].message.content == REFUND
    response = openai.responses.create(model="gpt-4o-mini", input=question)
    assert response.output_text == REFUND
    message = client(server).messages.create(
        model=MODEL, max_tokens=200, messages=[{"role": "user", "content": question}]
    )
    assert message.content[-1].text == REFUND
    rules = {e["api"]: e["rule"] for e in journal(server.url)[-3:]}
    assert rules == {
        "chat": "support.yaml#refund-policy",
        "responses": "support.yaml#refund-policy",
        "messages": "support.yaml#refund-policy",
    }


def test_the_journal_keeps_messages_exchanges(server: RunningServer) -> None:
    client(server).messages.create(**request("count for me"))
    entry = journal(server.url)[-1]
    assert entry["api"] == "messages" and entry["path"] == "/v1/messages"
    assert entry["request"]["messages"][0]["content"] == "count for me"
    assert entry["usage"]["completion_tokens"] > 0
    assert re.fullmatch(r"req_011C\w{20}", entry["id"])


# --- recording and replay -------------------------------------------------------------------

UPSTREAM_RULES = """\
version: 1
rules:
  - name: story
    match: { last_user: "tell the story" }
    reply:
      reasoning: "A short one."
      chunks: ["Once", " upon", " a", " time."]
      latency: { ttft_ms: 40, inter_token_ms: 20 }
  - name: weather
    match: { last_user: "weather please", tools: [get_weather] }
    reply:
      tool_calls: [{ name: get_weather, arguments: { city: Oslo, unit: celsius } }]
"""


def test_record_replay_and_to_scenario(tmp_path: Path, serve: Any) -> None:
    """Recorded through `--upstream` (an Anthropic-compatible server), the stream passed
    through untouched and the key scrubbed; replayed byte for byte; converted to rules
    that answer the same."""
    upstream = serve("--scenarios", str(write_scenario(tmp_path, UPSTREAM_RULES, "up.yaml")))
    cassettes = tmp_path / "cassettes"
    recorder = serve(
        "--upstream", upstream.url, "--cassettes", str(cassettes), "--record-mode", "once"
    )
    story = request("tell the story", stream=True)
    weather = request("weather please", tools=[WEATHER_TOOL])
    direct = post(upstream, story).content
    relayed = post(recorder, story)
    assert relayed.content == direct  # passed through untouched
    called = post(recorder, weather).json()
    assert called["content"][0]["input"] == {"city": "Oslo", "unit": "celsius"}
    recorder.stop()
    text = (cassettes / "recorded.yaml").read_text(encoding="utf-8")
    assert KEY not in text and text.count("<redacted>") == 2  # x-api-key, scrubbed
    assert "/v1/messages" in text
    replay = serve("--cassettes", str(cassettes), "--replay-speed", "0")
    assert post(replay, story).content == direct
    assert post(replay, weather).json()["content"] == called["content"]
    command = ["cassette", "to-scenario", str(cassettes / "recorded.yaml")]
    converted = subprocess.run(
        [sys.executable, "-m", "mockllm", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rules = yaml.safe_load(converted)["rules"]
    assert [rule["match"]["api"] for rule in rules] == ["messages", "messages"]
    scripted = serve("--strict", "--scenarios", str(write_scenario(tmp_path, converted, "c.yaml")))
    sdk = client(scripted)
    with sdk.messages.stream(
        model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "tell the story"}]
    ) as stream:
        assert list(stream.text_stream) == ["Once", " upon", " a", " time."]
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].thinking == "A short one."
    again = sdk.messages.create(**weather)
    assert again.content[0].input == {"city": "Oslo", "unit": "celsius"}
    assert again.content[0].id == called["content"][0]["id"]
    # --strict: a miss is Anthropic's 404, naming the closest rules.
    miss = check_error(post(scripted, request("something else")), 404, "not_found_error")
    assert miss["message"].startswith("No rule matches this request (model 'claude-sonnet-4-5')")
    assert "recorded-0 failed: last_user" in miss["message"]


def test_an_unknown_path_is_refused_in_anthropic_shape(tmp_path) -> None:
    running = start_server(tmp_path=tmp_path)
    try:
        raw = httpx.post(
            f"{running.url}/v1/mesages",
            json={"model": "claude-3-5-haiku-20241022"},
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        )
        assert raw.status_code == 404
        body = raw.json()
        assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
        assert body["request_id"] == raw.headers["request-id"]
        assert "POST /v1/messages" in body["error"]["message"]
    finally:
        running.stop()


def test_a_system_prompt_asking_for_json_gets_json(server: RunningServer) -> None:
    """The Vercel AI SDK's JSON output without a schema on the Messages API (which has no
    JSON mode): its system prompt ends "You MUST answer with JSON.", and the answer must
    parse."""
    message = client(server).messages.create(
        **request("Make a person", system="You MUST answer with JSON.")
    )
    text = message.content[0].text  # type: ignore[union-attr]
    assert isinstance(json.loads(text), dict), text
    prose = client(server).messages.create(**request("Explain what JSON is."))
    assert not prose.content[0].text.lstrip().startswith("{")  # type: ignore[union-attr]
