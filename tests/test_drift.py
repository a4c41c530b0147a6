"""Drift: the shape of an answer, values left out."""

from __future__ import annotations

import orjson

from mockllm.drift import shape_of


def text_event(text: str, finish: str | None = None, **extra: object) -> bytes:
    choices = [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]
    data = {"id": "cmpl-1", "object": "text_completion", "choices": choices, **extra}
    return b"data: " + orjson.dumps(data) + b"\n\n"


def test_a_legacy_completion_stream_is_text_then_its_finish() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    body = b"".join(
        [
            text_event("One"),
            text_event(", two"),
            text_event("", "stop"),
            b"data: " + orjson.dumps({"object": "text_completion", "choices": [], "usage": usage}),
            b"\n\ndata: [DONE]\n\n",
        ]
    )
    shape = shape_of(200, (), body, stream=True)
    assert shape.events == ("text", "finish", "usage", "[DONE]")
    assert "choices[].text" in shape.keys and "usage.total_tokens" in shape.keys
