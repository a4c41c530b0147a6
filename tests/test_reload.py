"""Reload: which files a profile is read from, and a watch that keeps what it had."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mockllm.errors import Problem, ScenarioError
from mockllm.reload import Watch, profile_files, scenario_watch


def test_a_profile_is_read_from_its_file_and_every_file_it_extends(tmp_path: Path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "team.yaml").write_text("extends: tokenhub\nname: team\n")
    (tmp_path / "acme.yaml").write_text("extends: base/team.yaml\nname: acme\n")
    assert profile_files(str(tmp_path / "acme.yaml")) == [
        tmp_path / "acme.yaml",
        tmp_path / "base" / "team.yaml",
    ]
    assert profile_files("tokenhub") == []  # a built-in: nothing to watch
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    assert profile_files(str(tmp_path / "loop.yaml")) == [tmp_path / "loop.yaml"]
    assert profile_files(str(tmp_path / "gone.yaml")) == [tmp_path / "gone.yaml"]


def test_a_watch_applies_changes_and_keeps_the_last_good_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, "mockllm.reload")
    path = tmp_path / "thing.yaml"
    path.write_text("good 1")
    applied: list[str] = []

    def load() -> str:
        text = path.read_text()
        if not text.startswith("good"):
            raise ScenarioError([Problem(str(path), 1, "thing", "not good")])
        return text

    def apply(value: str) -> str:
        applied.append(value)
        return f"applied {value}"

    watch = Watch("the thing", lambda: [path], load, apply, "the good thing")
    assert not watch.check()  # nothing changed
    path.write_text("bad!!!")
    assert not watch.check()
    assert applied == []
    assert (
        "the thing changed but does not validate (1 problem(s)); keeping the good thing:\n"
        f"  {path}:1: thing: not good"
    ) in caplog.text
    path.write_text("good 2")
    os.utime(path, ns=(1, 1))  # same size as before: the mtime alone tells the change
    assert watch.check()
    assert applied == ["good 2"] and "applied good 2" in caplog.text


def test_a_watch_keeps_the_problems_of_a_change_until_one_validates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "mockllm.reload")
    path = tmp_path / "rules.yaml"
    path.write_text("rules: []\n")
    applied: list[int] = []
    watch = scenario_watch((path,), lambda rules: applied.append(len(rules)))
    assert watch.problems == ()
    path.write_text("rules:\n  - name: a\n    reply: { contnet: x }\n")
    assert not watch.check()
    assert [str(p) for p in watch.problems] == [
        f"{path}:3: rules[0].reply.contnet: unknown key 'contnet'; did you mean 'content'? valid"
        " keys: content, faker, generate, chunks, tool_calls, refusal, finish_reason, logprobs,"
        " reasoning, choices, usage, headers, error, latency, fault, model"
    ]
    assert (
        "a scenario file changed but does not validate (1 problem(s)); keeping the previous"
        " rules:\n"
    ) in caplog.text
    path.write_text("rules:\n  - name: a\n    reply: { content: x }\n")
    assert watch.check() and applied == [1] and watch.problems == ()
