"""Matchers: compile a `match` condition at load, test it against a request.

Each matcher is a pair in `MATCHERS`: `compile(value) -> arg` (raises ValueError with
a message for the person who wrote the scenario) and `test(arg, request) -> MatchResult`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mockllm.conversation import APIS, Conversation
from mockllm.regexes import SafeRegex
from mockllm.rules import Condition, Rule, TextPattern, exact, glob
from mockllm.schema import HEADER_NAME, kind_of

PATTERN_KEYS = ("exact", "contains", "regex", "glob")
_GLOB_CHARS = frozenset("*?[")
_MAX_SHOWN = 60


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Whether a condition held; why not is worded only when asked (near misses)."""

    matched: bool
    why: Callable[[], str] | None = None

    @property
    def reason(self) -> str:
        return self.why() if self.why is not None else ""


OK = MatchResult(True)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + "...'"


def _why(text: str) -> Callable[[], str]:
    return lambda: text


def _why_not(field: str, value: object, pattern: TextPattern) -> Callable[[], str]:
    return lambda: f"{field}: {_shown(value)} is not {pattern.describe()}"


def compile_regex(source: str, ignore_case: bool = False) -> SafeRegex:
    return SafeRegex(source, ignore_case)


def compile_pattern(value: Any, *, names: bool = False) -> TextPattern:
    """Compile a text pattern: a string, {exact|contains|regex|glob: s}, or a list of them.

    With `names`, a plain string containing `*`, `?` or `[` is a glob (model ids, headers);
    everywhere, a plain string written as `/.../` is a regex.
    """
    if isinstance(value, list):
        if not value:
            raise ValueError("an empty list matches nothing; give at least one pattern")
        return TextPattern(
            "any", None, options=tuple(compile_pattern(v, names=names) for v in value)
        )
    if isinstance(value, dict):
        ignore_case = bool(value.get("ignore_case", False))
        kinds = [k for k in PATTERN_KEYS if k in value]
        unknown = [k for k in value if k not in (*PATTERN_KEYS, "ignore_case")]
        if unknown or len(kinds) != 1:
            raise ValueError(
                f"a pattern is one of {{{', '.join(PATTERN_KEYS)}}} (with optional ignore_case); "
                f"found keys {', '.join(map(str, value)) or 'none'}"
            )
        kind = kinds[0]
        text = value[kind]
        if not isinstance(text, str):
            raise ValueError(f"'{kind}' expects a string, found {kind_of(text)}")
        if kind == "regex":
            return TextPattern("regex", text, compile_regex(text, ignore_case))
        if kind == "glob":
            return glob(text, ignore_case)
        folded = text.lower() if ignore_case else text
        return TextPattern(kind, folded, ignore_case=ignore_case)  # type: ignore[arg-type]
    if isinstance(value, bool | int | float) and not names:
        return TextPattern("equals", value)
    if not isinstance(value, str):
        quote = "; write it in quotes to make it text" if isinstance(value, int | float) else ""
        raise ValueError(f"expected a string or a pattern mapping, found {kind_of(value)}{quote}")
    if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
        return TextPattern("regex", value, compile_regex(value[1:-1]))
    if names and _GLOB_CHARS & set(value):
        return glob(value)
    return exact(value)


def _spelled(value: Any) -> Any:
    """A message pattern with its numbers and booleans as the text that spells them: a
    message's text is text, so `last_user: 42` holds for "42" and `true` for "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [_spelled(v) for v in value]
    return value


def compile_text_pattern(value: Any) -> TextPattern:
    """A pattern over a message's text (`last_user`, `system`, `any_message`,
    `last_message`): as `compile_pattern`, numbers and booleans compared as their text."""
    return compile_pattern(_spelled(value))


FIELD_GETTERS: dict[str, Callable[[Conversation], object]] = {"api": lambda r: r.api}


def _fast_text(pattern: TextPattern) -> Callable[[object], bool]:
    """A predicate over one value, with the pattern's dispatch done now rather than per call."""
    if pattern.ignore_case or pattern.kind not in ("exact", "contains", "regex", "glob"):
        return pattern.test
    value = pattern.value
    if pattern.kind == "exact":
        return lambda text: text == value
    if pattern.kind == "contains":
        return lambda text: isinstance(text, str) and value in text
    search = pattern.regex.search
    return lambda text: isinstance(text, str) and bool(search(text))


def _text_matcher(
    field: str, get: Callable[[Conversation], object], names: bool = False
) -> tuple[Callable[[Any], Any], Callable[[Any, Conversation], MatchResult]]:
    FIELD_GETTERS[field] = get

    def compile_(value: Any) -> TextPattern:
        return compile_pattern(value, names=True) if names else compile_text_pattern(value)

    def test(pattern: TextPattern, request: Conversation) -> MatchResult:
        value = get(request)
        if pattern.test(value):
            return OK
        return MatchResult(False, lambda: f"{field}: {_shown(value)} is not {pattern.describe()}")

    return compile_, test


def _compile_headers(value: Any) -> tuple[tuple[str, TextPattern], ...]:
    if not isinstance(value, dict) or not value:
        raise ValueError("expects a mapping of header name to pattern")
    for name in map(str, value):
        if not HEADER_NAME.fullmatch(name):  # no request has it: the rule would never match
            raise ValueError(
                f"invalid header name {name!r}: letters, digits and !#$%&'*+-.^_`|~ only,"
                " no spaces or colons"
            )
    return tuple((str(k).lower(), compile_pattern(v, names=True)) for k, v in value.items())


def _test_headers(arg: tuple[tuple[str, TextPattern], ...], request: Conversation) -> MatchResult:
    for name, pattern in arg:
        value = request.headers.get(name)
        if value is None:
            return MatchResult(False, _why(f"header {name}: missing"))
        if not pattern.test(value):
            return MatchResult(False, _why_not(f"header {name}", value, pattern))
    return OK


def _compile_any_message(value: Any) -> TextPattern:
    return compile_text_pattern(value)


def _test_any_message(pattern: TextPattern, request: Conversation) -> MatchResult:
    if any(pattern.test(m.text) for m in request.messages):
        return OK
    return MatchResult(False, lambda: f"any_message: no message is {pattern.describe()}")


def _compile_last_message(value: Any) -> tuple[TextPattern | None, TextPattern | None]:
    if not isinstance(value, dict) or not value or set(value) - {"role", "content"}:
        raise ValueError("expects a mapping with 'role' and/or 'content'")
    role = compile_text_pattern(value["role"]) if "role" in value else None
    content = compile_text_pattern(value["content"]) if "content" in value else None
    return role, content


def _test_last_message(
    arg: tuple[TextPattern | None, TextPattern | None], request: Conversation
) -> MatchResult:
    role, content = arg
    last = request.messages[-1]
    if role is not None and not role.test(last.role):
        return MatchResult(
            False, lambda: f"last_message.role: {last.role!r} is not {role.describe()}"
        )
    if content is not None and not content.test(last.text):
        return MatchResult(
            False, _why(f"last_message.content: {_shown(last.text)} is not {content.describe()}")
        )
    return OK


def _compile_turn(value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, dict) and value and not set(value) - {"min", "max"}:
        low, high = value.get("min", 0), value.get("max", 1 << 30)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
            if low > high:
                raise ValueError(f"min {low} is over max {high}: no request has such a turn")
            return low, high
    raise ValueError("expects a number, or {min, max}")


def _test_turn(arg: tuple[int, int], request: Conversation) -> MatchResult:
    turn = request.turn
    if arg[0] <= turn <= arg[1]:
        return OK
    wanted = str(arg[0]) if arg[0] == arg[1] else f"between {arg[0]} and {arg[1]}"
    return MatchResult(False, lambda: f"turn: {turn} is not {wanted}")


def _compile_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expects true or false, found {value!r}")
    return value


def _test_stream(arg: bool, request: Conversation) -> MatchResult:
    return (
        OK
        if request.stream == arg
        else MatchResult(False, lambda: f"stream: {request.stream} is not {arg}")
    )


def _compile_tools(value: Any) -> bool | frozenset[str]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise ValueError("expects a list of tool names, or true/false (any tools / none)")


def _test_tools(arg: bool | frozenset[str], request: Conversation) -> MatchResult:
    offered = request.tool_names
    if isinstance(arg, bool):
        if bool(offered) == arg:
            return OK
        return MatchResult(False, lambda: "tools: none offered" if arg else "tools: some offered")
    missing = arg - offered
    if not missing:
        return OK
    return MatchResult(False, lambda: f"tools: {', '.join(sorted(missing))} not offered")


def _tool_choice(request: Conversation) -> str:
    if request.tool_choice is not None:
        return request.tool_choice
    return "auto" if request.tools else "none"


def _compile_body(value: Any) -> tuple[tuple[str, tuple[str | int, ...], TextPattern], ...]:
    if not isinstance(value, dict) or not value:
        raise ValueError("expects a mapping of JSON path (e.g. metadata.test_id) to pattern")
    return tuple(
        (str(path), _split_path(str(path)), compile_pattern(v)) for path, v in value.items()
    )


_PATH_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _split_path(path: str) -> tuple[str | int, ...]:
    steps: list[str | int] = []
    for name, index in _PATH_STEP.findall(path.removeprefix("$.")):
        steps.append(int(index) if index else name)
    if not steps:
        raise ValueError(f"empty JSON path {path!r}")
    return tuple(steps)


MISSING = object()


def dig(value: Any, steps: tuple[str | int, ...]) -> Any:
    for step in steps:
        if isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        elif isinstance(value, dict) and str(step) in value:
            value = value[str(step)]
        else:
            return MISSING
    return value


def _test_body(
    arg: tuple[tuple[str, tuple[str | int, ...], TextPattern], ...], request: Conversation
) -> MatchResult:
    for path, steps, pattern in arg:
        value = dig(request.body, steps)
        if value is MISSING:
            return MatchResult(False, _why(f"body {path}: missing"))
        if not pattern.test(value):
            return MatchResult(False, _why_not(f"body {path}", value, pattern))
    return OK


def _compile_api(value: Any) -> TextPattern:
    """`api: chat | responses | messages | embeddings | completions`, or a list of them."""
    names = value if isinstance(value, list) else [value]
    for name in names:
        if name not in APIS:
            raise ValueError(f"unknown API family {name!r}; valid: {', '.join(APIS)}")
    return compile_pattern(value, names=True)


def _test_api(pattern: TextPattern, request: Conversation) -> MatchResult:
    if pattern.test(request.api):
        return OK
    return MatchResult(False, lambda: f"api: {request.api!r} is not {pattern.describe()}")


def _compile_cassette(value: Any) -> TextPattern:
    if value is True:
        return glob("*")
    if isinstance(value, bool):
        raise ValueError("expects a cassette (docs/story.yaml), an interaction (#2), or true")
    return compile_pattern(value, names=True)


def _test_cassette(arg: TextPattern, request: Conversation) -> MatchResult:
    # A request alone carries no recorded interaction: `replays` tests this condition once a
    # recording matched, and the engine tries such rules only then.
    return OK


def is_replay_rule(rule: Rule) -> bool:
    """Whether a rule changes how a recorded interaction is replayed (it matches `cassette`)."""
    return any(c.key == "cassette" for c in rule.conditions)


def replays(rule: Rule, cassette: str, index: int) -> bool:
    """Whether a replay rule's `cassette` condition holds for interaction `cassette#index`.

    The pattern is tried on ``docs/story.yaml#2``, ``docs/story.yaml`` and both without the
    suffix (``docs/story#2``, ``docs/story``).
    """
    stem = cassette.rsplit(".", 1)[0] if cassette.endswith((".yaml", ".yml", ".json")) else cassette
    names = (f"{cassette}#{index}", cassette, f"{stem}#{index}", stem)
    return all(
        any(c.arg.test(name) for name in names) for c in rule.conditions if c.key == "cassette"
    )


Compiler = Callable[[Any], Any]
Tester = Callable[[Any, Conversation], MatchResult]

MATCHERS: dict[str, tuple[Compiler, Tester]] = {
    "model": _text_matcher("model", lambda r: r.model, names=True),
    "provider": _text_matcher("provider", lambda r: r.provider, names=True),
    "path": _text_matcher("path", lambda r: r.path, names=True),
    "api_key": _text_matcher("api_key", lambda r: r.api_key, names=True),
    "header": (_compile_headers, _test_headers),
    "last_user": _text_matcher("last_user", lambda r: r.last_user),
    "system": _text_matcher("system", lambda r: r.system),
    "any_message": (_compile_any_message, _test_any_message),
    "last_message": (_compile_last_message, _test_last_message),
    "turn": (_compile_turn, _test_turn),
    "stream": (_compile_bool, _test_stream),
    "tools": (_compile_tools, _test_tools),
    "tool_choice": _text_matcher("tool_choice", _tool_choice, names=True),
    "response_format": _text_matcher(
        "response_format", lambda r: r.response_format.type, names=True
    ),
    "body": (_compile_body, _test_body),
    "api": (_compile_api, _test_api),
    "cassette": (_compile_cassette, _test_cassette),
}
ALIASES = {"headers": "header"}


def predicate(key: str, arg: Any) -> Callable[[Conversation], bool]:
    """A fast yes/no test for a compiled condition, used to select rules."""
    get = FIELD_GETTERS.get(key)
    if get is not None:
        test = _fast_text(arg)
        return lambda request: test(get(request))
    tester = MATCHERS[key][1]
    return lambda request: tester(arg, request).matched


def check_condition(condition: Condition, request: Conversation) -> MatchResult:
    """Whether one compiled condition holds for the request, and why not."""
    return MATCHERS[condition.key][1](condition.arg, request)
