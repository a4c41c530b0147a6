"""Background mode of the Responses API without HTTP: the run `responses.detach` keeps in a
`state.MemoryStore`, where it stands at a given time, its cancellation, and the events a
resumed stream owes (responses_background)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from mockllm.dialects import Run, responses
from mockllm.dialects import responses_background as background
from mockllm.errors import RequestError
from mockllm.rules import ErrorSpec, Fault
from mockllm.state import MemoryStore
from mockllm.wire import JSON_TYPE, SSE_TYPE, Body
from tests.factories import make_choice, make_rendered, make_responses_request

CREATED = 1700000000
STARTED = 1_800_000_000.0  # the wall-clock time each run here starts at
# First token at 0.1 s, then one every 10 ms: the last (of four) is due at 0.13 s.
RENDERED = make_rendered(make_choice("one", " two", " three", " four"), id="chatcmpl-bg")
DONE_S = 0.13


def start(
    store: MemoryStore,
    rendered: Any = RENDERED,
    error: ErrorSpec | None = None,
    fault: Fault | None = None,
    **fields: Any,
) -> tuple[str, tuple[Body, Any]]:
    """Detach a background request answered by `rendered` (or failed by `error`): its
    response id, and what the request itself is answered with."""
    request = make_responses_request(input="Hello", background=True, state=store, **fields)
    run = Run(rendered if error is None else None, error, 0.2, CREATED, STARTED, 7, fault)
    answered = responses.detach(store, request, run)
    assert answered is not None
    body = answered[0]
    if body.body:
        return orjson.loads(body.body)["id"], answered
    return orjson.loads(body.events[0].partition(b"data: ")[2])["response"]["id"], answered


def document(store: MemoryStore, response_id: str) -> dict[str, Any]:
    found = responses.stored_response(store, response_id)
    assert found is not None
    return found


def at(store: MemoryStore, response_id: str, elapsed: float) -> dict[str, Any]:
    return background.current(store, document(store, response_id), response_id, STARTED + elapsed)


def test_the_request_is_answered_queued_and_the_run_is_kept():
    store = MemoryStore()
    response_id, (body, poll) = start(store)
    assert poll is None and body.status == 200 and body.content_type == JSON_TYPE
    queued = orjson.loads(body.body)
    assert (queued["status"], queued["background"], queued["output"], queued["usage"]) == (
        "queued",
        True,
        [],
        None,
    )
    assert body.offsets == (0.0,)  # at once
    kept = document(store, response_id)
    assert kept["response"]["status"] == "completed"
    assert kept[background.RUN]["queued_s"] == pytest.approx(0.1)
    assert kept[background.RUN]["done_s"] == pytest.approx(DONE_S)


def test_where_a_run_stands_follows_its_pace():
    store = MemoryStore()
    response_id, _ = start(store)
    assert at(store, response_id, 0.05)["status"] == "queued"
    running = at(store, response_id, 0.11)
    assert (running["status"], running["output"], running["usage"]) == ("in_progress", [], None)
    done = at(store, response_id, DONE_S)
    assert done["status"] == "completed" and done["usage"]["output_tokens"] == 4
    # The answer the same request gets in the foreground, but for `background`.
    foreground = make_responses_request(input="Hello")
    assert done == {**responses.response_object(RENDERED, foreground, CREATED), "background": True}


def test_a_non_background_request_is_not_detached():
    store = MemoryStore()
    request = make_responses_request(input="Hello", state=store)
    run = Run(RENDERED, None, 0.0, CREATED, STARTED, 7, None)
    assert responses.detach(store, request, run) is None


def test_a_rule_error_fails_the_run_below_500_it_is_refused_at_once():
    store = MemoryStore()
    request = make_responses_request(input="Hello", background=True, state=store)
    limited = Run(None, ErrorSpec(429), 0.0, CREATED, STARTED, 7, None)
    assert responses.detach(store, request, limited) is None
    response_id, _ = start(store, error=ErrorSpec(500, message="it broke"))
    assert at(store, response_id, 0.1)["status"] == "queued"  # its error is due at 0.2 s
    failed = at(store, response_id, 0.2)
    assert failed["status"] == "failed" and failed["usage"] is None
    assert failed["error"] == {"code": "server_error", "message": "it broke"}


def test_an_in_band_fault_fails_the_run_a_transport_fault_only_the_request():
    store = MemoryStore()
    broken = Fault(error_after_tokens=2, error=ErrorSpec(500, message="cut"))
    response_id, _ = start(store, fault=broken)
    assert at(store, response_id, 1.0)["status"] == "failed"
    store = MemoryStore()
    response_id, (body, _) = start(store, fault=Fault(disconnect_after_tokens=1), stream=True)
    assert body.abort_after is not None  # the request's stream is cut...
    assert at(store, response_id, 1.0)["status"] == "completed"  # ...the run is not
    assert b"response.completed" in b"".join(
        background.events_of(store, document(store, response_id), response_id, None)[0]
    )


def test_cancel_while_running_then_again_then_after_it_would_have_ended():
    store = MemoryStore()
    response_id, _ = start(store)
    kept = document(store, response_id)
    cancelled = background.cancel(store, kept, response_id, STARTED + 0.11)
    assert (cancelled["status"], cancelled["output"], cancelled["usage"]) == ("cancelled", [], None)
    assert background.cancel(store, kept, response_id, STARTED + 0.12) == cancelled
    assert at(store, response_id, 5.0) == cancelled
    background.forget(store, response_id)  # DELETE drops the cancellation too
    assert at(store, response_id, 5.0)["status"] == "completed"


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({}, None, "Cannot cancel a completed response."),
        ({"max_output_tokens": 16}, None, "Cannot cancel an incomplete response."),
        ({}, ErrorSpec(503), "Cannot cancel a failed response."),
    ],
)
def test_a_finished_response_cannot_be_cancelled(fields, error, message):
    store = MemoryStore()
    rendered = RENDERED
    if "max_output_tokens" in fields:
        rendered = make_rendered(make_choice("one", finish_reason="length"), id="chatcmpl-cut")
    response_id, _ = start(store, rendered, error, **fields)
    with pytest.raises(RequestError) as refused:
        background.cancel(store, document(store, response_id), response_id, STARTED + 1.0)
    assert (refused.value.status, refused.value.message) == (400, message)
    assert (refused.value.code, refused.value.param) == ("invalid_request_error", None)


def test_a_response_not_made_in_the_background_is_synchronous():
    store = MemoryStore()
    request = make_responses_request(input="Hello", state=store)
    responses.remember(store, request, RENDERED, CREATED)
    response_id = responses.response_object(RENDERED, request, CREATED)["id"]
    kept = document(store, response_id)
    with pytest.raises(RequestError, match="Cannot cancel a synchronous response."):
        background.cancel(store, kept, response_id, STARTED)
    with pytest.raises(RequestError, match="not created with background=true") as refused:
        background.check_streamable(kept)
    assert (refused.value.param, refused.value.code) == ("stream", "invalid_request_error")
    background.check_continuable(store, kept, response_id, STARTED)  # no run: nothing to wait


def test_only_a_streamed_run_can_be_streamed_again():
    store = MemoryStore()
    response_id, _ = start(store)
    with pytest.raises(RequestError, match="not created with stream=true"):
        background.check_streamable(document(store, response_id))


def test_a_running_previous_response_is_refused_a_finished_one_continues():
    store = MemoryStore()
    response_id, _ = start(store)
    kept = document(store, response_id)
    with pytest.raises(RequestError, match="is still in progress") as refused:
        background.check_continuable(store, kept, response_id, STARTED + 0.11)
    assert refused.value.param == "previous_response_id"
    background.check_continuable(store, kept, response_id, STARTED + DONE_S)
    background.cancel(store, kept, response_id, STARTED + 0.11)
    background.check_continuable(store, kept, response_id, STARTED + 0.12)  # cancelled: over


def test_a_streamed_run_keeps_its_events_and_a_cancel_cuts_them():
    store = MemoryStore()
    response_id, (body, poll) = start(store, stream=True)
    assert body.content_type == SSE_TYPE and poll is not None
    names = [e.split(b"\n")[0] for e in body.events[:3]]
    assert names == [b"event: response.created", b"event: response.queued",
                     b"event: response.in_progress"]  # fmt: skip
    assert body.offsets[:3] == (0.0, 0.0, pytest.approx(0.1))
    kept = document(store, response_id)
    assert background.events_of(store, kept, response_id, None) == (
        list(body.events),
        list(body.offsets),
    )
    assert poll(3) is None  # running on
    background.cancel(store, kept, response_id, STARTED + 0.115)  # after two of four deltas
    events, offsets = background.events_of(store, kept, response_id, None)
    due = sum(1 for o in body.offsets if o <= 0.115)
    assert events[:due] == list(body.events[:due])
    closing = orjson.loads(events[due].partition(b"data: ")[2])
    assert list(closing) == ["type", "response", "sequence_number"]
    assert (closing["type"], closing["sequence_number"]) == ("response.failed", due)
    assert closing["response"]["status"] == "cancelled"
    assert len(events) == due + 1 and offsets[-1] == pytest.approx(0.115)
    # An open stream that wrote 3 events is given the rest up to the cut, then the end.
    assert list(poll(3) or ()) == events[3:]


def test_a_resumed_stream_takes_or_drops_the_obfuscation_as_asked():
    store = MemoryStore()
    response_id, (padded, _) = start(store, stream=True)
    plain_store = MemoryStore()
    _, (plain, _) = start(plain_store, stream=True, stream_options={"include_obfuscation": False})
    assert b'"obfuscation"' in b"".join(padded.events)
    kept = document(store, response_id)
    dropped, _ = background.events_of(store, kept, response_id, False)
    assert dropped == list(plain.events)
    plain_id = orjson.loads(plain.events[0].partition(b"data: ")[2])["response"]["id"]
    added, _ = background.events_of(plain_store, document(plain_store, plain_id), plain_id, True)
    assert added == list(padded.events)
