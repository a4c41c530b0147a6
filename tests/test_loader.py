"""Scenario validation: every problem named by file, line and field; nothing half-loads."""

from __future__ import annotations

import fnmatch
import os
import re
import textwrap
from pathlib import Path

import pytest

from mockllm.errors import ScenarioError
from mockllm.loader import load_scenarios, load_text, parse_document, scenario_schema


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_text(textwrap.dedent(text), "s.yaml")
    return [str(p) for p in info.value.problems]


def test_typo_names_line_field_and_closest_key():
    found = problems(
        """
        version: 1
        rules:
          - name: a
            reply:
              content: hi
              latency: { ttft: 3 }
        """
    )
    assert found == [
        "s.yaml:7: rules[0].reply.latency.ttft: unknown key 'ttft'; did you mean 'ttft_ms'? "
        "valid keys: ttft_ms, inter_token_ms, jitter_ms, tokens_per_chunk"
    ]


def test_every_problem_is_reported_at_once():
    found = problems(
        """
        rules:
          - reply: { content: x, finish_reason: stopp }
          - match: { last_usr: hi }
            reply: { content: y }
          - match: { last_user: { regex: "(" } }
            reply: { content: "{{ lastuser }}" }
        """
    )
    text = "\n".join(found)
    assert (
        "s.yaml:3: rules[0].reply.finish_reason: unknown value 'stopp'; did you mean 'stop'?"
        in text
    )
    assert (
        "s.yaml:4: rules[1].match.last_usr: unknown key 'last_usr'; did you mean 'last_user'?"
        in text
    )
    assert "rules[2].match.last_user: invalid regex '('" in text
    assert "unknown template variable 'lastuser'; did you mean 'last_user'?" in text


def test_wrong_types_say_expected_and_found():
    found = problems(
        """
        rules:
          - match: { stream: "yes", turn: x }
            reply: { error: { status: 200 } }
        """
    )
    assert "s.yaml:3: rules[0].match.stream: expected true or false, found a string" in found
    assert "s.yaml:4: rules[0].reply.error.status: expected a value >= 400, found 200" in found


def test_reply_and_sequence_are_exclusive():
    found = problems("rules:\n  - name: a\n    reply: {content: x}\n    sequence: [{content: y}]\n")
    assert found == ["s.yaml:2: rules[0]: a rule needs exactly one of 'reply' or 'sequence'"]


def test_duplicate_keys_and_names():
    found = problems(
        "rules:\n  - name: a\n    name: b\n    reply: {content: x}\n"
        "  - name: b\n    reply: {content: y}\n"
    )
    assert any("rules[0].name: duplicate key" in p for p in found)
    assert any("rules[1].name: duplicate rule name" in p for p in found)


def test_broken_yaml_names_the_line():
    found = problems("rules:\n  - name: a\n    reply: {content: x\n")
    assert len(found) == 1 and found[0].startswith("s.yaml:") and "not valid YAML" in found[0]


def test_yaml_bomb_fails_cleanly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        name, previous = chr(97 + i), chr(96 + i)
        bomb += f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]\n"
    bomb += "rules: []\n"
    found = problems(bomb)
    assert "too large or too deep" in found[0]


def test_chunks_must_join_to_content():
    found = problems("rules:\n  - reply: {content: abc, chunks: [a, c]}\n")
    assert "rules[0].reply.chunks: the chunks must join to the content exactly" in found[0]


def test_a_broken_file_never_half_loads(tmp_path: Path):
    good = tmp_path / "a.yaml"
    good.write_text("rules:\n  - reply: {content: ok}\n")
    bad = tmp_path / "b.yaml"
    bad.write_text("rules:\n  - reply: {content: ok, latency: {ttft_ms: -1}}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenarios([tmp_path])
    assert [p.source for p in info.value.problems] == [str(bad)]
    assert "expected a value >= 0, found -1" in str(info.value)


def test_missing_file_is_a_problem(tmp_path: Path):
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenarios([tmp_path / "nope.yaml"])


def test_folders_load_in_name_order(tmp_path: Path):
    (tmp_path / "b.yaml").write_text("rules:\n  - name: second\n    reply: {content: b}\n")
    (tmp_path / "a.yaml").write_text("rules:\n  - name: first\n    reply: {content: a}\n")
    assert [r.name for r in load_scenarios([tmp_path])] == ["first", "second"]


def test_defaults_apply_to_every_rule():
    rules = load_text(
        "defaults:\n  latency: {ttft_ms: 5}\n  headers: {x-a: 1}\n  match: {model: m}\n"
        "rules:\n  - reply: {content: x, latency: {inter_token_ms: 2}}\n",
        "s.yaml",
    )
    reply = rules[0].replies[0]
    assert (reply.latency.ttft_ms, reply.latency.inter_token_ms) == (5, 2)
    assert reply.headers == (("x-a", "1"),)
    assert [c.key for c in rules[0].conditions] == ["model"]


def test_schema_describes_the_contract_keys():
    schema = scenario_schema()
    rule = schema["properties"]["rules"]["items"]["properties"]
    assert {"name", "match", "reply", "sequence", "then", "when", "priority"} <= set(rule)
    match = schema["$defs"]["match"]["properties"]
    assert {
        "model",
        "provider",
        "path",
        "api_key",
        "header",
        "last_user",
        "system",
        "any_message",
        "last_message",
        "turn",
        "stream",
        "tools",
        "tool_choice",
        "response_format",
        "body",
    } <= set(match)
    reply = schema["$defs"]["reply"]["properties"]
    assert {
        "content",
        "faker",
        "chunks",
        "tool_calls",
        "choices",
        "refusal",
        "finish_reason",
        "usage",
        "headers",
        "logprobs",
        "error",
        "latency",
        "fault",
    } <= set(reply)


def test_response_headers_must_be_valid_http():
    """A header that would break the HTTP response is refused when the file loads, not
    discovered as a dropped connection when a request matches."""
    found = problems(
        """
        rules:
          - reply:
              content: x
              headers: { x-trace: "a\\nb", "bad name": v, Content-Length: 5, x-ok: 1 }
          - reply:
              error:
                status: 429
                headers: { "x:colon": v, transfer-encoding: chunked }
        defaults:
          headers: { x-bell: "\\u0007" }
        """
    )
    text = "\n".join(found)
    assert "rules[0].reply.headers.x-trace: invalid header value" in text
    assert "rules[0].reply.headers.bad name: invalid header name 'bad name'" in text
    assert "rules[0].reply.headers.Content-Length: header 'Content-Length' frames" in text
    assert "rules[1].reply.error.headers.x:colon: invalid header name" in text
    assert (
        "rules[1].reply.error.headers.transfer-encoding: header 'transfer-encoding' frames" in text
    )
    assert "defaults.headers.x-bell: invalid header value" in text
    assert "x-ok" not in text
    assert len(found) == 6, found


def test_a_regex_only_the_compiler_refuses_is_refused_at_load_all_the_same():
    # Python's re parses a look-behind of varying width; only its compiler refuses it.
    found = problems(
        """
        rules:
          - match: { last_user: { regex: "(?<=a+)b" } }
            reply: { content: x }
          - match: { last_user: { regex: "(?<=ab)c" } }
            reply: { content: y }
        """
    )
    assert len(found) == 1, found
    assert "s.yaml:3: rules[0].match.last_user: invalid regex '(?<=a+)b'" in found[0]
    assert "look-behind requires fixed-width pattern" in found[0]


def test_patterns_compiled_on_first_use_match_as_compiled_ones_do():
    from mockllm.regexes import SafeRegex
    from mockllm.rules import Glob

    cases = [
        ("refund.*order \\d+", False, ["a refund for order 12", "refund", "REFUND order 1"]),
        ("refund.*order \\d+", True, ["a refund for order 12", "REFUND ORDER 1", "order 1"]),
        ("(?<=ab)c", False, ["abc", "xbc", "a" * 5000 + "abc"]),
        ("^\\w+$", False, ["word", "two words", "x" * 5000]),
    ]
    for pattern, ignore_case, texts in cases:
        flags = re.IGNORECASE if ignore_case else 0
        for text in texts:
            fresh = SafeRegex(pattern, ignore_case)
            assert fresh.search(text) == bool(re.search(pattern, text, flags)), (pattern, text)
            assert SafeRegex(pattern, ignore_case).sub("#", text) == re.sub(
                pattern, "#", text, flags=flags
            )
    for pattern, ignore_case, texts in [
        ("gpt-4?-[ab]*", False, ["gpt-4o-ab", "gpt-4o-", "my-gpt-4o-a", "gpt-4oo-"]),
        ("GPT-[0-9]*", True, ["gpt-4", "Gpt-4o", "claude"]),
    ]:
        flags = re.IGNORECASE if ignore_case else 0
        for text in texts:
            want = re.match(fnmatch.translate(pattern), text, flags) is not None
            assert Glob(pattern, ignore_case).search(text) == want, (pattern, text)


LINES_DOCUMENT = """\
version: 1
base: &base
  model: gpt-4o
  temperature: 0.5
rules:
  - name: first
    match:
      <<: *base
      last_user: hi
  - name: second
    1: one
    name: again
    reply: { content: "x" }
  -
    - nested
    - *base
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ((), 1),
        (("version",), 1),
        (("base",), 2),
        (("base", "model"), 3),
        (("rules",), 5),
        (("rules", 0), 6),
        (("rules", 0, "name"), 6),
        (("rules", 0, "match"), 7),
        (("rules", 0, "match", "last_user"), 9),
        (("rules", 0, "match", "model"), 3),  # merged in: the anchor's key
        (("rules", 0, "match", "temperature", "deeper"), 4),
        (("rules", 1, "1"), 11),  # a number key, read as text
        (("rules", 1, 1), 10),  # not a key of the mapping: the mapping's line
        (("rules", 1, "name"), 12),  # a repeated key: the last one
        (("rules", 1, "reply", "content"), 13),
        (("rules", 2), 15),
        (("rules", 2, 1), 2),  # an alias: where its anchor is
        (("rules", 2, 1, "temperature"), 4),  # through an alias
        (("rules", 2, "x"), 15),
        (("rules", 9), 5),  # past the end: the list's key
        (("nothing", "here"), 1),
    ],
)
def test_a_path_is_found_on_its_line(path: tuple[str | int, ...], line: int) -> None:
    data, lines = parse_document(LINES_DOCUMENT, "lines.yaml")
    assert data["rules"][0]["match"]["model"] == "gpt-4o"
    assert lines.line(path) == line
    assert [p.line for p in lines.problems] == [12]  # the repeated `name`


def test_an_empty_document_has_no_lines() -> None:
    data, lines = parse_document("", "empty.yaml")
    assert data is None and lines.line(("rules",)) is None


def test_a_date_where_text_belongs_is_named_a_date_with_the_way_out() -> None:
    found = problems(
        """
        rules:
          - name: 2024-01-02
            match: { last_user: 2024-01-01 }
            reply: { content: hi, headers: { x-day: 2024-01-01T10:00:00Z } }
        """
    )
    assert found == [
        "s.yaml:3: rules[0].name: expected a string, found a date (2024-01-02); write it in"
        " quotes to make it text",
        "s.yaml:4: rules[0].match.last_user: expected a string or true or false or a mapping or"
        " a list, found a date (2024-01-01); write it in quotes to make it text",
        "s.yaml:5: rules[0].reply.headers.x-day: expected a string, found a timestamp"
        " (2024-01-01T10:00:00+00:00); write it in quotes to make it text",
    ]
    assert problems("rules:\n  - reply: { content: !!binary aGk= }\n") == [
        "s.yaml:2: rules[0].reply.content: expected a string, found binary data"
    ]


def test_another_family_s_word_is_answered_with_the_scenario_s_own() -> None:
    found = problems(
        """
        rules:
          - match: { api: anthropic }
            reply: { content: x, finish_reason: end_turn, usage: { output_tokens: 3 } }
          - reply: { content: x, thinking: y, finish_reason: max_tokens }
        """
    )
    assert found == [
        "s.yaml:3: rules[0].match.api: unknown value 'anthropic'; valid: chat, responses,"
        " messages, embeddings, completions",
        "s.yaml:4: rules[0].reply.finish_reason: unknown value 'end_turn'; did you mean 'stop'?"
        " valid: stop, length, tool_calls, content_filter, function_call",
        "s.yaml:4: rules[0].reply.usage.output_tokens: unknown key 'output_tokens'; did you mean"
        " 'completion_tokens'? valid keys: prompt_tokens, completion_tokens, total_tokens",
        "s.yaml:5: rules[1].reply.thinking: unknown key 'thinking'; did you mean 'reasoning'?"
        " valid keys: content, faker, generate, chunks, tool_calls, refusal, finish_reason,"
        " logprobs, reasoning, choices, usage, headers, error, latency, fault, model",
        "s.yaml:5: rules[1].reply.finish_reason: unknown value 'max_tokens'; did you mean"
        " 'length'? valid: stop, length, tool_calls, content_filter, function_call",
    ]


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ('!!python/object/apply:os.system ["echo owned"]', "!!python/object/apply:os.system"),
        (
            "!!python/object:collections.OrderedDict { content: hi }",
            "!!python/object:collections.OrderedDict",
        ),
        ("!custom { content: hi }", "!custom"),
        ("!custom hi", "!custom"),
    ],
)
def test_a_value_under_a_tag_no_safe_loader_makes_is_refused_naming_the_tag(
    value: str, tag: str
) -> None:
    assert problems(f"version: 1\nrules:\n  - name: a\n    reply: {value}\n") == [
        f"s.yaml:4: not valid YAML: unknown tag '{tag}' (only YAML's standard types are read:"
        " !!str, !!int, …)"
    ]
    assert len(
        load_text("rules:\n  - match: { tools: !!seq [a] }\n    reply: !!map {content: x}\n")
    )


def test_a_rule_kept_to_families_gives_only_what_their_answers_carry() -> None:
    found = problems(
        """
        rules:
          - match: { api: embeddings }
            sequence:
              - error: { status: 429 }
              - { latency: { ttft_ms: 5 }, usage: { prompt_tokens: 3 }, headers: { x-a: b } }
              - { tool_calls: [ { name: f } ] }
          - match: { api: [messages] }
            reply: { content: x, logprobs: true }
          - match: { api: [chat, messages] }
            reply: { content: x, logprobs: true }
        """
    )
    assert found == [
        "s.yaml:7: rules[0].sequence[2].tool_calls: 'tool_calls' has no place in an answer of"
        " api embeddings: an embeddings request is answered with vectors; a rule can give it an"
        " error, a latency, a fault, headers and usage",
        "s.yaml:9: rules[1].reply.logprobs: 'logprobs' has no place in an answer of api"
        " messages: the Messages API sends no log probabilities",
    ]


def test_a_match_no_request_can_meet_or_a_number_for_a_name_is_refused() -> None:
    found = problems(
        """
        rules:
          - match: { turn: { min: 3, max: 1 }, model: 4, api_key: 12345 }
            reply: { content: x }
        """
    )
    assert found == [
        "s.yaml:3: rules[0].match.turn: min 3 is over max 1: no request has such a turn",
        "s.yaml:3: rules[0].match.model: expected a string or a pattern mapping, found an"
        " integer; write it in quotes to make it text",
        "s.yaml:3: rules[0].match.api_key: expected a string or a pattern mapping, found an"
        " integer; write it in quotes to make it text",
    ]


def test_a_content_type_header_is_the_server_s_to_send() -> None:
    assert problems("rules:\n  - reply: {content: x, headers: {Content-Type: text/plain}}\n") == [
        "s.yaml:2: rules[0].reply.headers.Content-Type: header 'Content-Type' says what the body"
        " is (JSON, or an event stream): the server sets it"
    ]


def test_a_header_name_no_request_can_send_is_refused_in_a_match() -> None:
    assert problems(
        "rules:\n  - match: { header: { X Team: a } }\n    reply: { content: x }\n"
    ) == [
        "s.yaml:2: rules[0].match.header: invalid header name 'X Team': letters, digits and"
        " !#$%&'*+-.^_`|~ only, no spaces or colons"
    ]


def test_choices_past_the_first_for_families_without_n_are_refused() -> None:
    found = problems(
        """
        rules:
          - match: { api: [responses, messages] }
            reply: { choices: [{ content: a }, { content: b }] }
          - match: { api: [responses, chat] }
            reply: { choices: [{ content: a }, { content: b }] }
        """
    )
    assert found == [
        "s.yaml:4: rules[0].reply.choices[1]: api responses, messages answers one choice (a"
        " request has no `n`): only the first of these is ever sent"
    ]


def test_a_tool_use_id_the_messages_api_would_refuse_back_is_refused() -> None:
    found = problems(
        """
        rules:
          - match: { api: messages }
            reply: { tool_calls: [{ name: f, id: "functions.f:0" }, { name: g, id: toolu_1 }] }
          - match: { api: [messages, chat] }
            reply: { tool_calls: [{ name: f, id: "functions.f:0" }] }
        """
    )
    assert found == [
        "s.yaml:4: rules[0].reply.tool_calls[0].id: 'functions.f:0' is no tool_use id of the"
        " Messages API (letters, digits, _ and - only): the client's next request sends it"
        " back, and is refused with \"String should match pattern '^[a-zA-Z0-9_-]+$'\""
    ]


def test_a_key_with_a_no_break_space_says_so() -> None:
    # Pasted from a web page: YAML reads the no-break space as part of the key.
    [found] = problems("rules:\n  - reply: { \u00a0content: hi }\n")
    assert found.endswith(
        "unknown key '\\xa0content': it holds U+00A0, which YAML reads as part of the key, not"
        " as a space; did you mean 'content'? valid keys: content, faker, generate, chunks,"
        " tool_calls, refusal, finish_reason, logprobs, reasoning, choices, usage, headers,"
        " error, latency, fault, model"
    )


def test_a_latency_past_an_hour_is_refused_as_the_cli_s_is() -> None:
    found = problems(
        """
        rules:
          - reply: { content: x, latency: { ttft_ms: 30000000, jitter_ms: 0.5 } }
            latency_model: { prefill_ms_per_1k: 4000000.5 }
        """
    )
    assert found == [
        "s.yaml:3: rules[0].reply.latency.ttft_ms: expected a value <= 3600000, found 30000000",
        "s.yaml:4: rules[0].latency_model.prefill_ms_per_1k: expected a value <= 3600000, found"
        " 4000000.5",
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX's")
def test_a_pipe_or_a_device_named_yaml_is_refused_not_read_for_ever(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mockllm.cli import main

    os.mkfifo(tmp_path / "pipe.yaml")  # its open() would wait for a writer
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")  # its read() would never end
    (tmp_path / "big.yaml").write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(ScenarioError) as info:
        load_scenarios([tmp_path])
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'big.yaml'}: file over 4194304 bytes",
        f"{tmp_path / 'pipe.yaml'}: not a regular file (a pipe, a device, a socket)",
        f"{tmp_path / 'zero.yaml'}: not a regular file (a pipe, a device, a socket)",
    ]
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1 and "pipe.yaml: not a regular file" in result.output


@pytest.mark.parametrize("api", ["chat", "responses", "completions", "[chat]", "[embeddings]"])
def test_a_rule_kept_to_one_family_loads(api: str) -> None:
    reply = "{ error: { status: 429 } }" if "embeddings" in api else "{ content: x }"
    assert len(load_text(f"rules:\n  - match: {{ api: {api} }}\n    reply: {reply}\n")) == 1
