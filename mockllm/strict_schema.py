"""The checks the APIs run on a schema their structured outputs must follow, in each API's
words: OpenAI's on a strict schema (Structured Outputs: a `json_schema` response format or a
function tool with `strict: true`), Anthropic's on an output format (`format_problem`).

The rules are those of the Structured Outputs guide ("Supported schemas":
platform.openai.com/docs/guides/structured-outputs#supported-schemas): the root is an
object; every object lists all its properties in `required` and sets
`additionalProperties: false`; composition keywords other than `anyOf` are refused; a
schema that says nothing of its type (`{}`, a lone `const` or `description`) is refused; at
most 10 levels of nesting, 5000 properties and 1000 enum values. The keywords refused
besides those the guide names (`minLength`, `maxLength`, `default`, the object and array
keywords below) are those client libraries strip before a strict request because the API
refuses them (pydantic-ai's `_STRICT_INCOMPATIBLE_KEYS`, the openai-node helpers guide).

The wording is the one users quote from the API, for example:

    Invalid schema for function 'mysql_execute': In context=(), 'required' is required to
    be supplied and to be an array including every key in properties. Missing 'params'.
    (github.com/kevinwatt/mysql-mcp/issues/5)
    Invalid schema for function 'search_documents': In context=('properties', 'body'),
    'additionalProperties' is required to be supplied and to be false.
    (github.com/camel-ai/camel/issues/2231)
    Invalid schema for response_format 'structured_data': 6 levels of nesting exceeds
    limit of 5.  (github.com/tidyverse/ellmer/issues/671; the limit is 10 today)
    Invalid schema for response_format 'response': In context=(), 'oneOf' is not
    permitted.  (what zod's discriminatedUnion becomes; users of the AI SDK quote it)
    Invalid schema for function 'workflow': ... schema must have a 'type' key.  (a
    `z.unknown()` field, `{}`; a lone `{"const": …}` gets the same answer)
    Invalid schema for function 'create_book': In context=('properties', 'cover_image'),
    'uri' is not a valid format.  (zod's `.url()`; the formats taken are the guide's nine)
    Invalid schema for response_format 'multimeter_reading': context=('properties',
    'mode'), $ref cannot have keywords {'description'}.  (pydantic's `Field(description=…)`
    on a field of an Enum or model type; `{'default'}` for one with a default)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from mockllm.cache import Memo

MAX_NESTING = 10
MAX_PROPERTIES = 5000
MAX_ENUM_VALUES = 1000
NOT_PERMITTED = (
    "allOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "minLength",
    "maxLength",
    "patternProperties",
    "unevaluatedProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "uniqueItems",
)
# The string formats Structured Outputs takes ("Supported properties" of the guide).
FORMATS = frozenset(
    ("date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid")
)
_DEFINITIONS = ("$defs", "definitions")


def strict_problem(schema: object) -> str | None:
    """What the API says of this strict schema, after "Invalid schema for function 'NAME': "
    (or "… for response_format 'NAME': "); None when it accepts it.

    Example:
        strict_problem({"type": "object", "properties": {"pop": {"type": "integer"}},
                        "additionalProperties": False})
        -> "In context=(), 'required' is required to be supplied and to be an array
            including every key in properties. Missing 'pop'."
    """
    if not isinstance(schema, dict):
        return "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"None\"'."
    kind = schema.get("type")
    if kind != "object":
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{kind}\"'."
    walk = _Walk()
    problem = walk.node(schema, (), 1)
    for key in _DEFINITIONS:
        definitions = schema.get(key)
        if problem is None and isinstance(definitions, dict):
            for name, sub in definitions.items():
                problem = problem or walk.node(sub, (key, name), 1)
    if problem is not None:
        return problem
    if walk.deepest > MAX_NESTING:
        return f"{walk.deepest} levels of nesting exceeds limit of {MAX_NESTING}."
    if walk.properties > MAX_PROPERTIES:
        return f"{walk.properties} object properties exceeds limit of {MAX_PROPERTIES}."
    if walk.enum_values > MAX_ENUM_VALUES:
        return f"{walk.enum_values} enum values exceeds limit of {MAX_ENUM_VALUES}."
    return None


def _context(path: tuple[str, ...]) -> str:
    return f"In context={path!r}"


class _Walk:
    """One pass over a schema: the first problem, and the sizes the limits count."""

    def __init__(self) -> None:
        self.deepest = 0
        self.properties = 0
        self.enum_values = 0

    def node(self, node: Any, path: tuple[str, ...], level: int) -> str | None:
        if not isinstance(node, dict):
            return None
        for key in NOT_PERMITTED:
            if key in node:
                return f"{_context(path)}, '{key}' is not permitted."
        if isinstance(node.get("enum"), list):
            self.enum_values += len(node["enum"])
        if "$ref" in node:
            # A reference stands alone (the SDK's own helper inlines one with siblings);
            # the definition it names is checked where it is defined.
            siblings = [key for key in node if key != "$ref"]
            if siblings:
                named = ", ".join(map(repr, siblings))
                return f"context={path!r}, $ref cannot have keywords {{{named}}}."
            return None
        if "type" not in node and "anyOf" not in node and "enum" not in node:
            return f"{_context(path)}, schema must have a 'type' key."
        kind = node.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        form = node.get("format")
        if "string" in kinds and isinstance(form, str) and form not in FORMATS:
            # Only strings' formats are reported refused (an integer's `int64`, from an
            # OpenAPI document, is not known either way: left alone).
            return f"{_context(path)}, '{form}' is not a valid format."
        if "object" in kinds or (kind is None and "properties" in node):
            problem = self.object(node, path, level)
            if problem is not None:
                return problem
        items = node.get("items")
        if "array" in kinds and items is None:
            # github.com/yangtaihong59/siyuan-plugins-mcp-sisyphus issue 13 quotes this
            return f"{_context(path)}, array schema missing items."
        if isinstance(items, dict):
            problem = self.node(items, (*path, "items"), level)
            if problem is not None:
                return problem
        for i, branch in enumerate(node.get("anyOf") or ()):
            problem = self.node(branch, (*path, "anyOf", str(i)), level)
            if problem is not None:
                return problem
        return None

    def object(self, node: dict[str, Any], path: tuple[str, ...], level: int) -> str | None:
        self.deepest = max(self.deepest, level)
        if node.get("additionalProperties") is not False:
            return (
                f"{_context(path)}, 'additionalProperties' is required to be supplied and to "
                "be false."
            )
        properties = node.get("properties")
        if not isinstance(properties, dict):
            return f"{_context(path)}, object schema missing properties."
        required = node.get("required")
        listed = required if isinstance(required, list) else []
        for name in properties:
            if name not in listed:
                return (
                    f"{_context(path)}, 'required' is required to be supplied and to be an "
                    f"array including every key in properties. Missing '{name}'."
                )
        for name in listed:
            if name not in properties:
                # github.com/dotnet/extensions/issues/6302 quotes this wording
                return (
                    f"{_context(path)}, 'required' must be an array that includes every key "
                    f"in `properties`. Extra required key '{name}' supplied."
                )
        self.properties += len(properties)
        for name, sub in properties.items():
            problem = self.node(sub, (*path, "properties", name), level + 1)
            if problem is not None:
                return problem
        return None


# --- Anthropic: output_config.format (and the beta's output_format) ------------------------

# The string formats Anthropic's structured outputs take (the guide's list; the SDKs'
# `SupportedStringFormats`): OpenAI's nine and `uri`.
ANTHROPIC_FORMATS = FORMATS | {"uri"}
# The keywords refused on a type, as the API names them: "For 'integer' type, property
# 'minimum' is not supported", "For 'number' type, properties maximum, minimum are not
# supported", "For 'array' type, property 'maxItems' is not supported", "For 'object' type,
# property 'propertyNames' is not supported" (users quote each, for output_format.schema
# and output_config.format.schema; uc_ai's live probes add `if`, `contains`, `uniqueItems`,
# `minProperties` and `maxProperties`). Lengths and `pattern` of strings are taken.
_NUMERIC = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_UNSUPPORTED: dict[str, tuple[str, ...]] = {
    "integer": _NUMERIC,
    "number": _NUMERIC,
    "array": ("maxItems", "uniqueItems", "contains"),
    "object": ("propertyNames", "if", "minProperties", "maxProperties"),
}
_BRANCHES = ("anyOf", "allOf")


# An app sends the same schemas with every request: what was found in one is kept by its
# JSON text (the first problem, "" for none; the optional properties it counts).
_VERDICTS: Memo[bytes, tuple[str, int]] = Memo(1024, max_bytes=16 << 20)


def _verdict(schema: object) -> tuple[str, int]:
    try:
        key = orjson.dumps(schema)
    except (orjson.JSONEncodeError, TypeError):
        return _format_problem(schema) or "", _optional(schema, 0)
    verdict = _VERDICTS.get(key)
    if verdict is None:
        verdict = _format_problem(schema) or "", _optional(schema, 0)
        _VERDICTS.put(key, verdict, len(key))
    return verdict


def format_problem(schema: object) -> str | None:
    """What Anthropic says of an output format's schema, after "output_config.format.schema: "
    (or "output_format.schema: "); None when it takes it.

    Example:
        format_problem({"type": "object", "properties": {"n": {"type": "integer",
                        "minimum": 1}}, "additionalProperties": False})
        -> "For 'integer' type, property 'minimum' is not supported"
    """
    return _verdict(schema)[0] or None


def _format_problem(schema: object) -> str | None:
    problem = _format_node(schema, 0)
    for key in _DEFINITIONS:
        definitions = schema.get(key) if isinstance(schema, dict) else None
        if problem is None and isinstance(definitions, dict):
            for sub in definitions.values():
                problem = problem or _format_node(sub, 1)
    return problem


def _format_node(node: object, depth: int) -> str | None:  # noqa: C901 - one rule a branch
    if not isinstance(node, dict) or depth > MAX_NESTING * 4:
        return None
    if "oneOf" in node:
        return "Schema type 'oneOf' is not supported"  # zod's discriminatedUnion, quoted
    if "not" in node:
        return "Schema keyword 'not' is not supported"
    if "$ref" in node:
        return None  # the definition it names is checked where it is defined
    kind = node.get("type")
    if kind is None and not any(k in node for k in (*_BRANCHES, "enum", "const")):
        return "Invalid schema: Schema type is missing"
    for name in kind if isinstance(kind, list) else [kind]:
        problem = _typed_problem(node, name) if isinstance(name, str) else None
        if problem is not None:
            return problem
    children: list[object] = []
    properties = node.get("properties")
    if isinstance(properties, dict):
        children.extend(properties.values())
    children.append(node.get("items"))
    for key in (*_BRANCHES, "prefixItems"):
        branches = node.get(key)
        if isinstance(branches, list):
            children.extend(branches)
    for child in children:
        problem = _format_node(child, depth + 1)
        if problem is not None:
            return problem
    return None


def _typed_problem(node: dict[str, Any], kind: str) -> str | None:
    if kind == "object":
        extra = node.get("additionalProperties")
        if "additionalProperties" not in node:
            return "For 'object' type, 'additionalProperties' must be explicitly set to false"
        if extra is True:
            return (
                "For 'object' type, 'additionalProperties: true' is not supported. Please set "
                "'additionalProperties' to false"
            )
        if isinstance(extra, dict):
            return "For 'object' type, 'additionalProperties: object' is not supported"
    if kind == "array":
        least = node.get("minItems")
        if least is not None and least not in (0, 1):
            return "For 'array' type, 'minItems' values other than 0 or 1 are not supported"
    if kind == "string":
        form = node.get("format")
        if isinstance(form, str) and form not in ANTHROPIC_FORMATS:
            return f"For 'string' type, format '{form}' is not supported"
    refused = sorted(key for key in _UNSUPPORTED.get(kind, ()) if key in node)
    if len(refused) == 1:
        return f"For '{kind}' type, property '{refused[0]}' is not supported"
    if refused:
        return f"For '{kind}' type, properties {', '.join(refused)} are not supported"
    return None


# The grammar a strict schema becomes grows with each property that may be left out: past
# 24 of them, over the request's strict tools and its output format, the API refuses
# ("Schemas contains too many optional parameters (28), which would make grammar
# compilation inefficient. Reduce the number of optional parameters in your tool schemas
# (limit: 24)." as users quote it; counted over the whole tree, array items too).
MAX_OPTIONAL = 24


def optional_problem(schemas: Iterable[object]) -> str | None:
    """The API's words for strict schemas that leave too many properties optional, or None."""
    count = sum(_verdict(schema)[1] for schema in schemas)
    if count <= MAX_OPTIONAL:
        return None
    return (
        f"Schemas contains too many optional parameters ({count}), which would make grammar "
        "compilation inefficient. Reduce the number of optional parameters in your tool "
        f"schemas (limit: {MAX_OPTIONAL})."
    )


def _optional(node: object, depth: int) -> int:
    if isinstance(node, list):
        return sum(_optional(item, depth) for item in node)
    if not isinstance(node, dict) or depth > MAX_NESTING * 4:
        return 0
    count = 0
    required = node.get("required")
    listed = required if isinstance(required, list) else ()
    for key in ("properties", *_DEFINITIONS):
        named = node.get(key)
        if isinstance(named, dict):
            if key == "properties":
                count += sum(1 for name in named if name not in listed)
            count += _optional(list(named.values()), depth + 1)
    for key in ("items", "prefixItems", *_BRANCHES):
        count += _optional(node.get(key), depth + 1)
    return count
