"""sent_tokens: the completion tokens a client got when a fault cut its answer short."""

from __future__ import annotations

import orjson
import pytest

from mockllm.dialects import by_api
from mockllm.exchanges import fired_faults, sent_tokens, ticks_before, tokens_of_ticks
from mockllm.render import render
from mockllm.rules import Fault, Reply
from mockllm.tokens import count_tokens
from mockllm.wire import Body
from tests.factories import (
    make_chat_request,
    make_choice,
    make_messages_request,
    make_rendered,
    make_reply,
    make_responses_request,
    make_tool_call,
)

TEXT = make_rendered(make_choice("Hi", " there", "!"))


def test_an_answer_without_a_fault_is_sent_whole():
    assert sent_tokens(TEXT, None) == 3


@pytest.mark.parametrize(
    ("fault", "sent"),
    [
        (Fault(disconnect_after_tokens=2), 2),
        (Fault(error_after_tokens=1), 1),
        (Fault(disconnect_after_tokens=2, error_after_tokens=1), 1),
        (Fault(empty_choices_error=True), 0),
        (Fault(reset=True), 0),
        (Fault(hang=True), 0),
        (Fault(malformed_chunk_at=1), 3),
    ],
)
def test_a_cut_answer_counts_what_was_sent(fault, sent):
    assert sent_tokens(TEXT, fault) == sent


def test_reasoning_goes_first_and_every_choice_counts():
    rendered = make_rendered(
        make_choice("Yes", ".", reasoning=("Let", " me", " think")),
        make_choice("No", ".", index=1),
    )
    # Two ticks: two reasoning tokens of the first choice, the whole second choice.
    assert sent_tokens(rendered, Fault(disconnect_after_tokens=2)) == 2 + 2


def test_tool_call_fragments_count_as_they_are_sent():
    call = make_tool_call(fragments=('{"city":', '"Paris"}'))
    rendered = make_rendered(make_choice(tool_calls=(call,), finish_reason="tool_calls"))
    # '{"', 'city', '":' : the first fragment's three tokens.
    assert sent_tokens(rendered, Fault(disconnect_after_tokens=1)) == 3
    assert sent_tokens(rendered, Fault(error_after_tokens=0)) == 0


def test_a_whole_answer_turned_into_an_error_gives_nothing():
    assert sent_tokens(TEXT, Fault(error_after_tokens=2), stream=False) == 0
    assert sent_tokens(TEXT, Fault(empty_choices_error=True), stream=False) == 0
    assert sent_tokens(TEXT, Fault(error_after_tokens=2), stream=True) == 2


def test_a_stream_left_by_its_client_counts_the_ticks_written():
    rendered = make_rendered(make_choice("Hi", " there", "!"))
    offsets = rendered.offsets
    # framing events share the times of the ticks they go with
    events = (offsets[0], offsets[0], offsets[1], offsets[2], offsets[2], offsets[2])
    assert [ticks_before(rendered, events, sent) for sent in range(7)] == [0, 1, 1, 2, 3, 3, 3]
    assert tokens_of_ticks(rendered, 2) == 2


def _said_before_the_cut(body: Body) -> str:
    """The text and tool-call arguments a stream sent before a fault closed it, in every
    family's framing."""
    said = []
    for event in body.events[: body.abort_after]:
        for line in event.split(b"\n"):
            if not line.startswith(b"data: {"):
                continue
            data = orjson.loads(line[len(b"data: ") :])
            delta = data.get("delta")
            if "choices" in data:  # chat
                for choice in data["choices"]:
                    said.append(choice["delta"].get("content") or "")
                    for call in choice["delta"].get("tool_calls") or ():
                        said.append(call["function"].get("arguments", ""))
            elif isinstance(delta, str):  # responses: output_text / function_call_arguments
                said.append(delta)
            elif isinstance(delta, dict):  # messages: text_delta / input_json_delta
                said.append(delta.get("text") or delta.get("partial_json") or "")
    return "".join(said)


@pytest.mark.parametrize(
    "request_for",
    [
        lambda: make_chat_request(stream=True),
        lambda: make_responses_request(stream=True),
        lambda: make_messages_request(stream=True),
    ],
)
def test_fault_positions_count_the_text_then_the_arguments(request_for):
    reply = make_reply(
        content="Let me check.",  # Let, me, check, .
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],  # 5 fragments
    )
    request = request_for()
    rendered = render(reply, request, 1)
    ticks = ("Let", " me", " check", ".", '{"', "city", '":"', "Paris", '"}')
    dialect = by_api(request.api)
    for cut in range(1, len(ticks) + 1):
        body = dialect.answer(rendered, request, 0, Fault(disconnect_after_tokens=cut))
        assert _said_before_the_cut(body) == "".join(ticks[:cut])
        assert tokens_of_ticks(rendered, cut) == count_tokens("".join(ticks[:cut]))
    assert fired_faults(Fault(disconnect_after_tokens=9), rendered, True) != ()
    assert fired_faults(Fault(disconnect_after_tokens=10), rendered, True) == ()


def test_after_a_server_tool_the_arguments_count_before_the_text():
    """The default answer to a request that calls a server tool (the API runs it, and the
    answer's text comes after its call): a cut stream sends, and bills, the call's
    arguments first."""
    request = make_messages_request(
        "Search the web for lighthouses",
        stream=True,
        tools=[{"type": "web_search_20250305", "name": "web_search"}],
        tool_choice={"type": "tool", "name": "web_search"},
    )
    rendered = render(Reply(is_default=True), request, 1)
    (choice,) = rendered.choices
    assert choice.calls_first and choice.content
    ticks = (*choice.tool_calls[0].fragments, *choice.deltas)
    dialect = by_api(request.api)
    for cut in range(1, len(ticks) + 1):
        body = dialect.answer(rendered, request, 0, Fault(disconnect_after_tokens=cut))
        assert _said_before_the_cut(body) == "".join(ticks[:cut])
        assert tokens_of_ticks(rendered, cut) == count_tokens("".join(ticks[:cut]))


def test_a_web_search_call_takes_its_query_ticks_before_the_text():
    """The Responses API's web search: its query goes out in no delta, but its ticks are
    due (and billed) before the text's, as a Messages server tool's arguments are."""
    request = make_responses_request(
        input="What is the latest news about lighthouses today?",
        stream=True,
        tools=[{"type": "web_search"}],
    )
    rendered = render(Reply(is_default=True), request, 1)
    (choice,) = rendered.choices
    assert choice.calls_first and choice.content
    query = choice.tool_calls[0].fragments
    ticks = (*query, *choice.deltas)
    dialect = by_api(request.api)
    for cut in range(1, len(ticks) + 1):
        body = dialect.answer(rendered, request, 0, Fault(disconnect_after_tokens=cut))
        assert _said_before_the_cut(body) == "".join(choice.deltas[: max(0, cut - len(query))])
        assert tokens_of_ticks(rendered, cut) == count_tokens("".join(ticks[:cut]))
        failed = dialect.answer(rendered, request, 0, Fault(error_after_tokens=cut))
        assert failed.events[-1].startswith(b"event: response.failed")
