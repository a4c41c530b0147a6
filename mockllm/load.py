"""A loaded model server's capacity: requests in flight per group, the queue past
capacity, the prefix cache, and the due times of an answer that follow from them.

The endpoint asks `Capacity.enter` before it writes an answer a latency model covers:
it gets a `Ticket` (admitted now), a future of one (queued), or a refusal (the queue is
full). The ticket says how loaded the group was at admission; `due_times` turns the
answer's rendered offsets into the loaded server's, and `release` frees the slot when
the exchange ends. Everything here runs on the server's event loop, a few dict and
deque operations per exchange: nothing per token.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mockllm.cache import Memo
from mockllm.errors import RequestError
from mockllm.prefix import PrefixCache, prompt_blocks

if TYPE_CHECKING:
    from mockllm.conversation import Conversation
    from mockllm.render import Rendered
    from mockllm.rules import LatencyModel, Rule

FIRST_ESTIMATE_S = 1.0  # what an exchange is taken to last before one has ended
SMOOTHING = 0.1  # weight of the last exchange's duration in the running mean
MEMO_SIZE = 1024


@dataclass(slots=True)
class Pool:
    """One group's requests: running (admitted, answering) and waiting (queued)."""

    name: str
    running: int = 0
    # queued: a future of the Ticket, or of None when the request leaves (`leave`)
    waiting: deque[tuple[asyncio.Future[Ticket | None], LatencyModel, float]] = None  # type: ignore[assignment]
    mean_s: float = FIRST_ESTIMATE_S  # running mean of an exchange's duration
    held: int = 0  # KV-cache tokens the running requests hold
    kv_tokens: int = 0  # the KV cache's size in tokens (the model's prefix_cache_tokens)

    def __post_init__(self) -> None:
        self.waiting = deque()


@dataclass(slots=True)
class Ticket:
    """An admitted request: how loaded its group was, and how long it queued."""

    pool: Pool
    model: LatencyModel
    in_flight: int  # requests running in the group at admission, this one included
    ttft_factor: float
    gap_factor: float
    queued_s: float = 0.0
    cached_tokens: int = 0
    prefill_s: float = 0.0  # the prompt's uncached tokens at the model's prefill rate
    held: int = 0  # KV-cache tokens it holds while it runs: uncached prompt and answer

    def due_times(self, offsets: Sequence[float], first: float) -> tuple[float, ...]:
        """Offsets from arrival, as the loaded server sends them: the queue's wait, then
        the first token at (`first` + prefill) x the TTFT factor, then every gap after it
        x the gap factor. `first` is the unloaded answer's first-token offset."""
        head = self.queued_s + self.ttft_factor * (first + self.prefill_s)
        factor = self.gap_factor
        return tuple(head + factor * (offset - first) for offset in offsets)

    def first_token_s(self, first: float) -> float:
        return self.queued_s + self.ttft_factor * (first + self.prefill_s)


class Capacity:
    """The in-flight counts, queues and prefix caches of one server (one process)."""

    def __init__(self) -> None:
        self._pools: dict[str, Pool] = {}
        self._caches: dict[str, PrefixCache] = {}
        self._blocks: Memo[tuple[int, int], tuple[Conversation, tuple[int, ...]]] = Memo(MEMO_SIZE)
        self._variants: Memo[tuple[int, int], tuple[Rendered, Rendered]] = Memo(MEMO_SIZE)

    def group(self, model: LatencyModel, request: Conversation, rule: Rule | None) -> str:
        """Which requests share an in-flight count (and a prefix cache) with this one."""
        if model.group == "model":
            return "model:" + request.model
        if model.group == "rule":
            return "rule:" + rule.ref if rule is not None else "model:" + request.model
        return "group:" + model.group

    def pool(self, name: str) -> Pool:
        found = self._pools.get(name)
        if found is None:
            found = self._pools[name] = Pool(name)
        return found

    def enter(self, model: LatencyModel, group: str) -> Ticket | asyncio.Future[Ticket | None]:
        """Admit a request now (a Ticket), queue it (a future of its Ticket), or refuse
        it with the model's `queue_full_status` and a Retry-After (RequestError)."""
        pool = self.pool(group)
        capacity = model.max_concurrency
        if capacity is None or (pool.running < capacity and not pool.waiting):
            pool.running += 1
            ttft, gap = model.factors(pool.running)
            return Ticket(pool, model, pool.running, ttft, gap)
        if model.max_queue is not None and len(pool.waiting) >= model.max_queue:
            raise _refusal(model, pool)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Ticket | None] = loop.create_future()
        pool.waiting.append((future, model, loop.time()))
        return future

    def leave(self, group: str, queued: asyncio.Future[Ticket | None]) -> None:
        """A queued request whose client went away gives up its place at once (as vLLM
        aborts a waiting request whose client disconnects): it no longer counts as waiting,
        and its future gives None. A scan of the queue, on this rare path only; nothing
        when its turn has come already."""
        if queued.done():
            return
        pool = self._pools.get(group)
        if pool is not None:
            for entry in pool.waiting:
                if entry[0] is queued:
                    pool.waiting.remove(entry)
                    break
        queued.set_result(None)

    def release(self, ticket: Ticket, duration_s: float | None) -> None:
        """The exchange ended (after `duration_s`; None: refused before answering): its
        slot goes to the first request still queued."""
        pool = ticket.pool
        pool.held -= ticket.held
        ticket.held = 0
        if duration_s is not None:
            pool.mean_s += SMOOTHING * (duration_s - pool.mean_s)
        while pool.waiting:
            future, model, since = pool.waiting.popleft()
            if future.done():  # the waiting request went away
                continue
            now = future.get_loop().time()
            ttft, gap = model.factors(pool.running)
            future.set_result(Ticket(pool, model, pool.running, ttft, gap, now - since))
            return
        pool.running -= 1

    def prefill(
        self, ticket: Ticket, group: str, request: Conversation, prompt: int, completion: int = 0
    ) -> None:
        """Look the prompt up in the group's prefix cache (then keep it there) and set the
        ticket's cached tokens and prefill time, and the KV-cache tokens it holds until it
        is released: its uncached prompt tokens and its answer's (a cached head is shared
        with the requests that put it there, as vLLM shares its blocks)."""
        model = ticket.model
        cached = 0
        if model.prefix_cache_tokens > 0 and request.api != "embeddings":
            size = model.prefix_block_tokens
            cache = self._caches.get(group)
            if cache is None:
                cache = self._caches[group] = PrefixCache(model.prefix_cache_tokens, size)
            key = (id(request), size)
            found = self._blocks.get(key)
            if found is None or found[0] is not request:
                found = (request, prompt_blocks(request, size))
                self._blocks.put(key, found)
            cached = min(cache.visit(found[1]), max(prompt - 1, 0))
        ticket.cached_tokens = cached
        ticket.prefill_s = model.prefill_ms_per_1k * (prompt - cached) / 1_000_000
        pool = ticket.pool
        pool.kv_tokens = model.prefix_cache_tokens
        ticket.held = prompt - cached + completion
        pool.held += ticket.held

    def with_cached(self, rendered: Rendered, cached: int) -> Rendered:
        """The rendered answer reporting `cached` prompt tokens from the cache (the same
        object for the same answer and count, so its encoded bytes are reused)."""
        if cached == rendered.cached_tokens:
            return rendered
        key = (id(rendered), cached)
        found = self._variants.get(key)
        if found is None or found[0] is not rendered:
            found = (rendered, replace(rendered, cached_tokens=cached))
            self._variants.put(key, found)
        return found[1]

    def state(self) -> dict[str, tuple[int, int, float]]:
        """(running, queued, KV-cache usage from 0 to 1) of every group, for the metrics.
        The usage is the running requests' tokens over the cache's size (0 for a model
        without a prefix cache); a real server past its cache preempts, so it stops at 1."""
        return {
            name: (
                p.running,
                len(p.waiting),
                min(1.0, p.held / p.kv_tokens) if p.kv_tokens else 0.0,
            )
            for name, p in self._pools.items()
        }

    def reset(self) -> None:
        """Empty the prefix caches (in-flight counts belong to requests still running)."""
        for cache in self._caches.values():
            cache.clear()


def _refusal(model: LatencyModel, pool: Pool) -> RequestError:
    capacity = model.max_concurrency or 1
    retry = max(1, math.ceil((len(pool.waiting) + 1) * pool.mean_s / capacity))
    where = pool.name.partition(":")[2]
    state = (
        f"{pool.running} requests running and {len(pool.waiting)} queued for {where!r} "
        f"(capacity {capacity}, queue {model.max_queue})"
    )
    if model.queue_full_status == 503:
        return RequestError(
            503,
            f"The server is overloaded: {state}. Please retry after {retry} s.",
            type="server_error",
            code="server_overloaded",
            headers=(("Retry-After", str(retry)),),
        )
    return RequestError(
        429,
        f"Too many requests in flight: {state}. Please retry after {retry} s.",
        type="requests",
        code="rate_limit_exceeded",
        headers=(("Retry-After", str(retry)),),
    )
