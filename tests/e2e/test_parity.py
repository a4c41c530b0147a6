"""Refuse what the real API refuses, with its words, through a real server: unknown
arguments, per-model output and context limits, reasoning-model parameters, strict schemas;
what the real API accepts passes; `--lenient` accepts everything the old way; every request
is journaled. Each message is the one docs/models.md quotes from the real service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from tests.conftest import RunningServer, start_server

from .helpers import (
    RESPONSES_WEATHER,
    check_error,
    journal,
    openai_sdk,
    post_chat,
    reset,
    sdk_refusal,
)

HI = [{"role": "user", "content": "Hello there."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server("--seed", "3", tmp_path=tmp_path_factory.mktemp("parity"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def lenient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server("--lenient", tmp_path=tmp_path_factory.mktemp("lenient"))
    yield running
    running.stop()


sdk = openai_sdk
refused = sdk_refusal


# --- unknown arguments ------------------------------------------------------------------------


def test_an_unknown_argument_is_refused(server: RunningServer) -> None:
    body = refused(
        400,
        lambda: sdk(server).chat.completions.create(
            model="gpt-4o-mini", messages=HI, extra_body={"top_k": 40}
        ),
    )
    assert body == {
        "message": "Unrecognized request argument supplied: top_k",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    several = {"model": "gpt-4o-mini", "messages": HI, "top_k": 1, "min_p": 0.1}
    error = check_error(post_chat(server.base_url, several), 400)
    assert error["message"] == "Unrecognized request arguments supplied: min_p, top_k"


def test_the_responses_api_names_an_unknown_parameter(server: RunningServer) -> None:
    body = refused(
        400,
        lambda: sdk(server).responses.create(
            model="gpt-4o-mini", input="Hi", extra_body={"response_format": {"type": "text"}}
        ),
    )
    assert body == {
        "message": "Unknown parameter: 'response_format'.",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": "unknown_parameter",
    }


def test_gateway_profiles_pass_unknown_arguments(tmp_path) -> None:
    gateway = start_server("--profile", "nextapi", tmp_path=tmp_path)
    try:
        response = post_chat(
            gateway.base_url, {"model": "gpt-4o-mini", "messages": HI, "top_k": 40}
        )
        assert response.status_code == 200, response.text
    finally:
        gateway.stop()


# --- output and context limits ----------------------------------------------------------------


def test_common_output_settings_pass_where_the_model_allows_them(server: RunningServer) -> None:
    client = sdk(server)
    # max_tokens 8192 (a common default) on gpt-4o-mini; 16000 for a reasoning model.
    assert client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=8192)
    done = client.chat.completions.create(model="o4-mini", messages=HI, max_completion_tokens=16000)
    assert done.choices[0].finish_reason == "stop"
    assert client.responses.create(model="gpt-5", input="Hi", max_output_tokens=100000)


def test_output_over_the_model_limit_is_refused(server: RunningServer) -> None:
    body = refused(
        400,
        lambda: sdk(server).chat.completions.create(model="gpt-4o", messages=HI, max_tokens=20000),
    )
    assert body["message"] == (
        "max_tokens is too large: 20000. This model supports at most 16384 completion "
        "tokens, whereas you provided 20000."
    )
    assert (body["param"], body["code"]) == ("max_tokens", None)


def test_a_prompt_over_the_context_window_is_refused(server: RunningServer) -> None:
    client = sdk(server)
    body = refused(
        400,
        lambda: client.chat.completions.create(model="gpt-4", messages=HI, max_tokens=8192),
    )
    assert body["code"] == "context_length_exceeded" and body["param"] == "messages"
    assert body["message"].startswith(
        "This model's maximum context length is 8192 tokens. However, you requested 8"
    )
    assert body["message"].endswith(
        " in the messages, 8192 in the completion). Please reduce the length of the "
        "messages or completion."
    )
    long = [{"role": "user", "content": "word " * 130_000}]
    body = refused(400, lambda: client.chat.completions.create(model="gpt-4o", messages=long))
    assert body["message"].startswith(
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 1300"
    )
    assert body["message"].endswith(" tokens. Please reduce the length of the messages.")
    body = refused(400, lambda: client.responses.create(model="gpt-4o", input="word " * 130_000))
    assert body == {
        "message": "Your input exceeds the context window of this model. Please adjust your "
        "input and try again.",
        "type": "invalid_request_error",
        "param": "input",
        "code": "context_length_exceeded",
    }


# --- reasoning models -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "message", "param", "code"),
    [
        (
            {"max_tokens": 500},
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
            "'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        ),
        (
            {"temperature": 0.2},
            400,
            "Unsupported value: 'temperature' does not support 0.2 with this model. Only the "
            "default (1) value is supported.",
            "temperature",
            "unsupported_value",
        ),
        (
            {"top_p": 0.9},
            400,
            "Unsupported parameter: 'top_p' is not supported with this model.",
            "top_p",
            "unsupported_parameter",
        ),
        (
            {"presence_penalty": 0.5},
            400,
            "Unsupported parameter: 'presence_penalty' is not supported with this model.",
            "presence_penalty",
            "unsupported_parameter",
        ),
        (
            {"logprobs": True},
            403,
            "You are not allowed to request logprobs from this model",
            None,
            None,
        ),
    ],
    ids=["max_tokens", "temperature", "top_p", "presence_penalty", "logprobs"],
)
def test_reasoning_models_refuse_sampling_parameters(
    server: RunningServer, fields: dict[str, Any], status: int, message: str, param, code
) -> None:
    models = ("o3",) if "logprobs" in fields else ("o3", "gpt-5-mini")  # GPT-5: below
    for model in models:
        body = refused(
            status,
            lambda m=model: sdk(server).chat.completions.create(model=m, messages=HI, **fields),
        )
        assert body == {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }


def test_reasoning_effort_belongs_to_reasoning_models(server: RunningServer) -> None:
    client = sdk(server)
    done = client.chat.completions.create(
        model="o3", messages=HI, reasoning_effort="high", temperature=1
    )
    usage = done.usage
    assert usage is not None and usage.completion_tokens_details is not None
    reasoning = usage.completion_tokens_details.reasoning_tokens
    assert reasoning and reasoning >= 576
    assert usage.completion_tokens > reasoning  # the answer's tokens on top
    assert done.choices[0].message.content
    body = refused(
        400,
        lambda: client.chat.completions.create(model="gpt-4o", messages=HI, reasoning_effort="low"),
    )
    assert body["message"] == "Unrecognized request argument supplied: reasoning_effort"
    body = refused(
        400,
        lambda: client.responses.create(model="gpt-4.1", input="Hi", reasoning={"effort": "low"}),
    )
    assert body["message"] == (
        "Unsupported parameter: 'reasoning.effort' is not supported with this model."
    )
    assert (body["param"], body["code"]) == ("reasoning.effort", "unsupported_parameter")
    body = refused(
        400, lambda: client.responses.create(model="o4-mini", input="Hi", temperature=0.3)
    )
    assert (
        body["message"] == "Unsupported parameter: 'temperature' is not supported with this model."
    )


def test_reasoning_shows_in_usage_and_output(server: RunningServer) -> None:
    client = sdk(server)
    response = client.responses.create(model="o3", input="Why is the sky blue?")
    assert response.output[0].type == "reasoning"
    assert response.output[-1].type == "message"
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens > 0
    assert response.reasoning is not None and response.reasoning.effort == "medium"
    with client.responses.stream(model="o3", input="Why is the sky blue?") as stream:
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    deepseek = client.chat.completions.create(model="deepseek-reasoner", messages=HI)
    message = deepseek.choices[0].message.model_dump()
    assert message["reasoning_content"]
    assert deepseek.usage.completion_tokens_details.reasoning_tokens > 0  # type: ignore[union-attr]
    plain = client.chat.completions.create(model="gpt-4o", messages=HI)
    assert plain.usage.completion_tokens_details.reasoning_tokens == 0  # type: ignore[union-attr]


# --- strict structured outputs ----------------------------------------------------------------

PERSON_OPTIONAL_AGE = {
    # What langchain-core's convert_to_openai_tool(Person, strict=True) sent before it
    # listed every property in `required`: additionalProperties false, `age` optional.
    "type": "function",
    "function": {
        "name": "Person",
        "description": "A person.",
        "parameters": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


class Ledger(BaseModel):
    owner: str
    totals: dict[str, float]  # a map: additionalProperties is a schema, not false


def test_strict_schemas_the_api_cannot_enforce_are_refused(server: RunningServer) -> None:
    client = sdk(server)
    body = refused(
        400,
        lambda: client.chat.completions.create(
            model="gpt-4o-mini", messages=HI, tools=[PERSON_OPTIONAL_AGE], tool_choice="required"
        ),
    )
    assert body == {
        "message": "Invalid schema for function 'Person': In context=(), 'required' is "
        "required to be supplied and to be an array including every key in properties. "
        "Missing 'age'.",
        "type": "invalid_request_error",
        "param": "tools[0].function.parameters",
        "code": "invalid_function_parameters",
    }
    body = refused(
        400,
        lambda: client.chat.completions.parse(
            model="gpt-4o-2024-08-06", messages=HI, response_format=Ledger
        ),
    )
    assert body["message"] == (
        "Invalid schema for response_format 'Ledger': In context=('properties', 'totals'), "
        "'additionalProperties' is required to be supplied and to be false."
    )
    assert body["param"] == "response_format"


def test_schemas_that_are_not_json_schema_are_refused_strict_or_not(
    server: RunningServer,
) -> None:
    client = sdk(server)
    typo = {"type": "object", "properties": {"city": {"type": "sting"}}}
    chat_tool = {"type": "function", "function": {"name": "get_weather", "parameters": typo}}
    body = refused(
        400,
        lambda: client.chat.completions.create(model="gpt-4o-mini", messages=HI, tools=[chat_tool]),
    )
    assert body == {
        "message": "Invalid schema for function 'get_weather': 'sting' is not valid under any "
        "of the given schemas.",
        "type": "invalid_request_error",
        "param": "tools[0].function.parameters",
        "code": "invalid_function_parameters",
    }
    listed = {"type": "object", "properties": {"city": []}}
    responses_tool = {"type": "function", "name": "get_weather", "parameters": listed}
    body = refused(
        400,
        lambda: client.responses.create(
            model="gpt-4o-mini", input="Hi", tools=[{**responses_tool, "strict": False}]
        ),
    )
    assert body["message"] == (
        "Invalid schema for function 'get_weather': [] is not of type 'object', 'boolean'."
    )
    assert body["param"] == "tools[0].parameters"
    # a tuple written in Draft 7's way (items: [...]) is JSON Schema too
    pair = {"type": "array", "items": [{"type": "string"}, {"type": "number"}]}
    loose = {"type": "object", "properties": {"pair": pair}}
    tool = {"type": "function", "function": {"name": "f", "parameters": loose}}
    assert client.chat.completions.create(model="gpt-4o-mini", messages=HI, tools=[tool])


def test_responses_function_tools_are_strict_when_they_can_be(server: RunningServer) -> None:
    """Only `strict: true` refuses a schema strict mode cannot enforce; without `strict`
    the tool is strict when its schema allows, else called best-effort (the function
    calling guide), as LangChain's Responses tools rely on."""
    loose = {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    client = sdk(server)
    body = refused(
        400,
        lambda: client.responses.create(
            model="gpt-4o", input="Hi", tools=[{**loose, "strict": True}]
        ),
    )
    assert body == {
        "message": "Invalid schema for function 'lookup': In context=(), "
        "'additionalProperties' is required to be supplied and to be false.",
        "type": "invalid_request_error",
        "param": "tools[0].parameters",
        "code": "invalid_function_parameters",
    }
    answer = client.responses.create(model="gpt-4o", input="Hi", tools=[loose])
    assert [t.strict for t in answer.tools] == [False]  # type: ignore[union-attr]
    fitting = {
        **loose,
        "parameters": {**loose["parameters"], "required": ["q"], "additionalProperties": False},
    }
    answer = client.responses.create(model="gpt-4o", input="Hi", tools=[fitting])
    assert [t.strict for t in answer.tools] == [True]  # type: ignore[union-attr]


# --- tool calls and their replies ------------------------------------------------------------

WEATHER_CHAT = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_RESPONSES = RESPONSES_WEATHER


def test_chat_tool_calls_must_be_answered_by_tool_messages(server: RunningServer) -> None:
    client = sdk(server)
    ask = {"role": "user", "content": "Weather in Paris?"}
    first = client.chat.completions.create(
        model="gpt-4o-mini", messages=[ask], tools=[WEATHER_CHAT], tool_choice="required"
    )
    called = first.choices[0].message
    assert called.tool_calls
    call_id = called.tool_calls[0].id
    assistant = called.model_dump(exclude_none=True)
    moved_on = [ask, assistant, {"role": "user", "content": "Never mind."}]
    body = refused(
        400,
        lambda: client.chat.completions.create(
            model="gpt-4o-mini", messages=moved_on, tools=[WEATHER_CHAT]
        ),
    )
    assert body == {
        "message": "An assistant message with 'tool_calls' must be followed by tool messages "
        "responding to each 'tool_call_id'. The following tool_call_ids did not have response "
        f"messages: {call_id}",
        "type": "invalid_request_error",
        "param": "messages.[2].role",
        "code": None,
    }
    stray = [ask, {"role": "tool", "tool_call_id": call_id, "content": "18C"}]
    body = refused(400, lambda: client.chat.completions.create(model="gpt-4o-mini", messages=stray))
    assert body["message"] == (
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
        "message with 'tool_calls'."
    )
    assert body["param"] == "messages.[1].role"
    answered = [ask, assistant, {"role": "tool", "tool_call_id": call_id, "content": "18C"}]
    final = client.chat.completions.create(
        model="gpt-4o-mini", messages=answered, tools=[WEATHER_CHAT]
    )
    assert final.choices[0].finish_reason == "stop"


def test_responses_function_calls_must_be_answered_by_their_outputs(
    server: RunningServer,
) -> None:
    client = sdk(server)
    first = client.responses.create(
        model="gpt-4o-mini",
        input="Weather in Paris?",
        tools=[WEATHER_RESPONSES],
        tool_choice="required",
    )
    call = first.output[-1]
    assert call.type == "function_call"
    body = refused(
        400,
        lambda: client.responses.create(
            model="gpt-4o-mini", previous_response_id=first.id, input="Never mind."
        ),
    )
    assert body == {
        "message": f"No tool output found for function call {call.call_id}.",
        "type": "invalid_request_error",
        "param": "input",
        "code": None,
    }
    stray = {"type": "function_call_output", "call_id": "call_elsewhere", "output": "18C"}
    body = refused(400, lambda: client.responses.create(model="gpt-4o-mini", input=[stray]))
    assert body["message"] == (
        "No tool call found for function call output with call_id call_elsewhere."
    )
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "18C"}
    final = client.responses.create(
        model="gpt-4o-mini", previous_response_id=first.id, input=[output]
    )
    assert final.status == "completed" and final.output_text


# --- --lenient --------------------------------------------------------------------------------

REFUSED_BY_PRODUCTION = [
    {"model": "gpt-4o-mini", "messages": HI, "top_k": 40, "fallbacks": ["gpt-4o"]},
    {"model": "o3", "messages": HI, "max_tokens": 200, "temperature": 0.2, "top_p": 0.5},
    {"model": "o4-mini", "messages": HI, "logprobs": True},
    {"model": "gpt-4o", "messages": HI, "reasoning_effort": "low", "max_tokens": 50000},
    {"model": "gpt-4o-mini", "messages": HI, "tools": [PERSON_OPTIONAL_AGE]},
    {"model": "gpt-4", "messages": HI, "max_tokens": 8192},
    {
        "model": "gpt-4o-mini",
        "messages": [*HI, {"role": "tool", "tool_call_id": "c", "content": "x"}],
    },
    {
        "model": "gpt-4o-mini",
        "messages": HI,
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object", "properties": 7}},
            }
        ],
    },
]


def test_lenient_accepts_what_production_refuses(
    server: RunningServer, lenient: RunningServer
) -> None:
    for body in REFUSED_BY_PRODUCTION:
        assert post_chat(server.base_url, body).status_code in (400, 403), body
        answered = post_chat(lenient.base_url, body)
        assert answered.status_code == 200, (body, answered.text)
    loose = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}
    responses = httpx.post(
        f"{lenient.base_url}/responses",
        json={"model": "o3", "input": "Hi", "temperature": 0.1, "tools": [loose], "x": 1},
    )
    assert responses.status_code == 200, responses.text
    stray = {"type": "function_call_output", "call_id": "c", "output": "x"}
    for running, status in ((server, 400), (lenient, 200)):
        answered = httpx.post(
            f"{running.base_url}/responses", json={"model": "gpt-4o", "input": [stray]}
        )
        assert answered.status_code == status, answered.text


def test_the_banner_says_lenient(lenient: RunningServer, server: RunningServer) -> None:
    assert "--lenient: accepting requests the real API refuses" in lenient.log()
    assert "--lenient" not in server.log()


# --- the journal and the 404 ------------------------------------------------------------------


def test_every_request_is_journaled_and_the_404_names_the_paths(server: RunningServer) -> None:
    reset(server.url)
    wrong = httpx.post(
        f"{server.url}/v1/chat/completion",  # a typo
        json={"model": "gpt-4o", "messages": HI},
        headers={"authorization": "Bearer sk-test"},
    )
    error = check_error(wrong, 404)
    assert error["message"].startswith("Invalid URL (POST /v1/chat/completion). ")
    for served in (
        "POST /v1/chat/completions",
        "POST /v1/responses",
        "POST /v1/embeddings",
        "GET /v1/models",
        "GET /v1/responses/{response_id}",
    ):
        assert served in error["message"]
    assert "__admin" not in error["message"]
    method = httpx.put(f"{server.base_url}/chat/completions")
    assert check_error(method, 405)["message"] == "Method not allowed: PUT /v1/chat/completions"
    assert method.headers["allow"] == "POST, GET, HEAD"  # GET lists the stored completions
    assert httpx.get(f"{server.base_url}/models").status_code == 200
    entries = journal(server.url)
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/v1/chat/completion", 404),
        ("PUT", "/v1/chat/completions", 405),
        ("GET", "/v1/models", 200),
    ]
    assert entries[0]["request"] == {"model": "gpt-4o", "messages": HI}
    assert entries[0]["source"] == "error" and entries[0]["error"] == error["message"]
    assert entries[2]["source"] == "route" and entries[2]["api"] is None


def test_the_gpt5_family_refuses_logprobs_while_it_reasons(server: RunningServer) -> None:
    """A 400 unsupported_parameter (a direct-API table of 2026-08-30), not the o-series'
    403; gpt-5.4 reasons only when asked, so it takes them."""
    body = refused(
        400,
        lambda: sdk(server).chat.completions.create(model="gpt-5-mini", messages=HI, logprobs=True),
    )
    assert body == {
        "message": "Unsupported parameter: 'logprobs' is not supported with this model.",
        "type": "invalid_request_error",
        "param": "logprobs",
        "code": "unsupported_parameter",
    }
    answer = sdk(server).chat.completions.create(model="gpt-5.4", messages=HI, logprobs=True)
    assert answer.choices[0].logprobs is not None


def test_o1_mini_and_o1_preview_take_no_system_or_developer_message(
    server: RunningServer,
) -> None:
    client = sdk(server)
    for model, messages, at in (
        ("o1-mini", [{"role": "system", "content": "Be brief."}, *HI], 0),
        ("o1-mini-2024-09-12", [*HI, {"role": "developer", "content": "Be brief."}], 1),
        ("o1-preview", [{"role": "developer", "content": "Be brief."}, *HI], 0),
    ):
        role = messages[at]["role"]
        body = refused(
            400,
            lambda m=model, ms=messages: client.chat.completions.create(model=m, messages=ms),
        )
        assert body == {
            "message": f"Unsupported value: 'messages[{at}].role' does not support '{role}' "
            "with this model.",
            "type": "invalid_request_error",
            "param": f"messages[{at}].role",
            "code": "unsupported_value",
        }
    # user and assistant turns are answered; o1 and o3-mini take a system message
    assert client.chat.completions.create(model="o1-mini", messages=HI).choices[0].message.content
    system = [{"role": "system", "content": "Be brief."}, *HI]
    for model in ("o1", "o3-mini"):
        assert client.chat.completions.create(model=model, messages=system).choices


def test_an_image_url_is_an_address_or_a_data_url(server: RunningServer) -> None:
    client = sdk(server)

    def ask(url: str) -> Any:
        image = {"type": "image_url", "image_url": {"url": url}}
        content = [{"type": "text", "text": "What is in this picture?"}, image]
        return client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": content}]
        )

    body = refused(400, lambda: ask("cat.png"))
    assert body == {
        "message": "Invalid image URL: 'messages[0].content[1].image_url.url'. Expected a "
        "base64-encoded data URL with an image MIME type (e.g. "
        "'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got a value without the 'data:' "
        "prefix.",
        "type": "invalid_request_error",
        "param": "messages[0].content[1].image_url.url",
        "code": "invalid_value",
    }
    for url in (
        "https://example.com/cat.png",
        "http://example.com/cat.png",
        "data:image/png;base64,iVBORw0KGgo=",
    ):
        assert ask(url).choices[0].message.content


def test_a_model_before_gpt_5_takes_only_medium_verbosity_on_chat(server: RunningServer) -> None:
    client = sdk(server)
    for model, verbosity in (("gpt-4o", "low"), ("gpt-4.1-mini", "high")):
        body = refused(
            400,
            lambda m=model, v=verbosity: client.chat.completions.create(
                model=m, messages=HI, verbosity=v
            ),
        )
        assert body == {
            "message": f"Unsupported value: 'verbosity' does not support '{verbosity}' with "
            "this model. Supported values are: 'medium'.",
            "type": "invalid_request_error",
            "param": "verbosity",
            "code": "unsupported_value",
        }
    assert client.chat.completions.create(model="gpt-4o", messages=HI, verbosity="medium")
    assert client.chat.completions.create(model="gpt-5-mini", messages=HI, verbosity="low")
