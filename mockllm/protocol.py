"""OpenAI's wire vocabulary shared by its API families (chat, responses, embeddings): the
validation messages the real API words its 400s with, and its error shape and defaults.

Each family's own parsing and encoding lives in its dialect (`mockllm.dialects`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import orjson

from mockllm.conversation import JSON, canonical_bytes
from mockllm.errors import RequestError
from mockllm.rules import ErrorSpec

PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
    "us through our help center at help.openai.com.)"
)
MAX_DEPTH = 254  # orjson encodes at most 254 levels of nesting; deeper bodies are refused


def load_object(raw: bytes) -> JSON:
    """The JSON object of a request body, refused as the OpenAI API refuses it."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError(400, PARSE_ERROR) from None
    if not isinstance(body, dict):
        raise RequestError(
            400,
            f"Invalid type for request body: expected an object, but got {kind_of(body)} instead.",
            code="invalid_type",
        )
    return body


def canonical_or_refuse(body: JSON) -> bytes:
    """`canonical_bytes(body)`, or a 400 for a body nested too deep to encode."""
    try:
        return canonical_bytes(body)
    except (RecursionError, TypeError):  # orjson: nested past its encoding limit
        raise RequestError(
            400,
            f"Invalid request body: JSON nested more than {MAX_DEPTH} levels deep.",
            code="invalid_value",
        ) from None


def kind_of(value: object) -> str:
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


def invalid_type(param: str, expected: str, value: object) -> RequestError:
    return RequestError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {kind_of(value)} instead.",
        code="invalid_type",
        param=param,
    )


def missing(param: str) -> RequestError:
    return RequestError(
        400,
        f"Missing required parameter: '{param}'.",
        code="missing_required_parameter",
        param=param,
    )


def listed(values: tuple[str, ...]) -> str:
    """`'a', 'b', and 'c'`, as the API lists the values it supports."""
    quoted = [f"'{v}'" for v in values]
    return (
        " and ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]
    )


def unsupported(value: object, supported: tuple[str, ...], param: str) -> RequestError:
    """The 400 for a value outside a fixed set, worded as the API words it."""
    if isinstance(value, str):
        shown = value
    else:
        try:
            shown = orjson.dumps(value).decode()
        except orjson.JSONEncodeError:  # an integer past 64 bits
            shown = str(value)
    return RequestError(
        400,
        f"Invalid value: '{shown}'. Supported values are: {listed(supported)}.",
        code="invalid_value",
        param=param,
    )


def get_str(obj: JSON, key: str, where: str) -> str:
    """A required string field `key` of `obj`, named `where.key` when absent or wrong."""
    value = obj.get(key)
    if not isinstance(value, str):
        raise absent_or_wrong(f"{where}.{key}", "a string", value)
    return value


def check_name(name: str, param: str, most: int | None = 64) -> None:
    """A name the API restricts to `^[a-zA-Z0-9_-]+$` (and, for most, 64 characters):
    `Invalid 'tools[0].function.name': string does not match pattern. Expected a string
    that matches the pattern '^[a-zA-Z0-9_-]+$'.` or `… string too long. Expected a string
    with maximum length 64, but got a string with length 65 instead.` (code
    invalid_value / string_above_max_length)."""
    if most is not None and len(name) > most:
        raise string_too_long(param, most, len(name))
    if not name or not all(c in _NAME_CHARS for c in name):
        raise RequestError(
            400,
            f"Invalid '{param}': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]+$'.",
            code="invalid_value",
            param=param,
        )


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
MAX_METADATA = 16  # pairs; keys up to 64 characters, values strings up to 512
# The service tiers the API names when it refuses another (a direct-API table of
# 2026-08-30); the SDK also types `scale` (and, on the Responses API, `ultrafast`), taken
# too. An answer reports the tier it was served in: the one asked for, `default` for auto.
SERVICE_TIERS = ("auto", "default", "fast", "flex", "priority")
TAKEN_TIERS = frozenset((*SERVICE_TIERS, "scale", "ultrafast"))


def served_tier(asked: object) -> str:
    return asked if isinstance(asked, str) and asked not in ("auto", "default") else "default"


def check_metadata(value: object) -> None:
    """`metadata` as the API bounds it (Metadata in OpenAI's OpenAPI document), worded as a
    direct-API conformance table of 2026-08-30 records it: `Invalid 'metadata': too many
    properties. Expected an object with at most 16 properties, but got an object with 17
    properties instead.` (object_above_max_properties), `Invalid property name in
    'metadata': 'k…' is too long. …` (property_name_above_max_length), `Invalid
    'metadata.k': string too long. …` (string_above_max_length), `Invalid type for
    'metadata.k': expected a string, but got an integer instead.`"""
    if value is None:
        return
    if not isinstance(value, dict):
        raise invalid_type("metadata", "an object", value)
    if len(value) > MAX_METADATA:
        raise RequestError(
            400,
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{MAX_METADATA} properties, but got an object with {len(value)} properties instead.",
            code="object_above_max_properties",
            param="metadata",
        )
    for key, item in value.items():
        if len(key) > 64:
            raise RequestError(
                400,
                f"Invalid property name in 'metadata': '{key}' is too long. Expected a string "
                f"with maximum length 64, but got a string with length {len(key)} instead.",
                code="property_name_above_max_length",
                param=f"metadata.{key}",
            )
        if not isinstance(item, str):
            raise invalid_type(f"metadata.{key}", "a string", item)
        if len(item) > 512:
            raise string_too_long(f"metadata.{key}", 512, len(item))


PROMPT_CACHE_RETENTIONS = ("in_memory", "24h")
SAFETY_IDENTIFIER_MAX = 64  # maxLength in the OpenAPI document


def check_cache_and_safety(body: Mapping[str, object]) -> None:
    """`prompt_cache_retention` and `safety_identifier`, on the chat completions and Responses
    APIs: `Invalid value: 'in-memory'. Supported values are: 'in_memory' and '24h'.` (quoted
    in pydantic/pydantic-ai issue 4028: the hyphen older SDKs sent is refused), and the
    identifier's 64 characters."""
    retention = body.get("prompt_cache_retention")
    if retention is not None:
        if not isinstance(retention, str):
            raise invalid_type("prompt_cache_retention", "a string", retention)
        if retention not in PROMPT_CACHE_RETENTIONS:
            raise unsupported(retention, PROMPT_CACHE_RETENTIONS, "prompt_cache_retention")
    identifier = body.get("safety_identifier")
    if isinstance(identifier, str) and len(identifier) > SAFETY_IDENTIFIER_MAX:
        raise string_too_long("safety_identifier", SAFETY_IDENTIFIER_MAX, len(identifier))


def string_too_long(param: str, most: int, length: int) -> RequestError:
    """The 400 for a string past its maximum length (`maxLength` in the OpenAPI document)."""
    return RequestError(
        400,
        f"Invalid '{param}': string too long. Expected a string with maximum length {most}, "
        f"but got a string with length {length} instead.",
        code="string_above_max_length",
        param=param,
    )


def array_too_long(param: str, most: int, length: int) -> RequestError:
    """The 400 for an array past its maximum length (`maxItems` in the OpenAPI document)."""
    return RequestError(
        400,
        f"Invalid '{param}': array too long. Expected an array with maximum length {most}, "
        f"but got an array with length {length} instead.",
        code="array_above_max_length",
        param=param,
    )


def empty_array(param: str) -> RequestError:
    """The 400 for an array that must hold at least one item."""
    return RequestError(
        400,
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.",
        code="empty_array",
        param=param,
    )


def absent_or_wrong(param: str, expected: str, value: object) -> RequestError:
    """The 400 for a field that must be `expected`: missing when null or absent."""
    return missing(param) if value is None else invalid_type(param, expected, value)


def get_bool(body: JSON, name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_type(name, "a boolean", value)
    return value


def get_int(body: JSON, name: str, low: int | None, high: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(name, "an integer", value)
    check_range(name, value, low, high, "integer")
    return value


def get_number(body: JSON, name: str) -> None:
    """Type check only: each profile holds its own ranges (profiles.check_params)."""
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid_type(name, "a decimal", value)


def string_list(body: JSON, name: str) -> tuple[str, ...]:
    """An optional array of strings; a wrong element is named with its index and type."""
    value = body.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_type(name, "an array of strings", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise invalid_type(f"{name}[{i}]", "a string", item)
    return tuple(value)


def check_range(name: str, value: float, low: float | None, high: float | None, word: str) -> None:
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


# --- answers -----------------------------------------------------------------------------


def error_body(
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | int | None = None,
) -> JSON:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


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


def error_object(spec: ErrorSpec | None) -> JSON:
    """The `error` object of a scripted error (defaults by status; 500 when unset)."""
    status = spec.status if spec else 500
    kind, code, message = error_defaults(status)
    if spec is not None and status == 429:
        retry = next((v for k, v in spec.headers if k.lower() == "retry-after"), None)
        if retry is not None:
            message = f"Rate limit reached for requests. Please try again in {retry}s."
    if spec is None:
        return {"message": message, "type": kind, "param": None, "code": code}
    return {
        "message": spec.message or message,
        "type": spec.type or kind,
        "param": spec.param,
        "code": None if spec.null_code else spec.code or code,
    }


def stream_options(body: JSON, stream: bool) -> JSON:
    """`stream_options`, checked as the OpenAI families check it: an object, sent only with
    `stream: true`; {} when absent."""
    options = body.get("stream_options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise invalid_type("stream_options", "an object", options)
    if not stream:
        raise RequestError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    for name in ("include_usage", "include_obfuscation"):
        given = options.get(name)
        if given is not None and not isinstance(given, bool):
            raise invalid_type(f"stream_options.{name}", "a boolean", given)
    return options


FORCED_TOKENS = 1 << 20  # completion tokens a request may force, all its choices together


def forced_tokens(
    body: JSON, max_tokens: int | None, given: bool, choices: int
) -> tuple[bool, int]:
    """vLLM's `ignore_eos` and `min_tokens` (generated text runs to `max_tokens`, or is at
    least `min_tokens` long), checked as vLLM checks them (`min_tokens` no more than
    `max_tokens`), and within what a mock writes for one request: at most `FORCED_TOKENS`
    forced tokens over its `choices` (a 16-million-token answer took the server to 1.2 GB)."""
    if "ignore_eos" not in body and "min_tokens" not in body:
        return False, 0  # (most requests: nothing to read)
    ignore_eos = get_bool(body, "ignore_eos", False)
    min_tokens = get_int(body, "min_tokens", 0, None) or 0
    if max_tokens is not None and min_tokens > max_tokens:
        raise RequestError(
            400,
            f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {min_tokens}.",
            param="min_tokens",
        )
    forced = max(min_tokens, max_tokens if ignore_eos and given and max_tokens else 0)
    if forced * choices > FORCED_TOKENS:
        raise RequestError(
            400,
            f"mockllm writes at most {FORCED_TOKENS} forced completion tokens per request "
            f"(ignore_eos or min_tokens); this one asks for {forced} in each of {choices} "
            f"choices ({forced * choices}). Lower max_tokens, min_tokens or n.",
            param="min_tokens" if min_tokens >= forced else "max_tokens",
        )
    return ignore_eos, min_tokens


def parse_stop(value: object) -> tuple[str, ...]:
    """`stop`: a string or up to four strings (empty ones dropped)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        if len(value) > 4:
            raise array_too_long("stop", 4, len(value))
        return tuple(s for s in value if s)
    raise invalid_type("stop", "one of a string or array of strings", value)


def check_logit_bias(value: object) -> None:
    """`logit_bias` maps token ids (as strings) to a bias from -100 to 100. The real API's
    wording for a key that is not a token id: "Invalid key in 'logit_bias': AI. You should
    only be submitting non-negative integers." (quoted in user reports, e.g.
    github.com/OkGoDoIt/OpenAI-API-dotnet/issues/163)."""
    if not isinstance(value, dict):
        return
    for token, bias in value.items():
        if not token.isdigit():
            raise RequestError(
                400,
                f"Invalid key in 'logit_bias': {token}. You should only be submitting "
                "non-negative integers.",
                param="logit_bias",
            )
        if isinstance(bias, bool) or not isinstance(bias, int | float):
            raise invalid_type(f"logit_bias.{token}", "a number", bias)
        if not -100 <= bias <= 100:
            raise RequestError(
                400,
                f"Invalid value for 'logit_bias': {bias}. The bias must be between -100 and 100.",
                code="invalid_value",
                param="logit_bias",
            )
