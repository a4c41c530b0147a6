"""The one request every API family is read into: what rules match and replies render over.

Each dialect (`mockllm.dialects`) parses its own wire into a `Conversation`; past that,
the engine, the matchers and the renderer work with these frozen types only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson

from mockllm.frozen import quick_init

JSON = dict[str, Any]
Api = Literal["chat", "responses", "messages", "embeddings", "completions"]
APIS: tuple[Api, ...] = ("chat", "responses", "messages", "embeddings", "completions")


@quick_init
@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call an assistant message made earlier in the conversation."""

    id: str
    name: str
    arguments: str

    @property
    def parsed_arguments(self) -> Any:
        try:
            return orjson.loads(self.arguments)
        except orjson.JSONDecodeError:
            return {}


@quick_init
@dataclass(frozen=True, slots=True)
class Message:
    """One message of the conversation, with its content flattened to text."""

    role: str
    text: str
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    failed: bool = False  # a tool result its client marks as an error (Anthropic's is_error)


@quick_init
@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the request offers: a function, or a custom tool (`free_form`: its input is
    text, which a call carries as it is, not JSON; `parameters` the schema of that text).
    `server`: a tool the API runs itself within the turn (Anthropic's web search, …): the
    answer goes on after its call and result."""

    name: str
    description: str
    parameters: JSON
    strict: bool = False
    free_form: bool = False
    server: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """The structured output asked for: its type, and the JSON schema for `json_schema`."""

    type: str = "text"
    name: str | None = None
    schema: JSON | None = None
    strict: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class Conversation:
    """The one request every API family is read into: what rules match and replies render over."""

    model: str
    messages: tuple[Message, ...]
    body: JSON  # the request body as sent (the `body` matcher and templates read it)
    api: Api = "chat"
    path: str = "/v1/chat/completions"
    headers: Mapping[str, str] = field(default_factory=dict)
    api_key: str | None = None
    provider: str | None = None
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    max_tokens: int | None = None
    max_tokens_given: bool = True  # False when max_tokens is the server's output cap
    # vLLM's `ignore_eos` and `min_tokens`: generated text runs to max_tokens, or at least
    # min_tokens long
    ignore_eos: bool = False
    min_tokens: int = 0
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    # The custom (free-form input) tools offered that `tools` leaves out (it holds one only
    # when the tool choice forces it): a rule's call of one is written from its grammar.
    free_form_tools: tuple[Tool, ...] = ()
    # Built-in tools offered that no tool above stands for, by their type and its family
    # (the Responses API's `file_search`; `web_search_preview_2025_03_11` is also a
    # `web_search`): named so that a rule's `tools` condition can ask for them.
    builtin_tools: frozenset[str] = frozenset()
    tool_choice: str | None = None  # "none" | "auto" | "required" | a tool's name
    allowed_tools: tuple[str, ...] = ()  # an `allowed_tools` choice: only these may be called
    parallel_tool_calls: bool = True
    response_format: ResponseFormat = ResponseFormat()
    logprobs: bool = False
    top_logprobs: int = 0
    seed: int | None = None
    fallbacks: tuple[str, ...] = ()
    reasoning: bool = False  # the request asks for the model's reasoning (thinking)
    # A reasoning model's effort: it spends reasoning tokens before answering, out of sight
    # unless `reasoning` asks for them. None: the model answers without reasoning.
    reasoning_effort: str | None = None
    canonical: bytes = b""  # canonical bytes of what decides the answer: the seed source
    last_user: str = ""  # text of the last user message
    system: str = ""  # system and developer messages (instructions, system blocks), joined
    turn: int = 0  # number of user messages
    input_tokens: int | None = None  # the prompt's tokens when the dialect counts them itself
    wire: Any = None  # what the dialect keeps for writing its answer; opaque to the engine

    @property
    def raw_json(self) -> bytes:
        """The body as JSON bytes (key order kept)."""
        return orjson.dumps(self.body)

    @property
    def named_tool(self) -> str | None:
        """The tool `tool_choice` names, or None (none, auto, required or no choice)."""
        choice = self.tool_choice
        return None if choice in (None, "none", "auto", "required") else choice

    @property
    def last_tool_calls(self) -> tuple[ToolCall, ...]:
        for message in reversed(self.messages):
            if message.tool_calls:
                return message.tool_calls
        return ()

    @property
    def tool_names(self) -> frozenset[str]:
        """The names of every tool offered: functions, custom tools, built-in tools."""
        named = frozenset(t.name for t in self.tools)
        if self.free_form_tools:
            named |= {t.name for t in self.free_form_tools}
        return named | self.builtin_tools if self.builtin_tools else named

    def tool(self, name: str) -> Tool | None:
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None

    def offered_tool(self, name: str) -> Tool | None:
        """The tool of that name among those offered, a custom tool the choice leaves out
        included."""
        found = self.tool(name)
        if found is None:
            found = next((t for t in self.free_form_tools if t.name == name), None)
        return found

    def with_model(self, model: str) -> Conversation:
        """The same request sent to another model (for `fallbacks`)."""
        body = {**self.body, "model": model}
        return replace(
            self,
            model=model,
            provider=provider_of(model, self.headers),
            body=body,
            canonical=canonical_bytes(body),
        )


def summarize(messages: tuple[Message, ...], extra_system: str = "") -> tuple[str, str, int]:
    """(last user text, system text, turn) of a list of messages."""
    last_user = next((m.text for m in reversed(messages) if m.role == "user"), "")
    system = [m.text for m in messages if m.role in ("system", "developer")]
    if extra_system:
        system.insert(0, extra_system)
    return last_user, "\n".join(system), sum(1 for m in messages if m.role == "user")


def api_key_of(headers: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer`, `X-API-Key` or `api-key`."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return headers.get("x-api-key") or headers.get("api-key") or None


def provider_of(model: str, headers: Mapping[str, str]) -> str | None:
    """The provider: the `X-AI-Provider` header, else the `provider/` prefix of the model."""
    header = headers.get("x-ai-provider")
    if header:
        return header
    prefix, slash, _ = model.partition("/")
    return prefix if slash else None


# How an answer is delivered does not change it: streamed or not, and (the Responses API's
# `background`) waited for or polled for, the same request gives the same answer and ids.
_SEED_IGNORED = frozenset({"stream", "stream_options", "background"})


def canonical_bytes(body: JSON) -> bytes:
    """Canonical bytes of the fields that decide an answer (streaming or not gives the same)."""
    kept = {k: v for k, v in body.items() if k not in _SEED_IGNORED}
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)


def derive_seed(*parts: bytes | str | int) -> int:
    """A 64-bit seed from its parts, the same on every machine and process."""
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, int):
            part = str(part)
        if isinstance(part, str):
            part = part.encode()
        digest.update(part)
        digest.update(b"\x00")
    return int.from_bytes(digest.digest(), "big")
