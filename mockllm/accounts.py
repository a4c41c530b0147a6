"""API keys, credit balances and rate-limit buckets, kept in a StateStore.

Without a keys file every key is accepted and nothing is limited (open mode). With one,
each key has an optional starting balance (`credits`), optional `rpm`/`tpm` token
buckets and optional allowed `models` (globs); `prices` say what 1K tokens cost.

Money is exact: balances and prices are `fractions.Fraction` (a price written 0.15 is
3/20, not the nearest binary float), so `prompt × price / 1000` never rounds and the
ledger adds up to the last digit; convert with `float()` only for JSON. Fraction rather
than Decimal because `reserve` divides (the completion tokens a balance pays for), and
Decimal division rounds at its context precision, which could flip the floor of an exact
integer.

Concurrency: `reserve` holds, in one atomic store call, what the prompt and the allowed
completion tokens can cost, so streams in flight together (in any number of processes
sharing a store) can never spend more than the balance; `settle` gives back what the
completion did not use. The store counts in whole units: `scale` units make one credit,
chosen so that every balance and every price per token is a whole number of units (no
store rounds, and Redis's Lua, whose numbers are doubles, stays exact below 2**53).
Store layout: `credits:<digest>:<credits>@<scale>` (the balance and its holds) and
`rate:<digest>:<rpm>/<tpm>` (the buckets), the digest a SHA-256 of the key (never the key
itself); unset means "as in the keys file" (full balance, full buckets), so a reset only
deletes. The figures in the name make a key whose figures changed in the keys file start
again from them, in every process and replica as each reloads the file, without a reset
that would forgive what other keys (or other replicas) spent meanwhile.
A hold that outlives a reset is forgiven with everything else: its release finds nothing.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from mockllm import schema as s
from mockllm.errors import Problem, ProfileError, ScenarioError
from mockllm.loader import parse_document
from mockllm.state import Hold, StateStore

WINDOW_S = 60.0  # rpm/tpm are per minute: a bucket refills its whole capacity in 60 s
HOLD_TTL_S = 3600.0  # a hold its process never released (it died) is given back then
EXACT_LIMIT = 2**53  # the largest balance, in units, every store keeps exactly
_ZERO = Fraction(0)
_THOUSAND = 1000

_NUMBER = s.Num(min=0)
FORMAT = s.Obj(
    {
        "keys": s.ListOf(
            s.Obj(
                {
                    "key": s.Str(doc="the API key as clients send it"),
                    "credits": s.Num(min=0, doc="starting balance (default: unlimited)"),
                    "rpm": s.Num(min=1, integer=True, doc="requests per minute"),
                    "tpm": s.Num(min=1, integer=True, doc="tokens per minute"),
                    "models": s.ListOf(s.Str(), doc="allowed models, globs (default: all)"),
                    "alias": s.Str(doc="the key's name in metrics (default: the key masked)"),
                },
                required=("key",),
            ),
            doc="the keys accepted; any other key is refused",
        ),
        "prices": s.MapOf(
            s.Obj(
                {
                    "prompt": s.Num(min=0, doc="credits per 1K prompt tokens (default 0)"),
                    "completion": s.Num(min=0, doc="credits per 1K completion tokens (default 0)"),
                },
            ),
            doc='model id or glob to price; "*" is the fallback',
        ),
    },
    required=("keys",),
)


def keys_schema() -> dict[str, Any]:
    """The JSON Schema of keys files."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mockllm keys",
        **s.to_json_schema(FORMAT),
    }


def mask(key: str | None) -> str:
    """A key as it may appear in logs and messages: `ak_live_123` → `ak_l…123`."""
    if not key:
        return "<none>"
    if len(key) <= 8:
        return key[:2] + "…"
    return f"{key[:4]}…{key[-3:]}"


def _exact(value: float | int) -> Fraction:
    # str() first: a YAML 0.15 means 15/100, not the binary float nearest to it.
    return Fraction(str(value))


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One key of the keys file. None means unlimited (credits, rpm, tpm) or all (models)."""

    key: str
    credits: Fraction | None = None
    rpm: int | None = None
    tpm: int | None = None
    models: tuple[str, ...] | None = None
    line: int | None = None
    alias: str | None = None  # how metrics name the key; never the key itself


OPEN = KeySpec(key="")  # what `authenticate` answers in open mode: no limits at all


@dataclass(frozen=True, slots=True)
class Price:
    """Credits per 1K tokens for the models the pattern matches."""

    pattern: str
    prompt: Fraction
    completion: Fraction

    @property
    def is_glob(self) -> bool:
        return any(c in self.pattern for c in "*?[")


@dataclass(frozen=True, slots=True)
class Keys:
    """A validated keys file."""

    keys: tuple[KeySpec, ...]
    prices: tuple[Price, ...] = ()
    source: str = "<keys>"


def keys_text(text: str, source: str = "<keys>") -> Keys:
    """Keys from YAML text; raise ProfileError listing every problem with file:line: field."""
    try:
        data, lines = parse_document(text, source)
    except ScenarioError as exc:
        raise ProfileError(list(exc.problems)) from None
    if not isinstance(data, dict):
        found = "an empty document" if data is None else "not a mapping"
        raise ProfileError(
            [Problem(source, 1, "", f"expected a mapping with 'keys', found {found}")]
        )
    problems = lines.problems + [
        Problem(source, lines.line(path), s.dotted(path), message)
        for path, message in s.check(FORMAT, data)
    ]
    if problems:
        raise ProfileError(problems)
    specs: list[KeySpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data["keys"]):
        key = item["key"]
        line = lines.line(("keys", i, "key"))
        if not key.strip() or key != key.strip() or any(c.isspace() for c in key):
            problems.append(
                Problem(
                    source, line, f"keys[{i}].key", "a key must be non-empty and contain no spaces"
                )
            )
        elif key in seen:
            problems.append(
                Problem(source, line, f"keys[{i}].key", f"duplicate key (also keys[{seen[key]}])")
            )
        seen.setdefault(key, i)
        specs.append(
            KeySpec(
                key=key,
                credits=_exact(item["credits"]) if "credits" in item else None,
                rpm=item.get("rpm"),
                tpm=item.get("tpm"),
                models=tuple(item["models"]) if "models" in item else None,
                line=lines.line(("keys", i)),
                alias=item.get("alias"),
            )
        )
    if problems:
        raise ProfileError(problems)
    prices = tuple(
        Price(str(pattern), _exact(p.get("prompt", 0)), _exact(p.get("completion", 0)))
        for pattern, p in (data.get("prices") or {}).items()
    )
    return Keys(tuple(specs), prices, source)


def load_keys(path: str | Path) -> Keys:
    """Keys from a keys file; raise ProfileError listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError([Problem(source, None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([Problem(source, None, "", f"cannot read: {exc}")]) from None
    return keys_text(text, source)


def _slot(kind: str, key: str, figures: str) -> str:
    """The store's name for a key's balance or buckets at the keys file's `figures`: a
    digest of the key, never the key itself (a shared store's names reach its disk and
    anyone who can list them)."""
    return f"{kind}:{hashlib.sha256(key.encode()).hexdigest()[:32]}:{figures}"


@functools.lru_cache(maxsize=4096)
def _credits_slot(key: str, credits: Fraction | None, scale: int) -> str:
    # The scale too: units counted at another scale are not this balance's.
    return _slot("credits", key, f"{credits}@{scale}")


@functools.lru_cache(maxsize=4096)
def _rate_slot(key: str, caps: tuple[float, float]) -> str:
    return _slot("rate", key, f"{caps[0]:g}/{caps[1]:g}")


def _matches(pattern: str, model: str) -> bool:
    """A model glob against the id, and against its part after `provider/`."""
    if fnmatch.fnmatchcase(model, pattern):
        return True
    _, slash, name = model.partition("/")
    return bool(slash) and fnmatch.fnmatchcase(name, pattern)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether a request fits the key's buckets, and the headers that say so."""

    allowed: bool
    retry_after_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    limit_name: str | None = None  # "requests" or "tokens": the limit that refused
    limit: int = 0
    used: int = 0
    requested: int = 0
    too_large: bool = False  # larger than the whole tpm: it never fits, waiting or not

    def fields(self) -> dict[str, object]:
        """Template fields of the profile's rate_limited or request_too_large error (add
        `model`)."""
        return {
            "limit_name": self.limit_name or "requests",
            "unit": "TPM" if self.limit_name == "tokens" else "RPM",
            "limit": self.limit,
            "used": self.used,
            "requested": self.requested,
            "retry_after": format_duration(self.retry_after_s),
        }


ALLOWED = RateDecision(True)


def format_duration(seconds: float) -> str:
    """OpenAI's reset duration: `20ms`, `1s`, `8.64s`, `6m0s`, `1h0m0s` (rounded up to 1 ms)."""
    ms = math.ceil(seconds * 1000 - 1e-6) if seconds > 0 else 0
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}" + (f".{rest % 1000:03d}".rstrip("0") if rest % 1000 else "")
    out = f"{hours}h" if hours else ""
    out += f"{minutes}m" if hours or minutes else ""
    return f"{out}{secs}s"


@dataclass(frozen=True, slots=True)
class Reservation:
    """Credits held for one exchange until `Accounts.settle`.

    `completion_tokens` is how many completion tokens the exchange may produce (None:
    no limit from the balance); the engine stops the answer there.
    """

    id: int
    key: str
    model: str
    prompt_tokens: int
    completion_tokens: int | None
    held: Fraction  # 0 for keys without a balance
    prompt_price: Fraction  # per token
    completion_price: Fraction  # per token
    hold: Hold | None = None  # None: nothing held in the store


@dataclass(frozen=True, slots=True)
class Charge:
    """What an exchange cost. `balance_after` is None for keys without a balance, and when
    the store did not say (a hold a reset forgave; a shared store releases without waiting)."""

    amount: Fraction
    balance_after: Fraction | None
    completion_tokens: int


class Accounts:
    """Keys, balances and buckets of one server, over a StateStore."""

    def __init__(
        self,
        keys: Keys | None,
        store: StateStore,
        clock: Callable[[], float] = time.monotonic,
        frozen: float | None = None,
    ) -> None:
        self.keys = keys
        self.store = store
        self.clock = clock
        # --freeze-time: the buckets' clock stands at this time, in every store, so that
        # nothing refills and the same requests get the same headers (see `check_rate`).
        self.frozen = frozen
        self._by_key = {spec.key: spec for spec in keys.keys} if keys else {}
        prices = keys.prices if keys else ()
        self._exact_prices = {p.pattern: p for p in prices if not p.is_glob}
        self._glob_prices = tuple(p for p in prices if p.is_glob and p.pattern != "*")
        self._fallback = next((p for p in prices if p.pattern == "*"), None)
        self.scale = _scale(keys) if keys else 1
        self._lock = threading.Lock()
        self._next_id = 0
        self._open: set[int] = set()

    @property
    def is_open(self) -> bool:
        """Whether every key is accepted (no keys file)."""
        return self.keys is None

    # --- keys -----------------------------------------------------------------------

    def authenticate(self, key: str | None) -> KeySpec | None:
        """The key's spec; `OPEN` in open mode; None when the key is missing or unknown."""
        if self.keys is None:
            return OPEN
        return self._by_key.get(key) if key else None

    def _spec(self, key: str | None) -> KeySpec | None:
        return OPEN if self.keys is None else self._by_key.get(key or "")

    def alias(self, key: str | None) -> str:
        """How metrics name a key: its `alias` from the keys file, else the key masked."""
        spec = self._by_key.get(key or "")
        if spec is not None and spec.alias:
            return spec.alias
        return mask(key)

    def model_allowed(self, key: str | None, model: str, qualified: str | None = None) -> bool:
        """Whether the key may use the model: a glob matches the id as sent, its part after
        `provider/`, or `qualified` (a plain id read as `provider/model` by the profile)."""
        spec = self._spec(key)
        if spec is None:
            return False
        if spec.models is None:
            return True
        ids = (model,) if qualified is None else (model, qualified)
        return any(_matches(pattern, m) for pattern in spec.models for m in ids)

    # --- prices ---------------------------------------------------------------------

    def price(self, model: str) -> tuple[Fraction, Fraction]:
        """(prompt, completion) credits per 1K tokens: exact id, then globs in file order,
        then "*", else free. A `provider/model` id also tries its part after the slash."""
        _, slash, name = model.partition("/")
        found = self._exact_prices.get(model) or (self._exact_prices.get(name) if slash else None)
        if found is None:
            found = next((p for p in self._glob_prices if _matches(p.pattern, model)), None)
        if found is None:
            found = self._fallback
        return (found.prompt, found.completion) if found else (_ZERO, _ZERO)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> Fraction:
        """The exact cost of an exchange."""
        prompt, completion = self.price(model)
        return (prompt_tokens * prompt + completion_tokens * completion) / _THOUSAND

    # --- credits --------------------------------------------------------------------

    def balance(self, key: str | None) -> Fraction | None:
        """What is left (exactly); None when the key has no balance limit or is unknown."""
        spec = self._spec(key)
        if spec is None or spec.credits is None:
            return None
        units = self.store.balance(self._credits(spec), int(spec.credits * self.scale))
        return Fraction(units, self.scale)

    def reserve(
        self, key: str | None, model: str, prompt_tokens: int, max_completion_tokens: int | None
    ) -> Reservation | None:
        """Hold the prompt's cost and up to `max_completion_tokens` (None: as many as the
        balance pays for); None when the balance cannot cover the prompt (nothing held).

        Pass the number of tokens the answer will have when it is known: holding the whole
        balance for an answer of unknown length blocks concurrent exchanges of the key.
        """
        spec = self._spec(key)
        if spec is None:
            return None
        prompt_price, completion_price = (p / _THOUSAND for p in self.price(model))
        rid = self._new_id()
        if spec.credits is None:
            return Reservation(
                rid,
                spec.key,
                model,
                prompt_tokens,
                max_completion_tokens,
                _ZERO,
                prompt_price,
                completion_price,
            )
        scale = self.scale
        hold = self.store.reserve(
            self._credits(spec),
            int(spec.credits * scale),
            int(prompt_tokens * prompt_price * scale),
            int(completion_price * scale),
            max_completion_tokens,
            HOLD_TTL_S,
        )
        if hold is None:
            self._discard(rid)
            return None
        return Reservation(
            rid,
            spec.key,
            model,
            prompt_tokens,
            hold.units,
            Fraction(hold.held, scale),
            prompt_price,
            completion_price,
            hold,
        )

    def settle(self, reservation: Reservation, completion_tokens: int) -> Charge:
        """Charge the prompt and the completion tokens produced (at most those reserved),
        and give back the rest of the hold. Call once per reservation."""
        with self._lock:
            if reservation.id not in self._open:
                raise ValueError(f"reservation {reservation.id} is already settled")
            self._open.discard(reservation.id)
        tokens = max(0, completion_tokens)
        if reservation.completion_tokens is not None:
            tokens = min(tokens, reservation.completion_tokens)
        amount = (
            reservation.prompt_tokens * reservation.prompt_price
            + tokens * reservation.completion_price
        )
        if reservation.hold is None:
            return Charge(amount, None, tokens)
        after = self.store.release(reservation.hold, int(amount * self.scale))
        return Charge(amount, Fraction(after, self.scale) if after is not None else None, tokens)

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            self._open.add(self._next_id)
            return self._next_id

    def _discard(self, rid: int) -> None:
        with self._lock:
            self._open.discard(rid)

    # --- rate limits ----------------------------------------------------------------

    def check_rate(self, key: str | None, estimated_tokens: int) -> RateDecision:
        """Take one request and `estimated_tokens` from the key's buckets, or refuse.

        Buckets hold `rpm` requests and `tpm` tokens and refill their capacity every 60 s.
        The headers are OpenAI's x-ratelimit-* (remaining = left after this request); a
        refusal adds Retry-After, except for a request larger than the whole tpm, which
        never fits (`too_large`). On a frozen clock no time passes between requests: the
        buckets only count down (a reset fills them), and the headers depend on the
        requests alone.
        """
        spec = self._spec(key)
        if spec is None or (spec.rpm is None and spec.tpm is None):
            return ALLOWED
        cap_r, cap_t = float(spec.rpm or 0), float(spec.tpm or 0)
        need_t = float(max(0, estimated_tokens)) if spec.tpm else 0.0
        need_r = 1.0 if spec.rpm else 0.0
        ok, (level_r, level_t) = self._take(spec.key, (cap_r, cap_t), (need_r, need_t))
        headers: list[tuple[str, str]] = []
        for name, cap, level in (("requests", spec.rpm, level_r), ("tokens", spec.tpm, level_t)):
            if cap:
                headers += [
                    (f"x-ratelimit-limit-{name}", str(cap)),
                    (f"x-ratelimit-remaining-{name}", str(max(0, math.floor(level)))),
                    (f"x-ratelimit-reset-{name}", format_duration((cap - level) * WINDOW_S / cap)),
                ]
        if ok:
            return RateDecision(True, 0.0, tuple(headers))
        if spec.tpm and need_t > spec.tpm:
            # It can never fit: refused as too large, without a Retry-After to wait for.
            used = spec.tpm - max(0, math.floor(level_t))
            return RateDecision(
                False, 0.0, tuple(headers), "tokens", spec.tpm, used, int(need_t), too_large=True
            )
        waits: list[tuple[float, str, int, float, float]] = []
        if spec.rpm and level_r < 1:
            waits.append(((1 - level_r) * WINDOW_S / spec.rpm, "requests", spec.rpm, level_r, 1))
        if spec.tpm and level_t < need_t:
            waits.append(
                ((need_t - level_t) * WINDOW_S / spec.tpm, "tokens", spec.tpm, level_t, need_t)
            )
        wait, name, cap, level, requested = max(waits)
        wait = max(wait, 0.001)
        headers.insert(0, ("retry-after", str(max(1, math.ceil(wait)))))
        return RateDecision(
            False,
            wait,
            tuple(headers),
            name,
            cap,
            cap - max(0, math.floor(level)),
            int(requested),
        )

    def levels(self, key: str | None) -> dict[str, float]:
        """What the key's buckets hold now (refilled to this moment, nothing taken):
        `requests` and `tokens`, for those of its limits that are set."""
        spec = self._spec(key)
        if spec is None or (spec.rpm is None and spec.tpm is None):
            return {}
        caps = (float(spec.rpm or 0), float(spec.tpm or 0))
        _, (requests, tokens) = self._take(spec.key, caps, (0.0, 0.0))
        out = {}
        if spec.rpm:
            out["requests"] = requests
        if spec.tpm:
            out["tokens"] = tokens
        return out

    def _take(
        self, key: str, caps: tuple[float, float], need: tuple[float, float]
    ) -> tuple[bool, tuple[float, ...]]:
        slot = _rate_slot(key, caps)
        if self.frozen is not None:
            return self.store.take(slot, caps, need, WINDOW_S, self.frozen, True)
        return self.store.take(slot, caps, need, WINDOW_S, self.clock())

    def _credits(self, spec: KeySpec) -> str:
        return _credits_slot(spec.key, spec.credits, self.scale)

    # --- reset ----------------------------------------------------------------------

    def reset(self) -> None:
        """Balances back to the keys file's figures, buckets full (the whole store's reset
        does this, and more)."""
        self.store.reset()


def _scale(keys: Keys) -> int:
    """Units per credit at which every balance and price per token is whole; ProfileError
    when a balance would not be exact in every store at that scale."""
    parts = [spec.credits for spec in keys.keys if spec.credits is not None]
    parts += [p.prompt / _THOUSAND for p in keys.prices]
    parts += [p.completion / _THOUSAND for p in keys.prices]
    scale = math.lcm(1, *(part.denominator for part in parts))
    for spec in keys.keys:
        if spec.credits is not None and spec.credits * scale >= EXACT_LIMIT:
            raise ProfileError(
                [
                    Problem(
                        keys.source,
                        spec.line,
                        "credits",
                        f"{float(spec.credits):g} credits at the prices' precision (1/{scale} "
                        "credit) are too many digits to keep exactly; use fewer decimal "
                        "places in prices and credits, or a smaller balance",
                    )
                ]
            )
    return scale
