"""The Responses API through the official openai SDK (sync and async) and raw httpx, against
a real server answering from the same scenarios as chat."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from tests.openai_schemas import check

from ..conftest import SCENARIOS, RunningServer, start_server
from .helpers import journal, write_scenario

REFUND = "You can return any item within 30 days for a full refund."
REFUND_REASONING = "The customer asks about refunds: quote the 30-day policy."
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
EXTRA = """\
version: 1
rules:
  - name: remembers
    match: { api: responses, any_message: { contains: "my name is Ada" }, turn: 2 }
    reply: { content: "Your name is Ada." }
  - name: flaky
    match: { model: flaky-responses }
    sequence:
      - error: { status: 429, headers: { Retry-After: "0" } }
      - content: "third time lucky"
    then: repeat_last
  - name: broken
    match: { model: broken-responses }
    reply: { error: { status: 500 } }
  - name: cut-at-3
    match: { model: cut-responses }
    reply:
      content: "one two three four five six"
      fault: { disconnect_after_tokens: 3 }
  - name: fail-in-band
    match: { model: failing-responses }
    reply:
      content: "one two three four five six"
      fault: { error_after_tokens: 2, error: { status: 500, message: "the model broke" } }
  - name: garbled
    match: { model: garbled-responses }
    reply:
      content: "one two three four five six"
      fault: { malformed_chunk_at: 2 }
  - name: chat-only
    match: { api: chat, last_user: "which family?" }
    reply: { content: "chat" }
  - name: responses-only
    match: { api: responses, last_user: "which family?" }
    reply: { content: "responses" }
  - name: with-file-search
    match: { tools: [file_search], last_user: "which tools?" }
    reply: { content: "file search offered" }
  - name: with-any-web-search
    match: { tools: [web_search, apply_patch], last_user: "which tools?" }
    reply: { content: "web search and apply_patch offered" }
"""
EVENTS = TypeAdapter(ResponseStreamEvent)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("responses")
    extra = write_scenario(tmp, EXTRA, "extra.yaml")
    running = start_server(
        "--scenarios", str(SCENARIOS), "--scenarios", str(extra),
        "--seed", "7", "--freeze-time", "1700000000", tmp_path=tmp,
    )  # fmt: skip
    yield running
    running.stop()


def client(server: RunningServer, max_retries: int = 0) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=max_retries)


def post(server: RunningServer, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/responses",
        json=body,
        headers={"authorization": "Bearer sk-test", **headers},
        timeout=10,
    )


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each event, asserting the framing the API uses:
    `event: NAME\\ndata: {json}\\n\\n`, the name repeated as the data's `type`."""
    assert raw.endswith(b"\n\n")
    out = []
    for block in raw[:-2].split(b"\n\n"):
        head, data = block.split(b"\n")
        assert head.startswith(b"event: ") and data.startswith(b"data: "), block[:120]
        name = head[len(b"event: ") :].decode()
        payload = json.loads(data[len(b"data: ") :])
        assert payload["type"] == name
        assert list(payload)[0] == "type"  # type first, the rest in name order
        assert list(payload)[1:] == sorted(list(payload)[1:])
        out.append((name, payload))
    return out


def test_text_from_the_same_rule_as_chat(server: RunningServer) -> None:
    sdk = client(server)
    response = sdk.responses.create(model="gpt-4o-mini", input="Can I get a refund?")
    assert response.output_text == REFUND
    assert response.status == "completed" and response.id.startswith("resp_")
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message"]
    assert response.output[0].summary[0].text == REFUND_REASONING  # type: ignore[union-attr]
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    chat = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Can I get a refund?"}]
    )
    assert chat.choices[0].message.content == REFUND


def test_body_is_a_response_of_the_openapi_document(server: RunningServer) -> None:
    raw = post(server, {"model": "gpt-4o-mini", "input": "Can I get a refund?"})
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["x-request-id"].startswith("req_")
    body = raw.json()
    check("Response", body)
    Response.model_validate(body)
    assert "output_text" not in body  # the SDK builds it; the API does not send it


def test_stream_events_in_order_and_framing(server: RunningServer) -> None:
    raw = post(
        server,
        {
            "model": "gpt-4o-mini",
            "input": "Can I get a refund?",
            "stream": True,
            "stream_options": {"include_obfuscation": False},
        },
    )
    assert raw.headers["content-type"] == "text/event-stream; charset=utf-8"
    parsed = events(raw.content)
    names = [name for name, _ in parsed]
    reasoning_deltas = names.count("response.reasoning_summary_text.delta")
    text_deltas = names.count("response.output_text.delta")
    assert reasoning_deltas > 1 and text_deltas > 1
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * reasoning_deltas,
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * text_deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in parsed] == list(range(len(parsed)))
    text = "".join(d["delta"] for n, d in parsed if n == "response.output_text.delta")
    assert text == REFUND
    for _, data in parsed:
        check("ResponseStreamEvent", data)
        EVENTS.validate_python(data)
        assert "obfuscation" not in data
    final = parsed[-1][1]["response"]
    whole = post(server, {"model": "gpt-4o-mini", "input": "Can I get a refund?"}).json()
    assert final == whole  # the completed event carries the same response


def test_deltas_carry_obfuscation_by_default(server: RunningServer) -> None:
    raw = post(server, {"model": "gpt-4o-mini", "input": "Can I get a refund?", "stream": True})
    deltas = [d for n, d in events(raw.content) if n.endswith(".delta")]
    assert deltas and all(isinstance(d["obfuscation"], str) and d["obfuscation"] for d in deltas)
    assert {(len(d["delta"]) + len(d["obfuscation"])) % 16 for d in deltas} == {0}


def test_sdk_stream_helper_and_final_response(server: RunningServer) -> None:
    with client(server).responses.stream(model="gpt-4o-mini", input="Can I get a refund?") as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(deltas) == REFUND == final.output_text


def test_function_call_then_tool_output_answers(server: RunningServer) -> None:
    sdk = client(server)
    first = sdk.responses.create(
        model="gpt-4o", input="What's the weather like?", tools=[WEATHER_TOOL]
    )
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments)["city"] == "Paris"
    assert call.call_id.startswith("call_") and call.id.startswith("fc_")  # type: ignore[union-attr]
    second = sdk.responses.create(
        model="gpt-4o",
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": "What's the weather like?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},
        ],
    )
    assert second.output_text == "It is 18°C and sunny in Paris."


def test_tool_round_trip_through_previous_response_id(server: RunningServer) -> None:
    sdk = client(server)
    first = sdk.responses.create(
        model="gpt-4o", input="What's the weather like?", tools=[WEATHER_TOOL]
    )
    call = first.output[-1]
    assert call.type == "function_call"
    second = sdk.responses.create(
        model="gpt-4o",
        tools=[WEATHER_TOOL],
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C"}],
    )
    assert second.output_text == "It is 18°C and sunny in Paris."
    assert second.previous_response_id == first.id


def test_parallel_function_calls(server: RunningServer) -> None:
    response = client(server).responses.create(
        model="gpt-4o", input="What's the weather in Paris and Tokyo?", tools=[WEATHER_TOOL]
    )
    calls = [item for item in response.output if item.type == "function_call"]
    assert [json.loads(c.arguments)["city"] for c in calls] == ["Paris", "Tokyo"]
    assert len({c.call_id for c in calls}) == 2
    single = client(server).responses.create(
        model="gpt-4o",
        input="What's the weather in Paris and Tokyo?",
        tools=[WEATHER_TOOL],
        parallel_tool_calls=False,
    )
    assert len([i for i in single.output if i.type == "function_call"]) == 1


def test_streamed_function_call_arguments(server: RunningServer) -> None:
    raw = post(
        server,
        {"model": "gpt-4o", "input": "weather?", "tools": [WEATHER_TOOL], "stream": True},
    )
    parsed = events(raw.content)
    fragments = [d["delta"] for n, d in parsed if n == "response.function_call_arguments.delta"]
    (done,) = [d for n, d in parsed if n == "response.function_call_arguments.done"]
    assert len(fragments) > 1 and "".join(fragments) == done["arguments"]
    added = next(d for n, d in parsed if n == "response.output_item.added")
    assert added["item"]["type"] == "function_call" and added["item"]["arguments"] == ""


SEARCH_TOOL = {"type": "web_search_preview", "search_context_size": "medium"}


def test_the_built_in_web_search_is_a_web_search_call_then_the_answer(
    server: RunningServer,
) -> None:
    """With the built-in web search offered and no rule, a question a model searches the
    web for gets a `web_search_call` item, then the message: this server searches nothing,
    so the call `failed` and the text says so; streamed, the search's own events, and
    the SDK's accumulated response is the whole one."""
    sdk = client(server)
    asked: dict[str, Any] = {
        "model": "gpt-4o",
        "input": "What is the latest news about lighthouses today?",
        "tools": [SEARCH_TOOL],
    }
    response = sdk.responses.create(**asked)
    call, message = response.output
    assert call.type == "web_search_call" and call.status == "failed"
    assert call.id.startswith("ws_") and len(call.id) == len(message.id) - 1
    assert call.action.type == "search" and call.action.query == asked["input"]
    assert message.type == "message"
    assert response.output_text == "I couldn't get that. web_search failed: unavailable."
    assert response.to_dict()["tool_usage"]["web_search"] == {"num_requests": 1}
    Response.model_validate(response.to_dict())
    check("Response", response.to_dict())
    with sdk.responses.stream(**asked) as stream:
        seen = [event.type for event in stream]
        streamed = stream.get_final_response()
    assert streamed.output[0] == call and streamed.output_text == response.output_text
    assert streamed.usage == response.usage
    assert seen[2:7] == [
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.output_item.done",
        "response.output_item.added",
    ]
    raw = post(server, {**asked, "stream": True})
    (added, *_), (done, *_) = (
        [d["item"] for n, d in events(raw.content) if n == f"response.output_item.{state}"]
        for state in ("added", "done")
    )
    assert added == {"id": call.id, "type": "web_search_call", "status": "in_progress",
                     "action": {"type": "search"}}  # fmt: skip
    assert done == response.to_dict()["output"][0]
    # Forced by its type, with the sources asked for; the next turn sends the items back.
    forced = sdk.responses.create(
        **{**asked, "input": "Tell me about lighthouses."},
        tool_choice={"type": "web_search_preview"},
        include=["web_search_call.action.sources"],
    )
    assert forced.output[0].type == "web_search_call"
    assert forced.output[0].action.sources == []
    follow_up = sdk.responses.create(
        model="gpt-4o",
        tools=[SEARCH_TOOL],
        input=[
            {"role": "user", "content": asked["input"]},
            *[item.to_dict() for item in response.output],
            {"role": "user", "content": "Thanks. Tell me about lighthouses then."},
        ],
    )
    assert [item.type for item in follow_up.output] == ["message"]


def test_the_built_in_file_search_is_a_file_search_call_then_the_answer(
    server: RunningServer,
) -> None:
    """With the file search offered (an Agents SDK FileSearchTool) and no rule, a question
    about the user's documents gets a `file_search_call` (`failed`: this server holds no
    files), then the message saying so; streamed, the search's own events."""
    sdk = client(server)
    files = {"type": "file_search", "vector_store_ids": ["vs_1"]}
    asked: dict[str, Any] = {
        "model": "gpt-4o",
        "input": "What does the employee handbook say about vacation days?",
        "tools": [files],
    }
    response = sdk.responses.create(**asked)
    call, message = response.output
    assert call.type == "file_search_call" and call.id.startswith("fs_")
    assert (call.status, call.queries, call.results) == ("failed", [asked["input"]], None)
    assert message.type == "message"
    assert response.output_text == "I couldn't get that. file_search failed: unavailable."
    check("Response", response.to_dict())
    with sdk.responses.stream(**asked) as stream:
        seen = [event.type for event in stream]
        streamed = stream.get_final_response()
    assert streamed.output[0] == call and streamed.output_text == response.output_text
    assert seen[2:6] == [
        "response.output_item.added",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.output_item.done",
    ]
    forced = sdk.responses.create(
        model="gpt-4o", input="hi there", tools=[files], tool_choice={"type": "file_search"}
    )
    assert forced.output[0].type == "file_search_call"
    small = sdk.responses.create(model="gpt-4o", input="hi there", tools=[files])
    assert [item.type for item in small.output] == ["message"]


def test_a_function_of_the_same_name_is_called_as_a_function(server: RunningServer) -> None:
    """A function the request names `web_search` beside the built-in is called as itself."""
    own = {**WEATHER_TOOL, "name": "web_search", "description": "Search the web for news."}
    response = client(server).responses.create(
        model="gpt-4o",
        input="What is the latest news about lighthouses today?",
        tools=[SEARCH_TOOL, own],
        tool_choice={"type": "function", "name": "web_search"},
    )
    assert [item.type for item in response.output] == ["function_call"]


def test_rules_ask_for_built_in_and_custom_tools_by_name(server: RunningServer) -> None:
    """A rule's `tools` condition names a built-in tool by its type (a dated version by its
    family too) and a custom tool by its name."""
    sdk = client(server)
    files = {"type": "file_search", "vector_store_ids": ["vs_1"]}
    patch = {"type": "custom", "name": "apply_patch", "description": "Apply a patch."}
    for tools, said in (
        ([files], "file search offered"),
        ([{"type": "web_search_preview_2025_03_11"}, patch], "web search and apply_patch offered"),
    ):
        answer = sdk.responses.create(model="gpt-4o", input="which tools?", tools=tools)
        assert answer.output_text == said


class Person(BaseModel):
    name: str
    age: int
    email: str


def test_parse_with_a_pydantic_model(server: RunningServer) -> None:
    parsed = client(server).responses.parse(
        model="gpt-4o", input="Extract the person: Jane, 41, jane@example.com", text_format=Person
    )
    person = parsed.output_parsed
    assert isinstance(person, Person) and person.name and person.age >= 0


def test_previous_response_id_puts_earlier_turns_first(server: RunningServer) -> None:
    sdk = client(server)
    first = sdk.responses.create(model="gpt-4o-mini", input="Hi, my name is Ada.")
    second = sdk.responses.create(
        model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id
    )
    assert second.output_text == "Your name is Ada."
    alone = sdk.responses.create(model="gpt-4o-mini", input="What is my name?")
    assert alone.output_text != "Your name is Ada."


def test_max_output_tokens_makes_it_incomplete(server: RunningServer) -> None:
    response = client(server).responses.create(
        model="gpt-4o-mini", input="Tell me a long story about lighthouses", max_output_tokens=16
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == 16
    raw = post(
        server,
        {"model": "gpt-4o-mini", "input": "Tell me a story", "max_output_tokens": 16,
         "stream": True},
    )  # fmt: skip
    assert events(raw.content)[-1][0] == "response.incomplete"


def test_stored_response_retrieve_items_and_delete(server: RunningServer) -> None:
    sdk = client(server)
    first = sdk.responses.create(model="gpt-4o-mini", input="Can I get a refund?")
    assert sdk.responses.retrieve(first.id).model_dump() == first.model_dump()
    items = list(sdk.responses.input_items.list(first.id))
    assert [(i.type, i.role) for i in items] == [("message", "user")]  # type: ignore[union-attr]
    assert items[0].content[0].text == "Can I get a refund?"  # type: ignore[union-attr]
    sdk.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.retrieve(first.id)
    assert caught.value.body["message"] == f"Response with id '{first.id}' not found."  # type: ignore[index]
    unstored = sdk.responses.create(model="gpt-4o-mini", input="Can I get a refund?", store=False)
    assert unstored.store is False
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(unstored.id)


def test_input_items_page_in_either_order(server: RunningServer) -> None:
    sdk = client(server)
    response = sdk.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    )
    newest_first = sdk.responses.input_items.list(response.id)
    assert [i.content[0].text for i in newest_first] == ["three", "two", "one"]  # type: ignore[union-attr]
    page = sdk.responses.input_items.list(response.id, order="asc", limit=2)
    assert [i.content[0].text for i in page.data] == ["one", "two"]  # type: ignore[union-attr]
    assert page.has_more is True
    raw = httpx.get(
        f"{server.base_url}/responses/{response.id}/input_items",
        params={"limit": 500},
        headers={"authorization": "Bearer sk-test"},
    )
    assert raw.status_code == 400 and raw.json()["error"]["param"] == "limit"


def test_previous_response_not_found_is_refused(server: RunningServer) -> None:
    raw = post(server, {"model": "gpt-4o", "input": "hi", "previous_response_id": "resp_nope"})
    assert raw.status_code == 400
    assert raw.json()["error"] == {
        "message": "Previous response with id 'resp_nope' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "gpt-4o"}, "input"),
        ({"model": "gpt-4o", "input": 5}, "input"),
        ({"model": "gpt-4o", "input": [{"role": "robot", "content": "hi"}]}, "input[0]"),
        (
            {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "bogus"}]}]},
            "input[0].content[0].type",
        ),
        ({"model": "gpt-4o", "input": "hi", "max_output_tokens": 5}, "max_output_tokens"),
        ({"model": "gpt-4o", "input": "hi", "temperature": 3}, "temperature"),
        ({"model": "gpt-4o", "input": "hi", "tools": [{"type": "file_search"}]},
         "tools[0].vector_store_ids"),
        ({"model": "gpt-4o", "input": "hi", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"model": "gpt-4o", "input": "hi", "text": {"format": {"type": "json_schema"}}},
         "text.format.name"),
        ({"model": "gpt-4o", "input": "hi", "text": {"format": {"type": "json_object"}}}, "input"),
        ({"model": "gpt-4o", "input": "hi", "tool_choice": {"type": "function", "name": "x"}},
         "tool_choice"),
        ({"model": "gpt-4o", "input": "hi", "reasoning": {"effort": "huge"}}, "reasoning.effort"),
    ],
)  # fmt: skip
def test_bad_requests_name_the_field(server: RunningServer, body: dict[str, Any], param: str):
    raw = post(server, body)
    assert raw.status_code == 400, raw.text
    error = raw.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    check("ErrorResponse", raw.json())


def test_malformed_json_is_a_400(server: RunningServer) -> None:
    raw = httpx.post(f"{server.base_url}/responses", content=b"{nope", timeout=5)
    assert raw.status_code == 400
    assert "could not parse the JSON body" in raw.json()["error"]["message"]


def test_rules_can_tell_the_families_apart(server: RunningServer) -> None:
    sdk = client(server)
    assert sdk.responses.create(model="m", input="which family?").output_text == "responses"
    chat = sdk.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "which family?"}]
    )
    assert chat.choices[0].message.content == "chat"
    entry = journal(server.url)[-2]
    assert entry["api"] == "responses" and entry["path"] == "/v1/responses"
    assert entry["rule"] == "extra.yaml#responses-only"


def test_429_then_success_is_retried_by_the_sdk(server: RunningServer) -> None:
    httpx.post(f"{server.url}/__admin/reset", timeout=5)
    response = client(server, max_retries=2).responses.create(model="flaky-responses", input="x")
    assert response.output_text == "third time lucky"
    statuses = [e["status"] for e in journal(server.url) if e["model"] == "flaky-responses"]
    assert statuses == [429, 200]


def test_scripted_500_raises_the_sdk_class(server: RunningServer) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client(server).responses.create(model="broken-responses", input="x")
    assert caught.value.status_code == 500


def test_disconnect_mid_stream_breaks_the_sdk_stream(server: RunningServer) -> None:
    got: list[str] = []
    with pytest.raises((openai.APIConnectionError, httpx.RemoteProtocolError)):
        with client(server).responses.stream(model="cut-responses", input="x") as s:
            for event in s:
                if event.type == "response.output_text.delta":
                    got.append(event.delta)
    assert "".join(got) == "one two three"


def test_in_band_failure_ends_with_response_failed(server: RunningServer) -> None:
    raw = post(server, {"model": "failing-responses", "input": "x", "stream": True})
    parsed = events(raw.content)
    deltas = [d["delta"] for n, d in parsed if n == "response.output_text.delta"]
    assert deltas == ["one", " two"]
    name, data = parsed[-1]
    assert name == "response.failed"
    assert data["response"]["status"] == "failed"
    assert data["response"]["error"] == {"code": "server_error", "message": "the model broke"}
    check("ResponseStreamEvent", data)


def test_malformed_event_fails_the_sdk_parse(server: RunningServer) -> None:
    with pytest.raises(json.JSONDecodeError):
        with client(server).responses.stream(model="garbled-responses", input="x") as s:
            for _ in s:
                pass


def test_strict_miss_names_near_misses(tmp_path: Path) -> None:
    rules = write_scenario(
        tmp_path, "version: 1\nrules:\n  - name: only\n    match: { model: gpt-4o, api: chat }\n"
        "    reply: { content: hi }\n",
    )  # fmt: skip
    running = start_server("--scenarios", str(rules), "--strict", tmp_path=tmp_path)
    try:
        raw = post(running, {"model": "gpt-4o", "input": "hello"})
        assert raw.status_code == 404
        error = raw.json()["error"]
        assert error["code"] == "no_matching_rule"
        assert "rules.yaml#only failed: api: 'responses' is not 'chat'" in error["message"]
    finally:
        running.stop()


def test_keys_and_rate_limits_apply_to_responses(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - { key: sk-good, rpm: 2 }\n")
    running = start_server("--keys", str(keys), tmp_path=tmp_path)
    try:
        with pytest.raises(openai.AuthenticationError):
            OpenAI(base_url=running.base_url, api_key="sk-bad", max_retries=0).responses.create(
                model="gpt-4o", input="hi"
            )
        good = OpenAI(base_url=running.base_url, api_key="sk-good", max_retries=0)
        raw = good.responses.with_raw_response.create(model="gpt-4o", input="hi")
        assert raw.headers["x-ratelimit-remaining-requests"] == "1"
        good.responses.create(model="gpt-4o", input="hi")
        with pytest.raises(openai.RateLimitError) as caught:
            good.responses.create(model="gpt-4o", input="hi")
        assert caught.value.response.headers["retry-after"]
    finally:
        running.stop()


def test_same_request_same_bytes(server: RunningServer) -> None:
    body = {"model": "gpt-4o-mini", "input": "Tell me about lighthouses", "stream": True}
    assert post(server, body).content == post(server, body).content


def test_async_client(server: RunningServer) -> None:
    async def main() -> tuple[str, str]:
        async with AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as sdk:
            whole = await sdk.responses.create(model="gpt-4o-mini", input="Can I get a refund?")
            parts = []
            stream = await sdk.responses.create(
                model="gpt-4o-mini", input="Can I get a refund?", stream=True
            )
            async for event in stream:
                if event.type == "response.output_text.delta":
                    parts.append(event.delta)
            return whole.output_text, "".join(parts)

    assert asyncio.run(main()) == (REFUND, REFUND)


def test_a_response_that_failed_is_stored_as_failed(server: RunningServer) -> None:
    raw = post(server, {"model": "failing-responses", "input": "x", "stream": True})
    response_id = events(raw.content)[0][1]["response"]["id"]
    stored = client(server).responses.retrieve(response_id)
    assert stored.status == "failed"
    assert stored.error is not None and stored.error.message == "the model broke"


RESPONSES_BOUNDS = [
    # (fields added to a Responses request, the param named, the code)
    ({"prompt_cache_retention": "in-memory"}, "prompt_cache_retention", "invalid_value"),
    ({"safety_identifier": "u" * 65}, "safety_identifier", "string_above_max_length"),
    ({"context_management": []}, "context_management", "empty_array"),
    ({"prompt": {"version": "2"}}, "prompt.id", "missing_required_parameter"),
    ({"tools": [{"type": "web_search", "search_context_size": "huge"}]},
     "tools[0].search_context_size", "invalid_value"),
    ({"input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "ultra"}]}]},
     "input[0].content[0].detail", "invalid_value"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "param", "code"), RESPONSES_BOUNDS)
def test_fields_past_the_openapi_documents_bounds_are_refused(
    server: RunningServer, fields: dict[str, Any], param: str, code: str
) -> None:
    answer = post(server, {"model": "gpt-4o", "input": "hi", **fields})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == (param, code), error


def test_prompt_cache_retention_is_taken_and_echoed(server: RunningServer) -> None:
    """'in_memory' and '24h' are the API's values (the hyphen is refused: "Invalid value:
    'in-memory'. Supported values are: 'in_memory' and '24h'.", pydantic/pydantic-ai issue
    4028), and the response object says which the request asked for."""
    sdk = client(server)
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.responses.create(model="gpt-4o", input="hi", prompt_cache_retention="in-memory")  # type: ignore[arg-type]
    assert refused.value.body["message"] == (
        "Invalid value: 'in-memory'. Supported values are: 'in_memory' and '24h'."
    )
    kept = sdk.responses.create(model="gpt-4o", input="hi", prompt_cache_retention="24h")
    assert kept.prompt_cache_retention == "24h"
    assert sdk.responses.retrieve(kept.id).prompt_cache_retention == "24h"
    assert sdk.responses.create(model="gpt-4o", input="hi").prompt_cache_retention is None
    image = {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "original"}
    sdk.responses.create(
        model="gpt-4o",
        input=[{"role": "user", "content": [image]}],  # type: ignore[list-item]
        tools=[{"type": "web_search", "search_context_size": "low"}],
        safety_identifier="u" * 64,
    )
