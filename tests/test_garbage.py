"""Requests leave no reference cycles behind: under load, garbage that only the cyclic
collector can free makes it run every few dozen requests, and each run walks them all."""

from __future__ import annotations

import gc
import json
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from mockllm.config import ServerConfig
from mockllm.server import MockServer

RULES = """\
version: 1
rules:
  - name: plain
    match: { last_user: "hello" }
    reply: { content: "Hi there, how can I help?" }
"""
REQUESTS = 200
CONNECTIONS = 50
SERVER_OBJECTS = ("_Protocol", "RequestResponseCycle", "_Connection", "_Stream", "Exchange")


def _request(stream: bool) -> bytes:
    body = json.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hello"}],
            "stream": stream,
        }
    ).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _complete(received: bytes, stream: bool) -> bool:
    if stream:
        return received.endswith(b"0\r\n\r\n")
    head, found, body = received.partition(b"\r\n\r\n")
    if not found:
        return False
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return len(body) >= length


def _exchange(sock: socket.socket, request: bytes, stream: bool) -> bytes:
    sock.sendall(request)
    received = b""
    while not _complete(received, stream):
        piece = sock.recv(65536)
        assert piece, received
        received += piece
    return received


@pytest.fixture
def server(tmp_path: Path):
    scenario = tmp_path / "rules.yaml"
    scenario.write_text(RULES)
    running = MockServer(ServerConfig(port=0, scenarios=(scenario,))).start()
    yield running
    running.stop()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_requests_leave_nothing_for_the_cycle_collector(server, stream):
    """Raw sockets (no client-side garbage) against a server in this process: after
    `REQUESTS` exchanges, a full collection finds (almost) nothing to free."""
    request = _request(stream)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(20):  # caches and first-use objects aside
            _exchange(sock, request, stream)
    _settle(server)
    gc.collect()
    gc.disable()
    try:
        # A connection of its own: on a loaded machine the collection above can outlast
        # the server's keep-alive timeout (5 s; the server shares this process).
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            for _ in range(REQUESTS):
                answer = _exchange(sock, request, stream)
        found = gc.collect()
    finally:
        gc.enable()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b"Hi" in answer and b'"finish_reason":"stop"' in answer
    assert (b"data: [DONE]" in answer) is stream
    assert found < REQUESTS // 4, f"{found} unreachable objects after {REQUESTS} requests"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_closed_connections_leave_no_server_objects_for_the_collector(server, stream):
    """A connection per request, closed by the client: the server's objects for it (its
    protocol, request cycle and connection handle) are freed when it closes, not left in
    a reference cycle. (The event loop's own transport objects are not mockllm's.)"""
    request = _request(stream)
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            _exchange(sock, request, stream)
    _settle(server)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(CONNECTIONS):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                answer = _exchange(sock, request, stream)
        _settle(server)
        gc.collect()
        left = Counter(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    ours = {name: left[name] for name in SERVER_OBJECTS if left[name]}
    assert not ours, f"after {CONNECTIONS} closed connections the collector had to free {ours}"


def _settle(server: MockServer) -> None:
    """Wait until the server has seen every client close (no connection left open)."""
    state = server._server.server_state  # uvicorn's: the protocols of open connections
    deadline = time.monotonic() + 5
    while state.connections and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # the last close's callbacks
