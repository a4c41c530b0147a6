"""The server: the start-up banner and health say what is served; the app also runs under
plain uvicorn (without mockllm's protocol class); --workers gets the same uvicorn settings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from openai import OpenAI

from mockllm import __version__
from mockllm.app import create_app
from mockllm.config import ServerConfig
from mockllm.loader import load_text
from mockllm.server import SHUTDOWN_GRACE_S, _Protocol, uvicorn_settings
from tests.conftest import start_server

from .e2e.helpers import sse_payloads

BANNER = re.compile(
    r"INFO mockllm: mockllm (\S+) serving (\d+) rules on http://127\.0\.0\.1:(\d+)/v1"
)


def _banner(proc: subprocess.Popen[str], lines: int = 3) -> list[str]:
    """The first `lines` lines the server logs as itself (mockllm:), read as they come."""
    found: list[str] = []
    deadline = time.monotonic() + 20
    assert proc.stderr is not None
    while len(found) < lines and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if " INFO mockllm: " in line:
            found.append(line.rstrip("\n"))
    return found


def test_the_banner_and_health_name_the_real_port_profile_keys_and_cassettes(
    tmp_path: Path,
) -> None:
    (tmp_path / "keys.yaml").write_text("keys:\n  - key: ak_1\n  - key: ak_2\n    credits: 1\n")
    (tmp_path / "rules.yaml").write_text("rules:\n  - reply: {content: x}\n")
    (tmp_path / "cassettes").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockllm", "serve", "--port", "0", "--profile", "ainative",
         "--keys", "keys.yaml", "--scenarios", "rules.yaml", "--cassettes", "cassettes"],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        lines = _banner(proc)
        assert len(lines) == 3, lines
        first = BANNER.search(lines[0])
        assert first is not None, lines[0]
        version, rules, port = first.group(1), int(first.group(2)), int(first.group(3))
        assert (version, rules) == (__version__, 1) and port != 0
        assert lines[1].endswith(
            "INFO mockllm: profile ainative: chat at /v1/public/chat/completions, "
            "/v1/chat/completions; 2 keys from keys.yaml"
        )
        assert lines[2].endswith("INFO mockllm: cassettes: cassettes; record mode none")
        assert "ak_1" not in "".join(lines) and "ak_2" not in "".join(lines)
        health = _get_health(port)
        assert health == {
            "status": "ok",
            "version": __version__,
            "rules": 1,
            "profile": "ainative",
            "chat_paths": ["/v1/public/chat/completions", "/v1/chat/completions"],
            "keys": 2,
            "cassettes": {
                "folder": "cassettes",
                "files": 0,
                "interactions": 0,
                "skipped": 0,
                "unreadable": [],
            },
            "record_mode": "none",
        }
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_the_banner_of_an_open_server_says_any_key_is_accepted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockllm", "serve", "--port", "0"],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        lines = _banner(proc)
        assert lines[1].endswith(
            "INFO mockllm: profile openai: chat at /v1/chat/completions; "
            "no keys file: any key is accepted"
        ), lines
        port = int(BANNER.search(lines[0]).group(3))  # type: ignore[union-attr]
        health = _get_health(port)
        assert (health["keys"], health["cassettes"], health["profile"]) == (None, None, "openai")
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def _get_health(port: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/__admin/health", timeout=2)
            if response.status_code == 200:
                return response.json()  # type: ignore[no-any-return]
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def test_a_port_in_use_is_a_startup_failure(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "mockllm", "serve", "--port", str(port)],
            cwd=tmp_path, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "mockllm: cannot start: [Errno 98] Address already in use" in result.stderr


# --- plain uvicorn ------------------------------------------------------------------------

SCENARIO = """
rules:
  - name: paced
    match: { last_user: paced }
    reply: { content: "one two three four", latency: { ttft_ms: 50, inter_token_ms: 40 } }
  - name: cut
    match: { last_user: cut }
    reply: { content: "one two three four", fault: { disconnect_after_tokens: 2 } }
  - name: long
    match: { last_user: long }
    reply: { content: "word word word word word", latency: { ttft_ms: 10, inter_token_ms: 300 } }
  - name: failing
    match: { last_user: failing }
    reply: { error: { status: 503 } }
"""


@pytest.fixture(params=["httptools", "h11"])
def plain(request: pytest.FixtureRequest) -> Iterator[str]:
    """The app under uvicorn's own protocol (no mockllm protocol class), in a thread."""
    app = create_app(ServerConfig(port=0, freeze_time=1_700_000_000), load_text(SCENARIO))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=request.param, ws="none", lifespan="on", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _chat(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **fields}


def test_the_app_answers_under_plain_uvicorn(plain: str) -> None:
    client = OpenAI(base_url=f"{plain}/v1", api_key="sk-test", max_retries=0)
    whole = client.chat.completions.create(**_chat("paced"))
    assert whole.choices[0].message.content == "one two three four"
    started = time.monotonic()
    arrivals = []
    text = ""
    for chunk in client.chat.completions.create(**_chat("paced"), stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
            text += chunk.choices[0].delta.content
    assert text == "one two three four"
    # Paced to absolute deadlines: 50 ms, then 40 ms apart (loose bounds: a shared machine).
    assert arrivals[0] >= 0.04 and arrivals[-1] >= 0.05 + 3 * 0.04 - 0.01, arrivals
    error = httpx.post(f"{plain}/v1/chat/completions", json=_chat("failing"), timeout=5)
    assert error.status_code == 503 and error.json()["error"]["type"] == "server_error"
    assert httpx.get(f"{plain}/v1/models", timeout=5).json()["object"] == "list"
    assert httpx.get(f"{plain}/__admin/health", timeout=5).json()["status"] == "ok"
    client.close()


def test_a_cut_stream_and_a_departed_client_under_plain_uvicorn(plain: str) -> None:
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):  # the connection is cut mid-body
        with httpx.stream(
            "POST", f"{plain}/v1/chat/completions", json=_chat("cut", stream=True), timeout=5
        ) as cut:
            for part in cut.iter_raw():
                received += part
    payloads = sse_payloads(received)
    assert "[DONE]" not in payloads
    deltas = [json.loads(p)["choices"][0]["delta"].get("content") for p in payloads]
    assert [d for d in deltas if d] == ["one", " two"]  # cut after two deltas
    with httpx.stream(
        "POST", f"{plain}/v1/chat/completions", json=_chat("long", stream=True), timeout=5
    ) as response:
        for line in response.iter_lines():
            if '"content":"word"' in line:
                break  # leave while the stream has more than a second to go
    deadline = time.monotonic() + 5
    entry: dict[str, Any] = {}
    while time.monotonic() < deadline:
        journal = httpx.get(f"{plain}/__admin/requests", timeout=5).json()["requests"]
        found = [e for e in journal if e["rule"].endswith("#long") and e.get("error")]
        if found:
            entry = found[-1]
            break
        time.sleep(0.05)
    assert entry.get("error") == "client disconnected", entry


# --- one place builds uvicorn's settings --------------------------------------------------


def test_one_function_builds_the_uvicorn_settings_of_every_path() -> None:
    settings = uvicorn_settings(ServerConfig(host="127.0.0.2", port=9, body_timeout_s=2.5))
    assert settings["http"] is _Protocol and _Protocol.header_timeout_s == 2.5
    assert (settings["host"], settings["port"]) == ("127.0.0.2", 9)
    assert settings["server_header"] is False and settings["proxy_headers"] is False
    config = uvicorn.Config("mockllm.server:app_from_env", factory=True, workers=2, **settings)
    assert config.workers == 2 and config.backlog == 4096
    uvicorn_settings(ServerConfig())
    assert _Protocol.header_timeout_s == 30.0


def test_the_uvicorn_internals_server_py_relies_on_are_there() -> None:
    """server.py subclasses uvicorn's httptools protocol; pyproject.toml pins uvicorn to the
    versions the suite passed on. A uvicorn without these names fails here, by name."""
    from uvicorn.protocols.http.flow_control import FlowControl
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

    assert callable(getattr(HttpToolsProtocol, "_start_asgi_task", None))
    for name in ("on_message_begin", "on_headers_complete", "on_message_complete"):
        assert callable(getattr(HttpToolsProtocol, name, None)), name
    assert "write_paused" in vars(FlowControl(_FakeTransport()))
    cycle_fields = RequestResponseCycle.__init__.__code__.co_varnames
    assert "transport" in cycle_fields and "flow" in cycle_fields
    for name in ("chunked_encoding", "response_complete", "response_started", "disconnected"):
        assert name in RequestResponseCycle.__init__.__code__.co_names, name


class _FakeTransport:
    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class _Broken:
    """An endpoint that fails inside the server."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("a failure inside the server")


def test_a_failure_inside_the_server_is_a_500_in_the_familys_shape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(ServerConfig(port=0))
    for path in ("/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens"):
        app.endpoints[path] = _Broken(app.endpoints[path].dialect)  # type: ignore[assignment]

    async def post(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            return await client.post(path, json={})

    chat = asyncio.run(post("/v1/chat/completions"))
    assert (chat.status_code, chat.json()) == (
        500,
        {
            "error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
    )
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        answer = asyncio.run(post(path))
        assert (answer.status_code, answer.json()) == (
            500,
            {
                "type": "error",
                "error": {"details": None, "type": "api_error", "message": "Internal server error"},
            },
        )
    assert "a failure inside the server" in caplog.text


@pytest.mark.parametrize(
    ("cassette", "warned"), [("examples/nosuch", True), ("examples/greeting", False)]
)
def test_a_cassette_for_the_run_that_is_not_there_is_said_at_start(
    cassette: str, warned: bool, tmp_path: Path
):
    folder = Path(__file__).resolve().parents[1] / "cassettes"
    server = start_server("--cassettes", str(folder), "--cassette", cassette, tmp_path=tmp_path)
    try:
        log = server.log_with("record mode none")  # the banner's last line is out
        said = (
            f"cassette '{cassette}' (--cassette) is not under {folder}: every request will be "
            "a cassette miss"
        )
        assert (said in log) is warned, log
    finally:
        server.stop()


# --- stopping with answers under way ------------------------------------------------------


async def _streams(url: str, count: int) -> list[str]:
    """Open `count` chat streams; each ends as 'done' ([DONE] came), 'short' (the body ended
    cleanly without it) or the name of the error the client saw."""

    async def one(http: httpx.AsyncClient) -> str:
        body = {
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        try:
            async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as answer:
                data = b"".join([chunk async for chunk in answer.aiter_bytes()])
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return "done" if data.endswith(b"data: [DONE]\n\n") else "short"

    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        return await asyncio.gather(*(one(http) for _ in range(count)))


def _stop_during_streams(
    tmp_path: Path, sig: int, inter_token_ms: int, count: int
) -> tuple[list[str], int, float, str]:
    server = start_server("--inter-token-ms", str(inter_token_ms), tmp_path=tmp_path)
    results: list[str] = []
    clients = threading.Thread(
        target=lambda: results.extend(asyncio.run(_streams(server.url, count)))
    )
    clients.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until every stream is under way
        journal = httpx.get(f"{server.url}/__admin/requests", timeout=5).json()["requests"]
        if len(journal) == count:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    server.proc.send_signal(sig)
    signalled = time.monotonic()
    code = server.proc.wait(15)
    exited = time.monotonic() - signalled
    clients.join(15)
    return results, code, exited, server.log()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_lets_short_streams_finish_and_exits_0(tmp_path: Path, sig: int) -> None:
    results, code, exited, log = _stop_during_streams(tmp_path, sig, 40, 20)  # 2.4 s streams
    assert results == ["done"] * 20, results
    assert code == 0, log
    assert exited < 5.0, f"exited {exited:.1f} s after the signal"
    assert "Traceback" not in log and "Aborted" not in log, log[-3000:]


def test_streams_longer_than_the_grace_are_ended_quietly_and_counted(tmp_path: Path) -> None:
    results, code, exited, log = _stop_during_streams(tmp_path, signal.SIGTERM, 300, 30)
    assert "done" not in results and len(results) == 30, results  # 18 s streams: cut
    assert code == 0, log
    assert SHUTDOWN_GRACE_S <= exited < 10.0, f"exited {exited:.1f} s after SIGTERM"
    assert "stopping: 30 answer(s) still under way after 8 s" in log, log[-3000:]
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    assert "ERROR" not in log, log[-3000:]


def test_a_large_request_sent_again_is_parsed_once() -> None:
    """A load test replaying an agent's captured request (tens of kilobytes of system
    prompt and tools) sends the same bytes again and again: they are parsed once, as a
    small request's are, and answered the same; a body over a megabyte is parsed each
    time."""
    app = create_app(ServerConfig(port=0))
    endpoint = app.endpoints["/v1/messages"]
    parsed: list[int] = []

    def counted(raw: bytes, *args: Any) -> Any:
        parsed.append(len(raw))
        return parse(raw, *args)

    parse = endpoint.dialect.parse
    endpoint.dialect = dataclasses.replace(endpoint.dialect, parse=counted)

    def body(system: str) -> dict[str, Any]:
        turn = [{"role": "user", "content": "Fix the failing test in tests/test_app.py"}]
        return {"model": "claude-sonnet-4-5", "max_tokens": 64, "system": system, "messages": turn}

    async def send(sent: dict[str, Any], times: int) -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            answers = [
                await client.post("/v1/messages", json=sent, headers={"x-api-key": "sk-ant-x"})
                for _ in range(times)
            ]
        assert {a.status_code for a in answers} == {200}
        return [json.dumps(a.json()["content"]) for a in answers]

    agent = body("You are a careful coding agent. " * 2500)
    said = asyncio.run(send(agent, 3))
    assert len(set(said)) == 1 and len(parsed) == 1 and parsed[0] > 80_000
    asyncio.run(send(body("x" * 1_100_000), 2))  # well within the context window
    assert len(parsed) == 3
