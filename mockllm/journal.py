"""The journal: the last exchanges, kept in the state store, for assertions."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from mockllm.state import StateStore


# Where an exchange's answer came from (its `source`).
SOURCES = (
    "rule", "default", "cassette", "upstream", "direct", "miss", "error", "capacity", "route",
)  # fmt: skip

SHOWN_BODY_LIMIT = 64 * 1024  # characters of a body's text shown when it cannot be JSON


def viewable(body: Any) -> Any:
    """A request body as the journal's views send it: the body itself, unless orjson could
    not encode it inside their wrapping (`{"requests": [{"request": …}]}`: orjson stops at
    255 levels, and a family accepts bodies up to 254 deep in some fields); then a note
    with its text, clipped. Checked when a view is made, never while a request is answered.
    """
    if body is None or isinstance(body, str | int | float | bool):
        return body
    try:  # sixteen levels of room for any view's wrapping
        orjson.dumps([[[[[[[[[[[[[[[[body]]]]]]]]]]]]]]]])
        return body
    except TypeError:  # orjson.JSONEncodeError: nested too deep, or not JSON at all
        pass
    if isinstance(body, bytes | bytearray):
        text = bytes(body).decode("utf-8", "replace")
    else:
        try:
            text = json.dumps(body, ensure_ascii=False)
        except (RecursionError, TypeError, ValueError):
            text = ""
    return {
        "truncated": True,
        "reason": "nested too deep to send as JSON",
        "text": text[:SHOWN_BODY_LIMIT],
    }


@dataclass(slots=True)
class Exchange:
    """One request and what answered it. Filled in as the exchange goes on.

    The fields after `error` are references to objects the request made anyway (never
    copies), kept for the inspector's view of one exchange; `to_json` leaves them out.
    """

    id: str
    method: str
    path: str
    started: float
    api: str | None = "chat"  # the API family: chat, responses, messages, embeddings; None:
    # a request that is not a family's POST (models, stored responses, an unknown path)
    request: Any = None  # the parsed JSON body, or None
    model: str | None = None
    stream: bool = False
    rule: str | None = None
    # one of SOURCES: "direct" for an answer no rule can change (token counting), "route"
    # for the paths that are not a family's POST (models, stored responses, balance)
    source: str | None = None
    status: int = 0
    faults: tuple[str, ...] = ()
    attempts: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_ms: float = 0.0
    error: str | None = None
    cached_tokens: int = 0  # of prompt_tokens, read from the prefix cache
    first_token_ms: float | None = None  # when the first token was due, from arrival
    load: dict[str, Any] | None = None  # what the latency model did (docs/load.md)
    key: str | None = None  # the key's alias (never the key), when a keys file is used
    credits: float | None = None  # what the exchange cost, when the key has prices
    reason: str | None = None  # why a refusal was made, when it matters: "rate_limited"
    gaps: Any = None  # (rendered offsets, gap factor) of a stream, for the metrics
    finish: str | None = None  # an answer's first choice's finish_reason, for the metrics
    running: Any = None  # the metrics' (family, model) it is counted in flight under
    headers: Mapping[str, str] | None = None  # as received (the endpoint's decoded dict)
    conversation: Any = None  # the parsed request (conversation.Conversation)
    outcome: Any = None  # what the engine answered (engine.Outcome)
    answer: Any = None  # what was sent: a wire.Body, or the JSON bytes of a refusal
    sent_headers: list[tuple[bytes, bytes]] | None = None
    ticks: list[tuple[float, int]] | None = None  # (offset s, events sent so far) per write

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "api": self.api,
            "started": self.started,
            "request": viewable(self.request),
            "model": self.model,
            "stream": self.stream,
            "rule": self.rule,
            "source": self.source,
            "status": self.status,
            "faults": list(self.faults),
            "attempts": self.attempts,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cached_tokens": self.cached_tokens,
            },
            "duration_ms": round(self.duration_ms, 3),
            "first_token_ms": (
                round(self.first_token_ms, 3) if self.first_token_ms is not None else None
            ),
            "load": self.load,
            "error": self.error,
        }


class Journal:
    """The last `size` exchanges, oldest first, in a StateStore (in memory, or shared by
    every process on Redis).

    `follow` lets a watcher (the inspector's feed) hear of every exchange this process adds
    or finishes, and of every clear.
    """

    def __init__(self, store: StateStore, size: int) -> None:
        self.store = store
        self.size = size
        self._followers: list[Follower] = []
        # A shared store keeps JSON for every process; this process's own exchanges are
        # also kept here as objects, so that it can show their answers and timing.
        self._mine: collections.deque[Exchange] | None = (
            collections.deque(maxlen=size) if store.is_shared and size > 0 else None
        )

    def add(self, exchange: Exchange) -> None:
        """Keep an exchange (before its answer's last byte leaves)."""
        if self.size > 0:
            self.store.journal_add(exchange, self.size)
            if self._mine is not None:
                self._mine.append(exchange)

    def finish(self, exchange: Exchange) -> None:
        """The exchange added earlier has ended: keep its final figures."""
        if self.size > 0:
            self.store.journal_update(exchange)

    def _add_followed(self, exchange: Exchange) -> None:
        Journal.add(self, exchange)
        for follower in self._followers:
            follower.added(exchange)

    def _finish_followed(self, exchange: Exchange) -> None:
        Journal.finish(self, exchange)
        for follower in self._followers:
            follower.finished(exchange)

    def entries(self) -> list[dict[str, Any]]:
        """Every exchange kept, oldest first, as JSON."""
        return self.store.journal()

    def kept(self) -> list[Any]:
        """The exchanges this process keeps as objects, oldest first: every one in memory;
        none in a shared store, which keeps JSON."""
        return self.store.journal_kept()

    def own(self, entries: list[Any]) -> list[Any]:
        """`entries` (a shared store's JSON) with this process's own exchanges as the
        objects it keeps, which say more (the key, the timing, the answer)."""
        if not self._mine:
            return entries
        mine: dict[Any, Any] = {exchange.id: exchange for exchange in self._mine}
        return [mine.get(e.get("id"), e) if isinstance(e, dict) else e for e in entries]

    def find(self, exchange_id: str) -> Exchange | None:
        """The exchange with this id, while this process keeps it as an object (its own
        exchanges, with a shared store)."""
        kept: list[Any] = list(self._mine) if self._mine is not None else self.kept()
        for exchange in reversed(kept):
            if exchange.id == exchange_id:
                return exchange  # type: ignore[no-any-return]
        return None

    def clear(self) -> None:
        self.store.journal_clear()
        self.was_cleared()

    def was_cleared(self) -> None:
        """The journal was emptied (by `clear`, or by a reset of the whole store)."""
        if self._mine is not None:
            self._mine.clear()
        for follower in list(self._followers):
            follower.cleared()

    def follow(self, follower: Follower) -> Callable[[], None]:
        """Tell `follower` of each exchange added or finished from now on, and of clears;
        returns the call that stops it.

        While someone follows, this instance's `add` and `finish` are `_add_followed` and
        `_finish_followed`; with nobody following, the class's run, so the journal costs an
        exchange nothing more than it did before anyone could follow it. Call from the
        event loop's thread.
        """
        self._followers.append(follower)
        self.add = self._add_followed  # type: ignore[method-assign]
        self.finish = self._finish_followed  # type: ignore[method-assign]

        def unfollow() -> None:
            if follower in self._followers:
                self._followers.remove(follower)
            if not self._followers:
                for name in ("add", "finish"):
                    vars(self).pop(name, None)

        return unfollow


class Follower:
    """What `Journal.follow` calls: on the loop's thread for `added` and `finished`, on
    the caller's for `cleared`."""

    def added(self, exchange: Exchange) -> None: ...

    def finished(self, exchange: Exchange) -> None: ...

    def cleared(self) -> None: ...
