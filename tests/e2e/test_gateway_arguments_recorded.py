"""Requests with a gateway's own arguments, recorded and replayed through the front door.

OpenAI-compatible gateways take arguments the OpenAI API does not know: OpenRouter's
``reasoning`` and ``provider``, vLLM's ``top_k``. mockllm refuses such an argument as the API
does (400 Unrecognized request argument supplied). But a recorder in front of the gateway
must forward it, and a cassette that recorded the gateway's answer to it must replay it:
there, the upstream that answered is the one to believe. The cassette below is trimmed from
logfire's test suite (a vcrpy recording of OpenRouter, with its comment lines).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
import yaml

from tests.conftest import RunningServer

from .helpers import write_scenario

Serve = Callable[..., RunningServer]

OPENROUTER = """\
interactions:
- request:
    body: '{"messages":[{"role":"user","content":"Hello, how are you? (This is a trick
      question)"}],"model":"google/gemini-2.5-flash","stream":true,"reasoning":{"effort":"low"}}'
    headers:
      content-type:
      - application/json
      host:
      - openrouter.ai
    method: POST
    uri: https://openrouter.ai/api/v1/chat/completions
  response:
    body:
      string: ': OPENROUTER PROCESSING


        data: {"id":"gen-1751918758-SZqPQwzFgmd8JdDUxRuL","provider":"Google","model":"google/gemini-2.5-flash","object":"chat.completion.chunk","created":1751918759,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"**Interpreting
        User Intent**","reasoning_details":[{"type":"reasoning.text","text":"**Interpreting
        User Intent**","provider":"google-vertex"}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}


        : OPENROUTER PROCESSING


        data: {"id":"gen-1751918758-SZqPQwzFgmd8JdDUxRuL","provider":"Google","model":"google/gemini-2.5-flash","object":"chat.completion.chunk","created":1751918759,"choices":[{"index":0,"delta":{"role":"assistant","content":"That''s
        a clever way to put it!","reasoning":null,"reasoning_details":[]},"finish_reason":"stop","native_finish_reason":"STOP","logprobs":null}]}


        data: [DONE]


        '
    headers:
      Content-Type:
      - text/event-stream
    status:
      code: 200
      message: OK
version: 1
"""  # noqa: E501

QUESTION = [{"role": "user", "content": "Hello, how are you? (This is a trick question)"}]


def test_a_recorded_gateway_argument_replays(serve: Serve, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    (cassettes / "openrouter.yaml").write_text(OPENROUTER)
    server = serve("--cassettes", str(cassettes))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)

    chunks = list(
        client.chat.completions.create(
            model="google/gemini-2.5-flash",
            messages=QUESTION,  # type: ignore[arg-type]
            stream=True,
            extra_body={"reasoning": {"effort": "low"}},
        )
    )
    assert [c.choices[0].delta.content for c in chunks] == ["", "That's a clever way to put it!"]
    assert chunks[0].model_extra is not None and chunks[0].model_extra["provider"] == "Google"
    assert chunks[-1].choices[0].finish_reason == "stop"

    # Not recorded: refused as the API refuses it.
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="google/gemini-2.5-flash",
            messages=[{"role": "user", "content": "Something else"}],
            extra_body={"reasoning": {"effort": "low"}},
        )
    assert refused.value.body == {
        "message": "Unrecognized request argument supplied: reasoning",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_the_recorder_forwards_a_gateway_argument(serve: Serve, tmp_path: Path) -> None:
    rules = 'version: 1\nrules:\n  - match: { last_user: "Hi" }\n    reply: { content: "Hello!" }\n'
    gateway = serve("--lenient", "--scenarios", str(write_scenario(tmp_path, rules)))
    cassettes = tmp_path / "cassettes"
    recorder = serve(
        "--upstream", gateway.base_url, "--cassettes", str(cassettes), "--record-mode", "all"
    )
    client = openai.OpenAI(base_url=recorder.base_url, api_key="sk-test", max_retries=0)

    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"top_k": 40},
    )
    assert completion.choices[0].message.content == "Hello!"
    recorded = yaml.safe_load((cassettes / "recorded.yaml").read_text())
    assert json.loads(recorded["interactions"][0]["request"]["body"])["top_k"] == 40
