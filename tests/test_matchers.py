"""Matchers and text patterns."""

from __future__ import annotations

import pytest

from mockllm.matchers import MATCHERS, check_condition, compile_pattern
from mockllm.rules import Condition
from tests.factories import make_chat_request


def holds(key: str, value: object, **request: object) -> bool:
    arg = MATCHERS[key][0](value)
    return check_condition(Condition(key, arg), make_chat_request(**request)).matched


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("hello", "hello", True),
        ("hello", "hello!", False),
        ({"contains": "ell"}, "hello", True),
        ({"regex": "^h.l+o$"}, "hello", True),
        ({"glob": "h*o"}, "hello", True),
        ({"contains": "HELL", "ignore_case": True}, "hello", True),
        ("/^he/", "hello", True),
        (["nope", {"contains": "llo"}], "hello", True),
        (["nope", "nada"], "hello", False),
        ("What is 2*3?", "What is 2*3?", True),  # message text: * is literal
        # A glob covers the whole text: anchored at both ends.
        ({"glob": "h*o"}, "oh hello", False),
        ({"glob": "h*o"}, "hello there", False),
        ({"glob": "*ell*"}, "hello", True),
        ({"glob": "*a*b*c"}, "xaybzc", True),
        ({"glob": "*a*b*c"}, "xaybzcd", False),
        ({"glob": "*b*a*"}, "ab", False),
        ({"glob": "ab*ba"}, "aba", False),  # the prefix and the suffix may not overlap
        ({"glob": "h?llo"}, "hello", True),
        ({"glob": "h[!a]llo"}, "hallo", False),
        ({"glob": "*HELLO*", "ignore_case": True}, "say hello", True),
    ],
)
def test_text_patterns(pattern: object, text: str, expected: bool):
    assert compile_pattern(pattern).test(text) is expected


def test_model_patterns_are_name_aware():
    assert holds("model", "gpt-4o*", model="gpt-4o-mini")
    assert not holds("model", "gpt-4o*", model="gpt-4.1")
    assert not holds("model", "gpt-4o*", model="my-gpt-4o")  # a glob starts at the start
    assert holds("model", "/^gpt-4o(-mini)?$/", model="gpt-4o")
    assert holds("model", "openai/gpt-4o", model="openai/gpt-4o")


def test_provider_from_header_or_prefix():
    assert holds("provider", "deepseek", model="deepseek/deepseek-chat")
    assert holds("provider", "deepseek", model="x", headers={"x-ai-provider": "deepseek"})
    assert not holds("provider", "deepseek", model="gpt-4o")


def test_messages_and_turns():
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    assert holds("last_user", "second", messages=messages)
    assert holds("system", {"contains": "terse"}, messages=messages)
    assert holds("any_message", "first", messages=messages)
    assert holds("turn", 2, messages=messages)
    assert holds("turn", {"min": 2}, messages=messages)
    assert not holds("turn", {"max": 1}, messages=messages)
    assert holds("last_message", {"role": "user", "content": "second"}, messages=messages)


def test_request_features():
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    assert holds("tools", ["get_weather"], tools=tools)
    assert not holds("tools", ["get_weather", "other"], tools=tools)
    assert holds("tools", False)
    assert holds("tool_choice", "auto", tools=tools)
    assert holds("tool_choice", "required", tools=tools, tool_choice="required")
    assert holds("stream", True, stream=True)
    assert holds(
        "response_format",
        "json_object",
        user="json please",
        response_format={"type": "json_object"},
    )


def test_body_paths_and_headers():
    assert holds("body", {"metadata.test_id": "t-*"}, metadata={"test_id": "t-1"}) is False
    assert holds("body", {"metadata.test_id": {"glob": "t-*"}}, metadata={"test_id": "t-1"})
    assert holds("body", {"temperature": 0.5}, temperature=0.5)
    assert not holds("body", {"metadata.missing": "x"}, metadata={})
    assert holds("header", {"X-Test": "on*"}, headers={"x-test": "only"})


def test_failure_reasons_are_readable():
    arg = MATCHERS["model"][0]("gpt-3*")
    result = check_condition(Condition("model", arg), make_chat_request(model="gpt-4o"))
    assert result.reason == "model: 'gpt-4o' is not glob 'gpt-3*'"


@pytest.mark.parametrize("bad", [{"contains": 3}, {"regex": "("}, {"foo": "x"}, [], 3.5])
def test_bad_patterns_raise_value_error(bad: object):
    with pytest.raises(ValueError):
        compile_pattern(bad, names=True)


@pytest.mark.parametrize(
    "pattern, width",
    [("(ab|a){1000}(ab|a){1000}c", "4,001"), ("[a-z]{1000}[a-z]{1000}x", "2,001")],
)
def test_a_pattern_too_wide_for_linear_matching_is_refused(pattern: str, width: str):
    with pytest.raises(ValueError) as refused:
        compile_pattern({"regex": pattern})
    assert str(refused.value).startswith(f"regex {pattern!r} is too wide:")
    assert f"write out to {width} steps, over 1,200" in str(refused.value)


@pytest.mark.parametrize(
    "pattern, text",
    [
        ("[a-z]{1000}x", "q" * 5000 + "x"),
        ("foo.{0,500}bar", "foo" + "-" * 500 + "bar"),
        ("(ab|a){500}c", "ab" * 600 + "c"),
    ],
)
def test_counted_repetitions_within_the_width_are_accepted(pattern: str, text: str):
    compiled = compile_pattern({"regex": pattern})
    assert compiled.regex.search(text) and not compiled.regex.search(text[:-1])
