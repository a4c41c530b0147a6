"""The answer to a DSPy signature prompt: its output fields, each a value of its type, laid
out as the adapter that wrote the prompt reads them.

DSPy's adapters (dspy 3) write a signature into the system message: "Your input fields
are:" and "Your output fields are:" (each "1. `name` (type): description"), then the
structure of an answer. The ChatAdapter asks for every output field under a marker line
(`[[ ## answer ## ]]`) and for `[[ ## completed ## ]]` at the end; the JSONAdapter (when it
does not send a schema as the response format) for "a JSON object with the following
fields"; the XMLAdapter for each field in its tags (`<answer>\n…\n</answer>`; lists and
objects as nested tags, left to its fallback, the JSONAdapter). A field that is not text
carries a note after its placeholder: "# note: the value you produce must exactly match
(no extra characters) one of: a; b" (a Literal), "must be one of: …" (an Enum), "must be
True or False", "must be a single int value", "must adhere to the JSON schema: {…}".

`dspy.ReAct` asks for `next_thought`, `next_tool_name` (one of its tools, or `finish`)
and `next_tool_args`, listing its tools in the instructions ("(1) get_weather, whose
description is <desc>…</desc>. It takes arguments {…}."), and sends the steps taken so far
as the `trajectory` input (`[[ ## tool_name_0 ## ]]`, `[[ ## observation_0 ## ]]`, …).
The step is the tool the question is most about that has not run yet, with arguments read
from the question, and `finish` once none is left; an answer field of a signature whose
trajectory holds observations is built from what they said.
"""

from __future__ import annotations

import ast
import json
import random
import re
from dataclasses import dataclass, replace
from typing import Any
from xml.sax.saxutils import escape

from mockllm.conversation import Conversation, Tool
from mockllm.lazy_fake import fake
from mockllm.prompt_reading import names_tool, relatedness
from mockllm.schema_instances import Hint
from mockllm.tool_arguments import argument_hints
from mockllm.tool_results import found_answer

_INPUTS = "Your input fields are:"
_OUTPUTS = "Your output fields are:"
_JSON_FORM = "Outputs will be a JSON object with the following fields."
_COMPLETED = "[[ ## completed ## ]]"
_FIELD = re.compile(r"^\d+\. `(\w+)` \((.*)\)(?::|$)", re.MULTILINE)
_MARKER = re.compile(r"^\[\[ ## (\w+) ## \]\][ \t]*$", re.MULTILINE)
_TAGGED = re.compile(r"^<(\w+)>\n(.*?)\n</\1>$", re.MULTILINE | re.DOTALL)
_NOTE = re.compile(r"\{(\w+)\}[ \t]+# note: the value you produce (.+)")
_ONE_OF = re.compile(r"(?:must exactly match \(no extra characters\) one of|must be one of): (.*)")
_SINGLE = re.compile(r"must be a single (int|float) value")
_JSON_SCHEMA = "must adhere to the JSON schema: "
# A tool as dspy.Tool describes itself: in ReAct's instructions ("(1) get_weather, whose
# description is <desc>…</desc>. It takes arguments {…}.") and in a `list[dspy.Tool]`
# input (a JSON list of those strings).
_TOOL = re.compile(
    r"(?:^\s*\(\d+\) |\")(\w[\w\-]*), whose description is <desc>(.*?)</desc>\.\s*"
    r"It takes arguments (\{[^\n]*?\})\.?(?=\"|[ \t]*$)",
    re.MULTILINE | re.DOTALL,
)
_STEP = re.compile(r"(thought|tool_name|tool_args|observation)_(\d+)")
_PLAIN_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
}
_ANSWER_NAMES = frozenset(("answer", "result", "output", "response", "final_answer"))
_FINISH = "finish"
_WORDS = 16


@dataclass(frozen=True, slots=True)
class _Field:
    """An output field: its name and the schema of its value (`text`: a plain string)."""

    name: str
    schema: dict[str, Any]
    text: bool


def signature_answer(request: Conversation, rng: random.Random, locale: str) -> str | None:
    """The output fields of the DSPy signature the prompt carries, as its adapter reads
    them; None when the prompt carries none (nothing drawn from `rng` then)."""
    system = request.system
    if _OUTPUTS not in system or _INPUTS not in system:
        return None
    as_json = _JSON_FORM in system or request.response_format.type == "json_object"
    fields = _output_fields(system)
    if not fields:
        return None
    as_xml = not as_json and _COMPLETED not in system
    if as_xml and not all(f"<{f.name}>" in system and _is_scalar(f) for f in fields):
        # The XMLAdapter wants nested tags for lists and objects: left to its JSON fallback.
        return None
    inputs = _sections(request.last_user)
    question = "\n".join(v for k, v in inputs.items() if k != "trajectory" and not _STEP.match(k))
    steps = {k: v for k, v in inputs.items() if _STEP.fullmatch(k)}
    asking = replace(request, last_user=question or request.last_user)
    values: dict[str, Any] = {}
    names = {f.name for f in fields}
    tools = [_tool(*shown) for shown in _TOOL.findall(f"{system}\n{request.last_user}")]
    if {"next_thought", "next_tool_name", "next_tool_args"} <= names:
        values |= _react_step(asking, tools, steps, rng, locale)
    for field in fields:
        if _is_tool_calls(field.schema):  # a dspy.ToolCalls output: the calls it makes
            calls = [
                {"name": t.name, "args": _arguments(asking, t, rng, locale)}
                for t in _next_tools(asking.last_user, tools, set(), False)
            ]
            values[field.name] = {"tool_calls": calls}
    said = _observed(steps, locale)
    for field in fields:
        if field.name in values:
            continue
        values[field.name] = _value(field, asking, said, rng, locale)
    if as_json:
        return json.dumps(values, ensure_ascii=False, indent=2)
    if as_xml:
        tagged = [f"<{f.name}>\n{escape(_written(values[f.name], f))}\n</{f.name}>" for f in fields]
        return "\n\n".join(tagged)
    parts = [f"[[ ## {f.name} ## ]]\n{_written(values[f.name], f)}" for f in fields]
    return "\n\n".join(parts) + f"\n\n{_COMPLETED}"


def trajectory_hints(request: Conversation, schema: dict[str, Any], locale: str) -> dict[str, Hint]:
    """For a DSPy signature answered as a structured output (the JSONAdapter sends its
    fields as a JSON schema when the provider takes one): what the trajectory's tools said,
    for its answer properties; empty when it is no such prompt or nothing ran yet."""
    properties = schema.get("properties")
    if _OUTPUTS not in request.system or _INPUTS not in request.system:
        return {}
    if not isinstance(properties, dict):
        return {}
    said = _observed(_sections(request.last_user), locale)
    if said is None:
        return {}
    return {name: said for name in properties if name in _ANSWER_NAMES}


def _output_fields(system: str) -> list[_Field]:
    """The output fields, in their order, each with the schema its note (or type) asks."""
    start = system.index(_OUTPUTS) + len(_OUTPUTS)
    end = system.find("All interactions will be structured", start)
    listed = _FIELD.findall(system[start : end if end >= 0 else len(system)])
    notes = _notes(system)
    return [_field(name, kind, notes.get(name)) for name, kind in listed]


def _notes(system: str) -> dict[str, str]:
    """Each field's note, from the marker layout or from the JSON object the JSON layout
    shows (where the note is inside the placeholder's string)."""
    found = {name: note.strip() for name, note in _NOTE.findall(system)}
    at = system.find(_JSON_FORM)
    if at >= 0:
        start = system.find("{", at)
        try:
            shown, _ = json.JSONDecoder().raw_decode(system, start)
        except ValueError:
            shown = None
        if isinstance(shown, dict):
            for value in shown.values():
                note = _NOTE.search(value) if isinstance(value, str) else None
                if note is not None:
                    found[note.group(1)] = note.group(2).strip()
    return found


def _field(name: str, kind: str, note: str | None) -> _Field:
    if note is None:  # text, or (in the XMLAdapter's layout) a value of nested tags
        kind = kind.strip()
        if kind in ("str", "Reasoning", ""):
            return _Field(name, {"type": "string"}, True)
        return _Field(name, dict(_PLAIN_TYPES.get(kind, {})), False)
    one_of = _ONE_OF.match(note)
    if one_of is not None:
        choices = [c.strip() for c in one_of.group(1).split(";")]
        return _Field(name, {"type": "string", "enum": [c for c in choices if c]}, False)
    if note.startswith("must be True or False"):
        return _Field(name, {"type": "boolean"}, False)
    single = _SINGLE.match(note)
    if single is not None:
        kind_of = "integer" if single.group(1) == "int" else "number"
        return _Field(name, {"type": kind_of}, False)
    if note.startswith(_JSON_SCHEMA):
        try:
            schema = json.loads(note[len(_JSON_SCHEMA) :])
        except ValueError:
            schema = {}
        if isinstance(schema, dict):
            return _Field(name, schema, False)
    return _Field(name, {"type": "string"}, True)


def _is_scalar(field: _Field) -> bool:
    return field.schema.get("type") in ("string", "boolean", "integer", "number")


def _sections(text: str) -> dict[str, str]:
    """The values of a user message written in markers (`[[ ## question ## ]]\n…`) or, by
    the XMLAdapter, in tags (`<question>\n…\n</question>`), the trajectory's steps among
    them (a trajectory written in tags may come under a marker: the JSON fallback of an
    XMLAdapter call)."""
    found: dict[str, str] = {}
    heads = list(_MARKER.finditer(text))
    for at, head in enumerate(heads):
        end = heads[at + 1].start() if at + 1 < len(heads) else len(text)
        body = text[head.end() : end].strip()
        if at + 1 == len(heads):  # the last input ends where the output requirements begin
            body = re.split(r"\n\s*\n(?=Respond with)", body)[0].strip()
        found.setdefault(head.group(1), body)
    for tag in _TAGGED.finditer(text):
        found.setdefault(tag.group(1), tag.group(2).strip())
        if tag.group(1) == "trajectory":
            for step in _TAGGED.finditer(tag.group(2)):
                found.setdefault(step.group(1), step.group(2).strip())
    return found


def _react_step(
    asking: Conversation, tools: list[Tool], steps: dict[str, str], rng: random.Random, locale: str
) -> dict[str, Any]:
    """ReAct's next step: the unused tool the question is most about, or `finish`."""
    used = {v.strip() for k, v in steps.items() if k.startswith("tool_name_")}
    observed = any(k.startswith("observation_") for k in steps)
    found = _next_tools(asking.last_user, tools, used | {_FINISH}, observed)
    if not found:
        return {
            "next_thought": "I have the information needed to answer.",
            "next_tool_name": _FINISH,
            "next_tool_args": {},
        }
    return {
        "next_thought": "I need to use a tool to help me answer the question.",
        "next_tool_name": found[0].name,
        "next_tool_args": _arguments(asking, found[0], rng, locale),
    }


def _next_tools(question: str, tools: list[Tool], used: set[str], observed: bool) -> list[Tool]:
    """The tools not used yet that the question relates to, the most related first; once
    observations are back, only those the question names (another thing it asks)."""
    scored = [(relatedness(question, t), t) for t in tools if t.name not in used]
    related = [t for score, t in scored if score > 0]
    if observed and related:
        related = [t for t in related if names_tool(question, t, used)]
    return sorted(related, key=lambda t: -relatedness(question, t))


def _arguments(asking: Conversation, tool: Tool, rng: random.Random, locale: str) -> Any:
    """A tool's arguments, read from the question where it gives them; an argument it does
    not give keeps its default."""
    hints = argument_hints(asking, tool)
    try:
        given = fake.instance_from_schema(tool.parameters, rng.getrandbits(63), locale, hints)
    except (ValueError, TypeError, OverflowError, RecursionError):  # the ones it has hints for
        given = dict(hints)
    if isinstance(given, dict):
        for name, sub in tool.parameters["properties"].items():
            if "default" in sub and name not in hints:
                given[name] = sub["default"]
    return given


def _is_tool_calls(schema: dict[str, Any]) -> bool:
    properties = schema.get("properties")
    return isinstance(properties, dict) and set(properties) == {"tool_calls"}


def _tool(name: str, description: str, shown: str) -> Tool:
    """A tool as ReAct lists it: its arguments are a Python dict of JSON schemas."""
    try:
        args = ast.literal_eval(shown)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        args = {}
    if not isinstance(args, dict):
        args = {}
    properties = {k: v for k, v in args.items() if isinstance(v, dict)}
    required = [k for k, v in properties.items() if "default" not in v]
    schema = {"type": "object", "properties": properties, "required": required}
    return Tool(name, description, schema)


def _observed(steps: dict[str, str], locale: str) -> str | None:
    """What the trajectory's tools said, as a text answer; None before any ran."""
    results = []
    for key, said in steps.items():
        step = _STEP.fullmatch(key)
        if step is not None and step.group(1) == "observation":
            tool = steps.get(f"tool_name_{step.group(2)}", "the tool").strip()
            if tool != _FINISH:
                results.append((tool, said))
    return found_answer(results, locale) if results else None


def _value(
    field: _Field, asking: Conversation, said: str | None, rng: random.Random, locale: str
) -> Any:
    if field.text:
        if said is not None and field.name in _ANSWER_NAMES:
            return said
        return fake.fake_text(rng.getrandbits(63), locale, _WORDS)
    hints = argument_hints(asking, Tool(field.name, "", field.schema))
    seed = rng.getrandbits(63)
    try:
        return fake.instance_from_schema(field.schema, seed, locale, hints)
    except (ValueError, TypeError, OverflowError, RecursionError):  # one it cannot serve
        return fake.fake_text(seed, locale, _WORDS)


def _written(value: Any, field: _Field) -> str:
    """A value as the ChatAdapter reads it under its marker: text as it is, True or False,
    anything else as JSON."""
    if isinstance(value, str) and (field.text or "enum" in field.schema):
        return value
    if isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
