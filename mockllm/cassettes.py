"""Cassettes: read vcrpy cassettes, match requests against them, append new interactions.

This is the only module that imports vcrpy, and only when a cassette is read or written.
The project pins ``vcrpy>=6,<10``; the names used have had the same shape since vcrpy 1.x
(checked against the source of 1.x and 9.4.2):

- ``vcr.serialize.serialize(cassette_dict, serializer)`` and ``deserialize(text, serializer)``:
  the on-disk structure ``{"version": 1, "interactions": [{"request", "response"}, ...]}``.
  ``deserialize`` returns ``(requests, responses)``; 9.x adds the cassette metadata as a
  third item, which is written back on save and otherwise ignored.
- ``vcr.serializers.yamlserializer.serialize``: the YAML that vcrpy itself writes.
- ``vcr.request.Request(method, uri, body, headers)``.

Reading does not use vcrpy's YAML loader: before 8.2.1 it was PyYAML's unsafe loader, which
runs ``!!python/object`` tags. ``_SafeLoader`` knows only the harmless tags cassettes hold.

Stream timing is kept in an extra key of the response mapping, which vcrpy loads, plays and
saves again untouched (its players read only ``status``, ``headers`` and ``body``)::

    response:
      body: {string: "data: {...}\\n\\ndata: {...}\\n\\n"}
      mockllm: {events: "0.2113:181 0.2301:183"}   # offset seconds:byte length, per event
      # and "path: /v1/chat/completions" when the upstream URL has another path
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import threading
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any, get_args
from urllib.parse import urlsplit

import brotli  # type: ignore[import-untyped]
import orjson
import yaml

from mockllm.config import RecordMode
from mockllm.errors import CassetteError, ConfigError
from mockllm.sse import split_events

logger = logging.getLogger(__name__)

Headers = tuple[tuple[str, str], ...]
Events = tuple[tuple[float, bytes], ...]

REDACTED = "<redacted>"
IGNORABLE_FIELDS = frozenset({"user", "stream_options", "metadata"})
"""Request fields that usually vary between runs; pass any of them as ``ignore_fields``."""

SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "openai-organization", "openai-project"}
    | {"cookie", "set-cookie"}
)
_NOT_SERVED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
    | {"content-encoding", "content-length"}  # the body is stored decoded
)
_REQUEST_KEYS = frozenset({"method", "uri", "body", "headers"})
_KEY_HEADERS = ("authorization", "x-api-key", "api-key")
_KEY_PATTERNS = (rb"(?<![\w-])sk-[A-Za-z0-9_-]{20,}", rb"(?<![\w-])ak_[A-Za-z0-9_-]{16,}")
_MIN_SECRET = 8  # shorter values are dropped from headers but not hunted for in bodies
_SUFFIXES = (".yaml", ".yml")
_MAX_DIFF = 20
_Key = tuple[str, str, bytes]  # method, path, canonical body
_Cassette = tuple[list[Any], list[dict[str, Any]], dict[str, Any]]  # vcrpy's, plus metadata


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
        return _parse_json(self.body)


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
class Miss:
    """No recorded interaction matches: the nearest one and how the request differs from it."""

    cassette: str | None
    nearest: Interaction | None
    diff: tuple[str, ...]


# --- reading -------------------------------------------------------------------------------


def _vcr() -> Any:
    """``vcr.serialize``, with ``Request`` and ``yamlserializer`` attached; imported on use.

    Importing vcrpy imports every HTTP client it can patch (httpx among them): a server that
    never reads a cassette need not pay for that.
    """
    from vcr import serialize  # type: ignore[import-untyped]
    from vcr.request import Request  # type: ignore[import-untyped]
    from vcr.serializers import yamlserializer  # type: ignore[import-untyped]

    return SimpleNamespace(
        serialize=serialize.serialize,
        deserialize=serialize.deserialize,
        Request=Request,
        yamlserializer=yamlserializer,
    )


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SafeLoader(_BaseLoader):  # type: ignore[misc]
    """Safe YAML plus the plain-data Python tags old vcrpy versions wrote."""


_SafeLoader.add_constructor("tag:yaml.org,2002:python/str", _SafeLoader.construct_yaml_str)
_SafeLoader.add_constructor("tag:yaml.org,2002:python/unicode", _SafeLoader.construct_yaml_str)
_SafeLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: tuple(loader.construct_sequence(node))
)


@dataclass(frozen=True, slots=True)
class _CassetteYaml:
    """The serializer handed to ``vcr.serialize.deserialize``: safe loading, shape checks."""

    source: Path

    def deserialize(self, text: str) -> Any:
        try:
            data = yaml.load(text, Loader=_SafeLoader)
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
            raise CassetteError(f"{self.source}:{line}: not valid YAML: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise CassetteError(f"{self.source}: not valid YAML: {exc}") from None
        return _checked(data, self.source)


def _checked(data: Any, source: Path) -> Any:
    """``data`` if it is shaped like a cassette; a request's body and headers may be left out."""
    expected = (
        "expected a vcrpy cassette: {version: 1, interactions: [{request: {method, uri, body,"
        " headers}, response: {status: {code, message}, headers, body: {string}}}]}"
    )
    if isinstance(data, list):
        raise CassetteError(f"{source}: written by vcrpy before 1.0; re-record it ({expected})")
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CassetteError(f"{source}: no 'interactions' list; {expected}")
    for i, item in enumerate(data["interactions"]):
        request = item.get("request") if isinstance(item, dict) else None
        response = item.get("response") if isinstance(item, dict) else None
        if not isinstance(request, dict) or not {"method", "uri"} <= request.keys():
            problem = "no 'request' mapping with 'method' and 'uri'"
        elif not request.keys() <= _REQUEST_KEYS:
            problem = f"unknown request keys {sorted(request.keys() - _REQUEST_KEYS)}"
        elif not isinstance(response, dict) or not ({"status", "status_code"} & response.keys()):
            problem = "no 'response' mapping with 'status'"
        else:
            request.setdefault("body", None)
            request.setdefault("headers", {})
            continue
        raise CassetteError(f"{source}: interactions[{i}]: {problem}; {expected}")
    return data


def load_cassette(path: Path, name: str) -> tuple[Interaction, ...]:
    """Read the cassette file at ``path`` (known as ``name``); CassetteError says what is wrong."""
    requests, responses, _ = _read(path)
    interactions = []
    for index, (request, response) in enumerate(zip(requests, responses, strict=True)):
        try:
            interactions.append(_interaction(request, response, index, name))
        except KeyError as exc:
            raise CassetteError(f"{path}: interactions[{index}]: no {exc} key") from None
        except (ValueError, TypeError, AttributeError, zlib.error) as exc:
            raise CassetteError(f"{path}: interactions[{index}]: {exc}") from None
    return tuple(interactions)


def _read(path: Path, missing_ok: bool = False) -> _Cassette:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return [], [], {}
        raise CassetteError(f"{path}: no such cassette") from None
    except UnicodeDecodeError:
        raise CassetteError(f"{path}: not UTF-8 text, so not a YAML cassette") from None
    except OSError as exc:
        raise CassetteError(f"{path}: cannot read the cassette: {exc.strerror}") from None
    if not text.strip():
        return [], [], {}  # vcrpy treats an empty file as a cassette not recorded yet
    try:
        requests, responses, *metadata = _vcr().deserialize(text, _CassetteYaml(path))
    except (ValueError, TypeError, KeyError) as exc:
        raise CassetteError(f"{path}: not a vcrpy cassette: {exc}") from None
    return list(requests), list(responses), (metadata[0] if metadata else {})


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
    if _header(headers, "content-type").lower().startswith("text/event-stream"):
        events = _timed_events(decoded, meta.get("events"), name, index) or tuple(
            (0.0, event) for event in split_events(decoded)
        )
    resp = RecordedResponse(int(status), str(reason), _serving_headers(headers), decoded, events)
    return Interaction(req, resp, index, name)


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, dict):
        return _body_bytes(body.get("string", body.get("bytes")))
    if hasattr(body, "read"):  # file-like request bodies of old cassettes
        return _body_bytes(body.read())
    if isinstance(body, Iterable):  # iterator request bodies, stored as a list of parts
        return b"".join(_body_bytes(part) for part in body)
    raise ValueError(f"a body must be text or bytes, found {type(body).__name__}")


def _decode(body: bytes, headers: Headers) -> bytes:
    codings = [c.strip().lower() for c in _header(headers, "content-encoding").split(",")]
    for coding in reversed([c for c in codings if c and c != "identity"]):
        try:
            if coding in ("gzip", "x-gzip", "deflate"):
                body = _inflate(body)
            elif coding == "br":
                body = brotli.decompress(body)
            else:
                raise ValueError(f"content-encoding {coding!r} is not supported: gzip, deflate, br")
        except (zlib.error, brotli.error):
            pass  # stored already decoded with the header kept; vcrpy's filters do the same
    return body


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


def _normal_name(name: str) -> str:
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
    if rule:
        raise CassetteError(
            f"cassette name {name!r} {rule}; a name is a path inside the cassettes folder,"
            " like 'sub/dir/test_x.yaml' (the .yaml suffix may be left out)"
        )
    path = PurePosixPath(name)
    return path.as_posix() if path.suffix.lower() in (*_SUFFIXES, ".json") else f"{path}.yaml"


def resolve_name(root: Path, name: str) -> Path:
    """The file of cassette ``name`` under ``root``; CassetteError if the name would leave it."""
    path = root / _normal_name(name)
    if not path.resolve().is_relative_to(root.resolve()):
        raise CassetteError(
            f"cassette name {name!r} leads outside the cassettes folder {root} through a"
            " symbolic link; names must stay inside that folder"
        )
    return path


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


# --- matching ------------------------------------------------------------------------------


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return None


def _route(method: str, path: str) -> tuple[str, str]:
    return method.upper(), path.rstrip("/") or "/"


def _fields(body: bytes, ignore: frozenset[str]) -> Any:
    data = _parse_json(body)
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k not in ignore}
    return data


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _match_key(method: str, path: str, body: bytes, ignore: frozenset[str]) -> _Key:
    data = _fields(body, ignore)
    return (*_route(method, path), b"bytes:" + body if data is None else b"json:" + _dump(data))


class CassetteLibrary:
    """Every interaction of a cassettes folder, indexed for replay; safe to share across threads.

    Identical requests replay their recorded interactions in order; once all were played,
    the last one repeats (``repeat_last=True``) or the request misses. Requests naming a
    cassette count their replays apart from those matched against every cassette.
    Recorded bodies are scrubbed: a request that still holds a secret will not match.
    """

    def __init__(
        self,
        interactions: Iterable[Interaction] = (),
        *,
        ignore_fields: frozenset[str] = frozenset(),
        repeat_last: bool = True,
        existing: Iterable[str] = (),
    ) -> None:
        self._ignore = frozenset(ignore_fields)
        self._repeat_last = repeat_last
        self._existing = frozenset(existing)
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str | None, _Key], list[Interaction]] = defaultdict(list)
        self._by_cassette: dict[str, list[Interaction]] = defaultdict(list)
        self._plays: Counter[tuple[str | None, _Key]] = Counter()
        # Set to a shared state store's counter (`StateStore.incr`), replays are counted
        # across every process sharing it, when the count matters (several recordings).
        self.count_play: Callable[[str], int] | None = None
        for interaction in interactions:
            self.add(interaction)

    @classmethod
    def load(
        cls, root: Path, ignore_fields: frozenset[str] = frozenset(), *, repeat_last: bool = True
    ) -> CassetteLibrary:
        """Load every ``*.yaml``/``*.yml`` under ``root``; a folder not created yet holds none."""
        if root.exists() and not root.is_dir():
            raise CassetteError(f"{root}: the cassettes folder is a file, not a folder")
        files = sorted(p for p in root.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        names = [p.relative_to(root).as_posix() for p in files]
        loaded = [i for p, name in zip(files, names, strict=True) for i in load_cassette(p, name)]
        count = f"cassettes={len(names)} interactions={len(loaded)}"
        logger.info("cassettes loaded folder=%s %s", root, count)
        return cls(loaded, ignore_fields=ignore_fields, repeat_last=repeat_last, existing=names)

    def add(self, interaction: Interaction) -> None:
        """Make ``interaction`` replayable, after those already known for the same request."""
        req = interaction.request
        key = _match_key(req.method, req.path, req.body, self._ignore)
        with self._lock:
            self._by_key[(None, key)].append(interaction)
            self._by_key[(interaction.cassette, key)].append(interaction)
            self._by_cassette[interaction.cassette].append(interaction)

    def __len__(self) -> int:
        """How many interactions are loaded."""
        with self._lock:
            return sum(len(group) for group in self._by_cassette.values())

    def existed(self, name: str) -> bool:
        """Whether cassette ``name`` was on disk at load: ``cassette_exists`` of should_record."""
        return _normal_name(name) in self._existing

    def reset(self) -> None:
        """Rewind: the next request replays the first recorded answer again."""
        with self._lock:
            self._plays.clear()

    def find(
        self, method: str, path: str, body: bytes, cassette: str | None = None
    ) -> Interaction | Miss:
        """The interaction to replay for this request, or a Miss naming the nearest one."""
        scope = None if cassette is None else _normal_name(cassette)
        key = (scope, _match_key(method, path, body, self._ignore))
        with self._lock:
            found = self._by_key.get(key)
            if found:
                if self.count_play is not None and (len(found) > 1 or not self._repeat_last):
                    name = hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()
                    played = self.count_play(f"replay:{name}")
                else:
                    played = self._plays[key]
                    self._plays[key] = played + 1
                if played < len(found) or self._repeat_last:
                    return found[min(played, len(found) - 1)]
                used = f"all {len(found)} recorded answers to this request were replayed already"
                return Miss(scope, found[-1], (f"{used}; reset to replay them again",))
            pool = [i for group in self._by_cassette.values() for i in group]
            if scope is not None:
                pool = list(self._by_cassette.get(scope, ()))
        if scope is not None and not pool:
            known = ", ".join(sorted(self._by_cassette)) or "none"
            return Miss(
                scope, None, (f"cassette {scope!r} holds no interactions; loaded: {known}",)
            )
        nearest = _nearest(pool, method, path, body, self._ignore)
        if nearest is None:
            return Miss(scope, None, ("no interactions are recorded",))
        return Miss(
            scope, nearest, _diff_request(nearest.request, method, path, body, self._ignore)
        )


def _nearest(
    pool: list[Interaction], method: str, path: str, body: bytes, ignore: frozenset[str]
) -> Interaction | None:
    sent = _fields(body, ignore)

    def score(interaction: Interaction) -> tuple[int, int, int, float]:
        req = interaction.request
        recorded = _fields(req.body, ignore)
        same_route = int(_route(req.method, req.path) == _route(method, path))
        if not (isinstance(sent, dict) and isinstance(recorded, dict)):
            return same_route, int(req.body == body), 0, 0.0
        equal = sum(k in recorded and _dump(recorded[k]) == _dump(v) for k, v in sent.items())
        old, new = recorded.get("messages") or [], sent.get("messages") or []
        same_messages = sum(_dump(a) == _dump(b) for a, b in zip(old, new, strict=False))
        # Last, the closest wording: one changed word should not lose to a different question.
        likeness = SequenceMatcher(None, _dump(old), _dump(new), autojunk=False).quick_ratio()
        return same_route, equal, same_messages, likeness

    return max(pool, key=score, default=None)  # the first of equals: the earliest recorded


def _diff_request(
    recorded: RecordedRequest, method: str, path: str, body: bytes, ignore: frozenset[str]
) -> tuple[str, ...]:
    lines = []
    if recorded.method != method.upper():
        lines.append(f"method: recorded {recorded.method!r} != sent {method.upper()!r}")
    if _route("", recorded.path) != _route("", path):
        lines.append(f"path: recorded {recorded.path!r} != sent {path!r}")
    old, new = _fields(recorded.body, ignore), _fields(body, ignore)
    if old is None or new is None:
        if recorded.body != body:
            lines.append(f"body: recorded {_short(recorded.body)} != sent {_short(body)}")
    else:
        _diff(old, new, "", lines)
    if len(lines) > _MAX_DIFF:
        lines[_MAX_DIFF:] = [f"... and {len(lines) - _MAX_DIFF} more differences"]
    return tuple(lines)


def _diff(old: Any, new: Any, where: str, lines: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*new, *(k for k in old if k not in new)]:
            at = f"{where}.{key}" if where else str(key)
            if key not in old:
                lines.append(f"{at}: not recorded, sent {_short(new[key])}")
            elif key not in new:
                lines.append(f"{at}: recorded {_short(old[key])}, not sent")
            else:
                _diff(old[key], new[key], at, lines)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            lines.append(f"{where}: recorded {len(old)} items != sent {len(new)} items")
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            _diff(a, b, f"{where}[{i}]", lines)
    elif _dump(old) != _dump(new):
        lines.append(f"{where or 'body'}: recorded {_short(old)} != sent {_short(new)}")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str | bytes) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- scrubbing -----------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _secret_pattern(secrets: frozenset[str]) -> re.Pattern[bytes]:
    literal = [re.escape(s.encode()) for s in sorted(secrets, key=len, reverse=True)]
    return re.compile(b"|".join([*literal, *_KEY_PATTERNS]))


@dataclass(frozen=True, slots=True)
class Scrubber:
    """Keeps secrets off disk: credential headers, configured body paths, API keys in bodies.

    ``body_paths`` are dotted JSON paths (``metadata.user_email``; ``*`` for every item).
    ``secrets`` are values hunted for in every body besides those of the request's own
    key headers and anything shaped like an OpenAI (``sk-…``) or ``ak_…`` key.
    """

    extra_headers: frozenset[str] = frozenset()
    body_paths: tuple[str, ...] = ()
    secrets: frozenset[str] = frozenset()

    def secrets_in(self, headers: Headers) -> frozenset[str]:
        """The raw key values a request carries in its credential headers."""
        found = set(self.secrets)
        for name, value in headers:
            if name.lower() in _KEY_HEADERS:
                found.update({value.strip(), value.strip().partition(" ")[2].strip()})
        return frozenset(s for s in found if len(s) >= _MIN_SECRET)

    def request(self, request: RecordedRequest, secrets: Iterable[str] = ()) -> RecordedRequest:
        """The request with credentials redacted and configured body paths removed."""
        pattern = self._pattern(request.headers, secrets)
        body = pattern.sub(REDACTED.encode(), self._drop_paths(request.body))
        query, url = _redact(request.query, pattern), _redact(request.url, pattern)
        headers = self._headers(request.headers, pattern)
        return RecordedRequest(request.method, request.path, query, headers, body, url)

    def response(
        self,
        response: RecordedResponse,
        secrets: Iterable[str] = (),
        *,
        request_headers: Headers = (),
    ) -> RecordedResponse:
        """The response with credentials redacted, even a key split across SSE events."""
        pattern = self._pattern(request_headers, secrets)
        headers = self._headers(response.headers, pattern)
        if response.events is None:
            body = pattern.sub(REDACTED.encode(), self._drop_paths(response.body))
            return RecordedResponse(response.status, response.reason, headers, body, None)
        events = tuple((o, self._drop_event_paths(e)) for o, e in response.events)
        events = _redact_events(events, pattern)
        body = b"".join(e for _, e in events)
        return RecordedResponse(response.status, response.reason, headers, body, events)

    def _pattern(self, headers: Headers, secrets: Iterable[str]) -> re.Pattern[bytes]:
        extra = frozenset(s for s in secrets if len(s) >= _MIN_SECRET)
        return _secret_pattern(self.secrets_in(headers) | extra)

    def _headers(self, headers: Headers, pattern: re.Pattern[bytes]) -> Headers:
        hidden = SECRET_HEADERS | {h.lower() for h in self.extra_headers}
        return tuple(
            (k, REDACTED if k.lower() in hidden else _redact(v, pattern)) for k, v in headers
        )

    def _drop_paths(self, body: bytes) -> bytes:
        data = _parse_json(body) if self.body_paths else None
        if not isinstance(data, dict | list):
            return body
        changed = [_drop_path(data, path.split(".")) for path in self.body_paths]
        return orjson.dumps(data) if any(changed) else body

    def _drop_event_paths(self, event: bytes) -> bytes:
        lines = event.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if (scrubbed := self._drop_paths(payload)) != payload:
                    lines[i] = b"data: " + scrubbed + line[len(line.rstrip(b"\r\n")) :]
        return b"".join(lines)


def _redact(text: str, pattern: re.Pattern[bytes]) -> str:
    return pattern.sub(REDACTED.encode(), text.encode()).decode()


def _drop_path(node: Any, parts: list[str]) -> bool:
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list) and head == "*":
        keys = list(range(len(node)))
    else:
        return False
    if not rest and isinstance(node, dict):
        for key in keys:
            del node[key]
        return bool(keys)
    return any([_drop_path(node[key], rest) for key in keys]) if rest else False


def _redact_events(events: Events, pattern: re.Pattern[bytes]) -> Events:
    """Redact across event boundaries; the placeholder goes where a secret starts."""
    joined = b"".join(e for _, e in events)
    spans = [m.span() for m in pattern.finditer(joined)]
    if not spans:
        return events
    result, start = [], 0
    for offset, event in events:
        end, cursor, piece = start + len(event), start, bytearray()
        for s, e in spans:
            if e <= cursor or s >= end:
                continue
            piece += joined[cursor:s] if s > cursor else b""
            piece += REDACTED.encode() if s >= start else b""
            cursor = min(e, end)
        piece += joined[cursor:end]
        if piece:
            result.append((offset, bytes(piece)))
        start = end
    return tuple(result)


# --- writing -------------------------------------------------------------------------------


class Recorder:
    """Appends interactions to cassettes, scrubbed, each save atomic; safe across threads.

    A stream's body is written as its events joined. ``origin`` builds the ``uri`` of a
    request whose ``url`` is empty. The files are read once and then kept in memory.
    """

    def __init__(
        self,
        root: Path,
        scrub: Scrubber,
        *,
        library: CassetteLibrary | None = None,
        origin: str = "https://api.openai.com",
    ) -> None:
        self._root, self._scrub, self._library = root, scrub, library
        self._origin = origin.rstrip("/")
        self._guard = threading.Lock()
        self._locks: dict[Path, threading.Lock] = {}
        self._files: dict[Path, tuple[_Cassette, int]] = {}  # and how many came from disk

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
        when it was first read, as vcrpy does; what this run recorded is kept.
        """
        path, cassette = resolve_name(self._root, name), _normal_name(name)
        secrets = frozenset(secrets)
        req = self._scrub.request(request, secrets)
        resp = self._scrub.response(response, secrets, request_headers=request.headers)
        vcr_request, vcr_response = self._to_vcr(req, resp)
        with self._guard:
            lock = self._locks.setdefault(path, threading.Lock())
        with lock:
            if path not in self._files:
                cached = _read(path, missing_ok=True)
                self._files[path] = (cached, len(cached[0]))
            (requests, responses, metadata), from_disk = self._files[path]
            pairs = list(zip(requests, responses, strict=True))
            if replace:
                key = _vcr_key(vcr_request)
                kept = [p for p in pairs[:from_disk] if _vcr_key(p[0]) != key]
                pairs, from_disk = kept + pairs[from_disk:], len(kept)
            interaction = _interaction(vcr_request, vcr_response, len(pairs), cassette)
            pairs.append((vcr_request, vcr_response))
            requests, responses = [p[0] for p in pairs], [p[1] for p in pairs]
            cassette_dict = {"requests": requests, "responses": responses, "metadata": metadata}
            vcr = _vcr()
            _write_atomic(path, vcr.serialize(cassette_dict, vcr.yamlserializer))
            self._files[path] = ((requests, responses, metadata), from_disk)
        if self._library is not None:
            self._library.add(interaction)
        return interaction

    def _to_vcr(self, req: RecordedRequest, resp: RecordedResponse) -> tuple[Any, dict[str, Any]]:
        uri = req.url or f"{self._origin}{req.path}" + (f"?{req.query}" if req.query else "")
        grouped: dict[str, list[str]] = {}
        spelled: dict[str, str] = {}  # repeated headers go under the first spelling seen
        for key, value in resp.headers:
            grouped.setdefault(spelled.setdefault(key.lower(), key), []).append(value)
        meta: dict[str, str] = {}
        if resp.events is not None:
            meta["events"] = _timing_spec(resp.events)
        if urlsplit(uri).path != req.path:
            meta["path"] = req.path
        response: dict[str, Any] = {
            "status": {"code": resp.status, "message": resp.reason},
            "headers": grouped,
            "body": {"string": resp.body},
            **({"mockllm": meta} if meta else {}),
        }
        return _vcr().Request(req.method, uri, req.body, dict(req.headers)), response


def _vcr_key(request: Any) -> _Key:
    return _match_key(
        request.method, urlsplit(request.uri).path, _body_bytes(request.body), frozenset()
    )


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
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
