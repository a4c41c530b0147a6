"""Cassettes other tools recorded replay through the openai SDK, stream and non-stream.

The hand-written ones under tests/data/cassettes/e2e/ hold the body formats found in the
wild (gzip and brotli as !!binary, plain !!binary, one SSE text, bytes); one more is
recorded here by vcrpy itself, with the openai SDK, against a local mockllm.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
import yaml
from openai import OpenAI

from tests.conftest import RunningServer, start_server

from .helpers import check_chunk, check_completion, journal, write_scenario

E2E = Path(__file__).resolve().parents[1] / "data" / "cassettes" / "e2e"
MODEL = "gpt-4o-mini"

# (cassette, prompt, content)
COMPLETIONS = [
    ("gzip_base64.yaml", "foreign gzip", "Hello from a gzipped body."),
    ("brotli.yaml", "foreign brotli", "Hello from a brotli body."),
    ("binary_plain.yaml", "foreign binary", "Hello from a binary body."),
    ("string_as_bytes.yaml", "foreign bytes", "Grüße als Bytes ✓"),
]
# (cassette, prompt, content deltas, more request fields)
STREAMS = [
    ("gzip_base64.yaml", "foreign gzip stream", ["Gzipped", " stream", " replayed."], {}),
    ("brotli.yaml", "foreign brotli stream", ["Brotli", " stream", " replayed."], {}),
    (
        "sse_one_string.yaml",
        "foreign sse string",
        ["One", " string", " stream."],
        {"stream_options": {"include_usage": True}},
    ),
    ("string_as_bytes.yaml", "foreign bytes stream", ["Grüße", " aus", " Köln", " ✓"], {}),
]

LOCAL_RULES = """\
version: 1
rules:
  - name: vcrpy-plain
    match: { last_user: "recorded by vcrpy" }
    reply: { content: "An answer vcrpy kept." }
  - name: vcrpy-stream
    match: { last_user: "streamed for vcrpy" }
    reply: { chunks: ["Streamed", " for", " vcrpy", "."] }
"""
VCRPY_RECORD = """
import json, sys
import openai, vcr

path, base_url = sys.argv[1:3]
client = openai.OpenAI(base_url=base_url, api_key="sk-vcrpy-test", max_retries=0)
with vcr.use_cassette(path, record_mode="once"):
    plain = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "recorded by vcrpy"}])
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "streamed for vcrpy"}],
        stream=True)
    chunks = [chunk.model_dump(mode="json") for chunk in stream]
print(json.dumps({"plain": plain.model_dump(mode="json"), "chunks": chunks}))
"""


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def stored_body(cassette: Path, prompt: str) -> bytes:
    """The response body recorded for `prompt`, decoded here independently of mockllm."""
    for item in yaml.safe_load(cassette.read_text(encoding="utf-8"))["interactions"]:
        request_body = item["request"]["body"]
        if isinstance(request_body, bytes):
            request_body = request_body.decode()
        if json.loads(request_body)["messages"][-1]["content"] != prompt:
            continue
        body = item["response"]["body"]["string"]
        body = body if isinstance(body, bytes) else body.encode()
        headers = {k.lower(): v[0] for k, v in item["response"]["headers"].items()}
        encoding = headers.get("content-encoding")
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "br":
            return brotli.decompress(body)  # type: ignore[no-any-return]
        return body
    raise AssertionError(f"{cassette.name} holds no request for {prompt!r}")


@pytest.fixture(scope="module")
def recorded_by_vcrpy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A cassette vcrpy records with the SDK against a local mockllm (in a subprocess, so
    that vcrpy's patching of the HTTP clients stays out of this one), and what the SDK got."""
    tmp = tmp_path_factory.mktemp("vcrpy")
    local = start_server("--scenarios", str(write_scenario(tmp, LOCAL_RULES)), tmp_path=tmp)
    path = tmp / "vcrpy_openai_sdk.yaml"
    try:
        done = subprocess.run(
            [sys.executable, "-c", VCRPY_RECORD, str(path), local.base_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        local.stop()
    assert done.returncode == 0, done.stderr
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]
    assert [json.loads(i["request"]["body"])["messages"][-1]["content"] for i in items] == [
        "recorded by vcrpy",
        "streamed for vcrpy",
    ]
    return path, json.loads(done.stdout)


@pytest.fixture(scope="module")
def replayer(
    recorded_by_vcrpy: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One server replaying the hand-written cassettes and the one vcrpy just recorded."""
    tmp = tmp_path_factory.mktemp("foreign")
    folder = tmp / "cassettes"
    shutil.copytree(E2E, folder)
    shutil.copy(recorded_by_vcrpy[0], folder)
    server = start_server("--cassettes", str(folder), tmp_path=tmp)
    yield server
    server.stop()


def client_for(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


@pytest.mark.parametrize(("cassette", "prompt", "content"), COMPLETIONS)
def test_foreign_completion_replays(
    replayer: RunningServer, cassette: str, prompt: str, content: str
) -> None:
    with client_for(replayer) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=messages(prompt)
        )
    completion = raw.parse()
    assert completion.choices[0].message.content == content
    assert completion.usage is not None and completion.usage.total_tokens == 17
    check_completion(json.loads(raw.http_response.content))
    assert raw.http_response.content == stored_body(E2E / cassette, prompt)
    assert "content-encoding" not in raw.headers  # served decoded
    assert journal(replayer.url)[-1]["rule"] == f"{cassette}#" + str(
        1 if cassette == "string_as_bytes.yaml" else 0
    )


@pytest.mark.parametrize(("cassette", "prompt", "deltas", "fields"), STREAMS)
def test_foreign_stream_replays(
    replayer: RunningServer, cassette: str, prompt: str, deltas: list[str], fields: dict[str, Any]
) -> None:
    with client_for(replayer) as client:
        with client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=messages(prompt), stream=True, **fields
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in response.headers
            lines = [line for line in response.iter_lines() if line]
        stream = client.chat.completions.create(
            model=MODEL, messages=messages(prompt), stream=True, **fields
        )
        chunks = list(stream)
    stored = stored_body(E2E / cassette, prompt).decode()
    assert lines == [line for line in stored.splitlines() if line]
    got = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert got == deltas
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    if fields.get("stream_options"):
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens == len(deltas)


def test_a_cassette_vcrpy_recorded_with_the_sdk_replays(
    replayer: RunningServer, recorded_by_vcrpy: tuple[Path, dict[str, Any]]
) -> None:
    path, seen = recorded_by_vcrpy
    with client_for(replayer) as client:
        plain = client.chat.completions.create(model=MODEL, messages=messages("recorded by vcrpy"))
        stream = client.chat.completions.create(
            model=MODEL, messages=messages("streamed for vcrpy"), stream=True
        )
        chunks = [chunk.model_dump(mode="json") for chunk in stream]
    assert plain.model_dump(mode="json") == seen["plain"]
    assert plain.choices[0].message.content == "An answer vcrpy kept."
    assert chunks == seen["chunks"]
    for chunk in chunks:
        check_chunk(chunk)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Streamed for vcrpy."
    rules = [entry["rule"] for entry in journal(replayer.url)[-2:]]
    assert rules == [f"{path.name}#0", f"{path.name}#1"]
