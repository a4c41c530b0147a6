"""A vLLM server's own words: its token ids, its model cards and its refusals.

A profile with a `vllm` block (the built-in `vllm`) answers as vLLM's OpenAI-compatible
server does; this module holds what that server says, as plain data. The routes that
serve it are in `vllm_routes.py`.

Token ids. `/tokenize` splits text with mockllm's own tokenizer (`tokens.py`), so that
its count is the `prompt_tokens` a completion reports; each piece gets one id: the id of
cl100k_base's token with the same bytes when there is one (most words, numbers and
punctuation), else `PACKED` plus the piece's bytes read as a number, so that any id
`/tokenize` gives reads back to its piece and `/detokenize` gives the text back.
A conversation is framed as ChatML frames it, in as many tokens as mockllm counts a
message's framing (4) and the reply's priming (3).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from mockllm import vocabulary
from mockllm.conversation import JSON
from mockllm.errors import RequestError
from mockllm.profiles import VllmServer
from mockllm.tokens import split_tokens

# Ids past cl100k_base's, each below 2**53 (exact in JavaScript's numbers too): a piece of
# at most 6 bytes spelled in its id; an ASCII word piece (a space or none, then 1 to 8
# letters) spelled in its id; a longer piece (a long whitespace run, a word in another
# script) named by a hash, and remembered for /detokenize.
PACKED = 200_000  # above every vocabulary vLLM serves (Llama 3: 128256, Qwen2.5: 151665)
_PACKED_BYTES = 6
_LETTERS = 1 << 49
_HASHED = 1 << 50
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LETTER = {c: i for i, c in enumerate(_ALPHABET)}
_REMEMBERED = 65536  # hashed pieces kept for /detokenize, oldest forgotten first
_hashed: dict[int, bytes] = {}
_SPECIAL = {100264: "<|im_start|>", 100265: "<|im_end|>"}  # cl100k_base's ChatML markers
_START, _END = 100264, 100265
_NEWLINE = "\n"


# --- token ids --------------------------------------------------------------------------


def _id(token: str) -> int:
    raw = token.encode()
    found = vocabulary.piece_id(raw)
    if found is not None:
        return found
    if len(raw) <= _PACKED_BYTES:
        return PACKED + _number(raw, 256, lambda b: b)
    word = token[1:] if token.startswith(" ") else token
    if len(word) <= 8 and all(c in _LETTER for c in word):
        return _LETTERS + 2 * _number(word, 52, _LETTER.__getitem__) + (word is not token)
    token_id = _HASHED + int.from_bytes(hashlib.blake2b(raw, digest_size=5).digest(), "big")
    if token_id not in _hashed and len(_hashed) >= _REMEMBERED:
        del _hashed[next(iter(_hashed))]
    _hashed[token_id] = raw
    return token_id


def _number(items: Any, base: int, digit: Any) -> int:
    """Bijective numeration: every sequence its own number, the empty one none."""
    value = 0
    for item in items:
        value = value * base + digit(item) + 1
    return value


def _digits(value: int, base: int) -> list[int]:
    out = []
    while value:
        value -= 1
        out.append(value % base)
        value //= base
    return out[::-1]


def _bytes(token_id: int) -> bytes:
    if token_id in _SPECIAL:
        return _SPECIAL[token_id].encode()
    if token_id <= vocabulary.END_OF_TEXT:
        return vocabulary.piece(token_id)
    if token_id >= _HASHED:
        return _hashed.get(token_id, b"")
    if token_id >= _LETTERS:
        spelled, space = divmod(token_id - _LETTERS, 2)
        word = "".join(_ALPHABET[d] for d in _digits(spelled, 52))
        return (" " * space + word).encode()
    if token_id < PACKED:
        return b""  # no token has this id: it reads as nothing
    return bytes(_digits(token_id - PACKED, 256))


def encode_prompt(text: str) -> list[str]:
    """The pieces of a prompt, as `/tokenize` gives them for {"prompt": text}."""
    return split_tokens(text)


def encode_chat(messages: Iterable[tuple[str, str]], tools: object = None) -> list[str]:
    """The pieces of a conversation of (role, text), framed as ChatML frames it: as many
    as a chat completion's `prompt_tokens` (tokens.count_prompt)."""
    pieces: list[str] = []
    for role, text in messages:
        pieces += [_SPECIAL[_START], role, _NEWLINE, *split_tokens(text), _SPECIAL[_END]]
    if tools:
        pieces += split_tokens(orjson.dumps(tools).decode())
    return [*pieces, _SPECIAL[_START], "assistant", _NEWLINE]


def turns(messages: list[Any]) -> list[tuple[str, str]]:
    """(role, text) of each message, text parts joined as a chat completion joins them."""
    out = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            content = "\n".join(t for t in parts if isinstance(t, str))
        out.append((str(message.get("role", "user")), content if isinstance(content, str) else ""))
    return out


def tool_schemas(tools: object) -> list[Any] | None:
    """The parameters of each function tool, as a chat completion counts them."""
    if not isinstance(tools, list):
        return None
    schemas = [
        (t.get("function") or {}).get("parameters", {}) for t in tools if isinstance(t, dict)
    ]
    return schemas or None


def token_ids(pieces: Sequence[str]) -> list[int]:
    """One id for each piece."""
    special = {text: token_id for token_id, text in _SPECIAL.items()}
    return [special.get(p) or _id(p) for p in pieces]


def decode(ids: Sequence[int]) -> str:
    """The text of token ids; ValueError for a negative id, as vLLM's tokenizer refuses it
    ("out of range integral type conversion attempted")."""
    if any(i < 0 for i in ids):
        raise ValueError("out of range integral type conversion attempted")
    return b"".join(_bytes(i) for i in ids).decode("utf-8", "replace")


# --- refusals ---------------------------------------------------------------------------


def _invalid(message: str, param: str, value: object) -> RequestError:
    """vLLM's VLLMValidationError as its server writes it: the parameter and value after
    the message, type BadRequestError, the status as the code (vllm/exceptions.py,
    vllm/entrypoints/serve/exception_handling/error_response.py)."""
    return _with_status_code(
        RequestError(
            400,
            f"{message} (parameter={param}, value={value})",
            type="BadRequestError",
            param=param,
        )
    )


def check_output(server: VllmServer, asked: int, param: str) -> None:
    """vLLM's refusal of more output tokens than the whole context (`param` is
    max_tokens or max_completion_tokens, as sent; vllm/renderers/params.py,
    TokenizeParams), checked before the prompt is read."""
    total = server.max_model_len
    if asked > total:
        raise _invalid(
            f"{param}={asked} cannot be greater than max_model_len=max_total_tokens={total}. "
            "Please request fewer output tokens.",
            param,
            asked,
        )


def check_input(server: VllmServer, prompt_tokens: int, asked: int) -> None:
    """vLLM's refusal of a prompt longer than the context leaves beside the output asked
    for (`asked` is 0 when the request names none; vllm/renderers/params.py,
    TokenizeParams._token_len_check)."""
    total = server.max_model_len
    limit = total - asked
    if prompt_tokens > limit:
        raise _invalid(
            f"You passed {prompt_tokens} input tokens and requested {asked} output tokens. "
            f"However, the model's context length is only {total} tokens, resulting in a "
            f"maximum input length of {limit} tokens. Please reduce the length of the input "
            "prompt.",
            "input_tokens",
            prompt_tokens,
        )


def validation_error(errors: Sequence[dict[str, Any] | str]) -> RequestError:
    """A request body vLLM's FastAPI models refuse: pydantic's errors, each as Python
    writes a dict, with its `loc` joined by dots and its `input` summarised, or a plain
    error text (400, type "Bad Request", param the first error's `loc`;
    vllm/entrypoints/serve/exception_handling/handlers/validation.py)."""
    label = "error" if len(errors) == 1 else "errors"
    lines = "".join(
        f"  {error if isinstance(error, str) else repr(error)}\n" for error in errors[:10]
    )
    first = errors[0] if errors else None
    param = first["loc"] if isinstance(first, dict) else None
    message = f"{len(errors)} validation {label}:\n{lines}".rstrip()
    return _with_status_code(RequestError(400, message, type="Bad Request", param=param))


def _with_status_code(error: RequestError) -> RequestError:
    """vLLM's error code is the HTTP status, a number (ErrorInfo.code: int), where
    OpenAI's is a string; the error is written as it is (routes.error_response)."""
    error.code = error.status  # type: ignore[assignment]
    return error


def summarised(value: object) -> str:
    """A value as vLLM's validation errors show it."""
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + "...[truncated]"
    if isinstance(value, (list, dict)):
        return f"<{type(value).__name__} of {len(value)} items>"
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "...[truncated]"


# --- lax values -------------------------------------------------------------------------

# The typed fields of vLLM 0.21.0's request models (ChatCompletionRequest in
# vllm/entrypoints/openai/chat_completion/protocol.py, CompletionRequest in
# completion/protocol.py, StreamOptions in engine/protocol.py), which FastAPI validates
# in pydantic's lax mode: "true" is a bool, "3" and 3.0 ints, "0.7" a float.
_FLOATS = (
    "frequency_penalty", "presence_penalty", "temperature", "top_p", "min_p",
    "repetition_penalty", "length_penalty",
)  # fmt: skip
_INTS = ("max_tokens", "n", "seed", "top_k", "min_tokens", "truncate_prompt_tokens",
         "prompt_logprobs", "priority")  # fmt: skip
_BOOLS = ("stream", "use_beam_search", "include_stop_str_in_output", "ignore_eos",
          "skip_special_tokens", "spaces_between_special_tokens", "add_special_tokens",
          "return_tokens_as_token_ids", "return_token_ids")  # fmt: skip
TYPED: dict[str, dict[str, str]] = {
    "chat": {
        **dict.fromkeys(_FLOATS, "float"),
        **dict.fromkeys(
            (*_INTS, "top_logprobs", "max_completion_tokens", "thinking_token_budget"), "int"
        ),  # fmt: skip
        **dict.fromkeys(
            (
                *_BOOLS,
                "logprobs",
                "include_reasoning",
                "parallel_tool_calls",
                "echo",
                "add_generation_prompt",
                "continue_final_message",
                "return_prompt_text",
            ),
            "bool",
        ),  # fmt: skip
    },
    "completions": {
        **dict.fromkeys(_FLOATS, "float"),
        **dict.fromkeys((*_INTS, "logprobs"), "int"),
        **dict.fromkeys((*_BOOLS, "echo"), "bool"),
    },
}
_STREAM_OPTIONS = {"include_usage": "bool", "continuous_usage_stats": "bool"}
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_DIGITS = re.compile(r"[+-]?\d+(?:_\d+)*")
_NOTHING = object()


def _lax(value: object, kind: str) -> object:
    """`value` as pydantic's lax mode reads it for a field of `kind`, or _NOTHING when it
    is already of that kind or pydantic refuses it too."""
    if kind == "bool":
        if isinstance(value, str):
            lowered = value.lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else _NOTHING
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        return _NOTHING
    if kind == "int":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            if _DIGITS.fullmatch(text):
                return int(text)
            try:
                number = float(text)
            except ValueError:
                return _NOTHING
            return int(number) if number.is_integer() and "e" not in text.lower() else _NOTHING
        return _NOTHING
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return _NOTHING
        return number if math.isfinite(number) else _NOTHING
    return _NOTHING


def lax_body(body: dict[str, Any], api: str) -> dict[str, Any] | None:
    """The request body with the values vLLM's request model converts (pydantic's lax
    mode) made of their field's type; None when there is none to convert."""
    typed = TYPED.get(api)
    if typed is None:
        return None
    changed: dict[str, Any] = {}
    for name, value in body.items():
        kind = typed.get(name)
        if kind is not None:
            made = _lax(value, kind)
            if made is not _NOTHING:
                changed[name] = made
    options = body.get("stream_options")
    if isinstance(options, dict):
        fixed = {k: _lax(v, _STREAM_OPTIONS[k]) for k, v in options.items() if k in _STREAM_OPTIONS}
        fixed = {k: v for k, v in fixed.items() if v is not _NOTHING}
        if fixed:
            changed["stream_options"] = {**options, **fixed}
    return {**body, **changed} if changed else None


# --- model cards ------------------------------------------------------------------------


def model_card(model_id: str, server: VllmServer, created: int, seed: int, root: str) -> JSON:
    """A model as vLLM's GET /v1/models lists it (ModelCard and ModelPermission in
    vllm/entrypoints/openai/engine/protocol.py): a served name, and as its root the model
    the server loaded (BaseModelPath.model_path, vllm/entrypoints/openai/models/serving.py)."""
    digest = hashlib.blake2b(f"{seed}\0{model_id}\0{created}".encode(), digest_size=16)
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": "vllm",
        "root": root,
        "parent": None,
        "max_model_len": server.max_model_len,
        "permission": [
            {
                "id": f"modelperm-{digest.hexdigest()}",
                "object": "model_permission",
                "created": created,
                "allow_create_engine": False,
                "allow_sampling": True,
                "allow_logprobs": True,
                "allow_search_indices": False,
                "allow_view": True,
                "allow_fine_tuning": False,
                "organization": "*",
                "group": None,
                "is_blocking": False,
            }
        ],
    }
