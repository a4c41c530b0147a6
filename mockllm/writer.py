"""Decide when bytes leave: paced events through raw ASGI `send`, and transport faults.

One `Ticker` per event loop holds a heap of deadlines and wakes every stream that is
due; a stream writes all the events it owes in one `send` (they stay separate SSE
events). `send` is driven without a task per call: it completes synchronously unless
the transport applies backpressure, and only then is it awaited on a callback.
Deadlines are absolute, counted from the request's arrival, so a late tick never
stretches a stream.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mockllm.asgi import (
    CONNECTION_KEY,
    RAW_HEADERS_KEY,
    SHUTDOWN_KEY,
    TRANSPORT_KEY,
    Message,
    Receive,
    Scope,
    Send,
    plain,
)
from mockllm.wire import Body

T = TypeVar("T")

SLACK_S = 0.0005  # a deadline this close counts as due: timers fire at ms resolution
SLOTS_PER_S = round(1 / SLACK_S)  # the ticker's slot width is SLACK_S
SLOT_NEVER = 1 << 62
DRIP_TICK_S = 0.05


class ConnectionCut(Exception):
    """A fault asked to cut a connection this server cannot reach the transport of."""


@dataclass(slots=True)
class WriteResult:
    """How the write ended."""

    status: int
    disconnected: bool = False  # the client went away first
    aborted: bool = False  # a fault cut the connection
    events_sent: int | None = None  # a stream's events written before the client went away


def drive(coro: Coroutine[Any, Any, Any], on_done: Callable[[BaseException | None], None]) -> None:
    """Run a coroutine to completion without a task: step it, resume on the futures it awaits."""
    try:
        waited = coro.send(None)
    except StopIteration:
        on_done(None)
        return
    except BaseException as exc:  # noqa: BLE001 - handed to the caller
        on_done(exc)
        return
    if waited is None:  # a bare yield (sleep(0)): try again on the next loop pass
        asyncio.get_running_loop().call_soon(drive, coro, on_done)
        return
    waited._asyncio_future_blocking = False
    waited.add_done_callback(lambda _: drive(coro, on_done))


class Ticker:
    """One timer for the whole loop, waking every stream that is due.

    Deadlines go into slots of `SLACK_S` (a dict of lists, and a heap of the slot numbers
    in use): adding a stream is an append, and a tick takes whole slots, so the cost per
    event does not grow with the number of open streams. A slot is woken at its start,
    at most `SLACK_S` before any deadline in it, which `wake` counts as due.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._slots: dict[int, list[_Stream]] = {}
        self._heap: list[int] = []  # slot numbers that hold streams
        self._timer: asyncio.TimerHandle | None = None
        self._timer_slot = SLOT_NEVER
        self._firing = False

    def add(self, when: float, stream: _Stream) -> None:
        slot = int(when * SLOTS_PER_S)
        bucket = self._slots.get(slot)
        if bucket is not None:
            bucket.append(stream)
            return
        self._slots[slot] = [stream]
        heapq.heappush(self._heap, slot)
        if slot < self._timer_slot and not self._firing:
            self._arm(slot)

    def _arm(self, slot: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_slot = slot
        self._timer = self.loop.call_at(slot / SLOTS_PER_S, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_slot = SLOT_NEVER
        now = self.loop.time()
        last = int((now + SLACK_S) * SLOTS_PER_S) - 1  # slots whose every deadline is due
        heap, slots = self._heap, self._slots
        due: list[_Stream] = []
        while heap and heap[0] <= last:
            due += slots.pop(heapq.heappop(heap))
        # Streams woken here add their next deadlines; the timer is armed once, after, for
        # the earliest slot (arming it inside would skip streams due sooner).
        self._firing = True
        try:
            for stream in due:
                stream.wake(now)
        finally:
            self._firing = False
        if heap:
            self._arm(heap[0])


_tickers: dict[asyncio.AbstractEventLoop, Ticker] = {}


def per_loop(
    registry: dict[asyncio.AbstractEventLoop, T],
    loop: asyncio.AbstractEventLoop,
    make: Callable[[asyncio.AbstractEventLoop], T],
) -> T:
    """The registry's object for this loop, made on first use (closed loops' dropped)."""
    found = registry.get(loop)
    if found is None:
        for stale in [other for other in registry if other.is_closed()]:
            del registry[stale]
        found = registry[loop] = make(loop)
    return found


def loop_ticker() -> Ticker:
    """The running loop's ticker."""
    return per_loop(_tickers, asyncio.get_running_loop(), Ticker)


class _Stream:
    """One response's events, sent as their deadlines pass."""

    __slots__ = (
        "send",
        "events",
        "offsets",
        "base",
        "pos",
        "abort_after",
        "done",
        "transport",
        "busy",
        "closed",
        "connection",
        "ticker",
        "start",
    )

    def __init__(
        self,
        send: Send,
        events: Sequence[bytes],
        offsets: Sequence[float],
        base: float,
        abort_after: int | None,
        done: asyncio.Future[WriteResult],
        transport: Any,
        start: Message | None = None,
        ticker: Ticker | None = None,
    ) -> None:
        self.send = send
        self.start = start  # the response's head, when it leaves with the first event
        self.events = events
        self.offsets = offsets  # seconds after `base` (the request's arrival) each is due
        self.base = base
        self.pos = 0
        self.abort_after = abort_after
        self.done = done
        self.transport = transport
        self.busy = False  # a send is waiting on backpressure
        self.closed = False
        self.connection: Any = None  # the request's connection handle, watched for a close
        # The loop's shared ticker, unless one is given (tests drive their own clock).
        self.ticker = ticker if ticker is not None else loop_ticker()

    def wake(self, now: float) -> None:
        if self.closed or self.busy:
            return
        events, offsets = self.events, self.offsets
        start = end = self.pos
        limit = len(events) if self.abort_after is None else self.abort_after
        until = now + SLACK_S - self.base
        while end < limit and offsets[end] <= until:
            end += 1
        self.pos = end
        finished = end >= len(events)
        cut = self.abort_after is not None and end >= self.abort_after
        data = events[start] if end == start + 1 else b"".join(events[start:end])
        if end > start and not finished:
            # Straight to the connection when it can take the bytes now (no coroutine, no
            # message); the last write goes through `send`, which completes the response.
            connection = self.connection
            if connection is not None and connection.write_chunk(data):
                if cut:
                    self.cut()
                else:
                    self.ticker.add(self.base + offsets[end], self)
                return
        if end > start or finished:
            self.busy = True
            message = {"type": "http.response.body", "body": data, "more_body": not finished}
            # `_sent` schedules the next deadline, once: here it would be a second heap
            # entry per tick whenever the send completes at once (the usual case).
            if self.start is not None:  # a whole body's head goes with it
                head, self.start = self.start, None
                connection = self.connection
                if connection is not None and connection.respond(self.send, head, message):
                    self._sent(None)
                else:
                    drive(_send_both(self.send, head, message), self._sent)
            else:
                drive(self.send(message), self._sent)  # type: ignore[arg-type]
            if cut:
                self.cut()
        elif cut:
            self.cut()
        elif not finished:
            self.ticker.add(self.base + offsets[end], self)

    def _sent(self, exc: BaseException | None) -> None:
        self.busy = False
        if exc is not None:
            self.finish(WriteResult(200, disconnected=True, events_sent=self.pos))
        elif self.pos >= len(self.events):
            self.finish(WriteResult(200))
        elif not self.closed and (self.abort_after is None or self.pos < self.abort_after):
            self.ticker.add(self.base + self.offsets[self.pos], self)

    def cut(self) -> None:
        self.closed = True
        if self.transport is None:
            self.finish_error(ConnectionCut("a fault cut the connection"))
            return
        self.transport.close()  # the disconnect watcher finishes the stream

    def lost(self) -> None:
        """The connection closed: the client left, or a fault cut it."""
        self.connection = None
        if not self.done.done():
            aborted = self.closed and self.pos > 0
            self.finish(
                WriteResult(200, disconnected=not aborted, aborted=aborted, events_sent=self.pos)
            )

    def finish(self, outcome: WriteResult) -> None:
        self.closed = True
        connection = self.connection
        if connection is not None:
            connection.unwatch()
        self.connection = None
        if not self.done.done():
            self.done.set_result(outcome)

    def finish_error(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


class _TimedStream(_Stream):
    """A stream that notes when each write left: (seconds after arrival, events sent so
    far). Used only while the inspector is watching, so that an unwatched stream pays
    nothing for it."""

    __slots__ = ("ticks",)
    ticks: list[tuple[float, int]]

    def wake(self, now: float) -> None:
        before = self.pos
        super().wake(now)
        if self.pos > before:
            self.ticks.append((now - self.base, self.pos))


def _watch_disconnect(scope: Scope, receive: Receive, stream: _Stream) -> None:
    """Finish the stream when the connection closes: a callback on the protocol where the
    server offers one, else on `receive()` (which answers `http.disconnect`); no task."""
    connection = scope.get("extensions", {}).get(CONNECTION_KEY)
    if connection is not None:
        stream.connection = connection
        connection.watch(stream.lost)
        return
    drive(receive(), lambda _: stream.lost())  # type: ignore[arg-type]


def _drip(body: Body, rate: float) -> tuple[list[bytes], list[float]]:
    data = body.body
    step = max(1, int(rate * DRIP_TICK_S))
    start = body.offsets[0] if body.offsets else 0.0
    slices = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
    return slices, [start + i * step / rate for i in range(len(slices))]


async def write(
    body: Body,
    headers: list[tuple[bytes, bytes]],
    scope: Scope,
    receive: Receive,
    send: Send,
    arrived: float,
    *,
    drip_bytes_per_s: float | None = None,
    ticks: list[tuple[float, int]] | None = None,
    raw_headers: bytes = b"",
) -> WriteResult:
    """Send the body: a stream's head now, then each event at arrival + its offset; a
    whole body's head with the body, when it is due.

    With `ticks`, each write is noted there: (seconds after arrival, events sent so far).
    `raw_headers` are header lines already written out, sent after `headers`.
    """
    is_stream = not body.body and bool(body.events)
    response_headers = [(b"content-type", body.content_type), *headers]
    if is_stream:
        if not any(name == b"cache-control" for name, _ in headers):  # a replay brings its own
            response_headers.append((b"cache-control", b"no-cache"))
        events: Sequence[bytes] = body.events
        due_offsets: Sequence[float] = body.offsets
        abort_after = body.abort_after
    else:
        response_headers.append((b"content-length", str(len(body.body)).encode()))
        events, due_offsets = [body.body], [body.offsets[0] if body.offsets else 0.0]
        if body.abort_after is not None:
            events = [body.body[: body.abort_after], body.body[body.abort_after :]]
            due_offsets = due_offsets * 2
            abort_after = 1
        else:
            abort_after = None
    if drip_bytes_per_s:
        whole = Body(body.status, body.content_type, b"".join(events), offsets=(due_offsets[0],))
        events, due_offsets = _drip(whole, drip_bytes_per_s)
        if abort_after is not None:
            abort_after = max(1, len(events) // 2)
    start = {"type": "http.response.start", "status": body.status, "headers": response_headers}
    if raw_headers:
        start[RAW_HEADERS_KEY] = raw_headers
    loop = asyncio.get_running_loop()
    # A whole answer's head leaves with its body, when the body is due, as the API sends it
    # (it knows its headers only once the answer is done); a stream's head leaves now.
    head_waits = not is_stream and abort_after is None and not drip_bytes_per_s
    if head_waits and due_offsets[0] <= loop.time() - arrived:
        end = {"type": "http.response.body", "body": events[0], "more_body": False}
        if ticks is not None:
            ticks.append((loop.time() - arrived, 1))
        await respond(scope, send, start, end)
        return WriteResult(body.status)
    if not head_waits:
        connection = scope.get("extensions", {}).get(CONNECTION_KEY)
        if connection is None or not connection.begin(send, start):
            await send(plain(start))
    done: asyncio.Future[WriteResult] = loop.create_future()
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    head = start if head_waits else None
    if ticks is None:
        stream = _Stream(send, events, due_offsets, arrived, abort_after, done, transport, head)
    else:
        stream = timed = _TimedStream(
            send, events, due_offsets, arrived, abort_after, done, transport, head
        )
        timed.ticks = ticks
    _watch_disconnect(scope, receive, stream)
    first = arrived + due_offsets[0]
    if first <= loop.time() + SLACK_S:
        stream.wake(loop.time())
    else:
        stream.ticker.add(first, stream)
    try:
        outcome = await done
    except asyncio.CancelledError:
        stream.closed = True
        raise
    outcome.status = body.status
    return outcome


def respond(scope: Scope, send: Send, start: Message, end: Message) -> Awaitable[None]:
    """Send a response's head and its last body message together: in one write when the
    server offers one, else as two `send`s. Await the result."""
    connection = scope.get("extensions", {}).get(CONNECTION_KEY)
    if connection is not None and connection.respond(send, start, end):
        return _DONE
    return _send_both(send, start, end)


async def _send_both(send: Send, start: Message, end: Message) -> None:
    await send(plain(start))
    await send(end)


class _Done:
    """An awaitable that is already over (no coroutine to make)."""

    def __await__(self) -> Any:
        return iter(())


_DONE = _Done()


async def reset(scope: Scope, receive: Receive) -> WriteResult:
    """Close the connection before any byte is sent."""
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is None:
        raise ConnectionCut("reset: the connection was closed before any byte")
    transport.abort()
    await receive()  # returns http.disconnect once the server has seen the close
    return WriteResult(0, aborted=True)


async def hang(scope: Scope, receive: Receive, limit_s: float) -> WriteResult:
    """Accept and never answer, until the client leaves or `limit_s` passes, or the server
    stops (nothing would come of waiting out its grace period); then cut."""
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is not None:
        scope["extensions"][SHUTDOWN_KEY] = transport.abort
    try:
        await asyncio.wait_for(receive(), timeout=limit_s)
        return WriteResult(0, disconnected=True)
    except TimeoutError:
        if transport is None:
            raise ConnectionCut(
                "hang: the connection was closed after the server maximum"
            ) from None
        transport.abort()
        await receive()  # returns http.disconnect once the server has seen the close
        return WriteResult(0, aborted=True)
