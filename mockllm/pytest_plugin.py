"""pytest plugin: a mockllm server per session, a `mockllm` handle per test.

    def test_refund(mockllm):
        mockllm.add_rules('''
        rules:
          - name: refund
            match: { last_user: { contains: refund } }
            reply: { content: "Refund sent." }
        ''')
        client = OpenAI(base_url=mockllm.base_url, api_key="test")
        ...
        mockllm.assert_called(rule="refund", times=1)

`@pytest.mark.mockllm(scenarios=..., cassette=..., record_mode=..., profile=..., keys=...,
fail_unanswered=...)` sets up one test; override the `mockllm_config` fixture to change the session
server's settings; command-line options: --mockllm-record-mode, --mockllm-upstream,
--mockllm-cassettes, --mockllm-fail-unanswered, --mockllm-state.

Each test has its own cassette, as pytest-recording lays them out: `{module}/{test}.yaml`
under the cassettes folder (`{Class}.{test}` in a class; characters a file name cannot hold
become `-`). A test records into it, and replays from it once it exists; `cassette=` on the
marker names another. Record mode `rewrite` deletes the test's cassette (once per run) and
records it again.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from mockllm.config import RecordMode, ServerConfig
    from mockllm.server import MockServer

MARKER = (
    "mockllm(scenarios=None, cassette=None, record_mode=None, profile=None, keys=None, "
    "fail_unanswered=None): scenario files (or folders) loaded for this test, the cassette it "
    "replays or records (default: {module}/{test}.yaml), its record mode (none, once, "
    "new_episodes, all, rewrite), gateway profile and keys file, and whether a request no rule "
    "or cassette answered fails it (`strict=` is the former spelling)"
)
VCR_MARKER = (
    "vcr: pytest-recording's marker, declared by mockllm while pytest-recording is not "
    "installed; a test's own cassette ({module}/{test}.yaml) is used with or without it"
)
RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")
MARKER_KEYS = ("scenarios", "cassette", "record_mode", "profile", "keys", "fail_unanswered")
# Characters a cassette's file name cannot hold, as pytest-recording replaces them.
_NOT_IN_NAMES = str.maketrans(dict.fromkeys("<>?%*:|\"'/\\", "-"))
_SUFFIXES = (".yaml", ".yml", ".json", ".yaml.gz")  # gzipped: as LangChain's suites
_SHOWN = 10  # rules or near misses an assertion's message lists
_rewritten: dict[int, set[str]] = {}  # per session server: cassettes already deleted this run
# Where this run's mockllm servers listen, as (host, port): pytest-recording's cassettes
# leave requests to them alone (`pytest_recording_configure`).
_served: set[tuple[str, int]] = set()
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockllm")
    group.addoption(
        "--mockllm-record-mode",
        default=None,
        choices=RECORD_MODES,
        help="record mode of the mockllm session server (needs --mockllm-upstream); rewrite:"
        " delete each test's cassette and record it again",
    )
    group.addoption("--mockllm-upstream", default=None, help="real API base URL to record from")
    group.addoption(
        "--mockllm-cassettes", default=None, help="cassettes folder of the mockllm session server"
    )
    group.addoption(
        "--mockllm-state",
        default=None,
        help="state store of the mockllm session server: a redis:// URL shares sequences, "
        "credits, rate limits, the journal and run-time rules with other mockllm processes",
    )
    group.addoption(
        "--mockllm-fail-unanswered",
        "--mockllm-strict",
        dest="mockllm_fail_unanswered",
        action="store_true",
        default=False,
        help="fail a test that sent a request no rule or cassette answered "
        "(--mockllm-strict is the former spelling)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    if not config.pluginmanager.hasplugin("recording"):
        # A suite moving from pytest-recording keeps its marks (and --strict-markers): each
        # test already has its own cassette, named as that plugin names it.
        config.addinivalue_line("markers", VCR_MARKER)


class MockLLM:
    """The handle a test gets: where the server is, and its rules and journal."""

    def __init__(self, server: MockServer) -> None:
        self.server = server
        self.engine = server.app.engine
        self.runtime = server.app.runtime
        self._base_gateway = server.app.gateway

    @property
    def base_url(self) -> str:
        """`…/v1`: what to give an OpenAI client as `base_url`."""
        return self.server.base_url

    @property
    def url(self) -> str:
        """The server's root: what to give an Anthropic client as `base_url` (it adds `/v1`)."""
        return self.server.url

    @property
    def inspector_url(self) -> str:
        """The inspector page: open it (at a breakpoint, say) to watch the exchanges."""
        return self.server.url + "/__admin/ui"

    def add_rules(self, *documents: str | dict[str, Any] | Path) -> None:
        """Add rules from YAML text, a dict (a scenario document or one rule), or a file or
        folder (a `Path`, or a one-line string naming a `.yaml`/`.yml` file or a folder that
        exists: `add_rules("tests/rules.yaml")`).

        A document that does not validate raises `ScenarioError` naming file, line and field,
        shown as raised here: the loader's frames say nothing the message does not."""
        from mockllm.errors import ScenarioError

        __tracebackhide__ = True
        try:
            self._add_rules(documents)
        except ScenarioError as exc:
            raise exc.with_traceback(None) from None

    def _add_rules(self, documents: tuple[str | dict[str, Any] | Path, ...]) -> None:
        from mockllm.loader import load_scenarios, scenario_files

        texts: list[tuple[str, str]] = []
        for document in documents:
            if isinstance(document, str) and _names_a_path(document):
                document = Path(document)
            if isinstance(document, Path):
                load_scenarios([document])  # every problem of the files, named
                texts += [
                    (str(p), p.read_text(encoding="utf-8")) for p in scenario_files([document])
                ]
                continue
            if isinstance(document, dict):
                data = document if "rules" in document else {"rules": [document]}
                texts.append(("<test>", json.dumps({"version": 1, **data})))
            else:
                texts.append(("<test>", document))
        # Kept in the state store: processes sharing it (--state) answer with them too,
        # from the next request on.
        self.runtime.add_rules(texts)
        self.runtime.settle()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The journal: every exchange since the test started, oldest first."""
        journal = self.engine.journal
        return journal.entries() if journal is not None else []

    def calls(self, rule: str | None = None) -> list[dict[str, Any]]:
        """Exchanges answered by a rule (by name or `file#name`), or all of them."""
        if rule is None:
            return self.requests
        return [
            r
            for r in self.requests
            if r["rule"] is not None and (r["rule"] == rule or r["rule"].endswith("#" + rule))
        ]

    def assert_called(self, rule: str | None = None, times: int | None = None) -> None:
        """Fail unless the rule answered (exactly `times` times, when given)."""
        __tracebackhide__ = True  # the failure is shown at the test's own line
        calls = self.calls(rule)
        what = f"rule {rule!r}" if rule else "mockllm"
        why = self._why_not(rule) if rule else ""
        if times is None and not calls:
            raise AssertionError(f"{what} was never called; journal: {self._summary()}{why}")
        if times is not None and len(calls) != times:
            raise AssertionError(
                f"{what} was called {len(calls)} time(s), expected {times}; "
                f"journal: {self._summary()}{why}"
            )

    def assert_not_called(self, rule: str | None = None) -> None:
        __tracebackhide__ = True
        self.assert_called(rule, times=0)

    def unmatched(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["source"] in ("default", "miss")]

    def reset(self) -> None:
        """Journal, sequences and state back to their start; what the test changed undone."""
        self.runtime.remove_rules()
        self.engine.reset()
        self.runtime.choose_cassette(None)
        self.runtime.settle()
        self.engine.record_mode = None
        if self.server.app.gateway is not self._base_gateway:
            self.server.app.use_gateway(self._base_gateway)

    def use_profile(self, profile: str, keys: Path | None = None) -> None:
        """Answer as another gateway profile (and keys file) until the test ends."""
        from mockllm.gateway import Gateway

        frozen = self.engine.config.freeze_time
        self.server.app.use_gateway(Gateway.load(profile, keys, self.engine.store, frozen))

    def use_cassette(self, name: str, record_mode: str | None = None) -> None:
        """Replay (or record into) cassette `name` until the test ends.

        Record mode `rewrite` deletes the cassette first (once per run), then records it
        again as `new_episodes` does."""
        if record_mode == "rewrite":
            self._rewrite(name)
            record_mode = "new_episodes"
        self.runtime.choose_cassette(name)
        self.runtime.settle()
        if record_mode is not None:
            self.engine.record_mode = cast("RecordMode", record_mode)

    def _rewrite(self, name: str) -> None:
        from mockllm.cassettes import resolve_name

        root = self.server.config.cassettes
        done = _rewritten.setdefault(id(self.server), set())
        if root is None or name in done:
            return
        done.add(name)
        resolve_name(root, name).unlink(missing_ok=True)
        if self.engine.library is not None:
            self.engine.library.erase(name)
        proxy = getattr(self.server.app, "proxy", None)
        if proxy is not None:
            proxy.recorder.forget(name)

    def _why_not(self, name: str) -> str:
        """Why the rule `name` did not answer: it is not loaded (and the names that are), or,
        for each request another answered, the conditions of the rule that failed."""
        from mockllm.matchers import check_condition

        loaded = self.engine.rules
        rules = [r for r in loaded if r.ref == name or r.ref.endswith("#" + name)]
        if not rules:
            refs = [r.ref for r in loaded]
            close = difflib.get_close_matches(name, refs + [r.name for r in loaded], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            shown = ", ".join(refs[:_SHOWN]) + (", ..." if len(refs) > _SHOWN else "")
            return f"\nno rule named {name!r} is loaded{hint} (rules: {shown or 'none'})"
        lines = []
        for exchange in self.engine.journal.kept() if self.engine.journal is not None else ():
            conversation = exchange.conversation
            if conversation is None or exchange.rule in [r.ref for r in rules]:
                continue
            for rule in rules:
                results = [check_condition(c, conversation) for c in rule.conditions]
                failed = "; ".join(r.reason for r in results if not r.matched)
                answered = exchange.rule or exchange.source
                lines.append(
                    f"\n  {exchange.method} {exchange.path} {exchange.model} "
                    f"(answered by {answered}): {rule.ref} "
                    + (
                        f"did not match: {failed}"
                        if failed
                        else "matched, but its sequence is "
                        "spent, its probability did not fire or an earlier rule answered"
                    )
                )
        return "\nnear misses:" + "".join(lines[:_SHOWN]) if lines else ""

    def _summary(self) -> str:
        return (
            ", ".join(f"{r['rule'] or r['source']}({r['status']})" for r in self.requests)
            or "empty"
        )


@pytest.fixture(scope="session")
def mockllm_config(pytestconfig: pytest.Config) -> ServerConfig:
    """Settings of the session's server. Override this fixture to change them."""
    from mockllm.config import ServerConfig

    cassettes = pytestconfig.getoption("mockllm_cassettes")
    upstream = pytestconfig.getoption("mockllm_upstream")
    mode = pytestconfig.getoption("mockllm_record_mode") or ("new_episodes" if upstream else "none")
    if mode == "rewrite":
        mode = "new_episodes"  # each test's cassette is deleted first by the fixture
    return ServerConfig(
        port=0,
        cassettes=Path(cassettes) if cassettes else (Path("cassettes") if upstream else None),
        upstream=upstream,
        record_mode=mode,  # type: ignore[arg-type]
    )


def _with_options(config: ServerConfig, pytestconfig: pytest.Config) -> ServerConfig:
    """The command-line options over the config (the default one or the user's override)."""
    changes: dict[str, Any] = {"port": 0}
    state = pytestconfig.getoption("mockllm_state")
    if state:
        changes["state"] = state
    upstream = pytestconfig.getoption("mockllm_upstream")
    cassettes = pytestconfig.getoption("mockllm_cassettes")
    mode = pytestconfig.getoption("mockllm_record_mode")
    if upstream:
        changes["upstream"] = upstream
    if cassettes:
        changes["cassettes"] = Path(cassettes)
    if mode:
        changes["record_mode"] = "new_episodes" if mode == "rewrite" else mode
    config = replace(config, **changes)
    if config.upstream and config.cassettes is None:
        config = replace(config, cassettes=Path("cassettes"))
    _fail_on(config, "mockllm")
    return config


_OPTIONS = {"upstream": "--mockllm-upstream URL", "cassettes": "--mockllm-cassettes DIR"}


def _fail_on(config: ServerConfig, where: str) -> None:
    """Fail the test (or session) when the config lacks a setting it needs, saying how to
    give it."""
    missing = config.missing()
    if missing is not None:
        setting, why = missing
        hint = f"pass {_OPTIONS[setting]} or set {setting} in mockllm_config"
        pytest.fail(f"{where}: {why}: {hint}", pytrace=False)


@pytest.fixture(scope="session")
def mockllm_server(
    mockllm_config: ServerConfig, pytestconfig: pytest.Config
) -> Iterator[MockServer]:
    """The session's server, on a free loopback port, in a thread."""
    from mockllm.errors import MockLLMError
    from mockllm.server import MockServer

    config = _with_options(mockllm_config, pytestconfig)
    problem = None
    try:
        server = MockServer(config).start()
    except (MockLLMError, OSError, RuntimeError) as exc:  # a scenario, a profile, the socket
        problem = f"cannot listen on {config.host}: {exc}" if isinstance(exc, OSError) else exc
    if problem is not None:  # failed outside the handler: no "during handling" chain shown
        pytest.fail(f"mockllm: the session server did not start: {problem}", pytrace=False)
    hosts = {config.host, *_LOOPBACK} if config.host in _LOOPBACK else {config.host}
    origins = {(host, server.port) for host in hosts}
    _served.update(origins)
    yield server
    _served.difference_update(origins)
    server.stop()


@pytest.hookimpl(optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """With pytest-recording installed, a test marked `vcr` that talks to mockllm: the
    cassette vcrpy opens for it neither records nor refuses the requests to mockllm (they
    reach the server, which answers them from its rules and its own cassettes); requests to
    other hosts are vcrpy's as before. The test's own `before_record_request` still runs,
    after this one."""
    use = vcr.use_cassette

    def use_cassette(path: Any = None, **kwargs: Any) -> Any:
        theirs = kwargs.get("before_record_request", kwargs.get("before_record"))
        if theirs is None:
            theirs = vcr.before_record_request
        if theirs is None:
            theirs = ()
        elif callable(theirs):
            theirs = (theirs,)
        kwargs["before_record_request"] = (_not_mockllm, *theirs)
        return use(path, **kwargs)

    vcr.use_cassette = use_cassette


def _not_mockllm(request: Any) -> Any:
    """vcrpy's request, or None (left alone) when it goes to a mockllm server of this run."""
    return None if (request.host, request.port) in _served else request


@pytest.fixture
def mockllm(mockllm_server: MockServer, request: pytest.FixtureRequest) -> Iterator[MockLLM]:
    """A clean view of the session's server for one test (reset before and after)."""
    from mockllm.errors import ScenarioError

    handle = MockLLM(mockllm_server)
    handle.reset()
    marker = request.node.get_closest_marker("mockllm")
    options = dict(marker.kwargs) if marker is not None else {}
    if "strict" in options:  # the former spelling of fail_unanswered
        options.setdefault("fail_unanswered", options.pop("strict"))
    unknown = sorted(set(options) - set(MARKER_KEYS))
    if unknown:
        pytest.fail(
            f"@pytest.mark.mockllm: unknown mockllm marker argument(s): {', '.join(unknown)}"
            + "".join(_did_you_mean(key) for key in unknown)
            + "; valid arguments: "
            + ", ".join(MARKER_KEYS),
            pytrace=False,
        )
    base = Path(str(request.node.path)).parent
    scenarios = options.get("scenarios") or ()
    if isinstance(scenarios, str | Path):
        scenarios = [scenarios]
    paths = [Path(p) if Path(p).is_absolute() else base / p for p in scenarios]
    problem = None
    try:
        handle.add_rules(*paths)
    except ScenarioError as exc:
        problem = str(exc)
    if problem is not None:  # failed outside the handler: no "during handling" chain shown
        pytest.fail(f"@pytest.mark.mockllm(scenarios=...): {problem}", pytrace=False)
    if options.get("profile") or options.get("keys"):
        keys = options.get("keys")
        keys_path = (base / keys if not Path(keys).is_absolute() else Path(keys)) if keys else None
        handle.use_profile(options.get("profile") or "openai", keys_path)
    config = mockllm_server.config
    mode = options.get("record_mode")
    if mode is not None and mode not in RECORD_MODES:
        pytest.fail(
            f"@pytest.mark.mockllm: record_mode {mode!r} is not valid; valid modes: "
            + ", ".join(RECORD_MODES),
            pytrace=False,
        )
    if mode:
        _fail_on(replace(config, record_mode=mode), "@pytest.mark.mockllm")
    if options.get("cassette") and config.cassettes is None:
        pytest.fail(
            "@pytest.mark.mockllm(cassette=...) needs a cassettes folder: pass "
            "--mockllm-cassettes DIR or set cassettes in mockllm_config",
            pytrace=False,
        )
    if mode is None and request.config.getoption("mockllm_record_mode") == "rewrite":
        mode = "rewrite"
    name = options.get("cassette") or _own_cassette(request, config, mode)
    if name:
        handle.use_cassette(name, mode)
    elif mode:
        handle.engine.record_mode = "new_episodes" if mode == "rewrite" else mode
    fail_unanswered = options.get(
        "fail_unanswered", request.config.getoption("mockllm_fail_unanswered")
    )
    yield handle
    unmatched = handle.unmatched()
    handle.reset()
    if fail_unanswered and unmatched:
        shown = ", ".join(f"{r['model']} {r['path']}" for r in unmatched[:5])
        pytest.fail(f"{len(unmatched)} request(s) no rule or cassette answered: {shown}")


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, MARKER_KEYS, n=1)
    return f"; did you mean {close[0]!r} for {key!r}?" if close else ""


@pytest.fixture(autouse=True)
def _mockllm_marker(request: pytest.FixtureRequest) -> None:
    """A test marked `mockllm` gets the `mockllm` fixture (its marker applied, the server reset
    before and after) even when neither it nor its fixtures name it, as pytest-recording's
    `vcr` marker does: otherwise the marker would be silently ignored."""
    if "mockllm" in request.fixturenames or request.node.get_closest_marker("mockllm") is None:
        return
    request.getfixturevalue("mockllm")


def default_cassette_name(request: pytest.FixtureRequest) -> str:
    """`{module}/{test}`, as pytest-recording names a test's cassette (without the suffix)."""
    test = request.node.name
    if request.cls is not None:
        test = f"{request.cls.__name__}.{test}"
    return f"{Path(str(request.node.path)).stem}/{test.translate(_NOT_IN_NAMES)}"


def _own_cassette(
    request: pytest.FixtureRequest, config: ServerConfig, mode: str | None
) -> str | None:
    """The test's own cassette: when recording, or when the file exists; None: the folder."""
    if config.cassettes is None or config.cassette is not None:
        return None
    name = default_cassette_name(request)
    for suffix in _SUFFIXES:
        if (config.cassettes / f"{name}{suffix}").is_file():
            return f"{name}{suffix}"
    recording = config.upstream is not None and (mode or config.record_mode) != "none"
    return f"{name}.yaml" if recording else None


def _names_a_path(text: str) -> bool:
    """Whether a string given to `add_rules` names a scenario file or folder rather than
    holding YAML: one line, and a `.yaml`/`.yml` name or an existing folder (YAML text
    of one line naming a file is no scenario document anyway)."""
    if "\n" in text or not text.strip():
        return False
    name = text.strip()
    return name.endswith((".yaml", ".yml")) or Path(name).is_dir()
