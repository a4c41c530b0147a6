"""Tool calls and results an agent writes as text (smolagents' ToolCallingAgent), read as
the calls and results they are."""

from __future__ import annotations

from typing import Any

from mockllm.written_calls import read_written_calls
from tests.factories import make_chat_request

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALLING = (
    "Calling tools:\n[{'id': 'call_7', 'type': 'function', 'function': {'name': 'get_weather', "
    "'arguments': {'city': 'Paris'}}}]"
)


def conversation(*turns: str, **fields: Any) -> Any:
    roles = ["user", "assistant"]
    messages = [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
    return make_chat_request(messages=messages, tools=[WEATHER], **fields)


def test_a_written_call_and_its_observation_are_a_call_and_its_result():
    for result in ("Observation:\n18C and sunny", "Call id: call_7\nObservation:\n18C and sunny"):
        read = read_written_calls(conversation("New task:\nWeather in Paris?", CALLING, result))
        assert [m.role for m in read.messages] == ["user", "assistant", "tool"]
        (call,) = read.messages[1].tool_calls
        assert (call.id, call.name, call.parsed_arguments) == (
            "call_7",
            "get_weather",
            {"city": "Paris"},
        )
        assert read.messages[2].text == "18C and sunny"
        assert read.messages[2].tool_call_id == "call_7"
        assert read.last_user == "New task:\nWeather in Paris?"
        assert read.turn == 1


def test_a_request_without_written_calls_is_returned_as_it_is():
    plain = conversation("Weather in Paris?", "Calling tools: not a list", "Observation: hi")
    assert read_written_calls(plain) is plain
    untooled = make_chat_request(
        messages=[{"role": "assistant", "content": CALLING}, {"role": "user", "content": "ok"}]
    )
    assert read_written_calls(untooled) is untooled
