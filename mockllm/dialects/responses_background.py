"""Background mode of the Responses API: where a response that runs on after its request
stands at a given time, its cancellation, and the events a resumed stream owes.

A background response is kept in the state store as any stored response is, with what
its run needs: the wall-clock time it started, when it leaves the queue and when it is
done (the pace a stream of the same answer takes), the response object while it runs, and
for a streamed one its events with their offsets. Where it stands is read from the clock
(queued until its first token is due, in progress until its last event is, then the
answer kept), so no timer runs: a reset leaves nothing behind, a stopping server waits for
nothing, and every process sharing the store reads the same state. A cancellation is a
small document of its own (the elapsed time it came at), cheap to look for between the
writes of an open stream.

The refusals are the API's words where they could be found: "Cannot cancel a synchronous
response." (the OpenAI-compatible servers of vLLM and SGLang copy it), "Cannot cancel a
completed response." (seen by clients cancelling a finished background response: litellm's
tests), "This response cannot be streamed because it was not created with background=true."
with param `stream` and code `invalid_request_error` (quoted from the API in
openai/openai-ruby issue 214). The others follow the same pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from mockllm.errors import RequestError
from mockllm.wire import Padding

if TYPE_CHECKING:
    from mockllm.conversation import JSON
    from mockllm.dialects import Poll
    from mockllm.state import StateStore

RUN = "run"  # the key of a stored response's document that holds its run
CANCEL_KIND = "response_cancel"  # a background response's cancellation, by response id
CANCEL_LIMIT = 10_000  # cancellations kept, as many as stored responses
RUNNING = ("queued", "in_progress")
_dumps = orjson.dumps


def run_fields(
    started: float,
    queued_s: float,
    done_s: float,
    opening: JSON,
    events: Sequence[bytes] | None,
    offsets: Sequence[float],
    obfuscated: bool,
    padding: str,
) -> JSON:
    """What a stored background response keeps of its run (`events` only when it was
    created with `stream: true`: only then can it be streamed again)."""
    return {
        "started": started,
        "queued_s": queued_s,
        "done_s": done_s,
        "opening": opening,
        "stream": events is not None,
        "events": [e.decode() for e in events] if events is not None else [],
        "offsets": list(offsets) if events is not None else [],
        "obfuscated": obfuscated,
        "padding": padding,
    }


def cancelled_at(store: StateStore, response_id: str) -> float | None:
    """Seconds after its start at which a background response was cancelled, or None."""
    raw = store.get_document(CANCEL_KIND, response_id)
    return float(orjson.loads(raw)["at"]) if raw is not None else None


def status_at(document: JSON, cancelled: float | None, now: float) -> str:
    """Where a background response stands at wall-clock time `now`."""
    run = document[RUN]
    elapsed = now - run["started"]
    if cancelled is not None and cancelled < run["done_s"]:
        return "cancelled"
    if elapsed >= run["done_s"]:
        return str(document["response"]["status"])
    return "queued" if elapsed < run["queued_s"] else "in_progress"


def _as(run: JSON, status: str) -> JSON:
    """The response object while it runs (or once cancelled): no output and no usage."""
    return {**run["opening"], "status": status}


def current(store: StateStore, document: JSON, response_id: str, now: float) -> JSON:
    """A stored response as `GET /v1/responses/{id}` shows it at `now`."""
    if RUN not in document:
        return dict(document["response"])
    status = status_at(document, cancelled_at(store, response_id), now)
    if status in (*RUNNING, "cancelled"):
        return _as(document[RUN], status)
    return dict(document["response"])


def check_continuable(store: StateStore, document: JSON, response_id: str, now: float) -> None:
    """Refuse a `previous_response_id` naming a background response still running: its
    output is not there yet. (The API's words were not found; written as it words the
    other problems of a previous response.)"""
    if RUN in document:
        status = status_at(document, cancelled_at(store, response_id), now)
        if status in RUNNING:
            raise RequestError(
                400,
                f"Previous response with id '{response_id}' is still {status.replace('_', ' ')}."
                " Wait for it to finish, or cancel it.",
                param="previous_response_id",
            )


def cancel(store: StateStore, document: JSON, response_id: str, now: float) -> JSON:
    """`POST /v1/responses/{id}/cancel`: the response, cancelled if it was still running
    (again as it is when it already was: cancelling is idempotent); a 400 for a response
    not made in background mode or already finished."""
    if RUN not in document:
        raise _refusal("Cannot cancel a synchronous response.")
    run = document[RUN]
    cancelled = cancelled_at(store, response_id)
    status = status_at(document, cancelled, now)
    if status in RUNNING:
        elapsed = max(0.0, now - run["started"])
        store.put_document(CANCEL_KIND, response_id, _dumps({"at": elapsed}), CANCEL_LIMIT)
        return _as(run, "cancelled")
    if status == "cancelled":
        return _as(run, "cancelled")
    article = "an" if status == "incomplete" else "a"
    raise _refusal(f"Cannot cancel {article} {status} response.")


def forget(store: StateStore, response_id: str) -> None:
    """Drop what a background response keeps besides its document (`DELETE`)."""
    store.delete_document(CANCEL_KIND, response_id)


def _refusal(message: str, param: str | None = None) -> RequestError:
    # The API's background refusals carry the type as their code too (openai-ruby 214).
    return RequestError(400, message, code="invalid_request_error", param=param)


def check_streamable(document: JSON) -> None:
    """Refuse `GET /v1/responses/{id}?stream=true` for a response that cannot be streamed
    again: one not made in background mode, or made without `stream: true`."""
    if RUN not in document:
        raise _refusal(
            "This response cannot be streamed because it was not created with background=true.",
            "stream",
        )
    if not document[RUN]["stream"]:
        raise _refusal(
            "This response cannot be streamed because it was not created with stream=true.",
            "stream",
        )


def _cancel_event(run: JSON, sequence_number: int) -> bytes:
    """The event that ends a cancelled response's stream: `response.failed` carrying the
    response with status `cancelled`, as streams end when cancelled. Its keys are in the
    order every event of the dialect uses (`type` first, the rest by name)."""
    data = _dumps(
        {
            "type": "response.failed",
            "response": _as(run, "cancelled"),
            "sequence_number": sequence_number,
        }
    )
    return b"event: response.failed\ndata: " + data + b"\n\n"


def _cut(run: JSON, cancelled: float, written: int = 0) -> tuple[list[bytes], list[float]]:
    """A cancelled run's events: those due before the cancellation (or written already),
    then the event that ends it, due when the cancellation came."""
    events = [e.encode() for e in run["events"]]
    offsets = list(run["offsets"])
    kept = max(written, sum(1 for at in offsets if at <= cancelled))
    kept = min(kept, len(events))
    return [*events[:kept], _cancel_event(run, kept)], [*offsets[:kept], cancelled]


def events_of(
    store: StateStore, document: JSON, response_id: str, obfuscate: bool | None
) -> tuple[list[bytes], list[float]]:
    """A streamed background response's events and their offsets from its start: cut at
    the cancellation when it was cancelled; with `obfuscation` on the deltas as
    `obfuscate` asks (None: as the request that made it asked)."""
    run = document[RUN]
    cancelled = cancelled_at(store, response_id)
    if cancelled is not None and cancelled < run["done_s"]:
        events, offsets = _cut(run, cancelled)
    else:
        events, offsets = [e.encode() for e in run["events"]], list(run["offsets"])
    if obfuscate is not None and obfuscate != run["obfuscated"]:
        events = _obfuscated(events, obfuscate, run["padding"])
    return events, offsets


def _obfuscated(events: list[bytes], obfuscate: bool, seed: str) -> list[bytes]:
    """The events with the `obfuscation` of each delta added (drawn as the stream that
    made them would have drawn it) or taken out: the bytes a stream asked for that way
    would have had."""
    padding = Padding(seed)
    out = []
    for event in events:
        head, _, data = event.partition(b"data: ")
        fields: dict[str, Any] = orjson.loads(data)
        if "delta" not in fields:
            out.append(event)
            continue
        fields.pop("obfuscation", None)
        if obfuscate:
            fields["obfuscation"] = orjson.loads(padding.text(fields["delta"]))
        kind = fields.pop("type")
        ordered = {"type": kind, **dict(sorted(fields.items()))}
        out.append(head + b"data: " + _dumps(ordered) + b"\n\n")
    return out


def poll(
    store: StateStore,
    document: JSON,
    response_id: str,
    obfuscate: bool | None = None,
    first: int = 0,
) -> Poll:
    """What an open stream of a background response asks between writes: None while the
    response runs on, or once cancelled the events that end the stream (those due before
    the cancellation not yet written, then the closing `response.failed`). A stream that
    resumes writes from event number `first`."""
    run = document[RUN]

    def ask(written: int) -> Sequence[bytes] | None:
        cancelled = cancelled_at(store, response_id)
        if cancelled is None or cancelled >= run["done_s"]:
            return None
        events, _ = _cut(run, cancelled, first + written)
        if obfuscate is not None and obfuscate != run["obfuscated"]:
            events = _obfuscated(events, obfuscate, run["padding"])
        return events[first + written :]

    return ask
