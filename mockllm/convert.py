"""Cassette interactions → scenario YAML: one editable rule per recorded chat completion.

Each rule matches on the model as sent and the exact last user message (or the last message
when no user spoke) and replies with what was recorded: the content or tool calls of a JSON
completion, the exact content deltas of a stream (with the recorded pace as ``latency``), or
the error of a failed call. Identical requests answered differently become a ``sequence``
in recorded order. The text is checked by nothing here: ``loader.load_text`` accepts it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from mockllm.dialects import chat
from mockllm.errors import RequestError
from mockllm.matchers import compile_pattern
from mockllm.rules import FINISH_REASONS
from mockllm.sse import split_events

if TYPE_CHECKING:
    from mockllm.cassettes import Interaction, RecordedResponse

JSON = dict[str, Any]

_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
_ERROR_HEADERS = ("retry-after", "retry-after-ms")
# `{{` opens a template hole in content and tool arguments; this hole renders a literal `{{`
# (no request body holds the key "{{", so the default is what is printed).
_LITERAL_OPEN = '{{ body["{{"] | default("{{") }}'
_BREAKS = "\r\x85\u2028\u2029\ufeff"  # line breaks (and a BOM) only double quotes keep exact


class _Skip(Exception):
    """An interaction that cannot become a rule; the message says why."""


def cassette_to_scenario(interactions: Sequence[Interaction], source: str) -> str:
    """Scenario YAML (version 1) answering the recorded chat completions as recorded.

    ``source`` names the cassette: it titles the scenario and prefixes every rule name.
    Interactions that are not chat completions are left out with a comment saying why.

    Example::

        interactions = load_cassette(Path("cassettes/weather.yaml"), "weather.yaml")
        Path("scenarios/weather.yaml").write_text(cassette_to_scenario(interactions, ...))
    """
    stem = PurePosixPath(source).name.removesuffix(".yaml").removesuffix(".yml") or "cassette"
    notes: list[str] = []
    groups: dict[bytes, tuple[JSON, list[int], list[JSON]]] = {}
    for interaction in interactions:
        where = f"interactions[{interaction.index}]"
        try:
            match = _match(interaction)  # the request body is a JSON object from here on
            reply = _reply(interaction.response, interaction.request.json.get("model"))
        except _Skip as exc:
            notes.append(f"{where}: skipped: {exc}")
            continue
        key = orjson.dumps(match, option=orjson.OPT_SORT_KEYS)
        groups.setdefault(key, (match, [], []))
        groups[key][1].append(interaction.index)
        groups[key][2].append(reply)
    rules, names = [], set()
    for match, indexes, replies in groups.values():
        name = f"{stem}-{indexes[0]}"
        while name in names:
            name += "-again"
        names.add(name)
        rule: JSON = {"name": name}
        if len(indexes) > 1:
            rule["description"] = "recorded as " + ", ".join(f"interactions[{i}]" for i in indexes)
        rule["match"] = match
        if all(_unpaced(r) == _unpaced(replies[0]) for r in replies):
            rule["reply"] = replies[0]
        else:
            rule["sequence"] = replies
        rules.append(rule)
    document = {
        "version": 1,
        "name": stem,
        "description": f"converted from the cassette {source}",
        "rules": rules,
    }
    header = [f"Converted from the cassette {source} by `mockllm cassette to-scenario`.", *notes]
    comments = "".join(f"# {' '.join(line.split())}\n" for line in header)
    text = yaml.dump(document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=2**31 - 1)
    return comments + str(text)


# --- match ---------------------------------------------------------------------------------


def _match(interaction: Interaction) -> JSON:
    request = interaction.request
    if request.method != "POST" or not request.path.rstrip("/").endswith("/chat/completions"):
        raise _Skip(f"{request.method} {request.path} is not a chat completion")
    body = request.json
    if not isinstance(body, dict):
        raise _Skip("the request body is not a JSON object")
    match: JSON = {}
    if isinstance(body.get("model"), str):
        match["model"] = _exact(body["model"], names=True)
    try:
        parsed = chat.parse(request.body, {}, request.path)
        messages = [(m.role, m.text) for m in parsed.messages]
    except RequestError:  # recorded against a gateway that takes more than the API does
        messages = [
            (str(m.get("role")), _text(m.get("content")))
            for m in body.get("messages") or []
            if isinstance(m, dict)
        ]
    users = [text for role, text in messages if role == "user"]
    if users:
        match["last_user"] = _exact(users[-1])
    elif messages:
        role, text = messages[-1]
        match["last_message"] = {"role": _exact(role), "content": _exact(text)}
    return match


def _exact(text: str, *, names: bool = False) -> Any:
    """A pattern matching exactly ``text``: plain when the plain string means that."""
    pattern = compile_pattern(text, names=names)
    return text if (pattern.kind, pattern.value) == ("exact", text) else {"exact": text}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict)]
        return "\n".join(str(p.get("text") or p.get("refusal") or "") for p in parts)
    return ""


# --- reply ---------------------------------------------------------------------------------


def _reply(response: RecordedResponse, model: Any) -> JSON:
    if response.status >= 400:
        return {"error": _error(response)}
    if response.status != 200:
        raise _Skip(f"status {response.status} is neither a completion nor an error")
    is_stream = response.events is not None or response.body.lstrip().startswith(b"data:")
    reply = _streamed(response) if is_stream else _completed(response.body)
    if isinstance(model, str) and reply.get("model") == model:
        del reply["model"]
    return reply


def _completed(body: bytes) -> JSON:
    data = _json(body)
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _Skip("the 200 response is not a chat completion (no choices)")
    specs = []
    for choice in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise _Skip("a choice has no message")
        calls = [
            {
                "name": call["function"].get("name", ""),
                "arguments": call["function"].get("arguments"),
                "id": call.get("id"),
            }
            for call in message.get("tool_calls") or []
            if isinstance(call, dict) and isinstance(call.get("function"), dict)
        ]
        spec = _choice(
            content=_template(_text(message.get("content"))) if message.get("content") else None,
            refusal=message.get("refusal"),
            calls=calls,
            finish=choice.get("finish_reason"),
        )
        specs.append(spec)
    return _assembled(specs, data.get("usage"), data.get("model"))


def _streamed(response: RecordedResponse) -> JSON:
    events = response.events or tuple((0.0, e) for e in split_events(response.body))
    chunks: dict[int, list[str]] = {}
    refusals: dict[int, str] = {}
    calls: dict[int, dict[int, JSON]] = {}
    finishes: dict[int, Any] = {}
    usage: Any = None
    model: Any = None
    error: tuple[JSON, int] | None = None
    done = False
    timed: list[float] = []  # offsets of the events that carried text or tool-call fragments
    for offset, event in events:
        data = b"\n".join(
            line[5:].removeprefix(b" ") for line in event.splitlines() if line.startswith(b"data:")
        )
        if data.strip() == b"[DONE]":
            done = True
            continue
        chunk = _json(data) if data.strip() else None
        if not isinstance(chunk, dict):
            continue
        model = chunk.get("model", model)
        usage = chunk.get("usage") or usage
        if isinstance(chunk.get("error"), dict) and error is None:
            error = (chunk["error"], sum(len(c) for c in chunks.values()))
        carried = False
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = int(choice.get("index") or 0)
            delta = _obj(choice.get("delta"))
            if isinstance(delta.get("content"), str) and delta["content"]:
                chunks.setdefault(index, []).append(delta["content"])
                carried = True
            if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                refusals[index] = refusals.get(index, "") + delta["refusal"]
                carried = True
            for position, fragment in enumerate(delta.get("tool_calls") or []):
                if isinstance(fragment, dict):
                    _merge_call(calls.setdefault(index, {}), fragment, position)
                    carried = True
            if choice.get("finish_reason"):
                finishes[index] = choice["finish_reason"]
        if carried:
            timed.append(offset)
    indexes = sorted({*chunks, *refusals, *calls, *finishes}) or [0]
    specs = [
        _choice(
            chunks=chunks.get(i, []),
            refusal=refusals.get(i),
            calls=list(calls.get(i, {}).values()),
            finish=finishes.get(i),
        )
        for i in indexes
    ]
    reply = _assembled(specs, usage, model)
    if response.has_timing and timed:
        gaps = [b - a for a, b in zip(timed, timed[1:], strict=False)]
        reply["latency"] = {"ttft_ms": _ms(timed[0])}
        if gaps:
            reply["latency"]["inter_token_ms"] = _ms(statistics.median(gaps))
    if error is not None:
        body, after = error
        reply["fault"] = {"error_after_tokens": after, "error": _error_fields(body)}
    elif not done and not finishes:
        reply["fault"] = {"disconnect_after_tokens": sum(len(c) for c in chunks.values())}
    return reply


def _merge_call(calls: dict[int, JSON], fragment: JSON, position: int) -> None:
    """Add one streamed tool-call fragment to the call it continues."""
    index = fragment.get("index", position)
    call = calls.setdefault(index, {"name": "", "arguments": "", "id": None})
    function = _obj(fragment.get("function"))
    name = function.get("name")
    if isinstance(name, str) and name != call["name"]:  # some gateways repeat the whole name
        call["name"] += name
    if isinstance(function.get("arguments"), str):
        call["arguments"] += function["arguments"]
    if fragment.get("id") and not call["id"]:
        call["id"] = fragment["id"]


def _choice(
    *,
    content: str | None = None,
    chunks: list[str] | None = None,
    refusal: Any = None,
    calls: list[JSON],
    finish: Any,
) -> JSON:
    spec: JSON = {}
    if chunks:
        spec["chunks"] = chunks  # raw deltas, never templates: nothing to escape
    elif content:
        spec["content"] = content
    if isinstance(refusal, str) and refusal:
        spec["refusal"] = refusal
    if calls:
        spec["tool_calls"] = [_tool_call(call) for call in calls]
    if not spec:
        spec["content"] = ""  # said nothing: without this the rule would make text up
    natural = "tool_calls" if calls else "stop"
    if finish in FINISH_REASONS and finish != natural:
        spec["finish_reason"] = finish
    return spec


def _tool_call(call: JSON) -> JSON:
    arguments = call.get("arguments")
    parsed = _json(arguments.encode()) if isinstance(arguments, str) else arguments
    if isinstance(parsed, dict | list):
        value: Any = _escaped(parsed)
    else:  # not JSON (or JSON but no object or array): kept as the recorded text
        value = _template(arguments if isinstance(arguments, str) else "")
    out: JSON = {"name": str(call.get("name") or ""), "arguments": value}
    if call.get("id"):
        out["id"] = str(call["id"])
    return out


def _assembled(specs: list[JSON], usage: Any, model: Any) -> JSON:
    reply: JSON = dict(specs[0]) if len(specs) == 1 else {"choices": specs}
    if isinstance(usage, dict):
        counts = {k: usage[k] for k in _USAGE_KEYS if _count(usage.get(k))}
        if counts:
            reply["usage"] = counts
    if isinstance(model, str) and model:
        reply["model"] = model
    return reply


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _error(response: RecordedResponse) -> JSON:
    data = _json(response.body)
    body = data.get("error") if isinstance(data, dict) else None
    if isinstance(body, dict):
        error: JSON = {"status": response.status, **_error_fields(body)}
    elif isinstance(body, str):  # {"error": "text"}, as some gateways answer
        error = {"status": response.status, "message": body}
    else:
        text = response.body.decode("utf-8", "replace").strip()
        error = {"status": response.status, **({"message": text} if text else {})}
    headers = {
        name.lower(): value
        for name, value in response.headers
        if name.lower() in _ERROR_HEADERS or name.lower().startswith("x-ratelimit-")
    }
    if headers:
        error["headers"] = headers
    return error


def _error_fields(body: JSON) -> JSON:
    fields: JSON = {}
    for key in ("type", "code", "message", "param"):
        value = body.get(key)
        if value is None:
            continue
        if key == "code" and isinstance(value, int) and not isinstance(value, bool):
            fields[key] = value
        else:
            fields[key] = value if isinstance(value, str) else orjson.dumps(value).decode()
    return fields


def _unpaced(reply: JSON) -> JSON:
    return {k: v for k, v in reply.items() if k != "latency"}


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 1)


def _obj(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


# --- text that must stay literal -----------------------------------------------------------


def _template(text: str) -> str:
    """``text`` written as a template that renders to exactly ``text``."""
    return text.replace("{{", _LITERAL_OPEN)


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return _template(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Safe YAML; text of several lines as a literal block when that keeps it exact."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if any(c in text for c in _BREAKS):  # PyYAML would write these raw and read them back folded
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
    if "\n" in text.rstrip("\n"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_str(text)


_Dumper.add_representer(str, _represent_str)
