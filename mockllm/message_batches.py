"""Anthropic's Message Batches API (`/v1/messages/batches`): batches of Messages requests,
kept in the state store, each request answered by the server itself as a `POST
/v1/messages` would be (rules, the default generator, keys and credits, faults, the
journal), through Starlette.

A batch is `in_progress` when created and has ended the next time it is looked at
(retrieved, listed or its results read), so a client polling until `processing_status` is
`ended` gets there on its first poll. Its requests are answered when it is created, under
the key that created it (no key is kept). As the API does, the requests' `params` are
validated when they are answered, not when the batch is made: a bad request is an
`errored` result holding the error that request gets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockllm.asgi import REQUEST_ID_KEY, AnswerInside, passed_on
from mockllm.conversation import JSON
from mockllm.dialects import messages, messages_answer
from mockllm.endpoint import Services
from mockllm.errors import RequestError
from mockllm.rules import ErrorSpec

PATH = "/v1/messages/batches"
KIND = "message_batch"
KEPT = 10_000  # batches the store keeps (the oldest go first), as it keeps responses
MAX_REQUESTS = 100_000  # a batch's requests, at most (the API's limit)
_EXPIRY_S = 24 * 3600  # a batch expires 24 hours after it is created
_CONCURRENT = 64  # requests of a batch answered at once (each may wait out its latency)
_CUSTOM_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_ORGANIZATION = {"anthropic-organization-id": messages.ORGANIZATION_ID}


def rfc3339(moment: float) -> str:
    """An RFC 3339 time as the API writes them (`2024-09-24T18:37:24.100435Z`)."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment))
    return f"{whole}.{int(moment % 1 * 1_000_000):06d}Z"


def _counts(processing: int = 0, **ended: int) -> JSON:
    counts = {"processing": processing, "succeeded": 0, "errored": 0, "canceled": 0}
    return {**counts, "expired": 0, **ended}


def _invalid(message: str) -> RequestError:
    return RequestError(400, message)


def _read_requests(body: JSON) -> list[tuple[str, Any]]:
    """(custom_id, params) of each request of a create body, refused in the validator's
    words when the list is not one of objects with a unique, well-formed `custom_id`."""
    for key in body:
        if key != "requests":
            raise _invalid(f"{key}: Extra inputs are not permitted")
    if "requests" not in body:
        raise _invalid("requests: Field required")
    given = body["requests"]
    if not isinstance(given, list):
        raise _invalid("requests: Input should be a valid list")
    if not given:
        raise _invalid("requests: List should have at least 1 item after validation, not 0")
    if len(given) > MAX_REQUESTS:
        raise _invalid(
            f"requests: List should have at most {MAX_REQUESTS} items after validation, "
            f"not {len(given)}"
        )
    read: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(given):
        at = f"requests.{i}"
        if not isinstance(item, dict):
            raise _invalid(f"{at}: Input should be a valid dictionary")
        for key in item:
            if key not in ("custom_id", "params"):
                raise _invalid(f"{at}.{key}: Extra inputs are not permitted")
        for key in ("custom_id", "params"):
            if key not in item:
                raise _invalid(f"{at}.{key}: Field required")
        custom_id = item["custom_id"]
        if not isinstance(custom_id, str):
            raise _invalid(f"{at}.custom_id: Input should be a valid string")
        if not 1 <= len(custom_id) <= 64 or not set(custom_id) <= _CUSTOM_ID:
            raise _invalid(f"{at}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if custom_id in seen:
            raise _invalid(f"{at}.custom_id: Duplicate custom_id: {custom_id}")
        seen.add(custom_id)
        if not isinstance(item["params"], dict):
            raise _invalid(f"{at}.params: Input should be a valid dictionary")
        read.append((custom_id, item["params"]))
    return read


class _Batches:
    """The batches of one server: made, looked at (which ends them), cancelled, deleted."""

    def __init__(self, services: Services, answer_inside: AnswerInside) -> None:
        self.services = services
        self.answer_inside = answer_inside

    @property
    def store(self) -> Any:
        return self.services.engine.store

    def load(self, batch_id: str) -> JSON:
        raw = self.store.get_document(KIND, batch_id)
        if raw is None:
            # The API's word for what it does not hold (a 404 `not_found_error`).
            raise RequestError(404, "Not found", param="message_batch_id")
        document: JSON = orjson.loads(raw)
        return document

    def save(self, document: JSON) -> None:
        self.store.put_document(KIND, document["batch"]["id"], orjson.dumps(document), KEPT)

    async def create(self, body: JSON, headers: list[tuple[bytes, bytes]]) -> JSON:
        requests = _read_requests(body)
        engine = self.services.engine
        number = self.store.incr("message-batches:created")
        batch_id = "msgbatch_01" + messages_answer.base58(
            engine.config.seed, number, "message-batch", length=22
        )
        now = engine.now()
        batch: JSON = {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": _counts(len(requests)),
            "ended_at": None,
            "created_at": rfc3339(now),
            "expires_at": rfc3339(now + _EXPIRY_S),
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": None,
        }
        passed = passed_on(headers)
        results: list[JSON] = []
        for start in range(0, len(requests), _CONCURRENT):
            results += await asyncio.gather(
                *(
                    self._answer(custom_id, params, passed)
                    for custom_id, params in requests[start : start + _CONCURRENT]
                )
            )
        self.save({"batch": batch, "results": results})
        return batch

    def looked_at(self, document: JSON, base_url: str) -> JSON:
        """The batch as it is now: one not yet ended ends with the results of its requests,
        answered when it was made (or, when it was cancelled first, each `canceled`)."""
        batch: JSON = document["batch"]
        if batch["processing_status"] == "ended":
            return batch
        canceled = batch["processing_status"] == "canceling"
        lines = document["results"]
        if canceled:
            lines = [
                {"custom_id": line["custom_id"], "result": {"type": "canceled"}} for line in lines
            ]
        tally: dict[str, int] = {}
        for line in lines:
            kind = line["result"]["type"]
            tally[kind] = tally.get(kind, 0) + 1
        batch["processing_status"] = "ended"
        batch["ended_at"] = rfc3339(self.services.engine.now())
        batch["request_counts"] = _counts(**tally)
        batch["results_url"] = f"{base_url.rstrip('/')}{PATH}/{batch['id']}/results"
        document["results"] = lines
        self.save(document)
        return batch

    async def _answer(
        self, custom_id: str, params: JSON, headers: list[tuple[bytes, bytes]]
    ) -> JSON:
        """One request's result line: its message, or the error `POST /v1/messages` answers
        it with (a refusal of its params among them)."""
        if params.get("stream") is not None:
            # The SDK's type for a batch's params has no `stream` (its non-streaming
            # create params).
            error = orjson.loads(
                messages_answer.refusal(_invalid("stream: Extra inputs are not permitted"))
            )
            return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
        status, _, raw = await self.answer_inside(messages.PATH, headers, orjson.dumps(params))
        try:
            answered = orjson.loads(raw)
        except orjson.JSONDecodeError:  # a fault cut the answer short
            answered = None
        if status == 200 and isinstance(answered, dict):
            return {"custom_id": custom_id, "result": {"type": "succeeded", "message": answered}}
        if not isinstance(answered, dict) or answered.get("type") != "error":
            answered = orjson.loads(messages_answer.failure(ErrorSpec(500)).body)
        return {"custom_id": custom_id, "result": {"type": "errored", "error": answered}}

    def cancel(self, document: JSON) -> JSON:
        batch: JSON = document["batch"]
        if batch["processing_status"] == "in_progress":
            batch["processing_status"] = "canceling"
            batch["cancel_initiated_at"] = rfc3339(self.services.engine.now())
            self.save(document)
        return batch

    def listed(self, query: Any, base_url: str) -> JSON:
        """A page of the batches, the newest first, paged as the models list is."""
        limit_text = query.get("limit", "20")
        limit = int(limit_text) if limit_text.isascii() and limit_text.isdigit() else None
        if limit is None:
            raise _invalid(
                "limit: Input should be a valid integer, unable to parse string as an integer"
            )
        if not 1 <= limit <= 1000:
            bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 1000"
            raise _invalid(f"limit: Input should be {bound}")
        ids = list(reversed(self.store.document_names(KIND)))
        after, before = query.get("after_id"), query.get("before_id")
        if after in ids:
            ids = ids[ids.index(after) + 1 :]
        if before in ids:
            ids = ids[: ids.index(before)]
        page = [self.looked_at(self.load(batch_id), base_url) for batch_id in ids[:limit]]
        return {
            "data": page,
            "has_more": len(ids) > len(page),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }


def _request_id(request: Request) -> str:
    return str(request.scope.get("extensions", {}).get(REQUEST_ID_KEY, ""))


def batch_routes(
    services: Services, answer_inside: AnswerInside
) -> list[tuple[str, Any, list[str]]]:
    """`/v1/messages/batches` (create, list), `/{id}` (retrieve, delete), `/{id}/cancel` and
    `/{id}/results`, for the keys `POST /v1/messages` takes; errors in Anthropic's shape."""
    batches = _Batches(services, answer_inside)

    def answered(handle: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                services.gateway.authenticate(request.headers, ("x-api-key",), False)
                messages.check_version(request.headers, services.engine.config.lenient)
                if request.method == "POST":
                    request.state.body = await request.body()
                return await handle(request)
            except RequestError as exc:
                body = messages_answer.refusal(exc, _request_id(request))
                headers = {} if exc.status == 401 else _ORGANIZATION
                return Response(body, exc.status, headers, media_type="application/json")

        return endpoint

    def json(data: JSON) -> Response:
        return Response(orjson.dumps(data), 200, _ORGANIZATION, media_type="application/json")

    def base(request: Request) -> str:
        return str(request.base_url)

    async def create_or_list(request: Request) -> Response:
        if request.method == "GET":
            return json(batches.listed(request.query_params, base(request)))
        body = messages.load_body(request.state.body)
        return json(await batches.create(body, list(request.scope["headers"])))

    async def one(request: Request) -> Response:
        batch_id = request.path_params["batch_id"]
        document = batches.load(batch_id)
        if request.method == "DELETE":
            if document["batch"]["processing_status"] != "ended":
                # Not found in public reports: the API reference's rule ("a batch must be
                # canceled before it is deleted", as it holds for one in progress).
                raise _invalid(
                    f"Batch {batch_id} cannot be deleted while it is in progress: cancel it first."
                )
            batches.store.delete_document(KIND, batch_id)
            return json({"id": batch_id, "type": "message_batch_deleted"})
        return json(batches.looked_at(document, base(request)))

    async def cancel(request: Request) -> Response:
        return json(batches.cancel(batches.load(request.path_params["batch_id"])))

    async def results(request: Request) -> Response:
        document = batches.load(request.path_params["batch_id"])
        batches.looked_at(document, base(request))
        lines = b"".join(orjson.dumps(line) + b"\n" for line in document["results"])
        return Response(lines, 200, _ORGANIZATION, media_type="application/binary")

    one_path = PATH + "/{batch_id}"
    return [
        (PATH, answered(create_or_list), ["GET", "POST"]),
        (one_path, answered(one), ["GET", "DELETE"]),
        (one_path + "/cancel", answered(cancel), ["POST"]),
        (one_path + "/results", answered(results), ["GET"]),
    ]
