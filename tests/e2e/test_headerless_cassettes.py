"""Cassettes whose recorder kept no response headers, replayed through the front door.

Some test suites filter every header out before they save (openinference's cassettes have
``headers: {}`` on every response). A stream recorded so is still a stream: the API sent
it as ``text/event-stream``, and its events are told apart as any recorded stream's. The
cassette below is trimmed from openinference's Anthropic instrumentation tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx

from tests.conftest import RunningServer

Serve = Callable[..., RunningServer]

STREAM = """\
interactions:
- request:
    body: '{"max_tokens": 1024, "messages": [{"role": "user", "content": "Why is the
      sky blue? Answer in 5 words or less"}], "model": "claude-2.1", "stream": true}'
    headers: {}
    method: POST
    uri: https://api.anthropic.com/v1/messages
  response:
    body:
      string: 'event: message_start

        data: {"type":"message_start","message":{"id":"msg_011i9EJybqHR6a7pmHLohGnu","type":"message","role":"assistant","model":"claude-2.1","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":1}}           }


        event: content_block_start

        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}            }


        event: content_block_delta

        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Light"}    }


        event: content_block_delta

        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"
        scatters blue."}         }


        event: content_block_stop

        data: {"type":"content_block_stop","index":0             }


        event: message_delta

        data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":10}    }


        event: message_stop

        data: {"type":"message_stop"          }


        '
    headers: {}
    status:
      code: 200
      message: OK
version: 1
"""  # noqa: E501

RULES = """\
version: 1
rules:
  - name: cut
    match: { cassette: true }
    reply:
      fault: { disconnect_after_tokens: 1 }
"""


def _question() -> dict[str, object]:
    return {
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Why is the sky blue? Answer in 5 words or less"}],
        "model": "claude-2.1",
    }


def test_a_stream_recorded_without_headers_is_served_as_a_stream(
    serve: Serve, tmp_path: Path
) -> None:
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    (cassettes / "stream.yaml").write_text(STREAM)
    server = serve("--cassettes", str(cassettes))

    raw = httpx.post(f"{server.url}/v1/messages", json={**_question(), "stream": True}, timeout=10)
    assert raw.headers["content-type"].startswith("text/event-stream")

    claude = anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)
    with claude.messages.stream(**_question()) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
    assert text == "Light scatters blue."


def test_its_events_are_the_tokens_a_replay_fault_counts(serve: Serve, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    (cassettes / "stream.yaml").write_text(STREAM)
    rules = tmp_path / "cut.yaml"
    rules.write_text(RULES)
    server = serve("--cassettes", str(cassettes), "--scenarios", str(rules))

    claude = anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)
    seen: list[str] = []
    try:
        with claude.messages.stream(**_question()) as stream:  # type: ignore[arg-type]
            seen.extend(stream.text_stream)
    except anthropic.APIConnectionError:
        pass
    assert seen == ["Light"]
