"""Pick the rule that answers a request: priority, file order, sequences, probability.

Also explains a miss: the rules closest to the request and the conditions each failed.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mockllm.conversation import Conversation, derive_seed
from mockllm.frozen import quick_init
from mockllm.matchers import check_condition
from mockllm.rules import Reply, Rule
from mockllm.state import StateStore

_TWO_64 = float(1 << 64)
_CONTENT = frozenset({"last_user", "any_message", "last_message", "system"})


@quick_init
@dataclass(frozen=True, slots=True)
class Selection:
    rule: Rule
    reply: Reply
    step: int  # position in the rule's sequence (0 for a single reply)
    stable: bool = False  # the same request always selects this: no state was consulted


@dataclass(frozen=True, slots=True)
class NearMiss:
    rule: Rule
    failed: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule.ref, "line": self.rule.line, "failed": list(self.failed)}


def ordered(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """Rules in the order they are tried: higher priority first, then file order."""
    return tuple(sorted(rules, key=lambda r: (-r.priority, r.added_at_runtime is False, r.order)))


def matches(rule: Rule, request: Conversation) -> bool:
    for condition in rule.conditions:
        if not condition.holds(request):
            return False
    return True


@functools.lru_cache(maxsize=4096)
def key_digest(key: str) -> str:
    """How a counter kept per API key names the key: a digest, never the key itself (a
    shared store's names reach its disk and anyone who can list them)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _scope_key(rule: Rule, request: Conversation) -> str:
    if rule.sequence_scope == "api_key":
        return key_digest(request.api_key) if request.api_key else ""
    if rule.sequence_scope == "conversation":
        first = next((m.text for m in request.messages if m.role == "user"), "")
        return str(derive_seed(request.system, first))
    return ""


def select(
    rules: Sequence[Rule], request: Conversation, store: StateStore, seed: int
) -> Selection | None:
    """The first rule (in `ordered` order) that matches and applies, with its reply.
    `rules` may be all of them, or the candidates a `RuleIndex` found for the request."""
    stateless = True  # no sequence was consulted on the way
    for rule in rules:
        if not matches(rule, request):
            continue
        if rule.probability is not None:
            draw = derive_seed(seed, "when", rule.ref, *_retry(request)) / _TWO_64
            if draw >= rule.probability:
                continue  # seeded: the same request skips it again
        if not rule.is_sequence:
            return Selection(rule, rule.replies[0], 0, stateless)
        stateless = False
        name = f"sequence:{rule.ref}:{_scope_key(rule, request)}"
        # A conversation's counter is one of many, new ones without end: kept while used.
        per_conversation = rule.sequence_scope == "conversation"
        step = store.incr_recent(name) if per_conversation else store.incr(name)
        count = len(rule.replies)
        if step < count:
            return Selection(rule, rule.replies[step], step)
        if rule.then == "cycle":
            return Selection(rule, rule.replies[step % count], step % count)
        if rule.then == "repeat_last":
            return Selection(rule, rule.replies[-1], count - 1)
        # fall_through: the sequence is spent; later rules answer
    return None


def _retry(request: Conversation) -> tuple[str, ...]:
    """What sets an SDK's retry of a request apart in a probability draw: the attempt the
    official SDKs number in `x-stainless-retry-count` (openai's and anthropic's
    `_base_client`), so that a retry draws again, as a retry meets the API afresh. A first
    attempt, or a request sent without it, draws as the request alone."""
    count = request.headers.get("x-stainless-retry-count")
    return (count,) if count and count != "0" else ()


def near_misses(rules: Iterable[Rule], request: Conversation, limit: int = 3) -> list[NearMiss]:
    """The rules with the fewest failed conditions, and why each failed."""
    scored = []
    for rule in rules:
        results = [(c.key, check_condition(c, request)) for c in rule.conditions]
        failed = tuple(result.reason for _, result in results if not result.matched)
        said_otherwise = any(key in _CONTENT for key, result in results if not result.matched)
        total = len(rule.conditions)
        held = total - len(failed)
        # Closest first: rules whose conditions on what the messages say held (the request
        # says what they answer, only something else differs), then the smallest share of
        # failed conditions (none, for a rule that matched but did not answer), then the
        # most that held.
        share = len(failed) / total if total else 0.0
        if not failed:
            failed = ("matched, but its sequence is spent or its probability did not fire",)
        scored.append((said_otherwise, share, -held, rule.order, NearMiss(rule, failed)))
    scored.sort(key=lambda item: item[:4])
    return [item[4] for item in scored[:limit]]
