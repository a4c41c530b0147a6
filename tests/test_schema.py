"""The shape check of scenario, profile, keys and cassette files: the yes/no validator
compiled per spec answers exactly what the detailed walk finds."""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from mockllm import accounts, loader, profiles, validate
from mockllm import schema as s

ROOT = Path(__file__).resolve().parent.parent
FORMATS = {
    "scenario": loader.FORMAT,
    "profile": profiles.FORMAT,
    "keys": accounts.FORMAT,
    "cassette": validate.CASSETTE_FORMAT,
    "latency model": s.Obj(loader.LATENCY_MODEL_FIELDS),
}


def _specs(root: s.Spec) -> list[s.Spec]:
    """Every spec reachable from a format, each once."""
    seen: dict[int, s.Spec] = {}
    todo = [root]
    while todo:
        spec = todo.pop()
        if id(spec) in seen:
            continue
        seen[id(spec)] = spec
        if isinstance(spec, s.Ref):
            todo.append(s.DEFS[spec.name])
        elif isinstance(spec, s.OneOf):
            todo += spec.options
        elif isinstance(spec, s.ListOf):
            todo.append(spec.item)
        elif isinstance(spec, s.MapOf):
            todo.append(spec.value)
        elif isinstance(spec, s.Obj):
            todo += spec.fields.values()
            if spec.extra is not None:
                todo.append(spec.extra)
    return list(seen.values())


ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 0.5, -0.0, 1e300, math.inf, -math.inf, math.nan,
    "", "x", "stop", "length", "Content-Type", "bad header", "a\nb", [], [1], ["x"], {},
    {"x": 1}, {1: "a"}, {"content": "hi"}, {"model": 3},
]  # fmt: skip


def _sample(spec: s.Spec, rng: random.Random, depth: int = 0) -> Any:
    """A value shaped for the spec, most of the time; otherwise one of ODD_VALUES."""
    if isinstance(spec, s.Ref):
        spec = s.DEFS[spec.name]
    if depth > 6 or rng.random() < 0.08:
        return rng.choice(ODD_VALUES)
    if isinstance(spec, s.OneOf):
        return _sample(rng.choice(spec.options), rng, depth + 1)
    if isinstance(spec, s.Str):
        return rng.choice(["text", "x", "", 3] if spec.coerce else ["text", "x", ""])
    if isinstance(spec, s.Num):
        low = spec.min if spec.min is not None else -5
        high = spec.max if spec.max is not None else low + 100
        picks: list[Any] = [low, high, (low + high) / 2, int(low), int(high) + 1, low - 1]
        return rng.choice(picks)
    if isinstance(spec, s.Bool):
        return rng.random() < 0.5
    if isinstance(spec, s.Enum):
        return rng.choice(spec.values) if spec.values else None
    if isinstance(spec, s.ListOf):
        return [_sample(spec.item, rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if isinstance(spec, s.MapOf):
        return {f"k{i}": _sample(spec.value, rng, depth + 1) for i in range(rng.randint(0, 2))}
    if isinstance(spec, s.Headers):
        return rng.choice([{"X-Trace": "1"}, {"X-Trace": 2}, {"bad name": "x"}, {"X-A": "a\nb"}])
    if isinstance(spec, s.Obj):
        out: dict[Any, Any] = {}
        for key in spec.required:
            if rng.random() < 0.95:
                out[key] = _sample(spec.fields.get(key, s.AnyValue()), rng, depth + 1)
        for key, field_spec in spec.fields.items():
            if key not in out and rng.random() < 0.4:
                out[key] = _sample(field_spec, rng, depth + 1)
        if rng.random() < 0.05:
            out["unknown_key"] = 1
        if spec.extra is not None and rng.random() < 0.3:
            out["extra"] = _sample(spec.extra, rng, depth + 1)
        return out
    return rng.choice(ODD_VALUES)


def _found_by_walk(spec: s.Spec, value: Any) -> bool:
    """Whether the detailed walk finds a problem at this level or below."""
    resolved = spec
    while isinstance(resolved, s.Ref):
        resolved = s.DEFS[resolved.name]
    return next(s._problems(resolved, value, ()), None) is not None


@pytest.mark.parametrize("name", list(FORMATS))
def test_validator_answers_what_the_walk_finds(name: str) -> None:
    rng = random.Random(name)
    specs = _specs(FORMATS[name])
    right = wrong = 0
    for spec in specs:
        for value in [*ODD_VALUES, *(_sample(spec, rng) for _ in range(60))]:
            valid = s._validator(spec)(value)
            assert valid is not _found_by_walk(spec, value), (spec, value)
            right += valid
            wrong += not valid
    assert right > 50 and wrong > 50  # both answers were exercised


def _documents() -> list[tuple[s.Spec, Any]]:
    docs: list[tuple[s.Spec, Any]] = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        docs.append((loader.FORMAT, yaml.safe_load(path.read_text(encoding="utf-8"))))
    for path in sorted((ROOT / "mockllm" / "profiles").glob("*.yaml")):
        docs.append((profiles.FORMAT, yaml.safe_load(path.read_text(encoding="utf-8"))))
    return docs


def _mutate(value: Any, rng: random.Random) -> Any:
    """The value with one thing changed somewhere inside it."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        value[key] = _mutate(value[key], rng)
        return value
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        value[i] = _mutate(value[i], rng)
        return value
    if isinstance(value, dict) and rng.random() < 0.5:
        value[rng.choice(["contnet", "extra", 7])] = "x"
        return value
    return rng.choice(ODD_VALUES)


def test_bundled_files_pass_and_every_mutation_is_reported_alike() -> None:
    rng = random.Random(7)
    for spec, document in _documents():
        assert list(s.check(spec, document)) == []
        for _ in range(150):
            changed = _mutate(copy.deepcopy(document), rng)
            problems = list(s.check(spec, changed))
            assert (not problems) is s._validator(spec)(changed)
            assert (not problems) is not _found_by_walk(spec, changed)


def test_a_problem_deep_inside_is_still_named_with_its_path() -> None:
    document = {"version": 1, "rules": [{"reply": {"content": "a"}}, {"reply": {"contnet": 1}}]}
    problems = list(s.check(loader.FORMAT, document))
    assert [s.dotted(path) for path, _ in problems] == ["rules[1].reply.contnet"]
    assert "did you mean 'content'" in problems[0][1]
