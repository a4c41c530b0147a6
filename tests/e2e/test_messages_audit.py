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
