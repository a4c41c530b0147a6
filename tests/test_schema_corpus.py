"""The corpus of schemas as users write them (tests/schema_corpus.py), read by the checks the
APIs run and answered by the generator: what the SDKs send is taken or refused in the API's
words, and every instance built validates, the same one for the same seed."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.lib._parse._transform import transform_schema
from openai.lib._pydantic import to_strict_json_schema

from mockllm.fake import instance_from_schema
from mockllm.strict_schema import format_problem, strict_problem
from tests.schema_corpus import MODELS, OPENAI_REFUSED, json_schemas, problems

SCHEMAS = json_schemas()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_what_the_openai_sdk_sends_is_taken_or_refused_in_the_api_words(name: str) -> None:
    assert strict_problem(to_strict_json_schema(MODELS[name])) == OPENAI_REFUSED.get(name)


@pytest.mark.parametrize("name", sorted(n for n in SCHEMAS if SCHEMAS[n]["strict"]))
def test_the_strict_json_schemas_of_the_corpus_are_taken(name: str) -> None:
    assert strict_problem(SCHEMAS[name]["schema"]) is None


@pytest.mark.parametrize(
    ("node", "said"),
    [
        (
            {"$ref": "#/$defs/Color", "description": "The mode"},
            "context=('properties', 'x'), $ref cannot have keywords {'description'}.",
        ),
        (
            {"$ref": "#/$defs/Color", "default": "red", "description": "The mode"},
            "context=('properties', 'x'), $ref cannot have keywords {'default', 'description'}.",
        ),
        (
            {"type": "string", "format": "uri"},
            "In context=('properties', 'x'), 'uri' is not a valid format.",
        ),
        (
            {"anyOf": [{"type": "string", "format": "phone"}, {"type": "null"}]},
            "In context=('properties', 'x', 'anyOf', '0'), 'phone' is not a valid format.",
        ),
        (
            {"type": ["string", "null"], "format": "uri"},
            "In context=('properties', 'x'), 'uri' is not a valid format.",
        ),
        ({"type": "integer", "format": "int64"}, None),
    ],
)
def test_openai_refusals_in_the_api_words(node: dict[str, Any], said: str | None) -> None:
    schema = {
        "type": "object",
        "properties": {"x": node},
        "required": ["x"],
        "additionalProperties": False,
        "$defs": {"Color": {"type": "string", "enum": ["red", "green"]}},
    }
    assert strict_problem(schema) == said


def _instance(schema: dict[str, Any], seed: int) -> Any:
    return instance_from_schema(schema, seed)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_gets_a_valid_instance_the_same_for_the_same_seed(name: str) -> None:
    schema = MODELS[name].model_json_schema()
    value = _instance(schema, 7)
    assert problems(schema, value) == []
    MODELS[name].model_validate(value)
    assert _instance(schema, 7) == value


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_json_schema_gets_a_valid_instance(name: str) -> None:
    schema = SCHEMAS[name]["schema"]
    for seed in range(5):
        assert problems(schema, _instance(schema, seed)) == []


@pytest.mark.parametrize("name", sorted(MODELS))
def test_what_the_anthropic_sdk_sends_is_taken(name: str) -> None:
    # The SDK moves what the API refuses into the description (`transform_schema`).
    assert format_problem(transform_schema(MODELS[name])) is None


@pytest.mark.parametrize(
    ("schema", "said"),
    [
        (
            {"type": "object", "properties": {"n": {"type": "integer", "exclusiveMinimum": 0,
             "multipleOf": 2}}, "additionalProperties": False},
            "For 'integer' type, properties exclusiveMinimum, multipleOf are not supported",
        ),
        (
            {"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}},
             "additionalProperties": False, "$defs": {"N": {"type": "number", "maximum": 9}}},
            "For 'number' type, property 'maximum' is not supported",
        ),
        (
            {"type": "object", "properties": {"t": {"type": ["string", "null"],
             "format": "phone"}}, "additionalProperties": False},
            "For 'string' type, format 'phone' is not supported",
        ),
        (
            {"type": "object", "properties": {"x": {"type": "string", "minLength": 1,
             "maxLength": 9, "pattern": "^a", "format": "uri"}}, "additionalProperties": False},
            None,
        ),
    ],
)  # fmt: skip
def test_anthropic_output_format_refusals(schema: dict[str, Any], said: str | None) -> None:
    assert format_problem(schema) == said


def test_a_tuple_the_anthropic_sdk_writes_into_a_description_is_answered_as_one() -> None:
    # `tuple[float, float]` is sent as {"type": "array", "description": "{maxItems: 2,
    # prefixItems: [{'type': 'number'}, {'type': 'number'}], minItems: 2}"}
    schema = transform_schema(MODELS["Point"])
    for seed in range(5):
        MODELS["Point"].model_validate(_instance(schema, seed))
