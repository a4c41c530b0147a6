"""The HTTP edges, through the front door: a real `mockllm serve` on a loopback port, driven
with httpx and raw sockets. Bodies nested as deep as orjson allows, hostile admin tokens,
oversized and stalled admin bodies, huge headers, browsers' preflights, compressed bodies
and HTTP/1.0 clients: each answered with a 4xx in the family's shape (or served), never a
500, a traceback or a hang."""

from __future__ import annotations

import gzip
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from reliability.proc import rss_kb
from tests.conftest import SCENARIOS, RunningServer, start_server

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("edges")
    found = start_server("--scenarios", str(SCENARIOS), "--seed", "7", tmp_path=tmp)
    yield found
    found.stop()


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def deep_bodies(depth: int) -> list[str]:
    """Bodies with `depth` levels somewhere: the whole body, a field a family keeps as it
    is (metadata), a tool's parameters."""
    return [
        nested(depth),
        '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"metadata":'
        + nested(depth)
        + "}",
        '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[{"type":'
        '"function","function":{"name":"f","parameters":' + nested(depth) + "}}]}",
    ]


def test_deep_bodies_leave_the_journal_and_inspector_readable(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.delete("/__admin/requests")
        for path in (CHAT, "/v1/messages", "/v1/responses", "/v1/embeddings", "/v1/nothing"):
            for depth in (250, 252, 253, 254, 255):
                for body in deep_bodies(depth):
                    answer = http.post(path, content=body)
                    assert answer.status_code < 500, (path, depth, answer.text[:200])
        listed = http.get("/__admin/requests")
        assert listed.status_code == 200, listed.text[:300]
        entries = listed.json()["requests"]
        assert len(entries) == 5 * 5 * 3
        shown = [e["request"] for e in entries if isinstance(e["request"], dict)]
        # Too deep for the views: kept as a note with the body's text.
        assert any(r.get("truncated") and r["text"].startswith('{"a":') for r in shown)
        for entry in entries:
            for view in (
                f"/__admin/requests/{entry['id']}",
                f"/__admin/requests/{entry['id']}/rule",
            ):
                got = http.get(view)
                assert got.status_code < 500, (view, got.text[:200])
        assert http.get("/__admin/state").status_code == 200
        with http.stream("GET", "/__admin/feed") as feed:
            assert feed.status_code == 200
            seen = b""
            for chunk in feed.iter_bytes():
                seen += chunk
                if b"event: snapshot" in seen and seen.endswith(b"\n\n"):
                    break
        assert b"event: snapshot" in seen and b"/v1/nothing" in seen
    log = server.log()
    assert "Traceback" not in log and "Recursion limit" not in log, log[-2000:]


def test_the_page_token_is_kept_only_when_checked_and_any_text_works(serve: Any) -> None:
    token = 't€st;ökay "x"'
    guarded = serve("--admin-token", token)
    with httpx.Client(base_url=guarded.url, timeout=10) as http:
        wrong = http.get("/__admin/ui", params={"token": "€"})
        assert wrong.status_code == 401, wrong.text
        opened = http.get("/__admin/ui", params={"token": token})
        assert opened.status_code == 303 and opened.headers["location"] == "/__admin/ui"
        assert "mockllm_admin=" in opened.headers["set-cookie"]
        # The cookie the browser now holds opens the page and the admin API.
        assert http.get("/__admin/ui").status_code == 200
        assert http.get("/__admin/requests").status_code == 200
    # A token in the address wins over a stale cookie (a server started with a new one).
    with httpx.Client(base_url=guarded.url, timeout=10, cookies={"mockllm_admin": "old"}) as http:
        assert http.get("/__admin/ui").status_code == 401
        assert http.get("/__admin/ui", params={"token": token}).status_code == 303
    open_server = serve()
    with httpx.Client(base_url=open_server.url, timeout=10) as http:
        for value in ("€", "anything"):
            moved = http.get("/__admin/ui", params={"token": value})
            assert moved.status_code == 303, moved.text
            assert "set-cookie" not in moved.headers  # nothing checked: nothing kept
    for server in (guarded, open_server):
        assert "Traceback" not in server.log(), server.log()[-2000:]


def exchange(port: int, data: bytes, *, leave_after: float | None = None) -> tuple[float, bytes]:
    """Send raw bytes; read until the server closes (10 s at most). Returns the seconds it
    took and what came back ('<open>' appended when the server kept the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(data)
        if leave_after is not None:
            time.sleep(leave_after)
            return time.monotonic() - started, b""
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            received += b"<open>"
        return time.monotonic() - started, received


def test_the_admin_api_keeps_the_body_limit_and_timeout(serve: Any) -> None:
    server = serve("--body-timeout-s", "1", "--max-body-bytes", "2000")
    head = "POST /__admin/rules HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n"
    # Refused from its Content-Length, before a byte of it is read, and the connection closed.
    took, answer = exchange(server.port, head.format(400_000_000).encode() + b"version: 1")
    assert answer.startswith(b"HTTP/1.1 413") and took < 1.0, (took, answer[:300])
    assert b"connection: close" in answer and b'"code":"request_too_large"' in answer
    # Refused for its host before its body is read: closed at once too, not left waiting for
    # the rest of the body until the keep-alive timeout.
    elsewhere = head.replace("Host: 127.0.0.1", "Host: rebound.example").format(400_000_000)
    took, answer = exchange(server.port, elsewhere.encode() + b"version: 1")
    assert answer.startswith(b"HTTP/1.1 403") and took < 1.0, (took, answer[:300])
    assert b"connection: close" in answer and b'"code":"admin_remote_refused"' in answer
    # --max-body-bytes holds for the admin API too.
    rules = httpx.post(f"{server.url}/__admin/rules", content=b"#" * 3000, timeout=10)
    assert rules.status_code == 413, rules.text
    # A body that stops arriving: 408 after --body-timeout-s, and the connection closed.
    for path in ("/__admin/rules", "/__admin/cassette", CHAT):
        method = "PUT" if path.endswith("cassette") else "POST"
        request = head.replace("POST /__admin/rules", f"{method} {path}").format(100)
        took, answer = exchange(server.port, request.encode() + b'{"na')
        assert answer.startswith(b"HTTP/1.1 408"), (path, answer[:300])
        assert b"connection: close" in answer and not answer.endswith(b"<open>"), answer
        assert 0.8 < took < 3.0, (path, took)
    # A client that leaves in the middle of its body: nothing logged as a failure.
    for start in ("POST /__admin/rules", "PUT /__admin/cassette"):
        request = head.replace("POST /__admin/rules", start).format(100)
        exchange(server.port, request.encode() + b"version", leave_after=0.3)
    assert httpx.get(f"{server.url}/__admin/health", timeout=5).status_code == 200
    time.sleep(0.3)
    log = server.log()
    assert "Traceback" not in log and "ClientDisconnect" not in log, log[-3000:]


def test_huge_headers_are_neither_memoised_nor_kept_whole(serve: Any) -> None:
    server = serve()  # no rules: the default generator answers
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post(CHAT, json=body)  # warmed up
        before = rss_kb(server.proc.pid)
        for i in range(20):  # each a distinct 8 MiB header
            answer = http.post(CHAT, json=body, headers={"x-big": "ab"[i % 2] * (8 << 20) + str(i)})
            assert answer.status_code == 200, answer.text[:200]
        grown = (rss_kb(server.proc.pid) - before) // 1024
        assert grown < 100, f"RSS grew by {grown} MiB for 20 requests with 8 MiB headers"
        exchange_id = answer.headers["x-request-id"]
        one = http.get(f"/__admin/requests/{exchange_id}")
        assert one.status_code == 200 and len(one.content) < 64 * 1024, len(one.content)
        shown = dict(one.json()["request"]["headers"])["x-big"]
        assert shown.startswith("b" * 1024) and shown.endswith("(8388610 characters in all)")


# --- browsers of other origins (CORS) ------------------------------------------------------

ORIGIN = "https://app.example"
ANTHROPIC = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}
MESSAGE = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "Hello!"}],
}


def test_preflights_on_the_api_paths_are_answered_and_the_admin_api_stays_same_origin(
    server: RunningServer,
) -> None:
    asked = "authorization,content-type,x-stainless-os,anthropic-version,x-api-key"
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.delete("/__admin/requests")
        for path in (CHAT, "/v1/messages", "/v1/responses", "/v1/embeddings", "/v1/models"):
            method = "GET" if path == "/v1/models" else "POST"
            answer = http.options(
                path,
                headers={
                    "origin": ORIGIN,
                    "access-control-request-method": method,
                    "access-control-request-headers": asked,
                },
            )
            assert answer.status_code == 200, (path, answer.text)
            assert answer.headers["access-control-allow-origin"] == "*"
            assert answer.headers["access-control-allow-methods"] == method
            assert answer.headers["access-control-allow-headers"] == asked
            assert answer.headers["access-control-max-age"] == "86400"
        admin = http.options(
            "/__admin/requests",
            headers={"origin": ORIGIN, "access-control-request-method": "GET"},
        )
        assert admin.status_code == 405 and "access-control-allow-origin" not in admin.headers
        # An OPTIONS request that is not a preflight is refused as before.
        assert http.options(CHAT).status_code == 405
        assert len(http.get("/__admin/requests").json()["requests"]) == 1  # the last one


def test_a_browsers_requests_carry_the_cors_headers_the_api_sends(server: RunningServer) -> None:
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        plain = http.post(CHAT, json=chat)
        assert "access-control-allow-origin" not in plain.headers  # not a browser: unchanged
        for body in (chat, {**chat, "stream": True}):
            answer = http.post(CHAT, json=body, headers={"origin": ORIGIN})
            assert answer.status_code == 200, answer.text
            assert answer.headers["access-control-allow-origin"] == "*"
            # As the API exposes it: the request id, for a page to read.
            assert answer.headers["access-control-expose-headers"] == "X-Request-ID"
        models = http.get("/v1/models", headers={"origin": ORIGIN})
        assert models.headers["access-control-allow-origin"] == "*"
        # The Messages API refuses a browser that has not opted in, as the real API does.
        refused = http.post("/v1/messages", json=MESSAGE, headers={**ANTHROPIC, "origin": ORIGIN})
        assert refused.status_code == 401 and "access-control-allow-origin" not in refused.headers
        error = refused.json()["error"]
        assert error == {
            "type": "authentication_error",
            "message": "CORS requests must set 'anthropic-dangerous-direct-browser-access' header",
        }
        opted = {**ANTHROPIC, "origin": ORIGIN, "anthropic-dangerous-direct-browser-access": "true"}
        answer = http.post("/v1/messages", json=MESSAGE, headers=opted)
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.headers["access-control-expose-headers"] == "*"


def test_a_page_of_another_origin_calls_the_api_from_chromium(server: RunningServer) -> None:
    """What a browser app does with openai-node or the Anthropic SDK: a fetch with their
    custom headers (so a preflight first), a streamed answer read to its end."""
    from tests.e2e.browser import chromium

    script = """async ([base, anthropic]) => {
        const headers = {'content-type': 'application/json', 'authorization': 'Bearer sk-test',
                         'x-stainless-os': 'Linux', 'x-stainless-lang': 'js'};
        const chat = await fetch(base + '/v1/chat/completions', {method: 'POST', headers,
            body: JSON.stringify({model: 'gpt-4o-mini', stream: true,
                                  messages: [{role: 'user', content: 'Hello!'}]})});
        const events = await chat.text();
        const opted = {...anthropic, 'content-type': 'application/json',
                       'anthropic-dangerous-direct-browser-access': 'true'};
        const message = await fetch(base + '/v1/messages', {method: 'POST', headers: opted,
            body: JSON.stringify({model: 'claude-sonnet-4-5', max_tokens: 20,
                                  messages: [{role: 'user', content: 'Hello!'}]})});
        return [chat.status, events.endsWith('data: [DONE]\\n\\n'), message.status,
                message.headers.get('request-id') !== null];
    }"""
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        # The page's origin is http://localhost:PORT; the API is at http://127.0.0.1:PORT.
        page.goto(f"http://localhost:{server.port}/v1/models")
        result = page.evaluate(script, [server.url, ANTHROPIC])
        context.close()
    assert result == [200, True, 200, True]


# --- compressed request bodies ---------------------------------------------------------------


def test_gzip_and_deflate_bodies_are_decoded_within_the_body_limit(server: RunningServer) -> None:
    chat = orjson.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}
    )
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    encoded = {
        "gzip": gzip.compress(chat),
        "deflate": zlib.compress(chat),
        "deflate, identity": raw_deflate.compress(chat) + raw_deflate.flush(),
    }
    with httpx.Client(base_url=server.url, timeout=10) as http:
        plain = http.post(CHAT, content=chat).json()["choices"]
        for encoding, body in encoded.items():
            answer = http.post(CHAT, content=body, headers={"content-encoding": encoding})
            assert answer.status_code == 200, (encoding, answer.text)
            assert answer.json()["choices"] == plain
        message = orjson.dumps(MESSAGE)
        answer = http.post(
            "/v1/messages",
            content=gzip.compress(message),
            headers={**ANTHROPIC, "content-encoding": "gzip"},
        )
        assert answer.status_code == 200 and answer.json()["type"] == "message", answer.text
        # A zip bomb (20 MB of zeros in 20 KB) is a body over --max-body-bytes once decoded.
        bomb = gzip.compress(bytes(20_000_000))
        for path, headers in ((CHAT, {}), ("/v1/messages", ANTHROPIC)):
            refused = http.post(path, content=bomb, headers={**headers, "content-encoding": "gzip"})
            assert refused.status_code == 413, refused.text
            assert "once decoded" in refused.text
        broken = http.post(
            CHAT, content=b"\x1f\x8b\x08\x00junk", headers={"content-encoding": "gzip"}
        )
        assert broken.status_code == 400
        assert broken.json()["error"]["code"] == "invalid_body_encoding"
        other = http.post(
            "/v1/messages", content=chat, headers={**ANTHROPIC, "content-encoding": "br"}
        )
        # The Messages API's own code, as its SDK's error classes name it (400, not 415).
        assert other.status_code == 400 and other.json()["type"] == "error", other.text
        assert other.json()["error"]["details"] == {
            "error_code": "request_body_encoding_unsupported"
        }
        assert "'br'" in other.json()["error"]["message"]
        rules = http.post(
            "/__admin/rules",
            content=gzip.compress(b"version: 1\nrules: []\n"),
            headers={"content-type": "application/yaml", "content-encoding": "gzip"},
        )
        assert rules.status_code == 201, rules.text
    assert "Traceback" not in server.log()


def test_http_1_0_clients_get_streams_ended_by_the_close_not_chunked(server: RunningServer) -> None:
    for stream in (True, False):
        body = orjson.dumps(
            {
                "model": "gpt-4o-mini",
                "stream": stream,
                "messages": [{"role": "user", "content": "Hi"}],
            }
        )
        request = (
            b"POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
        )
        _, answer = exchange(server.port, request)
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and not answer.endswith(b"<open>"), answer[:300]
        assert b"transfer-encoding" not in head.lower(), head
        if stream:  # the body is the events themselves, ended by the close
            assert payload.startswith(b"data: {") and payload.endswith(b"data: [DONE]\n\n")
        else:
            assert int(
                dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])[b"content-length"]
            ) == len(payload)


def test_the_openai_api_reads_carry_its_headers(server: RunningServer) -> None:
    """GET/DELETE answers of the OpenAI API paths carry the headers its POST answers carry
    (`openai-processing-ms`, `openai-version`, `x-request-id`); Anthropic's and the admin
    API's do not."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        made = http.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi"}).json()
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        stored = http.post(CHAT, json={**chat, "store": True}).json()
        talk = http.post("/v1/conversations", json={}).json()
        reads = [
            http.get("/v1/models"),
            http.get("/v1/models/gpt-4o-mini"),
            http.get(f"/v1/responses/{made['id']}"),
            http.get(f"/v1/responses/{made['id']}/input_items"),
            http.get(f"/v1/chat/completions/{stored['id']}"),
            http.get(f"/v1/conversations/{talk['id']}"),
            http.get("/v1/responses/resp_missing"),
            http.delete(f"/v1/conversations/{talk['id']}"),
        ]
        for answer in reads:
            where = f"{answer.request.method} {answer.request.url.path}"
            assert answer.headers.get("openai-processing-ms") == "0", where
            assert answer.headers.get("openai-version") == "2020-10-01", where
            assert answer.headers["x-request-id"].startswith("req_"), where
        assert reads[-2].status_code == 404
        anthropic = http.get("/v1/models", headers={"anthropic-version": "2023-06-01"})
        admin = http.get("/__admin/health")
        for answer in (anthropic, admin):
            assert "openai-version" not in answer.headers
            assert "openai-processing-ms" not in answer.headers
