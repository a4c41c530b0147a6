"""Code agents (smolagents' CodeAgent): the tools read from the prompt, what a step printed,
the arithmetic a task asks, and each step written the way the prompt asks for code."""

from __future__ import annotations

import ast
import random

from mockllm.code_agents import (
    _printed,
    _python_sum,
    _step,
    _tools,
    code_agent_answer,
    is_code_agent,
)
from tests.factories import make_chat_request

TAGGED = """You are an expert assistant who can solve any task using code blobs.
At each step, in the 'Thought:' sequence, you should first explain your reasoning.
Then in the Code sequence you should write the code in simple Python. The code sequence must \
be opened with '<code>', and closed with '</code>'.
These print outputs will then appear in the 'Observation:' field.
In the end you have to return a final answer using the `final_answer` tool.
You only have access to these tools, behaving like regular python functions:
```python
def get_weather(city: string) -> string:
    \"\"\"Get the current weather for a city.

    Args:
        city: The name of the city.
    \"\"\"

def calculator(expression: string) -> string:
    \"\"\"Evaluate an arithmetic expression.

    Args:
        expression: The arithmetic expression to evaluate.
    \"\"\"

def final_answer(answer: any) -> any:
    \"\"\"Provides a final answer to the given problem.

    Args:
        answer: The final answer to the problem
    \"\"\"

```
"""
END_CODE = (
    TAGGED.replace(
        "The code sequence must be opened with '<code>', and closed with '</code>'.",
        "The code sequence must end with '<end_code>' sequence.",
    )
    + "1. Always provide a 'Thought:' sequence, and a 'Code:\\n```py' sequence ending with "
    "'```<end_code>' sequence, else you will fail.\n"
)
LISTED = """You only have access to these tools:
- get_weather: Get the current weather for a city.
    Takes inputs: {'city': {'type': 'string', 'description': 'The name of the city.'}}
    Returns an output of type: string
- final_answer: Provides a final answer to the given problem.
    Takes inputs: {'answer': {'type': 'any', 'description': 'The final answer to the problem'}}
    Returns an output of type: any
"""


def answer(system: str, *turns: str) -> str | None:
    messages = [{"role": "system", "content": system}]
    roles = ["user", "assistant"]
    messages += [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
    return code_agent_answer(make_chat_request(messages=messages), random.Random(1), "en_US")


def calls_in(step: str) -> list[tuple[str, dict[str, object]]]:
    code = step.split("<code>\n", 1)[1].split("\n</code>", 1)[0]
    return [
        (node.func.id, {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg})
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]


def test_tools_are_read_from_python_signatures():
    tools = {t.name: t for t in _tools(TAGGED)}
    assert list(tools) == ["get_weather", "calculator", "final_answer"]
    assert tools["get_weather"].description == "Get the current weather for a city."
    assert tools["get_weather"].parameters == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
    }


def test_tools_are_read_from_the_earlier_listed_format():
    tools = {t.name: t for t in _tools(LISTED)}
    assert list(tools) == ["get_weather", "final_answer"]
    assert tools["get_weather"].description == "Get the current weather for a city."
    assert tools["get_weather"].parameters["properties"] == {
        "city": {"type": "string", "description": "The name of the city."}
    }


def test_an_observation_gives_what_the_code_printed_else_its_last_value():
    logs = "Observation:\nExecution logs:\n18C and sunny\nLast output from code snippet:\nNone"
    assert _printed(logs) == "18C and sunny"
    assert _printed("Observation:\nExecution logs:\n\nLast output from code snippet:\n437") == "437"
    assert _printed("Call id: call_1\nObservation:\nExecution logs:\n18C\n") == "18C"


def test_arithmetic_is_worked_out_only_when_it_is_python_as_written():
    assert _python_sum("What is 23*19?") == "23*19"
    assert _python_sum("What is (2 + 3) * 4?") == "(2 + 3) * 4"
    assert _python_sum("What is 2^3?") is None  # ^ is not a power in Python
    assert _python_sum("Write a haiku.") is None


def test_a_step_is_written_the_way_the_prompt_asks():
    assert _step(TAGGED, "Go.", "x = 1") == "Thought: Go.\n<code>\nx = 1\n</code>"
    assert _step(END_CODE, "Go.", "x = 1") == "Thought: Go.\nCode:\n```py\nx = 1\n```<end_code>"


def test_a_code_agent_calls_its_tool_then_final_answer_with_what_it_printed():
    step = answer(TAGGED, "New task:\nWhat is the weather in Paris?")
    assert step is not None and step.startswith("Thought: ")
    assert calls_in(step) == [("get_weather", {"city": "Paris"}), ("print", {})]
    done = answer(
        TAGGED,
        "New task:\nWhat is the weather in Paris?",
        step,
        "Observation:\nExecution logs:\n18C and sunny\nLast output from code snippet:\nNone",
    )
    assert done is not None
    assert calls_in(done) == [("final_answer", {})]
    assert "get_weather returned: 18C and sunny." in done


def test_arithmetic_no_tool_works_out_is_worked_out_in_the_code():
    start = TAGGED.index("def calculator")
    system = TAGGED[:start] + TAGGED[TAGGED.index("def final_answer") :]
    step = answer(system, "New task:\nWhat is 23*19?")
    assert step == (
        "Thought: I now have the final answer.\n<code>\nresult = 23*19\n"
        "final_answer(result)\n</code>"
    )


def test_other_prompts_are_not_code_agents_and_draw_nothing():
    rng = random.Random(1)
    state = rng.getstate()
    request = make_chat_request(messages=[{"role": "user", "content": "Write some Python code."}])
    assert not is_code_agent(request)
    assert code_agent_answer(request, rng, "en_US") is None
    assert rng.getstate() == state


def test_a_question_no_tool_relates_to_is_looked_up_with_the_search_tool():
    """smolagents' CodeAgent with its web search tool, asked something to look up."""
    searching = TAGGED.replace(
        'def get_weather(city: string) -> string:\n    """Get the current weather for a city.',
        'def web_search(query: string) -> string:\n    """Performs a web search for a query.',
    ).replace("city: The name of the city.", "query: The search query to perform.")
    step = answer(searching, "New task:\nWho won the world cup in 2022?")
    assert step is not None
    assert ("web_search", {"query": "Who won the world cup in 2022?"}) in calls_in(step)
    small = answer(searching, "New task:\nhi there")
    assert small is not None and calls_in(small)[0][0] == "final_answer"
