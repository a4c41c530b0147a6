"""How mockllm's cost grows with the number of scenario rules: 20, 200, 1,000 and 10,000.

    python bench/sweep_rules.py [--quick] [--json PATH] [--sizes 20,1000] [--keep DIR]

Writes one scenario file per size (seeded, so the same every run): rules of the mixed kinds a
real file holds (`model` exact and glob, `last_user` / `system` / `any_message` with
`contains`, `regex` and `glob`, some `ignore_case`, `body` conditions on `metadata.*` and
`temperature`, 2-3 conditions each, some priorities), none of which matches the benchmark's
request, and the benchmark's `bench-fast-50` rule placed at 95 % of the file. For each size:

1. start to healthy: median of 3 starts of `mockllm serve --scenarios FILE`;
2. checks: the benchmark request (with a few counters) gets the benchmark reply from the
   bench rule (the journal names it); a request for a known model that no rule matches gets
   the default generator, one for an unknown model a 404 `model_not_found`; and a server
   started `--strict` on the same file without the bench rule answers the benchmark request
   with a 404 `no_matching_rule` (so no generated rule, before or after it, matches it);
3. varied non-streaming load: wrk with a Lua `request()` that puts a counter into the last
   user message, so every request differs and no memo of mockllm's helps, in alternating
   turns against the bare reference app and the 20-rule mockllm (both stay up for the whole
   run): requests/s, ratio to the reference and to 20 rules from the same turns, and the
   server's CPU microseconds per request.

Writes everything to JSON (bench/results/sweep-rules.json) and prints a table with the targets:
1,000 rules at >= 0.8 x the requests/s of 20 rules; 10,000 rules healthy in <= 2 s.
Draw the plot with bench/plot_sweep.py. See bench/README.md.
"""

from __future__ import annotations

import http.client
import io
import itertools
import json
import os
import pstats
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
# Children (the servers) import this checkout's mockllm, whatever is installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

from make_scenarios import _bench_rule, _flow, _q  # noqa: E402
from replies import API_KEY, FAST_50, USER_PROMPT, request_body  # noqa: E402
from run import (  # noqa: E402
    _WRK_SCRIPT,
    CLK_TCK,
    HOST,
    PYTHON,
    QUICK,
    SERVERS,
    Plan,
    Running,
    _free_port,
    _health_status,
    _mockllm_argv,
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

SIZES = (20, 200, 1000, 10000)
BASE = 20  # the size the others are compared with
BENCH_AT = 0.95  # where in the file the one matching rule sits
SEED = 20261206
STRICT = "mockllm-strict"
SERVERS.setdefault(STRICT, lambda port, path: [*_mockllm_argv(port, path), "--strict"])
TARGET_RATIO_1000 = 0.8
TARGET_LOAD_10000_S = 2.0
UNKNOWN_MODEL = "sweep-no-such-model"
UNMATCHED_PROMPT = "Write two lines about the tides on a quiet beach."

# --- the scenario files --------------------------------------------------------------------

_WORDS = (
    "order invoice refund ticket booking shipment account coupon parcel warranty flight hotel "
    "payment subscription password delivery voucher loyalty claim return exchange pickup"
).split()
_TOPICS = "weather translation recipe itinerary poem contract diff query haiku schedule".split()
_REPLIES = (
    "Your request has been logged and an agent will reply within a day.",
    "The parcel is in transit and due in two days.",
    "Refunds take five to seven business days.",
    "Bonjour tout le monde.",
    "A reset link has been sent to your email address.",
    "Arr, the treasure be buried under the old oak.",
    "That query scans the whole table; add an index on created_at.",
    "The change looks correct; consider a test for the empty case.",
    "Ticket {{ body.metadata.test_id }} is open.",
    "You asked: {{ last_user | upper }}",
)


def _token(rng: random.Random, index: int) -> str:
    """A word and a number unique to the rule: `refund-00421`. The benchmark's prompts hold no
    such word, and its counter has no hyphen, so a condition on it never holds for them."""
    return f"{rng.choice(_WORDS)}-{index:05d}"


def _match(rng: random.Random, index: int) -> tuple[str, dict[str, Any]]:
    """A kind of rule and its `match`: 2-3 conditions, at least one on the rule's own token.
    Some kinds have a condition that holds for the benchmark request (its model, system
    prompt or temperature), so the walk gets past the cheap conditions to the text."""
    tok = _token(rng, index)
    topic = rng.choice(_TOPICS)
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("model-glob+contains-ic", {
            "model": rng.choice(["gpt-4o*", "gpt-4.1*", "o3*", "*-mini"]),
            "last_user": {"contains": f"{tok} please", "ignore_case": True},
        }),
        ("model-exact+regex", {
            "model": rng.choice(["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "o3-mini"]),
            "last_user": {"regex": f"^{tok} #?\\d{{3,}}"},
        }),
        ("system-contains+glob", {
            "system": {"contains": f"{topic} bot {tok}"},
            "last_user": {"glob": f"*{topic}*{tok}*"},
        }),
        ("system-regex-ic+any-contains+model-glob", {
            "system": {"regex": f"assistant for {tok}", "ignore_case": True},
            "any_message": {"contains": topic},
            "model": "claude-*",
        }),
        ("body-test-id+contains", {
            "body": {"metadata.test_id": f"t-{tok}"},
            "last_user": {"contains": topic},
        }),
        ("body-temperature+regex", {
            "body": {"temperature": rng.choice([0, 0.7, 1])},
            "last_user": {"regex": f"^{topic} {tok} .+ (french|german)$"},
        }),
        ("near:model-glob+contains", {  # the model holds for the benchmark
            "model": "bench-fast-*",
            "last_user": {"contains": f"quarterly {tok}"},
        }),
        ("near:system+glob-ic", {  # the system prompt holds for the benchmark
            "system": {"contains": "finance team"},
            "last_user": {"glob": f"*{tok}*", "ignore_case": True},
        }),
        ("near:temperature+any-regex", {  # the temperature holds for the benchmark
            "body": {"temperature": 0.2},
            "any_message": {"regex": f"{tok}\\b"},
        }),
        ("any-glob+model-list", {
            "any_message": {"glob": f"*cancel*{tok}*"},
            "model": ["gpt-4.1", "o3-mini", "/^gpt-5/"],
        }),
        ("exact+model", {"last_user": f"hello {tok}", "model": "gpt-4o"}),
        ("model-exact+system-regex+body", {
            "model": "claude-3-5-sonnet-20241022",
            "system": {"regex": f"you are {tok}"},
            "body": {"metadata.suite": rng.choice(["e2e", "smoke", "nightly"])},
        }),
        ("any-regex-ic+body-suite", {
            "any_message": {"regex": f"tracking number {tok}", "ignore_case": True},
            "body": {"metadata.suite": "e2e"},
        }),
        ("system-contains-ic+model-glob+turn", {
            "system": {"contains": f"Support bot {tok}", "ignore_case": True},
            "model": "*-mini",
            "turn": {"min": 2},
        }),
    ]  # fmt: skip
    return kinds[index % len(kinds)] if index < len(kinds) else rng.choice(kinds)


def _rule(rng: random.Random, index: int) -> tuple[str, str, int]:
    kind, match = _match(rng, index)
    roll = rng.random()
    priority = 0
    if roll < 0.04:
        priority = rng.choice([1, 2, 5])
    elif roll < 0.05:
        priority = -1
    reply = rng.choice(_REPLIES)
    text = f"  - name: {kind.replace(':', '-')}-{index}\n"
    if priority:
        text += f"    priority: {priority}\n"
    text += f"    match: {_flow_match(match)}\n    reply:\n      content: {_q(reply)}\n"
    if rng.random() < 0.1:
        text += "      latency: { ttft_ms: 200, inter_token_ms: 20 }\n"
    return text, kind, priority


def _flow_match(match: dict[str, Any]) -> str:
    """`match` as a YAML flow mapping; numbers and booleans stay numbers and booleans."""

    def node(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{_q(str(k))}: {node(v)}" for k, v in value.items()) + " }"
        if isinstance(value, list):
            return "[" + ", ".join(node(v) for v in value) + "]"
        return _flow(value)

    return node(match)


def scenario(rules: int, *, with_bench_rule: bool = True) -> tuple[str, dict[str, Any]]:
    """The scenario text for `rules` rules (the bench rule included) and what it holds."""
    rng = random.Random(SEED)  # the same rules for every size: a bigger file extends a smaller
    bench_index = min(rules - 1, int(rules * BENCH_AT))
    parts = [
        "# Generated by bench/sweep_rules.py; regenerated on every run.\n",
        f"# {rules - 1} rules that never match the benchmark's request, and at index "
        f"{bench_index} the rule that answers it.\n",
        "version: 1\n",
        "rules:\n",
    ]
    kinds: dict[str, int] = {}
    priorities: list[int] = []
    for i in range(rules - 1):
        if i == bench_index:
            parts.append(_bench_rule(FAST_50) if with_bench_rule else "")
        text, kind, priority = _rule(rng, i)
        parts.append(text)
        kinds[kind] = kinds.get(kind, 0) + 1
        priorities.append(priority)
    if bench_index == rules - 1:
        parts.append(_bench_rule(FAST_50) if with_bench_rule else "")
    before = sum(1 for i, p in enumerate(priorities) if p > 0 or (p == 0 and i < bench_index))
    info = {
        "rules": rules,
        "bench_rule_index": bench_index,
        "tried_before_bench_rule": before,
        "with_priority": sum(1 for p in priorities if p),
        "kinds": dict(sorted(kinds.items())),
    }
    return "".join(parts), info


# --- checks --------------------------------------------------------------------------------


def _varied_body(model: str, counter: int | None, prompt: str = USER_PROMPT) -> bytes:
    """The benchmark's body with a counter in the last user message, as the wrk script
    sends it (`counter=None`: the plain benchmark body)."""
    if counter is None and prompt == USER_PROMPT:
        return request_body(model, stream=False)
    text = prompt if counter is None else f"{prompt} [req {counter}]"
    body = json.loads(request_body(model, stream=False))
    body["messages"][-1]["content"] = text
    return json.dumps(body, separators=(",", ":")).encode()


def _post(port: int, body: bytes, path: str = "/v1/chat/completions") -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request(
            "POST", path, body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
        )  # fmt: skip
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw[:200]


def _journal(port: int) -> list[dict[str, Any]]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", "/__admin/requests")
        entries = json.loads(conn.getresponse().read())["requests"]
    finally:
        conn.close()
    return entries  # type: ignore[no-any-return]


def _content(reply: Any) -> Any:
    try:
        return reply["choices"][0]["message"]["content"]
    except (TypeError, KeyError, IndexError):
        return None


def _code(reply: Any) -> Any:
    try:
        return reply["error"]["code"]
    except (TypeError, KeyError):
        return None


def check_answers(port: int) -> list[str]:
    """The bench rule answers the benchmark request (plain and with counters); a request no
    rule matches gets the default generator (known model) or a 404 (unknown model)."""
    problems = []
    for counter in (None, 1, 2, 99999):
        status, reply = _post(port, _varied_body(FAST_50.name, counter))
        entry = _journal(port)[-1]
        what = f"benchmark request (counter {counter})"
        if status != 200 or _content(reply) != FAST_50.content:
            problems.append(f"{what}: HTTP {status}, not the benchmark reply: {str(reply)[:120]}")
        elif not str(entry.get("rule")).endswith(f"#{FAST_50.name}"):
            problems.append(f"{what}: answered by {entry.get('rule')!r}, not the bench rule")
    status, reply = _post(port, _varied_body("gpt-4o-mini", None, UNMATCHED_PROMPT))
    entry = _journal(port)[-1]
    if status != 200 or entry.get("source") != "default" or entry.get("rule") is not None:
        problems.append(
            f"unmatched request, known model: HTTP {status}, source {entry.get('source')!r}, "
            f"rule {entry.get('rule')!r}; expected the default generator"
        )
    status, reply = _post(port, _varied_body(UNKNOWN_MODEL, 7))
    if status != 404 or _code(reply) != "model_not_found":
        problems.append(f"unknown model: HTTP {status} {_code(reply)!r}; expected 404")
    return problems


def check_no_other_rule_matches(path: Path, rules: int, workdir: Path) -> list[str]:
    """Serve the file without the bench rule, `--strict`: the benchmark request must be a
    miss, so no other rule (before the bench rule or after it) matches it."""
    text, _ = scenario(rules, with_bench_rule=False)
    bare = workdir / f"{path.stem}-without-bench-rule.yaml"
    bare.write_text(text, encoding="utf-8")
    run = start_server(STRICT, bare, workdir, timeout=120)
    problems = []
    try:
        for counter in (None, 3, 12345):
            status, reply = _post(run.port, _varied_body(FAST_50.name, counter))
            if status != 404 or _code(reply) != "no_matching_rule":
                problems.append(
                    f"without the bench rule, --strict, counter {counter}: HTTP {status} "
                    f"{str(reply)[:160]}; expected 404 no_matching_rule"
                )
    finally:
        run.stop()
    return problems


# --- load ------------------------------------------------------------------------------------

_VARIED = """
local prefix = [==[{prefix}]==]
local suffix = [==[{suffix}]==]
local counter = {start}

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, prefix .. counter .. suffix)
end
"""
TURN_STRIDE = 10_000_000  # more requests than any turn sends
_turns = itertools.count(1)


def varied_script(workdir: Path) -> Path:
    """wrk's Lua for one turn: the benchmark body with ` [req N]` at the end of the last user
    message, N counting up from a start of its own: no two requests of the whole run are
    the same. (Counting from 1 every turn, a turn would repeat the previous turn's bodies,
    and at 10,000 rules, where a turn is a few hundred requests, mockllm's memo of the last
    1024 parsed requests and their selected rules would answer them without matching.)
    run.py's `done()` reports the figures."""
    marker = 987654321
    body = _varied_body(FAST_50.name, marker).decode()
    prefix, suffix = body.split(str(marker))
    start = next(_turns) * TURN_STRIDE
    script = workdir / f"varied-{start}.lua"
    base = _WRK_SCRIPT.format(body=request_body(FAST_50.name, stream=False).decode(), key=API_KEY)
    script.write_text(base + _VARIED.format(prefix=prefix, suffix=suffix, start=start))
    return script


def wait_idle(pid: int, quiet_s: float = 0.2, timeout_s: float = 120.0) -> float:
    """Wait until the server has used no CPU for `quiet_s` (one clock tick or less), and
    return how long that took. When wrk stops, a slow server still holds up to one request
    per connection, which it answers to closed sockets: that work must not run into the
    next server's turn (two cores: it would take CPU from it)."""
    started = time.perf_counter()
    last = cpu_seconds(pid)
    quiet_since = started
    while time.perf_counter() - started < timeout_s:
        time.sleep(0.05)
        now = cpu_seconds(pid)
        if now - last > 1.5 / CLK_TCK:
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since >= quiet_s:
            break
        last = now
    return time.perf_counter() - started


def varied_slice(run: Running, workdir: Path, seconds: float, concurrency: int) -> dict[str, Any]:
    """One turn of wrk with the varied bodies; the server's CPU during the turn (not the
    drain after it, which answers requests wrk no longer counts), then wait for the drain."""
    script = varied_script(workdir)
    before = cpu_seconds(run.proc.pid)
    result = _wrk(run.port, seconds, concurrency, script)
    result["client"] = "wrk -t1, varied bodies"
    result["server_cpu_s"] = cpu_seconds(run.proc.pid) - before
    result["drain_s"] = wait_idle(run.proc.pid)
    return result


def sweep(sizes: list[int], plan: Plan, workdir: Path) -> dict[str, Any]:
    """Every size: its file, start-up, checks, then turns against the reference and the
    20-rule server, which stay up for the whole sweep."""
    paths = {}
    files = {}
    for n in sorted({BASE, *sizes}):
        text, info = scenario(n)
        paths[n] = workdir / f"sweep-{n}.yaml"
        paths[n].write_text(text, encoding="utf-8")
        files[n] = {**info, "bytes": len(text.encode())}
    _say("reference: start-up")
    reference_startup = startup("reference", paths[BASE], workdir, plan.startup_repeats, 120)
    base_run = ref_run = None
    results: dict[str, Any] = {}
    turn_s = plan.requests_s / plan.slices
    c = plan.requests_concurrency
    try:
        ref_run = start_server("reference", paths[BASE], workdir)
        for n in sizes:
            _say(f"{n} rules: start-up x{plan.startup_repeats}, checks")
            found: dict[str, Any] = {"file": files[n]}
            found["startup"] = startup("mockllm", paths[n], workdir, plan.startup_repeats, 120)
            run = start_server("mockllm", paths[n], workdir, timeout=120)
            found["startup"]["served_s"] = run.start_to_healthy_s
            found["idle_rss_mb"] = rss_mb(run.proc.pid)
            try:
                found["problems"] = check_answers(run.port) + check_no_other_rule_matches(
                    paths[n], n, workdir
                )
                for problem in found["problems"]:
                    _say(f"  problem: {n} rules: {problem}")
                if found["problems"]:
                    results[str(n)] = found
                    continue
                runs = {"reference": ref_run, "mockllm": run}
                if n == BASE:
                    base_run = run
                else:
                    if base_run is None:
                        base_run = start_server("mockllm", paths[BASE], workdir)
                    runs["mockllm-20"] = base_run
                _say(f"{n} rules: {plan.slices} turns of {turn_s:g} s each for {', '.join(runs)}")
                turns = interleaved(
                    runs,
                    plan.slices,
                    lambda r: varied_slice(r, workdir, plan.requests_warmup_s, c),
                    lambda r: varied_slice(r, workdir, turn_s, c),
                )
                found["load"] = turns
                found["after_rss_mb"] = rss_mb(run.proc.pid)
                _say(f"{n} rules: in-process load and selection timing")
                found["in_process"] = in_process(paths[n])
                results[str(n)] = found
            finally:
                if run is not base_run:
                    run.stop()
    finally:
        for running in (base_run, ref_run):
            if running is not None:
                running.stop()
    return {"reference_startup": reference_startup, "sizes": results}


# --- the start-up profile ----------------------------------------------------------------------

_IN_PROCESS = """
import gc, statistics, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
started = time.perf_counter()
from mockllm.app import create_app
from mockllm.config import ServerConfig
from mockllm.selector import select
imported = time.perf_counter()
config = ServerConfig(scenarios=(Path(sys.argv[1]),))
app = create_app(config)
built = time.perf_counter()
print(f"IMPORT_S {imported - started:.4f}")
print(f"CREATE_APP_S {built - imported:.4f}")
from sweep_rules import _varied_body, FAST_50
gc.collect()
gc.freeze()
endpoint = app.endpoints["/v1/chat/completions"]
engine = app.engine
requests = [
    endpoint._parse(_varied_body(FAST_50.name, i), {}, "/v1/chat/completions").request
    for i in range(int(sys.argv[2]))
]
times = []
for _ in range(5):
    t = time.process_time()
    for request in requests:
        selection = select(engine._index.candidates(request), request, engine.store, 0)
    times.append((time.process_time() - t) / len(requests))
    assert selection is not None and selection.rule.name == FAST_50.name, selection
print(f"SELECT_US {statistics.median(times) * 1e6:.2f}")
others = tuple(sorted((r for r in engine._answering if r.name != FAST_50.name),
                     key=lambda r: r.order))  # file order: neighbours in the file, in memory
tenth = len(others) // 10
if tenth >= 100:  # the same number of rules, packed or spread over the whole file's memory
    walks = {"FIRST_TENTH_NS": others[:tenth], "EVERY_TENTH_NS": others[::10][:tenth],
             "ALL_NS": others}
    per_rule = {key: [] for key in walks}
    for _ in range(5):
        for key, rules in walks.items():
            t = time.process_time()
            for request in requests[:20]:
                assert select(rules, request, engine.store, 0) is None
            per_rule[key].append((time.process_time() - t) / 20 / len(rules))
    for key, values in per_rule.items():
        print(f"{key} {statistics.median(values) * 1e9:.1f}")
"""


def in_process(path: Path, requests: int = 200) -> dict[str, float]:
    """In a fresh process: the imports, building the app for `path` (loading the scenario),
    and rule selection alone (`selector.select` over the candidates the rule index finds,
    as the server selects) for `requests` varied benchmark requests: CPU time (so other
    work on the machine counts less), median of 5 passes. From 1,000 rules on, also the
    CPU time per rule of walking every rule in turn (none matching) over a tenth of the
    rules packed (the first tenth of the file), the same number spread over the whole file
    (every tenth rule), and all of them: how much of the cost per rule is how much memory
    the walk spans."""
    argv = [PYTHON, "-c", _IN_PROCESS, str(path), str(requests), str(BENCH)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"in-process timing failed:\n{done.stderr[-2000:]}")
    found = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key in ("IMPORT_S", "CREATE_APP_S", "SELECT_US") or key.endswith("_NS"):
            found[key.lower()] = float(value)
    return found


def profile_startup(
    path: Path,
    workdir: Path,
    top: int = 10,
    server: Callable[[int, Path], list[str]] = _mockllm_argv,
) -> dict[str, Any]:
    """cProfile of `mockllm serve --scenarios FILE` (or another `server` argv, run.py's
    SERVERS style) from its start to its first healthy answer (then SIGINT): the top `top`
    functions by own time."""
    port = _free_port()
    out = workdir / "serve.prof"
    argv = [PYTHON, "-m", "cProfile", "-o", str(out), *server(port, path)[1:]]
    with open(workdir / "profile.log", "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        while _health_status(port) != 200:
            if proc.poll() is not None or time.perf_counter() - started > 300:
                raise RuntimeError(f"profiled server did not start: {proc.poll()}")
            time.sleep(0.01)
        healthy = time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text)
    stats.sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
    total = next((line.strip() for line in lines if "function calls" in line), "")
    return {
        "file": path.name,
        "healthy_under_profile_s": healthy,
        "profiled": total,
        "top": [line.rstrip() for line in lines[start : start + top + 1]],
    }


# --- the report --------------------------------------------------------------------------------


def build_table(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, found in data["sizes"].items():
        load = found.get("load", {})
        mock, ref, base = load.get("mockllm"), load.get("reference"), load.get("mockllm-20")
        if int(key) == BASE:
            base = mock
        rps = mock["requests_per_s"] if mock else None
        ref_rps = ref["requests_per_s"] if ref else None
        base_rps = base["requests_per_s"] if base else None
        rows.append(
            {
                "rules": int(key),
                "tried_before_answer": found["file"]["tried_before_bench_rule"],
                "start_to_healthy_s": found["startup"]["median_s"],
                "startup_cpu_s": found["startup"]["median_cpu_s"],
                "requests_per_s": rps,
                "reference_requests_per_s": ref_rps,
                "ratio_to_reference": rps / ref_rps if rps and ref_rps else None,
                "base_requests_per_s": base_rps,
                "ratio_to_20_rules": rps / base_rps if rps and base_rps else None,
                "cpu_us_per_request": per_request_us(mock) if mock else None,
                "reference_cpu_us_per_request": per_request_us(ref) if ref else None,
                "base_cpu_us_per_request": per_request_us(base) if base else None,
                "import_s": found.get("in_process", {}).get("import_s"),
                "create_app_s": found.get("in_process", {}).get("create_app_s"),
                "select_us": found.get("in_process", {}).get("select_us"),
                "errors": sum(r["errors"] for r in load.values()) + len(found["problems"]),
                "idle_rss_mb": found["idle_rss_mb"],
            }
        )
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {row["rules"]: row for row in rows}
    ratio = by.get(1000, {}).get("ratio_to_20_rules")
    load = by.get(10000, {}).get("start_to_healthy_s")
    errors = sum(row["errors"] for row in rows)
    return [
        {
            "target": f"1,000 rules req/s >= {TARGET_RATIO_1000} x 20 rules (same turns)",
            "value": ratio,
            "passed": None if ratio is None else ratio >= TARGET_RATIO_1000,
        },
        {
            "target": f"10,000 rules start to healthy <= {TARGET_LOAD_10000_S:g} s",
            "value": load,
            "passed": None if load is None else load <= TARGET_LOAD_10000_S,
        },
        {"target": "errors and failed checks = 0", "value": errors, "passed": errors == 0},
    ]


def render(rows: list[dict[str, Any]]) -> str:
    head = (
        "rules", "tried", "healthy s", "start CPU s", "req/s", "ref req/s", "x ref",
        "20-rule req/s", "x 20", "CPU us/req", "ref CPU us/req", "load s", "select us", "errors",
    )  # fmt: skip
    body = [
        (
            f"{row['rules']:,}",
            f"{row['tried_before_answer']:,}",
            fmt(row["start_to_healthy_s"], ".3f"),
            fmt(row["startup_cpu_s"], ".2f"),
            fmt(row["requests_per_s"], ",.0f"),
            fmt(row["reference_requests_per_s"], ",.0f"),
            fmt(row["ratio_to_reference"], ".2f"),
            fmt(row["base_requests_per_s"], ",.0f"),
            fmt(row["ratio_to_20_rules"], ".2f"),
            fmt(row["cpu_us_per_request"], ",.0f"),
            fmt(row["reference_cpu_us_per_request"], ",.0f"),
            fmt(row["create_app_s"], ".2f"),
            fmt(row["select_us"], ",.0f"),
            str(row["errors"]),
        )
        for row in rows
    ]
    return text_table(head, body)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(
        __doc__.splitlines()[0], "sweep-rules", "rule", "also copy the scenario files here"
    )
    args = parser.parse_args(argv)
    sizes = sizes_of(args, SIZES)
    if min(sizes) < 2:
        parser.error("a size holds the bench rule and at least one other")
    load_before = ready()
    if load_before is None:
        return 2
    plan = QUICK if args.quick else Plan()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mockllm-sweep-rules-") as tmp:
        workdir = Path(tmp)
        data = sweep(sizes, plan, workdir)
        if not args.no_profile:
            largest = max(sizes)
            _say(f"profiling start-up with {largest} rules")
            data["startup_profile"] = profile_startup(workdir / f"sweep-{largest}.yaml", workdir)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for path in workdir.glob("sweep-*.yaml"):
                shutil.copy(path, args.keep / path.name)
    rows = build_table(data)
    ref = data["reference_startup"]["median_s"]
    return report(args, plan, data, rows, targets(rows), {
        "elapsed_s": time.perf_counter() - started,
        "loadavg_before": load_before,
        "meta": {"seed": SEED, "bench_rule_at": BENCH_AT},
        "title": "mockllm rule-count sweep",
        "load": "varied non-streaming bodies",
        "lines": [f"reference start to healthy: {ref:.3f} s (median)"],
        "render": render,
        "width": 58,
        "serve": "--scenarios",
    })  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
