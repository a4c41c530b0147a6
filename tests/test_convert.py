"""Cassette → scenario: the YAML loads, and its rules answer what was recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mockllm.cassettes import (
    Interaction,
    RecordedRequest,
    RecordedResponse,
    Recorder,
    Scrubber,
    load_cassette,
)
from mockllm.convert import cassette_to_scenario
from mockllm.loader import load_text
from mockllm.matchers import check_condition
from mockllm.render import render
from mockllm.rules import Reply, Rule
from mockllm.template import render as render_template
from tests.factories import make_chat_request

FOREIGN = Path(__file__).parent / "data" / "cassettes" / "foreign"
PATH = "/v1/chat/completions"
URL = "https://api.openai.com/v1/chat/completions"
SSE = (("content-type", "text/event-stream; charset=utf-8"),)
JSON_TYPE = (("content-type", "application/json"),)


# --- factories --------------------------------------------------------------------------------


def make_request(
    model: str = "gpt-4o",
    user: str | None = "What is the weather in Paris?",
    *,
    messages: list[dict[str, Any]] | None = None,
    path: str = PATH,
    method: str = "POST",
    **fields: Any,
) -> RecordedRequest:
    if messages is None:
        messages = [{"role": "system", "content": "be brief"}]
        if user is not None:
            messages.append({"role": "user", "content": user})
    body = orjson.dumps({"model": model, "messages": messages, **fields})
    return RecordedRequest(method, path, body=body, url=URL)


def completion(
    *choices: dict[str, Any], model: str = "gpt-4o-2024-08-06", usage: Any = None
) -> RecordedResponse:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": i, "finish_reason": "stop", **c} for i, c in enumerate(choices)],
        **({"usage": usage} if usage else {}),
    }
    return RecordedResponse(200, "OK", JSON_TYPE, orjson.dumps(body))


def said(content: str | None, **message: Any) -> dict[str, Any]:
    return {"message": {"role": "assistant", "content": content, **message}}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    data = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "gpt-4o"}
    return b"data: " + orjson.dumps({**data, "choices": choices, **extra}) + b"\n\n"


def stream(*events: bytes, offsets: list[float] | None = None) -> RecordedResponse:
    timed = tuple(zip(offsets or [0.0] * len(events), events, strict=True))
    return RecordedResponse(200, "OK", SSE, b"".join(events), timed)


def content_stream(deltas: list[str], offsets: list[float] | None = None) -> RecordedResponse:
    events = [
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"content": d}) for d in deltas),
        chunk({}, "stop"),
        b"data: [DONE]\n\n",
    ]
    return stream(*events, offsets=offsets)


def recorded(*pairs: tuple[RecordedRequest, RecordedResponse]) -> list[Interaction]:
    return [Interaction(req, resp, i, "weather.yaml") for i, (req, resp) in enumerate(pairs)]


def convert(*pairs: tuple[RecordedRequest, RecordedResponse]) -> tuple[str, tuple[Rule, ...]]:
    text = cassette_to_scenario(recorded(*pairs), "cassettes/weather.yaml")
    return text, load_text(text, "scenarios/weather.yaml")


def only_reply(*pairs: tuple[RecordedRequest, RecordedResponse]) -> Reply:
    _, rules = convert(*pairs)
    (rule,) = rules
    (reply,) = rule.replies
    return reply


def conditions(rule: Rule) -> dict[str, Any]:
    return {c.key: c.arg for c in rule.conditions}


# --- JSON completions -------------------------------------------------------------------------


def test_a_completion_becomes_a_rule_matching_model_and_last_user() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "x_details": {}}
    text, (rule,) = convert((make_request(), completion(said("Sunny, 21°C."), usage=usage)))
    assert rule.name == "weather-0" and rule.file == "scenarios/weather.yaml"
    match = conditions(rule)
    assert (match["model"].kind, match["model"].value) == ("exact", "gpt-4o")
    assert (match["last_user"].kind, match["last_user"].value) == (
        "exact",
        "What is the weather in Paris?",
    )
    (reply,) = rule.replies
    (choice,) = reply.choices
    assert choice.content is not None and choice.content.source == "Sunny, 21°C."
    assert choice.chunks is None and choice.finish_reason is None
    assert dict(reply.usage) == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    assert reply.model == "gpt-4o-2024-08-06"  # as the upstream named it
    assert "Sunny, 21°C." in text  # unicode kept readable
    assert text.startswith("# Converted from the cassette cassettes/weather.yaml")


def test_the_reply_renders_what_was_recorded() -> None:
    reply = only_reply((make_request(), completion(said("It is sunny."))))
    request = make_chat_request(user="What is the weather in Paris?")
    (choice,) = render(reply, request, seed=1).choices
    assert choice.content == "It is sunny." and choice.finish_reason == "stop"


def test_text_of_several_lines_is_written_as_a_block() -> None:
    text, _ = convert((make_request(), completion(said("Line one.\nLine two.\n"))))
    assert "content: |\n      Line one.\n      Line two.\n" in text


def test_an_empty_answer_stays_empty() -> None:
    reply = only_reply((make_request(), completion(said(None))))
    assert reply.choices[0].content is not None and reply.choices[0].content.source == ""


def test_finish_reason_kept_when_not_the_natural_one() -> None:
    answer = completion({**said("Sunny and"), "finish_reason": "length"})
    assert only_reply((make_request(), answer)).choices[0].finish_reason == "length"


def test_several_choices_become_choices() -> None:
    reply = only_reply((make_request(n=2), completion(said("One."), said("Two."))))
    assert [c.content.source for c in reply.choices if c.content] == ["One.", "Two."]


def test_tool_calls_with_json_arguments_become_data() -> None:
    calls = [
        {
            "id": "call_abc",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": [1, 2]}'},
        },
        {"id": "call_def", "type": "function", "function": {"name": "now", "arguments": "oops{"}},
    ]
    answer = completion({**said(None, tool_calls=calls), "finish_reason": "tool_calls"})
    (choice,) = only_reply((make_request(), answer)).choices
    first, second = choice.tool_calls
    assert (first.name, first.id) == ("get_weather", "call_abc")
    assert first.arguments["days"] == [1, 2]
    assert first.arguments["city"].source == "Paris"
    assert (second.name, second.id, second.arguments.source) == ("now", "call_def", "oops{")
    assert choice.finish_reason is None  # tool_calls is what tool calls finish with anyway


def test_a_refusal_is_kept() -> None:
    answer = completion(said(None, refusal="I can't help with that."))
    (choice,) = only_reply((make_request(), answer)).choices
    assert choice.refusal == "I can't help with that."


def test_template_braces_in_recorded_text_stay_literal() -> None:
    content = "Use {{ last_user }} or {{{x}}} in Jinja; {{"
    calls = [{"id": "c1", "function": {"name": "t", "arguments": '{"tpl": "{{ name }}"}'}}]
    reply = only_reply((make_request(), completion(said(content, tool_calls=calls))))
    request = make_chat_request(user="ignored")
    (choice,) = reply.choices
    assert choice.content is not None
    assert render_template(choice.content, request) == content
    rendered = render(reply, request, seed=1).choices[0].tool_calls[0]
    assert orjson.loads(rendered.arguments) == {"tpl": "{{ name }}"}


# --- streams ----------------------------------------------------------------------------------


def test_a_stream_becomes_its_exact_deltas_with_the_recorded_pace() -> None:
    deltas = ["Hel", "lo", ",\n", " wörld", "  {{ x }}", "\n"]
    offsets = [0.2, 0.5, 0.52, 0.55, 0.6, 0.61, 0.65, 0.66, 0.66]
    reply = only_reply((make_request(stream=True), content_stream(deltas, offsets)))
    (choice,) = reply.choices
    assert choice.chunks == tuple(deltas)
    assert choice.content is not None and choice.content.source == "".join(deltas)
    # ttft: the first event carrying text (not the role-only one); gaps 20, 30, 50, 10, 40 ms.
    assert reply.latency.ttft_ms == 500.0
    assert reply.latency.inter_token_ms == 30.0
    request = make_chat_request(user="What is the weather in Paris?", stream=True)
    assert render(reply, request, seed=3).choices[0].deltas == tuple(deltas)


def test_a_stream_without_timing_has_no_latency() -> None:
    reply = only_reply((make_request(stream=True), content_stream(["a", "b"])))
    assert reply.choices[0].chunks == ("a", "b")
    assert reply.latency.ttft_ms is None and reply.latency.inter_token_ms is None


def test_streamed_tool_calls_are_reassembled_from_fragments() -> None:
    def call(index: int, **fields: Any) -> bytes:
        return chunk({"tool_calls": [{"index": index, **fields}]})

    events = [
        chunk({"role": "assistant", "content": None}),
        call(0, id="call_1", type="function", function={"name": "get_weather", "arguments": ""}),
        call(0, function={"arguments": '{"ci'}),
        call(0, function={"arguments": 'ty": "Par'}),
        call(0, function={"arguments": 'is"}'}),
        call(1, id="call_2", type="function", function={"name": "get_time", "arguments": "{}"}),
        chunk({}, "tool_calls"),
        chunk(None, usage={"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}),
        b"data: [DONE]\n\n",
    ]
    offsets = [0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.61, 0.62, 0.62]
    reply = only_reply((make_request(stream=True), stream(*events, offsets=offsets)))
    (choice,) = reply.choices
    first, second = choice.tool_calls
    assert (first.id, first.name, first.arguments["city"].source) == (
        "call_1",
        "get_weather",
        "Paris",
    )
    assert (second.id, second.name, second.arguments) == ("call_2", "get_time", {})
    assert choice.finish_reason is None and choice.chunks is None
    assert dict(reply.usage)["total_tokens"] == 39
    assert reply.latency.ttft_ms == 400.0 and reply.latency.inter_token_ms == 50.0


def test_an_in_band_error_becomes_a_fault() -> None:
    error = {"message": "overloaded", "type": "server_error", "code": None}
    events = [chunk({"content": "Hi"}), chunk({"content": " there"}), chunk(None, error=error)]
    reply = only_reply((make_request(stream=True), stream(*events)))
    assert reply.fault is not None and reply.fault.error_after_tokens == 2
    assert reply.fault.error is not None and reply.fault.error.message == "overloaded"
    assert reply.fault.error.type == "server_error"


def test_a_stream_cut_short_becomes_a_disconnect() -> None:
    events = [chunk({"content": "Hi"}), chunk({"content": " the"})]
    reply = only_reply((make_request(stream=True), stream(*events)))
    assert reply.fault is not None and reply.fault.disconnect_after_tokens == 2


def test_stream_timing_survives_a_cassette_file(tmp_path: Path) -> None:
    offsets = [0.25, 0.25, 0.3, 0.35, 0.35]
    Recorder(tmp_path, Scrubber()).append(
        "live.yaml", make_request(stream=True), content_stream(["A", "B"], offsets)
    )
    interactions = load_cassette(tmp_path / "live.yaml", "live.yaml")
    (rule,) = load_text(cassette_to_scenario(interactions, "live.yaml"))
    (reply,) = rule.replies
    assert rule.name == "live-0" and reply.choices[0].chunks == ("A", "B")
    assert reply.latency.ttft_ms == 250.0 and reply.latency.inter_token_ms == 50.0


# --- errors, repeats, odd requests ------------------------------------------------------------


def test_an_error_status_becomes_an_error_reply() -> None:
    body = {
        "error": {
            "message": "Rate limit reached for gpt-4o",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    headers = (*JSON_TYPE, ("Retry-After", "2"), ("x-ratelimit-remaining-requests", "0"))
    answer = RecordedResponse(429, "Too Many Requests", headers, orjson.dumps(body))
    error = only_reply((make_request(), answer)).error
    assert error is not None
    assert (error.status, error.type, error.code, error.param) == (
        429,
        "requests",
        "rate_limit_exceeded",
        None,
    )
    assert error.message == "Rate limit reached for gpt-4o"
    assert dict(error.headers) == {"retry-after": "2", "x-ratelimit-remaining-requests": "0"}


def test_an_error_body_that_is_not_json_becomes_the_message() -> None:
    answer = RecordedResponse(502, "Bad Gateway", (), b"<html>upstream down</html>")
    error = only_reply((make_request(), answer)).error
    assert error is not None and (error.status, error.message) == (
        502,
        "<html>upstream down</html>",
    )


def test_one_request_answered_differently_becomes_a_sequence() -> None:
    request = make_request(user="Tell me a joke")
    text, (rule, other) = convert(
        (request, completion(said("First joke."))),
        (make_request(user="Other"), completion(said("Other answer."))),
        (request, completion(said("Second joke."))),
    )
    assert rule.is_sequence and rule.then == "repeat_last"
    assert [r.choices[0].content.source for r in rule.replies if r.choices[0].content] == [
        "First joke.",
        "Second joke.",
    ]
    assert "interactions[0], interactions[2]" in text
    assert (other.name, other.is_sequence) == ("weather-1", False)


def test_one_request_answered_the_same_twice_is_one_reply() -> None:
    request = make_request(user="Ping")
    _, rules = convert((request, completion(said("Pong."))), (request, completion(said("Pong."))))
    assert [(r.name, r.is_sequence, len(r.replies)) for r in rules] == [("weather-0", False, 1)]


def test_without_a_user_message_the_last_message_is_matched() -> None:
    messages = [{"role": "system", "content": "Summarise the day."}]
    _, (rule,) = convert((make_request(messages=messages), completion(said("A calm day."))))
    role, content = conditions(rule)["last_message"]
    assert (role.value, content.value) == ("system", "Summarise the day.")
    assert "last_user" not in conditions(rule)


def test_patterns_that_look_like_globs_or_regexes_are_matched_exactly() -> None:
    answer = completion(said("ok"))
    _, (rule,) = convert((make_request(model="ft:gpt-4o*[x]", user="/etc/passwd/"), answer))
    assert rule.replies[0].model == "gpt-4o-2024-08-06"
    request = make_chat_request(model="ft:gpt-4o*[x]", user="/etc/passwd/")
    assert all(check_condition(c, request).matched for c in rule.conditions)
    other = make_chat_request(model="ft:gpt-4o-other[x]", user="/etc/passwd/")
    assert not all(check_condition(c, other).matched for c in rule.conditions)


def test_multi_part_user_content_is_matched_as_its_text() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "Describe"}]}]
    _, (rule,) = convert((make_request(messages=messages), completion(said("A cat."))))
    assert conditions(rule)["last_user"].value == "Describe"


def test_interactions_that_are_not_chat_completions_are_skipped_with_a_comment() -> None:
    models = RecordedResponse(200, "OK", JSON_TYPE, b'{"object": "list", "data": []}')
    text, rules = convert(
        (make_request(method="GET", path="/v1/models"), models),
        (make_request(), RecordedResponse(200, "OK", JSON_TYPE, b"not json")),
        (make_request(user="hi"), completion(said("Hello."))),
    )
    assert [r.name for r in rules] == ["weather-2"]
    assert "# interactions[0]: skipped: GET /v1/models is not an LLM API call" in text
    assert "# interactions[1]: skipped: the 200 response is not a chat completion" in text


def test_a_cassette_with_nothing_to_convert_still_loads() -> None:
    text = cassette_to_scenario([], "empty.yaml")
    assert load_text(text, "empty.yaml") == ()
    assert yaml.safe_load(text)["name"] == "empty"


# --- real cassette files ----------------------------------------------------------------------


def test_a_foreign_streamed_cassette_converts() -> None:
    interactions = load_cassette(FOREIGN / "sse_one_body.yaml", "foreign/sse_one_body.yaml")
    (rule,) = load_text(cassette_to_scenario(interactions, "foreign/sse_one_body.yaml"))
    assert rule.name == "sse_one_body-0"
    assert conditions(rule)["last_user"].value == "stream please"
    assert rule.replies[0].choices[0].chunks == ("Hello", " there")


@pytest.mark.parametrize(
    "name", sorted(p.name for p in FOREIGN.glob("*.yaml") if p.name != "sse_one_body.yaml")
)
def test_every_foreign_cassette_converts(name: str) -> None:
    interactions = load_cassette(FOREIGN / name, name)
    rules = load_text(cassette_to_scenario(interactions, name))
    assert len(rules) == len(interactions)
    assert all(r.replies[0].choices[0].content for r in rules)


# --- any text survives ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    user=st.text(max_size=40),
    content=st.text(max_size=80),
    deltas=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6),
)
@example(user="\x85", content="a\u2028b\r\nc\n", deltas=["\x85", "\ufeff", "\n", " "])
def test_any_text_survives_the_yaml(user: str, content: str, deltas: list[str]) -> None:
    _, rules = convert(
        (make_request(user=user), completion(said(content))),
        (make_request(user=user + "!"), content_stream(deltas)),
    )
    first, second = rules
    request = make_chat_request(user=user)
    assert check_condition(first.conditions[1], request).matched
    assert render(first.replies[0], request, seed=1).choices[0].content == content
    assert second.replies[0].choices[0].chunks == tuple(deltas)


# --- other API families -----------------------------------------------------------------------


def family_request(path: str, body: dict[str, Any]) -> RecordedRequest:
    return RecordedRequest("POST", path, body=orjson.dumps(body), url="https://api.example" + path)


def typed(kind: str, **fields: Any) -> bytes:
    data = orjson.dumps({"type": kind, **fields})
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


RESPONSES_REQUEST = family_request(
    "/v1/responses",
    {
        "model": "gpt-4.1",
        "instructions": "be brief",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]}],
    },
)
ANTHROPIC_REQUEST = family_request(
    "/v1/messages",
    {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w"}]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}],
            },
        ],
    },
)


def test_a_responses_api_answer_becomes_the_same_rule_keys() -> None:
    body = {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-4.1-2025-04-14",
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Think."}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Sunny."}],
            },
            {
                "type": "function_call",
                "name": "get_weather",
                "call_id": "call_9",
                "arguments": '{"city": "Paris"}',
            },
        ],
        "usage": {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17},
    }
    text, rules = convert(
        (RESPONSES_REQUEST, RecordedResponse(200, "OK", JSON_TYPE, orjson.dumps(body)))
    )
    (rule,) = rules
    data = yaml.safe_load(text)["rules"][0]
    assert data["match"] == {"model": "gpt-4.1", "api": "responses", "last_user": "Weather?"}
    assert data["reply"] == {
        "content": "Sunny.",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_9"}],
        "reasoning": "Think.",
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        "model": "gpt-4.1-2025-04-14",
    }


def test_a_responses_api_stream_keeps_its_deltas_and_pace() -> None:
    final = {"output": [], "usage": {"input_tokens": 3, "output_tokens": 2}, "model": "gpt-4.1"}
    events = [
        typed("response.created", sequence_number=0),
        typed("response.output_text.delta", delta="Hel", sequence_number=1),
        typed("response.output_text.delta", delta="lo.", sequence_number=2),
        typed("response.completed", response=final, sequence_number=3),
    ]
    response = stream(*events, offsets=[0.1, 0.2, 0.3, 0.3])
    _, rules = convert((RESPONSES_REQUEST, response))
    (reply,) = rules[0].replies
    assert reply.choices[0].chunks == ("Hel", "lo.")
    assert reply.latency.ttft_ms == 200.0 and reply.latency.inter_token_ms == 100.0
    assert dict(reply.usage) == {"prompt_tokens": 3, "completion_tokens": 2}
    cut = stream(*events[:2])
    _, rules = convert((RESPONSES_REQUEST, cut))
    assert rules[0].replies[0].fault is not None
    assert rules[0].replies[0].fault.disconnect_after_tokens == 1


def test_an_anthropic_message_becomes_the_same_rule_keys() -> None:
    body = {
        "type": "message",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "x"},
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 20, "output_tokens": 9},
    }
    text, _ = convert(
        (ANTHROPIC_REQUEST, RecordedResponse(200, "OK", JSON_TYPE, orjson.dumps(body)))
    )
    data = yaml.safe_load(text)["rules"][0]
    # the last user message holds only a tool result: it is a tool message, not a user one
    assert data["match"] == {
        "model": "claude-sonnet-4-5",
        "api": "messages",
        "last_user": "Weather in Paris?",
    }
    assert data["reply"]["content"] == "Let me look."
    assert data["reply"]["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "toolu_1"}
    ]
    assert data["reply"]["reasoning"] == "Hmm."
    assert "finish_reason" not in data["reply"]  # tool_use is the natural end of tool calls


def test_a_recorded_answer_with_text_and_calls_is_answered_with_both() -> None:
    call = {"index": 0, "id": "call_7", "type": "function"}
    events = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Let me"}),
        chunk({"content": " check."}),
        chunk({"tool_calls": [{**call, "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Paris"}'}}]}),
        chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    recorded_stream = only_reply((make_request(stream=True), stream(*events)))
    message = said(
        "Let me check.",
        tool_calls=[{**call, "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}],
    )
    recorded_whole = only_reply(
        (make_request(), completion({**message, "finish_reason": "tool_calls"}))
    )
    for reply in (recorded_stream, recorded_whole):
        (choice,) = render(
            reply, make_chat_request(user="What is the weather in Paris?"), 1
        ).choices
        assert choice.content == "Let me check."
        assert [(c.id, c.name, c.arguments) for c in choice.tool_calls] == [
            ("call_7", "get_weather", '{"city":"Paris"}')
        ]
        assert choice.finish_reason == "tool_calls"


def test_an_anthropic_stream_and_its_in_band_error() -> None:
    events = [
        typed("message_start", message={"model": "claude-x", "usage": {"input_tokens": 4}}),
        typed("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        typed("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hi"}),
        typed("content_block_delta", index=0, delta={"type": "text_delta", "text": " there"}),
        typed("error", error={"type": "overloaded_error", "message": "Overloaded"}),
    ]
    _, rules = convert((ANTHROPIC_REQUEST, stream(*events)))
    (reply,) = rules[0].replies
    assert reply.choices[0].chunks == ("Hi", " there")
    assert reply.fault is not None and reply.fault.error_after_tokens == 2
    assert reply.fault.error is not None and reply.fault.error.type == "overloaded_error"
    error = RecordedResponse(
        529, "", JSON_TYPE, b'{"type":"error","error":{"type":"overloaded_error","message":"x"}}'
    )
    _, rules = convert((ANTHROPIC_REQUEST, error))
    assert rules[0].replies[0].error is not None
    assert (rules[0].replies[0].error.status, rules[0].replies[0].error.type) == (
        529,
        "overloaded_error",
    )


def test_embeddings_answers_are_skipped_but_their_errors_convert() -> None:
    request = family_request("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})
    ok = RecordedResponse(200, "OK", JSON_TYPE, b'{"data": [{"embedding": [0.1]}]}')
    limited = RecordedResponse(429, "", JSON_TYPE, b'{"error": {"message": "slow down"}}')
    text, rules = convert((request, ok), (request, limited))
    assert "interactions[0]: skipped: an embeddings answer is derived from its input" in text
    (rule,) = rules
    assert conditions(rule)["api"].value == "embeddings"
    assert rule.replies[0].error is not None and rule.replies[0].error.status == 429


# --- Anthropic messages: thinking, tool ids, an in-band error ----------------------------------


def anthropic_request(user: str = "Weather in Oslo?", **fields: Any) -> RecordedRequest:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "Answer in one line.",
        "messages": [{"role": "user", "content": user}],
        **fields,
    }
    url = "https://api.anthropic.com/v1/messages"
    return RecordedRequest("POST", "/v1/messages", body=orjson.dumps(body), url=url)


def anthropic_event(data: dict[str, Any]) -> bytes:
    """An event as the API writes it, its JSON padded before the last brace."""
    payload = orjson.dumps(data)[:-1] + b"   }"
    return b"event: " + data["type"].encode() + b"\ndata: " + payload + b"\n\n"


def test_a_recorded_message_becomes_a_messages_rule() -> None:
    tool_use = {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "get_weather",
        "input": {"city": "Oslo"},
    }
    message = {
        "model": "claude-sonnet-4-5-20250929",
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Oslo {{ is }} cold.", "signature": "EqQB"},
            tool_use,
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 9},
    }
    recorded = RecordedResponse(200, "OK", JSON_TYPE, orjson.dumps(message))
    _, (rule,) = convert((anthropic_request(), recorded))
    match = conditions(rule)
    assert match["api"].test("messages") and not match["api"].test("chat")
    assert match["last_user"].value == "Weather in Oslo?"  # the system prompt is no message
    (reply,) = rule.replies
    (choice,) = reply.choices
    assert render_template(choice.reasoning, make_chat_request()) == "Oslo {{ is }} cold."
    (call,) = choice.tool_calls
    assert (call.name, call.id) == ("get_weather", "toolu_01")
    assert dict(reply.usage) == {"prompt_tokens": 20, "completion_tokens": 9}
    assert reply.model == "claude-sonnet-4-5-20250929"


def test_a_recorded_message_stream_keeps_its_deltas_and_its_error() -> None:
    start = {
        "type": "message_start",
        "message": {"model": "claude-x", "usage": {"input_tokens": 7}},
    }
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
    deltas = [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
        for t in ("Cold", " and", " wet")
    ]
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    body = b"".join(
        [
            anthropic_event(start),
            anthropic_event(block),
            b'event: ping\ndata: {"type": "ping"}\n\n',
            *map(anthropic_event, deltas),
            anthropic_event(error),
        ]
    )
    recorded = RecordedResponse(200, "OK", (("content-type", "text/event-stream"),), body)
    reply = only_reply((anthropic_request(stream=True), recorded))
    assert reply.choices[0].chunks == ("Cold", " and", " wet")
    assert reply.fault is not None and reply.fault.error_after_tokens == 3
    assert reply.fault.error is not None and reply.fault.error.type == "overloaded_error"


# --- the legacy Completions API -----------------------------------------------------------------

INSTRUCT = "gpt-3.5-turbo-instruct"


def completions_request(prompt: Any = "Say hi", **fields: Any) -> RecordedRequest:
    return family_request("/v1/completions", {"model": INSTRUCT, "prompt": prompt, **fields})


def text_completion(*texts: str, finish: str = "stop", usage: Any = None) -> RecordedResponse:
    body = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1700000000,
        "model": INSTRUCT,
        "choices": [
            {"text": t, "index": i, "logprobs": None, "finish_reason": finish}
            for i, t in enumerate(texts)
        ],
        **({"usage": usage} if usage else {}),
    }
    return RecordedResponse(200, "OK", JSON_TYPE, orjson.dumps(body))


def text_event(text: str, index: int = 0, finish: str | None = None) -> bytes:
    data = {
        "id": "cmpl-2",
        "object": "text_completion",
        "created": 1700000000,
        "choices": [{"text": text, "index": index, "logprobs": None, "finish_reason": finish}],
        "model": INSTRUCT,
    }
    return b"data: " + orjson.dumps(data) + b"\n\n"


def test_a_text_completion_becomes_a_completions_rule() -> None:
    usage = {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}
    response = text_completion("Hi there, {{ you }}", finish="length", usage=usage)
    text, (rule,) = convert((completions_request(max_tokens=5), response))
    data = yaml.safe_load(text)["rules"][0]
    assert data["match"] == {"model": INSTRUCT, "api": "completions", "last_user": "Say hi"}
    assert data["reply"]["finish_reason"] == "length"
    assert data["reply"]["usage"] == usage and "model" not in data["reply"]  # as asked
    (choice,) = rule.replies[0].choices
    assert choice.content is not None
    assert render_template(choice.content, make_chat_request()) == "Hi there, {{ you }}"


def test_a_completions_stream_becomes_its_text_deltas_with_the_recorded_pace() -> None:
    usage = {"id": "cmpl-2", "object": "text_completion", "choices": [], "model": INSTRUCT}
    usage["usage"] = {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    events = [
        text_event("One"),
        text_event(", two"),
        text_event(", three."),
        text_event("", finish="stop"),
        b"data: " + orjson.dumps(usage) + b"\n\n",
        b"data: [DONE]\n\n",
    ]
    response = stream(*events, offsets=[0.2, 0.3, 0.4, 0.4, 0.4, 0.4])
    text, (rule,) = convert((completions_request("count", stream=True), response))
    reply = yaml.safe_load(text)["rules"][0]["reply"]
    assert reply["chunks"] == ["One", ", two", ", three."]
    assert reply["latency"] == {"ttft_ms": 200.0, "inter_token_ms": 100.0}
    assert reply["usage"] == usage["usage"]
    assert conditions(rule)["api"].value == "completions"
    cut = only_reply((completions_request("count", stream=True), stream(*events[:2])))
    assert cut.fault is not None and cut.fault.disconnect_after_tokens == 2
    error = b'data: {"error": {"message": "broke", "type": "server_error"}}\n\n'
    broken = only_reply((completions_request("count", stream=True), stream(*events[:2], error)))
    assert broken.fault is not None and broken.fault.error_after_tokens == 2
    assert broken.fault.error is not None and broken.fault.error.message == "broke"


def test_completions_choices_per_prompt_leave_the_echoed_prompt_out() -> None:
    request = completions_request(["Red or blue?", "Up or down?"], n=2, echo=True)
    response = text_completion("Red or blue? Red.", "Red or blue? Blue.", "Up or down? Up.", "")
    text, (rule,) = convert((request, response))
    data = yaml.safe_load(text)["rules"][0]
    assert data["match"]["last_user"] == "Up or down?"  # a batch matches on its last prompt
    contents = [c["content"] for c in data["reply"]["choices"]]
    assert contents == [" Red.", " Blue.", " Up.", ""]  # the last did not echo: kept as sent
    streamed = stream(
        text_event("Red or blue?"), text_event(" Red"), text_event("."), b"data: [DONE]\n\n"
    )
    reply = only_reply((completions_request("Red or blue?", stream=True, echo=True), streamed))
    assert reply.choices[0].chunks == (" Red", ".")


def test_a_token_array_prompt_is_matched_as_its_text() -> None:
    text, _ = convert((completions_request([9906, 0]), text_completion(" Hi.")))
    assert yaml.safe_load(text)["rules"][0]["match"]["last_user"] == "Hello!"
    text, rules = convert((completions_request([-1]), text_completion(" Hi.")))
    assert not rules
    assert "interactions[0]: skipped: the prompt cannot be read: Invalid token in prompt" in text


def test_a_completions_error_becomes_an_error_reply() -> None:
    refused = b'{"error": {"message": "This is a chat model", "type": "invalid_request_error"}}'
    response = RecordedResponse(404, "Not Found", JSON_TYPE, refused)
    (rule,) = convert((completions_request(), response))[1]
    assert conditions(rule)["api"].value == "completions"
    error = rule.replies[0].error
    assert error is not None and (error.status, error.message) == (404, "This is a chat model")


# --- custom tools (free-form input) ------------------------------------------------------------

QUERY = 'SELECT "a" FROM t; -- {"not": "data"}'


def test_a_chat_answers_custom_tool_call_becomes_a_call_with_its_input_as_text() -> None:
    calls = [
        {"id": "call_c", "type": "custom", "custom": {"name": "run_sql", "input": QUERY}},
        {"id": "call_j", "type": "custom", "custom": {"name": "patch", "input": '{"a": 1}'}},
    ]
    answer = completion({**said(None, tool_calls=calls), "finish_reason": "tool_calls"})
    text, rules = convert((make_request(), answer))
    assert yaml.safe_load(text)["rules"][0]["reply"]["tool_calls"] == [
        {"name": "run_sql", "arguments": QUERY, "id": "call_c"},
        {"name": "patch", "arguments": '{"a": 1}', "id": "call_j"},  # JSON text, kept as text
    ]
    (choice,) = rules[0].replies[0].choices
    assert [c.name for c in choice.tool_calls] == ["run_sql", "patch"]


def test_a_streamed_custom_tool_call_is_reassembled_from_its_input_pieces() -> None:
    def call(**fields: Any) -> bytes:
        return chunk({"tool_calls": [{"index": 0, **fields}]})

    events = [
        chunk({"role": "assistant", "content": None}),
        call(id="call_c", type="custom", custom={"name": "run_sql", "input": ""}),
        call(custom={"input": QUERY[:10]}),
        call(custom={"input": QUERY[10:]}),
        chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    text, _ = convert((make_request(stream=True), stream(*events)))
    assert yaml.safe_load(text)["rules"][0]["reply"]["tool_calls"] == [
        {"name": "run_sql", "arguments": QUERY, "id": "call_c"}
    ]


def test_a_responses_api_custom_tool_call_becomes_a_call_whole_and_streamed() -> None:
    item = {"type": "custom_tool_call", "call_id": "call_r", "name": "run_sql", "input": QUERY}
    body = {"object": "response", "model": "gpt-5", "status": "completed", "output": [item]}
    text, _ = convert(
        (RESPONSES_REQUEST, RecordedResponse(200, "OK", JSON_TYPE, orjson.dumps(body)))
    )
    expected = [{"name": "run_sql", "arguments": QUERY, "id": "call_r"}]
    assert yaml.safe_load(text)["rules"][0]["reply"]["tool_calls"] == expected
    added = {**item, "input": ""}
    events = [
        typed("response.output_item.added", output_index=0, item=added, sequence_number=0),
        typed(
            "response.custom_tool_call_input.delta",
            output_index=0,
            delta=QUERY[:7],
            sequence_number=1,
        ),  # fmt: skip
        typed(
            "response.custom_tool_call_input.delta",
            output_index=0,
            delta=QUERY[7:],
            sequence_number=2,
        ),  # fmt: skip
    ]
    text, _ = convert((RESPONSES_REQUEST, stream(*events)))
    assert yaml.safe_load(text)["rules"][0]["reply"]["tool_calls"] == expected


def test_a_custom_tools_output_in_the_input_is_a_tool_message() -> None:
    request = family_request(
        "/v1/responses",
        {
            "model": "gpt-5",
            "previous_response_id": "resp_1",  # the turn that called the tool
            "input": [{"type": "custom_tool_call_output", "call_id": "c1", "output": "42"}],
        },
    )
    body = {"object": "response", "model": "gpt-5", "status": "completed", "output": [
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "There are 42."}]}]}  # fmt: skip
    text, _ = convert((request, RecordedResponse(200, "OK", JSON_TYPE, orjson.dumps(body))))
    match = yaml.safe_load(text)["rules"][0]["match"]
    assert match.get("last_message") == {"role": "tool", "content": "42"}, match
