"""The headers of the OpenAI families' answers, as the API sends them (raw httpx, and the
official SDK where it reads them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCENARIOS, RunningServer, start_server

HELLO = [{"role": "user", "content": "Hello!"}]
# One request per OpenAI family's POST path, each answered 200.
ANSWERED = {
    "chat": ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO}),
    "chat stream": (
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HELLO, "stream": True},
    ),
    "responses": ("/v1/responses", {"model": "gpt-4o-mini", "input": "Hello!"}),
    "completions": ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Hi"}),
    "embeddings": ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "Hello!"}),
    "input tokens": ("/v1/responses/input_tokens", {"model": "gpt-4o-mini", "input": "Hi"}),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("openai-headers")
    found = start_server("--scenarios", str(SCENARIOS), "--freeze-time", "1700000000", tmp_path=tmp)
    yield found
    found.stop()


def post(server: RunningServer, path: str, body: object) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=30)


@pytest.mark.parametrize("name", sorted(ANSWERED))
def test_every_answer_exposes_the_request_id(server: RunningServer, name: str) -> None:
    path, body = ANSWERED[name]
    answer = post(server, path, body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-expose-headers"] == "X-Request-ID"


def test_refusals_and_browser_answers_expose_the_request_id(server: RunningServer) -> None:
    refused = post(server, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []})
    assert refused.status_code == 400
    assert refused.headers["access-control-expose-headers"] == "X-Request-ID"
    scripted = post(server, "/v1/chat/completions", {"model": "error-429", "messages": HELLO})
    assert scripted.status_code == 429
    assert scripted.headers["access-control-expose-headers"] == "X-Request-ID"
    browser = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": HELLO},
        headers={"Origin": "http://localhost:3000"},
        timeout=30,
    )
    assert browser.headers["access-control-allow-origin"] == "*"
    assert browser.headers["access-control-expose-headers"] == "X-Request-ID"


def test_the_messages_api_keeps_its_own_cors_headers(server: RunningServer) -> None:
    answer = httpx.post(
        f"{server.url}/v1/messages",
        json={"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": HELLO},
        headers={"anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert "access-control-expose-headers" not in answer.headers


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []}),
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO, "n": 129}),
        ("/v1/responses", {"model": "gpt-4o-mini"}),
        ("/v1/embeddings", {"model": "text-embedding-3-small"}),
        ("/v1/completions", {"model": "gpt-3.5-turbo-instruct"}),
    ],
)
def test_a_refusal_says_how_long_it_took(server: RunningServer, path: str, body: object) -> None:
    refused = post(server, path, body)
    assert refused.status_code == 400, refused.text
    assert refused.headers["openai-processing-ms"] == "0"
    assert refused.headers["openai-version"] == "2020-10-01"


def test_the_messages_api_refuses_without_openai_processing_ms(server: RunningServer) -> None:
    refused = httpx.post(
        f"{server.url}/v1/messages",
        json={"model": "claude-sonnet-4-5", "messages": HELLO},
        headers={"anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert refused.status_code == 400, refused.text
    assert "openai-processing-ms" not in refused.headers


def test_a_keys_files_limits_are_named_and_an_open_key_has_none(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - key: sk-limited\n    rpm: 3\n  - key: sk-free\n")
    found = start_server(
        "--scenarios", str(SCENARIOS), "--keys", str(keys), "--freeze-time", "1700000000",
        tmp_path=tmp_path,
    )  # fmt: skip
    try:
        body = {"model": "gpt-4o-mini", "messages": HELLO}
        limited = httpx.post(
            f"{found.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": "Bearer sk-limited"},
            timeout=30,
        )
        assert limited.headers["x-ratelimit-limit-requests"] == "3"
        assert limited.headers["x-ratelimit-remaining-requests"] == "2"
        assert "x-ratelimit-limit-tokens" not in limited.headers
        free = httpx.post(
            f"{found.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": "Bearer sk-free"},
            timeout=30,
        )
        assert "x-ratelimit-limit-requests" not in free.headers  # no limit, none named
    finally:
        found.stop()


@pytest.mark.parametrize(
    "model", ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"]
)
def test_an_embeddings_answer_names_its_model(server: RunningServer, model: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.url}/v1", api_key="sk-test", max_retries=0)
    raw = client.embeddings.with_raw_response.create(model=model, input="Hello!")
    assert raw.headers["openai-model"] == model == raw.parse().model


def test_only_embeddings_answers_name_their_model(server: RunningServer) -> None:
    for name, (path, body) in ANSWERED.items():
        answer = post(server, path, body)
        assert ("openai-model" in answer.headers) == (name == "embeddings"), name
    refused = post(server, "/v1/embeddings", {"model": "text-embedding-3-small"})
    assert refused.status_code == 400 and "openai-model" not in refused.headers
