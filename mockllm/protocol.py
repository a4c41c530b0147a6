"""The OpenAI Chat Completions wire format: parse a request, build responses and errors.

Raw JSON lives here (and in the `body` matcher); everything past `Conversation.parse`
works with typed, frozen data.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from mockllm.errors import RequestError

JSON = dict[str, Any]

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
FINISH_REASONS: tuple[str, ...] = (
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "function_call",
)
RESPONSE_FORMATS = ("text", "json_object", "json_schema")

_PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
    "us through our help center at help.openai.com.)"
)


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


@dataclass(frozen=True, slots=True)
class Message:
    """One message of the request, with its content flattened to text."""

    role: str
    text: str
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    """A function tool the request offers."""

    name: str
    description: str
    parameters: JSON


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """`response_format`: its type, and the JSON schema for `json_schema`."""

    type: str = "text"
    name: str | None = None
    schema: JSON | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class Conversation:
    """The one request every API family is read into: what rules match and replies render over."""

    model: str
    messages: tuple[Message, ...]
    body: JSON
    path: str = "/v1/chat/completions"
    headers: Mapping[str, str] = field(default_factory=dict)
    api_key: str | None = None
    provider: str | None = None
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    max_tokens: int | None = None
    max_tokens_given: bool = True  # False when max_tokens is the server's output cap
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None  # "none" | "auto" | "required" | a tool's name
    allowed_tools: tuple[str, ...] = ()  # an `allowed_tools` choice: only these may be called
    parallel_tool_calls: bool = True
    response_format: ResponseFormat = ResponseFormat()
    logprobs: bool = False
    top_logprobs: int = 0
    seed: int | None = None
    fallbacks: tuple[str, ...] = ()
    key: bytes = b""  # canonical bytes of what decides the answer: the seed source
    last_user: str = ""  # text of the last user message
    system: str = ""  # system and developer messages, joined
    turn: int = 0  # number of user messages

    @property
    def raw_json(self) -> bytes:
        """The body as JSON bytes (key order kept)."""
        return orjson.dumps(self.body)

    @property
    def last_tool_calls(self) -> tuple[ToolCall, ...]:
        for message in reversed(self.messages):
            if message.tool_calls:
                return message.tool_calls
        return ()

    @property
    def tool_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.tools)

    def tool(self, name: str) -> Tool | None:
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None

    def with_model(self, model: str) -> Conversation:
        """The same request sent to another model (for `fallbacks`)."""
        from dataclasses import replace

        body = {**self.body, "model": model}
        return replace(
            self,
            model=model,
            provider=provider_of(model, self.headers),
            body=body,
            key=request_key(body),
        )

    @classmethod
    def parse(
        cls,
        raw: bytes,
        headers: Mapping[str, str],
        path: str = "/v1/chat/completions",
        *,
        max_n: int = 128,
        max_output: int | None = None,
    ) -> Conversation:
        """Validate a body as the real API does; raise RequestError(400) naming the field."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise RequestError(400, _PARSE_ERROR) from None
        if not isinstance(body, dict):
            raise RequestError(
                400,
                "Invalid type for request body: expected an object, but got "
                f"{_kind(body)} instead.",
                code="invalid_type",
            )
        return _parse_body(cls, body, headers, path, max_n, max_output)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _invalid_type(param: str, expected: str, value: object) -> RequestError:
    return RequestError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        code="invalid_type",
        param=param,
    )


def _missing(param: str) -> RequestError:
    return RequestError(
        400,
        f"Missing required parameter: '{param}'.",
        code="missing_required_parameter",
        param=param,
    )


def _unsupported(value: object, supported: tuple[str, ...], param: str) -> RequestError:
    """The 400 for a value outside a fixed set, worded as the API words it."""
    quoted = [f"'{v}'" for v in supported]
    listed = (
        " and ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]
    )
    if isinstance(value, str):
        shown = value
    else:
        try:
            shown = orjson.dumps(value).decode()
        except orjson.JSONEncodeError:  # an integer past 64 bits
            shown = str(value)
    return RequestError(
        400,
        f"Invalid value: '{shown}'. Supported values are: {listed}.",
        code="invalid_value",
        param=param,
    )


def _absent_or_wrong(param: str, expected: str, value: object) -> RequestError:
    """The 400 for a field that must be `expected`: missing when null or absent."""
    return _missing(param) if value is None else _invalid_type(param, expected, value)


def _get_bool(body: JSON, name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid_type(name, "a boolean", value)
    return value


def _get_int(body: JSON, name: str, low: int | None, high: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid_type(name, "an integer", value)
    _check_range(name, value, low, high, "integer")
    return value


def _get_number(body: JSON, name: str) -> None:
    """Type check only: each profile holds its own ranges (profiles.check_params)."""
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid_type(name, "a decimal", value)


def _check_range(name: str, value: float, low: float | None, high: float | None, word: str) -> None:
    if low is not None and value < low:
        raise RequestError(
            400,
            f"Invalid '{name}': {word} below minimum value. Expected a value >= {low:g}, "
            f"but got {value:g} instead.",
            code=f"{word}_below_min_value",
            param=name,
        )
    if high is not None and value > high:
        raise RequestError(
            400,
            f"Invalid '{name}': {word} above maximum value. Expected a value <= {high:g}, "
            f"but got {value:g} instead.",
            code=f"{word}_above_max_value",
            param=name,
        )


def _content_text(content: object, param: str, role: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid_type(param, "one of a string or array of objects", content)
    texts: list[str] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise _invalid_type(where, "an object", part)
        kind = part.get("type")
        if not isinstance(kind, str):
            raise _absent_or_wrong(f"{where}.type", "a string", kind)
        if kind in ("text", "input_text", "refusal"):
            text = part.get(kind if kind == "refusal" else "text")
            if not isinstance(text, str):
                field_name = "refusal" if kind == "refusal" else "text"
                raise _absent_or_wrong(f"{where}.{field_name}", "a string", text)
            texts.append(text)
        elif kind not in ("image_url", "input_audio", "file", "input_image", "input_file"):
            raise _unsupported(
                kind, ("text", "image_url", "input_audio", "refusal", "file"), f"{where}.type"
            )
    return "\n".join(texts)


def _parse_tool_calls(value: object, param: str) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid_type(param, "an array", value)
    calls = []
    for i, call in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(call, dict):
            raise _invalid_type(where, "an object", call)
        function = call.get("function")
        if not isinstance(function, dict):
            raise _absent_or_wrong(f"{where}.function", "an object", function)
        name = function.get("name")
        if not isinstance(name, str):
            raise _missing(f"{where}.function.name")
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            raise _invalid_type(f"{where}.function.arguments", "a string", arguments)
        call_id = call.get("id", "")
        calls.append(ToolCall(str(call_id), name, arguments))
    return tuple(calls)


def _parse_messages(value: object) -> tuple[Message, ...]:
    if value is None:
        raise _missing("messages")
    if not isinstance(value, list):
        raise _invalid_type("messages", "an array", value)
    if not value:
        raise RequestError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            code="empty_array",
            param="messages",
        )
    messages = []
    for i, raw in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(raw, dict):
            raise _invalid_type(where, "an object", raw)
        role = raw.get("role")
        if role is None:
            raise _missing(f"{where}.role")
        if role not in ROLES:
            supported = ("system", "assistant", "user", "function", "tool", "developer")
            raise _unsupported(role, supported, f"{where}.role")
        if "content" not in raw and role not in ("assistant",):
            raise _missing(f"{where}.content")
        content = raw.get("content")
        if content is None and role != "assistant":
            raise _invalid_type(f"{where}.content", "one of a string or array of objects", None)
        tool_calls = _parse_tool_calls(raw.get("tool_calls"), f"{where}.tool_calls")
        tool_call_id = raw.get("tool_call_id")
        if role == "tool" and not isinstance(tool_call_id, str):
            raise _absent_or_wrong(f"{where}.tool_call_id", "a string", tool_call_id)
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise _invalid_type(f"{where}.name", "a string", name)
        text = _content_text(content, f"{where}.content", role)
        messages.append(Message(role, text, name, tool_calls, tool_call_id))
    return tuple(messages)


def _custom_tool_names(value: object) -> frozenset[str]:
    """Names of the custom (free-form input) tools offered; `_parse_tools` has checked the
    list and keeps only function tools."""
    if not isinstance(value, list):
        return frozenset()
    names = set()
    for raw in value:
        if isinstance(raw, dict) and raw.get("type") == "custom":
            custom = raw.get("custom")
            name = custom.get("name") if isinstance(custom, dict) else None
            if isinstance(name, str):
                names.add(name)
    return frozenset(names)


def _tool_objects(items: list[Any], where: str) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each entry of a list of tools, with its path and type ("function" unless it says),
    refusing one that is not an object or neither a function nor a custom tool."""
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise _invalid_type(at, "an object", item)
        kind = item.get("type", "function")
        if kind not in ("function", "custom"):
            raise _unsupported(kind, ("function", "custom"), f"{at}.type")
        yield at, item, kind


def _parse_tools(value: object) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid_type("tools", "an array", value)
    tools = []
    for where, raw, kind in _tool_objects(value, "tools"):
        if kind == "custom":
            continue
        function = raw.get("function")
        if not isinstance(function, dict):
            raise _absent_or_wrong(f"{where}.function", "an object", function)
        name = function.get("name")
        if not isinstance(name, str):
            raise _absent_or_wrong(f"{where}.function.name", "a string", name)
        if not name or len(name) > 64 or not all(c.isalnum() or c in "_-" for c in name):
            raise RequestError(
                400,
                f"Invalid '{where}.function.name': string does not match pattern. "
                f"Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                code="invalid_value",
                param=f"{where}.function.name",
            )
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise _invalid_type(f"{where}.function.parameters", "an object", parameters)
        description = function.get("description") or ""
        tools.append(Tool(name, str(description), parameters))
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
            raise _unsupported(value, ("none", "auto", "required"), "tool_choice")
        if value != "none" and not tools and not custom:
            raise RequestError(
                400,
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified.",
                param="tool_choice",
            )
        return value, ()
    if not isinstance(value, dict):
        raise _invalid_type("tool_choice", "one of a string or an object", value)
    kind = value.get("type", "function")
    if kind == "allowed_tools":
        return _parse_allowed_tools(value.get("allowed_tools"), tools, custom)
    if kind not in ("function", "custom"):
        raise _unsupported(kind, ("function", "custom", "allowed_tools"), "tool_choice.type")
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
        raise _missing(f"{where}.{kind}.name")
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
        raise _absent_or_wrong(where, "an object", value)
    mode = value.get("mode")
    if mode not in ("auto", "required"):
        if mode is None:
            raise _missing(f"{where}.mode")
        raise _unsupported(mode, ("auto", "required"), f"{where}.mode")
    listed = value.get("tools")
    if not isinstance(listed, list):
        raise _absent_or_wrong(f"{where}.tools", "an array", listed)
    names = [
        _named_tool(item, kind, at, tools, custom)
        for at, item, kind in _tool_objects(listed, f"{where}.tools")
    ]
    return str(mode), tuple(dict.fromkeys(names))


def _parse_response_format(value: object, messages: tuple[Message, ...]) -> ResponseFormat:
    if value is None:
        return ResponseFormat()
    if not isinstance(value, dict):
        raise _invalid_type("response_format", "an object", value)
    kind = value.get("type")
    if kind not in RESPONSE_FORMATS:
        raise _unsupported(kind, ("text", "json_object", "json_schema"), "response_format.type")
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
        raise _missing("response_format.json_schema")
    name = spec.get("name")
    if not isinstance(name, str):
        raise _missing("response_format.json_schema.name")
    schema = spec.get("schema") or {}
    if not isinstance(schema, dict):
        raise _invalid_type("response_format.json_schema.schema", "an object", schema)
    return ResponseFormat("json_schema", name, schema, bool(spec.get("strict")))


def _parse_stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        if len(value) > 4:
            raise RequestError(
                400,
                f"Invalid 'stop': array too long. Expected an array with maximum length 4, "
                f"but got an array with length {len(value)} instead.",
                code="array_above_max_length",
                param="stop",
            )
        return tuple(s for s in value if s)
    raise _invalid_type("stop", "one of a string or array of strings", value)


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


_SEED_IGNORED = frozenset({"stream", "stream_options"})


def request_key(body: JSON) -> bytes:
    """Canonical bytes of the fields that decide an answer (streaming or not gives the same)."""
    kept = {k: v for k, v in body.items() if k not in _SEED_IGNORED}
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)


MAX_DEPTH = 200  # orjson encodes at most 255 levels; deeper bodies are refused


def _key_or_refuse(body: JSON) -> bytes:
    try:
        return request_key(body)
    except (RecursionError, TypeError):  # orjson: nested past its encoding limit
        raise RequestError(
            400,
            f"Invalid request body: JSON nested more than {MAX_DEPTH} levels deep.",
            code="invalid_value",
        ) from None


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


def _parse_body(
    cls: type[Conversation],
    body: JSON,
    headers: Mapping[str, str],
    path: str,
    max_n: int,
    max_output: int | None = None,
) -> Conversation:
    model = body.get("model")
    if model is None:
        raise RequestError(400, "you must provide a model parameter", param="model")
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    messages = _parse_messages(body.get("messages"))
    stream = _get_bool(body, "stream", False)
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, dict):
            raise _invalid_type("stream_options", "an object", options)
        if not stream:
            raise RequestError(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        include_usage = bool(options.get("include_usage"))
    n = _get_int(body, "n", 1, max_n) or 1
    max_tokens = _get_int(body, "max_completion_tokens", 1, None)
    if max_tokens is None:
        max_tokens = _get_int(body, "max_tokens", 1, None)
    max_tokens_given = max_tokens is not None
    if max_output is not None:
        if max_tokens is not None and max_tokens > max_output:
            param = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
            raise RequestError(
                400,
                f"{param} is too large: {max_tokens}. This model supports at most "
                f"{max_output} completion tokens, whereas you provided {max_tokens}.",
                code="invalid_value",
                param=param,
            )
        if max_tokens is None:
            max_tokens = max_output
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        _get_number(body, name)
    tools = _parse_tools(body.get("tools"))
    tool_choice, allowed_tools = _parse_tool_choice(
        body.get("tool_choice"), tools, _custom_tool_names(body.get("tools"))
    )
    logprobs = _get_bool(body, "logprobs", False)
    top_logprobs = _get_int(body, "top_logprobs", 0, 20) or 0
    if top_logprobs and not logprobs:
        raise RequestError(
            400,
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is used.",
            param="top_logprobs",
        )
    seed = _get_int(body, "seed", None, None)
    fallbacks_raw = body.get("fallbacks")
    if fallbacks_raw is not None and not (
        isinstance(fallbacks_raw, list) and all(isinstance(m, str) for m in fallbacks_raw)
    ):
        raise _invalid_type("fallbacks", "an array of strings", fallbacks_raw)
    for name in ("user", "prompt_cache_key"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise _invalid_type(name, "a string", value)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _invalid_type("metadata", "an object", metadata)
    return cls(
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
        stop=_parse_stop(body.get("stop")),
        tools=tools,
        tool_choice=tool_choice,
        allowed_tools=allowed_tools,
        parallel_tool_calls=_get_bool(body, "parallel_tool_calls", True),
        response_format=_parse_response_format(body.get("response_format"), messages),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        seed=seed,
        fallbacks=tuple(fallbacks_raw or ()),
        key=_key_or_refuse(body),
        last_user=next((m.text for m in reversed(messages) if m.role == "user"), ""),
        system="\n".join(m.text for m in messages if m.role in ("system", "developer")),
        turn=sum(1 for m in messages if m.role == "user"),
    )


# --- responses -----------------------------------------------------------------------


def error_body(
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | int | None = None,
) -> JSON:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def usage_body(prompt: int, completion: int, reasoning: int = 0) -> JSON:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def tool_call_body(call_id: str, name: str, arguments: str) -> JSON:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    402: ("insufficient_quota", "insufficient_credits", "Insufficient credits."),
    403: ("permission_denied", "permission_denied", "You are not allowed to access this resource."),
    404: ("invalid_request_error", "not_found", "The requested resource was not found."),
    408: ("timeout", "timeout", "Request timed out."),
    409: ("conflict", "conflict", "The request conflicts with the current state."),
    413: ("invalid_request_error", "request_too_large", "Request body too large."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in 1s.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", "bad_gateway", "Bad gateway."),
    503: (
        "server_error",
        "service_unavailable",
        "The server is overloaded or not ready yet.",
    ),
    504: ("server_error", "timeout", "Gateway timeout."),
}


def error_defaults(status: int) -> tuple[str, str | None, str]:
    """(type, code, message) the real API sends for a status."""
    if status in _ERROR_DEFAULTS:
        return _ERROR_DEFAULTS[status]
    return (
        ("server_error", None, "Server error.")
        if status >= 500
        else ("invalid_request_error", None, "Request failed.")
    )


def default_error_headers(status: int) -> tuple[tuple[str, str], ...]:
    """Headers the real API adds to an error: 429 carries Retry-After and x-ratelimit-*."""
    if status == 429:
        return (
            ("retry-after", "1"),
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
        )
    if status == 503:
        return (("retry-after", "1"),)
    return ()
