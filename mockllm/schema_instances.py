"""Build a JSON value that a given JSON Schema accepts.

This is the engine behind `fake.instance_from_schema`. It knows JSON Schema (draft 2020-12,
plus the draft-7 and OpenAPI spellings pydantic and OpenAI emit) and nothing about faker:
plausible text comes from a `TextSource` that `fake.py` passes in.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
import string
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from fractions import Fraction
from functools import lru_cache
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import unquote

import orjson

from mockllm.cache import Memo
from mockllm.described_bounds import with_described_bounds

Schema = dict[str, Any]
TextSource = Callable[[str, random.Random], str]
"""Plausible text of a kind: a property name ("city"), a format ("email", "url",
"hostname"), "word" for one word, or "" for a few words."""

MAX_DEPTH = 4  # from this nesting on, optional content is left out


class Nested(dict[str, "Hint"]):
    """A hint for an object property: values read from the prompt for its own properties
    ("…lives at 221B Baker Street, London": an address's street and city)."""


class Records(tuple[Nested, ...]):
    """A hint for an array of objects: the values read from the prompt for each item, in
    order ("Alice is 30, Bob is 25": a name and an age for each of two items)."""


# A value read from the prompt for a top-level property; a list of records for an array of
# objects ("2 apples and 3 pears": [{"name": "apples", "quantity": 2}, …]); a Count for an
# array of as many items as the prompt asks for; Nested values for an object's properties,
# Records for each object of an array.
Hint = str | bool | int | float | list[str] | list[dict[str, str | int | float]] | Nested | Records


class Count(int):
    """A hint for an array: the number of items the prompt asks for ("Generate 3 hero
    descriptions"), each drawn from the array's items schema."""


_HARD_DEPTH = 16  # a schema that requires itself without end gets null here
_MAX_REF_HOPS = 32  # $ref chains that never reach a schema ("A" -> "B" -> "A")
_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
WIDE_RANGE = 10_000  # numeric ranges wider than this are drawn from a plausible window
_NOTES = frozenset({"type", "title", "description", "$comment"})
_LETTERS = string.ascii_letters
_ALPHABET = string.ascii_letters + string.digits + " _-.,:;!?@#/"
_START = datetime(2000, 1, 1)
_MOMENTS = {"date-time": "%Y-%m-%dT%H:%M:%SZ", "date": "%Y-%m-%d", "time": "%H:%M:%SZ"}
# The shortest values of a format that read as one, for a maxLength the usual ones pass.
_SHORT_FORMS = {
    **dict.fromkeys(("email", "idn-email"), "{}@{}.io"),
    **dict.fromkeys(("uri", "url", "iri"), "https://{}{}.io"),
    **dict.fromkeys(("hostname", "idn-hostname"), "{}{}.io"),
}


def build_instance(
    schema: object,
    rng: random.Random,
    text: TextSource,
    hints: dict[str, Hint] | None = None,
) -> Any:
    """A JSON value valid against `schema`, drawn from `rng` (the same `rng` state, the same value).

    It reads as a model's answer: every property of the outer objects is there, `examples`
    and `default` are used often, numbers sit where values of that name usually do, and the
    bounds a client wrote into a description are kept (`described_bounds`).
    `hints` are values for top-level string properties (read from a prompt), used where
    the property's schema accepts them.

    Example:
        build_instance({"type": "integer", "minimum": 3}, random.Random(1), text) -> 21
    """
    schema = _readable(schema)
    return _Builder(schema, rng, text, hints or {}, None).value(schema, 0, "")


def checked_instance(
    schema: object,
    rng: random.Random,
    text: TextSource,
    hints: dict[str, Hint] | None = None,
) -> Any:
    """`build_instance` of a schema that `check_schema` passes; ValueError with its problem.

    An app sends the same tool schemas with every request. The first schema of a JSON text
    is kept with what was worked out for each of its parts (types, usable examples, bounds,
    property lists) and answers for the same text after: the same value, from the same
    draws, as `build_instance` of the schema sent.
    """
    kept = _kept(schema)
    if kept.problem is not None:
        raise ValueError(kept.problem)
    builder = _Builder(kept.schema, rng, text, hints or {}, kept)
    return builder.value(kept.schema, 0, "")


def check_schema(schema: object) -> str | None:
    """Why `build_instance` cannot serve `schema` (bad shape, unresolvable $ref), or None.

    Run it on every schema from outside first: `build_instance` trusts what passed. The
    verdict on a schema is kept by its JSON text (keys in the order sent, so the same
    problem is named first).
    """
    return _kept(schema).problem


class _Kept:
    """A schema as first sent, its verdict, and the facts of its parts by `id` (the kept
    schema holds every part alive, so no id is reused while it is kept)."""

    __slots__ = ("schema", "problem", "facts", "parts")

    def __init__(self, schema: object, problem: str | None, parts: frozenset[int]) -> None:
        self.schema = schema
        self.problem = problem
        self.facts: dict[int, _Facts] = {}
        self.parts = parts  # ids of the schema's objects: only they are kept by id


def _kept(schema: object) -> _Kept:
    try:
        key = orjson.dumps(schema)
    except (orjson.JSONEncodeError, TypeError):  # not JSON (a test's value): not kept
        return _Kept(schema, _check_node(schema, schema, ""), frozenset())
    kept = _CHECKED.get(key)
    if kept is None:
        schema = _readable(schema)
        kept = _Kept(schema, _check_node(schema, schema, ""), frozenset(_parts(schema)))
        _CHECKED.put(key, kept, _KEPT_BYTES * len(key))
    return kept


def _readable(schema: object) -> object:
    """`schema` with the bounds its descriptions carry, unless they make it one that
    `build_instance` cannot serve (a pattern that does not compile): then as sent."""
    described = with_described_bounds(schema)
    if described is not schema and _check_node(described, described, ""):
        return schema
    return described


def _parts(node: object) -> list[int]:
    """The ids of the dicts inside a schema (itself included)."""
    out: list[int] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.append(id(item))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


# A kept schema (its JSON text, its objects, the facts of its parts) takes about 25 bytes
# of memory a byte of JSON (measured with tracemalloc: 24-37 x, from 1 KB to 100 KB of
# schema). The memo counts it so, to stay within about 32 MB; a schema of more than 320 KB
# of JSON is checked and walked anew each time instead of kept.
_KEPT_BYTES = 25
_CHECKED: Memo[bytes, _Kept] = Memo(256, max_bytes=32 << 20)


# Where subschemas sit, and what the keywords `build_instance` reads must hold.
_SUBSCHEMA = (
    "items", "additionalItems", "additionalProperties", "contains", "propertyNames", "if",
    "then", "else",
)  # fmt: skip
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_NUMBER = (int, float)
_SHAPES: dict[str, tuple[tuple[type, ...], str]] = {
    **dict.fromkeys((*_SUBSCHEMA_MAPS, "dependentRequired"), ((dict,), "an object")),
    **dict.fromkeys((*_SUBSCHEMA_LISTS, "required", "enum"), ((list,), "an array")),
    **dict.fromkeys(("minimum", "maximum", "multipleOf"), (_NUMBER, "a number")),
    **dict.fromkeys(("exclusiveMinimum", "exclusiveMaximum"), (_NUMBER, "a number")),
    **dict.fromkeys(("minLength", "maxLength", "minItems", "maxItems"), ((int,), "an integer")),
    **dict.fromkeys(("minProperties", "maxProperties", "minContains"), ((int,), "an integer")),
    **dict.fromkeys(("$ref", "pattern", "format"), ((str,), "a string")),
    "type": ((str, list), "a string or an array of strings"),
}


def _check_node(node: object, root: Any, where: str) -> str | None:
    at = where or "/"
    if isinstance(node, bool):
        return None
    if not isinstance(node, dict):
        return f"schema at {at}: expected an object or a boolean, found {type(node).__name__}"
    for key, value in node.items():
        shape, expected = _SHAPES.get(key, (object, ""))
        if not isinstance(value, shape):
            return f"schema at {at}: {key} must be {expected}, found {value!r}"
    types = [node["type"]] if isinstance(node.get("type"), str) else node.get("type", [])
    names = [*types, *node.get("required", [])]
    names += [n for group in node.get("dependentRequired", {}).values() for n in group]
    if not all(isinstance(n, str) for n in names):
        return f"schema at {at}: type, required and dependentRequired must list strings"
    ref = node.get("$ref")
    if ref is not None and _resolve_pointer(root, ref) is None:
        known = [
            f"#/{key}/{name}"
            for key in ("$defs", "definitions")
            if isinstance(root.get(key), dict)
            for name in root[key]
        ]
        return (
            f"schema at {at}: cannot resolve $ref {ref!r}; only local refs are supported; "
            f"valid: {', '.join(known) or 'none (the schema has no $defs)'}"
        )
    for name in types:
        if name not in _TYPES:
            return f"schema at {at}: unknown type {name!r}; valid: {', '.join(sorted(_TYPES))}"
    if isinstance(node.get("pattern"), str) and _parse_pattern(node["pattern"]) is None:
        return f"schema at {at}: pattern {node['pattern']!r} is not a valid regular expression"
    if node.get("multipleOf", 1) <= 0:
        return f"schema at {at}: multipleOf must be greater than 0, found {node['multipleOf']!r}"
    lists = (
        (*_SUBSCHEMA_LISTS, "items") if isinstance(node.get("items"), list) else _SUBSCHEMA_LISTS
    )
    children = [(k, node[k]) for k in _SUBSCHEMA if k in node and k not in lists]
    children += [(f"{k}/{i}", sub) for k in lists for i, sub in enumerate(node.get(k, []))]
    children += [(f"{k}/{n}", sub) for k in _SUBSCHEMA_MAPS for n, sub in node.get(k, {}).items()]
    for path, sub in children:
        if problem := _check_node(sub, root, f"{where}/{path}"):
            return problem
    return None


def _resolve_pointer(root: object, ref: str) -> object | None:
    if not ref.startswith("#"):
        return None
    node = root
    for raw in ref[1:].split("/")[1:] if ref != "#" else []:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _types(schema: Schema) -> list[str]:
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    if not types:
        # No "type": infer it from the keywords, the way a reader would.
        types = next(([kind] for kind, keys in _INFERRED if keys & schema.keys()), [])
    if schema.get("nullable") is True and types and "null" not in types:
        types.append("null")  # OpenAPI 3.0 spelling of ["...", "null"]
    return types


_INFERRED = (
    ("object", {"properties", "required", "additionalProperties", "patternProperties"}),
    ("array", {"items", "prefixItems", "minItems", "maxItems", "contains", "uniqueItems"}),
    ("string", {"minLength", "maxLength", "pattern", "format"}),
    ("number", {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}),
)


_COMBINED = frozenset({"allOf", "anyOf", "oneOf", "if", "not"})
_RESOLVED = ("$ref", "allOf", "anyOf", "oneOf", "if", "then", "else", "not")
# The properties a flattened object leaves out: one of each set that a `not` or the
# oneOf branches not taken require ("exactly one of id and path").
_ABSENT = "\x00absent"
_REQUIRING = frozenset({"required", "type", "title", "description"})


def _names(value: object) -> set[str]:
    """The property names a `required` lists."""
    return {n for n in value if isinstance(n, str)} if isinstance(value, list) else set()


def _left_out(excluded: object, kept: set[str]) -> list[str]:
    """A property to leave out of an object so that it does not match `excluded`, a
    schema that only requires properties (`{"required": ["id", "path"]}`) or any of
    several such; none outside `kept` (the properties the object must have)."""
    if not isinstance(excluded, dict):
        return []
    out: list[str] = []
    for key in ("anyOf", "oneOf"):
        branches = excluded.get(key)
        if isinstance(branches, list) and excluded.keys() <= {key, *_REQUIRING}:
            for branch in branches:
                out += _left_out(branch, kept)
    required = excluded.get("required")
    if isinstance(required, list) and excluded.keys() <= _REQUIRING:
        names = [n for n in required if isinstance(n, str) and n not in kept]
        out += names[-1:]
    return out


def _merge(a: Schema, b: Schema) -> Schema:
    """`allOf: [a, b]` as one schema (both already free of $ref and combinators)."""
    out = dict(a)
    for key, new in b.items():
        old: Any = out.get(key)
        if key not in out:
            out[key] = new
        elif key in ("properties", "patternProperties"):
            out[key] = {
                **old,
                **{k: {"allOf": [old[k], v]} if k in old else v for k, v in new.items()},
            }
        elif key == "required":
            out[key] = list(dict.fromkeys([*old, *new]))
        elif key == "type":
            left, right = _types({"type": old}), _types({"type": new})
            both = [t for t in left if t in right or (t == "integer" and "number" in right)]
            both += ["integer"] if "number" in left and "integer" in right else []
            out[key] = both or left
        elif key == "enum":
            out[key] = [v for v in old if v in new] or old
        elif key in ("minimum", "minLength", "minItems", "minProperties", "minContains"):
            out[key] = max(old, new)
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "maxContains"):
            out[key] = min(old, new)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(old, bool):
            out[key] = (max if key == "exclusiveMinimum" else min)(old, new)
        elif key in ("items", "additionalProperties", "contains", "propertyNames"):
            out[key] = False if False in (old, new) else {"allOf": [old, new]}
        elif key == "multipleOf":
            x, y = Fraction(str(old)), Fraction(str(new))
            lcm = Fraction(
                math.lcm(x.numerator, y.numerator), math.gcd(x.denominator, y.denominator)
            )
            out[key] = int(lcm) if lcm.denominator == 1 else float(lcm)
        elif key == "uniqueItems":
            out[key] = old or new
        elif key == _ABSENT:
            out[key] = [*old, *new]
    return out


def _weight(schema: object) -> int:
    """How far a branch is from a leaf: null 0, scalar 1, container 2, anything with $ref 3."""
    if not isinstance(schema, dict):
        return 1
    if "$ref" in json.dumps(schema):
        return 3
    types = _types(schema)
    if types == ["null"] or ("const" in schema and schema["const"] is None):
        return 0
    return 2 if {"object", "array"} & set(types) else 1


def _odds(branches: list[Any], weights: list[int]) -> list[float]:
    """How likely each anyOf/oneOf branch is: null seldom, and free text never when a more
    specific branch exists (pydantic writes `Decimal` as a number or any string at all)."""
    free = [
        isinstance(b, dict) and b.get("type") == "string" and not b.keys() - _NOTES
        for b in branches
    ]
    specific = any(w and not f for w, f in zip(weights, free, strict=True))
    return [
        0.25 if w == 0 else 0.0 if f and specific else 1.0
        for w, f in zip(weights, free, strict=True)
    ]


def _canonical(value: Any) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return [plain(x) for x in v] if isinstance(v, list) else v

    return json.dumps(plain(value), sort_keys=True)


def _bound(
    inclusive: float | None, exclusive: float | bool | None, tighter: Callable[..., float]
) -> tuple[float | None, bool]:
    """One side of a numeric range as (limit, is_open)."""
    if exclusive is None or isinstance(exclusive, bool):
        # Draft 4 and OpenAPI 3.0 write exclusivity as a flag on minimum/maximum.
        return inclusive, exclusive is True and inclusive is not None
    if inclusive is None:
        return exclusive, True
    limit = tighter(inclusive, exclusive)
    return limit, limit == exclusive


def _fits(text: str, lo: int, hi: int | None) -> bool:
    return lo <= len(text) and (hi is None or len(text) <= hi)


def _divides(value: float, step: float) -> bool:
    # The same test jsonschema applies, so a value that passes here passes there.
    if isinstance(step, float):
        quotient = value / step
        return math.isfinite(quotient) and int(quotient) == quotient
    return value % step == 0


class _Facts:
    """What `_Builder.value` reads from a schema with nothing left to resolve, before any
    draw: worked out once per part of a kept schema."""

    __slots__ = ("types", "weights", "const", "examples", "default", "enum", "text", "subs")

    def __init__(self, s: Schema) -> None:
        types = _types(s)
        self.types = types
        self.weights = [1 if t != "null" else 0.25 for t in types]
        self.const = "const" in s
        # The schema's `examples` and `default` that are scalars it accepts.
        self.examples = [v for v in s.get("examples") or () if _accepts(s, types, v)]
        default = s.get("default")
        self.default = default if default is not None and _accepts(s, types, default) else _NOTHING
        enum = s.get("enum")
        self.enum: list[Any] | None = None
        if isinstance(enum, list) and enum:
            self.enum = [v for v in enum if not types or _json_type(v) & set(types)] or enum
        self.text: tuple[int, int | None, tuple[re.Pattern[str], Any] | None, str] | None = None
        self.subs: dict[str, object] = {}  # property name -> its schema

    def text_facts(
        self, s: Schema
    ) -> tuple[int, int | None, tuple[re.Pattern[str], Any] | None, str]:
        """minLength, maxLength, the parsed pattern (None when there is none or it does
        not compile) and the format of a string schema."""
        if self.text is None:
            pattern = s.get("pattern")
            parsed = _parse_pattern(pattern) if isinstance(pattern, str) else None
            self.text = (
                int(s.get("minLength", 0)),
                s.get("maxLength"),
                parsed,
                str(s.get("format", "")),
            )
        return self.text


class _Builder:
    def __init__(
        self,
        root: object,
        rng: random.Random,
        text: TextSource,
        hints: dict[str, Hint],
        kept: _Kept | None,
    ) -> None:
        self.root = root
        self.rng = rng
        self.text = text
        self.hints = hints
        self.hint_depth = 0  # the depth whose properties `hints` are for
        self.budget = 50_000  # $ref expansions; bounds the fan-out of allOf-of-$ref loops
        self.kept = kept

    def facts(self, s: Schema) -> _Facts:
        kept = self.kept
        if kept is None or id(s) not in kept.parts:
            return _Facts(s)  # made by flatten for this draw: not kept
        facts = kept.facts.get(id(s))
        if facts is None:
            facts = kept.facts[id(s)] = _Facts(s)
        return facts

    def value(self, schema: object, depth: int, name: str) -> Any:
        if depth >= _HARD_DEPTH:
            return None
        kept = self.kept
        facts = kept.facts.get(id(schema)) if kept is not None else None
        if facts is not None:
            flat: Schema = schema  # type: ignore[assignment]  # kept: nothing to resolve
        else:
            found = self.flatten(schema, depth, 0)
            if found is None:
                return None
            flat, facts = found, self.facts(found)
        if facts.const:
            return _own(flat["const"])
        rng = self.rng
        # One of the schema's `examples` (most of the time) or its `default` (half of the
        # time), when it is a scalar the schema accepts.
        if facts.examples and rng.random() < 0.7:
            return rng.choice(facts.examples)
        if facts.default is not _NOTHING and rng.random() < 0.5:
            return facts.default
        if facts.enum is not None:
            return _own(rng.choice(facts.enum))
        types = facts.types
        kind = self.pick(types, facts.weights, depth) if types else ""
        if kind == "null":
            return None
        if kind == "boolean":
            return rng.random() < 0.5
        if kind in ("integer", "number"):
            return self.number_value(flat, kind == "integer", name)
        if kind == "array":
            return self.array_value(flat, depth, name)
        if kind == "object":
            return self.object_value(flat, depth, facts)
        return self.string_value(flat, name, facts)

    def pick(self, options: list[Any], weights: list[float] | list[int], depth: int) -> Any:
        if depth >= MAX_DEPTH:
            return min(zip(weights, options, strict=True), key=lambda pair: pair[0])[1]
        if len(options) == 1 and weights[0] > 0:
            self.rng.random()  # the one draw `choices` would make, so later values stay put
            return options[0]
        return self.rng.choices(options, weights)[0]

    def flatten(self, schema: object, depth: int, hops: int) -> Schema | None:
        """`schema` with $ref, allOf, anyOf, oneOf, if and not resolved; None for the `false`
        schema."""
        if schema is False:
            return None
        if not isinstance(schema, dict):
            return {}
        if "$ref" not in schema and not _COMBINED.intersection(schema):
            return schema  # nothing to resolve (and no caller changes what it is given)
        out = {k: v for k, v in schema.items() if k not in _RESOLVED}
        parts: list[object] = list(schema.get("allOf") or [])
        if "if" in schema:
            # A value that meets `if` and `then` meets the condition (a postal code of the
            # country's shape); an `if` nothing meets leaves `else`.
            if schema["if"] is False:
                parts.append(schema.get("else", True))
            elif "then" in schema or "else" in schema:
                parts += [schema["if"], schema.get("then", True)]
        if isinstance(schema.get("$ref"), str):
            target = _resolve_pointer(self.root, schema["$ref"])
            self.budget -= 1
            usable = target is not None and hops < _MAX_REF_HOPS and self.budget > 0
            parts.insert(0, target if usable else {})
            hops += 1
        # A long $ref chain within one value is recursion without nesting: end it soon.
        depth = depth if hops < 8 else max(depth, MAX_DEPTH)
        absent: list[str] = []
        kept = _names(schema.get("required"))
        for key in ("anyOf", "oneOf"):
            branches = [b for b in schema.get(key) or [] if b is not False]
            if branches:
                # Near the depth limit prefer the branch that ends the recursion (null, leaf).
                weights = [_weight(b) for b in branches]
                odds = _odds(branches, weights) if depth < MAX_DEPTH else weights
                taken = self.pick(branches, odds, depth)
                parts.append(taken)
                if key == "oneOf" and isinstance(taken, dict):
                    # exactly one: the branches not taken must not hold either
                    mine = kept | _names(taken.get("required"))
                    for branch in branches:
                        if branch is not taken:
                            absent += _left_out(branch, mine)
        absent += _left_out(schema.get("not"), kept)
        if absent:
            out[_ABSENT] = absent
        for part in parts:
            flat = self.flatten(part, depth, hops)
            if flat is None:
                return None
            out = _merge(out, flat)
        return out

    def number_value(self, s: Schema, integer: bool, name: str = "") -> int | float:
        lo, lo_open = _bound(s.get("minimum"), s.get("exclusiveMinimum"), max)
        hi, hi_open = _bound(s.get("maximum"), s.get("exclusiveMaximum"), min)
        usual = _usual_range(name)
        if usual is not None:
            # Where values of this name usually are ("age" 18-80), inside the schema's bounds.
            near_lo = usual[0] if lo is None else max(lo, usual[0])
            near_hi = usual[1] if hi is None else min(hi, usual[1])
            if near_lo < near_hi:
                lo_open = lo_open and near_lo == lo
                hi_open = hi_open and near_hi == hi
                lo, hi = near_lo, near_hi
        if lo is None:
            lo, lo_open = (0 if hi is None or hi >= 1 else hi - 100), False
        if hi is None:
            hi, hi_open = lo + 100, False
        if hi - lo > WIDE_RANGE:
            # A range such as zod's safe-integer bounds: draw where values look real
            # (0 to 100, or the 100 nearest the bound when 0 is outside), still inside it.
            if hi < 0:
                lo, lo_open = (hi - 100, False) if hi - 100 > lo else (lo, lo_open)
            else:
                start = max(lo, 0)
                if start > lo:
                    lo, lo_open = start, False
                if start + 100 < hi:
                    hi, hi_open = start + 100, False
        step = s.get("multipleOf")
        if not integer and step is None:
            for candidate in (round(self.rng.uniform(lo, hi), 2), self.rng.uniform(lo, hi)):
                if (lo < candidate or not lo_open and lo == candidate) and (
                    candidate < hi or not hi_open and candidate == hi
                ):
                    return candidate
            return (lo + hi) / 2
        if integer and step is None and type(lo) is int and type(hi) is int:
            # Whole bounds: what the steps below come to, without their fractions.
            k_lo, k_hi = lo + lo_open, hi - hi_open
            return self.rng.randint(k_lo, k_hi) if k_lo <= k_hi else lo
        # Count in whole steps so that bounds and multipleOf are met exactly.
        unit = Fraction(str(step or 1))
        if integer:
            unit = Fraction(unit.numerator)  # the smallest integer multiple of the step
        k_lo, k_hi = math.ceil(Fraction(str(lo)) / unit), math.floor(Fraction(str(hi)) / unit)
        k_lo += lo_open and k_lo * unit == Fraction(str(lo))
        k_hi -= hi_open and k_hi * unit == Fraction(str(hi))
        if k_lo > k_hi:
            return math.ceil(lo) if integer else lo  # unsatisfiable: stay near the bound
        if step is None or integer and isinstance(step, int):
            return int(self.rng.randint(k_lo, k_hi) * unit)
        # A float step such as 0.1 divides few floats exactly; search for one that it does.
        tries = [self.rng.randint(k_lo, k_hi) for _ in range(12)]
        for k in [*tries, *range(k_lo, min(k_hi, k_lo + 200) + 1)]:
            exact = k * unit
            candidate = int(exact) if exact.denominator == 1 else float(exact)
            if _divides(candidate, step):
                return candidate
        return 0 if k_lo <= 0 <= k_hi else int(k_lo * unit) if integer else float(k_lo * unit)

    def string_value(self, s: Schema, name: str, facts: _Facts) -> str:
        lo, hi, parsed, fmt = facts.text_facts(s)
        if parsed is not None:
            # The plausible text for the name often fits already ("zip" -> "22203").
            hinted = self.text(name, self.rng)
            if _fits(hinted, lo, hi) and parsed[0].search(hinted):
                return hinted
            # A format with its pattern (zod's `.email()`, `.datetime()`, `.uuid()` write
            # both): the format's value, when the pattern takes it, reads as one.
            formatted = self.formatted(fmt) if fmt else None
            if formatted is not None and _fits(formatted, lo, hi) and parsed[0].search(formatted):
                return formatted
            return self.from_pattern(parsed, lo, hi)
        formatted = self.formatted(fmt)
        if formatted is not None and _fits(formatted, lo, hi):
            return formatted
        if formatted is not None and fmt in _SHORT_FORMS:
            # A value of the format too long for maxLength: a short one (a@b.io).
            short = _SHORT_FORMS[fmt].format(*(self.letters(k) for k in (1, 2)))
            if _fits(short, lo, hi):
                return short
        return self.fit(self.text(name, self.rng), lo, hi)

    def letters(self, n: int) -> str:
        return "".join(self.rng.choice(string.ascii_lowercase) for _ in range(n))

    def fit(self, text: str, lo: int, hi: int | None) -> str:
        for _ in range(64):
            if len(text) >= lo:
                break
            text += (" " if text and text[-1].isascii() else "") + self.text("", self.rng)
        text = text.ljust(lo, "x")
        if hi is not None and len(text) > hi:
            text = text[:hi].rstrip() if len(text[:hi].rstrip()) >= lo else text[:hi]
        return text

    def formatted(self, fmt: str) -> str | None:
        rng = self.rng
        if fmt in _MOMENTS:  # any second of 2000-2029; RFC 3339 wants the offset ("Z")
            moment = _START + timedelta(seconds=rng.randrange(30 * 365 * 86400))
            return moment.strftime(_MOMENTS[fmt])
        if fmt == "duration":
            return f"P{rng.randint(0, 30)}DT{rng.randint(0, 23)}H{rng.randint(0, 59)}M"
        if fmt == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if fmt == "ipv4":
            return ".".join(str(rng.randint(1, 254)) for _ in range(4))
        if fmt == "ipv6":
            return ":".join(f"{rng.getrandbits(16):x}" for _ in range(8))
        if fmt in ("email", "idn-email"):
            return self.text("email", rng)
        if fmt in ("uri", "url", "iri", "uri-reference", "iri-reference"):
            return self.text("url", rng)
        if fmt in ("hostname", "idn-hostname"):
            return self.text("hostname", rng)
        if fmt == "json-pointer":
            return "/" + self.text("word", rng)
        return None

    def from_pattern(self, parsed: tuple[re.Pattern[str], Any], lo: int, hi: int | None) -> str:
        compiled, tree = parsed
        first = ""
        for attempt in range(24):
            # Take turns: a few spare repeats; repeats filled up to minLength (plus slack
            # below maxLength); the bare minimum (for maxLength). Every other round also
            # writes what lookaheads ask for ("(?=.*\d)"). Keep what the regex accepts.
            mode = attempt % 3
            slack = min(hi - lo, 3) if hi is not None and hi >= lo else 3
            target = lo + self.rng.randint(0, slack) if mode == 1 else 0
            writer = _RegexWriter(self.rng, 3 if mode == 0 else 0, target, attempt // 3 % 2 == 1)
            candidate = writer.write(tree)
            if compiled.search(candidate):
                first = first or candidate
                if _fits(candidate, lo, hi):
                    return candidate
        # An unanchored pattern only has to occur somewhere: pad a short match to minLength.
        filler = "".join(self.rng.choice(_LETTERS) for _ in range(lo - len(first)))
        for padded in (first + filler, filler + first):
            if compiled.search(padded):
                return padded
        return first

    def array_value(self, s: Schema, depth: int, name: str, asked: int | None = None) -> list[Any]:
        items = s.get("items", True)
        prefix = list(s.get("prefixItems") or (items if isinstance(items, list) else []))
        rest = s.get("additionalItems", True) if isinstance(items, list) else items
        contains = s.get("contains")
        need = int(s.get("minContains", 1)) if contains is not None else 0
        lo, hi = max(int(s.get("minItems", 0)), need), s.get("maxItems")
        count = lo if depth >= MAX_DEPTH else self.rng.randint(max(lo, 1), max(lo, 1) + 2)
        count = count if asked is None else asked  # (within the bounds: `_takes_hint`)
        count = min(
            count, hi if hi is not None else count, count if rest is not False else len(prefix)
        )
        unique = s.get("uniqueItems") is True
        out: list[Any] = []
        seen: set[str] = set()
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else rest
            if contains is not None and i >= len(prefix) and i - len(prefix) < need:
                sub = {"allOf": [sub, contains]}
            for _ in range(24 if unique else 1):
                item = self.value(sub, depth + 1, name)
                if not unique or _canonical(item) not in seen:
                    break
            else:
                if len(out) >= lo:
                    break  # no fresh value left; a shorter array is still valid
            if unique:
                seen.add(_canonical(item))
            out.append(item)
        return out

    def object_value(self, s: Schema, depth: int, facts: _Facts) -> dict[str, Any]:
        props: dict[str, Any] = s.get("properties") or {}
        extra = s.get("additionalProperties", True)
        lo, hi = int(s.get("minProperties", 0)), s.get("maxProperties")
        keys = list(dict.fromkeys(s.get("required") or []))
        absent = s.get(_ABSENT) or ()
        optional = [k for k in props if k not in keys and k not in absent]
        if depth < MAX_DEPTH:
            room = (hi if hi is not None else len(props)) - len(keys)
            # A model fills in the optional properties of what it was asked for; deeper
            # down, some of them.
            chosen = optional if depth < 2 else [k for k in optional if self.rng.random() < 0.6]
            keys += chosen[: max(room, 0)]
            if not props and isinstance(extra, dict) and extra and hi != 0:
                lo = max(lo, self.rng.randint(1, 2))  # a plain dict[str, X]: show an entry
        keys += [k for k in optional if k not in keys][: max(lo - len(keys), 0)]
        for _ in range(4 * lo):
            if len(keys) >= lo:
                break
            key = self.key(s)
            if key is not None and key not in keys:
                keys.append(key)
        for key, wanted in (s.get("dependentRequired") or {}).items():
            keys += [k for k in wanted if key in keys and k not in keys]
        out: dict[str, Any] = {}
        for key in keys:
            sub = facts.subs.get(key)
            if sub is None:
                sub = self.property_schema(s, key)
                if key in props:  # not a name drawn for this value
                    facts.subs[key] = sub
            hint = self.hints.get(key) if depth == self.hint_depth else None
            if isinstance(hint, Nested):
                hints, self.hints, self.hint_depth = self.hints, hint, depth + 1
                try:
                    out[key] = self.value(sub, depth + 1, key)
                finally:
                    self.hints, self.hint_depth = hints, depth
                continue
            if isinstance(hint, Count):
                flat = self.flatten(sub, depth + 1, 0)
                if flat is not None and _takes_hint(flat, hint):
                    out[key] = self.array_value(flat, depth + 1, key, int(hint))
                    continue
            if isinstance(hint, Records):
                flat = self.flatten(sub, depth + 1, 0)
                if flat is not None and _takes_hint(flat, Count(len(hint))):
                    out[key] = [self.item_of(flat["items"], depth + 2, key, r) for r in hint]
                    continue
            if hint is not None and self.takes_hint(sub, depth + 1, hint):
                out[key] = hint
            elif depth == self.hint_depth and self.hints and _takes_null(sub):
                # An extraction (the prompt gave other values) leaves out what the text
                # does not say: `email: string | null` of "Maria Garcia is 29" is null.
                out[key] = None
            else:
                out[key] = self.value(sub, depth + 1, key)
        return out

    def item_of(self, s: object, depth: int, name: str, record: Nested) -> Any:
        """An array's item built with the values read from the prompt for it."""
        hints, at = self.hints, self.hint_depth
        self.hints, self.hint_depth = record, depth
        try:
            return self.value(s, depth, name)
        finally:
            self.hints, self.hint_depth = hints, at

    def takes_hint(self, schema: object, depth: int, hint: Hint) -> bool:
        """Whether a property's schema accepts a value read from the prompt: one of its
        anyOf or oneOf branches does (pydantic's `city: str | None`, which a strict
        schema writes as `{"anyOf": [{"type": "string"}, {"type": "null"}]}`)."""
        if isinstance(schema, dict):
            for key in ("anyOf", "oneOf"):
                branches = schema.get(key)
                if isinstance(branches, list) and branches:
                    rest = {k: v for k, v in schema.items() if k != key}
                    ahead = list(rest.get("allOf") or [])
                    return any(
                        self.takes_hint({**rest, "allOf": [*ahead, branch]}, depth, hint)
                        for branch in branches
                        if branch is not False
                    )
        return _takes_hint(self.flatten(schema, depth, 0), hint)

    def key(self, s: Schema) -> str | None:
        """A new property name outside `properties`, or None when none is allowed."""
        patterns = list(s.get("patternProperties") or {})
        if patterns and self.rng.random() < 0.8:
            parsed = _parse_pattern(self.rng.choice(patterns))
            return self.from_pattern(parsed, 1, None) if parsed else None
        if s.get("additionalProperties", True) is False:
            return None
        names = self.flatten(s.get("propertyNames", True), MAX_DEPTH, 0)
        if names and names.keys() & {"pattern", "minLength", "maxLength", "format", "enum"}:
            found = self.value(names, MAX_DEPTH, "")
            return found if isinstance(found, str) else None
        return self.text("word", self.rng).lower()

    def property_schema(self, s: Schema, key: str) -> object:
        props = s.get("properties") or {}
        matches = [
            sub
            for pattern, sub in (s.get("patternProperties") or {}).items()
            if (parsed := _parse_pattern(pattern)) and parsed[0].search(key)
        ]
        if key in props:
            return {"allOf": [props[key], *matches]} if matches else props[key]
        return {"allOf": matches} if matches else s.get("additionalProperties", True)


_NOTHING = object()


def _own(value: Any) -> Any:
    """A `const` or `enum` value the caller may change without changing the kept schema."""
    return copy.deepcopy(value) if isinstance(value, dict | list) else value


# Where numbers of a name usually fall, when the schema leaves room (property names split
# into lower-case words; the last word decides: "maxPrice" is a price).
_USUAL_RANGES: dict[str, tuple[float, float]] = {
    "age": (18, 80),
    "year": (1990, 2030),
    "month": (1, 12),
    "day": (1, 28),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
    **dict.fromkeys(("price", "cost", "amount", "total", "salary", "fee"), (5.0, 500.0)),
    **dict.fromkeys(("quantity", "count", "number", "num", "qty", "items"), (1, 10)),
    **dict.fromkeys(("rating", "stars"), (1, 5)),
    **dict.fromkeys(("score", "percent", "percentage"), (0, 100)),
    **dict.fromkeys(("latitude", "lat"), (-90.0, 90.0)),
    **dict.fromkeys(("longitude", "lng", "lon"), (-180.0, 180.0)),
    **dict.fromkeys(("temperature", "temp"), (-10, 35)),
    **dict.fromkeys(("probability", "confidence", "likelihood"), (0.0, 1.0)),
    "weight": (1, 100),
    "height": (150, 200),
}
_NAME_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


@lru_cache(maxsize=4096)
def _usual_range(name: str) -> tuple[float, float] | None:
    words = [w.lower() for w in _NAME_WORDS.findall(name)]
    return _USUAL_RANGES.get(words[-1]) if words else None


def _accepts(s: Schema, types: list[str], value: object) -> bool:
    """Whether a scalar `value` (an example, a default) meets the schema's own keywords."""
    if isinstance(value, dict | list) or value is None:
        return False
    if types and not _json_type(value) & set(types):
        return False
    enum = s.get("enum")
    if isinstance(enum, list) and value not in enum:
        return False
    if isinstance(value, str):
        return _takes_text(s, value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _within(s, value)
    return True


def _within(s: Schema, value: float) -> bool:
    """Whether a number meets the schema's bounds (inclusive or exclusive) and multipleOf."""
    lo, lo_open = _bound(s.get("minimum"), s.get("exclusiveMinimum"), max)
    hi, hi_open = _bound(s.get("maximum"), s.get("exclusiveMaximum"), min)
    if lo is not None and (value < lo or lo_open and value == lo):
        return False
    if hi is not None and (value > hi or hi_open and value == hi):
        return False
    step = s.get("multipleOf")
    return step is None or _divides(value, step)


def _takes_null(schema: object) -> bool:
    """Whether a property's own schema allows null: `["string", "null"]`, or a null branch
    of its anyOf (pydantic's and zod's `.nullable()`)."""
    if not isinstance(schema, dict):
        return False
    options = schema.get("enum")
    if (isinstance(options, list) and None not in options) or "const" in schema:
        return False  # `["string", "null"]` with an enum of strings: null is not one of them
    kinds = schema.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds):
        return True
    branches = schema.get("anyOf") or schema.get("oneOf")
    return isinstance(branches, list) and any(
        isinstance(b, dict) and b.get("type") == "null" for b in branches
    )


def _takes_hint(s: Schema | None, hint: Hint) -> bool:
    """Whether a schema accepts a value read from the prompt: text (`_takes_text`), or a
    number for a number or integer schema within its bounds (exclusive ones too) and a
    multiple of its multipleOf."""
    if isinstance(hint, str):
        return _takes_text(s, hint)
    if s is None or s.keys() & {"enum", "const"}:
        return False
    if isinstance(hint, Count):  # so many items, for an array of one items schema
        return (
            _types(s) == ["array"]
            and not s.get("prefixItems")
            and isinstance(s.get("items", True), dict | bool)
            and s.get("items", True) is not False
            and _fits_count(int(hint), s)
        )
    if isinstance(hint, bool):  # a verdict, for a boolean
        return "boolean" in (_types(s) or [])
    if isinstance(hint, Nested | Records):  # taken by the object it is for, where it is built
        return False
    if isinstance(hint, list):  # texts or records, for an array within its bounds
        items = s.get("items")
        return (
            "array" in (_types(s) or [])
            and isinstance(items, dict)
            and _fits_count(len(hint), s)
            and all(
                _takes_record(items, each) if isinstance(each, dict) else _takes_text(items, each)
                for each in hint
            )
        )
    kinds = _types(s) or []
    if "integer" in kinds and float(hint).is_integer():
        hint = int(hint)
    elif "number" not in kinds:
        return False
    return _within(s, hint)


def _takes_record(s: Schema, record: dict[str, str | int | float]) -> bool:
    """Whether an object schema (its own properties, no composition) accepts a record read
    from the prompt: every property it requires, each value one its property takes."""
    props = s.get("properties")
    if not isinstance(props, dict) or s.keys() & {"anyOf", "oneOf", "allOf", "$ref"}:
        return False
    required = s.get("required") or []
    return set(required) <= record.keys() and all(
        isinstance(props.get(k), dict) and _takes_hint(props[k], v) for k, v in record.items()
    )


def _fits_count(count: int, s: Schema) -> bool:
    hi = s.get("maxItems")
    return int(s.get("minItems", 0)) <= count and (hi is None or count <= hi)


# Formats a hint from the prompt may fill, when it is one: an address it names ("Summarize
# https://example.com/post" for a `url` of format `uri`; "email bob@example.com"); a day it
# gives ("on June 14, 2025": "2025-06-14" for pydantic's `date`, a `date-time` at midnight).
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+\Z")
_HINTED_FORMATS = {
    "date": re.compile(r"\d{4}-[01]\d-[0-3]\d\Z"),
    "date-time": re.compile(r"\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d(?:\.\d+)?Z\Z"),
    "uri": _URI,
    "url": _URI,
    "iri": _URI,
    "uri-reference": _URI,
    "iri-reference": _URI,
    "email": re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z"),
    "idn-email": re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z"),
}


def _takes_text(s: Schema | None, text: str) -> bool:
    """Whether a string schema accepts `text` (plain text, or text of the format a
    `uri` or an `email` names; no enum but one of its values, no const)."""
    if s is None or "string" not in (_types(s) or ["string"]):
        return False
    if s.keys() & {"enum", "const"}:
        return isinstance(s.get("enum"), list) and text in s["enum"]
    form = s.get("format")
    if form is not None and not (form in _HINTED_FORMATS and _HINTED_FORMATS[form].match(text)):
        return False
    if not _fits(text, int(s.get("minLength", 0)), s.get("maxLength")):
        return False
    pattern = s.get("pattern")
    parsed = _parse_pattern(pattern) if isinstance(pattern, str) else None
    return pattern is None or (parsed is not None and parsed[0].search(text) is not None)


def _json_type(value: object) -> set[str]:
    """The JSON Schema types `value` belongs to (an integer is also a number)."""
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int) or isinstance(value, float) and value.is_integer():
        return {"integer", "number"}
    names = {float: "number", str: "string", list: "array", dict: "object"}
    return {names.get(type(value), "string")}


@lru_cache(maxsize=512)
def _parse_pattern(pattern: str) -> tuple[re.Pattern[str], Any] | None:
    try:
        return re.compile(pattern), sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


_CATEGORY_CHARS = {
    sre.CATEGORY_DIGIT: string.digits,
    sre.CATEGORY_NOT_DIGIT: _LETTERS,
    sre.CATEGORY_WORD: _LETTERS + string.digits + "_",
    sre.CATEGORY_NOT_WORD: " -.,",
    sre.CATEGORY_SPACE: " ",
    sre.CATEGORY_NOT_SPACE: _LETTERS + string.digits,
    sre.CATEGORY_LINEBREAK: "\n",
    sre.CATEGORY_NOT_LINEBREAK: _LETTERS,
}


class _RegexWriter:
    """Writes one string that a parsed regex matches, by walking `re`'s own parse tree."""

    def __init__(self, rng: random.Random, stretch: int, target: int, lookahead: bool) -> None:
        self.rng = rng
        self.lookahead = lookahead  # write the text a positive lookahead looks for
        self.stretch = stretch  # how many repeats past the minimum may be added at random
        self.target = target  # if set, open repeats grow until the output is this long
        self.length = 0  # of everything written so far: pieces are only ever appended
        self.groups: dict[int, str] = {}

    def write(self, tree: Any) -> str:
        return "".join(self.node(op, av) for op, av in tree)

    def node(self, op: Any, av: Any) -> str:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, sub = av
            pieces = [self.write(sub) for _ in range(low)]
            extra = self.rng.randint(0, self.stretch)
            while len(pieces) < high and (extra > 0 or self.length < self.target):
                before, extra = self.length, extra - 1
                pieces.append(self.write(sub))
                if self.length == before:
                    break  # the repeated part can be empty: more of it adds nothing
            return "".join(pieces)
        if op is sre.SUBPATTERN:
            group, _add, _del, sub = av
            written = self.write(sub)
            if group is not None:
                self.groups[group] = written
            return written
        if op is sre.BRANCH:
            return self.write(self.rng.choice(av[1]))
        if op is sre.ATOMIC_GROUP:
            return self.write(av)
        if op is sre.GROUPREF_EXISTS:
            group, yes, no = av
            return self.write(yes if group in self.groups else no or [])
        if op is sre.ASSERT and av[0] == 1 and self.lookahead:
            return self.write(av[1])
        char = self.leaf(op, av)
        self.length += len(char)
        return char

    def leaf(self, op: Any, av: Any) -> str:
        rng = self.rng
        if op is sre.LITERAL:
            return chr(av)
        if op is sre.NOT_LITERAL:
            return rng.choice([c for c in _LETTERS if ord(c) != av])
        if op is sre.ANY:
            return rng.choice(_LETTERS)
        if op is sre.IN:
            return self.char_in(av)
        if op is sre.GROUPREF:
            return self.groups.get(av, "")
        if op is sre.CATEGORY:
            return rng.choice(_CATEGORY_CHARS.get(av, _LETTERS))
        return ""  # anchors and lookarounds write nothing; the caller checks the result

    def char_in(self, items: list[tuple[Any, Any]]) -> str:
        if items and items[0][0] is sre.NEGATE:
            allowed = [c for c in _ALPHABET if not _in_class(items[1:], c)]
            return self.rng.choice(allowed or ["~"])
        op, av = self.rng.choice(items)
        if op is sre.LITERAL:
            return chr(av)
        if op is sre.RANGE:
            low, high = av
            # Prefer printable ASCII inside the range; never emit a lone surrogate.
            printable = (max(low, 0x21), min(high, 0x7E))
            if printable[0] <= printable[1]:
                low, high = printable
            code = self.rng.randint(low, high)
            return chr(low if 0xD800 <= code <= 0xDFFF else code)
        return self.rng.choice(_CATEGORY_CHARS.get(av, _LETTERS))


def _in_class(items: list[tuple[Any, Any]], char: str) -> bool:
    for op, av in items:
        if op is sre.LITERAL and chr(av) == char:
            return True
        if op is sre.RANGE and av[0] <= ord(char) <= av[1]:
            return True
        if op is sre.CATEGORY and re.fullmatch(f"[{_CATEGORY_ESCAPES.get(av, '')}]", char):
            return True
    return False


_CATEGORY_ESCAPES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
}
