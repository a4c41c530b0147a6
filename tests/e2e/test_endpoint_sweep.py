"""Embeddings, legacy Completions and the model list against the real APIs' answers: each
refusal in the API's words, status, type, param and code, through the official SDKs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from openai import OpenAI

from ..conftest import RunningServer, start_server

EMBEDDING = "text-embedding-3-small"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path=tmp_path_factory.mktemp("sweep"))
    yield running
    running.stop()


def client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def refused_embedding(server: RunningServer, **body: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).embeddings.create(**body)
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict)
    return caught.value.body


# --- embeddings -----------------------------------------------------------------------------

INVALID_INPUT = (
    "'$.input' is invalid. Please check the API reference: "
    "https://platform.openai.com/docs/api-reference."
)


@pytest.mark.parametrize(
    "value",
    ["", ["a", 1], [[1], "a"], [[]]],
    ids=["empty-string", "mixed", "mixed-arrays", "empty-ids"],
)
def test_an_invalid_input_names_no_param(server: RunningServer, value: Any) -> None:
    assert refused_embedding(server, model=EMBEDDING, input=value) == {
        "message": INVALID_INPUT,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_dimensions_on_ada_names_no_param(server: RunningServer) -> None:
    assert refused_embedding(
        server, model="text-embedding-ada-002", input="hi", dimensions=256
    ) == {
        "message": "This model does not support specifying dimensions.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_a_request_over_300000_tokens_is_refused_as_the_api_types_it(server: RunningServer) -> None:
    texts = ["x" + " x" * 7999] * 40  # 8,000 tokens each, 320,000 in all
    assert refused_embedding(server, model=EMBEDDING, input=texts) == {
        "message": "Requested 320000 tokens, max 300000 tokens per request",
        "type": "max_tokens_per_request",
        "param": None,
        "code": "max_tokens_per_request",
    }


@pytest.mark.parametrize(
    ("value", "body"),
    [
        (
            "x" + " x" * 8999,
            {
                "message": "Invalid 'input': maximum context length is 8192 tokens.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
        ),
        (
            ["short", "x" + " x" * 8999],
            {
                "message": "Invalid 'input[1]': maximum input length is 8192 tokens.",
                "type": "invalid_request_error",
                "param": "input[1]",
                "code": "invalid_value",
            },
        ),
        (
            [[15339] * 9000],
            {
                "message": "Invalid 'input[0]': maximum input length is 8192 tokens.",
                "type": "invalid_request_error",
                "param": "input[0]",
                "code": "invalid_value",
            },
        ),
    ],
    ids=["string", "list-item", "token-array-item"],
)
def test_an_input_over_8192_tokens_is_refused_in_the_api_words(
    server: RunningServer, value: Any, body: dict[str, Any]
) -> None:
    assert refused_embedding(server, model=EMBEDDING, input=value) == body


# --- legacy completions ---------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-3.5-turbo-instruct", "gpt-3.5-turbo-instruct-0914"])
@pytest.mark.parametrize("logprobs", [0, 1, 5])
def test_echo_with_logprobs_is_refused_on_the_instruct_model(
    server: RunningServer, model: str, logprobs: int
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).completions.create(
            model=model, prompt="The sky is", echo=True, logprobs=logprobs, max_tokens=1
        )
    assert caught.value.body == {
        "message": "Setting 'echo' and 'logprobs' at the same time is not supported for this "
        "model.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        ("gpt-3.5-turbo-instruct", {"echo": True}),
        ("gpt-3.5-turbo-instruct", {"logprobs": 2}),
        ("davinci-002", {"echo": True, "logprobs": 1}),
        ("babbage-002", {"echo": True, "logprobs": 0}),
    ],
)
def test_echo_or_logprobs_alone_and_the_base_models_are_answered(
    server: RunningServer, model: str, fields: dict[str, Any]
) -> None:
    answer = client(server).completions.create(
        model=model, prompt="The sky is", max_tokens=2, **fields
    )
    assert answer.object == "text_completion" and len(answer.choices) == 1


# --- the model list -------------------------------------------------------------------------

ORGANIZATION_ID = "b0bd6b51-ccc1-5c64-a955-0e14f39e3616"


def anthropic_client(server: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)


def test_anthropics_model_answers_name_the_organization(server: RunningServer) -> None:
    sdk = anthropic_client(server)
    listed = sdk.models.with_raw_response.list(limit=2)
    page = listed.parse()
    assert len(page.data) == 2 and page.has_more
    one = sdk.models.with_raw_response.retrieve("claude-sonnet-4-5")
    assert one.parse().id == "claude-sonnet-4-5-20250929"
    for raw in (listed, one):
        assert raw.headers["request-id"].startswith("req_")
        assert raw.headers["anthropic-organization-id"] == ORGANIZATION_ID
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    for path, status in (("/v1/models/no-such-model", 404), ("/v1/models?limit=0", 400)):
        refused = httpx.get(server.url + path, headers=headers)
        assert refused.status_code == status
        assert refused.headers["anthropic-organization-id"] == ORGANIZATION_ID
        assert refused.json()["type"] == "error"
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk.models.retrieve("no-such-model")
    assert caught.value.response.headers["anthropic-organization-id"] == ORGANIZATION_ID


def test_openais_model_answers_carry_no_anthropic_header(server: RunningServer) -> None:
    raw = client(server).models.with_raw_response.list()
    assert raw.parse().object == "list"
    assert "anthropic-organization-id" not in raw.headers
