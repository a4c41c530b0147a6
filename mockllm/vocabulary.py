"""cl100k_base token ids read back to the text they encode, as tiktoken's `decode` reads them.

cl100k_base is the vocabulary of OpenAI's embedding models (text-embedding-3-small, -3-large,
ada-002), and the one tiktoken-based clients fall back to for a model tiktoken does not
know (LangChain's `OpenAIEmbeddings` sends its texts so). It is bundled, xz-compressed, in
tiktoken's own file format (vocab/cl100k_base.tiktoken.xz, from OpenAI's tiktoken, MIT
licence; scripts/bundle_vocabulary.py rebuilds and checks it), and loaded on the first
decode: a server that never sees a token array never reads it.
"""

from __future__ import annotations

import array
import functools
import itertools
import lzma
from binascii import a2b_base64
from collections.abc import Sequence
from importlib import resources

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
