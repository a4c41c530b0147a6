"""Chat Completions' stored completions: a request with `store: true` is kept once answered
(the completion, its metadata and the request's messages), as the API keeps it for
`GET /v1/chat/completions[/{id}[/messages]]`, metadata updates and deletion.

Kept in the state store as documents (in memory, or on Redis for every process): the last
10,000, with an index of their ids in the order they were stored. Both are written as
documents are, without waiting (kept while a shared store is away, as stored responses are),
so that keeping one never fails the answer that asked for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from mockllm.conversation import JSON
from mockllm.errors import RequestError
from mockllm.protocol import check_metadata, missing
from mockllm.state import StateStore

KIND = "chat_completion"
LIMIT = 10_000
_INDEX = "chat_completion.stored"  # one document per completion: the order they were stored


def not_found(completion_id: str) -> RequestError:
    return RequestError(
        404, f"Chat completion with id '{completion_id}' not found.", param="completion_id"
    )


def keep(store: StateStore, completion: JSON, request: Mapping[str, Any]) -> None:
    """Keep an answered `store: true` request: its completion (with the request's
    `metadata`) and its messages, each with the id the API lists it by."""
    completion = {**completion, "metadata": request.get("metadata") or {}}
    messages = []
    for i, message in enumerate(request.get("messages") or []):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        parts = content if isinstance(content, list) else None
        text = content if isinstance(content, str) else None
        if parts is not None:
            text = "".join(p.get("text", "") for p in parts if isinstance(p, dict)) or None
        kept = {
            "id": f"{completion['id']}-{i}",
            "role": message.get("role"),
            "content": text,
            "name": message.get("name"),
            "content_parts": parts,
        }
        for field in ("tool_calls", "tool_call_id", "function_call", "refusal"):
            if message.get(field) is not None:
                kept[field] = message[field]
        messages.append(kept)
    # The model the request named too: a list by model finds a completion by either name
    # (gpt-4o, or the gpt-4o-2024-08-06 its answer names).
    document = {"completion": completion, "messages": messages, "asked": request.get("model")}
    store.put_document(KIND, completion["id"], orjson.dumps(document), LIMIT)
    store.put_document(_INDEX, completion["id"], b"", LIMIT)


def load(store: StateStore, completion_id: str) -> JSON:
    raw = store.get_document(KIND, completion_id)
    if raw is None:
        raise not_found(completion_id)
    document: JSON = orjson.loads(raw)
    return document


def update(store: StateStore, completion_id: str, body: JSON) -> JSON:
    """`POST /v1/chat/completions/{id}`: new metadata; the completion."""
    document = load(store, completion_id)
    if "metadata" not in body:
        raise missing("metadata")
    check_metadata(body["metadata"])
    document["completion"]["metadata"] = body["metadata"] or {}
    if not store.replace_document(KIND, completion_id, orjson.dumps(document)):
        raise not_found(completion_id)  # deleted since it was read, on any process
    completion: JSON = document["completion"]
    return completion


def delete(store: StateStore, completion_id: str) -> JSON:
    load(store, completion_id)
    store.delete_document(KIND, completion_id)
    store.delete_document(_INDEX, completion_id)
    return {"object": "chat.completion.deleted", "id": completion_id, "deleted": True}


def listed(
    store: StateStore, model: str | None, metadata: dict[str, str], order: str
) -> list[JSON]:
    """The stored completions (oldest first unless `order` is desc), of `model` (the model
    the request named or the one its answer names) and with every `metadata` pair given,
    when they are given."""
    found = []
    for completion_id in store.document_names(_INDEX):
        raw = store.get_document(KIND, completion_id)
        if raw is None:
            continue
        document = orjson.loads(raw)
        completion = document["completion"]
        if model is not None and model not in (completion.get("model"), document.get("asked")):
            continue
        kept = completion.get("metadata") or {}
        if any(kept.get(k) != v for k, v in metadata.items()):
            continue
        found.append(completion)
    return found[::-1] if order == "desc" else found
