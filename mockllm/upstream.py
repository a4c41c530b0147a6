"""The record proxy's client: a streamed, pooled httpx connection to one fixed upstream.

This is the only module that imports httpx. One ``Upstream`` is made per server: HTTP/1.1,
pooled connections, no retries, no redirects followed, no proxy or netrc settings taken from
the environment. A request can never redirect it: the host comes from configuration only.

Which URL a client's path goes to (``upstream_url``), base → client path → upstream URL::

    https://api.openai.com/v1   /v1/chat/completions  https://api.openai.com/v1/chat/completions
    https://api.openai.com/v1   /chat/completions     https://api.openai.com/v1/chat/completions
    https://gw.example/openai/v1  /v1/models          https://gw.example/openai/v1/models
    https://gw.example/api/v4   /v1/chat/completions  https://gw.example/api/v4/chat/completions
    http://127.0.0.1:9000       /v1/chat/completions  http://127.0.0.1:9000/v1/chat/completions
    https://gw.example/openai   /v1/models            https://gw.example/openai/v1/models

A base whose path ends in a version segment (``v1``, ``v4``, ``v1beta``) stands for the
client's ``/v1``: what follows a leading ``/v1`` in the client's path is appended to it (a
path without that prefix is appended whole). Any other base gets the client's whole path.

Failures are values with a kind: ``UpstreamError(kind="connect" | "timeout" | "protocol")``,
raised from ``open()`` or while the body streams, for the caller to answer 502 or 504.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

import httpx

from mockllm.cassettes import Events, Headers, RecordedRequest, RecordedResponse
from mockllm.errors import ConfigError, MockLLMError, RequestError
from mockllm.sse import split_events

if TYPE_CHECKING:
    from typing import Self

FailureKind = Literal["connect", "timeout", "protocol"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "content-length", "accept-encoding"}
_NOT_RETURNED = _HOP_BY_HOP | {"content-length"}  # the body is relayed, its length recomputed
_VERSION = re.compile(r"v\d+[a-z0-9]*")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\#?]")  # control characters, spaces, \, fragment, query
_UNSAFE_QUERY = re.compile(r"[\x00-\x20\x7f#]")
_KEEPALIVE = 20
_now = time.perf_counter


class UpstreamError(MockLLMError):
    """The upstream could not be reached, was too slow, or broke the exchange.

    ``kind`` is ``connect`` (no connection), ``timeout`` (connect, read or write took too
    long) or ``protocol`` (the connection broke or the upstream spoke bad HTTP).
    ``status`` is what the proxy answers: 504 for a timeout, 502 otherwise.
    """

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message

    @property
    def status(self) -> int:
        return 504 if self.kind == "timeout" else 502


def _checked_base(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = f"scheme {parts.scheme!r} is not http or https"
    elif not parts.hostname:
        problem = "it names no host"
    elif not _has_valid_port(parts.netloc):
        problem = "its port is not a number from 1 to 65535"
    elif parts.query or parts.fragment:
        problem = "it has a query or fragment"
    elif parts.username is not None:
        problem = "it holds credentials; clients send their own"
    if problem:
        raise ConfigError(
            f"upstream {base_url!r}: {problem}; expected a base URL such as"
            " https://api.openai.com/v1 or http://127.0.0.1:9000/v1"
        )
    return base_url.strip().rstrip("/")


def _has_valid_port(netloc: str) -> bool:
    try:
        port = urlsplit(f"//{netloc}").port
    except ValueError:
        return False
    return port is None or port > 0


def upstream_url(base_url: str, path: str, query: str = "") -> str:
    """The upstream URL a client's request goes to; RequestError(400) for a path refused.

    Example::

        >>> upstream_url("https://gw.example/openai/v1", "/v1/chat/completions")
        'https://gw.example/openai/v1/chat/completions'
    """
    base = _checked_base(base_url)
    problem = None
    if not path.startswith("/") or path.startswith("//"):
        problem = "it is not a path starting with a single '/' (absolute URLs are refused)"
    elif _UNSAFE.search(path):
        problem = "it holds a space, control character, backslash, '?' or '#'"
    elif {".", ".."} & set(re.split(r"[/\\]", unquote(path))):
        problem = "it has a '.' or '..' segment"
    elif _UNSAFE_QUERY.search(query):
        problem = "its query holds a space, control character or '#'"
    if problem:
        raise RequestError(
            400,
            f"The path {path!r} cannot be forwarded upstream: {problem}.",
            code="invalid_path",
        )
    rest = path
    if _VERSION.fullmatch(urlsplit(base).path.rsplit("/", 1)[-1]) and (
        path == "/v1" or path.startswith("/v1/")
    ):
        rest = path[3:]
    url = base + rest + (f"?{query}" if query else "")
    # Belt and braces: whatever the path held, the URL must still point at the base's host.
    try:
        sent, fixed = httpx.URL(url), httpx.URL(base)
    except httpx.InvalidURL as exc:
        raise RequestError(400, f"The path {path!r} cannot be forwarded upstream: {exc}.") from None
    if (sent.scheme, sent.host, sent.port) != (fixed.scheme, fixed.host, fixed.port):
        raise RequestError(400, f"The path {path!r} cannot be forwarded upstream.")
    return url


def forwarded_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's headers as sent upstream: credentials kept, hop-by-hop and control dropped.

    Dropped: ``Host``, hop-by-hop headers and those ``Connection`` names, ``proxy-*``,
    ``content-length`` (recomputed), ``accept-encoding`` (``identity`` is sent, so bodies are
    recorded plain) and mockllm's own ``x-mockllm-*``.
    """
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    kept = [
        (name, value)
        for name, value in headers
        if (lower := name.lower()) not in _NOT_FORWARDED
        and lower not in named
        and not lower.startswith(("proxy-", "x-mockllm-"))
    ]
    return [*kept, ("accept-encoding", "identity")]


def _returned_headers(headers: httpx.Headers) -> Headers:
    named = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    # httpx decodes a body the upstream encoded although asked not to: the header goes too.
    encoded = headers.get("content-encoding", "identity").strip().lower() != "identity"
    return tuple(
        (name, value)
        for name, value in headers.multi_items()
        if (lower := name.lower()) not in _NOT_RETURNED
        and lower not in named
        and not lower.startswith("proxy-")
        and not (encoded and lower == "content-encoding")
    )


def _failure(exc: Exception, where: str) -> UpstreamError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError("timeout", f"upstream {where} timed out: {detail}")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError("connect", f"upstream {where} cannot be reached: {detail}")
    return UpstreamError("protocol", f"upstream {where} broke the exchange: {detail}")


class UpstreamResponse:
    """An upstream answer whose body is relayed as it arrives and captured with its timing.

    ``received`` holds (seconds since ``open()`` was called, bytes) for every chunk read.
    """

    def __init__(self, response: httpx.Response, url: str, where: str, started: float) -> None:
        self._response = response
        self._where = where
        self._consumed = False
        self.status = response.status_code
        self.reason = response.reason_phrase
        self.headers = _returned_headers(response.headers)
        self.url = url
        self.started = started
        self.received: list[tuple[float, bytes]] = []
        self.error: UpstreamError | None = None

    @property
    def is_stream(self) -> bool:
        """Whether the upstream answered with server-sent events."""
        content_type: str = self._response.headers.get("content-type", "")
        return content_type.lower().startswith("text/event-stream")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; UpstreamError if the exchange breaks midway."""
        if self._consumed:
            raise RuntimeError("the upstream body can be iterated once only")
        self._consumed = True
        try:
            # aiter_bytes is aiter_raw when the body is not encoded, which identity asks for.
            async for chunk in self._response.aiter_bytes():
                if chunk:
                    self.received.append((_now() - self.started, chunk))
                    yield chunk
        except (httpx.TransportError, httpx.DecodingError) as exc:
            self.error = _failure(exc, self._where)
            raise self.error from None
        finally:
            await self._response.aclose()

    async def read(self) -> bytes:
        """The whole body, read to its end."""
        async for _ in self.chunks():
            pass
        return self.body

    @property
    def body(self) -> bytes:
        """The bytes received so far; all of them once ``chunks()`` ended."""
        return b"".join(chunk for _, chunk in self.received)

    def events(self) -> Events:
        """The received bytes as SSE events, each timed by the chunk that completed it."""
        body = self.body
        events = split_events(body)
        if not events:
            return ()
        tail = len(body) - sum(len(e) for e in events)
        if tail:  # whitespace after the last event: kept, so the events join to the body
            events[-1] += body[-tail:]
        ends, total = [], 0
        for _, chunk in self.received:
            total += len(chunk)
            ends.append(total)
        timed, position = [], 0
        for event in events:
            position += len(event)
            offset = self.received[bisect.bisect_left(ends, position)][0]
            timed.append((round(offset, 6), event))
        return tuple(timed)

    async def aclose(self) -> None:
        """Release the connection; the body is not read further."""
        await self._response.aclose()


class Upstream:
    """The client of the real API: ``open()`` a request, stream its answer, ``aclose()``.

    Example::

        upstream = Upstream("https://api.openai.com/v1")
        response = await upstream.open("POST", "/v1/chat/completions", "", headers, body)
        async for chunk in response.chunks():
            await send(chunk)
        request, recorded = to_recorded("POST", "/v1/chat/completions", "", headers, body,
                                        response)
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = _checked_base(base_url)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=_KEEPALIVE)
        self._client = httpx.AsyncClient(
            transport=transport
            or httpx.AsyncHTTPTransport(retries=0, http1=True, http2=False, limits=limits),
            timeout=httpx.Timeout(
                connect=connect_timeout_s, read=timeout_s, write=timeout_s, pool=connect_timeout_s
            ),
            follow_redirects=False,
            trust_env=False,
        )

    async def open(
        self,
        method: str,
        path: str,
        query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
    ) -> UpstreamResponse:
        """Send the request; return once the status and headers arrived, body unread."""
        started = _now()
        url = upstream_url(self.base_url, path, query)
        where = f"{method.upper()} {url.partition('?')[0]}"  # a query may hold a key
        try:  # as the server received them: latin-1, as Starlette and uvicorn decode
            sent = [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in forwarded_headers(headers)
            ]
        except UnicodeEncodeError:
            raise RequestError(400, "A header holds characters HTTP cannot carry.") from None
        request = self._client.build_request(method.upper(), url, headers=sent, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _failure(exc, where) from None
        return UpstreamResponse(response, url, where, started)

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def to_recorded(
    request_method: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    response: UpstreamResponse,
) -> tuple[RecordedRequest, RecordedResponse]:
    """The exchange as cassette data: the request as forwarded, the response as received.

    Secrets are still in it: ``cassettes.Recorder.append`` scrubs before writing.
    """
    request = RecordedRequest(
        method=request_method.upper(),
        path=path,
        query=query,
        headers=tuple(forwarded_headers(headers)),
        body=body,
        url=response.url,
    )
    recorded = RecordedResponse(
        status=response.status,
        reason=response.reason,
        headers=response.headers,
        body=response.body,
        events=response.events() if response.is_stream else None,
        cut=response.error is not None,
    )
    return request, recorded
