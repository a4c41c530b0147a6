"""How mockllm's replay cost grows with the number of recorded interactions: 100, 1,000, 10,000.

    python bench/sweep_cassettes.py [--quick] [--json PATH] [--sizes 100,10000] [--keep DIR]

Writes one cassettes folder per size (seeded, so the same every run): chat.completions
interactions with distinct prompts (a system prompt, sometimes an earlier turn, a question
naming its own case number; several models, temperatures and `max_tokens`), each answered
by a `chat.completion` of its own, in cassette files of 100 interactions each under a few
sub-folders, in mockllm's own cassette format (vcrpy YAML, version 1; the writer is checked
against mockllm's `Recorder` byte for byte). For each size:

1. start to healthy: median of 3 starts of `mockllm serve --cassettes DIR`;
2. checks: a sample of recorded requests (the first, the last and about 50 between) replays
   the recorded answer byte for byte; a request that was not recorded gets a 404
   `cassette_miss` (its time is noted: a miss looks for the nearest recording);
3. replay load: wrk with a Lua `request()` that cycles through every recorded body of the
   size (read from a generated Lua table, in a seeded order), and puts a counter in an
   `X-Bench-Seq` header so that no request repeats a parse mockllm keeps (it keeps the last
   1024; without the header the smaller sizes would be answered from it). Alternating turns
   with the 100-interaction server, which stays up for the whole run: requests/s, ratio to
   100 interactions from the same turns, and the server's CPU microseconds per request;
4. in-process: `CassetteLibrary.load` on the folder, as the app builds it, then
   `find("POST", "/v1/chat/completions", body)` for 10,000 recorded bodies (all of them
   at 10,000; cycled for the smaller sizes): CPU microseconds per find, and one miss.

Writes everything to JSON (bench/results/sweep-cassettes.json) and prints a table with the
targets: 10,000 interactions healthy in <= 2 s; a find (the match of one request) in
<= 100 us. See bench/README.md.
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
# Children (the servers, the in-process timing) import this checkout's mockllm.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

from replies import API_KEY  # noqa: E402
from run import (  # noqa: E402
    _WRK_SCRIPT,
    HOST,
    PYTHON,
    QUICK,
    SERVERS,
    Plan,
    Running,
    _say,
    _wrk,
    cpu_seconds,
    interleaved,
    rss_mb,
    start_server,
)
from sweep_common import (  # noqa: E402
    arguments,
    fmt,
    per_request_us,
    ready,
    report,
    sizes_of,
    startup,
    text_table,
)
from sweep_rules import TURN_STRIDE, profile_startup, wait_idle  # noqa: E402

SIZES = (100, 1000, 10000)
BASE = 100
PER_FILE = 100
FILES_PER_FOLDER = 10
FINDS = 10_000
SEED = 20261207
SAMPLE = 50
PATH = "/v1/chat/completions"
UPSTREAM = "https://api.openai.com/v1/chat/completions"
TARGET_LOAD_10000_S = 2.0
TARGET_FIND_US = 100.0
CASSETTES = "mockllm-cassettes"
SERVERS.setdefault(
    CASSETTES,
    lambda port, folder: [
        PYTHON,
        "-m",
        "mockllm",
        "serve",
        "--port",
        str(port),
        "--cassettes",
        str(folder),
    ],  # fmt: skip
)

# --- the cassettes ---------------------------------------------------------------------------

_SYSTEMS = (
    "You are a helpful assistant.",
    "You are a support agent for an online shop. Answer in two sentences at most.",
    "You are a careful code reviewer. Point out bugs before style.",
    "You translate customer messages into plain English and keep names unchanged.",
    "You are a travel planner. Prefer trains to flights when the trip is under 600 km.",
    "You summarise documents for a finance team; keep every figure exact.",
)
_ASKS = (
    "Draft a short reply to ticket #{n} about a {thing} that {problem}.",
    "Summarise case {n}: the customer's {thing} {problem}, and they want a refund.",
    "Case {n}: explain in one paragraph why a {thing} might say it {problem}.",
    "Write a test name for bug {n}, where the {thing} {problem}.",
    "Plan a two-day trip for order {n}; the {thing} {problem}, so keep it simple.",
    "List three checks for incident {n}: the {thing} {problem}.",
)
_THINGS = (
    "parcel", "invoice", "login page", "payment form", "router", "search index", "export job",
    "mobile app", "coffee machine", "train booking", "shared calendar", "backup",
)  # fmt: skip
_PROBLEMS = (
    "arrived late", "was charged twice", "times out after a minute", "shows the wrong totals",
    "stopped syncing", "fails on the first try only", "loses the last line", "never finishes",
)  # fmt: skip
_WORDS = (
    "the customer asked about the delay and we confirmed the new date while checking the "
    "account history for earlier issues so the next step is a short apology with the tracking "
    "link and a note that the team will follow up if anything else changes before friday"
).split()
_MODELS = ("gpt-4o-mini", "gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")


@dataclass(frozen=True, slots=True)
class Recorded:
    """One generated interaction: where it is, what was sent and what was answered."""

    cassette: str
    index: int
    request: bytes
    response: bytes
    content: str


def _exchange(rng: random.Random, n: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Request and response bodies of interaction `n` (its number makes the prompt unique)."""
    model = rng.choice(_MODELS)
    ask = rng.choice(_ASKS).format(
        n=10_000 + n, thing=rng.choice(_THINGS), problem=rng.choice(_PROBLEMS)
    )
    messages: list[dict[str, str]] = [{"role": "system", "content": rng.choice(_SYSTEMS)}]
    if rng.random() < 0.3:
        messages += [
            {"role": "user", "content": f"Hi, I have a question about {rng.choice(_THINGS)}s."},
            {"role": "assistant", "content": "Of course. What would you like to know?"},
        ]
    messages.append({"role": "user", "content": ask})
    request: dict[str, Any] = {"model": model, "messages": messages}
    temperature = rng.choice([None, 0, 0.2, 0.7])
    if temperature is not None:
        request["temperature"] = temperature
    if rng.random() < 0.3:
        request["max_tokens"] = rng.choice([256, 512])
    start = rng.randrange(len(_WORDS))
    words = [_WORDS[(start + k) % len(_WORDS)] for k in range(rng.randint(15, 60))]
    content = " ".join(words).capitalize() + f". (Reference {10_000 + n}.)"
    digest = hashlib.sha256(f"{SEED}:{n}".encode()).hexdigest()
    prompt_tokens = sum(len(m["content"].split()) for m in messages) + 4 * len(messages)
    completion_tokens = len(content.split())
    response = {
        "id": f"chatcmpl-{digest[:29]}",
        "object": "chat.completion",
        "created": 1_765_000_000 + 7 * n,
        "model": {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}.get(
            model, model
        ),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": f"fp_{digest[29:39]}",
    }
    return request, response, content


_REQUEST_HEADERS = {
    "accept": "application/json",
    "accept-encoding": "identity",
    "authorization": "<redacted>",  # as mockllm's scrubber leaves it
    "content-type": "application/json",
    "user-agent": "OpenAI/Python 1.54.4",
    "x-stainless-lang": "python",
    "x-stainless-package-version": "1.54.4",
    "x-stainless-retry-count": "0",
}


def _response_headers(n: int) -> dict[str, list[str]]:
    day = 1 + n % 28
    return {
        "content-type": ["application/json"],
        "date": [f"Sun, {day:02d} Dec 2025 10:{n % 60:02d}:{(7 * n) % 60:02d} GMT"],
        "openai-processing-ms": [str(300 + (n * 37) % 900)],
        "openai-version": ["2020-10-01"],
        "x-request-id": [f"req_{hashlib.md5(str(n).encode()).hexdigest()}"],  # noqa: S324
    }


def _vcr() -> tuple[Any, Any, Any]:
    from vcr.request import Request  # type: ignore[import-untyped]
    from vcr.serialize import serialize  # type: ignore[import-untyped]
    from vcr.serializers import yamlserializer  # type: ignore[import-untyped]

    return Request, serialize, yamlserializer


def cassette_text(items: list[tuple[bytes, bytes, int]]) -> str:
    """A cassette file of (request body, response body, n) as mockllm's Recorder writes it:
    vcrpy's serializer over vcrpy `Request`s and response mappings."""
    request_cls, serialize, yamlserializer = _vcr()
    requests = [
        request_cls("POST", UPSTREAM, body.decode(), dict(_REQUEST_HEADERS)) for body, _, _ in items
    ]
    responses = [
        {
            "status": {"code": 200, "message": "OK"},
            "headers": _response_headers(n),
            "body": {"string": body.decode()},
        }
        for _, body, n in items
    ]
    return str(serialize({"requests": requests, "responses": responses}, yamlserializer))


def write_cassettes(folder: Path, count: int) -> list[Recorded]:
    """`count` interactions in files of PER_FILE under folder/suite-K/test_NNNN.yaml."""
    rng = random.Random(SEED)  # the same interactions for every size: a bigger folder extends
    recorded: list[Recorded] = []
    for first in range(0, count, PER_FILE):
        number = first // PER_FILE
        name = f"suite-{number // FILES_PER_FOLDER:02d}/test_{number:04d}.yaml"
        items = []
        for n in range(first, min(count, first + PER_FILE)):
            request, response, content = _exchange(rng, n)
            req = json.dumps(request, separators=(",", ":")).encode()
            resp = json.dumps(response, separators=(",", ":")).encode()
            items.append((req, resp, n))
            recorded.append(Recorded(name, n - first, req, resp, content))
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cassette_text(items), encoding="utf-8")
    return recorded


def check_format(workdir: Path, recorded: list[Recorded]) -> list[str]:
    """The writer above against mockllm's own `Recorder`: the same exchanges, appended one by
    one, must give the same file byte for byte."""
    from mockllm.cassettes import RecordedRequest, RecordedResponse, Recorder, Scrubber

    folder = workdir / "recorder-check"
    recorder = Recorder(folder, Scrubber(), origin="https://api.openai.com")
    sample = recorded[:3]
    for item in sample:
        n = item.index
        headers = tuple((k, v[0]) for k, v in _response_headers(n).items())
        recorder.append(
            "check.yaml",
            RecordedRequest(
                "POST",
                PATH,
                headers=tuple(_REQUEST_HEADERS.items()),
                body=item.request,
                url=UPSTREAM,
            ),  # fmt: skip
            RecordedResponse(200, "OK", headers, item.response),
        )
    ours = cassette_text([(item.request, item.response, item.index) for item in sample])
    theirs = (folder / "check.yaml").read_text(encoding="utf-8")
    if ours == theirs:
        return []
    return [f"the generated cassette differs from what mockllm's Recorder writes:\n{theirs[:800]}"]


# --- checks -----------------------------------------------------------------------------------


def _post(port: int, body: bytes, extra: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
        conn.request("POST", PATH, body=body, headers={**headers, **(extra or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_replay(port: int, recorded: list[Recorded]) -> tuple[list[str], float]:
    """A sample of recorded requests replays its recorded answer byte for byte (and the same
    content); a request not recorded is a 404 cassette_miss. Returns the problems and the
    time the miss took."""
    problems = []
    step = max(1, len(recorded) // SAMPLE)
    sample = sorted({0, len(recorded) - 1, *range(0, len(recorded), step)})
    for k, i in enumerate(sample):
        item = recorded[i]
        status, body = _post(port, item.request, {"X-Bench-Seq": str(k)} if k % 2 else None)
        where = f"{item.cassette}#{item.index}"
        if status != 200:
            problems.append(f"{where}: HTTP {status}: {body[:160]!r}")
            continue
        try:
            content = json.loads(body)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if content != item.content:
            problems.append(f"{where}: content {str(content)[:60]!r} is not the recorded one")
        elif body != item.response:
            problems.append(f"{where}: same content, but not the recorded bytes")
    data = json.loads(recorded[-1].request)
    data["messages"][-1]["content"] += " Also, one more thing."
    started = time.perf_counter()
    status, body = _post(port, json.dumps(data).encode())
    miss_s = time.perf_counter() - started
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    if status != 404 or code != "cassette_miss":
        problems.append(f"a request not recorded: HTTP {status} {code!r}; expected cassette_miss")
    return problems, miss_s


# --- load -----------------------------------------------------------------------------------------

_CYCLE = """
local bodies = dofile("{table}")
local count = #bodies
local sent = {start}
local headers = {{
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer {key}",
  ["Host"] = wrk.headers["Host"],
}}

function request()
  sent = sent + 1
  {seq}
  return wrk.format("POST", nil, headers, bodies[(sent - 1) % count + 1])
end
"""


@dataclass(frozen=True, slots=True)
class ReplayLoad:
    """What wrk sends to one size's server: its recorded bodies in a Lua table file."""

    table: Path
    first_body: str
    seq_header: bool

    def script(self, workdir: Path) -> Path:
        """wrk's Lua for one turn: every body once per cycle; `X-Bench-Seq` counts from a
        start of the turn's own, so no two requests of the run carry the same header (run.py's
        `done()` reports the figures)."""
        start = next(_turns) * TURN_STRIDE
        seq = 'headers["X-Bench-Seq"] = tostring(sent)' if self.seq_header else ""
        script = workdir / f"{self.table.stem}-{start}.lua"
        base = _WRK_SCRIPT.format(body=self.first_body, key=API_KEY)
        script.write_text(base + _CYCLE.format(table=self.table, key=API_KEY, seq=seq, start=start))
        return script


_turns = itertools.count(1)


def replay_load(workdir: Path, recorded: list[Recorded], seq_header: bool) -> ReplayLoad:
    """The Lua table of one size's recorded bodies, in a seeded order."""
    bodies = [item.request.decode() for item in recorded]
    random.Random(SEED).shuffle(bodies)
    if any("]==]" in body for body in bodies):
        raise ValueError("a body holds the Lua long-bracket terminator")
    table = workdir / f"bodies-{len(recorded)}.lua"
    table.write_text(
        "return {\n" + "".join(f"[==[{body}]==],\n" for body in bodies) + "}\n", encoding="utf-8"
    )
    return ReplayLoad(table, bodies[0], seq_header)


def replay_slice(
    run: Running, load: ReplayLoad, workdir: Path, seconds: float, concurrency: int
) -> dict[str, Any]:
    script = load.script(workdir)
    before = cpu_seconds(run.proc.pid)
    result = _wrk(run.port, seconds, concurrency, script)
    result["client"] = "wrk -t1, recorded bodies cycled"
    result["server_cpu_s"] = cpu_seconds(run.proc.pid) - before
    result["drain_s"] = wait_idle(run.proc.pid)
    return result


# --- in-process --------------------------------------------------------------------------------

_IN_PROCESS = """
import gc, json, statistics, sys, time
from pathlib import Path
from mockllm.cassettes import Interaction
from mockllm.library import CassetteLibrary, Miss
from mockllm.normalize import for_folder
folder, bodies_file, finds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
wall, cpu = time.perf_counter(), time.process_time()
library = CassetteLibrary.load(folder, normalizer=for_folder(folder, (), (), ()))
load_wall, load_cpu = time.perf_counter() - wall, time.process_time() - cpu
bodies = [line.encode() for line in Path(bodies_file).read_text().splitlines()]
work = [bodies[i % len(bodies)] for i in range(finds)]
gc.collect()
gc.freeze()
passes = []
for _ in range(3):
    started = time.process_time()
    for body in work:
        found = library.find("POST", "/v1/chat/completions", body)
    passes.append((time.process_time() - started) / len(work))
wrong = 0
for body in work[: len(bodies)]:
    found = library.find("POST", "/v1/chat/completions", body)
    wrong += not (isinstance(found, Interaction) and found.request.body == body)
miss = json.loads(bodies[-1])
miss["messages"][-1]["content"] += " Also, one more thing."
started = time.process_time()
missed = library.find("POST", "/v1/chat/completions", json.dumps(miss).encode())
miss_cpu = time.process_time() - started
print(json.dumps({
    "interactions": len(library),
    "load_s": load_wall,
    "load_cpu_s": load_cpu,
    "finds": len(work),
    "find_us": statistics.median(passes) * 1e6,
    "find_us_passes": [p * 1e6 for p in passes],
    "wrong": wrong,
    "miss_ms": miss_cpu * 1e3,
    "miss_is_miss": isinstance(missed, Miss),
}))
"""


def in_process(folder: Path, recorded: list[Recorded], workdir: Path) -> dict[str, Any]:
    """Load the folder as the app does and time `find` for FINDS recorded bodies (CPU time,
    median of 3 passes), in a fresh process."""
    bodies = workdir / f"bodies-{len(recorded)}.jsonl"
    bodies.write_text("".join(item.request.decode() + "\n" for item in recorded))
    argv = [PYTHON, "-c", _IN_PROCESS, str(folder), str(bodies), str(FINDS)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"in-process timing failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


# --- the sweep ------------------------------------------------------------------------------------


def sweep(sizes: list[int], plan: Plan, workdir: Path, seq_header: bool) -> dict[str, Any]:
    folders: dict[int, Path] = {}
    recorded: dict[int, list[Recorded]] = {}
    loads: dict[int, ReplayLoad] = {}
    for n in sorted({BASE, *sizes}):
        folders[n] = workdir / f"cassettes-{n}"
        recorded[n] = write_cassettes(folders[n], n)
        loads[n] = replay_load(workdir, recorded[n], seq_header)
    format_problems = check_format(workdir, recorded[BASE])
    for problem in format_problems:
        _say(f"problem: {problem}")
    results: dict[str, Any] = {}
    base_run: Running | None = None
    turn_s = plan.requests_s / plan.slices
    c = plan.requests_concurrency
    try:
        for n in sizes:
            files = sorted(folders[n].rglob("*.yaml"))
            found: dict[str, Any] = {
                "folder": {
                    "interactions": n,
                    "files": len(files),
                    "bytes": sum(p.stat().st_size for p in files),
                },
            }
            _say(f"{n} interactions: start-up x{plan.startup_repeats}, checks")
            found["startup"] = startup(CASSETTES, folders[n], workdir, plan.startup_repeats, 300)
            run = start_server(CASSETTES, folders[n], workdir, timeout=300)
            found["startup"]["served_s"] = run.start_to_healthy_s
            found["idle_rss_mb"] = rss_mb(run.proc.pid)
            try:
                problems, miss_s = check_replay(run.port, recorded[n])
                found["problems"] = format_problems + problems
                found["miss_s"] = miss_s
                for problem in problems:
                    _say(f"  problem: {n} interactions: {problem}")
                if not found["problems"]:
                    runs = {f"mockllm-{n}": run}
                    if n != BASE:
                        if base_run is None:
                            base_run = start_server(CASSETTES, folders[BASE], workdir)
                        runs[f"mockllm-{BASE}"] = base_run
                    by_port = {run.port: loads[n]}
                    if base_run is not None:
                        by_port[base_run.port] = loads[BASE]
                    _say(f"{n} interactions: {plan.slices} turns of {turn_s:g} s for {list(runs)}")
                    found["load"] = interleaved(
                        runs,
                        plan.slices,
                        lambda r, ports=by_port: replay_slice(
                            r, ports[r.port], workdir, plan.requests_warmup_s, c
                        ),
                        lambda r, ports=by_port: replay_slice(r, ports[r.port], workdir, turn_s, c),
                    )
                    found["after_rss_mb"] = rss_mb(run.proc.pid)
            finally:
                if n == BASE and base_run is None:
                    base_run = run
                else:
                    run.stop()
            _say(f"{n} interactions: in-process load and find")
            found["in_process"] = in_process(folders[n], recorded[n], workdir)
            results[str(n)] = found
    finally:
        if base_run is not None:
            base_run.stop()
    return {"sizes": results}


# --- the report -----------------------------------------------------------------------------------


def build_table(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, found in data["sizes"].items():
        n = int(key)
        load = found.get("load", {})
        mock, base = load.get(f"mockllm-{n}"), load.get(f"mockllm-{BASE}")
        rps = mock["requests_per_s"] if mock else None
        base_rps = base["requests_per_s"] if base else None
        inner = found.get("in_process", {})
        rows.append(
            {
                "interactions": n,
                "files": found["folder"]["files"],
                "megabytes": found["folder"]["bytes"] / 1e6,
                "start_to_healthy_s": found["startup"]["median_s"],
                "startup_cpu_s": found["startup"]["median_cpu_s"],
                "load_s": inner.get("load_s"),
                "requests_per_s": rps,
                "base_requests_per_s": base_rps,
                "ratio_to_100": rps / base_rps if rps and base_rps else None,
                "cpu_us_per_request": per_request_us(mock) if mock else None,
                "find_us": inner.get("find_us"),
                "miss_ms": inner.get("miss_ms"),
                "served_miss_ms": found["miss_s"] * 1e3 if "miss_s" in found else None,
                "errors": sum(r["errors"] for r in load.values())
                + len(found["problems"])
                + inner.get("wrong", 0)
                + (0 if inner.get("miss_is_miss", True) else 1),
                "idle_rss_mb": found["idle_rss_mb"],
            }
        )
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {row["interactions"]: row for row in rows}
    load = by.get(10000, {}).get("start_to_healthy_s")
    find = by.get(10000, {}).get("find_us")
    errors = sum(row["errors"] for row in rows)
    return [
        {
            "target": f"10,000 interactions start to healthy <= {TARGET_LOAD_10000_S:g} s",
            "value": load,
            "passed": None if load is None else load <= TARGET_LOAD_10000_S,
        },
        {
            "target": f"10,000 interactions: find (match) per request <= {TARGET_FIND_US:g} us",
            "value": find,
            "passed": None if find is None else find <= TARGET_FIND_US,
        },
        {"target": "errors and failed checks = 0", "value": errors, "passed": errors == 0},
    ]


def render(rows: list[dict[str, Any]]) -> str:
    head = (
        "interactions", "files", "MB", "healthy s", "start CPU s", "load s", "req/s",
        "100-int. req/s", "x 100", "CPU us/req", "find us", "miss ms", "errors",
    )  # fmt: skip
    body = [
        (
            f"{row['interactions']:,}",
            str(row["files"]),
            fmt(row["megabytes"], ".1f"),
            fmt(row["start_to_healthy_s"], ".3f"),
            fmt(row["startup_cpu_s"], ".2f"),
            fmt(row["load_s"], ".2f"),
            fmt(row["requests_per_s"], ",.0f"),
            fmt(row["base_requests_per_s"], ",.0f"),
            fmt(row["ratio_to_100"], ".2f"),
            fmt(row["cpu_us_per_request"], ",.0f"),
            fmt(row["find_us"], ",.1f"),
            fmt(row["miss_ms"], ",.1f"),
            str(row["errors"]),
        )
        for row in rows
    ]
    return text_table(head, body)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(
        __doc__.splitlines()[0], "sweep-cassettes", "interaction",
        "also copy the cassette folders here",
    )  # fmt: skip
    parser.add_argument(
        "--no-seq-header", action="store_true",
        help="send the recorded requests without the X-Bench-Seq counter (repeats can then "
        "be answered from mockllm's parse memo)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = sizes_of(args, SIZES)
    if min(sizes) < 1:
        parser.error("sizes are at least 1")
    load_before = ready()
    if load_before is None:
        return 2
    sys.path.insert(1, str(ROOT))  # the format check imports mockllm's Recorder
    plan = QUICK if args.quick else Plan()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mockllm-sweep-cassettes-") as tmp:
        workdir = Path(tmp)
        data = sweep(sizes, plan, workdir, seq_header=not args.no_seq_header)
        if not args.no_profile:
            largest = max(sizes)
            _say(f"profiling start-up with {largest} interactions")
            data["startup_profile"] = profile_startup(
                workdir / f"cassettes-{largest}", workdir, server=SERVERS[CASSETTES]
            )
        if args.keep:
            for folder in workdir.glob("cassettes-*"):
                shutil.copytree(folder, args.keep / folder.name, dirs_exist_ok=True)
    rows = build_table(data)
    counter = " with an X-Bench-Seq counter" if not args.no_seq_header else ""
    return report(args, plan, data, rows, targets(rows), {
        "elapsed_s": time.perf_counter() - started,
        "loadavg_before": load_before,
        "meta": {"seed": SEED, "seq_header": not args.no_seq_header},
        "title": "mockllm cassette-size sweep",
        "load": f"recorded bodies cycled{counter}",
        "render": render,
        "width": 62,
        "serve": "--cassettes",
    })  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
