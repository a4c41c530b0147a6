"""The model catalogue (`models.yaml`): each model's context window, largest output,
reasoning, and the request parameters it refuses, as the real service enforces them.

The file is read once, on first use; `lookup` answers every request after that from a
dictionary. A model the catalogue does not name gets its `unknown` entry.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

import yaml

Reasoning = Literal["none", "hidden", "visible"]
CatalogueApi = Literal["chat", "responses", "messages"]


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A parameter the model refuses outright."""

    param: str
    code: str | None = "unsupported_parameter"
    hint: str = ""


@dataclass(frozen=True, slots=True)
class ParameterRules:
    """What a model does with request parameters on one API family."""

    unsupported: tuple[Unsupported, ...] = ()
    default_only: tuple[tuple[str, float], ...] = ()  # (param, the one value accepted)
    unrecognized: tuple[str, ...] = ()
    forbidden: tuple[tuple[str, str], ...] = ()  # (param, the 403 message when it is true)
    ignored: tuple[str, ...] = ()
    while_reasoning: ParameterRules | None = None  # more, unless the effort is `none`
    unsupported_roles: tuple[str, ...] = ()  # message roles refused (o1-mini: system)


NO_RULES = ParameterRules()


@dataclass(frozen=True, slots=True)
class Model:
    """One catalogue entry."""

    id: str
    context_window: int
    max_output_tokens: int
    reasoning: Reasoning = "none"
    rules: tuple[tuple[str, ParameterRules], ...] = ()  # (API family, its rules)
    listed: bool = False
    source: str = ""
    known: bool = True  # False for the `unknown` entry
    efforts: tuple[str, ...] = ()  # the reasoning efforts it takes (empty: any)
    default_effort: str = "medium"  # its effort when the request names none
    # the `verbosity` values it takes (chat; the Responses API's `text.verbosity`) (empty:
    # any); models before GPT-5 take only medium
    verbosities: tuple[str, ...] = ()
    # the Responses API's `prompt_cache_retention` values it takes (empty: any)
    cache_retentions: tuple[str, ...] = ()
    # Anthropic's Messages API: whether the model takes `thinking`, whether `temperature`
    # and `top_p` may be given together, whether a final assistant message (prefill) is
    # taken, whether it takes `thinking.type` `enabled` (a budget; false: adaptive only),
    # whether it takes `temperature`, `top_p` and `top_k` at all.
    extended_thinking: bool = True
    one_sampler: bool = False
    prefill: bool = True
    budget_thinking: bool = True
    sampling: bool = True
    # OpenAI's legacy Completions API (`/v1/completions`) serves the instruct and base
    # models only; the others are chat models there, refused with a 404.
    completions: bool = False
    # Whether the Chat Completions API serves the id looked up: False for the ids of the
    # catalogue's `not_chat` globs (and the Completions API's own models).
    chat: bool = True
    # Whether its chat answers name a system fingerprint (GPT-5's say null).
    fingerprint: bool = True
    # Whether it speaks (gpt-4o-audio-preview and kin): its chat answers are audio when the
    # request asks for it, and a request with no audio in or out is refused.
    audio: bool = False

    @property
    def reasons(self) -> bool:
        return self.reasoning != "none"

    def rules_for(self, api: str) -> ParameterRules:
        return next((rules for name, rules in self.rules if name == api), NO_RULES)


@dataclass(frozen=True, slots=True, eq=False)
class Catalogue:
    models: tuple[Model, ...]
    unknown: Model
    exact: dict[str, Model]
    globs: tuple[tuple[re.Pattern[str], Model], ...]
    not_chat: tuple[re.Pattern[str], ...] = ()
    snapshots: dict[str, str] = field(default_factory=dict)  # alias -> its dated model

    def lookup(self, model_id: str) -> Model:
        """The entry for a model id as sent (a `provider/` prefix is ignored)."""
        return _lookup(self, model_id)


def catalogue() -> Catalogue:
    """The catalogue shipped with mockllm."""
    return _load()


def lookup(model_id: str) -> Model:
    """The catalogue entry of a model id; the `unknown` entry when none names it.

    Example:
        lookup("openai/gpt-4o").max_output_tokens  ->  16384
    """
    return _lookup(_load(), model_id)


@lru_cache(maxsize=4096)
def _lookup(cat: Catalogue, model_id: str) -> Model:
    name = model_id.rsplit("/", 1)[-1]
    found = _entry(cat, name, model_id)
    if found.chat and any(pattern.match(name) for pattern in cat.not_chat):
        return replace(found, chat=False)
    return found


def snapshot(model_id: str) -> str | None:
    """The dated model an OpenAI alias stands for, which the API's answers name
    (`gpt-4o` -> `gpt-4o-2024-08-06`); None for any other id, dated ones too.

    Example:
        snapshot("gpt-4o-mini")  ->  "gpt-4o-mini-2024-07-18"
    """
    return _load().snapshots.get(model_id)


def _entry(cat: Catalogue, name: str, model_id: str) -> Model:
    found = cat.exact.get(name) or cat.exact.get(model_id)
    if found is not None:
        return found
    for pattern, model in cat.globs:
        if pattern.match(name):
            return model
    return cat.unknown


@cache
def _load() -> Catalogue:
    text = (resources.files("mockllm") / "models.yaml").read_text(encoding="utf-8")
    return parse_catalogue(yaml.safe_load(text))


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """A Catalogue from the loaded YAML; ValueError naming the entry and field at fault."""
    sets = {
        name: {api: _rules(f"parameter_sets.{name}.{api}", spec) for api, spec in apis.items()}
        for name, apis in (data.get("parameter_sets") or {}).items()
    }
    models = []
    for i, raw in enumerate(data.get("models") or []):
        where = f"models[{i}] ({raw.get('id', '?')})"
        parameters = raw.get("parameters")
        if parameters is not None and parameters not in sets:
            raise ValueError(f"{where}: unknown parameter set {parameters!r}; valid: {list(sets)}")
        models.append(_model(raw, where, sets.get(parameters, {})))
    unknown = _model({"id": "unknown", **data["unknown"]}, "unknown", {}, known=False)
    exact = {m.id: m for m in reversed(models)}
    globs = tuple(
        (re.compile(fnmatch.translate(g)), m)
        for raw, m in zip(data["models"], models, strict=True)
        for g in raw.get("match") or []
    )
    not_chat = data.get("not_chat") or []
    if not isinstance(not_chat, list) or not all(isinstance(g, str) for g in not_chat):
        raise ValueError(f"not_chat must be a list of globs, found {not_chat!r}")
    patterns = tuple(re.compile(fnmatch.translate(g)) for g in not_chat)
    snapshots = data.get("snapshots") or {}
    if not isinstance(snapshots, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in snapshots.items()
    ):
        raise ValueError(f"snapshots must map model ids to model ids, found {snapshots!r}")
    return Catalogue(tuple(models), unknown, exact, globs, patterns, dict(snapshots))


def _model(
    raw: dict[str, Any], where: str, rules: dict[str, ParameterRules], known: bool = True
) -> Model:
    for key in ("context_window", "max_output_tokens"):
        value = raw.get(key)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}: {key} must be a positive integer, found {value!r}")
    reasoning = raw.get("reasoning", False)
    mode: Reasoning = "visible" if reasoning == "visible" else "hidden" if reasoning else "none"
    return Model(
        id=str(raw["id"]),
        context_window=raw["context_window"],
        max_output_tokens=raw["max_output_tokens"],
        reasoning=mode,
        rules=tuple(rules.items()),
        listed=bool(raw.get("listed", False)),
        source=str(raw.get("source", "")),
        known=known,
        efforts=tuple(str(e) for e in raw.get("efforts") or ()),
        default_effort=str(raw.get("default_effort", "medium")),
        verbosities=tuple(str(v) for v in raw.get("verbosities") or ()),
        cache_retentions=tuple(str(v) for v in raw.get("cache_retentions") or ()),
        extended_thinking=bool(raw.get("extended_thinking", True)),
        one_sampler=bool(raw.get("one_sampler", False)),
        prefill=bool(raw.get("prefill", True)),
        budget_thinking=bool(raw.get("budget_thinking", True)),
        sampling=bool(raw.get("sampling", True)),
        completions=bool(raw.get("completions", False)),
        chat=not raw.get("completions", False),
        fingerprint=bool(raw.get("fingerprint", True)),
        audio=bool(raw.get("audio", False)),
    )


def _rules(where: str, spec: dict[str, Any]) -> ParameterRules:
    known = {"unsupported", "default_only", "unrecognized", "forbidden", "ignored"}
    known |= {"while_reasoning", "unsupported_roles"}
    extra = set(spec) - known
    if extra:
        raise ValueError(f"{where}: unknown keys {sorted(extra)}; valid: {sorted(known)}")
    unsupported = []
    for item in spec.get("unsupported") or []:
        if isinstance(item, str):
            unsupported.append(Unsupported(item))
        else:
            code = item["code"] if "code" in item else "unsupported_parameter"
            unsupported.append(Unsupported(item["param"], code, item.get("hint", "")))
    roles = spec.get("unsupported_roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ValueError(f"{where}.unsupported_roles must be a list of roles, found {roles!r}")
    return ParameterRules(
        unsupported=tuple(unsupported),
        default_only=tuple((k, float(v)) for k, v in (spec.get("default_only") or {}).items()),
        unrecognized=tuple(spec.get("unrecognized") or ()),
        forbidden=tuple((k, str(v)) for k, v in (spec.get("forbidden") or {}).items()),
        ignored=tuple(spec.get("ignored") or ()),
        while_reasoning=(
            _rules(f"{where}.while_reasoning", spec["while_reasoning"])
            if spec.get("while_reasoning")
            else None
        ),
        unsupported_roles=tuple(roles),
    )
