"""Mutable server state behind one narrow interface: counters, balances, buckets, the
journal, documents and the settings every process shares.

`MemoryStore` serves one process and is the default. Every mutation is a single
synchronous call, so on one event loop no two requests interleave inside it (no lost
updates). `open_store` picks the store for a `--state` setting: nothing (or `memory`) for
this one, a `redis://` URL for the shared one in `redis_store.py`, through which any number
of processes on any number of hosts behave as one server.

A shared store may be unreachable: its calls then raise `StateUnavailable`, except those
that must not fail a request being answered (`release`, `put_document`, `journal_add`,
`journal_update`), which it keeps and sends when the store is back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
# Counters of `incr_recent` (one a conversation) kept in memory, at most: the least lately
# used go first. On Redis each expires a week after its last use.
RECENT_COUNTERS = 100_000
RECENT_TTL_S = 7 * 24 * 3600


class Entry(Protocol):
    """A journal entry: what an exchange looks like as JSON."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Hold:
    """Credits held by `StateStore.reserve` until `StateStore.release`.

    Amounts are whole units of the caller's choosing (accounts use a scale at which every
    price and balance is a whole number, so that no store ever rounds)."""

    key: str
    id: str
    held: int
    units: int | None  # units of `unit` price the hold pays for; None: no limit


class StateStore(Protocol):
    """What the engine may change between requests."""

    is_shared: bool  # whether other processes see the same state
    process_number: int  # this process among those sharing the store (0 for one alone)

    def incr(self, key: str) -> int:
        """Add one to a counter; return its value before the call (0 the first time)."""
        ...

    def incr_recent(self, key: str) -> int:
        """`incr` for one of counters without end (one a conversation): only those used
        lately are kept (the last RECENT_COUNTERS in memory; on Redis, each for a week
        after its last use), so that a long load of new conversations holds no more."""
        ...

    def counters(self, prefix: str) -> dict[str, int]:
        """Every counter whose key starts with `prefix`, and its value (for the inspector's
        view of sequences)."""
        ...

    def update(self, key: str, change: Callable[[str | None], tuple[str | None, T]]) -> T:
        """Atomically replace a text value: `change(old)` gives (new, result); return result.

        `old` is None when the key is unset; a new value of None deletes the key. `change`
        must be pure (no side effects, no awaits): a shared store may call it again when
        another writer raced it (optimistic transactions), so it may run more than once.
        """
        ...

    def take(
        self,
        key: str,
        capacity: tuple[float, ...],
        need: tuple[float, ...],
        window_s: float,
        now: float,
        frozen: bool = False,
    ) -> tuple[bool, tuple[float, ...]]:
        """Token buckets: refill each level towards its capacity (the whole capacity per
        `window_s`), then take `need` from every level if each holds enough.

        Returns whether it took, and the levels after. A bucket starts full. `now` is the
        caller's clock in seconds; a shared store keeps time by its own clock instead, so
        that processes on several hosts agree, unless `frozen`: then `now` is a fixed time
        (--freeze-time) that every store keeps to, and nothing refills.
        """
        ...

    def reserve(
        self, key: str, start: int, fixed: int, unit: int, units: int | None, ttl_s: float
    ) -> Hold | None:
        """Hold `fixed` plus as many `unit`s as the balance pays for (at most `units`;
        None: no limit) from the balance under `key` (`start` while unset).

        None, holding nothing, when the balance is 0 or less than `fixed`. A hold not
        released within `ttl_s` (its process died, say) is given back by the store.
        """
        ...

    def release(self, hold: Hold, spent: int) -> int | None:
        """Keep `spent` of a hold and give back the rest; the balance after, or None when
        the hold is no longer there (a reset forgave it) or the store does not wait to
        know (a shared store sends releases without waiting, and keeps them while it is
        unreachable, to apply them once it is back). Never raises."""
        ...

    def balance(self, key: str, start: int) -> int:
        """The balance under `key`, or `start` while unset."""
        ...

    def put_document(self, kind: str, name: str, value: bytes, limit: int) -> None:
        """Keep a document (e.g. a stored response) under `kind`/`name`; past `limit`
        documents of that kind, the oldest is dropped. Never raises: a shared store that is
        unreachable keeps the document and writes it once it is back."""
        ...

    def get_document(self, kind: str, name: str) -> bytes | None:
        """A document kept by `put_document`, or None."""
        ...

    def replace_document(self, kind: str, name: str, value: bytes) -> bool:
        """Write a new version of a document that is there, in its place; False, having
        written nothing, when it is not (never put, dropped, or deleted meanwhile by any
        process): an update that read it before a delete must not bring it back."""
        ...

    def delete_document(self, kind: str, name: str) -> bool:
        """Drop a document; whether it was there."""
        ...

    def document_names(self, kind: str) -> list[str]:
        """The names of the documents of `kind`, in the order they were last put."""
        ...

    def journal_add(self, entry: Entry, limit: int) -> None:
        """Append an exchange to the journal; past `limit` entries the oldest is dropped."""
        ...

    def journal_update(self, entry: Entry) -> None:
        """The entry added earlier changed (its exchange finished): keep the new version."""
        ...

    def journal(self) -> list[dict[str, Any]]:
        """Every journal entry, oldest first, as JSON."""
        ...

    def journal_clear(self) -> None: ...

    def journal_kept(self) -> list[Entry]:
        """The journal's entries this process keeps as objects, oldest first (the
        inspector's view of one exchange reads them): every one in memory; none in a
        shared store, whose entries are JSON."""
        ...

    def put_setting(self, name: str, value: str | None) -> None:
        """Set (None: unset) a value every process sees; `reset` keeps settings."""
        ...

    def update_setting(self, name: str, change: Callable[[str | None], tuple[str | None, T]]) -> T:
        """Atomically replace a setting, as `update` replaces a text value (`change` may run
        more than once): two processes changing it at once both land."""
        ...

    def settings(self) -> tuple[int, dict[str, str]]:
        """Every setting, and a version that changes whenever one does."""
        ...

    def settings_version(self) -> int:
        """The version `settings` would give, cheaply (polled to notice changes)."""
        ...

    def put_applied(self, process: int, version: int) -> None:
        """Say that process number `process` has applied the settings of `version` (and is
        alive): sent without waiting, and never raises."""
        ...

    def applied(self, alive_s: float) -> list[int]:
        """The settings version each process sharing the store has applied, of those heard
        from within `alive_s` (none for a store that serves one process)."""
        ...

    def next_number(self) -> int:
        """The next of the numbers that every process sharing the store counts out together
        (1 the first time, and again after a reset)."""
        ...

    def reset(self) -> None:
        """Every counter, balance, bucket, document and the journal back to its start
        (settings stay)."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """StateStore in dicts, safe across threads (the pytest plugin resets from another)."""

    is_shared = False
    process_number = 0

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}
        self._recent: OrderedDict[str, int] = OrderedDict()  # incr_recent's, oldest first
        self._texts: dict[str, str] = {}
        self._buckets: dict[str, tuple[tuple[float, ...], float]] = {}
        self._balances: dict[str, int] = {}
        self._holds: dict[str, Hold] = {}
        self._next_hold = 0
        self._documents: dict[str, OrderedDict[str, bytes]] = {}
        self._journal: deque[Entry] = deque()
        self._settings: dict[str, str] = {}
        self._version = 0
        self._numbers = 0
        self._lock = threading.Lock()

    def next_number(self) -> int:
        with self._lock:
            self._numbers += 1
            return self._numbers

    def incr(self, key: str) -> int:
        with self._lock:
            value = self._counters.get(key, 0)
            self._counters[key] = value + 1
            return value

    def incr_recent(self, key: str) -> int:
        with self._lock:
            recent = self._recent
            value = recent.pop(key, 0)
            recent[key] = value + 1  # (last used, last in order)
            if len(recent) > RECENT_COUNTERS:
                recent.popitem(last=False)
            return value

    def counters(self, prefix: str) -> dict[str, int]:
        with self._lock:
            return {
                k: v
                for counters in (self._counters, self._recent)
                for k, v in counters.items()
                if k.startswith(prefix)
            }

    def update(self, key: str, change: Callable[[str | None], tuple[str | None, T]]) -> T:
        with self._lock:
            new, result = change(self._texts.get(key))
            if new is None:
                self._texts.pop(key, None)
            else:
                self._texts[key] = new
            return result

    def take(
        self,
        key: str,
        capacity: tuple[float, ...],
        need: tuple[float, ...],
        window_s: float,
        now: float,
        frozen: bool = False,
    ) -> tuple[bool, tuple[float, ...]]:
        # Frozen or not, `now` is the caller's: a fixed one refills nothing.
        with self._lock:
            found = self._buckets.get(key)
            levels = refill(found, capacity, window_s, now)
            ok = all(level >= n for level, n in zip(levels, need, strict=True))
            if ok:
                levels = tuple(level - n for level, n in zip(levels, need, strict=True))
            self._buckets[key] = (levels, now)
            return ok, levels

    def reserve(
        self, key: str, start: int, fixed: int, unit: int, units: int | None, ttl_s: float
    ) -> Hold | None:
        # A hold lives as long as this process, which always releases it: no expiry.
        with self._lock:
            left = self._balances.get(key, start)
            granted = affordable(left, fixed, unit, units)
            if granted is None:
                return None
            held, units = granted
            self._balances[key] = left - held
            self._next_hold += 1
            hold = Hold(key, str(self._next_hold), held, units)
            self._holds[hold.id] = hold
            return hold

    def release(self, hold: Hold, spent: int) -> int | None:
        with self._lock:
            if self._holds.pop(hold.id, None) is None:
                return None
            left = self._balances.get(hold.key, 0) + hold.held - min(spent, hold.held)
            self._balances[hold.key] = left
            return left

    def balance(self, key: str, start: int) -> int:
        with self._lock:
            return self._balances.get(key, start)

    def put_document(self, kind: str, name: str, value: bytes, limit: int) -> None:
        with self._lock:
            documents = self._documents.setdefault(kind, OrderedDict())
            documents[name] = value
            documents.move_to_end(name)
            while len(documents) > max(limit, 0):
                documents.popitem(last=False)

    def get_document(self, kind: str, name: str) -> bytes | None:
        with self._lock:
            documents = self._documents.get(kind)
            return documents.get(name) if documents is not None else None

    def replace_document(self, kind: str, name: str, value: bytes) -> bool:
        with self._lock:
            documents = self._documents.get(kind)
            if documents is None or name not in documents:
                return False
            documents[name] = value
            return True

    def delete_document(self, kind: str, name: str) -> bool:
        with self._lock:
            documents = self._documents.get(kind)
            return documents is not None and documents.pop(name, None) is not None

    def document_names(self, kind: str) -> list[str]:
        with self._lock:
            return list(self._documents.get(kind, ()))

    def journal_add(self, entry: Entry, limit: int) -> None:
        # Entries are kept as they are and turned into JSON when read: an exchange that
        # finishes later is seen finished, at no cost per request.
        if limit <= 0:
            return
        with self._lock:
            self._journal.append(entry)
            while len(self._journal) > limit:
                self._journal.popleft()

    def journal_update(self, entry: Entry) -> None:
        pass  # the journal holds the entry itself

    def journal(self) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._journal)
        return [entry.to_json() for entry in entries]

    def journal_clear(self) -> None:
        with self._lock:
            self._journal.clear()

    def journal_kept(self) -> list[Entry]:
        with self._lock:
            return list(self._journal)

    def put_setting(self, name: str, value: str | None) -> None:
        with self._lock:
            if value is None:
                self._settings.pop(name, None)
            else:
                self._settings[name] = value
            self._version += 1

    def update_setting(self, name: str, change: Callable[[str | None], tuple[str | None, T]]) -> T:
        with self._lock:
            new, result = change(self._settings.get(name))
            if new is None:
                self._settings.pop(name, None)
            else:
                self._settings[name] = new
            self._version += 1
            return result

    def settings(self) -> tuple[int, dict[str, str]]:
        with self._lock:
            return self._version, dict(self._settings)

    def settings_version(self) -> int:
        return self._version

    def put_applied(self, process: int, version: int) -> None:
        pass  # one process: nobody waits for another

    def applied(self, alive_s: float) -> list[int]:
        return []

    def reset(self) -> None:
        with self._lock:
            self._documents.clear()
            self._counters.clear()
            self._recent.clear()
            self._numbers = 0
            self._texts.clear()
            self._buckets.clear()
            self._balances.clear()
            self._holds.clear()
            self._journal.clear()

    def close(self) -> None:
        pass


def refill(
    found: tuple[tuple[float, ...], float] | None,
    capacity: tuple[float, ...],
    window_s: float,
    now: float,
) -> tuple[float, ...]:
    """Bucket levels at `now`, from the levels stored at some time (None: full)."""
    if found is None:
        return capacity
    levels, then = found
    elapsed = max(0.0, now - then)
    return tuple(
        min(cap, level + elapsed * cap / window_s)
        for level, cap in zip(levels, capacity, strict=True)
    )


def affordable(
    left: int, fixed: int, unit: int, units: int | None
) -> tuple[int, int | None] | None:
    """(held, units) a balance of `left` can hold for `fixed` plus `units` × `unit`, or
    None when it cannot pay `fixed` (or is 0). The Redis store's script does the same."""
    if left <= 0 or left < fixed:
        return None
    if unit > 0:
        most = (left - fixed) // unit
        units = most if units is None else min(units, most)
    return fixed + (units or 0) * unit, units


def open_store(url: str | None, prefix: str = "mockllm:") -> StateStore:
    """The store a `--state` setting names: in memory (None, "" or "memory"), or Redis
    (`redis://`, `rediss://`, `unix://`). Raises StateUnavailable when Redis does not answer
    and ConfigError for a setting it does not understand."""
    if not url or url == "memory":
        return MemoryStore()
    from mockllm.errors import ConfigError

    scheme = url.partition("://")[0].lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"--state {url!r}: expected 'memory' or a Redis URL "
            "(redis://HOST:PORT/DB, rediss://…, unix:///path/to/socket)"
        )
    from mockllm.redis_store import RedisStore

    return RedisStore(url, prefix)
