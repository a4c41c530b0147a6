"""The deprecated `functions` / `function_call` of Chat Completions, which the API still
answers: a call comes back as `message.function_call` with finish_reason `function_call`
(streamed as `function_call` deltas), and a `function` message answers it."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import RunningServer, start_server

from .helpers import openai_sdk

FUNCTIONS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server("--seed", "2", tmp_path=tmp_path_factory.mktemp("functions"))
    yield running
    running.stop()


def test_a_functions_loop_calls_then_answers(server: RunningServer) -> None:
    client = openai_sdk(server)
    first = client.chat.completions.create(model="gpt-4o", messages=ASK, functions=FUNCTIONS)
    choice = first.choices[0]
    assert choice.finish_reason == "function_call"
    call = choice.message.function_call
    assert call is not None and choice.message.tool_calls is None
    assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris"}')
    history = [
        *ASK,
        {"role": "assistant", "content": None, "function_call": call.model_dump()},
        {"role": "function", "name": "get_weather", "content": "18C and sunny"},
    ]
    second = client.chat.completions.create(model="gpt-4o", messages=history, functions=FUNCTIONS)
    assert second.choices[0].finish_reason == "stop"
    assert "18C and sunny" in (second.choices[0].message.content or "")


def test_a_streamed_function_call_accumulates_like_the_whole_one(server: RunningServer) -> None:
    client = openai_sdk(server)
    whole = client.chat.completions.create(model="gpt-4o", messages=ASK, functions=FUNCTIONS)
    name, arguments, finish = "", "", None
    for chunk in client.chat.completions.create(
        model="gpt-4o", messages=ASK, functions=FUNCTIONS, stream=True
    ):
        delta = chunk.choices[0].delta
        assert delta.tool_calls is None
        if delta.function_call is not None:
            name += delta.function_call.name or ""
            arguments += delta.function_call.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    expected = whole.choices[0].message.function_call
    assert expected is not None
    assert (name, arguments, finish) == (expected.name, expected.arguments, "function_call")


def test_function_call_needs_functions(server: RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk(server).chat.completions.create(
            model="gpt-4o", messages=ASK, function_call="auto"
        )
    assert caught.value.body == {
        "message": "Invalid value for 'function_call': 'function_call' is only allowed when "
        "'functions' are specified.",
        "type": "invalid_request_error",
        "param": "function_call",
        "code": None,
    }


def test_functions_do_not_mix_with_tools(server: RunningServer) -> None:
    client = openai_sdk(server)
    tools = [{"type": "function", "function": FUNCTIONS[0]}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o", messages=ASK, functions=FUNCTIONS, tools=tools
        )
    assert caught.value.body["message"] == (
        "Invalid request: 'functions' and 'tools' cannot both be provided. 'functions' are "
        "deprecated; use the 'tools' parameter instead."
    )
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"},
    }
    history = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]
    with pytest.raises(openai.BadRequestError) as mixed:
        client.chat.completions.create(model="gpt-4o", messages=history, functions=FUNCTIONS)
    assert mixed.value.body["param"] == "messages.[1].tool_calls"
