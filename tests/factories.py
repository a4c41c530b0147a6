"""Builders for test inputs."""

from __future__ import annotations

import textwrap
from typing import Any

import orjson

from mockllm.conversation import Conversation
from mockllm.dialects import ParseContext, chat, embeddings, responses
from mockllm.dialects import messages as messages_dialect
from mockllm.loader import load_text
from mockllm.render import Rendered, RenderedChoice, RenderedToolCall
from mockllm.rules import Reply, Rule
from mockllm.state import StateStore

# Parse as a gateway profile does, passing arguments the API does not know on: requests
# built here may carry the gateway extra `fallbacks`. The openai profile's refusal of
# unknown arguments is tested with the dialect's own context (test_dialect_chat).
GATEWAY_CONTEXT = ParseContext(refuse_unknown=False)


def make_chat_request(
    model: str = "gpt-4o",
    user: str = "Hello",
    *,
    messages: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/v1/chat/completions",
    context: ParseContext = GATEWAY_CONTEXT,
    **fields: Any,
) -> Conversation:
    body = {"model": model, "messages": messages or [{"role": "user", "content": user}], **fields}
    return chat.parse(orjson.dumps(body), headers or {}, path, context)


def make_responses_request(
    model: str = "gpt-4o",
    input: Any = "Hello",
    *,
    headers: dict[str, str] | None = None,
    state: StateStore | None = None,
    max_output: int | None = None,
    path: str = "/v1/responses",
    **fields: Any,
) -> Conversation:
    """A `POST /v1/responses` body read by its dialect; `state` holds earlier responses
    (`input=None` leaves the input out)."""
    body = {"model": model, **({"input": input} if input is not None else {}), **fields}
    context = ParseContext(max_output=max_output, store=state)
    return responses.parse(orjson.dumps(body), headers or {}, path, context)


def make_embeddings_request(
    model: str = "text-embedding-3-small",
    input: Any = "Hello",
    *,
    seed: int = 0,
    dimensions_default: int = 1536,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Conversation:
    """A `POST /v1/embeddings` body read by its dialect under the server's `--seed`."""
    body = {"model": model, "input": input, **fields}
    context = ParseContext(seed=seed, embedding_dimensions=dimensions_default)
    return embeddings.parse(orjson.dumps(body), headers or {}, "/v1/embeddings", context)


def make_tool_call(
    name: str = "get_weather",
    arguments: str = '{"city":"Paris"}',
    fragments: tuple[str, ...] | None = None,
    *,
    index: int = 0,
    id: str = "call_1",
) -> RenderedToolCall:
    """A rendered tool call; its fragments join to the arguments (one fragment by default)."""
    return RenderedToolCall(index, id, name, arguments, fragments or (arguments,))


def make_choice(
    *deltas: str,
    index: int = 0,
    finish_reason: str = "stop",
    refusal: bool = False,
    tool_calls: tuple[RenderedToolCall, ...] = (),
    reasoning: tuple[str, ...] = (),
    logprobs: tuple[tuple[dict[str, Any], ...], ...] | None = None,
) -> RenderedChoice:
    """A rendered choice whose text is its deltas joined (a refusal's, with `refusal`);
    one token per delta, and per reasoning delta and tool-call fragment."""
    text = "".join(deltas)
    fragments = sum(len(c.fragments) for c in tool_calls)
    return RenderedChoice(
        index=index,
        content=None if refusal else (text if not tool_calls or deltas else None),
        deltas=deltas,
        refusal=text if refusal else None,
        tool_calls=tool_calls,
        finish_reason=finish_reason,
        tokens=len(deltas) + len(reasoning) + fragments,
        logprobs=logprobs,
        reasoning="".join(reasoning) if reasoning else None,
        reasoning_deltas=reasoning,
        reasoning_tokens=len(reasoning),
    )


def make_rendered(
    *choices: RenderedChoice,
    id: str = "chatcmpl-1",
    model: str = "gpt-4o",
    offsets: tuple[float, ...] | None = None,
    prompt_tokens: int = 5,
    provider: str | None = None,
    fingerprint: str = "fp_test",
) -> Rendered:
    """A rendered answer built by hand (one "Hi there" choice by default); offsets default
    to one tick per 10 ms from 0.1 s."""
    choices = choices or (make_choice("Hi", " there"),)
    completion = sum(c.tokens for c in choices)
    ticks = max(c.ticks for c in choices)
    if offsets is None:
        offsets = tuple(0.1 + 0.01 * i for i in range(max(ticks, 1)))
    return Rendered(
        id=id,
        model=model,
        choices=choices,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion,
        total_tokens=prompt_tokens + completion,
        offsets=offsets,
        fingerprint=fingerprint,
        provider=provider,
        reasoning_tokens=sum(c.reasoning_tokens for c in choices),
    )


def make_rules(text: str, source: str = "test.yaml", order_base: int = 0) -> tuple[Rule, ...]:
    """Rules from scenario YAML (indentation of the block removed)."""
    return load_text(textwrap.dedent(text), source, order_base)


def make_reply(**fields: Any) -> Reply:
    """One reply as a scenario writes it (`make_reply(content="Hi", latency={...})`),
    checked and compiled by the loader."""
    document = {"rules": [{"name": "reply", "reply": fields}]}
    return make_rules(orjson.dumps(document).decode())[0].replies[0]


def make_messages_request(
    user: str = "Hello",
    *,
    model: str = "claude-sonnet-4-5",
    messages: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/v1/messages",
    **fields: Any,
) -> Conversation:
    """An Anthropic Messages request read by its dialect (`max_tokens` 1024 unless given)."""
    body = {
        "model": model,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": user}] if messages is None else messages,
        **fields,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return messages_dialect.parse(orjson.dumps(body), headers or {}, path)
