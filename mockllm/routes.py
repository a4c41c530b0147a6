"""The public API's paths that are not a family's POST: `/v1/models` (in Anthropic's shape
for the Anthropic SDK), the stored responses of the Responses API, OpenAI's
Conversations API and Chat Completions' stored completions, through Starlette; JSON
response helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from mockllm import stored_completions
from mockllm import stored_conversations as conversations
from mockllm.asgi import REQUEST_ID_KEY, Receive, Scope, Send, decode_headers
from mockllm.conversation import derive_seed
from mockllm.dialects import Poll, messages_answer, responses
from mockllm.dialects import responses_background as background
from mockllm.dialects.messages import ORGANIZATION_ID
from mockllm.endpoint import Services
from mockllm.engine import LISTED_MODELS, Engine
from mockllm.errors import RequestError
from mockllm.follow import follow
from mockllm.protocol import error_body, load_object
from mockllm.rules import ErrorSpec
from mockllm.wire import SSE_TYPE, Body


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers=headers, media_type="application/json")


def error_response(exc: RequestError) -> Response:
    return json_response(
        exc.status,
        error_body(exc.message, exc.type, exc.param, exc.code),
        dict(exc.headers),
    )


def model_routes(
    engine: Engine, path: str = "/v1/models", services: Services | None = None
) -> list[tuple[str, Callable[[Request], Any]]]:
    def refused(request: Request) -> Response | None:
        """With a keys file, the models need a key the registry knows, as every API path
        does (the API's 401 in the profile's words, or Anthropic's for its SDK)."""
        gateway = services.gateway if services is not None else None
        if gateway is None or gateway.accounts.is_open:
            return None
        anthropic = "anthropic-version" in request.headers
        try:
            gateway.authenticate(request.headers, ("x-api-key",) if anthropic else (), False)
        except RequestError as exc:
            if anthropic:
                body = messages_answer.refusal(exc, _request_id(request))
                return Response(body, exc.status, media_type="application/json")
            return error_response(exc)
        return None

    async def list_models(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        if "anthropic-version" in request.headers:  # the Anthropic SDK's models.list()
            return _anthropic_models(engine, request)
        data = [_model(m) for m in engine.listed_models()]
        return json_response(200, {"object": "list", "data": data})

    async def get_model(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        model = request.path_params["model"]
        if not engine.is_known_model(model) and model not in engine.listed_models():
            if "anthropic-version" in request.headers:
                body = messages_answer.failure(
                    ErrorSpec(404, message=f"model: {model}"), 0.0, _request_id(request)
                )
                return Response(body.body, 404, _ORGANIZATION, media_type="application/json")
            raise RequestError(
                404,
                f"The model '{model}' does not exist",
                code="model_not_found",
                param="model",
            )
        if "anthropic-version" in request.headers:
            resolved = messages_answer.resolved_model(model)
            return json_response(200, messages_answer.model_info(resolved), _ORGANIZATION)
        return json_response(200, _model(model))

    paths = dict.fromkeys(["/v1/models", path])
    out: list[tuple[str, Callable[[Request], Any]]] = []
    for where in paths:
        out += [(where, list_models), (where + "/{model:path}", get_model)]
    return out


# Every answer of Anthropic's API names the organization the key belongs to, as the
# Messages dialect's do (one for every key).
_ORGANIZATION = {"anthropic-organization-id": ORGANIZATION_ID}


def _request_id(request: Request) -> str:
    return str(request.scope.get("extensions", {}).get(REQUEST_ID_KEY, ""))


def _limit_problem(text: str) -> str | None:
    """What is wrong with a `limit` of Anthropic's model list (1 to 1000), in the API's
    validator's words, or None."""
    stripped = text.strip()
    signed = stripped[:1] in ("+", "-")
    digits = stripped[1:] if signed else stripped
    if not digits.isascii() or not digits.isdigit():
        return "Input should be a valid integer, unable to parse string as an integer"
    digits = digits.lstrip("0") or "0"
    if len(digits) > 9:  # past any bound (and past what int() reads, at 4,300 digits)
        digits = "9" * 9
    value = -int(digits) if stripped[:1] == "-" else int(digits)
    if value < 1:
        return "Input should be greater than or equal to 1"
    if value > 1000:
        return "Input should be less than or equal to 1000"
    return None


def _anthropic_models(engine: Engine, request: Request) -> Response:
    """The models in Anthropic's list shape, paged by `limit`, `after_id` and `before_id`."""
    query = request.query_params
    limit_text = query.get("limit", "20")
    problem = _limit_problem(limit_text)
    if problem is not None:
        body = messages_answer.failure(
            ErrorSpec(400, message=f"limit: {problem}"), 0.0, _request_id(request)
        )
        return Response(body.body, 400, _ORGANIZATION, media_type="application/json")
    ids = messages_answer.anthropic_models(engine.listed_models(), LISTED_MODELS)
    after, before = query.get("after_id"), query.get("before_id")
    if after in ids:
        ids = ids[ids.index(after) + 1 :]
    if before in ids:
        ids = ids[: ids.index(before)]
    page = ids[: int(limit_text.strip())]
    return json_response(
        200,
        {
            "data": [messages_answer.model_info(m) for m in page],
            "has_more": len(ids) > len(page),
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        },
        _ORGANIZATION,
    )


def _model(model_id: str) -> dict[str, Any]:
    owner = "openai" if model_id.startswith(("gpt", "o1", "o3", "o4", "chatgpt")) else "system"
    created = 1_700_000_000 + derive_seed("model", model_id) % 20_000_000
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}


def response_routes(services: Services) -> list[tuple[str, Any, list[str]]]:
    """`GET`/`DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`: the
    stored responses, for the same keys as the POST."""

    def stored(request: Request) -> tuple[str, Any]:
        services.gateway.authenticate(decode_headers(request.scope["headers"]))
        response_id = request.path_params["response_id"]
        document = responses.stored_response(services.engine.store, response_id)
        if document is None:
            raise responses.not_found(response_id)
        return response_id, document

    async def one(request: Request) -> Response:
        response_id, document = stored(request)
        store = services.engine.store
        if request.method == "DELETE":
            store.delete_document(responses.STORE_KIND, response_id)
            background.forget(store, response_id)
            return json_response(200, {"id": response_id, "object": "response", "deleted": True})
        query = request.query_params
        streaming = _flag(query, "stream")
        starting_after = _starting_after(query)
        obfuscate = _flag(query, "include_obfuscation")
        if not streaming:
            return json_response(200, background.current(store, document, response_id, time.time()))
        background.check_streamable(document)
        events, offsets = background.events_of(store, document, response_id, obfuscate)
        first = 0 if starting_after is None else starting_after + 1
        body = Body(200, SSE_TYPE, events=tuple(events[first:]), offsets=tuple(offsets[first:]))
        poll = background.poll(store, document, response_id, obfuscate, first)
        return _Resumed(body, document[background.RUN]["started"], poll)

    async def cancel(request: Request) -> Response:
        response_id, document = stored(request)
        store = services.engine.store
        return json_response(200, background.cancel(store, document, response_id, time.time()))

    async def items(request: Request) -> Response:
        _, document = stored(request)
        limit, order = _paging(request)
        page = conversations.page(
            document["inputs"], limit, order, request.query_params.get("after")
        )
        return json_response(200, page)

    path = responses.PATH + "/{response_id}"
    return [
        (path, one, ["GET", "DELETE"]),
        (path + "/input_items", items, ["GET"]),
        (path + "/cancel", cancel, ["POST"]),
    ]


def _flag(query: QueryParams, name: str) -> bool | None:
    """A boolean query parameter (`true` or `false`, as the SDKs send them), or None when
    absent; refused naming it otherwise."""
    text = query.get(name)
    if text is None:
        return None
    if text.lower() not in ("true", "false"):
        raise RequestError(
            400,
            f"Invalid value for '{name}': expected a boolean (true or false), but got "
            f"'{text[:64]}' instead.",
            code="invalid_value",
            param=name,
        )
    return text.lower() == "true"


def _starting_after(query: QueryParams) -> int | None:
    """`starting_after` (a sequence number: an integer, 0 or more), or None when absent;
    refused naming it otherwise, as the API words a bad number in a query (`limit`)."""
    text = query.get("starting_after")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 18:
        raise RequestError(
            400,
            f"Invalid 'starting_after': {text[:64]}. Expected an integer greater than or "
            "equal to 0.",
            code="invalid_value",
            param="starting_after",
        )
    return int(text)


class _Resumed(Response):
    """A background response's stream, resumed: the events after the sequence number asked
    for, each due at its offset from the response's start (so those already due leave at
    once), ending early if the response is cancelled."""

    def __init__(self, body: Body, started: float, poll: Poll) -> None:  # no content-length
        self.status_code = 200
        self.background = None
        self.raw_headers = []
        self.body_events = body
        self.started = started
        self.poll = poll

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        base = asyncio.get_running_loop().time() - (time.time() - self.started)
        await follow(self.body_events, [], scope, receive, send, base, self.poll)


def conversation_routes(services: Services) -> list[tuple[str, Any, list[str]]]:
    """OpenAI's Conversations API (`/v1/conversations`, its items), for the same keys as
    the families' POSTs; the Responses API continues a conversation with `conversation`."""
    store = services.engine.store

    def checked(request: Request) -> None:
        services.gateway.authenticate(decode_headers(request.scope["headers"]))

    def listed(items: list[Any]) -> list[Any]:
        """Items a conversation takes: those the API takes as input, an `item_reference`
        standing for the stored item it names (a 404 when there is none)."""
        resolved = [responses.referenced(item, store) for item in items]
        responses.read_items(resolved, "items")
        lenient = services.engine.config.lenient
        responses.check_compactions(resolved, "items", lenient)
        return resolved

    async def create(request: Request) -> Response:
        checked(request)
        body = await _body_of(request, services, ("items", "metadata"))
        given = body.get("items")
        if isinstance(given, list):
            body = {**body, "items": listed(given)}
        made = conversations.create(
            store,
            body,
            services.engine.config.seed,
            services.engine.created(),
            responses.listed_item,
        )
        return json_response(200, made)

    async def one(request: Request) -> Response:
        checked(request)
        conversation_id = request.path_params["conversation_id"]
        if request.method == "POST":
            body = await _body_of(request, services, ("metadata",))
            return json_response(200, conversations.update(store, conversation_id, body))
        if request.method == "DELETE":
            return json_response(200, conversations.delete(store, conversation_id))
        return json_response(200, conversations.load(store, conversation_id)["conversation"])

    async def items(request: Request) -> Response:
        checked(request)
        conversation_id = request.path_params["conversation_id"]
        if request.method == "POST":
            body = await _body_of(request, services, ("items",))
            given = listed(conversations.new_items(body))
            added = conversations.add(store, conversation_id, given, responses.listed_item)
            return json_response(200, conversations.page(added, len(added) or 1, "asc", None))
        document = conversations.load(store, conversation_id)
        limit, order = _paging(request)
        after = request.query_params.get("after")
        return json_response(200, conversations.page(document["items"], limit, order, after))

    async def item(request: Request) -> Response:
        checked(request)
        conversation_id = request.path_params["conversation_id"]
        item_id = request.path_params["item_id"]
        if request.method == "DELETE":
            return json_response(200, conversations.delete_item(store, conversation_id, item_id))
        document = conversations.load(store, conversation_id)
        return json_response(200, conversations.find_item(document, item_id))

    path = conversations.PATH
    one_path = path + "/{conversation_id}"
    return [
        (path, create, ["POST"]),
        (one_path, one, ["GET", "POST", "DELETE"]),
        (one_path + "/items", items, ["GET", "POST"]),
        (one_path + "/items/{item_id}", item, ["GET", "DELETE"]),
    ]


def _paging(request: Request, default_order: str = "desc") -> tuple[int, str]:
    """`limit` (1 to 100, default 20) and `order` (`asc` or `desc`; `desc` unless the list
    says otherwise) of a list, refused in the API's words when out of range."""
    query = request.query_params
    limit = page_limit(query)
    order = query.get("order", default_order)
    if order not in ("asc", "desc"):
        raise RequestError(
            400,
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
            code="invalid_value",
            param="order",
        )
    return limit, order


def page_limit(query: QueryParams, default: int = 20, most: int = 100) -> int:
    """A list's `limit` (1 to `most`), refused in the API's words when it is not one."""
    text = query.get("limit", str(default))
    if (
        not (text.isascii() and text.isdigit())
        or len(text.lstrip("0")) > len(str(most))
        or not 1 <= int(text) <= most
    ):
        raise RequestError(
            400,
            f"Invalid 'limit': {text}. Expected an integer between 1 and {most}.",
            code="invalid_value",
            param="limit",
        )
    return int(text)


def completion_routes(services: Services) -> list[tuple[str, Any, list[str]]]:
    """Chat Completions' stored completions (requests made with `store: true`): list them,
    get, update the metadata of and delete one, and list its messages."""
    store = services.engine.store
    path = "/v1/chat/completions"

    def checked(request: Request) -> None:
        services.gateway.authenticate(decode_headers(request.scope["headers"]))

    async def listing(request: Request) -> Response:
        checked(request)
        limit, order = _paging(request, default_order="asc")
        query = request.query_params
        metadata = {
            key[len("metadata[") : -1]: value
            for key, value in query.multi_items()
            if key.startswith("metadata[") and key.endswith("]")
        }
        found = stored_completions.listed(store, query.get("model"), metadata, order)
        return json_response(200, conversations.page(found, limit, "asc", query.get("after")))

    async def one(request: Request) -> Response:
        checked(request)
        completion_id = request.path_params["completion_id"]
        if request.method == "POST":
            body = await _body_of(request, services, ("metadata",), chat=True)
            changed = stored_completions.update(store, completion_id, body)
            return json_response(200, changed)
        if request.method == "DELETE":
            return json_response(200, stored_completions.delete(store, completion_id))
        return json_response(200, stored_completions.load(store, completion_id)["completion"])

    async def messages(request: Request) -> Response:
        checked(request)
        document = stored_completions.load(store, request.path_params["completion_id"])
        limit, order = _paging(request, default_order="asc")
        after = request.query_params.get("after")
        return json_response(200, conversations.page(document["messages"], limit, order, after))

    return [
        (path, listing, ["GET"]),
        (path + "/{completion_id}", one, ["GET", "POST", "DELETE"]),
        (path + "/{completion_id}/messages", messages, ["GET"]),
    ]


async def _body_of(
    request: Request, services: Services, known: tuple[str, ...], *, chat: bool = False
) -> dict[str, Any]:
    """The JSON object a request sent, its arguments checked as the API checks them: one it
    does not know is refused in the words of its family (Chat Completions' `Unrecognized
    request argument supplied: NAME`, else the newer APIs' `Unknown parameter: 'NAME'.`),
    unless `--lenient` or a gateway profile that passes unknown arguments on."""
    body = load_object(await request.body())
    if services.engine.config.lenient or services.gateway.profile.unknown_arguments != "refuse":
        return body
    for name in body:
        if name not in known:
            if chat:
                raise RequestError(400, f"Unrecognized request argument supplied: {name}")
            raise RequestError(
                400, f"Unknown parameter: '{name}'.", code="unknown_parameter", param=name
            )
    return body
