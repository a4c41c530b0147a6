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
