"""What the official SDKs can send, the server takes: one request per documented parameter
or value that the API accepts (for a model that takes it), sent through the SDK so that its
own serialisation is used. Each case names the evidence that the API takes it: the OpenAPI
document (openai/openai-openapi), the SDK's own types and docstrings, or the vendor's docs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anthropic import Anthropic
from openai import OpenAI

from tests.conftest import RunningServer

USER: dict[str, Any] = {"role": "user", "content": "Hello!"}
FUNCTION = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


@pytest.fixture(scope="module")
def anthropic_client(server: RunningServer) -> Iterator[Anthropic]:
    with Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0) as client:
        yield client


# (id, keyword arguments of client.chat.completions.create)
CHAT: list[tuple[str, dict[str, Any]]] = [
    # ReasoningEffort: "none" … "xhigh", "max" (OpenAPI; "Not all reasoning models support
    # every value"): a model the catalogue does not name is not refused the value.
    ("reasoning_effort-max", {"model": "gpt-6-sol", "reasoning_effort": "max"}),
]

# (id, keyword arguments of client.responses.create)
RESPONSES: list[tuple[str, dict[str, Any]]] = [
    ("reasoning.effort-max", {"model": "gpt-6-sol", "reasoning": {"effort": "max"}}),
    # Request options of the openai SDK's ResponseCreateParams (3.63), documented there.
    ("access_programs", {"access_programs": {"cyber": "standard"}}),
    ("background_options", {"background_options": {"completion_window": "soonest"}}),
    ("image", {"image": {"context_compression": "auto"}}),
    # Tools of the OpenAPI document's `Tool` union, and hosted tool choices of its
    # `ToolChoiceTypes` (`computer_use`) and `SpecificProgrammaticToolCallingParam`.
    ("tools-programmatic_tool_calling", {"tools": [{"type": "programmatic_tool_calling"}]}),
    (
        "tool_choice-programmatic_tool_calling",
        {
            "tools": [{"type": "programmatic_tool_calling"}],
            "tool_choice": {"type": "programmatic_tool_calling"},
        },
    ),
    (
        "tool_choice-computer_use",
        {
            "model": "gpt-5.5",
            "tools": [{"type": "computer"}],
            "tool_choice": {"type": "computer_use"},
        },
    ),
]

# Items of the OpenAPI document's `InputItem` union (and the SDK's `configuration_update`),
# as earlier turns before a user message.
ITEMS: list[dict[str, Any]] = [
    {"type": "tool_search_call", "arguments": {"query": "weather"}},
    {"type": "tool_search_output", "tools": [FUNCTION]},
    {"type": "additional_tools", "role": "developer", "tools": [FUNCTION]},
    # a `compaction` item: its content must be one mockllm gave out (tests/e2e/
    # test_responses_compact.py sends one back, and refuses a forged one as the API does)
    {"type": "compaction_trigger"},
    {
        "type": "local_shell_call",
        "id": "lsh_1",
        "call_id": "call_ls",
        "status": "completed",
        "action": {"type": "exec", "command": ["ls"], "env": {}},
    },
    {"type": "local_shell_call_output", "id": "call_ls", "output": "a.txt"},
    {"type": "shell_call", "call_id": "call_sh", "action": {"commands": ["ls"]}},
    {
        "type": "shell_call_output",
        "call_id": "call_sh",
        "output": [{"stdout": "a.txt", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}],
    },
    {
        "type": "apply_patch_call",
        "call_id": "call_ap",
        "status": "completed",
        "operation": {"type": "delete_file", "path": "a.txt"},
    },
    {"type": "apply_patch_call_output", "call_id": "call_ap", "status": "completed"},
    {"type": "program", "id": "prg_1", "call_id": "call_pg", "code": "1 + 1"},
    {"type": "program_output", "call_id": "call_pg", "output": "2", "status": "completed"},
    {"type": "configuration_update", "id": "cu_1", "tools": [FUNCTION]},
]


@pytest.mark.parametrize("kwargs", [c[1] for c in CHAT], ids=[c[0] for c in CHAT])
def test_chat_takes(client: OpenAI, kwargs: dict[str, Any]) -> None:
    completion = client.chat.completions.create(messages=[USER], **kwargs)
    assert completion.choices[0].message.content


@pytest.mark.parametrize("kwargs", [c[1] for c in RESPONSES], ids=[c[0] for c in RESPONSES])
def test_responses_takes(client: OpenAI, kwargs: dict[str, Any]) -> None:
    kwargs = {"model": "gpt-5.5", "input": "Hello!", **kwargs}
    response = client.responses.create(**kwargs)
    assert response.status == "completed"
    assert response.output_text


@pytest.mark.parametrize("item", ITEMS, ids=[item["type"] for item in ITEMS])
def test_responses_takes_input_item(client: OpenAI, item: dict[str, Any]) -> None:
    response = client.responses.create(
        model="gpt-5.5", input=[USER, item, {"role": "user", "content": "Go on."}]
    )
    assert response.status == "completed"


# (id, tools) for client.messages.create: the tool types of the anthropic SDK's
# ToolUnionParam (2.17) and, for the beta, BetaToolUnionParam.
TOOLS: list[tuple[str, list[dict[str, Any]]]] = [
    ("browser_toolset_20260801", [{"type": "browser_toolset_20260801"}]),
    ("computer_toolset_20260801", [{"type": "computer_toolset_20260801", "configs": {}}]),
    ("tool_search_tool_bm25", [{"type": "tool_search_tool_bm25", "name": "tool_search_tool_bm25"}]),
    (
        "tool_search_tool_regex",
        [{"type": "tool_search_tool_regex", "name": "tool_search_tool_regex"}],
    ),
]


@pytest.mark.parametrize("tools", [c[1] for c in TOOLS], ids=[c[0] for c in TOOLS])
def test_messages_takes_tool(anthropic_client: Anthropic, tools: list[dict[str, Any]]) -> None:
    message = anthropic_client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=256,
        messages=[USER],
        tools=tools,  # type: ignore[arg-type]
    )
    assert message.stop_reason == "end_turn"


def test_beta_messages_takes_computer_20251124(anthropic_client: Anthropic) -> None:
    tool = {
        "type": "computer_20251124",
        "name": "computer",
        "display_width_px": 1024,
        "display_height_px": 768,
    }
    message = anthropic_client.beta.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=256,
        messages=[USER],  # type: ignore[list-item]
        tools=[tool],  # type: ignore[list-item]
        betas=["computer-use-2025-11-24"],
    )
    assert message.stop_reason in ("end_turn", "tool_use")
