"""The public API: `POST /v1/chat/completions` (raw ASGI, the hot path) and `/v1/models`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockllm import wire, writer
from mockllm.engine import Answer, Engine, Failure, Outcome, Proxied, Replayed
from mockllm.errors import CassetteError, RequestError
from mockllm.gateway import Gateway
from mockllm.journal import Exchange
from mockllm.protocol import Conversation, default_error_headers, derive_seed, error_body
from mockllm.rules import ErrorSpec, Fault
from mockllm.tokens import count_tokens
from mockllm.writer import Receive, Scope, Send

logger = logging.getLogger("mockllm.exchange")

BODY_TIMEOUT_S = 30.0
JOURNAL_BODY_LIMIT = 64 * 1024
PARSE_CACHE_SIZE = 1024
PARSE_CACHE_BODY = 16 * 1024  # larger request bodies are parsed every time
BODY_CACHE_BYTES = 512 << 10  # encoded answers kept for reuse, at most (bytes)
_STATIC_HEADERS = ((b"openai-version", b"2020-10-01"),)


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers=headers, media_type="application/json")


def error_response(exc: RequestError) -> Response:
    return json_response(
        exc.status,
        error_body(exc.message, exc.type, exc.param, exc.code),
        dict(exc.headers),
    )


async def read_body(
    receive: Receive, limit: int, declared: int | None, timeout_s: float = BODY_TIMEOUT_S
) -> bytes:
    """The request body, refused with 413 past `limit` bytes (before reading, when declared).

    A body that has not arrived within `timeout_s` raises TimeoutError. Usually the whole
    body is in by the time the app runs and `receive()` returns without waiting; a timer
    is set only once a read has to wait.
    """
    if declared is not None and declared > limit:
        raise RequestError(
            413,
            f"Request body too large: {declared} bytes; the limit is {limit} bytes.",
            code="request_too_large",
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
            message = await _within(_Resume(pending, waited), deadline)
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client went away while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(
                413, f"Request body too large: over {limit} bytes.", code="request_too_large"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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


CASSETTE_HEADER = "x-mockllm-cassette"


class _Parsed:
    """A parsed request and what follows from it alone, kept for the next identical one."""

    __slots__ = ("request", "seed", "checked")

    def __init__(self, request: Conversation, seed: int) -> None:
        self.request = request
        self.seed = seed
        self.checked: Gateway | None = None  # the gateway whose parameter ranges it passed


class ChatEndpoint:
    """Raw ASGI endpoint for chat completions: parse, ask the engine, write."""

    def __init__(self, engine: Engine, gateway: Gateway, proxy: Any = None) -> None:
        self.engine = engine
        self.gateway = gateway
        self.proxy = proxy  # recording.RecordingProxy when recording
        self._count = 0
        # Parsed requests by (path, body, headers): load tests and retries send the same
        # bytes again and again, and a parsed request is immutable. Bounded; cleared when full.
        self._parsed: dict[tuple[Any, ...], _Parsed] = {}
        self._headers: dict[tuple[Any, ...], dict[str, str]] = {}
        self._bodies: dict[tuple[int, int, bool, bool], tuple[Any, wire.Body]] = {}
        self._body_bytes = 0

    def _cassette(self, headers: dict[str, str]) -> str | None:
        name = headers.get(CASSETTE_HEADER) or self.engine.cassette
        if name is None:
            return None
        root = self.engine.config.cassettes
        if root is None:
            raise RequestError(
                400,
                "X-Mockllm-Cassette names a cassette, but no --cassettes folder is set.",
                param=CASSETTE_HEADER,
            )
        from mockllm.cassettes import resolve_name

        try:
            resolve_name(root, name)
        except CassetteError as exc:
            raise RequestError(
                400, str(exc), param=CASSETTE_HEADER, code="invalid_cassette"
            ) from None
        return name

    def _request_id(self, seed: int) -> str:
        # Unique per exchange, and the same sequence of requests gives the same ids.
        self._count += 1
        return f"req_{seed & 0xFFFFFFFFFFFFFFFF:016x}{self._count:016x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = asyncio.get_running_loop().time()
        engine = self.engine
        config = engine.config
        raw_headers = tuple(scope["headers"])
        headers = self._headers.get(raw_headers)
        if headers is None:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
            if len(self._headers) >= PARSE_CACHE_SIZE:
                self._headers.clear()
            self._headers[raw_headers] = headers
        exchange = Exchange(id="", method=scope["method"], path=scope["path"], started=time.time())
        declared = headers.get("content-length")
        gateway = self.gateway
        try:
            key = gateway.authenticate(headers)
            raw = await read_body(
                receive,
                config.max_body_bytes,
                int(declared) if declared and declared.isdigit() else None,
                config.body_timeout_s,
            )
            # Deadlines count from the request's arrival: when the server parsed its last
            # byte (stamped by the protocol), else now. Time spent queued behind other
            # requests then comes out of the wait for the first token, not on top of it.
            arrived = scope.get("extensions", {}).get(writer.ARRIVED_KEY, arrived)
            exchange.request = raw
            cache_key = (scope["path"], raw, raw_headers) if len(raw) <= PARSE_CACHE_BODY else None
            parsed = self._parsed.get(cache_key) if cache_key is not None else None
            if parsed is None:
                request = Conversation.parse(
                    raw,
                    headers,
                    scope["path"],
                    max_n=config.max_n,
                    max_output=config.max_output_tokens,
                )
                parsed = _Parsed(request, engine.seed_for(request))
                if cache_key is not None:
                    if len(self._parsed) >= PARSE_CACHE_SIZE:
                        self._parsed.clear()
                    self._parsed[cache_key] = parsed
            request = parsed.request
            exchange.request = request.body if len(raw) <= JOURNAL_BODY_LIMIT else _clip(raw)
            exchange.model, exchange.stream = request.model, request.stream
            decision = gateway.admit(request, key, params_checked=parsed.checked is gateway)
            parsed.checked = gateway
            cassette = (
                self._cassette(headers) if (CASSETTE_HEADER in headers or engine.cassette) else None
            )
        except RequestError as exc:
            if isinstance(exchange.request, bytes):
                raw_body = exchange.request
                exchange.request = (
                    _best_effort_json(raw_body)
                    if len(raw_body) <= JOURNAL_BODY_LIMIT
                    else _clip(raw_body)
                )
            await self._refuse(exc, exchange, send, arrived)
            return
        except TimeoutError:
            late = RequestError(408, "The request body was not received in time.", code="timeout")
            await self._refuse(late, exchange, send, arrived)
            return
        except ConnectionResetError:
            return
        seed = parsed.seed
        exchange.id = self._request_id(seed)
        try:
            outcome = engine.handle(
                request,
                seed,
                cassette,
                exchange.attempts,
                allowed=lambda model: gateway.accounts.model_allowed(key, model),
            )
            reservation = None
            if isinstance(outcome, Answer):
                outcome, reservation = self._reserve(outcome, request, key)
        except RequestError as exc:
            await self._refuse(exc, exchange, send, arrived)
            return
        try:
            if isinstance(outcome, Proxied):
                exchange.source, exchange.rule = "upstream", f"{outcome.cassette} (recording)"
                if (
                    self.proxy is None
                ):  # pragma: no cover - the engine proxies only with an upstream
                    raise RuntimeError("recording without an upstream")
                self._record(exchange, 0)
                status = await self.proxy.relay(outcome, scope, receive, send, raw)
            else:
                status = await self._write(
                    outcome, request, exchange, scope, receive, send, arrived, decision.headers
                )
        finally:
            if reservation is not None:
                gateway.settle(reservation, exchange.completion_tokens)
        self._finish(exchange, arrived, status)

    def _reserve(self, answer: Answer, request: Conversation, key: str | None) -> tuple[Answer, Any]:
        """Hold the answer's cost; cut it where the balance runs out, as the profile says."""
        rendered = answer.rendered
        reservation = self.gateway.reserve(
            key, rendered.model, rendered.prompt_tokens, rendered.completion_tokens
        )
        allowed = reservation.completion_tokens if reservation is not None else None
        if allowed is None or allowed >= rendered.completion_tokens:
            return answer, reservation
        cut = self.engine.cut(answer, request, max(allowed // max(request.n, 1), 0))
        profile = self.gateway.profile
        if request.stream and profile.on_exhaustion == "error":
            left = self.gateway.accounts.balance(key)
            refusal = profile.error(
                "out_of_credits", model=rendered.model, balance=float(left or 0)
            )
            error = ErrorSpec(refusal.status, refusal.type, refusal.code, refusal.message)
            ticks = max(c.ticks for c in cut.rendered.choices)
            cut = replace(cut, fault=Fault(error_after_tokens=ticks, error=error))
        return cut, reservation

    async def _refuse(
        self, exc: RequestError, exchange: Exchange, send: Send, arrived: float
    ) -> None:
        if not exchange.id:
            exchange.id = self._request_id(self.engine.config.seed)
        exchange.source, exchange.error = "error", exc.message
        self._record(exchange, exc.status)
        await self._send_error(exc, exchange, send)
        self._finish(exchange, arrived, exc.status)

    async def _send_error(self, exc: RequestError, exchange: Exchange, send: Send) -> None:
        body = orjson.dumps(error_body(exc.message, exc.type, exc.param, exc.code))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", exchange.id.encode()),
            *_STATIC_HEADERS,
            *((k.lower().encode(), v.encode()) for k, v in exc.headers),
        ]
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _write(
        self,
        outcome: Outcome,
        request: Conversation,
        exchange: Exchange,
        scope: Scope,
        receive: Receive,
        send: Send,
        arrived: float,
        rate_headers: tuple[tuple[str, str], ...] = (),
    ) -> int:
        rule = outcome.rule
        exchange.rule = rule.ref if rule is not None else None
        fault = outcome.fault
        if isinstance(outcome, Failure) and fault is not None:
            # An error reply has no stream to break: only transport faults apply to it.
            fault = Fault(
                hang=fault.hang, reset=fault.reset, drip_bytes_per_s=fault.drip_bytes_per_s
            )
            fault = fault if fault.names() else None
        if fault is not None:
            exchange.faults = fault.names()
        if isinstance(outcome, Replayed):
            from mockllm.recording import replay_body

            interaction = outcome.interaction
            exchange.source = "cassette"
            exchange.rule = f"{interaction.cassette}#{interaction.index}"
            body, recorded_headers = replay_body(
                interaction, self.engine.config.replay_speed, self.engine.default_latency
            )
            headers = [(b"x-request-id", exchange.id.encode()), *recorded_headers]
            self._record(exchange, body.status)
            result = await writer.write(body, headers, scope, receive, send, arrived)
            return result.status
        if isinstance(outcome, Answer):
            exchange.source = "rule" if rule is not None else "default"
            rendered = outcome.rendered
            exchange.prompt_tokens = rendered.prompt_tokens
            exchange.completion_tokens = _tokens_sent(rendered, fault)
            body = self._body(rendered, self.engine.created(), request, fault)
            extra = outcome.headers
            if body.status >= 400:  # a fault's non-streaming error carries the usual headers
                extra = (*default_error_headers(body.status), *extra)
        else:
            assert isinstance(outcome, Failure)
            exchange.source = outcome.source
            code = outcome.error.code
            exchange.error = outcome.error.message or (str(code) if code else None)
            if outcome.near:
                exchange.attempts = [n.to_json() for n in outcome.near]
            body = wire.error(outcome.error, request.model, outcome.delay_s)
            names = {k.lower() for k, _ in outcome.error.headers}
            defaults = tuple(
                (k, v) for k, v in default_error_headers(outcome.error.status) if k not in names
            )
            extra = (*defaults, *outcome.error.headers, *outcome.headers)
        # One value per header name; later sources win (a script's headers over the bucket's).
        merged = {k.lower(): str(v) for k, v in (*rate_headers, *extra)}
        headers = [
            (b"x-request-id", exchange.id.encode()),
            (
                b"openai-processing-ms",
                str(round(body.offsets[0] * 1000) if body.offsets else 0).encode(),
            ),
            *_STATIC_HEADERS,
            *((k.encode(), v.encode()) for k, v in merged.items()),
        ]
        self._record(exchange, body.status)
        if fault is not None and fault.reset:
            result = await writer.reset(scope, receive)
        elif fault is not None and fault.hang:
            result = await writer.hang(scope, receive, self.engine.config.hang_max_s)
        else:
            result = await writer.write(
                body,
                headers,
                scope,
                receive,
                send,
                arrived,
                drip_bytes_per_s=fault.drip_bytes_per_s if fault is not None else None,
            )
        if result.disconnected:
            exchange.error = "client disconnected"
        return result.status

    def _body(
        self, rendered: Any, created: int, request: Conversation, fault: Fault | None
    ) -> wire.Body:
        """The answer's bytes. The same rendered answer in the same second is the same bytes
        (rendered answers are cached by the engine), so it is encoded once."""
        stream, usage = request.stream, request.include_usage
        if fault is not None:
            if stream:
                return wire.stream(rendered, created, usage, fault)
            return wire.whole(rendered, created, fault)
        key = (id(rendered), created, stream, usage)
        found = self._bodies.get(key)
        if found is not None and found[0] is rendered:
            return found[1]
        body = wire.stream(rendered, created, usage) if stream else wire.whole(rendered, created)
        size = len(body.body) + sum(map(len, body.events))
        if size > BODY_CACHE_BYTES // 4:
            return body  # too large to be worth keeping
        if len(self._bodies) >= PARSE_CACHE_SIZE or self._body_bytes + size > BODY_CACHE_BYTES:
            self._bodies.clear()
            self._body_bytes = 0
        self._bodies[key] = (rendered, body)
        self._body_bytes += size
        return body

    def _record(self, exchange: Exchange, status: int) -> None:
        """Put the exchange in the journal before its last byte leaves, so that a client
        that has its answer finds it there; `_finish` completes the entry."""
        exchange.status = status
        journal = self.engine.journal
        if journal is not None:
            journal.add(exchange)

    def _finish(self, exchange: Exchange, arrived: float, status: int) -> None:
        exchange.status = status
        exchange.duration_ms = (asyncio.get_running_loop().time() - arrived) * 1000
        if logger.isEnabledFor(logging.INFO):
            log_exchange(exchange, self.engine.config.log_format)


def _tokens_sent(rendered: Any, fault: Fault | None) -> int:
    """Completion tokens the client gets: a stream cut by a fault stops after N deltas."""
    if fault is None:
        return int(rendered.completion_tokens)
    if fault.reset or fault.hang:
        return 0
    cut = fault.disconnect_after_tokens
    if fault.error_after_tokens is not None:
        cut = fault.error_after_tokens if cut is None else min(cut, fault.error_after_tokens)
    if fault.empty_choices_error:
        cut = 0
    if cut is None:
        return int(rendered.completion_tokens)
    return sum(count_tokens("".join(c.deltas[:cut])) for c in rendered.choices)


def _clip(raw: bytes) -> dict[str, Any]:
    """A large body as the journal keeps it: its size and its first bytes."""
    return {
        "truncated": True,
        "bytes": len(raw),
        "text": raw[:JOURNAL_BODY_LIMIT].decode("utf-8", "replace"),
    }


def _best_effort_json(raw: bytes) -> Any:
    """A refused body for the journal: parsed when it can be sent back as JSON, else text."""
    try:
        value = orjson.loads(raw)
        orjson.dumps(value)
        return value
    except (orjson.JSONDecodeError, TypeError, RecursionError):
        return raw[:2048].decode("utf-8", "replace")


def log_exchange(exchange: Exchange, form: str) -> None:
    """One line per exchange; never headers or keys. (Formatted directly: it is written
    for every request, and a dict of fields joined field by field cost several µs.)"""
    rule = exchange.rule or exchange.source or "-"
    model = exchange.model or "-"
    stream = "true" if exchange.stream else "false"
    tokens = exchange.prompt_tokens + exchange.completion_tokens
    ms = round(exchange.duration_ms)
    fault = ",".join(exchange.faults) if exchange.faults else None
    error = exchange.error[:200] if exchange.error and exchange.status >= 400 else None
    if form == "json":
        fields: dict[str, str | int] = {
            "event": "exchange",
            "id": exchange.id,
            "rule": rule,
            "model": model,
            "stream": stream,
            "status": exchange.status,
            "tokens": tokens,
            "ms": ms,
        }
        if fault is not None:
            fields["fault"] = fault
        if error is not None:
            fields["error"] = error
        line = orjson.dumps(fields).decode()
    else:
        line = (
            f"exchange id={exchange.id} rule={_quote(rule)} model={_quote(model)} "
            f"stream={stream} status={exchange.status} tokens={tokens} ms={ms}"
        )
        if fault is not None:
            line += f" fault={_quote(fault)}"
        if error is not None:
            line += f" error={_quote(error)}"
    if EXCHANGE_LINES.stream is None:
        logger.info(line)
    else:
        EXCHANGE_LINES.write(line)


class ExchangeLines:
    """The per-exchange log line, written in batches: lines of one event-loop pass go out
    in one write at the end of the pass, in the logging format `setup_logging` chose.

    The logging machinery (a record, a formatter, a locked, flushed write per line) costs a
    quarter of a short request's time under load; this keeps one line per exchange at a
    fraction of that. Unset (`stream` None), lines go through `logging` as usual.
    """

    def __init__(self) -> None:
        self.stream: Any = None
        self.prefix_time = True
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""

    def configure(self, stream: Any, prefix_time: bool) -> None:
        self.stream = stream
        self.prefix_time = prefix_time

    def write(self, line: str) -> None:
        if self.prefix_time:
            now = time.time()
            second = int(now)
            if second != self._second:
                self._second = second
                self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            line = f"{self._stamp},{int((now - second) * 1000):03d} INFO mockllm.exchange: {line}"
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.flush)
        self._lines.append(line)

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        if lines and self.stream is not None:
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # a closed stream: nothing to log to
                pass


EXCHANGE_LINES = ExchangeLines()


def _quote(text: str) -> str:
    return orjson.dumps(text).decode() if (" " in text or '"' in text or not text) else text


def model_routes(
    engine: Engine, path: str = "/v1/models"
) -> list[tuple[str, Callable[[Request], Any]]]:
    async def list_models(request: Request) -> Response:
        data = [_model(m) for m in engine.listed_models()]
        return json_response(200, {"object": "list", "data": data})

    async def get_model(request: Request) -> Response:
        model = request.path_params["model"]
        if not engine.is_known_model(model) and model not in engine.listed_models():
            raise RequestError(
                404,
                f"The model '{model}' does not exist",
                code="model_not_found",
                param="model",
            )
        return json_response(200, _model(model))

    paths = dict.fromkeys(["/v1/models", path])
    out: list[tuple[str, Callable[[Request], Any]]] = []
    for where in paths:
        out += [(where, list_models), (where + "/{model:path}", get_model)]
    return out


def _model(model_id: str) -> dict[str, Any]:
    owner = "openai" if model_id.startswith(("gpt", "o1", "o3", "o4", "chatgpt")) else "system"
    created = 1_700_000_000 + derive_seed("model", model_id) % 20_000_000
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}
