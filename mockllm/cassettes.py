"""Cassettes: read vcrpy cassettes in every dialect found in use, and append new interactions.

This is the only module that imports vcrpy, and only when a cassette is read or written.
The project pins ``vcrpy>=6,<10``; the names used have had the same shape since vcrpy 1.x
(checked against the source of 1.x and 9.4.2):

- ``vcr.serialize.serialize(cassette_dict, serializer)`` and ``deserialize(text, serializer)``:
  the on-disk structure ``{"version": 1, "interactions": [{"request", "response"}, ...]}``.
  ``deserialize`` returns ``(requests, responses)``; 9.x adds the cassette metadata as a
  third item, which is written back on save and otherwise ignored.
- ``vcr.serializers.yamlserializer`` and ``jsonserializer``: the YAML and JSON that vcrpy
  itself writes (``serializer="json"`` makes ``.json`` files).
- ``vcr.request.Request(method, uri, body, headers)``.

Reading does not use vcrpy's YAML loader: before 8.2.1 it was PyYAML's unsafe loader, which
runs ``!!python/object`` tags. ``_SafeLoader`` knows only the harmless tags cassettes hold.

The dialects read (a file is read as it is and never rewritten by reading it):

- vcrpy's own YAML and JSON, with or without the top-level ``version``;
- bodies kept parsed, as the custom serializers of some projects' test suites write them:
  ``parsed_body`` in place of ``body`` on a request or a response, holding the JSON body as
  YAML data (a stream stays text in ``body.string``). They are read back as JSON text, as
  those serializers' own ``deserialize`` does (``json.dumps`` of the data);
- the httpx format of vcrpy before 5 (``status_code``, ``content``);
- response bodies as the API sent them: gzip, deflate, br or zstd (as vcrpy keeps them
  unless ``decode_compressed_response``, and even then for zstd, which it does not decode),
  or already decoded with the ``content-encoding`` header kept;
- gzipped files (``x.yaml.gz``, ``x.json.gz``), and the layout vcrpy holds a cassette in
  memory, ``{requests: [...], responses: [...]}`` paired by index, as LangChain's test
  suites keep theirs (``langchain_tests``' ``CustomSerializer``: YAML, gzipped). Such a
  file is written back gzipped and in that layout, so those suites still read it;
- cassetter's (the recorder pydantic-ai's test suite moved to): a body is
  ``{type: json|text|binary|none, content}`` (JSON as YAML data, bytes as hex), a status a
  bare integer, and each interaction has a ``recorded_at``. Read as text, as cassetter
  replays it (JSON written compactly, as serde_json writes it).

YAML timestamps are read as the text they are: vcrpy quotes them, and cassetter's writer
leaves a header's ``2020-10-01`` unquoted, a string to it.

A file is written in mockllm's own form (``body.string`` text, YAML or JSON by its suffix)
unless the recorder is told to keep the file's: then a file that kept bodies parsed keeps
them parsed, and one without ``version`` stays without it.

Stream timing is kept in an extra key of the response mapping, which vcrpy loads, plays and
saves again untouched (its players read only ``status``, ``headers`` and ``body``)::

    response:
      body: {string: "data: {...}\\n\\ndata: {...}\\n\\n"}
      mockllm: {events: "0.2113:181 0.2301:183"}   # offset seconds:byte length, per event
      # and "path: /v1/chat/completions" when the upstream URL has another path
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import email.utils
import gzip
import json
import logging
import os
import re
import tempfile
import threading
import zlib
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, get_args
from urllib.parse import urlsplit

import brotli  # type: ignore[import-untyped]
import orjson
import yaml
import zstandard

from mockllm import schema as s
from mockllm import yamlfast
from mockllm.config import RecordMode
from mockllm.errors import CassetteError, ConfigError, Problem, ScenarioError
from mockllm.normalize import CONFIG_NAMES
from mockllm.scrub import REDACTED, SECRET_HEADERS, Scrubber
from mockllm.sse import split_events

if TYPE_CHECKING:
    from mockllm.library import CassetteLibrary

__all__ = [
    "REDACTED",
    "SECRET_HEADERS",
    "CassetteError",
    "CassetteFile",
    "Interaction",
    "RecordedRequest",
    "RecordedResponse",
    "Recorder",
    "Scrubber",
    "family_of",
    "is_api_path",
    "load_cassette",
    "read_cassette",
    "resolve_name",
    "should_record",
]

logger = logging.getLogger(__name__)

Headers = tuple[tuple[str, str], ...]
Events = tuple[tuple[float, bytes], ...]

IGNORABLE_FIELDS = frozenset({"user", "stream_options", "metadata"})
"""Request fields that usually vary between runs; pass any of them as ``ignore_fields``."""

FAMILIES: tuple[tuple[str, str], ...] = (
    ("/chat/completions", "chat"),
    ("/completions", "completions"),  # after chat's: /chat/completions ends with it too
    ("/responses", "responses"),
    ("/messages", "messages"),
    ("/embeddings", "embeddings"),
)
"""The API families by the end of their request path (any prefix: /v1, a gateway's /api/v4),
tried in order: the first whose end the path has is its family."""

_NOT_SERVED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
    | {"content-encoding", "content-length"}  # the body is stored decoded
)
_REQUEST_KEYS = frozenset({"method", "uri", "body", "headers"})
_SUFFIXES = (".yaml", ".yml", ".json")
_GZIP = ".gz"  # a gzipped cassette: `x.yaml.gz`
_Cassette = tuple[list[Any], list[dict[str, Any]], dict[str, Any]]  # vcrpy's, plus metadata


def family_of(path: str) -> str | None:
    """The API family a request path belongs to (``chat``, ``completions``, ``responses``,
    ``messages``, ``embeddings``), or None for anything else.

    Example::

        >>> family_of("/api/v4/chat/completions"), family_of("/v1/completions"), family_of("/x")
        ('chat', 'completions', None)
    """
    trimmed = path.rstrip("/")
    for suffix, family in FAMILIES:
        if trimmed.endswith(suffix):
            return family
    return None


_VERSIONED = re.compile(r"(?:^|/)v\d+[a-z0-9]*(?:/|$)")


def is_api_path(path: str) -> bool:
    """Whether a path is one of an API's: it has a version segment (``/v1/models``,
    ``/api/v4/...``). mockllm's own paths (``/__admin/...``, ``/health``) never are.

    Example::

        >>> is_api_path("/v1/responses/resp_1"), is_api_path("/health")
        (True, False)
    """
    return not path.startswith("/__admin") and _VERSIONED.search(path) is not None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as recorded: ``path`` is what the client asked for, ``url`` the upstream URL."""

    method: str
    path: str
    query: str = ""
    headers: Headers = ()
    body: bytes = b""
    url: str = ""

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.body) if self.body.strip() else None
        except orjson.JSONDecodeError:
            return None


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    """A response ready to serve: body decoded, no content-encoding or hop-by-hop headers.

    ``events`` holds an SSE stream as (offset in seconds from the request's start, event
    bytes); their bytes joined are ``body`` (but for whitespace after a foreign body's last
    event). Offsets are all 0.0 when none were recorded: see ``has_timing``.
    """

    status: int
    reason: str = ""
    headers: Headers = ()
    body: bytes = b""
    events: Events | None = None
    cut: bool = False  # the upstream broke the connection before the body ended

    @property
    def has_timing(self) -> bool:
        """Whether the events carry recorded offsets (and not the 0.0 of a foreign cassette)."""
        return bool(self.events) and any(offset > 0 for offset, _ in self.events or ())


@dataclass(frozen=True, slots=True)
class Interaction:
    """One recorded request and its response; ``index`` is its position in ``cassette``."""

    request: RecordedRequest
    response: RecordedResponse
    index: int
    cassette: str


@dataclass(frozen=True, slots=True)
class CassetteFile:
    """How a cassette file is written: its serializer, and how it stores bodies."""

    serializer: Literal["yaml", "json"] = "yaml"
    parsed_bodies: bool = False  # JSON bodies kept as data under `parsed_body`
    versioned: bool = True  # has the top-level `version: 1`
    # `interactions`; vcrpy's in-memory `{requests, responses}` (LangChain's suites); or
    # Ruby's VCR, `http_interactions` (written with its `recorded_with`)
    layout: Literal["interactions", "pairs", "ruby"] = "interactions"
    recorded_with: str = ""


@dataclass(frozen=True, slots=True)
class Cassette:
    """A cassette file's interactions (all of them, in order) and how the file is written."""

    interactions: tuple[Interaction, ...]
    file: CassetteFile


# --- reading -------------------------------------------------------------------------------


def _vcr() -> Any:
    """``vcr.serialize``, with ``Request`` and the serializers attached; imported on use.

    Importing vcrpy imports every HTTP client it can patch (httpx among them): a server that
    never reads a cassette need not pay for that.
    """
    from vcr import serialize  # type: ignore[import-untyped]
    from vcr.request import Request  # type: ignore[import-untyped]
    from vcr.serializers import jsonserializer, yamlserializer  # type: ignore[import-untyped]

    return SimpleNamespace(
        serialize=serialize.serialize,
        deserialize=serialize.deserialize,
        Request=Request,
        yamlserializer=yamlserializer,
        jsonserializer=jsonserializer,
    )


_BaseLoader: Any = yamlfast.loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


class _SafeLoader(_BaseLoader):  # type: ignore[misc]
    """Safe YAML plus the plain-data Python tags old vcrpy versions wrote."""


_SafeLoader.add_constructor("tag:yaml.org,2002:python/str", _SafeLoader.construct_yaml_str)
_SafeLoader.add_constructor("tag:yaml.org,2002:python/unicode", _SafeLoader.construct_yaml_str)
_SafeLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: tuple(loader.construct_sequence(node))
)
_SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _SafeLoader.construct_yaml_str)
# Ruby's YAML writes bytes under its local tag `!binary` (base64, as `!!binary`).
_SafeLoader.add_constructor("!binary", _SafeLoader.construct_yaml_binary)


class _CassetteConstructor(yaml.constructor.SafeConstructor):
    """The scalars of `_SafeLoader`, for the line-keeping parse of `cassette_problems`."""


for _tag in ("python/str", "python/unicode", "timestamp"):
    _CassetteConstructor.add_constructor(  # type: ignore[type-var]
        f"tag:yaml.org,2002:{_tag}", _CassetteConstructor.construct_yaml_str
    )
_CassetteConstructor.add_constructor(  # type: ignore[type-var]
    "!binary", _CassetteConstructor.construct_yaml_binary
)
_CassetteConstructor.add_constructor(
    "tag:yaml.org,2002:python/tuple",
    _SafeLoader.yaml_constructors["tag:yaml.org,2002:python/tuple"],
)
CASSETTE_CONSTRUCTOR = _CassetteConstructor
"""Builds the tagged scalars a cassette may hold (``!!python/unicode`` and the like)."""


# --- the format ----------------------------------------------------------------------------

_HEADERS = s.MapOf(
    s.OneOf((s.ListOf(s.Str(coerce=True)), s.Str(coerce=True))),
    doc="header name to a list of values",
)
_REQUEST = s.Obj(
    {
        "method": s.Str(doc="HTTP method"),
        "uri": s.Str(doc="the URL the request went to"),
        "body": s.AnyValue(doc="the request body: text, !!binary or null"),
        "headers": _HEADERS,
        "parsed_body": s.AnyValue(doc="the JSON body kept as data, in place of body"),
    },
    required=("method", "uri"),
)
_RESPONSE = s.Obj(
    {
        "status": s.OneOf(
            (
                s.Obj(
                    {
                        "code": s.Num(min=100, max=599, integer=True, doc="HTTP status"),
                        "message": s.Str(coerce=True, doc="reason phrase"),
                    },
                    required=("code",),
                ),
                s.Num(min=100, max=599, integer=True, doc="HTTP status (cassetter's)"),
            )
        ),
        "headers": _HEADERS,
        "body": s.AnyValue(
            doc="{string: ...}: the body as text or !!binary; or {base64_string: ...};"
            " or {type, content} (cassetter's)"
        ),
        "parsed_body": s.AnyValue(doc="the JSON body kept as data, in place of body"),
        "mockllm": s.Obj(
            {
                "events": s.Str(doc="OFFSET:BYTES per SSE event"),
                "path": s.Str(doc="the client's path, when the upstream's differs"),
                "cut": s.Bool(doc="the upstream broke the connection before the body ended"),
            },
            doc="stream timing recorded by mockllm",
        ),
        # vcrpy's httpx cassettes before 5.0, and its aiohttp ones:
        "status_code": s.Num(min=100, max=599, integer=True),
        "content": s.AnyValue(),
        "http_version": s.Str(),
        "url": s.Str(),
    },
)
CASSETTE_FORMAT = s.Obj(
    {
        "version": s.Enum((1,), doc="vcrpy's cassette format version"),
        "interactions": s.ListOf(
            s.Obj(
                {
                    "request": _REQUEST,
                    "response": _RESPONSE,
                    "recorded_at": s.AnyValue(doc="when (Ruby's VCR, cassetter); not read"),
                },
                required=("request", "response"),
            )
        ),
        "metadata": s.AnyValue(doc="written by vcrpy 9 and kept"),
        "grpc_interactions": s.AnyValue(doc="cassetter's gRPC calls; not replayed"),
        "ws_interactions": s.AnyValue(doc="cassetter's WebSocket sessions; not replayed"),
        # Other layouts, read as `interactions` (`_as_interactions`):
        "http_interactions": s.AnyValue(doc="Ruby's VCR: its interactions"),
        "recorded_with": s.AnyValue(doc="Ruby's VCR: its version; kept"),
        "requests": s.AnyValue(doc="vcrpy's in-memory layout: the requests, by index"),
        "responses": s.AnyValue(doc="vcrpy's in-memory layout: their responses"),
    },
    required=("interactions",),
)
"""vcrpy's cassette format, as mockllm reads it (serve and ``validate`` check it alike)."""


_EXPECTED = (
    "expected a vcrpy cassette: {version: 1, interactions: [{request: {method, uri, body,"
    " headers}, response: {status: {code, message}, headers, body: {string}}}]}"
)


def shape_problems(data: Any, source: str, lines: Any = None) -> list[Problem]:
    """What is wrong with the shape of a parsed cassette, in line order; ``lines`` (the line
    map of ``loader.parse_document``) gives each its line, when there is one."""

    def line(where: tuple[str | int, ...]) -> int | None:
        return lines.line(where) if lines is not None else None

    if isinstance(data, list):
        return [
            Problem(source, line(()), "", "written by vcrpy before 1.0 (a bare list); re-record it")
        ]
    if not isinstance(data, dict):
        return [Problem(source, line(()), "", "expected a mapping with 'interactions'")]
    items = data.get("interactions")
    if not isinstance(items, list):
        where: tuple[str | int, ...] = ("interactions",) if "interactions" in data else ()
        return [Problem(source, line(where), "", f"no 'interactions' list; {_EXPECTED}")]
    problems = [
        Problem(source, line(where), s.dotted(where), message)
        for where, message in s.check(CASSETTE_FORMAT, data)
        if not _ignored_key(where, message)
    ]
    for i, item in enumerate(items):
        response = item.get("response") if isinstance(item, dict) else None
        if isinstance(response, dict) and not ({"status", "status_code"} & response.keys()):
            where = ("interactions", i, "response")
            problems.append(
                Problem(source, line(where), s.dotted(where), "missing required key 'status'")
            )
    problems += [
        Problem(source, line(where), s.dotted(where), message)
        for where, message in body_problems(data)
    ]
    return sorted(problems, key=lambda p: p.line or 0)


def _ignored_key(where: tuple[str | int, ...], message: str) -> bool:
    """Whether a problem is a key vcrpy reads past: beside ``interactions``, beside an
    interaction's ``request`` and ``response``, or in a response (a recorder's own
    ``elapsed``, Ruby VCR's ``recorded_with``). A key close to one that counts (``respons``)
    is still named, with the one it meant; a request's (vcrpy refuses those) always."""
    if not message.startswith("unknown key") or "did you mean" in message:
        return False
    if len(where) == 1:
        return True
    return where[0] == "interactions" and (
        len(where) == 3 or (len(where) == 4 and where[2] == "response")
    )


class _Misshapen(CassetteError):
    """The fast read found the cassette misshapen; `cassette_problems` says where."""


class _BadInteraction(CassetteError):
    """One interaction would not replay (a body that does not decode, say)."""

    def __init__(self, path: Path, index: int, message: str) -> None:
        super().__init__(f"{path}: interactions[{index}]: {message}")
        self.index, self.message = index, message


# --- reading -------------------------------------------------------------------------------


class _Reader:
    """The serializer handed to ``vcr.serialize.deserialize``: safe loading of YAML or JSON,
    shape checks, ``parsed_body`` turned back into text; notes how the file is written."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.file = CassetteFile("json" if _is_json(source) else "yaml")

    def deserialize(self, text: str) -> Any:
        raw = _load_data(text, self.source)
        data = _as_interactions(raw, self.source)
        layout = _layout_of(raw)
        if shape_problems(data, str(self.source)):
            raise _Misshapen(f"{self.source}: not shaped like a vcrpy cassette")
        for item in data["interactions"]:
            item["request"].setdefault("body", None)
            item["request"].setdefault("headers", {})
        parsed = any(
            "parsed_body" in part
            for item in data["interactions"]
            for part in (item["request"], item["response"])
        )
        recorded_with = str(raw.get("recorded_with") or "") if layout == "ruby" else ""
        self.file = CassetteFile(
            self.file.serializer, parsed, "version" in data, layout, recorded_with
        )
        for item in data["interactions"]:
            _unparse(item["request"], is_response=False)
            _unparse(item["response"], is_response=True)
            _untype(item["request"], is_response=False)
            _untype(item["response"], is_response=True)
            item.pop("recorded_at", None)
        return data


def _is_json(path: Path) -> bool:
    return _suffix(path) == ".json"


def _suffix(path: PurePosixPath | Path) -> str:
    """A cassette file's format suffix: `.yaml` for `x.yaml` and for the gzipped `x.yaml.gz`."""
    suffix = path.suffix.lower()
    return PurePosixPath(path.stem).suffix.lower() if suffix == _GZIP else suffix


def _is_gzipped(path: Path) -> bool:
    return path.suffix.lower() == _GZIP


def _layout_of(data: Any) -> Literal["interactions", "pairs", "ruby"]:
    if not isinstance(data, dict) or "interactions" in data:
        return "interactions"
    if isinstance(data.get("http_interactions"), list):
        return "ruby"
    if isinstance(data.get("requests"), list) and isinstance(data.get("responses"), list):
        return "pairs"
    return "interactions"


def _as_interactions(data: Any, source: Path) -> Any:
    """A cassette in another layout as the ``interactions`` of vcrpy's file format: Ruby's
    VCR's ``http_interactions`` (a lower-case method, a request body ``{encoding,
    string}``), or the layout vcrpy holds a cassette in memory, ``{requests: [...],
    responses: [...]}`` (LangChain's suites write it so); any other data as it is."""
    layout = _layout_of(data)
    if layout == "ruby":
        return {
            "interactions": [_from_ruby(item) for item in data["http_interactions"]],
            "version": 1,
        }
    if layout != "pairs":
        return data
    requests, responses = data["requests"], data["responses"]
    if len(requests) != len(responses):
        raise CassetteError(
            f"{source}: {len(requests)} requests but {len(responses)} responses; a cassette"
            " kept as requests and responses pairs them by index"
        )
    pairs = zip(requests, responses, strict=True)
    return {"interactions": [{"request": q, "response": r} for q, r in pairs]}


def _from_ruby(item: Any) -> Any:
    """An interaction of Ruby's VCR as vcrpy's: the method upper-case, the request body its
    text (or the bytes of its `base64_string`). Anything else is left for the shape check."""
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
        return item
    request = dict(item["request"])
    if isinstance(request.get("method"), str):
        request["method"] = request["method"].upper()
    body = request.get("body")
    if isinstance(body, dict):
        if "base64_string" in body:
            request["body"] = _from_base64(body["base64_string"])
        else:
            request["body"] = body.get("string")
    response = item.get("response")
    if isinstance(response, dict) and "recorded_at" in item:  # kept with it, for writing
        response = {**response, "recorded_at": item["recorded_at"]}
    return {"request": request, "response": response}


def _to_ruby(item: dict[str, Any], betamax: bool) -> dict[str, Any]:
    """An interaction of vcrpy's as Ruby's VCR writes it (the way back of `_from_ruby`); as
    Betamax (Python's port, JSON) writes it when ``betamax``: its methods upper-case and its
    `recorded_at` ISO 8601, which it parses."""
    request, response = dict(item["request"]), dict(item["response"])
    method = str(request["method"])
    request["method"] = method.upper() if betamax else method.lower()
    request["body"] = {"encoding": "UTF-8", "string": request.get("body") or ""}
    body = response.get("body")
    if isinstance(body, dict) and "string" in body:
        response["body"] = {"encoding": "UTF-8", **body}
    when = response.pop("recorded_at", None)
    if when is None:
        now = datetime.datetime.now(datetime.UTC)
        when = (
            now.strftime("%Y-%m-%dT%H:%M:%S")
            if betamax
            else email.utils.format_datetime(now, usegmt=True)
        )
    return {"request": request, "response": response, "recorded_at": when}


def cassette_text(path: Path) -> str:
    """The text of a cassette file, a gzipped one (`x.yaml.gz`) decompressed: OSError as
    open() raises it, ScenarioError naming the line of the first byte that is not UTF-8,
    CassetteError for a `.gz` file that is not gzip."""
    from mockllm.loader import read_text

    if not _is_gzipped(path):
        return read_text(path)
    try:
        data = gzip.decompress(path.read_bytes())
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise CassetteError(f"{path}: not a gzip file: {exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = f"not UTF-8 text (once decompressed): byte {data[exc.start]:#04x}"
        raise ScenarioError([Problem(str(path), line, "", problem)]) from None


def _load_data(text: str, source: Path) -> Any:
    """The parsed text of a cassette file (JSON by its suffix, else YAML), read quickly."""
    if _is_json(source):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CassetteError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    try:
        return yamlfast.load(text, _SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise CassetteError(f"{source}{line}: not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise CassetteError(f"{source}: not valid YAML: {exc}") from None


def _unparse(part: dict[str, Any], *, is_response: bool) -> None:
    """A ``parsed_body`` back into the text it stands for, as its serializer reads it back."""
    if "parsed_body" not in part:
        return
    parsed = part.pop("parsed_body")
    headers = _header_pairs(part.get("headers") or {})
    is_stream = _header(headers, "content-type").lower().startswith("text/event-stream")
    text = parsed if isinstance(parsed, str) and is_stream else json.dumps(parsed)
    part["body"] = {"string": text} if is_response else text


def _untype(part: dict[str, Any], *, is_response: bool) -> None:
    """cassetter's typed body (and bare status) in vcrpy's form."""
    if isinstance(part.get("status"), int):
        code = part["status"]
        part["status"] = {"code": code, "message": _reason(code)}
    body = part.get("body")
    if not _is_typed(body):
        return
    kind, content = body["type"], body.get("content")
    data: str | bytes
    if kind == "json":
        data = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    elif kind == "text":
        data = str(content)
    elif kind == "binary":
        data = bytes.fromhex(str(content))
    else:
        data = ""
    part["body"] = {"string": data} if is_response else data


def _is_typed(body: Any) -> TypeGuard[dict[str, Any]]:
    """Whether a body is cassetter's ``{type, content}`` (a vcrpy body has ``string``)."""
    return (
        isinstance(body, dict) and "type" in body and not {"string", "base64_string"} & body.keys()
    )


def _reason(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def cassette_files(root: Path) -> list[Path]:
    """The cassette files under ``root``, in name order: ``*.yaml``, ``*.yml`` and ``*.json``
    (gzipped too: ``*.yaml.gz``), but not the folder's own settings (``mockllm.yaml``) nor
    hidden ones (a name on the way starts with a dot: an editor's lock file, a ``.git``
    folder)."""
    from mockllm.loader import is_hidden

    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if _suffix(p) in _SUFFIXES
        and not is_hidden(p, root)
        and p.is_file()
        and not (p.parent == root and p.name in CONFIG_NAMES)
    )


def read_cassette(path: Path, name: str) -> Cassette:
    """Read the cassette file at ``path`` (known as ``name``); CassetteError says what is wrong,
    in the words of ``validate``: each problem with file, line and field."""
    text = _text(path)
    try:
        return _parse(text, path, name)
    except CassetteError as exc:
        raise _precisely(exc, text, path, name) from None


def load_cassette(path: Path, name: str) -> tuple[Interaction, ...]:
    """Every interaction of the cassette file at ``path`` (known as ``name``), in order."""
    return read_cassette(path, name).interactions


def cassette_problems(text: str, path: Path, name: str) -> tuple[Cassette | None, list[Problem]]:
    """Every problem of a cassette file's text, with file, line and field where they are
    known; and the cassette, when none stops it from loading (the problems left are then
    stream timing that does not fit its body, which a replay ignores).

    The file is parsed again with a line map, which costs more than a read: `read_cassette`
    asks only for a file it could not read.
    """
    source = str(path)
    if not text.strip():
        return Cassette((), CassetteFile("json" if _is_json(path) else "yaml")), []
    try:
        data = _as_interactions(_load_data(text, path), path)  # what serve reads: checked
    except CassetteError as exc:
        data = exc
    from mockllm.loader import parse_document

    try:  # the same text again, for the line of each value
        _, lines = parse_document(text, source, constructor=CASSETTE_CONSTRUCTOR, max_bytes=None)
    except ScenarioError as exc:
        lines = None
        if isinstance(data, CassetteError) and not _is_json(path):
            return None, list(exc.problems)  # the YAML parser's own words, with the line
    if isinstance(data, CassetteError):
        return None, [_problem(data, source)]
    problems = shape_problems(data, source, lines)
    if problems:
        return None, problems
    try:
        cassette = _parse(text, path, name)
    except _BadInteraction as exc:
        where = ("interactions", exc.index)
        line = lines.line(where) if lines is not None else None
        return None, [Problem(source, line, s.dotted(where), exc.message)]
    except CassetteError as exc:
        return None, [_problem(exc, source)]
    return cassette, _timing_problems(data, cassette, source, lines)


def _problem(exc: CassetteError, source: str) -> Problem:
    """A CassetteError's message as a Problem (its line, when it starts with one)."""
    text = str(exc).removeprefix(source)
    found = re.match(r":(\d+): ", text)
    if found:
        return Problem(source, int(found.group(1)), "", text[found.end() :])
    return Problem(source, None, "", text.removeprefix(": "))


def _precisely(exc: CassetteError, text: str, path: Path, name: str) -> CassetteError:
    """The error of a cassette that would not read, told as ``validate`` tells it."""
    _, problems = cassette_problems(text, path, name)
    if not problems:
        return exc
    return CassetteError("\n  ".join(str(p) for p in problems))


def _timing_problems(
    data: dict[str, Any], cassette: Cassette, source: str, lines: Any
) -> list[Problem]:
    """Recorded stream timing that does not fit its body (a replay would ignore it)."""
    out = []
    pairs = zip(data["interactions"], cassette.interactions, strict=False)
    for i, (item, interaction) in enumerate(pairs):
        meta = item["response"].get("mockllm") or {}
        if meta.get("events") and not interaction.response.has_timing:
            where = ("interactions", i, "response", "mockllm", "events")
            size = len(interaction.response.body)
            out.append(
                Problem(
                    source,
                    lines.line(where) if lines is not None else None,
                    s.dotted(where),
                    f"the event sizes do not add up to the body's {size} bytes "
                    "(or the response is not text/event-stream): the timing would be ignored",
                )
            )
    return out


def _text(path: Path, missing_ok: bool = False) -> str:
    """The text of a cassette file ("" for a missing one when ``missing_ok``)."""
    try:
        return cassette_text(path)
    except FileNotFoundError:
        if missing_ok:
            return ""
        raise CassetteError(f"{path}: no such cassette") from None
    except ScenarioError as exc:  # not UTF-8: the line of the first byte that is not
        raise CassetteError(f"{exc}, so not a YAML or JSON cassette") from None
    except OSError as exc:
        raise CassetteError(f"{path}: cannot read the cassette: {exc.strerror}") from None


def _parse(text: str, path: Path, name: str) -> Cassette:
    requests, responses, _, file = _deserialize(text, path)
    interactions = []
    for index, (request, response) in enumerate(zip(requests, responses, strict=True)):
        try:
            interactions.append(_interaction(request, response, index, name))
        except KeyError as exc:
            raise _BadInteraction(path, index, f"no {exc} key") from None
        except (ValueError, TypeError, AttributeError, zlib.error) as exc:
            raise _BadInteraction(path, index, str(exc)) from None
    return Cassette(tuple(interactions), file)


def _read(path: Path, missing_ok: bool = False) -> tuple[list[Any], list[Any], Any, CassetteFile]:
    text = _text(path, missing_ok)
    try:
        return _deserialize(text, path)
    except CassetteError as exc:
        raise _precisely(exc, text, path, path.name) from None


def _deserialize(text: str, path: Path) -> tuple[list[Any], list[Any], Any, CassetteFile]:
    reader = _Reader(path)
    if not text.strip():
        return [], [], {}, reader.file  # vcrpy treats an empty file as not recorded yet
    try:
        requests, responses, *metadata = _vcr().deserialize(text, reader)
    except (ValueError, TypeError, KeyError) as exc:
        raise CassetteError(f"{path}: not a vcrpy cassette: {exc}") from None
    return list(requests), list(responses), (metadata[0] if metadata else {}), reader.file


def _interaction(request: Any, response: dict[str, Any], index: int, name: str) -> Interaction:
    meta: dict[str, Any] = response.get("mockllm") or {}
    parts = urlsplit(str(request.uri))
    req_headers = tuple((str(k), str(v)) for k, v in request.headers.items())
    req = RecordedRequest(
        method=str(request.method).upper(),
        path=str(meta.get("path") or parts.path or "/"),
        query=parts.query,
        headers=_serving_headers(req_headers),
        body=_decode(_body_bytes(request.body), req_headers),
        url=str(request.uri),
    )
    if "status_code" in response:  # httpx cassettes of vcrpy < 5: status_code and content
        status, reason, body = response["status_code"], "", response.get("content")
    else:
        status, reason = response["status"]["code"], response["status"].get("message") or ""
        body = response.get("body")
    headers = _header_pairs(response.get("headers") or {})
    decoded = _decode(_body_bytes(body), headers)
    events = None
    content_type = _header(headers, "content-type").lower()
    if content_type.startswith("text/event-stream") or (not content_type and _is_sse(decoded)):
        events = _timed_events(decoded, meta.get("events"), name, index) or tuple(
            (0.0, event) for event in split_events(decoded)
        )
    resp = RecordedResponse(
        int(status),
        str(reason),
        # A header the recorder redacted (set-cookie) says nothing to send back: a client
        # would keep a cookie of '<redacted>'.
        tuple((k, v) for k, v in _serving_headers(headers) if v != REDACTED),
        decoded,
        events,
        meta.get("cut") is True,
    )
    return Interaction(req, resp, index, name)


_SSE_START = re.compile(rb"\s*(?:event|data|id|retry)?:")


def _is_sse(body: bytes) -> bool:
    """Whether a body whose recorder kept no headers is an event stream: it starts with an
    SSE field or comment (``event:``, ``data:``, ``: OPENROUTER PROCESSING``), where a JSON
    body starts with a brace."""
    return _SSE_START.match(body) is not None


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, dict):
        if "base64_string" in body:
            return _from_base64(body["base64_string"])
        if "string" not in body and "bytes" not in body:
            raise ValueError(_NO_BODY_TEXT)
        return _body_bytes(body.get("string", body.get("bytes")))
    if hasattr(body, "read"):  # file-like request bodies of old cassettes
        return _body_bytes(body.read())
    if isinstance(body, Iterable):  # iterator request bodies, stored as a list of parts
        return b"".join(_body_bytes(part) for part in body)
    raise ValueError(f"a body must be text or bytes, found {type(body).__name__}")


def _from_base64(text: Any) -> bytes:
    if not isinstance(text, str | bytes):
        raise ValueError(f"'base64_string' must be text, found {type(text).__name__}")
    if isinstance(text, str):
        text = text.encode("ascii", "replace")
    try:  # written in lines of 60 characters by Ruby's VCR
        return base64.b64decode(b"".join(text.split()), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"'base64_string' is not valid base64: {exc}") from None


_BODY_KEYS = ("string", "base64_string", "bytes", "encoding")
_BODY_FORMS = (
    "a body is {string: TEXT} (text or !!binary, as vcrpy writes it) or"
    " {base64_string: BASE64} (as Ruby's VCR and Betamax write it)"
)
_NO_BODY_TEXT = f"no 'string' or 'base64_string'; {_BODY_FORMS}"


def body_problems(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) for each recorded body that would not replay: a response without one,
    a body mapping with neither ``string`` nor ``base64_string`` (vcrpy itself fails on such
    a file with a KeyError), base64 that does not decode."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    items = data.get("interactions") if isinstance(data, dict) else None
    for i, item in enumerate(items if isinstance(items, list) else ()):
        for part in ("request", "response"):
            value = item.get(part) if isinstance(item, dict) else None
            if not isinstance(value, dict) or "parsed_body" in value:
                continue
            where: tuple[str | int, ...] = ("interactions", i, part)
            if "body" not in value:
                if part == "response" and "status_code" not in value:
                    out.append((where, f"missing required key 'body'; {_BODY_FORMS}"))
                continue
            body = value["body"]
            if _is_typed(body):
                out += _typed_body_problems(body, (*where, "body"))
            elif isinstance(body, dict):
                out += _body_mapping_problems(body, (*where, "body"))
    return out


_BODY_TYPES = ("json", "text", "binary", "none")


def _typed_body_problems(
    body: dict[Any, Any], where: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with a cassetter body: ``{type: json|text|binary|none, content}``."""
    from mockllm.schema import unknown_key

    out = [
        ((*where, str(key)), unknown_key(str(key), ("type", "content")))
        for key in body
        if key not in ("type", "content")
    ]
    kind, content = body["type"], body.get("content")
    if kind not in _BODY_TYPES:
        out.append(((*where, "type"), f"expected one of {', '.join(_BODY_TYPES)}, found {kind!r}"))
    elif kind != "none" and "content" not in body:
        out.append((where, f"missing required key 'content' (a body of type {kind})"))
    elif kind == "text" and not isinstance(content, str):
        out.append(((*where, "content"), "a text body's content must be text"))
    elif kind == "binary":
        try:
            bytes.fromhex(str(content))
        except ValueError:
            out.append(((*where, "content"), "a binary body's content must be hex digits"))
    return out


def _body_mapping_problems(
    body: dict[Any, Any], where: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    from mockllm.schema import unknown_key

    out = [
        ((*where, str(key)), unknown_key(str(key), _BODY_KEYS))
        for key in body
        if key not in _BODY_KEYS
    ]
    if not {"string", "base64_string", "bytes"} & body.keys():
        out.append((where, _NO_BODY_TEXT))
    elif "base64_string" in body:
        try:
            _from_base64(body["base64_string"])
        except ValueError as exc:
            out.append(((*where, "base64_string"), str(exc)))
    return out


def _decode(body: bytes, headers: Headers) -> bytes:
    codings = [c.strip().lower() for c in _header(headers, "content-encoding").split(",")]
    for coding in reversed([c for c in codings if c and c != "identity"]):
        try:
            if coding in ("gzip", "x-gzip", "deflate"):
                body = _inflate(body)
            elif coding == "br":
                body = brotli.decompress(body)
            elif coding == "zstd":
                body = _unzstd(body)
            else:
                raise ValueError(
                    f"content-encoding {coding!r} is not supported: gzip, deflate, br, zstd"
                )
        except (zlib.error, brotli.error, zstandard.ZstdError):
            pass  # stored already decoded with the header kept; vcrpy's filters do the same
    return body


def _unzstd(body: bytes) -> bytes:
    """A zstd body (httpx asks for zstd when the ``zstandard`` package is installed, and
    vcrpy keeps the bytes as they came): one frame after another, as a server that
    compresses a stream while it is written flushes them, each without its content size."""
    out, rest = [], body
    while rest:
        frames = zstandard.ZstdDecompressor().decompressobj()
        out.append(frames.decompress(rest))
        if not frames.eof:
            raise zstandard.ZstdError("the zstd body ends inside a frame")
        rest = frames.unused_data
    return b"".join(out)


def _inflate(body: bytes) -> bytes:
    try:
        return zlib.decompress(body, zlib.MAX_WBITS | 32)  # gzip or zlib, detected
    except zlib.error:
        return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate


def _timed_events(body: bytes, spec: Any, name: str, index: int) -> Events | None:
    if not spec:
        return None
    try:
        pairs = [(float(o), int(n)) for o, n in (p.split(":") for p in str(spec).split())]
    except ValueError:
        pairs = []
    if not pairs or sum(n for _, n in pairs) != len(body) or min(n for _, n in pairs) < 0:
        logger.warning(
            "cassette=%s interaction=%d stream timing does not fit the body", name, index
        )
        return None
    events, start = [], 0
    for offset, size in pairs:
        events.append((offset, body[start : start + size]))
        start += size
    return tuple(events)


def _timing_spec(events: Events) -> str:
    return " ".join(f"{offset:.4f}".rstrip("0").rstrip(".") + f":{len(e)}" for offset, e in events)


def _header_pairs(headers: Any) -> Headers:
    pairs = []
    for name, values in dict(headers).items():
        for value in values if isinstance(values, list | tuple) else [values]:
            pairs.append((str(name), str(value)))
    return tuple(pairs)


def _header(headers: Headers, name: str) -> str:
    return ", ".join(v for k, v in headers if k.lower() == name)


def _serving_headers(headers: Headers) -> Headers:
    return tuple(
        (k, v)
        for k, v in headers
        if k.lower() not in _NOT_SERVED and not k.lower().startswith("proxy-")
    )


# --- names and record modes -----------------------------------------------------------------


def normal_name(name: str) -> str:
    rule = None
    if not name.strip():
        rule = "is empty"
    elif "\x00" in name:
        rule = "contains a NUL character"
    elif "\\" in name:
        rule = "contains a backslash; separate folders with '/'"
    elif name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        rule = "is absolute"
    elif ".." in PurePosixPath(name).parts:
        rule = "contains a '..' segment"
    elif not PurePosixPath(name).name:
        rule = "names no file"
    elif any(part.startswith(".") for part in PurePosixPath(name).parts):
        rule = "is hidden (a part starts with '.'), and hidden files are never read as cassettes"
    if rule:
        raise CassetteError(
            f"cassette name {name!r} {rule}; a name is a path inside the cassettes folder,"
            " like 'sub/dir/test_x.yaml' (the .yaml suffix may be left out)"
        )
    path = PurePosixPath(name)
    return path.as_posix() if _suffix(path) in _SUFFIXES else f"{path}.yaml"


def resolve_name(root: Path, name: str) -> Path:
    """The file of cassette ``name`` under ``root``; CassetteError if the name would leave it
    or could never be a file there (a folder part that is a file, a part too long)."""
    relative = normal_name(name)
    path = root / relative
    _check_sizes(root, name, PurePosixPath(relative).parts)
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except OSError as exc:  # a symbolic link loop, say
        raise CassetteError(f"cassette name {name!r} cannot be followed: {exc.strerror}") from None
    if not inside:
        raise CassetteError(
            f"cassette name {name!r} leads outside the cassettes folder {root} through a"
            " symbolic link; names must stay inside that folder"
        )
    _check_folders(root, name, PurePosixPath(relative).parts)
    if relative in CONFIG_NAMES:
        raise CassetteError(
            f"cassette name {name!r} names the cassettes folder's settings file {path},"
            " which is not a cassette; choose another name"
        )
    return path


# An atomic save writes `.NAME.` + 8 random characters + `.tmp` beside the file first.
_TEMP_EXTRA = len("..") + 8 + len(".tmp")


def _check_sizes(root: Path, name: str, parts: tuple[str, ...]) -> None:
    """CassetteError when a part of cassette ``name``, or the whole path, is longer than the
    file system takes."""
    where = root if root.is_dir() else Path(".")
    try:
        part_max = os.pathconf(where, "PC_NAME_MAX")
        path_max = os.pathconf(where, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf on Windows
        part_max, path_max = 255, 4096
    problem = None
    for i, part in enumerate(parts):
        is_file = i == len(parts) - 1
        allowed = part_max - _TEMP_EXTRA if is_file else part_max
        size = len(os.fsencode(part))
        if size > allowed:
            what = "file name" if is_file else "a folder name"
            problem = f"{'its ' if is_file else ''}{what} has {size} bytes, at most {allowed} fit"
            break
    else:
        size = len(os.fsencode(str(root.absolute() / Path(*parts))))
        if size + _TEMP_EXTRA > path_max:
            problem = f"its path has {size} bytes, at most {path_max - _TEMP_EXTRA} fit"
    if problem:
        shown = repr(name) if len(name) <= 60 else f"{name[:60]!r}..."
        raise CassetteError(
            f"cassette name {shown} is too long: {problem} (the cassette is saved through a"
            " temporary file beside it); a name is a path inside the cassettes folder, like"
            " 'sub/dir/test_x.yaml'"
        )


def _check_folders(root: Path, name: str, parts: tuple[str, ...]) -> None:
    """CassetteError when cassette ``name`` goes through a file, or names a folder."""
    folder = root
    for i, part in enumerate(parts):
        folder = folder / part
        if i == len(parts) - 1:
            if folder.is_dir():
                raise CassetteError(
                    f"cassette name {name!r} names the folder {folder}, not a file;"
                    " name a file inside it, like 'sub/dir/test_x.yaml'"
                )
        elif folder.exists() and not folder.is_dir():
            raise CassetteError(
                f"cassette name {name!r} goes through {folder}, which is a file, not a"
                " folder; a name is a path inside the cassettes folder, like"
                " 'sub/dir/test_x.yaml'"
            )
        elif not folder.exists():
            return  # the rest is made when the cassette is first saved


def should_record(mode: RecordMode, cassette_exists: bool, matched: bool) -> bool:
    """Whether a request goes upstream and into the cassette, as vcrpy decides it.

    ``cassette_exists`` means the file existed when the run started.

    ==============  ===============  =========  =====================================
    mode            cassette exists  matched    record?
    ==============  ===============  =========  =====================================
    none            any              any        no: a miss stays a miss
    once            no               any        yes: the first run records everything
    once            yes              any        no: replay, a miss stays a miss
    new_episodes    any              no         yes
    new_episodes    any              yes        no: replay
    all             any              any        yes: never replay
    ==============  ===============  =========  =====================================
    """
    if mode not in get_args(RecordMode):
        valid = ", ".join(get_args(RecordMode))
        raise ConfigError(f"record mode {mode!r} is not valid; valid modes: {valid}")
    return {
        "none": False,
        "once": not cassette_exists,
        "new_episodes": not matched,
        "all": True,
    }[mode]


# --- writing -------------------------------------------------------------------------------


class Recorder:
    """Appends interactions to cassettes, scrubbed, each save atomic; safe across threads.

    A stream's body is written as its events joined. ``origin`` builds the ``uri`` of a
    request whose ``url`` is empty. The files are read once and then kept in memory. A file
    is written in mockllm's form unless ``keep_format``: then in the dialect it was read in.
    """

    def __init__(
        self,
        root: Path,
        scrub: Scrubber,
        *,
        library: CassetteLibrary | None = None,
        origin: str = "https://api.openai.com",
        keep_format: bool = False,
    ) -> None:
        self._root, self._scrub, self._library = root, scrub, library
        self._origin = origin.rstrip("/")
        self._keep_format = keep_format
        self._guard = threading.Lock()
        self._locks: dict[Path, threading.Lock] = {}
        # Each file as read, with how many of its interactions came from disk.
        self._files: dict[Path, tuple[_Cassette, int, CassetteFile]] = {}

    def append(
        self,
        name: str,
        request: RecordedRequest,
        response: RecordedResponse,
        secrets: Iterable[str] = (),
        *,
        replace: bool = False,
    ) -> Interaction:
        """Scrub the exchange, add it to cassette ``name``, save the file and return it.

        ``replace`` (record mode ``all``) drops what the file held for the same request
        when it was first read, as vcrpy does; what this run recorded is kept. "The same"
        is decided through the library's normalisers, as replay decides it.
        """
        path, cassette = resolve_name(self._root, name), normal_name(name)
        secrets = frozenset(secrets)
        req = self._scrub.request(request, secrets)
        resp = self._scrub.response(response, secrets, request_headers=request.headers)
        vcr_request, vcr_response = self._to_vcr(req, resp)
        with self._lock_of(path):
            self._load(path)
            (requests, responses, metadata), from_disk, file = self._files[path]
            pairs = list(zip(requests, responses, strict=True))
            if replace:
                key = self._key_of(vcr_request, vcr_response)
                kept = [p for p in pairs[:from_disk] if self._key_of(*p) != key]
                pairs, from_disk = kept + pairs[from_disk:], len(kept)
            interaction = _interaction(vcr_request, vcr_response, len(pairs), cassette)
            pairs.append((vcr_request, vcr_response))
            requests, responses = [p[0] for p in pairs], [p[1] for p in pairs]
            cassette_dict = {"requests": requests, "responses": responses, "metadata": metadata}
            # A gzipped file stays gzipped (by its name), and one in vcrpy's in-memory
            # layout stays in it: the suites that wrote it read nothing else.
            own = CassetteFile(layout=file.layout, recorded_with=file.recorded_with)
            writer = _Writer(path, file if self._keep_format else own)
            _write_atomic(path, _vcr().serialize(cassette_dict, writer))
            self._files[path] = ((requests, responses, metadata), from_disk, file)
        if self._library is not None:
            self._library.add(interaction)
        return interaction

    def _lock_of(self, path: Path) -> threading.Lock:
        """The lock that orders the appends to one cassette file."""
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    def _load(self, path: Path) -> None:
        """Read a cassette file once (under its lock), for the appends that follow."""
        if path not in self._files:
            requests, responses, metadata, file = _read(path, missing_ok=True)
            self._files[path] = ((requests, responses, metadata), len(requests), file)

    def check(self, name: str) -> None:
        """CassetteError when cassette ``name`` could not take an interaction: a name the file
        system refuses, a file that cannot be read as a cassette, a folder not writable.

        Called before a request is forwarded, so that nothing is sent upstream whose answer
        could not be kept. What is read is kept for ``append``.
        """
        path = resolve_name(self._root, name)
        with self._lock_of(path):
            self._load(path)
        folder = path.parent
        while not folder.exists() and folder != self._root and folder.parent != folder:
            folder = folder.parent
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise CassetteError(f"{path}: cannot write the cassette: {folder} is not writable")

    def forget(self, name: str) -> None:
        """Drop what was read of cassette ``name`` (its file was removed to record it anew)."""
        path = resolve_name(self._root, name)
        with self._guard:
            self._files.pop(path, None)

    def _key_of(self, vcr_request: Any, response: dict[str, Any]) -> Hashable:
        meta = response.get("mockllm") or {}
        request = RecordedRequest(
            method=str(vcr_request.method).upper(),
            path=str(meta.get("path") or urlsplit(vcr_request.uri).path),
            query=urlsplit(vcr_request.uri).query,
            body=_body_bytes(vcr_request.body),
        )
        key: Callable[[RecordedRequest], Hashable] = (
            self._library.key_of if self._library is not None else _plain_key
        )
        return key(request)

    def _to_vcr(self, req: RecordedRequest, resp: RecordedResponse) -> tuple[Any, dict[str, Any]]:
        uri = req.url or f"{self._origin}{req.path}" + (f"?{req.query}" if req.query else "")
        grouped: dict[str, list[str]] = {}
        spelled: dict[str, str] = {}  # repeated headers go under the first spelling seen
        for key, value in resp.headers:
            grouped.setdefault(spelled.setdefault(key.lower(), key), []).append(value)
        meta: dict[str, str | bool] = {}
        if resp.events is not None:
            meta["events"] = _timing_spec(resp.events)
        if urlsplit(uri).path != req.path:
            meta["path"] = req.path
        if resp.cut:
            meta["cut"] = True
        response: dict[str, Any] = {
            "status": {"code": resp.status, "message": resp.reason},
            "headers": grouped,
            "body": {"string": resp.body},
            **({"mockllm": meta} if meta else {}),
        }
        return _vcr().Request(req.method, uri, req.body, dict(req.headers)), response


def _plain_key(request: RecordedRequest) -> Hashable:
    data: Any = request.body
    with contextlib.suppress(orjson.JSONDecodeError):
        data = orjson.dumps(orjson.loads(request.body), option=orjson.OPT_SORT_KEYS)
    return request.method, family_of(request.path) or request.path.rstrip("/"), data


class _LiteralDumper(yaml.SafeDumper):
    """YAML with text of several lines as literal blocks, as parsed-body serializers write."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if "\n" in text:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


_LiteralDumper.add_representer(str, _represent_text)


@dataclass(frozen=True, slots=True)
class _Writer:
    """The serializer handed to ``vcr.serialize.serialize``: ``file``'s dialect, by suffix."""

    path: Path
    file: CassetteFile

    def serialize(self, data: dict[str, Any]) -> str:
        vcr = _vcr()
        if not self.file.versioned:
            data.pop("version", None)
        if self.file.parsed_bodies:
            for item in data["interactions"]:
                _parse_body(item["request"], is_response=False)
                _parse_body(item["response"], is_response=True)
        if self.file.layout == "ruby":  # as Ruby's VCR reads it
            items = data.pop("interactions")
            data.pop("version", None)
            betamax = self.file.recorded_with.lower().startswith("betamax")
            data["http_interactions"] = [_to_ruby(item, betamax) for item in items]
            data["recorded_with"] = self.file.recorded_with or "VCR 6.3.1"
        if self.file.layout == "pairs":  # as vcrpy holds it in memory, LangChain's layout
            items = data.pop("interactions")
            data.pop("version", None)
            data["requests"] = [item["request"] for item in items]
            data["responses"] = [_bytes_body(item["response"]) for item in items]
        try:
            if _is_json(self.path):
                return str(vcr.jsonserializer.serialize(data))
        except TypeError as exc:
            raise CassetteError(f"{self.path}: cannot write as JSON: {exc}") from None
        if self.file.parsed_bodies:
            dumped = yaml.dump(data, Dumper=_LiteralDumper, allow_unicode=True, width=120)
            return str(dumped)
        return str(vcr.yamlserializer.serialize(data))


def _bytes_body(response: dict[str, Any]) -> dict[str, Any]:
    """A response whose body text is bytes again, as vcrpy holds it in memory: a cassette in
    that layout is played as it is loaded (vcrpy's players take bytes)."""
    body = response.get("body")
    if isinstance(body, dict) and isinstance(body.get("string"), str):
        response["body"] = {**body, "string": body["string"].encode("utf-8")}
    return response


def _parse_body(part: dict[str, Any], *, is_response: bool) -> None:
    """A JSON body kept as data under ``parsed_body``, as it was read."""
    headers = _header_pairs(part.get("headers") or {})
    if not _header(headers, "content-type").lower().startswith("application/json"):
        return
    body = part.get("body")
    text = body.get("string") if isinstance(body, dict) else body
    if not isinstance(text, str) or not text:
        return
    try:
        part["parsed_body"] = json.loads(text)
    except json.JSONDecodeError:
        return
    del part["body"]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    data = text.encode("utf-8")
    if _is_gzipped(path):
        data = gzip.compress(data, mtime=0)  # the same interactions, the same bytes
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the rename durable too (not possible on Windows)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
