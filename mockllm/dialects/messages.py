"""The Anthropic Messages dialect: `POST /v1/messages` and `POST /v1/messages/count_tokens`
read into a Conversation, validated as the API validates them.

The API words its 400s as its request validator (pydantic) does: `<dotted path>:
<problem>`, e.g. `max_tokens: Field required` or `messages.1.content.0: Input tag 'foo'
found using 'type' does not match any of the expected tags: …`. Wordings found in public
reports of its errors are copied (a comment names a source); the few not found there
(an unknown forced tool) follow the same style.
The answer's wire (the `message` object, its events, errors and headers) is
`messages_answer`'s.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import orjson

from mockllm.catalogue import lookup
from mockllm.conversation import (
    JSON,
    Conversation,
    Message,
    ResponseFormat,
    Tool,
    ToolCall,
    api_key_of,
    provider_of,
    summarize,
)
from mockllm.dialects import DEFAULT_CONTEXT, Dialect, ParseContext, messages_answer
from mockllm.errors import RequestError
from mockllm.protocol import MAX_DEPTH
from mockllm.refusals import may_exceed, meta_problem, output_limit
from mockllm.render import prompt_tokens
from mockllm.strict_schema import format_problem, optional_problem
from mockllm.wire import JSON_TYPE, Body

if TYPE_CHECKING:
    from mockllm.render import Rendered
    from mockllm.rules import Fault
    from mockllm.state import StateStore

PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
MIN_THINKING_BUDGET = 1024
# The versions the `anthropic-version` header may name: the two of the versioning page
# (platform.claude.com/docs/en/api/versioning) and 2026-10-21, which the Python and TypeScript
# SDKs send since. Another date up to the newest is none (the API refuses it:
# 'anthropic-version: "2023-10-01" is not a valid version', github.com/directus-labs/extensions/
# issues/285), as is what is not a date (a header sent twice, joined: decolua/9router issue
# 2357); a later date may be a version newer than this list, and is taken.
ANTHROPIC_VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})
_NEWEST_VERSION = max(ANTHROPIC_VERSIONS)
_DATE = re.compile(r"20\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")

# Every field of a request the API (and the current SDK) knows; any other is refused as
# the API refuses it ("<field>: Extra inputs are not permitted"). `fallbacks` is the
# gateways' extension, as on chat.
_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "thinking",
        "tools",
        "tool_choice",
        "cache_control",
        "container",
        "context_management",
        "diagnostics",
        "inference_geo",
        "mcp_servers",
        "output_config",
        "output_format",
        "service_tier",
        "speed",
        "user_profile_id",
        "workspace_id",
        "thread",
        "fallbacks",
        "billing_policy",
        "compaction",
        "fallback_credit_token",
    }
)
_COUNT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "thinking",
        "tools",
        "tool_choice",
        "cache_control",
        "context_management",
        "mcp_servers",
        "output_config",
        "output_format",
        "speed",
        "user_profile_id",
        "workspace_id",
        "billing_policy",
        "compaction",
    }
)
_ROLES = ("user", "assistant")
# With one of these betas a message may have the role "system" (the SDK's
# `BetaSystemMessageParam`): text for the model from the operator, where it sits in the
# conversation. Claude Code sends it under the first (2.1.197), or under the tool-changes and
# per-turn-control ones (2.1.337, `output_config` on the message); the SDK names the others.
SYSTEM_MESSAGE_BETAS = frozenset(
    {
        "mid-conversation-system-2026-04-07",
        "mid-conversation-tool-changes-2026-07-01",
        "mid-conversation-output-config-2026-07-01",
        "mid-conversation-system-clear-at-2026-08-21",
        "per-turn-control-2026-07-01",
    }
)
_SYSTEM_MESSAGE_KEYS = ("role", "content", "clear_at", "output_config")
_SYSTEM_BLOCKS = ("text",)
# In the order of the SDK's `BetaContentBlockParam`.
_BLOCKS = (
    "text",
    "image",
    "document",
    "search_result",
    "thinking",
    "redacted_thinking",
    "tool_use",
    "tool_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "advisor_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "mcp_tool_use",
    "mcp_tool_result",
    "container_upload",
    "compaction",
    "tool_addition",
    "tool_removal",
    "mcp_tool_listing",
    "fallback",
)
_RESULT_BLOCKS = ("text", "image", "document", "search_result", "tool_reference", "browser_state")
# The fields of the blocks clients write most (the SDK's `Beta…BlockParam`, betas' fields
# included): any other is refused, as the API refuses it ("messages.65.content.1.tool_use.text:
# Extra inputs are not permitted", github.com/anthropics/claude-code/issues/4378; a thinking
# block's "messages.1.content.0.thinking.cache_control: …", router-for-me/CLIProxyAPI issue
# 512). The other blocks' fields are not checked.
_BLOCK_KEYS: dict[str, tuple[str, ...]] = {
    "text": ("type", "text", "cache_control", "citations"),
    "image": ("type", "source", "cache_control", "transformations"),
    "document": ("type", "source", "cache_control", "citations", "context", "title"),
    "search_result": ("type", "source", "title", "content", "cache_control", "citations"),
    "thinking": ("type", "thinking", "signature"),
    "redacted_thinking": ("type", "data"),
    "tool_use": ("type", "id", "name", "input", "cache_control", "caller", "toolset_name"),
    "tool_result": ("type", "tool_use_id", "content", "is_error", "cache_control", "toolset_name"),
}
# A custom tool's fields (SDK `BetaToolParam`): "tools.0.custom.defer_loading: Extra inputs are
# not permitted" (github.com/anthropics/claude-code/issues/31033) was a field of a beta the
# request did not name; these are taken with or without it.
_CUSTOM_TOOL_KEYS = (
    "type",
    "name",
    "description",
    "input_schema",
    "cache_control",
    "strict",
    "allowed_callers",
    "defer_loading",
    "eager_input_streaming",
    "input_examples",
)
_THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")
_CHOICE_TYPES = ("auto", "any", "tool", "none")
# The fields of each member of the `thinking` and `tool_choice` unions (the SDK's
# `BetaThinkingConfig…Param`, `BetaToolChoice…Param`): any other is refused under the member's
# tag, as the validator names them ("thinking.enabled.budget_tokens: Field required").
_THINKING_KEYS = {
    "enabled": ("type", "budget_tokens", "display", "block_binding"),
    "adaptive": ("type", "display", "block_binding"),
    "disabled": ("type",),
    "between_tools": ("type",),
}
_CHOICE_KEYS = {
    "auto": ("type", "disable_parallel_tool_use"),
    "any": ("type", "disable_parallel_tool_use"),
    "tool": ("type", "name", "disable_parallel_tool_use"),
    "none": ("type",),
}

# Tools Anthropic defines: client tools the model calls with `tool_use` (the client runs
# them), and server tools the API runs itself. Each has a fixed name, and the schema its
# input follows (the default generator makes an input from it when the tool is forced).
_STRING = {"type": "string"}
_EDIT: JSON = {"command": {"enum": ["view"]}, "path": _STRING}
_CLIENT_TOOLS: dict[str, tuple[str, JSON]] = {
    "bash_20241022": ("bash", {"command": _STRING}),
    "bash_20250124": ("bash", {"command": _STRING}),
    "text_editor_20241022": ("str_replace_editor", _EDIT),
    "text_editor_20250124": ("str_replace_editor", _EDIT),
    "text_editor_20250429": ("str_replace_based_edit_tool", _EDIT),
    "text_editor_20250728": ("str_replace_based_edit_tool", _EDIT),
    "computer_20241022": ("computer", {"action": {"enum": ["screenshot"]}}),
    "computer_20250124": ("computer", {"action": {"enum": ["screenshot"]}}),
    "computer_20251124": ("computer", {"action": {"enum": ["screenshot"]}}),
    "memory_20250818": ("memory", _EDIT),
}
SERVER_TOOLS: dict[str, tuple[str, JSON]] = {
    "web_search_20250305": ("web_search", {"query": _STRING}),
    "web_search_20260209": ("web_search", {"query": _STRING}),
    "web_search_20260318": ("web_search", {"query": _STRING}),
    "web_fetch_20250910": ("web_fetch", {"url": _STRING}),
    "web_fetch_20260209": ("web_fetch", {"url": _STRING}),
    "web_fetch_20260309": ("web_fetch", {"url": _STRING}),
    "web_fetch_20260318": ("web_fetch", {"url": _STRING}),
    "code_execution_20250522": ("code_execution", {"code": _STRING}),
    "code_execution_20250825": ("code_execution", {"code": _STRING}),
    "code_execution_20260120": ("code_execution", {"code": _STRING}),
    "code_execution_20260521": ("code_execution", {"code": _STRING}),
    "tool_search_tool_regex_20251119": ("tool_search_tool_regex", {"pattern": _STRING}),
    "tool_search_tool_bm25_20251119": ("tool_search_tool_bm25", {"query": _STRING}),
    # The SDK's undated spellings of the same tools (its `type` takes either).
    "tool_search_tool_regex": ("tool_search_tool_regex", {"pattern": _STRING}),
    "tool_search_tool_bm25": ("tool_search_tool_bm25", {"query": _STRING}),
    # The advisor: another model (`model`) the API asks for advice, with no input.
    "advisor_20260301": ("advisor", {}),
}
# A toolset is one `tools[]` entry, with no name, for a family of client tools (the SDK's
# `BrowserToolset20260801Param`, `ComputerToolset20260801Param`): taken, and, as a server
# tool, not called by the default generator.
_TOOLSETS = ("browser_toolset_20260801", "computer_toolset_20260801")
# An MCP server's tools (SDK `BetaMCPToolsetParam`): the API calls them itself.
_MCP_TOOLSET_KEYS = ("type", "mcp_server_name", "cache_control", "configs", "default_config")
_TOOL_TYPES = ("custom", *_CLIENT_TOOLS, *SERVER_TOOLS, *_TOOLSETS, "mcp_toolset")


@dataclass(frozen=True, slots=True)
class Wire:
    """What the Messages dialect keeps of a request for writing its answer."""

    server_tools: frozenset[str]  # names of the server tools offered (the API runs them)
    thinking: bool  # thinking enabled: the answer opens with a `thinking` block
    # A threaded request (`thread`): the conversation the server holds once it answers
    # (`system`, `tools`, every message so far), kept under the answer's id.
    thread: JSON | None = None
    continues: str | None = None  # the `previous_message_id` a `continue` resumed
    compacting: bool = False  # a `compaction` request: answered with one `compaction` block
    fallback_credit: bool = False  # a `fallback_credit_token` was presented: usage says how
    thinking_omitted: bool = False  # `thinking.display: "omitted"`: thinking sent without text
    diagnostics: bool = False  # the request asks for `diagnostics`: the answer carries them
    context_management: bool = False  # the request has `context_management`: so does the answer


# --- the validator's words ------------------------------------------------------------------


def invalid(message: str, param: str | None = None) -> RequestError:
    return RequestError(400, message, param=param)


def _required(path: str) -> RequestError:
    return invalid(f"{path}: Field required", path)


_KINDS = {
    "int": "a valid integer",
    "number": "a valid number",
    "str": "a valid string",
    "bool": "a valid boolean",
    "list": "a valid list",
    "dict": "a valid dictionary",
}


def _wrong(path: str, kind: str) -> RequestError:
    return invalid(f"{path}: Input should be {_KINDS[kind]}", path)


def _extra(path: str) -> RequestError:
    return invalid(f"{path}: Extra inputs are not permitted", path)


def _literal(value: object, path: str, allowed: tuple[str, ...]) -> str:
    """A value of a closed set, refused in pydantic's words for a `Literal`: "Input should be
    'auto' or 'standard_only'" (as `cache_control.ttl` and `media_type` are worded)."""
    if isinstance(value, str) and value in allowed:
        return value
    listed = [f"'{a}'" for a in allowed]
    either = listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} or {listed[-1]}"
    raise invalid(f"{path}: Input should be {either}", path)


def _only(obj: JSON, path: str, keys: tuple[str, ...]) -> None:
    """Refuse the keys of an object its type does not have."""
    for key in obj:
        if key not in keys:
            raise _extra(f"{path}.{key}")


def _tag(path: str, tag: object, expected: tuple[str, ...]) -> RequestError:
    listed = ", ".join(f"'{t}'" for t in expected)
    return invalid(
        f"{path}: Input tag '{tag}' found using 'type' does not match any of the expected "
        f"tags: {listed}",
        path,
    )


def _str(obj: JSON, key: str, path: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _required(f"{path}.{key}" if path else key)
        return None
    if not isinstance(value, str):
        raise _wrong(f"{path}.{key}" if path else key, "str")
    return value


def _text(obj: JSON, key: str, path: str) -> str:
    """A required string field."""
    value = _str(obj, key, path)
    if value is None:  # _str refuses a missing field already; this narrows the type
        raise _required(f"{path}.{key}" if path else key)
    return value


def _int(body: JSON, key: str, low: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _wrong(key, "int")
    if low is not None and value < low:
        raise invalid(f"{key}: Input should be greater than or equal to {low}", key)
    return value


def _number(body: JSON, key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _wrong(key, "number")
    if value < low:
        raise invalid(f"{key}: Input should be greater than or equal to {low:g}", key)
    if value > high:
        raise invalid(f"{key}: Input should be less than or equal to {high:g}", key)
    return float(value)


def _object(value: object, path: str) -> JSON:
    if not isinstance(value, dict):
        raise _wrong(path, "dict")
    return value


def load_body(raw: bytes) -> JSON:
    """The request's JSON object, refused as the API refuses what is not one."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as refused:
        # "The request body is not valid JSON: unexpected character: line 8 column 316
        # (char 466)" (github.com/promptfoo/promptfoo/issues/4489): the parser's reason,
        # then where.
        try:
            json.loads(raw)
            reason = "invalid UTF-8 or a number out of range"
        except UnicodeDecodeError as exc:
            reason = f"invalid UTF-8: byte 0x{raw[exc.start]:02x} at position {exc.start}"
        except json.JSONDecodeError as exc:
            reason = str(exc)
            reason = reason[:1].lower() + reason[1:]
        except (ValueError, RecursionError):  # a number too long, nesting too deep
            reason = str(refused)
        raise invalid(f"The request body is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        raise invalid("Input should be a valid dictionary or object to extract fields from")
    return body


# --- content --------------------------------------------------------------------------------


def _text_block(block: JSON, path: str) -> str:
    """A text block's text; an empty one is refused in the API's words, which name the field
    the block is in ("messages: …", "system: text content blocks must be non-empty")."""
    text = _text(block, "text", path)
    field = path.partition(".")[0]
    if not text and block.get("cache_control") is not None:
        # The API's words, naming the block ("messages.29.content.0.text: cache_control cannot
        # be set for empty text blocks", with a request_id in a public report; "system.N: …").
        raise invalid(f"{path}: cache_control cannot be set for empty text blocks", path)
    if not text:
        raise invalid(f"{field}: text content blocks must be non-empty", path)
    if not text.strip():
        raise invalid(f"{field}: text content blocks must contain non-whitespace text", path)
    return text


def _result_text(content: object, path: str) -> str:
    """A tool result's content as text: a string, or blocks (their text joined)."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise _wrong(path, "list")
    texts = []
    for k, block in enumerate(content):
        at = f"{path}.{k}"
        block = _object(block, at)
        kind = block.get("type")
        if kind not in _RESULT_BLOCKS:
            raise _required(f"{at}.type") if kind is None else _tag(at, kind, _RESULT_BLOCKS)
        if kind in _BLOCK_KEYS:
            _only(block, f"{at}.{kind}", _BLOCK_KEYS[kind])
        _cache_control(block, f"{at}.{kind}")
        if kind == "text":
            texts.append(_text_block(block, f"{at}.text"))
        elif kind == "image":
            _check_image(block, at)
        elif kind == "document":
            _check_document(block, at)
    return "\n".join(texts)


_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_IMAGE_SOURCES = ("base64", "url", "file")
# The first bytes of each image type the API takes (its check of `data` against the
# `media_type` given: "…image.source.base64.data: Image does not match the provided media
# type image/png", quoted in github.com/anthropics/claude-code issue 6300).
_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _source(block: JSON, path: str, kinds: tuple[str, ...]) -> tuple[JSON, str]:
    """A block's `source` and its `type`, which must be one of `kinds` (the validator's
    words for a missing or unknown tag)."""
    if "source" not in block:
        raise _required(path)
    source = _object(block["source"], path)
    kind = source.get("type")
    if kind is None:
        raise invalid(f"{path}: Unable to extract tag using discriminator 'type'", path)
    if kind not in kinds:
        raise _tag(path, kind, kinds)
    _only(source, f"{path}.{kind}", _SOURCE_KEYS[str(kind)])
    return source, str(kind)


# The fields of each kind of source (the SDK's `Beta…SourceParam`): any other is refused under
# the source's type, the path the validator gives its fields
# (`messages.0.content.0.image.source.base64.media_type`).
_SOURCE_KEYS = {
    "base64": ("type", "media_type", "data"),
    "text": ("type", "media_type", "data"),
    "content": ("type", "content"),
    "url": ("type", "url"),
    "file": ("type", "file_id"),
}


def _check_image(block: JSON, at: str) -> None:
    """An image block's source, as the API validates it (paths name the block's type and
    the source's: `messages.0.content.0.image.source.base64.media_type`, quoted in
    github.com/anthropics/claude-code issue 4661)."""
    path = f"{at}.image.source"
    source, kind = _source(block, path, _IMAGE_SOURCES)
    if kind == "url":
        _text(source, "url", f"{path}.url")
        return
    if kind == "file":
        _text(source, "file_id", f"{path}.file")
        return
    media_type = source.get("media_type")
    if media_type not in _IMAGE_TYPES:
        where = f"{path}.base64.media_type"
        raise invalid(
            f"{where}: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
            where,
        )
    data = _text(source, "data", f"{path}.base64")
    where = f"{path}.base64"
    if not data:
        # github.com/anthropics/claude-code/issues/12750
        raise invalid(f"{where}: image cannot be empty", where)
    try:
        decoded = base64.b64decode(data, validate=True)
    except ValueError:  # not base64, or a character outside ASCII
        # github.com/anthropics/anthropic-sdk-typescript/issues/603
        raise invalid(f"{where}: invalid base64 data", where) from None
    head = decoded[:16]
    found = next((name for magic, name in _IMAGE_MAGIC if head.startswith(magic)), None)
    if found is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        found = "image/webp"
    if found is None:
        # Bytes of no image type: the API's words, with no path (github.com/anthropics/
        # claude-code issues 8647, 60920).
        raise invalid("Could not process image", f"{where}.data")
    if found != media_type:
        where = f"{path}.base64.data"
        raise invalid(f"{where}: Image does not match the provided media type {media_type}", where)


_DOCUMENT_SOURCES = ("base64", "text", "content", "url", "file")


def _check_document(block: JSON, at: str) -> None:
    """A document block's source (SDK `DocumentBlockParam`): a base64 PDF, plain text, content
    blocks, a URL or a file, each with the fields its type requires."""
    path = f"{at}.document.source"
    source, kind = _source(block, path, _DOCUMENT_SOURCES)
    where = f"{path}.{kind}"
    if kind in ("base64", "text"):
        media_type = "application/pdf" if kind == "base64" else "text/plain"
        if source.get("media_type") is None:
            raise _required(f"{where}.media_type")
        _literal(source["media_type"], f"{where}.media_type", (media_type,))
        data = _text(source, "data", where)
        if kind == "base64":
            _check_pdf(data, at, where)
    elif kind == "content":
        if source.get("content") is None:
            raise _required(f"{where}.content")
        if not isinstance(source["content"], str | list):
            raise _wrong(f"{where}.content", "list")
    elif kind == "url":
        _text(source, "url", where)
    else:
        _text(source, "file_id", where)


def _check_pdf(data: str, at: str, where: str) -> None:
    """A base64 PDF's bytes: none, or not a PDF (no `%PDF-` header), are refused in the API's
    words, quoted in public repositories' tests as its answers to an empty and a corrupt PDF
    (HTML renamed `.pdf` among them): `messages.0.content.0.document.source.base64: PDF
    cannot be empty`, `messages.0.content.0.pdf.source.base64.data: The PDF specified was
    not valid.`"""
    if not data:
        raise invalid(f"{where}: PDF cannot be empty", where)
    try:
        decoded = base64.b64decode(data, validate=True)
    except ValueError:  # not base64, or a character outside ASCII
        decoded = b""
    if b"%PDF-" not in decoded[:1024]:  # where PDF readers look for the header
        path = f"{at}.pdf.source.base64.data"
        raise invalid(f"{path}: The PDF specified was not valid.", path)


@dataclass
class _Turn:
    """One message of the request as read: its text, tool calls and tool results."""

    role: str
    texts: list[str]
    calls: list[ToolCall]
    results: list[tuple[str, str, int]]  # (tool_use_id, text, block index)
    empty: bool
    kinds: list[str] = field(default_factory=list)  # each block's type, in order
    # `tool_addition` and `tool_removal` blocks: (the block's type, its `tool`, its path)
    changes: list[tuple[str, JSON, str]] = field(default_factory=list)
    listings: list[tuple[str, str]] = field(default_factory=list)  # (MCP server, path)
    compacts: bool = False  # holds a `compaction` block with content: what came before is out
    signed: int | None = None  # the index of a signed `compaction` block (an on-demand one)
    failed: set[str] = field(default_factory=set)  # tool_use_ids of results with is_error


def _read_message(raw: object, i: int, lenient: bool, roles: tuple[str, ...]) -> _Turn:
    path = f"messages.{i}"
    message = _object(raw, path)
    role = message.get("role")
    keys = _SYSTEM_MESSAGE_KEYS if role == "system" and role in roles else ("role", "content")
    for key in message:
        if key not in keys:
            raise _extra(f"{path}.{key}")
    if role is None:
        raise _required(f"{path}.role")
    if not isinstance(role, str):
        raise invalid(f"{path}.role: Input should be 'user' or 'assistant'", f"{path}.role")
    if role not in roles:
        # The API's words for a role it does not take, as quoted in public reports.
        raise invalid(
            f'messages: Unexpected role "{role}". The Messages API accepts a top-level '
            f'`system` parameter, not "{role}" as an input message role.',
            f"{path}.role",
        )
    if "content" not in message:
        raise _required(f"{path}.content")
    content = message["content"]
    turn = _Turn(str(role), [], [], [], False)
    if isinstance(content, str):
        turn.texts.append(content)
        turn.kinds.append("text")
        turn.empty = not content
        return turn
    if not isinstance(content, list):
        raise _wrong(f"{path}.content", "list")
    turn.empty = not content
    for k, raw_block in enumerate(content):
        at = f"{path}.content.{k}"
        block = _object(raw_block, at)
        kind = block.get("type")
        if kind is None:
            raise _required(f"{at}.type")
        if kind not in (_SYSTEM_BLOCKS if role == "system" else _BLOCKS):
            raise _tag(at, kind, _SYSTEM_BLOCKS if role == "system" else _BLOCKS)
        turn.kinds.append(kind)
        if kind in _OWNERS and role != _OWNERS[kind]:
            # The API's words ("messages.1: `tool_result` blocks can only be in `user`
            # messages", quoted in public repositories' notes on the live refusal).
            raise invalid(
                f"{path}: `{kind}` blocks can only be in `{_OWNERS[kind]}` messages", path
            )
        if kind in _BLOCK_KEYS:
            _only(block, f"{at}.{kind}", _BLOCK_KEYS[kind])
        _cache_control(block, f"{at}.{kind}")
        if kind == "text":
            turn.texts.append(_text_block(block, f"{at}.text"))
        elif kind == "image":
            _check_image(block, at)
        elif kind == "document":
            _check_document(block, at)
        elif kind == "tool_use":
            call_id = _str(block, "id", f"{at}.tool_use")
            if not _TOOL_USE_ID.fullmatch(str(call_id)):
                # The API's words ("messages.1.content.1.tool_use.id: String should match
                # pattern '^[a-zA-Z0-9_-]+$'", github.com/CommandCodeAI/command-code issue 323,
                # BlockRunAI/ClawRouter issue 17): ids another provider wrote ("functions.a:0").
                where = f"{at}.tool_use.id"
                raise invalid(f"{where}: String should match pattern '^[a-zA-Z0-9_-]+$'", where)
            name = _str(block, "name", f"{at}.tool_use")
            where = f"{at}.tool_use.input"
            if "input" not in block:
                raise _required(where)
            if not isinstance(block["input"], dict):
                # The API's words for a string or null input, as gateways and agent tools
                # quote them ("400 messages.24.content.0.tool_use.input: Input should be an
                # object"); older reports show "Input should be a valid dictionary".
                raise invalid(f"{where}: Input should be an object", where)
            arguments = orjson.dumps(block["input"]).decode()
            if any(call.id == call_id for call in turn.calls):
                # The API's words (github.com/anthropics/claude-code/issues/20901).
                raise invalid(f"{at}: `tool_use` ids must be unique", at)
            turn.calls.append(ToolCall(str(call_id), str(name), arguments))
        elif kind == "tool_result":
            use_id = _str(block, "tool_use_id", f"{at}.tool_result")
            text = _result_text(block.get("content"), f"{at}.tool_result.content")
            if block.get("is_error") is not None and not isinstance(block["is_error"], bool):
                raise _wrong(f"{at}.tool_result.is_error", "bool")
            if block.get("is_error"):
                turn.failed.add(str(use_id))
            turn.results.append((str(use_id), text, k))
        elif kind == "thinking":
            thinking = _text(block, "thinking", f"{at}.thinking")
            signature = _text(block, "signature", f"{at}.thinking")
            if not lenient and not messages_answer.signature_stands(signature, thinking):
                # The API checks the signature of thinking it wrote: a block whose text was
                # edited, or whose signature it never gave, is refused (its words, as in
                # github.com/microsoft/vscode/issues/322138).
                raise invalid(f"{at}: Invalid `signature` in `thinking` block", at)
        elif kind == "redacted_thinking":
            _str(block, "data", f"{at}.redacted_thinking")
        elif kind == "server_tool_use":
            server_id = block.get("id")
            if isinstance(server_id, str) and not _SERVER_TOOL_USE_ID.fullmatch(server_id):
                # The API's words (github.com/ding113/claude-code-hub issue 470).
                where = f"{at}.server_tool_use.id"
                raise invalid(
                    f"{where}: String should match pattern '^srvtoolu_[a-zA-Z0-9_]+$'", where
                )
        elif kind in _BETA_BLOCKS:
            _read_beta_block(block, kind, at, turn, lenient)
    return turn


_OWNERS = {"tool_use": "assistant", "tool_result": "user"}  # the role whose blocks they are
_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_-]+")
_SERVER_TOOL_USE_ID = re.compile(r"srvtoolu_[a-zA-Z0-9_]+")
_BETA_BLOCKS = frozenset(
    {
        "advisor_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "compaction",
        "tool_addition",
        "tool_removal",
        "mcp_tool_listing",
        "fallback",
    }
)
_ADVISOR_RESULTS = ("advisor_tool_result_error", "advisor_result", "advisor_redacted_result")
_ADVISOR_ERRORS = (
    "max_uses_exceeded",
    "prompt_too_long",
    "too_many_requests",
    "overloaded",
    "unavailable",
    "execution_time_exceeded",
    "model_not_found",
)
_TOOL_REFERENCES = ("tool_reference", "mcp_tool_reference", "mcp_toolset_reference")


def _read_beta_block(block: JSON, kind: str, at: str, turn: _Turn, lenient: bool) -> None:
    """The blocks of the betas (SDK `BetaContentBlockParam`): what the API's own tools did
    (the advisor, MCP servers), where tools were added or withdrawn, a summary standing for
    what came before (`compaction`), where a fallback model took over. The text of a result
    and of a summary is part of the prompt; the others are not."""
    path = f"{at}.{kind}"
    if kind == "advisor_tool_result":
        _text(block, "tool_use_id", path)
        if "content" not in block:
            raise _required(f"{path}.content")
        advice = _object(block["content"], f"{path}.content")
        result = advice.get("type")
        if result not in _ADVISOR_RESULTS:
            raise (
                _required(f"{path}.content.type")
                if result is None
                else _tag(f"{path}.content", result, _ADVISOR_RESULTS)
            )
        where = f"{path}.content.{result}"
        if result == "advisor_tool_result_error":
            if advice.get("error_code") is None:
                raise _required(f"{where}.error_code")
            _literal(advice["error_code"], f"{where}.error_code", _ADVISOR_ERRORS)
        elif result == "advisor_result":
            turn.texts.append(_text(advice, "text", where))
        else:
            _text(advice, "encrypted_content", where)
    elif kind == "mcp_tool_use":
        for key in ("id", "name", "server_name"):
            _text(block, key, path)
        if "input" not in block:
            raise _required(f"{path}.input")
        _object(block["input"], f"{path}.input")
    elif kind == "mcp_tool_result":
        _text(block, "tool_use_id", path)
        content = block.get("content")
        if isinstance(content, list):
            for k, raw in enumerate(content):
                where = f"{path}.content.{k}"
                item = _object(raw, where)
                if item.get("type") != "text":
                    raise _tag(where, item.get("type"), ("text",))
                turn.texts.append(_text_block(item, where))
        elif content is not None:
            if not isinstance(content, str):
                raise _wrong(f"{path}.content", "str")
            if content:
                turn.texts.append(content)
        if block.get("is_error") is not None and not isinstance(block["is_error"], bool):
            raise _wrong(f"{path}.is_error", "bool")
    elif kind == "compaction":
        summary = _read_compaction(block, path, lenient)
        if summary is not None:
            # A summary stands for everything before it (the API ignores those blocks).
            turn.texts[:] = [summary]
            turn.calls.clear()
            turn.results.clear()
            turn.compacts = True
            if block.get("signature") is not None:
                turn.signed = len(turn.kinds) - 1
    elif kind in ("tool_addition", "tool_removal"):
        if "tool" not in block:
            raise _required(f"{path}.tool")
        turn.changes.append((kind, _object(block["tool"], f"{path}.tool"), f"{path}.tool"))
    elif kind == "mcp_tool_listing":
        server = _text(block, "mcp_server_name", path)
        if "tools" not in block:
            raise _required(f"{path}.tools")
        _read_mcp_listing(block["tools"], f"{path}.tools")
        turn.listings.append((server, at))
    else:  # fallback: not part of the prompt
        for key in ("from", "to"):
            if key not in block:
                raise _required(f"{path}.{key}")
            hop = _object(block[key], f"{path}.{key}")
            _text(hop, "model", f"{path}.{key}")


def _read_compaction(block: JSON, path: str, lenient: bool) -> str | None:
    """A `compaction` block sent back: its summary (None: a failed compaction, a no-op),
    whose signature must be the one given with it."""
    summary = _str(block, "content", path, required=False)
    _str(block, "encrypted_content", path, required=False)
    signature = _str(block, "signature", path, required=False)
    changes = block.get("tool_changes")
    if changes is not None:
        if not isinstance(changes, list):
            raise _wrong(f"{path}.tool_changes", "list")
        for k, raw in enumerate(changes):
            where = f"{path}.tool_changes.{k}"
            change = _object(raw, where)
            if change.get("type") not in ("tool_addition", "tool_removal"):
                raise _tag(where, change.get("type"), ("tool_addition", "tool_removal"))
    if summary is None:
        return None
    if not summary:
        raise invalid(f"{path}.content: String should have at least 1 character", f"{path}.content")
    if signature is not None and not lenient:
        if not messages_answer.compaction_stands(signature, summary):
            code, words = (
                ("compaction_content_mismatch", COMPACTION_MISMATCH)
                if messages_answer.is_ours(signature)
                else ("compaction_signature_invalid", COMPACTION_SIGNATURE_INVALID)
            )
            raise RequestError(400, words, code=code, param=f"{path}.signature")
    return summary


# The SDK's words for the refusals of a `compaction` block (its error classes' docstrings),
# with the `error_code` it reads.
COMPACTION_MISMATCH = (
    "The `compaction` block's `content` differs from the text its `signature` recorded."
)
COMPACTION_SIGNATURE_INVALID = "The `compaction` block's `signature` does not verify."
TOOL_REFERENCE_UNRESOLVED = (
    "A tool change or MCP tool listing references a tool or MCP server that is not defined at "
    "that position in the conversation."
)


# Claude Code adds context to the user's turn in text blocks of their own, each a
# `<system-reminder>`; its system prompt tells the model that these "are injected by the
# harness, not the user".
_REMINDERS = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)


def _read_messages(
    value: object, lenient: bool, roles: tuple[str, ...] = _ROLES
) -> tuple[list[Message], list[_Turn]]:
    """Messages for the engine: text blocks joined, `tool_use` blocks as the assistant's
    tool calls, `tool_result` blocks as tool messages (before the user's text), a system
    message (the mid-conversation system beta) as system text where it sits. A user's text
    block that is only `<system-reminder>` elements is system text, before the user's
    message, unless the turn says nothing else. Consecutive turns of one role are one
    turn, as the API combines them."""
    if value is None:
        raise _required("messages")
    if not isinstance(value, list):
        raise _wrong("messages", "list")
    if not value:
        # "messages: at least one message is required" (github.com/devoxx/DevoxxGenieIDEAPlugin
        # issues/567).
        raise invalid("messages: at least one message is required", "messages")
    turns = [_read_message(raw, i, lenient, roles) for i, raw in enumerate(value)]
    for i, turn in enumerate(turns):
        final_assistant = i == len(turns) - 1 and turn.role == "assistant"
        if turn.empty and not final_assistant:
            raise invalid(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message",
                f"messages.{i}",
            )
    _check_tool_pairs(turns)
    if not lenient:
        _check_summary_first(turns)
    messages: list[Message] = []
    # A compaction block's summary stands for every turn before it.
    since = max((i for i, turn in enumerate(turns) if turn.compacts), default=0)
    for turn in turns[since:]:
        for use_id, text, _ in turn.results:
            failed = use_id in turn.failed
            messages.append(Message("tool", text, tool_call_id=use_id, failed=failed))
        texts = turn.texts
        if turn.role == "user":
            said = [t for t in texts if _REMINDERS.sub("", t).strip()]
            if said or turn.results:
                notes = [t for t in texts if t not in said]
                if notes:
                    messages.append(Message("system", "\n".join(notes)))
                texts = said
        text = "\n".join(texts)
        if turn.role == "assistant":
            if text or turn.calls:
                messages.append(Message("assistant", text, tool_calls=tuple(turn.calls)))
        elif text or not turn.results:
            messages.append(Message(turn.role, text))
    return messages, turns


def _check_summary_first(turns: list[_Turn]) -> None:
    """A signed `compaction` block (an on-demand compaction's) comes first in the messages, in
    place of those it summarizes: the SDK's words for one that does not
    (`CompactionBlockMisplacedError`), with its `error_code`. A threshold compaction's block
    may follow what it summarizes (the API leaves that out)."""
    first = next((i for i, turn in enumerate(turns) if turn.role != "system"), 0)
    for i, turn in enumerate(turns):
        if turn.signed is not None and (i, turn.signed) != (first, 0):
            raise RequestError(
                400,
                "The `compaction` block is not the first block of the conversation, or is in a "
                "`system` message.",
                code="compaction_block_misplaced",
                param=f"messages.{i}.content.{turn.signed}",
            )


def _check_results_first(turns: list[_Turn]) -> None:
    """The message after an assistant's tool uses starts with as many `tool_result` blocks:
    "messages.2: Did not find 1 `tool_result` block(s) at the beginning of this message. …"
    (github.com/anthropics/claude-code/issues/37, github.com/apify/tester-mcp-client/
    issues/12)."""
    for i, turn in enumerate(turns[:-1]):
        if turn.role != "assistant" or not turn.calls:
            continue
        kinds = turns[i + 1].kinds
        leading = next((k for k, kind in enumerate(kinds) if kind != "tool_result"), len(kinds))
        if leading < len(turn.calls):
            raise invalid(
                f"messages.{i + 1}: Did not find {len(turn.calls)} `tool_result` block(s) at "
                "the beginning of this message. Messages following `tool_use` blocks must "
                "begin with a matching number of `tool_result` blocks.",
                f"messages.{i + 1}",
            )


def _check_tool_pairs(turns: list[_Turn]) -> None:
    """Each `tool_result` answers a `tool_use` of the assistant turn just before it, and each
    `tool_use` not at the end is answered in the next turn (the API's words, quoted in
    github.com/anthropics/claude-code issues #13460 and #5060)."""
    previous_calls: set[str] = set()
    for i, turn in enumerate(turns):
        answered: set[str] = set()
        for use_id, _, k in turn.results:
            at = f"messages.{i}.content.{k}"
            if use_id not in previous_calls:
                raise invalid(
                    f"{at}: unexpected `tool_use_id` found in `tool_result` blocks: {use_id}. "
                    "Each `tool_result` block must have a corresponding `tool_use` block in "
                    "the previous message.",
                    at,
                )
            if use_id in answered:
                # The API's words, as a claude-code bug report quotes them (anthropics/
                # claude-code commit 20c5837, "Duplicate tool_result blocks").
                raise invalid(
                    f"{at}: each tool_use must have a single result. Found multiple "
                    f"`tool_result` blocks with id: {use_id}",
                    at,
                )
            answered.add(use_id)
        if turn.role == "assistant" and turn.calls and i + 1 < len(turns):
            results = {use_id for use_id, _, _ in turns[i + 1].results}
            missing = [c.id for c in turn.calls if c.id not in results]
            if missing:
                raise invalid(
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must "
                    "have a corresponding `tool_result` block in the next message.",
                    f"messages.{i}",
                )
        previous_calls = {c.id for c in turn.calls} if turn.role == "assistant" else set()


MAX_CACHE_BREAKPOINTS = 4


def _check_breakpoints(body: JSON) -> None:
    """At most four blocks of `system`, `tools` and `messages` (tool results' blocks too)
    may carry `cache_control`: "A maximum of 4 blocks with cache_control may be provided.
    Found 5." (github.com/tghamm/Anthropic.SDK/issues/50, github.com/continuedev/continue/
    pull/6937)."""

    def marked(blocks: object) -> int:
        if not isinstance(blocks, list):
            return 0
        found = 0
        for block in blocks:
            if isinstance(block, dict):
                found += block.get("cache_control") is not None
                if block.get("type") == "tool_result":
                    found += marked(block.get("content"))
        return found

    found = marked(body.get("system")) + marked(body.get("tools"))
    for message in body.get("messages") or ():
        found += marked(message.get("content")) if isinstance(message, dict) else 0
    if found > MAX_CACHE_BREAKPOINTS:
        raise invalid(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {found}."
        )


def _check_thinking_blocks(turns: list[_Turn], thinks: bool) -> None:
    """Where thinking blocks sent back may stand, as the API checks it. With thinking on, an
    assistant message holding any must start with one ("messages.1.content.0: If an assistant
    message contains any thinking blocks, the first block must be `thinking` or
    `redacted_thinking`. Found `text`.", quoted in many public repositories' notes on this
    refusal) and may not end with one ("messages.1: The final block in an assistant message
    cannot be `thinking`.", github.com/tailcallhq/forgecode/issues/2107; a probe of a turn
    [thinking, tool_use, thinking] in the middle of a conversation got the same);
    with thinking off, a final assistant message may hold none ("messages.1.content.0: When
    thinking is disabled, an `assistant` message in the final position cannot contain
    `thinking`. …", forgecode issues 1853 and 1195)."""
    thinking = ("thinking", "redacted_thinking")
    last = len(turns) - 1
    if not thinks:
        if turns and turns[last].role == "assistant" and "thinking" in turns[last].kinds:
            where = f"messages.{last}.content.{turns[last].kinds.index('thinking')}"
            raise invalid(
                f"{where}: When thinking is disabled, an `assistant` message in the final "
                "position cannot contain `thinking`. To use thinking blocks, enable `thinking` "
                "in your request.",
                where,
            )
        return
    for i, turn in enumerate(turns):
        kinds = turn.kinds
        if turn.role != "assistant" or not kinds:
            continue
        if kinds[0] not in thinking and any(kind in thinking for kind in kinds):
            where = f"messages.{i}.content.0"
            raise invalid(
                f"{where}: If an assistant message contains any thinking blocks, the first "
                f"block must be `thinking` or `redacted_thinking`. Found `{kinds[0]}`.",
                where,
            )
        if kinds[-1] == "thinking":
            raise invalid(
                f"messages.{i}: The final block in an assistant message cannot be `thinking`.",
                f"messages.{i}",
            )


def _check_thinking_kept(turns: list[_Turn]) -> None:
    """With thinking enabled, the assistant turn whose tool uses the last user turn answers
    must start with its thinking block, as the API requires (its words, quoted in
    github.com/Kilo-Org/kilocode/issues/5219 and github.com/deepset-ai/haystack-core-
    integrations/issues/2146: the agent loop that drops thinking blocks)."""
    last = len(turns) - 1
    while last >= 0 and turns[last].role in ("user", "system"):
        last -= 1
    answers = turns[last + 1 :]
    if last < 0 or not answers or not any(turn.results for turn in answers):
        return
    kinds = turns[last].kinds
    if kinds and kinds[0] not in ("thinking", "redacted_thinking"):
        where = f"messages.{last}.content.0.type"
        raise invalid(
            f"{where}: Expected `thinking` or `redacted_thinking`, but found `{kinds[0]}`. When "
            "`thinking` is enabled, a final `assistant` message must start with a thinking "
            "block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We "
            "recommend you include thinking blocks from previous turns. To avoid this "
            "requirement, disable `thinking`. Please consult our documentation at "
            "https://docs.claude.com/en/docs/build-with-claude/extended-thinking",
            where,
        )


def _read_system(value: object) -> str:
    """The top-level `system`: a string, or text blocks (`cache_control` accepted)."""
    if value is None or isinstance(value, str):
        return value or ""
    if not isinstance(value, list):
        raise _wrong("system", "list")
    texts = []
    for k, raw in enumerate(value):
        at = f"system.{k}"
        block = _object(raw, at)
        kind = block.get("type")
        if kind != "text":
            raise _required(f"{at}.type") if kind is None else _tag(at, kind, ("text",))
        _only(block, at, _BLOCK_KEYS["text"])
        _cache_control(block, at)
        texts.append(_text_block(block, at))
    return "\n".join(texts)


def _cache_control(block: JSON, path: str) -> bool:
    """Check a block's `cache_control` (`path` "" for the request's own); whether it has one."""
    value = block.get("cache_control")
    if value is None:
        return False
    where = f"{path}.cache_control" if path else "cache_control"
    control = _object(value, where)
    if control.get("type") != "ephemeral":
        raise _tag(where, control.get("type"), ("ephemeral",))
    # A member of a tagged union: its fields' paths name the tag, as the API's do
    # ("system.1.cache_control.ephemeral.scope: Extra inputs are not permitted", quoted in
    # github.com/caozhiyuan/copilot-api/issues/145).
    where = f"{where}.ephemeral"
    _only(control, where, ("type", "ttl"))
    if control.get("ttl") is not None:
        _literal(control["ttl"], f"{where}.ttl", ("5m", "1h"))
    return True


# --- tools ----------------------------------------------------------------------------------


def _read_tools(value: object, lenient: bool) -> tuple[tuple[Tool, ...], frozenset[str]]:
    """(the tools offered, each with its input schema; names of the server tools)."""
    if value is None:
        return (), frozenset()
    if not isinstance(value, list):
        raise _wrong("tools", "list")
    tools: list[Tool] = []
    server: set[str] = set()
    for i, raw in enumerate(value):
        at = f"tools.{i}"
        tool = _object(raw, at)
        kind = tool.get("type") or "custom"
        if kind not in _TOOL_TYPES:
            raise _tag(at, kind, _TOOL_TYPES)
        _cache_control(tool, f"{at}.{kind}")
        if kind == "custom":
            tools.append(_custom_tool(tool, f"{at}.custom", lenient))
            continue
        if kind in _TOOLSETS:
            _only(tool, f"{at}.{kind}", ("type", "cache_control", "configs"))
            if tool.get("configs") is not None:
                _object(tool["configs"], f"{at}.{kind}.configs")
            continue
        if kind == "mcp_toolset":
            _read_mcp_toolset(tool, f"{at}.{kind}")
            continue
        fixed, properties = _CLIENT_TOOLS.get(kind) or SERVER_TOOLS[kind]
        name = tool.get("name")
        if name is None:
            raise _required(f"{at}.{kind}.name")
        if name != fixed:
            raise invalid(f"{at}.{kind}.name: Input should be '{fixed}'", f"{at}.{kind}.name")
        if kind.startswith("computer_"):
            for field in ("display_width_px", "display_height_px"):
                if tool.get(field) is None:
                    raise _required(f"{at}.{kind}.{field}")
        if kind == "advisor_20260301":
            _text(tool, "model", f"{at}.{kind}")
        schema = {"type": "object", "properties": properties, "required": list(properties)}
        tools.append(Tool(fixed, "", schema, server=kind in SERVER_TOOLS))
        if kind in SERVER_TOOLS:
            server.add(fixed)
    names = [t.name for t in tools]
    if len(set(names)) < len(names):
        # The API's words, naming no name (github.com/anthropics/claude-code/issues/10687,
        # microsoft/vscode issue 276110: "tools: Tool names must be unique.").
        raise invalid("tools: Tool names must be unique.", "tools")
    return tuple(tools), frozenset(server)


def _read_mcp_toolset(tool: JSON, path: str) -> None:
    """An `mcp_toolset` entry: the server it names, its configs and, pinned, its tool listing."""
    _only(tool, path, (*_MCP_TOOLSET_KEYS, "tools"))
    _text(tool, "mcp_server_name", path)
    for key in ("configs", "default_config"):
        if tool.get(key) is not None:
            _object(tool[key], f"{path}.{key}")
    if tool.get("tools") is not None:
        _read_mcp_listing(tool["tools"], f"{path}.tools")


def _read_mcp_listing(value: object, path: str) -> None:
    """An MCP server's tools as it lists them (SDK `BetaMCPToolParamParam`)."""
    if not isinstance(value, list):
        raise _wrong(path, "list")
    for i, raw in enumerate(value):
        at = f"{path}.{i}"
        listed = _object(raw, at)
        _only(listed, at, ("name", "input_schema", "description"))
        _text(listed, "name", at)
        if "input_schema" not in listed:
            raise _required(f"{at}.input_schema")
        _object(listed["input_schema"], f"{at}.input_schema")
        _str(listed, "description", at, required=False)


def _custom_tool(tool: JSON, path: str, lenient: bool) -> Tool:
    _only(tool, path, _CUSTOM_TOOL_KEYS)
    name = _text(tool, "name", path)
    well_formed = all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    if not 1 <= len(name) <= 128 or not well_formed:
        # Pydantic's words for a pattern, as in "tools.0.custom.name: String should match
        # pattern '^[a-zA-Z0-9_-]{1,128}$'".
        raise invalid(
            f"{path}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'", f"{path}.name"
        )
    description = _str(tool, "description", path, required=False) or ""
    if "input_schema" not in tool:
        raise _required(f"{path}.input_schema")
    schema = _object(tool["input_schema"], f"{path}.input_schema")
    if any(key in schema for key in ("oneOf", "allOf", "anyOf")):
        # Quoted in github.com/Hmbown/Codewhale/issues/4329.
        raise invalid(
            f"{path}.input_schema: input_schema does not support oneOf, allOf, or anyOf at the "
            "top level",
            f"{path}.input_schema",
        )
    if "type" not in schema:
        # `{}` (a tool sent with no schema), a root `$ref` (a recursive pydantic model), as
        # users quote it: "tools.0.custom.input_schema.type: Field required"
        raise _required(f"{path}.input_schema.type")
    if schema.get("type") != "object":
        raise invalid(f"{path}.input_schema.type: Input should be 'object'", f"{path}.input_schema")
    if not lenient and meta_problem(schema, draft_2020_only=True) is not None:
        # The API's words (github.com/anthropics/claude-code issues 63673, 86665).
        raise invalid(
            f"{path}.input_schema: JSON schema is invalid. It must match JSON Schema draft "
            "2020-12 (https://json-schema.org/draft/2020-12). Learn more about tool use at "
            "https://platform.claude.com/docs/en/agents-and-tools/tool-use/overview.",
            f"{path}.input_schema",
        )
    strict = tool.get("strict") is True
    if strict and not lenient and (problem := format_problem(schema)) is not None:
        # A strict tool's schema is read as an output format's, named by the tool:
        # "tools.0.custom: For 'integer' type, property 'minimum' is not supported"
        raise invalid(f"{path}: {problem}", f"{path}.input_schema")
    return Tool(name, description, schema, strict)


INLINE_TOOLS_BETA = "inline-tools-2026-09-15"
MCP_DEFINITION_BETA = "mcp-client-2026-09-15"


def _mcp_names(body: JSON) -> set[str]:
    servers = body.get("mcp_servers")
    if not isinstance(servers, list):
        return set()
    return {str(s.get("name")) for s in servers if isinstance(s, dict)}


def _unresolved(path: str) -> RequestError:
    return RequestError(
        400, TOOL_REFERENCE_UNRESOLVED, code="tool_reference_unresolved", param=path
    )


def _apply_tool_changes(
    turns: list[_Turn],
    tools: tuple[Tool, ...],
    server: frozenset[str],
    mcp_names: set[str],
    betas: set[str],
    lenient: bool,
) -> tuple[tuple[Tool, ...], frozenset[str]]:
    """The tools offered once the messages' `tool_addition` and `tool_removal` blocks are
    applied in order (SDK `BetaRequestToolAdditionBlockParam`): a reference names a tool of
    `tools` or one defined earlier in the messages, or an MCP server of `mcp_servers`; under
    the inline-tools beta an addition may define a tool (a `tools` entry) itself."""
    known = {tool.name: tool for tool in tools}
    offered = dict(known)
    server_names = set(server)
    for turn in turns:
        for server_name, at in turn.listings:
            if server_name not in mcp_names and not lenient:
                raise _unresolved(f"{at}.mcp_tool_listing.mcp_server_name")
        for kind, tool, path in turn.changes:
            kinds: tuple[str, ...] = _TOOL_REFERENCES
            if kind == "tool_addition" and INLINE_TOOLS_BETA in betas:
                kinds = (*_TOOL_REFERENCES, "tool_definition")
            ref = tool.get("type")
            if ref not in kinds:
                raise _required(f"{path}.type") if ref is None else _tag(path, ref, kinds)
            where = f"{path}.{ref}"
            if ref == "tool_definition":
                if "definition" not in tool:
                    raise _required(f"{where}.definition")
                definition = _object(tool["definition"], f"{where}.definition")
                if definition.get("type") == "mcp_toolset":
                    if MCP_DEFINITION_BETA not in betas:
                        raise _tag(f"{where}.definition", "mcp_toolset", _TOOL_TYPES[:-1])
                    if definition.get("mcp_server_name") not in mcp_names and not lenient:
                        raise _unresolved(f"{where}.definition.mcp_server_name")
                defined, defined_server = _read_tools([definition], lenient)
                for added in defined:
                    known[added.name] = offered[added.name] = added
                server_names |= defined_server
                continue
            if ref == "tool_reference":
                name = _text(tool, "name", where)
                if name not in known:
                    if lenient:
                        continue
                    raise _unresolved(f"{where}.name")
                if kind == "tool_removal":
                    offered.pop(name, None)
                else:
                    offered[name] = known[name]
                continue
            server_name = _text(tool, "server_name", where)
            if ref == "mcp_tool_reference":
                _text(tool, "name", where)
            if server_name not in mcp_names and not lenient:
                raise _unresolved(f"{where}.server_name")
    if offered.keys() == {tool.name for tool in tools} and len(offered) == len(tools):
        return tools, server
    return tuple(offered.values()), frozenset(server_names & set(offered))


def _read_tool_choice(
    value: object, tools: tuple[Tool, ...], lenient: bool
) -> tuple[str | None, bool, bool]:
    """(the choice as the engine reads it: none, auto, required or a tool's name; whether
    parallel tool use is allowed; whether the choice forces a tool)."""
    if value is None:
        return None, True, False
    choice = _object(value, "tool_choice")
    kind = choice.get("type")
    if kind not in _CHOICE_TYPES:
        raise (
            _required("tool_choice.type")
            if kind is None
            else _tag("tool_choice", kind, _CHOICE_TYPES)
        )
    _only(choice, f"tool_choice.{kind}", _CHOICE_KEYS[str(kind)])
    if kind in ("any", "tool") and not tools:
        if lenient:
            return None, True, False  # nothing to force: answered as if no choice was made
        # The API's words, quoted in github.com/diegosouzapw/OmniRoute/pull/397.
        raise invalid(
            f"tool_choice.{kind} may only be specified while providing tools", "tool_choice"
        )
    parallel = True
    disable = choice.get("disable_parallel_tool_use")
    if disable is not None:
        if not isinstance(disable, bool):
            raise _wrong(f"tool_choice.{kind}.disable_parallel_tool_use", "bool")
        parallel = not disable
    if kind == "tool":
        name = _str(choice, "name", "tool_choice.tool")
        if name not in {t.name for t in tools}:
            # Not found in public reports: written in the validator's style.
            raise invalid(
                f"tool_choice.name: Tool '{name}' not found in the provided tools",
                "tool_choice.name",
            )
        return name, parallel, True
    mapped = {"auto": "auto", "any": "required", "none": "none"}[str(kind)]
    return mapped, parallel, kind == "any"


# --- threads ----------------------------------------------------------------------------------

# Server-held conversations (the `message-threads-2026-08-12` beta, SDK `BetaMessageThreadParam`):
# `{"type": "create"}` keeps the conversation under the answer's `id`; `{"type": "continue",
# "previous_message_id": …}` resumes it, so a request sends only its new messages and takes
# `system` and `tools` from the thread. Kept like the Responses API's stored responses.
THREAD_KIND = "messages.thread"
THREAD_LIMIT = 10_000  # threads kept, oldest dropped first
CONTINUED_KIND = "messages.thread.continued"  # answers a `continue` has resumed
_THREAD_TYPES = ("create", "continue")
_CREATE_ONLY = ("system", "tools")  # taken from the thread, never sent on a `continue`


def _thread_refusal(message: str, code: str) -> RequestError:
    return RequestError(400, message, code=code, param="thread.previous_message_id")


def _read_thread(
    body: JSON, store: StateStore | None, lenient: bool
) -> tuple[JSON, bool, str | None]:
    """(the request with the held conversation in front of its messages, whether the request
    is threaded, the `previous_message_id` it continues)."""
    value = body.get("thread")
    if value is None:
        return body, False, None
    thread = _object(value, "thread")
    kind = thread.get("type")
    if kind not in _THREAD_TYPES:
        raise _required("thread.type") if kind is None else _tag("thread", kind, _THREAD_TYPES)
    if kind == "create":
        _only(thread, "thread.create", ("type",))
        return body, True, None
    _only(thread, "thread.continue", ("type", "previous_message_id"))
    previous = _text(thread, "previous_message_id", "thread.continue")
    raw = store.get_document(THREAD_KIND, previous) if store is not None else None
    if raw is None:
        # The SDK's words for it (`ThreadNotFoundError`), with the `error_code` it reads
        # to replay the conversation under a new thread.
        raise RequestError(
            404,
            "No usable Thread state was found for `previous_message_id`.",
            code="thread_not_found",
            param="thread.previous_message_id",
        )
    if not lenient:
        repeated = [key for key in _CREATE_ONLY if body.get(key) is not None]
        if repeated:
            # The server takes `system` and `tools` from the thread and refuses a continue
            # that repeats them (the SDK's `CREATE_ONLY_FIELDS`); the SDK reads the refusal
            # as `ThreadUnsupportedRequestError` (`thread_unsupported_request`).
            named = " and ".join(f"`{key}`" for key in repeated)
            raise _thread_refusal(
                f"{named} cannot be sent with `thread.continue`: the Thread keeps the ones it "
                "was created with. Send the full conversation without `thread`, or create a "
                "new Thread to change them.",
                "thread_unsupported_request",
            )
        if store is not None and store.get_document(CONTINUED_KIND, previous) is not None:
            # The SDK's words for it (`ThreadAlreadyContinuedError`), with its `error_code`.
            raise _thread_refusal(
                "The response that `previous_message_id` names has already been continued, "
                "and each response can be continued only once. Continue from the Thread's "
                "most recent response `id`.",
                "thread_already_continued",
            )
    held: JSON = orjson.loads(raw)
    merged = dict(body)
    sent = body.get("messages")
    if isinstance(sent, list):
        merged["messages"] = [*held["messages"], *sent]
    for key in _CREATE_ONLY:
        if merged.get(key) is None and held.get(key) is not None:
            merged[key] = held[key]
    return merged, True, previous


def remember(
    store: StateStore,
    conversation: Conversation,
    rendered: Rendered,
    created: int,
    fault: Fault | None = None,
) -> None:
    """Hold a threaded request's conversation, its answer last, under the answer's `id` (an
    answer a fault broke is not held: the SDK starts a new thread after one)."""
    wire = conversation.wire
    if not isinstance(wire, Wire) or wire.thread is None:
        return
    if fault is not None and (
        fault.error_after_tokens is not None
        or fault.empty_choices_error
        or fault.disconnect_after_tokens is not None
    ):
        return
    message = messages_answer.message_object(rendered, conversation)
    messages = list(wire.thread["messages"])
    if message["content"]:
        messages.append({"role": "assistant", "content": message["content"]})
    document = {**wire.thread, "messages": messages}
    store.put_document(THREAD_KIND, message["id"], orjson.dumps(document), THREAD_LIMIT)
    # The same request answers with the same id: a thread run again (the tool runner's loop
    # a second time) holds its answer under the id the first run had continued. This answer
    # is new, so it may be continued once more.
    store.delete_document(CONTINUED_KIND, message["id"])
    if wire.continues is not None:
        store.put_document(CONTINUED_KIND, wire.continues, b"1", THREAD_LIMIT)


# --- the request ----------------------------------------------------------------------------

_EFFORTS = ("low", "medium", "high", "xhigh", "max")


def _read_output_config(value: object) -> ResponseFormat | None:
    """`output_config` (SDK `OutputConfigParam`): `effort` of its five levels, and `format`,
    the JSON schema the answer follows (what `messages.parse(output_format=Model)` sends)."""
    if value is None:
        return None
    config = _object(value, "output_config")
    _only(config, "output_config", ("effort", "format", "task_budget"))
    if config.get("effort") is not None:
        _literal(config["effort"], "output_config.effort", _EFFORTS)
    if config.get("task_budget") is not None:
        _object(config["task_budget"], "output_config.task_budget")
    form = config.get("format")
    return None if form is None else _read_format(form, "output_config.format")


def _read_format(value: object, path: str) -> ResponseFormat:
    """A JSON output format (`{"type": "json_schema", "schema": {...}}`), from
    `output_config.format` or the structured-outputs beta's top-level `output_format`."""
    form = _object(value, path)
    _only(form, path, ("type", "schema"))
    if form.get("type") is None:
        raise _required(f"{path}.type")
    _literal(form["type"], f"{path}.type", ("json_schema",))
    if form.get("schema") is None:
        raise _required(f"{path}.schema")
    schema = _object(form["schema"], f"{path}.schema")
    return ResponseFormat("json_schema", None, schema, True)


def _read_container(value: object) -> None:
    """`container`: an id, or `{id, skills}` (SDK `ContainerParams`)."""
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, dict):
        raise _wrong("container", "str")
    _only(value, "container", ("id", "skills"))
    _str(value, "id", "container", required=False)
    skills = value.get("skills")
    if skills is None:
        return
    if not isinstance(skills, list):
        raise _wrong("container.skills", "list")
    for i, raw in enumerate(skills):
        at = f"container.skills.{i}"
        skill = _object(raw, at)
        _only(skill, at, ("skill_id", "type", "version"))
        _text(skill, "skill_id", at)
        if skill.get("type") is None:
            raise _required(f"{at}.type")
        _literal(skill["type"], f"{at}.type", ("anthropic", "custom"))
        _str(skill, "version", at, required=False)


def _read_mcp_servers(value: object) -> None:
    """`mcp_servers`: URL server definitions (SDK `BetaRequestMCPServerURLDefinitionParam`)."""
    if value is None:
        return
    if not isinstance(value, list):
        raise _wrong("mcp_servers", "list")
    keys = ("type", "name", "url", "authorization_token", "tool_configuration")
    for i, raw in enumerate(value):
        at = f"mcp_servers.{i}"
        server = _object(raw, at)
        _only(server, at, keys)
        if server.get("type") is None:
            raise _required(f"{at}.type")
        _literal(server["type"], f"{at}.type", ("url",))
        _text(server, "name", at)
        _text(server, "url", at)
        _str(server, "authorization_token", at, required=False)
        if server.get("tool_configuration") is not None:
            _object(server["tool_configuration"], f"{at}.tool_configuration")


def _read_options(body: JSON) -> None:
    """The request's other typed fields, each refused as the API's validator refuses a value
    of the wrong type (the SDK's `MessageCreateParams` give each type)."""
    if body.get("service_tier") is not None:
        _literal(body["service_tier"], "service_tier", ("auto", "standard_only"))
    if body.get("speed") is not None:
        _literal(body["speed"], "speed", ("standard", "fast"))
    _read_container(body.get("container"))
    _cache_control(body, "")
    for key in ("inference_geo", "user_profile_id", "workspace_id"):
        _str(body, key, "", required=False)
    _read_mcp_servers(body.get("mcp_servers"))
    if body.get("diagnostics") is not None:
        diagnostics = _object(body["diagnostics"], "diagnostics")
        _only(diagnostics, "diagnostics", ("previous_message_id",))
        _str(diagnostics, "previous_message_id", "diagnostics", required=False)
    if body.get("context_management") is not None:
        management = _object(body["context_management"], "context_management")
        edits = management.get("edits")
        if edits is not None and not isinstance(edits, list):
            raise _wrong("context_management.edits", "list")


def _read_billing_policy(value: object) -> None:
    """`billing_policy` (SDK `BetaBillingPolicyParam`): who is billed, `self` by default."""
    if value is None:
        return
    policy = _object(value, "billing_policy")
    _only(policy, "billing_policy", ("type", "bill_to"))
    if policy.get("type") is None:
        raise _required("billing_policy.type")
    _literal(policy["type"], "billing_policy.type", ("billing_policy",))
    if policy.get("bill_to") is not None:
        _literal(policy["bill_to"], "billing_policy.bill_to", ("self", "user_profile"))


FALLBACK_CREDIT_BETA = "fallback-credit-2026-07-01"
_FALLBACK_KEYS = ("model", "max_tokens", "thinking", "output_config", "speed")


def _read_fallbacks(value: object, context: ParseContext) -> tuple[str, ...]:
    """`fallbacks`: the API's (SDK `BetaFallbacksParam`: `"default"`, or entries naming a
    model, tried when the model declines) or a gateway's (model names, tried when a call
    fails: answered from them as on chat; under OpenAI's profile, the API's form only)."""
    if value is None or value == "default":
        return ()
    if not isinstance(value, list):
        raise _wrong("fallbacks", "list")
    models = []
    for i, raw in enumerate(value):
        at = f"fallbacks.{i}"
        if context.lenient or not context.refuse_unknown:
            if isinstance(raw, str):
                models.append(raw)
                continue
            if not isinstance(raw, dict):
                raise _wrong(at, "str")
        entry = _object(raw, at)
        _only(entry, at, _FALLBACK_KEYS)
        _text(entry, "model", at)
        if entry.get("max_tokens") is not None:
            _int(entry, "max_tokens", 1)
        if entry.get("thinking") is not None:
            thinking = _object(entry["thinking"], f"{at}.thinking")
            kind = thinking.get("type")
            if kind not in _THINKING_TYPES:
                where = f"{at}.thinking"
                raise (
                    _required(f"{where}.type")
                    if kind is None
                    else _tag(where, kind, _THINKING_TYPES)
                )
        if entry.get("output_config") is not None:
            config = _object(entry["output_config"], f"{at}.output_config")
            _only(config, f"{at}.output_config", ("effort", "format", "task_budget"))
        if entry.get("speed") is not None:
            _literal(entry["speed"], f"{at}.speed", ("standard", "fast"))
    return tuple(models)


def _read_fallback_credit_token(value: object, betas: set[str]) -> bool:
    """`fallback_credit_token`: a refusal's token, or (under its beta) `{token, mode}`."""
    if value is None:
        return False
    if isinstance(value, str):
        return True
    if not isinstance(value, dict) or FALLBACK_CREDIT_BETA not in betas:
        raise _wrong("fallback_credit_token", "str")
    _only(value, "fallback_credit_token", ("token", "mode"))
    _text(value, "token", "fallback_credit_token")
    if value.get("mode") is not None:
        _literal(value["mode"], "fallback_credit_token.mode", ("strict", "best_effort"))
    return True


COMPACT_BETA = "compact-2026-09-04"
MAX_COMPACTION_INSTRUCTIONS = 16_384
# What a compaction request may not be sent with, as the API's documentation lists it.
_NOT_WITH_COMPACTION = ("context_management", "stop_sequences", "output_format")


def _read_compaction_request(body: JSON, betas: set[str], counting: bool) -> bool:
    """`compaction` (SDK `BetaCompactionConfigParam`, the `compact-2026-09-04` beta): the
    request asks for a summary of its conversation, answered as one signed `compaction`
    block. Token counting takes it and counts the conversation as sent."""
    value = body.get("compaction")
    if value is None:
        return False
    if COMPACT_BETA not in betas:
        raise _extra("compaction")
    config = _object(value, "compaction")
    _only(config, "compaction", ("type", "instructions"))
    if config.get("type") is None:
        raise _required("compaction.type")
    _literal(config["type"], "compaction.type", ("summarize",))
    instructions = _str(config, "instructions", "compaction", required=False)
    if instructions is not None and len(instructions) > MAX_COMPACTION_INSTRUCTIONS:
        raise invalid(
            f"compaction.instructions: String should have at most "
            f"{MAX_COMPACTION_INSTRUCTIONS} characters",
            "compaction.instructions",
        )
    if counting:
        return False
    output_config = body.get("output_config")
    formatted = isinstance(output_config, dict) and output_config.get("format") is not None
    for key in _NOT_WITH_COMPACTION:
        if body.get(key) is not None or (key == "output_format" and formatted):
            named = "output_config.format" if key == "output_format" and formatted else key
            raise invalid(f"`compaction` cannot be combined with `{named}`.", key)
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise invalid("`compaction` cannot be combined with a forced `tool_choice`.", "tool_choice")
    return True


_DISPLAYS = ("summarized", "omitted", "updates")


def _thinking_omitted(value: object) -> bool:
    """Whether `thinking.display` (of an `enabled` or `adaptive` config) is `omitted`: the
    answer's thinking block is sent with its signature and no text."""
    if not isinstance(value, dict) or value.get("display") is None:
        return False
    kind = value.get("type")
    if kind not in ("enabled", "adaptive"):
        raise _extra(f"thinking.{kind}.display")
    return _literal(value["display"], f"thinking.{kind}.display", _DISPLAYS) == "omitted"


def _read_thinking(value: object, max_tokens: int | None) -> tuple[bool, bool]:
    """(whether the model thinks, whether thinking has a budget: `enabled`)."""
    if value is None:
        return False, False
    thinking = _object(value, "thinking")
    kind = thinking.get("type")
    if kind not in _THINKING_TYPES:
        raise (
            _required("thinking.type") if kind is None else _tag("thinking", kind, _THINKING_TYPES)
        )
    _only(thinking, f"thinking.{kind}", _THINKING_KEYS[str(kind)])
    if kind != "enabled":
        return kind in ("adaptive", "between_tools"), False
    budget = thinking.get("budget_tokens")
    path = "thinking.enabled.budget_tokens"
    if budget is None:
        raise _required(path)
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise _wrong(path, "int")
    if budget < MIN_THINKING_BUDGET:
        raise invalid(
            f"{path}: Input should be greater than or equal to {MIN_THINKING_BUDGET}", path
        )
    if max_tokens is not None and budget >= max_tokens:
        # Quoted in github.com/ProfSynapse/nexus/issues/17.
        raise invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#max-tokens-and-context-window-size",
            "max_tokens",
        )
    return True, True


# Extended thinking's limits on sampling, in the API's words ("Thinking isn't compatible with
# temperature or top_k modifications", docs.claude.com/en/docs/build-with-claude/extended-
# thinking#important-considerations-when-using-extended-thinking): quoted for temperature in
# github.com/mnfst/modelparams.dev/issues/214, for top_p in github.com/tailcallhq/forgecode/
# pull/3472; top_k's first sentence as github.com/QuantumNous/new-api quotes it, with the
# pointer to the documentation its 2025 wording ends with (github.com/quarkiverse/quarkus-
# langchain4j/issues/1812).
_THINKING_DOCS = (
    "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/"
    "extended-thinking#important-considerations-when-using-extended-thinking"
)
THINKING_TEMPERATURE = (
    "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode. Please "
    "consult our documentation at https://platform.claude.com/docs/en/build-with-claude/"
    "extended-thinking"
)
THINKING_TOP_P = (
    "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled or in "
    f"adaptive mode. {_THINKING_DOCS}"
)
THINKING_TOP_K = (
    f"`top_k` must be unset when thinking is enabled or in adaptive mode. {_THINKING_DOCS}"
)
# Quoted in github.com/BerriAI/litellm/issues/15097 (Sonnet 4.5), github.com/Vali-98/
# ChatterUI/issues/564 (Sonnet 4.6).
ONE_SAMPLER = (
    "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
)


# Opus 4.7 and later: thinking is adaptive only (the API's words, as Claude Code's
# troubleshooting page and github.com/handochan/aelix-ai #258 quote them) and the sampling
# parameters are gone ("`temperature` is deprecated for this model.", github.com/TestPlanIt/
# testplanit/issues/220; `top_p` and `top_k` are refused in the same words, none quoted yet).
ADAPTIVE_ONLY = (
    '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" '
    'and "output_config.effort" to control thinking behavior.'
)


def _check_model_takes(
    model: str,
    budgeted: bool,
    thinks: bool,
    temperature: float | None,
    top_p: float | None,
    top_k: int | None,
) -> None:
    """What the model refuses of a well-formed request: thinking on a model without it
    (github.com/anthropics/claude-code issues 11388, 2245), sampling that thinking does not
    allow, `temperature` with `top_p` on the models that take one of them."""
    entry = lookup(model)
    if thinks and not entry.extended_thinking:
        raise invalid(f"'{model}' does not support thinking.", "thinking")
    if budgeted and not entry.budget_thinking:
        raise invalid(ADAPTIVE_ONLY, "thinking")
    if not entry.sampling:
        for name, value in (("temperature", temperature), ("top_p", top_p), ("top_k", top_k)):
            if value is not None:
                raise invalid(f"`{name}` is deprecated for this model.", name)
    if thinks and temperature is not None and temperature != 1:
        raise invalid(THINKING_TEMPERATURE, "temperature")
    if thinks and top_p is not None and top_p < 0.95:
        raise invalid(THINKING_TOP_P, "top_p")
    if thinks and top_k is not None:
        raise invalid(THINKING_TOP_K, "top_k")
    if entry.one_sampler and temperature is not None and top_p is not None:
        raise invalid(ONE_SAMPLER, "temperature")


def _read_stop_sequences(value: object, lenient: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _wrong("stop_sequences", "list")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _wrong(f"stop_sequences.{i}", "str")
    for item in () if lenient else value:
        if not item.strip():
            # The API's words for "" (github.com/MegaGrindStone/mcp-web-ui/issues/5) and for
            # "\n" (github.com/BerriAI/litellm/issues/3286), once the types are checked.
            problem = "contain non-whitespace" if item else "be non-empty"
            raise invalid(f"stop_sequences: each stop sequence must {problem}", "stop_sequences")
    return tuple(s for s in value if s)


def _read_metadata(value: object) -> None:
    if value is None:
        return
    metadata = _object(value, "metadata")
    for key, item in metadata.items():
        if key != "user_id":
            raise _extra(f"metadata.{key}")
        if item is not None and not isinstance(item, str):
            raise _wrong("metadata.user_id", "str")


def _canonical(body: JSON) -> bytes:
    try:
        return orjson.dumps(
            {k: v for k, v in body.items() if k != "stream"}, option=orjson.OPT_SORT_KEYS
        )
    except (RecursionError, TypeError):
        raise invalid(f"The request body is nested more than {MAX_DEPTH} levels deep.") from None


def _betas(headers: Mapping[str, str]) -> set[str]:
    """The betas the `anthropic-beta` header turns on (comma-separated, as the SDK joins them)."""
    return {beta.strip() for beta in headers.get("anthropic-beta", "").split(",")}


def check_version(headers: Mapping[str, str], lenient: bool) -> None:
    """Refuse an `anthropic-version` the API does not know (one not sent is taken)."""
    version = headers.get("anthropic-version")
    if version is None or version in ANTHROPIC_VERSIONS or lenient:
        return
    if _DATE.fullmatch(version) is None or version <= _NEWEST_VERSION:
        raise invalid(f"anthropic-version: {json.dumps(version)} is not a valid version")


def parse(
    raw: bytes, headers: Mapping[str, str], path: str, context: ParseContext = DEFAULT_CONTEXT
) -> Conversation:
    """Validate a `POST /v1/messages` body as the API does; RequestError(400) naming the
    field. `count_tokens` bodies (no `max_tokens`, no sampling) are read by the same rules."""
    check_version(headers, context.lenient)
    body = load_body(raw)
    counting = path == COUNT_TOKENS_PATH
    fields = _COUNT_FIELDS if counting else _FIELDS
    for key in body:
        if key not in fields:
            raise _extra(key)
    sent = body
    body, threaded, continues = _read_thread(body, context.store, context.lenient)
    model = _text(body, "model", "")
    max_tokens = None
    if not counting:
        if body.get("max_tokens") is None:
            raise _required("max_tokens")
        max_tokens = _int(body, "max_tokens", 1)
        cap = output_limit(lookup(model), context)
        if cap is not None and max_tokens is not None and max_tokens > cap:
            # Quoted in github.com/anthropics/claude-code/issues/11302.
            raise invalid(
                f"max_tokens: {max_tokens} > {cap}, which is the maximum allowed number of "
                f"output tokens for {model}",
                "max_tokens",
            )
    betas = _betas(headers)
    roles = (*_ROLES, "system") if SYSTEM_MESSAGE_BETAS & betas else _ROLES
    messages, turns = _read_messages(body.get("messages"), context.lenient, roles)
    system = _read_system(body.get("system"))
    tools, server_tools = _read_tools(body.get("tools"), context.lenient)
    if any(turn.changes or turn.listings for turn in turns):
        tools, server_tools = _apply_tool_changes(
            turns, tools, server_tools, _mcp_names(body), betas, context.lenient
        )
    compacting = _read_compaction_request(body, betas, counting)
    tool_choice, parallel, forced = _read_tool_choice(
        body.get("tool_choice"), tools, context.lenient
    )
    thinks, budgeted = _read_thinking(body.get("thinking"), max_tokens)
    omitted = _thinking_omitted(body.get("thinking"))
    if budgeted and forced:
        # The API's words, quoted in many public reports of this refusal.
        raise invalid("Thinking may not be enabled when tool_choice forces tool use.")
    if not context.lenient:
        _check_results_first(turns)
        _check_breakpoints(body)
    if not counting and not context.lenient:
        _check_thinking_blocks(turns, thinks)
    if budgeted and not counting and not context.lenient:
        _check_thinking_kept(turns)
    if compacting and turns[-1].role == "assistant" and turns[-1].calls and not context.lenient:
        # The SDK's words (`CompactionIncompleteTurnError`), with its `error_code`.
        raise RequestError(
            400,
            "The compaction request ends on an `assistant` turn that is not finished.",
            code="compaction_incomplete_turn",
            param="messages",
        )
    if turns[-1].role == "assistant" and not counting and not context.lenient and not compacting:
        _check_prefill_end(turns[-1])
        if not lookup(model).prefill:
            # The API's words (github.com/Tarquinen/opencode-dynamic-context-pruning/issues/
            # 520, claude-sonnet-4-6): the 4.6 models take no prefill.
            raise invalid(
                "This model does not support assistant message prefill. The conversation must "
                "end with a user message.",
                "messages",
            )
    stream = False
    if not counting:
        value = body.get("stream")
        if value is not None and not isinstance(value, bool):
            raise _wrong("stream", "bool")
        stream = bool(value)
        temperature = _number(body, "temperature", 0, 1)
        top_p = _number(body, "top_p", 0, 1)
        top_k = _int(body, "top_k", 0)
        _read_metadata(body.get("metadata"))
        if not context.lenient:
            _check_model_takes(model, budgeted, thinks, temperature, top_p, top_k)
    stop = _read_stop_sequences(body.get("stop_sequences"), context.lenient)
    _read_options(body)
    form, at = _read_output_config(body.get("output_config")), "output_config.format"
    if form is None and body.get("output_format") is not None:
        form, at = _read_format(body["output_format"], "output_format"), "output_format"
    if form is not None and not context.lenient:
        problem = format_problem(form.schema)
        if problem is not None:
            raise invalid(f"{at}.schema: {problem}", f"{at}.schema")
    strict = [tool.parameters for tool in tools if tool.strict] + ([form.schema] if form else [])
    if strict and not context.lenient and (problem := optional_problem(strict)) is not None:
        raise invalid(problem, "tools")
    fallbacks = _read_fallbacks(body.get("fallbacks"), context)
    _read_billing_policy(body.get("billing_policy"))
    credit = _read_fallback_credit_token(body.get("fallback_credit_token"), betas)
    if credit and body.get("fallbacks") is not None:
        # Not found in public reports: the documented rule, in the validator's style.
        raise invalid(
            "`fallback_credit_token` cannot be combined with `fallbacks`.", "fallback_credit_token"
        )
    if compacting:  # the model only summarizes: no tool, no thinking
        tools, tool_choice, thinks = (), "none", False
    if system:
        messages.insert(0, Message("system", system))
    messages_t = tuple(messages)
    last_user, system_text, turn = summarize(messages_t)
    conversation = Conversation(
        model=model,
        messages=messages_t,
        body=sent,
        api="messages",
        path=path,
        headers=headers,
        api_key=headers.get("x-api-key") or api_key_of(headers),
        provider=provider_of(model, headers),
        stream=stream,
        max_tokens=max_tokens,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_format=form or ResponseFormat(),
        fallbacks=tuple(fallbacks),
        reasoning=thinks,
        canonical=_canonical(body),
        last_user=last_user,
        system=system_text,
        turn=turn,
        wire=Wire(
            server_tools,
            thinks,
            _thread_held(body) if threaded else None,
            continues=continues,
            compacting=compacting,
            fallback_credit=credit,
            thinking_omitted=omitted,
            diagnostics=body.get("diagnostics") is not None,
            context_management=body.get("context_management") is not None,
        ),
    )
    if not counting and not context.lenient:
        _check_context(conversation, lookup(model).context_window)
    return conversation


def _check_prefill_end(turn: _Turn) -> None:
    """A final assistant message (a prefill) whose text ends in whitespace is refused, in the
    API's words: "messages: final assistant content cannot end with trailing whitespace"
    (github.com/tailcallhq/forgecode/issues/1872, anomalyco/opencode issue 1295)."""
    last = turn.texts[-1] if turn.kinds and turn.kinds[-1] == "text" else ""
    if last != last.rstrip():
        raise invalid(
            "messages: final assistant content cannot end with trailing whitespace", "messages"
        )


def _thread_held(body: JSON) -> JSON:
    """What a thread holds of a request: its system, tools and messages (the held ones first)."""
    return {key: body.get(key) for key in ("system", "tools", "messages")}


def _check_context(conversation: Conversation, window: int) -> None:
    """The API's refusal of a prompt over the model's context window: "prompt is too long:
    219898 tokens > 200000 maximum" (github.com/earendil-works/pi issue 102). Counted as
    `usage` counts it (and `count_tokens`, which answers for any length)."""
    texts = [m.text for m in conversation.messages]
    schemas = [t.parameters for t in conversation.tools]
    framing = 4 * len(texts) + 3 + (len(orjson.dumps(schemas)) if schemas else 0)
    if not may_exceed(texts, framing, window):
        return
    prompt = prompt_tokens(conversation)
    if prompt > window:
        raise invalid(f"prompt is too long: {prompt} tokens > {window} maximum")


def count_tokens(conversation: Conversation, created: int = 0, seed: int = 0) -> Body:
    """`POST /v1/messages/count_tokens`: the prompt's tokens, counted as `usage` counts them
    when the model answers the same messages. With `context_management`, also the count
    before its edits (`original_input_tokens`, SDK `BetaCountTokensContextManagementResponse`):
    the same, as no edit's trigger is reached here."""
    counted: JSON = {"input_tokens": prompt_tokens(conversation)}
    if conversation.body.get("context_management") is not None:
        counted["context_management"] = {"original_input_tokens": counted["input_tokens"]}
    return Body(200, JSON_TYPE, orjson.dumps(counted), offsets=(0.0,))


# "The Claude API includes the following headers in every response: request-id, ...
# anthropic-organization-id: The organization ID associated with the API key used in the
# request" (the API overview page): one organization, a UUID as the API's are, for every key;
# none on a 401 (an invalid key belongs to none: the API's "invalid x-api-key" answer carries
# request-id alone, as DataDog/dd-trace-py's cassette anthropic_completion_invalid_api_key
# recorded it).
ORGANIZATION_ID = "b0bd6b51-ccc1-5c64-a955-0e14f39e3616"


def request_id(seed: int, count: int) -> str:
    """`req_011C…`: the API's request ids, base58 after a `011C` prefix (28 characters)."""
    return "req_011C" + messages_answer.base58(seed, count, "request-id", length=20)


DIALECT = Dialect(
    api="messages",
    paths=(PATH,),
    parse=parse,
    remember=remember,
    answer=messages_answer.answer,
    failure=messages_answer.failure,
    refusal=messages_answer.refusal,
    headers=messages_answer.headers,
    request_id_header=b"request-id",
    account_headers=((b"anthropic-organization-id", ORGANIZATION_ID.encode()),),
    key_headers=("x-api-key",),
    processing_ms=False,
    refusal_headers=messages_answer.headers,
    request_id=request_id,
    reads_state=lambda raw: b'"thread"' in raw,  # a thread continued from the store
    restate=messages_answer.restate,
    open_limits=messages_answer.open_limits,
    stamp=messages_answer.stamped,
)
# POST /v1/messages/count_tokens: the same wire, answered from the request alone.
COUNT_TOKENS = replace(DIALECT, paths=(COUNT_TOKENS_PATH,), direct=count_tokens)
