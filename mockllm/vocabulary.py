"""cl100k_base: token ids read back to the text they encode, as tiktoken's `decode` reads
them, and a text's tokens counted as tiktoken's `encode` makes them.

cl100k_base is the vocabulary of OpenAI's embedding models (text-embedding-3-small, -3-large,
ada-002), and the one tiktoken-based clients fall back to for a model tiktoken does not
know (LangChain's `OpenAIEmbeddings` sends its texts so). It is bundled, xz-compressed, in
tiktoken's own file format (vocab/cl100k_base.tiktoken.xz, from OpenAI's tiktoken, MIT
licence; scripts/bundle_vocabulary.py rebuilds and checks it), and loaded on the first
decode or count: a server that never embeds never reads it.
"""

from __future__ import annotations

import array
import functools
import itertools
import lzma
import re
import sys
from binascii import a2b_base64
from collections.abc import Sequence
from importlib import resources

from mockllm.tokens import count_tokens

ENCODING = "cl100k_base"
END_OF_TEXT = 100257  # <|endoftext|>, the highest id the API takes in a token array
_SPECIAL = {END_OF_TEXT: b"<|endoftext|>"}
_FILE = "vocab/cl100k_base.tiktoken.xz"


@functools.cache
def _table() -> tuple[bytes, array.array[int]]:
    """Every token's bytes end to end, and where each starts (a token's bytes are
    `blob[starts[id]:starts[id + 1]]`).

    One blob and an offset array rather than a bytes object per token: 1.0 MB instead of
    4.9 MB, and 8,000 ids still decode in 2 ms. Loading takes about 90 ms (xz, then base64),
    once: the event loop waits that long on the first token array a server sees."""
    text = lzma.decompress(resources.files("mockllm").joinpath(_FILE).read_bytes())
    pieces = [b""] * (END_OF_TEXT + 1)  # 100256 has no bytes: no token of cl100k_base
    for line in text.splitlines():
        token, _, rank = line.partition(b" ")
        pieces[int(rank)] = a2b_base64(token)
    for special, piece in _SPECIAL.items():
        pieces[special] = piece
    starts = array.array("I", itertools.accumulate(map(len, pieces), initial=0))
    return b"".join(pieces), starts


def decode(ids: Sequence[int]) -> str:
    """The text of token ids (each from 0 to END_OF_TEXT): their bytes joined, then read as
    UTF-8 with U+FFFD where they are not, as tiktoken's `decode` does (a character whose
    bytes span tokens, cut before its last one, becomes a U+FFFD).

    Example:
        decode([15339, 1917]) == "hello world"
    """
    if ids and (min(ids) < 0 or max(ids) > END_OF_TEXT):
        raise ValueError(f"token ids go from 0 to {END_OF_TEXT}")
    blob, starts = _table()
    return b"".join([blob[starts[i] : starts[i + 1]] for i in ids]).decode("utf-8", "replace")


def piece(token_id: int) -> bytes:
    """The bytes of one token id (from 0 to END_OF_TEXT)."""
    blob, starts = _table()
    return blob[starts[token_id] : starts[token_id + 1]]


@functools.cache
def _ids() -> dict[bytes, int]:
    blob, starts = _table()
    pieces = (blob[starts[i] : starts[i + 1]] for i in range(END_OF_TEXT))
    return {p: i for i, p in enumerate(pieces) if p}


def piece_id(token: bytes) -> int | None:
    """The id of the token whose bytes these are; None when no token of cl100k_base is."""
    return _ids().get(token)


# --- counting -------------------------------------------------------------------------------

# cl100k_base's pre-tokenizer, tiktoken's pattern:
#   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
#   |\s*[\r\n]+|\s+(?!\S)|\s+
# Python's re has no \p{L} or \p{N}, and its \s takes \x1c-\x1f, which Unicode's White_Space
# (the \s of tiktoken's regex) does not: each class is spelled out. [^\W\d_] is a letter
# and \d a number for any text without the numbers [^\W\d_] takes too (Unicode's Nl and
# No: "½", "²", "Ⅻ"); a text with one of those is split with every letter and number
# listed, a pattern three times as slow, built on the first such text.
_SPACE = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_ASCII_SPACE = r"\t-\r "
_SPLIT = (
    r"'(?i:[sdmt]|ll|ve|re)|(?:{not_ln_crlf})?[{l}]+|[{n}]{{1,3}}| ?(?:{not_ln_space})+[\r\n]*"
    r"|[{s}]*[\r\n]+|[{s}]+(?![^{s}])|[{s}]+"
)
_ASCII = re.compile(
    _SPLIT.format(
        l="A-Za-z", n="0-9", s=_ASCII_SPACE, not_ln_crlf=r"[^A-Za-z0-9\r\n]",
        not_ln_space=rf"[^A-Za-z0-9{_ASCII_SPACE}]",
    ),
    re.ASCII,
)  # fmt: skip
_USUAL = re.compile(
    _SPLIT.format(
        l=r"^\W\d_", n=r"\d", s=_SPACE, not_ln_crlf=r"[^\w\r\n]|_",
        not_ln_space=rf"[^\w{_SPACE}]|_",
    )
)  # fmt: skip
# Byte-pair merging is quadratic in a piece's length: a piece of more than 32 bytes (a run
# of Chinese, Japanese or Thai without spaces, a base64 blob) is estimated, as
# tokens.count_tokens estimates text. English and Russian prose are then counted exactly
# (Russian within 0.5%), Chinese and Korean within 0.1%, Japanese and Thai 11-14% under.
# A token costs 0.2-0.6 us the first time its words are seen (Chinese 1.6 us), the estimate
# alone 0.1 us (measured on Faker's text in each language).
_LONGEST = 32
_NONE = 1 << 31  # the rank of a pair no token is


def _ranges(codes: list[int]) -> str:
    """A character class's body for code points in ascending order, a run as `a-z`."""
    runs: list[list[int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in runs
    )


@functools.cache
def _odd() -> re.Pattern[str]:
    """The numbers the usual pattern reads as letters (Unicode's Nl and No): numeric, not
    decimal, not letters. Built on the first text that is not ASCII, in about 0.2 s, as
    the table of every letter (0.4 s) on the first text with one of them."""
    return re.compile(
        "["
        + _ranges(
            [
                i
                for i in range(sys.maxunicode + 1)
                if (c := chr(i)).isnumeric() and not c.isdecimal() and not c.isalpha()
            ]
        )
        + "]"
    )


@functools.cache
def _exact() -> re.Pattern[str]:
    """The pattern with every letter (L: str.isalpha) and number (N) listed."""
    chars = [chr(i) for i in range(sys.maxunicode + 1)]
    letters = _ranges([i for i, c in enumerate(chars) if c.isalpha()])
    numbers = _ranges([i for i, c in enumerate(chars) if c.isnumeric() and not c.isalpha()])
    return re.compile(
        _SPLIT.format(
            l=letters, n=numbers, s=_SPACE, not_ln_crlf=rf"[^{letters}{numbers}\r\n]",
            not_ln_space=f"[^{letters}{numbers}{_SPACE}]",
        )
    )  # fmt: skip


def _merged(piece: bytes, ranks: dict[bytes, int]) -> int:
    """How many tokens byte-pair merging makes of a piece no single token is: the adjacent
    pair of lowest rank merged first (the leftmost of equals), as tiktoken's
    `_byte_pair_merge` merges, each pair's rank kept and only the two a merge changes
    looked up again."""
    bounds = list(range(len(piece) + 1))  # where each part starts, and the end
    pairs = [ranks.get(piece[i : i + 2], _NONE) for i in range(len(piece) - 1)] + [_NONE]
    while True:
        best = min(pairs)
        if best == _NONE:
            return len(bounds) - 1
        i = pairs.index(best)
        del bounds[i + 1], pairs[i + 1]
        pairs[i] = (
            ranks.get(piece[bounds[i] : bounds[i + 2]], _NONE) if i + 2 < len(bounds) else _NONE
        )
        if i:
            pairs[i - 1] = ranks.get(piece[bounds[i - 1] : bounds[i + 1]], _NONE)


@functools.lru_cache(maxsize=1 << 16)
def _piece_count(piece: str) -> int:
    """A piece's tokens; kept, as a language's words come again and again."""
    raw = piece.encode()
    ranks = _ids()
    if raw in ranks:
        return 1
    return _merged(raw, ranks) if len(raw) <= _LONGEST else count_tokens(piece)


def count(text: str) -> int:
    """How many cl100k_base tokens tiktoken's `encode` makes of a text (`<|endoftext|>` in it
    read as plain text; a piece of more than 32 bytes estimated). A text of up to 16 KB is
    kept for the next request with the same text.

    Example:
        count("hello world") == 2
    """
    return _count_kept(text) if len(text) <= _KEPT else _count(text)


_KEPT = 16384


@functools.lru_cache(maxsize=1024)
def _count_kept(text: str) -> int:
    return _count(text)


def _count(text: str) -> int:
    if text.isascii():
        pattern = _ASCII
    else:
        pattern = _exact() if _odd().search(text) else _USUAL
    return sum(map(_piece_count, pattern.findall(text)))
