"""A bounded memo for the hot path: a dict emptied when it is full.

Load tests and retries send the same bytes again and again, so parsed requests, selected
rules, rendered answers and encoded bodies are kept for the next identical request.
Emptying the whole dict when full costs one clear per `size` distinct entries and no
bookkeeping per hit, which is what a hot path wants (an LRU's per-hit reordering cost
more than the misses it saved).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """At most `size` entries (and, when `max_bytes` is set, at most that many bytes by the
    sizes given to `put`); emptied when a new entry would not fit."""

    __slots__ = ("size", "max_bytes", "_data", "_bytes")

    def __init__(self, size: int, max_bytes: int | None = None) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._data: dict[K, V] = {}
        self._bytes = 0

    def get(self, key: K) -> V | None:
        return self._data.get(key)

    def put(self, key: K, value: V, nbytes: int = 0) -> None:
        limit = self.max_bytes
        if limit is not None and nbytes > limit // 4:
            return  # too large to be worth keeping
        if len(self._data) >= self.size or (limit is not None and self._bytes + nbytes > limit):
            self._data.clear()
            self._bytes = 0
        self._data[key] = value
        self._bytes += nbytes

    def clear(self) -> None:
        self._data.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)


def per_text(read: Callable[[str], V]) -> Callable[[str], V]:
    """`read`, a function of a text alone, with its results kept for the texts it read
    last (256 of them, 16 MiB of text at most; a text over 4 MiB is read each time). An
    app's system prompt comes again with every request: reading a coding agent's 50 KB
    one again took a millisecond a request."""
    memo: Memo[str, tuple[V]] = Memo(256, 16 << 20)

    @functools.wraps(read)
    def kept(text: str) -> V:
        found = memo.get(text)
        if found is None:
            found = (read(text),)
            memo.put(text, found, len(text))
        return found[0]

    return kept
