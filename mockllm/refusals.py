"""What the real OpenAI API refuses in a well-formed request, in its words: arguments it
does not know, a model's output and context limits, parameters a model does not take,
schemas that are not JSON Schema, strict schemas it cannot enforce. (Tool calls without
replies, and replies without calls, are checked where each dialect reads its
conversation.)

Each check is skipped under `--lenient` (`ParseContext.lenient`), except a server-wide
`--max-output-tokens`, which is the user's own limit. The wording of each refusal, and
where it is quoted from, is listed in docs/models.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from mockllm.cache import Memo
from mockllm.catalogue import Model, ParameterRules
from mockllm.errors import RequestError
from mockllm.protocol import listed
from mockllm.strict_schema import strict_problem

if TYPE_CHECKING:
    from mockllm.dialects import ParseContext

# The top-level arguments each API takes: the properties of CreateChatCompletionRequest
# and CreateResponse in OpenAI's OpenAPI document (github.com/openai/openai-openapi), and
# the Responses API's `client_metadata` (string pairs), which the Codex CLI sends on every
# request, and its `presence_penalty` and `frequency_penalty`, which the API takes (and
# echoes) though the SDK does not type them.
CHAT_ARGUMENTS = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "messages", "metadata", "modalities", "model",
        "moderation", "n", "parallel_tool_calls", "prediction", "presence_penalty",
        "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention",
        "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier",
        "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
        "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
    }
)  # fmt: skip
RESPONSES_ARGUMENTS = frozenset(
    {
        "access_programs", "background", "background_options", "client_metadata",
        "context_management", "conversation", "frequency_penalty", "image", "include",
        "input", "instructions", "max_output_tokens", "max_tool_calls", "metadata", "model",
        "moderation", "parallel_tool_calls", "presence_penalty", "previous_response_id",
        "prompt",
        "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning",
        "safety_identifier", "service_tier", "store", "stream", "stream_options",
        "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation",
        "user",
    }
)  # fmt: skip
COMPLETIONS_ARGUMENTS = frozenset(
    {
        "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens",
        "model", "n", "presence_penalty", "prompt", "seed", "stop", "stream",
        "stream_options", "suffix", "temperature", "top_p", "user",
    }
)  # fmt: skip
# vLLM's own sampling parameters, which its OpenAI-compatible server takes on chat and
# completions beside OpenAI's (the "extra params" of ChatCompletionRequest and
# CompletionRequest in vllm/entrypoints/openai/protocol.py), and which load generators
# send: guidellm, `vllm bench serve`, aiperf (`ignore_eos` with `max_tokens` for answers of
# a set length). Taken for a model the catalogue does not name (an open-weights model, as
# vLLM serves it); OpenAI's models refuse them.
VLLM_ARGUMENTS = frozenset(
    {
        "allowed_token_ids", "bad_words", "ignore_eos", "include_stop_str_in_output",
        "length_penalty", "min_p", "min_tokens", "prompt_logprobs", "repetition_penalty",
        "skip_special_tokens", "spaces_between_special_tokens", "stop_token_ids", "top_k",
        "truncate_prompt_tokens", "use_beam_search",
    }
)  # fmt: skip
# The efforts the API takes at all, as the OpenAPI document's `ReasoningEffort` lists them
# ("Not all reasoning models support every value": a model's own are its `efforts`).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def unrecognized_arguments(
    body: dict[str, Any],
    context: ParseContext,
    model: Model,
    known: frozenset[str] = CHAT_ARGUMENTS,
) -> None:
    """Chat Completions: `400 Unrecognized request argument supplied: NAME` (several:
    "Unrecognized request arguments supplied: A, B", names sorted), param and code null.
    vLLM's sampling parameters are taken for a model the catalogue does not name.

    Quoted in github.com/xlinx/sd-webui-decadetw-auto-prompt-llm/issues/29 (one name) and
    github.com/tbxark/ChatGPT-Telegram-Workers/issues/5 (several)."""
    if context.lenient or not context.refuse_unknown:
        return
    unknown = sorted(k for k in body if k not in known and (model.known or k not in VLLM_ARGUMENTS))
    if len(unknown) == 1:
        raise RequestError(400, f"Unrecognized request argument supplied: {unknown[0]}")
    if unknown:
        raise RequestError(400, f"Unrecognized request arguments supplied: {', '.join(unknown)}")


# Chat Completions' arguments the Responses API names the new place of, in its own words
# ("Unsupported parameter: 'messages'. In the Responses API, this parameter has moved to
# 'input'. Try again with the new parameter. See the API documentation for more
# information: https://platform.openai.com/docs/api-reference/responses/create.", param
# null, code unsupported_parameter: measured on api.openai.com, August 2026, in
# github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
# test/openai-responses-validation-parity.test.mjs).
MOVED_ARGUMENTS = {"messages": "input"}


def unknown_parameter(body: dict[str, Any], context: ParseContext) -> None:
    """The Responses API: `400 Unknown parameter: 'NAME'.`, param NAME, code
    `unknown_parameter` (quoted in github.com/pydantic/pydantic-ai/issues/3653); a Chat
    Completions argument that has moved is named with its new place (MOVED_ARGUMENTS)."""
    if context.lenient or not context.refuse_unknown:
        return
    for name, place in MOVED_ARGUMENTS.items():
        if name in body:
            raise RequestError(
                400,
                f"Unsupported parameter: '{name}'. In the Responses API, this parameter has "
                f"moved to '{place}'. Try again with the new parameter. See the API "
                "documentation for more information: "
                "https://platform.openai.com/docs/api-reference/responses/create.",
                code="unsupported_parameter",
            )
    for name in body:
        if name not in RESPONSES_ARGUMENTS:
            near = _near(name, RESPONSES_ARGUMENTS.difference(body))
            hint = f" Did you mean {_either(near)}?" if near else ""
            raise RequestError(
                400, f"Unknown parameter: '{name}'.{hint}", code="unknown_parameter", param=name
            )


def _near(name: str, known: Iterable[str]) -> list[str]:
    """The known arguments at most two edits from `name`, nearest first, ties in name order:
    the API's spelling help ("Unknown parameter: 'strem'. Did you mean 'stream' or
    'store'?"; 'st' gets none, three edits from 'store'; an argument the body already has is
    never offered: measured on api.openai.com, August 2026, in
    github.com/kangminlee-maker/local-OAuth-CLI-API-adapter,
    test/openai-responses-validation-parity.test.mjs)."""
    # A length gap over two is a distance over two: the rest are never computed, so a long
    # name costs nothing.
    found = [
        (distance, key)
        for key in known
        if abs(len(key) - len(name)) <= 2 and (distance := _edits(name, key)) <= 2
    ]
    return [key for _, key in sorted(found)]


def _edits(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions, one each."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _either(names: list[str]) -> str:
    """`'a'`, `'a' or 'b'`, `'a', 'b', or 'c'`."""
    quoted = [f"'{n}'" for n in names]
    return " or ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + ", or " + quoted[-1]


def model_parameters(body: dict[str, Any], model: Model, api: str, context: ParseContext) -> None:
    """The parameters this model refuses on this API family (the catalogue's rules; its
    `while_reasoning` ones too unless the request's effort, or the model's default, is
    `none`)."""
    if context.lenient:
        return
    rules = model.rules_for(api)
    _refuse(body, rules)
    if rules.while_reasoning is not None:
        name = "reasoning_effort" if api == "chat" else "reasoning.effort"
        effort = _value(body, name) if _given(body, name) else model.default_effort
        if effort != "none":
            _refuse(body, rules.while_reasoning)


def check_effort(value: object, model: Model, param: str) -> None:
    """A reasoning effort the model does not take: `Unsupported value: 'reasoning_effort'
    does not support 'none' with this model. Supported values are: 'minimal', 'low',
    'medium', and 'high'.` (code unsupported_value; quoted for gpt-5-mini-2025-08-07 in
    public reports, and for newer models with their own lists)."""
    check_supported(value, model.efforts, param)


def check_supported(value: object, supported: tuple[str, ...], param: str) -> None:
    """A value of a parameter the model takes only some of (``supported``; empty: any), in
    the words of Chat Completions: `Unsupported value: 'verbosity' does not support 'low'
    with this model. Supported values are: 'medium'.` (gpt-4o, quoted in
    github.com/google-deepmind/concordia/issues/164; the reasoning effort's alike)."""
    if supported and value not in supported:
        raise RequestError(
            400,
            f"Unsupported value: '{param}' does not support {_shown(value)} with this model. "
            f"Supported values are: {listed(supported)}.",
            code="unsupported_value",
            param=param,
        )


def _refuse(body: dict[str, Any], rules: ParameterRules) -> None:
    for name in rules.unrecognized:
        if _given(body, name):
            raise RequestError(400, f"Unrecognized request argument supplied: {name}")
    for item in rules.unsupported:
        if _given(body, item.param):
            hint = f" {item.hint}" if item.hint else ""
            raise RequestError(
                400,
                f"Unsupported parameter: '{item.param}' is not supported with this model.{hint}",
                code=item.code,
                param=item.param,
            )
    for name, default in rules.default_only:
        value = _value(body, name)
        if _given(body, name) and isinstance(value, int | float) and value != default:
            raise RequestError(
                400,
                f"Unsupported value: '{name}' does not support {_shown(value)} with this "
                f"model. Only the default ({_shown(default)}) value is supported.",
                code="unsupported_value",
                param=name,
            )
    for name, message in rules.forbidden:
        if _value(body, name) is True:
            # github.com/confident-ai/deepeval/pull/2184 quotes the 403 for o4-mini
            raise RequestError(403, message)
    if rules.unsupported_roles:
        _refuse_roles(body.get("messages"), rules.unsupported_roles)


def _refuse_roles(messages: object, roles: tuple[str, ...]) -> None:
    """A message whose role the model does not take: o1-mini and o1-preview take no
    system or developer message, `Unsupported value: 'messages[0].role' does not support
    'system' with this model.` (code unsupported_value; quoted for both roles in
    github.com/QuantumNous/new-api/issues/847, and for o1-mini alone of OpenAI's chat
    models in github.com/microsoft/agent-framework/issues/1077)."""
    if not isinstance(messages, list):
        return
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role in roles:
            param = f"messages[{i}].role"
            raise RequestError(
                400,
                f"Unsupported value: '{param}' does not support '{role}' with this model.",
                code="unsupported_value",
                param=param,
            )


def output_limit(model: Model, context: ParseContext) -> int | None:
    """The most output tokens a request may ask for: `--max-output-tokens` when given, else
    the model's own limit; None (no limit) under `--lenient`."""
    if context.max_output is not None:
        return context.max_output
    return None if context.lenient else model.max_output_tokens


def too_many_output_tokens(param: str, asked: int, limit: int, unit: str) -> RequestError:
    """`max_tokens is too large: 8192. This model supports at most 4096 completion tokens,
    whereas you provided 8192.` (param the field, code null: quoted in
    github.com/ChatGPTNextWeb/NextChat/issues/3195)."""
    return RequestError(
        400,
        f"{param} is too large: {asked}. This model supports at most {limit} {unit} tokens, "
        f"whereas you provided {asked}.",
        param=param,
    )


def chat_context(
    model: Model,
    messages: int,
    functions: int,
    completion: int | None,
    context: ParseContext,
) -> None:
    """Chat Completions' context-length refusal (param `messages`, code
    `context_length_exceeded`), in the form the request calls for:

    - "This model's maximum context length is 8192 tokens. However, you requested 8256
      tokens (64 in the messages, 8192 in the completion). Please reduce the length of the
      messages or completion." (a `max_tokens` was given; NextChat issue 3195)
    - "… However, your messages resulted in 202868 tokens (202767 in the messages, 101 in
      the functions). Please reduce the length of the messages or functions."
      (tools were given; github.com/bytedance/deer-flow/issues/310)
    - "… However, your messages resulted in 130043 tokens. Please reduce the length of the
      messages." (github.com/jefferson-calmon/codocx/issues/6)
    """
    if context.lenient:
        return
    window = model.context_window
    prompt = messages + functions
    head = f"This model's maximum context length is {window} tokens. However, "
    if completion is not None and prompt + completion > window:
        in_prompt = f"{messages} in the messages, "
        if functions:
            in_prompt += f"{functions} in the functions, "
        message = (
            f"{head}you requested {prompt + completion} tokens ({in_prompt}{completion} in "
            "the completion). Please reduce the length of the messages or completion."
        )
    elif prompt > window and functions:
        message = (
            f"{head}your messages resulted in {prompt} tokens ({messages} in the messages, "
            f"{functions} in the functions). Please reduce the length of the messages or "
            "functions."
        )
    elif prompt > window:
        message = (
            f"{head}your messages resulted in {prompt} tokens. Please reduce the length of "
            "the messages."
        )
    else:
        return
    raise RequestError(400, message, code="context_length_exceeded", param="messages")


def responses_context(model: Model, prompt: int, context: ParseContext) -> None:
    """The Responses API's context-length refusal: "Your input exceeds the context window
    of this model. Please adjust your input and try again." (param `input`, code
    `context_length_exceeded`; quoted in github.com/dyad-sh/dyad/issues/1672)."""
    if context.lenient or prompt <= model.context_window:
        return
    raise RequestError(
        400,
        "Your input exceeds the context window of this model. Please adjust your input and "
        "try again.",
        code="context_length_exceeded",
        param="input",
    )


def may_exceed(texts: Iterable[str], extra: int, window: int) -> bool:
    """Whether a prompt could be over `window` tokens: each token is at least one character,
    so a prompt with fewer characters (plus framing) than the window cannot be, and is not
    counted."""
    return sum(map(len, texts)) + extra >= window


def refuse_schema(
    schema: object,
    what: str,
    name: str,
    param: str,
    code: str | None,
    context: ParseContext,
    strict: bool,
) -> None:
    """A schema the API refuses: `Invalid schema for function 'NAME': …` or `Invalid schema
    for response_format 'NAME': …`. Any schema is first read against JSON Schema's own
    schema, in the validator's words (`[] is not of type 'object', 'boolean'.`, quoted in
    github.com/FoundationAgents/OpenManus issue 1162); a strict one must also be one
    Structured Outputs can enforce (strict_schema.py cites each wording); a function's,
    strict or not, must give every array its `items`."""
    if context.lenient:
        return
    problem = meta_problem(schema)
    if problem is None and strict:
        problem = strict_problem(schema)
    elif problem is None and what == "function":
        problem = array_without_items(schema)
    if problem is not None:
        raise RequestError(
            400, f"Invalid schema for {what} '{name}': {problem}", code=code, param=param
        )


# The places of a schema that hold schemas, as the API's context path names them.
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf")
_SUBSCHEMA_ONE = ("items", "additionalProperties")
MAX_WALKED_DEPTH = 64  # past it a schema is not followed further
_ARRAY_VERDICTS: Memo[bytes, str] = Memo(1024, max_bytes=16 << 20)


def array_without_items(schema: object) -> str | None:
    """The API's refusal of a function schema, strict or not, with an array that does not
    say what it holds (`{"type": "array"}`, or a 2020-12 tuple's `prefixItems` alone):
    "In context=('properties', 'tags'), array schema missing items." (quoted for tools
    made from OpenAPI specs and MCP servers called without strict mode:
    github.com/open-webui/open-webui issue 14115, github.com/apify/apify-mcp-server issue
    36, github.com/digitalocean-labs/mcp-digitalocean issue 265), or None. The verdict is
    kept by the schema's JSON text, as `meta_problem`'s: an agent sends the same tools with
    every request."""
    try:
        key = orjson.dumps(schema)
    except (orjson.JSONEncodeError, TypeError):
        return _find_array_without_items(schema, (), 0)
    verdict = _ARRAY_VERDICTS.get(key)
    if verdict is None:
        verdict = _find_array_without_items(schema, (), 0) or ""
        _ARRAY_VERDICTS.put(key, verdict, len(key))
    return verdict or None


def _find_array_without_items(node: object, path: tuple[str, ...], depth: int) -> str | None:
    if not isinstance(node, dict) or depth > MAX_WALKED_DEPTH:
        return None
    kind = node.get("type")
    if (kind == "array" or (isinstance(kind, list) and "array" in kind)) and ("items" not in node):
        return f"In context={path!r}, array schema missing items."
    for child, place in _subschemas(node):
        found = _find_array_without_items(child, (*path, *place), depth + 1)
        if found is not None:
            return found
    return None


def _subschemas(node: dict[str, Any]) -> Iterator[tuple[object, tuple[str, ...]]]:
    for key in _SUBSCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                yield child, (key, str(name))
    for key in _SUBSCHEMA_ONE:
        if key in node:
            yield node[key], (key,)
    for key in _SUBSCHEMA_LISTS:
        branches = node.get(key)
        if isinstance(branches, list):
            for i, branch in enumerate(branches):
                yield branch, (key, str(i))


# Reading a schema against JSON Schema's own takes about 0.7 us a byte of its JSON (1 ms
# for 20 properties): the verdict is kept by the schema's JSON text, as an app sends the
# same schemas with every request, and a schema over `META_CHECKED_BYTES` is not read.
META_CHECKED_BYTES = 64 << 10
_VERDICTS: Memo[tuple[bytes, bool], str] = Memo(1024, max_bytes=16 << 20)
_meta: list[Any] = []  # the two validators, made on first use (jsonschema loads in ~90 ms)


def meta_problem(schema: object, draft_2020_only: bool = False) -> str | None:
    """What is wrong with a schema as JSON Schema, in the `jsonschema` library's words, or
    None. OpenAI's schemas are refused only when both drafts their users write (2020-12 and
    7) refuse them (a tuple's `items: [...]` is Draft 7's, `prefixItems` 2020-12's); the
    message is 2020-12's. Anthropic names draft 2020-12 alone (`draft_2020_only`)."""
    try:
        key = orjson.dumps(schema)
    except (orjson.JSONEncodeError, TypeError):
        return None
    if len(key) > META_CHECKED_BYTES:
        return None
    memo_key = (key, draft_2020_only)
    verdict = _VERDICTS.get(memo_key)
    if verdict is None:
        verdict = _meta_verdict(schema, draft_2020_only)
        _VERDICTS.put(memo_key, verdict, 2 * len(key))
    return verdict or None


def _meta_verdict(schema: object, draft_2020_only: bool) -> str:
    if not _meta:
        from jsonschema import Draft7Validator, Draft202012Validator

        _meta.extend(
            (
                Draft7Validator(Draft7Validator.META_SCHEMA),
                Draft202012Validator(Draft202012Validator.META_SCHEMA),
            )
        )
    from jsonschema.exceptions import best_match

    draft7, draft2020 = _meta
    try:
        if not draft_2020_only and draft7.is_valid(schema):
            return ""
        found = best_match(draft2020.iter_errors(schema))
    except (RecursionError, ValueError, TypeError):  # nested past what it can follow
        return ""
    return f"{found.message}." if found is not None else ""


def _value(body: dict[str, Any], dotted: str) -> Any:
    node: Any = body
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _given(body: dict[str, Any], dotted: str) -> bool:
    return _value(body, dotted) is not None


def _shown(value: object) -> str:
    """A number as the API echoes it: 1 for 1.0 in "the default (1)"; what was sent
    otherwise (0.7, 0, 0.0 as JSON wrote it)."""
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value)) if value == 1 else repr(value)
    return repr(value)
