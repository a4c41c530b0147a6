"""The Anthropic Messages dialect without HTTP: requests read into a Conversation, answers
written as the message object and its events, errors and headers under Anthropic's names."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from mockllm.dialects import ParseContext, by_api, dialects
from mockllm.dialects import messages as dialect
from mockllm.dialects import messages_answer as wire
from mockllm.errors import RequestError
from mockllm.render import render
from mockllm.rules import ChoiceSpec, ErrorSpec, Fault, Latency, Reply, ToolCallSpec
from mockllm.template import compile_template
from tests.factories import make_messages_request

EVENTS = TypeAdapter(RawMessageStreamEvent)
LENIENT = ParseContext(lenient=True)
TOOL = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


NOT_2020_12 = (
    "tools.0.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft "
    "2020-12 (https://json-schema.org/draft/2020-12). Learn more about tool use at "
    "https://platform.claude.com/docs/en/agents-and-tools/tool-use/overview."
)


def image(source: Any) -> dict[str, Any]:
    """A user message with one image block (`source` None: without one)."""
    block: dict[str, Any] = {"type": "image"}
    if source is not None:
        block["source"] = source
    return {"role": "user", "content": [block, {"type": "text", "text": "What is this?"}]}


def answered(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The image message's blocks as the content of a tool result answering a call."""
    use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": message["content"][:1]}
    return [{"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]


def refused(**fields: Any) -> str:
    with pytest.raises(RequestError) as caught:
        make_messages_request(**fields)
    assert caught.value.status == 400
    return caught.value.message


def rendered_for(request: Any, **reply: Any) -> Any:
    """The answer a reply (its texts compiled as templates) or the generator renders."""
    reply = {k: compile_template(v) if isinstance(v, str) else v for k, v in reply.items()}
    spec = ChoiceSpec(**reply) if reply else None
    chosen = Reply(choices=(spec,)) if spec is not None else Reply(is_default=True)
    return render(chosen, request, seed=7)


def events(body: Any) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for event in body.events:
        head, _, data = event.partition(b"\ndata: ")
        out.append((head[len(b"event: ") :].decode(), json.loads(data)))
    return out


# --- requests -------------------------------------------------------------------------------


def test_the_dialects_are_registered() -> None:
    paths = {p for d in dialects() for p in d.paths}
    assert {"/v1/messages", "/v1/messages/count_tokens"} <= paths
    assert by_api("messages") is dialect.DIALECT
    assert dialect.COUNT_TOKENS.direct is not None and dialect.DIALECT.direct is None
    assert dialect.DIALECT.key_headers == ("x-api-key",)
    assert dialect.DIALECT.request_id_header == b"request-id"
    assert not dialect.DIALECT.processing_ms


def test_a_conversation_is_read_from_blocks_tool_uses_and_results() -> None:
    request = make_messages_request(
        system=[{"type": "text", "text": "Terse.", "cache_control": {"type": "ephemeral"}}],
        tools=[TOOL],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me look."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "3C"}],
                    },
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
        headers={"x-api-key": "sk-ant-1", "authorization": "Bearer other"},
    )
    assert request.api == "messages" and request.max_tokens == 1024
    assert [(m.role, m.text) for m in request.messages] == [
        ("system", "Terse."),
        ("user", "Weather?"),
        ("assistant", "Let me look."),
        ("tool", "3C"),
        ("user", "Thanks"),
    ]
    assert request.messages[2].tool_calls[0].parsed_arguments == {"city": "Oslo"}
    assert request.messages[3].tool_call_id == "toolu_1"
    assert request.system == "Terse." and request.last_user == "Thanks" and request.turn == 2
    assert request.tool_names == {"get_weather"}
    assert request.api_key == "sk-ant-1"


def test_a_tool_result_alone_is_a_tool_message_not_a_user_turn() -> None:
    request = make_messages_request(
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ],
    )
    assert request.messages[-1].role == "tool" and request.turn == 1


def test_tool_choice_maps_to_the_engine_words() -> None:
    tools = [TOOL]
    assert make_messages_request(tools=tools).tool_choice is None
    assert make_messages_request(tools=tools, tool_choice={"type": "any"}).tool_choice == "required"
    forced = make_messages_request(tools=tools, tool_choice={"type": "tool", "name": "get_weather"})
    assert forced.tool_choice == "get_weather"
    single = make_messages_request(
        tools=tools, tool_choice={"type": "auto", "disable_parallel_tool_use": True}
    )
    assert single.tool_choice == "auto" and not single.parallel_tool_calls
    assert make_messages_request(tools=tools, tool_choice={"type": "none"}).tool_choice == "none"


def test_thinking_stop_sequences_and_sampling_are_read() -> None:
    request = make_messages_request(
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        stop_sequences=["\n\nHuman:"],
        temperature=1,  # thinking takes temperature 1 and top_p from 0.95 (not both on 4.5)
        metadata={"user_id": "u-1"},
    )
    sampled = make_messages_request(
        model="claude-sonnet-4-20250514", temperature=0.2, top_p=0.9, top_k=40
    )
    assert not sampled.reasoning
    assert request.reasoning and request.wire.thinking
    assert request.stop == ("\n\nHuman:",)
    assert not make_messages_request(thinking={"type": "disabled"}).reasoning
    assert make_messages_request(thinking={"type": "adaptive"}).reasoning


def test_server_and_anthropic_defined_tools() -> None:
    request = make_messages_request(
        tools=[
            {"type": "web_search_20250305", "name": "web_search"},
            {"type": "bash_20250124", "name": "bash"},
            {"type": "custom", **TOOL},
        ]
    )
    assert request.tool_names == {"web_search", "bash", "get_weather"}
    assert request.wire.server_tools == {"web_search"}
    assert refused(tools=[{"type": "web_search_20250305", "name": "search"}]) == (
        "tools.0.web_search_20250305.name: Input should be 'web_search'"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"messages": []}, "messages: at least one message is required"),
        ({"temperature": "hot"}, "temperature: Input should be a valid number"),
        ({"top_p": 2}, "top_p: Input should be less than or equal to 1"),
        ({"stream": "yes"}, "stream: Input should be a valid boolean"),
        ({"metadata": {"user": "x"}}, "metadata.user: Extra inputs are not permitted"),
        ({"stop_sequences": "STOP"}, "stop_sequences: Input should be a valid list"),
        (
            {"system": [{"type": "image"}]},
            "system.0: Input tag 'image' found using 'type' does not match any of the expected "
            "tags: 'text'",
        ),
        (
            {"tools": [{"name": "bad name", "input_schema": {"type": "object"}}]},
            "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
        ),
        (
            {"tools": [{"name": "f", "input_schema": {"anyOf": [{"type": "object"}]}}]},
            "tools.0.custom.input_schema: input_schema does not support oneOf, allOf, or anyOf "
            "at the top level",
        ),
        (
            {"tools": [TOOL, TOOL]},
            "tools: Tool names must be unique.",
        ),
        (
            {"tool_choice": {"type": "required"}},
            "tool_choice: Input tag 'required' found using 'type' does not match any of the "
            "expected tags: 'auto', 'any', 'tool', 'none'",
        ),
        ({"thinking": {"type": "enabled"}}, "thinking.enabled.budget_tokens: Field required"),
        (
            {"max_tokens": 1500, "thinking": {"type": "enabled", "budget_tokens": 2000}},
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#max-tokens-and-context-window-size",
        ),
        (
            {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}]},
            "messages.0: all messages must have non-empty content except for the optional "
            "final assistant message",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": " "}]}]},
            "messages: text content blocks must contain non-whitespace text",
        ),
        (
            {"messages": [{"role": "user", "content": "hi", "name": "bob"}]},
            "messages.0.name: Extra inputs are not permitted",
        ),
        (
            {"messages": [image({"type": "base64", "media_type": "image/bmp", "data": PNG})]},
            "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', "
            "'image/png', 'image/gif' or 'image/webp'",
        ),
        (
            {"messages": [image({"type": "base64", "media_type": "image/jpeg", "data": PNG})]},
            "messages.0.content.0.image.source.base64.data: Image does not match the provided "
            "media type image/jpeg",
        ),
        (
            {"messages": [image({"type": "bogus"})]},
            "messages.0.content.0.image.source: Input tag 'bogus' found using 'type' does not "
            "match any of the expected tags: 'base64', 'url', 'file'",
        ),
        (
            {"messages": [image({"type": "url"})]},
            "messages.0.content.0.image.source.url.url: Field required",
        ),
        (
            {"tools": [{"name": "f", "input_schema": {"type": "object", "properties": {"a": []}}}]},
            NOT_2020_12,
        ),
        (
            # a tuple in Draft 7's way is not draft 2020-12
            {"tools": [{"name": "f", "input_schema": {"type": "object", "items": [TOOL]}}]},
            NOT_2020_12,
        ),
        (
            {"messages": [{"role": True, "content": "hi"}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {"messages": [image(None)]},
            "messages.0.content.0.image.source: Field required",
        ),
        (
            {"messages": answered(image({"type": "base64", "media_type": "x", "data": PNG}))},
            "messages.1.content.0.tool_result.content.0.image.source.base64.media_type: Input "
            "should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
        ),
    ],
)
def test_refusals_name_the_field(fields: dict[str, Any], message: str) -> None:
    if "tool_choice" in fields:
        fields = {"tools": [TOOL], **fields}
    assert refused(**fields) == message


def test_a_final_assistant_message_may_be_empty_and_roles_may_repeat() -> None:
    request = make_messages_request(
        messages=[
            {"role": "user", "content": "one"},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": ""},
        ]
    )
    assert [m.role for m in request.messages] == ["user", "user"] and request.turn == 2


def test_invalid_json_names_where() -> None:
    with pytest.raises(RequestError) as caught:
        dialect.parse(b'{"model": }', {}, dialect.PATH)
    assert caught.value.message == (
        "The request body is not valid JSON: expecting value: line 1 column 11 (char 10)"
    )
    with pytest.raises(RequestError) as caught:
        dialect.parse(b"[]", {}, dialect.PATH)
    assert caught.value.message == (
        "Input should be a valid dictionary or object to extract fields from"
    )


def test_count_tokens_bodies_take_no_max_tokens() -> None:
    body = {"model": "claude-x", "messages": [{"role": "user", "content": "How many tokens?"}]}
    request = dialect.parse(orjson.dumps(body), {}, dialect.COUNT_TOKENS_PATH)
    counted = dialect.count_tokens(request)
    assert counted.status == 200
    assert json.loads(counted.body) == {"input_tokens": rendered_for(request).prompt_tokens}
    with pytest.raises(RequestError, match="stream: Extra inputs are not permitted"):
        dialect.parse(orjson.dumps({**body, "stream": True}), {}, dialect.COUNT_TOKENS_PATH)


def test_a_prompt_over_the_context_window_is_refused_but_counted() -> None:
    long = {"role": "user", "content": "word " * 250_000}  # 250,000 tokens and a few
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [long]}
    with pytest.raises(RequestError) as caught:
        dialect.parse(orjson.dumps(body), {}, dialect.PATH)
    counted = dialect.count_tokens(dialect.parse(orjson.dumps(body), {}, dialect.PATH, LENIENT))
    tokens = json.loads(counted.body)["input_tokens"]
    assert tokens > 250_000
    assert (caught.value.status, caught.value.message) == (
        400,
        f"prompt is too long: {tokens} tokens > 200000 maximum",
    )
    # count_tokens answers for any length; --lenient accepts the request
    del body["max_tokens"]
    request = dialect.parse(orjson.dumps(body), {}, dialect.COUNT_TOKENS_PATH)
    assert json.loads(dialect.count_tokens(request).body) == {"input_tokens": tokens}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "model",
                        "max_tokens",
                        "messages",
                        "role",
                        "content",
                        "type",
                        "text",
                        "tools",
                        "name",
                        "input_schema",
                        "tool_choice",
                        "thinking",
                        "budget_tokens",
                        "system",
                        "tool_use_id",
                        "id",
                        "input",
                        "stop_sequences",
                        "metadata",
                        "signature",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=25,
    )
)
def test_any_body_parses_or_is_refused_with_a_400(body: Any) -> None:
    try:
        dialect.parse(json.dumps(body).encode(), {}, dialect.PATH)
    except RequestError as exc:
        assert exc.status == 400 and exc.message


# --- answers --------------------------------------------------------------------------------


def test_the_message_object_keys_and_stop_reasons() -> None:
    request = make_messages_request("count", stop_sequences=["three"])
    rendered = rendered_for(request, content="one two three four")
    data = wire.message_object(rendered, request)
    message = Message.model_validate(data)
    assert message.content[0].text == "one two "
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "three")
    assert list(data) == [
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
    cut = rendered_for(make_messages_request(max_tokens=2), content="one two three four")
    assert (
        wire.message_object(cut, make_messages_request(max_tokens=2))["stop_reason"] == "max_tokens"
    )


def test_reasoning_is_a_signed_thinking_block_first() -> None:
    request = make_messages_request()
    rendered = rendered_for(request, content="Answer.", reasoning="Because.")
    content = wire.message_object(rendered, request)["content"]
    assert [b["type"] for b in content] == ["thinking", "text"]
    assert content[0]["signature"] == wire.signature_for("Because.")
    assert wire.is_ours(content[0]["signature"]) and not wire.is_ours("EqQBCkYIBxgC")


def test_a_stream_of_thinking_text_and_a_tool_use() -> None:
    request = make_messages_request(tools=[TOOL], thinking={"type": "adaptive"})
    rendered = render(
        Reply(choices=(ChoiceSpec(tool_calls=(ToolCallSpec("get_weather", {"city": "Rome"}),)),)),
        request,
        seed=1,
    )
    body = wire.answer(rendered, replace(request, stream=True), 0, None)
    names = [name for name, _ in events(body)]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    parsed = [EVENTS.validate_python(d) for n, d in events(body) if n != "ping"]
    starts = [e.content_block.type for e in parsed if e.type == "content_block_start"]
    assert starts == ["thinking", "tool_use"]
    fragments = [
        e.delta.partial_json
        for e in parsed
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert fragments[0] == "" and json.loads("".join(fragments)) == {"city": "Rome"}
    assert parsed[-2].delta.stop_reason == "tool_use"
    assert len(body.offsets) == len(body.events)


def test_a_rule_with_text_and_a_call_answers_a_text_block_then_a_tool_use() -> None:
    spec = ChoiceSpec(
        content=compile_template("Let me check."),
        tool_calls=(ToolCallSpec("get_weather", {"city": "Rome"}, id="toolu_1"),),
    )
    request = make_messages_request(tools=[TOOL])
    rendered = render(Reply(choices=(spec,)), request, seed=1)
    message = Message.model_validate(wire.message_object(rendered, request))
    assert [b.type for b in message.content] == ["text", "tool_use"]
    text, use = message.content
    assert text.type == "text" and text.text == "Let me check."
    assert use.type == "tool_use" and (use.id, use.name, use.input) == (
        "toolu_1",
        "get_weather",
        {"city": "Rome"},
    )
    # Let, me, check, . and the call: five fragments, three name tokens, three of framing.
    assert (message.stop_reason, message.usage.output_tokens) == ("tool_use", 4 + 11)
    body = wire.answer(rendered, replace(request, stream=True), 0, None)
    shape = [
        (n, d.get("index"), d.get("content_block", d.get("delta", {})).get("type"))
        for n, d in events(body)
    ]
    assert shape == [
        ("message_start", None, None),
        ("content_block_start", 0, "text"),
        ("ping", None, None),
        *[("content_block_delta", 0, "text_delta")] * 4,
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "tool_use"),
        *[("content_block_delta", 1, "input_json_delta")] * 6,  # the first one empty
        ("content_block_stop", 1, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    parsed = [EVENTS.validate_python(d) for n, d in events(body) if n != "ping"]
    assert parsed[-2].delta.stop_reason == "tool_use"


def test_events_are_due_at_the_rendered_offsets() -> None:
    request = make_messages_request(stream=True)
    reply = Reply(choices=(ChoiceSpec(chunks=("a", "b", "c")),), latency=Latency(100, 20, 0, 1))
    rendered = render(reply, request, seed=3)
    body = wire.answer(rendered, request, 0, None)
    due = dict(zip(body.events, body.offsets, strict=True))
    deltas = [d for e, d in due.items() if b"text_delta" in e]
    assert deltas == pytest.approx([0.1, 0.12, 0.14])


def test_faults_in_the_stream() -> None:
    request = make_messages_request(stream=True)
    rendered = rendered_for(request, content="one two three four")
    error = wire.answer(rendered, request, 0, Fault(error_after_tokens=2, error=ErrorSpec(529)))
    names = [n for n, _ in events(error)]
    assert names.count("content_block_delta") == 2 and names[-1] == "error"
    cut = wire.answer(rendered, request, 0, Fault(disconnect_after_tokens=1))
    assert cut.abort_after is not None and b"text_delta" in cut.events[cut.abort_after - 1]
    at_once = wire.answer(rendered, request, 0, Fault(disconnect_after_tokens=0))
    assert at_once.abort_after == 3  # message_start, content_block_start, ping
    bad = wire.answer(rendered, request, 0, Fault(malformed_chunk_at=1))
    broken = [e for e in bad.events if b"text_delta" not in e and b"content_block_delta" in e]
    assert broken and not broken[0].endswith(b"}\n\n")


@pytest.mark.parametrize(
    ("status", "given", "expected"),
    [
        (400, None, "invalid_request_error"),
        (401, "invalid_request_error", "authentication_error"),
        (402, "insufficient_quota", "billing_error"),
        (403, None, "permission_error"),
        (404, "invalid_request_error", "not_found_error"),
        (413, None, "request_too_large"),
        (418, None, "invalid_request_error"),
        (429, "requests", "rate_limit_error"),
        (500, "server_error", "api_error"),
        (503, None, "api_error"),
        (529, None, "overloaded_error"),
        (500, "overloaded_error", "overloaded_error"),
        (400, "my_type", "my_type"),  # a scenario's own type is kept
        (503, "upstream_unavailable", "upstream_unavailable"),
    ],
)
def test_error_types_by_status(status: int, given: str | None, expected: str) -> None:
    assert wire.error_type(status, given) == expected


def test_error_bodies() -> None:
    body = json.loads(wire.failure(ErrorSpec(529), 0.0, "req_011Cx").body)
    assert body == {
        "type": "error",
        "error": {"details": None, "type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011Cx",
    }
    missing = ErrorSpec(404, code="model_not_found", message="The model `claude-x` does not exist.")
    assert json.loads(wire.failure(missing).body)["error"] == {
        "type": "not_found_error",
        "message": "model: claude-x",
    }
    refusal = RequestError(401, "Incorrect API key", from_profile=("openai", "invalid_key"))
    assert json.loads(wire.refusal(refusal, "req_1")) == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": "req_1",
    }
    gateway = RequestError(401, "Invalid API key: ak_…", from_profile=("ainative", "invalid_key"))
    assert json.loads(wire.refusal(gateway))["error"]["message"] == "Invalid API key: ak_…"


def test_rate_limit_headers_get_anthropic_names() -> None:
    headers = dict(
        wire.headers(
            200,
            (
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-remaining-requests", "59"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-limit-tokens", "1000"),
            ),
            1_700_000_000,
        )
    )
    assert headers["anthropic-ratelimit-requests-limit"] == "60"
    assert headers["anthropic-ratelimit-requests-remaining"] == "59"
    assert headers["anthropic-ratelimit-tokens-limit"] == "1000"
    assert headers["anthropic-ratelimit-requests-reset"] == "2023-11-14T22:13:21Z"
    assert "x-should-retry" not in headers
    assert dict(wire.headers(529, (), 0))["x-should-retry"] == "true"
    assert dict(wire.headers(400, (), 0))["x-should-retry"] == "false"
    assert dict(wire.headers(429, (), 0))["retry-after"] == "1"
    assert dict(wire.headers(429, (), 0))["anthropic-ratelimit-requests-remaining"] == "0"
    measured = dict(wire.headers(429, (("x-ratelimit-limit-tokens", "100"),), 0))
    assert "anthropic-ratelimit-requests-limit" not in measured


def test_reset_times_are_rfc_3339() -> None:
    assert wire.reset_time("6m0s", now=0) == "1970-01-01T00:06:00Z"
    assert wire.reset_time("1h2m3.5s", now=0) == "1970-01-01T01:02:04Z"
    assert wire.reset_time("20ms", now=10) == "1970-01-01T00:00:11Z"


def test_ids_look_like_the_apis() -> None:
    assert dialect.request_id(7, 1).startswith("req_011C") and len(dialect.request_id(7, 1)) == 28
    assert dialect.request_id(7, 1) != dialect.request_id(7, 2)
    rendered = rendered_for(make_messages_request())
    assert wire.message_id(rendered).startswith("msg_01") and len(wire.message_id(rendered)) == 28


def test_images_of_each_source_are_read() -> None:
    for source in (
        {"type": "base64", "media_type": "image/png", "data": PNG},
        {"type": "base64", "media_type": "image/webp", "data": "UklGRiQAAABXRUJQVlA4IBgAAAAw"},
        {"type": "url", "url": "https://example.com/cat.png"},
        {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"},
    ):
        request = make_messages_request(messages=[image(source)])
        assert request.messages[-1].text == "What is this?"


def test_fallbacks_are_the_apis_entries_or_a_gateways_names() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "fallbacks": ["claude-haiku-4-5"],
    }
    with pytest.raises(RequestError) as caught:
        dialect.parse(orjson.dumps(body), {}, dialect.PATH)  # OpenAI's profile: the API's form
    assert caught.value.message == "fallbacks.0: Input should be a valid dictionary"
    gateway = ParseContext(refuse_unknown=False)
    request = dialect.parse(orjson.dumps(body), {}, dialect.PATH, gateway)
    assert request.fallbacks == ("claude-haiku-4-5",)
    # The API's entries (SDK `BetaFallbackParam`) are taken, and tried only when the model
    # declines: not the gateway's retry on a failed call.
    for fallbacks in ([{"model": "claude-opus-4-6", "max_tokens": 5}], "default"):
        request = dialect.parse(orjson.dumps({**body, "fallbacks": fallbacks}), {}, dialect.PATH)
        assert request.fallbacks == ()
