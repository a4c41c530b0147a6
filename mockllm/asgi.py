"""Raw ASGI for the hot path: its types, the scope keys our protocol adds, reading a body,
decoding headers, request ids and the one JSON response send."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Protocol

from mockllm.errors import RequestError, StateUnavailable

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Message = dict[str, Any]

# Keys `server._Protocol` puts in `scope["extensions"]` (absent under plain uvicorn).
TRANSPORT_KEY = "mockllm.transport"
ARRIVED_KEY = "mockllm.arrived"  # loop time the request's last byte was parsed
CONNECTION_KEY = "mockllm.connection"  # write_chunk / watch / unwatch, for this request
# Header lines already written out (b"name: value\r\n" each) in an `http.response.start`
# message: the server's connection puts them in the head it writes, with no work per header
# (`server._Connection`); any other `send` gets them as header pairs (`plain`).
RAW_HEADERS_KEY = "mockllm.raw_headers"
# Set by a long-lived response (the inspector's feed): a callable the protocol calls when
# the server starts to shut down, so that the response ends instead of holding it up.
SHUTDOWN_KEY = "mockllm.on_shutdown"
# The exchange id of a request the app answers outside a family's endpoint (set by the app
# for its routes: an Anthropic error body names it as `request_id`).
REQUEST_ID_KEY = "mockllm.request_id"
# Set on a request a batch makes to the server itself: the Batch APIs' limits are their own,
# so it is not counted against the key's per-minute rate limits.
BATCH_KEY = "mockllm.batch"

BODY_TIMEOUT_S = 30.0
LARGE_HEADERS = 64 * 1024  # header values past this many bytes in all are a LargeHeaders
# On a refusal sent before the body was read: the server closes the connection after it
# rather than wait for (and parse) the rest of the body.
CLOSE = (("connection", "close"),)


class Connection(Protocol):
    """What the writer may do with the connection of one request, when the server offers it
    under `CONNECTION_KEY` (`server._Connection`); without it, the writer uses `send` and
    `receive` only."""

    def write_chunk(self, data: bytes) -> bool:
        """Write part of a chunked body now, or False when `send` must be used instead."""
        ...

    def respond(self, send: Send, start: Message, end: Message) -> bool:
        """Send a whole response (head and last body message) in one write, or False
        having sent nothing."""
        ...

    def begin(self, send: Send, start: Message) -> bool:
        """Send a response's head (with its `RAW_HEADERS_KEY` lines) in one write, or
        False having sent nothing."""
        ...

    def watch(self, on_lost: Callable[[], None]) -> None:
        """Call `on_lost` once when the connection closes."""
        ...

    def unwatch(self) -> None: ...


# Browsers' cross-origin requests (CORS) to the API paths, answered as the real APIs answer
# them (docs/wire.md): any origin may call, as OpenAI's API allows; the Messages API only
# when the request opts in, and then its response headers may all be read.
ALLOW_ORIGIN = ((b"access-control-allow-origin", b"*"),)
ALLOW_ORIGIN_EXPOSE_ALL = (*ALLOW_ORIGIN, (b"access-control-expose-headers", b"*"))
BROWSER_OPT_IN = "anthropic-dangerous-direct-browser-access"
PREFLIGHT_MAX_AGE = b"86400"  # seconds a browser may keep a preflight's answer


def plain(start: Message) -> Message:
    """A response's start message as any ASGI server takes it: its `RAW_HEADERS_KEY` lines
    made header pairs."""
    raw = start.get(RAW_HEADERS_KEY)
    if raw is None:
        return start
    out = {k: v for k, v in start.items() if k != RAW_HEADERS_KEY}
    out["headers"] = [*start["headers"], *header_pairs(raw)]
    return out


def header_pairs(raw: bytes) -> list[tuple[bytes, bytes]]:
    """Header lines written out (b"name: value\r\n" each) as (name, value) pairs."""
    pairs = (line.split(b": ", 1) for line in raw.split(b"\r\n") if line)
    return [(name, value) for name, value in pairs]


def with_headers(send: Send, extra: Iterable[tuple[bytes, bytes]]) -> Send:
    """`send`, adding `extra` to the response's head."""

    async def sending(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *extra]
        await send(message)

    return sending


async def answer_preflight(scope: Scope, send: Send) -> bool:
    """Answer a browser's CORS preflight (OPTIONS with `Origin` and
    `Access-Control-Request-Method`): any origin, the method and headers it asks for. False,
    having sent nothing, for an OPTIONS request that is not a preflight."""
    asked: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        lowered = name.lower()
        if lowered in (
            b"origin",
            b"access-control-request-method",
            b"access-control-request-headers",
        ):
            asked[lowered] = value
    method = asked.get(b"access-control-request-method")
    if b"origin" not in asked or not method:
        return False
    headers = [
        *ALLOW_ORIGIN,
        (b"access-control-allow-methods", method),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE),
        (b"content-length", b"0"),
    ]
    wanted = asked.get(b"access-control-request-headers")
    if wanted:
        headers.append((b"access-control-allow-headers", wanted))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
    return True


class LargeHeaders(dict[str, str]):
    """Decoded headers of more than `LARGE_HEADERS` bytes in all: never memoised, and
    clipped where they are kept (the journal)."""

    __slots__ = ()


def decode_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names lower-cased; values as UTF-8 text, as clients send non-ASCII values
    (curl and the SDKs encode them in UTF-8), else Latin-1 (any byte is a character)."""
    return decode_sized(raw)[0]


def decode_sized(raw: Iterable[tuple[bytes, bytes]]) -> tuple[dict[str, str], int]:
    """`decode_headers`, and the bytes of the values; a `LargeHeaders` past `LARGE_HEADERS`."""
    out = {}
    size = 0
    for name, value in raw:
        size += len(value)
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
        out[name.decode("latin-1").lower()] = text
    return (out if size <= LARGE_HEADERS else LargeHeaders(out)), size


class RequestIds:
    """`req_…` ids: unique per exchange, and the same sequence of requests with the same
    seeds gives the same ids.

    Exchanges are counted from `start`, or by `shared` (the numbers of a store that
    processes share, so that which of them answers does not change the id), falling back
    to the process's own count while the store cannot be reached."""

    def __init__(self, start: int = 0, shared: Callable[[], int] | None = None) -> None:
        self.start = self.count = start
        self.shared = shared

    def restart(self) -> None:
        """Count from the start again (a reset; a shared store restarts its own numbers)."""
        self.count = self.start

    def next(self, seed: int, spell: Callable[[int, int], str] | None = None) -> str:
        """The next id; `spell(seed, count)` writes it as a family does (default `req_` and
        32 hex digits)."""
        count = None
        if self.shared is not None:
            try:
                count = self.shared()
            except StateUnavailable:
                pass
        if count is None:
            self.count += 1
            count = self.count
        if spell is not None:
            return spell(seed, count)
        return f"req_{seed & 0xFFFFFFFFFFFFFFFF:016x}{count:016x}"


def json_head(status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }


async def send_json(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """A whole JSON response through raw `send`."""
    await send(json_head(status, body, headers))
    await send({"type": "http.response.body", "body": body})


async def read_body(
    receive: Receive, limit: int, declared: int | None, timeout_s: float = BODY_TIMEOUT_S
) -> bytes:
    """The request body, refused with 413 past `limit` bytes (before reading, when declared).

    A body that has not arrived within `timeout_s` is refused with 408. Both refusals
    close the connection (the rest of the body is not read), as `connection: close` says.
    A client that leaves raises ConnectionResetError. Usually the whole body is in by the
    time the app runs and `receive()` returns without waiting; a timer is set only once a
    read has to wait.
    """
    if declared is not None and declared > limit:
        raise RequestError(
            413,
            f"Request body too large: {declared} bytes; the limit is {limit} bytes.",
            code="request_too_large",
            headers=CLOSE,
        )
    chunks: list[bytes] = []
    size = 0
    deadline = None
    while True:
        pending = receive()
        try:
            waited = pending.send(None)  # type: ignore[attr-defined]
        except StopIteration as done:
            message = done.value
        else:
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + timeout_s
            try:
                message = await _within(_Resume(pending, waited), deadline)
            except TimeoutError:
                raise RequestError(
                    408, "The request body was not received in time.", code="timeout", headers=CLOSE
                ) from None
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client went away while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(
                413,
                f"Request body too large: over {limit} bytes.",
                code="request_too_large",
                headers=CLOSE,
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def decode_body(raw: bytes, encoding: str, limit: int) -> bytes:
    """A request body as sent before its `Content-Encoding` (gzip or deflate; a list of
    them is undone last first), refused with 413 once the decoded bytes pass `limit` (the
    whole body is never inflated past it: a small bomb is refused as a large body is),
    400 when it does not decode, 415 for another encoding."""
    for name in reversed([part.strip().lower() for part in encoding.split(",")]):
        if name in ("", "identity"):
            continue
        if name in ("gzip", "x-gzip"):
            raw = _inflate(raw, 16 + zlib.MAX_WBITS, name, limit)
        elif name == "deflate":  # zlib-wrapped, as RFC 9110 says; some clients send it bare
            try:
                raw = _inflate(raw, zlib.MAX_WBITS, name, limit)
            except RequestError as exc:
                if exc.status != 400:
                    raise
                raw = _inflate(raw, -zlib.MAX_WBITS, name, limit)
        else:
            raise RequestError(
                415,
                f"Unsupported Content-Encoding {name!r}: a request body may be sent as gzip "
                "or deflate, or as it is.",
                code="unsupported_content_encoding",
            )
    return raw


def _inflate(raw: bytes, wbits: int, name: str, limit: int) -> bytes:
    out: list[bytes] = []
    size = 0
    data = raw
    while True:  # gzip allows several members, one after the other
        inflater = zlib.decompressobj(wbits)
        try:
            chunk = inflater.decompress(data, limit - size + 1)
        except zlib.error:
            chunk = None
        if chunk is None or (not inflater.eof and not inflater.unconsumed_tail):
            raise RequestError(
                400,
                f"The request body could not be decoded as Content-Encoding: {name}.",
                code="invalid_body_encoding",
            )
        size += len(chunk)
        if size > limit:
            raise RequestError(
                413,
                f"Request body too large: over {limit} bytes once decoded ({name}).",
                code="request_body_too_large_after_decoding",
            )
        out.append(chunk)
        data = inflater.unused_data
        if not data or wbits < 16:
            return out[0] if len(out) == 1 else b"".join(out)


class _Resume:
    """Await the rest of a coroutine that was stepped once by hand and yielded `waited`."""

    __slots__ = ("coro", "waited")

    def __init__(self, coro: Any, waited: Any) -> None:
        self.coro = coro
        self.waited = waited

    def __await__(self) -> Any:
        coro, waited = self.coro, self.waited
        while True:
            try:
                yield waited
            except BaseException as exc:  # noqa: BLE001 - thrown into the coroutine
                try:
                    waited = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waited = coro.send(None)
                except StopIteration as stop:
                    return stop.value


async def _within(awaitable: _Resume, deadline: float) -> Any:
    """`await awaitable`, cancelled with TimeoutError at `deadline` (a timer handle, not a
    wait_for task)."""
    task = asyncio.current_task()
    expired = []

    def expire() -> None:
        expired.append(True)
        if task is not None:
            task.cancel()

    timer = asyncio.get_running_loop().call_at(deadline, expire)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if expired and task is not None:
            task.uncancel()
            raise TimeoutError("request body not received in time") from None
        raise
    finally:
        timer.cancel()


# Headers of a request that do not go with the requests a batch of it makes to the server
# itself: those that describe its own body or connection.
_BODY_HEADERS = frozenset(
    {b"content-length", b"content-type", b"transfer-encoding", b"connection", b"expect"}
)


def passed_on(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A request's headers for a JSON request made on its behalf (a batch's): its key and
    its profile's headers, a JSON content type, not the headers of its own body."""
    kept = [(name, value) for name, value in headers if name.lower() not in _BODY_HEADERS]
    return [*kept, (b"content-type", b"application/json")]


# (path, headers, body) → (status, request id, body): a POST the server answers for itself,
# as it would answer it from a client (a batch's requests).
AnswerInside = Callable[[str, list[tuple[bytes, bytes]], bytes], Awaitable[tuple[int, str, bytes]]]
