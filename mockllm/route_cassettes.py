"""The API's calls that are not a family's POST (models, stored responses, token counts,
conversations, stored completions) through the cassettes.

While recording, each is passed through to the upstream by the record proxy and recorded,
as the families' POSTs are. While replaying, a recorded answer to it (same method, path,
query and normalised body) is served at its recorded pace. Otherwise the server's own
route answers it, with the body this layer read handed on: a server without cassettes, or
whose cassettes hold no such call, never reaches this layer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from mockllm import writer
from mockllm.asgi import ARRIVED_KEY, Receive, Scope, Send, decode_headers, read_body
from mockllm.cassettes import family_of, is_api_path
from mockllm.dialects import dialects
from mockllm.endpoint import CASSETTE_HEADER, Services
from mockllm.engine import Proxied
from mockllm.errors import RequestError
from mockllm.exchanges import finish_exchange, journal_body, kept_answer
from mockllm.journal import Exchange
from mockllm.recording import cassette_name, replay_body
from mockllm.routes import error_response

# The request id: the header name the client reads it from, and the id.
Identify = Callable[[Scope], tuple[bytes, str]]
# Recorded ids give way to this exchange's (whichever spelling the upstream used).
_IDS = frozenset({b"x-request-id", b"request-id"})


class RouteCassettes:
    """Answers route calls from the cassettes or through the upstream, else hands them on."""

    def __init__(self, services: Services, identify: Identify) -> None:
        self.services = services
        self.identify = identify
        self._paths: tuple[object, frozenset[str]] | None = None

    def takes(self, scope: Scope) -> bool:
        """Whether a request is a call this layer may answer, while recording or when the
        cassettes hold such calls: one on an API path that is not a family's POST (nor a
        browser's preflight, the server's own to answer); or a family's POST on a path no
        endpoint serves, as Azure OpenAI's have no version segment
        (``/openai/deployments/{name}/chat/completions?api-version=...``)."""
        method, path = scope["method"], scope["path"]
        if method == "OPTIONS":
            return False
        engine = self.services.engine
        if method == "POST" and family_of(path) is not None:
            if self._served(path):
                return False
            if engine.config.upstream is not None:
                return True
            return engine.library is not None and engine.library.has_calls()
        if not is_api_path(path):
            return False
        if engine.config.upstream is not None:
            return True
        return engine.library is not None and engine.library.has_routes()

    def _served(self, path: str) -> bool:
        """Whether an endpoint serves a family's POST on this path (every family POST asks:
        the paths are gathered once per profile)."""
        profile = self.services.gateway.profile
        if self._paths is None or self._paths[0] is not profile:
            paths = {p for dialect in dialects() for p in dialect.paths}
            self._paths = (profile, frozenset(paths | set(profile.chat_paths)))
        return path in self._paths[1]

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Answer the call; None once answered, else the `receive` the route reads the
        body from (the body read here, again)."""
        arrived = asyncio.get_running_loop().time()
        services = self.services
        engine = services.engine
        config = engine.config
        headers = decode_headers(scope["headers"])
        declared = headers.get("content-length")
        try:
            raw = await read_body(
                receive,
                config.max_body_bytes,
                int(declared) if declared and declared.isdigit() else None,
                config.body_timeout_s,
            )
            name = headers.get(CASSETTE_HEADER) or engine.cassette
            cassette = (
                cassette_name(config.cassettes, name, CASSETTE_HEADER) if name is not None else None
            )
            query = scope.get("query_string", b"").decode("latin-1")
            outcome = engine.route_from_cassettes(
                scope["method"], scope["path"], query, raw, cassette
            )
            if outcome is not None:
                services.gateway.authenticate(headers, ("x-api-key",))
        except RequestError as exc:
            await error_response(exc)(scope, receive, send)
            return None
        except TimeoutError:
            late = RequestError(408, "The request body was not received in time.", code="timeout")
            await error_response(late)(scope, receive, send)
            return None
        except ConnectionResetError:
            return None
        if outcome is None:
            return _again(raw, receive)
        header, request_id = self.identify(scope)
        exchange = Exchange(
            id=request_id,
            method=scope["method"],
            path=scope["path"],
            started=time.time(),
            api=None,
            headers=headers,
            request=journal_body(raw, None) if raw else None,
        )
        if scope["method"] == "POST":
            _name_the_call(exchange)
        arrived = scope.get("extensions", {}).get(ARRIVED_KEY, arrived)
        journal = engine.journal
        if isinstance(outcome, Proxied):
            if services.proxy is None:  # pragma: no cover - proxied only with an upstream
                raise RuntimeError("recording without an upstream")
            exchange.source, exchange.rule = "upstream", f"{outcome.cassette} (recording)"
            if journal is not None:
                journal.add(exchange)
            status = await services.proxy.relay(outcome, scope, receive, send, raw)
        else:
            interaction = outcome.interaction
            exchange.source = "cassette"
            exchange.rule = f"{interaction.cassette}#{interaction.index}"
            body, recorded = replay_body(interaction, config.replay_speed, engine.default_latency)
            sent = [(header, request_id.encode()), *((k, v) for k, v in recorded if k not in _IDS)]
            exchange.answer = kept_answer(body)
            exchange.status = body.status
            if journal is not None:
                journal.add(exchange)
            result = await writer.write(body, sent, scope, receive, send, arrived)
            if result.disconnected:
                exchange.error = "client disconnected"
            status = result.status
        finish_exchange(exchange, arrived, status, config.log_format, journal)
        return None


def _name_the_call(exchange: Exchange) -> None:
    """A family's POST on a path no endpoint serves (Azure OpenAI's) journaled as the call
    it is: its family, model (the body's, else the Azure deployment the path names) and
    whether it streams, as the family's own endpoint journals one."""
    family = family_of(exchange.path)
    body = exchange.request
    if family is None or not isinstance(body, dict):
        return
    exchange.api = family
    model = body.get("model")
    parts = exchange.path.split("/")
    if not isinstance(model, str) and "deployments" in parts[:-1]:
        model = parts[parts.index("deployments") + 1]
    exchange.model = model if isinstance(model, str) else None
    exchange.stream = body.get("stream") is True


def _again(raw: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then waits on the client's."""
    given = False

    async def receiving() -> MutableMapping[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return receiving
