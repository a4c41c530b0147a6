"""Accounts: the keys file, prices, exact credits, reservations and rate-limit buckets."""

from __future__ import annotations

import hashlib
import textwrap
import threading
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mockllm.accounts import (
    OPEN,
    Accounts,
    Charge,
    Keys,
    KeySpec,
    Price,
    format_duration,
    keys_schema,
    keys_text,
    load_keys,
    mask,
)
from mockllm.errors import ProfileError
from mockllm.state import MemoryStore

CONTRACT = """
# keys.yaml — passed with --keys; without it, any key is accepted (open mode)
keys:
  - key: ak_live_123
    credits: 1000          # starting balance
    rpm: 60                # requests per minute (token bucket)
    tpm: 100000            # tokens per minute
    models: ["claude-*"]   # allowed models (globs); others get the profile's 403/404
  - key: ak_empty
    credits: 0
prices:                    # credits per 1K tokens; "*" is the fallback
  claude-3-5-sonnet-20241022: { prompt: 3, completion: 15 }
  "*": { prompt: 1, completion: 2 }
"""


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def accounts_for(text: str, clock: FakeClock | None = None) -> Accounts:
    return Accounts(keys_text(textwrap.dedent(text)), MemoryStore(), clock or FakeClock())


def charge(accounts: Accounts, key: str, model: str, prompt: int, completion: int) -> Charge:
    """An exchange that has already finished: hold its cost, then settle it, as the gateway
    does; a prompt the balance cannot cover costs nothing."""
    reservation = accounts.reserve(key, model, prompt, completion)
    if reservation is None:
        return Charge(Fraction(0), accounts.balance(key), 0)
    return accounts.settle(reservation, completion)


def affordable(accounts: Accounts, key: str, model: str, prompt: int) -> int | None:
    """Completion tokens a reservation of unknown length gets (nothing is spent)."""
    reservation = accounts.reserve(key, model, prompt, None)
    assert reservation is not None
    accounts.settle(reservation, 0)
    accounts.reset()
    return reservation.completion_tokens


def one_key(credits: str = "", limits: str = "", prices: str = "") -> Accounts:
    text = f"keys:\n  - key: k\n{credits}{limits}prices:\n{prices or '  x: {prompt: 0}'}\n"
    return accounts_for(text)


def problems(text: str) -> list[str]:
    with pytest.raises(ProfileError) as info:
        keys_text(textwrap.dedent(text).lstrip(), "keys.yaml")
    return [str(p) for p in info.value.problems]


# --- the keys file ----------------------------------------------------------------------


def test_the_contract_example_loads(tmp_path: Path):
    path = tmp_path / "keys.yaml"
    path.write_text(CONTRACT, encoding="utf-8")
    keys = load_keys(path)
    assert keys.source == str(path)
    live, empty = keys.keys
    assert live == KeySpec("ak_live_123", Fraction(1000), 60, 100000, ("claude-*",), line=4)
    assert (empty.credits, empty.rpm, empty.tpm, empty.models) == (0, None, None, None)
    assert keys.prices == (
        Price("claude-3-5-sonnet-20241022", Fraction(3), Fraction(15)),
        Price("*", Fraction(1), Fraction(2)),
    )
    jsonschema.validate(yaml.safe_load(CONTRACT), keys_schema())


def test_keys_file_problems_name_file_line_and_field():
    found = problems(
        """
        keys:
          - key: a
            credit: 10
            rpm: 0
          - key: 12345
            tpm: 1.5
        prices:
          gpt-4o: { prompt: -1, completon: 2 }
        """
    )
    assert found == [
        "keys.yaml:3: keys[0].credit: unknown key 'credit'; did you mean 'credits'? "
        "valid keys: key, credits, rpm, tpm, models, alias",
        "keys.yaml:4: keys[0].rpm: expected a value >= 1, found 0",
        "keys.yaml:5: keys[1].key: expected a string, found an integer",
        "keys.yaml:6: keys[1].tpm: expected an integer, found a number",
        "keys.yaml:8: prices.gpt-4o.prompt: expected a value >= 0, found -1",
        "keys.yaml:8: prices.gpt-4o.completon: unknown key 'completon'; did you mean "
        "'completion'? valid keys: prompt, completion",
    ]


def test_duplicate_and_blank_keys():
    found = problems("keys:\n  - key: a\n  - key: 'a'\n  - key: ' '\n")
    assert found == [
        "keys.yaml:3: keys[1].key: duplicate key (also keys[0])",
        "keys.yaml:4: keys[2].key: a key must be non-empty and contain no spaces",
    ]


def test_keys_file_needs_keys():
    assert problems("prices: {}\n") == ["keys.yaml:1: missing required key 'keys'"]
    assert problems("") == ["keys.yaml:1: expected a mapping with 'keys', found an empty document"]
    with pytest.raises(ProfileError, match="no such file"):
        load_keys("/nonexistent/keys.yaml")


def test_mask_never_shows_a_whole_key():
    assert mask("ak_live_123") == "ak_l…123"
    assert mask("sk-1234") == "sk…"
    assert mask(None) == "<none>"


# --- keys and models --------------------------------------------------------------------


def test_open_mode_accepts_every_key_without_limits():
    accounts = Accounts(None, MemoryStore())
    assert accounts.is_open
    assert accounts.authenticate("anything") is OPEN
    assert accounts.authenticate(None) is OPEN
    assert accounts.model_allowed("x", "gpt-4o")
    assert accounts.balance("x") is None
    assert accounts.check_rate("x", 10**9).allowed
    assert accounts.reserve("x", "gpt-4o", 10, None) is not None


def test_with_keys_unknown_and_missing_keys_are_refused():
    accounts = accounts_for(CONTRACT)
    assert accounts.authenticate("ak_live_123").key == "ak_live_123"  # type: ignore[union-attr]
    assert accounts.authenticate("ak_live_124") is None
    assert accounts.authenticate(None) is None
    assert accounts.authenticate("") is None
    assert not accounts.model_allowed("ak_nope", "gpt-4o")


def test_model_globs_match_the_id_or_its_part_after_the_provider():
    accounts = accounts_for(
        """
        keys:
          - key: a
            models: ["claude-*", "openai/gpt-4o"]
          - key: b
            models: []
          - key: c
        """
    )
    assert accounts.model_allowed("a", "claude-3-5-sonnet-20241022")
    assert accounts.model_allowed("a", "anthropic/claude-3-5-haiku-20241022")
    assert accounts.model_allowed("a", "openai/gpt-4o")
    assert not accounts.model_allowed("a", "gpt-4o")
    assert not accounts.model_allowed("a", "CLAUDE-3")
    assert not accounts.model_allowed("b", "claude-3")
    assert accounts.model_allowed("c", "anything/at-all")


# --- prices and exact charges -----------------------------------------------------------


def test_prices_exact_then_glob_then_star_then_free():
    accounts = accounts_for(
        """
        keys: [{key: k}]
        prices:
          gpt-4o*: { prompt: 5, completion: 6 }
          gpt-4o: { prompt: 2.5, completion: 10 }
          gpt-4o-mini*: { prompt: 9, completion: 9 }
          "*": { prompt: 1 }
        """
    )
    assert accounts.price("gpt-4o") == (Fraction(5, 2), Fraction(10))
    assert accounts.price("openai/gpt-4o") == (Fraction(5, 2), Fraction(10))
    assert accounts.price("gpt-4o-mini") == (5, 6)  # first glob in file order
    assert accounts.price("openai/gpt-4o-2024") == (5, 6)
    assert accounts.price("claude-3") == (1, 0)
    assert accounts_for("keys: []\n").price("gpt-4o") == (0, 0)


def test_decimal_prices_are_exact():
    accounts = one_key(prices="  m: { prompt: 0.15, completion: 0.6 }")
    assert accounts.price("m") == (Fraction(3, 20), Fraction(3, 5))
    assert accounts.cost("m", 1, 1) == Fraction(75, 100000)


def test_charges_are_exact_fractions():
    accounts = accounts_for(CONTRACT)
    done = charge(accounts, "ak_live_123", "claude-3-5-sonnet-20241022", 1234, 567)
    # 1234 × 3/1000 + 567 × 15/1000 = 3.702 + 8.505
    assert done.amount == Fraction(12207, 1000)
    assert done.balance_after == Fraction(987793, 1000)
    assert accounts.balance("ak_live_123") == Fraction(987793, 1000)
    assert float(accounts.balance("ak_live_123")) == 987.793  # type: ignore[arg-type]
    again = charge(accounts, "ak_live_123", "claude-3-5-sonnet-20241022", 1234, 567)
    assert again.balance_after == 1000 - 2 * Fraction(12207, 1000)


def test_a_completion_that_would_overdraw_stops_at_the_balance():
    accounts = one_key("    credits: 1\n", prices="  m: { prompt: 3, completion: 15 }")
    assert affordable(accounts, "k", "m", 10) == 64  # (1 - 0.03) / 0.015
    done = charge(accounts, "k", "m", 10, 1000)
    assert done.completion_tokens == 64
    assert done.amount == Fraction(3, 100) + 64 * Fraction(15, 1000)
    left = accounts.balance("k")
    assert left is not None and 0 <= left < Fraction(15, 1000)
    assert accounts.reserve("k", "m", 10, 5) is None  # a refused request costs nothing
    assert accounts.balance("k") == left
    assert charge(accounts, "k", "m", 10, 5).amount == 0


def test_a_zero_balance_is_refused_even_when_the_model_is_free():
    accounts = accounts_for(CONTRACT.replace('"*": { prompt: 1, completion: 2 }', ""))
    assert accounts.price("gpt-4o") == (0, 0)
    assert accounts.reserve("ak_empty", "gpt-4o", 0, 10) is None
    assert accounts.balance("ak_empty") == 0


def test_keys_without_credits_are_unlimited():
    accounts = one_key(prices="  m: { prompt: 3, completion: 15 }")
    assert accounts.balance("k") is None
    assert accounts.reserve("k", "m", 10**9, 0) is not None
    assert affordable(accounts, "k", "m", 10) is None
    done = charge(accounts, "k", "m", 1000, 1000)
    assert (done.amount, done.balance_after) == (18, None)


def test_free_completions_are_not_limited_by_the_balance():
    accounts = one_key("    credits: 1\n", prices="  m: { prompt: 1 }")
    assert affordable(accounts, "k", "m", 10) is None
    reservation = accounts.reserve("k", "m", 10, None)
    assert reservation is not None and reservation.completion_tokens is None
    assert accounts.settle(reservation, 10**6).balance_after == Fraction(99, 100)


# --- reserve and settle -----------------------------------------------------------------


def test_reserve_holds_and_settle_gives_back_the_unused_part():
    accounts = one_key("    credits: 10\n", prices="  m: { prompt: 1, completion: 2 }")
    reservation = accounts.reserve("k", "m", 1000, 2000)
    assert reservation is not None
    assert (reservation.completion_tokens, reservation.held) == (2000, 5)
    assert accounts.balance("k") == 5
    other = accounts.reserve("k", "m", 1000, None)  # the rest: (5 - 1) / 0.002 tokens
    assert other is not None and other.completion_tokens == 2000
    assert accounts.balance("k") == 0
    assert accounts.reserve("k", "m", 0, 1) is None
    charge = accounts.settle(reservation, 500)
    assert (charge.amount, charge.balance_after, charge.completion_tokens) == (2, 3, 500)
    charge = accounts.settle(other, 5000)  # never more than reserved
    assert (charge.amount, charge.balance_after, charge.completion_tokens) == (5, 3, 2000)
    with pytest.raises(ValueError, match="already settled"):
        accounts.settle(other, 1)


@settings(max_examples=200, deadline=None)
@given(
    credits=st.fractions(min_value=0, max_value=50, max_denominator=1000),
    prompt_price=st.fractions(min_value=0, max_value=20, max_denominator=100),
    completion_price=st.fractions(min_value=0, max_value=20, max_denominator=100),
    steps=st.lists(
        st.tuples(
            st.booleans(),
            st.integers(0, 3000),
            st.one_of(st.none(), st.integers(0, 5000)),
            st.integers(0, 10**6),
        ),
        max_size=40,
    ),
)
def test_interleaved_reservations_never_overspend(
    credits: Fraction, prompt_price: Fraction, completion_price: Fraction, steps: list
):
    keys = Keys((KeySpec("k", credits),), (Price("*", prompt_price, completion_price),))
    accounts = Accounts(keys, MemoryStore(), FakeClock())
    open_: list = []
    charged = Fraction(0)
    for is_reserve, prompt, max_tokens, pick in steps:
        if is_reserve or not open_:
            reservation = accounts.reserve("k", "m", prompt, max_tokens)
            if reservation is not None:
                assert reservation.held <= credits
                open_.append(reservation)
        else:
            reservation = open_.pop(pick % len(open_))
            charge = accounts.settle(reservation, pick)
            assert charge.amount <= reservation.held
            charged += charge.amount
        left = accounts.balance("k")
        assert left is not None and left >= 0
        assert left + sum(r.held for r in open_) + charged == credits
    for reservation in open_:
        charged += accounts.settle(reservation, 10**9).amount
    assert accounts.balance("k") == credits - charged >= 0


def test_concurrent_threads_never_overspend():
    accounts = one_key("    credits: 100\n", prices="  m: { prompt: 1, completion: 1 }")
    charges: list[Fraction] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(200):
            done = charge(accounts, "k", "m", 100, 150)
            with lock:
                charges.append(done.amount)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    left = accounts.balance("k")
    assert left is not None and left >= 0
    assert left + sum(charges) == 100


def test_reset_restores_balances_and_forgives_holds_in_flight():
    accounts = one_key("    credits: 10\n", prices="  m: { prompt: 1, completion: 2 }")
    before = accounts.reserve("k", "m", 1000, 1000)
    assert before is not None and accounts.balance("k") == 7
    accounts.reset()
    assert accounts.balance("k") == 10
    accounts.settle(before, 0)  # the refund belongs to the balance that was reset
    assert accounts.balance("k") == 10
    charge(accounts, "k", "m", 1000, 0)
    accounts.store.reset()  # the admin reset clears the whole store
    assert accounts.balance("k") == 10


def test_state_lives_in_the_store_under_named_keys():
    store = MemoryStore()
    accounts = Accounts(keys_text(CONTRACT), store, FakeClock())
    charge(accounts, "ak_live_123", "gpt-4o", 1000, 0)
    accounts.check_rate("ak_live_123", 10)
    # Named by a digest of the key (a shared store's names reach its disk): never the key.
    digest = hashlib.sha256(b"ak_live_123").hexdigest()[:32]
    # And by the figures its state started from (credits at a scale; rpm/tpm).
    credits = f"credits:{digest}:1000@{accounts.scale}"
    assert store.balance(credits, 0) == 999 * accounts.scale
    rate = f"rate:{digest}:60/100000"
    _, levels = store.take(rate, (60.0, 100000.0), (0.0, 0.0), 60.0, 1000.0)
    assert levels == (59.0, 100000.0 - 10)
    assert store.balance("credits:ak_live_123", 0) == 0  # nothing under the key itself
    # A second Accounts over the same store sees the same balance.
    assert Accounts(keys_text(CONTRACT), store).balance("ak_live_123") == 999


# --- rate limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0001, "1ms"),
        (0.02, "20ms"),
        (0.999, "999ms"),
        (1, "1s"),
        (8.64, "8.64s"),
        (59.5, "59.5s"),
        (360, "6m0s"),
        (86.4, "1m26.4s"),
        (3600, "1h0m0s"),
        (3723.25, "1h2m3.25s"),
    ],
)
def test_durations_are_written_as_openai_writes_them(seconds: float, text: str):
    assert format_duration(seconds) == text


def test_requests_bucket_counts_refills_and_says_so():
    clock = FakeClock()
    accounts = accounts_for("keys:\n  - key: k\n    rpm: 2\n", clock)
    first = accounts.check_rate("k", 100)
    assert first.allowed
    assert first.headers == (
        ("x-ratelimit-limit-requests", "2"),
        ("x-ratelimit-remaining-requests", "1"),
        ("x-ratelimit-reset-requests", "30s"),
    )
    second = accounts.check_rate("k", 100)
    assert second.allowed and dict(second.headers)["x-ratelimit-remaining-requests"] == "0"
    assert dict(second.headers)["x-ratelimit-reset-requests"] == "1m0s"
    refused = accounts.check_rate("k", 100)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(30)
    assert refused.headers[0] == ("retry-after", "30")
    assert dict(refused.headers)["x-ratelimit-remaining-requests"] == "0"
    assert refused.fields() == {
        "limit_name": "requests",
        "unit": "RPM",
        "limit": 2,
        "used": 2,
        "requested": 1,
        "retry_after": "30s",
    }
    clock.advance(15)
    refused = accounts.check_rate("k", 100)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(15)
    clock.advance(15.2)
    assert accounts.check_rate("k", 100).allowed  # a refusal took nothing
    clock.advance(3600)
    assert dict(accounts.check_rate("k", 1).headers)["x-ratelimit-remaining-requests"] == "1"


def test_tokens_bucket_and_retry_after_rounds_up():
    clock = FakeClock()
    accounts = accounts_for("keys:\n  - key: k\n    rpm: 100\n    tpm: 1000\n", clock)
    ok = dict(accounts.check_rate("k", 600).headers)
    assert ok["x-ratelimit-remaining-tokens"] == "400"
    assert ok["x-ratelimit-reset-tokens"] == "36s"
    assert ok["x-ratelimit-limit-tokens"] == "1000"
    assert ok["x-ratelimit-reset-requests"] == "600ms"
    refused = accounts.check_rate("k", 450)
    assert not refused.allowed
    assert refused.limit_name == "tokens"
    assert refused.retry_after_s == pytest.approx(3)  # 50 tokens at 1000/60 per second
    assert dict(refused.headers)["retry-after"] == "3"
    assert dict(refused.headers)["x-ratelimit-remaining-requests"] == "99"  # not counted
    assert refused.fields()["unit"] == "TPM"
    assert (refused.fields()["used"], refused.fields()["requested"]) == (600, 450)
    clock.advance(0.5)
    refused = accounts.check_rate("k", 450)
    assert dict(refused.headers)["retry-after"] == "3"  # 2.5 s, rounded up
    clock.advance(2.6)
    assert accounts.check_rate("k", 450).allowed


def test_a_request_larger_than_the_token_limit_is_refused_as_too_large():
    """It never fits: no Retry-After to wait for, and nothing taken from the buckets."""
    accounts = accounts_for("keys:\n  - key: k\n    rpm: 5\n    tpm: 100\n")
    assert accounts.check_rate("k", 30).allowed
    decision = accounts.check_rate("k", 101)
    assert not decision.allowed and decision.too_large
    assert (decision.limit_name, decision.limit, decision.requested) == ("tokens", 100, 101)
    assert decision.fields()["unit"] == "TPM" and decision.fields()["used"] == 30
    headers = dict(decision.headers)
    assert "retry-after" not in headers
    assert headers["x-ratelimit-remaining-requests"] == "4"  # the refusal took nothing
    exact = accounts.check_rate("k", 70)
    assert exact.allowed and not exact.too_large
    short = accounts.check_rate("k", 100)  # fits a full bucket: an ordinary refusal
    assert not short.allowed and not short.too_large
    assert "retry-after" in dict(short.headers)


def test_keys_without_limits_get_no_headers():
    accounts = accounts_for("keys:\n  - key: k\n    credits: 5\n")
    decision = accounts.check_rate("k", 10**9)
    assert decision.allowed and decision.headers == ()


def test_reset_fills_the_buckets():
    clock = FakeClock()
    accounts = accounts_for("keys:\n  - key: k\n    rpm: 1\n", clock)
    assert accounts.check_rate("k", 0).allowed
    assert not accounts.check_rate("k", 0).allowed
    accounts.reset()
    assert accounts.check_rate("k", 0).allowed
