"""A prefix cache: how many leading tokens of a prompt a model server has seen recently.

A prompt is read as a chain of fixed-size blocks of tokens (tool definitions, the system
prompt, then each message with its role), each block named by a hash of itself and every
block before it, as vLLM's automatic prefix caching names them. Two prompts share cached
blocks exactly as far as their leading tokens agree, at block granularity. The cache
holds at most `capacity_tokens` tokens of blocks and drops the least recently used first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import orjson

from mockllm.conversation import Conversation
from mockllm.tokens import split_tokens


def prompt_blocks(request: Conversation, block_tokens: int) -> tuple[int, ...]:
    """The chained hashes of the prompt's full blocks.

    The last token of the prompt is never in a block: a server always computes at least
    one token of a prompt, so a prompt sent twice is served from cache up to its last
    full block before that token."""
    stream: list[str] = [request.model]
    if request.tools:
        stream.append("<tools>")
        stream += split_tokens(orjson.dumps([t.parameters for t in request.tools]).decode())
    # The system prompt first, however the family carries it (chat's system messages,
    # the Responses API's `instructions`, Anthropic's `system`): one server, one cache.
    if request.system:
        stream.append("<system>")
        stream += split_tokens(request.system)
    for message in request.messages:
        if message.role not in ("system", "developer"):
            stream.append(f"<{message.role}>")
            stream += split_tokens(message.text)
    usable = len(stream) - 2  # neither the model's name nor the last token
    blocks = []
    chain = hash(stream[0])  # the model: another model's cache is another cache
    for start in range(1, 1 + usable - usable % block_tokens, block_tokens):
        chain = hash((chain, *stream[start : start + block_tokens]))
        blocks.append(chain)
    return tuple(blocks)


class PrefixCache:
    """Blocks seen recently, least recently used first out; at most `capacity_tokens`."""

    def __init__(self, capacity_tokens: int, block_tokens: int) -> None:
        self.block_tokens = block_tokens
        self.capacity = max(capacity_tokens // block_tokens, 0)
        self._blocks: OrderedDict[int, None] = OrderedDict()

    def visit(self, blocks: Sequence[int]) -> int:
        """Tokens of the prompt already cached (its leading blocks found), then keep all
        of its blocks as the most recently used."""
        found = 0
        cached = self._blocks
        for block in blocks:
            if block not in cached:
                break
            found += 1
        # Most recent last, and the prompt's first block most recent of all: eviction then
        # takes a prompt's tail before its head, so a shared head (the system prompt)
        # outlives the turns that follow it.
        for block in reversed(blocks):
            cached[block] = None
            cached.move_to_end(block)
        while len(cached) > self.capacity:
            cached.popitem(last=False)
        return found * self.block_tokens

    def __len__(self) -> int:
        return len(self._blocks)

    def clear(self) -> None:
        self._blocks.clear()
