"""The embeddings dialect: `POST /v1/embeddings` read into a Conversation (one user message
per input), answered with deterministic unit vectors.

A vector is derived from its text, the model and the server's --seed alone, so a text
gets the same vector alone or in any batch. It is the sum of a signed feature per word
(eight hashed positions each, weighted by how often the word occurs) and a smaller dense
part unique to the whole text, normalised: texts that share words are closer (cosine)
than unrelated texts, and retrieval code ranks a fixed corpus in a meaningful order.

A token array is read back to its text with cl100k_base (mockllm/vocabulary.py), the
vocabulary of OpenAI's embedding models and the one tiktoken-based clients (LangChain's
`OpenAIEmbeddings`) encode with, and embedded as that text: the same vector as the text sent
as a string, with its own ids counted in `usage`. A string's tokens are counted with the
same vocabulary, as tiktoken counts them, for `usage` and the API's token limits.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from mockllm import vocabulary
from mockllm.cache import Memo
from mockllm.catalogue import lookup
from mockllm.conversation import (
    Conversation,
    Message,
    api_key_of,
    derive_seed,
    provider_of,
    summarize,
)
from mockllm.dialects import DEFAULT_CONTEXT, Dialect, Headers, ParseContext
from mockllm.dialects.openai_errors import failure, headers, refusal
from mockllm.errors import RequestError
from mockllm.protocol import (
    canonical_or_refuse,
    get_int,
    invalid_type,
    load_object,
    missing,
    unsupported,
)
from mockllm.render import Rendered
from mockllm.rules import ErrorSpec, Fault
from mockllm.wire import Body, whole_json
from mockllm.words import STOP, stem

PATH = "/v1/embeddings"
NATIVE_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
FIXED_SIZE = ("text-embedding-ada-002",)  # models that refuse `dimensions`
MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000
FORMATS = ("float", "base64")
# The API's 403 for a model it does not embed with (gpt-4o, as quoted in
# infiniflow/ragflow#1835): every model the catalogue names is one (the embedding models
# are not in it).
NOT_AN_EMBEDDING_MODEL = "You are not allowed to generate embeddings from this model"
# The API's words for an input its schema does not take (an empty string sent alone, an
# empty token array, a mix), naming no param, as quoted in aryn-ai/sycamore#943 and
# openai/openai-python#576.
_INVALID_INPUT = (
    "'$.input' is invalid. Please check the API reference: "
    "https://platform.openai.com/docs/api-reference."
)
# An empty list and one of more than 2048 items are told apart, naming no param: measured
# through a gateway that passes the API's body on (Team-PinLog, 2026-07-31: {"message":
# "Invalid 'input': input cannot be an empty array.", "type": "invalid_request_error",
# "param": null, ...}) and by a live bisection of text-embedding-3-small and -large
# (2026-09-30: "Invalid 'input': array length must be 2048 or less.").
_EMPTY_LIST = "Invalid 'input': input cannot be an empty array."
# An empty string in a list is named by its index ("Invalid 'input[10]': input cannot be an
# empty string.", in openai.BadRequestError quotes of 2026 and an Azure log of 2026-08-29);
# its param and code, which no capture shows, stay null as before.
_TOO_MANY = f"Invalid 'input': array length must be {MAX_INPUTS} or less."
_WORD = re.compile(r"[\w']+|[^\w\s]", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_POSITIONS = 8  # positions each word's feature touches
_NOISE = 0.35  # the dense part's length, against the word features' (1.0)
_STOP_WEIGHT = 0.2  # a stop word's weight, against a content word's
_dumps = orjson.dumps


@dataclass(frozen=True, slots=True)
class Wire:
    """What the embeddings dialect keeps of a request to write its vectors."""

    texts: tuple[str, ...]  # the inputs as text (token arrays decoded)
    tokens: int  # tokens over all inputs
    dimensions: int  # of each vector sent
    native: int  # of the model's vector, before a `dimensions` cut
    encoding: str  # float or base64
    seed: int


# --- requests -------------------------------------------------------------------------------


def _is_id(value: object) -> bool:
    return type(value) is int  # a JSON integer: not a bool, not a decimal


def _inputs(value: object) -> tuple[tuple[str, int], ...]:
    """(text, tokens) per input: strings, or token arrays (decoded), as the API's schema
    takes them: a string, or a list of strings, of ids, or of id lists (not a mix)."""
    if value is None:
        raise missing("input")
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list):
        if not value:
            raise RequestError(400, _EMPTY_LIST)
        if len(value) > MAX_INPUTS:
            raise RequestError(400, _TOO_MANY)
        if all(_is_id(v) for v in value):
            items = [value]  # one token array
        elif all(isinstance(v, str) for v in value) or all(isinstance(v, list) for v in value):
            items = value
        else:
            raise RequestError(400, _INVALID_INPUT)
    else:
        raise RequestError(400, _INVALID_INPUT)
    for i, item in enumerate(items):
        if item == "" and items is value:
            raise RequestError(400, f"Invalid 'input[{i}]': input cannot be an empty string.")
        if not item or not (isinstance(item, str) or all(_is_id(t) for t in item)):
            raise RequestError(400, _INVALID_INPUT)
    return tuple(
        (item, vocabulary.count(item)) if isinstance(item, str) else (_decoded(item), len(item))
        for item in items
    )


def _decoded(ids: list[int]) -> str:
    """A token array's text; an id outside cl100k_base and its <|endoftext|> is refused in
    the API's words (the first such id named)."""
    if min(ids) < 0 or max(ids) > vocabulary.END_OF_TEXT:
        token = next(t for t in ids if not 0 <= t <= vocabulary.END_OF_TEXT)
        raise RequestError(
            400,
            f"Invalid token in prompt: {token}. Minimum value is 0, maximum value is "
            f"{vocabulary.END_OF_TEXT} (inclusive).",
        )
    return vocabulary.decode(ids)


def _check_lengths(inputs: tuple[tuple[str, int], ...], is_batch: bool) -> None:
    """The API's refusal of an input over 8192 tokens, worded by the input's shape: an
    item of a list is named with its index (`Invalid 'input[3]': maximum input length is
    8192 tokens.`, param `input[3]`, code `invalid_value`), a lone string is not (`Invalid
    'input': maximum context length is 8192 tokens.`, param and code null). A lone token
    array is at most 2048 ids, never over."""
    for i, (_, tokens) in enumerate(inputs):
        if tokens <= MAX_INPUT_TOKENS:
            continue
        if not is_batch:
            raise RequestError(
                400, f"Invalid 'input': maximum context length is {MAX_INPUT_TOKENS} tokens."
            )
        raise RequestError(
            400,
            f"Invalid 'input[{i}]': maximum input length is {MAX_INPUT_TOKENS} tokens.",
            code="invalid_value",
            param=f"input[{i}]",
        )


def parse(
    raw: bytes, headers: Mapping[str, str], path: str, context: ParseContext = DEFAULT_CONTEXT
) -> Conversation:
    """Validate a `POST /v1/embeddings` body as the API does; RequestError(400) naming the
    field."""
    body = load_object(raw)
    model = body.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    if lookup(model).known and not context.lenient:
        raise RequestError(403, NOT_AN_EMBEDDING_MODEL, code=None)
    value = body.get("input")
    inputs = _inputs(value)
    _check_lengths(inputs, isinstance(value, list))
    total = sum(tokens for _, tokens in inputs)
    if total > MAX_REQUEST_TOKENS:  # typed by its code, as the API types it
        raise RequestError(
            400,
            f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request",
            type="max_tokens_per_request",
            code="max_tokens_per_request",
        )
    encoding = body.get("encoding_format")
    if encoding is None:  # absent or null: the default, as for `dimensions`
        encoding = "float"
    if encoding not in FORMATS:
        raise unsupported(encoding, FORMATS, "encoding_format")
    name = model.rsplit("/", 1)[-1]
    native = NATIVE_DIMENSIONS.get(name, context.embedding_dimensions)
    dimensions = get_int(body, "dimensions", 1, None)
    if dimensions is not None:
        if name in FIXED_SIZE:
            raise RequestError(400, "This model does not support specifying dimensions.")
        if dimensions > native:
            raise RequestError(
                400,
                f"Invalid value for 'dimensions' = {dimensions}. Must be less than or equal to "
                f"{native}.",
                code="invalid_value",
                param="dimensions",
            )
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid_type("user", "a string", user)
    messages = tuple(Message("user", text) for text, _ in inputs)
    last_user, system, turn = summarize(messages)
    return Conversation(
        model=model,
        messages=messages,
        body=body,
        api="embeddings",
        path=path,
        headers=headers,
        api_key=api_key_of(headers),
        provider=provider_of(model, headers),
        max_tokens=0,
        input_tokens=total,
        canonical=canonical_or_refuse(body),
        last_user=last_user,
        system=system,
        turn=turn,
        wire=Wire(
            tuple(text for text, _ in inputs),
            total,
            dimensions or native,
            native,
            encoding,
            context.seed,
        ),
    )


# --- vectors --------------------------------------------------------------------------------


def _words(text: str) -> dict[str, float]:
    """Each word's weight: stemmed words (`dogs` is `dog`), 1 + log of how often they
    occur, a stop word a fifth of that; punctuation adds nothing, so that what a text is
    about decides what it is close to."""
    lowered = text.lower()
    counts: Counter[str] = Counter()
    for word in _WORD.findall(_CJK.sub(lambda m: f" {m.group()} ", lowered)):
        word = word.strip("'")
        if word and word[0].isalnum():
            counts[word if word in STOP or not word.isascii() else stem(word)] += 1
    return {
        word: (1.0 + math.log(count)) * (_STOP_WEIGHT if word in STOP else 1.0)
        for word, count in counts.items()
    }


def vector(text: str, model: str, seed: int, native: int, dimensions: int) -> Any:
    """The unit vector of a text (a float32 numpy array): word features and a dense part of
    its own, cut to `dimensions` (a prefix of the model's native vector, normalised again).

    numpy does the arithmetic: a 1536-dimension vector costs tens of microseconds, where
    the same in Python lists cost most of a millisecond."""
    import numpy as np

    own = derive_seed(seed, model, text).to_bytes(8, "big")
    noise = np.frombuffer(hashlib.shake_256(own).digest(native), dtype=np.int8)
    values = noise.astype(np.float64)
    values *= _NOISE / (np.linalg.norm(values) or 1.0)
    words = _words(text)
    if words:
        key = model.encode()[:64]
        digests = b"".join(
            hashlib.blake2b(word.encode(), digest_size=2 * _POSITIONS, key=key).digest()
            for word in words
        )
        pairs = np.frombuffer(digests, dtype=np.uint16)
        weights = np.repeat(list(words.values()), _POSITIONS)
        features = np.zeros(native)
        np.add.at(features, (pairs >> 1) % native, np.where(pairs & 1, weights, -weights))
        norm = np.linalg.norm(features)
        if norm:
            values += features / norm
    cut = values[:dimensions]
    return (cut / (np.linalg.norm(cut) or 1.0)).astype(np.float32)


# --- answers --------------------------------------------------------------------------------


_VECTORS: Memo[tuple[str, str, int, int, int, str], bytes] = Memo(4096, 64 << 20)


def encoded_vector(
    text: str, model: str, seed: int, native: int, dimensions: int, form: str
) -> bytes:
    """A vector as JSON: float32 values in their shortest form (as the API writes them), or
    their little-endian bytes in base64. Kept for the next request with the same text:
    retrieval tests and load tests embed the same texts again and again."""
    key = (text, model, seed, native, dimensions, form)
    found = _VECTORS.get(key)
    if found is None:
        values = vector(text, model, seed, native, dimensions)
        if form == "base64":
            found = _dumps(base64.b64encode(values.astype("<f4").tobytes()).decode())
        else:
            found = _dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
        _VECTORS.put(key, found, len(found))
    return found


def answer(
    rendered: Rendered, conversation: Conversation, created: int, fault: Fault | None
) -> Body:
    """The list of embeddings, in input order, with the non-streaming form of a fault."""
    wire: Wire = conversation.wire
    delay = rendered.offsets[-1] if rendered.offsets else 0.0
    if fault is not None and (fault.error_after_tokens is not None or fault.empty_choices_error):
        return failure(fault.error or ErrorSpec(500), delay)
    name = conversation.model.rsplit("/", 1)[-1]
    items = b",".join(
        b'{"object":"embedding","index":%d,"embedding":%b}'
        % (i, encoded_vector(text, name, wire.seed, wire.native, wire.dimensions, wire.encoding))
        for i, text in enumerate(wire.texts)
    )
    prompt = rendered.prompt_tokens
    body = (
        b'{"object":"list","data":['
        + items
        + b'],"model":'
        + _dumps(rendered.model)
        + b',"usage":{"prompt_tokens":%d,"total_tokens":%d}}' % (prompt, prompt)
    )
    return whole_json(body, delay, fault)


def answer_headers(rendered: Rendered) -> Headers:
    """The model that answered, named beside the body's `model` as the API's embeddings
    answers name it (`openai-model: text-embedding-3-large`); none for a name that cannot
    be a header's value."""
    model = rendered.model
    return (("openai-model", model),) if model.isascii() and model.isprintable() else ()


DIALECT = Dialect(
    api="embeddings",
    paths=(PATH,),
    parse=parse,
    answer=answer,
    failure=failure,
    refusal=refusal,
    headers=headers,
    static_headers=((b"openai-version", b"2020-10-01"),),
    answer_headers=answer_headers,
)
