"""The bounds that clients write into a schema's description, read back."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest

from mockllm import fake
from mockllm.described_bounds import described_bounds, with_described_bounds
from mockllm.schema_instances import build_instance


@pytest.mark.parametrize(
    ("description", "bounds"),
    [
        # The Anthropic Python SDK: str() of each value, after the description.
        ("Stars\n\n{minimum: 1, maximum: 5}", {"minimum": 1, "maximum": 5}),
        ("{minItems: 2, uniqueItems: True}", {"minItems": 2, "uniqueItems": True}),
        (
            "{pattern: ^[a-z]+, [0-9]$, minLength: 2}",
            {"pattern": "^[a-z]+, [0-9]$", "minLength": 2},
        ),
        # The Anthropic TypeScript SDK: JSON values.
        ('{pattern: "^a,b$", maxLength: 8}', {"pattern": "^a,b$", "maxLength": 8}),
        ("{exclusiveMinimum: 0, default: [1, 2]}", {"exclusiveMinimum": 0}),
        # The Vercel AI SDK: names spelled out, on a line of their own.
        ("A score\nminimum: 0; maximum: 1.", {"minimum": 0, "maximum": 1}),
        ("min length: 3; max length: 8.", {"minLength": 3, "maxLength": 8}),
        ("pattern: ^\\d{3}$; min items: 2.", {"pattern": "^\\d{3}$", "minItems": 2}),
        ("multiple of: 0.5.", {"multipleOf": 0.5}),
        # Prose, and values no schema could hold.
        ("The user's age.", {}),
        ("Rating: from 1 to 5.", {}),
        ("{minLength: -1, maxLength: 2.5, multipleOf: 0}", {}),
        ("{minimum: ten}", {}),
        ("{pattern: ^(unclosed$, maxLength: 4}", {"maxLength": 4}),
    ],
)
def test_described_bounds(description: str, bounds: dict[str, Any]) -> None:
    assert described_bounds(description) == bounds


def test_bounds_are_added_where_the_schema_has_none() -> None:
    schema = {
        "type": "object",
        "properties": {
            "stars": {"type": "integer", "description": "{minimum: 1, maximum: 5}"},
            "kept": {"type": "integer", "maximum": 9, "description": "{maximum: 5}"},
            "against": {"type": "integer", "maximum": 0, "description": "{minimum: 3}"},
        },
        "default": {"description": "{minimum: 1}"},  # a value, not a schema
    }
    out = with_described_bounds(schema)
    assert out is not schema and schema["properties"]["stars"].keys() == {"type", "description"}
    assert out["properties"]["stars"] == {
        **schema["properties"]["stars"],
        "minimum": 1,
        "maximum": 5,
    }
    assert out["properties"]["kept"]["maximum"] == 9
    assert "minimum" not in out["properties"]["against"]
    assert out["default"] == {"description": "{minimum: 1}"}
    plain = {"type": "integer", "description": "How many."}
    assert with_described_bounds(plain) is plain


def test_generated_values_keep_the_described_bounds() -> None:
    # As the Anthropic SDK sends a pydantic model with Field(ge=0, le=1), min_length ...
    sent: dict[str, Any] = {
        "type": "object",
        "properties": {
            "score": {"type": "number", "description": "{minimum: 0, maximum: 1}"},
            "code": {"type": "string", "description": "{minLength: 3, maxLength: 8}"},
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "description": "min items: 2; max items: 3.",
            },
            "odd": {"type": "string", "description": "{pattern: ^(unclosed$}"},
        },
        "required": ["score", "code", "tags", "odd"],
        "additionalProperties": False,
    }
    meant = {
        **sent,
        "properties": {
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "code": {"type": "string", "minLength": 3, "maxLength": 8},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3},
            "odd": {"type": "string"},
        },
    }
    for seed in range(40):
        jsonschema.validate(fake.instance_from_schema(sent, seed), meant)
    jsonschema.validate(
        build_instance(sent, random.Random(3), lambda kind, rng: "some text"), meant
    )
