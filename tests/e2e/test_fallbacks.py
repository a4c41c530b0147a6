"""`fallbacks`: a retryable failure of one model moves on to the next; the answer names the
model that answered and the journal lists every attempt. Refusals are not retried."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import RunningServer, start_server

from .helpers import check_error, journal, reset, sse_payloads

SCENARIO = """\
version: 1
rules:
  - name: a-429
    match: { model: model-a-429 }
    reply: { error: { status: 429, headers: { Retry-After: "7" } } }
  - name: a-503
    match: { model: model-a-503 }
    reply: { error: { status: 503, message: "model-a-503 is overloaded" } }
  - name: a-500
    match: { model: model-a-500 }
    reply: { error: { status: 500 } }
  - name: a-reset
    match: { model: model-a-reset }
    reply: { content: "never sent", fault: { reset: true } }
  - name: a-402
    match: { model: model-a-402 }
    reply: { error: { status: 402, code: insufficient_credits, message: "Insufficient credits" } }
  - name: a-403
    match: { model: model-a-403 }
    reply: { error: { status: 403, code: insufficient_balance, message: "Balance insufficient" } }
  - name: a-answers
    match: { model: model-a-ok }
    reply: { content: "A here" }
  - name: b-answers
    match: { model: model-b }
    reply: { content: "B here" }
  - name: openai-down
    match: { provider: openai }
    reply: { error: { status: 503 } }
"""
RULES = "fallbacks.yaml"
HELLO = [{"role": "user", "content": "Hello, who is answering?"}]

# Credits per 1K tokens for the keyed servers: model A is dear, model B cheap.
KEYS = """\
keys:
  - { key: poor-key, credits: 0.02 }
  - { key: rich-key, credits: 1 }
  - { key: a-only-key, credits: 1, models: ["model-a*"] }
prices:
  "model-a-*": { prompt: 10, completion: 10 }
  model-b: { prompt: 0.25, completion: 1.5 }
"""
B_PRICE = (Fraction("0.25") / 1000, Fraction("1.5") / 1000)
OUT_OF_CREDITS = {
    "ainative": (402, "insufficient_credits"),
    "tokenhub": (403, "insufficient_user_quota"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The openai profile in open mode with the rules above. `fallbacks` is a gateway's
    extra, which the openai profile refuses as OpenAI does: `--lenient` accepts it."""
    folder = tmp_path_factory.mktemp("fallbacks")
    (folder / RULES).write_text(SCENARIO, encoding="utf-8")
    running = start_server("--scenarios", str(folder / RULES), "--lenient", tmp_path=folder)
    yield running
    running.stop()


@pytest.fixture
def fresh(server: RunningServer) -> RunningServer:
    reset(server.url)
    return server


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], RunningServer]]:
    """`keyed("ainative")`: a server of that profile with KEYS and the rules above, reset."""
    folder = tmp_path_factory.mktemp("fallbacks-keyed")
    (folder / RULES).write_text(SCENARIO, encoding="utf-8")
    (folder / "keys.yaml").write_text(KEYS, encoding="utf-8")
    started: dict[str, RunningServer] = {}

    def get(profile: str) -> RunningServer:
        if profile not in started:
            started[profile] = start_server(
                "--profile",
                profile,
                "--keys",
                str(folder / "keys.yaml"),
                "--scenarios",
                str(folder / RULES),
                tmp_path=folder,
            )
        reset(started[profile].url)
        return started[profile]

    yield get
    for running in started.values():
        running.stop()


@pytest.fixture
def client(fresh: RunningServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=fresh.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def attempt(model: str, status: int, rule: str | None, faults: list[str] | None = None) -> dict:
    return {
        "model": model,
        "status": status,
        "rule": rule and f"{RULES}#{rule}",
        "faults": faults or [],
    }


FAILURES = [
    ("model-a-429", attempt("model-a-429", 429, "a-429")),
    ("model-a-503", attempt("model-a-503", 503, "a-503")),
    ("model-a-500", attempt("model-a-500", 500, "a-500")),
    ("model-a-reset", None),  # a fault: the connection would be closed before any byte
]


@pytest.mark.parametrize(("failing", "first"), FAILURES, ids=[f[0] for f in FAILURES])
def test_fallback_answers_after_a_retryable_failure(client, fresh, failing, first):
    completion = client.chat.completions.create(
        model=failing, messages=HELLO, extra_body={"fallbacks": ["model-b"]}
    )
    assert completion.model == "model-b"
    assert completion.choices[0].message.content == "B here"
    [entry] = journal(fresh.url)
    assert entry["status"] == 200
    assert entry["rule"] == f"{RULES}#b-answers"
    tried, answered = entry["attempts"]
    if first is not None:
        assert tried == first
    else:
        assert (tried["model"], tried["rule"], tried["faults"]) == (
            failing,
            f"{RULES}#a-reset",
            ["reset"],
        )
    assert answered == attempt("model-b", 200, "b-answers")


def test_fallback_stream_names_the_fallback_model(client, fresh):
    stream = client.chat.completions.create(
        model="model-a-503", messages=HELLO, stream=True, extra_body={"fallbacks": ["model-b"]}
    )
    with stream:
        chunks = list(stream)
    assert {chunk.model for chunk in chunks} == {"model-b"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "B here"
    assert [a["model"] for a in journal(fresh.url)[0]["attempts"]] == ["model-a-503", "model-b"]


def test_fallbacks_are_tried_in_order(client, fresh):
    completion = client.chat.completions.create(
        model="model-a-429",
        messages=HELLO,
        extra_body={"fallbacks": ["model-a-503", "model-b", "model-a-ok"]},
    )
    assert (completion.model, completion.choices[0].message.content) == ("model-b", "B here")
    assert journal(fresh.url)[0]["attempts"] == [
        attempt("model-a-429", 429, "a-429"),
        attempt("model-a-503", 503, "a-503"),
        attempt("model-b", 200, "b-answers"),
    ]


def test_an_answer_is_not_retried(client, fresh):
    completion = client.chat.completions.create(
        model="model-a-ok", messages=HELLO, extra_body={"fallbacks": ["model-b"]}
    )
    assert (completion.model, completion.choices[0].message.content) == ("model-a-ok", "A here")
    attempts = journal(fresh.url)[0]["attempts"]
    assert [a["model"] for a in attempts] == ["model-a-ok"]


@pytest.mark.parametrize(("failing", "status"), [("model-a-402", 402), ("model-a-403", 403)])
def test_credit_refusals_do_not_fall_back(client, fresh, failing, status):
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model=failing, messages=HELLO, extra_body={"fallbacks": ["model-b"]}
        )
    assert caught.value.status_code == status
    [entry] = journal(fresh.url)
    assert entry["status"] == status
    assert [a["model"] for a in entry["attempts"]] == [failing]


def test_all_failing_returns_the_last_failure(client, fresh):
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="model-a-503",
            messages=HELLO,
            extra_body={"fallbacks": ["model-a-500", "model-a-429"]},
        )
    assert caught.value.response.headers["retry-after"] == "7"  # model-a-429's own header
    [entry] = journal(fresh.url)
    assert entry["status"] == 429
    assert [(a["model"], a["status"]) for a in entry["attempts"]] == [
        ("model-a-503", 503),
        ("model-a-500", 500),
        ("model-a-429", 429),
    ]
    # The other way round, the 503 comes back, with its message.
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(
            model="model-a-429", messages=HELLO, extra_body={"fallbacks": ["model-a-503"]}
        )
    assert caught.value.status_code == 503
    assert caught.value.body["message"] == "model-a-503 is overloaded"


@pytest.mark.parametrize("profile", ["ainative", "tokenhub"])
def test_out_of_credits_does_not_fall_back(keyed, profile):
    """Model A's prompt costs more than the key has; model B would be affordable, but a
    credit refusal is final."""
    server = keyed(profile)
    headers = {"Authorization": "Bearer poor-key"}
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "model-a-ok", "messages": HELLO, "fallbacks": ["model-b"]},
        headers=headers,
    )
    status, code = OUT_OF_CREDITS[profile]
    assert check_error(response, status)["code"] == code
    [entry] = journal(server.url)
    assert entry["status"] == status
    assert "model-b" not in [a["model"] for a in entry["attempts"]]
    assert entry["rule"] != f"{RULES}#b-answers"
    # Nothing was charged: model B alone is still affordable.
    alone = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "model-b", "messages": HELLO},
        headers=headers,
    )
    assert alone.status_code == 200, alone.text


def test_fallback_answer_is_charged_at_its_own_price(keyed):
    server = keyed("ainative")
    headers = {"X-API-Key": "rich-key"}
    response = httpx.post(
        f"{server.url}/v1/public/chat/completions",
        json={"model": "model-a-429", "messages": HELLO, "fallbacks": ["model-b"]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "model-b"
    usage = body["usage"]
    spent = usage["prompt_tokens"] * B_PRICE[0] + usage["completion_tokens"] * B_PRICE[1]
    left = httpx.get(f"{server.url}/api/v1/public/credits/balance", headers=headers).json()
    assert abs(left["remaining_credits"] - float(1 - spent)) <= 1e-9


def test_fallbacks_respect_the_keys_allowed_models(keyed):
    """A key limited to model-a* is refused model-b when it asks for it; a fallback to
    model-b must not give it model-b's answer either."""
    server = keyed("ainative")
    headers = {"X-API-Key": "a-only-key"}
    direct = httpx.post(
        f"{server.url}/v1/public/chat/completions",
        json={"model": "model-b", "messages": HELLO},
        headers=headers,
    )
    assert check_error(direct, 403)["code"] == "model_not_allowed"
    response = httpx.post(
        f"{server.url}/v1/public/chat/completions",
        json={"model": "model-a-429", "messages": HELLO, "fallbacks": ["model-b"]},
        headers=headers,
    )
    assert response.status_code in (403, 429), (
        f"a key allowed only model-a* got {response.status_code} "
        f"from {response.json().get('model')!r}: {response.text[:200]}"
    )


def test_provider_model_fallback(serve, tmp_path):
    """tokenhub ids: the fallback's `provider/model` id, as written, and its provider."""
    (tmp_path / RULES).write_text(SCENARIO, encoding="utf-8")
    server = serve("--profile", "tokenhub", "--scenarios", str(tmp_path / RULES))
    fallback = "anthropic/claude-3-5-sonnet-20241022"
    with OpenAI(base_url=server.base_url, api_key="sk-bf-any", max_retries=0) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="openai/gpt-4o", messages=HELLO, extra_body={"fallbacks": [fallback]}
        )
    body: dict[str, Any] = raw.http_response.json()
    assert (body["model"], body["provider"]) == (fallback, "anthropic")
    assert body["choices"][0]["message"]["content"]
    [entry] = journal(server.url)
    assert [(a["model"], a["status"]) for a in entry["attempts"]] == [
        ("openai/gpt-4o", 503),
        (fallback, 200),
    ]
    # Streaming, every chunk names the fallback and its provider.
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "openai/gpt-4o", "messages": HELLO, "stream": True, "fallbacks": [fallback]},
        headers={"Authorization": "Bearer sk-bf-any"},
    )
    chunks = [json.loads(p) for p in sse_payloads(response.content) if p != "[DONE]"]
    assert {(c["model"], c["provider"]) for c in chunks} == {(fallback, "anthropic")}


def test_responses_api_falls_back_under_a_gateway_profile(keyed):
    """`fallbacks` works on the Responses API as on chat: the answer names the fallback,
    streamed or not, the journal lists both tries, and the fallback's price is charged."""
    server = keyed("tokenhub")
    with OpenAI(base_url=server.base_url, api_key="rich-key", max_retries=0) as sdk:
        response = sdk.responses.create(
            model="model-a-503",
            input="Hello, who is answering?",
            extra_body={"fallbacks": ["model-b"]},
        )
        assert (response.model, response.output_text) == ("model-b", "B here")
        [entry] = journal(server.url)
        assert entry["attempts"] == [
            attempt("model-a-503", 503, "a-503"),
            attempt("model-b", 200, "b-answers"),
        ]
        usage = response.usage
        assert usage is not None
        spent = usage.input_tokens * B_PRICE[0] + usage.output_tokens * B_PRICE[1]
        left = httpx.get(
            f"{server.base_url}/dashboard/billing/subscription",
            headers={"Authorization": "Bearer rich-key"},
        ).json()
        assert abs(left["hard_limit_usd"] - float(1 - spent)) <= 1e-9
        with sdk.responses.create(
            model="model-a-429",
            input="Hello, who is answering?",
            stream=True,
            extra_body={"fallbacks": ["model-a-500", "model-b"]},
        ) as stream:
            events = list(stream)
    done = events[-1]
    assert done.type == "response.completed"
    assert (done.response.model, done.response.output_text) == ("model-b", "B here")
    assert [a["model"] for a in journal(server.url)[-1]["attempts"]] == [
        "model-a-429",
        "model-a-500",
        "model-b",
    ]


@pytest.mark.parametrize(
    ("fallbacks", "param", "found"),
    [("model-b", "fallbacks", "a string"), (["model-b", 7], "fallbacks[1]", "an integer")],
)
def test_responses_api_refuses_fallbacks_of_the_wrong_type(keyed, fallbacks, param, found):
    server = keyed("tokenhub")
    response = httpx.post(
        f"{server.base_url}/responses",
        json={"model": "model-a-503", "input": "Hello", "fallbacks": fallbacks},
        headers={"Authorization": "Bearer rich-key"},
    )
    error = check_error(response, 400)
    assert (error["param"], error["code"]) == (param, "invalid_type")
    assert f"but got {found} instead" in error["message"]
    assert journal(server.url)[0]["attempts"] == []


@pytest.mark.parametrize(
    ("fallbacks", "message"),
    [
        ("model-b", "fallbacks: Input should be a valid list"),
        (0, "fallbacks: Input should be a valid list"),
        ("", "fallbacks: Input should be a valid list"),
        (["model-b", 7], "fallbacks.1: Input should be a valid string"),
    ],
)
def test_messages_api_names_the_wrong_fallbacks_item(keyed, fallbacks, message):
    """The Messages API refuses a `fallbacks` that is not a list of strings in its own
    words, naming the item at fault (as it names `stop_sequences.1`); a falsy non-list
    (`""`, `0`) is refused as well, not read as no fallbacks."""
    server = keyed("tokenhub")
    response = httpx.post(
        f"{server.url}/v1/messages",
        json={
            "model": "model-a-503",
            "max_tokens": 5,
            "messages": HELLO,
            "fallbacks": fallbacks,
        },
        headers={"x-api-key": "rich-key", "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}
