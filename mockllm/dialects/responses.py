"""The Responses API dialect: `POST /v1/responses` read into a Conversation, answers written
as a `response` object or its typed event stream, and responses stored for
`previous_response_id`, `GET /v1/responses/{id}` and its input items.

The wire follows what the API sends today: `event:`/`data:` pairs whose data has `type`
first and the other keys in name order, a `sequence_number` on every event, an
`obfuscation` string on each delta (padding the event's length, as the API does unless
`stream_options.include_obfuscation` is false).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from mockllm import stored_conversations as conversations
from mockllm.catalogue import Model, catalogue, lookup, snapshot
from mockllm.conversation import (
    JSON,
    Conversation,
    Message,
    ResponseFormat,
    Tool,
    ToolCall,
    api_key_of,
    derive_seed,
    provider_of,
    summarize,
)
from mockllm.dialects import DEFAULT_CONTEXT, Dialect, ParseContext, Poll, Run
from mockllm.dialects import responses_background as background
from mockllm.dialects.openai_errors import failure, headers, refusal
from mockllm.dialects.sealed import unseal
from mockllm.errors import RequestError
from mockllm.protocol import (
    SERVICE_TIERS,
    TAKEN_TIERS,
    absent_or_wrong,
    canonical_or_refuse,
    check_cache_and_safety,
    check_metadata,
    check_name,
    empty_array,
    error_object,
    get_bool,
    get_int,
    get_str,
    invalid_type,
    listed,
    load_object,
    missing,
    served_tier,
    stream_options,
    string_list,
    string_too_long,
    unsupported,
)
from mockllm.refusals import (
    REASONING_EFFORTS,
    may_exceed,
    model_parameters,
    output_limit,
    refuse_schema,
    responses_context,
    unknown_parameter,
)
from mockllm.render import (
    Rendered,
    RenderedChoice,
    RenderedToolCall,
    called_custom,
    free_form_tool,
    prompt_tokens,
    seed_id,
)
from mockllm.rules import ErrorSpec, Fault
from mockllm.state import StateStore
from mockllm.strict_schema import strict_problem
from mockllm.tokens import count_prompt
from mockllm.wire import JSON_TYPE, SSE_TYPE, Body, Padding, malformed, whole_json

PATH = "/v1/responses"
INPUT_TOKENS_PATH = "/v1/responses/input_tokens"
STORE_KIND = "response"
ITEM_KIND = "response_item"  # a stored response's output items, by id (item references)
_ISSUED = re.compile(r"(msg|fc|rs)_[0-9a-f]{32,}")  # an output item id as the API gives them
STORED_LIMIT = 10_000  # stored responses kept, oldest dropped first
MIN_OUTPUT_TOKENS = 16  # the API refuses a smaller max_output_tokens
MAX_PERSONALITY = 64  # characters of a count's `personality`
COUNTED_MODEL = "gpt-4o"  # the model a count names when its body names none
_dumps = orjson.dumps
_ROLES = ("user", "assistant", "system", "developer")
# The API's words for what an input item, or a part of a message, may be (measured on
# api.openai.com in August 2026: github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
# test/openai-responses-validation-parity.test.mjs): the roles of a message (also what an
# item with neither type nor role is told), every item type, every content part type, and
# the parts a user's (system's, developer's) turn may hold.
_LISTED_ROLES = ("assistant", "system", "developer", "user")
_LISTED_PARTS = (
    "input_text",
    "input_image",
    "input_audio",
    "output_text",
    "refusal",
    "input_file",
    "computer_screenshot",
    "summary_text",
    "encrypted_content",
)
_LISTED_INPUT_PARTS = ("input_text", "input_image", "input_file", "scoped_content", "input_audio")
_INPUT_PARTS = ("input_text", "input_image", "input_file", "input_audio", "scoped_content")
_IMAGE_DETAILS = ("low", "high", "auto", "original")  # ImageDetail in the OpenAPI document
_SEARCH_CONTEXT_SIZES = ("low", "medium", "high")
_OUTPUT_PARTS = ("output_text", "refusal")
_INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)
_ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "item_reference",
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "code_interpreter_call",
    "image_generation_call",
    "custom_tool_call",
    "custom_tool_call_output",
    "mcp_call",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    # The rest of the OpenAPI document's `InputItem` (and the SDK's `configuration_update`):
    # taken as the earlier turns they record, and like the built-in tools' calls above,
    # not read as messages.
    "tool_search_call",
    "tool_search_output",
    "additional_tools",
    "compaction",
    "compaction_trigger",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "program",
    "program_output",
    "configuration_update",
    # The API's own, not (yet) in the SDK: taken as the others above.
    "agent_message",
    "multi_agent_call",
    "multi_agent_call_output",
)
_LISTED_ITEM_TYPES = tuple(sorted(set(_ITEM_TYPES) - {"configuration_update"}))
# Built-in tools: the mock cannot run them, so they are checked as the API checks them (the
# parameters it requires) and a model answers without calling them unless a rule says so.
_BUILTIN_REQUIRED: dict[str, tuple[str, ...]] = {
    "web_search": (),
    "web_search_preview": (),
    "web_search_2025_08_26": (),
    "web_search_preview_2025_03_11": (),
    "file_search": ("vector_store_ids",),
    "code_interpreter": ("container",),
    "computer_use_preview": ("display_width", "display_height", "environment"),
    "computer": (),
    "image_generation": (),
    "local_shell": (),
    "shell": (),
    "apply_patch": (),
    "mcp": ("server_label",),
    "tool_search": (),  # deferred tools found by search (`execution: "client"`, as Codex runs it)
    "programmatic_tool_calling": (),
}
# A namespace groups function and custom tools under one name (`{"type": "namespace",
# "name", "description", "tools"}`; the Codex CLI offers its sub-agent tools so): taken,
# and, as a built-in tool, not called by the default generator.
_TOOL_TYPES = ("function", "custom", "namespace", *_BUILTIN_REQUIRED)
_SUMMARIES = ("concise", "detailed", "auto")  # in the order the API lists them
_CHOICES = ("none", "auto", "required")  # tool_choice's modes
# The includable values as the API's type error lists them, each name cut to its first and
# last three characters ("expected an array of one of 'fil...lts', 'web...lts', …, or
# 'mes...obs'": measured on api.openai.com in August 2026, github.com/kangminlee-maker/
# local-OAuth-CLI-API-adapter, test/openai-responses-validation-parity.test.mjs).
_INCLUDABLE_CUT = ", ".join(f"'{v[:3]}...{v[-3:]}'" for v in _INCLUDABLE[:-1]) + (
    f", or '{_INCLUDABLE[-1][:3]}...{_INCLUDABLE[-1][-3:]}'"
)


def _or(values: tuple[str, ...]) -> str:
    """`'a' or 'b'`, `'a', 'b', or 'c'`: the values a type error says it expected, as the
    API words its type errors (measured on api.openai.com in August 2026: "Invalid type for
    'tool_choice': expected one of an object or 'none', 'auto', or 'required', but got an
    integer instead.", github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
    test/openai-responses-validation-parity.test.mjs)."""
    quoted = [f"'{v}'" for v in values]
    return " or ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + ", or " + quoted[-1]


_CONTEXTS = ("auto", "current_turn", "all_turns")  # what earlier turns' reasoning is read


@dataclass(frozen=True, slots=True)
class Wire:
    """What the Responses dialect keeps of a request for writing its answer."""

    echo: JSON  # the request's settings the response object repeats
    store: bool
    obfuscate: bool
    previous: str | None
    history: tuple[JSON, ...]  # input items of earlier turns (with their outputs), then these
    inputs: tuple[JSON, ...]  # this request's input items, as listed by input_items
    encrypted: bool = False  # reasoning items carry `encrypted_content` (include asks)
    conversation: str | None = None  # the conversation (Conversations API) it continues
    background: bool = False  # `background: true`: the answer runs on after the request
    custom: frozenset[str] = frozenset()  # the custom (free-form input) tools offered
    # the built-in searches offered (`SEARCHES`: server tools), by their tools' names
    searches: frozenset[str] = frozenset()
    sources: bool = False  # `include` asks for `web_search_call.action.sources`
    dated: str | None = None  # the dated model the answer names for the alias asked for


# --- requests -------------------------------------------------------------------------------


# The members the API knows of the objects a request nests (the openai SDK's types, and
# what the API measured takes): another is `Unknown parameter: 'text.zzz'.`, named by its
# path, as the API refuses it (measured on api.openai.com in August 2026, with `phase` on
# a user message and `reasoning.generate_summary`, which the SDK still types as deprecated:
# github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
# test/openai-responses-validation-parity.test.mjs).
_MEMBERS = {
    "text": frozenset({"format", "verbosity"}),
    "reasoning": frozenset({"context", "effort", "mode", "summary"}),
    "stream_options": frozenset({"include_obfuscation"}),
    "prompt_cache_options": frozenset({"comparison_response_id", "mode", "prewarm", "ttl"}),
}
_MESSAGE_MEMBERS = frozenset({"type", "role", "content", "id", "status"})
_ASSISTANT_MEMBERS = _MESSAGE_MEMBERS | {"phase"}  # only the assistant's turn has a phase
_PHASES = ("commentary", "final_answer")


def _check_members(body: JSON) -> None:
    """Refuse a member the API does not know in `text`, `reasoning`, `stream_options` and
    the input's messages, and an assistant message's `phase` outside its two values."""
    for name, known in _MEMBERS.items():
        value = body.get(name)
        if isinstance(value, dict):
            _known_members(value, known, name)
    items = body.get("input")
    if not isinstance(items, list):
        return
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            continue
        at = f"input[{i}]"
        if item.get("role") == "assistant":
            phase = item.get("phase")
            if phase is not None and phase not in _PHASES:
                raise unsupported(phase, _PHASES, f"{at}.phase")
            _known_members(item, _ASSISTANT_MEMBERS, at)
        elif "role" in item:
            _known_members(item, _MESSAGE_MEMBERS, at)


def _known_members(value: JSON, known: frozenset[str], where: str) -> None:
    for name, given in value.items():
        if name not in known and given is not None:  # a null member is an absent one
            param = f"{where}.{name}"
            raise RequestError(
                400, f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param
            )


def _text_of(content: object, where: str, role: str) -> str:
    """The text of a message's content: a string, or parts of the kinds the role takes."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_type(where, "one of a string or array of objects", content)
    kinds = _OUTPUT_PARTS if role == "assistant" else _INPUT_PARTS
    texts = []
    for i, part in enumerate(content):
        at = f"{where}[{i}]"
        if not isinstance(part, dict):
            raise invalid_type(at, "an object", part)
        kind = part.get("type")
        if kind not in kinds:
            if kind is None:
                raise missing(f"{at}.type")
            if kind not in _LISTED_PARTS:
                raise unsupported(kind, _LISTED_PARTS, f"{at}.type")
            # A part of another role's turn, as an assistant turn written with input parts:
            # "Invalid value: 'input_text'. Supported values are: 'output_text' and
            # 'refusal'." (param input[1].content[0], quoted by many clients whose tool
            # loops failed on their second step)
            raise unsupported(kind, kinds if role == "assistant" else _LISTED_INPUT_PARTS, at)
        if kind in ("input_text", "output_text", "refusal"):
            field = "refusal" if kind == "refusal" else "text"
            text = part.get(field)
            if not isinstance(text, str):
                raise absent_or_wrong(f"{at}.{field}", "a string", text)
            texts.append(text)
        elif kind == "input_image":
            _one_of(part, _IMAGE_SOURCES, at)
            detail = part.get("detail")
            if detail is not None and detail not in _IMAGE_DETAILS:
                raise unsupported(detail, _IMAGE_DETAILS, f"{at}.detail")
    return "\n".join(texts)


def _null(name: str) -> RequestError:
    """`model` or `input` sent as null, which the API tells apart from one not sent, as a
    wrong type: "Invalid type for 'model': expected a string, but got an object instead."
    (measured on api.openai.com in August 2026: github.com/kangminlee-maker/
    local-OAuth-CLI-API-adapter, test/openai-responses-validation-parity.test.mjs)."""
    return RequestError(
        400,
        f"Invalid type for '{name}': expected a string, but got an object instead.",
        code="invalid_type",
        param=name,
    )


_IMAGE_SOURCES = ("file_id", "image_url")  # an input_image names one
_MCP_SERVERS = ("server_url", "connector_id", "tunnel_id")  # an MCP tool names one


def _one_of(value: JSON, names: tuple[str, ...], where: str) -> None:
    """An object that names none of the members of which it needs one: "Missing mutually
    exclusive parameters: 'items[0].content[1]'. Ensure you are providing exactly one of:
    'file_id' or 'image_url'." (quoted from api.openai.com in a public error log of June
    2026), "... 'tools[0]'. Ensure you are providing exactly one of: 'server_url',
    'connector_id', or 'tunnel_id'." (quoted from the Responses API of Azure AI Foundry;
    the openai SDK's Mcp tool: "One of `server_url`, `connector_id`, or `tunnel_id` must be
    provided")."""
    if all(value.get(name) is None for name in names):
        raise RequestError(
            400,
            f"Missing mutually exclusive parameters: '{where}'. Ensure you are providing "
            f"exactly one of: {_or(names)}.",
            code="missing_mutually_exclusive_parameters",
            param=where,
        )


def _output_text(value: object, where: str) -> str:
    """A function call output: a string, or input parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _text_of(value, where, "user")
    raise absent_or_wrong(where, "one of a string or array of objects", value)


def _normal_item(item: JSON) -> JSON:
    """An input item as the API lists it back (`type` spelled out)."""
    if "type" not in item and "role" in item:
        return {"type": "message", **item}
    return item


def read_items(items: list[Any], where: str) -> list[Message]:
    """Messages from input items: messages as they are, function calls as the assistant's
    tool calls, their outputs as tool messages; reasoning and other items add nothing."""
    messages: list[Message] = []
    pending: list[ToolCall] = []

    def flush() -> None:
        if pending:
            messages.append(Message("assistant", "", tool_calls=tuple(pending)))
            pending.clear()

    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise invalid_type(at, "an input item", item)
        kind = item.get("type", "message" if "role" in item else None)
        if kind is None:  # neither a type nor a role: told the roles a message takes
            raise unsupported("", _LISTED_ROLES, at)
        if kind not in _ITEM_TYPES:
            raise unsupported(kind if isinstance(kind, str) else "", _LISTED_ITEM_TYPES, at)
        if kind in ("function_call", "custom_tool_call"):
            # A custom tool's call carries its free-form `input` where a function's has
            # its `arguments`: both are the assistant's tool calls.
            fields = {}
            given = "arguments" if kind == "function_call" else "input"
            for name in ("call_id", "name", given):
                value = item.get(name)
                if not isinstance(value, str):
                    raise absent_or_wrong(f"{at}.{name}", "a string", value)
                fields[name] = value
            pending.append(ToolCall(fields["call_id"], fields["name"], fields[given]))
            continue
        flush()
        if kind == "message":
            role = item.get("role")
            if role is None:
                raise missing(f"{at}.role")
            if role not in _ROLES:
                raise unsupported(role if isinstance(role, str) else "", _LISTED_ROLES, at)
            if "content" not in item:
                raise missing(f"{at}.content")
            messages.append(Message(str(role), _text_of(item["content"], f"{at}.content", role)))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise absent_or_wrong(f"{at}.call_id", "a string", call_id)
            output = _output_text(item.get("output"), f"{at}.output")
            messages.append(Message("tool", output, tool_call_id=call_id))
        elif kind == "compaction":  # the earlier turns it stands for, when mockllm sealed it
            held = unseal(item.get("encrypted_content"))
            if held:
                messages += read_items(held, f"{at}.encrypted_content")
    flush()
    return messages


def expand_compactions(items: Sequence[Any]) -> list[Any]:
    """The items with each compaction item mockllm sealed replaced by the items it stands
    for (one it did not seal stays as it is)."""
    out: list[Any] = []
    for item in items:
        held = (
            unseal(item.get("encrypted_content"))
            if isinstance(item, dict) and item.get("type") == "compaction"
            else None
        )
        out += [item] if held is None else held
    return out


def check_compactions(items: Sequence[Any], where: str, lenient: bool) -> None:
    """Each compaction item carries the `encrypted_content` that `POST
    /v1/responses/compact` gave out; other content could not be verified (400, in the words
    the API refuses a reasoning item's with), unless `--lenient`, which takes it as no
    earlier turns."""
    if lenient:
        return
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") != "compaction":
            continue
        at = f"{where}[{i}].encrypted_content"
        sealed = item.get("encrypted_content")
        if not isinstance(sealed, str):
            raise absent_or_wrong(at, "a string", sealed)
        if unseal(sealed) is None:
            raise RequestError(
                400,
                f"The encrypted content {sealed[:12]}… could not be verified.",
                code="invalid_encrypted_content",
                param=at,
            )


def _check_call_outputs(items: list[JSON]) -> None:
    """As the API does: each `function_call_output` answers a `function_call` made before it
    (in this input or the responses it continues), and each `function_call` has its output
    after it (the API's words: github.com/continuedev/continue issue 10092,
    github.com/router-for-me/CLIProxyAPI issue 2368). `read_items` has checked the items."""
    unanswered: dict[str, bool] = {}  # call_id -> still without an output, in call order
    for item in items:
        kind = item.get("type")
        if kind == "function_call":
            unanswered.setdefault(item["call_id"], True)
        elif kind == "function_call_output":
            call_id = item["call_id"]
            if call_id not in unanswered:
                raise RequestError(
                    400,
                    f"No tool call found for function call output with call_id {call_id}.",
                    param="input",
                )
            unanswered[call_id] = False
    for call_id, waiting in unanswered.items():
        if waiting:
            raise RequestError(
                400, f"No tool output found for function call {call_id}.", param="input"
            )


def _parse_tools(
    value: object, context: ParseContext
) -> tuple[tuple[Tool, ...], list[JSON], frozenset[tuple[str, str]]]:
    """(function tools, the tools as the response echoes them, the other tools offered as
    (type, name) pairs: a custom tool's or a namespace's name, a built-in tool's type)."""
    if value is None:
        return (), [], frozenset()
    if not isinstance(value, list):
        raise invalid_type("tools", "an array of tools", value)
    tools: list[Tool] = []
    echoed: list[JSON] = []
    other: set[tuple[str, str]] = set()
    for i, raw in enumerate(value):
        at = f"tools[{i}]"
        if not isinstance(raw, dict):
            raise invalid_type(at, "an object", raw)
        kind = raw.get("type")
        if kind is None:
            raise missing(f"{at}.type")
        if kind not in _TOOL_TYPES:
            raise unsupported(kind, _TOOL_TYPES, f"{at}.type")
        if kind == "function":
            name = raw.get("name")
            if not isinstance(name, str):
                raise absent_or_wrong(f"{at}.name", "a string", name)
            check_name(name, f"{at}.name")
            parameters = raw.get("parameters")
            if parameters is not None and not isinstance(parameters, dict):
                raise invalid_type(f"{at}.parameters", "an object", parameters)
            strict = raw.get("strict")
            if strict is not None and not isinstance(strict, bool):
                raise invalid_type(f"{at}.strict", "a boolean", strict)
            if strict is None:
                # Omitted: the API makes the tool strict when its schema can be, and
                # falls back to best-effort calling when it cannot (the function calling
                # guide: "Responses requests will attempt to normalize your schema into
                # strict mode when possible, and will fall back to non-strict").
                strict = parameters is None or strict_problem(parameters) is None
            description = raw.get("description")
            if description is not None and not isinstance(description, str):
                raise invalid_type(f"{at}.description", "a string", description)
            if parameters is not None:
                # The param and code: github.com/openai/codex/issues/7758
                refuse_schema(
                    parameters,
                    "function",
                    name,
                    f"{at}.parameters",
                    "invalid_function_parameters",
                    context,
                    strict,
                )
            schema = parameters or {"type": "object", "properties": {}}
            tools.append(Tool(name, description or "", schema, strict))
            echoed.append(
                {
                    "type": "function",
                    "description": description,
                    "name": name,
                    "parameters": parameters,
                    "strict": strict,
                }
            )
            continue
        for required in _BUILTIN_REQUIRED.get(kind, ()):
            if raw.get(required) is None:
                raise missing(f"{at}.{required}")
        if kind == "mcp":
            _one_of(raw, _MCP_SERVERS, at)
        size = raw.get("search_context_size")
        if size is not None and size not in _SEARCH_CONTEXT_SIZES:
            raise unsupported(size, _SEARCH_CONTEXT_SIZES, f"{at}.search_context_size")
        if kind == "namespace":
            for key in ("name", "description"):
                if not isinstance(raw.get(key), str):
                    raise absent_or_wrong(f"{at}.{key}", "a string", raw.get(key))
            if not isinstance(raw.get("tools"), list):
                raise absent_or_wrong(f"{at}.tools", "an array", raw.get("tools"))
        if kind in ("custom", "namespace"):
            name = raw.get("name")
            if not isinstance(name, str):
                raise absent_or_wrong(f"{at}.name", "a string", name)
            other.add((kind, name))
            grouped = raw.get("tools") if kind == "namespace" else None
            for tool in grouped or ():
                if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                    other.add((str(tool.get("type")), tool["name"]))
        else:
            other.add((str(kind), str(kind)))
        echoed.append(raw)
    return tuple(tools), echoed, frozenset(other)


# The built-in searches as the default generator sees them: tools the API runs itself (a
# call is a `web_search_call` or `file_search_call` item, and the answer follows it), which
# this server cannot run. Described with the words of the questions a model searches with.
_QUERY: JSON = {
    "type": "object",
    "properties": {"query": {"type": "string"}},
    "required": ["query"],
}
SEARCH = Tool(
    "web_search",
    "Search the web for current information: the latest news, events, prices and weather today.",
    _QUERY,
    server=True,
)
FILE_SEARCH = Tool(
    "file_search",
    "Search the uploaded files and documents (manuals, policies, reports) for what they say.",
    _QUERY,
    server=True,
)
SEARCHES = {SEARCH.name: SEARCH, FILE_SEARCH.name: FILE_SEARCH}
# Each search's output item and its id's prefix.
_SEARCH_ITEMS = {
    SEARCH.name: ("web_search_call", "ws_"),
    FILE_SEARCH.name: ("file_search_call", "fs_"),
}


def _searches(tools: tuple[Tool, ...], other: frozenset[tuple[str, str]]) -> frozenset[str]:
    """The built-in searches the request offers (a web search of any version, the file
    search), each but one whose name a tool of the request's own takes (its calls are then
    that tool's)."""
    offered = {_family(kind) for kind, name in other if kind == name} & SEARCHES.keys()
    if not offered:
        return frozenset()
    named = {t.name for t in tools} | {name for kind, name in other if kind != name}
    return frozenset(offered - named)


def _builtin_names(other: frozenset[tuple[str, str]]) -> frozenset[str]:
    """The built-in tools offered, each by its type and its type's family."""
    kinds = [kind for kind, name in other if kind == name]
    return frozenset(kinds) | {_family(kind) for kind in kinds} if kinds else frozenset()


def _custom_tools(echoed: list[JSON]) -> tuple[Tool, ...]:
    """The custom (free-form input) tools offered, each with the grammar of its input when
    it has one (`format` of type `grammar`: its `syntax` and `definition`)."""
    tools = []
    for tool in echoed:
        if tool.get("type") != "custom":
            continue
        form = tool.get("format")
        syntax = form.get("syntax") if isinstance(form, dict) else None
        definition = form.get("definition") if isinstance(form, dict) else None
        description = tool.get("description")
        grammar = None
        if isinstance(syntax, str) and isinstance(definition, str):
            grammar = (syntax, definition)
        text = description if isinstance(description, str) else ""
        tools.append(free_form_tool(tool["name"], text, grammar))
    return tuple(tools)


def _family(kind: str) -> str:
    """A built-in tool's kind without its version (`web_search_preview_2025_03_11` is a
    `web_search`, `computer_use_preview` a `computer`), to tell whether a tool choice names
    a tool the request offers."""
    for family in ("web_search", "computer"):
        if kind.startswith(family):
            return family
    return kind


def _not_offered(name: str) -> RequestError:
    """A tool choice naming a tool the request does not offer, in the API's words
    ("Tool choice 'image_generation' not found in 'tools' parameter.", as agent tools
    quote it for built-in tools, and as it refuses a function's name)."""
    return RequestError(
        400, f"Tool choice '{name}' not found in 'tools' parameter.", param="tool_choice"
    )


def _parse_tool_choice(
    value: object, tools: tuple[Tool, ...], other: frozenset[tuple[str, str]]
) -> tuple[str | None, tuple[str, ...]]:
    if value is None:
        return None, ()
    if isinstance(value, str):
        if value not in _CHOICES:
            raise unsupported(value, _CHOICES, "tool_choice")
        if value == "required" and not tools and not other:
            raise RequestError(
                400,
                "Tool choice 'required' must be specified with 'tools' parameter.",
                param="tool_choice",
            )
        return value, ()
    if not isinstance(value, dict):
        raise invalid_type("tool_choice", f"one of an object or {_or(_CHOICES)}", value)
    kind = value.get("type")
    if kind is not None and not isinstance(kind, str):
        raise invalid_type("tool_choice.type", "a string", kind)
    names = {t.name for t in tools}
    if kind == "function":
        name = value.get("name")
        if not isinstance(name, str):
            raise missing("tool_choice.name")
        if name not in names:
            raise _not_offered(name)
        return name, ()
    if kind == "allowed_tools":
        mode = value.get("mode")
        if mode not in ("auto", "required"):
            if mode is None:
                raise missing("tool_choice.mode")
            raise unsupported(mode, ("auto", "required"), "tool_choice.mode")
        listed = value.get("tools")
        if not isinstance(listed, list):
            raise absent_or_wrong("tool_choice.tools", "an array", listed)
        allowed = []
        for i, item in enumerate(listed):
            if isinstance(item, dict) and item.get("type") == "custom":
                if ("custom", item.get("name")) in other:
                    allowed.append(str(item["name"]))
                continue
            if not isinstance(item, dict) or item.get("type", "function") != "function":
                kind_of = _family(str(item.get("type"))) if isinstance(item, dict) else None
                if kind_of in _searches(tools, other):
                    allowed.append(str(kind_of))
                continue  # another built-in tool: the default generator does not call it
            name = item.get("name")
            if not isinstance(name, str):
                raise absent_or_wrong(f"tool_choice.tools[{i}].name", "a string", name)
            if name not in names:
                # As for a named tool choice: a list naming a tool not offered is refused
                # (it let the answer call a tool the list left out).
                raise _not_offered(name)
            allowed.append(str(name))
        return str(mode), tuple(allowed)
    if kind == "custom":
        name = value.get("name")
        if not isinstance(name, str):
            raise absent_or_wrong("tool_choice.name", "a string", name)
        if ("custom", name) not in other:
            raise _not_offered(name)
        return name, ()
    if kind == "computer_use" or kind in _BUILTIN_REQUIRED:
        # An MCP server's tools are named by the server, which the mock cannot reach.
        offered = {_family(k) for k, name in other if k == name}
        if kind != "mcp" and _family(kind) not in offered:
            raise _not_offered(kind)
        if _family(kind) in _searches(tools, other):
            return _family(kind), ()  # forced: the answer searches (`web_search_call`…)
        return "auto", ()
    if kind is None:
        raise missing("tool_choice.type")
    raise unsupported(
        kind,
        ("function", "allowed_tools", "custom", "computer_use", *_BUILTIN_REQUIRED),
        "tool_choice.type",
    )


def _parse_text(
    value: object, messages: list[Message], context: ParseContext
) -> tuple[ResponseFormat, JSON]:
    """The `text.format` asked for, and `text` as the response echoes it."""
    if value is None:
        return ResponseFormat(), {"format": {"type": "text"}, "verbosity": "medium"}
    if not isinstance(value, dict):
        raise invalid_type("text", "an object", value)
    verbosity = value.get("verbosity", "medium")
    if verbosity not in ("low", "medium", "high"):
        raise unsupported(verbosity, ("low", "medium", "high"), "text.verbosity")
    form = value.get("format", {"type": "text"})
    if not isinstance(form, dict):
        raise invalid_type("text.format", "an object", form)
    kind = form.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        if kind is None:
            raise missing("text.format.type")
        # listed in the API's order (measured on api.openai.com in August 2026, as the
        # summaries' above: github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
        # test/openai-responses-validation-parity.test.mjs)
        raise unsupported(kind, ("json_object", "text", "json_schema"), "text.format.type")
    echo = {"format": form, "verbosity": verbosity}
    if kind == "json_object":
        if not any("json" in m.text.lower() for m in messages):
            raise RequestError(
                400,
                "Response input messages must contain the word 'json' in some form to use "
                "'text.format' of type 'json_object'.",
                param="input",
            )
        return ResponseFormat("json_object"), echo
    if kind == "text":
        return ResponseFormat(), echo
    name = form.get("name")
    if not isinstance(name, str):
        raise absent_or_wrong("text.format.name", "a string", name)
    check_name(name, "text.format.name")
    schema = form.get("schema")
    if not isinstance(schema, dict):
        raise absent_or_wrong("text.format.schema", "an object", schema)
    strict = form.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise invalid_type("text.format.strict", "a boolean", strict)
    refuse_schema(
        schema,
        "response_format",
        name,
        "text.format.schema",
        "invalid_json_schema",
        context,
        bool(strict),
    )
    echo["format"] = {
        "type": "json_schema",
        "description": form.get("description"),
        "name": name,
        "schema": schema,
        "strict": bool(strict),
    }
    return ResponseFormat("json_schema", name, schema, bool(strict)), echo


def _parse_reasoning(
    value: object, entry: Model, model: str, context: ParseContext
) -> tuple[JSON, bool, str | None]:
    """`reasoning` as echoed, whether a summary of the reasoning is asked for, and the
    effort a reasoning model spends (its default is echoed as the API does)."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise invalid_type("reasoning", "an object", value)
    effort = value.get("effort")
    if isinstance(effort, int) and not isinstance(effort, bool):  # the API's narrower list
        raise invalid_type(
            "reasoning.effort", "one of 'minimal', 'low', 'medium', or 'high'", effort
        )
    if effort is not None and not isinstance(effort, str):
        raise invalid_type(
            "reasoning.effort", f"one of one of {_or(REASONING_EFFORTS)} or integer", effort
        )
    if effort is not None and effort not in REASONING_EFFORTS:
        raise unsupported(effort, REASONING_EFFORTS, "reasoning.effort")
    summary = value.get("summary", value.get("generate_summary"))
    if summary is not None and summary not in _SUMMARIES:
        raise unsupported(summary, _SUMMARIES, "reasoning.summary")
    scope = value.get("context")
    if scope is not None and scope not in _CONTEXTS:
        raise unsupported(scope, _CONTEXTS, "reasoning.context")
    mode = value.get("mode")
    if mode is not None and not isinstance(mode, str):
        raise invalid_type("reasoning.mode", "a string", mode)
    if effort is not None and entry.reasoning == "hidden" and not context.lenient:
        # The Responses API names the value and the model: "Unsupported value: 'minimal'
        # is not supported with the 'gpt-5.6-terra' model. Supported values are: 'none',
        # 'low', 'medium', 'high', 'xhigh', and 'max'." (measured on api.openai.com in
        # August 2026: github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
        # test/openai-responses-validation-parity.test.mjs)
        _check_supported(effort, entry.efforts, model, "reasoning.effort")
    if entry.reasoning != "hidden":
        echo: JSON = {"context": scope, "effort": effort, "summary": summary}
        if mode is not None:
            echo = {"context": scope, "effort": effort, "mode": mode, "summary": summary}
        return echo, summary is not None, None
    # A reasoning model's defaults are echoed, as the API fills them in: it reasons about
    # the current turn, in the standard mode, at its default effort.
    spent = effort or entry.default_effort
    echo = {
        "context": scope or "current_turn",
        "effort": spent,
        "mode": mode or "standard",
        "summary": summary,
    }
    return echo, summary is not None, spent


def _number(body: JSON, name: str, default: float) -> float:
    """A sampling number, type-checked; its range is the profile's to hold
    (profiles.check_params), as on chat: a gateway may take what OpenAI refuses."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(name, "a decimal", value)
    return float(value)


def _previous(
    value: object, store: StateStore | None, held_elsewhere: bool = False
) -> tuple[str | None, list[JSON]]:
    """The earlier turns a `previous_response_id` continues (its history and output); none
    for a response the store does not hold when an upstream or a cassette may hold it."""
    if value is None:
        return None, []
    if not isinstance(value, str):
        raise invalid_type("previous_response_id", "a string", value)
    if not value or not all(c.isalnum() or c in "_-" for c in value):
        raise RequestError(
            400,
            f"Invalid 'previous_response_id': '{value}'. Expected an ID that contains letters, "
            "numbers, underscores, or dashes, but this value contained additional characters.",
            code="invalid_value",
            param="previous_response_id",
        )
    stored = stored_response(store, value)
    if (stored is None or store is None) and held_elsewhere:
        return value, []
    if stored is None or store is None:
        raise RequestError(
            400,
            f"Previous response with id '{value}' not found.",
            code="previous_response_not_found",
            param="previous_response_id",
        )
    now = time.time()
    background.check_continuable(store, stored, value, now)
    output = background.current(store, stored, value, now)["output"]
    return value, [*stored["history"], *output]


def _conversation_items(thread: str, context: ParseContext) -> list[JSON]:
    """The items of the conversation a request continues; none for one the store does not
    hold when an upstream or a cassette may hold it."""
    try:
        # 404 with param null, as the API answers a Responses request (measured on
        # api.openai.com in August 2026: github.com/kangminlee-maker/
        # local-OAuth-CLI-API-adapter, test/openai-responses-validation-parity.test.mjs)
        if context.store is None:
            raise conversations.not_found(thread, None)
        return list(conversations.load(context.store, thread, None)["items"])
    except RequestError:
        if context.held_elsewhere:
            return []
        raise


def _resolve_items(items: list[Any], history: list[JSON], context: ParseContext) -> list[Any]:
    """Input items with each `item_reference` (or bare `{"id": …}`) replaced by the stored
    item it names, and replayed output items checked as the API checks them:

    - a reference the store does not hold, or a reasoning item replayed by an id it does
      not hold without its `encrypted_content` (the response said `store: false`), is the
      API's 404 ("Item with id 'rs_…' not found. Items are not persisted when `store` is
      set to false. …"); other output items sent back by value stand on their own, as a
      stateless client sends them (the cookbook's `context += response.output`);
    - `encrypted_content` that mockllm did not give out could not be verified (400);
    - an output item of a reasoning model replayed without the reasoning item it came
      after is refused in the API's words ("Item 'fc_…' of type 'function_call' was
      provided without its required 'reasoning' item: 'rs_…'.", quoted by agent
      frameworks, pydantic-ai among them)."""
    store = context.store
    present = {
        item.get("id")
        for item in (*history, *items)
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    }
    out: list[Any] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            out.append(item)
            continue
        kind = item.get("type")
        item_id = item.get("id")
        if item_id is not None and not isinstance(item_id, str):
            raise invalid_type(f"input[{i}].id", "a string", item_id)
        is_reference = kind == "item_reference" or (
            kind is None and "role" not in item and "id" in item
        )
        replayed = kind in ("reasoning", "function_call") or (
            kind in ("message", None) and item.get("role") == "assistant"
        )
        if not is_reference and not (replayed and item_id is not None):
            out.append(item)
            continue
        if item_id is None:
            raise missing(f"input[{i}].id")
        sealed = item.get("encrypted_content")
        if kind == "reasoning" and sealed is not None and not context.lenient:
            if sealed != _sealed(item_id):
                # "The encrypted content gAAA… could not be verified." (openai/codex 8128)
                raise RequestError(
                    400,
                    f"The encrypted content {str(sealed)[:12]}… could not be verified.",
                    code="invalid_encrypted_content",
                    param=f"input[{i}].encrypted_content",
                )
        found = _stored_item(store, item_id)
        if found is None:
            unknown = is_reference or (kind == "reasoning" and sealed is None)
            if (
                not unknown
                or context.lenient
                or context.held_elsewhere
                or not (is_reference or _ISSUED.match(item_id))
            ):
                if not is_reference:
                    out.append(item)  # sent by value, or an id not of the API's shape
                continue
            raise RequestError(
                404,
                f"Item with id '{item_id}' not found. Items are not persisted when `store` "
                "is set to false. Try again with `store` set to true, or remove this item "
                "from your input.",
                param="input",
            )
        required = found.get("requires")
        if required and required not in present and not context.lenient:
            raise RequestError(
                400,
                f"Item '{item_id}' of type '{found['item'].get('type')}' was provided without "
                f"its required 'reasoning' item: '{required}'.",
                param="input",
            )
        out.append(found["item"] if is_reference else item)
    return out


def parse(
    raw: bytes, headers: Mapping[str, str], path: str, context: ParseContext = DEFAULT_CONTEXT
) -> Conversation:
    """Validate a `POST /v1/responses` body as the API does; RequestError(400) naming the
    field."""
    body = load_object(raw)
    counting = path == INPUT_TOKENS_PATH
    model = body.get("model")
    if model is None and counting:
        # A count's body requires nothing (the OpenAPI document's TokenCountsBody): without
        # a model, the input is counted as for COUNTED_MODEL, held to no model's limits.
        model, entry = COUNTED_MODEL, catalogue().unknown
    elif model is None:
        if "model" in body and path == PATH:
            raise _null("model")
        raise missing("model")
    elif not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    else:
        entry = lookup(model)
    if counting:
        # The count also takes a style preset, which `POST /v1/responses` does not.
        personality = body.get("personality")
        if personality is not None:
            if not isinstance(personality, str):
                raise invalid_type("personality", "a string", personality)
            if len(personality) > MAX_PERSONALITY:
                raise string_too_long("personality", MAX_PERSONALITY, len(personality))
        unknown_parameter({k: v for k, v in body.items() if k != "personality"}, context)
    else:
        if path == PATH and "input" in body and body["input"] is None:
            raise _null("input")
        if path == PATH and body.get("input") is None and "messages" not in body:
            # Before any other argument is looked at, and whether or not the request
            # continues a previous response (measured on api.openai.com in August 2026:
            # github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
            # test/openai-responses-validation-parity.test.mjs); Chat Completions'
            # `messages` is told where it moved first.
            raise missing("input")
        unknown_parameter(body, context)
        if not context.lenient and context.refuse_unknown:
            _check_members(body)
        if body.get("input") in ("", []) and not any(
            body.get(name) for name in ("previous_response_id", "prompt", "conversation")
        ):
            # An empty input with nothing else to answer is worded as the API words it
            # (measured on api.openai.com, August 2026: github.com/kangminlee-maker/
            # local-OAuth-CLI-API-adapter, test/openai-responses-validation-parity.test.mjs),
            # before the model's own refusals.
            raise RequestError(
                400,
                "One of \"input\" or \"previous_response_id\" or 'prompt' or 'conversation' "
                "must be provided.",
                code="missing_required_parameter",
            )
    value = body.get("input")
    if value is not None and not isinstance(value, str | list):
        # before the earlier turns are looked up, as the API checks it (measured on
        # api.openai.com in August 2026: github.com/kangminlee-maker/
        # local-OAuth-CLI-API-adapter, test/openai-responses-validation-parity.test.mjs)
        raise invalid_type("input", "one of a string or array of input items", value)
    thread = conversations.conversation_id_of(body.get("conversation"))
    if thread is not None and body.get("previous_response_id") is not None:
        # Before either is looked up, in the API's words: the path of the object holding
        # them (the body's: '') and the long name cut short, as the API cuts it (measured
        # on api.openai.com in August 2026: github.com/kangminlee-maker/
        # local-OAuth-CLI-API-adapter, test/openai-responses-validation-parity.test.mjs).
        raise RequestError(
            400,
            "Mutually exclusive parameters: ''. Ensure you are only providing one of: "
            "'pre..._id' or 'conversation'.",
            code="mutually_exclusive_parameters",
        )
    previous, history = _previous(
        body.get("previous_response_id"), context.store, context.held_elsewhere
    )
    if thread is not None:
        history = _conversation_items(thread, context)
    value = body.get("input")
    if value is None:
        if previous is None or path == PATH:  # a count or compaction may take them alone
            raise missing("input")
        inputs: list[JSON] = []
    elif isinstance(value, str):
        inputs = [{"type": "message", "role": "user", "content": value}]
    elif isinstance(value, list):
        inputs = [_normal_item(v) if isinstance(v, dict) else v for v in value]
    else:
        raise invalid_type("input", "one of a string or array of input items", value)
    inputs = _resolve_items(inputs, history, context)
    check_compactions(inputs, "input", context.lenient)
    earlier = read_items(history, "previous_response_id")
    messages = [*earlier, *read_items(inputs, "input")]
    if not context.lenient:
        _check_call_outputs(expand_compactions([*history, *inputs]))
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid_type("instructions", "a string", instructions)
    if instructions:
        messages.insert(0, Message("developer", instructions))
    if not messages:
        raise empty_array("input")
    stream = get_bool(body, "stream", False)
    obfuscate = stream_options(body, stream).get("include_obfuscation", True) is not False
    max_output = get_int(body, "max_output_tokens", MIN_OUTPUT_TOKENS, None)
    max_given = max_output is not None
    cap = output_limit(entry, context)
    if cap is not None:
        if max_output is not None and max_output > cap:
            raise RequestError(
                400,
                f"max_output_tokens is too large: {max_output}. This model supports at most "
                f"{cap} output tokens, whereas you provided {max_output}.",
                code="invalid_value",
                param="max_output_tokens",
            )
        if max_output is None:
            max_output = cap
    temperature = _number(body, "temperature", 1.0)
    top_p = _number(body, "top_p", 1.0)
    frequency_penalty = _number(body, "frequency_penalty", 0.0)
    presence_penalty = _number(body, "presence_penalty", 0.0)
    tools, echoed_tools, other_tools = _parse_tools(body.get("tools"), context)
    tool_choice, allowed = _parse_tool_choice(body.get("tool_choice"), tools, other_tools)
    custom = _custom_tools(echoed_tools)
    form, text = _parse_text(body.get("text"), messages, context)
    reasoning, wants_summary, effort = _parse_reasoning(
        body.get("reasoning"), entry, model, context
    )
    store = get_bool(body, "store", True)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid_type("metadata", "a metadata object", metadata)
    check_metadata(metadata)
    for name in ("user", "safety_identifier", "prompt_cache_key"):
        item = body.get(name)
        if item is not None and not isinstance(item, str):
            raise invalid_type(name, "a string", item)
    tier = body.get("service_tier")
    if tier is not None and not isinstance(tier, str):
        raise invalid_type("service_tier", f"one of {_or(SERVICE_TIERS)}", tier)
    moderation = body.get("moderation")
    if moderation is not None and not isinstance(moderation, dict):
        raise invalid_type("moderation", "an object", moderation)
    retention = body.get("prompt_cache_retention")
    if retention is not None and not isinstance(retention, str):
        raise invalid_type("prompt_cache_retention", "one of 'in_memory' or '24h'", retention)
    check_cache_and_safety(body)
    managed = body.get("context_management")
    if managed is not None:
        if not isinstance(managed, list):
            raise invalid_type("context_management", "an array of objects", managed)
        if not managed:  # minItems 1
            raise empty_array("context_management")
    if tier is not None and tier not in TAKEN_TIERS:
        raise unsupported(tier, SERVICE_TIERS, "service_tier")
    prompt = body.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, dict):
            raise invalid_type("prompt", "an object", prompt)
        get_str(prompt, "id", "prompt")  # a stored prompt's id, required
        version = prompt.get("version")
        if version is not None and not isinstance(version, str):
            raise invalid_type("prompt.version", "a string", version)
    background = get_bool(body, "background", False)
    if background and not store:
        # Not found in the API's own words: written as it refuses a parameter that needs
        # another ("The 'stream_options' parameter is only allowed when 'stream' is
        # enabled."), with the code and param that clients of background mode report
        # (unsupported_parameter, background).
        raise RequestError(
            400,
            "The 'background' parameter is only allowed when 'store' is enabled.",
            code="unsupported_parameter",
            param="background",
        )
    included = body.get("include")
    if included is not None and not isinstance(included, list):
        raise invalid_type("include", f"an array of one of {_INCLUDABLE_CUT}", included)
    includes = string_list(body, "include")
    fallbacks = string_list(body, "fallbacks")  # a gateway's extra: `openai` refused it above
    for i, included in enumerate(includes):
        if included not in _INCLUDABLE:
            # "Invalid value: 'usage'. Supported values are: 'file_search_call.results', …"
            # (quoted by several projects); the values are the API reference's IncludeEnum.
            raise unsupported(included, _INCLUDABLE, f"include[{i}]")
    truncation = body.get("truncation", "disabled")
    if not isinstance(truncation, str):
        raise invalid_type("truncation", "one of 'auto' or 'disabled'", truncation)
    if truncation not in ("auto", "disabled"):
        raise unsupported(truncation, ("auto", "disabled"), "truncation")
    parallel = get_bool(body, "parallel_tool_calls", True)
    top_logprobs = get_int(body, "top_logprobs", 0, 20) or 0
    # What the model refuses is checked once every field is known good, the earlier turns
    # found and the input read, as the API checks it (a temperature of the wrong type, an
    # unknown previous response, a malformed item are named before a model's refusal of
    # temperature; that refusal before the logprobs it cannot give: measured on
    # api.openai.com in August 2026, github.com/kangminlee-maker/
    # local-OAuth-CLI-API-adapter, test/openai-responses-validation-parity.test.mjs).
    model_parameters(body, entry, "responses", context)
    if not context.lenient:
        _check_verbosity(text["verbosity"], entry, model)
        retention = body.get("prompt_cache_retention")
        if entry.cache_retentions and retention and retention not in entry.cache_retentions:
            # gpt-5.6-terra's words (measured on api.openai.com in August 2026:
            # github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
            # test/openai-responses-validation-parity.test.mjs)
            raise RequestError(
                400,
                "This model is compatible only with 24h extended prompt caching",
                code="invalid_parameter",
                param="prompt_cache_retention",
            )
        _check_includes(includes, effort, top_logprobs)
    echo = {
        "frequency_penalty": frequency_penalty,
        "presence_penalty": presence_penalty,
        "instructions": instructions,
        "max_output_tokens": max_output if max_given else None,
        "max_tool_calls": get_int(body, "max_tool_calls", 1, None),
        "parallel_tool_calls": parallel,
        "previous_response_id": previous,
        "conversation": {"id": thread} if thread is not None else None,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention"),
        "reasoning": reasoning,
        "safety_identifier": body.get("safety_identifier"),
        "store": store,
        "temperature": temperature,
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": echoed_tools,
        "top_logprobs": top_logprobs,
        "top_p": top_p,
        "truncation": truncation,
        "user": body.get("user"),
        "metadata": metadata or {},
        "service_tier": tier,
    }
    seed_key = canonical_or_refuse(body)  # first: a body too deep to encode is refused
    if thread is not None:
        # The same body continues a conversation that has grown since: its items decide
        # the answer too (each turn its own ids and text, in every process).
        seed_key += orjson.dumps(history, option=orjson.OPT_SORT_KEYS)
    messages_t = tuple(messages)
    if truncation == "auto":
        messages_t = _truncated(messages_t, tools, entry.context_window)
    last_user, system, turn = summarize(messages_t)
    listed = tuple(listed_item(item, seed_key, i) for i, item in enumerate(inputs))
    forced = called_custom(custom, tools, tool_choice, allowed)
    searches = _searches(tools, other_tools)
    conversation = Conversation(
        model=model,
        messages=messages_t,
        body=body,
        api="responses",
        path=path,
        headers=headers,
        api_key=api_key_of(headers),
        provider=provider_of(model, headers),
        fallbacks=fallbacks,
        stream=stream,
        max_tokens=max_output,
        max_tokens_given=max_given,
        tools=(*tools, *forced, *(tool for name, tool in SEARCHES.items() if name in searches)),
        free_form_tools=tuple(t for t in custom if t not in forced),
        builtin_tools=_builtin_names(other_tools),
        tool_choice=tool_choice,
        allowed_tools=allowed,
        parallel_tool_calls=parallel,
        response_format=form,
        logprobs="message.output_text.logprobs" in includes,
        top_logprobs=top_logprobs,
        reasoning=wants_summary or entry.reasoning == "visible",
        reasoning_effort=effort,
        canonical=seed_key,
        last_user=last_user,
        system=system,
        turn=turn,
        wire=Wire(
            echo,
            store,
            obfuscate,
            previous,
            (*history, *inputs),
            listed,
            "reasoning.encrypted_content" in includes,
            thread,
            background,
            frozenset(t.name for t in custom),
            searches,
            "web_search_call.action.sources" in includes,
            snapshot(model) if context.dated_models else None,
        ),
    )
    texts = [m.text for m in messages_t]
    schemas = [t.parameters for t in tools]
    framing = 4 * len(texts) + 3 + (len(_dumps(schemas)) if schemas else 0)
    if not context.lenient and may_exceed(texts, framing, entry.context_window):
        responses_context(entry, prompt_tokens(conversation), context)
    return conversation


_PRIMING = count_prompt(())  # the reply's priming, counted once a prompt


def _check_verbosity(verbosity: str, entry: Model, model: str) -> None:
    """A verbosity the model does not take (only medium before GPT-5): "Unsupported value:
    'low' is not supported with the 'gpt-4.1-mini' model. Supported values are:
    'medium'." (quoted in public reports of 2026; param and code as the API gives them for
    a reasoning effort the model does not take)."""
    _check_supported(verbosity, entry.verbosities, model, "text.verbosity")


def _check_supported(value: str, supported: tuple[str, ...], model: str, param: str) -> None:
    """A value of a parameter the model takes only some of (``supported``; empty: any), in
    the Responses API's words, which name the model."""
    if supported and value not in supported:
        raise RequestError(
            400,
            f"Unsupported value: '{value}' is not supported with the '{model}' model. "
            f"Supported values are: {listed(supported)}.",
            code="unsupported_value",
            param=param,
        )


def _check_includes(includes: tuple[str, ...], effort: str | None, top_logprobs: int) -> None:
    """What a model cannot include: logprobs while it reasons ("logprobs are not supported
    with reasoning models.", param include: vllm-project/vllm issue 23319 quotes the API;
    asked by `top_logprobs` alone, the same words naming it, as measured on api.openai.com
    in August 2026: github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
    test/openai-responses-validation-parity.test.mjs), encrypted reasoning when it does
    not reason ("Encrypted content is not supported with this model.": pydantic/pydantic-ai
    issue 2865)."""
    if effort not in (None, "none"):
        asked = "message.output_text.logprobs" in includes
        if asked or top_logprobs:
            raise RequestError(
                400,
                "logprobs are not supported with reasoning models.",
                code="unsupported_parameter",
                param="include" if asked else "top_logprobs",
            )
    if "reasoning.encrypted_content" in includes and effort is None:
        raise RequestError(
            400, "Encrypted content is not supported with this model.", param="include"
        )


def _truncated(
    messages: tuple[Message, ...], tools: tuple[Tool, ...], window: int
) -> tuple[Message, ...]:
    """`truncation: "auto"`: the conversation with items dropped from its beginning (the
    instructions kept) until it fits the model's context window, as the API reference
    says; the last item is always kept (alone over the window, it is refused as usual)."""
    texts = [m.text for m in messages]
    schemas = [t.parameters for t in tools] or None
    framing = 4 * len(texts) + 3 + (len(_dumps(schemas)) if schemas else 0)
    if not may_exceed(texts, framing, window):
        return messages
    head = 1 if messages and messages[0].role == "developer" else 0
    sizes = [count_prompt((m.text,)) for m in messages]  # each message's tokens, framed
    total = count_prompt((), schemas) + sum(sizes) - _PRIMING * len(sizes)
    drop = head
    while drop < len(messages) - 1 and total > window:
        total -= sizes[drop] - _PRIMING
        drop += 1
    return (*messages[:head], *messages[drop:])


def listed_item(item: Any, seed: bytes, index: int) -> JSON:
    """An input item with the id and the fields the API gives it when it lists input items
    (a message's text as parts, an output text's annotations, an image's detail, an
    assistant message's phase, a call's status, the nullable fields its item resource
    requires)."""
    if not isinstance(item, dict):
        return {"value": item}
    kind = item.get("type", "message")
    if item.get("id") is not None:
        listed = dict(item)
    else:  # sent without one, or with `"id": null` (the input params take it)
        prefix = _LISTED_PREFIX.get(kind, "item_")
        rest = {name: value for name, value in item.items() if name != "id"}
        listed = {"id": _hex_id(prefix, seed, index), **rest}
    if kind == "message":
        content = item.get("content")
        if isinstance(content, str):
            part = "output_text" if item.get("role") == "assistant" else "input_text"
            content = [{"type": part, "text": content}]
        if isinstance(content, list):
            content = [_listed_part(p) for p in content]
        listed = {
            "id": listed["id"],
            "type": "message",
            "role": item.get("role"),
            "content": content,
        }
        if "phase" in item and item.get("role") == "assistant":
            listed["phase"] = item["phase"]  # commentary or final_answer, as sent
        listed["status"] = "completed" if item.get("status") is None else item["status"]
    else:
        if kind in _CALLS and listed.get("status") is None:
            listed["status"] = "completed"
        for name, value in _LISTED_DEFAULTS.get(kind, ()):
            listed.setdefault(name, value)
        action = listed.get("action")
        if kind == "shell_call" and isinstance(action, dict):
            limits = {name: action.get(name) for name in ("timeout_ms", "max_output_length")}
            listed["action"] = {**action, **limits}
    return listed


_LISTED_PREFIX = {
    "message": "msg_",
    "function_call": "fc_",
    "function_call_output": "fc_out_",
    "custom_tool_call": "ctc_",
}
# Items the API lists with a `status` (required of their item resources; "Populated when
# input items are returned via API", the OpenAPI document says) even when sent without one.
_CALLS = (
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "computer_call_output",
    "shell_call",
    "shell_call_output",
    "tool_search_call",
    "tool_search_output",
)
# Fields their item resources require that a client may leave out: null when it sends none
# (a shell call's action's limits too), a tool search's execution `server` (its default).
_LISTED_DEFAULTS: dict[str, tuple[tuple[str, object], ...]] = {
    "shell_call": (("environment", None),),
    "shell_call_output": (("max_output_length", None),),
    "tool_search_call": (("call_id", None), ("execution", "server")),
    "tool_search_output": (("call_id", None), ("execution", "server")),
}


def _listed_part(part: Any) -> Any:
    if not isinstance(part, dict):
        return part
    if part.get("type") == "output_text":
        return {"annotations": [], "logprobs": [], **part}
    if part.get("type") == "input_image":
        return {"detail": "auto", **part}
    return part


def _hex_id(prefix: str, *parts: bytes | str | int) -> str:
    """A 48-hex-digit id, as the API's: derived, so the same request gives the same ids.
    The ids of one response share their first 16 digits, as the API's do."""
    own = "".join(f"{derive_seed(prefix, *parts, k):016x}" for k in range(2))
    return prefix + _shared_digits(parts[:1]) + own


@functools.lru_cache(maxsize=1024)
def _shared_digits(first: tuple[bytes | str | int, ...]) -> str:
    """The 16 digits the ids of one response (or one request's input items) share."""
    return f"{derive_seed(*first):016x}"


# --- answers --------------------------------------------------------------------------------


def _usage(rendered: Rendered) -> JSON:
    return {
        "input_tokens": rendered.prompt_tokens,
        "input_tokens_details": {
            "cache_write_tokens": 0,
            "cached_tokens": rendered.cached_tokens,
        },
        "output_tokens": rendered.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": rendered.reasoning_tokens},
        "total_tokens": rendered.total_tokens,
    }


@dataclass(frozen=True, slots=True)
class _Ids:
    response: str
    reasoning: str
    message: str
    calls: tuple[str, ...]


def _answering(model: str, asked: str, dated: str | None) -> str:
    """The model an answer names: the dated model of the alias the request named (a
    request for gpt-4o is answered by gpt-4o-2024-08-06), unless a rule's reply named
    another."""
    return dated if dated is not None and model == asked else model


def _ids(rendered: Rendered, wire: Wire) -> _Ids:
    choice = rendered.choices[0] if rendered.choices else None
    calls = choice.tool_calls if choice else ()
    return _ids_of(rendered.id, tuple((c.index, _call_kind(c, wire)) for c in calls))


def _call_kind(call: RenderedToolCall, wire: Wire) -> str:
    """The output item a call is: `function_call`, `custom_tool_call` (a custom tool's),
    `web_search_call` or `file_search_call` (a built-in search's)."""
    if call.name in wire.custom:
        return "custom_tool_call"
    if call.name in wire.searches:
        return _SEARCH_ITEMS[call.name][0]
    return "function_call"


_ID_PREFIXES = {
    "function_call": "fc_",
    "custom_tool_call": "ctc_",
    **dict(_SEARCH_ITEMS.values()),
}


@functools.lru_cache(maxsize=256)
def _ids_of(answer_id: str, calls: tuple[tuple[int, str], ...]) -> _Ids:
    """The ids of an answer's response and items (a stream asks four times for them): a
    function call's `fc_…`, a custom tool's call `ctc_…`, a search's `ws_…` or `fs_…`."""
    return _Ids(
        _hex_id("resp_", answer_id),
        _hex_id("rs_", answer_id),
        _hex_id("msg_", answer_id),
        tuple(_hex_id(_ID_PREFIXES[kind], answer_id, "call", index) for index, kind in calls),
    )


def _status(choice: RenderedChoice | None) -> tuple[str, JSON | None]:
    if choice is None or choice.finish_reason not in ("length", "content_filter"):
        return "completed", None
    reason = "max_output_tokens" if choice.finish_reason == "length" else "content_filter"
    return "incomplete", {"reason": reason}


def _message_item(ids: _Ids, choice: RenderedChoice, status: str) -> JSON:
    if choice.refusal is not None:
        part: JSON = {"type": "refusal", "refusal": choice.refusal}
    else:
        part = {
            "type": "output_text",
            "annotations": [],
            "logprobs": _logprobs(choice),
            "text": choice.content,
        }
    return {
        "id": ids.message,
        "type": "message",
        "status": status,
        "content": [part],
        "role": "assistant",
    }


def _logprobs(choice: RenderedChoice) -> list[JSON]:
    """The text's token logprobs (`include: ["message.output_text.logprobs"]`), else []."""
    if choice.logprobs is None:
        return []
    return [entry for delta in choice.logprobs for entry in delta]


def _call_item(ids: _Ids, choice: RenderedChoice, k: int, status: str, wire: Wire) -> JSON:
    """A `function_call` item, or a `custom_tool_call` (its `input` the call's text) when
    it calls a custom tool of the request, or a built-in search's item (`_search_item`)."""
    call = choice.tool_calls[k]
    kind = _call_kind(call, wire)
    if call.name in wire.searches:
        return _search_item(ids.calls[k], call, status, wire)
    if kind == "custom_tool_call":
        return {
            "id": ids.calls[k],
            "type": "custom_tool_call",
            "status": status,
            "call_id": call.id,
            "input": call.arguments,
            "name": call.name,
        }
    return {
        "id": ids.calls[k],
        "type": "function_call",
        "status": status,
        "arguments": call.arguments,
        "call_id": call.id,
        "name": call.name,
    }


def _search_item(item_id: str, call: RenderedToolCall, status: str, wire: Wire) -> JSON:
    """A built-in search's item. This server searches nothing: a finished search `failed`
    (the answer after it says so). A `web_search_call`'s action is the query (and, when
    `include` asks, no sources), in progress its type alone, as the API's stream opens it;
    a `file_search_call` has the query in its `queries` (none yet in progress) and no
    `results`."""
    kind = _SEARCH_ITEMS[call.name][0]
    done = status != "in_progress"
    query = _query(call)
    if kind == "file_search_call":
        queries = [query] if done else []
        state = "failed" if done else status
        return {"id": item_id, "type": kind, "status": state, "queries": queries, "results": None}
    if not done:
        return {"id": item_id, "type": kind, "status": status, "action": _SEARCHING}
    action: JSON = {"type": "search", "query": query, "queries": [query]}
    if wire.sources:
        action["sources"] = []
    return {"id": item_id, "type": kind, "status": "failed", "action": action}


_SEARCHING: JSON = {"type": "search"}


def _query(call: RenderedToolCall) -> str:
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        return call.arguments
    query = value.get("query") if isinstance(value, dict) else None
    return query if isinstance(query, str) else call.arguments


def _sealed(reasoning_id: str) -> str:
    """A reasoning item's `encrypted_content`: an opaque token, as the API's (a Fernet
    token, "gAAAAAB…"), that a stateless client sends back with the item; derived from
    the item's id, so that one mockllm gave out can be verified."""
    digest = hashlib.sha256(reasoning_id.encode()).digest() * 3
    return "gAAAAAB" + base64.urlsafe_b64encode(digest).decode()


def _reasoning_item(ids: _Ids, text: str | None, encrypted: bool = False) -> JSON:
    summary = [{"type": "summary_text", "text": text}] if text is not None else []
    item: JSON = {"id": ids.reasoning, "type": "reasoning"}
    if encrypted:
        item["encrypted_content"] = _sealed(ids.reasoning)
    item["summary"] = summary
    return item


def _output(ids: _Ids, choice: RenderedChoice | None, status: str, wire: Wire) -> list[JSON]:
    if choice is None:
        return []
    items: list[JSON] = []
    if choice.reasoning is not None or choice.reasoning_tokens:
        # A reasoning model's output starts with its reasoning item; its summary is empty
        # unless `reasoning.summary` asked for one.
        items.append(_reasoning_item(ids, choice.reasoning, wire.encrypted))
    item_status = "incomplete" if status == "incomplete" else "completed"
    message = [_message_item(ids, choice, item_status)] if _has_message(choice) else []
    calls = range(len(choice.tool_calls))
    called = [_call_item(ids, choice, k, item_status, wire) for k in calls]
    return items + (called + message if choice.calls_first else message + called)


def _has_message(choice: RenderedChoice) -> bool:
    """Whether an answer has a message item: its text, or no tool calls; but not when
    `max_output_tokens` ended it in its reasoning (the output is the reasoning alone)."""
    if choice.tool_calls or choice.content or choice.refusal is not None:
        return bool(choice.content) or not choice.tool_calls
    thought = choice.reasoning is not None or choice.reasoning_tokens > 0
    return not (thought and choice.finish_reason == "length")


# What the hosted tools used: mockllm runs none of them, so each family counts zero, as the
# API reports a response whose tools did not run (shared: the object is only serialized).
_NO_TOOL_USAGE: JSON = {
    "image_gen": {
        "input_tokens": 0,
        "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"image_tokens": 0, "text_tokens": 0},
        "total_tokens": 0,
    },
    "web_search": {"num_requests": 0},
}


def _tool_usage(choice: RenderedChoice | None, wire: Wire) -> JSON:
    """`tool_usage`, with the web searches the answer made (tried) counted."""
    if choice is None or SEARCH.name not in wire.searches:
        return _NO_TOOL_USAGE
    searched = sum(1 for c in choice.tool_calls if c.name == SEARCH.name)
    if not searched:
        return _NO_TOOL_USAGE
    return {**_NO_TOOL_USAGE, "web_search": {"num_requests": searched}}


def response_object(
    rendered: Rendered,
    conversation: Conversation,
    created: int,
    *,
    status: str | None = None,
    output: list[JSON] | None = None,
    error: JSON | None = None,
) -> JSON:
    """The `response` object: finished (status from the answer), or as `status` says with
    the `output` given (the stream's first events carry it in progress, empty)."""
    wire: Wire = conversation.wire
    ids = _ids(rendered, wire)
    choice = rendered.choices[0] if rendered.choices else None
    final, incomplete = _status(choice)
    status = status or final
    done = status in ("completed", "incomplete", "failed")
    echo = wire.echo
    # `conversation` only when the request continues one, in name order as the API puts it
    thread = {"conversation": echo["conversation"]} if echo["conversation"] else {}
    return {
        "id": ids.response,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": wire.background,
        "completed_at": created if done and status != "failed" else None,
        **thread,
        "error": error,
        "frequency_penalty": echo.get("frequency_penalty", 0.0),
        "incomplete_details": incomplete if status == "incomplete" else None,
        "instructions": echo["instructions"],
        "max_output_tokens": echo["max_output_tokens"],
        "max_tool_calls": echo["max_tool_calls"],
        "model": _answering(rendered.model, conversation.model, wire.dated),
        "moderation": None,
        "output": _output(ids, choice, status, wire) if output is None else output,
        "parallel_tool_calls": echo["parallel_tool_calls"],
        "presence_penalty": echo.get("presence_penalty", 0.0),
        "previous_response_id": echo["previous_response_id"],
        "prompt_cache_key": echo["prompt_cache_key"],
        "prompt_cache_retention": echo.get("prompt_cache_retention"),
        "reasoning": echo["reasoning"],
        "safety_identifier": echo["safety_identifier"],
        "service_tier": served_tier(echo["service_tier"]) if done else "auto",
        "store": echo["store"],
        "temperature": echo["temperature"],
        "text": echo["text"],
        "tool_choice": echo["tool_choice"],
        "tool_usage": _tool_usage(choice, wire),
        "tools": echo["tools"],
        "top_logprobs": echo["top_logprobs"],
        "top_p": echo["top_p"],
        "truncation": echo["truncation"],
        "usage": _usage(rendered) if done and status != "failed" else None,
        "user": echo["user"],
        "metadata": echo["metadata"],
    }


_Template = tuple[bytes, ...]  # the constant parts of a delta event, around its variable ones


class _Events:
    """The stream's events, numbered in order; each is `event: T\\ndata: {"type": T, …}`
    with the other keys in name order, as the API writes them."""

    def __init__(self, padding: Padding, obfuscate: bool) -> None:
        self.events: list[bytes] = []
        self.due: list[float] = []
        self.obfuscate = obfuscate
        self.padding = padding.text
        self.pad = padding

    def add(self, kind: str, at: float, **fields: Any) -> bytes:
        fields["sequence_number"] = len(self.events)
        data = _dumps({"type": kind, **dict(sorted(fields.items()))})
        event = b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"
        self.events.append(event)
        self.due.append(at)
        return event

    def template(self, kind: str, fields: dict[str, Any]) -> _Template:
        """What every `kind` delta event with these other fields has in common: the bytes
        before its text, between it and its padding (if any) and number, and after, in the
        order `add` puts the keys (`delta` < `obfuscation` < `sequence_number`)."""
        variable: tuple[str, ...] = ("delta", "obfuscation", "sequence_number")
        if not self.obfuscate:
            variable = ("delta", "sequence_number")
        parts: list[bytes] = []
        current = b"event: " + kind.encode() + b'\ndata: {"type":' + _dumps(kind)
        for key in sorted([*fields, *variable]):
            current += b"," + _dumps(key) + b":"
            if key in variable:
                parts.append(current)
                current = b""
            else:
                current += _dumps(fields[key])
        parts.append(current + b"}\n\n")
        return tuple(parts)

    def add_delta(self, template: _Template, at: float, delta: str) -> bytes:
        """`add(kind, at, delta=delta, **fields)` (with its padding) from the template of
        `kind` and `fields`: the same bytes."""
        number = b"%d" % len(self.events)
        if self.obfuscate:
            head, middle, tail, end = template
            padding = self.padding(delta)
            event = b"".join((head, _dumps(delta), middle, padding, tail, number, end))
        else:
            head, tail, end = template
            event = b"".join((head, _dumps(delta), tail, number, end))
        self.events.append(event)
        self.due.append(at)
        return event

    def add_deltas(self, template: _Template, ats: list[float], deltas: Sequence[str]) -> None:
        """`add_delta` for each of `deltas` in turn, due at `ats`, built at once: the same
        bytes (the paddings are the same run of the stream's padding)."""
        first = len(self.events)
        numbers = [b"%d" % n for n in range(first, first + len(deltas))]
        if self.obfuscate:
            head, middle, tail, end = template
            middle += b'"'
            tail = b'"' + tail
            drawn, at = self.pad.runs(deltas)
            self.events += [
                b"".join((head, _dumps(d), middle, drawn[a:b], tail, number, end))
                for d, a, b, number in zip(deltas, at, at[1:], numbers, strict=False)
            ]
        else:
            head, tail, end = template
            self.events += [
                b"".join((head, _dumps(d), tail, number, end))
                for d, number in zip(deltas, numbers, strict=True)
            ]
        self.due += ats


def stream(
    rendered: Rendered, conversation: Conversation, created: int, fault: Fault | None = None
) -> Body:
    """The typed events of a streamed response, each with the offset it is due at."""
    wire: Wire = conversation.wire
    ids = _ids(rendered, wire)
    out = _Events(Padding(rendered.id), wire.obfuscate)
    offsets = rendered.offsets
    choice = rendered.choices[0] if rendered.choices else None
    status, _ = _status(choice)
    opening = response_object(rendered, conversation, created, status="in_progress", output=[])
    if wire.background:
        # A background response is created queued and stays so until its first token is
        # due (what a poll of it shows too): `response.queued`, then `response.in_progress`.
        queued = {**opening, "status": "queued"}
        out.add("response.created", 0.0, response=queued)
        out.add("response.queued", 0.0, response=queued)
        out.add("response.in_progress", offsets[0] if offsets else 0.0, response=opening)
    else:
        out.add("response.created", 0.0, response=opening)
        out.add("response.in_progress", 0.0, response=opening)
    cut_at = None
    if fault is not None:
        if fault.error_after_tokens is not None:
            cut_at = fault.error_after_tokens
        elif fault.empty_choices_error:
            cut_at = 0
    ticks = 0  # delta events written
    abort_after = None
    done_items: list[JSON] = []

    def tick_at() -> float:
        return offsets[min(ticks, len(offsets) - 1)] if offsets else 0.0

    def deltas(template: _Template, pieces: Sequence[str]) -> bool:
        """`delta` for each piece in turn, all at once when no fault can cut or break
        them; False once the fault's cut point is reached."""
        nonlocal ticks
        if fault is not None:
            return all(delta(template, piece) for piece in pieces)
        if pieces:
            last = len(offsets) - 1
            ats = [offsets[min(t, last)] for t in range(ticks, ticks + len(pieces))]
            out.add_deltas(template, ats if offsets else [0.0] * len(pieces), pieces)
            ticks += len(pieces)
        return True

    def delta(template: _Template, piece: str) -> bool:
        """One delta event; False once the fault's cut point is reached."""
        nonlocal ticks, abort_after
        if cut_at is not None and ticks >= cut_at:
            return False
        event = out.add_delta(template, tick_at(), piece)
        ticks += 1
        if fault is not None and fault.malformed_chunk_at == ticks:
            out.events[-1] = malformed(event)
        if fault is not None and fault.disconnect_after_tokens == ticks:
            abort_after = len(out.events)
        return True

    broken = False
    index = 0
    if choice is not None and choice.reasoning is None and choice.reasoning_tokens:
        at = tick_at()
        item = _reasoning_item(ids, None, wire.encrypted)
        out.add("response.output_item.added", at, item=item, output_index=index)
        out.add("response.output_item.done", at, item=item, output_index=index)
        done_items.append(item)
        index += 1
    if choice is not None and choice.reasoning is not None and not broken:
        at = tick_at()
        item = _reasoning_item(ids, None)
        out.add("response.output_item.added", at, item=item, output_index=index)
        part = {"type": "summary_text", "text": ""}
        common = {"item_id": ids.reasoning, "output_index": index, "summary_index": 0}
        out.add("response.reasoning_summary_part.added", at, part=part, **common)
        template = out.template("response.reasoning_summary_text.delta", common)
        broken = not deltas(template, choice.reasoning_deltas)
        if not broken:
            at = tick_at()
            text = choice.reasoning
            out.add("response.reasoning_summary_text.done", at, text=text, **common)
            part = {"type": "summary_text", "text": text}
            out.add("response.reasoning_summary_part.done", at, part=part, **common)
            item = _reasoning_item(ids, text, wire.encrypted)
            out.add("response.output_item.done", at, item=item, output_index=index)
            done_items.append(item)
            index += 1
    item_status = "incomplete" if status == "incomplete" else "completed"

    def silent(count: int) -> bool:
        """`count` ticks that write no event (a web search's query, sent in no delta);
        False once the fault's cut point is reached."""
        nonlocal ticks, abort_after
        for _ in range(count):
            if cut_at is not None and ticks >= cut_at:
                return False
            ticks += 1
            if fault is not None and fault.disconnect_after_tokens == ticks:
                abort_after = len(out.events)
        return True

    def message(index: int) -> int:
        """The message item, if the answer has one; the next item's index."""
        nonlocal broken
        assert choice is not None
        if broken or not _has_message(choice):
            return index
        at = tick_at()
        added = {
            "id": ids.message,
            "type": "message",
            "status": "in_progress",
            "content": [],
            "role": "assistant",
        }
        out.add("response.output_item.added", at, item=added, output_index=index)
        common = {"content_index": 0, "item_id": ids.message, "output_index": index}
        if choice.refusal is not None:
            empty: JSON = {"type": "refusal", "refusal": ""}
            kind, done_kind, text_key = "response.refusal.delta", "response.refusal.done", "refusal"
        else:
            empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            kind, done_kind, text_key = (
                "response.output_text.delta",
                "response.output_text.done",
                "text",
            )
        out.add("response.content_part.added", at, part=empty, **common)
        extra: dict[str, Any] = {"logprobs": []} if text_key == "text" else {}
        template = out.template(kind, {**extra, **common})
        if choice.logprobs is None or text_key != "text":
            broken = not deltas(template, choice.deltas)
        else:
            for i, piece in enumerate(choice.deltas):
                # each delta carries its tokens' logprobs: a template of its own
                template = out.template(kind, {"logprobs": list(choice.logprobs[i]), **common})
                if not delta(template, piece):
                    broken = True
                    break
        if broken:
            return index
        at = tick_at()
        done_text = choice.refusal if choice.refusal is not None else choice.content
        if text_key == "text":
            extra = {"logprobs": _logprobs(choice)}
        out.add(done_kind, at, **{text_key: done_text}, **extra, **common)
        item = _message_item(ids, choice, item_status)
        out.add("response.content_part.done", at, part=item["content"][0], **common)
        out.add("response.output_item.done", at, item=item, output_index=index)
        done_items.append(item)
        return index + 1

    def calls(index: int) -> int:
        """The call items; the next item's index."""
        nonlocal broken
        assert choice is not None
        for k, call in enumerate(choice.tool_calls if not broken else ()):
            at = tick_at()
            added = _call_item(ids, choice, k, "in_progress", wire)
            common = {"item_id": ids.calls[k], "output_index": index}
            if call.name in wire.searches:
                # searched while its query's tokens are due, sent in no delta
                out.add("response.output_item.added", at, item=added, output_index=index)
                out.add(f"response.{added['type']}.in_progress", at, **common)
                out.add(f"response.{added['type']}.searching", at, **common)
                if not silent(len(call.fragments)):
                    broken = True
                    break
                at = tick_at()
            else:
                # its arguments (a custom tool's input) come in the deltas
                kind, text_key = "response.function_call_arguments", "arguments"
                if added["type"] == "custom_tool_call":
                    kind, text_key = "response.custom_tool_call_input", "input"
                added[text_key] = ""
                out.add("response.output_item.added", at, item=added, output_index=index)
                template = out.template(kind + ".delta", common)
                if not deltas(template, call.fragments):
                    broken = True
                    break
                at = tick_at()
                out.add(kind + ".done", at, **{text_key: call.arguments}, **common)
            item = _call_item(ids, choice, k, item_status, wire)
            out.add("response.output_item.done", at, item=item, output_index=index)
            done_items.append(item)
            index += 1
        return index

    if choice is not None:
        for write in (calls, message) if choice.calls_first else (message, calls):
            index = write(index)
    last = out.due[-1]
    if cut_at is not None:
        assert fault is not None
        error = error_object(fault.error)
        if fault.empty_choices_error:
            out.add(
                "error", last, code=error["code"], message=error["message"], param=error["param"]
            )
        else:
            failed = response_object(
                rendered,
                conversation,
                created,
                status="failed",
                output=done_items,
                error={"code": error["code"] or "server_error", "message": error["message"]},
            )
            out.add("response.failed", last, response=failed)
    else:
        final = response_object(rendered, conversation, created)
        kind = "response.incomplete" if status == "incomplete" else "response.completed"
        out.add(kind, last, response=final)
    if fault is not None and fault.disconnect_after_tokens == 0:
        abort_after = 2
    return Body(
        200, SSE_TYPE, events=tuple(out.events), offsets=tuple(out.due), abort_after=abort_after
    )


def whole(
    rendered: Rendered, conversation: Conversation, created: int, fault: Fault | None = None
) -> Body:
    """A non-streaming response, with the non-streaming form of a fault."""
    delay = rendered.offsets[-1] if rendered.offsets else 0.0
    if fault is not None and (fault.error_after_tokens is not None or fault.empty_choices_error):
        return failure(fault.error or ErrorSpec(500), delay)
    data = _dumps(response_object(rendered, conversation, created))
    return whole_json(data, delay, fault)


def answer(
    rendered: Rendered, conversation: Conversation, created: int, fault: Fault | None
) -> Body:
    if conversation.stream:
        return stream(rendered, conversation, created, fault)
    return whole(rendered, conversation, created, fault)


# --- stored responses -------------------------------------------------------------------------


def remember(
    store: StateStore,
    conversation: Conversation,
    rendered: Rendered,
    created: int,
    fault: Fault | None = None,
) -> None:
    """Keep the finished response (unless `store: false`) for `previous_response_id`, GET,
    DELETE and its input items: `failed`, with its error, when a fault's in-band error
    ended it."""
    wire: Wire = conversation.wire
    if wire.conversation is not None and fault is None:
        # Its input and output items join the conversation it continues.
        output = response_object(rendered, conversation, created)["output"]
        _join(store, wire.conversation, [*wire.inputs, *output])
    if not wire.store:
        return
    if fault is not None and _breaks(fault):
        response = _failed(rendered, conversation, created, fault.error)
        if conversation.stream:  # as its `response.failed` event said
            ended = stream(rendered, conversation, created, _in_band(fault))
            response = _ended_with(ended) or response
    else:
        response = response_object(rendered, conversation, created)
    _keep(store, wire, response)


def _join(store: StateStore, conversation_id: str, items: list[JSON]) -> None:
    """Add a turn's items to the conversation it continues. One the store does not hold
    (an upstream's or a cassette's, read as no earlier turns; or one deleted since the
    request was read) is left alone: the answer was already given."""
    try:
        conversations.add(store, conversation_id, items, listed_item)
    except RequestError:
        pass


def _breaks(fault: Fault | None) -> bool:
    """Whether a fault's in-band error ends the answer (failed), not just its transport."""
    return fault is not None and (fault.error_after_tokens is not None or fault.empty_choices_error)


def _in_band(fault: Fault) -> Fault:
    """The part of a fault that ends the answer itself (its in-band error), without what
    only its transport suffers (a disconnect, a malformed event)."""
    return Fault(
        error_after_tokens=fault.error_after_tokens,
        empty_choices_error=fault.empty_choices_error,
        error=fault.error,
    )


def _ended_with(body: Body) -> JSON | None:
    """The response a stream ended with (its `response.failed` event's, which holds the
    items finished before the failure), or None when it ended with an `error` event."""
    data = orjson.loads(body.events[-1].partition(b"\ndata: ")[2])
    response: JSON | None = data.get("response")
    return response


def _failed(
    rendered: Rendered, conversation: Conversation, created: int, spec: ErrorSpec | None
) -> JSON:
    error = error_object(spec)
    return response_object(
        rendered,
        conversation,
        created,
        status="failed",
        output=[],
        error={"code": error["code"] or "server_error", "message": error["message"]},
    )


def _keep(store: StateStore, wire: Wire, response: JSON, run: JSON | None = None) -> None:
    """Store a response (and its run, when it runs in the background) and its output
    items by id."""
    document = {"response": response, "history": list(wire.history), "inputs": list(wire.inputs)}
    if run is not None:
        document[background.RUN] = run
    store.put_document(STORE_KIND, response["id"], _dumps(document), STORED_LIMIT)
    reasoning = None
    for item in response["output"]:
        if item.get("type") == "reasoning":
            reasoning = item["id"]
        kept = {"item": item, "requires": reasoning if item.get("type") != "reasoning" else None}
        store.put_document(ITEM_KIND, item["id"], _dumps(kept), STORED_LIMIT)


def detach(
    store: StateStore, conversation: Conversation, run: Run
) -> tuple[Body, Poll | None] | None:
    """A `background: true` request: its run kept in the store (where it stands is read
    from the clock, see responses_background) and the request's own answer, the response
    queued (or, for `stream: true`, its stream, which the client may leave and resume).

    A rule's error of status 500 or more fails the run (`status: "failed"` once it is due,
    with the error's code and message); one below 500 is answered on the request, as the
    API refuses a request before it queues it (None: answered as any other)."""
    wire: Wire = conversation.wire
    if not wire.background:
        return None
    fault = run.fault
    if run.rendered is None:
        if run.error is None or run.error.status < 500:
            return None
        rendered = Rendered(
            id=seed_id(run.seed, "chatcmpl-", 29),
            model=conversation.model,
            choices=(),
            prompt_tokens=0,
            completion_tokens=0,
            total_tokens=0,
            offsets=(run.delay_s,),
            fingerprint="",
        )
        final = _failed(rendered, conversation, run.created, run.error)
        queued = response_object(rendered, conversation, run.created, status="queued", output=[])
        out = _Events(Padding(rendered.id), wire.obfuscate)
        out.add("response.created", 0.0, response=queued)
        out.add("response.queued", 0.0, response=queued)
        running = {**queued, "status": "in_progress"}
        out.add("response.in_progress", run.delay_s, response=running)
        out.add("response.failed", run.delay_s, response=final)
        kept = sent = Body(200, SSE_TYPE, events=tuple(out.events), offsets=tuple(out.due))
    else:
        rendered = run.rendered
        broken = _breaks(fault)
        # the run ends as the fault says; its wire is the POST's
        in_band = _in_band(fault) if fault is not None and broken else None
        kept = stream(rendered, conversation, run.created, in_band)
        sent = stream(rendered, conversation, run.created, fault) if fault is not None else kept
        if broken:
            final = _failed(rendered, conversation, run.created, fault.error if fault else None)
            if conversation.stream:  # as the stream's `response.failed` event says
                final = _ended_with(kept) or final
        else:
            final = response_object(rendered, conversation, run.created)
        queued = response_object(rendered, conversation, run.created, status="queued", output=[])
        if wire.conversation is not None and not broken:
            _join(store, wire.conversation, [*wire.inputs, *final["output"]])
    record = background.run_fields(
        run.started,
        kept.offsets[2],  # `response.in_progress`: out of the queue
        kept.offsets[-1],
        queued,
        kept.events if conversation.stream else None,
        kept.offsets,
        wire.obfuscate,
        rendered.id,
    )
    _keep(store, wire, final, record)
    document = {background.RUN: record}
    if conversation.stream:
        return sent, background.poll(store, document, final["id"])
    return whole_json(_dumps(queued), 0.0, fault), None


def referenced(item: Any, store: StateStore | None) -> Any:
    """An `item_reference` as the stored item it names (a 404 when there is none); any
    other item as it is."""
    if not isinstance(item, dict) or item.get("type") != "item_reference":
        return item
    item_id = item.get("id")
    if not isinstance(item_id, str):
        raise absent_or_wrong("items.id", "a string", item_id)
    found = _stored_item(store, item_id)
    if found is None:
        raise RequestError(404, f"Item with id '{item_id}' not found.", param="items")
    return found["item"]


def _stored_item(store: StateStore | None, item_id: str) -> JSON | None:
    """A stored output item: {"item", "requires" (the reasoning item it came after)}."""
    if store is None:
        return None
    raw = store.get_document(ITEM_KIND, item_id)
    return orjson.loads(raw) if raw is not None else None


def stored_response(store: StateStore | None, response_id: str) -> JSON | None:
    """A stored response's document: {"response", "history", "inputs"}, or None."""
    if store is None:
        return None
    raw = store.get_document(STORE_KIND, response_id)
    return orjson.loads(raw) if raw is not None else None


def not_found(response_id: str) -> RequestError:
    return RequestError(
        404,
        f"Response with id '{response_id}' not found.",
        param="response_id",
    )


DIALECT = Dialect(
    api="responses",
    paths=(PATH,),
    parse=parse,
    answer=answer,
    failure=failure,
    refusal=refusal,
    headers=headers,
    static_headers=((b"openai-version", b"2020-10-01"),),
    remember=remember,
    reads_state=lambda raw: True,  # earlier responses, items, conversations; ids
    detach=detach,
)


def count_input_tokens(conversation: Conversation, created: int = 0, seed: int = 0) -> Body:
    """`POST /v1/responses/input_tokens`: the input's tokens, counted as `usage.input_tokens`
    counts them when the model answers the same request."""
    data = {"object": "response.input_tokens", "input_tokens": prompt_tokens(conversation)}
    return Body(200, JSON_TYPE, _dumps(data), offsets=(0.0,))


# POST /v1/responses/input_tokens: the same request body, answered from the request alone.
INPUT_TOKENS = replace(
    DIALECT, paths=(INPUT_TOKENS_PATH,), direct=count_input_tokens, remember=None
)
