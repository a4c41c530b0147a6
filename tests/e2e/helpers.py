"""Helpers for the end-to-end tests: request factories, raw SSE parsing, shape checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
from openai import OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conftest import RunningServer, free_port

# The scripted replies of the bundled scenarios (scenarios/greeting.yaml, weather.yaml).
HELLO_REPLY = "Hello! How can I help you today?"
COUNT_CHUNKS = ["One", ", two", ", three", ", four", ", five."]
FROZEN = 1_700_000_000
SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"

# A prompt no bundled rule matches: the default generator answers it.
UNMATCHED_PROMPT = "Tell me something about lighthouses on rocky coasts."

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}

COMPLETION_KEYS = ("id", "object", "created", "model", "choices", "usage", "system_fingerprint")
CHOICE_KEYS = ("index", "message", "logprobs", "finish_reason")
MESSAGE_KEYS = ("role", "content", "refusal")
CHUNK_KEYS = ("id", "object", "created", "model", "choices", "system_fingerprint")
CHUNK_CHOICE_KEYS = ("index", "delta", "logprobs", "finish_reason")
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
ERROR_KEYS = {"message", "type", "param", "code"}


def make_chat_request(
    content: str | list[dict[str, Any]] = "Hello!", *, model: str = "gpt-4o-mini", **fields: Any
) -> dict[str, Any]:
    """A chat completion request body with one user message (more fields as keywords)."""
    return {"model": model, "messages": [{"role": "user", "content": content}], **fields}


def post_chat(
    base_url: str, body: Any, *, timeout: float = 10.0, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST a body (a dict is sent as JSON; bytes are sent as they are) to /chat/completions."""
    all_headers = {"authorization": "Bearer sk-test", **(headers or {})}
    url = f"{base_url}/chat/completions"
    if isinstance(body, bytes):
        all_headers.setdefault("content-type", "application/json")
        return httpx.post(url, content=body, headers=all_headers, timeout=timeout)
    return httpx.post(url, json=body, headers=all_headers, timeout=timeout)


def sse_payloads(raw: bytes) -> list[str]:
    """The `data:` payloads of an SSE body, asserting the exact framing OpenAI uses.

    Every event is one `data: <payload>` line followed by a blank line; nothing else.
    """
    assert raw.endswith(b"\n\n"), f"stream does not end with a blank line: {raw[-80:]!r}"
    events = raw[:-2].split(b"\n\n")
    payloads = []
    for event in events:
        assert event.startswith(b"data: "), f"event is not a `data: ` line: {event[:120]!r}"
        assert b"\n" not in event and b"\r" not in event, f"event spans lines: {event[:120]!r}"
        payloads.append(event[len(b"data: ") :].decode("utf-8"))
    return payloads


def check_keys(obj: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if k not in obj]
    assert not missing, f"{what} lacks required fields {missing}: {obj}"


def check_completion(data: dict[str, Any]) -> ChatCompletion:
    """Validate a non-streaming body with the SDK's type, requiring every documented field."""
    check_keys(data, COMPLETION_KEYS, "chat.completion")
    for choice in data["choices"]:
        check_keys(choice, CHOICE_KEYS, "choice")
        check_keys(choice["message"], MESSAGE_KEYS, "message")
    if data["usage"] is not None:
        check_keys(data["usage"], USAGE_KEYS, "usage")
    completion = ChatCompletion.model_validate(data)
    assert completion.object == "chat.completion"
    return completion


def check_chunk(data: dict[str, Any]) -> ChatCompletionChunk:
    """Validate one stream chunk with the SDK's type, requiring every documented field."""
    check_keys(data, CHUNK_KEYS, "chat.completion.chunk")
    for choice in data["choices"]:
        check_keys(choice, CHUNK_CHOICE_KEYS, "chunk choice")
        assert isinstance(choice["delta"], dict)
    chunk = ChatCompletionChunk.model_validate(data)
    assert chunk.object == "chat.completion.chunk"
    return chunk


def stream_chunks(base_url: str, body: dict[str, Any]) -> tuple[httpx.Response, bytes, list[dict]]:
    """POST a streaming request; return the response, its raw bytes and the parsed chunks.

    Asserts the framing: `data: [DONE]` last and exactly once, every other event a JSON chunk.
    """
    response = post_chat(base_url, {**body, "stream": True})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    raw = response.content
    payloads = sse_payloads(raw)
    assert payloads[-1] == "[DONE]", f"last event is {payloads[-1]!r}, not [DONE]"
    assert payloads.count("[DONE]") == 1
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        check_chunk(chunk)
    return response, raw, chunks


def content_deltas(chunks: list[dict[str, Any]], index: int = 0) -> list[str]:
    """The non-empty content deltas of one choice, in order."""
    out = []
    for chunk in chunks:
        for choice in chunk["choices"]:
            if choice["index"] == index and choice["delta"].get("content"):
                out.append(choice["delta"]["content"])
    return out


def check_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an error response in OpenAI's shape; return its `error` object."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    data = response.json()
    assert set(data) == {"error"}, data
    error = data["error"]
    assert set(error) == ERROR_KEYS, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    return error


def write_scenario(folder: Path, text: str, name: str = "rules.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def journal(server_url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server_url}/__admin/requests", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["requests"]  # type: ignore[no-any-return]


def reset(server_url: str) -> None:
    response = httpx.post(f"{server_url}/__admin/reset", timeout=5)
    assert response.status_code == 200, response.text


def openai_sdk(server: Any) -> OpenAI:
    """The official SDK against a running server, without retries (a refusal is seen)."""
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def sdk_refusal(status: int, call: Any) -> dict[str, Any]:
    """The error body of an SDK call the server refuses with `status`."""
    import pytest

    with pytest.raises(openai.APIStatusError) as caught:
        call()
    assert caught.value.status_code == status, caught.value
    body = caught.value.body
    assert isinstance(body, dict)
    return body


# A Responses API function tool, strict-ready: the weather of a city.
RESPONSES_WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


def failed_start(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`mockllm serve --port 0 ARGS`, which should stop at start: how it ended."""
    return subprocess.run(
        [sys.executable, "-m", "mockllm", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def launch(command: str, *args: str, cwd: Path) -> RunningServer:
    """Start `python -m mockllm COMMAND --port P ARGS` without waiting for it."""
    port = free_port()
    log_path = cwd / f"{command}-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mockllm", command, "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=str(cwd),
        )
    return RunningServer(proc, port, log_path)


def wait_healthy(*servers: RunningServer) -> None:
    # Eight servers start at once: on two busy cores their imports alone can take 20 s.
    deadline = time.monotonic() + 60
    for server in servers:
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(f"mockllm exited with {server.proc.returncode}:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/__admin/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mockllm did not become healthy:\n{server.log()}")
            time.sleep(0.03)
