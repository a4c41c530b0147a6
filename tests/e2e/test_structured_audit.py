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
from anthropic.lib._parse._transform import transform_schema
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


# --- Anthropic: structured outputs and tools ------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_anthropic_parse_helper_reads_an_answer_of_every_model(
    claude: Anthropic, name: str
) -> None:
    model = MODELS[name]
    parsed = claude.messages.parse(
        model=CLAUDE, max_tokens=2048, messages=MESSAGES, output_format=model
    )
    assert isinstance(parsed.parsed_output, model)
    text = parsed.content[0].text  # type: ignore[union-attr]
    assert problems(model.model_json_schema(), json.loads(text)) == []
    # a strict tool of the schema the SDK makes of it (`transform_schema`) is taken too,
    # but for a recursive model's, whose root is a $ref
    tool = {"name": name, "input_schema": transform_schema(model), "strict": True}
    if "$ref" in tool["input_schema"]:
        with pytest.raises(anthropic.BadRequestError) as caught:
            claude.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, tools=[tool])  # type: ignore[list-item]
        assert said(caught.value) == "tools.0.custom.input_schema.type: Field required"
        return
    message = claude.messages.create(
        model=CLAUDE,
        max_tokens=2048,
        messages=MESSAGES,
        tools=[tool],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": name},
    )
    used = [block for block in message.content if block.type == "tool_use"][0]
    model.model_validate(used.input)


# The first thing Anthropic refuses in each hand-written schema of the corpus sent as an
# output format: numeric bounds, arrays of more than one least item, open objects.
OPEN = "For 'object' type, 'additionalProperties' must be explicitly set to false"
ANTHROPIC_REFUSED = {
    "loose_composition": OPEN,
    "loose_if_then": OPEN,
    "loose_record": OPEN,
    "loose_tuple": OPEN,
    "mcp_exactly_one_of": "Schema type 'oneOf' is not supported",
    "mcp_exclusions": "Schema keyword 'not' is not supported",
    "receipt_integer_enum": OPEN,
    "openai_numbers": "For 'number' type, properties maximum, minimum are not supported",
    "zod3_definitions": "For 'number' type, properties maximum, minimum are not supported",
    "zod3_discriminated": "For 'number' type, property 'exclusiveMinimum' is not supported",
    "zod3_enum_const": "For 'integer' type, property 'minimum' is not supported",
    "zod3_nullable": "For 'number' type, properties maximum, minimum are not supported",
    "zod4_formats": "For 'integer' type, properties maximum, minimum are not supported",
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_json_schema_is_answered_or_refused_as_an_output_format(
    claude: Anthropic, name: str
) -> None:
    schema = SCHEMAS[name]["schema"]
    form = {"format": {"type": "json_schema", "schema": schema}}
    refused = ANTHROPIC_REFUSED.get(name)
    if refused is not None:
        with pytest.raises(anthropic.BadRequestError) as caught:
            claude.messages.create(
                model=CLAUDE,
                max_tokens=2048,
                messages=MESSAGES,
                output_config=form,  # type: ignore[arg-type]
            )
        assert said(caught.value) == f"output_config.format.schema: {refused}"
        return
    message = claude.messages.create(
        model=CLAUDE,
        max_tokens=2048,
        messages=MESSAGES,
        output_config=form,  # type: ignore[arg-type]
    )
    assert problems(schema, json.loads(message.content[0].text)) == []  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("node", "refused"),
    [
        # each as users quote it after "output_format.schema: " or
        # "output_config.format.schema: "
        (
            {"type": "integer", "minimum": 1},
            "For 'integer' type, property 'minimum' is not supported",
        ),
        (
            {"type": "number", "minimum": 0, "maximum": 1},
            "For 'number' type, properties maximum, minimum are not supported",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "For 'array' type, property 'maxItems' is not supported",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3},
            "For 'array' type, 'minItems' values other than 0 or 1 are not supported",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "For 'array' type, property 'uniqueItems' is not supported",
        ),
        (
            {"type": "object", "properties": {}, "additionalProperties": {"type": "string"},
             "propertyNames": {"pattern": "^[a-z]+$"}},
            "For 'object' type, 'additionalProperties: object' is not supported",
        ),
        (
            {"type": "object", "properties": {}, "additionalProperties": True},
            "For 'object' type, 'additionalProperties: true' is not supported. Please set "
            "'additionalProperties' to false",
        ),
        (
            {"type": "object", "properties": {}, "additionalProperties": False,
             "propertyNames": {"pattern": "^[a-z]+$"}},
            "For 'object' type, property 'propertyNames' is not supported",
        ),
        (
            {"type": "string", "format": "phone"},
            "For 'string' type, format 'phone' is not supported",
        ),
        (
            {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "Schema type 'oneOf' is not supported",
        ),
        ({"type": "string", "not": {"const": ""}}, "Schema keyword 'not' is not supported"),
        ({"description": "anything"}, "Invalid schema: Schema type is missing"),
    ],
)  # fmt: skip
def test_an_output_format_anthropic_cannot_follow_is_refused_in_its_words(
    claude: Anthropic, node: dict[str, Any], refused: str
) -> None:
    schema = obj({"value": node})
    for where, body in (
        (
            "output_config.format",
            {"output_config": {"format": {"type": "json_schema", "schema": schema}}},
        ),
        ("output_format", {"output_format": {"type": "json_schema", "schema": schema}}),
    ):
        with pytest.raises(anthropic.BadRequestError) as caught:
            claude.messages.create(
                model=CLAUDE,
                max_tokens=64,
                messages=MESSAGES,
                extra_body=body,  # type: ignore[arg-type]
            )
        assert said(caught.value) == f"{where}.schema: {refused}"


@pytest.mark.parametrize(
    ("node", "refused"),
    [
        ({"type": "number", "exclusiveMinimum": 0},
         "For 'number' type, property 'exclusiveMinimum' is not supported"),
        ({"type": "integer", "minimum": 1, "maximum": 5},
         "For 'integer' type, properties maximum, minimum are not supported"),
        ({"type": "array", "items": {"type": "string"}, "maxItems": 3},
         "For 'array' type, property 'maxItems' is not supported"),
        ({"type": ["object", "null"], "properties": {"q": {"type": "string"}}},
         "For 'object' type, 'additionalProperties' must be explicitly set to false"),
    ],
)  # fmt: skip
def test_a_strict_tool_anthropic_cannot_follow_is_refused_in_its_words(
    claude: Anthropic, node: dict[str, Any], refused: str
) -> None:
    # as users quote it: "tools.0.custom: For 'number' type, property 'exclusiveMinimum' is
    # not supported", "tools.0.custom: For 'object' type, 'additionalProperties' must be
    # explicitly set to false" (for a ["object", "null"] property too)
    tools = [
        {"name": "lookup", "input_schema": obj({"q": {"type": "string"}})},
        {"name": "score", "input_schema": obj({"value": node}), "strict": True},
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, tools=tools)  # type: ignore[arg-type]
    assert said(caught.value) == f"tools.1.custom: {refused}"
    loose = [tools[0], {**tools[1], "strict": False}]  # not strict: taken as it is
    claude.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, tools=loose)  # type: ignore[arg-type]


def test_strict_schemas_that_leave_too_much_optional_are_refused(claude: Anthropic) -> None:
    # "Schemas contains too many optional parameters (28), which would make grammar
    # compilation inefficient. Reduce the number of optional parameters in your tool schemas
    # (limit: 24)." (as users quote it): counted over the request's strict tools and its
    # output format, array items too; a tool that is not strict does not count
    def loose(n: int, prefix: str) -> dict[str, Any]:
        properties = {f"{prefix}{i}": {"type": "string"} for i in range(n)}
        return {"type": "object", "properties": properties, "additionalProperties": False}

    listed = {"type": "object", "properties": {"rows": {"type": "array", "items": loose(5, "c")}},
              "required": ["rows"], "additionalProperties": False}  # fmt: skip
    tools = [
        {"name": "a", "input_schema": loose(12, "a"), "strict": True},
        {"name": "b", "input_schema": listed, "strict": True},
        {"name": "c", "input_schema": loose(30, "x")},
    ]
    form = {"format": {"type": "json_schema", "schema": loose(8, "f")}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model=CLAUDE,
            max_tokens=64,
            messages=MESSAGES,
            tools=tools,
            output_config=form,  # type: ignore[arg-type]
        )
    assert said(caught.value) == (
        "Schemas contains too many optional parameters (25), which would make grammar "
        "compilation inefficient. Reduce the number of optional parameters in your tool "
        "schemas (limit: 24)."
    )
    form = {"format": {"type": "json_schema", "schema": loose(7, "f")}}
    claude.messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=MESSAGES,
        tools=tools,
        output_config=form,  # type: ignore[arg-type]
    )


def test_what_an_output_format_may_hold_is_answered(claude: Anthropic) -> None:
    # String lengths and patterns, minItems of 0 or 1, `uri`, `anyOf`, `$ref` and `$defs`
    # are taken (uc_ai's and other projects' live probes); the answer follows them.
    schema = obj(
        {
            "code": {"type": "string", "minLength": 4, "maxLength": 6, "pattern": "^[A-Z]+$"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "home": {"type": "string", "format": "uri"},
            "owner": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "null"}]},
        },
        **{"$defs": {"Person": obj({"name": {"type": "string"}})}},
    )
    message = claude.messages.create(
        model=CLAUDE,
        max_tokens=512,
        messages=MESSAGES,
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert problems(schema, json.loads(message.content[0].text)) == []  # type: ignore[union-attr]


def test_a_tool_schema_that_names_no_type_is_told_the_field_is_required(
    claude: Anthropic,
) -> None:
    # pydantic's schema of a recursive model is a root `$ref`: "tools.0.custom.input_schema.
    # type: Field required", as users quote it for a tool sent with `{}`
    schema = MODELS["TreeNode"].model_json_schema()
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model=CLAUDE,
            max_tokens=64,
            messages=MESSAGES,
            tools=[{"name": "tree", "input_schema": schema}],  # type: ignore[typeddict-item]
        )
    assert said(caught.value) == "tools.0.custom.input_schema.type: Field required"


# --- Tools and determinism ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_a_forced_tool_of_every_json_schema_gets_valid_arguments(
    client: OpenAI, claude: Anthropic, name: str
) -> None:
    schema, strict = SCHEMAS[name]["schema"], SCHEMAS[name]["strict"]
    if "prefixItems" in json.dumps(schema):
        # a function's arrays must say `items` (refused for the tuple without them)
        return
    function = {"name": name, "parameters": schema, "strict": strict}
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        tools=[{"type": "function", "function": function}],  # type: ignore[list-item]
        tool_choice="required",
    )
    call = (completion.choices[0].message.tool_calls or [])[0]
    assert problems(schema, json.loads(call.function.arguments)) == []  # type: ignore[union-attr]
    if {"oneOf", "anyOf", "allOf"} & schema.keys():
        # "tools.N.custom.input_schema: input_schema does not support oneOf, allOf, or anyOf
        # at the top level" (github.com/anthropics/claude-code issue 5319, MCP servers' tools)
        with pytest.raises(anthropic.BadRequestError) as caught:
            anthropic_tool_use(claude, name, schema)
        assert said(caught.value).endswith(
            "does not support oneOf, allOf, or anyOf at the top level"
        )
        return
    assert problems(schema, anthropic_tool_use(claude, name, schema)) == []


def anthropic_tool_use(claude: Anthropic, name: str, schema: dict[str, Any]) -> Any:
    """The input of the tool_use Claude answers when made to call a tool of this schema."""
    message = claude.messages.create(
        model=CLAUDE,
        max_tokens=2048,
        messages=MESSAGES,
        tools=[{"name": name, "description": "Fill it in.", "input_schema": schema}],  # type: ignore[typeddict-item]
        tool_choice={"type": "tool", "name": name},
    )
    return [block for block in message.content if block.type == "tool_use"][0].input


@pytest.mark.parametrize("name", ["Recipe", "Employee", "Formats", "Optionals"])
def test_the_same_request_gets_the_same_instance(
    client: OpenAI, claude: Anthropic, name: str
) -> None:
    model = MODELS[name]

    def answers(seed: int | None) -> list[str]:
        seeded: dict[str, Any] = {} if seed is None else {"seed": seed}
        chat = client.chat.completions.parse(
            model="gpt-4o", messages=MESSAGES, response_format=model, **seeded
        )
        response = client.responses.parse(model="gpt-4o", input=ASK, text_format=model)
        message = claude.messages.parse(
            model=CLAUDE, max_tokens=2048, messages=MESSAGES, output_format=model
        )
        return [
            chat.choices[0].message.content or "",
            response.output_text,
            message.content[0].text,  # type: ignore[union-attr]
        ]

    first = answers(None)
    assert answers(None) == first
    assert answers(7) == answers(7)
    assert answers(7)[0] != first[0]  # the request's seed draws another
