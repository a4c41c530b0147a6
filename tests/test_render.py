"""render: (reply, request, seed) → Rendered, without a server.

Token counts follow the tokenizer's rule (a word with its leading space is one token,
punctuation runs are their own): "The quick brown fox jumps." is six tokens.
"""

from __future__ import annotations

import pytest

from mockllm.render import Rendered, render
from mockllm.rules import Reply
from tests.factories import (
    make_chat_request,
    make_embeddings_request,
    make_reply,
    make_responses_request,
)

TEXT = "The quick brown fox jumps."
TOKENS = ("The", " quick", " brown", " fox", " jumps", ".")
PROMPT_HELLO = 3 + 4 + 1  # reply priming, one message's framing, "Hello"


def one(reply: Reply, seed: int = 1, **request: object) -> Rendered:
    return render(reply, make_chat_request(**request), seed)  # type: ignore[arg-type]


def test_deltas_are_tokens_that_join_to_the_text():
    rendered = one(make_reply(content=TEXT))
    (choice,) = rendered.choices
    assert choice.deltas == TOKENS
    assert (choice.content, choice.finish_reason, choice.tokens) == (TEXT, "stop", 6)
    assert (rendered.prompt_tokens, rendered.completion_tokens, rendered.total_tokens) == (
        PROMPT_HELLO,
        6,
        PROMPT_HELLO + 6,
    )
    assert len(rendered.offsets) == 6  # one due time per delta


def test_tokens_per_chunk_groups_deltas():
    rendered = one(make_reply(content=TEXT, latency={"tokens_per_chunk": 4}))
    (choice,) = rendered.choices
    assert choice.deltas == ("The quick brown fox", " jumps.")
    assert choice.tokens == 6  # usage counts tokens, not deltas
    assert len(rendered.offsets) == 2


def test_scripted_chunks_are_sent_as_written():
    rendered = one(make_reply(chunks=["The qu", "ick brown fox jumps."]))
    assert rendered.choices[0].deltas == ("The qu", "ick brown fox jumps.")
    assert rendered.choices[0].content == TEXT


@pytest.mark.parametrize(
    ("per_chunk", "deltas"),
    [(1, ("The", " quick", " brown")), (2, ("The quick", " brown"))],
)
def test_max_tokens_cuts_the_text_and_finishes_with_length(per_chunk, deltas):
    reply = make_reply(content=TEXT, latency={"tokens_per_chunk": per_chunk})
    (choice,) = one(reply, max_tokens=3).choices
    assert choice.deltas == deltas
    assert (choice.content, choice.finish_reason, choice.tokens) == (
        "The quick brown",
        "length",
        3,
    )
    assert choice.stop_sequence is None


def test_a_reply_that_fits_max_tokens_is_not_cut():
    (choice,) = one(make_reply(content=TEXT), max_tokens=6).choices
    assert (choice.content, choice.finish_reason) == (TEXT, "stop")


def test_a_stop_sequence_cuts_the_text_before_it():
    (choice,) = one(make_reply(content=TEXT), stop=[" jumps", " brown"]).choices
    assert choice.content == "The quick"  # the earliest stop in the text wins
    assert choice.deltas == ("The", " quick")
    assert (choice.finish_reason, choice.stop_sequence, choice.tokens) == ("stop", " brown", 2)


def test_a_stop_sequence_applies_to_scripted_chunks_too():
    (choice,) = one(make_reply(chunks=["The quick", " brown fox"]), stop=" brown").choices
    assert (choice.content, choice.stop_sequence) == ("The quick", " brown")
    assert "".join(choice.deltas) == "The quick"


def test_an_absent_stop_sequence_changes_nothing():
    (choice,) = one(make_reply(content=TEXT), stop="zebra").choices
    assert (choice.content, choice.stop_sequence) == (TEXT, None)


def test_reasoning_has_its_own_deltas_and_counts_in_completion_tokens():
    rendered = one(make_reply(reasoning="Think first.", content="Done."))
    (choice,) = rendered.choices
    assert choice.reasoning == "Think first."
    assert choice.reasoning_deltas == ("Think", " first", ".")
    assert choice.deltas == ("Done", ".")
    assert (choice.reasoning_tokens, choice.tokens) == (3, 5)
    assert (rendered.reasoning_tokens, rendered.completion_tokens) == (3, 5)
    assert len(rendered.offsets) == 5  # reasoning deltas tick before the answer's


def test_generated_reasoning_only_when_the_request_asks_for_it():
    asked = make_responses_request("o4-mini", reasoning={"effort": "low", "summary": "auto"})
    with_reasoning = render(Reply(is_default=True), asked, 3).choices[0]
    assert with_reasoning.reasoning
    assert "".join(with_reasoning.reasoning_deltas) == with_reasoning.reasoning
    # The summary's tokens, and those a reasoning model spends out of sight (low: 64-320).
    hidden = with_reasoning.reasoning_tokens - len(with_reasoning.reasoning_deltas)
    assert 64 <= hidden <= 320
    plain = render(Reply(is_default=True), make_responses_request(), 3).choices[0]
    assert (plain.reasoning, plain.reasoning_deltas, plain.reasoning_tokens) == (None, (), 0)


def test_tool_call_fragments_join_to_the_arguments():
    reply = make_reply(
        tool_calls=[{"name": "get_weather", "arguments": {"city": "{{ last_user }}"}}]
    )
    (choice,) = one(reply, user="Paris").choices
    (call,) = choice.tool_calls
    assert (call.index, call.name, call.arguments) == (0, "get_weather", '{"city":"Paris"}')
    assert call.fragments == ('{"', "city", '":"', "Paris", '"}')
    assert call.id.startswith("call_") and len(call.id) == len("call_") + 24
    assert (choice.content, choice.deltas, choice.finish_reason) == (None, (), "tool_calls")
    # Fragments, the name's tokens (get, _, weather) and three for the call's framing.
    assert choice.tokens == 5 + 3 + 3


def test_tool_calls_keep_a_scripted_id_and_obey_parallel_tool_calls():
    reply = make_reply(
        tool_calls=[
            {"name": "a", "id": "call_fixed", "arguments": {}},
            {"name": "b", "arguments": {}},
        ]
    )
    both = one(reply).choices[0].tool_calls
    assert [(c.index, c.id, c.name) for c in both][0] == (0, "call_fixed", "a")
    assert [c.name for c in both] == ["a", "b"]
    offered = [{"type": "function", "function": {"name": n}} for n in ("a", "b")]
    single = one(reply, parallel_tool_calls=False, tools=offered).choices[0].tool_calls
    assert [c.name for c in single] == ["a"]


def test_max_tokens_cuts_tool_call_arguments():
    reply = make_reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    (choice,) = one(reply, max_tokens=2).choices
    (call,) = choice.tool_calls
    assert (call.fragments, call.arguments) == (('{"', "city"), '{"city')
    assert choice.finish_reason == "length"


PREAMBLE = "I'll check the weather."  # six tokens: I, 'll, check, the, weather, .
WEATHER_CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}  # five fragments


def test_text_and_tool_calls_are_both_sent_the_text_first():
    (choice,) = one(make_reply(content=PREAMBLE, tool_calls=[WEATHER_CALL])).choices
    assert (choice.content, "".join(choice.deltas)) == (PREAMBLE, PREAMBLE)
    assert len(choice.deltas) == 6
    (call,) = choice.tool_calls
    assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris"}')
    assert choice.finish_reason == "tool_calls"
    # The text's tokens, then the call's: fragments, the name's tokens and three of framing.
    assert choice.tokens == 6 + 5 + 3 + 3
    assert choice.ticks == 6 + 5  # streamed: the text's deltas, then the fragments
    # The default generator's calls still come alone.
    offered = [{"type": "function", "function": {"name": "get_weather"}}]
    request = make_chat_request(tools=offered, tool_choice="required")
    (generated,) = render(Reply(is_default=True), request, 1).choices
    assert (generated.content, generated.deltas) == (None, ())
    assert [c.name for c in generated.tool_calls] == ["get_weather"]


def test_chunks_and_faker_text_come_before_tool_calls_too():
    chunked = one(make_reply(chunks=["I'll check", " the weather."], tool_calls=[WEATHER_CALL]))
    (choice,) = chunked.choices
    assert (choice.deltas, choice.content) == (("I'll check", " the weather."), PREAMBLE)
    assert [c.name for c in choice.tool_calls] == ["get_weather"]
    faked = one(make_reply(faker={"text": "sentence"}, tool_calls=[WEATHER_CALL])).choices[0]
    assert faked.content and "".join(faked.deltas) == faked.content
    assert [c.name for c in faked.tool_calls] == ["get_weather"]


def test_max_tokens_runs_out_in_the_text_first():
    reply = make_reply(content=PREAMBLE, tool_calls=[WEATHER_CALL])
    (cut_in_text,) = one(reply, max_tokens=3).choices
    assert (cut_in_text.content, cut_in_text.tool_calls) == ("I'll check", ())
    assert (cut_in_text.finish_reason, cut_in_text.tokens) == ("length", 3)
    (cut_in_call,) = one(reply, max_tokens=8).choices
    assert cut_in_call.content == PREAMBLE
    assert [c.fragments for c in cut_in_call.tool_calls] == [('{"', "city")]
    assert (cut_in_call.finish_reason, cut_in_call.tokens) == ("length", 8)


def test_a_stop_sequence_in_the_text_ends_the_answer_before_the_calls():
    reply = make_reply(content=PREAMBLE, tool_calls=[WEATHER_CALL])
    (choice,) = one(reply, stop=["weather"]).choices
    assert (choice.content, choice.tool_calls) == ("I'll check the ", ())
    assert (choice.finish_reason, choice.stop_sequence) == ("stop", "weather")


def test_logprobs_reasoning_and_n_choices_with_text_and_calls():
    reply = make_reply(reasoning="Look it up.", content=PREAMBLE, tool_calls=[WEATHER_CALL])
    rendered = one(reply, n=2, logprobs=True, top_logprobs=1)
    for choice in rendered.choices:
        assert (choice.reasoning, choice.content) == ("Look it up.", PREAMBLE)
        assert [c.name for c in choice.tool_calls] == ["get_weather"]
        assert choice.logprobs is not None and len(choice.logprobs) == len(choice.deltas)
        assert choice.ticks == len(choice.reasoning_deltas) + 6 + 5
    assert rendered.completion_tokens == 2 * (4 + 6 + 11)


def test_n_choices_cycle_through_the_scripted_ones():
    reply = make_reply(choices=[{"content": "Yes."}, {"content": "No."}])
    rendered = one(reply, n=3)
    assert [(c.index, c.content) for c in rendered.choices] == [
        (0, "Yes."),
        (1, "No."),
        (2, "Yes."),
    ]
    assert rendered.completion_tokens == 2 + 2 + 2


def test_n_generated_choices_differ():
    rendered = render(Reply(is_default=True), make_chat_request(n=2), 5)
    first, second = (c.content for c in rendered.choices)
    assert first and second and first != second


def test_a_refusal_streams_as_refusal_deltas():
    (choice,) = one(make_reply(refusal="I can't help with that.")).choices
    assert (choice.content, choice.refusal) == (None, "I can't help with that.")
    assert "".join(choice.deltas) == "I can't help with that."
    assert choice.logprobs is None


def test_logprobs_give_one_entry_per_token_with_ranked_alternatives():
    (choice,) = one(make_reply(content="Hi there"), logprobs=True, top_logprobs=2).choices
    assert choice.logprobs is not None
    assert [[e["token"] for e in delta] for delta in choice.logprobs] == [["Hi"], [" there"]]
    for (entry,) in choice.logprobs:
        assert entry["bytes"] == list(entry["token"].encode())
        top = entry["top_logprobs"]
        assert len(top) == 2
        assert top[0]["token"] == entry["token"] and top[0]["logprob"] == entry["logprob"]
        assert top[1]["logprob"] < top[0]["logprob"] <= 0


def test_even_offsets_from_ttft_and_the_gap():
    reply = make_reply(content=TEXT, latency={"ttft_ms": 100, "inter_token_ms": 20})
    offsets = one(reply).offsets
    assert offsets == pytest.approx((0.1, 0.12, 0.14, 0.16, 0.18, 0.2))


def test_jitter_moves_each_gap_within_its_bounds_and_is_seeded():
    reply = make_reply(content=TEXT, latency={"ttft_ms": 100, "inter_token_ms": 20, "jitter_ms": 5})
    offsets = one(reply, seed=1).offsets
    assert offsets[0] == pytest.approx(0.1)
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert all(0.015 - 1e-9 <= gap <= 0.025 + 1e-9 for gap in gaps)
    assert len(set(round(g, 9) for g in gaps)) > 1  # not the even pace
    assert one(reply, seed=1).offsets == offsets
    assert one(reply, seed=2).offsets != offsets


def test_the_same_seed_renders_the_same_answer():
    request = make_chat_request(user="Tell me something")
    first = render(Reply(is_default=True), request, 42)
    assert render(Reply(is_default=True), request, 42) == first
    other = render(Reply(is_default=True), request, 43)
    assert other.id != first.id
    assert other.choices[0].content != first.choices[0].content
    assert first.id.startswith("chatcmpl-") and len(first.id) == len("chatcmpl-") + 29
    assert first.fingerprint.startswith("fp_") and len(first.fingerprint) == 13


def test_a_small_max_tokens_asks_the_generator_for_fewer_words():
    rendered = render(Reply(is_default=True), make_chat_request(max_tokens=5), 7)
    assert 1 <= rendered.completion_tokens <= 5


def test_scripted_usage_overrides_the_counts():
    rendered = one(make_reply(content=TEXT, usage={"prompt_tokens": 100}))
    assert (rendered.prompt_tokens, rendered.completion_tokens, rendered.total_tokens) == (
        100,
        6,
        106,
    )


def test_a_reply_model_and_the_request_provider_show_in_the_answer():
    rendered = render(
        make_reply(content="ok", model="gpt-4o-2024-08-06"),
        make_chat_request(model="openai/gpt-4o"),
        1,
    )
    assert (rendered.model, rendered.provider) == ("gpt-4o-2024-08-06", "openai")


def test_embeddings_have_no_choices():
    rendered = render(Reply(is_default=True), make_embeddings_request(input=["a b", "c"]), 1)
    assert rendered.choices == ()
    assert (rendered.prompt_tokens, rendered.completion_tokens) == (3, 0)


def test_stop_after_cuts_the_same_generated_text():
    request = make_chat_request(user="Hello")
    full = render(Reply(is_default=True), request, 9)
    cut = render(Reply(is_default=True), request, 9, stop_after=10)
    (whole,), (short,) = full.choices, cut.choices
    assert whole.content.startswith(short.content) and short.content != whole.content
    assert (short.finish_reason, short.tokens, cut.id) == ("length", 10, full.id)


def test_a_reasoning_model_spends_reasoning_tokens_and_a_cut_counts_them():
    asked = make_chat_request("o3", user="Tell me about tides.", reasoning_effort="high")
    whole = render(Reply(is_default=True), asked, 9)
    (choice,) = whole.choices
    assert choice.reasoning is None and 576 <= choice.reasoning_tokens <= 2880
    assert whole.completion_tokens == choice.reasoning_tokens + len(choice.deltas)
    cut = render(Reply(is_default=True), asked, 9, stop_after=choice.reasoning_tokens + 3)
    assert cut.completion_tokens == choice.reasoning_tokens + 3
    assert "".join(cut.choices[0].deltas) == "".join(choice.deltas[:3])
    assert cut.choices[0].finish_reason == "length"
    none = render(Reply(is_default=True), make_chat_request("gpt-4o"), 9)
    assert none.reasoning_tokens == 0


@pytest.mark.parametrize("seed", [0, 1, 2**63 + 5, 12345678901234])
def test_a_generator_seeded_on_first_draw_draws_as_one_seeded_at_once(seed: int) -> None:
    import random

    from mockllm.render import SeededLater

    def draws(rng: random.Random, op: str) -> list[object]:
        out: list[object] = []
        for _ in range(3):
            if op == "choices":
                out.append(rng.choices("abcdef", k=5))
            elif op == "randint":
                out.append(rng.randint(1, 10**20))
            elif op == "getrandbits":
                out.append(rng.getrandbits(70))
            elif op == "shuffle":
                items = list(range(10))
                rng.shuffle(items)
                out.append(items)
            elif op == "sample":
                out.append(rng.sample(range(100), 5))
            elif op == "gauss":
                out.append(rng.gauss(0, 1))
            elif op == "randbytes":
                out.append(rng.randbytes(9))
            elif op == "getstate":
                out.append(rng.getstate())
            elif op == "seed":
                rng.seed(77)
            elif op == "setstate":
                rng.setstate(random.Random(9).getstate())
            else:
                out.append(getattr(rng, op)())
        return [*out, rng.random()]

    ops = ["random", "choices", "randint", "getrandbits", "shuffle", "sample", "gauss"]
    for op in [*ops, "randbytes", "getstate", "seed", "setstate", "triangular"]:
        later = SeededLater(seed)
        assert draws(later, op) == draws(random.Random(seed), op), op
        assert type(later) is random.Random  # plain from the first draw on


_REPLIES = [
    {"content": TEXT},
    {"chunks": ["The qu", "ick brown fox jumps."]},
    {"content": "Stop here. Then more words follow", "finish_reason": "stop"},
    {"content": TEXT, "latency": {"tokens_per_chunk": 3}},
    {"content": "Hi {{ last_user }}"},  # reads the request: never kept
    {"choices": [{"content": "first"}, {"content": "second one here"}]},
    {"refusal": "I can't help with that."},
    {"content": TEXT, "logprobs": True},
]
_REQUESTS = [
    {},
    {"max_tokens": 3},
    {"max_tokens": 1, "n": 2},
    {"stop": ["Then"]},
    {"stop": [" brown", "."], "n": 3},
    {"logprobs": True, "top_logprobs": 2},
    {"user": "Other words"},
]


@pytest.mark.parametrize("fields", _REPLIES)
def test_a_kept_scripted_choice_is_the_choice_rendered_anew(fields, monkeypatch):
    """A choice scripted word for word is kept and given to later requests that ask alike;
    every request gets what rendering it anew gives."""
    import mockllm.render as module

    reply = make_reply(**fields)
    for seed, request in enumerate(_REQUESTS):
        kept = [one(reply, seed, **request), one(reply, seed, **request)]
        with monkeypatch.context() as patched:
            patched.setattr(module, "_is_fixed", lambda spec: False)
            anew = one(reply, seed, **request)
        assert kept[0] == anew and kept[1] == anew, (fields, request)
    # Kept: text written out (content or chunks), not read from the request, no logprobs.
    varies = "{{" in str(fields) or "logprobs" in fields or "refusal" in fields
    assert module._is_fixed(reply.choices[0]) == (not varies), fields


def test_the_top_logprobs_of_a_position_sum_to_at_most_one():
    """Alternatives of one softmax: their probabilities, with the token's, add up to <= 1,
    each alternative less likely than the one before."""
    import math
    import random

    from mockllm.render import _logprobs

    deltas = ["Hello", " there", ", how", " are", " you", " today", "?"] * 20
    for seed in range(20):
        for entries in _logprobs(deltas, random.Random(seed), 20):
            for entry in entries:
                chances = [math.exp(t["logprob"]) for t in entry["top_logprobs"]]
                assert sum(chances) <= 1.0 + 1e-6, entry
                assert chances == sorted(chances, reverse=True)
                assert entry["top_logprobs"][0]["logprob"] == entry["logprob"]


def test_a_schema_too_big_to_answer_is_named_where_each_family_carries_it():
    """The refusal names the request's own field: chat's response_format, the Responses
    API's text.format, the Messages API's output_config.format."""
    import pytest

    from mockllm.errors import RequestError
    from tests.factories import make_chat_request, make_responses_request

    huge = {"type": "object", "properties": {"a": {"type": "array", "minItems": 100000}}}
    chat_form = {"type": "json_schema", "json_schema": {"name": "x", "schema": huge}}
    text_form = {"format": {"type": "json_schema", "name": "x", "strict": False, "schema": huge}}
    for request, param in (
        (make_chat_request(response_format=chat_form), "response_format.json_schema.schema"),
        (make_responses_request(text=text_form), "text.format.schema"),
    ):
        with pytest.raises(RequestError) as caught:
            render(make_reply(), request, 1)
        assert caught.value.param == param


def test_a_done_word_ends_a_text_answer():
    """AutoGen's agents are told "Reply with TERMINATE when the task has been completed."
    and a team ends when it reads it."""
    system = "You are a helpful AI assistant. Reply with TERMINATE when the task has been done."
    request = make_chat_request(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": "Hi"}]
    )
    text = render(Reply(is_default=True), request, 1).choices[0].content
    assert text is not None and text.endswith("\n\nTERMINATE")
    plain = render(Reply(is_default=True), make_chat_request(), 1).choices[0].content
    assert plain is not None and "TERMINATE" not in plain


def test_a_done_word_is_read_as_autogens_examples_write_it():
    """The critic of AutoGen's RoundRobinGroupChat example, its Swarm's travel agent and its
    SelectorGroupChat's planner each name the word another way; a format is no done word."""
    for system, word in (
        ("Respond with 'APPROVE' to when your feedbacks are addressed.", "APPROVE"),
        ("Use TERMINATE when the travel planning is complete.", "TERMINATE"),
        (
            'When all tasks are complete, summarize the findings and end with "TERMINATE".',
            "TERMINATE",
        ),
        ("Respond with JSON when asked for data.", None),
        ("Use the tool when needed.", None),
    ):
        request = make_chat_request(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": "Hi"}]
        )
        text = render(Reply(is_default=True), request, 1).choices[0].content or ""
        assert text.endswith(f"\n\n{word}") if word else "\n\n" not in text, system


def test_a_structured_answer_takes_what_the_conversation_states():
    """An extraction: the schema's fields read from the message where it states them."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "city": {"type": "string"},
            "email": {"type": "string"},
        },
        "required": ["name", "age", "city", "email"],
        "additionalProperties": False,
    }
    form = {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": schema, "strict": True},
    }
    request = make_chat_request(
        messages=[
            {
                "role": "user",
                "content": "Extract: John Smith is 34, lives in Paris, john@example.com",
            }
        ],
        response_format=form,
    )
    import orjson

    answer = orjson.loads(render(Reply(is_default=True), request, 1).choices[0].content or "")
    assert answer == {"name": "John Smith", "age": 34, "city": "Paris", "email": "john@example.com"}
