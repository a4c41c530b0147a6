"""The Messages dialect against the API's own rules, without HTTP: structured outputs, the
typed request options, extended thinking's limits, tool-use turns, images and documents,
cache breakpoints and the Claude catalogue (each refusal in the API's words)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import orjson
import pytest

from mockllm.dialects import ParseContext
from mockllm.dialects import messages as dialect
from mockllm.dialects import messages_answer as wire
from mockllm.errors import RequestError
from mockllm.render import render
from mockllm.rules import ChoiceSpec, Reply
from mockllm.template import compile_template

LENIENT = ParseContext(lenient=True)
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}
TOOL = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def refused(context: ParseContext | None = None, **fields: Any) -> str:
    """The message of the 400 a request with these fields gets."""
    with pytest.raises(RequestError) as caught:
        parse(context, **fields)
    assert caught.value.status == 400
    return caught.value.message


def parse(context: ParseContext | None = None, **fields: Any) -> Any:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello"}],
        **fields,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return dialect.parse(
        orjson.dumps(body), {}, dialect.PATH, context or ParseContext(refuse_unknown=False)
    )


def text_of(request: Any, **reply: Any) -> str:
    """The text block of the answer a reply (or, with none, the generator) gives."""
    compiled = {k: compile_template(v) if isinstance(v, str) else v for k, v in reply.items()}
    chosen = Reply(choices=(ChoiceSpec(**compiled),)) if reply else Reply(is_default=True)
    content = wire.message_object(render(chosen, request, seed=7), request)["content"]
    texts = [b["text"] for b in content if b["type"] == "text"]
    assert len(texts) == 1, content
    return str(texts[0])


# --- 1. structured outputs and the typed options ---------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"output_config": {"format": {"type": "json_schema", "schema": PERSON}}},
        {"output_config": {"effort": "high", "format": {"type": "json_schema", "schema": PERSON}}},
        {"output_format": {"type": "json_schema", "schema": PERSON}},  # the beta's field
    ],
)
def test_a_json_output_format_gets_json_valid_against_its_schema(fields: dict[str, Any]) -> None:
    request = parse(**fields)
    assert request.response_format.type == "json_schema"
    jsonschema.validate(json.loads(text_of(request)), PERSON)
    thinking = parse(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 1024}, **fields)
    jsonschema.validate(json.loads(text_of(thinking)), PERSON)
    # a rule that says how, not what (only a thought): the text is still JSON of the schema
    jsonschema.validate(json.loads(text_of(request, reasoning="Think first.")), PERSON)
    assert text_of(request, content="scripted") == "scripted"  # a scripted text is kept


def test_without_an_output_format_the_answer_is_prose() -> None:
    request = parse(output_config={"effort": "low"})
    assert request.response_format.type == "text"
    with pytest.raises(ValueError):
        json.loads(text_of(request))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"output_config": {"format": {"type": "bogus", "schema": PERSON}}},
            "output_config.format.type: Input should be 'json_schema'",
        ),
        (
            {"output_config": {"format": {"type": "json_schema"}}},
            "output_config.format.schema: Field required",
        ),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": []}}},
            "output_config.format.schema: Input should be a valid dictionary",
        ),
        (
            {"output_config": {"effort": "ultra"}},
            "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
        ),
        (
            {"output_config": {"colour": "red"}},
            "output_config.colour: Extra inputs are not permitted",
        ),
        ({"output_config": 1}, "output_config: Input should be a valid dictionary"),
        ({"output_format": {"type": "text"}}, "output_format.type: Input should be 'json_schema'"),
        ({"service_tier": 1}, "service_tier: Input should be 'auto' or 'standard_only'"),
        ({"service_tier": "priority"}, "service_tier: Input should be 'auto' or 'standard_only'"),
        ({"speed": "x"}, "speed: Input should be 'standard' or 'fast'"),
        ({"container": 1}, "container: Input should be a valid string"),
        ({"container": []}, "container: Input should be a valid string"),
        (
            {"container": {"skills": [{"skill_id": "pptx", "type": "x"}]}},
            "container.skills.0.type: Input should be 'anthropic' or 'custom'",
        ),
        ({"cache_control": "x"}, "cache_control: Input should be a valid dictionary"),
        (
            {"cache_control": {"type": "ephemeral", "ttl": "2h"}},
            "cache_control.ttl: Input should be '5m' or '1h'",
        ),
        ({"inference_geo": 1}, "inference_geo: Input should be a valid string"),
        ({"mcp_servers": "x"}, "mcp_servers: Input should be a valid list"),
        ({"mcp_servers": [1]}, "mcp_servers.0: Input should be a valid dictionary"),
        (
            {"mcp_servers": [{"type": "url", "url": "https://mcp.example"}]},
            "mcp_servers.0.name: Field required",
        ),
        ({"diagnostics": []}, "diagnostics: Input should be a valid dictionary"),
        (
            {"diagnostics": {"previous_message_id": 7}},
            "diagnostics.previous_message_id: Input should be a valid string",
        ),
    ],
)
def test_typed_options_refuse_values_of_the_wrong_type(
    fields: dict[str, Any], message: str
) -> None:
    assert refused(**fields) == message
    assert refused(LENIENT, **fields) == message  # malformed: --lenient refuses it too


def test_well_typed_options_are_accepted() -> None:
    parse(
        service_tier="standard_only",
        speed="fast",
        container={"id": "container_1", "skills": [{"skill_id": "pptx", "type": "anthropic"}]},
        cache_control={"type": "ephemeral", "ttl": "1h"},
        inference_geo="us",
        mcp_servers=[{"type": "url", "name": "docs", "url": "https://mcp.example"}],
        diagnostics={"previous_message_id": None},
        output_config={"effort": "max"},
    )
    parse(container="container_1", speed=None, diagnostics={})
