"""Hostile scenario documents: each loads, or raises ScenarioError whose problems name the
source and a line or field; none hangs, crashes another way, or uses unbounded memory.

Documents are loaded in a worker subprocess (one for the module, restarted after a
hang) with a deadline per document, its memory capped, and tracemalloc measuring the
peak of each load. User regexes are also timed against texts that make backtracking
engines stall, both in the loaded rules and through a real server.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mockllm.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, scenario_schema
from reliability.proc import cap_memory, cpu_seconds

DEADLINE_S = 10.0
PEAK_LIMIT = 256 << 20  # bytes a single load may allocate at its peak
WHOLE_FILE = ("file over ", "empty document")  # problems of a whole file, with no line

WORKER = r"""
import json, os, struct, sys, time, tracemalloc
from pathlib import Path
from mockllm.errors import ScenarioError
from mockllm.loader import load_text, load_scenarios
from mockllm.dialects import chat

def read():
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        return None
    return json.loads(sys.stdin.buffer.read(struct.unpack(">I", head)[0]))

def answer(data):
    raw = json.dumps(data).encode()
    sys.stdout.buffer.write(struct.pack(">I", len(raw)) + raw)
    sys.stdout.buffer.flush()

def status(name):
    for line in open("/proc/self/status"):
        if line.startswith(name):
            return int(line.split()[1]) * 1024

while (job := read()) is not None:
    # Peak memory: tracemalloc (exact, but slows loading) or the RSS high-water mark.
    trace = job.get("trace", True)
    if trace:
        tracemalloc.start()
    else:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        before = status("VmRSS:")
    # CPU time, not wall time: what the loader costs, whatever else the machine runs.
    started = time.process_time()
    out = {}
    try:
        if "path" in job:
            rules = load_scenarios([Path(job["path"])])
        else:
            rules = load_text(job["text"], "fuzz.yaml")
        out["outcome"] = "loaded"
        out["rules"] = len(rules)
        if job.get("texts"):
            out["match_s"] = []
            for text in job["texts"]:
                message = {"role": "user", "content": text}
                body = json.dumps({"model": "gpt-4o", "messages": [message]})
                request = chat.parse(body.encode(), {}, "/v1/chat/completions")
                t0 = time.process_time()
                for rule in rules:
                    all(c.holds(request) for c in rule.conditions)
                out["match_s"].append(time.process_time() - t0)
    except ScenarioError as exc:
        out["outcome"] = "refused"
        out["problems"] = [
            {"source": p.source, "line": p.line, "field": p.field, "message": p.message}
            for p in exc.problems[:50]
        ]
    except BaseException as exc:
        out["outcome"] = "crashed"
        out["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    out["seconds"] = time.process_time() - started
    if trace:
        out["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        out["peak"] = status("VmHWM:") - before
    answer(out)
"""


class Worker:
    """A subprocess that loads documents on request; killed and restarted after a hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        cap_memory(self.proc.pid, 2 << 30)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass  # a write was cut short by the kill
            self.proc = None

    def load(self, job: dict[str, Any]) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        raw = json.dumps(job).encode()
        self.proc.stdin.write(struct.pack(">I", len(raw)) + raw)
        self.proc.stdin.flush()
        box: list[bytes] = []

        stdout = self.proc.stdout

        def read() -> None:
            try:
                head = stdout.read(4)
                if len(head) == 4:
                    box.append(stdout.read(struct.unpack(">I", head)[0]))
            except (OSError, ValueError):
                pass  # the worker was killed after a hang

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(DEADLINE_S)
        if not box:
            died = self.proc.poll()
            self.stop()
            self.restarts += 1
            if died is not None:
                pytest.fail(f"the loader process died (exit {died}) on {_shown(job)}")
            pytest.fail(f"loading took over {DEADLINE_S} s (a hang) for {_shown(job)}")
        return json.loads(box[0])  # type: ignore[no-any-return]


def _shown(job: dict[str, Any]) -> str:
    return repr(job.get("text", job.get("path")))[:400]


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    found = Worker()
    found.start()
    yield found
    found.stop()


def assert_loads_or_refuses(result: dict[str, Any], text: str) -> None:
    shown = repr(text)[:400]
    assert result["outcome"] != "crashed", f"{result['error']} for {shown}"
    assert result["peak"] < PEAK_LIMIT, f"peak {result['peak'] >> 20} MiB for {shown}"
    if result["outcome"] == "refused":
        assert result["problems"], shown
        for problem in result["problems"]:
            assert problem["source"] == "fuzz.yaml", problem
            assert problem["message"], problem
            if problem["message"].startswith(WHOLE_FILE):
                continue  # about the whole file: no line or field applies
            assert problem["line"] is not None or problem["field"], (
                f"a problem with neither line nor field: {problem} for {shown}"
            )


FUZZ = settings(
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
    derandomize=True,
    database=None,
)


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


# --- strategies -----------------------------------------------------------------------------


def key_paths(schema: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every key path of the scenario format (list items as index 0), from its JSON Schema."""
    defs = schema.get("$defs", {})
    out: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...], seen: frozenset[str]) -> None:
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                walk(defs.get(name), path, seen | {name})
        for option in node.get("oneOf", []) + node.get("anyOf", []):
            walk(option, path, seen)
        for key, sub in (node.get("properties") or {}).items():
            out.append((*path, key))
            walk(sub, (*path, key), seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], (*path, 0), seen)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], (*path, "X-Key"), seen)

    walk(schema, (), frozenset())
    return list(dict.fromkeys(out))


PATHS = key_paths(scenario_schema())
BASE: dict[str, Any] = {
    "version": 1,
    "rules": [{"name": "r", "match": {"model": "gpt-4o"}, "reply": {"content": "hi"}}],
}

yaml_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities included: YAML writes .nan and .inf
    st.text(max_size=20),
)
yaml_any = st.recursive(
    yaml_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.one_of(st.text(max_size=8), st.integers(-3, 3), st.booleans()), inner, max_size=4
        )
    ),
    max_leaves=10,
)
# Raw YAML only text can say: tags, aliases, timestamps, special floats, merge keys.
RAW_SNIPPETS = [
    "!!binary aGk=",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    ".nan",
    "-.inf",
    ".inf",
    "~",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!python/name:os.system",
    "&x [*x]",
    "*undefined",
    "{<<: {a: 1}}",
    "0x1F",
    "0o17",
    "1_000",
    "'(a+)+$'",
    "/(a|aa)+$/",
    "!!str 5",
    "!!int '5'",
    "!!float 'x'",
    "? [a] : b",
    "[[[[[[[[[[[[]]]]]]]]]]]]",
    "{a: {b: {c: {d: {}}}}}",
    '"\\ud800"',
    "!custom x",
    "1e400",
    "-0",
    "12:30:00",
    "null",
    "yes",
    "on",
]
PLACEHOLDER = "PLACEHOLDER_VALUE"


def set_path(doc: Any, path: tuple[Any, ...], value: object) -> Any:
    node = doc
    for key, nxt in zip(path, path[1:], strict=False):
        fresh: Any = [] if isinstance(nxt, int) else {}
        if isinstance(node, list):
            while len(node) <= key:
                node.append(fresh)
            if not isinstance(node[key], list | dict) or isinstance(nxt, int) != isinstance(
                node[key], list
            ):
                node[key] = fresh
        elif not isinstance(node.get(key), list | dict) or isinstance(nxt, int) != isinstance(
            node.get(key), list
        ):
            node[key] = fresh
        node = node[key]
    if isinstance(node, list):
        while len(node) <= path[-1]:
            node.append(None)
    node[path[-1]] = value
    return doc


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, default_flow_style=None, allow_unicode=True, width=120)


@st.composite
def near_valid_document(draw: st.DrawFn) -> str:
    doc = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        raw = draw(st.booleans())
        set_path(doc, path, PLACEHOLDER if raw else draw(yaml_any))
    text = dump(doc)
    while PLACEHOLDER in text:
        text = text.replace(PLACEHOLDER, draw(st.sampled_from(RAW_SNIPPETS)), 1)
    return text


random_rules = yaml_any.map(lambda value: dump({"version": 1, "rules": value}))
random_rule_items = st.lists(
    st.dictionaries(
        st.sampled_from(
            [
                "name",
                "match",
                "reply",
                "sequence",
                "then",
                "when",
                "priority",
                "sequence_scope",
                "description",
                "x",
            ]
        ),
        yaml_any,
        max_size=4,
    ),
    max_size=3,
).map(lambda rules: dump({"rules": rules}))
yaml_ish = st.text(
    alphabet=st.sampled_from(list("rules:-{}[]&*!|>'\"#\n aNx0.?,%@`<")), max_size=200
)


# --- generated documents --------------------------------------------------------------------


def test_the_key_paths_cover_the_format() -> None:
    flat = {str(p[-1]) for p in PATHS}
    for key in (
        "rules",
        "match",
        "reply",
        "sequence",
        "latency",
        "ttft_ms",
        "fault",
        "hang",
        "error",
        "status",
        "tool_calls",
        "arguments",
        "regex",
        "faker",
        "defaults",
    ):
        assert key in flat, key


@fuzz(100)
@given(text=near_valid_document())
def test_a_wrong_value_at_any_key(worker: Worker, text: str) -> None:
    assert_loads_or_refuses(worker.load({"text": text}), text)


@fuzz(60)
@given(text=st.one_of(random_rules, random_rule_items))
def test_random_structures_under_rules(worker: Worker, text: str) -> None:
    assert_loads_or_refuses(worker.load({"text": text}), text)


@fuzz(60)
@given(text=st.one_of(yaml_ish, st.text(max_size=100)))
def test_random_text(worker: Worker, text: str) -> None:
    assert_loads_or_refuses(worker.load({"text": text}), text)


# --- named hostile documents ----------------------------------------------------------------


def billion_laughs(levels: int = 9, fan: int = 10) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels + 1)
    ]
    return "\n".join(lines) + f"\nrules: *a{levels}\n"


def bomb_in_rule() -> str:
    return (
        "x: &x {content: " + "y" * 1000 + "}\n"
        "l1: &l1 [" + ", ".join(["*x"] * 100) + "]\n"
        "l2: &l2 [" + ", ".join(["*l1"] * 100) + "]\n"
        "rules: [{name: a, reply: {content: hi, headers: {a: *l2}}}]\n"
    )


NAMED = {
    "billion laughs": billion_laughs,
    "bomb inside a rule": bomb_in_rule,
    "2000 levels of flow lists": lambda: "rules: " + "[" * 2000 + "]" * 2000,
    "2000 levels of flow maps": lambda: "rules: " + "{a: " * 2000 + "1" + "}" * 2000,
    "300 levels of block lists": lambda: (
        "rules:\n" + "".join("  " * i + "- \n" for i in range(1, 300))
    ),
    f"{MAX_DEPTH + 1} levels of block maps": lambda: (
        "rules:\n"
        + "".join("  " * i + f"k{i}:\n" for i in range(1, MAX_DEPTH + 2))
        + "  " * (MAX_DEPTH + 2)
        + "x"
    ),
    "just over MAX_FILE_BYTES": lambda: "rules: []\n#" + "x" * MAX_FILE_BYTES,
    "just over MAX_FILE_BYTES in multibyte text": lambda: (
        "rules: []\n#" + "é" * (MAX_FILE_BYTES // 2 + 1)
    ),
    "many rules": lambda: (
        "rules:\n" + "".join(f"  - {{name: r{i}, reply: {{content: x}}}}\n" for i in range(5000))
    ),
    f"over MAX_NODES ({MAX_NODES}) values": lambda: "rules: [" + "1," * (MAX_NODES + 10) + "]",
    "non-finite latency": lambda: (
        "rules: [{reply: {content: x, latency: {ttft_ms: .inf, inter_token_ms: .nan}}}]"
    ),
    "huge integers": lambda: (
        f"rules: [{{priority: {2**70}, reply: {{content: x, latency: {{ttft_ms: {10**400}}}}}}}]"
    ),
    "python object tag": lambda: "rules: !!python/object/apply:os.system ['true']",
    "merge key recursion": lambda: "a: &a {<<: *a}\nrules: []",
    "multiple documents": lambda: "rules: []\n---\nrules: []\n",
    "NUL byte": lambda: 'rules: [{reply: {content: "\x00"}}]',
    "lone surrogate": lambda: 'rules: [{reply: {content: "\\ud800"}}]',
    "tab indentation": lambda: "rules:\n\t- reply: x",
    "empty": lambda: "",
    "only a comment": lambda: "# nothing\n",
    "a scalar": lambda: "5",
    "a list": lambda: "[1, 2]",
    "unknown top-level key": lambda: "rules: []\nrulez: []",
    "template bomb": lambda: "rules: [{reply: {content: '" + "{{ " * 5000 + "'}}]",
    "glob bomb": lambda: "rules: [{match: {model: '" + "*a" * 500 + "b'}, reply: {content: x}}]",
    "huge regex": lambda: (
        "rules: [{match: {last_user: {regex: '" + "(a)" * 20000 + "'}}, reply: {content: x}}]"
    ),
    "regex repeat bomb": lambda: (
        "rules: [{match: {last_user: {regex: '((a{1000}){1000}){1000}'}}, reply: {content: x}}]"
    ),
    "invalid regex": lambda: "rules: [{match: {last_user: {regex: '(['}}, reply: {content: x}}]",
}


@pytest.mark.parametrize("name", list(NAMED))
def test_named_hostile_documents(worker: Worker, name: str) -> None:
    text = NAMED[name]()
    result = worker.load({"text": text, "trace": False})
    assert_loads_or_refuses(result, text)
    assert result["seconds"] < 5.0, f"loading took {result['seconds']:.1f} s"


def test_oversized_files_are_refused_before_parsing(worker: Worker, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("rules: []\n#" + "x" * MAX_FILE_BYTES)
    result = worker.load({"path": str(big), "trace": False})
    assert result["outcome"] == "refused", result
    assert "bytes" in result["problems"][0]["message"]
    assert result["seconds"] < 2.0, (
        f"refusing a {MAX_FILE_BYTES}-byte file took {result['seconds']:.1f} s"
    )


def test_a_yaml_bomb_is_refused_without_expanding(worker: Worker) -> None:
    result = worker.load({"text": billion_laughs(), "trace": False})
    assert result["outcome"] == "refused", result
    assert result["peak"] < 128 << 20, f"peak {result['peak'] >> 20} MiB"
    assert any("too large" in p["message"] for p in result["problems"]), result["problems"]


# --- regexes that backtrack -----------------------------------------------------------------

CATASTROPHIC = [
    "(a+)+$",
    "(a|aa)+$",
    "(.*a){20}",
    "^(a+)+b",
    "(a*)*b",
    "(\\w+\\s?)*$",
    "(a|a?)+$",
    "^(([a-z])+.)+[A-Z]([a-z])+$",
    "(x+x+)+y",
    "(.*?,){11}P",
    "(a+)+\\1$",
    "(?=(a+)+$)a",
    "(?i)(A+)+$",
    "((a+)|(b+))+c$",
    "(a{1,30}){1,30}$",
    # wide counted repetitions: RE2's automaton outgrows its memory on long texts
    "(ab|a){1000}(ab|a){1000}c",
    "(ab|a){1000}c",
    "[a-z]{1000}[a-z]{1000}x",
]
TEXTS = ["a" * 30 + "!", "a" * 5000 + "!", "a" * 100_000 + "!", "x" * 40 + "!", "a," * 30 + "!"]
LONG_TEXT = 4 * 1024 * 1024  # half the default body limit


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_regexes_are_refused_or_run_fast(worker: Worker, pattern: str) -> None:
    text = dump(
        {
            "rules": [
                {"name": "r", "match": {"last_user": {"regex": pattern}}, "reply": {"content": "x"}}
            ]
        }
    )
    result = worker.load({"text": text, "texts": TEXTS, "trace": False})
    assert_loads_or_refuses(result, text)
    if result["outcome"] == "refused":
        assert any(repr(pattern) in p["message"] for p in result["problems"]), (
            f"refused without naming the pattern: {result['problems']}"
        )
    else:
        for took, sample in zip(result["match_s"], TEXTS, strict=True):
            assert took < 0.25, f"{pattern!r} against {len(sample)} characters took {took:.2f} s"


def test_a_backtracking_rule_does_not_stall_the_server(serve: Any, tmp_path: Path) -> None:
    """The catastrophic patterns the loader accepts, and a glob bomb, against long texts."""
    from mockllm.errors import ScenarioError
    from mockllm.loader import load_text

    rules: list[dict[str, Any]] = [
        {"name": "glob", "match": {"model": "*a" * 40 + "b"}, "reply": {"content": "g"}},
        # Globs over the prompt: literal parts (found in order) and ? / [...] (a regex).
        {"name": "g1", "match": {"last_user": {"glob": "*refund*"}}, "reply": {"content": "g"}},
        {"name": "g2", "match": {"any_message": {"glob": "*a*a*a*b"}}, "reply": {"content": "g"}},
        {"name": "g3", "match": {"last_user": {"glob": "*a?[!a]*"}}, "reply": {"content": "g"}},
        {
            "name": "g4",
            "match": {"last_user": {"glob": "*A*B", "ignore_case": True}},
            "reply": {"content": "g"},
        },
    ]
    for i, pattern in enumerate(CATASTROPHIC):
        rule = {
            "name": f"r{i}",
            "match": {"last_user": {"regex": pattern}},
            "reply": {"content": "x"},
        }
        try:
            load_text(dump({"rules": [rule]}), "probe.yaml")
        except ScenarioError:
            continue  # refused at load, naming it: covered above
        rules.append(rule)
    scenario = tmp_path / "regex.yaml"
    scenario.write_text(dump({"rules": rules}))
    server = serve("--scenarios", str(scenario))
    cap_memory(server.proc.pid)
    with httpx.Client(timeout=DEADLINE_S) as client:
        for text in ("a" * 30 + "!", "a" * 50_000 + "!", "a" * LONG_TEXT + "!"):
            body = {"model": "a" * 60, "messages": [{"role": "user", "content": text}]}
            # Server CPU, not wall time: a stall is the server's work, not the machine's load.
            started = cpu_seconds(server.proc.pid)
            response = client.post(f"{server.base_url}/chat/completions", json=body)
            took = cpu_seconds(server.proc.pid) - started
            assert response.status_code in (200, 404), response.text
            assert took < 1.0, f"{len(text)}-character text took {took:.2f} s of server CPU"
        health = client.get(f"{server.url}/__admin/health")
        assert health.status_code == 200


def test_re2_is_the_linear_engine_here() -> None:
    """google-re2 ships wheels for this platform; the loader relies on it for nested repeats."""
    import re2

    assert re2.compile("(a+)+$").search("a" * 30 + "!") is None


def test_the_worker_was_never_restarted(worker: Worker) -> None:
    assert worker.restarts == 0, f"the loader hung or died {worker.restarts} time(s)"


def test_non_finite_numbers_never_load() -> None:
    """A loaded latency is finite (an infinite one makes every matching request a 500)."""
    from mockllm.errors import ScenarioError
    from mockllm.loader import load_text

    for value in (".inf", "-.inf", ".nan"):
        text = f"rules: [{{reply: {{content: x, latency: {{ttft_ms: {value}}}}}}}]"
        try:
            rules = load_text(text, "s.yaml")
        except ScenarioError:
            continue
        latency = rules[0].replies[0].latency
        assert math.isfinite(latency.ttft_ms or 0.0), f"ttft_ms {value} loaded as {latency.ttft_ms}"
