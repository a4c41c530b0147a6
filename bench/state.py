"""The shared state store's cost: mockllm in memory against mockllm on Redis (`--state`).

    .venv/bin/python bench/state.py                 # about 2 minutes
    .venv/bin/python bench/state.py --seconds 3     # shorter turns

Starts a redis-server of its own (on a free loopback port, no persistence) and, for each
configuration below, a mockllm on the benchmark's scenario file; `loadgen.py requests`
(64 keep-alive connections, non-streaming) measures each in turns that alternate between
configurations of one group, so that the machine's changing speed hits them alike. Then
Redis's MONITOR counts the commands 200 requests sent, and /proc the CPU time mockllm (all
its processes) and Redis spent on 2000 requests sent one after the other: CPU per
request hardly depends on what else runs on the machine, requests/s does.

- stateless: `bench-fast-50` (a rule without sequence, no keys file): in memory, on Redis
  with the journal on (the default), on Redis with `--journal-size 0`;
- sequence: `bench-seq-50`, a two-step sequence (`then: cycle`), every request a step;
- keys: `bench-fast-50` with a keys file whose key has a balance and rpm/tpm buckets, every
  request a rate-limit take, a credit hold and its release.

The stateful groups compare one process in memory with `--workers 2 --state redis://…`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
sys.path.insert(0, str(BENCH))
from replies import API_KEY, request_bytes  # noqa: E402

SEQUENCE_RULE = """\
  - name: bench-seq-50
    match: { model: "bench-seq-50" }
    sequence:
      - { content: "%s" }
      - { content: "%s" }
    then: cycle
"""
KEYS = f"""\
keys:
  - key: {API_KEY}
    credits: 1000000000
    rpm: 100000000
    tpm: 100000000000
prices:
  "*": {{ prompt: 1, completion: 2 }}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, path: str = "/__admin/health", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                if b" 200 " in sock.recv(200):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing healthy on port {port}")


class Redis:
    """A redis-server for the run, and its count of commands run."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server") or shutil.which("valkey-server")
        if binary is None:
            raise SystemExit("bench/state.py needs redis-server (apt-get install redis-server)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while self.commands() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def commands(self) -> int | None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"INFO stats\r\n")
                data = b""
                while b"total_commands_processed" not in data or not data.endswith(b"\r\n"):
                    data += sock.recv(65536)
        except OSError:
            return None
        for line in data.decode().splitlines():
            if line.startswith("total_commands_processed:"):
                return int(line.split(":")[1])
        return None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_mockllm(args: list[str], folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = open(folder / f"mockllm-{port}.log", "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen(
        [PYTHON, "-m", "mockllm", "serve", "--port", str(port), *args],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    wait_for(port)
    return proc, port


def loadgen(port: int, model: str, seconds: float) -> dict[str, Any]:
    argv = [PYTHON, str(BENCH / "loadgen.py"), "requests", "--port", str(port), "--model",
            model, "--concurrency", "64", "--duration", str(seconds), "--warmup", "1"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def measure_group(
    redis: Redis,
    configs: dict[str, list[str]],
    model: str,
    turns: int,
    seconds: float,
    folder: Path,
) -> dict[str, dict[str, float]]:
    """Each configuration's requests/s (mean of its turns) and Redis commands per request."""
    servers = {name: start_mockllm(args, folder) for name, args in configs.items()}
    rates: dict[str, list[float]] = {name: [] for name in configs}
    out: dict[str, dict[str, Any]] = {}
    try:
        for turn in range(turns):
            order = list(configs) if turn % 2 == 0 else list(reversed(configs))
            for name in order:
                result = loadgen(servers[name][1], model, seconds)
                if result["errors"]:
                    raise RuntimeError(f"{name}: {result['error_samples']}")
                rates[name].append(result["requests_per_s"])
        for name, (proc, port) in servers.items():
            out[name] = {
                "requests_per_s": sum(rates[name]) / len(rates[name]),
                "turns": [round(r) for r in rates[name]],
                "redis_commands_per_request": commands_per_request(redis, port, model),
                **cpu_per_request(redis, proc, port, model),
            }
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(15)
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children, from /proc."""
    total = 0.0
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry))
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def cpu_per_request(
    redis: Redis, proc: subprocess.Popen[bytes], port: int, model: str
) -> dict[str, float]:
    """CPU µs per request of mockllm (all its processes) and of Redis, over 2000 requests
    sent one after the other: what a request costs, whatever else runs on the machine."""
    count = 2000
    request = request_bytes("127.0.0.1", port, model, stream=False)
    server_before, redis_before = cpu_seconds(proc.pid), cpu_seconds(redis.proc.pid)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(count):
            sock.sendall(request)
            _read_response(sock)
    return {
        "mockllm_cpu_us": (cpu_seconds(proc.pid) - server_before) / count * 1e6,
        "redis_cpu_us": (cpu_seconds(redis.proc.pid) - redis_before) / count * 1e6,
    }


def _read_response(sock: socket.socket) -> None:
    data = b""
    while True:
        data += sock.recv(65536)
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(body) >= length:
                return


def commands_per_request(redis: Redis, port: int, model: str, count: int = 200) -> float:
    """Commands mockllm sent Redis for `count` requests sent one after the other, as Redis's
    MONITOR lists them (a Lua script is one command; the commands it runs inside are not
    counted). The server's background look for changed settings (4 a second) is counted."""
    request = request_bytes("127.0.0.1", port, model, stream=False)
    with socket.create_connection(("127.0.0.1", redis.port)) as monitor:
        monitor.sendall(b"MONITOR\r\n")
        assert monitor.recv(5) == b"+OK\r\n"
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for _ in range(count):
                sock.sendall(request)
                _read_response(sock)
        seen = b""
        monitor.settimeout(0.05)
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            try:
                seen += monitor.recv(1 << 20)
            except TimeoutError:
                pass
    lines = [
        line for line in seen.split(b"\r\n") if line.startswith(b"+") and b" lua] " not in line
    ]
    return len(lines) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured s per turn")
    parser.add_argument("--turns", type=int, default=4, help="turns per configuration")
    parser.add_argument("--json", type=Path, default=BENCH / "results" / "state.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mockllm-state-bench-") as tmp:
        folder = Path(tmp)
        scenario = folder / "bench.yaml"
        text = (BENCH / "scenarios" / "bench.yaml").read_text()
        first = " ".join(f"a{i}" for i in range(50))
        second = " ".join(f"b{i}" for i in range(50))
        scenario.write_text(text + SEQUENCE_RULE % (first, second))
        keys = folder / "keys.yaml"
        keys.write_text(KEYS)
        redis = Redis(folder)
        base = ["--scenarios", str(scenario)]
        shared = ["--state", redis.url]
        results: dict[str, Any] = {"redis": redis.url, "seconds": args.seconds}
        try:
            results["stateless"] = measure_group(
                redis,
                {
                    "memory, 1 process": base,
                    "redis, 1 process": [*base, *shared],
                    "redis, 1 process, --journal-size 0": [*base, *shared, "--journal-size", "0"],
                },
                "bench-fast-50",
                args.turns,
                args.seconds,
                folder,
            )
            for group, model, extra in (
                ("sequence", "bench-seq-50", []),
                ("keys", "bench-fast-50", ["--keys", str(keys)]),
            ):
                results[group] = measure_group(
                    redis,
                    {
                        "memory, 1 process": [*base, *extra],
                        "redis, 1 process": [*base, *extra, *shared],
                        "redis, --workers 2": [*base, *extra, *shared, "--workers", "2"],
                    },
                    model,
                    args.turns,
                    args.seconds,
                    folder,
                )
        finally:
            redis.stop()
    print(
        f"{'group':10} {'configuration':36} {'requests/s':>10} {'Redis cmds/req':>14} "
        f"{'CPU µs/req':>10} {'Redis CPU µs/req':>16}  turns"
    )
    for group in ("stateless", "sequence", "keys"):
        for name, row in results[group].items():
            rate, cmds = row["requests_per_s"], row["redis_commands_per_request"]
            print(
                f"{group:10} {name:36} {rate:10.0f} {cmds:14.2f} {row['mockllm_cpu_us']:10.0f} "
                f"{row['redis_cpu_us']:16.0f}  {row['turns']}"
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"written to {os.path.relpath(args.json, ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
