"""The gateway in front of the engine: the profile's auth, headers and ranges, per-key
models, rate limits and credits.

Refusals are `RequestError`s in the profile's shape, raised before any byte is sent.
A credit reservation is taken once the answer's length is known and settled when the
exchange ends, so concurrent exchanges of one key never overspend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mockllm.accounts import Accounts, RateDecision, Reservation, load_keys, mask
from mockllm.profiles import (
    Profile,
    balance_body,
    check_auth,
    check_headers,
    check_params,
    load_profile,
    refuse_key,
)
from mockllm.protocol import Conversation
from mockllm.render import prompt_tokens
from mockllm.state import StateStore

_OPEN = RateDecision(allowed=True)


@dataclass
class Gateway:
    """One profile and its key registry."""

    profile: Profile
    accounts: Accounts

    @classmethod
    def load(cls, profile: str, keys: Path | None, store: StateStore) -> Gateway:
        """Load a profile (built-in name or file) and a keys file (None: open mode)."""
        return cls(load_profile(profile), Accounts(load_keys(keys) if keys else None, store))

    def authenticate(self, headers: Mapping[str, str]) -> str | None:
        """The key sent, once the profile and the registry accept it and required headers
        are there; else RequestError (401/400)."""
        key = check_auth(self.profile, headers)
        if self.accounts.authenticate(key) is None:
            raise refuse_key(self.profile, key)
        check_headers(self.profile, headers)
        return key

    def admit(
        self, request: Conversation, key: str | None, *, params_checked: bool = False
    ) -> RateDecision:
        """Check ranges (unless this request already passed them here), the key's models
        and its rate limits; count the request."""
        if not params_checked:
            check_params(self.profile, request.body)
        if self.accounts.is_open:
            return _OPEN
        if not self.accounts.model_allowed(key, request.model):
            raise self.profile.error("model_forbidden", model=request.model)
        asked = request.max_tokens if request.max_tokens_given else None
        estimate = prompt_tokens(request) + (asked or 0)
        decision = self.accounts.check_rate(key, estimate)
        if not decision.allowed:
            raise self.profile.error(
                "rate_limited", headers=decision.headers, model=request.model, **decision.fields()
            )
        return decision

    def reserve(
        self, key: str | None, model: str, prompt: int, completion: int
    ) -> Reservation | None:
        """Hold the exchange's cost; the profile's out-of-credits refusal when the balance
        cannot cover the prompt. `completion_tokens` of the result may be lower than asked:
        the answer must stop there. None in open mode: nothing to hold."""
        if self.accounts.is_open:
            return None
        reservation = self.accounts.reserve(key, model, prompt, completion)
        if reservation is None:
            balance = self.accounts.balance(key)
            raise self.profile.error("out_of_credits", model=model, balance=float(balance or 0))
        return reservation

    def settle(self, reservation: Reservation, completion: int) -> None:
        self.accounts.settle(reservation, completion)

    def balance(self, headers: Mapping[str, str]) -> dict[str, object]:
        """The balance endpoint's body for the key in the headers."""
        key = self.authenticate(headers)
        spec = self.accounts.authenticate(key)
        granted = spec.credits if spec is not None else None
        return balance_body(self.profile, self.accounts.balance(key), granted)

    def masked(self, key: str | None) -> str:
        return mask(key) if key else "-"
