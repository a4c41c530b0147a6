"""One exchange → a scenario rule answering the next identical request as this one was
answered (the inspector's "make a rule"), in the YAML `cassette to-scenario` writes.

The match is what only this request (and identical ones) meets: the model as sent, the
exact last user message (or the last message, when no user spoke) and, outside chat,
the family. The reply says what was answered: the rendered choices (exact deltas, tool
calls, pace, fault), a recorded interaction as `to-scenario` converts it (in its own
family), or the error. A miss has no answer to copy: its reply is a placeholder to edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from mockllm.convert import exact_pattern, literal, recorded_reply, scenario_yaml
from mockllm.engine import Answer, Failure, Replayed
from mockllm.rules import NO_LATENCY, ErrorSpec, Fault, Latency

if TYPE_CHECKING:
    from mockllm.conversation import Conversation
    from mockllm.journal import Exchange
    from mockllm.render import Rendered

JSON = dict[str, Any]
PLACEHOLDER = "Write the answer here."


class NoRule(Exception):
    """The exchange cannot become a rule; the message says why."""


def exchange_scenario(exchange: Exchange, default_latency: Latency = NO_LATENCY) -> str:
    """Scenario YAML (version 1) with one rule made from the exchange."""
    rule, notes = exchange_rule(exchange, default_latency)
    header = [
        f"Made from exchange {exchange.id} ({exchange.method} {exchange.path}) in the "
        "mockllm inspector.",
        *notes,
    ]
    return scenario_yaml({"version": 1, "rules": [rule]}, header)


def _unread(exchange: Exchange) -> str:
    """Why an exchange has no parsed request to match on."""
    request = exchange.request
    if isinstance(request, dict) and request.get("truncated") is True and "bytes" in request:
        return (
            f"its body ({request['bytes']} bytes) was over 64 KiB: the journal kept its first "
            "64 KiB, not the parsed request, so there is nothing to match on"
        )
    if exchange.api is None:
        return (
            f"{exchange.method} {exchange.path} is not a request of an API family: there is "
            "nothing to match on"
        )
    return (
        f"the request was refused before it was read (status {exchange.status}): there is "
        "nothing to match on"
    )


def no_rule_answers(exchange: Exchange) -> str | None:
    """Why no rule could have answered this request, when none could: a path answered
    from the request alone (count_tokens), or a request refused before it was answered
    (bad input, a key's limit or credits)."""
    if exchange.outcome is not None:
        return None
    if exchange.source == "direct":
        return (
            f"{exchange.method} {exchange.path} is answered from the request alone: "
            "no rule answers it"
        )
    if exchange.source in ("error", "capacity"):
        why = f"{exchange.status}: {exchange.error}" if exchange.error else str(exchange.status)
        return f"the request was refused ({why}), not answered: no rule changes that answer"
    return None


def why_no_rule(exchange: Exchange) -> str | None:
    """Why the exchange cannot become a rule, or None when it can."""
    if exchange.conversation is None:
        return _unread(exchange)
    return no_rule_answers(exchange)


def exchange_rule(
    exchange: Exchange, default_latency: Latency = NO_LATENCY
) -> tuple[JSON, list[str]]:
    """The rule, and notes for the person who will edit it; NoRule when the request was
    not understood (nothing to match on)."""
    conversation: Conversation | None = exchange.conversation
    why = why_no_rule(exchange)
    if why is not None or conversation is None:
        raise NoRule(why or _unread(exchange))
    notes: list[str] = []
    rule: JSON = {"name": f"from-{exchange.id[-8:]}", "match": _match(conversation)}
    outcome = exchange.outcome
    if isinstance(outcome, Answer):
        rule["reply"] = _rendered(outcome, conversation, default_latency)
    elif isinstance(outcome, Replayed):
        rule["reply"] = _replayed(outcome, conversation, notes)
    elif isinstance(outcome, Failure) and outcome.source != "miss":
        rule["reply"] = {"error": _error(outcome.error)}
    elif conversation.api == "embeddings":
        notes.append(
            "Nothing answered this request (a miss): an empty reply answers it with vectors;"
            " give it an error, a latency or a fault to change that, then add the rule."
        )
        rule["reply"] = {}
    else:
        notes.append(
            "Nothing answered this request (a miss): write the reply below, then add the rule."
        )
        rule["reply"] = {"content": PLACEHOLDER}
    return rule, notes


# --- match ---------------------------------------------------------------------------------


def _match(conversation: Conversation) -> JSON:
    match: JSON = {"model": exact_pattern(conversation.model, names=True)}
    if conversation.api != "chat":
        match["api"] = conversation.api
    if conversation.turn:
        match["last_user"] = exact_pattern(conversation.last_user)
    elif conversation.messages:
        last = conversation.messages[-1]
        match["last_message"] = {
            "role": exact_pattern(last.role),
            "content": exact_pattern(last.text),
        }
    return match


# --- reply ---------------------------------------------------------------------------------


def _rendered(answer: Answer, conversation: Conversation, default_latency: Latency) -> JSON:
    rendered: Rendered = answer.rendered
    # A custom tool's input is text, kept as it is even when it reads as JSON.
    free_form = {
        t.name for t in (*conversation.tools, *conversation.free_form_tools) if t.free_form
    }
    specs = [_choice(choice, free_form) for choice in rendered.choices]
    reply: JSON = {}
    if len(specs) == 1:
        reply.update(specs[0])
    elif specs:
        reply["choices"] = specs
    # No choice: embeddings, whose vectors come from the input, not from the reply (a rule
    # kept to them that gave content would be refused).
    if rendered.model != conversation.model:
        reply["model"] = rendered.model
    latency = answer.reply.latency.over(default_latency)
    pace = {
        key: value
        for key, value in (
            ("ttft_ms", latency.ttft_ms),
            ("inter_token_ms", latency.inter_token_ms),
            ("jitter_ms", latency.jitter_ms),
        )
        if value
    }
    if pace:
        reply["latency"] = pace
    if answer.fault is not None:
        reply["fault"] = _fault(answer.fault)
    return reply


def _choice(choice: Any, free_form: set[str]) -> JSON:
    spec: JSON = {}
    if choice.reasoning:
        spec["reasoning"] = literal(choice.reasoning)
    if choice.refusal is not None:
        spec["refusal"] = choice.refusal
    elif choice.deltas and choice.content is not None:
        spec["chunks"] = list(choice.deltas)  # raw deltas, never templates
    elif choice.content is not None:
        spec["content"] = literal(choice.content)
    if choice.tool_calls:
        spec["tool_calls"] = [
            _tool_call(call, call.name in free_form) for call in choice.tool_calls
        ]
    if not spec:
        spec["content"] = ""
    natural = "tool_calls" if choice.tool_calls else "stop"
    if choice.finish_reason != natural:
        spec["finish_reason"] = choice.finish_reason
    return spec


def _tool_call(call: Any, text: bool) -> JSON:
    try:
        arguments: Any = literal(call.arguments if text else orjson.loads(call.arguments))
    except orjson.JSONDecodeError:
        arguments = literal(call.arguments)
    return {"name": call.name, "arguments": arguments, "id": call.id}


def _replayed(outcome: Replayed, conversation: Conversation, notes: list[str]) -> JSON:
    interaction = outcome.interaction
    try:
        return recorded_reply(interaction.response, conversation.model, interaction.request)
    except ValueError as exc:
        notes.append(
            f"The recorded answer ({interaction.cassette}#{interaction.index}) cannot be "
            f"written as a reply: {exc}. Write the reply below."
        )
        return {"content": PLACEHOLDER}


def _error(spec: ErrorSpec) -> JSON:
    error: JSON = {"status": spec.status}
    for key in ("type", "code", "message", "param"):
        value = getattr(spec, key)
        if value is not None:
            error[key] = value
    if spec.headers:
        error["headers"] = dict(spec.headers)
    return error


def _fault(fault: Fault) -> JSON:
    out: JSON = dict(fault.set_faults())
    if fault.error is not None and (
        fault.error_after_tokens is not None or fault.empty_choices_error
    ):
        out["error"] = {k: v for k, v in _error(fault.error).items() if k != "headers"}
    return out
