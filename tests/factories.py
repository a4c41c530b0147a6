"""Builders for test inputs."""

from __future__ import annotations

from typing import Any

import orjson

from mockllm.protocol import ChatRequest


def make_chat_request(
    model: str = "gpt-4o",
    user: str = "Hello",
    *,
    messages: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/v1/chat/completions",
    **fields: Any,
) -> ChatRequest:
    body = {"model": model, "messages": messages or [{"role": "user", "content": user}], **fields}
    return ChatRequest.parse(orjson.dumps(body), headers or {}, path)
