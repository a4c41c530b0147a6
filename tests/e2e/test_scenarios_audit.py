"""Scenario files as a user writes them from docs/scenarios.md and docs/families.md: one
rule answers every family in that family's own shape (read back with the SDKs' own types
and stream accumulators), and a broken document, at run time or on reload, is refused
with its file, line and field while the last good rules keep answering.

One server for the module; its scenario folder is edited by the reload test, which
restores it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from ..conftest import RunningServer, start_server
from .helpers import write_scenario

RULES = """\
version: 1
rules:
  - name: preamble-and-call
    match: { model: audit-tool }
    reply:
      reasoning: "The user wants the weather: call the tool."
      content: "Checking."
      tool_calls:
        - name: get_weather
          arguments: { city: Paris }
  - name: cut-short
    match: { model: audit-length }
    reply: { content: "Cut short", finish_reason: length, usage: { prompt_tokens: 100 } }
  - name: overloaded-once
    match: { model: audit-overloaded }
    sequence_scope: api_key
    sequence:
      - error: { status: 529, headers: { retry-after-ms: "1" } }
      - content: "Back again."
  - name: for-embeddings
    match: { api: embeddings, model: audit-embedding }
    reply: { error: { status: 429, headers: { retry-after-ms: "1" } } }
  - name: own-ids
    match: { model: audit-ids }
    reply: { content: "ok", headers: { X-Request-Id: req_fixed, request-id: req_fixed } }
  - name: echo-arguments
    match: { model: audit-echo }
    reply: { content: "{{ tool_args | json }}" }
  - name: null-code
    match: { model: audit-null-code }
    reply:
      error: { status: 503, code: null, param: null, message: "That model is overloaded." }
  - name: own-ids-refused
    match: { model: audit-ids-refused }
    reply: { error: { status: 503, headers: { x-request-id: req_fixed, request-id: req_fixed } } }
"""
BROKEN = RULES.replace("match: { model: audit-length }", "match: { modle: x }")
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
ASK = "What is the weather in Paris?"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audit-scenarios")
    write_scenario(folder, RULES)
    return folder


@pytest.fixture(scope="module")
def server(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        "--scenarios", str(folder), tmp_path=tmp_path_factory.mktemp("scenarios-audit")
    )
    assert httpx.get(f"{running.url}/__admin/rules").json()["problems"] == []
    # An edit that does not validate, made now: the server keeps the rules it loaded (the
    # ones every test uses), and its next reload check, while the tests run, finds it.
    (folder / "rules.yaml").write_text(BROKEN)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sdks(server: RunningServer) -> Iterator[tuple[openai.OpenAI, anthropic.Anthropic]]:
    with (
        openai.OpenAI(base_url=server.base_url, api_key="sk-audit", max_retries=0) as oai,
        anthropic.Anthropic(base_url=server.url, api_key="sk-audit", max_retries=0) as ant,
    ):
        yield oai, ant


def test_one_rule_with_reasoning_text_and_a_call_is_written_in_each_family_s_shape(
    sdks: tuple[openai.OpenAI, anthropic.Anthropic],
) -> None:
    oai, ant = sdks
    chat_tools: list = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}
    ]
    asked: list = [{"role": "user", "content": ASK}]
    chat = oai.chat.completions.create(model="audit-tool", messages=asked, tools=chat_tools)
    with oai.chat.completions.stream(model="audit-tool", messages=asked, tools=chat_tools) as s:
        streamed = s.get_final_completion()
    for completion in (chat, streamed):
        message = completion.choices[0].message
        assert completion.choices[0].finish_reason == "tool_calls"
        assert message.content == "Checking."
        assert message.model_extra and message.model_extra["reasoning_content"].startswith(
            "The user"
        )
        assert message.tool_calls and message.tool_calls[0].function.arguments == '{"city":"Paris"}'

    tools: list = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
    response = oai.responses.create(model="audit-tool", input=ASK, tools=tools)
    with oai.responses.stream(model="audit-tool", input=ASK, tools=tools) as s:
        final = s.get_final_response()
    for answer in (response, final):
        assert [item.type for item in answer.output] == ["reasoning", "message", "function_call"]
        call = answer.output[2]
        assert call.type == "function_call" and call.call_id.startswith("call_")
        assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris"}')
        assert answer.output_text == "Checking." and answer.status == "completed"
        assert answer.usage and answer.usage.output_tokens_details.reasoning_tokens > 0

    ant_tools: list = [{"name": "get_weather", "input_schema": WEATHER}]
    message = ant.messages.create(
        model="audit-tool", max_tokens=200, messages=asked, tools=ant_tools
    )
    with ant.messages.stream(
        model="audit-tool", max_tokens=200, messages=asked, tools=ant_tools
    ) as s:
        accumulated = s.get_final_message()
    for answer in (message, accumulated):
        assert [block.type for block in answer.content] == ["thinking", "text", "tool_use"]
        thinking, text, use = answer.content
        assert thinking.type == "thinking" and thinking.signature
        assert text.type == "text" and text.text == "Checking."
        assert use.type == "tool_use" and use.id.startswith("toolu_")
        assert (use.name, use.input) == ("get_weather", {"city": "Paris"})
        assert answer.stop_reason == "tool_use"


def test_a_length_finish_and_a_usage_override_map_to_each_family(
    sdks: tuple[openai.OpenAI, anthropic.Anthropic],
) -> None:
    oai, ant = sdks
    asked: list = [{"role": "user", "content": "Hi"}]
    chat = oai.chat.completions.create(model="audit-length", messages=asked)
    assert chat.choices[0].finish_reason == "length"
    assert chat.usage and chat.usage.prompt_tokens == 100
    response = oai.responses.create(model="audit-length", input="Hi")
    assert response.status == "incomplete"
    assert response.incomplete_details and response.incomplete_details.reason == "max_output_tokens"
    assert response.usage and response.usage.input_tokens == 100
    message = ant.messages.create(model="audit-length", max_tokens=100, messages=asked)
    assert message.stop_reason == "max_tokens" and message.usage.input_tokens == 100


def test_a_529_is_each_family_s_own_error_and_both_sdks_retry_it(
    sdks: tuple[openai.OpenAI, anthropic.Anthropic],
) -> None:
    # Each family its own key: the sequence is counted per key (sequence_scope: api_key).
    oai, ant = sdks
    asked: list = [{"role": "user", "content": "Hi"}]
    retrying = oai.with_options(api_key="sk-chat", max_retries=1)
    chat = retrying.chat.completions.create(model="audit-overloaded", messages=asked)
    assert chat.choices[0].message.content == "Back again."
    retrying = oai.with_options(api_key="sk-resp", max_retries=1)
    assert retrying.responses.create(model="audit-overloaded", input="Hi").output_text == (
        "Back again."
    )
    keyed = ant.with_options(api_key="sk-msg")
    with pytest.raises(anthropic.InternalServerError) as refused:
        keyed.messages.create(model="audit-overloaded", max_tokens=10, messages=asked)
    assert refused.value.status_code == 529
    body = refused.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"] == {"type": "overloaded_error", "message": "Overloaded", "details": None}
    assert refused.value.response.headers["x-should-retry"] == "true"
    again = keyed.with_options(max_retries=1).messages.create(
        model="audit-overloaded", max_tokens=10, messages=asked
    )
    assert again.content[0].type == "text" and again.content[0].text == "Back again."
    with pytest.raises(openai.RateLimitError):
        oai.with_options(api_key="sk-emb").embeddings.create(model="audit-embedding", input="Hi")


@pytest.mark.parametrize("model", ["audit-ids", "audit-ids-refused"])
def test_a_rule_s_header_of_a_name_the_server_sends_replaces_it(
    server: RunningServer, model: str
) -> None:
    asked: list = [{"role": "user", "content": "Hi"}]
    chat = httpx.post(
        f"{server.base_url}/chat/completions", json={"model": model, "messages": asked}
    )
    assert chat.headers.get_list("x-request-id") == ["req_fixed"]
    message = httpx.post(
        f"{server.url}/v1/messages",
        json={"model": model, "max_tokens": 10, "messages": asked},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert message.headers.get_list("request-id") == ["req_fixed"]
    if model == "audit-ids":
        with openai.OpenAI(base_url=server.base_url, api_key="sk-ids", max_retries=0) as oai:
            completion = oai.chat.completions.create(model=model, messages=asked)
        assert completion._request_id == "req_fixed"


def test_a_template_writes_arguments_nested_past_what_orjson_writes(server: RunningServer) -> None:
    # The body may nest 254 levels; a call's arguments are a string, read up to 1024.
    deep: dict = {}
    inner = deep
    for _ in range(300):
        inner["x"] = {}
        inner = inner["x"]
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    call["function"]["arguments"] = json.dumps(deep)
    asked = [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    answer = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "audit-echo", "messages": asked, "tools": tools},
    )
    assert answer.status_code == 200, answer.text  # a 500 before
    assert json.loads(answer.json()["choices"][0]["message"]["content"]) == deep


def test_an_error_s_code_written_null_is_sent_null(server: RunningServer) -> None:
    # The API's own 503: {"message": "That model is currently overloaded with other
    # requests. …", "type": "server_error", "param": null, "code": null}
    for path, body in (
        ("chat/completions", {"messages": [{"role": "user", "content": "Hi"}]}),
        ("responses", {"input": "Hi"}),
    ):
        refused = httpx.post(f"{server.base_url}/{path}", json={"model": "audit-null-code", **body})
        assert refused.status_code == 503
        assert refused.json()["error"] == {
            "message": "That model is overloaded.",
            "type": "server_error",
            "param": None,
            "code": None,
        }


def test_a_rule_made_from_an_embeddings_exchange_can_be_added(server: RunningServer) -> None:
    answer = httpx.post(
        f"{server.base_url}/embeddings",
        json={"model": "text-embedding-3-small", "input": "made into a rule"},
    )
    exchange = answer.headers["x-request-id"]
    made = httpx.get(f"{server.url}/__admin/requests/{exchange}/rule")
    assert made.status_code == 200, made.text
    added = httpx.post(
        f"{server.url}/__admin/rules",
        content=made.text.replace("from-", "embeddings-from-"),
        headers={"content-type": "application/yaml"},
    )
    assert added.status_code == 201, added.text  # 'content' was refused for embeddings
    again = httpx.post(
        f"{server.base_url}/embeddings",
        json={"model": "text-embedding-3-small", "input": "made into a rule"},
    )
    assert again.json()["data"][0]["embedding"] == answer.json()["data"][0]["embedding"]
    assert httpx.delete(f"{server.url}/__admin/rules").status_code == 200


def test_a_rules_document_that_is_not_utf8_is_refused_naming_the_byte(
    server: RunningServer,
) -> None:
    body = b'version: 1\nrules:\n  - name: a\n    reply: { content: "caf\xe9" }\n'
    for kind in ("application/yaml", "application/json"):
        refused = httpx.post(
            f"{server.url}/__admin/rules", content=body, headers={"content-type": kind}
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["problems"] == [
            {"line": 4, "field": "", "message": "not UTF-8 text: byte 0xe9"}
        ]


def test_a_json_rules_document_that_repeats_a_key_is_refused(server: RunningServer) -> None:
    # A YAML mapping that repeats a key is refused; orjson alone keeps the last value, and
    # this document then added no rule with a 201.
    body = b'{"rules": [{"name": "a", "reply": {"content": "x"}}], "rules": []}'
    refused = httpx.post(
        f"{server.url}/__admin/rules", content=body, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["problems"] == [
        {"line": None, "field": "", "message": "duplicate key 'rules' in a JSON object"}
    ]


@pytest.mark.parametrize(
    ("depth", "said"),
    [
        (150, "document too large or too deep (over 500000 values or 100 levels, counting alias"),
        (300, "nested too deeply (over 100 levels)"),  # past what orjson writes: a 500 before
    ],
)
def test_a_json_rules_document_nested_too_deeply_is_refused(
    server: RunningServer, depth: int, said: str
) -> None:
    body = '{"rules": ' + "[" * depth + "]" * depth + "}"
    refused = httpx.post(
        f"{server.url}/__admin/rules", content=body, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 400, refused.text
    [problem] = refused.json()["problems"]
    assert problem["message"].startswith(said)


def test_a_reply_key_an_embeddings_answer_cannot_carry_is_refused(server: RunningServer) -> None:
    document = {
        "rules": [
            {"name": "vectors", "match": {"api": "embeddings"}, "reply": {"content": "x"}},
        ]
    }
    refused = httpx.post(f"{server.url}/__admin/rules", json=document)
    assert refused.status_code == 400, refused.text
    [problem] = refused.json()["problems"]
    assert problem["field"] == "rules[0].reply.content"
    assert problem["message"].startswith(
        "'content' has no place in an answer of api embeddings: an embeddings request is"
        " answered with vectors"
    )


def test_a_broken_edit_keeps_the_rules_and_the_admin_api_says_why(
    server: RunningServer, folder: Path
) -> None:
    listed = f"{server.url}/__admin/rules"
    deadline = time.monotonic() + 10
    while not (problems := httpx.get(listed).json()["problems"]):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    assert problems == [
        {
            "file": str(folder / "rules.yaml"),
            "line": 12,
            "field": "rules[1].match.modle",
            "message": "unknown key 'modle'; did you mean 'model'? valid keys: model, "
            "provider, path, api_key, header, headers, last_user, system, any_message, "
            "last_message, turn, stream, tools, tool_choice, response_format, body, api, "
            "cassette",
        }
    ]
    names = [rule["name"] for rule in httpx.get(listed).json()["rules"]]
    assert "cut-short" in names  # the rules loaded before still answer
