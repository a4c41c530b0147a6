"""The journal: the last exchanges, kept in the state store, for assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockllm.state import StateStore


@dataclass(slots=True)
class Exchange:
    """One request and what answered it. Filled in as the exchange goes on."""

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
    # "rule", "default", "cassette", "upstream", "miss", "error"; "direct" for an answer no
    # rule can change (token counting); "route" for the paths that are not a family's POST
    # (models, stored responses, balance)
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
    running: Any = None  # the metrics' (family, model) it is counted in flight under

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "api": self.api,
            "started": self.started,
            "request": self.request,
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
    every process on Redis)."""

    def __init__(self, store: StateStore, size: int) -> None:
        self.store = store
        self.size = size

    def add(self, exchange: Exchange) -> None:
        """Keep an exchange (before its answer's last byte leaves)."""
        if self.size > 0:
            self.store.journal_add(exchange, self.size)

    def finish(self, exchange: Exchange) -> None:
        """The exchange added earlier has ended: keep its final figures."""
        if self.size > 0:
            self.store.journal_update(exchange)

    def entries(self) -> list[dict[str, Any]]:
        """Every exchange kept, oldest first, as JSON."""
        return self.store.journal()

    def clear(self) -> None:
        self.store.journal_clear()
