"""The pytest plugin, through inner pytest runs (`pytester`), as respx and pytest-recording do.

Each inner run is a subprocess: the plugin starts a server thread, and the installed
package registers it through its `pytest11` entry point, so nothing here loads it by hand.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest
import yaml

from mockllm.config import ServerConfig
from mockllm.server import MockServer
from tests.conftest import QUIET_PLUGINS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

# Inner runs are as strict as ours: unknown markers and warnings fail them.
STRICT = (*QUIET_PLUGINS, "-p", "no:recording", "--strict-markers", "-W", "error")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*STRICT, *args, timeout=120)


def source(text: str) -> str:
    return textwrap.dedent(text).lstrip()


PING = source(
    """
    import httpx

    def ping(mockllm):
        return httpx.post(
            mockllm.base_url + "/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]},
            headers={"Authorization": "Bearer sk-test"},
            timeout=30,  # an inner run on a busy machine: not httpx's 5 s
        )
    """
)


# --- registration ---------------------------------------------------------------------------


def test_registered_by_the_pytest11_entry_point(pytester: pytest.Pytester):
    names = {(e.name, e.value) for e in entry_points(group="pytest11")}
    assert ("mockllm", "mockllm.pytest_plugin") in names
    pytester.makepyfile("def test_x(mockllm):\n    assert mockllm.base_url\n")
    assert run(pytester).ret == 0
    # without the entry point's plugin the fixture does not exist
    result = run(pytester, "-p", "no:mockllm")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'mockllm' not found*"])


def test_marker_is_declared_for_strict_markers(pytester: pytest.Pytester):
    pytester.makepyfile(
        source(
            """
            import pytest

            @pytest.mark.mockllm(scenarios=[])
            def test_marked(mockllm):
                assert mockllm.requests == []
            """
        )
    )
    run(pytester, "--strict-markers").assert_outcomes(passed=1)
    markers = run(pytester, "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.mockllm(scenarios=*"])


# --- the fixture ----------------------------------------------------------------------------


def test_the_inspector_page_is_one_url_away(pytester: pytest.Pytester):
    pytester.makepyfile(
        source(
            """
            import httpx

            def test_page(mockllm):
                assert mockllm.inspector_url == mockllm.url + "/__admin/ui"
                assert httpx.get(mockllm.inspector_url).status_code == 200
            """
        )
    )
    run(pytester).assert_outcomes(passed=1)


def test_base_url_works_with_the_openai_sdk(pytester: pytest.Pytester):
    pytester.makepyfile(
        source(
            '''
            from openai import OpenAI

            def test_sdk(mockllm):
                assert mockllm.base_url.startswith("http://127.0.0.1:")
                assert mockllm.base_url.endswith("/v1")
                mockllm.add_rules("""
                rules:
                  - name: refund
                    match: { last_user: { contains: refund } }
                    reply: { content: "Refund sent." }
                """)
                client = OpenAI(base_url=mockllm.base_url, api_key="test", max_retries=0)
                reply = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "I want a refund"}],
                )
                assert reply.choices[0].message.content == "Refund sent."
                stream = client.chat.completions.create(
                    model="gpt-4o-mini", stream=True,
                    messages=[{"role": "user", "content": "a refund, streamed"}],
                )
                assert "".join(c.choices[0].delta.content or "" for c in stream) == "Refund sent."
                mockllm.assert_called(rule="refund", times=2)
            '''
        )
    )
    run(pytester).assert_outcomes(passed=1)


def test_add_rules_takes_yaml_text_dicts_and_paths(pytester: pytest.Pytester):
    pytester.makefile(
        ".yaml",
        **{
            "rules_file": source(
                """
                version: 1
                rules:
                  - name: from-file
                    match: { last_user: file }
                    reply: { content: "from a file" }
                """
            )
        },
    )
    pytester.makepyfile(
        source(
            '''
            from pathlib import Path

            import httpx

            def answer(mockllm, text):
                response = httpx.post(
                    mockllm.base_url + "/chat/completions",
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
                )
                assert response.status_code == 200, response.text
                return response.json()["choices"][0]["message"]["content"]

            def test_yaml_text(mockllm):
                mockllm.add_rules("""
                version: 1
                rules:
                  - name: from-yaml
                    match: { last_user: yaml }
                    reply: { content: "from YAML text" }
                """)
                assert answer(mockllm, "yaml") == "from YAML text"
                mockllm.assert_called(rule="from-yaml", times=1)

            def test_dict_document(mockllm):
                rule = {"name": "from-doc", "match": {"last_user": "doc"}}
                mockllm.add_rules({"rules": [{**rule, "reply": {"content": "a document"}}]})
                assert answer(mockllm, "doc") == "a document"

            def test_dict_rule(mockllm):
                rule = {"name": "from-rule", "match": {"last_user": "rule"}}
                mockllm.add_rules({**rule, "reply": {"content": "one rule"}})
                assert answer(mockllm, "rule") == "one rule"
                mockllm.assert_called(rule="from-rule", times=1)

            def test_path(mockllm):
                mockllm.add_rules(Path(__file__).parent / "rules_file.yaml")
                assert answer(mockllm, "file") == "from a file"
                mockllm.assert_called(rule="rules_file.yaml#from-file", times=1)

            def test_several_at_once(mockllm):
                mockllm.add_rules(
                    "rules: [{name: a, match: {last_user: a}, reply: {content: A}}]",
                    {"name": "b", "match": {"last_user": "b"}, "reply": {"content": "B"}},
                )
                assert (answer(mockllm, "a"), answer(mockllm, "b")) == ("A", "B")

            def test_invalid_rules_name_the_problem(mockllm):
                import pytest
                from mockllm.errors import ScenarioError

                with pytest.raises(ScenarioError, match="did you mean 'model'"):
                    mockllm.add_rules({"name": "bad", "match": {"modle": "x"}, "reply": {}})

            def test_a_rule_replaces_one_added_before_under_its_name(mockllm):
                # As POST /__admin/rules does: one behaviour for rules added at run time.
                rule = {"name": "r", "match": {"last_user": "x"}}
                mockllm.add_rules({**rule, "reply": {"content": "1"}})
                mockllm.add_rules({**rule, "reply": {"content": "2"}})
                assert answer(mockllm, "x") == "2"
                listed = httpx.get(mockllm.url + "/__admin/rules").json()["rules"]
                assert [r["name"] for r in listed if r["runtime"]] == ["r"]
                admin = httpx.post(
                    mockllm.url + "/__admin/rules",
                    content="rules: [{name: r, match: {last_user: x}, reply: {content: '3'}}]",
                )
                assert admin.status_code == 201
                assert answer(mockllm, "x") == "3"
                listed = httpx.get(mockllm.url + "/__admin/rules").json()["rules"]
                assert [r["name"] for r in listed if r["runtime"]] == ["r"]
            '''
        )
    )
    run(pytester).assert_outcomes(passed=7)


def test_journal_and_assert_called(pytester: pytest.Pytester):
    pytester.makepyfile(
        PING
        + source(
            '''
            RULES = """
            rules:
              - name: pong
                match: { last_user: ping }
                reply: { content: pong }
              - name: unused
                match: { last_user: never }
                reply: { content: never }
            """

            def test_passes(mockllm):
                mockllm.add_rules(RULES)
                assert ping(mockllm).json()["choices"][0]["message"]["content"] == "pong"
                ping(mockllm)
                (first, second) = mockllm.requests
                assert first["rule"] == "<test>#pong" and first["status"] == 200
                assert first["request"]["messages"][0]["content"] == "ping"
                assert first["model"] == "gpt-4o-mini"
                assert len(mockllm.calls("pong")) == 2
                mockllm.assert_called()
                mockllm.assert_called(rule="pong")
                mockllm.assert_called(rule="pong", times=2)
                mockllm.assert_called(rule="<test>#pong", times=2)
                mockllm.assert_not_called(rule="unused")
                assert mockllm.unmatched() == []

            def test_wrong_count_fails(mockllm):
                mockllm.add_rules(RULES)
                ping(mockllm)
                mockllm.assert_called(rule="pong", times=2)

            def test_never_called_fails(mockllm):
                mockllm.add_rules(RULES)
                ping(mockllm)
                mockllm.assert_called(rule="unused")

            def test_not_called_fails(mockllm):
                mockllm.add_rules(RULES)
                ping(mockllm)
                mockllm.assert_not_called(rule="pong")

            def test_unmatched_requests_are_listed(mockllm):
                ping(mockllm)
                (entry,) = mockllm.unmatched()
                assert entry["rule"] is None and entry["source"] == "default"
                mockllm.assert_called(times=1)
            '''
        )
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=3)
    journal = "; journal: <test>#pong(200)"
    result.stdout.fnmatch_lines(
        [
            f"*AssertionError: rule 'pong' was called 1 time(s), expected 2{journal}",
            f"*AssertionError: rule 'unused' was never called{journal}",
            f"*AssertionError: rule 'pong' was called 1 time(s), expected 0{journal}",
        ],
        consecutive=False,
    )


def test_each_test_starts_clean(pytester: pytest.Pytester):
    """Rules added by a test, the journal and sequence counters do not reach the next test."""
    pytester.makefile(
        ".yaml",
        session=source(
            """
            version: 1
            rules:
              - name: flaky
                match: { model: flaky-model }
                sequence:
                  - error: { status: 429 }
                  - content: "second call"
            """
        ),
    )
    pytester.makeconftest(
        source(
            """
            from pathlib import Path
            import pytest
            from mockllm.config import ServerConfig

            @pytest.fixture(scope="session")
            def mockllm_config():
                return ServerConfig(port=0, scenarios=(Path(__file__).parent / "session.yaml",))
            """
        )
    )
    pytester.makepyfile(
        source(
            """
            import httpx

            def call(mockllm, model, text="hi"):
                return httpx.post(
                    mockllm.base_url + "/chat/completions",
                    json={"model": model, "messages": [{"role": "user", "content": text}]},
                )

            def runtime_rules(mockllm):
                rules = httpx.get(mockllm.url + "/__admin/rules").json()["rules"]
                return [r["name"] for r in rules if r["runtime"]]

            def test_1_changes_everything(mockllm):
                mockllm.add_rules({"name": "only-here", "match": {"model": "gpt-4o"},
                                   "reply": {"content": "mine"}})
                assert runtime_rules(mockllm) == ["only-here"]
                assert call(mockllm, "gpt-4o").json()["choices"][0]["message"]["content"] == "mine"
                assert call(mockllm, "flaky-model").status_code == 429
                assert call(mockllm, "flaky-model").status_code == 200
                assert len(mockllm.requests) == 3

            def test_2_sees_none_of_it(mockllm):
                assert mockllm.requests == []
                assert httpx.get(mockllm.url + "/__admin/requests").json() == {"requests": []}
                assert runtime_rules(mockllm) == []
                assert call(mockllm, "gpt-4o").json()["choices"][0]["message"]["content"] != "mine"
                assert call(mockllm, "flaky-model").status_code == 429   # the sequence restarted
                mockllm.assert_not_called(rule="only-here")

            def test_3_reset_inside_a_test(mockllm):
                mockllm.add_rules("rules: [{name: gone, match: {model: gpt-4o}, reply: {}}]")
                call(mockllm, "flaky-model")
                mockllm.reset()
                assert mockllm.requests == [] and runtime_rules(mockllm) == []
                assert call(mockllm, "flaky-model").status_code == 429
            """
        )
    )
    run(pytester).assert_outcomes(passed=3)


def test_marker_loads_scenarios_relative_to_the_test_file(pytester: pytest.Pytester):
    tests = pytester.mkdir("tests")
    (tests / "data").mkdir()
    (tests / "data" / "one.yaml").write_text(
        "rules: [{name: one, match: {last_user: one}, reply: {content: 'from one'}}]\n"
    )
    (tests / "data" / "two.yaml").write_text(
        "rules: [{name: two, match: {last_user: two}, reply: {content: 'from two'}}]\n"
    )
    (tests / "test_marked.py").write_text(
        source(
            """
            import httpx
            import pytest

            def answer(mockllm, text):
                response = httpx.post(
                    mockllm.base_url + "/chat/completions",
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
                )
                return response.json()["choices"][0]["message"]["content"]

            @pytest.mark.mockllm(scenarios="data/one.yaml")
            def test_one_file(mockllm):
                assert answer(mockllm, "one") == "from one"
                mockllm.assert_called(rule="one.yaml#one", times=1)

            @pytest.mark.mockllm(scenarios=["data/one.yaml", "data/two.yaml"])
            def test_a_list(mockllm):
                assert (answer(mockllm, "one"), answer(mockllm, "two")) == ("from one", "from two")

            @pytest.mark.mockllm(scenarios="data")
            def test_a_folder(mockllm):
                assert answer(mockllm, "two") == "from two"

            def test_unmarked_has_none(mockllm):
                assert answer(mockllm, "one") != "from one"
                assert mockllm.unmatched()

            @pytest.mark.mockllm(scenarios="data/one.yaml")
            class TestClass:
                def test_in_a_marked_class(self, mockllm):
                    assert answer(mockllm, "one") == "from one"
            """
        )
    )
    # run from elsewhere: the paths are the test file's, not the working directory's
    elsewhere = pytester.mkdir("elsewhere")
    result = pytester.runpytest_subprocess(*STRICT, str(tests), timeout=120)
    assert elsewhere.is_dir()
    result.assert_outcomes(passed=5)


def test_marker_with_a_missing_file_errors_clearly(pytester: pytest.Pytester):
    pytester.makepyfile(
        source(
            """
            import pytest

            @pytest.mark.mockllm(scenarios="nope.yaml")
            def test_x(mockllm):
                pass
            """
        )
    )
    result = run(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*nope.yaml*"])


def test_overriding_mockllm_config_takes_effect(pytester: pytest.Pytester):
    pytester.makeconftest(
        source(
            """
            import pytest
            from mockllm.config import ServerConfig

            @pytest.fixture(scope="session")
            def mockllm_config():
                return ServerConfig(port=8000, seed=5, freeze_time=1700000000.0)
            """
        )
    )
    pytester.makepyfile(
        source(
            """
            from openai import OpenAI
            from mockllm.config import ServerConfig
            from mockllm.server import MockServer

            MESSAGES = [{"role": "user", "content": "Tell me something"}]

            def generated(base_url):
                client = OpenAI(base_url=base_url, api_key="test", max_retries=0)
                return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

            def test_settings_apply(mockllm):
                reply = generated(mockllm.base_url)
                assert reply.created == 1700000000
                # still a free port: a fixed one would clash between parallel sessions
                assert not mockllm.base_url.startswith("http://127.0.0.1:8000/")
                with MockServer(ServerConfig(port=0, seed=5)) as same, \\
                        MockServer(ServerConfig(port=0, seed=0)) as other:
                    same_text = generated(same.base_url).choices[0].message.content
                    other_text = generated(other.base_url).choices[0].message.content
                assert reply.choices[0].message.content == same_text != other_text
            """
        )
    )
    run(pytester).assert_outcomes(passed=1)


# --- cassettes, record mode, profiles, strictness -------------------------------------------

UPSTREAM_RULES = """
version: 1
rules:
  - name: up
    match: { last_user: { contains: ping } }
    reply: { content: "pong from upstream" }
"""

REPLY = source(
    """
    def reply(response):
        assert response.status_code == 200, response.text
        return response.json()["choices"][0]["message"]["content"]
    """
)


PING_TEST = (
    PING
    + REPLY
    + source(
        """
        def test_ping(mockllm):
            assert reply(ping(mockllm)) == "pong from upstream"
            (entry,) = mockllm.requests
            assert entry["source"] in ("upstream", "cassette")
        """
    )
)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[MockServer]:
    """A second mockllm with one scripted rule, to record from (it runs in this process)."""
    rules = tmp_path / "upstream.yaml"
    rules.write_text(UPSTREAM_RULES)
    with MockServer(ServerConfig(port=0, scenarios=(rules,))) as server:
        yield server


def upstream_calls(server: MockServer) -> int:
    journal = server.app.engine.journal
    assert journal is not None
    return len(journal.entries())


def record(upstream: MockServer, folder: Path, name: str) -> Path:
    """Record one 'ping' exchange from the upstream into cassette `name` under `folder`."""
    config = ServerConfig(
        port=0, upstream=upstream.base_url, cassettes=folder, cassette=name, record_mode="all"
    )
    with MockServer(config) as recorder:
        response = httpx.post(
            recorder.base_url + "/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]},
        )
        assert response.status_code == 200, response.text
    return folder / f"{name}.yaml"


def bodies(cassette: Path) -> str:
    """The recorded response bodies of a cassette file, joined."""
    data = yaml.safe_load(cassette.read_text())
    return "\n".join(i["response"]["body"]["string"] for i in data["interactions"])


def test_options_are_listed_in_help(pytester: pytest.Pytester):
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(
        [
            "*--mockllm-record-mode=*",
            "*--mockllm-upstream=*",
            "*--mockllm-cassettes=*",
            "*--mockllm-fail-unanswered*",
        ],
        consecutive=False,
    )


def test_record_mode_option(pytester: pytest.Pytester, upstream: MockServer):
    pytester.makepyfile(PING_TEST)
    url = f"--mockllm-upstream={upstream.base_url}"
    cassettes = "--mockllm-cassettes=cassettes"
    # each test records into its own cassette, laid out as pytest-recording does
    cassette = pytester.path / "cassettes" / "test_record_mode_option" / "test_ping.yaml"

    run(pytester, url, cassettes, "--mockllm-record-mode=once").assert_outcomes(passed=1)
    assert "pong from upstream" in bodies(cassette)
    assert upstream_calls(upstream) == 1

    # replay: no upstream given, the cassette answers
    run(pytester, cassettes).assert_outcomes(passed=1)
    # once: the cassette exists, so it replays even with the upstream there
    run(pytester, url, cassettes, "--mockllm-record-mode=once").assert_outcomes(passed=1)
    assert upstream_calls(upstream) == 1
    # all: records again
    run(pytester, url, cassettes, "--mockllm-record-mode=all").assert_outcomes(passed=1)
    assert upstream_calls(upstream) == 2
    # none: never the network, even with an upstream; an empty folder answers nothing
    result = run(pytester, url, "--mockllm-cassettes=empty", "--mockllm-record-mode=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cassette_miss*"])
    assert upstream_calls(upstream) == 2


def test_record_mode_option_applies_over_an_overridden_config(
    pytester: pytest.Pytester, upstream: MockServer
):
    pytester.makeconftest(
        source(
            f"""
            from pathlib import Path
            import pytest
            from mockllm.config import ServerConfig

            @pytest.fixture(scope="session")
            def mockllm_config():
                return ServerConfig(
                    port=0, upstream="{upstream.base_url}",
                    cassettes=Path(__file__).parent / "cassettes",
                )
            """
        )
    )
    pytester.makepyfile(PING_TEST)
    run(pytester, "--mockllm-record-mode=once").assert_outcomes(passed=1)
    own = "test_record_mode_option_applies_over_an_overridden_config/test_ping.yaml"
    assert (pytester.path / "cassettes" / own).is_file()


def test_record_mode_without_an_upstream_is_refused(pytester: pytest.Pytester):
    pytester.makepyfile(
        PING
        + source(
            """
            import pytest

            def test_plain(mockllm):
                ping(mockllm)

            @pytest.mark.mockllm(record_mode="once")
            def test_marked(mockllm):
                ping(mockllm)
            """
        )
    )
    option = run(pytester, "--mockllm-record-mode=once")
    assert option.ret != pytest.ExitCode.OK
    option.stdout.fnmatch_lines(["*record mode 'once' needs an upstream*"])
    marker = run(pytester)
    outcomes = marker.parseoutcomes()
    assert outcomes.get("passed") == 1, outcomes
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1, outcomes
    marker.stdout.fnmatch_lines(["*record mode 'once' needs an upstream*"])


def test_marker_cassette_chooses_the_cassette(pytester: pytest.Pytester, upstream: MockServer):
    hello = record(upstream, pytester.path / "cassettes", "hello")
    # the same request, another answer (same length: the recorded headers stay true)
    data = yaml.safe_load(hello.read_text())
    body = data["interactions"][0]["response"]["body"]
    body["string"] = body["string"].replace("pong from upstream", "pong from UPSTREAM")
    hello.with_name("other.yaml").write_text(yaml.safe_dump(data))
    pytester.makepyfile(
        PING
        + REPLY
        + source(
            """
            import pytest

            @pytest.mark.mockllm(cassette="hello")
            def test_hello(mockllm):
                assert reply(ping(mockllm)) == "pong from upstream"
                (entry,) = mockllm.requests
                assert entry["source"] == "cassette" and entry["rule"] == "hello.yaml#0"

            @pytest.mark.mockllm(cassette="other.yaml")
            def test_other(mockllm):
                assert reply(ping(mockllm)) == "pong from UPSTREAM"
                mockllm.assert_called(rule="other.yaml#0", times=1)

            @pytest.mark.mockllm(cassette="missing")
            def test_missing(mockllm):
                response = ping(mockllm)
                assert response.status_code == 404
                assert response.json()["error"]["code"] == "cassette_miss"
            """
        )
    )
    run(pytester, "--mockllm-cassettes=cassettes").assert_outcomes(passed=3)
    assert upstream_calls(upstream) == 1  # the recording above, nothing since


def test_marker_record_mode_records_into_the_cassette(
    pytester: pytest.Pytester, upstream: MockServer
):
    pytester.makepyfile(
        PING
        + REPLY
        + source(
            """
            import pytest

            @pytest.mark.mockllm(cassette="new", record_mode="once")
            def test_records(mockllm):
                assert reply(ping(mockllm)) == "pong from upstream"

            def test_session_mode_is_none(mockllm):
                import httpx

                unrecorded = {"model": "gpt-4o", "messages": [{"role": "user", "content": "ping"}]}
                response = httpx.post(mockllm.base_url + "/chat/completions", json=unrecorded)
                assert response.status_code == 404
                assert response.json()["error"]["code"] == "cassette_miss"
            """
        )
    )
    args = (
        f"--mockllm-upstream={upstream.base_url}",
        "--mockllm-cassettes=cassettes",
        "--mockllm-record-mode=none",
    )
    run(pytester, *args).assert_outcomes(passed=2)
    cassette = pytester.path / "cassettes" / "new.yaml"
    assert "pong from upstream" in bodies(cassette)
    assert upstream_calls(upstream) == 1
    before = cassette.read_bytes()
    run(pytester, *args).assert_outcomes(passed=2)  # once: now it replays
    assert cassette.read_bytes() == before and upstream_calls(upstream) == 1


def test_marker_profile_serves_the_gateway_dialect(pytester: pytest.Pytester):
    pytester.makepyfile(
        source(
            """
            import httpx
            import pytest

            BODY = {
                "model": "claude-3-5-sonnet-20241022",
                "messages": [{"role": "user", "content": "hi"}],
            }

            def post(mockllm, path, **headers):
                return httpx.post(mockllm.url + path, json=BODY, headers=headers)

            @pytest.mark.mockllm(profile="ainative")
            def test_ainative(mockllm):
                ok = post(mockllm, "/v1/public/chat/completions", **{"X-API-Key": "ak_test"})
                assert ok.status_code == 200
                missing = post(mockllm, "/v1/public/chat/completions")
                assert missing.status_code == 401
                assert missing.json()["error"]["code"] == "missing_api_key"

            def test_back_to_the_default_profile(mockllm):
                assert post(mockllm, "/v1/public/chat/completions").status_code == 404
                assert post(mockllm, "/v1/chat/completions").status_code == 200
            """
        )
    )
    run(pytester).assert_outcomes(passed=2)


def test_unknown_marker_argument_fails(pytester: pytest.Pytester):
    pytester.makepyfile(
        source(
            """
            import pytest

            @pytest.mark.mockllm(scenario="x.yaml")
            def test_typo(mockllm):
                pass
            """
        )
    )
    result = run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.mockllm: unknown mockllm marker argument(s): scenario;"
            " did you mean 'scenarios' for 'scenario'?; valid arguments: scenarios, cassette,"
            " record_mode, profile, keys, fail_unanswered"
        ]
    )


def test_a_marked_test_gets_the_fixture_without_naming_it(pytester: pytest.Pytester):
    """The app reaches the server through a session fixture of the project's own (an
    environment variable): the marker still loads its scenarios, and resets after the test."""
    pytester.makeconftest(
        source(
            """
            import pytest

            @pytest.fixture(scope="session", autouse=True)
            def base_url(mockllm_server):
                return mockllm_server.base_url
            """
        )
    )
    pytester.makefile(
        ".yaml",
        checkout="rules: [{name: checkout, match: {last_user: checkout}, reply: {content: sent}}]",
    )
    pytester.makepyfile(
        source(
            """
            import httpx
            import pytest

            def ask(base_url):
                messages = [{"role": "user", "content": "checkout"}]
                body = {"model": "gpt-4o-mini", "messages": messages}
                reply = httpx.post(base_url + "/chat/completions", json=body).json()
                return reply["choices"][0]["message"]["content"]

            @pytest.mark.mockllm(scenarios="checkout.yaml")
            def test_marked(base_url):
                assert ask(base_url) == "sent"

            def test_not_marked_after(base_url):
                assert ask(base_url) != "sent"
            """
        )
    )
    run(pytester).assert_outcomes(passed=2)


STRICT_TESTS = PING + source(
    """
    import pytest

    RULE = {"name": "pong", "match": {"last_user": "ping"}, "reply": {"content": "pong"}}

    def test_all_matched(mockllm):
        mockllm.add_rules(RULE)
        ping(mockllm)

    def test_left_unmatched(mockllm):
        ping(mockllm)

    @pytest.mark.mockllm(fail_unanswered=False)
    def test_opted_out(mockllm):
        ping(mockllm)
    """
)

UNMATCHED = "*1 request(s) no rule or cassette answered: gpt-4o-mini /v1/chat/completions*"


def test_strict_option_fails_a_test_that_left_requests_unmatched(pytester: pytest.Pytester):
    pytester.makepyfile(STRICT_TESTS)
    run(pytester).assert_outcomes(passed=3)  # off by default
    result = run(pytester, "--mockllm-fail-unanswered")
    assert result.ret == 1
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1, outcomes
    result.stdout.fnmatch_lines(["*test_left_unmatched*", UNMATCHED], consecutive=False)
    result.stdout.no_fnmatch_line("*test_all_matched - *")
    result.stdout.no_fnmatch_line("*test_opted_out - *")
    former = run(pytester, "--mockllm-strict")  # the former spelling of the option
    assert former.ret == 1


def test_strict_marker_fails_a_test_that_left_requests_unmatched(pytester: pytest.Pytester):
    pytester.makepyfile(
        PING
        + source(
            """
            import pytest

            @pytest.mark.mockllm(fail_unanswered=True)
            def test_left_unmatched(mockllm):
                ping(mockllm)

            @pytest.mark.mockllm(strict=True)  # the former spelling still works
            def test_nothing_sent(mockllm):
                pass
            """
        )
    )
    result = run(pytester)
    assert result.ret == 1
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1, outcomes
    result.stdout.fnmatch_lines([UNMATCHED])


# --- one cassette per test ------------------------------------------------------------------

PER_TEST = PING + source(
    """
    import httpx
    import pytest

    def ask(mockllm, text):
        response = httpx.post(
            mockllm.base_url + "/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        )
        assert response.status_code == 200, response.text
        return response.json()["choices"][0]["message"]["content"]

    def test_first(mockllm):
        assert ask(mockllm, "ping one") == "pong from upstream"

    class TestGroup:
        @pytest.mark.parametrize("n", ["a/b"])
        def test_second(self, mockllm, n):
            assert ask(mockllm, "ping two") == "pong from upstream"
            assert ask(mockllm, "ping two, again") == "pong from upstream"

    def test_sends_nothing(mockllm):
        pass
    """
)


def interactions(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    return [
        json.loads(i["request"]["body"])["messages"][0]["content"] for i in data["interactions"]
    ]


def test_each_test_records_its_own_cassette_then_replays_it_offline(
    pytester: pytest.Pytester, upstream: MockServer
):
    pytester.makepyfile(test_flows=PER_TEST)
    url = f"--mockllm-upstream={upstream.base_url}"
    folder = pytester.path / "cassettes" / "test_flows"
    run(pytester, url, "--mockllm-cassettes=cassettes", "--mockllm-record-mode=once")
    first, second = folder / "test_first.yaml", folder / "TestGroup.test_second[a-b].yaml"
    assert sorted(p.name for p in folder.iterdir()) == sorted([first.name, second.name])
    assert interactions(first) == ["ping one"]
    assert interactions(second) == ["ping two", "ping two, again"]
    assert not (folder / "test_sends_nothing.yaml").exists()  # nothing recorded, no file
    shown = (ROOT / "docs" / "pytest.md").read_text()  # the layout the docs show
    assert all(f"tests/cassettes/test_flows/{p.name}\n" in shown for p in (first, second))
    assert upstream_calls(upstream) == 3
    before = {p: p.read_bytes() for p in (first, second)}

    # offline: no upstream; each test replays from its own file only
    run(pytester, "--mockllm-cassettes=cassettes").assert_outcomes(passed=3)
    assert upstream_calls(upstream) == 3
    assert {p: p.read_bytes() for p in (first, second)} == before


def test_rewrite_records_one_tests_cassette_again(pytester: pytest.Pytester, upstream: MockServer):
    pytester.makepyfile(test_flows=PER_TEST)
    url = f"--mockllm-upstream={upstream.base_url}"
    folder = pytester.path / "cassettes" / "test_flows"
    run(pytester, url, "--mockllm-cassettes=cassettes", "--mockllm-record-mode=once")
    first, second = folder / "test_first.yaml", folder / "TestGroup.test_second[a-b].yaml"
    # a stale extra interaction, which only a fresh recording drops
    stale = yaml.safe_load(first.read_text())
    stale["interactions"].append(stale["interactions"][0])
    first.write_text(yaml.safe_dump(stale))
    untouched = second.read_bytes()
    result = run(
        pytester,
        url,
        "--mockllm-cassettes=cassettes",
        "--mockllm-record-mode=rewrite",
        "-k",
        "test_first",
    )
    result.assert_outcomes(passed=1, deselected=2)
    assert interactions(first) == ["ping one"]
    assert second.read_bytes() == untouched
    assert upstream_calls(upstream) == 4

    # the marker rewrites one test on an ordinary run
    pytester.makepyfile(
        test_flows=PER_TEST.replace(
            "def test_first(mockllm):",
            "@pytest.mark.mockllm(record_mode='rewrite')\ndef test_first(mockllm):",
        )
    )
    run(pytester, url, "--mockllm-cassettes=cassettes", "--mockllm-record-mode=none")
    assert upstream_calls(upstream) == 5 and interactions(first) == ["ping one"]


def test_an_explicit_cassette_wins_over_the_tests_own(
    pytester: pytest.Pytester, upstream: MockServer
):
    pytester.makepyfile(
        PING
        + source(
            """
            import pytest

            @pytest.mark.mockllm(cassette="shared/flows")
            def test_a(mockllm):
                assert ping(mockllm).status_code == 200

            @pytest.mark.mockllm(record_mode="sometimes")
            def test_bad_mode(mockllm):
                pass
            """
        )
    )
    url = f"--mockllm-upstream={upstream.base_url}"
    result = run(pytester, url, "--mockllm-cassettes=cassettes", "--mockllm-record-mode=once")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*record_mode 'sometimes' is not valid; valid modes: none, once*"])
    assert (pytester.path / "cassettes" / "shared" / "flows.yaml").is_file()
    assert not (
        pytester.path / "cassettes" / "test_an_explicit_cassette_wins_over_the_tests_own"
    ).exists()
