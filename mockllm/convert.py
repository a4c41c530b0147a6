"""Cassette interactions → scenario YAML: one editable rule per recorded LLM API call.

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

from mockllm.cassettes import family_of
from mockllm.dialects import chat, completions
from mockllm.errors import RequestError
from mockllm.matchers import compile_pattern
from mockllm.rules import FINISH_REASONS
from mockllm.sse import data_of, fields_of, split_events

if TYPE_CHECKING:
    from mockllm.cassettes import Interaction, RecordedRequest, RecordedResponse

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
    """Scenario YAML (version 1) answering the recorded calls as recorded.

    Chat completions, the legacy Completions API, the Responses API and Anthropic's Messages
    API are read into the same rule keys (``content`` or ``chunks``, ``tool_calls``,
    ``reasoning``, ``usage``, ``error``); a rule converted from a family other than chat also
    matches ``api`` on it.
    ``source`` names the cassette: it titles the scenario and prefixes every rule name.
    Interactions that cannot become a rule are left out with a comment saying why.

    Example::

        interactions = load_cassette(Path("cassettes/weather.yaml"), "weather.yaml")
        Path("scenarios/weather.yaml").write_text(cassette_to_scenario(interactions, ...))
    """
    name = PurePosixPath(source).name.removesuffix(".gz")
    stem = name.removesuffix(".yaml").removesuffix(".yml") or "cassette"
    notes: list[str] = []
    groups: dict[bytes, tuple[JSON, list[int], list[JSON]]] = {}
    for interaction in interactions:
        where = f"interactions[{interaction.index}]"
        try:
            match = _match(interaction)  # the request body is a JSON object from here on
            family = family_of(interaction.request.path) or "chat"
            body = interaction.request.json
            echoes = _echoes(body) if family == "completions" else ()
            reply = _reply(interaction.response, body.get("model"), family, echoes)
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
    return scenario_yaml(document, header)


def scenario_yaml(document: JSON, header: Sequence[str] = ()) -> str:
    """A scenario document as YAML that reads back exactly, under `# header` comment lines."""
    comments = "".join(f"# {' '.join(line.split())}\n" for line in header)
    text = yaml.dump(document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=2**31 - 1)
    return comments + str(text)


def recorded_reply(
    response: RecordedResponse, model: Any, request: RecordedRequest | None = None
) -> JSON:
    """The reply that answers as a recorded response did (content or exact deltas, tool
    calls, pace, in-band error or cut), read in the API family of ``request``'s path (chat
    without one); ValueError saying why when it cannot."""
    family = (family_of(request.path) or "chat") if request is not None else "chat"
    body = request.json if request is not None else None
    echoes = _echoes(body) if family == "completions" and isinstance(body, dict) else ()
    try:
        return _reply(response, model, family, echoes)
    except _Skip as exc:
        raise ValueError(str(exc)) from None


def exact_pattern(text: str, *, names: bool = False) -> Any:
    """A match pattern meeting exactly `text` (plain when the plain string means that)."""
    return _exact(text, names=names)


def literal(value: Any) -> Any:
    """Text (or JSON data holding text) written so that templates render it unchanged."""
    return _escaped(value)


# --- match ---------------------------------------------------------------------------------


def _match(interaction: Interaction) -> JSON:
    request = interaction.request
    family = family_of(request.path)
    if request.method != "POST" or family is None:
        raise _Skip(f"{request.method} {request.path} is not an LLM API call")
    body = request.json
    if not isinstance(body, dict):
        raise _Skip("the request body is not a JSON object")
    if family == "embeddings" and interaction.response.status < 400:
        raise _Skip("an embeddings answer is derived from its input: there is nothing to script")
    match: JSON = {}
    if isinstance(body.get("model"), str):
        match["model"] = _exact(body["model"], names=True)
    if family != "chat":
        match["api"] = family
    if family == "responses":
        messages = _responses_messages(body)
    elif family == "messages":
        messages = _anthropic_messages(body)
    elif family == "completions":
        messages = [("user", prompt.text) for prompt in _prompts(body)]
    elif family == "embeddings":
        return match
    else:
        messages = _chat_messages(request.body, body, request.path)
    users = [text for role, text in messages if role == "user"]
    if users:
        match["last_user"] = _exact(users[-1])
    elif messages:
        role, text = messages[-1]
        match["last_message"] = {"role": _exact(role), "content": _exact(text)}
    return match


def _chat_messages(raw: bytes, body: JSON, path: str) -> list[tuple[str, str]]:
    try:
        parsed = chat.parse(raw, {}, path)
        return [(m.role, m.text) for m in parsed.messages]
    except RequestError:  # recorded against a gateway that takes more than the API does
        return [
            (str(m.get("role")), _text(m.get("content")))
            for m in body.get("messages") or []
            if isinstance(m, dict)
        ]


def _prompts(body: JSON) -> tuple[completions.Prompt, ...]:
    """The legacy Completions API's prompts, as its server reads them (token arrays decoded):
    each is a user message, and a rule's ``last_user`` is the last."""
    try:
        return completions.parse_prompts(body.get("prompt"))
    except RequestError as exc:
        raise _Skip(f"the prompt cannot be read: {exc.message}") from None


def _echoes(body: JSON) -> tuple[str, ...]:
    """What each choice of a completions answer begins with: its prompt when the request
    asked for ``echo`` (choice i answers prompt i // n), which a rule's reply leaves out
    since the server puts it back; nothing without ``echo``."""
    if body.get("echo") is not True:
        return ()
    try:
        prompts = completions.parse_prompts(body.get("prompt"))
    except RequestError:
        return ()
    n = body.get("n")
    per_prompt = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    return tuple(prompt.text for prompt in prompts for _ in range(per_prompt))


def _responses_messages(body: JSON) -> list[tuple[str, str]]:
    """The Responses API's ``input``: a string is one user message; items in order."""
    given = body.get("input")
    if isinstance(given, str):
        return [("user", given)]
    out = []
    for item in given if isinstance(given, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message" or "role" in item:
            out.append((str(item.get("role") or "user"), _text(item.get("content"))))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            out.append(("tool", _text(item.get("output"))))
        elif kind in ("function_call", "custom_tool_call"):
            out.append(("assistant", ""))
    return out


def _anthropic_messages(body: JSON) -> list[tuple[str, str]]:
    """Anthropic's ``messages``: text blocks joined; ``tool_result`` blocks are tool messages."""
    out = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role, content = str(message.get("role")), message.get("content")
        if not isinstance(content, list):
            out.append((role, content if isinstance(content, str) else ""))
            continue
        blocks = [b for b in content if isinstance(b, dict)]
        results = [b for b in blocks if b.get("type") == "tool_result"]
        out += [("tool", _text(b.get("content"))) for b in results]
        texts = [str(b.get("text") or "") for b in blocks if b.get("type") == "text"]
        if texts or not results:
            out.append((role, "\n".join(texts)))
    return out


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


def _reply(
    response: RecordedResponse, model: Any, family: str = "chat", echoes: Sequence[str] = ()
) -> JSON:
    if response.status >= 400:
        return {"error": _error(response)}
    if response.status != 200:
        raise _Skip(f"status {response.status} is neither a completion nor an error")
    start = response.body.lstrip()
    is_stream = response.events is not None or start.startswith((b"data:", b"event:"))
    if family == "responses":
        reply = _responses_streamed(response) if is_stream else _responses_completed(response.body)
    elif family == "messages":
        reply = _anthropic_streamed(response) if is_stream else _anthropic_completed(response.body)
    elif family == "completions":
        # Its events are chat's but for the text: `choices[].text` where chat has a delta.
        reply = (
            _streamed(response, echoes) if is_stream else _text_completion(response.body, echoes)
        )
    else:
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
        calls = [c for c in map(_chat_call, message.get("tool_calls") or []) if c is not None]
        spec = _choice(
            content=_template(_text(message.get("content"))) if message.get("content") else None,
            refusal=message.get("refusal"),
            calls=calls,
            finish=choice.get("finish_reason"),
        )
        specs.append(spec)
    return _assembled(specs, data.get("usage"), data.get("model"))


def _text_completion(body: bytes, echoes: Sequence[str]) -> JSON:
    """A legacy ``text_completion``: each choice's ``text`` (its echoed prompt left out)."""
    data = _json(body)
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _Skip("the 200 response is not a text completion (no choices)")
    specs = []
    for choice in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
        if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
            raise _Skip("a choice has no text")
        (text,) = _unechoed([choice["text"]], echoes, int(choice.get("index") or 0))
        content = _template(text) if text else None
        specs.append(_choice(content=content, calls=[], finish=choice.get("finish_reason")))
    return _assembled(specs, data.get("usage"), data.get("model"))


def _unechoed(texts: list[str], echoes: Sequence[str], index: int) -> list[str]:
    """A choice's text (whole, or its deltas in order) without the prompt `echo` put first;
    unchanged when it does not begin with that prompt."""
    echo = echoes[index] if 0 <= index < len(echoes) else ""
    if not echo or not "".join(texts).startswith(echo):
        return texts
    out, left = [], len(echo)
    for text in texts:
        cut = min(left, len(text))
        left -= cut
        if text[cut:] or len(texts) == 1:
            out.append(text[cut:])
    return out


def _streamed(response: RecordedResponse, echoes: Sequence[str] = ()) -> JSON:
    """A chat completion's stream, or a legacy completion's (``text_completion`` events,
    whose choices carry ``text`` where chat's carry a ``delta``)."""
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
        data = data_of(event)
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
            elif "delta" not in choice and isinstance(choice.get("text"), str) and choice["text"]:
                chunks.setdefault(index, []).append(choice["text"])
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
    if echoes:
        chunks = {i: _unechoed(texts, echoes, i) for i, texts in chunks.items()}
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


# --- the Responses API and Anthropic's Messages API -------------------------------------------

_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
_STOP_REASONS["tool_use"] = "tool_calls"


def _events(response: RecordedResponse) -> list[tuple[float, str | None, Any]]:
    """(offset, event type, data) of each event: the type from ``event:`` or the data's."""
    out = []
    for offset, event in response.events or tuple((0.0, e) for e in split_events(response.body)):
        name, raw = fields_of(event)
        data = _json(raw) if raw is not None else None
        if name is None and isinstance(data, dict) and isinstance(data.get("type"), str):
            name = data["type"]
        out.append((offset, name, data))
    return out


def _family_reply(
    *,
    text: str = "",
    chunks: list[str] | None = None,
    refusal: str = "",
    calls: list[JSON],
    reasoning: str = "",
    finish: Any = None,
    usage: Any = None,
    model: Any = None,
) -> JSON:
    spec = _choice(
        content=_template(text) if text and not chunks else None,
        chunks=chunks,
        refusal=refusal or None,
        calls=calls,
        finish=finish,
    )
    if reasoning:
        spec["reasoning"] = _template(reasoning)
    counts = None
    if isinstance(usage, dict):
        counts = {
            "prompt_tokens": usage.get("input_tokens"),
            "completion_tokens": usage.get("output_tokens"),
        }
        if _count(usage.get("total_tokens")):
            counts["total_tokens"] = usage["total_tokens"]
    return _assembled([spec], counts, model)


def _paced(reply: JSON, response: RecordedResponse, timed: list[float]) -> JSON:
    if response.has_timing and timed:
        gaps = [b - a for a, b in zip(timed, timed[1:], strict=False)]
        reply["latency"] = {"ttft_ms": _ms(timed[0])}
        if gaps:
            reply["latency"]["inter_token_ms"] = _ms(statistics.median(gaps))
    return reply


def _responses_output(data: JSON) -> JSON:
    """A Responses API ``response`` object → the reply keys."""
    text, refusal, reasoning, calls = [], [], [], []
    for item in data.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    text.append(str(part.get("text") or ""))
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    refusal.append(str(part.get("refusal") or ""))
        elif item.get("type") == "function_call":
            calls.append(
                {
                    "name": item.get("name", ""),
                    "arguments": item.get("arguments"),
                    "id": item.get("call_id"),
                }
            )
        elif item.get("type") == "custom_tool_call":
            calls.append(
                {
                    "name": item.get("name", ""),
                    "arguments": item.get("input"),
                    "id": item.get("call_id"),
                    "custom": True,
                }
            )
        elif item.get("type") == "reasoning":
            summary = [s.get("text", "") for s in item.get("summary") or [] if isinstance(s, dict)]
            reasoning.append("\n".join(summary))
    details = data.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    return {
        "text": "".join(text),
        "refusal": "".join(refusal),
        "reasoning": "\n".join(r for r in reasoning if r),
        "calls": calls,
        "finish": "length" if reason == "max_output_tokens" else None,
        "usage": data.get("usage"),
        "model": data.get("model"),
    }


def _responses_completed(body: bytes) -> JSON:
    data = _json(body)
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise _Skip("the 200 response is not a Responses API response (no output)")
    return _family_reply(**_responses_output(data))


def _responses_streamed(response: RecordedResponse) -> JSON:
    chunks: list[str] = []
    calls: dict[Any, JSON] = {}
    timed: list[float] = []
    final: JSON | None = None
    error: JSON | None = None
    for offset, name, data in _events(response):
        data = _obj(data)
        if name == "response.output_text.delta":
            chunks.append(str(data.get("delta") or ""))
            timed.append(offset)
        elif name == "response.output_item.added" and _obj(data.get("item")).get("type") in (
            "function_call",
            "custom_tool_call",
        ):
            item = _obj(data.get("item"))
            calls[data.get("output_index")] = {
                "name": item.get("name", ""),
                "arguments": "",
                "id": item.get("call_id"),
                **({"custom": True} if item.get("type") == "custom_tool_call" else {}),
            }
        elif name in (
            "response.function_call_arguments.delta",
            "response.custom_tool_call_input.delta",
        ):
            call = calls.setdefault(data.get("output_index"), {"name": "", "arguments": ""})
            call["arguments"] += str(data.get("delta") or "")
            timed.append(offset)
        elif name in ("response.completed", "response.incomplete"):
            final = _obj(data.get("response"))
        elif name in ("error", "response.failed"):
            found = data.get("error") or _obj(data.get("response")).get("error") or data
            error = _obj(found)
    fields = (
        _responses_output(final)
        if final is not None
        else {
            "text": "",
            "refusal": "",
            "reasoning": "",
            "calls": [],
            "finish": None,
            "usage": None,
            "model": None,
        }
    )
    fields["calls"] = fields["calls"] or list(calls.values())
    reply = _paced(_family_reply(**{**fields, "chunks": chunks}), response, timed)
    if error is not None:
        reply["fault"] = {"error_after_tokens": len(chunks), "error": _error_fields(error)}
    elif final is None:
        reply["fault"] = {"disconnect_after_tokens": len(chunks)}
    return reply


def _anthropic_blocks(blocks: list[Any]) -> tuple[str, list[JSON], str]:
    text, calls, thinking = [], [], []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            text.append(str(block.get("text") or ""))
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "name": block.get("name", ""),
                    "arguments": block.get("input"),
                    "id": block.get("id"),
                }
            )
        elif block.get("type") == "thinking":
            thinking.append(str(block.get("thinking") or ""))
    return "".join(text), calls, "\n".join(thinking)


def _anthropic_completed(body: bytes) -> JSON:
    data = _json(body)
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise _Skip("the 200 response is not an Anthropic message (no content)")
    text, calls, thinking = _anthropic_blocks(data["content"])
    return _family_reply(
        text=text,
        calls=calls,
        reasoning=thinking,
        finish=_STOP_REASONS.get(str(data.get("stop_reason"))),
        usage=data.get("usage"),
        model=data.get("model"),
    )


def _anthropic_streamed(response: RecordedResponse) -> JSON:
    chunks: list[str] = []
    blocks: dict[Any, JSON] = {}
    thinking: list[str] = []
    timed: list[float] = []
    usage: JSON = {}
    model, stop, done, error = None, None, False, None
    for offset, name, data in _events(response):
        data = _obj(data)
        if name == "message_start":
            message = _obj(data.get("message"))
            model = message.get("model")
            usage.update(_obj(message.get("usage")))
        elif name == "content_block_start":
            block = _obj(data.get("content_block"))
            if block.get("type") == "tool_use":
                blocks[data.get("index")] = {
                    "name": block.get("name", ""),
                    "arguments": "",
                    "id": block.get("id"),
                }
        elif name == "content_block_delta":
            delta = _obj(data.get("delta"))
            if delta.get("type") == "text_delta":
                chunks.append(str(delta.get("text") or ""))
                timed.append(offset)
            elif delta.get("type") == "input_json_delta":
                call = blocks.setdefault(data.get("index"), {"name": "", "arguments": ""})
                call["arguments"] += str(delta.get("partial_json") or "")
                timed.append(offset)
            elif delta.get("type") == "thinking_delta":
                thinking.append(str(delta.get("thinking") or ""))
        elif name == "message_delta":
            stop = _obj(data.get("delta")).get("stop_reason") or stop
            usage.update(_obj(data.get("usage")))
        elif name == "message_stop":
            done = True
        elif name == "error":
            error = _obj(data.get("error"))
    reply = _family_reply(
        chunks=chunks,
        calls=list(blocks.values()),
        reasoning="".join(thinking),
        finish=_STOP_REASONS.get(str(stop)),
        usage=usage or None,
        model=model,
    )
    reply = _paced(reply, response, timed)
    if error is not None:
        reply["fault"] = {"error_after_tokens": len(chunks), "error": _error_fields(error)}
    elif not done:
        reply["fault"] = {"disconnect_after_tokens": len(chunks)}
    return reply


def _chat_call(call: Any) -> JSON | None:
    """A chat answer's tool call as the rule writes it: a function's name and arguments, or
    a custom tool's name and its input (`{"type": "custom", "custom": {"name", "input"}}`),
    kept as text."""
    if not isinstance(call, dict):
        return None
    if isinstance(call.get("function"), dict):
        function = call["function"]
        return {"name": function.get("name", ""), "arguments": function.get("arguments"),
                "id": call.get("id")}  # fmt: skip
    if isinstance(call.get("custom"), dict):
        custom = call["custom"]
        return {"name": custom.get("name", ""), "arguments": custom.get("input"),
                "id": call.get("id"), "custom": True}  # fmt: skip
    return None


def _merge_call(calls: dict[int, JSON], fragment: JSON, position: int) -> None:
    """Add one streamed tool-call fragment to the call it continues (a function's
    `arguments` pieces, or a custom tool's `input` pieces)."""
    index = fragment.get("index", position)
    call = calls.setdefault(index, {"name": "", "arguments": "", "id": None})
    function = _obj(fragment.get("function"))
    custom = _obj(fragment.get("custom"))
    if custom:
        call["custom"] = True
        function = {"name": custom.get("name"), "arguments": custom.get("input")}
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
    if call.get("custom"):  # a custom tool's input: its text, JSON or not
        parsed = None
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


class _Dumper(yaml.SafeDumper):
    """Safe YAML; text of several lines as a literal block when that keeps it exact."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if any(c in text for c in _BREAKS):  # PyYAML would write these raw and read them back folded
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
    if "\n" in text.rstrip("\n"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_str(text)


_Dumper.add_representer(str, _represent_str)
