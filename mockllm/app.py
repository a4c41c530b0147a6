"""create_app(config) → the ASGI app: each family's POST on a raw ASGI endpoint, the rest
through Starlette."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from mockllm import openai_batches, openai_files, openai_uploads, stray, vllm_answers
from mockllm.admin import admin_routes
from mockllm.anthropic_files import anthropic_file_handlers
from mockllm.asgi import (
    ALLOW_ORIGIN,
    ALLOW_ORIGIN_EXPOSE_ALL,
    BATCH_KEY,
    REQUEST_ID_KEY,
    Receive,
    RequestIds,
    Scope,
    Send,
    answer_preflight,
    send_json,
    with_headers,
)
from mockllm.config import ServerConfig
from mockllm.conversation import derive_seed
from mockllm.dialects import by_api, dialects, messages
from mockllm.endpoint import Endpoint, Services
from mockllm.engine import Engine
from mockllm.errors import Problem, RequestError
from mockllm.exchanges import finish_exchange
from mockllm.feed import Feed
from mockllm.gateway import Gateway
from mockllm.inspector import Inspector
from mockllm.loader import load_latency_model, load_scenarios
from mockllm.message_batches import batch_routes
from mockllm.metrics import MULTIPROC_ENV, Metrics
from mockllm.protocol import error_body
from mockllm.reload import Reloader, Watch, gateway_watch, scenario_watch
from mockllm.routes import (
    completion_routes,
    conversation_routes,
    error_response,
    json_response,
    model_routes,
    response_routes,
)
from mockllm.rules import ErrorSpec, Latency, Rule
from mockllm.runtime import Runtime
from mockllm.state import open_store
from mockllm.ui import ui_routes
from mockllm.vllm_routes import vllm_routes

if TYPE_CHECKING:
    from mockllm.recording import RecordingProxy
    from mockllm.route_cassettes import RouteCassettes

logger = logging.getLogger("mockllm")
_OPENAI_ROUTE_HEADERS = ((b"openai-processing-ms", b"0"), (b"openai-version", b"2020-10-01"))
# liveness probes (vLLM's /ping too) and scrapes, not API calls
_PROBES = frozenset({"/health", "/ping", "/metrics"})

SERVER_ERROR = "The server had an error while processing your request."


class MockApp:
    """The ASGI application. A family's POST skips Starlette's stack; the rest goes
    through it."""

    def __init__(self, config: ServerConfig, rules: tuple[Rule, ...] | None = None) -> None:
        self.config = config
        if rules is None:
            rules = load_scenarios(config.scenarios)
        latency_model = load_latency_model(config.latency_model)
        default_latency = Latency(config.ttft_ms, config.inter_token_ms, config.jitter_ms, 1)
        if latency_model is not None:
            default_latency = latency_model.base_latency.over(default_latency)
        self.engine = Engine(
            config,
            rules,
            store=open_store(config.state, config.state_prefix),
            default_latency=default_latency,
        )
        self.proxy: RecordingProxy | None = None
        if config.cassettes is not None:
            self._open_cassettes(config)
        self.file_rules = self.engine.rules
        self.runtime = Runtime(self.engine)
        self.runtime.sync()  # a replica that starts late answers with the rules added before
        self.gateway = Gateway.load(
            config.profile, config.keys, self.engine.store, config.freeze_time
        )
        # Processes sharing a state store count their exchanges apart (ids stay unique);
        # under --freeze-time they count them together, so that an id does not depend on
        # which process answers (one store round trip more per exchange).
        store = self.engine.store
        shared = store.next_number if store.is_shared and config.freeze_time is not None else None
        ids = RequestIds(store.process_number << 40, shared)
        # The admin API's calls and the probes (/health, /metrics) are numbered apart (from
        # 2**39 up, ids stay unique): a health check or a scrape every few seconds must not
        # change the ids of the answers.
        self.admin_ids = RequestIds((store.process_number << 40) | (1 << 39))
        self.services = Services(
            self.engine, self.gateway, self.proxy, ids, latency_model=latency_model
        )
        self.engine.resets.append(self.services.capacity.reset)
        # After a reset the same requests get the same ids as on a fresh server.
        self.engine.resets += [ids.restart, self.admin_ids.restart]
        self.routed: RouteCassettes | None = None  # route calls through the cassettes
        if config.cassettes is not None:
            from mockllm.route_cassettes import RouteCassettes

            self.routed = RouteCassettes(self.services, self._identify)
        self.metrics: Metrics | None = None
        if config.metrics:
            self.metrics = Metrics(
                config.metrics_names,
                multiprocess=config.workers > 1 and MULTIPROC_ENV in os.environ,
                state=self.services.capacity.state,
            )
            self.services.metrics = self.metrics
        self.endpoints: dict[str, Endpoint] = {}
        self.use_gateway(self.gateway)
        self.reloader: Reloader | None = None
        self.scenario_watch: Watch | None = None
        if config.reload:
            if config.scenarios:
                self.scenario_watch = scenario_watch(config.scenarios, self._reloaded)
            self.reloader = Reloader(
                [
                    self.scenario_watch,
                    gateway_watch(
                        config.profile,
                        config.keys,
                        self.engine.store,
                        config.freeze_time,
                        lambda: self.gateway,
                        self.use_gateway,
                    ),
                ]
            )
        self.inspector = Inspector(self.services)
        self.feed = Feed(
            self.engine.journal,
            self.inspector.row,
            self.inspector.hello,
            self.inspector.shared,
            self.inspector.update,
        )
        self.inspector.recent, self.inspector.is_live = self.feed.find, self.feed.is_live
        self.ready = True
        routes = [
            Route(path, self._method_not_allowed, methods=["POST"]) for path in self.endpoints
        ]
        routes += [
            Route(path, endpoint, methods=methods)
            for path, endpoint, methods in (
                *response_routes(self.services),
                *conversation_routes(self.services),
                *completion_routes(self.services),
                *batch_routes(self.services, self.answer_inside),
                *openai_files.file_routes(self.services, anthropic_file_handlers(self.services)),
                *openai_batches.batch_routes(self.services, self.answer_inside),
                *openai_uploads.upload_routes(self.services),
            )
        ]
        if self.gateway.profile.vllm is not None:  # before /v1/models: vLLM's model cards
            routes += [Route(p, e, methods=m) for p, e, m in vllm_routes(self.services)]
        models_path = self.gateway.profile.models_path
        routes += [
            Route(path, endpoint, methods=["GET"])
            for path, endpoint in model_routes(self.engine, models_path, self.services)
        ]
        routes += [
            Route(path, endpoint, methods=methods)
            for path, endpoint, methods in admin_routes(
                self.runtime, lambda: self.ready, self.status, self._file_problems
            )
        ]
        # vLLM's (and SGLang's, TGI's) liveness probe, which load generators call before a
        # run (guidellm's OpenAI backend does, and stops when it is not 200)
        routes.append(Route("/health", self._health, methods=["GET"]))
        if self.metrics is not None:
            routes.append(Route("/metrics", self._metrics, methods=["GET"]))
        routes += [
            Route(path, endpoint, methods=methods)
            for path, endpoint, methods in ui_routes(self.engine, self.inspector, self.feed)
        ]
        extra = [("GET", balance.path)] if (balance := self.gateway.profile.balance) else []
        self.served = stray.served_paths(routes, extra)
        self.starlette = Starlette(
            routes=routes,
            exception_handlers={
                RequestError: self._request_error,
                HTTPException: self._http_error,
                Exception: self._server_error,
            },
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.routed is not None and scope["type"] == "http" and self.routed.takes(scope):
            # Recorded, or forwarded while recording, before the server's own route answers
            again = await self.routed.answer(scope, receive, send)
            if again is None:
                return
            receive = again
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None and scope["path"] != self.balance_path:
                try:
                    await endpoint(scope, receive, send)
                except Exception:
                    logger.exception("error while answering %s", scope["path"])
                    await _send_500(send, endpoint.dialect.api)
                return
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(stray.ADMIN_PREFIX):
            # The admin API stays same-origin: no CORS headers, and a preflight is a 405.
            admin_id = self._request_id(scope, self.admin_ids)
            await self.starlette(scope, receive, self._with_id(send, scope, admin_id))
            return
        if path != "/metrics":  # the API's paths answer browsers of any origin (CORS)
            if scope["method"] == "OPTIONS":
                if await answer_preflight(scope, send):
                    return
            elif any(name == b"origin" for name, _ in scope["headers"]):
                cors = ALLOW_ORIGIN_EXPOSE_ALL if _anthropic(scope) else ALLOW_ORIGIN
                send = with_headers(send, cors)
        if path == self.balance_path:
            await self._journaled(scope, receive, send, self._balance)
            return
        await self._journaled(scope, receive, send, self.starlette)

    async def answer_inside(
        self, path: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[int, str, bytes]:
        """(status, request id, body) of a POST this server answers for itself (a batch's
        request), as it would answer it from a client: rules, keys and credits, faults,
        the journal; but not the key's per-minute rate limits, as the Batch APIs' limits
        are their own."""
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 0),
            "server": ("127.0.0.1", 0),
            "extensions": {BATCH_KEY: True},
        }
        sent = False
        done = asyncio.Event()
        status, request_id, chunks = 500, "", []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await done.wait()
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() in (b"x-request-id", b"request-id"):
                        request_id = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self(scope, receive, send)
        finally:
            done.set()
        return status, request_id, b"".join(chunks)

    def _request_id(self, scope: Scope, ids: RequestIds | None = None) -> str:
        # The Anthropic SDK (it sends anthropic-version) reads its family's request id.
        spell = messages.DIALECT.request_id if _anthropic(scope) else None
        counter = ids or self.services.ids
        # Derived from the request, as an exchange's is: the same route and seed, the same id.
        seed = derive_seed(
            self.engine.config.seed, scope["method"], scope["path"], scope.get("query_string", b"")
        )
        return counter.next(seed, spell)  # type: ignore[union-attr]

    def _identify(self, scope: Scope) -> tuple[bytes, str]:
        """The request id header a client reads (its family's spelling), and a new id."""
        header = messages.DIALECT.request_id_header if _anthropic(scope) else b"x-request-id"
        return header, self._request_id(scope)

    def _with_id(self, send: Send, scope: Scope, request_id: str) -> Send:
        header = messages.DIALECT.request_id_header if _anthropic(scope) else b"x-request-id"

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (header, request_id.encode())]
            await send(message)

        return send_with_id

    async def _journaled(self, scope: Scope, receive: Receive, send: Send, app: Any) -> None:
        """Answer a request that is not a family's POST, and keep it in the journal: a
        route answers it, or `stray` refuses it (404 naming the paths served, or 405)."""
        arrived = asyncio.get_running_loop().time()
        probe = scope["path"] in _PROBES
        request_id = self._request_id(scope, self.admin_ids if probe else None)
        scope.setdefault("extensions", {})[REQUEST_ID_KEY] = request_id
        exchange = stray.exchange_for(scope, request_id)
        journal = self.engine.journal
        send = self._with_id(send, scope, request_id)
        match, allowed = (
            (Match.FULL, ())
            if app is not self.starlette
            else stray.route_match(self.starlette.router.routes, scope)
        )
        if match != Match.FULL:
            await stray.refuse(
                scope,
                receive,
                send,
                exchange=exchange,
                allowed=allowed,
                served=self.served,
                config=self.config,
                journal=journal,
                headers=[],
                arrived=arrived,
                shape=(
                    (lambda exc: messages.DIALECT.refusal(exc, request_id))
                    if _anthropic(scope)
                    else None
                ),
            )
            return
        if app is self.starlette and scope["path"].startswith("/v1/") and not _anthropic(scope):
            # As the OpenAI API's own answers carry them (no delay is scheduled here: 0 ms).
            send = with_headers(send, _OPENAI_ROUTE_HEADERS)
        await app(scope, receive, stray.recording_status(send, exchange, journal))
        finish_exchange(exchange, arrived, exchange.status, self.config.log_format, journal)

    def _open_cassettes(self, config: ServerConfig) -> None:
        from mockllm.cassettes import Recorder, Scrubber
        from mockllm.library import CassetteLibrary
        from mockllm.normalize import for_folder

        assert config.cassettes is not None
        self.engine.library = CassetteLibrary.load(
            config.cassettes,
            normalizer=for_folder(
                config.cassettes, config.ignore_fields, config.normalize, config.normalize_regex
            ),
            skip_unreadable=config.cassettes_skip_unreadable,
            repeat_last=config.allow_playback_repeats,
        )
        if self.engine.store.is_shared:
            self.engine.library.count_play = self.engine.store.incr
        if config.upstream is None:
            return
        from mockllm.recording import RecordingProxy
        from mockllm.upstream import Upstream

        upstream = Upstream(config.upstream)
        scrubber = Scrubber(
            extra_headers=frozenset(h.lower() for h in config.scrub_headers),
            body_paths=config.scrub_paths,
        )
        recorder = Recorder(
            config.cassettes,
            scrubber,
            library=self.engine.library,
            origin=upstream.base_url,
            keep_format=config.cassettes_keep_format,
        )
        self.proxy = RecordingProxy(upstream, recorder, scrubber)

    def _file_problems(self) -> tuple[Problem, ...]:
        """Why the scenario files on disk are not the rules served (a change that did not
        validate); empty when they are."""
        return self.scenario_watch.problems if self.scenario_watch is not None else ()

    def _reloaded(self, rules: tuple[Rule, ...]) -> None:
        runtime = tuple(r for r in self.engine.rules if r.added_at_runtime)
        self.file_rules = rules
        self.engine.set_rules((*rules, *runtime))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        tasks = []
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.reloader is not None and self.reloader.watches:
                    tasks.append(asyncio.create_task(self.reloader.run()))
                if self.runtime.is_shared:
                    tasks.append(asyncio.create_task(self.runtime.watch()))
                if self.metrics is not None:
                    self.metrics.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.feed.close()
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                if self.proxy is not None:
                    await self.proxy.aclose()
                self.engine.store.close()
                if self.metrics is not None:
                    self.metrics.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def status(self) -> dict[str, Any]:
        """What this server answers with: `GET /__admin/health` and the start-up banner."""
        from mockllm import __version__

        keys = self.gateway.accounts.keys
        library = self.engine.library
        cassettes = None
        if self.config.cassettes is not None:
            cassettes = {"folder": str(self.config.cassettes)}
            if library is not None:
                cassettes.update(library.summary())
        return {
            "status": "ok",
            "version": __version__,
            "rules": len(self.engine.rules),
            "profile": self.gateway.profile.name,
            "chat_paths": list(
                dict.fromkeys((*self.gateway.profile.chat_paths, *by_api("chat").paths))
            ),
            "keys": len(keys.keys) if keys is not None else None,
            "cassettes": cassettes,
            "record_mode": self.engine.record_mode or self.config.record_mode,
        }

    def use_gateway(self, gateway: Gateway) -> None:
        """Answer with another profile and key registry from now on (tests switch them)."""
        self.gateway = gateway
        self.services.gateway = gateway
        self.engine.extra_models = gateway.profile.models.listed
        if self.metrics is not None and gateway.profile.vllm is not None:
            # vLLM's series of the model served are there before any request
            names = vllm_answers.served_names(gateway.profile)
            self.metrics.serve(names, self.services.latency_model)
        endpoints = {}
        for dialect in dialects():
            if gateway.profile.vllm is not None:  # chat in a vLLM server's shape
                dialect = vllm_answers.served(dialect, gateway.profile)
            endpoint = Endpoint(self.services, dialect)
            paths = dialect.paths
            if dialect.api == "chat":
                paths = (*paths, *gateway.profile.chat_paths)
            endpoints.update(dict.fromkeys(paths, endpoint))
        self.endpoints = endpoints
        balance = gateway.profile.balance
        self.balance_path = balance.path if balance is not None else None

    async def _balance(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET":
            response = json_response(
                405,
                error_body(
                    f"Method not allowed: {scope['method']} {scope['path']}",
                    "invalid_request_error",
                ),
            )
        else:
            request = Request(scope, receive)
            headers = {k.lower(): v for k, v in request.headers.items()}
            try:
                response = json_response(200, self.gateway.balance(headers))
            except RequestError as exc:
                response = error_response(exc)
        await response(scope, receive, send)

    async def _health(self, request: Request) -> Response:
        return Response(b"", 200)  # as vLLM answers: an empty 200

    async def _metrics(self, request: Request) -> Response:
        assert self.metrics is not None
        headers = request.headers
        body, content_type, encoding = self.metrics.exposition(
            headers.get("accept", ""), headers.get("accept-encoding", "")
        )
        sent = {"content-type": content_type}
        if encoding:
            sent["content-encoding"] = encoding
        return Response(body, 200, headers=sent)

    async def _method_not_allowed(self, request: Request) -> Response:
        raise HTTPException(405)  # only reached for methods other than POST

    async def _request_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)
        return error_response(exc)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        where = f"{request.method} {request.url.path}"
        if exc.status_code == 405:
            return json_response(
                405,
                error_body(f"Method not allowed: {where}", "invalid_request_error"),
                dict(exc.headers or {}),
            )
        if exc.status_code == 404:
            return json_response(404, error_body(f"Invalid URL ({where})", "invalid_request_error"))
        return json_response(exc.status_code, error_body(str(exc.detail), "invalid_request_error"))

    async def _server_error(self, request: Request, exc: Exception) -> Response:
        logger.exception("error while answering %s", request.url.path, exc_info=exc)
        return json_response(
            500,
            error_body(SERVER_ERROR, "server_error"),
        )


async def _send_500(send: Send, api: str) -> None:
    """A failure inside the server, in the family's error shape: OpenAI's words
    (docs/wire.md), or the Messages API's own 500."""
    if api == "messages":
        body = messages.DIALECT.failure(ErrorSpec(500), 0.0, "").body
    else:
        body = orjson.dumps(error_body(SERVER_ERROR, "server_error"))
    try:
        await send_json(send, 500, body)
    except RuntimeError:
        pass  # the response had started: the connection is closed by the server


def create_app(
    config: ServerConfig | None = None, rules: tuple[Rule, ...] | None = None
) -> MockApp:
    """The ASGI app for a config (scenarios loaded now; ScenarioError if they do not validate)."""
    return MockApp(config or ServerConfig(), rules)


def _anthropic(scope: Scope) -> bool:
    """An Anthropic client's request (it sends anthropic-version), or one on the Messages
    API's paths: either is answered in that family's shape."""
    path = scope["path"]
    if path == messages.PATH or path.startswith(messages.PATH + "/"):
        return True
    return any(name == b"anthropic-version" for name, _ in scope["headers"])
