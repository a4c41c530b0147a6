"""Cassettes written by cassetter, replayed through the front door.

cassetter (the recorder pydantic-ai's test suite moved to from vcrpy) writes vcrpy's layout
with three differences: a body is ``{type: json|text|binary|none, content: ...}`` (JSON kept
as YAML data, a stream as text, bytes as hex), a status is a bare integer, and each
interaction has a ``recorded_at``. Its YAML writer leaves dates unquoted (``2020-10-01``),
which are strings to it. The files below are trimmed from pydantic-ai's cassettes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anthropic
import openai
import pytest

from tests.conftest import RunningServer

Serve = Callable[..., RunningServer]

MESSAGE = """\
version: 1
interactions:
- request:
    method: POST
    uri: https://api.anthropic.com/v1/messages?beta=true
    headers:
      accept:
      - application/json
      content-type:
      - application/json
      host:
      - api.anthropic.com
    body:
      type: json
      content:
        max_tokens: 4096
        messages:
        - content:
          - text: What is the capital of France?
            type: text
          role: user
        model: claude-3-opus-latest
        stream: false
        system: |+
          You are a helpful assistant.

  response:
    status: 200
    headers:
      content-type:
      - application/json
      transfer-encoding:
      - chunked
    body:
      type: json
      content:
        content:
        - text: The capital of France is Paris.
          type: text
        id: msg_01Fg1JVgvCYUHWsxrj9GkpEv
        model: claude-3-opus-20240229
        role: assistant
        stop_reason: end_turn
        stop_sequence: null
        type: message
        usage:
          input_tokens: 20
          output_tokens: 10
  recorded_at: 2026-03-06T19:24:49.824352+00:00
"""

STREAM = """\
version: 1
interactions:
- request:
    method: POST
    uri: https://api.anthropic.com/v1/messages?beta=true
    headers:
      content-type:
      - application/json
    body:
      type: json
      content:
        max_tokens: 4096
        messages:
        - content:
          - text: Think, then say hi
            type: text
          role: user
        model: claude-sonnet-4-5-20250929
        stream: true
        thinking:
          budget_tokens: 1024
          type: enabled
  response:
    status: 200
    headers:
      content-type:
      - text/event-stream; charset=utf-8
      cache-control:
      - no-cache
    body:
      type: text
      content: |+
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_018XZkwvj9asBiffg3fXt88s","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":92,"output_tokens":88}}    }

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"EqkECkYIBxgCKkA8"}           }

        event: content_block_stop
        data: {"type":"content_block_stop","index":0  }

        event: ping
        data: {"type": "ping"}

        event: content_block_start
        data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}    }

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}               }

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" there."} }

        event: content_block_stop
        data: {"type":"content_block_stop","index":1   }

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":189}    }

        event: message_stop
        data: {"type":"message_stop"          }

  recorded_at: 2026-03-06T19:24:49.845258+00:00
"""  # noqa: E501

COUNT_ERROR = """\
version: 1
interactions:
- request:
    method: POST
    uri: https://api.anthropic.com/v1/messages/count_tokens?beta=true
    headers:
      content-type:
      - application/json
    body:
      type: json
      content:
        messages:
        - content:
          - text: hello
            type: text
          role: user
        model: claude-does-not-exist
  response:
    status: 404
    headers:
      content-type:
      - application/json
    body:
      type: json
      content:
        error:
          message: 'model: claude-does-not-exist'
          type: not_found_error
        request_id: req_011CVEA3SF7rnb3DuBZytqQa
        type: error
  recorded_at: 2026-03-06T19:26:02.829948+00:00
"""

RESPONSES_ERROR = """\
version: 1
interactions:
- request:
    method: POST
    uri: https://api.openai.com/v1/responses
    headers:
      content-type:
      - application/json
    body:
      type: json
      content:
        input:
        - content: What is the capital of Spain?
          role: user
        instructions: ''
        model: gpt-4o
  response:
    status: 429
    headers:
      content-type:
      - application/json
      openai-version:
      - 2020-10-01
      retry-after:
      - '20'
    body:
      type: json
      content:
        error:
          code: rate_limit_exceeded
          message: Rate limit reached for gpt-4o. Please try again in 20s.
          param: null
          type: requests
  recorded_at: 2026-03-06T19:45:34.630506+00:00
"""


@pytest.fixture
def cassettes(tmp_path: Path) -> Path:
    folder = tmp_path / "cassettes" / "test_anthropic"
    folder.mkdir(parents=True)
    (folder / "test_message.yaml").write_text(MESSAGE)
    (folder / "test_stream.yaml").write_text(STREAM)
    (folder / "test_count_tokens_error.yaml").write_text(COUNT_ERROR)
    (folder.parent / "test_responses_error.yaml").write_text(RESPONSES_ERROR)
    return folder.parent


def test_cassetters_files_validate(cassettes: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockllm", "validate", str(cassettes)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": cassette, 1 interaction\n") == 4, done.stdout


def test_cassetters_files_replay_to_the_sdks(serve: Serve, cassettes: Path) -> None:
    server = serve("--cassettes", str(cassettes))
    assert "cassettes=4 interactions=4 skipped=0 unreadable=0" in server.log()
    claude = anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)

    message = claude.beta.messages.create(
        model="claude-3-opus-latest",
        max_tokens=4096,
        system="You are a helpful assistant.\n\n",
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is the capital of France?"}],
            }
        ],
        stream=False,
    )
    assert message.id == "msg_01Fg1JVgvCYUHWsxrj9GkpEv"
    assert message.content[0].type == "text"
    assert message.content[0].text == "The capital of France is Paris."
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 10)

    with claude.beta.messages.stream(
        model="claude-sonnet-4-5-20250929",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": [{"type": "text", "text": "Think, then say hi"}]}],
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert events.count("content_block_start") == 2
    assert [block.type for block in final.content] == ["redacted_thinking", "text"]
    assert final.content[1].type == "text" and final.content[1].text == "Hi there."
    assert final.stop_reason == "end_turn"

    # count_tokens is answered by mockllm's own route unless a recording says otherwise; the
    # recording's query (?beta=true, which the SDK pydantic-ai recorded with sent) is sent too.
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.beta.messages.count_tokens(
            model="claude-does-not-exist",
            messages=[{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
            extra_query={"beta": "true"},
        )
    assert missing.value.body == {
        "error": {"message": "model: claude-does-not-exist", "type": "not_found_error"},
        "request_id": "req_011CVEA3SF7rnb3DuBZytqQa",
        "type": "error",
    }

    gpt = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.RateLimitError) as limited:
        gpt.responses.create(
            model="gpt-4o",
            instructions="",
            input=[{"role": "user", "content": "What is the capital of Spain?"}],
        )
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "20"
    assert limited.value.response.headers["openai-version"] == "2020-10-01"


def test_a_vcrpy_cassette_with_recorded_at_loads(serve: Serve, tmp_path: Path) -> None:
    # vcrpy reads only request and response: Ruby's VCR, and cassetter's vcrpy-shaped
    # files, put a recorded_at beside them.
    cassettes = tmp_path / "cas"
    cassettes.mkdir()
    (cassettes / "ruby.yaml").write_text(
        """\
interactions:
- request:
    body: '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}'
    headers: {Content-Type: [application/json]}
    method: POST
    uri: https://api.openai.com/v1/chat/completions
  response:
    body: {string: '{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}]}'}
    headers: {Content-Type: [application/json]}
    status: {code: 200, message: OK}
  recorded_at: Tue, 01 Nov 2011 04:58:44 GMT
version: 1
"""  # noqa: E501
    )
    server = serve("--cassettes", str(cassettes))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.choices[0].message.content == "Hello!"


def test_a_token_count_recorded_with_beta_true_replays_to_a_newer_sdk(
    serve: Serve, tmp_path: Path
) -> None:
    # The anthropic SDK pydantic-ai recorded with sent beta calls to ...?beta=true; the SDK
    # of today sends the same call without the query.
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    (cassettes / "count.yaml").write_text(COUNT_ERROR)
    server = serve("--cassettes", str(cassettes))
    claude = anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.beta.messages.count_tokens(
            model="claude-does-not-exist",
            messages=[{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        )
    assert missing.value.body["request_id"] == "req_011CVEA3SF7rnb3DuBZytqQa"


SPEECH = """\
version: 1
interactions:
- request:
    method: POST
    uri: https://api.openai.com/v1/audio/speech
    headers:
      content-type:
      - application/json
    body:
      type: json
      content:
        input: Hi
        model: gpt-4o-mini-tts
        voice: alloy
  response:
    status: 200
    headers:
      content-type:
      - audio/mpeg
    body:
      type: binary
      content: '4944330400000000000fff'
  recorded_at: '2026-03-06T19:26:02Z'
- request:
    method: GET
    uri: https://api.openai.com/v1/models/gpt-4o-mini-tts
    headers: {}
    body:
      type: none
  response:
    status: 200
    headers:
      content-type:
      - application/json
    body:
      type: json
      content: {id: gpt-4o-mini-tts, object: model, created: 1742403959, owned_by: system}
  recorded_at: '2026-03-06T19:26:03Z'
"""


def test_cassetters_bytes_and_empty_bodies_replay(serve: Serve, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    (cassettes / "speech.yaml").write_text(SPEECH)
    server = serve("--cassettes", str(cassettes))
    gpt = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)

    speech = gpt.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="Hi")
    assert speech.content == bytes.fromhex("4944330400000000000fff")
    assert speech.response.headers["content-type"] == "audio/mpeg"
    model = gpt.models.retrieve("gpt-4o-mini-tts")
    assert (model.id, model.created, model.owned_by) == ("gpt-4o-mini-tts", 1742403959, "system")
