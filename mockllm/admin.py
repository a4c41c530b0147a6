"""`/__admin/*`: health, the journal, reset, and rules added at run time."""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockllm.asgi import CLOSE, decode_body, read_body
from mockllm.engine import Engine
from mockllm.errors import Problem, RequestError, ScenarioError
from mockllm.journal import SOURCES
from mockllm.loader import MAX_DEPTH, decode_text
from mockllm.routes import json_response
from mockllm.runtime import Runtime

MAX_RULES_BODY = 4 * 1024 * 1024
ADMIN_COOKIE = "mockllm_admin"  # the admin token, as the inspector page keeps it


def _problems_json(problems: Sequence[Problem], with_file: bool = True) -> list[dict[str, Any]]:
    return [
        {**({"file": p.source} if with_file else {}), "line": p.line, "field": p.field}
        | {"message": p.message}
        for p in problems
    ]


def _json_document(text: str) -> str:
    """A JSON scenario document as the loader reads it; ScenarioError for JSON that does not
    parse, or that gives a key twice in one object (a YAML mapping may not either)."""
    try:
        document = orjson.dumps(orjson.loads(text)).decode()
    except orjson.JSONDecodeError as bad:
        # Reported as a YAML document's problems are: where, and what.
        where = Problem("<admin>", bad.lineno, "", f"not valid JSON: {bad.msg}")
        raise ScenarioError([where]) from None
    except orjson.JSONEncodeError:  # orjson writes 255 levels at most (it reads 1024)
        where = Problem("<admin>", None, "", f"nested too deeply (over {MAX_DEPTH} levels)")
        raise ScenarioError([where]) from None
    try:  # orjson keeps the last of repeated keys without a word: ask the slower parser
        json.loads(text, object_pairs_hook=_unique_keys)
    except _RepeatedKey as repeated:
        where = Problem("<admin>", None, "", f"duplicate key {repeated.key!r} in a JSON object")
        raise ScenarioError([where]) from None
    return document


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def _rule_json(rule: Any) -> dict[str, Any]:
    return {
        "name": rule.name,
        "ref": rule.ref,
        "file": rule.file,
        "line": rule.line,
        "priority": rule.priority,
        "runtime": rule.added_at_runtime,
        "sequence": rule.is_sequence,
        "conditions": [c.key for c in rule.conditions],
    }


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return True  # in-process transports have no peer address
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def _names_this_machine(host_header: str) -> bool:
    """Whether a Host header names this machine by a loopback name or address."""
    host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    host = host.strip("[]").lower()
    return host == "localhost" or host.endswith(".localhost") or _is_loopback(host or "?")


def cookie_value(token: str) -> str:
    """The admin token as the inspector's cookie holds it: percent-encoded, as a header
    carries only Latin-1 and a cookie not even all of that."""
    return quote(token, safe="")


def _presented_token(request: Request, query_ok: bool) -> str:
    auth = request.headers.get("authorization", "")
    presented = request.headers.get("x-mockllm-admin-token") or auth.removeprefix("Bearer ")
    if not presented and query_ok:  # the page's own address: newer than any cookie
        presented = request.query_params.get("token", "")
    if not presented:
        presented = unquote(request.cookies.get(ADMIN_COOKIE, ""))
    return presented


def _browser_refusal(request: Request, loopback_only: bool) -> RequestError | None:
    """A browser's request that another site caused (cross-site request forgery), or, when
    only loopback callers are allowed, a request for a host name that is not this machine
    (a rebound DNS name). Programs that are not browsers send neither `Origin` nor
    `Sec-Fetch-Site`: the first check leaves them alone."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    foreign = site is not None and site not in ("same-origin", "none")
    if origin is not None:
        foreign = foreign or origin == "null" or urlsplit(origin).netloc.lower() != host.lower()
    if foreign:
        return RequestError(
            403,
            "The admin API refuses requests that another site's page sends.",
            code="admin_cross_site_refused",
        )
    # Any caller, not only one that sends a browser's headers: a browser sends neither
    # Origin nor Sec-Fetch-Site with a same-origin GET to a plain-http name (Chromium sends
    # Sec-Fetch-* only to trustworthy origins), so a page on a name rebound to 127.0.0.1
    # would otherwise read the journal. A request with no Host names no one.
    if loopback_only and host and not _names_this_machine(host):
        return RequestError(
            403,
            f"The admin API answers loopback callers only, and this request asked for host "
            f"{host!r}; open it as http://127.0.0.1 or http://localhost, or start mockllm "
            "with --admin-token.",
            code="admin_remote_refused",
        )
    return None


def _sends_a_body(request: Request) -> bool:
    declared = request.headers.get("content-length")
    return (declared is not None and declared != "0") or "transfer-encoding" in request.headers


def guarded(
    engine: Engine,
    endpoint: Callable[[Request], Awaitable[Response]],
    *,
    query_token: bool = False,
) -> Callable[[Request], Awaitable[Response]]:
    """Refuse remote callers unless allowed, callers without the admin token when set, and
    browsers sent by another site. The token may come in a header, in the cookie the
    inspector page sets, or (`query_token`: the page's own address) as `?token=`."""

    async def check(request: Request) -> Response:
        refusal = _refusal(request)
        if refusal is not None:
            if _sends_a_body(request):
                # Refused before its body is read: the connection is closed, not left
                # waiting for the rest of a body no one will read.
                refusal.headers = (*refusal.headers, *CLOSE)
            raise refusal
        return await endpoint(request)

    def _refusal(request: Request) -> RequestError | None:
        token = engine.config.admin_token
        loopback_only = not token and not engine.config.admin_remote
        refusal = _browser_refusal(request, loopback_only)
        if refusal is not None:
            return refusal
        if token:
            presented = _presented_token(request, query_token)
            if not hmac.compare_digest(presented.encode(), token.encode()):
                return RequestError(
                    401,
                    "The admin API needs the admin token (Authorization: Bearer <token>).",
                    code="invalid_admin_token",
                )
        elif loopback_only and not _is_loopback(request.client.host if request.client else None):
            return RequestError(
                403,
                "The admin API answers loopback callers only; start mockllm with --admin-token "
                "or --admin-remote to allow others.",
                code="admin_remote_refused",
            )
        return None

    return check


async def _body(request: Request, engine: Engine) -> bytes | None:
    """A document sent to the admin API, read as a family's body is: refused from its
    Content-Length past the limit (`--max-body-bytes`, and `MAX_RULES_BODY` at most)
    before any byte is read, 408 past `--body-timeout-s`; None when the client left."""
    config = engine.config
    declared = request.headers.get("content-length")
    limit = min(MAX_RULES_BODY, config.max_body_bytes)
    try:
        raw = await read_body(
            request.receive,
            limit,
            int(declared) if declared and declared.isdigit() else None,
            config.body_timeout_s,
        )
    except ConnectionResetError:
        return None
    encoding = request.headers.get("content-encoding")
    return raw if encoding is None else decode_body(raw, encoding, limit)


def admin_routes(
    runtime: Runtime,
    is_ready: Callable[[], bool],
    status: Callable[[], dict[str, Any]],
    file_problems: Callable[[], Sequence[Problem]] = tuple,
) -> list[tuple[str, Any, list[str]]]:
    engine = runtime.engine

    async def health(request: Request) -> Response:
        if not is_ready():
            return json_response(503, {"status": "starting"})
        return json_response(200, status())

    async def reset(request: Request) -> Response:
        engine.reset()
        return json_response(200, {"status": "reset"})

    async def requests(request: Request) -> Response:
        journal = engine.journal
        if request.method == "DELETE":
            if journal is not None:
                journal.clear()
            return json_response(200, {"status": "cleared"})
        entries = journal.entries() if journal is not None else []
        wanted = {
            k: v
            for k, v in request.query_params.items()
            if k in ("rule", "model", "status", "source")
        }
        status, source = wanted.get("status"), wanted.get("source")
        if status is not None and not (status.isascii() and status.isdigit()):
            raise RequestError(
                400, f"status: expected an HTTP status code, found {status!r}", param="status"
            )
        if source is not None and source not in SOURCES:
            raise RequestError(
                400,
                f"source: unknown source {source!r}; valid: {', '.join(SOURCES)}",
                param="source",
            )
        out = [e for e in entries if all(str(e[k]) == v for k, v in wanted.items())]
        return json_response(200, {"requests": out})

    async def rules(request: Request) -> Response:
        if request.method == "GET":
            runtime.sync()  # what another process added a moment ago
            listed = [_rule_json(r) for r in engine.rules]
            return json_response(
                200, {"rules": listed, "problems": _problems_json(file_problems())}
            )
        if request.method == "DELETE":
            runtime.remove_rules()
            await runtime.settled()  # every process answers without them from now on
            return json_response(200, {"status": "removed"})
        raw = await _body(request, engine)
        if raw is None:
            return Response(status_code=400)  # the client left: nobody reads it
        try:
            text = decode_text(raw, "<admin>")
            if "json" in request.headers.get("content-type", ""):
                text = _json_document(text)
            added = runtime.add_rules([("<admin>", text)])
        except ScenarioError as exc:
            return json_response(
                400,
                {
                    "error": {
                        "message": str(exc),
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_scenario",
                    },
                    "problems": _problems_json(exc.problems, with_file=False),
                },
            )
        await runtime.settled()  # every process answers with them from now on
        # Rules added earlier at run time with the same names are replaced.
        return json_response(201, {"added": [_rule_json(r) for r in added]})

    async def cassette(request: Request) -> Response:
        if request.method == "GET":
            runtime.sync()
            return json_response(200, {"cassette": engine.cassette or engine.config.cassette})
        if request.method == "DELETE":
            runtime.choose_cassette(None)
            await runtime.settled()
            return json_response(200, {"cassette": engine.config.cassette})
        raw = await _body(request, engine)
        if raw is None:
            return Response(status_code=400)  # the client left: nobody reads it
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RequestError(400, f"not valid JSON: {exc}") from None
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str):
            raise RequestError(400, 'expected {"name": "<cassette name>"}', param="name")
        from mockllm.recording import cassette_name

        runtime.choose_cassette(cassette_name(engine.config.cassettes, name, "name"))
        await runtime.settled()
        return json_response(200, {"cassette": name})

    return [
        ("/__admin/health", health, ["GET"]),
        ("/__admin/cassette", guarded(engine, cassette), ["GET", "PUT", "POST", "DELETE"]),
        ("/__admin/reset", guarded(engine, reset), ["POST"]),
        ("/__admin/requests", guarded(engine, requests), ["GET", "DELETE"]),
        ("/__admin/rules", guarded(engine, rules), ["GET", "POST", "DELETE"]),
    ]
