"""The prefix cache: leading blocks found, least recently used out, bounded."""

from __future__ import annotations

from mockllm.conversation import Conversation, Message
from mockllm.prefix import PrefixCache, prompt_blocks

SYSTEM = "You are a careful assistant for a shop that sells lamps. " * 20


def make_conversation(
    *messages: tuple[str, str], model: str = "m", system: str = ""
) -> Conversation:
    return Conversation(
        model=model,
        messages=tuple(Message(role, text) for role, text in messages),
        body={},
        system=system or "\n".join(t for r, t in messages if r == "system"),
    )


def test_blocks_follow_the_prompt_and_leave_the_last_token_out():
    short = make_conversation(("user", "hi"))
    assert prompt_blocks(short, 16) == ()
    long = make_conversation(("system", SYSTEM), ("user", "which lamp?"))
    blocks = prompt_blocks(long, 16)
    assert len(blocks) > 10
    assert prompt_blocks(long, 16) == blocks  # the same prompt, the same chain


def test_a_shared_head_shares_blocks_and_a_different_head_shares_none():
    first = prompt_blocks(make_conversation(("system", SYSTEM), ("user", "which lamp?")), 16)
    second = prompt_blocks(make_conversation(("system", SYSTEM), ("user", "how much?")), 16)
    other = prompt_blocks(make_conversation(("system", "Be concise. " + SYSTEM), ("user", "x")), 16)
    shared = next(
        (i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), len(first)
    )
    assert shared >= len(first) - 2
    assert not set(other) & set(first)


def test_the_system_prompt_counts_however_the_family_carries_it():
    as_message = make_conversation(("system", SYSTEM), ("user", "hello"))
    as_instructions = make_conversation(("user", "hello"), system=SYSTEM)
    assert prompt_blocks(as_message, 16) == prompt_blocks(as_instructions, 16)


def test_another_model_shares_nothing():
    one = prompt_blocks(make_conversation(("system", SYSTEM), model="a"), 16)
    two = prompt_blocks(make_conversation(("system", SYSTEM), model="b"), 16)
    assert not set(one) & set(two)


def test_visit_finds_leading_blocks_only():
    cache = PrefixCache(10_000, 16)
    assert cache.visit([1, 2, 3]) == 0
    assert cache.visit([1, 2, 3]) == 48
    assert cache.visit([1, 2, 9]) == 32
    assert cache.visit([7, 2, 3]) == 0  # a different head: nothing after it counts


def test_least_recently_used_blocks_go_first_and_a_head_outlives_its_tail():
    cache = PrefixCache(4 * 16, 16)  # four blocks
    cache.visit([1, 2, 3])
    cache.visit([1, 5, 6])  # block 3 (the oldest tail) goes; the head 1 is the newest
    assert len(cache) == 4
    assert cache.visit([1, 2]) == 32
    assert cache.visit([1, 2, 3]) == 32  # 3 was dropped


def test_a_cache_smaller_than_a_prompt_keeps_the_prompts_head():
    cache = PrefixCache(2 * 16, 16)
    cache.visit([1, 2, 3, 4, 5])
    assert len(cache) == 2
    assert cache.visit([1, 2, 3, 4, 5]) == 32


def test_no_capacity_caches_nothing():
    cache = PrefixCache(0, 16)
    cache.visit([1, 2])
    assert cache.visit([1, 2]) == 0
