"""The legacy Completions dialect: `POST /v1/completions` read into a Conversation (one user
message per prompt), answers written as a `text_completion` body or `text_completion` SSE
events.

A prompt is a string, a list of strings, a token array or a list of token arrays (ids
read back to text with cl100k_base, as the embeddings dialect reads them). Each prompt is
a group of `n` choices: choice `i` answers prompt `i // n`. The rule is matched once, on
the whole batch (`last_user` is the last prompt), and its reply fills every choice.

What the wire has no form for is not written: tool calls (a completion model cannot call
a tool: the text said before them is the answer, `finish_reason` `stop`) and reasoning.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mockllm import sse, vllm
from mockllm.catalogue import Model, lookup
from mockllm.conversation import (
    JSON,
    Conversation,
    Message,
    api_key_of,
    derive_seed,
    provider_of,
    summarize,
)
from mockllm.dialects import DEFAULT_CONTEXT, Dialect, ParseContext
from mockllm.dialects.openai_errors import failure, headers, refusal
from mockllm.errors import RequestError
from mockllm.protocol import (
    canonical_or_refuse,
    check_logit_bias,
    error_object,
    forced_tokens,
    get_bool,
    get_int,
    get_number,
    invalid_type,
    load_object,
    missing,
    parse_stop,
    stream_options,
)
from mockllm.refusals import (
    COMPLETIONS_ARGUMENTS,
    model_parameters,
    too_many_output_tokens,
    unrecognized_arguments,
)
from mockllm.render import Rendered, RenderedChoice
from mockllm.rules import ErrorSpec, Fault
from mockllm.tokens import split_tokens
from mockllm.vocabulary import END_OF_TEXT, decode
from mockllm.wire import SSE_TYPE, Body, interleave, whole_json

_dumps = orjson.dumps
PATH = "/v1/completions"
DEFAULT_MAX_TOKENS = 16  # the API's default: a longer answer is cut, `finish_reason: length`
MAX_LOGPROBS = 5
MAX_BEST_OF = 20
MAX_CHOICES = 2048  # prompts x max(n, best_of): 500,000 took minutes to write
# The API's 404 for a chat model (quoted in tmc/langchaingo#201, hegelai/prompttools#115).
CHAT_MODEL = (
    "This is a chat model and not supported in the v1/completions endpoint. "
    "Did you mean to use v1/chat/completions?"
)
# gpt-3.5-turbo-instruct gives no logprobs of the prompt: it refuses `echo` with `logprobs`
# (quoted in keirp/automatic_prompt_engineer#25 and fastai/lm-hackers#7); the base models
# (davinci-002, babbage-002), which lm-eval-harness scores prompts with, take both.
NO_PROMPT_LOGPROBS = ("gpt-3.5-turbo-instruct",)
ECHO_WITH_LOGPROBS = (
    "Setting 'echo' and 'logprobs' at the same time is not supported for this model."
)
PROMPT_TYPES = (
    "one of a string, array of strings, array of integers, or array of arrays of integers"
)
_ID_PREFIX = "cmpl-"


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt: its text, and its tokens as the answer's `echo` logprobs list them (a
    token array's ids one by one, a string as mockllm splits it)."""

    text: str
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Wire:
    """What the completions dialect keeps of a request to write its answer."""

    prompts: tuple[Prompt, ...]
    per_prompt: int  # n: choices per prompt
    echo: bool = False
    logprobs: int | None = None  # 0 to 5: top alternatives per token; None: no logprobs


# --- requests -------------------------------------------------------------------------------


def _is_id(value: object) -> bool:
    return type(value) is int  # a JSON integer: not a bool, not a decimal


def _decoded(ids: list[int], param: str) -> Prompt:
    """A token array's prompt; an id outside cl100k_base (and its <|endoftext|>) is refused
    in the API's words, as on embeddings."""
    if min(ids) < 0 or max(ids) > END_OF_TEXT:
        token = next(t for t in ids if not 0 <= t <= END_OF_TEXT)
        raise RequestError(
            400,
            f"Invalid token in prompt: {token}. Minimum value is 0, maximum value is "
            f"{END_OF_TEXT} (inclusive).",
            param=param,
        )
    return Prompt(decode(ids), tuple(decode([i]) for i in ids))


def _text(text: str) -> Prompt:
    return Prompt(text, tuple(split_tokens(text)) if text else ())


def parse_prompts(value: object) -> tuple[Prompt, ...]:
    """The prompts of `prompt`: a string, a list of strings, a token array or a list of
    token arrays (not a mix); null is the empty document, as the API's default
    `<|endoftext|>` begins one."""
    if value is None:
        return (_text(""),)
    if isinstance(value, str):
        return (_text(value),)
    if not isinstance(value, list):
        raise invalid_type("prompt", PROMPT_TYPES, value)
    if not value:
        raise RequestError(
            400,
            "Invalid 'prompt': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            code="empty_array",
            param="prompt",
        )
    if all(_is_id(v) for v in value):
        return (_decoded(value, "prompt"),)
    if all(isinstance(v, str) for v in value):
        return tuple(_text(v) for v in value)
    if all(isinstance(v, list) for v in value):
        prompts = []
        for i, ids in enumerate(value):
            if not ids:
                raise RequestError(
                    400,
                    f"Invalid 'prompt[{i}]': empty array. Expected an array with minimum "
                    "length 1, but got an empty array instead.",
                    code="empty_array",
                    param=f"prompt[{i}]",
                )
            if not all(_is_id(t) for t in ids):
                raise invalid_type(f"prompt[{i}]", "an array of integers", ids)
            prompts.append(_decoded(ids, f"prompt[{i}]"))
        return tuple(prompts)
    raise invalid_type("prompt", PROMPT_TYPES, value)


def _check_context(entry: Model, prompts: tuple[Prompt, ...], max_tokens: int) -> None:
    """The legacy API's context-length refusal, for the longest prompt: `This model's
    maximum context length is 4097 tokens, however you requested 4162 tokens (4034 in your
    prompt; 128 for the completion). Please reduce your prompt; or completion length.`
    (param and code null)."""
    window = entry.context_window
    for prompt in prompts:
        asked = len(prompt.tokens) + max_tokens
        if asked > window:
            raise RequestError(
                400,
                f"This model's maximum context length is {window} tokens, however you "
                f"requested {asked} tokens ({len(prompt.tokens)} in your prompt; {max_tokens} "
                "for the completion). Please reduce your prompt; or completion length.",
            )


def parse(
    raw: bytes, headers: Mapping[str, str], path: str, context: ParseContext = DEFAULT_CONTEXT
) -> Conversation:
    """Validate a `POST /v1/completions` body as the API does; RequestError naming the
    field (404 for a chat model)."""
    body = load_object(raw)
    model = body.get("model")
    if model is None:
        raise RequestError(400, "you must provide a model parameter", param="model")
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    entry = lookup(model)
    unrecognized_arguments(body, context, entry, COMPLETIONS_ARGUMENTS)
    if entry.known and not entry.completions and not context.lenient:
        raise RequestError(404, CHAT_MODEL, param="model")
    model_parameters(body, entry, "completions", context)
    if "prompt" not in body:
        raise missing("prompt")
    prompts = parse_prompts(body.get("prompt"))
    suffix = body.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise invalid_type("suffix", "a string", suffix)
    stream = get_bool(body, "stream", False)
    include_usage = bool(stream_options(body, stream).get("include_usage"))
    n = get_int(body, "n", 1, context.max_n) or 1
    best_of = get_int(body, "best_of", 0, MAX_BEST_OF)
    if best_of is not None and best_of < n:
        raise RequestError(
            400,
            f"Invalid value for 'best_of': best_of ({best_of}) must be greater than or equal "
            f"to n ({n}).",
            code="invalid_value",
            param="best_of",
        )
    if best_of is not None and best_of > 1 and stream:
        raise RequestError(
            400,
            "Invalid value for 'best_of': results cannot be streamed when best_of is greater "
            "than 1.",
            code="invalid_value",
            param="best_of",
        )
    max_tokens = get_int(body, "max_tokens", 0, None)
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if context.max_output is not None and max_tokens > context.max_output:
        raise too_many_output_tokens("max_tokens", max_tokens, context.max_output, "completion")
    if context.vllm is not None and not context.lenient:  # vLLM's words (mockllm/vllm.py)
        vllm.check_output(context.vllm, max_tokens, "max_tokens")
        for prompt in prompts:
            vllm.check_input(context.vllm, len(prompt.tokens), max_tokens)
    elif not context.lenient:
        _check_context(entry, prompts, max_tokens)
    choices = len(prompts) * max(n, best_of or 1)
    if choices > MAX_CHOICES:
        raise RequestError(
            400,
            f"Invalid 'prompt': {len(prompts)} prompts with n={n}"
            + (f" and best_of={best_of}" if best_of and best_of > n else "")
            + f" make {choices} completions; mockllm writes at most {MAX_CHOICES} per "
            "request.",
            param="prompt",
        )
    ignore_eos, min_tokens = forced_tokens(body, max_tokens, True, len(prompts) * n)
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        get_number(body, name)
    logprobs = get_int(body, "logprobs", 0, MAX_LOGPROBS)
    echo = get_bool(body, "echo", False)
    if echo and logprobs is not None and entry.id in NO_PROMPT_LOGPROBS and not context.lenient:
        raise RequestError(400, ECHO_WITH_LOGPROBS)
    seed = get_int(body, "seed", None, None)
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid_type("user", "a string", user)
    bias = body.get("logit_bias")
    if bias is not None and not isinstance(bias, dict):
        raise invalid_type("logit_bias", "an object", bias)
    check_logit_bias(bias)
    messages = tuple(Message("user", p.text) for p in prompts)
    last_user, system, turn = summarize(messages)
    return Conversation(
        model=model,
        messages=messages,
        body=body,
        api="completions",
        path=path,
        headers=headers,
        api_key=api_key_of(headers),
        provider=provider_of(model, headers),
        stream=stream,
        include_usage=include_usage,
        n=n * len(prompts),
        max_tokens=max_tokens,
        ignore_eos=ignore_eos,
        min_tokens=min_tokens,
        stop=parse_stop(body.get("stop")),
        logprobs=logprobs is not None,
        top_logprobs=logprobs or 0,
        seed=seed,
        canonical=canonical_or_refuse(body),
        last_user=last_user,
        system=system,
        turn=turn,
        input_tokens=sum(len(p.tokens) for p in prompts),
        wire=Wire(prompts, n, echo, logprobs),
    )


# --- answers --------------------------------------------------------------------------------

_NO_WIRE = Wire((), 1)
_ALTERNATIVES = ("the", "a", "and", "of", "to", "in", "is", "it", "that", "for", "on", "with")


def completion_id(rendered: Rendered) -> str:
    """The answer's id, `cmpl-` and the random part of the rendered one."""
    return _ID_PREFIX + rendered.id.partition("-")[2]


def _finish(choice: RenderedChoice) -> str:
    """The choice's finish reason on this wire: a call has no form here, so an answer that
    ended in tool calls stopped."""
    reason = choice.finish_reason
    return reason if reason in ("stop", "length", "content_filter") else "stop"


def _said(choice: RenderedChoice) -> str:
    return choice.refusal if choice.refusal is not None else (choice.content or "")


class _Logprobs:
    """The legacy `logprobs` object of a choice's text: `tokens`, `token_logprobs`,
    `top_logprobs` (each a token → logprob map of the `logprobs` most likely) and
    `text_offset` (each token's start in the prompt and the text after it)."""

    def __init__(self, top: int) -> None:
        self.top = top
        self.tokens: list[str] = []
        self.token_logprobs: list[float | None] = []
        self.top_logprobs: list[dict[str, float] | None] = []
        self.text_offset: list[int] = []

    def prompt(self, prompt: Prompt, seed: int) -> None:
        """The prompt's own tokens (`echo`): the first has no logprob (nothing came before
        it), the others are drawn from a seed of the prompt's."""
        rng = random.Random(derive_seed(seed, "echo", prompt.text))
        offset = 0
        for i, token in enumerate(prompt.tokens):
            self.tokens.append(token)
            self.text_offset.append(offset)
            offset += len(token)
            if i == 0:
                self.token_logprobs.append(None)
                self.top_logprobs.append(None)
                continue
            logprob = -round(rng.expovariate(0.6), 6)
            self.token_logprobs.append(logprob)
            self.top_logprobs.append(_tops(token, logprob, rng, self.top))

    def generated(self, entries: Sequence[dict[str, Any]], offset: int) -> int:
        """The answer's tokens (the chat-shaped entries the renderer drew), from `offset`;
        the offset after them."""
        for entry in entries:
            token = entry["token"]
            self.tokens.append(token)
            self.token_logprobs.append(entry["logprob"])
            # The sampled token is always among them (`logprobs` 0: it alone), as the API
            # returns up to `logprobs + 1` of them.
            tops = {t["token"]: t["logprob"] for t in entry["top_logprobs"]}
            self.top_logprobs.append({token: entry["logprob"], **tops})
            self.text_offset.append(offset)
            offset += len(token)
        return offset

    def to_json(self) -> JSON:
        return {
            "tokens": self.tokens,
            "token_logprobs": self.token_logprobs,
            "top_logprobs": self.top_logprobs,
            "text_offset": self.text_offset,
        }


def _tops(token: str, logprob: float, rng: random.Random, top: int) -> dict[str, float]:
    """The `top` most likely tokens at a prompt position (at least the token itself, which
    comes first)."""
    out = {token: logprob}
    chance = math.exp(logprob)
    left = max(1.0 - chance, 1e-9)
    lead = " " if token.startswith(" ") else ""
    for word in rng.sample(_ALTERNATIVES, min(top, len(_ALTERNATIVES))):
        if len(out) >= top:
            break
        if lead + word in out:
            continue
        chance = min(left, chance) * rng.uniform(0.2, 0.8)
        left -= chance
        out[lead + word] = round(math.log(chance), 6)
    return dict(list(out.items())[: max(top, 1)])


def _prompt_of(wire: Wire, index: int) -> Prompt:
    if not wire.prompts:
        return Prompt("", ())
    return wire.prompts[min(index // max(wire.per_prompt, 1), len(wire.prompts) - 1)]


def _choice_logprobs(choice: RenderedChoice, wire: Wire, seed: int) -> JSON | None:
    if wire.logprobs is None:
        return None
    prompt = _prompt_of(wire, choice.index)
    logprobs = _Logprobs(wire.logprobs)
    if wire.echo:
        logprobs.prompt(prompt, seed)
    entries = [entry for delta in choice.logprobs or () for entry in delta]
    logprobs.generated(entries, len(prompt.text))
    return logprobs.to_json()


def usage_body(rendered: Rendered) -> JSON:
    return {
        "prompt_tokens": rendered.prompt_tokens,
        "completion_tokens": rendered.completion_tokens,
        "total_tokens": rendered.total_tokens,
    }


def completion(rendered: Rendered, created: int, wire: Wire) -> JSON:
    """The non-streaming `text_completion` object."""
    seed = derive_seed(rendered.id)
    return {
        "id": completion_id(rendered),
        "object": "text_completion",
        "created": created,
        "model": rendered.model,
        "choices": [
            {
                "text": (_prompt_of(wire, c.index).text if wire.echo else "") + _said(c),
                "index": c.index,
                "logprobs": _choice_logprobs(c, wire, seed),
                "finish_reason": _finish(c),
            }
            for c in rendered.choices
        ],
        "usage": usage_body(rendered),
    }


class _Chunks:
    """The events of one stream, each `{"id", "object", "created", "choices", "model"}` as
    the legacy API orders them, from a shared pre-encoded prefix and suffix."""

    def __init__(self, rendered: Rendered, created: int, include_usage: bool) -> None:
        self.prefix = (
            b'data: {"id":'
            + _dumps(completion_id(rendered))
            + b',"object":"text_completion","created":'
            + str(created).encode()
            + b',"choices":['
        )
        self.suffix = (
            b'],"model":'
            + _dumps(rendered.model)
            + (b',"usage":null' if include_usage else b"")
            + b"}\n\n"
        )

    def choice(
        self, index: int, text: str, logprobs: bytes = b"null", finish: bytes = b"null"
    ) -> bytes:
        return (
            self.prefix
            + b'{"text":'
            + _dumps(text)
            + b',"index":%d,"logprobs":' % index
            + logprobs
            + b',"finish_reason":'
            + finish
            + b"}"
            + self.suffix
        )


def choice_ticks(chunks: Any, choice: RenderedChoice, wire: Wire, seed: int) -> list[Any]:
    """A choice's events before its finish: the echoed prompt first (when asked), then one
    per delta of its text, each with the logprobs of its tokens; each is what
    `chunks.choice(index, text, logprobs)` makes of it (a vLLM server's answer writes its
    own chunks from the same pieces: vllm_answers.py)."""
    prompt = _prompt_of(wire, choice.index)
    out = []
    if wire.echo:
        logprobs = b"null"
        if wire.logprobs is not None:
            echoed = _Logprobs(wire.logprobs)
            echoed.prompt(prompt, seed)
            logprobs = _dumps(echoed.to_json())
        out.append(chunks.choice(choice.index, prompt.text, logprobs))
    offset = len(prompt.text)
    for k, delta in enumerate(choice.deltas):
        logprobs = b"null"
        if wire.logprobs is not None:
            part = _Logprobs(wire.logprobs)
            entries = choice.logprobs[k] if choice.logprobs and k < len(choice.logprobs) else ()
            offset = part.generated(entries, offset)
            logprobs = _dumps(part.to_json())
        out.append(chunks.choice(choice.index, delta, logprobs))
    return out


def stream(
    rendered: Rendered,
    created: int,
    include_usage: bool,
    wire: Wire,
    fault: Fault | None = None,
) -> Body:
    """The SSE events of a streamed answer, each with the offset it is due at."""
    chunks = _Chunks(rendered, created, include_usage)
    seed = derive_seed(rendered.id)
    offsets = rendered.offsets
    ticks = [choice_ticks(chunks, choice, wire, seed) for choice in rendered.choices]
    events: list[bytes] = []
    due: list[float] = []
    cut_at, abort_after = interleave(ticks, offsets, fault, events, due)
    last = due[-1] if due else offsets[0]
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
            events.append(chunks.choice(choice.index, "", finish=_dumps(_finish(choice))))
            due.append(last)
        if include_usage:
            usage = chunks.prefix + b'],"model":' + _dumps(rendered.model)
            events.append(usage + b',"usage":' + _dumps(usage_body(rendered)) + b"}\n\n")
            due.append(last)
        events.append(sse.DONE)
        due.append(last)
    if fault is not None and fault.disconnect_after_tokens == 0:
        abort_after = 0
    return Body(200, SSE_TYPE, events=tuple(events), offsets=tuple(due), abort_after=abort_after)


def whole(rendered: Rendered, created: int, wire: Wire, fault: Fault | None = None) -> Body:
    """A non-streaming answer, with the non-streaming form of a fault."""
    body = completion(rendered, created, wire)
    delay = rendered.offsets[-1]
    if fault is not None:
        if fault.empty_choices_error:
            body["choices"] = []
            body["error"] = error_object(fault.error)
        elif fault.error_after_tokens is not None:
            return failure(fault.error or ErrorSpec(500), delay)
    return whole_json(_dumps(body), delay, fault)


def answer(
    rendered: Rendered, conversation: Conversation, created: int, fault: Fault | None
) -> Body:
    """The bytes of a successful answer: a completion, or its events."""
    wire = conversation.wire if isinstance(conversation.wire, Wire) else _NO_WIRE
    if conversation.stream:
        return stream(rendered, created, conversation.include_usage, wire, fault)
    return whole(rendered, created, wire, fault)


DIALECT = Dialect(
    api="completions",
    paths=(PATH,),
    parse=parse,
    answer=answer,
    failure=failure,
    refusal=refusal,
    headers=headers,
    static_headers=((b"openai-version", b"2020-10-01"),),
)
