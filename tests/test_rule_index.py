"""RuleIndex: the candidates it finds select exactly what testing every rule selects.

Rules of every kind of condition (exact, contains, regex, glob, lists, body fields, with
and without ignore_case) against requests built to hit and miss them, including texts
where Python's re and RE2 could read a pattern differently (case folding, final newlines,
Unicode digits and letters).
"""

from __future__ import annotations

import json
import random

import pytest

from mockllm.rule_index import RuleIndex, broad_regex
from mockllm.selector import ordered, select
from mockllm.state import MemoryStore
from tests.factories import make_chat_request, make_rules

WORDS = ["refund", "Refund", "weather", "Oslo", "İstanbul", "istanbul", "ſale", "sale",
         "K", "k", "٣", "3", "café", "CAFÉ", "a.b", "a-b", "x*y", "end\n", "end", "(x)",
         "\u00a0gap", "tab\tbed", "straße", "STRASSE"]  # fmt: skip
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "deepseek-chat", "my-gpt-4o"]


def pattern(rng: random.Random, names: bool = False) -> object:
    word = rng.choice(MODELS if names else WORDS)
    kind = rng.choice(
        ["plain", "contains", "contains_i", "regex", "regex_i", "glob", "list", "exact_i"]
    )
    if kind == "plain":
        return word
    if kind == "contains":
        return {"contains": word[: rng.randint(1, len(word))]}
    if kind == "contains_i":
        return {"contains": word[: rng.randint(1, len(word))], "ignore_case": True}
    if kind == "exact_i":
        return {"exact": word, "ignore_case": True}
    if kind == "regex":
        return {"regex": rng.choice([r"\d", r"^\w+$", r"end$", r"(?i)istanbul", r"a\.b",
                                     r"re(fund|ward)", r"[0-9]", r"caf[eé]", r"x\*y", r"^K",
                                     r"s{,2}", r"\bsale\b", r"gap", r"[ab]x"])}  # fmt: skip
    if kind == "regex_i":
        return {
            "regex": rng.choice([r"^k", r"sale", r"istanbul", r"caf[eé]", r"\d"]),
            "ignore_case": True,
        }
    if kind == "glob":
        return {
            "glob": rng.choice(["*fund*", "gpt-4o*", "*Oslo", "caf?", "[ck]*", "end*", "*İ*"]),
            "ignore_case": rng.random() < 0.5,
        }
    return [rng.choice(WORDS), {"contains": rng.choice(WORDS)}]


def rule(rng: random.Random, index: int) -> dict[str, object]:
    match: dict[str, object] = {}
    for _ in range(rng.randint(0, 3)):
        key = rng.choice(["model", "last_user", "system", "body", "api", "stream", "any_message"])
        if key == "model":
            match["model"] = pattern(rng, names=True)
        elif key == "body":
            field = rng.choice(["metadata.case", "temperature", "store"])
            values = ["a", "b", "1", "true", 1, 0.5, 0, 1.0, True, False]
            match["body"] = {field: rng.choice(values)}
        elif key == "api":
            match["api"] = "chat"
        elif key == "stream":
            match["stream"] = rng.random() < 0.5
        else:
            match[key] = pattern(rng)
    return {"name": f"r{index}", "match": match, "reply": {"content": f"r{index}"}}


def request(rng: random.Random):  # type: ignore[no-untyped-def]
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 3)))
    fields: dict[str, object] = {}
    if rng.random() < 0.7:
        fields["metadata"] = {"case": rng.choice(["a", "b", "1", "c", "true"])}  # strings
    if rng.random() < 0.5:
        fields["store"] = rng.random() < 0.5
    if rng.random() < 0.5:
        fields["temperature"] = rng.choice([0, 0.5, 1, 1.0])
    messages = [{"role": "user", "content": words or rng.choice(WORDS)}]
    if rng.random() < 0.5:
        messages.insert(0, {"role": "system", "content": rng.choice(WORDS)})
    return make_chat_request(
        rng.choice(MODELS), messages=messages, stream=rng.random() < 0.3, **fields
    )


@pytest.mark.parametrize("seed", range(12))
def test_candidates_select_what_a_full_scan_selects(seed: int) -> None:
    rng = random.Random(seed)
    count = rng.choice([9, 40, 300])
    rules = ordered(make_rules(json.dumps({"rules": [rule(rng, i) for i in range(count)]})))
    index = RuleIndex(rules)
    store = MemoryStore()
    differs = []
    answered = 0
    for _ in range(400):
        sent = request(rng)
        everything = select(rules, sent, store, 0)
        candidates = index.candidates(sent)
        found = select(candidates, sent, store, 0)
        answered += everything is not None
        if (everything and everything.rule.name) != (found and found.rule.name):
            differs.append((sent.model, sent.system, sent.last_user, sent.body.get("metadata")))
        # every rule that matches is a candidate (the index only narrows)
        matching = [r.name for r in rules if all(c.holds(sent) for c in r.conditions)]
        kept = {r.name for r in candidates}
        assert set(matching) <= kept, (sent.last_user, set(matching) - kept)
    assert not differs, differs[:5]
    assert answered > 50  # the requests do hit rules


def test_many_rules_leave_few_candidates() -> None:
    text = {"rules": [
        {"name": f"n{i}", "match": {"last_user": {"contains": f"topic {i:05d}"}},
         "reply": {"content": str(i)}}
        for i in range(5000)
    ]}  # fmt: skip
    rules = ordered(make_rules(json.dumps(text)))
    index = RuleIndex(rules)
    sent = make_chat_request(user="tell me about topic 04321 please")
    assert [r.name for r in index.candidates(sent)] == ["n4321"]
    assert index.candidates(make_chat_request(user="nothing here")) == []


REGEXES = [
    r"refund", r"a\.b", r"re(fund|ward)+", r"(?:ab)c", r"\d+", r"^\w+$", r"\bsale\b",
    r"end$", r"s{,2}", r"(?m)^end", r"x(?=y)", r"(?<!a)b", r"(?P<q>['\"]).+(?P=q)",
    r"[^\w.]", r"caf[eé]", r"^K", r"[0-9]{2,}", r"(?s)a.b", r"a.b", r"\s\S", r"\D", r"^$",
    r"straße|strasse", r"(a|b)*?c", r"x*+y", r"(?>ab|a)c", r"(?i)istanbul", r"(?i)^k",
    r"(?i)SALE", r"(?i)STRASSE|café", r"a(?i:B)c", r"(?i)a(?-i:B)", r"(?i)[a-c]x", r"(?i)[^a]",
]  # fmt: skip
TEXTS = [
    "", "refund", "a.b", "reward rewardfund", "abc", "٣٤", "12", "word", "sale!", "end\n",
    "line\nend", "xy", "b", "ab", "'quoted'", "café", "K", "Kelvin", "a\nb", "a b",
    "straße", "cab", "xxxy", "abc", "\n", "İstanbul", "ISTANBUL", "\u212a", "ſale", "SALE",
    "STRASSE", "CAFÉ", "abC", "aBc", "AB", "Ax", "bX", "Ab", "ı",
]  # fmt: skip


@pytest.mark.parametrize("source", REGEXES)
def test_a_broad_regex_finds_whatever_pythons_finds(source: str) -> None:
    """The set's pattern lets through every text the matcher's regex matches."""
    import re

    import re2

    for anchors, ignore_case in ((True, False), (False, False), (True, True)):
        broad = broad_regex(source, ignore_case, anchors)
        assert broad is not None, source
        compiled = re2.compile(broad)
        for text in TEXTS:
            if re.search(source, text, re.IGNORECASE if ignore_case else 0):
                assert compiled.search(text), (source, broad, text)


@pytest.mark.parametrize("source", [r"(a)?(?(1)b|c)", r"a{2000}", "(unclosed"])
def test_what_the_sets_do_not_read_is_left_unfiled(source: str) -> None:
    assert broad_regex(source) is None


def test_an_ascii_character_folds_as_sre_s_tables_say() -> None:
    from mockllm.rule_index import _folded, _folded_from_tables

    for code in range(128):
        assert _folded(code) == _folded_from_tables(code), chr(code)
