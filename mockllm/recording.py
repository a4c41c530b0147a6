"""Cassettes over HTTP: serve a recorded interaction, or pass an exchange through to the
upstream while recording it.

Replays go through the same writer as rendered answers (recorded events at their
recorded offsets, scaled by `--replay-speed`). The record proxy relays each upstream
chunk the moment it arrives, then appends the interaction to its cassette (scrubbed,
written atomically, off the event loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from mockllm.asgi import TRANSPORT_KEY, Receive, Scope, Send
from mockllm.cassettes import (
    Interaction,
    RecordedRequest,
    RecordedResponse,
    Recorder,
    Scrubber,
    family_of,
    resolve_name,
)
from mockllm.engine import Proxied
from mockllm.errors import CassetteError, RequestError
from mockllm.protocol import error_body, error_object
from mockllm.rules import ErrorSpec, Fault, Latency
from mockllm.sse import fields_of
from mockllm.upstream import Upstream, UpstreamError, forwarded_headers, to_recorded, upstream_url
from mockllm.wire import Body, malformed

logger = logging.getLogger("mockllm.recording")

_CASSETTE_HEADER = "x-mockllm-cassette"
_RECORDED_PACE = Latency()  # no override: the recorded offsets stand
# Headers the server sets itself, never copied from a recording.
_OWN = frozenset({"content-type", "content-length", "date", "server", "transfer-encoding"})


def cassette_name(root: Path | None, name: str, param: str) -> str:
    """`name` when it names a cassette inside the `--cassettes` folder `root`; else the 400
    (`param` says where the name came from: a header, or the admin API's `name`)."""
    if root is None:
        raise RequestError(
            400,
            f"A cassette is named ({param}), but the server has no --cassettes folder.",
            param=param,
        )
    try:
        resolve_name(root, name)
    except CassetteError as exc:
        raise RequestError(400, str(exc), param=param, code="invalid_cassette") from None
    return name


def _header(headers: Sequence[tuple[str, str]], name: str, default: str) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value
    return default


def replay_body(
    interaction: Interaction,
    speed: float,
    latency: Latency,
    fault: Fault | None = None,
    override: Latency = _RECORDED_PACE,
) -> tuple[Body, list[tuple[bytes, bytes]]]:
    """The recorded response as a Body paced at the recorded offsets (÷ speed).

    ``latency`` paces a stream recorded without timing; ``override`` (a replay rule's
    latency) replaces the recorded pace: the first event at ``ttft_ms``, the others
    ``inter_token_ms`` apart (either one alone keeps the recorded other). ``fault`` breaks the
    replay as it breaks a rendered answer, counting the recorded stream's delta events as
    tokens: cut the connection after N, an in-band error after N, the Nth broken JSON.
    """
    response = interaction.response
    extra = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers
        if k.lower() not in _OWN
    ]
    if response.events:
        content_type = _header(response.headers, "content-type", "text/event-stream")
        if response.has_timing:
            offsets = [o / speed if speed > 0 else 0.0 for o, _ in response.events]
        else:
            ttft = (latency.ttft_ms or 0.0) / 1000
            gap = (latency.inter_token_ms or 0.0) / 1000
            offsets = [ttft + gap * i for i in range(len(response.events))]
        offsets = _paced(offsets, override)
        events = [event for _, event in response.events]
        body = Body(response.status, content_type.encode(), events=tuple(events))
        body = _broken_stream(body, offsets, interaction.request.path, fault)
        if response.cut and body.abort_after is None:
            # The upstream broke off here: the connection is cut after the last recorded
            # event (an empty one follows, so the stream never ends cleanly).
            last = body.offsets[-1] if body.offsets else 0.0
            body = replace(
                body,
                events=(*body.events, b""),
                offsets=(*body.offsets, last),
                abort_after=len(body.events),
            )
        return body, extra
    content_type = _header(response.headers, "content-type", "application/json")
    delay = (override.ttft_ms or 0.0) / 1000
    data = response.body or b""
    if fault is not None and fault.error_after_tokens is not None:
        error = fault.error or ErrorSpec(500)
        payload = replay_error(interaction.request.path, error, in_stream=False)
        return Body(error.status, b"application/json", payload, offsets=(delay,)), []
    abort_after = None
    if fault is not None and fault.malformed_chunk_at is not None:
        data = data[: len(data) // 2]
    if fault is not None and fault.disconnect_after_tokens is not None:
        abort_after = len(data) // 2
    elif response.cut:  # the upstream broke off after these bytes
        abort_after = len(data)
    body = Body(response.status, content_type.encode(), data, offsets=(delay,))
    return replace(body, abort_after=abort_after), extra


def _paced(offsets: list[float], override: Latency) -> list[float]:
    if not offsets or (override.ttft_ms is None and override.inter_token_ms is None):
        return offsets
    first = override.ttft_ms / 1000 if override.ttft_ms is not None else offsets[0]
    if override.inter_token_ms is not None:
        return [first + override.inter_token_ms / 1000 * i for i in range(len(offsets))]
    shift = first - offsets[0]
    return [max(o + shift, 0.0) for o in offsets]


def _broken_stream(body: Body, offsets: list[float], path: str, fault: Fault | None) -> Body:
    """The stream with the fault's break: events are cut, broken or followed by an error."""
    events = list(body.events)
    if fault is None:
        return replace(body, offsets=tuple(offsets))
    family = family_of(path)
    deltas = [i for i, event in enumerate(events) if _is_delta(event, family)]

    def after(tokens: int) -> int:
        """How many events go out up to and including the Nth delta."""
        if tokens <= 0:
            return deltas[0] if deltas else len(events)
        return deltas[tokens - 1] + 1 if tokens <= len(deltas) else len(events)

    if fault.malformed_chunk_at is not None and fault.malformed_chunk_at <= len(deltas):
        at = deltas[fault.malformed_chunk_at - 1]
        events[at] = malformed(events[at])
    abort_after = None
    if fault.error_after_tokens is not None:
        cut = after(fault.error_after_tokens)
        last = offsets[cut - 1] if cut else (offsets[0] if offsets else 0.0)
        number = _next_number(events[:cut]) if family == "responses" else 0
        events = [*events[:cut], replay_error(path, fault.error, in_stream=True, number=number)]
        offsets = [*offsets[:cut], last]
    if fault.disconnect_after_tokens is not None:
        cut = after(fault.disconnect_after_tokens)
        if cut < len(events):
            abort_after = cut
    return replace(body, events=tuple(events), offsets=tuple(offsets), abort_after=abort_after)


def _next_number(events: Sequence[bytes]) -> int:
    """The `sequence_number` after those of a Responses stream's `events` (their count when
    the recording numbers none)."""
    for event in reversed(events):
        data = _event_fields(event)[1]
        if isinstance(data, dict) and isinstance(data.get("sequence_number"), int):
            return int(data["sequence_number"]) + 1
    return len(events)


def _event_fields(event: bytes) -> tuple[str | None, Any]:
    """An SSE event's ``event:`` name and its ``data:`` parsed as JSON (or None)."""
    name, data = fields_of(event)
    try:
        parsed = orjson.loads(data) if data is not None else None
    except orjson.JSONDecodeError:
        parsed = None
    return name, parsed


def _is_delta(event: bytes, family: str | None) -> bool:
    """Whether an event carries a token: a content, refusal or tool-call delta, or a legacy
    completion's text (a ``text_completion`` event's choice has ``text``, no ``delta``)."""
    name, data = _event_fields(event)
    if isinstance(data, dict) and isinstance(data.get("type"), str):
        name = name or data["type"]
    if name is not None:
        # responses: response.output_text.delta, ...; messages: content_block_delta
        return name.endswith(".delta") or name == "content_block_delta"
    if not isinstance(data, dict):
        return False
    for choice in data.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict) and (
            delta.get("content") or delta.get("refusal") or delta.get("tool_calls")
        ):
            return True
        if isinstance(choice.get("text"), str) and choice["text"]:
            return True
    return False


def replay_error(path: str, error: ErrorSpec | None, *, in_stream: bool, number: int = 0) -> bytes:
    """The error a replay breaks off with, in the wire family of ``path``.

    A whole answer's error is the family dialect's own error body (``Dialect.failure``) when
    the server speaks that family. In a stream, chat's is the event rendered answers send
    (``data: {"error": {...}}``), the Messages API's its dialect's ``event: error``; the
    Responses API's is an ``error`` event (spec/FAMILIES.md), its ``sequence_number``
    ``number`` (the one after the last event sent), as the API numbers every event.
    """
    family = family_of(path)
    if in_stream and family == "messages":
        from mockllm.dialects.messages_answer import error_event

        return error_event(error or ErrorSpec(500))
    if not in_stream and family is not None:
        from mockllm.dialects import by_api

        try:
            return by_api(family).failure(error or ErrorSpec(500), 0.0, "").body
        except KeyError:
            pass  # a family the server does not speak yet: the shapes below
    fields = error_object(error)
    if family == "responses" and in_stream:
        payload = orjson.dumps(
            {
                "type": "error",
                "code": fields.get("code"),
                "message": fields["message"],
                "param": fields.get("param"),
                "sequence_number": number,
            }
        )
        return b"event: error\ndata: " + payload + b"\n\n"
    payload = orjson.dumps({"error": fields})
    return b"data: " + payload + b"\n\n" if in_stream else payload


async def _refuse_cassette(exc: CassetteError, path: str, param: str | None, send: Send) -> int:
    """The 400 `invalid_cassette` for a cassette that cannot be recorded into, in the error
    shape of the request's API family; its status."""
    refused = RequestError(400, str(exc), param=param, code="invalid_cassette")
    from mockllm.dialects import by_api

    try:
        dialect = by_api(family_of(path) or "chat")
    except KeyError:
        dialect = by_api("chat")
    body = dialect.refusal(refused, "")
    logger.warning("recording refused: %s", exc)
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *dialect.static_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return 400


def _failure_body(exc: UpstreamError, path: str) -> bytes:
    """What the client gets, and the cassette keeps, when the upstream fails: in the error
    shape of the request's API family (OpenAI's `server_error`; the Messages API's
    `api_error`, or `timeout_error` for a 504)."""
    code = "timeout" if exc.kind == "timeout" else "upstream_error"
    message = f"Upstream {exc.kind} failure: {exc.message}"
    family = family_of(path)
    if family is None:
        return orjson.dumps(error_body(message, "server_error", None, code))
    from mockllm.dialects import by_api

    failed = RequestError(exc.status, message, type="server_error", code=code)
    return by_api(family).refusal(failed, "")


class RecordingProxy:
    """Relays requests to a fixed upstream and records what comes back."""

    def __init__(self, upstream: Upstream, recorder: Recorder, scrubber: Scrubber) -> None:
        self.upstream = upstream
        self.recorder = recorder
        self.scrubber = scrubber

    async def relay(
        self,
        outcome: Proxied,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw: bytes,
    ) -> int:
        """Forward the request, stream the answer back as it arrives, record it; the status."""
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            # Nothing goes upstream whose answer could not be kept.
            await asyncio.to_thread(self.recorder.check, outcome.cassette)
        except CassetteError as exc:
            named = any(k.lower() == _CASSETTE_HEADER for k, _ in headers)
            return await _refuse_cassette(exc, path, _CASSETTE_HEADER if named else None, send)
        try:
            response = await self.upstream.open(scope["method"], path, query, headers, raw)
        except UpstreamError as exc:
            await self._send_failure(exc, path, send)
            await self._record_failure(outcome, scope["method"], path, query, headers, raw, exc)
            return exc.status
        start_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers
            if k.lower() not in ("content-length", "transfer-encoding", "date", "server")
        ]
        await send(
            {"type": "http.response.start", "status": response.status, "headers": start_headers}
        )
        try:
            async for chunk in response.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except UpstreamError as exc:
            logger.warning("upstream broke off mid-answer: %s", exc.message)
            await response.aclose()
            request, recorded = to_recorded(scope["method"], path, query, headers, raw, response)
            await self._append(outcome, request, recorded, headers)
            transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
            if transport is not None:
                transport.close()
            return response.status
        await response.aclose()
        # Recorded before the client sees the end, so that its next request can replay it.
        request, recorded = to_recorded(scope["method"], path, query, headers, raw, response)
        await self._append(outcome, request, recorded, headers)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return response.status

    async def _send_failure(self, exc: UpstreamError, path: str, send: Send) -> None:
        body = _failure_body(exc, path)
        await send(
            {
                "type": "http.response.start",
                "status": exc.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _record_failure(
        self,
        outcome: Proxied,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        raw: bytes,
        exc: UpstreamError,
    ) -> None:
        body = _failure_body(exc, path)
        url = upstream_url(self.upstream.base_url, path, query)
        request = RecordedRequest(method, path, query, tuple(forwarded_headers(headers)), raw, url)
        response = RecordedResponse(
            exc.status,
            "Bad Gateway" if exc.status == 502 else "Gateway Timeout",
            (("content-type", "application/json"), ("x-mockllm-upstream-failure", exc.kind)),
            body,
        )
        await self._append(outcome, request, response, headers)

    async def _append(
        self,
        outcome: Proxied,
        request: RecordedRequest,
        response: RecordedResponse,
        headers: list[tuple[str, str]],
    ) -> None:
        secrets = self.scrubber.secrets_in(tuple(headers))
        try:
            await asyncio.to_thread(
                self.recorder.append,
                outcome.cassette,
                request,
                response,
                secrets,
                replace=outcome.replace,
            )
        except (CassetteError, OSError) as exc:
            # The client's answer is complete or nearly so: it still gets it, and the lost
            # recording is said in one line (a full disk, a folder removed meanwhile).
            logger.error("cassette=%s interaction not recorded: %s", outcome.cassette, exc)

    async def aclose(self) -> None:
        await self.upstream.aclose()
