"""The legacy Completions API through the official openai SDK (`client.completions.create`),
raw httpx for the exact bytes, and LangChain's `OpenAI` LLM where it is installed."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types import Completion

from ..conftest import RunningServer, start_server
from .helpers import FROZEN, journal, sse_payloads, write_scenario

RULES = """\
version: 1
rules:
  - name: capital
    match: { api: completions, last_user: { contains: "capital of France" } }
    reply: { content: " Paris." }
  - name: long-story
    match: { api: completions, last_user: { contains: "Once upon a time" } }
    reply:
      content: " there was a lighthouse keeper who counted the ships
        that passed his rock every night."
  - name: listing
    match: { api: completions, last_user: { contains: "List three colours" } }
    reply: { chunks: ["\\n1. Red", "\\n2. Green", "\\n3. Blue", "\\n\\nDone."] }
  - name: overloaded
    match: { api: completions, model: busy-instruct }
    reply: { error: { status: 503 } }
  - name: look-it-up
    match: { api: completions, last_user: { contains: "weather" } }
    reply:
      content: "Let me check."
      tool_calls: [{ name: get_weather, arguments: { city: Paris } }]
"""
MODEL = "gpt-3.5-turbo-instruct"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("completions")
    rules = write_scenario(tmp, RULES)
    running = start_server(
        "--scenarios", str(rules), "--seed", "5", "--freeze-time", str(FROZEN), tmp_path=tmp
    )
    yield running
    running.stop()


def client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def post(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/completions",
        json=body,
        headers={"authorization": "Bearer sk-test"},
        timeout=10,
    )


def test_a_rule_answers_a_prompt(server: RunningServer) -> None:
    answer = client(server).completions.create(model=MODEL, prompt="The capital of France is")
    assert isinstance(answer, Completion)
    assert answer.object == "text_completion" and answer.id.startswith("cmpl-")
    assert answer.created == FROZEN and answer.model == MODEL
    (choice,) = answer.choices
    assert (choice.text, choice.index, choice.finish_reason) == (" Paris.", 0, "stop")
    assert choice.logprobs is None
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (5, 2)


def test_the_body_has_the_apis_keys_and_chats_headers(server: RunningServer) -> None:
    raw = post(server, {"model": MODEL, "prompt": "The capital of France is"})
    assert raw.status_code == 200
    body = raw.json()
    Completion.model_validate(body)
    assert list(body) == ["id", "object", "created", "model", "choices", "usage"]
    assert list(body["choices"][0]) == ["text", "index", "logprobs", "finish_reason"]
    assert list(body["usage"]) == ["prompt_tokens", "completion_tokens", "total_tokens"]
    assert raw.headers["x-request-id"].startswith("req_")
    assert "openai-processing-ms" in raw.headers
    assert raw.headers["openai-version"] == "2020-10-01"


def test_max_tokens_cuts_the_text_with_finish_reason_length(server: RunningServer) -> None:
    sdk = client(server)
    default = sdk.completions.create(model=MODEL, prompt="Once upon a time")
    assert default.choices[0].finish_reason == "length"
    assert default.usage is not None and default.usage.completion_tokens == 16
    short = sdk.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=3)
    assert short.choices[0].text == " there was a"
    assert short.choices[0].finish_reason == "length"
    whole = sdk.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=100)
    assert whole.choices[0].finish_reason == "stop"
    assert whole.choices[0].text.endswith("every night.")


def test_the_default_generator_answers_an_unmatched_prompt(server: RunningServer) -> None:
    answer = client(server).completions.create(
        model="davinci-002", prompt="Lighthouses stand on", max_tokens=40
    )
    assert answer.choices[0].text
    assert answer.choices[0].finish_reason in ("stop", "length")


def test_n_choices_for_each_prompt_echo_and_stop(server: RunningServer) -> None:
    answer = client(server).completions.create(
        model=MODEL,
        prompt=["The capital of France is", "List three colours:"],
        n=2,
        echo=True,
        stop=["\n3."],
        max_tokens=30,
    )
    assert [c.index for c in answer.choices] == [0, 1, 2, 3]
    # One rule answers the batch (matched on the last prompt); each prompt is echoed first.
    texts = [c.text for c in answer.choices]
    assert texts[:2] == ["The capital of France is\n1. Red\n2. Green"] * 2
    assert texts[2:] == ["List three colours:\n1. Red\n2. Green"] * 2
    assert {c.finish_reason for c in answer.choices} == {"stop"}


def test_logprobs_with_echo_as_lm_eval_reads_them(server: RunningServer) -> None:
    # lm-eval-harness scores a continuation so: token ids, echo, logprobs 1, max_tokens 1.
    context, continuation = [791, 6864, 315, 9822, 374], [12366, 13]
    answer = client(server).completions.create(
        model="davinci-002",
        prompt=[context + continuation],
        echo=True,
        logprobs=1,
        max_tokens=1,
        temperature=0,
    )
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens is not None
    assert logprobs.tokens[:7] == ["The", " capital", " of", " France", " is", " Paris", "."]
    assert logprobs.token_logprobs is not None and logprobs.top_logprobs is not None
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    scored = logprobs.token_logprobs[len(context) : -1]
    tops = logprobs.top_logprobs[len(context) : -1]
    assert len(scored) == len(continuation)
    assert all(lp == max(top.values()) for lp, top in zip(scored, tops, strict=True))
    assert logprobs.text_offset is not None and logprobs.text_offset[:3] == [0, 3, 11]


def test_a_stream_through_the_sdk(server: RunningServer) -> None:
    stream = client(server).completions.create(
        model=MODEL,
        prompt="List three colours:",
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=50,
    )
    chunks = list(stream)
    assert all(isinstance(c, Completion) and c.object == "text_completion" for c in chunks)
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert texts == ["\n1. Red", "\n2. Green", "\n3. Blue", "\n\nDone.", ""]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 16


def test_the_streams_exact_bytes(server: RunningServer) -> None:
    raw = post(
        server,
        {"model": MODEL, "prompt": "The capital of France is", "stream": True, "max_tokens": 1},
    )
    assert raw.headers["content-type"] == "text/event-stream; charset=utf-8"
    payloads = sse_payloads(raw.content)
    cmpl = raw.text.split('"id":"', 1)[1].split('"', 1)[0]
    head = f'{{"id":"{cmpl}","object":"text_completion","created":{FROZEN},"choices":['
    tail = f'],"model":"{MODEL}"}}'
    assert payloads == [
        head + '{"text":" Paris","index":0,"logprobs":null,"finish_reason":null}' + tail,
        head + '{"text":"","index":0,"logprobs":null,"finish_reason":"length"}' + tail,
        "[DONE]",
    ]


def test_the_same_request_gives_the_same_bytes(server: RunningServer) -> None:
    body = {"model": "davinci-002", "prompt": "Tides", "n": 2, "logprobs": 2, "seed": 4}
    first, again = post(server, body), post(server, body)
    assert hashlib.sha256(first.content).digest() == hashlib.sha256(again.content).digest()
    assert post(server, {**body, "seed": 5}).content != first.content


def test_tool_calls_have_no_form_the_text_before_them_answers(server: RunningServer) -> None:
    answer = client(server).completions.create(model=MODEL, prompt="What's the weather?")
    assert answer.choices[0].text == "Let me check."
    assert answer.choices[0].finish_reason == "stop"
    # Usage counts what was sent: the text's four tokens (Let, me, check, .), no call.
    assert answer.usage is not None and answer.usage.completion_tokens == 4
    cut = client(server).completions.create(model=MODEL, prompt="What's the weather?", max_tokens=2)
    assert (cut.choices[0].text, cut.choices[0].finish_reason) == ("Let me", "length")


def test_a_chat_model_is_refused_as_the_api_refuses_it(server: RunningServer) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(server).completions.create(model="gpt-4o", prompt="Hi")
    assert info.value.body == {
        "message": "This is a chat model and not supported in the v1/completions endpoint. "
        "Did you mean to use v1/chat/completions?",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }


def test_a_completions_model_is_refused_on_chat_as_the_api_refuses_it(
    server: RunningServer,
) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(server).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}]
        )
    assert info.value.body == {
        "message": "This is not a chat model and thus not supported in the "
        "v1/chat/completions endpoint. Did you mean to use v1/completions?",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }


def test_an_unknown_model_is_answered_as_on_chat(server: RunningServer) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(server).completions.create(model="my-private-model", prompt="Hi")
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "model_not_found"
    known = client(server).completions.create(model="llama-3.1-8b", prompt="Hi")
    assert known.model == "llama-3.1-8b"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": 6}, "logprobs"),
        ({"n": 2, "best_of": 1}, "best_of"),
        ({"temperature": 2.5}, "temperature"),
        ({"prompt": {"text": "hi"}}, "prompt"),
        ({"max_tokens": "16"}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    server: RunningServer, fields: dict[str, Any], param: str
) -> None:
    raw = post(server, {"model": MODEL, "prompt": "Hi", **fields})
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_a_rules_error_and_the_journal(server: RunningServer) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client(server).completions.create(model="busy-instruct", prompt="Hi")
    assert info.value.status_code == 503
    entry = journal(server.url)[-1]
    assert entry["api"] == "completions" and entry["rule"].endswith("#overloaded")


def test_langchains_openai_llm(server: RunningServer) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.OpenAI(
        model=MODEL, base_url=server.base_url, api_key="sk-test", max_retries=0
    )
    assert llm.invoke("The capital of France is") == " Paris."
    assert "".join(llm.stream("The capital of France is")) == " Paris."
