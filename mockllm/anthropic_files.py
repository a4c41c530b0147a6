"""Anthropic's Files API (`client.files`, `client.beta.files`): the same paths as OpenAI's
(`/v1/files`), for requests that carry `anthropic-version`; errors in Anthropic's shape.

A file is `{"id": "file_01…", "type": "file", "filename", "mime_type", "size_bytes",
"created_at" (RFC 3339), "downloadable": false}` (and `expires_at` when uploaded with
`expires_in_seconds`), as the SDK's `FileMetadata` reads it. As the API answers, the bytes
of an uploaded file cannot be read back (`File is not downloadable`, 400): only files the
API makes itself can. A Messages request names a file by `{"type": "file", "file_id"}`.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockllm.asgi import REQUEST_ID_KEY
from mockllm.conversation import JSON
from mockllm.dialects import messages, messages_answer
from mockllm.endpoint import Services
from mockllm.errors import RequestError
from mockllm.message_batches import rfc3339
from mockllm.openai_files import Handler, read_upload, text_of

KIND = "anthropic-file"
KEPT = 10_000  # files the store keeps (the oldest go first)
_MIN_EXPIRY_S, _MAX_EXPIRY_S = 3600, 7_776_000  # `expires_in_seconds` bounds
_ORGANIZATION = {"anthropic-organization-id": messages.ORGANIZATION_ID}


def _invalid(message: str) -> RequestError:
    return RequestError(400, message)


class AnthropicFiles:
    """Anthropic's files of one server, in its state store (their metadata: the bytes of
    an uploaded file are never read back)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @property
    def store(self) -> Any:
        return self.services.engine.store

    def get(self, file_id: str) -> JSON:
        raw = self.store.get_document(KIND, file_id)
        if raw is None:
            raise RequestError(404, f"File not found: {file_id}")
        file: JSON = orjson.loads(raw)
        return file

    def upload(self, parts: dict[str, Any]) -> JSON:
        part = parts.get("file")
        if part is None or part.data is None or part.filename is None:
            raise _invalid("file: Field required")
        expires: int | None = None
        if "expires_in_seconds" in parts:
            text = text_of(parts["expires_in_seconds"])
            if not (text.isascii() and text.isdigit()):
                raise _invalid(
                    "expires_in_seconds: Input should be a valid integer, unable to parse "
                    "string as an integer"
                )
            expires = int(text)
            if not _MIN_EXPIRY_S <= expires <= _MAX_EXPIRY_S:
                bound = (
                    f"greater than or equal to {_MIN_EXPIRY_S}"
                    if expires < _MIN_EXPIRY_S
                    else f"less than or equal to {_MAX_EXPIRY_S}"
                )
                raise _invalid(f"expires_in_seconds: Input should be {bound}")
        filename = part.filename.replace("\\", "/").rsplit("/", 1)[-1]
        mime = part.content_type
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if not filename:  # the API's name for a part without one
            filename = "unnamed" + (mimetypes.guess_extension(mime) or "")
        engine = self.services.engine
        number = self.store.incr("anthropic-files:created")
        now = engine.now()
        file: JSON = {
            "id": "file_01" + messages_answer.base58(engine.config.seed, number, "file", length=22),
            "type": "file",
            "filename": filename,
            "mime_type": mime.split(";")[0].strip(),
            "size_bytes": len(part.data),
            "created_at": rfc3339(now),
            "downloadable": False,
        }
        if expires is not None:
            file["expires_at"] = rfc3339(now + expires)
        self.store.put_document(KIND, file["id"], orjson.dumps(file), KEPT)
        return file

    def listed(self, query: Any) -> JSON:
        """A page of the files, the newest first, paged by `limit`, `after_id` and
        `before_id`, as the API pages its lists."""
        limit_text = query.get("limit", "20")
        if not (limit_text.isascii() and limit_text.isdigit()):
            raise _invalid(
                "limit: Input should be a valid integer, unable to parse string as an integer"
            )
        limit = int(limit_text)
        if not 1 <= limit <= 1000:
            bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 1000"
            raise _invalid(f"limit: Input should be {bound}")
        ids = list(reversed(self.store.document_names(KIND)))
        after, before = query.get("after_id"), query.get("before_id")
        if after in ids:
            ids = ids[ids.index(after) + 1 :]
        if before in ids:
            ids = ids[: ids.index(before)]
        page = [self.get(file_id) for file_id in ids[:limit]]
        return {
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(ids) > len(page),
        }


def anthropic_file_handlers(services: Services) -> tuple[Handler, Handler, Handler]:
    """The handlers of `/v1/files`, `/v1/files/{file_id}` and `/v1/files/{file_id}/content`
    for Anthropic's SDK: the key in `x-api-key`, errors in its shape."""
    files = AnthropicFiles(services)

    def json(data: JSON) -> Response:
        return Response(orjson.dumps(data), 200, _ORGANIZATION, media_type="application/json")

    async def answered(request: Request, handle: Any) -> Response:
        try:
            services.gateway.authenticate(request.headers, ("x-api-key",), False)
            messages.check_version(request.headers, services.engine.config.lenient)
            return json(await handle(request))
        except RequestError as exc:
            request_id = str(request.scope.get("extensions", {}).get(REQUEST_ID_KEY, ""))
            body = messages_answer.refusal(exc, request_id)
            headers = {} if exc.status == 401 else _ORGANIZATION
            return Response(body, exc.status, headers, media_type="application/json")

    async def upload_or_list(request: Request) -> Response:
        async def handle(request: Request) -> JSON:
            if request.method == "GET":
                return files.listed(request.query_params)
            return files.upload(await read_upload(request, services))

        return await answered(request, handle)

    async def one(request: Request) -> Response:
        async def handle(request: Request) -> JSON:
            file_id = request.path_params["file_id"]
            files.get(file_id)
            if request.method == "DELETE":
                files.store.delete_document(KIND, file_id)
                return {"id": file_id, "type": "file_deleted"}
            return files.get(file_id)

        return await answered(request, handle)

    async def content(request: Request) -> Response:
        async def handle(request: Request) -> JSON:
            files.get(request.path_params["file_id"])
            raise _invalid("File is not downloadable")

        return await answered(request, handle)

    return upload_or_list, one, content
