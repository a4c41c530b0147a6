"""The public API's paths that are not a family's POST: `/v1/models` and the stored
responses of the Responses API, through Starlette; JSON response helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockllm.conversation import derive_seed
from mockllm.engine import Engine
from mockllm.errors import RequestError
from mockllm.protocol import error_body


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers=headers, media_type="application/json")


def error_response(exc: RequestError) -> Response:
    return json_response(
        exc.status,
        error_body(exc.message, exc.type, exc.param, exc.code),
        dict(exc.headers),
    )


def model_routes(
    engine: Engine, path: str = "/v1/models"
) -> list[tuple[str, Callable[[Request], Any]]]:
    async def list_models(request: Request) -> Response:
        data = [_model(m) for m in engine.listed_models()]
        return json_response(200, {"object": "list", "data": data})

    async def get_model(request: Request) -> Response:
        model = request.path_params["model"]
        if not engine.is_known_model(model) and model not in engine.listed_models():
            raise RequestError(
                404,
                f"The model '{model}' does not exist",
                code="model_not_found",
                param="model",
            )
        return json_response(200, _model(model))

    paths = dict.fromkeys(["/v1/models", path])
    out: list[tuple[str, Callable[[Request], Any]]] = []
    for where in paths:
        out += [(where, list_models), (where + "/{model:path}", get_model)]
    return out


def _model(model_id: str) -> dict[str, Any]:
    owner = "openai" if model_id.startswith(("gpt", "o1", "o3", "o4", "chatgpt")) else "system"
    created = 1_700_000_000 + derive_seed("model", model_id) % 20_000_000
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}


def response_routes(services: Any) -> list[tuple[str, Any, list[str]]]:
    return []
