"""MockServer: run mockllm under uvicorn, from the CLI (blocking) or a test (a thread)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import inspect
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.supervisors.multiprocess import Multiprocess

from mockllm.app import MockApp, create_app
from mockllm.asgi import ARRIVED_KEY, CONNECTION_KEY, RAW_HEADERS_KEY, SHUTDOWN_KEY, TRANSPORT_KEY
from mockllm.config import ServerConfig
from mockllm.writer import per_loop

logger = logging.getLogger("mockllm")


CONFIG_ENV = "MOCKLLM_WORKER_CONFIG"
HEADER_CHECK_SLACK_S = 0.005  # loop timers may fire this much early
FULL_COLLECTION_AFTER = 100  # middle-generation collections per full one (Python's default: 10)
YOUNG_COLLECTION_AFTER = 50_000  # allocations per young collection (Python's default: 700)
# How long answers under way may take to finish once the server is told to stop: under the
# 10 s that `docker stop` waits before SIGKILL, with time left to close what is still open.
SHUTDOWN_GRACE_S = 8.0
SHUTDOWN_CLOSE_S = 0.5  # for closed connections' requests to end, twice at most
UNBOUNDED_BODY = 1 << 62  # what uvicorn is told of a body whose end is the connection's


def app_from_env() -> MockApp:
    """The app of one worker process, from the config its parent left in the environment."""
    config = ServerConfig.from_json(os.environ[CONFIG_ENV])
    setup_logging(config.log_level, config.log_format)
    uvicorn_settings(config)  # what the protocol class takes from the config, in this process
    prepare_loading()
    app = create_app(config)
    settle_heap()
    return app


@contextlib.contextmanager
def _multiprocess_metrics(config: ServerConfig) -> Iterator[None]:
    """Workers keep their metrics in files of one fresh folder, so that a scrape of any
    of them adds up every worker's (prometheus-client's multiprocess mode). A folder the
    environment already names is used as it is."""
    from mockllm.metrics import MULTIPROC_ENV

    if not config.metrics or os.environ.get(MULTIPROC_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="mockllm-metrics-") as folder:
        os.environ[MULTIPROC_ENV] = folder
        try:
            yield
        finally:
            del os.environ[MULTIPROC_ENV]


def prepare_loading() -> None:
    """Before a process mockllm owns (the CLI, a worker) loads its scenarios and cassettes:
    the collector off until `settle_heap` (loading makes objects that all live on), and a
    large cassettes folder read by several processes (library.read_files). Never in a host's
    test process that embeds the server."""
    from mockllm import library

    gc.disable()
    library.parallel_reads = True


def settle_heap() -> None:
    """Before serving: move everything start-up made (modules, rules, profiles) out of the
    cyclic collector's sight, for a process that keeps it for life, and turn the collector
    back on.

    A full collection otherwise walks those objects again and again under load, stalling
    every open stream for 20-70 ms at a time; frozen, it walks only what requests made.
    Only for a process mockllm owns (the CLI, a worker), never a host's test process.

    Such a process loads its scenarios and cassettes with the collector off: they make a
    million objects or more at 10,000 rules or recorded interactions, all kept, and each
    collection on the way walked all that were made before it (10,000 recorded
    interactions: 5.0 s to load with the collector on, 3.3 s with it off). Nor is the heap
    collected before it is frozen: that walk took 0.15-0.3 s at that size, to find the few
    hundred objects in cycles that imports leave (kept for life now, some 100 KB).
    """
    gc.freeze()
    # Requests and connections leave no reference cycles (tests/test_garbage.py), so a
    # full collection under load finds nothing and only walks every open stream and
    # connection (15-35 ms at 1000 streams, all of them stalled). Make full collections
    # ten times rarer than the default. A young collection walks the young objects still
    # alive: every 700 allocations (the default) that is the requests in flight, again and
    # again; every 50,000, most of them are gone (varied requests, 10 turns each way:
    # 4-5 % less CPU a request, each young collection a millisecond or so).
    _, middle, _ = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, middle, FULL_COLLECTION_AFTER)
    gc.enable()
    from mockllm import library

    library.parallel_reads = False  # serving now: no forks from a running server


class _Protocol(HttpToolsProtocol):
    """httptools protocol that lets the writer reach the transport (for transport faults)
    and write to it, stamps each request with the loop time its last byte was parsed
    (pacing counts from there, not from when the app got round to it), and closes
    connections whose request headers do not arrive in time (slow clients)."""

    header_timeout_s = 30.0
    _header_timer: asyncio.TimerHandle | None = None
    _head_since: float | None = None  # loop time since when a request's headers are awaited
    watched: _Connection | None = None  # the request whose writer waits to hear of a close

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Stream deltas are small writes a few ms apart: without this, Nagle's algorithm
            # holds each one until the client's delayed ACK (up to 40 ms late).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # One timer per connection, for its life: a request only notes when it began (a
        # timer armed and cancelled per request cost more than the rest of this class).
        self._head_since = self.loop.time()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._check_headers)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._head_since = None
        super().on_headers_complete()
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[TRANSPORT_KEY] = self.transport
        extensions[CONNECTION_KEY] = _Connection(self, self.cycle)
        if self.scope["http_version"] == "1.0":
            self.cycle.send = _unchunked(self.cycle)  # type: ignore[method-assign]

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        _admission(self.loop).start(self, cycle, app)

    def _start_now(self, cycle: RequestResponseCycle, app: Any) -> None:
        super()._start_asgi_task(cycle, app)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[ARRIVED_KEY] = self.loop.time()

    def shutdown(self) -> None:
        super().shutdown()
        if self.cycle is not None and not self.cycle.response_complete:
            _closing(self.loop).add(self)  # closed if still answering after the grace
        scope = getattr(self, "scope", None)
        on_shutdown = scope.get("extensions", {}).get(SHUTDOWN_KEY) if scope else None
        if on_shutdown is not None and self.cycle is not None and not self.cycle.response_complete:
            on_shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)
        watched, self.watched = self.watched, None
        if watched is not None:
            watched.lost()
        # The last request's scope (still held here) holds its _Connection, which holds
        # this protocol: let go, so a closed connection is freed without the collector.
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope.get("extensions", {}).pop(CONNECTION_KEY, None)

    def _check_headers(self) -> None:
        """Close the connection when a request's headers (or a first request) have been
        awaited for `header_timeout_s` and no response is under way; else look again
        when that could next be so."""
        now, since, limit = self.loop.time(), self._head_since, self.header_timeout_s
        if since is not None and now - since >= limit - HEADER_CHECK_SLACK_S:
            if self.cycle is None or self.cycle.response_complete:  # no request under way
                self._header_timer = None
                self.transport.close()
                return
            since = None
        due = since + limit if since is not None else now + limit
        self._header_timer = self.loop.call_at(due, self._check_headers)


def _unchunked(cycle: RequestResponseCycle) -> Any:
    """uvicorn's `send` for an HTTP/1.0 request: a body of unknown length (a stream) ends
    when the connection closes, as RFC 9112 section 6.3 says, and is never chunked, which
    HTTP/1.0 clients do not know (section 6.1). (uvicorn closes the connection after an
    HTTP/1.0 answer.) The cycle is held weakly: no reference cycle per request."""
    held = weakref.ref(cycle)
    unbounded = False

    async def send(message: Any) -> None:
        nonlocal unbounded
        found = held()
        if found is None:
            return
        if message["type"] == "http.response.start" and found.chunked_encoding is None:
            names = {name.lower() for name, _ in message.get("headers", ())}
            if b"content-length" not in names and b"transfer-encoding" not in names:
                unbounded = True
                found.chunked_encoding = False
                found.expected_content_length = UNBOUNDED_BODY
        elif message["type"] == "http.response.body" and unbounded:
            # uvicorn counts bytes down to zero on the last message: give it what is left.
            body = message.get("body", b"")
            if not message.get("more_body", False):
                found.expected_content_length = len(body)
            else:
                found.expected_content_length = UNBOUNDED_BODY + len(body)
        await RequestResponseCycle.send(found, message)

    return send


class _Admission:
    """Starts request tasks at most `PER_PASS` per event-loop pass, in arrival order.

    The loop reads sockets (and so stamps each request's arrival) once per pass, then runs
    every callback that is ready. When 1000 requests arrive within a few milliseconds,
    starting all their tasks at once means hundreds of them (about 45 µs each) run between
    two reads, and the requests still in socket buffers are stamped up to 100 ms late;
    their streams then run that late from the client's point of view. Started a bounded
    number per pass, the loop goes back to its sockets every couple of milliseconds, so
    every arrival is stamped within about that of the client's write, and the work still
    ends long before the first token is due. Once a pass reads no new request, the burst
    is in, and `PER_QUIET_PASS` start a pass, to finish before the first tokens are due.
    Under ordinary load (fewer than `PER_PASS` requests a pass) a task starts at once.
    """

    PER_PASS = 32
    PER_QUIET_PASS = 128  # when no request arrived during the last pass: the burst is in

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.started = 0  # tasks started in this pass
        self.waiting: collections.deque[tuple[_Protocol, RequestResponseCycle, Any]] = (
            collections.deque()
        )
        self.armed = False
        self.arrived = 0  # requests that arrived since the last pass began

    def start(self, protocol: _Protocol, cycle: RequestResponseCycle, app: Any) -> None:
        self.arrived += 1
        if not self.waiting and self.started < self.PER_PASS:
            self.started += 1
            protocol._start_now(cycle, app)
        else:
            self.waiting.append((protocol, cycle, app))
        if not self.armed:
            self.armed = True
            self.loop.call_soon(self._next_pass)

    def _next_pass(self) -> None:
        """Runs after the pass's ready callbacks were queued: the count starts again, and
        up to `PER_PASS` waiting tasks start (they run in the next pass, after a read)."""
        self.armed = False
        self.started = 0
        limit = self.PER_PASS if self.arrived else self.PER_QUIET_PASS
        self.arrived = 0
        waiting = self.waiting
        while waiting and self.started < limit:
            protocol, cycle, app = waiting.popleft()
            self.started += 1
            protocol._start_now(cycle, app)
        if self.started:
            self.armed = True
            self.loop.call_soon(self._next_pass)


_admissions: dict[asyncio.AbstractEventLoop, _Admission] = {}


def _admission(loop: asyncio.AbstractEventLoop) -> _Admission:
    return per_loop(_admissions, loop, _Admission)


class _Connection:
    """What the writer may do with the connection of one request (its own cycle, which is
    not the protocol's current one when the client pipelines a next request).

    It holds its cycle weakly: the cycle holds the scope, which holds this, and a strong
    reference would make every request a reference cycle, left for the garbage collector
    (a collection every few dozen requests under load, each walking hundreds of them)."""

    __slots__ = ("protocol", "_cycle", "on_lost")

    def __init__(self, protocol: _Protocol, cycle: RequestResponseCycle) -> None:
        self.protocol = protocol
        self._cycle = weakref.ref(cycle)
        self.on_lost: Any = None

    def write_chunk(self, data: bytes) -> bool:
        """Write part of a chunked response body straight to the transport, framed as
        uvicorn's `send` frames it, when that needs no waiting. False when the caller must
        use `send` instead: no chunked response under way, the client gone, or writes
        paused for backpressure (`send` waits for the drain)."""
        cycle, protocol = self._cycle(), self.protocol
        if (
            cycle is None
            or cycle.chunked_encoding is not True
            or cycle.response_complete
            or cycle.disconnected
            or protocol.flow.write_paused
        ):
            return False
        if data:  # an empty chunk would end the response
            protocol.transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True

    def respond(self, send: Any, start: dict[str, Any], end: dict[str, Any]) -> bool:
        """Send a whole response, head and body, in one write: one syscall and one wake-up
        of the client instead of two. The messages still go through uvicorn's `send`, which
        frames them and keeps its books (keep-alive, pipelined requests); only its writes
        are held and joined. False, having sent nothing, when that cannot be done now:
        `send` is not this request's own, the response has begun, the client is gone, or
        writes are paused for backpressure (`send` would wait)."""
        return self._write(send, start, end)

    def begin(self, send: Any, start: dict[str, Any]) -> bool:
        """Send a response's head, as `respond` does (False when it cannot now)."""
        return self._write(send, start, None)

    def _write(self, send: Any, start: dict[str, Any], end: dict[str, Any] | None) -> bool:
        cycle, protocol = self._cycle(), self.protocol
        if cycle is None:
            return False
        if (
            cycle.response_started
            or cycle.disconnected
            or protocol.flow.write_paused
            or not _bound_to(send, cycle)
        ):
            return False
        transport = cycle.transport
        held = _HeldWrites()
        cycle.transport = held  # type: ignore[assignment]  # write and close are all it uses
        try:
            _at_once(cycle.send(start))  # type: ignore[arg-type]
            raw = start.get(RAW_HEADERS_KEY)
            if raw is not None:  # uvicorn's head ends with the blank line: they go before it
                held.parts[0] = held.parts[0][:-2] + raw + b"\r\n"
            if end is not None:
                _at_once(cycle.send(end))  # type: ignore[arg-type]
        finally:
            cycle.transport = transport
        transport.write(b"".join(held.parts))
        if held.closing:
            transport.close()
        return True

    def watch(self, callback: Any) -> None:
        """Call `callback` once if the connection closes before `unwatch`."""
        self.on_lost = callback
        self.protocol.watched = self

    def unwatch(self) -> None:
        self.on_lost = None
        if self.protocol.watched is self:
            self.protocol.watched = None

    def lost(self) -> None:
        # uvicorn marks only its newest cycle disconnected; this one may be older.
        cycle = self._cycle()
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
        callback, self.on_lost = self.on_lost, None
        if callback is not None:
            callback()


class _HeldWrites:
    """Stands in for a transport while uvicorn's `send` runs: keeps what it writes."""

    __slots__ = ("parts", "closing")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:
        self.closing = True


def _bound_to(method: Any, owner: object) -> bool:
    return getattr(method, "__self__", None) is owner


def _at_once(coro: Any) -> None:
    """Run a coroutine that cannot wait (uvicorn's `send` with writes not paused)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("uvicorn's send waited with writes not paused")


class _Server(uvicorn.Server):
    """uvicorn's server, but SIGINT and SIGTERM are a normal stop (exit 0): answers under
    way get `SHUTDOWN_GRACE_S` to finish (`_Closing`). A second signal ends them at once."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        if sig in (signal.SIGINT, signal.SIGTERM):
            # Not passed on to uvicorn, which would raise the signal again once stopped
            # (SIGINT: KeyboardInterrupt, exit status 1).
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True
            return
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self.force_exit:  # uvicorn waited for nothing: end what is left, quietly
            await _closing(asyncio.get_running_loop()).close_all("at a second signal")
            deadline = asyncio.get_running_loop().time() + 2 * SHUTDOWN_CLOSE_S
            while self.server_state.tasks and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            await self.lifespan.shutdown()  # which uvicorn skips (its task would be cancelled)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor of `--workers` (what `uvicorn.run` starts), but a stop closes
    this process's copy of the port at once. Each worker stops accepting as it begins to
    stop; with the port still open here, a connection made meanwhile waited in its queue,
    accepted by no one, until the last worker had ended (up to the grace period), and was
    then dropped. Now it is refused at once, as a single process refuses it."""

    def handle_int(self) -> None:
        self._close_port()
        super().handle_int()

    def handle_term(self) -> None:
        self._close_port()
        super().handle_term()

    def _close_port(self) -> None:
        for sock in self.sockets:
            sock.close()


class _Closing:
    """The connections that had an answer under way when the server began to stop (in
    one event loop). Once `SHUTDOWN_GRACE_S` has passed, those still open are closed
    together, and their requests end as a departed client's do: no task is cancelled,
    so nothing logs a traceback, and one line says how many were cut. The protocol does
    this, not the server class: `--workers` run uvicorn's own server."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.protocols: list[_Protocol] = []
        self.timer: asyncio.TimerHandle | None = None

    def add(self, protocol: _Protocol) -> None:
        self.protocols.append(protocol)
        if self.timer is None:
            self.timer = self.loop.call_later(
                SHUTDOWN_GRACE_S, self.close_all, f"after {SHUTDOWN_GRACE_S:g} s"
            )

    def _open(self) -> list[_Protocol]:
        return [p for p in self.protocols if not p.transport.is_closing()]

    def close_all(self, when: str) -> asyncio.Future[None]:
        """Close the connections still open; a client that does not read is cut after
        `SHUTDOWN_CLOSE_S`. The result is done once every one is closed."""
        if self.timer is not None:
            self.timer.cancel()
        left = self._open()
        done: asyncio.Future[None] = self.loop.create_future()
        if not left:
            done.set_result(None)
            return done
        logger.warning(
            "stopping: %d answer(s) still under way %s; their connections are closed",
            len(left),
            when,
        )
        for protocol in left:
            protocol.transport.close()

        def cut() -> None:
            for protocol in left:
                if protocol in protocol.connections:  # not yet lost
                    protocol.transport.abort()
            if not done.done():
                done.set_result(None)

        self.loop.call_later(SHUTDOWN_CLOSE_S, cut)
        return done


_closings: dict[asyncio.AbstractEventLoop, _Closing] = {}


def _closing(loop: asyncio.AbstractEventLoop) -> _Closing:
    return per_loop(_closings, loop, _Closing)


def setup_logging(level: str, form: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if form == "json":
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("mockllm")
    root.handlers[:] = [handler]
    if logging.getLevelName(level.upper()) == logging.INFO or level.lower() == "debug":
        from mockllm.exchanges import EXCHANGE_LINES

        EXCHANGE_LINES.configure(sys.stderr, prefix_time=form != "json")
    root.setLevel(level.upper())
    root.propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        uv = logging.getLogger(name)
        uv.handlers[:] = [handler]
        uv.setLevel(
            level.upper()
            if level.lower() in ("warning", "error")
            else (logging.DEBUG if level.lower() in ("debug", "trace") else logging.INFO)
        )
        uv.propagate = False


def uvicorn_settings(config: ServerConfig) -> dict[str, Any]:
    """uvicorn's settings for a config: the one place they are chosen, for one process and
    for `--workers` alike (`uvicorn.Config(app, **settings)`)."""
    _Protocol.header_timeout_s = config.body_timeout_s
    frozen = config.freeze_time
    return {
        "host": config.host,
        "port": config.port,
        "http": _Protocol,
        "ws": "none",  # no WebSocket routes: nothing to import or upgrade to
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "proxy_headers": False,  # a mock answers whoever calls; no forwarded-address rewriting
        "server_header": False,
        # The `date` header, as the APIs send it: uvicorn's clock, or the frozen time
        # (uvicorn adds its `headers` to every response, as it adds its own date).
        "date_header": frozen is None,
        "headers": [] if frozen is None else [("date", formatdate(frozen, usegmt=True))],
        # A backstop: `_Closing` has ended every answer by then.
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_S + 4 * SHUTDOWN_CLOSE_S,
        "backlog": 4096,
    }


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on host:port (0: a free port), as uvicorn would bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


LENIENT_BANNER = (
    " (--lenient: accepting requests the real API refuses: unknown arguments, parameters"
    " a model does not take, strict schemas, unpaired tool calls and replies, prompts and"
    " max_tokens past a model's limits, models on endpoints that do not serve them)"
)


def banner(app: MockApp, url: str) -> list[str]:
    """What the server says when it starts: version, rules and where it listens; the
    profile and its chat paths; the keys loaded (how many, never which); cassettes."""
    status, config = app.status(), app.config
    if status["keys"] is None:
        keys = "no keys file: any key is accepted"
    else:
        count = status["keys"]
        keys = f"{count} {'key' if count == 1 else 'keys'} from {config.keys}"
    cassettes = config.cassettes or "none"
    recording = f", from {config.upstream}" if config.upstream else ""
    lenient = LENIENT_BANNER if config.lenient else ""
    lines = [
        f"mockllm {status['version']} serving {status['rules']} rules on {url}/v1{lenient}",
        f"profile {status['profile']}: chat at {', '.join(status['chat_paths'])}; {keys}",
        f"cassettes: {cassettes}; record mode {status['record_mode']}{recording}",
    ]
    library = app.engine.library
    if config.cassette and config.record_mode == "none" and library is not None:
        if not library.existed(config.cassette):
            lines.append(
                f"cassette '{config.cassette}' (--cassette) is not under {config.cassettes}: "
                "every request will be a cassette miss"
            )
    for name in app.engine.idle_replay_rules():
        lines.append(
            f"rule '{name}': its match.cassette names no loaded interaction (names are "
            f"relative to --cassettes, as the journal shows them: docs/story.yaml#1)"
        )
    return lines


class MockServer:
    """A mockllm server. `run()` blocks (the CLI); `start()`/`stop()` run it in a thread."""

    def __init__(self, config: ServerConfig | None = None, app: MockApp | None = None) -> None:
        self.config = config or ServerConfig()
        self.app = app or create_app(self.config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = self.config.port

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}/v1"

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def run(self) -> None:
        """Serve until interrupted (SIGINT/SIGTERM drain in-flight streams, then exit).

        The socket is bound first (OSError if it cannot be), so that the banner names the
        real port. With `workers` > 1, uvicorn starts that many processes on one port, each
        with its own copy of the state (sequences, credits, rate limits, journal), unless
        they share a `--state` store.
        """
        settings = uvicorn_settings(self.config)
        if self.config.workers > 1:
            # uvicorn binds the workers' socket itself; a free port is chosen first so that
            # the banner can name it (the port could be taken in between: a start failure).
            if self.config.port == 0:
                with _bind(self.config.host, 0) as probe:
                    self.port = probe.getsockname()[1]
            for line in banner(self.app, self.url):
                logger.info("%s", line)
            self.app.engine.store.close()  # this process only supervises the workers
            os.environ[CONFIG_ENV] = self.config.to_json()
            settle_heap()
            with _multiprocess_metrics(self.config):
                self._run_workers()
            return
        sock = _bind(self.config.host, self.config.port)
        self.port = sock.getsockname()[1]
        for line in banner(self.app, self.url):
            logger.info("%s", line)
        server = _Server(uvicorn.Config(self.app, **settings))
        self._server = server
        settle_heap()
        server.run(sockets=[sock])

    def _run_workers(self) -> None:
        settings = uvicorn_settings(self.config)
        config = uvicorn.Config(
            "mockllm.server:app_from_env",
            factory=True,
            workers=self.config.workers,
            **{**settings, "port": self.port},
        )
        sock = config.bind_socket()
        # uvicorn up to 0.50 hands the supervisor the server's `run` (`target`); later
        # versions make the server in each worker themselves.
        extra: dict[str, Any] = {}
        if "target" in inspect.signature(Multiprocess).parameters:
            extra["target"] = uvicorn.Server(config).run
        try:
            _Supervisor(config, sockets=[sock], **extra).run()
        finally:
            sock.close()

    def start(self) -> MockServer:
        """Serve in a background thread on `config.port` (0: a free port); return once listening."""
        sock = _bind(self.config.host, self.config.port)
        self.port = sock.getsockname()[1]
        server = _Server(uvicorn.Config(self.app, **uvicorn_settings(self.config)))
        server.install_signal_handlers = lambda: None  # type: ignore[attr-defined,method-assign,unused-ignore]
        self._server = server

        def serve() -> None:
            asyncio.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=serve, name="mockllm-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("mockllm server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
