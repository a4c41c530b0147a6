"""Scrubbing: keep credentials and chosen body fields out of what is written to disk.

Header values are replaced by a placeholder, configured JSON paths are removed from bodies
and from each SSE event's ``data:``, and API keys are hunted for in bodies, URLs and queries,
even when a key is split across two stream events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from mockllm.sse import map_data

if TYPE_CHECKING:
    from mockllm.cassettes import Events, Headers, RecordedRequest, RecordedResponse

REDACTED = "<redacted>"
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "openai-organization", "openai-project"}
    | {"cookie", "set-cookie"}
)
_KEY_HEADERS = ("authorization", "x-api-key", "api-key")
_KEY_PATTERNS = (rb"(?<![\w-])sk-[A-Za-z0-9_-]{20,}", rb"(?<![\w-])ak_[A-Za-z0-9_-]{16,}")
_MIN_SECRET = 8  # shorter values are dropped from headers but not hunted for in bodies


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return None


@lru_cache(maxsize=64)
def _secret_pattern(secrets: frozenset[str]) -> re.Pattern[bytes]:
    literal = [re.escape(s.encode()) for s in sorted(secrets, key=len, reverse=True)]
    return re.compile(b"|".join([*literal, *_KEY_PATTERNS]))


@dataclass(frozen=True, slots=True)
class Scrubber:
    """Keeps secrets off disk: credential headers, configured body paths, API keys in bodies.

    ``body_paths`` are dotted JSON paths (``metadata.user_email``; ``*`` for every item).
    ``secrets`` are values hunted for in every body besides those of the request's own
    key headers and anything shaped like an OpenAI (``sk-…``) or ``ak_…`` key.
    """

    extra_headers: frozenset[str] = frozenset()
    body_paths: tuple[str, ...] = ()
    secrets: frozenset[str] = frozenset()

    def secrets_in(self, headers: Headers) -> frozenset[str]:
        """The raw key values a request carries in its credential headers."""
        found = set(self.secrets)
        for name, value in headers:
            if name.lower() in _KEY_HEADERS:
                found.update({value.strip(), value.strip().partition(" ")[2].strip()})
        return frozenset(s for s in found if len(s) >= _MIN_SECRET)

    def request(self, request: RecordedRequest, secrets: Iterable[str] = ()) -> RecordedRequest:
        """The request with credentials redacted and configured body paths removed."""
        pattern = self._pattern(request.headers, secrets)
        body = pattern.sub(REDACTED.encode(), self._drop_paths(request.body))
        query, url = _redact(request.query, pattern), _redact(request.url, pattern)
        headers = self._headers(request.headers, pattern)
        return replace(request, query=query, headers=headers, body=body, url=url)

    def response(
        self,
        response: RecordedResponse,
        secrets: Iterable[str] = (),
        *,
        request_headers: Headers = (),
    ) -> RecordedResponse:
        """The response with credentials redacted, even a key split across SSE events."""
        pattern = self._pattern(request_headers, secrets)
        headers = self._headers(response.headers, pattern)
        if response.events is None:
            body = pattern.sub(REDACTED.encode(), self._drop_paths(response.body))
            return replace(response, headers=headers, body=body, events=None)
        events = tuple((o, self._drop_event_paths(e)) for o, e in response.events)
        events = _redact_events(events, pattern)
        body = b"".join(e for _, e in events)
        return replace(response, headers=headers, body=body, events=events)

    def _pattern(self, headers: Headers, secrets: Iterable[str]) -> re.Pattern[bytes]:
        extra = frozenset(s for s in secrets if len(s) >= _MIN_SECRET)
        return _secret_pattern(self.secrets_in(headers) | extra)

    def _headers(self, headers: Headers, pattern: re.Pattern[bytes]) -> Headers:
        hidden = SECRET_HEADERS | {h.lower() for h in self.extra_headers}
        return tuple(
            (k, REDACTED if k.lower() in hidden else _redact(v, pattern)) for k, v in headers
        )

    def _drop_paths(self, body: bytes) -> bytes:
        data = _parse_json(body) if self.body_paths else None
        if not isinstance(data, dict | list):
            return body
        changed = [_drop_path(data, path.split(".")) for path in self.body_paths]
        return orjson.dumps(data) if any(changed) else body

    def _drop_event_paths(self, event: bytes) -> bytes:
        return map_data(event, self._drop_paths)


def _redact(text: str, pattern: re.Pattern[bytes]) -> str:
    return pattern.sub(REDACTED.encode(), text.encode()).decode()


def _drop_path(node: Any, parts: list[str]) -> bool:
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list) and head == "*":
        keys = list(range(len(node)))
    else:
        return False
    if not rest and isinstance(node, dict):
        for key in keys:
            del node[key]
        return bool(keys)
    return any([_drop_path(node[key], rest) for key in keys]) if rest else False


def _redact_events(events: Events, pattern: re.Pattern[bytes]) -> Events:
    """Redact across event boundaries; the placeholder goes where a secret starts."""
    joined = b"".join(e for _, e in events)
    spans = [m.span() for m in pattern.finditer(joined)]
    if not spans:
        return events
    result, start = [], 0
    for offset, event in events:
        end, cursor, piece = start + len(event), start, bytearray()
        for s, e in spans:
            if e <= cursor or s >= end:
                continue
            piece += joined[cursor:s] if s > cursor else b""
            piece += REDACTED.encode() if s >= start else b""
            cursor = min(e, end)
        piece += joined[cursor:end]
        if piece:
            result.append((offset, bytes(piece)))
        start = end
    return tuple(result)
