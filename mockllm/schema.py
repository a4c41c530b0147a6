"""The shape of scenario files as data: one description that both validates and exports.

`check(spec, value, path)` lists every shape problem (wrong type, unknown key with the
closest valid one, missing key, out of range); `json_schema()` turns the same
description into the JSON Schema shipped for editors. `loader.py` compiles what passes.
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Spec:
    doc: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class Str(Spec):
    coerce: bool = False  # accept numbers and booleans, as their text


@dataclass(frozen=True)
class Num(Spec):
    min: float | None = None
    max: float | None = None
    integer: bool = False
    exclusive_min: bool = False


@dataclass(frozen=True)
class Bool(Spec):
    pass


@dataclass(frozen=True)
class Enum(Spec):
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class AnyValue(Spec):
    pass


@dataclass(frozen=True)
class ListOf(Spec):
    item: Spec = field(default_factory=AnyValue)
    min_items: int = 0


@dataclass(frozen=True)
class MapOf(Spec):
    value: Spec = field(default_factory=AnyValue)


@dataclass(frozen=True)
class Headers(Spec):
    """HTTP response headers, name to value: names are tokens, values one line of text,
    and the headers that frame the response are left to the server."""


HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
FRAMING_HEADERS = frozenset(
    ("content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer", "te")
)


@dataclass(frozen=True)
class Obj(Spec):
    fields: dict[str, Spec] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    extra: Spec | None = None  # when set, other keys are allowed with this shape
    name: str | None = None  # a $defs name in the JSON Schema


@dataclass(frozen=True)
class OneOf(Spec):
    options: tuple[Spec, ...] = ()


@dataclass(frozen=True)
class Ref(Spec):
    """A named spec defined in DEFS (for recursion and reuse)."""

    name: str = ""


DEFS: dict[str, Spec] = {}


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    # What YAML's own types make of an unquoted value (`2024-01-01`, `!!binary`, `!!set`)
    if isinstance(value, datetime.datetime):
        return f"a timestamp ({value.isoformat()})"
    if isinstance(value, datetime.date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, set):
        return "a set"
    return f"a {type(value).__name__}"


kind_of = _kind  # a value's type in a message's words ("an integer", "a date (…)")


def _found(spec: Spec, value: object) -> str:
    """`expected …, found …` for a value of the wrong type, with the way out when YAML
    read text as a date (`day: 2024-01-01` is a date; `day: "2024-01-01"` is text)."""
    message = f"expected {_expected(spec)}, found {_kind(value)}"
    if isinstance(value, datetime.date) and "a string" in message:
        message += "; write it in quotes to make it text"
    return message


# The words the other API families use for a key or a value, and the scenario's own word
# for them: a rule written with the Messages API's reference at hand (`stop_reason:
# end_turn`, `usage: {output_tokens}`) is told the name the scenario gives it.
_FAMILY_WORDS = {
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "thinking": "reasoning",
    "stop_reason": "finish_reason",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "tool_use": "tool_calls",
}


def _closest(word: str, names: list[str]) -> str | None:
    same = _FAMILY_WORDS.get(word)
    if same in names:
        return same
    close = difflib.get_close_matches(word, names, 1, 0.6)
    return close[0] if close else None


def _written(value: float) -> str:
    """A bound or a value as written: 3600000, not 3.6e+06; 0.5 as 0.5."""
    if isinstance(value, int):
        return str(value) if value.bit_length() < 128 else f"a number of {len(str(value))} digits"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _expected(spec: Spec) -> str:
    spec = _resolve(spec)
    if isinstance(spec, Str):
        return "a string"
    if isinstance(spec, Num):
        return "an integer" if spec.integer else "a number"
    if isinstance(spec, Bool):
        return "true or false"
    if isinstance(spec, Enum):
        if spec.values == (None,):
            return "null"
        return "one of " + ", ".join(map(str, spec.values))
    if isinstance(spec, ListOf):
        return "a list"
    if isinstance(spec, MapOf | Obj | Headers):
        return "a mapping"
    if isinstance(spec, OneOf):
        return " or ".join(dict.fromkeys(_expected(o) for o in spec.options))
    return "a value"


def _resolve(spec: Spec) -> Spec:
    while isinstance(spec, Ref):
        spec = DEFS[spec.name]
    return spec


def _fits(spec: Spec, value: object) -> bool:
    """Whether the value has the right type for the spec (not checking its insides)."""
    spec = _resolve(spec)
    if isinstance(spec, Str):
        return isinstance(value, str) or (
            spec.coerce and isinstance(value, int | float) and not isinstance(value, bool)
        )
    if isinstance(spec, Num):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return not spec.integer or isinstance(value, int)
    if isinstance(spec, Bool):
        return isinstance(value, bool)
    if isinstance(spec, Enum):
        return value in spec.values
    if isinstance(spec, ListOf):
        return isinstance(value, list)
    if isinstance(spec, MapOf | Obj | Headers):
        return isinstance(value, dict)
    if isinstance(spec, OneOf):
        return any(_fits(o, value) for o in spec.options)
    return True


def dotted(path: Path) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def check(spec: Spec, value: object, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Yield (path, message) for every shape problem of the value."""
    if _validator(spec)(value):
        return
    yield from _problems(_resolve(spec), value, path)


def _problems(spec: Spec, value: object, path: Path) -> Iterator[tuple[Path, str]]:
    """The problems of a value `check` found wrong: what is wrong at this level, and
    `check` again below it."""
    if isinstance(spec, OneOf):
        for option in spec.options:
            if _fits(option, value):
                yield from check(option, value, path)
                return
        # A scalar of an enum's kind that is none of its values: say which values are
        # (`api: anthropic`), not only that a list would have done too.
        for option in map(_resolve, spec.options):
            if isinstance(option, Enum) and any(
                type(value) is type(known) for known in option.values
            ):
                yield path, _unknown_value(option, value)
                return
        yield path, _found(spec, value)
        return
    if not _fits(spec, value):
        if isinstance(spec, Enum):
            yield path, _unknown_value(spec, value)
        else:
            yield path, _found(spec, value)
        return
    if isinstance(spec, Num):
        assert isinstance(value, int | float)
        if isinstance(value, float) and not math.isfinite(value):
            yield path, f"expected a finite number, found {value}"
            return
        if spec.min is not None and (
            value < spec.min or (spec.exclusive_min and value == spec.min)
        ):
            op = ">" if spec.exclusive_min else ">="
            yield path, f"expected a value {op} {_written(spec.min)}, found {_written(value)}"
        if spec.max is not None and value > spec.max:
            yield path, f"expected a value <= {_written(spec.max)}, found {_written(value)}"
    elif isinstance(spec, ListOf):
        assert isinstance(value, list)
        if len(value) < spec.min_items:
            yield path, f"expected at least {spec.min_items} item(s), found {len(value)}"
        for i, item in enumerate(value):
            yield from check(spec.item, item, (*path, i))
    elif isinstance(spec, MapOf):
        assert isinstance(value, dict)
        for key, item in value.items():
            yield from check(spec.value, item, (*path, str(key)))
    elif isinstance(spec, Headers):
        assert isinstance(value, dict)
        for key, item in value.items():
            yield from _check_header(str(key), item, (*path, str(key)))
    elif isinstance(spec, Obj):
        assert isinstance(value, dict)
        for key, item in value.items():
            key = str(key)
            if key in spec.fields:
                yield from check(spec.fields[key], item, (*path, key))
            elif spec.extra is not None:
                yield from check(spec.extra, item, (*path, key))
            else:
                yield (*path, key), unknown_key(key, spec.fields)
        for key in spec.required:
            if key not in value:
                yield path, f"missing required key '{key}'"


# --- a yes/no validator per spec ---------------------------------------------------------
#
# A document is almost always right: `check` first asks a validator compiled from the spec
# (closures, no paths, no messages), and walks the value for its problems only when the
# validator says no. Each validator answers exactly whether `_problems` would find any
# (tests/test_schema.py compares them on every spec with generated values).

Validator = Callable[[object], bool]
_VALIDATORS: dict[int, tuple[Spec, Validator]] = {}  # by id(spec); the spec kept alive
_MAX_VALIDATORS = 4096


def _validator(spec: Spec) -> Validator:
    kept = _VALIDATORS.get(id(spec))
    if kept is not None:
        return kept[1]
    if len(_VALIDATORS) >= _MAX_VALIDATORS:
        _VALIDATORS.clear()
    made: list[Validator] = []  # filled below; a spec that refers to itself waits for it
    _VALIDATORS[id(spec)] = (spec, lambda value: made[0](value))
    made.append(_compile(spec))
    _VALIDATORS[id(spec)] = (spec, made[0])
    return made[0]


def _compile(spec: Spec) -> Validator:  # noqa: C901 - one branch per kind of spec
    if isinstance(spec, Ref):
        return _validator(_resolve(spec))
    if isinstance(spec, OneOf):
        options = [(option, _validator(option)) for option in spec.options]

        def one_of(value: object) -> bool:
            for option, valid in options:
                if _fits(option, value):
                    return valid(value)
            return False

        return one_of
    if isinstance(spec, Str):
        if spec.coerce:
            return lambda value: (
                isinstance(value, str)
                or (isinstance(value, int | float) and not isinstance(value, bool))
            )
        return lambda value: isinstance(value, str)
    if isinstance(spec, Num):
        return _number(spec)
    if isinstance(spec, Bool):
        return lambda value: isinstance(value, bool)
    if isinstance(spec, Enum):
        values = spec.values
        return lambda value: value in values
    if isinstance(spec, ListOf):
        item, least = _validator(spec.item), spec.min_items
        return lambda value: (
            isinstance(value, list) and len(value) >= least and all(map(item, value))
        )
    if isinstance(spec, MapOf):
        each = _validator(spec.value)
        return lambda value: isinstance(value, dict) and all(map(each, value.values()))
    if isinstance(spec, Headers):
        return lambda value: (
            isinstance(value, dict)
            and not any(True for k, v in value.items() for _ in _check_header(str(k), v, ()))
        )
    if isinstance(spec, Obj):
        return _object(spec)
    return lambda value: True  # AnyValue: any value fits


def _number(spec: Num) -> Validator:
    low, high, exclusive, integer = spec.min, spec.max, spec.exclusive_min, spec.integer

    def number(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if integer and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if low is not None and (value < low or (exclusive and value == low)):
            return False
        return high is None or not value > high

    return number


def _object(spec: Obj) -> Validator:
    fields = {key: _validator(field_spec) for key, field_spec in spec.fields.items()}
    extra = _validator(spec.extra) if spec.extra is not None else None
    required = spec.required

    def obj(value: object) -> bool:
        if not isinstance(value, dict):
            return False
        for key, item in value.items():
            valid = fields.get(key if type(key) is str else str(key))
            if valid is None:
                if extra is None:
                    return False
                valid = extra
            if not valid(item):
                return False
        return all(key in value for key in required)

    return obj


def _check_header(name: str, value: object, path: Path) -> Iterator[tuple[Path, str]]:
    if not HEADER_NAME.fullmatch(name):
        yield (
            path,
            (
                f"invalid header name {name!r}: letters, digits and !#$%&'*+-.^_`|~ only, "
                "no spaces or colons"
            ),
        )
    elif name.lower() in FRAMING_HEADERS:
        yield path, f"header '{name}' frames the response: the server sets it"
    elif name.lower() == "content-type":  # a second one would contradict the server's
        yield (
            path,
            (
                f"header '{name}' says what the body is (JSON, or an event stream): the server"
                " sets it"
            ),
        )
    if not _fits(Str(coerce=True), value):
        yield path, _found(Str(), value)
    elif HEADER_VALUE_FORBIDDEN.search(str(value)):
        yield (
            path,
            "invalid header value: control characters (such as a line break) are not allowed",
        )


def unknown_key(key: str, valid: Any) -> str:
    names = list(valid)
    odd = sorted({c for c in key if (c.isspace() or c in _INVISIBLE) and c not in " \t"})
    if odd:  # pasted from a web page: a no-break space is no indentation to YAML
        spelled = ", ".join(f"U+{ord(c):04X}" for c in odd)
        shown = key.encode("ascii", "backslashreplace").decode()
        close = _closest(key.strip("".join(odd) + " \t"), names)
        hint = f"; did you mean '{close}'? " if close else "; "
        return (
            f"unknown key '{shown}': it holds {spelled}, which YAML reads as part of the key,"
            f" not as a space{hint}valid keys: {', '.join(names)}"
        )
    close = _closest(key, names)
    hint = f"; did you mean '{close}'? " if close else "; "
    return f"unknown key '{key}'{hint}valid keys: {', '.join(names)}"


_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")  # zero-width: no isspace()


def _unknown_value(spec: Enum, value: object) -> str:
    close = _closest(str(value), [str(v) for v in spec.values])
    hint = f"; did you mean '{close}'? " if close else "; "
    return f"unknown value {value!r}{hint}valid: {', '.join(map(str, spec.values))}"


def to_json_schema(spec: Spec) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one spec."""
    out: dict[str, Any]
    if isinstance(spec, Ref):
        out = {"$ref": f"#/$defs/{spec.name}"}
    elif isinstance(spec, Str):
        out = {"type": ["string", "number"]} if spec.coerce else {"type": "string"}
    elif isinstance(spec, Num):
        out = {"type": "integer" if spec.integer else "number"}
        if spec.min is not None:
            out["exclusiveMinimum" if spec.exclusive_min else "minimum"] = spec.min
        if spec.max is not None:
            out["maximum"] = spec.max
    elif isinstance(spec, Bool):
        out = {"type": "boolean"}
    elif isinstance(spec, Enum):
        out = {"enum": list(spec.values)}
    elif isinstance(spec, ListOf):
        out = {"type": "array", "items": to_json_schema(spec.item)}
        if spec.min_items:
            out["minItems"] = spec.min_items
    elif isinstance(spec, MapOf):
        out = {"type": "object", "additionalProperties": to_json_schema(spec.value)}
    elif isinstance(spec, Headers):
        out = {
            "type": "object",
            "propertyNames": {
                "pattern": f"^{HEADER_NAME.pattern}$",
                "not": {"enum": sorted(FRAMING_HEADERS)},
            },
            "additionalProperties": {
                "type": ["string", "number"],
                "pattern": r"^[^\u0000-\u0008\u000a-\u001f\u007f]*$",
            },
        }
    elif isinstance(spec, Obj):
        out = {
            "type": "object",
            "properties": {k: to_json_schema(v) for k, v in spec.fields.items()},
            "additionalProperties": to_json_schema(spec.extra) if spec.extra else False,
        }
        if spec.required:
            out["required"] = list(spec.required)
    elif isinstance(spec, OneOf):
        out = {"anyOf": [to_json_schema(o) for o in spec.options]}
    else:
        out = {}
    if spec.doc and "$ref" not in out:
        out["description"] = spec.doc
    return out


def json_schema(root: Spec, title: str) -> dict[str, Any]:
    """A complete JSON Schema document with every named spec under $defs."""
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **to_json_schema(root),
        "$defs": {name: to_json_schema(spec) for name, spec in sorted(DEFS.items())},
    }
    return document
