"""Anthropic's wire for an answer: the `message` object, its event stream, its error shape
and its headers.

Written as 2025–2026 recordings of api.anthropic.com write them (e.g. github.com/pydantic/
pydantic-ai, tests/models/cassettes/test_anthropic/test_anthropic_model_thinking_part_stream
.yaml): `model` first in the message, usage with `cache_creation`, `service_tier` and
`inference_geo`; each event an `event:`/`data:` pair, a `ping` after the first
`content_block_start`, and most events' JSON padded with spaces before its last brace (the
API evens out event lengths so).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

from mockllm.catalogue import lookup
from mockllm.conversation import JSON, Conversation, derive_seed
from mockllm.dialects import cache_read_input_tokens
from mockllm.errors import RequestError
from mockllm.render import Rendered, RenderedChoice, RenderedToolCall
from mockllm.rules import ErrorSpec, Fault
from mockllm.wire import JSON_TYPE, SSE_TYPE, Body, malformed, whole_json

if TYPE_CHECKING:
    from mockllm.dialects import Headers

_dumps = orjson.dumps
_SIGNING_KEY = b"mockllm thinking"
_SIGNATURE_HEAD = b"\x12\x08mockllm\x1a"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

# Error types by status (docs.claude.com/en/api/errors); other 4xx are
# invalid_request_error, other 5xx api_error.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_TYPES = frozenset(_ERROR_TYPES.values())
RATE_LIMITS_DOC = "https://docs.claude.com/en/api/rate-limits"
# The API's own words where recordings show them ("invalid x-api-key", "Overloaded",
# "Internal server error"); the docs' descriptions of a status elsewhere.
_MESSAGES = {
    400: "Invalid request.",
    401: "invalid x-api-key",
    402: "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
    "Billing to upgrade or purchase credits.",
    403: "Your API key does not have permission to use the specified resource.",
    404: "The requested resource was not found.",
    408: "Request timed out.",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "Number of requests has exceeded your per-minute rate limit",
    500: "Internal server error",
    504: "Request timed out.",
    529: "Overloaded",
}
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# A server tool's result block when the tool cannot run (this server runs none of them), as
# the API writes it when the tool is unavailable.
_UNAVAILABLE = {
    "web_search": ("web_search_tool_result", "web_search_tool_result_error"),
    "web_fetch": ("web_fetch_tool_result", "web_fetch_tool_result_error"),
    "code_execution": ("code_execution_tool_result", "code_execution_tool_result_error"),
    "tool_search_tool_regex": ("tool_search_tool_result", "tool_search_tool_result_error"),
    "tool_search_tool_bm25": ("tool_search_tool_result", "tool_search_tool_result_error"),
    "advisor": ("advisor_tool_result", "advisor_tool_result_error"),
}
_SERVER_USAGE = {"web_search": "web_search_requests", "web_fetch": "web_fetch_requests"}
_PADDED = frozenset(
    {"message_start", "content_block_start", "content_block_delta", "content_block_stop"}
    | {"message_delta"}
)


def base58(*parts: bytes | str | int, length: int) -> str:
    """`length` base58 characters derived from `parts` (the same parts, the same text)."""
    number = 0
    for k in range(math.ceil(length * 5.86 / 64)):
        number = number << 64 | derive_seed(*parts, k)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 58)
        chars.append(_BASE58[digit])
    return "".join(chars)


def message_id(rendered: Rendered) -> str:
    """`msg_01…`, 28 characters, as the API's."""
    return "msg_01" + base58(rendered.id, "message", length=22)


# --- the message ----------------------------------------------------------------------------


def _server_tools(conversation: Conversation) -> frozenset[str]:
    wire = conversation.wire
    return wire.server_tools if wire is not None else frozenset()


def _input(call: RenderedToolCall) -> JSON:
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _server_id(call: RenderedToolCall) -> str:
    return "srvtoolu_01" + base58(call.id, "server", length=22)


def _thinking(conversation: Conversation) -> bool:
    wire = conversation.wire
    return bool(wire is not None and wire.thinking)


def _omitted(conversation: Conversation) -> bool:
    """Whether the thinking is sent without its text (`display: "omitted"`): the block then
    carries the signature of no text, which is what comes back with it."""
    wire = conversation.wire
    return bool(wire is not None and wire.thinking_omitted)


def _compacting(conversation: Conversation) -> bool:
    wire = conversation.wire
    return bool(wire is not None and wire.compacting)


def stop_reason(choice: RenderedChoice | None, conversation: Conversation) -> str:
    if _compacting(conversation):
        return "compaction"
    if choice is None:
        return "end_turn"
    if choice.refusal is not None:
        return "refusal"
    if choice.finish_reason == "stop" and choice.stop_sequence is not None:
        return "stop_sequence"
    reason = _STOP_REASONS.get(choice.finish_reason, "end_turn")
    if reason == "tool_use" and choice.tool_calls:  # a rule's tool_calls: tool_use as given
        server = _server_tools(conversation)
        if all(c.name in server for c in choice.tool_calls):
            return "end_turn"  # the API ran (or failed to run) its own tools: the turn ends
    return reason


def _blocks(choice: RenderedChoice, conversation: Conversation) -> list[JSON]:
    """The content blocks, in the order the API writes them: thinking, text, tool uses (or a
    compaction request's one block)."""
    if _compacting(conversation):
        return [compaction_block(choice.content)]
    blocks: list[JSON] = []
    if choice.reasoning is not None:
        text = "" if _omitted(conversation) else choice.reasoning
        blocks.append({"type": "thinking", "thinking": text, "signature": signature_for(text)})
    spoken = choice.refusal if choice.refusal is not None else choice.content
    said: list[JSON] = [{"type": "text", "text": spoken}] if spoken else []
    calls: list[JSON] = []
    server = _server_tools(conversation)
    for call in choice.tool_calls:
        if call.name in server:
            calls += _server_blocks(call)
        else:
            calls.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": _input(call),
                    "caller": DIRECT,
                }
            )
    return blocks + (calls + said if choice.calls_first else said + calls)


def _server_blocks(call: RenderedToolCall) -> list[JSON]:
    use_id = _server_id(call)
    kind, error = _UNAVAILABLE.get(call.name, _UNAVAILABLE["web_search"])
    return [
        {"type": "server_tool_use", "id": use_id, "name": call.name, "input": _input(call)},
        {
            "type": kind,
            "tool_use_id": use_id,
            "content": {"type": error, "error_code": "unavailable"},
        },
    ]


def compaction_block(summary: str | None, *, opening: bool = False) -> JSON:
    """The `compaction` block a compaction request is answered with: the summary (the reply's
    text; none, a failed compaction, when the reply has no text) and its signature, checked
    when the block is sent back. `opening`: as `content_block_start` carries it, before the
    one `compaction_delta` that brings the summary."""
    return {
        "type": "compaction",
        "content": None if opening or not summary else summary,
        "encrypted_content": None,
        "signature": compaction_signature(summary) if summary else None,
    }


def compaction_signature(summary: str) -> str:
    return signature_for("compaction\x00" + summary)


def compaction_stands(signature: str, summary: str) -> bool:
    """Whether a compaction block sent back keeps the signature its summary was given (or
    one of the API's own, which only it can check)."""
    return signature_stands(signature, "compaction\x00" + summary)


def signature_for(thinking: str) -> str:
    """The `signature` of a thinking block this server wrote: opaque base64, as the API's,
    and checkable when the block is sent back."""
    mac = hmac.new(_SIGNING_KEY, thinking.encode(), hashlib.sha256).digest()
    body = _SIGNATURE_HEAD + bytes([len(mac)]) + mac
    return base64.b64encode(body + hashlib.sha512(mac).digest()).decode()


def signature_stands(signature: str, thinking: str) -> bool:
    """Whether a thinking block sent back keeps a signature the API would take: the one this
    server gave its text, or one the API itself wrote (a protobuf message, as each of its
    signatures is, that only it can check: a recording passes it on, a cassette's replay
    gives it back). Anything else (`AAAA`, an edited text) is no signature of either."""
    if is_ours(signature):
        return signature == signature_for(thinking)
    try:
        return base64.b64decode(signature, validate=True)[:1] == b"\x12"
    except ValueError:
        return False


def is_ours(signature: str) -> bool:
    """Whether a signature is one this server writes (others are the API's: not checked)."""
    try:
        return base64.b64decode(signature, validate=True).startswith(_SIGNATURE_HEAD)
    except ValueError:
        return False


def usage(rendered: Rendered, conversation: Conversation, *, start: bool = False) -> JSON:
    """`usage` of the message (`start`: as `message_start` carries it, one output token). A
    compaction request's top-level counters are zero: its tokens are in `iterations`."""
    cached = cache_read_input_tokens(rendered)
    if _compacting(conversation):
        out: JSON = {
            "input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 0,
        }
    else:
        out = {
            "input_tokens": rendered.prompt_tokens - cached,  # Anthropic's: the uncached part
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 1 if start else rendered.completion_tokens,
        }
    if not start:
        out.update(_usage_details(rendered, conversation))
    out["service_tier"] = "standard"
    out["inference_geo"] = _inference_geo(rendered.model, conversation)
    return out


def _inference_geo(model: str, conversation: Conversation) -> str:
    """Where the model ran: the request's `inference_geo`, else `global`, on the models that
    take one (Opus 4.6 and later: the catalogue's undated Claude ids); `not_available` on
    the older ones, as recordings show (claude-sonnet-4-6: "global", claude-haiku-4-5:
    "not_available") and the data residency page documents."""
    entry = lookup(model)
    if not entry.known or not entry.id.startswith("claude") or _DATED.match(entry.id):
        return "not_available"
    asked = conversation.body.get("inference_geo")
    return asked if isinstance(asked, str) else "global"


def _usage_details(rendered: Rendered, conversation: Conversation) -> JSON:
    details: JSON = {}
    wire = conversation.wire
    if wire is not None and wire.compacting:
        cached = cache_read_input_tokens(rendered)
        details["iterations"] = [
            {
                "type": "compaction",
                "input_tokens": rendered.prompt_tokens - cached,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": cached,
                "output_tokens": rendered.completion_tokens,
            }
        ]
    if wire is not None and wire.fallback_credit:
        # The token's outcome (this server mints no token and bills nothing: redeemed).
        details["fallback_credit"] = {"status": {"type": "redeemed"}}
    if _thinking(conversation) or rendered.reasoning_tokens:
        details["output_tokens_details"] = {"thinking_tokens": rendered.reasoning_tokens}
    server = _server_tools(conversation)
    calls = rendered.choices[0].tool_calls if rendered.choices else ()
    used = [c.name for c in calls if c.name in server]
    if used:
        details["server_tool_use"] = {
            name: used.count(tool) for tool, name in _SERVER_USAGE.items()
        }
    return details


# Who called a tool: the model itself (`caller` of every `tool_use` block since 2026, as the
# API's recordings show it; a call from code execution would name that tool).
DIRECT: JSON = {"type": "direct"}


def _stop_details(reason: str) -> JSON | None:
    """`stop_details`: null, or for a refusal its type, with no category or explanation
    (written after `stop_sequence`, as 2026 recordings of the API show it)."""
    if reason != "refusal":
        return None
    return {"type": "refusal", "category": None, "explanation": None}


def message_object(rendered: Rendered, conversation: Conversation) -> JSON:
    """The finished `message` object."""
    choice = rendered.choices[0] if rendered.choices else None
    reason = stop_reason(choice, conversation)
    message = {
        "model": resolved_model(rendered.model),
        "id": message_id(rendered),
        "type": "message",
        "role": "assistant",
        "content": _blocks(choice, conversation) if choice is not None else [],
        "stop_reason": reason,
        "stop_sequence": choice.stop_sequence if reason == "stop_sequence" and choice else None,
        "stop_details": _stop_details(reason),
        "usage": usage(rendered, conversation),
    }
    _add_requested(message, conversation, APPLIED)
    return message


# The edits `context_management` applied: none (no edit's trigger is reached here).
APPLIED: JSON = {"applied_edits": []}


def _add_requested(message: JSON, conversation: Conversation, edits: JSON | None) -> None:
    """What the request asked for, after `usage`: `context_management` (its applied edits;
    null in `message_start`, whose `message_delta` then brings them), as answers to requests
    with it show, and `diagnostics` (`diagnostics: {previous_message_id}`): null, "when no
    prompt-cache divergence was detected", as this server detects none (Claude Code's
    recorded messages carry it so)."""
    wire = conversation.wire
    if wire is not None and wire.context_management:
        message["context_management"] = edits
    if wire is not None and wire.diagnostics:
        message["diagnostics"] = None


# --- the stream -----------------------------------------------------------------------------


_ENDS = tuple(b" " * n + b"}\n\n" for n in range(16))  # padding, the last brace, the blank line
_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT = b',"delta":{"type":"text_delta","text":'
_THINKING = b',"delta":{"type":"thinking_delta","thinking":'
_JSON_PIECE = b',"delta":{"type":"input_json_delta","partial_json":'


class _Events:
    """The stream's events, each `event: T` then `data: {"type": T, …}`. Delta events, the
    most of them, are spliced into pre-encoded bytes (a dict per delta through orjson cost
    four times as much)."""

    def __init__(self, salt: str) -> None:
        self.events: list[bytes] = []
        self.due: list[float] = []
        # 128 draws of 0-15 from one digest, taken in turn by the padded events.
        digest = hashlib.blake2b(salt.encode(), digest_size=64).digest()
        self.pads = [n for byte in digest for n in (byte >> 4, byte & 15)]

    def _padding(self) -> int:
        return self.pads[len(self.events) & 127]

    def add(self, at: float, data: JSON) -> bytes:
        kind: str = data["type"]
        payload = _dumps(data)
        if kind in _PADDED:
            end = _ENDS[self._padding()]
        else:
            end = b"}\n\n"
        event = b"event: " + kind.encode() + b"\ndata: " + payload[:-1] + end
        self.events.append(event)
        self.due.append(at)
        return event

    def delta(self, at: float, index: int, head: bytes, value: str) -> bytes:
        """A `content_block_delta` whose delta is `head` (its type, the value's key) and
        `value`."""
        event = _DELTA + str(index).encode() + head + _dumps(value) + b"}" + _ENDS[self._padding()]
        self.events.append(event)
        self.due.append(at)
        return event

    def ping(self, at: float) -> None:
        self.events.append(b'event: ping\ndata: {"type": "ping"}\n\n')
        self.due.append(at)


def _tool_fragments(call: RenderedToolCall, cut: bool) -> tuple[str, ...]:
    """The `input_json_delta` pieces of a tool's input: the rendered fragments of a JSON
    object (a cut one too, as a model stopped by max_tokens leaves it), else `{}`."""
    if cut or _input(call) or call.arguments.strip() in ("{}", ""):
        return call.fragments if call.arguments.strip() else ("{}",)
    return ("{}",)


def stream(rendered: Rendered, conversation: Conversation, fault: Fault | None = None) -> Body:
    """The events of a streamed message, each with the offset it is due at."""
    out = _Events(rendered.id)
    offsets = rendered.offsets
    choice = rendered.choices[0] if rendered.choices else None
    opening: JSON = {
        "model": resolved_model(rendered.model),
        "id": message_id(rendered),
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "usage": usage(rendered, conversation, start=True),
    }
    _add_requested(opening, conversation, None)
    first = offsets[0] if offsets else 0.0
    out.add(first, {"type": "message_start", "message": opening})
    cut_at = None
    if fault is not None:
        if fault.error_after_tokens is not None:
            cut_at = fault.error_after_tokens
        elif fault.empty_choices_error:
            cut_at = 0
    ticks = 0  # counted deltas written
    abort_after = None
    pinged = False
    broken = False

    def tick_at() -> float:
        return offsets[min(ticks, len(offsets) - 1)] if offsets else 0.0

    def last_at() -> float:
        return offsets[min(max(ticks - 1, 0), len(offsets) - 1)] if offsets else 0.0

    def start(index: int, block: JSON) -> None:
        nonlocal pinged
        at = tick_at()
        out.add(at, {"type": "content_block_start", "index": index, "content_block": block})
        if not pinged:
            out.ping(at)
            pinged = True

    def delta(index: int, head: bytes, value: str) -> bool:
        """One counted delta; False once the fault's cut point is reached."""
        nonlocal ticks, abort_after
        if cut_at is not None and ticks >= cut_at:
            return False
        event = out.delta(tick_at(), index, head, value)
        ticks += 1
        if fault is not None and fault.malformed_chunk_at == ticks:
            out.events[-1] = malformed(event)
        if fault is not None and fault.disconnect_after_tokens == ticks:
            abort_after = len(out.events)
        return True

    def stop(index: int) -> None:
        out.add(last_at(), {"type": "content_block_stop", "index": index})

    index = 0
    if _compacting(conversation):
        summary = choice.content if choice is not None else ""
        start(index, compaction_block(summary, opening=True))
        if cut_at is not None and cut_at <= 0:
            broken = True
        else:  # the summary whole, in one delta
            summary_delta: JSON = {
                "type": "compaction_delta",
                "content": summary or None,
                "encrypted_content": None,
            }
            data = {"type": "content_block_delta", "index": index, "delta": summary_delta}
            out.add(last_at(), data)
            stop(index)
        choice = None
    if choice is not None and choice.reasoning is not None:
        start(index, {"type": "thinking", "thinking": "", "signature": ""})
        omitted = _omitted(conversation)
        for piece in () if omitted else choice.reasoning_deltas:
            if not delta(index, _THINKING, piece):
                broken = True
                break
        if not broken:
            signed = "" if omitted else choice.reasoning
            signature = {"type": "signature_delta", "signature": signature_for(signed)}
            out.add(last_at(), {"type": "content_block_delta", "index": index, "delta": signature})
            stop(index)
            index += 1

    def text(index: int) -> int:
        """The text block, if any; the next block's index."""
        nonlocal broken
        assert choice is not None
        spoken = choice.refusal if choice.refusal is not None else choice.content
        if not spoken or broken:
            return index
        start(index, {"type": "text", "text": ""})
        for piece in choice.deltas:
            if not delta(index, _TEXT, piece):
                broken = True
                return index
        stop(index)
        return index + 1

    def calls(index: int) -> int:
        """The tool uses (a server tool's with its result); the next block's index."""
        nonlocal broken
        assert choice is not None
        server = _server_tools(conversation)
        cut = choice.finish_reason == "length"
        for call in choice.tool_calls if not broken else ():
            is_server = call.name in server
            use_id = _server_id(call) if is_server else call.id
            kind = "server_tool_use" if is_server else "tool_use"
            opening_block: JSON = {"type": kind, "id": use_id, "name": call.name, "input": {}}
            if not is_server:
                opening_block["caller"] = DIRECT
            start(index, opening_block)
            out.delta(tick_at(), index, _JSON_PIECE, "")
            for piece in _tool_fragments(call, cut):
                if not delta(index, _JSON_PIECE, piece):
                    broken = True
                    return index
            stop(index)
            index += 1
            if is_server:
                result = _server_blocks(call)[1]
                opened = {"type": "content_block_start", "index": index, "content_block": result}
                out.add(last_at(), opened)
                stop(index)
                index += 1
        return index

    if choice is not None:
        parts = (calls, text) if choice.calls_first else (text, calls)
        for part in parts:
            index = part(index)
    if not pinged:
        out.ping(first)
    last = out.due[-1]
    if cut_at is not None:
        assert fault is not None
        out.events.append(error_event(fault.error or ErrorSpec(500)))
        out.due.append(last)
    else:
        reason = stop_reason(choice, conversation)
        final_usage = {
            key: value for key, value in usage(rendered, conversation).items() if key in _FINAL
        }
        sequence = choice.stop_sequence if reason == "stop_sequence" and choice else None
        out.add(
            last,
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": reason,
                    "stop_sequence": sequence,
                    "stop_details": _stop_details(reason),
                },
                "usage": final_usage,
                **_delta_edits(conversation),
            },
        )
        out.add(last, {"type": "message_stop"})
    if fault is not None and fault.disconnect_after_tokens == 0:
        abort_after = 3 if pinged else 1  # message_start, the first block's start, ping
    return Body(
        200, SSE_TYPE, events=tuple(out.events), offsets=tuple(out.due), abort_after=abort_after
    )


def _delta_edits(conversation: Conversation) -> JSON:
    """The final `message_delta`'s `context_management`, after its usage, for a request with
    it (as Claude Code's streams show it)."""
    wire = conversation.wire
    return {"context_management": APPLIED} if wire is not None and wire.context_management else {}


# What the final `message_delta` carries of the usage (not the cache breakdown, tier or geo).
_FINAL = frozenset(
    {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"}
    | {"output_tokens_details", "server_tool_use", "iterations", "fallback_credit"}
)


_ERROR_EVENT = b"event: error\ndata: "


def error_event(spec: ErrorSpec) -> bytes:
    """`event: error` mid-stream, as the API sends an overload after a 200 (a rendered
    answer's, or a recording's that a rule breaks); its request id is the exchange's,
    added by `stamped` once the exchange has one."""
    return _ERROR_EVENT + _dumps(_error(spec.status, spec.type, _message(spec))) + b"\n\n"


def stamped(body: Body, request_id: str) -> Body:
    """An answer a fault broke, its error naming the request as the API's errors do, in a
    body or in a stream's `event: error` (the latter since 2026:
    `..."message":"Overloaded"},"request_id":"req_011Ce3Hw..."}`, as karthink/gptel#1512
    quotes one; recordings of 2025 had none): the same id as the `request-id` header.
    Other bodies are returned as they are."""
    if body.events:
        if not body.events[-1].startswith(_ERROR_EVENT):
            return body
        last = _named(body.events[-1][: -len(b"\n\n")], request_id) + b"\n\n"
        return replace(body, events=(*body.events[:-1], last))
    if body.status < 400 or not body.body.endswith(b"}") or b'"request_id"' in body.body:
        return body
    return replace(body, body=_named(body.body, request_id))


def _named(error: bytes, request_id: str) -> bytes:
    """An error object's JSON with `request_id` last, as the API writes it."""
    return error[:-1] + b',"request_id":' + _dumps(request_id) + b"}"


def whole(rendered: Rendered, conversation: Conversation, fault: Fault | None = None) -> Body:
    """A non-streaming message, with the non-streaming form of a fault."""
    delay = rendered.offsets[-1] if rendered.offsets else 0.0
    if fault is not None and (fault.error_after_tokens is not None or fault.empty_choices_error):
        return failure(fault.error or ErrorSpec(500), delay)
    data = _dumps(message_object(rendered, conversation))
    return whole_json(data, delay, fault)


def answer(
    rendered: Rendered, conversation: Conversation, created: int, fault: Fault | None
) -> Body:
    """The bytes of a successful answer: a message, or its events (`created` is not on
    Anthropic's wire)."""
    if conversation.stream:
        return stream(rendered, conversation, fault)
    return whole(rendered, conversation, fault)


# --- errors ---------------------------------------------------------------------------------


def error_type(status: int, given: str | None = None) -> str:
    """The error's `type`: the one the status implies when none is given, or when the one
    given is OpenAI's (a scenario shared by every family: `insufficient_quota` is a
    `billing_error` here, OpenAI's catch-all `invalid_request_error` on a 404 a
    `not_found_error`); else the one given (Anthropic's, or one of the scenario's own)."""
    implied = _ERROR_TYPES.get(status) or (
        "api_error" if status >= 500 else "invalid_request_error"
    )
    if given is None or given in _OPENAI_TYPES and given != implied:
        return implied
    return given


# The error types OpenAI's API writes (`error.type`), which name no Anthropic type.
_OPENAI_TYPES = frozenset(
    ("invalid_request_error", "insufficient_quota", "requests", "tokens", "server_error",
     "rate_limit_exceeded", "engine_overloaded_error", "access_terminated", "invalid_api_key",
     "model_not_found", "billing_not_active", "content_filter")
)  # fmt: skip


_MODEL_NAMED = re.compile(r"[`'](.+?)[`']")


def _message(spec: ErrorSpec) -> str:
    if spec.code == "model_not_found" and spec.message:
        # The API names a model it does not know as `model: <id>` (not_found_error).
        found = _MODEL_NAMED.search(spec.message)
        if found:
            return f"model: {found.group(1)}"
    if spec.message:
        return spec.message
    return _MESSAGES.get(spec.status) or (
        "Internal server error" if spec.status >= 500 else "Invalid request."
    )


# Refusals the SDK tells apart by `error.details.error_code` (its `ERROR_CLASSES`: a thread
# not found is `ThreadNotFoundError`, which the thread helpers recover from).
DETAILED_CODES = frozenset(
    {
        "thread_not_found",
        "thread_already_continued",
        "thread_unsupported_request",
        "request_body_encoding_unsupported",
        "request_body_encoding_invalid",
        "request_body_too_large_after_decoding",
        "compaction_block_misplaced",
        "compaction_content_mismatch",
        "compaction_incomplete_turn",
        "compaction_signature_invalid",
        "tool_reference_unresolved",
    }
)
# The body-encoding refusals as the SDK's error classes name them (400 for an encoding the
# API does not take, where the OpenAI families say 415).
_ENCODING_CODES = {
    "unsupported_content_encoding": (400, "request_body_encoding_unsupported"),
    "invalid_body_encoding": (400, "request_body_encoding_invalid"),
    "request_body_too_large_after_decoding": (413, "request_body_too_large_after_decoding"),
}


def _error(
    status: int, given: str | None, message: str, request_id: str = "", code: str | None = None
) -> JSON:
    # Errors from the model's side carry `details` (null) first, as 2026 recordings of 500
    # and 529 answers show; a refusal at the door does not, unless it names its cause.
    kind = error_type(status, given)
    error: JSON = {"details": None} if status >= 500 else {}
    if code in DETAILED_CODES:
        error["details"] = {"error_code": code}
    error.update({"type": kind, "message": message})
    body: JSON = {"type": "error", "error": error}
    if request_id:
        body["request_id"] = request_id
    return body


def failure(spec: ErrorSpec, delay: float = 0.0, request_id: str = "") -> Body:
    """An error reply in Anthropic's shape, with defaults by status."""
    body = _dumps(_error(spec.status, spec.type, _message(spec), request_id))
    return Body(spec.status, JSON_TYPE, body, offsets=(delay,))


def refusal(exc: RequestError, request_id: str = "") -> bytes:
    message = _default_profile_words(exc) or exc.message
    return _dumps(_error(exc.status, exc.type, message, request_id, exc.code))


def restate(exc: RequestError) -> RequestError:
    """The default profile's refusal as the Messages API numbers it: out of credits is a
    400 `invalid_request_error` ("Your credit balance is too low to access the Anthropic
    API…", not retried: anthropics/claude-quickstarts issue 229, claude-code issue 4684),
    where the profile, speaking for OpenAI, says 429."""
    if exc.code in _ENCODING_CODES:
        status, code = _ENCODING_CODES[exc.code]
        return RequestError(status, exc.message, code=code, headers=exc.headers)
    if exc.from_profile != ("openai", "out_of_credits"):
        return exc
    kept = tuple((k, v) for k, v in exc.headers if k.lower() != "retry-after")
    restated = RequestError(
        400,
        _MESSAGES[402],
        type="invalid_request_error",
        code=exc.code,
        param=exc.param,
        headers=kept,
        from_profile=exc.from_profile,
    )
    restated.reason = exc.reason
    return restated


def _default_profile_words(exc: RequestError) -> str | None:
    """Anthropic's words for a refusal of the default profile, which words them for OpenAI
    (a gateway profile's own words are kept)."""
    if exc.from_profile is None or exc.from_profile[0] != "openai":
        return None
    kind = exc.from_profile[1]
    if kind == "invalid_key":
        return _MESSAGES[401]
    if kind == "missing_key":
        return "x-api-key header is required"
    if kind == "out_of_credits":
        return _MESSAGES[402]
    if kind == "model_forbidden":
        return _message(ErrorSpec(404, code="model_not_found", message=exc.message))
    if kind in ("rate_limited", "request_too_large"):
        # As in github.com/OpenHands/OpenHands/issues/9259 (the organization id left out).
        headers = dict(exc.headers)
        what, unit = "requests", "requests"
        # The requests bucket refused only when the key has one and it is empty.
        if headers.get("x-ratelimit-remaining-requests", "") != "0":
            what, unit = "tokens", "input tokens"
        limit = headers.get(f"x-ratelimit-limit-{what}", "0")
        shown = f"{int(limit):,}" if limit.isdigit() else limit
        return (
            f"This request would exceed the rate limit for your organization of {shown} "
            f"{unit} per minute. For details, refer to: {RATE_LIMITS_DOC}. You can see the "
            "response headers for current usage. Please reduce the prompt length or the "
            "maximum tokens requested, or try again later. You may also contact sales at "
            "https://www.anthropic.com/contact-sales to discuss your options for a rate "
            "limit increase."
        )
    return None


# --- headers --------------------------------------------------------------------------------

_RATE_NAMES = {
    f"x-ratelimit-{field}-{limit}": f"anthropic-ratelimit-{limit}-{field}"
    for field in ("limit", "remaining", "reset")
    for limit in ("requests", "tokens")
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def reset_time(duration: str, now: float) -> str:
    """An OpenAI reset duration (`1s`, `6m0s`, `20ms`) as the RFC 3339 time the limit is
    whole again counted from `now`, which is how Anthropic's `anthropic-ratelimit-*-reset`
    headers say it."""
    seconds = sum(float(n) * _UNIT_S[unit] for n, unit in _DURATION.findall(duration))
    return _time_after(seconds, now)


def _time_after(seconds: float, now: float) -> str:
    moment = math.ceil(now + seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


# The limits an answer names when no keys file sets the key's own: usage tier 4's for the
# Claude Sonnet and Opus 4.x models (docs.claude.com/en/api/rate-limits: 4,000 requests,
# 2,000,000 input and 400,000 output tokens a minute), a rate no test reaches, so the
# buckets are full again before each request.
OPEN_REQUESTS = 4_000
OPEN_INPUT_TOKENS = 2_000_000
OPEN_OUTPUT_TOKENS = 400_000


def open_limits(rendered: Rendered, max_tokens: int, now: float) -> Headers:
    """The anthropic-ratelimit-* of an answer that no limit holds back, as the API sends
    them on every answer: one request, the prompt's uncached tokens and `max_tokens` (what
    the API counts against the output limit when a request starts) taken from full
    buckets; `tokens` is the input and output limits together, a remaining count of
    tokens is rounded to the nearest thousand (as the API rounds it), and each reset is
    the time the bucket is whole again."""
    taken_in = max(0, rendered.prompt_tokens - cache_read_input_tokens(rendered))
    taken_out = max(0, max_tokens)
    out: list[tuple[str, str]] = []
    for name, limit, taken, rounded in (
        ("requests", OPEN_REQUESTS, 1, False),
        ("tokens", OPEN_INPUT_TOKENS + OPEN_OUTPUT_TOKENS, taken_in + taken_out, True),
        ("input-tokens", OPEN_INPUT_TOKENS, taken_in, True),
        ("output-tokens", OPEN_OUTPUT_TOKENS, taken_out, True),
    ):
        taken = min(taken, limit)
        left = limit - taken
        if rounded:
            left = (left + 500) // 1000 * 1000
        out += [
            (f"anthropic-ratelimit-{name}-limit", str(limit)),
            (f"anthropic-ratelimit-{name}-remaining", str(left)),
            (f"anthropic-ratelimit-{name}-reset", _time_after(60 * taken / limit, now)),
        ]
    return tuple(out)


def headers(status: int, rate: Headers, now: float) -> Headers:
    """Rate-limit headers under Anthropic's names, resets as times counted from `now`; an
    error's defaults: `x-should-retry` (as the API sends it), and on a 429 `retry-after`
    and, when no bucket measured it, the requests limit spent."""
    out: list[tuple[str, str]] = []
    if status >= 400:
        retry = status in (408, 409, 429) or status >= 500
        out.append(("x-should-retry", "true" if retry else "false"))
        if status == 429:
            out.append(("retry-after", "1"))
            if not any(name.lower() in _RATE_NAMES for name, _ in rate):  # none measured
                out += [
                    ("anthropic-ratelimit-requests-limit", "60"),
                    ("anthropic-ratelimit-requests-remaining", "0"),
                    ("anthropic-ratelimit-requests-reset", reset_time("1s", now)),
                ]
    for name, value in rate:
        renamed = _RATE_NAMES.get(name.lower())
        if renamed is None:
            out.append((name, value))
        else:
            out.append((renamed, reset_time(value, now) if renamed.endswith("-reset") else value))
    return tuple(out)


# --- models ---------------------------------------------------------------------------------

# The Claude models the Anthropic listing offers besides those the server names itself.
CLAUDE_MODELS = (
    "claude-sonnet-4-6",
    "claude-opus-4-6",
    "claude-opus-4-5-20251101",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
    "claude-opus-4-1-20250805",
    "claude-sonnet-4-20250514",
    "claude-3-5-haiku-20241022",
)
_DATED = re.compile(r"^(.*?)-(\d{4})(\d{2})(\d{2})$")
# The release dates of models whose id has none (platform.claude.com/docs/en/models/…/overview).
_RELEASED = {"claude-opus-4-6": "2026-02-05", "claude-sonnet-4-6": "2026-02-17"}


def anthropic_models(listed: list[str], defaults: tuple[str, ...]) -> list[str]:
    """The ids the Anthropic SDK's `models.list()` sees: Claude models, then any other
    model the server's rules or flags name (the server's other `defaults` left out)."""
    own = [m for m in listed if m not in defaults or m.startswith("claude")]
    return list(dict.fromkeys([*CLAUDE_MODELS, *own]))


def resolved_model(model_id: str) -> str:
    """The model id an alias stands for, as `GET /v1/models/{alias}` resolves it and a
    message names the model that answered (`claude-sonnet-4-5` ->
    `claude-sonnet-4-5-20250929`, the catalogue's id for the models it matches); an id with
    a date, or one the catalogue does not know, stays."""
    entry = lookup(model_id)
    if not entry.known or _DATED.match(model_id) or not model_id.startswith("claude"):
        return model_id
    return entry.id


def model_info(model_id: str) -> JSON:
    """A `model` object as `GET /v1/models` writes it: `claude-sonnet-4-5-20250929` is
    "Claude Sonnet 4.5", created on the date its id ends with; the context window and
    output limit are the catalogue's."""
    dated = _DATED.match(model_id)
    name = dated.group(1) if dated else model_id
    if dated:
        created = f"{dated.group(2)}-{dated.group(3)}-{dated.group(4)}T00:00:00Z"
    elif model_id in _RELEASED:
        created = f"{_RELEASED[model_id]}T00:00:00Z"
    else:
        moment = 1_700_000_000 + derive_seed("model", model_id) % 20_000_000
        created = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(moment))
    words = name.split("-")
    if words[0] == "claude":
        numbers = [w for w in words[1:] if w.isdigit()]
        names = [w.capitalize() for w in words[1:] if not w.isdigit()]
        display = " ".join(["Claude", *names, ".".join(numbers)]).strip()
    else:
        display = model_id
    info: JSON = {
        "type": "model",
        "id": model_id,
        "display_name": display,
        "created_at": created,
        "lifecycle": "active",
    }
    entry = lookup(model_id)
    if entry.known:
        info["max_input_tokens"] = entry.context_window
        info["max_tokens"] = entry.max_output_tokens
    return info
