"""The writer of detached streams (background responses): pacing from a start, an ending
polled for between writes, a client that leaves and a server that stops. Real time, short
offsets; a fake `send` and `receive`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from mockllm.asgi import SHUTDOWN_KEY, TRANSPORT_KEY
from mockllm.follow import POLL_S, follow
from mockllm.wire import SSE_TYPE, Body
from mockllm.writer import WriteResult

EVENTS = tuple(b"event %d\n\n" % i for i in range(4))


class Client:
    """Records what is sent, with when; leaves (http.disconnect) after `leaves_s`."""

    def __init__(self, leaves_s: float | None = None) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.leaves_s = leaves_s
        self.start = 0.0

    async def send(self, message: Any) -> None:
        self.sent.append((asyncio.get_running_loop().time() - self.start, message))

    async def receive(self) -> dict[str, Any]:
        if self.leaves_s is None:
            await asyncio.Event().wait()  # never
        await asyncio.sleep(self.leaves_s or 0.0)
        return {"type": "http.disconnect"}

    def bodies(self) -> list[bytes]:
        return [m["body"] for _, m in self.sent if m["type"] == "http.response.body"]


def run(
    offsets: Sequence[float],
    poll: Any = lambda written: None,
    client: Client | None = None,
    scope: dict[str, Any] | None = None,
    abort_after: int | None = None,
    stop_after_s: float | None = None,
) -> tuple[WriteResult, Client, dict[str, Any]]:
    client = client or Client()
    scope = scope if scope is not None else {}

    async def go() -> WriteResult:
        loop = asyncio.get_running_loop()
        client.start = loop.time()
        if stop_after_s is not None:
            loop.call_later(stop_after_s, lambda: scope["extensions"][SHUTDOWN_KEY]())
        body = Body(200, SSE_TYPE, events=EVENTS[: len(offsets)], offsets=tuple(offsets))
        return await follow(
            body, [], scope, client.receive, client.send, client.start, poll, abort_after
        )

    return asyncio.run(go()), client, scope


def test_events_leave_at_their_offsets_then_the_body_ends():
    result, client, _ = run([0.0, 0.0, 0.05, 0.1])
    assert result == WriteResult(200)
    start = client.sent[0][1]
    assert start["type"] == "http.response.start"
    assert (b"content-type", SSE_TYPE) in start["headers"]
    assert b"".join(client.bodies()) == b"".join(EVENTS)
    assert client.bodies()[0] == EVENTS[0] + EVENTS[1]  # due together: one write
    times = [t for t, m in client.sent if m.get("body")]
    assert times[1] >= 0.05 and times[2] >= 0.1 and times[2] < 1.0
    assert client.sent[-1][1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_a_new_ending_goes_out_at_once_in_place_of_the_rest():
    asked: list[int] = []

    def poll(written: int) -> Sequence[bytes] | None:
        asked.append(written)
        return [b"the end\n\n"] if written == 2 else None

    result, client, _ = run([0.0, 0.01, 30.0, 60.0], poll)  # the rest would take a minute
    assert result == WriteResult(200)
    assert b"".join(client.bodies()) == EVENTS[0] + EVENTS[1] + b"the end\n\n"
    assert client.sent[-1][0] < 1.0
    assert asked[-1] == 2  # not asked again once it ended


def test_a_long_wait_looks_for_an_ending_every_poll_interval():
    client = Client()

    def poll(written: int) -> Sequence[bytes] | None:
        # cancelled 0.3 s in, while the next event is 30 s away
        cancelled = asyncio.get_running_loop().time() - client.start >= 0.3
        return [b"cancelled\n\n"] if cancelled else None

    _, client, _ = run([0.0, 30.0], poll, client)
    when, last = [(t, m["body"]) for t, m in client.sent if m.get("body")][-1]
    assert last == b"cancelled\n\n"
    assert 0.3 <= when < 0.3 + POLL_S + 0.2  # seen at the next look, POLL_S at most later


def test_a_client_that_leaves_ends_the_writing_only():
    result, client, _ = run([0.0, 30.0], client=Client(leaves_s=0.05))
    assert result == WriteResult(200, disconnected=True, events_sent=1)
    assert client.sent[-1][1].get("more_body") is True  # nothing written after it left
    assert client.sent[-1][0] < 1.0


def test_a_stopping_server_ends_the_stream_at_once():
    result, client, scope = run([0.0, 30.0], stop_after_s=0.05)
    assert SHUTDOWN_KEY in scope["extensions"]
    assert result == WriteResult(200)
    assert client.bodies() == [EVENTS[0], b""] and client.sent[-1][0] < 1.0


def test_a_fault_cuts_the_connection_after_that_many_events():
    class Transport:
        closed = False

        def close(self) -> None:
            self.closed = True

    transport = Transport()
    scope = {"extensions": {TRANSPORT_KEY: transport}}
    result, client, _ = run([0.0, 0.0, 0.0, 0.0], scope=scope, abort_after=3)
    assert result == WriteResult(200, aborted=True, events_sent=3)
    assert transport.closed and b"".join(client.bodies()) == b"".join(EVENTS[:3])
