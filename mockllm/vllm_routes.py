"""The paths a vLLM server serves besides the OpenAI API's: GET and POST /ping, GET
/version, POST /tokenize and /detokenize, and GET /v1/models in vLLM's shape (and its 404
for /v1/models/{model}, which it does not serve).

Served when the profile has a `vllm` block (the built-in `vllm` profile). What each path
answers, and its refusals, follow vLLM's source (vllm/entrypoints/openai/api_server.py,
vllm/entrypoints/serve/tokenize/, vllm/entrypoints/openai/engine/protocol.py); the words
themselves are in `vllm.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockllm import vllm
from mockllm.asgi import decode_headers
from mockllm.errors import RequestError
from mockllm.routes import json_response
from mockllm.vllm_answers import served_names

if TYPE_CHECKING:
    from mockllm.endpoint import Services
    from mockllm.profiles import VllmServer

Route = tuple[str, Callable[[Request], Any], list[str]]

# GPT-2's byte-level alphabet, in which Hugging Face tokenizers (Llama 3's, Qwen's) write
# a token's bytes in `token_strs`: printable bytes stand for themselves, the others
# (space, newline, ...) for the characters from U+0100 up ("Ġworld" is " world").
_PRINTABLE = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
_BYTE_CHARS = {b: chr(b) for b in _PRINTABLE} | {
    b: chr(0x100 + i) for i, b in enumerate(b for b in range(256) if b not in _PRINTABLE)
}


def vllm_routes(services: Services) -> list[Route]:
    """The routes of a vLLM server (the profile's `vllm` block read at each request)."""

    def server() -> VllmServer:
        found = services.gateway.profile.vllm
        if found is None:  # the profile was swapped for one that is not vLLM's
            raise RequestError(404, "Not Found", type="NotFoundError")
        return found

    async def ping(request: Request) -> Response:
        server()
        return Response(b"", 200)  # vLLM's /ping is its /health: an empty 200

    async def version(request: Request) -> Response:
        return json_response(200, {"version": server().version})

    async def tokenize(request: Request) -> Response:
        limits = server()
        body = _object(request, await request.body(), 2)
        prompt, messages = body.get("prompt"), body.get("messages")
        if isinstance(prompt, str):
            pieces = vllm.encode_prompt(prompt)
        elif isinstance(messages, list):
            pieces = vllm.encode_chat(vllm.turns(messages), vllm.tool_schemas(body.get("tools")))
        else:
            raise vllm.validation_error(
                [
                    _error("prompt", prompt, "string_type", "Input should be a valid string", body),
                    _error("messages", messages, "list_type", "Input should be a valid list", body),
                ]
            )
        vllm.check_input(limits, len(pieces), 0)
        ids = vllm.token_ids(pieces)
        strs = None
        if body.get("return_token_strs"):
            strs = ["".join(_BYTE_CHARS[b] for b in p.encode()) for p in pieces]
        answer = {"count": len(ids), "max_model_len": limits.max_model_len, "tokens": ids}
        return json_response(200, {**answer, "token_strs": strs})

    async def detokenize(request: Request) -> Response:
        limits = server()
        body = _object(request, await request.body(), 1)
        tokens = body.get("tokens")
        if not isinstance(tokens, list):
            raise vllm.validation_error(
                [_error("tokens", tokens, "list_type", "Input should be a valid list", body)]
            )
        ids = _ids(tokens)
        vllm.check_input(limits, len(ids), 0)
        try:
            text = vllm.decode(ids)
        except ValueError as exc:  # the tokenizer's OverflowError, as vLLM answers it
            raise vllm.validation_error([str(exc)]) from None
        return json_response(200, {"prompt": text})

    async def list_models(request: Request) -> Response:
        limits = server()
        gateway = services.gateway
        if not gateway.accounts.is_open:
            gateway.authenticate(decode_headers(request.scope["headers"]), (), False)
        frozen = services.engine.config.freeze_time
        created = int(frozen) if frozen is not None else int(time.time())
        seed = services.engine.config.seed
        profile = gateway.profile
        root = profile.models.default  # the model loaded; its served names are listed
        served = served_names(profile)
        data = [vllm.model_card(m, limits, created, seed, root) for m in served]
        return json_response(200, {"object": "list", "data": data})

    async def no_model_path(request: Request) -> Response:
        server()
        # vLLM serves no /v1/models/{model}: FastAPI's 404 for a path it has no route for,
        # through vLLM's HTTPException handler (vllm/entrypoints/openai/server_utils.py)
        error = {"message": "Not Found", "type": "Not Found", "param": None, "code": 404}
        return json_response(404, {"error": error})

    return [
        ("/ping", ping, ["GET", "POST"]),
        ("/version", version, ["GET"]),
        ("/tokenize", tokenize, ["POST"]),
        ("/detokenize", detokenize, ["POST"]),
        ("/v1/models", list_models, ["GET"]),
        ("/v1/models/{model:path}", no_model_path, ["GET", "POST", "DELETE"]),
    ]


def _object(request: Request, raw: bytes, members: int) -> dict[str, Any]:
    """The JSON object of a body; else the validation errors FastAPI gives, once for each
    model of the request's union (`members`). Sent as anything but JSON, the body is
    refused before it is read (vLLM's validate_json_request, in api_server.py)."""
    if request.headers.get("content-type", "").lower().split(";", 1)[0] != "application/json":
        raise vllm.validation_error(["Unsupported Media Type: Only 'application/json' is allowed"])
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            json.loads(raw)
        except json.JSONDecodeError as exc:
            error = {
                "type": "json_invalid",
                "loc": f"body.{exc.pos}",
                "msg": "JSON decode error",
                "input": vllm.summarised({}),
                "ctx": {"error": exc.msg},
            }
            raise vllm.validation_error([error]) from None
        except UnicodeDecodeError:
            body = None
    if isinstance(body, dict):
        return body
    error = {
        "type": "model_attributes_type",
        "loc": "body",
        "msg": "Input should be a valid dictionary or object to extract fields from",
        "input": vllm.summarised(body),
    }
    raise vllm.validation_error([error] * members)


def _error(field: str, value: object, kind: str, msg: str, body: dict[str, Any]) -> dict[str, Any]:
    """pydantic's error for a field missing or of the wrong type."""
    if value is None and field not in body:
        return {
            "type": "missing",
            "loc": f"body.{field}",
            "msg": "Field required",
            "input": vllm.summarised(body),
        }
    return {"type": kind, "loc": f"body.{field}", "msg": msg, "input": vllm.summarised(value)}


def _ids(tokens: list[Any]) -> list[int]:
    """Token ids as pydantic reads `list[int]` from JSON (lax: true, 2.0 and "2" are ids)."""
    ids: list[int] = []
    errors = []
    for i, value in enumerate(tokens):
        where = f"body.tokens.{i}"
        if isinstance(value, int):
            ids.append(int(value))
        elif isinstance(value, float) and value.is_integer():
            ids.append(int(value))
        elif isinstance(value, float):
            msg = "Input should be a valid integer, got a number with a fractional part"
            errors.append({"type": "int_from_float", "loc": where, "msg": msg, "input": value})
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            ids.append(int(value.strip()))
        elif isinstance(value, str):
            msg = "Input should be a valid integer, unable to parse string as an integer"
            errors.append({"type": "int_parsing", "loc": where, "msg": msg, "input": value})
        else:
            msg = "Input should be a valid integer"
            errors.append({"type": "int_type", "loc": where, "msg": msg, "input": value})
    if errors:
        for error in errors:
            error["input"] = vllm.summarised(error["input"])
        raise vllm.validation_error(errors)
    return ids
