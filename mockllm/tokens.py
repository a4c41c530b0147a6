"""A deterministic, CJK-aware tokenizer: split text into tokens and count them.

It is not any model's tokenizer; it is stable across machines and close enough to
BPE counts for usage figures to look real (about 0.75 English words per token,
one token per Han character).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import orjson

_CJK = (
    "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
)
_LETTER = rf"[^\W\d_{_CJK}]"
_TOKEN = re.compile(
    rf"'(?:[sdmt]|ll|ve|re)\b"  # English contractions
    rf"| ?{_LETTER}{{1,8}}"  # a word, or an 8-letter slice of a long one
    rf"| ?\d{{1,3}}"  # numbers in groups of three digits
    rf"|[{_CJK}]"  # one token per CJK character
    rf"|\s+(?!\S)|\s+"  # runs of whitespace
    rf"| ?[^\s\w{_CJK}]{{1,3}}"  # punctuation runs
    rf"|.",
    re.DOTALL,
)

# The same tokens for a text of ASCII characters only, in twice the speed: each class
# spelled out as Python's re reads it on ASCII (its `\s` includes \x1c-\x1f, as
# str.isspace does). tests/test_tokens.py checks both give the same split.
_SPACE = r" \t\n\r\f\v\x1c-\x1f"
_TOKEN_ASCII = re.compile(
    r"'(?:[sdmt]|ll|ve|re)\b"
    r"| ?[A-Za-z]{1,8}"
    r"| ?[0-9]{1,3}"
    rf"|[{_SPACE}]+(?![^{_SPACE}])|[{_SPACE}]+"
    rf"| ?[^{_SPACE}A-Za-z0-9_]{{1,3}}"
    r"|.",
    re.DOTALL | re.ASCII,
)
_find_ascii = _TOKEN_ASCII.findall
_find = _TOKEN.findall


def _split(text: str) -> list[str]:
    return _find_ascii(text) if text.isascii() else _find(text)


_PER_MESSAGE = 4  # role and framing, as OpenAI counts them
_REPLY_PRIMING = 3


def split_tokens(text: str) -> list[str]:
    """Split text into tokens whose concatenation is the text."""
    return _split(text)


def count_tokens(text: str) -> int:
    """How many tokens `split_tokens` makes of the text."""
    if len(text) <= _SHORT:
        return _count_short(text)
    if len(text) <= _KEPT:
        return _count_kept(text)
    if len(text) <= _KEPT_LARGE:
        return _count_large(text)
    return len(_split(text))


_SHORT = 64  # stream deltas and words repeat: their counts are kept
# A system prompt and the tools' definitions come again with every request of an app
# (counting 1.5 KB of tool schema took 130 us); their counts are kept too.
_KEPT = 16384
# A coding agent's system prompt and tools run to 30-80 KB: a few of those are kept.
_KEPT_LARGE = 256 * 1024  # at most 64 of them: 16 MiB


@functools.lru_cache(maxsize=4096)
def _count_short(text: str) -> int:
    return len(_split(text)) if text else 0


@functools.lru_cache(maxsize=1024)
def _count_kept(text: str) -> int:
    return len(_split(text))


@functools.lru_cache(maxsize=64)
def _count_large(text: str) -> int:
    return len(_split(text))


def count_prompt(texts: Iterable[str], extra_json: object = None) -> int:
    """Prompt tokens for message texts, plus tool definitions or a schema as JSON."""
    total = _REPLY_PRIMING
    for text in texts:
        total += _PER_MESSAGE + count_tokens(text)
    if extra_json:
        total += count_tokens(orjson.dumps(extra_json).decode())
    return total


def group_tokens(tokens: list[str], per_chunk: int) -> list[str]:
    """Join tokens into stream deltas of `per_chunk` tokens each."""
    if per_chunk <= 1:
        return tokens
    return ["".join(tokens[i : i + per_chunk]) for i in range(0, len(tokens), per_chunk)]
