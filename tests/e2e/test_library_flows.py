"""The flows of the libraries people build on complete with no scenario at all, as they
would against a model: a tool-using agent, a structured-output agent that ends through
its output tool, JSON-mode extraction. Each request is shaped as the library sends it
(bodies taken from the libraries' sources, noted at each one), through the official SDK."""

from __future__ import annotations

import json
import re
from textwrap import dedent
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openai import OpenAI
from pydantic import BaseModel

from tests.conftest import RunningServer

from .helpers import journal


def sdk(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def weather(city: str) -> str:
    return f"It is 18C and sunny in {city}."


def local_time(zone: str) -> str:
    return f"It is 14:05 in {zone}."


TOOLS = {"get_weather": weather, "get_time": local_time}
# What LangChain's `bind_tools` sends (langchain_core.utils.function_calling
# .convert_to_openai_tool): OpenAI function tools, no tool_choice.
LANGCHAIN_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a given city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city."}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Get the local time in a time zone.",
            "parameters": {
                "type": "object",
                "properties": {"zone": {"type": "string", "description": "An IANA zone."}},
                "required": ["zone"],
            },
        },
    },
]


def test_a_two_tool_agent_calls_a_tool_then_answers_with_its_result(server: RunningServer):
    """LangChain's tool-calling loop (AgentExecutor / create_react_agent over ChatOpenAI):
    call the model; run each tool call it makes; send the results; stop at a text answer."""
    client = sdk(server)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the weather like in Paris right now?"},
    ]
    calls_made = []
    for _ in range(5):
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=LANGCHAIN_TOOLS, stream=False
        )
        message = completion.choices[0].message
        if not message.tool_calls:
            break
        assert completion.choices[0].finish_reason == "tool_calls"
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            arguments = json.loads(call.function.arguments)
            calls_made.append((call.function.name, arguments))
            result = TOOLS[call.function.name](**arguments)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    else:
        pytest.fail("the agent loop did not end")
    assert calls_made == [("get_weather", {"city": "Paris"})]
    assert completion.choices[0].finish_reason == "stop"
    assert "It is 18C and sunny in Paris." in (message.content or "")


def test_a_question_for_two_tools_calls_both_in_one_turn(server: RunningServer):
    """A model answers "the weather in Oslo and the time in Tokyo" with two parallel calls,
    each with its own city, then one answer that uses both results."""
    tools = [
        LANGCHAIN_TOOLS[0],
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "description": "Get the local time in a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        },
    ]
    run = {"get_weather": weather, "get_time": lambda city: local_time(city)}
    client = sdk(server)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Oslo and the time in Tokyo?"}
    ]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    made = {c.function.name: json.loads(c.function.arguments) for c in message.tool_calls or []}
    assert made == {"get_weather": {"city": "Oslo"}, "get_time": {"city": "Tokyo"}}
    messages.append(message.model_dump(exclude_none=True))
    for call in message.tool_calls or []:
        result = run[call.function.name](**json.loads(call.function.arguments))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    final = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    text = final.choices[0].message.content or ""
    assert final.choices[0].finish_reason == "stop"
    assert "18C and sunny in Oslo" in text and "14:05 in Tokyo" in text
    # with parallel calls off, one call a turn
    single = client.chat.completions.create(
        model="gpt-4o", messages=messages[:1], tools=tools, parallel_tool_calls=False
    )
    assert len(single.choices[0].message.tool_calls or []) == 1


def test_the_same_agent_over_the_responses_api(server: RunningServer):
    """The OpenAI Agents SDK's loop (Runner over OpenAIResponsesModel): strict function
    tools (agents.function_schema makes them strict), the outputs sent back as
    function_call_output items; it ends at a message."""
    tools = [
        {
            "type": "function",
            "name": t["function"]["name"],
            "description": t["function"]["description"],
            "parameters": {**t["function"]["parameters"], "additionalProperties": False},
            "strict": True,
        }
        for t in LANGCHAIN_TOOLS
    ]
    client = sdk(server)
    items: list[Any] = [{"role": "user", "content": "What time is it in the Tokyo time zone?"}]
    for _ in range(5):
        response = client.responses.create(
            model="gpt-4.1", instructions="You are a helpful assistant.", input=items, tools=tools
        )
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            break
        items += [item.model_dump(exclude_none=True) for item in response.output]
        for call in calls:
            output = TOOLS[call.name](**json.loads(call.arguments))
            items.append(
                {"type": "function_call_output", "call_id": call.call_id, "output": output}
            )
    else:
        pytest.fail("the agent loop did not end")
    assert [i["name"] for i in items if i.get("type") == "function_call"] == ["get_time"]
    assert "14:05" in response.output_text


class CityReport(BaseModel):
    city: str
    temperature_c: float
    summary: str


# pydantic-ai's output tool (pydantic_ai/_output.py: DEFAULT_OUTPUT_TOOL_NAME and
# DEFAULT_OUTPUT_TOOL_DESCRIPTION), made strict by its OpenAI profile; with no text output
# allowed it sends tool_choice "required" (pydantic_ai/models/openai.py).
FINAL_RESULT = {
    "type": "function",
    "function": {
        "name": "final_result",
        "description": "The final response which ends this conversation",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "temperature_c": {"type": "number"},
                "summary": {"type": "string"},
            },
            "required": ["city", "temperature_c", "summary"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def test_a_structured_output_agent_ends_through_its_output_tool(server: RunningServer):
    """pydantic-ai's run loop with `output_type=CityReport` and one function tool: it runs
    function tools until the model calls `final_result`, whose arguments are the output."""
    client = sdk(server)
    tools = [LANGCHAIN_TOOLS[0], FINAL_RESULT]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Report on the weather."},
        {"role": "user", "content": "How is the weather in Lisbon?"},
    ]
    for _ in range(6):
        completion = client.chat.completions.create(
            model="gpt-4o", messages=messages, tools=tools, tool_choice="required"
        )
        message = completion.choices[0].message
        assert message.tool_calls, "tool_choice required: a tool call every time"
        call = message.tool_calls[0]
        if call.function.name == "final_result":
            report = CityReport.model_validate_json(call.function.arguments)
            break
        messages.append(message.model_dump(exclude_none=True))
        output = TOOLS[call.function.name](**json.loads(call.function.arguments))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
    else:
        pytest.fail("the agent never called its output tool")
    names = [c["function"]["name"] for m in messages for c in m.get("tool_calls", [])]
    assert names == ["get_weather"]
    assert isinstance(report.temperature_c, float) and report.city and report.summary


class Invoice(BaseModel):
    number: str
    customer: str
    total: float
    paid: bool
    items: list[str]


def instructor_system(model: type[BaseModel]) -> str:
    """instructor's JSON-mode system message (instructor/mode_json.py, handle_json_modes)."""
    return dedent(
        f"""
        As a genius expert, your task is to understand the content and provide
        the parsed objects in json that match the following json_schema:\n

        {json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False)}

        Make sure to return an instance of the JSON, not the schema itself
        """
    )


def test_json_mode_extraction_follows_the_schema_in_the_prompt(server: RunningServer):
    """instructor `Mode.JSON`: the schema in the system message, response_format
    json_object; the answer parses into the model and validates against its schema."""
    client = sdk(server)
    for n in range(3):
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": instructor_system(Invoice)},
                {"role": "user", "content": f"Extract the invoice: INV-{n} for ACME, 40 EUR."},
            ],
            response_format={"type": "json_object"},
        )
        content = completion.choices[0].message.content or ""
        invoice = Invoice.model_validate_json(content)
        Draft202012Validator(Invoice.model_json_schema()).validate(json.loads(content))
        assert invoice.items  # a model fills in the list it is asked for


def test_md_json_extraction_gets_fenced_json(server: RunningServer):
    """instructor `Mode.MD_JSON`: no response_format; the user message asks for a ```json
    block; instructor extracts the block and validates it."""
    completion = sdk(server).chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": instructor_system(Invoice)},
            {
                "role": "user",
                "content": "Extract the invoice: INV-9 for Globex, 12 USD.\n\nReturn the "
                "correct JSON response within a ```json codeblock. not the JSON_SCHEMA",
            },
        ],
    )
    content = completion.choices[0].message.content or ""
    fenced = re.fullmatch(r"```json\n(.*)\n```", content, re.DOTALL)
    assert fenced is not None, content
    Invoice.model_validate_json(fenced.group(1))


def test_a_rule_still_wins(server: RunningServer):
    rules = {
        "version": 1,
        "rules": [
            {
                "name": "scripted-weather",
                "match": {"tools": ["get_weather"]},
                "reply": {"content": "Scripted: no tools today."},
            }
        ],
    }
    added = httpx.post(f"{server.url}/__admin/rules", json=rules)
    assert added.status_code in (200, 201), added.text
    try:
        completion = sdk(server).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=LANGCHAIN_TOOLS,
        )
        assert completion.choices[0].message.content == "Scripted: no tools today."
        assert journal(server.url)[-1]["rule"].endswith("scripted-weather")
    finally:
        httpx.delete(f"{server.url}/__admin/rules")
