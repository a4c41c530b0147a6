"""Gateway profiles end to end: each built-in profile's documented flow with the openai SDK.

One server per profile (started on first use, shared by the module) loads the keys file
and the scenario written below; every test starts from `POST /__admin/reset`. Expected
figures come from the keys file written here (`keys_yaml`, PRICES), never from the
server's own arithmetic: a charge is
prompt_tokens × prompt / 1000 + completion_tokens × completion / 1000, with the token
counts taken from the answer's `usage` (or counted from the stream's deltas).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from mockllm.accounts import keys_text
from mockllm.profiles import load_profile, profile_schema
from tests.conftest import RunningServer, free_port, start_server

from .helpers import check_completion, check_error, journal, reset, sse_payloads

TOLERANCE = 1e-9

# Credits per 1K tokens, as written to the keys file: (prompt, completion).
PRICES: dict[str, tuple[str, str]] = {
    "claude-3-5-sonnet-20241022": ("3", "15"),
    "gpt-4o-mini": ("0.15", "0.6"),
    "deepseek-chat": ("0.27", "1.1"),
    "gpt-4.1-nano": ("1", "1000"),  # one completion token costs more than a small balance
    "fault-cut": ("0", "100"),
    "fault-reset": ("0", "100"),
    "fault-inband": ("0", "100"),
    "slow-ten": ("0", "100"),
    "*": ("1", "2"),
}
MAIN_CREDITS = "5"
NANO_CREDITS = "0.5"  # pays a short prompt of gpt-4.1-nano, not one completion token
RPM = 60  # refills one request per second
TPM = 100_000
SMALL_TPM = 600  # refills ten tokens per second

ESSAY_WORDS = 300  # "Alpha beta beta …": one token per word
ESSAY = "Alpha" + " beta" * (ESSAY_WORDS - 1)
TEN_WORDS = "one two three four five six seven eight nine ten"  # ten tokens
SCENARIO = f"""\
version: 1
rules:
  - name: essay
    match: {{ last_user: {{ contains: "essay" }} }}
    reply: {{ content: "{ESSAY}" }}
  - name: via-openai
    match: {{ provider: openai, last_user: {{ contains: "which provider" }} }}
    reply: {{ content: "answered by the openai provider" }}
  - name: fault-cut
    match: {{ model: fault-cut }}
    reply: {{ content: "{TEN_WORDS}", fault: {{ disconnect_after_tokens: 3 }} }}
  - name: fault-reset
    match: {{ model: fault-reset }}
    reply: {{ content: "{TEN_WORDS}", fault: {{ reset: true }} }}
  - name: fault-inband
    match: {{ model: fault-inband }}
    reply: {{ content: "{TEN_WORDS}", fault: {{ error_after_tokens: 4 }} }}
  - name: slow-ten
    match: {{ model: slow-ten }}
    reply: {{ content: "{TEN_WORDS}", latency: {{ ttft_ms: 10, inter_token_ms: 150 }} }}
  - name: scripted-429
    match: {{ model: scripted-429 }}
    reply: {{ error: {{ status: 429, message: "scripted by a rule" }} }}
"""
HELLO = [{"role": "user", "content": "Say hello to the gateway."}]
ESSAY_PROMPT = [{"role": "user", "content": "Write an essay about lighthouses."}]


_OPEN_CLIENTS: list[OpenAI] = []


def open_client(**options: Any) -> OpenAI:
    """An SDK client, closed when the test ends (a client kept alive by a caught
    exception's traceback would otherwise leave its connection to the garbage collector)."""
    client = OpenAI(**options)
    _OPEN_CLIENTS.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS.pop().close()


@dataclass(frozen=True)
class Dialect:
    """What one built-in profile documents (read from mockllm/profiles/<name>.yaml)."""

    name: str
    base: str  # the SDK's base_url path; chat is {base}/chat/completions
    key_prefix: str
    key_header: str  # the header the gateway documents for the key
    model: str
    allowed: tuple[str, ...]  # the `models` globs of the restricted key
    forbidden_model: str  # a model those globs refuse
    forbidden: tuple[int, str]  # model_forbidden: status, code
    out_of_credits: tuple[int, str]  # status, code
    on_exhaustion: str
    invalid_key: str  # the start of the invalid_key message
    invalid_hint: str  # the key hint the invalid_key message shows
    missing_key: str  # the missing_key message
    balance_path: str | None = None
    balance_field: str | None = None
    unlimited: int = 1_000_000
    low_credits: str = "0"  # the prompt and about 100 completion tokens of `model`
    required: dict[str, str] = field(default_factory=dict)  # required headers

    def key(self, role: str) -> str:
        return f"{self.key_prefix}{role}"

    def headers(self, key: str | None) -> dict[str, str]:
        """The documented way to send the key, with the gateway's required headers."""
        if key is None:
            return dict(self.required)
        if self.key_header == "x-api-key":
            return {"X-API-Key": key, **self.required}
        return {"Authorization": f"Bearer {key}", **self.required}

    def sdk(self, server: RunningServer, key: str, **options: Any) -> OpenAI:
        """The official client pointed at the gateway, sending the key its documented way."""
        default_headers = dict(self.required)
        if self.key_header == "x-api-key":
            default_headers["X-API-Key"] = key
            key = "sent-in-x-api-key"  # the SDK always sends a Bearer token; it is not the key
        return open_client(
            base_url=server.url + self.base,
            api_key=key,
            default_headers=default_headers,
            **{"max_retries": 0, **options},
        )

    @property
    def chat_url_path(self) -> str:
        return f"{self.base}/chat/completions"


DIALECTS = [
    Dialect(
        name="openai",
        base="/v1",
        key_prefix="sk-oa-",
        key_header="authorization",
        model="gpt-4o-mini",
        allowed=("gpt-4o*",),
        forbidden_model="gpt-4.1",
        forbidden=(404, "model_not_found"),
        out_of_credits=(429, "insufficient_quota"),
        on_exhaustion="length",
        invalid_key="Incorrect API key provided: ",
        invalid_hint="https://platform.openai.com/account/api-keys",
        missing_key="You didn't provide an API key.",
        low_credits="0.0615",
    ),
    Dialect(
        name="ainative",
        base="/v1/public",
        key_prefix="ak_",
        key_header="x-api-key",
        model="claude-3-5-sonnet-20241022",
        allowed=("claude-*",),
        forbidden_model="gpt-4o",
        forbidden=(403, "model_not_allowed"),
        out_of_credits=(402, "insufficient_credits"),
        on_exhaustion="error",
        invalid_key="Invalid API key: ",
        invalid_hint="AINative API keys look like ak_...",
        missing_key=(
            "Missing API key. Send it as X-API-Key: <key> or Authorization: Bearer <key>; "
            "AINative API keys look like ak_..."
        ),
        balance_path="/api/v1/public/credits/balance",
        balance_field="remaining_credits",
        low_credits="1.54",
    ),
    Dialect(
        name="tokenhub",
        base="/v1",
        key_prefix="sk-bf-",
        key_header="authorization",
        model="openai/gpt-4o-mini",
        allowed=("openai/*",),
        forbidden_model="anthropic/claude-3-5-sonnet-20241022",
        forbidden=(403, "model_not_allowed"),
        out_of_credits=(403, "insufficient_user_quota"),
        on_exhaustion="length",
        invalid_key="Invalid token: ",
        invalid_hint="Use a key like sk-... or a virtual key sk-bf-...",
        missing_key="No token provided. Send it as Authorization: Bearer <key>",
        balance_path="/v1/dashboard/billing/subscription",
        balance_field="hard_limit_usd",
        unlimited=100_000_000,
        low_credits="0.0615",
    ),
    Dialect(
        name="nextapi",
        base="/v1",
        key_prefix="sk-na-",
        key_header="authorization",
        model="gpt-4o-mini",
        allowed=("gpt-4o*",),
        forbidden_model="gpt-4.1",
        forbidden=(403, "model_not_allowed"),
        out_of_credits=(403, "insufficient_balance"),
        on_exhaustion="length",
        invalid_key="Authentication failed: invalid API key ",
        invalid_hint="Authentication failed",
        missing_key="Authentication failed: send your key as Authorization: Bearer <key>",
        balance_path="/v1/dashboard/billing/credit_grants",
        balance_field="total_available",
        low_credits="0.0615",
    ),
    Dialect(
        name="qingcheng",
        base="/v1",
        key_prefix="qc-",
        key_header="x-api-key",
        model="deepseek-chat",
        allowed=("deepseek-chat",),
        forbidden_model="deepseek-reasoner",
        forbidden=(403, "model_not_allowed"),
        out_of_credits=(403, "insufficient_balance"),
        on_exhaustion="error",
        invalid_key="API key invalid: ",
        invalid_hint="API key invalid",
        missing_key="API key missing: send it as X-API-Key: <key>",
        balance_path="/v1/balance",
        balance_field="balance",
        low_credits="0.113",
        required={"X-AI-Provider": "deepseek"},
    ),
]
BY_NAME = {d.name: d for d in DIALECTS}
IDS = [d.name for d in DIALECTS]


def keys_yaml() -> str:
    """The keys file every profile server loads: the same roles for each dialect's keys."""
    lines = ["keys:"]
    for d in DIALECTS:
        allowed = ", ".join(json.dumps(g) for g in d.allowed)
        lines += [
            f"  - {{ key: {d.key('main')}, credits: {MAIN_CREDITS} }}",
            f"  - {{ key: {d.key('empty')}, credits: 0 }}",
            f"  - {{ key: {d.key('low')}, credits: {d.low_credits} }}",
            f"  - {{ key: {d.key('nano')}, credits: {NANO_CREDITS} }}",
            f"  - {{ key: {d.key('rate')}, rpm: {RPM}, tpm: {TPM} }}",
            f"  - {{ key: {d.key('tokens')}, tpm: {SMALL_TPM} }}",
            f"  - {{ key: {d.key('models')}, credits: {MAIN_CREDITS}, models: [{allowed}] }}",
        ]
    lines.append("prices:")
    lines += [
        f'  "{model}": {{ prompt: {p}, completion: {c} }}' for model, (p, c) in PRICES.items()
    ]
    return "\n".join(lines) + "\n"


def price(model: str) -> tuple[Fraction, Fraction]:
    """Credits per token (prompt, completion): the id, else its part after `provider/`."""
    name = model.partition("/")[2] or model
    p, c = PRICES.get(model) or PRICES.get(name) or PRICES["*"]
    return Fraction(p) / 1000, Fraction(c) / 1000


def charge(model: str, prompt_tokens: int, completion_tokens: int) -> Fraction:
    p, c = price(model)
    return prompt_tokens * p + completion_tokens * c


def affordable(credits: str, model: str, prompt_tokens: int) -> int:
    """Completion tokens a balance pays for after the prompt."""
    p, c = price(model)
    return math.floor((Fraction(credits) - prompt_tokens * p) / c)


def close(observed: float, expected: Fraction | str) -> bool:
    return abs(observed - float(Fraction(expected))) <= TOLERANCE


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], RunningServer]]:
    """`gateways("ainative")`: that profile's server, reset (balances, buckets, journal)."""
    folder = tmp_path_factory.mktemp("gateways")
    keys = folder / "keys.yaml"
    keys.write_text(keys_yaml(), encoding="utf-8")
    scenario = folder / "gateway-rules.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    started: dict[str, RunningServer] = {}

    def get(profile: str) -> RunningServer:
        if profile not in started:
            started[profile] = start_server(
                "--profile",
                profile,
                "--keys",
                str(keys),
                "--scenarios",
                str(scenario),
                tmp_path=folder,
            )
        reset(started[profile].url)
        return started[profile]

    yield get
    for server in started.values():
        server.stop()


def post(
    server: RunningServer, dialect: Dialect, key: str | None, body: dict[str, Any], **kw: Any
) -> httpx.Response:
    return httpx.post(
        server.url + dialect.chat_url_path,
        json=body,
        headers={**dialect.headers(key), **kw.pop("headers", {})},
        timeout=10,
        **kw,
    )


def balance(server: RunningServer, dialect: Dialect, key: str) -> float:
    assert dialect.balance_path is not None
    response = httpx.get(server.url + dialect.balance_path, headers=dialect.headers(key), timeout=5)
    assert response.status_code == 200, response.text
    value = response.json()[dialect.balance_field]
    assert isinstance(value, int | float), response.json()
    return float(value)


def stream_usage(stream: Any) -> tuple[list[str], list[str], Any]:
    """Content deltas, finish reasons and the usage of an SDK stream."""
    deltas, finishes, usage = [], [], None
    with stream:
        for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                if choice.delta.content:
                    deltas.append(choice.delta.content)
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
    return deltas, finishes, usage


def parse_duration(text: str) -> float:
    """OpenAI's reset durations (`20ms`, `1s`, `59.881s`, `6m0s`) in seconds."""
    assert re.fullmatch(r"(\d+h)?(\d+m(?!s))?(\d+(\.\d+)?s|\d+ms)?", text) and text, text
    if text.endswith("ms") and "m" not in text[:-2]:
        return float(text[:-2]) / 1000
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def said(exc: openai.APIStatusError) -> str:
    """The error body's message (the SDK's `message` prefixes the status)."""
    assert isinstance(exc.body, dict), exc.body
    return str(exc.body["message"])


def rate_headers(response: httpx.Response | Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("x-ratelimit-")}


# --- each gateway's documented flow -----------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_documented_flow(gateways, dialect: Dialect):
    """Auth by the gateway's header, a 401 for a bad and a missing key, a completion and a
    stream each charged exactly, the balance endpoint, running out, allowed models."""
    server = gateways(dialect.name)
    main = dialect.key("main")

    # A bad key: 401 in the profile's words, the key masked, never echoed whole.
    bad_key = f"{dialect.key_prefix}wrong-key-123"
    with pytest.raises(openai.AuthenticationError) as caught:
        dialect.sdk(server, bad_key).chat.completions.create(model=dialect.model, messages=HELLO)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert said(caught.value).startswith(dialect.invalid_key), said(caught.value)
    assert dialect.invalid_hint in said(caught.value)
    assert bad_key not in said(caught.value)
    # No key at all: 401 saying how to send one.
    error = check_error(
        post(server, dialect, None, {"model": dialect.model, "messages": HELLO}), 401
    )
    assert error["code"] == "missing_api_key" or (
        dialect.name == "openai" and error["code"] is None
    )
    assert error["message"].startswith(dialect.missing_key), error

    # A completion, charged exactly from its usage.
    client = dialect.sdk(server, main)
    completion = client.chat.completions.create(model=dialect.model, messages=HELLO)
    # OpenAI names the dated model an alias stands for; the gateways the model as sent.
    assert completion.model == {"openai": "gpt-4o-mini-2024-07-18"}.get(dialect.name, dialect.model)
    assert completion.choices[0].message.content
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    spent = charge(dialect.model, usage.prompt_tokens, usage.completion_tokens)

    if dialect.balance_path is not None:
        assert close(balance(server, dialect, main), Fraction(MAIN_CREDITS) - spent)
        # A key without a credit limit shows the profile's `unlimited` figure.
        assert balance(server, dialect, dialect.key("rate")) == dialect.unlimited
        # The balance endpoint refuses a bad key like the chat path does.
        refused = httpx.get(
            server.url + dialect.balance_path, headers=dialect.headers(bad_key), timeout=5
        )
        assert check_error(refused, 401)["code"] == "invalid_api_key"
    else:
        # OpenAI has no balance endpoint: the other profiles' paths are not served.
        assert httpx.get(f"{server.url}/api/v1/public/credits/balance").status_code == 404

    # A stream, charged exactly from its usage chunk.
    deltas, finishes, usage = stream_usage(
        client.chat.completions.create(
            model=dialect.model, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert finishes == ["stop"]
    assert usage is not None and usage.completion_tokens == len(deltas)
    spent += charge(dialect.model, usage.prompt_tokens, usage.completion_tokens)
    if dialect.balance_path is not None:
        assert close(balance(server, dialect, main), Fraction(MAIN_CREDITS) - spent)

    # Out of credits: the profile's status and code, and a refusal costs nothing.
    status, code = dialect.out_of_credits
    with pytest.raises(openai.APIStatusError) as caught:
        dialect.sdk(server, dialect.key("empty")).chat.completions.create(
            model=dialect.model, messages=HELLO
        )
    assert (caught.value.status_code, caught.value.code) == (status, code)
    if dialect.name == "qingcheng":
        assert "balance insufficient" in said(caught.value)
    if dialect.balance_path is not None:
        assert balance(server, dialect, dialect.key("empty")) == 0

    # A key limited to some models (globs) is refused another, in the profile's words.
    restricted = dialect.sdk(server, dialect.key("models"))
    assert restricted.chat.completions.create(model=dialect.model, messages=HELLO).choices
    with pytest.raises(openai.APIStatusError) as caught:
        restricted.chat.completions.create(model=dialect.forbidden_model, messages=HELLO)
    assert (caught.value.status_code, caught.value.code) == dialect.forbidden
    assert dialect.forbidden_model in said(caught.value)


def test_ainative_accepts_bearer_as_well_as_x_api_key(gateways):
    dialect = BY_NAME["ainative"]
    server = gateways("ainative")
    bearer = open_client(
        base_url=server.url + dialect.base, api_key=dialect.key("main"), max_retries=0
    )
    completion = bearer.chat.completions.create(model=dialect.model, messages=HELLO)
    assert completion.choices[0].message.content
    usage = completion.usage
    assert usage is not None
    expected = Fraction(MAIN_CREDITS) - charge(
        dialect.model, usage.prompt_tokens, usage.completion_tokens
    )
    assert close(balance(server, dialect, dialect.key("main")), expected)
    # The plain OpenAI path is an alias of the documented /v1/public one.
    response = post(
        server, dialect, dialect.key("main"), {"model": dialect.model, "messages": HELLO}
    )
    assert response.request.url.path == "/v1/public/chat/completions"
    aliased = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": dialect.model, "messages": HELLO},
        headers=dialect.headers(dialect.key("main")),
    )
    assert aliased.status_code == 200, aliased.text


def test_nextapi_balance_shows_granted_and_used(gateways):
    dialect = BY_NAME["nextapi"]
    server = gateways("nextapi")
    completion = dialect.sdk(server, dialect.key("main")).chat.completions.create(
        model=dialect.model, messages=HELLO
    )
    assert completion.usage is not None
    spent = charge(
        dialect.model, completion.usage.prompt_tokens, completion.usage.completion_tokens
    )
    body = httpx.get(
        server.url + "/v1/dashboard/billing/credit_grants",
        headers=dialect.headers(dialect.key("main")),
    ).json()
    assert body["object"] == "credit_summary"
    assert body["total_granted"] == int(MAIN_CREDITS)
    assert close(body["total_used"], spent)
    assert close(body["total_available"], Fraction(MAIN_CREDITS) - spent)


def test_tokenhub_subscription_reports_every_limit(gateways):
    dialect = BY_NAME["tokenhub"]
    server = gateways("tokenhub")
    body = httpx.get(
        server.url + "/v1/dashboard/billing/subscription",
        headers=dialect.headers(dialect.key("main")),
    ).json()
    assert body["object"] == "billing_subscription"
    for name in ("soft_limit_usd", "hard_limit_usd", "system_hard_limit_usd"):
        assert body[name] == int(MAIN_CREDITS)


# --- rate limits ------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_rate_limit_headers_and_sdk_retry(gateways, dialect: Dialect):
    """x-ratelimit-* count down on answers; the 429 carries Retry-After and both trios;
    the SDK waits Retry-After and its retry is answered."""
    server = gateways(dialect.name)
    key = dialect.key("rate")
    body = {"model": dialect.model, "messages": HELLO, "max_tokens": 5}
    answered: list[tuple[float, dict[str, str]]] = []
    refused = None
    with httpx.Client(timeout=10) as http:
        start = time.monotonic()
        for _ in range(RPM + 10):
            response = http.post(
                server.url + dialect.chat_url_path, json=body, headers=dialect.headers(key)
            )
            if response.status_code == 429:
                refused = response
                break
            assert response.status_code == 200, response.text
            answered.append((time.monotonic() - start, rate_headers(response)))
    assert refused is not None, f"no 429 after {len(answered)} answers with rpm {RPM}"
    assert len(answered) >= RPM

    for i, (elapsed, headers) in enumerate(answered):
        assert headers["x-ratelimit-limit-requests"] == str(RPM)
        assert headers["x-ratelimit-limit-tokens"] == str(TPM)
        # Remaining after this request: RPM - (i + 1), plus what refilled meanwhile (1/s).
        remaining = int(headers["x-ratelimit-remaining-requests"])
        assert RPM - (i + 1) <= remaining <= RPM - (i + 1) + math.ceil(elapsed), (i, headers)
        assert 0 < int(headers["x-ratelimit-remaining-tokens"]) < TPM
        taken = RPM - remaining
        assert parse_duration(headers["x-ratelimit-reset-requests"]) == pytest.approx(
            taken * 60 / RPM, abs=1.0
        )
        parse_duration(headers["x-ratelimit-reset-tokens"])
    assert [int(h["x-ratelimit-remaining-requests"]) for _, h in answered[:3]] == [
        RPM - 1,
        RPM - 2,
        RPM - 3,
    ]

    error = check_error(refused, 429)
    assert error["code"] == "rate_limit_exceeded"
    assert str(RPM) in error["message"]
    headers = refused.headers
    assert headers["retry-after"] == "1"  # one request refills in a second
    assert headers["x-ratelimit-limit-requests"] == str(RPM)
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert 59 <= parse_duration(headers["x-ratelimit-reset-requests"]) <= 60
    assert headers["x-ratelimit-limit-tokens"] == str(TPM)
    # A refused request takes nothing, and the token bucket refills TPM/60 a second: on a
    # slow run it may be full again by now.
    assert 0 < int(headers["x-ratelimit-remaining-tokens"]) <= TPM
    parse_duration(headers["x-ratelimit-reset-tokens"])

    # The SDK's own retry: it waits Retry-After, and the retry is answered. The checks above
    # took time and the bucket refills one request a second, so empty it again first.
    client = dialect.sdk(server, key, max_retries=2)
    with httpx.Client(timeout=10) as http:
        for _ in range(RPM + 10):
            response = http.post(
                server.url + dialect.chat_url_path, json=body, headers=dialect.headers(key)
            )
            if response.status_code == 429:
                break
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(
        model=dialect.model, messages=HELLO, max_tokens=5
    )
    waited = time.monotonic() - started
    assert raw.http_response.status_code == 200
    assert raw.retries_taken >= 1
    assert waited >= 0.9, f"the SDK retried after {waited:.3f}s"
    assert raw.parse().choices[0].message.content
    statuses = [entry["status"] for entry in journal(server.url)]
    assert statuses[-2:] == [429, 200], statuses


def test_token_limit_429(gateways):
    """A tokens-per-minute bucket: each request takes its prompt and max_tokens; the 429
    says how long until enough tokens are back."""
    dialect = BY_NAME["openai"]
    server = gateways("openai")
    key = dialect.key("tokens")
    body = {"model": dialect.model, "messages": HELLO, "max_tokens": 250}
    started = time.monotonic()
    first = post(server, dialect, key, body)
    assert first.status_code == 200, first.text
    need = first.json()["usage"]["prompt_tokens"] + 250
    headers = rate_headers(first)
    assert headers["x-ratelimit-limit-tokens"] == str(SMALL_TPM)
    assert int(headers["x-ratelimit-remaining-tokens"]) in (SMALL_TPM - need, SMALL_TPM - need + 1)
    assert parse_duration(headers["x-ratelimit-reset-tokens"]) == pytest.approx(
        need * 60 / SMALL_TPM, abs=0.5
    )
    assert "x-ratelimit-limit-requests" not in headers  # this key has no rpm
    second = post(server, dialect, key, body)
    assert second.status_code == 200, second.text
    third = post(server, dialect, key, body)
    # The bucket refills SMALL_TPM / 60 tokens a second while the three requests are made
    # (a second or more on a busy machine): what the third sees allows for that much.
    refilled = (time.monotonic() - started) * SMALL_TPM / 60
    error = check_error(third, 429)
    assert error["type"] == "tokens"  # OpenAI names the limit in `type`
    assert f"Limit {SMALL_TPM}" in error["message"]
    # Enough tokens are back once `need - left` refilled at SMALL_TPM / 60 per second.
    wait = (need - (SMALL_TPM - 2 * need)) * 60 / SMALL_TPM
    earliest = math.floor(wait - refilled * 60 / SMALL_TPM)
    assert earliest <= int(third.headers["retry-after"]) <= math.ceil(wait)
    left = int(third.headers["x-ratelimit-remaining-tokens"])
    assert left <= SMALL_TPM - 2 * need + math.ceil(refilled) + 1


@pytest.mark.parametrize("name", ["openai", "ainative", "tokenhub", "nextapi", "qingcheng"])
def test_a_request_larger_than_the_whole_token_limit(gateways, name: str):
    """Its estimate (prompt + max_tokens) is over the key's whole tpm: it never fits, so
    the 429 has no Retry-After. The openai profile words it as OpenAI does ("Request too
    large …", from public reports of the API's error); each gateway profile in its own
    words, which say what was asked and never to retry ("Retry in 0s" was the rate_limited
    message standing in)."""
    dialect = BY_NAME[name]
    server = gateways(name)
    key = dialect.key("tokens")
    body = {"model": dialect.model, "messages": HELLO, "max_tokens": SMALL_TPM}
    refused = post(server, dialect, key, body)
    error = check_error(refused, 429)
    assert "retry-after" not in refused.headers
    assert refused.headers["x-ratelimit-limit-tokens"] == str(SMALL_TPM)
    assert error["code"] == "rate_limit_exceeded"
    if name == "openai":
        requested = int(error["message"].split("Requested ")[1].split(".")[0])
        assert requested > SMALL_TPM
        assert error["type"] == "tokens"
        assert error["message"] == (
            f"Request too large for {dialect.model} in organization org-mockllm on tokens "
            f"per min (TPM): Limit {SMALL_TPM}, Requested {requested}. The input or output "
            "tokens must be reduced in order to run successfully. Visit "
            "https://platform.openai.com/account/rate-limits to learn more."
        )
        client = OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.RateLimitError, match="Request too large"):
            client.chat.completions.create(**body)
    else:
        message = error["message"]
        assert f"{SMALL_TPM} tokens per minute" in message
        assert "Reduce the prompt or max_tokens" in message
        assert "Retry" not in message, message
        requested = int(message.split("needs ")[1].split(" ")[0])
        assert requested > SMALL_TPM
    small = post(server, dialect, key, {**body, "max_tokens": 5})
    assert small.status_code == 200, small.text  # the refusal took nothing


def test_scripted_429_sends_each_rate_header_once(gateways):
    """A rule's 429 for a key with buckets: the key's x-ratelimit-* figures and the 429
    defaults must not both be sent (two values for one header contradict each other)."""
    dialect = BY_NAME["openai"]
    server = gateways("openai")
    response = post(
        server, dialect, dialect.key("rate"), {"model": "scripted-429", "messages": HELLO}
    )
    assert check_error(response, 429)["message"] == "scripted by a rule"
    names = ["retry-after"] + [
        f"x-ratelimit-{what}-{unit}"
        for what in ("limit", "remaining", "reset")
        for unit in ("requests", "tokens")
    ]
    repeated = {
        name: response.headers.get_list(name)
        for name in names
        if len(response.headers.get_list(name)) > 1
    }
    assert not repeated, f"headers sent more than once: {repeated}"


def read_contents(
    server: RunningServer,
    dialect: Dialect,
    key: str,
    body: dict[str, Any],
    received: list[str],
    leave_after: int | None = None,
) -> None:
    """Stream a chat answer, adding each content delta to `received`; with `leave_after`,
    close the connection once that many have come."""
    with httpx.stream(
        "POST", server.url + dialect.chat_url_path, json=body, headers=dialect.headers(key)
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                delta = json.loads(line[6:])["choices"][0]["delta"]
                received += [delta["content"]] if delta.get("content") else []
            if leave_after is not None and len(received) == leave_after:
                return  # leaving the block closes the connection


def test_faults_charge_only_what_was_sent(gateways):
    """A stream cut after 3 deltas costs 3 tokens; a connection reset before any byte
    costs no completion tokens."""
    dialect = BY_NAME["ainative"]
    server = gateways("ainative")
    key = dialect.key("main")
    body = {"model": "fault-cut", "messages": HELLO, "stream": True}
    received: list[str] = []
    with pytest.raises(httpx.HTTPError):
        read_contents(server, dialect, key, body, received)
    assert received == ["one", " two", " three"]
    per_token = price("fault-cut")[1]
    assert close(balance(server, dialect, key), Fraction(MAIN_CREDITS) - 3 * per_token)

    with pytest.raises(httpx.HTTPError):
        post(server, dialect, key, {"model": "fault-reset", "messages": HELLO})
    left = balance(server, dialect, key)
    assert close(left, Fraction(MAIN_CREDITS) - 3 * per_token), (
        f"a reset before any byte cost {float(Fraction(MAIN_CREDITS) - 3 * per_token) - left}"
    )


def test_a_client_that_leaves_a_stream_pays_for_what_was_sent(gateways):
    """Three deltas read, then the connection closed: about three tokens are charged (the
    one due as the close arrives may have left too), not the ten of the whole answer; a
    whole answer that a fault turns into a 500 costs nothing."""
    dialect = BY_NAME["ainative"]
    server = gateways("ainative")
    key = dialect.key("main")
    per_token = price("slow-ten")[1]
    body = {"model": "slow-ten", "messages": HELLO, "stream": True}
    received: list[str] = []
    read_contents(server, dialect, key, body, received, leave_after=3)
    assert received == ["one", " two", " three"]
    entry = wait_for_entry(server, "slow-ten")
    assert entry["error"] == "client disconnected"
    assert 3 <= entry["usage"]["completion_tokens"] <= 4, entry["usage"]
    spent = Fraction(MAIN_CREDITS) - Fraction(balance(server, dialect, key))
    assert close(float(spent), entry["usage"]["completion_tokens"] * per_token), float(spent)

    before = balance(server, dialect, key)
    failed = post(server, dialect, key, {"model": "fault-inband", "messages": HELLO})
    assert failed.status_code == 500
    assert close(balance(server, dialect, key), Fraction(before))


def wait_for_entry(server: RunningServer, model: str) -> dict[str, Any]:
    """The journal entry of the last request for `model`, once it is finished."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = [e for e in journal(server.url) if (e.get("request") or {}).get("model") == model]
        if entries and entries[-1].get("duration_ms") is not None:
            return entries[-1]
        time.sleep(0.05)
    raise AssertionError(f"no finished journal entry for {model}")


def test_reset_restores_balances_and_buckets(gateways):
    dialect = BY_NAME["ainative"]
    server = gateways("ainative")
    client = dialect.sdk(server, dialect.key("main"))
    for _ in range(2):
        client.chat.completions.create(model=dialect.model, messages=HELLO)
    assert balance(server, dialect, dialect.key("main")) < int(MAIN_CREDITS)
    for _ in range(3):
        last = post(
            server, dialect, dialect.key("rate"), {"model": dialect.model, "messages": HELLO}
        )
    assert int(last.headers["x-ratelimit-remaining-requests"]) <= RPM - 3

    reset(server.url)
    assert balance(server, dialect, dialect.key("main")) == int(MAIN_CREDITS)
    again = post(server, dialect, dialect.key("rate"), {"model": dialect.model, "messages": HELLO})
    assert again.headers["x-ratelimit-remaining-requests"] == str(RPM - 1)
    # Every request is journaled: the balance read after the reset, then the answer.
    assert [(e["method"], e["status"]) for e in journal(server.url)] == [
        ("GET", 200),
        ("POST", 200),
    ]


# --- running out mid-generation ---------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_stream_runs_the_balance_out(gateways, dialect: Dialect):
    """A stream longer than the balance stops where the balance reaches 0: finish_reason
    length (length profiles) or an in-band error frame and no [DONE] (error profiles)."""
    server = gateways(dialect.name)
    key = dialect.key("low")
    body = {
        "model": dialect.model,
        "messages": ESSAY_PROMPT,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = post(server, dialect, key, body)
    assert response.status_code == 200, response.text
    payloads = sse_payloads(response.content)
    chunks = [json.loads(p) for p in payloads if p != "[DONE]"]
    deltas = [
        c["choices"][0]["delta"]["content"]
        for c in chunks
        if c.get("choices") and c["choices"][0]["delta"].get("content")
    ]
    prompt_tokens = journal(server.url)[-1]["usage"]["prompt_tokens"]
    expected_tokens = affordable(dialect.low_credits, dialect.model, prompt_tokens)
    assert 0 < expected_tokens < ESSAY_WORDS  # the keys file makes the balance run out
    assert len(deltas) == expected_tokens
    spent = charge(dialect.model, prompt_tokens, expected_tokens)

    if dialect.on_exhaustion == "length":
        assert payloads[-1] == "[DONE]"
        finishes = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
        assert finishes[-1] == "length"
        usage = chunks[-1]["usage"]
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (
            prompt_tokens,
            expected_tokens,
        )
    else:
        assert "[DONE]" not in payloads
        last = json.loads(payloads[-1])
        assert set(last) == {"error"}, last
        status, code = dialect.out_of_credits
        assert last["error"]["code"] == code
        assert all("error" not in c for c in chunks[:-1])

    if dialect.balance_path is not None:
        left = balance(server, dialect, key)
        assert left >= 0
        assert close(left, Fraction(dialect.low_credits) - spent)
        assert left < float(price(dialect.model)[1])  # not one more token's worth
    # What is left cannot pay the next prompt: refused before any byte, at no cost.
    refused = post(server, dialect, key, {"model": dialect.model, "messages": ESSAY_PROMPT})
    assert (refused.status_code, check_error(refused, refused.status_code)["code"]) == (
        dialect.out_of_credits
    )
    if dialect.balance_path is not None:
        assert close(balance(server, dialect, key), Fraction(dialect.low_credits) - spent)


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_answer_runs_the_balance_out(gateways, dialect: Dialect):
    """Not streaming, every profile cuts the answer with finish_reason length."""
    server = gateways(dialect.name)
    completion = dialect.sdk(server, dialect.key("low")).chat.completions.create(
        model=dialect.model, messages=ESSAY_PROMPT
    )
    usage = completion.usage
    assert usage is not None
    assert completion.choices[0].finish_reason == "length"
    assert usage.completion_tokens == affordable(
        dialect.low_credits, dialect.model, usage.prompt_tokens
    )
    if dialect.balance_path is not None:
        spent = charge(dialect.model, usage.prompt_tokens, usage.completion_tokens)
        assert close(
            balance(server, dialect, dialect.key("low")), Fraction(dialect.low_credits) - spent
        )


@pytest.mark.parametrize(
    "dialect", [BY_NAME["ainative"], BY_NAME["qingcheng"]], ids=["ainative", "qingcheng"]
)
def test_sdk_raises_the_in_band_error(gateways, dialect: Dialect):
    server = gateways(dialect.name)
    stream = dialect.sdk(server, dialect.key("low")).chat.completions.create(
        model=dialect.model, messages=ESSAY_PROMPT, stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received += [c.delta.content for c in chunk.choices if c.delta.content]
    assert received, "the error came before any content"
    assert caught.value.body["code"] == dialect.out_of_credits[1]


@pytest.mark.parametrize("name", ["nextapi", "ainative"])
def test_balance_covering_only_the_prompt(gateways, name):
    """A balance that pays the prompt but not one completion token: the completion stops
    at once, and what the answer's usage says it cost is what left the balance."""
    dialect = BY_NAME[name]
    server = gateways(name)
    key, model = dialect.key("nano"), "gpt-4.1-nano"
    assert affordable(NANO_CREDITS, model, 20) == 0  # a prompt of 20 tokens or fewer
    completion = dialect.sdk(server, key).chat.completions.create(model=model, messages=HELLO)
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens <= 20
    left = balance(server, dialect, key)
    assert left >= 0
    assert completion.choices[0].finish_reason == "length"
    spent = charge(model, usage.prompt_tokens, usage.completion_tokens)
    assert close(left, Fraction(NANO_CREDITS) - spent), (
        f"usage says {usage.completion_tokens} completion tokens ({float(spent)} credits) "
        f"but the balance went from {NANO_CREDITS} to {left}"
    )
    assert usage.completion_tokens == 0

    # Streaming, the same: no content, then the profile's ending.
    reset(server.url)
    body = {
        "model": model,
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = post(server, dialect, key, body)
    assert response.status_code == 200, response.text
    payloads = sse_payloads(response.content)
    chunks = [json.loads(p) for p in payloads if p != "[DONE]"]
    assert not [c for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("content")]
    if dialect.on_exhaustion == "length":
        assert payloads[-1] == "[DONE]"
        assert chunks[-2]["choices"][0]["finish_reason"] == "length"
        assert chunks[-1]["usage"]["completion_tokens"] == 0
    else:
        assert "[DONE]" not in payloads
        assert json.loads(payloads[-1])["error"]["code"] == dialect.out_of_credits[1]
    assert close(balance(server, dialect, key), Fraction(NANO_CREDITS) - spent)


# --- gateway-specific rules -------------------------------------------------------------


def test_qingcheng_requires_x_ai_provider(gateways):
    dialect = BY_NAME["qingcheng"]
    server = gateways("qingcheng")
    key = dialect.key("main")
    without = open_client(
        base_url=server.url + "/v1",
        api_key="unused",
        default_headers={"X-API-Key": key},
        max_retries=0,
    )
    with pytest.raises(openai.BadRequestError) as caught:
        without.chat.completions.create(model="deepseek-chat", messages=HELLO)
    assert caught.value.code == "missing_header"
    assert "X-AI-Provider" in said(caught.value)
    # The key in Authorization instead of X-API-Key: 401 saying where it goes.
    with pytest.raises(openai.AuthenticationError) as caught:
        open_client(
            base_url=server.url + "/v1",
            api_key=key,
            default_headers={"X-AI-Provider": "deepseek"},
            max_retries=0,
        ).chat.completions.create(model="deepseek-chat", messages=HELLO)
    assert "X-API-Key" in said(caught.value)
    # With the header, the answer names the provider.
    raw = dialect.sdk(server, key).chat.completions.with_raw_response.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "你好"}]
    )
    body = raw.http_response.json()
    check_completion(body)
    assert body["provider"] == "deepseek"
    assert [e["status"] for e in journal(server.url)] == [400, 401, 200]


def test_temperature_ranges_per_profile(gateways):
    """tokenhub documents temperature -2…2; OpenAI's range is 0…2."""
    tokenhub = BY_NAME["tokenhub"]
    server = gateways("tokenhub")
    client = tokenhub.sdk(server, tokenhub.key("main"))
    completion = client.chat.completions.create(
        model=tokenhub.model, messages=HELLO, temperature=-1.5
    )
    assert completion.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=tokenhub.model, messages=HELLO, temperature=-2.5)
    assert caught.value.param == "temperature"
    assert "-2.5" in said(caught.value)

    dialect = BY_NAME["openai"]
    server = gateways("openai")
    with pytest.raises(openai.BadRequestError) as caught:
        dialect.sdk(server, dialect.key("main")).chat.completions.create(
            model=dialect.model, messages=HELLO, temperature=-1.5
        )
    assert caught.value.param == "temperature"
    assert caught.value.code == "decimal_below_min_value"
    assert said(caught.value) == (
        "Invalid 'temperature': decimal below minimum value. "
        "Expected a value >= 0, but got -1.5 instead."
    )


def test_nextapi_top_p_range(gateways):
    dialect = BY_NAME["nextapi"]
    server = gateways("nextapi")
    client = dialect.sdk(server, dialect.key("main"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=dialect.model, messages=HELLO, top_p=1.5)
    assert caught.value.param == "top_p"
    assert caught.value.code == "invalid_parameter"
    assert said(caught.value) == "Invalid parameter 'top_p': must be between 0 and 1, got 1.5"
    assert client.chat.completions.create(model=dialect.model, messages=HELLO, top_p=1).choices
    # A refused parameter costs nothing.
    assert close(
        balance(server, dialect, dialect.key("main")),
        Fraction(MAIN_CREDITS) - _journal_charges(server, dialect.model),
    )


def _journal_charges(server: RunningServer, model: str) -> Fraction:
    return sum(
        (
            charge(model, e["usage"]["prompt_tokens"], e["usage"]["completion_tokens"])
            for e in journal(server.url)
            if e["status"] == 200
        ),
        Fraction(0),
    )


def test_tokenhub_provider_model_ids(gateways):
    dialect = BY_NAME["tokenhub"]
    server = gateways("tokenhub")
    client = dialect.sdk(server, dialect.key("main"))
    question = [{"role": "user", "content": "which provider answers?"}]
    raw = client.chat.completions.with_raw_response.create(model="openai/gpt-4o", messages=question)
    body = raw.http_response.json()
    assert body["choices"][0]["message"]["content"] == "answered by the openai provider"
    assert (body["model"], body["provider"]) == ("openai/gpt-4o", "openai")
    assert journal(server.url)[-1]["rule"] == "gateway-rules.yaml#via-openai"
    # Another provider does not match the rule; the answer still names its provider.
    raw = client.chat.completions.with_raw_response.create(
        model="deepseek/deepseek-chat", messages=question
    )
    body = raw.http_response.json()
    assert body["choices"][0]["message"]["content"] != "answered by the openai provider"
    assert (body["model"], body["provider"]) == ("deepseek/deepseek-chat", "deepseek")
    # Plain ids are accepted too, and their answers name no provider.
    body = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=question
    ).http_response.json()
    assert body["model"] == "gpt-4o" and "provider" not in body
    # Prices apply to `provider/model` ids through the part after the slash.
    spent = sum(
        (
            charge(e["model"], e["usage"]["prompt_tokens"], e["usage"]["completion_tokens"])
            for e in journal(server.url)
        ),
        Fraction(0),
    )
    assert close(balance(server, dialect, dialect.key("main")), Fraction(MAIN_CREDITS) - spent)


# --- profile files, as docs/gateways.md shows them ---------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateways.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def doc_blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block of docs/gateways.md."""
    return FENCE.findall(DOC.read_text(encoding="utf-8"))


def doc_file(name: str) -> str:
    """The one block of docs/gateways.md whose first line is `# <name>`."""
    found = [t for _, t in doc_blocks() if re.match(rf"# {re.escape(name)}[\n ]", t)]
    assert len(found) == 1, f"docs/gateways.md shows {name} {len(found)} times"
    return found[0]


def test_documented_keys_files_and_schema():
    keys_files = [t for _, t in doc_blocks() if re.match(r"# [\w-]*keys\.yaml\n", t)]
    assert len(keys_files) >= 6
    for text in keys_files:
        keys_text(text, "docs/gateways.md")
    assert load_profile("ainative").name == "ainative"
    [schema] = [json.loads(t) for lang, t in doc_blocks() if lang == "json" and "$schema" in t]
    assert schema == profile_schema()


def test_documented_profile_file_works_end_to_end(serve, tmp_path):
    """acme.yaml (`extends: openai`, its own chat path, auth header, required header,
    range, balance shape and errors) behaves as docs/gateways.md says."""
    (tmp_path / "acme.yaml").write_text(doc_file("acme.yaml"), encoding="utf-8")
    (tmp_path / "acme-keys.yaml").write_text(doc_file("acme-keys.yaml"), encoding="utf-8")
    server = serve("--profile", "acme.yaml", "--keys", "acme-keys.yaml")
    headers = {"api-key": "acme-123", "X-Team": "search"}
    client = open_client(
        base_url=f"{server.url}/gateway/v2",
        api_key="not-read-by-this-gateway",
        default_headers=headers,
        max_retries=0,
    )
    completion = client.chat.completions.create(model="acme-large", messages=HELLO, max_tokens=3)
    usage = completion.usage
    assert usage is not None and usage.completion_tokens == 3
    spent = usage.prompt_tokens * Fraction(2, 1000) + usage.completion_tokens * Fraction(4, 1000)
    credits = httpx.get(f"{server.url}/gateway/v2/credits", headers=headers).json()
    assert credits["unit"] == "credits"
    assert credits["data"]["granted"] == pytest.approx(0.05, abs=TOLERANCE)
    assert close(credits["data"]["left"], Fraction("0.05") - spent)
    assert close(credits["data"]["spent"], spent)
    listed = httpx.get(f"{server.url}/v1/models", headers=headers).json()["data"]
    assert {"acme-large", "acme-small"} <= {m["id"] for m in listed}  # openai's models_path
    assert httpx.get(f"{server.url}/v1/models").status_code == 401  # a key, as on every path

    # The file's refusals, in its words.
    url = f"{server.url}/gateway/v2/chat/completions"
    body = {"model": "acme-large", "messages": HELLO}
    no_team = check_error(httpx.post(url, json=body, headers={"api-key": "acme-123"}), 400)
    assert no_team["message"] == "Header X-Team is required: name the team that pays"
    bearer = httpx.post(url, json=body, headers={"Authorization": "Bearer acme-123"})
    assert check_error(bearer, 401) | {"message": "-"} == {
        "message": "-",
        "type": "invalid_request_error",  # inherited from openai's missing_key
        "param": None,
        "code": "no_key",
    }
    assert bearer.json()["error"]["message"] == "No key: send it as api-key: <key>"
    with pytest.raises(openai.AuthenticationError) as caught:
        open_client(
            base_url=f"{server.url}/gateway/v2",
            api_key="x",
            default_headers={**headers, "api-key": "acme-nope-999"},
            max_retries=0,
        ).chat.completions.create(model="acme-large", messages=HELLO)
    assert caught.value.code == "bad_key"
    assert said(caught.value) == "Unknown key acme…999; ACME keys look like acme-..."
    # What it does not override comes from openai: the range error's wording.
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="acme-large", messages=HELLO, temperature=1.5)
    assert caught.value.code == "decimal_above_max_value"
    assert said(caught.value) == (
        "Invalid 'temperature': decimal above maximum value. "
        "Expected a value <= 1, but got 1.5 instead."
    )

    # Running out: the file's 402, and never below 0.
    with pytest.raises(openai.APIStatusError) as caught:
        for _ in range(20):
            client.chat.completions.create(model="acme-large", messages=HELLO)
    error = caught.value
    assert (error.status_code, error.type, error.code) == (
        402,
        "billing_error",
        "credits_exhausted",
    )
    assert said(error).startswith("No credits left for acme-large (balance ")
    left = httpx.get(f"{server.url}/gateway/v2/credits", headers=headers).json()["data"]["left"]
    assert 0 <= left < float(usage.prompt_tokens * Fraction(2, 1000))
    # Another profile's path is not served.
    assert httpx.post(f"{server.url}/v1/public/chat/completions", json=body).status_code == 404


def _serve_profile(path: Path) -> subprocess.CompletedProcess[str]:
    port = str(free_port())
    return subprocess.run(
        [sys.executable, "-m", "mockllm", "serve", "--port", port, "--profile", path.name],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=path.parent,
    )


def test_documented_broken_profile_exits_1(tmp_path):
    """docs/gateways.md's broken.yaml, before and after its first fix, prints what the
    documentation shows and exits 1."""
    path = tmp_path / "broken.yaml"
    shown = [t for lang, t in doc_blocks() if lang == "console" and "--profile broken.yaml" in t]
    assert len(shown) == 2
    for text, console in zip(
        (doc_file("broken.yaml"), doc_file("broken.yaml").replace("  header:", "  headers:")),
        shown,
        strict=True,
    ):
        path.write_text(text, encoding="utf-8")
        done = _serve_profile(path)
        assert done.returncode == 1, done
        expected = [line.strip() for line in console.splitlines() if "broken.yaml:" in line]
        assert expected
        for line in expected:
            assert line in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


BROKEN_PROFILES = {
    "unknown-parent": (
        "name: x\nextends: opneai\n",
        ":2: extends: unknown profile 'opneai'; did you mean 'openai'?",
    ),
    "min-above-max": (
        "extends: openai\nranges:\n  top_p: { min: 1, max: 0 }\n",
        ":3: ranges.top_p: min (1) is above max (0)",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_PROFILES))
def test_broken_profile_file_exits_1(tmp_path, case):
    text, expected = BROKEN_PROFILES[case]
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    done = _serve_profile(path)
    assert done.returncode == 1, done
    assert f"broken.yaml{expected}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
