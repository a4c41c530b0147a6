"""Keys and profiles through the front door: where the default profile reads a key, how
TokenHub judges a plain model id, and keys files and profiles reloaded while serving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

CHAT = {"model": "gpt-4o-mini", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}


def chat(url: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body or CHAT, headers=headers, timeout=10)


# --- the default profile reads a key from every usual header --------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer foo"},
        {"X-API-Key": "foo"},
        {"api-key": "foo"},
        {},
    ],
    ids=["bearer", "x-api-key", "api-key", "none"],
)
def test_the_default_profile_without_keys_accepts_any_key_in_any_usual_header(
    serve: Any, headers: dict[str, str]
) -> None:
    server = serve()
    response = chat(server.url, headers)
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"


def test_the_default_profile_with_keys_reads_them_from_every_usual_header(
    serve: Any, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - key: sk-test-1\n")
    server = serve("--keys", str(keys))
    for name, value in [
        ("Authorization", "Bearer sk-test-1"),
        ("X-API-Key", "sk-test-1"),
        ("api-key", "sk-test-1"),
    ]:
        assert chat(server.url, {name: value}).status_code == 200, name
    wrong = chat(server.url, {"api-key": "sk-wrong-9"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert "sk-wrong-9" not in wrong.text  # masked, never echoed whole
    basic = chat(server.url, {"Authorization": "Basic c2stdGVzdC0x"})
    assert basic.status_code == 401
    # The SDKs: OpenAI's sends Bearer; Azure-style clients send api-key.
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-test-1", max_retries=0)
    reply = client.chat.completions.create(**CHAT)
    assert reply.choices[0].finish_reason in ("stop", "length")
    azure_style = openai.OpenAI(
        base_url=f"{server.url}/v1",
        api_key="unused",
        default_headers={"Authorization": "", "api-key": "sk-test-1"},
        max_retries=0,
    )
    assert azure_style.chat.completions.create(**CHAT).object == "chat.completion"
    client.close()
    azure_style.close()


# --- TokenHub judges a plain id as provider/model -------------------------------------------


def test_tokenhub_allows_a_plain_id_that_the_keys_provider_globs_cover(
    serve: Any, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text('keys:\n  - key: sk-bf-team-1\n    models: ["openai/*"]\n')
    server = serve("--profile", "tokenhub", "--keys", str(keys))
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-bf-team-1", max_retries=0)
    for model in ("gpt-4o", "openai/gpt-4o", "o3-mini"):
        reply = client.chat.completions.create(**{**CHAT, "model": model})
        assert reply.model == model
    for model in ("claude-3-5-sonnet-20241022", "anthropic/claude-3-5-sonnet-20241022"):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            client.chat.completions.create(**{**CHAT, "model": model})
        assert refused.value.body["code"] == "model_not_allowed"  # type: ignore[index]
    # X-AI-Provider names the provider of a plain id, before the catalogue does.
    bearer = {"Authorization": "Bearer sk-bf-team-1"}
    named = chat(
        server.url, {**bearer, "X-AI-Provider": "openai"}, {**CHAT, "model": "llama-3-70b"}
    )
    assert named.status_code == 200, named.text
    other = chat(server.url, {**bearer, "X-AI-Provider": "deepseek"}, {**CHAT, "model": "gpt-4o"})
    assert other.status_code == 403
    unknown = chat(server.url, bearer, {**CHAT, "model": "llama-3-70b"})
    assert unknown.status_code == 403  # no provider for it: not covered by openai/*
    client.close()
