"""`POST /v1/responses/compact`: a conversation compacted, as the Responses API compacts it,
into its user messages and one `compaction` item standing for the rest.

The request is a Responses request's input (`input`, `previous_response_id`,
`instructions`, and the settings the Codex CLI sends with it: `tools`,
`parallel_tool_calls`, `reasoning`, `text`), checked as `POST /v1/responses` checks it.
The answer is a `response.compaction` object. Its compaction item's `encrypted_content`
seals the items it stands for (`sealed.py`), so a request that sends the compacted output
back as input sees the whole conversation again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import orjson

from mockllm.conversation import JSON, Conversation, derive_seed
from mockllm.dialects import DEFAULT_CONTEXT, ParseContext, responses
from mockllm.dialects.sealed import seal
from mockllm.errors import RequestError
from mockllm.protocol import canonical_or_refuse, load_object
from mockllm.render import prompt_tokens
from mockllm.tokens import count_prompt
from mockllm.wire import JSON_TYPE, Body

PATH = "/v1/responses/compact"
# The SDK's `responses.compact` arguments (the API reference's, with `image` and
# `safety_identifier`), and what the Codex CLI sends beside them (codex-api's
# CompactionInput: `tools`, `parallel_tool_calls`, `reasoning`, `text`).
ARGUMENTS = frozenset(
    {
        "model", "input", "instructions", "previous_response_id", "prompt_cache_key",
        "prompt_cache_options", "prompt_cache_retention", "safety_identifier", "service_tier",
        "image", "tools", "parallel_tool_calls", "reasoning", "text",
    }
)  # fmt: skip


def parse(
    raw: bytes, headers: Mapping[str, str], path: str, context: ParseContext = DEFAULT_CONTEXT
) -> Conversation:
    """Validate a compaction request as the API does (an argument it does not take is
    `Unknown parameter: 'NAME'.`; the rest as `POST /v1/responses` words it)."""
    body = load_object(raw)
    if not context.lenient and context.refuse_unknown:
        for name in body:
            if name not in ARGUMENTS:
                raise RequestError(
                    400, f"Unknown parameter: '{name}'.", code="unknown_parameter", param=name
                )
    # Read as the Responses request it compacts: only the arguments compaction takes (a
    # `stream` let through by --lenient does not stream it), nothing stored.
    taken = {name: value for name, value in body.items() if name in ARGUMENTS}
    request = responses.parse(orjson.dumps(taken), headers, path, context)
    return replace(request, body=body, canonical=canonical_or_refuse(body))


def compact(conversation: Conversation, created: int, seed: int) -> Body:
    """The `response.compaction` object: every user message of the conversation (earlier
    turns' too) as the API lists input items, then one compaction item sealing the other
    items (a compaction item among them replaced by the items it stands for)."""
    wire = conversation.wire
    assert isinstance(wire, responses.Wire)
    items = [item for item in wire.history if isinstance(item, dict)]
    key = seed.to_bytes(8, "big")
    kept = [_user_message(item, key, i) for i, item in enumerate(items) if _is_user(item)]
    folded = [item for item in responses.expand_compactions(items) if not _is_user(item)]
    compaction = {
        "id": _hex_id("cmp_", seed),
        "type": "compaction",
        "encrypted_content": seal(folded),
    }
    texts = [m.text for m in responses.read_items(folded, "input")]
    input_tokens = prompt_tokens(conversation)
    output_tokens = count_prompt(texts)  # the summary the compaction holds
    data = {
        "id": _hex_id("resp_", seed),
        "object": "response.compaction",
        "created_at": created,
        "output": [*kept, compaction],
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
    }
    return Body(200, JSON_TYPE, orjson.dumps(data), offsets=(0.0,))


def _is_user(item: JSON) -> bool:
    return item.get("type", "message") == "message" and item.get("role") == "user"


def _user_message(item: JSON, key: bytes, index: int) -> JSON:
    """A kept user message as the API gives it back: its id (one of its own when it was
    sent without), its text as `input_text` parts."""
    listed = responses.listed_item(item, key, index)
    return {
        "id": listed["id"],
        "type": "message",
        "status": listed["status"],
        "content": listed["content"],
        "role": "user",
    }


def _hex_id(prefix: str, seed: int) -> str:
    """A 48-hex-digit id, as the API's, derived from the exchange's seed."""
    return prefix + "".join(f"{derive_seed(prefix, seed, k):016x}" for k in range(3))


# POST /v1/responses/compact: answered from the request alone, nothing stored.
DIALECT = replace(
    responses.DIALECT,
    paths=(PATH,),
    parse=parse,
    direct=compact,
    remember=None,
    detach=None,
)
