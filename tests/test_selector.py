"""select: which rule answers (priority, order, sequences, probability); near_misses."""

from __future__ import annotations

from typing import Any

import pytest

from mockllm.conversation import Conversation
from mockllm.loader import mark_runtime
from mockllm.rules import Rule
from mockllm.selector import Selection, near_misses, ordered, select
from mockllm.state import MemoryStore
from tests.factories import make_chat_request, make_rules


def pick(rules: tuple[Rule, ...], request: Conversation, store: Any = None, seed: int = 0):
    return select(ordered(rules), request, store or MemoryStore(), seed)


def said(selection: Selection | None) -> str | None:
    """What the selected reply says, or None when no rule answers."""
    if selection is None:
        return None
    content = selection.reply.choices[0].content
    return content.source if content is not None else None


def test_the_first_matching_rule_in_file_order_answers():
    rules = make_rules("""
    rules:
      - { name: other, match: { last_user: bye }, reply: { content: "Bye" } }
      - { name: first, match: { last_user: hi }, reply: { content: "First" } }
      - { name: second, match: { last_user: hi }, reply: { content: "Second" } }
    """)
    selection = pick(rules, make_chat_request(user="hi"))
    assert selection is not None
    assert (selection.rule.name, said(selection), selection.step) == ("first", "First", 0)
    assert selection.stable  # no state was consulted: the same request selects it again


def test_no_matching_rule_selects_nothing():
    rules = make_rules("rules: [{ name: a, match: { last_user: hi }, reply: { content: A } }]")
    assert pick(rules, make_chat_request(user="bye")) is None


def test_priority_comes_before_file_order_and_run_time_rules_before_file_rules():
    files = make_rules("""
    rules:
      - { name: plain, reply: { content: "plain" } }
      - { name: urgent, priority: 5, reply: { content: "urgent" } }
    """)
    runtime = mark_runtime(make_rules("rules: [{ name: added, reply: { content: added } }]"))
    assert [r.name for r in ordered((*files, *runtime))] == ["urgent", "added", "plain"]
    assert said(pick((*files, *runtime), make_chat_request())) == "urgent"


def sequence(then: str = "repeat_last", scope: str = "global") -> tuple[Rule, ...]:
    return make_rules(f"""
    rules:
      - name: steps
        sequence: [{{ content: "one" }}, {{ content: "two" }}]
        then: {then}
        sequence_scope: {scope}
      - {{ name: after, reply: {{ content: "after" }} }}
    """)


@pytest.mark.parametrize(
    ("then", "answers", "steps"),
    [
        ("repeat_last", ["one", "two", "two", "two"], [0, 1, 1, 1]),
        ("cycle", ["one", "two", "one", "two"], [0, 1, 0, 1]),
        ("fall_through", ["one", "two", "after", "after"], [0, 1, 0, 0]),
    ],
)
def test_what_follows_a_spent_sequence(then, answers, steps):
    rules, store, request = sequence(then), MemoryStore(), make_chat_request()
    selections = [pick(rules, request, store) for _ in range(4)]
    assert [said(s) for s in selections] == answers
    assert [s.step for s in selections if s is not None] == steps
    assert not any(s.stable for s in selections if s is not None)  # each read a counter


def test_a_spent_sequence_with_nothing_after_selects_nothing():
    rules = sequence("fall_through")[:1]
    store, request = MemoryStore(), make_chat_request()
    assert [said(pick(rules, request, store)) for _ in range(3)] == ["one", "two", None]


def test_a_global_sequence_is_shared_by_every_caller():
    rules, store = sequence(), MemoryStore()
    first = pick(rules, make_chat_request(headers={"authorization": "Bearer sk-a"}), store)
    second = pick(rules, make_chat_request(headers={"authorization": "Bearer sk-b"}), store)
    assert (said(first), said(second)) == ("one", "two")


def test_an_api_key_sequence_counts_per_key():
    rules, store = sequence(scope="api_key"), MemoryStore()
    a = make_chat_request(headers={"authorization": "Bearer sk-a"})
    b = make_chat_request(headers={"x-api-key": "sk-b"})
    answers = [said(pick(rules, r, store)) for r in (a, a, b, a, b)]
    assert answers == ["one", "two", "one", "two", "two"]


def test_a_conversation_sequence_counts_per_conversation():
    rules, store = sequence(scope="conversation"), MemoryStore()
    trip = [{"role": "system", "content": "Be a guide."}, {"role": "user", "content": "Trip?"}]
    later = [*trip, {"role": "assistant", "content": "Where?"}, {"role": "user", "content": "Rome"}]
    other = [{"role": "user", "content": "Recipe?"}]
    other_system = [{"role": "system", "content": "Be terse."}, trip[1]]
    answers = [
        said(pick(rules, make_chat_request(messages=messages), store))
        for messages in (trip, other, later, other_system)
    ]
    # The same system text and first user message are one conversation, at any turn.
    assert answers == ["one", "one", "two", "one"]


def test_a_sequence_makes_later_selections_unstable():
    rules = sequence("fall_through")
    store, request = MemoryStore(), make_chat_request()
    pick(rules, request, store)
    pick(rules, request, store)
    after = pick(rules, request, store)
    assert said(after) == "after"
    assert not after.stable  # a spent sequence was consulted on the way


def chance(probability: float) -> tuple[Rule, ...]:
    return make_rules(f"""
    rules:
      - {{ name: sometimes, when: {{ probability: {probability} }}, reply: {{ content: hit }} }}
      - {{ name: otherwise, reply: {{ content: miss }} }}
    """)


def test_probability_is_a_seeded_share_of_requests():
    rules, request = chance(0.3), make_chat_request()
    answers = [said(pick(rules, request, seed=seed)) for seed in range(2000)]
    assert 0.26 < answers.count("hit") / len(answers) < 0.34
    # The same request and seed decide the same way every time.
    assert [said(pick(rules, request, seed=seed)) for seed in range(50)] == answers[:50]


@pytest.mark.parametrize(("probability", "answer"), [(0.0, "miss"), (1.0, "hit")])
def test_probability_bounds(probability, answer):
    rules, request = chance(probability), make_chat_request()
    assert {said(pick(rules, request, seed=seed)) for seed in range(200)} == {answer}


NEAR = """
rules:
  - name: half
    match: { model: gpt-4o, last_user: x }
    reply: { content: b }
  - name: none
    match: { last_user: x }
    reply: { content: e }
  - name: two-thirds
    match: { model: gpt-4o, stream: true, last_user: x }
    reply: { content: d }
  - name: quarter
    match: { model: gpt-4o, stream: false, turn: 1, last_user: x }
    reply: { content: a }
  - name: half-later
    match: { model: gpt-4o, last_user: z }
    reply: { content: c }
  - name: half-of-four
    match: { model: gpt-4o, stream: false, turn: 2, last_user: x }
    reply: { content: f }
"""


def test_near_misses_rank_by_the_share_of_failed_conditions():
    rules = ordered(make_rules(NEAR))
    near = near_misses(rules, make_chat_request(user="y"), limit=6)
    # Smallest share failed first; at equal shares, most held, then file order.
    assert [n.rule.name for n in near] == [
        "quarter",
        "half-of-four",
        "half",
        "half-later",
        "two-thirds",
        "none",
    ]
    assert near[0].failed == ("last_user: 'y' is not 'x'",)
    assert near[4].failed == ("stream: False is not True", "last_user: 'y' is not 'x'")


def test_near_misses_keep_the_closest_three_by_default():
    rules = ordered(make_rules(NEAR))
    near = near_misses(rules, make_chat_request(user="y"))
    assert [n.rule.name for n in near] == ["quarter", "half-of-four", "half"]
    assert near[0].to_json() == {
        "rule": "test.yaml#quarter",
        "line": 12,
        "failed": ["last_user: 'y' is not 'x'"],
    }


def test_a_rule_that_matched_but_did_not_answer_says_why():
    rules = sequence("fall_through")[:1]
    (near,) = near_misses(rules, make_chat_request())
    assert near.failed == ("matched, but its sequence is spent or its probability did not fire",)


def test_near_misses_whose_message_conditions_held_come_first():
    rules = ordered(
        make_rules("""
        rules:
          - name: other-question
            match: { model: gpt-4o, stream: false, turn: 1, last_user: "Other?" }
            reply: { content: a }
          - name: same-question
            match: { last_user: "Weather?", tools: [get_weather] }
            reply: { content: b }
        """)
    )
    near = near_misses(rules, make_chat_request(user="Weather?"))
    # The request says what same-question answers; only the tools differ. That ranks it
    # before a rule with a smaller share failed but a different question.
    assert [n.rule.name for n in near] == ["same-question", "other-question"]
