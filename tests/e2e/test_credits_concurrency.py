"""Concurrent exchanges of one key never spend more than its balance.

Sixty requests, half of them streams, leave together against a balance that pays for
about a third of them. Every answer's exact charge (from its usage, or from the tokens a
cut stream delivered) must add up to what left the balance; the balance never goes below
0; every refusal is the profile's out-of-credits error.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from fractions import Fraction

import httpx
import pytest

from .helpers import sse_payloads

REQUESTS = 60
CREDITS = "0.5"
PROMPT_PRICE, COMPLETION_PRICE = "0.15", "0.6"  # credits per 1K tokens
P = Fraction(PROMPT_PRICE) / 1000
C = Fraction(COMPLETION_PRICE) / 1000
ANSWER_WORDS = 40  # "Alpha beta beta …": one token per word
MODEL = "gpt-4o-mini"

SCENARIO = f"""\
version: 1
rules:
  - name: paced
    match: {{ model: "*gpt-4o-mini" }}
    reply:
      content: "{"Alpha" + " beta" * (ANSWER_WORDS - 1)}"
      latency: {{ ttft_ms: 30, inter_token_ms: 2 }}
"""
KEYS = f"""\
keys:
  - {{ key: shared-key, credits: {CREDITS} }}
prices:
  "*": {{ prompt: {PROMPT_PRICE}, completion: {COMPLETION_PRICE} }}
"""


@dataclass(frozen=True)
class Gateway:
    profile: str
    model: str
    chat_path: str
    balance_path: str
    balance_field: str
    out_of_credits: tuple[int, str]


GATEWAYS = [
    Gateway(
        "ainative",  # on_exhaustion: error — a cut stream ends with an in-band error
        MODEL,
        "/v1/public/chat/completions",
        "/api/v1/public/credits/balance",
        "remaining_credits",
        (402, "insufficient_credits"),
    ),
    Gateway(
        "tokenhub",  # on_exhaustion: length
        f"openai/{MODEL}",
        "/v1/chat/completions",
        "/v1/dashboard/billing/subscription",
        "hard_limit_usd",
        (403, "insufficient_user_quota"),
    ),
]


@dataclass
class Outcome:
    status: int
    stream: bool
    prompt_tokens: int | None = None  # None: the answer carried no usage
    completion_tokens: int = 0
    finish: str | None = None
    error_code: str | None = None


async def _ask(http: httpx.AsyncClient, gateway: Gateway, stream: bool) -> Outcome:
    body: dict = {
        "model": gateway.model,
        "messages": [{"role": "user", "content": "Tell me about shared balances."}],
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    response = await http.post(gateway.chat_path, json=body)
    if response.status_code != 200:
        return Outcome(response.status_code, stream, error_code=response.json()["error"]["code"])
    if not stream:
        data = response.json()
        usage = data["usage"]
        return Outcome(
            200,
            stream,
            usage["prompt_tokens"],
            usage["completion_tokens"],
            data["choices"][0]["finish_reason"],
        )
    payloads = sse_payloads(response.content)
    events = [json.loads(p) for p in payloads if p != "[DONE]"]
    deltas = sum(1 for e in events if e.get("choices") and e["choices"][0]["delta"].get("content"))
    finishes = [e["choices"][0]["finish_reason"] for e in events if e.get("choices")]
    usage = next((e["usage"] for e in events if e.get("usage")), None)
    if usage is not None:
        assert usage["completion_tokens"] == deltas  # one token per delta
    error = events[-1].get("error") if events else None
    return Outcome(
        200,
        stream,
        usage["prompt_tokens"] if usage else None,
        deltas,
        finishes[-1] if finishes and finishes[-1] else None,
        error["code"] if error else None,
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("gateway", GATEWAYS, ids=[g.profile for g in GATEWAYS])
async def test_concurrent_requests_never_overspend(serve, tmp_path, gateway: Gateway):
    (tmp_path / "keys.yaml").write_text(KEYS, encoding="utf-8")
    (tmp_path / "paced.yaml").write_text(SCENARIO, encoding="utf-8")
    server = serve(
        "--profile",
        gateway.profile,
        "--keys",
        str(tmp_path / "keys.yaml"),
        "--scenarios",
        str(tmp_path / "paced.yaml"),
    )
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(
        base_url=server.url,
        headers={"Authorization": "Bearer shared-key"},
        limits=limits,
        timeout=30,
    ) as http:
        outcomes = await asyncio.gather(
            *(_ask(http, gateway, stream=i % 2 == 0) for i in range(REQUESTS))
        )
        balance = await http.get(gateway.balance_path)
    left = balance.json()[gateway.balance_field]

    answered = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    assert answered and refused, f"{len(answered)} answered, {len(refused)} refused"
    assert {(o.status, o.error_code) for o in refused} == {gateway.out_of_credits}
    # Every answer has the same prompt; a stream cut with an in-band error has no usage.
    prompts = {o.prompt_tokens for o in answered if o.prompt_tokens is not None}
    assert len(prompts) == 1, prompts
    prompt_tokens = prompts.pop()
    spent = sum((prompt_tokens * P + o.completion_tokens * C for o in answered), Fraction(0))

    assert left >= 0
    assert abs(left - float(Fraction(CREDITS) - spent)) <= 1e-9, (
        f"answers cost {float(spent)} but the balance went from {CREDITS} to {left}"
    )
    # Refusals are honest: what is left cannot pay one more prompt.
    assert left < float(prompt_tokens * P)
    # Whole answers are whole; the one the balance ran out in is cut, as the profile says.
    for o in answered:
        if o.completion_tokens == ANSWER_WORDS:
            assert o.finish == "stop" and o.error_code is None
        elif o.stream and gateway.profile == "ainative":
            assert o.error_code == gateway.out_of_credits[1] and o.finish is None
        else:
            assert o.finish == "length"
    # The keys file's arithmetic: full answers while the balance lasts, then at most one cut.
    full = prompt_tokens * P + ANSWER_WORDS * C
    assert sum(o.completion_tokens == ANSWER_WORDS for o in answered) == int(
        Fraction(CREDITS) // full
    )
    assert len(answered) - int(Fraction(CREDITS) // full) <= 1
