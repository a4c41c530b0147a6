"""Azure OpenAI's paths, recorded and replayed through the front door.

Azure OpenAI has no version segment in its paths: a chat completion is
``POST /openai/deployments/{deployment}/chat/completions?api-version=...``, and a client
such as azure-ai-inference leaves ``model`` out of the body (the deployment names it). The
cassette below is trimmed from crewAI's test suite (a vcrpy recording of such a call).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import yaml
from openai.types.chat import ChatCompletion

from tests.conftest import RunningServer

from .helpers import write_scenario

Serve = Callable[..., RunningServer]

DEPLOYMENT = "/openai/deployments/gpt-4o-mini/chat/completions"
API_VERSION = "2024-08-01-preview"

AZURE = f"""\
interactions:
- request:
    body: '{{"messages": [{{"role": "user", "content": "Say hello"}}], "stream": false}}'
    headers:
      Accept:
      - application/json
      Content-Type:
      - application/json
      api-key:
      - X-API-KEY-XXX
    method: POST
    uri: https://X-AZURE-ENDPOINT-XXX{DEPLOYMENT}?api-version={API_VERSION}
  response:
    body:
      string: '{{"choices":[{{"content_filter_results":{{"hate":{{"filtered":false,"severity":"safe"}}}},"finish_reason":"stop","index":0,"logprobs":null,"message":{{"annotations":[],"content":"Hello!
        How can I assist you today?","refusal":null,"role":"assistant"}}}}],"created":1764567851,"id":"chatcmpl-ChqzjZ0Xva3tyU2En6zq99QbWb6aZ","model":"gpt-4o-mini-2024-07-18","object":"chat.completion","prompt_filter_results":[{{"prompt_index":0,"content_filter_results":{{"jailbreak":{{"filtered":false,"detected":false}}}}}}],"system_fingerprint":"fp_efad92c60b","usage":{{"completion_tokens":10,"prompt_tokens":9,"total_tokens":19}}}}

        '
    headers:
      Content-Type:
      - application/json
      x-ms-deployment-name:
      - gpt-4o-mini
      x-ms-region:
      - X-MS-REGION-XXX
    status:
      code: 200
      message: OK
version: 1
"""  # noqa: E501


def test_a_recorded_azure_call_replays_on_its_path(serve: Serve, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    (cassettes / "azure.yaml").write_text(AZURE)
    server = serve("--cassettes", str(cassettes))

    # azure-ai-inference's request, as recorded: the deployment's path, no model in the body.
    answer = httpx.post(
        f"{server.url}{DEPLOYMENT}",
        params={"api-version": API_VERSION},
        json={"messages": [{"role": "user", "content": "Say hello"}], "stream": False},
        headers={"api-key": "azure-key"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-ms-deployment-name"] == "gpt-4o-mini"
    completion = ChatCompletion.model_validate(answer.json())
    assert completion.id == "chatcmpl-ChqzjZ0Xva3tyU2En6zq99QbWb6aZ"
    assert completion.choices[0].message.content == "Hello! How can I assist you today?"

    # A call nothing recorded is no Azure call mockllm can answer by itself.
    missing = httpx.post(
        f"{server.url}{DEPLOYMENT}",
        params={"api-version": API_VERSION},
        json={"messages": [{"role": "user", "content": "Something else"}]},
        timeout=10,
    )
    assert missing.status_code == 404


def test_the_recorder_forwards_an_azure_call(serve: Serve, tmp_path: Path) -> None:
    # The upstream plays Azure OpenAI: a profile that serves the deployment's path.
    profile = write_scenario(tmp_path, f"extends: openai\nchat_paths: [{DEPLOYMENT}]\n", "az.yaml")
    rules = 'version: 1\nrules:\n  - match: { last_user: "Hi" }\n    reply: { content: "Hello!" }\n'
    azure = serve("--profile", str(profile), "--scenarios", str(write_scenario(tmp_path, rules)))
    cassettes = tmp_path / "cassettes"
    recorder = serve("--upstream", azure.url, "--cassettes", str(cassettes), "--record-mode", "all")
    client = openai.AzureOpenAI(
        azure_endpoint=recorder.url, api_key="azure-key", api_version=API_VERSION, max_retries=0
    )

    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.choices[0].message.content == "Hello!"
    recorded = yaml.safe_load((cassettes / "recorded.yaml").read_text())
    request = recorded["interactions"][0]["request"]
    assert request["uri"] == f"{azure.url}{DEPLOYMENT}?api-version={API_VERSION}"
    assert request["headers"]["api-key"] == ["<redacted>"]
