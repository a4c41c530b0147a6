"""The exchange line: one per exchange, the documented fields, in text and JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

RULES = """\
version: 1
rules:
  - name: plain hello
    match: { last_user: "hello" }
    reply: { content: "Hi there" }
  - name: cut
    match: { last_user: "cut me" }
    reply:
      chunks: ["one", " two", " three"]
      fault: { disconnect_after_tokens: 1 }
  - name: busy
    match: { last_user: "busy" }
    reply:
      error: { status: 429, message: "Slow down, \\"please\\"" }
"""


def _post(url: str, text: str, stream: bool = False) -> httpx.Response | None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    try:
        return httpx.post(f"{url}/v1/chat/completions", json={**body, "stream": stream}, timeout=5)
    except httpx.HTTPError:  # the cut stream
        return None


def _exercise(server: Any, tmp_path: Path) -> dict[str, str]:
    ids = {}
    for text, stream in (("hello", False), ("busy", False), ("cut me", True)):
        response = _post(server.url, text, stream)
        if response is not None:
            ids[text] = response.headers["x-request-id"]
    server.stop()
    return ids


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "log.yaml"
    path.write_text(RULES)
    return path


def test_text_lines(serve: Any, tmp_path: Path, scenario: Path) -> None:
    server = serve("--scenarios", str(scenario))
    ids = _exercise(server, tmp_path)
    lines = [line for line in server.log().splitlines() if "mockllm.exchange:" in line]
    assert len(lines) == 3, server.log()
    prefix = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO mockllm\.exchange: exchange "
    hello, busy, cut = lines
    assert re.fullmatch(
        prefix + f'id={ids["hello"]} rule="log.yaml#plain hello" model=gpt-4o-mini '
        r"stream=false status=200 tokens=\d+ ms=\d+",
        hello,
    ), hello
    assert re.fullmatch(
        prefix + f"id={ids['busy']} rule=log.yaml#busy model=gpt-4o-mini stream=false "
        r'status=429 tokens=0 ms=\d+ error="Slow down, \\"please\\""',
        busy,
    ), busy
    assert re.fullmatch(
        prefix + r"id=req_[0-9a-f]{32} rule=log.yaml#cut model=gpt-4o-mini stream=true "
        r"status=200 tokens=\d+ ms=\d+ fault=disconnect_after_tokens=1",
        cut,
    ), cut


def test_json_lines(serve: Any, tmp_path: Path, scenario: Path) -> None:
    server = serve("--scenarios", str(scenario), "--log-format", "json")
    ids = _exercise(server, tmp_path)
    found = []
    for line in server.log().splitlines():
        if line.startswith("{") and '"event":"exchange"' in line:
            found.append(json.loads(line))
    assert len(found) == 3, server.log()
    hello, busy, cut = found
    keys = ["event", "id", "rule", "model", "stream", "status", "tokens", "ms"]
    assert list(hello) == keys
    assert hello["id"] == ids["hello"] and hello["rule"] == "log.yaml#plain hello"
    assert (hello["stream"], hello["status"]) == ("false", 200)
    assert hello["tokens"] > 0 and isinstance(hello["ms"], int)
    assert list(busy) == [*keys, "error"]
    assert (busy["id"], busy["status"], busy["error"]) == (ids["busy"], 429, 'Slow down, "please"')
    assert list(cut) == [*keys, "fault"]
    assert (cut["stream"], cut["fault"]) == ("true", "disconnect_after_tokens=1")
