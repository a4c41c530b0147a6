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


def test_with_keys_the_models_need_a_key_as_every_api_path_does(serve: Any, tmp_path: Path) -> None:
    import anthropic

    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - key: sk-test-1\n")
    server = serve("--keys", str(keys))
    good = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-test-1", max_retries=0)
    assert any(m.id == "gpt-4o" for m in good.models.list())
    assert good.models.retrieve("gpt-4o").id == "gpt-4o"
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-wrong-9", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.code == "invalid_api_key"  # chat's refusal, word for word
    with pytest.raises(openai.AuthenticationError):
        wrong.models.retrieve("gpt-4o")
    claude = anthropic.Anthropic(base_url=server.url, api_key="sk-test-1", max_retries=0)
    assert claude.models.list().data
    stranger = anthropic.Anthropic(base_url=server.url, api_key="sk-wrong-9", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as denied:
        stranger.models.list()
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    for client in (good, wrong, claude, stranger):
        client.close()


# --- TokenHub judges a plain id as provider/model -------------------------------------------


def test_tokenhub_allows_a_plain_id_that_the_keys_provider_globs_cover(
    serve: Any, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text('keys:\n  - key: sk-bf-team-1\n    models: ["openai/*"]\n')
    server = serve("--profile", "tokenhub", "--keys", str(keys))
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-bf-team-1", max_retries=0)
    for model in ("gpt-4o", "openai/gpt-4o", "gpt-4.1-mini"):
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


# --- keys files and profiles are reloaded while serving ---------------------------------------

ACME = """\
extends: openai
name: acme
chat_paths: [{path}]
auth: {{ headers: [api-key], required: true }}
balance: {{ path: /acme/credits, shape: {{ left: "{{remaining}}" }} }}
"""


def _eventually(check: Any, timeout: float = 10.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        else:
            return result
        time.sleep(0.1)


def test_keys_files_and_profiles_are_reloaded_when_they_change(serve: Any, tmp_path: Path) -> None:
    keys, profile = tmp_path / "keys.yaml", tmp_path / "acme.yaml"
    prices = "prices:\n  '*': { prompt: 1, completion: 1 }\n"
    keys.write_text(
        "keys:\n  - key: ak_1\n    credits: 1\n  - key: ak_2\n    credits: 1\n" + prices
    )
    profile.write_text(ACME.format(path="/acme/chat"))
    server = serve("--profile", str(profile), "--keys", str(keys))
    url = server.url

    def post(path: str, key: str) -> httpx.Response:
        return httpx.post(f"{url}{path}", json=CHAT, headers={"api-key": key}, timeout=10)

    def balance(key: str) -> float:
        answer = httpx.get(f"{url}/acme/credits", headers={"api-key": key}, timeout=10)
        return float(answer.json()["left"])

    assert post("/acme/chat", "ak_1").status_code == 200
    assert post("/acme/chat", "ak_2").status_code == 200
    spent_1, spent_2 = balance("ak_1"), balance("ak_2")
    assert spent_1 < 1 and spent_2 < 1
    assert post("/acme/chat", "ak_3").status_code == 401

    # A new key, ak_1's credits changed, ak_2 untouched.
    keys.write_text(
        "keys:\n  - key: ak_1\n    credits: 7\n  - key: ak_2\n    credits: 1\n  - key: ak_3\n"
        + prices
    )

    def new_key_works() -> None:
        assert post("/acme/chat", "ak_3").status_code == 200

    _eventually(new_key_works)
    # A key whose figures changed starts from them; the others carry on from where they
    # were (replicas sharing a store, each reloading the file, agree: the figures are in
    # the state's name); a reset starts every key from the file's figures.
    assert (balance("ak_1"), balance("ak_2")) == (7, spent_2)
    assert httpx.get(f"{url}/__admin/health", timeout=5).json()["keys"] == 3
    assert httpx.post(f"{url}/__admin/reset", timeout=5).status_code == 200
    assert (balance("ak_1"), balance("ak_2")) == (7, 1)

    # A keys file that does not validate: the log names the problem; the old keys stay.
    keys.write_text("keys:\n  - key: ak_1\n    rpm: 0\n")

    def logged() -> None:
        assert f"{keys}:3: keys[0].rpm: expected a value >= 1, found 0" in server.log()

    _eventually(logged)
    assert "keeping the previous profile and keys" in server.log()
    assert post("/acme/chat", "ak_3").status_code == 200

    # The profile: a new chat path is served, the old one no longer is.
    profile.write_text(ACME.format(path="/acme/v2/chat"))
    keys.write_text("keys:\n  - key: ak_1\n")

    def moved() -> None:
        assert post("/acme/v2/chat", "ak_1").status_code == 200

    _eventually(moved)
    assert post("/acme/chat", "ak_1").status_code in (404, 405)
    assert post("/acme/v2/chat", "ak_3").status_code == 401

    # A broken profile keeps the one before.
    profile.write_text(ACME.format(path="acme/v3/chat"))

    def refused() -> None:
        assert "chat_paths[0]: a path must start with '/', found 'acme/v3/chat'" in server.log()

    _eventually(refused)
    assert post("/acme/v2/chat", "ak_1").status_code == 200
