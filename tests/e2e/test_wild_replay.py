"""Cassettes shaped as other projects' test suites record the real APIs, replayed through
the official SDKs.

Each cassette here is small and written by hand, with the structure a recording made
elsewhere has (the serializer, the URLs and queries its SDK sent, the bodies the API
answered); one server serves them all.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
import yaml

from tests.conftest import RunningServer, start_server

RESPONSE_ID = "resp_0bg5aa11ce5e"


def _response(status: str, text: str | None = None) -> dict[str, object]:
    output = (
        [
            {
                "id": "msg_0bg5aa11ce5e",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ]
        if text is not None
        else []
    )
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": 1770000000,
        "status": status,
        "background": True,
        "model": "gpt-4o-2024-08-06",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def _json_answer(data: dict[str, object]) -> dict[str, object]:
    """A recorded response kept parsed, as a parsed-body serializer writes it."""
    return {
        "headers": {"content-type": ["application/json"]},
        "parsed_body": data,
        "status": {"code": 200, "message": "OK"},
    }


# A background response polled by an SDK call that passed stream=False: the polls were
# recorded as GET .../responses/{id}?stream=false.
BACKGROUND_POLLS = {
    "interactions": [
        {
            "request": {
                "method": "POST",
                "uri": "https://api.openai.com/v1/responses",
                "headers": {"content-type": ["application/json"]},
                "parsed_body": {
                    "background": True,
                    "input": [{"role": "user", "content": "What is 2 + 2?"}],
                    "model": "gpt-4o",
                    "stream": False,
                },
            },
            "response": _json_answer(_response("queued")),
        },
        *(
            {
                "request": {
                    "method": "GET",
                    "uri": f"https://api.openai.com/v1/responses/{RESPONSE_ID}?stream=false",
                    "body": "",
                    "headers": {"accept": ["application/json"]},
                },
                "response": _json_answer(_response(*answer)),
            }
            for answer in (("in_progress",), ("completed", "2 + 2 equals 4."))
        ),
    ],
    "version": 1,
}


def _chat(content: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-0bg5aa11ce5e",
        "object": "chat.completion",
        "created": 1770000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }


# Requests recorded with whole numbers written as fractions (a Python client's
# temperature=1.0) and as integers (a JavaScript client's 0 for 0.0).
NUMBERS = {
    "interactions": [
        {
            "request": {
                "method": "POST",
                "uri": "https://api.openai.com/v1/chat/completions",
                "headers": {"content-type": ["application/json"]},
                "parsed_body": {
                    "messages": [{"role": "user", "content": "Say hi."}],
                    "model": "gpt-4o-mini",
                    "temperature": 1.0,
                    "top_p": 0.5,
                },
            },
            "response": _json_answer(_chat("Hi there.")),
        },
        {
            "request": {
                "method": "POST",
                "uri": "https://api.openai.com/v1/chat/completions",
                "headers": {"content-type": ["application/json"]},
                "body": '{"messages":[{"role":"user","content":"Say bye."}],'
                '"model":"gpt-4o-mini","temperature":0}',
            },
            "response": _json_answer(_chat("Bye.")),
        },
    ],
    "version": 1,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("wild-replay")
    folder = tmp / "cassettes"
    folder.mkdir()
    (folder / "background_polls.yaml").write_text(yaml.safe_dump(BACKGROUND_POLLS))
    (folder / "numbers.yaml").write_text(yaml.safe_dump(NUMBERS))
    running = start_server("--cassettes", str(folder), "--replay-speed", "0", tmp_path=tmp)
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[openai.OpenAI]:
    httpx.post(f"{server.url}/__admin/reset").raise_for_status()  # every recording unplayed
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def test_polls_recorded_with_stream_false_answer_a_plain_retrieve(client: openai.OpenAI) -> None:
    started = client.responses.create(
        model="gpt-4o",
        input=[{"role": "user", "content": "What is 2 + 2?"}],
        background=True,
        stream=False,
    )
    assert started.status == "queued"
    # The latest SDK's retrieve(id) sends no query; the recording has ?stream=false.
    polls = [client.responses.retrieve(started.id) for _ in range(2)]
    assert [poll.status for poll in polls] == ["in_progress", "completed"]
    assert polls[1].output_text == "2 + 2 equals 4."


def test_whole_numbers_match_however_they_are_written(client: openai.OpenAI) -> None:
    """A request is matched whether its whole numbers are written as the recording wrote
    them or not (temperature 1 for a recorded 1.0, 0.0 for a recorded 0): the API reads
    them alike. Other numbers still tell requests apart."""
    said = [{"role": "user", "content": "Say hi."}]
    hi = client.chat.completions.create(
        model="gpt-4o-mini", messages=said, temperature=1, top_p=0.5
    )  # fmt: skip
    assert hi.choices[0].message.content == "Hi there."
    bye = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say bye."}], temperature=0.0
    )
    assert bye.choices[0].message.content == "Bye."
    with pytest.raises(openai.APIStatusError):  # a miss: 0.25 is not 0.5
        client.chat.completions.create(
            model="gpt-4o-mini", messages=said, temperature=1, top_p=0.25
        )  # fmt: skip
