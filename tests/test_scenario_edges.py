"""Scenario files at their edges: YAML merge keys, values compared as data, faker arguments,
every problem of a file reported, templates, hidden and non-UTF-8 files."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from mockllm.errors import ScenarioError
from mockllm.loader import load_text, parse_document


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
