"""`serve --workers N`: N processes answer on one port, the same request gets the same bytes
from any of them, and SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from openai import OpenAI
from openai.types.chat import ChatCompletion

WORKERS = 2


def children(pid: int) -> list[int]:
    """Worker processes of the server (its children that run the app, not helpers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue  # gone while we looked
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found


def wait_for(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_workers_share_the_port_and_answer_alike(serve: Any) -> None:
    server = serve(
        "--workers",
        str(WORKERS),
        "--seed",
        "7",
        "--freeze-time",
        "1700000000",
    )
    assert wait_for(lambda: len(children(server.proc.pid)) == WORKERS), server.log()
    workers = children(server.proc.pid)
    assert "2 workers without --state: each process keeps its own state" in server.log()

    # No rule: generated text, seeded by the request, so every worker writes the same.
    # A new connection per request, so the kernel spreads them over the workers.
    bodies = set()
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as http:
        client = OpenAI(base_url=server.base_url, api_key="sk-test", http_client=http)
        for _ in range(20):
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Write a haiku."}]
            )
            completion = raw.parse()
            assert isinstance(completion, ChatCompletion)
            assert completion.choices[0].message.content
            bodies.add(raw.http_response.content)
    assert len(bodies) == 1, "the same request got different bytes from different workers"

    # Each worker answers the admin API for itself; all of them are healthy.
    for _ in range(10):
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as http:
            assert http.get(f"{server.url}/__admin/health").status_code == 200

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0, server.log()
    assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10)


def test_workers_apply_the_same_uvicorn_settings_as_one_process(serve: Any) -> None:
    """`--body-timeout-s` reaches every worker's protocol: a silent connection is closed
    about a second after it opens, whichever worker accepted it (not after uvicorn's 30 s)."""
    import socket

    server = serve("--workers", str(WORKERS), "--body-timeout-s", "1")
    assert wait_for(lambda: len(children(server.proc.pid)) == WORKERS), server.log()
    for _ in range(4):  # new connections: the kernel spreads them over the workers
        with socket.create_connection(("127.0.0.1", server.port)) as silent:
            silent.settimeout(10)
            started = time.monotonic()
            while silent.recv(65536):
                pass
            assert 0.8 < time.monotonic() - started < 3.0
    health = httpx.get(f"{server.url}/__admin/health", timeout=5)
    assert health.json()["status"] == "ok"


def test_workers_on_port_0_name_the_port_they_serve_on(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "mockllm", "serve", "--workers", str(WORKERS), "--port", "0"],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        found = None
        for _ in range(10):  # the banner comes first, after a warning or two
            line = proc.stderr.readline()
            found = re.search(r"serving \d+ rules on http://127\.0\.0\.1:(\d+)/v1", line)
            if found is not None:
                break
        assert found is not None, line
        port = int(found.group(1))
        assert port != 0
        assert wait_for(lambda: _healthy(port)), "no answer on the port the banner named"
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stderr is not None:
            proc.stderr.close()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/__admin/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_stop_refuses_new_connections_at_once_and_lets_streams_finish(
    serve: Any, tmp_path: Path
) -> None:
    """SIGTERM to the supervising process: the port closes at once (a client trying to
    connect meanwhile is refused, not left waiting out the grace period), and a stream under
    way in a worker still ends whole."""
    import threading

    rules = tmp_path / "slow.yaml"
    rules.write_text(
        "rules:\n  - match: {model: slow}\n    reply:\n      chunks: [a, b, c, d]\n"
        "      latency: {ttft_ms: 100, inter_token_ms: 1000}\n"
    )
    server = serve("--workers", str(WORKERS), "--scenarios", str(rules))
    assert wait_for(lambda: len(children(server.proc.pid)) == WORKERS), server.log()
    streamed: list[str] = []

    def stream() -> None:
        client = OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        for chunk in client.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                streamed.append(chunk.choices[0].delta.content)

    reader = threading.Thread(target=stream)
    reader.start()
    assert wait_for(lambda: bool(streamed), 10)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.8)  # the supervisor looks at its signals twice a second
    started = time.monotonic()
    try:
        httpx.get(f"{server.url}/__admin/health", timeout=10)
        raise AssertionError("a connection made during the stop was answered")
    except httpx.ConnectError:
        pass  # refused at once, as one process refuses it
    assert time.monotonic() - started < 1.0, "a connection made during the stop waited"
    reader.join(10)
    assert streamed == ["a", "b", "c", "d"]
    assert server.proc.wait(15) == 0, server.log()
