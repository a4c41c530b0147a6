"""The answer of a model driven as a text agent: a prompt in the ReAct format ("Thought:",
"Action:", "Action Input:", "Observation:"), as LangChain's and LlamaIndex's ReAct agents
write it, names its tools in the text instead of offering them as function tools. (A
prompt that asks for each step as a JSON blob is answered by `json_agents`, one that asks
for it as code by `code_agents`.)

Until an observation is back, the answer is the next step: a thought, the tool the
question is most about, and its input (JSON of the tool's arguments when the prompt shows
their schema or asks for JSON, else the text a single-input tool reads). Once
observations are back, it is the final answer, under the prompt's own word for it
("Final Answer:" or "Answer:"), built from what they said.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from typing import Any

import orjson

from mockllm.code_agents import code_agent_answer
from mockllm.conversation import Conversation, Tool
from mockllm.json_agents import json_agent_answer
from mockllm.lazy_fake import fake
from mockllm.prompt_reading import names_tool, relatedness
from mockllm.tool_arguments import argument_hints, text_input
from mockllm.tool_policy import look_up_tool

_BRACKETED = re.compile(r"one of \[([^\]\n]+)\]")  # "should be one of [get_weather, calculator]"
_LISTED = re.compile(r"\(one of ([\w\-, ]+)\)")  # "tool name (one of get_weather, multiply)"
_NAMED = re.compile(r"^>?\s*Tool Name:\s*([\w\-]+)\s*$", re.MULTILINE)
_QUESTION = re.compile(r"^(?:Question|New input):[ \t]*(.+)$", re.MULTILINE)
_ACTION = re.compile(r"^Action:[ \t]*([\w\-]+)", re.MULTILINE)
_OBSERVATION = re.compile(r"Observation:[ \t]*(.*?)(?=\n\s*Thought:|\Z)", re.DOTALL)
_ANSWER_CHARS = 240


def react_answer(request: Conversation, rng: random.Random, locale: str) -> str | None:
    """The next ReAct step, or the final answer once observations are back; None when the
    prompt is not a ReAct one."""
    prompt = _prompt(request)
    if '"action_input"' in prompt:  # the step as a JSON blob
        blob = json_agent_answer(request, prompt, rng, locale)
        if blob is not None:
            return blob
    coded = code_agent_answer(request, rng, locale)
    if coded is not None:
        return coded
    if "Action Input" not in prompt or "Thought" not in prompt:
        return None  # (nothing drawn from `rng`: the answers of other prompts stay as they were)
    names = _tool_names(prompt)
    if not names:
        return None
    question, since = _question(request)
    observations = [o.strip() for o in _OBSERVATION.findall(since)]
    observations = [o for o in observations if o]
    final = "Final Answer" if "Final Answer" in prompt else "Answer"
    tools = [_tool(prompt, name) for name in names]
    used = set(_ACTION.findall(since))
    scored = [(relatedness(question, t), t) for t in tools if t.name not in used]
    related = [t for score, t in scored if score > 0]
    if observations and related:  # another tool the question names: it acts again
        related = [t for t in related if names_tool(question, t, used)]
    if not related and not observations:  # a page to read, a question to look up
        found = look_up_tool(question, [t for t in tools if t.name not in used])
        related = [found] if found is not None else []
    if not related:
        said = " ".join(observations)[:_ANSWER_CHARS].strip()
        if not said:  # no tool relates to the question: it answers it itself
            said = fake.fake_text(rng.getrandbits(63), locale, 24)
        return f"Thought: I can answer without using any more tools.\n{final}: {said}"
    best = max(related, key=lambda t: relatedness(question, t))
    asking = replace(request, last_user=question)
    hints = argument_hints(asking, best)
    if best.parameters.get("properties"):
        value: Any = fake.instance_from_schema(best.parameters, rng.getrandbits(63), locale, hints)
        given = orjson.dumps(value).decode()
    elif _asks_json(prompt, names):
        given = orjson.dumps({"input": next(iter(hints.values()), question)}).decode()
    else:  # a single-input tool reads text
        given = text_input(asking, best)
    return (
        "Thought: I need to use a tool to help me answer the question.\n"
        f"Action: {best.name}\nAction Input: {given}"
    )


def _asks_json(prompt: str, names: list[str]) -> bool:
    """Whether the prompt asks for the Action Input in JSON (a tool's name that says json,
    `tavily_search_results_json`, does not)."""
    for name in names:
        prompt = prompt.replace(name, "")
    return "JSON" in prompt or "json" in prompt


def _prompt(request: Conversation) -> str:
    return "\n".join(m.text for m in request.messages if m.role != "tool")


def _tool_names(prompt: str) -> list[str]:
    """The tools the prompt lets the agent act with, in its order."""
    found = _BRACKETED.search(prompt) or _LISTED.search(prompt)
    if found is not None:
        names = [n.strip() for n in found.group(1).split(",")]
    else:
        names = _NAMED.findall(prompt)
    return [n for n in dict.fromkeys(names) if n and re.fullmatch(r"[\w\-]+", n)]


def _tool(prompt: str, name: str) -> Tool:
    """A tool as the prompt describes it: the text after its name (`name: what it does`,
    or LlamaIndex's `Tool Description:`), and the argument schema it shows, if any."""
    description = ""
    line = re.search(rf"^>?\s*{re.escape(name)}\s*[:(-]\s*(.+)$", prompt, re.MULTILINE)
    if line is not None:
        description = line.group(1)
    block = re.search(
        rf"Tool Name:\s*{re.escape(name)}\s*\n(?:.*\n)*?\s*Tool Description:\s*(.+)\n"
        r"(?:.*\n)*?\s*Tool Args:\s*(\{.*\})",
        prompt,
    )
    parameters: dict[str, Any] = {}
    if block is not None:
        description = block.group(1)
        try:
            shown = json.loads(block.group(2))
        except ValueError:
            shown = None
        if isinstance(shown, dict) and isinstance(shown.get("properties"), dict):
            parameters = shown
    return Tool(name, description, parameters)


def _question(request: Conversation) -> tuple[str, str]:
    """The question the agent works on, and the transcript after it (where its
    observations are): LangChain writes `Question: …` and the steps into one prompt;
    LlamaIndex asks in a user message and returns each observation as another."""
    messages = request.messages
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if message.role != "user" or message.text.lstrip().startswith("Observation"):
            continue
        asked = list(_QUESTION.finditer(message.text))
        if asked:
            last = asked[-1]
            rest = message.text[last.end() :]
            later = "\n".join(m.text for m in messages[i + 1 :])
            return last.group(1).strip(), f"{rest}\n{later}"
        later = "\n".join(m.text for m in messages[i + 1 :])
        return message.text.strip(), later
    return request.last_user.strip(), ""
