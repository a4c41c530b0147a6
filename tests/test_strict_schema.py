"""The schema checks: JSON Schema's own schema for any schema, and the strict-schema check:
what the API accepts, and its words for what it refuses."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from pydantic import BaseModel

from mockllm.refusals import meta_problem
from mockllm.strict_schema import strict_problem

NOT_UNDER_ANY = "'sting' is not valid under any of the given schemas."


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
        **extra,
    }


class Address(BaseModel):
    street: str
    city: str


class Person(BaseModel):
    name: str
    age: int | None
    addresses: list[Address]


def test_what_the_sdk_sends_in_strict_mode_is_accepted() -> None:
    # openai.pydantic_function_tool makes a strict schema: every property required,
    # additionalProperties false, $defs and anyOf with null.
    tool = openai.pydantic_function_tool(Person)
    assert tool["function"]["strict"] is True
    assert strict_problem(tool["function"]["parameters"]) is None
    recursive = obj(
        {"value": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}}
    )
    assert strict_problem(recursive) is None


@pytest.mark.parametrize(
    ("schema", "said"),
    [
        (
            {"type": "object", "properties": {"pop": {"type": "integer"}},
             "additionalProperties": False},
            "In context=(), 'required' is required to be supplied and to be an array including "
            "every key in properties. Missing 'pop'.",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            "In context=(), 'additionalProperties' is required to be supplied and to be false.",
        ),
        (
            obj({"body": {"type": "object", "properties": {"x": {"type": "string"}},
                          "required": ["x"]}}),
            "In context=('properties', 'body'), 'additionalProperties' is required to be "
            "supplied and to be false.",
        ),
        (
            obj({"counts": {"type": "object", "additionalProperties": {"type": "integer"}}}),
            "In context=('properties', 'counts'), 'additionalProperties' is required to be "
            "supplied and to be false.",
        ),
        (
            {"type": "object", "additionalProperties": False},
            "In context=(), object schema missing properties.",
        ),
        (
            obj({"tags": {"type": "array"}}),
            "In context=('properties', 'tags'), array schema missing items.",
        ),
        (
            obj({"a": {"type": "string"}}, required=["a", "b"]),
            "In context=(), 'required' must be an array that includes every key in "
            "`properties`. Extra required key 'b' supplied.",
        ),
        (
            obj({"name": {"type": "string", "minLength": 1}}),
            "In context=('properties', 'name'), 'minLength' is not permitted.",
        ),
        (
            obj({"x": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]}}),
            "In context=('properties', 'x', 'anyOf', '0'), 'maxLength' is not permitted.",
        ),
        (
            obj({"item": {"$ref": "#/$defs/Item"}}, **{"$defs": {"Item": {"type": "object",
                 "properties": {"sku": {"type": "string"}}, "additionalProperties": False}}}),
            "In context=('$defs', 'Item'), 'required' is required to be supplied and to be an "
            "array including every key in properties. Missing 'sku'.",
        ),
        (
            obj({"tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}),
            "In context=('properties', 'tags'), 'uniqueItems' is not permitted.",
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"array\"'.",
        ),
        (
            {"anyOf": [obj({"a": {"type": "string"}}), obj({"b": {"type": "string"}})]},
            "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"None\"'.",
        ),
        (
            obj({"a": {"allOf": [{"type": "string"}]}}),
            "In context=('properties', 'a'), 'allOf' is not permitted.",
        ),
    ],
)  # fmt: skip
def test_refusals_in_the_api_words(schema: dict[str, Any], said: str) -> None:
    assert strict_problem(schema) == said


def nested(levels: int) -> dict[str, Any]:
    schema = obj({"leaf": {"type": "string"}})
    for _ in range(levels - 1):
        schema = obj({"child": schema})
    return schema


def test_limits() -> None:
    assert strict_problem(nested(10)) is None
    assert strict_problem(nested(11)) == "11 levels of nesting exceeds limit of 10."
    many = obj({f"p{i}": {"type": "string"} for i in range(5001)})
    assert strict_problem(many) == "5001 object properties exceeds limit of 5000."
    enums = obj({f"e{i}": {"type": "string", "enum": [str(j) for j in range(300)]}
                 for i in range(4)})  # fmt: skip
    assert strict_problem(enums) == "1200 enum values exceeds limit of 1000."


# --- any schema, strict or not: JSON Schema's own schema ------------------------------------


@pytest.mark.parametrize(
    ("schema", "said"),
    [
        ({"type": "object", "properties": {"a": {"type": "sting"}}}, NOT_UNDER_ANY),
        ({"type": "object", "properties": {"a": []}}, "[] is not of type 'object', 'boolean'."),
        ({"type": "object", "properties": 7}, "7 is not of type 'object'."),
        ({"type": "object", "required": "a"}, "'a' is not of type 'array'."),
        ({"type": "string", "minLength": -1}, "-1 is less than the minimum of 0."),
    ],
)
def test_what_is_not_json_schema_is_named_in_the_validators_words(
    schema: dict[str, Any], said: str
) -> None:
    assert meta_problem(schema) == said
    assert meta_problem(schema) == said  # the kept verdict


@pytest.mark.parametrize(
    "schema",
    [
        Person.model_json_schema(),
        # a tuple as Draft 7 writes it, and as 2020-12 does
        {"type": "array", "items": [{"type": "string"}, {"type": "number"}]},
        {"type": "array", "prefixItems": [{"type": "string"}], "items": False},
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
        {},
        True,
    ],
)
def test_json_schema_of_either_draft_passes(schema: Any) -> None:
    assert meta_problem(schema) is None


def test_a_default_is_taken_in_a_strict_schema():
    """api.openai.com accepts `default` in a strict tool schema (openai-agents-python
    issue 4390: a maintainer's probe of 2026-08-13 completed with and without it)."""
    schema = {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "default": 10}},
        "required": ["query", "limit"],
        "additionalProperties": False,
    }
    assert strict_problem(schema) is None
