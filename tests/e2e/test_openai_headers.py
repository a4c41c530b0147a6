"""The headers of the OpenAI families' answers, as the API sends them (raw httpx, and the
official SDK where it reads them)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCENARIOS, RunningServer, start_server
from tests.feed_reader import FeedReader

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


RATE_NAMES = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
)


def rate_headers(answer: httpx.Response) -> dict[str, str]:
    return {name: answer.headers.get(name, "") for name in RATE_NAMES}


# Token counting is answered from the request alone, with no rate limit.
@pytest.mark.parametrize("name", sorted(set(ANSWERED) - {"input tokens"}))
def test_every_answer_carries_the_rate_limit_headers(server: RunningServer, name: str) -> None:
    path, body = ANSWERED[name]
    answer = post(server, path, body)
    assert answer.status_code == 200, answer.text
    limits = rate_headers(answer)
    assert limits["x-ratelimit-limit-requests"] == "10000"
    assert limits["x-ratelimit-limit-tokens"] == "10000000"
    assert limits["x-ratelimit-remaining-requests"] == "9999"
    assert limits["x-ratelimit-reset-requests"] == "6ms"
    remaining = int(limits["x-ratelimit-remaining-tokens"])
    assert 10_000_000 - 100 < remaining < 10_000_000  # the request's few tokens taken
    assert limits["x-ratelimit-reset-tokens"] == "0s"
    # The same request, the same headers (--freeze-time): the bucket is full again.
    assert rate_headers(post(server, path, body)) == limits


def test_the_tokens_asked_for_count_against_the_limit(server: RunningServer) -> None:
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 10_000}
    answer = post(server, "/v1/chat/completions", body)
    plain = post(server, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO})
    used = 10_000_000 - int(answer.headers["x-ratelimit-remaining-tokens"])
    prompt = 10_000_000 - int(plain.headers["x-ratelimit-remaining-tokens"])
    assert used == prompt + 10_000
    # 10,009 tokens of 10,000,000 a minute come back in 60.054 ms: written as the API
    # writes it, whole milliseconds rounded down.
    assert answer.headers["x-ratelimit-reset-tokens"] == f"{used * 6 // 1000}ms"


def test_the_sdk_reads_the_rate_limit_headers(server: RunningServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.url}/v1", api_key="sk-test", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    assert raw.headers["x-ratelimit-remaining-requests"] == "9999"
    assert raw.headers["x-request-id"] == raw.request_id
    assert raw.parse().choices[0].message.content


def test_refusals_and_scripted_errors_keep_their_own_headers(server: RunningServer) -> None:
    refused = post(server, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []})
    assert "x-ratelimit-limit-tokens" not in refused.headers
    scripted = post(server, "/v1/chat/completions", {"model": "error-429", "messages": HELLO})
    assert scripted.headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-ratelimit-limit-tokens" not in scripted.headers


def test_a_keys_files_limits_are_sent_as_before(tmp_path: Path) -> None:
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
        assert free.headers["x-ratelimit-limit-requests"] == "10000"
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


WAYS = """\
version: 1
rules:
  - name: instant
    match: { model: instant }
    reply: { content: "At once.", latency: { ttft_ms: 0, inter_token_ms: 0 } }
  - name: own-limits
    match: { model: own-limits }
    reply:
      content: "My own."
      headers: { x-ratelimit-remaining-requests: "0" }
"""


@pytest.fixture(scope="module")
def ways_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("openai-header-ways")
    rules = tmp / "ways.yaml"
    rules.write_text(WAYS, encoding="utf-8")
    found = start_server("--scenarios", str(rules), "--freeze-time", "1700000000", tmp_path=tmp)
    yield found
    found.stop()


def raw_head(server: RunningServer, body: dict, version: str = "1.1", **headers: str) -> list:
    """The head's lines as the server wrote them, over a plain socket."""
    data = json.dumps(body).encode()
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/chat/completions HTTP/{version}\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            f"Connection: close\r\n{extra}\r\n".encode()
            + data
        )
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    return received.split(b"\r\n\r\n")[0].decode().split("\r\n")


@pytest.mark.parametrize(
    "way",
    [
        "whole at once",  # the head and body in one write
        "whole when due",  # the head waits for the body's due time
        "stream",  # the head now, the events after
        "HTTP/1.0 stream",  # another `send`: the lines as header pairs
        "browser",  # CORS headers added by a wrapped `send`
    ],
)
def test_every_way_of_writing_the_head_names_the_limits_once(
    ways_server: RunningServer, way: str
) -> None:
    body: dict = {"model": "gpt-4o-mini", "messages": HELLO}
    version, headers = "1.1", {}
    if way == "whole at once":
        body["model"] = "instant"
    elif way == "stream":
        body["stream"] = True
    elif way == "HTTP/1.0 stream":
        body["stream"], version = True, "1.0"
    elif way == "browser":
        headers["Origin"] = "http://localhost:3000"
    lines = raw_head(ways_server, body, version, **headers)
    assert lines[0].endswith(" 200 OK"), lines
    names = [line.split(":", 1)[0].lower() for line in lines[1:]]
    assert sorted(n for n in names if n.startswith("x-ratelimit-")) == sorted(RATE_NAMES)
    assert len(names) == len(set(names)), names  # each header once
    found = dict(line.split(": ", 1) for line in lines[1:])
    assert found["x-ratelimit-remaining-requests"] == "9999"
    if way == "browser":
        assert found["access-control-allow-origin"] == "*"


def test_a_rules_own_rate_header_wins_and_the_rest_are_named(ways_server: RunningServer) -> None:
    lines = raw_head(ways_server, {"model": "own-limits", "messages": HELLO})
    found = [line.split(": ", 1) for line in lines[1:]]
    rates = {k: v for k, v in found if k.startswith("x-ratelimit-")}
    assert len(rates) == len([k for k, _ in found if k.startswith("x-ratelimit-")])  # once each
    assert rates["x-ratelimit-remaining-requests"] == "0"
    assert rates["x-ratelimit-limit-requests"] == "10000"
    assert set(rates) == set(RATE_NAMES)


def test_the_inspector_shows_the_limits_sent(ways_server: RunningServer) -> None:
    """While a page follows the journal, an exchange keeps the headers it was sent."""
    reader = FeedReader(f"{ways_server.url}/__admin/feed")
    try:
        reader.wait(lambda name, _: name == "hello")
        answer = post(ways_server, "/v1/chat/completions", {"model": "instant", "messages": HELLO})
    finally:
        reader.close()
    request_id = answer.headers["x-request-id"]
    shown = httpx.get(f"{ways_server.url}/__admin/requests/{request_id}", timeout=30).json()
    sent = dict(shown["sent_headers"])
    assert sent["x-request-id"] == request_id
    assert sent["x-ratelimit-remaining-requests"] == "9999"
    assert sent["x-ratelimit-limit-tokens"] == "10000000"
