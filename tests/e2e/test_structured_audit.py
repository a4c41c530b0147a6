"""Structured outputs with no rule to answer them: schemas as users write them (the corpus
of tests/schema_corpus.py) driven through the SDKs' parse helpers, each answer validated
against its schema (Draft 2020-12, formats checked) and its model; and the schemas the APIs
refuse, refused in their words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from anthropic import Anthropic
from openai import OpenAI
from pydantic import BaseModel, Field

from tests.conftest import RunningServer
from tests.schema_corpus import MODELS, OPENAI_REFUSED, Color, json_schemas, problems

ASK = "Fill this in for me, please."
MESSAGES = [{"role": "user", "content": ASK}]
CLAUDE = "claude-sonnet-4-5"
SCHEMAS = json_schemas()


@pytest.fixture(scope="module")
def claude(server: RunningServer) -> Iterator[Anthropic]:
    with Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk


def obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        **extra,
    }


def said(error: openai.APIStatusError | anthropic.APIStatusError) -> str:
    """The error's message, as the API wrote it."""
    body = error.body
    assert isinstance(body, dict), body
    inner = body.get("error", body)
    return str(inner["message"])


def strict_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


# --- OpenAI: the parse helpers on pydantic models ------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_openai_parse_helpers_read_an_answer_of_every_model(client: OpenAI, name: str) -> None:
    model = MODELS[name]
    schema = model.model_json_schema()
    refused = OPENAI_REFUSED.get(name)
    if refused is not None:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=model)
        assert said(caught.value) == f"Invalid schema for response_format '{name}': {refused}"
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.parse(
                model="gpt-4o", messages=MESSAGES, tools=[openai.pydantic_function_tool(model)]
            )
        assert said(caught.value) == f"Invalid schema for function '{name}': {refused}"
        return
    completion = client.chat.completions.parse(
        model="gpt-4o", messages=MESSAGES, response_format=model
    )
    message = completion.choices[0].message
    assert isinstance(message.parsed, model)
    assert problems(schema, json.loads(message.content or "")) == []
    response = client.responses.parse(model="gpt-4o", input=ASK, text_format=model)
    assert isinstance(response.output_parsed, model)
    assert problems(schema, json.loads(response.output_text)) == []
    called = client.chat.completions.parse(
        model="gpt-4o",
        messages=MESSAGES,
        tools=[openai.pydantic_function_tool(model)],
        tool_choice="required",
    )
    call = (called.choices[0].message.tool_calls or [])[0]
    assert isinstance(call.function.parsed_arguments, model)
    assert problems(schema, json.loads(call.function.arguments)) == []


# --- OpenAI: JSON schemas written by hand and by zod ----------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_json_schema_is_answered_by_a_valid_instance(client: OpenAI, name: str) -> None:
    schema, strict = SCHEMAS[name]["schema"], SCHEMAS[name]["strict"]
    form = {"name": name, "schema": schema, "strict": strict}
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        response_format={"type": "json_schema", "json_schema": form},
    )
    assert problems(schema, json.loads(completion.choices[0].message.content or "")) == []
    response = client.responses.create(
        model="gpt-4o", input=ASK, text={"format": {"type": "json_schema", **form}}
    )
    assert problems(schema, json.loads(response.output_text)) == []


# --- OpenAI: what Structured Outputs refuses ------------------------------------------------


class Mode(BaseModel):
    """A field of an Enum type with a description: pydantic writes `{"$ref", "description"}`."""

    mode: Color = Field(description="The meter's mode")


def test_a_reference_with_keywords_beside_it_is_refused(client: OpenAI) -> None:
    # "Invalid schema for response_format 'multimeter_reading': context=('properties',
    # 'mode'), $ref cannot have keywords {'description'}." (a schema sent as pydantic wrote
    # it; the SDK's own helper inlines such a reference)
    schema = {**Mode.model_json_schema(), "additionalProperties": False}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, response_format=strict_format("reading", schema)
        )
    assert said(caught.value) == (
        "Invalid schema for response_format 'reading': context=('properties', 'mode'), $ref "
        "cannot have keywords {'description'}."
    )
    completion = client.chat.completions.parse(
        model="gpt-4o", messages=MESSAGES, response_format=Mode
    )
    assert isinstance(completion.choices[0].message.parsed, Mode)


def test_a_format_structured_outputs_does_not_know_is_refused(client: OpenAI) -> None:
    # "Invalid schema for function 'create_book': In context=('properties', 'cover_image'),
    # 'uri' is not a valid format." (zod's `.url()`); the guide's nine formats are taken
    schema = obj({"title": {"type": "string"}, "cover_image": {"type": "string", "format": "uri"}})
    tool = {
        "type": "function",
        "function": {"name": "create_book", "parameters": schema, "strict": True},
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=[tool])
    assert said(caught.value) == (
        "Invalid schema for function 'create_book': In context=('properties', 'cover_image'), "
        "'uri' is not a valid format."
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="gpt-4o",
            input=ASK,
            text={
                "format": {"type": "json_schema", "name": "book", "schema": schema, "strict": True}
            },
        )
    assert "'uri' is not a valid format." in said(caught.value)
    # Not strict: the format is a hint, and the Responses API falls back to non-strict calling
    loose = {**tool["function"], "strict": False}
    client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, tools=[{"type": "function", "function": loose}]
    )
    function = {"type": "function", "name": "create_book", "parameters": schema}
    response = client.responses.create(model="gpt-4o", input=ASK, tools=[function])  # type: ignore[list-item]
    assert response.tools[0].strict is False  # type: ignore[union-attr]
