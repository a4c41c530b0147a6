"""Shared test helpers: start a real mockllm server on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# httpx imports httpcore on its first request, and keeps the exception classes it maps
# from then. A `pytester` test removes the modules first imported during it: were that
# first request made there, every later one would meet a new httpcore, whose errors httpx
# no longer maps (a refused connection would escape `except httpx.HTTPError`).
import httpcore  # noqa: F401
import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


# Options for an inner pytest run (pytester): the plugins other packages of the venv install
# are left out. Each would be loaded, and its modules' asserts rewritten: about 2 s a run.
QUIET_PLUGINS = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:faker",
    "-p",
    "no:anyio",
    "-p",
    "no:langsmith_plugin",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A `mockllm serve` subprocess on a loopback port."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_with(self, *texts: str, timeout: float = 5.0) -> str:
        """The log once every one of `texts` is in it (else as it is after `timeout`): the
        server writes an exchange's line just after the answer's last byte, and a client
        that has the answer may read the log a moment before the line lands."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if all(text in log for text in texts) or time.monotonic() > deadline:
                return log
            time.sleep(0.02)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_server(*args: str, tmp_path: Path, env: dict[str, str] | None = None) -> RunningServer:
    """Start `python -m mockllm serve ARGS` and wait until /__admin/health answers 200."""
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mockllm", "serve", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(tmp_path),
        )
    server = RunningServer(proc, port, log_path)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"mockllm exited with {proc.returncode}:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/__admin/health", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"mockllm did not become healthy:\n{server.log()}")
    except BaseException:
        server.stop()  # whatever went wrong, no server is left running behind the test
        raise


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    """Factory fixture: `serve("--scenarios", path)` returns a RunningServer, stopped after."""
    started: list[RunningServer] = []

    def _serve(*args: str, env: dict[str, str] | None = None) -> RunningServer:
        server = start_server(*args, tmp_path=tmp_path, env=env)
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()


@pytest.fixture
def tiktoken_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """tiktoken, reading cl100k_base from mockllm's bundled copy: the file it would download,
    in a TIKTOKEN_CACHE_DIR under the name it looks for (the SHA-1 of its URL,
    tiktoken/load.py), since this machine cannot reach the URL."""
    import hashlib
    import lzma

    import tiktoken

    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    packed = (ROOT / "mockllm" / "vocab" / "cl100k_base.tiktoken.xz").read_bytes()
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(lzma.decompress(packed))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    return tiktoken


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server with the bundled scenarios, frozen time and a fixed seed."""
    tmp = tmp_path_factory.mktemp("examples")
    server = start_server(
        "--scenarios", str(SCENARIOS), "--seed", "7", "--freeze-time", "1700000000", tmp_path=tmp
    )
    yield server
    server.stop()


# --- a real redis-server for the shared-state tests -------------------------------------


def redis_binary() -> str:
    """The redis-server (or valkey-server) to start; the test fails, saying how to get one,
    when there is none: these tests must never be skipped for want of it."""
    import shutil

    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found is None:
        pytest.fail(
            "redis-server is not installed: the shared-state (--state redis://) tests need "
            "it. ./scripts/test installs Debian's redis-server when run as root; otherwise "
            "install it (apt-get install redis-server) or put valkey-server on PATH.",
            pytrace=False,
        )
    return found


class RedisServer:
    """A redis-server on a free loopback port, with its data in a temporary folder (an
    append-only file). `durable`: each write is on disk before it is acknowledged, so that
    a killed and restarted server keeps all it acknowledged (by default it writes the file
    about once a second, and on a busy machine a kill can lose the last second)."""

    def __init__(self, folder: Path, durable: bool = False) -> None:
        self.binary = redis_binary()
        self.folder = folder
        self.port = free_port()
        self.fsync = "always" if durable else "everysec"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - the process keeps it
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                self.fsync,
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited: {(self.folder / 'redis.log').read_text()}"
                )
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING")

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing flushed on the way out."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for this test module (tests use their own --state-prefix)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
