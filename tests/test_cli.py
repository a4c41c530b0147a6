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

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - reply: {content: x, latency: {ttft: 1}}\n"
        "  - match: {modle: m}\n    reply: {content: y}\n"
    )
    result = run("validate", str(bad))
    assert result.exit_code == 1
    assert (
        f"{bad}:2: rules[0].reply.latency.ttft: unknown key 'ttft'; did you mean 'ttft_ms'?"
        in result.output
    )
    assert (
        f"{bad}:3: rules[1].match.modle: unknown key 'modle'; did you mean 'model'?"
        in result.output
    )


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
        "serve",
        "--port",
        "9123",
        "--scenarios",
        str(scenario),
        "--strict",
        "--freeze-time",
        "1700000000",
        env={"MOCKLLM_SEED": "42", "MOCKLLM_HOST": "127.0.0.2"},
    )
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.port, config.seed, config.host, config.strict, config.freeze_time) == (
        9123,
        42,
        "127.0.0.2",
        True,
        1700000000.0,
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
        "serve",
        "--latency-model",
        "qwen2.5-0.5b-l4",
        "--metrics-names",
        "vllm",
        env={"MOCKLLM_METRICS": "false"},
    )
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.latency_model, config.metrics, config.metrics_names) == (
        "qwen2.5-0.5b-l4",
        False,
        ("vllm",),
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


# --- validate: every kind of file, recognised by what it holds -------------------------------

PROFILE = "extends: openai\nname: acme\nchat_paths: [/gateway/chat]\nauth:\n  headers: [api-key]\n"
KEYS = "keys:\n  - key: ak_1\n    credits: 5\nprices:\n  '*': { prompt: 1, completion: 2 }\n"
CASSETTE = ROOT / "tests" / "data" / "cassettes" / "foreign" / "sse_one_body.yaml"


def test_validate_recognises_each_kind_and_says_what_it_holds(tmp_path: Path):
    (tmp_path / "s.yaml").write_text("rules:\n  - reply: {content: x}\n  - reply: {content: y}\n")
    (tmp_path / "acme.yaml").write_text(PROFILE)
    (tmp_path / "keys.yaml").write_text(KEYS)
    cassette = tmp_path / "c.yaml"
    cassette.write_text(CASSETTE.read_text())
    names = [str(tmp_path / n) for n in ("s.yaml", "acme.yaml", "keys.yaml", "c.yaml")]
    result = run("validate", *names)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ok: 2 rules in 1 file(s)",
        f"ok: {tmp_path / 'acme.yaml'}: profile, 'acme', chat at /gateway/chat",
        f"ok: {tmp_path / 'keys.yaml'}: keys file, 1 key, 1 price",
        f"ok: {cassette}: cassette, 1 interaction",
    ]


def test_validate_a_folder_checks_every_file_by_its_kind(tmp_path: Path):
    (tmp_path / "rules.yaml").write_text("rules:\n  - reply: {content: x}\n")
    (tmp_path / "keys.yaml").write_text("keys:\n  - key: ak_1\n    rpm: 0\n")
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{tmp_path / 'keys.yaml'}:3: keys[0].rpm: expected a value >= 1, found 0",
        "1 problem(s)",
    ]


def test_validate_a_profile_names_file_line_and_field(tmp_path: Path):
    broken = tmp_path / "acme.yaml"
    broken.write_text(PROFILE.replace("headers:", "header:").replace("/gateway", "gateway"))
    result = run("validate", str(broken))
    assert result.exit_code == 1
    assert (
        f"{broken}:5: auth.header: unknown key 'header'; did you mean 'headers'?" in result.output
    )
    # Once the shape is right, the meaning is checked.
    broken.write_text(PROFILE.replace("/gateway", "gateway"))
    result = run("validate", str(broken))
    assert result.exit_code == 1
    assert f"{broken}:3: chat_paths[0]: a path must start with '/', found 'gateway/chat'" in (
        result.output
    )


def test_validate_a_keys_file_names_file_line_and_field(tmp_path: Path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - key: ak_1\n  - kee: ak_2\nprices:\n  '*': { prompt: a }\n")
    result = run("validate", str(keys))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{keys}:3: keys[1].kee: unknown key 'kee'; did you mean 'key'? " in lines[0]
    assert f"{keys}:3: keys[1]: missing required key 'key'" in lines
    assert f"{keys}:5: prices.*.prompt: expected a number, found a string" in lines
    keys.write_text("keys:\n  - key: ak_1\n  - key: ak_1\n")
    result = run("validate", str(keys))
    assert f"{keys}:3: keys[1].key: duplicate key (also keys[0])" in result.output


def test_validate_a_cassette_names_file_line_and_field(tmp_path: Path):
    cassette = tmp_path / "c.yaml"
    text = CASSETTE.read_text()
    cassette.write_text(
        text.replace("    method: POST", "    methd: POST").replace("code: 200", "code: 700")
    )
    result = run("validate", str(cassette))
    assert result.exit_code == 1, result.output
    found = result.output.splitlines()
    assert any(
        line.startswith(f"{cassette}:")
        and "interactions[0].request.methd: unknown key 'methd'; did you mean 'method'?" in line
        for line in found
    ), found
    assert any("interactions[0].request: missing required key 'method'" in x for x in found)
    assert any(
        "interactions[0].response.status.code: expected a value <= 599, found 700" in x
        for x in found
    ), found


def test_validate_a_cassette_whose_timing_does_not_fit_its_body(tmp_path: Path):
    cassette = tmp_path / "timed.yaml"
    cassette.write_text(
        "interactions:\n- request:\n    method: POST\n    uri: http://x/v1/chat/completions\n"
        "    body: '{}'\n  response:\n    status: {code: 200, message: OK}\n"
        "    headers: {content-type: [text/event-stream]}\n"
        '    body: {string: "data: {}\\n\\ndata: [DONE]\\n\\n"}\n'
        '    mockllm: {events: "0.1:10 0.2:10"}\nversion: 1\n'
    )
    result = run("validate", str(cassette))
    assert result.exit_code == 1
    assert (
        f"{cassette}:10: interactions[0].response.mockllm.events: the event sizes do not add "
        in (result.output)
    )
    cassette.write_text(
        cassette.read_text().replace("0.1:10", "0.1:10").replace("0.2:10", "0.2:14")
    )
    assert run("validate", str(cassette)).exit_code == 0


def test_validate_takes_the_kind_from_an_option(tmp_path: Path):
    odd = tmp_path / "gateway.conf"  # not a YAML name, and holding a keys file
    odd.write_text(KEYS)
    assert run("validate", "--keys", str(odd)).output.startswith(f"ok: {odd}: keys file")
    as_profile = run("validate", "--profile", str(odd))
    assert as_profile.exit_code == 1
    assert f"{odd}:1: keys: unknown key 'keys'" in as_profile.output
    assert run("validate", "--profile", "tokenhub").exit_code == 0  # a built-in, by name
    assert run("validate").exit_code == 2  # nothing to check is a usage error


# --- profiles ---------------------------------------------------------------------------------


def test_profiles_lists_every_builtin_with_paths_auth_and_balance():
    result = run("profiles")
    assert result.exit_code == 0
    blocks = {b.split(":", 1)[0]: b for b in result.output.strip().split("\n\n")}
    assert set(blocks) == {"ainative", "nextapi", "openai", "qingcheng", "tokenhub", "vllm"}
    assert blocks["ainative"].splitlines() == [
        "ainative: AINative Studio",
        "  chat paths: /v1/public/chat/completions, /v1/chat/completions",
        "  key:        X-API-Key: <key> or Authorization: Bearer <key> (required)",
        "  balance:    GET /api/v1/public/credits/balance",
    ]
    assert "  headers:    X-AI-Provider (required)" in blocks["qingcheng"]
    assert "  balance:    none" in blocks["openai"]


def test_profiles_shows_a_profile_file_and_refuses_an_unknown_name(tmp_path: Path):
    (tmp_path / "acme.yaml").write_text(PROFILE)
    shown = run("profiles", str(tmp_path / "acme.yaml"))
    assert shown.output.splitlines()[:3] == [
        "acme",
        "  chat paths: /gateway/chat",
        "  key:        api-key: <key> (optional without a keys file)",
    ]
    unknown = run("profiles", "nosuch")
    assert unknown.exit_code == 1
    assert "unknown profile 'nosuch'; built-in profiles: ainative," in unknown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["serve", "--record-mode", "once"],
            "mockllm: record mode 'once' needs an upstream to record from: pass --upstream URL",
        ),
        (
            ["record"],
            "mockllm: record mode 'all' needs an upstream to record from: pass --upstream URL",
        ),
        (
            ["record", "--upstream", "http://127.0.0.1:9"],
            "mockllm: an upstream needs a cassettes folder to record into: pass --cassettes DIR",
        ),
        (
            ["serve", "--cassette", "demo"],
            "mockllm: the cassette 'demo' needs a cassettes folder: pass --cassettes DIR",
        ),
        # The replay normalisers are checked with or without a cassettes folder.
        (
            ["serve", "--normalize-regex", "(", "x"],
            "mockllm: --normalize-regex: invalid regex '(': missing ), unterminated subpattern",
        ),
        (
            ["serve", "--normalize-regex", "a", "\\9"],
            "mockllm: --normalize-regex: replacement '\\\\9' for regex 'a': invalid group",
        ),
        (
            ["serve", "--ignore-field", "messages["],
            "mockllm: --ignore-field: JSON path 'messages[' is not valid",
        ),
    ],
)
def test_settings_that_do_not_fit_together_exit_1(args: list[str], message: str):
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_normalisers_without_cassettes_are_said_to_do_nothing(caplog: pytest.LogCaptureFixture):
    from unittest import mock

    import mockllm.cli as cli
    from mockllm.config import ServerConfig

    config = ServerConfig(normalize=("uuid",), ignore_fields=("user",))
    with caplog.at_level("WARNING", logger="mockllm"):
        assert cli._check(config) is None
    assert "--ignore-field, --normalize: no effect without --cassettes DIR" in caplog.text
    caplog.clear()
    with mock.patch.object(ServerConfig, "missing", return_value=None):
        assert cli._check(ServerConfig(normalize=("uuid",), cassettes=Path("c"))) is None
    assert "no effect" not in caplog.text


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--port", "70000"], {}, "'--port': 70000 is not in the range 0<=x<=65535"),
        ([], {"MOCKLLM_PORT": "-1"}, "'--port': -1 is not in the range 0<=x<=65535"),
        (["--freeze-time", "nan"], {}, "'--freeze-time': 'nan' is not a number"),
        (["--freeze-time", "1e30"], {}, "'--freeze-time': 1e+30 is not in the range"),
        (["--max-body-bytes", "-5"], {}, "'--max-body-bytes': -5 is not in the range x>=1"),
        (["--ttft-ms", "-3"], {}, "'--ttft-ms': -3.0 is not in the range"),
        (["--hang-max-s", "-1"], {}, "'--hang-max-s': -1.0 is not in the range"),
    ],
)
def test_numbers_out_of_their_range_are_usage_errors(
    args: list[str], env: dict[str, str], named: str
):
    result = run("serve", *args, env=env)
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert "Traceback" not in result.output


def test_a_file_named_twice_is_validated_once(tmp_path: Path):
    bad = tmp_path / "greet.yaml"
    bad.write_text("rules:\n  - reply: {content: x, latency: {ttft: 1}}\n")
    result = run("validate", str(bad), str(bad), str(tmp_path / "." / "greet.yaml"))
    assert result.exit_code == 1
    assert result.output.count("unknown key 'ttft'") == 1
    good = tmp_path / "ok"
    good.mkdir()
    (good / "one.yaml").write_text("rules:\n  - reply: {content: x}\n  - reply: {content: y}\n")
    result = run("validate", str(good), str(good / "one.yaml"))
    assert result.exit_code == 0 and "ok: 2 rules in 1 file(s)" in result.output


def test_validate_a_folder_without_files_fails(tmp_path: Path):
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    assert f"no scenario, profile, keys or cassette files found in {tmp_path}" in result.output
