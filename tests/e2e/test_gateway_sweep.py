"""Each built-in gateway profile and a profile file of the user's own, checked from
outside as a user of that gateway sees them: the SDK at the profile's base URL, raw
HTTP for what the SDK hides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

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
