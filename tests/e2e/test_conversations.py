"""OpenAI's Conversations API through the official SDK: conversations and their items,
and Responses API requests that continue one (`conversation`)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import RunningServer, start_server

from .helpers import RESPONSES_WEATHER, openai_sdk

WEATHER = RESPONSES_WEATHER


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server("--seed", "4", tmp_path=tmp_path_factory.mktemp("conversations"))
    yield running
    running.stop()


def test_a_conversation_keeps_what_its_responses_said(server: RunningServer) -> None:
    client = openai_sdk(server)
    made = client.conversations.create(
        items=[{"role": "user", "content": "I am planning a trip."}], metadata={"topic": "travel"}
    )
    assert made.id.startswith("conv_") and made.metadata == {"topic": "travel"}
    first = client.responses.create(
        model="gpt-4o", input="What is the weather in Paris?", conversation=made.id, tools=[WEATHER]
    )
    assert first.conversation is not None and first.conversation.id == made.id
    call = first.output[0]
    assert call.type == "function_call"
    second = client.responses.create(
        model="gpt-4o",
        conversation={"id": made.id},
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C"}],
    )
    assert "18C" in second.output_text
    items = client.conversations.items.list(made.id, order="asc").data
    assert [i.type for i in items] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert items[2].id == call.id
    newest = client.conversations.items.list(made.id, limit=1)
    assert newest.data[0].id == items[-1].id and newest.has_more
    one = client.conversations.items.retrieve(items[0].id, conversation_id=made.id)
    assert one.id == items[0].id


def test_a_conversation_is_updated_and_deleted(server: RunningServer) -> None:
    client = openai_sdk(server)
    made = client.conversations.create()
    assert client.conversations.retrieve(made.id).metadata == {}
    assert client.conversations.update(made.id, metadata={"k": "v"}).metadata == {"k": "v"}
    added = client.conversations.items.create(
        made.id, items=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    )
    assert len(added.data) == 2
    client.conversations.items.delete(added.data[0].id, conversation_id=made.id)
    assert [i.id for i in client.conversations.items.list(made.id).data] == [added.data[1].id]
    gone = client.conversations.delete(made.id)
    assert (gone.deleted, gone.object) == (True, "conversation.deleted")
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.retrieve(made.id)
    assert caught.value.body["message"] == f"Conversation with id '{made.id}' not found."


def test_responses_refuse_an_unknown_or_doubled_conversation(server: RunningServer) -> None:
    client = openai_sdk(server)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-4o", input="Hi", conversation="conv_nope")
    assert caught.value.body["param"] is None  # as the API names it: not at all
    made = client.conversations.create()
    earlier = client.responses.create(model="gpt-4o", input="Hi")
    with pytest.raises(openai.BadRequestError) as doubled:
        client.responses.create(
            model="gpt-4o", input="Hi", conversation=made.id, previous_response_id=earlier.id
        )
    assert doubled.value.body["code"] == "mutually_exclusive_parameters"


def test_items_added_at_once_all_land(server: RunningServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = openai_sdk(server)
    made = client.conversations.create()

    def add(i: int) -> None:
        client.conversations.items.create(made.id, items=[{"role": "user", "content": f"{i}"}])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(30)))
    items = client.conversations.items.list(made.id, limit=100).data
    assert sorted(int(i.content[0].text) for i in items) == list(range(30))


def test_items_are_listed_in_the_apis_shapes(server: RunningServer) -> None:
    client = openai_sdk(server)
    first = client.responses.create(
        model="gpt-4o",
        input=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
    )
    call = first.output[0]
    made = client.conversations.create(
        items=[
            {"type": "item_reference", "id": call.id},
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "18C."}]},
        ]
    )
    items = client.conversations.items.list(made.id, order="asc").data
    assert (items[0].type, items[0].id) == ("function_call", call.id)
    assert items[1].type == "function_call_output" and items[1].status == "completed"
    assert items[2].content[0].annotations == []
    with pytest.raises(openai.NotFoundError):
        client.conversations.create(items=[{"type": "item_reference", "id": "fc_nope"}])


def test_unknown_arguments_are_refused_as_the_api_refuses_them(
    server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The Conversations API's bodies (`items`, `metadata`) and a stored completion's update
    (`metadata`): another argument is refused in the family's words, as their create
    requests refuse one; `--lenient` takes it."""
    client = openai_sdk(server)
    made = client.conversations.create()
    stored = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], store=True
    )
    calls = [
        lambda: client.conversations.create(extra_body={"title": "x"}),
        lambda: client.conversations.update(made.id, metadata={}, extra_body={"title": "x"}),
        lambda: client.conversations.items.create(made.id, items=[], extra_body={"title": "x"}),
    ]
    for call in calls:
        with pytest.raises(openai.BadRequestError) as caught:
            call()
        assert caught.value.body == {
            "message": "Unknown parameter: 'title'.",
            "type": "invalid_request_error",
            "param": "title",
            "code": "unknown_parameter",
        }
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.update(stored.id, metadata={}, extra_body={"title": "x"})
    assert caught.value.body["message"] == "Unrecognized request argument supplied: title"
    lenient = start_server("--lenient", tmp_path=tmp_path_factory.mktemp("lenient"))
    try:
        taken = openai_sdk(lenient).conversations.create(extra_body={"title": "x"})
        assert taken.id.startswith("conv_")
    finally:
        lenient.stop()


def test_an_item_added_after_a_delete_gets_an_id_of_its_own(server: RunningServer) -> None:
    client = openai_sdk(server)
    made = client.conversations.create(
        items=[{"role": "user", "content": word} for word in ("one", "two", "three")]
    )
    first, *_ = client.conversations.items.list(made.id, order="asc").data
    client.conversations.items.delete(first.id, conversation_id=made.id)
    client.conversations.items.create(made.id, items=[{"role": "user", "content": "four"}])
    client.responses.create(model="gpt-4o", input="five", conversation=made.id)
    items = client.conversations.items.list(made.id, order="asc").data
    ids = [item.id for item in items]
    assert len(items) == 5 and len(set(ids)) == 5 and first.id not in ids
    four = client.conversations.items.retrieve(ids[2], conversation_id=made.id)
    assert four.type == "message" and four.content[0].text == "four"  # type: ignore[union-attr]


def test_the_same_input_again_continues_the_conversation_as_it_now_is(tmp_path) -> None:
    """The same body sent to a conversation three times is three turns: each answer reads
    the conversation as it has grown, and has ids of its own (one process or another
    answers it the same)."""
    (tmp_path / "turns.yaml").write_text(
        "version: 1\nrules:\n  - name: turns\n    match: { last_user: { contains: again } }\n"
        "    reply: { content: 'turn {{ turn }} of {{ messages | length }} messages' }\n"
    )
    server = start_server("--scenarios", str(tmp_path / "turns.yaml"), tmp_path=tmp_path)
    try:
        client = openai_sdk(server)
        made = client.conversations.create(items=[{"role": "user", "content": "hello"}])
        answers = [
            client.responses.create(model="gpt-4o", input="again", conversation=made.id)
            for _ in range(3)
        ]
        assert [a.output_text for a in answers] == [
            "turn 2 of 2 messages",
            "turn 3 of 4 messages",
            "turn 4 of 6 messages",
        ]
        assert len({a.id for a in answers}) == 3
        items = client.conversations.items.list(made.id, order="asc").data
        assert len(items) == 7 and len({i.id for i in items}) == 7
    finally:
        server.stop()
