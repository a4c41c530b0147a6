"""What leaves on the wire, whatever the family: a whole body, or pre-encoded events each
due at an offset from the request's arrival. Dialects build it; the writer sends it."""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
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


def interleave(
    ticks: Sequence[Sequence[bytes]],
    offsets: Sequence[float],
    fault: Fault | None,
    events: list[bytes],
    due: list[float],
) -> tuple[int | None, int | None]:
    """Append the choices' delta events to `events`, the kth of every choice together and
    due at the kth offset (the last offset for any beyond them), as the OpenAI families
    stream `n` choices, with the fault's breaks: a malformed kth event, a cut after the kth
    delta (`disconnect_after_tokens`: how many events go out, returned second), and a stop
    before the kth for an in-band error (returned first: the caller writes the error)."""
    cut_at = None
    if fault is not None:
        if fault.error_after_tokens is not None:
            cut_at = fault.error_after_tokens
        elif fault.empty_choices_error:
            cut_at = 0
    count = max((len(t) for t in ticks), default=0)
    if fault is None and len(ticks) == 1:  # the usual stream: its events in order
        events += ticks[0]
        due += offsets[:count]
        if count > len(offsets):
            due += [offsets[-1]] * (count - len(offsets))
        return None, None
    abort_after = None
    for k in range(count):
        if cut_at is not None and k >= cut_at:
            break
        for choice_ticks in ticks:
            if k < len(choice_ticks):
                event = choice_ticks[k]
                if fault is not None and fault.malformed_chunk_at == k + 1:
                    event = malformed(event)
                events.append(event)
                due.append(offsets[min(k, len(offsets) - 1)])
        if fault is not None and fault.disconnect_after_tokens == k + 1:
            abort_after = len(events)
    return cut_at, abort_after


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


PADDING_CHARS = string.ascii_letters + string.digits
_TO_CHARS = bytes(ord(PADDING_CHARS[i % len(PADDING_CHARS)]) for i in range(256))
_PADDING_BLOCK = 256  # the least output drawn at once (16 deltas' worth or more)


class Padding:
    """The `obfuscation` strings of one stream, as JSON: random letters and digits that
    even out the length of the events (OpenAI's streams carry them unless
    `stream_options.include_obfuscation` is false).

    The bytes are SHAKE-256's output for the stream's seed (its id), used in order: the
    same stream always has the same padding, however it is drawn (a run at once or a
    padding at a time)."""

    __slots__ = ("_xof", "_drawn", "_used")

    def __init__(self, seed: str) -> None:
        self._xof = hashlib.shake_256(seed.encode())
        self._drawn = b""  # the output drawn so far; its first `_used` bytes are used
        self._used = 0

    def _take(self, count: int) -> bytes:
        used = self._used
        end = used + count
        if end > len(self._drawn):  # draw more: the same output, longer (twice, or enough)
            self._drawn = self._xof.digest(max(end, 2 * len(self._drawn), _PADDING_BLOCK))
        self._used = end
        return self._drawn[used:end]

    def text(self, delta: str) -> bytes:
        """The padding of an event carrying `delta`: 16 minus the text's length (mod 16)
        characters, as the API pads its text deltas."""
        return self.chars(16 - len(delta) % 16)

    def runs(self, deltas: Sequence[str]) -> tuple[bytes, list[int]]:
        """The characters of `text(delta)` for each of `deltas` in turn, drawn at once:
        one string, and the bounds of each delta's run in it (n + 1 of them)."""
        bounds = [0, *accumulate([16 - len(delta) % 16 for delta in deltas])]
        return self._take(bounds[-1]).translate(_TO_CHARS), bounds

    def some(self) -> bytes:
        """The padding of an event without text: 1 to 15 characters."""
        return self.chars(1 + self._take(1)[0] % 15)

    def chars(self, count: int) -> bytes:
        # letters and digits: no escapes
        return b'"' + self._take(count).translate(_TO_CHARS) + b'"'
