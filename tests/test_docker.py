"""The Dockerfile and docker-compose.yml, checked without a Docker engine.

The image's command and health check are read from the Dockerfile and run here as plain
processes: the same argv and MOCKLLM_* environment, with /scenarios and /cassettes
replaced by temporary folders, the port by a free one and 0.0.0.0 by 127.0.0.1 (this
machine is not a container), and the venv's `mockllm` and `python` first on PATH.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from openai import OpenAI

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_APP = ROOT / "examples" / "compose-app"
VENV_BIN = Path(sys.executable).parent


@dataclass
class Dockerfile:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""

    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Dockerfile:
        out = cls()
        pending = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            line = pending + line
            pending = ""
            word, _, rest = line.partition(" ")
            out.instructions.append((word.upper(), rest.strip()))
        assert not pending, "the Dockerfile ends inside a continued line"
        return out

    def all(self, word: str) -> list[str]:
        return [rest for w, rest in self.instructions if w == word]

    def last(self, word: str) -> str:
        found = self.all(word)
        assert found, f"no {word} in the Dockerfile"
        return found[-1]

    def exec_form(self, word: str) -> list[str]:
        value = json.loads(self.last(word))
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), (
            f"{word} must be in exec (JSON) form"
        )
        return value

    def command(self) -> list[str]:
        """ENTRYPOINT + CMD, as `docker run IMAGE` runs them."""
        entry = self.exec_form("ENTRYPOINT") if self.all("ENTRYPOINT") else []
        return entry + self.exec_form("CMD")

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for rest in self.all("ENV"):
            for item in shlex.split(rest):
                key, sep, value = item.partition("=")
                assert sep, f"ENV {rest!r}: write ENV KEY=value"
                values[key] = value
        return values

    def healthcheck(self) -> tuple[dict[str, str], list[str]]:
        """The HEALTHCHECK's options and its exec-form command."""
        rest = self.last("HEALTHCHECK")
        options: dict[str, str] = {}
        while rest.startswith("--"):
            option, _, rest = rest.partition(" ")
            name, _, value = option[2:].partition("=")
            options[name] = value
            rest = rest.strip()
        word, _, command = rest.partition(" ")
        assert word.upper() == "CMD", f"HEALTHCHECK {rest!r}: expected CMD"
        value = json.loads(command)
        assert isinstance(value, list), "the HEALTHCHECK command must be in exec (JSON) form"
        return options, value


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.parse(DOCKERFILE.read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Container:
    """The image's command running as a local process, as `docker run` would start it."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    port: int
    started: float
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _substitute(value: str, replacements: dict[str, str]) -> str:
    return replacements.get(value, value)


def start_image_command(dockerfile: Dockerfile, tmp_path: Path) -> Container:
    scenarios = tmp_path / "scenarios"
    shutil.copytree(ROOT / "scenarios", scenarios)
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    port = free_port()
    replacements = {
        "/scenarios": str(scenarios),
        "/cassettes": str(cassettes),
        "8000": str(port),
        "0.0.0.0": "127.0.0.1",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKLLM_")}
    env.update({k: _substitute(v, replacements) for k, v in dockerfile.env().items()})
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    argv = [_substitute(arg, replacements) for arg in dockerfile.command()]
    executable = shutil.which(argv[0], path=env["PATH"])
    assert executable, f"{argv[0]} is not on PATH"
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(
            [executable, *argv[1:]], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    return Container(proc, env, port, started, log)


@pytest.fixture
def container(dockerfile: Dockerfile, tmp_path: Path) -> Iterator[Container]:
    running = start_image_command(dockerfile, tmp_path)
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait(5)


def wait_healthy(dockerfile: Dockerfile, running: Container, limit_s: float) -> float:
    """Run the HEALTHCHECK command until it exits 0; the seconds since the process started."""
    _, command = dockerfile.healthcheck()
    executable = shutil.which(command[0], path=running.env["PATH"])
    assert executable, f"{command[0]} is not on PATH"
    deadline = running.started + limit_s + 3
    while time.monotonic() < deadline:
        assert running.proc.poll() is None, f"exited {running.proc.returncode}:\n{running.output()}"
        check = subprocess.run(
            [executable, *command[1:]], env=running.env, capture_output=True, timeout=5
        )
        if check.returncode == 0:
            return time.monotonic() - running.started
        time.sleep(0.02)
    raise AssertionError(f"never healthy within {limit_s + 3} s:\n{running.output()}")


def test_dockerfile_basics(dockerfile: Dockerfile):
    assert dockerfile.last("FROM").startswith("python:3.12-slim")
    user = dockerfile.last("USER").split(":")[0]
    assert user not in ("root", "0"), "the image must not run as root"
    assert "8000" in dockerfile.last("EXPOSE").split()
    assert set(json.loads(dockerfile.last("VOLUME"))) == {"/scenarios", "/cassettes"}
    assert dockerfile.env().get("PYTHONUNBUFFERED") == "1"
    assert any("pip install --no-cache-dir ." in run for run in dockerfile.all("RUN"))


def test_only_the_image_binds_all_interfaces(dockerfile: Dockerfile):
    env, command = dockerfile.env(), dockerfile.command()
    assert command[:2] == ["mockllm", "serve"] or command[1:2] == ["serve"]
    assert env["MOCKLLM_HOST"] == "0.0.0.0" and env["MOCKLLM_PORT"] == "8000"
    assert env["MOCKLLM_SCENARIOS"] == "/scenarios" and env["MOCKLLM_CASSETTES"] == "/cassettes"
    # Tests on the host reset and read the journal through a published port: not loopback.
    assert env["MOCKLLM_ADMIN_REMOTE"] == "1"


def test_healthcheck_needs_no_curl(dockerfile: Dockerfile):
    options, command = dockerfile.healthcheck()
    joined = " ".join(command)
    assert "curl" not in joined and "wget" not in joined
    assert command[0] == "python" and "/__admin/health" in joined
    assert {"interval", "timeout", "start-period", "retries"} <= set(options)


def test_copied_files_reach_the_build_context(dockerfile: Dockerfile):
    """Every COPY source exists and is kept by .dockerignore (an allowlist)."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore starts by excluding everything"
    kept = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = []
    for rest in dockerfile.all("COPY"):
        parts = [p for p in rest.split() if not p.startswith("--")]
        sources += parts[:-1]
    assert sources
    for source in sources:
        top = source.rstrip("/").split("/")[0]
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert top in kept, f"COPY {source}: excluded by .dockerignore"
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert readme in sources, "pip install . needs the readme named in pyproject.toml"
    assert {".venv", ".git", "tests"}.isdisjoint(kept)


def test_image_command_is_healthy_fast_answers_and_stops_cleanly(
    dockerfile: Dockerfile, container: Container
):
    # Well within the HEALTHCHECK's --start-period (10 s), on a loaded machine too (start-up
    # time itself is measured by bench/, not here).
    elapsed = wait_healthy(dockerfile, container, limit_s=5.0)
    assert elapsed < 5.0, f"healthy after {elapsed:.2f} s"

    client = OpenAI(base_url=container.base_url, api_key="sk-host", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello!"}]
    )
    assert reply.choices[0].message.content == "Hello! How can I help you today?"

    container.proc.send_signal(signal.SIGTERM)
    assert container.proc.wait(10) == 0, container.output()
    exchanges = [line for line in container.output().splitlines() if " exchange " in line]
    assert len(exchanges) == 1 and "rule=greeting.yaml#hello" in exchanges[0], exchanges


def test_unmatched_request_falls_through_to_the_generator(
    dockerfile: Dockerfile, container: Container
):
    """With /cassettes mounted but empty, the image still answers every request."""
    wait_healthy(dockerfile, container, limit_s=10.0)
    client = OpenAI(base_url=container.base_url, api_key="sk-host", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell me something"}]
    )
    assert reply.choices[0].message.content


def test_compose_app_runs_against_the_image_command(dockerfile: Dockerfile, container: Container):
    wait_healthy(dockerfile, container, limit_s=10.0)
    compose = yaml.safe_load(COMPOSE.read_text())
    app = compose["services"]["app"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MOCKLLM_"))}
    env.update({k: str(v) for k, v in app["environment"].items()})
    env["OPENAI_BASE_URL"] = container.base_url  # the service name, as seen from the host
    result = subprocess.run(
        [sys.executable, str(COMPOSE_APP / "app.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scripted:  Hello! How can I help you today?" in result.stdout


def test_compose_file(dockerfile: Dockerfile):
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    mock, app = services["mockllm"], services["app"]
    assert mock["build"] == "." and "8000" in " ".join(mock["ports"])
    mounts = {v.split(":")[1] for v in mock["volumes"]}
    assert mounts == {"/scenarios", "/cassettes"}
    # the same check as the image's
    _, command = dockerfile.healthcheck()
    assert mock["healthcheck"]["test"] == ["CMD", *command]
    assert app["depends_on"]["mockllm"]["condition"] == "service_healthy"
    assert app["environment"]["OPENAI_BASE_URL"] == "http://mockllm:8000/v1"
    assert app["image"].startswith("python:3.12-slim")
    mounted = {v.split(":")[1]: v.split(":")[0] for v in app["volumes"]}
    host_dir = mounted[app["working_dir"]]
    assert (ROOT / host_dir).resolve() == COMPOSE_APP
    assert "app.py" in " ".join(app["command"])
    assert (COMPOSE_APP / "requirements.txt").read_text().startswith("openai")


def test_compose_prometheus_scrapes_mockllm():
    compose = yaml.safe_load(COMPOSE.read_text())
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["metrics"]  # `docker compose up` alone leaves it out
    host, target = prometheus["volumes"][0].split(":")[:2]
    assert target == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load((ROOT / host).read_text())
    (job,) = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["mockllm:8000"]
    assert job.get("metrics_path", "/metrics") == "/metrics"


# --- docs/ci.md: the pipeline snippets ---------------------------------------------------------


def _ci_blocks() -> list[str]:
    text = (ROOT / "docs" / "ci.md").read_text()
    return [block for block in text.split("```")[1::2] if block.startswith("yaml\n")]


def test_ci_doc_workflow_points_both_sdks_at_the_service():
    """The Anthropic SDK adds /v1/messages to its base URL itself: its base URL has no /v1."""
    (workflow,) = [b for b in _ci_blocks() if "# .github/workflows/test.yml" in b]
    env = yaml.safe_load(workflow.removeprefix("yaml\n"))["jobs"]["test"]["env"]
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:8000/v1"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8000"


def test_ci_doc_background_server_step_fails_when_it_never_starts(tmp_path: Path):
    """The `mockllm serve &` step of ci.md, run as written (on a free port), against a
    scenario that does not validate: the step fails and shows why, rather than passing and
    leaving every test to fail on a refused connection."""
    (block,) = [b for b in _ci_blocks() if "name: Start mockllm" in b]
    steps = yaml.safe_load(block.removeprefix("yaml\n"))
    (script,) = [step["run"] for step in steps if step.get("name") == "Start mockllm"]
    scenarios = tmp_path / "tests" / "scenarios"
    scenarios.mkdir(parents=True)
    (scenarios / "bad.yaml").write_text(
        "version: 1\nrules: [{name: x, match: {last_usr: a}, reply: {content: b}}]\n"
    )
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-e", "-c", script.replace("8000", str(free_port()))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "did you mean 'last_user'?" in done.stdout
