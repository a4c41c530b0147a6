"""The hot path's memo: bounded by count and by bytes, emptied when full."""

from __future__ import annotations

from mockllm.cache import Memo, per_text


def test_full_memo_is_emptied_for_a_new_entry() -> None:
    memo: Memo[int, int] = Memo(2)
    for key in (1, 2):
        memo.put(key, key)
    assert memo.get(1) == 1 and memo.get(2) == 2
    memo.put(3, 3)
    assert memo.get(3) == 3 and len(memo) == 1
    assert memo.get(1) is None and memo.get(2) is None


def test_bytes_bound_and_oversized_values() -> None:
    memo: Memo[str, bytes] = Memo(100, max_bytes=100)
    memo.put("big", b"x" * 30, 30)
    assert memo.get("big") is None  # over a quarter of the budget: never kept
    for key in "abcd":
        memo.put(key, b"x" * 25, 25)
    assert all(memo.get(k) is not None for k in "abcd")
    memo.put("e", b"x" * 25, 25)
    assert memo.get("e") is not None and memo.get("a") is None  # emptied to make room


def test_clear() -> None:
    memo: Memo[str, int] = Memo(8)
    memo.put("a", 1)
    memo.clear()
    assert memo.get("a") is None and len(memo) == 0


def test_a_text_is_read_once_and_none_is_kept_too() -> None:
    reads: list[str] = []

    @per_text
    def shout(text: str) -> str | None:
        reads.append(text)
        return text.upper() if text else None

    assert [shout(t) for t in ("abc", "abc", "", "", "abc")] == ["ABC", "ABC", None, None, "ABC"]
    assert reads == ["abc", ""]
    huge = "x" * (5 << 20)  # over a quarter of the 16 MiB kept: read each time
    shout(huge)
    shout(huge)
    assert reads == ["abc", "", huge, huge]
