"""The inspector over HTTP: its page and files, its live feed, and the admin API's views of
one exchange and of the server's state. Same access rules as the rest of `/__admin`."""

from __future__ import annotations

import asyncio
import contextlib
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mockllm.admin import ADMIN_COOKIE, cookie_value, guarded
from mockllm.asgi import SHUTDOWN_KEY, Receive, Scope, Send
from mockllm.engine import Engine
from mockllm.errors import RequestError
from mockllm.feed import Feed, Subscription
from mockllm.inspector import Inspector
from mockllm.routes import json_response
from mockllm.to_rule import NoRule, exchange_scenario

PAGE = "/__admin/ui"
FILES = {
    "index.html": "text/html; charset=utf-8",
    "inspector.js": "text/javascript; charset=utf-8",
    "inspector.css": "text/css; charset=utf-8",
}
# The page loads only its own files and talks only to this server: whatever an exchange
# holds is data, never markup or script.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


def _file(name: str) -> bytes:
    return resources.files("mockllm").joinpath("page", name).read_bytes()


def ui_routes(engine: Engine, inspector: Inspector, feed: Feed) -> list[tuple[str, Any, list[str]]]:
    async def page(request: Request) -> Response:
        if "token" in request.query_params:
            # Take the token out of the address bar (and the browser's history). With
            # --admin-token, `guarded` has checked it: keep it in a cookie only this
            # server's admin paths see. Without one there is nothing to keep.
            response: Response = RedirectResponse(PAGE, status_code=303)
            if engine.config.admin_token:
                response.set_cookie(
                    ADMIN_COOKIE,
                    cookie_value(engine.config.admin_token),
                    path="/__admin",
                    httponly=True,
                    samesite="strict",
                )
            return response
        return Response(
            _file("index.html"), headers=SECURITY_HEADERS, media_type=FILES["index.html"]
        )

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in FILES:
            raise RequestError(404, f"Invalid URL (GET {request.url.path})")
        return Response(_file(name), headers=SECURITY_HEADERS, media_type=FILES[name])

    async def events(request: Request) -> Response:
        return _EventStream(feed.subscribe())

    async def one(request: Request) -> Response:
        found = inspector.detail(request.path_params["exchange_id"])
        if found is None:
            raise _not_kept(request.path_params["exchange_id"])
        return json_response(200, found)

    async def rule(request: Request) -> Response:
        exchange_id = request.path_params["exchange_id"]
        exchange = inspector.find(exchange_id)
        if exchange is None:
            raise _not_kept(exchange_id)
        if isinstance(exchange, dict):
            raise RequestError(
                409,
                "Another process answered this exchange; ask it (or use its journal entry).",
                code="exchange_elsewhere",
            )
        try:
            text = exchange_scenario(exchange, engine.default_latency)
        except NoRule as exc:
            raise RequestError(400, f"This exchange cannot become a rule: {exc}.") from None
        return Response(text, media_type="application/yaml; charset=utf-8")

    async def state(request: Request) -> Response:
        return json_response(200, inspector.state())

    return [
        (PAGE, guarded(engine, page, query_token=True), ["GET"]),
        (PAGE + "/{name}", guarded(engine, asset), ["GET"]),
        ("/__admin/feed", guarded(engine, events), ["GET"]),
        ("/__admin/state", guarded(engine, state), ["GET"]),
        ("/__admin/requests/{exchange_id}", guarded(engine, one), ["GET"]),
        ("/__admin/requests/{exchange_id}/rule", guarded(engine, rule), ["GET"]),
    ]


class _EventStream(Response):
    """A subscription's events as `text/event-stream`, until the page leaves (heard at once,
    not at the next write) or the server stops."""

    def __init__(self, subscription: Subscription) -> None:  # no body: no content-length
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
        ]
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self.subscription
        scope.setdefault("extensions", {})[SHUTDOWN_KEY] = subscription.close

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            subscription.close()

        watcher = asyncio.ensure_future(watch())
        events = subscription.events()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for data in events:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except OSError:  # the page left while a write was on its way
            pass
        finally:
            await events.aclose()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def _not_kept(exchange_id: str) -> RequestError:
    return RequestError(
        404,
        f"No exchange {exchange_id!r} in the journal (it keeps the last --journal-size "
        "exchanges, and a reset or a clear empties it).",
        code="exchange_not_found",
    )
