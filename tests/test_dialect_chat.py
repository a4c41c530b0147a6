"""The chat completions dialect without HTTP: the Conversation `parse` builds, the 400s it
raises, and the exact bytes its encoders write for a rendered answer."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from mockllm.conversation import Message, ResponseFormat, Tool, ToolCall
from mockllm.dialects import ParseContext, chat
from mockllm.errors import RequestError
from mockllm.protocol import PARSE_ERROR
from mockllm.rules import ErrorSpec, Fault
from mockllm.wire import JSON_TYPE, SSE_TYPE
from tests.factories import (
    make_chat_request,
    make_choice,
    make_rendered,
    make_tool_call,
)

CREATED = 1700000000
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
HI = [{"role": "user", "content": "hi"}]
IMAGE_URL_7 = {"type": "image_url", "image_url": {"url": 7}}
IMAGE_ULTRA = {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "ultra"}}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
NO_ID = {k: v for k, v in CALL.items() if k != "id"}
NO_TYPE = {k: v for k, v in CALL.items() if k != "type"}
STRICT_YES = {
    "type": "json_schema",
    "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": "yes"},
}


def refused(body: object, context: ParseContext | None = None) -> RequestError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(RequestError) as info:
        chat.parse(raw, {}, chat.PATH, context or ParseContext())
    assert info.value.status == 400
    return info.value


# --- parse ----------------------------------------------------------------------------------


def test_messages_are_read_with_their_text_tool_calls_and_results():
    request = make_chat_request(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Use metric units."},
            {
                "role": "user",
                "name": "ana",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                    {"type": "text", "text": "here"},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        ]
    )
    assert request.messages == (
        Message("system", "Be brief."),
        Message("developer", "Use metric units."),
        Message("user", "Look\nhere", name="ana"),
        Message("assistant", "", tool_calls=(ToolCall("c1", "get_weather", '{"city":"Paris"}'),)),
        Message("tool", "18C", tool_call_id="c1"),
    )
    assert (request.last_user, request.system, request.turn) == (
        "Look\nhere",
        "Be brief.\nUse metric units.",
        1,
    )
    assert request.last_tool_calls[0].parsed_arguments == {"city": "Paris"}
    assert (request.api, request.path) == ("chat", "/v1/chat/completions")


def _calls(*ids: str) -> dict[str, Any]:
    """An assistant message calling get_weather once per id."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            for i in ids
        ],
    }


def _reply(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "18C"}


UNANSWERED = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to "
    "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
)
NOT_A_REPLY = (
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
    "with 'tool_calls'."
)


@pytest.mark.parametrize(
    "messages, param, message",
    [
        ([*HI, _calls("c1", "c2"), _reply("c1"), *HI], "messages.[3].role", UNANSWERED + "c2"),
        ([*HI, _calls("c1", "c2"), *HI], "messages.[2].role", UNANSWERED + "c1, c2"),
        ([*HI, _reply("c1")], "messages.[1].role", NOT_A_REPLY),
        ([*HI, _calls("c1"), _reply("c9")], "messages.[2].role", NOT_A_REPLY),
        # a tool message answers the assistant message just before its run, not an older one
        ([*HI, _calls("c1"), _reply("c1"), *HI, _reply("c1")], "messages.[4].role", NOT_A_REPLY),
    ],
)
def test_tool_calls_and_tool_messages_must_pair_up(messages, param, message):
    error = refused({"model": "gpt-4o-mini", "messages": messages})
    assert (error.param, error.message, error.code) == (param, message, None)
    # --lenient accepts the conversation as it is
    lenient = ParseContext(lenient=True)
    chat.parse(orjson.dumps({"model": "m", "messages": messages}), {}, chat.PATH, lenient)


def test_a_custom_tool_call_in_the_history_is_read_with_its_input():
    custom = {"id": "c1", "type": "custom", "custom": {"name": "run_sql", "input": "SELECT 1"}}
    request = make_chat_request(
        messages=[
            *HI,
            {"role": "assistant", "tool_calls": [custom]},
            {"role": "tool", "tool_call_id": "c1", "content": "1"},
        ]
    )
    assert request.messages[1].tool_calls == (ToolCall("c1", "run_sql", "SELECT 1"),)


def test_answered_calls_in_any_order_and_calls_at_the_end_pass():
    for messages in (
        [*HI, _calls("c1", "c2"), _reply("c2"), _reply("c1"), *HI],
        [*HI, _calls("c1"), _reply("c1"), _calls("c2"), _reply("c2")],
        [*HI, _calls("c1")],  # the conversation ends with the calls
    ):
        request = make_chat_request(messages=messages)
        assert request.messages[1].tool_calls


def test_tools_and_the_tool_choice():
    custom = {"type": "custom", "custom": {"name": "run_sql"}}
    bare = {"type": "function", "function": {"name": "ping"}}
    request = make_chat_request(tools=[WEATHER, custom, bare], tool_choice="required")
    assert request.tools == (
        Tool("get_weather", "Weather in a city", WEATHER["function"]["parameters"]),
        Tool("ping", "", {"type": "object", "properties": {}}),  # custom tools are not called
    )
    assert (request.tool_choice, request.allowed_tools) == ("required", ())
    named = make_chat_request(
        tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}}
    )
    assert named.tool_choice == "get_weather"
    allowed = make_chat_request(
        tools=[WEATHER, bare, custom],
        tool_choice={
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "required",
                "tools": [
                    {"type": "function", "function": {"name": "ping"}},
                    {"type": "custom", "custom": {"name": "run_sql"}},
                    {"type": "function", "function": {"name": "ping"}},
                ],
            },
        },
    )
    assert (allowed.tool_choice, allowed.allowed_tools) == ("required", ("ping", "run_sql"))


def test_response_format_stop_and_limits():
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    request = make_chat_request(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": True},
        },
        stop=["\n", "", "END"],
        max_tokens=50,
        max_completion_tokens=20,
        n=3,
        seed=11,
        logprobs=True,
        top_logprobs=2,
        tools=[{"type": "function", "function": {"name": "ping"}}],
        parallel_tool_calls=False,
        fallbacks=["gpt-4o-mini"],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert request.response_format == ResponseFormat("json_schema", "answer", schema, True)
    assert request.stop == ("\n", "END")
    assert (request.max_tokens, request.max_tokens_given) == (20, True)  # the newer name wins
    assert (request.n, request.seed, request.logprobs, request.top_logprobs) == (3, 11, True, 2)
    assert (request.parallel_tool_calls, request.fallbacks) == (False, ("gpt-4o-mini",))
    assert (request.stream, request.include_usage) == (True, True)
    assert make_chat_request(stop="\n").stop == ("\n",)
    json_object = make_chat_request(user="JSON please", response_format={"type": "json_object"})
    assert json_object.response_format == ResponseFormat("json_object")


def test_without_max_tokens_the_server_cap_applies():
    raw = orjson.dumps({"model": "gpt-4o", "messages": HI})
    request = chat.parse(raw, {}, chat.PATH, ParseContext(max_output=100))
    assert (request.max_tokens, request.max_tokens_given) == (100, False)


def test_the_key_and_the_provider_come_from_headers_or_the_model():
    request = make_chat_request(
        model="deepseek/deepseek-chat", headers={"authorization": "Bearer sk-1"}
    )
    assert (request.api_key, request.provider) == ("sk-1", "deepseek")
    header = make_chat_request(headers={"x-ai-provider": "azure"})
    assert header.provider == "azure"


def test_the_seed_source_ignores_stream_and_key_order():
    a = chat.parse(b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}', {}, "/")
    b = chat.parse(
        b'{"stream":true,"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o"}', {}, "/"
    )
    assert a.canonical == b.canonical


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (b"{nope", None, PARSE_ERROR),
        ({"messages": HI}, "model", "you must provide a model parameter"),
        (
            {"model": "m", "messages": []},
            "messages",
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
        ),
        (
            {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', "
            "'function', 'tool', and 'developer'.",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "18C"}]},
            "messages[0].tool_call_id",
            "Missing required parameter: 'messages[0].tool_call_id'.",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
            "Invalid value: 'video'. Supported values are: 'text', 'image_url', "
            "'input_audio', 'refusal', and 'file'.",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": []}]},
            "messages[0].content",
            "Invalid 'messages[0].content': empty array. Expected an array with minimum "
            "length 1, but got an empty array instead.",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].image_url",
            "Missing required parameter: 'messages[0].content[0].image_url'.",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [IMAGE_URL_7]}]},
            "messages[0].content[0].image_url.url",
            "Invalid type for 'messages[0].content[0].image_url.url': expected a string, but "
            "got an integer instead.",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [IMAGE_ULTRA]}]},
            "messages[0].content[0].image_url.detail",
            "Invalid value: 'ultra'. Supported values are: 'auto', 'low', and 'high'.",
        ),
        (
            {"model": "m", "messages": [*HI, {"role": "assistant", "tool_calls": []}]},
            "messages[1].tool_calls",
            "Invalid 'messages[1].tool_calls': empty array. Expected an array with minimum "
            "length 1, but got an empty array instead.",
        ),
        (
            {"model": "m", "messages": [*HI, {"role": "assistant", "tool_calls": [NO_ID]}]},
            "messages[1].tool_calls[0].id",
            "Missing required parameter: 'messages[1].tool_calls[0].id'.",
        ),
        (
            {"model": "m", "messages": [*HI, {"role": "assistant", "tool_calls": [NO_TYPE]}]},
            "messages[1].tool_calls[0].type",
            "Missing required parameter: 'messages[1].tool_calls[0].type'.",
        ),
        (
            {"model": "m", "messages": HI, "tools": [{"function": {"name": "f"}}]},
            "tools[0].type",
            "Missing required parameter: 'tools[0].type'.",
        ),
        (
            {"model": "m", "messages": HI, "store": "yes"},
            "store",
            "Invalid type for 'store': expected a boolean, but got a string instead.",
        ),
        (
            {"model": "m", "messages": HI, "verbosity": "loud"},
            "verbosity",
            "Invalid value: 'loud'. Supported values are: 'low', 'medium', and 'high'.",
        ),
        (
            {"model": "m", "messages": HI, "prediction": "draft"},
            "prediction",
            "Invalid type for 'prediction': expected an object, but got a string instead.",
        ),
        (
            {"model": "m", "messages": HI, "response_format": STRICT_YES},
            "response_format.json_schema.strict",
            "Invalid type for 'response_format.json_schema.strict': expected a boolean, but "
            "got a string instead.",
        ),
        (
            {"model": "m", "messages": HI, "temperature": "hot"},
            "temperature",
            "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        ),
        (
            {"model": "m", "messages": HI, "stream_options": {"include_usage": True}},
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ),
        (
            {"model": "m", "messages": HI, "tool_choice": "auto"},
            "tool_choice",
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
        ),
        (
            {
                "model": "m",
                "messages": HI,
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
            },
            "tool_choice",
            "Invalid value for 'tool_choice': function 'nope' is not among the provided 'tools'.",
        ),
        (
            {
                "model": "m",
                "messages": HI,
                "tools": [{"type": "function", "function": {"name": "get weather"}}],
            },
            "tools[0].function.name",
            "Invalid 'tools[0].function.name': string does not match pattern. Expected a "
            "string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
        ),
        (
            {"model": "m", "messages": HI, "response_format": {"type": "json_object"}},
            "messages",
            "'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'.",
        ),
        (
            {"model": "m", "messages": HI, "stop": ["a", "b", "c", "d", "e"]},
            "stop",
            "Invalid 'stop': array too long. Expected an array with maximum length 4, but got "
            "an array with length 5 instead.",
        ),
        (
            {"model": "m", "messages": HI, "top_logprobs": 2},
            "top_logprobs",
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is used.",
        ),
        (
            {"model": "m", "messages": HI, "logit_bias": {"AI": 5}},
            "logit_bias",
            "Invalid key in 'logit_bias': AI. You should only be submitting non-negative integers.",
        ),
        (
            {"model": "m", "messages": HI, "logit_bias": {"1234": 101}},
            "logit_bias",
            "Invalid value for 'logit_bias': 101. The bias must be between -100 and 100.",
        ),
        (
            {"model": "m", "messages": HI, "modalities": ["video"]},
            "modalities[0]",
            "Invalid value: 'video'. Supported values are: 'text' and 'audio'.",
        ),
        (
            {"model": "m", "messages": HI, "fallbacks": ["gpt-4o", 3]},
            "fallbacks[1]",
            "Invalid type for 'fallbacks[1]': expected a string, but got an integer instead.",
        ),
        (
            {"model": "m", "messages": HI, "tools": [{"type": "custom", "custom": ["x"]}]},
            "tools[0].custom",
            "Invalid type for 'tools[0].custom': expected an object, but got an array instead.",
        ),
        (
            {"model": "m", "messages": HI, "tools": [{"type": "custom", "custom": {}}]},
            "tools[0].custom.name",
            "Missing required parameter: 'tools[0].custom.name'.",
        ),
    ],
)
def test_bad_requests_are_refused_in_the_api_wording(body, param, message):
    # `fallbacks` is a gateway's extra: read as a profile that passes it on reads it.
    gateway = isinstance(body, dict) and "fallbacks" in body
    error = refused(body, ParseContext(refuse_unknown=False) if gateway else None)
    assert (error.param, error.message) == (param, message)


def test_limits_of_the_server_are_refused():
    over_n = refused({"model": "m", "messages": HI, "n": 5}, ParseContext(max_n=4))
    assert (over_n.param, over_n.code, over_n.message) == (
        "n",
        "integer_above_max_value",
        "Invalid 'n': integer above maximum value. Expected a value <= 4, but got 5 instead.",
    )
    cap = ParseContext(max_output=100)
    for name in ("max_tokens", "max_completion_tokens"):
        error = refused({"model": "m", "messages": HI, name: 200}, cap)
        assert (error.param, error.code, error.message) == (
            name,
            None,  # as quoted in github.com/ChatGPTNextWeb/NextChat/issues/3195
            f"{name} is too large: 200. This model supports at most 100 completion tokens, "
            "whereas you provided 200.",
        )


# --- answers --------------------------------------------------------------------------------

PREFIX = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"gpt-4o","service_tier":"default","system_fingerprint":"fp_test","choices":['
)
ROLE = b'{"role":"assistant","content":"","refusal":null}'
USAGE_5_2 = (
    b'{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,'
    b'"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
    b'"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
    b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'
)
DONE = b"data: [DONE]\n\n"


def chunk(delta: bytes, finish: bytes = b"null", *, index: int = 0, usage: bool = False) -> bytes:
    """One chat.completion.chunk event as the API frames it (`usage: null` when the stream
    sends usage at its end)."""
    choice = b'{"index":%d,"delta":%s,"logprobs":null,"finish_reason":%s}' % (
        index,
        delta,
        finish,
    )
    return PREFIX + choice + (b'],"usage":null}\n\n' if usage else b"]}\n\n")


def streamed(rendered: Any, fault: Fault | None = None, *, padded: bool = False, **fields: Any):
    """The stream of `rendered`; without its `obfuscation` padding unless `padded` (the
    padding's own tests are below)."""
    options = fields.pop("stream_options", {})
    if not padded:
        options = {"include_obfuscation": False, **options}
    request = make_chat_request(stream=True, stream_options=options or None, **fields)
    return chat.answer(rendered, request, CREATED, fault)


def test_a_stream_is_role_deltas_finish_usage_and_done():
    body = streamed(make_rendered(offsets=(0.1, 0.2)), stream_options={"include_usage": True})
    assert (body.status, body.content_type, body.body) == (200, SSE_TYPE, b"")
    assert body.events == (
        chunk(ROLE, usage=True),
        chunk(b'{"content":"Hi"}', usage=True),
        chunk(b'{"content":" there"}', usage=True),
        chunk(b"{}", b'"stop"', usage=True),
        PREFIX + b'],"usage":' + USAGE_5_2 + b"}\n\n",
        DONE,
    )
    # The role goes with the first delta; the end goes with the last.
    assert body.offsets == (0.1, 0.1, 0.2, 0.2, 0.2, 0.2)
    assert body.abort_after is None


def test_without_include_usage_chunks_have_no_usage_key():
    body = streamed(make_rendered(offsets=(0.1, 0.2)))
    assert body.events == (
        chunk(ROLE),
        chunk(b'{"content":"Hi"}'),
        chunk(b'{"content":" there"}'),
        chunk(b"{}", b'"stop"'),
        DONE,
    )


def test_a_provider_is_named_in_every_chunk():
    body = streamed(make_rendered(provider="openai"))
    assert all(
        e.startswith(PREFIX[: -len(b'"choices":[')] + b'"provider":"openai","choices":[')
        for e in body.events[:-1]
    )


def test_tool_calls_stream_their_argument_fragments():
    """As the API streams calls: the role delta opens the first call (id, type, name and
    empty arguments), each fragment follows with the call's index only; a later call opens
    with a delta of its own, written with its first fragment (one tick)."""
    first = make_tool_call("get_weather", '{"city":"Paris"}', ('{"city":', '"Paris"}'), id="call_1")
    second = make_tool_call("get_time", '{"tz":"CET"}', ('{"tz":"CET"}',), id="call_2", index=1)
    rendered = make_rendered(
        make_choice(tool_calls=(first, second), finish_reason="tool_calls"),
        offsets=(0.1, 0.2, 0.3),
    )
    body = streamed(rendered)
    assert body.events == (
        chunk(
            b'{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1",'
            b'"type":"function","function":{"name":"get_weather","arguments":""}}],'
            b'"refusal":null}'
        ),
        chunk(b'{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":"}}]}'),
        chunk(b'{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]}'),
        chunk(
            b'{"tool_calls":[{"index":1,"id":"call_2","type":"function",'
            b'"function":{"name":"get_time","arguments":""}}]}'
        )
        + chunk(b'{"tool_calls":[{"index":1,"function":{"arguments":"{\\"tz\\":\\"CET\\"}"}}]}'),
        chunk(b"{}", b'"tool_calls"'),
        DONE,
    )
    assert body.offsets == (0.1, 0.1, 0.2, 0.3, 0.3, 0.3)


def test_a_call_after_text_opens_with_its_own_delta():
    call = make_tool_call("get_weather", '{"city":"Paris"}', ('{"city":"Paris"}',), id="call_1")
    rendered = make_rendered(
        make_choice("Checking.", tool_calls=(call,), finish_reason="tool_calls")
    )
    body = streamed(rendered)
    assert body.events[0] == chunk(b'{"role":"assistant","content":"","refusal":null}')
    assert body.events[1] == chunk(b'{"content":"Checking."}')
    assert body.events[2].startswith(
        chunk(
            b'{"tool_calls":[{"index":0,"id":"call_1","type":"function",'
            b'"function":{"name":"get_weather","arguments":""}}]}'
        )
    )


def test_a_refusal_streams_refusal_deltas():
    body = streamed(make_rendered(make_choice("I can't", " help.", refusal=True)))
    assert body.events[:3] == (
        chunk(b'{"role":"assistant","content":null,"refusal":""}'),
        chunk(b'{"refusal":"I can\'t"}'),
        chunk(b'{"refusal":" help."}'),
    )


def test_reasoning_deltas_come_before_the_content():
    rendered = make_rendered(make_choice("Done.", reasoning=("Think", " first.")))
    body = streamed(rendered)
    assert body.events[1:4] == (
        chunk(b'{"content":null,"reasoning_content":"Think"}'),
        chunk(b'{"content":null,"reasoning_content":" first."}'),
        chunk(b'{"content":"Done."}'),
    )


def test_n_choices_interleave_tick_by_tick():
    rendered = make_rendered(make_choice("A", "a"), make_choice("B", index=1), offsets=(0.1, 0.2))
    body = streamed(rendered, n=2)
    assert body.events == (
        chunk(ROLE),
        chunk(ROLE, index=1),
        chunk(b'{"content":"A"}'),
        chunk(b'{"content":"B"}', index=1),
        chunk(b'{"content":"a"}'),
        chunk(b"{}", b'"stop"'),
        chunk(b"{}", b'"stop"', index=1),
        DONE,
    )
    assert body.offsets == (0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2)


def test_logprobs_ride_on_their_delta():
    entry = {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}
    rendered = make_rendered(make_choice("Hi", logprobs=((entry,),)))
    body = streamed(rendered)
    assert body.events[1] == PREFIX + (
        b'{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi",'
        b'"logprob":-0.5,"bytes":[72,105],"top_logprobs":[]}],"refusal":null},'
        b'"finish_reason":null}]}\n\n'
    )


def test_the_role_delta_carries_empty_logprobs_when_they_are_asked_for():
    entry = {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}
    body = streamed(make_rendered(make_choice("Hi", logprobs=((entry,),))))
    assert body.events[0] == PREFIX + (
        b'{"index":0,"delta":' + ROLE + b',"logprobs":{"content":[],"refusal":null},'
        b'"finish_reason":null}]}\n\n'
    )


PADDING = re.compile(rb',"obfuscation":"([A-Za-z0-9]*)"\}\n\n$')


def _padded_and_plain(rendered: Any, **fields: Any) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    padded = streamed(rendered, padded=True, **fields).events
    options = {**fields.pop("stream_options", {}), "include_obfuscation": False}
    plain = streamed(rendered, padded=True, stream_options=options, **fields).events
    return padded, plain


@pytest.mark.parametrize("usage", [False, True])
def test_every_chunk_ends_with_its_padding_and_is_otherwise_the_plain_chunk(usage):
    """The API's default: each chunk's last key is `obfuscation` (after `usage: null` when
    usage is asked for, in the usage chunk too); a text delta's padding brings the text to a
    multiple of 16 characters, other chunks get 1 to 15; `include_obfuscation: false`
    leaves the same chunks without it."""
    call = make_tool_call("get_weather", '{"city":"Paris"}', ('{"city":', '"Paris"}'))
    rendered = make_rendered(
        make_choice("Hi", " there, how are you?"),
        make_choice(tool_calls=(call,), finish_reason="tool_calls", index=1),
        offsets=(0.1, 0.2),
    )
    options = {"include_usage": True} if usage else {}
    padded, plain = _padded_and_plain(rendered, n=2, stream_options=options)
    assert padded[-1] == plain[-1] == DONE
    assert len(padded) == len(plain)
    texts = {"Hi": 2, " there, how are you?": 20, '{"city":': 8, '"Paris"}': 8}
    seen = set()
    for with_pad, without in zip(padded[:-1], plain[:-1], strict=True):
        found = PADDING.search(with_pad)
        assert found, with_pad
        assert with_pad[: found.start()] + b"}\n\n" == without
        if usage:
            assert with_pad[: found.start()].endswith((b'],"usage":null', b"}}"))
        data = orjson.loads(without[len(b"data: ") :])
        choice = data["choices"][0] if data["choices"] else {"delta": {}, "finish_reason": 1}
        delta, calls = choice["delta"], choice["delta"].get("tool_calls") or [{}]
        text = None
        if "role" not in delta and choice["finish_reason"] is None:
            if "content" in delta:
                text = delta["content"]
            elif "id" not in calls[0]:
                text = calls[0]["function"]["arguments"]
        pad = len(found.group(1))
        if text is not None:
            assert (texts[text] + pad) % 16 == 0, (text, pad)
            seen.add(text)
        else:
            assert 1 <= pad <= 15, with_pad
    assert seen == set(texts)


def test_the_padding_is_the_same_for_the_same_answer_and_differs_between_answers():
    first = streamed(make_rendered(id="chatcmpl-1"), padded=True).events
    again = streamed(make_rendered(id="chatcmpl-1"), padded=True).events
    other = streamed(make_rendered(id="chatcmpl-2"), padded=True).events
    assert first == again
    pads = [PADDING.search(e).group(1) for e in first[:-1]]  # type: ignore[union-attr]
    assert pads != [PADDING.search(e).group(1) for e in other[:-1]]  # type: ignore[union-attr]


@pytest.mark.parametrize(("after", "abort_after"), [(0, 1), (1, 2), (2, 3)])
def test_a_disconnect_is_placed_after_that_many_deltas(after, abort_after):
    body = streamed(make_rendered(), Fault(disconnect_after_tokens=after))
    assert body.abort_after == abort_after
    assert len(body.events) == 5  # every event is built; the writer cuts the connection


def test_a_disconnect_counts_deltas_of_every_choice():
    rendered = make_rendered(make_choice("A", "a"), make_choice("B", "b", index=1))
    body = streamed(rendered, Fault(disconnect_after_tokens=1), n=2)
    assert body.abort_after == 4  # two role deltas and the first delta of each choice


def test_a_malformed_chunk_is_cut_in_half():
    body = streamed(make_rendered(), Fault(malformed_chunk_at=2))
    intact = chunk(b'{"content":" there"}')
    payload = intact[len(b"data: ") : -2]
    assert body.events[2] == b"data: " + payload[: len(payload) // 2] + b"\n\n"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body.events[2][len(b"data: ") :])
    assert body.events[1] == chunk(b'{"content":"Hi"}')  # the others are intact
    assert body.events[-1] == DONE


def test_an_in_band_error_ends_the_stream_after_that_many_deltas():
    fault = Fault(error_after_tokens=1, error=ErrorSpec(503))
    body = streamed(make_rendered(offsets=(0.1, 0.2)), fault)
    assert body.events == (
        chunk(ROLE),
        chunk(b'{"content":"Hi"}'),
        b'data: {"error":{"message":"The server is overloaded or not ready yet.",'
        b'"type":"server_error","param":null,"code":"service_unavailable"}}\n\n',
    )
    assert body.offsets == (0.1, 0.1, 0.1)


def test_an_empty_choices_error_is_a_chunk_with_an_error():
    body = streamed(make_rendered(), Fault(empty_choices_error=True))
    assert body.events == (
        chunk(ROLE),
        PREFIX + b'],"error":{"message":"The server had an error while processing your '
        b'request. Sorry about that!","type":"server_error","param":null,"code":null}}\n\n',
    )


COMPLETION = (
    b'{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"Hi there",'
    b'"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],'
    b'"usage":' + USAGE_5_2 + b',"service_tier":"default","system_fingerprint":"fp_test"}'
)


def test_a_whole_answer_is_due_when_its_stream_would_have_ended():
    body = chat.answer(make_rendered(offsets=(0.1, 0.2)), make_chat_request(), CREATED, None)
    assert (body.status, body.content_type, body.body) == (200, JSON_TYPE, COMPLETION)
    assert (body.events, body.offsets, body.abort_after) == ((), (0.2,), None)


def test_a_whole_answer_with_tool_calls_has_no_content():
    call = make_tool_call(id="call_1")
    rendered = make_rendered(make_choice(tool_calls=(call,), finish_reason="tool_calls"))
    message = orjson.loads(chat.whole(rendered, CREATED).body)["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": [],
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }


def test_a_whole_answer_says_its_text_with_its_tool_calls():
    call = make_tool_call(id="call_1")
    rendered = make_rendered(
        make_choice("Checking.", tool_calls=(call,), finish_reason="tool_calls")
    )
    (choice,) = orjson.loads(chat.whole(rendered, CREATED).body)["choices"]
    assert choice["message"]["content"] == "Checking."
    assert [c["id"] for c in choice["message"]["tool_calls"]] == ["call_1"]
    assert choice["finish_reason"] == "tool_calls"


def test_a_functions_request_gets_the_text_then_the_function_call():
    call = make_tool_call(fragments=('{"city":', '"Paris"}'), id="call_1")
    rendered = make_rendered(
        make_choice("Checking.", tool_calls=(call,), finish_reason="tool_calls")
    )
    functions = [{"name": "get_weather", "parameters": {"type": "object"}}]
    whole = chat.answer(rendered, make_chat_request(functions=functions), CREATED, None)
    (choice,) = orjson.loads(whole.body)["choices"]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("Checking.", "function_call")
    assert choice["message"]["function_call"] == {
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    body = streamed(rendered, functions=functions)
    assert body.events == (
        chunk(b'{"role":"assistant","content":"","refusal":null}'),
        chunk(b'{"content":"Checking."}'),
        chunk(b'{"function_call":{"name":"get_weather","arguments":""}}')
        + chunk(b'{"function_call":{"arguments":"{\\"city\\":"}}'),
        chunk(b'{"function_call":{"arguments":"\\"Paris\\"}"}}'),
        chunk(b"{}", b'"function_call"'),
        DONE,
    )


def test_faults_of_a_whole_answer():
    rendered = make_rendered(offsets=(0.1, 0.2))
    half = len(COMPLETION) // 2
    malformed = chat.whole(rendered, CREATED, Fault(malformed_chunk_at=1))
    assert malformed.body == COMPLETION[:half]
    cut = chat.whole(rendered, CREATED, Fault(disconnect_after_tokens=3))
    assert (cut.body, cut.abort_after) == (COMPLETION, half)
    failed = chat.whole(rendered, CREATED, Fault(error_after_tokens=1))
    assert (failed.status, failed.offsets) == (500, (0.2,))
    assert orjson.loads(failed.body)["error"]["type"] == "server_error"
    empty = orjson.loads(chat.whole(rendered, CREATED, Fault(empty_choices_error=True)).body)
    assert (empty["choices"], empty["error"]["code"]) == ([], None)


def test_an_error_reply_in_openai_shape_after_its_delay():
    body = chat.failure(ErrorSpec(429, headers=(("Retry-After", "3"),)), 0.5)
    assert (body.status, body.content_type, body.offsets) == (429, JSON_TYPE, (0.5,))
    assert body.body == (
        b'{"error":{"message":"Rate limit reached for requests. Please try again in 3s.",'
        b'"type":"requests","param":null,"code":"rate_limit_exceeded"}}'
    )
    scripted = chat.failure(ErrorSpec(400, message="No.", param="messages", code="bad"))
    assert scripted.body == (
        b'{"error":{"message":"No.","type":"invalid_request_error","param":"messages",'
        b'"code":"bad"}}'
    )


def test_a_refusal_body():
    error = RequestError(400, "Bad value.", param="n", code="invalid_value")
    assert chat.refusal(error) == (
        b'{"error":{"message":"Bad value.","type":"invalid_request_error","param":"n",'
        b'"code":"invalid_value"}}'
    )


def test_headers_add_an_errors_defaults():
    rate = (("x-ratelimit-remaining-requests", "59"),)
    assert chat.headers(200, rate) == rate
    assert chat.headers(503, rate) == (*rate, ("retry-after", "1"))
    assert chat.headers(429, ()) == (
        ("retry-after", "1"),
        ("x-ratelimit-limit-requests", "60"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "1s"),
    )


# --- GPT-5 family parameters and efforts ------------------------------------------------------


def _hi(model: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}


@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        (
            _hi("gpt-5", stop=["Observation:"]),
            "Unsupported parameter: 'stop' is not supported with this model.",
            "stop",
            "unsupported_parameter",
        ),
        (
            _hi("gpt-5-mini", reasoning_effort="none"),
            "Unsupported value: 'reasoning_effort' does not support 'none' with this model. "
            "Supported values are: 'minimal', 'low', 'medium', and 'high'.",
            "reasoning_effort",
            "unsupported_value",
        ),
        (
            _hi("o3", reasoning_effort="minimal"),
            "Unsupported value: 'reasoning_effort' does not support 'minimal' with this model. "
            "Supported values are: 'low', 'medium', and 'high'.",
            "reasoning_effort",
            "unsupported_value",
        ),
        (
            _hi("gpt-5.1", reasoning_effort="xhigh"),
            "Unsupported value: 'reasoning_effort' does not support 'xhigh' with this model. "
            "Supported values are: 'none', 'low', 'medium', and 'high'.",
            "reasoning_effort",
            "unsupported_value",
        ),
        (
            _hi("gpt-5.4", temperature=0.2, reasoning_effort="low"),
            "Unsupported value: 'temperature' does not support 0.2 with this model. "
            "Only the default (1) value is supported.",
            "temperature",
            "unsupported_value",
        ),
        (
            _hi("gpt-5.6-terra", frequency_penalty=0.5),
            "Unsupported parameter: 'frequency_penalty' is not supported with this model.",
            "frequency_penalty",
            "unsupported_parameter",
        ),
    ],
)
def test_the_gpt5_family_refuses_what_the_api_refuses(body, message, param, code):
    error = refused(body)
    assert (error.message, error.param, error.code) == (message, param, code)


@pytest.mark.parametrize(
    "body",
    [
        _hi("gpt-5.4", temperature=0.2),  # effort none by default: sampling is taken
        _hi("gpt-5.1", reasoning_effort="none", top_p=0.5, frequency_penalty=0.1),
        _hi("gpt-5.6-terra", reasoning_effort="none", frequency_penalty=0.5),
        _hi("gpt-5", reasoning_effort="minimal"),
        _hi("gpt-4o", stop=["x"]),
    ],
)
def test_the_gpt5_family_takes_sampling_when_its_effort_is_none(body):
    chat.parse(orjson.dumps(body), {}, chat.PATH, ParseContext())


def test_the_effort_a_request_names_none_of_is_the_models_default():
    def effort(model: str) -> str | None:
        return chat.parse(orjson.dumps(_hi(model)), {}, chat.PATH, ParseContext()).reasoning_effort

    assert (effort("gpt-5"), effort("gpt-5.1"), effort("gpt-5.4"), effort("o3")) == (
        "medium",
        "none",
        "none",
        "medium",
    )
    assert effort("gpt-4o") is None


def test_lenient_takes_an_effort_the_model_does_not():
    body = orjson.dumps(_hi("gpt-5-mini", reasoning_effort="none", stop=["x"]))
    assert chat.parse(body, {}, chat.PATH, ParseContext(lenient=True)).reasoning_effort == "none"


@pytest.mark.parametrize(
    ("fields", "message", "param", "code"),
    [
        (
            {"metadata": {f"k{i}": "v" for i in range(17)}},
            "Invalid 'metadata': too many properties. Expected an object with at most 16 "
            "properties, but got an object with 17 properties instead.",
            "metadata",
            "object_above_max_properties",
        ),
        (
            {"metadata": {"k" * 70: "v"}},
            f"Invalid property name in 'metadata': '{'k' * 70}' is too long. Expected a string "
            "with maximum length 64, but got a string with length 70 instead.",
            f"metadata.{'k' * 70}",
            "property_name_above_max_length",
        ),
        (
            {"metadata": {"k": "x" * 600}},
            "Invalid 'metadata.k': string too long. Expected a string with maximum length 512, "
            "but got a string with length 600 instead.",
            "metadata.k",
            "string_above_max_length",
        ),
        (
            {"metadata": {"k": 7}},
            "Invalid type for 'metadata.k': expected a string, but got an integer instead.",
            "metadata.k",
            "invalid_type",
        ),
        (
            {"service_tier": "bogus"},
            "Invalid value: 'bogus'. Supported values are: 'auto', 'default', 'fast', 'flex', "
            "and 'priority'.",
            "service_tier",
            "invalid_value",
        ),
        (
            {"parallel_tool_calls": False},
            "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
            "when 'tools' are specified.",
            "parallel_tool_calls",
            None,
        ),
        (
            {"tools": []},
            "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.",
            "tools",
            "empty_array",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": f"t{i}"}} for i in range(129)]},
            "Invalid 'tools': array too long. Expected an array with maximum length 128, but "
            "got an array with length 129 instead.",
            "tools",
            "array_above_max_length",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f" * 65}}]},
            "Invalid 'tools[0].function.name': string too long. Expected a string with maximum "
            "length 64, but got a string with length 65 instead.",
            "tools[0].function.name",
            "string_above_max_length",
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "bad name!", "schema": {"type": "object"}},
                }
            },
            "Invalid 'response_format.json_schema.name': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "response_format.json_schema.name",
            "invalid_value",
        ),
        (
            {"messages": [{"role": "user", "content": "hi", "name": "bob smith!"}]},
            "Invalid 'messages[0].name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "messages[0].name",
            "invalid_value",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "look"},
                    {
                        "role": "system",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}
                        ],
                    },
                ]
            },
            "Invalid 'messages[1]'. Image URLs are only allowed for messages with role 'user', "
            "but this message with role 'system' contains an image URL.",
            "messages[1]",
            "invalid_value",
        ),
    ],
)
def test_chat_refuses_what_the_api_bounds(fields, message, param, code):
    error = refused({**_hi("gpt-4o-mini"), **fields})
    assert (error.message, error.param, error.code) == (message, param, code)


def test_chat_takes_what_those_bounds_allow():
    tools = [{"type": "function", "function": {"name": f"t{i}"}} for i in range(128)]
    body = _hi(
        "gpt-4o-mini",
        metadata={f"k{i}": "v" * 512 for i in range(16)},
        service_tier="flex",
        tools=tools,
        parallel_tool_calls=False,
        messages=[{"role": "user", "content": "hi", "name": "bob_smith-2"}],
    )
    assert len(chat.parse(orjson.dumps(body), {}, chat.PATH, ParseContext()).tools) == 128


def test_a_model_only_legacy_completions_serves_is_refused_unless_lenient() -> None:
    body = orjson.dumps({"model": "davinci-002", "messages": [{"role": "user", "content": "Hi"}]})
    with pytest.raises(RequestError) as info:
        chat.parse(body, {}, chat.PATH, ParseContext())
    assert (info.value.status, info.value.param) == (404, "model")
    assert info.value.message.startswith("This is not a chat model")
    lenient = chat.parse(body, {}, chat.PATH, ParseContext(lenient=True))
    assert lenient.model == "davinci-002"
