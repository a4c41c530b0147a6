"""A bare Starlette app that sends the benchmark's replies: the baseline mockllm is compared to.

Run it the way run.py does:

    .venv/bin/python -m uvicorn --app-dir bench reference_app:app --port 8100 \
        --http httptools --loop uvloop --no-access-log --log-level warning

It does the least a Starlette app can do for the same wire bytes: parse the body with
`Request.json()`, answer JSON with a `Response`, and stream pre-built `data: ...` events
from a `StreamingResponse`, pacing with `asyncio.sleep` to absolute deadlines.

A model that is not one of the benchmark's (mockllm answers those from its generator)
gets a constant answer shaped like mockllm's: a generated-looking text, or, when the
request offers tools, a call to the benchmark's tool with constant, valid arguments.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import AsyncIterator

from replies import (
    EMBEDDING_DIMENSIONS,
    GENERATED_TEXT,
    GENERATED_TOKENS,
    MODELS,
    PROMPT_TOKENS,
    TOOL_ARGUMENTS,
    TOOL_NAME,
    BenchModel,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

_ids = itertools.count(1)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Encoded:
    """One model's reply as pre-encoded pieces; only `id` and `created` change per request."""

    def __init__(self, model: BenchModel) -> None:
        self.model = model
        n = len(model.chunks)
        usage = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": n,
            "total_tokens": PROMPT_TOKENS + n,
        }
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": model.content, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
        self.completion_tail = (
            f',"model":{_dumps(model.name)},"choices":[{_dumps(choice)}],'
            f'"usage":{_dumps(usage)},"system_fingerprint":null}}'
        ).encode()

        def event_tail(delta: dict[str, object], finish: str | None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return (
                f',"model":{_dumps(model.name)},"system_fingerprint":null,'
                f'"choices":[{_dumps(choice)}]}}\n\n'
            ).encode()

        self.role_tail = event_tail({"role": "assistant", "content": "", "refusal": None}, None)
        self.content_tails = [event_tail({"content": text}, None) for text in model.chunks]
        self.finish_tail = event_tail({}, "stop") + b"data: [DONE]\n\n"

    def completion(self) -> bytes:
        head = f'{{"id":"chatcmpl-{next(_ids):024x}","object":"chat.completion",'
        return f'{head}"created":{int(time.time())}'.encode() + self.completion_tail

    def events(self) -> tuple[bytes, list[bytes], bytes]:
        """(role event, one event per content delta, finish event + [DONE]) for one stream."""
        head = (
            f'data: {{"id":"chatcmpl-{next(_ids):024x}","object":"chat.completion.chunk",'
            f'"created":{int(time.time())}'
        ).encode()
        return (
            head + self.role_tail,
            [head + tail for tail in self.content_tails],
            head + self.finish_tail,
        )


_ENCODED = {name: _Encoded(model) for name, model in MODELS.items()}

# What mockllm's generator adds to a chat.completion, so both bodies are about the size.
_USAGE_DETAILS = {
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


class _Generated:
    """The constant answers for a model that is not the benchmark's: a text (or a stream
    of it), or, with tools, a call to the benchmark's tool. Only `id` and `created` change."""

    def __init__(self, model: str) -> None:
        first, *rest = GENERATED_TEXT.split(" ")
        self.stream = _Encoded(BenchModel(model, (first, *(" " + word for word in rest))))

        def tail(message: dict[str, object], finish: str, completion_tokens: int) -> bytes:
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            usage = {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": completion_tokens,
                "total_tokens": PROMPT_TOKENS + completion_tokens,
                **_USAGE_DETAILS,
            }
            return (
                f',"model":{_dumps(model)},"choices":[{_dumps(choice)}],"usage":{_dumps(usage)},'
                f'"service_tier":"default","system_fingerprint":"fp_370d69f0b8"}}'
            ).encode()

        text = {"role": "assistant", "content": GENERATED_TEXT, "refusal": None, "annotations": []}
        call = {
            "id": "call_PH9b9zJSblLbr3HapJyrf0ov",
            "type": "function",
            "function": {"name": TOOL_NAME, "arguments": _dumps(TOOL_ARGUMENTS)},
        }
        tool = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "annotations": [],
            "tool_calls": [call],
        }
        self.text_tail = tail(text, "stop", GENERATED_TOKENS)
        self.tool_tail = tail(tool, "stop", 170)  # tool_choice names the tool

    def completion(self, tools: bool) -> bytes:
        head = f'{{"id":"chatcmpl-{next(_ids):024x}","object":"chat.completion",'
        tail = self.tool_tail if tools else self.text_tail
        return f'{head}"created":{int(time.time())}'.encode() + tail


_GENERATED: dict[str, _Generated] = {}


def _generated(model: object) -> _Generated:
    name = model if isinstance(model, str) else "unknown"
    found = _GENERATED.get(name)
    if found is None:
        found = _Generated(name)
        if len(_GENERATED) < 100:
            _GENERATED[name] = found
    return found


async def _fast(events: tuple[bytes, list[bytes], bytes]) -> AsyncIterator[bytes]:
    role, contents, finish = events
    yield role
    for event in contents:
        yield event
    yield finish


async def _paced(
    events: tuple[bytes, list[bytes], bytes], model: BenchModel, start: float
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    role, contents, finish = events
    due = start + model.ttft_ms / 1000
    gap = model.inter_token_ms / 1000
    yield role
    for event in contents:
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield event
        due += gap
    yield finish


async def chat_completions(request: Request) -> Response:
    # Deadlines count from the request's arrival at the endpoint, as mockllm's do.
    start = asyncio.get_running_loop().time()
    body = await request.json()
    encoded = _ENCODED.get(body.get("model"))
    if encoded is None:  # any other model: the generated-looking answer
        generated = _generated(body.get("model"))
        if not body.get("stream"):
            answer = generated.completion(bool(body.get("tools")))
            return Response(answer, media_type="application/json")
        encoded = generated.stream
    if not body.get("stream"):
        return Response(encoded.completion(), media_type="application/json")
    events = encoded.events()
    stream = _paced(events, encoded.model, start) if encoded.model.is_paced else _fast(events)
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _embedding_body() -> bytes:
    """A constant embeddings answer of the same size and shape as mockllm's: one vector of
    float32-looking values."""
    rng = random.Random(0)
    vector = [round(rng.uniform(-0.08, 0.08), 9) for _ in range(EMBEDDING_DIMENSIONS)]
    return _dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": vector}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 11, "total_tokens": 11},
        }
    ).encode()


_EMBEDDING = _embedding_body()


async def embeddings(request: Request) -> Response:
    await request.json()
    return Response(_EMBEDDING, media_type="application/json")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/__admin/health", health, methods=["GET"]),
    ]
)
