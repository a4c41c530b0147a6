"""Benchmark mockllm against a bare Starlette app: same requests, same replies, same client.

    .venv/bin/python bench/run.py [--quick] [--json PATH] [--rounds N] [--no-wrk]
                                  [--phases requests,varied,...]

Starts the reference app (bench/reference_app.py) and mockllm on loopback ports, runs
every measurement against each (one server under load at a time; the throughput phases
in alternating turns), prints mockllm / reference ratios next to the project's targets,
and writes everything to JSON (bench/results/latest.json). The varied phases give every
request a prompt of its own, so mockllm cannot answer from what it kept of an earlier one:
through a rule, from its generator, with a forced tool call, and as paced streams.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import http.client
import itertools
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from make_scenarios import BENCH_YAML, scenario_text  # noqa: E402
from replies import (  # noqa: E402
    API_KEY,
    EMBEDDING_DIMENSIONS,
    FAST_50,
    FAST_200,
    GENERATED_MODEL,
    MODELS,
    PACED_50,
    TOOL_NAME,
    TOOL_PARAMETERS,
    TOOL_PROPERTIES,
    TOOL_REQUIRED,
    embedding_body,
    request_body,
    schema_problems,
    varied_body_parts,
    varied_request_body,
)

_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable
HOST = "127.0.0.1"
PACED_LEVELS = (10, 200, 1000)
PACED_VARIED_LEVELS = (200, 1000)
PACED_VARIED_TTFT_P99_MS = {"200": 115, "1000": 150}  # targets, per level
PACED_VARIED_DURATION = {"1000": (1.03, 1.06)}  # duration p50, p99 / ideal: targets
STARTUP_RULES = 100
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Plan:
    """How long each measurement runs; `--quick` shortens all of them."""

    startup_repeats: int = 3
    requests_warmup_s: int = 2  # whole seconds: wrk takes no fractions
    requests_s: int = 10  # per server, in `slices` turns taken in alternation
    requests_concurrency: int = 64
    stream_warmup_s: float = 2.0
    stream_s: float = 10.0  # per server, in `slices` turns taken in alternation
    stream_concurrency: int = 32
    slices: int = 5
    paced_rounds: int = 3
    paced_warmup_rounds: tuple[int, ...] = (1, 1, 1)  # per entry of PACED_LEVELS
    paced_varied_warmup_rounds: tuple[int, ...] = (1, 1)  # per entry of PACED_VARIED_LEVELS


QUICK = Plan(
    startup_repeats=1,
    requests_warmup_s=1,
    requests_s=2,
    stream_warmup_s=0.5,
    stream_s=2.5,
    slices=2,
    paced_rounds=1,
    paced_warmup_rounds=(0, 0, 1),
    paced_varied_warmup_rounds=(0, 1),
)


# The phases, in the order they run; `--phases` picks some of them.
PHASES = {
    "startup": "start to healthy with 100 rules",
    "requests": "non-streaming, the same request again and again",
    "stream": "streaming throughput, the same request",
    "paced": "paced streams at 10, 200 and 1000, the same request (and peak RSS)",
    "varied": "non-streaming, a prompt of its own per request (a rule answers)",
    "paced-varied": "paced streams at 200 and 1000, a prompt of its own per stream",
    "generated": "non-streaming, a prompt of its own per request, no rule: the generator",
    "tool": "as generated, with a 20-property tool the request forces a call to",
    "embeddings": "embeddings, the same request",
}


@dataclass(frozen=True)
class Varied:
    """A non-streaming phase where every request has its own prompt."""

    key: str  # the phase's name and its key in the JSON
    model: str
    tools: bool
    marker: str  # what every good response body holds (wrk checks each one)
    label: str  # the table's name for it
    target: float  # mockllm / reference requests/s at least this


VARIED = {
    phase.key: phase
    for phase in (
        Varied(
            "varied", FAST_50.name, False, json.dumps(FAST_50.content),
            "varied non-stream req/s (c=64, rule)", 0.85,
        ),
        Varied(
            "generated", GENERATED_MODEL, False, '"finish_reason":"stop"',
            f"generated req/s (c=64, {GENERATED_MODEL})", 0.6,
        ),
        Varied(
            "tool", GENERATED_MODEL, True, f'"function":{{"name":"{TOOL_NAME}",',
            f"tool call req/s (c=64, {len(TOOL_PROPERTIES)} props)", 0.4,
        ),
    )
}  # fmt: skip
# Every run of a load generator in a varied phase numbers its prompts from a block of
# its own, so no prompt repeats within a benchmark (a repeat could hit mockllm's memo).
VARY_BLOCK = 10_000_000
_vary_blocks = itertools.count(1)


def vary_from() -> int:
    """The first prompt number of a fresh block."""
    return next(_vary_blocks) * VARY_BLOCK


# --- the servers -------------------------------------------------------------------------


def _reference_argv(port: int, scenario: Path) -> list[str]:
    # The reference has no rules; it gets the scenario path only so both start alike.
    del scenario
    return [
        PYTHON, "-m", "uvicorn", "--app-dir", str(BENCH), "reference_app:app",
        "--host", HOST, "--port", str(port),
        "--http", "httptools", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def _mockllm_argv(port: int, scenario: Path) -> list[str]:
    # The default log level (one INFO line per exchange) and the journal on, as users run it;
    # the lines go to a file so the terminal is not the bottleneck.
    return [
        PYTHON, "-m", "mockllm", "serve", "--port", str(port), "--scenarios", str(scenario),
    ]  # fmt: skip


def _mockllm_no_metrics_argv(port: int, scenario: Path) -> list[str]:
    # The same server with its metrics off: what the metrics cost, measured in the same run.
    return [*_mockllm_argv(port, scenario), "--no-metrics"]


SERVERS: dict[str, Callable[[int, Path], list[str]]] = {
    "reference": _reference_argv,
    "mockllm": _mockllm_argv,
    "mockllm-no-metrics": _mockllm_no_metrics_argv,
}
NO_METRICS = "mockllm-no-metrics"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _health_status(port: int) -> int | None:
    """The status of GET /__admin/health, or None when nothing answers yet."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as sock:
            sock.sendall(
                f"GET /__admin/health HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Connection: close\r\n\r\n".encode()
            )
            head = sock.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


@dataclass
class Running:
    """A server subprocess and when it became healthy."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    start_to_healthy_s: float = 0.0

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_server(name: str, scenario: Path, workdir: Path, timeout: float = 30) -> Running:
    """Start a server and poll its health endpoint until the first 200."""
    port = _free_port()
    log_path = workdir / f"{name}-{port}.log"
    argv = SERVERS[name](port, scenario)
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    running = Running(name, proc, port, log_path)
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{running.log_tail()}")
        if _health_status(port) == 200:
            running.start_to_healthy_s = time.perf_counter() - started
            return running
        time.sleep(0.002)
    running.stop()
    raise RuntimeError(f"{name} was not healthy after {timeout} s:\n{running.log_tail()}")


def mockllm_unavailable() -> str | None:
    """Why `python -m mockllm serve` cannot run yet, or None when it can."""
    try:
        done = subprocess.run(
            [PYTHON, "-m", "mockllm", "serve", "--help"],
            cwd=ROOT, capture_output=True, timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "`python -m mockllm serve --help` did not finish in 60 s"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        return f"`python -m mockllm serve --help` failed: {lines[-1] if lines else done.returncode}"
    return None


# --- /proc readings ----------------------------------------------------------------------


def _process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                todo += [int(child) for child in children.split()]
        except OSError:
            continue
    return pids


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    return sum(_status_kb(p, "VmRSS") for p in _process_tree(pid)) / 1024


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its children so far."""
    total = 0
    for p in _process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def settled_cpu_seconds(pid: int, quiet_s: float = 0.05, limit_s: float = 5.0) -> float:
    """`cpu_seconds` once the server has stopped using the CPU. When a closed loop's client
    stops, the server still answers the requests in flight (one per connection); that work
    belongs to this turn, not to the next server's, which would share the machine with it."""
    deadline = time.perf_counter() + limit_s
    last = cpu_seconds(pid)
    while time.perf_counter() < deadline:
        time.sleep(quiet_s)
        now = cpu_seconds(pid)
        if now == last:  # not a clock tick (10 ms) in `quiet_s`
            break
        last = now
    return last


@contextmanager
def peak_rss(pid: int, every_s: float = 0.01) -> Iterator[dict[str, Any]]:
    """Watch a process tree's memory: VmHWM after a reset, and VmRSS sampled meanwhile."""
    pids = _process_tree(pid)
    reset = True
    for p in pids:
        try:
            # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except OSError:
            reset = False
    result: dict[str, Any] = {"sampled_vmrss_mb": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result["sampled_vmrss_mb"] = max(result["sampled_vmrss_mb"], rss_mb(pid))
            stop.wait(every_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        hwm = sum(_status_kb(p, "VmHWM") for p in _process_tree(pid)) / 1024
        result["vmhwm_mb"] = hwm if reset else None
        result["peak_mb"] = max(result["sampled_vmrss_mb"], hwm if reset else 0.0)


# --- measurements ------------------------------------------------------------------------


def loadgen(*args: object) -> dict[str, Any]:
    """Run bench/loadgen.py in its own process and return the JSON it prints."""
    argv = [PYTHON, str(BENCH / "loadgen.py"), *map(str, args)]
    done = subprocess.run(argv, capture_output=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}):\n{done.stderr.decode()[-3000:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


_WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"errors":{{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""

# A varied phase: each request's body is built in `request()` around a counter that starts
# from the script's argument (`wrk ... -- N`); `response()` counts non-2xx statuses and 2xx
# bodies without the phase's marker (wrk itself counts only statuses above 399).
_WRK_VARIED_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local prefix = [==[{prefix}]==]
local suffix = [==[{suffix}]==]
local marker = [==[{marker}]==]
local format = wrk.format
local find = string.find
local counter = 0
local threads = {{}}
nonok = 0
unmarked = 0

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = (tonumber(args[1]) or 0) + index * {block}
end

function request()
  counter = counter + 1
  return format(nil, nil, nil, prefix .. counter .. suffix)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    nonok = nonok + 1
  elseif not find(body, marker, 1, true) then
    unmarked = unmarked + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local bad, wrong = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("nonok")
    wrong = wrong + thread:get("unmarked")
  end
  io.write(string.format(
    'WRK_JSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"errors":{{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}},'
    .. '"non_2xx":%d,"unmarked":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout, bad, wrong))
end
"""


def _wrk(
    port: int,
    seconds: float,
    concurrency: int,
    script: Path,
    path: str = "/v1/chat/completions",
    script_args: tuple[object, ...] = (),
) -> dict[str, Any]:
    argv = [
        "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, int(seconds))}s", "--timeout", "10s",
        "-s", str(script), f"http://{HOST}:{port}{path}",
    ]  # fmt: skip
    if script_args:
        argv += ["--", *map(str, script_args)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds_run = raw["duration_us"] / 1e6
    counts = dict(raw["errors"])
    if "non_2xx" in raw:  # the varied script counts every non-2xx status itself
        counts["status"] = raw["non_2xx"]
        counts["unmarked"] = raw["unmarked"]
    bad = counts["status"] + counts.get("unmarked", 0)
    return {
        "seconds": seconds_run,
        "concurrency": concurrency,
        "responses": raw["requests"] - bad,
        "errors": sum(counts.values()),
        "error_samples": [f"{k}: {v}" for k, v in counts.items() if v],
        "requests_per_s": (raw["requests"] - bad) / seconds_run,
        "latency_ms": {
            "p50": raw["p50_us"] / 1000,
            "p99": raw["p99_us"] / 1000,
            "max": raw["max_us"] / 1000,
            "n": raw["requests"],
        },
    }


def requests_slice(
    run: Running, plan: Plan, use_wrk: bool, workdir: Path, seconds: float, warmup: float = 0
) -> dict[str, Any]:
    """Non-streaming: 50-token replies, closed loop at fixed concurrency, for `seconds`."""
    before = cpu_seconds(run.proc.pid)
    if use_wrk:
        script = workdir / "post.lua"
        if not script.exists():
            body = request_body(FAST_50.name, stream=False).decode()
            script.write_text(_WRK_SCRIPT.format(body=body, key=API_KEY))
        result = _wrk(run.port, seconds, plan.requests_concurrency, script)
        result["client"] = "wrk -t1"
    else:
        result = loadgen(
            "requests", "--port", run.port, "--model", FAST_50.name,
            "--concurrency", plan.requests_concurrency, "--duration", seconds, "--warmup", warmup,
        )  # fmt: skip
        result["client"] = "bench/loadgen.py"
    result["server_cpu_s"] = settled_cpu_seconds(run.proc.pid) - before
    return result


def varied_slice(
    run: Running,
    plan: Plan,
    use_wrk: bool,
    workdir: Path,
    phase: Varied,
    seconds: float,
    warmup: float = 0,
) -> dict[str, Any]:
    """A varied phase: every request its own prompt, closed loop, for `seconds`."""
    before = cpu_seconds(run.proc.pid)
    start = vary_from()
    if use_wrk:
        script = workdir / f"{phase.key}.lua"
        if not script.exists():
            prefix, suffix = varied_body_parts(phase.model, stream=False, tools=phase.tools)
            script.write_text(
                _WRK_VARIED_SCRIPT.format(
                    key=API_KEY, prefix=prefix.decode(), suffix=suffix.decode(),
                    marker=phase.marker, block=VARY_BLOCK,
                )
            )  # fmt: skip
        result = _wrk(run.port, seconds, plan.requests_concurrency, script, script_args=(start,))
        result["client"] = "wrk -t1"
    else:
        result = loadgen(
            "requests", "--port", run.port, "--model", phase.model, "--vary-from", start,
            *(["--tools"] if phase.tools else []),
            "--concurrency", plan.requests_concurrency, "--duration", seconds, "--warmup", warmup,
        )  # fmt: skip
        result["client"] = "bench/loadgen.py"
    result["vary_from"] = start
    result["server_cpu_s"] = settled_cpu_seconds(run.proc.pid) - before
    return result


def embeddings_slice(
    run: Running, plan: Plan, use_wrk: bool, workdir: Path, seconds: float, warmup: float = 0
) -> dict[str, Any]:
    """Embeddings: one 1536-dimension vector per request, closed loop, for `seconds`."""
    before = cpu_seconds(run.proc.pid)
    if use_wrk:
        script = workdir / "embeddings.lua"
        if not script.exists():
            script.write_text(_WRK_SCRIPT.format(body=embedding_body().decode(), key=API_KEY))
        result = _wrk(run.port, seconds, plan.requests_concurrency, script, "/v1/embeddings")
        result["client"] = "wrk -t1"
    else:
        result = loadgen(
            "embeddings", "--port", run.port, "--concurrency", plan.requests_concurrency,
            "--duration", seconds, "--warmup", warmup,
        )  # fmt: skip
        result["client"] = "bench/loadgen.py"
    result["server_cpu_s"] = settled_cpu_seconds(run.proc.pid) - before
    return result


def stream_slice(run: Running, plan: Plan, seconds: float, warmup: float = 0) -> dict[str, Any]:
    """Streaming with no delay: 200 content chunks per reply, closed loop, for `seconds`."""
    before = cpu_seconds(run.proc.pid)
    result = loadgen(
        "throughput", "--port", run.port, "--model", FAST_200.name,
        "--concurrency", plan.stream_concurrency, "--expect", len(FAST_200.chunks),
        "--duration", seconds, "--warmup", warmup,
    )  # fmt: skip
    result["server_cpu_s"] = settled_cpu_seconds(run.proc.pid) - before
    return result


def interleaved(
    runs: dict[str, Running],
    slices: int,
    warm_up: Callable[[Running], dict[str, Any]],
    measure: Callable[[Running], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Warm every server up, then give each `slices` turns, alternating (ABBA...), and add
    the turns up per server. The machine's speed drifts over a run (other tenants, clock
    changes); turns taken in alternation see the same drift, so the ratio does not."""
    warm_errors = {name: warm_up(run)["errors"] for name, run in runs.items()}
    turns: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    order = list(runs)
    for i in range(slices):
        for name in order if i % 2 == 0 else reversed(order):
            turns[name].append(measure(runs[name]))
    return {name: _added(turns[name], warm_errors[name]) for name in runs}


def _added(turns: list[dict[str, Any]], warm_errors: int) -> dict[str, Any]:
    seconds = sum(t["seconds"] for t in turns)
    responses = sum(t["responses"] for t in turns)
    latency = [t["latency_ms"] for t in turns]
    result: dict[str, Any] = {
        "seconds": seconds,
        "turns": len(turns),
        "concurrency": turns[0]["concurrency"],
        "responses": responses,
        "errors": warm_errors + sum(t["errors"] for t in turns),
        "error_samples": [e for t in turns for e in t["error_samples"]][:5],
        "requests_per_s": responses / seconds,
        "requests_per_s_by_turn": [t["requests_per_s"] for t in turns],
        "latency_ms": {  # each turn's percentile, their median over the turns
            "p50": statistics.median(x["p50"] for x in latency),
            "p99": statistics.median(x["p99"] for x in latency),
            "max": max(x["max"] for x in latency),
            "n": sum(x["n"] for x in latency),
        },
        "server_cpu_s": sum(t["server_cpu_s"] for t in turns),
        # The server's CPU over the turns (the warm-up left out) per request it answered:
        # the responses counted, and the one in flight on each connection when the client
        # stopped, which the server answers too (its CPU is in `server_cpu_s`).
        "server_cpu_us_per_request": (
            sum(t["server_cpu_s"] for t in turns)
            / (responses + turns[0]["concurrency"] * len(turns))
            * 1e6
            if responses
            else None
        ),
        "client": turns[0].get("client", "bench/loadgen.py"),
    }
    if "chunks" in turns[0]:
        result["chunks"] = sum(t["chunks"] for t in turns)
        result["chunks_per_s"] = result["chunks"] / seconds
        result["chunks_per_s_by_turn"] = [t["chunks_per_s"] for t in turns]
    return result


def measure_paced(
    run: Running, streams: int, warmup_rounds: int, rounds: int, vary: bool = False
) -> dict[str, Any]:
    """Paced streams, all sent together: TTFT, gaps and durations against the ideal. With
    `vary`, every stream has its own prompt."""
    return loadgen(
        "paced", "--port", run.port, "--model", PACED_50.name,
        "--streams", streams, "--rounds", rounds, "--warmup-rounds", warmup_rounds,
        "--expect", len(PACED_50.chunks), "--ideal-ms", PACED_50.ideal_ms,
        *(["--vary-from", vary_from()] if vary else []),
    )  # fmt: skip


def _sse_deltas(body: bytes) -> tuple[list[str], bool]:
    deltas, finished = [], False
    for event in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not event.startswith(b"data:"):
            continue
        data = event[5:].strip()
        if data == b"[DONE]":
            finished = True
            continue
        for choice in json.loads(data).get("choices", []):
            content = (choice.get("delta") or {}).get("content")
            if content:
                deltas.append(content)
    return deltas, finished


def check_replies(port: int) -> list[str]:
    """Ask each benchmark model once, streamed and not; say where a reply is not as expected."""

    def check(model_name: str, stream: bool) -> str | None:
        model = MODELS[model_name]
        what = f"{model_name} stream={str(stream).lower()}"
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            conn.request(
                "POST", "/v1/chat/completions", body=request_body(model_name, stream=stream),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
            )  # fmt: skip
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return f"{what}: {exc}"
        finally:
            conn.close()
        if response.status != 200:
            return f"{what}: HTTP {response.status}: {body[:200]!r}"
        try:
            if not stream:
                content = json.loads(body)["choices"][0]["message"]["content"]
                return None if content == model.content else f"{what}: content differs"
            deltas, finished = _sse_deltas(body)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return f"{what}: unreadable reply: {exc!r}"
        if deltas != list(model.chunks):
            return f"{what}: {len(deltas)} deltas, not the {len(model.chunks)} expected"
        return None if finished else f"{what}: no data: [DONE]"

    with concurrent.futures.ThreadPoolExecutor(len(MODELS) * 2) as pool:
        found = pool.map(lambda job: check(*job), [(m, s) for m in MODELS for s in (False, True)])
        return [problem for problem in found if problem is not None]


def _post(port: int, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(
            "POST", "/v1/chat/completions", body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
        )  # fmt: skip
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _varied_reply_problem(phase: str, number: int, status: int, body: bytes) -> tuple[str, str]:
    """(what is wrong with one reply of a varied phase or "", its `id` and text)."""
    what = f"{phase} #{number}"
    if status != 200:
        return f"{what}: HTTP {status}: {body[:200]!r}", ""
    try:
        if phase == "paced-varied":
            deltas, finished = _sse_deltas(body)
            first = json.loads(body.split(b"\n", 1)[0].removeprefix(b"data:"))
            if deltas != list(PACED_50.chunks) or not finished:
                return f"{what}: {len(deltas)} deltas, [DONE] {finished}", ""
            return "", f"{first['id']} {''.join(deltas)}"
        reply = json.loads(body)
        message = reply["choices"][0]["message"]
        finish = reply["choices"][0]["finish_reason"]
        if phase == "varied" and message["content"] != FAST_50.content:
            return f"{what}: not the rule's content: {message['content']!r:.80}", ""
        if phase == "generated" and (not message["content"] or finish != "stop"):
            return f"{what}: no generated text (finish_reason {finish})", ""
        if phase == "generated" and any(message["content"] == m.content for m in MODELS.values()):
            return f"{what}: a benchmark rule answered", ""
        if phase == "tool":
            calls = message.get("tool_calls") or []
            # tool_choice names the function: the API finishes such an answer with "stop"
            if finish != "stop" or len(calls) != 1:
                return f"{what}: {len(calls)} tool calls, finish_reason {finish}", ""
            if calls[0]["function"]["name"] != TOOL_NAME:
                return f"{what}: called {calls[0]['function']['name']!r}", ""
            arguments = json.loads(calls[0]["function"]["arguments"])
            missing = [key for key in TOOL_REQUIRED if key not in arguments]
            problems = schema_problems(arguments, TOOL_PARAMETERS)
            if missing or problems:
                return f"{what}: arguments: {'; '.join(problems[:3])}", ""
            return "", f"{reply['id']} {calls[0]['function']['arguments']}"
        return "", f"{reply['id']} {message['content']}"
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        return f"{what}: unreadable reply: {exc!r}", ""


def check_phase_replies(port: int, phase: str, generated: bool) -> list[str]:
    """Before a varied phase, two of its requests with different numbers, as its load
    generator builds them: each must be answered as the phase expects (the rule's text,
    the generator's text, a call to the tool whose arguments fit its schema, the paced
    rule's deltas), and the two with different `id`s (mockllm derives a reply's id from
    the request: the same id would mean it saw one request twice). With `generated` (a
    server that generates, not the reference), generated texts and arguments must differ
    between the two as well."""
    model = VARIED[phase].model if phase in VARIED else PACED_50.name
    tools = phase in VARIED and VARIED[phase].tools
    stream = phase == "paced-varied"
    numbers = [vary_from(), vary_from() + 1]
    bodies = [varied_request_body(model, n, stream=stream, tools=tools) for n in numbers]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
            replies = list(pool.map(lambda body: _post(port, body), bodies))
    except (OSError, http.client.HTTPException) as exc:
        return [f"{phase}: {exc}"]
    found = [
        _varied_reply_problem(phase, n, status, body)
        for n, (status, body) in zip(numbers, replies, strict=True)
    ]
    problems = [problem for problem, _ in found if problem]
    if problems:
        return problems
    (id_a, text_a), (id_b, text_b) = (
        (seen.split(" ", 1)[0], seen.split(" ", 1)[-1]) for _, seen in found
    )
    if id_a == id_b:
        problems.append(f"{phase}: two prompts, one id ({id_a})")
    if generated and phase in ("generated", "tool") and text_a == text_b:
        problems.append(f"{phase}: two prompts, the same generated answer")
    return problems


def check_journal(port: int, phase: str, last: int = 500) -> dict[str, Any]:
    """After a varied phase, mockllm's journal (`GET /__admin/requests`): its last
    exchanges of the phase's model must each have a prompt of their own, status 200 and
    the expected source: the benchmark's rule, or no rule (the generator), with or
    without tools. This checks the load generator's own requests, as the server saw them."""
    model = VARIED[phase].model if phase in VARIED else PACED_50.name
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", f"/__admin/requests?model={model}")
        entries = json.loads(conn.getresponse().read())["requests"][-last:]
    except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
        return {"entries": 0, "problem_count": 1, "problems": [f"{phase}: journal: {exc!r}"]}
    finally:
        conn.close()
    problems: list[str] = []
    prompts = set()
    by_rule = phase in ("varied", "paced-varied")
    tools = phase == "tool"
    for entry in entries:
        request = entry.get("request") or {}
        prompts.add(json.dumps(request.get("messages"), sort_keys=True))
        rule = entry.get("rule")
        if entry.get("status") != 200:
            problems.append(f"{phase}: journal: status {entry.get('status')}")
        elif by_rule and str(rule).rsplit("#", 1)[-1] != model:
            problems.append(f"{phase}: journal: answered by rule {rule!r}")
        elif not by_rule and (rule is not None or entry.get("source") != "default"):
            problems.append(f"{phase}: journal: rule {rule!r}, source {entry.get('source')!r}")
        elif bool(request.get("tools")) != tools:
            problems.append(f"{phase}: journal: a request {'without' if tools else 'with'} tools")
    if not entries:
        problems.append(f"{phase}: journal: no exchange of {model}")
    if len(prompts) != len(entries):
        problems.append(f"{phase}: journal: {len(entries)} exchanges, {len(prompts)} prompts")
    return {
        "entries": len(entries),
        "distinct_prompts": len(prompts),
        "problem_count": len(problems),
        "problems": problems[:5],
    }


def measure_startup(name: str, plan: Plan, workdir: Path) -> dict[str, Any]:
    """Popen to the first 200 from /__admin/health, with a 100-rule scenario."""
    scenario = workdir / "rules100.yaml"
    scenario.write_text(scenario_text(STARTUP_RULES), encoding="utf-8")
    times = []
    for _ in range(plan.startup_repeats):
        run = start_server(name, scenario, workdir)
        times.append(run.start_to_healthy_s)
        run.stop()
    return {"rules": STARTUP_RULES, "runs_s": times, "median_s": statistics.median(times)}


def bench_servers(
    names: list[str],
    plan: Plan,
    use_wrk: bool,
    workdir: Path,
    skipped: dict[str, str],
    phases: tuple[str, ...] = tuple(PHASES),
) -> dict[str, dict[str, Any]]:
    """Every measurement, each server after the other within each phase: start-up alone,
    then both servers up at once, the throughput phases in alternating turns, and each
    paced level for one server and then the other. A server that fails is reported in
    `skipped` and left out of the phases after. Only the `phases` named run."""
    results: dict[str, dict[str, Any]] = {}
    runs: dict[str, Running] = {}

    def attempt(name: str, what: str, step: Callable[[], None]) -> None:
        try:
            step()
        except RuntimeError as exc:
            _say(f"{name}: {what} failed: {exc}")
            skipped[name] = f"{what} failed: {exc}"
            run = runs.pop(name, None)
            if run is not None:
                run.stop()

    for name in names:
        _say(f"{name}: start-up with {STARTUP_RULES} rules")
        results[name] = {}

        def startup(name: str = name) -> None:
            # Start-up is mockllm's either way: the no-metrics server is not timed.
            if name != NO_METRICS and "startup" in phases:
                results[name]["startup"] = measure_startup(name, plan, workdir)
            runs[name] = start_server(name, BENCH_YAML, workdir)

        attempt(name, "start-up", startup)

    def paced_level(
        key: str, streams: int, warmups: int, order: list[tuple[str, Running]], vary: bool
    ) -> None:
        for name, run in order:
            _say(f"{name}: {key}, {streams} streams x {plan.paced_rounds} round(s)")

            def paced(run: Running = run) -> None:
                before = cpu_seconds(run.proc.pid)
                with peak_rss(run.proc.pid) as memory:
                    found = measure_paced(run, streams, warmups, plan.paced_rounds, vary)
                found["server_cpu_s"] = cpu_seconds(run.proc.pid) - before
                found["rss"] = memory
                results[run.name].setdefault(key.replace("-", "_"), {})[str(streams)] = found

            attempt(name, f"{key} {streams}", paced)

    def check_before(phase: str, varied_runs: dict[str, Running]) -> None:
        for name, run in varied_runs.items():
            found = check_phase_replies(run.port, phase, generated=name != "reference")
            results[name].setdefault("phase_problems", []).extend(found)
            for problem in found:
                _say(f"  warning: {name}: {problem}")

    def check_after(phase: str, varied_runs: dict[str, Running]) -> None:
        for name, run in varied_runs.items():
            if name == "reference":
                continue  # it keeps no journal
            found = check_journal(run.port, phase)
            results[name].setdefault("variation", {})[phase] = found
            _say(
                f"  {name}: {phase}: the journal's last {found['entries']} exchanges had "
                f"{found.get('distinct_prompts', 0)} prompts"
            )
            for problem in found["problems"]:
                _say(f"  warning: {name}: {problem}")

    try:
        for name, run in runs.items():
            results[name]["pid"] = run.proc.pid
            results[name]["idle_rss_mb"] = rss_mb(run.proc.pid)
            results[name]["reply_problems"] = check_replies(run.port)
            for problem in results[name]["reply_problems"]:
                _say(f"  warning: {name}: {problem}")
        turn_s = plan.requests_s / plan.slices
        if "requests" in phases:
            _say(
                f"non-streaming, c={plan.requests_concurrency}: {plan.slices} turns of {turn_s:g} s"
            )
            for name, found in interleaved(
                runs,
                plan.slices,
                lambda run: requests_slice(run, plan, use_wrk, workdir, plan.requests_warmup_s),
                lambda run: requests_slice(run, plan, use_wrk, workdir, turn_s),
            ).items():
                results[name]["requests"] = found
        if "stream" in phases:
            stream_turn_s = plan.stream_s / plan.slices
            what = f"{plan.slices} turns of {stream_turn_s:g} s"
            _say(f"streaming, c={plan.stream_concurrency}: {what}")
            for name, found in interleaved(
                runs,
                plan.slices,
                lambda run: stream_slice(run, plan, plan.stream_warmup_s),
                lambda run: stream_slice(run, plan, stream_turn_s),
            ).items():
                results[name]["stream"] = found
        if "paced" in phases:
            for level, (streams, warmups) in enumerate(
                zip(PACED_LEVELS, plan.paced_warmup_rounds, strict=True)
            ):
                order = list(runs.items())
                if level % 2 and NO_METRICS in runs:  # metrics off first every other level
                    order.sort(key=lambda item: item[0] != NO_METRICS)
                paced_level("paced", streams, warmups, order, vary=False)
        for name, run in runs.items():
            results[name]["after_rss_mb"] = rss_mb(run.proc.pid)

        # The varied phases: mockllm against the reference (the metrics comparison is the
        # phases above). After the memory figures, since the generator loads faker.
        def varied_runs() -> dict[str, Running]:
            return {name: run for name, run in runs.items() if name != NO_METRICS}

        for phase in ("varied", "paced-varied", "generated", "tool"):
            if phase not in phases:
                continue
            check_before(phase, varied_runs())
            if phase == "paced-varied":
                for streams, warmups in zip(
                    PACED_VARIED_LEVELS, plan.paced_varied_warmup_rounds, strict=True
                ):
                    paced_level(phase, streams, warmups, list(varied_runs().items()), vary=True)
            else:
                _say(f"{phase}, c={plan.requests_concurrency}: {plan.slices} turns of {turn_s:g} s")
                for name, found in interleaved(
                    varied_runs(),
                    plan.slices,
                    lambda run, phase=phase: varied_slice(
                        run, plan, use_wrk, workdir, VARIED[phase], plan.requests_warmup_s
                    ),
                    lambda run, phase=phase: varied_slice(
                        run, plan, use_wrk, workdir, VARIED[phase], turn_s
                    ),
                ).items():
                    results[name][phase] = found
            check_after(phase, varied_runs())

        # Last: the vector arithmetic loads numpy, which the memory figures above leave out.
        if "embeddings" in phases:
            _say(f"embeddings, c={plan.requests_concurrency}: {plan.slices} turns of {turn_s:g} s")
            for name, found in interleaved(
                runs,
                plan.slices,
                lambda run: embeddings_slice(run, plan, use_wrk, workdir, plan.requests_warmup_s),
                lambda run: embeddings_slice(run, plan, use_wrk, workdir, turn_s),
            ).items():
                results[name]["embeddings"] = found

    finally:
        for run in runs.values():
            run.stop()
    for result in results.values():
        result["errors"] = (
            len(result.get("reply_problems", []))
            + len(result.get("phase_problems", []))
            + sum(v["problem_count"] for v in result.get("variation", {}).values())
            + sum(
                result.get(key, {}).get("errors", 0)
                for key in ("requests", "stream", "embeddings", *VARIED)
            )
            + sum(p["errors"] for p in result.get("paced", {}).values())
            + sum(p["errors"] for p in result.get("paced_varied", {}).values())
        )
    return {name: result for name, result in results.items() if name not in skipped}


# --- the report --------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a metric for both servers, their ratio and a target."""

    metric: str
    reference: float | None
    mockllm: float | None
    ratio: float | None
    target: str = ""
    passed: bool | None = None
    spec: str = ",.1f"  # how to format the two values


def _get(result: dict[str, Any] | None, *path: str) -> float | None:
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, int | float) else None


def build_rows(
    ref: dict[str, Any] | None,
    mock: dict[str, Any] | None,
    phases: tuple[str, ...] = tuple(PHASES),
) -> list[Row]:
    rows: list[Row] = []

    def add(
        metric: str,
        path: tuple[str, ...],
        check: Callable[[float | None, float | None], bool | None] | None = None,
        target: str = "",
    ) -> None:
        r, m = _get(ref, *path), _get(mock, *path)
        ratio = m / r if r and m is not None else None
        passed = check(m, ratio) if check and m is not None else None
        spec = {"/ ideal": ".3f", "errors": ",.0f", "/s": ",.0f", " s ": ".3f"}
        found = next((f for key, f in spec.items() if key in f"{metric} "), ",.1f")
        rows.append(Row(metric, r, m, ratio, target, passed, found))

    def ratio_at_least(limit: float) -> Callable[[float | None, float | None], bool | None]:
        return lambda m, ratio: None if ratio is None else ratio >= limit

    def value_at_most(limit: float) -> Callable[[float | None, float | None], bool | None]:
        return lambda m, ratio: None if m is None else m <= limit

    def at_most(limit: float | None) -> Callable[[float | None, float | None], bool | None] | None:
        return None if limit is None else value_at_most(limit)

    if "requests" in phases:
        add(
            "non-stream req/s (c=64, 50 tok)",
            ("requests", "requests_per_s"),
            ratio_at_least(0.85),
            "ratio >= 0.85",
        )
        add("non-stream latency p50 ms", ("requests", "latency_ms", "p50"))
        add("non-stream latency p99 ms", ("requests", "latency_ms", "p99"))
        add("non-stream server CPU us/req", ("requests", "server_cpu_us_per_request"))
    if "embeddings" in phases:
        add(
            f"embeddings req/s (c=64, {EMBEDDING_DIMENSIONS} dims)",
            ("embeddings", "requests_per_s"),
        )
    if "stream" in phases:
        add(
            "stream chunks/s (c=32, 200 tok)",
            ("stream", "chunks_per_s"),
            ratio_at_least(1.2),
            "ratio >= 1.20",
        )
    for level in map(str, PACED_LEVELS if "paced" in phases else ()):
        p = ("paced", level)
        ttft_check = value_at_most(130) if level == "200" else None
        add(f"paced {level}: TTFT p50 ms", (*p, "ttft_ms", "p50"))
        add(
            f"paced {level}: TTFT p99 ms",
            (*p, "ttft_ms", "p99"),
            ttft_check,
            "<= 130 ms" if ttft_check else "",
        )
        add(f"paced {level}: gap p50 ms", (*p, "gap_ms", "p50"))
        add(f"paced {level}: gap p99 ms", (*p, "gap_ms", "p99"))
        last = level == str(PACED_LEVELS[-1])
        add(
            f"paced {level}: duration p50 / ideal",
            (*p, "duration_ratio", "p50"),
            value_at_most(1.03) if last else None,
            "<= 1.03" if last else "",
        )
        add(
            f"paced {level}: duration p99 / ideal",
            (*p, "duration_ratio", "p99"),
            value_at_most(1.10) if last else None,
            "<= 1.10" if last else "",
        )
        add(f"paced {level}: errors", (*p, "errors"))
    if "paced" in phases:
        add(
            f"peak RSS MB at {PACED_LEVELS[-1]} streams",
            ("paced", str(PACED_LEVELS[-1]), "rss", "peak_mb"),
            value_at_most(80),
            "<= 80 MB",
        )
    for phase in ("varied", "paced-varied", "generated", "tool"):
        if phase not in phases:
            continue
        if phase == "paced-varied":
            for level in map(str, PACED_VARIED_LEVELS):
                p = ("paced_varied", level)
                ttft = PACED_VARIED_TTFT_P99_MS[level]
                duration = PACED_VARIED_DURATION.get(level, (None, None))
                name = f"paced varied {level}"
                add(f"{name}: TTFT p50 ms", (*p, "ttft_ms", "p50"))
                add(f"{name}: TTFT p99 ms", (*p, "ttft_ms", "p99"), at_most(ttft), f"<= {ttft} ms")
                add(f"{name}: gap p99 ms", (*p, "gap_ms", "p99"))
                for stat, limit in zip(("p50", "p99"), duration, strict=True):
                    add(
                        f"{name}: duration {stat} / ideal",
                        (*p, "duration_ratio", stat),
                        at_most(limit),
                        "" if limit is None else f"<= {limit:.2f}",
                    )
                add(f"paced varied {level}: errors", (*p, "errors"))
            continue
        spec = VARIED[phase]
        add(
            spec.label,
            (phase, "requests_per_s"),
            ratio_at_least(spec.target),
            f"ratio >= {spec.target:.2f}",
        )
        add(f"{phase}: latency p50 ms", (phase, "latency_ms", "p50"))
        add(f"{phase}: latency p99 ms", (phase, "latency_ms", "p99"))
        add(f"{phase}: server CPU us/req", (phase, "server_cpu_us_per_request"))
    if "startup" in phases:
        add(
            f"start to healthy s ({STARTUP_RULES} rules)",
            ("startup", "median_s"),
            value_at_most(0.5),
            "<= 0.5 s",
        )
    add("errors, all phases", ("errors",), lambda m, ratio: m == 0, "0")
    return rows  # fmt: skip


def build_metrics_rows(
    off: dict[str, Any] | None,
    on: dict[str, Any] | None,
    phases: tuple[str, ...] = tuple(PHASES),
) -> list[Row]:
    """mockllm with its metrics on (the default) against the same server with them off:
    throughput within 5 %, paced streams as faithful within 5 %."""
    rows: list[Row] = []

    def add(metric: str, path: tuple[str, ...], higher_is_better: bool, spec: str) -> None:
        o, m = _get(off, *path), _get(on, *path)
        ratio = m / o if o and m is not None else None
        passed = None
        target = ">= 0.95" if higher_is_better else "<= 1.05"
        if ratio is not None:
            passed = ratio >= 0.95 if higher_is_better else ratio <= 1.05
        rows.append(Row(metric, o, m, ratio, target, passed, spec))

    if "requests" in phases:
        add("non-stream req/s (c=64, 50 tok)", ("requests", "requests_per_s"), True, ",.0f")
    if "stream" in phases:
        add("stream chunks/s (c=32, 200 tok)", ("stream", "chunks_per_s"), True, ",.0f")
    for level in map(str, PACED_LEVELS[1:] if "paced" in phases else ()):
        for stat in ("p50", "p99"):
            add(
                f"paced {level}: duration {stat} / ideal",
                ("paced", level, "duration_ratio", stat),
                False,
                ".3f",
            )
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


HEAD = ("metric", "reference", "mockllm", "ratio", "target", "result")


def render_table(rows: list[Row], head: tuple[str, ...] = HEAD) -> str:
    body = [
        (
            row.metric,
            _fmt(row.reference, row.spec),
            _fmt(row.mockllm, row.spec),
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            row.target,
            "" if not row.target else {True: "PASS", False: "FAIL", None: "n/a"}[row.passed],
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    aligns = ["<", ">", ">", ">", "<", "<"]
    lines = [
        "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(line, aligns, widths, strict=True))
        for line in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _meta(use_wrk: bool, args: argparse.Namespace) -> dict[str, Any]:
    def version(module: str) -> str:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as get

        try:
            return get(module)
        except PackageNotFoundError:
            return "?"

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--", "mockllm"],
                cwd=ROOT, capture_output=True, text=True,
            ).stdout.strip()
        )  # fmt: skip
    except OSError:
        commit, dirty = "?", False
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    wrk_version = "-"
    if use_wrk:
        wrk_out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
        wrk_version = (wrk_out.stdout or wrk_out.stderr).split("[")[0].strip() or "wrk"
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "mockllm_tree_dirty": dirty,
        "quick": args.quick,
        "phases": list(getattr(args, "phases_run", ())),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {n: version(n) for n in ("starlette", "uvicorn", "httptools", "uvloop")},
        "non_stream_client": wrk_version
        if use_wrk
        else f"bench/loadgen.py ({'--no-wrk' if args.no_wrk else 'no wrk on PATH'})",
        "stream_client": "bench/loadgen.py (asyncio Protocol + httptools, uvloop)",
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def _loadavg() -> float:
    """The 1-minute load average: other work on the machine makes every number noisier."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _raise_nofile() -> None:
    # Children inherit the limit: both servers and the load generator need > 1000 sockets.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (about 1.5 min)")
    parser.add_argument(
        "--json", type=Path, default=BENCH / "results" / "latest.json",
        help="where to write the results (default: bench/results/latest.json)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, help="measured rounds per paced level")
    parser.add_argument("--no-wrk", action="store_true", help="use loadgen.py even with wrk")
    parser.add_argument("--only", choices=sorted(SERVERS), help="benchmark one server (no ratios)")
    parser.add_argument(
        "--no-metrics-compare",
        action="store_true",
        help="skip mockllm with --no-metrics (the metrics on / off comparison)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="comma list of the phases to run, of: "
        + "; ".join(f"{name} ({what})" for name, what in PHASES.items())
        + " (default: all)",
    )
    args = parser.parse_args(argv)
    phases = tuple(name.strip() for name in args.phases.split(",") if name.strip())
    if unknown := [name for name in phases if name not in PHASES]:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; the phases: {', '.join(PHASES)}")
    if not phases:
        parser.error("--phases names no phase")
    phases = tuple(name for name in PHASES if name in phases)  # in the order they run
    args.phases_run = phases

    plan = QUICK if args.quick else Plan()
    if args.rounds:
        plan = Plan(**{**asdict(plan), "paced_rounds": args.rounds})
    if BENCH_YAML.read_text(encoding="utf-8") != scenario_text():
        _say(f"error: {BENCH_YAML} is stale; regenerate it with: {PYTHON} bench/make_scenarios.py")
        return 2
    _raise_nofile()
    # An installed package has its bytecode; an editable checkout gets it on first import,
    # unless PYTHONDONTWRITEBYTECODE is set. Start-up is measured with it, as users run.
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "mockllm")], check=False)
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    _say(f"non-streaming client: {'wrk' if use_wrk else 'bench/loadgen.py (no wrk on PATH)'}")

    names = [args.only] if args.only else list(SERVERS)
    if args.no_metrics_compare and NO_METRICS in names and not args.only:
        names.remove(NO_METRICS)
    if NO_METRICS in names and not args.only and not {"requests", "stream", "paced"} & {*phases}:
        names.remove(NO_METRICS)  # it takes part in those phases only
    skipped: dict[str, str] = {}
    if "mockllm" in names and (reason := mockllm_unavailable()):
        skipped["mockllm"] = reason
        names.remove("mockllm")
        if NO_METRICS in names:
            names.remove(NO_METRICS)
        _say(f"mockllm: skipped, {reason}; measuring the reference alone")

    load_before = _loadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mockllm-bench-") as tmp:
        results = bench_servers(names, plan, use_wrk, Path(tmp), skipped, phases)
    elapsed = time.perf_counter() - started

    rows = build_rows(results.get("reference"), results.get("mockllm"), phases)
    metrics_rows = (
        build_metrics_rows(results.get(NO_METRICS), results.get("mockllm"), phases)
        if NO_METRICS in results
        else []
    )
    meta = {
        **_meta(use_wrk, args),
        "elapsed_s": elapsed,
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
    }
    document = {
        "meta": meta,
        "plan": asdict(plan),
        "ideal_ms": PACED_50.ideal_ms,
        "skipped": skipped,
        "results": results,
        "table": [asdict(row) for row in rows],
        "metrics_table": [asdict(row) for row in metrics_rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")

    print()
    print(
        f"mockllm / reference, one run, {meta['cpus']} CPUs; "
        f"non-streaming client: {meta['non_stream_client']}; "
        f"paced ideal {PACED_50.ideal_ms} ms; {plan.paced_rounds} round(s) per level"
        f"{'; QUICK' if args.quick else ''}"
    )
    if phases != tuple(PHASES):
        print(f"phases: {', '.join(phases)}")
    print(f"load average (1 min) before: {load_before:.2f}, after: {meta['loadavg_after']:.2f}")
    for name, reason in skipped.items():
        print(f"{name}: {reason}")
    print(render_table(rows))
    if metrics_rows:
        print("\nmetrics on (the default) / metrics off (--no-metrics), same run")
        head = ("metric", "metrics off", "metrics on", "ratio", "target", "result")
        print(render_table(metrics_rows, head))
    print(f"\nwrote {args.json} ({elapsed:.0f} s)")
    failed = [row for row in [*rows, *metrics_rows] if row.passed is False]
    return 1 if failed or "reference" in skipped else 0  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
