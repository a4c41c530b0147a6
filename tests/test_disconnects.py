"""Clients that go away, stall or never read: the server keeps answering and leaks nothing.

One server for the module. 1000 raw-socket clients leave at random points of paced
streams (before their headers are complete, before the answer, mid-stream, during a
fault, with a FIN or a RST); afterwards the server answers normally and fast, and its
resident memory and open descriptors are back near where they were. Clients that never
read a large fast stream must not grow the server's memory without bound, and a body
that stops arriving is answered with 408.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from reliability.proc import cap_memory, fd_count, raw_request, rss_kb, settle
from tests.conftest import RunningServer, free_port, start_server

CHAT = "/v1/chat/completions"
WORDS = " ".join(f"w{i}" for i in range(60))
SCENARIO = f"""\
version: 1
rules:
  - name: paced
    match: {{ model: paced }}
    reply: {{ content: "{WORDS}", latency: {{ ttft_ms: 20, inter_token_ms: 5 }} }}
  - name: drip
    match: {{ model: drip }}
    reply: {{ content: "{WORDS}", fault: {{ drip_bytes_per_s: 2000 }} }}
  - name: cut
    match: {{ model: cut }}
    reply:
      content: "{WORDS}"
      latency: {{ inter_token_ms: 5 }}
      fault: {{ disconnect_after_tokens: 10 }}
  - name: hang
    match: {{ model: hang }}
    reply: {{ content: x, fault: {{ hang: true }} }}
  - name: malformed
    match: {{ model: malformed }}
    reply:
      content: "{WORDS}"
      latency: {{ inter_token_ms: 2 }}
      fault: {{ malformed_chunk_at: 3 }}
  - name: in-band
    match: {{ model: in-band }}
    reply:
      content: "{WORDS}"
      latency: {{ inter_token_ms: 2 }}
      fault: {{ error_after_tokens: 5, error: {{ status: 503 }} }}
"""
MODELS = ["paced", "drip", "cut", "hang", "malformed", "in-band"]
RSS_SLACK_KB = 10 * 1024


def chat_bytes(model: str, stream: bool = True, **fields: object) -> bytes:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "go"}]}
    return raw_request(CHAT, orjson.dumps({**body, **fields}))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("disconnects")
    scenario = tmp / "paced.yaml"
    scenario.write_text(SCENARIO)
    found = start_server(
        "--scenarios",
        str(scenario),
        "--hang-max-s",
        "3",
        "--journal-size",
        "200",
        tmp_path=tmp,
    )
    cap_memory(found.proc.pid)
    yield found
    found.stop()


def complete_request(server: RunningServer, model: str = "paced") -> str:
    """A whole streamed answer, as text; fails if it is not a complete stream."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert response.text.rstrip().endswith("data: [DONE]"), response.text[-300:]
    return response.text


def warm_up(server: RunningServer) -> tuple[int, int]:
    """Exercise every path once (imports, caches), then return (rss_kb, fd_count)."""
    for model in ("paced", "malformed", "in-band"):
        httpx.post(
            f"{server.base_url}/chat/completions",
            timeout=10,
            json={"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]},
        )
    asyncio.run(_storm(server.port, 200, concurrency=100, seed=1))
    settle(server.proc.pid, 0, timeout=1)
    time.sleep(0.5)
    return rss_kb(server.proc.pid), fd_count(server.proc.pid)


async def _one_client(port: int, rng: random.Random) -> str:
    """Connect, then leave at a random point; return where it left."""
    model = rng.choice(MODELS)
    where = rng.choice(["headers", "before-answer", "after-headers", "mid-stream", "late"])
    reset = rng.random() < 0.5
    data = chat_bytes(model)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if where == "headers":
            writer.write(data[: rng.randint(1, data.index(b"\r\n\r\n"))])
        elif where == "before-answer":
            writer.write(data[: rng.randint(data.index(b"\r\n\r\n") + 4, len(data))])
        else:
            writer.write(data)
            await writer.drain()
            if where == "after-headers":
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.5)
            elif where == "mid-stream":
                await asyncio.wait_for(reader.read(rng.randint(1, 2000)), 0.5)
            else:
                await asyncio.sleep(rng.uniform(0, 0.3))
        await writer.drain()
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        pass  # the fault closed first: that is a departure too
    finally:
        sock = writer.get_extra_info("socket")
        if reset and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return f"{where}/{model}/{'rst' if reset else 'fin'}"


async def _storm(port: int, total: int, concurrency: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    gate = asyncio.Semaphore(concurrency)
    seen: dict[str, int] = {}

    async def run() -> None:
        async with gate:
            where = await _one_client(port, random.Random(rng.random()))
            seen[where.split("/")[0]] = seen.get(where.split("/")[0], 0) + 1

    await asyncio.gather(*(run() for _ in range(total)))
    return seen


def health_ms(server: RunningServer) -> float:
    """The quickest of three health checks on one connection, in ms: a server with work
    left over answers all three late, where one late answer can be the loaded machine's."""
    with httpx.Client(timeout=5) as client:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert client.get(f"{server.url}/__admin/health").status_code == 200
            times.append((time.perf_counter() - started) * 1000)
    return min(times)


def test_a_thousand_departures_leave_nothing_behind(server: RunningServer) -> None:
    rss_before, fds_before = warm_up(server)
    seen = asyncio.run(_storm(server.port, 1000, concurrency=200, seed=7))
    assert sum(seen.values()) == 1000 and len(seen) == 5, seen
    # Hanging requests end by the --hang-max-s bound (3 s) at the latest.
    fds_after = settle(server.proc.pid, fds_before, timeout=8)
    assert fds_after <= fds_before, f"open descriptors {fds_before} -> {fds_after}"
    assert health_ms(server) < 200
    text = complete_request(server)
    assert text.count("data: ") > 60
    rss_after = rss_kb(server.proc.pid)
    assert rss_after - rss_before < RSS_SLACK_KB, f"RSS {rss_before} -> {rss_after} KiB"
    journal = httpx.get(f"{server.url}/__admin/requests", timeout=5).json()["requests"]
    assert len(journal) <= 200
    assert "Traceback" not in server.log(), server.log()[-3000:]


def _storm_in_a_process(port: int, total: int, concurrency: int, seed: int) -> None:
    asyncio.run(_storm(port, total, concurrency, seed))


def test_health_stays_fast_during_a_storm(server: RunningServer) -> None:
    # The storm runs in its own process, so that what is timed is the server's answer
    # and not the measuring client's event loop opening 200 connections of its own.
    storm = multiprocessing.get_context("fork").Process(
        target=_storm_in_a_process, args=(server.port, 400, 200, 11)
    )
    storm.start()
    times = []
    try:
        with httpx.Client(timeout=5) as client:
            while storm.is_alive():
                started = time.perf_counter()
                response = client.get(f"{server.url}/__admin/health")
                assert response.status_code == 200
                times.append(time.perf_counter() - started)
                time.sleep(0.05)
    finally:
        storm.join(timeout=60)
    assert storm.exitcode == 0
    assert len(times) > 3, times
    assert max(times) < 0.5, f"slowest health check {max(times):.3f} s"


def test_a_client_that_never_reads_does_not_grow_memory_without_bound(
    server: RunningServer,
) -> None:
    """20 clients ask for a large fast answer (128 choices x 4096 tokens) and never read."""
    settle(server.proc.pid, 0, timeout=1)
    before = rss_kb(server.proc.pid)
    fds_before = fd_count(server.proc.pid)
    big = chat_bytes("gpt-4o-mini", stream=True, n=128, max_tokens=4096)
    socks = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(big)
        socks.append(sock)
    # The 20 answers are made at the pace the machine allows (slower on a loaded one): sample
    # until the memory holds still, then for a second more, which must add next to nothing.
    samples = [rss_kb(server.proc.pid)]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(0.25)
        samples.append(rss_kb(server.proc.pid))
        if len(samples) >= 5 and samples[-1] - samples[-5] < 2 * 1024:
            break
    settled = samples[-1]
    for _ in range(4):
        time.sleep(0.25)
        samples.append(rss_kb(server.proc.pid))
    try:
        assert health_ms(server) < 500
        growth = max(samples) - before
        # Each answer is ~1.5 MB of events held until sent; 20 of them, plus slack.
        assert growth < 200 * 1024, f"RSS grew {growth} KiB while 20 clients stalled: {samples}"
        assert samples[-1] - settled < 20 * 1024, f"RSS still growing: {samples}"
    finally:
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
    assert settle(server.proc.pid, fds_before, timeout=5) <= fds_before
    complete_request(server)


def test_the_body_timeout_is_30_seconds_unless_set() -> None:
    """`--body-timeout-s` (MOCKLLM_BODY_TIMEOUT_S) sets it; 30 s by default."""
    from mockllm.config import ServerConfig

    assert ServerConfig().body_timeout_s == 30.0


def test_a_body_that_stops_arriving_gets_408(tmp_path: Path) -> None:
    """Content-Length 1000, 10 bytes, then silence: 408 in the error shape after the timeout."""
    import subprocess

    port = free_port()
    code = "from mockllm.cli import main; main()"
    args = ["serve", "--port", str(port), "--body-timeout-s", "1"]
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=log, stderr=log)
    try:
        _wait_healthy(port, proc)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            head = (
                f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 1000\r\n\r\n"
            )
            sock.sendall(head.encode() + b'{"model": ')
            started = time.monotonic()
            reply = _read_response(sock)
            took = time.monotonic() - started
        assert reply.startswith(b"HTTP/1.1 408"), reply[:300]
        body = orjson.loads(reply.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["code"] == "timeout" and isinstance(body["error"]["message"], str)
        assert 0.9 < took < 3.0, f"408 after {took:.2f} s"
        assert httpx.get(f"http://127.0.0.1:{port}/__admin/health", timeout=2).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def _wait_healthy(port: int, proc: object) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/__admin/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    pytest.fail("the server did not start")


def test_the_journal_does_not_hold_every_large_body(server: RunningServer) -> None:
    """The journal is bounded by count (200 here); large bodies must not make it hold
    gigabytes (1000 entries x 8 MiB by default). 12 bodies of 7 MB: growth under 40 MiB."""
    httpx.delete(f"{server.url}/__admin/requests", timeout=5)
    before = rss_kb(server.proc.pid)
    with httpx.Client(timeout=30) as client:
        for i in range(12):
            # 7 MB that still fits the model's context window (a longer prompt gets the
            # real API's context-length 400): mostly whitespace, one token a run.
            content = f"{i} word" + " " * 7_000_000
            body = {
                "model": "gpt-4o-mini",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": content}],
            }
            assert client.post(f"{server.base_url}/chat/completions", json=body).status_code == 200
    growth = rss_kb(server.proc.pid) - before
    httpx.delete(f"{server.url}/__admin/requests", timeout=5)
    assert growth < 40 * 1024, f"RSS grew {growth >> 10} MiB for 12 journal entries of 7 MB"


def test_pipelined_streams_complete_and_a_departure_is_seen(server: RunningServer) -> None:
    """Two streams asked for back to back on one connection (pipelining) both arrive whole;
    a client that leaves mid-stream with a second request queued is seen as gone, and the
    server logs no error about it."""
    request = chat_bytes("paced")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request + request)
        data = b""
        while data.count(b"data: [DONE]") < 2:
            piece = sock.recv(65536)
            assert piece, data[-300:]
            data += piece
    assert data.count(b"HTTP/1.1 200") == 2
    assert data.count(b"\r\n0\r\n\r\n") == 2  # each chunked body ends once

    before = server.log().count("ASGI callable returned without completing response")
    marker = f"pipelined {random.random()}"
    leaving = chat_bytes("paced", user=marker)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(leaving + leaving)
        sock.recv(200)  # the first response has started
    deadline = time.monotonic() + 10
    entry: dict[str, object] = {}
    while time.monotonic() < deadline:
        entries = httpx.get(f"{server.url}/__admin/requests").json()["requests"]
        found = [e for e in entries if (e.get("request") or {}).get("user") == marker]
        if found and found[0].get("error"):
            entry = found[0]
            break
        time.sleep(0.05)
    assert entry.get("error") == "client disconnected", entry
    assert server.log().count("ASGI callable returned without completing response") == before


def test_request_headers_that_do_not_arrive_in_time_close_the_connection(
    tmp_path: Path,
) -> None:
    """With `--body-timeout-s 1`: a client that connects and sends nothing, or stops in the
    middle of a request's headers, is disconnected about 1 s after it began waiting; a
    keep-alive connection older than that still serves a request whose headers come
    promptly, and its next request gets its own full second."""
    server = start_server("--body-timeout-s", "1", tmp_path=tmp_path)
    request = chat_bytes("gpt-4o-mini", stream=False)

    def closed_after(sock: socket.socket) -> float:
        started = time.monotonic()
        sock.settimeout(5)
        while sock.recv(65536):
            pass
        return time.monotonic() - started

    try:
        with socket.create_connection(("127.0.0.1", server.port)) as silent:
            assert 0.8 < closed_after(silent) < 2.5
        with socket.create_connection(("127.0.0.1", server.port)) as partial:
            partial.sendall(request[:20])
            assert 0.8 < closed_after(partial) < 2.5
        with socket.create_connection(("127.0.0.1", server.port)) as kept:
            kept.settimeout(5)
            for _ in range(3):  # 0.6 s apart: past the timeout since the connection opened
                time.sleep(0.6)
                kept.sendall(request)
                assert _read_response(kept).startswith(b"HTTP/1.1 200")
            kept.sendall(request[:20])  # then a request that stalls in its headers
            time.sleep(0.6)
            kept.sendall(request[20:40])  # still inside its first second: not cut yet
            assert 0.2 < closed_after(kept) < 1.5
        assert httpx.get(f"{server.url}/__admin/health", timeout=2).status_code == 200
    finally:
        server.stop()
