"""Record and replay end to end: the record proxy in front of a second local mockllm.

The upstream is a real server on a loopback port (a mockllm serving paced rules), the
recorder is `python -m mockllm record`, clients use the official openai SDK. The recording
runs once per module; the replay servers then start from what it wrote, offline.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import httpx2  # the openai SDK's HTTP client
import openai
import pytest
import yaml
from openai import AsyncOpenAI, OpenAI

from mockllm.cassettes import Interaction
from mockllm.library import CassetteLibrary
from tests.conftest import RunningServer, free_port

from .helpers import (
    check_error,
    journal,
    launch,
    make_chat_request,
    post_chat,
    reset,
    wait_healthy,
    write_scenario,
)

MODEL = "gpt-4o-mini"
KEY = "sk-known-secret-7Qm2Zx9Lw4Rt8Yp1Vn6Kb3Hd5Gf0Js"
ORGANIZATION = "org-known-organization-4fKd9Q"
PROJECT = "proj_known-project-8Hs2Lw"
COOKIE = "session=known-cookie-value-5Tg7Pz"
TRACE = "known-trace-token-3Nc6Xe"  # sent in a header listed with --scrub-header
SECRETS = (KEY, ORGANIZATION, PROJECT, COOKIE.partition("=")[2], TRACE)

STREAM_PROMPT = "stream me a story"
PLAIN_PROMPT = "plain answer please"
TWICE_PROMPT = "say it twice"
LIMITED_PROMPT = "rate limit me"
STORY = ["Once", " upon", " a", " time", " there", " was", " a", " stream."]
UPSTREAM_RULES = """\
version: 1
rules:
  - name: story
    match: { last_user: "stream me a story" }
    reply:
      chunks: ["Once", " upon", " a", " time", " there", " was", " a", " stream."]
      latency: { ttft_ms: 300, inter_token_ms: 100 }
  - name: plain
    match: { last_user: "plain answer please" }
    reply: { content: "A plain answer." }
  - name: twice
    match: { last_user: "say it twice" }
    sequence:
      - content: "first answer"
      - content: "second answer"
  - name: limited
    match: { last_user: "rate limit me" }
    reply:
      error: { status: 429, headers: { Retry-After: "7" } }
  - name: slow
    match: { last_user: "slow stream please" }
    reply:
      chunks: ["one", " two", " three", " four", " five", " six", " seven", " eight"]
      latency: { ttft_ms: 100, inter_token_ms: 150 }
  - name: overlapping
    match: { last_user: { contains: "concurrent" } }
    reply:
      content: "noted"
      latency: { ttft_ms: 200 }
"""
# Served next to the cassettes: rules answer first.
REPLAY_RULES = """\
version: 1
rules:
  - name: plain-from-rule
    match: { last_user: "plain answer please" }
    reply: { content: "Answered by a rule." }
"""
PACE_TOLERANCE_S = 0.040


# --- servers ---------------------------------------------------------------------------------


def closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


class Decoy(http.server.ThreadingHTTPServer):
    """Another local server: counts every connection it gets, answers 200 to anything."""

    connections = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        Decoy.connections += 1
        super().process_request(request, client_address)


class _DecoyHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


# --- clients ---------------------------------------------------------------------------------


def sdk(base_url: str, **options: Any) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=KEY, max_retries=0, **options)


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@dataclass
class Streamed:
    """What an SDK client received from a stream: `data:` lines with arrival times."""

    lines: list[str] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    total: float = 0.0

    @property
    def deltas(self) -> list[tuple[float, str]]:
        out = []
        for at, line in zip(self.arrivals, self.lines, strict=True):
            payload = line.removeprefix("data: ")
            if payload != "[DONE]":
                for choice in json.loads(payload)["choices"]:
                    if choice["delta"].get("content"):
                        out.append((at, choice["delta"]["content"]))
        return out


def sdk_stream(client: OpenAI, prompt: str, cassette: str | None = None) -> Streamed:
    """Stream through the SDK; keep every `data:` line and when it arrived."""
    headers = {"X-Mockllm-Cassette": cassette} if cassette else None
    got = Streamed()
    started = time.monotonic()
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=messages(prompt), stream=True, extra_headers=headers
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                got.arrivals.append(time.monotonic() - started)
                got.lines.append(line)
    got.total = time.monotonic() - started
    return got


def sdk_plain(client: OpenAI, prompt: str, cassette: str | None = None, **fields: Any) -> bytes:
    """A non-streamed answer through the SDK, as the bytes that came over the wire."""
    headers = {"X-Mockllm-Cassette": cassette} if cassette else None
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages(prompt), extra_headers=headers, **fields
    )
    raw.parse()  # the SDK's own types accept it
    return raw.http_response.content


def content_of(body: bytes) -> str:
    return json.loads(body)["choices"][0]["message"]["content"]  # type: ignore[no-any-return]


def read_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def interactions(path: Path) -> list[dict[str, Any]]:
    return read_yaml(path)["interactions"]  # type: ignore[no-any-return]


def recorded_prompts(path: Path) -> list[str]:
    return [json.loads(i["request"]["body"])["messages"][-1]["content"] for i in interactions(path)]


def event_offsets(interaction: dict[str, Any]) -> list[float]:
    spec = interaction["response"]["mockllm"]["events"]
    return [float(pair.split(":")[0]) for pair in spec.split()]


def upstream_calls(server: RunningServer, prompt: str) -> int:
    return sum(
        1
        for entry in journal(server.url)
        if (entry["request"] or {}).get("messages", [{}])[-1].get("content") == prompt
    )


def write_cassette(path: Path, prompt: str, content: str) -> None:
    """A cassette as vcrpy writes one: one non-streamed chat completion."""
    completion = {
        "id": "chatcmpl-disk",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    request = {"messages": messages(prompt), "model": MODEL}
    data = {
        "interactions": [
            {
                "request": {
                    "body": json.dumps(request),
                    "headers": {"Content-Type": ["application/json"]},
                    "method": "POST",
                    "uri": "https://api.openai.com/v1/chat/completions",
                },
                "response": {
                    "body": {"string": json.dumps(completion)},
                    "headers": {"Content-Type": ["application/json"]},
                    "status": {"code": 200, "message": "OK"},
                },
            }
        ],
        "version": 1,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def secret_forms(secret: str) -> list[bytes]:
    """The secret as it could be stored: raw, URL-quoted, and base64 at any alignment."""
    raw = secret.encode()
    forms = [raw, quote(secret, safe="").encode()]
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * pad + raw)
            # The first group holds padding bytes (unless none), the last one may hold
            # whatever follows the secret: only the groups in between are certain.
            forms.append(encoded[4 if pad else 0 : -4])
    return forms


def walk_strings(node: Any) -> Iterator[bytes]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(key)
            yield from walk_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_strings(item)
    elif isinstance(node, bytes):
        yield node
    elif isinstance(node, str):
        yield node.encode()


def eventually(check: Any, timeout: float = 5.0) -> Any:
    """`check()` once it returns something true; its last value after `timeout` seconds.

    A recorder writes the cassette once the answer has gone out, so a client that has its
    answer may look at the file a moment before the write lands.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (FileNotFoundError, KeyError, IndexError):
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


# --- servers, launched together once per module ---------------------------------------------


@dataclass
class Lab:
    """Every server whose start does not wait on a recording, started at once.

    `first_upstream` and `first_recorder` make the recording replayed offline below;
    `upstream` (never stopped) serves the rest: `recorder` (its folder holds a symlink out
    to `outside`), `doomed` (killed mid-stream) and one server per record mode.
    """

    tmp: Path
    first_upstream: RunningServer
    first_recorder: RunningServer
    first_folder: Path
    upstream: RunningServer
    recorder: RunningServer
    folder: Path
    outside: Path
    doomed: RunningServer
    doomed_folder: Path
    once: RunningServer
    new_episodes: RunningServer
    always: RunningServer
    modes_folder: Path
    servers: list[RunningServer]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    rules = str(write_scenario(tmp, UPSTREAM_RULES, "upstream.yaml"))
    folder, outside, modes = tmp / "cassettes", tmp / "outside", tmp / "modes"
    folder.mkdir()
    outside.mkdir()
    (folder / "escape").symlink_to(outside, target_is_directory=True)
    write_cassette(modes / "once" / "existing.yaml", "once: known", "from the disk")
    write_cassette(modes / "episodes.yaml", "episodes: known", "from the disk")
    write_cassette(modes / "always.yaml", "all: known", "from the disk")

    first_upstream = launch("serve", "--scenarios", rules, cwd=tmp)
    upstream = launch("serve", "--scenarios", rules, cwd=tmp)
    first_recorder = launch(
        "record",
        "--upstream",
        first_upstream.base_url,
        "--cassettes",
        str(tmp / "recorded"),
        "--scrub-header",
        "X-Trace-Token",
        cwd=tmp,
    )
    to_upstream = ("--upstream", upstream.base_url)
    servers = [
        first_upstream,
        first_recorder,
        upstream,
        launch("record", *to_upstream, "--cassettes", str(folder), cwd=tmp),
        launch(
            "record",
            *to_upstream,
            "--cassettes",
            str(tmp / "doomed"),
            "--cassette",
            "killed/run",
            cwd=tmp,
        ),
        launch("serve", *to_upstream, "--cassettes", str(modes), "--record-mode", "once", cwd=tmp),
        launch(
            "serve",
            *to_upstream,
            "--cassettes",
            str(modes),
            "--record-mode",
            "new_episodes",
            "--cassette",
            "episodes",
            cwd=tmp,
        ),
        launch(
            "serve",
            *to_upstream,
            "--cassettes",
            str(modes),
            "--record-mode",
            "all",
            "--cassette",
            "always",
            cwd=tmp,
        ),
    ]
    try:
        wait_healthy(*servers)
        yield Lab(
            tmp,
            first_upstream,
            first_recorder,
            tmp / "recorded",
            upstream,
            servers[3],
            folder,
            outside,
            servers[4],
            tmp / "doomed",
            *servers[5:8],
            modes,
            servers,
        )
    finally:
        for server in servers:
            server.stop()


# --- the recording, once per module -----------------------------------------------------------


@dataclass
class Recording:
    folder: Path
    upstream: RunningServer
    stream: Streamed
    plain: bytes
    twice: list[bytes]
    limited: httpx.Response
    refused: httpx.Response


@pytest.fixture(scope="module")
def recording(lab: Lab) -> Recording:
    """Record through `mockllm record` with the SDK, then stop the upstream for good."""
    upstream, recorder = lab.first_upstream, lab.first_recorder
    client = sdk(
        recorder.base_url,
        organization=ORGANIZATION,
        project=PROJECT,
        default_headers={"X-API-Key": KEY, "Cookie": COOKIE, "X-Trace-Token": TRACE},
    )
    with client:
        stream = sdk_stream(client, STREAM_PROMPT, cassette="main")
        plain = sdk_plain(client, PLAIN_PROMPT, cassette="main")
        twice = [sdk_plain(client, TWICE_PROMPT, cassette="repeats") for _ in range(2)]
    # No cassette named: the default one, recorded.yaml.
    limited = post_chat(
        recorder.base_url,
        make_chat_request(LIMITED_PROMPT),
        headers={"authorization": f"Bearer {KEY}"},
    )
    upstream.stop()
    refused = post_chat(
        recorder.base_url,
        make_chat_request("nobody is there"),
        headers={"authorization": f"Bearer {KEY}", "X-Mockllm-Cassette": "failures/refused"},
    )
    recorder.stop()  # lets the last write land
    assert "Traceback" not in recorder.log(), recorder.log()
    return Recording(lab.first_folder, upstream, stream, plain, twice, limited, refused)


@dataclass
class Replays:
    paced: RunningServer  # the recorded pace; --record-mode none with a closed --upstream
    instant: RunningServer  # --replay-speed 0, --ignore-field user, fallthrough, with rules
    double: RunningServer  # --replay-speed 2


@pytest.fixture(scope="module")
def replays(recording: Recording, lab: Lab) -> Iterator[Replays]:
    folder = str(recording.folder)
    rules = str(write_scenario(lab.tmp, REPLAY_RULES, "replay.yaml"))
    servers = [
        launch(
            "serve",
            "--cassettes",
            folder,
            "--record-mode",
            "none",
            "--upstream",
            f"http://127.0.0.1:{closed_port()}/v1",
            cwd=lab.tmp,
        ),
        launch(
            "serve",
            "--cassettes",
            folder,
            "--replay-speed",
            "0",
            "--ignore-field",
            "user",
            "--cassette-miss",
            "fallthrough",
            "--scenarios",
            rules,
            cwd=lab.tmp,
        ),
        launch("serve", "--cassettes", folder, "--replay-speed", "2", cwd=lab.tmp),
    ]
    try:
        wait_healthy(*servers)
        yield Replays(*servers)
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def replayed_stream(replays: Replays) -> Streamed:
    """The recorded stream replayed once at the recorded pace, through the SDK."""
    with sdk(replays.paced.base_url) as client:
        sdk_plain(client, PLAIN_PROMPT)  # connection and first-request costs aside
        return sdk_stream(client, STREAM_PROMPT)


# --- recording --------------------------------------------------------------------------------


def test_secrets_never_reach_the_cassettes(recording: Recording) -> None:
    files = sorted(p for p in recording.folder.rglob("*") if p.is_file())
    names = [p.relative_to(recording.folder).as_posix() for p in files]
    assert names == ["failures/refused.yaml", "main.yaml", "recorded.yaml", "repeats.yaml"]
    for path in files:
        raw = path.read_bytes()
        flat = re.sub(rb"\s+", b"", raw)  # !!binary base64 is wrapped over lines
        parsed = list(walk_strings(read_yaml(path)))
        for secret in SECRETS:
            for form in secret_forms(secret):
                assert form not in raw and form not in flat, (path.name, secret, form)
            assert not any(secret.encode() in value for value in parsed), (path.name, secret)
        assert b"Bearer" not in raw and b"known-" not in raw, path.name
        for item in interactions(path):
            headers = {k.lower(): v for k, v in item["request"]["headers"].items()}
            assert headers["authorization"] == ["<redacted>"]
            for name in (
                "x-api-key",
                "openai-organization",
                "openai-project",
                "cookie",
                "x-trace-token",
            ):
                assert headers.get(name, ["<redacted>"]) == ["<redacted>"], (path.name, name)


def test_the_stream_is_relayed_as_it_arrives(recording: Recording) -> None:
    deltas = recording.stream.deltas
    assert [text for _, text in deltas] == STORY
    (main_stream, _) = interactions(recording.folder / "main.yaml")
    upstream_total = event_offsets(main_stream)[-1]  # the upstream sent its last event then
    first = deltas[0][0]
    assert 0.9 <= upstream_total <= 1.5, upstream_total
    assert 0.28 <= first <= 0.6 * upstream_total, (
        f"first delta at {first * 1000:.0f} ms, upstream done at {upstream_total * 1000:.0f} ms"
    )
    # Each delta came when the upstream sent it, 100 ms apart, not in one burst at the end.
    gaps = [b - a for (a, _), (b, _) in zip(deltas, deltas[1:], strict=False)]
    assert min(gaps) >= 0.06, gaps
    assert recording.stream.total >= upstream_total


def test_the_recording_holds_the_exchanges_as_sent(recording: Recording) -> None:
    stream, plain = interactions(recording.folder / "main.yaml")
    assert stream["request"]["uri"] == f"{recording.upstream.base_url}/chat/completions"
    assert json.loads(stream["request"]["body"]) == {
        "messages": messages(STREAM_PROMPT),
        "model": MODEL,
        "stream": True,
    }
    body = stream["response"]["body"]["string"]
    assert [line for line in body.splitlines() if line] == recording.stream.lines
    sizes = [int(pair.split(":")[1]) for pair in stream["response"]["mockllm"]["events"].split()]
    assert sum(sizes) == len(body.encode()) and len(sizes) == len(recording.stream.lines)
    assert plain["response"]["body"]["string"].encode() == recording.plain
    assert "mockllm" not in plain["response"]  # timing is kept for streams only


def test_plain_vcrpy_loads_and_plays_the_recording(recording: Recording) -> None:
    """In a subprocess, so that vcrpy's patching of httpx stays out of this one."""
    script = """
import json, sys
import httpx, vcr
from vcr.cassette import Cassette

path = sys.argv[1]
cassette = Cassette.load(path=path)
out = {"count": len(cassette), "played": [],
       "events": [r.get("mockllm", {}).get("events") for r in cassette.responses]}
with vcr.use_cassette(path, record_mode="none", match_on=["method", "uri", "body"]):
    with httpx.Client() as client:
        for request in cassette.requests:
            response = client.post(request.uri, content=request.body,
                                   headers={"content-type": "application/json"})
            out["played"].append({"status": response.status_code, "body": response.text,
                                  "type": response.headers["content-type"]})
print(json.dumps(out))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(recording.folder / "main.yaml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["count"] == 2
    assert out["events"][0] and out["events"][1] is None
    stream, plain = out["played"]
    assert stream["status"] == 200 and stream["type"].startswith("text/event-stream")
    assert [line for line in stream["body"].splitlines() if line] == recording.stream.lines
    assert plain["status"] == 200 and plain["body"].encode() == recording.plain


def test_an_upstream_429_passes_through_and_is_recorded(recording: Recording) -> None:
    limited = recording.limited
    error = check_error(limited, 429)
    assert limited.headers["retry-after"] == "7"
    assert error["code"] == "rate_limit_exceeded"
    (item,) = interactions(recording.folder / "recorded.yaml")
    assert item["response"]["status"] == {"code": 429, "message": "Too Many Requests"}
    assert item["response"]["headers"]["retry-after"] == ["7"]
    assert item["response"]["body"]["string"].encode() == limited.content


def test_an_unreachable_upstream_is_a_502(recording: Recording) -> None:
    assert recording.upstream.proc.poll() is not None  # stopped before this request
    error = check_error(recording.refused, 502)
    assert error["type"] == "server_error"
    assert "upstream" in error["message"].lower(), error


# --- replaying, offline ---------------------------------------------------------------------


def test_replay_is_byte_identical(
    recording: Recording, replays: Replays, replayed_stream: Streamed
) -> None:
    assert recording.upstream.proc.poll() is not None  # the upstream is gone
    assert replayed_stream.lines == recording.stream.lines
    with sdk(replays.paced.base_url) as client:
        assert sdk_plain(client, PLAIN_PROMPT) == recording.plain
    sources = [e["source"] for e in journal(replays.paced.url)]
    assert set(sources) == {"cassette"}, sources


def test_replayed_headers_are_the_recorded_ones(recording: Recording, replays: Replays) -> None:
    """Each recorded header comes back once, as recorded, except what the server sets
    itself (date, server, content-length) and the request id, which is the exchange's."""
    own = {"date", "server", "content-length", "x-request-id", "transfer-encoding"}
    for interaction in interactions(recording.folder / "main.yaml"):
        request = interaction["request"]
        with httpx.stream(
            "POST",
            f"{replays.paced.base_url}/chat/completions",
            content=request["body"].encode(),
            headers={"content-type": "application/json", "authorization": "Bearer sk-x"},
            timeout=30,
        ) as response:
            response.read()
        recorded = interaction["response"]["headers"]
        for name, values in recorded.items():
            if name.lower() in own:
                continue
            assert response.headers.get_list(name) == list(values), name
        replayed = [name for name, _ in response.headers.multi_items()]
        assert len(replayed) == len(set(replayed)), f"a header sent twice: {replayed}"
        entry = journal(replays.paced.url)[-1]
        assert response.headers["x-request-id"] == entry["id"]


def test_replay_keeps_the_recorded_pace(recording: Recording, replayed_stream: Streamed) -> None:
    (main_stream, _) = interactions(recording.folder / "main.yaml")
    recorded = event_offsets(main_stream)
    assert len(recorded) == len(replayed_stream.arrivals)
    late = [
        (i, round(got - want, 3))
        for i, (got, want) in enumerate(zip(replayed_stream.arrivals, recorded, strict=True))
        if abs(got - want) > PACE_TOLERANCE_S
    ]
    assert not late, f"events off their recorded offset (index, seconds): {late}"


def test_replay_speed_zero_sends_everything_at_once(recording: Recording, replays: Replays) -> None:
    with sdk(replays.instant.base_url) as client:
        got = sdk_stream(client, STREAM_PROMPT)
    assert got.lines == recording.stream.lines
    # Paced, the stream takes its recorded time (over a second); at once, a small part of it
    # on a loaded machine too.
    assert got.total < 0.25 * recording.stream.total, f"took {got.total * 1000:.0f} ms"


def test_replay_speed_two_takes_half_the_time(recording: Recording, replays: Replays) -> None:
    with sdk(replays.double.base_url) as client:
        got = sdk_stream(client, STREAM_PROMPT)
    assert got.lines == recording.stream.lines
    (main_stream, _) = interactions(recording.folder / "main.yaml")
    halved = [offset / 2 for offset in event_offsets(main_stream)]
    late = [
        (i, round(at - want, 3))
        for i, (at, want) in enumerate(zip(got.arrivals, halved, strict=True))
        if abs(at - want) > PACE_TOLERANCE_S
    ]
    assert not late, late
    assert got.total < 0.5 * recording.stream.total + PACE_TOLERANCE_S


def test_repeated_requests_replay_in_order_then_repeat_the_last(
    recording: Recording, replays: Replays
) -> None:
    assert [content_of(b) for b in recording.twice] == ["first answer", "second answer"]
    reset(replays.paced.url)
    with sdk(replays.paced.base_url) as client:
        got = [sdk_plain(client, TWICE_PROMPT) for _ in range(3)]
    assert got == [*recording.twice, recording.twice[1]]


def test_without_playback_repeats_a_request_past_its_recordings_misses(
    recording: Recording, lab: Lab
) -> None:
    """--no-allow-playback-repeats: each recorded answer plays once, in order, then the
    same request misses, as vcrpy does by default."""
    server = launch(
        "serve", "--cassettes", str(recording.folder), "--no-allow-playback-repeats", cwd=lab.tmp
    )
    try:
        wait_healthy(server)
        with sdk(server.base_url) as client:
            got = [sdk_plain(client, TWICE_PROMPT) for _ in range(2)]
            assert got == recording.twice
            with pytest.raises(openai.NotFoundError) as caught:
                sdk_plain(client, TWICE_PROMPT)
        assert caught.value.code == "cassette_miss"
    finally:
        server.stop()


def test_key_order_and_whitespace_do_not_count(recording: Recording, replays: Replays) -> None:
    body = (
        b'{\n  "model" :  "gpt-4o-mini",\n\t"messages": [ {"content": "plain answer please",'
        b'\n "role": "user"} ] }'
    )
    response = post_chat(replays.paced.base_url, body)
    assert response.status_code == 200, response.text
    assert response.content == recording.plain


def test_an_ignored_field_may_differ(recording: Recording, replays: Replays) -> None:
    reset(replays.instant.url)
    with sdk(replays.instant.base_url) as client:
        assert sdk_plain(client, TWICE_PROMPT, user="someone-else") == recording.twice[0]
    with sdk(replays.paced.base_url) as client, pytest.raises(openai.NotFoundError) as caught:
        sdk_plain(client, TWICE_PROMPT, user="someone-else")
    assert "user: not recorded, sent 'someone-else'" in caught.value.message


def test_a_miss_names_the_cassette_and_the_nearest_request(replays: Replays) -> None:
    response = post_chat(replays.paced.base_url, make_chat_request("plain answer, please"))
    error = check_error(response, 404)
    assert error["code"] == "cassette_miss"
    message = error["message"]
    assert message.startswith("No recorded interaction in the loaded cassettes matches")
    assert "nearest recorded request: main.yaml#1" in message
    diff = "messages[0].content: recorded 'plain answer please' != sent 'plain answer, please'"
    assert diff in message

    named = post_chat(
        replays.paced.base_url,
        make_chat_request("plain answer please", temperature=0.5),
        headers={"X-Mockllm-Cassette": "main"},
    )
    error = check_error(named, 404)
    assert error["message"].startswith("No recorded interaction in cassette 'main.yaml'")
    assert "temperature: not recorded, sent 0.5" in error["message"]
    logged = "No recorded interaction in cassette 'main.yaml'"
    assert eventually(lambda: logged in replays.paced.log()), replays.paced.log()


def test_a_named_cassette_is_matched_alone(recording: Recording, replays: Replays) -> None:
    body = make_chat_request(PLAIN_PROMPT)
    named = post_chat(replays.paced.base_url, body, headers={"X-Mockllm-Cassette": "main.yaml"})
    assert named.status_code == 200 and named.content == recording.plain
    elsewhere = post_chat(replays.paced.base_url, body, headers={"X-Mockllm-Cassette": "repeats"})
    assert check_error(elsewhere, 404)["code"] == "cassette_miss"
    assert "nearest recorded request: repeats.yaml#0" in elsewhere.json()["error"]["message"]


def test_a_recorded_upstream_failure_replays_as_the_client_saw_it(
    recording: Recording, replays: Replays
) -> None:
    replayed = post_chat(replays.paced.base_url, make_chat_request("nobody is there"))
    assert replayed.status_code == 502
    assert replayed.json() == recording.refused.json()


def test_record_mode_none_never_touches_the_network(recording: Recording, replays: Replays) -> None:
    # `paced` runs with --record-mode none and --upstream pointing at a closed port.
    with sdk(replays.paced.base_url) as client:
        assert sdk_plain(client, PLAIN_PROMPT) == recording.plain
    missed = post_chat(replays.paced.base_url, make_chat_request("never recorded"))
    assert check_error(missed, 404)["code"] == "cassette_miss"  # a miss, not a 502
    assert "upstream" not in replays.paced.log().lower()


def test_a_miss_falls_through_to_the_generator_when_asked(replays: Replays) -> None:
    with sdk(replays.instant.base_url) as client:
        answer = content_of(sdk_plain(client, "nothing recorded this"))
    assert answer  # the default generator's text
    assert journal(replays.instant.url)[-1]["source"] == "default"


def test_rules_answer_before_cassettes(recording: Recording, replays: Replays) -> None:
    with sdk(replays.instant.base_url) as client:
        assert content_of(sdk_plain(client, PLAIN_PROMPT)) == "Answered by a rule."
        assert sdk_stream(client, STREAM_PROMPT).lines == recording.stream.lines
    sources = [e["source"] for e in journal(replays.instant.url)[-2:]]
    assert sources == ["rule", "cassette"]


def test_a_recorded_429_replays_as_a_429(recording: Recording, replays: Replays) -> None:
    with sdk(replays.paced.base_url) as client, pytest.raises(openai.RateLimitError) as caught:
        sdk_plain(client, LIMITED_PROMPT)
    response = caught.value.response
    assert response.headers["retry-after"] == "7"
    assert response.content == recording.limited.content


def test_to_scenario_answers_the_same(recording: Recording, tmp_path: Path, serve: Any) -> None:
    names = ("main.yaml", "repeats.yaml", "recorded.yaml")
    converting = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mockllm",
                "cassette",
                "to-scenario",
                str(recording.folder / name),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    scenarios = []
    for name, proc in zip(names, converting, strict=True):
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        path = tmp_path / f"scenario-{name}"
        path.write_text(out, encoding="utf-8")
        scenarios.append(str(path))
    check = subprocess.run(
        [sys.executable, "-m", "mockllm", "validate", *scenarios],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("ok: 4 rules in 3 file(s)"), check.stdout

    server = serve(*(arg for path in scenarios for arg in ("--scenarios", path)), "--strict")
    with sdk(server.base_url) as client:
        streamed = sdk_stream(client, STREAM_PROMPT)
        assert [text for _, text in streamed.deltas] == STORY
        assert content_of(sdk_plain(client, PLAIN_PROMPT)) == content_of(recording.plain)
        twice = [content_of(sdk_plain(client, TWICE_PROMPT)) for _ in range(3)]
        assert twice == ["first answer", "second answer", "second answer"]
        with pytest.raises(openai.RateLimitError) as caught:
            sdk_plain(client, LIMITED_PROMPT)
    assert caught.value.response.headers["retry-after"] == "7"
    assert {e["source"] for e in journal(server.url)} == {"rule"}


# --- record modes ---------------------------------------------------------------------------


def test_record_mode_once(lab: Lab) -> None:
    """A cassette missing at start-up is recorded into; one that existed only replays."""
    with sdk(lab.once.base_url) as client:
        first = content_of(sdk_plain(client, "once: first", cassette="once/new"))
        sdk_plain(client, "once: second", cassette="once/new")
        assert content_of(sdk_plain(client, "once: known", cassette="once/existing")) == (
            "from the disk"
        )
        with pytest.raises(openai.NotFoundError) as caught:
            sdk_plain(client, "once: unknown", cassette="once/existing")
    assert caught.value.body["code"] == "cassette_miss"  # type: ignore[index]
    assert [upstream_calls(lab.upstream, p) for p in ("once: first", "once: second")] == [1, 1]
    assert upstream_calls(lab.upstream, "once: known") == 0
    assert upstream_calls(lab.upstream, "once: unknown") == 0
    new = lab.modes_folder / "once" / "new.yaml"
    assert eventually(lambda: recorded_prompts(new) == ["once: first", "once: second"])
    assert content_of(interactions(new)[0]["response"]["body"]["string"].encode()) == first
    assert recorded_prompts(lab.modes_folder / "once" / "existing.yaml") == ["once: known"]


def test_record_mode_new_episodes(lab: Lab) -> None:
    with sdk(lab.new_episodes.base_url) as client:
        assert content_of(sdk_plain(client, "episodes: known")) == "from the disk"
        fresh = sdk_plain(client, "episodes: unknown")
        again = sdk_plain(client, "episodes: unknown")  # recorded a moment ago: replayed
    assert content_of(again) == content_of(fresh)
    assert upstream_calls(lab.upstream, "episodes: known") == 0
    assert upstream_calls(lab.upstream, "episodes: unknown") == 1
    path = lab.modes_folder / "episodes.yaml"
    assert eventually(lambda: len(interactions(path)) >= 2)
    time.sleep(0.2)  # any later write lands too
    assert recorded_prompts(path) == ["episodes: known", "episodes: unknown"]


def test_record_mode_all(lab: Lab) -> None:
    with sdk(lab.always.base_url) as client:
        answers = [content_of(sdk_plain(client, "all: known")) for _ in range(2)]
    assert "from the disk" not in answers
    assert upstream_calls(lab.upstream, "all: known") == 2
    path = lab.modes_folder / "always.yaml"  # the answer from the disk was replaced
    assert eventually(
        lambda: (
            [content_of(i["response"]["body"]["string"].encode()) for i in interactions(path)]
            == answers
        )
    ), interactions(path)


# --- choosing the cassette; the proxy's fixed upstream -----------------------------------------


def test_the_header_names_the_cassette(lab: Lab) -> None:
    with sdk(lab.recorder.base_url) as client:
        sdk_plain(client, "header: into a sub folder", cassette="sub/dir/name")
    path = lab.folder / "sub" / "dir" / "name.yaml"
    assert eventually(lambda: recorded_prompts(path) == ["header: into a sub folder"])


def test_the_admin_api_names_the_cassette(lab: Lab) -> None:
    url = f"{lab.recorder.url}/__admin/cassette"
    chosen = httpx.put(url, json={"name": "admin/chosen"}, timeout=5)
    assert chosen.status_code == 200 and chosen.json() == {"cassette": "admin/chosen"}
    try:
        assert httpx.get(url, timeout=5).json() == {"cassette": "admin/chosen"}
        with sdk(lab.recorder.base_url) as client:
            sdk_plain(client, "admin: chosen at run time")
    finally:
        assert httpx.delete(url, timeout=5).status_code == 200
    path = lab.folder / "admin" / "chosen.yaml"
    assert eventually(lambda: recorded_prompts(path) == ["admin: chosen at run time"])


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x", "escape/x", "..\\x"])
def test_hostile_cassette_names_are_refused(lab: Lab, name: str) -> None:
    before = sorted(lab.folder.parent.rglob("*"))
    prompt = f"hostile: {name}"
    response = post_chat(
        lab.recorder.base_url, make_chat_request(prompt), headers={"X-Mockllm-Cassette": name}
    )
    assert check_error(response, 400)["code"] == "invalid_cassette"
    admin = httpx.put(f"{lab.recorder.url}/__admin/cassette", json={"name": name}, timeout=5)
    assert check_error(admin, 400)["code"] == "invalid_cassette"
    assert httpx.get(f"{lab.recorder.url}/__admin/cassette", timeout=5).json() == {"cassette": None}
    time.sleep(0.05)
    assert sorted(lab.folder.parent.rglob("*")) == before
    assert list(lab.outside.iterdir()) == []
    assert upstream_calls(lab.upstream, prompt) == 0


def test_request_headers_cannot_redirect_the_proxy(lab: Lab) -> None:
    decoy = Decoy(("127.0.0.1", 0), _DecoyHandler)
    thread = threading.Thread(target=decoy.serve_forever, daemon=True)
    thread.start()
    elsewhere = f"127.0.0.1:{decoy.server_address[1]}"
    try:
        response = post_chat(
            lab.recorder.base_url,
            make_chat_request("redirect: host headers"),
            headers={
                "Host": elsewhere,
                "X-Forwarded-Host": elsewhere,
                "X-Forwarded-Proto": "http",
                "X-Forwarded-Port": str(decoy.server_address[1]),
                "Forwarded": f"host={elsewhere};proto=http",
                "X-Original-URL": f"http://{elsewhere}/v1/chat/completions",
                "X-Mockllm-Cassette": "redirect",
            },
        )
        assert response.status_code == 200, response.text
        # The request target in absolute form, naming the other server.
        body = json.dumps(make_chat_request("redirect: absolute target")).encode()
        with socket.create_connection(("127.0.0.1", lab.recorder.port), timeout=5) as sock:
            sock.sendall(
                f"POST http://{elsewhere}/v1/chat/completions HTTP/1.1\r\n"
                f"Host: {elsewhere}\r\nContent-Type: application/json\r\n"
                f"X-Mockllm-Cassette: redirect\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    finally:
        decoy.shutdown()
        decoy.server_close()
        thread.join()
    assert Decoy.connections == 0
    assert upstream_calls(lab.upstream, "redirect: host headers") == 1
    assert upstream_calls(lab.upstream, "redirect: absolute target") == 1
    path = lab.folder / "redirect.yaml"
    assert eventually(lambda: len(interactions(path)) == 2)
    uris = {i["request"]["uri"] for i in interactions(path)}
    assert uris == {f"{lab.upstream.base_url}/chat/completions"}


def test_concurrent_recordings_into_one_cassette_lose_nothing(lab: Lab) -> None:
    prompts = [f"concurrent #{i}" for i in range(20)]

    async def run() -> list[str | None]:
        async with AsyncOpenAI(base_url=lab.recorder.base_url, api_key=KEY, max_retries=0) as c:
            answers = await asyncio.gather(
                *(
                    c.chat.completions.create(
                        model=MODEL,
                        messages=messages(prompt),
                        extra_headers={"X-Mockllm-Cassette": "together"},
                    )
                    for prompt in prompts
                )
            )
        return [a.choices[0].message.content for a in answers]

    started = time.monotonic()
    assert asyncio.run(run()) == ["noted"] * 20
    assert time.monotonic() - started < 2.0  # they overlapped (200 ms each upstream)
    path = lab.folder / "together.yaml"
    eventually(lambda: len(interactions(path)) >= 20)
    assert sorted(recorded_prompts(path)) == sorted(prompts)
    assert [p.name for p in lab.folder.iterdir() if p.name.endswith(".tmp")] == []


def test_a_killed_recorder_leaves_the_previous_cassette(lab: Lab) -> None:
    doomed, folder = lab.doomed, lab.doomed_folder
    path = folder / "killed" / "run.yaml"
    with sdk(doomed.base_url) as client:
        before = [sdk_plain(client, f"before the kill {i}") for i in range(2)]
        assert eventually(lambda: len(interactions(path)) == 2)
        seen = 0
        with pytest.raises((openai.APIError, httpx.HTTPError, httpx2.HTTPError)):
            with client.chat.completions.with_streaming_response.create(
                model=MODEL, messages=messages("slow stream please"), stream=True
            ) as response:
                for line in response.iter_lines():
                    seen += '"content":"' in line and '"content":""' not in line
                    if seen == 2:
                        os.kill(doomed.proc.pid, signal.SIGKILL)
    assert doomed.proc.wait(10) == -signal.SIGKILL
    assert seen == 2  # killed mid-stream: six deltas never came

    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        "killed",
        "killed/run.yaml",
    ]
    items = interactions(path)  # complete YAML
    assert [i["response"]["body"]["string"].encode() for i in items] == before
    assert recorded_prompts(path) == ["before the kill 0", "before the kill 1"]
    library = CassetteLibrary.load(folder)  # as a later server loads the folder
    body = json.dumps(make_chat_request("before the kill 1")).encode()
    found = library.find("POST", "/v1/chat/completions", body)
    assert isinstance(found, Interaction) and found.response.body == before[1]
