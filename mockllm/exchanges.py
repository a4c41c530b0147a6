"""An exchange's record: its body and tokens as the journal keeps them, and its one log
line (written in batches, off the per-token path)."""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from dataclasses import replace
from typing import Any

import orjson

from mockllm.asgi import LargeHeaders
from mockllm.journal import Exchange, Journal
from mockllm.rules import Fault
from mockllm.tokens import count_tokens
from mockllm.wire import Body

logger = logging.getLogger("mockllm.exchange")

JOURNAL_BODY_LIMIT = 64 * 1024
JOURNAL_ANSWER_LIMIT = 128 * 1024  # larger answers are not kept for the inspector
JOURNAL_HEADER_LIMIT = 1024  # characters of a header value kept, when the headers are large


def sent_tokens(rendered: Any, fault: Fault | None, stream: bool = True) -> int:
    """Completion tokens the client gets: a stream cut by a fault stops after N deltas; a
    whole answer that a fault turns into an error gives none."""
    if fault is None:
        return int(rendered.completion_tokens)
    if fault.reset or fault.hang:
        return 0
    failed = fault.error_after_tokens is not None or fault.empty_choices_error
    if failed and not stream:  # the client gets the error body, not the answer
        return 0
    cut = fault.disconnect_after_tokens
    if fault.error_after_tokens is not None:
        cut = fault.error_after_tokens if cut is None else min(cut, fault.error_after_tokens)
    if fault.empty_choices_error:
        cut = 0
    if cut is None:
        return int(rendered.completion_tokens)
    return tokens_of_ticks(rendered, cut)


def fired_faults(fault: Fault, rendered: Any, stream: bool) -> tuple[str, ...]:
    """The names of the faults that act on this answer, for the journal, logs and metrics: a
    stream's `malformed_chunk_at` and `disconnect_after_tokens` only when it has that many
    ticks (`disconnect_after_tokens: 100` on a 2-delta answer changes nothing); every fault
    set acts on a whole answer, and an in-band error ends a stream wherever it is."""
    if not stream:
        return fault.names()
    ticks = max((_tick_count(choice) for choice in rendered.choices), default=0)
    malformed, cut = fault.malformed_chunk_at, fault.disconnect_after_tokens
    if malformed is not None and not 1 <= malformed <= ticks:
        fault = replace(fault, malformed_chunk_at=None)
    if cut is not None and cut > ticks:
        fault = replace(fault, disconnect_after_tokens=None)
    return fault.names()


def _tick_count(choice: Any) -> int:
    fragments = sum(len(call.fragments) for call in choice.tool_calls)
    return len(choice.reasoning_deltas) + len(choice.deltas) + fragments


def tokens_of_ticks(rendered: Any, ticks_sent: int) -> int:
    """Completion tokens in the first `ticks_sent` ticks of every choice (a tick is one
    delta of each choice: reasoning, then content, then tool-call fragments; the fragments
    before the content when the choice says its text after its calls)."""
    sent = 0
    for choice in rendered.choices:
        fragments = [f for call in choice.tool_calls for f in call.fragments]
        if choice.calls_first:
            ticks = (*choice.reasoning_deltas, *fragments, *choice.deltas)
        else:
            ticks = (*choice.reasoning_deltas, *choice.deltas, *fragments)
        sent += count_tokens("".join(ticks[:ticks_sent]))
    return sent


def ticks_before(rendered: Any, event_offsets: tuple[float, ...], events_sent: int) -> int:
    """How many of the answer's ticks were written when a stream stopped after
    `events_sent` of its events (`event_offsets`, the events' due times as encoded: the
    ticks' own, with the family's framing events at the times of the ticks they go with)."""
    if events_sent <= 0 or not event_offsets:
        return 0
    last = event_offsets[min(events_sent, len(event_offsets)) - 1]
    return bisect.bisect_right(rendered.offsets, last + 1e-9)


def journal_body(raw: bytes, parsed: Any) -> Any:
    """A request body as the journal keeps it: the parsed JSON (or, for a refused body,
    what could be read of it); a large body's size and first bytes."""
    if len(raw) > JOURNAL_BODY_LIMIT:
        return _clip(raw)
    return parsed if parsed is not None else _best_effort_json(raw)


def kept_answer(body: Body) -> Body | None:
    """The answer as the journal keeps it: the Body itself (a reference), unless it is
    larger than `JOURNAL_ANSWER_LIMIT` (measured by the size of its last event times their
    number, for a stream: no sum over every event per request)."""
    events = body.events
    size = len(body.body) if not events else len(events) * len(events[-1])
    return body if size <= JOURNAL_ANSWER_LIMIT else None


def finish_exchange(
    exchange: Exchange, arrived: float, status: int, log_format: str, journal: Journal | None
) -> None:
    """Complete the exchange's journal entry and write its log line."""
    if type(exchange.headers) is LargeHeaders:
        _let_go_of_large_headers(exchange)
    exchange.status = status
    exchange.duration_ms = (asyncio.get_running_loop().time() - arrived) * 1000
    if journal is not None:
        journal.finish(exchange)
    if logger.isEnabledFor(logging.INFO):
        log_exchange(exchange, log_format)


def _let_go_of_large_headers(exchange: Exchange) -> None:
    """What the journal keeps of a request whose headers are large: each header value's
    first `JOURNAL_HEADER_LIMIT` characters (and its length), the parsed request with those,
    and not the engine's outcome, which holds the request as it came."""
    kept = {
        name: value
        if len(value) <= JOURNAL_HEADER_LIMIT
        else f"{value[:JOURNAL_HEADER_LIMIT]}… ({len(value)} characters in all)"
        for name, value in (exchange.headers or {}).items()
    }
    exchange.headers = kept
    if exchange.conversation is not None:
        exchange.conversation = replace(exchange.conversation, headers=kept)
    exchange.outcome = None


def _clip(raw: bytes) -> dict[str, Any]:
    """A large body as the journal keeps it: its size and its first bytes."""
    return {
        "truncated": True,
        "bytes": len(raw),
        "text": raw[:JOURNAL_BODY_LIMIT].decode("utf-8", "replace"),
    }


def _best_effort_json(raw: bytes) -> Any:
    """A refused body for the journal: parsed when it can be sent back as JSON, else text."""
    try:
        value = orjson.loads(raw)
        orjson.dumps(value)
        return value
    except (orjson.JSONDecodeError, TypeError, RecursionError):
        return raw[:2048].decode("utf-8", "replace")


def log_exchange(exchange: Exchange, form: str) -> None:
    """One line per exchange; never headers or keys. (Formatted directly: it is written
    for every request, and a dict of fields joined field by field cost several µs.)"""
    rule = exchange.rule or exchange.source or "-"
    model = exchange.model or "-"
    stream = "true" if exchange.stream else "false"
    tokens = exchange.prompt_tokens + exchange.completion_tokens
    ms = round(exchange.duration_ms)
    fault = ",".join(exchange.faults) if exchange.faults else None
    error = exchange.error[:200] if exchange.error and exchange.status >= 400 else None
    if form == "json":
        fields: dict[str, str | int] = {
            "event": "exchange",
            "id": exchange.id,
            "rule": rule,
            "model": model,
            "stream": stream,
            "status": exchange.status,
            "tokens": tokens,
            "ms": ms,
        }
        if fault is not None:
            fields["fault"] = fault
        if error is not None:
            fields["error"] = error
        line = orjson.dumps(fields).decode()
    else:
        line = (
            f"exchange id={exchange.id} rule={_quote(rule)} model={_quote(model)} "
            f"stream={stream} status={exchange.status} tokens={tokens} ms={ms}"
        )
        if fault is not None:
            line += f" fault={_quote(fault)}"
        if error is not None:
            line += f" error={_quote(error)}"
    if EXCHANGE_LINES.stream is None:
        logger.info(line)
    else:
        EXCHANGE_LINES.write(line)


class ExchangeLines:
    """The per-exchange log line, written in batches: lines of one event-loop pass go out
    in one write at the end of the pass, in the logging format `setup_logging` chose.

    The logging machinery (a record, a formatter, a locked, flushed write per line) costs a
    quarter of a short request's time under load; this keeps one line per exchange at a
    fraction of that. Unset (`stream` None), lines go through `logging` as usual.
    """

    def __init__(self) -> None:
        self.stream: Any = None
        self.prefix_time = True
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""

    def configure(self, stream: Any, prefix_time: bool) -> None:
        self.stream = stream
        self.prefix_time = prefix_time

    def write(self, line: str) -> None:
        if self.prefix_time:
            now = time.time()
            second = int(now)
            if second != self._second:
                self._second = second
                self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            line = f"{self._stamp},{int((now - second) * 1000):03d} INFO mockllm.exchange: {line}"
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.flush)
        self._lines.append(line)

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        if lines and self.stream is not None:
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # a closed stream: nothing to log to
                pass


EXCHANGE_LINES = ExchangeLines()


def _quote(text: str) -> str:
    return orjson.dumps(text).decode() if (" " in text or '"' in text or not text) else text
