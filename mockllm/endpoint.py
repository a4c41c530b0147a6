"""One API family's POST path as a raw ASGI endpoint (the hot path).

A request flows: read the body → the dialect parses it into a Conversation → the gateway
authenticates and admits it → the engine answers (rules, cassettes, recording, generator,
fallbacks) → the gateway holds the answer's cost → the dialect encodes the answer →
the writer sends it at its pace. This module only strings those together, and keeps the
exchange for the journal and the log.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mockllm import writer
from mockllm.asgi import (
    ALLOW_ORIGIN,
    ALLOW_ORIGIN_EXPOSE_ALL,
    ARRIVED_KEY,
    BATCH_KEY,
    BROWSER_OPT_IN,
    CONNECTION_KEY,
    LargeHeaders,
    Receive,
    RequestIds,
    Scope,
    Send,
    decode_body,
    decode_sized,
    header_pairs,
    json_head,
    read_body,
    with_headers,
)
from mockllm.cache import Memo
from mockllm.conversation import Conversation
from mockllm.dialects import Dialect, ParseContext, Poll, Run, openai_errors
from mockllm.engine import Answer, Engine, Failure, Outcome, Proxied, Replayed, unknown_model
from mockllm.errors import CassetteError, RequestError
from mockllm.exchanges import (
    finish_exchange,
    fired_faults,
    journal_body,
    kept_answer,
    sent_tokens,
    ticks_before,
    tokens_of_ticks,
)
from mockllm.follow import follow
from mockllm.journal import Exchange
from mockllm.load import Capacity, Ticket
from mockllm.rules import Fault, LatencyModel, Rule
from mockllm.wire import Body

if TYPE_CHECKING:
    from mockllm.gateway import Gateway
    from mockllm.metrics import Metrics
    from mockllm.recording import RecordingProxy

PARSE_CACHE_SIZE = 1024
PARSE_CACHE_BODY = 16 * 1024  # larger request bodies are kept apart, fewer of them
# An agent's request (a system prompt of tens of kilobytes, two dozen tools) sent again, as
# a load test replaying captured traffic sends it, is parsed once too; its parsed form
# takes 6-10 times its bytes, counted so, and never pushes out the small requests'.
LARGE_CACHE_BODY = 1 << 20  # larger request bodies are parsed every time
LARGE_CACHE_SIZE = 64
LARGE_CACHE_BYTES = 32 << 20
PARSED_PER_BYTE = 8
# Bytes of header values (raw and decoded) and of parsed requests (body and header values)
# the memos keep, at most: a client sending megabytes of headers must not make them hold
# gigabytes (`Memo` also leaves out any one entry over a quarter of its bound).
HEADER_CACHE_BYTES = 1 << 20
PARSE_CACHE_BYTES = 24 << 20
BODY_CACHE_BYTES = 512 << 10  # encoded answers kept for reuse, at most (bytes)
CASSETTE_HEADER = "x-mockllm-cassette"


@dataclass
class Services:
    """What every endpoint of one server shares (the gateway is swapped by tests)."""

    engine: Engine
    gateway: Gateway
    proxy: RecordingProxy | None = None
    ids: RequestIds | None = None
    latency_model: LatencyModel | None = None  # the server's (--latency-model)
    capacity: Capacity = field(default_factory=Capacity)
    metrics: Metrics | None = None

    def __post_init__(self) -> None:
        if self.ids is None:
            self.ids = RequestIds()


class _Parsed:
    """A parsed request and what follows from it alone, kept for the next identical one."""

    __slots__ = ("request", "seed", "checked", "memo")

    def __init__(self, request: Conversation, seed: int, memo: bool = True) -> None:
        self.request = request
        self.seed = seed
        self.checked: Gateway | None = None  # the gateway whose parameter ranges it passed
        self.memo = memo  # its parse and answer may be kept: it reads no state


class Endpoint:
    """Raw ASGI endpoint for one dialect's POST path(s)."""

    def __init__(self, services: Services, dialect: Dialect) -> None:
        self.services = services
        self.dialect = dialect
        # Parsed requests by (path, body, headers), headers by their raw form, encoded
        # answers by the rendered answer: load tests and retries send the same bytes again
        # and again, and each of these is immutable.
        self._parsed: Memo[tuple[Any, ...], _Parsed] = Memo(PARSE_CACHE_SIZE, PARSE_CACHE_BYTES)
        self._parsed_large: Memo[tuple[Any, ...], _Parsed] = Memo(
            LARGE_CACHE_SIZE, LARGE_CACHE_BYTES
        )
        self._headers: Memo[tuple[Any, ...], dict[str, str]] = Memo(
            PARSE_CACHE_SIZE, HEADER_CACHE_BYTES
        )
        self._bodies: Memo[tuple[int, int, bool, bool, Any], tuple[Any, Body]] = Memo(
            PARSE_CACHE_SIZE, BODY_CACHE_BYTES
        )
        # Stateful dialects (stored responses) parse against the store: no cached parse.
        self._context: tuple[object, object, object, ParseContext] | None = None
        # What every answer of an OpenAI family carries besides its own static headers
        # (the Messages API's answers are written as that API writes them).
        self._is_openai = dialect.api != "messages" and dialect.openai_head
        self._family_headers = openai_errors.EXPOSED if self._is_openai else ()

    def context(self) -> ParseContext:
        """What parsing consults: made again only when the config, state store or profile
        it is made from is swapped (each is immutable, or replaced whole)."""
        engine = self.services.engine
        config, store, profile = engine.config, engine.store, self.services.gateway.profile
        kept = self._context
        if kept is not None and kept[0] is config and kept[1] is store and kept[2] is profile:
            return kept[3]
        context = ParseContext(
            config.max_n,
            config.max_output_tokens,
            store,
            config.seed,
            config.embedding_dimensions,
            lenient=config.lenient,
            refuse_unknown=profile.unknown_arguments == "refuse",
            dated_models=profile.dated_models,
            held_elsewhere=config.upstream is not None or config.cassettes is not None,
            vllm=profile.vllm,
        )
        self._context = (config, store, profile, context)
        return context

    def headers_of(self, scope: Scope) -> dict[str, str]:
        raw_headers = tuple(scope["headers"])
        headers = self._headers.get(raw_headers)
        if headers is None:
            headers, size = decode_sized(raw_headers)
            self._headers.put(raw_headers, headers, 2 * size)
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = asyncio.get_running_loop().time()
        services, dialect = self.services, self.dialect
        engine, gateway = services.engine, services.gateway
        config = engine.config
        headers = self.headers_of(scope)
        exchange = Exchange(
            id="",
            method=scope["method"],
            path=scope["path"],
            started=time.time(),
            api=dialect.api,
            headers=headers,
        )
        if "origin" in headers:  # a browser's cross-origin request
            cross_origin = self._cross_origin(headers, send)
            if cross_origin is None:
                refused = RequestError(
                    401,
                    f"CORS requests must set '{BROWSER_OPT_IN}' header",
                    type="authentication_error",
                )
                await self.refuse(refused, exchange, send, arrived)
                return
            send = cross_origin
        declared = headers.get("content-length")
        key = None
        try:
            key = gateway.authenticate(headers, dialect.key_headers)
            raw = await read_body(
                receive,
                config.max_body_bytes,
                int(declared) if declared and declared.isdigit() else None,
                config.body_timeout_s,
            )
            encoding = headers.get("content-encoding")
            if encoding is not None:
                raw = decode_body(raw, encoding, config.max_body_bytes)
            # Deadlines count from the request's arrival: when the server parsed its last
            # byte (stamped by the protocol), else now. Time spent queued behind other
            # requests then comes out of the wait for the first token, not on top of it.
            extensions = scope.get("extensions", {})
            arrived = extensions.get(ARRIVED_KEY, arrived)
            exchange.request = raw
            parsed = self._parse(raw, headers, scope["path"])
            request = parsed.request
            exchange.request = journal_body(raw, request.body)
            exchange.model, exchange.stream = request.model, request.stream
            if exchange.request is request.body:  # not clipped: small enough to keep
                exchange.conversation = request
            if dialect.direct is not None:  # answered from the request alone
                await self._answer_directly(
                    request, parsed.seed, exchange, scope, receive, send, arrived
                )
                return
            decision = gateway.admit(
                request,
                key,
                params_checked=parsed.checked is gateway,
                rated=BATCH_KEY not in extensions,
            )
            parsed.checked = gateway
            cassette = (
                self._cassette(headers) if (CASSETTE_HEADER in headers or engine.cassette) else None
            )
        except RequestError as exc:
            if isinstance(exchange.request, bytes):
                exchange.request = journal_body(exchange.request, None)
            if exc.reason == "rate_limited":
                exchange.key = gateway.accounts.alias(key)
            await self.refuse(exc, exchange, send, arrived)
            return
        except TimeoutError:
            late = RequestError(408, "The request body was not received in time.", code="timeout")
            await self.refuse(late, exchange, send, arrived)
            return
        except ConnectionResetError:
            return
        seed = parsed.seed
        exchange.id = services.ids.next(seed, dialect.request_id)  # type: ignore[union-attr]
        metrics = services.metrics
        if metrics is not None:
            metrics.started(exchange)
        ticket: Ticket | None = None
        try:
            outcome = engine.handle(
                request,
                seed,
                cassette,
                exchange.attempts,
                allowed=lambda model: gateway.model_allowed(key, model, headers),
            )
            reservation = None
            if isinstance(outcome, Answer):
                model = self._latency_model(outcome.rule)
                if model is not None:
                    ticket = await self._admit(model, outcome, request, exchange, scope, receive)
                outcome, reservation = gateway.hold(outcome, request, key, engine.cut)
            if exchange.conversation is not None:  # the outcome holds the request too
                exchange.outcome = outcome
        except _Gone:  # the client left while its request was queued: nothing to write
            exchange.error = "client disconnected"
            self._record(exchange, 0)
            finish_exchange(exchange, arrived, 0, config.log_format, engine.journal)
            if metrics is not None:
                metrics.ended(exchange)
            return
        except RequestError as exc:
            if ticket is not None:
                services.capacity.release(ticket, None)
            if key is not None and not gateway.accounts.is_open:
                exchange.key = gateway.accounts.alias(key)
            await self.refuse(exc, exchange, send, arrived)
            return
        try:
            if isinstance(outcome, Proxied):
                exchange.source, exchange.rule = "upstream", f"{outcome.cassette} (recording)"
                if services.proxy is None:  # pragma: no cover - proxied only with an upstream
                    raise RuntimeError("recording without an upstream")
                self._record(exchange, 0)
                status = await services.proxy.relay(outcome, scope, receive, send, raw)
            else:
                status = await self._write(
                    outcome,
                    request,
                    exchange,
                    scope,
                    receive,
                    send,
                    arrived,
                    decision.headers,
                    ticket,
                    parsed.memo,
                    seed,
                )
        finally:
            if reservation is not None:
                charge = gateway.settle(reservation, exchange.completion_tokens)
                exchange.key = gateway.accounts.alias(key)
                exchange.credits = float(charge.amount)
            if ticket is not None:
                services.capacity.release(ticket, asyncio.get_running_loop().time() - arrived)
        finish_exchange(exchange, arrived, status, config.log_format, engine.journal)
        if metrics is not None:
            choices: tuple[tuple[int, str, int], ...] = ()
            if request.n > 1 and isinstance(outcome, Answer):  # vLLM counts each choice
                choices = tuple(
                    (c.tokens, c.finish_reason, c.ticks) for c in outcome.rendered.choices
                )
            paced = ticket.model if ticket is not None else None
            metrics.ended(exchange, request.max_tokens, request.n, choices, paced)

    def _cross_origin(self, headers: dict[str, str], send: Send) -> Send | None:
        """`send` with the CORS headers the family's API answers a browser with; None when
        the family refuses the request (the Messages API, unless the request opts in)."""
        if self.dialect.api != "messages":
            return with_headers(send, ALLOW_ORIGIN)
        if headers.get(BROWSER_OPT_IN, "").lower() != "true":
            return None
        return with_headers(send, ALLOW_ORIGIN_EXPOSE_ALL)

    def _latency_model(self, rule: Rule | None) -> LatencyModel | None:
        """The rule's latency model, else the server's; None for none."""
        model = rule.latency_model if rule is not None else None
        if model is None:
            return self.services.latency_model
        return None if model.name == "none" else model

    async def _admit(
        self,
        model: LatencyModel,
        answer: Answer,
        request: Conversation,
        exchange: Exchange,
        scope: Scope,
        receive: Receive,
    ) -> Ticket:
        """A slot in the answer's group (after queueing for one), its prompt looked up in
        the group's prefix cache; RequestError past the queue, _Gone when the client left
        while queued."""
        capacity = self.services.capacity
        group = capacity.group(model, request, answer.rule)
        try:
            entered = capacity.enter(model, group)
        except RequestError:
            exchange.source = "capacity"
            raise
        ticket = (
            entered
            if isinstance(entered, Ticket)
            else await self._wait_turn(entered, group, scope, receive)
        )
        if ticket is None:
            exchange.source = "rule" if answer.rule is not None else "default"
            raise _Gone
        rendered = answer.rendered
        capacity.prefill(ticket, group, request, rendered.prompt_tokens, rendered.completion_tokens)
        exchange.load = {
            "model": model.name,
            "group": group,
            "in_flight": ticket.in_flight,
            "load_factor": round(ticket.gap_factor, 6),
            "ttft_load_factor": round(ticket.ttft_factor, 6),
            "queued_ms": round(ticket.queued_s * 1000, 3),
            "prefill_ms": round(ticket.prefill_s * 1000, 3),
            "cached_tokens": ticket.cached_tokens,
        }
        return ticket

    async def _wait_turn(
        self, queued: asyncio.Future[Ticket | None], group: str, scope: Scope, receive: Receive
    ) -> Ticket | None:
        """The ticket once the request's turn comes; None, its place given up, when its
        client leaves first. vLLM cancels a request whose client disconnects, and so takes
        it out of its waiting queue at once (vllm/entrypoints/utils.py, with_cancellation).
        The connection's close is watched as the writer watches it: a callback on the
        protocol where the server offers one, else a task on `receive()` (for queued
        requests only: past capacity, not the usual path)."""
        capacity = self.services.capacity
        connection = scope.get("extensions", {}).get(CONNECTION_KEY)
        if connection is not None:
            connection.watch(lambda: capacity.leave(group, queued))
            try:
                return await queued
            finally:
                connection.unwatch()
        listener = asyncio.ensure_future(_left(receive))
        try:
            await asyncio.wait((queued, listener), return_when=asyncio.FIRST_COMPLETED)
        finally:
            listener.cancel()
        capacity.leave(group, queued)  # nothing if its turn came (even as its client left)
        return await queued

    async def _answer_directly(
        self,
        request: Conversation,
        seed: int,
        exchange: Exchange,
        scope: Scope,
        receive: Receive,
        send: Send,
        arrived: float,
    ) -> None:
        """A path the dialect answers from the request alone (no rule, engine, rate limit
        or credit): the answer is journaled and logged as any other."""
        dialect, engine = self.dialect, self.services.engine
        assert dialect.direct is not None
        exchange.id = self.services.ids.next(  # type: ignore[union-attr]
            engine.config.seed, dialect.request_id
        )
        headers = _own_id(dialect, exchange)
        if dialect.processing_ms:
            headers.append((b"openai-processing-ms", b"0"))  # answered at once
        headers += dialect.static_headers
        headers += dialect.account_headers
        headers += self._family_headers
        if engine.is_known_model(request.model):
            exchange.source = "direct"
            body = dialect.direct(request, engine.created(), seed)
        else:  # as the API answers for a model it does not have
            exchange.source = "error"
            body = dialect.failure(unknown_model(request.model, request.api), 0.0, exchange.id)
            headers += (
                (k.encode(), v.encode()) for k, v in dialect.headers(body.status, (), engine.now())
            )
        exchange.answer = kept_answer(body)
        self._record(exchange, body.status)
        if exchange.ticks is not None:  # a page is open: the headers too
            exchange.sent_headers = headers
        result = await writer.write(
            body, headers, scope, receive, send, arrived, ticks=exchange.ticks
        )
        finish_exchange(exchange, arrived, result.status, engine.config.log_format, engine.journal)

    def _parse(self, raw: bytes, headers: dict[str, str], path: str) -> _Parsed:
        """The parsed request: the one kept for the same bytes and headers, unless the
        dialect reads the state store to parse it (earlier responses, threads)."""
        reads_state = self.dialect.reads_state
        memo = reads_state is None or not reads_state(raw)
        size = len(raw)
        kept = self._parsed if size <= PARSE_CACHE_BODY else self._parsed_large
        cache_key = (
            (path, raw, tuple(headers.items()))
            if memo and size <= LARGE_CACHE_BODY and type(headers) is not LargeHeaders
            else None
        )
        parsed = kept.get(cache_key) if cache_key is not None else None
        if parsed is None:
            try:
                request = self.dialect.parse(raw, headers, path, self.context())
            except RequestError:
                if not self._held_upstream(raw, headers, path):
                    raise
                request = self._parse_as_sent(raw, headers, path)
                return _Parsed(request, self.services.engine.seed_for(request), False)
            parsed = _Parsed(request, self.services.engine.seed_for(request), memo)
            if cache_key is not None:
                held = sum(map(len, headers.values()))
                held += size if kept is self._parsed else PARSED_PER_BYTE * size
                kept.put(cache_key, parsed, held)
        return parsed

    def _held_upstream(self, raw: bytes, headers: dict[str, str], path: str) -> bool:
        """Whether the upstream answers a request the API's checks refuse: it is forwarded
        while recording, or a cassette recorded the upstream's answer to it. A gateway takes
        arguments the API does not know (OpenRouter's `reasoning`, vLLM's `top_k`), and the
        upstream that answered, not mockllm's copy of the API's checks, has the last word."""
        engine = self.services.engine
        config = engine.config
        if config.upstream is not None and (engine.record_mode or config.record_mode) != "none":
            return True
        library = engine.library
        if library is None:
            return False
        name = headers.get(CASSETTE_HEADER) or engine.cassette
        try:
            return library.holds("POST", path, raw, name)
        except CassetteError:
            return False  # a name that is no cassette's: refused as it was

    def _parse_as_sent(self, raw: bytes, headers: dict[str, str], path: str) -> Conversation:
        """The request parsed as `--lenient` parses it; the first refusal stands when even
        that cannot read it (a body that is not the family's shape)."""
        context = replace(self.context(), lenient=True, refuse_unknown=False)
        return self.dialect.parse(raw, headers, path, context)

    def _cassette(self, headers: dict[str, str]) -> str | None:
        engine = self.services.engine
        name = headers.get(CASSETTE_HEADER) or engine.cassette
        if name is None:
            return None
        from mockllm.recording import cassette_name

        return cassette_name(engine.config.cassettes, name, CASSETTE_HEADER)

    async def refuse(
        self, exc: RequestError, exchange: Exchange, send: Send, arrived: float
    ) -> None:
        """Answer a refusal raised before any byte was sent, in the family's error shape."""
        engine = self.services.engine
        dialect = self.dialect
        if dialect.restate is not None:
            exc = dialect.restate(exc)
        if not exchange.id:
            exchange.id = self.services.ids.next(  # type: ignore[union-attr]
                engine.config.seed, dialect.request_id
            )
        if exchange.source != "capacity":
            exchange.source = "error"
        exchange.error, exchange.reason = exc.message, exc.reason
        self._record(exchange, exc.status)
        body = dialect.refusal(exc, exchange.id)
        named = exc.headers
        if dialect.refusal_headers is not None:
            named = dialect.refusal_headers(exc.status, exc.headers, engine.now())
        merged = {k.lower(): v for k, v in named}  # one value per name; the last one wins
        headers = _own_id(dialect, exchange)
        if dialect.processing_ms:
            headers.append((b"openai-processing-ms", b"0"))  # refused at once
        headers += (
            *dialect.static_headers,
            *(dialect.account_headers if exc.status != 401 else ()),
            *self._family_headers,
            *((k.encode(), v.encode()) for k, v in merged.items()),
        )
        exchange.answer = body
        if exchange.ticks is not None:
            exchange.sent_headers = headers
        await send(json_head(exc.status, body, headers))
        await send({"type": "http.response.body", "body": body})
        finish_exchange(exchange, arrived, exc.status, engine.config.log_format, engine.journal)
        metrics = self.services.metrics
        if metrics is not None:
            metrics.ended(exchange)

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
        ticket: Ticket | None = None,
        memo: bool = True,
        seed: int = 0,
    ) -> int:
        engine, dialect = self.services.engine, self.dialect
        rule = outcome.rule
        detached: tuple[Body, Poll | None] | None = None
        raw_headers = b""  # header lines written out, sent after `headers`
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
                interaction,
                engine.config.replay_speed,
                engine.default_latency,
                fault,
                outcome.latency,
            )
            if fault is not None and dialect.stamp is not None:  # the error a rule added
                body = dialect.stamp(body, exchange.id)
            # The recording's own request id gives way to this exchange's.
            own = dialect.request_id_header
            recorded_headers = [(k, v) for k, v in recorded_headers if k != own]
            headers = [*_own_id(dialect, exchange), *recorded_headers]
            exchange.answer = kept_answer(body)
            self._record(exchange, body.status)
            if exchange.ticks is not None:  # a page is open: the headers too
                exchange.sent_headers = headers
            if fault is not None and fault.hang:
                result = await writer.hang(scope, receive, engine.config.hang_max_s)
            elif fault is not None and fault.reset:
                result = await writer.reset(scope, receive)
            else:
                drip = fault.drip_bytes_per_s if fault is not None else None
                result = await writer.write(
                    body, headers, scope, receive, send, arrived,
                    drip_bytes_per_s=drip, ticks=exchange.ticks,
                )  # fmt: skip
            if result.disconnected:
                exchange.error = "client disconnected"
            return result.status
        if isinstance(outcome, Answer):
            exchange.source = "rule" if rule is not None else "default"
            rendered = outcome.rendered
            first = rendered.offsets[0]
            if ticket is not None:
                rendered = self.services.capacity.with_cached(rendered, ticket.cached_tokens)
            exchange.prompt_tokens = rendered.prompt_tokens
            exchange.cached_tokens = rendered.cached_tokens
            exchange.completion_tokens = sent_tokens(rendered, fault, request.stream)
            exchange.finish = rendered.choices[0].finish_reason if rendered.choices else "stop"
            if fault is not None:
                exchange.faults = fired_faults(fault, rendered, request.stream)
            created = engine.created()
            if dialect.detach is not None:
                run = Run(rendered, None, 0.0, created, _wall(arrived), seed, fault)
                detached = dialect.detach(engine.store, request, run)
            if detached is not None:
                # The answer runs on in the store, at its own pace: a load model, which
                # would stretch this request's writes, would put them out of step with it.
                body = detached[0]
            else:
                body = self._body(rendered, created, request, fault, memo)
                if fault is not None and dialect.stamp is not None:  # (never encoded twice)
                    body = dialect.stamp(body, exchange.id)
            encoded = body.offsets  # the events' due times before a load model stretches them
            factor = 1.0
            if ticket is not None and detached is None:
                body = replace(body, offsets=ticket.due_times(body.offsets, first))
                first, factor = ticket.first_token_s(first), ticket.gap_factor
            exchange.first_token_ms = first * 1000
            if fault is None:  # streamed or not: a whole answer is sent once its last
                exchange.gaps = (rendered.offsets, factor)  # token is due, as vLLM counts
            if dialect.remember is not None and detached is None:
                dialect.remember(engine.store, request, rendered, created, fault)
            extra = outcome.headers
            if dialect.answer_headers is not None:  # a rule's own headers still win
                extra = (*dialect.answer_headers(rendered), *extra)
            asked = (request.max_tokens if request.max_tokens_given else 0) or 0
            if not rate_headers and dialect.open_limits is not None:
                # No keys file limits the key: the API's answers name their limits anyway.
                rate_headers = dialect.open_limits(rendered, asked, engine.now())
            elif not rate_headers and self._is_openai:  # the same, as OpenAI names them
                tokens = rendered.prompt_tokens + asked
                if detached is not None or any(_is_rate_header(k) for k, _ in extra):
                    rate_headers = openai_errors.open_limits(tokens)  # merged with the rest
                else:  # written into the head as they are (no work per header)
                    raw_headers = openai_errors.open_limit_lines(tokens)
        else:
            assert isinstance(outcome, Failure)
            exchange.source = outcome.source
            code = outcome.error.code
            if code == "cassette_miss":
                exchange.reason = code
            exchange.error = outcome.error.message or (str(code) if code else None)
            if outcome.near:
                exchange.attempts = [n.to_json() for n in outcome.near]
            if dialect.detach is not None and outcome.source == "rule":
                run = Run(
                    None,
                    outcome.error,
                    outcome.delay_s,
                    engine.created(),
                    _wall(arrived),
                    seed,
                    None,
                )
                detached = dialect.detach(engine.store, request, run)
            if detached is not None:  # the run fails, once due: the request is answered
                body = detached[0]
                extra = outcome.headers
            else:
                body = dialect.failure(outcome.error, outcome.delay_s, exchange.id)
                extra = (*outcome.error.headers, *outcome.headers)
        # One value per header name; later sources win (a script's headers over the bucket's).
        merged = {
            k.lower(): str(v)
            for k, v in (*dialect.headers(body.status, rate_headers, engine.now()), *extra)
        }
        headers = _own_id(dialect, exchange)
        if dialect.processing_ms:
            ms = round(body.offsets[0] * 1000) if body.offsets else 0
            headers.append((b"openai-processing-ms", str(ms).encode()))
        headers += dialect.static_headers
        if body.status != 401:
            headers += dialect.account_headers
        headers += self._family_headers
        if outcome.headers or (isinstance(outcome, Failure) and outcome.error.headers):
            # A rule's header of a name the server sends too (`x-request-id`, `request-id`)
            # replaces it: one value per name, as for the rest.
            headers = [h for h in headers if h[0].decode() not in merged]
        headers += [(k.encode(), v.encode()) for k, v in merged.items()]
        exchange.answer = kept_answer(body)
        self._record(exchange, body.status)
        if exchange.ticks is not None:  # a page is open: keep the headers sent (a list
            exchange.sent_headers = headers  # made per request: not kept for nothing)
            if raw_headers:
                exchange.sent_headers = [*headers, *header_pairs(raw_headers)]
        if fault is not None and fault.reset:
            result = await writer.reset(scope, receive)
        elif fault is not None and fault.hang:
            result = await writer.hang(scope, receive, engine.config.hang_max_s)
        elif detached is not None and detached[1] is not None:
            # A stream of an answer that runs on: it ends early if the answer is cancelled,
            # and a client that leaves it leaves the answer running.
            result = await follow(
                body, headers, scope, receive, send, arrived, detached[1], body.abort_after
            )
        else:
            result = await writer.write(
                body,
                headers,
                scope,
                receive,
                send,
                arrived,
                drip_bytes_per_s=fault.drip_bytes_per_s if fault is not None else None,
                ticks=exchange.ticks,
                raw_headers=raw_headers,
            )
        if result.disconnected:
            exchange.error = "client disconnected"
            answered = isinstance(outcome, Answer) and detached is None  # not running on
            if answered and body.events and result.events_sent is not None:
                # Only what was written is billed (and shown as the exchange's usage).
                ticks = ticks_before(rendered, encoded, result.events_sent)
                sent = tokens_of_ticks(rendered, ticks)
                exchange.completion_tokens = min(exchange.completion_tokens, sent)
        return result.status

    def _body(
        self,
        rendered: Any,
        created: int,
        request: Conversation,
        fault: Fault | None,
        memo: bool = True,
    ) -> Body:
        """The answer's bytes. The same rendered answer in the same second is the same bytes
        (rendered answers are cached by the engine), so it is encoded once."""
        encode = self.dialect.answer
        if fault is not None or not memo:
            return encode(rendered, request, created, fault)
        key = (id(rendered), created, request.stream, request.include_usage, request.wire)
        found = self._bodies.get(key)
        if found is not None and found[0] is rendered:
            return found[1]
        body = encode(rendered, request, created, None)
        self._bodies.put(key, (rendered, body), len(body.body) + sum(map(len, body.events)))
        return body

    def _record(self, exchange: Exchange, status: int) -> None:
        """Put the exchange in the journal before its last byte leaves, so that a client
        that has its answer finds it there; `finish_exchange` completes the entry. (While
        the inspector follows the journal, adding gives the exchange its `ticks` list.)"""
        exchange.status = status
        journal = self.services.engine.journal
        if journal is not None:
            journal.add(exchange)


def _own_id(dialect: Dialect, exchange: Exchange) -> list[tuple[bytes, bytes]]:
    """The exchange's id under the family's header (none for a family that sends none)."""
    own = dialect.request_id_header
    return [(own, exchange.id.encode())] if own else []


def _is_rate_header(name: str) -> bool:
    return name.lower().startswith("x-ratelimit-")


def _wall(arrived: float) -> float:
    """The wall-clock time of a loop time already past (a request's arrival)."""
    return time.time() - (asyncio.get_running_loop().time() - arrived)


class _Gone(Exception):
    """The client went away while its request waited for a latency model's capacity."""


async def _left(receive: Receive) -> None:
    """Return when the client goes away (the body is read: nothing else comes)."""
    while (await receive())["type"] != "http.disconnect":
        pass
