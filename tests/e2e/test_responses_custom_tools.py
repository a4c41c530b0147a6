"""Custom tools (free-form input, `{"type": "custom", "name": …}`) on the Responses API,
through the official SDK: a rule's call of one is a `custom_tool_call` item with its
`input`, streamed as `response.custom_tool_call_input.*` events, and the client's
`custom_tool_call_output` continues the conversation. A tool choice naming a custom or
built-in tool the request does not offer is refused, as the API refuses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai.types.responses import (
    Response,
    ResponseCustomToolCall,
    ResponseItemList,
    ResponseStreamEvent,
)
from pydantic import TypeAdapter

from tests.openai_schemas import check

from ..conftest import RunningServer, start_server
from .helpers import openai_sdk, write_scenario

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
APPLY_PATCH = {"type": "custom", "name": "apply_patch", "description": "Apply a patch."}
RULES = f"""\
version: 1
rules:
  - name: patch
    match: {{ last_user: {{ contains: "add hello.txt" }}, last_message: {{ role: user }} }}
    reply:
      tool_calls:
        - name: apply_patch
          arguments: {json.dumps(PATCH)}
  - name: patched
    match: {{ last_message: {{ role: tool, content: {{ contains: "Done!" }} }} }}
    reply: {{ content: "The file is added." }}
"""
FILE_SEARCH = {"type": "file_search", "vector_store_ids": ["vs_1"]}
COMPUTER = {"type": "computer_use_preview", "display_width": 1024, "display_height": 768,
            "environment": "browser"}  # fmt: skip
EVENTS = TypeAdapter(ResponseStreamEvent)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("custom-tools")
    rules = write_scenario(tmp, RULES)
    running = start_server("--scenarios", str(rules), "--freeze-time", "1700000000", tmp_path=tmp)
    yield running
    running.stop()


def _post(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/responses",
        json=body,
        headers={"authorization": "Bearer sk-test"},
        timeout=10,
    )


def test_a_call_of_a_custom_tool_is_a_custom_tool_call_item(server: RunningServer) -> None:
    raw = _post(
        server, {"model": "gpt-4o", "input": "Please add hello.txt", "tools": [APPLY_PATCH]}
    )
    assert raw.status_code == 200, raw.text
    body = raw.json()
    check("Response", body)  # CustomToolCall: type, call_id, name, input
    call = body["output"][0]
    assert list(call) == ["id", "type", "status", "call_id", "input", "name"]
    assert call["type"] == "custom_tool_call" and call["status"] == "completed"
    assert call["id"].startswith("ctc_") and call["call_id"].startswith("call_")
    assert (call["name"], call["input"]) == ("apply_patch", PATCH)
    parsed = Response.model_validate(body).output[0]
    assert isinstance(parsed, ResponseCustomToolCall) and parsed.input == PATCH


def test_a_streamed_custom_tool_call_sends_its_input_in_pieces(server: RunningServer) -> None:
    body = {"model": "gpt-4o", "input": "Please add hello.txt", "tools": [APPLY_PATCH]}
    raw = _post(server, {**body, "stream": True})
    events = []
    for block in raw.content[:-2].split(b"\n\n"):
        head, data = block.split(b"\n")
        payload = json.loads(data[len(b"data: ") :])
        assert head == b"event: " + payload["type"].encode()
        EVENTS.validate_python(payload)
        check("ResponseStreamEvent", payload)
        events.append(payload)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"] == {
        **events[-1]["response"]["output"][0],
        "status": "in_progress",
        "input": "",
    }
    item_id = added["item"]["id"]
    deltas = [e for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    assert deltas and {(e["item_id"], e["output_index"]) for e in deltas} == {(item_id, 0)}
    assert "".join(e["delta"] for e in deltas) == PATCH
    (done,) = [e for e in events if e["type"] == "response.custom_tool_call_input.done"]
    assert (done["item_id"], done["output_index"], done["input"]) == (item_id, 0, PATCH)
    assert not [e for e in events if e["type"].startswith("response.function_call")]
    final = events[-1]["response"]
    stored = httpx.get(
        f"{server.base_url}/responses/{final['id']}", headers={"authorization": "Bearer x"}
    )
    assert stored.json() == final

    with openai_sdk(server).responses.stream(**body) as stream:  # type: ignore[arg-type]
        for _ in stream:
            pass
        answer = stream.get_final_response()
    assert answer.output[0].type == "custom_tool_call" and answer.output[0].input == PATCH


def test_the_tool_output_continues_the_conversation(server: RunningServer) -> None:
    sdk = openai_sdk(server)
    tools: Any = [APPLY_PATCH]
    first = sdk.responses.create(model="gpt-4o", input="Please add hello.txt", tools=tools)
    call = first.output[0]
    assert isinstance(call, ResponseCustomToolCall)
    output: Any = [{"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Done!"}]
    second = sdk.responses.create(
        model="gpt-4o", previous_response_id=first.id, tools=tools, input=output
    )
    assert second.output_text == "The file is added."
    # Statelessly too: the call sent back by value before its output.
    again = sdk.responses.create(
        model="gpt-4o",
        store=False,
        tools=tools,
        input=[
            {"role": "user", "content": "Please add hello.txt"},
            call.model_dump(exclude_none=True),  # type: ignore[list-item]
            *output,
        ],
    )
    assert again.output_text == "The file is added."


@pytest.mark.parametrize(
    ("tool_choice", "tools", "named"),
    [
        ({"type": "custom", "name": "apply_patch"}, [], "apply_patch"),
        ({"type": "custom", "name": "apply_pach"}, [APPLY_PATCH], "apply_pach"),
        # The API's words, as agent tools quote them for a built-in tool not offered.
        ({"type": "image_generation"}, [APPLY_PATCH], "image_generation"),
        ({"type": "web_search_preview"}, [FILE_SEARCH], "web_search_preview"),
    ],
)
def test_a_tool_choice_of_a_tool_not_offered_is_refused(
    server: RunningServer, tool_choice: dict[str, Any], tools: list[Any], named: str
) -> None:
    raw = _post(
        server,
        {"model": "gpt-4o", "input": "Hi.", "tools": tools, "tool_choice": tool_choice},
    )
    assert raw.status_code == 400
    assert raw.json() == {
        "error": {
            "message": f"Tool choice '{named}' not found in 'tools' parameter.",
            "type": "invalid_request_error",
            "param": "tool_choice",
            "code": None,
        }
    }


@pytest.mark.parametrize(
    ("tool_choice", "tools"),
    [
        ({"type": "custom", "name": "apply_patch"}, [APPLY_PATCH]),
        ({"type": "image_generation"}, [{"type": "image_generation"}]),
        ({"type": "web_search_preview"}, [{"type": "web_search_preview"}]),
        ({"type": "computer_use_preview"}, [COMPUTER]),
        ({"type": "web_search_preview"}, [{"type": "web_search_preview_2025_03_11"}]),
    ],
)
def test_a_tool_choice_of_a_tool_offered_is_taken(
    server: RunningServer, tool_choice: dict[str, Any], tools: list[Any]
) -> None:
    raw = _post(
        server,
        {"model": "gpt-4o", "input": "Hi.", "tools": tools, "tool_choice": tool_choice},
    )
    assert raw.status_code == 200, raw.text
    assert raw.json()["tool_choice"] == tool_choice


@pytest.mark.parametrize("tools", [None, []])
def test_a_required_tool_choice_without_tools_is_refused(
    server: RunningServer, tools: list[Any] | None
) -> None:
    body: dict[str, Any] = {"model": "gpt-4o", "input": "Hi.", "tool_choice": "required"}
    if tools is not None:
        body["tools"] = tools
    raw = _post(server, body)
    assert raw.status_code == 400
    assert raw.json()["error"] == {
        # The API's words, as agent tools quote them (a Codex backend that dropped the
        # request's only tool answered so).
        "message": "Tool choice 'required' must be specified with 'tools' parameter.",
        "type": "invalid_request_error",
        "param": "tool_choice",
        "code": None,
    }


def test_input_items_list_a_custom_tool_call_and_its_output(server: RunningServer) -> None:
    """As the API returns items: each with its `status` (required of a custom tool call's
    item and of its output's, as of a function call's), the call's id a `ctc_…`."""
    sdk = openai_sdk(server)
    asked: Any = [
        {"role": "user", "content": "Please add hello.txt"},
        {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": PATCH},
        {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Done!"},
    ]
    answer = sdk.responses.create(model="gpt-4o", input=asked, tools=[APPLY_PATCH])  # type: ignore[list-item]
    raw = httpx.get(
        f"{server.base_url}/responses/{answer.id}/input_items",
        params={"order": "asc"},
        headers={"authorization": "Bearer x"},
    ).json()
    check("ResponseItemList", raw)
    listed = ResponseItemList.model_validate(raw).data
    assert [(i.type, i.status) for i in listed] == [  # type: ignore[union-attr]
        ("message", "completed"),
        ("custom_tool_call", "completed"),
        ("custom_tool_call_output", "completed"),
    ]
    assert listed[1].id.startswith("ctc_")
    assert [(i.call_id, i.input) for i in listed[1:2]] == [("call_1", PATCH)]  # type: ignore[union-attr]
