"""Replaying a recorded interaction: pace, overrides, faults, and the rules that choose them."""

from __future__ import annotations

import json

import orjson
import pytest

from mockllm.cassettes import Interaction, RecordedRequest, RecordedResponse
from mockllm.config import ServerConfig
from mockllm.engine import Engine, Replayed
from mockllm.errors import ScenarioError
from mockllm.library import CassetteLibrary
from mockllm.loader import load_text
from mockllm.recording import replay_body, replay_error
from mockllm.rules import ErrorSpec, Fault, Latency
from tests.factories import make_chat_request

PATH = "/v1/chat/completions"
NO_PACE = Latency(0.0, 0.0, 0.0, 1)


def chunk(content: str | None = None, role: bool = False, finish: str | None = None) -> bytes:
    delta = {"role": "assistant", "content": ""} if role else {}
    if content is not None:
        delta["content"] = content
    payload = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(payload) + b"\n\n"


CHAT_EVENTS = (
    chunk(role=True),
    *(chunk(word) for word in ["Once", " upon", " a", " time"]),
    chunk(finish="stop"),
    b"data: [DONE]\n\n",
)


def streamed(events: tuple[bytes, ...], path: str = PATH, timed: bool = True) -> Interaction:
    offsets = [round(0.3 + 0.1 * i, 3) if timed else 0.0 for i in range(len(events))]
    response = RecordedResponse(
        200,
        "OK",
        (("content-type", "text/event-stream"),),
        b"".join(events),
        tuple(zip(offsets, events, strict=True)),
    )
    return Interaction(RecordedRequest("POST", path, body=b"{}"), response, 2, "docs/story.yaml")


def test_the_recorded_stream_is_replayed_at_its_pace() -> None:
    body, _ = replay_body(streamed(CHAT_EVENTS), 2.0, NO_PACE)
    assert body.events == CHAT_EVENTS and body.abort_after is None
    assert body.offsets == pytest.approx([0.15 + 0.05 * i for i in range(len(CHAT_EVENTS))])


def test_a_latency_override_replaces_the_recorded_pace() -> None:
    both, _ = replay_body(streamed(CHAT_EVENTS), 1.0, NO_PACE, None, Latency(50, 10))
    assert both.offsets == pytest.approx([0.05 + 0.01 * i for i in range(len(CHAT_EVENTS))])
    first, _ = replay_body(streamed(CHAT_EVENTS), 1.0, NO_PACE, None, Latency(ttft_ms=1000))
    assert first.offsets == pytest.approx([1.0 + 0.1 * i for i in range(len(CHAT_EVENTS))])


def test_disconnect_after_tokens_cuts_after_the_nth_delta() -> None:
    body, _ = replay_body(streamed(CHAT_EVENTS), 1.0, NO_PACE, Fault(disconnect_after_tokens=3))
    assert body.abort_after == 4  # the role chunk and three deltas
    assert body.events[: body.abort_after][-1] == chunk(" a")
    none, _ = replay_body(streamed(CHAT_EVENTS), 1.0, NO_PACE, Fault(disconnect_after_tokens=0))
    assert none.abort_after == 1


def test_error_after_tokens_ends_with_an_in_band_error() -> None:
    fault = Fault(error_after_tokens=2, error=ErrorSpec(500, message="boom"))
    body, _ = replay_body(streamed(CHAT_EVENTS), 1.0, NO_PACE, fault)
    assert body.events[:3] == CHAT_EVENTS[:3]
    assert len(body.events) == 4 and len(body.offsets) == 4
    error = json.loads(body.events[-1].removeprefix(b"data: "))["error"]
    assert error["message"] == "boom" and error["type"] == "server_error"


def test_malformed_breaks_the_nth_delta_only() -> None:
    body, _ = replay_body(streamed(CHAT_EVENTS), 1.0, NO_PACE, Fault(malformed_chunk_at=2))
    assert body.events[1] == CHAT_EVENTS[1] and body.events[3] == CHAT_EVENTS[3]
    broken = body.events[2]
    assert broken.startswith(b"data: {") and broken.endswith(b"\n\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.removeprefix(b"data: "))


def typed(kind: str, **fields: object) -> bytes:
    data = orjson.dumps({"type": kind, **fields})
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


RESPONSES_EVENTS = (
    typed("response.created", sequence_number=0),
    typed("response.output_text.delta", delta="Hi", sequence_number=1),
    typed("response.output_text.delta", delta="!", sequence_number=2),
    typed("response.completed", sequence_number=3),
)


def test_typed_events_are_replayed_exactly_and_counted_by_their_type() -> None:
    interaction = streamed(RESPONSES_EVENTS, "/v1/responses")
    plain, _ = replay_body(interaction, 1.0, NO_PACE)
    assert b"".join(plain.events) == b"".join(RESPONSES_EVENTS)
    fault = Fault(error_after_tokens=1, error=ErrorSpec(429, message="slow down"))
    broken, _ = replay_body(interaction, 1.0, NO_PACE, fault)
    assert broken.events[:2] == RESPONSES_EVENTS[:2]
    assert broken.events[2].startswith(b"event: error\ndata: ")
    assert json.loads(broken.events[2].split(b"data: ", 1)[1])["message"] == "slow down"


def test_each_family_gets_its_own_error_shape() -> None:
    spec = ErrorSpec(529, message="busy")
    anthropic = replay_error("/v1/messages", spec, in_stream=True)
    assert anthropic.startswith(b"event: error\ndata: ")
    assert json.loads(anthropic.split(b"data: ", 1)[1]) == {
        "type": "error",
        "error": {"details": None, "type": "overloaded_error", "message": "busy"},
    }
    whole = json.loads(replay_error("/v1/chat/completions", spec, in_stream=False))
    assert whole["error"]["message"] == "busy"


def test_a_whole_answer_breaks_as_a_rendered_one_does() -> None:
    body = orjson.dumps({"choices": [{"message": {"content": "Paris."}}]})
    response = RecordedResponse(200, "OK", (("content-type", "application/json"),), body)
    interaction = Interaction(RecordedRequest("POST", PATH, body=b"{}"), response, 0, "c.yaml")
    cut, _ = replay_body(interaction, 1.0, NO_PACE, Fault(disconnect_after_tokens=1))
    assert cut.abort_after == len(body) // 2
    failed, _ = replay_body(interaction, 1.0, NO_PACE, Fault(error_after_tokens=0))
    assert failed.status == 500 and b'"error"' in failed.body
    late, _ = replay_body(interaction, 1.0, NO_PACE, None, Latency(ttft_ms=250))
    assert late.offsets == (0.25,) and late.body == body


# --- replay rules -----------------------------------------------------------------------------

RULES = """
version: 1
rules:
  - name: break-story
    match: { cassette: "docs/story.yaml#2" }
    sequence:
      - fault: { disconnect_after_tokens: 3 }
      - {}
  - name: slow-others
    match: { cassette: "docs/*", last_user: "other" }
    reply: { latency: { ttft_ms: 900 } }
"""


def engine_with(interactions: list[Interaction], rules: str = RULES) -> Engine:
    engine = Engine(ServerConfig(), load_text(rules, "chaos.yaml"))
    engine.library = CassetteLibrary(interactions)
    return engine


def ask(engine: Engine, text: str) -> Replayed:
    outcome = engine.handle(make_chat_request(user=text))
    assert isinstance(outcome, Replayed), outcome
    return outcome


def recorded(text: str, index: int) -> Interaction:
    body = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})
    response = streamed(CHAT_EVENTS).response
    return Interaction(RecordedRequest("POST", PATH, body=body), response, index, "docs/story.yaml")


def test_a_replay_rule_applies_to_the_interaction_it_names() -> None:
    engine = engine_with([recorded("story", 2), recorded("other", 3)])
    first = ask(engine, "story")
    assert first.fault == Fault(disconnect_after_tokens=3)
    assert first.rule is not None and first.rule.name == "break-story"
    assert ask(engine, "story").fault is None  # the sequence's second step replays as recorded
    other = ask(engine, "other")
    assert other.fault is None and other.latency.ttft_ms == 900


def test_a_replay_rule_never_answers_by_itself() -> None:
    engine = engine_with([])
    outcome = engine.handle(make_chat_request(user="other"))
    assert not isinstance(outcome, Replayed)
    assert getattr(outcome, "rule", None) is None  # the default generator answered


def test_a_replay_rule_may_only_change_fault_and_latency() -> None:
    text = """
    version: 1
    rules:
      - name: wrong
        match: { cassette: true }
        reply: { content: "hi", fault: { hang: true } }
    """
    with pytest.raises(ScenarioError, match="only fault and latency apply; found content"):
        load_text(text, "bad.yaml")
