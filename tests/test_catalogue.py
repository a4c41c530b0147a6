"""The model catalogue: lookups, the models mockllm lists and the gateways name, limits."""

from __future__ import annotations

import orjson
import pytest

from mockllm.catalogue import catalogue, lookup, parse_catalogue
from mockllm.dialects import ParseContext, chat
from mockllm.engine import LISTED_MODELS
from mockllm.errors import RequestError
from mockllm.profiles import builtin_profiles, load_profile
from mockllm.refusals import output_limit


@pytest.mark.parametrize(
    ("model", "entry", "window", "output"),
    [
        ("gpt-4o", "gpt-4o", 128000, 16384),
        ("gpt-4o-2024-08-06", "gpt-4o", 128000, 16384),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", 128000, 16384),
        ("openai/gpt-4o-mini", "gpt-4o-mini", 128000, 16384),
        ("gpt-4.1-nano", "gpt-4.1-nano", 1047576, 32768),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini", 400000, 128000),
        ("o3", "o3", 200000, 100000),
        ("deepseek/deepseek-chat", "deepseek-chat", 131072, 8192),
        ("anthropic/claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", 200000, 8192),
        ("gpt-4", "gpt-4", 8192, 8192),
    ],
)
def test_lookup_finds_the_entry(model: str, entry: str, window: int, output: int) -> None:
    found = lookup(model)
    assert (found.id, found.context_window, found.max_output_tokens) == (entry, window, output)
    assert found.known


def test_reasoning_models_and_their_rules() -> None:
    assert lookup("o4-mini").reasoning == "hidden"
    assert lookup("deepseek-reasoner").reasoning == "visible"
    assert lookup("gpt-4o").reasoning == "none"
    o3 = lookup("o3").rules_for("chat")
    assert [u.param for u in o3.unsupported][:1] == ["max_tokens"]
    assert dict(o3.default_only) == {"temperature": 1.0}
    assert lookup("gpt-4.1").rules_for("chat").unrecognized == ("reasoning_effort",)
    # o1-mini: the reasoning set (a YAML merge of it) and no system or developer message
    o1_mini = lookup("o1-mini-2024-09-12").rules_for("chat")
    assert o1_mini.unsupported_roles == ("system", "developer")
    assert (o1_mini.unsupported, o1_mini.default_only) == (o3.unsupported, o3.default_only)
    assert o3.unsupported_roles == ()


def test_an_unknown_model_gets_the_generous_default() -> None:
    found = lookup("my-local-llama")
    assert not found.known
    assert (found.context_window, found.max_output_tokens) == (1048576, 131072)
    assert found.reasoning == "none" and found.rules == ()


def test_every_model_listed_or_named_by_a_profile_is_in_the_catalogue() -> None:
    # vLLM's profile serves an open-weights model, which the catalogue leaves to `unknown`
    profiles = [load_profile(n) for n in builtin_profiles() if load_profile(n).vllm is None]
    named = {m for profile in profiles for m in profile.models.listed}
    named |= {profile.models.default for profile in profiles}
    chat_models = [m for m in (*LISTED_MODELS, *named) if "embedding" not in m]
    unknown = [m for m in chat_models if not lookup(m).known]
    assert not unknown
    assert all(e.source.startswith("https://") for e in catalogue().models)


def test_a_bad_entry_is_named() -> None:
    data = {"unknown": {"context_window": 10, "max_output_tokens": 5}, "models": [{"id": "x"}]}
    with pytest.raises(ValueError, match=r"models\[0\] \(x\): context_window"):
        parse_catalogue(data)
    data["models"] = [{"id": "x", "context_window": 1, "max_output_tokens": 1, "parameters": "y"}]
    with pytest.raises(ValueError, match="unknown parameter set 'y'"):
        parse_catalogue(data)
    data["parameter_sets"] = {"y": {"chat": {"unsupported_roles": "system"}}}
    with pytest.raises(ValueError, match=r"parameter_sets\.y\.chat\.unsupported_roles must be"):
        parse_catalogue(data)


_DEFAULT = ParseContext()


def _parse(context: ParseContext = _DEFAULT, **fields: object) -> object:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **fields}
    return chat.parse(orjson.dumps(body), {}, "/v1/chat/completions", context)


def test_the_model_limit_is_the_default_and_the_flag_overrides_it() -> None:
    assert _parse(max_tokens=8192).max_tokens == 8192  # type: ignore[attr-defined]
    assert _parse(model="o4-mini", max_completion_tokens=16000).max_tokens == 16000  # type: ignore[attr-defined]
    assert _parse().max_tokens == 16384  # type: ignore[attr-defined]
    with pytest.raises(RequestError, match="at most 4096 completion tokens"):
        _parse(ParseContext(max_output=4096), max_tokens=8192)
    assert output_limit(lookup("gpt-4o"), ParseContext(lenient=True)) is None
    assert output_limit(lookup("gpt-4o"), ParseContext(lenient=True, max_output=64)) == 64


@pytest.mark.parametrize(
    ("model", "entry", "window", "output"),
    [
        ("claude-opus-4-6", "claude-opus-4-6", 1000000, 128000),
        ("claude-sonnet-4-6", "claude-sonnet-4-6", 1000000, 128000),
        ("claude-opus-4-5", "claude-opus-4-5-20251101", 200000, 64000),
        ("claude-opus-4-5-20251101", "claude-opus-4-5-20251101", 200000, 64000),
        ("claude-opus-4-1", "claude-opus-4-1-20250805", 200000, 32000),
        ("claude-opus-4-0", "claude-opus-4-20250514", 200000, 32000),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 200000, 64000),
        ("claude-sonnet-4-0", "claude-sonnet-4-20250514", 200000, 64000),
        ("claude-haiku-4-5", "claude-haiku-4-5-20251001", 200000, 64000),
    ],
)
def test_claude_models_have_their_own_limits(
    model: str, entry: str, window: int, output: int
) -> None:
    found = lookup(model)
    assert (found.id, found.context_window, found.max_output_tokens) == (entry, window, output)


def test_claude_entries_say_what_the_messages_api_refuses() -> None:
    assert not lookup("claude-3-5-haiku-20241022").extended_thinking
    assert not lookup("claude-3-haiku-20240307").extended_thinking
    assert lookup("claude-sonnet-4-5").extended_thinking
    one = ["claude-opus-4-1", "claude-opus-4-5", "claude-opus-4-6", "claude-sonnet-4-5"]
    assert all(lookup(m).one_sampler for m in [*one, "claude-sonnet-4-6", "claude-haiku-4-5"])
    assert not any(lookup(m).one_sampler for m in ["claude-sonnet-4-0", "claude-opus-4-0"])
    assert [m for m in one + ["claude-sonnet-4-6"] if not lookup(m).prefill] == [
        "claude-opus-4-6",
        "claude-sonnet-4-6",
    ]
    unknown = lookup("my-local-llama")
    assert unknown.extended_thinking and unknown.prefill and not unknown.one_sampler
