"""Request normalisers: what changes from run to run, made equal before requests are compared.

Replay matching compares a request with a recorded one as JSON data. A request that holds a
fresh UUID, the time of day or a temporary folder never equals its recording, so both sides
go through the same ``Normalizer`` first (when recording decides whether a request is new,
and when replaying looks for its answer):

- **ignore** a JSON path: ``user``, ``metadata.session_id``, ``messages[*].name``;
- **rewrite** what a built-in recognises (``uuid``, ``iso_timestamp``, ``epoch``,
  ``temp_path``) or what a user's regex finds, everywhere in the body or only under
  the given paths (``messages[*].content``).

Paths are dotted names with ``[N]`` for a list item and ``*`` (or ``[*]``) for every key or
item. A rewrite reaches every string under the path: a ``content`` made of parts is rewritten
part by part. The files keep what was sent; only the comparison sees the rewritten values.
``apply`` says which normaliser changed which field, so a miss can show it.

The settings come from flags and from a ``mockllm.yaml`` beside the cassettes::

    match:
      ignore: [user, metadata.session_id]
      normalize:
        - uuid                                   # every string of the body
        - builtin: iso_timestamp
          paths: ["messages[*].content"]
        - name: order-number
          regex: "ORD-[0-9]+"
          replace: "ORD-<n>"
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mockllm.errors import ConfigError
from mockllm.regexes import SafeRegex

CONFIG_NAMES = ("mockllm.yaml", "mockllm.yml")
"""The settings file a cassettes folder may hold (never read as a cassette)."""

Step = str | int | None  # a key, an item index, or None for every key or item
JsonPath = tuple[Step, ...]

_STEP = re.compile(r"\[(\*|-?\d+)\]|([^.\[\]]+)")
_TEMP = (
    # pytest's tmp_path: /tmp/pytest-of-USER/pytest-N/TEST0 (macOS: under /private/var/folders)
    r"(?:/private)?/(?:tmp|var/folders/[^/\s]+/[^/\s]+/T)/pytest-of-[^/\s]+/pytest-\d+/[^/\s\"']+"
    # tempfile's: /tmp/tmp and 8 letters or digits, or the same under macOS's /var/folders/…/T
    r"|(?:/private)?/(?:tmp|var/folders/[^/\s]+/[^/\s]+/T)/tmp[a-z0-9_]{8}"
    r"|(?:/private)?/var/folders/[^/\s]+/[^/\s]+/T"
    # Windows: C:\Users\NAME\AppData\Local\Temp, with tempfile's folder when there is one
    r"|[A-Za-z]:\\Users\\[^\\\s]+\\AppData\\Local\\Temp(?:\\tmp[a-z0-9_]{8})?"
)
_BUILTINS: dict[str, tuple[str, str, str]] = {
    # name: (pattern, replacement, what it recognises)
    "uuid": (
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
        "<uuid>",
        "UUIDs (8-4-4-4-12 hex digits)",
    ),
    "iso_timestamp": (
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?",
        "<timestamp>",
        "ISO 8601 date-times (2024-05-01T12:30:00Z, 2024-05-01 12:30:00.123+02:00)",
    ),
    "epoch": (
        r"\b(?:1\d{9}(?:\.\d{1,9})?|1\d{12})\b",
        "<epoch>",
        "Unix times in seconds (10 digits) or milliseconds (13 digits), in text or as numbers",
    ),
    "temp_path": (
        _TEMP,
        "<tmp>",
        "temporary folders: pytest's tmp_path, tempfile's, macOS's /var/folders/.../T, "
        "Windows's AppData\\Local\\Temp (the rest of the path is kept)",
    ),
}
BUILTINS = tuple(_BUILTINS)
"""The built-in normalisers, by name."""


def parse_path(text: str) -> JsonPath:
    """``messages[*].content`` → ``("messages", None, "content")``; ValueError if malformed."""
    source = text.strip().removeprefix("$").removeprefix(".")
    steps: list[Step] = []
    position = 0
    for match in _STEP.finditer(source):
        between = source[position : match.start()]
        if between not in ("", ".") or (between == "" and position and match.group(2)):
            raise ValueError(f"JSON path {text!r} is not valid at {source[position:]!r}")
        index, name = match.groups()
        if index is not None:
            steps.append(None if index == "*" else int(index))
        else:
            steps.append(None if name == "*" else name)
        position = match.end()
    if not steps or position != len(source):
        raise ValueError(
            f"JSON path {text!r} is not valid; write names joined by dots, [N] for an item and"
            " * for every key or item, like messages[*].content or metadata.session_id"
        )
    return tuple(steps)


def _place(where: str, step: str | int) -> str:
    if isinstance(step, int):
        return f"{where}[{step}]"
    return f"{where}.{step}" if where else step


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Rewrite what ``regex`` finds into ``replacement``, under ``paths`` (all: everywhere)."""

    name: str
    regex: SafeRegex = field(compare=False)
    pattern: str
    replacement: str
    paths: tuple[JsonPath, ...] = ()
    numbers: bool = False  # also JSON numbers the regex finds in their text (epoch)

    def text(self, value: str) -> str:
        return self.regex.sub(self.replacement, value)


def builtin(name: str, paths: tuple[JsonPath, ...] = ()) -> Rewrite:
    """The built-in normaliser ``name``; ConfigError naming the valid ones if unknown."""
    if name not in _BUILTINS:
        close = difflib.get_close_matches(name, BUILTINS, 1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown built-in normaliser {name!r}; {hint}valid: {', '.join(BUILTINS)}"
        )
    pattern, replacement, _ = _BUILTINS[name]
    return Rewrite(name, SafeRegex(pattern), pattern, replacement, paths, numbers=name == "epoch")


def regex_rewrite(
    pattern: str, replacement: str, paths: tuple[JsonPath, ...] = (), name: str | None = None
) -> Rewrite:
    """A user's regex rewrite; ConfigError if the regex is invalid or could stall matching."""
    try:
        regex = SafeRegex(pattern)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        regex.sub(replacement, "")
        re.compile(pattern).sub(replacement, "x")  # a bad group reference fails here
    except (re.error, IndexError) as exc:
        raise ConfigError(f"replacement {replacement!r} for regex {pattern!r}: {exc}") from None
    return Rewrite(name or f"regex {pattern!r}", regex, pattern, replacement, paths)


Notes = dict[str, list[str]]
"""Which normalisers changed which field: ``{"messages[0].content": ["uuid"]}``."""


@dataclass(frozen=True, slots=True)
class Normalizer:
    """Ignored paths and rewrites, applied to a parsed body before it is compared."""

    ignore: tuple[JsonPath, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()

    @classmethod
    def build(
        cls,
        ignore: Iterable[str] = (),
        builtins: Iterable[str] = (),
        regexes: Iterable[tuple[str, str]] = (),
    ) -> Normalizer:
        """From flags: paths to ignore, built-ins and (pattern, replacement) pairs for the
        whole body. ConfigError says what is wrong."""
        try:
            paths = tuple(parse_path(p) for p in ignore)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        rewrites = [builtin(name) for name in builtins]
        rewrites += [regex_rewrite(p, r) for p, r in regexes]
        return cls(paths, tuple(rewrites))

    def __bool__(self) -> bool:
        return bool(self.ignore or self.rewrites)

    def __or__(self, other: Normalizer) -> Normalizer:
        return Normalizer(self.ignore + other.ignore, self.rewrites + other.rewrites)

    def apply(self, data: Any) -> tuple[Any, Notes]:
        """``data`` normalised (changed in place where it can be) and what changed where.

        Example::

            >>> uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
            >>> Normalizer.build(builtins=["uuid"]).apply({"q": f"id {uuid}"})
            ({'q': 'id <uuid>'}, {'q': ['uuid']})
        """
        notes: Notes = {}
        for rewrite in self.rewrites:

            def change(value: Any, where: str, rewrite: Rewrite = rewrite) -> Any:
                return _rewritten(value, where, rewrite, notes)

            if rewrite.paths:
                for path in rewrite.paths:
                    data = _at(data, path, "", change)
            else:
                data = change(data, "")
        for path in self.ignore:
            data = _at(data, path, "", _drop)
        return data, notes


_DROPPED = object()


def _drop(value: Any, where: str) -> Any:
    return _DROPPED


def _at(node: Any, path: JsonPath, where: str, change: Callable[[Any, str], Any]) -> Any:
    """``node`` with ``change`` applied to the values at ``path``; a dropped key is removed."""
    if not path:
        return change(node, where)
    step, rest = path[0], path[1:]
    if isinstance(node, dict):
        keys = list(node) if step is None else [step] if str(step) in node else []
        for key in keys:
            key = str(key)
            value = _at(node[key], rest, _place(where, key), change)
            if value is _DROPPED:
                del node[key]
            else:
                node[key] = value
    elif isinstance(node, list):
        if step is None:
            indexes: Iterable[int] = range(len(node))
        elif isinstance(step, int) and -len(node) <= step < len(node):
            indexes = [step % len(node)]
        else:
            indexes = ()
        for i in indexes:
            value = _at(node[i], rest, _place(where, i), change)
            node[i] = None if value is _DROPPED else value  # positions stay comparable
    return node


def _rewritten(value: Any, where: str, rewrite: Rewrite, notes: Notes) -> Any:
    if isinstance(value, str):
        new = rewrite.text(value)
        if new != value:
            notes.setdefault(where or "body", []).append(rewrite.name)
        return new
    if isinstance(value, dict):
        for key in list(value):
            value[key] = _rewritten(value[key], _place(where, key), rewrite, notes)
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = _rewritten(item, _place(where, i), rewrite, notes)
        return value
    if rewrite.numbers and isinstance(value, int | float) and not isinstance(value, bool):
        if rewrite.text(repr(value)) != repr(value):
            notes.setdefault(where or "body", []).append(rewrite.name)
            return rewrite.replacement
    return value


# --- mockllm.yaml -----------------------------------------------------------------------------

_KEYS = ("match",)
_MATCH_KEYS = ("ignore", "normalize")
_REWRITE_KEYS = ("builtin", "regex", "replace", "paths", "name")


def config_file(folder: Path) -> Path | None:
    """The ``mockllm.yaml`` of a cassettes folder, or None."""
    for name in CONFIG_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def for_folder(
    folder: Path,
    ignore: Iterable[str] = (),
    builtins: Iterable[str] = (),
    regexes: Iterable[tuple[str, str]] = (),
) -> Normalizer:
    """The normalisers of a cassettes folder: its ``mockllm.yaml``, then those of the flags."""
    path = config_file(folder)
    from_file = load_config(path) if path is not None else Normalizer()
    return from_file | Normalizer.build(ignore, builtins, regexes)


def load_config(path: Path) -> Normalizer:
    """The normalisers of a ``mockllm.yaml``; ConfigError listing every problem, with lines."""
    from mockllm.errors import ScenarioError
    from mockllm.loader import parse_document

    try:
        data, lines = parse_document(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except ScenarioError as exc:
        raise ConfigError(str(exc)) from None
    problems: list[str] = []

    def fail(where: tuple[Any, ...], message: str) -> None:
        line = lines.line(where)
        dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
        problems.append(f"{path}{f':{line}' if line else ''}: {dotted or '(top)'}: {message}")

    if data is None:
        return Normalizer()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(_KEYS)}")
    _unknown(data, _KEYS, (), fail)
    match = data.get("match") or {}
    if not isinstance(match, dict):
        fail(("match",), f"expected a mapping with {', '.join(_MATCH_KEYS)}")
        match = {}
    _unknown(match, _MATCH_KEYS, ("match",), fail)
    ignore: list[JsonPath] = []
    raw_ignore = match.get("ignore") or []
    if isinstance(raw_ignore, str):
        raw_ignore = [raw_ignore]
    if not isinstance(raw_ignore, list):
        fail(("match", "ignore"), "expected a list of JSON paths, like [user, metadata.trace_id]")
        raw_ignore = []
    for i, item in enumerate(raw_ignore):
        try:
            ignore.append(parse_path(str(item)))
        except ValueError as exc:
            fail(("match", "ignore", i), str(exc))
    rewrites: list[Rewrite] = []
    raw = match.get("normalize") or []
    if not isinstance(raw, list):
        fail(("match", "normalize"), "expected a list of normalisers")
        raw = []
    for i, item in enumerate(raw):
        where = ("match", "normalize", i)
        try:
            rewrites.append(_rewrite_from(item, where, fail))
        except (ConfigError, ValueError) as exc:
            fail(where, str(exc))
        except _Skipped:
            pass
    if problems:
        raise ConfigError(
            f"{path} does not validate ({len(problems)} problem(s)):\n  " + "\n  ".join(problems)
        )
    return Normalizer(tuple(ignore), tuple(rewrites))


class _Skipped(Exception):
    """A normaliser entry whose problem was already reported."""


def _unknown(
    data: dict[str, Any],
    valid: tuple[str, ...],
    where: tuple[Any, ...],
    fail: Callable[[tuple[Any, ...], str], None],
) -> None:
    for key in data:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, 1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            fail((*where, key), f"unknown key {key!r}; {hint}valid keys: {', '.join(valid)}")


def _rewrite_from(
    item: Any, where: tuple[Any, ...], fail: Callable[[tuple[Any, ...], str], None]
) -> Rewrite:
    if isinstance(item, str):
        return builtin(item)
    if not isinstance(item, dict):
        raise ValueError(
            "expected a built-in's name, {builtin: NAME, paths: [...]} or"
            " {regex: PATTERN, replace: TEXT, paths: [...], name: NAME}"
        )
    before = len(item)
    _unknown(item, _REWRITE_KEYS, where, fail)
    if len({k for k in item if k in _REWRITE_KEYS}) != before:
        raise _Skipped
    raw_paths = item.get("paths") or []
    if isinstance(raw_paths, str):
        raw_paths = [raw_paths]
    paths = tuple(parse_path(str(p)) for p in raw_paths)
    if ("builtin" in item) == ("regex" in item):
        raise ValueError("give one of 'builtin' (a built-in's name) or 'regex'")
    if "builtin" in item:
        if "replace" in item:
            raise ValueError("'replace' goes with 'regex'; a built-in has its own replacement")
        return builtin(str(item["builtin"]), paths)
    name = str(item["name"]) if item.get("name") else None
    return regex_rewrite(str(item["regex"]), str(item.get("replace", "")), paths, name)


def describe_builtins() -> list[tuple[str, str, str]]:
    """(name, replacement, what it recognises) of every built-in, for help and docs."""
    return [(name, spec[1], spec[2]) for name, spec in _BUILTINS.items()]
