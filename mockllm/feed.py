"""The inspector's live feed: the journal's changes as server-sent events, to each open page.

While no page is open the feed follows nothing, and an exchange costs what it did before
the inspector existed. While one is open:

- the feed follows the journal (`Journal.follow`): each exchange added gets a `ticks` list,
  so the writer notes when each of its writes left, and is known as in flight until the
  journal hears it finished;
- every `FLUSH_S` the exchanges added or finished since the last flush become rows
  (`inspector.row`), encoded once, and queued for every subscriber; a flush of many
  rows is cut into slices of `SLICE` so that the streams being paced wait at most one
  slice for the loop;
- with a shared state store (several processes, one journal), a `SharedTail` also reads
  the shared journal every `TAIL_S` and sends the rows of exchanges other processes
  answered. Any journal whose `entries()` gives JSON entries (or exchanges) can drive it.

Events: `hello` (what the page needs to know first), `snapshot` (the journal's rows, on
connect and after a subscriber fell behind), `rows` (new or changed rows), `cleared`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Any

import orjson

from mockllm.journal import Exchange, Follower, Journal

FLUSH_S = 0.1  # rows reach the page within this (plus the page's own redraw)
SLICE = 25  # rows built per loop pass during a flush (about 0.2 ms)
TAIL_S = 0.5  # how often a shared journal is read while a page is open
HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing the feed
SNAPSHOT_ROWS = 1000  # rows sent on connect (the newest)
QUEUE_BYTES = 8 << 20  # a subscriber this far behind gets a fresh snapshot instead
RECENT = 2000  # exchanges remembered while watched (the journal may hold only JSON)

RowOf = Callable[[Any], dict[str, Any]]
UpdateOf = Callable[[Exchange], dict[str, Any]]


def sse(event: str, data: Any) -> bytes:
    """One server-sent event; `data` as JSON on one line."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class Subscription:
    """One open page: the encoded events waiting for it."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.behind = False  # dropped events: the next thing it gets is a new snapshot
        self.closed = False
        self.wakeup = asyncio.Event()

    def put(self, data: bytes) -> None:
        if self.behind:
            return
        if self.queued + len(data) > QUEUE_BYTES:
            self.queue.clear()
            self.queued = 0
            self.behind = True
        else:
            self.queue.append(data)
            self.queued += len(data)
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()

    async def events(self) -> AsyncGenerator[bytes, None]:
        """The bytes to stream to the page, until it leaves or the server stops."""
        try:
            yield self.feed.hello()
            yield await self.feed.snapshot()
            while not self.closed:
                if not self.queue and not self.behind:
                    self.wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wakeup.wait(), HEARTBEAT_S)
                    if not self.queue and not self.behind and not self.closed:
                        yield b": ping\n\n"
                        continue
                if self.behind:
                    self.behind = False
                    yield await self.feed.snapshot()
                    continue
                out = b"".join(self.queue)
                self.queue.clear()
                self.queued = 0
                yield out
        finally:
            self.feed.unsubscribe(self)


class Feed(Follower):
    """Exchanges as rows for every subscribed page; follows the journal only while one is."""

    def __init__(
        self,
        journal: Journal | None,
        row: RowOf,
        hello: Callable[[], dict[str, Any]],
        shared: bool = False,
        update: UpdateOf | None = None,
    ) -> None:
        self.journal = journal
        self.row = row
        self.update = update or row
        self._hello = hello
        self.shared = shared
        self.subscribers: list[Subscription] = []
        self.recent: deque[Exchange] = deque(maxlen=RECENT)
        # Added or finished since the last flush, and whether its whole row is due (an
        # exchange the page has seen gets only what its end changed).
        self._changed: dict[int, tuple[Exchange, bool]] = {}
        self._live: dict[int, Exchange] = {}  # added while watched, not yet finished
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._unfollow: Callable[[], None] | None = None
        self._tail: SharedTail | None = None
        self._generation = 0  # one more at each clear: rows being built before it are dropped

    # --- subscribers ----------------------------------------------------------------------

    def subscribe(self) -> Subscription:
        """A new page; call on the event loop."""
        self._loop = asyncio.get_running_loop()
        subscription = Subscription(self)
        self.subscribers.append(subscription)
        if self._unfollow is None and self.journal is not None:
            self._unfollow = self.journal.follow(self)
        if self.shared and self._tail is None and self.journal is not None:
            self._tail = SharedTail(self.journal, self._tail_rows, self._was_cleared)
            self._tail.start()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self.subscribers:
            self.subscribers.remove(subscription)
        if self.subscribers:
            return
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None
        if self._tail is not None:
            self._tail.stop()
            self._tail = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._changed.clear()
        self._live.clear()

    def close(self) -> None:
        """End every subscriber's stream (the server is stopping)."""
        for subscription in list(self.subscribers):
            subscription.close()

    def is_live(self, exchange: Exchange) -> bool:
        """Whether the exchange is still in flight, as far as the feed saw it."""
        return id(exchange) in self._live

    def find(self, exchange_id: str) -> Exchange | None:
        """An exchange this process answered while a page was open."""
        for exchange in reversed(self.recent):
            if exchange.id == exchange_id:
                return exchange
        return None

    # --- what subscribers get -------------------------------------------------------------

    def hello(self) -> bytes:
        return sse("hello", self._hello())

    async def snapshot(self) -> bytes:
        """The journal's newest rows; built `SLICE` a loop pass, as a flush is, so that a
        page opened during a load test does not hold up the streams being paced."""
        entries: list[Any] = []
        if self.journal is not None:
            # This process's exchanges as objects where it keeps them (their rows say more),
            # else the journal's JSON (a shared store's, with every process's exchanges).
            kept = self.journal.kept() or self.journal.entries()
            entries = self.journal.own(kept[-SNAPSHOT_ROWS:])
        rows = []
        for start in range(0, len(entries), SLICE):
            rows += [self.row(e) for e in entries[start : start + SLICE]]
            await asyncio.sleep(0)
        return sse("snapshot", rows)

    def _broadcast(self, data: bytes) -> None:
        for subscription in self.subscribers:
            subscription.put(data)

    # --- following the journal (Follower) -------------------------------------------------

    def added(self, exchange: Exchange) -> None:
        exchange.ticks = []
        self._live[id(exchange)] = exchange
        self._changed[id(exchange)] = (exchange, True)
        self.recent.append(exchange)
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(FLUSH_S, self._flush)

    def finished(self, exchange: Exchange) -> None:
        whole = self._live.pop(id(exchange), None) is None or id(exchange) in self._changed
        self._changed[id(exchange)] = (exchange, whole)
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(FLUSH_S, self._flush)

    def cleared(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # a loop closing under us
            loop.call_soon_threadsafe(self._was_cleared)

    def _was_cleared(self) -> None:
        if self._tail is not None:
            self._tail.seen = {}  # said once, whichever process cleared it
        self._generation += 1
        self._changed.clear()
        self._live.clear()
        self.recent.clear()
        self._broadcast(sse("cleared", {}))

    # --- flushing -------------------------------------------------------------------------

    def _flush(self) -> None:
        self._timer = None
        changed, self._changed = list(self._changed.values()), {}
        self._build(changed, [], self._generation)

    def _build(
        self, pending: list[tuple[Exchange, bool]], rows: list[dict[str, Any]], generation: int
    ) -> None:
        """Rows for `pending`, `SLICE` per loop pass; then one `rows` event for all."""
        if not self.subscribers or generation != self._generation:
            return
        part, rest = pending[:SLICE], pending[SLICE:]
        row, update = self.row, self.update
        rows += [row(exchange) if whole else update(exchange) for exchange, whole in part]
        if rest and self._loop is not None:
            self._loop.call_soon(self._build, rest, rows, generation)
            return
        if rows:
            self._broadcast(sse("rows", rows))

    def _tail_rows(self, entries: list[Any]) -> None:
        if entries:
            self._broadcast(sse("rows", [self.row(e) for e in entries]))


class SharedTail:
    """Reads a shared journal while a page is open, and hands on the rows of exchanges that
    are new or changed since the last read (those other processes answered, mostly), and
    a clear made through another process (`cleared`: none of the exchanges seen is left)."""

    def __init__(
        self,
        journal: Journal,
        send: Callable[[list[Any]], None],
        cleared: Callable[[], None] = lambda: None,
    ) -> None:
        self.journal = journal
        self.send = send
        self.cleared = cleared
        self.seen: dict[str, tuple[Any, ...]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.seen = {_entry_id(e): _version(e) for e in self.journal.entries()}
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TAIL_S)
            try:
                entries = await asyncio.to_thread(self.journal.entries)
            except Exception:  # noqa: BLE001 - a shared store that is down: try again later
                continue
            if self.seen and not any(_entry_id(e) in self.seen for e in entries):
                self.cleared()  # a reset or DELETE /__admin/requests through another process
            self.send(self.changes(entries))

    def changes(self, entries: list[Any]) -> list[Any]:
        """The entries new or changed since the last call."""
        out = []
        seen = {}
        for entry in entries:
            key, version = _entry_id(entry), _version(entry)
            seen[key] = version
            if self.seen.get(key) != version:
                out.append(entry)
        self.seen = seen
        return out


def _entry_id(entry: Any) -> str:
    return str(entry["id"] if isinstance(entry, dict) else entry.id)


def _version(entry: Any) -> tuple[Any, ...]:
    if isinstance(entry, dict):
        return entry.get("status"), entry.get("duration_ms")
    return entry.status, entry.duration_ms
