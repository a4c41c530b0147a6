"""Write the stream of an answer that runs on without its connection (the Responses API's
background mode): each event at its offset from the answer's start, asking between writes
whether the answer has changed, and then ending with the events given instead.

The answer lives in the state store, not in this connection: a client that leaves, or a
server that stops, ends the writing and nothing else. These streams are few and long
(a client follows one answer, or comes back for the rest of it), so each has its own
task, sleeping to absolute deadlines; between two deadlines far apart it wakes every
`POLL_S` to look for a cancellation, so that one ends the stream within that time even
when it came to another process.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from mockllm.asgi import SHUTDOWN_KEY, TRANSPORT_KEY, Receive, Scope, Send
from mockllm.errors import StateUnavailable
from mockllm.writer import SLACK_S, WriteResult

if TYPE_CHECKING:
    from mockllm.dialects import Poll
    from mockllm.wire import Body

POLL_S = 0.25  # the longest a stream waits before it looks for a change of its answer


async def follow(
    body: Body,
    headers: list[tuple[bytes, bytes]],
    scope: Scope,
    receive: Receive,
    send: Send,
    base: float,
    poll: Poll,
    abort_after: int | None = None,
) -> WriteResult:
    """Send `body`'s events, each at `base` (a loop time) + its offset; before each write
    ask `poll` (given the events written) whether to end with other events, sent at once.
    With `abort_after`, the connection is cut after that many events (a fault)."""
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[bool] = loop.create_future()  # True: the client left

    def stop(left: bool) -> None:
        if not stopped.done():
            stopped.set_result(left)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        stop(True)

    scope.setdefault("extensions", {})[SHUTDOWN_KEY] = lambda: stop(False)
    watcher = asyncio.ensure_future(watch())
    events, offsets = list(body.events), list(body.offsets)
    written, ending = 0, False
    head = [(b"content-type", body.content_type), *headers, (b"cache-control", b"no-cache")]
    try:
        await send({"type": "http.response.start", "status": body.status, "headers": head})
        while written < len(events) and not stopped.done():
            if not ending:
                try:
                    tail = poll(written)
                except StateUnavailable:
                    # The shared store is away: the answer runs on as it was (a
                    # cancellation made meanwhile is seen at a look once it is back).
                    tail = None
                if tail is not None:  # the answer changed: its ending goes out now
                    events[written:] = tail
                    offsets[written:] = [0.0] * len(tail)
                    ending = True
            now = loop.time() - base
            due = offsets[written]
            if due > now + SLACK_S:
                await asyncio.wait((stopped,), timeout=min(due - now, POLL_S))
                continue
            end = written + 1
            while end < len(events) and offsets[end] <= now + SLACK_S:
                end += 1
            if abort_after is not None:
                end = min(end, abort_after)
            chunk = b"".join(events[written:end])
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            written = end
            if abort_after is not None and written >= abort_after:
                transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
                if transport is not None:
                    transport.close()
                    return WriteResult(body.status, aborted=True, events_sent=written)
                break
        if stopped.done() and stopped.result():
            return WriteResult(body.status, disconnected=True, events_sent=written)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:  # the client left while a write was on its way
        return WriteResult(body.status, disconnected=True, events_sent=written)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return WriteResult(body.status)
