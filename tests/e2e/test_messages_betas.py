"""The Messages API's betas the anthropic SDK (2.17) types, through the front door: the blocks
of `BetaContentBlockParam` (the advisor's and MCP servers' results, tool changes, compaction
summaries, fallback marks), the advisor and MCP toolset tools, and the top-level
`compaction`, `fallbacks`, `fallback_credit_token` and `billing_policy`. Answers are read
with the SDK's own types, no field beyond them; refusals carry the `error_code` the SDK's
error classes are told apart by."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic import Anthropic, beta_tool
from anthropic.types import (
    CompactionBlockMisplacedError,
    CompactionContentMismatchError,
    CompactionIncompleteTurnError,
    ToolReferenceUnresolvedError,
)
from anthropic.types.beta import BetaMessage, BetaRawMessageStreamEvent
from pydantic import TypeAdapter

from tests.conftest import RunningServer, start_server

MODEL = "claude-sonnet-4-5"
KEY = "sk-ant-api03-betas"
EVENTS: TypeAdapter[Any] = TypeAdapter(BetaRawMessageStreamEvent)
WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TIME: dict[str, Any] = {
    "name": "get_time",
    "description": "Current time in a zone.",
    "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}},
}
MCP_SERVERS = [{"type": "url", "name": "files", "url": "https://mcp.example.com/sse"}]
ASK = {"role": "user", "content": "What happened next?"}
COMPACT = "compact-2026-09-04"
HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "Tell me about the lighthouse at Lindesnes."},
    {"role": "assistant", "content": "It is the southernmost lighthouse in Norway."},
    {"role": "user", "content": "When was it first lit?"},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("messages-betas")
    running = start_server("--seed", "5", "--freeze-time", "1700000000", tmp_path=folder)
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[Anthropic]:
    sdk = Anthropic(base_url=server.url, api_key=KEY, max_retries=0)
    yield sdk
    sdk.close()


def post(server: RunningServer, body: dict[str, Any], betas: str = "") -> httpx.Response:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    if betas:
        headers["anthropic-beta"] = betas
    return httpx.post(f"{server.url}/v1/messages", json=body, headers=headers, timeout=30)


def strict(data: dict[str, Any]) -> BetaMessage:
    """A message the SDK's beta type reads whole: no field it does not know."""
    message = BetaMessage.model_validate(data)
    assert message.model_dump(exclude_unset=True) == data
    return message


def strict_events(raw: bytes) -> list[Any]:
    """Each streamed event read by the SDK's union of beta events, no field beyond it."""
    events = []
    for block in raw.decode().strip().split("\n\n"):
        name, data = (line.split(": ", 1)[1] for line in block.split("\n"))
        if name == "ping":
            continue
        payload = json.loads(data)
        event = EVENTS.validate_python(payload)
        assert event.model_dump(exclude_unset=True) == payload, payload
        events.append(event)
    return events


def answered(server: RunningServer, body: dict[str, Any], betas: str = "") -> BetaMessage:
    """The message for `body`, whole and streamed (the same), each read strictly."""
    response = post(server, body, betas)
    assert response.status_code == 200, response.text
    message = strict(response.json())
    streamed = post(server, {**body, "stream": True}, betas)
    assert streamed.status_code == 200, streamed.text
    events = strict_events(streamed.content)
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    return message


def body(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 200, "messages": messages, **fields}


# --- blocks ---------------------------------------------------------------------------------

SERVER_USE = {"type": "server_tool_use", "id": "srvtoolu_01A", "name": "advisor", "input": {}}
MCP_USE = {
    "type": "mcp_tool_use",
    "id": "mcptoolu_01A",
    "name": "read_file",
    "server_name": "files",
    "input": {"path": "notes.txt"},
}


def turn_of(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    """A conversation whose assistant turn holds `blocks`, then the user's next question."""
    return [
        {"role": "user", "content": "Read my notes and ask the advisor."},
        {"role": "assistant", "content": [*blocks, {"type": "text", "text": "Done."}]},
        ASK,
    ]


BLOCKS: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "advisor_tool_result",
        turn_of(
            SERVER_USE,
            {
                "type": "advisor_tool_result",
                "tool_use_id": "srvtoolu_01A",
                "content": {"type": "advisor_result", "text": "Check the dates first."},
            },
        ),
    ),
    (
        "advisor_tool_result_error",
        turn_of(
            SERVER_USE,
            {
                "type": "advisor_tool_result",
                "tool_use_id": "srvtoolu_01A",
                "content": {"type": "advisor_tool_result_error", "error_code": "overloaded"},
            },
        ),
    ),
    (
        "mcp_tool_use and mcp_tool_result",
        turn_of(
            MCP_USE,
            {
                "type": "mcp_tool_result",
                "tool_use_id": "mcptoolu_01A",
                "content": [{"type": "text", "text": "Buy milk."}],
                "is_error": False,
            },
        ),
    ),
    (
        "mcp_tool_listing",
        turn_of(
            {
                "type": "mcp_tool_listing",
                "mcp_server_name": "files",
                "tools": [{"name": "read_file", "input_schema": {"type": "object"}}],
            }
        ),
    ),
    (
        "fallback",
        turn_of(
            {
                "type": "fallback",
                "from": {"model": "claude-opus-4-8"},
                "to": {"model": "claude-opus-4-7"},
                "trigger": None,
            }
        ),
    ),
    (
        "tool_addition and tool_removal",
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_removal",
                        "tool": {"type": "tool_reference", "name": "get_time"},
                    },
                    {"type": "text", "text": "No clocks for now."},
                ],
            },
            {"role": "assistant", "content": "Understood."},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_addition",
                        "tool": {"type": "tool_reference", "name": "get_time"},
                    },
                    {"type": "text", "text": "What time is it in Oslo?"},
                ],
            },
        ],
    ),
    (
        "compaction (a threshold compaction's, unsigned)",
        [
            *HISTORY,
            {
                "role": "assistant",
                "content": [
                    {"type": "compaction", "content": "The user asks about Lindesnes lighthouse."},
                    {"type": "text", "text": "It was first lit in 1656."},
                ],
            },
            ASK,
        ],
    ),
]


@pytest.mark.parametrize(("kind", "messages"), BLOCKS, ids=[kind for kind, _ in BLOCKS])
def test_beta_blocks_are_taken(
    server: RunningServer, client: Anthropic, kind: str, messages: list[dict[str, Any]]
) -> None:
    """Each block type of the SDK's `BetaContentBlockParam` that mockllm refused with
    "Input tag '…' found using 'type' does not match any of the expected tags" is taken, in
    a whole answer, a stream and a token count."""
    fields = {"tools": [WEATHER, TIME], "mcp_servers": MCP_SERVERS}
    message = answered(server, body(messages, **fields))
    assert message.stop_reason in ("end_turn", "tool_use")
    counted = client.beta.messages.count_tokens(model=MODEL, messages=messages, **fields)  # type: ignore[arg-type]
    assert counted.input_tokens == message.usage.input_tokens


def test_results_and_summaries_are_counted(client: Anthropic) -> None:
    """An MCP result's text and an advisor's advice are part of the prompt; a compaction
    summary stands for the blocks before it, which the API leaves out."""

    def count(messages: list[dict[str, Any]]) -> int:
        return client.beta.messages.count_tokens(
            model=MODEL,
            messages=messages,  # type: ignore[arg-type]
            mcp_servers=MCP_SERVERS,  # type: ignore[list-item]
        ).input_tokens

    result = {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_01A", "content": "Buy milk."}
    longer = {**result, "content": "Buy milk, bread, eggs, butter and three kinds of cheese."}
    assert count(turn_of(MCP_USE, longer)) > count(turn_of(MCP_USE, result))
    summary = {"type": "compaction", "content": "The user asks about Lindesnes lighthouse."}
    compacted = [{"role": "assistant", "content": [summary]}, ASK]
    assert count([*HISTORY, *compacted]) == count(compacted)


def test_a_reference_to_no_tool_is_refused(client: Anthropic) -> None:
    """A tool change naming a tool neither in `tools` nor defined earlier, or an MCP server
    not in `mcp_servers`: 400, `error_code` tool_reference_unresolved (the SDK's
    `ToolReferenceUnresolvedError`, in its words)."""
    words = (
        "A tool change or MCP tool listing references a tool or MCP server that is not "
        "defined at that position in the conversation."
    )
    for tool in (
        {"type": "tool_reference", "name": "get_tide"},
        {"type": "mcp_toolset_reference", "server_name": "calendar"},
    ):
        removal = {"type": "tool_removal", "tool": tool}
        with pytest.raises(ToolReferenceUnresolvedError) as caught:
            client.beta.messages.create(
                model=MODEL,
                max_tokens=50,
                tools=[WEATHER],  # type: ignore[list-item]
                mcp_servers=MCP_SERVERS,  # type: ignore[list-item]
                messages=[{"role": "user", "content": [removal, {"type": "text", "text": "Hi"}]}],  # type: ignore[list-item]
            )
        assert caught.value.status_code == 400
        assert caught.value.error_code == "tool_reference_unresolved"
        assert caught.value.body["error"]["message"] == words  # type: ignore[index]


def test_tool_changes_decide_what_is_offered(client: Anthropic) -> None:
    """A removed tool is no longer offered; under `inline-tools-2026-09-15` an addition may
    define a tool itself (without the beta, `tool_definition` is not one of its tags)."""
    removal = {"type": "tool_removal", "tool": {"type": "tool_reference", "name": "get_weather"}}
    message = client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": [removal, {"type": "text", "text": "Oslo?"}]}],  # type: ignore[list-item]
    )
    assert [(b.type, getattr(b, "name", None)) for b in message.content] == [
        ("tool_use", "get_time")
    ]
    addition = {"type": "tool_addition", "tool": {"type": "tool_definition", "definition": TIME}}
    asked = [{"role": "user", "content": [addition, {"type": "text", "text": "Time?"}]}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.beta.messages.create(
            model=MODEL,
            max_tokens=100,
            tools=[WEATHER],  # type: ignore[list-item]
            messages=asked,  # type: ignore[arg-type]
        )
    assert caught.value.body["error"]["message"] == (  # type: ignore[index]
        "messages.0.content.0.tool_addition.tool: Input tag 'tool_definition' found using "
        "'type' does not match any of the expected tags: 'tool_reference', "
        "'mcp_tool_reference', 'mcp_toolset_reference'"
    )
    message = client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_time"},
        messages=asked,  # type: ignore[arg-type]
        betas=["inline-tools-2026-09-15"],
    )
    assert [getattr(b, "name", None) for b in message.content] == ["get_time"]


# --- tools ----------------------------------------------------------------------------------


def test_advisor_and_mcp_toolset_are_taken(server: RunningServer) -> None:
    """`advisor_20260301` (a server tool: the API asks the advisor, which is not here, so its
    result is the `unavailable` error) and `mcp_toolset` are taken."""
    advisor = {"type": "advisor_20260301", "name": "advisor", "model": "claude-opus-4-8"}
    message = answered(
        server,
        body([{"role": "user", "content": "Ask for advice."}], tools=[advisor])
        | {"tool_choice": {"type": "any"}},
    )
    use, result, text = message.content
    assert (use.type, getattr(use, "name", None)) == ("server_tool_use", "advisor")
    assert result.model_dump() == {
        "type": "advisor_tool_result",
        "tool_use_id": use.id,  # type: ignore[union-attr]
        "content": {"type": "advisor_tool_result_error", "error_code": "unavailable"},
    }
    assert text.type == "text" and text.text.endswith("advisor failed: unavailable.")
    assert message.stop_reason == "end_turn"
    toolset = {"type": "mcp_toolset", "mcp_server_name": "files", "default_config": {}}
    answered(server, body([ASK], tools=[toolset], mcp_servers=MCP_SERVERS))


# --- compaction -----------------------------------------------------------------------------


def test_a_compaction_request_is_answered_with_one_signed_block(
    server: RunningServer, client: Anthropic
) -> None:
    """`compaction: {"type": "summarize"}` under `compact-2026-09-04`: the answer holds one
    `compaction` block and no reply, `stop_reason` "compaction", zero top-level counters and
    the compaction's tokens in `usage.iterations`; streamed, one `compaction_delta` brings
    the summary, and the SDK's accumulator gives the same message."""
    request = body(HISTORY, compaction={"type": "summarize"})
    message = answered(server, request, COMPACT)
    (block,) = message.content
    assert block.type == "compaction" and block.content and block.signature
    assert message.stop_reason == "compaction"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (0, 0)
    (iteration,) = message.usage.iterations or []
    assert iteration.type == "compaction"
    counted = client.beta.messages.count_tokens(
        model=MODEL,
        messages=HISTORY,  # type: ignore[arg-type]
        compaction={"type": "summarize"},  # taken and ignored by token counting
        betas=[COMPACT],
    )
    assert iteration.input_tokens == counted.input_tokens
    with client.beta.messages.stream(
        model=MODEL,
        max_tokens=200,
        messages=HISTORY,  # type: ignore[arg-type]
        compaction={"type": "summarize"},
        betas=[COMPACT],
    ) as stream:
        final = stream.get_final_message()
    assert final.model_dump() == message.model_dump()
    deltas = [e for e in strict_events(post(server, {**request, "stream": True}, COMPACT).content)]
    assert [e.delta.type for e in deltas if e.type == "content_block_delta"] == ["compaction_delta"]
    # Sent back first, in place of what it summarizes: the conversation goes on from it.
    later = [{"role": "assistant", "content": [block.model_dump()]}, ASK]
    reply = client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=later,  # type: ignore[arg-type]
        betas=[COMPACT],
    )
    assert reply.stop_reason == "end_turn"
    assert (
        reply.usage.input_tokens
        == client.beta.messages.count_tokens(
            model=MODEL,
            messages=later,  # type: ignore[arg-type]
            betas=[COMPACT],
        ).input_tokens
    )


def test_a_compaction_block_is_checked(client: Anthropic) -> None:
    """A signed block whose summary was edited, one left behind the messages it summarizes,
    and a compaction request ending on an unfinished assistant turn are refused with the
    `error_code`s of the SDK's error classes, in their words."""
    summarized = client.beta.messages.create(
        model=MODEL,
        max_tokens=200,
        messages=HISTORY,  # type: ignore[arg-type]
        compaction={"type": "summarize"},
        betas=[COMPACT],
    )
    block = summarized.content[0].model_dump()
    cases: list[tuple[type[anthropic.BadRequestError], list[dict[str, Any]], str]] = [
        (
            CompactionContentMismatchError,
            [{"role": "assistant", "content": [{**block, "content": "Something else."}]}, ASK],
            "The `compaction` block's `content` differs from the text its `signature` recorded.",
        ),
        (
            CompactionBlockMisplacedError,
            [*HISTORY, {"role": "assistant", "content": [block]}, ASK],
            "The `compaction` block is not the first block of the conversation, or is in a "
            "`system` message.",
        ),
    ]
    for error, messages, words in cases:
        with pytest.raises(error) as caught:
            client.beta.messages.create(
                model=MODEL,
                max_tokens=50,
                messages=messages,  # type: ignore[arg-type]
                betas=[COMPACT],
            )
        assert caught.value.status_code == 400
        assert caught.value.body["error"]["message"] == words  # type: ignore[index]
    unfinished = [
        *HISTORY,
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}}
            ],
        },
    ]
    with pytest.raises(CompactionIncompleteTurnError):
        client.beta.messages.create(
            model=MODEL,
            max_tokens=50,
            tools=[WEATHER],  # type: ignore[list-item]
            messages=unfinished,  # type: ignore[arg-type]
            compaction={"type": "summarize"},
            betas=[COMPACT],
        )


@pytest.mark.parametrize(
    ("fields", "betas", "message"),
    [
        ({}, "", "compaction: Extra inputs are not permitted"),
        (
            {"context_management": {"edits": []}},
            COMPACT,
            "`compaction` cannot be combined with `context_management`.",
        ),
        (
            {"stop_sequences": ["END"]},
            COMPACT,
            "`compaction` cannot be combined with `stop_sequences`.",
        ),
        (
            {"compaction": {"type": "summarize", "instructions": "x" * 16_385}},
            COMPACT,
            "compaction.instructions: String should have at most 16384 characters",
        ),
    ],
)
def test_a_compaction_request_is_refused(
    server: RunningServer, fields: dict[str, Any], betas: str, message: str
) -> None:
    """Without its beta the field is unknown; with it, `compaction` does not go with
    `context_management` or `stop_sequences`, and its instructions are at most 16,384
    characters."""
    response = post(server, body(HISTORY, compaction={"type": "summarize"}) | fields, betas)
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}


# --- top-level fields -----------------------------------------------------------------------


def test_fallbacks_credit_and_billing_policy_are_taken(server: RunningServer) -> None:
    """`fallbacks` (the API's entries, or "default"), `billing_policy` and a
    `fallback_credit_token` are taken; a token's outcome is in `usage.fallback_credit` (this
    server bills nothing: redeemed), streamed in the final `message_delta`."""
    for fields in (
        {"fallbacks": [{"model": "claude-opus-4-7", "max_tokens": 100, "speed": "standard"}]},
        {"fallbacks": "default"},
        {"billing_policy": {"type": "billing_policy", "bill_to": "self"}},
    ):
        assert answered(server, body([ASK], **fields)).usage.fallback_credit is None
    credited = answered(server, body([ASK], fallback_credit_token="ZmFsbGJhY2s"))
    assert credited.usage.fallback_credit is not None
    assert credited.usage.fallback_credit.model_dump() == {"status": {"type": "redeemed"}}
    streamed = post(server, body([ASK], fallback_credit_token="ZmFsbGJhY2s", stream=True))
    (delta,) = [e for e in strict_events(streamed.content) if e.type == "message_delta"]
    assert delta.usage.fallback_credit.model_dump() == {"status": {"type": "redeemed"}}
    token = {"token": "ZmFsbGJhY2s", "mode": "best_effort"}
    answered(server, body([ASK], fallback_credit_token=token), "fallback-credit-2026-07-01")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            # The object form needs `fallback-credit-2026-07-01` (the SDK's docstring).
            {"fallback_credit_token": {"token": "ZmFsbGJhY2s"}},
            "fallback_credit_token: Input should be a valid string",
        ),
        (
            {"fallback_credit_token": "ZmFsbGJhY2s", "fallbacks": [{"model": "claude-opus-4-7"}]},
            "`fallback_credit_token` cannot be combined with `fallbacks`.",
        ),
        (
            {"fallbacks": [{"model": "claude-opus-4-7", "top_k": 5}]},
            "fallbacks.0.top_k: Extra inputs are not permitted",
        ),
        ({"fallbacks": ["claude-opus-4-7"]}, "fallbacks.0: Input should be a valid dictionary"),
        (
            {"billing_policy": {"type": "billing_policy", "bill_to": "org"}},
            "billing_policy.bill_to: Input should be 'self' or 'user_profile'",
        ),
    ],
)
def test_top_level_fields_are_checked(
    server: RunningServer, fields: dict[str, Any], message: str
) -> None:
    response = post(server, body([ASK], **fields))
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}


def test_the_tool_runner_goes_to_the_end(client: Anthropic) -> None:
    """The SDK's tool runner, whole and streamed, over a conversation with MCP blocks and a
    tool addition, with a `fallback_credit_token`: it calls the tool, then ends the turn."""

    @beta_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return "3C and clear"

    history = [
        *turn_of(MCP_USE, {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_01A"}),
        {"role": "assistant", "content": "Anything else?"},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_addition",
                    "tool": {"type": "tool_reference", "name": "get_weather"},
                },
                {"type": "text", "text": "What is the weather in Oslo?"},
            ],
        },
    ]
    for stream in (False, True):
        runner = client.beta.messages.tool_runner(
            model=MODEL,
            max_tokens=200,
            tools=[get_weather],
            messages=history,  # type: ignore[arg-type]
            mcp_servers=MCP_SERVERS,  # type: ignore[list-item]
            fallback_credit_token="ZmFsbGJhY2s",
            stream=stream,  # type: ignore[call-overload]
        )
        reasons = []
        for step in runner:
            message = step.get_final_message() if stream else step  # type: ignore[union-attr]
            reasons.append(message.stop_reason)
        assert reasons == ["tool_use", "end_turn"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"model": "claude-opus-4-7", "thinking": {"type": "deep"}},
            "fallbacks.0.thinking: Input tag 'deep' found using 'type' does not match any of "
            "the expected tags: 'enabled', 'disabled', 'adaptive', 'between_tools'",
        ),
        (
            {"model": "claude-opus-4-7", "output_config": {"effort": "low", "verbosity": 1}},
            "fallbacks.0.output_config.verbosity: Extra inputs are not permitted",
        ),
    ],
)
def test_a_fallback_entry_is_checked_where_it_is(
    server: RunningServer, entry: dict[str, Any], message: str
) -> None:
    """An entry's own `thinking` and `output_config` are checked under its path."""
    response = post(server, body([ASK], fallbacks=[entry]))
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}


def test_diagnostics_are_answered_when_asked(server: RunningServer) -> None:
    """`diagnostics: {previous_message_id}` (SDK `BetaDiagnosticsParam`): the message carries
    `diagnostics` after `usage`, null as the SDK documents it when no prompt-cache divergence
    was detected (none is, here), in the whole message and in `message_start`; a request
    without it gets no such key."""
    asked = body([ASK], diagnostics={"previous_message_id": "msg_01XzEoyWVdaikLjCc6ztocdM"})
    message = post(server, asked).json()
    assert list(message)[-2:] == ["usage", "diagnostics"] and message["diagnostics"] is None
    strict(message)
    events = strict_events(post(server, {**asked, "stream": True}).content)
    started = events[0].message.model_dump(exclude_unset=True)
    assert "diagnostics" in started and started["diagnostics"] is None
    assert "diagnostics" not in post(server, body([ASK])).json()


def test_a_count_with_context_management_gives_the_original_count(client: Anthropic) -> None:
    """`count_tokens` with `context_management` answers `context_management.
    original_input_tokens` (the count before the edits; as the API's compaction and
    context-editing pages read it), equal to `input_tokens` when no edit was applied."""
    counted = client.beta.messages.count_tokens(
        model=MODEL,
        messages=HISTORY,  # type: ignore[arg-type]
        context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
        betas=["context-management-2025-06-27"],
    )
    assert counted.context_management is not None
    assert counted.context_management.original_input_tokens == counted.input_tokens
    assert counted.model_dump(exclude_unset=True) == {
        "input_tokens": counted.input_tokens,
        "context_management": {"original_input_tokens": counted.input_tokens},
    }
    plain = client.beta.messages.count_tokens(model=MODEL, messages=HISTORY)  # type: ignore[arg-type]
    assert plain.model_dump(exclude_unset=True) == {"input_tokens": counted.input_tokens}


def test_context_management_is_answered_with_its_applied_edits(
    server: RunningServer, client: Anthropic
) -> None:
    """A request with `context_management` gets `context_management: {"applied_edits": []}`
    after `usage` (no edit's trigger is reached here), as the API answers one; streamed,
    null in `message_start` and the edits in the final `message_delta`, which the SDK's
    accumulator keeps."""
    management = {"edits": [{"type": "clear_tool_uses_20250919"}]}
    asked = body([ASK], context_management=management)
    message = post(server, asked, "context-management-2025-06-27").json()
    assert list(message)[-2:] == ["usage", "context_management"]
    assert message["context_management"] == {"applied_edits": []}
    strict(message)
    events = strict_events(
        post(server, {**asked, "stream": True}, "context-management-2025-06-27").content
    )
    assert events[0].message.model_dump(exclude_unset=True)["context_management"] is None
    assert events[-2].type == "message_delta"
    assert events[-2].model_dump(exclude_unset=True)["context_management"] == {"applied_edits": []}
    with client.beta.messages.stream(
        model=MODEL,
        max_tokens=200,
        messages=[ASK],  # type: ignore[list-item]
        context_management=management,  # type: ignore[arg-type]
        betas=["context-management-2025-06-27"],
    ) as stream:
        final = stream.get_final_message()
    assert final.context_management is not None
    assert final.context_management.applied_edits == []
    assert "context_management" not in post(server, body([ASK])).json()
