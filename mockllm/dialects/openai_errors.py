"""How the OpenAI families (chat, legacy completions, Responses, embeddings) write an
error: `{"error": {"message", "type", "param", "code"}}`, with a status's default
headers (429: Retry-After), and the headers every answer of theirs carries. One place, so
that the four say it alike."""

from __future__ import annotations

from functools import lru_cache

import orjson

from mockllm.accounts import format_duration
from mockllm.dialects import Headers
from mockllm.errors import RequestError
from mockllm.protocol import default_error_headers, error_body, error_object
from mockllm.rules import ErrorSpec
from mockllm.wire import JSON_TYPE, Body

# On every answer of the API, whether or not the request came from a browser: a page's
# script (openai-node with `dangerouslyAllowBrowser`) can read the request id of an answer
# from another origin only when the answer names it here.
EXPOSED = ((b"access-control-expose-headers", b"X-Request-ID"),)

# The rate limits an answer names when no keys file sets the key's own: a usage tier's
# 10,000 requests and 10,000,000 tokens a minute (what the API's embeddings answers name),
# a rate no test reaches, so the buckets are full again before each request.
OPEN_REQUESTS = 10_000
OPEN_TOKENS = 10_000_000


def open_limits(tokens: int) -> Headers:
    """The x-ratelimit-* of an answer that no limit holds back, for a request counted as
    `tokens` (its prompt and the completion tokens it asks for at most): one request and
    those tokens taken from full buckets, each reset written as the API writes it (the time
    to win them back, in whole milliseconds rounded down: `6ms`, `0s`)."""
    tokens = max(0, tokens)
    reset_requests = 60_000 // OPEN_REQUESTS
    reset_tokens = 60_000 * min(tokens, OPEN_TOKENS) // OPEN_TOKENS
    return (
        ("x-ratelimit-limit-requests", str(OPEN_REQUESTS)),
        ("x-ratelimit-limit-tokens", str(OPEN_TOKENS)),
        ("x-ratelimit-remaining-requests", str(OPEN_REQUESTS - 1)),
        ("x-ratelimit-remaining-tokens", str(max(0, OPEN_TOKENS - tokens))),
        ("x-ratelimit-reset-requests", format_duration(reset_requests / 1000)),
        ("x-ratelimit-reset-tokens", format_duration(reset_tokens / 1000)),
    )


@lru_cache(maxsize=4096)
def open_limit_lines(tokens: int) -> bytes:
    """`open_limits(tokens)` written out as header lines, made once per token count."""
    return b"".join(f"{name}: {value}\r\n".encode() for name, value in open_limits(tokens))


def failure(spec: ErrorSpec, delay: float = 0.0, request_id: str = "") -> Body:
    """An error reply in OpenAI's shape, with defaults by status."""
    body = orjson.dumps({"error": error_object(spec)})
    return Body(spec.status, JSON_TYPE, body, offsets=(delay,))


def refusal(exc: RequestError, request_id: str = "") -> bytes:
    """A refused request in OpenAI's shape."""
    return orjson.dumps(error_body(exc.message, exc.type, exc.param, exc.code))


def headers(status: int, rate: Headers, now: float = 0.0) -> Headers:
    """Rate-limit headers as OpenAI names them (its resets are durations, whatever `now`);
    an error's defaults (429: Retry-After)."""
    return (*rate, *default_error_headers(status)) if status >= 400 else rate
