"""The scenario model: rules, their match conditions and replies, as frozen data.

`loader.py` builds these from YAML; `selector.py` and `render.py` read them.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from mockllm.frozen import quick_init

FINISH_REASONS: tuple[str, ...] = (
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "function_call",
)
PatternKind = Literal["exact", "contains", "regex", "glob", "any", "equals"]
Then = Literal["repeat_last", "cycle", "fall_through"]
SequenceScope = Literal["global", "api_key", "conversation"]


@quick_init
@dataclass(frozen=True, slots=True)
class TextPattern:
    """A compiled text pattern: exact, contains, regex, glob, or any of several."""

    kind: PatternKind
    value: Any
    regex: Any = None  # re.Pattern (globs) or regexes.SafeRegex: has .search(text)
    options: tuple[TextPattern, ...] = ()
    ignore_case: bool = False

    def test(self, text: object) -> bool:
        if self.kind == "any":
            return any(option.test(text) for option in self.options)
        if self.kind == "equals":  # true is not 1, nor false 0 (Python says they are)
            return isinstance(text, bool) is isinstance(self.value, bool) and text == self.value
        if not isinstance(text, str):
            if text is None or isinstance(text, dict | list):
                return False
            text = str(text).lower() if isinstance(text, bool) else str(text)
        if self.ignore_case:
            text = text.lower()
        if self.kind == "exact":
            return bool(text == self.value)
        if self.kind == "contains":
            return self.value in text
        assert self.regex is not None  # regex and glob kinds always carry one
        return bool(self.regex.search(text))

    def describe(self) -> str:
        if self.kind == "any":
            return " or ".join(option.describe() for option in self.options)
        if self.kind in ("exact", "equals"):
            return repr(self.value)
        return f"{self.kind} {self.value!r}"


def exact(value: str) -> TextPattern:
    return TextPattern("exact", value)


def glob(value: str, ignore_case: bool = False) -> TextPattern:
    return TextPattern("glob", value, Glob(value, ignore_case))


class Glob:
    """A shell-style glob over the whole text, in time linear in the text.

    A glob of literal parts and `*` is a prefix, a suffix and the parts between found in
    order; one with `?` or `[...]` uses `fnmatch`'s regex, anchored at the start. (Its
    regex *searched* from every position takes time quadratic in the text: a glob like
    `*refund*` stalled the server 6 s on a 40 KB prompt, and `gpt-4o*` also matched
    `my-gpt-4o`.)
    """

    __slots__ = ("pattern", "ignore_case", "_parts", "_regex")

    def __init__(self, pattern: str, ignore_case: bool = False) -> None:
        self.pattern = pattern
        self.ignore_case = ignore_case
        literal = not ignore_case and not (set(pattern) & set("?["))
        self._parts = pattern.split("*") if literal else None
        # A glob's regex (always valid: fnmatch escapes all but its own syntax) is compiled
        # when a text first needs it: at 10,000 rules, compiling them all took a fifth of
        # a second of the start.
        self._regex: re.Pattern[str] | None = None

    @property
    def literal_parts(self) -> list[str] | None:
        """The literal parts between `*`s, for a glob of nothing else; None otherwise."""
        return self._parts

    def search(self, text: str) -> bool:
        """Whether the whole text matches (named like the regexes' method it stands in for)."""
        parts = self._parts
        if parts is None:
            regex = self._regex
            if regex is None:
                flags = re.IGNORECASE if self.ignore_case else 0
                regex = self._regex = re.compile(fnmatch.translate(self.pattern), flags)
            return regex.match(text) is not None
        if len(parts) == 1:
            return text == parts[0]
        first, last = parts[0], parts[-1]
        end = len(text) - len(last)
        if end < len(first) or not text.startswith(first) or not text.endswith(last):
            return False
        position = len(first)
        for part in parts[1:-1]:
            if part:
                found = text.find(part, position, end)
                if found < 0:
                    return False
                position = found + len(part)
        return True


@quick_init
@dataclass(frozen=True, slots=True)
class Condition:
    """One condition of a match: a matcher name, its argument, and where it was written."""

    key: str
    arg: Any
    line: int | None = None
    holds: Any = None  # compiled predicate: request -> bool (see matchers.predicate)


@quick_init
@dataclass(frozen=True, slots=True)
class Latency:
    """Stream pacing. Unset fields (None) inherit from defaults."""

    ttft_ms: float | None = None
    inter_token_ms: float | None = None
    jitter_ms: float | None = None
    tokens_per_chunk: int | None = None

    def over(self, base: Latency) -> Latency:
        """These settings, falling back to `base` where unset."""
        return Latency(
            self.ttft_ms if self.ttft_ms is not None else base.ttft_ms,
            self.inter_token_ms if self.inter_token_ms is not None else base.inter_token_ms,
            self.jitter_ms if self.jitter_ms is not None else base.jitter_ms,
            self.tokens_per_chunk if self.tokens_per_chunk is not None else base.tokens_per_chunk,
        )


NO_LATENCY = Latency(0.0, 0.0, 0.0, 1)

QueueFullStatus = Literal[429, 503]


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """How a loaded model server paces its answers (docs/load.md).

    TTFT = (ttft_ms + prefill_ms_per_1k x uncached prompt tokens / 1000) x the TTFT load
    factor, plus the time queued; each gap = inter_token_ms x the load factor. A load
    factor rises linearly from 1 (one request in flight) to its value at capacity
    (`max_concurrency` in flight). `ttft_ms`, `inter_token_ms` and `jitter_ms` are used
    where a reply's `latency` does not set them.
    """

    name: str = "custom"  # the preset it came from, or "custom"
    ttft_ms: float | None = None
    inter_token_ms: float | None = None
    jitter_ms: float | None = None
    prefill_ms_per_1k: float = 0.0
    load_factor_at_capacity: float = 1.0
    ttft_load_factor_at_capacity: float | None = None  # None: load_factor_at_capacity
    max_concurrency: int | None = None  # None: no capacity, no queue, no load factor
    max_queue: int | None = None  # None: the queue is unbounded
    queue_full_status: QueueFullStatus = 429
    prefix_cache_tokens: int = 0  # 0: no prefix cache
    prefix_block_tokens: int = 16
    group: str = "model"  # in flight counted per model, per rule, or in a named group

    @property
    def base_latency(self) -> Latency:
        """The pace this model gives replies whose `latency` leaves fields unset."""
        return Latency(self.ttft_ms, self.inter_token_ms, self.jitter_ms)

    def factors(self, in_flight: int) -> tuple[float, float]:
        """(TTFT factor, gap factor) with `in_flight` requests running, this one included."""
        capacity = self.max_concurrency
        if capacity is None or capacity <= 1:
            return 1.0, 1.0
        share = (min(max(in_flight, 1), capacity) - 1) / (capacity - 1)
        gap = 1.0 + (self.load_factor_at_capacity - 1.0) * share
        at_capacity = self.ttft_load_factor_at_capacity
        if at_capacity is None:
            return gap, gap
        return 1.0 + (at_capacity - 1.0) * share, gap


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """An error reply: status and OpenAI error fields (defaults filled by status)."""

    status: int
    type: str | None = None
    code: str | int | None = None
    message: str | None = None
    param: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    null_code: bool = False  # `code: null` written: null, not the status's default code


@dataclass(frozen=True, slots=True)
class Fault:
    """A scripted failure of the transport or the stream."""

    disconnect_after_tokens: int | None = None
    hang: bool = False
    malformed_chunk_at: int | None = None
    drip_bytes_per_s: float | None = None
    reset: bool = False
    error_after_tokens: int | None = None
    empty_choices_error: bool = False
    error: ErrorSpec | None = None  # what in-band errors say

    def set_faults(self) -> tuple[tuple[str, Any], ...]:
        """(name, value) of each fault set (`error` says what they say: not one of them)."""
        out = []
        for name in (
            "disconnect_after_tokens",
            "hang",
            "malformed_chunk_at",
            "drip_bytes_per_s",
            "reset",
            "error_after_tokens",
            "empty_choices_error",
        ):
            value = getattr(self, name)
            if value is not None and value is not False:
                out.append((name, value))
        return tuple(out)

    def names(self) -> tuple[str, ...]:
        """The faults set, for logs and the journal."""
        return tuple(
            name if value is True else f"{name}={value:g}" for name, value in self.set_faults()
        )


@quick_init
@dataclass(frozen=True, slots=True)
class Template:
    """Text with `{{ expr }}` holes: literal parts and compiled expressions, alternating."""

    source: str
    parts: tuple[Any, ...] = ()  # str | template.Expr

    @property
    def is_static(self) -> bool:
        return len(self.parts) <= 1 and all(isinstance(p, str) for p in self.parts)


@dataclass(frozen=True, slots=True)
class FakerSpec:
    provider: str
    locale: str | None = None
    args: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCallSpec:
    """A scripted tool call: name and arguments (JSON data whose strings are templates)."""

    name: str
    arguments: Any = None  # dict/list/scalars with Template leaves, or a Template (raw JSON)
    id: str | None = None
    generate: bool = False  # arguments generated from the offered tool's schema


@quick_init
@dataclass(frozen=True, slots=True)
class ChoiceSpec:
    """What one choice says."""

    content: Template | None = None
    faker: FakerSpec | None = None
    generate: str | None = None  # "from_schema": content generated to the response_format
    chunks: tuple[str, ...] | None = None
    tool_calls: tuple[ToolCallSpec, ...] = ()
    refusal: str | None = None
    finish_reason: str | None = None
    logprobs: bool | None = None
    reasoning: Template | None = None  # the model's reasoning (thinking), before the answer


@quick_init
@dataclass(frozen=True, slots=True)
class Reply:
    """One response: choices, or an error; with latency, fault, headers and usage."""

    choices: tuple[ChoiceSpec, ...] = (ChoiceSpec(),)
    error: ErrorSpec | None = None
    latency: Latency = Latency()
    fault: Fault | None = None
    headers: tuple[tuple[str, str], ...] = ()
    usage: tuple[tuple[str, int], ...] = ()
    model: str | None = None
    is_default: bool = False  # generated by the default generator: nothing scripted


@quick_init
@dataclass(frozen=True, slots=True)
class Rule:
    """A match and what to answer: one reply, or a sequence of them."""

    name: str
    conditions: tuple[Condition, ...]
    replies: tuple[Reply, ...]
    file: str = "<rules>"  # the scenario file the rule was written in
    line: int | None = None
    priority: int = 0
    order: int = 0
    is_sequence: bool = False
    then: Then = "repeat_last"
    sequence_scope: SequenceScope = "global"
    probability: float | None = None
    added_at_runtime: bool = False
    models: tuple[str, ...] = field(default=())  # exact model ids named, for /v1/models
    latency_model: LatencyModel | None = None  # None: the server's (--latency-model)
    ref_file: str | None = None  # the file's path inside its scenarios folder, when deeper

    @property
    def ref(self) -> str:
        """How logs and the journal name the rule: `file.yaml#name`, or `sub/file.yaml#name`
        for a file in a subfolder of a scenarios folder."""
        stem = self.ref_file or self.file.rsplit("/", 1)[-1]
        return f"{stem}#{self.name}"
