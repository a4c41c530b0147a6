"""`mockllm cassette check`: recordings re-sent to an upstream whose answers keep or change shape.

The upstream is a small local HTTP server whose answers can change: new values with the
same shape, or a changed shape (a key gone, a key added, another event order, a rate-limit
header gone). The cassette is recorded through `mockllm record` with the openai SDK.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from openai import OpenAI

from mockllm.cli import main
from tests.conftest import RunningServer, start_server

KEY = "sk-check-key-only-in-the-environment-123456"
DOC = Path(__file__).resolve().parents[2] / "docs" / "recording.md"


class Upstream(http.server.ThreadingHTTPServer):
    """Answers chat completions; `mode` says which shape (and which words) it answers with."""

    mode: ClassVar[str] = "original"
    auth: ClassVar[list[str]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Upstream.auth.append(self.headers.get("authorization", ""))
        mode = Upstream.mode
        words = ["Hello", " there"] if mode == "original" else ["Different", " words", " now"]
        headers = {"x-request-id": f"req_{mode}"}
        if mode != "changed":
            headers["x-ratelimit-remaining-requests"] = "99"
        if body.get("stream"):
            self._stream(words, mode, headers)
        else:
            self._json(words, mode, headers)

    def _chunk(self, mode: str, **fields: Any) -> dict[str, Any]:
        chunk = {"id": f"chatcmpl-{mode}", "object": "chat.completion.chunk", **fields}
        if mode == "changed":
            chunk["obfuscation"] = "x"  # a key the recording never had
        return chunk

    def _stream(self, words: list[str], mode: str, headers: dict[str, str]) -> None:
        events = [self._chunk(mode, choices=[{"index": 0, "delta": {"role": "assistant"}}])]
        events += [
            self._chunk(mode, choices=[{"index": 0, "delta": {"content": w}}]) for w in words
        ]
        finish = {"index": 0, "delta": {}, "finish_reason": "stop"}
        events.append(self._chunk(mode, choices=[finish]))
        if mode != "changed":  # the changed API stopped sending the usage chunk
            events.append(self._chunk(mode, choices=[], usage={"total_tokens": 3}))
        payload = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
        self._send(payload + b"data: [DONE]\n\n", "text/event-stream", headers)

    def _json(self, words: list[str], mode: str, headers: dict[str, str]) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(words)}
        if mode == "changed":
            message["annotations"] = []
        completion: dict[str, Any] = {
            "id": f"chatcmpl-{mode}",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": len(words), "total_tokens": 9},
        }
        if mode != "changed":
            completion["system_fingerprint"] = "fp_1"
        self._send(json.dumps(completion).encode(), "application/json", headers)

    def _send(self, payload: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = Upstream(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def recorded(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cassette recorded through the record proxy with the openai SDK: a reply and a stream."""
    tmp = tmp_path_factory.mktemp("drift")
    folder = tmp / "cassettes"
    Upstream.mode = "original"
    recorder: RunningServer = start_server(
        "--upstream",
        upstream,
        "--cassettes",
        str(folder),
        "--cassette",
        "story",
        "--record-mode",
        "all",
        tmp_path=tmp,
    )
    try:
        client = OpenAI(base_url=recorder.base_url, api_key="sk-recorded-key-0000000000000")
        messages = [{"role": "user", "content": "Say hello"}]
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert reply.choices[0].message.content == "Hello there"
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert chunks[-1].usage is not None
    finally:
        recorder.stop()
    assert (folder / "story.yaml").is_file()
    return folder


def check(folder: Path, upstream: str, *more: str) -> tuple[int, str]:
    Upstream.auth.clear()
    result = CliRunner().invoke(
        main,
        ["cassette", "check", str(folder), "--upstream", upstream, *more],
        env={"OPENAI_API_KEY": KEY},
    )
    assert KEY not in result.output
    return result.exit_code, result.output


def test_an_upstream_answering_new_values_in_the_same_shape_passes(
    recorded: Path, upstream: str
) -> None:
    Upstream.mode = "same_shape"
    code, output = check(recorded, upstream)
    assert code == 0, output
    assert output.splitlines() == [
        "story.yaml#0: POST /v1/chat/completions: ok",
        "story.yaml#1: POST /v1/chat/completions (stream): ok",
        "2 interaction(s) checked: 2 ok, 0 drifted, 0 failed; 0 skipped (not sent again)",
    ]
    assert output.strip() in DOC.read_text()  # as docs/recording.md shows it
    assert Upstream.auth == [f"Bearer {KEY}"] * 2  # the key from the environment was sent
    assert KEY not in (recorded / "story.yaml").read_text()


def test_an_upstream_that_changed_its_shape_is_reported(recorded: Path, upstream: str) -> None:
    Upstream.mode = "changed"
    code, output = check(recorded, upstream)
    assert code == 1, output
    assert output.splitlines() == [
        "story.yaml#0: POST /v1/chat/completions: drift",
        "    keys no longer sent: system_fingerprint",
        "    new keys: choices[].message.annotations",
        "    header names no longer sent: x-ratelimit-remaining-requests",
        "story.yaml#1: POST /v1/chat/completions (stream): drift",
        "    keys no longer sent: usage, usage.total_tokens",
        "    new keys: obfuscation",
        "    event types: recorded role content finish usage [DONE]",
        "                 now      role content finish [DONE]",
        "    header names no longer sent: x-ratelimit-remaining-requests",
        "2 interaction(s) checked: 0 ok, 2 drifted, 0 failed; 0 skipped (not sent again)",
    ]
    assert output.strip() in DOC.read_text()


def test_the_json_report_for_ci(recorded: Path, upstream: str) -> None:
    Upstream.mode = "changed"
    code, output = check(recorded / "story.yaml", upstream, "--format", "json")
    assert code == 1
    report = json.loads(output)
    assert (report["checked"], report["ok"], report["drifted"], report["failed"]) == (2, 0, 2, 0)
    stream = report["interactions"][1]
    assert stream["interaction"] == "story.yaml#1" and stream["stream"] is True
    assert {
        "what": "events",
        "recorded": ["role", "content", "finish", "usage", "[DONE]"],
        "now": ["role", "content", "finish", "[DONE]"],
    } in stream["differences"]


def test_an_upstream_that_cannot_be_reached_fails_the_check(recorded: Path) -> None:
    code, output = check(recorded, "http://127.0.0.1:9/v1")
    assert code == 1
    assert "story.yaml#0: POST /v1/chat/completions: error" in output
    assert "0 ok, 0 drifted, 2 failed" in output
