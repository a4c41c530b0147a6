"""The Messages API checked against the real API's answers where public reports quote them:
the paths of the validator's refusals, through raw httpx on the module's own server (the
default generator, seed 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic import Anthropic
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from pydantic import BaseModel

from tests.conftest import RunningServer
from tests.e2e.helpers import journal

MODEL = "claude-sonnet-4-5"
HEADERS = {"x-api-key": "sk-ant-audit", "anthropic-version": "2023-06-01"}


def post(server: RunningServer, body: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    return httpx.post(server.url + path, headers=HEADERS, json=body, timeout=10)


def asked(**fields: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hello!"}],
        **fields,
    }


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    return str(error["message"])


def _marked(control: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": control}]}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"system": [{"type": "text", "text": "Be brief.", "cache_control": {
                "type": "ephemeral", "scope": "global"}}]},
            "system.0.cache_control.ephemeral.scope: Extra inputs are not permitted",
        ),
        (
            {"messages": [_marked({"type": "ephemeral", "ttl": "2h"})]},
            "messages.0.content.0.text.cache_control.ephemeral.ttl: Input should be '5m' or '1h'",
        ),
        (
            {"cache_control": {"type": "ephemeral", "ttl": "5m", "scope": "x"}},
            "cache_control.ephemeral.scope: Extra inputs are not permitted",
        ),
        (
            {"messages": [_marked({"type": "persistent", "scope": "x"})]},
            "messages.0.content.0.text.cache_control: Input tag 'persistent' found using 'type' "
            "does not match any of the expected tags: 'ephemeral'",
        ),
    ],
)  # fmt: skip
def test_a_cache_control_field_is_named_under_its_tag(
    server: RunningServer, fields: dict[str, Any], message: str
) -> None:
    """`cache_control` is one member of a tagged union: the API names a field of it under the
    tag (`system.1.cache_control.ephemeral.scope: Extra inputs are not permitted`, quoted in
    github.com/caozhiyuan/copilot-api/issues/145 and zhukunpenglinyutong/jetbrains-cc-gui
    issue 844); an unknown tag is refused before its fields are read."""
    assert refusal(post(server, asked(**fields))) == message


def _loop(use: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """A tool round trip whose blocks are given: the call, then its result."""
    return {
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Look it up."},
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [result]},
        ],
    }


_USE = {"type": "tool_use", "id": "toolu_01A", "name": "lookup", "input": {}}
_RESULT = {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "42"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (_loop({**_USE, "text": "x"}, _RESULT), "messages.1.content.0.tool_use.text"),
        (_loop(_USE, {**_RESULT, "id": "x"}), "messages.2.content.0.tool_result.id"),
        (
            _loop(_USE, {**_RESULT, "content": [{"type": "text", "text": "42", "index": 0}]}),
            "messages.2.content.0.tool_result.content.0.text.index",
        ),
        (
            {"messages": [{"role": "user", "content": [
                {"type": "text", "text": "hi", "index": 0}]}]},
            "messages.0.content.0.text.index",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "source": {
                "type": "url", "url": "https://example.com/a.png"}, "alt": "x"}]}]},
            "messages.0.content.0.image.alt",
        ),
        (
            {"messages": [
                {"role": "user", "content": "Hello!"},
                {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x",
                                                   "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": "Go on."},
            ]},
            "messages.1.content.0.redacted_thinking.cache_control",
        ),
        ({"system": [{"type": "text", "text": "Be brief.", "name": "x"}]}, "system.0.name"),
        (
            {"tools": [{"name": "lookup", "input_schema": {"type": "object"}, "parameters": {}}]},
            "tools.0.custom.parameters",
        ),
    ],
)  # fmt: skip
def test_a_field_a_block_does_not_have_is_refused(
    server: RunningServer, fields: dict[str, Any], message: str
) -> None:
    """A block's fields are those of its type, as the API's validator reads them
    ("messages.65.content.1.tool_use.text: Extra inputs are not permitted",
    github.com/anthropics/claude-code/issues/4378; "messages.1.content.0.thinking.cache_control:
    …", router-for-me/CLIProxyAPI issue 512; "tools.0.custom.defer_loading: …",
    anthropics/claude-code issue 31033)."""
    words = refusal(post(server, asked(**fields)))
    assert words == f"{message}: Extra inputs are not permitted"


def test_blocks_the_sdk_sends_back_are_taken(server: RunningServer) -> None:
    """A message's blocks sent back as the SDK serializes them (`citations`, `caller`), with the
    fields of the betas (`toolset_name`, a tool's `defer_loading` and `input_examples`)."""
    tool = {
        "name": "lookup",
        "input_schema": {"type": "object", "additionalProperties": False},  # strict asks it
        "defer_loading": False,
        "input_examples": [{}],
        "strict": True,
    }
    use = {**_USE, "caller": {"type": "direct"}, "toolset_name": None}
    body = _loop(use, {**_RESULT, "is_error": False, "cache_control": {"type": "ephemeral"}})
    body["tools"] = [tool]
    body["messages"][1]["content"].insert(0, {"type": "text", "text": "On it.", "citations": None})
    answered = post(server, asked(**body))
    assert answered.status_code == 200, answered.text


# --- Message Batches ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def anthropic_client(server: RunningServer) -> Iterator[Anthropic]:
    sdk = Anthropic(base_url=server.url, api_key="sk-ant-audit", max_retries=0)
    yield sdk
    sdk.close()


def _params(text: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        **fields,
    }


def _strict(model: type[BaseModel], data: object) -> None:
    """`data` is an object of the SDK's type, with no field the type does not have."""
    checked = model.model_validate(data)
    assert not checked.model_extra, checked.model_extra


def test_a_batch_is_answered_as_the_messages_api_answers_each_request(
    server: RunningServer, anthropic_client: Anthropic
) -> None:
    """Created `in_progress`, ended when next looked at, its results the messages `POST
    /v1/messages` gives the same requests, a bad request's the error it gives (the API
    validates a batch's params when it answers them); each request is in the journal."""
    before = len(journal(server.url))
    made = httpx.post(
        server.url + "/v1/messages/batches",
        headers=HEADERS,
        json={
            "requests": [
                {"custom_id": "greeting", "params": _params("Hello!")},
                {"custom_id": "no-limit", "params": {"model": MODEL, "messages": []}},
            ]
        },
    )
    assert made.status_code == 200, made.text
    assert made.headers["request-id"].startswith("req_011C")
    answered_here = [(e["path"], e["status"]) for e in journal(server.url)[before:]]
    assert sorted(answered_here) == [
        ("/v1/messages", 200), ("/v1/messages", 400), ("/v1/messages/batches", 200)
    ]  # fmt: skip
    batch = made.json()
    _strict(MessageBatch, batch)
    assert batch["id"].startswith("msgbatch_01") and len(batch["id"]) == 33
    assert batch["processing_status"] == "in_progress" and batch["results_url"] is None
    assert batch["request_counts"] == {
        "processing": 2, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0
    }  # fmt: skip

    ended = anthropic_client.messages.batches.retrieve(batch["id"])
    assert ended.processing_status == "ended" and ended.ended_at is not None
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (1, 1)
    assert ended.results_url == f"{server.url}/v1/messages/batches/{batch['id']}/results"

    raw = httpx.get(ended.results_url, headers=HEADERS).text.splitlines()
    for line in raw:
        _strict(MessageBatchIndividualResponse, json.loads(line))
    results = {
        line.custom_id: line.result
        for line in anthropic_client.messages.batches.results(batch["id"])
    }
    answered = anthropic_client.messages.create(**_params("Hello!"))
    assert results["greeting"].type == "succeeded"
    assert results["greeting"].message.content == answered.content
    assert results["greeting"].message.usage == answered.usage
    assert results["no-limit"].type == "errored"
    assert results["no-limit"].error.error.type == "invalid_request_error"
    assert results["no-limit"].error.error.message == "max_tokens: Field required"
    assert anthropic_client.beta.messages.batches.retrieve(batch["id"]).processing_status == "ended"


def test_a_batch_is_cancelled_listed_and_deleted(anthropic_client: Anthropic) -> None:
    batches = anthropic_client.messages.batches
    first = batches.create(requests=[{"custom_id": "one", "params": _params("Hi")}])
    second = batches.create(requests=[{"custom_id": "two", "params": _params("Hi")}])
    cancelling = batches.cancel(second.id)
    assert cancelling.processing_status == "canceling" and cancelling.cancel_initiated_at
    with pytest.raises(anthropic.BadRequestError):
        batches.delete(first.id)  # in progress: cancelled first, or ended
    listed = batches.list(limit=1)
    assert [b.id for b in listed.data] == [second.id] and listed.has_more
    assert listed.data[0].request_counts.canceled == 1
    assert [b.id for b in batches.list(limit=1, after_id=second.id).data] == [first.id]
    [line] = list(batches.results(second.id))
    assert (line.custom_id, line.result.type) == ("two", "canceled")
    assert batches.delete(second.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError) as missing:
        batches.retrieve(second.id)
    assert missing.value.body["error"] == {"type": "not_found_error", "message": "Not found"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"requests": []}, "requests: List should have at least 1 item after validation, not 0"),
        ({}, "requests: Field required"),
        (
            {"requests": [{"custom_id": "a b", "params": {}}]},
            "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
        ),
        ({"requests": [{"params": {}}]}, "requests.0.custom_id: Field required"),
        ({"requests": [{"custom_id": "a"}]}, "requests.0.params: Field required"),
    ],
)
def test_a_batch_that_is_not_a_list_of_requests_is_refused(
    server: RunningServer, body: dict[str, Any], message: str
) -> None:
    assert refusal(post(server, body, "/v1/messages/batches")) == message


_TOOLS = [{"name": "lookup", "input_schema": {"type": "object"}}]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"thinking": {"type": "enabled", "budget_tokens": 1024, "effort": "high"}},
            "thinking.enabled.effort",
        ),
        (
            {"thinking": {"type": "disabled", "budget_tokens": 1024}},
            "thinking.disabled.budget_tokens",
        ),
        (
            {"thinking": {"type": "adaptive", "budget_tokens": 1024}},
            "thinking.adaptive.budget_tokens",
        ),
        (
            {"tools": _TOOLS, "tool_choice": {"type": "auto", "name": "lookup"}},
            "tool_choice.auto.name",
        ),
        (
            {"tools": _TOOLS, "tool_choice": {"type": "none", "disable_parallel_tool_use": True}},
            "tool_choice.none.disable_parallel_tool_use",
        ),
        (
            {"tools": _TOOLS, "tool_choice": {"type": "tool", "name": "lookup", "strict": True}},
            "tool_choice.tool.strict",
        ),
    ],
)
def test_a_field_thinking_or_tool_choice_does_not_have_is_refused_under_its_type(
    server: RunningServer, fields: dict[str, Any], message: str
) -> None:
    """`thinking` and `tool_choice` are tagged unions: a field the member does not have is
    named under its tag, as the validator names `thinking.enabled.budget_tokens`."""
    words = refusal(post(server, asked(max_tokens=2048, **fields)))
    assert words == f"{message}: Extra inputs are not permitted"


def _sourced(kind: str, source: dict[str, Any]) -> dict[str, Any]:
    block = {"type": kind, "source": source}
    return {"messages": [{"role": "user", "content": [block, {"type": "text", "text": "What?"}]}]}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            _sourced(
                "image", {"type": "url", "url": "https://example.com/a.png", "detail": "high"}
            ),
            "messages.0.content.0.image.source.url.detail",
        ),
        (
            _sourced("image", {"type": "file", "file_id": "file_01", "name": "a.png"}),
            "messages.0.content.0.image.source.file.name",
        ),
        (
            _sourced(
                "document", {"type": "text", "media_type": "text/plain", "data": "x", "title": "t"}
            ),
            "messages.0.content.0.document.source.text.title",
        ),
    ],
)
def test_a_field_a_source_does_not_have_is_refused_under_its_type(
    server: RunningServer, fields: dict[str, Any], message: str
) -> None:
    """An image's or document's `source` is a tagged union too: its fields are named under
    its type, as the API names `…image.source.base64.media_type`."""
    assert refusal(post(server, asked(**fields))) == f"{message}: Extra inputs are not permitted"


@pytest.mark.parametrize("version", ["2023-10-01", "2023-06-01, 2023-06-01", "v1"])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", asked()),
        ("/v1/messages/count_tokens", {"model": MODEL, "messages": asked()["messages"]}),
        ("/v1/messages/batches", {"requests": [{"custom_id": "a", "params": asked()}]}),
    ],
)
def test_an_anthropic_version_the_api_does_not_know_is_refused(
    server: RunningServer, version: str, path: str, body: dict[str, Any]
) -> None:
    """The API knows a few versions (2023-01-01, 2023-06-01, and 2026-10-21, which the SDKs
    send) and refuses another, in its words ('anthropic-version: "2023-10-01" is not a valid
    version', github.com/directus-labs/extensions/issues/285; a header sent twice, joined:
    decolua/9router issue 2357); a date after the newest may be a newer version, and is taken."""
    sent = {**HEADERS, "anthropic-version": version}
    answered = httpx.post(server.url + path, headers=sent, json=body, timeout=10)
    assert refusal(answered) == f'anthropic-version: "{version}" is not a valid version'
    assert answered.json()["request_id"] == answered.headers["request-id"]


@pytest.mark.parametrize("version", ["2023-01-01", "2023-06-01", "2026-10-21", "2027-03-01"])
def test_the_versions_of_the_api_and_later_dates_are_taken(
    server: RunningServer, version: str
) -> None:
    sent = {**HEADERS, "anthropic-version": version}
    answered = httpx.post(server.url + "/v1/messages", headers=sent, json=asked(), timeout=10)
    assert answered.status_code == 200, answered.text


def test_a_tool_use_id_another_provider_wrote_is_refused(server: RunningServer) -> None:
    """Tool use ids are `^[a-zA-Z0-9_-]+$` ("messages.1.content.1.tool_use.id: String should
    match pattern …", github.com/CommandCodeAI/command-code issue 323: an id another provider
    wrote, `functions.lookup:0`), a server tool's `^srvtoolu_[a-zA-Z0-9_]+$`
    (ding113/claude-code-hub issue 470)."""
    other = {**_USE, "id": "functions.lookup:0"}
    body = _loop(other, {**_RESULT, "tool_use_id": "functions.lookup:0"})
    assert refusal(post(server, asked(**body))) == (
        "messages.1.content.0.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
    )
    search = {"type": "server_tool_use", "id": "toolu_01A", "name": "web_search", "input": {}}
    result = {
        "type": "web_search_tool_result",
        "tool_use_id": "toolu_01A",
        "content": {"type": "web_search_tool_result_error", "error_code": "unavailable"},
    }
    messages = [
        {"role": "user", "content": "Search it."},
        {"role": "assistant", "content": [search, result]},
        {"role": "user", "content": "Go on."},
    ]
    assert refusal(post(server, asked(messages=messages))) == (
        "messages.1.content.0.server_tool_use.id: String should match pattern "
        "'^srvtoolu_[a-zA-Z0-9_]+$'"
    )
    search["id"] = result["tool_use_id"] = "srvtoolu_01A"
    assert post(server, asked(messages=messages)).status_code == 200


_THINKS = {"type": "enabled", "budget_tokens": 1024}


def test_where_thinking_blocks_sent_back_may_stand(server: RunningServer) -> None:
    """With thinking on, an assistant message holding thinking starts with it, and a final
    one does not end with it; with thinking off, a final assistant message holds none, each
    refused in the API's words (public reports quote them: forgecode issues 1853 and 2107, and
    many notes on the first)."""
    thought = post(server, asked(max_tokens=2048, thinking=_THINKS)).json()["content"]
    thinking, text = thought[0], thought[1]
    asked_first = {"role": "user", "content": "Hello!"}

    def sent(assistant: list[Any], *after: dict[str, Any], **fields: Any) -> str:
        messages = [asked_first, {"role": "assistant", "content": assistant}, *after]
        return refusal(post(server, asked(max_tokens=2048, messages=messages, **fields)))

    more = {"role": "user", "content": "And then?"}
    assert sent([text, thinking], more, thinking=_THINKS) == (
        "messages.1.content.0: If an assistant message contains any thinking blocks, the first "
        "block must be `thinking` or `redacted_thinking`. Found `text`."
    )
    assert sent([thinking], thinking=_THINKS) == (
        "messages.1: The final block in an assistant message cannot be `thinking`."
    )
    call = {"type": "tool_use", "id": "toolu_01A", "name": "lookup", "input": {}}
    answer = {"role": "user", "content": [_RESULT]}
    assert sent([thinking, call, thinking], answer, thinking=_THINKS, tools=_TOOLS) == (
        "messages.1: The final block in an assistant message cannot be `thinking`."
    )
    assert sent([thinking, text]) == (
        "messages.1.content.0: When thinking is disabled, an `assistant` message in the final "
        "position cannot contain `thinking`. To use thinking blocks, enable `thinking` in your "
        "request."
    )
    for fields, messages in (
        (
            {"thinking": _THINKS},
            [asked_first, {"role": "assistant", "content": [thinking, text]}, more],
        ),
        ({}, [asked_first, {"role": "assistant", "content": [thinking, text]}, more]),
    ):  # the turns of a conversation sent back as the API gave them
        taken = post(server, asked(max_tokens=2048, messages=messages, **fields))
        assert taken.status_code == 200, taken.text


def test_tool_blocks_in_a_message_of_the_other_role_are_refused(server: RunningServer) -> None:
    """A `tool_use` block is the assistant's, a `tool_result` the user's: in the other role's
    message each is refused in the API's words ("messages.1: `tool_result` blocks can only be
    in `user` messages", quoted in public repositories' notes on the live refusal, as is its
    twin for `tool_use`)."""
    used = _loop(_USE, _RESULT)
    used["messages"][1]["content"].append(_RESULT)
    assert refusal(post(server, asked(**used))) == (
        "messages.1: `tool_result` blocks can only be in `user` messages"
    )
    asking = {"role": "user", "content": [{"type": "text", "text": "Look it up."}, _USE]}
    assert refusal(post(server, asked(tools=_TOOLS, messages=[asking]))) == (
        "messages.0: `tool_use` blocks can only be in `assistant` messages"
    )


def test_an_empty_system_block_is_refused_as_the_system_s(server: RunningServer) -> None:
    """An empty text block of `system` is named as the system's ("system: text content blocks
    must be non-empty", with a request_id in public reports, and the reason many clients drop
    empty system blocks), a message's as the messages'."""
    empty = {"type": "text", "text": ""}
    assert refusal(post(server, asked(system=[empty]))) == (
        "system: text content blocks must be non-empty"
    )
    messages = [{"role": "user", "content": [empty]}]
    assert refusal(post(server, asked(messages=messages))) == (
        "messages: text content blocks must be non-empty"
    )


def test_an_empty_text_block_with_cache_control_is_refused_for_its_breakpoint(
    server: RunningServer,
) -> None:
    """An empty text block marked for caching is refused for the mark, naming the block
    ("messages.29.content.0.text: cache_control cannot be set for empty text blocks", with a
    request_id in a public report; "system.N: …" for a system block)."""
    marked = {"type": "text", "text": "", "cache_control": {"type": "ephemeral"}}
    assert refusal(post(server, asked(system=[{"type": "text", "text": "Be brief."}, marked]))) == (
        "system.1: cache_control cannot be set for empty text blocks"
    )
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hello!"}, marked]}]
    assert refusal(post(server, asked(messages=messages))) == (
        "messages.0.content.1.text: cache_control cannot be set for empty text blocks"
    )
