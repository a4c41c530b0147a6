"""The Chat Completions dialect: `POST /v1/chat/completions` read into a Conversation, and
answers written as a `chat.completion` body or `chat.completion.chunk` SSE events.

Every event is built before the first one is due; only the changing fields are
encoded per event and spliced into a prefix shared by the whole stream. Faults that
change what is sent (a malformed chunk, an in-band error) are applied here;
faults that change how it is sent (disconnect, hang, drip) are the writer's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from mockllm import audio, sse, stored_completions, vllm
from mockllm.catalogue import Model, lookup, snapshot
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
from mockllm.dialects import DEFAULT_CONTEXT, Dialect, ParseContext
from mockllm.dialects.openai_errors import failure, headers, refusal
from mockllm.errors import RequestError
from mockllm.protocol import (
    SERVICE_TIERS,
    TAKEN_TIERS,
    absent_or_wrong,
    array_too_long,
    canonical_or_refuse,
    check_cache_and_safety,
    check_logit_bias,
    check_metadata,
    check_name,
    empty_array,
    error_object,
    forced_tokens,
    get_bool,
    get_int,
    get_number,
    get_str,
    invalid_type,
    load_object,
    missing,
    parse_stop,
    served_tier,
    stream_options,
    string_list,
    unsupported,
)
from mockllm.refusals import (
    REASONING_EFFORTS,
    chat_context,
    check_effort,
    check_supported,
    may_exceed,
    model_parameters,
    output_limit,
    refuse_schema,
    too_many_output_tokens,
    unrecognized_arguments,
)
from mockllm.render import Rendered, RenderedChoice, called_custom, free_form_tool
from mockllm.rules import ErrorSpec, Fault
from mockllm.state import StateStore
from mockllm.tokens import count_prompt, count_tokens
from mockllm.wire import SSE_TYPE, Body, Padding, interleave, whole_json

_dumps = orjson.dumps
PATH = "/v1/chat/completions"
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
MODALITIES = ("text", "audio")
VERBOSITIES = ("low", "medium", "high")
MAX_TOOLS = 128
_IMAGE_URL_SCHEMES = ("https://", "http://", "data:")


# --- requests -------------------------------------------------------------------------------


def _content_text(content: object, param: str, role: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_type(param, "one of a string or array of objects", content)
    if not content:
        raise empty_array(param)
    texts: list[str] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise invalid_type(where, "an object", part)
        kind = part.get("type")
        if not isinstance(kind, str):
            raise absent_or_wrong(f"{where}.type", "a string", kind)
        if kind in ("text", "input_text", "refusal"):
            text = part.get(kind if kind == "refusal" else "text")
            if not isinstance(text, str):
                field_name = "refusal" if kind == "refusal" else "text"
                raise absent_or_wrong(f"{where}.{field_name}", "a string", text)
            texts.append(text)
        elif kind == "image_url":
            _check_image_url(part.get("image_url"), f"{where}.image_url")
            if role != "user":
                # Worked around by agent frameworks: "Invalid 'messages[3]'. Image URLs are
                # only allowed for messages with role 'user', but this message with role
                # 'tool' contains an image URL."
                message = param.rsplit(".", 1)[0]
                raise RequestError(
                    400,
                    f"Invalid '{message}'. Image URLs are only allowed for messages with role "
                    f"'user', but this message with role '{role}' contains an image URL.",
                    code="invalid_value",
                    param=message,
                )
        elif kind == "input_audio":
            _check_input_audio(part.get("input_audio"), f"{where}.input_audio")
        elif kind == "file":
            _check_file(part.get("file"), f"{where}.file")
        elif kind not in ("input_image", "input_file"):
            raise unsupported(
                kind, ("text", "image_url", "input_audio", "refusal", "file"), f"{where}.type"
            )
    return "\n".join(texts)


def _check_input_audio(value: object, param: str) -> None:
    """An `input_audio` part's object: base64 `data` and a `format`, "wav" or "mp3"."""
    if not isinstance(value, dict):
        raise absent_or_wrong(param, "an object", value)
    get_str(value, "data", param)
    audio_format = get_str(value, "format", param)
    if audio_format not in INPUT_AUDIO_FORMATS:
        raise unsupported(audio_format, INPUT_AUDIO_FORMATS, f"{param}.format")


def _check_file(value: object, param: str) -> None:
    """A `file` part's object: `file_id`, `file_data` and `filename`, each a string."""
    if not isinstance(value, dict):
        raise absent_or_wrong(param, "an object", value)
    for name in ("file_id", "file_data", "filename"):
        given = value.get(name)
        if given is not None and not isinstance(given, str):
            raise invalid_type(f"{param}.{name}", "a string", given)


def _check_image_url(value: object, param: str) -> None:
    """An `image_url` part's object: a `url` string and an optional `detail` (the API's
    `ChatCompletionRequestMessageContentPartImage`)."""
    if not isinstance(value, dict):
        raise absent_or_wrong(param, "an object", value)
    url = get_str(value, "url", param)
    if not url.startswith(_IMAGE_URL_SCHEMES):
        # The API fetches http(s) addresses and reads data URLs; anything else is refused
        # (quoted in github.com/Alibaba-NLP/OmniSearch/issues/3).
        raise RequestError(
            400,
            f"Invalid image URL: '{param}.url'. Expected a base64-encoded data URL with an "
            "image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got a "
            "value without the 'data:' prefix.",
            code="invalid_value",
            param=f"{param}.url",
        )
    detail = value.get("detail")
    if detail is not None and detail not in ("auto", "low", "high"):
        raise unsupported(detail, ("auto", "low", "high"), f"{param}.detail")


def _parse_tool_calls(value: object, param: str) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    if not value:
        raise empty_array(param)
    calls = []
    for i, call in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(call, dict):
            raise invalid_type(where, "an object", call)
        call_id = get_str(call, "id", where)
        kind = call.get("type")
        if kind is None:
            raise missing(f"{where}.type")
        if kind not in ("function", "custom"):
            raise unsupported(kind, ("function", "custom"), f"{where}.type")
        if kind == "custom":  # a call of a custom tool: its free-form input as arguments
            custom = call.get("custom")
            if not isinstance(custom, dict):
                raise absent_or_wrong(f"{where}.custom", "an object", custom)
            at = f"{where}.custom"
            calls.append(
                ToolCall(call_id, get_str(custom, "name", at), get_str(custom, "input", at))
            )
            continue
        function = call.get("function")
        if not isinstance(function, dict):
            raise absent_or_wrong(f"{where}.function", "an object", function)
        name = function.get("name")
        if not isinstance(name, str):
            raise missing(f"{where}.function.name")
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            raise invalid_type(f"{where}.function.arguments", "a string", arguments)
        calls.append(ToolCall(call_id, name, arguments))
    return tuple(calls)


# The API's 404 for a model chat does not serve: one only its legacy Completions API serves
# (gpt-3.5-turbo-instruct, davinci-002, babbage-002), as quoted in run-llama/llama_index#1332,
# and the catalogue's `not_chat` ids (gpt-5.3-codex in egoist/chatwise-releases#1256; type
# invalid_request_error, param model).
NOT_A_CHAT_MODEL = (
    "This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
    "Did you mean to use v1/completions?"
)
_LEGACY = "legacy_"  # the id given to a deprecated `function_call` in the history


def _legacy_call(value: object, where: str, index: int) -> ToolCall:
    if not isinstance(value, dict):
        raise invalid_type(where, "an object", value)
    name = get_str(value, "name", where)
    arguments = value.get("arguments", "")
    if not isinstance(arguments, str):
        raise invalid_type(f"{where}.arguments", "a string", arguments)
    return ToolCall(f"{_LEGACY}{index}", name, arguments)


def _parse_functions(value: object, context: ParseContext) -> tuple[Tool, ...]:
    """The deprecated `functions` (the API still answers them, with `function_call`)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_type("functions", "an array", value)
    if not value:
        raise empty_array("functions")
    if len(value) > MAX_TOOLS:  # maxItems 128, as `tools`
        raise array_too_long("functions", MAX_TOOLS, len(value))
    tools = []
    for i, raw in enumerate(value):
        where = f"functions[{i}]"
        if not isinstance(raw, dict):
            raise invalid_type(where, "an object", raw)
        name = get_str(raw, "name", where)
        check_name(name, f"{where}.name")
        given = raw.get("parameters")
        if given is not None and not isinstance(given, dict):
            raise invalid_type(f"{where}.parameters", "an object", given)
        if given is not None:
            refuse_schema(given, "function", name, f"{where}.parameters", None, context, False)
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            raise invalid_type(f"{where}.description", "a string", description)
        tools.append(Tool(name, description or "", given or {"type": "object", "properties": {}}))
    return tuple(tools)


def _function_call_choice(value: object, functions: tuple[Tool, ...]) -> str | None:
    """The deprecated `function_call`: "none", "auto" or {"name": …}, as a tool choice."""
    if value is None:
        return None
    if not functions:
        raise RequestError(
            400,
            "Invalid value for 'function_call': 'function_call' is only allowed when "
            "'functions' are specified.",
            param="function_call",
        )
    if isinstance(value, str):
        if value not in ("none", "auto"):
            raise unsupported(value, ("none", "auto"), "function_call")
        return value
    if not isinstance(value, dict):
        raise invalid_type("function_call", "one of a string or an object", value)
    name = get_str(value, "name", "function_call")
    if name not in {t.name for t in functions}:
        raise RequestError(
            400,
            f"Invalid value for 'function_call': no function named '{name}' was specified "
            "in the 'functions' parameter.",
            param="function_call",
        )
    return name


def _parse_messages(value: object) -> tuple[Message, ...]:
    if value is None:
        raise missing("messages")
    if not isinstance(value, list):
        raise invalid_type("messages", "an array", value)
    if not value:
        raise empty_array("messages")
    messages: list[Message] = []
    for i, raw in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(raw, dict):
            raise invalid_type(where, "an object", raw)
        role = raw.get("role")
        if role is None:
            raise missing(f"{where}.role")
        if role not in ROLES:
            supported = ("system", "assistant", "user", "function", "tool", "developer")
            raise unsupported(role, supported, f"{where}.role")
        if "content" not in raw and role not in ("assistant",):
            raise missing(f"{where}.content")
        content = raw.get("content")
        if content is None and role != "assistant":
            raise invalid_type(f"{where}.content", "one of a string or array of objects", None)
        tool_calls = _parse_tool_calls(raw.get("tool_calls"), f"{where}.tool_calls")
        tool_call_id = raw.get("tool_call_id")
        if role == "tool" and not isinstance(tool_call_id, str):
            raise absent_or_wrong(f"{where}.tool_call_id", "a string", tool_call_id)
        legacy = raw.get("function_call")
        if role == "assistant" and legacy is not None:
            # The deprecated single call: read as a tool call, which the `function`
            # message after it answers (by the call's position: `legacy_<i>`).
            tool_calls = (*tool_calls, _legacy_call(legacy, f"{where}.function_call", i))
        if role == "function":
            name = raw.get("name")
            if not isinstance(name, str):
                raise absent_or_wrong(f"{where}.name", "a string", name)
            caller = next(
                (
                    c.id
                    for m in reversed(messages)
                    for c in m.tool_calls
                    if c.name == name and c.id.startswith(_LEGACY)
                ),
                None,
            )
            role, tool_call_id = "tool", caller or f"{_LEGACY}{name}"
        name = raw.get("name")
        if name is not None:
            if not isinstance(name, str):
                raise invalid_type(f"{where}.name", "a string", name)
            check_name(name, f"{where}.name", None)
        text = _content_text(content, f"{where}.content", role)
        messages.append(Message(role, text, name, tool_calls, tool_call_id))
    return tuple(messages)


def _check_tool_replies(messages: tuple[Message, ...]) -> None:
    """As the API does: the messages right after an assistant message with `tool_calls` are
    `tool` messages answering each of its calls, and a `tool` message answers a call of the
    assistant message before the run of tool messages it is in. (The API's words, typo and
    all, and its `messages.[i].role` param: github.com/sdcb/chats pull 132.) An assistant
    message with calls at the very end is left to the API's judgement and accepted."""
    calls: frozenset[str] = frozenset()  # ids of the calls the current run of tools answers
    unanswered: list[str] = []
    for i, message in enumerate(messages):
        if message.role == "tool":
            if message.tool_call_id not in calls:
                raise RequestError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    param=f"messages.[{i}].role",
                )
            if message.tool_call_id in unanswered:
                unanswered.remove(message.tool_call_id)
            continue
        if unanswered:
            raise RequestError(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(unanswered)}",
                param=f"messages.[{i}].role",
            )
        if message.role == "assistant" and message.tool_calls:
            unanswered = [call.id for call in message.tool_calls]
            calls = frozenset(unanswered)
        else:
            calls = frozenset()


def _custom_tools(value: object) -> tuple[Tool, ...]:
    """The custom (free-form input) tools offered, each with the grammar of its input when
    it has one; `_parse_tools` has checked the list and keeps only function tools."""
    if not isinstance(value, list):
        return ()
    tools = []
    for raw in value:
        custom = (
            raw.get("custom") if isinstance(raw, dict) and raw.get("type") == "custom" else None
        )
        name = custom.get("name") if isinstance(custom, dict) else None
        if isinstance(custom, dict) and isinstance(name, str):
            description = custom.get("description")
            form = custom.get("format")
            grammar = form.get("grammar") if isinstance(form, dict) else None
            syntax = grammar.get("syntax") if isinstance(grammar, dict) else None
            definition = grammar.get("definition") if isinstance(grammar, dict) else None
            tools.append(
                free_form_tool(
                    name,
                    description if isinstance(description, str) else "",
                    (syntax, definition)
                    if isinstance(syntax, str) and isinstance(definition, str)
                    else None,
                )
            )
    return tuple(tools)


def _tool_objects(items: list[Any], where: str) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each entry of a list of tools, with its path and type ("function" unless it says),
    refusing one that is not an object or neither a function nor a custom tool."""
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise invalid_type(at, "an object", item)
        kind = item.get("type")
        if kind is None:
            raise missing(f"{at}.type")
        if kind not in ("function", "custom"):
            raise unsupported(kind, ("function", "custom"), f"{at}.type")
        yield at, item, kind


def _parse_tools(value: object, context: ParseContext) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_type("tools", "an array", value)
    if not value:
        raise empty_array("tools")
    if len(value) > MAX_TOOLS:
        # Quoted by users of many MCP tools: "Invalid 'tools': array too long. Expected an
        # array with maximum length 128, but got an array with length 129 instead."
        raise array_too_long("tools", MAX_TOOLS, len(value))
    tools = []
    for where, raw, kind in _tool_objects(value, "tools"):
        if kind == "custom":  # free-form input: not called by the default generator
            custom = raw.get("custom")
            if not isinstance(custom, dict):
                raise absent_or_wrong(f"{where}.custom", "an object", custom)
            name = custom.get("name")
            if not isinstance(name, str):
                raise absent_or_wrong(f"{where}.custom.name", "a string", name)
            continue
        function = raw.get("function")
        if not isinstance(function, dict):
            raise absent_or_wrong(f"{where}.function", "an object", function)
        name = function.get("name")
        if not isinstance(name, str):
            raise absent_or_wrong(f"{where}.function.name", "a string", name)
        check_name(name, f"{where}.function.name")
        given = function.get("parameters")
        parameters = given or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise invalid_type(f"{where}.function.parameters", "an object", parameters)
        strict = function.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise invalid_type(f"{where}.function.strict", "a boolean", strict)
        if given is not None:
            refuse_schema(
                given,
                "function",
                name,
                f"{where}.function.parameters",
                "invalid_function_parameters",
                context,
                bool(strict),
            )
        description = function.get("description")
        if description is not None and not isinstance(description, str):
            raise invalid_type(f"{where}.function.description", "a string", description)
        tools.append(Tool(name, description or "", parameters, bool(strict)))
    return tuple(tools)


def _parse_tool_choice(
    value: object, tools: tuple[Tool, ...], custom: frozenset[str]
) -> tuple[str | None, tuple[str, ...]]:
    """(choice, allowed tools): the choice is "none", "auto", "required" or a tool's name;
    allowed tools are the names an `allowed_tools` choice limits the answer to."""
    if value is None:
        return None, ()
    if isinstance(value, str):
        if value not in ("none", "auto", "required"):
            raise unsupported(value, ("none", "auto", "required"), "tool_choice")
        if value != "none" and not tools and not custom:
            raise RequestError(
                400,
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified.",
                param="tool_choice",
            )
        return value, ()
    if not isinstance(value, dict):
        raise invalid_type("tool_choice", "one of a string or an object", value)
    kind = value.get("type", "function")
    if kind == "allowed_tools":
        return _parse_allowed_tools(value.get("allowed_tools"), tools, custom)
    if kind not in ("function", "custom"):
        raise unsupported(kind, ("function", "custom", "allowed_tools"), "tool_choice.type")
    return _named_tool(value, kind, "tool_choice", tools, custom), ()


def _named_tool(
    value: dict[str, Any],
    kind: str,
    where: str,
    tools: tuple[Tool, ...],
    custom: frozenset[str],
) -> str:
    """The name in `{"type": kind, kind: {"name": ...}}`, which must be an offered tool."""
    inner = value.get(kind)
    name = inner.get("name") if isinstance(inner, dict) else None
    if not isinstance(name, str):
        raise missing(f"{where}.{kind}.name")
    offered = {t.name for t in tools} if kind == "function" else custom
    if name not in offered:
        noun = "function" if kind == "function" else "custom tool"
        raise RequestError(
            400,
            f"Invalid value for '{where}': {noun} '{name}' is not among the provided 'tools'.",
            code="invalid_value",
            param=where,
        )
    return name


def _parse_allowed_tools(
    value: object, tools: tuple[Tool, ...], custom: frozenset[str]
) -> tuple[str, tuple[str, ...]]:
    where = "tool_choice.allowed_tools"
    if not isinstance(value, dict):
        raise absent_or_wrong(where, "an object", value)
    mode = value.get("mode")
    if mode not in ("auto", "required"):
        if mode is None:
            raise missing(f"{where}.mode")
        raise unsupported(mode, ("auto", "required"), f"{where}.mode")
    listed = value.get("tools")
    if not isinstance(listed, list):
        raise absent_or_wrong(f"{where}.tools", "an array", listed)
    names = [
        _named_tool(item, kind, at, tools, custom)
        for at, item, kind in _tool_objects(listed, f"{where}.tools")
    ]
    return str(mode), tuple(dict.fromkeys(names))


def _parse_response_format(
    value: object, messages: tuple[Message, ...], context: ParseContext
) -> ResponseFormat:
    if value is None:
        return ResponseFormat()
    if not isinstance(value, dict):
        raise invalid_type("response_format", "an object", value)
    kind = value.get("type")
    if kind not in RESPONSE_FORMATS:
        raise unsupported(kind, ("text", "json_object", "json_schema"), "response_format.type")
    if kind == "json_object" and not any("json" in m.text.lower() for m in messages):
        raise RequestError(
            400,
            "'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'.",
            param="messages",
        )
    if kind != "json_schema":
        return ResponseFormat(str(kind))
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise missing("response_format.json_schema")
    name = spec.get("name")
    if not isinstance(name, str):
        raise missing("response_format.json_schema.name")
    check_name(name, "response_format.json_schema.name")
    schema = spec.get("schema") or {}
    if not isinstance(schema, dict):
        raise invalid_type("response_format.json_schema.schema", "an object", schema)
    given = spec.get("strict")
    if given is not None and not isinstance(given, bool):
        raise invalid_type("response_format.json_schema.strict", "a boolean", given)
    strict = bool(given)
    # The param and code users quote: github.com/ag2ai/ag2/issues/1990
    refuse_schema(schema, "response_format", name, "response_format", None, context, strict)
    return ResponseFormat("json_schema", name, schema, strict)


def parse(
    raw: bytes, headers: Mapping[str, str], path: str, context: ParseContext = DEFAULT_CONTEXT
) -> Conversation:
    """Validate a chat completions body as the real API does; RequestError(400) naming the
    field."""
    body = load_object(raw)
    max_n = context.max_n
    model = body.get("model")
    if model is None:
        raise RequestError(400, "you must provide a model parameter", param="model")
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    entry = lookup(model)
    unrecognized_arguments(body, context, entry)
    if not entry.chat and not context.lenient:
        raise RequestError(404, NOT_A_CHAT_MODEL, param="model")
    model_parameters(body, entry, "chat", context)
    messages = _parse_messages(body.get("messages"))
    if not context.lenient:
        _check_tool_replies(messages)
    stream = get_bool(body, "stream", False)
    options = stream_options(body, stream)
    include_usage = bool(options.get("include_usage"))
    obfuscate = options.get("include_obfuscation", True) is not False
    n = get_int(body, "n", 1, max_n) or 1
    max_tokens = get_int(body, "max_completion_tokens", 1, None)
    if max_tokens is None:
        max_tokens = get_int(body, "max_tokens", 1, None)
    max_tokens_given = max_tokens is not None
    if context.vllm is not None and max_tokens is not None and not context.lenient:
        named = body.get("max_completion_tokens") is not None
        vllm.check_output(
            context.vllm, max_tokens, "max_completion_tokens" if named else "max_tokens"
        )
    limit = output_limit(entry, context)
    if limit is not None:
        if max_tokens is not None and max_tokens > limit:
            param = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
            raise too_many_output_tokens(param, max_tokens, limit, "completion")
        if max_tokens is None:
            max_tokens = limit
    ignore_eos, min_tokens = forced_tokens(body, max_tokens, max_tokens_given, n)
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        get_number(body, name)
    tools = _parse_tools(body.get("tools"), context)
    custom = _custom_tools(body.get("tools"))
    tool_choice, allowed_tools = _parse_tool_choice(
        body.get("tool_choice"), tools, frozenset(t.name for t in custom)
    )
    functions = _parse_functions(body.get("functions"), context)
    if functions and body.get("tools"):
        # microsoft/autogen issue 3285 quotes the API's words.
        raise RequestError(
            400,
            "Invalid request: 'functions' and 'tools' cannot both be provided. 'functions' "
            "are deprecated; use the 'tools' parameter instead.",
        )
    if functions:
        for i, message in enumerate(messages):
            if message.tool_calls and not all(c.id.startswith(_LEGACY) for c in message.tool_calls):
                # openai/openai-python issue 1795 quotes the API's words.
                raise RequestError(
                    400,
                    "Invalid parameter: 'tool_calls' cannot be used when 'functions' are "
                    "present. Use 'tools' instead.",
                    param=f"messages.[{i}].tool_calls",
                )
        tools = (*tools, *functions)
        tool_choice = _function_call_choice(body.get("function_call"), functions) or tool_choice
    else:
        _function_call_choice(body.get("function_call"), ())
    logprobs = get_bool(body, "logprobs", False)
    top_logprobs = get_int(body, "top_logprobs", 0, 20) or 0
    if top_logprobs and not logprobs:
        raise RequestError(
            400,
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is used.",
            param="top_logprobs",
        )
    seed = get_int(body, "seed", None, None)
    fallbacks = string_list(body, "fallbacks")
    for name in ("user", "prompt_cache_key", "safety_identifier", "service_tier"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid_type(name, "a string", value)
    check_cache_and_safety(body)
    for name in ("logit_bias", "prediction", "audio", "web_search_options"):
        value = body.get(name)
        if value is not None and not isinstance(value, dict):
            raise invalid_type(name, "an object", value)
    if "audio" in body or "prediction" in body or "web_search_options" in body:
        _check_output_options(body)
    check_metadata(body.get("metadata"))
    tier = body.get("service_tier")
    if tier is not None and tier not in TAKEN_TIERS:
        raise unsupported(tier, SERVICE_TIERS, "service_tier")
    parallel = get_bool(body, "parallel_tool_calls", True)
    if body.get("parallel_tool_calls") is not None and not body.get("tools"):
        # "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed
        # when 'tools' are specified." (quoted in several projects' troubleshooting notes)
        raise RequestError(
            400,
            "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
            "when 'tools' are specified.",
            param="parallel_tool_calls",
        )
    get_bool(body, "store", False)
    verbosity = body.get("verbosity")
    if verbosity is not None and verbosity not in VERBOSITIES:
        raise unsupported(verbosity, VERBOSITIES, "verbosity")
    if verbosity is not None and not context.lenient:
        check_supported(verbosity, entry.verbosities, "verbosity")  # before GPT-5: medium
    check_logit_bias(body.get("logit_bias"))
    modalities = string_list(body, "modalities")
    for i, modality in enumerate(modalities):
        if modality not in MODALITIES:
            raise unsupported(modality, MODALITIES, f"modalities[{i}]")
    spoken = _spoken_format(body, modalities, stream, context) if entry.audio else None
    heard = _heard_tokens(body["messages"]) if entry.audio else 0
    effort = _reasoning_effort(body.get("reasoning_effort"), entry, context)
    last_user, system, turn = summarize(messages)
    forced = called_custom(custom, tools, tool_choice, allowed_tools)
    conversation = Conversation(
        model=model,
        messages=messages,
        body=body,
        path=path,
        headers=headers,
        api_key=api_key_of(headers),
        provider=provider_of(model, headers),
        stream=stream,
        include_usage=include_usage,
        n=n,
        max_tokens=max_tokens,
        max_tokens_given=max_tokens_given,
        ignore_eos=ignore_eos,
        min_tokens=min_tokens,
        stop=parse_stop(body.get("stop")),
        tools=(*tools, *forced),
        free_form_tools=tuple(t for t in custom if t not in forced),
        tool_choice=tool_choice,
        allowed_tools=allowed_tools,
        parallel_tool_calls=parallel and not functions,
        response_format=_parse_response_format(body.get("response_format"), messages, context),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        seed=seed,
        fallbacks=fallbacks,
        canonical=canonical_or_refuse(body),
        last_user=last_user,
        system=system,
        turn=turn,
        reasoning=entry.reasoning == "visible",
        reasoning_effort=effort,
        wire=_Wire(
            obfuscate,
            bool(functions),
            served_tier(tier),
            frozenset(t.name for t in custom) - {t.name for t in tools},
            entry.reasoning == "hidden" or entry.audio,
            entry.fingerprint,
            _Speech(spoken, heard) if entry.audio else None,
            _snapshot(model) if context.dated_models else None,
        ),
    )
    if not context.lenient:
        _check_context(conversation, entry, context)
    return conversation


INPUT_AUDIO_FORMATS = ("wav", "mp3")
AUDIO_FORMATS = ("wav", "aac", "mp3", "flac", "opus", "pcm16")
SEARCH_CONTEXT_SIZES = ("low", "medium", "high")


def _check_output_options(body: JSON) -> None:
    """`audio` (a `voice` and a `format` of the API's six), `prediction` (static content:
    `type` "content" and the text) and `web_search_options` (`search_context_size`, an
    approximate `user_location`), as the OpenAPI document types them."""
    audio = body.get("audio")
    if audio is not None:
        voice = audio.get("voice")
        if voice is None:
            raise missing("audio.voice")
        if not isinstance(voice, str | dict):
            raise invalid_type("audio.voice", "one of a string or object", voice)
        audio_format = get_str(audio, "format", "audio")
        if audio_format not in AUDIO_FORMATS:
            raise unsupported(audio_format, AUDIO_FORMATS, "audio.format")
    prediction = body.get("prediction")
    if prediction is not None:
        kind = get_str(prediction, "type", "prediction")
        if kind != "content":
            raise unsupported(kind, ("content",), "prediction.type")
        content = prediction.get("content")
        if content is None:
            raise missing("prediction.content")
        _content_text(content, "prediction.content", "assistant")
    options = body.get("web_search_options")
    if options is not None:
        size = options.get("search_context_size")
        if size is not None and size not in SEARCH_CONTEXT_SIZES:
            raise unsupported(size, SEARCH_CONTEXT_SIZES, "web_search_options.search_context_size")
        location = options.get("user_location")
        if location is not None:
            if not isinstance(location, dict):
                raise invalid_type("web_search_options.user_location", "an object", location)
            kind = get_str(location, "type", "web_search_options.user_location")
            if kind != "approximate":
                raise unsupported(kind, ("approximate",), "web_search_options.user_location.type")


# A model that speaks, asked neither to hear nor to speak (quoted in
# github.com/truefoundry/models/pull/822 and CherryHQ/cherry-studio issue 1179).
NEEDS_AUDIO = "This model requires that either input content or output modality contain audio."


def _spoken_format(
    body: JSON, modalities: tuple[str, ...], stream: bool, context: ParseContext
) -> str | None:
    """The format an audio model's answer is spoken in (None: it is written): the `audio`
    format when "audio" is among the modalities. A stream is spoken in pcm16 only, as the
    API says (quoted in github.com/Agent-Field/agentfield issue 584 and pull 968)."""
    settings = body.get("audio")
    if "audio" in modalities and isinstance(settings, dict):
        spoken = str(settings["format"])
        if stream and spoken != "pcm16" and not context.lenient:
            raise RequestError(
                400,
                f"Unsupported value: 'audio.format' does not support '{spoken}' when "
                "stream=true. Supported values are: 'pcm16'.",
                code="unsupported_value",
                param="audio.format",
            )
        return spoken
    if "audio" not in modalities and not context.lenient and not _hears(body["messages"]):
        raise RequestError(400, NEEDS_AUDIO, code="invalid_value", param="model")
    return None


def _hears(messages: list[Any]) -> bool:
    """Whether the conversation holds audio: an `input_audio` part, or an earlier spoken
    answer named by its `audio.id` (a voice conversation's assistant turn)."""
    for message in messages:
        if message.get("role") == "assistant" and isinstance(message.get("audio"), dict):
            return True
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") == "input_audio" for part in content
        ):
            return True
    return False


# Audio input tokens a second of audio: OpenAI's pricing note puts audio input at about
# 6 cents a minute, at $100 a million tokens (quoted in Simon Willison's write-up of
# gpt-4o-audio-preview, 2024-10-17): 600 a minute.
HEARD_PER_S = 10
_MP3_KBPS = (  # layer III bitrates by index: MPEG-1, then MPEG-2 and 2.5
    (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
)


def _heard_tokens(messages: list[Any]) -> int:
    """The audio input tokens of the conversation's `input_audio` parts, 10 a second of
    audio (a clip whose length cannot be read counts none)."""
    tokens = 0
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "input_audio":
                clip = part["input_audio"]
                tokens += math.ceil(_clip_seconds(clip["data"], clip["format"]) * HEARD_PER_S)
    return tokens


def _clip_seconds(data: str, audio_format: str) -> float:
    """How long a base64 wav or mp3 clip lasts, read from its head: a WAV's data chunk over
    its byte rate; an MP3's size over its first frame's bitrate."""
    size = len(data) * 3 // 4 - data[-2:].count("=")
    try:
        head = base64.b64decode(data[:8192], validate=False)
    except (binascii.Error, ValueError):
        return 0.0
    if audio_format == "wav":
        return _wav_seconds(head, size)
    return _mp3_seconds(head, size)


def _wav_seconds(head: bytes, size: int) -> float:
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0.0
    at, byte_rate = 12, 0
    while at + 8 <= len(head):
        kind, length = head[at : at + 4], int.from_bytes(head[at + 4 : at + 8], "little")
        if kind == b"fmt " and at + 20 <= len(head):
            byte_rate = int.from_bytes(head[at + 16 : at + 20], "little")
        elif kind == b"data":
            return min(length, size - at - 8) / byte_rate if byte_rate else 0.0
        at += 8 + length + (length & 1)
    return 0.0


def _mp3_seconds(head: bytes, size: int) -> float:
    at = 0
    if head[:3] == b"ID3" and len(head) >= 10:  # an ID3v2 tag: its size in 7-bit bytes
        at = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
    while at + 4 <= len(head):
        if head[at] == 0xFF and head[at + 1] & 0xE6 == 0xE2:  # a layer III frame's sync
            version = head[at + 1] >> 3 & 3  # 3: MPEG-1
            kbps = _MP3_KBPS[version != 3][head[at + 2] >> 4 & 15 if head[at + 2] < 0xF0 else 0]
            return (size - at) * 8 / (kbps * 1000) if kbps else 0.0
        at += 1
    return 0.0


def _reasoning_effort(value: object, entry: Model, context: ParseContext) -> str | None:
    """The effort a reasoning model spends out of sight (the model's default when the
    request names none); None for a model that does not reason, or shows its reasoning
    as text."""
    if value is not None:
        if not isinstance(value, str):
            raise invalid_type("reasoning_effort", "a string", value)
        if value not in REASONING_EFFORTS:
            raise unsupported(value, REASONING_EFFORTS, "reasoning_effort")
    if entry.reasoning != "hidden":
        return None
    if value is None:
        return entry.default_effort
    if not context.lenient:
        check_effort(value, entry, "reasoning_effort")
    return value


def _check_context(conversation: Conversation, entry: Model, context: ParseContext) -> None:
    """The context-length refusal, counted only when the prompt could exceed the window."""
    texts = [m.text for m in conversation.messages]
    schemas = [t.parameters for t in conversation.tools]
    asked = conversation.max_tokens if conversation.max_tokens_given else None
    framing = 4 * len(texts) + 3 + (len(orjson.dumps(schemas)) if schemas else 0)
    if context.vllm is not None:  # a vLLM server's words (mockllm/vllm.py)
        if may_exceed(texts, framing + (asked or 0), context.vllm.max_model_len):
            vllm.check_input(context.vllm, count_prompt(texts, schemas or None), asked or 0)
        return
    if not may_exceed(texts, framing + (asked or 0), entry.context_window):
        return
    messages = count_prompt(texts)
    functions = count_tokens(orjson.dumps(schemas).decode()) if schemas else 0
    chat_context(entry, messages, functions, asked, context)


# --- answers --------------------------------------------------------------------------------


def usage_body(
    rendered: Rendered, speech: _Speech | None = None, voices: tuple[_Voice | None, ...] = ()
) -> JSON:
    """The usage; a model that speaks counts its text and audio tokens apart, as
    recordings of gpt-4o-audio-preview show: the prompt's tokens are its text's and the
    audio it heard, the completion's the transcript's and the audio it said."""
    if speech is not None:
        audio_tokens = _audio_tokens(voices)
        prompt_tokens = rendered.prompt_tokens + speech.heard
        completion_tokens = rendered.completion_tokens + audio_tokens
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {
                "cached_tokens": rendered.cached_tokens,
                "audio_tokens": speech.heard,
                "text_tokens": rendered.prompt_tokens,
                "image_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": rendered.reasoning_tokens,
                "audio_tokens": audio_tokens,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
                "text_tokens": rendered.completion_tokens,
            },
        }
    return {
        "prompt_tokens": rendered.prompt_tokens,
        "completion_tokens": rendered.completion_tokens,
        "total_tokens": rendered.total_tokens,
        "prompt_tokens_details": {"cached_tokens": rendered.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": rendered.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _message(
    choice: RenderedChoice, legacy: bool = False, custom: frozenset[str] = frozenset()
) -> JSON:
    # With tool calls, the text said before them (`null` when there is none), as the API
    # writes an answer that says something and calls a tool.
    content = choice.content if not choice.tool_calls else choice.content or None
    message: JSON = {
        "role": "assistant",
        "content": content,
        "refusal": choice.refusal,
        "annotations": [],
    }
    if choice.reasoning is not None:
        message["reasoning_content"] = choice.reasoning  # as DeepSeek-style gateways send it
    if choice.tool_calls and legacy:  # the deprecated `functions`: one `function_call`
        call = choice.tool_calls[0]
        message = {
            "role": "assistant",
            "content": content,
            "function_call": {"name": call.name, "arguments": call.arguments},
            "refusal": choice.refusal,
            "annotations": [],
        }
    elif choice.tool_calls:
        message["tool_calls"] = [
            # A custom tool's call carries its input as it is (ChatCompletionMessageCustomToolCall).
            {"id": c.id, "type": "custom", "custom": {"name": c.name, "input": c.arguments}}
            if c.name in custom
            else {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in choice.tool_calls
        ]
    return message


def _spoken_message(voice: _Voice, spoken: str) -> JSON:
    """A spoken choice's message: no content, the audio (in base64) and its transcript."""
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "audio": {
            "id": voice.id,
            "data": audio.encode_base64(spoken, voice.samples),
            "expires_at": voice.expires_at,
            "transcript": voice.transcript,
        },
        "annotations": [],
    }


def _logprobs(choice: RenderedChoice) -> JSON | None:
    if choice.logprobs is None:
        return None
    return {"content": [entry for delta in choice.logprobs for entry in delta], "refusal": None}


@dataclass(frozen=True, slots=True)
class _Wire:
    """What the chat dialect keeps of a request for writing its answer."""

    obfuscate: bool = True  # chunks end with their padding (stream_options)
    legacy: bool = False  # the request offered `functions`: a call is a `function_call`
    tier: str = "default"  # the service tier the answer reports
    custom: frozenset[str] = frozenset()  # the custom tools offered: their calls' names
    # The model reasons out of sight (o-series, GPT-5) or speaks (gpt-4o-audio-preview):
    # its choices carry no `logprobs` key unless logprobs were asked for, as the API
    # writes them.
    reasons: bool = False
    fingerprinted: bool = True  # the answer names its system_fingerprint (else null)
    speech: _Speech | None = None  # a model that speaks: what it hears and how it answers
    # The alias the request named and the dated model the answer names for it (None: the
    # answer names its model as it is).
    snapshot: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class _Speech:
    """What a model that speaks makes of a request: the audio format its answer is spoken
    in (None: written) and the audio input tokens of its `input_audio` parts. Its usage
    details count text and audio apart."""

    spoken: str | None = None
    heard: int = 0


_PLAIN = _Wire()


@dataclass(frozen=True, slots=True)
class _Voice:
    """A spoken choice's audio: its id, what it says and how long it takes."""

    id: str
    transcript: str
    samples: int
    expires_at: int


# Audio the API keeps for a multi-turn conversation expires an hour after it is made: each
# recorded answer's `expires_at` is its id's time (hex, after `audio_`) plus 3600, a few
# seconds after `created`.
AUDIO_KEPT_S = 3600
_DATA_PIECE = 19_200  # bytes of audio a streamed delta carries: 0.4 s of pcm16


def _voices(rendered: Rendered, created: int, spoken: str | None) -> tuple[_Voice | None, ...]:
    """The audio of each choice of a spoken answer (None for a choice that calls tools or
    refuses: it is written)."""
    if spoken is None:
        return ()
    made = created + 1 + int(rendered.offsets[-1])  # when the audio was done
    voices: list[_Voice | None] = []
    for choice in rendered.choices:
        if choice.tool_calls or choice.refusal is not None:
            voices.append(None)
            continue
        digest = hashlib.blake2b(f"{rendered.id}:{choice.index}".encode(), digest_size=10)
        hexed = digest.hexdigest()
        # As the API's ids: the time, then 4 hex digits, "8190" and 16 more.
        audio_id = f"audio_{made:08x}{hexed[:4]}8190{hexed[4:]}"
        transcript = choice.content or ""
        voices.append(
            _Voice(audio_id, transcript, audio.samples_for(transcript), made + AUDIO_KEPT_S)
        )
    return tuple(voices)


def _audio_tokens(voices: tuple[_Voice | None, ...]) -> int:
    return sum(audio.audio_tokens(v.samples) for v in voices if v is not None)


def _finish(choice: RenderedChoice, legacy: bool) -> str:
    """The choice's finish reason; `function_call` where a `functions` request's call
    would say `tool_calls`."""
    if legacy and choice.finish_reason == "tool_calls":
        return "function_call"
    return choice.finish_reason


def _snapshot(model: str) -> tuple[str, str] | None:
    dated = snapshot(model)
    return None if dated is None else (model, dated)


def _answering(rendered: Rendered, wire: _Wire) -> str:
    """The model an answer names: the dated model of the alias the request named (as the
    API answers), unless a rule's reply named another."""
    renamed = wire.snapshot
    if renamed is not None and rendered.model == renamed[0]:
        return renamed[1]
    return rendered.model


def completion(rendered: Rendered, created: int, wire: _Wire = _PLAIN) -> JSON:
    """The non-streaming `chat.completion` object (a reasoning model's choices without
    `logprobs` unless they were asked for; a spoken choice's message with its `audio`)."""
    speech = wire.speech
    spoken = speech.spoken if speech else None
    voices = _voices(rendered, created, spoken)
    choices = [_choice(c, wire.legacy, wire.custom, wire.reasons) for c in rendered.choices]
    for choice, voice in zip(choices, voices, strict=False):
        if voice is not None:
            choice["message"] = _spoken_message(voice, str(spoken))
    return {
        "id": rendered.id,
        "object": "chat.completion",
        "created": created,
        "model": _answering(rendered, wire),
        "choices": choices,
        "usage": usage_body(rendered, speech, voices),
        "service_tier": wire.tier,
        "system_fingerprint": rendered.fingerprint if wire.fingerprinted else None,
        **({"provider": rendered.provider} if rendered.provider else {}),
    }


def _choice(choice: RenderedChoice, legacy: bool, custom: frozenset[str], reasons: bool) -> JSON:
    if reasons and choice.logprobs is None:
        return {
            "index": choice.index,
            "message": _message(choice, legacy, custom),
            "finish_reason": _finish(choice, legacy),
        }
    return {
        "index": choice.index,
        "message": _message(choice, legacy, custom),
        "logprobs": _logprobs(choice),
        "finish_reason": _finish(choice, legacy),
    }


class _Chunks:
    """Encodes the chunks of one stream from a shared, pre-encoded prefix; each chunk ends
    with its `obfuscation` padding unless the request turned it off (as the API pads: a
    text delta to 16 characters, other chunks by a random count)."""

    def __init__(
        self,
        rendered: Rendered,
        created: int,
        include_usage: bool,
        obfuscate: bool,
        tier: str = "default",
        reasons: bool = False,
        fingerprinted: bool = True,
        model: str | None = None,
    ) -> None:
        self.prefix = (
            b'data: {"id":'
            + _dumps(rendered.id)
            + b',"object":"chat.completion.chunk","created":'
            + str(created).encode()
            + b',"model":'
            + _dumps(model or rendered.model)
            + b',"service_tier":'
            + _dumps(tier)
            + b',"system_fingerprint":'
            + (_dumps(rendered.fingerprint) if fingerprinted else b"null")
            + (b',"provider":' + _dumps(rendered.provider) if rendered.provider else b"")
            + b',"choices":['
        )
        # What follows a chunk's choices: `],"usage":null` (when asked for), then the
        # padding's key and value (or nothing), then `}`.
        self.close = b'],"usage":null' if include_usage else b"]"
        self.padding = Padding(rendered.id)
        self.obfuscate = obfuscate
        # A reasoning model's chunks carry no `logprobs` key when none were asked for.
        self.no_logprobs = b"" if reasons else b',"logprobs":null'

    def end(self, text: str | None = None) -> bytes:
        """The bytes after a chunk's choices, padded for `text` (the delta's) or, for a
        chunk without text, by a random count."""
        if not self.obfuscate:
            return self.close + b"}\n\n"
        pad = self.padding.some() if text is None else self.padding.text(text)
        return self.close + b',"obfuscation":' + pad + b"}\n\n"

    def choice(
        self,
        index: int,
        delta: bytes,
        logprobs: bytes = b"null",
        finish: bytes = b"null",
        text: str | None = None,
    ) -> bytes:
        return (
            self.prefix
            + b'{"index":%d,"delta":' % index
            + delta
            + (self.no_logprobs if logprobs == b"null" else b',"logprobs":' + logprobs)
            + b',"finish_reason":'
            + finish
            + b"}"
            + self.end(text)
        )


def _spoken_ticks(
    chunks: _Chunks, index: int, deltas: tuple[str, ...], voice: _Voice, spoken: str
) -> list[bytes]:
    """A spoken choice's events after its role delta, as recordings of gpt-4o-audio-preview
    show them: the transcript in pieces (the first with the audio's id and a null content),
    then the audio in pieces (the first repeating the role, content, refusal and id), each
    piece a whole number of samples and of base64 quanta."""
    out = []
    for i, delta in enumerate(deltas or ("",)):
        if i == 0:
            said = b'{"content":null,"audio":{"id":' + _dumps(voice.id) + b',"transcript":'
        else:
            said = b'{"audio":{"transcript":'
        out.append(chunks.choice(index, said + _dumps(delta) + b"}}", text=delta))
    raw = audio.encode(spoken, voice.samples)
    for start in range(0, len(raw), _DATA_PIECE):
        data = base64.b64encode(raw[start : start + _DATA_PIECE])
        if start == 0:
            head = b'{"role":"assistant","content":null,"refusal":null,"audio":{"id":'
            head += _dumps(voice.id) + b',"data":"'
        else:
            head = b'{"audio":{"data":"'
        out.append(chunks.choice(index, head + data + b'"}}'))
    return out


def _call_start(call: Any, custom: frozenset[str]) -> bytes:
    """A tool call's first delta, as the API streams it: id, type and name, no arguments
    (a custom tool's: its name and an empty input, which the next deltas extend)."""
    if call.name in custom:
        return _dumps(
            {
                "index": call.index,
                "id": call.id,
                "type": "custom",
                "custom": {"name": call.name, "input": ""},
            }
        )
    return _dumps(
        {
            "index": call.index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
    )


def _role(choice: RenderedChoice, custom: frozenset[str]) -> tuple[bytes, bool]:
    """A choice's first delta, and whether it opened the first tool call (as the API does
    when the call is the first thing the choice says)."""
    if choice.refusal is not None:
        return b'{"role":"assistant","content":null,"refusal":""}', False
    if not choice.tool_calls or choice.deltas:
        return b'{"role":"assistant","content":"","refusal":null}', False
    if choice.reasoning_deltas:
        return b'{"role":"assistant","content":null,"refusal":null}', False
    start = _call_start(choice.tool_calls[0], custom)
    return b'{"role":"assistant","content":null,"tool_calls":[' + start + b'],"refusal":null}', True


def _legacy_role(choice: RenderedChoice) -> tuple[bytes, bool]:
    """The role delta of a `functions` request's call: it opens the `function_call`, unless
    text comes first."""
    if choice.deltas:
        return b'{"role":"assistant","content":"","refusal":null}', False
    call = choice.tool_calls[0]
    opened = _dumps({"name": call.name, "arguments": ""})
    return (
        b'{"role":"assistant","content":null,"function_call":' + opened + b',"refusal":null}',
        True,
    )


def _legacy_ticks(chunks: _Chunks, choice: RenderedChoice, opened: bool) -> list[bytes]:
    """A `function_call`'s argument fragments, one per tick, after the text said before it
    (the call then opens with its own delta, written with its first fragment)."""
    call = choice.tool_calls[0]
    out = [
        chunks.choice(choice.index, b'{"function_call":{"arguments":' + _dumps(f) + b"}}", text=f)
        for f in call.fragments
    ]
    if opened:
        return out
    start = b'{"function_call":' + _dumps({"name": call.name, "arguments": ""}) + b"}"
    if out:
        out[0] = chunks.choice(choice.index, start) + out[0]
    else:
        out.append(chunks.choice(choice.index, start))
    spoken = replace(choice, tool_calls=(), reasoning_deltas=())
    return [*_choice_ticks(chunks, spoken, False, frozenset()), *out]


def _choice_ticks(
    chunks: _Chunks, choice: RenderedChoice, opened: bool, custom: frozenset[str]
) -> list[bytes]:
    """The events of one choice after its role delta, one per tick (a tool call that the
    role delta did not open starts with its own delta, written with its first fragment)."""
    out = [
        chunks.choice(
            choice.index,
            b'{"content":null,"reasoning_content":' + _dumps(d) + b"}",
            text=d,
        )
        for d in choice.reasoning_deltas
    ]
    field = b'{"refusal":' if choice.refusal is not None else b'{"content":'
    if choice.logprobs is None:
        # What `chunks.choice` writes, with the parts around the delta's text joined once.
        head = chunks.prefix + b'{"index":%d,"delta":' % choice.index + field
        tail = b"}" + chunks.no_logprobs + b',"finish_reason":null}' + chunks.close
        deltas = choice.deltas
        if chunks.obfuscate:
            tail += b',"obfuscation":"'
            drawn, at = chunks.padding.runs(deltas)
            out.extend(
                [
                    b"".join((head, _dumps(d), tail, drawn[a:b], b'"}\n\n'))
                    for d, a, b in zip(deltas, at, at[1:], strict=False)
                ]
            )
        else:
            tail += b"}\n\n"
            out.extend([head + _dumps(d) + tail for d in deltas])
    else:
        for i, delta in enumerate(choice.deltas):
            logprobs = _dumps({"content": list(choice.logprobs[i]), "refusal": None})
            out.append(
                chunks.choice(choice.index, field + _dumps(delta) + b"}", logprobs, text=delta)
            )
    for k, call in enumerate(choice.tool_calls):
        start = b""
        if k > 0 or not opened:
            opening = _call_start(call, custom)
            start = chunks.choice(choice.index, b'{"tool_calls":[' + opening + b"]}")
        for j, fragment in enumerate(call.fragments):
            part = b'{"tool_calls":[{"index":%d,"function":{"arguments":' % call.index
            if call.name in custom:  # a custom tool's input, in pieces as arguments come
                part = b'{"tool_calls":[{"index":%d,"custom":{"input":' % call.index
            event = chunks.choice(choice.index, part + _dumps(fragment) + b"}}]}", text=fragment)
            out.append(start + event if j == 0 else event)
        if not call.fragments and start:
            out.append(start)
    return out


def stream(
    rendered: Rendered,
    created: int,
    include_usage: bool,
    fault: Fault | None = None,
    wire: _Wire = _PLAIN,
) -> Body:
    """The SSE events of a streamed answer, each with the offset it is due at (a
    `functions` request's call as `function_call` deltas, a custom tool's call as
    `custom` deltas; a reasoning model's chunks without `logprobs` unless asked; a spoken
    choice's transcript, then its audio, as `audio` deltas)."""
    legacy, custom, speech = wire.legacy, wire.custom, wire.speech
    chunks = _Chunks(
        rendered,
        created,
        include_usage,
        wire.obfuscate,
        wire.tier,
        wire.reasons,
        wire.fingerprinted,
        _answering(rendered, wire),
    )
    offsets = rendered.offsets
    events: list[bytes] = []
    due: list[float] = []
    ticks = []
    spoken = speech.spoken if speech else None
    voices = _voices(rendered, created, spoken)
    for choice in rendered.choices:
        voice = voices[choice.index] if voices else None
        if voice is not None:
            events.append(chunks.choice(choice.index, b'{"role":"assistant","refusal":null}'))
            due.append(offsets[0])
            ticks.append(_spoken_ticks(chunks, choice.index, choice.deltas, voice, str(spoken)))
            continue
        if legacy and choice.tool_calls:
            role, opened = _legacy_role(choice)
        else:
            role, opened = _role(choice, custom)
        # With logprobs asked for, the role delta carries empty ones, as the API's does.
        opening = b"null" if choice.logprobs is None else b'{"content":[],"refusal":null}'
        events.append(chunks.choice(choice.index, role, opening))
        due.append(offsets[0])
        if legacy and choice.tool_calls:
            ticks.append(_legacy_ticks(chunks, choice, opened))
        else:
            ticks.append(_choice_ticks(chunks, choice, opened, custom))
    cut_at, abort_after = interleave(ticks, offsets, fault, events, due)
    last = due[-1]
    if cut_at is not None:
        assert fault is not None
        error = error_object(fault.error)
        if fault.empty_choices_error:
            payload = chunks.prefix[len(b"data: ") :] + b'],"error":' + _dumps(error) + b"}"
            events.append(sse.encode(payload))
        else:
            events.append(sse.encode(_dumps({"error": error})))
        due.append(last)
    else:
        for choice in rendered.choices:
            finish = _dumps(_finish(choice, legacy))
            voice = voices[choice.index] if voices else None
            if voice is None or choice.finish_reason != "stop":
                events.append(chunks.choice(choice.index, b"{}", finish=finish))
                due.append(last)
            if voice is not None:
                # A spoken answer ends with its audio's expiry and no finish reason.
                expiry = b'{"audio":{"expires_at":%d}}' % voice.expires_at
                events.append(chunks.choice(choice.index, expiry))
                due.append(last)
        if include_usage:
            usage = chunks.prefix + b'],"usage":' + _dumps(usage_body(rendered, speech, voices))
            events.append(usage + chunks.end()[len(chunks.close) :])
            due.append(last)
        events.append(sse.DONE)
        due.append(last)
    if fault is not None and fault.disconnect_after_tokens == 0:
        abort_after = len(rendered.choices)
    return Body(200, SSE_TYPE, events=tuple(events), offsets=tuple(due), abort_after=abort_after)


def whole(
    rendered: Rendered, created: int, fault: Fault | None = None, wire: _Wire = _PLAIN
) -> Body:
    """A non-streaming answer, with the non-streaming form of a fault."""
    body = completion(rendered, created, wire)
    delay = rendered.offsets[-1]
    if fault is not None:
        if fault.empty_choices_error:
            body["choices"] = []
            body["error"] = error_object(fault.error)
        elif fault.error_after_tokens is not None:
            return failure(fault.error or ErrorSpec(500), delay)
    data = _dumps(body)
    return whole_json(data, delay, fault)


def answer(
    rendered: Rendered, conversation: Conversation, created: int, fault: Fault | None
) -> Body:
    """The bytes of a successful answer: a completion, or its chunks."""
    wire = conversation.wire if isinstance(conversation.wire, _Wire) else _PLAIN
    if conversation.stream:
        return stream(rendered, created, conversation.include_usage, fault, wire)
    return whole(rendered, created, fault, wire)


def remember(
    store: StateStore,
    conversation: Conversation,
    rendered: Rendered,
    created: int,
    fault: Fault | None = None,
) -> None:
    """Keep an answered `store: true` request for the stored completions' paths (an
    answer a fault broke is not kept)."""
    if conversation.body.get("store") is not True or fault is not None:
        return
    wire = conversation.wire if isinstance(conversation.wire, _Wire) else _PLAIN
    answered = completion(rendered, created, wire)
    stored_completions.keep(store, answered, conversation.body)


DIALECT = Dialect(
    api="chat",
    paths=(PATH,),
    parse=parse,
    answer=answer,
    failure=failure,
    refusal=refusal,
    headers=headers,
    static_headers=((b"openai-version", b"2020-10-01"),),
    remember=remember,
)
