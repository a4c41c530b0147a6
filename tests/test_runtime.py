"""Rules added at run time: each document is compiled once, however many follow it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from mockllm import runtime
from mockllm.app import create_app
from mockllm.config import ServerConfig
from mockllm.loader import load_text


@pytest.mark.anyio
async def test_each_added_document_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []

    def counted(text: str, source: str = "<rules>", order_base: int = 0):
        compiled.append(text)
        return load_text(text, source, order_base)

    monkeypatch.setattr(runtime, "load_text", counted)
    run = uuid.uuid4().hex  # texts no earlier test compiled
    app = create_app(ServerConfig(), ())
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        for i in range(4):
            added = await http.post(
                "/__admin/rules",
                content=f"# {run}\nrules:\n  - name: r{i}\n    match: {{model: m{i}}}\n"
                f"    reply: {{content: answer {i}}}\n",
                headers={"content-type": "application/yaml"},
            )
            assert added.status_code == 201, added.text
        assert len(compiled) == 4  # 1 + 2 + 3 + 4 = 10 before
        names = [r["name"] for r in (await http.get("/__admin/rules")).json()["rules"]]
        assert names == ["r0", "r1", "r2", "r3"]
        chat = {"model": "m2", "messages": [{"role": "user", "content": "hi"}]}
        answer = await http.post("/v1/chat/completions", json=chat)
        assert answer.json()["choices"][0]["message"]["content"] == "answer 2"
