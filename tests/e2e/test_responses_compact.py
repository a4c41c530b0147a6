"""`POST /v1/responses/compact` (the SDK's `responses.compact`) and the compaction item it
gives, sent back as input to `POST /v1/responses` and kept in a conversation — through the
official SDK against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai.types.responses import CompactedResponse, ResponseCompactionItem

from tests.conftest import RunningServer, start_server

from .helpers import RESPONSES_WEATHER, journal, openai_sdk, sdk_refusal

SERVED = ("--seed", "5", "--freeze-time", "1700000000")
ASK = {"role": "user", "content": "What is the weather in Paris?"}
# The compacted output's user messages carry `input_text` parts, as the API's do; the
# SDK's output item type expects an assistant's `output_text` there and says so when it
# serializes them back as input.
SDK_SERIALIZES_USER_OUTPUT = pytest.mark.filterwarnings(
    "ignore:Pydantic serializer warnings:UserWarning"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(*SERVED, tmp_path=tmp_path_factory.mktemp("compact"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def lenient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(*SERVED, "--lenient", tmp_path=tmp_path_factory.mktemp("lenient"))
    yield running
    running.stop()


def tool_round(server: RunningServer) -> list[dict[str, Any]]:
    """A conversation with a tool call answered, then the model's answer: its items."""
    client = openai_sdk(server)
    first = client.responses.create(
        model="gpt-4o", input=[ASK], tools=[RESPONSES_WEATHER], tool_choice="required"
    )
    call = next(o for o in first.output if o.type == "function_call")
    items: list[dict[str, Any]] = [
        ASK,
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},
    ]
    second = client.responses.create(model="gpt-4o", input=items, tools=[RESPONSES_WEATHER])
    return [*items, *(o.model_dump(exclude_none=True) for o in second.output)]


def test_compact_keeps_the_user_messages_and_seals_the_rest(server: RunningServer) -> None:
    client = openai_sdk(server)
    history = tool_round(server)
    compacted = client.responses.compact(model="gpt-4o", input=history)
    assert isinstance(compacted, CompactedResponse)
    assert compacted.object == "response.compaction"
    assert compacted.id.startswith("resp_") and compacted.created_at == 1700000000
    user, compaction = compacted.output
    assert user.type == "message" and user.role == "user"
    assert user.id.startswith("msg_") and user.status == "completed"
    assert [p.model_dump(exclude_none=True) for p in user.content] == [
        {"type": "input_text", "text": ASK["content"]}
    ]
    assert isinstance(compaction, ResponseCompactionItem)
    assert compaction.id.startswith("cmp_")
    assert compaction.encrypted_content.startswith("gAAAAAB")
    counted = client.responses.input_tokens.count(model="gpt-4o", input=history)
    usage = compacted.usage
    assert usage.input_tokens == counted.input_tokens
    assert usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    journaled = journal(server.url)[-2]  # the count came after it
    assert journaled["path"] == "/v1/responses/compact" and journaled["status"] == 200


@SDK_SERIALIZES_USER_OUTPUT
def test_a_compacted_conversation_continues(server: RunningServer) -> None:
    """The compaction item read back stands for the items it sealed: the new request's
    input counts as the whole conversation's."""
    client = openai_sdk(server)
    history = tool_round(server)
    compacted = client.responses.compact(model="gpt-4o", input=history)
    follow_up = {"role": "user", "content": "And in Rome?"}
    tools: Any = {"tools": [RESPONSES_WEATHER], "tool_choice": "none"}  # answered in text
    continued = client.responses.create(
        model="gpt-4o", input=[*compacted.output, follow_up], **tools
    )
    whole = client.responses.create(model="gpt-4o", input=[*history, follow_up], **tools)
    assert continued.status == "completed"
    assert continued.usage is not None and whole.usage is not None
    assert continued.usage.input_tokens == whole.usage.input_tokens
    # compacted again, the earlier compaction's items are sealed into the new one
    again = client.responses.compact(
        model="gpt-4o", input=[*compacted.output, follow_up, *map(dump, continued.output)]
    )
    assert [o.type for o in again.output] == ["message", "message", "compaction"]
    deeper = client.responses.input_tokens.count(
        model="gpt-4o", input=[*again.output, {"role": "user", "content": "Thanks."}]
    )
    full = client.responses.input_tokens.count(
        model="gpt-4o",
        input=[
            *history,
            follow_up,
            *map(dump, continued.output),
            {"role": "user", "content": "Thanks."},
        ],
    )
    assert deeper.input_tokens == full.input_tokens


def dump(item: Any) -> dict[str, Any]:
    return item.model_dump(exclude_none=True)  # type: ignore[no-any-return]


def test_compact_reads_a_stored_response(server: RunningServer) -> None:
    client = openai_sdk(server)
    first = client.responses.create(model="gpt-4o", input="Plan a trip to Paris.")
    compacted = client.responses.compact(
        model="gpt-4o",
        previous_response_id=first.id,
        input="And one to Rome.",
        instructions="Be brief.",
    )
    texts = [o.content[0].text for o in compacted.output if o.type == "message"]
    assert texts == ["Plan a trip to Paris.", "And one to Rome."]
    assert compacted.output[-1].type == "compaction"


def test_compact_refuses_as_the_api_does(server: RunningServer) -> None:
    client = openai_sdk(server)
    missing_model = httpx.post(f"{server.base_url}/responses/compact", json={"input": "Hi"})
    assert missing_model.status_code == 400
    assert missing_model.json()["error"] == {
        "message": "Missing required parameter: 'model'.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "missing_required_parameter",
    }
    unknown = sdk_refusal(
        400,
        lambda: client.responses.compact(model="gpt-4o", input="Hi", extra_body={"stream": True}),
    )
    assert unknown == {
        "message": "Unknown parameter: 'stream'.",
        "type": "invalid_request_error",
        "param": "stream",
        "code": "unknown_parameter",
    }
    bad_input = sdk_refusal(
        400,
        lambda: client.responses.compact(model="gpt-4o", input=5),  # type: ignore[arg-type]
    )
    assert bad_input["param"] == "input" and bad_input["code"] == "invalid_type"
    no_input = sdk_refusal(400, lambda: client.responses.compact(model="gpt-4o"))
    assert no_input["message"] == "Missing required parameter: 'input'."
    unknown_previous = sdk_refusal(
        400, lambda: client.responses.compact(model="gpt-4o", previous_response_id="resp_x")
    )
    assert unknown_previous["code"] == "previous_response_not_found"


def test_a_compaction_mockllm_did_not_seal_is_refused(server: RunningServer) -> None:
    client = openai_sdk(server)
    forged = {"type": "compaction", "encrypted_content": "gAAAAABforged"}
    body = sdk_refusal(
        400,
        lambda: client.responses.create(model="gpt-4o", input=[forged, ASK]),  # type: ignore[list-item]
    )
    assert body == {
        "message": "The encrypted content gAAAAABforge… could not be verified.",
        "type": "invalid_request_error",
        "param": "input[0].encrypted_content",
        "code": "invalid_encrypted_content",
    }


@SDK_SERIALIZES_USER_OUTPUT
def test_a_conversation_holds_a_compaction(server: RunningServer) -> None:
    client = openai_sdk(server)
    history = tool_round(server)
    compacted = client.responses.compact(model="gpt-4o", input=history)
    conversation = client.conversations.create(items=[dump(o) for o in compacted.output])
    listed = client.conversations.items.list(conversation.id, order="asc")
    assert [i.type for i in listed.data] == ["message", "compaction"]
    follow_up = {"role": "user", "content": "And in Rome?"}
    continued = client.responses.create(
        model="gpt-4o", tools=[RESPONSES_WEATHER], conversation=conversation.id, input=[follow_up]
    )
    whole = client.responses.create(
        model="gpt-4o", tools=[RESPONSES_WEATHER], input=[*history, follow_up]
    )
    assert continued.usage is not None and whole.usage is not None
    assert continued.usage.input_tokens == whole.usage.input_tokens
    forged = {"type": "compaction", "encrypted_content": "gAAAAABforged"}
    body = sdk_refusal(400, lambda: client.conversations.create(items=[forged]))  # type: ignore[list-item]
    assert body["code"] == "invalid_encrypted_content"


def test_compaction_is_the_same_bytes_for_the_same_body(
    server: RunningServer, lenient: RunningServer
) -> None:
    body = {"model": "gpt-4o", "input": [ASK, {"role": "assistant", "content": "Sunny."}]}
    answers = [
        httpx.post(f"{running.base_url}/responses/compact", json=body)
        for running in (server, server, lenient)
    ]
    assert {a.status_code for a in answers} == {200}
    assert answers[0].content == answers[1].content == answers[2].content
    other = httpx.post(f"{server.base_url}/responses/compact", json={**body, "input": "Hi"})
    assert other.json()["id"] != answers[0].json()["id"]


def test_lenient_takes_what_the_api_refuses(lenient: RunningServer) -> None:
    client = openai_sdk(lenient)
    compacted = client.responses.compact(
        model="gpt-4o", input="Hi", extra_body={"title": "kept aside", "stream": True}
    )
    assert compacted.output[-1].type == "compaction"
    forged = {"type": "compaction", "encrypted_content": "gAAAAABforged"}
    answer = client.responses.create(model="gpt-4o", input=[forged, ASK])  # type: ignore[list-item]
    assert answer.status == "completed"
