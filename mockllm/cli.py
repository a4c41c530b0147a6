"""The command line: serve, record, validate, profiles, schema, cassette to-scenario, --version.

Thin: flags → ServerConfig → server; files → their loaders; errors → exit codes.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import click

from mockllm import __version__
from mockllm.config import ServerConfig
from mockllm.errors import ConfigError, MockLLMError, ProfileError, ScenarioError

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_DRIFT = 1  # cassette check: a recording no longer has the API's shape
EXIT_STARTUP = 3

logger = logging.getLogger("mockllm")


class _Finite(click.FloatRange):
    """A number within bounds; `nan` is refused too (it compares false with any bound)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number.", param, ctx)
        return float(number)


PORT = click.IntRange(0, 65535)
MILLISECONDS = _Finite(0, 3_600_000)
UNIX_TIME = _Finite(0, 253_402_300_799)  # the last second of the year 9999


def _env(name: str) -> str:
    return f"MOCKLLM_{name.upper().replace('-', '_')}"


def _serve_options(func: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option(
            "--host",
            default="127.0.0.1",
            show_default=True,
            envvar=_env("host"),
            help="Address to bind.",
        ),
        click.option(
            "--port",
            default=8000,
            show_default=True,
            type=PORT,
            envvar=_env("port"),
            help="Port to listen on (0: any free port).",
        ),
        click.option(
            "--scenarios",
            "scenarios",
            multiple=True,
            envvar=_env("scenarios"),
            type=click.Path(path_type=Path),
            help="Scenario file or folder (repeatable). None: only the default generator.",
        ),
        click.option(
            "--seed",
            default=0,
            show_default=True,
            type=int,
            envvar=_env("seed"),
            help="Global seed mixed into every generated value.",
        ),
        click.option(
            "--strict",
            is_flag=True,
            envvar=_env("strict"),
            help="A request no rule matches is an error naming the closest rules.",
        ),
        click.option(
            "--freeze-time",
            "freeze_time",
            type=UNIX_TIME,
            default=None,
            envvar=_env("freeze_time"),
            help="Stop the clock at this Unix time (created, date, rate limits): same bytes.",
        ),
        click.option(
            "--log-level",
            default="info",
            show_default=True,
            envvar=_env("log_level"),
            type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
        ),
        click.option(
            "--log-format",
            default="text",
            show_default=True,
            envvar=_env("log_format"),
            type=click.Choice(["text", "json"]),
        ),
        click.option(
            "--model",
            "models",
            multiple=True,
            envvar=[_env("model"), _env("models")],
            help="Extra model id or glob the default generator answers (repeatable).",
        ),
        click.option(
            "--locale",
            default=None,
            envvar=_env("locale"),
            help="Faker locale of generated text (default: the prompt's language).",
        ),
        click.option(
            "--ttft-ms",
            default=0.0,
            show_default=True,
            type=MILLISECONDS,
            envvar=_env("ttft_ms"),
            help="Default time to first token for replies without latency.",
        ),
        click.option(
            "--inter-token-ms",
            default=0.0,
            show_default=True,
            type=MILLISECONDS,
            envvar=_env("inter_token_ms"),
            help="Default gap between stream deltas.",
        ),
        click.option(
            "--jitter-ms",
            default=0.0,
            show_default=True,
            type=MILLISECONDS,
            envvar=_env("jitter_ms"),
            help="Default seeded jitter added to each gap.",
        ),
        click.option(
            "--latency-model",
            "latency_model",
            default="none",
            show_default=True,
            envvar=_env("latency_model"),
            help="A loaded model server's pace and capacity: a preset "
            "(llama-3.1-8b-h100, qwen2.5-0.5b-l4), none, or a YAML file (docs/load.md).",
        ),
        click.option(
            "--metrics/--no-metrics",
            "metrics",
            default=True,
            show_default=True,
            envvar=_env("metrics"),
            help="Serve Prometheus metrics at GET /metrics.",
        ),
        click.option(
            "--metrics-names",
            "metrics_names",
            multiple=True,
            type=click.Choice(["vllm"]),
            envvar=_env("metrics_names"),
            help="Also expose the figures under another server's metric names (repeatable).",
        ),
        click.option(
            "--embedding-dimensions",
            default=1536,
            show_default=True,
            type=click.IntRange(1, 16384),
            envvar=_env("embedding_dimensions"),
            help="Vector size of embedding models whose size mockllm does not know.",
        ),
        click.option(
            "--max-body-bytes",
            default=8 * 1024 * 1024,
            show_default=True,
            type=click.IntRange(1),
            envvar=_env("max_body_bytes"),
            help="Largest request body accepted (413 past it).",
        ),
        click.option(
            "--max-n",
            default=128,
            show_default=True,
            type=click.IntRange(1),
            envvar=_env("max_n"),
            help="Largest `n` accepted.",
        ),
        click.option(
            "--max-output-tokens",
            default=None,
            type=click.IntRange(1),
            envvar=_env("max_output_tokens"),
            help="Cap on generated tokens for every model; a larger max_tokens is a 400. "
            "Default: each model's own limit (the model catalogue).",
        ),
        click.option(
            "--lenient",
            is_flag=True,
            envvar=_env("lenient"),
            help="Accept what the real API refuses: unknown arguments, parameters a model "
            "does not take, invalid or unenforceable schemas, unpaired tool calls and "
            "replies, prompts and max_tokens past a model's limits.",
        ),
        click.option(
            "--journal-size",
            default=1000,
            show_default=True,
            type=click.IntRange(0),
            envvar=_env("journal_size"),
            help="Exchanges kept in the journal.",
        ),
        click.option(
            "--admin-token",
            default=None,
            envvar=_env("admin_token"),
            help="Require this token (Authorization: Bearer) on the admin API.",
        ),
        click.option(
            "--admin-remote",
            is_flag=True,
            envvar=_env("admin_remote"),
            help="Let non-loopback callers use the admin API without a token.",
        ),
        click.option(
            "--no-reload",
            "no_reload",
            is_flag=True,
            envvar=_env("no_reload"),
            help="Do not reload scenario, profile and keys files when they change.",
        ),
        click.option(
            "--workers",
            default=1,
            show_default=True,
            type=click.IntRange(1),
            envvar=_env("workers"),
            help="Processes on one port. Without --state each keeps its own state "
            "(sequences, credits, journal); with it they share it.",
        ),
        click.option(
            "--state",
            default=None,
            envvar=_env("state"),
            help="Where state lives: memory (default), or redis://[:PASSWORD@]HOST:PORT/DB "
            "(rediss:// for TLS) shared by every process and replica using it.",
        ),
        click.option(
            "--state-prefix",
            default="mockllm:",
            show_default=True,
            envvar=_env("state_prefix"),
            help="Prefix of this server's keys in a shared --state store.",
        ),
        click.option(
            "--cassettes",
            type=click.Path(path_type=Path),
            default=None,
            envvar=_env("cassettes"),
            help="Cassettes folder: replayed, and recorded into.",
        ),
        click.option(
            "--cassette",
            default=None,
            envvar=_env("cassette"),
            help="Cassette name (relative to --cassettes) for the whole run.",
        ),
        click.option(
            "--record-mode",
            default="none",
            show_default=True,
            envvar=_env("record_mode"),
            type=click.Choice(["none", "once", "new_episodes", "all"]),
        ),
        click.option(
            "--upstream",
            default=None,
            envvar=_env("upstream"),
            help="Base URL of the real API to record from (fixed; requests cannot change it).",
        ),
        click.option(
            "--replay-speed",
            default=1.0,
            show_default=True,
            type=click.FloatRange(0),
            envvar=_env("replay_speed"),
            help="Replay this many times faster than recorded (0: no delays).",
        ),
        click.option(
            "--ignore-field",
            "ignore_fields",
            multiple=True,
            envvar=[_env("ignore_field"), _env("ignore_fields")],
            help="Request body JSON path replay matching ignores, e.g. user,"
            " metadata.session_id, messages[*].name (repeatable).",
        ),
        click.option(
            "--normalize",
            "normalize",
            multiple=True,
            envvar=_env("normalize"),
            type=click.Choice(["uuid", "iso_timestamp", "epoch", "temp_path"]),
            help="Built-in normaliser applied to every string of a request body before it is"
            " matched against recordings (repeatable).",
        ),
        click.option(
            "--normalize-regex",
            "normalize_regex",
            multiple=True,
            nargs=2,
            metavar="PATTERN REPLACEMENT",
            envvar=_env("normalize_regex"),
            help="Rewrite what an RE2 regex finds in request bodies before matching (repeatable).",
        ),
        click.option(
            "--cassettes-skip-unreadable",
            "cassettes_skip_unreadable",
            is_flag=True,
            envvar=_env("cassettes_skip_unreadable"),
            help="Serve the cassettes that can be read; warn about and list the others.",
        ),
        click.option(
            "--allow-playback-repeats/--no-allow-playback-repeats",
            "allow_playback_repeats",
            default=True,
            envvar=_env("allow_playback_repeats"),
            help="Once a request's recorded answers are played (in order), repeat the last "
            "(the default); --no-allow-playback-repeats makes another such request a miss, "
            "as vcrpy does by default.",
        ),
        click.option(
            "--cassettes-keep-format",
            "cassettes_keep_format",
            is_flag=True,
            envvar=_env("cassettes_keep_format"),
            help="Record into an existing cassette in its own dialect (parsed bodies, no"
            " version), not mockllm's.",
        ),
        click.option(
            "--scrub-header",
            "scrub_headers",
            multiple=True,
            envvar=[_env("scrub_header"), _env("scrub_headers")],
            help="Extra header removed from recordings (repeatable).",
        ),
        click.option(
            "--scrub-path",
            "scrub_paths",
            multiple=True,
            envvar=[_env("scrub_path"), _env("scrub_paths")],
            help="JSON body path removed from recordings, e.g. metadata.email (repeatable).",
        ),
        click.option(
            "--cassette-miss",
            default="error",
            show_default=True,
            envvar=_env("cassette_miss"),
            type=click.Choice(["error", "fallthrough"]),
            help="A request no interaction matches: an error, or on to the generator.",
        ),
        click.option(
            "--profile",
            default="openai",
            show_default=True,
            envvar=_env("profile"),
            help="Gateway dialect: openai, ainative, tokenhub, nextapi, qingcheng, or a file.",
        ),
        click.option(
            "--keys",
            type=click.Path(path_type=Path),
            default=None,
            envvar=_env("keys"),
            help="Keys file: API keys, credits, rate limits, prices (default: any key).",
        ),
        click.option(
            "--body-timeout-s",
            default=30.0,
            show_default=True,
            type=click.FloatRange(0.1),
            envvar=_env("body_timeout_s"),
            help="Headers or body not received in this time: 408, or the connection closed.",
        ),
        click.option(
            "--hang-max-s",
            default=300.0,
            show_default=True,
            type=_Finite(0, 86_400),
            envvar=_env("hang_max_s"),
            help="Longest a `hang` fault holds a connection.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mockllm")
def main() -> None:
    """mockllm: a local server that speaks the APIs of LLM services (OpenAI's Chat
    Completions, Responses, embeddings and legacy Completions, Anthropic's Messages) and
    answers from scenarios, cassettes and a default generator."""


def _config(options: dict[str, object]) -> ServerConfig:
    return ServerConfig(
        host=str(options["host"]),
        port=int(options["port"]),  # type: ignore[call-overload]
        scenarios=tuple(options["scenarios"]),  # type: ignore[arg-type]
        seed=int(options["seed"]),  # type: ignore[call-overload]
        strict=bool(options["strict"]),
        freeze_time=options["freeze_time"],  # type: ignore[arg-type]
        log_level=str(options["log_level"]),
        log_format=options["log_format"],  # type: ignore[arg-type]
        models=tuple(options["models"]),  # type: ignore[arg-type]
        ttft_ms=float(options["ttft_ms"]),  # type: ignore[arg-type]
        inter_token_ms=float(options["inter_token_ms"]),  # type: ignore[arg-type]
        jitter_ms=float(options["jitter_ms"]),  # type: ignore[arg-type]
        embedding_dimensions=int(options["embedding_dimensions"]),  # type: ignore[call-overload]
        max_body_bytes=int(options["max_body_bytes"]),  # type: ignore[call-overload]
        max_n=int(options["max_n"]),  # type: ignore[call-overload]
        max_output_tokens=options["max_output_tokens"],  # type: ignore[arg-type]
        lenient=bool(options["lenient"]),
        journal_size=int(options["journal_size"]),  # type: ignore[call-overload]
        hang_max_s=float(options["hang_max_s"]),  # type: ignore[arg-type]
        body_timeout_s=float(options["body_timeout_s"]),  # type: ignore[arg-type]
        admin_token=options["admin_token"] or None,  # type: ignore[arg-type]
        admin_remote=bool(options["admin_remote"]),
        reload=not options["no_reload"],
        workers=int(options["workers"]),  # type: ignore[call-overload]
        locale=options["locale"] or None,  # type: ignore[arg-type]
        cassettes=options["cassettes"],  # type: ignore[arg-type]
        cassette=options["cassette"] or None,  # type: ignore[arg-type]
        record_mode=options["record_mode"],  # type: ignore[arg-type]
        upstream=options["upstream"] or None,  # type: ignore[arg-type]
        replay_speed=float(options["replay_speed"]),  # type: ignore[arg-type]
        ignore_fields=tuple(options["ignore_fields"]),  # type: ignore[arg-type]
        normalize=tuple(options["normalize"]),  # type: ignore[arg-type]
        normalize_regex=tuple(
            (str(p[0]), str(p[1]))
            for p in options["normalize_regex"]  # type: ignore[attr-defined]
        ),
        cassettes_skip_unreadable=bool(options["cassettes_skip_unreadable"]),
        allow_playback_repeats=bool(options["allow_playback_repeats"]),
        cassettes_keep_format=bool(options["cassettes_keep_format"]),
        scrub_headers=tuple(options["scrub_headers"]),  # type: ignore[arg-type]
        scrub_paths=tuple(options["scrub_paths"]),  # type: ignore[arg-type]
        cassette_miss=str(options["cassette_miss"]),
        profile=str(options["profile"]),
        keys=options["keys"],  # type: ignore[arg-type]
        state=options["state"] or None,  # type: ignore[arg-type]
        state_prefix=str(options["state_prefix"]),
        latency_model=str(options["latency_model"]),
        metrics=bool(options["metrics"]),
        metrics_names=tuple(options["metrics_names"]),  # type: ignore[arg-type]
    )


_FLAGS = {"upstream": "--upstream URL", "cassettes": "--cassettes DIR"}


def _check(config: ServerConfig) -> str | None:
    """What makes no sense in these settings together (and the flag that fixes it), or None."""
    missing = config.missing()
    if missing is not None:
        setting, why = missing
        return f"{why}: pass {_FLAGS[setting]}"
    problem = _check_normalizers(config)
    if problem:
        return problem
    if config.locale is not None:
        from mockllm.fake import check_locale

        problem = check_locale(config.locale)
        if problem:
            return f"--locale: {problem}"
    return None


def _check_normalizers(config: ServerConfig) -> str | None:
    """What is wrong with the replay normalisers' flags, naming the flag; they are checked
    whether or not a cassettes folder is given (else a typo waits for the day one is)."""
    from mockllm.normalize import Normalizer

    parts = (
        ("--ignore-field", {"ignore": config.ignore_fields}),
        ("--normalize-regex", {"regexes": config.normalize_regex}),
    )
    for flag, given in parts:
        try:
            Normalizer.build(**given)
        except ConfigError as exc:
            return f"{flag}: {exc}"
    unused = [flag for flag, given in parts if any(given.values())]
    if config.normalize:
        unused.append("--normalize")
    if unused and config.cassettes is None:
        logger.warning(
            "%s: no effect without --cassettes DIR (they change how requests are matched "
            "against recordings)",
            ", ".join(unused),
        )
    return None


def _run(config: ServerConfig) -> None:
    from mockllm.server import MockServer, prepare_loading, setup_logging

    setup_logging(config.log_level, config.log_format)
    problem = _check(config)
    if problem:
        click.echo(f"mockllm: {problem}", err=True)
        sys.exit(EXIT_CONFIG)
    prepare_loading()
    try:
        server = MockServer(config)
    except ScenarioError as exc:
        what = (
            "the profile or keys file does not"
            if isinstance(exc, ProfileError)
            else ("scenarios do not")
        )
        click.echo(f"mockllm: {what} validate ({len(exc.problems)} problem(s)):", err=True)
        for item in exc.problems:
            click.echo(f"  {item}", err=True)
        sys.exit(EXIT_CONFIG)
    except MockLLMError as exc:
        click.echo(f"mockllm: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    if config.workers > 1 and not server.app.engine.store.is_shared:
        logger.warning(
            "%d workers without --state: each process keeps its own state (sequence "
            "counters, credits, rate limits, journal, run-time rules, and what clients "
            "store: responses, conversations, chat completions; one stored on a process "
            "is not found on another); use --state redis://HOST:PORT/DB to share it",
            config.workers,
        )
    try:
        server.run()
    except OSError as exc:
        click.echo(f"mockllm: cannot start: {exc}", err=True)
        sys.exit(EXIT_STARTUP)


@main.command()
@_serve_options
def serve(**options: object) -> None:
    """Serve every API family from scenarios, cassettes and the default generator."""
    _run(_config(options))


@main.command()
@_serve_options
def record(**options: object) -> None:
    """Serve as a proxy to --upstream, recording every exchange into --cassettes."""
    if options["record_mode"] == "none":
        options["record_mode"] = "all"
    _run(_config(options))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Check this file as a profile, whatever it holds (repeatable).",
)
@click.option(
    "--keys",
    "keys",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Check this file as a keys file (repeatable).",
)
@click.option(
    "--cassette",
    "cassettes",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Check this file as a cassette (repeatable).",
)
def validate(
    paths: tuple[Path, ...],
    profiles: tuple[Path, ...],
    keys: tuple[Path, ...],
    cassettes: tuple[Path, ...],
) -> None:
    """Check scenario, profile, keys and cassette files (folders: their YAML files).

    Each file is recognised by its top-level keys (rules, extends/chat_paths/auth, keys,
    interactions), or named with an option. Every problem is printed as file:line: field:
    message; the exit code is 1 if there is any.
    """
    from mockllm.validate import check_files, describe

    forced = [
        *((p, "profile") for p in profiles),
        *((p, "keys") for p in keys),
        *((p, "cassette") for p in cassettes),
    ]
    if not paths and not forced:
        raise click.UsageError("name at least one file or folder to check")
    results = check_files(paths, forced)  # type: ignore[arg-type]
    if not results:  # a folder with no YAML in it: a path that is probably wrong
        named = ", ".join(str(p) for p in paths)
        click.echo(f"no scenario, profile, keys or cassette files found in {named}", err=True)
        sys.exit(EXIT_CONFIG)
    problems = [problem for result in results for problem in result.problems]
    if problems:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(EXIT_CONFIG)
    scenarios = [r for r in results if r.kind == "scenario"]
    if scenarios:
        rules = sum(r.rules for r in scenarios)
        click.echo(f"ok: {rules} rules in {len(scenarios)} file(s)")
    for result in results:
        if result.kind != "scenario":
            click.echo(f"ok: {result.path}: {describe(result)}")


@main.command()
@click.argument("names", nargs=-1)
def profiles(names: tuple[str, ...]) -> None:
    """List the built-in gateway profiles (or the named profiles or profile files)."""
    from mockllm.profiles import builtin_profiles, describe_profile, load_profile

    try:
        loaded = [load_profile(name) for name in names or builtin_profiles()]
    except ScenarioError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_CONFIG)
    click.echo("\n\n".join(describe_profile(profile) for profile in loaded))


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    from mockllm.loader import scenario_schema

    click.echo(json.dumps(scenario_schema(), indent=2))


@main.group()
def cassette() -> None:
    """Work with recorded cassettes."""


@cassette.command("to-scenario")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def to_scenario(file: Path) -> None:
    """Print a scenario with one rule per recorded interaction of FILE."""
    from mockllm.cassettes import load_cassette
    from mockllm.convert import cassette_to_scenario

    try:
        interactions = load_cassette(file, file.name)
    except MockLLMError as exc:
        click.echo(f"mockllm: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(cassette_to_scenario(interactions, str(file)), nl=False)


@cassette.command("check")
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--upstream",
    required=True,
    envvar=_env("upstream"),
    help="Base URL of the real API, e.g. https://api.openai.com/v1.",
)
@click.option(
    "--format",
    "form",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="A report for people, or JSON for CI.",
)
@click.option(
    "--key-env",
    default=None,
    help="Environment variable holding the API key (default: OPENAI_API_KEY, and"
    " ANTHROPIC_API_KEY for /v1/messages). The key is sent, never stored or printed.",
)
@click.option(
    "--timeout-s",
    default=120.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Longest wait for one answer.",
)
def check(path: Path, upstream: str, form: str, key_env: str | None, timeout_s: float) -> None:
    """Send every recorded request under PATH to --upstream again; report shape drift.

    Sent: the model calls, the models list and token counts (not the calls that change or
    name what the API stores). Compared: status, JSON keys (values are not), stream event
    types in order, and the header names clients read. Exit 1 when anything drifted or failed.
    """
    import asyncio

    from mockllm import drift
    from mockllm.cassettes import cassette_files, read_cassette
    from mockllm.upstream import Upstream

    files = [path] if path.is_file() else cassette_files(path)
    base = path.parent if path.is_file() else path
    interactions, unreadable, skipped = [], [], 0
    for file in files:
        try:
            cassette = read_cassette(file, file.relative_to(base).as_posix())
        except MockLLMError as exc:
            unreadable.append(str(exc))
            continue
        for interaction in cassette.interactions:
            if drift.is_checkable(interaction):
                interactions.append(interaction)
            else:
                skipped += 1

    async def run_all() -> list[drift.Check]:
        async with Upstream(upstream, timeout_s=timeout_s) as client:
            return [
                await drift.check_one(i, client, drift.key_for(i, key_env)) for i in interactions
            ]

    try:
        checks = asyncio.run(run_all())
    except MockLLMError as exc:
        click.echo(f"mockllm: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    if form == "json":
        click.echo(json.dumps(drift.report_json(checks, skipped, unreadable), indent=2))
    else:
        click.echo(drift.report_text(checks, skipped, unreadable))
    if unreadable or any(c.outcome != "ok" for c in checks):
        sys.exit(EXIT_DRIFT)
