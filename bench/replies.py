"""The benchmark's models, requests and replies, shared by the reference app and run.py.

Both servers must answer the same requests with the same content, so the token lists live
here once: `reference_app.py` builds its responses from them and `make_scenarios.py` writes
them into the scenario files mockllm loads.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Ordinary English words, so the deltas are about as long as real tokens.
_WORDS = (
    "the quarterly report shows steady growth in revenue while operating costs stayed "
    "flat across most regions and the team expects demand to remain strong through the "
    "next two quarters despite some pressure on margins from higher shipping prices and "
    "a slower hiring pace in the support group which the plan addresses with new tools "
    "for routing tickets and a small increase in the budget for training"
).split()


def tokens(count: int) -> tuple[str, ...]:
    """The first `count` stream deltas: a word each, every one after the first with a space."""
    words = [_WORDS[i % len(_WORDS)] for i in range(count)]
    return tuple(word if i == 0 else " " + word for i, word in enumerate(words))


@dataclass(frozen=True, slots=True)
class BenchModel:
    """One model name the benchmark sends, and how both servers must answer it."""

    name: str
    chunks: tuple[str, ...]
    ttft_ms: int = 0
    inter_token_ms: int = 0

    @property
    def content(self) -> str:
        return "".join(self.chunks)

    @property
    def is_paced(self) -> bool:
        return self.ttft_ms > 0 or self.inter_token_ms > 0

    @property
    def ideal_ms(self) -> int:
        """Request to last delta on an ideal server: TTFT plus (tokens - 1) gaps."""
        return self.ttft_ms + (len(self.chunks) - 1) * self.inter_token_ms


FAST_50 = BenchModel("bench-fast-50", tokens(50))
FAST_200 = BenchModel("bench-fast-200", tokens(200))
PACED_50 = BenchModel("bench-paced-50", tokens(50), ttft_ms=100, inter_token_ms=20)
MODELS = {model.name: model for model in (PACED_50, FAST_50, FAST_200)}

SYSTEM_PROMPT = "You are a concise assistant for a finance team."
USER_PROMPT = "Summarize the quarterly report in three sentences."
PROMPT_TOKENS = 24
API_KEY = "sk-bench-0000000000000000"


def request_body(model: str, *, stream: bool) -> bytes:
    """The JSON body every client sends for `model`: identical for both servers."""
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_PROMPT},
        ],
        "temperature": 0.2,
        "stream": stream,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def request_bytes(host: str, port: int, model: str, *, stream: bool) -> bytes:
    """A whole HTTP/1.1 keep-alive request for `model`, ready to write to a socket."""
    body = request_body(model, stream=stream)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Content-Type: application/json\r\n"
        f"Accept: {'text/event-stream' if stream else 'application/json'}\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"\r\n"
    )
    return head.encode() + body


EMBEDDING_MODEL = "text-embedding-3-small"
EMBEDDING_DIMENSIONS = 1536
EMBEDDING_INPUT = "Quarterly revenue grew by ten percent on strong subscription sales."


def embedding_body() -> bytes:
    """The embeddings request both servers get: one text, the float encoding."""
    body = {"model": EMBEDDING_MODEL, "input": EMBEDDING_INPUT, "encoding_format": "float"}
    return json.dumps(body, separators=(",", ":")).encode()


def embedding_request_bytes(host: str, port: int) -> bytes:
    body = embedding_body()
    head = (
        f"POST /v1/embeddings HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Content-Type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"\r\n"
    )
    return head.encode() + body


# --- varied requests ---------------------------------------------------------------------
# The varied phases give every request its own prompt: the user message ends with " #N",
# N a counter, so no two requests of a run are the same bytes (mockllm keeps what it
# worked out for a request, so the same request again and again measures its memo).

VARY_MARK = "@@N@@"  # where the counter goes; JSON leaves it as it is
GENERATED_MODEL = "gpt-4o-mini"  # in mockllm's catalogue, and no rule of bench.yaml matches it

TOOL_NAME = "create_invoice"
TOOL_PROPERTIES: dict[str, dict[str, object]] = {
    "customer_name": {"type": "string", "description": "The customer's full name"},
    "email": {"type": "string", "format": "email"},
    "account_id": {"type": "integer", "minimum": 1},
    "amount": {"type": "number", "description": "Total before discount"},
    "currency": {"type": "string", "enum": ["USD", "EUR", "GBP", "JPY"]},
    "priority": {"type": "string", "enum": ["low", "normal", "high"]},
    "is_credit_note": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "notes": {"type": "string"},
    "quantity": {"type": "integer", "minimum": 1},
    "unit_price": {"type": "number"},
    "due_date": {"type": "string", "format": "date"},
    "approved": {"type": "boolean"},
    "region": {"type": "string", "enum": ["na", "emea", "apac", "latam"]},
    "line_items": {"type": "array", "items": {"type": "string"}},
    "address": {
        "type": "object",
        "properties": {
            "street": {"type": "string"},
            "city": {"type": "string"},
            "postal_code": {"type": "string"},
            "country": {"type": "string"},
        },
        "required": ["street", "city", "country"],
    },
    "discount_percent": {"type": "number", "minimum": 0, "maximum": 100},
    "invoice_number": {"type": "string"},
    "reviewer": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "level": {"type": "integer"}},
        "required": ["name"],
    },
    "send_copy": {"type": "boolean"},
}
TOOL_REQUIRED = ("customer_name", "account_id", "amount", "currency", "tags", "address")
TOOL_PARAMETERS: dict[str, object] = {
    "type": "object",
    "properties": TOOL_PROPERTIES,
    "required": list(TOOL_REQUIRED),
}
TOOL = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Create an invoice for a customer account",
        "parameters": TOOL_PARAMETERS,
    },
}
TOOL_CHOICE = {"type": "function", "function": {"name": TOOL_NAME}}
# The reference's constant answer: one value for every property, valid against the schema.
TOOL_ARGUMENTS: dict[str, object] = {
    "customer_name": "Natalie Massey",
    "email": "natalie.massey@example.org",
    "account_id": 4412,
    "amount": 1280.5,
    "currency": "EUR",
    "priority": "normal",
    "is_credit_note": False,
    "tags": ["quarterly", "subscription", "renewal"],
    "notes": "Record the renewal and send the usual reminder.",
    "quantity": 3,
    "unit_price": 426.83,
    "due_date": "2026-03-31",
    "approved": True,
    "region": "emea",
    "line_items": ["annual plan", "support add-on"],
    "address": {
        "street": "3749 Oscar Knoll",
        "city": "Teresaview",
        "postal_code": "22974",
        "country": "Switzerland",
    },
    "discount_percent": 12.5,
    "invoice_number": "INV-2026-0412",
    "reviewer": {"name": "Christina Lawrence", "level": 3},
    "send_copy": False,
}
# The reference's constant answer to a prompt no rule matches: about as long as the
# sentences mockllm's generator writes for gpt-4o-mini (about 60 tokens).
GENERATED_TEXT = (
    "Food store good every agreement. Reflect minute particularly consider nor miss. "
    "Resource page three participant success hot serious. Before pattern across street "
    "reveal. Rate cause stock decade. Forward seem when water drop. Religious bar hear car "
    "time. Within answer group draw. Budget world push big why most."
)
GENERATED_TOKENS = 60


def schema_problems(value: Any, schema: dict[str, Any], where: str = "arguments") -> list[str]:
    """Where `value` does not fit `schema` (types, enums, required keys, nested objects and
    arrays: the parts of JSON Schema the benchmark's tool uses)."""
    kind = schema.get("type")
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if kind in checks and not checks[kind](value):
        return [f"{where}: {type(value).__name__}, not {kind}"]
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        return [f"{where}: {value!r} not one of {enum}"]
    problems: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                problems.append(f"{where}: no {key!r}")
        for key, item in value.items():
            if key in properties:
                problems += schema_problems(item, properties[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += schema_problems(item, schema["items"], f"{where}[{i}]")
    return problems


def varied_body_parts(model: str, *, stream: bool, tools: bool = False) -> tuple[bytes, bytes]:
    """The request body around the counter: `prefix + str(n).encode() + suffix` is the
    body of request n. The same body as `request_body`, but the user message ends with
    " #n", and with `tools`, the benchmark's tool and a tool choice that forces it."""
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"{USER_PROMPT} #{VARY_MARK}"},
        ],
        "temperature": 0.2,
        "stream": stream,
    }
    if tools:
        body["tools"] = [TOOL]
        body["tool_choice"] = TOOL_CHOICE
    prefix, suffix = json.dumps(body, separators=(",", ":")).split(VARY_MARK)
    return prefix.encode(), suffix.encode()


def varied_request_body(model: str, n: int, *, stream: bool, tools: bool = False) -> bytes:
    prefix, suffix = varied_body_parts(model, stream=stream, tools=tools)
    return prefix + str(n).encode() + suffix


def varied_requests(
    host: str, port: int, model: str, start: int, *, stream: bool, tools: bool = False
) -> Iterator[bytes]:
    """Whole HTTP/1.1 keep-alive requests numbered from `start`, each with its own prompt."""
    prefix, suffix = varied_body_parts(model, stream=stream, tools=tools)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Content-Type: application/json\r\n"
        f"Accept: {'text/event-stream' if stream else 'application/json'}\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        f"Content-Length: "
    ).encode()
    for n in itertools.count(start):
        number = str(n).encode()
        length = len(prefix) + len(number) + len(suffix)
        yield b"%s%d\r\n\r\n%s%s%s" % (head, length, prefix, number, suffix)
