"""Builders for test inputs."""

from __future__ import annotations

from typing import Any

import orjson

from mockllm.conversation import Conversation
from mockllm.dialects import chat


def make_chat_request(
    model: str = "gpt-4o",
    user: str = "Hello",
    *,
    messages: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/v1/chat/completions",
    **fields: Any,
) -> Conversation:
    body = {"model": model, "messages": messages or [{"role": "user", "content": user}], **fields}
    return chat.parse(orjson.dumps(body), headers or {}, path)
