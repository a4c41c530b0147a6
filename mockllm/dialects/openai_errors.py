"""How the OpenAI families (chat, legacy completions, Responses, embeddings) write an
error: `{"error": {"message", "type", "param", "code"}}`, with a status's default
headers (429: Retry-After), and the headers every answer of theirs carries. One place, so
that the four say it alike."""

from __future__ import annotations

import orjson

from mockllm.dialects import Headers
from mockllm.errors import RequestError
from mockllm.protocol import default_error_headers, error_body, error_object
from mockllm.rules import ErrorSpec
from mockllm.wire import JSON_TYPE, Body

# On every answer of the API, whether or not the request came from a browser: a page's
# script (openai-node with `dangerouslyAllowBrowser`) can read the request id of an answer
# from another origin only when the answer names it here.
EXPOSED = ((b"access-control-expose-headers", b"X-Request-ID"),)


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
