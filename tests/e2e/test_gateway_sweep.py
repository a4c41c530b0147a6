"""Each built-in gateway profile and a profile file of the user's own, checked from
outside as a user of that gateway sees them: the SDK at the profile's base URL, raw
HTTP for what the SDK hides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.conftest import start_server


def _validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "gw.yaml").write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "mockllm", "validate", "--profile", "gw.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("name", ["X Team", "X-AI-Provider:", ""])
def test_a_required_header_no_client_can_send_is_refused_where_it_is_written(
    tmp_path: Path, name: str
) -> None:
    # Such a header can never arrive in an HTTP request: the profile would refuse every
    # request with 400 "Missing required header", however the client is written.
    text = (
        "extends: openai\n"
        "chat_paths: [/gw/chat]\n"
        "required_headers:\n"
        "  - name: X-Team\n"
        f"  - name: {name!r}\n"
    )
    run = _validate(tmp_path, text)
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout + run.stderr
    assert f"gw.yaml:5: required_headers[1].name: {name!r} cannot be an HTTP header name" in out, (
        out
    )
    assert "letters, digits and !#$%&'*+-.^_`|~" in out


def test_a_required_header_a_client_can_send_is_required(tmp_path: Path) -> None:
    (tmp_path / "gw.yaml").write_text(
        "extends: openai\nchat_paths: [/gw/chat]\nrequired_headers:\n  - name: X-Team_1\n",
        encoding="utf-8",
    )
    server = start_server("--profile", "gw.yaml", tmp_path=tmp_path)
    try:
        body = {
            "model": "gpt-4o-mini",
            "max_tokens": 2,
            "messages": [{"role": "user", "content": "hi"}],
        }
        missing = httpx.post(f"{server.url}/gw/chat", json=body)
        assert missing.status_code == 400
        assert missing.json()["error"]["message"] == "Missing required header: X-Team_1."
        sent = httpx.post(f"{server.url}/gw/chat", json=body, headers={"x-team_1": "search"})
        assert sent.status_code == 200, sent.text
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("balance", "taken"),
    [
        ("/gw/models", "the models list (GET /gw/models)"),
        ("/v1/models", "the models list (GET /v1/models)"),
        ("/gw/models/credits", "where one model is described (GET /gw/models/{model})"),
        ("/__admin/credits", "a path of the admin API (/__admin/...)"),
    ],
)
def test_a_balance_path_another_get_route_answers_is_refused(
    tmp_path: Path, balance: str, taken: str
) -> None:
    # Before, such a file loaded: GET /gw/models answered {"remaining": 1000000} to
    # client.models.list(), or the balance was never answered behind the admin API.
    text = (
        "extends: openai\n"
        "chat_paths: [/gw/chat]\n"
        "models_path: /gw/models\n"
        f"balance: {{ path: {balance} }}\n"
    )
    run = _validate(tmp_path, text)
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        f"gw.yaml:4: balance.path: '{balance}' is also {taken}: GET there cannot answer both; "
        "give the balance a path of its own"
    ) in run.stdout + run.stderr


def test_the_models_list_and_the_balance_answer_at_their_own_paths(tmp_path: Path) -> None:
    (tmp_path / "gw.yaml").write_text(
        "extends: openai\nchat_paths: [/gw/chat]\nmodels_path: /gw/models\n"
        "balance: { path: /gw/credits }\n",
        encoding="utf-8",
    )
    server = start_server("--profile", "gw.yaml", tmp_path=tmp_path)
    try:
        client = OpenAI(base_url=f"{server.url}/gw", api_key="sk-test", max_retries=0)
        assert "gpt-4o-mini" in [m.id for m in client.models.list()]
        assert httpx.get(f"{server.url}/gw/credits").json() == {"remaining": 1000000}
    finally:
        server.stop()


def test_the_responses_api_holds_the_profiles_ranges_as_chat_does(tmp_path: Path) -> None:
    """tokenhub documents temperature -2..2: chat took -1.5 and the Responses API refused it
    with OpenAI's 0..2; qingcheng's out-of-range value is refused in qingcheng's words on
    both."""
    tokenhub = start_server("--profile", "tokenhub", tmp_path=tmp_path)
    try:
        sdk = OpenAI(base_url=tokenhub.base_url, api_key="sk-bf-test", max_retries=0)
        chat = sdk.chat.completions.create(
            model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}], temperature=-1.5
        )
        answer = sdk.responses.create(model="openai/gpt-4o", input="hi", temperature=-1.5)
        assert chat.choices[0].message.content and answer.status == "completed"
        assert answer.temperature == -1.5
    finally:
        tokenhub.stop()
    qingcheng = start_server("--profile", "qingcheng", tmp_path=tmp_path)
    try:
        headers = {"X-API-Key": "k", "X-AI-Provider": "deepseek"}
        refused = [
            httpx.post(f"{qingcheng.base_url}{path}", json=body, headers=headers, timeout=10)
            for path, body in (
                ("/chat/completions", {"model": "deepseek-chat", "temperature": 3,
                                       "messages": [{"role": "user", "content": "hi"}]}),
                ("/responses", {"model": "deepseek-chat", "temperature": 3, "input": "hi"}),
            )
        ]  # fmt: skip
    finally:
        qingcheng.stop()
    for answer in refused:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["message"] == (
            "Invalid parameter temperature: must be between 0 and 2, got 3"
        )
