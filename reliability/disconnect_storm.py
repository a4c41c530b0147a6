"""Disconnect storm: 10,000 clients leave at random points; memory and descriptors after.

    .venv/bin/python -m reliability.disconnect_storm [--clients 10000] [--concurrency 300]

Clients leave before their headers are complete, before the answer, after the response
headers, mid-stream or during a fault (drip, disconnect, hang, malformed chunk, in-band
error), with a FIN or a RST. Then the server must answer a normal stream in full, its
health check must be fast, its open descriptors back to the start and its resident
memory within 10 MB of where a first, unmeasured storm of the same size left it. Also measured: how long a body that stops
arriving waits for its 408 (the fixed 30 s), and whether idle connections that never
send a request are closed. Prints JSON; exit status 1 on a failure. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from reliability.proc import cap_memory, fd_count, free_port, raw_request, rss_kb, settle

WORDS = " ".join(f"w{i}" for i in range(60))
SCENARIO = f"""\
version: 1
rules:
  - {{ name: paced, match: {{ model: paced }},
       reply: {{ content: "{WORDS}", latency: {{ ttft_ms: 20, inter_token_ms: 5 }} }} }}
  - {{ name: drip, match: {{ model: drip }},
       reply: {{ content: "{WORDS}", fault: {{ drip_bytes_per_s: 2000 }} }} }}
  - {{ name: cut, match: {{ model: cut }},
       reply: {{ content: "{WORDS}", latency: {{ inter_token_ms: 5 }},
                fault: {{ disconnect_after_tokens: 10 }} }} }}
  - {{ name: hang, match: {{ model: hang }}, reply: {{ content: x, fault: {{ hang: true }} }} }}
  - {{ name: malformed, match: {{ model: malformed }},
       reply: {{ content: "{WORDS}", latency: {{ inter_token_ms: 2 }},
                fault: {{ malformed_chunk_at: 3 }} }} }}
  - {{ name: in-band, match: {{ model: in-band }},
       reply: {{ content: "{WORDS}", latency: {{ inter_token_ms: 2 }},
                fault: {{ error_after_tokens: 5, error: {{ status: 503 }} }} }} }}
"""
MODELS = ["paced", "drip", "cut", "hang", "malformed", "in-band"]
POINTS = ["headers", "before-answer", "after-headers", "mid-stream", "late"]


def chat_bytes(model: str) -> bytes:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    return raw_request("/v1/chat/completions", json.dumps(body).encode())


async def one_client(port: int, rng: random.Random) -> str:
    model, where, reset = rng.choice(MODELS), rng.choice(POINTS), rng.random() < 0.5
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
        pass  # a fault closed first: a departure all the same
    finally:
        sock = writer.get_extra_info("socket")
        if reset and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return where


async def storm(port: int, total: int, concurrency: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    gate = asyncio.Semaphore(concurrency)
    seen: dict[str, int] = {}

    async def run() -> None:
        async with gate:
            where = await one_client(port, random.Random(rng.random()))
            seen[where] = seen.get(where, 0) + 1

    await asyncio.gather(*(run() for _ in range(total)))
    return seen


def full_stream(url: str) -> bool:
    body = {"model": "paced", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10)
    return response.status_code == 200 and response.text.rstrip().endswith("data: [DONE]")


def body_timeout(port: int) -> float:
    """Seconds until a body that stops arriving is answered (408 expected)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            "\r\nContent-Length: 1000\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"model": ')
        started = time.monotonic()
        reply = sock.recv(4096)
    if not reply.startswith(b"HTTP/1.1 408"):
        raise RuntimeError(f"expected a 408, got {reply[:100]!r}")
    return round(time.monotonic() - started, 2)


def idle_connections(port: int, pid: int, count: int, wait_s: float) -> dict[str, int]:
    """Open connections that send nothing (or half a request line); how many the server holds."""
    before = fd_count(pid)
    socks = []
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        socks.append(sock)
    time.sleep(0.5)
    opened = fd_count(pid) - before
    time.sleep(wait_s)
    held = fd_count(pid) - before
    for sock in socks:
        sock.close()
    return {"opened": count, "held_at_start": opened, f"held_after_{int(wait_s)}s": held}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=40.0,
        help="seconds to watch connections that never send a request",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mockllm-storm-"))
    (tmp / "storm.yaml").write_text(SCENARIO)
    port = free_port()
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockllm",
            "serve",
            "--port",
            str(port),
            "--scenarios",
            str(tmp / "storm.yaml"),
            "--hang-max-s",
            "3",
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    cap_memory(proc.pid)
    url = f"http://127.0.0.1:{port}"
    figures: dict[str, object] = {}
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/__admin/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("mockllm did not start") from None
                time.sleep(0.1)
        # Warm-up: a first storm of the same size and shape, so that the allocator's
        # high-water mark is reached; growth across the measured storm is then what it
        # leaks (the first storm's own growth is reported too).
        rss_start = rss_kb(proc.pid)
        asyncio.run(storm(port, args.clients, args.concurrency, seed=1))
        settle(proc.pid, 0, timeout=5)
        rss_before, fds_before = rss_kb(proc.pid), fd_count(proc.pid)
        started = time.monotonic()
        seen = asyncio.run(storm(port, args.clients, args.concurrency, seed=7))
        storm_s = time.monotonic() - started
        fds_after = settle(proc.pid, fds_before, timeout=10)
        health_started = time.perf_counter()
        healthy = httpx.get(f"{url}/__admin/health", timeout=5).status_code == 200
        health_ms = (time.perf_counter() - health_started) * 1000
        complete = full_stream(url)
        rss_after = rss_kb(proc.pid)
        figures.update(
            clients=args.clients,
            departures=seen,
            storm_seconds=round(storm_s, 1),
            rss_kb_start=rss_start,
            rss_kb_before=rss_before,
            rss_kb_after=rss_after,
            rss_growth_kb=rss_after - rss_before,
            fds_before=fds_before,
            fds_after=fds_after,
            health_ms=round(health_ms, 1),
            full_stream_after=complete,
        )
        print(json.dumps(figures), file=sys.stderr, flush=True)
        figures["body_timeout_s"] = body_timeout(port)
        figures["idle_connections"] = idle_connections(port, proc.pid, 100, args.idle_wait)
        figures["tracebacks_in_log"] = (
            (tmp / "server.log").read_text(errors="replace").count("Traceback")
        )
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
    figures["server_exit"] = proc.returncode
    ok = (
        healthy
        and complete
        and fds_after <= fds_before
        and health_ms < 200
        and rss_after - rss_before < 10 * 1024
        and figures["tracebacks_in_log"] == 0
        and proc.returncode == 0
    )
    figures["passed"] = ok
    print(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
