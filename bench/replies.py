"""The benchmark's models, requests and replies, shared by the reference app and run.py.

Both servers must answer the same requests with the same content, so the token lists live
here once: `reference_app.py` builds its responses from them and `make_scenarios.py` writes
them into the scenario files mockllm loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Ordinary English words, so the deltas are about as long as real tokens.
_WORDS = (
    "the quarterly report shows steady growth in revenue while operating costs stayed "
    "flat across most regions and the team expects demand to remain strong through the "
    "next two quarters despite some pressure on margins from higher shipping prices and "
    "a slower hiring pace in the support group which the plan addresses with new tools "
    "for routing tickets and a small increase in the budget for training"
).split()


def tokens(count: int) -> tuple[str, ...]:
    """The first `count` stream deltas: a word each, every one after the first with a space."""
    words = [_WORDS[i % len(_WORDS)] for i in range(count)]
    return tuple(word if i == 0 else " " + word for i, word in enumerate(words))


@dataclass(frozen=True, slots=True)
class BenchModel:
    """One model name the benchmark sends, and how both servers must answer it."""

    name: str
    chunks: tuple[str, ...]
    ttft_ms: int = 0
    inter_token_ms: int = 0

    @property
    def content(self) -> str:
        return "".join(self.chunks)

    @property
    def is_paced(self) -> bool:
        return self.ttft_ms > 0 or self.inter_token_ms > 0

    @property
    def ideal_ms(self) -> int:
        """Request to last delta on an ideal server: TTFT plus (tokens - 1) gaps."""
        return self.ttft_ms + (len(self.chunks) - 1) * self.inter_token_ms


FAST_50 = BenchModel("bench-fast-50", tokens(50))
FAST_200 = BenchModel("bench-fast-200", tokens(200))
PACED_50 = BenchModel("bench-paced-50", tokens(50), ttft_ms=100, inter_token_ms=20)
MODELS = {model.name: model for model in (PACED_50, FAST_50, FAST_200)}

SYSTEM_PROMPT = "You are a concise assistant for a finance team."
USER_PROMPT = "Summarize the quarterly report in three sentences."
PROMPT_TOKENS = 24
API_KEY = "sk-bench-0000000000000000"


def request_body(model: str, *, stream: bool) -> bytes:
    """The JSON body every client sends for `model`: identical for both servers."""
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_PROMPT},
        ],
        "temperature": 0.2,
        "stream": stream,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def request_bytes(host: str, port: int, model: str, *, stream: bool) -> bytes:
    """A whole HTTP/1.1 keep-alive request for `model`, ready to write to a socket."""
    body = request_body(model, stream=stream)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Content-Type: application/json\r\n"
        f"Accept: {'text/event-stream' if stream else 'application/json'}\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"\r\n"
    )
    return head.encode() + body


EMBEDDING_MODEL = "text-embedding-3-small"
EMBEDDING_DIMENSIONS = 1536
EMBEDDING_INPUT = "Quarterly revenue grew by ten percent on strong subscription sales."


def embedding_body() -> bytes:
    """The embeddings request both servers get: one text, the float encoding."""
    body = {"model": EMBEDDING_MODEL, "input": EMBEDDING_INPUT, "encoding_format": "float"}
    return json.dumps(body, separators=(",", ":")).encode()


def embedding_request_bytes(host: str, port: int) -> bytes:
    body = embedding_body()
    head = (
        f"POST /v1/embeddings HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Content-Type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"\r\n"
    )
    return head.encode() + body
