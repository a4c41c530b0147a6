"""The compaction item's `encrypted_content`: sealed items read back, other text refused."""

from __future__ import annotations

from mockllm.dialects.sealed import seal, unseal

ITEMS = [
    {"type": "message", "role": "assistant", "content": "Sunny."},
    {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
]


def test_sealed_items_read_back_and_seal_the_same_every_time() -> None:
    sealed = seal(ITEMS)
    assert sealed.startswith("gAAAAAB") and sealed == seal(ITEMS)
    assert unseal(sealed) == ITEMS


def test_text_mockllm_did_not_seal_is_none() -> None:
    sealed = seal(ITEMS)
    altered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    for text in (altered, "gAAAAABforged", "gAAAAAB!!", "plain", 7, None):
        assert unseal(text) is None, text
