"""The tokenizer: lossless, deterministic, CJK-aware."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mockllm.tokens import (
    _TOKEN,
    _TOKEN_ASCII,
    count_prompt,
    count_tokens,
    group_tokens,
    split_tokens,
)


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


@settings(max_examples=3000, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab '’stdmlrve.,!?-_ \t\n0123456789中文かなカナ한국éß")))
    | st.text()
)
def test_every_token_split_from_a_text_counts_as_one_on_its_own(text: str) -> None:
    assert all(count_tokens(token) == 1 for token in split_tokens(text))


def test_ascii_split_is_the_unicode_split_on_every_pair_of_ascii_characters() -> None:
    """An ASCII text is split by a faster pattern; it must cut exactly where the general
    one does, including the separators \\x1c-\\x1f that Python's re counts as spaces."""
    chars = [chr(code) for code in range(128)]
    for first in chars:
        for second in chars:
            text = first + second
            assert _TOKEN_ASCII.findall(text) == _TOKEN.findall(text), repr(text)


@settings(max_examples=3000)
@given(
    st.text(
        alphabet=st.sampled_from([chr(c) for c in range(128)] + list("  'sdmtlvre0123abcXYZ\t\n")),
        max_size=60,
    )
)
def test_ascii_split_is_the_unicode_split(text: str) -> None:
    assert _TOKEN_ASCII.findall(text) == _TOKEN.findall(text)
    assert split_tokens(text) == _TOKEN.findall(text)
