"""Profiles: built-ins load, user files extend them, problems name file:line: field, and
requests are refused in each gateway's words."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest
import yaml

from mockllm.errors import ProfileError, RequestError
from mockllm.profiles import (
    ERROR_KINDS,
    Profile,
    balance_body,
    builtin_profiles,
    check_auth,
    check_headers,
    check_params,
    key_from,
    load_profile,
    profile_schema,
    profile_text,
    refuse_key,
)

BUILTINS = ("ainative", "nextapi", "openai", "qingcheng", "tokenhub", "vllm")
ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems_of(name_or_path: str | Path) -> list[str]:
    with pytest.raises(ProfileError) as info:
        load_profile(str(name_or_path))
    return [str(p) for p in info.value.problems]


def check_request(profile: Profile, headers: dict[str, str], body: dict) -> str | None:
    """What the gateway checks from the profile alone, in its order: the key sent (401),
    required headers (400), parameter ranges (400). Returns the key."""
    key = check_auth(profile, headers)
    check_headers(profile, headers)
    check_params(profile, body)
    return key


def refusal(profile: str, headers: dict[str, str], body: dict | None = None) -> RequestError:
    with pytest.raises(RequestError) as info:
        check_request(load_profile(profile), headers, body or {"model": "m"})
    return info.value


# --- loading ----------------------------------------------------------------------------


def test_the_builtins_are_the_five_gateways_and_vllm():
    assert builtin_profiles() == BUILTINS


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_loads_complete(name: str):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.chat_paths and all(p.startswith("/") for p in profile.chat_paths)
    assert profile.models_path == "/v1/models"
    # Every kind, the optional ones included: without its own `request_too_large`, a
    # profile's `rate_limited` message (`Retry in {retry_after}`) would tell a request that
    # never fits to retry in 0s.
    assert set(profile.errors) == set(ERROR_KINDS)
    assert profile.models.default
    assert profile.on_exhaustion in ("length", "error")
    for kind in ERROR_KINDS:
        error = profile.error(kind)  # type: ignore[arg-type]
        assert 400 <= error.status < 600 and error.message


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_validates_against_the_json_schema(name: str):
    text = (ROOT / "mockllm" / "profiles" / f"{name}.yaml").read_text(encoding="utf-8")
    jsonschema.validate(yaml.safe_load(text), profile_schema())


def test_builtin_profiles_are_shared_frozen_objects():
    assert load_profile("openai") is load_profile("openai")
    with pytest.raises(AttributeError):
        load_profile("openai").name = "x"  # type: ignore[misc]


def test_gateway_specifics():
    ainative = load_profile("ainative")
    assert ainative.chat_paths == ("/v1/public/chat/completions", "/v1/chat/completions")
    assert ainative.auth.headers == ("x-api-key", "authorization")
    assert ainative.auth.key_hint == "ak_..."
    assert ainative.balance is not None
    assert ainative.balance.path == "/api/v1/public/credits/balance"
    assert ainative.errors["out_of_credits"].status == 402
    assert ainative.errors["out_of_credits"].code == "insufficient_credits"
    qingcheng = load_profile("qingcheng")
    assert [h.name for h in qingcheng.required_headers] == ["X-AI-Provider"]
    assert qingcheng.auth.required and qingcheng.auth.headers == ("x-api-key",)
    assert qingcheng.errors["out_of_credits"].status == 403
    tokenhub = load_profile("tokenhub")
    assert tokenhub.models.naming == "provider"
    assert tokenhub.ranges["temperature"] == (-2, 2)
    assert tokenhub.errors["out_of_credits"].code == "insufficient_user_quota"
    assert load_profile("nextapi").errors["out_of_credits"].status == 403
    openai = load_profile("openai")
    assert openai.balance is None
    assert openai.ranges == {
        "temperature": (0, 2),
        "top_p": (0, 1),
        "frequency_penalty": (-2, 2),
        "presence_penalty": (-2, 2),
    }


def test_openai_out_of_credits_is_insufficient_quota():
    error = load_profile("openai").error("out_of_credits")
    assert (error.status, error.type, error.code) == (
        429,
        "insufficient_quota",
        "insufficient_quota",
    )
    assert error.message.startswith(
        "You exceeded your current quota, please check your plan and billing details."
    )


def test_user_profile_extends_a_builtin(tmp_path: Path):
    path = write(
        tmp_path,
        "mygateway.yaml",
        """
        extends: openai
        chat_paths: [/api/chat]
        auth:
          headers: [Authorization, X-API-Key]
          key_hint: gw-...
        ranges:
          temperature: { max: 1 }
        errors:
          out_of_credits: { status: 402, message: "Top up: {balance} left" }
        """,
    )
    profile = load_profile(str(path))
    assert profile.name == "mygateway"
    assert profile.description == ""
    assert profile.chat_paths == ("/api/chat",)
    assert profile.auth.headers == ("authorization", "x-api-key")
    assert profile.auth.key_hint == "gw-..."
    assert profile.auth.required is False  # inherited
    assert profile.ranges["temperature"] == (0, 1)
    assert profile.ranges["top_p"] == (0, 1)
    error = profile.error("out_of_credits", balance=Fraction(1, 4))
    assert (error.status, error.message) == (402, "Top up: 0.25 left")
    assert error.type == "insufficient_quota"  # inherited from the openai entry
    assert profile.errors["invalid_key"] == load_profile("openai").errors["invalid_key"]


def test_user_profile_extends_another_file_relative_to_it(tmp_path: Path):
    write(tmp_path, "base.yaml", "extends: qingcheng\nname: base\nmodels: { default: qwen }\n")
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", "child.yaml", "extends: ../base.yaml\nname: child\n")
    profile = load_profile(str(path))
    assert profile.name == "child"
    assert profile.models.default == "qwen"
    assert profile.required_headers[0].name == "X-AI-Provider"


def test_balance_null_removes_the_endpoint(tmp_path: Path):
    path = write(tmp_path, "p.yaml", "extends: ainative\nbalance: null\n")
    assert load_profile(str(path)).balance is None


def test_extends_cycle_is_reported(tmp_path: Path):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    (found,) = problems_of(tmp_path / "a.yaml")
    assert "extends: profiles extend in a cycle" in found


def test_extends_unknown_builtin_names_the_line(tmp_path: Path):
    path = write(tmp_path, "p.yaml", "name: p\nextends: openia\n")
    (found,) = problems_of(path)
    assert found.startswith(f"{path}:2: extends: ")
    assert "did you mean 'openai'?" in found


def test_typos_give_file_line_field_and_the_closest_key(tmp_path: Path):
    path = write(
        tmp_path,
        "p.yaml",
        """
        extends: openai
        auht:
          required: true
        ranges:
          temprature: { min: 0, max: 1 }
        errors:
          out_of_credit: { status: 402 }
          rate_limited: { staus: 429 }
        on_exhaustion: lenght
        """,
    )
    found = problems_of(path)
    assert found[0] == (
        f"{path}:2: auht: unknown key 'auht'; did you mean 'auth'? valid keys: extends, name, "
        "description, chat_paths, models_path, auth, required_headers, ranges, models, balance, "
        "errors, on_exhaustion, error_shape, unknown_arguments, dated_models, vllm"
    )
    assert found[1].startswith(
        f"{path}:5: ranges.temprature: unknown key 'temprature'; did you mean 'temperature'?"
    )
    assert found[2].startswith(
        f"{path}:7: errors.out_of_credit: unknown key 'out_of_credit'; "
        "did you mean 'out_of_credits'?"
    )
    assert found[3].startswith(
        f"{path}:8: errors.rate_limited.staus: unknown key 'staus'; did you mean 'status'?"
    )
    assert found[4].startswith(
        f"{path}:9: on_exhaustion: unknown value 'lenght'; did you mean 'length'?"
    )
    assert len(found) == 5


def test_wrong_types_and_bad_header_names(tmp_path: Path):
    path = write(
        tmp_path,
        "p.yaml",
        """
        extends: openai
        chat_paths: /v1/chat
        auth:
          headers: [x-api-kee]
          required: yes please
        """,
    )
    assert problems_of(path) == [
        f"{path}:2: chat_paths: expected a list, found a string",
        f"{path}:4: auth.headers[0]: unknown value 'x-api-kee'; did you mean 'x-api-key'? "
        "valid: authorization, x-api-key, api-key",
        f"{path}:5: auth.required: expected true or false, found a string",
    ]


def test_template_fields_are_checked_with_a_suggestion(tmp_path: Path):
    path = write(
        tmp_path,
        "p.yaml",
        """
        extends: openai
        errors:
          model_forbidden: { status: 403, message: "no access to {modle}" }
          bad_param: { status: 400, message: "bad {param" }
        balance:
          path: /balance
          shape: { left: "{remainig}" }
        """,
    )
    found = problems_of(path)
    assert found[0].startswith(f"{path}:4: errors.bad_param.message: not a valid template")
    assert found[1] == (
        f"{path}:3: errors.model_forbidden.message: unknown field '{{modle}}'; "
        "did you mean '{model}'? valid fields: key_hint, profile, model"
    )
    assert found[2].startswith(f"{path}:7: balance.shape.left: unknown field '{{remainig}}'")


def test_paths_must_start_with_a_slash_and_ranges_be_ordered(tmp_path: Path):
    path = write(
        tmp_path,
        "p.yaml",
        """
        extends: openai
        chat_paths: [/ok, v1/chat]
        ranges:
          top_p: { min: 1, max: 0 }
        """,
    )
    assert problems_of(path) == [
        f"{path}:2: chat_paths[1]: a path must start with '/', found 'v1/chat'",
        f"{path}:4: ranges.top_p: min (1) is above max (0)",
    ]


def test_a_profile_without_extends_must_be_complete(tmp_path: Path):
    path = write(tmp_path, "p.yaml", "name: p\nchat_paths: [/chat]\n")
    found = problems_of(path)
    assert (
        f"{path}:1: missing required key 'auth' (or start from a built-in with "
        "'extends: openai')" in found
    )
    assert any("missing required key 'errors'" in p for p in found)


def test_unknown_builtin_lists_the_builtins():
    (found,) = problems_of("openia")
    assert found == (
        "openia: profile: unknown profile 'openia'; did you mean 'openai'? built-in profiles: "
        "ainative, nextapi, openai, qingcheng, tokenhub, vllm (or give the path of a profile "
        "file)"
    )
    (unlike,) = problems_of("nosuch")
    assert unlike == (
        "nosuch: profile: unknown profile 'nosuch'; built-in profiles: "
        "ainative, nextapi, openai, qingcheng, tokenhub, vllm (or give the path of a profile "
        "file)"
    )


def test_missing_file_and_broken_yaml(tmp_path: Path):
    assert problems_of(tmp_path / "none.yaml") == [f"{tmp_path / 'none.yaml'}: no such file"]
    path = write(tmp_path, "bad.yaml", "extends: openai\nauth: [\n")
    (found,) = problems_of(path)
    assert found.startswith(f"{path}:3: not valid YAML")
    (found,) = problems_of(write(tmp_path, "list.yaml", "- a\n"))
    assert "expected a profile mapping" in found


def test_profile_text_reads_a_document():
    profile = profile_text("extends: nextapi\nname: mine\n", "inline")
    assert profile.name == "mine" and profile.source == "inline"


def test_profiles_do_not_import_http_libraries():
    code = (
        "import sys, mockllm.profiles, mockllm.accounts; "
        "print(' '.join(m for m in ('starlette', 'uvicorn', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --- requests ---------------------------------------------------------------------------


def test_qingcheng_missing_provider_header_is_a_400_naming_it():
    error = refusal("qingcheng", {"x-api-key": "k"})
    assert error.status == 400
    assert "X-AI-Provider" in error.message
    assert error.code == "missing_header"


def test_qingcheng_requires_the_key_header_first():
    error = refusal("qingcheng", {"x-ai-provider": "deepseek"})
    assert error.status == 401
    assert "X-API-Key: <key>" in error.message
    profile = load_profile("qingcheng")
    assert check_request(profile, {"x-api-key": "k", "x-ai-provider": "deepseek"}, {}) == "k"


def test_qingcheng_refuses_bearer_since_it_reads_x_api_key():
    error = refusal("qingcheng", {"authorization": "Bearer k", "x-ai-provider": "deepseek"})
    assert error.status == 401


@pytest.mark.parametrize(
    "headers",
    [{"x-api-key": "ak_live_123"}, {"authorization": "Bearer ak_live_123"}],
)
def test_ainative_accepts_x_api_key_and_bearer(headers: dict[str, str]):
    assert check_request(load_profile("ainative"), headers, {"model": "m"}) == "ak_live_123"


def test_ainative_without_a_key_hints_at_the_key_format():
    error = refusal("ainative", {})
    assert error.status == 401
    assert error.message == (
        "Missing API key. Send it as X-API-Key: <key> or Authorization: Bearer <key>; "
        "AINative API keys look like ak_..."
    )


def test_openai_answers_without_a_key_or_with_one_in_any_usual_header():
    profile = load_profile("openai")
    assert check_request(profile, {}, {}) is None
    assert check_request(profile, {"authorization": "Bearer sk-1"}, {}) == "sk-1"
    assert check_request(profile, {"x-api-key": "sk-2"}, {}) == "sk-2"
    assert check_request(profile, {"api-key": "sk-3"}, {}) == "sk-3"
    both = {"authorization": "Bearer sk-1", "api-key": "sk-3"}
    assert check_request(profile, both, {}) == "sk-1"  # Bearer first
    error = refusal("openai", {"authorization": "Basic c2stMQ=="})
    assert (error.status, error.code, error.type) == (401, None, "invalid_request_error")
    assert error.message.startswith("You didn't provide an API key.")


def test_authorization_without_bearer_is_no_key():
    profile = load_profile("nextapi")
    assert key_from(profile, {"authorization": "Basic abc"}) is None
    assert key_from(profile, {"authorization": "bearer  sk-x "}) == "sk-x"
    with pytest.raises(RequestError) as info:
        check_auth(profile, {"authorization": "sk-x"})
    assert info.value.status == 401


def test_tokenhub_accepts_negative_temperature_that_openai_refuses():
    body = {"model": "openai/gpt-4o", "temperature": -1.5}
    assert check_request(load_profile("tokenhub"), {"authorization": "Bearer sk-bf-1"}, body)
    error = refusal("openai", {}, body)
    assert error.status == 400
    assert error.param == "temperature"
    assert error.code == "decimal_below_min_value"
    assert error.message == (
        "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, "
        "but got -1.5 instead."
    )


def test_nextapi_top_p_above_one_is_a_400():
    error = refusal("nextapi", {"authorization": "Bearer sk-1"}, {"top_p": 1.5})
    assert (error.status, error.param) == (400, "top_p")
    assert error.message == "Invalid parameter 'top_p': must be between 0 and 1, got 1.5"


@pytest.mark.parametrize(
    ("param", "value"),
    [("temperature", 2.5), ("frequency_penalty", -2.01), ("presence_penalty", 3)],
)
def test_penalties_and_temperature_are_range_checked(param: str, value: float):
    error = refusal("openai", {}, {param: value})
    assert error.param == param


def test_values_of_the_wrong_type_are_left_to_the_request_parser():
    profile = load_profile("openai")
    assert check_request(profile, {}, {"temperature": "hot", "top_p": True, "n": 99}) is None


def test_rate_limited_fills_openai_type_and_message():
    error = load_profile("openai").error(
        "rate_limited",
        headers=(("retry-after", "2"),),
        model="gpt-4o",
        limit_name="tokens",
        unit="TPM",
        limit=1000,
        used=900,
        requested=200,
        retry_after="6s",
    )
    assert (error.status, error.type, error.code) == (429, "tokens", "rate_limit_exceeded")
    assert error.headers == (("retry-after", "2"),)
    assert error.message.startswith(
        "Rate limit reached for gpt-4o in organization org-mockllm on tokens per min (TPM): "
        "Limit 1000, Used 900, Requested 200. Please try again in 6s."
    )


def test_invalid_key_message_and_unfilled_fields_stay_visible():
    profile = load_profile("openai")
    error = profile.error("invalid_key", masked_key="sk-a…xyz")
    assert error.message.startswith("Incorrect API key provided: sk-a…xyz.")
    assert error.code == "invalid_api_key"
    assert "{model}" in profile.error("model_forbidden").message


# --- balance ----------------------------------------------------------------------------


def test_balance_bodies():
    # AINative's documented fields (docs.ainative.studio/docs/billing/credits), in order.
    ainative = balance_body(load_profile("ainative"), Fraction(25, 2), Fraction(20))
    assert list(ainative.items()) == [
        ("total_credits", 20),
        ("used_credits", 7.5),
        ("remaining_credits", 12.5),
    ]
    assert balance_body(load_profile("qingcheng"), 3.0) == {"balance": 3, "currency": "CNY"}
    assert balance_body(load_profile("ainative"), None) == {
        "total_credits": 1000000,
        "used_credits": 0,
        "remaining_credits": 1000000,
    }
    assert balance_body(load_profile("nextapi"), Fraction(987793, 1000), Fraction(1000)) == {
        "object": "credit_summary",
        "total_granted": 1000,
        "total_used": 12.207,
        "total_available": 987.793,
    }
    with pytest.raises(ValueError, match="no balance endpoint"):
        balance_body(load_profile("openai"), 1)


def test_balance_placeholders_inside_text(tmp_path: Path):
    path = write(
        tmp_path,
        "p.yaml",
        """
        extends: openai
        balance:
          path: /credits
          shape: { data: { left: "{remaining}", label: "{remaining} of {granted}" } }
        """,
    )
    body = balance_body(load_profile(str(path)), 2.5, 10)
    assert body == {"data": {"left": 2.5, "label": "2.5 of 10"}}


def test_refuse_key_masks_the_key_or_says_how_to_send_one():
    profile = load_profile("ainative")
    invalid = refuse_key(profile, "ak_live_123")
    assert (invalid.status, invalid.code) == (401, "invalid_api_key")
    assert invalid.message == "Invalid API key: ak_l…123. AINative API keys look like ak_..."
    assert "ak_live_123" not in invalid.message
    missing = refuse_key(profile, None)
    assert missing.code == "missing_api_key" and "X-API-Key: <key>" in missing.message


def test_request_too_large_is_optional_and_checked_like_the_others(tmp_path: Path):
    fields = {"model": "m", "limit_name": "tokens", "unit": "TPM", "limit": 100}
    fields |= {"used": 0, "requested": 150, "retry_after": "1ms"}
    kinds = ("invalid_key", "missing_key", "missing_header", "bad_param", "out_of_credits")
    bare = write(  # a profile without one (and no parent): its rate_limited error answers
        tmp_path,
        "bare.yaml",
        "chat_paths: [/v1/chat/completions]\nauth: {headers: [authorization]}\n"
        "models: {default: m}\nerrors:\n"
        + "".join(f"  {kind}: {{status: 400}}\n" for kind in kinds)
        + "  model_forbidden: {status: 403}\n"
        "  rate_limited: {status: 429, message: 'wait {retry_after}'}\n",
    )
    gateway = load_profile(str(bare))
    assert gateway.error("request_too_large", **fields).message == (
        gateway.error("rate_limited", **fields).message
    )
    own = write(
        tmp_path,
        "own.yaml",
        "extends: ainative\nerrors:\n  request_too_large:\n    status: 413\n"
        "    message: '{requested} tokens is more than {limit} a minute'\n",
    )
    error = load_profile(str(own)).error("request_too_large", **fields)
    assert (error.status, error.message) == (413, "150 tokens is more than 100 a minute")
    bad = write(
        tmp_path,
        "bad.yaml",
        "extends: bare.yaml\nerrors:\n  request_too_large:\n    message: 'wait {retry_after}'\n",
    )
    with pytest.raises(ProfileError) as caught:
        load_profile(str(bad))
    said = "\n".join(str(p) for p in caught.value.problems)
    assert "errors.request_too_large: missing required key 'status'" in said
    assert "retry_after" in said
