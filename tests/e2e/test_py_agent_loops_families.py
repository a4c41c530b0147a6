"""Requests that Python agent frameworks send on the Anthropic Messages API and the OpenAI
Responses API, replayed against the default generator.

Each body in tests/data/py-agent-loops-families.json was taken from mockllm's journal
(`GET /__admin/requests`) while the framework ran against it with no scenario:
pydantic-ai 2.78 (AnthropicModel, OpenAIResponsesModel), the OpenAI Agents SDK 0.25 (its
default Responses model, and LitellmModel("anthropic/…")), LangChain 1.5's create_agent
and with_structured_output (langchain-anthropic 1.7, langchain-openai 1.8 with
use_responses_api), instructor 1.17 (ANTHROPIC_JSON, RESPONSES_TOOLS), LlamaIndex 0.14's
FunctionAgent and AgentWorkflow on OpenAIResponses, Agno 3.1 (Claude, OpenAIResponses),
Strands Agents 1.65 (AnthropicModel) and litellm.responses (1.110). A body the framework
streamed is replayed as a stream, read the way the SDK reads one. The answers are checked
as the framework reads them: the call its loop runs, with the arguments its tool takes;
the stop reason or status that ends the loop; the final text carrying the tool's result;
the structured output's values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic
from anthropic.types import Message
from openai import OpenAI
from openai.types.responses import Response

from ..conftest import RunningServer

CAPTURED: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parents[1] / "data" / "py-agent-loops-families.json").read_text("utf-8")
)


@pytest.fixture(scope="module")
def claude(server: RunningServer) -> Iterator[Anthropic]:
    with Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk


def _message(claude: Anthropic, key: str, nth: int = 0) -> Message:
    """The answer to the nth request of a Messages loop (a streamed one read as a stream)."""
    body = dict(CAPTURED[key][nth])
    if body.pop("stream", False):
        with claude.messages.stream(**body) as stream:
            return stream.get_final_message()
    return claude.messages.create(**body)


def _response(client: OpenAI, key: str, nth: int = 0) -> Response:
    """The answer to the nth request of a Responses loop (a streamed one read as a stream)."""
    body = dict(CAPTURED[key][nth])
    if body.pop("stream", False):
        with client.responses.stream(**body) as stream:
            return stream.get_final_response()
    return client.responses.create(**body)


def _message_calls(reply: Message) -> list[tuple[str, dict[str, Any]]]:
    return [(b.name, dict(b.input)) for b in reply.content if b.type == "tool_use"]


def _response_calls(reply: Response) -> list[tuple[str, dict[str, Any]]]:
    return [(o.name, json.loads(o.arguments)) for o in reply.output if o.type == "function_call"]


def _text(reply: Message) -> str:
    return "".join(b.text for b in reply.content if b.type == "text")


def test_a_delegating_tool_asks_for_as_many_things_as_the_message(
    claude: Anthropic, client: OpenAI
) -> None:
    """pydantic-ai's agent delegation example: `joke_factory(ctx, count: int)` for "Tell me
    3 jokes." was called with a count of 4, or 10: `count` was never read from the message
    (a search's result count is not a number the message gives, "news about the 2022
    cup"), though it asks for three things."""
    messages = _message_calls(_message(claude, "pydantic_ai_anthropic_delegation"))
    assert messages == [("joke_factory", {"count": 3})]
    responses = _response_calls(_response(client, "pydantic_ai_responses_delegation"))
    assert responses == [("joke_factory", {"count": 3})]


def test_a_structured_output_tool_is_called_once_the_results_are_back(
    claude: Anthropic,
) -> None:
    """Strands' `agent(…, structured_output_model=Weather)` offers `Weather` beside its tools
    ("This StructuredOutputTool should only be invoked as the last and final tool"), with
    `tool_choice` left to the model. Once get_weather's result was back the answer was
    text, so Strands asked again with the tool forced ("You must format the previous
    response as structured output."), and that call got a random city and temperature. Now
    the loop's second turn calls `Weather` with what the result says."""
    first = _message(claude, "strands_anthropic_weather_output")
    assert _message_calls(first) == [("get_weather", {"city": "Oslo"})]
    reply = _message(claude, "strands_anthropic_weather_output", 1)
    assert reply.stop_reason == "tool_use"
    ((name, weather),) = _message_calls(reply)
    assert name == "Weather"
    assert (weather["city"], weather["temperature_c"]) == ("Oslo", 18)
    assert "It is 18C and sunny in Oslo." in weather["conditions"]


_USERS = [{"name": "Alice", "age": 30}, {"name": "Bob", "age": 25}, {"name": "Carol", "age": 41}]


def test_an_iterable_extraction_reads_each_item_the_message_lists(
    claude: Anthropic, client: OpenAI
) -> None:
    """instructor's `create_iterable(response_model=User)` asks for `IterableUser`, whose
    `tasks` is an array of `User` ({"$ref": "#/$defs/User"}): "Extract the users: Alice is
    30, Bob is 25 and Carol is 41." got one to three users of random names and ages, in
    each mode (ANTHROPIC_TOOLS' forced tool, ANTHROPIC_JSON's schema in the system prompt,
    RESPONSES_TOOLS' forced function with a json_schema text format)."""
    reply = _message(claude, "instructor_anthropic_tools_users")
    assert _message_calls(reply) == [("IterableUser", {"tasks": _USERS})]
    text = _text(_message(claude, "instructor_anthropic_json_users"))
    assert json.loads(text[text.index("{") : text.rindex("}") + 1]) == {"tasks": _USERS}
    response = _response(client, "instructor_responses_tools_users")
    assert _response_calls(response) == [("IterableUser", {"tasks": _USERS})]
