"""--freeze-time fixes every header that tells the time, not only `created`: the `date`
header, and the rate-limit headers, whose buckets are measured on the frozen clock (time
does not pass for them: they refill only on POST /__admin/reset), in one process and in
servers sharing a Redis store alike."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path
from typing import Any

import httpx

FROZEN = "1700000000"  # 2023-11-14T22:13:20Z
CHAT = {"model": "gpt-4o-mini", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}
MESSAGES = {
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 3,
    "messages": [{"role": "user", "content": "Hi"}],
}
KEYS = """\
keys:
  - key: sk-frozen-1
    rpm: 2
  - key: sk-frozen-2
    rpm: 2
  - key: sk-frozen-3
    rpm: 100
"""
RULES = """\
version: 1
rules:
  - name: scripted-429
    match: { model: scripted-429 }
    reply:
      error: { status: 429 }
"""
_prefixes = itertools.count()


def _files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "keys.yaml").write_text(KEYS)
    (tmp_path / "rules.yaml").write_text(RULES)
    return str(tmp_path / "keys.yaml"), str(tmp_path / "rules.yaml")


def _chat(url: str, key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers, timeout=10)


def _messages(url: str, key: str, body: dict[str, Any] = MESSAGES) -> httpx.Response:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return httpx.post(f"{url}/v1/messages", json=body, headers=headers, timeout=10)


def _rate(response: httpx.Response) -> dict[str, str]:
    return {
        k: v
        for k, v in response.headers.items()
        if k.startswith(("x-ratelimit-", "anthropic-ratelimit-")) or k == "retry-after"
    }


def _openai_buckets(urls: list[str]) -> None:
    """rpm 2 on a frozen clock: two answers counting down, then refusals that stay the same
    however long the client waits."""
    first, second, third = (_chat(urls[i % len(urls)], "sk-frozen-1") for i in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert _rate(first) == {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "30s",  # one request back at 2 a minute
    }
    assert _rate(second) == {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }
    refused = {
        "retry-after": "30",
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }
    assert _rate(third) == refused
    assert "Please try again in 30s." in third.json()["error"]["message"]
    time.sleep(1.2)  # the real clock moves on; the buckets' does not
    later = _chat(urls[-1], "sk-frozen-1")
    assert later.status_code == 429
    assert _rate(later) == refused
    assert later.content == third.content


def test_rate_limit_headers_follow_the_frozen_clock(serve: Any, tmp_path: Path) -> None:
    keys, rules = _files(tmp_path)
    server = serve("--keys", keys, "--scenarios", rules, "--freeze-time", FROZEN)
    _openai_buckets([server.url])
    assert httpx.post(f"{server.url}/__admin/reset", timeout=10).status_code == 200
    again = _chat(server.url, "sk-frozen-1")
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining-requests"] == "1"


def test_anthropic_reset_times_are_on_the_frozen_clock(serve: Any, tmp_path: Path) -> None:
    """anthropic-ratelimit-*-reset is the RFC 3339 time a bucket is whole again: the frozen
    time plus the wait, for a key's bucket and for a scripted 429 alike."""
    keys, rules = _files(tmp_path)
    server = serve("--keys", keys, "--scenarios", rules, "--freeze-time", FROZEN)
    one = _messages(server.url, "sk-frozen-2")
    assert one.status_code == 200, one.text
    assert _rate(one) == {
        "anthropic-ratelimit-requests-limit": "2",
        "anthropic-ratelimit-requests-remaining": "1",
        "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:50Z",
    }
    _messages(server.url, "sk-frozen-2")
    time.sleep(1.2)
    refused = _messages(server.url, "sk-frozen-2")
    assert refused.status_code == 429
    assert _rate(refused) == {
        "retry-after": "30",
        "anthropic-ratelimit-requests-limit": "2",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2023-11-14T22:14:20Z",
    }
    scripted = _messages(server.url, "sk-frozen-3", {**MESSAGES, "model": "scripted-429"})
    assert scripted.status_code == 429
    assert scripted.headers["anthropic-ratelimit-requests-reset"] == "2023-11-14T22:13:21Z"


def test_the_date_header_is_the_frozen_time(serve: Any, tmp_path: Path) -> None:
    server = serve("--freeze-time", FROZEN)
    for response in (
        httpx.post(f"{server.url}/v1/chat/completions", json=CHAT, timeout=10),
        httpx.get(f"{server.url}/v1/models", timeout=10),
        httpx.get(f"{server.url}/v1/nowhere", timeout=10),
    ):
        dates = [v for k, v in response.headers.raw if k.lower() == b"date"]
        assert dates == [b"Tue, 14 Nov 2023 22:13:20 GMT"], response.request.url


def test_servers_sharing_a_store_keep_the_frozen_clock(
    serve: Any, tmp_path: Path, redis_server: Any
) -> None:
    """Two servers over one Redis: the store's own clock does not refill the buckets either."""
    keys, rules = _files(tmp_path)
    prefix = f"frozen{next(_prefixes)}:"
    flags = ("--keys", keys, "--scenarios", rules, "--freeze-time", FROZEN)
    shared = ("--state", redis_server.url, "--state-prefix", prefix)
    servers = [serve(*flags, *shared) for _ in range(2)]
    _openai_buckets([s.url for s in servers])


def test_admin_calls_and_probes_do_not_change_the_request_ids_of_answers(serve: Any) -> None:
    """A health check (the Docker image's HEALTHCHECK polls every 10 s, a load generator's
    GET /health), a metrics scrape or a look at the journal between two requests does not
    change the ids the API's answers carry."""
    quiet, polled = serve("--freeze-time", FROZEN), serve("--freeze-time", FROZEN)
    for path in ("/__admin/health", "/health", "/metrics"):
        assert httpx.get(f"{polled.url}{path}", timeout=10).status_code == 200
    first = [
        httpx.post(f"{s.url}/v1/chat/completions", json=CHAT, timeout=10) for s in (quiet, polled)
    ]
    httpx.get(f"{polled.url}/__admin/requests", timeout=10)
    httpx.get(f"{polled.url}/metrics", timeout=10)
    second = [_messages(s.url, "any") for s in (quiet, polled)]
    for one, other in (first, second):
        assert one.headers.items() == other.headers.items()
        assert one.content == other.content


def test_request_ids_do_not_depend_on_which_server_answers(
    serve: Any, tmp_path: Path, redis_server: Any
) -> None:
    """Servers sharing a store number their exchanges together under --freeze-time: the
    same series of requests gets the same request ids (headers, and the `request_id` of an
    Anthropic error body) from one server as from two taking turns."""
    _, rules = _files(tmp_path)
    flags = ("--scenarios", rules, "--freeze-time", FROZEN)
    prefix = f"frozen{next(_prefixes)}:"
    alone = serve(*flags)
    pair = [serve(*flags, "--state", redis_server.url, "--state-prefix", prefix) for _ in range(2)]
    calls = [
        lambda url: httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=10),
        lambda url: _messages(url, "any", {**MESSAGES, "model": "scripted-429"}),
        lambda url: httpx.get(f"{url}/v1/models", timeout=10),
        lambda url: _messages(url, "any"),
        lambda url: httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=10),
    ]
    for turn, call in enumerate(calls):
        one, other = call(alone.url), call(pair[turn % 2].url)
        assert (one.status_code, one.content) == (other.status_code, other.content)
        assert one.headers.items() == other.headers.items()


def test_a_reset_starts_the_request_ids_again(serve: Any, tmp_path: Path) -> None:
    """After POST /__admin/reset (which the pytest plugin sends between tests) the same
    requests give the same bytes as on a fresh server: a test's answers do not depend on
    how many requests the tests before it made."""
    _, rules = _files(tmp_path)
    server = serve("--scenarios", rules, "--freeze-time", FROZEN)
    calls = [
        lambda: httpx.post(f"{server.url}/v1/chat/completions", json=CHAT, timeout=10),
        lambda: _messages(server.url, "any", {**MESSAGES, "model": "scripted-429"}),
    ]
    first = [call() for call in calls]
    assert httpx.post(f"{server.url}/__admin/reset", timeout=10).status_code == 200
    again = [call() for call in calls]
    for one, other in zip(first, again, strict=True):
        assert one.headers.items() == other.headers.items()
        assert one.content == other.content


def test_the_request_ids_of_other_routes_are_derived_from_the_route_and_seed(serve: Any) -> None:
    """GET /v1/models and a refusal of an unknown path carry ids spelt like an exchange's
    (`req_` and 32 hex digits, the first 16 from the request and the seed), not a run of
    zeros before the count: the same route and seed give the same id on any server."""
    one, other, reseeded = serve("--seed", "3"), serve("--seed", "3"), serve("--seed", "4")

    def ids(url: str) -> list[str]:
        paths = ("/v1/models", "/v1/models/gpt-4o", "/v1/nowhere")
        return [httpx.get(f"{url}{path}", timeout=10).headers["x-request-id"] for path in paths]

    first = ids(one.url)
    assert first == ids(other.url)
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", found) for found in first), first
    heads = [found[4:20] for found in first]
    assert "0" * 16 not in heads and len(set(heads)) == 3, heads  # one per route
    assert [found[4:20] for found in ids(reseeded.url)] != heads
