"""Rendered answers → the exact bytes: a completion body, or pre-encoded SSE events.

Every event is built before the first one is due; only the changing fields are
encoded per event and spliced into a prefix shared by the whole stream. Faults that
change what is sent (a malformed chunk, an in-band error) are applied here too;
faults that change how it is sent (disconnect, hang, drip) are the writer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from mockllm import sse
from mockllm.protocol import error_body, error_defaults, tool_call_body, usage_body
from mockllm.render import Rendered, RenderedChoice
from mockllm.rules import ErrorSpec, Fault

_dumps = orjson.dumps


@dataclass(frozen=True, slots=True)
class Body:
    """What to send: a whole body, or events due at offsets (seconds from arrival)."""

    status: int
    content_type: bytes
    body: bytes = b""
    events: tuple[bytes, ...] = ()
    offsets: tuple[float, ...] = ()
    abort_after: int | None = None  # events (or body bytes) sent before the connection is cut


def _usage(rendered: Rendered) -> dict[str, Any]:
    usage = usage_body(rendered.prompt_tokens, rendered.completion_tokens)
    usage["total_tokens"] = rendered.total_tokens
    return usage


def _message(choice: RenderedChoice) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": choice.content if not choice.tool_calls else None,
        "refusal": choice.refusal,
        "annotations": [],
    }
    if choice.tool_calls:
        message["tool_calls"] = [
            tool_call_body(c.id, c.name, c.arguments) for c in choice.tool_calls
        ]
    return message


def _logprobs(choice: RenderedChoice) -> dict[str, Any] | None:
    if choice.logprobs is None:
        return None
    return {"content": [entry for delta in choice.logprobs for entry in delta], "refusal": None}


def completion(rendered: Rendered, created: int) -> dict[str, Any]:
    """The non-streaming `chat.completion` object."""
    return {
        "id": rendered.id,
        "object": "chat.completion",
        "created": created,
        "model": rendered.model,
        "choices": [
            {
                "index": c.index,
                "message": _message(c),
                "logprobs": _logprobs(c),
                "finish_reason": c.finish_reason,
            }
            for c in rendered.choices
        ],
        "usage": _usage(rendered),
        "service_tier": "default",
        "system_fingerprint": rendered.fingerprint,
        **({"provider": rendered.provider} if rendered.provider else {}),
    }


def in_band_error(spec: ErrorSpec | None) -> dict[str, Any]:
    status = spec.status if spec else 500
    kind, code, message = error_defaults(status)
    if spec is not None and status == 429:
        retry = next((v for k, v in spec.headers if k.lower() == "retry-after"), None)
        if retry is not None:
            message = f"Rate limit reached for requests. Please try again in {retry}s."
    if spec is None:
        return error_body(message, kind, None, code)["error"]  # type: ignore[no-any-return]
    return error_body(spec.message or message, spec.type or kind, spec.param, spec.code or code)[
        "error"
    ]  # type: ignore[no-any-return]


def _malformed(event: bytes) -> bytes:
    # Cut the JSON in half: a client parsing it fails exactly here.
    payload = event[len(b"data: ") : -2]
    return b"data: " + payload[: max(1, len(payload) // 2)] + b"\n\n"


class _Chunks:
    """Encodes the chunks of one stream from a shared, pre-encoded prefix."""

    def __init__(self, rendered: Rendered, created: int, include_usage: bool) -> None:
        self.prefix = (
            b'data: {"id":'
            + _dumps(rendered.id)
            + b',"object":"chat.completion.chunk","created":'
            + str(created).encode()
            + b',"model":'
            + _dumps(rendered.model)
            + b',"service_tier":"default","system_fingerprint":'
            + _dumps(rendered.fingerprint)
            + (b',"provider":' + _dumps(rendered.provider) if rendered.provider else b"")
            + b',"choices":['
        )
        self.suffix = b'],"usage":null}\n\n' if include_usage else b"]}\n\n"

    def choice(
        self, index: int, delta: bytes, logprobs: bytes = b"null", finish: bytes = b"null"
    ) -> bytes:
        return (
            self.prefix
            + b'{"index":%d,"delta":' % index
            + delta
            + b',"logprobs":'
            + logprobs
            + b',"finish_reason":'
            + finish
            + b"}"
            + self.suffix
        )


def _choice_ticks(chunks: _Chunks, choice: RenderedChoice) -> list[bytes]:
    """The events of one choice after its role delta, one per tick."""
    out = []
    field = b'{"refusal":' if choice.refusal is not None else b'{"content":'
    for i, delta in enumerate(choice.deltas):
        logprobs = b"null"
        if choice.logprobs is not None:
            logprobs = _dumps({"content": list(choice.logprobs[i]), "refusal": None})
        out.append(chunks.choice(choice.index, field + _dumps(delta) + b"}", logprobs))
    for call in choice.tool_calls:
        for j, fragment in enumerate(call.fragments):
            if j == 0:
                part: dict[str, Any] = {
                    "index": call.index,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": fragment},
                }
            else:
                part = {"index": call.index, "function": {"arguments": fragment}}
            out.append(chunks.choice(choice.index, b'{"tool_calls":[' + _dumps(part) + b"]}"))
    return out


def stream(
    rendered: Rendered, created: int, include_usage: bool, fault: Fault | None = None
) -> Body:
    """The SSE events of a streamed answer, each with the offset it is due at."""
    chunks = _Chunks(rendered, created, include_usage)
    ticks = [_choice_ticks(chunks, c) for c in rendered.choices]
    offsets = rendered.offsets
    events: list[bytes] = []
    due: list[float] = []
    for choice in rendered.choices:
        role = b'{"role":"assistant","content":"","refusal":null}'
        if choice.refusal is not None:
            role = b'{"role":"assistant","content":null,"refusal":""}'
        elif choice.tool_calls:
            role = b'{"role":"assistant","content":null,"refusal":null}'
        events.append(chunks.choice(choice.index, role))
        due.append(offsets[0])
    cut_at = None
    if fault is not None:
        if fault.error_after_tokens is not None:
            cut_at = fault.error_after_tokens
        elif fault.empty_choices_error:
            cut_at = 0
    tick_count = max(len(t) for t in ticks)
    abort_after = None
    for k in range(tick_count):
        if cut_at is not None and k >= cut_at:
            break
        for choice_ticks in ticks:
            if k < len(choice_ticks):
                event = choice_ticks[k]
                if fault is not None and fault.malformed_chunk_at == k + 1:
                    event = _malformed(event)
                events.append(event)
                due.append(offsets[min(k, len(offsets) - 1)])
        if fault is not None and fault.disconnect_after_tokens == k + 1:
            abort_after = len(events)
    last = due[-1]
    if cut_at is not None:
        assert fault is not None
        error = in_band_error(fault.error)
        if fault.empty_choices_error:
            payload = chunks.prefix[len(b"data: ") :] + b'],"error":' + _dumps(error) + b"}"
            events.append(sse.encode(payload))
        else:
            events.append(sse.encode(_dumps({"error": error})))
        due.append(last)
    else:
        for choice in rendered.choices:
            finish = _dumps(choice.finish_reason)
            events.append(chunks.choice(choice.index, b"{}", finish=finish))
            due.append(last)
        if include_usage:
            events.append(chunks.prefix + b'],"usage":' + _dumps(_usage(rendered)) + b"}\n\n")
            due.append(last)
        events.append(sse.DONE)
        due.append(last)
    if fault is not None and fault.disconnect_after_tokens == 0:
        abort_after = len(rendered.choices)
    return Body(
        200,
        b"text/event-stream; charset=utf-8",
        events=tuple(events),
        offsets=tuple(due),
        abort_after=abort_after,
    )


def whole(rendered: Rendered, created: int, fault: Fault | None = None) -> Body:
    """A non-streaming answer, with the non-streaming form of a fault."""
    body = completion(rendered, created)
    delay = rendered.offsets[-1]
    if fault is not None:
        if fault.empty_choices_error:
            body["choices"] = []
            body["error"] = in_band_error(fault.error)
        elif fault.error_after_tokens is not None:
            error = fault.error or ErrorSpec(500)
            return Body(
                error.status,
                b"application/json",
                _dumps({"error": in_band_error(error)}),
                offsets=(delay,),
            )
    data = _dumps(body)
    abort_after = None
    if fault is not None:
        if fault.malformed_chunk_at is not None:
            data = data[: len(data) // 2]
        if fault.disconnect_after_tokens is not None:
            abort_after = len(data) // 2
    return Body(200, b"application/json", data, offsets=(delay,), abort_after=abort_after)


def error(spec: ErrorSpec, model: str | None = None, delay: float = 0.0) -> Body:
    """An error reply in OpenAI's shape, with defaults by status."""
    return Body(
        spec.status, b"application/json", _dumps({"error": in_band_error(spec)}), offsets=(delay,)
    )
