"""The Messages API against the real API's rules, through the front door: the official
`anthropic` SDK (its helpers: `parse`, `stream`, `tool_runner`) and raw httpx, against a real
server on a loopback port. Answers are validated with the SDK's own types; refusals are
compared word for word with the API's, as public reports quote them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from anthropic import Anthropic, beta_tool
from anthropic.types import (
    Message,
    ThreadAlreadyContinuedError,
    ThreadNotFoundError,
    ThreadUnsupportedRequestError,
)
from pydantic import BaseModel, Field

from tests.conftest import RunningServer, start_server

from .helpers import journal, reset, write_scenario

MODEL = "claude-sonnet-4-5"
KEY = "sk-ant-api03-parity"
RULES = """\
version: 1
rules:
  - name: thought-only
    match: { last_user: "think, then answer" }
    reply: { reasoning: "The person should be plausible." }
  - name: think-then-call
    match: { last_user: "weather, thoughtfully", last_message: { role: user } }
    reply:
      reasoning: "The user wants Oslo's weather: call the tool."
      tool_calls: [{ name: get_weather, arguments: { city: Oslo } }]
  - name: answer-the-result
    match: { last_message: { role: tool } }
    reply: { content: "It is 3C in Oslo." }
"""
WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


class Person(BaseModel):
    name: str
    age: int
    tags: list[str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("messages-parity")
    scenarios = folder / "scenarios"
    scenarios.mkdir()
    write_scenario(scenarios, RULES, "parity.yaml")
    running = start_server("--scenarios", str(scenarios), "--seed", "11", tmp_path=folder)
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[Anthropic]:
    sdk = Anthropic(base_url=server.url, api_key=KEY, max_retries=0)
    yield sdk
    sdk.close()


def post(server: RunningServer, body: dict[str, Any], **headers: str) -> httpx.Response:
    sent = {"x-api-key": KEY, "anthropic-version": "2023-06-01", **headers}
    return httpx.post(f"{server.url}/v1/messages", json=body, headers=sent, timeout=10)


def request(text: str = "Describe a person", **fields: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
        **fields,
    }


def refusal(response: httpx.Response) -> str:
    """The message of an Anthropic-shaped 400."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error", body
    return str(body["error"]["message"])


# --- 1. structured outputs --------------------------------------------------------------------


def test_messages_parse_gets_json_of_the_model(client: Anthropic) -> None:
    asked = [{"role": "user", "content": "Describe a person"}]
    parsed = client.messages.parse(
        model=MODEL, max_tokens=300, output_format=Person, messages=asked
    )
    assert isinstance(parsed.parsed_output, Person)
    Person.model_validate_json(parsed.content[0].text)
    beta = client.beta.messages.parse(
        model=MODEL, max_tokens=300, output_format=Person, messages=asked
    )
    assert isinstance(beta.parsed_output, Person)
    with client.messages.stream(
        model=MODEL, max_tokens=300, output_format=Person, messages=asked
    ) as stream:
        final = stream.get_final_message()
    assert isinstance(final.parsed_output, Person)
    thought = client.messages.parse(
        model=MODEL,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        output_format=Person,
        messages=asked,
    )
    assert [b.type for b in thought.content] == ["thinking", "text"]
    assert isinstance(thought.parsed_output, Person)


def test_a_rule_without_content_answers_json_of_the_schema(client: Anthropic) -> None:
    parsed = client.messages.parse(
        model=MODEL,
        max_tokens=300,
        output_format=Person,
        messages=[{"role": "user", "content": "think, then answer"}],
    )
    assert parsed.content[0].type == "thinking"
    assert parsed.content[0].thinking == "The person should be plausible."
    assert isinstance(parsed.parsed_output, Person)


def test_the_beta_output_format_field_gets_json(server: RunningServer) -> None:
    schema = {**Person.model_json_schema(), "additionalProperties": False}  # as the API asks
    response = post(
        server,
        request(output_format={"type": "json_schema", "schema": schema}),
        **{"anthropic-beta": "structured-outputs-2025-11-13"},
    )
    assert response.status_code == 200, response.text
    message = Message.model_validate(response.json())
    jsonschema.validate(json.loads(message.content[0].text), schema)


class Review(BaseModel):
    score: float = Field(ge=0, le=1)
    stars: int = Field(ge=1, le=5)
    code: str = Field(min_length=3, max_length=8)
    tags: list[str] = Field(min_length=2, max_length=3)


def test_bounds_the_clients_move_into_descriptions_are_kept(
    client: Anthropic, server: RunningServer
) -> None:
    # The API takes no minimum, maxLength or minItems: the SDK moves them into each
    # description ('{minimum: 0, maximum: 1}') and checks the answer against the model.
    for n in range(6):
        asked = [{"role": "user", "content": f"Review product {n}"}]
        parsed = client.messages.parse(
            model=MODEL, max_tokens=300, output_format=Review, messages=asked
        )
        assert isinstance(parsed.parsed_output, Review)
    # The Vercel AI SDK writes them as 'min length: 3; max length: 8.' (its request).
    sent = {
        "type": "object",
        "properties": {
            "stars": {"type": "integer", "description": "minimum: 1; maximum: 5."},
            "code": {"type": "string", "description": "min length: 3; max length: 8."},
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "description": "min items: 2; max items: 3.",
            },
        },
        "additionalProperties": False,
        "required": ["stars", "code", "tags"],
    }
    meant = {
        **sent,
        "properties": {
            "stars": {"type": "integer", "minimum": 1, "maximum": 5},
            "code": {"type": "string", "minLength": 3, "maxLength": 8},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3},
        },
    }
    for n in range(6):
        body = request(
            f"Review product {n}",
            output_config={"format": {"type": "json_schema", "schema": sent}},
        )
        response = post(server, body)
        assert response.status_code == 200, response.text
        jsonschema.validate(json.loads(response.json()["content"][0]["text"]), meant)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"output_config": {"format": {"type": "bogus", "schema": {"type": "object"}}}},
            "output_config.format.type: Input should be 'json_schema'",
        ),
        (
            {"output_config": {"effort": "ultra"}},
            "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
        ),
        ({"service_tier": 1}, "service_tier: Input should be 'auto' or 'standard_only'"),
        ({"speed": "x"}, "speed: Input should be 'standard' or 'fast'"),
        ({"container": []}, "container: Input should be a valid string"),
        ({"cache_control": 1}, "cache_control: Input should be a valid dictionary"),
        ({"inference_geo": 1}, "inference_geo: Input should be a valid string"),
        ({"mcp_servers": "x"}, "mcp_servers: Input should be a valid list"),
        ({"diagnostics": []}, "diagnostics: Input should be a valid dictionary"),
    ],
)
def test_options_of_the_wrong_type_are_refused(
    server: RunningServer, fields: dict[str, Any], message: str
) -> None:
    assert refusal(post(server, request(**fields))) == message


def test_the_sdk_raises_its_bad_request_error(client: Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            output_config={"effort": "ultra"},  # type: ignore[typeddict-item]
        )
    assert caught.value.status_code == 400


# --- 2. extended thinking's limits ------------------------------------------------------------

THINKING: dict[str, Any] = {"type": "enabled", "budget_tokens": 1024}
THINKING_DOCS = (
    "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/"
    "extended-thinking#important-considerations-when-using-extended-thinking"
)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"thinking": THINKING, "max_tokens": 2000, "temperature": 0.5},
            "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode. "
            "Please consult our documentation at "
            "https://platform.claude.com/docs/en/build-with-claude/extended-thinking",
        ),
        (
            {"thinking": THINKING, "max_tokens": 2000, "top_p": 0.5},
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled or "
            f"in adaptive mode. {THINKING_DOCS}",
        ),
        (
            {"thinking": THINKING, "max_tokens": 2000, "top_k": 40},
            f"`top_k` must be unset when thinking is enabled or in adaptive mode. {THINKING_DOCS}",
        ),
        (
            {"thinking": THINKING, "max_tokens": 2000, "model": "claude-3-5-haiku-20241022"},
            "'claude-3-5-haiku-20241022' does not support thinking.",
        ),
        (
            {"temperature": 0.5, "top_p": 0.9},
            "`temperature` and `top_p` cannot both be specified for this model. Please use only "
            "one.",
        ),
    ],
)
def test_thinking_and_sampling_refusals(
    client: Anthropic, fields: dict[str, Any], message: str
) -> None:
    body = {**request(), **fields}
    # SDK 2.17's `create()` has no sampling arguments any more: they go as extra body fields
    sampling = {k: body.pop(k) for k in ("temperature", "top_p", "top_k") if k in body}
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(**body, extra_body=sampling)
    assert caught.value.status_code == 400
    assert caught.value.body["error"] == {"type": "invalid_request_error", "message": message}


def test_lenient_takes_what_the_model_refuses(tmp_path: Any) -> None:
    running = start_server("--lenient", tmp_path=tmp_path)
    try:
        body = request(thinking=THINKING, max_tokens=2000, temperature=0.5, top_p=0.5, top_k=3)
        assert post(running, body).status_code == 200
        assert post(running, request(temperature=0.5, top_p=0.9)).status_code == 200
    finally:
        running.stop()


# --- 3. thinking blocks kept through a tool loop ---------------------------------------------


def test_a_tool_loop_keeps_its_thinking_block_or_is_refused(client: Anthropic) -> None:
    asked = [{"role": "user", "content": "weather, thoughtfully"}]
    common: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 2048,
        "tools": [WEATHER],
        "thinking": THINKING,
    }
    first = client.messages.create(**common, messages=asked)
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    use = first.content[1]
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "3C"}],
    }
    kept = client.messages.create(
        **common, messages=[*asked, {"role": "assistant", "content": first.content}, result]
    )
    assert kept.content[-1].text == "It is 3C in Oslo."
    dropped = [*asked, {"role": "assistant", "content": [use]}, result]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(**common, messages=dropped)
    assert caught.value.body["error"]["message"] == (
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
        "`tool_use`. When `thinking` is enabled, a final `assistant` message must start with a "
        "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). "
        "We recommend you include thinking blocks from previous turns. To avoid this "
        "requirement, disable `thinking`. Please consult our documentation at "
        "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    )
    without = {k: v for k, v in common.items() if k != "thinking"}
    assert client.messages.create(**without, messages=dropped).content[-1].text == (
        "It is 3C in Oslo."
    )


def test_omitted_thinking_is_sent_empty_with_its_signature(
    server: RunningServer, client: Anthropic
) -> None:
    """`thinking.display: "omitted"` (the SDK's `Literal["summarized", "omitted", "updates"]`):
    the thinking block comes with an empty `thinking` and its `signature`, and streamed, with
    no `thinking_delta`, only the `signature_delta` (as the API's documentation says, and as
    Claude Code's streams show it); the block sent back keeps a tool loop going."""
    omitted = {**THINKING, "display": "omitted"}
    asked = [{"role": "user", "content": "weather, thoughtfully"}]
    common: dict[str, Any] = {"model": MODEL, "max_tokens": 2048, "tools": [WEATHER]}
    first = client.messages.create(**common, thinking=omitted, messages=asked)
    thinking, use = first.content
    assert thinking.type == "thinking" and thinking.thinking == "" and thinking.signature
    streamed = post(server, {**common, "thinking": omitted, "messages": asked, "stream": True})
    deltas = [
        json.loads(line[len("data: ") :])["delta"]["type"]
        for line in streamed.text.splitlines()
        if line.startswith("data: ") and '"content_block_delta"' in line and '"index":0' in line
    ]
    assert deltas == ["signature_delta"]
    with client.messages.stream(**common, thinking=omitted, messages=asked) as stream:
        assert stream.get_final_message().content[0].model_dump() == thinking.model_dump()
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "3C"}],
    }
    kept = client.messages.create(
        **common,
        thinking=omitted,
        messages=[*asked, {"role": "assistant", "content": first.content}, result],
    )
    assert kept.content[-1].text == "It is 3C in Oslo."
    summarized = client.messages.create(
        **common, thinking={**THINKING, "display": "summarized"}, messages=asked
    )
    assert summarized.content[0].thinking == "The user wants Oslo's weather: call the tool."
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(**common, thinking={**THINKING, "display": "hidden"}, messages=asked)
    assert caught.value.body["error"]["message"] == (
        "thinking.enabled.display: Input should be 'summarized', 'omitted' or 'updates'"
    )


# --- 4. the Claude catalogue ------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The model 'claude-opus-4-5' is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("model", "most"),
    [("claude-opus-4-5", 64000), ("claude-opus-4-6", 128000), ("claude-sonnet-4-6", 128000)],
)
def test_the_sdk_default_max_tokens_of_each_model_is_taken(
    client: Anthropic, model: str, most: int
) -> None:
    # the numbers pydantic-ai and langchain-anthropic send by default for these models
    with client.messages.stream(
        model=model, max_tokens=most, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        final = stream.get_final_message()
    # the model that answered: an alias is named as the dated id it stands for
    assert final.model.startswith(model) and final.stop_reason == "end_turn"
    with pytest.raises(anthropic.BadRequestError) as caught:
        with client.messages.stream(
            model=model, max_tokens=most + 1, messages=[{"role": "user", "content": "Hello"}]
        ) as stream:
            stream.get_final_message()
    assert caught.value.body["error"]["message"] == (
        f"max_tokens: {most + 1} > {most}, which is the maximum allowed number of output "
        f"tokens for {model}"
    )


def test_the_4_6_models_are_listed_and_refuse_a_prefill(client: Anthropic) -> None:
    listed = {m.id: m for m in client.models.list(limit=100)}
    assert listed["claude-opus-4-6"].display_name == "Claude Opus 4.6"
    assert listed["claude-sonnet-4-6"].created_at.isoformat().startswith("2026-02-17")
    prefilled = [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "The colour is"},
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=prefilled)
    assert caught.value.body["error"]["message"] == (
        "This model does not support assistant message prefill. The conversation must end "
        "with a user message."
    )
    answered = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=prefilled)
    assert answered.stop_reason == "end_turn"


# --- 5. smaller refusals ----------------------------------------------------------------------


def _blocks_with_cache_control(count: int) -> list[dict[str, Any]]:
    marked = {"type": "ephemeral"}
    return [{"type": "text", "text": f"part {n}", "cache_control": marked} for n in range(count)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"tool_choice": {"type": "any"}},
            "tool_choice.any may only be specified while providing tools",
        ),
        (
            {"messages": [{"role": "user", "content": _blocks_with_cache_control(5)}]},
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "text",
                                "text": "hi",
                                "cache_control": {"type": "ephemeral", "ttl": "2h"},
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0.text.cache_control.ephemeral.ttl: Input should be '5m' or '1h'",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "aGVsbG8=",
                                },
                            },
                            {"type": "text", "text": "What is this?"},
                        ],
                    }
                ]
            },
            "Could not process image",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "%%%",
                                },
                            },
                        ],
                    }
                ]
            },
            "messages.0.content.0.image.source.base64: invalid base64 data",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": ""},
                            },
                        ],
                    }
                ]
            },
            "messages.0.content.0.image.source.base64: image cannot be empty",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "document",
                                "source": {
                                    "type": "base64",
                                    "media_type": "application/msword",
                                    "data": "eA==",
                                },
                            },
                        ],
                    }
                ]
            },
            "messages.0.content.0.document.source.base64.media_type: Input should be "
            "'application/pdf'",
        ),
    ],
)
def test_smaller_refusals(server: RunningServer, fields: dict[str, Any], message: str) -> None:
    assert refusal(post(server, request(**fields))) == message


def test_tool_results_must_open_the_next_message(client: Anthropic) -> None:
    asked = [{"role": "user", "content": "What's the weather in Oslo?"}]
    first = client.messages.create(
        model=MODEL, max_tokens=300, tools=[WEATHER], tool_choice={"type": "any"}, messages=asked
    )
    use = first.content[0]
    result = {"type": "tool_result", "tool_use_id": use.id, "content": "3C"}
    answer = {"role": "assistant", "content": first.content}
    late = {"role": "user", "content": [{"type": "text", "text": "Here it is:"}, result]}
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL, max_tokens=300, tools=[WEATHER], messages=[*asked, answer, late]
        )
    assert caught.value.body["error"]["message"] == (
        "messages.2: Did not find 1 `tool_result` block(s) at the beginning of this message. "
        "Messages following `tool_use` blocks must begin with a matching number of "
        "`tool_result` blocks."
    )
    first_then_text = {"role": "user", "content": [result, {"type": "text", "text": "Thanks!"}]}
    done = client.messages.create(
        model=MODEL, max_tokens=300, tools=[WEATHER], messages=[*asked, answer, first_then_text]
    )
    assert done.stop_reason in ("end_turn", "tool_use")


# --- 6. server-held threads -------------------------------------------------------------------


def test_the_default_tool_runner_loop_runs_on_a_thread(
    server: RunningServer, client: Anthropic
) -> None:
    calls: list[str] = []

    @beta_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        calls.append(city)
        return "3C"

    reset(server.url)
    runner = client.beta.messages.tool_runner(
        model=MODEL,
        max_tokens=2048,
        tools=[get_weather],
        messages=[{"role": "user", "content": "weather, thoughtfully"}],
    )
    answers = list(runner)
    final = answers[-1]
    assert [m.stop_reason for m in answers] == ["tool_use", "end_turn"]
    assert final.content[-1].text == "It is 3C in Oslo." and calls == ["Oslo"]
    sent = [e["request"] for e in journal(server.url)]
    assert [r["thread"] for r in sent] == [
        {"type": "create"},
        {"type": "continue", "previous_message_id": answers[0].id},
    ]
    # the continuation sends only the tool's result, and not the tools the thread holds
    assert [m["role"] for m in sent[1]["messages"]] == ["user"]
    assert sent[1]["messages"][0]["content"][0]["type"] == "tool_result"
    assert "tools" not in sent[1]


def test_the_same_thread_run_again_is_continued_again(server: RunningServer) -> None:
    """A second run of one tool runner (the JS SDK's `client.beta.messages.toolRunner`, 1.17,
    its requests as sent, the second time streamed) creates a new thread. Its answer has the
    first run's id (same request, same answer), and that answer is not yet continued: its
    `continue` was refused as `thread_already_continued` by the first run's."""
    tools = [
        {
            "type": "custom",
            "name": "get_weather",
            "input_schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
            "description": "Weather for a city",
        }
    ]
    beta = {"anthropic-beta": "message-threads-2026-08-12"}
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    for stream in (False, True):
        create = {"model": MODEL, "max_tokens": 1024, "tools": tools, "messages": ask}
        created = post(server, {**create, "thread": {"type": "create"}}, **beta)
        assert created.status_code == 200, created.text
        answer = Message.model_validate(created.json())
        use = next(block for block in answer.content if block.type == "tool_use")
        result = {"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21C in Paris"}
        body = {
            "model": MODEL,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": [result]}],
            "thread": {"type": "continue", "previous_message_id": answer.id},
            "stream": stream,
        }
        continued = post(server, body, **beta)
        assert continued.status_code == 200, continued.text


def test_a_thread_continued_by_raw_requests_and_an_unknown_one(server: RunningServer) -> None:
    first = post(server, request("Hello", thread={"type": "create"}))
    assert first.status_code == 200, first.text
    held = Message.model_validate(first.json())
    second = post(
        server,
        {
            "model": MODEL,
            "max_tokens": 100,
            "thread": {"type": "continue", "previous_message_id": held.id},
            "messages": [{"role": "user", "content": "count for me"}],
        },
    )
    assert second.status_code == 200, second.text
    unknown = post(
        server,
        {
            "model": MODEL,
            "max_tokens": 100,
            "thread": {"type": "continue", "previous_message_id": "msg_01Unknown"},
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "details": {"error_code": "thread_not_found"},
        "type": "not_found_error",
        "message": "No usable Thread state was found for `previous_message_id`.",
    }


def test_the_sdk_raises_thread_not_found(client: Anthropic) -> None:
    with pytest.raises(ThreadNotFoundError):
        client.beta.messages.create(
            model=MODEL,
            max_tokens=100,
            thread={"type": "continue", "previous_message_id": "msg_01Gone"},
            messages=[{"role": "user", "content": "hi"}],
        )


def test_the_sdk_raises_thread_already_continued_and_unsupported_request(
    client: Anthropic,
) -> None:
    first = client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        thread={"type": "create"},
        system="Be terse.",
        messages=[{"role": "user", "content": "Hello"}],
    )
    resume: Any = {"type": "continue", "previous_message_id": first.id}
    asked: Any = [{"role": "user", "content": "count for me"}]
    client.beta.messages.create(model=MODEL, max_tokens=100, thread=resume, messages=asked)
    with pytest.raises(ThreadAlreadyContinuedError) as caught:
        client.beta.messages.create(model=MODEL, max_tokens=100, thread=resume, messages=asked)
    assert caught.value.body["error"]["details"] == {"error_code": "thread_already_continued"}
    latest = client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        thread={"type": "create"},
        messages=[{"role": "user", "content": "Hello"}],
    )
    resume = {"type": "continue", "previous_message_id": latest.id}
    for repeated in ({"system": "Be verbose."}, {"tools": [WEATHER]}):
        with pytest.raises(ThreadUnsupportedRequestError):
            client.beta.messages.create(
                model=MODEL, max_tokens=100, thread=resume, messages=asked, **repeated
            )


# --- 7. tool pairing ----------------------------------------------------------------------------


def test_two_results_for_one_tool_use_and_repeated_tool_use_ids_are_refused(
    client: Anthropic,
) -> None:
    use = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Oslo"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "3C"}
    asked: Any = {"role": "user", "content": "weather?"}
    cases: list[tuple[Any, str]] = [
        (
            [
                asked,
                {"role": "assistant", "content": [use]},
                {"role": "user", "content": [result, result]},
            ],
            "messages.2.content.1: each tool_use must have a single result. Found multiple "
            "`tool_result` blocks with id: toolu_01A",
        ),
        (
            [
                asked,
                {"role": "assistant", "content": [use, use]},
                {"role": "user", "content": [result, result]},
            ],
            "messages.1.content.1: `tool_use` ids must be unique",
        ),
    ]
    for messages, words in cases:
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER], messages=messages)
        assert caught.value.body["error"]["message"] == words


# --- 8. documents -------------------------------------------------------------------------------


def test_a_pdf_document_that_is_empty_or_not_a_pdf_is_refused(client: Anthropic) -> None:
    html = base64.b64encode(b"<!DOCTYPE html><html></html>").decode()
    cases = [
        ("", "messages.0.content.0.document.source.base64: PDF cannot be empty"),
        (
            "aGVsbG8=",
            "messages.0.content.0.pdf.source.base64.data: The PDF specified was not valid.",
        ),
        (html, "messages.0.content.0.pdf.source.base64.data: The PDF specified was not valid."),
    ]
    for data, words in cases:
        source = {"type": "base64", "media_type": "application/pdf", "data": data}
        content: Any = [{"type": "document", "source": source}, {"type": "text", "text": "Sum up"}]
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(
                model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content}]
            )
        assert caught.value.body["error"]["message"] == words
    pdf = base64.b64encode(b"%PDF-1.4\n1 0 obj\n").decode()
    source = {"type": "base64", "media_type": "application/pdf", "data": pdf}
    content = [{"type": "document", "source": source}, {"type": "text", "text": "Sum up"}]
    client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content}]
    )


# --- 9. thinking signatures ---------------------------------------------------------------------


def test_thinking_with_a_signature_this_server_never_gave_is_refused(client: Anthropic) -> None:
    asked: Any = {"role": "user", "content": "think, then answer"}
    made = client.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[asked],
    )
    thought = made.content[0]
    assert thought.type == "thinking"
    then: Any = {"role": "user", "content": "And then?"}
    forged = {"type": "thinking", "thinking": thought.thinking, "signature": "AAAA"}
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL,
            max_tokens=2048,
            messages=[
                asked,
                {"role": "assistant", "content": [forged, {"type": "text", "text": "Hi"}]},
                then,
            ],
        )
    assert caught.value.body["error"]["message"] == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    kept: Any = {"role": "assistant", "content": [b.model_dump() for b in made.content]}
    client.messages.create(model=MODEL, max_tokens=2048, messages=[asked, kept, then])


# --- 10. Opus 4.7 and 4.8 -----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["claude-opus-4-7", "claude-opus-4-8"])
def test_opus_4_7_and_later_refuse_budgeted_thinking_and_temperature(
    client: Anthropic, model: str
) -> None:
    asked: Any = [{"role": "user", "content": "Hello"}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=model,
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 2048},
            messages=asked,
        )
    assert caught.value.body["error"]["message"].startswith(
        '"thinking.type.enabled" is not supported for this model.'
    )
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=model, max_tokens=100, messages=asked, extra_body={"temperature": 0.2}
        )
    assert caught.value.body["error"]["message"] == "`temperature` is deprecated for this model."
    made = client.messages.create(
        model=model, max_tokens=4096, thinking={"type": "adaptive"}, messages=asked
    )
    assert made.model == model
