"""The Messages API checked against the real API's answers where public reports quote them:
the paths of the validator's refusals, through raw httpx on the module's own server (the
default generator, seed 5)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer

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
        "input_schema": {"type": "object"},
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
