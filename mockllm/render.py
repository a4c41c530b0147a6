"""(reply, request, seed) → Rendered: the choices' text, deltas, tool calls, usage, pace.

Pure and deterministic: every draw comes from `random.Random(seed)` (seeded when first
drawn from: `SeededLater`).
"""

from __future__ import annotations

import _random
import functools
import hashlib
import math
import random
import re
import string
from dataclasses import dataclass, replace
from typing import Any

import orjson

from mockllm.cache import Memo, per_text
from mockllm.conversation import Conversation, Tool, derive_seed
from mockllm.errors import RequestError
from mockllm.frozen import quick_init
from mockllm.languages import asked_locale, locale_of
from mockllm.lazy_fake import fake
from mockllm.prompt_json import asks_for_fence, asks_for_json, mentions_json, prompt_schema
from mockllm.react import react_answer
from mockllm.rules import NO_LATENCY, ChoiceSpec, Latency, Reply, Template, ToolCallSpec
from mockllm.schema_instances import Hint
from mockllm.selections import (
    selection_answer,
    selection_arguments,
    speaker_answer,
    sub_questions_answer,
)
from mockllm.signatures import signature_answer, trajectory_hints
from mockllm.template import compile_template
from mockllm.template import render as render_template
from mockllm.tokens import count_prompt, count_tokens, group_tokens, split_tokens
from mockllm.tool_arguments import argument_hints, call_hints
from mockllm.tool_policy import choose_tools, is_final_tool, is_output_tool, past_handoff_notice
from mockllm.tool_results import answer_hints, relayed_answer, results_answer, unavailable_answer
from mockllm.written_calls import read_written_calls

_ID_CHARS = string.ascii_letters + string.digits


DEFAULT_WORDS = 48
# Tool call ids as each family spells them (prefix, random characters): `call_…` by default.
_CALL_IDS = {"messages": ("toolu_01", 22)}
REASONING_WORDS = 32
# Reasoning tokens a reasoning model spends out of sight, by effort (drawn in this range).
HIDDEN_REASONING: dict[str, tuple[int, int]] = {
    "none": (0, 0),
    "minimal": (0, 64),
    "low": (64, 320),
    "medium": (192, 960),
    "high": (576, 2880),
    "xhigh": (1152, 5760),
    "max": (2304, 11520),
}


@quick_init
@dataclass(frozen=True, slots=True)
class RenderedToolCall:
    index: int
    id: str
    name: str
    arguments: str
    fragments: tuple[str, ...]


@quick_init
@dataclass(frozen=True, slots=True)
class RenderedChoice:
    index: int
    content: str | None
    deltas: tuple[str, ...]  # content (or refusal) stream deltas, joined = the text
    refusal: str | None
    tool_calls: tuple[RenderedToolCall, ...]
    finish_reason: str
    tokens: int  # completion tokens of this choice (reasoning included)
    logprobs: tuple[tuple[dict[str, Any], ...], ...] | None  # per delta, the tokens' logprobs
    reasoning: str | None = None  # the reasoning (thinking) before the answer
    reasoning_deltas: tuple[str, ...] = ()  # its stream deltas, joined = the reasoning
    reasoning_tokens: int = 0
    stop_sequence: str | None = None  # the stop sequence the text was cut at
    # The text comes after the calls (the API ran them within the turn and went on): ticks
    # are then reasoning, call fragments, text.
    calls_first: bool = False

    @property
    def ticks(self) -> int:
        """Stream events this choice needs after its role delta: reasoning deltas, then
        content deltas and tool-call argument fragments (in the order `calls_first` says)."""
        return (
            len(self.reasoning_deltas)
            + len(self.deltas)
            + sum(len(c.fragments) for c in self.tool_calls)
        )


@quick_init
@dataclass(frozen=True, slots=True)
class Rendered:
    """Everything needed to write a successful answer, before any timing."""

    id: str
    model: str
    choices: tuple[RenderedChoice, ...]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    offsets: tuple[float, ...]  # seconds from arrival at which tick i is due
    fingerprint: str
    provider: str | None = None  # shown in the response when the request named one
    reasoning_tokens: int = 0  # of completion_tokens, those spent on reasoning
    cached_tokens: int = 0  # of prompt_tokens, those read from a prefix cache (load.py)


_CRandom = _random.Random  # the C generator's own draws, under random.Random
# A byte to an id character (the 256 values over 62 characters: the first 8 a little more
# often, which an id does not mind).
_ID_TABLE = bytes(ord(_ID_CHARS[i % len(_ID_CHARS)]) for i in range(256))


def make_id(rng: random.Random, prefix: str, length: int) -> str:
    return prefix + rng.randbytes(length).translate(_ID_TABLE).decode("ascii")


def seed_id(seed: int, prefix: str, length: int) -> str:
    """An id made from the seed alone (the answer's own id: no random generator needed)."""
    digest = hashlib.blake2b(
        (seed & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big"), digest_size=length, person=b"mockllm-id"
    ).digest()
    return prefix + digest.translate(_ID_TABLE).decode("ascii")


def _seed_now(rng: random.Random) -> None:
    # A function, not a method: a draw that began before the first one (`choices` holds
    # the bound `random`) comes back here after the class has changed.
    seed = rng.__dict__.pop("_later", None)
    if seed is not None:
        rng.__class__ = random.Random
        random.Random.seed(rng, seed)  # also clears the gauss cache, as __init__ does


class SeededLater(random.Random):
    """`random.Random(seed)`, seeded when it is first drawn from.

    Seeding costs 5 us, and an answer scripted word for word draws nothing. The first draw
    seeds the generator and makes it a plain `random.Random`, so every draw after that runs
    at the usual speed and gives what `random.Random(seed)` would have.
    """

    __slots__ = ()

    def __init__(self, seed: int) -> None:  # no super().__init__(): that would seed now
        self.__dict__["_later"] = seed
        self.gauss_next = None  # what `gauss` reads before it draws

    def random(self) -> float:
        _seed_now(self)
        return _CRandom.random(self)

    def getrandbits(self, k: int, /) -> int:
        _seed_now(self)
        return _CRandom.getrandbits(self, k)

    def getstate(self) -> Any:
        _seed_now(self)
        return random.Random.getstate(self)

    def seed(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__.pop("_later", None)
        self.__class__ = random.Random  # type: ignore[assignment]
        random.Random.seed(self, *args, **kwargs)

    def setstate(self, state: Any) -> None:
        self.__dict__.pop("_later", None)
        self.__class__ = random.Random  # type: ignore[assignment]
        random.Random.setstate(self, state)


@functools.lru_cache(maxsize=1024)
def fingerprint(model: str) -> str:
    return "fp_" + format(derive_seed("fingerprint", model) & 0xFFFFFFFFFF, "010x")


@functools.lru_cache(maxsize=1024)
def _chunk_tokens(chunks: tuple[str, ...]) -> int:
    """Tokens in a scripted reply's fixed chunks (the same tuple every time it answers)."""
    return sum(map(count_tokens, chunks))


def prompt_tokens(request: Conversation) -> int:
    if request.input_tokens is not None:
        return request.input_tokens
    tools = [t.parameters for t in request.tools] or None
    return count_prompt((m.text for m in request.messages), tools)


def _content_for(
    spec: ChoiceSpec, request: Conversation, rng: random.Random, locale: str, words: int
) -> str | None:
    if spec.content is not None:
        return render_template(spec.content, request)
    if spec.faker is not None:
        return str(
            fake.faker_call(
                rng.getrandbits(63),
                spec.faker.locale or locale,
                spec.faker.provider,
                dict(spec.faker.args),
            )
        )
    if spec.generate == "from_schema":
        return _structured(request, rng, locale)
    return None


SCHEMA_SIZE_LIMIT = 4096  # largest minItems/minLength/minProperties generated
SCHEMA_NODES_LIMIT = 20_000
SCHEMA_DEPTH_LIMIT = 64
_SIZE_KEYS = ("minItems", "minLength", "minProperties", "minContains")


def _schema_too_big(schema: Any) -> str | None:
    """Why an instance of this schema would be too large or too deep to generate, or None
    (kept by the schema's JSON text: apps send the same schemas again and again)."""
    try:
        key = orjson.dumps(schema)
    except (orjson.JSONEncodeError, TypeError):
        return _measure_schema(schema)
    kept = _MEASURED.get(key)
    if kept is None:
        kept = (_measure_schema(schema),)
        _MEASURED.put(key, kept, len(key))
    return kept[0]


_MEASURED: Memo[bytes, tuple[str | None]] = Memo(256, max_bytes=8 << 20)


def _measure_schema(schema: Any) -> str | None:
    stack: list[tuple[Any, int]] = [(schema, 0)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > SCHEMA_NODES_LIMIT or depth > SCHEMA_DEPTH_LIMIT:
            return (
                f"the schema is over {SCHEMA_NODES_LIMIT} nodes or {SCHEMA_DEPTH_LIMIT} levels deep"
            )
        if isinstance(node, dict):
            for key in _SIZE_KEYS:
                value = node.get(key)
                if isinstance(value, int | float) and value > SCHEMA_SIZE_LIMIT:
                    return (
                        f"'{key}' is {value:g}; mockllm generates at most {SCHEMA_SIZE_LIMIT} "
                        "items, characters or properties"
                    )
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return None


def _instance(
    schema: dict[str, Any],
    seed: int,
    locale: str,
    param: str,
    hints: dict[str, Hint] | None = None,
) -> Any:
    problem = _schema_too_big(schema)
    if problem is None:
        try:
            value = fake.instance_from_schema(schema, seed, locale, hints)
            orjson.dumps(value)  # numbers past 64 bits cannot be sent
            return value
        except (
            ValueError,
            TypeError,
            OverflowError,
            RecursionError,
            orjson.JSONEncodeError,
        ) as exc:
            problem = str(exc) or type(exc).__name__
    raise RequestError(400, f"Invalid schema in '{param}': {problem}", param=param)


_CHAT_SCHEMA = "response_format.json_schema.schema"
_SCHEMA_PARAM = {"responses": "text.format.schema", "messages": "output_config.format.schema"}


def _calls_finish(request: Conversation) -> str:
    """The finish reason of an answer with tool calls: `tool_calls`, but `stop` on chat when
    `tool_choice` names the function (the API's own behaviour, measured in
    github.com/vllm-project/vllm pull 25054, streamed or not)."""
    return "stop" if request.named_tool is not None and request.api == "chat" else "tool_calls"


PLAIN_JSON = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["answer"],
}


def _structured(request: Conversation, rng: random.Random, locale: str) -> str:
    """JSON for a JSON response format: an instance of its schema; in JSON mode, of the
    schema (or example) the prompt carries, else a plausible object."""
    form = request.response_format
    if form.type == "json_schema" and form.schema is not None:
        value = _instance(
            form.schema,
            rng.getrandbits(63),
            locale,
            _SCHEMA_PARAM.get(request.api, _CHAT_SCHEMA),
            _stated(request, form.schema, locale, form.name or "answer"),
        )
    else:
        value = _from_prompt(request, rng, locale)
    return orjson.dumps(value).decode()


def _stated(
    request: Conversation, schema: dict[str, Any], locale: str, name: str = "answer"
) -> dict[str, Hint]:
    """What the conversation states, where an answer's schema asks for it (an extraction's
    numbers, person, place, address), as a tool's arguments take it; and the answer the
    tools' results give, for its answer property."""
    hints = argument_hints(request, Tool(name, "", schema))
    hints |= answer_hints(request, schema, locale, any_required=False)
    hints |= trajectory_hints(request, schema, locale)
    return hints


def _from_prompt(request: Conversation, rng: random.Random, locale: str) -> Any:
    seed = rng.getrandbits(63)
    schema = prompt_schema(request)
    if schema is not None and _schema_too_big(schema) is None:
        try:
            value = fake.instance_from_schema(
                schema, seed, locale, _stated(request, schema, locale)
            )
            orjson.dumps(value)
            return value
        except (ValueError, TypeError, OverflowError, RecursionError, orjson.JSONEncodeError):
            pass  # a schema the generator cannot serve: plausible JSON instead
    return fake.instance_from_schema(PLAIN_JSON, seed, locale)


_DONE = r"(?:complete|completed|done|finished|over|addressed|satisfied)\b"
_WORD = r"[\"'`]?([A-Z][A-Z_]{2,})[\"'`]?"
_DONE_WORD = re.compile(
    # "Reply with TERMINATE when the task has been completed." (AutoGen's agents), "Respond
    # with 'APPROVE' to when your feedbacks are addressed." (its critic in RoundRobinGroupChat)
    rf"\b(?:reply|respond|answer|say|end|finish)\s+(?:only\s+)?with\s+{_WORD}"
    r"\s+(?:to\s+)?(?:when|once|if|after)"
    # "Use TERMINATE when the travel planning is complete." (its Swarm's agents)
    rf"|\buse\s+{_WORD}\s+(?:when|once|after)\b[^.\n]{{0,80}}?{_DONE}"
    # "When all tasks are complete, summarize the findings and end with "TERMINATE"." (its
    # SelectorGroupChat's planner)
    rf"|\b(?:when|once|after)\b[^.\n]{{0,80}}?{_DONE}[^.\n]{{0,80}}?"
    rf"\b(?:reply|respond|answer|end|finish)\s+(?:\w+\s+){{0,2}}?with\s+{_WORD}",
    re.IGNORECASE,
)


_FORMATS = frozenset(
    ("JSON", "XML", "YAML", "CSV", "HTML", "SQL", "TOML")
)  # "Respond with JSON when…"


def _with_done_word(text: str, request: Conversation) -> str:
    """A text answer ending with the word a system prompt says to say when the task is done
    ("Reply with TERMINATE when the task has been completed.", AutoGen's agents; "Respond
    with APPROVE when satisfied"), so that loops waiting for it end."""
    if not request.system or text.lstrip().startswith(("{", "[", "```", "Thought:")):
        return text  # JSON and ReAct steps are read by a parser: left as they are
    word = _done_word(request.system)
    return text if word is None else f"{text}\n\n{word}"


@per_text
def _done_word(system: str) -> str | None:
    """The word the system prompt says to say when the task is done, or None."""
    for found in _DONE_WORD.finditer(system):
        word = next(w for w in found.groups() if w is not None)
        if word.isupper() and word not in _FORMATS:
            return word
    return None


def _prompted_json(request: Conversation, rng: random.Random, locale: str) -> str | None:
    """The JSON a prompt asks for without a JSON response format (instructor's MD_JSON,
    LangChain's output parsers): fenced when it asks for a code block; None when it does
    not ask for JSON."""
    fenced = asks_for_fence(request)
    if not fenced and not (
        mentions_json(request) and (prompt_schema(request) is not None or asks_for_json(request))
    ):
        return None
    text = orjson.dumps(_from_prompt(request, rng, locale), option=orjson.OPT_INDENT_2).decode()
    return f"```json\n{text}\n```" if fenced else text


def free_form_tool(name: str, description: str, grammar: tuple[str, str] | None) -> Tool:
    """A custom tool as the default generator calls it: its input a string, matching the
    tool's grammar when that is a regular expression (`("regex", definition)`) Python can
    read; any text for a Lark grammar, which is not generated."""
    schema: dict[str, Any] = {"type": "string"}
    if grammar is not None and grammar[0] == "regex":
        pattern = _python_regex(grammar[1])
        if pattern is not None:
            schema["pattern"] = pattern
    return Tool(name, description, schema, free_form=True)


def called_custom(
    custom: tuple[Tool, ...], tools: tuple[Tool, ...], choice: str | None, allowed: tuple[str, ...]
) -> tuple[Tool, ...]:
    """The custom tools the default generator may call: the one the tool choice names, or,
    when a call is required and no function tool may make it, those the choice allows (every
    one offered when it names none). Otherwise none: it calls a function, or answers in text,
    rather than write an input it cannot know the sense of (a patch in Codex's grammar)."""
    functions = {t.name for t in tools}
    if choice == "required":
        if allowed:
            if functions & set(allowed):
                return ()
            return tuple(t for t in custom if t.name in allowed)
        return () if tools else custom
    if choice in (None, "none", "auto") or choice in functions:
        return ()
    return tuple(t for t in custom if t.name == choice)


# The grammar's regular expressions are RE2's: what Python's `re` spells another way.
_POSIX_CLASSES = {
    "[:alpha:]": "a-zA-Z", "[:digit:]": "0-9", "[:alnum:]": "a-zA-Z0-9", "[:upper:]": "A-Z",
    "[:lower:]": "a-z", "[:space:]": r"\s", "[:word:]": r"\w", "[:xdigit:]": "0-9A-Fa-f",
    "[:punct:]": r"!-/:-@\[-`{-~",
}  # fmt: skip
_POSIX_CLASS = re.compile("|".join(re.escape(c) for c in _POSIX_CLASSES))
_END_OF_TEXT = re.compile(r"(?<!\\)((?:\\\\)*)\\z")  # RE2's \z, Python's \Z
_LEADING_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


def _python_regex(definition: str) -> str | None:
    """An RE2 pattern as Python's `re` reads it, anchored to the whole input (as a grammar
    constrains all of it); None when `re` cannot read it (`\\p{L}`)."""
    pattern = _POSIX_CLASS.sub(lambda m: _POSIX_CLASSES[m.group()], definition)
    pattern = _END_OF_TEXT.sub(r"\1\\Z", pattern)
    flags = _LEADING_FLAGS.match(pattern)
    head = flags.group() if flags else ""
    whole = f"{head}^(?:{pattern[len(head) :]})$"
    try:
        re.compile(whole)
    except (re.error, RecursionError, OverflowError):
        return None
    return whole


def _arguments(
    spec: ToolCallSpec,
    request: Conversation,
    rng: random.Random,
    locale: str,
    default: bool,
    nth: int = 0,
) -> str:
    """A call's arguments: scripted, or generated (`nth`: how many calls to the same tool
    come before it in the answer, each of which asks for another place the message lists)."""
    if spec.generate or spec.arguments is None:
        tool = request.offered_tool(spec.name)
        selected = selection_arguments(request, tool) if default and tool is not None else None
        if selected is not None:  # a selector's choice (LlamaIndex's PydanticSingleSelector)
            return orjson.dumps(selected).decode()
        schema = tool.parameters if tool else {"type": "object", "properties": {}}
        index = request.tools.index(tool) if tool in request.tools else 0
        hints = call_hints(request, tool, nth) if default and tool is not None else None
        if hints is not None and tool is not None and (is_final_tool(tool) or is_output_tool(tool)):
            hints = {**hints, **answer_hints(request, schema, locale)}
        value = _instance(
            schema, rng.getrandbits(63), locale, f"tools[{index}].function.parameters", hints
        )
        if tool is not None and tool.free_form and isinstance(value, str):
            return value  # a custom tool's input is the text itself
        return orjson.dumps(value).decode()
    if isinstance(spec.arguments, Template):
        return render_template(spec.arguments, request)
    return orjson.dumps(_fill(spec.arguments, request)).decode()


def _fill(value: Any, request: Conversation) -> Any:
    if isinstance(value, Template):
        return render_template(value, request)
    if isinstance(value, dict):
        return {k: _fill(v, request) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, request) for v in value]
    return value


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, str | None]:
    """The text up to the first stop sequence in it, and that sequence (None: no cut)."""
    found = [(i, s) for s in stops if (i := text.find(s)) >= 0]
    if not found:
        return text, None
    cut, stop = min(found, key=lambda item: item[0])
    return text[:cut], stop


def _reasoning(
    spec: ChoiceSpec,
    request: Conversation,
    rng: random.Random,
    locale: str,
    per_chunk: int,
) -> tuple[str | None, tuple[str, ...], int]:
    """(text, stream deltas, tokens) of the reasoning before the answer: scripted, or
    generated when the request asks a model for its reasoning and none is scripted."""
    if spec.reasoning is not None:
        text = render_template(spec.reasoning, request)
    elif request.reasoning:
        # A model asked to think does, whether or not the reply scripts its thoughts.
        text = fake.fake_text(rng.getrandbits(63), locale, REASONING_WORDS)
    else:
        return None, (), 0
    chunks = tuple(group_tokens(split_tokens(text), per_chunk)) if text else ()
    return text, chunks, sum(map(count_tokens, chunks))


def _truncate_chunks(chunks: list[str], limit: int) -> tuple[list[str], int, bool]:
    """Keep chunks until `limit` tokens; cut the chunk that crosses it."""
    out: list[str] = []
    used = 0
    for chunk in chunks:
        tokens = split_tokens(chunk)
        if used + len(tokens) > limit:
            rest = "".join(tokens[: limit - used])
            if rest:
                out.append(rest)
            return out, limit, True
        out.append(chunk)
        used += len(tokens)
    return out, used, False


def _truncate_calls(calls: list[RenderedToolCall], limit: int) -> list[RenderedToolCall]:
    """Cut tool-call arguments after `limit` fragments, as a model stopped by max_tokens."""
    out: list[RenderedToolCall] = []
    left = limit
    for call in calls:
        if left <= 0:
            break
        fragments = call.fragments[:left]
        left -= len(fragments)
        out.append(RenderedToolCall(call.index, call.id, call.name, "".join(fragments), fragments))
    return out


def _logprobs(
    deltas: list[str], rng: random.Random, top: int
) -> tuple[tuple[dict[str, Any], ...], ...]:
    out = []
    for delta in deltas:
        entries = []
        for token in split_tokens(delta):
            logprob = -round(rng.expovariate(4.0), 6)
            alternatives = []
            # The alternatives share what the token leaves of the probability, each less
            # likely than the one before: the top logprobs of a position sum to at most 1.
            chance = math.exp(logprob)
            left = max(1.0 - chance, 1e-9)
            for alt in _alternatives(token, rng, top):
                chance = min(left, chance) * rng.uniform(0.2, 0.8)
                left -= chance
                alternatives.append(
                    {
                        "token": alt,
                        "logprob": round(math.log(chance), 6),
                        "bytes": list(alt.encode()),
                    }
                )
            entries.append(
                {
                    "token": token,
                    "logprob": logprob,
                    "bytes": list(token.encode()),
                    "top_logprobs": [
                        {"token": token, "logprob": logprob, "bytes": list(token.encode())},
                        *alternatives,
                    ][:top],
                }
            )
        out.append(tuple(entries))
    return tuple(out)


_ALTERNATIVES = (
    "the",
    "a",
    "it",
    "this",
    "and",
    "to",
    "of",
    "in",
    "is",
    "that",
    "we",
    "you",
    "for",
    "on",
    "with",
    "as",
    "at",
    "by",
    "from",
    "or",
    "an",
    "be",
    "not",
    "are",
    "so",
    "if",
)


def _alternatives(token: str, rng: random.Random, count: int) -> list[str]:
    lead = " " if token.startswith(" ") else ""
    words = [lead + w for w in _ALTERNATIVES if lead + w != token]
    return rng.sample(words, min(count, len(words)))


def _hidden_reasoning(request: Conversation, seed: int, limit: int | None) -> int:
    """Reasoning tokens a reasoning model spends out of sight (none when it does not reason),
    at most half of `limit`, so that an answer is left."""
    effort = request.reasoning_effort
    if effort is None:
        return 0
    low, high = HIDDEN_REASONING.get(effort, HIDDEN_REASONING["medium"])
    spent = random.Random(seed).randint(low, high)
    return min(spent, limit // 2) if limit is not None else spent


def _choice(
    spec: ChoiceSpec,
    index: int,
    request: Conversation,
    rng: random.Random,
    latency: Latency,
    default: bool,
    locale: str | None,
    stop_after: int | None = None,
    policy_seed: int = 0,
) -> RenderedChoice:
    if locale is None and (
        default
        or spec.reasoning is not None
        or request.reasoning
        or spec.faker
        or spec.generate
        or any(c.generate or c.arguments is None for c in spec.tool_calls)
    ):
        # The language the prompt asks the answer to be in, else the one it is written in.
        locale = asked_locale(request.system, request.last_user) or locale_of(request.last_user)
    locale = locale or "en_US"
    limit = request.max_tokens
    hidden = 0
    if default:
        hidden = _hidden_reasoning(request, derive_seed(policy_seed, "reasoning", index), limit)
    if hidden and limit is not None:
        limit -= hidden  # reasoning counts against max_completion_tokens
    words = DEFAULT_WORDS if limit is None else max(1, min(DEFAULT_WORDS, int(limit * 0.75) + 2))
    if request.ignore_eos and request.max_tokens_given and limit is not None:
        words = limit + 1  # vLLM's ignore_eos: cut by max_tokens (a word is a token or more)
    words = max(words, request.min_tokens)
    if stop_after is not None:  # cut what was generated; generate no less
        hidden = min(hidden, stop_after)  # the reasoning comes first, and counts too
        left = stop_after - hidden
        limit = left if limit is None else min(limit, left)
    if request.api == "completions" and (spec.tool_calls or spec.reasoning is not None):
        # The legacy Completions API has no form for tool calls or reasoning: the text
        # said before the calls is the whole answer, and all its usage counts.
        said = spec.content is not None or spec.faker is not None or spec.generate is not None
        content = spec.content if said else _NOTHING_SAID
        spec = replace(spec, tool_calls=(), reasoning=None, content=content)
    if not request.parallel_tool_calls and len(spec.tool_calls) > 1:
        spec = replace(spec, tool_calls=spec.tool_calls[:1])  # the request asked for one call
    calls_spec = spec.tool_calls
    if default:
        calls_spec = _default_tool_calls(request, policy_seed)
    # Tools the API runs within the turn, and then answers: the text comes after them.
    calls_first = _server_only(calls_spec, request)
    text = None
    if calls_first and default:
        # This server runs none of them: the answer that follows says they could not run.
        text = unavailable_answer([call.name for call in calls_spec], locale)
    elif not calls_spec or not default:
        # With calls, a rule's text is what it says before them ("I'll check the weather."),
        # or after them when they are all the API's own; the default generator's calls
        # come alone.
        text = _content_for(spec, request, rng, locale, words)
    if not calls_spec and text is None and (default or spec.refusal is None):
        if request.response_format.type == "json_object" and default:
            text = signature_answer(request, rng, locale) or _structured(request, rng, locale)
        elif request.response_format.type in ("json_object", "json_schema"):
            text = _structured(request, rng, locale)
        elif default:
            text = (
                signature_answer(request, rng, locale)
                or selection_answer(request)
                or speaker_answer(request)
                or sub_questions_answer(request)
                or react_answer(request, rng, locale)
                or _prompted_json(request, rng, locale)  # JSON asked for, results or not
                or relayed_answer(request)
                or results_answer(request, locale)
                or fake.fake_text(rng.getrandbits(63), locale, words)
            )
            text = _with_done_word(text, request)
        if text is None:
            text = fake.fake_text(rng.getrandbits(63), locale, words)
    finish = spec.finish_reason
    refusal = spec.refusal
    per_chunk = latency.tokens_per_chunk or 1
    reasoning, reasoning_deltas, reasoning_tokens = _reasoning(
        spec, request, rng, locale, per_chunk
    )
    if limit is not None and reasoning_tokens:
        # The reasoning counts against the limit too (it is output): the answer gets what it
        # leaves, and reasoning past the limit is cut there, with no answer after it. The
        # text was generated first, as before, so an answer the limit does not reach is the
        # same.
        if reasoning_tokens >= limit:
            cut, reasoning_tokens, _ = _truncate_chunks(list(reasoning_deltas), limit)
            reasoning, reasoning_deltas = "".join(cut), tuple(cut)
        limit -= reasoning_tokens
    reasoning_tokens += hidden
    calls: list[RenderedToolCall] = []
    call_tokens = 0
    for i, call in enumerate(calls_spec):
        nth = sum(1 for earlier in calls_spec[:i] if earlier.name == call.name)
        arguments = _arguments(call, request, rng, locale, default, nth)
        fragments = tuple(split_tokens(arguments)) or ("",)
        call_id = call.id or make_id(rng, *_CALL_IDS.get(request.api, ("call_", 24)))
        calls.append(RenderedToolCall(i, call_id, call.name, arguments, fragments))
        call_tokens += len(fragments) + count_tokens(call.name) + 3
    if calls:
        return _with_calls(
            spec,
            index,
            request,
            rng,
            text,
            calls,
            call_tokens,
            finish,
            limit,
            per_chunk,
            (reasoning, reasoning_deltas, reasoning_tokens),
            calls_first,
        )
    spoken = refusal if refusal is not None else (text or "")
    chunks_given = spec.chunks if refusal is None else None
    spoken, chunks, used, truncated, stopped = _said(
        spoken, chunks_given, request.stop, per_chunk, limit
    )
    if truncated:
        finish = "length"
    want_logprobs = (request.logprobs or bool(spec.logprobs)) and refusal is None
    return RenderedChoice(
        index=index,
        content=None if refusal is not None else spoken,
        deltas=tuple(chunks),
        refusal=spoken if refusal is not None else None,
        tool_calls=(),
        finish_reason=finish or "stop",
        tokens=used + reasoning_tokens,
        logprobs=_logprobs(chunks, rng, request.top_logprobs) if want_logprobs else None,
        reasoning=reasoning,
        reasoning_deltas=reasoning_deltas,
        reasoning_tokens=reasoning_tokens,
        stop_sequence=stopped if not truncated else None,
    )


_NOTHING_SAID = compile_template("")


def _said(
    spoken: str,
    chunks_given: tuple[str, ...] | None,
    stops: tuple[str, ...],
    per_chunk: int,
    limit: int | None,
) -> tuple[str, list[str], int, bool, str | None]:
    """The text as sent: cut before the first stop sequence, in stream deltas (the scripted
    chunks while the text is whole), cut after `limit` tokens; with its tokens, whether
    `limit` cut it, and the stop sequence it was cut at."""
    spoken, stopped = _cut_at_stop(spoken, stops)
    if chunks_given is not None and stopped is None:
        chunks = list(chunks_given)
        used = _chunk_tokens(chunks_given)
    else:
        tokens = split_tokens(spoken) if spoken else []
        chunks = group_tokens(tokens, per_chunk)
        # A token split from a text counts as one token on its own (tests/test_tokens.py).
        used = len(tokens) if per_chunk <= 1 else sum(map(count_tokens, chunks))
    truncated = False
    if limit is not None and used > limit:
        chunks, used, truncated = _truncate_chunks(chunks, limit)
        spoken = "".join(chunks)
    return spoken, chunks, used, truncated, stopped


def _with_calls(
    spec: ChoiceSpec,
    index: int,
    request: Conversation,
    rng: random.Random,
    text: str | None,
    calls: list[RenderedToolCall],
    call_tokens: int,
    finish: str | None,
    limit: int | None,
    per_chunk: int,
    thought: tuple[str | None, tuple[str, ...], int],
    calls_first: bool = False,
) -> RenderedChoice:
    """A choice that calls tools, after the text it says first, if any (a model writes
    that text before its calls: a stop sequence or `max_tokens` that ends the text ends the
    answer there, and the calls get the tokens the text leaves). `calls_first`: the text
    comes after the calls, and gets the tokens they leave."""
    said: list[str] = []
    used = 0
    stopped = None
    if calls_first:
        fragments = sum(len(c.fragments) for c in calls)
        if limit is not None and fragments > limit:
            calls, call_tokens, text = _truncate_calls(calls, limit), limit, None
            finish = "length"
        if text:
            left = None if limit is None else limit - fragments
            text, said, used, truncated, stopped = _said(
                text, spec.chunks, request.stop, per_chunk, left
            )
            if truncated or stopped is not None:
                finish = "length" if truncated else "stop"
    elif text:
        text, said, used, truncated, stopped = _said(
            text, spec.chunks, request.stop, per_chunk, limit
        )
        if truncated or stopped is not None:
            calls, call_tokens = [], 0
            finish = "length" if truncated else finish
    if calls and limit is not None and sum(len(c.fragments) for c in calls) > limit - used:
        calls, call_tokens = _truncate_calls(calls, limit - used), limit - used
        finish = "length"
    logprobs = None
    if said and (request.logprobs or spec.logprobs):
        logprobs = _logprobs(said, rng, request.top_logprobs)
    reasoning, reasoning_deltas, reasoning_tokens = thought
    return RenderedChoice(
        index,
        text or None,
        tuple(said),
        None,
        tuple(calls),
        finish or (_calls_finish(request) if calls else "stop"),
        used + call_tokens + reasoning_tokens,
        logprobs,
        reasoning,
        reasoning_deltas,
        reasoning_tokens,
        stopped,
        calls_first,
    )


def _server_only(calls: tuple[ToolCallSpec, ...], request: Conversation) -> bool:
    """Whether every call is of a tool the API runs itself (`Tool.server`)."""
    if not calls:
        return False
    server = {tool.name for tool in request.tools if tool.server}
    return bool(server) and all(call.name in server for call in calls)


def _default_tool_calls(request: Conversation, seed: int) -> tuple[ToolCallSpec, ...]:
    """The tool calls a model with no script makes (tool_policy), or none: then it answers
    in text. A custom tool (free-form input, no schema) is never called."""
    return tuple(ToolCallSpec(name, generate=True) for name in choose_tools(request, seed))


@functools.lru_cache(maxsize=1024)
def _even_offsets(ttft: float, gap: float, count: int) -> tuple[float, ...]:
    return tuple(ttft + gap * i for i in range(count))


def _offsets(ticks: int, latency: Latency, rng: random.Random) -> tuple[float, ...]:
    ttft = (latency.ttft_ms or 0.0) / 1000
    gap = (latency.inter_token_ms or 0.0) / 1000
    jitter = (latency.jitter_ms or 0.0) / 1000
    count = max(ticks, 1)
    if not jitter:
        return _even_offsets(ttft, gap, count)
    offsets = []
    due = ttft
    for _ in range(count):
        offsets.append(due)
        due += max(gap + rng.uniform(-jitter, jitter), 0.0)
    return tuple(offsets)


def _is_fixed(spec: ChoiceSpec) -> bool:
    """Whether a choice's text is fixed by the script: no template that reads the request,
    nothing generated, no tool calls, no reasoning, no logprobs (so it draws nothing)."""
    fixed = _FIXED.get(id(spec))
    if fixed is None or fixed[0] is not spec:  # new, or another spec at a freed id
        content = spec.content
        is_fixed = (
            content is not None
            and content.is_static
            and spec.faker is None
            and spec.generate is None
            and not spec.tool_calls
            and spec.reasoning is None
            and not spec.logprobs
        )
        fixed = (spec, is_fixed)
        _FIXED.put(id(spec), fixed)
    return fixed[1]


def _kept_choice(
    spec: ChoiceSpec, index: int, request: Conversation, latency: Latency
) -> RenderedChoice:
    """`_choice` of a fixed spec (`_is_fixed`), for a request without logprobs, reasoning
    or a cut: what it depends on then is the spec, the index, the request's token limit
    and stop sequences, and the tokens per stream chunk."""
    key = (id(spec), index, request.max_tokens, request.stop, latency.tokens_per_chunk)
    kept = _KEPT_CHOICES.get(key)
    if kept is not None and kept[0] is spec:
        return kept[1]
    # A fixed spec draws nothing: the generator given is never used.
    choice = _choice(spec, index, request, _NO_DRAWS, latency, False, None)
    _KEPT_CHOICES.put(key, (spec, choice))
    return choice


class _NoDraws(random.Random):
    """The generator `_kept_choice` passes: a fixed spec draws nothing, and a draw would
    make the kept choice depend on the request's seed, so one is an error."""

    def random(self) -> float:
        raise AssertionError("a fixed choice drew from its random generator")

    def getrandbits(self, k: int, /) -> int:
        raise AssertionError("a fixed choice drew from its random generator")


_NO_DRAWS = _NoDraws(0)
_FIXED: Memo[int, tuple[ChoiceSpec, bool]] = Memo(4096)  # by the spec's id, with the spec
_KEPT_CHOICES: Memo[tuple[Any, ...], tuple[ChoiceSpec, RenderedChoice]] = Memo(4096)


@functools.lru_cache(maxsize=256)
def _effective(latency: Latency, default: Latency) -> Latency:
    """A reply's pacing: its own settings, else the defaults', else none."""
    return latency.over(default).over(NO_LATENCY)


def render(
    reply: Reply,
    request: Conversation,
    seed: int,
    default_latency: Latency = NO_LATENCY,
    locale: str | None = None,
    *,
    stop_after: int | None = None,
) -> Rendered:
    """Turn a reply into concrete choices for this request (`reply.error` is not rendered).

    `stop_after` stops each choice after that many completion tokens (finish_reason
    length) without changing what is generated: the same answer, cut short."""
    rng = SeededLater(seed)
    latency = _effective(reply.latency, default_latency)
    specs = reply.choices
    default = reply.is_default
    # A default answer's tool policy draws from a seed of its own (a scripted one: none).
    policy_seed = derive_seed(seed, "policy") if default else 0
    count = request.n if request.api != "embeddings" else 0  # embeddings: no choices
    # The default generator reads calls and results an agent wrote as text as what they are.
    asked = past_handoff_notice(read_written_calls(request)) if default else request
    # A choice scripted word for word is the same for every request that asks alike.
    keep = not default and stop_after is None and not request.logprobs and not request.reasoning
    choices = tuple(
        [
            _kept_choice(specs[i % len(specs)], i, request, latency)
            if keep and _is_fixed(specs[i % len(specs)])
            else _choice(
                specs[i % len(specs)],
                i,
                asked,
                rng,
                latency,
                default,
                locale,
                stop_after,
                policy_seed,
            )
            for i in range(count)
        ]
    )
    prompt = prompt_tokens(request)
    completion = sum([c.tokens for c in choices])
    if reply.usage:
        usage = dict(reply.usage)
        prompt = usage.get("prompt_tokens", prompt)
        completion = usage.get("completion_tokens", completion)
        total = usage.get("total_tokens", prompt + completion)
    else:
        total = prompt + completion
    ticks = max([c.ticks for c in choices], default=0)
    model = reply.model or request.model
    return Rendered(
        id=seed_id(seed, "chatcmpl-", 29),
        model=model,
        choices=choices,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        offsets=_offsets(ticks, latency, rng),
        fingerprint=fingerprint(model),
        provider=request.provider,
        reasoning_tokens=sum(c.reasoning_tokens for c in choices),
    )
