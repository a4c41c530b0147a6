"""OpenAI's Batch API (`/v1/batches`): a file of requests (`mockllm.openai_files`) answered
by the same rules, cassettes and default generator as the endpoint it names, each request
as a `POST` to that endpoint would be answered (keys, credits, faults and the journal
included), its results written to an output file and an error file.

A batch is `validating` when created and has ended the next time it is looked at
(retrieved or listed): a client polling until a terminal status gets there on its first
poll. Its requests are answered when it is created, under the key that created it, so
that no key is kept. As the API does, the lines of the input file are checked then
and a batch whose file has a bad line ends `failed`, with `errors` naming each bad line
(codes `empty_file`, `invalid_json_line`, `url_mismatch`, `duplicate_custom_id`,
`model_mismatch`, `too_many_tasks`, as the API documents them); a request that its
endpoint refuses is a line of the error file, with the status and body of that refusal.

Output lines are written as the API writes them, Python's `json.dumps` spacing and ASCII
escapes: `{"id": "batch_req_…", "custom_id": …, "response": {"status_code": 200,
"request_id": …, "body": {…}}, "error": null}`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockllm.asgi import AnswerInside, decode_headers, passed_on
from mockllm.conversation import JSON, derive_seed
from mockllm.endpoint import Services
from mockllm.errors import RequestError
from mockllm.openai_files import Files
from mockllm.protocol import check_metadata, invalid_type, load_object, missing, unsupported
from mockllm.routes import json_response, page_limit

PATH = "/v1/batches"
KIND = "openai-batch"
KEPT = 10_000  # batches the store keeps (the oldest go first)
MAX_REQUESTS = 50_000  # requests in one batch, at most (the API's limit)
_WINDOW_S = 24 * 3600  # `completion_window` "24h": the batch expires a day after creation
ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
SERVED = ENDPOINTS[:4]  # the endpoints mockllm answers
_KNOWN = ("input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after")
_CONCURRENT = 64  # requests of a batch answered at once (each may wait out its latency)
SERVER_ERROR = "The server had an error while processing your request."


def _dumps(value: Any) -> str:
    """JSON as the API writes a batch's output lines (Python's `json.dumps`)."""
    return json.dumps(value)


def _hex_id(seed: int, created: int, *parts: str | int) -> str:
    """32 hex digits: the creation time (8), then 24 derived from the seed and `parts`, as
    the API's batch ids begin with their time."""
    tail = derive_seed(seed, *parts) ^ derive_seed(seed, *parts, "more") << 32
    return f"{created & 0xFFFFFFFF:08x}{tail & (1 << 96) - 1:024x}"


def _error(code: str, message: str, line: int | None, param: str | None = None) -> JSON:
    return {"code": code, "message": message, "param": param, "line": line}


def read_lines(content: bytes, endpoint: str) -> tuple[list[tuple[str, JSON]], list[JSON]]:
    """(custom_id, body) of each request of a batch's input file, and the errors of its
    bad lines (none when every line is good)."""
    # Lines end at "\n" alone: a JSON string may hold U+2028 and other line separators
    # that str.splitlines would split it at.
    lines = content.decode("utf-8", "replace").split("\n")
    requests: list[tuple[str, JSON]] = []
    errors: list[JSON] = []
    seen: set[str] = set()
    model: object = None
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            line = orjson.loads(text)
        except orjson.JSONDecodeError:
            line = None
        if not isinstance(line, dict):
            errors.append(
                _error("invalid_json_line", "This line is not parseable as valid JSON.", number)
            )
            continue
        problem = _line_problem(line, endpoint, seen, number)
        if problem is None and model is not None and line["body"].get("model") != model:
            problem = _error(
                "model_mismatch",
                "The model provided for this request does not match the model of the other "
                "requests in the batch: a batch's requests must all use the same model.",
                number,
                "body.model",
            )
        if problem is not None:
            errors.append(problem)
            continue
        seen.add(line["custom_id"])
        model = line["body"].get("model") if model is None else model
        requests.append((line["custom_id"], line["body"]))
    if not requests and not errors:
        errors.append(_error("empty_file", "The batch input file is empty.", None))
    if len(requests) > MAX_REQUESTS:
        errors.append(
            _error(
                "too_many_tasks",
                f"The batch input file has {len(requests)} requests; a batch can have at "
                f"most {MAX_REQUESTS}.",
                None,
            )
        )
    return requests, errors


def _line_problem(line: JSON, endpoint: str, seen: set[str], number: int) -> JSON | None:
    for key in ("custom_id", "method", "url", "body"):
        if key not in line:
            return _error(
                "missing_required_parameter",
                f"Missing required parameter: '{key}'.",
                number,
                key,
            )
    for key, kind, expected in (
        ("custom_id", str, "a string"),
        ("method", str, "a string"),
        ("url", str, "a string"),
        ("body", dict, "an object"),
    ):
        if not isinstance(line[key], kind):
            exc = invalid_type(key, expected, line[key])
            return _error("invalid_type", exc.message, number, key)
    if line["method"] != "POST":
        exc = unsupported(line["method"], ("POST",), "method")
        return _error("invalid_value", exc.message, number, "method")
    if line["url"] != endpoint:
        return _error(
            "url_mismatch",
            f"The URL provided for this request does not match the batch endpoint "
            f"('{line['url']}' here, '{endpoint}' for the batch).",
            number,
            "url",
        )
    if line["custom_id"] in seen:
        return _error(
            "duplicate_custom_id",
            "The custom_id for this request is a duplicate of another request: "
            f"'{line['custom_id']}'.",
            number,
            "custom_id",
        )
    return None


def _usage(bodies: list[JSON]) -> JSON:
    """The tokens of a batch's answered requests, summed (Chat Completions' and the
    embeddings' `prompt_tokens`/`completion_tokens`, the Responses API's
    `input_tokens`/`output_tokens`)."""
    given = cached = made = reasoning = 0
    for body in bodies:
        usage = body.get("usage")
        if not isinstance(usage, dict):
            continue
        given += usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0
        made += usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0
        into = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
        out = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
        cached += into.get("cached_tokens", 0) or 0
        reasoning += out.get("reasoning_tokens", 0) or 0
    return {
        "input_tokens": given,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": made,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": given + made,
    }


class Batches:
    """The batches of one server: made (their requests answered), looked at (which ends
    them), cancelled and listed."""

    def __init__(self, services: Services, answer_inside: AnswerInside) -> None:
        self.services = services
        self.answer_inside = answer_inside
        self.files = Files(services)

    @property
    def store(self) -> Any:
        return self.services.engine.store

    def load(self, batch_id: str) -> JSON:
        raw = self.store.get_document(KIND, batch_id)
        if raw is None:
            raise RequestError(404, f"No batch found with id '{batch_id}'.", code="batch_not_found")
        document: JSON = orjson.loads(raw)
        return document

    def save(self, document: JSON) -> None:
        self.store.put_document(KIND, document["batch"]["id"], orjson.dumps(document), KEPT)

    async def create(self, body: JSON, headers: list[tuple[bytes, bytes]]) -> JSON:
        endpoint, window, metadata = _read_create(body)
        file_id = body["input_file_id"]
        file = self.files.get(file_id, "input_file_id")
        if file["purpose"] != "batch":
            raise RequestError(
                400,
                f"Invalid 'input_file_id': file {file_id} has purpose '{file['purpose']}', "
                "and a batch's input file must have purpose 'batch'.",
                code="invalid_value",
                param="input_file_id",
            )
        requests, errors = read_lines(self.files.content(file_id), endpoint)
        engine = self.services.engine
        created = engine.created()
        number = self.store.incr("batches:created")
        seed = engine.config.seed
        batch_id = "batch_" + _hex_id(seed, created, "batch", number)
        batch: JSON = {
            "id": batch_id,
            "object": "batch",
            "endpoint": endpoint,
            "model": None,
            "errors": None,
            "input_file_id": file_id,
            "completion_window": window,
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": created,
            "in_progress_at": None,
            "expires_at": created + _WINDOW_S,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "usage": _usage([]),
            "metadata": metadata,
        }
        results: list[JSON] = []
        if not errors:
            passed = passed_on(headers)
            for start in range(0, len(requests), _CONCURRENT):
                chunk = requests[start : start + _CONCURRENT]
                results += await asyncio.gather(
                    *(
                        self._answer(endpoint, passed, custom_id, request, (number, start + i))
                        for i, (custom_id, request) in enumerate(chunk)
                    )
                )
        expiry = (body.get("output_expires_after") or {}).get("seconds")
        self.save({"batch": batch, "errors": errors, "results": results, "expiry": expiry})
        return batch

    async def _answer(
        self,
        endpoint: str,
        headers: list[tuple[bytes, bytes]],
        custom_id: str,
        request: JSON,
        number: tuple[int, int],
    ) -> JSON:
        """One request's output line, as its endpoint answers it."""
        engine = self.services.engine
        line_id = "batch_req_" + _hex_id(engine.config.seed, engine.created(), "line", *number)
        if request.get("stream") not in (None, False):
            status, request_id = 400, ""
            body: JSON = _error_body(
                "Invalid value: 'stream'. The Batch API does not stream: leave 'stream' out.",
                "invalid_request_error",
                "stream",
                "invalid_value",
            )
        else:
            status, request_id, raw = await self.answer_inside(
                endpoint, headers, orjson.dumps(request)
            )
            try:
                answered = orjson.loads(raw)
            except orjson.JSONDecodeError:  # a fault cut the answer short
                answered = None
            if isinstance(answered, dict):
                body = answered
            else:
                status = 500
                body = _error_body(SERVER_ERROR, "server_error", None, None)
        return {
            "id": line_id,
            "custom_id": custom_id,
            "response": {"status_code": status, "request_id": request_id, "body": body},
            "error": None,
        }

    def looked_at(self, document: JSON) -> JSON:
        """The batch as it is now: a `validating` batch has ended (`completed`, or `failed`
        for a bad input file), a `cancelling` one is `cancelled`."""
        batch: JSON = document["batch"]
        status = batch["status"]
        if status not in ("validating", "cancelling"):
            return batch
        now = self.services.engine.created()
        if status == "cancelling":
            batch["status"] = "cancelled"
            batch["cancelled_at"] = now
            self.save(document)
            return batch
        errors = document["errors"]
        if errors:
            batch["status"] = "failed"
            batch["failed_at"] = now
            batch["errors"] = {"object": "list", "data": errors}
            self.save(document)
            return batch
        results = document["results"]
        succeeded = [r for r in results if r["response"]["status_code"] < 400]
        failed = [r for r in results if r["response"]["status_code"] >= 400]
        expiry = document.get("expiry")
        batch_id = batch["id"]
        for kept, kind, key in (
            (succeeded, "output", "output_file_id"),
            (failed, "error", "error_file_id"),
        ):
            if kept:
                content = "".join(_dumps(line) + "\n" for line in kept).encode("ascii")
                file = self.files.add(content, f"{batch_id}_{kind}.jsonl", "batch_output", expiry)
                batch[key] = file["id"]
        bodies = [r["response"]["body"] for r in succeeded]
        models = [b.get("model") for b in bodies if isinstance(b.get("model"), str)]
        batch["model"] = models[0] if models else None
        batch["status"] = "completed"
        batch["in_progress_at"] = batch["finalizing_at"] = batch["completed_at"] = now
        batch["request_counts"] = {
            "total": len(results),
            "completed": len(succeeded),
            "failed": len(failed),
        }
        batch["usage"] = _usage(bodies)
        document["results"] = []  # the files hold them now
        self.save(document)
        return batch

    def cancel(self, document: JSON) -> JSON:
        batch: JSON = document["batch"]
        if batch["status"] not in ("validating", "in_progress"):
            raise RequestError(
                409,
                f"Cannot cancel a batch with status '{batch['status']}'.",
            )
        batch["status"] = "cancelling"
        batch["cancelling_at"] = self.services.engine.created()
        total = len(document["results"])
        batch["request_counts"] = {"total": total, "completed": 0, "failed": 0}
        document["results"] = []
        self.save(document)
        return batch

    def listed(self, query: Any) -> JSON:
        """A page of the batches, newest first, after the one `after` names."""
        limit = page_limit(query)
        ids = list(reversed(self.store.document_names(KIND)))
        after = query.get("after")
        if after is not None and after in ids:
            ids = ids[ids.index(after) + 1 :]
        page = [self.looked_at(self.load(batch_id)) for batch_id in ids[:limit]]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(ids) > len(page),
        }


def _error_body(message: str, kind: str, param: str | None, code: str | None) -> JSON:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _read_create(body: JSON) -> tuple[str, str, Any]:
    """(endpoint, completion_window, metadata) of a `POST /v1/batches` body, refused in the
    API's words."""
    for name in body:
        if name not in _KNOWN:
            raise RequestError(
                400, f"Unknown parameter: '{name}'.", code="unknown_parameter", param=name
            )
    for name in ("input_file_id", "endpoint", "completion_window"):
        if name not in body:
            raise missing(name)
        if not isinstance(body[name], str):
            raise invalid_type(name, "a string", body[name])
    endpoint = body["endpoint"]
    if endpoint not in ENDPOINTS:
        raise unsupported(endpoint, ENDPOINTS, "endpoint")
    if endpoint not in SERVED:
        raise RequestError(
            400,
            f"mockllm does not answer {endpoint}: a batch here can use "
            + ", ".join(f"'{e}'" for e in SERVED)
            + ".",
            code="invalid_value",
            param="endpoint",
        )
    if body["completion_window"] != "24h":
        raise unsupported(body["completion_window"], ("24h",), "completion_window")
    check_metadata(body.get("metadata"))
    _check_expiry(body.get("output_expires_after"))
    return endpoint, body["completion_window"], body.get("metadata")


def _check_expiry(value: object) -> None:
    """`output_expires_after`: `{"anchor": "created_at", "seconds": 3600…2592000}`."""
    if value is None:
        return
    param = "output_expires_after"
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    for name in value:
        if name not in ("anchor", "seconds"):
            raise RequestError(
                400,
                f"Unknown parameter: '{param}.{name}'.",
                code="unknown_parameter",
                param=f"{param}.{name}",
            )
    for name in ("anchor", "seconds"):
        if name not in value:
            raise missing(f"{param}.{name}")
    if value["anchor"] != "created_at":
        raise unsupported(value["anchor"], ("created_at",), f"{param}.anchor")
    seconds = value["seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise invalid_type(f"{param}.seconds", "an integer", seconds)
    if not 3600 <= seconds <= 2_592_000:
        raise RequestError(
            400,
            f"Invalid '{param}.seconds': integer out of range. Expected a value between "
            f"3600 and 2592000, but got {seconds} instead.",
            code="integer_out_of_range",
            param=f"{param}.seconds",
        )


def batch_routes(
    services: Services, answer_inside: AnswerInside
) -> list[tuple[str, Any, list[str]]]:
    """`/v1/batches` (create, list), `/{batch_id}` (retrieve) and `/{batch_id}/cancel`, for
    the keys the families' POSTs take; errors in OpenAI's shape."""
    batches = Batches(services, answer_inside)

    def checked(request: Request) -> None:
        services.gateway.authenticate(decode_headers(request.scope["headers"]))

    async def create_or_list(request: Request) -> Response:
        checked(request)
        if request.method == "GET":
            return json_response(200, batches.listed(request.query_params))
        body = load_object(await request.body())
        return json_response(200, await batches.create(body, list(request.scope["headers"])))

    async def one(request: Request) -> Response:
        checked(request)
        return json_response(200, batches.looked_at(batches.load(request.path_params["batch_id"])))

    async def cancel(request: Request) -> Response:
        checked(request)
        return json_response(200, batches.cancel(batches.load(request.path_params["batch_id"])))

    one_path = PATH + "/{batch_id}"
    return [
        (PATH, create_or_list, ["GET", "POST"]),
        (one_path, one, ["GET"]),
        (one_path + "/cancel", cancel, ["POST"]),
    ]
