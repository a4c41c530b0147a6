"""The inspector's views, as JSON: an exchange's row, its whole story (request, answer,
headers, timing, why no rule answered it) and the server's state (rules, sequences, keys,
profile, cassettes).

Everything here runs when a page asks, never while a request is answered; it reads the
references an exchange keeps (`journal.Exchange`) and never a key: keys appear as their
alias (`accounts.mask`), secret headers masked.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from mockllm.accounts import mask
from mockllm.engine import Answer, Failure, Replayed
from mockllm.journal import viewable
from mockllm.matchers import check_condition
from mockllm.profiles import AUTH_HEADERS
from mockllm.selector import key_digest, near_misses
from mockllm.to_rule import no_rule_answers, why_no_rule
from mockllm.wire import Body

if TYPE_CHECKING:
    from mockllm.endpoint import Services
    from mockllm.journal import Exchange
    from mockllm.rules import Rule

JSON = dict[str, Any]
PREVIEW_CHARS = 160  # of the last user message, in a row
EVENTS_SHOWN = 2000  # of a stream, in one exchange's view
TEXT_SHOWN = 256 * 1024  # of a whole answer, in one exchange's view
NEAR_MISSES = 5
# Why an exchange another process answered cannot become a rule here (GET
# /__admin/requests/{id}/rule answers 409).
ELSEWHERE = "another process answered it; ask that process (or use its journal entry)"
SECRET_HEADERS = frozenset(
    {*AUTH_HEADERS, "proxy-authorization", "openai-organization", "openai-project"}
    | {"cookie", "set-cookie", "x-mockllm-admin-token"}
)
# Headers of other services a client may send along (Gemini's x-goog-api-key, Helicone-Auth,
# x-portkey-api-key, Ocp-Apim-Subscription-Key, ...): a name with one of these words holds a
# secret too. Whole words: x-ratelimit-remaining-tokens is a count, not a token.
SECRET_WORDS = frozenset(
    {"key", "apikey", "auth", "authorization", "token", "secret", "password", "credential"}
    | {"credentials", "cookie"}
)
THIS_PROCESS_ONLY = (
    "This page shows this process only: its journal, sequences, balances and buckets. "
    "Other processes (--workers) keep their own; share state to see them all here."
)


class Inspector:
    """Views over one server's engine and gateway (`services`, whose gateway tests swap)."""

    def __init__(
        self,
        services: Services,
        recent: Callable[[str], Exchange | None] = lambda _: None,
        is_live: Callable[[Exchange], bool] = lambda _: False,
    ) -> None:
        self.services = services
        self.recent = recent  # exchanges the feed saw while a page was open
        self.is_live = is_live  # in flight, as the feed saw it
        self._by_ref: tuple[tuple[Rule, ...], dict[str, Rule]] = ((), {})
        # A page open during a load test gets a thousand rows a second: what a row says of
        # its rule and its key is worked out once per rule and key, not once per row.
        self._rule_cells: dict[int, tuple[Rule, str, str, int | None]] = {}
        self._aliases: dict[str, str] = {}

    @property
    def shared(self) -> bool:
        return bool(getattr(self.services.engine.store, "is_shared", False))

    def hello(self) -> JSON:
        """What a page needs first: which process this is and whether it sees the others."""
        from mockllm import __version__

        engine = self.services.engine
        return {
            "version": __version__,
            "pid": os.getpid(),
            "process": getattr(engine.store, "process_number", 0),
            "shared": self.shared,
            "note": None if self.shared else THIS_PROCESS_ONLY,
            "journal_size": engine.config.journal_size,
            "strict": engine.config.strict,
        }

    # --- rows ---------------------------------------------------------------------------

    def row(self, entry: Exchange | JSON) -> JSON:
        """One line of the exchange table."""
        if isinstance(entry, dict):
            return self._json_row(entry)
        e = entry
        ttft, measured = _ttft(e)
        conversation = e.conversation
        key = conversation.api_key if conversation is not None else _key_in(e.headers)
        rule = self._rule_of(e)
        if rule is not None and e.source == "rule":
            by, file, line = self._cells_of(rule)
        else:
            by, file, line = _answered_by(e.source, e.rule, None), None, None
        return {
            "id": e.id,
            "t": e.started,
            "api": e.api,
            "method": e.method,
            "path": e.path,
            "model": _model_sent(e.model, e.request),
            "key": self._alias(key) if key else None,
            "stream": e.stream,
            "status": e.status,
            "source": e.source,
            "rule": e.rule,
            "by": by,
            "file": file,
            "line": line,
            "ttft_ms": ttft,
            "ttft_measured": measured,
            "duration_ms": round(e.duration_ms, 1),
            # An exchange added before a page was open is taken as done: when it was not,
            # its end is heard all the same, and its row sent again.
            "done": not self.is_live(e),
            "faults": list(e.faults),
            "error": e.error,
            "prompt": _preview(conversation.last_user if conversation else None, e.request),
            "here": True,
        }

    def update(self, e: Exchange) -> JSON:
        """What changes in a row when its exchange ends (the page has the rest)."""
        ttft, measured = _ttft(e)
        return {
            "id": e.id,
            "part": True,
            "status": e.status,
            "ttft_ms": ttft,
            "ttft_measured": measured,
            "duration_ms": round(e.duration_ms, 1),
            "done": True,
            "error": e.error,
        }

    def _cells_of(self, rule: Rule) -> tuple[str, str, int | None]:
        found = self._rule_cells.get(id(rule))
        if found is None or found[0] is not rule:
            if len(self._rule_cells) > 4096:
                self._rule_cells.clear()
            found = (rule, _answered_by("rule", rule.ref, rule), rule.file, rule.line)
            self._rule_cells[id(rule)] = found
        return found[1], found[2], found[3]

    def _alias(self, key: str) -> str:
        alias = self._aliases.get(key)
        if alias is None:
            if len(self._aliases) > 4096:
                self._aliases.clear()
            alias = self._aliases[key] = mask(key)
        return alias

    def _json_row(self, entry: JSON) -> JSON:
        """A row from a journal entry as JSON (one another process answered)."""
        ref = entry.get("rule")
        rule = self._rule_by_ref(ref) if entry.get("source") == "rule" else None
        duration = float(entry.get("duration_ms") or 0.0)
        return {
            "id": entry.get("id"),
            "t": entry.get("started"),
            "api": entry.get("api"),
            "method": entry.get("method"),
            "path": entry.get("path"),
            "model": _model_sent(entry.get("model"), entry.get("request")),
            "key": None,
            "stream": bool(entry.get("stream")),
            "status": entry.get("status"),
            "source": entry.get("source"),
            "rule": ref,
            "by": _answered_by(entry.get("source"), ref, rule),
            "file": rule.file if rule is not None else None,
            "line": rule.line if rule is not None else None,
            "ttft_ms": None,
            "ttft_measured": False,
            "duration_ms": round(duration, 1),
            "done": duration > 0,
            "faults": list(entry.get("faults") or ()),
            "error": entry.get("error"),
            "prompt": _preview(None, entry.get("request")),
            "here": False,
        }

    def _rule_of(self, e: Exchange) -> Rule | None:
        rule = getattr(e.outcome, "rule", None)
        if rule is not None:
            return rule  # type: ignore[no-any-return]
        return self._rule_by_ref(e.rule) if e.source == "rule" else None

    def _rule_by_ref(self, ref: str | None) -> Rule | None:
        rules = self.services.engine.rules
        if self._by_ref[0] is not rules:
            self._by_ref = (rules, {r.ref: r for r in rules})
        return self._by_ref[1].get(ref) if ref else None

    # --- one exchange -------------------------------------------------------------------

    def find(self, exchange_id: str) -> Exchange | JSON | None:
        """The exchange (this process's), or its journal entry as JSON (another's)."""
        journal = self.services.engine.journal
        found = journal.find(exchange_id) if journal is not None else None
        if found is None:
            found = self.recent(exchange_id)
        if found is None and journal is not None:
            for entry in journal.entries():
                if isinstance(entry, dict) and entry.get("id") == exchange_id:
                    return entry
        return found

    def detail(self, exchange_id: str) -> JSON | None:
        """The request, the answer, the headers both ways, the timing and the why-not."""
        e = self.find(exchange_id)
        if e is None:
            return None
        if isinstance(e, dict):
            return {
                "row": self._json_row(e),
                "request": {"body": viewable(e.get("request")), "headers": None},
                "answer": {"kind": "elsewhere"},
                "sent_headers": None,
                "timing": None,
                "why_not": {"attempts": e.get("attempts") or []},
                "no_rule": ELSEWHERE,
                "note": "Another process answered this exchange: its answer, headers and "
                "timing stay with that process.",
            }
        engine = self.services.engine
        return {
            "row": self.row(e),
            "request": {"body": viewable(e.request), "headers": masked_headers(e.headers)},
            "answer": _answer(e),
            "sent_headers": masked_headers(_decoded(e.sent_headers)),
            "timing": _timing(e, engine.default_latency, engine.config.replay_speed),
            "why_not": self._why_not(e),
            "usage": {"prompt_tokens": e.prompt_tokens, "completion_tokens": e.completion_tokens},
            "fallbacks": [a for a in e.attempts if "model" in a],
            "no_rule": why_no_rule(e),
            "note": None,
        }

    def _why_not(self, e: Exchange) -> JSON:
        out: JSON = {}
        unanswerable = no_rule_answers(e) if e.conversation is not None else None
        if unanswerable is not None:
            return {"none": unanswerable[0].upper() + unanswerable[1:] + "."}
        outcome = e.outcome
        miss = getattr(outcome, "miss", None)
        if miss is not None:
            nearest = miss.nearest
            out["cassette"] = {
                "cassette": miss.cassette,
                "nearest": f"{nearest.cassette}#{nearest.index}" if nearest else None,
                "diff": list(miss.diff),
                "recorded": nearest.request.json if nearest is not None else None,
            }
        answered_by_rule = e.source == "rule" and outcome is not None
        if e.conversation is not None and not answered_by_rule:
            out["rules"] = [
                self._near(near.rule, e.conversation)
                for near in near_misses(self.services.engine.rules, e.conversation, NEAR_MISSES)
            ]
        return out

    @staticmethod
    def _near(rule: Rule, conversation: Any) -> JSON:
        conditions = []
        for condition in rule.conditions:
            result = check_condition(condition, conversation)
            conditions.append(
                {
                    "key": condition.key,
                    "line": condition.line,
                    "held": result.matched,
                    "why": None if result.matched else result.reason,
                }
            )
        failed = [c for c in conditions if not c["held"]]
        return {
            "rule": rule.ref,
            "name": rule.name,
            "file": rule.file,
            "line": rule.line,
            "conditions": conditions,
            "failed": len(failed),
            "note": None
            if failed
            else "every condition held: its sequence is spent or its probability did not fire",
        }

    # --- state --------------------------------------------------------------------------

    def state(self) -> JSON:
        """Rules and how often each answered, sequences, keys, profile, cassettes."""
        engine, gateway = self.services.engine, self.services.gateway
        entries: list[Any] = []
        if engine.journal is not None:
            entries = engine.journal.kept() or engine.journal.entries()
        answered = Counter(_ref_of(entry) for entry in entries)
        return {
            "process": self.hello(),
            "journal": {"kept": len(entries), "size": engine.config.journal_size},
            "rules": [_rule_json(rule, answered[rule.ref]) for rule in engine.rules],
            "sequences": self._sequences(engine.rules),
            "keys": self._keys(),
            "profile": {
                "name": gateway.profile.name,
                "description": gateway.profile.description,
                "source": gateway.profile.source,
                "chat_paths": list(gateway.profile.chat_paths),
            },
            "cassettes": self._cassettes(),
        }

    def _sequences(self, rules: Iterable[Rule]) -> list[JSON]:
        store = self.services.engine.store
        keys = self.services.gateway.accounts.keys
        # A sequence counted per key is stored under the key's digest: show the key's alias
        # when the keys file has it, else the digest's start.
        aliases = {key_digest(k.key): mask(k.key) for k in keys.keys} if keys is not None else {}
        out = []
        for rule in rules:
            if not rule.is_sequence:
                continue
            prefix = f"sequence:{rule.ref}:"
            counters = store.counters(prefix) or {prefix: 0}
            for name, count in sorted(counters.items()):
                scope = name[len(prefix) :]
                steps = len(rule.replies)
                if count < steps:
                    next_step: int | None = count
                elif rule.then == "cycle":
                    next_step = count % steps
                elif rule.then == "repeat_last":
                    next_step = steps - 1
                else:
                    next_step = None  # fall_through: spent, later rules answer
                out.append(
                    {
                        "rule": rule.ref,
                        "scope": rule.sequence_scope,
                        "of": aliases.get(scope, scope[:12])
                        if rule.sequence_scope == "api_key"
                        else scope,
                        "answered": count,
                        "steps": steps,
                        "next": next_step,
                        "then": rule.then,
                    }
                )
        return out

    def _keys(self) -> JSON:
        accounts = self.services.gateway.accounts
        if accounts.keys is None:
            return {"open": True, "keys": []}
        keys = []
        for spec in accounts.keys.keys:
            balance = accounts.balance(spec.key)
            keys.append(
                {
                    "key": mask(spec.key),
                    "line": spec.line,
                    "credits": float(spec.credits) if spec.credits is not None else None,
                    "balance": float(balance) if balance is not None else None,
                    "rpm": spec.rpm,
                    "tpm": spec.tpm,
                    "left": {k: round(v, 2) for k, v in accounts.levels(spec.key).items()},
                    "models": list(spec.models) if spec.models is not None else None,
                }
            )
        return {"open": False, "source": accounts.keys.source, "keys": keys}

    def _cassettes(self) -> JSON:
        engine = self.services.engine
        config = engine.config
        library = engine.library
        return {
            "folder": str(config.cassettes) if config.cassettes is not None else None,
            "chosen": engine.cassette or config.cassette,
            "record_mode": engine.record_mode or config.record_mode,
            "upstream": _without_userinfo(config.upstream),
            "on_miss": config.cassette_miss,
            "replay_speed": config.replay_speed,
            "loaded": library.counts() if library is not None else {},
        }


# --- helpers -------------------------------------------------------------------------------


def masked_headers(headers: Mapping[str, str] | None) -> list[list[str]] | None:
    """Headers as [name, value] pairs, secrets masked as the logs name keys."""
    if headers is None:
        return None
    out = []
    for name, value in headers.items():
        lower = name.lower()
        if _is_secret(lower):
            scheme, space, token = value.partition(" ")
            if space and scheme.lower() in ("bearer", "basic"):
                value = f"{scheme} {mask(token.strip())}"
            else:
                value = mask(value.strip())
        out.append([lower, value])
    return out


def _is_secret(name: str) -> bool:
    if name in SECRET_HEADERS:
        return True
    words = name.replace("_", "-").split("-")
    return any(word in SECRET_WORDS for word in words) and not name.startswith("idempotency")


def _decoded(headers: list[tuple[bytes, bytes]] | None) -> dict[str, str] | None:
    if headers is None:
        return None
    return {k.decode("latin-1"): v.decode("utf-8", "replace") for k, v in headers}


def _key_in(headers: Mapping[str, str] | None) -> str | None:
    """The key a refused request sent (it was refused before it was read)."""
    if not headers:
        return None
    for name in AUTH_HEADERS:
        value = (headers.get(name) or "").strip()
        if name == "authorization":
            value = value.partition(" ")[2].strip()
        if value:
            return value
    return None


def _model_sent(model: str | None, request: Any) -> str | None:
    """The model as sent: a request refused while it was read (400: no messages, a wrong
    type) has none parsed, but its body may name one."""
    if model is None and isinstance(request, dict):
        sent = request.get("model")
        return sent if isinstance(sent, str) else None
    return model


def _preview(last_user: str | None, request: Any) -> str | None:
    text = last_user
    if not text and isinstance(request, dict):
        messages = request.get("messages") or request.get("input")
        if isinstance(messages, str):
            text = messages
        elif isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            content = messages[-1].get("content")
            text = content if isinstance(content, str) else None
    if not text:
        return None
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _answered_by(source: str | None, ref: str | None, rule: Rule | None) -> str:
    if source == "rule":
        if rule is not None:
            return f"{rule.name} ({rule.file.rsplit('/', 1)[-1]}:{rule.line})"
        return ref or "rule"
    if source == "cassette":
        return ref or "cassette"
    if source == "upstream":
        return f"recording → {(ref or '').removesuffix(' (recording)')}"
    known = {
        "default": "generator",
        "miss": "miss",
        "error": "refused",
        "capacity": "capacity",  # refused: a latency model's queue was full
        "direct": "the request alone",  # e.g. count_tokens: no rule, engine or limit
        "route": "route",  # a path that is not a family's POST (GET /v1/models, …)
    }
    return known.get(source or "", "…")


def _ref_of(entry: Any) -> str | None:
    return entry.get("rule") if isinstance(entry, dict) else entry.rule


def _ttft(e: Exchange) -> tuple[float | None, bool]:
    body = e.answer
    if not e.stream or not isinstance(body, Body) or not body.events:
        return None, False
    if e.ticks:
        return round(e.ticks[0][0] * 1000, 1), True
    return (round(body.offsets[0] * 1000, 1) if body.offsets else None), False


def _text(data: bytes, limit: int = TEXT_SHOWN) -> str:
    return data[:limit].decode("utf-8", "replace")


def _answer(e: Exchange) -> JSON:
    body = e.answer
    if body is None:
        note = "Not kept: the journal keeps answers up to 128 KiB."
        if e.source == "upstream":
            note = "Relayed from the upstream while recording: the cassette holds the answer."
        elif e.status == 0:
            note = "The connection was reset or left hanging: nothing was sent."
        return {"kind": "none", "note": note}
    if isinstance(body, bytes):
        return {"kind": "whole", "status": e.status, "content_type": "application/json",
                "text": _text(body), "bytes": len(body)}  # fmt: skip
    content_type = body.content_type.decode("latin-1")
    if body.events and not body.body:
        sent = _sent_offsets(e, len(body.events))
        events = [
            {
                "text": _text(event),
                "due_ms": round(body.offsets[i] * 1000, 1) if i < len(body.offsets) else None,
                "sent_ms": round(at * 1000, 1) if at is not None else None,
            }
            for i, (event, at) in enumerate(zip(body.events[:EVENTS_SHOWN], sent, strict=False))
        ]
        return {
            "kind": "stream",
            "status": body.status,
            "content_type": content_type,
            "events": events,
            "count": len(body.events),
            "cut_after": body.abort_after,
        }
    return {
        "kind": "whole",
        "status": body.status,
        "content_type": content_type,
        "text": _text(body.body),
        "bytes": len(body.body),
        "cut_after": body.abort_after,
    }


def _sent_offsets(e: Exchange, count: int) -> list[float | None]:
    """When each event left, from the writes the writer noted (None: not noted, or never
    sent). A drip fault writes slices of the body, not events: no per-event times then."""
    sent: list[float | None] = [None] * count
    if not e.ticks or any(f.startswith("drip") for f in e.faults):
        return sent
    start = 0
    for offset, end in e.ticks:
        for i in range(start, min(end, count)):
            sent[i] = offset
        start = max(start, end)
    return sent


def _timing(e: Exchange, default_latency: Any, replay_speed: float) -> JSON | None:
    body = e.answer
    if not isinstance(body, Body):
        return None
    count = len(body.events) if body.events and not body.body else 1
    sent = _sent_offsets(e, count)
    outcome = e.outcome
    pace: JSON = {}
    if isinstance(outcome, Answer):
        latency = outcome.reply.latency.over(default_latency)
        pace = {
            "ttft_ms": latency.ttft_ms or 0.0,
            "inter_token_ms": latency.inter_token_ms or 0.0,
            "jitter_ms": latency.jitter_ms or 0.0,
            "from": outcome.rule.ref if outcome.rule is not None else "server defaults",
        }
    elif isinstance(outcome, Failure):
        pace = {"delay_ms": round(outcome.delay_s * 1000, 1)}
    elif isinstance(outcome, Replayed):
        pace = {
            "recorded": outcome.interaction.response.has_timing,
            "replay_speed": replay_speed,
        }
    return {
        "measured": bool(e.ticks),
        "due_ms": [round(o * 1000, 2) for o in body.offsets[:EVENTS_SHOWN]],
        "sent_ms": [round(s * 1000, 2) if s is not None else None for s in sent[:EVENTS_SHOWN]],
        "writes": [[round(o * 1000, 2), n] for o, n in (e.ticks or [])[:EVENTS_SHOWN]],
        "duration_ms": round(e.duration_ms, 1),
        "pace": pace,
        "drip": any(f.startswith("drip") for f in e.faults),
    }


def _rule_json(rule: Rule, answered: int) -> JSON:
    return {
        "ref": rule.ref,
        "name": rule.name,
        "file": rule.file,
        "line": rule.line,
        "priority": rule.priority,
        "runtime": rule.added_at_runtime,
        "sequence": len(rule.replies) if rule.is_sequence else None,
        "conditions": [c.key for c in rule.conditions],
        "probability": rule.probability,
        "answered": answered,
    }


def _without_userinfo(url: str | None) -> str | None:
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"…@{host}"))
