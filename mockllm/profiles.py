"""Gateway dialects as data: paths, auth headers, required headers, ranges and error mapping.

A profile is a YAML file: the built-ins live in `mockllm/profiles/`, and users may write
their own, starting from a built-in with `extends: NAME`. `load_profile` validates a file
with file:line: field messages; `check_auth`, `check_headers` and `check_params` refuse
what the gateway would refuse before any model runs (no key, a key in the wrong header, a
missing required header, a parameter out of the gateway's range); `Profile.error` builds
every refusal the engine needs in the gateway's words.

Error messages are `str.format` templates over plain names. Besides `key_hint` and
`profile`, each error kind may use:

    invalid_key      masked_key
    missing_key      accepted (how the key may be sent, e.g. "Authorization: Bearer <key>")
    missing_header   header
    bad_param        param, value, low, high, side, expected, direction
    out_of_credits   model, balance
    model_forbidden  model
    rate_limited     model, limit_name, unit, limit, used, requested, retry_after
    request_too_large  model, limit_name, unit, limit, requested (optional: a profile
                     without it refuses such a request with `rate_limited`)
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from mockllm import schema as s
from mockllm.errors import Problem, ProfileError, RequestError, ScenarioError
from mockllm.loader import parse_document
from mockllm.protocol import error_defaults
from mockllm.rules import ErrorSpec

ErrorKind = Literal[
    "invalid_key",
    "missing_key",
    "missing_header",
    "bad_param",
    "out_of_credits",
    "model_forbidden",
    "rate_limited",
    "request_too_large",
]
ERROR_KINDS: tuple[str, ...] = get_args(ErrorKind)
# Kinds a profile may leave out, and the kind that answers in their place.
OPTIONAL_KINDS = {"request_too_large": "rate_limited"}
_REQUIRED_KINDS = tuple(kind for kind in ERROR_KINDS if kind not in OPTIONAL_KINDS)
AUTH_HEADERS = ("authorization", "x-api-key", "api-key")
RANGED_PARAMS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
_COMMON_FIELDS = ("key_hint", "profile")
TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "invalid_key": ("masked_key",),
    "missing_key": ("accepted",),
    "missing_header": ("header",),
    "bad_param": ("param", "value", "low", "high", "side", "expected", "direction"),
    "out_of_credits": ("model", "balance"),
    "model_forbidden": ("model",),
    "rate_limited": (
        "model",
        "limit_name",
        "unit",
        "limit",
        "used",
        "requested",
        "retry_after",
    ),
    "request_too_large": ("model", "limit_name", "unit", "limit", "requested"),
}
BALANCE_FIELDS = ("remaining", "granted", "used")
# An HTTP field name is a token (RFC 9110, 5.1 and 5.6.2): a name outside it never arrives.
_TCHARS = "!#$%&'*+-.^_`|~"
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_SHOWN = {
    "authorization": "Authorization: Bearer <key>",
    "x-api-key": "X-API-Key: <key>",
    "api-key": "api-key: <key>",
}

# --- the file format ------------------------------------------------------------------

_PATH = s.Str(doc="a URL path starting with /")
_RANGE = s.Obj(
    {"min": s.Num(doc="lowest accepted value"), "max": s.Num(doc="highest accepted value")},
    doc="accepted range (inclusive)",
)
_ERROR = s.Obj(
    {
        "status": s.Num(min=400, max=599, integer=True, doc="HTTP status"),
        "type": s.Str(doc="error.type (template)"),
        "code": s.OneOf(
            (s.Str(), s.Num(integer=True), s.Enum((None,))), doc="error.code (template) or null"
        ),
        "message": s.Str(doc="error.message (template over the fields of this kind)"),
        "param": s.Str(doc="error.param (default: the parameter concerned, if any)"),
    },
    doc="An error in the OpenAI shape; type, code and message default by status.",
)
FORMAT = s.Obj(
    {
        "extends": s.Str(doc="a built-in profile name, or a profile file relative to this one"),
        "name": s.Str(doc="profile name (default: the file name)"),
        "description": s.Str(),
        "chat_paths": s.ListOf(_PATH, min_items=1, doc="paths that accept chat completions"),
        "models_path": _PATH,
        "auth": s.Obj(
            {
                "headers": s.ListOf(
                    s.Enum(AUTH_HEADERS), min_items=1, doc="headers a key may be sent in"
                ),
                "required": s.Bool(doc="refuse requests that send no key at all"),
                "key_hint": s.Str(doc="what keys look like, shown in 401 messages"),
            },
        ),
        "required_headers": s.ListOf(
            s.Obj(
                {
                    "name": s.Str(doc="header name"),
                    "message": s.Str(doc="the 400 message when it is missing (template)"),
                },
                required=("name",),
            ),
            doc="headers without which the gateway answers 400",
        ),
        "ranges": s.Obj({name: _RANGE for name in RANGED_PARAMS}, doc="parameter ranges"),
        "models": s.Obj(
            {
                "naming": s.Enum(("plain", "provider"), doc="provider: ids like openai/gpt-4o"),
                "default": s.Str(doc="the gateway's default model"),
                "listed": s.ListOf(s.Str(), doc="model ids listed at the models path"),
                "providers": s.MapOf(
                    s.ListOf(s.Str()),
                    doc="provider to model globs: the provider of a plain id (gpt-4o → openai)",
                ),
            },
        ),
        "balance": s.OneOf(
            (
                s.Obj(
                    {
                        "path": _PATH,
                        "shape": s.MapOf(
                            doc="JSON answered; strings {remaining}, {granted}, {used} are filled"
                        ),
                        "unlimited": s.Num(doc="remaining reported for keys without a limit"),
                    },
                ),
                s.Enum((None,)),
            ),
            doc="the credit balance endpoint (null: none)",
        ),
        "errors": s.Obj({kind: _ERROR for kind in ERROR_KINDS}, doc="how refusals look"),
        "on_exhaustion": s.Enum(
            ("length", "error"),
            doc="a stream the balance cannot pay for ends with finish_reason length, or an error",
        ),
        # Only the OpenAI shape exists; the key is accepted for files that name it.
        "error_shape": s.Enum(("openai",), doc='{"error": {message, type, param, code}}'),
        "unknown_arguments": s.Enum(
            ("refuse", "pass"),
            doc="request arguments the API does not know: refused as OpenAI refuses them, "
            "or passed through as a gateway does (default: refuse)",
        ),
        "dated_models": s.Bool(
            doc="answers name the dated model an alias stands for (gpt-4o answered by "
            "gpt-4o-2024-08-06), as OpenAI's API does; false: the model as the request named "
            "it (default: false)",
        ),
        "vllm": s.Obj(
            {
                "version": s.Str(doc="what GET /version answers"),
                "max_model_len": s.Num(min=1, integer=True, doc="the served model's context"),
            },
            doc="answer as a vLLM server: /ping, /version, /tokenize, /detokenize, vLLM's "
            "model cards and its context-length refusals (docs/gateways.md)",
        ),
    },
)
_REQUIRED = (
    ("chat_paths",),
    ("auth",),
    ("auth", "headers"),
    ("models",),
    ("models", "default"),
    ("errors",),
    *(("errors", kind) for kind in _REQUIRED_KINDS),
    *(("errors", kind, "status") for kind in _REQUIRED_KINDS),
)


# --- the model ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Auth:
    """Where a key may be sent, and whether one must be."""

    headers: tuple[str, ...] = ("authorization",)  # lower-case, from AUTH_HEADERS
    required: bool = False
    key_hint: str = "sk-..."


@dataclass(frozen=True, slots=True)
class RequiredHeader:
    name: str  # as written in the profile; compared case-insensitively
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Models:
    naming: Literal["plain", "provider"]
    default: str
    listed: tuple[str, ...] = ()
    providers: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (provider, model globs), in order


@dataclass(frozen=True, slots=True)
class Balance:
    path: str
    shape: Mapping[str, Any]
    unlimited: float = 1_000_000


@dataclass(frozen=True, slots=True)
class VllmServer:
    """What a profile that answers as a vLLM server says of itself."""

    version: str
    max_model_len: int


@dataclass(frozen=True, slots=True)
class Profile:
    """One gateway's dialect."""

    name: str
    description: str
    chat_paths: tuple[str, ...]
    models_path: str
    auth: Auth
    required_headers: tuple[RequiredHeader, ...]
    ranges: Mapping[str, tuple[float, float]]
    models: Models
    balance: Balance | None
    errors: Mapping[str, ErrorSpec]
    on_exhaustion: Literal["length", "error"] = "length"
    source: str = "<profile>"
    unknown_arguments: Literal["refuse", "pass"] = "refuse"
    dated_models: bool = False  # answers name an alias's dated model, as OpenAI's do
    vllm: VllmServer | None = None

    def error(
        self,
        kind: ErrorKind,
        *,
        param: str | None = None,
        message: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        **fields: object,
    ) -> RequestError:
        """The refusal of this kind, its templates filled from `fields` (and `param`).

        `message` replaces the profile's message template; `headers` are added to the
        response (e.g. Retry-After and x-ratelimit-* for rate_limited).

        Example:
            raise profile.error("out_of_credits", model=request.model, balance=0)
        """
        spec = self.errors.get(kind)
        if spec is None:
            kind = OPTIONAL_KINDS[kind]  # type: ignore[assignment]
            spec = self.errors[kind]
        values = _Fields(key_hint=self.auth.key_hint, profile=self.name)
        if param is not None:
            values["param"] = param
        values.update({k: _text(v) for k, v in fields.items()})
        code = spec.code
        return RequestError(
            spec.status,
            _fill(message or spec.message or "", values),
            type=_fill(spec.type or "", values),
            code=_fill(code, values) if isinstance(code, str) else _text(code) if code else None,
            param=spec.param if spec.param is not None else param,
            headers=(*spec.headers, *headers),
            from_profile=(self.name, kind),
        )

    def qualified(self, model: str, provider: str | None = None) -> str | None:
        """A plain model id as `provider/model`, the way this gateway reads it: the provider
        from the `X-AI-Provider` header (`provider`), else from the profile's
        `models.providers` catalogue. None for an id that names its provider already, or
        a plain id neither resolves.

        Example:
            load_profile("tokenhub").qualified("gpt-4o")  # "openai/gpt-4o"
        """
        if "/" in model:
            return None
        if provider:
            return f"{provider}/{model}"
        for name, globs in self.models.providers:
            if any(fnmatch.fnmatchcase(model, glob) for glob in globs):
                return f"{name}/{model}"
        return None


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # an unfilled field stays visible rather than failing


def _fill(template: str, values: _Fields) -> str:
    return template.format_map(values)


def _text(value: object) -> str:
    if isinstance(value, Fraction):
        value = float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


# --- loading ----------------------------------------------------------------------------


def builtin_profiles() -> tuple[str, ...]:
    """Names of the profiles shipped in the package."""
    folder = resources.files("mockllm") / "profiles"
    return tuple(
        sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))
    )


_BUILTIN_CACHE: dict[str, Profile] = {}


def load_profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or a profile file; raise ProfileError listing every problem."""
    builtins = builtin_profiles()
    if name_or_path in builtins:
        if name_or_path not in _BUILTIN_CACHE:
            _BUILTIN_CACHE[name_or_path] = _compile(*_resolve(name_or_path, None, ()))
        return _BUILTIN_CACHE[name_or_path]
    if _is_path(name_or_path) or Path(name_or_path).exists():
        return _compile(*_resolve(name_or_path, None, ()))
    raise ProfileError([Problem(name_or_path, None, "profile", _unknown_builtin(name_or_path))])


def _is_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name


def profile_text(text: str, source: str = "<profile>") -> Profile:
    """A profile from YAML text (a file's content); `extends` paths resolve from the cwd."""
    return _compile(*_parse(text, source, Path.cwd(), (source,)))


def profile_schema() -> dict[str, Any]:
    """The JSON Schema of profile files."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mockllm profile",
        **s.to_json_schema(FORMAT),
    }


def _unknown_builtin(name: str) -> str:
    builtins = builtin_profiles()
    close = difflib.get_close_matches(name, builtins, 1, 0.6)
    hint = f"; did you mean '{close[0]}'? " if close else "; "
    return (
        f"unknown profile '{name}'{hint}built-in profiles: {', '.join(builtins)} "
        "(or give the path of a profile file)"
    )


_Loaded = tuple[dict[str, Any], Any, str]  # merged data, line map of the file, source


def _resolve(name_or_path: str, base_dir: Path | None, stack: tuple[str, ...]) -> _Loaded:
    """Read a built-in or a file, validate its shape and merge it over what it extends."""
    if name_or_path in builtin_profiles() and not name_or_path.endswith((".yaml", ".yml")):
        ref = resources.files("mockllm") / "profiles" / f"{name_or_path}.yaml"
        source, text = f"profiles/{name_or_path}.yaml", ref.read_text(encoding="utf-8")
        folder = Path.cwd()
    else:
        path = Path(name_or_path)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError([Problem(source, None, "", "no such file")]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError([Problem(source, None, "", f"cannot read: {exc}")]) from None
        folder = path.parent
    if source in stack:
        chain = " -> ".join((*stack, source))
        raise ProfileError(
            [Problem(source, None, "extends", f"profiles extend in a cycle: {chain}")]
        )
    return _parse(text, source, folder, (*stack, source))


def _parse(text: str, source: str, folder: Path, stack: tuple[str, ...]) -> _Loaded:
    try:
        data, lines = parse_document(text, source)
    except ScenarioError as exc:
        raise ProfileError(list(exc.problems)) from None
    if not isinstance(data, dict):
        found = "an empty document" if data is None else "not a mapping"
        raise ProfileError([Problem(source, 1, "", f"expected a profile mapping, found {found}")])
    auth = data.get("auth")
    if isinstance(auth, dict) and isinstance(auth.get("headers"), list):
        auth["headers"] = [h.lower() if isinstance(h, str) else h for h in auth["headers"]]
    problems = lines.problems + [
        Problem(source, lines.line(path), s.dotted(path), message)
        for path, message in s.check(FORMAT, data)
    ]
    if problems:
        raise ProfileError(problems)
    own = {k: v for k, v in data.items() if k != "extends"}
    own.setdefault("name", Path(source).stem)
    own.setdefault("description", "")
    if "extends" not in data:
        return own, lines, source
    parent = str(data["extends"])
    if parent not in builtin_profiles() and not _is_path(parent):
        line = lines.line(("extends",))
        raise ProfileError([Problem(source, line, "extends", _unknown_builtin(parent))])
    try:
        base, _, _ = _resolve(parent, folder, stack)
    except ProfileError as exc:
        if any(p.field == "extends" for p in exc.problems):
            raise
        line = lines.line(("extends",))
        raise ProfileError(
            [Problem(source, line, "extends", str(p)) for p in exc.problems]
        ) from None
    return _merge(base, own), lines, source


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key; lists and scalars replace."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "shape":
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _compile(data: dict[str, Any], lines: Any, source: str) -> Profile:
    """Checked, merged data → Profile; raise ProfileError listing what does not make sense."""
    problems: list[Problem] = []

    def fail(path: s.Path, message: str) -> None:
        problems.append(Problem(source, lines.line(path), s.dotted(path), message))

    for required_path in _REQUIRED:
        *above, last = required_path
        parent = _dig(data, tuple(above))
        if isinstance(parent, dict) and last not in parent:
            fail(
                tuple(above),
                f"missing required key '{last}' (or start from a built-in with 'extends: openai')",
            )
    if problems:
        raise ProfileError(problems)
    balance_data = data.get("balance")
    paths: list[tuple[s.Path, str]] = [
        *((("chat_paths", i), p) for i, p in enumerate(data["chat_paths"])),
        (("models_path",), data.get("models_path", "/v1/models")),
    ]
    if balance_data and "path" in balance_data:
        paths.append((("balance", "path"), balance_data["path"]))
    for where, url_path in paths:
        if not url_path.startswith("/"):
            fail(where, f"a path must start with '/', found {url_path!r}")
    if balance_data and isinstance(balance_data.get("path"), str):
        taken = _get_route_of(balance_data["path"], data.get("models_path", "/v1/models"))
        if taken is not None:
            fail(
                ("balance", "path"),
                f"{balance_data['path']!r} is also {taken}: GET there cannot answer both; "
                "give the balance a path of its own",
            )
    ranges: dict[str, tuple[float, float]] = {}
    for name, bounds in (data.get("ranges") or {}).items():
        low, high = bounds.get("min", -math.inf), bounds.get("max", math.inf)
        if low > high:
            fail(("ranges", name), f"min ({low:g}) is above max ({high:g})")
        ranges[name] = (low, high)
    errors: dict[str, ErrorSpec] = {}
    for kind in ERROR_KINDS:
        entry = data["errors"].get(kind)
        if entry is None:  # an optional kind left out: `error` answers with its stand-in
            continue
        allowed = (*_COMMON_FIELDS, *TEMPLATE_FIELDS[kind])
        for key in ("message", "type", "code"):
            if isinstance(entry.get(key), str):
                _check_template(entry[key], allowed, ("errors", kind, key), fail)
        if "status" not in entry:
            fail(("errors", kind), "missing required key 'status'")
            continue
        status = int(entry["status"])
        default_type, default_code, default_message = error_defaults(status)
        errors[kind] = ErrorSpec(  # an explicit null (code: null) stays null
            status=status,
            type=entry["type"] if "type" in entry else default_type,
            code=entry["code"] if "code" in entry else default_code,
            message=entry["message"] if "message" in entry else default_message,
            param=entry.get("param"),
        )
    required = []
    for i, item in enumerate(data.get("required_headers") or ()):
        if not _HEADER_NAME.fullmatch(item["name"]):
            fail(
                ("required_headers", i, "name"),
                f"{item['name']!r} cannot be an HTTP header name, so no request could send it; "
                f"a name is letters, digits and {_TCHARS} (e.g. X-AI-Provider)",
            )
        if item.get("message") is not None:
            allowed = (*_COMMON_FIELDS, *TEMPLATE_FIELDS["missing_header"])
            _check_template(item["message"], allowed, ("required_headers", i, "message"), fail)
        required.append(RequiredHeader(item["name"], item.get("message")))
    balance = None
    if balance_data:
        if "path" not in balance_data:
            fail(("balance",), "missing required key 'path'")
        _check_shape(balance_data.get("shape", {}), ("balance", "shape"), fail)
        balance = Balance(
            balance_data.get("path", ""),
            balance_data.get("shape") or {"remaining": "{remaining}"},
            balance_data.get("unlimited", 1_000_000),
        )
    auth = data["auth"]
    models = data["models"]
    vllm_data = data.get("vllm")
    vllm = None
    if vllm_data is not None:
        for key in ("version", "max_model_len"):
            if key not in vllm_data:
                fail(("vllm",), f"missing required key '{key}'")
        vllm = VllmServer(str(vllm_data.get("version", "")), int(vllm_data.get("max_model_len", 1)))
    if problems:
        raise ProfileError(problems)
    return Profile(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        chat_paths=tuple(dict.fromkeys(data["chat_paths"])),
        models_path=data.get("models_path", "/v1/models"),
        auth=Auth(
            tuple(dict.fromkeys(auth["headers"])),
            bool(auth.get("required", False)),
            auth.get("key_hint", "sk-..."),
        ),
        required_headers=tuple(required),
        ranges=ranges,
        models=Models(
            models.get("naming", "plain"),
            models["default"],
            tuple(models.get("listed", ())),
            tuple((str(p), tuple(globs)) for p, globs in (models.get("providers") or {}).items()),
        ),
        balance=balance,
        errors=errors,
        on_exhaustion=data.get("on_exhaustion", "length"),
        source=source,
        unknown_arguments=data.get("unknown_arguments", "refuse"),
        dated_models=bool(data.get("dated_models", False)),
        vllm=vllm,
    )


def _get_route_of(url_path: str, models_path: str) -> str | None:
    """What else answers GET at `url_path` (the models list, one model, the admin API), if
    anything: a balance there would hide it, or be hidden by it."""
    for models in dict.fromkeys((models_path, "/v1/models")):
        if url_path == models:
            return f"the models list (GET {models})"
        if url_path.startswith(models.rstrip("/") + "/"):
            return f"where one model is described (GET {models}/{{model}})"
    if url_path == "/__admin" or url_path.startswith("/__admin/"):
        return "a path of the admin API (/__admin/...)"
    return None


def _dig(data: Any, path: s.Path) -> Any:
    for step in path:
        data = data.get(step) if isinstance(data, dict) else None
    return data


def _check_template(text: str, allowed: tuple[str, ...], path: s.Path, fail: Any) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        fail(path, f"not a valid template: {exc} (write {{{{ and }}}} for literal braces)")
        return
    for name in names:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, 1, 0.6)
            hint = f"; did you mean '{{{close[0]}}}'?" if close else ""
            fail(path, f"unknown field '{{{name}}}'{hint} valid fields: {', '.join(allowed)}")


def _check_shape(value: Any, path: s.Path, fail: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_shape(item, (*path, key), fail)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_shape(item, (*path, i), fail)
    elif isinstance(value, str):
        _check_template(value, BALANCE_FIELDS, path, fail)


# --- requests ---------------------------------------------------------------------------


def key_from(profile: Profile, headers: Mapping[str, str]) -> str | None:
    """The API key from the headers this profile accepts (lower-case header names)."""
    for name in profile.auth.headers:
        value = headers.get(name)
        if not value:
            continue
        if name == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif value.strip():
            return value.strip()
    return None


def check_auth(profile: Profile, headers: Mapping[str, str]) -> str | None:
    """The key sent, or None when none was (and none is required); else RequestError(401).

    A key sent in a way the profile does not accept (another header, or Authorization
    without Bearer) is refused with the profile's missing_key message, which says how.
    Whether the key is known is for `accounts.Accounts.authenticate` to say.
    """
    key = key_from(profile, headers)
    if key is not None:
        return key
    sent_elsewhere = any((headers.get(name) or "").strip() for name in AUTH_HEADERS)
    if profile.auth.required or sent_elsewhere:
        raise refuse_key(profile, None)
    return None


def refuse_key(profile: Profile, key: str | None) -> RequestError:
    """The 401 for a key the registry refuses: missing_key when none was sent, else
    invalid_key naming the key masked."""
    if key is None:
        shown = " or ".join(_HEADER_SHOWN[h] for h in profile.auth.headers)
        return profile.error("missing_key", accepted=shown)
    from mockllm.accounts import mask

    return profile.error("invalid_key", masked_key=mask(key))


def check_headers(profile: Profile, headers: Mapping[str, str]) -> None:
    """RequestError(400) naming the first required header missing."""
    for required in profile.required_headers:
        if not (headers.get(required.name.lower()) or "").strip():
            raise profile.error("missing_header", message=required.message, header=required.name)


def check_params(profile: Profile, body: Mapping[str, Any]) -> None:
    """RequestError(400) for the first parameter outside the profile's range.

    Values of the wrong type are left to each dialect's parser, which names them.
    """
    for name, (low, high) in profile.ranges.items():
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if value < low:
            side, direction, expected = "below minimum", "below_min", f"a value >= {low:g}"
        elif value > high:
            side, direction, expected = "above maximum", "above_max", f"a value <= {high:g}"
        else:
            continue
        raise profile.error(
            "bad_param",
            param=name,
            value=f"{value:g}",
            low=f"{low:g}",
            high=f"{high:g}",
            side=side,
            direction=direction,
            expected=expected,
        )


def describe_profile(profile: Profile) -> str:
    """A few lines for `mockllm profiles`: name, description, chat paths, how the key is
    sent, required headers and the balance endpoint."""
    sent = " or ".join(_HEADER_SHOWN[h] for h in profile.auth.headers)
    needed = "required" if profile.auth.required else "optional without a keys file"
    lines = [
        f"{profile.name}: {profile.description}" if profile.description else profile.name,
        f"  chat paths: {', '.join(profile.chat_paths)}",
        f"  key:        {sent} ({needed})",
    ]
    if profile.required_headers:
        names = ", ".join(h.name for h in profile.required_headers)
        lines.append(f"  headers:    {names} (required)")
    balance = f"GET {profile.balance.path}" if profile.balance is not None else "none"
    lines.append(f"  balance:    {balance}")
    return "\n".join(lines)


def balance_body(
    profile: Profile, remaining: float | Fraction | None, granted: float | Fraction | None = None
) -> dict[str, Any]:
    """The balance endpoint's JSON: the profile's shape with {remaining}/{granted}/{used} filled.

    `remaining` None means the key has no limit: the profile's `unlimited` figure is shown.
    A string that is exactly one placeholder becomes the number; others become text.
    """
    if profile.balance is None:
        raise ValueError(f"profile {profile.name!r} has no balance endpoint")
    left = profile.balance.unlimited if remaining is None else remaining
    total = left if granted is None else granted
    numbers = {
        "remaining": _number(left),
        "granted": _number(total),
        "used": _number(max(Fraction(0), Fraction(total) - Fraction(left))),
    }
    return _fill_shape(profile.balance.shape, numbers)  # type: ignore[no-any-return]


def _number(value: float | Fraction) -> int | float:
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    return int(value) if float(value).is_integer() else float(value)


def _fill_shape(value: Any, numbers: dict[str, int | float]) -> Any:
    if isinstance(value, dict):
        return {k: _fill_shape(v, numbers) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_shape(v, numbers) for v in value]
    if isinstance(value, str):
        for name, number in numbers.items():
            if value == "{" + name + "}":
                return number
        if "{" in value:
            return _fill(value, _Fields({k: _text(v) for k, v in numbers.items()}))
    return value
