"""mockllm.yamlfast gives what PyYAML's own safe loader gives: the same values, the same
tags on every node, the same errors."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import yaml

from mockllm import yamlfast
from mockllm.cassettes import _SafeLoader as CassetteLoader

BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
QUICK = yamlfast.loader(BASE)

DOCUMENTS = [
    "a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: true",
    "a: 012\nb: 0x1F\nc: 1_000\nd: 1:20\ne: +1\nf: -0\ng: 0b101",
    "a: 1e3\nb: 8e5\nc: 1.5e+3\nd: .inf\ne: -.Inf\nf: 3.\ng: 0o17\nh: 1.2.3",
    "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10 -5",
    "a: ~\nb: null\nc:\nd: ''\ne: \"\"\nf: Null\ng: NULL",
    "a: 'yes'\nb: \"012\"\nc: '1e3'\nd: !!str 12\ne: !!int '12'\nf: !!float '1'",
    "a: |\n  one\n  two\nb: >\n  folded\n  text\nc: |-\n  kept\n",
    "a: &x [1, 2, {k: v}]\nb: *x\nc: &y {p: q}\nd: *y",
    "base: &b {x: 1, y: 2}\nmerged:\n  <<: *b\n  y: 3\n  z: 4",
    "merged: {<<: [{a: 1}, {b: 2}], c: 3}",
    "= : value key\nother: 1",
    "a: !!binary aGVsbG8=\nb: !!set {x, y}\nc: !!omap [{a: 1}, {b: 2}]\nd: !!pairs [{a: 1}]",
    "? complex\n: 1\n? [a]\n: 2",
    "- 1\n- - 2\n  - 3\n- {a: [4, {b: 5}]}",
    "{a: 1, a: 2}",
    "just a string",
    "",
    "# only a comment\n",
    "a: 'it''s'\nb: \"tab\\tnewline\\n\\u00e9\"\nc: caf\u00e9 \u4e2d\u6587 \U0001f600",
    "key with spaces: value: with colon\n'quoted key': 1\n123: number key\ntrue: bool key",
    "a: [1, 2\n",  # not YAML
    "a: 1\n---\nb: 2",  # two documents
    "a: *nowhere",
    "a: !!python/object:os.system x",
]


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


def _outcome(load: Any) -> tuple[str, Any]:
    try:
        return "value", load()
    except yaml.YAMLError as exc:
        return "error", (type(exc).__name__, str(exc))


@pytest.mark.parametrize("text", DOCUMENTS)
@pytest.mark.parametrize("base", [BASE, CassetteLoader], ids=["safe", "cassette"])
def test_the_same_value_or_the_same_error_as_pyyaml(text: str, base: Any) -> None:
    expected = _outcome(lambda: yaml.load(text, Loader=base))
    got = _outcome(lambda: yamlfast.load(text, yamlfast.loader(base)))
    assert expected[0] == got[0], (expected, got)
    if expected[0] == "error":
        assert got == expected
    else:
        assert _same(expected[1], got[1]), (expected, got)


def test_an_alias_is_the_same_object_and_a_recursive_document_loads() -> None:
    data = yamlfast.load("a: &x [1, {k: v}]\nb: *x", QUICK)
    assert data["a"] is data["b"]
    looped = yamlfast.load("&top {self: *top, list: &l [*l]}", QUICK)
    assert looped["self"] is looped and looped["list"][0] is looped["list"]


def test_every_node_gets_the_tag_pyyaml_resolves() -> None:
    for text in DOCUMENTS[:15]:
        want = yaml.compose(text, Loader=BASE)
        got = yaml.compose(text, Loader=QUICK)
        assert _tags(want) == _tags(got), text


def _tags(node: Any) -> list[tuple[str, str]]:
    if node is None:
        return []
    if isinstance(node, yaml.ScalarNode):
        return [(node.tag, node.value)]
    if isinstance(node, yaml.SequenceNode):
        return [(node.tag, "seq"), *(t for item in node.value for t in _tags(item))]
    pairs = [t for key, value in node.value for t in (*_tags(key), *_tags(value))]
    return [(node.tag, "map"), *pairs]


def _random_value(rng: random.Random, depth: int) -> Any:
    scalars = [
        "plain", "yes", "No", "012", "1e3", "0x1F", "1_000", "1:20", "~", "", "null", "2001-12-14",
        "multi\nline\ntext", "  padded ", "quote'd", 'dq"', "# not a comment", "a: b", "- x",
        "caf\u00e9", 0, 7, -12, 1.5, float("inf"), True, False, None, 10**20,
    ]  # fmt: skip
    if depth >= 3 or rng.random() < 0.4:
        return rng.choice(scalars)
    if rng.random() < 0.5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        str(rng.choice(scalars)): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))
    }


@pytest.mark.parametrize("seed", range(40))
def test_dumped_data_reads_back_the_same(seed: int) -> None:
    rng = random.Random(seed)
    data = {f"k{i}": _random_value(rng, 0) for i in range(6)}
    for style in (False, True, None):
        text = yaml.safe_dump(data, default_flow_style=style, allow_unicode=rng.random() < 0.5)
        assert _same(yaml.load(text, Loader=BASE), yamlfast.load(text, QUICK))
