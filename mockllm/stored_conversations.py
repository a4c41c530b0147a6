"""OpenAI's Conversations API: conversations the server keeps (their items and metadata),
which a Responses API request continues with `conversation` (its items go before the
request's input, and its input and output items are added to it once it is answered).

Kept in the state store (in memory, or on Redis for every process), each changed in one
atomic step, so that requests adding items at once, on any process, all land.
"""

from __future__ import annotations

from typing import Any

import orjson

from mockllm.conversation import JSON, derive_seed
from mockllm.errors import RequestError
from mockllm.protocol import array_too_long, check_metadata, invalid_type, missing
from mockllm.state import StateStore

PATH = "/v1/conversations"
MAX_NEW_ITEMS = 20  # items a request may add at a time (the API reference)
LIMIT = 10_000  # conversations kept, the oldest dropped first (as stored responses)


def not_found(conversation_id: str, param: str | None = "conversation_id") -> RequestError:
    """`Conversation with id 'conv_…' not found.` (404, as the API answers it; param null
    when a Responses API request names it)."""
    return RequestError(404, f"Conversation with id '{conversation_id}' not found.", param=param)


def item_not_found(item_id: str) -> RequestError:
    return RequestError(404, f"Item with id '{item_id}' not found.", param="item_id")


def _key(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


def load(store: StateStore, conversation_id: str, param: str | None = "conversation_id") -> JSON:
    """The kept document: {"conversation": the object, "items": [...]}; 404 when none."""
    raw = store.update(_key(conversation_id), lambda value: (value, value))
    if raw is None:
        raise not_found(conversation_id, param)
    document: JSON = orjson.loads(raw)
    return document


def create(store: StateStore, body: JSON, seed: int, created: int, listed: Any) -> JSON:
    """A new conversation from a `POST /v1/conversations` body (`items`, `metadata`);
    `listed(item, seed, index)` gives an input item its id as the API lists it."""
    check_metadata(body.get("metadata"))
    number = store.incr("conversations:created")
    conversation_id = "conv_" + "".join(
        f"{derive_seed(seed, 'conversation', number, k):016x}" for k in range(3)
    )
    items = _new_items(body.get("items"), "items", required=False)
    seed_bytes = conversation_id.encode()
    document: JSON = {
        "conversation": {
            "id": conversation_id,
            "object": "conversation",
            "created_at": created,
            "metadata": body.get("metadata") or {},
        },
        "items": [listed(item, seed_bytes, i) for i, item in enumerate(items)],
        "added": len(items),  # items ever added: the next one's number
    }
    store.update(_key(conversation_id), lambda value: (orjson.dumps(document).decode(), None))
    _drop_oldest(store, number, conversation_id)
    conversation: JSON = document["conversation"]
    return conversation


def _drop_oldest(store: StateStore, number: int, conversation_id: str) -> None:
    """Keep the last LIMIT conversations made: the one made LIMIT before this one goes. A
    ring of LIMIT slots names them; this one takes the slot of the one it drops (every
    process counts conversations together, so no two take a slot at once)."""
    slot = f"conversation-slot:{number % max(LIMIT, 1)}"
    older = store.update(slot, lambda value: (conversation_id, value))
    if older is not None and older != conversation_id:
        store.update(_key(older), lambda value: (None, None))


def add(
    store: StateStore,
    conversation_id: str,
    items: list[JSON],
    listed: Any,
    param: str = "conversation_id",
) -> list[JSON]:
    """Append `items` (each given the id the API lists it with) in one atomic change, so
    that requests adding at once, on any process, all land; return them."""

    def append(value: str | None) -> tuple[str | None, list[JSON] | None]:
        if value is None:
            return None, None
        document = orjson.loads(value)
        kept: list[JSON] = document["items"]
        seed = conversation_id.encode()
        # Numbered by how many items were ever added, not by how many are left: an id
        # given out before a delete is never given again.
        start = document.get("added", len(kept))
        added = [listed(item, seed, start + i) for i, item in enumerate(items)]
        kept += added
        document["added"] = start + len(added)
        return orjson.dumps(document).decode(), added

    added = store.update(_key(conversation_id), append)
    if added is None:
        raise not_found(conversation_id)
    return added


def update(store: StateStore, conversation_id: str, body: JSON) -> JSON:
    """`POST /v1/conversations/{id}`: new metadata."""
    if "metadata" not in body:
        raise missing("metadata")
    check_metadata(body["metadata"])

    def replace(value: str | None) -> tuple[str | None, JSON | None]:
        if value is None:
            return None, None
        document = orjson.loads(value)
        document["conversation"]["metadata"] = body["metadata"] or {}
        return orjson.dumps(document).decode(), document["conversation"]

    changed = store.update(_key(conversation_id), replace)
    if changed is None:
        raise not_found(conversation_id)
    return changed


def delete(store: StateStore, conversation_id: str) -> JSON:
    existed = store.update(_key(conversation_id), lambda value: (None, value is not None))
    if not existed:
        raise not_found(conversation_id)
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


def delete_item(store: StateStore, conversation_id: str, item_id: str) -> JSON:
    """Remove an item; the conversation object (as the API answers)."""

    def remove(value: str | None) -> tuple[str | None, tuple[str, JSON | None]]:
        if value is None:
            return None, ("conversation", None)
        document = orjson.loads(value)
        kept = [item for item in document["items"] if item.get("id") != item_id]
        if len(kept) == len(document["items"]):
            return value, ("item", None)
        document["items"] = kept
        return orjson.dumps(document).decode(), ("", document["conversation"])

    missing_what, conversation = store.update(_key(conversation_id), remove)
    if missing_what == "conversation":
        raise not_found(conversation_id)
    if conversation is None:
        raise item_not_found(item_id)
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
        raise array_too_long(param, MAX_NEW_ITEMS, len(value))
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


def find_item(document: JSON, item_id: str) -> JSON:
    """An item of the conversation; 404 when it has none such."""
    for item in document["items"]:
        if item.get("id") == item_id:
            return item  # type: ignore[no-any-return]
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
