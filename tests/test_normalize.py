"""Request normalisers: paths, built-ins, regex rewrites, and the folder's mockllm.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mockllm.errors import ConfigError
from mockllm.normalize import (
    BUILTINS,
    Normalizer,
    builtin,
    config_file,
    for_folder,
    load_config,
    parse_path,
    regex_rewrite,
)

UUID_A = "0f8fad5b-d9cb-469f-a165-70867728950e"
UUID_B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def normal(normalizer: Normalizer, data: Any) -> Any:
    return normalizer.apply(data)[0]


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("user", ("user",)),
        ("metadata.session_id", ("metadata", "session_id")),
        ("messages[*].content", ("messages", None, "content")),
        ("messages.*.content", ("messages", None, "content")),
        ("$.input[0].content[*].text", ("input", 0, "content", None, "text")),
        ("messages[-1]", ("messages", -1)),
    ],
)
def test_paths_parse(text: str, steps: tuple[Any, ...]) -> None:
    assert parse_path(text) == steps


@pytest.mark.parametrize("text", ["", "a..b", "a[x]", "a]b", "a[0]b"])
def test_malformed_paths_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="JSON path"):
        parse_path(text)


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        ("uuid", f"ticket {UUID_A.upper()} opened", "ticket <uuid> opened"),
        ("iso_timestamp", "at 2024-05-01T12:30:00Z.", "at <timestamp>."),
        ("iso_timestamp", "at 2024-05-01 12:30:00.123+02:00 ok", "at <timestamp> ok"),
        ("iso_timestamp", "on 2024-05-01 only", "on 2024-05-01 only"),  # a date is no time
        ("epoch", "sent 1712345678 and 1712345678123 ms", "sent <epoch> and <epoch> ms"),
        ("epoch", "order 123456", "order 123456"),
        (
            "temp_path",
            "read /tmp/pytest-of-ci/pytest-12/test_report0/out.csv",
            "read <tmp>/out.csv",
        ),
        ("temp_path", "saved to /tmp/tmpab12_x9z/data.json", "saved to <tmp>/data.json"),
        ("temp_path", "/private/var/folders/ab/cd12/T/tmpqwertyui/x", "<tmp>/x"),
        ("temp_path", r"C:\Users\ann\AppData\Local\Temp\tmp1a2b3c4d\x.txt", r"<tmp>\x.txt"),
        ("temp_path", "/tmp is a folder, /home/ann/report.csv is kept", None),
    ],
)
def test_builtins_rewrite_what_changes_between_runs(name: str, before: str, after: str | None):
    normalizer = Normalizer((), (builtin(name),))
    assert normal(normalizer, {"text": before}) == {"text": after or before}


def test_epoch_also_rewrites_numbers_but_not_small_ones() -> None:
    normalizer = Normalizer.build(builtins=["epoch"])
    data, notes = normalizer.apply({"created": 1712345678, "ms": 1712345678901, "n": 42})
    assert data == {"created": "<epoch>", "ms": "<epoch>", "n": 42}
    assert notes == {"created": ["epoch"], "ms": ["epoch"]}


def test_two_runs_normalise_to_the_same_body() -> None:
    normalizer = Normalizer.build(builtins=BUILTINS)

    def body(uuid: str, when: str, tmp: str) -> dict[str, Any]:
        text = f"Summarise {tmp}/notes.txt for request {uuid} sent {when}"
        return {"messages": [{"role": "user", "content": text}]}

    first = body(UUID_A, "2024-05-01T12:30:00Z", "/tmp/pytest-of-a/pytest-1/test_x0")
    second = body(UUID_B, "2025-01-09T08:00:01.5+01:00", "/tmp/pytest-of-a/pytest-7/test_x0")
    assert first != second
    assert normal(normalizer, first) == normal(normalizer, second)
    assert normal(normalizer, first)["messages"][0]["content"] == (
        "Summarise <tmp>/notes.txt for request <uuid> sent <timestamp>"
    )


def test_rewrites_under_a_path_leave_the_rest_alone() -> None:
    normalizer = Normalizer((), (builtin("uuid", (parse_path("messages[*].content"),)),))
    data, notes = normalizer.apply(
        {
            "user": UUID_A,
            "messages": [
                {"role": "user", "content": f"id {UUID_A}"},
                {"role": "user", "content": [{"type": "text", "text": f"again {UUID_B}"}]},
            ],
        }
    )
    assert data["user"] == UUID_A
    assert data["messages"][0]["content"] == "id <uuid>"
    assert data["messages"][1]["content"] == [{"type": "text", "text": "again <uuid>"}]
    assert notes == {"messages[0].content": ["uuid"], "messages[1].content[0].text": ["uuid"]}


def test_ignored_paths_reach_nested_fields() -> None:
    normalizer = Normalizer.build(ignore=["user", "metadata.session_id", "messages[*].name"])
    data = normal(
        normalizer,
        {
            "user": "ann",
            "metadata": {"session_id": "s-1", "team": "qa"},
            "messages": [{"role": "user", "name": "ann", "content": "hi"}],
        },
    )
    assert data == {"metadata": {"team": "qa"}, "messages": [{"role": "user", "content": "hi"}]}


def test_regex_rewrites_use_groups_and_run_on_re2_for_long_texts() -> None:
    rewrite = regex_rewrite(r"order (ORD)-\d+", r"order \1-N", name="order-number")
    normalizer = Normalizer((), (rewrite,))
    long = "x" * 10_000 + " order ORD-991 " + "y" * 10_000
    data, notes = normalizer.apply({"q": "order ORD-12 and order ORD-345", "long": long})
    assert data["q"] == "order ORD-N and order ORD-N"
    assert "order ORD-N" in data["long"] and "991" not in data["long"]
    assert notes == {"q": ["order-number"], "long": ["order-number"]}


@pytest.mark.parametrize(
    ("pattern", "replacement", "message"),
    [
        ("(a+)+b", "", "repeats something that itself repeats"),
        ("[unclosed", "", "invalid regex"),
        ("(x)", r"\2", "replacement"),
    ],
)
def test_bad_regexes_are_refused(pattern: str, replacement: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        regex_rewrite(pattern, replacement)


def test_an_unknown_builtin_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"'uid'; did you mean 'uuid'\? valid: uuid, iso_time"):
        builtin("uid")


CONFIG = """\
match:
  ignore: [user, "metadata.trace_id"]
  normalize:
    - uuid
    - builtin: iso_timestamp
      paths: ["messages[*].content"]
    - name: order-number
      regex: "ORD-[0-9]+"
      replace: "ORD-N"
"""


def test_the_folder_file_is_read_and_flags_add_to_it(tmp_path: Path) -> None:
    (tmp_path / "mockllm.yaml").write_text(CONFIG)
    assert config_file(tmp_path) == tmp_path / "mockllm.yaml"
    normalizer = for_folder(tmp_path, ignore=["seed"], builtins=["epoch"])
    assert [r.name for r in normalizer.rewrites] == [
        "uuid",
        "iso_timestamp",
        "order-number",
        "epoch",
    ]
    assert normalizer.ignore == (("user",), ("metadata", "trace_id"), ("seed",))
    data = normal(
        normalizer,
        {
            "user": "x",
            "seed": 1,
            "metadata": {"trace_id": "t", "at": "2024-05-01T10:00:00Z"},
            "messages": [{"content": f"ORD-77 {UUID_A} 2024-05-01T10:00:00Z 1712345678"}],
        },
    )
    assert data == {
        "metadata": {"at": "2024-05-01T10:00:00Z"},  # iso_timestamp only under messages
        "messages": [{"content": "ORD-N <uuid> <timestamp> <epoch>"}],
    }
    assert for_folder(tmp_path / "none") == Normalizer()


def test_every_problem_of_the_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "mockllm.yaml"
    path.write_text(
        "match:\n"
        "  ignore: ['a..b']\n"
        "  normalise: [uuid]\n"
        "  normalize:\n"
        "    - uid\n"
        "    - {builtin: uuid, regex: x}\n"
        "    - {regex: '(a+)+'}\n"
        "    - {builtin: epoch, pathz: [x]}\n"
        "record: {}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "does not validate (7 problem(s))" in text, text
    for expected in [
        ":2: match.ignore[0]: JSON path 'a..b' is not valid",
        ":3: match.normalise: unknown key 'normalise'; did you mean 'normalize'?",
        ":5: match.normalize[0]: unknown built-in normaliser 'uid'; did you mean 'uuid'?",
        ":6: match.normalize[1]: give one of 'builtin' (a built-in's name) or 'regex'",
        ":7: match.normalize[2]: regex '(a+)+' repeats something that itself repeats",
        ":8: match.normalize[3].pathz: unknown key 'pathz'; did you mean 'paths'?",
        ":9: record: unknown key 'record'; valid keys: match",
    ]:
        assert expected in text, (expected, text)


def test_serve_refuses_a_broken_file_as_the_docs_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from mockllm.cli import main

    (tmp_path / "cassettes").mkdir()
    (tmp_path / "cassettes" / "mockllm.yaml").write_text(
        "match:\n  ignore: [user]\n  normalise: [uuid]\n  normalize:\n    - uid\n"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["serve", "--cassettes", "cassettes", "--port", "0"])
    assert result.exit_code == 1
    shown = (Path(__file__).parents[1] / "docs" / "recording.md").read_text()
    assert result.stderr.strip().startswith("mockllm: cassettes/mockllm.yaml does not validate")
    assert result.stderr.strip() in shown


def test_the_documented_settings_file_loads(tmp_path: Path) -> None:
    import re

    shown = (Path(__file__).parents[1] / "docs" / "recording.md").read_text()
    (block,) = re.findall(r"```yaml\n# cassettes/mockllm.yaml\n(.*?)```", shown, re.S)
    (tmp_path / "mockllm.yaml").write_text(block)
    normalizer = for_folder(tmp_path)
    assert [r.name for r in normalizer.rewrites] == ["uuid", "iso_timestamp", "order-number"]
    data = normal(normalizer, {"input": "ORD-12", "user": "x", "messages": []})
    assert data == {"input": "ORD-<n>", "messages": []}


def test_flags_and_environment_reach_the_config() -> None:
    from unittest import mock

    from click.testing import CliRunner

    import mockllm.cli as cli

    seen = []
    with mock.patch.object(cli, "_run", seen.append):
        args = ["serve", "--normalize", "uuid", "--normalize-regex", "ORD-[0-9]+", "ORD-N"]
        args += ["--ignore-field", "messages[*].name", "--cassettes-skip-unreadable"]
        assert CliRunner().invoke(cli.main, args).exit_code == 0
        env = {"MOCKLLM_NORMALIZE": "uuid epoch", "MOCKLLM_NORMALIZE_REGEX": "a+ A b+ B"}
        assert CliRunner().invoke(cli.main, ["serve"], env=env).exit_code == 0
    flags, environment = seen
    assert flags.normalize == ("uuid",) and flags.normalize_regex == (("ORD-[0-9]+", "ORD-N"),)
    assert flags.ignore_fields == ("messages[*].name",) and flags.cassettes_skip_unreadable
    assert environment.normalize == ("uuid", "epoch")
    assert environment.normalize_regex == (("a+", "A"), ("b+", "B"))
