"""One request through a server's ASGI app, in the same process (no sockets): what the
in-process measurements (`metrics_cost.py`, `agent_cost.py`) send."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any


async def post(app: Any, path: str, headers: Mapping[str, str], body: bytes) -> int:
    """POST `body` to `path` with `headers`, read the answer to its end, and return its
    status. The client stays until the answer is whole, as the writer watches for it to
    leave."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            *(
                (k.lower().encode(), v.encode())
                for k, v in headers.items()
                if k.lower() != "content-length"
            ),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }
    sent, over = False, asyncio.Event()
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await over.wait()
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    over.set()
    return status
