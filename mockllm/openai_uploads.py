"""OpenAI's Uploads API (`/v1/uploads`): a file sent in parts (`client.uploads`, and the
SDK's `upload_file_chunked`), which becomes a file of the Files API (`mockllm.openai_files`)
when the upload is completed, through Starlette.

An upload is `{"id": "upload_…", "object": "upload", "bytes", "created_at", "filename",
"purpose", "status", "expires_at"}` (an hour after it is made), `pending` until it is
completed (then with its `file`) or cancelled; a part is `{"id": "part_…", "object":
"upload.part", "created_at", "upload_id"}`, at most 64 MB. Completing it joins the parts
in the order `part_ids` gives, and is refused when their bytes do not add up to the
`bytes` the upload was made with, or when `md5` is not theirs.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mockllm.asgi import decode_headers
from mockllm.conversation import JSON, derive_seed
from mockllm.endpoint import Services
from mockllm.errors import RequestError
from mockllm.openai_files import PURPOSES, Files, check_batch_name, read_upload
from mockllm.protocol import invalid_type, load_object, missing, unsupported
from mockllm.routes import json_response

PATH = "/v1/uploads"
KIND = "upload"
PART = "upload-part"
KEPT = 10_000  # uploads and parts the store keeps (the oldest go first)
MAX_BYTES = 8 * 1024**3  # an upload's bytes, at most
MAX_PART_BYTES = 64 * 1024 * 1024  # a part's bytes, at most
_EXPIRY_S = 3600  # an upload expires an hour after it is made
_FIELDS = ("filename", "purpose", "bytes", "mime_type", "expires_after")


def _not_found(upload_id: str) -> RequestError:
    return RequestError(404, f"No such Upload object: {upload_id}", param="upload_id")


class Uploads:
    """The uploads of one server and their parts, in its state store."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.files = Files(services)

    @property
    def store(self) -> Any:
        return self.services.engine.store

    def _id(self, prefix: str, kind: str) -> str:
        engine = self.services.engine
        number = self.store.incr(f"{kind}s:created")
        created = engine.created()
        tail = derive_seed(engine.config.seed, kind, number)
        return f"{prefix}{created & 0xFFFFFFFF:08x}{tail:016x}"

    def load(self, upload_id: str) -> JSON:
        raw = self.store.get_document(KIND, upload_id)
        if raw is None:
            raise _not_found(upload_id)
        document: JSON = orjson.loads(raw)
        return document

    def save(self, document: JSON) -> None:
        self.store.put_document(KIND, document["upload"]["id"], orjson.dumps(document), KEPT)

    def create(self, body: JSON) -> JSON:
        for name in body:
            if name not in _FIELDS:
                raise RequestError(
                    400, f"Unknown parameter: '{name}'.", code="unknown_parameter", param=name
                )
        for name in _FIELDS[:4]:
            if name not in body:
                raise missing(name)
        for name in ("filename", "purpose", "mime_type"):
            if not isinstance(body[name], str):
                raise invalid_type(name, "a string", body[name])
        size = body["bytes"]
        if isinstance(size, bool) or not isinstance(size, int):
            raise invalid_type("bytes", "an integer", size)
        if not 0 <= size <= MAX_BYTES:
            raise RequestError(
                400,
                f"Invalid 'bytes': integer out of range. Expected a value between 0 and "
                f"{MAX_BYTES}, but got {size} instead.",
                code="integer_out_of_range",
                param="bytes",
            )
        if body["purpose"] not in PURPOSES:
            raise unsupported(body["purpose"], PURPOSES, "purpose")
        check_batch_name(body["purpose"], body["filename"])
        expires = body.get("expires_after")
        seconds = None
        if expires is not None:
            if not isinstance(expires, dict):
                raise invalid_type("expires_after", "an object", expires)
            seconds = expires.get("seconds")
        created = self.services.engine.created()
        upload: JSON = {
            "id": self._id("upload_", "upload"),
            "object": "upload",
            "bytes": size,
            "created_at": created,
            "filename": body["filename"],
            "purpose": body["purpose"],
            "status": "pending",
            "expires_at": created + _EXPIRY_S,
        }
        self.save({"upload": upload, "parts": [], "file_expiry": seconds})
        return upload

    def _pending(self, document: JSON) -> None:
        status = document["upload"]["status"]
        if status != "pending":
            raise RequestError(
                400,
                f"Upload {document['upload']['id']} is {status}: it takes no more parts and "
                "cannot be completed again.",
                code="invalid_state",
            )

    def add_part(self, upload_id: str, data: bytes) -> JSON:
        document = self.load(upload_id)
        self._pending(document)
        if len(data) > MAX_PART_BYTES:
            raise RequestError(
                400,
                f"Part too large: {len(data)} bytes; a part holds at most {MAX_PART_BYTES}.",
                code="invalid_value",
                param="data",
            )
        part: JSON = {
            "id": self._id("part_", "part"),
            "object": "upload.part",
            "created_at": self.services.engine.created(),
            "upload_id": upload_id,
        }
        self.store.put_document(PART, part["id"], data, KEPT)
        document = self.load(upload_id)  # parts may be added at once: keep the others'
        document["parts"].append(part["id"])
        self.save(document)
        return part

    def complete(self, upload_id: str, body: JSON) -> JSON:
        document = self.load(upload_id)
        self._pending(document)
        for name in body:
            if name not in ("part_ids", "md5"):
                raise RequestError(
                    400, f"Unknown parameter: '{name}'.", code="unknown_parameter", param=name
                )
        if "part_ids" not in body:
            raise missing("part_ids")
        part_ids = body["part_ids"]
        if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
            raise invalid_type("part_ids", "an array of strings", part_ids)
        chunks = []
        for number, part_id in enumerate(part_ids):
            data = self.store.get_document(PART, part_id) if part_id in document["parts"] else None
            if data is None:
                raise RequestError(
                    400,
                    f"Invalid 'part_ids[{number}]': {part_id} is not a part of upload {upload_id}.",
                    code="invalid_value",
                    param=f"part_ids[{number}]",
                )
            chunks.append(bytes(data))
        content = b"".join(chunks)
        upload: JSON = document["upload"]
        if len(content) != upload["bytes"]:
            raise RequestError(
                400,
                f"The parts hold {len(content)} bytes, but the upload was created with "
                f"bytes={upload['bytes']}.",
                code="invalid_value",
                param="part_ids",
            )
        md5 = body.get("md5")
        if md5 is not None and md5 != hashlib.md5(content).hexdigest():
            raise RequestError(
                400,
                "The md5 checksum given does not match the bytes of the parts.",
                code="invalid_value",
                param="md5",
            )
        file = self.files.add(
            content, upload["filename"], upload["purpose"], document["file_expiry"]
        )
        for part_id in document["parts"]:
            self.store.delete_document(PART, part_id)
        upload["status"] = "completed"
        upload["file"] = file
        document["parts"] = []
        self.save(document)
        return upload

    def cancel(self, upload_id: str) -> JSON:
        document = self.load(upload_id)
        self._pending(document)
        for part_id in document["parts"]:
            self.store.delete_document(PART, part_id)
        document["upload"]["status"] = "cancelled"
        document["parts"] = []
        self.save(document)
        upload: JSON = document["upload"]
        return upload


def upload_routes(services: Services) -> list[tuple[str, Any, list[str]]]:
    """`/v1/uploads`, `/{upload_id}/parts`, `/{upload_id}/complete` and
    `/{upload_id}/cancel`, for the keys the families' POSTs take; errors in OpenAI's
    shape."""
    uploads = Uploads(services)

    def checked(request: Request) -> None:
        services.gateway.authenticate(decode_headers(request.scope["headers"]))

    async def create(request: Request) -> Response:
        checked(request)
        return json_response(200, uploads.create(load_object(await request.body())))

    async def parts(request: Request) -> Response:
        checked(request)
        upload_id = request.path_params["upload_id"]
        uploads.load(upload_id)  # an unknown upload before its body is read
        form = await read_upload(request, services, MAX_PART_BYTES + 64 * 1024)
        data = form.get("data")
        if data is None or data.data is None:
            raise missing("data")
        return json_response(200, uploads.add_part(upload_id, bytes(data.data)))

    async def complete(request: Request) -> Response:
        checked(request)
        body = load_object(await request.body())
        return json_response(200, uploads.complete(request.path_params["upload_id"], body))

    async def cancel(request: Request) -> Response:
        checked(request)
        return json_response(200, uploads.cancel(request.path_params["upload_id"]))

    one = PATH + "/{upload_id}"
    return [
        (PATH, create, ["POST"]),
        (one + "/parts", parts, ["POST"]),
        (one + "/complete", complete, ["POST"]),
        (one + "/cancel", cancel, ["POST"]),
    ]
