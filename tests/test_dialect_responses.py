"""The Responses API dialect without HTTP: the Conversation `parse` builds (earlier turns
from a `state.MemoryStore`), its 400s, the response object and its typed event stream."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from mockllm.conversation import Message, ResponseFormat, Tool, ToolCall
from mockllm.dialects import ParseContext, responses
from mockllm.dialects.responses import SEARCH
from mockllm.errors import RequestError
from mockllm.render import render
from mockllm.rules import ErrorSpec, Fault
from mockllm.state import MemoryStore
from mockllm.stored_conversations import page
from mockllm.wire import JSON_TYPE, SSE_TYPE, Body, Padding
from tests.factories import (
    make_choice,
    make_rendered,
    make_reply,
    make_responses_request,
    make_tool_call,
)

CREATED = 1700000000
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {  # function tools are strict by default: a schema strict mode takes
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
PLAIN = {"include_obfuscation": False}  # stream_options without obfuscation padding


def refused(body: dict[str, Any], context: ParseContext | None = None) -> RequestError:
    with pytest.raises(RequestError) as info:
        responses.parse(orjson.dumps(body), {}, responses.PATH, context or ParseContext())
    return info.value


# --- parse ----------------------------------------------------------------------------------


def test_a_string_input_is_one_user_message():
    request = make_responses_request(input="Hello")
    assert request.messages == (Message("user", "Hello"),)
    assert (request.api, request.path, request.last_user, request.turn) == (
        "responses",
        "/v1/responses",
        "Hello",
        1,
    )
    assert request.wire.history == ({"type": "message", "role": "user", "content": "Hello"},)
    (listed,) = request.wire.inputs  # as GET …/input_items lists it
    assert re.fullmatch(r"msg_[0-9a-f]{48}", listed["id"])
    assert listed == {
        "id": listed["id"],
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Hello"}],
        "status": "completed",
    }


def test_instructions_are_a_developer_message_before_the_input():
    request = make_responses_request(input="Hello", instructions="Be brief.")
    assert request.messages == (Message("developer", "Be brief."), Message("user", "Hello"))
    assert request.system == "Be brief."
    assert request.wire.echo["instructions"] == "Be brief."


def test_input_items_become_messages_tool_calls_and_results():
    request = make_responses_request(
        input=[
            {"role": "system", "content": "Use metric units."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather"},
                    {"type": "input_image", "image_url": "https://x/y.png"},
                    {"type": "input_text", "text": "in Paris and Rome?"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "18C"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "21C"}],
            },
            {
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Paris 18C, Rome 21C."}],
            },
        ]
    )
    assert request.messages == (
        Message("system", "Use metric units."),
        Message("user", "Weather\nin Paris and Rome?"),
        Message(
            "assistant",
            "",  # consecutive calls are one assistant turn
            tool_calls=(
                ToolCall("c1", "get_weather", "{}"),
                ToolCall("c2", "get_weather", "{}"),
            ),
        ),
        Message("tool", "18C", tool_call_id="c1"),
        Message("tool", "21C", tool_call_id="c2"),
        Message("assistant", "Paris 18C, Rome 21C."),
    )
    assert [item.get("type") for item in request.wire.inputs][:2] == ["message", "message"]


def test_function_tools_built_in_tools_and_the_tool_choice():
    request = make_responses_request(
        tools=[WEATHER, {"type": "web_search"}],
        tool_choice={"type": "function", "name": "get_weather"},
    )
    # The built-in web search is a tool the API runs itself: its calls are web_search_call
    # items, and the answer follows them.
    assert request.tools == (
        Tool("get_weather", "Weather in a city", WEATHER["parameters"], strict=True),
        SEARCH,
    )
    assert SEARCH.server and SEARCH.name == "web_search"
    assert request.tool_choice == "get_weather"
    assert request.wire.echo["tools"] == [
        {**WEATHER, "strict": True},
        {"type": "web_search"},
    ]
    built_in = make_responses_request(
        tools=[{"type": "web_search"}], tool_choice={"type": "web_search"}
    )
    assert (built_in.tools, built_in.tool_choice) == ((SEARCH,), "web_search")  # forced
    named = make_responses_request(
        tools=[{"type": "web_search"}, {"type": "function", "name": "web_search"}]
    )
    assert [t.server for t in named.tools] == [False]  # the function's calls are its own
    allowed = make_responses_request(
        tools=[WEATHER, {"type": "function", "name": "ping"}],
        tool_choice={
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "ping"}, {"type": "web_search"}],
        },
    )
    assert (allowed.tool_choice, allowed.allowed_tools) == ("required", ("ping",))


def test_text_format_reasoning_limits_and_storage():
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    request = make_responses_request(
        model="o4-mini",  # reasoning settings are for a reasoning model
        text={
            "format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
        },
        reasoning={"effort": "low", "summary": "auto"},
        max_output_tokens=64,
        store=False,
        stream=True,
        stream_options=PLAIN,
        parallel_tool_calls=False,  # and no top_logprobs, which a reasoning model refuses
    )
    assert request.response_format == ResponseFormat("json_schema", "answer", schema, True)
    assert request.reasoning  # a summary is asked for
    assert (request.max_tokens, request.max_tokens_given) == (64, True)
    assert (request.wire.store, request.wire.obfuscate, request.stream) == (False, False, True)
    assert (request.parallel_tool_calls, request.top_logprobs) == (False, 0)
    assert request.wire.echo["reasoning"] == {
        "context": "current_turn",
        "effort": "low",
        "mode": "standard",
        "summary": "auto",
    }
    quiet = make_responses_request(model="o4-mini", reasoning={"effort": "high"})
    assert not quiet.reasoning and quiet.reasoning_effort == "high"
    capped = make_responses_request(max_output=100)
    assert (capped.max_tokens, capped.max_tokens_given) == (100, False)
    assert capped.wire.echo["max_output_tokens"] is None  # echoed as sent
    assert make_responses_request().wire.obfuscate


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"input": "x"}, "model", "Missing required parameter: 'model'."),
        ({"model": "m"}, "input", "Missing required parameter: 'input'."),
        (
            {"model": "m", "input": 3},
            "input",
            "Invalid type for 'input': expected one of a string or array of input items, but "
            "got an integer instead.",
        ),
        (
            {"model": "m", "input": []},
            None,
            "One of \"input\" or \"previous_response_id\" or 'prompt' or 'conversation' must be "
            "provided.",
        ),
        (
            {"model": "m", "input": [{"role": "robot", "content": "x"}]},
            "input[0]",
            "Invalid value: 'robot'. Supported values are: 'assistant', 'system', 'developer', "
            "and 'user'.",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
            "Missing required parameter: 'input[0].call_id'.",
        ),
        (
            {
                "model": "m",
                "input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}],
            },
            "input[0].content[0]",
            "Invalid value: 'output_text'. Supported values are: 'input_text', 'input_image', "
            "'input_file', 'scoped_content', and 'input_audio'.",
        ),
        (
            {"model": "m", "input": "x", "max_output_tokens": 8},
            "max_output_tokens",
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
            "but got 8 instead.",
        ),
        (  # its range is the profile's (tests/e2e/test_gateway_sweep.py): only its type here
            {"model": "m", "input": "x", "temperature": "hot"},
            "temperature",
            "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        ),
        (
            {"model": "m", "input": "x", "tools": [{"type": "file_search"}]},
            "tools[0].vector_store_ids",
            "Missing required parameter: 'tools[0].vector_store_ids'.",
        ),
        (
            {"model": "m", "input": "x", "tools": [{"type": "function", "name": "get weather"}]},
            "tools[0].name",
            "Invalid 'tools[0].name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]+$'.",
        ),
        (
            {
                "model": "m",
                "input": "x",
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "name": "nope"},
            },
            "tool_choice",
            "Tool choice 'nope' not found in 'tools' parameter.",
        ),
        (
            {"model": "m", "input": "x", "tools": [WEATHER], "tool_choice": {"type": ["x"]}},
            "tool_choice.type",
            "Invalid type for 'tool_choice.type': expected a string, but got an array instead.",
        ),
        (
            {
                "model": "m",
                "input": "x",
                "tools": [WEATHER],
                "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"name": {}}]},
            },
            "tool_choice.tools[0].name",
            "Invalid type for 'tool_choice.tools[0].name': expected a string, but got an object "
            "instead.",
        ),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}},
            "input",
            "Response input messages must contain the word 'json' in some form to use "
            "'text.format' of type 'json_object'.",
        ),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "a"}}},
            "text.format.schema",
            "Missing required parameter: 'text.format.schema'.",
        ),
        (
            {"model": "m", "input": "x", "reasoning": {"effort": "ultra"}},
            "reasoning.effort",
            "Invalid value: 'ultra'. Supported values are: 'none', 'minimal', 'low', 'medium', "
            "'high', 'xhigh', and 'max'.",
        ),
        (
            {"model": "m", "input": "x", "truncation": "sometimes"},
            "truncation",
            "Invalid value: 'sometimes'. Supported values are: 'auto' and 'disabled'.",
        ),
        (
            {"model": "m", "input": "x", "stream_options": PLAIN},
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ),
        (
            {"model": "m", "input": "x", "previous_response_id": "resp/1"},
            "previous_response_id",
            "Invalid 'previous_response_id': 'resp/1'. Expected an ID that contains letters, "
            "numbers, underscores, or dashes, but this value contained additional characters.",
        ),
        (
            {"model": "m", "input": "x", "previous_response_id": "resp_123"},
            "previous_response_id",
            "Previous response with id 'resp_123' not found.",
        ),
        (
            {"model": "m", "input": "x", "background": "yes"},
            "background",
            "Invalid type for 'background': expected a boolean, but got a string instead.",
        ),
        (
            {"model": "m", "input": "x", "include": ["a", 3]},
            "include[1]",
            "Invalid type for 'include[1]': expected a string, but got an integer instead.",
        ),
        (
            {"model": "m", "input": "x", "conversation": 5},
            "conversation",
            "Invalid type for 'conversation': expected one of a string or an object, but got "
            "an integer instead.",
        ),
        (
            {"model": "m", "input": "x", "prompt": "p"},
            "prompt",
            "Invalid type for 'prompt': expected an object, but got a string instead.",
        ),
    ],
)
def test_bad_requests_are_refused_in_the_api_wording(body, param, message):
    error = refused(body, ParseContext(store=MemoryStore()))
    assert (error.status, error.param, error.message) == (400, param, message)


def test_an_item_of_an_unknown_type_lists_the_known_ones():
    error = refused({"model": "m", "input": [{"type": "weird"}]})
    assert error.param == "input[0]"
    assert error.message.startswith(
        "Invalid value: 'weird'. Supported values are: 'additional_tools', 'agent_message', "
        "'apply_patch_call', 'apply_patch_call_output', 'code_interpreter_call', 'compaction',"
    )
    assert error.message.endswith("'tool_search_output', and 'web_search_call'.")


def test_the_server_cap_on_output_tokens():
    error = refused(
        {"model": "m", "input": "x", "max_output_tokens": 200}, ParseContext(max_output=100)
    )
    assert (error.param, error.code, error.message) == (
        "max_output_tokens",
        "invalid_value",
        "max_output_tokens is too large: 200. This model supports at most 100 output tokens, "
        "whereas you provided 200.",
    )


# --- stored responses -------------------------------------------------------------------------


def response_id(rendered: Any, request: Any) -> str:
    return orjson.loads(responses.whole(rendered, request, CREATED).body)["id"]


def test_previous_response_id_continues_a_stored_conversation():
    store = MemoryStore()
    first = make_responses_request(input="Hi", instructions="Be brief.", state=store)
    answer = make_rendered(id="chatcmpl-a")
    responses.remember(store, first, answer, CREATED)
    second = make_responses_request(
        input="And Rome?", previous_response_id=response_id(answer, first), state=store
    )
    # Instructions are not carried over; the earlier input and output are.
    assert second.messages == (
        Message("user", "Hi"),
        Message("assistant", "Hi there"),
        Message("user", "And Rome?"),
    )
    assert (second.turn, second.system) == (2, "")
    assert second.wire.echo["previous_response_id"] == response_id(answer, first)
    call = make_tool_call("get_weather", '{"city":"Rome"}', id="call_9")
    called = make_rendered(make_choice(tool_calls=(call,), finish_reason="tool_calls"), id="b")
    responses.remember(store, second, called, CREATED)
    third = make_responses_request(
        input=[{"type": "function_call_output", "call_id": "call_9", "output": "21C"}],
        previous_response_id=response_id(called, second),
        state=store,
    )
    assert third.messages[3:] == (
        Message(
            "assistant", "", tool_calls=(ToolCall("call_9", "get_weather", '{"city":"Rome"}'),)
        ),
        Message("tool", "21C", tool_call_id="call_9"),
    )


def test_previous_response_id_with_an_empty_input():
    store = MemoryStore()
    first = make_responses_request(input="Hi", state=store)
    responses.remember(store, first, make_rendered(), CREATED)
    previous = response_id(make_rendered(), first)
    again = make_responses_request(input=[], previous_response_id=previous, state=store)
    assert again.messages == (Message("user", "Hi"), Message("assistant", "Hi there"))
    # without input at all, it is refused, as the API refuses it
    with pytest.raises(RequestError) as info:
        make_responses_request(input=None, previous_response_id=previous, state=store)
    assert info.value.message == "Missing required parameter: 'input'."


def _call(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "get_weather", "arguments": "{}"}


def _output(call_id: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "18C"}


ASK = {"role": "user", "content": "Weather in Paris?"}


@pytest.mark.parametrize(
    "items, message",
    [
        ([ASK, _call("c1"), ASK], "No tool output found for function call c1."),
        (
            [ASK, _call("c1"), _call("c2"), _output("c2")],
            "No tool output found for function call c1.",
        ),
        ([ASK, _output("c9")], "No tool call found for function call output with call_id c9."),
        (
            [ASK, _output("c1"), _call("c1")],
            "No tool call found for function call output with call_id c1.",
        ),
    ],
)
def test_function_calls_and_their_outputs_must_pair_up(items, message):
    error = refused({"model": "gpt-4o", "input": items})
    assert (error.status, error.param, error.message, error.code) == (400, "input", message, None)
    lenient = ParseContext(lenient=True)
    responses.parse(orjson.dumps({"model": "gpt-4o", "input": items}), {}, responses.PATH, lenient)


def test_a_stored_function_call_needs_its_output_in_the_next_input():
    store = MemoryStore()
    first = make_responses_request(input="Weather in Rome?", state=store)
    call = make_tool_call("get_weather", '{"city":"Rome"}', id="call_9")
    called = make_rendered(make_choice(tool_calls=(call,), finish_reason="tool_calls"), id="b")
    responses.remember(store, first, called, CREATED)
    previous = response_id(called, first)
    context = ParseContext(store=store)
    for later in ("Never mind.", [], [_output("call_1")]):
        body = {"model": "gpt-4o", "previous_response_id": previous}
        if later is not None:
            body["input"] = later
        with pytest.raises(RequestError) as info:
            responses.parse(orjson.dumps(body), {}, responses.PATH, context)
        assert info.value.param == "input"
        assert info.value.message in (
            "No tool output found for function call call_9.",
            "No tool call found for function call output with call_id call_1.",
        )
    answered = make_responses_request(
        input=[_output("call_9"), {"role": "user", "content": "And Paris?"}],
        previous_response_id=previous,
        state=store,
    )
    assert answered.messages[-2:] == (
        Message("tool", "18C", tool_call_id="call_9"),
        Message("user", "And Paris?"),
    )


def test_store_false_keeps_nothing():
    store = MemoryStore()
    request = make_responses_request(input="Hi", store=False, state=store)
    assert request.wire.store is False
    responses.remember(store, request, make_rendered(), CREATED)
    rid = response_id(make_rendered(), request)
    assert responses.stored_response(store, rid) is None
    context = ParseContext(store=store)
    error = refused({"model": "gpt-4o", "input": "x", "previous_response_id": rid}, context)
    assert error.code == "previous_response_not_found"


def test_a_stored_document_and_its_input_items_pages():
    store = MemoryStore()
    request = make_responses_request(
        input=[
            {"role": "user", "content": "one"},
            {"role": "user", "content": "two"},
            {"role": "user", "content": "three"},
        ],
        state=store,
    )
    responses.remember(store, request, make_rendered(), CREATED)
    document = responses.stored_response(store, response_id(make_rendered(), request))
    assert document is not None
    assert document["response"]["output"][0]["content"][0]["text"] == "Hi there"
    texts = [item["content"][0]["text"] for item in document["inputs"]]
    assert texts == ["one", "two", "three"]
    newest = page(document["inputs"], 2, "desc", None)
    assert [i["content"][0]["text"] for i in newest["data"]] == ["three", "two"]
    assert newest["has_more"] is True
    assert (newest["first_id"], newest["last_id"]) == (
        document["inputs"][2]["id"],
        document["inputs"][1]["id"],
    )
    rest = page(document["inputs"], 2, "desc", newest["last_id"])
    assert [i["content"][0]["text"] for i in rest["data"]] == ["one"]
    assert rest["has_more"] is False


# --- answers --------------------------------------------------------------------------------


def events_of(body: Body) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each event, checking the framing: an `event:` line, a `data:`
    line whose JSON has `type` (the event's name) first and its other keys in name order."""
    out = []
    for event in body.events:
        head, data_line, end = event.split(b"\n", 2)
        assert head.startswith(b"event: ") and data_line.startswith(b"data: ")
        assert end == b"\n"
        name = head[len(b"event: ") :].decode()
        data = orjson.loads(data_line[len(b"data: ") :])
        keys = list(data)
        assert keys[0] == "type" and data["type"] == name
        assert keys[1:] == sorted(keys[1:])
        out.append((name, data))
    return out


def streamed(rendered: Any, fault: Fault | None = None, **fields: Any) -> Body:
    fields.setdefault("stream_options", PLAIN)
    request = make_responses_request(stream=True, **fields)
    return responses.answer(rendered, request, CREATED, fault)


def test_a_text_stream_in_the_api_order_numbered_from_zero():
    body = streamed(make_rendered(offsets=(0.1, 0.2)))
    assert (body.status, body.content_type, body.body, body.abort_after) == (
        200,
        SSE_TYPE,
        b"",
        None,
    )
    events = events_of(body)
    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in events] == list(range(10))
    # The opening events leave at once; each delta at its offset; the end with the last.
    assert body.offsets == (0.0, 0.0, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2)
    opening = events[0][1]["response"]
    assert (opening["status"], opening["output"], opening["usage"]) == ("in_progress", [], None)
    final = events[-1][1]["response"]
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "Hi there"
    assert final["usage"]["output_tokens"] == 2


def test_the_bytes_of_a_delta_event():
    body = streamed(make_rendered())
    item_id = events_of(body)[2][1]["item"]["id"]
    assert re.fullmatch(r"msg_[0-9a-f]{48}", item_id)
    assert body.events[4] == (
        b"event: response.output_text.delta\n"
        b'data: {"type":"response.output_text.delta","content_index":0,"delta":"Hi",'
        b'"item_id":"' + item_id.encode() + b'","logprobs":[],"output_index":0,'
        b'"sequence_number":4}\n\n'
    )
    assert body.events[6] == (
        b"event: response.output_text.done\n"
        b'data: {"type":"response.output_text.done","content_index":0,'
        b'"item_id":"' + item_id.encode() + b'","logprobs":[],"output_index":0,'
        b'"sequence_number":6,"text":"Hi there"}\n\n'
    )


def test_deltas_are_padded_with_an_obfuscation_string():
    rendered = make_rendered(make_choice("Hi", " there, how are you today?"))
    body = streamed(rendered, stream_options={})
    deltas = [d for n, d in events_of(body) if n == "response.output_text.delta"]
    for data in deltas:
        padding = data["obfuscation"]
        assert len(padding) == 16 - len(data["delta"]) % 16
        assert padding.isalnum()
    assert streamed(rendered, stream_options={}).events == body.events  # seeded by the answer


def test_reasoning_text_and_a_tool_call_are_three_output_items():
    call = make_tool_call(fragments=('{"city":', '"Paris"}'), id="call_1")
    rendered = make_rendered(
        make_choice("Let me check.", reasoning=("Think",), tool_calls=(call,)),
        offsets=(0.1, 0.2, 0.3, 0.4),
    )
    body = streamed(rendered)
    events = events_of(body)
    assert [(n, d.get("output_index")) for n, d in events] == [
        ("response.created", None),
        ("response.in_progress", None),
        ("response.output_item.added", 0),
        ("response.reasoning_summary_part.added", 0),
        ("response.reasoning_summary_text.delta", 0),
        ("response.reasoning_summary_text.done", 0),
        ("response.reasoning_summary_part.done", 0),
        ("response.output_item.done", 0),
        ("response.output_item.added", 1),
        ("response.content_part.added", 1),
        ("response.output_text.delta", 1),
        ("response.output_text.done", 1),
        ("response.content_part.done", 1),
        ("response.output_item.done", 1),
        ("response.output_item.added", 2),
        ("response.function_call_arguments.delta", 2),
        ("response.function_call_arguments.delta", 2),
        ("response.function_call_arguments.done", 2),
        ("response.output_item.done", 2),
        ("response.completed", None),
    ]
    assert [d["delta"] for n, d in events if n.endswith("arguments.delta")] == [
        '{"city":',
        '"Paris"}',
    ]
    added = events[14][1]["item"]
    assert (added["type"], added["status"], added["arguments"], added["call_id"]) == (
        "function_call",
        "in_progress",
        "",
        "call_1",
    )
    output = events[-1][1]["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "message", "function_call"]
    assert output[0]["summary"] == [{"type": "summary_text", "text": "Think"}]
    assert output[2]["arguments"] == '{"city":"Paris"}'
    # Each delta at its tick; an item's end goes with the next item's first delta.
    delta_times = [
        at for (n, _), at in zip(events, body.offsets, strict=True) if n.endswith(".delta")
    ]
    assert delta_times == [0.1, 0.2, 0.3, 0.4]


def test_a_rule_with_text_and_a_call_answers_a_message_then_a_function_call():
    reply = make_reply(
        content="Let me check.",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}],
    )
    whole_request = make_responses_request(tools=[WEATHER])
    rendered = render(reply, whole_request, 1)
    response = orjson.loads(responses.answer(rendered, whole_request, CREATED, None).body)
    message, call = response["output"]
    assert (message["type"], message["status"], message["role"]) == (
        "message",
        "completed",
        "assistant",
    )
    assert [(p["type"], p["text"]) for p in message["content"]] == [
        ("output_text", "Let me check.")
    ]
    assert (call["type"], call["call_id"], call["name"], call["arguments"]) == (
        "function_call",
        "call_1",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert response["status"] == "completed"
    # Let, me, check, . and the call (five fragments, three name tokens, three of framing)
    assert response["usage"]["output_tokens"] == 4 + 11
    body = streamed(render(reply, make_responses_request(stream=True, tools=[WEATHER]), 1))
    events = events_of(body)
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert [(n, d.get("output_index"), d.get("content_index")) for n, d in events] == [
        ("response.created", None, None),
        ("response.in_progress", None, None),
        ("response.output_item.added", 0, None),
        ("response.content_part.added", 0, 0),
        *[("response.output_text.delta", 0, 0)] * 4,
        ("response.output_text.done", 0, 0),
        ("response.content_part.done", 0, 0),
        ("response.output_item.done", 0, None),
        ("response.output_item.added", 1, None),
        *[("response.function_call_arguments.delta", 1, None)] * 5,
        ("response.function_call_arguments.done", 1, None),
        ("response.output_item.done", 1, None),
        ("response.completed", None, None),
    ]
    assert "".join(d["delta"] for n, d in events if n == "response.output_text.delta") == (
        "Let me check."
    )
    assert events[-1][1]["response"]["output"] == response["output"]


def test_a_refusal_streams_refusal_events():
    body = streamed(make_rendered(make_choice("I can't.", refusal=True)))
    events = events_of(body)
    assert [n for n, _ in events][3:6] == [
        "response.content_part.added",
        "response.refusal.delta",
        "response.refusal.done",
    ]
    assert events[3][1]["part"] == {"type": "refusal", "refusal": ""}
    assert events[5][1]["refusal"] == "I can't."


def test_an_answer_cut_by_max_output_tokens_is_incomplete():
    body = streamed(make_rendered(make_choice("Hi", " there", finish_reason="length")))
    name, data = events_of(body)[-1]
    assert name == "response.incomplete"
    response = data["response"]
    assert (response["status"], response["incomplete_details"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
    )
    assert response["output"][0]["status"] == "incomplete"


@pytest.mark.parametrize(("after", "abort_after"), [(0, 2), (1, 5), (2, 6)])
def test_a_disconnect_is_placed_after_that_many_deltas(after, abort_after):
    body = streamed(make_rendered(), Fault(disconnect_after_tokens=after))
    assert body.abort_after == abort_after
    names = [n for n, _ in events_of(body)]
    assert names[abort_after - 1] == (
        "response.in_progress" if after == 0 else "response.output_text.delta"
    )


def test_a_malformed_delta_keeps_its_event_line():
    body = streamed(make_rendered(), Fault(malformed_chunk_at=2))
    broken = body.events[5]
    assert broken.startswith(b"event: response.output_text.delta\ndata: {")
    assert broken.endswith(b"\n\n")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(broken.split(b"data: ", 1)[1])
    intact = streamed(make_rendered()).events[5]
    assert intact.startswith(broken[:-2])  # the first part of the same event
    assert len(broken) < len(intact)
    assert len(body.events) == 10  # the rest follow


def test_an_in_band_error_fails_the_response():
    body = streamed(make_rendered(offsets=(0.1, 0.2)), Fault(error_after_tokens=1))
    events = events_of(body)
    assert [n for n, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.failed",
    ]
    failed = events[-1][1]
    assert failed["sequence_number"] == 5
    response = failed["response"]
    assert (response["status"], response["output"], response["usage"]) == ("failed", [], None)
    assert response["error"] == {
        "code": "server_error",
        "message": "The server had an error while processing your request. Sorry about that!",
    }
    assert body.offsets[-1] == 0.1


def test_an_empty_choices_error_is_an_error_event():
    fault = Fault(empty_choices_error=True, error=ErrorSpec(503))
    body = streamed(make_rendered(), fault)
    assert body.events[-1] == (
        b"event: error\n"
        b'data: {"type":"error","code":"service_unavailable",'
        b'"message":"The server is overloaded or not ready yet.","param":null,'
        b'"sequence_number":4}\n\n'
    )


def test_a_whole_response_object():
    request = make_responses_request(instructions="Be brief.", metadata={"k": "v"})
    body = responses.answer(make_rendered(offsets=(0.1, 0.2)), request, CREATED, None)
    assert (body.status, body.content_type, body.offsets, body.events) == (
        200,
        JSON_TYPE,
        (0.2,),
        (),
    )
    response = orjson.loads(body.body)
    assert list(response) == [
        "id",
        "object",
        "created_at",
        "status",
        "background",
        "completed_at",
        "error",
        "frequency_penalty",
        "incomplete_details",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "model",
        "moderation",
        "output",
        "parallel_tool_calls",
        "presence_penalty",
        "previous_response_id",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "temperature",
        "text",
        "tool_choice",
        "tool_usage",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "usage",
        "user",
        "metadata",
    ]
    (message,) = response["output"]
    assert re.fullmatch(r"resp_[0-9a-f]{48}", response["id"])
    assert response["id"][5:21] == message["id"][4:20]  # one response's ids share a prefix
    assert message == {
        "id": message["id"],
        "type": "message",
        "status": "completed",
        "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hi there"}],
        "role": "assistant",
    }
    assert (response["object"], response["status"], response["created_at"]) == (
        "response",
        "completed",
        CREATED,
    )
    assert (response["instructions"], response["metadata"]) == ("Be brief.", {"k": "v"})
    assert response["usage"] == {
        "input_tokens": 5,
        "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 0},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 7,
    }


def test_faults_of_a_whole_response():
    request = make_responses_request()
    rendered = make_rendered(offsets=(0.1, 0.2))
    intact = responses.whole(rendered, request, CREATED).body
    malformed = responses.whole(rendered, request, CREATED, Fault(malformed_chunk_at=1))
    assert malformed.body == intact[: len(intact) // 2]
    cut = responses.whole(rendered, request, CREATED, Fault(disconnect_after_tokens=1))
    assert (cut.body, cut.abort_after) == (intact, len(intact) // 2)
    failed = responses.whole(rendered, request, CREATED, Fault(error_after_tokens=1))
    assert (failed.status, failed.offsets) == (500, (0.2,))


def test_errors_refusals_and_headers_in_openai_shape():
    body = responses.failure(ErrorSpec(404, message="Nope.", param="model"), 0.25)
    assert (body.status, body.offsets) == (404, (0.25,))
    assert body.body == (
        b'{"error":{"message":"Nope.","type":"invalid_request_error","param":"model",'
        b'"code":"not_found"}}'
    )
    assert responses.refusal(responses.not_found("resp_1")) == (
        b'{"error":{"message":"Response with id \'resp_1\' not found.",'
        b'"type":"invalid_request_error","param":"response_id","code":null}}'
    )
    assert responses.headers(503, ()) == (("retry-after", "1"),)
    assert responses.headers(200, (("x-a", "1"),)) == (("x-a", "1"),)


DELTA_FIELDS: list[tuple[str, dict[str, Any]]] = [
    (
        "response.output_text.delta",
        {"logprobs": [], "content_index": 0, "item_id": "msg_" + "a" * 48, "output_index": 1},
    ),
    ("response.refusal.delta", {"content_index": 0, "item_id": "msg_x", "output_index": 0}),
    (
        "response.reasoning_summary_text.delta",
        {"item_id": "rs_x", "output_index": 0, "summary_index": 0},
    ),
    ("response.function_call_arguments.delta", {"item_id": "fc_x", "output_index": 2}),
]
DELTAS = ["", "Hello", " world", 'a "quoted" \\ line\n', "é😀", "x" * 40, "\u2028\x00"]


@pytest.mark.parametrize("obfuscate", [True, False])
@pytest.mark.parametrize(("kind", "fields"), DELTA_FIELDS)
def test_a_delta_event_from_its_template_is_the_event_add_writes(
    kind: str, fields: dict[str, Any], obfuscate: bool
) -> None:
    """A stream's delta events are written from a template made once per item; the bytes,
    the padding's draws (drawn ahead in blocks: 70 deltas cross several) and the numbering
    are those of the general `add` with the padding drawn for each delta in turn."""
    quick = responses._Events(Padding("resp_7"), obfuscate)
    general = responses._Events(Padding("resp_70"), obfuscate)
    draws = Padding("resp_7")
    template = quick.template(kind, fields)
    for i, delta in enumerate(DELTAS * 10):
        quick.add("response.in_progress", 0.0, response={"n": i})  # numbers move on between
        general.add("response.in_progress", 0.0, response={"n": i})
        made = quick.add_delta(template, 0.5 + i, delta)
        pad = {"obfuscation": draws.text(delta)[1:-1].decode()} if obfuscate else {}
        assert made == general.add(kind, 0.5 + i, delta=delta, **fields, **pad)
    assert quick.events == general.events and quick.due == general.due
    if obfuscate:
        data = orjson.loads(quick.events[-1].split(b"data: ", 1)[1])
        assert (len(data["delta"]) + len(data["obfuscation"])) % 16 == 0


OPEN_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
STRICT_SCHEMA = {**OPEN_SCHEMA, "additionalProperties": False}


def _with_tool(**tool: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "input": "hi", "tools": [{"type": "function", "name": "f", **tool}]}


def test_a_function_tool_without_strict_is_strict_when_its_schema_can_be():
    """The function calling guide: an omitted `strict` makes a Responses tool strict when
    its schema allows it, and best-effort when it does not; only `strict: true` refuses."""

    def parsed(**tool: Any) -> Any:
        return responses.parse(orjson.dumps(_with_tool(**tool)), {}, responses.PATH, ParseContext())

    assert parsed(parameters=STRICT_SCHEMA).tools[0].strict is True
    assert parsed(parameters=OPEN_SCHEMA).tools[0].strict is False  # LangChain sends these
    assert parsed(parameters=OPEN_SCHEMA, strict=False).tools[0].strict is False
    error = refused(_with_tool(parameters=OPEN_SCHEMA, strict=True))
    assert error.message == (
        "Invalid schema for function 'f': In context=(), 'additionalProperties' is required "
        "to be supplied and to be false."
    )


@pytest.mark.parametrize(
    ("fields", "message", "param"),
    [
        (
            {"metadata": {f"k{i}": "v" for i in range(17)}},
            "Invalid 'metadata': too many properties. Expected an object with at most 16 "
            "properties, but got an object with 17 properties instead.",
            "metadata",
        ),
        (
            {"metadata": {"k": {"nested": 1}}},
            "Invalid type for 'metadata.k': expected a string, but got an object instead.",
            "metadata.k",
        ),
        (
            {"service_tier": "gold"},
            "Invalid value: 'gold'. Supported values are: 'auto', 'default', 'fast', 'flex', "
            "and 'priority'.",
            "service_tier",
        ),
        (
            {"include": ["message.output_text.logprobs", "usage"]},
            "Invalid value: 'usage'. Supported values are: 'file_search_call.results', "
            "'web_search_call.results', 'web_search_call.action.sources', "
            "'message.input_image.image_url', 'computer_call_output.output.image_url', "
            "'code_interpreter_call.outputs', 'reasoning.encrypted_content', and "
            "'message.output_text.logprobs'.",
            "include[1]",
        ),
        (
            {
                "input": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": [{"type": "input_text", "text": "x"}]},
                    {"role": "user", "content": "again"},
                ]
            },
            "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.",
            "input[1].content[0]",
        ),
        (
            {"text": {"format": {"type": "json_schema", "name": "my schema", "schema": {}}}},
            "Invalid 'text.format.name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "text.format.name",
        ),
    ],
)
def test_the_responses_api_refuses_what_it_bounds(fields, message, param):
    error = refused({"model": "gpt-4o", "input": "hi", **fields})
    assert (error.status, error.message, error.param) == (400, message, param)


def test_the_responses_api_takes_metadata_without_store():
    body = {"model": "gpt-4o", "input": "hi", "store": False, "metadata": {"k": "v"}}
    responses.parse(orjson.dumps(body), {}, responses.PATH, ParseContext())


def test_truncation_auto_drops_the_oldest_items_until_the_input_fits():
    """The API reference: with `auto`, items are dropped from the beginning of the
    conversation; `disabled` (the default) refuses an input over the window."""
    old = [{"role": "user", "content": f"turn {i} " + "word " * 1500} for i in range(10)]
    body = {
        "model": "gpt-4",  # an 8,192-token window
        "instructions": "Be brief.",
        "input": [*old, {"role": "user", "content": "hi"}],
    }
    assert refused(body).code == "context_length_exceeded"
    request = responses.parse(
        orjson.dumps({**body, "truncation": "auto"}), {}, responses.PATH, ParseContext()
    )
    texts = [m.text for m in request.messages]
    assert texts[0] == "Be brief." and texts[-1] == "hi"
    assert texts[1].startswith(("turn 5 ", "turn 6 ", "turn 7 ", "turn 8 "))
    from mockllm.render import prompt_tokens

    assert prompt_tokens(request) <= 8192
    assert request.last_user == "hi"


def test_allowed_tools_naming_a_tool_not_offered_is_refused():
    tools = [{"type": "function", "name": "get_weather", "parameters": STRICT_SCHEMA}]
    choice = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "nope"}],
    }
    error = refused({"model": "gpt-4o", "input": "hi", "tools": tools, "tool_choice": choice})
    assert (error.message, error.param) == (
        "Tool choice 'nope' not found in 'tools' parameter.",
        "tool_choice",
    )
