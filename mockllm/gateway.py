"""The gateway in front of the engine: the profile's auth, headers and ranges, per-key
models, rate limits and credits.

Refusals are `RequestError`s in the profile's shape, raised before any byte is sent.
A credit reservation is taken once the answer's length is known and settled when the
exchange ends, so concurrent exchanges of one key never overspend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockllm.accounts import Accounts, Charge, RateDecision, Reservation, load_keys
from mockllm.conversation import Conversation
from mockllm.profiles import (
    ErrorKind,
    Profile,
    balance_body,
    check_auth,
    check_headers,
    check_params,
    load_profile,
    refuse_key,
)
from mockllm.render import prompt_tokens
from mockllm.rules import ErrorSpec, Fault
from mockllm.state import StateStore

if TYPE_CHECKING:
    from mockllm.engine import Answer

_OPEN = RateDecision(allowed=True)


@dataclass
class Gateway:
    """One profile and its key registry."""

    profile: Profile
    accounts: Accounts

    @classmethod
    def load(
        cls, profile: str, keys: Path | None, store: StateStore, frozen: float | None = None
    ) -> Gateway:
        """Load a profile (built-in name or file) and a keys file (None: open mode); the
        rate limits count on a clock frozen at `frozen` (--freeze-time), if given."""
        loaded = load_keys(keys) if keys else None
        return cls(load_profile(profile), Accounts(loaded, store, frozen=frozen))

    def authenticate(
        self,
        headers: Mapping[str, str],
        family_headers: tuple[str, ...] = (),
        required_headers: bool = True,
    ) -> str | None:
        """The key sent, once the profile and the registry accept it and (unless
        `required_headers` is false) the profile's required headers are there; else
        RequestError (401/400).

        `family_headers` are the headers an API family's own clients send the key in
        (`x-api-key` for Anthropic's): accepted on that family's paths besides the
        profile's own."""
        key = next((v.strip() for h in family_headers if (v := headers.get(h, "")).strip()), None)
        if key is None:
            key = check_auth(self.profile, headers)
        if self.accounts.authenticate(key) is None:
            raise refuse_key(self.profile, key)
        if required_headers:
            check_headers(self.profile, headers)
        return key

    def admit(
        self,
        request: Conversation,
        key: str | None,
        *,
        params_checked: bool = False,
        rated: bool = True,
    ) -> RateDecision:
        """Check ranges (unless this request already passed them here), the key's models
        and (unless `rated` is false: a batch's request) its rate limits; count the
        request."""
        if not params_checked:
            check_params(self.profile, request.body)
        if self.accounts.is_open:
            return _OPEN
        if not self.model_allowed(key, request.model, request.headers):
            raise self.profile.error("model_forbidden", model=request.model)
        if not rated:
            return _OPEN
        asked = request.max_tokens if request.max_tokens_given else None
        estimate = prompt_tokens(request) + (asked or 0)
        decision = self.accounts.check_rate(key, estimate)
        if not decision.allowed:
            fields: dict[str, Any] = decision.fields()
            kind: ErrorKind = "request_too_large" if decision.too_large else "rate_limited"
            refusal = self.profile.error(
                kind, headers=decision.headers, model=request.model, **fields
            )
            refusal.reason = "rate_limited"
            raise refusal
        return decision

    def model_allowed(self, key: str | None, model: str, headers: Mapping[str, str]) -> bool:
        """Whether the key's `models` globs allow the model, a plain id being judged as the
        gateway reads it too (`provider/model`, see `Profile.qualified`)."""
        qualified = self.profile.qualified(model, headers.get("x-ai-provider"))
        return self.accounts.model_allowed(key, model, qualified)

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

    def hold(
        self,
        answer: Answer,
        request: Conversation,
        key: str | None,
        cut: Callable[[Answer, Conversation, int], Answer],
    ) -> tuple[Answer, Reservation | None]:
        """Hold the answer's cost; where the balance runs out, the answer is `cut` there
        (finish_reason length), or, for a stream under a profile that says so, broken by
        its out-of-credits error in-band."""
        rendered = answer.rendered
        reservation = self.reserve(
            key, rendered.model, rendered.prompt_tokens, rendered.completion_tokens
        )
        allowed = reservation.completion_tokens if reservation is not None else None
        if allowed is None or allowed >= rendered.completion_tokens:
            return answer, reservation
        shorter = cut(answer, request, max(allowed // max(request.n, 1), 0))
        if request.stream and self.profile.on_exhaustion == "error":
            left = self.accounts.balance(key)
            refusal = self.profile.error(
                "out_of_credits", model=rendered.model, balance=float(left or 0)
            )
            error = ErrorSpec(refusal.status, refusal.type, refusal.code, refusal.message)
            ticks = max((c.ticks for c in shorter.rendered.choices), default=0)
            shorter = replace(shorter, fault=Fault(error_after_tokens=ticks, error=error))
        return shorter, reservation

    def settle(self, reservation: Reservation, completion: int) -> Charge:
        return self.accounts.settle(reservation, completion)

    def balance(self, headers: Mapping[str, str]) -> dict[str, object]:
        """The balance endpoint's body for the key in the headers."""
        key = self.authenticate(headers)
        spec = self.accounts.authenticate(key)
        granted = spec.credits if spec is not None else None
        return balance_body(self.profile, self.accounts.balance(key), granted)
