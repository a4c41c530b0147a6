"""`mockllm validate`: tell what each YAML file is and check it with that format's rules.

A file is a **scenario** (`rules`), a **profile** (`extends`, `chat_paths`, `auth`, …), a
**keys file** (`keys`, `prices`) or a **cassette** (`interactions`), recognised by its
top-level keys, or named by the caller. Each is checked by the loader `serve` uses for it,
so a file that validates here loads there; every problem carries file, line and field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mockllm import schema as s
from mockllm.accounts import FORMAT as KEYS_FORMAT
from mockllm.accounts import load_keys
from mockllm.cassettes import body_problems
from mockllm.errors import MockLLMError, Problem, ScenarioError
from mockllm.loader import FORMAT as SCENARIO_FORMAT
from mockllm.loader import load_scenarios, parse_document, scenario_files
from mockllm.profiles import FORMAT as PROFILE_FORMAT
from mockllm.profiles import load_profile

Kind = Literal["scenario", "profile", "keys", "cassette"]
KINDS: tuple[Kind, ...] = ("scenario", "profile", "keys", "cassette")
_KIND_NAMES = {
    "scenario": "scenario",
    "profile": "profile",
    "keys": "keys file",
    "cassette": "cassette",
}

# --- the cassette format (vcrpy's, as mockllm reads it) ----------------------------------

_HEADERS = s.MapOf(
    s.OneOf((s.ListOf(s.Str(coerce=True)), s.Str(coerce=True))),
    doc="header name to a list of values",
)
_REQUEST = s.Obj(
    {
        "method": s.Str(doc="HTTP method"),
        "uri": s.Str(doc="the URL the request went to"),
        "body": s.AnyValue(doc="the request body: text, !!binary or null"),
        "headers": _HEADERS,
    },
    required=("method", "uri"),
)
_RESPONSE = s.Obj(
    {
        "status": s.Obj(
            {
                "code": s.Num(min=100, max=599, integer=True, doc="HTTP status"),
                "message": s.Str(coerce=True, doc="reason phrase"),
            },
            required=("code",),
        ),
        "headers": _HEADERS,
        "body": s.AnyValue(
            doc="{string: ...}: the body as text or !!binary; or {base64_string: ...}"
        ),
        "mockllm": s.Obj(
            {
                "events": s.Str(doc="OFFSET:BYTES per SSE event"),
                "path": s.Str(doc="the client's path, when the upstream's differs"),
            },
            doc="stream timing recorded by mockllm",
        ),
        # vcrpy's httpx cassettes before 5.0, and its aiohttp ones:
        "status_code": s.Num(min=100, max=599, integer=True),
        "content": s.AnyValue(),
        "http_version": s.Str(),
        "url": s.Str(),
    },
)
CASSETTE_FORMAT = s.Obj(
    {
        "version": s.Enum((1,), doc="vcrpy's cassette format version"),
        "interactions": s.ListOf(
            s.Obj({"request": _REQUEST, "response": _RESPONSE}, required=("request", "response"))
        ),
        "metadata": s.AnyValue(doc="written by vcrpy 9 and kept"),
    },
    required=("interactions",),
)


def _signs(spec: s.Obj) -> frozenset[str]:
    """The top-level keys that say a file is in this format (`name` and `description` are
    shared by several)."""
    return frozenset(k for k in spec.fields if k not in ("name", "description"))


_SIGNS: dict[Kind, frozenset[str]] = {
    "cassette": _signs(CASSETTE_FORMAT),
    "keys": _signs(KEYS_FORMAT),
    "profile": _signs(PROFILE_FORMAT),
    "scenario": _signs(SCENARIO_FORMAT),
}


@dataclass(frozen=True, slots=True)
class Checked:
    """One file checked: what it is, what it holds (when it validates) and its problems."""

    path: Path
    kind: Kind
    summary: str = ""
    problems: tuple[Problem, ...] = ()
    rules: int = 0  # for a scenario


def recognise(data: Any) -> Kind:
    """Which format a parsed document is in, by its top-level keys.

    The format sharing the most keys wins; a document sharing none (or not a mapping) is
    read as a scenario, whose checks then say what a scenario needs.
    """
    if isinstance(data, list) and data and isinstance(data[0], dict) and "request" in data[0]:
        return "cassette"  # vcrpy's format before 1.0: a bare list of interactions
    if not isinstance(data, dict):
        return "scenario"
    keys = {str(k) for k in data}
    scores = {kind: len(keys & signs) for kind, signs in _SIGNS.items()}
    best = max(KINDS, key=lambda kind: scores[kind])
    return best if scores[best] else "scenario"


def check_files(paths: Iterable[Path], forced: Iterable[tuple[Path, Kind]] = ()) -> list[Checked]:
    """Check every file named (folders: their *.yaml/*.yml files, recursively), in order;
    `forced` files are checked as the given kind whatever they hold."""
    found: list[tuple[Path, Kind | None]] = [(p, None) for p in scenario_files(paths)]
    found += [(p, kind) for p, kind in forced]
    results: list[Checked] = []
    scenarios: list[Path] = []
    for path, kind in found:
        if kind is None:
            kind = _recognise_file(path)
        if kind == "scenario":
            scenarios.append(path)
            results.append(Checked(path, "scenario"))
        else:
            results.append(_CHECKS[kind](path))
    if scenarios:
        results = _with_scenarios(results, scenarios)
    return results


def _recognise_file(path: Path) -> Kind:
    try:
        data, _ = parse_document(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, ScenarioError):
        return "scenario"  # the scenario loader reports the file as it reports any
    return recognise(data)


def _with_scenarios(results: list[Checked], paths: list[Path]) -> list[Checked]:
    """Scenario files are loaded together, as `serve --scenarios` loads them."""
    try:
        rules = load_scenarios(paths)
    except ScenarioError as exc:
        by_file: dict[str, list[Problem]] = {}
        for problem in exc.problems:
            by_file.setdefault(problem.source, []).append(problem)
        return [
            Checked(r.path, r.kind, "", tuple(by_file.get(str(r.path), ())))
            if r.kind == "scenario"
            else r
            for r in results
        ]
    counts: dict[str, int] = {}
    for rule in rules:
        counts[rule.file] = counts.get(rule.file, 0) + 1
    out = []
    for r in results:
        n = counts.get(str(r.path), 0)
        out.append(
            Checked(r.path, r.kind, _count(n, "rule"), rules=n) if r.kind == "scenario" else r
        )
    return out


def _check_profile(path: Path) -> Checked:
    try:
        profile = load_profile(str(path))  # a built-in's name works too
    except ScenarioError as exc:
        return Checked(path, "profile", problems=exc.problems)
    return Checked(path, "profile", f"'{profile.name}', chat at {', '.join(profile.chat_paths)}")


def _check_keys(path: Path) -> Checked:
    try:
        keys = load_keys(path)
    except ScenarioError as exc:
        return Checked(path, "keys", problems=exc.problems)
    summary = f"{_count(len(keys.keys), 'key')}, {_count(len(keys.prices), 'price')}"
    return Checked(path, "keys", summary)


def _check_cassette(path: Path) -> Checked:
    source = str(path)
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Checked(path, "cassette", problems=(Problem(source, None, "", "no such file"),))
    except (OSError, UnicodeDecodeError) as exc:
        unread = Problem(source, None, "", f"cannot read: {exc}")
        return Checked(path, "cassette", problems=(unread,))
    lines: Any = None
    try:
        data, lines = parse_document(text, source)
    except ScenarioError:
        data = None  # tags only old vcrpy wrote (!!python/str): the cassette loader reads them
    if lines is not None:
        problems = _shape_problems(data, lines, source)
    if problems:
        return Checked(path, "cassette", problems=tuple(problems))
    from mockllm.cassettes import load_cassette

    cassettes_log = logging.getLogger("mockllm.cassettes")
    level = cassettes_log.level
    cassettes_log.setLevel(logging.ERROR)  # timing that does not fit is reported below
    try:
        interactions = load_cassette(path, path.name)
    except MockLLMError as exc:
        message = str(exc).removeprefix(f"{source}: ")
        return Checked(path, "cassette", problems=(Problem(source, None, "", message),))
    finally:
        cassettes_log.setLevel(level)
    if lines is not None:
        problems += _timing_problems(data, interactions, lines, source)
    if problems:
        return Checked(path, "cassette", problems=tuple(problems))
    return Checked(path, "cassette", _count(len(interactions), "interaction"))


def _shape_problems(data: Any, lines: Any, source: str) -> list[Problem]:
    """What is wrong with a cassette's shape, in line order."""
    if isinstance(data, list):
        return [Problem(source, 1, "", "written by vcrpy before 1.0 (a bare list); re-record it")]
    if not isinstance(data, dict):
        return [Problem(source, 1, "", "expected a mapping with 'interactions'")]
    problems = [
        Problem(source, lines.line(where), s.dotted(where), message)
        for where, message in s.check(CASSETTE_FORMAT, data)
    ]
    problems += _status_problems(data, lines, source)
    problems += [
        Problem(source, lines.line(where), s.dotted(where), message)
        for where, message in body_problems(data)
    ]
    return sorted(problems, key=lambda p: p.line or 0)


def _status_problems(data: dict[str, Any], lines: Any, source: str) -> list[Problem]:
    out = []
    for i, item in enumerate(data.get("interactions") or ()):
        response = item.get("response") if isinstance(item, dict) else None
        if isinstance(response, dict) and not ({"status", "status_code"} & response.keys()):
            where = ("interactions", i, "response")
            out.append(
                Problem(source, lines.line(where), s.dotted(where), "missing required key 'status'")
            )
    return out


def _timing_problems(
    data: dict[str, Any], interactions: Any, lines: Any, source: str
) -> list[Problem]:
    """Recorded stream timing that does not fit its body (the server would ignore it)."""
    out = []
    for i, (item, interaction) in enumerate(zip(data["interactions"], interactions, strict=False)):
        meta = item["response"].get("mockllm") or {}
        if meta.get("events") and not interaction.response.has_timing:
            where = ("interactions", i, "response", "mockllm", "events")
            size = len(interaction.response.body)
            out.append(
                Problem(
                    source,
                    lines.line(where),
                    s.dotted(where),
                    f"the event sizes do not add up to the body's {size} bytes "
                    "(or the response is not text/event-stream): the timing would be ignored",
                )
            )
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_CHECKS = {"profile": _check_profile, "keys": _check_keys, "cassette": _check_cassette}


def describe(checked: Checked) -> str:
    """`scenario, 3 rules` / `keys file, 2 keys, 1 prices`: what a file that validates holds."""
    return f"{_KIND_NAMES[checked.kind]}, {checked.summary}"
