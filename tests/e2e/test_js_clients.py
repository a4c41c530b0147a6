"""What the JavaScript clients send and read, checked through a real server with the Python
SDKs and raw HTTP: the JSON Schemas zod makes (the Vercel AI SDK's `generateObject`,
`tool`, openai-node's helpers) and the answers the API gives them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import RunningServer

from .helpers import check_error, openai_sdk, sdk_refusal

PLAN = [{"role": "user", "content": "plan"}]


def zod_object(properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema as zod 4 writes it for the AI SDK (`zodSchema`, Draft 7 target)."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _branch(kind: str, name: str, kind_of: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"kind": {"type": "string", "const": kind}, name: {"type": kind_of}},
        "required": ["kind", name],
        "additionalProperties": False,
    }


# z.object({ step: z.discriminatedUnion("kind", [...]) })
STEP = zod_object(
    {"step": {"oneOf": [_branch("move", "to", "string"), _branch("wait", "seconds", "number")]}}
)
# z.object({ script: z.string(), args: z.unknown() })
WORKFLOW = zod_object({"script": {"type": "string"}, "args": {}})


# --- strict schemas: what Structured Outputs cannot enforce -----------------------------------


def test_a_discriminated_union_is_refused_by_structured_outputs(server: RunningServer) -> None:
    """`generateObject` with a `z.discriminatedUnion` (a `oneOf`) on the Responses API:
    "In context=(), 'oneOf' is not permitted." as users of the AI SDK quote it."""
    response = httpx.post(
        f"{server.base_url}/responses",
        json={
            "model": "gpt-4o-mini",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "plan"}]}],
            "text": {
                "format": {
                    "type": "json_schema",
                    "strict": True,
                    "name": "response",
                    "schema": STEP,
                }
            },
        },
    )
    assert check_error(response, 400) == {
        "message": "Invalid schema for response_format 'response': In context=('properties', "
        "'step'), 'oneOf' is not permitted.",
        "type": "invalid_request_error",
        "param": "text.format.schema",
        "code": "invalid_json_schema",
    }
    client = openai_sdk(server)
    body = sdk_refusal(
        400,
        lambda: client.chat.completions.create(
            model="gpt-4o-mini",
            messages=PLAN,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "response", "strict": True, "schema": STEP},
            },
        ),
    )
    assert body["message"] == (
        "Invalid schema for response_format 'response': In context=('properties', 'step'), "
        "'oneOf' is not permitted."
    )
    # Without strict the same schema is JSON Schema the API reads, and answers.
    loose = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=PLAN,
        tools=[{"type": "function", "function": {"name": "plan", "parameters": STEP}}],
        tool_choice="required",
    )
    assert loose.choices[0].message.tool_calls


def test_a_field_of_no_type_is_refused_by_structured_outputs(server: RunningServer) -> None:
    """`z.unknown()` / `z.any()` is `{}`; strict mode needs every schema to name its type:
    "In context=('properties', 'args'), schema must have a 'type' key.", in a strict
    function tool and in a json_schema response format alike; `.nullable()` puts the `{}`
    in an anyOf branch, and a lone `const` is refused the same way."""
    client = openai_sdk(server)
    body = sdk_refusal(
        400,
        lambda: client.chat.completions.create(
            model="gpt-4o-mini",
            messages=PLAN,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "response", "strict": True, "schema": WORKFLOW},
            },
        ),
    )
    assert body == {
        "message": "Invalid schema for response_format 'response': In context=('properties', "
        "'args'), schema must have a 'type' key.",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }
    nullable = zod_object({"args": {"anyOf": [{}, {"type": "null"}]}})
    body = sdk_refusal(
        400,
        lambda: client.chat.completions.create(
            model="gpt-4o-mini",
            messages=PLAN,
            tools=[
                {
                    "type": "function",
                    "function": {"name": "workflow", "strict": True, "parameters": nullable},
                }
            ],
        ),
    )
    assert body == {
        "message": "Invalid schema for function 'workflow': In context=('properties', 'args', "
        "'anyOf', '0'), schema must have a 'type' key.",
        "type": "invalid_request_error",
        "param": "tools[0].function.parameters",
        "code": "invalid_function_parameters",
    }
    lone = zod_object({"kind": {"const": "fact"}})
    body = sdk_refusal(
        400,
        lambda: client.responses.create(
            model="gpt-4o-mini",
            input="plan",
            tools=[{"type": "function", "name": "note", "strict": True, "parameters": lone}],
        ),
    )
    assert body["message"] == (
        "Invalid schema for function 'note': In context=('properties', 'kind'), schema must "
        "have a 'type' key."
    )
    # An enum names its values, and a Responses tool that does not ask for strict mode
    # falls back to best-effort calling (the AI SDK's `tool()` sends no `strict`).
    assert client.chat.completions.create(
        model="gpt-4o-mini",
        messages=PLAN,
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "response",
                "strict": True,
                "schema": zod_object({"level": {"enum": ["low", "high"]}}),
            },
        },
    )
    answer = client.responses.create(
        model="gpt-4o-mini",
        input="plan",
        tools=[{"type": "function", "name": "workflow", "parameters": WORKFLOW}],
        tool_choice="required",
    )
    assert answer.output[0].type == "function_call"
    assert answer.tools[0].strict is False  # type: ignore[union-attr]


# --- any function schema: arrays say what they hold -------------------------------------------

# A tool schema as an MCP server lists it (apify-mcp-server's rag-web-browser): an array
# property with a default and no items; the AI SDK's MCP client passes it on unchanged.
BROWSER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string"},
        "outputFormats": {"title": "Output formats", "type": "array", "default": ["markdown"]},
    },
    "required": ["query"],
}


def test_an_array_without_items_is_refused_in_any_function_schema(
    server: RunningServer,
) -> None:
    """Strict or not, the API refuses a function whose array does not say what it holds:
    "In context=('properties', 'outputFormats'), array schema missing items." (quoted for
    MCP servers and OpenAPI tools called without strict mode)."""
    client = openai_sdk(server)
    body = sdk_refusal(
        400,
        lambda: client.chat.completions.create(
            model="gpt-4o-mini",
            messages=PLAN,
            tools=[{"type": "function", "function": {"name": "browse", "parameters": BROWSER}}],
        ),
    )
    assert body == {
        "message": "Invalid schema for function 'browse': In context=('properties', "
        "'outputFormats'), array schema missing items.",
        "type": "invalid_request_error",
        "param": "tools[0].function.parameters",
        "code": "invalid_function_parameters",
    }
    # Responses, strict omitted (the tool cannot be strict, so it is read as a loose one)
    pair = {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}]}
    nested = {
        "type": "object",
        "properties": {"range": {"anyOf": [pair, {"type": "null"}]}},
    }
    body = sdk_refusal(
        400,
        lambda: client.responses.create(
            model="gpt-4o-mini",
            input="plan",
            tools=[{"type": "function", "name": "view", "parameters": nested}],
        ),
    )
    assert body == {
        "message": "Invalid schema for function 'view': In context=('properties', 'range', "
        "'anyOf', '0'), array schema missing items.",
        "type": "invalid_request_error",
        "param": "tools[0].parameters",
        "code": "invalid_function_parameters",
    }
    # with its items the same tool is called
    properties = BROWSER["properties"]
    listed = {**properties["outputFormats"], "items": {"type": "string"}}
    fixed = {**BROWSER, "properties": {**properties, "outputFormats": listed}}
    answer = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=PLAN,
        tools=[{"type": "function", "function": {"name": "browse", "parameters": fixed}}],
        tool_choice="required",
    )
    assert answer.choices[0].message.tool_calls
