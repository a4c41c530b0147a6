"""The benchmark's load generator: keep-alive HTTP/1.1 over raw sockets, in its own process.

run.py starts one `python bench/loadgen.py MODE ...` per measurement and reads one JSON
object from its stdout. Modes:

    requests    non-streaming requests/s and latency (used when `wrk` is not installed)
    throughput  content chunks/s over streams with no delay
    paced       one paced stream per connection, all sent together: TTFT, gaps, durations
    embeddings  embeddings requests/s and latency (used when `wrk` is not installed)

`--vary-from N` (requests, paced) gives every request its own prompt: the user message
ends with " #N", N counting up from the number given (replies.varied_requests); run.py
gives every run its own range, so no prompt repeats within a benchmark. `--tools`
(requests) offers the benchmark's tool and forces a call to it.

Each connection is an asyncio Protocol on uvloop whose bytes go straight into an
`httptools` response parser (which undoes chunked transfer encoding). Hot callbacks only
append bytes and a `time.perf_counter()` stamp; SSE events are split and counted after the
response is complete, so the client stays cheap next to the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import re
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httptools
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replies import embedding_request_bytes, request_bytes, varied_requests  # noqa: E402

perf_counter = time.perf_counter

# A content event: a delta whose "content" is a non-empty string. The role event
# ("content": "") and the finish event ({}) do not match; key order and spacing may vary.
_CONTENT = re.compile(rb'"delta":\s*\{[^{}]*"content":\s*"(?!")')
_DONE = b"data: [DONE]"


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _summary(values: Sequence[float], scale: float = 1.0) -> dict[str, float | None]:
    p50, p99 = percentile(values, 50), percentile(values, 99)
    return {
        "p50": None if p50 is None else p50 * scale,
        "p99": None if p99 is None else p99 * scale,
        "max": max(values) * scale if values else None,
        "n": len(values),
    }


class _Conn(asyncio.Protocol):
    """One keep-alive connection; `on_response` is called with each complete response."""

    def __init__(self, on_response: Callable[[_Conn], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.on_response = on_response
        self.pieces: list[tuple[float, bytes]] = []
        self.now = 0.0
        self.sent = 0.0
        self.status = 0
        self.error: str | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.response: asyncio.Future[None] | None = None

    def send(self, request: bytes) -> None:
        """Write a request; `self.response` resolves when its response is complete."""
        assert self.transport is not None
        self.pieces = []
        self.status = 0
        self.response = asyncio.get_running_loop().create_future()
        self.sent = perf_counter()
        self.transport.write(request)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.now = perf_counter()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"bad HTTP response: {exc}")
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.response is not None and not self.response.done():
            self._fail(f"connection closed mid-response: {exc or 'EOF'}")
        if not self.closed.done():
            self.closed.set_result(None)

    # httptools callbacks

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.pieces.append((self.now, body))

    def on_message_complete(self) -> None:
        if self.response is not None and not self.response.done():
            if self.on_response is not None:
                self.on_response(self)
            self.response.set_result(None)

    def _fail(self, message: str) -> None:
        self.error = self.error or message
        if self.response is not None and not self.response.done():
            self.response.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _connect(
    host: str, port: int, count: int, factory: Callable[[], _Conn]
) -> tuple[list[_Conn], list[str]]:
    """Open `count` connections, 100 handshakes at a time so the listen backlog holds."""
    loop = asyncio.get_running_loop()
    conns: list[_Conn] = []
    failures: list[str] = []
    for start in range(0, count, 100):
        batch = range(start, min(count, start + 100))
        made = await asyncio.gather(
            *(loop.create_connection(factory, host, port) for _ in batch),
            return_exceptions=True,
        )
        for outcome in made:
            if isinstance(outcome, BaseException):
                failures.append(f"connect: {outcome!r}")
            else:
                conns.append(outcome[1])
    return conns, failures


def _events(pieces: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """Split a response body into SSE events, each stamped with the read that completed it."""
    events: list[tuple[float, bytes]] = []
    buffer = b""
    for stamp, piece in pieces:
        buffer += piece
        if b"\n\n" not in buffer:
            continue
        *complete, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
        events += [(stamp, event) for event in complete if event]
    if buffer.strip():
        events.append((pieces[-1][0], buffer))
    return events


def _body(pieces: list[tuple[float, bytes]]) -> bytes:
    return b"".join(piece for _, piece in pieces)


async def _closed_loop(
    args: argparse.Namespace,
    check: Callable[[bytes], tuple[str | None, int]],
) -> dict[str, object]:
    """Connections that each send, wait for the whole response, and send again."""
    if args.mode == "embeddings":
        next_request: Callable[[], bytes] = itertools.repeat(
            embedding_request_bytes(args.host, args.port)
        ).__next__
    elif args.vary_from is not None:
        next_request = varied_requests(
            args.host, args.port, args.model, args.vary_from, stream=args.stream, tools=args.tools
        ).__next__
    else:
        request = request_bytes(args.host, args.port, args.model, stream=args.stream)
        next_request = itertools.repeat(request).__next__
    window = {"start": math.inf, "end": math.inf}
    latencies: list[float] = []
    counted = {"responses": 0, "chunks": 0, "errors": 0}
    error_samples: list[str] = []

    def on_response(conn: _Conn) -> None:
        # Errors count in the warm-up too; good responses only inside the window.
        stamp = conn.now
        problem, chunks = check(_body(conn.pieces))
        if conn.status != 200:
            problem = f"HTTP {conn.status}"
        if problem is not None:
            counted["errors"] += 1
            if len(error_samples) < 5:
                error_samples.append(problem)
            return
        if not window["start"] <= stamp < window["end"]:
            return
        counted["responses"] += 1
        latencies.append(stamp - conn.sent)
        counted["chunks"] += chunks

    async def drive(conn: _Conn, stop: float) -> None:
        while perf_counter() < stop and conn.error is None:
            conn.send(next_request())
            assert conn.response is not None
            await conn.response
        if conn.error is not None:
            counted["errors"] += 1
            if len(error_samples) < 5:
                error_samples.append(conn.error)

    conns, failures = await _connect(
        args.host, args.port, args.concurrency, lambda: _Conn(on_response)
    )
    counted["errors"] += len(failures)
    error_samples += failures[:5]
    begin = perf_counter()
    window["start"] = begin + args.warmup
    window["end"] = window["start"] + args.duration
    cpu_before = _cpu()
    await asyncio.gather(*(drive(conn, window["end"]) for conn in conns))
    cpu_used = _cpu() - cpu_before
    for conn in conns:
        conn.close()
    seconds = args.duration
    result: dict[str, object] = {
        "seconds": seconds,
        "concurrency": args.concurrency,
        "responses": counted["responses"],
        "errors": counted["errors"],
        "error_samples": error_samples,
        "requests_per_s": counted["responses"] / seconds,
        "latency_ms": _summary(latencies, 1000),
        "client_cpu_s": cpu_used,
    }
    if args.stream:
        result["chunks"] = counted["chunks"]
        result["chunks_per_s"] = counted["chunks"] / seconds
    return result


def _check_completion(body: bytes) -> tuple[str | None, int]:
    """(what is wrong with a non-streamed body or None, 0)."""
    if b'"chat.completion"' not in body:
        return "response is not a chat.completion", 0
    return None, 0


def _check_tool_call(body: bytes) -> tuple[str | None, int]:
    """(what is wrong with a non-streamed body that must call a tool or None, 0)."""
    if b'"chat.completion"' not in body or b'"tool_calls"' not in body:
        return "response is not a chat.completion with tool calls", 0
    return None, 0


def _check_embedding(body: bytes) -> tuple[str | None, int]:
    if b'"object":"embedding"' not in body:
        return "response is not a list of embeddings", 0
    return None, 0


def _stream_checker(expect: int) -> Callable[[bytes], tuple[str | None, int]]:
    def check(body: bytes) -> tuple[str | None, int]:
        """(what is wrong with a streamed body or None, its content events)."""
        found = len(_CONTENT.findall(body))
        if found != expect:
            return f"{found} content events, expected {expect}", found
        if _DONE not in body:
            return "no data: [DONE]", found
        return None, found

    return check


@dataclass
class _Stream:
    """What one paced stream looked like from the client, in seconds."""

    ttft: float
    gaps: list[float]
    duration: float


@dataclass
class _Round:
    errors: list[str] = field(default_factory=list)
    streams: list[_Stream] = field(default_factory=list)
    client_cpu_s: float = 0.0
    send_spread_ms: float = 0.0


async def _paced_round(args: argparse.Namespace, next_request: Callable[[], bytes]) -> _Round:
    """Open one connection per stream, send every request at once, wait for all streams."""
    result = _Round()
    conns, failures = await _connect(args.host, args.port, args.streams, _Conn)
    result.errors += failures
    if not conns:
        return result
    requests = [next_request() for _ in conns]  # built before the tight loop that sends
    await asyncio.sleep(args.settle)  # let the server accept every connection first
    cpu_before = _cpu()
    for conn, request in zip(conns, requests, strict=True):
        conn.send(request)
    result.send_spread_ms = (perf_counter() - conns[0].sent) * 1000
    waits = [conn.response for conn in conns if conn.response is not None]
    timeout = args.ideal_ms / 1000 * 10 + 10
    _, pending = await asyncio.wait(waits, timeout=timeout)
    result.client_cpu_s = _cpu() - cpu_before
    for conn in conns:
        if conn.response in pending:
            conn.error = conn.error or f"no complete response after {timeout:.0f} s"
        conn.close()
        if conn.error is None and conn.status != 200:
            conn.error = f"HTTP {conn.status}"
        if conn.error is not None:
            result.errors.append(conn.error)
            continue
        events = _events(conn.pieces)
        content = [stamp for stamp, event in events if _CONTENT.search(event)]
        done_at = [stamp for stamp, event in events if event.startswith(_DONE)]
        if len(content) != args.expect or not done_at:
            seen = "seen" if done_at else "missing"
            result.errors.append(f"{len(content)} content events, [DONE] {seen}")
            continue
        gaps = [b - a for a, b in zip(content, content[1:], strict=False)]
        result.streams.append(_Stream(content[0] - conn.sent, gaps, done_at[0] - conn.sent))
    return result


def _paced_stats(streams: list[_Stream], ideal_s: float) -> dict[str, object]:
    durations = [s.duration for s in streams]
    return {
        "ttft_ms": _summary([s.ttft for s in streams], 1000),
        "gap_ms": _summary([gap for s in streams for gap in s.gaps], 1000),
        "duration_ms": _summary(durations, 1000),
        "duration_ratio": _summary(durations, 1 / ideal_s),
    }


async def _paced(args: argparse.Namespace) -> dict[str, object]:
    if args.vary_from is not None:
        next_request = varied_requests(
            args.host, args.port, args.model, args.vary_from, stream=True
        ).__next__
    else:
        next_request = itertools.repeat(
            request_bytes(args.host, args.port, args.model, stream=True)
        ).__next__
    for _ in range(args.warmup_rounds):
        await _paced_round(args, next_request)
    rounds = [await _paced_round(args, next_request) for _ in range(args.rounds)]
    ideal_s = args.ideal_ms / 1000
    return {
        "streams": args.streams,
        "rounds": args.rounds,
        "varied": args.vary_from is not None,
        "ideal_ms": args.ideal_ms,
        "errors": sum(len(one.errors) for one in rounds),
        "error_samples": [error for one in rounds for error in one.errors][:5],
        **_paced_stats([stream for one in rounds for stream in one.streams], ideal_s),
        "per_round": [
            {
                "errors": len(one.errors),
                "client_cpu_s": one.client_cpu_s,
                "send_spread_ms": one.send_spread_ms,
                **_paced_stats(one.streams, ideal_s),
            }
            for one in rounds
        ],
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    for name in ("requests", "throughput", "paced", "embeddings"):
        mode = modes.add_parser(name)
        mode.add_argument("--host", default="127.0.0.1")
        mode.add_argument("--port", type=int, required=True)
        mode.add_argument("--model", required=name != "embeddings")
        if name in ("requests", "paced"):
            mode.add_argument(
                "--vary-from", type=int, help="a prompt per request, numbered from this"
            )
        if name == "requests":
            mode.add_argument("--tools", action="store_true", help="offer and force the tool")
        if name == "paced":
            mode.add_argument("--streams", type=int, required=True)
            mode.add_argument("--rounds", type=int, default=1)
            mode.add_argument("--warmup-rounds", type=int, default=1)
            mode.add_argument("--expect", type=int, required=True, help="content events")
            mode.add_argument("--ideal-ms", type=float, required=True)
            mode.add_argument("--settle", type=float, default=0.3, help="s after connecting")
        else:
            mode.add_argument("--concurrency", type=int, required=True)
            mode.add_argument("--duration", type=float, required=True, help="measured s")
            mode.add_argument("--warmup", type=float, default=2.0, help="unmeasured s first")
            if name == "throughput":
                mode.add_argument("--expect", type=int, required=True, help="content events")
    args = parser.parse_args(argv)
    args.stream = args.mode not in ("requests", "embeddings")
    args.vary_from = getattr(args, "vary_from", None)
    args.tools = getattr(args, "tools", False)
    if args.tools and args.vary_from is None:
        parser.error("--tools needs --vary-from")
    return args


async def _main(args: argparse.Namespace) -> dict[str, object]:
    if args.mode == "paced":
        return await _paced(args)
    if args.mode == "throughput":
        return await _closed_loop(args, _stream_checker(args.expect))
    if args.mode == "embeddings":
        return await _closed_loop(args, _check_embedding)
    return await _closed_loop(args, _check_tool_call if args.tools else _check_completion)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    _raise_nofile()
    result = uvloop.run(_main(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
