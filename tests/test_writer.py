"""The writer's pacing, against a manual clock: no server, no socket, no real waiting.

`FakeLoop` stands in for the event loop the `Ticker` arms its one timer on: the test moves
its clock and fires the timers that are due, on time or late. `FakeSend` records each
ASGI message with the time it left, and can hold a send open (backpressure) until the
test releases it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mockllm.writer import SLACK_S, ConnectionCut, Ticker, WriteResult, _Stream

BASE = 1000.0  # loop time the request arrived at
PASS_S = 1e-6  # what one pass of the fake loop costs: its clock never stands still


class _Timer:
    def __init__(self, loop: FakeLoop, when: float, callback: Callable[..., Any], args: Any):
        self.loop, self.when, self.callback, self.args = loop, when, callback, args

    def cancel(self) -> None:
        if self in self.loop.timers:
            self.loop.timers.remove(self)


class FakeLoop:
    """`time`, `call_at` and `call_soon` on a clock the test moves."""

    def __init__(self, now: float = BASE) -> None:
        self.now = now
        self.timers: list[_Timer] = []
        self.ready: list[tuple[Callable[..., Any], Any]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> _Timer:
        timer = _Timer(self, when, callback, args)
        self.timers.append(timer)
        return timer

    def call_soon(self, callback: Callable[..., Any], *args: Any, context: Any = None) -> None:
        self.ready.append((callback, args))

    def get_debug(self) -> bool:  # asyncio.Future asks its loop
        return False

    def is_closed(self) -> bool:
        return False

    def create_future(self) -> asyncio.Future[Any]:
        """A future whose callbacks run on this loop's passes (a held `send`)."""
        return asyncio.Future(loop=self)  # type: ignore[arg-type]

    def run(self, until: float, *, late: bool = False) -> None:
        """Fire every timer due by `until`: each at its own time, or all at `until` (a loop
        that woke late). Callbacks made ready run in the same pass."""
        if late:
            self.now = max(self.now, until)
        while True:
            self._run_ready()
            due = [t for t in self.timers if t.when <= until]
            if not due:
                break
            timer = min(due, key=lambda t: t.when)
            self.timers.remove(timer)
            self.now = max(self.now, timer.when)
            timer.callback(*timer.args)
            self.now += PASS_S
        self._run_ready()
        self.now = max(self.now, until)

    def _run_ready(self) -> None:
        while self.ready:
            callback, args = self.ready.pop(0)
            callback(*args)


class FakeSend:
    """ASGI `send`: records (time, message); the sends numbered in `holds` wait for their
    future, as a transport applying backpressure does."""

    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.holds: dict[int, asyncio.Future[Any]] = {}

    async def __call__(self, message: dict[str, Any]) -> None:
        self.sent.append((self.loop.now, message))
        held = self.holds.get(len(self.sent) - 1)
        if held is not None:
            await held

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for _, m in self.sent if m["type"] == "http.response.body"]


class FakeTransport:
    """A transport whose `close` the connection's watcher reports back as a loss."""

    def __init__(self) -> None:
        self.closed = False
        self.on_close: Callable[[], None] | None = None

    def close(self) -> None:
        self.closed = True
        if self.on_close is not None:
            self.on_close()


@pytest.fixture
def done_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop never run: it only makes the futures a write resolves."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


EVENTS = (b"e0", b"e1", b"e2", b"e3")
OFFSETS = (0.1, 0.2, 0.3, 0.4)


def start(
    loop: FakeLoop,
    done_loop: asyncio.AbstractEventLoop,
    events: tuple[bytes, ...] = EVENTS,
    offsets: tuple[float, ...] = OFFSETS,
    *,
    abort_after: int | None = None,
    transport: Any = None,
    head: dict[str, Any] | None = None,
    ticker: Ticker | None = None,
) -> tuple[_Stream, FakeSend]:
    """A stream over these events, its first deadline on the ticker (as `write` does)."""
    send = FakeSend(loop)
    stream = _Stream(
        send,
        events,
        offsets,
        BASE,
        abort_after,
        done_loop.create_future(),
        transport,
        head,
        ticker=ticker or Ticker(loop),  # type: ignore[arg-type]
    )
    stream.ticker.add(BASE + offsets[0], stream)
    return stream, send


def body(data: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


def test_each_event_leaves_at_its_deadline(done_loop):
    loop = FakeLoop()
    stream, send = start(loop, done_loop)
    loop.run(BASE + 0.05)
    assert send.sent == []  # nothing is due before the first offset
    loop.run(BASE + 1.0)
    assert [m for _, m in send.sent] == [
        body(b"e0"),
        body(b"e1"),
        body(b"e2"),
        body(b"e3", more=False),
    ]
    for (at, _), offset in zip(send.sent, OFFSETS, strict=True):
        # Woken at the start of the deadline's slot: never later, at most SLACK_S early.
        assert BASE + offset - SLACK_S <= at <= BASE + offset + 1e-4


def test_the_last_event_ends_the_body_and_resolves_done(done_loop):
    loop = FakeLoop()
    stream, send = start(loop, done_loop)
    loop.run(BASE + 0.35)
    assert not stream.done.done()  # e3 is still owed
    loop.run(BASE + 0.45)
    assert send.sent[-1][1] == body(b"e3", more=False)
    assert stream.done.result() == WriteResult(200)
    assert loop.timers == []  # nothing left armed


def test_a_late_wake_sends_every_owed_event_in_one_send(done_loop):
    loop = FakeLoop()
    stream, send = start(loop, done_loop)
    loop.run(BASE + 0.35, late=True)  # the loop was busy until e0, e1 and e2 were all due
    assert [m for _, m in send.sent] == [body(b"e0e1e2")]
    loop.run(BASE + 0.5)
    assert send.bodies == [b"e0e1e2", b"e3"]  # e3 still waits for its own deadline
    assert send.sent[1][0] == pytest.approx(BASE + 0.4, abs=SLACK_S)


def test_a_late_wake_never_stretches_the_rest(done_loop):
    loop = FakeLoop()
    stream, send = start(loop, done_loop)
    loop.run(BASE + 0.15, late=True)  # e0 went 50 ms late
    loop.run(BASE + 1.0)
    # Deadlines are absolute: e1 still leaves at 0.2, not 0.15 + 0.1.
    assert [round(at - BASE, 3) for at, _ in send.sent] == [0.15, 0.2, 0.3, 0.4]


def test_abort_after_cuts_the_connection_after_that_many_events(done_loop):
    loop = FakeLoop()
    transport = FakeTransport()
    stream, send = start(loop, done_loop, abort_after=2, transport=transport)
    transport.on_close = stream.lost  # the disconnect watcher
    loop.run(BASE + 0.15)
    assert not transport.closed
    loop.run(BASE + 1.0)
    assert send.bodies == [b"e0", b"e1"]
    assert send.sent[-1][1]["more_body"] is True  # cut mid-body, not ended
    assert transport.closed
    assert stream.done.result() == WriteResult(200, aborted=True, events_sent=2)
    assert loop.timers == []


def test_a_late_wake_past_the_cut_sends_only_up_to_it(done_loop):
    loop = FakeLoop()
    transport = FakeTransport()
    stream, send = start(loop, done_loop, abort_after=2, transport=transport)
    transport.on_close = stream.lost
    loop.run(BASE + 0.5, late=True)
    assert send.bodies == [b"e0e1"]
    assert transport.closed


def test_a_cut_without_a_transport_fails_the_write(done_loop):
    loop = FakeLoop()
    stream, send = start(loop, done_loop, abort_after=1)
    loop.run(BASE + 1.0)
    assert send.bodies == [b"e0"]
    with pytest.raises(ConnectionCut):
        stream.done.result()


def test_the_client_leaving_stops_the_stream(done_loop):
    loop = FakeLoop()
    stream, send = start(loop, done_loop)
    loop.run(BASE + 0.25)
    stream.lost()
    loop.run(BASE + 1.0)
    assert send.bodies == [b"e0", b"e1"]
    assert stream.done.result() == WriteResult(200, disconnected=True, events_sent=2)


def test_backpressure_delays_the_next_events_and_loses_none(done_loop):
    loop = FakeLoop()
    stream, send = start(loop, done_loop)
    held = send.holds[0] = loop.create_future()  # the transport takes e0 slowly
    loop.run(BASE + 0.38)
    assert send.bodies == [b"e0"]  # e1 and e2 are due, but e0's send has not completed
    held.set_result(None)  # the transport drains at 0.38
    loop.run(BASE + 0.38)
    assert send.bodies == [b"e0", b"e1e2"]  # what was owed, in one send, at once
    assert send.sent[1][0] == pytest.approx(BASE + 0.38, abs=1e-4)
    loop.run(BASE + 1.0)
    assert send.bodies == [b"e0", b"e1e2", b"e3"]
    assert send.sent[-1][1]["more_body"] is False
    assert b"".join(send.bodies) == b"".join(EVENTS)
    assert stream.done.result() == WriteResult(200)


def test_a_send_that_fails_counts_as_the_client_leaving(done_loop):
    loop = FakeLoop()
    stream, send = start(loop, done_loop)
    held = send.holds[1] = loop.create_future()
    loop.run(BASE + 0.25)
    held.set_exception(OSError("connection reset"))
    loop.run(BASE + 1.0)
    assert send.bodies == [b"e0", b"e1"]
    assert stream.done.result() == WriteResult(200, disconnected=True, events_sent=2)


def test_a_whole_body_head_leaves_with_it_when_due(done_loop):
    loop = FakeLoop()
    head = {"type": "http.response.start", "status": 200, "headers": []}
    stream, send = start(loop, done_loop, (b'{"ok":true}',), (0.25,), head=head)
    loop.run(BASE + 0.2)
    assert send.sent == []  # the head waits for the body
    loop.run(BASE + 0.3)
    assert [m for _, m in send.sent] == [head, body(b'{"ok":true}', more=False)]
    assert send.sent[0][0] == send.sent[1][0] == pytest.approx(BASE + 0.25, abs=SLACK_S)
    assert stream.done.result() == WriteResult(200)


def test_streams_share_one_timer(done_loop):
    loop = FakeLoop()
    ticker = Ticker(loop)  # type: ignore[arg-type]
    a, send_a = start(loop, done_loop, ticker=ticker)
    b, send_b = start(loop, done_loop, (b"x0", b"x1"), (0.15, 0.25), ticker=ticker)
    assert len(loop.timers) == 1  # one timer for the loop, armed for the earliest slot
    assert loop.timers[0].when == pytest.approx(BASE + 0.1, abs=SLACK_S)
    loop.run(BASE + 0.16)
    assert (send_a.bodies, send_b.bodies) == ([b"e0"], [b"x0"])
    assert len(loop.timers) == 1
    loop.run(BASE + 1.0)
    assert (send_a.bodies, send_b.bodies) == ([b"e0", b"e1", b"e2", b"e3"], [b"x0", b"x1"])
    assert a.done.done() and b.done.done()
