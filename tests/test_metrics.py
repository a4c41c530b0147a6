"""Metrics: figures added at each exchange's end, exposed by prometheus-client."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mockllm.journal import Exchange
from mockllm.metrics import (
    DURATION_BOUNDS,
    GAP_BOUNDS,
    MAX_MODELS,
    VLLM_E2E_BOUNDS,
    Metrics,
    _Hist,
    _regrouped,
)


def make_exchange(**fields: Any) -> Exchange:
    defaults: dict[str, Any] = {
        "id": "x",
        "method": "POST",
        "path": "/v1/chat/completions",
        "started": 0.0,
        "model": "gpt-4o-mini",
        "status": 200,
        "source": "rule",
        "rule": "f.yaml#hello",
        "duration_ms": 120.0,
    }
    return Exchange(**{**defaults, **fields})


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition()[0].decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict, metric: str, **labels: str) -> float:
    return found[(metric, tuple(sorted(labels.items())))]  # type: ignore[no-any-return]


def test_exchanges_add_up_and_histograms_count_each_one():
    metrics = Metrics(("vllm",))
    offsets = (0.1, 0.12, 0.14, 0.16)  # three gaps of 20 ms
    for stream in (False, True, True):
        exchange = make_exchange(
            stream=stream,
            first_token_ms=100.0,
            prompt_tokens=30,
            completion_tokens=4,
            cached_tokens=16,
            load={"cached_tokens": 16},
            gaps=(offsets, 2.0) if stream else None,
        )
        metrics.started(exchange)
        metrics.ended(exchange)
    metrics.ended(make_exchange(status=404, source="miss", rule=None, reason="cassette_miss"))
    found = samples(metrics)
    fm = {"family": "chat", "model": "gpt-4o-mini"}
    path = "/v1/chat/completions"
    assert value(
        found, "mockllm_requests_total", path=path, status="200", source="rule",
        name="f.yaml#hello", **fm,
    ) == 3  # fmt: skip
    assert (
        value(
            found, "mockllm_requests_total", path=path, status="404", source="miss", name="", **fm
        )
        == 1
    )
    assert value(found, "mockllm_request_duration_seconds_count", **fm) == 4
    assert value(found, "mockllm_time_to_first_token_seconds_count", **fm) == 3
    assert value(found, "mockllm_time_to_first_token_seconds_sum", **fm) == pytest.approx(0.3)
    assert value(found, "mockllm_inter_token_seconds_count", **fm) == 6
    assert value(found, "mockllm_inter_token_seconds_sum", **fm) == pytest.approx(6 * 0.04)
    assert value(found, "mockllm_inter_token_seconds_bucket", le="0.05", **fm) == 6
    assert value(found, "mockllm_inter_token_seconds_bucket", le="0.025", **fm) == 0
    assert value(found, "mockllm_prompt_tokens_total", **fm) == 90
    assert value(found, "mockllm_completion_tokens_total", **fm) == 12
    assert value(found, "mockllm_cached_prompt_tokens_total", **fm) == 48
    assert value(found, "mockllm_cassette_misses_total", family="chat") == 1
    assert value(found, "mockllm_requests_in_flight", **fm) == 0
    assert value(found, "mockllm_streams_in_flight", **fm) == 0
    v = {"model_name": "gpt-4o-mini", "engine": "0"}
    assert value(found, "vllm:time_to_first_token_seconds_count", **v) == 3
    assert value(found, "vllm:inter_token_latency_seconds_count", **v) == 6
    assert value(found, "vllm:inter_token_latency_seconds_bucket", le="0.05", **v) == 6
    assert value(found, "vllm:e2e_request_latency_seconds_count", **v) == 3
    assert value(found, "vllm:e2e_request_latency_seconds_bucket", le="0.3", **v) == 3
    assert value(found, "vllm:prompt_tokens_total", **v) == 90
    assert value(found, "vllm:generation_tokens_total", **v) == 12
    assert value(found, "vllm:prefix_cache_queries_total", **v) == 90
    assert value(found, "vllm:prefix_cache_hits_total", **v) == 48


def test_publishing_twice_adds_only_what_is_new():
    metrics = Metrics()
    metrics.ended(make_exchange())
    first = samples(metrics)
    metrics.ended(make_exchange())
    second = samples(metrics)
    key = ("mockllm_request_duration_seconds_count", (("family", "chat"), ("model", "gpt-4o-mini")))
    assert first[key] == 1 and second[key] == 2


def test_in_flight_gauges_follow_started_and_ended():
    metrics = Metrics()
    running = [make_exchange(stream=True) for _ in range(3)]
    for exchange in running:
        metrics.started(exchange)
    fm = {"family": "chat", "model": "gpt-4o-mini"}
    assert value(samples(metrics), "mockllm_streams_in_flight", **fm) == 3
    metrics.ended(running[0])
    metrics.ended(running[0])  # ended twice: counted once
    assert value(samples(metrics), "mockllm_requests_in_flight", **fm) == 2


def test_queue_and_capacity_come_from_the_latency_model():
    metrics = Metrics(("vllm",), state=lambda: {"model:m": (4, 7, 0.25), "group:pool": (1, 0, 0.0)})
    found = samples(metrics)
    assert value(found, "mockllm_queue_length", group="model:m") == 7
    assert value(found, "mockllm_group_requests_running", group="model:m") == 4
    assert value(found, "vllm:num_requests_waiting", model_name="m", engine="0") == 7


def test_vllms_running_leaves_out_the_requests_waiting_in_the_queue():
    metrics = Metrics(("vllm",), state=lambda: {"model:m": (4, 6, 0.0)})
    for _ in range(10):  # ten in flight: four admitted, six queued
        metrics.started(make_exchange(model="m"))
    found = samples(metrics)
    assert value(found, "vllm:num_requests_running", model_name="m", engine="0") == 4
    assert value(found, "vllm:num_requests_waiting", model_name="m", engine="0") == 6
    assert value(found, "mockllm_requests_in_flight", family="chat", model="m") == 10


def test_vllms_running_is_what_the_group_admitted_while_a_leaver_is_still_in_flight():
    # Two admitted; a queued request whose client left is out of the queue already but its
    # exchange has not ended: still in flight, yet neither running nor waiting.
    metrics = Metrics(("vllm",), state=lambda: {"model:m": (2, 0, 0.0)})
    for _ in range(3):
        metrics.started(make_exchange(model="m"))
    found = samples(metrics)
    assert value(found, "vllm:num_requests_running", model_name="m", engine="0") == 2
    assert value(found, "vllm:num_requests_waiting", model_name="m", engine="0") == 0


def test_keys_are_named_by_alias_credits_and_refusals_counted():
    metrics = Metrics()
    metrics.ended(make_exchange(key="team-a", credits=0.25))
    metrics.ended(make_exchange(key="team-a", credits=0.5))
    metrics.ended(make_exchange(key="team-b", status=429, source="error", reason="rate_limited"))
    found = samples(metrics)
    assert value(found, "mockllm_credits_spent_total", key="team-a") == 0.75
    assert value(found, "mockllm_rate_limit_refusals_total", key="team-b") == 1


def test_faults_by_kind():
    metrics = Metrics()
    metrics.ended(make_exchange(faults=("disconnect_after_tokens=3",)))
    metrics.ended(make_exchange(faults=("hang",)))
    found = samples(metrics)
    assert value(found, "mockllm_faults_total", family="chat", kind="disconnect_after_tokens") == 1
    assert value(found, "mockllm_faults_total", family="chat", kind="hang") == 1


def test_model_labels_are_bounded():
    metrics = Metrics()
    for i in range(MAX_MODELS + 5):
        metrics.ended(make_exchange(model=f"m{i}"))
    found = samples(metrics)
    models = {dict(labels)["model"] for name, labels in found if name == "mockllm_requests_total"}
    assert len(models) == MAX_MODELS + 1 and "other" in models


def test_fine_buckets_regroup_into_coarse_ones_exactly():
    hist = _Hist(len(DURATION_BOUNDS))
    for seconds in (0.004, 0.2, 0.3, 0.31, 5.0, 9999.0):
        from bisect import bisect_left

        hist.counts[bisect_left(DURATION_BOUNDS, seconds)] += 1
    counts = _regrouped(hist, DURATION_BOUNDS, VLLM_E2E_BOUNDS)
    assert len(counts) == len(VLLM_E2E_BOUNDS) + 1
    assert counts[0] == 3  # <= 0.3
    assert counts[1] == 1  # (0.3, 0.5]
    assert counts[VLLM_E2E_BOUNDS.index(5.0)] == 1
    assert counts[-1] == 1
    assert GAP_BOUNDS[2:] and DURATION_BOUNDS[5] == VLLM_E2E_BOUNDS[0]


def test_made_up_models_do_not_use_up_the_model_labels():
    metrics = Metrics()
    for i in range(150):  # each refused: 404 model_not_found
        metrics.ended(make_exchange(model=f"bogus-{i}", status=404, source="error", rule=None))
    metrics.ended(make_exchange(model="gpt-5-mini"))
    found = samples(metrics)
    key = ("mockllm_request_duration_seconds_count", (("family", "chat"), ("model", "gpt-5-mini")))
    assert found[key] == 1
    assert not any(("model", "bogus-3") in labels for _, labels in found)
