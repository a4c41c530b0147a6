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
import itertools
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass
from typing import Any

from mockllm.wire import Body

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SLACK_S = 0.0005  # a deadline this close counts as due: timers fire at ms resolution
DRIP_TICK_S = 0.05
TRANSPORT_KEY = "mockllm.transport"


class ConnectionCut(Exception):
    """A fault asked to cut a connection this server cannot reach the transport of."""


@dataclass(slots=True)
class Outcome:
    """How the write ended."""

    status: int
    disconnected: bool = False  # the client went away first
    aborted: bool = False  # a fault cut the connection


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
    """One timer for the whole loop: a heap of (deadline, stream) woken when due."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, _Stream]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._firing = False

    def add(self, when: float, stream: _Stream) -> None:
        heapq.heappush(self._heap, (when, next(self._order), stream))
        if when < self._timer_at and not self._firing:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        now = self.loop.time()
        heap = self._heap
        due = []
        while heap and heap[0][0] <= now + SLACK_S:
            due.append(heapq.heappop(heap)[2])
        # Streams woken here add their next deadlines; the timer is armed once, after, for
        # the earliest entry (arming it inside would skip streams due sooner).
        self._firing = True
        try:
            for stream in due:
                stream.wake(now)
        finally:
            self._firing = False
        if heap:
            self._arm(heap[0][0])


_tickers: dict[asyncio.AbstractEventLoop, Ticker] = {}


def ticker() -> Ticker:
    loop = asyncio.get_running_loop()
    found = _tickers.get(loop)
    if found is None:
        for stale in [other for other in _tickers if other.is_closed()]:
            del _tickers[stale]
        found = _tickers[loop] = Ticker(loop)
    return found


class _Stream:
    """One response's events, sent as their deadlines pass."""

    __slots__ = (
        "send",
        "events",
        "due",
        "pos",
        "abort_after",
        "done",
        "transport",
        "busy",
        "closed",
    )

    def __init__(
        self,
        send: Send,
        events: list[bytes],
        due: list[float],
        abort_after: int | None,
        done: asyncio.Future[Outcome],
        transport: Any,
    ) -> None:
        self.send = send
        self.events = events
        self.due = due
        self.pos = 0
        self.abort_after = abort_after
        self.done = done
        self.transport = transport
        self.busy = False  # a send is waiting on backpressure
        self.closed = False

    def wake(self, now: float) -> None:
        if self.closed or self.busy:
            return
        events, due = self.events, self.due
        start = end = self.pos
        limit = len(events) if self.abort_after is None else self.abort_after
        while end < limit and due[end] <= now + SLACK_S:
            end += 1
        self.pos = end
        finished = end >= len(events)
        cut = self.abort_after is not None and end >= self.abort_after
        data = events[start] if end == start + 1 else b"".join(events[start:end])
        if end > start or finished:
            self.busy = True
            message = {"type": "http.response.body", "body": data, "more_body": not finished}
            # `_sent` schedules the next deadline, once: here it would be a second heap
            # entry per tick whenever the send completes at once (the usual case).
            drive(self.send(message), self._sent)
            if cut:
                self.cut()
        elif cut:
            self.cut()
        elif not finished:
            ticker().add(due[end], self)

    def _sent(self, exc: BaseException | None) -> None:
        self.busy = False
        if exc is not None:
            self.finish(Outcome(200, disconnected=True))
        elif self.pos >= len(self.events):
            self.finish(Outcome(200))
        elif not self.closed and (self.abort_after is None or self.pos < self.abort_after):
            ticker().add(self.due[self.pos], self)

    def cut(self) -> None:
        self.closed = True
        if self.transport is None:
            self.finish_error(ConnectionCut("a fault cut the connection"))
            return
        self.transport.close()  # the disconnect watcher finishes the stream

    def finish(self, outcome: Outcome) -> None:
        self.closed = True
        if not self.done.done():
            self.done.set_result(outcome)

    def finish_error(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


def _watch_disconnect(receive: Receive, stream: _Stream) -> None:
    """Finish the stream when the client goes away (no task: a callback on receive)."""

    def seen(exc: BaseException | None) -> None:
        if not stream.done.done():
            aborted = stream.closed and stream.pos > 0
            stream.finish(Outcome(200, disconnected=not aborted, aborted=aborted))

    drive(receive(), seen)  # type: ignore[arg-type]


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
) -> Outcome:
    """Send the body: headers now, then each event at arrival + its offset."""
    is_stream = not body.body and bool(body.events)
    response_headers = [(b"content-type", body.content_type), *headers]
    if is_stream:
        response_headers.append((b"cache-control", b"no-cache"))
        events, due_offsets = list(body.events), list(body.offsets)
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
    await send({"type": "http.response.start", "status": body.status, "headers": response_headers})
    loop = asyncio.get_running_loop()
    if len(events) == 1 and abort_after is None and due_offsets[0] <= loop.time() - arrived:
        await send({"type": "http.response.body", "body": events[0], "more_body": False})
        return Outcome(body.status)
    done: asyncio.Future[Outcome] = loop.create_future()
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    due = [arrived + offset for offset in due_offsets]
    stream = _Stream(send, events, due, abort_after, done, transport)
    _watch_disconnect(receive, stream)
    if due[0] <= loop.time() + SLACK_S:
        stream.wake(loop.time())
    else:
        ticker().add(due[0], stream)
    try:
        outcome = await done
    except asyncio.CancelledError:
        stream.closed = True
        raise
    outcome.status = body.status
    return outcome


async def reset(scope: Scope, receive: Receive) -> Outcome:
    """Close the connection before any byte is sent."""
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is None:
        raise ConnectionCut("reset: the connection was closed before any byte")
    transport.abort()
    await receive()  # returns http.disconnect once the server has seen the close
    return Outcome(0, aborted=True)


async def hang(scope: Scope, receive: Receive, limit_s: float) -> Outcome:
    """Accept and never answer, until the client leaves or `limit_s` passes; then cut."""
    try:
        await asyncio.wait_for(receive(), timeout=limit_s)
        return Outcome(0, disconnected=True)
    except TimeoutError:
        transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
        if transport is None:
            raise ConnectionCut(
                "hang: the connection was closed after the server maximum"
            ) from None
        transport.abort()
        await receive()  # returns http.disconnect once the server has seen the close
        return Outcome(0, aborted=True)
