"""Background mode of the Responses API through the official openai SDK and raw httpx: a
response created with `background: true` is polled, cancelled, streamed, left and resumed
against a real server, and its final bytes are those the same request answers in the
foreground."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.openai_schemas import check

from ..conftest import RedisServer, RunningServer, start_server
from .helpers import journal, write_scenario
from .test_responses import events

PACED = "one two three four five six seven eight"
RULES = f"""\
version: 1
rules:
  - name: paced
    match: {{ api: responses, last_user: {{ contains: "paced" }} }}
    reply:
      content: "{PACED}"
      latency: {{ ttft_ms: 150, inter_token_ms: 20 }}
  - name: slow-pace
    match: {{ last_user: {{ contains: "step by step" }} }}
    reply:
      content: "{PACED}"
      latency: {{ ttft_ms: 400, inter_token_ms: 50 }}
  - name: long-task
    match: {{ last_user: {{ contains: "long task" }} }}
    reply:
      content: "{PACED}"
      latency: {{ ttft_ms: 200, inter_token_ms: 2000 }}
  - name: broken
    match: {{ last_user: {{ contains: "broken" }} }}
    reply:
      error: {{ status: 500, message: "the model broke" }}
      latency: {{ ttft_ms: 100 }}
  - name: limited
    match: {{ last_user: {{ contains: "limited" }} }}
    reply: {{ error: {{ status: 429 }} }}
  - name: cut-short
    match: {{ last_user: {{ contains: "cut short" }} }}
    reply: {{ content: "{PACED}", finish_reason: length, latency: {{ ttft_ms: 50 }} }}
  - name: quick
    match: {{ last_user: {{ contains: "quick" }} }}
    reply: {{ content: "{PACED}", latency: {{ ttft_ms: 10, inter_token_ms: 5 }} }}
  - name: dropped
    match: {{ last_user: {{ contains: "dropped" }} }}
    reply:
      content: "{PACED}"
      latency: {{ ttft_ms: 50, inter_token_ms: 20 }}
      fault: {{ disconnect_after_tokens: 2 }}
"""
ANSWER_S = 0.15 + 7 * 0.02  # the paced rule's 8 tokens: the first at 150 ms, then every 20 ms


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("background")
    rules = write_scenario(tmp, RULES, "background.yaml")
    running = start_server(
        "--scenarios", str(rules), "--seed", "7", "--freeze-time", "1700000000", tmp_path=tmp
    )
    yield running
    assert running.stop() == 0
    assert "Traceback" not in running.log(), running.log()


def client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def post(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/responses", json=body, timeout=10)


def get(server: RunningServer, response_id: str, query: str = "") -> httpx.Response:
    return httpx.get(f"{server.base_url}/responses/{response_id}{query}", timeout=10)


def wait_until_done(sdk: OpenAI, response_id: str) -> tuple[Any, list[str]]:
    """Poll until the response leaves queued/in_progress; (it, the statuses seen)."""
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = sdk.responses.retrieve(response_id)
        if not seen or seen[-1] != found.status:
            seen.append(found.status)
        if found.status not in ("queued", "in_progress"):
            return found, seen
        time.sleep(0.01)
    raise AssertionError(f"still {seen[-1]} after 5 s")


def test_created_queued_then_polled_to_the_foreground_answer(server: RunningServer) -> None:
    sdk = client(server)
    body = {"model": "gpt-4o", "input": "a paced answer, please"}
    started = time.monotonic()
    created = sdk.responses.create(**body, background=True)
    assert (created.status, created.background, created.output, created.usage) == (
        "queued",
        True,
        [],
        None,
    )
    assert created.completed_at is None
    done, seen = wait_until_done(sdk, created.id)
    assert seen == ["queued", "in_progress", "completed"][-len(seen) :]  # in this order
    assert time.monotonic() - started >= ANSWER_S
    assert done.output_text == PACED and done.usage is not None
    final = get(server, created.id).content
    check("Response", get(server, created.id).json())
    # The same request in the foreground: the same bytes but `background` (it is the same
    # response id, so it also replaces the stored one).
    foreground = post(server, body).content
    assert final.replace(b'"background":true', b'"background":false', 1) == foreground


def test_the_status_follows_the_answers_pace(server: RunningServer) -> None:
    started = time.monotonic()
    created = post(server, {"model": "gpt-4o", "input": "step by step", "background": True})
    assert created.status_code == 200 and created.json()["status"] == "queued"
    first_seen: dict[str, float] = {}  # status -> when a poll that saw it first came back
    while "completed" not in first_seen and time.monotonic() - started < 5:
        polled = get(server, created.json()["id"]).json()
        first_seen.setdefault(polled["status"], time.monotonic() - started)
        if polled["status"] == "in_progress":
            assert (polled["output"], polled["usage"]) == ([], None)
    assert list(first_seen) == ["queued", "in_progress", "completed"]
    # Not before the first token (400 ms), nor done before the last one is due (750 ms).
    assert first_seen["in_progress"] >= 0.4 and first_seen["completed"] >= 0.75


def test_store_false_is_refused_naming_background(server: RunningServer) -> None:
    refused = post(
        server, {"model": "gpt-4o", "input": "paced", "background": True, "store": False}
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": "The 'background' parameter is only allowed when 'store' is enabled.",
        "type": "invalid_request_error",
        "param": "background",
        "code": "unsupported_parameter",
    }
    wrong = post(server, {"model": "gpt-4o", "input": "paced", "background": "yes"})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "background"


def test_cancel_a_running_response_then_again(server: RunningServer) -> None:
    sdk = client(server)
    started = time.monotonic()
    created = sdk.responses.create(model="gpt-4o", input="a long task to cancel", background=True)
    assert time.monotonic() - started < 2.0  # answered at once: the answer takes 16 s
    cancelled = sdk.responses.cancel(created.id)
    assert (cancelled.id, cancelled.status, cancelled.output, cancelled.usage) == (
        created.id,
        "cancelled",
        [],
        None,
    )
    assert sdk.responses.cancel(created.id).status == "cancelled"  # idempotent
    time.sleep(0.25)  # past its first token: still cancelled, never in progress again
    assert sdk.responses.retrieve(created.id).status == "cancelled"


def test_cancel_refusals(server: RunningServer) -> None:
    sdk = client(server)
    done = sdk.responses.create(model="gpt-4o", input="cut short, please", background=True)
    assert wait_until_done(sdk, done.id)[0].status == "incomplete"
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.responses.cancel(done.id)
    assert refused.value.body["message"] == "Cannot cancel an incomplete response."  # type: ignore[index]
    completed = sdk.responses.create(model="gpt-4o", input="quick, to cancel", background=True)
    wait_until_done(sdk, completed.id)
    with pytest.raises(openai.BadRequestError, match="Cannot cancel a completed response."):
        sdk.responses.cancel(completed.id)
    foreground = sdk.responses.create(model="gpt-4o", input="quick, in the foreground")
    with pytest.raises(openai.BadRequestError, match="Cannot cancel a synchronous response."):
        sdk.responses.cancel(foreground.id)
    with pytest.raises(openai.NotFoundError, match="Response with id 'resp_nothing' not found."):
        sdk.responses.cancel("resp_nothing")


def test_a_rule_error_fails_the_run_and_a_4xx_refuses_the_request(server: RunningServer) -> None:
    sdk = client(server)
    created = sdk.responses.create(model="gpt-4o", input="broken", background=True)
    assert created.status == "queued"
    failed, seen = wait_until_done(sdk, created.id)
    assert seen == ["queued", "failed"][-len(seen) :]
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == ("server_error", "the model broke")
    with pytest.raises(openai.BadRequestError, match="Cannot cancel a failed response."):
        sdk.responses.cancel(created.id)
    with pytest.raises(openai.RateLimitError):
        sdk.responses.create(model="gpt-4o", input="limited", background=True)


def test_stream_starts_queued_and_resumes_after_a_sequence_number(server: RunningServer) -> None:
    sdk = client(server)
    stream = sdk.responses.create(
        model="gpt-4o", input="paced, streamed", background=True, stream=True
    )
    first = []
    for event in stream:
        first.append(event)
        if event.sequence_number == 5:
            break
    stream.close()  # the client leaves: the response runs on
    assert [e.type for e in first[:3]] == [
        "response.created",
        "response.queued",
        "response.in_progress",
    ]
    assert first[0].response.status == "queued" and first[0].response.background is True  # type: ignore[union-attr]
    response_id = first[0].response.id  # type: ignore[union-attr]
    resumed = list(sdk.responses.retrieve(response_id, stream=True, starting_after=5))
    assert [e.sequence_number for e in resumed] == list(range(6, 6 + len(resumed)))
    assert resumed[-1].type == "response.completed"
    assert resumed[-1].response.output_text == PACED  # type: ignore[union-attr]
    assert sdk.responses.retrieve(response_id).status == "completed"


def test_a_finished_stream_replays_at_once(server: RunningServer) -> None:
    body = {"model": "gpt-4o", "input": "paced, replayed", "background": True, "stream": True}
    whole = post(server, body).content  # it took 290 ms to write
    response_id = events(whole)[0][1]["response"]["id"]
    arrivals: list[float] = []
    with httpx.stream("GET", f"{server.base_url}/responses/{response_id}?stream=true") as again:
        replayed = b""
        for chunk in again.iter_raw():
            arrivals.append(time.monotonic())
            replayed += chunk
    assert replayed == whole
    assert arrivals[-1] - arrivals[0] < 0.1  # in one write, not at its pace again
    tail = get(server, response_id, "?stream=true&starting_after=10").content
    assert tail == whole[whole.index(b"event: ", whole.index(b'"sequence_number":10}')) :]
    assert get(server, response_id, "?stream=true&starting_after=99").content == b""
    with client(server).responses.stream(response_id=response_id, starting_after=12) as helper:
        numbers = [e.sequence_number for e in helper]
        assert numbers[0] == 13
        assert helper.get_final_response().output_text == PACED


def test_resumed_stream_obfuscation_as_asked(server: RunningServer) -> None:
    body = {"model": "gpt-4o", "input": "quick, plain", "background": True, "stream": True}
    padded = post(server, body).content
    response_id = events(padded)[0][1]["response"]["id"]
    plain = post(server, {**body, "stream_options": {"include_obfuscation": False}}).content
    assert b'"obfuscation"' in padded and b'"obfuscation"' not in plain
    assert get(server, response_id, "?stream=true&include_obfuscation=true").content == padded
    assert get(server, response_id, "?stream=true").content == plain  # as it was created
    post(server, body)
    assert get(server, response_id, "?stream=true&include_obfuscation=false").content == plain


def test_streams_that_cannot_be_resumed_and_bad_queries(server: RunningServer) -> None:
    foreground = post(server, {"model": "gpt-4o", "input": "quick, not in the background"})
    polled = post(server, {"model": "gpt-4o", "input": "quick, polled", "background": True})
    for response_id, words in ((foreground, "background=true"), (polled, "stream=true")):
        refused = get(server, response_id.json()["id"], "?stream=true")
        assert refused.status_code == 400
        assert refused.json()["error"] == {
            "message": f"This response cannot be streamed because it was not created with {words}.",
            "type": "invalid_request_error",
            "param": "stream",
            "code": "invalid_request_error",
        }
    response_id = polled.json()["id"]
    for query, param in (
        ("?stream=true&starting_after=two", "starting_after"),
        ("?stream=true&starting_after=-1", "starting_after"),
        ("?stream=true&starting_after=1.5", "starting_after"),
        ("?stream=maybe", "stream"),
        ("?stream=true&include_obfuscation=2", "include_obfuscation"),
    ):
        refused = get(server, response_id, query)
        assert refused.status_code == 400, query
        assert refused.json()["error"]["param"] == param, query


def test_cancel_ends_an_open_stream(server: RunningServer) -> None:
    sdk = client(server)
    stream = sdk.responses.create(
        model="gpt-4o", input="a long task, streamed", background=True, stream=True
    )
    seen = []
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta":  # the first token (then 2 s apart)
            assert sdk.responses.cancel(seen[0].response.id).status == "cancelled"  # type: ignore[union-attr]
    last = seen[-1]
    assert last.type == "response.failed" and last.response.status == "cancelled"  # type: ignore[union-attr]
    assert last.sequence_number == seen[-2].sequence_number + 1
    again = list(sdk.responses.retrieve(seen[0].response.id, stream=True, starting_after=3))  # type: ignore[union-attr]
    assert [e.model_dump() for e in again] == [e.model_dump() for e in seen[4:]]


def test_a_dropped_stream_leaves_the_response_running(server: RunningServer) -> None:
    body = {"model": "gpt-4o", "input": "dropped", "background": True, "stream": True}
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):  # the fault cuts the connection
        with httpx.stream("POST", f"{server.base_url}/responses", json=body) as raw:
            for chunk in raw.iter_bytes():
                received += chunk
    assert b"response.output_text.delta" in received and b"response.completed" not in received
    response_id = events(received[: received.index(b"\n\n") + 2])[0][1]["response"]["id"]
    done, _ = wait_until_done(client(server), response_id)
    assert done.status == "completed" and done.output_text == PACED


def test_previous_response_id_waits_for_the_run(server: RunningServer) -> None:
    sdk = client(server)
    first = sdk.responses.create(model="gpt-4o", input="paced, first turn", background=True)
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.responses.create(model="gpt-4o", input="and then?", previous_response_id=first.id)
    assert refused.value.body == {  # type: ignore[comparison-overlap]
        "message": f"Previous response with id '{first.id}' is still queued. Wait for it to "
        "finish, or cancel it.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": None,
    }
    wait_until_done(sdk, first.id)
    second = sdk.responses.create(model="gpt-4o", input="and then?", previous_response_id=first.id)
    assert second.status == "completed"
    items = sdk.responses.input_items.list(first.id)
    assert [i.type for i in items.data] == ["message"]
    sdk.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(first.id)


def test_journal_and_reset(server: RunningServer) -> None:
    created = post(
        server, {"model": "gpt-4o", "input": "a long task to forget", "background": True}
    )
    response_id = created.json()["id"]
    httpx.post(f"{server.base_url}/responses/{response_id}/cancel", timeout=10)
    entries = [(e["method"], e["path"], e["status"]) for e in journal(server.url)]
    assert ("POST", "/v1/responses", 200) in entries
    assert ("POST", f"/v1/responses/{response_id}/cancel", 200) in entries
    post(server, {"model": "gpt-4o", "input": "a long task to forget", "background": True})
    assert httpx.post(f"{server.url}/__admin/reset", timeout=10).status_code == 200
    assert get(server, response_id).status_code == 404  # nothing left of it
    again = post(server, {"model": "gpt-4o", "input": "a long task to forget", "background": True})
    # not cancelled: queued still, or started when the machine is slow to ask
    assert get(server, again.json()["id"]).json()["status"] in ("queued", "in_progress")


def test_processes_sharing_redis_share_the_run(redis_server: RedisServer, tmp_path: Path) -> None:
    rules = write_scenario(tmp_path, RULES, "background.yaml")
    shared = ("--scenarios", str(rules), "--state", redis_server.url, "--state-prefix", "bg:")
    first, second = (start_server(*shared, tmp_path=tmp_path) for _ in range(2))
    try:
        one, two = client(first), client(second)
        created = one.responses.create(model="gpt-4o", input="quick, shared", background=True)
        done, seen = wait_until_done(two, created.id)
        assert seen[-1] == "completed" and done.output_text == PACED
        stream = one.responses.create(
            model="gpt-4o", input="a long task, shared", background=True, stream=True
        )
        seen = []
        for event in stream:  # on the first process; cancelled on the second
            seen.append(event)
            if event.type == "response.output_text.delta":
                assert two.responses.cancel(seen[0].response.id).status == "cancelled"  # type: ignore[union-attr]
        last = seen[-1]
        assert last.type == "response.failed" and last.response.status == "cancelled"  # type: ignore[union-attr]
        assert one.responses.retrieve(last.response.id).status == "cancelled"  # type: ignore[union-attr]
        # A process that stops does not wait for the background streams it writes: their
        # responses run on in the store, and the other process follows them.
        body = {"model": "gpt-4o", "input": "a long task, kept open", "background": True}
        received: list[bytes] = []

        def follow() -> None:
            with httpx.stream(
                "POST", f"{first.base_url}/responses", json={**body, "stream": True}, timeout=30
            ) as opened:
                received.extend(opened.iter_bytes())

        reader = threading.Thread(target=follow)
        reader.start()
        opened_by = time.monotonic() + 10  # the stream is open, its next token 2 s away
        while b"response.output_text.delta" not in b"".join(received):
            assert time.monotonic() < opened_by, received
            time.sleep(0.02)
        first.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert first.proc.wait(10) == 0
        assert time.monotonic() - signalled < 3.0, first.log()
        reader.join(10)
        kept = events(b"".join(received))
        assert kept[-1][0] == "response.output_text.delta"  # cut short, not finished
        assert two.responses.retrieve(kept[0][1]["response"]["id"]).status == "in_progress"
        assert "Traceback" not in first.log(), first.log()
    finally:
        for running in (first, second):
            running.stop()
