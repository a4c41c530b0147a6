"""A rule that says something and calls a tool is answered with both, as each family's API
writes such an answer: chat's `message.content` with `tool_calls`, a Responses `message`
item before its `function_call` items, a Messages `text` block before its `tool_use`
blocks. Through the front door: the official `openai` and `anthropic` SDKs (their stream
helpers and types) and raw httpx for the exact order of the events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from anthropic import Anthropic
from anthropic.types import Message
from openai import OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from tests.conftest import RunningServer, start_server

from .helpers import journal, write_scenario

PREAMBLE = "I'll check the weather for you."
RULES = f"""\
version: 1
rules:
  - name: preamble-then-call
    match: {{ last_user: {{ contains: weather }}, last_message: {{ role: user }} }}
    reply:
      content: "{PREAMBLE}"
      tool_calls:
        - name: get_weather
          arguments: {{ city: Paris }}
  - name: answer-from-the-result
    match: {{ last_message: {{ role: tool }} }}
    reply:
      content: "It is {{{{ tool_result }}}} in {{{{ tool_args.city }}}}."
"""
PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
CHAT_TOOL: Any = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}
RESPONSES_TOOL: Any = {"type": "function", "name": "get_weather", "parameters": PARAMETERS}
MESSAGES_TOOL: Any = {"name": "get_weather", "input_schema": PARAMETERS}
ASK = "What is the weather in Paris?"
# "I", "'ll", " check", " the", " weather", " for", " you", "." and the call: '{"', "city",
# '":"', "Paris", '"}', the name's three tokens and three of framing.
OUTPUT_TOKENS = 8 + 5 + 3 + 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("text-with-calls")
    rules = write_scenario(tmp, RULES)
    running = start_server("--scenarios", str(rules), "--freeze-time", "1700000000", tmp_path=tmp)
    yield running
    running.stop()


def openai_client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def raw_stream(server: RunningServer, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The data of each event of a streamed answer, in order."""
    headers = {"authorization": "Bearer sk-test", "x-api-key": "sk-test"}
    answer = httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    data = [line[len("data: ") :] for line in answer.text.splitlines() if line.startswith("data:")]
    return [json.loads(d) for d in data if d != "[DONE]"]


def test_chat_sends_the_text_and_the_call(server: RunningServer) -> None:
    completion = openai_client(server).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": ASK}], tools=[CHAT_TOOL]
    )
    ChatCompletion.model_validate(completion.model_dump())
    (choice,) = completion.choices
    assert choice.message.content == PREAMBLE
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')
    assert choice.finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.completion_tokens == OUTPUT_TOKENS


def test_chat_stream_helper_accumulates_both(server: RunningServer) -> None:
    with openai_client(server).chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": ASK}],
        tools=[CHAT_TOOL],
        stream_options={"include_usage": True},
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    (choice,) = final.choices
    assert choice.message.content == PREAMBLE
    assert [(c.function.name, c.function.arguments) for c in choice.message.tool_calls or []] == [
        ("get_weather", '{"city":"Paris"}')
    ]
    assert choice.finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.completion_tokens == OUTPUT_TOKENS
    # The helper saw all the text before the call's arguments began.
    last_text = len(kinds) - 1 - kinds[::-1].index("content.delta")
    assert last_text < kinds.index("tool_calls.function.arguments.delta")


def test_chat_stream_order_role_text_then_call_deltas(server: RunningServer) -> None:
    body = {"model": "gpt-4o", "stream": True, "tools": [CHAT_TOOL]}
    chunks = raw_stream(
        server, "/v1/chat/completions", {**body, "messages": [{"role": "user", "content": ASK}]}
    )
    deltas = [ChatCompletionChunk.model_validate(c).choices[0].delta for c in chunks]
    assert deltas[0].model_dump(exclude_none=True) == {"role": "assistant", "content": ""}
    texts = [d.content for d in deltas[1:9]]
    assert "".join(t or "" for t in texts) == PREAMBLE and all(
        not d.tool_calls for d in deltas[1:9]
    )
    first, *rest = [d.tool_calls[0] for d in deltas[9:] if d.tool_calls]
    assert (first.index, first.type, first.function and first.function.name) == (
        0,
        "function",
        "get_weather",
    )
    assert first.id and first.id.startswith("call_") and first.function.arguments == ""
    assert all((f.index, f.id, f.type) == (0, None, None) for f in rest)
    assert "".join(f.function.arguments or "" for f in rest if f.function) == '{"city":"Paris"}'
    assert all(d.content is None for d in deltas[9:])
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_responses_message_item_then_function_call(server: RunningServer) -> None:
    sdk = openai_client(server)
    response = sdk.responses.create(model="gpt-4o", input=ASK, tools=[RESPONSES_TOOL])
    Response.model_validate(response.model_dump())
    assert [item.type for item in response.output] == ["message", "function_call"]
    assert response.output_text == PREAMBLE
    call = response.output[1]
    assert call.type == "function_call" and (call.name, call.arguments) == (
        "get_weather",
        '{"city":"Paris"}',
    )
    assert response.usage is not None and response.usage.output_tokens == OUTPUT_TOKENS
    with sdk.responses.stream(model="gpt-4o", input=ASK, tools=[RESPONSES_TOOL]) as stream:
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output_text == PREAMBLE
    # The next turn continues from the stored response: the call's output answers it.
    after = sdk.responses.create(
        model="gpt-4o",
        tools=[RESPONSES_TOOL],
        previous_response_id=response.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert after.output_text == "It is sunny in Paris."


def test_responses_stream_events_in_order(server: RunningServer) -> None:
    body = {"model": "gpt-4o", "stream": True, "input": ASK, "tools": [RESPONSES_TOOL]}
    events = raw_stream(server, "/v1/responses", body)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    shape = [(e["type"], e.get("output_index"), e.get("content_index")) for e in events]
    assert shape == [
        ("response.created", None, None),
        ("response.in_progress", None, None),
        ("response.output_item.added", 0, None),
        ("response.content_part.added", 0, 0),
        *[("response.output_text.delta", 0, 0)] * 8,
        ("response.output_text.done", 0, 0),
        ("response.content_part.done", 0, 0),
        ("response.output_item.done", 0, None),
        ("response.output_item.added", 1, None),
        *[("response.function_call_arguments.delta", 1, None)] * 5,
        ("response.function_call_arguments.done", 1, None),
        ("response.output_item.done", 1, None),
        ("response.completed", None, None),
    ]
    assert [events[i]["item"]["type"] for i in (2, 14, 15, 22)] == [
        "message",
        "message",
        "function_call",
        "function_call",
    ]


def test_messages_text_block_then_tool_use(server: RunningServer) -> None:
    client = Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)
    ask = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": ASK}],
        "tools": [MESSAGES_TOOL],
    }
    message = client.messages.create(**ask)
    Message.model_validate(message.model_dump())
    assert [block.type for block in message.content] == ["text", "tool_use"]
    text, use = message.content
    assert text.type == "text" and text.text == PREAMBLE
    assert use.type == "tool_use" and (use.name, use.input) == ("get_weather", {"city": "Paris"})
    assert (message.stop_reason, message.usage.output_tokens) == ("tool_use", OUTPUT_TOKENS)
    with client.messages.stream(**ask) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use"]
    assert final.content[0].type == "text" and final.content[0].text == PREAMBLE
    assert final.content[1].type == "tool_use" and final.content[1].input == {"city": "Paris"}
    assert final.stop_reason == "tool_use"
    events = raw_stream(server, "/v1/messages", {**ask, "stream": True})
    shape = [
        (e["type"], e.get("index"), e.get("content_block", e.get("delta", {})).get("type"))
        for e in events
    ]
    assert shape == [
        ("message_start", None, None),
        ("content_block_start", 0, "text"),
        ("ping", None, None),
        *[("content_block_delta", 0, "text_delta")] * 8,
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "tool_use"),
        *[("content_block_delta", 1, "input_json_delta")] * 6,
        ("content_block_stop", 1, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]


def test_max_tokens_spends_the_text_first_and_the_journal_counts_both(
    server: RunningServer,
) -> None:
    raw = openai_client(server).chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": ASK}],
        tools=[CHAT_TOOL],
        max_tokens=10,
    )
    (choice,) = raw.parse().choices
    assert choice.message.content == PREAMBLE
    assert [c.function.arguments for c in choice.message.tool_calls or []] == ['{"city']
    assert choice.finish_reason == "length"
    client = Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)
    cut = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=4,
        messages=[{"role": "user", "content": ASK}],
        tools=[MESSAGES_TOOL],
    )
    assert [b.type for b in cut.content] == ["text"] and cut.stop_reason == "max_tokens"
    assert cut.content[0].type == "text" and cut.content[0].text == "I'll check the"
    (entry,) = [e for e in journal(server.url) if e["id"] == raw.headers["x-request-id"]]
    assert entry["usage"]["completion_tokens"] == 10
