"""Server-sent events as bytes: encode an event, the end marker, split a recorded body."""

from __future__ import annotations

import re

DONE = b"data: [DONE]\n\n"
_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def encode(data: bytes) -> bytes:
    """One `data:` event carrying already-encoded JSON."""
    return b"data: " + data + b"\n\n"


def split_events(body: bytes) -> list[bytes]:
    """Split an SSE body into events, each ending with its blank line."""
    events = []
    start = 0
    for boundary in _BOUNDARY.finditer(body):
        events.append(body[start : boundary.end()])
        start = boundary.end()
    if body[start:].strip():
        events.append(body[start:])
    return events
