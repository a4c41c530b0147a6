"""The legacy Completions dialect without HTTP: the Conversation `parse` builds from each
prompt form, its refusals (400s naming the field, the chat model's 404), and what `answer`
writes: text, echo, logprobs, finish reasons, stream events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from mockllm.conversation import Conversation
from mockllm.dialects import ParseContext, completions
from mockllm.errors import RequestError
from mockllm.render import render
from mockllm.rules import Fault, Reply
from tests.factories import make_reply

FROZEN = 1_700_000_000


def parsed(context: ParseContext | None = None, **fields: Any) -> Conversation:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", **fields}
    return completions.parse(orjson.dumps(body), {}, completions.PATH, context or ParseContext())


def refused(status: int = 400, **fields: Any) -> RequestError:
    with pytest.raises(RequestError) as info:
        parsed(**fields)
    assert info.value.status == status
    return info.value


def answered(request: Conversation, reply: Reply | None = None, seed: int = 1) -> Any:
    rendered = render(reply or Reply(is_default=True), request, seed)
    body = completions.answer(rendered, request, FROZEN, None)
    if request.stream:
        return [e for e in body.events]
    return orjson.loads(body.body)


# --- prompts --------------------------------------------------------------------------------


def test_a_string_prompt_is_one_user_message_with_its_tokens_counted() -> None:
    request = parsed()
    assert request.api == "completions"
    assert [(m.role, m.text) for m in request.messages] == [("user", "Say this is a test")]
    assert request.last_user == "Say this is a test"
    assert request.input_tokens == 5
    assert request.max_tokens == 16  # the API's default
    assert request.n == 1


def test_each_prompt_of_a_list_is_a_message_and_a_group_of_n_choices() -> None:
    request = parsed(prompt=["one", "two words", "three"], n=2)
    assert [m.text for m in request.messages] == ["one", "two words", "three"]
    assert request.last_user == "three"
    assert request.n == 6


def test_token_arrays_are_read_with_cl100k() -> None:
    one = parsed(prompt=[15339, 1917])
    assert one.last_user == "hello world"
    assert one.input_tokens == 2
    many = parsed(prompt=[[15339], [1917]])
    assert [m.text for m in many.messages] == ["hello", " world"]
    assert many.wire.prompts[1].tokens == (" world",)


def test_null_prompt_is_the_empty_document() -> None:
    assert parsed(prompt=None).last_user == ""


@pytest.mark.parametrize(
    ("prompt", "param", "words"),
    [
        ({"text": "hi"}, "prompt", "Invalid type for 'prompt'"),
        (["a", 1], "prompt", "Invalid type for 'prompt'"),
        ([], "prompt", "empty array"),
        ([[1, 2], []], "prompt[1]", "empty array"),
        ([[1, "x"]], "prompt[0]", "expected an array of integers"),
        ([[1, None]], "prompt[0]", "expected an array of integers"),
        ([[None]], "prompt[0]", "expected an array of integers"),
        ([100300], "prompt", "Invalid token in prompt: 100300."),
    ],
)
def test_a_malformed_prompt_is_refused_naming_it(prompt: Any, param: str, words: str) -> None:
    exc = refused(prompt=prompt)
    assert exc.param == param
    assert words in exc.message


def test_a_missing_prompt_is_refused() -> None:
    with pytest.raises(RequestError) as info:
        completions.parse(b'{"model": "davinci-002"}', {}, completions.PATH, ParseContext())
    assert info.value.message == "Missing required parameter: 'prompt'."


# --- parameters -----------------------------------------------------------------------------


def test_a_chat_model_is_the_apis_404_and_lenient_takes_it() -> None:
    exc = refused(404, model="gpt-4o")
    assert exc.message == completions.CHAT_MODEL
    assert (exc.param, exc.code, exc.type) == ("model", None, "invalid_request_error")
    assert parsed(ParseContext(lenient=True), model="gpt-4o").model == "gpt-4o"


@pytest.mark.parametrize("model", ["davinci-002", "babbage-002", "gpt-3.5-turbo-instruct-0914"])
def test_the_instruct_and_base_models_are_served(model: str) -> None:
    assert parsed(model=model).model == model


def test_a_model_the_catalogue_does_not_know_is_parsed() -> None:
    assert parsed(model="my-own-llm").model == "my-own-llm"  # the engine decides, as on chat


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"logprobs": 6}, "logprobs", "Expected a value <= 5, but got 6"),
        ({"logprobs": True}, "logprobs", "expected an integer"),
        ({"max_tokens": -1}, "max_tokens", "Expected a value >= 0"),
        ({"n": 0}, "n", "Expected a value >= 1"),
        ({"best_of": 1, "n": 2}, "best_of", "must be greater than or equal to n (2)"),
        ({"best_of": 21}, "best_of", "Expected a value <= 20"),
        ({"best_of": 2, "stream": True}, "best_of", "cannot be streamed"),
        ({"echo": "yes"}, "echo", "expected a boolean"),
        ({"suffix": 3}, "suffix", "expected a string"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "array too long"),
        ({"temperature": "hot"}, "temperature", "expected a decimal"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "only allowed when"),
        ({"logit_bias": {"x": 1}}, "logit_bias", "Invalid key in 'logit_bias': x."),
        ({"user": 5}, "user", "expected a string"),
        ({"seed": 1.5}, "seed", "expected an integer"),
    ],
)
def test_a_bad_parameter_is_refused_naming_it(
    fields: dict[str, Any], param: str, words: str
) -> None:
    exc = refused(**fields)
    assert exc.param == param
    assert words in exc.message


def test_an_argument_the_api_does_not_know_is_refused() -> None:
    exc = refused(messages=[])
    assert exc.message == "Unrecognized request argument supplied: messages"


def test_a_prompt_past_the_context_window_is_refused_in_the_legacy_words() -> None:
    exc = refused(max_tokens=4092)
    assert exc.message == (
        "This model's maximum context length is 4096 tokens, however you requested 4097 "
        "tokens (5 in your prompt; 4092 for the completion). Please reduce your prompt; or "
        "completion length."
    )
    assert exc.param is None


def test_logprobs_and_echo_are_kept_for_the_answer() -> None:
    request = parsed(model="davinci-002", logprobs=0, echo=True, stop="\n", seed=3)
    assert request.logprobs and request.top_logprobs == 0
    assert request.wire.echo and request.wire.logprobs == 0
    assert request.stop == ("\n",) and request.seed == 3


# --- answers --------------------------------------------------------------------------------


def test_the_answer_is_a_text_completion_cut_at_max_tokens() -> None:
    body = answered(parsed())
    assert list(body) == ["id", "object", "created", "model", "choices", "usage"]
    assert body["id"].startswith("cmpl-") and len(body["id"]) == len("cmpl-") + 29
    assert body["object"] == "text_completion" and body["created"] == FROZEN
    (choice,) = body["choices"]
    assert list(choice) == ["text", "index", "logprobs", "finish_reason"]
    assert choice["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 16, "total_tokens": 21}


def test_echo_puts_the_prompt_before_each_choice_of_its_group() -> None:
    request = parsed(prompt=["Hi", "Bye"], n=2, echo=True)
    body = answered(request, make_reply(content=" there"))
    assert [c["text"] for c in body["choices"]] == ["Hi there", "Hi there", "Bye there"] + [
        "Bye there"
    ]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]


def test_logprobs_list_each_token_with_its_offset_and_top_alternatives() -> None:
    request = parsed(prompt="The sky is", logprobs=2, max_tokens=5)
    (choice,) = answered(request, make_reply(content=" blue today"))["choices"]
    logprobs = choice["logprobs"]
    assert list(logprobs) == ["tokens", "token_logprobs", "top_logprobs", "text_offset"]
    assert "".join(logprobs["tokens"]) == " blue today"
    assert logprobs["text_offset"][0] == len("The sky is")
    for token, logprob, top in zip(
        logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"], strict=True
    ):
        assert len(top) == 2 and top[token] == logprob == max(top.values())


def test_echo_with_logprobs_lists_the_prompt_first_its_first_token_without_one() -> None:
    request = parsed(
        model="davinci-002", prompt=[791, 13180, 374], logprobs=1, echo=True, max_tokens=1
    )
    (choice,) = answered(request, make_reply(content=" blue"))["choices"]
    logprobs = choice["logprobs"]
    assert logprobs["tokens"] == ["The", " sky", " is", " blue"]
    assert logprobs["text_offset"] == [0, 3, 7, 10]
    assert logprobs["token_logprobs"][0] is None and logprobs["top_logprobs"][0] is None
    assert all(isinstance(v, float) for v in logprobs["token_logprobs"][1:])
    assert choice["text"] == "The sky is blue"


def test_logprobs_zero_still_gives_the_sampled_tokens_logprob() -> None:
    (choice,) = answered(parsed(logprobs=0), make_reply(content="Yes"))["choices"]
    assert choice["logprobs"]["top_logprobs"] == [{"Yes": choice["logprobs"]["token_logprobs"][0]}]


def test_tool_calls_have_no_form_here_the_text_before_them_answers() -> None:
    reply = make_reply(
        content="Let me look.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
    )
    (choice,) = answered(parsed(max_tokens=50), reply)["choices"]
    assert choice["text"] == "Let me look."
    assert choice["finish_reason"] == "stop"


def test_a_stream_is_text_completion_events_then_a_finish_and_done() -> None:
    request = parsed(stream=True, stream_options={"include_usage": True}, max_tokens=50)
    events = answered(request, make_reply(chunks=("Yes", ", it", " is.")))
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [orjson.loads(e[len(b"data: ") :]) for e in events[:-1]]
    assert [list(c) for c in chunks[:-1]] == [
        ["id", "object", "created", "choices", "model", "usage"]
    ] * 4
    assert [c["choices"][0]["text"] for c in chunks[:4]] == ["Yes", ", it", " is.", ""]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:4]] == [None, None, None, "stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5


def test_a_stream_fault_ends_with_an_in_band_error() -> None:
    request = parsed(stream=True, max_tokens=50)
    rendered = render(make_reply(chunks=("a", "b", "c")), request, 1)
    body = completions.answer(rendered, request, FROZEN, Fault(error_after_tokens=2))
    assert len(body.events) == 3
    assert orjson.loads(body.events[-1][len(b"data: ") :])["error"]["type"] == "server_error"


def test_the_same_request_and_seed_give_the_same_bytes() -> None:
    request = parsed(model="davinci-002", logprobs=3, echo=True, n=2)
    rendered = render(Reply(is_default=True), request, 7)
    first = completions.answer(rendered, request, FROZEN, None).body
    again = completions.answer(render(Reply(is_default=True), request, 7), request, FROZEN, None)
    assert first == again.body
