"""The record proxy's client against a real upstream on a loopback port."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from mockllm.cassettes import Recorder, Scrubber, load_cassette
from mockllm.errors import ConfigError, RequestError
from mockllm.upstream import Upstream, UpstreamError, forwarded_headers, to_recorded, upstream_url

KEY = "sk-proj-" + "Qw7" * 12  # a made-up key shaped like a real one
GAP = 0.1  # seconds between the streamed events
SLACK = 0.04  # how far a measured time may be from the server's own clock
PATH = "/v1/chat/completions"


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return values[0] if values else None


@dataclass
class FakeUpstream:
    """An HTTP/1.1 server in its own thread and event loop; routes by the path's last part."""

    seen: list[Seen] = field(default_factory=list)
    sends: list[float] = field(default_factory=list)  # perf_counter when each event went out
    connections: int = 0
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(ready),), daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("the upstream server did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            self.connections += 1
            try:
                await self._serve(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                writer.close()
                tasks.discard(task)

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        await self._stop.wait()
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers = []
            while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = raw.decode("latin-1").partition(":")
                headers.append((name.strip(), value.strip()))
            seen = Seen(method, target, headers, b"")
            length = int(seen.header("content-length") or 0)
            seen.body = await reader.readexactly(length) if length else b""
            self.seen.append(seen)
            route = ROUTES[target.partition("?")[0].rsplit("/", 1)[-1]]
            if not await route(self, writer):
                return  # the route closed the connection

    async def events(self, writer: asyncio.StreamWriter, parts: list[tuple[float, bytes]]) -> None:
        """Send each part as one HTTP chunk at its offset (seconds from now)."""
        start = time.perf_counter()
        for offset, part in parts:
            await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            self.sends.append(time.perf_counter())


def _head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode()


SSE_HEAD = _head("200 OK", "Content-Type: text/event-stream", "Transfer-Encoding: chunked")
Route = Callable[[FakeUpstream, asyncio.StreamWriter], Awaitable[bool]]


def _event(i: int) -> bytes:
    return b'data: {"i": %d}\n\n' % i


async def _stream(server: FakeUpstream, writer: asyncio.StreamWriter) -> bool:
    writer.write(SSE_HEAD)
    await server.events(writer, [(GAP * (i + 1), _event(i)) for i in range(5)])
    writer.write(b"0\r\n\r\n")
    return True


async def _split(server: FakeUpstream, writer: asyncio.StreamWriter) -> bool:
    writer.write(SSE_HEAD)
    await server.events(writer, [(0.05, b'data: {"a"'), (0.15, b": 1}\n\ndata: 2\n\n\n")])
    writer.write(b"0\r\n\r\n")
    return True


async def _json(server: FakeUpstream, writer: asyncio.StreamWriter) -> bool:
    body = b'{"ok": true}'
    writer.write(
        _head(
            "200 OK",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: keep-alive, x-hop",
            "Keep-Alive: timeout=5",
            "X-Hop: yes",
            "X-Request-Id: req_1",
        )
        + body
    )
    return True


async def _limited(server: FakeUpstream, writer: asyncio.StreamWriter) -> bool:
    body = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": null}}'
    writer.write(
        _head(
            "429 Too Many Requests",
            "Content-Type: application/json",
            "Retry-After: 2",
            f"Content-Length: {len(body)}",
        )
        + body
    )
    return True


async def _slow(server: FakeUpstream, writer: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(5)
    return False


async def _stall(server: FakeUpstream, writer: asyncio.StreamWriter) -> bool:
    writer.write(SSE_HEAD)
    await server.events(writer, [(0.0, _event(0))])
    await asyncio.sleep(5)
    return False


async def _cut(server: FakeUpstream, writer: asyncio.StreamWriter) -> bool:
    writer.write(SSE_HEAD)
    await server.events(writer, [(0.0, _event(0))])
    return False  # closed in the middle of the chunked body


async def _gzip(server: FakeUpstream, writer: asyncio.StreamWriter) -> bool:
    body = gzip.compress(b'{"packed": true}')
    writer.write(
        _head(
            "200 OK",
            "Content-Type: application/json",
            "Content-Encoding: gzip",
            f"Content-Length: {len(body)}",
        )
        + body
    )
    return True


async def _redirect(server: FakeUpstream, writer: asyncio.StreamWriter) -> bool:
    writer.write(_head("302 Found", "Location: http://127.0.0.1:1/elsewhere", "Content-Length: 0"))
    return True


ROUTES: dict[str, Route] = {
    "completions": _stream,
    "stream": _stream,
    "split": _split,
    "json": _json,
    "limited": _limited,
    "slow": _slow,
    "stall": _stall,
    "cut": _cut,
    "gzip": _gzip,
    "redirect": _redirect,
}


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[FakeUpstream]:
    server = FakeUpstream()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(upstream_server: FakeUpstream) -> FakeUpstream:
    upstream_server.seen.clear()
    upstream_server.sends.clear()
    upstream_server.connections = 0
    return upstream_server


def client_headers(*extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        ("Host", "127.0.0.1:8000"),
        ("Authorization", f"Bearer {KEY}"),
        ("Content-Type", "application/json"),
        *extra,
    ]


BODY = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})


# --- streaming and timing ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_chunks_arrive_as_they_are_sent_with_their_offsets(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("POST", "/v1/stream", "", client_headers(), BODY)
        arrivals = []
        async for chunk in response.chunks():
            arrivals.append((time.perf_counter(), chunk))
    assert response.status == 200 and response.is_stream
    assert [c for _, c in arrivals] == [_event(i) for i in range(5)]
    # The first chunk is in hand when it was sent, long before the stream ends.
    assert arrivals[0][0] - server.sends[0] < SLACK
    assert arrivals[0][0] < server.sends[-1] - 3 * GAP
    for (offset, _), sent in zip(response.received, server.sends, strict=True):
        assert abs(response.started + offset - sent) < SLACK
    for i, (offset, _) in enumerate(response.received):
        assert abs(offset - GAP * (i + 1)) < SLACK
    events = response.events()
    assert [e for _, e in events] == [_event(i) for i in range(5)]
    assert [o for o, _ in events] == [round(o, 6) for o, _ in response.received]


@pytest.mark.anyio
async def test_an_event_is_timed_by_the_chunk_that_completes_it(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("POST", "/v1/split", "", client_headers(), BODY)
        body = await response.read()
    assert body == b'data: {"a": 1}\n\ndata: 2\n\n\n'
    (first, event1), (second, event2) = response.events()
    assert (event1, event2) == (b'data: {"a": 1}\n\n', b"data: 2\n\n\n")  # joined: the body
    assert abs(first - 0.15) < SLACK and first == second
    assert abs(response.received[0][0] - 0.05) < SLACK


# --- what reaches the upstream ----------------------------------------------------------------


@pytest.mark.anyio
async def test_credentials_forwarded_and_hop_by_hop_and_control_headers_dropped(
    server: FakeUpstream,
) -> None:
    headers = client_headers(
        ("X-API-Key", "key-123"),
        ("User-Agent", "OpenAI/Python 1.54.0"),
        ("X-Mockllm-Cassette", "secret/place"),
        ("x-mockllm-record", "all"),
        ("Connection", "keep-alive, X-Private-Hop"),
        ("X-Private-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Authorization", "Basic cHJveHk6cHc="),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "h2c"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "999"),
        ("Accept-Encoding", "gzip, deflate, br"),
    )
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("POST", "/v1/json", "x=1", headers, BODY)
        await response.read()
    (seen,) = server.seen
    assert (seen.method, seen.target, seen.body) == ("POST", "/v1/json?x=1", BODY)
    assert seen.header("authorization") == f"Bearer {KEY}"
    assert seen.header("x-api-key") == "key-123"
    assert seen.header("user-agent") == "OpenAI/Python 1.54.0"
    assert seen.header("host") == f"127.0.0.1:{server.port}"
    assert seen.header("content-length") == str(len(BODY))
    assert seen.header("accept-encoding") == "identity"  # compressed bodies never requested
    names = {k.lower() for k, _ in seen.headers}
    assert not {n for n in names if n.startswith(("x-mockllm-", "proxy-"))}
    assert not names & {"x-private-hop", "keep-alive", "te", "trailer", "upgrade"}
    assert "transfer-encoding" not in names
    assert [k for k, _ in seen.headers].count("Host") + [k for k, _ in seen.headers].count(
        "host"
    ) == 1


def test_forwarded_headers_keep_repeated_headers_and_order() -> None:
    sent = forwarded_headers([("A", "1"), ("Host", "x"), ("A", "2"), ("Authorization", "k")])
    assert sent == [("A", "1"), ("A", "2"), ("Authorization", "k"), ("accept-encoding", "identity")]


@pytest.mark.parametrize(
    ("base", "path", "url"),
    [
        ("https://api.openai.com/v1", PATH, "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/v1/", PATH, "https://api.openai.com/v1/chat/completions"),
        (
            "https://api.openai.com/v1",
            "/chat/completions",
            "https://api.openai.com/v1/chat/completions",
        ),
        ("https://api.openai.com/v1", "/v1", "https://api.openai.com/v1"),
        ("https://gw.example/openai/v1", PATH, "https://gw.example/openai/v1/chat/completions"),
        ("https://gw.example/openai", PATH, "https://gw.example/openai/v1/chat/completions"),
        ("https://gw.example/api/paas/v4", PATH, "https://gw.example/api/paas/v4/chat/completions"),
        ("http://127.0.0.1:9000", PATH, "http://127.0.0.1:9000/v1/chat/completions"),
        ("http://127.0.0.1:9000/v1", "/v1/models", "http://127.0.0.1:9000/v1/models"),
        ("https://gw.example/v1", "/v1beta/models", "https://gw.example/v1/v1beta/models"),
    ],
)
def test_path_mapping(base: str, path: str, url: str) -> None:
    assert upstream_url(base, path) == url


def test_query_is_kept() -> None:
    assert upstream_url("https://api.openai.com/v1", "/v1/models", "limit=2&after=x") == (
        "https://api.openai.com/v1/models?limit=2&after=x"
    )


@pytest.mark.anyio
async def test_a_sub_path_base_is_where_requests_go(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/openai/v1/") as upstream:
        response = await upstream.open("POST", "/v1/json", "", client_headers(), BODY)
        await response.read()
    assert server.seen[0].target == "/openai/v1/json"
    assert response.url == f"{server.base}/openai/v1/json"


@pytest.mark.parametrize(
    "path",
    [
        "http://evil.example/v1/chat/completions",
        "https://evil.example",
        "//evil.example/v1/chat/completions",
        "evil.example/v1",
        "/v1/../admin",
        "/v1/..",
        "/v1/./chat/completions",
        "/v1/%2e%2e/admin",
        "/v1/%2E%2E%2Fadmin",
        "/v1\\..\\admin",
        "/v1/chat completions",
        "/v1/chat/completions#x",
        "/v1/chat/completions?key=1",
        "/v1/chat\r\nHost: evil.example",
        "",
    ],
)
@pytest.mark.anyio
async def test_paths_that_could_leave_the_upstream_are_refused(
    server: FakeUpstream, path: str
) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        with pytest.raises(RequestError) as caught:
            await upstream.open("POST", path, "", client_headers(), BODY)
    assert caught.value.status == 400 and "cannot be forwarded upstream" in caught.value.message
    assert server.seen == []


def test_a_query_with_a_fragment_is_refused() -> None:
    with pytest.raises(RequestError):
        upstream_url("https://api.openai.com/v1", PATH, "a=1#@evil.example")


@pytest.mark.parametrize(
    "base",
    [
        "ftp://api.openai.com/v1",
        "api.openai.com/v1",
        "https:///v1",
        "https://u:p@h/v1",
        "http://h:99999/v1",
        "http://h:0/v1",
        "http://h/v1?x=1",
    ],
)
def test_a_bad_base_is_a_config_error(base: str) -> None:
    with pytest.raises(ConfigError, match="expected a base URL"):
        Upstream(base)


@pytest.mark.anyio
async def test_redirects_are_passed_back_not_followed(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("POST", "/v1/redirect", "", client_headers(), BODY)
        await response.read()
    assert response.status == 302
    assert ("location", "http://127.0.0.1:1/elsewhere") in response.headers
    assert len(server.seen) == 1


@pytest.mark.anyio
async def test_connections_are_reused(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        for _ in range(3):
            response = await upstream.open("POST", "/v1/json", "", client_headers(), BODY)
            await response.read()
    assert len(server.seen) == 3 and server.connections == 1


# --- what comes back --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_hop_by_hop_response_headers_are_dropped(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("GET", "/v1/json", "", client_headers(), b"")
        assert await response.read() == b'{"ok": true}'
    names = [k.lower() for k, _ in response.headers]
    assert names == ["content-type", "x-request-id"]
    assert (response.status, response.reason) == (200, "OK")


@pytest.mark.anyio
async def test_an_upstream_429_is_a_response_not_an_exception(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("POST", "/v1/limited", "", client_headers(), BODY)
        body = await response.read()
    assert (response.status, response.reason) == (429, "Too Many Requests")
    assert ("retry-after", "2") in [(k.lower(), v) for k, v in response.headers]
    assert orjson.loads(body)["error"]["message"] == "Rate limit reached"


@pytest.mark.anyio
async def test_a_body_encoded_anyway_is_passed_on_decoded(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("POST", "/v1/gzip", "", client_headers(), BODY)
        assert await response.read() == b'{"packed": true}'
    assert server.seen[0].header("accept-encoding") == "identity"
    assert [k.lower() for k, _ in response.headers] == ["content-type"]


# --- failures ---------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.anyio
async def test_connection_refused_is_a_connect_error() -> None:
    async with Upstream(f"http://127.0.0.1:{_closed_port()}/v1") as upstream:
        with pytest.raises(UpstreamError) as caught:
            await upstream.open("POST", PATH, "key=sk-hidden", client_headers(), BODY)
    assert (caught.value.kind, caught.value.status) == ("connect", 502)
    assert "cannot be reached" in caught.value.message
    assert "sk-hidden" not in caught.value.message


@pytest.mark.anyio
async def test_no_answer_in_time_is_a_timeout(server: FakeUpstream) -> None:
    started = time.perf_counter()
    async with Upstream(f"{server.base}/v1", timeout_s=0.3) as upstream:
        with pytest.raises(UpstreamError) as caught:
            await upstream.open("POST", "/v1/slow", "", client_headers(), BODY)
    assert (caught.value.kind, caught.value.status) == ("timeout", 504)
    assert 0.25 < time.perf_counter() - started < 2


@pytest.mark.anyio
async def test_a_stream_that_stalls_is_a_timeout_from_chunks(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1", timeout_s=0.3) as upstream:
        response = await upstream.open("POST", "/v1/stall", "", client_headers(), BODY)
        got = []
        with pytest.raises(UpstreamError) as caught:
            async for chunk in response.chunks():
                got.append(chunk)
    assert caught.value.kind == "timeout"
    assert got == [_event(0)] and response.body == _event(0)
    assert response.error is caught.value


@pytest.mark.anyio
async def test_a_stream_cut_short_is_a_protocol_error(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("POST", "/v1/cut", "", client_headers(), BODY)
        with pytest.raises(UpstreamError) as caught:
            await response.read()
    assert (caught.value.kind, caught.value.status) == ("protocol", 502)
    assert response.body == _event(0)


# --- into a cassette --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_to_recorded_keeps_the_timing_through_a_cassette(
    server: FakeUpstream, tmp_path: Path
) -> None:
    headers = client_headers(("X-Mockllm-Cassette", "run"))
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("POST", PATH, "", headers, BODY)
        await response.read()
    request, recorded = to_recorded("post", PATH, "", headers, BODY, response)
    assert (request.method, request.path, request.url) == ("POST", PATH, f"{server.base}{PATH}")
    assert ("Authorization", f"Bearer {KEY}") in request.headers
    assert not [k for k, _ in request.headers if k.lower() in ("host", "x-mockllm-cassette")]
    assert recorded.events is not None and recorded.has_timing
    assert b"".join(e for _, e in recorded.events) == recorded.body == response.body
    Recorder(tmp_path, Scrubber()).append("run", request, recorded)
    assert KEY not in (tmp_path / "run.yaml").read_text()
    (loaded,) = load_cassette(tmp_path / "run.yaml", "run.yaml")
    assert loaded.response.events is not None
    for (offset, event), (kept, again) in zip(recorded.events, loaded.response.events, strict=True):
        assert abs(offset - kept) < 0.001 and event == again


@pytest.mark.anyio
async def test_to_recorded_of_a_json_answer_has_no_events(server: FakeUpstream) -> None:
    async with Upstream(f"{server.base}/v1") as upstream:
        response = await upstream.open("POST", "/v1/limited", "", client_headers(), BODY)
        await response.read()
    _, recorded = to_recorded("POST", "/v1/limited", "", client_headers(), BODY, response)
    assert (recorded.status, recorded.events) == (429, None)
    assert recorded.body.startswith(b'{"error"')
