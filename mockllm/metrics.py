"""Prometheus metrics: each exchange's figures, added up at its end, exposed by
prometheus-client at `GET /metrics` (and, with `--metrics-names vllm`, under vLLM's names).

The only module that imports prometheus-client, and only when figures are first
published (a scrape, or a worker's periodic publish): start-up does not pay its import.

Cost. An exchange's end adds its figures into plain dicts and lists (a bucket found by
bisection, a few integer additions, about 2 µs); prometheus-client's own calls (a
`labels()` lookup, a lock per value: about 30 µs for an exchange's dozen figures on the
2-core machine) run once per label set when the figures are published, not once per
exchange. Histograms are kept as bucket counts and published into prometheus-client's
histograms in bulk (see `_add_counts`). An answer's inter-token gaps (streamed or not)
are its schedule's (the due times the writer holds, docs/performance.md), counted once
per distinct schedule and reused: nothing is done per token.

Several processes (`--workers`): prometheus-client's multiprocess mode. Each worker
publishes every `PUBLISH_EVERY_S` into its files under PROMETHEUS_MULTIPROC_DIR (set by
`server.py`), and a scrape of any worker reads every worker's files.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import os
import threading
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mockllm.journal import Exchange
    from mockllm.rules import LatencyModel

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PUBLISH_EVERY_S = 1.0
MAX_MODELS = 100  # distinct model labels; later models are counted as "other"
MAX_MODEL_CHARS = 256  # a longer model id is counted as "other" (it is in every series)
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
# vLLM's token-count buckets (build_1_2_5_buckets(max_model_len)) for a 128K context.
TOKEN_BOUNDS = tuple(float(m * 10**e) for e in range(6) for m in (1, 2, 5) if m * 10**e <= 131072)
N_BOUNDS = (1.0, 2.0, 5.0, 10.0, 20.0)  # vLLM's vllm:request_params_n
# vLLM's finished_reason values (vllm/v1/engine FinishReason), each a series from the start;
# a stream its client left, or a fault cut, ends as "abort"; an answer is never "error" or
# "repetition" (a retryable engine failure, a repetition cut short).
FINISHED = ("stop", "length", "abort", "error", "repetition")
SOURCES_OF_PROMPT = ("local_compute", "local_cache_hit", "external_kv_transfer")  # vLLM's
CUTS = ("disconnect_after_tokens", "error_after_tokens", "empty_choices_error", "reset", "hang")

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

    def take(self) -> tuple[list[int], float]:
        """The counts and sum so far, which start again from zero."""
        counts, total = self.counts, self.total
        self.counts, self.total = [0] * len(counts), 0.0
        return counts, total


def _hist(table: dict[Any, _Hist], key: Any, size: int) -> _Hist:
    found = table.get(key)
    if found is None:
        found = table[key] = _Hist(size)
    return found


class _Series:
    """The figures of exchanges alike in what labels them (family, path, model, status,
    what answered), gathered since the last publish. One dict lookup per exchange finds
    it; its label values are worked out once."""

    __slots__ = (
        "labels", "pair", "count", "duration", "ttft", "gaps", "served", "queued",
        "prompt_sizes", "answer_sizes", "finished", "prefill_time", "decode_time",
        "inference_time", "request_tpot", "max_tokens", "n", "longest", "computed", "first_more",
        "gaps_more", "prompt", "completion", "cached", "queried", "hit", "prompt_more",
    )  # fmt: skip

    def __init__(self, labels: tuple[str, str, str, str, str, str]) -> None:
        self.labels = labels
        self.pair = (labels[0], labels[2])  # family, model
        self.count = 0
        self.duration = _Hist(len(DURATION_BOUNDS))
        self.ttft = _Hist(len(TTFT_BOUNDS))
        self.gaps = _Hist(len(GAP_BOUNDS))
        self.served = _Hist(len(DURATION_BOUNDS))  # answers' durations, for vLLM's e2e
        self.queued = _Hist(len(DURATION_BOUNDS))  # answers' time in a queue, for vLLM's
        self.prompt_sizes = _Hist(len(TOKEN_BOUNDS))  # answers' prompt tokens, for vLLM's
        self.answer_sizes = _Hist(len(TOKEN_BOUNDS))  # and completion tokens
        self.finished = [0] * len(FINISHED)  # answers by vLLM's finished_reason
        # vLLM's phases of an answer (vllm/v1/metrics/stats.py): its first token after its
        # queue, its other tokens, the whole after its queue; the mean gap of each answer
        self.prefill_time = _Hist(len(VLLM_E2E_BOUNDS))
        self.decode_time = _Hist(len(VLLM_E2E_BOUNDS))
        self.inference_time = _Hist(len(VLLM_E2E_BOUNDS))
        self.request_tpot = _Hist(len(VLLM_GAP_BOUNDS))
        self.max_tokens = _Hist(len(TOKEN_BOUNDS))  # what answers were allowed, and asked
        self.n = _Hist(len(N_BOUNDS))
        self.longest = _Hist(len(TOKEN_BOUNDS))  # each answer's longest choice
        self.computed = _Hist(len(TOKEN_BOUNDS))  # each answer's prompt tokens not cached
        # vLLM runs each of `n` choices as a request of its own: the first tokens, gaps and
        # prompt tokens of all but one, which only vLLM's names count
        self.first_more = _Hist(len(TTFT_BOUNDS))
        self.gaps_more = _Hist(len(GAP_BOUNDS))
        self.prompt = self.completion = self.cached = self.queried = self.hit = 0
        self.prompt_more = 0

    def take(self) -> tuple[int, int, int, int, int, int, int]:
        figures = (
            self.count, self.prompt, self.completion, self.cached, self.queried, self.hit,
            self.prompt_more,
        )  # fmt: skip
        self.count = self.prompt = self.completion = self.cached = self.queried = self.hit = 0
        self.prompt_more = 0
        return figures


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
        self.state = state  # () -> {group: (running, queued, KV-cache usage)}
        self._lock = threading.Lock()  # publishing may run from a scrape and a timer
        self._models: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._gap_memo: dict[tuple[int, float], tuple[Any, list[tuple[int, int]], float]] = {}
        # by family (None: a path that is not a family's) and model sent
        self._running: dict[tuple[str | None, str | None], int] = {}
        self._streams: dict[tuple[str | None, str | None], int] = {}
        self._faults: dict[tuple[str | None, str], int] = {}
        self._credits: dict[str, float] = {}
        self._rate_limited: dict[str, int] = {}
        self._misses: dict[str | None, int] = {}
        self._instruments: Any = None
        # the KV caches of the latency models that answered: (block size, blocks)
        self._caches: set[tuple[int, int]] = set()
        self._cache_seen: LatencyModel | None = None
        self._shown: set[tuple[str | None, str]] = set()  # in flight at some publish
        self._timer: asyncio.TimerHandle | None = None
        self.served: tuple[str, ...] = ()  # the model a vLLM server serves, if known

    def serve(self, names: Sequence[str], model: LatencyModel | None = None) -> None:
        """The model a vLLM server serves under `names` (the profile's): with vLLM's names,
        its series are there before any request, as vLLM makes every one of them for its
        served model at start (vllm/v1/metrics/loggers.py), its gauges and counters at 0;
        every name counts under the first, as vLLM labels every request with it. The
        server's latency model `model`, known at start, gives `vllm:cache_config_info`."""
        if not self.vllm or not names:
            return
        self.served = (names[0],)
        for name in names:
            self._models[name] = names[0]
        if model is not None and model.prefix_cache_tokens > 0:
            size = model.prefix_block_tokens
            self._caches.add((size, model.prefix_cache_tokens // size))

    # --- the hot path: plain additions ---------------------------------------------------

    def _model(self, model: str | None, admit: bool = True) -> str:
        """The model's label: its own among the first MAX_MODELS admitted, else "other".
        A refused request does not admit its model: a client sending made-up model ids
        must not use up the labels of the real ones."""
        label = self._models.get(model or "")
        if label is None:
            if not admit or len(model or "") > MAX_MODEL_CHARS:
                return "other"
            label = (model or "") if len(self._models) < MAX_MODELS else "other"
            self._models[model or ""] = label
        return label

    def started(self, exchange: Exchange) -> None:
        """An exchange is being answered (counted in flight until `ended`)."""
        key = (exchange.api, exchange.model)  # labelled when published
        exchange.running = key
        running = self._running
        running[key] = running.get(key, 0) + 1
        if exchange.stream:
            streams = self._streams
            streams[key] = streams.get(key, 0) + 1

    def _new_series(self, key: tuple[Any, ...]) -> _Series:
        family, path, model, status, source, rule = key
        source = SOURCES.get(source or "error", "refused")
        name = ""
        if source == "rule":
            name = rule or ""
        elif source == "cassette" or source == "recording":
            name = (rule or "").partition("#")[0].removesuffix(" (recording)")
        # A 400 or 404 does not admit a model (made-up ids end there); a 429 or a 5xx
        # of a real model does.
        label = self._model(model, admit=status not in (400, 404))
        series = _Series((family, path, label, str(status), source, name))
        if len(self._series) < 10_000:  # replays name every interaction: keep it bounded
            self._series[key] = series
        return series

    def ended(
        self,
        exchange: Exchange,
        max_tokens: int | None = None,
        n: int = 1,
        choices: Sequence[tuple[int, str, int]] = (),
        model: LatencyModel | None = None,
    ) -> None:
        """Add an exchange's figures (after `finish_exchange` filled them in). An answer's
        request allowed `max_tokens` (asked, or the server's cap) in each of `n` choices,
        given (when `n` is more than 1) as (tokens, finish reason, ticks); `model` is the
        latency model that paced it, if any."""
        if model is not None and model is not self._cache_seen and self.vllm:
            self._cache_seen = model  # the same model as before costs one comparison
            if model.prefix_cache_tokens > 0:
                size = model.prefix_block_tokens
                self._caches.add((size, model.prefix_cache_tokens // size))
        pair = exchange.running
        if pair is not None:
            exchange.running = None
            self._running[pair] -= 1
            if exchange.stream:
                self._streams[pair] -= 1
        key = (
            exchange.api, exchange.path, exchange.model, exchange.status, exchange.source,
            exchange.rule,
        )  # fmt: skip
        series = self._series.get(key) or self._new_series(key)
        series.count += 1
        seconds = exchange.duration_ms / 1000
        index = bisect_left(DURATION_BOUNDS, seconds)
        hist = series.duration
        hist.counts[index] += 1
        hist.total += seconds
        first = exchange.first_token_ms
        if first is not None:  # an answer (not an error, not a replay)
            first /= 1000
            hist = series.ttft
            hist.counts[bisect_left(TTFT_BOUNDS, first)] += 1
            hist.total += first
            series.prompt += exchange.prompt_tokens
            series.completion += exchange.completion_tokens
            series.cached += exchange.cached_tokens
            if exchange.load is not None and "cached_tokens" in exchange.load:
                series.queried += exchange.prompt_tokens
                series.hit += exchange.cached_tokens
            if exchange.gaps is not None:
                counts, total = self._gap_counts(*exchange.gaps)
                hist = series.gaps
                for at, count in counts:
                    hist.counts[at] += count
                hist.total += total
            if self.vllm and exchange.status < 400:
                if choices:
                    self._vllm_children(
                        exchange, series, index, seconds, first, max_tokens, choices
                    )
                else:
                    self._vllm_answer(exchange, series, index, seconds, first, max_tokens)
        if exchange.faults or exchange.key is not None or exchange.reason is not None:
            self._rare(exchange)

    def _vllm_answer(
        self,
        exchange: Exchange,
        series: _Series,
        index: int,
        seconds: float,
        first: float,
        max_tokens: int | None,
        tokens: int | None = None,
        finish: str | None = None,
    ) -> None:
        """An answer's figures that only vLLM's names show: those of a request of vLLM's,
        with `tokens` and `finish` its own when it is one of `n` choices (else the
        exchange's)."""
        hist = series.served
        hist.counts[index] += 1
        hist.total += seconds
        queued = exchange.load.get("queued_ms", 0.0) / 1000 if exchange.load is not None else 0.0
        hist = series.queued
        hist.counts[bisect_left(DURATION_BOUNDS, queued)] += 1
        hist.total += queued
        if tokens is None:
            tokens = exchange.completion_tokens
            series.longest.counts[bisect_left(TOKEN_BOUNDS, tokens)] += 1
            series.longest.total += tokens
            series.n.counts[0] += 1
            series.n.total += 1
        # vLLM's phases: queued, then prefill to the first token, then decode to the last
        # (here the last byte); its mean time per output token leaves the first one out
        # (vllm/v1/metrics/stats.py, update_from_finished_request).
        decode = max(0.0, seconds - first)
        tpot = decode / (tokens - 1) if tokens > 1 else 0.0
        for hist, bounds, value in (
            (series.prompt_sizes, TOKEN_BOUNDS, exchange.prompt_tokens),
            (series.answer_sizes, TOKEN_BOUNDS, tokens),
            (series.prefill_time, VLLM_E2E_BOUNDS, max(0.0, first - queued)),
            (series.decode_time, VLLM_E2E_BOUNDS, decode),
            (series.inference_time, VLLM_E2E_BOUNDS, max(0.0, seconds - queued)),
            (series.request_tpot, VLLM_GAP_BOUNDS, tpot),
            (series.computed, TOKEN_BOUNDS, exchange.prompt_tokens - exchange.cached_tokens),
        ):
            hist.counts[bisect_left(bounds, value)] += 1
            hist.total += value
        if max_tokens:  # asked, or the server's cap (vLLM fills in the context left)
            hist = series.max_tokens
            hist.counts[bisect_left(TOKEN_BOUNDS, max_tokens)] += 1
            hist.total += max_tokens
        if exchange.error == "client disconnected" or any(
            fault.partition("=")[0] in CUTS for fault in exchange.faults
        ):
            series.finished[2] += 1
        else:
            reason = exchange.finish if finish is None else finish
            series.finished[1 if reason == "length" else 0] += 1

    def _vllm_children(
        self,
        exchange: Exchange,
        series: _Series,
        index: int,
        seconds: float,
        first: float,
        max_tokens: int | None,
        choices: Sequence[tuple[int, str, int]],
    ) -> None:
        """An answer of `n` choices, as vLLM counts it (vllm/v1/engine/parallel_sampling.py,
        output_processor.py): each choice a request of its own, finished with its own
        reason, its own tokens, and the whole prompt prefilled (and counted) again; the
        parent's `n` and longest choice once. Of an answer cut short, the tokens sent are
        counted, the first choices' first."""
        left = exchange.completion_tokens
        longest = 0
        for tokens, finish, _ in choices:
            tokens = min(tokens, left)
            left -= tokens
            longest = max(longest, tokens)
            self._vllm_answer(exchange, series, index, seconds, first, max_tokens, tokens, finish)
        n = len(choices)
        for hist, bounds, value in (
            (series.longest, TOKEN_BOUNDS, longest),
            (series.n, N_BOUNDS, n),
        ):
            hist.counts[bisect_left(bounds, value)] += 1
            hist.total += value
        more = n - 1  # the choices' first tokens and prompts besides the one counted
        series.first_more.counts[bisect_left(TTFT_BOUNDS, first)] += more
        series.first_more.total += first * more
        series.prompt_more += exchange.prompt_tokens * more
        if exchange.gaps is not None:
            # The schedule's gaps were counted once, for the choice with the most ticks;
            # each other choice's are its first ticks' gaps.
            offsets, factor = exchange.gaps
            widest = max(range(n), key=lambda i: choices[i][2])
            hist = series.gaps_more
            for i, (_, _, ticks) in enumerate(choices):
                if i == widest:
                    continue
                mine = offsets[: max(1, min(ticks, len(offsets)))]
                for before, after in zip(mine, mine[1:], strict=False):
                    gap = (after - before) * factor
                    hist.counts[bisect_left(GAP_BOUNDS, gap)] += 1
                    hist.total += gap

    def _rare(self, exchange: Exchange) -> None:
        """Faults, keys and misses: not on most exchanges."""
        family = exchange.api
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
        for before, after in zip(offsets, offsets[1:], strict=False):
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
            rare = (self._faults, self._credits, self._rate_limited, self._misses)
            self._faults, self._credits, self._rate_limited, self._misses = {}, {}, {}, {}
            running = self._labelled(self._running)
            state = self._grouped(self.state() if self.state is not None else {})
            self._instruments.publish(
                list(self._series.values()), *rare, running, self._labelled(self._streams), state,
                self.served,
            )  # fmt: skip
            for size, blocks in self._caches:
                self._instruments.v_cache_info.labels(
                    str(size), "auto", "True", "0", str(blocks)
                ).set(1)

    def _grouped(
        self, state: dict[str, tuple[int, int, float]]
    ) -> dict[str, tuple[int, int, float]]:
        """The latency model's groups, a group of a model named by the model's label (a
        group named in a scenario keeps its name)."""
        out: dict[str, tuple[int, int, float]] = {}
        for group, (busy, queued, used) in state.items():
            kind, _, name = group.partition(":")
            if kind == "model":
                group = "model:" + self._model(name)
            before = out.get(group, (0, 0, 0.0))
            out[group] = (before[0] + busy, before[1] + queued, max(before[2], used))
        return out

    def _labelled(
        self, counts: dict[tuple[str | None, str | None], int]
    ) -> dict[tuple[str | None, str], int]:
        """In-flight counts by (family, model label). "other" at 0 is left out until
        something was in flight under it: a refused made-up id would otherwise show as a
        series for "other", which a server refusing that id never has."""
        out: dict[tuple[str | None, str], int] = {}
        for (family, model), count in counts.items():
            label = self._model(model, admit=count > 0)
            key = (family, label)
            if count:
                self._shown.add(key)
            elif label == "other" and key not in self._shown:
                continue
            out[key] = out.get(key, 0) + count
        return out

    def exposition(self, accept: str = "", accept_encoding: str = "") -> tuple[bytes, str, str]:
        """Every figure (every worker's, in multiprocess mode): the body, its content type
        and its content encoding ("" or "gzip"). As prometheus-client's own ASGI app
        answers (and so vLLM's /metrics): in the format the scraper's `accept` names first
        (OpenMetrics for Prometheus, else the text format), gzipped when it accepts gzip."""
        self.publish()
        from prometheus_client.exposition import choose_encoder, gzip_accepted

        encoder, content_type = choose_encoder(accept)
        body = self._instruments.exposition(encoder)
        if gzip_accepted(accept_encoding):
            return gzip.compress(body), content_type, "gzip"
        return body, content_type, ""

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

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def _import_client() -> None:
    import prometheus_client  # noqa: F401

    # A process that froze its start-up heap for the collector (server.settle_heap) gets
    # prometheus-client's modules frozen too, rather than walked by every full collection.
    if gc.get_freeze_count():
        gc.freeze()


def _summed(table: dict[Any, _Hist], key_of: Any) -> dict[Any, _Hist]:
    """Histograms added up under fewer labels (vLLM's have no family)."""
    out: dict[Any, _Hist] = {}
    for key, hist in table.items():
        target = _hist(out, key_of(key), len(hist.counts) - 1)
        target.counts = [a + b for a, b in zip(target.counts, hist.counts, strict=True)]
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
    for value, count in zip(child._buckets, counts, strict=True):
        if count:
            value.inc(count)


# _Series histograms under vLLM's names only
_VLLM_ONLY = (
    "queued", "prompt_sizes", "answer_sizes", "prefill_time", "decode_time", "inference_time",
    "request_tpot", "max_tokens", "n", "longest", "computed", "first_more", "gaps_more",
)  # fmt: skip


class _Instruments:
    """The prometheus-client metrics, made on the first publish."""

    def __init__(self, vllm: bool, multiprocess: bool) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = multiprocess
        self.registry = CollectorRegistry()
        # In multiprocess mode values live in per-process files; the scrape reads them.
        registry = None if multiprocess else self.registry

        def counter(name: str, doc: str, labels: Sequence[str]) -> Any:
            return Counter(name, doc, labels, registry=registry)

        def gauge(
            name: str,
            doc: str,
            labels: Sequence[str],
            mode: Literal["livesum", "livemax"] = "livesum",
        ) -> Any:
            return Gauge(name, doc, labels, registry=registry, multiprocess_mode=mode)

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
            "Gaps between an answer's tokens, as scheduled (streamed or not)",
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
            # Each worker has its own cache: the fullest one's usage, which stays within 1.
            self.v_kv_usage = gauge(
                "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", names,
                mode="livemax",
            )  # fmt: skip
            # Its name until vLLM 0.9 (kept, deprecated, after): read by the endpoint
            # picker's model-server protocol and vLLM's own Grafana example.
            self.v_gpu_usage = gauge(
                "vllm:gpu_cache_usage_perc",
                "GPU KV-cache usage. 1 means 100 percent usage."
                "DEPRECATED: Use vllm:kv_cache_usage_perc instead.",
                names,
                mode="livemax",
            )
            # vLLM's info gauge (at 1) of its cache's shape, which the endpoint picker reads
            # to size its prefix-cache index: a latency model's blocks, as many as its
            # prefix cache holds (the labels of vLLM's CacheConfig that say so).
            self.v_cache_info = gauge(
                "vllm:cache_config_info",
                "Information of the LLMEngine CacheConfig",
                ("block_size", "cache_dtype", "enable_prefix_caching", "engine", "num_gpu_blocks"),
                mode="livemax",
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
            # Its name before vLLM 0.11, which dashboards written then (vLLM's own Grafana
            # example among them) still read: the same figures, with vLLM's words then.
            self.v_gaps_before = histogram(
                "vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds."
                "DEPRECATED: Use vllm:inter_token_latency_seconds instead.",
                names,
                VLLM_GAP_BOUNDS,
            )
            self.v_request_tpot = histogram(
                "vllm:request_time_per_output_token_seconds",
                "Histogram of time_per_output_token_seconds per request.",
                names,
                VLLM_GAP_BOUNDS,
            )
            self.v_e2e = histogram(
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
                names,
                VLLM_E2E_BOUNDS,
            )
            self.v_queued = histogram(
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                names,
                VLLM_E2E_BOUNDS,
            )
            self.v_inference_time = histogram(
                "vllm:request_inference_time_seconds",
                "Histogram of time spent in RUNNING phase for request.",
                names,
                VLLM_E2E_BOUNDS,
            )
            self.v_prefill_time = histogram(
                "vllm:request_prefill_time_seconds",
                "Histogram of time spent in PREFILL phase for request.",
                names,
                VLLM_E2E_BOUNDS,
            )
            self.v_decode_time = histogram(
                "vllm:request_decode_time_seconds",
                "Histogram of time spent in DECODE phase for request.",
                names,
                VLLM_E2E_BOUNDS,
            )
            self.v_max_tokens = histogram(
                "vllm:request_params_max_tokens",
                "Histogram of the max_tokens request parameter.",
                names,
                TOKEN_BOUNDS,
            )
            self.v_n = histogram(
                "vllm:request_params_n", "Histogram of the n request parameter.", names, N_BOUNDS
            )
            self.v_longest = histogram(
                "vllm:request_max_num_generation_tokens",
                "Histogram of maximum number of requested generation tokens.",
                names,
                TOKEN_BOUNDS,
            )
            self.v_prompt_sizes = histogram(
                "vllm:request_prompt_tokens",
                "Number of prefill tokens processed.",
                names,
                TOKEN_BOUNDS,
            )
            self.v_answer_sizes = histogram(
                "vllm:request_generation_tokens",
                "Number of generation tokens processed.",
                names,
                TOKEN_BOUNDS,
            )
            self.v_success = counter(
                "vllm:request_success",
                "Count of successfully processed requests.",
                (*names, "finished_reason"),
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
            # A latency model never preempts (past its cache it queues): always 0, there
            # for the dashboards and alerts that read it.
            self.v_preemptions = counter(
                "vllm:num_preemptions", "Cumulative number of preemption from the engine.", names
            )
            # vLLM 0.21.0's other series of every served model (loggers.py): the waiting
            # queue by reason (a latency model's queue waits for capacity; nothing is
            # deferred), the engine awake, the prompt tokens by where they came from, and
            # the external (KV connector) and multimodal caches, never used here.
            self.v_waiting_reason = gauge(
                "vllm:num_requests_waiting_by_reason",
                "Number of waiting requests by reason. Reason labels: 'capacity' = waiting for "
                "scheduling capacity; 'deferred' = deferred by transient constraints (LoRA "
                "budget, KV transfer, blocked status). Sum of all reasons equals "
                "vllm:num_requests_waiting.",
                (*names, "reason"),
            )
            self.v_sleep = gauge(
                "vllm:engine_sleep_state",
                "Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine "
                "is awake; weights_offloaded = 1 means sleep level 1; discard_all = 1 means "
                "sleep level 2.",
                (*names, "sleep_state"),
                mode="livemax",
            )
            self.v_by_source = counter(
                "vllm:prompt_tokens_by_source",
                "Number of prompt tokens by source.",
                (*names, "source"),
            )
            self.v_cached = counter(
                "vllm:prompt_tokens_cached",
                "Number of cached prompt tokens (local + external).",
                names,
            )
            self.v_computed = histogram(
                "vllm:request_prefill_kv_computed_tokens",
                "Histogram of new KV tokens computed during prefill (excluding cached tokens).",
                names,
                TOKEN_BOUNDS,
            )
            self.v_unused = [
                counter(name, doc, names)
                for name, doc in (
                    (
                        "vllm:external_prefix_cache_queries",
                        "External prefix cache queries from KV connector cross-instance cache "
                        "sharing, in terms of number of queried tokens.",
                    ),
                    (
                        "vllm:external_prefix_cache_hits",
                        "External prefix cache hits from KV connector cross-instance cache "
                        "sharing, in terms of number of cached tokens.",
                    ),
                    (
                        "vllm:mm_cache_queries",
                        "Multi-modal cache queries, in terms of number of queried items.",
                    ),
                    (
                        "vllm:mm_cache_hits",
                        "Multi-modal cache hits, in terms of number of cached items.",
                    ),
                )
            ]
        self._groups: set[str] = set()
        self._served: set[str] = set()

    def _serve(self, model: str) -> None:
        """Every vLLM series of a served model, at 0 (a gauge, counter or histogram child
        is made at 0 by naming its labels)."""
        for metric in (
            self.v_running, self.v_waiting, self.v_kv_usage, self.v_gpu_usage, self.v_ttft,
            self.v_gaps, self.v_gaps_before, self.v_request_tpot, self.v_e2e, self.v_queued,
            self.v_inference_time, self.v_prefill_time, self.v_decode_time, self.v_max_tokens,
            self.v_n, self.v_longest, self.v_prompt_sizes, self.v_answer_sizes, self.v_prompt,
            self.v_generation, self.v_queries, self.v_hits, self.v_preemptions, self.v_cached,
            self.v_computed, *self.v_unused,
        ):  # fmt: skip
            metric.labels(model, "0")
        for reason in FINISHED:
            self.v_success.labels(model, "0", reason)
        for source in SOURCES_OF_PROMPT:
            self.v_by_source.labels(model, "0", source)

    def publish(
        self,
        series: list[_Series],
        faults: dict[Any, int],
        credits: dict[str, float],
        rate_limited: dict[str, int],
        misses: dict[str, int],
        running: dict[Any, int],
        streams: dict[Any, int],
        state: dict[str, tuple[int, int, float]],
        served: tuple[str, ...] = (),
    ) -> None:
        requests: dict[tuple[str, ...], int] = {}
        hists: dict[str, dict[Any, _Hist]] = {
            name: {} for name in ("duration", "ttft", "gaps", "served") + _VLLM_ONLY
        }
        tokens: dict[tuple[str, str], list[int]] = {}
        finished: dict[str, list[int]] = {}
        for one in series:
            count, prompt, completion, cached, queried, hit, prompt_more = one.take()
            if count:
                requests[one.labels] = requests.get(one.labels, 0) + count
            if any(one.finished):
                found = finished.setdefault(one.pair[1], [0] * len(FINISHED))
                for i, figure in enumerate(one.finished):
                    found[i] += figure
                one.finished = [0] * len(FINISHED)
            for name, table in hists.items():
                counts, total = getattr(one, name).take()
                if any(counts):
                    into = _hist(table, one.pair, len(counts) - 1)
                    into.counts = [a + b for a, b in zip(into.counts, counts, strict=True)]
                    into.total += total
            if prompt or completion or cached or queried:
                found = tokens.setdefault(one.pair, [0, 0, 0, 0, 0, 0])
                figures = (prompt, completion, cached, queried, hit, prompt_more)
                for i, figure in enumerate(figures):
                    found[i] += figure
        for (family, path, model, status, source, name), count in requests.items():
            self.requests.labels(family, path, model, status, source, name).inc(count)
        for table, metric in (
            (hists["duration"], self.duration),
            (hists["ttft"], self.ttft),
            (hists["gaps"], self.gaps),
        ):
            for labels, hist in table.items():
                _add_counts(metric.labels(*labels), hist.counts, hist.total)
        for labels, (prompt, completion, cached, _, _, _) in tokens.items():
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
            busy, queued, _ = state.get(group, (0, 0, 0.0))
            self.queue.labels(group).set(queued)
            self.queue_running.labels(group).set(busy)
        if self.vllm:
            self._publish_vllm(hists, tokens, running, state, finished, served)

    def _publish_vllm(
        self,
        hists: dict[str, dict[Any, _Hist]],
        tokens: dict[Any, list[int]],
        running: dict[Any, int],
        state: dict[str, tuple[int, int, float]],
        finished: dict[str, list[int]],
        served: tuple[str, ...],
    ) -> None:
        for model in served:
            if model not in self._served:  # every series of it, from the first scrape
                self._served.add(model)
                self._serve(model)
        waiting: dict[str, int] = {}
        usage: dict[str, float] = {}
        admitted: dict[str, int] = {}  # a model's own group: its admitted requests
        for group, (busy, queued, used) in state.items():
            kind, _, name = group.partition(":")
            waiting[name] = waiting.get(name, 0) + queued
            usage[name] = max(usage.get(name, 0.0), used)
            if kind == "model":
                admitted[name] = admitted.get(name, 0) + busy
        by_model: dict[str, int] = {}
        for (_, model), count in running.items():
            by_model[model] = by_model.get(model, 0) + count
        for model in by_model.keys() | waiting.keys() | set(served):
            # vLLM always has all three (the endpoint picker reads them at every scrape):
            # a model without a latency model has no queue and no KV cache in use.
            queued = waiting.get(model, 0)
            self.v_waiting.labels(model, "0").set(queued)
            self.v_waiting_reason.labels(model, "0", "capacity").set(queued)
            self.v_waiting_reason.labels(model, "0", "deferred").set(0)
            for sleep, level in (("awake", 1), ("weights_offloaded", 0), ("discard_all", 0)):
                self.v_sleep.labels(model, "0", sleep).set(level)  # awake, never asleep
            self.v_kv_usage.labels(model, "0").set(usage.get(model, 0.0))
            self.v_gpu_usage.labels(model, "0").set(usage.get(model, 0.0))
            if model in admitted:
                # vLLM's running: the requests its group admitted. (In flight minus queued
                # would count, for a moment, a queued request whose client has left the
                # queue but whose exchange has not ended yet.)
                self.v_running.labels(model, "0").set(admitted[model])
            elif model in by_model:
                # vLLM's running excludes its waiting requests: in flight minus those queued
                self.v_running.labels(model, "0").set(max(0, by_model[model] - queued))
        for table, metric, bounds, coarse in (
            (hists["ttft"], self.v_ttft, TTFT_BOUNDS, VLLM_TTFT_BOUNDS),
            (hists["first_more"], self.v_ttft, TTFT_BOUNDS, VLLM_TTFT_BOUNDS),
            (hists["gaps"], self.v_gaps, GAP_BOUNDS, VLLM_GAP_BOUNDS),
            (hists["gaps_more"], self.v_gaps, GAP_BOUNDS, VLLM_GAP_BOUNDS),
            (hists["gaps"], self.v_gaps_before, GAP_BOUNDS, VLLM_GAP_BOUNDS),
            (hists["gaps_more"], self.v_gaps_before, GAP_BOUNDS, VLLM_GAP_BOUNDS),
            (hists["request_tpot"], self.v_request_tpot, VLLM_GAP_BOUNDS, VLLM_GAP_BOUNDS),
            (hists["inference_time"], self.v_inference_time, VLLM_E2E_BOUNDS, VLLM_E2E_BOUNDS),
            (hists["prefill_time"], self.v_prefill_time, VLLM_E2E_BOUNDS, VLLM_E2E_BOUNDS),
            (hists["decode_time"], self.v_decode_time, VLLM_E2E_BOUNDS, VLLM_E2E_BOUNDS),
            (hists["max_tokens"], self.v_max_tokens, TOKEN_BOUNDS, TOKEN_BOUNDS),
            (hists["n"], self.v_n, N_BOUNDS, N_BOUNDS),
            (hists["longest"], self.v_longest, TOKEN_BOUNDS, TOKEN_BOUNDS),
            (hists["served"], self.v_e2e, DURATION_BOUNDS, VLLM_E2E_BOUNDS),
            (hists["queued"], self.v_queued, DURATION_BOUNDS, VLLM_E2E_BOUNDS),
            (hists["prompt_sizes"], self.v_prompt_sizes, TOKEN_BOUNDS, TOKEN_BOUNDS),
            (hists["answer_sizes"], self.v_answer_sizes, TOKEN_BOUNDS, TOKEN_BOUNDS),
            (hists["computed"], self.v_computed, TOKEN_BOUNDS, TOKEN_BOUNDS),
        ):
            for model, hist in _summed(table, lambda key: key[1]).items():
                counts = _regrouped(hist, bounds, coarse)
                _add_counts(metric.labels(model, "0"), counts, hist.total)
        by_model_tokens: dict[str, list[int]] = {}
        for (_, model), figures in tokens.items():
            found = by_model_tokens.setdefault(model, [0, 0, 0, 0, 0, 0])
            for i, figure in enumerate(figures):
                found[i] += figure
        for model, (prompt, completion, cached, queried, hit, more) in by_model_tokens.items():
            self.v_prompt.labels(model, "0").inc(prompt + more)
            # by source: they add up to vllm:prompt_tokens (each of n choices prefills anew)
            self.v_cached.labels(model, "0").inc(cached)
            self.v_by_source.labels(model, "0", "local_compute").inc(prompt + more - cached)
            self.v_by_source.labels(model, "0", "local_cache_hit").inc(cached)
            self.v_by_source.labels(model, "0", "external_kv_transfer").inc(0)
            for unused in self.v_unused:
                unused.labels(model, "0").inc(0)
            self.v_generation.labels(model, "0").inc(completion)
            self.v_queries.labels(model, "0").inc(queried)
            self.v_hits.labels(model, "0").inc(hit)
            self.v_preemptions.labels(model, "0").inc(0)
        for model, counts in finished.items():
            for reason, count in zip(FINISHED, counts, strict=True):
                self.v_success.labels(model, "0", reason).inc(count)  # zero too, as vLLM has

    def exposition(self, encoder: Any) -> bytes:
        if not self.multiprocess:
            return encoder(self.registry)  # type: ignore[no-any-return]
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return encoder(registry)  # type: ignore[no-any-return]
