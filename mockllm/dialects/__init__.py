"""Dialects: how each API family's wire is read into a `Conversation`, and how an answer is
written back on it.

One engine answers every family. A dialect owns what is particular to one: request
parsing and its validation wording, the answer's body or stream events (pre-encoded, each
with its due time), the error shape, ids and headers. Adding a family is one module here
and its entry in `DIALECTS`; nothing else in the package learns its field names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mockllm.conversation import Api, Conversation
from mockllm.frozen import quick_init

if TYPE_CHECKING:
    from mockllm.errors import RequestError
    from mockllm.profiles import VllmServer
    from mockllm.render import Rendered
    from mockllm.rules import ErrorSpec, Fault
    from mockllm.state import StateStore
    from mockllm.wire import Body

Headers = tuple[tuple[str, str], ...]


@quick_init
@dataclass(frozen=True, slots=True)
class ParseContext:
    """What parsing may consult besides the bytes: the server's limits and its state (the
    Responses API reads earlier stored responses)."""

    max_n: int = 128
    max_output: int | None = None  # --max-output-tokens; None: each model's own limit
    store: StateStore | None = None
    seed: int = 0  # the server's --seed (embeddings derive their vectors from it)
    embedding_dimensions: int = 1536  # for embedding models without a known size
    lenient: bool = False  # --lenient: accept what the real service refuses
    refuse_unknown: bool = True  # the profile refuses arguments the API does not know
    dated_models: bool = False  # answers name the dated model an alias stands for
    # An upstream (--upstream) or cassettes (--cassettes) may hold what an id names: a
    # response, conversation or item the store does not hold is no error (no earlier turns).
    held_elsewhere: bool = False
    vllm: VllmServer | None = None  # the profile answers as a vLLM server (its refusals)


DEFAULT_CONTEXT = ParseContext()  # a server with its default settings and no state


@dataclass(frozen=True, slots=True)
class Run:
    """An answer that runs on after the request that asked for it (the Responses API's
    background mode), as the endpoint hands it to the dialect: the rendered answer, or
    the error a rule answers with, and when the request arrived."""

    rendered: Rendered | None
    error: ErrorSpec | None  # when `rendered` is None: what the rule answers
    delay_s: float  # when `error` is due, in seconds after the start
    created: int
    started: float  # wall-clock time the request arrived (seconds since the epoch)
    seed: int  # the exchange's seed
    fault: Fault | None


# Asked between a detached stream's writes with the number of events written: None to go
# on, or the events that end the stream at once instead (the answer was cancelled).
Poll = Callable[[int], Sequence[bytes] | None]


@dataclass(frozen=True, slots=True)
class Dialect:
    """One API family's wire.

    - `parse(raw, headers, path, context)` → the Conversation, or RequestError(4xx) in
      the family's wording;
    - `answer(rendered, conversation, created, fault)` → the Body of a successful answer
      (a whole body, or events with their due offsets), content faults applied;
    - `failure(spec, delay_s, request_id)` → the Body of an error reply (a rule's
      `error`, a miss), in the family's error shape, due after `delay_s`;
    - `refusal(exc, request_id)` → the JSON bytes of a refusal raised before the answer;
    - `headers(status, rate_headers, now)` → the family's headers for an answer: rate-limit
      headers under its names, the defaults an error of that status carries (`now`: the
      server's time, frozen by --freeze-time, for a family that writes a reset as a time);
    - `remember(store, conversation, rendered, created, fault)` keeps what the family
      lets a later request refer to (the Responses API's stored responses, failed when a
      fault broke the answer), or does nothing;
    - `answer_headers(rendered)` → the headers an answer carries from what it answers
      (the embeddings' `openai-model`), or None for none;
    - `refusal_headers(status, headers, now)` → a refusal's headers (a rate limit's among them)
      under the family's names; None: sent as the gateway gives them;
    - `request_id(seed, count)` → the id of an exchange as the family spells it (None:
      `req_` and 32 hex digits);
    - `direct(conversation, created, seed)` → the Body of a path answered from the
      request alone, with no rule, engine or rate limit (Anthropic's token counting, the
      Responses API's compaction), given the time and the exchange's seed for what it
      stamps and numbers, or None for a path the engine answers;
    - `open_limits(rendered, max_tokens, now)` → the rate-limit headers, under the family's
      names, of an answer no keys file limits (the limits the API names on every answer),
      or None for none (the OpenAI families write theirs into the head as raw lines);
    - `detach(store, conversation, run)` → for a request whose answer runs on without its
      connection (the Responses API's `background: true`): keeps the run in the store and
      gives the request's own answer, with the `Poll` a stream asks between writes (None
      for a whole body); None for a request answered on its connection;
    - `stamp(body, request_id)` → the Body of an answer a fault broke, with the exchange's
      request id where the family writes it in the bytes (Anthropic's error body, and
      its `event: error` mid-stream), or None for a family that writes it only in the
      headers.
    """

    api: Api
    paths: tuple[str, ...]
    parse: Callable[[bytes, Mapping[str, str], str, ParseContext], Conversation]
    answer: Callable[[Rendered, Conversation, int, Fault | None], Body]
    failure: Callable[[ErrorSpec, float, str], Body]
    refusal: Callable[[RequestError, str], bytes]
    headers: Callable[[int, Headers, float], Headers]
    request_id_header: bytes = b"x-request-id"  # b"": the id is not sent (vLLM's answers)
    static_headers: tuple[tuple[bytes, bytes], ...] = ()
    # Headers naming the account the key belongs to (Anthropic's anthropic-organization-id):
    # after `static_headers` on every answer but a 401, where the key names no account.
    account_headers: tuple[tuple[bytes, bytes], ...] = ()
    key_headers: tuple[str, ...] = ()  # headers this family's clients send the key in
    processing_ms: bool = True  # send `openai-processing-ms`
    remember: Callable[[StateStore, Conversation, Rendered, int, Fault | None], None] | None = None
    answer_headers: Callable[[Rendered], Headers] | None = None
    refusal_headers: Callable[[int, Headers, float], Headers] | None = None
    request_id: Callable[[int, int], str] | None = None
    direct: Callable[[Conversation, int, int], Body] | None = None
    # Whether parsing this raw body reads the state store (earlier responses, threads):
    # such a request's parse and answer are not kept for the next identical one.
    reads_state: Callable[[bytes], bool] | None = None
    # A refusal as the family numbers it (None: as the gateway gives it): the Messages API
    # answers running out of credits with 400, where OpenAI's default profile says 429.
    restate: Callable[[RequestError], RequestError] | None = None
    detach: Callable[[StateStore, Conversation, Run], tuple[Body, Poll | None] | None] | None = None
    open_limits: Callable[[Rendered, int, float], Headers] | None = None
    # The head of an OpenAI family's answer: its request id exposed to pages, and open rate
    # limits as OpenAI names them (False for a server that sends neither: vLLM's).
    openai_head: bool = True
    stamp: Callable[[Body, str], Body] | None = None


def cache_read_input_tokens(rendered: Rendered) -> int:
    """The prompt tokens read from the prefix cache, for Anthropic's usage (the Messages
    dialect): its `cache_read_input_tokens` is this, and its `input_tokens` the rest of the
    prompt (`prompt_tokens - cached_tokens`). Chat and the Responses API write
    `rendered.cached_tokens` as their own `cached_tokens`."""
    return rendered.cached_tokens


def dialects() -> tuple[Dialect, ...]:
    """Every dialect the server speaks."""
    from mockllm.dialects import (
        chat,
        completions,
        embeddings,
        messages,
        responses,
        responses_compact,
    )

    return (
        chat.DIALECT,
        completions.DIALECT,
        responses.DIALECT,
        responses.INPUT_TOKENS,
        responses_compact.DIALECT,
        embeddings.DIALECT,
        messages.DIALECT,
        messages.COUNT_TOKENS,
    )


def by_api(api: str) -> Dialect:
    for dialect in dialects():
        if dialect.api == api:
            return dialect
    raise KeyError(api)
