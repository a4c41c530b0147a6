"""Cassettes at their edges, through the front door: a recorder (`mockllm serve --upstream`)
in front of a second local mockllm, driven with the official openai SDK and raw httpx."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import RunningServer

from .helpers import check_error, journal, make_chat_request, post_chat, write_scenario

UPSTREAM_RULES = """\
version: 1
rules:
  - name: slow
    match: { last_user: "slow story" }
    reply:
      chunks: ["Once", " upon", " a", " time."]
      latency: { ttft_ms: 600, inter_token_ms: 100 }
  - name: dropped
    match: { last_user: "dropped story" }
    reply:
      chunks: ["Once", " upon", " a", " time."]
      fault: { disconnect_after_tokens: 2 }
"""

Serve = Callable[..., RunningServer]


@pytest.fixture
def upstream(serve: Serve, tmp_path: Path) -> RunningServer:
    return serve("--scenarios", str(write_scenario(tmp_path, UPSTREAM_RULES, "upstream.yaml")))


def _recorder(serve: Serve, upstream: RunningServer, cassettes: Path) -> RunningServer:
    return serve(
        "--upstream",
        upstream.base_url,
        "--cassettes",
        str(cassettes),
        "--record-mode",
        "new_episodes",
        "--cassettes-skip-unreadable",
    )


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("x.yml/sub", "goes through"),
        ("a" * 300, "is too long"),
        ("broken", "not valid YAML"),
        ("x.yml", "no 'interactions' list"),
        ("mockllm", "settings file"),
    ],
)
def test_a_cassette_that_cannot_be_recorded_into_is_refused_before_forwarding(
    serve: Serve, upstream: RunningServer, tmp_path: Path, name: str, says: str
) -> None:
    cassettes = tmp_path / "cas"
    cassettes.mkdir()
    (cassettes / "x.yml").write_text("x: 1\n")
    (cassettes / "broken.yaml").write_text("a: [\n")
    recorder = _recorder(serve, upstream, cassettes)
    client = openai.OpenAI(base_url=recorder.base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Hi"}],
            extra_headers={"X-Mockllm-Cassette": name},
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "invalid_cassette" and says in error["message"], error
    assert error["param"] == "x-mockllm-cassette"
    assert journal(upstream.url) == []  # nothing was forwarded
    assert sorted(p.name for p in cassettes.iterdir()) == ["broken.yaml", "x.yml"]
    assert "Traceback" not in recorder.log()


def test_a_write_that_fails_after_the_answer_still_completes_it(
    serve: Serve, upstream: RunningServer, tmp_path: Path
) -> None:
    cassettes = tmp_path / "cas"
    (cassettes / "sub").mkdir(parents=True)
    recorder = _recorder(serve, upstream, cassettes)

    def break_folder() -> None:
        time.sleep(0.3)  # the request is upstream by now: its first token is due at 600 ms
        shutil.rmtree(cassettes / "sub")
        (cassettes / "sub").write_text("a file where the cassette's folder was\n")

    breaker = threading.Thread(target=break_folder)
    breaker.start()
    response = post_chat(
        recorder.base_url,
        make_chat_request("slow story", stream=True),
        headers={"X-Mockllm-Cassette": "sub/late"},
    )
    breaker.join()
    assert response.status_code == 200
    assert response.content.endswith(b"data: [DONE]\n\n")
    log = recorder.log_with("not recorded")
    lost = [line for line in log.splitlines() if "not recorded" in line]
    assert len(lost) == 1 and "cassette=sub/late" in lost[0], log
    assert "Traceback" not in log
    # and the recorder goes on: a name that can be written records
    ok = post_chat(recorder.base_url, make_chat_request("Hi"), headers={"X-Mockllm-Cassette": "b"})
    assert ok.status_code == 200 and (cassettes / "b.yaml").is_file()


def test_a_name_through_a_file_is_refused_when_replaying_too(serve: Serve, tmp_path: Path) -> None:
    cassettes = tmp_path / "cas"
    cassettes.mkdir()
    (cassettes / "x.yml").write_text("x: 1\n")
    server = serve("--cassettes", str(cassettes), "--cassettes-skip-unreadable")
    response = post_chat(
        server.base_url, make_chat_request("Hi"), headers={"X-Mockllm-Cassette": "x.yml/sub"}
    )
    error = check_error(response, 400)
    assert error["code"] == "invalid_cassette"


# --- response bodies ------------------------------------------------------------------------

CASSETTE = """\
interactions:
- request:
    body: '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "b64"}]}'
    headers: {Content-Type: [application/json]}
    method: POST
    uri: https://api.openai.com/v1/chat/completions
  response:
BODY
    headers: {content-type: [application/json]}
    status: {code: 200, message: OK}
version: 1
"""
ANSWER = (
    b'{"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": '
    b'"gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": '
    b'"from base64"}, "finish_reason": "stop"}]}'
)


def _cassette(body: str) -> str:
    return CASSETTE.replace("BODY\n", body)


def test_a_base64_string_body_replays(serve: Serve, tmp_path: Path) -> None:
    import base64

    cassettes = tmp_path / "cas"
    cassettes.mkdir()
    encoded = base64.b64encode(ANSWER).decode()
    body = f"    body: {{encoding: UTF-8, base64_string: {encoded}}}\n"
    (cassettes / "b64.yaml").write_text(_cassette(body))
    server = serve("--cassettes", str(cassettes))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "b64"}]
    )
    assert completion.choices[0].message.content == "from base64"


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        ("    body: {strng: x}\n", 8, "response.body.strng: unknown key 'strng'; did you mean"),
        ("    body: {strng: x}\n", 8, "response.body: no 'string' or 'base64_string'"),
        ("    body: {base64_string: 42}\n", 8, "'base64_string' must be text"),
        ("", 7, "interactions[0].response: missing required key 'body'"),
        ("    body: {base64_string: '@@@'}\n", 8, "base64_string: 'base64_string' is not valid"),
    ],
)
def test_a_response_without_a_body_string_is_refused_naming_file_line_and_field(
    serve: Serve, tmp_path: Path, body: str, line: int, says: str
) -> None:
    import subprocess
    import sys

    path = tmp_path / "c.yaml"
    path.write_text(_cassette(body))
    validate = subprocess.run(
        [sys.executable, "-m", "mockllm", "validate", "--cassette", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert validate.returncode == 1
    assert any(
        x.startswith(f"{path}:{line}: interactions[0].") and says in x
        for x in validate.stdout.splitlines()
    ), validate.stdout
    with pytest.raises(RuntimeError) as caught:
        serve("--cassettes", str(tmp_path))
    assert says in str(caught.value), caught.value


# --- validate and serve check a cassette alike -----------------------------------------------

OLD_VCRPY = """\
interactions:
- request:
    body: !!python/unicode '{"model": "gpt-4o-mini", "messages": [{"role": "user",
      "content": "uni"}]}'
    headers: {Content-Type: [application/json]}
    method: POST
    uri: https://api.openai.com/v1/chat/completions
  response:
    body: {string: !!python/unicode '{"id": "chatcmpl-1", "object": "chat.completion",
      "created": 1700000000, "model": "gpt-4o-mini", "choices": [{"index": 0, "message":
      {"role": "assistant", "content": "old vcrpy"}, "finish_reason": "stop"}]}'}
    headers: {content-type: [application/json]}
    status: {code: 200, message: OK}
version: 1
"""


def _validate(*args: str) -> tuple[int, str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mockllm", "validate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_old_vcrpy_tags_validate_in_a_folder_as_they_serve(serve: Serve, tmp_path: Path) -> None:
    cassettes = tmp_path / "cas"
    cassettes.mkdir()
    (cassettes / "old.yaml").write_text(OLD_VCRPY)
    assert _validate(str(cassettes)) == (
        0,
        f"ok: {cassettes / 'old.yaml'}: cassette, 1 interaction\n",
    )
    assert _validate("--cassette", str(cassettes / "old.yaml"))[0] == 0
    server = serve("--cassettes", str(cassettes))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "uni"}]
    )
    assert completion.choices[0].message.content == "old vcrpy"


def test_an_empty_cassette_validates_as_it_serves(serve: Serve, tmp_path: Path) -> None:
    cassettes = tmp_path / "cas"
    cassettes.mkdir()
    (cassettes / "empty.yaml").write_text("\n")
    code, out = _validate("--cassette", str(cassettes / "empty.yaml"))
    assert code == 0 and "cassette, 0 interactions" in out, out
    serve("--cassettes", str(cassettes))  # starts


def test_serve_says_what_validate_says_with_the_line(serve: Serve, tmp_path: Path) -> None:
    cassettes = tmp_path / "cas"
    cassettes.mkdir()
    path = cassettes / "c_badstatus.yaml"
    path.write_text(OLD_VCRPY.replace("code: 200", "code: abc").replace("version: 1", "versio: 1"))
    code, out = _validate("--cassette", str(path))
    said = [
        f"{path}:13: interactions[0].response.status.code: expected an integer, found a string",
        f"{path}:14: versio: unknown key 'versio'; did you mean 'version'?",
    ]
    assert code == 1 and all(line in out for line in said), out
    with pytest.raises(RuntimeError) as caught:
        serve("--cassettes", str(cassettes))
    assert all(line in str(caught.value) for line in said), caught.value


def test_a_stream_the_upstream_broke_off_replays_broken_off(
    serve: Serve, upstream: RunningServer, tmp_path: Path
) -> None:
    cassettes = tmp_path / "cas"
    recorder = _recorder(serve, upstream, cassettes)
    request = make_chat_request("dropped story", stream=True)
    with pytest.raises(httpx.RemoteProtocolError):
        post_chat(recorder.base_url, request)
    recorded = (cassettes / "recorded.yaml").read_text()
    assert "cut: true" in recorded
    replayer = serve("--cassettes", str(cassettes))
    client = openai.OpenAI(base_url=replayer.base_url, api_key="sk-test", max_retries=0)
    stream = client.chat.completions.create(**request)
    deltas: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            deltas.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(deltas) == "Once upon"  # what the upstream sent before it broke off


# --- keys vcrpy does not read --------------------------------------------------------------

EXTRA_KEYS = """\
interactions:
- request:
    body: '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"extra"}]}'
    headers: {Content-Type: [application/json]}
    method: POST
    uri: https://api.openai.com/v1/chat/completions
  response:
    body: {string: '{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}]}'}
    headers: {Content-Type: [application/json]}
    status: {code: 200, message: OK}
    elapsed: 0.25
  STATUS_LINE
recorded_with: VCR 6.0.0
version: 1
"""  # noqa: E501


def test_keys_vcrpy_ignores_are_ignored_and_a_misspelt_one_named(
    serve: Serve, tmp_path: Path
) -> None:
    # vcrpy reads only request, response and a response's status, headers and body: a
    # recorder's own keys beside them (a timing, the tool that wrote the file) do not stop it.
    cassettes = tmp_path / "cas"
    cassettes.mkdir()
    (cassettes / "extra.yaml").write_text(EXTRA_KEYS.replace("  STATUS_LINE\n", ""))
    assert _validate(str(cassettes)) == (
        0,
        f"ok: {cassettes / 'extra.yaml'}: cassette, 1 interaction\n",
    )
    server = serve("--cassettes", str(cassettes))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "extra"}]
    )
    assert completion.choices[0].message.content == "Hello!"

    # A key close to one that counts is a slip of the pen: named, with the one it meant.
    (cassettes / "extra.yaml").write_text(EXTRA_KEYS.replace("STATUS_LINE", "respons: {}"))
    code, said = _validate(str(cassettes / "extra.yaml"))
    assert code == 1
    assert "interactions[0].respons: unknown key 'respons'; did you mean 'response'?" in said
