"""The Messages API against what the real API answers, field by field and refusal by
refusal: the official `anthropic` SDK and raw httpx against a real server on a loopback
port. Each expectation is taken from a recording of the API or from its words as public
reports quote them (named beside each test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic import Anthropic
from anthropic.types import MessageParam

from tests.conftest import RunningServer, start_server

KEY = "sk-ant-api03-sweep"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("messages-sweep")
    running = start_server("--seed", "5", tmp_path=folder)
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[Anthropic]:
    sdk = Anthropic(base_url=server.url, api_key=KEY, max_retries=0)
    yield sdk
    sdk.close()


def post(server: RunningServer, body: dict[str, Any], **headers: str) -> httpx.Response:
    sent = {"x-api-key": KEY, "anthropic-version": "2023-06-01", **headers}
    return httpx.post(f"{server.url}/v1/messages", json=body, headers=sent, timeout=10)


def ask(model: str = "claude-sonnet-4-5", **fields: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello"}],
        **fields,
    }


# --- the message ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
        ("claude-sonnet-4-0", "claude-sonnet-4-20250514"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"),
        ("claude-sonnet-4-6", "claude-sonnet-4-6"),
    ],
)
def test_an_alias_is_answered_with_the_model_it_stands_for(
    client: Anthropic, asked: str, named: str
) -> None:
    # Recorded (github.com/pydantic/pydantic-ai, tests/models/cassettes/test_anthropic):
    # a request for claude-haiku-4-5 is answered by "model": "claude-haiku-4-5-20251001",
    # one for claude-sonnet-4-0 by "claude-sonnet-4-20250514" (message_start of a stream).
    messages: list[MessageParam] = [{"role": "user", "content": "Say hello"}]
    whole = client.messages.create(model=asked, max_tokens=64, messages=messages)
    assert whole.model == named
    with client.messages.stream(model=asked, max_tokens=64, messages=messages) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert events[0].type == "message_start" and events[0].message.model == named
    assert final.model == named


# --- refusals ---------------------------------------------------------------------------------


def refusal(response: httpx.Response) -> str:
    """The message of an Anthropic-shaped 400."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error", body
    assert body["request_id"] == response.headers["request-id"]
    return str(body["error"]["message"])


@pytest.mark.parametrize(
    "prefill",
    ["The answer is ", "Sure:\n", [{"type": "text", "text": "Here it is:\t"}]],
)
def test_a_prefill_ending_in_whitespace_is_refused(
    server: RunningServer, client: Anthropic, prefill: Any
) -> None:
    # "400 ... {"type":"error","error":{"type":"invalid_request_error","message":"messages:
    # final assistant content cannot end with trailing whitespace"},"request_id":...}"
    # (github.com/tailcallhq/forgecode/issues/1872, 2025-11-08).
    turns = [
        {"role": "user", "content": "Name a colour"},
        {"role": "assistant", "content": prefill},
    ]
    answer = post(server, ask(messages=turns))
    assert refusal(answer) == (
        "messages: final assistant content cannot end with trailing whitespace"
    )
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=turns)


def test_a_prefill_without_trailing_whitespace_is_continued(server: RunningServer) -> None:
    turns = [
        {"role": "user", "content": "Name a colour"},
        {"role": "assistant", "content": "The answer is"},
    ]
    assert post(server, ask(messages=turns)).status_code == 200
    # whitespace ending an earlier assistant turn is no prefill
    earlier = [
        {"role": "user", "content": "Name a colour"},
        {"role": "assistant", "content": "Blue. "},
        {"role": "user", "content": "Another"},
    ]
    assert post(server, ask(messages=earlier)).status_code == 200


@pytest.mark.parametrize(
    ("sequences", "problem"),
    [
        # {"stop_sequences":["","\n"], ...} -> "stop_sequences: each stop sequence must be
        # non-empty" (github.com/MegaGrindStone/mcp-web-ui/issues/5, 2025-04-08)
        (["", "\n"], "be non-empty"),
        # stop: ["\n"] -> "stop_sequences: each stop sequence must contain non-whitespace"
        # (github.com/BerriAI/litellm/issues/3286)
        (["\n"], "contain non-whitespace"),
        (["END", " \t"], "contain non-whitespace"),
    ],
)
def test_a_blank_stop_sequence_is_refused(
    server: RunningServer, sequences: list[str], problem: str
) -> None:
    answer = post(server, ask(stop_sequences=sequences))
    assert refusal(answer) == f"stop_sequences: each stop sequence must {problem}"


def test_stop_sequences_with_words_are_taken(server: RunningServer) -> None:
    assert post(server, ask(stop_sequences=["\n\nHuman:", " END"])).status_code == 200
    typed = post(server, ask(stop_sequences=[" ", 7]))
    assert refusal(typed) == "stop_sequences.1: Input should be a valid string"


@pytest.mark.parametrize(
    ("model", "asked", "ran"),
    [
        ("claude-sonnet-4-6", None, "global"),
        ("claude-opus-4-6", None, "global"),
        ("claude-opus-4-6", "us", "us"),
        ("claude-haiku-4-5", None, "not_available"),
        ("claude-sonnet-4-5-20250929", None, "not_available"),
    ],
)
def test_usage_says_where_the_model_ran(
    client: Anthropic, model: str, asked: str | None, ran: str
) -> None:
    # Recorded (github.com/pydantic/pydantic-ai, tests/models/cassettes/test_anthropic,
    # ..._across_models[claude-sonnet-4-6].yaml and [claude-haiku-4-5].yaml): usage has
    # inference_geo "global" for claude-sonnet-4-6 and claude-opus-4-6, "not_available" for
    # claude-haiku-4-5; the data residency page: "The response usage object includes an
    # inference_geo field indicating where inference ran" ("us" when asked for), on Opus 4.6
    # and later models.
    messages: list[MessageParam] = [{"role": "user", "content": "Say hello"}]
    extra = {} if asked is None else {"inference_geo": asked}
    whole = client.messages.create(model=model, max_tokens=64, messages=messages, **extra)
    assert whole.usage.inference_geo == ran
    with client.messages.stream(model=model, max_tokens=64, messages=messages, **extra) as s:
        events = list(s)
        final = s.get_final_message()
    assert events[0].type == "message_start"
    assert events[0].message.usage.inference_geo == ran
    assert final.usage.inference_geo == ran


def test_two_tools_of_one_name_are_refused_in_the_api_words(
    server: RunningServer, client: Anthropic
) -> None:
    # 400 {"type":"error","error":{"type":"invalid_request_error","message":"tools: Tool
    # names must be unique."},"request_id":"req_011CUer5Hnhm1QQWCAASQRbD"}
    # (github.com/anthropics/claude-code/issues/10687; microsoft/vscode issue 276110).
    tool = {"name": "lookup", "input_schema": {"type": "object"}}
    answer = post(server, ask(tools=[tool, {**tool, "description": "again"}]))
    assert refusal(answer) == "tools: Tool names must be unique."
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=16,
            tools=[{"name": "bash", "input_schema": {"type": "object"}}],
            messages=[{"role": "user", "content": "Hi"}],
            extra_body={"tools": [{"type": "bash_20250124", "name": "bash"}] * 2},
        )
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "tools: Tool names must be unique."},
        "request_id": caught.value.request_id,
    }


# --- headers ----------------------------------------------------------------------------------


def test_every_answer_names_the_organization(server: RunningServer, client: Anthropic) -> None:
    # "The Claude API includes the following headers in every response: request-id: A
    # globally unique identifier for the request; anthropic-organization-id: The
    # organization ID associated with the API key used in the request" (the API overview
    # page); a 400 for max_tokens 0 and no messages "still carr[ies] the org UUID".
    whole = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "Hi"}]
    )
    organization = whole.headers["anthropic-organization-id"]
    assert str(uuid.UUID(organization)) == organization
    streamed = post(server, ask(stream=True))
    refused = post(server, {"model": "claude-haiku-4-5", "max_tokens": 0, "messages": []})
    counted = httpx.post(
        f"{server.url}/v1/messages/count_tokens",
        json={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    assert streamed.status_code == 200 and refused.status_code == 400
    assert counted.status_code == 200
    for answer in (streamed, refused, counted):
        assert answer.headers["anthropic-organization-id"] == organization
        assert answer.headers["request-id"].startswith("req_011C")


def test_a_key_that_is_refused_names_no_organization(tmp_path: Any) -> None:
    """An invalid key belongs to no organization: the API's 401 ("invalid x-api-key")
    carries request-id alone (DataDog/dd-trace-py's cassette
    anthropic_completion_invalid_api_key); an accepted key's answer names one."""
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - key: {KEY}\n")
    (tmp_path / "rules.yaml").write_text(
        "version: 1\nrules:\n  - match: { model: claude-locked }\n"
        "    reply: { error: { status: 401 } }\n"
    )
    running = start_server(
        "--keys", str(keys), "--scenarios", str(tmp_path / "rules.yaml"), tmp_path=tmp_path
    )
    try:
        accepted = post(running, ask())
        refused = post(running, ask(), **{"x-api-key": "sk-ant-wrong"})
        scripted = post(running, ask("claude-locked"))
    finally:
        running.stop()
    assert accepted.status_code == 200 and "anthropic-organization-id" in accepted.headers
    assert refused.status_code == 401 and scripted.status_code == 401
    for answer in (refused, scripted):
        assert answer.json()["error"]["type"] == "authentication_error"
        assert answer.headers["request-id"].startswith("req_011C")
        assert "anthropic-organization-id" not in answer.headers
