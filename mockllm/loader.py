"""YAML scenarios → rules, with every problem reported by file, line and field.

A file is parsed to nodes (keeping lines), checked against `FORMAT` (schema.py), then
compiled into frozen `Rule`s. Nothing half-loads: any problem raises ScenarioError
listing all problems found.
"""

from __future__ import annotations

import difflib
import re
import stat
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from mockllm import schema as s
from mockllm import yamlfast
from mockllm.conversation import APIS
from mockllm.errors import ConfigError, Problem, ScenarioError
from mockllm.matchers import ALIASES, MATCHERS, predicate
from mockllm.rules import (
    FINISH_REASONS,
    ChoiceSpec,
    Condition,
    ErrorSpec,
    FakerSpec,
    Fault,
    Latency,
    LatencyModel,
    Reply,
    Rule,
    Template,
    ToolCallSpec,
)
from mockllm.template import TemplateError, compile_template

MAX_FILE_BYTES = 4 * 1024 * 1024
# libyaml's parser when the installed PyYAML has it: several times faster on big files.
_YAML_LOADER = yamlfast.loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))
_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_TAGS = frozenset(("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"))
MAX_NODES = 500_000  # alias expansion bound: a YAML bomb fails instead of eating memory
MAX_DEPTH = 100

PATTERN = s.Ref(doc="text pattern", name="pattern")
s.DEFS["pattern"] = s.OneOf(
    (
        s.Str(coerce=True),
        s.Bool(doc="in message fields and body: equals this boolean"),
        s.Obj(
            {
                "exact": s.Str(doc="the whole text equals this"),
                "contains": s.Str(doc="the text contains this"),
                "regex": s.Str(doc="a regular expression found in the text"),
                "glob": s.Str(doc="a shell-style glob matching the whole text"),
                "ignore_case": s.Bool(doc="compare case-insensitively"),
            }
        ),
        s.ListOf(s.Ref(name="pattern"), min_items=1, doc="any of these"),
    ),
    doc="A plain string (exact; /.../ is a regex), {contains|regex|glob|exact}, or a list.",
)
s.DEFS["match"] = s.Obj(
    {
        "model": s.Ref(doc="model id as sent: exact, glob (gpt-4o*) or /regex/", name="pattern"),
        "provider": s.Ref(doc="X-AI-Provider or the provider/ prefix of the model", name="pattern"),
        "path": s.Ref(doc="request path", name="pattern"),
        "api_key": s.Ref(doc="the API key sent", name="pattern"),
        "header": s.MapOf(PATTERN, doc="header name to pattern"),
        "headers": s.MapOf(PATTERN, doc="same as header"),
        "last_user": s.Ref(doc="text of the last user message", name="pattern"),
        "system": s.Ref(doc="system and developer messages", name="pattern"),
        "any_message": s.Ref(doc="any message's text", name="pattern"),
        "last_message": s.Obj({"role": PATTERN, "content": PATTERN}, doc="the last message"),
        "turn": s.OneOf(
            (
                s.Num(min=0, integer=True),
                s.Obj({"min": s.Num(min=0, integer=True), "max": s.Num(min=0, integer=True)}),
            ),
            doc="number of user messages",
        ),
        "stream": s.Bool(doc="whether the request streams"),
        "tools": s.OneOf(
            (s.Bool(), s.Str(), s.ListOf(s.Str(), min_items=1)),
            doc="tool names the request offers (at least these), or true/false",
        ),
        "tool_choice": s.Ref(doc="none, auto, required or a function name", name="pattern"),
        "response_format": s.Ref(doc="text, json_object or json_schema", name="pattern"),
        "body": s.MapOf(PATTERN, doc="JSON path (metadata.test_id) to pattern"),
        "api": s.OneOf(
            (
                s.Enum(APIS),
                s.ListOf(s.Enum(APIS), min_items=1),
            ),
            doc="the API family: chat, responses, messages, embeddings, completions (or a list)",
        ),
        "cassette": s.OneOf(
            (s.Bool(), PATTERN),
            doc="a recorded interaction (docs/story.yaml#2), a cassette, a glob, or true:"
            " the rule changes how that recording is replayed (fault and latency only)",
        ),
    },
    doc="Conditions; all must hold.",
)
MAX_MS = 3_600_000  # an hour, as the CLI's --ttft-ms: past it, a typo, not a test's pace
LATENCY = s.Obj(
    {
        "ttft_ms": s.Num(min=0, max=MAX_MS, doc="time to first token, ms"),
        "inter_token_ms": s.Num(min=0, max=MAX_MS, doc="gap between stream deltas, ms"),
        "jitter_ms": s.Num(min=0, max=MAX_MS, doc="seeded random +/- added to each gap, ms"),
        "tokens_per_chunk": s.Num(min=1, integer=True, doc="tokens in each stream delta"),
    },
    doc="Stream pacing; non-streaming replies wait the total.",
)
LATENCY_MODEL_FIELDS: dict[str, s.Spec] = {
    "preset": s.Str(doc="start from this preset's numbers (docs/load.md)"),
    "ttft_ms": s.Num(
        min=0, max=MAX_MS, doc="time to first token at no load, ms (unless latency sets it)"
    ),
    "inter_token_ms": s.Num(min=0, max=MAX_MS, doc="gap between deltas at no load, ms"),
    "jitter_ms": s.Num(min=0, max=MAX_MS, doc="seeded random +/- added to each gap, ms"),
    "prefill_ms_per_1k": s.Num(
        min=0, max=MAX_MS, doc="TTFT added per 1000 uncached prompt tokens, ms"
    ),
    "load_factor_at_capacity": s.Num(
        min=1, doc="gaps (and TTFT) are this many times longer at max_concurrency"
    ),
    "ttft_load_factor_at_capacity": s.Num(
        min=1, doc="TTFT's own factor at max_concurrency (default: load_factor_at_capacity)"
    ),
    "max_concurrency": s.Num(min=1, integer=True, doc="requests answered at once"),
    "max_queue": s.Num(min=0, integer=True, doc="requests waiting past capacity (default: any)"),
    "queue_full_status": s.Enum((429, 503), doc="the refusal past the queue"),
    "prefix_cache_tokens": s.Num(min=0, integer=True, doc="prefix cache size, tokens (0: none)"),
    "prefix_block_tokens": s.Num(min=1, integer=True, doc="prefix cache block size, tokens"),
    "group": s.Str(doc="in flight counted per: model (default), rule, or a group name"),
}
LATENCY_MODEL = s.OneOf(
    (
        s.Str(doc="a preset name, or none"),
        s.Obj(LATENCY_MODEL_FIELDS, name="latency_model"),
    ),
    doc="A loaded model server: TTFT by prompt length and load, capacity, prefix cache.",
)
ERROR = s.Obj(
    {
        "status": s.Num(min=400, max=599, integer=True, doc="HTTP status"),
        "type": s.Str(doc="error.type (default by status)"),
        "code": s.OneOf(
            (s.Str(), s.Num(integer=True), s.Enum((None,))),
            doc="error.code (default by status; null: null)",
        ),
        "message": s.Str(doc="error.message (default by status)"),
        "param": s.OneOf((s.Str(), s.Enum((None,))), doc="error.param (default null)"),
        "headers": s.Headers(doc="extra response headers"),
    },
    required=("status",),
    doc="Answer with an HTTP error in the OpenAI error shape.",
)
FAULT = s.Obj(
    {
        "disconnect_after_tokens": s.Num(min=0, integer=True, doc="close after N deltas"),
        "hang": s.Bool(doc="accept and never answer (bounded by the server maximum)"),
        "malformed_chunk_at": s.Num(min=1, integer=True, doc="the Nth delta is broken JSON"),
        "drip_bytes_per_s": s.Num(min=0, exclusive_min=True, doc="send the body slowly"),
        "reset": s.Bool(doc="close the connection before any byte"),
        "error_after_tokens": s.Num(min=0, integer=True, doc="in-band error after N deltas"),
        "empty_choices_error": s.Bool(doc="a chunk with choices: [] and a top-level error"),
        "error": s.Obj(
            {k: v for k, v in ERROR.fields.items() if k != "headers"},
            doc="what the in-band error says",
        ),
    },
    doc="Scripted failures.",
)
FAKER = s.Obj(
    {
        "text": s.Str(
            doc="faker provider: paragraph, sentence, name, ...; with provider given, the"
            " pattern of bothify, lexify or numerify"
        ),
        "provider": s.Str(doc="faker provider (then text is an argument)"),
        "locale": s.Str(doc="faker locale, e.g. zh_CN (default: the prompt's language)"),
    },
    extra=s.AnyValue(doc="provider arguments (sentences, words, max_chars, ...)"),
    doc="Generated text.",
)
TOOL_CALL = s.Obj(
    {
        "name": s.Str(doc="function name"),
        "arguments": s.OneOf((s.MapOf(), s.ListOf(), s.Str()), doc="JSON data or JSON text"),
        "id": s.Str(doc="tool call id (default: derived from the request)"),
        "generate": s.Enum(("from_schema",), doc="arguments generated from the tool's schema"),
    },
    required=("name",),
)
CHOICE_FIELDS: dict[str, s.Spec] = {
    "content": s.Str(coerce=True, doc="the answer; {{ templates }} over the request"),
    "faker": FAKER,
    "generate": s.Enum(("from_schema",), doc="content generated to the response_format schema"),
    "chunks": s.ListOf(s.Str(coerce=True), doc="exact stream deltas"),
    "tool_calls": s.ListOf(TOOL_CALL, min_items=1, doc="several = parallel calls"),
    "refusal": s.Str(doc="a refusal message instead of content"),
    "finish_reason": s.Enum(FINISH_REASONS),
    "logprobs": s.Bool(doc="include logprobs even when not asked"),
    "reasoning": s.Str(
        coerce=True, doc="the model's reasoning before the answer; {{ templates }} allowed"
    ),
}
s.DEFS["reply"] = s.Obj(
    {
        **CHOICE_FIELDS,
        "choices": s.ListOf(s.Obj(CHOICE_FIELDS), min_items=1, doc="one per choice, for n > 1"),
        "usage": s.Obj(
            {
                k: s.Num(min=0, integer=True)
                for k in ("prompt_tokens", "completion_tokens", "total_tokens")
            },
            doc="override usage figures",
        ),
        "headers": s.Headers(doc="extra response headers"),
        "error": ERROR,
        "latency": LATENCY,
        "fault": FAULT,
        "model": s.Str(doc="model id reported in the response"),
    },
    doc="One response.",
)
# What the answers of a family cannot carry, and why (a rule kept to it by `api`).
_NOT_IN_ANSWERS: dict[str, set[str]] = {
    "embeddings": set(CHOICE_FIELDS),
    "messages": {"logprobs"},
}
_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_-]+")
_ONE_CHOICE = frozenset(("responses", "messages"))  # no `n`: a reply's first choice only
_WHY_NOT = {
    "embeddings": "an embeddings request is answered with vectors; a rule can give it an error,"
    " a latency, a fault, headers and usage",
    "messages": "the Messages API sends no log probabilities",
}
RULE = s.Obj(
    {
        "name": s.Str(doc="names the rule in logs, the journal and errors"),
        "description": s.Str(),
        "match": s.Ref(name="match"),
        "reply": s.Ref(name="reply"),
        "sequence": s.ListOf(s.Ref(name="reply"), min_items=1, doc="nth matching call, nth reply"),
        "then": s.Enum(("repeat_last", "cycle", "fall_through"), doc="after the sequence"),
        "sequence_scope": s.Enum(("global", "api_key", "conversation")),
        "when": s.Obj({"probability": s.Num(min=0, max=1)}, doc="seeded share of requests"),
        "priority": s.Num(integer=True, doc="higher first; ties in file order"),
        "latency_model": LATENCY_MODEL,
    },
)
DEFAULTS = s.Obj(
    {
        "latency": LATENCY,
        "headers": s.Headers(doc="extra response headers"),
        "match": s.Ref(name="match"),
        "priority": s.Num(integer=True),
        "fault": FAULT,
        "latency_model": LATENCY_MODEL,
    },
    doc="Applied to every rule of the file.",
)
FORMAT = s.Obj(
    {
        "version": s.Enum((1,), doc="format version"),
        "name": s.Str(),
        "description": s.Str(),
        "defaults": DEFAULTS,
        "rules": s.ListOf(RULE, doc="rules, tried by priority then file order"),
    },
    required=("rules",),
)


_COST = {"any_message": 3, "body": 2, "last_user": 1, "system": 1, "last_message": 1}
_COST.update(
    dict.fromkeys(
        (
            "model",
            "provider",
            "path",
            "api_key",
            "stream",
            "turn",
            "tools",
            "tool_choice",
            "response_format",
            "header",
            "api",
            "cassette",
        ),
        0,
    )
)


class _Lines:
    """YAML nodes → Python values, remembering the line of every path."""

    def __init__(self, source: str, constructor: type[yaml.constructor.SafeConstructor]) -> None:
        self.source = source
        self.lines: dict[s.Path, int] = {}
        self.count = 0
        self.problems: list[Problem] = []
        self._constructor = constructor()

    def line(self, path: s.Path) -> int | None:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def value(self, node: yaml.Node, path: s.Path = ()) -> Any:
        self.count += 1
        if self.count > MAX_NODES or len(path) > MAX_DEPTH:
            raise _TooBig(node.start_mark.line + 1)
        lines = self.lines
        if path not in lines:  # a mapping's values are noted at their keys' lines
            lines[path] = node.start_mark.line + 1
        cls = node.__class__
        if cls is yaml.ScalarNode:
            if node.tag == _STR_TAG:  # what the constructor would make of it, without its books
                return node.value
            if node.tag not in self._constructor.yaml_constructors:
                raise _unknown_tag(node)
            try:
                return self._constructor.construct_object(node)
            except yaml.MarkedYAMLError as exc:
                raise _TooBig(node.start_mark.line + 1, f"not valid YAML: {exc.problem}") from None
            except (yaml.YAMLError, ValueError, TypeError) as exc:
                raise _TooBig(node.start_mark.line + 1, f"not valid YAML: {exc}") from None
        if node.tag not in _PLAIN_TAGS and node.tag not in self._constructor.yaml_constructors:
            # A list or mapping under a tag no safe loader makes (`!!python/object/apply:…`,
            # `!custom`): refused as such a scalar is, not read as if the tag were not there.
            raise _unknown_tag(node)
        if cls is yaml.SequenceNode:
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        out: dict[Any, Any] = {}
        pairs = node.value
        merged = 0  # how many pairs up front came in through merge keys
        if any(key_node.tag != _STR_TAG for key_node, _ in pairs):
            # merge keys (`<<`) and their kin: PyYAML puts the merged pairs first, so that
            # the mapping's own keys override them, as yaml.safe_load does
            explicit = sum(k.tag != "tag:yaml.org,2002:merge" for k, _ in pairs)
            self._constructor.flatten_mapping(node)  # type: ignore[arg-type]
            pairs = node.value
            merged = len(pairs) - explicit
        own: set[str] = set()
        for index, (key_node, value_node) in enumerate(pairs):
            key = (
                key_node.value
                if key_node.tag == _STR_TAG
                else self._constructor.construct_object(key_node)
            )
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise _TooBig(key_node.start_mark.line + 1, "mapping keys must be scalars")
            key = str(key)
            at = (*path, key)
            line = key_node.start_mark.line + 1
            if key in own:
                self.problems.append(Problem(self.source, line, s.dotted(at), "duplicate key"))
            elif key in out:  # a merged value overridden: its lines give way to the new one's
                for known in [p for p in lines if p[: len(at)] == at]:
                    del lines[known]
            if index >= merged:
                own.add(key)
            lines[at] = line
            out[key] = self.value(value_node, at)
        return out


class _TooBig(Exception):
    def __init__(self, line: int, message: str = "") -> None:
        super().__init__(
            message
            or f"document too large or too deep (over {MAX_NODES} values or {MAX_DEPTH} levels, "
            "counting alias expansion)"
        )
        self.line = line


def _unknown_tag(node: yaml.Node) -> _TooBig:
    """A value under a tag the safe loader has no type for (`!!python/…`, `!custom`)."""
    tag = node.tag.replace("tag:yaml.org,2002:", "!!", 1)
    return _TooBig(
        node.start_mark.line + 1,
        f"not valid YAML: unknown tag '{tag}' (only YAML's standard types are read: !!str,"
        " !!int, …)",
    )


def parse_document(
    text: str,
    source: str,
    *,
    constructor: type[yaml.constructor.SafeConstructor] = yaml.constructor.SafeConstructor,
    max_bytes: int | None = MAX_FILE_BYTES,
) -> tuple[Any, _Lines]:
    """YAML text → (value, line map); raise ScenarioError for YAML that does not parse.

    ``constructor`` makes the tagged scalars (a cassette's knows the tags old vcrpy wrote);
    ``max_bytes`` bounds the text (None: no bound; the alias bound stays)."""
    lines = _Lines(source, constructor)
    if max_bytes is not None and len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ScenarioError([Problem(source, None, "", f"file over {max_bytes} bytes")])
    try:
        node = yaml.compose(text, Loader=_YAML_LOADER)
    except RecursionError:
        raise ScenarioError(
            [Problem(source, 1, "", f"not valid YAML: nested too deeply (over {MAX_DEPTH} levels)")]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(
            [Problem(source, line, "", f"not valid YAML: {exc.problem or exc}")]
        ) from None
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)  # reader errors: a character offset
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        raise ScenarioError([Problem(source, line, "", f"not valid YAML: {exc}")]) from None
    if node is None:
        return None, lines
    try:
        return lines.value(node), lines
    except _TooBig as exc:
        raise ScenarioError([Problem(source, exc.line, "", str(exc))]) from None
    except RecursionError:
        raise ScenarioError(
            [Problem(source, 1, "", f"nested too deeply (over {MAX_DEPTH} levels)")]
        ) from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise ScenarioError([Problem(source, None, "", f"not valid YAML: {exc}")]) from None


class _Compiler:
    """Checked data → Rules; conversion problems are collected, not raised one by one."""

    def __init__(self, lines: _Lines, order_base: int) -> None:
        self.lines = lines
        self.order_base = order_base
        self.problems = lines.problems

    def fail(self, path: s.Path, message: str) -> None:
        self.problems.append(
            Problem(self.lines.source, self.lines.line(path), s.dotted(path), message)
        )

    def template(self, text: Any, path: s.Path) -> Template:
        try:
            return compile_template(str(text))
        except TemplateError as exc:
            self.fail(path, str(exc))
            return Template(str(text), (str(text),))

    def conditions(self, match: dict[str, Any], path: s.Path) -> list[Condition]:
        out = []
        for key, value in match.items():
            name = ALIASES.get(key, key)
            try:
                arg = MATCHERS[name][0](value)
            except ValueError as exc:
                self.fail((*path, key), str(exc))
                continue
            out.append(Condition(name, arg, self.lines.line((*path, key)), predicate(name, arg)))
        # Cheap conditions first: most rules are ruled out by the model or a flag before
        # any message text is scanned. (Near misses still report every failed condition.)
        return sorted(out, key=lambda c: _COST.get(c.key, 1))

    def error(self, data: dict[str, Any]) -> ErrorSpec:
        return ErrorSpec(
            status=int(data.get("status", 500)),
            type=data.get("type"),
            code=data.get("code"),
            message=data.get("message"),
            param=data.get("param"),
            null_code="code" in data and data["code"] is None,
            headers=tuple((str(k), str(v)) for k, v in data.get("headers", {}).items()),
        )

    def latency(self, data: dict[str, Any] | None) -> Latency:
        data = data or {}
        return Latency(
            data.get("ttft_ms"),
            data.get("inter_token_ms"),
            data.get("jitter_ms"),
            data.get("tokens_per_chunk"),
        )

    def latency_model(self, value: Any, path: s.Path) -> LatencyModel | None:
        try:
            return compile_latency_model(value)
        except ConfigError as exc:
            self.fail(path, str(exc))
            return None

    def fault(self, data: dict[str, Any] | None) -> Fault | None:
        if not data:
            return None
        fields = {k: v for k, v in data.items() if k != "error"}
        error = self.error({"status": 500, **data["error"]}) if "error" in data else None
        return Fault(**fields, error=error)

    def arguments(self, value: Any, path: s.Path) -> Any:
        if isinstance(value, str):
            return self.template(value, path)
        if isinstance(value, dict):
            return {k: self.arguments(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.arguments(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def faker(self, data: dict[str, Any], path: s.Path) -> FakerSpec:
        # With `provider` given, `text` is an argument: the pattern of bothify, lexify and
        # numerify, which faker names `text`.
        named = "provider" if "provider" in data else "text"
        provider = str(data.get(named) or "paragraph")
        args = {k: v for k, v in data.items() if k not in (named, "provider", "locale")}
        locale = data.get("locale")
        try:
            from mockllm import fake

            message = fake.check_faker_spec(provider, args)
            if message is None and locale is not None:
                message = fake.check_locale(str(locale))
        except ImportError:  # pragma: no cover - fake.py ships with the package
            message = None
        if message:
            self.fail(path, message)
        return FakerSpec(provider, str(locale) if locale else None, tuple(args.items()))

    def choice(self, data: dict[str, Any], path: s.Path) -> ChoiceSpec:
        given = [k for k in ("content", "faker", "generate", "tool_calls", "refusal") if k in data]
        if len([k for k in given if k != "tool_calls"]) > 1:
            self.fail(path, f"give one of content, faker, generate or refusal, found {given}")
        chunks = tuple(str(c) for c in data["chunks"]) if "chunks" in data else None
        content = self.template(data["content"], (*path, "content")) if "content" in data else None
        if chunks is not None and content is not None and "".join(chunks) != content.source:
            self.fail(
                (*path, "chunks"),
                "the chunks must join to the content exactly (or leave content out)",
            )
        if chunks is not None and content is None:
            content = Template("".join(chunks), ("".join(chunks),))
        calls = tuple(
            ToolCallSpec(
                name=str(call["name"]),
                arguments=self.arguments(
                    call.get("arguments", {}), (*path, "tool_calls", i, "arguments")
                ),
                id=call.get("id"),
                generate=call.get("generate") == "from_schema",
            )
            for i, call in enumerate(data.get("tool_calls", ()))
        )
        return ChoiceSpec(
            content=content,
            faker=self.faker(data["faker"], (*path, "faker")) if "faker" in data else None,
            generate=data.get("generate"),
            chunks=chunks,
            tool_calls=calls,
            refusal=data.get("refusal"),
            finish_reason=data.get("finish_reason"),
            logprobs=data.get("logprobs"),
            reasoning=(
                self.template(data["reasoning"], (*path, "reasoning"))
                if "reasoning" in data
                else None
            ),
        )

    def reply(self, data: dict[str, Any], path: s.Path, defaults: dict[str, Any]) -> Reply:
        if "choices" in data:
            extra = [k for k in CHOICE_FIELDS if k in data]
            if extra:
                self.fail(path, f"give either choices or {', '.join(extra)}, not both")
            choices = tuple(
                self.choice(c, (*path, "choices", i)) for i, c in enumerate(data["choices"])
            )
        else:
            choices = (self.choice(data, path),)
        headers = {**defaults.get("headers", {}), **data.get("headers", {})}
        fault_data = data.get("fault", defaults.get("fault"))
        return Reply(
            choices=choices,
            error=self.error(data["error"]) if "error" in data else None,
            latency=self.latency(data.get("latency")).over(self.latency(defaults.get("latency"))),
            fault=self.fault(fault_data),
            headers=tuple((str(k), str(v)) for k, v in headers.items()),
            usage=tuple(data.get("usage", {}).items()),
            model=data.get("model"),
        )

    def replay_only(self, data: dict[str, Any], path: s.Path) -> None:
        """A rule matching `cassette` changes a replay: its replies hold fault and latency."""
        replies: list[tuple[str | tuple[str, int], Any]] = (
            [("reply", data["reply"])] if "reply" in data else []
        )
        replies += [(("sequence", j), r) for j, r in enumerate(data.get("sequence") or [])]
        for where, reply in replies:
            extra = [k for k in reply if k not in ("fault", "latency")]
            if extra:
                at = (*path, *(where if isinstance(where, tuple) else (where,)), extra[0])
                self.fail(
                    at,
                    "a rule that matches 'cassette' changes how a recorded interaction is"
                    f" replayed: only fault and latency apply; found {', '.join(extra)}",
                )

    def for_families(self, data: dict[str, Any], path: s.Path, api: Any) -> None:
        """A rule kept to some API families (`api: embeddings`) gives only what their
        answers can carry: a key none of them has would be dropped without a word."""
        families = [api] if isinstance(api, str) else list(api)
        unfit = set(CHOICE_FIELDS)
        for family in families:
            unfit &= _NOT_IN_ANSWERS.get(family, set())
        why = _WHY_NOT.get(families[0], "") if len(families) == 1 else "none of them has it"
        one_choice = all(family in _ONE_CHOICE for family in families)
        replies: list[tuple[s.Path, Any]] = (
            [((*path, "reply"), data["reply"])] if ("reply" in data) else []
        )
        replies += [((*path, "sequence", j), r) for j, r in enumerate(data.get("sequence") or [])]
        for at, reply in replies:
            for key in (k for k in reply if k in unfit or k == "choices" and "content" in unfit):
                self.fail(
                    (*at, key),
                    f"'{key}' has no place in an answer of api {', '.join(families)}: {why}",
                )
            if families == ["messages"]:
                self.tool_use_ids(reply, at)
            if one_choice and "content" not in unfit and len(reply.get("choices") or ()) > 1:
                self.fail(
                    (*at, "choices", 1),
                    f"api {', '.join(families)} answers one choice (a request has no `n`):"
                    " only the first of these is ever sent",
                )

    def tool_use_ids(self, reply: dict[str, Any], at: s.Path) -> None:
        """The ids of a Messages API answer's tool_use blocks are the API's kind: the
        client sends them back, and a request with another kind is refused."""
        choices = [((*at, "choices", k), c) for k, c in enumerate(reply.get("choices") or ())]
        for where, choice in [(at, reply), *choices]:
            for j, call in enumerate(choice.get("tool_calls") or ()):
                if "id" in call and not _TOOL_USE_ID.fullmatch(str(call["id"])):
                    self.fail(
                        (*where, "tool_calls", j, "id"),
                        f"'{call['id']}' is no tool_use id of the Messages API (letters,"
                        " digits, _ and - only): the client's next request sends it back,"
                        ' and is refused with "String should match pattern'
                        " '^[a-zA-Z0-9_-]+$'\"",
                    )

    def rule(self, data: dict[str, Any], i: int, defaults: dict[str, Any]) -> Rule | None:
        path: s.Path = ("rules", i)
        has_reply, has_sequence = "reply" in data, "sequence" in data
        if has_reply == has_sequence:
            self.fail(path, "a rule needs exactly one of 'reply' or 'sequence'")
            return None
        if "then" in data and not has_sequence:
            self.fail((*path, "then"), "'then' applies to a 'sequence' only")
        match = {**defaults.get("match", {}), **data.get("match", {})}
        conditions = self.conditions(match, (*path, "match"))
        if "cassette" in match:
            self.replay_only(data, path)
        if "api" in match:
            self.for_families(data, path, match["api"])
        replies: tuple[Reply, ...]
        if has_reply:
            replies = (self.reply(data["reply"], (*path, "reply"), defaults),)
        else:
            replies = tuple(
                self.reply(r, (*path, "sequence", j), defaults)
                for j, r in enumerate(data["sequence"])
            )
        models = tuple(
            c.arg.value for c in conditions if c.key == "model" and c.arg.kind == "exact"
        )
        model = None
        if "latency_model" in data or "latency_model" in defaults:
            where = (*path, "latency_model") if "latency_model" in data else ("defaults",)
            model = self.latency_model(
                data.get("latency_model", defaults.get("latency_model")), where
            )
        if model is not None and model.name != NO_MODEL.name:
            base = model.base_latency  # the model's pace where the replies leave it unset
            replies = tuple(replace(r, latency=r.latency.over(base)) for r in replies)
        when = data.get("when") or {}
        return Rule(
            name=str(data.get("name") or f"rule-{i + 1}"),
            conditions=tuple(conditions),
            replies=replies,
            file=self.lines.source,
            line=self.lines.line(path),
            priority=int(data.get("priority", defaults.get("priority", 0))),
            order=self.order_base + i,
            is_sequence=has_sequence,
            then=data.get("then", "repeat_last"),
            sequence_scope=data.get("sequence_scope", "global"),
            probability=when.get("probability"),
            models=models,
            latency_model=model,
        )


def load_text(text: str, source: str = "<rules>", order_base: int = 0) -> tuple[Rule, ...]:
    """Rules from one scenario document; raise ScenarioError listing every problem."""
    data, lines = parse_document(text, source)
    if data is None:
        raise ScenarioError([Problem(source, None, "", "empty document: expected 'rules'")])
    broken: set[int] = set()  # rules with shape problems are not compiled
    has_rules, has_defaults = True, True
    for path, message in s.check(FORMAT, data):
        lines.problems.append(Problem(source, lines.line(path), s.dotted(path), message))
        if path[:1] == ("rules",) and len(path) >= 2:
            broken.add(int(path[1]))
        elif path[:1] == ("defaults",):
            has_defaults = False  # the rules are still checked, without them
        elif path in ((), ("rules",)):
            has_rules = False  # not a mapping, or no list of rules: nothing more to check
    if not has_rules:
        raise ScenarioError(lines.problems)
    compiler = _Compiler(lines, order_base)
    defaults = (data.get("defaults") or {}) if has_defaults else {}
    rules = [
        None if i in broken else compiler.rule(r, i, defaults) for i, r in enumerate(data["rules"])
    ]
    names: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule is not None and rule.name in names:
            compiler.fail(
                ("rules", i, "name"), f"duplicate rule name (also rules[{names[rule.name]}])"
            )
        elif rule is not None:
            names[rule.name] = i
    if compiler.problems:
        raise ScenarioError(compiler.problems)
    return tuple(r for r in rules if r is not None)


NO_MODEL = LatencyModel(name="none")  # `latency_model: none`: no model, whatever the server's


def compile_latency_model(value: Any) -> LatencyModel:
    """A checked `latency_model` value (a preset name or a mapping) → LatencyModel;
    ConfigError naming an unknown preset."""
    from mockllm.presets import NONE, PRESETS, preset_names

    data = {"preset": value} if isinstance(value, str) else dict(value)
    name = data.pop("preset", None)
    if name is None:
        base = LatencyModel()
    elif name == NONE:
        if data:
            raise ConfigError(f"preset 'none' takes no other keys, found {sorted(data)}")
        return NO_MODEL
    elif name in PRESETS:
        base = PRESETS[name].model
    else:
        close = difflib.get_close_matches(str(name), preset_names(), 1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            f"unknown latency model preset {name!r}; {hint}valid: {', '.join(preset_names())}"
        )
    if not data:
        return base
    fields: dict[str, Any] = dict(data)
    return replace(base, name=base.name if name else "custom", **fields)


def load_latency_model(spec: str) -> LatencyModel | None:
    """`--latency-model`: a preset name, `none` (None), or a YAML file of the same keys as
    a scenario's `latency_model`. ScenarioError for a file that does not validate,
    ConfigError for a name that is neither a preset nor a file."""
    from mockllm.presets import NONE, PRESETS

    if spec == NONE:
        return None
    if spec in PRESETS:
        return PRESETS[spec].model
    path = Path(spec)
    if not path.is_file():
        try:
            compile_latency_model(spec)
        except ConfigError as exc:
            raise ConfigError(f"--latency-model: {exc}; or a file (no file {spec!r})") from None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--latency-model: cannot read {spec}: {exc}") from None
    data, lines = parse_document(text, spec)
    spec_obj = s.Obj(LATENCY_MODEL_FIELDS)
    problems = [
        Problem(spec, lines.line(where), s.dotted(where), message)
        for where, message in s.check(spec_obj, data)
    ]
    if problems:
        raise ScenarioError(problems)
    try:
        model = compile_latency_model(data)
    except ConfigError as exc:
        raise ScenarioError([Problem(spec, lines.line(("preset",)), "preset", str(exc))]) from None
    return None if model == NO_MODEL else model


def is_hidden(path: Path, folder: Path) -> bool:
    """Whether ``path`` is hidden inside ``folder``: a name on the way starts with a dot (an
    editor's lock or backup file such as ``.#a.yaml``, a ``.git`` folder)."""
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    """The scenario files named: files as given, folders searched for *.yaml/*.yml in name
    order, hidden ones left out (`is_hidden`); a file named twice (itself and through its
    folder, or two spellings of one path) once, where it first came."""
    return [file for file, _ in _named_files(paths)]


def _named_files(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """`scenario_files`, each with the name its rules' refs give it: the path inside the
    folder it was found in (``sub/x.yaml``), which for a file given itself or at the top of
    its folder is its own name."""
    files: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for path in paths:
        found = (
            sorted(
                (p, p.relative_to(path).as_posix())
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml") and not is_hidden(p, path)
            )
            if path.is_dir()
            else [(path, path.name)]
        )
        for file, name in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append((file, name))
    return files


def read_text(path: Path, max_bytes: int | None = None) -> str:
    """The UTF-8 text of a YAML file; OSError as open() raises it, or ScenarioError naming
    the line of the first byte that is not UTF-8, or saying that the file is no regular
    file or (with `max_bytes`) is larger than that."""
    # A pipe (or a link to a device: /dev/zero) named x.yaml would be read for ever: its
    # open() waits for a writer, its read() for an end.
    if not stat.S_ISREG(path.stat().st_mode):
        raise ScenarioError(
            [Problem(str(path), None, "", "not a regular file (a pipe, a device, a socket)")]
        )
    with path.open("rb") as file:
        data = file.read() if max_bytes is None else file.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ScenarioError([Problem(str(path), None, "", f"file over {max_bytes} bytes")])
    return decode_text(data, str(path))


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 bytes → text; ScenarioError naming the line of the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(
            [Problem(source, line, "", f"not UTF-8 text: byte {data[exc.start]:#04x}")]
        ) from None


def load_scenarios(paths: Iterable[Path]) -> tuple[Rule, ...]:
    """Rules from files and folders; raise ScenarioError listing every problem in every file."""
    rules: list[Rule] = []
    problems: list[Problem] = []
    for path, name in _named_files(paths):
        try:
            text = read_text(path, MAX_FILE_BYTES)
        except FileNotFoundError:
            problems.append(Problem(str(path), None, "", "no such file or folder"))
            continue
        except OSError as exc:
            problems.append(Problem(str(path), None, "", f"cannot read: {exc.strerror}"))
            continue
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        try:
            loaded = load_text(text, str(path), order_base=len(rules))
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        if name != path.name:  # in a subfolder: the ref says which, as two may share a name
            loaded = tuple(replace(rule, ref_file=name) for rule in loaded)
        rules.extend(loaded)
    if problems:
        raise ScenarioError(problems)
    return tuple(rules)


def mark_runtime(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """The same rules, flagged as added at run time (through `runtime.Runtime`)."""
    return tuple(replace(r, added_at_runtime=True) for r in rules)


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files."""
    return s.json_schema(FORMAT, "mockllm scenario")
