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

import orjson

from mockllm import writer
from mockllm.cassettes import Interaction, RecordedRequest, RecordedResponse, Recorder, Scrubber
from mockllm.engine import Proxied
from mockllm.protocol import error_body
from mockllm.rules import Latency
from mockllm.upstream import Upstream, UpstreamError, forwarded_headers, to_recorded, upstream_url
from mockllm.wire import Body
from mockllm.asgi import Receive, Scope, Send

logger = logging.getLogger("mockllm.recording")

# Headers the server sets itself, never copied from a recording.
_OWN = frozenset({"content-type", "content-length", "date", "server", "transfer-encoding"})


def _header(headers: Sequence[tuple[str, str]], name: str, default: str) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value
    return default


def replay_body(
    interaction: Interaction, speed: float, latency: Latency
) -> tuple[Body, list[tuple[bytes, bytes]]]:
    """The recorded response as a Body paced at the recorded offsets (÷ speed)."""
    response = interaction.response
    extra = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers
        if k.lower() not in _OWN
    ]
    if response.events:
        content_type = _header(response.headers, "content-type", "text/event-stream")
        if response.has_timing:
            offsets = tuple(o / speed if speed > 0 else 0.0 for o, _ in response.events)
        else:
            ttft = (latency.ttft_ms or 0.0) / 1000
            gap = (latency.inter_token_ms or 0.0) / 1000
            offsets = tuple(ttft + gap * i for i in range(len(response.events)))
        events = tuple(event for _, event in response.events)
        return Body(response.status, content_type.encode(), events=events, offsets=offsets), extra
    content_type = _header(response.headers, "content-type", "application/json")
    body = response.body or b""
    return Body(response.status, content_type.encode(), body, offsets=(0.0,)), extra


def _failure_body(exc: UpstreamError) -> bytes:
    """What the client gets, and the cassette keeps, when the upstream fails."""
    code = "timeout" if exc.kind == "timeout" else "upstream_error"
    return orjson.dumps(
        error_body(f"Upstream {exc.kind} failure: {exc.message}", "server_error", None, code)
    )


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
            response = await self.upstream.open(scope["method"], path, query, headers, raw)
        except UpstreamError as exc:
            await self._send_failure(exc, send)
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
            transport = scope.get("extensions", {}).get(writer.TRANSPORT_KEY)
            if transport is not None:
                transport.close()
            return response.status
        await response.aclose()
        # Recorded before the client sees the end, so that its next request can replay it.
        request, recorded = to_recorded(scope["method"], path, query, headers, raw, response)
        await self._append(outcome, request, recorded, headers)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return response.status

    async def _send_failure(self, exc: UpstreamError, send: Send) -> None:
        body = _failure_body(exc)
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
        body = _failure_body(exc)
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
        await asyncio.to_thread(
            self.recorder.append,
            outcome.cassette,
            request,
            response,
            secrets,
            replace=outcome.replace,
        )

    async def aclose(self) -> None:
        await self.upstream.aclose()
