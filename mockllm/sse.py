"""Server-sent events as bytes: encode an event, the end marker, split a recorded body,
read and rewrite an event's `data:` lines."""

from __future__ import annotations

import re
from collections.abc import Callable

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


def fields_of(event: bytes) -> tuple[str | None, bytes | None]:
    """An event's `event:` name (None without one) and its data: the `data:` lines' values
    joined by newlines, one optional space after the colon removed (None without any).
    Other fields and comments are left out."""
    name, data = None, []
    for line in event.splitlines():
        if line.startswith(b"event:"):
            name = line[6:].strip().decode("utf-8", "replace")
        elif line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
    return name, (b"\n".join(data) if data else None)


def data_of(event: bytes) -> bytes:
    """The data an event carries (empty when it has none): see `fields_of`."""
    return fields_of(event)[1] or b""


def map_data(event: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """The event with each `data:` line's value (stripped) replaced by `change(value)`; the
    other lines and every line ending are kept. An unchanged value keeps its line as it was."""
    lines = event.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(b"data:"):
            value = line[5:].strip()
            if (changed := change(value)) != value:
                lines[i] = b"data: " + changed + line[len(line.rstrip(b"\r\n")) :]
    return b"".join(lines)
