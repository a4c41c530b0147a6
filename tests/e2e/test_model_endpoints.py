"""Each model on the endpoints that serve it: a model chat does not serve, and a model the
embeddings endpoint does not embed with, refused with the API's status and words through
the official SDK; the models they do serve answered as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from ..conftest import RunningServer, start_server

NOT_A_CHAT_MODEL = {
    "message": "This is not a chat model and thus not supported in the v1/chat/completions "
    "endpoint. Did you mean to use v1/completions?",
    "type": "invalid_request_error",
    "param": "model",
    "code": None,
}
NOT_AN_EMBEDDING_MODEL = {
    "message": "You are not allowed to generate embeddings from this model",
    "type": "invalid_request_error",
    "param": None,
    "code": None,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path=tmp_path_factory.mktemp("endpoints"))
    yield running
    running.stop()


def client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


@pytest.mark.parametrize(
    "model",
    [
        "gpt-5.3-codex",  # the Responses API's own models
        "gpt-5.5-pro",
        "gpt-5-pro-2025-10-06",
        "gpt-5-codex",
        "o3-pro",
        "o1-pro",
        "o3-deep-research",
        "openai/codex-mini-latest",
        "text-embedding-3-small",  # an embedding model
        "tts-1-hd",
    ],
)
def test_a_model_chat_does_not_serve_is_the_apis_404(server: RunningServer, model: str) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        client(server).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hi"}]
        )
    assert refused.value.body == NOT_A_CHAT_MODEL


@pytest.mark.parametrize("model", ["gpt-5.3-codex", "gpt-5.5-pro", "o3-pro"])
def test_the_responses_api_serves_them(server: RunningServer, model: str) -> None:
    answer = client(server).responses.create(model=model, input="Hi")
    assert answer.status == "completed" and answer.model == model


@pytest.mark.parametrize("model", ["gpt-5.2", "gpt-5.5", "o3", "gpt-5-chat-latest", "gpt-4o"])
def test_the_chat_models_beside_them_are_answered(server: RunningServer, model: str) -> None:
    answer = client(server).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}]
    )
    assert answer.choices[0].message.content


@pytest.mark.parametrize(
    "model", ["gpt-4o", "gpt-5.2", "gpt-3.5-turbo-instruct", "claude-sonnet-4-5-20250929"]
)
def test_a_model_that_does_not_embed_is_the_apis_403(server: RunningServer, model: str) -> None:
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client(server).embeddings.create(model=model, input="hello")
    assert refused.value.body == NOT_AN_EMBEDDING_MODEL


@pytest.mark.parametrize("model", ["text-embedding-3-small", "text-embedding-ada-002", "bge-m3"])
def test_embedding_models_are_answered(server: RunningServer, model: str) -> None:
    answer = client(server).embeddings.create(model=model, input="hello")
    assert len(answer.data) == 1 and answer.data[0].embedding


def test_lenient_serves_every_model_everywhere(tmp_path_factory: pytest.TempPathFactory) -> None:
    running = start_server("--lenient", tmp_path=tmp_path_factory.mktemp("lenient"))
    try:
        sdk = client(running)
        chat = sdk.chat.completions.create(
            model="gpt-5.3-codex", messages=[{"role": "user", "content": "Hi"}]
        )
        assert chat.choices[0].message.content
        assert sdk.embeddings.create(model="gpt-4o", input="hello").data[0].embedding
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("gpt-4o", "gpt-4o-2024-08-06"),
        ("gpt-5", "gpt-5-2025-08-07"),
        ("gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"),
        ("gpt-4o-2024-11-20", "gpt-4o-2024-11-20"),  # a dated id is named as it is
        ("gpt-5.6", "gpt-5.6"),  # no snapshot known
    ],
)
def test_an_alias_is_answered_by_the_dated_model_it_stands_for(
    server: RunningServer, asked: str, named: str
) -> None:
    # Recorded answers name the snapshot: a request for gpt-4o is answered by
    # "model": "gpt-4o-2024-08-06" (curl transcripts, the OpenAPI document's examples).
    sdk = client(server)
    messages: list[Any] = [{"role": "user", "content": "Hi"}]
    whole = sdk.chat.completions.create(model=asked, messages=messages)
    chunks = list(sdk.chat.completions.create(model=asked, messages=messages, stream=True))
    assert whole.model == named and {c.model for c in chunks} == {named}
    response = sdk.responses.create(model=asked, input="Hi")
    events = list(sdk.responses.create(model=asked, input="Hi", stream=True))
    assert response.model == named
    assert {e.response.model for e in events if hasattr(e, "response")} == {named}


def test_a_rule_s_reply_names_its_own_model(server: RunningServer) -> None:
    added = httpx.post(
        server.url + "/__admin/rules",
        json={
            "version": 1,
            "rules": [
                {
                    "name": "named-model",
                    "match": {"last_user": "Which model are you?"},
                    "reply": {"content": "A mock.", "model": "gpt-4o"},
                }
            ],
        },
    )
    assert added.status_code in (200, 201), added.text
    sdk = client(server)
    messages: list[Any] = [{"role": "user", "content": "Which model are you?"}]
    assert sdk.chat.completions.create(model="gpt-4o-mini", messages=messages).model == "gpt-4o"
    assert sdk.responses.create(model="gpt-4o-mini", input=messages).model == "gpt-4o"
