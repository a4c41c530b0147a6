"""Failures on purpose as the official SDKs meet them, family by family: which answers they
retry and how often (counted in the journal), how long they wait before each retry (their
sleep is patched: nothing waits), and how an error or a cut in the middle of a stream
reaches the caller.

Both SDKs (openai 3.x, anthropic 2.x, `_base_client.py`) retry 408, 409, 429 and 5xx
`max_retries` times (2 by default) unless `x-should-retry` says otherwise, and a refused
connection or a body cut before its end; they wait what `retry-after-ms` or
`retry-after` says, else 0.5 s doubling, less up to a quarter. Nothing of a stream that
has begun is retried (the request was answered 200).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from ..conftest import RunningServer, start_server
from .helpers import write_scenario

STATUSES = (429, 500, 529, 408, 402, 400)
# A rule per status (audit-status-429 answers 429, ...), and the faults in a stream.
RULES = (
    "version: 1\nrules:\n"
    + "".join(
        f"  - {{ name: status-{s}, match: {{ model: audit-status-{s} }}, "
        f"reply: {{ error: {{ status: {s} }} }} }}\n"
        for s in STATUSES
    )
    + """\
  - name: overloaded-mid-stream
    match: { model: audit-overloaded-mid }
    reply:
      chunks: ["one", " two", " three", " four"]
      fault: { error_after_tokens: 2, error: { status: 529 } }
  - name: failed-mid-stream
    match: { model: audit-failed-mid }
    reply:
      chunks: ["one", " two", " three", " four"]
      fault: { error_after_tokens: 2, error: { status: 500, message: "upstream failed" } }
  - name: transient
    match: { model: audit-transient }
    sequence:
      - error: { status: 529 }
      - content: "Back again."
  - name: chaos
    match: { model: audit-chaos }
    when: { probability: 0.5 }
    reply: { error: { status: 503 } }
  - name: calm
    match: { model: audit-chaos }
    reply: { content: "Calm." }
  - name: cut-mid-stream
    match: { model: audit-cut-mid }
    reply:
      chunks: ["one", " two", " three", " four"]
      fault: { disconnect_after_tokens: 2 }
"""
)


# Recorded streams of the Responses and Messages APIs (as the API writes them, shortened),
# which a replay rule breaks after their first delta.
RECORDED_RESPONSES = [
    {"type": "response.created", "sequence_number": 0},
    {"type": "response.in_progress", "sequence_number": 1},
    *(
        {"type": "response.output_text.delta", "delta": d, "sequence_number": 2 + i}
        for i, d in enumerate(["Re", "cor", "ded"])
    ),
    {"type": "response.completed", "sequence_number": 5},
]
RECORDED_MESSAGES = [
    {"type": "message_start", "message": {"id": "msg_01", "type": "message"}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    *(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}}
        for d in ["Re", "cor", "ded"]
    ),
    {"type": "content_block_stop", "index": 0},
    {"type": "message_stop"},
]
REPLAYED = {
    "responses": {"model": "gpt-recorded", "input": "Hi", "stream": True},
    "messages": {
        "model": "claude-recorded",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    },
}
REPLAY_RULES = """\
  - name: break-replays
    match: { cassette: true }
    reply: { fault: { error_after_tokens: 1, error: { status: 529 } } }
"""


def _recording(path: str, body: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    stream = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return {
        "request": {"method": "POST", "uri": f"http://api.test{path}", "body": json.dumps(body)},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"content-type": ["text/event-stream; charset=utf-8"]},
            "body": {"string": stream},
        },
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("faults_audit")
    rules = write_scenario(tmp, RULES + REPLAY_RULES)
    cassettes = tmp / "cassettes"
    cassettes.mkdir()
    recorded = [
        _recording("/v1/responses", REPLAYED["responses"], RECORDED_RESPONSES),
        _recording("/v1/messages", REPLAYED["messages"], RECORDED_MESSAGES),
    ]
    (cassettes / "streams.json").write_text(json.dumps({"interactions": recorded, "version": 1}))
    running = start_server(
        "--scenarios", str(rules), "--cassettes", str(cassettes), "--seed", "5", tmp_path=tmp
    )
    yield running
    running.stop()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the SDKs ask for before each retry (none is slept)."""
    asked: list[float] = []
    monkeypatch.setattr(time, "sleep", asked.append)
    return asked


@pytest.fixture(scope="module")
def sdks(server: RunningServer) -> Iterator[tuple[openai.OpenAI, anthropic.Anthropic]]:
    """Both SDKs on the module's server, with their default 2 retries."""
    with (
        openai.OpenAI(base_url=server.base_url, api_key="sk-test") as oa,
        anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test") as an,
    ):
        yield oa, an


def _calls(sdks: tuple[openai.OpenAI, anthropic.Anthropic], model: str) -> dict[str, Any]:
    """A request of each family, whole and streamed, for `model`."""
    oa, an = sdks
    said = [{"role": "user", "content": "Hi"}]
    return {
        "chat": lambda: oa.chat.completions.create(model=model, messages=said),
        "chat-stream": lambda: list(
            oa.chat.completions.create(model=model, messages=said, stream=True)
        ),
        "responses": lambda: oa.responses.create(model=model, input="Hi"),
        "responses-stream": lambda: list(oa.responses.create(model=model, input="Hi", stream=True)),
        "embeddings": lambda: oa.embeddings.create(model=model, input="Hi"),
        "messages": lambda: an.messages.create(model=model, max_tokens=16, messages=said),
        "messages-stream": lambda: list(
            an.messages.create(model=model, max_tokens=16, messages=said, stream=True)
        ),
    }


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[httpx.Client]:
    """The admin API, on one connection (a client made per call costs 20 ms)."""
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def _sent(admin: httpx.Client, call: Callable[[], Any]) -> tuple[int, BaseException]:
    """How many requests the SDK sent for one call, and what it raised in the end."""
    admin.post("/__admin/reset").raise_for_status()
    with pytest.raises(Exception) as caught:
        call()
    return len(admin.get("/__admin/requests").json()["requests"]), caught.value


# How many requests an SDK sends, with its default 2 retries, for an answer of each status,
# by family (a stream is refused before its first event): the same as against the API,
# whose answers of these statuses carry no `x-should-retry` that says otherwise
# (Anthropic's say true, or false for a 4xx the SDK does not retry anyway).
SENT = {
    (429, "chat"): 3,
    (429, "chat-stream"): 3,
    (429, "responses"): 3,
    (429, "embeddings"): 3,
    (429, "messages"): 3,
    (429, "messages-stream"): 3,
    (500, "responses"): 3,
    (500, "messages"): 3,
    (529, "chat"): 3,
    (529, "messages-stream"): 3,
    (408, "messages"): 3,
    (402, "chat"): 1,
    (402, "messages"): 1,
    (400, "embeddings"): 1,
    (400, "messages-stream"): 1,
}


def test_the_sdks_retry_a_status_as_often_as_against_the_api(
    admin: httpx.Client, sdks: Any, waits: list[float]
) -> None:
    for (status, family), expected in SENT.items():
        waits.clear()
        sent, raised = _sent(admin, _calls(sdks, f"audit-status-{status}")[family])
        assert sent == expected, (family, status, sent, raised)
        assert isinstance(raised, openai.APIStatusError | anthropic.APIStatusError), raised
        assert raised.status_code == status, (family, raised)
        assert len(waits) == sent - 1, (family, waits)


def test_a_rate_limit_is_retried_after_its_retry_after_and_a_server_error_after_backoff(
    admin: httpx.Client, sdks: Any, waits: list[float]
) -> None:
    for status in (429, 500):
        calls = _calls(sdks, f"audit-status-{status}")
        for family in ("chat", "messages"):
            waits.clear()
            _sent(admin, calls[family])
            if status == 429:
                assert waits == [1.0, 1.0], (family, waits)  # retry-after: 1
            else:  # 0.5 s, then 1 s, each less up to a quarter
                first, second = waits
                assert 0.375 <= first <= 0.5 and 0.75 <= second <= 1.0, (family, waits)


def test_what_each_sdk_raises_for_its_own_faults(
    admin: httpx.Client, sdks: Any, waits: list[float]
) -> None:
    oa, an = sdks
    said = [{"role": "user", "content": "Hi"}]
    raised = {}
    for status in (429, 500, 529, 402, 400):
        model = f"audit-status-{status}"
        with pytest.raises(anthropic.APIStatusError) as caught:
            an.with_options(max_retries=0).messages.create(
                model=model, max_tokens=16, messages=said
            )
        raised[status] = caught.value
    assert type(raised[429]) is anthropic.RateLimitError
    assert type(raised[500]) is anthropic.InternalServerError
    assert type(raised[529]) is anthropic.OverloadedError
    assert type(raised[402]) is anthropic.PaymentRequiredError
    assert type(raised[400]) is anthropic.BadRequestError
    for error in raised.values():
        assert error.request_id and error.body["request_id"] == error.request_id
    with pytest.raises(openai.RateLimitError) as limited:
        oa.with_options(max_retries=0).chat.completions.create(
            model="audit-status-429", messages=said
        )
    assert limited.value.code == "rate_limit_exceeded" and limited.value.type == "requests"
    assert limited.value.response.headers["x-ratelimit-reset-requests"] == "1s"
    assert limited.value.request_id == limited.value.response.headers["x-request-id"]


def test_an_error_in_the_middle_of_a_stream_is_not_retried(
    admin: httpx.Client, sdks: Any, waits: list[float]
) -> None:
    calls = _calls(sdks, "audit-failed-mid")
    sent, raised = _sent(admin, calls["chat-stream"])
    assert sent == 1 and type(raised) is openai.APIError
    assert raised.message == "upstream failed" and raised.type == "server_error"
    sent, raised = _sent(admin, calls["messages-stream"])
    assert sent == 1 and type(raised) is anthropic.APIStatusError
    assert raised.body["error"]["type"] == "api_error"
    admin.post("/__admin/reset").raise_for_status()
    events = calls["responses-stream"]()  # the Responses API says it in an event
    assert len(admin.get("/__admin/requests").json()["requests"]) == 1
    assert [e.sequence_number for e in events] == list(range(len(events)))
    failed = events[-1]
    assert failed.type == "response.failed" and failed.response.error is not None
    assert failed.response.error.code == "server_error"
    assert failed.response.error.message == "upstream failed"
    assert waits == []


def test_an_overload_in_the_middle_of_a_messages_stream_names_the_request(
    server: RunningServer, sdks: Any
) -> None:
    """The API's `event: error` carries the request's id, as its error bodies do: a 2026
    capture, `{"type":"error","error":{"details":null,"type":"overloaded_error","message":
    "Overloaded"},"request_id":"req_011Ce3HwQb6vtbs9LQVmh4oe"}` (karthink/gptel#1512)."""
    body = {
        "model": "audit-overloaded-mid",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    response = httpx.post(
        f"{server.url}/v1/messages",
        json={**body, "stream": True},
        headers={"x-api-key": "sk-ant-test"},
        timeout=10,
    )
    last = response.content.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    assert last == (
        b'event: error\ndata: {"type":"error","error":{"details":null,'
        b'"type":"overloaded_error","message":"Overloaded"},"request_id":"'
        + response.headers["request-id"].encode()
        + b'"}'
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        with sdks[1].messages.stream(**body) as stream:
            list(stream.text_stream)
    assert caught.value.body["request_id"] == caught.value.request_id
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_a_stream_cut_in_the_middle_is_a_connection_error_not_retried(
    admin: httpx.Client, sdks: Any, waits: list[float]
) -> None:
    calls = _calls(sdks, "audit-cut-mid")
    for family in ("chat-stream", "responses-stream", "messages-stream"):
        sent, raised = _sent(admin, calls[family])
        assert sent == 1, (family, sent)
        connection = (openai.APIConnectionError, anthropic.APIConnectionError)
        assert isinstance(raised, connection), (family, raised)
    assert waits == []


def _last_event(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """The name and data of a stream's last event."""
    last = response.content.rstrip(b"\n").rsplit(b"\n\n", 1)[-1].decode()
    name, data = last.split("\n", 1)
    return name.removeprefix("event: "), json.loads(data.removeprefix("data: "))


def test_a_replay_broken_in_the_middle_ends_as_the_api_ends_a_stream(
    server: RunningServer, sdks: Any
) -> None:
    """A recorded stream that a rule breaks ends with the family's own error event: the
    Responses API's `error` numbered after the events before it (its `sequence_number`
    is required: ResponseErrorEvent in the OpenAPI spec and the SDK), the Messages API's
    as a rendered answer's (`details`, its words for the status, the request's id)."""
    oa, an = sdks
    sent = httpx.post(f"{server.base_url}/responses", json=REPLAYED["responses"], timeout=10)
    name, data = _last_event(sent)
    assert name == "error" and data["sequence_number"] == 3, data
    events = list(oa.responses.create(**REPLAYED["responses"]))
    assert [e.sequence_number for e in events] == [0, 1, 2, 3]
    assert events[-1].type == "error"
    sent = httpx.post(
        f"{server.url}/v1/messages",
        json=REPLAYED["messages"],
        headers={"x-api-key": "sk-ant-test"},
        timeout=10,
    )
    assert _last_event(sent) == (
        "error",
        {
            "type": "error",
            "error": {"details": None, "type": "overloaded_error", "message": "Overloaded"},
            "request_id": sent.headers["request-id"],
        },
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        list(an.messages.create(**REPLAYED["messages"]))
    assert caught.value.body["request_id"] == caught.value.request_id


def test_a_whole_message_a_fault_breaks_names_the_request(server: RunningServer) -> None:
    """Not streamed, `error_after_tokens` is an HTTP error: its body names the request as
    the API's error bodies (and an `error` reply's) do."""
    sent = httpx.post(
        f"{server.url}/v1/messages",
        json={**REPLAYED["messages"], "model": "audit-overloaded-mid", "stream": False},
        headers={"x-api-key": "sk-ant-test"},
        timeout=10,
    )
    assert sent.status_code == 529
    assert sent.json() == {
        "type": "error",
        "error": {"details": None, "type": "overloaded_error", "message": "Overloaded"},
        "request_id": sent.headers["request-id"],
    }


def test_a_transient_overload_is_retried_once_and_the_retry_answers(
    admin: httpx.Client, sdks: Any, waits: list[float]
) -> None:
    """A rule's `sequence` (an error, then an answer) is how a transient failure is scripted:
    the SDK's retry is the next request, and gets the answer, as it would from the API."""
    oa, an = sdks
    said = [{"role": "user", "content": "Hi"}]
    admin.post("/__admin/reset").raise_for_status()
    reply = an.messages.create(model="audit-transient", max_tokens=16, messages=said)
    assert reply.content[0].type == "text" and reply.content[0].text == "Back again."
    admin.post("/__admin/reset").raise_for_status()
    answer = oa.chat.completions.create(model="audit-transient", messages=said)
    assert answer.choices[0].message.content == "Back again."
    statuses = [e["status"] for e in admin.get("/__admin/requests").json()["requests"]]
    assert sorted(statuses) == [200, 529] and len(waits) == 2


def test_an_sdks_retry_of_a_request_draws_its_chance_fault_again(
    server: RunningServer, admin: httpx.Client, sdks: Any, waits: list[float]
) -> None:
    """A fault that fires by chance (`when.probability`) is drawn again for an SDK's
    retry (the SDKs number them in `x-stainless-retry-count`), as a retry meets the API
    afresh: with a 50% fault and 2 retries, most requests the first draw failed are
    answered. The draws stay seeded: the same calls fail the same way again."""
    oa = sdks[0]
    prompts = [f"chaos probe {i}" for i in range(12)]

    def first_draws() -> set[str]:
        failed = set()
        for prompt in prompts:
            body = {"model": "audit-chaos", "messages": [{"role": "user", "content": prompt}]}
            sent = admin.post(f"{server.base_url}/chat/completions", json=body)
            if sent.status_code == 503:
                failed.add(prompt)
        return failed

    def through_the_sdk() -> dict[str, int]:
        admin.post("/__admin/reset").raise_for_status()
        failed = set()
        for prompt in prompts:
            try:
                oa.chat.completions.create(
                    model="audit-chaos", messages=[{"role": "user", "content": prompt}]
                )
            except openai.InternalServerError:
                failed.add(prompt)
        sent: dict[str, int] = {}
        for entry in admin.get("/__admin/requests").json()["requests"]:
            prompt = entry["request"]["messages"][0]["content"]
            sent[prompt] = sent.get(prompt, 0) + 1
        return {p: -n if p in failed else n for p, n in sent.items()}

    first = first_draws()
    assert 2 <= len(first) <= 10, first
    outcome = through_the_sdk()
    assert {p for p, n in outcome.items() if n != 1} == first  # the first draw is the same
    recovered = [p for p in first if outcome[p] > 1]
    assert recovered, outcome  # a retry draws again
    assert through_the_sdk() == outcome  # seeded
