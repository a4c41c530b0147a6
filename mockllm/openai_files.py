"""OpenAI's Files API (`/v1/files`): files uploaded as `multipart/form-data`, kept in the
state store with their bytes, listed, read back and deleted, through Starlette. The Batch
API (`mockllm.openai_batches`) reads its requests from such a file and writes its results
to new ones.

What the API's answers look like, from its reference and recorded answers: a file is
`{"object": "file", "id": "file-…" (22 letters and digits), "purpose", "filename",
"bytes", "created_at", "expires_at", "status": "processed", "status_details": null}`; a
file with purpose `batch` expires 30 days after it is made unless `expires_after` says
otherwise, other files never do (`expires_at` null). An id the server does not hold is a
404 `No such File object: ID` (param `id`); a `batch` file whose name does not end in
`.jsonl` is refused with `Invalid file format for Batch API. Must be .jsonl`; the bytes of
an `assistants` or `user_data` file cannot be downloaded (`Not allowed to download files
of purpose: assistants`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import Response

from mockllm.asgi import decode_headers, read_body
from mockllm.conversation import JSON, derive_seed
from mockllm.endpoint import Services
from mockllm.errors import RequestError
from mockllm.protocol import missing, unsupported
from mockllm.render import seed_id
from mockllm.routes import json_response, page_limit

PATH = "/v1/files"
KIND = "file"  # a file's object (JSON), in the state store
CONTENT = "file-content"  # its bytes
KEPT = 10_000  # files the store keeps (the oldest go first)
MAX_BYTES = 512 * 1024 * 1024  # the API's limit for one file
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
_NOT_DOWNLOADABLE = frozenset({"assistants", "user_data"})
_BATCH_EXPIRY_S = 30 * 24 * 3600  # a batch file's default lifetime
_MIN_EXPIRY_S, _MAX_EXPIRY_S = 3600, 30 * 24 * 3600  # `expires_after.seconds` bounds
_MAX_LIST = 10_000  # `limit` of a files list, at most (and its default)


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    data: bytearray | None = None
    content_type: str | None = None


def read_form(body: bytes, content_type: str) -> dict[str, _Part]:
    """The parts of a `multipart/form-data` body by name, in memory (never a temporary
    file), refused in the API's words when the body is not a form."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise RequestError(
            400,
            "Invalid Content-Type header: expected multipart/form-data with a boundary "
            f"(got '{content_type or 'none'}').",
            code="invalid_value",
        )
    parts: dict[str, _Part] = {}
    current = _Part()
    header: list[bytes] = [b"", b""]

    def begin() -> None:
        nonlocal current
        current = _Part(data=bytearray())

    def field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def header_end() -> None:
        if header[0].lower() == b"content-type":
            current.content_type = header[1].decode("latin-1").strip()
        if header[0].lower() == b"content-disposition":
            _, disposition = parse_options_header(header[1])
            current.name = disposition.get(b"name", b"").decode("utf-8", "replace")
            if b"filename" in disposition:
                current.filename = disposition[b"filename"].decode("utf-8", "replace")
        header[0], header[1] = b"", b""

    def data(chunk: bytes, start: int, end: int) -> None:
        assert current.data is not None
        current.data += chunk[start:end]

    def end() -> None:
        parts.setdefault(current.name, current)

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_header_field": field,
            "on_header_value": value,
            "on_header_end": header_end,
            "on_part_data": data,
            "on_part_end": end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # python-multipart's MultipartParseError and kin
        raise RequestError(400, f"Invalid multipart/form-data body: {exc}") from None
    return parts


def text_of(part: _Part) -> str:
    assert part.data is not None
    return bytes(part.data).decode("utf-8", "replace")


def not_found(file_id: str, param: str = "id") -> RequestError:
    return RequestError(404, f"No such File object: {file_id}", param=param)


class Files:
    """The files of one server, in its state store (shared by processes on Redis)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @property
    def store(self) -> Any:
        return self.services.engine.store

    def new_id(self) -> str:
        number = self.store.incr("files:created")
        return seed_id(derive_seed(self.services.engine.config.seed, "file", number), "file-", 22)

    def add(
        self, content: bytes, filename: str, purpose: str, expires_after_s: int | None = None
    ) -> JSON:
        """Keep a file: its object, then its bytes."""
        created = self.services.engine.created()
        if expires_after_s is None and purpose == "batch":
            expires_after_s = _BATCH_EXPIRY_S
        file: JSON = {
            "object": "file",
            "id": self.new_id(),
            "purpose": purpose,
            "filename": filename,
            "bytes": len(content),
            "created_at": created,
            "expires_at": created + expires_after_s if expires_after_s is not None else None,
            "status": "processed",
            "status_details": None,
        }
        self.store.put_document(CONTENT, file["id"], content, KEPT)
        self.store.put_document(KIND, file["id"], orjson.dumps(file), KEPT)
        return file

    def get(self, file_id: str, param: str = "id") -> JSON:
        raw = self.store.get_document(KIND, file_id)
        if raw is None:
            raise not_found(file_id, param)
        file: JSON = orjson.loads(raw)
        return file

    def content(self, file_id: str) -> bytes:
        file = self.get(file_id)
        if file["purpose"] in _NOT_DOWNLOADABLE:
            raise RequestError(400, f"Not allowed to download files of purpose: {file['purpose']}")
        raw = self.store.get_document(CONTENT, file_id)
        if raw is None:  # its bytes went first, evicted by newer files
            raise not_found(file_id)
        return bytes(raw)

    def delete(self, file_id: str) -> JSON:
        self.get(file_id)
        self.store.delete_document(KIND, file_id)
        self.store.delete_document(CONTENT, file_id)
        return {"object": "file", "deleted": True, "id": file_id}

    def listed(self, query: Any) -> JSON:
        """A page of the files, `order` by creation (newest first by default), of one
        `purpose` when asked, after the file named by `after`."""
        limit = page_limit(query, _MAX_LIST, _MAX_LIST)
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise unsupported(order, ("asc", "desc"), "order")
        purpose = query.get("purpose")
        ids = self.store.document_names(KIND)
        if order == "desc":
            ids = list(reversed(ids))
        after = query.get("after")
        if after is not None and after in ids:
            ids = ids[ids.index(after) + 1 :]
        files = []
        for file_id in ids:
            raw = self.store.get_document(KIND, file_id)
            if raw is None:
                continue
            file = orjson.loads(raw)
            if purpose is None or file["purpose"] == purpose:
                files.append(file)
        page = files[:limit]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(files) > len(page),
        }

    def upload(self, parts: dict[str, _Part]) -> JSON:
        """`POST /v1/files`: `file`, `purpose` and, optionally, `expires_after[anchor]` and
        `expires_after[seconds]`."""
        if "purpose" not in parts:
            raise missing("purpose")
        purpose = text_of(parts["purpose"])
        if purpose not in PURPOSES:
            raise unsupported(purpose, PURPOSES, "purpose")
        file = parts.get("file")
        if file is None or file.data is None or file.filename is None:
            raise missing("file")
        filename = file.filename.replace("\\", "/").rsplit("/", 1)[-1] or "upload"
        check_batch_name(purpose, filename)
        expires = _expires_after(parts)
        return self.add(bytes(file.data), filename, purpose, expires)


def check_batch_name(purpose: str, filename: str) -> None:
    """A batch file is JSON lines, as its name says (the API's refusal otherwise)."""
    if purpose == "batch" and not filename.endswith(".jsonl"):
        raise RequestError(400, "Invalid file format for Batch API. Must be .jsonl")


def _expires_after(parts: dict[str, _Part]) -> int | None:
    anchor = parts.get("expires_after[anchor]")
    seconds = parts.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor is None:
        raise missing("expires_after.anchor")
    if seconds is None:
        raise missing("expires_after.seconds")
    if text_of(anchor) != "created_at":
        raise unsupported(text_of(anchor), ("created_at",), "expires_after.anchor")
    text = text_of(seconds)
    if not (text.isascii() and text.isdigit()) or not (_MIN_EXPIRY_S <= int(text) <= _MAX_EXPIRY_S):
        raise RequestError(
            400,
            f"Invalid 'expires_after.seconds': {text}. Expected an integer between "
            f"{_MIN_EXPIRY_S} and {_MAX_EXPIRY_S}.",
            code="invalid_value",
            param="expires_after.seconds",
        )
    return int(text)


async def read_upload(
    request: Request, services: Services, limit: int = MAX_BYTES
) -> dict[str, _Part]:
    """The parts of a form, its body read up to `limit` (the API's limit for a file)."""
    declared = request.headers.get("content-length")
    body = await read_body(
        request.receive,
        limit,
        int(declared) if declared is not None and declared.isdigit() else None,
        services.engine.config.body_timeout_s,
    )
    return read_form(body, request.headers.get("content-type", ""))


Handler = Callable[[Request], Awaitable[Response]]


def file_routes(
    services: Services, anthropic: tuple[Handler, Handler, Handler]
) -> list[tuple[str, Any, list[str]]]:
    """`/v1/files` (upload, list), `/{file_id}` (retrieve, delete) and `/{file_id}/content`,
    for the keys the families' POSTs take; errors in OpenAI's shape. A request that carries
    `anthropic-version` is Anthropic's Files API, on the same paths: `anthropic` answers it
    (its upload or list, one file, and its content)."""
    files = Files(services)

    def checked(request: Request) -> None:
        services.gateway.authenticate(decode_headers(request.scope["headers"]))

    async def upload_or_list(request: Request) -> Response:
        checked(request)
        if request.method == "GET":
            return json_response(200, files.listed(request.query_params))
        return json_response(200, files.upload(await read_upload(request, services)))

    async def one(request: Request) -> Response:
        checked(request)
        file_id = request.path_params["file_id"]
        if request.method == "DELETE":
            return json_response(200, files.delete(file_id))
        return json_response(200, files.get(file_id))

    async def content(request: Request) -> Response:
        checked(request)
        data = files.content(request.path_params["file_id"])
        return Response(data, 200, media_type="application/octet-stream")

    def by_family(openai: Handler, other: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if "anthropic-version" in request.headers:
                return await other(request)
            return await openai(request)

        return endpoint

    one_path = PATH + "/{file_id}"
    return [
        (PATH, by_family(upload_or_list, anthropic[0]), ["GET", "POST"]),
        (one_path, by_family(one, anthropic[1]), ["GET", "DELETE"]),
        (one_path + "/content", by_family(content, anthropic[2]), ["GET"]),
    ]
