"""The `encrypted_content` of a compaction item: the conversation items it stands for,
sealed so that mockllm reads them back when the item is sent again as input, and tells
apart content it did not give out.

The API's is a Fernet token ("gAAAAAB…") only the API can open; mockllm's looks the same
and holds the items compressed, after a keyed digest of them. The key is mockllm's own and
fixed, so that any mockllm process (another replica, a restarted server) reads what
another sealed, and the same items always seal to the same text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import Sequence
from typing import Any

import orjson

_PREFIX = "gAAAAAB"  # as the API's tokens start (Fernet's version byte and a timestamp)
_KEY = b"mockllm compaction"
_TAG = 16  # bytes of digest before the compressed items
# What an opened seal may hold: the API takes `encrypted_content` up to 20 MiB, and items
# compress well, so 64 MiB of JSON bounds what a forged seal could make the server inflate.
_MAX_ITEMS_BYTES = 64 * 1024 * 1024


def _tag(packed: bytes) -> bytes:
    return hashlib.blake2b(packed, key=_KEY, digest_size=_TAG).digest()


def seal(items: Sequence[Any]) -> str:
    """The `encrypted_content` that stands for these items."""
    packed = zlib.compress(orjson.dumps(list(items), option=orjson.OPT_SORT_KEYS), 6)
    return _PREFIX + base64.urlsafe_b64encode(_tag(packed) + packed).decode()


def unseal(text: object) -> list[Any] | None:
    """The items a sealed `encrypted_content` stands for; None for text mockllm did not
    seal (or sealed and then altered)."""
    if not isinstance(text, str) or not text.startswith(_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(text[len(_PREFIX) :])
    except (binascii.Error, ValueError):
        return None
    tag, packed = raw[:_TAG], raw[_TAG:]
    if not hmac.compare_digest(tag, _tag(packed)):
        return None
    inflate = zlib.decompressobj()
    try:
        data = inflate.decompress(packed, _MAX_ITEMS_BYTES)
        items = orjson.loads(data) if not inflate.unconsumed_tail else None
    except (zlib.error, orjson.JSONDecodeError):
        return None
    return items if isinstance(items, list) else None
