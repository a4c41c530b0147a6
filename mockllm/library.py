"""The cassette library: every recorded interaction of a folder, indexed for replay.

A request finds its recorded answer by method, API family (or path) and body compared as
JSON data after the normalisers (``normalize.py``); repeated requests replay their answers
in order; a request no interaction matches gets a miss that names the nearest recorded
request and every field that differs, with the normalisers that rewrote it.

The API's other calls (a route: ``GET /v1/models``, a stored response, a token count) are
found by method, path, query and normalised body, and never miss: the server's own route
answers a request none matches. Interactions that are neither (other paths and hosts that
a user's test suite recorded too) are counted and left out; files that cannot be read stop
the load, or are listed and left out when asked.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from mockllm.cassettes import (
    Cassette,
    CassetteError,
    Interaction,
    RecordedRequest,
    cassette_files,
    family_of,
    is_api_path,
    normal_name,
    read_cassette,
)
from mockllm.normalize import Normalizer, Notes

logger = logging.getLogger("mockllm.cassettes")

_MAX_DIFF = 20
_Key = tuple[str, str, bytes]  # method, family (or path), canonical body
# a recorded request as `_nearest` compares it: route, fields as JSON, messages as JSON
# (whole and each)
_Profile = tuple[tuple[str, str], dict[str, bytes] | None, bytes, list[bytes]]


PARALLEL_BYTES = 4 << 20  # cassette text per process reading it, at least
MAX_READERS = 8
# Set by a process mockllm owns (server.prepare_loading): only such a process forks readers.
parallel_reads = False


def read_files(files: list[Path], names: list[str]) -> list[Cassette | CassetteError]:
    """Each cassette file read, or why it cannot be; in parallel processes for a large folder.

    Parsing YAML is most of the start with thousands of recorded interactions (10,000:
    1.9 s in one process). A folder of twice PARALLEL_BYTES or more (8 MB) is shared out
    by size between up to one process per core, PARALLEL_BYTES each at least (forked, so
    they start at once), this one reading its share too; the others send theirs back
    pickled (a tenth of what parsing costs).
    Only a process mockllm owns forks (the CLI, a worker: never a host's test process that
    embeds the server), and only while it has no other thread; a process that fails leaves
    its files to this one.
    """
    pairs = list(zip(files, names, strict=True))
    sizes = [_size(path) for path in files]
    shares = _shares(pairs, sizes, _readers(sum(sizes)))
    if len(shares) == 1:
        return _read_share(pairs)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(len(shares) - 1, mp_context=context) as pool:
        futures = [pool.submit(_read_share, share) for share in shares[1:]]
        read = _read_share(shares[0])
        for share, future in zip(shares[1:], futures, strict=True):
            try:
                read.extend(future.result())
            except BrokenProcessPool:
                read.extend(_read_share(share))
    return read


def _readers(total: int) -> int:
    if not parallel_reads or total < 2 * PARALLEL_BYTES or threading.active_count() > 1:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover - not POSIX
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, total // PARALLEL_BYTES, MAX_READERS))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # read_cassette says why


def _shares(
    pairs: list[tuple[Path, str]], sizes: list[int], count: int
) -> list[list[tuple[Path, str]]]:
    """`pairs` cut in order into `count` runs of about the same size (none empty)."""
    if count <= 1 or len(pairs) < 2:
        return [pairs]
    total, filled = sum(sizes), 0
    shares: list[list[tuple[Path, str]]] = []
    current: list[tuple[Path, str]] = []
    for pair, size in zip(pairs, sizes, strict=True):
        current.append(pair)
        filled += size
        if filled >= total * (len(shares) + 1) / count and len(shares) < count - 1:
            shares.append(current)
            current = []
    if current:
        shares.append(current)
    return shares


def _read_share(pairs: list[tuple[Path, str]]) -> list[Cassette | CassetteError]:
    read: list[Cassette | CassetteError] = []
    for path, name in pairs:
        try:
            read.append(read_cassette(path, name))
        except CassetteError as exc:
            read.append(exc)
    return read


@dataclass(frozen=True, slots=True)
class Miss:
    """No recorded interaction matches: the nearest one and how the request differs from it."""

    cassette: str | None
    nearest: Interaction | None
    diff: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A cassette file that could not be read, and why."""

    file: str
    reason: str


# Query parameters a route call is matched without: each selects only what the call does
# anyway, and clients send it or not. The anthropic SDK put beta=true on its beta calls'
# URLs (count_tokens recorded as .../count_tokens?beta=true) and later versions send the
# same call without it. The openai SDK sends stream=false on a stored response's retrieve
# only when the caller passes stream=False (background polls recorded as
# .../responses/{id}?stream=false), and nothing otherwise: false is the API's default.
_MOOT = frozenset({("beta", "true"), ("stream", "false")})


def is_replayable(request: RecordedRequest) -> bool:
    """Whether a recorded request is an LLM API call a client can make again here."""
    return request.method == "POST" and family_of(request.path) is not None


def is_route_call(request: RecordedRequest) -> bool:
    """Whether a recorded request is another call on an API path (a route: models, stored
    responses, token counts, conversations), which a replay answers before the route does."""
    return is_api_path(request.path) and not is_replayable(request)


class CassetteLibrary:
    """Every interaction of a cassettes folder, indexed for replay; safe to share across threads.

    Identical requests (after the normalisers) replay their recorded interactions in order;
    once all were played, the last one repeats (``repeat_last=True``) or the request misses.
    Requests naming a cassette count their replays apart from those matched against every
    cassette. Recorded bodies are scrubbed: a request that still holds a secret will not match.
    """

    def __init__(
        self,
        interactions: Iterable[Interaction] = (),
        *,
        ignore_fields: Iterable[str] = (),
        normalizer: Normalizer | None = None,
        repeat_last: bool = True,
        existing: Iterable[str] = (),
        skipped: int = 0,
        unreadable: Iterable[Unreadable] = (),
    ) -> None:
        self.normalizer = Normalizer.build(ignore=ignore_fields) | (normalizer or Normalizer())
        self.skipped = skipped
        self.unreadable = tuple(unreadable)
        self._repeat_last = repeat_last
        self._existing = set(existing)
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str | None, _Key], list[Interaction]] = defaultdict(list)
        self._by_cassette: dict[str, list[Interaction]] = defaultdict(list)
        self._plays: Counter[tuple[str | None, _Key]] = Counter()
        self._routes = 0  # how many of the interactions are route calls
        # what `_nearest` compares of each recorded request, by the interaction's id
        self._profiles: dict[int, tuple[Interaction, _Profile]] = {}
        # the keys by their bodies' numbers read as JSON reads them (1.0 is 1), made on the
        # first request whose key is not recorded
        self._loose: dict[tuple[str | None, _Key], tuple[str | None, _Key]] | None = None
        # Set to a shared state store's counter (`StateStore.incr`), replays are counted
        # across every process sharing it, when the count matters (several recordings).
        self.count_play: Callable[[str], int] | None = None
        for interaction in interactions:
            self.add(interaction)

    @classmethod
    def load(
        cls,
        root: Path,
        ignore_fields: Iterable[str] = (),
        *,
        normalizer: Normalizer | None = None,
        repeat_last: bool = True,
        skip_unreadable: bool = False,
    ) -> CassetteLibrary:
        """Load every cassette under ``root`` (``*.yaml``, ``*.yml``, ``*.json``).

        A folder not created yet holds none. Files that cannot be read raise one
        CassetteError naming each of them, or with ``skip_unreadable`` are left out, each
        with a warning, and listed in ``unreadable``. Files are only read, never written.
        """
        if root.exists() and not root.is_dir():
            raise CassetteError(f"{root}: the cassettes folder is a file, not a folder")
        files = cassette_files(root)
        names = [p.relative_to(root).as_posix() for p in files]
        loaded: list[Interaction] = []
        unreadable: list[Unreadable] = []
        skipped = 0
        for name, cassette in zip(names, read_files(files, names), strict=True):
            if isinstance(cassette, CassetteError):
                unreadable.append(Unreadable(name, str(cassette)))
                continue
            for interaction in cassette.interactions:
                if is_replayable(interaction.request) or is_route_call(interaction.request):
                    loaded.append(interaction)
                else:
                    skipped += 1
                    logger.debug(
                        "cassette=%s interaction=%d skipped: %s %s is not an API call",
                        name,
                        interaction.index,
                        interaction.request.method,
                        interaction.request.url or interaction.request.path,
                    )
        if unreadable and not skip_unreadable:
            listed = "\n  ".join(u.reason for u in unreadable)
            raise CassetteError(
                f"{len(unreadable)} cassette file(s) under {root} cannot be read (start with"
                f" --cassettes-skip-unreadable to serve the others):\n  {listed}"
            )
        for item in unreadable:
            logger.warning("cassette skipped, it cannot be read: %s", item.reason)
        count = f"cassettes={len(names) - len(unreadable)} interactions={len(loaded)}"
        logger.info(
            "cassettes loaded folder=%s %s skipped=%d unreadable=%d",
            root,
            count,
            skipped,
            len(unreadable),
        )
        return cls(
            loaded,
            ignore_fields=ignore_fields,
            normalizer=normalizer,
            repeat_last=repeat_last,
            existing=[n for n in names if n not in {u.file for u in unreadable}],
            skipped=skipped,
            unreadable=unreadable,
        )

    def add(self, interaction: Interaction) -> None:
        """Make ``interaction`` replayable, after those already known for the same request."""
        key = self.key_of(interaction.request)
        is_route = is_route_call(interaction.request)
        with self._lock:
            self._by_key[(None, key)].append(interaction)
            self._by_key[(interaction.cassette, key)].append(interaction)
            self._by_cassette[interaction.cassette].append(interaction)
            self._routes += is_route
            if self._loose is not None:  # kept up to date once made (a recording adds many)
                for recorded in ((None, key), (interaction.cassette, key)):
                    self._loose.setdefault(_loosened(recorded), recorded)

    def key_of(self, request: RecordedRequest) -> _Key:
        """What a request is matched by: method, family (or path), normalised body; a route
        call's by method, path and query, normalised body."""
        if is_route_call(request):
            return self._route_key(request.method, request.path, request.query, request.body)
        return self._key(request.method, request.path, request.body)

    def _route_key(self, method: str, path: str, query: str, body: bytes) -> _Key:
        # Parameters in any order: SDK versions differ in the order they send them. And
        # without those that select nothing (_MOOT).
        pairs = sorted(p for p in parse_qsl(query, keep_blank_values=True) if p not in _MOOT)
        where = (path.rstrip("/") or "/") + ("?" + urlencode(pairs) if pairs else "")
        return (method.upper(), where, self._key(method, path, body)[2])

    def _key(self, method: str, path: str, body: bytes) -> _Key:
        data, _ = self._normalized(body)
        try:
            canonical = b"bytes:" + body if data is None else b"json:" + _dump(data)
        except orjson.JSONEncodeError:  # nested past what orjson writes: kept as sent
            canonical = b"bytes:" + body
        return (*_route(method, path), canonical)

    def _normalized(self, body: bytes) -> tuple[Any, Notes]:
        data = _parse_json(body)
        if data is None:
            if not self.normalizer.rewrites or not body:
                return None, {}
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                return None, {}
            normal, notes = self.normalizer.apply(text)
            return (normal, notes) if normal != text else (None, {})
        return self.normalizer.apply(data)

    def __len__(self) -> int:
        """How many interactions are loaded."""
        with self._lock:
            return sum(len(group) for group in self._by_cassette.values())

    def summary(self) -> dict[str, Any]:
        """What was loaded, for the health endpoint: counts and the files left out."""
        with self._lock:
            files = len(self._existing | set(self._by_cassette))
        return {
            "files": files,
            "interactions": len(self),
            "skipped": self.skipped,
            "unreadable": [{"file": u.file, "reason": u.reason} for u in self.unreadable],
        }

    def counts(self) -> dict[str, int]:
        """Interactions loaded per cassette name."""
        with self._lock:
            return {name: len(group) for name, group in sorted(self._by_cassette.items())}

    def has_routes(self) -> bool:
        """Whether any route call (``is_route_call``) is loaded."""
        with self._lock:
            return self._routes > 0

    def has_calls(self) -> bool:
        """Whether any LLM API call (a family's POST) is loaded."""
        return len(self) > self._routes

    def existed(self, name: str) -> bool:
        """Whether cassette ``name`` was on disk at load: ``cassette_exists`` of should_record."""
        return normal_name(name) in self._existing

    def erase(self, name: str) -> None:
        """Forget cassette ``name`` (its file is being recorded again from nothing)."""
        name = normal_name(name)
        with self._lock:
            self._existing.discard(name)
            dropped = self._by_cassette.pop(name, [])
            self._routes -= sum(is_route_call(i.request) for i in dropped)
            for key in list(self._by_key):
                group = [i for i in self._by_key[key] if i.cassette != name]
                if group:
                    self._by_key[key] = group
                else:
                    del self._by_key[key]
                    self._plays.pop(key, None)
            self._profiles.clear()
            self._loose = None

    def reset(self) -> None:
        """Rewind: the next request replays the first recorded answer again."""
        with self._lock:
            self._plays.clear()

    def find(
        self, method: str, path: str, body: bytes, cassette: str | None = None
    ) -> Interaction | Miss:
        """The interaction to replay for this request, or a Miss naming the nearest one."""
        scope = None if cassette is None else normal_name(cassette)
        key = (scope, self._key(method, path, body))
        with self._lock:
            found = self._take(key) or self._take_loosely(key)
            if found is not None:
                return found
            pool = [i for group in self._by_cassette.values() for i in group]
            if scope is not None:
                pool = list(self._by_cassette.get(scope, ()))
        if self._routes:  # a route call is never the nearest to an LLM API call
            pool = [i for i in pool if not is_route_call(i.request)]
        if scope is not None and not pool:
            known = ", ".join(sorted(self._by_cassette)) or "none"
            return Miss(
                scope, None, (f"cassette {scope!r} holds no interactions; loaded: {known}",)
            )
        nearest = self._nearest(pool, method, path, body)
        if nearest is None:
            return Miss(scope, None, ("no interactions are recorded",))
        return Miss(scope, nearest, self._diff_request(nearest.request, method, path, body))

    def holds(self, method: str, path: str, body: bytes, cassette: str | None = None) -> bool:
        """Whether a recording answers this request (nothing is played: see `find`)."""
        scope = None if cassette is None else normal_name(cassette)
        key = (scope, self._key(method, path, body))
        with self._lock:
            return bool(self._by_key.get(key) or self._by_key.get(self._recorded_as(key)))

    def find_route(
        self, method: str, path: str, query: str, body: bytes, cassette: str | None = None
    ) -> Interaction | Miss | None:
        """The interaction to replay for a route call, a Miss when all its recorded answers
        were replayed (and the last is not repeated), or None when none is recorded. A
        family's call on a path no endpoint serves (Azure OpenAI's) is matched by its family,
        as a family's call on its own path is."""
        scope = None if cassette is None else normal_name(cassette)
        request = RecordedRequest(method.upper(), path, query, body=body)
        key = (scope, self.key_of(request))
        with self._lock:
            return self._take(key)

    def _take_loosely(self, key: tuple[str | None, _Key]) -> Interaction | Miss | None:
        """The next recorded answer to a request recorded with its numbers written another
        way (`"temperature": 1.0` for 1, as one client or serializer writes what another
        does not), or None (under the lock)."""
        recorded = self._recorded_as(key)
        return None if recorded == key else self._take(recorded)

    def _recorded_as(self, key: tuple[str | None, _Key]) -> tuple[str | None, _Key]:
        """The recorded key whose body differs from ``key``'s only in how its numbers are
        written, else ``key`` (under the lock)."""
        loose = _loosened(key)
        if self._loose is None:
            self._loose = {}
            for recorded in self._by_key:
                self._loose.setdefault(_loosened(recorded), recorded)
        return self._loose.get(loose, key)

    def _take(self, key: tuple[str | None, _Key]) -> Interaction | Miss | None:
        """The next recorded answer to the request of ``key`` (under the lock), or None."""
        found = self._by_key.get(key)
        if not found:
            return None
        if self.count_play is not None and (len(found) > 1 or not self._repeat_last):
            name = hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()
            played = self.count_play(f"replay:{name}")
        else:
            played = self._plays[key]
            self._plays[key] = played + 1
        if played < len(found) or self._repeat_last:
            return found[min(played, len(found) - 1)]
        used = f"all {len(found)} recorded answers to this request were replayed already"
        return Miss(key[0], found[-1], (f"{used}; reset to replay them again",))

    def _nearest(
        self, pool: list[Interaction], method: str, path: str, body: bytes
    ) -> Interaction | None:
        """The recorded request closest to this one: the same route, then the most equal
        fields, then the most equal messages in order, then the closest wording. The last
        (the only costly one) is worked out only among those level on the others, and
        each recorded body is read once for all misses."""
        sent, _ = self._normalized(body)
        route = _route(method, path)
        fields = {k: _dump(v) for k, v in sent.items()} if isinstance(sent, dict) else None
        new = _turns(sent)
        new_each = [_dump(m) for m in new]
        best: list[Interaction] = []
        best_score: tuple[int, int, int] | None = None
        for interaction in pool:
            recorded_route, recorded, _, old_each = self._profile(interaction)
            same_route = int(recorded_route == route)
            if fields is None or recorded is None:
                score = (same_route, int(interaction.request.body == body), 0)
            else:
                equal = sum(recorded.get(k) == v for k, v in fields.items())
                same_messages = sum(a == b for a, b in zip(old_each, new_each, strict=False))
                score = (same_route, equal, same_messages)
            if best_score is None or score > best_score:
                best, best_score = [interaction], score
            elif score == best_score:
                best.append(interaction)
        if len(best) <= 1 or fields is None:
            return best[0] if best else None  # the first of equals: the earliest recorded
        # The closest wording: one changed word should not lose to a different question.
        matcher = SequenceMatcher(None, b"", _dump(new), autojunk=False)
        likeness = []
        for interaction in best:
            matcher.set_seq1(self._profile(interaction)[2])
            likeness.append(matcher.quick_ratio())
        return best[likeness.index(max(likeness))]

    def _profile(self, interaction: Interaction) -> _Profile:
        """What `_nearest` compares of a recorded request, worked out once."""
        kept = self._profiles.get(id(interaction))
        if kept is not None and kept[0] is interaction:
            return kept[1]
        request = interaction.request
        recorded, _ = self._normalized(request.body)
        if isinstance(recorded, dict):
            old = _turns(recorded)
            profile: _Profile = (
                _route(request.method, request.path),
                {k: _dump(v) for k, v in recorded.items()},
                _dump(old),
                [_dump(m) for m in old],
            )
        else:
            profile = (_route(request.method, request.path), None, b"", [])
        self._profiles[id(interaction)] = (interaction, profile)
        return profile

    def _diff_request(
        self, recorded: RecordedRequest, method: str, path: str, body: bytes
    ) -> tuple[str, ...]:
        lines: list[str] = []
        if recorded.method != method.upper():
            lines.append(f"method: recorded {recorded.method!r} != sent {method.upper()!r}")
        if _route("", recorded.path) != _route("", path):
            lines.append(f"path: recorded {recorded.path!r} != sent {path!r}")
        (old, old_notes), (new, new_notes) = self._normalized(recorded.body), self._normalized(body)
        if old is None or new is None:
            if recorded.body != body:
                lines.append(f"body: recorded {_short(recorded.body)} != sent {_short(body)}")
        else:
            notes = {
                k: [*old_notes.get(k, []), *new_notes.get(k, [])] for k in {*old_notes, *new_notes}
            }
            _diff(old, new, "", lines, notes)
        if len(lines) > _MAX_DIFF:
            lines[_MAX_DIFF:] = [f"... and {len(lines) - _MAX_DIFF} more differences"]
        return tuple(lines)


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return None


def _turns(body: Any) -> list[Any]:
    """What a request says, in order, for the nearest miss: chat's and Anthropic's
    ``messages``, the legacy Completions API's ``prompt`` (a string is one)."""
    if not isinstance(body, dict):
        return []
    if "messages" in body:
        messages = body["messages"]
        return messages if isinstance(messages, list) else []
    prompt = body.get("prompt")  # the Responses API's is an object: not what was said
    return [prompt] if isinstance(prompt, str) else prompt if isinstance(prompt, list) else []


def _route(method: str, path: str) -> tuple[str, str]:
    """Requests of one API family match whatever path prefix a gateway or SDK put before it."""
    family = family_of(path)
    return method.upper(), family if family is not None else (path.rstrip("/") or "/")


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _loosened(key: tuple[str | None, _Key]) -> tuple[str | None, _Key]:
    """``key`` with its JSON body's whole numbers written one way (1.0 as 1); the same
    key when its body has none written as a fraction."""
    scope, (method, where, canonical) = key
    if not canonical.startswith(b"json:") or b"." not in canonical:
        return key
    try:
        value = orjson.loads(canonical[5:])
    except orjson.JSONDecodeError:
        return key
    loose = _dump(_whole(value))
    return key if loose == canonical[5:] else (scope, (method, where, b"json:" + loose))


def _whole(value: Any) -> Any:
    """``value`` with every float that is a whole number an int (JSON has one number type:
    the APIs read 1.0 and 1 alike)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def _diff(old: Any, new: Any, where: str, lines: list[str], notes: Notes) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*new, *(k for k in old if k not in new)]:
            at = f"{where}.{key}" if where else str(key)
            if key not in old:
                lines.append(f"{at}: not recorded, sent {_short(new[key])}")
            elif key not in new:
                lines.append(f"{at}: recorded {_short(old[key])}, not sent")
            else:
                _diff(old[key], new[key], at, lines, notes)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            lines.append(f"{where}: recorded {len(old)} items != sent {len(new)} items")
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            _diff(a, b, f"{where}[{i}]", lines, notes)
    elif _dump(old) != _dump(new):
        line = f"{where or 'body'}: recorded {_short(old)} != sent {_short(new)}"
        names = list(dict.fromkeys(notes.get(where or "body", ())))
        if names:
            line += f" (normalised by {', '.join(names)})"
        lines.append(line)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str | bytes) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."
