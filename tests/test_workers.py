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
