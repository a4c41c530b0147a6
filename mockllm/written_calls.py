"""Tool calls and their results written into a conversation as text, read as the calls and
results they are. smolagents' ToolCallingAgent offers function tools, but writes each call
the model made back as assistant text ("Calling tools:\\n[{'id': 'call_1', 'type':
'function', 'function': {'name': 'get_weather', 'arguments': {'city': 'Paris'}}}]") and its
result as a user message ("Observation:\\n…"; earlier releases put "Call id: call_1\\n"
first). Read as written, the last user message is a result, no call has one, and the model
calls the same tool again until the agent runs out of steps.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace

import orjson

from mockllm.conversation import Conversation, Message, ToolCall, summarize

_CALLING = re.compile(r"(?:\A|\n)Calling tools:\n(\[.*\])\s*\Z", re.DOTALL)
_RESULT = re.compile(r"\A(?:Call id: (\S+)\n)?Observation:[ \t]*\n?(.*)\Z", re.DOTALL)


def read_written_calls(request: Conversation) -> Conversation:
    """The request with the calls written as text made tool calls, and the results that
    follow them tool messages; the request itself when it offers no tools or holds none."""
    if not request.tools or not any(
        m.role == "assistant" and "Calling tools:" in m.text and not m.tool_calls
        for m in request.messages
    ):
        return request
    messages: list[Message] = []
    pending: list[ToolCall] = []
    for message in request.messages:
        calls = _calls(message) if message.role == "assistant" else ()
        result = _RESULT.match(message.text) if message.role == "user" and pending else None
        if calls:
            before = message.text[: message.text.rfind("Calling tools:")].strip()
            messages.append(Message("assistant", before, message.name, calls))
            pending = list(calls)
        elif result is not None:
            named = [c for c in pending if c.id == result.group(1)]
            call = (named or pending)[0]
            if len(pending) > 1:
                pending.remove(call)  # the next result answers the next call
            messages.append(Message("tool", result.group(2).strip(), tool_call_id=call.id))
        else:
            pending = []
            messages.append(message)
    if len(messages) == len(request.messages) and all(
        a is b for a, b in zip(messages, request.messages, strict=True)
    ):
        return request
    last_user, _, turn = summarize(tuple(messages))
    return replace(request, messages=tuple(messages), last_user=last_user, turn=turn)


def _calls(message: Message) -> tuple[ToolCall, ...]:
    """The calls an assistant message writes after "Calling tools:", or none."""
    if message.tool_calls:
        return ()
    found = _CALLING.search(message.text)
    if found is None:
        return ()
    try:
        written = ast.literal_eval(found.group(1))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return ()
    calls = []
    for i, item in enumerate(written if isinstance(written, list) else ()):
        function = item.get("function") if isinstance(item, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str):
            return ()
        arguments = function.get("arguments") if isinstance(function, dict) else None
        try:
            text = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
        except TypeError:  # a value JSON has no word for
            return ()
        call_id = item.get("id")
        calls.append(ToolCall(call_id if isinstance(call_id, str) else f"call_{i}", name, text))
    return tuple(calls)
