"""Prometheus metrics: each exchange's figures, added up at its end, exposed by
prometheus-client at `GET /metrics` (and, with `--metrics-names vllm`, under vLLM's names).

The only module that imports prometheus-client, and only when figures are first
published (a scrape, or a worker's periodic publish): start-up does not pay its import.

Cost. An exchange's end adds its figures into plain dicts and lists (a bucket found by
bisection, a few integer additions, about 2 µs); prometheus-client's own calls (a
`labels()` lookup, a lock per value: about 30 µs for an exchange's dozen figures on the
2-core machine) run once per label set when the figures are published, not once per
exchange. Histograms are kept as bucket counts and published into prometheus-client's
histograms in bulk (see `_add_counts`). A stream's inter-token gaps are its schedule's
(the due times the writer holds, docs/performance.md), counted once per distinct
schedule and reused: nothing is done per token.

Several processes (`--workers`): prometheus-client's multiprocess mode. Each worker
publishes every `PUBLISH_EVERY_S` into its files under PROMETHEUS_MULTIPROC_DIR (set by
`server.py`), and a scrape of any worker reads every worker's files.
"""

from __future__ import annotations

import asyncio
import os
import threading
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockllm.journal import Exchange

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PUBLISH_EVERY_S = 1.0
MAX_MODELS = 100  # distinct model labels; later models are counted as "other"
MAX_KEYS = 1000  # distinct key aliases, likewise

# vLLM's buckets (vllm/v1/metrics/loggers.py), with finer ones in front for a mock's
# short answers; the vLLM-named histograms are published at vLLM's own bounds, which are
# a subset of these, so their cumulative counts are exact.
VLLM_TTFT_BOUNDS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
VLLM_GAP_BOUNDS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
VLLM_E2E_BOUNDS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
TTFT_BOUNDS = VLLM_TTFT_BOUNDS
GAP_BOUNDS = (0.001, 0.005, *VLLM_GAP_BOUNDS)
DURATION_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, *VLLM_E2E_BOUNDS)

# What answered, as the `source` label says it.
SOURCES = {
    "rule": "rule",
    "default": "generator",
    "cassette": "cassette",
    "upstream": "recording",
    "miss": "miss",
    "error": "refused",
    "capacity": "capacity",
}


class _Hist:
    """Observations counted per bucket (the last one past every bound), and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self, size: int) -> None:
        self.counts = [0] * (size + 1)
        self.total = 0.0


def _hist(table: dict[Any, _Hist], key: Any, size: int) -> _Hist:
    found = table.get(key)
    if found is None:
        found = table[key] = _Hist(size)
    return found


class Metrics:
    """One process's figures: added up at each exchange's end, published when scraped."""

    def __init__(
        self,
        names: Sequence[str] = (),
        multiprocess: bool = False,
        state: Any = None,
    ) -> None:
        self.vllm = "vllm" in names
        self.multiprocess = multiprocess
        self.state = state  # () -> {group: (running, queued)} of the latency model
        self._lock = threading.Lock()  # publishing may run from a scrape and a timer
        self._models: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._gap_memo: dict[tuple[int, float], tuple[Any, list[tuple[int, int]], float]] = {}
        self._running: dict[tuple[str, str], int] = {}
        self._streams: dict[tuple[str, str], int] = {}
        self._pending()
        self._instruments: Any = None
        self._timer: asyncio.TimerHandle | None = None

    def _pending(self) -> None:
        """Empty tables for the figures gathered until the next publish."""
        self._requests: dict[tuple[str, str, str, int, str, str], int] = {}
        self._duration: dict[tuple[str, str], _Hist] = {}
        self._ttft: dict[tuple[str, str], _Hist] = {}
        self._gaps: dict[tuple[str, str], _Hist] = {}
        self._served: dict[str, _Hist] = {}  # durations of answers, for vLLM's e2e
        self._tokens: dict[tuple[str, str], list[int]] = {}  # prompt, completion, cached
        self._prefix: dict[tuple[str, str], list[int]] = {}  # queried, hit
        self._faults: dict[tuple[str, str], int] = {}
        self._credits: dict[str, float] = {}
        self._rate_limited: dict[str, int] = {}
        self._misses: dict[str, int] = {}

    # --- the hot path: plain additions ---------------------------------------------------

    def _model(self, model: str | None) -> str:
        label = self._models.get(model or "")
        if label is None:
            label = (model or "") if len(self._models) < MAX_MODELS else "other"
            self._models[model or ""] = label
        return label

    def started(self, exchange: Exchange) -> None:
        """An exchange is being answered (counted in flight until `ended`)."""
        key = (exchange.api, self._model(exchange.model))
        exchange.running = True
        self._running[key] = self._running.get(key, 0) + 1
        if exchange.stream:
            self._streams[key] = self._streams.get(key, 0) + 1

    def ended(self, exchange: Exchange) -> None:
        """Add an exchange's figures (after `finish_exchange` filled them in)."""
        family = exchange.api
        model = self._model(exchange.model)
        pair = (family, model)
        if exchange.running:
            exchange.running = False
            self._running[pair] -= 1
            if exchange.stream:
                self._streams[pair] -= 1
        source = SOURCES.get(exchange.source or "error", "refused")
        name = ""
        if source == "rule":
            name = exchange.rule or ""
        elif source == "cassette" or source == "recording":
            name = (exchange.rule or "").partition("#")[0].removesuffix(" (recording)")
        key = (family, exchange.path, model, exchange.status, source, name)
        self._requests[key] = self._requests.get(key, 0) + 1
        seconds = exchange.duration_ms / 1000
        hist = _hist(self._duration, pair, len(DURATION_BOUNDS))
        hist.counts[bisect_left(DURATION_BOUNDS, seconds)] += 1
        hist.total += seconds
        if exchange.first_token_ms is not None:  # an answer (not an error, not a replay)
            self._answer(exchange, pair, model, seconds)
        if exchange.faults:
            for fault in exchange.faults:
                kind = (family, fault.partition("=")[0])
                self._faults[kind] = self._faults.get(kind, 0) + 1
        if exchange.key is not None:
            alias = self._key(exchange.key)
            if exchange.credits:
                self._credits[alias] = self._credits.get(alias, 0.0) + exchange.credits
            if exchange.reason == "rate_limited":
                self._rate_limited[alias] = self._rate_limited.get(alias, 0) + 1
        if exchange.reason == "cassette_miss":
            self._misses[family] = self._misses.get(family, 0) + 1

    def _answer(self, exchange: Exchange, pair: tuple[str, str], model: str, seconds: float) -> None:
        first = exchange.first_token_ms / 1000  # type: ignore[operator]
        hist = _hist(self._ttft, pair, len(TTFT_BOUNDS))
        hist.counts[bisect_left(TTFT_BOUNDS, first)] += 1
        hist.total += first
        tokens = self._tokens.get(pair)
        if tokens is None:
            tokens = self._tokens[pair] = [0, 0, 0]
        tokens[0] += exchange.prompt_tokens
        tokens[1] += exchange.completion_tokens
        tokens[2] += exchange.cached_tokens
        if exchange.load is not None and "cached_tokens" in exchange.load:
            prefix = self._prefix.get(pair)
            if prefix is None:
                prefix = self._prefix[pair] = [0, 0]
            prefix[0] += exchange.prompt_tokens
            prefix[1] += exchange.cached_tokens
        if exchange.gaps is not None:
            offsets, factor = exchange.gaps
            counts, total = self._gap_counts(offsets, factor)
            hist = _hist(self._gaps, pair, len(GAP_BOUNDS))
            for index, count in counts:
                hist.counts[index] += count
            hist.total += total
        if self.vllm and exchange.status < 400:
            hist = _hist(self._served, model, len(DURATION_BOUNDS))
            hist.counts[bisect_left(DURATION_BOUNDS, seconds)] += 1
            hist.total += seconds

    def _gap_counts(
        self, offsets: tuple[float, ...], factor: float
    ) -> tuple[list[tuple[int, int]], float]:
        """The bucket counts and sum of a schedule's gaps: worked out once per schedule
        (rendered answers, and so their offsets, are reused for repeated requests)."""
        key = (id(offsets), factor)
        found = self._gap_memo.get(key)
        if found is not None and found[0] is offsets:
            return found[1], found[2]
        by_index: dict[int, int] = {}
        total = 0.0
        for before, after in zip(offsets, offsets[1:]):
            gap = (after - before) * factor
            index = bisect_left(GAP_BOUNDS, gap)
            by_index[index] = by_index.get(index, 0) + 1
            total += gap
        counts = sorted(by_index.items())
        if len(self._gap_memo) >= 4096:
            self._gap_memo.clear()
        self._gap_memo[key] = (offsets, counts, total)
        return counts, total

    def _key(self, alias: str) -> str:
        label = self._keys.get(alias)
        if label is None:
            label = alias if len(self._keys) < MAX_KEYS else "other"
            self._keys[alias] = label
        return label

    # --- publishing: prometheus-client -----------------------------------------------------

    def publish(self) -> None:
        """Hand the figures gathered since the last publish to prometheus-client."""
        with self._lock:
            if self._instruments is None:
                self._instruments = _Instruments(self.vllm, self.multiprocess)
            tables = (
                self._requests, self._duration, self._ttft, self._gaps, self._served,
                self._tokens, self._prefix, self._faults, self._credits,
                self._rate_limited, self._misses,
            )  # fmt: skip
            self._pending()
            running, streams = dict(self._running), dict(self._streams)
            state = self.state() if self.state is not None else {}
            self._instruments.publish(*tables, running, streams, state)

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every figure (every worker's, in multiprocess mode)."""
        self.publish()
        return self._instruments.exposition()  # type: ignore[no-any-return]

    def start(self) -> None:
        """On the server's loop: publish periodically (workers), and import
        prometheus-client off the loop now rather than on the first scrape."""
        threading.Thread(target=_import_client, name="mockllm-metrics-import", daemon=True).start()
        if self.multiprocess:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(PUBLISH_EVERY_S, self._tick)

    def _tick(self) -> None:
        self.publish()
        self._timer = asyncio.get_running_loop().call_later(PUBLISH_EVERY_S, self._tick)

    def stop(self) -> None:
        """Publish what is left; a worker's live gauges stop counting."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.multiprocess:
            self.publish()
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


def _import_client() -> None:
    import prometheus_client  # noqa: F401


def _summed(table: dict[Any, _Hist], key_of: Any) -> dict[Any, _Hist]:
    """Histograms added up under fewer labels (vLLM's have no family)."""
    out: dict[Any, _Hist] = {}
    for key, hist in table.items():
        target = _hist(out, key_of(key), len(hist.counts) - 1)
        target.counts = [a + b for a, b in zip(target.counts, hist.counts)]
        target.total += hist.total
    return out


def _regrouped(hist: _Hist, bounds: Sequence[float], coarse: Sequence[float]) -> list[int]:
    """Bucket counts at `coarse` bounds (a subset of `bounds`) from counts at `bounds`."""
    out = [0] * (len(coarse) + 1)
    position = 0
    for index, count in enumerate(hist.counts):
        bound = bounds[index] if index < len(bounds) else float("inf")
        while position < len(coarse) and coarse[position] < bound:
            position += 1
        out[position] += count
    return out


def _add_counts(child: Any, counts: Iterable[int], total: float) -> None:
    """Add bucket counts and a sum to a prometheus-client histogram child in one step.

    prometheus-client has no bulk `observe`; calling it once per observation costs what
    the metrics must not (see the module docstring). A histogram child keeps one value per
    bucket (`_buckets`, not cumulative) and one for the sum (`_sum`), in memory or in the
    multiprocess files alike, and `observe` only adds to them; this adds the same amounts.
    tests/test_metrics.py checks the exposition against the figures sent, so a change of
    that layout in a new prometheus-client release fails there first."""
    child._sum.inc(total)
    for value, count in zip(child._buckets, counts):
        if count:
            value.inc(count)


class _Instruments:
    """The prometheus-client metrics, made on the first publish."""

    def __init__(self, vllm: bool, multiprocess: bool) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = multiprocess
        self.registry = CollectorRegistry()
        # In multiprocess mode values live in per-process files; the scrape reads them.
        registry = None if multiprocess else self.registry
        live = {"multiprocess_mode": "livesum"}

        def counter(name: str, doc: str, labels: Sequence[str]) -> Any:
            return Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: Sequence[str]) -> Any:
            return Gauge(name, doc, labels, registry=registry, **live)

        def histogram(name: str, doc: str, labels: Sequence[str], bounds: Sequence[float]) -> Any:
            return Histogram(name, doc, labels, registry=registry, buckets=bounds)

        fm = ("family", "model")
        self.requests = counter(
            "mockllm_requests",
            "Requests answered, by API family, path, model, status and what answered "
            "(source: rule, generator, cassette, recording, miss, refused, capacity; "
            "name: the rule or cassette)",
            ("family", "path", "model", "status", "source", "name"),
        )
        self.duration = histogram(
            "mockllm_request_duration_seconds",
            "From the request's arrival to its last byte",
            fm,
            DURATION_BOUNDS,
        )
        self.ttft = histogram(
            "mockllm_time_to_first_token_seconds",
            "When an answer's first token was due after arrival (queue and prefill included)",
            fm,
            TTFT_BOUNDS,
        )
        self.gaps = histogram(
            "mockllm_inter_token_seconds",
            "Gaps between a stream's tokens, as scheduled",
            fm,
            GAP_BOUNDS,
        )
        self.running = gauge("mockllm_requests_in_flight", "Requests being answered", fm)
        self.streams = gauge("mockllm_streams_in_flight", "Streamed answers being sent", fm)
        self.queue = gauge(
            "mockllm_queue_length", "Requests waiting for a latency model's capacity", ("group",)
        )
        self.queue_running = gauge(
            "mockllm_group_requests_running",
            "Requests holding a latency model's capacity",
            ("group",),
        )
        self.prompt = counter("mockllm_prompt_tokens", "Prompt tokens of answers", fm)
        self.completion = counter(
            "mockllm_completion_tokens", "Completion tokens of answers, as sent", fm
        )
        self.cached = counter(
            "mockllm_cached_prompt_tokens", "Prompt tokens read from a prefix cache", fm
        )
        self.faults = counter("mockllm_faults", "Faults injected, by kind", ("family", "kind"))
        self.credits = counter(
            "mockllm_credits_spent", "Credits charged, by key alias (never the key)", ("key",)
        )
        self.rate_limited = counter(
            "mockllm_rate_limit_refusals", "Requests refused by a key's rate limit", ("key",)
        )
        self.misses = counter(
            "mockllm_cassette_misses", "Requests no recorded interaction matched", ("family",)
        )
        self.vllm = vllm
        if vllm:
            names = ("model_name", "engine")
            self.v_running = gauge(
                "vllm:num_requests_running", "Number of requests in model execution batches.", names
            )
            self.v_waiting = gauge(
                "vllm:num_requests_waiting", "Number of requests waiting to be processed.", names
            )
            self.v_ttft = histogram(
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                names,
                VLLM_TTFT_BOUNDS,
            )
            self.v_gaps = histogram(
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                names,
                VLLM_GAP_BOUNDS,
            )
            self.v_e2e = histogram(
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
                names,
                VLLM_E2E_BOUNDS,
            )
            self.v_prompt = counter(
                "vllm:prompt_tokens", "Number of prefill tokens processed.", names
            )
            self.v_generation = counter(
                "vllm:generation_tokens", "Number of generation tokens processed.", names
            )
            self.v_queries = counter(
                "vllm:prefix_cache_queries",
                "Prefix cache queries, in terms of number of queried tokens.",
                names,
            )
            self.v_hits = counter(
                "vllm:prefix_cache_hits",
                "Prefix cache hits, in terms of number of cached tokens.",
                names,
            )
        self._groups: set[str] = set()

    def publish(
        self,
        requests: dict[Any, int],
        duration: dict[Any, _Hist],
        ttft: dict[Any, _Hist],
        gaps: dict[Any, _Hist],
        served: dict[str, _Hist],
        tokens: dict[Any, list[int]],
        prefix: dict[Any, list[int]],
        faults: dict[Any, int],
        credits: dict[str, float],
        rate_limited: dict[str, int],
        misses: dict[str, int],
        running: dict[Any, int],
        streams: dict[Any, int],
        state: dict[str, tuple[int, int]],
    ) -> None:
        for (family, path, model, status, source, name), count in requests.items():
            self.requests.labels(family, path, model, str(status), source, name).inc(count)
        for table, metric in ((duration, self.duration), (ttft, self.ttft), (gaps, self.gaps)):
            for labels, hist in table.items():
                _add_counts(metric.labels(*labels), hist.counts, hist.total)
        for labels, (prompt, completion, cached) in tokens.items():
            self.prompt.labels(*labels).inc(prompt)
            self.completion.labels(*labels).inc(completion)
            self.cached.labels(*labels).inc(cached)
        for labels, count in faults.items():
            self.faults.labels(*labels).inc(count)
        for alias, amount in credits.items():
            self.credits.labels(alias).inc(amount)
        for alias, count in rate_limited.items():
            self.rate_limited.labels(alias).inc(count)
        for family, count in misses.items():
            self.misses.labels(family).inc(count)
        for labels, count in running.items():
            self.running.labels(*labels).set(count)
        for labels, count in streams.items():
            self.streams.labels(*labels).set(count)
        self._groups.update(state)
        for group in self._groups:
            busy, queued = state.get(group, (0, 0))
            self.queue.labels(group).set(queued)
            self.queue_running.labels(group).set(busy)
        if self.vllm:
            self._publish_vllm(ttft, gaps, served, tokens, prefix, running, state)

    def _publish_vllm(
        self,
        ttft: dict[Any, _Hist],
        gaps: dict[Any, _Hist],
        served: dict[str, _Hist],
        tokens: dict[Any, list[int]],
        prefix: dict[Any, list[int]],
        running: dict[Any, int],
        state: dict[str, tuple[int, int]],
    ) -> None:
        by_model: dict[str, int] = {}
        for (_, model), count in running.items():
            by_model[model] = by_model.get(model, 0) + count
        for model, count in by_model.items():
            self.v_running.labels(model, "0").set(count)
        waiting: dict[str, int] = {}
        for group, (_, queued) in state.items():
            kind, _, name = group.partition(":")
            waiting[name] = waiting.get(name, 0) + queued
        for model, queued in waiting.items():
            self.v_waiting.labels(model, "0").set(queued)
        for table, metric, bounds, coarse in (
            (ttft, self.v_ttft, TTFT_BOUNDS, VLLM_TTFT_BOUNDS),
            (gaps, self.v_gaps, GAP_BOUNDS, VLLM_GAP_BOUNDS),
        ):
            for model, hist in _summed(table, lambda key: key[1]).items():
                counts = _regrouped(hist, bounds, coarse)
                _add_counts(metric.labels(model, "0"), counts, hist.total)
        for model, hist in served.items():
            counts = _regrouped(hist, DURATION_BOUNDS, VLLM_E2E_BOUNDS)
            _add_counts(self.v_e2e.labels(model, "0"), counts, hist.total)
        for (_, model), (prompt, completion, _cached) in tokens.items():
            self.v_prompt.labels(model, "0").inc(prompt)
            self.v_generation.labels(model, "0").inc(completion)
        for (_, model), (queried, hit) in prefix.items():
            self.v_queries.labels(model, "0").inc(queried)
            self.v_hits.labels(model, "0").inc(hit)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
