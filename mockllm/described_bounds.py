"""Read the bounds that clients move into a JSON Schema's `description`.

Anthropic's structured outputs refuse numeric, length and count keywords
(`output_format.schema: For 'integer' type, property 'minimum' is not supported`), so the
official clients take them out of the schema they send, write them at the end of the
description for the model to follow, and check the answer against the schema they started
from. Each writes them its own way:

- the Anthropic SDKs (`lib/_parse/_transform.py`, `lib/transform-json-schema.ts`):
  `{minimum: 1, maximum: 5}`, after a blank line when there is a description; values as
  JSON in TypeScript, as Python's `str()` in Python (`True`, patterns unquoted);
- the Vercel AI SDK (`packages/anthropic/src/sanitize-json-schema.ts`):
  `minimum: 1; maximum: 5.`, on a line of its own, names spelled out (`min length`).

The Anthropic SDKs move a tuple's `prefixItems` there too (the API has no tuple), as
`prefixItems: [{'type': 'number'}, {'type': 'number'}]`.

A model reads them; so does the generator, through `with_described_bounds`.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from typing import Any

# The keywords read back, by their JSON Schema name, and what their value must be.
_NUMBERS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_TEXTS = ("pattern", "format")
_FLAGS = ("uniqueItems",)
# A tuple's item schemas: `prefixItems: [{'type': 'number'}, {'type': 'number'}]` (Python's
# `str()` of the list, as the Python SDK writes a pydantic `tuple[float, float]`; JSON in
# TypeScript).
_SCHEMAS = ("prefixItems",)
_KEYWORDS = (*_NUMBERS, *_COUNTS, *_TEXTS, *_FLAGS, *_SCHEMAS)
# The Vercel AI SDK's spelling: `minLength` -> `min length`.
_SPELLED = {re.sub(r"[A-Z]", lambda m: " " + m.group().lower(), k): k for k in _KEYWORDS}
_PAIRS = (
    ("minimum", "maximum"),
    ("exclusiveMinimum", "maximum"),
    ("minimum", "exclusiveMaximum"),
    ("exclusiveMinimum", "exclusiveMaximum"),
    ("minLength", "maxLength"),
    ("minItems", "maxItems"),
    ("minProperties", "maxProperties"),
)
# Values, not schemas: never searched for descriptions.
_DATA = frozenset({"const", "default", "enum", "examples"})
_BRACED_SPLIT = re.compile(r", (?=[A-Za-z$][\w$]*: )")
_SPELLED_SPLIT = re.compile(r"; (?=[a-z][a-z ]*: )")
_ENTRY = re.compile(r"^([\w$ ]+): (.*)$", re.DOTALL)


def described_bounds(description: str) -> dict[str, Any]:
    """The keywords written at the end of `description` by a client, by their JSON Schema
    names; {} when it ends with none.

    Example:
        described_bounds("Stars\\n\\n{minimum: 1, maximum: 5}") -> {"minimum": 1, "maximum": 5}
        described_bounds("min length: 3; max length: 8.") -> {"minLength": 3, "maxLength": 8}
    """
    line = description.rstrip().rsplit("\n", 1)[-1].strip()
    if line.startswith("{") and line.endswith("}"):
        entries, names = _BRACED_SPLIT.split(line[1:-1]), {k: k for k in _KEYWORDS}
    elif line.endswith("."):
        entries, names = _SPELLED_SPLIT.split(line[:-1]), _SPELLED
    else:
        return {}
    found: dict[str, Any] = {}
    for entry in entries:
        matched = _ENTRY.match(entry)
        if matched is None:
            return {}  # not a list of constraints: prose that happens to end so
        name = names.get(matched.group(1))
        if name is not None:
            value = _value(name, matched.group(2))
            if value is not None:
                found[name] = value
    return found


def with_described_bounds(schema: object) -> object:
    """`schema`, with the keywords its descriptions carry added to the parts that lack
    them; `schema` itself when no description carries any."""
    if not _carries_bounds(schema):
        return schema
    out = copy.deepcopy(schema)
    _add_bounds(out)
    return out


def _value(name: str, text: str) -> Any:
    if name in _SCHEMAS:
        return _schemas(text)
    if name in _TEXTS:
        if text.startswith('"'):  # TypeScript writes strings as JSON
            try:
                decoded = json.loads(text)
            except ValueError:
                return None
            text = decoded if isinstance(decoded, str) else ""
        return text if text and (name != "pattern" or _compiles(text)) else None
    if name in _FLAGS:
        return {"true": True, "True": True, "false": False, "False": False}.get(text)
    try:
        number = json.loads(text)
    except ValueError:
        return None
    if isinstance(number, bool) or not isinstance(number, int | float):
        return None
    if name in _COUNTS:
        whole = int(number)
        return whole if whole == number and whole >= 0 else None
    if name == "multipleOf" and number <= 0:
        return None
    return number


def _schemas(text: str) -> list[Any] | None:
    """A list of schemas written as JSON or as Python prints one; None for anything else."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    if isinstance(value, list) and value and all(isinstance(v, dict | bool) for v in value):
        return value
    return None


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


def _carries_bounds(node: object) -> bool:
    if isinstance(node, dict):
        description = node.get("description")
        if isinstance(description, str) and described_bounds(description):
            return True
        return any(_carries_bounds(v) for k, v in node.items() if k not in _DATA)
    if isinstance(node, list):
        return any(_carries_bounds(v) for v in node)
    return False


def _add_bounds(node: object) -> None:
    if isinstance(node, list):
        for item in node:
            _add_bounds(item)
        return
    if not isinstance(node, dict):
        return
    description = node.get("description")
    if isinstance(description, str):
        found = {k: v for k, v in described_bounds(description).items() if k not in node}
        merged = {**node, **found}
        for low, high in _PAIRS:
            lo, hi = _number(merged.get(low)), _number(merged.get(high))
            if (low in found or high in found) and lo is not None and hi is not None and lo > hi:
                found = {}  # bounds that contradict the schema's: the schema's stand
                break
        node.update(found)
    for key, value in node.items():
        if key not in _DATA:
            _add_bounds(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # draft 4's exclusiveMinimum: true, or no bound
    return value
