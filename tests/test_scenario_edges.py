"""Scenario files at their edges: YAML merge keys, values compared as data, faker arguments,
every problem of a file reported, templates, hidden and non-UTF-8 files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
import yaml

from mockllm.errors import ScenarioError
from mockllm.loader import load_text, parse_document
from tests.conftest import RunningServer


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_text(textwrap.dedent(text), "s.yaml")
    return [str(p) for p in info.value.problems]


MERGED = """\
version: 1
rules:
  - name: a
    match: &mm { model: "gpt-4o-mini", last_user: "x" }
    reply: &r { content: "anchored", latency: { ttft_ms: 5 } }
  - name: b
    match: { <<: *mm, stream: true }
    reply: { <<: *r, content: "merged ok" }
  - name: c
    reply: { <<: [*r, { content: "second" }], finish_reason: length }
"""


def test_merge_keys_are_overridden_by_the_mappings_own_keys() -> None:
    rules = load_text(MERGED, "m.yaml")
    data = yaml.safe_load(MERGED)
    for rule, raw in zip(rules, data["rules"], strict=True):
        choice = rule.replies[0].choices[0]
        assert choice.content is not None and choice.content.source == raw["reply"]["content"]
        assert rule.replies[0].latency.ttft_ms == raw["reply"]["latency"]["ttft_ms"]
    assert {c.key for c in rules[1].conditions} == {"model", "last_user", "stream"}


def test_a_key_written_twice_beside_a_merge_is_still_a_duplicate() -> None:
    found = problems(
        """
        rules:
          - name: a
            reply: &r { content: "x" }
          - name: b
            reply: { <<: *r, content: "y", content: "z" }
        """
    )
    assert found == ["s.yaml:6: rules[1].reply.content: duplicate key"]


def test_an_overriding_key_is_reported_at_its_own_line() -> None:
    found = problems(
        """
        rules:
          - name: a
            reply: &r
              content: "x"
              latency: { ttft_ms: 5 }
          - name: b
            reply:
              <<: *r
              latency:
                ttft_ms: -1
        """
    )
    assert found == ["s.yaml:11: rules[1].reply.latency.ttft_ms: expected a value >= 0, found -1"]


def test_parse_document_keeps_the_merged_value_of_safe_load() -> None:
    data, _ = parse_document(MERGED, "m.yaml")
    assert data == yaml.safe_load(MERGED)


BOOLEANS = """\
version: 1
rules:
  - name: serial
    match: { body: { parallel_tool_calls: false } }
    reply: { content: "one call at a time" }
  - name: logprobs
    match: { body: { logprobs: [true, "x"] } }
    reply: { content: "with logprobs" }
  - name: said-true
    match: { last_user: true }
    reply: { content: "said true" }
  - name: number
    match: { last_message: { content: 42 } }
    reply: { content: "said 42" }
  - name: zero
    match: { body: { temperature: 0 } }
    reply: { content: "temperature zero" }
"""


def test_booleans_in_body_and_message_patterns_load_and_compare_as_values() -> None:
    rules = load_text(BOOLEANS, "b.yaml")
    assert [r.name for r in rules] == ["serial", "logprobs", "said-true", "number", "zero"]


def test_schema_export_accepts_booleans_in_patterns() -> None:
    import jsonschema

    from mockllm.loader import scenario_schema

    validator = jsonschema.Draft202012Validator(scenario_schema())
    assert list(validator.iter_errors(yaml.safe_load(BOOLEANS))) == []


def test_booleans_are_answered_through_the_front_door(
    serve: Callable[..., RunningServer], tmp_path: Path
) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(BOOLEANS)
    server = serve("--scenarios", str(path))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)

    def ask(text: str, **extra: object) -> str | None:
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **extra
        )
        return completion.choices[0].message.content

    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert ask("hi", tools=[tool], parallel_tool_calls=False) == "one call at a time"
    assert ask("hi", logprobs=True) == "with logprobs"
    assert ask("true") == "said true"
    assert ask("42") == "said 42"
    assert ask("hi", temperature=0) == "temperature zero"
    # false is not 0: the rule on temperature 0 does not take a body whose value is false
    rules = load_text(BOOLEANS, "b.yaml")
    body = rules[4].conditions[0].arg[0][2]
    assert body.test(0) and not body.test(False)


FAKER = """\
version: 1
rules:
  - name: order
    match: { last_user: "order" }
    reply: { faker: { provider: lexify, text: "ORD-????" } }
  - name: code
    match: { last_user: "code" }
    reply: { faker: { provider: numerify, text: "###-###" } }
  - name: both
    match: { last_user: "both" }
    reply: { faker: { provider: bothify, text: "??-##", letters: "AB" } }
  - name: plain
    match: { last_user: "plain" }
    reply: { faker: { text: sentence } }
"""


def test_faker_text_is_the_argument_when_a_provider_is_given(
    serve: Callable[..., RunningServer], tmp_path: Path
) -> None:
    import re

    rules = load_text(FAKER, "f.yaml")
    order = rules[0].replies[0].choices[0].faker
    assert order is not None and order.provider == "lexify"
    assert dict(order.args) == {"text": "ORD-????"}
    path = tmp_path / "f.yaml"
    path.write_text(FAKER)
    server = serve("--scenarios", str(path))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)

    def ask(text: str) -> str:
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        return completion.choices[0].message.content or ""

    assert re.fullmatch(r"ORD-[A-Za-z]{4}", ask("order"))
    assert re.fullmatch(r"\d{3}-\d{3}", ask("code"))
    assert re.fullmatch(r"[AB]{2}-\d{2}", ask("both"))
    assert ask("plain").endswith(".")


def test_a_faker_pattern_of_the_wrong_type_is_refused_with_its_line() -> None:
    found = problems(
        """
        rules:
          - reply: { faker: { provider: lexify, text: "ok", words: 3 } }
        """
    )
    assert len(found) == 1 and found[0].startswith("s.yaml:3: rules[0].reply.faker: "), found


def test_problems_in_version_and_defaults_do_not_hide_those_of_the_rules() -> None:
    found = problems(
        """
        version: "one"
        defaults:
          latency: { ttft_ms: -1 }
          headers: { x-a: [1] }
          priorty: 3
        rules:
          - reply: { content: x, finish_reason: stopp }
          - match: { last_usr: hi }
            reply: { content: y }
        """
    )
    assert [p.split(": ", 2)[:2] for p in found] == [
        ["s.yaml:2", "version"],
        ["s.yaml:4", "defaults.latency.ttft_ms"],
        ["s.yaml:5", "defaults.headers.x-a"],
        ["s.yaml:6", "defaults.priorty"],
        ["s.yaml:8", "rules[0].reply.finish_reason"],
        ["s.yaml:9", "rules[1].match.last_usr"],
    ], found


def test_an_unclosed_template_is_refused_naming_file_line_and_field() -> None:
    found = problems(
        """
        rules:
          - name: a
            reply: { content: "hi {{ last_user " }
          - name: b
            reply:
              tool_calls:
                - name: f
                  arguments: { city: "{{ tool_args.city }} and {{" }
        """
    )
    assert found == [
        "s.yaml:4: rules[0].reply.content: unclosed '{{' at character 4: '{{ last_user ';"
        " a template hole is {{ expr }}",
        "s.yaml:9: rules[1].reply.tool_calls[0].arguments.city: unclosed '{{' at character 26:"
        " '{{'; a template hole is {{ expr }}",
    ]


def test_hidden_files_are_left_out_of_scenario_and_cassette_folders(
    serve: Callable[..., RunningServer], tmp_path: Path
) -> None:
    import subprocess
    import sys

    scenarios, cassettes = tmp_path / "s", tmp_path / "cas"
    (scenarios / ".git").mkdir(parents=True)
    cassettes.mkdir()
    (scenarios / "a.yaml").write_text(
        "version: 1\nrules:\n  - name: a\n    reply: { content: from a }\n"
    )
    (scenarios / ".#a.yaml").symlink_to("someone@host.1234:1700000000")  # an editor's lock
    (scenarios / ".git" / "x.yaml").write_text("rules: [\n")
    (cassettes / ".#x.yaml").symlink_to("someone@host.1234:1700000000")
    done = subprocess.run(
        [sys.executable, "-m", "mockllm", "validate", str(scenarios)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    server = serve("--scenarios", str(scenarios), "--cassettes", str(cassettes))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "from a"


def test_hot_reload_is_not_stopped_by_a_lock_file(tmp_path: Path) -> None:
    from mockllm.reload import scenario_watch

    (tmp_path / "a.yaml").write_text("rules:\n  - name: a\n    reply: { content: one }\n")
    applied: list[tuple[object, ...]] = []
    watch = scenario_watch((tmp_path,), applied.append)
    (tmp_path / ".#a.yaml").symlink_to("someone@host.1234:1700000000")
    (tmp_path / "a.yaml").write_text("rules:\n  - name: a\n    reply: { content: two }\n")
    assert watch.check() and len(applied) == 1


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    from mockllm.loader import load_scenarios

    path = tmp_path / "l.yaml"
    path.write_bytes(b'version: 1\nrules:\n  - name: b\n    reply: {content: "caf\xe9"}\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenarios([path])
    assert [str(p) for p in caught.value.problems] == [f"{path}:4: not UTF-8 text: byte 0xe9"]


def test_a_cassette_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    from mockllm.cassettes import CassetteError, read_cassette

    path = tmp_path / "c.yaml"
    path.write_bytes(b"interactions:\n- request: {method: POST, uri: 'caf\xe9'}\n")
    with pytest.raises(CassetteError, match=r"c\.yaml:2: not UTF-8 text: byte 0xe9"):
        read_cassette(path, "c.yaml")


def test_rules_in_subfolders_are_named_by_their_path_in_the_folder(
    serve: Callable[..., RunningServer], tmp_path: Path
) -> None:
    import httpx

    folder = tmp_path / "s1"
    for sub, word in (("p/a", "alpha"), ("p/b", "beta")):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "x.yaml").write_text(
            "rules:\n  - name: r\n"
            f"    match: {{ last_user: {word} }}\n"
            f"    sequence: [{{ content: {word}-1 }}, {{ content: {word}-2 }}]\n"
        )
    (folder / "top.yaml").write_text("rules:\n  - name: r\n    reply: { content: top }\n")
    server = serve("--scenarios", str(folder))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)

    def ask(text: str) -> str | None:
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        return completion.choices[0].message.content

    # each file's sequence counts on its own: the two rules do not share one name
    assert [ask("alpha"), ask("beta"), ask("alpha"), ask("other")] == [
        "alpha-1",
        "beta-1",
        "alpha-2",
        "top",
    ]
    journal = httpx.get(f"{server.url}/__admin/requests", timeout=5).json()["requests"]
    refs = ["p/a/x.yaml#r", "p/b/x.yaml#r", "p/a/x.yaml#r", "top.yaml#r"]
    assert [e["rule"] for e in journal] == refs
    log = server.log_with("rule=top.yaml#r")
    assert "rule=p/a/x.yaml#r" in log and "rule=p/b/x.yaml#r" in log
    by_rule = httpx.get(f"{server.url}/__admin/requests?rule=p/b/x.yaml%23r", timeout=5).json()
    assert len(by_rule["requests"]) == 1
