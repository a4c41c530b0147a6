"""Every bundled scenario loads; `mockllm validate` agrees."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mockllm.cli import main
from mockllm.loader import load_scenarios

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))


def test_there_are_examples():
    names = {p.stem for p in FILES}
    assert {"greeting", "weather", "retry", "errors", "chinese"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_loads(path: Path):
    rules = load_scenarios([path])
    assert rules, f"{path.name} has no rules"
    assert all(rule.file == str(path) for rule in rules)


def test_validate_command_accepts_the_folder():
    result = CliRunner().invoke(main, ["validate", str(SCENARIOS)])
    assert result.exit_code == 0, result.output
    assert f"in {len(FILES)} file(s)" in result.output


def test_bundled_failures_need_asking_for():
    """Ordinary requests never hit an error or fault rule (they name a model or key)."""
    rules = load_scenarios([SCENARIOS])
    for rule in rules:
        failing = any(r.error is not None or r.fault is not None for r in rule.replies)
        if failing:
            keys = {c.key for c in rule.conditions}
            assert keys & {"model", "api_key"}, f"{rule.ref} fails without being asked"
