"""What the official SDKs can send, the server takes: one request per documented parameter
or value that the API accepts (for a model that takes it), sent through the SDK so that its
own serialisation is used. Each case names the evidence that the API takes it: the OpenAPI
document (openai/openai-openapi), the SDK's own types and docstrings, or the vendor's docs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anthropic import Anthropic
from openai import OpenAI

from tests.conftest import RunningServer, start_server

USER: dict[str, Any] = {"role": "user", "content": "Hello!"}
FUNCTION = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path=tmp_path_factory.mktemp("sdk-accepts"))
    yield running
    running.stop()


def openai_client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def anthropic_client(server: RunningServer) -> Anthropic:
    return Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)


# (id, keyword arguments of client.chat.completions.create)
CHAT: list[tuple[str, dict[str, Any]]] = [
    # ReasoningEffort: "none" … "xhigh", "max" (OpenAPI; "Not all reasoning models support
    # every value"): a model the catalogue does not name is not refused the value.
    ("reasoning_effort-max", {"model": "gpt-6-sol", "reasoning_effort": "max"}),
]

# (id, keyword arguments of client.responses.create)
RESPONSES: list[tuple[str, dict[str, Any]]] = [
    ("reasoning.effort-max", {"model": "gpt-6-sol", "reasoning": {"effort": "max"}}),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in CHAT], ids=[c[0] for c in CHAT])
def test_chat_takes(server: RunningServer, kwargs: dict[str, Any]) -> None:
    completion = openai_client(server).chat.completions.create(messages=[USER], **kwargs)
    assert completion.choices[0].message.content


@pytest.mark.parametrize("kwargs", [c[1] for c in RESPONSES], ids=[c[0] for c in RESPONSES])
def test_responses_takes(server: RunningServer, kwargs: dict[str, Any]) -> None:
    kwargs = {"input": "Hello!", **kwargs}
    response = openai_client(server).responses.create(**kwargs)
    assert response.status == "completed"
    assert response.output_text
