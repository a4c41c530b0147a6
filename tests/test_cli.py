"""The command line, through click's runner (serve with a patched server.run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mockllm import __version__
from mockllm.cli import main
from mockllm.config import ServerConfig
from mockllm.server import MockServer


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - reply: {content: x, latency: {ttft: 1}}\n  - match: {modle: m}\n    reply: {content: y}\n")
    result = run("validate", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:2: rules[0].reply.latency.ttft: unknown key 'ttft'; did you mean 'ttft_ms'?" in result.output
    assert f"{bad}:3: rules[1].match.modle: unknown key 'modle'; did you mean 'model'?" in result.output


def test_schema_is_json():
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "mockllm scenario"


def test_serve_maps_flags_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    seen = {}

    def fake_run(self: MockServer) -> None:
        seen["config"] = self.config

    monkeypatch.setattr(MockServer, "run", fake_run)
    scenario = tmp_path / "s.yaml"
    scenario.write_text("rules:\n  - reply: {content: x}\n")
    result = run(
        "serve", "--port", "9123", "--scenarios", str(scenario), "--strict", "--freeze-time", "1700000000",
        env={"MOCKLLM_SEED": "42", "MOCKLLM_HOST": "127.0.0.2"},
    )
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.port, config.seed, config.host, config.strict, config.freeze_time) == (
        9123, 42, "127.0.0.2", True, 1700000000.0
    )
    assert config.scenarios == (scenario,)


def test_serve_with_broken_scenarios_exits_1(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [")
    result = run("serve", "--scenarios", str(bad))
    assert result.exit_code == 1
    assert "not valid YAML" in result.output


def test_serve_maps_the_latency_model_and_metrics_flags(monkeypatch: pytest.MonkeyPatch):
    seen = {}

    def fake_run(self: MockServer) -> None:
        seen["config"] = self.config

    monkeypatch.setattr(MockServer, "run", fake_run)
    result = run(
        "serve", "--latency-model", "qwen2.5-0.5b-l4", "--metrics-names", "vllm",
        env={"MOCKLLM_METRICS": "false"},
    )
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.latency_model, config.metrics, config.metrics_names) == (
        "qwen2.5-0.5b-l4", False, ("vllm",)
    )
    assert ServerConfig.from_json(config.to_json()) == config  # as workers receive it


def test_serve_with_an_unknown_latency_model_exits_1(tmp_path: Path):
    result = run("serve", "--latency-model", "llama-3.1-8b-h10")
    assert result.exit_code == 1
    assert "did you mean 'llama-3.1-8b-h100'" in result.output
    broken = tmp_path / "model.yaml"
    broken.write_text("max_concurrency: 0\n")
    result = run("serve", "--latency-model", str(broken))
    assert result.exit_code == 1
    assert "model.yaml:1: max_concurrency: expected a value >= 1, found 0" in result.output
