"""The official openai SDK (sync and async) against a real server."""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from typing import Annotated, Literal

import jsonschema
import pytest
from openai import AsyncOpenAI, OpenAI
from pydantic import BaseModel, Field

from .helpers import (
    COUNT_CHUNKS,
    HELLO_REPLY,
    UNMATCHED_PROMPT,
    WEATHER_TOOL,
    journal,
    write_scenario,
)


def client_for(server) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_sync_create(examples_server):
    completion = client_for(examples_server).chat.completions.create(
        model="gpt-4o-mini", messages=user("Hello!")
    )
    assert completion.choices[0].message.content == HELLO_REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_sync_stream_iteration(examples_server):
    stream = client_for(examples_server).chat.completions.create(
        model="gpt-4o-mini",
        messages=user("count to five"),
        stream=True,
        stream_options={"include_usage": True},
    )
    deltas, finishes, usage = [], [], None
    with stream:
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    deltas.append(choice.delta.content)
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
    assert deltas == COUNT_CHUNKS
    assert finishes == ["stop"]
    assert usage is not None and usage.prompt_tokens + usage.completion_tokens == usage.total_tokens


def test_with_raw_response(examples_server):
    raw = client_for(examples_server).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=user("Hello!")
    )
    assert raw.http_response.status_code == 200
    assert raw.headers.get("x-request-id")
    assert raw.headers.get("openai-processing-ms") is not None
    completion = raw.parse()
    assert completion.choices[0].message.content == HELLO_REPLY
    assert completion._request_id == raw.headers["x-request-id"]


def test_async_client(examples_server):
    async def main() -> tuple[list[str], list[str]]:
        async with AsyncOpenAI(
            base_url=examples_server.base_url, api_key="sk-test", max_retries=0
        ) as client:
            answers = await asyncio.gather(
                *(
                    client.chat.completions.create(model="gpt-4o-mini", messages=user(p))
                    for p in ["Hello!", "count to five", "hey you"]
                )
            )
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=user("count to five"), stream=True
            )
            deltas = []
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        deltas.append(choice.delta.content)
            return [a.choices[0].message.content for a in answers], deltas

    contents, deltas = asyncio.run(main())
    assert contents == [HELLO_REPLY, "".join(COUNT_CHUNKS), HELLO_REPLY]
    assert deltas == COUNT_CHUNKS


class Person(BaseModel):
    name: str
    age: int
    tags: list[str]


class Address(BaseModel):
    street: str
    city: str
    postcode: str | None


class Order(BaseModel):
    order_id: str
    status: Literal["pending", "shipped", "delivered"]
    total: float
    paid: bool
    quantity: int
    shipping: Address
    items: list[Person]


class Review(BaseModel):
    id: uuid.UUID
    at: datetime.datetime
    day: datetime.date
    stars: Annotated[int, Field(ge=1, le=5)]
    score: Annotated[float, Field(ge=0.0, le=1.0)]
    sku: Annotated[str, Field(pattern=r"^SKU-[0-9]{6}$")]
    level: Literal[1, 2, 3]
    tags: Annotated[list[str], Field(min_length=2, max_length=4)]
    where: Address | None
    kind: Literal["a", "b"] | None


STRUCTURED_RULES = """\
version: 1
rules:
  - name: person-json
    match:
      last_user: { contains: "structured person" }
    reply:
      content: '{"name": "Ada Lovelace", "age": 36, "tags": ["math", "engines"]}'
"""


def test_parse_scripted_structured_output(serve, tmp_path):
    server = serve("--scenarios", str(write_scenario(tmp_path, STRUCTURED_RULES)))
    completion = client_for(server).chat.completions.parse(
        model="gpt-4o-2024-08-06",
        messages=user("Give me a structured person."),
        response_format=Person,
    )
    message = completion.choices[0].message
    assert message.parsed == Person(name="Ada Lovelace", age=36, tags=["math", "engines"])
    assert message.refusal is None


@pytest.mark.parametrize("model", [Person, Order, Review], ids=["flat", "nested", "constrained"])
def test_parse_default_generator_follows_the_schema(examples_server, model):
    prompt = f"Make up an example {model.__name__.lower()}."
    completion = client_for(examples_server).chat.completions.parse(
        model="gpt-4o-2024-08-06", messages=user(prompt), response_format=model
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(message.parsed, model), message.content
    # Validate against the exact schema the SDK sent, as the server received it.
    sent = [
        e["request"]
        for e in journal(examples_server.url)
        if isinstance(e["request"], dict) and e["request"]["messages"] == user(prompt)
    ]
    assert sent, "the request is in the journal"
    form = sent[-1]["response_format"]
    assert form["type"] == "json_schema" and form["json_schema"]["strict"] is True
    jsonschema.validate(json.loads(message.content), form["json_schema"]["schema"])


def test_json_object_default_generator(examples_server):
    completion = client_for(examples_server).chat.completions.create(
        model="gpt-4o",
        messages=user("Reply in JSON about lighthouses."),
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def test_weather_tool_round_trip(examples_server):
    client = client_for(examples_server)
    messages: list[dict] = user("What's the weather in Paris?")
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append(
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 18})}
    )
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "It is 18°C and sunny in Paris."
    assert second.choices[0].finish_reason == "stop"
    assert not second.choices[0].message.tool_calls


def test_parallel_tool_calls(examples_server):
    completion = client_for(examples_server).chat.completions.create(
        model="gpt-4o",
        messages=user("What's the weather in Paris and Tokyo?"),
        tools=[WEATHER_TOOL],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris", "unit": "celsius"},
        {"city": "Tokyo", "unit": "celsius"},
    ]
    assert all(c.function.name == "get_weather" for c in calls)
    assert len({c.id for c in calls}) == 2


def test_streamed_tool_calls_reassemble(examples_server):
    stream = client_for(examples_server).chat.completions.create(
        model="gpt-4o",
        messages=user("What's the weather in Paris and Tokyo?"),
        tools=[WEATHER_TOOL],
        stream=True,
    )
    calls: dict[int, dict] = {}
    finishes = []
    with stream:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
                for fragment in choice.delta.tool_calls or []:
                    if fragment.index not in calls:
                        assert fragment.id, "the first fragment carries the id"
                        assert fragment.type == "function"
                        assert fragment.function is not None
                        assert fragment.function.name == "get_weather"
                        calls[fragment.index] = {
                            "id": fragment.id,
                            "name": fragment.function.name,
                            "arguments": fragment.function.arguments or "",
                        }
                    else:
                        assert fragment.id is None, "only the first fragment carries the id"
                        assert fragment.type is None
                        assert fragment.function is not None
                        assert fragment.function.name is None
                        calls[fragment.index]["arguments"] += fragment.function.arguments or ""
    assert finishes == ["tool_calls"]
    assert sorted(calls) == [0, 1]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    assert json.loads(calls[1]["arguments"]) == {"city": "Tokyo", "unit": "celsius"}
    assert calls[0]["id"] != calls[1]["id"]


def test_forced_tool_call_default_generator(examples_server):
    completion = client_for(examples_server).chat.completions.create(
        model="gpt-4o",
        messages=user(UNMATCHED_PROMPT),
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"  # a named tool_choice: the API says stop
    assert choice.message.tool_calls and choice.message.tool_calls[0].function.name == "get_weather"
    arguments = json.loads(choice.message.tool_calls[0].function.arguments)
    jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])


def test_streamed_forced_tool_call_default_generator(examples_server):
    stream = client_for(examples_server).chat.completions.create(
        model="gpt-4o",
        messages=user(UNMATCHED_PROMPT),
        tools=[WEATHER_TOOL],
        tool_choice="required",
        stream=True,
    )
    fragments = []
    names = []
    finishes = []
    with stream:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
                for fragment in choice.delta.tool_calls or []:
                    assert fragment.index == 0
                    if fragment.function and fragment.function.name:
                        names.append(fragment.function.name)
                    fragments.append(fragment.function.arguments or "")
    assert names == ["get_weather"]
    assert finishes == ["tool_calls"]
    jsonschema.validate(json.loads("".join(fragments)), WEATHER_TOOL["function"]["parameters"])
