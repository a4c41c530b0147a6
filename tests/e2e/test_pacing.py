"""Pacing: time to first token and gaps between deltas are held; leaving mid-stream is harmless."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from .helpers import journal, make_chat_request, post_chat, stream_chunks, write_scenario

CHUNKS = ["alpha", " beta", " gamma", " delta", " epsilon", " zeta"]
RULES = """\
version: 1
rules:
  - name: paced
    match:
      last_user: "pace me"
    reply:
      chunks: ["alpha", " beta", " gamma", " delta", " epsilon", " zeta"]
      latency: { ttft_ms: 200, inter_token_ms: 50 }
  - name: slow
    match:
      last_user: "slow stream"
    reply:
      chunks: ["one", " two", " three", " four", " five", " six", " seven", " eight"]
      latency: { ttft_ms: 50, inter_token_ms: 150 }
"""
TTFT_S = 0.200
GAP_S = 0.050


@pytest.fixture
def paced_server(serve, tmp_path):
    return serve("--scenarios", str(write_scenario(tmp_path, RULES)))


def timed_stream(base_url: str, body: dict) -> tuple[list[tuple[float, str]], float]:
    """Stream a request; return (seconds since sending, content delta) pairs and the total time."""
    arrivals: list[tuple[float, str]] = []
    buffer = b""
    with httpx.Client(timeout=10) as client:
        started = time.monotonic()
        with client.stream(
            "POST", f"{base_url}/chat/completions", json={**body, "stream": True}
        ) as response:
            assert response.status_code == 200
            for piece in response.iter_raw():
                now = time.monotonic() - started
                buffer += piece
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    payload = event[len(b"data: ") :]
                    if payload == b"[DONE]":
                        continue
                    for choice in json.loads(payload)["choices"]:
                        if choice["delta"].get("content"):
                            arrivals.append((now, choice["delta"]["content"]))
        total = time.monotonic() - started
    return arrivals, total


def test_stream_pace(paced_server):
    post_chat(paced_server.base_url, make_chat_request("warm up"))  # first-request costs aside
    arrivals, total = timed_stream(paced_server.base_url, make_chat_request("pace me"))

    assert [text for _, text in arrivals] == CHUNKS
    first = arrivals[0][0]
    assert first >= TTFT_S - 0.010, f"first content delta after {first * 1000:.0f} ms"
    nominal = TTFT_S + (len(CHUNKS) - 1) * GAP_S  # 450 ms
    assert nominal - 0.020 <= total <= 0.800, f"stream took {total * 1000:.0f} ms"
    spread = arrivals[-1][0] - arrivals[0][0]
    assert spread >= (len(CHUNKS) - 1) * GAP_S * 0.8, f"deltas spread over {spread * 1000:.0f} ms"


def test_non_stream_waits_the_total_time(paced_server):
    post_chat(paced_server.base_url, make_chat_request("warm up"))
    started = time.monotonic()
    response = post_chat(paced_server.base_url, make_chat_request("pace me"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "".join(CHUNKS)
    assert 0.430 <= elapsed <= 0.800, f"answer took {elapsed * 1000:.0f} ms"


def test_non_stream_head_leaves_with_the_body(paced_server):
    """The API knows a whole answer's headers only when the answer is done: nothing, not
    even the status line, arrives before the total time has passed, then all of it."""
    post_chat(paced_server.base_url, make_chat_request("warm up"))
    body = json.dumps(make_chat_request("pace me")).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", paced_server.port), timeout=5) as sock:
        sock.sendall(head + body)
        sent = time.monotonic()
        received = sock.recv(65536)
        first = time.monotonic() - sent
        received = _read_until(sock, b'"finish_reason"', received)
        last = time.monotonic() - sent
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    nominal = TTFT_S + (len(CHUNKS) - 1) * GAP_S
    assert first >= nominal - 0.020, f"first byte after {first * 1000:.0f} ms"
    assert last - first < 0.050, f"body {(last - first) * 1000:.0f} ms after the head"


def test_client_leaving_mid_stream(paced_server):
    with httpx.Client(timeout=10) as client:
        with client.stream(
            "POST",
            f"{paced_server.base_url}/chat/completions",
            json=make_chat_request("slow stream", stream=True),
        ) as response:
            assert response.status_code == 200
            seen = b""
            for piece in response.iter_raw():
                seen += piece
                if b'"content":"one"' in seen:
                    break  # leave after the first content delta; the rest is due over ~1 s
    time.sleep(0.3)

    assert paced_server.proc.poll() is None, paced_server.log()
    _, _, chunks = stream_chunks(paced_server.base_url, make_chat_request("pace me"))
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    ok = post_chat(paced_server.base_url, make_chat_request("pace me"))
    assert ok.status_code == 200

    time.sleep(1.2)  # past the abandoned stream's last deadline
    assert paced_server.proc.poll() is None
    assert post_chat(paced_server.base_url, make_chat_request("pace me")).status_code == 200
    entries = journal(paced_server.url)
    assert any(e["rule"] and e["rule"].endswith("#slow") for e in entries), entries
    assert "Traceback" not in paced_server.log(), paced_server.log()


def test_time_to_first_token_counts_from_the_end_of_the_request(paced_server):
    """A body sent slowly: the first token comes TTFT after its last byte, not its first."""
    body = json.dumps(make_chat_request("pace me") | {"stream": True}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", paced_server.port), timeout=5) as sock:
        sock.sendall(head + body[:10])
        time.sleep(0.3)  # longer than the TTFT
        sock.sendall(body[10:])
        sent = time.monotonic()
        received = _read_until(sock, b'"content":"alpha"')
        first = time.monotonic() - sent
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    assert first >= TTFT_S - 0.010, f"first token {first * 1000:.0f} ms after the last byte"


def _read_until(sock: socket.socket, marker: bytes, received: bytes = b"") -> bytes:
    while marker not in received:
        piece = sock.recv(65536)
        assert piece, received
        received += piece
    return received
