"""The answer of a model driven as a text agent that acts through JSON blobs: LangChain's
structured chat agent (`create_structured_chat_agent`, the `hwchase17/structured-chat-agent`
prompt) and its JSON chat agents (`create_json_chat_agent`, `hwchase17/react-chat-json`,
the conversational chat agent) name their tools in the prompt and ask for each step as
`{"action": <a tool's name or "Final Answer">, "action_input": <its input>}`, in a
Markdown code block.

Until a tool's result is back, the blob names the tool the question is most about, with
an input built from the argument schema the prompt shows (`args: {...}`) or from the
tool's signature when it takes several arguments (`convert(amount: float, to: str)`), else
the text a single-input tool reads. Once results are back, the blob is the final answer,
built from what they said. The blob is fenced and indented as the prompt's example is,
after `Thought:` and `Action:` when the prompt shows that format.
"""

from __future__ import annotations

import ast
import json
import random
import re
from dataclasses import dataclass, replace
from typing import Any

from mockllm.conversation import Conversation, Tool
from mockllm.lazy_fake import fake
from mockllm.prompt_reading import names_tool, relatedness
from mockllm.tool_arguments import argument_hints, text_input
from mockllm.tool_policy import look_up_tool

# 'Valid "action" values: "Final Answer" or get_weather, calculator' (structured chat),
# '… or one of [get_weather, calculator].' (LangChain.js), 'The action to take. Must be one
# of get_weather, calculator' (JSON chat).
_NAMES = re.compile(
    r'(?:Valid "action" values: "Final Answer"[^\n]*?\bor (?:one of )?|Must be one of )'
    r"\[?([^\n\]]+)"
)
_ACTED = re.compile(r'"action"\s*:\s*"((?:[^"\\\n]|\\.)*)"')
_EXAMPLE = re.compile(r'^[ \t]*```(\w*)[ \t]*\n[ \t]*\{+[ \t]*\n([ \t]*)"action"', re.MULTILINE)
_STEPPED = re.compile(r"^Action:[ \t]*\n[ \t]*(?:```|\$JSON_BLOB)", re.MULTILINE)
_FINAL_THOUGHT = re.compile(
    r'^Thought:[ \t]*([^\n]+)\nAction:\s*```\w*\s*\{+\s*"action":\s*"Final Answer"', re.MULTILINE
)
_BEGIN = re.compile(r"^Begin!.*$", re.MULTILINE)
_USERS_INPUT = re.compile(r"^USER'S INPUT\n-+\n\s*(?:Here is the user's input.*\n)?", re.MULTILINE)
_QUESTION = re.compile(r"^(?:Question|New input):[ \t]*", re.MULTILINE)
_SCRATCH = re.compile(
    r"^[ \t]*(?:Thought:|Action:|Observation:|```|This was your previous work"
    r"|\(reminder to respond)",
    re.MULTILINE,
)
_OBSERVED = re.compile(
    r"^Observation:[ \t]*(.*?)(?=\n[ \t]*(?:Thought:|\(reminder to respond)|\Z)",
    re.MULTILINE | re.DOTALL,
)
_TOOL_RESPONSE = re.compile(r"TOOL RESPONSE:[ \t]*\n-+\n(.*?)\n\s*USER'S INPUT", re.DOTALL)
_ARGS = re.compile(r"(.*?),?[ \t]*\bargs:[ \t]*(\{.*\})[ \t]*$")
_ARRAY = re.compile(r"\b(?:list|List|tuple|Tuple|Sequence|set|Set)\b")
_OBJECT = re.compile(r"\b(?:dict|Dict|Mapping)\b")
_SCALARS = (("str", "string"), ("int", "integer"), ("float", "number"), ("bool", "boolean"))
_ANSWER_CHARS = 240


@dataclass(frozen=True, slots=True)
class _Listed:
    """A tool as the prompt lists it; `takes_object` when its input is an object of its
    arguments rather than the text it reads."""

    tool: Tool
    takes_object: bool


def json_agent_answer(
    request: Conversation, prompt: str, rng: random.Random, locale: str
) -> str | None:
    """The next step as a JSON blob, or the final answer once a tool's result is back; None
    when the prompt lists no tools to act with (`prompt`: the text of its messages)."""
    names = _tool_names(prompt)
    if not names:
        return None  # (nothing drawn from `rng`: the answers of other prompts stay as they were)
    question, results, used = _progress(request)
    listed = [_listed(prompt, name) for name in names]
    scored = [(relatedness(question, t.tool), t) for t in listed if t.tool.name not in used]
    related = [t for score, t in scored if score > 0]
    if results and related:  # another tool the question names: it acts again
        related = [t for t in related if names_tool(question, t.tool, used)]
    if not related and not results:  # a page to read, a question to look up
        looking = look_up_tool(question, [t.tool for t in listed if t.tool.name not in used])
        related = [t for t in listed if looking is not None and t.tool is looking]
    if not related:
        said = " ".join(results)[:_ANSWER_CHARS].strip()
        if not said:  # no tool relates to the question: it answers it itself
            said = fake.fake_text(rng.getrandbits(63), locale, 24)
        found = _FINAL_THOUGHT.search(prompt)
        thought = found.group(1).strip() if found is not None else "I know what to respond"
        return _step(prompt, thought, "Final Answer", said)
    best = max(related, key=lambda t: relatedness(question, t.tool))
    asking = replace(request, last_user=question)
    given = _input(asking, best, rng, locale)
    thought = "I need to use a tool to help me answer the question."
    return _step(prompt, thought, best.tool.name, given)


def _step(prompt: str, thought: str, action: str, given: Any) -> str:
    """The blob, laid out as the prompt's example is."""
    example = _EXAMPLE.search(prompt)
    fence = f"```{example.group(1)}" if example is not None else "```"
    pad = example.group(2) if example is not None and example.group(2) else "  "
    blob = (
        f'{fence}\n{{\n{pad}"action": {json.dumps(action, ensure_ascii=False)},\n'
        f'{pad}"action_input": {json.dumps(given, ensure_ascii=False)}\n}}\n```'
    )
    if _STEPPED.search(prompt) is None:
        return blob
    return f"Thought: {thought}\nAction:\n{blob}"


def _input(asking: Conversation, listed: _Listed, rng: random.Random, locale: str) -> Any:
    """What the tool is given: an object of its arguments, or the text it reads."""
    tool = listed.tool
    if listed.takes_object:
        hints = argument_hints(asking, tool)
        try:
            return fake.instance_from_schema(tool.parameters, rng.getrandbits(63), locale, hints)
        except ValueError:  # a schema it cannot read: its arguments, each with what it reads
            said = text_input(asking, tool)
            return {name: hints.get(name, said) for name in tool.parameters["properties"]}
    return text_input(asking, tool)


def _tool_names(prompt: str) -> list[str]:
    """The tools the prompt lets the agent act with, in its order."""
    found = _NAMES.search(prompt)
    if found is None:
        return []
    names = [n.strip().strip(".") for n in found.group(1).split(",")]
    return [n for n in dict.fromkeys(names) if n and re.fullmatch(r"[\w\-]+", n)]


def _listed(prompt: str, name: str) -> _Listed:
    """A tool as the prompt lists it: `name(signature) -> result - what it does, args:
    {schema}` (structured chat), `name(signature) -> result - what it does` (JSON chat),
    `> name: what it does` (conversational chat)."""
    line = re.search(
        rf"^>?[ \t]*{re.escape(name)}(?:\((?P<signature>[^\n]*?)\)(?:[ \t]*->[^\n]*?)?)?"
        r"[ \t]*[:-][ \t]*(?P<rest>[^\n]*)$",
        prompt,
        re.MULTILINE,
    )
    if line is None:
        return _Listed(Tool(name, "", {}), takes_object=False)
    description = line.group("rest")
    shown = _ARGS.match(description)
    if shown is not None:
        description = shown.group(1)
        properties = _arguments(shown.group(2))
        if properties is not None:
            required = [k for k, v in properties.items() if "default" not in v]
            schema = _object(properties, required)
            return _Listed(Tool(name, description, schema), takes_object=True)
    properties, required = _signature(line.group("signature") or "")
    schema = _object(properties, required) if properties else {}
    return _Listed(Tool(name, description, schema), takes_object=len(properties) > 1)


def _arguments(text: str) -> dict[str, Any] | None:
    """The argument schemas a structured chat prompt shows: JSON, or the Python dict
    LangChain writes (`{'city': {'title': 'City', 'type': 'string'}}`)."""
    try:
        shown = json.loads(text)
    except ValueError:
        try:
            shown = ast.literal_eval(text)
        # TypeError: a set of dicts (`{{'city': {...}}}`, a template's doubled braces)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    if not isinstance(shown, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) for k, v in shown.items()
    ):
        return None
    if isinstance(shown.get("properties"), dict):  # a whole schema rather than its properties
        return _arguments(json.dumps(shown["properties"]))
    return shown


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def _signature(text: str) -> tuple[dict[str, Any], list[str]]:
    """The arguments of a Python signature (`city: str, days: int = 3`), typed as JSON
    Schema where the annotation says, and those without a default."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for part in _top_level(text):
        found = re.fullmatch(r"\s*(\w+)\s*(?::\s*([^=]*?))?\s*(?:=\s*(.*?))?\s*", part, re.DOTALL)
        if found is None or found.group(1) in ("self", "cls", "callbacks", "run_manager"):
            continue
        name, annotation, default = found.groups()
        annotation = annotation or ""
        kind = (
            "array"
            if _ARRAY.search(annotation)
            else "object"
            if _OBJECT.search(annotation)
            else next((t for w, t in _SCALARS if re.search(rf"\b{w}\b", annotation)), None)
        )
        properties[name] = {"type": kind} if kind else {}
        if default is None:
            required.append(name)
    return properties, required


def _top_level(text: str) -> list[str]:
    """`text` split at its commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _progress(request: Conversation) -> tuple[str, list[str], set[str]]:
    """The question the agent works on, the tools' results since, and the tools it has
    used. Structured chat writes the steps and their `Observation:`s after the question in
    its message; JSON chat sends each step as an assistant message and its result as the
    user's next one (`TOOL RESPONSE: …`)."""
    messages = request.messages
    asked = None
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role != "user":
            continue
        if i and messages[i - 1].role == "assistant" and _acted(messages[i - 1].text):
            continue  # a tool's result
        asked = i
        break
    if asked is None:
        return request.last_user.strip(), [], set()
    text = messages[asked].text
    start = 0
    for pattern in (_BEGIN, _USERS_INPUT, _QUESTION):
        found = [m.end() for m in pattern.finditer(text, start)]
        start = found[-1] if found else start
    cut = _SCRATCH.search(text, start)
    end = cut.start() if cut is not None else len(text)
    question, scratch = text[start:end].strip(), text[end:]
    results = [o.strip() for o in _OBSERVED.findall(scratch)]
    used = {n for n in _ACTED.findall(scratch) if n != "Final Answer"}
    for message in messages[asked + 1 :]:
        if message.role == "assistant":
            used.update(n for n in _ACTED.findall(message.text) if n != "Final Answer")
        elif message.role == "user":
            wrapped = _TOOL_RESPONSE.search(message.text)
            said = wrapped.group(1) if wrapped is not None else message.text
            results.append(re.sub(r"^\s*Observation:", "", said).strip())
    return question or request.last_user.strip(), [r for r in results if r], used


def _acted(text: str) -> bool:
    """Whether an assistant message is a step that used a tool."""
    return any(name != "Final Answer" for name in _ACTED.findall(text))
