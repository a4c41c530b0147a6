"""Secrets stay secret and names stay inside their folders.

Keys sent in headers and body fields never reach the logs (debug level, text and JSON
formats); the admin API refuses callers from a non-loopback address over a real socket
(made in a private network namespace) unless allowed; cassette names from requests cannot
leave the cassettes folder; the admin API takes scenario documents, never paths to read.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer

SECRET = "sk-very-secret-" + "7f3a9c" * 6  # in body fields
HEADER_SECRET = "sk-header-secret-" + "c0ffee" * 6  # in headers
KNOWN = "sk-known-secret-" + "b41d" * 8
ADMIN_TOKEN = "admin-secret-" + "9e2c" * 8
HEADER_KEYS = {
    "authorization": f"Bearer {HEADER_SECRET}-auth",
    "x-api-key": f"{HEADER_SECRET}-xapi",
    "api-key": f"{HEADER_SECRET}-apikey",
    "openai-organization": f"{HEADER_SECRET}-org",
    "cookie": f"session={HEADER_SECRET}-cookie",
}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def _visible_parts(secret: str) -> list[str]:
    """What must not appear: the secret, and any 12-character run of its unique tail."""
    tail = secret.removeprefix("Bearer ").removeprefix("session=")
    return [tail] + [tail[i : i + 12] for i in range(3, len(tail) - 12, 6)]


def assert_no_secret(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        for part in _visible_parts(secret):
            assert part not in text, f"{where} contains {part!r} (from {secret[:10]}...)"


def _exercise(server: RunningServer, token: str | None = None) -> None:
    """Requests carrying keys in every place a client may put one."""
    url = f"{server.base_url}/chat/completions"
    with httpx.Client(timeout=10) as client:
        for name, value in HEADER_KEYS.items():
            client.post(url, json=CHAT, headers={name: value})
        client.post(url, json=CHAT, headers={"authorization": f"Bearer {KNOWN}"})
        client.post(
            url, json={**CHAT, "stream": True}, headers={"authorization": f"Bearer {KNOWN}"}
        )
        client.post(
            url,
            json={
                **CHAT,
                "user": f"{SECRET}-user",
                "metadata": {"api_key": f"{SECRET}-meta"},
                "prompt_cache_key": f"{SECRET}-cache",
            },
            headers={"authorization": f"Bearer {KNOWN}"},
        )
        client.post(  # a refused request whose body carries a key
            url,
            json={**CHAT, "n": 0, "user": f"{SECRET}-refused"},
            headers={"authorization": f"Bearer {KNOWN}"},
        )
        client.post(
            url,
            content=f'{{"user": "{SECRET}-broken", '.encode(),
            headers={"authorization": f"Bearer {KNOWN}"},
        )
        admin = {"authorization": f"Bearer {token}"} if token else {}
        client.get(f"{server.url}/__admin/requests", headers=admin)
        client.get(
            f"{server.url}/__admin/requests",
            headers={"authorization": f"Bearer {HEADER_SECRET}-wrong"},
        )
        if token:  # (without a token the reset would succeed and clear the journal)
            client.post(
                f"{server.url}/__admin/reset",
                headers={"x-mockllm-admin-token": f"{HEADER_SECRET}-tok"},
            )


BODY_SECRETS = [f"{SECRET}-{s}" for s in ("user", "meta", "cache", "refused", "broken")]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_logs_never_contain_keys(serve: Any, tmp_path: Path, log_format: str) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - key: {KNOWN}\n    credits: 1000000\n")
    server = serve(
        "--log-level",
        "debug",
        "--log-format",
        log_format,
        "--keys",
        str(keys),
        "--admin-token",
        ADMIN_TOKEN,
    )
    _exercise(server, ADMIN_TOKEN)
    server.stop()
    log = server.log()
    assert "exchange" in log  # the exchanges were logged at all
    header_secrets = [v for v in HEADER_KEYS.values()] + [
        KNOWN,
        ADMIN_TOKEN,
        f"{HEADER_SECRET}-wrong",
        f"{HEADER_SECRET}-tok",
    ]
    assert_no_secret(log, header_secrets + BODY_SECRETS, f"the {log_format} log")


def test_the_journal_keeps_bodies_but_no_header_keys(serve: Any) -> None:
    server = serve()
    _exercise(server)
    journal = httpx.get(f"{server.url}/__admin/requests", timeout=5).text
    assert f"{SECRET}-user" in journal  # bodies are kept: tests assert on what was sent
    assert_no_secret(journal, list(HEADER_KEYS.values()) + [KNOWN], "the journal")


# --- the admin API over real sockets --------------------------------------------------------


# The remote caller: an address in a private network namespace, so that the refusal is
# tested over a real socket on any machine where the suite may make one (as root, or in a
# user namespace), whatever addresses the machine itself has. The test runs again inside
# the namespace, where the server and the caller both live; nothing outside changes.
REMOTE_SOURCE = "198.51.100.7"  # TEST-NET-2: documentation only, never a real peer
INSIDE = "MOCKLLM_TEST_REMOTE_SOURCE"  # set inside the namespace: the address to call from
_SETUP = (
    "ip link set lo up"
    " && ip link add mockllm-v0 type veth peer name mockllm-v1"
    f" && ip addr add {REMOTE_SOURCE}/24 dev mockllm-v0"
    " && ip link set mockllm-v0 up && ip link set mockllm-v1 up"
)
_SUMMARY = re.compile(r"\b\d+ (passed|failed|errors?|skipped)\b")


def _run_inside_a_private_network(request: pytest.FixtureRequest) -> None:
    """Run this test again in a new network namespace with a non-loopback address; pass
    or fail as it did there. Skip, saying why, where no namespace can be made."""
    missing = [tool for tool in ("ip", "unshare") if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"needs {' and '.join(missing)} to make a private network with a non-loopback "
            "address (Debian: apt-get install iproute2 util-linux)"
        )
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
        f"{request.node.path}::{request.node.name}",
    ]  # fmt: skip
    attempts = [["unshare", "--user", "--map-root-user", "--net"]]
    if os.geteuid() == 0:
        attempts.insert(0, ["unshare", "--net"])
    reasons = []
    for unshare in attempts:
        run = subprocess.run(
            [*unshare, "sh", "-c", f"{_SETUP} && exec {shlex.join(command)}"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, INSIDE: REMOTE_SOURCE},
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        if _SUMMARY.search(run.stdout):  # the test ran there: its outcome is this one's
            if run.returncode != 0 or " passed" not in run.stdout:
                pytest.fail(f"in a private network namespace:\n{run.stdout}\n{run.stderr}")
            return
        reasons.append(f"{' '.join(unshare)}: {run.stderr.strip()[-200:] or run.returncode}")
    pytest.skip(
        "no private network namespace could be made here (needs root, or user namespaces): "
        + "; ".join(reasons)
    )


def _from(source: str) -> httpx.Client:
    """A client whose connections leave from `source` (still to a loopback destination)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=5)


def _admin_statuses(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> list[int]:
    return [
        client.post(f"{url}/__admin/reset", headers=headers).status_code,
        client.get(f"{url}/__admin/requests", headers=headers).status_code,
        client.get(f"{url}/__admin/rules", headers=headers).status_code,
        client.post(f"{url}/__admin/rules", headers=headers, content=b"rules: []").status_code,
    ]


def test_admin_refuses_a_non_loopback_caller_over_a_real_socket(
    serve: Any, request: pytest.FixtureRequest
) -> None:
    source = os.environ.get(INSIDE)
    if source is None:
        _run_inside_a_private_network(request)
        return
    server = serve("--host", "0.0.0.0")
    url = f"http://127.0.0.1:{server.port}"  # the destination stays on loopback
    with _from(source) as remote:
        assert remote.get(f"{url}/__admin/health").status_code == 200
        statuses = _admin_statuses(remote, url)
        assert statuses == [403, 403, 403, 403], statuses
        refused = remote.post(f"{url}/__admin/reset")
        assert refused.json()["error"]["code"] == "admin_remote_refused"
        # The refused caller's attempt did not change anything: the chat API still answers.
        assert remote.post(f"{url}/v1/chat/completions", json=CHAT).status_code == 200
    with httpx.Client(timeout=5) as local:
        assert _admin_statuses(local, url) == [200, 200, 200, 201]


def test_admin_token_lets_a_non_loopback_caller_in(
    serve: Any, request: pytest.FixtureRequest
) -> None:
    source = os.environ.get(INSIDE)
    if source is None:
        _run_inside_a_private_network(request)
        return
    server = serve("--host", "0.0.0.0", "--admin-token", ADMIN_TOKEN)
    url = f"http://127.0.0.1:{server.port}"
    with _from(source) as remote:
        assert _admin_statuses(remote, url)[:3] == [401, 401, 401]
        good = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        assert _admin_statuses(remote, url, good) == [200, 200, 200, 201]


# --- names that would leave their folder ----------------------------------------------------

ESCAPES = [
    "../../etc/x",
    "../x",
    "/etc/passwd",
    "a/../../x",
    "a/../..",
    "..",
    "a\\..\\..\\x",
    "C:/Windows/x",
    "x\x00.yaml",
    "outside-link/x",
]


def test_cassette_names_from_requests_cannot_escape(serve: Any, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (cassettes / "outside-link").symlink_to(outside)
    server = serve("--cassettes", str(cassettes))
    with httpx.Client(timeout=5) as client:
        for name in ESCAPES:
            if "\x00" not in name:  # a NUL cannot travel in a header
                response = client.post(
                    f"{server.base_url}/chat/completions",
                    json=CHAT,
                    headers={"x-mockllm-cassette": name},
                )
                assert response.status_code == 400, (name, response.status_code, response.text)
                error = response.json()["error"]
                assert error["param"] == "x-mockllm-cassette", error
            admin = client.put(f"{server.url}/__admin/cassette", json={"name": name})
            assert admin.status_code == 400, (name, admin.text)
    assert list(outside.iterdir()) == []


def test_admin_rules_take_documents_not_paths(serve: Any, tmp_path: Path) -> None:
    """POST /__admin/rules has no way to name a file: a path is a YAML string, not rules."""
    scenario = tmp_path / "elsewhere.yaml"
    scenario.write_text("rules: [{name: from-file, reply: {content: leaked}}]")
    server = serve()
    with httpx.Client(timeout=5) as client:
        for body, content_type in [
            (str(scenario).encode(), "application/yaml"),
            (f"rules: {scenario}".encode(), "application/yaml"),
            (json.dumps({"path": str(scenario)}).encode(), "application/json"),
            (json.dumps({"scenarios": [str(scenario)]}).encode(), "application/json"),
            (json.dumps({"rules": str(scenario)}).encode(), "application/json"),
            (b"!include " + str(scenario).encode(), "application/yaml"),
        ]:
            response = client.post(
                f"{server.url}/__admin/rules", content=body, headers={"content-type": content_type}
            )
            assert response.status_code == 400, (body, response.text)
            assert "leaked" not in response.text
        names = [r["name"] for r in client.get(f"{server.url}/__admin/rules").json()["rules"]]
        assert "from-file" not in names
        answer = client.post(f"{server.base_url}/chat/completions", json=CHAT).json()
        assert answer["choices"][0]["message"]["content"] != "leaked"
