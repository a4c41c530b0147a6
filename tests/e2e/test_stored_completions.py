"""Chat Completions' stored completions through the official SDK: a `store: true`
request is kept and listed, retrieved, updated, deleted, and its messages listed."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import RunningServer, start_server

from .helpers import openai_sdk


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server("--seed", "6", tmp_path=tmp_path_factory.mktemp("stored"))
    yield running
    running.stop()


def test_stored_completions_are_kept_listed_and_changed(server: RunningServer) -> None:
    client = openai_sdk(server)
    first = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi there"},
        ],
        store=True,
        metadata={"app": "demo"},
    )
    second = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Another"}], store=True
    )
    unstored = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Not kept"}]
    )
    kept = client.chat.completions.retrieve(first.id)
    assert kept.choices[0].message.content == first.choices[0].message.content
    assert kept.metadata == {"app": "demo"}
    assert [c.id for c in client.chat.completions.list()] == [first.id, second.id]
    assert [c.id for c in client.chat.completions.list(order="desc")] == [second.id, first.id]
    assert [c.id for c in client.chat.completions.list(model="gpt-4o")] == [second.id]
    # Kept as answered, by the dated model; listed by either name.
    assert kept.model == "gpt-4o-mini-2024-07-18"
    assert [c.id for c in client.chat.completions.list(model="gpt-4o-2024-08-06")] == [second.id]
    assert [c.id for c in client.chat.completions.list(metadata={"app": "demo"})] == [first.id]
    messages = client.chat.completions.messages.list(first.id).data
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Be brief."),
        ("user", "Hi there"),
    ]
    assert messages[0].id == f"{first.id}-0"
    assert client.chat.completions.update(first.id, metadata={"app": "x"}).metadata == {"app": "x"}
    gone = client.chat.completions.delete(second.id)
    assert (gone.id, gone.deleted, gone.object) == (second.id, True, "chat.completion.deleted")
    assert [c.id for c in client.chat.completions.list()] == [first.id]
    for missing in (second.id, unstored.id):
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.retrieve(missing)
        assert caught.value.body["message"] == f"Chat completion with id '{missing}' not found."


def test_service_tier_and_tool_fields_are_kept(server: RunningServer) -> None:
    """The answer reports the tier asked for (auto: default), and a stored request's
    tool calls and tool results keep their fields."""
    client = openai_sdk(server)
    flex = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], service_tier="flex"
    )
    assert flex.service_tier == "flex"
    plain = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], service_tier="auto"
    )
    assert plain.service_tier == "default"
    call = {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    kept = client.chat.completions.create(
        model="gpt-4o",
        store=True,
        tools=[{"type": "function", "function": {"name": "f"}}],
        messages=[
            {"role": "user", "content": "use f"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_9", "content": "done"},
        ],
    )
    messages = client.chat.completions.messages.list(kept.id).data
    assert messages[1].tool_calls is not None and messages[1].tool_calls[0].id == "call_9"
    assert messages[2].model_dump().get("tool_call_id") == "call_9"
