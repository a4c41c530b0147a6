"""Cassettes: vcrpy's format read and written, matching, replay order, scrubbing, names."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest
import vcr
import yaml
from vcr.cassette import Cassette

from mockllm.cassettes import (
    REDACTED,
    CassetteError,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    Recorder,
    Scrubber,
    load_cassette,
    resolve_name,
    should_record,
)
from mockllm.errors import ConfigError, MockLLMError
from mockllm.library import CassetteLibrary, Miss

FOREIGN = Path(__file__).parent / "data" / "cassettes" / "foreign"
URL = "https://api.openai.com/v1/chat/completions"
KEY = "sk-proj-" + "Zx9" * 12  # a made-up key shaped like a real one
PATH = "/v1/chat/completions"


def chat_body(model: str = "gpt-4o", content: str = "hi", **extra: object) -> bytes:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": content}]
    return orjson.dumps({"model": model, "messages": messages, **extra})


def make_request(body: bytes | None = None, key: str = KEY, url: str = URL) -> RecordedRequest:
    headers = (("Authorization", f"Bearer {key}"), ("Content-Type", "application/json"))
    return RecordedRequest("POST", PATH, "", headers, chat_body() if body is None else body, url)


def make_response(content: str = "hello") -> RecordedResponse:
    body = orjson.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
    return RecordedResponse(200, "OK", (("Content-Type", "application/json"),), body)


def sse(*payloads: str) -> tuple[bytes, ...]:
    return tuple(f"data: {p}\n\n".encode() for p in payloads)


def make_stream(*events: bytes, gap: float = 0.02) -> RecordedResponse:
    timed = tuple((round(0.2 + i * gap, 4), e) for i, e in enumerate(events))
    headers = (("content-type", "text/event-stream"), ("Transfer-Encoding", "chunked"))
    return RecordedResponse(200, "OK", headers, b"".join(events), timed)


def interaction(body: bytes, answer: str, cassette: str = "c.yaml", index: int = 0) -> Interaction:
    request = RecordedRequest("POST", PATH, body=body, url=URL)
    return Interaction(request, make_response(answer), index, cassette)


def answer_of(found: Interaction | Miss) -> str:
    assert isinstance(found, Interaction), found
    return str(orjson.loads(found.response.body)["choices"][0]["message"]["content"])


# --- reading foreign cassettes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("gzip_binary.yaml", "Hello from gzip"),
        ("brotli_binary.yaml", "Hello from brotli"),
        ("plain_binary.yaml", "Hello from binary"),
        ("httpx_old_format.yaml", "Hello from old httpx"),
    ],
)
def test_foreign_bodies_are_decoded(name: str, content: str) -> None:
    (found,) = load_cassette(FOREIGN / name, name)
    assert answer_of(found) == content
    served = {k.lower() for k, _ in found.response.headers}
    assert served.isdisjoint(
        {"content-encoding", "content-length", "connection", "transfer-encoding"}
    )
    assert found.request.json["model"] == "gpt-4o-mini"
    assert (found.request.method, found.request.path, found.index) == ("POST", PATH, 0)
    assert found.response.events is None


def test_gzip_fixture_keeps_unknown_headers() -> None:
    (found,) = load_cassette(FOREIGN / "gzip_binary.yaml", "foreign/gzip_binary.yaml")
    assert ("openai-processing-ms", "312") in found.response.headers
    assert found.cassette == "foreign/gzip_binary.yaml"


def test_sse_stored_as_one_body_is_split_into_events() -> None:
    (found,) = load_cassette(FOREIGN / "sse_one_body.yaml", "sse.yaml")
    events = found.response.events
    assert events is not None and len(events) == 5
    assert all(offset == 0.0 for offset, _ in events) and not found.response.has_timing
    assert b"".join(e for _, e in events) == found.response.body
    assert events[-1][1] == b"data: [DONE]\n\n"
    deltas = [json.loads(e[6:])["choices"][0]["delta"] for _, e in events[:-1]]
    assert "".join(d.get("content", "") for d in deltas) == "Hello there"


def test_sse_with_crlf_and_a_trailing_event_without_blank_line(tmp_path: Path) -> None:
    body = 'data: {"a": 1}\r\n\r\n: keep-alive\r\n\r\ndata: [DONE]'
    path = tmp_path / "crlf.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "interactions": [
                    {
                        "request": {"method": "POST", "uri": URL, "body": None, "headers": {}},
                        "response": {
                            "status": {"code": 200, "message": "OK"},
                            "headers": {"Content-Type": "text/event-stream"},
                            "body": {"string": body},
                        },
                    }
                ],
            }
        )
    )
    (found,) = load_cassette(path, "crlf.yaml")
    assert [e for _, e in found.response.events or ()] == [
        b'data: {"a": 1}\r\n\r\n',
        b": keep-alive\r\n\r\n",
        b"data: [DONE]",
    ]
    assert found.request.body == b""


def test_empty_file_holds_no_interactions(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("\n")
    assert load_cassette(tmp_path / "empty.yaml", "empty.yaml") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("interactions: [\n  - {request: 1\n", r"bad\.yaml:\d+: not valid YAML"),
        ("- request: {}\n", "written by vcrpy before 1.0"),
        ("hello: world\n", "no 'interactions' list"),
        (
            "interactions:\n- response: {status: {code: 200}}\n",
            r"bad\.yaml:2: interactions\[0\]: missing required key 'request'",
        ),
        (
            "interactions:\n- request: {method: GET, uri: 'http://x/'}\n",
            r"bad\.yaml:2: interactions\[0\]: missing required key 'response'",
        ),
        ("x: !!python/object/apply:os.system ['echo owned']\n", r"bad\.yaml:1: not valid YAML"),
    ],
)
def test_broken_cassettes_say_what_is_wrong(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CassetteError, match=expected) as caught:
        load_cassette(path, "bad.yaml")
    assert isinstance(caught.value, MockLLMError) and str(path) in str(caught.value)


def test_missing_cassette_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="no such cassette"):
        load_cassette(tmp_path / "nope.yaml", "nope.yaml")


def test_cassette_recorded_by_vcrpy_with_the_openai_sdk_loads(tmp_path: Path) -> None:
    with _local_upstream() as base_url:
        client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0)
        with client, vcr.use_cassette(str(tmp_path / "sdk.yaml"), record_mode="once"):
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert reply.choices[0].message.content == "gzipped hello"
    assert streamed == "Hello there"
    raw = (tmp_path / "sdk.yaml").read_text()
    assert "!!binary" in raw and "gzip" in raw  # vcrpy kept the encoded bytes
    plain, streaming = load_cassette(tmp_path / "sdk.yaml", "sdk.yaml")
    assert answer_of(plain) == "gzipped hello"
    assert plain.request.json["messages"] == [{"role": "user", "content": "hi"}]
    events = streaming.response.events
    assert events is not None and len(events) == 4 and events[-1][1] == b"data: [DONE]\n\n"
    assert streaming.request.json["stream"] is True


class _Upstream(http.server.BaseHTTPRequestHandler):
    """A stand-in for the OpenAI API: SSE when asked to stream, else gzip-encoded JSON."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        head = {"id": "c1", "created": 1, "model": "m"}
        if request.get("stream"):
            deltas = [{"role": "assistant"}, {"content": "Hello"}, {"content": " there"}]
            chunks = [
                {**head, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d}]}
                for d in deltas
            ]
            body = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
            self._send(body + b"data: [DONE]\n\n", "text/event-stream", None)
        else:
            message = {"role": "assistant", "content": "gzipped hello"}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            completion = {**head, "object": "chat.completion", "choices": [choice]}
            self._send(gzip.compress(orjson.dumps(completion)), "application/json", "gzip")

    def _send(self, body: bytes, content_type: str, encoding: str | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local upstream must be reached directly, whatever the environment says."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@contextlib.contextmanager
def _local_upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- writing --------------------------------------------------------------------------------


def test_round_trip_keeps_events_and_timing(tmp_path: Path) -> None:
    events = sse('{"c": "Hel"}', '{"c": "lo ✓"}', "[DONE]")
    recorder = Recorder(tmp_path, Scrubber())
    written = recorder.append("sub/stream", make_request(), make_stream(*events))
    (loaded,) = load_cassette(tmp_path / "sub" / "stream.yaml", "sub/stream.yaml")
    assert loaded == written
    assert loaded.response.events == ((0.2, events[0]), (0.22, events[1]), (0.24, events[2]))
    assert loaded.response.has_timing
    assert ("Transfer-Encoding", "chunked") not in loaded.response.headers
    assert loaded.cassette == "sub/stream.yaml" and loaded.request.url == URL


def test_written_file_is_vcrpys_format(tmp_path: Path) -> None:
    Recorder(tmp_path, Scrubber()).append("a", make_request(), make_response())
    data = yaml.safe_load((tmp_path / "a.yaml").read_text())
    assert data["version"] == 1
    (item,) = data["interactions"]
    assert set(item["request"]) == {"body", "headers", "method", "uri"}
    assert item["request"]["uri"] == URL and item["request"]["method"] == "POST"
    assert item["response"]["status"] == {"code": 200, "message": "OK"}
    assert item["response"]["headers"] == {"Content-Type": ["application/json"]}
    assert json.loads(item["response"]["body"]["string"])["choices"]
    assert "mockllm" not in item["response"]  # nothing to add for a plain answer


def test_binary_bodies_are_written_as_binary(tmp_path: Path) -> None:
    response = RecordedResponse(200, "OK", (("content-type", "image/png"),), b"\x89PNG\xff\x00")
    Recorder(tmp_path, Scrubber()).append("bin", make_request(), response)
    assert "!!binary" in (tmp_path / "bin.yaml").read_text()
    (loaded,) = load_cassette(tmp_path / "bin.yaml", "bin.yaml")
    assert loaded.response.body == b"\x89PNG\xff\x00"


def test_plain_vcrpy_loads_and_plays_our_file(tmp_path: Path) -> None:
    events = sse('{"c": "Hi"}', "[DONE]")
    recorder = Recorder(tmp_path, Scrubber())
    recorder.append("user", make_request(), make_stream(*events))
    recorder.append("user", make_request(chat_body(content="again")), make_response("plain"))
    path = str(tmp_path / "user.yaml")

    cassette = Cassette.load(path=path)
    assert len(cassette) == 2
    assert cassette.responses[0]["mockllm"]["events"] == "0.2:19 0.22:14"

    with vcr.use_cassette(path, record_mode="none"), httpx.Client() as client:
        streamed = client.post(URL, content=chat_body())
        plain = client.post(URL, content=chat_body(content="again"))
    assert streamed.status_code == 200 and streamed.content == b"".join(events)
    assert streamed.headers["content-type"] == "text/event-stream"
    assert plain.json()["choices"][0]["message"]["content"] == "plain"


def test_vcrpy_keeps_our_timing_when_it_saves_the_file_again(tmp_path: Path) -> None:
    events = sse('{"c": "Hi"}', "[DONE]")
    written = Recorder(tmp_path, Scrubber()).append("again", make_request(), make_stream(*events))
    path = str(tmp_path / "again.yaml")
    with _local_upstream() as base_url, vcr.use_cassette(path, record_mode="new_episodes"):
        with httpx.Client() as client:
            client.post(f"{base_url}/chat/completions", content=b'{"model": "m"}')
    ours, theirs = load_cassette(tmp_path / "again.yaml", "again.yaml")
    assert ours == written and ours.response.has_timing
    assert answer_of(theirs) == "gzipped hello"


def test_appending_keeps_what_the_file_held(tmp_path: Path) -> None:
    shutil.copy(FOREIGN / "gzip_binary.yaml", tmp_path / "mixed.yaml")
    Recorder(tmp_path, Scrubber()).append("mixed", make_request(), make_response("new"))
    old, new = load_cassette(tmp_path / "mixed.yaml", "mixed.yaml")
    assert answer_of(old) == "Hello from gzip" and answer_of(new) == "new"
    assert new.index == 1


def test_replace_drops_what_the_file_held_for_the_same_request(tmp_path: Path) -> None:
    first = Recorder(tmp_path, Scrubber())
    first.append("all", make_request(chat_body(content="q1")), make_response("old q1"))
    first.append("all", make_request(chat_body(content="q2")), make_response("old q2"))
    again = Recorder(tmp_path, Scrubber())
    again.append(
        "all", make_request(chat_body(content="q1")), make_response("new q1"), replace=True
    )
    again.append(
        "all", make_request(chat_body(content="q1")), make_response("q1 bis"), replace=True
    )
    loaded = load_cassette(tmp_path / "all.yaml", "all.yaml")
    assert [answer_of(i) for i in loaded] == ["old q2", "new q1", "q1 bis"]


def test_append_refuses_to_overwrite_a_broken_cassette(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("interactions: [\n")
    with pytest.raises(CassetteError, match="not valid YAML"):
        Recorder(tmp_path, Scrubber()).append("broken", make_request(), make_response())
    assert (tmp_path / "broken.yaml").read_text() == "interactions: [\n"


def test_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, Scrubber())
    start = threading.Barrier(20)

    def record(i: int) -> None:
        start.wait()
        recorder.append("busy", make_request(chat_body(content=f"q{i}")), make_response(f"a{i}"))

    threads = [threading.Thread(target=record, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loaded = load_cassette(tmp_path / "busy.yaml", "busy.yaml")
    assert sorted(answer_of(i) for i in loaded) == sorted(f"a{i}" for i in range(20))
    assert [i.index for i in loaded] == list(range(20))
    assert os.listdir(tmp_path) == ["busy.yaml"]


def test_a_failed_save_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(tmp_path, Scrubber())
    recorder.append("safe", make_request(), make_response("first"))
    before = (tmp_path / "safe.yaml").read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        recorder.append("safe", make_request(), make_response("second"))
    monkeypatch.undo()
    assert (tmp_path / "safe.yaml").read_bytes() == before
    assert os.listdir(tmp_path) == ["safe.yaml"]
    recorder.append("safe", make_request(), make_response("third"))
    assert [answer_of(i) for i in load_cassette(tmp_path / "safe.yaml", "safe")] == [
        "first",
        "third",
    ]


def test_recorded_interaction_replays_at_once(tmp_path: Path) -> None:
    library = CassetteLibrary.load(tmp_path / "not-yet")
    recorder = Recorder(tmp_path / "not-yet", Scrubber(), library=library)
    assert isinstance(library.find("POST", PATH, chat_body()), Miss)
    recorder.append("live", make_request(), make_response("recorded"))
    assert answer_of(library.find("POST", PATH, chat_body(), cassette="live")) == "recorded"
    assert not library.existed("live")


def test_client_path_is_kept_when_the_upstream_path_differs(tmp_path: Path) -> None:
    request = make_request(url="https://gateway.example/openai/v1/chat/completions")
    Recorder(tmp_path, Scrubber()).append("gw", request, make_response())
    (loaded,) = load_cassette(tmp_path / "gw.yaml", "gw.yaml")
    assert loaded.request.path == PATH
    assert loaded.request.url == "https://gateway.example/openai/v1/chat/completions"


def test_uri_falls_back_to_the_origin(tmp_path: Path) -> None:
    request = RecordedRequest("POST", PATH, "a=1", body=chat_body())
    Recorder(tmp_path, Scrubber(), origin="https://example.test/").append(
        "o", request, make_response()
    )
    (loaded,) = load_cassette(tmp_path / "o.yaml", "o.yaml")
    assert loaded.request.url == "https://example.test/v1/chat/completions?a=1"
    assert loaded.request.query == "a=1"


# --- matching and replay --------------------------------------------------------------------


def test_library_loads_a_folder_recursively(tmp_path: Path) -> None:
    shutil.copytree(FOREIGN, tmp_path / "foreign")
    (tmp_path / "notes.txt").write_text("not a cassette")
    library = CassetteLibrary.load(tmp_path)
    assert library.existed("foreign/gzip_binary") and library.existed("foreign/sse_one_body.yaml")
    sent = {"messages": [{"content": "say hello", "role": "user"}], "model": "gpt-4o-mini"}
    found = library.find("POST", PATH, orjson.dumps(sent), cassette="foreign/brotli_binary")
    assert answer_of(found) == "Hello from brotli"


def test_library_refuses_a_broken_cassette(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "bad.yml").write_text("interactions: 3\n")
    with pytest.raises(CassetteError, match="bad.yml"):
        CassetteLibrary.load(tmp_path)


def test_body_matches_as_json_data() -> None:
    library = CassetteLibrary([interaction(chat_body(temperature=0.5), "yes")])
    sent = b'{\n  "temperature": 0.5,\n  "messages": [{"content": "be brief", "role": "system"},'
    sent += b' {"role": "user", "content": "hi"}], "model": "gpt-4o"}'
    assert answer_of(library.find("post", PATH + "/", sent)) == "yes"
    assert isinstance(library.find("POST", PATH, chat_body(temperature=0.7)), Miss)
    assert isinstance(library.find("GET", PATH, sent), Miss)
    assert isinstance(library.find("POST", "/v1/embeddings", sent), Miss)
    # the same API family behind another prefix (a gateway's /api/v4, an SDK without /v1)
    assert answer_of(library.find("POST", "/chat/completions", sent)) == "yes"
    assert answer_of(library.find("POST", "/api/v4/chat/completions", sent)) == "yes"


def test_ignored_fields_do_not_count() -> None:
    recorded = interaction(chat_body(user="alice", metadata={"run": 1}), "yes")
    sent = chat_body(user="bob", stream_options={"include_usage": True})
    assert isinstance(CassetteLibrary([recorded]).find("POST", PATH, sent), Miss)
    ignoring = CassetteLibrary([recorded], ignore_fields=frozenset({"user", "metadata"}))
    assert isinstance(ignoring.find("POST", PATH, sent), Miss)  # stream_options not ignored
    ignoring = CassetteLibrary(
        [recorded], ignore_fields=frozenset({"user", "metadata", "stream_options"})
    )
    assert answer_of(ignoring.find("POST", PATH, sent)) == "yes"


def test_non_json_bodies_compare_as_bytes() -> None:
    library = CassetteLibrary([interaction(b"plain text", "yes")])
    assert answer_of(library.find("POST", PATH, b"plain text")) == "yes"
    assert isinstance(library.find("POST", PATH, b"plain  text"), Miss)


def test_repeats_replay_in_order_then_repeat_the_last() -> None:
    recorded = [interaction(chat_body(), f"answer {i}", index=i) for i in range(2)]
    library = CassetteLibrary(
        [*recorded, interaction(chat_body(content="other"), "other", index=2)]
    )
    answers = [answer_of(library.find("POST", PATH, chat_body())) for _ in range(4)]
    assert answers == ["answer 0", "answer 1", "answer 1", "answer 1"]
    assert answer_of(library.find("POST", PATH, chat_body(content="other"))) == "other"
    library.reset()
    assert answer_of(library.find("POST", PATH, chat_body())) == "answer 0"


def test_without_repeat_last_a_used_up_request_misses() -> None:
    library = CassetteLibrary([interaction(chat_body(), "once")], repeat_last=False)
    assert answer_of(library.find("POST", PATH, chat_body())) == "once"
    miss = library.find("POST", PATH, chat_body())
    assert isinstance(miss, Miss) and miss.nearest is not None
    assert "replayed already" in miss.diff[0]


def test_a_named_cassette_is_matched_alone() -> None:
    library = CassetteLibrary(
        [interaction(chat_body(), "a", "a.yaml"), interaction(chat_body(), "b", "b.yaml")]
    )
    assert answer_of(library.find("POST", PATH, chat_body(), cassette="b")) == "b"
    assert answer_of(library.find("POST", PATH, chat_body())) == "a"
    miss = library.find("POST", PATH, chat_body(), cassette="c.yaml")
    assert isinstance(miss, Miss) and miss.cassette == "c.yaml" and miss.nearest is None
    assert "loaded: a.yaml, b.yaml" in miss.diff[0]
    with pytest.raises(CassetteError, match=r"'\.\./x'"):
        library.find("POST", PATH, chat_body(), cassette="../x")


def test_miss_names_the_nearest_request_and_the_differences() -> None:
    long = "a very long question " * 10
    library = CassetteLibrary(
        [
            interaction(chat_body(model="gpt-4o", content="unrelated"), "x", index=0),
            interaction(chat_body(model="gpt-4o", content=long, seed=1, top_p=1), "y", index=1),
            interaction(chat_body(model="gpt-4o", content="long", seed=1, top_p=1), "z", index=2),
            Interaction(RecordedRequest("GET", "/v1/models"), make_response(), 3, "c.yaml"),
        ]
    )
    miss = library.find("POST", PATH, chat_body(model="gpt-4o-mini", content="unrelated?", n=2))
    assert isinstance(miss, Miss) and miss.cassette is None
    assert miss.nearest is not None and miss.nearest.index == 0
    assert miss.diff[0] == "model: recorded 'gpt-4o' != sent 'gpt-4o-mini'"
    assert "messages[1].content: recorded 'unrelated' != sent 'unrelated?'" in miss.diff
    assert "n: not recorded, sent 2" in miss.diff

    miss = library.find("POST", PATH, chat_body(model="gpt-4o", content=long + "!", seed=1))
    assert isinstance(miss, Miss) and miss.nearest is not None and miss.nearest.index == 1
    line = next(d for d in miss.diff if d.startswith("messages[1].content"))
    assert "..." in line and len(line) < 200
    assert "top_p: recorded 1, not sent" in miss.diff


def test_miss_prefers_the_same_route() -> None:
    library = CassetteLibrary(
        [
            Interaction(
                RecordedRequest("POST", "/v1/embeddings", body=chat_body()), make_response(), 0, "c"
            ),
            interaction(chat_body(model="other", content="other"), "x", index=1),
        ]
    )
    miss = library.find("POST", PATH, chat_body())
    assert isinstance(miss, Miss) and miss.nearest is not None and miss.nearest.index == 1


def test_miss_on_an_empty_library_and_on_raw_bodies() -> None:
    assert CassetteLibrary().find("POST", PATH, b"{}") == Miss(
        None, None, ("no interactions are recorded",)
    )
    miss = CassetteLibrary([interaction(b"abc", "x")]).find("POST", PATH, b"abd")
    assert isinstance(miss, Miss) and miss.diff == ("body: recorded b'abc' != sent b'abd'",)


def test_library_is_safe_across_threads() -> None:
    recorded = [interaction(chat_body(), f"a{i}", index=i) for i in range(50)]
    library = CassetteLibrary(recorded, repeat_last=False)
    answers: list[str] = []

    def play() -> None:
        for _ in range(10):
            answers.append(answer_of(library.find("POST", PATH, chat_body())))

    threads = [threading.Thread(target=play) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == sorted(f"a{i}" for i in range(50))


# --- names and record modes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("../x", r"'\.\.' segment"),
        ("/etc/passwd", "is absolute"),
        ("a/../../x", r"'\.\.' segment"),
        ("a\x00b", "NUL"),
        ("a\\b", "backslash"),
        ("C:/x", "is absolute"),
        ("", "is empty"),
        ("  ", "is empty"),
        (".", "names no file"),
        (".x", "is hidden"),
        ("a/.git/x", "is hidden"),
    ],
)
def test_resolve_name_refuses_names_that_leave_the_folder(
    tmp_path: Path, name: str, rule: str
) -> None:
    with pytest.raises(CassetteError, match=rule):
        resolve_name(tmp_path, name)


def test_resolve_name_refuses_a_symlink_escape(tmp_path: Path) -> None:
    root, outside = tmp_path / "cassettes", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(CassetteError, match="symbolic link"):
        resolve_name(root, "link/x")
    with pytest.raises(CassetteError, match="symbolic link"):
        Recorder(root, Scrubber()).append("link/x", make_request(), make_response())
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("x.yml/sub", "goes through .*x.yml, which is a file"),
        ("folder", "names the folder"),
        ("folder.yaml", "names the folder"),
        ("a" * 300, "is too long: its file name has 305 bytes"),
        ("b" * 300 + "/x", "is too long: a folder name has 300 bytes"),
        ("a/" * 3000 + "b", "is too long: its path has"),
        ("mockllm", "settings file"),
    ],
)
def test_resolve_name_refuses_names_that_cannot_be_a_file(
    tmp_path: Path, name: str, rule: str
) -> None:
    (tmp_path / "x.yml").write_text("x: 1\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(CassetteError, match=rule):
        resolve_name(tmp_path, name)


def test_recorder_check_refuses_a_cassette_it_could_not_append_to(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("a: [\n")
    (tmp_path / "other.yaml").write_text("x: 1\n")
    recorder = Recorder(tmp_path, Scrubber())
    with pytest.raises(CassetteError, match=r"broken.yaml:2: not valid YAML"):
        recorder.check("broken")
    with pytest.raises(CassetteError, match="no 'interactions' list"):
        recorder.check("other")
    recorder.check("new/one")  # not there yet: fine, and nothing is written
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("name", "relative"),
    [
        ("test_x", "test_x.yaml"),
        ("sub/dir/test_x.yaml", "sub/dir/test_x.yaml"),
        ("a.yml", "a.yml"),
        ("a.json", "a.json"),
        ("./a//b.v2", "a/b.v2.yaml"),
    ],
)
def test_resolve_name_accepts_relative_names(tmp_path: Path, name: str, relative: str) -> None:
    assert resolve_name(tmp_path, name) == tmp_path / relative


@pytest.mark.parametrize(
    ("mode", "exists", "matched", "expected"),
    [
        ("none", False, False, False),
        ("none", True, True, False),
        ("once", False, False, True),
        ("once", False, True, True),
        ("once", True, False, False),
        ("new_episodes", True, False, True),
        ("new_episodes", True, True, False),
        ("all", True, True, True),
    ],
)
def test_should_record_follows_vcrpy(
    mode: str, exists: bool, matched: bool, expected: bool
) -> None:
    assert should_record(mode, exists, matched) is expected  # type: ignore[arg-type]


def test_unknown_record_mode_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid modes: none, once, new_episodes, all"):
        should_record("always", True, True)  # type: ignore[arg-type]


# --- scrubbing ------------------------------------------------------------------------------


def test_credential_headers_are_redacted(tmp_path: Path) -> None:
    request = make_request()
    request = RecordedRequest(
        request.method,
        request.path,
        headers=(*request.headers, ("X-API-KEY", "k" * 10), ("Cookie", "s=1"), ("X-Trace", "t"))
        + (("X-Echo", f"key={KEY}"),),
        body=request.body,
        url=URL,
    )
    response = RecordedResponse(
        200, "OK", (("Set-Cookie", "s=2"), ("OpenAI-Organization", "org-1"), ("x-ok", "1")), b"{}"
    )
    scrub = Scrubber(extra_headers=frozenset({"x-trace"}))
    written = Recorder(tmp_path, scrub).append("h", request, response)
    assert dict(written.request.headers) == {
        "Authorization": REDACTED,
        "Content-Type": "application/json",
        "X-API-KEY": REDACTED,
        "Cookie": REDACTED,
        "X-Trace": REDACTED,
        "X-Echo": f"key={REDACTED}",
    }
    text = (tmp_path / "h.yaml").read_text()
    assert KEY not in text and "org-1" not in text and "s=1" not in text
    stored = yaml.safe_load(text)["interactions"][0]["response"]["headers"]
    assert stored == {"Set-Cookie": [REDACTED], "OpenAI-Organization": [REDACTED], "x-ok": ["1"]}
    assert dict(written.response.headers) == {"x-ok": "1"}  # what a replay sends back


def test_body_paths_are_removed() -> None:
    body = orjson.dumps(
        {
            "model": "m",
            "metadata": {"user_email": "a@b.c", "run": 1},
            "messages": [{"role": "user", "name": "alice", "content": "x"}],
        }
    )
    scrub = Scrubber(body_paths=("metadata.user_email", "messages.*.name", "absent.path"))
    scrubbed = scrub.request(make_request(body))
    assert scrubbed.json == {
        "model": "m",
        "metadata": {"run": 1},
        "messages": [{"role": "user", "content": "x"}],
    }
    events = sse('{"id": 1, "metadata": {"user_email": "a@b.c"}}', "[DONE]")
    stream = scrub.response(make_stream(*events))
    assert stream.events is not None and stream.events[0][1] == b'data: {"id":1,"metadata":{}}\n\n'
    assert stream.body == b"".join(e for _, e in stream.events)
    assert scrub.request(make_request(b"not json")).body == b"not json"


def test_keys_in_bodies_are_redacted(tmp_path: Path) -> None:
    other = "ak_" + "Q" * 24
    body = chat_body(content=f"my key is {KEY}, and {other}; a risk-assessment-report-2024-final")
    response = make_response(f"you said {KEY} and sk-{'b' * 30}")
    written = Recorder(tmp_path, Scrubber()).append("k", make_request(body), response)
    assert written.request.json["messages"][1]["content"] == (
        f"my key is {REDACTED}, and {REDACTED}; a risk-assessment-report-2024-final"
    )
    assert answer_of(written) == f"you said {REDACTED} and {REDACTED}"
    text = (tmp_path / "k.yaml").read_text()
    assert KEY not in text and other not in text and "sk-bbbb" not in text


def test_configured_secrets_are_redacted_from_query_and_bodies() -> None:
    scrub = Scrubber(secrets=frozenset({"hunter2-hunter2"}))
    request = RecordedRequest(
        "POST",
        PATH,
        "key=hunter2-hunter2",
        body=b'{"p": "hunter2-hunter2"}',
        url=f"{URL}?key=hunter2-hunter2",
    )
    scrubbed = scrub.request(request, secrets=("short",))
    assert "hunter2" not in repr(scrubbed)
    assert scrub.secrets_in((("Authorization", "Bearer tok-12345678"),)) == {
        "hunter2-hunter2",
        "tok-12345678",
        "Bearer tok-12345678",
    }


def test_a_key_split_across_sse_events_is_redacted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "my-own-gateway-key-0123456789"  # not key-shaped: known from the header only
    first = f'data: {{"c": "{KEY[:12]}'.encode()
    second = f"{KEY[12:]} and {secret[:9]}".encode()
    third = f'{secret[9:]}"}}\n\n'.encode()
    events = (first, second, third, *sse("[DONE]"))
    request = make_request(key=secret)
    recorder = Recorder(tmp_path, Scrubber())
    written = recorder.append("split", request, make_stream(*events))
    assert secret not in caplog.text
    text = (tmp_path / "split.yaml").read_text()
    for value in (KEY, secret, KEY[12:], secret[9:]):
        assert value not in text
    (loaded,) = load_cassette(tmp_path / "split.yaml", "split.yaml")
    assert loaded == written and loaded.response.events is not None
    assert [o for o, _ in loaded.response.events] == [0.2, 0.22, 0.24, 0.26]
    body = loaded.response.body
    assert body == f'data: {{"c": "{REDACTED} and {REDACTED}"}}\n\ndata: [DONE]\n\n'.encode()
    for event in body.split(b"\n\n")[:-1]:  # every event still parses on its own
        assert event.startswith(b"data: ")
        if event != b"data: [DONE]":
            json.loads(event[6:])


def test_an_event_made_only_of_a_secret_disappears() -> None:
    key = KEY.encode()
    events = (b'data: {"c": "' + key[:5], key[5:20], key[20:] + b'"}\n\n')
    scrubbed = Scrubber().response(make_stream(*events))
    assert scrubbed.events == ((0.2, f'data: {{"c": "{REDACTED}'.encode()), (0.24, b'"}\n\n'))


def test_secrets_are_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    library = CassetteLibrary.load(tmp_path)
    recorder = Recorder(tmp_path, Scrubber(), library=library)
    recorder.append("log", make_request(chat_body(content=KEY)), make_response(KEY))
    library.find("POST", PATH, chat_body(content=KEY))
    CassetteLibrary.load(tmp_path)
    assert KEY not in caplog.text


# --- boundaries -----------------------------------------------------------------------------


def test_importing_the_module_pulls_in_no_http_library() -> None:
    code = (
        "import sys, mockllm.cassettes; "
        "print(sorted({'vcr', 'httpx', 'starlette', 'uvicorn'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_vcrpy_is_imported_by_cassettes_only() -> None:
    package = Path(__file__).parent.parent / "mockllm"
    importers = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"^\s*(import vcr\b|from vcr[. ])", path.read_text(), re.MULTILINE)
    }
    assert importers == {"cassettes.py"}


def test_a_redacted_response_header_is_not_replayed(tmp_path: Path) -> None:
    request = make_request()
    recorded = RecordedRequest(request.method, request.path, body=request.body, url=URL)
    response = RecordedResponse(200, "OK", (("Set-Cookie", "s=2"), ("x-ok", "1")), b"{}")
    Recorder(tmp_path, Scrubber()).append("c", recorded, response)
    stored = yaml.safe_load((tmp_path / "c.yaml").read_text())["interactions"][0]["response"]
    assert stored["headers"]["Set-Cookie"] == [REDACTED]
    (found,) = load_cassette(tmp_path / "c.yaml", "c.yaml")
    assert dict(found.response.headers) == {"x-ok": "1"}  # no cookie of '<redacted>'


def test_a_gzipped_cassette_is_read_in_either_layout_and_named_by_its_suffixes(
    tmp_path: Path,
) -> None:
    from mockllm.cassettes import cassette_files, normal_name
    from mockllm.validate import check_files

    request = {
        "method": "POST",
        "uri": "https://api.openai.com/v1/embeddings",
        "body": '{"input": "hi", "model": "text-embedding-3-small"}',
        "headers": {"content-type": ["application/json"]},
    }
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["application/json"]},
        "body": {"string": b'{"object": "list", "data": []}'},
    }
    pairs = {"requests": [request], "responses": [response]}
    (tmp_path / "pairs.yaml.gz").write_bytes(gzip.compress(yaml.safe_dump(pairs).encode()))
    versioned = {"version": 1, "interactions": [{"request": request, "response": response}]}
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "plain.json.gz").write_bytes(gzip.compress(json.dumps(
        versioned, default=bytes.decode
    ).encode()))  # fmt: skip
    assert [p.name for p in cassette_files(tmp_path)] == ["pairs.yaml.gz", "plain.json.gz"]
    for path in cassette_files(tmp_path):
        (found,) = load_cassette(path, path.name)
        assert found.request.path == "/v1/embeddings"
        assert found.response.body == b'{"object": "list", "data": []}'
    assert normal_name("TestChat.test_invoke.yaml.gz") == "TestChat.test_invoke.yaml.gz"
    assert normal_name("x.gz") == "x.gz.yaml"
    (checked,) = check_files([tmp_path / "pairs.yaml.gz"])
    assert (checked.kind, checked.summary, checked.problems) == ("cassette", "1 interaction", ())

    # what is wrong is named: not gzip, requests and responses that do not pair
    (tmp_path / "bad.yaml.gz").write_text("interactions: []\n")
    with pytest.raises(CassetteError, match=r"bad\.yaml\.gz: not a gzip file"):
        load_cassette(tmp_path / "bad.yaml.gz", "bad.yaml.gz")
    (checked,) = check_files([tmp_path / "bad.yaml.gz"])
    assert "not a gzip file" in checked.problems[0].message
    pairs["responses"] = []
    (tmp_path / "odd.yaml.gz").write_bytes(gzip.compress(yaml.safe_dump(pairs).encode()))
    with pytest.raises(CassetteError, match="1 requests but 0 responses"):
        load_cassette(tmp_path / "odd.yaml.gz", "odd.yaml.gz")


def test_a_ruby_vcr_cassette_reads_as_vcrpys_and_validates(tmp_path: Path) -> None:
    from mockllm.validate import check_files

    text = """---
http_interactions:
- request:
    method: post
    uri: https://api.anthropic.com/v1/messages
    body:
      encoding: ASCII-8BIT
      base64_string: |
        eyJtb2RlbCI6ImNsYXVkZSJ9
    headers:
      Content-Type:
      - application/json
  response:
    status:
      code: 200
      message: OK
    headers:
      Content-Type:
      - application/json
    body:
      encoding: ASCII-8BIT
      string: !binary |-
        eyJ0eXBlIjoibWVzc2FnZSJ9
  recorded_at: Thu, 12 Jun 2025 15:47:11 GMT
recorded_with: VCR 6.3.1
"""
    path = tmp_path / "ruby.yml"
    path.write_text(text)
    (found,) = load_cassette(path, "ruby.yml")
    assert (found.request.method, found.request.path) == ("POST", "/v1/messages")
    assert (found.request.body, found.response.body) == (
        b'{"model":"claude"}',
        b'{"type":"message"}',
    )
    (checked,) = check_files([path])
    assert (checked.kind, checked.summary, checked.problems) == ("cassette", "1 interaction", ())


def test_a_betamax_cassette_keeps_its_form_when_recorded_into(tmp_path: Path) -> None:
    # Betamax (Python's port of Ruby's VCR) writes JSON: upper-case methods, ISO 8601
    # recorded_at, which it parses when it loads the file.
    first = {
        "request": {
            "method": "POST",
            "uri": URL,
            "body": {"encoding": "utf-8", "string": chat_body().decode()},
            "headers": {"Content-Type": ["application/json"]},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["application/json"]},
            "body": {"encoding": "utf-8", "string": '{"choices": []}'},
            "url": URL,
        },
        "recorded_at": "2017-01-17T15:10:23",
    }
    data = {"http_interactions": [first], "recorded_with": "betamax/0.8.1"}
    (tmp_path / "b.json").write_text(json.dumps(data))
    (loaded,) = load_cassette(tmp_path / "b.json", "b.json")
    assert loaded.response.body == b'{"choices": []}'
    Recorder(tmp_path, Scrubber()).append("b.json", make_request(), make_response("hi"))
    kept = json.loads((tmp_path / "b.json").read_text())
    assert sorted(kept) == ["http_interactions", "recorded_with"]
    assert kept["recorded_with"] == "betamax/0.8.1"
    old, new = kept["http_interactions"]
    assert (old["request"]["method"], new["request"]["method"]) == ("POST", "POST")
    assert old["recorded_at"] == "2017-01-17T15:10:23"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", new["recorded_at"])
    assert json.loads(new["response"]["body"]["string"])["choices"][0]["message"]["content"] == "hi"
