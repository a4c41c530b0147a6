"""The tokenizer: lossless, deterministic, CJK-aware."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mockllm.tokens import count_prompt, count_tokens, group_tokens, split_tokens


@given(st.text())
def test_split_is_lossless(text: str):
    assert "".join(split_tokens(text)) == text


def test_cjk_is_one_token_per_character():
    assert split_tokens("你好世界") == ["你", "好", "世", "界"]


def test_english_words_carry_their_space():
    assert split_tokens("Hello there, world") == ["Hello", " there", ",", " world"]


def test_counts():
    assert count_tokens("") == 0
    assert count_tokens("Hello there") == 2
    assert count_prompt(["Hello there"]) == 3 + 4 + 2


def test_group_tokens():
    assert group_tokens(["a", "b", "c"], 2) == ["ab", "c"]
    assert group_tokens(["a", "b"], 1) == ["a", "b"]
