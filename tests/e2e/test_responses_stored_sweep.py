"""The Responses API's stored objects as the API serves them: a stored response's input
items (every item type the API takes, listed with the fields its item resources require),
their pages, and a conversation's items, through the official SDK and raw HTTP against a
real server, checked with the SDK's types and OpenAI's OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai.types.conversations import ConversationItem
from openai.types.responses import ResponseItem
from pydantic import TypeAdapter

from tests.conftest import RunningServer, start_server
from tests.openai_schemas import check

from .helpers import openai_sdk


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server("--seed", "7", tmp_path=tmp_path_factory.mktemp("stored"))
    yield running
    running.stop()


# Input items as clients send them: without the id and the fields the API fills in.
SENT_ITEMS: list[dict[str, Any]] = [
    {"role": "user", "content": "Take a screenshot."},
    {
        "type": "computer_call",
        "id": "cu_1",
        "call_id": "call_screen",
        "action": {"type": "screenshot"},
        "pending_safety_checks": [],
        "status": "completed",
    },
    {
        "type": "computer_call_output",
        "call_id": "call_screen",
        "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,AAAA"},
    },
    {"type": "shell_call", "call_id": "call_shell", "action": {"commands": ["ls"]}},
    {
        "type": "shell_call_output",
        "call_id": "call_shell",
        "output": [
            {"stdout": "a.txt\n", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}
        ],
    },
    {"type": "tool_search_call", "call_id": "call_search", "arguments": {"query": "mail"}},
    {"type": "tool_search_output", "call_id": "call_search", "tools": []},
    {"role": "user", "content": "What now?"},
]


def test_every_input_item_is_listed_as_the_api_lists_it(server: RunningServer) -> None:
    """Items sent without the status (and the nullable fields) their item resources
    require are listed with them: status completed ("Populated when input items are
    returned via API", the OpenAPI document), a shell call's environment and its action's
    limits null, a shell output's max_output_length null, a tool search's execution
    server (its default) and call_id null when none was sent."""
    client = openai_sdk(server)
    answer = client.responses.create(model="gpt-4o", input=SENT_ITEMS)  # type: ignore[arg-type]
    listed = client.responses.input_items.list(answer.id, order="asc", limit=100)
    assert [item.type for item in listed.data] == [
        item.get("type", "message") for item in SENT_ITEMS
    ]
    items = [item.model_dump(mode="json", exclude_unset=True) for item in listed.data]
    for item in items:
        TypeAdapter(ResponseItem).validate_python(item)
        check("ItemResource", item)
    by_type = {item["type"]: item for item in items}
    assert by_type["computer_call_output"]["status"] == "completed"
    assert by_type["shell_call"]["status"] == "completed"
    assert by_type["shell_call"]["environment"] is None
    assert by_type["shell_call"]["action"] == {
        "commands": ["ls"],
        "timeout_ms": None,
        "max_output_length": None,
    }
    assert by_type["shell_call_output"]["status"] == "completed"
    assert by_type["shell_call_output"]["max_output_length"] is None
    for kind in ("tool_search_call", "tool_search_output"):
        assert by_type[kind]["status"] == "completed"
        assert by_type[kind]["execution"] == "server"
        assert by_type[kind]["call_id"] == "call_search"
    made = client.conversations.create(items=SENT_ITEMS)  # type: ignore[arg-type]
    kept = client.conversations.items.list(made.id, order="asc").data
    for item in kept:
        dumped = item.model_dump(mode="json", exclude_unset=True)
        TypeAdapter(ConversationItem).validate_python(dumped)
        check("ItemResource", dumped)


def test_items_sent_with_a_null_id_or_status_are_listed_with_their_own(
    server: RunningServer,
) -> None:
    """The input params take `"id": null` and `"status": null` (the OpenAPI document's
    FunctionCallOutputItemParam, ComputerCallOutputItemParam; a client dumping the SDK's
    models without dropping None sends them): the item is listed with an id of its own
    and status completed, as one sent without them, never with a null id."""
    client = openai_sdk(server)
    sent: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": "Weather?", "status": None},
        {
            "type": "function_call",
            "call_id": "call_w",
            "name": "get_weather",
            "arguments": "{}",
            "id": None,
            "status": None,
        },
        {
            "type": "function_call_output",
            "call_id": "call_w",
            "output": "18C",
            "id": None,
            "status": None,
        },
        {"role": "user", "content": "Thanks."},
    ]
    answer = client.responses.create(model="gpt-4o", input=sent)  # type: ignore[arg-type]
    listed = client.responses.input_items.list(answer.id, order="asc").data
    for item in listed:
        dumped = item.model_dump(mode="json", exclude_unset=True)
        TypeAdapter(ResponseItem).validate_python(dumped)
        check("ItemResource", dumped)
        assert dumped["status"] == "completed"
    ids = [item.id for item in listed]
    assert all(ids) and len(set(ids)) == len(ids)
    assert [i[:3] for i in ids] == ["msg", "fc_", "fc_", "msg"]
    made = client.conversations.create(items=sent)  # type: ignore[arg-type]
    kept = client.conversations.items.list(made.id, order="asc").data
    assert all(item.id for item in kept)  # type: ignore[union-attr]
    first = kept[1].id  # type: ignore[union-attr]
    assert client.conversations.items.retrieve(first, conversation_id=made.id).id == first  # type: ignore[union-attr]


def test_an_assistant_messages_phase_is_kept_in_the_listing(server: RunningServer) -> None:
    """`phase` labels an assistant message commentary or final_answer, and clients are to
    "preserve and resend phase on all assistant messages" (the OpenAPI document's
    MessagePhase); the item resource an assistant message is listed as (OutputMessage)
    carries it, so the listing (and a conversation, which feeds its items back to the
    model) keeps it as sent."""
    client = openai_sdk(server)
    sent: list[dict[str, Any]] = [
        {"role": "user", "content": "Fix the bug."},
        {"type": "message", "role": "assistant", "content": "Looking.", "phase": "commentary"},
        {"role": "assistant", "content": "Fixed.", "phase": "final_answer"},
        {"role": "user", "content": "Thanks."},
    ]
    answer = client.responses.create(model="gpt-4o", input=sent)  # type: ignore[arg-type]
    listed = client.responses.input_items.list(answer.id, order="asc").data
    assert [getattr(item, "phase", None) for item in listed] == [
        None,
        "commentary",
        "final_answer",
        None,
    ]
    for item in listed:
        dumped = item.model_dump(mode="json", exclude_unset=True)
        check("ItemResource", dumped)
    made = client.conversations.create(items=sent)  # type: ignore[arg-type]
    kept = client.conversations.items.list(made.id, order="asc").data
    assert [getattr(item, "phase", None) for item in kept][1:3] == ["commentary", "final_answer"]
