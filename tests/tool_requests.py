"""Requests with tools offered, as the tests of the default generator's tool modules
(tool_policy, tool_arguments, tool_results) write them: function tools of string
arguments, calls, chat conversations."""

from __future__ import annotations

from typing import Any

from tests.factories import make_chat_request


def tool(name: str, description: str = "", **properties: Any) -> dict[str, Any]:
    props = {k: {"type": "string"} for k in properties} or {}
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": props},
        },
    }


def function(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A function tool whose parameters are the JSON schema given."""
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


WEATHER = tool("get_weather", "Current weather for a city.", city=1)


TIME = tool("get_time", "The local time in a time zone.", zone=1)


FINAL = tool("final_result", "The final response which ends this conversation", answer=1)


def call(name: str, call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}


def conversation(*messages: dict[str, Any], **fields: Any) -> Any:
    return make_chat_request(messages=list(messages), **fields)


ASK = {"role": "user", "content": "What is the weather in Paris today?"}
