"""`mockllm cassette check` on a test suite's cassettes that hold more than model calls.

A suite records whatever its code called: the models list, Anthropic's token count, a
stored response deleted. The drift check sends the calls that neither change nor name
what the API stores (the models list, a token count) to the API again, and leaves the
others out. The upstream here is a mockllm serving both APIs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from mockllm.cli import main
from tests.conftest import RunningServer

Serve = Callable[..., RunningServer]

CASSETTE = """\
interactions:
- request:
    body: ''
    headers:
      Accept:
      - application/json
    method: GET
    uri: https://api.openai.com/v1/models
  response:
    body:
      string: '{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"}]}'
    headers:
      Content-Type:
      - application/json
    status:
      code: 200
      message: OK
- request:
    body: '{"messages":[{"role":"user","content":"hello"}],"model":"claude-sonnet-4-5"}'
    headers:
      Content-Type:
      - application/json
      anthropic-version:
      - '2023-06-01'
    method: POST
    uri: https://api.anthropic.com/v1/messages/count_tokens
  response:
    body:
      string: '{"input_tokens":8}'
    headers:
      Content-Type:
      - application/json
    status:
      code: 200
      message: OK
- request:
    body: ''
    headers: {}
    method: DELETE
    uri: https://api.openai.com/v1/responses/resp_67ccd3a9da748190baa7f1570fe91ac6
  response:
    body:
      string: '{"id":"resp_67ccd3a9da748190baa7f1570fe91ac6","object":"response","deleted":true}'
    headers:
      Content-Type:
      - application/json
    status:
      code: 200
      message: OK
version: 1
"""  # noqa: E501


def test_the_models_list_and_a_token_count_are_checked_a_delete_is_not(
    serve: Serve, tmp_path: Path
) -> None:
    upstream = serve()
    path = tmp_path / "suite.yaml"
    path.write_text(CASSETTE)
    result = CliRunner().invoke(
        main,
        ["cassette", "check", str(path), "--upstream", upstream.base_url],
        env={"OPENAI_API_KEY": "sk-openai-check", "ANTHROPIC_API_KEY": "sk-ant-check"},
    )
    assert result.output.splitlines() == [
        "suite.yaml#0: GET /v1/models: ok",
        "suite.yaml#1: POST /v1/messages/count_tokens: ok",
        "2 interaction(s) checked: 2 ok, 0 drifted, 0 failed; 1 skipped (not sent again)",
    ], result.output
    assert result.exit_code == 0
