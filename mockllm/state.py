"""Mutable server state behind one narrow interface: counters, balances, buckets.

The in-memory store serves one process. Every mutation is a single synchronous call,
so on one event loop no two requests interleave inside it (no lost updates).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class StateStore(Protocol):
    """What the engine may change between requests."""

    def incr(self, key: str) -> int:
        """Add one to a counter; return its value before the call (0 the first time)."""
        ...

    def get_number(self, key: str, default: float) -> float: ...

    def set_number(self, key: str, value: float) -> None: ...

    def update(self, key: str, change: Callable[[str | None], tuple[str | None, T]]) -> T:
        """Atomically replace a text value: `change(old)` gives (new, result); return result.

        `old` is None when the key is unset; a new value of None deletes the key. `change`
        must be pure (no side effects, no awaits): a shared store may call it again when
        another writer raced it (optimistic transactions), so it may run more than once.
        """
        ...

    def put_document(self, kind: str, name: str, value: bytes, limit: int) -> None:
        """Keep a document (e.g. a stored response) under `kind`/`name`; past `limit`
        documents of that kind, the oldest is dropped."""
        ...

    def get_document(self, kind: str, name: str) -> bytes | None:
        """A document kept by `put_document`, or None."""
        ...

    def delete_document(self, kind: str, name: str) -> bool:
        """Drop a document; whether it was there."""
        ...

    def reset(self) -> None:
        """Every counter, balance, bucket and document back to its start."""
        ...


class MemoryStore:
    """StateStore in a dict, safe across threads (the pytest plugin resets from another)."""

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}
        self._numbers: dict[str, float] = {}
        self._texts: dict[str, str] = {}
        self._documents: dict[str, OrderedDict[str, bytes]] = {}
        self._lock = threading.Lock()

    def incr(self, key: str) -> int:
        with self._lock:
            value = self._counters.get(key, 0)
            self._counters[key] = value + 1
            return value

    def get_number(self, key: str, default: float) -> float:
        return self._numbers.get(key, default)

    def set_number(self, key: str, value: float) -> None:
        with self._lock:
            self._numbers[key] = value

    def update(self, key: str, change: Callable[[str | None], tuple[str | None, T]]) -> T:
        with self._lock:
            new, result = change(self._texts.get(key))
            if new is None:
                self._texts.pop(key, None)
            else:
                self._texts[key] = new
            return result

    def put_document(self, kind: str, name: str, value: bytes, limit: int) -> None:
        with self._lock:
            documents = self._documents.setdefault(kind, OrderedDict())
            documents[name] = value
            documents.move_to_end(name)
            while len(documents) > max(limit, 0):
                documents.popitem(last=False)

    def get_document(self, kind: str, name: str) -> bytes | None:
        with self._lock:
            return self._documents.get(kind, {}).get(name)

    def delete_document(self, kind: str, name: str) -> bool:
        with self._lock:
            return self._documents.get(kind, {}).pop(name, None) is not None

    def reset(self) -> None:
        with self._lock:
            self._documents.clear()
            self._counters.clear()
            self._numbers.clear()
            self._texts.clear()
