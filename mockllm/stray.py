"""Requests no family endpoint answers: the other routes' exchanges journaled, and the ones
no route answers (an unknown path, a method a path does not take) read, journaled and
refused naming the paths this server serves.

A client pointed at the wrong path then finds in the journal what it sent, and the 404
tells it where to send it instead. The admin API (`/__admin/…`) is not journaled: the
journal is what clients of the API sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

import orjson
from starlette.routing import BaseRoute, Match, Route

from mockllm.asgi import Receive, Scope, Send, json_head, read_body
from mockllm.config import ServerConfig
from mockllm.errors import RequestError
from mockllm.exchanges import finish_exchange, journal_body
from mockllm.journal import Exchange, Journal
from mockllm.protocol import error_body

ADMIN_PREFIX = "/__admin/"
_LISTED_METHODS = ("GET", "POST", "PUT", "DELETE")


def served_paths(routes: Sequence[BaseRoute], extra: list[tuple[str, str]]) -> tuple[str, ...]:
    """`METHOD /path` for each route of the API (not the admin API), in route order."""
    out: list[str] = []
    for route in routes:
        if not isinstance(route, Route) or route.path.startswith(ADMIN_PREFIX):
            continue
        path = route.path.replace(":path}", "}")
        out += [f"{m} {path}" for m in _LISTED_METHODS if m in (route.methods or ())]
    out += [f"{method} {path}" for method, path in extra]
    return tuple(dict.fromkeys(out))


def meant(method: str, path: str, served: Sequence[str]) -> str | None:
    """The served `METHOD /path` a request meant when its base URL left out or added a prefix:
    `POST /chat/completions` (an OpenAI base URL without `/v1`), `POST /v1/v1/messages` (an
    Anthropic base URL with it). Of several, the one closest in length; None when none fits."""
    if path.strip("/") == "":
        return None
    fits: list[tuple[int, str]] = []
    for entry in served:
        served_method, served_path = entry.split(" ", 1)
        if served_method != method or "{" in served_path or served_path == path:
            continue
        if path.endswith(served_path) or served_path.endswith(path):
            fits.append((abs(len(served_path) - len(path)), entry))
    return min(fits)[1] if fits else None


def _hint(scope: Scope, served: Sequence[str]) -> str:
    """' Did you mean …? ' with the base URLs the SDKs take, or ' ' when no path fits."""
    guess = meant(scope["method"], scope["path"], served)
    if guess is None:
        return " "
    host = dict(scope.get("headers") or ()).get(b"host", b"HOST:PORT").decode("latin-1")
    return (
        f" Did you mean {guess}? Check the client's base URL: the OpenAI SDKs take "
        f"http://{host}/v1 (OPENAI_BASE_URL), the Anthropic SDK http://{host} "
        "(ANTHROPIC_BASE_URL). "
    )


def route_match(routes: Sequence[BaseRoute], scope: Scope) -> tuple[Match, tuple[str, ...]]:
    """How well the routes take the request: FULL, PARTIAL (the path, not the method: with
    the methods it takes) or NONE."""
    allowed: list[str] = []
    best = Match.NONE
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return Match.FULL, ()
        if match == Match.PARTIAL and isinstance(route, Route):
            best = Match.PARTIAL
            allowed += sorted(route.methods or ())
    return best, tuple(dict.fromkeys(allowed))


def exchange_for(scope: Scope, request_id: str) -> Exchange:
    return Exchange(
        id=request_id, method=scope["method"], path=scope["path"], started=time.time(), api=None
    )


def recording_status(send: Send, exchange: Exchange, journal: Journal | None) -> Any:
    """`send`, which journals the exchange once its status is known."""

    async def sending(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            exchange.source = "route" if exchange.status < 400 else "error"
            if journal is not None:
                journal.add(exchange)
        await send(message)

    return sending


async def refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    exchange: Exchange,
    allowed: tuple[str, ...],
    served: tuple[str, ...],
    config: ServerConfig,
    journal: Journal | None,
    headers: list[tuple[bytes, bytes]],
    arrived: float,
    shape: Callable[[RequestError], bytes] | None = None,
) -> None:
    """Read what was sent (for the journal), then 405 (with `allow`) or 404 naming the
    paths served. The real API's 404 says "Invalid URL (METHOD /path)"; the path it most
    likely meant (a base URL with `/v1` left out or doubled) and the list of paths served
    are mockllm's own addition. `shape` writes the error in a family's own shape (an
    Anthropic client's), else OpenAI's."""
    where = f"{scope['method']} {scope['path']}"
    try:
        raw = await read_body(receive, config.max_body_bytes, None, config.body_timeout_s)
        exchange.request = journal_body(raw, None) if raw else None
    except (RequestError, TimeoutError):
        exchange.request = None
    except ConnectionResetError:
        return
    if allowed:
        status = 405
        message = f"Method not allowed: {where}"
        headers = [*headers, (b"allow", ", ".join(allowed).encode())]
    else:
        status = 404
        hint = _hint(scope, served)
        message = f"Invalid URL ({where}).{hint}This server serves: {', '.join(served)}."
    exchange.status, exchange.source, exchange.error = status, "error", message
    if journal is not None:
        journal.add(exchange)
    if shape is not None:
        body = shape(RequestError(status, message))
    else:
        body = orjson.dumps(error_body(message, "invalid_request_error"))
    await send(json_head(status, body, headers))
    await send({"type": "http.response.body", "body": body})
    finish_exchange(exchange, arrived, status, config.log_format, journal)
