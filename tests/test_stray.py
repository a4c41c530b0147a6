"""Requests no route answers: the 404 names the path a wrong base URL most likely meant."""

from __future__ import annotations

import httpx
import pytest

from mockllm.app import create_app
from mockllm.config import ServerConfig
from mockllm.stray import meant

SERVED = (
    "POST /v1/chat/completions",
    "POST /v1/completions",
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "GET /v1/models",
    "GET /v1/models/{model}",
)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/chat/completions", "POST /v1/chat/completions"),  # OPENAI_BASE_URL without /v1
        ("POST", "/completions", "POST /v1/completions"),  # the closest, not chat's
        ("POST", "/v1/v1/messages", "POST /v1/messages"),  # ANTHROPIC_BASE_URL with /v1
        ("POST", "/api/v1/chat/completions", "POST /v1/chat/completions"),
        ("GET", "/models", "GET /v1/models"),
        ("GET", "/chat/completions", None),  # no GET there
        ("POST", "/v1/chat/completion", None),  # a typo: no prefix fixes it
        ("GET", "/", None),
    ],
)
def test_meant_is_the_served_path_a_prefix_away(method, path, expected):
    assert meant(method, path, SERVED) == expected


def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(ServerConfig(), ()))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


@pytest.mark.anyio
async def test_a_base_url_without_v1_is_told_what_it_meant():
    async with client() as http:
        response = await http.post("/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert message.startswith(
        "Invalid URL (POST /chat/completions). Did you mean POST /v1/chat/completions? "
        "Check the client's base URL: the OpenAI SDKs take http://127.0.0.1:8000/v1 "
        "(OPENAI_BASE_URL), the Anthropic SDK http://127.0.0.1:8000 (ANTHROPIC_BASE_URL). "
        "This server serves: POST /v1/chat/completions, "
    )


@pytest.mark.anyio
async def test_an_anthropic_base_url_with_v1_is_told_in_anthropics_shape():
    async with client() as http:
        response = await http.post(
            "/v1/v1/messages",
            json={"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []},
            headers={"anthropic-version": "2023-06-01"},
        )
    assert response.status_code == 404
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert "Did you mean POST /v1/messages? " in body["error"]["message"]


@pytest.mark.anyio
async def test_a_typo_gets_the_list_alone():
    async with client() as http:
        response = await http.post("/v1/chat/completion", json={})
    message = response.json()["error"]["message"]
    assert message.startswith("Invalid URL (POST /v1/chat/completion). This server serves: ")
    assert "Did you mean" not in message
