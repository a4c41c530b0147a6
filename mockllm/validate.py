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
from mockllm.cassettes import CASSETTE_CONSTRUCTOR, CASSETTE_FORMAT, cassette_text
from mockllm.errors import CassetteError, Problem, ScenarioError
from mockllm.loader import FORMAT as SCENARIO_FORMAT
from mockllm.loader import load_scenarios, parse_document, read_text, scenario_files
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
    if path.suffix.lower() == ".gz":
        return "cassette"  # a gzipped cassette (`x.yaml.gz`): no other file is gzipped
    try:  # the tags old vcrpy wrote are known, so that such a cassette is recognised
        text = read_text(path)  # not a pipe's: its read would never end
        data, _ = parse_document(text, str(path), constructor=CASSETTE_CONSTRUCTOR)
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
    """A cassette checked as serve reads it (`cassettes.cassette_problems`)."""
    from mockllm.cassettes import cassette_problems

    source = str(path)
    try:
        text = cassette_text(path)
    except FileNotFoundError:
        return Checked(path, "cassette", problems=(Problem(source, None, "", "no such file"),))
    except OSError as exc:
        unread = Problem(source, None, "", f"cannot read: {exc.strerror}")
        return Checked(path, "cassette", problems=(unread,))
    except ScenarioError as exc:
        return Checked(path, "cassette", problems=exc.problems)
    except CassetteError as exc:  # a `.gz` file that is not gzip
        text_problem = Problem(source, None, "", str(exc).removeprefix(f"{source}: "))
        return Checked(path, "cassette", problems=(text_problem,))
    cassettes_log = logging.getLogger("mockllm.cassettes")
    level = cassettes_log.level
    cassettes_log.setLevel(logging.ERROR)  # timing that does not fit is a problem here
    try:
        cassette, problems = cassette_problems(text, path, path.name)
    finally:
        cassettes_log.setLevel(level)
    if problems or cassette is None:
        return Checked(path, "cassette", problems=tuple(problems))
    summary = _count(len(cassette.interactions), "interaction")
    if not text.strip():
        summary += " (an empty file: not recorded yet, as vcrpy reads it)"
    return Checked(path, "cassette", summary)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_CHECKS = {"profile": _check_profile, "keys": _check_keys, "cassette": _check_cassette}


def describe(checked: Checked) -> str:
    """`scenario, 3 rules` / `keys file, 2 keys, 1 prices`: what a file that validates holds."""
    return f"{_KIND_NAMES[checked.kind]}, {checked.summary}"
