"""What leaves on the wire, whatever the family: a whole body, or pre-encoded events each
due at an offset from the request's arrival. Dialects build it; the writer sends it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mockllm.frozen import quick_init

if TYPE_CHECKING:
    from mockllm.rules import Fault


@quick_init
@dataclass(frozen=True, slots=True)
class Body:
    """What to send: a whole body, or events due at offsets (seconds from arrival)."""

    status: int
    content_type: bytes
    body: bytes = b""
    events: tuple[bytes, ...] = ()
    offsets: tuple[float, ...] = ()
    abort_after: int | None = None  # events (or body bytes) sent before the connection is cut


JSON_TYPE = b"application/json"
SSE_TYPE = b"text/event-stream; charset=utf-8"


def malformed(event: bytes) -> bytes:
    """An SSE event whose JSON is cut in half (its `event:` line kept): a client parsing it
    fails exactly there."""
    head, sep, payload = event.rpartition(b"data: ")
    payload = payload[:-2] if payload.endswith(b"\n\n") else payload
    return head + sep + payload[: max(1, len(payload) // 2)] + b"\n\n"


def whole_json(data: bytes, delay: float, fault: Fault | None) -> Body:
    """A whole JSON answer, sent after `delay`, with what a fault does to a body that is
    not streamed: `malformed_chunk_at` cuts the JSON in half, `disconnect_after_tokens`
    cuts the connection halfway through it."""
    abort_after = None
    if fault is not None:
        if fault.malformed_chunk_at is not None:
            data = data[: len(data) // 2]
        if fault.disconnect_after_tokens is not None:
            abort_after = len(data) // 2
    return Body(200, JSON_TYPE, data, offsets=(delay,), abort_after=abort_after)
