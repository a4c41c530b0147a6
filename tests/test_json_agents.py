"""Text agents that act through JSON blobs (LangChain's structured chat and JSON chat
agents): the next step as `{"action": …, "action_input": …}` until a tool's result is
back, then `{"action": "Final Answer", …}` built from it.

The requests are the ones LangChain renders (tests/data/langchain-json-agents.json, taken
from mockllm's journal during real runs). Each answer is checked against what the agent's
output parser accepts: a fenced blob whose JSON names a listed tool or "Final Answer", with
an `action_input` the tool's argument schema accepts."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mockllm.react import react_answer
from tests.factories import make_chat_request

CAPTURED = json.loads(
    (Path(__file__).parent / "data" / "langchain-json-agents.json").read_text("utf-8")
)
TOOLS = ("get_weather", "calculator")
ARGS = {  # as the structured chat prompts show them
    "get_weather": {"type": "object", "properties": {"city": {"type": "string"}}},
    "calculator": {"type": "object", "properties": {"expression": {"type": "string"}}},
}
FENCED = re.compile(r"```(?:json)?\n(\{.*?\})\n```", re.DOTALL)
PARIS = "What is the weather in Paris?"


def answer(body: dict[str, Any], seed: int = 1) -> str:
    fields = {k: v for k, v in body.items() if k not in ("model", "messages")}
    request = make_chat_request(body["model"], messages=body["messages"], **fields)
    text = react_answer(request, random.Random(seed), "en_US")
    assert text is not None, "the prompt was not read as a text agent's"
    return text


def blob(text: str) -> dict[str, Any]:
    """The one fenced blob of an answer: the JSON both parsers read, with its two keys."""
    found = FENCED.findall(text)
    assert len(found) == 1, text
    parsed = json.loads(found[0])
    assert isinstance(parsed, dict) and set(parsed) == {"action", "action_input"}, text
    assert parsed["action"] in (*TOOLS, "Final Answer"), text
    return parsed


def ask(body: dict[str, Any], question: str) -> dict[str, Any]:
    """The first turn's request with another question in place of the captured one."""
    messages = [{**m, "content": m["content"].replace(PARIS, question)} for m in body["messages"]]
    return {**body, "messages": messages}


STRUCTURED_STEP = """Thought: I need to use a tool to help me answer the question.
Action:
```
{
  "action": "get_weather",
  "action_input": {"city": "Paris"}
}
```"""
STRUCTURED_DONE = """Thought: I know what to respond
Action:
```
{
  "action": "Final Answer",
  "action_input": "It is 18C and sunny in Paris."
}
```"""


@pytest.mark.parametrize("agent", ["structured_chat", "structured_chat_agent_type"])
def test_a_structured_chat_agent_acts_then_gives_its_final_answer(agent):
    first, second = CAPTURED[agent]
    assert answer(first) == STRUCTURED_STEP
    assert answer(second) == STRUCTURED_DONE


@pytest.mark.parametrize("agent", ["json_chat", "conversational_chat_agent_type"])
def test_a_json_chat_agent_acts_with_the_text_a_tool_reads_then_answers(agent):
    first, second = CAPTURED[agent]
    assert answer(first) == (
        '```json\n{\n    "action": "get_weather",\n    "action_input": "Paris"\n}\n```'
    )
    assert answer(second) == (
        '```json\n{\n    "action": "Final Answer",\n'
        '    "action_input": "It is 18C and sunny in Paris."\n}\n```'
    )


@pytest.mark.parametrize("agent", ["structured_chat_two_tools", "json_chat_two_tools"])
def test_each_tool_the_question_names_acts_before_the_final_answer(agent):
    turns = CAPTURED[agent]
    steps = [blob(answer(body)) for body in turns]
    assert [s["action"] for s in steps] == ["calculator", "get_weather", "Final Answer"]
    assert steps[-1]["action_input"] == "144 It is 18C and sunny in Oslo."


def test_the_arguments_follow_the_schema_the_prompt_shows():
    first = CAPTURED["structured_chat"][0]
    for question, tool, given in [
        ("What is 23*19?", "calculator", {"expression": "23*19"}),
        ("How warm is it in Lisbon today, weather-wise?", "get_weather", {"city": "Lisbon"}),
    ]:
        step = blob(answer(ask(first, question)))
        assert step == {"action": tool, "action_input": given}
        Draft202012Validator(ARGS[tool]).validate(step["action_input"])


def test_arguments_shown_as_a_set_literal_are_not_read_as_a_schema():
    """A prompt template whose braces were left doubled shows `{{'city': {...}}}`, a set
    of dicts to Python: the arguments are read from elsewhere, not a 500."""
    first = CAPTURED["structured_chat"][0]
    doubled = {
        **first,
        "messages": [
            {**m, "content": re.sub(r"args: (\{.*\})", r"args: {\1}", m["content"])}
            for m in first["messages"]
        ],
    }
    assert doubled != first
    assert blob(answer(doubled))["action"] == "get_weather"


def test_a_tool_with_several_arguments_gets_an_object_of_them():
    """JSON chat shows no schema, only the tool's signature: one argument reads text, more
    than one get an object keyed by the signature's names, typed by its annotations."""
    first = CAPTURED["json_chat"][0]
    listed = "calculator(expression: str) -> str - Work out an arithmetic expression."
    convert = (
        "convert(amount: float, to_currency: str, note: str = '') -> str - "
        "Convert an amount of money to a currency."
    )
    body = ask(first, "Convert 250 dollars to EUR")
    for message in body["messages"]:
        message["content"] = message["content"].replace(listed, f"{listed}\n{convert}")
        message["content"] = message["content"].replace("calculator\n", "calculator, convert\n")
    step = json.loads(FENCED.findall(answer(body))[0])
    assert step["action"] == "convert"
    given = step["action_input"]
    assert given["amount"] == 250 and given["to_currency"] == "EUR"
    assert isinstance(given.get("note", ""), str)


@pytest.mark.parametrize("agent", ["structured_chat", "json_chat"])
def test_a_question_no_tool_relates_to_is_answered_at_once(agent):
    step = blob(answer(ask(CAPTURED[agent][0], "Tell me a joke.")))
    assert step["action"] == "Final Answer"
    assert isinstance(step["action_input"], str) and step["action_input"]


def test_the_answer_is_repeatable_and_other_prompts_draw_nothing():
    body = ask(CAPTURED["structured_chat"][0], "Tell me a joke.")
    assert answer(body, seed=3) == answer(body, seed=3)
    rng = random.Random(1)
    state = rng.getstate()
    # A JSON blob asked for with no tools listed is not an agent's step.
    plain = 'Reply with a JSON object like {"action": "wave", "action_input": "hello"}.'
    request = make_chat_request(messages=[{"role": "user", "content": plain}])
    assert react_answer(request, rng, "en_US") is None
    assert rng.getstate() == state


@pytest.mark.parametrize("agent", ["structured_chat", "json_chat"])
def test_a_question_no_tool_relates_to_is_looked_up_with_a_search_tool(agent):
    """The captured prompts with a search tool in place of the weather's: a question to
    look up is searched with it."""
    body = ask(CAPTURED[agent][0], "Who won the world cup in 2022?")
    text = json.dumps(body).replace("get_weather", "web_search")
    text = text.replace("Get the current weather in a given city.", "Search the web.")
    text = text.replace("'city': {'title': 'City'", "'query': {'title': 'Query'")
    step = json.loads(FENCED.findall(answer(json.loads(text)))[0])
    assert step["action"] == "web_search"
    assert "Who won the world cup in 2022?" in json.dumps(step["action_input"])
