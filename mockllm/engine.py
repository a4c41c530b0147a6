"""Engine.handle(request) → Outcome: which source answers, and with what.

Sources form a chain: rules → default generator (or a miss with `--strict`).
The engine returns data, never HTTP; `routes.py` writes it.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mockllm.cache import Memo
from mockllm.config import RecordMode, ServerConfig
from mockllm.conversation import Conversation, derive_seed
from mockllm.frozen import quick_init
from mockllm.journal import Journal
from mockllm.matchers import is_replay_rule, replays
from mockllm.render import Rendered, render
from mockllm.rule_index import RuleIndex
from mockllm.rules import NO_LATENCY, ErrorSpec, Fault, Latency, Reply, Rule
from mockllm.selector import NearMiss, Selection, near_misses, ordered, select
from mockllm.state import MemoryStore, StateStore
from mockllm.tool_arguments import REQUEST_TIME

if TYPE_CHECKING:
    from mockllm.cassettes import Interaction
    from mockllm.library import CassetteLibrary, Miss

LISTED_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "o3",
    "o3-mini",
    "o4-mini",
    "deepseek-chat",
    "deepseek-reasoner",
    "claude-3-5-sonnet-20241022",
    "claude-3-5-haiku-20241022",
    "qwen-plus",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
)
# Families the default generator answers without configuration.
KNOWN_FAMILIES = (
    "*embed*",
    "bge-*",
    "gte-*",
    "e5-*",
    "gpt-*",
    "chatgpt-*",
    "o1*",
    "o3*",
    "o4*",
    "text-*",
    "davinci*",
    "babbage*",
    "codex-*",
    "computer-use-*",
    "deepseek-*",
    "claude-*",
    "qwen*",
    "qwq-*",
    "glm-*",
    "chatglm*",
    "moonshot-*",
    "kimi-*",
    "gemini-*",
    "gemma*",
    "llama*",
    "meta-llama*",
    "mistral*",
    "mixtral*",
    "codestral*",
    "ministral*",
    "pixtral*",
    "yi-*",
    "baichuan*",
    "ernie-*",
    "doubao-*",
    "hunyuan-*",
    "abab*",
    "minimax-*",
    "step-*",
    "grok-*",
    "command*",
    "phi-*",
    "sonar*",
    "internlm*",
    "spark*",
)
SELECTED_BYTES = 16 << 20  # of request bodies and headers the selection memo holds
RENDER_CACHE_SIZE = 2048
# Case aside: Hugging Face ids, as vLLM serves them, are capitalised (Qwen/Qwen3-0.6B,
# mistralai/Mistral-7B-Instruct-v0.3, microsoft/Phi-4)
_KNOWN = re.compile("|".join(fnmatch.translate(p) for p in KNOWN_FAMILIES), re.IGNORECASE)


@quick_init
@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer: rendered choices, and how to send them."""

    rendered: Rendered
    rule: Rule | None
    fault: Fault | None
    headers: tuple[tuple[str, str], ...]
    reply: Reply
    seed: int
    conversation: Conversation | None = None  # what was rendered: a fallback's model, if one


@quick_init
@dataclass(frozen=True, slots=True)
class Failure:
    """An error answer (scripted, or a refusal), sent after `delay_s`."""

    error: ErrorSpec
    rule: Rule | None = None
    delay_s: float = 0.0
    fault: Fault | None = None
    headers: tuple[tuple[str, str], ...] = ()
    near: tuple[NearMiss, ...] = ()
    source: str = "rule"
    miss: Miss | None = None  # a cassette miss: the nearest interaction and the differences


@dataclass(frozen=True, slots=True)
class Replayed:
    """A recorded interaction to serve."""

    interaction: Interaction
    rule: Rule | None = None
    fault: Fault | None = None
    headers: tuple[tuple[str, str], ...] = ()
    latency: Latency = Latency()  # a replay rule's pace, over the recorded one


@dataclass(frozen=True, slots=True)
class Proxied:
    """Pass the request through to the upstream, recording it into `cassette`."""

    cassette: str
    replace: bool = False  # record mode `all`: the new recording replaces the old
    rule: Rule | None = None
    fault: Fault | None = None
    headers: tuple[tuple[str, str], ...] = ()


Outcome = Answer | Failure | Replayed | Proxied
DEFAULT_REPLY = Reply(is_default=True)  # what the default generator answers from
DEFAULT_CASSETTE = "recorded"


@dataclass
class Engine:
    """The answering logic of one server: rules, state, journal."""

    config: ServerConfig
    rules: tuple[Rule, ...] = ()
    store: StateStore = field(default_factory=MemoryStore)
    journal: Journal | None = None
    default_latency: Latency = NO_LATENCY
    library: CassetteLibrary | None = None
    cassette: str | None = None  # chosen at run time through the admin API
    extra_models: tuple[str, ...] = ()  # the profile's listed models
    record_mode: RecordMode | None = None  # overrides config.record_mode (set per test)
    resets: list[Callable[[], None]] = field(default_factory=list)  # more state to reset

    def __post_init__(self) -> None:
        # Rendered answers by (reply, seed, provider, api): the same request renders the
        # same answer, so repeated requests skip rendering.
        self._rendered: Memo[tuple[int, int, str | None, str, float], Rendered] = Memo(
            RENDER_CACHE_SIZE
        )
        # Selections by request object (requests kept by the parse memo come back as the
        # same object), bounded by the bytes of what they hold (a request's body and
        # headers), so that requests too large to be kept there do not pile up here.
        self._selected: Memo[int, tuple[Conversation, tuple[Rule, ...], Selection]] = Memo(
            RENDER_CACHE_SIZE, SELECTED_BYTES
        )
        self.set_rules(self.rules)
        if self.journal is None:
            self.journal = Journal(self.store, self.config.journal_size)

    def set_rules(self, rules: tuple[Rule, ...]) -> None:
        """Swap the rules atomically (a new tuple; requests in flight keep the old one)."""
        self.rules = ordered(rules)
        # Rules matching `cassette` do not answer: they change how a recording is replayed.
        self._answering = tuple(r for r in self.rules if not is_replay_rule(r))
        self._replaying = tuple(r for r in self.rules if is_replay_rule(r))
        self._index = RuleIndex(self._answering)
        self._rendered.clear()  # ids of replies may be reused once old rules are gone
        patterns = [c.arg for r in self.rules for c in r.conditions if c.key == "model"]
        self._model_patterns = tuple(patterns)
        self._extra_models = tuple(re.compile(fnmatch.translate(m)) for m in self.config.models)

    def now(self) -> float:
        """The server's time: --freeze-time, else the current Unix time."""
        frozen = self.config.freeze_time
        return frozen if frozen is not None else time.time()

    def created(self) -> int:
        return int(self.now())

    def seed_for(self, request: Conversation) -> int:
        return derive_seed(self.config.seed, request.path, request.canonical)

    def idle_replay_rules(self) -> list[str]:
        """The names of rules whose `cassette` condition names no loaded interaction (a name
        not relative to `--cassettes` is the usual slip): they would never apply."""
        if self.library is None:
            return []
        counts = self.library.counts()
        return [
            rule.name
            for rule in self._replaying
            if not any(
                replays(rule, name, index)
                for name, count in counts.items()
                for index in range(count)
            )
        ]

    def is_known_model(self, model: str) -> bool:
        """Whether the default generator answers this model id."""
        name = model.rsplit("/", 1)[-1]
        if _KNOWN.match(name) or _KNOWN.match(model):
            return True
        if any(p.match(model) or p.match(name) for p in self._extra_models):
            return True
        if model in self.extra_models or name in self.extra_models:
            return True
        return any(p.test(model) for p in self._model_patterns)

    def listed_models(self) -> list[str]:
        named = [m for r in self.rules for m in r.models]
        extra = [m for m in self.config.models if not set(m) & set("*?[")]
        return list(dict.fromkeys([*LISTED_MODELS, *self.extra_models, *named, *extra]))

    def reset(self) -> None:
        """Journal, sequences, credits, buckets, cassette replay positions and prefix caches
        to their start.

        Rules are kept, as are rules added at run time."""
        self.store.reset()  # the journal is in the store too
        if self.journal is not None:
            self.journal.was_cleared()
        for reset in self.resets:
            reset()
        if self.library is not None:
            self.library.reset()

    def handle(
        self,
        request: Conversation,
        seed: int | None = None,
        cassette: str | None = None,
        attempts: list[dict[str, Any]] | None = None,
        allowed: Callable[[str], bool] | None = None,
    ) -> Outcome:
        """Answer a parsed request from the first source that can.

        The chain: rules → cassettes → upstream (when recording) → default generator,
        or a miss. With `fallbacks` in the request, a retryable failure (429, 5xx, a
        fault) of one model moves on to the next; `attempts` records each try.
        """
        outcome = self._handle_one(request, seed, cassette)
        listed = False  # whether the current model's try is in `attempts` yet
        for model in request.fallbacks:
            if not _retryable(outcome):
                break
            if attempts is not None and not listed:
                attempts.append(_attempt(request.model, outcome))
                listed = True
            if allowed is not None and not allowed(model):
                if attempts is not None:
                    attempts.append(
                        {
                            "model": model,
                            "status": 403,
                            "rule": None,
                            "faults": [],
                            "skipped": "model not allowed for this key",
                        }
                    )
                continue
            request = request.with_model(model)
            outcome = self._handle_one(request, None, cassette)
            listed = False
        if attempts is not None and request.fallbacks and not listed:
            attempts.append(_attempt(request.model, outcome))
        return outcome

    def _handle_one(self, request: Conversation, seed: int | None, cassette: str | None) -> Outcome:
        if seed is None:
            seed = self.seed_for(request)
        # A request object seen before (routes caches parsed requests) that selected a rule
        # without consulting any state selects it again: skip matching.
        remembered = self._selected.get(id(request))
        if remembered is not None and remembered[0] is request and remembered[1] is self.rules:
            selection: Selection | None = remembered[2]
        else:
            selection = select(self._index.candidates(request), request, self.store, seed)
            if selection is not None and selection.stable:
                held = len(request.canonical) + sum(map(len, request.headers.values()))
                self._selected.put(id(request), (request, self.rules, selection), held)
        if selection is not None:
            return self._from_reply(selection.reply, request, seed, selection.rule, selection.step)
        recorded = self._from_cassettes(
            request, cassette or self.cassette or self.config.cassette, seed
        )
        if recorded is not None:
            return recorded
        if self.config.strict:
            near = tuple(near_misses(self._answering, request))
            return Failure(_miss_error(request, near), near=near, source="miss")
        if not self.is_known_model(request.model):
            return Failure(unknown_model(request.model, request.api), source="error")
        return self._from_reply(DEFAULT_REPLY, request, seed, None, 0)

    def _from_cassettes(
        self, request: Conversation, cassette: str | None, seed: int
    ) -> Outcome | None:
        config = self.config
        mode = self.record_mode or config.record_mode
        recording = config.upstream is not None
        if recording and mode == "all":
            return Proxied(cassette or DEFAULT_CASSETTE, replace=True)
        if self.library is None:
            return None
        if not recording and not self.library.has_calls():
            return None  # no LLM API call recorded: nothing to replay, the generator answers
        from mockllm.cassettes import Interaction, should_record

        found = self.library.find("POST", request.path, request.raw_json, cassette)
        if isinstance(found, Interaction):
            return self._replayed(found, request, seed)
        name = cassette or DEFAULT_CASSETTE
        if recording and should_record(mode, self.library.existed(name), matched=False):
            return Proxied(name)
        if config.cassette_miss == "fallthrough":
            return None
        return Failure(_cassette_miss(found), source="miss", miss=found)

    def route_from_cassettes(
        self, method: str, path: str, query: str, body: bytes, cassette: str | None
    ) -> Replayed | Proxied | None:
        """A route call (``GET /v1/models``, a stored response, a token count) answered from
        a cassette, or passed through to the upstream while recording (as the record mode
        says); None when the server's own route answers it."""
        mode = self.record_mode or self.config.record_mode
        recording = self.config.upstream is not None
        cassette = cassette or self.cassette or self.config.cassette
        if recording and mode == "all":
            return Proxied(cassette or DEFAULT_CASSETTE, replace=True)
        if self.library is None:
            return None
        from mockllm.cassettes import Interaction, should_record

        found = self.library.find_route(method, path, query, body, cassette)
        if isinstance(found, Interaction):
            return Replayed(found)
        name = cassette or DEFAULT_CASSETTE
        if recording and should_record(mode, self.library.existed(name), matched=False):
            return Proxied(name)
        return None

    def _replayed(self, found: Interaction, request: Conversation, seed: int) -> Replayed:
        """The recorded interaction, with the fault and pace of a replay rule matching it."""
        rules = tuple(r for r in self._replaying if replays(r, found.cassette, found.index))
        selection = select(rules, request, self.store, seed) if rules else None
        if selection is None:
            return Replayed(found)
        reply = selection.reply
        return Replayed(found, selection.rule, reply.fault, latency=reply.latency)

    def _from_reply(
        self, reply: Reply, request: Conversation, seed: int, rule: Rule | None, step: int
    ) -> Outcome:
        if rule is not None and rule.is_sequence:
            seed = derive_seed(seed, rule.ref, step)
        latency = reply.latency.over(self.default_latency)
        if reply.error is not None:
            delay = (latency.ttft_ms or 0.0) / 1000
            return Failure(reply.error, rule, delay, reply.fault, reply.headers)
        # A generated answer counts "tomorrow" from the request's time: the minute it is in
        # keys what is kept (unless --freeze-time stops the clock). A rule's answer does not
        # depend on the clock: its key and a kept answer's way need no time.
        default = reply.is_default
        now = self.now() if default else 0.0
        key = (id(reply), seed, request.provider, request.api, now // 60)
        rendered = self._rendered.get(key)
        if rendered is None:
            REQUEST_TIME.set(now if default else self.now())
            rendered = render(reply, request, seed, self.default_latency, self.config.locale)
            self._rendered.put(key, rendered)
        return Answer(rendered, rule, reply.fault, reply.headers, reply, seed, request)

    def cut(self, answer: Answer, request: Conversation, limit: int) -> Answer:
        """The same answer stopped after `limit` completion tokens (finish_reason length).

        It is rendered again for the conversation it answered (after a fallback, the
        fallback's model), generating the same text and cutting it, never a shorter text."""
        rendered = render(
            answer.reply,
            answer.conversation or request,
            answer.seed,
            self.default_latency,
            self.config.locale,
            stop_after=limit,
        )
        return replace(answer, rendered=rendered)


def _retryable(outcome: Outcome) -> bool:
    if isinstance(outcome, Failure):
        return outcome.error.status == 429 or outcome.error.status >= 500
    return outcome.fault is not None


def _attempt(model: str, outcome: Outcome) -> dict[str, Any]:
    status = outcome.error.status if isinstance(outcome, Failure) else 200
    rule = outcome.rule.ref if outcome.rule is not None else None
    faults = list(outcome.fault.names()) if outcome.fault is not None else []
    return {"model": model, "status": status, "rule": rule, "faults": faults}


def _cassette_miss(miss: Miss) -> ErrorSpec:
    where = f"cassette {miss.cassette!r}" if miss.cassette else "the loaded cassettes"
    if miss.nearest is not None:
        nearest = f"{miss.nearest.cassette}#{miss.nearest.index}"
        detail = f"nearest recorded request: {nearest}; " + "; ".join(miss.diff)
    else:
        detail = "; ".join(miss.diff)
    return ErrorSpec(
        404,
        type="invalid_request_error",
        code="cassette_miss",
        message=f"No recorded interaction in {where} matches this request; {detail}",
    )


def unknown_model(model: str, api: str = "chat") -> ErrorSpec:
    """The 404 for a model no rule answers and the default generator does not know (each
    family words it: Anthropic's `model: <id>`). The Responses API answers a 400 of its
    own: "The requested model 'gpt-5-6-sol' does not exist." (param model, code
    model_not_found; quoted from api.openai.com/v1/responses in public reports)."""
    if api == "responses":
        return ErrorSpec(
            400,
            type="invalid_request_error",
            code="model_not_found",
            message=f"The requested model '{model}' does not exist.",
            param="model",
        )
    return ErrorSpec(
        404,
        type="invalid_request_error",
        code="model_not_found",
        message=f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
    )


def _miss_error(request: Conversation, near: tuple[NearMiss, ...]) -> ErrorSpec:
    if not near:
        detail = "no rules are loaded"
    else:
        detail = "; ".join(f"{n.rule.ref} failed: {', '.join(n.failed)}" for n in near)
    return ErrorSpec(
        404,
        type="invalid_request_error",
        code="no_matching_rule",
        message=f"No rule matches this request (model {request.model!r}). Closest: {detail}",
    )
