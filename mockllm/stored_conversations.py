"""OpenAI's Conversations API: conversations the server keeps (their items and metadata),
which a Responses API request continues with `conversation` (its items go before the
request's input, and its input and output items are added to it once it is answered).

Kept in the state store as documents (in memory, or on Redis for every process), the
last 10,000 conversations, as stored responses are.
"""

from __future__ import annotations

from typing import Any

import orjson

from mockllm.conversation import JSON, derive_seed
from mockllm.errors import RequestError
from mockllm.protocol import check_metadata, invalid_type, missing
from mockllm.state import StateStore

PATH = "/v1/conversations"
KIND = "conversation"
LIMIT = 10_000
MAX_NEW_ITEMS = 20  # items a request may add at a time (the API reference)


def not_found(conversation_id: str, param: str = "conversation_id") -> RequestError:
    """`Conversation with id 'conv_…' not found.` (404, as the API answers it)."""
    return RequestError(404, f"Conversation with id '{conversation_id}' not found.", param=param)


def item_not_found(item_id: str) -> RequestError:
    return RequestError(404, f"Item with id '{item_id}' not found.", param="item_id")


def load(store: StateStore, conversation_id: str, param: str = "conversation_id") -> JSON:
    """The kept document: {"conversation": the object, "items": [...]}; 404 when none."""
    raw = store.get_document(KIND, conversation_id)
    if raw is None:
        raise not_found(conversation_id, param)
    document: JSON = orjson.loads(raw)
    return document


def save(store: StateStore, document: JSON) -> None:
    store.put_document(KIND, document["conversation"]["id"], orjson.dumps(document), LIMIT)


def create(store: StateStore, body: JSON, seed: int, created: int, listed: Any) -> JSON:
    """A new conversation from a `POST /v1/conversations` body (`items`, `metadata`);
    `listed(item, seed, index)` gives an input item its id as the API lists it."""
    check_metadata(body.get("metadata"))
    number = store.incr("conversations:created")
    conversation_id = "conv_" + "".join(
        f"{derive_seed(seed, 'conversation', number, k):016x}" for k in range(3)
    )
    document: JSON = {
        "conversation": {
            "id": conversation_id,
            "object": "conversation",
            "created_at": created,
            "metadata": body.get("metadata") or {},
        },
        "items": [],
    }
    add(document, _new_items(body.get("items"), "items", required=False), listed)
    save(store, document)
    conversation: JSON = document["conversation"]
    return conversation


def add(document: JSON, items: list[JSON], listed: Any) -> list[JSON]:
    """Append `items` (each given the id the API lists it with) and return them."""
    kept: list[JSON] = document["items"]
    seed = document["conversation"]["id"].encode()
    added = [listed(item, seed, len(kept) + i) for i, item in enumerate(items)]
    kept += added
    return added


def update(store: StateStore, conversation_id: str, body: JSON) -> JSON:
    """`POST /v1/conversations/{id}`: new metadata."""
    document = load(store, conversation_id)
    if "metadata" not in body:
        raise missing("metadata")
    check_metadata(body["metadata"])
    document["conversation"]["metadata"] = body["metadata"] or {}
    save(store, document)
    conversation: JSON = document["conversation"]
    return conversation


def new_items(body: JSON) -> list[JSON]:
    """The `items` of `POST /v1/conversations/{id}/items` (required, 1 to 20)."""
    return _new_items(body.get("items"), "items", required=True)


def _new_items(value: object, param: str, *, required: bool) -> list[JSON]:
    if value is None:
        if required:
            raise missing(param)
        return []
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    if len(value) > MAX_NEW_ITEMS:
        raise RequestError(
            400,
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{MAX_NEW_ITEMS}, but got an array with length {len(value)} instead.",
            code="array_above_max_length",
            param=param,
        )
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid_type(f"{param}[{i}]", "an object", item)
        items.append(item)
    return items


def page(items: list[JSON], limit: int, order: str, after: str | None) -> JSON:
    """A `list` page of items, as the API pages them (`order`, then after `after`)."""
    ordered = list(reversed(items)) if order == "desc" else list(items)
    if after is not None:
        ids = [item.get("id") for item in ordered]
        ordered = ordered[ids.index(after) + 1 :] if after in ids else []
    chosen = ordered[:limit]
    return {
        "object": "list",
        "data": chosen,
        "first_id": chosen[0].get("id") if chosen else None,
        "last_id": chosen[-1].get("id") if chosen else None,
        "has_more": len(ordered) > limit,
    }


def find_item(document: JSON, item_id: str) -> int:
    """The position of an item in the conversation; 404 when it has none such."""
    for i, item in enumerate(document["items"]):
        if item.get("id") == item_id:
            return i
    raise item_not_found(item_id)


def conversation_id_of(value: object) -> str | None:
    """The id a Responses API request's `conversation` names (a string, or `{"id": …}`)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        named = value.get("id")
        if not isinstance(named, str):
            raise missing("conversation.id")
        return named
    raise invalid_type("conversation", "one of a string or an object", value)
