"""Validate answers against OpenAI's own OpenAPI schemas (tests/data/openai-schemas.json,
extracted by scripts/extract_openai_schemas.py)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DATA = Path(__file__).resolve().parent / "data" / "openai-schemas.json"


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema: null added to the allowed types (the
    document still uses it in places; a plain 2020-12 validator would ignore it)."""
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False):
            kind = node.get("type")
            if isinstance(kind, str):
                node["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                node["type"] = [*kind, "null"]
            elif "type" not in node and "enum" not in node:
                node = {"anyOf": [node, {"type": "null"}]}
            if "enum" in node and None not in node["enum"]:  # a typed enum too
                node["enum"] = [*node["enum"], None]
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


# Where the API's recorded traffic and its document disagree, the traffic wins: these
# fields are sent as null by api.openai.com (recorded 2026 streams show "user":null, and
# "usage":null in response.created and response.in_progress; GPT-5's chat answers and
# chunks "system_fingerprint":null, in envoyproxy/ai-gateway's 2025 cassettes), though the
# document types them as a string and an object.
WIRE_NULLABLE = (
    ("ModelResponseProperties", "user"),
    ("Response", "usage"),
    ("CreateChatCompletionResponse", "system_fingerprint"),
    ("CreateChatCompletionStreamResponse", "system_fingerprint"),
)


def _property(schema: dict[str, Any], field: str) -> dict[str, Any]:
    """A property of a schema, looked up through its `allOf` parts."""
    if field in schema.get("properties", {}):
        return schema["properties"][field]  # type: ignore[no-any-return]
    for part in schema.get("allOf", ()):
        if field in part.get("properties", {}):
            return part["properties"][field]  # type: ignore[no-any-return]
    raise KeyError(field)


@functools.cache
def _document() -> dict[str, Any]:
    document = json.loads(DATA.read_text())
    schemas = document["components"]["schemas"]
    for schema, field in WIRE_NULLABLE:
        prop = _property(schemas[schema], field)
        if "$ref" in prop:  # a $ref beside other keywords: keep it inside an anyOf
            prop["anyOf"] = [{"$ref": prop.pop("$ref")}]
        prop["nullable"] = True
    return _nullable(document)  # type: ignore[no-any-return]


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    document = _document()
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource("openai", resource)
    schema = {"$ref": f"openai#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def check(name: str, instance: Any) -> None:
    """Raise jsonschema.ValidationError (with the failing path) unless `instance` is a valid
    `name` of OpenAI's document."""
    errors = sorted(_validator(name).iter_errors(instance), key=lambda e: len(list(e.path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise AssertionError(f"not a valid {name}: {best.message} at {list(best.absolute_path)}")
