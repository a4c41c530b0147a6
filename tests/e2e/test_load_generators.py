"""LLM load generators' requests, as they send them: guidellm's OpenAI HTTP backend (chat
and text completions, streamed with vLLM's `continuous_usage_stats`, answers of a set
length asked with `ignore_eos`) and aiperf's `--extra-inputs` (vLLM's `min_tokens`,
`top_k`, `repetition_penalty`). mockllm stands in for the vLLM server they measure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import RunningServer, start_server
from .helpers import sse_payloads

OPEN_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
PROMPT = "river stone lantern orchard " * 32  # synthetic words, as guidellm writes a prompt


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path=tmp_path_factory.mktemp("load-generators"))
    try:
        yield running
    finally:
        running.stop()


def _streamed(server: RunningServer, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.post(f"{server.url}{path}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    payloads = sse_payloads(response.content)
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


def test_guidellm_chat_stream_runs_to_max_completion_tokens(server: RunningServer) -> None:
    # guidellm 0.8.1, ChatCompletionsRequestHandler with output_tokens=300
    body = {
        "model": OPEN_MODEL,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        "max_completion_tokens": 300,
        "stop": None,
        "ignore_eos": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
    }
    chunks = _streamed(server, "/v1/chat/completions", body)
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert chunks[-1]["usage"]["completion_tokens"] == 300
    assert len([d for d in deltas if d]) == 300  # one token a delta
    assert finish[-1] == "length"


def test_guidellm_text_completions_run_to_max_tokens(server: RunningServer) -> None:
    # guidellm 0.8.1, TextCompletionsRequestHandler with output_tokens=200
    body = {
        "model": OPEN_MODEL,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        "max_tokens": 200,
        "stop": None,
        "ignore_eos": True,
        "prompt": PROMPT,
    }
    chunks = _streamed(server, "/v1/completions", body)
    assert chunks[-1]["usage"]["completion_tokens"] == 200
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    answer = httpx.post(
        f"{server.url}/v1/completions", json={**body, "stream": False, "stream_options": None}
    ).json()
    assert answer["usage"]["completion_tokens"] == 200
    assert answer["choices"][0]["finish_reason"] == "length"


def test_aiperf_extra_inputs_are_taken(server: RunningServer) -> None:
    # aiperf 0.13.0 with --extra-inputs min_tokens:150 top_k:5 repetition_penalty:1.1
    body = {
        "messages": [{"role": "user", "content": PROMPT}],
        "model": OPEN_MODEL,
        "stream": False,
        "min_tokens": 150,
        "top_k": 5,
        "repetition_penalty": 1.1,
        "skip_special_tokens": True,
    }
    answer = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["usage"]["completion_tokens"] >= 150


def test_ignore_eos_without_max_tokens_is_a_usual_answer(server: RunningServer) -> None:
    body = {"model": OPEN_MODEL, "messages": [{"role": "user", "content": "Hi"}]}
    plain = httpx.post(f"{server.url}/v1/chat/completions", json=body).json()
    asked = httpx.post(
        f"{server.url}/v1/chat/completions", json={**body, "ignore_eos": True}
    ).json()
    assert asked["usage"]["completion_tokens"] < 200
    assert asked["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("value", ["yes", 1])
def test_ignore_eos_must_be_a_boolean(server: RunningServer, value: object) -> None:
    body = {"model": OPEN_MODEL, "prompt": "Hi", "ignore_eos": value}
    refused = httpx.post(f"{server.url}/v1/completions", json=body)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "ignore_eos"


def test_openai_models_still_refuse_vllm_arguments(server: RunningServer) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    refused = httpx.post(
        f"{server.url}/v1/chat/completions", json={**body, "max_tokens": 30, "ignore_eos": True}
    )
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["message"] == "Unrecognized request argument supplied: ignore_eos"
    )


def test_lenient_takes_ignore_eos_for_any_model(tmp_path: Path) -> None:
    running = start_server("--lenient", tmp_path=tmp_path)
    try:
        body = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 120,
            "ignore_eos": True,
        }
        answer = httpx.post(f"{running.url}/v1/chat/completions", json=body).json()
        assert answer["usage"]["completion_tokens"] == 120
        assert answer["choices"][0]["finish_reason"] == "length"
    finally:
        running.stop()


def test_health_answers_as_vllm(server: RunningServer) -> None:
    # guidellm's OpenAI HTTP backend checks GET {target}/health before a run
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    "model", ["Qwen/Qwen3-0.6B", "mistralai/Mistral-7B-Instruct-v0.3", "microsoft/Phi-4"]
)
def test_hugging_face_ids_of_known_families_are_answered(server: RunningServer, model: str) -> None:
    # guidellm's own example model, and other ids as vLLM serves them
    body = {
        "model": model,
        "max_completion_tokens": 40,
        "stop": None,
        "ignore_eos": True,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    answer = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["usage"]["completion_tokens"] == 40


@pytest.mark.parametrize(
    ("path", "fields", "param", "says"),
    [
        # vLLM's own check, in its words
        (
            "/v1/chat/completions",
            {"max_tokens": 10, "min_tokens": 20},
            "min_tokens",
            "min_tokens must be less than or equal to max_tokens=10, got 20.",
        ),
        # no max_tokens: the model's output cap bounds min_tokens (it hung the server)
        (
            "/v1/chat/completions",
            {"min_tokens": 10**9},
            "min_tokens",
            "min_tokens must be less than or equal to max_tokens=",
        ),
        # 16 million tokens over 128 choices took the server to 1.2 GB
        (
            "/v1/chat/completions",
            {"ignore_eos": True, "max_tokens": 131072, "n": 128},
            "max_tokens",
            "mockllm writes at most 1048576 forced completion tokens per request",
        ),
        (
            "/v1/completions",
            {"ignore_eos": True, "max_tokens": 100000, "prompt": ["a", "b", "c", "d", "e"] * 3},
            "max_tokens",
            "mockllm writes at most 1048576 forced completion tokens per request",
        ),
        # 5,000 prompts with n=100 took minutes to write
        (
            "/v1/completions",
            {"prompt": ["x"] * 5000, "n": 100},
            "prompt",
            "Invalid 'prompt': 5000 prompts with n=100 make 500000 completions; mockllm writes "
            "at most 2048 per request.",
        ),
    ],
)
def test_answers_too_large_to_write_are_refused_at_once(
    server: RunningServer, path: str, fields: dict[str, Any], param: str, says: str
) -> None:
    body: dict[str, Any] = {"model": OPEN_MODEL, **fields}
    if path == "/v1/chat/completions":
        body["messages"] = [{"role": "user", "content": "hi"}]
    body.setdefault("prompt", "hi")
    if path == "/v1/chat/completions":
        del body["prompt"]
    response = httpx.post(f"{server.url}{path}", json=body, timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"].startswith(says), error
