"""Engine.handle: which source answers, and with what; without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from mockllm import engine as engine_module
from mockllm.config import ServerConfig
from mockllm.engine import Answer, Engine, Failure
from tests.factories import make_chat_request, make_rules

RULES = """
rules:
  - name: greet
    match: { last_user: hello }
    reply: { content: "Hi there" }
  - name: busy
    match: { last_user: busy }
    reply:
      error: { status: 429, message: "Slow down." }
      latency: { ttft_ms: 250 }
      headers: { x-why: busy }
  - name: flaky
    match: { model: flaky-model }
    reply: { error: { status: 503 } }
  - name: limited
    match: { model: limited-model }
    reply: { error: { status: 429 } }
  - name: refused
    match: { model: picky-model }
    reply: { error: { status: 400, message: "No." } }
  - name: breaks
    match: { model: broken-model }
    reply:
      content: "one two three"
      fault: { disconnect_after_tokens: 1 }
  - name: long
    match: { last_user: long }
    reply: { content: "The quick brown fox jumps." }
  - name: steps
    match: { last_user: steps }
    sequence:
      - content: "one"
      - content: "two"
"""


def make_engine(rules: str = RULES, **config: Any) -> Engine:
    return Engine(ServerConfig(**config), make_rules(rules))


def test_a_rule_that_matches_answers():
    engine = make_engine()
    request = make_chat_request(user="hello")
    outcome = engine.handle(request)
    assert isinstance(outcome, Answer)
    assert outcome.rule is not None and outcome.rule.ref == "test.yaml#greet"
    assert outcome.rendered.choices[0].content == "Hi there"
    assert (outcome.fault, outcome.seed) == (None, engine.seed_for(request))


def test_an_error_reply_is_a_failure_after_its_ttft():
    outcome = make_engine().handle(make_chat_request(user="busy"))
    assert isinstance(outcome, Failure)
    assert (outcome.error.status, outcome.error.message) == (429, "Slow down.")
    assert outcome.delay_s == 0.25
    assert outcome.headers == (("x-why", "busy"),)
    assert outcome.rule is not None and outcome.rule.name == "busy"
    assert outcome.source == "rule"


def test_without_a_matching_rule_the_default_generator_answers():
    outcome = make_engine().handle(make_chat_request(user="something else"))
    assert isinstance(outcome, Answer)
    assert outcome.rule is None and outcome.reply.is_default
    assert outcome.rendered.choices[0].content


def test_a_strict_miss_names_the_near_misses():
    rules = """
    rules:
      - name: greet
        match: { last_user: hello, model: gpt-4o }
        reply: { content: "Hi there" }
      - name: tools
        match: { tools: [get_weather] }
        reply: { content: "x" }
    """
    outcome = make_engine(rules, strict=True).handle(
        make_chat_request(model="gpt-4o-mini", user="nothing")
    )
    assert isinstance(outcome, Failure)
    assert (outcome.error.status, outcome.error.code, outcome.source) == (
        404,
        "no_matching_rule",
        "miss",
    )
    # A rule whose conditions on the messages held comes first.
    assert outcome.error.message == (
        "No rule matches this request (model 'gpt-4o-mini'). Closest: test.yaml#tools failed: "
        "tools: get_weather not offered; test.yaml#greet failed: model: 'gpt-4o-mini' is not "
        "'gpt-4o', last_user: 'nothing' is not 'hello'"
    )
    assert [n.rule.name for n in outcome.near] == ["tools", "greet"]


def test_a_strict_miss_without_rules_says_so():
    outcome = Engine(ServerConfig(strict=True)).handle(make_chat_request())
    assert isinstance(outcome, Failure)
    assert outcome.error.message == (
        "No rule matches this request (model 'gpt-4o'). Closest: no rules are loaded"
    )


def test_an_unknown_model_is_a_404():
    outcome = make_engine().handle(make_chat_request(model="no-such-model"))
    assert isinstance(outcome, Failure)
    error = outcome.error
    assert (error.status, error.type, error.code, error.param) == (
        404,
        "invalid_request_error",
        "model_not_found",
        "model",
    )
    assert error.message == (
        "The model `no-such-model` does not exist or you do not have access to it."
    )
    assert outcome.source == "error"


@pytest.mark.parametrize(
    ("model", "config"),
    [
        ("deepseek/deepseek-chat", {}),  # a known family after a provider prefix
        ("flaky-model", {}),  # a model a rule names... answered by that rule
        ("house-model-7", {"models": ("house-*",)}),  # --model globs
    ],
)
def test_known_models(model, config):
    assert make_engine(**config).is_known_model(model)


def test_a_fallback_answers_after_a_5xx_and_each_attempt_is_recorded():
    attempts: list[dict[str, Any]] = []
    request = make_chat_request(model="flaky-model", fallbacks=["gpt-4o-mini"])
    outcome = make_engine().handle(request, attempts=attempts)
    assert isinstance(outcome, Answer)
    assert outcome.rendered.model == "gpt-4o-mini"
    assert attempts == [
        {"model": "flaky-model", "status": 503, "rule": "test.yaml#flaky", "faults": []},
        {"model": "gpt-4o-mini", "status": 200, "rule": None, "faults": []},
    ]


def test_fallbacks_move_on_after_a_429_and_a_fault():
    attempts: list[dict[str, Any]] = []
    request = make_chat_request(
        model="limited-model", fallbacks=["broken-model", "flaky-model", "gpt-4o"]
    )
    outcome = make_engine().handle(request, attempts=attempts)
    assert isinstance(outcome, Answer) and outcome.rendered.model == "gpt-4o"
    assert [(a["model"], a["status"], a["faults"]) for a in attempts] == [
        ("limited-model", 429, []),
        ("broken-model", 200, ["disconnect_after_tokens=1"]),
        ("flaky-model", 503, []),
        ("gpt-4o", 200, []),
    ]


def test_a_client_error_does_not_fall_back():
    attempts: list[dict[str, Any]] = []
    request = make_chat_request(model="picky-model", fallbacks=["gpt-4o"])
    outcome = make_engine().handle(request, attempts=attempts)
    assert isinstance(outcome, Failure) and outcome.error.status == 400
    assert attempts == [
        {"model": "picky-model", "status": 400, "rule": "test.yaml#refused", "faults": []}
    ]


def test_the_last_fallback_failing_is_the_answer():
    request = make_chat_request(model="flaky-model", fallbacks=["limited-model"])
    outcome = make_engine().handle(request)
    assert isinstance(outcome, Failure) and outcome.error.status == 429


def test_a_fallback_the_key_may_not_use_is_skipped():
    attempts: list[dict[str, Any]] = []
    request = make_chat_request(model="flaky-model", fallbacks=["gpt-4o", "gpt-4o-mini"])
    outcome = make_engine().handle(request, attempts=attempts, allowed=lambda m: m != "gpt-4o")
    assert isinstance(outcome, Answer) and outcome.rendered.model == "gpt-4o-mini"
    skipped = {
        "model": "gpt-4o",
        "status": 403,
        "rule": None,
        "faults": [],
        "skipped": "model not allowed for this key",
    }
    flaky = {"model": "flaky-model", "status": 503, "rule": "test.yaml#flaky", "faults": []}
    # in the order they were made: the primary's failure first
    assert attempts == [
        flaky,
        skipped,
        {"model": "gpt-4o-mini", "status": 200, "rule": None, "faults": []},
    ]
    attempts.clear()
    alone = make_chat_request(model="flaky-model", fallbacks=["gpt-4o"])
    outcome = make_engine().handle(alone, attempts=attempts, allowed=lambda m: m != "gpt-4o")
    assert isinstance(outcome, Failure) and outcome.error.status == 503
    assert attempts == [flaky, skipped]


def test_without_fallbacks_no_attempts_are_recorded():
    attempts: list[dict[str, Any]] = []
    make_engine().handle(make_chat_request(model="flaky-model"), attempts=attempts)
    assert attempts == []


def test_cut_stops_a_scripted_answer_after_the_limit():
    engine = make_engine()
    request = make_chat_request(user="long")
    answer = engine.handle(request)
    assert isinstance(answer, Answer)
    shorter = engine.cut(answer, request, 3)
    (choice,) = shorter.rendered.choices
    assert (choice.content, choice.finish_reason) == ("The quick brown", "length")
    assert shorter.rendered.completion_tokens == 3
    assert (shorter.rule, shorter.seed, shorter.rendered.id) == (
        answer.rule,
        answer.seed,
        answer.rendered.id,
    )


@pytest.mark.parametrize("limit", [5, 10, 20])
def test_cut_stops_a_generated_answer_where_it_is_cut(limit):
    engine = make_engine()
    request = make_chat_request(user="Hello")
    answer = engine.handle(request)
    assert isinstance(answer, Answer)
    full = answer.rendered.choices[0].content
    shorter = engine.cut(answer, request, limit)
    (choice,) = shorter.rendered.choices
    # The same text stopped after `limit` tokens, not a shorter text that happens to fit.
    assert full.startswith(choice.content) and choice.content != full
    assert choice.finish_reason == "length"
    assert shorter.rendered.completion_tokens == limit
    assert shorter.rendered.id == answer.rendered.id


def test_cut_keeps_the_model_a_fallback_answered_with():
    engine = make_engine()
    request = make_chat_request(model="flaky-model", fallbacks=["gpt-4o-mini"])
    answer = engine.handle(request)
    assert isinstance(answer, Answer)
    shorter = engine.cut(answer, request, 3)
    assert shorter.rendered.model == "gpt-4o-mini"
    assert shorter.rendered.choices[0].finish_reason == "length"


def test_a_scripted_answer_is_rendered_once():
    engine = make_engine()
    first = engine.handle(make_chat_request(user="hello"))
    again = engine.handle(make_chat_request(user="hello"))  # parsed anew: same body
    assert isinstance(first, Answer) and isinstance(again, Answer)
    assert again.rendered is first.rendered


def test_a_generated_answer_is_rendered_once_per_seed():
    engine = make_engine()
    first = engine.handle(make_chat_request(user="something else"))
    again = engine.handle(make_chat_request(user="something else"))
    other = engine.handle(make_chat_request(user="something else", seed=3))
    assert isinstance(first, Answer) and isinstance(again, Answer)
    assert isinstance(other, Answer)
    assert again.rendered is first.rendered
    assert other.rendered.choices[0].content != first.rendered.choices[0].content


@pytest.fixture
def selections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests' last user texts, once per call of the selector."""
    calls: list[str] = []
    real = engine_module.select

    def counting(rules: Any, request: Any, store: Any, seed: int) -> Any:
        calls.append(request.last_user)
        return real(rules, request, store, seed)

    monkeypatch.setattr(engine_module, "select", counting)
    return calls


def test_a_stable_selection_is_reused_for_the_same_request(selections):
    engine = make_engine()
    request = make_chat_request(user="hello")
    engine.handle(request)
    engine.handle(request)
    assert selections == ["hello"]


def test_a_sequence_is_selected_every_time(selections):
    engine = make_engine()
    request = make_chat_request(user="steps")
    answers = [engine.handle(request) for _ in range(3)]
    assert selections == ["steps"] * 3
    assert [a.rendered.choices[0].content for a in answers] == ["one", "two", "two"]
    assert len({a.seed for a in answers[:2]}) == 2  # each step has its own seed


def test_new_rules_are_selected_for_a_request_seen_before(selections):
    engine = make_engine()
    request = make_chat_request(user="hello")
    engine.handle(request)
    engine.set_rules(
        make_rules("""
        rules:
          - name: greet-again
            match: { last_user: hello }
            reply: { content: "Hello again" }
        """)
    )
    outcome = engine.handle(request)
    assert isinstance(outcome, Answer)
    assert outcome.rendered.choices[0].content == "Hello again"
    assert selections == ["hello", "hello"]


def test_reset_starts_sequences_over():
    engine = make_engine()
    request = make_chat_request(user="steps")
    engine.handle(request)
    engine.reset()
    outcome = engine.handle(request)
    assert isinstance(outcome, Answer) and outcome.rendered.choices[0].content == "one"


def test_the_seed_ignores_stream_and_follows_the_server_seed():
    engine = make_engine()
    plain, streamed = make_chat_request(), make_chat_request(stream=True)
    assert engine.seed_for(plain) == engine.seed_for(streamed)
    assert make_engine(seed=1).seed_for(plain) != engine.seed_for(plain)


def test_the_selection_memo_holds_a_bounded_size_of_requests():
    """Requests that select a rule without state are remembered by object (those the parse
    memo keeps come back as the same object), within a byte bound: requests with huge
    headers did pile up here (30 of 8 MB each took the server from 49 to 314 MB)."""
    from mockllm.engine import SELECTED_BYTES

    engine = make_engine()
    big = "x" * (1 << 20)
    for i in range(40):
        request = make_chat_request(user="long", headers={"x-big": big + str(i)})
        assert engine.handle(request) is not None
    assert engine._selected._bytes <= SELECTED_BYTES
    huge = make_chat_request(user="long", headers={"x-big": "y" * (8 << 20)})
    engine.handle(huge)
    assert engine._selected.get(id(huge)) is None  # too large to be worth keeping
    small = make_chat_request(user="long")
    engine.handle(small)
    assert engine._selected.get(id(small)) is not None
