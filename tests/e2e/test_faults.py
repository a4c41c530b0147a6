"""Faults: each scripted break seen through the openai SDK and as the exact bytes on the wire.

The SDK (openai 3.x on httpx2) wraps transport failures: a connection cut mid-body or
before any byte is `openai.APIConnectionError` caused by `httpx2.RemoteProtocolError`,
a client timeout is `openai.APITimeoutError` (`httpx2.ReadTimeout`). An in-band
`data: {"error": ...}` event makes stream iteration raise `openai.APIError` (exactly that
class; `_streaming.py`), and an event that is not JSON raises `json.JSONDecodeError`.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import openai
import pytest
from openai import OpenAI

from ..conftest import start_server
from .helpers import (
    ERROR_KEYS,
    check_chunk,
    check_completion,
    check_error,
    journal,
    make_chat_request,
    sse_payloads,
    write_scenario,
)

CHUNKS = ["alpha", " beta", " gamma", " delta", " epsilon", " zeta"]
HANG_MAX_S = 1.0
FAULT_RULES = """\
version: 1
rules:
  - name: disconnect
    match: { model: fault-disconnect }
    reply:
      chunks: ["alpha", " beta", " gamma", " delta", " epsilon", " zeta"]
      fault: { disconnect_after_tokens: 3 }
  - name: malformed
    match: { model: fault-malformed }
    reply:
      chunks: ["alpha", " beta", " gamma", " delta", " epsilon", " zeta"]
      fault: { malformed_chunk_at: 2 }
  - name: error-after
    match: { model: fault-error-after }
    reply:
      chunks: ["alpha", " beta", " gamma", " delta", " epsilon", " zeta"]
      fault: { error_after_tokens: 4 }
  - name: error-after-scripted
    match: { model: fault-error-after-scripted }
    reply:
      chunks: ["alpha", " beta", " gamma", " delta", " epsilon", " zeta"]
      fault:
        error_after_tokens: 2
        error: { status: 429, code: rate_limit_exceeded, message: "Slow down, mid-stream" }
  - name: empty-choices
    match: { model: fault-empty-choices }
    reply:
      chunks: ["alpha", " beta"]
      fault: { empty_choices_error: true, error: { status: 502, message: "Provider disconnected" } }
  - name: empty-choices-default
    match: { model: fault-empty-choices-default }
    reply:
      chunks: ["alpha", " beta"]
      fault: { empty_choices_error: true }
  - name: reset
    match: { model: fault-reset }
    reply: { content: "never sent", fault: { reset: true } }
  - name: hang
    match: { model: fault-hang }
    reply: { content: "never sent", fault: { hang: true } }
  - name: drip
    match: { model: fault-drip }
    reply:
      content: "Drip, drip, drip."
      fault: { drip_bytes_per_s: 2000 }
  - name: drip-slow
    match: { model: fault-drip-slow }
    reply:
      content: "Drip, drip, drip."
      fault: { drip_bytes_per_s: 1000 }
  - name: drip-fast
    match: { model: fault-drip-fast }
    reply:
      content: "A quicker drip."
      fault: { drip_bytes_per_s: 20000 }
  - name: far
    match: { model: fault-far }
    reply:
      chunks: ["alpha", " beta"]
      fault: { disconnect_after_tokens: 100, malformed_chunk_at: 50 }
  - name: error-with-fault
    match: { model: fault-error-429 }
    reply:
      error: { status: 429 }
      fault: { disconnect_after_tokens: 1 }
  - name: chaos
    match: { model: "chaos-*" }
    when: { probability: 0.5 }
    reply:
      content: "this should fail"
      fault: { error_after_tokens: 1, error: { status: 503, message: "chaos" } }
"""


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    rules = write_scenario(tmp, FAULT_RULES)
    server = start_server(
        "--scenarios",
        str(rules),
        "--hang-max-s",
        str(HANG_MAX_S),
        "--seed",
        "5",
        "--freeze-time",
        "1700000000",
        tmp_path=tmp,
    )
    yield server
    server.stop()


def sdk(server, timeout: float = 5.0) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=timeout)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


_marks = iter(range(1_000_000))


def marker(label: str) -> str:
    """A prompt no other request in the module sends: it finds this exchange in the journal."""
    return f"{label} #{next(_marks)}"


# --- raw HTTP/1.1 over a socket ---------------------------------------------------------


@dataclass
class Raw:
    """One exchange as the bytes arrived."""

    data: bytes = b""  # everything received, head included
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""  # de-chunked
    complete: bool = False  # the body ended as HTTP says (last chunk, or Content-Length)
    closed: bool = False  # the server closed the connection (before `complete`, a cut)
    timed_out: bool = False
    first_byte_s: float | None = None
    elapsed_s: float = 0.0
    reads: int = 0

    def events(self) -> list[str]:
        return sse_payloads(self.body)


def _parse(raw: Raw) -> None:
    head, sep, rest = raw.data.partition(b"\r\n\r\n")
    if not sep:
        return
    lines = head.decode("latin-1").split("\r\n")
    raw.status = int(lines[0].split()[1])
    raw.headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if raw.headers.get("transfer-encoding") == "chunked":
        body, pos = b"", 0
        while True:
            end = rest.find(b"\r\n", pos)
            if end < 0:
                break
            size = int(rest[pos:end], 16)
            if size == 0:
                raw.complete = rest[end + 2 : end + 4] == b"\r\n"
                break
            if len(rest) < end + 2 + size + 2:
                body += rest[end + 2 : end + 2 + size]
                break
            body += rest[end + 2 : end + 2 + size]
            pos = end + 2 + size + 2
        raw.body = body
    else:
        raw.body = rest
        raw.complete = len(rest) >= int(raw.headers.get("content-length", "0"))


def raw_post(server, body: dict[str, Any], timeout: float = 5.0) -> Raw:
    """POST over a plain socket; read until the response is complete, closed or timed out."""
    payload = json.dumps(body).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Authorization: Bearer sk-test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    raw = Raw()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(request)
        while not raw.complete:
            left = started + timeout - time.monotonic()
            if left <= 0:
                raw.timed_out = True
                break
            sock.settimeout(left)
            try:
                piece = sock.recv(65536)
            except TimeoutError:
                raw.timed_out = True
                break
            except ConnectionResetError:
                raw.closed = True
                break
            if not piece:
                raw.closed = True
                break
            if raw.first_byte_s is None:
                raw.first_byte_s = time.monotonic() - started
            raw.data += piece
            raw.reads += 1
            _parse(raw)
        raw.elapsed_s = time.monotonic() - started
    return raw


# --- journal and log ----------------------------------------------------------------------


def entry_for(server, prompt: str, stream: bool, wait_s: float = 3.0) -> dict[str, Any]:
    """The journal entry of the request that sent `prompt` (waits for it to be written)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [
            e
            for e in journal(server.url)
            if isinstance(e["request"], dict)
            and e["request"].get("messages") == user(prompt)
            and bool(e["stream"]) == stream
        ]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(found) == 1, f"{len(found)} journal entries for {prompt!r}"
    return found[0]


def problems(server) -> list[str]:
    """Lines of the server log that report an error."""
    return [line for line in server.log().splitlines() if " ERROR " in line or "Traceback" in line]


def log_lines(server) -> dict[str, str]:
    """The server's one log line per exchange, by exchange id."""
    out: dict[str, str] = {}
    for line in server.log().splitlines():
        if found := re.search(r" exchange id=(\S+) ", line):
            assert found[1] not in out, line
            out[found[1]] = line
    return out


def log_line(server, exchange_id: str) -> str:
    return log_lines(server)[exchange_id]


def check_recorded(server, prompt: str, stream: bool, faults: list[str], status: int) -> dict:
    """The journal names the faults applied; the exchange's log line has `fault=`."""
    entry = entry_for(server, prompt, stream)
    assert entry["faults"] == faults, entry
    assert entry["status"] == status, entry
    line = log_line(server, entry["id"])
    assert f" fault={','.join(faults)}" in line, line
    return entry


# --- SDK helpers ---------------------------------------------------------------------------


def sdk_stream(client: OpenAI, model: str, prompt: str) -> tuple[list[Any], BaseException | None]:
    """Iterate a streamed completion; return the chunks seen and what ended the iteration."""
    chunks: list[Any] = []
    try:
        stream = client.chat.completions.create(model=model, messages=user(prompt), stream=True)
        with stream:
            for chunk in stream:
                chunks.append(chunk)
    except Exception as exc:  # noqa: BLE001 - what the SDK raises is under test
        return chunks, exc
    return chunks, None


def sdk_create(client: OpenAI, model: str, prompt: str) -> Any:
    return client.chat.completions.create(model=model, messages=user(prompt))


def contents(chunks: list[Any]) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


def assert_cause(exc: BaseException, kind: type[BaseException], message: str) -> None:
    cause = exc.__cause__
    assert isinstance(cause, kind), f"{type(exc).__name__} caused by {cause!r}"
    assert message in str(cause), str(cause)


# --- disconnect_after_tokens ---------------------------------------------------------------


def test_disconnect_stream_bytes(fault_server):
    prompt = marker("disconnect raw")
    raw = raw_post(fault_server, make_chat_request(prompt, model="fault-disconnect", stream=True))
    assert raw.status == 200
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["transfer-encoding"] == "chunked"
    assert raw.closed and not raw.complete and not raw.timed_out, raw
    assert not raw.data.endswith(b"0\r\n\r\n")
    events = raw.events()
    assert "[DONE]" not in events
    chunks = [check_chunk(json.loads(e)) for e in events]
    assert len(chunks) == 4, events  # the role delta and exactly 3 content deltas
    assert chunks[0].choices[0].delta.role == "assistant"
    assert contents(chunks) == CHUNKS[:3]
    assert all(c.choices[0].finish_reason is None for c in chunks)
    assert len({c.id for c in chunks}) == 1
    check_recorded(fault_server, prompt, True, ["disconnect_after_tokens=3"], 200)


def test_disconnect_whole_bytes(fault_server):
    prompt = marker("disconnect raw")
    raw = raw_post(fault_server, make_chat_request(prompt, model="fault-disconnect"))
    assert raw.status == 200
    assert raw.headers["content-type"] == "application/json"
    declared = int(raw.headers["content-length"])
    # Half of the declared body, then the connection closes.
    assert raw.closed and not raw.complete, raw
    assert len(raw.body) == declared // 2
    assert raw.body.startswith(b'{"id":"chatcmpl-')
    check_recorded(fault_server, prompt, False, ["disconnect_after_tokens=3"], 200)


def test_disconnect_through_the_sdk(fault_server):
    client = sdk(fault_server)
    chunks, exc = sdk_stream(client, "fault-disconnect", marker("disconnect sdk"))
    assert contents(chunks) == CHUNKS[:3]
    assert type(exc) is openai.APIConnectionError, repr(exc)
    assert_cause(exc, httpx2.RemoteProtocolError, "incomplete chunked read")

    with pytest.raises(openai.APIConnectionError) as caught:
        sdk_create(client, "fault-disconnect", marker("disconnect sdk"))
    assert type(caught.value) is openai.APIConnectionError
    assert_cause(caught.value, httpx2.RemoteProtocolError, "peer closed connection")


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_disconnect_through_httpx(fault_server, stream):
    body = make_chat_request(marker("disconnect httpx"), model="fault-disconnect", stream=stream)
    with httpx.Client(timeout=5) as client:
        with client.stream(
            "POST", f"{fault_server.base_url}/chat/completions", json=body
        ) as response:
            assert response.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
                response.read()


def test_positions_past_the_end_of_a_stream_do_nothing_and_are_not_listed(fault_server):
    """`disconnect_after_tokens: 100` and `malformed_chunk_at: 50` on a 2-delta stream: the
    stream ends as usual, and the journal and log line name no fault; a whole answer is
    cut and halved by them, and lists both."""
    prompt = marker("far positions")
    raw = raw_post(fault_server, make_chat_request(prompt, model="fault-far", stream=True))
    assert raw.status == 200 and raw.complete, raw
    events = raw.events()
    assert events[-1] == "[DONE]"
    assert contents([check_chunk(json.loads(e)) for e in events[:-1]]) == ["alpha", " beta"]
    entry = entry_for(fault_server, prompt, True)
    assert entry["faults"] == [], entry
    assert " fault=" not in log_line(fault_server, entry["id"])
    whole = raw_post(fault_server, make_chat_request(prompt, model="fault-far"))
    assert whole.closed and not whole.complete, whole
    faults = ["disconnect_after_tokens=100", "malformed_chunk_at=50"]
    check_recorded(fault_server, prompt, False, faults, 200)


# --- malformed_chunk_at ---------------------------------------------------------------------


def test_malformed_stream_bytes(fault_server):
    prompt = marker("malformed raw")
    raw = raw_post(fault_server, make_chat_request(prompt, model="fault-malformed", stream=True))
    assert raw.status == 200
    assert raw.complete and not raw.timed_out, raw
    events = raw.events()
    # role, content 1, content 2 (broken), contents 3..6, the finish chunk, [DONE]
    assert len(events) == 1 + len(CHUNKS) + 2, events
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    broken = events[2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    assert broken.startswith('{"id":"chatcmpl-'), broken
    good = [check_chunk(json.loads(e)) for i, e in enumerate(events[:-1]) if i != 2]
    assert good[0].choices[0].delta.role == "assistant"
    assert contents(good) == [CHUNKS[0], *CHUNKS[2:]]
    assert good[-1].choices[0].finish_reason == "stop"
    check_recorded(fault_server, prompt, True, ["malformed_chunk_at=2"], 200)


def test_malformed_whole_bytes(fault_server):
    prompt = marker("malformed raw")
    raw = raw_post(fault_server, make_chat_request(prompt, model="fault-malformed"))
    # A complete 200 response (Content-Length honoured) whose body is cut JSON.
    assert raw.status == 200 and raw.complete, raw
    assert raw.headers["content-type"] == "application/json"
    assert len(raw.body) == int(raw.headers["content-length"])
    assert raw.body.startswith(b'{"id":"chatcmpl-')
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.body)
    check_recorded(fault_server, prompt, False, ["malformed_chunk_at=2"], 200)


def test_malformed_through_the_sdk(fault_server):
    client = sdk(fault_server)
    chunks, exc = sdk_stream(client, "fault-malformed", marker("malformed sdk"))
    assert isinstance(exc, json.JSONDecodeError), repr(exc)
    assert len(chunks) == 2 and contents(chunks) == CHUNKS[:1]

    with pytest.raises(json.JSONDecodeError):
        sdk_create(client, "fault-malformed", marker("malformed sdk"))


# --- error_after_tokens ---------------------------------------------------------------------

DEFAULT_500 = {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error",
    "param": None,
    "code": None,
}
SCRIPTED_429 = {
    "message": "Slow down, mid-stream",
    "type": "requests",
    "param": None,
    "code": "rate_limit_exceeded",
}


@pytest.mark.parametrize(
    ("model", "after", "error"),
    [("fault-error-after", 4, DEFAULT_500), ("fault-error-after-scripted", 2, SCRIPTED_429)],
    ids=["default-error", "scripted-error"],
)
def test_error_after_stream_bytes(fault_server, model, after, error):
    prompt = marker("error-after raw")
    raw = raw_post(fault_server, make_chat_request(prompt, model=model, stream=True))
    assert raw.status == 200
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.complete, raw  # the stream ends cleanly, just without [DONE]
    events = raw.events()
    assert "[DONE]" not in events
    assert len(events) == 1 + after + 1, events
    chunks = [check_chunk(json.loads(e)) for e in events[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert contents(chunks) == CHUNKS[:after]
    assert all(c.choices[0].finish_reason is None for c in chunks)
    last = json.loads(events[-1])
    assert set(last) == {"error"}, last
    assert set(last["error"]) == ERROR_KEYS
    assert last["error"] == error
    check_recorded(fault_server, prompt, True, [f"error_after_tokens={after}"], 200)


@pytest.mark.parametrize(
    ("model", "after", "status", "error"),
    [
        ("fault-error-after", 4, 500, DEFAULT_500),
        ("fault-error-after-scripted", 2, 429, SCRIPTED_429),
    ],
    ids=["default-error", "scripted-error"],
)
def test_error_after_whole_is_an_http_error(fault_server, model, after, status, error):
    prompt = marker("error-after whole")
    raw = raw_post(fault_server, make_chat_request(prompt, model=model))
    assert raw.status == status and raw.complete, raw
    assert raw.headers["content-type"] == "application/json"
    assert json.loads(raw.body) == {"error": error}
    check_recorded(fault_server, prompt, False, [f"error_after_tokens={after}"], status)


def test_error_after_whole_429_carries_rate_limit_headers(fault_server):
    """The non-streaming form of an in-band 429 is an HTTP 429: like every 429 the server
    sends, it says when to retry (`Retry-After`, `x-ratelimit-*`)."""
    response = httpx.post(
        f"{fault_server.base_url}/chat/completions",
        json=make_chat_request(marker("error-after 429"), model="fault-error-after-scripted"),
        timeout=5,
    )
    check_error(response, 429)
    assert response.headers.get("retry-after"), dict(response.headers)
    assert response.headers.get("x-ratelimit-remaining-requests") is not None, dict(
        response.headers
    )


@pytest.mark.parametrize(
    ("model", "after", "status", "sdk_class", "error"),
    [
        ("fault-error-after", 4, 500, openai.InternalServerError, DEFAULT_500),
        ("fault-error-after-scripted", 2, 429, openai.RateLimitError, SCRIPTED_429),
    ],
    ids=["default-error", "scripted-error"],
)
def test_error_after_through_the_sdk(fault_server, model, after, status, sdk_class, error):
    client = sdk(fault_server)
    chunks, exc = sdk_stream(client, model, marker("error-after sdk"))
    assert contents(chunks) == CHUNKS[:after]
    assert type(exc) is openai.APIError, repr(exc)  # not a status error: the status was 200
    assert exc.message == error["message"]
    assert exc.body == error
    assert exc.code == error["code"] and exc.type == error["type"]

    with pytest.raises(sdk_class) as caught:
        sdk_create(client, model, marker("error-after sdk"))
    assert caught.value.status_code == status
    assert caught.value.body == error


# --- empty_choices_error --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "error"),
    [
        (
            "fault-empty-choices",
            {
                "message": "Provider disconnected",
                "type": "server_error",
                "param": None,
                "code": "bad_gateway",
            },
        ),
        ("fault-empty-choices-default", DEFAULT_500),
    ],
    ids=["scripted-error", "default-error"],
)
def test_empty_choices_stream_bytes(fault_server, model, error):
    prompt = marker("empty raw")
    raw = raw_post(fault_server, make_chat_request(prompt, model=model, stream=True))
    assert raw.status == 200 and raw.complete, raw
    events = raw.events()
    assert "[DONE]" not in events
    assert len(events) == 2, events
    role = check_chunk(json.loads(events[0]))
    assert role.choices[0].delta.role == "assistant"
    last = json.loads(events[1])
    assert last["choices"] == []
    assert last["object"] == "chat.completion.chunk" and last["id"] == role.id
    assert last["error"] == error
    check_recorded(fault_server, prompt, True, ["empty_choices_error"], 200)


def test_empty_choices_whole_bytes(fault_server):
    prompt = marker("empty raw")
    raw = raw_post(fault_server, make_chat_request(prompt, model="fault-empty-choices"))
    assert raw.status == 200 and raw.complete, raw
    data = json.loads(raw.body)
    assert data["object"] == "chat.completion"
    assert data["choices"] == []
    assert data["error"]["message"] == "Provider disconnected"
    assert set(data["error"]) == ERROR_KEYS
    check_recorded(fault_server, prompt, False, ["empty_choices_error"], 200)


def test_empty_choices_through_the_sdk(fault_server):
    client = sdk(fault_server)
    chunks, exc = sdk_stream(client, "fault-empty-choices", marker("empty sdk"))
    assert len(chunks) == 1 and chunks[0].choices[0].delta.role == "assistant"
    assert type(exc) is openai.APIError, repr(exc)
    assert exc.message == "Provider disconnected"

    # Non-streaming, the SDK does not look for `error` in a 200 body: it returns the
    # completion, with no choices and the error as an extra field.
    completion = sdk_create(client, "fault-empty-choices", marker("empty sdk"))
    assert completion.choices == []
    assert (completion.model_extra or {})["error"]["message"] == "Provider disconnected"


# --- reset ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_reset_bytes(fault_server, stream):
    prompt = marker("reset raw")
    raw = raw_post(fault_server, make_chat_request(prompt, model="fault-reset", stream=stream))
    assert raw.data == b"", raw.data[:200]  # not even a status line
    assert raw.closed and not raw.timed_out
    assert raw.elapsed_s < 1.0
    check_recorded(fault_server, prompt, stream, ["reset"], 0)


def test_reset_through_the_sdk_and_httpx(fault_server):
    client = sdk(fault_server)
    for stream in (True, False):
        with pytest.raises(openai.APIConnectionError) as caught:
            client.chat.completions.create(
                model="fault-reset", messages=user(marker("reset sdk")), stream=stream
            )
        assert type(caught.value) is openai.APIConnectionError
        assert_cause(caught.value, httpx2.RemoteProtocolError, "without sending a response")
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            httpx.post(
                f"{fault_server.base_url}/chat/completions",
                json=make_chat_request(marker("reset httpx"), model="fault-reset", stream=stream),
                timeout=5,
            )


# --- hang -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_hang_until_the_client_times_out(fault_server, stream):
    prompt = marker("hang raw")
    raw = raw_post(
        fault_server, make_chat_request(prompt, model="fault-hang", stream=stream), timeout=0.5
    )
    assert raw.timed_out and raw.data == b"", raw
    assert 0.45 <= raw.elapsed_s < 0.9
    entry = check_recorded(fault_server, prompt, stream, ["hang"], 0)
    assert entry["error"] == "client disconnected"
    assert 400 <= entry["duration_ms"] < HANG_MAX_S * 1000, entry

    client = sdk(fault_server, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError) as caught:
        client.chat.completions.create(
            model="fault-hang", messages=user(marker("hang sdk")), stream=stream
        )
    assert time.monotonic() - started < 0.9
    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout), repr(caught.value.__cause__)


def test_hang_is_cut_at_the_server_maximum(fault_server):
    """With a patient client, the server gives up after --hang-max-s and closes, silent."""

    def raw_wait(stream: bool) -> tuple[str, Raw]:
        prompt = marker("hang max")
        raw = raw_post(
            fault_server, make_chat_request(prompt, model="fault-hang", stream=stream), timeout=5
        )
        return prompt, raw

    def sdk_wait() -> tuple[BaseException, float]:
        started = time.monotonic()
        try:
            sdk_create(sdk(fault_server, timeout=5), "fault-hang", marker("hang max sdk"))
        except Exception as exc:  # noqa: BLE001 - what the SDK raises is under test
            return exc, time.monotonic() - started
        raise AssertionError("a hung request was answered")

    before = len(problems(fault_server))
    with ThreadPoolExecutor(3) as pool:
        waits = [pool.submit(raw_wait, s) for s in (True, False)]
        from_sdk = pool.submit(sdk_wait)
        results = [w.result() for w in waits]
        exc, waited = from_sdk.result()

    for (prompt, raw), stream in zip(results, (True, False), strict=True):
        assert raw.data == b"" and raw.closed and not raw.timed_out, raw
        assert HANG_MAX_S - 0.05 <= raw.elapsed_s <= HANG_MAX_S + 0.8, raw.elapsed_s
        entry = check_recorded(fault_server, prompt, stream, ["hang"], 0)
        assert entry["error"] is None
    assert type(exc) is openai.APIConnectionError, repr(exc)
    assert_cause(exc, httpx2.RemoteProtocolError, "without sending a response")
    assert waited >= HANG_MAX_S - 0.05
    # A hang that ends as scripted is not a server error: nothing at ERROR in the log.
    assert problems(fault_server)[before:] == []


# --- drip_bytes_per_s -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "model", "rate"),
    [(True, "fault-drip", 2000), (False, "fault-drip-slow", 1000)],  # bodies of ~1 s, ~0.6 s
    ids=["stream", "whole"],
)
def test_drip_paces_the_bytes(fault_server, stream, model, rate):
    prompt = marker("drip raw")
    raw = raw_post(fault_server, make_chat_request(prompt, model=model, stream=stream), timeout=10)
    assert raw.status == 200 and raw.complete, raw
    expected = len(raw.body) / rate
    assert 0.7 * expected <= raw.elapsed_s <= 1.3 * expected, (raw.elapsed_s, expected)
    assert raw.reads >= 5, raw.reads  # many small pieces, not one write at the end
    if stream:
        events = raw.events()
        assert events[-1] == "[DONE]"
        chunks = [check_chunk(json.loads(e)) for e in events[:-1]]
        text = "".join(contents(chunks))
    else:
        text = check_completion(json.loads(raw.body)).choices[0].message.content
    assert text == "Drip, drip, drip."
    check_recorded(fault_server, prompt, stream, [f"drip_bytes_per_s={rate}"], 200)


def test_drip_through_the_sdk(fault_server):
    """A slow drip is only slow: the SDK gets the whole answer."""
    client = sdk(fault_server)
    chunks, exc = sdk_stream(client, "fault-drip-fast", marker("drip sdk"))
    assert exc is None
    assert "".join(contents(chunks)) == "A quicker drip."
    assert chunks[-1].choices[0].finish_reason == "stop"

    started = time.monotonic()
    completion = sdk_create(client, "fault-drip-slow", marker("drip sdk"))
    assert time.monotonic() - started >= 0.4  # ~600 bytes at 1000 B/s
    assert completion.choices[0].message.content == "Drip, drip, drip."


# --- a fault on an error reply ---------------------------------------------------------------


def test_fault_on_an_error_reply_is_a_plain_json_error(fault_server):
    raw = raw_post(
        fault_server, make_chat_request(marker("error+fault"), model="fault-error-429", stream=True)
    )
    assert raw.status == 429 and raw.complete, raw
    assert raw.headers["content-type"] == "application/json"
    assert b"data:" not in raw.body
    assert raw.headers["retry-after"] == "1"
    assert set(json.loads(raw.body)["error"]) == ERROR_KEYS

    client = sdk(fault_server)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="fault-error-429", messages=user(marker("error+fault")), stream=True
        )


# --- when: {probability} ---------------------------------------------------------------------

CHAOS_PROMPTS = [f"chaos probe number {i}" for i in range(200)]


def fired(server, prompts: list[str], stream: bool = False) -> set[str]:
    """The prompts for which the 50% chaos rule fired (its 503), answered concurrently."""

    def one(client: httpx.Client, prompt: str) -> tuple[str, bool]:
        body = make_chat_request(prompt, model="chaos-monkey", stream=stream)
        response = client.post(f"{server.base_url}/chat/completions", json=body)
        if stream:
            assert response.status_code == 200, response.text
            events = sse_payloads(response.content)
            return prompt, events[-1] != "[DONE]"
        assert response.status_code in (200, 503), response.text
        return prompt, response.status_code == 503

    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda p: one(client, p), prompts))
    return {prompt for prompt, hit in results if hit}


def test_probability_is_seeded_and_reproducible(fault_server, serve, tmp_path):
    rules = str(write_scenario(tmp_path, FAULT_RULES))
    with ThreadPoolExecutor(2) as pool:
        same, other = pool.map(lambda seed: serve("--scenarios", rules, "--seed", seed), ["5", "6"])
    first = fired(fault_server, CHAOS_PROMPTS)
    assert 70 <= len(first) <= 130, len(first)  # 35-65 % of 200
    sample = CHAOS_PROMPTS[:50]
    assert fired(fault_server, sample) == first & set(sample)  # the same process, again
    assert fired(same, CHAOS_PROMPTS) == first  # another process, the same --seed
    other_hits = fired(other, sample)  # another --seed: another draw (equal with odds 2**-50)
    assert other_hits != first & set(sample)
    assert 10 <= len(other_hits) <= 40
    # Streaming or not, a request gets the same draw.
    assert fired(same, sample, stream=True) == first & set(sample)

    entries = [e for e in journal(same.url) if e["model"] == "chaos-monkey"]
    lines = log_lines(same)
    for entry in entries:
        hit = entry["request"]["messages"][0]["content"] in first
        assert entry["faults"] == (["error_after_tokens=1"] if hit else []), entry
        assert entry["rule"] == ("rules.yaml#chaos" if hit else None), entry
        assert ("fault=error_after_tokens=1" in lines[entry["id"]]) == hit


# --- a storm ----------------------------------------------------------------------------------

# model -> (stream?) -> what the client sees: a status, or the transport error's name
STORM: dict[str, Callable[[bool], str]] = {
    "fault-disconnect": lambda stream: "RemoteProtocolError",
    "fault-malformed": lambda stream: "200",
    "fault-error-after": lambda stream: "200" if stream else "500",
    "fault-error-after-scripted": lambda stream: "200" if stream else "429",
    "fault-empty-choices": lambda stream: "200",
    "fault-reset": lambda stream: "RemoteProtocolError",
    "fault-hang": lambda stream: "RemoteProtocolError",
    "fault-drip-fast": lambda stream: "200",
    "fault-error-429": lambda stream: "429",
}
STORM_FAULTS = {
    "fault-disconnect": ["disconnect_after_tokens=3"],
    "fault-malformed": ["malformed_chunk_at=2"],
    "fault-error-after": ["error_after_tokens=4"],
    "fault-error-after-scripted": ["error_after_tokens=2"],
    "fault-empty-choices": ["empty_choices_error"],
    "fault-reset": ["reset"],
    "fault-hang": ["hang"],
    "fault-drip-fast": ["drip_bytes_per_s=20000"],
}


def _storm(server, count: int) -> list[tuple[str, bool, str]]:
    """`count` faulted requests, 50 at a time: (model, stream, what the client saw)."""
    models = list(STORM)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)

    def one(client: httpx.Client, i: int) -> tuple[str, bool, str]:
        model, stream = models[i % len(models)], i % 2 == 0
        body = make_chat_request(f"storm {i}", model=model, stream=stream)
        try:
            with client.stream(
                "POST", f"{server.base_url}/chat/completions", json=body
            ) as response:
                response.read()
                return model, stream, str(response.status_code)
        except httpx.TransportError as exc:
            return model, stream, type(exc).__name__

    with httpx.Client(timeout=5, limits=limits) as client, ThreadPoolExecutor(50) as pool:
        return list(pool.map(lambda i: one(client, i), range(count)))


def test_storm_of_faults_leaves_the_server_healthy(fault_server):
    server = fault_server
    before = len(problems(server))
    started = time.monotonic()
    outcomes = _storm(server, 200)
    assert time.monotonic() - started < 10
    wrong = [(m, s, got) for m, s, got in outcomes if got != STORM[m](s)]
    assert not wrong, wrong

    assert httpx.get(f"{server.url}/__admin/health", timeout=5).status_code == 200
    ok = httpx.post(
        f"{server.base_url}/chat/completions",
        json=make_chat_request("Tell me about lighthouses.", model="gpt-4o"),
        timeout=5,
    )
    assert ok.status_code == 200
    assert check_completion(ok.json()).choices[0].message.content
    streamed = httpx.post(
        f"{server.base_url}/chat/completions",
        json=make_chat_request("Tell me about harbours.", model="gpt-4o", stream=True),
        timeout=5,
    )
    assert sse_payloads(streamed.content)[-1] == "[DONE]"
    assert server.proc.poll() is None

    entries = [
        e
        for e in journal(server.url)
        if isinstance(e["request"], dict)
        and e["request"]["messages"][0]["content"].startswith("storm ")
    ]
    assert len(entries) == 200
    lines = log_lines(server)
    for entry in entries:
        faults = STORM_FAULTS.get(entry["model"])
        if faults is None:
            continue  # the 429 error reply: its fault changes nothing
        assert entry["faults"] == faults, entry
        assert f" fault={','.join(faults)}" in lines[entry["id"]]
    # test_hang_is_cut_at_the_server_maximum asserts the hang's ERROR line away; here
    # only anything else counts.
    new = [p for p in problems(server)[before:] if "returned without starting response" not in p]
    assert new == [], new
