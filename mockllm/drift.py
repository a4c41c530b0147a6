"""Drift: does the real API still answer each recorded request in the recorded shape?

``mockllm cassette check`` sends every recorded LLM API request to the upstream again and
compares the *shape* of the new answer with the recorded one, never the values:

- the status;
- the key paths of a JSON body (``choices[].message.content``; list items merged);
- for a stream, the event types in order (a run of one type counts once, since the number of
  deltas changes from run to run) and the key paths of every event's data;
- the names of the headers clients read: ``x-ratelimit-*``, ``anthropic-ratelimit-*``,
  ``retry-after``, ``retry-after-ms``, ``x-request-id``, ``request-id`` (not compared when the
  recording kept none of them, as cassettes whose serializer filtered headers).

The key comes from the environment and goes only into the request's auth header.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from mockllm.cassettes import Interaction, family_of
from mockllm.scrub import REDACTED, SECRET_HEADERS
from mockllm.sse import fields_of, split_events
from mockllm.upstream import Upstream, UpstreamError

Outcome = Literal["ok", "drift", "error"]
_READ_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
_READ_NAMES = frozenset({"retry-after", "retry-after-ms", "x-request-id", "request-id"})
_NOT_SENT = frozenset({"content-length", "host", "accept-encoding", "connection"})
KEY_ENV = {"messages": "ANTHROPIC_API_KEY"}
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True, slots=True)
class Shape:
    """What a client relies on in an answer, values left out."""

    status: int
    keys: frozenset[str]
    events: tuple[str, ...] | None  # None: not a stream
    headers: frozenset[str]


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the new answer's shape differs from the recorded one."""

    what: Literal["status", "keys", "events", "headers"]
    recorded: Any
    now: Any

    def lines(self) -> list[str]:
        if self.what == "status":
            return [f"status: recorded {self.recorded}, now {self.now}"]
        if self.what == "events":
            return [
                f"event types: recorded {' '.join(self.recorded)}",
                f"             now      {' '.join(self.now)}",
            ]
        word = "keys" if self.what == "keys" else "header names"
        gone = sorted(set(self.recorded) - set(self.now))
        new = sorted(set(self.now) - set(self.recorded))
        out = []
        if gone:
            out.append(f"{word} no longer sent: {', '.join(gone)}")
        if new:
            out.append(f"new {word}: {', '.join(new)}")
        return out

    def to_json(self) -> dict[str, Any]:
        if self.what in ("keys", "headers"):
            return {
                "what": self.what,
                "missing": sorted(set(self.recorded) - set(self.now)),
                "new": sorted(set(self.now) - set(self.recorded)),
            }
        return {"what": self.what, "recorded": self.recorded, "now": self.now}


@dataclass(slots=True)
class Check:
    """The result for one recorded interaction."""

    cassette: str
    index: int
    method: str
    path: str
    stream: bool
    outcome: Outcome = "ok"
    differences: list[Difference] = field(default_factory=list)
    error: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.cassette}#{self.index}"

    def to_json(self) -> dict[str, Any]:
        return {
            "interaction": self.ref,
            "method": self.method,
            "path": self.path,
            "stream": self.stream,
            "outcome": self.outcome,
            "differences": [d.to_json() for d in self.differences],
            **({"error": self.error} if self.error else {}),
        }


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value: ``choices``, ``choices[].message``, ..."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            found.add(path)
            found |= key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            found |= key_paths(item, f"{prefix}[]")
    return found


def _event_type(event: bytes) -> tuple[str | None, Any]:
    name, data = fields_of(event)
    if data is None and name is None:
        return None, None  # a comment or keep-alive
    raw = data or b""
    if raw.strip() == b"[DONE]":
        return name or "[DONE]", None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return name or "data", None
    if name is None and isinstance(data, dict):
        name = data.get("type") if isinstance(data.get("type"), str) else _chat_kind(data)
    return name or "data", data


def _chat_kind(chunk: dict[str, Any]) -> str:
    """A chat chunk's part in the stream: role, content, tool_calls, finish, usage, error;
    a legacy completion's event (its choice has ``text``, no ``delta``): text, finish."""
    if "error" in chunk:
        return "error"
    choices = [c for c in chunk.get("choices") or [] if isinstance(c, dict)]
    if not choices:
        return "usage" if chunk.get("usage") else str(chunk.get("object") or "chunk")
    found = choices[0].get("delta")
    delta: dict[str, Any] = found if isinstance(found, dict) else {}
    for kind in ("role", "tool_calls", "refusal"):
        if delta.get(kind):
            return kind
    if delta.get("content"):
        return "content"
    if isinstance(choices[0].get("text"), str) and choices[0]["text"]:
        return "text"
    if choices[0].get("finish_reason"):
        return "finish"
    return "chunk"


def shape_of(status: int, headers: Iterable[tuple[str, str]], body: bytes, stream: bool) -> Shape:
    """The shape of an answer: status, key paths or event types, read header names."""
    read = frozenset(
        name.lower()
        for name, _ in headers
        if name.lower() in _READ_NAMES or name.lower().startswith(_READ_PREFIXES)
    )
    if not stream:
        try:
            keys = frozenset(key_paths(orjson.loads(body))) if body.strip() else frozenset()
        except orjson.JSONDecodeError:
            keys = frozenset()
        return Shape(status, keys, None, read)
    types: list[str] = []
    keys_seen: set[str] = set()
    for event in split_events(body):
        kind, data = _event_type(event)
        if kind is None:
            continue
        if not types or types[-1] != kind:
            types.append(kind)
        keys_seen |= key_paths(data)
    return Shape(status, frozenset(keys_seen), tuple(types), read)


def compare(recorded: Shape, now: Shape) -> list[Difference]:
    """How ``now`` differs from ``recorded``; empty when the shape is the same."""
    out: list[Difference] = []
    if recorded.status != now.status:
        out.append(Difference("status", recorded.status, now.status))
    if recorded.keys != now.keys:
        out.append(Difference("keys", sorted(recorded.keys), sorted(now.keys)))
    if recorded.events != now.events:
        out.append(Difference("events", list(recorded.events or ()), list(now.events or ())))
    if recorded.headers and recorded.headers != now.headers:
        out.append(Difference("headers", sorted(recorded.headers), sorted(now.headers)))
    return out


def recorded_shape(interaction: Interaction) -> Shape:
    response = interaction.response
    return shape_of(response.status, response.headers, response.body, response.events is not None)


def _headers(interaction: Interaction, key: str | None) -> list[tuple[str, str]]:
    sent = [
        (name, value)
        for name, value in interaction.request.headers
        if name.lower() not in SECRET_HEADERS | _NOT_SENT and REDACTED not in value
    ]
    if key:
        if _is_anthropic(interaction):
            sent.append(("x-api-key", key))
        else:
            sent.append(("authorization", f"Bearer {key}"))
    if not any(name.lower() == "content-type" for name, _ in sent):
        sent.append(("content-type", "application/json"))
    return sent


def key_for(interaction: Interaction, key_env: str | None) -> str | None:
    """The key to send: from ``key_env``, or the family's usual variable."""
    family = "messages" if _is_anthropic(interaction) else "chat"
    return os.environ.get(key_env or KEY_ENV.get(family, DEFAULT_KEY_ENV)) or None


def _is_anthropic(interaction: Interaction) -> bool:
    """Whether a call went to Anthropic's API: the Messages API's, its token count, or any
    call recorded with Anthropic's version header (its models list)."""
    request = interaction.request
    return (
        family_of(request.path) == "messages"
        or request.path.rstrip("/").endswith("/messages/count_tokens")
        or any(name.lower() == "anthropic-version" for name, _ in request.headers)
    )


_MODELS = re.compile(r"(?:^|/)v\d+[a-z0-9]*/models(?:/[^/]+)?/?$")
_COUNTS = ("/messages/count_tokens", "/responses/input_tokens")


def is_checkable(interaction: Interaction) -> bool:
    """Whether a recorded call is sent to the API again: a model call, the models list (or
    one model), a token count. The others are not: they change what the API stores (a
    DELETE, a cancel, a conversation created) or name what it stored (a response by its
    id), which is no longer there."""
    request = interaction.request
    path = request.path.rstrip("/")
    if request.method == "POST":
        return family_of(path) is not None or path.endswith(_COUNTS)
    return request.method == "GET" and _MODELS.search(path) is not None


async def check_one(interaction: Interaction, upstream: Upstream, key: str | None) -> Check:
    """Send one recorded request again and compare the answer's shape with the recording."""
    request = interaction.request
    recorded = recorded_shape(interaction)
    check = Check(
        interaction.cassette,
        interaction.index,
        request.method,
        request.path,
        recorded.events is not None,
    )
    try:
        response = await upstream.open(
            request.method, request.path, request.query, _headers(interaction, key), request.body
        )
        body = await response.read()
    except UpstreamError as exc:
        check.outcome, check.error = "error", exc.message
        return check
    now = shape_of(response.status, response.headers, body, response.is_stream)
    check.differences = compare(recorded, now)
    check.outcome = "drift" if check.differences else "ok"
    return check


def report_text(checks: list[Check], skipped: int, unreadable: list[str]) -> str:
    """The report a person reads: one line per interaction, its differences indented."""
    lines = []
    for check in checks:
        stream = " (stream)" if check.stream else ""
        lines.append(f"{check.ref}: {check.method} {check.path}{stream}: {check.outcome}")
        if check.error:
            lines.append(f"    {check.error}")
        for difference in check.differences:
            lines.extend(f"    {line}" for line in difference.lines())
    for item in unreadable:
        lines.append(f"unreadable: {item}")
    lines.append(summary(checks, skipped, unreadable))
    return "\n".join(lines)


def summary(checks: list[Check], skipped: int, unreadable: list[str]) -> str:
    counts = {o: sum(c.outcome == o for c in checks) for o in ("ok", "drift", "error")}
    text = (
        f"{len(checks)} interaction(s) checked: {counts['ok']} ok, {counts['drift']} drifted,"
        f" {counts['error']} failed; {skipped} skipped (not sent again)"
    )
    return text + (f"; {len(unreadable)} file(s) unreadable" if unreadable else "")


def report_json(checks: list[Check], skipped: int, unreadable: list[str]) -> dict[str, Any]:
    """The report for CI: counts and every interaction's outcome and differences."""
    return {
        "checked": len(checks),
        "ok": sum(c.outcome == "ok" for c in checks),
        "drifted": sum(c.outcome == "drift" for c in checks),
        "failed": sum(c.outcome == "error" for c in checks),
        "skipped": skipped,
        "unreadable": unreadable,
        "interactions": [c.to_json() for c in checks],
    }
