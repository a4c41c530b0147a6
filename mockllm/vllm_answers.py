"""A vLLM server's answers: chat and text completions as vLLM 0.21.0 writes them, whole or
streamed.

A profile with a `vllm` block answers its chat and completions paths with the dialects
`served` makes of theirs: the same parsing and refusals, the model checked against the
names the server serves, and the answer in vLLM's shape. vLLM writes a whole answer as
FastAPI's JSONResponse of `model_dump()` (every field of its pydantic models, null or not,
in their order), and each chunk of a stream as `model_dump_json(exclude_unset=True)` (only
what the server set, nulls included); its head is uvicorn's, with no request id or rate
limits (vllm/entrypoints/openai/chat_completion/protocol.py, serving.py, api_router.py;
the same files under completion/).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from mockllm import sse, vllm
from mockllm.conversation import derive_seed
from mockllm.dialects import Dialect, ParseContext, completions
from mockllm.dialects.openai_errors import failure
from mockllm.errors import RequestError
from mockllm.protocol import error_object
from mockllm.rules import ErrorSpec, Fault
from mockllm.tokens import split_tokens
from mockllm.wire import SSE_TYPE, Body, interleave, whole_json

if TYPE_CHECKING:
    from mockllm.conversation import Conversation
    from mockllm.profiles import Profile
    from mockllm.render import Rendered, RenderedChoice, RenderedToolCall

_dumps = orjson.dumps
UVICORN = ((b"server", b"uvicorn"),)  # uvicorn's own header, which vLLM leaves on


@dataclass(frozen=True, slots=True)
class VllmWire:
    """What a vLLM answer takes from its request besides the dialect's own wire: the id
    the client gave it (an `X-Request-Id` header, else the body's `request_id`), whether
    every chunk carries the usage so far (`stream_options.continuous_usage_stats` with
    `include_usage`, vllm/entrypoints/utils.py should_include_usage), and whether the
    answer names its token ids (in mockllm's ids, as `/tokenize` gives them)."""

    own: Any  # the dialect's own wire (chat's, or completions')
    request_id: str | None = None
    continuous: bool = False
    token_ids: bool = False  # `return_token_ids`: the prompt's and the answer's token ids


@dataclass(frozen=True, slots=True)
class _Server:
    """The served model's names (the first is the one answers carry, as vLLM's
    `--served-model-name`) and the server's `system_fingerprint`."""

    names: tuple[str, ...]
    fingerprint: str


def served(dialect: Dialect, profile: Profile) -> Dialect:
    """The dialect as a vLLM server speaks it (chat and completions; any other as it
    is)."""
    server = profile.vllm
    if server is None or dialect.api not in ("chat", "completions"):
        return dialect
    models = profile.models
    names = served_names(profile)
    # vLLM's default fingerprint is vllm-<version>-<the first 8 hex digits of its config's
    # hash> (vllm/entrypoints/openai/fingerprint.py): here a hash of what the profile says.
    said = f"{models.default}\0{server.max_model_len}\0{server.version}".encode()
    digest = hashlib.blake2b(said, digest_size=4).hexdigest()
    state = _Server(names, f"vllm-{server.version}-{digest}")
    write = _answer if dialect.api == "chat" else _text_answer
    return replace(
        dialect,
        parse=_parse(dialect.parse, state, dialect.api),
        answer=lambda rendered, conversation, created, fault: write(
            rendered, conversation, created, fault, state
        ),
        headers=_no_headers,
        request_id_header=b"",
        static_headers=UVICORN,
        processing_ms=False,
        openai_head=False,
        remember=None,
    )


def served_names(profile: Profile) -> tuple[str, ...]:
    """The names a vLLM profile serves its model under (vLLM's --served-model-name): its
    `models.listed`, else its default; answers and metrics carry the first."""
    return profile.models.listed or (profile.models.default,)


def _no_headers(status: int, rate_headers: Any, now: float) -> tuple[tuple[str, str], ...]:
    return ()


def not_found(model: str) -> RequestError:
    """vLLM's refusal of a model it does not serve (OpenAIServing._check_model)."""
    error = RequestError(
        404, f"The model `{model}` does not exist.", type="NotFoundError", param="model"
    )
    error.code = 404  # type: ignore[assignment]  # vLLM's code is the status, a number
    return error


def _parse(
    base: Callable[[bytes, Mapping[str, str], str, ParseContext], Conversation],
    server: _Server,
    api: str,
) -> Callable[[bytes, Mapping[str, str], str, ParseContext], Conversation]:
    """The base parse with vLLM's model check: a model the server does not serve is a 404
    before any other check of vLLM's (its context, its output tokens), and a request
    that names none is answered by the served model. A value vLLM's request model takes
    in pydantic's lax mode ("stream": "true", "max_tokens": "3") is taken as its field's
    type. The answer takes its id from the request (a `VllmWire` around the dialect's
    own)."""

    def parse(
        raw: bytes, headers: Mapping[str, str], path: str, context: ParseContext
    ) -> Conversation:
        try:
            conversation = base(raw, headers, path, context)
        except RequestError:
            body = _object(raw)
            if body is None:  # not a JSON object: refused as the base refuses it
                raise
            model = body.get("model")
            if isinstance(model, str) and model and model not in server.names:
                raise not_found(model) from None
            fixed = vllm.lax_body(body, api)
            if model is None or model == "":  # vLLM takes a request naming no model
                fixed = {**(fixed or body), "model": server.names[0]}
            if fixed is None:
                raise
            conversation = base(_dumps(fixed), headers, path, context)
        model = conversation.model
        if model and model not in server.names:
            raise not_found(model)
        request_id = headers.get("x-request-id")
        if request_id is None:
            given = conversation.body.get("request_id")
            request_id = given if isinstance(given, str) else None
        options = conversation.body.get("stream_options")
        continuous = (
            conversation.include_usage
            and isinstance(options, dict)
            and bool(options.get("continuous_usage_stats"))
        )
        ids = conversation.body.get("return_token_ids") is True
        wire = VllmWire(conversation.wire, request_id, continuous, ids)
        return replace(conversation, wire=wire)

    return parse


def _object(raw: bytes) -> dict[str, Any] | None:
    """The body's JSON object, or None."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


# --- answers --------------------------------------------------------------------------------


def _hex16(text: str) -> str:
    """16 hex digits drawn from `text`, as vLLM's random_uuid() spells its ids."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _answer_id(prefix: str, rendered: Rendered, conversation: Conversation) -> str:
    """`prefix` and the client's X-Request-Id, else 16 hex digits drawn from the answer."""
    wire = conversation.wire
    given = wire.request_id if isinstance(wire, VllmWire) else None
    return prefix + (given if given is not None else _hex16(rendered.id))


def _answer(
    rendered: Rendered,
    conversation: Conversation,
    created: int,
    fault: Fault | None,
    server: _Server,
) -> Body:
    answer_id = _answer_id("chatcmpl-", rendered, conversation)
    if conversation.stream:
        return _stream(rendered, conversation, created, fault, server, answer_id)
    return _whole(rendered, conversation, created, fault, server, answer_id)


def _prompt_ids(conversation: Conversation) -> list[int] | None:
    """The prompt's token ids, as `/tokenize` gives them for its messages, when asked."""
    wire = conversation.wire
    if not (isinstance(wire, VllmWire) and wire.token_ids):
        return None
    body = conversation.body
    messages = body.get("messages")
    turns = vllm.turns(messages if isinstance(messages, list) else [])
    return vllm.token_ids(vllm.encode_chat(turns, vllm.tool_schemas(body.get("tools"))))


def _ids(*texts: str | None) -> list[int]:
    """The token ids of what an answer says (its end of turn left out, as its usage
    leaves it out)."""
    return vllm.token_ids([piece for text in texts if text for piece in split_tokens(text)])


def _choice_ids(choice: RenderedChoice) -> list[int]:
    said = choice.content if choice.refusal is None else choice.refusal
    return _ids(choice.reasoning, said, *(c.arguments for c in choice.tool_calls))


def _finish(choice: RenderedChoice, conversation: Conversation) -> str:
    """A named tool's call finishes with `stop`, as vLLM's does ("tool_calls" is for auto
    and required calls)."""
    if choice.finish_reason == "tool_calls" and conversation.named_tool is not None:
        return "stop"
    return choice.finish_reason


def _call(call: RenderedToolCall) -> dict[str, Any]:
    return {
        "id": "chatcmpl-tool-" + _hex16(call.id),
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _content(choice: RenderedChoice, conversation: Conversation) -> str | None:
    """The message's text: with tool calls, what the model said before them (null when
    nothing), or "" for a call the request forced (named or required), as vLLM writes it."""
    if not choice.tool_calls:
        return choice.content if choice.refusal is None else choice.refusal
    if conversation.tool_choice == "required" or conversation.named_tool is not None:
        return ""
    return choice.content or None


def _logprobs(choice: RenderedChoice) -> dict[str, Any] | None:
    if choice.logprobs is None:
        return None
    return {"content": [entry for delta in choice.logprobs for entry in delta]}


def _usage(rendered: Rendered) -> dict[str, Any]:
    """vLLM's UsageInfo, in its fields' order (its prompt_tokens_details is null unless the
    server runs with --enable-prompt-tokens-details)."""
    return {
        "prompt_tokens": rendered.prompt_tokens,
        "total_tokens": rendered.total_tokens,
        "completion_tokens": rendered.completion_tokens,
        "prompt_tokens_details": None,
    }


def completion(
    rendered: Rendered, conversation: Conversation, created: int, server: _Server, answer_id: str
) -> dict[str, Any]:
    """vLLM's ChatCompletionResponse, every field in its order."""
    prompt_ids = _prompt_ids(conversation)
    choices = [
        {
            "index": c.index,
            "message": {
                "role": "assistant",
                "content": _content(c, conversation),
                "refusal": None,
                "annotations": None,
                "audio": None,
                "function_call": None,
                "tool_calls": [_call(t) for t in c.tool_calls],
                "reasoning": c.reasoning,
            },
            "logprobs": _logprobs(c),
            "finish_reason": _finish(c, conversation),
            "stop_reason": c.stop_sequence,
            "token_ids": None if prompt_ids is None else _choice_ids(c),
            "routed_experts": None,
        }
        for c in rendered.choices
    ]
    return {
        "id": answer_id,
        "object": "chat.completion",
        "created": created,
        "prompt_routed_experts": None,
        "model": server.names[0],
        "choices": choices,
        "service_tier": None,
        "system_fingerprint": server.fingerprint,
        "usage": _usage(rendered),
        "prompt_logprobs": None,
        "prompt_token_ids": prompt_ids,
        "prompt_text": None,
        "kv_transfer_params": None,
    }


def _whole(
    rendered: Rendered,
    conversation: Conversation,
    created: int,
    fault: Fault | None,
    server: _Server,
    answer_id: str,
) -> Body:
    """A whole answer, with the non-streaming form of a fault (a scripted error is
    mockllm's own, written as the chat dialect writes it)."""
    delay = rendered.offsets[-1]
    if fault is not None and (fault.error_after_tokens is not None or fault.empty_choices_error):
        return failure(fault.error or ErrorSpec(500), delay)
    body = completion(rendered, conversation, created, server, answer_id)
    return whole_json(_dumps(body), delay, fault)


class _Chunks:
    """The chunks of one stream, from a pre-encoded prefix: each as vLLM sets its fields
    (ChatCompletionStreamResponse dumped with exclude_unset)."""

    def __init__(
        self, answer_id: str, created: int, server: _Server, prompt_tokens: int | None = None
    ) -> None:
        self.prefix = (
            b'data: {"id":'
            + _dumps(answer_id)
            + b',"object":"chat.completion.chunk","created":%d,"model":' % created
            + _dumps(server.names[0])
            + b',"choices":['
        )
        self.fingerprint = _dumps(server.fingerprint)
        self.prompt_tokens = prompt_tokens  # every chunk names the usage so far (else None)

    def usage(self, used: int) -> bytes:
        """The usage so far, after a chunk's choices, when every chunk names it."""
        return _usage_so_far(self.prompt_tokens, used)

    def role(self, index: int, prompt_ids: bytes = b"null") -> bytes:
        """A choice's first chunk: the role and an empty content, and the prompt's token ids
        and text (null unless asked for), which vLLM sets on it alone."""
        return (
            self.prefix
            + b'{"index":%d,"delta":{"role":"assistant","content":""},"logprobs":null,' % index
            + b'"finish_reason":null}]'
            + self.usage(0)
            + b',"prompt_token_ids":'
            + prompt_ids
            + b',"prompt_text":null}\n\n'
        )

    def delta(
        self,
        index: int,
        delta: bytes,
        logprobs: bytes = b"null",
        finish: str | None = None,
        stop_reason: str | None = None,
        fingerprint: bool = False,
        used: int = 0,
        ids: bytes = b"null",
    ) -> bytes:
        """A delta chunk; a choice's last one with its finish and stop reasons (and the
        server's fingerprint, when no usage chunk follows). `used`: the choice's tokens so
        far; `ids`: the chunk's token ids (null unless asked for)."""
        head = self.prefix + b'{"index":%d,"delta":' % index + delta + b',"logprobs":' + logprobs
        if finish is None:
            tail = b',"finish_reason":null,"token_ids":' + ids + b"}]"
            return head + tail + self.usage(used) + b"}\n\n"
        return (
            head
            + b',"finish_reason":'
            + _dumps(finish)
            + b',"stop_reason":'
            + _dumps(stop_reason)
            + b',"token_ids":'
            + ids
            + b"}]"
            + self.usage(used)
            + (b',"system_fingerprint":' + self.fingerprint if fingerprint else b"")
            + b"}\n\n"
        )


def _usage_so_far(prompt_tokens: int | None, used: int) -> bytes:
    """vLLM's UsageInfo of a chunk, when every chunk names it (set fields only)."""
    if prompt_tokens is None:
        return b""
    return b',"usage":{"prompt_tokens":%d,"total_tokens":%d,"completion_tokens":%d}' % (
        prompt_tokens,
        prompt_tokens + used,
        used,
    )


def _used(tokens: int, ticks: int, tick: int) -> int:
    """A choice's tokens after its `tick`th of `ticks` chunks (0-based), spread evenly over
    them: as many as the choice has after its last."""
    return tokens * (tick + 1) // ticks if ticks else tokens


def _delta_ticks(chunks: _Chunks, choice: RenderedChoice, last: bool, ids: bool) -> list[bytes]:
    """A choice's chunks after its role chunk, one per tick: reasoning, text, tool calls
    (each opened with its id, type and name, then its arguments), each with its token ids
    when `ids` asks for them. A choice cut at its length ends on its last token's chunk,
    which carries the finish (`last`: no usage chunk follows, so that chunk names the
    fingerprint), as vLLM sends the finish with the token it stopped at."""
    index = choice.index
    # (delta, logprobs, the text said: its token ids when asked for)
    parts: list[tuple[bytes, bytes, str]] = [
        (b'{"reasoning":' + _dumps(d) + b"}", b"null", d) for d in choice.reasoning_deltas
    ]
    logprobs = choice.logprobs
    for k, text in enumerate(choice.deltas):
        entries = b"null"
        if logprobs is not None and k < len(logprobs):
            entries = _dumps({"content": list(logprobs[k])})
        parts.append((b'{"content":' + _dumps(text) + b"}", entries, text))
    for call in choice.tool_calls:
        opening = {
            "id": "chatcmpl-tool-" + _hex16(call.id),
            "type": "function",
            "index": call.index,
            "function": {"name": call.name},
        }
        parts.append((b'{"tool_calls":[' + _dumps(opening) + b"]}", b"null", ""))
        for fragment in call.fragments:
            part = {"index": call.index, "function": {"arguments": fragment}}
            parts.append((b'{"tool_calls":[' + _dumps(part) + b"]}", b"null", fragment))
    count, tokens = len(parts), choice.tokens
    said = [_dumps(_ids(text)) if ids else b"null" for _, _, text in parts]
    out = [
        chunks.delta(index, delta, entries, used=_used(tokens, count, k), ids=said[k])
        for k, (delta, entries, _) in enumerate(parts)
    ]
    if choice.finish_reason == "length" and parts:
        delta, entries, _ = parts[-1]
        out[-1] = chunks.delta(
            index, delta, entries, "length", choice.stop_sequence, last, tokens, said[-1]
        )
    return out


def _stream(
    rendered: Rendered,
    conversation: Conversation,
    created: int,
    fault: Fault | None,
    server: _Server,
    answer_id: str,
) -> Body:
    """The SSE events of a streamed answer, each with the offset it is due at."""
    wire = conversation.wire
    continuous = isinstance(wire, VllmWire) and wire.continuous
    chunks = _Chunks(answer_id, created, server, rendered.prompt_tokens if continuous else None)
    include_usage = conversation.include_usage
    offsets = rendered.offsets
    events: list[bytes] = []
    due: list[float] = []
    prompt_ids = _prompt_ids(conversation)
    asked = prompt_ids is not None
    opening = b"null" if prompt_ids is None else _dumps(prompt_ids)
    for choice in rendered.choices:
        events.append(chunks.role(choice.index, opening))
        due.append(offsets[0])
    closing = not include_usage  # the finish chunks name the fingerprint
    ticks = [_delta_ticks(chunks, c, closing, asked) for c in rendered.choices]
    cut_at, abort_after = interleave(ticks, offsets, fault, events, due)

    def ending(choice: RenderedChoice) -> bytes:
        # The token that ends the answer (its end of turn) says nothing: an empty
        # content, or no delta at all after a tool call.
        return chunks.delta(
            choice.index,
            b"{}" if choice.tool_calls else b'{"content":""}',
            finish=_finish(choice, conversation),
            stop_reason=choice.stop_sequence,
            fingerprint=closing,
            used=choice.tokens,
            ids=b"[]" if asked else b"null",  # the end of turn is not counted
        )

    usage_end = b',"system_fingerprint":' + chunks.fingerprint + b"}\n\n"
    _tail(
        rendered, ticks, fault, cut_at, events, due, due[-1], ending, chunks.prefix, usage_end,
        include_usage,
    )  # fmt: skip
    if fault is not None and fault.disconnect_after_tokens == 0:
        abort_after = len(rendered.choices)
    return Body(200, SSE_TYPE, events=tuple(events), offsets=tuple(due), abort_after=abort_after)


def _tail(
    rendered: Rendered,
    ticks: list[list[bytes]],
    fault: Fault | None,
    cut_at: int | None,
    events: list[bytes],
    due: list[float],
    last: float,
    ending: Callable[[RenderedChoice], bytes],
    prefix: bytes,
    usage_end: bytes,
    include_usage: bool,
) -> None:
    """A stream's last events, all due at `last`: the error of a fault that cut it, else
    each choice's finish (unless its last chunk carried it, as a `length` one does), the
    usage chunk when asked for (`prefix` and `usage_end` around it) and `[DONE]`."""
    if cut_at is not None:
        assert fault is not None
        events.append(sse.encode(_dumps({"error": error_object(fault.error)})))
        due.append(last)
        return
    for choice, choice_ticks in zip(rendered.choices, ticks, strict=True):
        if choice.finish_reason == "length" and choice_ticks:
            continue  # its last chunk carried the finish
        events.append(ending(choice))
        due.append(last)
    if include_usage:
        usage = {
            "prompt_tokens": rendered.prompt_tokens,
            "total_tokens": rendered.total_tokens,
            "completion_tokens": rendered.completion_tokens,
        }
        events.append(prefix + b'],"usage":' + _dumps(usage) + usage_end)
        due.append(last)
    events.append(sse.DONE)
    due.append(last)


# --- text completions -----------------------------------------------------------------------


def _text_finish(choice: RenderedChoice) -> str:
    """A text completion has no tool calls: an answer that ended in them stopped."""
    reason = choice.finish_reason
    return reason if reason in ("stop", "length") else "stop"


def _text_answer(
    rendered: Rendered,
    conversation: Conversation,
    created: int,
    fault: Fault | None,
    server: _Server,
) -> Body:
    wire = conversation.wire
    text_wire = wire.own if isinstance(wire, VllmWire) else None
    if not isinstance(text_wire, completions.Wire):
        text_wire = completions.Wire((), 1)
    answer_id = _answer_id("cmpl-", rendered, conversation)
    asked = isinstance(wire, VllmWire) and wire.token_ids
    if conversation.stream:
        prompt_tokens = None
        if isinstance(wire, VllmWire) and wire.continuous:
            prompt_tokens = rendered.prompt_tokens
        return _text_stream(
            rendered, conversation, created, fault, server, answer_id, text_wire, prompt_tokens,
            asked,
        )  # fmt: skip
    delay = rendered.offsets[-1]
    if fault is not None and (fault.error_after_tokens is not None or fault.empty_choices_error):
        return failure(fault.error or ErrorSpec(500), delay)
    base = completions.completion(rendered, created, text_wire)
    # vLLM's CompletionResponse and CompletionResponseChoice, every field in its order
    # (vllm/entrypoints/openai/completion/protocol.py)
    choices = [
        {
            "index": written["index"],
            "text": written["text"],
            "logprobs": _text_logprobs(written["logprobs"]),
            "finish_reason": _text_finish(choice),
            "stop_reason": choice.stop_sequence,
            "token_ids": None,
            "prompt_logprobs": None,
            "prompt_token_ids": None,
            "routed_experts": None,
        }
        for written, choice in zip(base["choices"], rendered.choices, strict=True)
    ]
    if asked:
        for written, choice in zip(choices, rendered.choices, strict=True):
            prompt = _prompt_text(text_wire, choice.index)
            prompt_ids = vllm.token_ids(vllm.encode_prompt(prompt))
            said = _ids(_said(choice))
            written["prompt_token_ids"] = prompt_ids
            written["token_ids"] = [*prompt_ids, *said] if text_wire.echo else said
            if text_wire.echo:  # vLLM echoes the prompt's ids, and no longer its text
                written["text"] = str(written["text"])[len(prompt) :]
    body = {
        "id": answer_id,
        "object": "text_completion",
        "created": created,
        "prompt_routed_experts": None,
        "model": server.names[0],
        "choices": choices,
        "service_tier": None,
        "system_fingerprint": server.fingerprint,
        "usage": _usage(rendered),
        "kv_transfer_params": None,
    }
    return whole_json(_dumps(body), delay, fault)


def _prompt_text(wire: completions.Wire, index: int) -> str:
    """The text of the prompt a choice completes (`n` choices a prompt, in order)."""
    prompts = wire.prompts
    if not prompts:
        return ""
    return prompts[min(index // max(wire.per_prompt, 1), len(prompts) - 1)].text


def _said(choice: RenderedChoice) -> str:
    return choice.refusal if choice.refusal is not None else (choice.content or "")


_LOGPROB_KEYS = ("text_offset", "token_logprobs", "tokens", "top_logprobs")


def _text_logprobs(logprobs: dict[str, Any] | None) -> dict[str, Any] | None:
    """A text's logprobs in the order of vLLM's CompletionLogProbs."""
    if logprobs is None:
        return None
    return {key: logprobs[key] for key in _LOGPROB_KEYS}


class _Pieces:
    """What `completions.choice_ticks` makes of a choice's events: their parts, written
    as vLLM's chunks below."""

    @staticmethod
    def choice(index: int, text: str, logprobs: bytes = b"null") -> tuple[int, str, bytes]:
        if logprobs != b"null":  # asked for: in vLLM's order
            logprobs = _dumps(_text_logprobs(orjson.loads(logprobs)))
        return index, text, logprobs


def _text_stream(
    rendered: Rendered,
    conversation: Conversation,
    created: int,
    fault: Fault | None,
    server: _Server,
    answer_id: str,
    wire: completions.Wire,
    prompt_tokens: int | None = None,
    asked: bool = False,
) -> Body:
    """A text completion's events (CompletionStreamResponse dumped with exclude_unset):
    no role chunk; each choice's text in pieces, the finish with the token that ended it,
    the fingerprint on that chunk unless a usage chunk follows; with `asked`, each chunk's
    token ids, and the prompt's on a choice's first."""
    prefix = (
        b'data: {"id":'
        + _dumps(answer_id)
        + b',"object":"text_completion","created":%d,"model":' % created
        + _dumps(server.names[0])
        + b',"choices":['
    )
    fingerprint = b',"system_fingerprint":' + _dumps(server.fingerprint)
    include_usage = conversation.include_usage

    def chunk(
        index: int,
        text: str,
        logprobs: bytes,
        used: int,
        finish: str | None = None,
        stop: str | None = None,
        prompt_ids: bytes = b"null",
    ) -> bytes:
        return (
            prefix
            + b'{"index":%d,"text":' % index
            + _dumps(text)
            + b',"logprobs":'
            + logprobs
            + b',"finish_reason":'
            + _dumps(finish)
            + b',"stop_reason":'
            + _dumps(stop)
            + b',"prompt_token_ids":'
            + prompt_ids
            + b',"token_ids":'
            + (_dumps(_ids(text)) if asked else b"null")
            + b"}]"
            + _usage_so_far(prompt_tokens, used)
            + (fingerprint if finish is not None and not include_usage else b"")
            + b"}\n\n"
        )

    seed = derive_seed(rendered.id)
    ticks: list[list[bytes]] = []
    for choice in rendered.choices:
        pieces = completions.choice_ticks(_Pieces, choice, wire, seed)
        count, tokens = len(pieces), choice.tokens
        written = [
            chunk(index, text, logprobs, _used(tokens, count, k))
            for k, (index, text, logprobs) in enumerate(pieces)
        ]
        if choice.finish_reason == "length" and pieces:
            index, text, logprobs = pieces[-1]
            written[-1] = chunk(index, text, logprobs, tokens, "length", choice.stop_sequence)
        if asked and written:
            # the prompt's ids on the choice's first chunk (its echo, if any: an echoed
            # prompt's text gives way to them, as vLLM's does)
            prompt = _prompt_text(wire, choice.index)
            ids = _dumps(vllm.token_ids(vllm.encode_prompt(prompt)))
            index, text, logprobs = pieces[0]
            text = "" if wire.echo else text
            finish = "length" if len(pieces) == 1 and choice.finish_reason == "length" else None
            written[0] = chunk(
                index, text, logprobs, _used(tokens, count, 0), finish,
                choice.stop_sequence if finish else None, ids,
            )  # fmt: skip
        ticks.append(written)
    events: list[bytes] = []
    due: list[float] = []
    cut_at, abort_after = interleave(ticks, rendered.offsets, fault, events, due)

    def ending(choice: RenderedChoice) -> bytes:
        return chunk(
            choice.index, "", b"null", choice.tokens, _text_finish(choice), choice.stop_sequence
        )

    last = due[-1] if due else rendered.offsets[0]
    usage_end = fingerprint + b"}\n\n"
    _tail(
        rendered, ticks, fault, cut_at, events, due, last, ending, prefix, usage_end,
        include_usage,
    )  # fmt: skip
    if fault is not None and fault.disconnect_after_tokens == 0:
        abort_after = 0
    return Body(200, SSE_TYPE, events=tuple(events), offsets=tuple(due), abort_after=abort_after)
