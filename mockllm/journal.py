"""The journal: every exchange kept in memory, bounded, for assertions."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Exchange:
    """One request and what answered it. Filled in as the exchange goes on."""

    id: str
    method: str
    path: str
    started: float
    api: str = "chat"  # the API family: chat, responses, messages, embeddings
    request: Any = None  # the parsed JSON body, or None
    model: str | None = None
    stream: bool = False
    rule: str | None = None
    source: str | None = None  # "rule", "default", "cassette", "upstream", "miss", "error"
    status: int = 0
    faults: tuple[str, ...] = ()
    attempts: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_ms: float = 0.0
    error: str | None = None

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
            },
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
        }


class Journal:
    """The last `size` exchanges, oldest first."""

    def __init__(self, size: int) -> None:
        self._entries: deque[Exchange] = deque(maxlen=max(size, 0) or None)
        self._lock = threading.Lock()
        self.size = size

    def add(self, exchange: Exchange) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries.append(exchange)

    def entries(self) -> list[Exchange]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
