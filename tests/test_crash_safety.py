"""Crashes around the server: half-written scenario files, a killed server, SIGTERM.

- A writer killed half-way through rewriting a scenario file never makes the server
  load half a file: the reloader keeps the previous rules while the file is broken, and
  takes the new ones once a complete file is in place.
- A server killed during a rules update starts again from its files (rules added at run
  time live in memory only; nothing half-written is left to read).
- SIGTERM drains: a stream in flight is finished, with `[DONE]`, and the process exits 0
  within the grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import start_server

RULES_V1 = """\
version: 1
rules:
  - name: greeting
    match: { model: m }
    reply: { content: "version one" }
"""
RULES_V2 = """\
version: 1
rules:
  - name: greeting
    match: { model: m }
    reply: { content: "version two" }
  - name: farewell
    match: { model: bye }
    reply: { content: "goodbye", latency: { ttft_ms: 5 } }
"""
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
RELOAD_WAIT_S = 1.2  # the reloader polls every 0.5 s


def answer(url: str) -> str:
    response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=5)
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def killed_writer(path: Path, text: str, cut: int) -> None:
    """A process that rewrites `path` in place, writes `cut` characters, and is SIGKILLed."""
    code = (
        "import sys, time\n"
        "f = open(sys.argv[1], 'w')\n"  # truncates: the old content is gone from here on
        "f.write(sys.argv[2]); f.flush()\n"
        "print('written', flush=True)\n"
        "time.sleep(60)\n"
        "f.write(sys.argv[3])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path), text[:cut], text[cut:]],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    "cut",
    [0, RULES_V2.index("reply") + 9, RULES_V2.index("farewell") + 2],
    ids=["empty", "inside a flow mapping", "inside a rule name"],
)
def test_a_half_written_scenario_keeps_the_previous_rules(
    serve: Any, tmp_path: Path, cut: int
) -> None:
    scenario = tmp_path / "rules.yaml"
    scenario.write_text(RULES_V1)
    server = serve("--scenarios", str(scenario))
    assert answer(server.url) == "version one"
    killed_writer(scenario, RULES_V2, cut)
    time.sleep(RELOAD_WAIT_S)
    assert answer(server.url) == "version one"
    rules = httpx.get(f"{server.url}/__admin/rules", timeout=5).json()["rules"]
    assert [r["name"] for r in rules] == ["greeting"]
    assert "keeping the previous rules" in server.log()
    # A complete file, put in place atomically, is taken.
    fresh = tmp_path / "rules.yaml.tmp"
    fresh.write_text(RULES_V2)
    os.replace(fresh, scenario)
    deadline = time.monotonic() + 5
    while answer(server.url) != "version two" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert answer(server.url) == "version two"


def test_a_server_killed_during_rules_updates_starts_clean(tmp_path: Path) -> None:
    scenario = tmp_path / "rules.yaml"
    scenario.write_text(RULES_V1)
    server = start_server("--scenarios", str(scenario), tmp_path=tmp_path)
    stop = threading.Event()
    added = []

    def update() -> None:
        with httpx.Client(timeout=2) as client:
            i = 0
            while not stop.is_set():
                doc = f"rules: [{{name: live-{i}, match: {{model: m}}, reply: {{content: live}}}}]"
                try:
                    client.post(
                        f"{server.url}/__admin/rules",
                        content=doc.encode(),
                        headers={"content-type": "application/yaml"},
                    )
                    added.append(i)
                except httpx.HTTPError:
                    return  # the server is gone
                i += 1

    updater = threading.Thread(target=update)
    updater.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(5)
    stop.set()
    updater.join(5)
    assert len(added) > 5
    assert scenario.read_text() == RULES_V1  # the admin API never writes scenario files
    again = start_server("--scenarios", str(scenario), tmp_path=tmp_path)
    try:
        rules = httpx.get(f"{again.url}/__admin/rules", timeout=5).json()["rules"]
        assert [r["name"] for r in rules] == ["greeting"]
        assert answer(again.url) == "version one"
    finally:
        again.stop()


WORDS = " ".join(f"w{i}" for i in range(20))
PACED = f"""\
version: 1
rules:
  - name: slow
    match: {{ model: slow }}
    reply:
      content: "{WORDS}"
      latency: {{ ttft_ms: 100, inter_token_ms: 95 }}
"""


def test_sigterm_drains_a_stream_in_flight_and_exits_0(tmp_path: Path) -> None:
    scenario = tmp_path / "paced.yaml"
    scenario.write_text(PACED)
    server = start_server("--scenarios", str(scenario), tmp_path=tmp_path)
    received: list[str] = []
    failure: list[BaseException] = []

    def consume() -> None:
        body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "go"}]}
        try:
            with httpx.stream(
                "POST", f"{server.base_url}/chat/completions", json=body, timeout=10
            ) as r:
                for line in r.iter_lines():
                    if line:
                        received.append(line)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)

    client = threading.Thread(target=consume)
    started = time.monotonic()
    client.start()
    time.sleep(0.5)
    assert received, "the stream had not started after 0.5 s"
    server.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = server.proc.wait(10)
    exited = time.monotonic() - signalled
    client.join(10)
    assert not failure, failure
    assert received[-1] == "data: [DONE]", received[-3:]
    content = "".join(
        __import__("json").loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in received[:-1]
        if line.startswith("data: {") and '"choices":[{' in line
    )
    assert content.split() == [f"w{i}" for i in range(20)], content
    assert time.monotonic() - started >= 1.9  # the stream kept its pace while draining
    assert code == 0, server.log()
    assert exited < 6.0, f"exited {exited:.1f} s after SIGTERM"


def test_sigterm_with_a_hung_stream_still_exits_within_the_grace_period(tmp_path: Path) -> None:
    scenario = tmp_path / "hang.yaml"
    scenario.write_text(
        "rules: [{name: h, match: {model: h}, reply: {content: x, fault: {hang: true}}}]"
    )
    server = start_server("--scenarios", str(scenario), tmp_path=tmp_path)

    def hang() -> None:
        body = {"model": "h", "messages": [{"role": "user", "content": "go"}]}
        try:
            httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=20)
        except httpx.HTTPError:
            pass  # cut when the server leaves

    client = threading.Thread(target=hang)
    client.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = server.proc.wait(15)
    exited = time.monotonic() - signalled
    client.join(5)
    assert exited < 7.0, f"exited {exited:.1f} s after SIGTERM"
    assert code == 0, server.log()
