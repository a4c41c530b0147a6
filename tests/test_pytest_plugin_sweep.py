"""The pytest plugin as a project's test suite meets it: inner pytest runs (`pytester`) of
small suites, each checking one promise of docs/pytest.md from the outside."""

from __future__ import annotations

import pytest

from tests.test_pytest_plugin import STRICT, run, source

pytest_plugins = ["pytester"]

# --- rules in the test ----------------------------------------------------------------------


def test_a_rule_that_does_not_validate_fails_the_test_with_its_message_alone(
    pytester: pytest.Pytester,
):
    pytester.makefile(".yaml", bad="version: 1\nrules:\n  - name: x\n    reply: { contnet: y }\n")
    pytester.makepyfile(
        source(
            """
            from pathlib import Path

            import pytest

            from mockllm.errors import ScenarioError

            def test_text(mockllm):
                mockllm.add_rules("rules:\\n  - name: x\\n    reply: { contnet: y }\\n")

            def test_not_yaml(mockllm):
                mockllm.add_rules("rules: [ {name: x")

            def test_can_be_expected(mockllm):
                with pytest.raises(ScenarioError, match="contnet"):
                    mockllm.add_rules({"name": "x", "reply": {"contnet": "y"}})

            @pytest.mark.mockllm(scenarios="bad.yaml")
            def test_marker(mockllm):
                pass
            """
        )
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_marker*",
            "@pytest.mark.mockllm(scenarios=...): */bad.yaml:4: rules?0?.reply.contnet: *",
            "*FAILURES*",
            "*test_text*",
            ">       mockllm.add_rules(*",
            "E       mockllm.errors.ScenarioError: <test>:3: rules?0?.reply.contnet: unknown key"
            " 'contnet'; did you mean 'content'?*",
            "*test_not_yaml*",
            ">       mockllm.add_rules(*",
            "E       mockllm.errors.ScenarioError: <test>:2: not valid YAML: *",
        ]
    )
    # the test's own line, then the message: no frame of the loader, the runtime or the plugin
    for inside in ("loader.py", "runtime.py", "state.py", "pytest_plugin.py", "During handling"):
        assert inside not in result.stdout.str()


# --- the session server ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        (
            'scenarios=(Path(__file__).parent / "bad.yaml",)',
            "*/bad.yaml:4: rules?0?.reply.contnet: unknown key 'contnet'*",
        ),
        ('host="192.0.2.1"', "cannot listen on 192.0.2.1: *"),  # an address not this host's
    ],
    ids=["bad-scenario", "address"],
)
def test_a_session_server_that_cannot_start_says_why_once_per_test(
    pytester: pytest.Pytester, setting: str, said: str
):
    pytester.makefile(".yaml", bad="version: 1\nrules:\n  - name: x\n    reply: { contnet: y }\n")
    pytester.makeconftest(
        source(
            f"""
            from pathlib import Path

            import pytest

            from mockllm.config import ServerConfig

            @pytest.fixture(scope="session")
            def mockllm_config():
                return ServerConfig({setting})
            """
        )
    )
    pytester.makepyfile("def test_a(mockllm):\n    pass\n\ndef test_b(mockllm):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_a*",
            "mockllm: the session server did not start: " + said,
            "*ERROR at setup of test_b*",
            "mockllm: the session server did not start: " + said,
        ]
    )
    for inside in ("loader.py", "server.py", "app.py", "During handling"):
        assert inside not in result.stdout.str()


# --- the journal and assertions -------------------------------------------------------------


def test_assert_called_says_why_the_rule_did_not_answer(pytester: pytest.Pytester):
    pytester.makepyfile(
        source(
            """
            import httpx

            def ask(mockllm, text):
                httpx.post(
                    mockllm.base_url + "/chat/completions",
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
                )

            REFUND = {
                "name": "refund",
                "match": {"model": "gpt-4o", "last_user": {"contains": "refund"}},
                "reply": {"content": "ok"},
            }

            def test_near_miss(mockllm):
                mockllm.add_rules(REFUND, {"name": "hi", "match": {"last_user": "hi"}, "reply": {}})
                ask(mockllm, "hi")
                ask(mockllm, "a refund")
                mockllm.assert_called(rule="refund", times=2)

            def test_misspelt(mockllm):
                mockllm.add_rules(REFUND)
                mockllm.assert_called(rule="refnud")
            """
        )
    )
    result = run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: rule 'refund' was called 0 time(s), expected 2;"
            " journal: <test>#hi(200), default(200)",
            "E       near misses:",
            "E         POST /v1/chat/completions gpt-4o-mini (answered by <test>#hi):"
            " <test>#refund did not match: model: 'gpt-4o-mini' is not 'gpt-4o';"
            " last_user: 'hi' *",
            "E         POST /v1/chat/completions gpt-4o-mini (answered by default):"
            " <test>#refund did not match: model: 'gpt-4o-mini' is not 'gpt-4o'",
            "E       AssertionError: rule 'refnud' was never called; journal: empty",
            "E       no rule named 'refnud' is loaded; did you mean 'refund'?"
            " (rules: <test>#refund)",
        ]
    )
    assert "pytest_plugin.py" not in result.stdout.str()  # shown at the test's own line


# --- a suite moving from pytest-recording ---------------------------------------------------


def test_a_suite_marked_vcr_still_collects_without_pytest_recording(pytester: pytest.Pytester):
    pytester.makepyfile(
        source(
            """
            import pytest

            @pytest.mark.vcr
            def test_x(mockllm):
                assert mockllm.base_url
            """
        )
    )
    result = run(pytester)  # -p no:recording --strict-markers
    result.assert_outcomes(passed=1)


MARKED_VCR = source(
    """
    import httpx
    import pytest

    @pytest.mark.vcr
    def test_hello(mockllm):
        mockllm.add_rules({"name": "hi", "reply": {"content": "Hi from mockllm"}})
        answer = httpx.post(
            f"{mockllm.base_url}/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
            headers={"authorization": "Bearer sk-test"},
        )
        assert answer.json()["choices"][0]["message"]["content"] == "Hi from mockllm"
        mockllm.assert_called(rule="hi", times=1)
    """
)


@pytest.mark.parametrize("mode", ["none", "once"])
def test_a_test_marked_vcr_reaches_mockllm_while_pytest_recording_is_installed(
    pytester: pytest.Pytester, mode: str
):
    """pytest-recording's cassette for a marked test neither refuses (record mode none:
    CannotOverwriteExistingCassetteException) nor records (once) the requests to mockllm."""
    pytester.makepyfile(MARKED_VCR)
    at = STRICT.index("no:recording")
    with_recording = (*STRICT[: at - 1], *STRICT[at + 1 :])  # pytest-recording loaded
    result = pytester.runpytest_subprocess(*with_recording, f"--record-mode={mode}", timeout=120)
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "cassettes").exists()  # vcrpy wrote no cassette


def test_a_string_naming_a_file_or_folder_adds_its_rules(pytester: pytest.Pytester):
    """add_rules("tests/rules.yaml"): the contract's "paths" as a string too, as a test
    names them; a name that is not there fails with the file named."""
    rules = "version: 1\nrules:\n  - name: hello\n    reply: { content: Hi from a file }\n"
    pytester.makefile(".yaml", rules=rules)
    (pytester.path / "more").mkdir()
    (pytester.path / "more" / "bye.yaml").write_text(
        "version: 1\nrules:\n  - name: bye\n    match: { last_user: { contains: bye } }\n"
        "    reply: { content: Bye from a folder }\n"
    )
    pytester.makepyfile(
        source(
            """
            import httpx
            import pytest

            from mockllm.errors import ScenarioError

            def ask(mockllm, text):
                body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
                answer = httpx.post(f"{mockllm.base_url}/chat/completions", json=body)
                return answer.json()["choices"][0]["message"]["content"]

            def test_file(mockllm):
                mockllm.add_rules("rules.yaml")
                assert ask(mockllm, "hello") == "Hi from a file"

            def test_folder(mockllm):
                mockllm.add_rules("more")
                assert ask(mockllm, "say bye") == "Bye from a folder"

            def test_missing(mockllm):
                with pytest.raises(ScenarioError, match="missing.yaml"):
                    mockllm.add_rules("missing.yaml")
            """
        )
    )
    result = run(pytester)
    result.assert_outcomes(passed=3)
