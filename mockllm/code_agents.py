"""The answer of a model driven as a code agent. smolagents' CodeAgent asks for each step
as a thought and Python code (between '<code>' and '</code>'; in its earlier prompts,
after 'Code:' in a ```py fence that ends with '<end_code>'), shows its tools as Python
functions, runs the code and sends back what it printed as an 'Observation:'; the loop
ends when the code calls `final_answer(...)`.

Until the tools the task names have run, the step calls the next one, with the arguments
a function tool would get from the task, and prints what it returns. Then it calls
`final_answer` with what they printed. A task no tool relates to is answered at once:
arithmetic it asks is worked out in the code (`final_answer(23*19)`), anything else in
text.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import replace
from typing import Any

from mockllm.conversation import Conversation, Message, Tool
from mockllm.lazy_fake import fake
from mockllm.prompt_reading import names_tool, relatedness
from mockllm.tool_arguments import arithmetic_in, hints_per_place
from mockllm.tool_policy import look_up_tool
from mockllm.tool_results import found_answer

# "The code sequence must be opened with '<code>', and closed with '</code>'."
_TAGS = re.compile(r"opened with '([^'\n]+)', and closed with '([^'\n]+)'")
_SIGNATURE = re.compile(
    r'^def (\w+)\(([^)\n]*)\)[^:\n]*:\n\s*"""(.*?)"""', re.MULTILINE | re.DOTALL
)
# Earlier prompts: "- get_weather: Get the weather.\n    Takes inputs: {'city': {...}}"
_LISTED = re.compile(r"^- (\w+): (.*?)\n\s+Takes inputs: (\{.*\})\s*$", re.MULTILINE)
_ARGUMENT = re.compile(r"(\w+)\s*:\s*(\w+)")
_TYPES = frozenset(("string", "integer", "number", "boolean", "array", "object"))
_TASK = re.compile(r"^\s*New task:\s*")
_LOGS = re.compile(
    r"Execution logs:\n(.*?)(?:\n?Last output from code snippet:\n(.*))?\Z", re.DOTALL
)
# "Observation:\n…"; earlier releases put "Call id: call_1\n" first.
_OBSERVATION = re.compile(r"\A(?:Call id: \S+\n)?Observation:")
_CALLED = re.compile(r"\b(\w+)\(")
_PYTHON_SUM = re.compile(r"[\d\s.()+\-*/%]+")
_FINAL = "final_answer"


def is_code_agent(request: Conversation) -> bool:
    """Whether the system prompt asks for each step as code that ends with `final_answer`."""
    system = request.system
    return (
        _FINAL in system
        and "Observation" in system
        and (_TAGS.search(system) is not None or "<end_code>" in system)
    )


def code_agent_answer(request: Conversation, rng: random.Random, locale: str) -> str | None:
    """The next step of a code agent, or its `final_answer` once the tools have run; None
    when the prompt is not a code agent's."""
    if not is_code_agent(request):
        return None
    tools = [t for t in _tools(request.system) if t.name != _FINAL]
    question, since = _task(request)
    called: set[str] = set()
    results: list[tuple[str, str]] = []
    step: list[str] = []
    names = {t.name for t in tools}
    for message in since:
        if message.role == "assistant":
            step = [n for n in dict.fromkeys(_CALLED.findall(message.text)) if n in names]
            called.update(step)
        elif message.role == "user" and _OBSERVATION.match(message.text):
            printed = _printed(message.text)
            if printed:
                results.append((", ".join(step) or "the code", printed))
    related = [t for t in tools if t.name not in called and relatedness(question, t) > 0]
    if called and related:  # after a result, another tool the task names acts in turn
        related = [t for t in related if names_tool(question, t, called)]
    if not related and not called:  # a page to read, a question to look up
        found = look_up_tool(question, [t for t in tools if t.name != _FINAL])
        related = [found] if found is not None else []
    if related:
        best = max(related, key=lambda t: relatedness(question, t))
        return _step(
            request.system,
            f"I will use `{best.name}` for this.",
            _call(best, question, request, rng, locale),
        )
    if results:
        code = f"{_FINAL}({found_answer(results, locale)!r})"
    elif (worked := _python_sum(question)) is not None:
        code = f"result = {worked}\n{_FINAL}(result)"
    else:
        code = f"{_FINAL}({fake.fake_text(rng.getrandbits(63), locale, 24)!r})"
    return _step(request.system, "I now have the final answer.", code)


def _tools(system: str) -> list[Tool]:
    """The tools the prompt shows, as Python signatures with a docstring or as a list."""
    tools = []
    for name, arguments, doc in _SIGNATURE.findall(system):
        properties: dict[str, Any] = {}
        for argument, kind in _ARGUMENT.findall(arguments):
            properties[argument] = {"type": kind} if kind in _TYPES else {}
        description = doc.strip().split("\n\n")[0]
        tools.append(Tool(name, description, {"type": "object", "properties": properties}))
    for name, description, inputs in _LISTED.findall(system):
        try:
            shown = ast.literal_eval(inputs)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            shown = None
        properties = shown if isinstance(shown, dict) else {}
        properties = {k: v for k, v in properties.items() if isinstance(v, dict)}
        tools.append(Tool(name, description, {"type": "object", "properties": properties}))
    return tools


def _task(request: Conversation) -> tuple[str, tuple[Message, ...]]:
    """The task the agent works on ("New task:\\n…"), and the messages after it."""
    messages = request.messages
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user" and _TASK.match(messages[i].text):
            return _TASK.sub("", messages[i].text, count=1).strip(), messages[i + 1 :]
    for i, message in enumerate(messages):
        if message.role == "user":
            return message.text.strip(), messages[i + 1 :]
    return request.last_user.strip(), ()


def _printed(observation: str) -> str:
    """What a step's code printed ("Execution logs:"), else the value it ended with."""
    text = _OBSERVATION.sub("", observation, count=1).strip()
    found = _LOGS.search(text)
    if found is None:
        return text
    logs = found.group(1).strip()
    last = (found.group(2) or "").strip()
    return logs or ("" if last == "None" else last)


def _call(tool: Tool, question: str, request: Conversation, rng: random.Random, locale: str) -> str:
    """Code that calls the tool with the arguments the task gives it and prints the result:
    once for each place the task lists ("in Paris and in Rome"), else once."""
    asking = replace(request, last_user=question)
    lines = []
    for hints in hints_per_place(asking, tool):
        values: Any = fake.instance_from_schema(tool.parameters, rng.getrandbits(63), locale, hints)
        given = values if isinstance(values, dict) else {}
        arguments = ", ".join(f"{name}={value!r}" for name, value in given.items())
        lines.append(f"{tool.name}({arguments})")
    if len(lines) == 1:
        return f"result = {lines[0]}\nprint(result)"
    return "\n".join(f"print({line})" for line in lines)


def _python_sum(question: str) -> str | None:
    """The arithmetic a task asks, when it is Python as written ("23*19", not "2^3")."""
    found = arithmetic_in(question)
    if found is None or not _PYTHON_SUM.fullmatch(found):
        return None
    try:
        ast.parse(found, mode="eval")
    except SyntaxError:
        return None
    return found


def _step(system: str, thought: str, code: str) -> str:
    """A thought and its code, written the way the prompt asks for them."""
    tags = _TAGS.search(system)
    if tags is not None and not re.search(r"[()\[\]?|*+\\]", tags.group(1)):
        return f"Thought: {thought}\n{tags.group(1)}\n{code}\n{tags.group(2)}"
    if "<end_code>" in system:
        return f"Thought: {thought}\nCode:\n```py\n{code}\n```<end_code>"
    return f"Thought: {thought}\n```python\n{code}\n```"
