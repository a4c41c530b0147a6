"""`{{ expr }}` templates over a request: compiled once at load, rendered per request.

An expression is a path into the request view (`last_user`, `tool_args.city`,
`messages[0].content`, `body.metadata.test_id`) followed by filters
(`| upper`, `| lower`, `| title`, `| strip`, `| json`, `| length`, `| default("x")`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from mockllm.rules import Template

if TYPE_CHECKING:
    from mockllm.conversation import Conversation

_HOLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(-?\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")
_NAME = re.compile(r"[A-Za-z_]\w*")
_FILTER = re.compile(r"\s*([a-z_]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)

VARIABLES: dict[str, str] = {
    "last_user": "text of the last user message",
    "system": "system and developer messages, joined",
    "model": "the model id as sent",
    "provider": "X-AI-Provider, or the provider/ prefix of the model",
    "turn": "number of user messages",
    "messages": "the messages: [{role, content, name}]",
    "last_message": "the last message: {role, content}",
    "tool_args": "arguments of the last tool call the assistant made (parsed JSON)",
    "tool_calls": "the last assistant tool calls: [{id, name, arguments}]",
    "tool_result": "content of the last tool message",
    "body": "the whole request body",
}


class TemplateError(ValueError):
    """A template that cannot compile; the message says why."""


@dataclass(frozen=True, slots=True)
class Expr:
    root: str
    steps: tuple[str | int, ...]
    filters: tuple[tuple[str, Any], ...]
    source: str


def _apply(name: str, arg: Any, value: Any) -> Any:
    if name == "default":
        return arg if value in (None, "") else value
    if name == "json":
        return _dumps(value)
    if name == "length":
        return len(value) if isinstance(value, str | list | dict) else 0
    text = _text(value)
    change: dict[str, Callable[[str], str]] = {
        "upper": str.upper,
        "lower": str.lower,
        "title": str.title,
        "strip": str.strip,
    }
    return change[name](text)


FILTERS = ("upper", "lower", "title", "strip", "json", "length", "default")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return _dumps(value)


def _dumps(value: Any) -> str:
    """A value as JSON text. A tool call's arguments arrive as text, and orjson reads 1024
    levels but writes 255: one nested deeper is written by the standard library (past
    Python's recursion limit, it renders empty, as a missing value does)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except RecursionError:
            return ""


def _compile_expr(source: str) -> Expr:
    path, *filter_parts = source.split("|")
    path = path.strip()
    name = _NAME.match(path)
    if not name:
        raise TemplateError(f"'{{{{{source}}}}}': expected a variable name")
    root = name.group(0)
    if root not in VARIABLES:
        import difflib

        close = difflib.get_close_matches(root, VARIABLES, 1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise TemplateError(
            f"unknown template variable '{root}'{hint} valid: {', '.join(VARIABLES)}"
        )
    steps: list[str | int] = []
    rest = path[name.end() :]
    while rest:
        step = _STEP.match(rest)
        if not step:
            raise TemplateError(f"'{{{{{source}}}}}': cannot read '{rest}'")
        attr, index, dq, sq = step.groups()
        steps.append(int(index) if index is not None else (attr or dq or sq or ""))
        rest = rest[step.end() :]
    filters: list[tuple[str, Any]] = []
    for part in filter_parts:
        match = _FILTER.match(part)
        if not match or match.group(1) not in FILTERS:
            raise TemplateError(
                f"unknown filter '{part.strip()}' in '{{{{{source}}}}}'; "
                f"valid: {', '.join(FILTERS)}"
            )
        arg: Any = None
        if match.group(2) is not None:
            try:
                arg = orjson.loads(match.group(2).strip().replace("'", '"'))
            except orjson.JSONDecodeError:
                raise TemplateError(
                    f"filter argument {match.group(2)!r} in '{{{{{source}}}}}' is not a literal"
                ) from None
        filters.append((match.group(1), arg))
    return Expr(root, tuple(steps), tuple(filters), source)


def compile_template(source: str) -> Template:
    """Compile text with `{{ expr }}` holes; raise TemplateError for a bad expression."""
    parts: list[Any] = []
    last = 0
    for hole in _HOLE.finditer(source):
        if hole.start() > last:
            parts.append(source[last : hole.start()])
        parts.append(_compile_expr(hole.group(1)))
        last = hole.end()
    opened = source.find("{{", last)
    if opened >= 0:
        raise TemplateError(
            f"unclosed '{{{{' at character {opened + 1}: {_clip(source[opened:])!r};"
            " a template hole is {{ expr }}"
        )
    if last < len(source):
        parts.append(source[last:])
    return Template(source, tuple(parts))


def _clip(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lookup(value: Any, steps: tuple[str | int, ...]) -> Any:
    for step in steps:
        if isinstance(step, int) and isinstance(value, list):
            value = value[step] if -len(value) <= step < len(value) else None
        elif isinstance(value, dict):
            value = value.get(str(step))
        else:
            return None
    return value


def _view(request: Conversation, root: str) -> Any:
    getters: dict[str, Callable[[Conversation], Any]] = {
        "last_user": lambda r: r.last_user,
        "system": lambda r: r.system,
        "model": lambda r: r.model,
        "provider": lambda r: r.provider or "",
        "turn": lambda r: r.turn,
        "messages": lambda r: [
            {"role": m.role, "content": m.text, "name": m.name} for m in r.messages
        ],
        "last_message": lambda r: {"role": r.messages[-1].role, "content": r.messages[-1].text},
        "tool_args": lambda r: r.last_tool_calls[-1].parsed_arguments if r.last_tool_calls else {},
        "tool_calls": lambda r: [
            {"id": c.id, "name": c.name, "arguments": c.parsed_arguments} for c in r.last_tool_calls
        ],
        "tool_result": lambda r: next(
            (m.text for m in reversed(r.messages) if m.role == "tool"), ""
        ),
        "body": lambda r: r.body,
    }
    return getters[root](request)


def evaluate(expr: Expr, request: Conversation) -> Any:
    """The value of one expression over a request."""
    value = _lookup(_view(request, expr.root), expr.steps)
    for name, arg in expr.filters:
        value = _apply(name, arg, value)
    return value


def render(template: Template, request: Conversation) -> str:
    """The template's text for this request."""
    if template.is_static:
        return template.parts[0] if template.parts else ""
    return "".join(
        part if isinstance(part, str) else _text(evaluate(part, request)) for part in template.parts
    )
