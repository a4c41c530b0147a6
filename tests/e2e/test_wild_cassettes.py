"""Cassettes as other tools write them, replayed through the front door.

Each file here is written by the real library, recording the openai SDK against a local
mockllm: vcrpy's `json` serializer, a custom serializer that keeps bodies parsed (as the
test suites of popular AI libraries register one with vcrpy), and pytest-recording's
one-file-per-test layout. A second mockllm then serves them offline.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openai import OpenAI

from tests.conftest import QUIET_PLUGINS, RunningServer, free_port, start_server

from .helpers import write_scenario

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "recording.md"

RULES = """\
version: 1
rules:
  - name: plain
    match: { last_user: { contains: "capital" } }
    reply: { content: "Paris is the capital." }
  - name: streamed
    match: { last_user: { contains: "story" } }
    reply: { chunks: ["Once", " upon", " a", " time."] }
"""
# The same calls in every recording: one answer and one stream.
CALLS = """
import json, sys
import openai

def calls(base_url):
    key = "sk-wild-test-key-000000000000"
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    plain = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What is the capital?"}])
    chunks = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell a story"}], stream=True)
    return {"plain": plain.model_dump(mode="json"),
            "chunks": [c.model_dump(mode="json") for c in chunks]}
"""
VCRPY_JSON = (
    CALLS
    + """
import vcr
path, base_url = sys.argv[1:3]
with vcr.VCR(serializer="json").use_cassette(path, record_mode="once"):
    seen = calls(base_url)
print(json.dumps(seen))
"""
)
# A serializer that keeps JSON bodies as data under `parsed_body`, streams as literal text,
# headers lower-cased and filtered: the form pydantic-ai's test suite registers with vcrpy.
PARSED_BODY_SERIALIZER = """
import json
import yaml

FILTERED_HEADER_PREFIXES = ["anthropic-", "cf-", "x-"]
FILTERED_HEADERS = {"authorization", "date", "request-id", "server", "user-agent", "via",
                    "set-cookie", "api-key"}


class LiteralDumper(yaml.Dumper):
    pass


def str_presenter(dumper, data):
    if "\\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


LiteralDumper.add_representer(str, str_presenter)


def deserialize(cassette_string):
    cassette_dict = yaml.safe_load(cassette_string)
    for interaction in cassette_dict["interactions"]:
        for kind, data in interaction.items():
            parsed_body = data.pop("parsed_body", None)
            if parsed_body is not None:
                dumped_body = json.dumps(parsed_body)
                data["body"] = {"string": dumped_body} if kind == "response" else dumped_body
    return cassette_dict


def serialize(cassette_dict):
    for interaction in cassette_dict["interactions"]:
        for _kind, data in interaction.items():
            headers = {k.lower(): v for k, v in data.get("headers", {}).items()}
            headers = {k: v for k, v in headers.items() if k not in FILTERED_HEADERS}
            headers = {k: v for k, v in headers.items()
                       if not any(k.startswith(p) for p in FILTERED_HEADER_PREFIXES)}
            data["headers"] = headers
            content_type = headers.get("content-type", [])
            if any(isinstance(h, str) and h.startswith("application/json") for h in content_type):
                body = data.get("body", None)
                if isinstance(body, dict):
                    body = body.get("string")
                if body is not None:
                    data["parsed_body"] = json.loads(body)
                    del data["body"]
    return yaml.dump(cassette_dict, Dumper=LiteralDumper, allow_unicode=True, width=120)
"""
VCRPY_PARSED = (
    CALLS
    + """
import vcr
import json_body_serializer
path, base_url = sys.argv[1:3]
recorder = vcr.VCR(decode_compressed_response=True)
recorder.register_serializer("yaml", json_body_serializer)
with recorder.use_cassette(path, record_mode="once"):
    seen = calls(base_url)
print(json.dumps(seen))
"""
)


# A persister that keeps a cassette gzipped, in the layout vcrpy holds it in memory
# ({requests, responses}, paired by index): the form LangChain's test suites keep their
# `tests/cassettes/*.yaml.gz` in. With "replay", the calls are played back from the file.
GZIPPED_PAIRS = (
    CALLS
    + """
import gzip
from pathlib import Path

import vcr
import yaml
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.request import Request


class Gzipped:
    @staticmethod
    def serialize(cassette):
        requests = [
            {"method": r.method, "uri": r.uri, "body": r.body,
             "headers": {k: [v] for k, v in r.headers.items()}}
            for r in cassette["requests"]
        ]
        data = {"requests": requests, "responses": cassette["responses"]}
        return gzip.compress(yaml.safe_dump(data).encode("utf-8"))

    @staticmethod
    def deserialize(blob):
        data = yaml.safe_load(gzip.decompress(blob).decode("utf-8"))
        return [Request(**r) for r in data["requests"]], data["responses"]


class Persister:
    @classmethod
    def load_cassette(cls, cassette_path, serializer):
        path = Path(cassette_path)
        if not path.is_file():
            raise CassetteNotFoundError(str(path))
        return serializer.deserialize(path.read_bytes())

    @staticmethod
    def save_cassette(cassette_path, cassette_dict, serializer):
        Path(cassette_path).write_bytes(serializer.serialize(cassette_dict))


path, base_url = sys.argv[1:3]
replaying = sys.argv[3:] == ["replay"]
recorder = vcr.VCR(decode_compressed_response=True, match_on=["method", "uri", "body"])
recorder.register_serializer("gzipped", Gzipped)
recorder.register_persister(Persister)
mode = "none" if replaying else "once"
with recorder.use_cassette(path, serializer="gzipped", record_mode=mode) as cassette:
    seen = calls(base_url)
    if replaying:
        client = openai.OpenAI(base_url=base_url, api_key="sk-x", max_retries=0)
        another = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Another capital?"}])
        seen["another"] = another.choices[0].message.content
        seen["played"] = cassette.play_count
print(json.dumps(seen))
"""
)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("upstream")
    server = start_server("--scenarios", str(write_scenario(tmp, RULES)), tmp_path=tmp)
    yield server
    server.stop()


def record(script: str, path: Path, base_url: str, cwd: Path, *extra: str) -> dict[str, Any]:
    """Run a recording script in a subprocess (vcrpy patches HTTP clients process-wide)."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), base_url, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def record_another(upstream: RunningServer, folder: Path, name: str, *flags: str) -> None:
    """One more exchange recorded into cassette `name` through a recording mockllm."""
    recorder = start_server(
        "--upstream", upstream.base_url, "--cassettes", str(folder),
        "--cassette", name, "--record-mode", "new_episodes", *flags,
        tmp_path=folder.parent,
    )  # fmt: skip
    try:
        client = OpenAI(base_url=recorder.base_url, api_key="sk-wild-key-00000000000000")
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Another capital?"}]
        )
    finally:
        recorder.stop()


def replay(server: RunningServer) -> dict[str, Any]:
    client = OpenAI(base_url=server.base_url, api_key="sk-other", max_retries=0)
    plain = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What is the capital?"}]
    )
    chunks = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell a story"}], stream=True
    )
    return {
        "plain": plain.model_dump(mode="json"),
        "chunks": [c.model_dump(mode="json") for c in chunks],
    }


def test_vcrpys_json_serializer_cassettes_replay(upstream: RunningServer, tmp_path: Path) -> None:
    folder = tmp_path / "cassettes"
    folder.mkdir()
    seen = record(VCRPY_JSON, folder / "test_chat.json", upstream.base_url, tmp_path)
    data = json.loads((folder / "test_chat.json").read_text())
    assert [i["request"]["uri"].endswith("/chat/completions") for i in data["interactions"]] == [
        True,
        True,
    ]
    before = (folder / "test_chat.json").read_bytes()
    server = start_server("--cassettes", str(folder), tmp_path=tmp_path)
    try:
        assert replay(server) == seen
        rules = [e["rule"] for e in httpx.get(server.url + "/__admin/requests").json()["requests"]]
        assert rules == ["test_chat.json#0", "test_chat.json#1"]
    finally:
        server.stop()
    assert (folder / "test_chat.json").read_bytes() == before  # never rewritten by loading


def test_a_parsed_body_serializers_cassettes_replay(upstream: RunningServer, tmp_path: Path):
    (tmp_path / "json_body_serializer.py").write_text(PARSED_BODY_SERIALIZER)
    folder = tmp_path / "cassettes"
    folder.mkdir()
    seen = record(VCRPY_PARSED, folder / "test_agent.yaml", upstream.base_url, tmp_path)
    text = (folder / "test_agent.yaml").read_text()
    stored = yaml.safe_load(text)["interactions"]
    assert stored[0]["request"]["parsed_body"]["messages"][0]["content"] == "What is the capital?"
    assert stored[0]["response"]["parsed_body"]["choices"][0]["message"]["content"] == (
        "Paris is the capital."
    )
    assert "body" not in stored[0]["request"] and "body" not in stored[0]["response"]
    assert stored[1]["response"]["body"]["string"].startswith("data: ")  # a stream stays text
    assert "\n  response:\n    body:\n      string: |" in text.replace("|+", "|")
    server = start_server("--cassettes", str(folder), tmp_path=tmp_path)
    try:
        got = replay(server)
    finally:
        server.stop()
    # The answer comes back as the serializer reads it back (json.dumps of the data):
    # the same object, whatever the spacing.
    assert got == seen
    assert (folder / "test_agent.yaml").read_text() == text

    # recording a new episode into it, told to keep the file's dialect
    record_another(upstream, folder, "test_agent", "--cassettes-keep-format")
    kept = yaml.safe_load((folder / "test_agent.yaml").read_text())
    assert kept.get("version") == yaml.safe_load(text).get("version")
    assert len(kept["interactions"]) == 3
    new = kept["interactions"][2]
    assert new["request"]["parsed_body"]["messages"][0]["content"] == "Another capital?"
    assert new["response"]["parsed_body"]["choices"][0]["message"]["content"] == (
        "Paris is the capital."
    )
    assert kept["interactions"][:2] == stored  # what the file held, as it held it


INNER_TEST = """
import openai
import pytest

BASE = "{base_url}"


def ask(base_url, text, **more):
    client = openai.OpenAI(base_url=base_url, api_key="sk-inner-key-0000000000000", max_retries=0)
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": text}}], **more
    )


@pytest.mark.vcr
def test_capital():
    assert ask(BASE, "What is the capital?").choices[0].message.content == "Paris is the capital."


class TestStories:
    @pytest.mark.vcr
    def test_story(self):
        chunks = ask(BASE, "Tell a story", stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
            "Once upon a time."
        )
"""
REPLAY_WITH_MOCKLLM = """
import openai
import pytest


def ask(mockllm, text, **more):
    client = openai.OpenAI(base_url=mockllm.base_url, api_key="sk-x", max_retries=0)
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **more
    )


def test_capital(mockllm):
    assert ask(mockllm, "What is the capital?").choices[0].message.content == (
        "Paris is the capital."
    )
    assert [e["rule"] for e in mockllm.requests] == ["test_inner/test_capital.yaml#0"]


class TestStories:
    def test_story(self, mockllm):
        chunks = ask(mockllm, "Tell a story", stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
            "Once upon a time."
        )
        assert [e["rule"] for e in mockllm.requests] == [
            "test_inner/TestStories.test_story.yaml#0"
        ]
"""


def test_pytest_recordings_layout_replays_one_cassette_per_test(
    upstream: RunningServer, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(test_inner=INNER_TEST.format(base_url=upstream.base_url))
    recorded = pytester.runpytest_subprocess(
        *QUIET_PLUGINS,
        "-p",
        "no:mockllm",
        "--record-mode=once",
        timeout=120,
    )
    recorded.assert_outcomes(passed=2)
    folder = pytester.path / "cassettes" / "test_inner"
    assert sorted(p.name for p in folder.iterdir()) == [
        "TestStories.test_story.yaml",
        "test_capital.yaml",
    ]
    # the same tests, now against mockllm's plugin replaying pytest-recording's folder
    shutil.move(pytester.path / "test_inner.py", pytester.path / "recorded_with_vcr.py.txt")
    pytester.makepyfile(test_inner=REPLAY_WITH_MOCKLLM)
    replayed = pytester.runpytest_subprocess(
        *QUIET_PLUGINS,
        "-p",
        "no:recording",
        "--mockllm-cassettes=cassettes",
        timeout=120,
    )
    replayed.assert_outcomes(passed=2)


def doc_json(text: str, key: str) -> Any:
    """The JSON block of docs/recording.md that holds `key`."""
    blocks = re.findall(r"```json\n(.*?)\n```", text, re.S)
    return json.loads(next(b for b in blocks if key in b))


def test_other_calls_are_skipped_and_unreadable_files_named(tmp_path: Path) -> None:
    """The outputs docs/recording.md shows, from this very run."""
    folder = tmp_path / "cassettes"
    folder.mkdir()
    item = {
        "request": {
            "method": "GET",
            "uri": "https://huggingface.co/api/models/x",
            "body": None,
            "headers": {},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {},
            "body": {"string": "{}"},
        },
    }
    (folder / "other.yaml").write_text(yaml.safe_dump({"interactions": [item, item]}))
    (folder / "broken.yaml").write_text("interactions: [\n")
    (folder / "old.json").write_text('[{"request": {}}]')
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "mockllm", "serve", "--port", str(port), "--cassettes", "cassettes"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    doc = DOC.read_text()
    assert done.stderr.strip() in doc  # every unreadable file, at once, as shown
    assert done.stderr.startswith("mockllm: 2 cassette file(s) under cassettes cannot be read")

    server = start_server(
        "--cassettes", "cassettes", "--cassettes-skip-unreadable", tmp_path=tmp_path
    )
    try:
        answer = httpx.get(server.url + "/__admin/health")
        health = answer.json()
        log = server.log()
    finally:
        server.stop()
    assert health == doc_json(doc, '"unreadable"')
    assert answer.text in doc  # byte for byte, as the page shows it
    cassettes = health["cassettes"]
    assert (cassettes["files"], cassettes["interactions"], cassettes["skipped"]) == (1, 0, 2)
    assert [u["file"] for u in cassettes["unreadable"]] == ["broken.yaml", "old.json"]
    lines = [line.split(" ", 2)[2] for line in log.splitlines() if "mockllm.cassettes" in line]
    assert len(lines) == 3 and all(line in doc for line in lines)
    assert sum("cassette skipped, it cannot be read" in line for line in lines) == 2


def test_a_gzipped_cassette_of_requests_and_responses_replays_and_records(
    upstream: RunningServer, tmp_path: Path
) -> None:
    folder = tmp_path / "cassettes"
    folder.mkdir()
    cassette = folder / "TestChat.test_invoke.yaml.gz"
    seen = record(GZIPPED_PAIRS, cassette, upstream.base_url, tmp_path)
    stored = yaml.safe_load(gzip.decompress(cassette.read_bytes()))
    assert sorted(stored) == ["requests", "responses"] and len(stored["requests"]) == 2
    before = cassette.read_bytes()
    server = start_server("--cassettes", str(folder), tmp_path=tmp_path)
    try:
        assert replay(server) == seen
        rules = [e["rule"] for e in httpx.get(server.url + "/__admin/requests").json()["requests"]]
        assert rules == [f"{cassette.name}#0", f"{cassette.name}#1"]
    finally:
        server.stop()
    assert cassette.read_bytes() == before  # never rewritten by loading

    # a new episode recorded into it: still gzipped, still requests and responses
    record_another(upstream, folder, cassette.name)
    kept = yaml.safe_load(gzip.decompress(cassette.read_bytes()))
    assert sorted(kept) == ["requests", "responses"] and len(kept["responses"]) == 3
    # the suite's own persister reads the file back and plays all three
    played = record(GZIPPED_PAIRS, cassette, upstream.base_url, tmp_path, "replay")
    assert played["another"] == "Paris is the capital."
    assert played["played"] == 3
    assert played["plain"] == seen["plain"]


# A cassette as Ruby's VCR writes it (ruby_llm's and ruby-openai's suites keep hundreds):
# `http_interactions`, a lower-case method, bodies `{encoding, string}`, bytes under Ruby's
# own `!binary` tag, `recorded_at` on each interaction and `recorded_with` at the end.
RUBY_ANSWER = {
    "id": "chatcmpl-ruby",
    "object": "chat.completion",
    "created": 1749743228,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "2 + 2 is 4."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
}
RUBY_STREAM = (
    'data: {"id":"chatcmpl-rs","object":"chat.completion.chunk","created":1749743230,'
    '"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Once"},'
    '"finish_reason":null}]}\n\n'
    'data: {"id":"chatcmpl-rs","object":"chat.completion.chunk","created":1749743230,'
    '"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    "data: [DONE]\n\n"
)


def _ruby_cassette() -> str:
    answer = base64.b64encode(json.dumps(RUBY_ANSWER).encode()).decode()
    stream = json.dumps(RUBY_STREAM)
    return f"""---
http_interactions:
- request:
    method: post
    uri: https://api.openai.com/v1/chat/completions
    body:
      encoding: UTF-8
      string: '{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"What''s
        2 + 2?"}}],"stream":false,"temperature":0.7}}'
    headers:
      User-Agent:
      - Faraday v2.13.1
      Authorization:
      - Bearer <OPENAI_API_KEY>
      Content-Type:
      - application/json
  response:
    status:
      code: 200
      message: OK
    headers:
      Content-Type:
      - application/json
      Transfer-Encoding:
      - chunked
    body:
      encoding: ASCII-8BIT
      string: !binary |-
        {answer}
  recorded_at: Thu, 12 Jun 2025 15:47:11 GMT
- request:
    method: post
    uri: https://api.openai.com/v1/chat/completions
    body:
      encoding: UTF-8
      string: '{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"Tell a story"}}],
        "stream":true}}'
    headers:
      Content-Type:
      - application/json
  response:
    status:
      code: 200
      message: OK
    headers:
      Content-Type:
      - text/event-stream; charset=utf-8
    body:
      encoding: UTF-8
      string: {stream}
  recorded_at: Thu, 12 Jun 2025 15:47:12 GMT
recorded_with: VCR 6.3.1
"""


def test_a_ruby_vcr_cassette_replays_and_records_in_its_own_form(
    upstream: RunningServer, tmp_path: Path
) -> None:
    folder = tmp_path / "vcr_cassettes"
    folder.mkdir()
    cassette = folder / "ask_openai_can_ask_a_question.yml"
    cassette.write_text(_ruby_cassette())
    before = cassette.read_bytes()
    server = start_server("--cassettes", str(folder), tmp_path=tmp_path)
    try:
        client = OpenAI(base_url=server.base_url, api_key="sk-other", max_retries=0)
        answer = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What's 2 + 2?"}],
            stream=False,
            temperature=0.7,
        )
        assert answer.model_dump(mode="json", exclude_unset=True) == RUBY_ANSWER
        chunks = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell a story"}], stream=True
        )
        assert [c.choices[0].delta.content for c in chunks] == ["Once", None]
    finally:
        server.stop()
    assert cassette.read_bytes() == before  # never rewritten by loading

    record_another(upstream, folder, cassette.name)
    kept = yaml.safe_load(cassette.read_text())
    assert sorted(kept) == ["http_interactions", "recorded_with"]
    assert kept["recorded_with"] == "VCR 6.3.1"
    first, _, new = kept["http_interactions"]
    assert first["recorded_at"] == "Thu, 12 Jun 2025 15:47:11 GMT"
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", new["recorded_at"])
    assert new["request"]["method"] == "post"
    sent = json.loads(new["request"]["body"]["string"])
    assert sent["messages"][0]["content"] == "Another capital?"
    assert new["request"]["body"]["encoding"] == "UTF-8"
    assert json.loads(new["response"]["body"]["string"])["choices"][0]["message"]["content"] == (
        "Paris is the capital."
    )
    assert sorted(new) == ["recorded_at", "request", "response"]
