"""The latency model: load factors, due times, capacity, queue, refusals, presets."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from mockllm.conversation import Conversation, Message
from mockllm.errors import ConfigError, RequestError, ScenarioError
from mockllm.load import Capacity, Ticket
from mockllm.loader import NO_MODEL, compile_latency_model, load_latency_model, load_text
from mockllm.presets import PRESETS, preset_names
from mockllm.render import Rendered
from mockllm.rules import LatencyModel

MODEL = LatencyModel(
    ttft_ms=100,
    inter_token_ms=20,
    prefill_ms_per_1k=50,
    load_factor_at_capacity=3.0,
    max_concurrency=5,
    max_queue=2,
)
SYSTEM = "You answer questions about lamps and their bulbs, politely. " * 40


def make_conversation(user: str = "which lamp?", system: str = SYSTEM) -> Conversation:
    messages = (Message("system", system), Message("user", user))
    return Conversation(model="gpt-4o-mini", messages=messages, body={}, system=system)


# --- the formula ------------------------------------------------------------------------


def test_the_load_factor_rises_linearly_from_one_to_its_value_at_capacity():
    assert MODEL.factors(1) == (1.0, 1.0)
    assert MODEL.factors(3) == (2.0, 2.0)
    assert MODEL.factors(5) == (3.0, 3.0)
    assert MODEL.factors(50) == (3.0, 3.0)  # past capacity requests queue instead


def test_ttft_may_have_its_own_factor():
    model = replace(MODEL, ttft_load_factor_at_capacity=5.0)
    assert model.factors(5) == (5.0, 3.0)
    assert model.factors(3) == (3.0, 2.0)


def test_without_capacity_there_is_no_load():
    assert LatencyModel(load_factor_at_capacity=9).factors(100) == (1.0, 1.0)
    assert replace(MODEL, max_concurrency=1).factors(1) == (1.0, 1.0)


def test_due_times_are_queue_plus_ttft_and_prefill_times_factor_then_scaled_gaps():
    pool = Capacity().pool("model:m")
    ticket = Ticket(pool, MODEL, 3, 2.0, 1.5, queued_s=0.25, prefill_s=0.05)
    offsets = (0.1, 0.12, 0.14)
    due = ticket.due_times(offsets, first=0.1)
    assert due == pytest.approx((0.25 + 2.0 * 0.15, 0.25 + 0.3 + 0.03, 0.25 + 0.3 + 0.06))
    assert ticket.first_token_s(0.1) == pytest.approx(0.55)


# --- capacity and the queue ---------------------------------------------------------------


def test_requests_are_admitted_up_to_capacity_then_queued_then_refused():
    async def run() -> None:
        capacity = Capacity()
        tickets = [capacity.enter(MODEL, "model:m") for _ in range(5)]
        assert all(isinstance(t, Ticket) for t in tickets)
        assert [t.in_flight for t in tickets] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
        queued = [capacity.enter(MODEL, "model:m") for _ in range(2)]
        assert all(isinstance(q, asyncio.Future) for q in queued)
        with pytest.raises(RequestError) as refused:
            capacity.enter(MODEL, "model:m")
        assert refused.value.status == 429
        assert dict(refused.value.headers)["Retry-After"] == "1"
        assert capacity.state() == {"model:m": (5, 2, 0.0)}
        capacity.release(tickets[0], 10.0)  # type: ignore[arg-type]
        admitted = await queued[0]  # type: ignore[misc]
        assert admitted.in_flight == 5 and admitted.gap_factor == 3.0
        assert admitted.queued_s >= 0
        assert capacity.state() == {"model:m": (5, 1, 0.0)}
        capacity.enter(MODEL, "model:m")  # the queue is full again
        with pytest.raises(RequestError):
            capacity.enter(MODEL, "model:m")
        capacity.enter(MODEL, "model:other")  # another group has its own count
        assert capacity.state()["model:other"] == (1, 0, 0.0)

    asyncio.run(run())


def test_retry_after_grows_with_the_queue_and_the_exchange_time():
    async def run() -> None:
        capacity = Capacity()
        model = replace(MODEL, max_concurrency=2, max_queue=4, queue_full_status=503)
        first = capacity.enter(model, "g")
        capacity.release(first, 30.0)  # type: ignore[arg-type]  # the mean moves towards 30 s
        for _ in range(2 + 4):
            capacity.enter(model, "g")
        with pytest.raises(RequestError) as refused:
            capacity.enter(model, "g")
        assert refused.value.status == 503
        retry = int(dict(refused.value.headers)["Retry-After"])
        assert retry == 10  # (4 queued + 1) x 3.9 s mean / 2 in parallel, rounded up

    asyncio.run(run())


def test_a_queued_request_that_went_away_does_not_take_the_slot():
    async def run() -> None:
        capacity = Capacity()
        model = replace(MODEL, max_concurrency=1, max_queue=None)
        first = capacity.enter(model, "g")
        gone = capacity.enter(model, "g")
        waiting = capacity.enter(model, "g")
        gone.cancel()  # type: ignore[union-attr]
        capacity.release(first, 0.1)  # type: ignore[arg-type]
        assert (await waiting).in_flight == 1  # type: ignore[misc]
        assert capacity.state() == {"g": (1, 0, 0.0)}

    asyncio.run(run())


def test_groups_are_per_model_per_rule_or_named():
    capacity = Capacity()
    request = make_conversation()
    rule = load_text("rules: [{name: r, reply: {content: x}}]", "f.yaml")[0]
    assert capacity.group(MODEL, request, rule) == "model:gpt-4o-mini"
    assert capacity.group(replace(MODEL, group="rule"), request, rule) == "rule:f.yaml#r"
    assert capacity.group(replace(MODEL, group="pool-a"), request, None) == "group:pool-a"


def test_prefill_counts_only_the_uncached_part_and_reports_cached_tokens():
    capacity = Capacity()
    model = replace(MODEL, prefix_cache_tokens=100_000)
    request = make_conversation()
    ticket = Ticket(capacity.pool("g"), model, 1, 1.0, 1.0)
    capacity.prefill(ticket, "g", request, 600)
    assert ticket.cached_tokens == 0
    assert ticket.prefill_s == pytest.approx(0.05 * 0.6)
    again = Ticket(capacity.pool("g"), model, 1, 1.0, 1.0)
    capacity.prefill(again, "g", make_conversation("another question"), 600)
    assert 400 <= again.cached_tokens < 600
    assert again.cached_tokens % 16 == 0
    assert again.prefill_s == pytest.approx(0.05 * (600 - again.cached_tokens) / 1000)
    capacity.reset()
    after = Ticket(capacity.pool("g"), model, 1, 1.0, 1.0)
    capacity.prefill(after, "g", request, 600)
    assert after.cached_tokens == 0


def test_a_cached_variant_is_reused_for_the_same_answer():
    capacity = Capacity()
    rendered = Rendered("id", "m", (), 10, 2, 12, (0.0,), "fp")
    assert capacity.with_cached(rendered, 0) is rendered
    one = capacity.with_cached(rendered, 8)
    assert one.cached_tokens == 8 and capacity.with_cached(rendered, 8) is one


# --- presets, files and scenario keys ------------------------------------------------------


def test_presets_are_complete_and_named():
    assert preset_names()[0] == "none"
    for name, preset in PRESETS.items():
        model = preset.model
        assert model.name == name
        assert model.max_concurrency and model.inter_token_ms and model.ttft_ms
        assert preset.source.startswith(
            tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        )
        assert "https://" in preset.source


def test_a_preset_name_a_file_or_none():
    assert load_latency_model("none") is None
    assert load_latency_model("qwen2.5-0.5b-l4") is PRESETS["qwen2.5-0.5b-l4"].model
    with pytest.raises(ConfigError, match="did you mean 'qwen2.5-0.5b-l4'"):
        load_latency_model("qwen2.5-0.5b")


def test_a_file_of_the_same_keys(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("preset: llama-3.1-8b-h100\nmax_concurrency: 8\nmax_queue: 0\n")
    model = load_latency_model(str(path))
    assert model is not None and model.max_concurrency == 8 and model.max_queue == 0
    assert model.inter_token_ms == 6.5
    path.write_text("ttft_ms: 10\nmax_concurency: 8\n")
    with pytest.raises(ScenarioError) as problems:
        load_latency_model(str(path))
    assert "model.yaml:2: max_concurency: unknown key" in str(problems.value)
    assert "did you mean 'max_concurrency'" in str(problems.value)


def test_scenario_keys_defaults_rule_and_none():
    rules = load_text(
        """
defaults:
  latency_model: { ttft_ms: 200, inter_token_ms: 10, max_concurrency: 4 }
rules:
  - name: modelled
    reply: { content: hi, latency: { inter_token_ms: 30 } }
  - name: own
    latency_model: { preset: qwen2.5-0.5b-l4, group: shared }
    reply: { content: hi }
  - name: unmodelled
    latency_model: none
    reply: { content: hi }
""",
        "f.yaml",
    )
    modelled, own, unmodelled = rules
    assert modelled.latency_model is not None and modelled.latency_model.max_concurrency == 4
    # The model's pace fills what the reply's latency leaves unset.
    assert modelled.replies[0].latency.ttft_ms == 200
    assert modelled.replies[0].latency.inter_token_ms == 30
    assert own.latency_model is not None and own.latency_model.group == "shared"
    assert own.latency_model.max_concurrency == 32
    assert unmodelled.latency_model == NO_MODEL
    assert unmodelled.replies[0].latency.ttft_ms is None


def test_scenario_errors_name_the_field():
    with pytest.raises(ScenarioError) as problems:
        load_text("rules: [{name: r, latency_model: fast-gpu, reply: {content: x}}]", "f.yaml")
    assert "rules[0].latency_model: unknown latency model preset 'fast-gpu'" in str(problems.value)
    with pytest.raises(ScenarioError) as problems:
        load_text(
            "rules: [{name: r, latency_model: {queue_full_status: 500}, reply: {content: x}}]"
        )
    assert "queue_full_status" in str(problems.value) and "429, 503" in str(problems.value)
    with pytest.raises(ConfigError):
        compile_latency_model({"preset": "none", "max_queue": 3})
