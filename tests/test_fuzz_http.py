"""Hostile HTTP input: every answer is 2xx, or 4xx in OpenAI's error shape; never 5xx, never
a traceback, never a hang.

One real server (a subprocess on a loopback port, its memory capped so that a runaway
allocation fails there and not on the machine) answers every request of the module. A
request that gets no answer within CLIENT_TIMEOUT_S counts as a hang; a server that
stops answering is restarted so that one bug does not hide the others.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reliability.proc import cap_memory
from tests.conftest import RunningServer, start_server

CLIENT_TIMEOUT_S = 10.0
MAX_BODY = 8 * 1024 * 1024
CHAT = "/v1/chat/completions"

SCENARIO = """\
version: 1
rules:
  - name: regex
    match: { last_user: { regex: "^a+b?$" } }
    reply: { content: "matched" }
  - name: seq
    match: { model: seq-model }
    sequence: [{ content: one }, { content: two }]
    then: cycle
  - name: tools
    match: { model: tool-model }
    reply: { tool_calls: [{ name: lookup, arguments: { q: "{{ last_user }}" } }] }
  - name: paced
    match: { model: paced-model }
    reply: { content: "one two three four", latency: { ttft_ms: 2, inter_token_ms: 2 } }
"""

# Hypothesis settings: no shrinking (a hang costs CLIENT_TIMEOUT_S per attempt; the
# failing example is printed as found), no deadline (the server is out of process).
FUZZ = settings(
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=(
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ),
    derandomize=True,
    database=None,
)


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


class Target:
    """The module's server: started once, restarted if a request left it unable to answer."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "cassettes").mkdir()
        self.scenario = tmp / "rules.yaml"
        self.scenario.write_text(SCENARIO)
        self.server: RunningServer | None = None
        self.restarts = 0
        self.client = httpx.Client(timeout=CLIENT_TIMEOUT_S)

    def start(self) -> None:
        self.server = start_server(
            "--scenarios",
            str(self.scenario),
            "--cassettes",
            str(self.tmp / "cassettes"),
            "--journal-size",
            "50",
            "--seed",
            "3",
            tmp_path=self.tmp,
        )
        cap_memory(self.server.proc.pid)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def ensure(self) -> None:
        """Restart the server if it died or does not answer its health check in 2 s."""
        if self.server is not None and self.server.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/__admin/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        if self.server is not None:
            self.server.proc.kill()
            self.server.proc.wait(10)
            self.restarts += 1
        self.start()

    def log(self) -> str:
        assert self.server is not None
        return self.server.log()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, self.url + path, **kwargs)
        except httpx.TimeoutException:
            pytest.fail(f"{method} {path}: no answer within {CLIENT_TIMEOUT_S} s (a hang)")
        except httpx.TransportError as exc:
            alive = self.server is not None and self.server.proc.poll() is None
            tail = "" if alive else f"; the server died:\n{self.log()[-3000:]}"
            pytest.fail(f"{method} {path}: {exc!r}{tail}")

    def chat(self, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.send(
            "POST",
            CHAT,
            content=body,
            headers={"content-type": "application/json", **(headers or {})},
        )


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    found = Target(tmp_path_factory.mktemp("fuzz-http"))
    found.start()
    yield found
    found.client.close()
    if found.server is not None:
        found.server.stop()


@pytest.fixture
def server(target: Target) -> Target:
    target.ensure()
    return target


def assert_answer(response: httpx.Response, what: object = "") -> None:
    """2xx, or 4xx with OpenAI's error shape; never 5xx or a traceback."""
    shown = repr(what)[:300]
    status = response.status_code
    assert b"Traceback" not in response.content, f"traceback in the answer to {shown}"
    assert 200 <= status < 300 or 400 <= status < 500, (
        f"status {status} for {shown}: {response.text[:500]}"
    )
    if status >= 400:
        assert_error_shape(response, shown)


def assert_error_shape(response: httpx.Response, shown: str = "") -> None:
    try:
        body = response.json()
    except ValueError:
        pytest.fail(
            f"{response.status_code} without a JSON body for {shown}: {response.text[:300]}"
        )
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (shown, body)
    error = body["error"]
    assert isinstance(error.get("message"), str) and error["message"], (shown, error)
    assert isinstance(error.get("type"), str), (shown, error)
    assert "param" in error and (error["param"] is None or isinstance(error["param"], str)), error
    assert "code" in error and (error["code"] is None or isinstance(error["code"], str | int)), (
        shown,
        error,
    )


def encode(value: object) -> bytes:
    """JSON text as a client might send it (big integers kept; NaN written as NaN)."""
    return json.dumps(value, allow_nan=True).encode()


# --- strategies ---------------------------------------------------------------------------

HUGE_NUMBERS = (2**70, -(2**70), 1e308, -1e308, 2**63, -(2**63) - 1, 10**9)
HOSTILE_SCALARS = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        0.5,
        "",
        "x",
        "\x00",
        "\u202e\ud7ff",
        "😀" * 4,
        [],
        {},
        [None],
        {"": None},
        *HUGE_NUMBERS,
    ]
)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=24),
)
json_any = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
hostile = st.one_of(HOSTILE_SCALARS, json_any)

MODELS = [
    "gpt-4o-mini",
    "gpt-4o",
    "deepseek-chat",
    "seq-model",
    "tool-model",
    "paced-model",
    "no-such-model",
    "provider/gpt-4o",
]
ROLES = ["system", "developer", "user", "assistant", "tool", "function"]
PART_TYPES = ["text", "image_url", "input_audio", "file", "refusal", "input_text", "video"]

text_part = st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=40)})
odd_part = st.fixed_dictionaries(
    {"type": st.sampled_from(PART_TYPES)},
    optional={
        "text": hostile,
        "refusal": hostile,
        "image_url": st.one_of(st.fixed_dictionaries({"url": st.text(max_size=30)}), hostile),
        "input_audio": hostile,
        "file": hostile,
    },
)
content = st.one_of(st.text(max_size=80), st.lists(st.one_of(text_part, odd_part), max_size=4))


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    role = draw(st.sampled_from(ROLES))
    out: dict[str, Any] = {"role": role, "content": draw(content)}
    if role == "tool":
        out["tool_call_id"] = draw(st.text(min_size=1, max_size=12))
    if role == "assistant" and draw(st.booleans()):
        out["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "lookup",
                    "arguments": draw(st.sampled_from(['{"q": 1}', "{", ""])),
                },
            }
        ]
    if draw(st.booleans()):
        out["name"] = draw(st.text(max_size=10))
    return out


PARAMS = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "description": "d", "parameters": PARAMS},
}

valid_request = st.fixed_dictionaries(
    {
        "model": st.sampled_from(MODELS),
        "messages": st.lists(message(), min_size=1, max_size=5).map(
            lambda ms: [*ms, {"role": "user", "content": "hello json"}]
        ),
    },
    optional={
        "stream": st.booleans(),
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
        "n": st.integers(1, 4),
        "max_tokens": st.integers(1, 64),
        "max_completion_tokens": st.integers(1, 64),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "stop": st.one_of(st.text(max_size=3), st.lists(st.text(max_size=3), max_size=4)),
        "seed": st.integers(-(2**63), 2**63 - 1),
        "user": st.text(max_size=20),
        "metadata": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
        "tools": st.just([TOOL]),
        "tool_choice": st.sampled_from(
            ["none", "auto", "required", {"type": "function", "function": {"name": "lookup"}}]
        ),
        "parallel_tool_calls": st.booleans(),
        "response_format": st.sampled_from(
            [
                {"type": "text"},
                {"type": "json_object"},
                {
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": PARAMS, "strict": True},
                },
            ]
        ),
        "logprobs": st.booleans(),
        "top_logprobs": st.integers(0, 20),
        "fallbacks": st.lists(st.sampled_from(MODELS), max_size=2),
        "prompt_cache_key": st.text(max_size=10),
        "frequency_penalty": st.floats(-2, 2),
        "presence_penalty": st.floats(-2, 2),
        "unknown_field": json_any,
    },
)

# Where a hostile value goes: a top-level key, or a path inside one ("*" = index 0).
PATHS: list[tuple[Any, ...]] = [
    (key,)
    for key in (
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "stop",
        "seed",
        "user",
        "metadata",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "logprobs",
        "top_logprobs",
        "fallbacks",
        "prompt_cache_key",
    )
] + [
    ("messages", 0),
    ("messages", 0, "role"),
    ("messages", 0, "content"),
    ("messages", 0, "name"),
    ("messages", 0, "tool_calls"),
    ("messages", 0, "tool_call_id"),
    ("messages", 0, "content", 0),
    ("messages", 0, "content", 0, "type"),
    ("messages", 0, "content", 0, "text"),
    ("messages", 0, "content", 0, "image_url"),
    ("messages", 0, "tool_calls", 0),
    ("messages", 0, "tool_calls", 0, "function"),
    ("messages", 0, "tool_calls", 0, "function", "arguments"),
    ("tools", 0),
    ("tools", 0, "type"),
    ("tools", 0, "function"),
    ("tools", 0, "function", "name"),
    ("tools", 0, "function", "parameters"),
    ("tools", 0, "function", "description"),
    ("tool_choice", "function"),
    ("tool_choice", "function", "name"),
    ("response_format", "type"),
    ("response_format", "json_schema"),
    ("response_format", "json_schema", "name"),
    ("response_format", "json_schema", "schema"),
    ("response_format", "json_schema", "strict"),
    ("stream_options", "include_usage"),
]


def set_path(body: dict[str, Any], path: tuple[Any, ...], value: object) -> dict[str, Any]:
    """Put `value` at `path`, making the containers on the way (a list index makes a list)."""
    node: Any = body
    for key, nxt in zip(path, path[1:], strict=False):
        fresh: Any = [] if isinstance(nxt, int) else {}
        if isinstance(node, list):
            while len(node) <= key:
                node.append(fresh)
            if not isinstance(node[key], list | dict) or (
                isinstance(nxt, int) != isinstance(node[key], list)
            ):
                node[key] = fresh  # (`tools: [[]]` holds a list where a key goes)
            node = node[key]
        else:
            if not isinstance(node.get(key), list | dict) or (
                isinstance(nxt, int) != isinstance(node.get(key), list)
            ):
                node[key] = fresh
            node = node[key]
    last = path[-1]
    if isinstance(node, list):
        while len(node) <= last:
            node.append(None)
    node[last] = value
    return body


near_valid = st.builds(
    lambda body, path, value: set_path(body, path, value),
    valid_request,
    st.sampled_from(PATHS),
    hostile,
)

# JSON Schema keywords with values from sane to hostile (response_format, tool parameters).
SCHEMA_NUMBERS = st.one_of(st.integers(-5, 50), st.sampled_from(HUGE_NUMBERS), st.floats(-10, 10))
schema_keywords = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            [
                "string",
                "integer",
                "number",
                "array",
                "object",
                "boolean",
                "null",
                ["string", "null"],
                5,
                [],
            ]
        ),
        "minimum": SCHEMA_NUMBERS,
        "maximum": SCHEMA_NUMBERS,
        "exclusiveMinimum": SCHEMA_NUMBERS,
        "multipleOf": SCHEMA_NUMBERS,
        "minLength": SCHEMA_NUMBERS,
        "maxLength": SCHEMA_NUMBERS,
        "minItems": SCHEMA_NUMBERS,
        "maxItems": SCHEMA_NUMBERS,
        "minProperties": SCHEMA_NUMBERS,
        "uniqueItems": st.booleans(),
        "pattern": st.sampled_from(["^[a-z]+$", "(a+)+$", "([", "\\d{3,5}", "(?=.*x)y"]),
        "format": st.sampled_from(["email", "date-time", "uuid", "ipv4", "nope"]),
        "enum": st.lists(json_leaf, max_size=3),
        "const": json_leaf,
        "$ref": st.sampled_from(["#", "#/$defs/a", "#/definitions/b", "http://x/y", 5]),
        "$defs": st.just({"a": {"$ref": "#/$defs/a"}}),
        "required": st.one_of(st.lists(st.text(max_size=4), max_size=3), hostile),
        "additionalProperties": st.one_of(st.booleans(), st.just({"type": "string"})),
    },
)
schemas = st.recursive(
    schema_keywords,
    lambda inner: st.one_of(
        st.builds(
            lambda s, p: {**s, "type": "object", "properties": p},
            schema_keywords,
            st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3),
        ),
        st.builds(lambda s, i: {**s, "type": "array", "items": i}, schema_keywords, inner),
        st.builds(lambda s, a: {**s, "anyOf": a}, schema_keywords, st.lists(inner, max_size=3)),
        st.builds(lambda s, a: {**s, "allOf": a}, schema_keywords, st.lists(inner, max_size=3)),
    ),
    max_leaves=6,
)

VALID_TEXT = encode(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 1}
)


@st.composite
def raw_body(draw: st.DrawFn) -> bytes:
    """Body bytes that are not (quite) JSON, or JSON with something only raw text can say."""
    kind = draw(st.sampled_from(["nan", "dup", "utf8", "cut", "binary", "splice"]))
    if kind == "nan":
        token = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"nan", b"1e400", b"-0"]))
        key = draw(st.sampled_from([b"temperature", b"n", b"seed", b"max_tokens", b"top_p"]))
        return VALID_TEXT[:-1] + b', "' + key + b'": ' + token + b"}"
    if kind == "dup":
        key = draw(st.sampled_from([b"model", b"messages", b"stream", b"n"]))
        value = draw(st.sampled_from([b"5", b"null", b'"gpt-4o"', b"[]", b"true", b"{}"]))
        first, second = (value, b"1") if draw(st.booleans()) else (b"1", value)
        return (
            b'{"'
            + key
            + b'": '
            + first
            + b", "
            + VALID_TEXT[1:-1]
            + b', "'
            + key
            + b'": '
            + second
            + b"}"
        )
    if kind == "utf8":
        junk = draw(st.binary(min_size=1, max_size=8).filter(lambda b: not _is_utf8(b)))
        return VALID_TEXT.replace(b'"hi"', b'"h' + junk.replace(b'"', b"") + b'"')
    if kind == "cut":
        return VALID_TEXT[: draw(st.integers(0, len(VALID_TEXT) - 1))]
    if kind == "splice":
        at = draw(st.integers(0, len(VALID_TEXT)))
        return VALID_TEXT[:at] + draw(st.binary(max_size=6)) + VALID_TEXT[at:]
    return draw(st.binary(max_size=64))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- generated requests ---------------------------------------------------------------------


@fuzz(60)
@given(body=valid_request)
def test_valid_requests_are_answered(server: Target, body: dict[str, Any]) -> None:
    response = server.chat(encode(body))
    assert_answer(response, body)


@fuzz(120)
@given(body=near_valid)
def test_a_wrong_value_anywhere_is_a_4xx_naming_it(server: Target, body: dict[str, Any]) -> None:
    response = server.chat(encode(body))
    assert_answer(response, body)


@fuzz(80)
@given(body=raw_body())
def test_bodies_that_are_not_json_are_refused_cleanly(server: Target, body: bytes) -> None:
    response = server.chat(body)
    assert_answer(response, body)


@fuzz(50)
@given(schema=schemas, where=st.sampled_from(["response_format", "tool"]))
def test_hostile_json_schemas_in_requests(server: Target, schema: Any, where: str) -> None:
    messages = [{"role": "user", "content": "answer in json"}]
    if where == "response_format":
        body: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": schema},
            },
        }
    else:
        tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
        body = {
            "model": "gpt-4o-mini",
            "messages": messages,
            "tools": [tool],
            "tool_choice": "required",
        }
    assert_answer(server.chat(encode(body)), body)


# --- named hostile inputs -----------------------------------------------------------------

MSG = [{"role": "user", "content": "hi"}]


def with_fields(**fields: Any) -> bytes:
    return encode({"model": "gpt-4o-mini", "messages": MSG, **fields})


def nested(depth: int, leaf: str = "1") -> str:
    return '{"a": ' * depth + leaf + "}" * depth


def schema_request(schema: dict[str, Any]) -> bytes:
    return with_fields(
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    )


NAMED: dict[str, Callable[[], bytes]] = {
    "empty body": lambda: b"",
    "whitespace": lambda: b" \r\n\t ",
    "null": lambda: b"null",
    "array": lambda: b"[]",
    "number": lambda: b"1",
    "string": lambda: b'"hello"',
    "BOM": lambda: b"\xef\xbb\xbf" + with_fields(),
    "2**70 max_tokens": lambda: with_fields(max_tokens=2**70),
    "-2**70 n": lambda: with_fields(n=-(2**70)),
    "2**70 seed": lambda: with_fields(seed=2**70),
    "2**64 seed": lambda: with_fields(seed=2**64),
    "-2**63-1 seed": lambda: with_fields(seed=-(2**63) - 1),
    "1e308 temperature": lambda: with_fields(temperature=1e308),
    "1e308 max_tokens": lambda: with_fields(max_tokens=1e308),
    "2**70 top_logprobs": lambda: with_fields(logprobs=True, top_logprobs=2**70),
    "NaN token": lambda: with_fields()[:-1] + b', "temperature": NaN}',
    "Infinity token": lambda: with_fields()[:-1] + b', "top_p": Infinity}',
    "-Infinity token": lambda: with_fields()[:-1] + b', "seed": -Infinity}',
    "negative n": lambda: with_fields(n=-1),
    "n zero": lambda: with_fields(n=0),
    "n over the limit": lambda: with_fields(n=129),
    "max_tokens 0": lambda: with_fields(max_tokens=0),
    "max_completion_tokens 0": lambda: with_fields(max_completion_tokens=0),
    "2000 levels in metadata": lambda: (
        with_fields()[:-1] + b', "metadata": ' + nested(2000).encode() + b"}"
    ),
    "2000 levels in content": lambda: (
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": '
        + ("[" * 2000 + "]" * 2000).encode()
        + b"}]}"
    ),
    "2000 levels of arrays": lambda: b"[" * 2000 + b"]" * 2000,
    "500 levels of schema nesting": lambda: schema_request(
        json.loads(nested(500, "{}").replace('"a"', '"not"'))
    ),
    "duplicate model keys": lambda: (
        b'{"model": 5, "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    ),
    "duplicate messages keys": lambda: (
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "messages": 7}'
    ),
    "invalid utf-8": lambda: with_fields().replace(b'"hi"', b'"h\xff\xfe\xc3"'),
    "lone surrogate escape": lambda: with_fields().replace(b'"hi"', b'"\\ud800"'),
    "NUL in model": lambda: encode({"model": "gpt-\x00", "messages": MSG}),
    "5000 messages": lambda: encode({"model": "gpt-4o-mini", "messages": MSG * 5000}),
    "5000 stop words": lambda: with_fields(stop=["x"] * 5000),
    "5000 tools": lambda: with_fields(tools=[TOOL] * 5000),
    "odd content parts": lambda: encode(
        {
            "model": "gpt-4o-mini",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": "not-an-object"},
                        {"type": "text"},
                        {"type": 5},
                        {"type": "input_audio", "input_audio": {"data": 5, "format": []}},
                        {},
                        None,
                        "text",
                    ],
                }
            ],
        }
    ),
    "empty content parts": lambda: encode(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": []}]}
    ),
    "tool message without id": lambda: encode(
        {"model": "gpt-4o-mini", "messages": [{"role": "tool", "content": "x"}]}
    ),
    "tool_choice names no tool": lambda: with_fields(
        tool_choice={"type": "function", "function": {"name": "x"}}
    ),
    "stream_options without stream": lambda: with_fields(stream_options={"include_usage": True}),
    "schema: minItems 10**8": lambda: schema_request({"type": "array", "minItems": 10**8}),
    "schema: minLength 10**9": lambda: schema_request({"type": "string", "minLength": 10**9}),
    "schema: minProperties 10**8": lambda: schema_request(
        {"type": "object", "minProperties": 10**8}
    ),
    "schema: integer between 1e308 and -1e308": lambda: schema_request(
        {"type": "integer", "minimum": 1e308, "maximum": -1e308}
    ),
    "schema: integer minimum 2**70": lambda: schema_request({"type": "integer", "minimum": 2**70}),
    "schema: $ref to itself": lambda: schema_request({"$ref": "#"}),
    "schema: required self reference": lambda: schema_request(
        {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]}
    ),
    "schema: catastrophic pattern": lambda: schema_request({"type": "string", "pattern": "(a+)+$"}),
    "tool schema: minItems 10**9": lambda: with_fields(
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "parameters": {
                        "type": "object",
                        "properties": {"a": {"type": "array", "minItems": 10**9}},
                        "required": ["a"],
                    },
                },
            }
        ],
        tool_choice="required",
    ),
    "n 128 with logprobs": lambda: with_fields(
        n=128, logprobs=True, top_logprobs=20, max_tokens=200
    ),
    "backtracking text against (a+)+$": lambda: encode(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a" * 5000 + "!"}]}
    ),
}


@pytest.mark.parametrize("name", list(NAMED))
def test_named_hostile_bodies(server: Target, name: str) -> None:
    body = NAMED[name]()
    response = server.chat(body)
    assert_answer(response, name)


def test_wrong_value_kinds_name_the_field(server: Target) -> None:
    for key, value in [
        ("model", 5),
        ("messages", {}),
        ("stream", "yes"),
        ("n", "2"),
        ("tools", {}),
        ("response_format", []),
        ("stream_options", 1),
    ]:
        response = server.chat(with_fields(**{key: value}))
        assert response.status_code == 400, (key, response.text)
        assert response.json()["error"]["param"] == key, (key, response.text)


def test_ten_megabyte_string_is_refused_with_413(server: Target) -> None:
    body = with_fields(user="x" * (10 * 1024 * 1024))
    response = server.chat(body)
    assert response.status_code == 413, response.text[:300]
    assert_error_shape(response)
    assert server.chat(with_fields()).status_code == 200


def test_a_body_just_under_the_limit_is_answered(server: Target) -> None:
    # The prompt must still fit the model's context window (a longer one gets the real
    # API's context-length 400): mostly whitespace, which counts as one token.
    filler = "word" + " " * (MAX_BODY - 4096)
    response = server.chat(
        encode({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": filler}]})
    )
    assert_answer(response, "just under 8 MiB")
    assert response.status_code == 200


def test_chunked_bodies(server: Target) -> None:
    body = with_fields(stream=True)

    def pieces(data: bytes, size: int) -> Iterator[bytes]:
        for i in range(0, len(data), size):
            yield data[i : i + size]

    response = server.send(
        "POST", CHAT, content=pieces(body, 7), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200 and response.text.rstrip().endswith("data: [DONE]")
    big = with_fields(user="y" * (MAX_BODY + 10))
    response = server.send(
        "POST", CHAT, content=pieces(big, 256 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text[:300]
    assert_error_shape(response)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "",
        "application/xml",
    ],
)
def test_wrong_content_types(server: Target, content_type: str) -> None:
    response = server.send(
        "POST", CHAT, content=with_fields(), headers={"content-type": content_type}
    )
    assert_answer(response, content_type)
    form = server.send("POST", CHAT, data={"model": "gpt-4o-mini"})
    assert_answer(form, "form body")
    assert form.status_code == 400


def test_wrong_methods_and_paths(server: Target) -> None:
    for method, path in [
        ("GET", CHAT),
        ("PUT", CHAT),
        ("DELETE", CHAT),
        ("POST", "/v1/models"),
        ("GET", "/v1/models/" + "x" * 5000),
        ("GET", "/v1/models/%00%ff"),
        ("GET", "/v1/nothing"),
        ("POST", "/__admin/health"),
        ("PATCH", "/__admin/rules"),
        ("GET", "/__admin/" + "../" * 20),
    ]:
        assert_answer(server.send(method, path), f"{method} {path}")


def test_hostile_headers(server: Target) -> None:
    headers: dict[str, Any]
    for headers in [
        {"authorization": "Bearer " + "k" * 60_000},
        {"authorization": "Basic Zm9vOmJhcg=="},
        {"x-ai-provider": "p" * 8000},
        {"x-api-key": "k" * 8000, "api-key": ""},
        {"x-mockllm-cassette": "../../etc/x"},
        {"x-mockllm-cassette": "/etc/passwd"},
        {"x-mockllm-cassette": "a" * 300},
        {"x-mockllm-cassette": "a/" * 2000 + "x"},
        {"x-mockllm-cassette": "é/ü x".encode()},
        {"content-encoding": "gzip"},
        {"expect": "100-continue"},
    ]:
        assert_answer(server.chat(with_fields(), headers=headers), headers)


def test_garbage_on_the_wire_does_not_take_the_server_down(server: Target) -> None:
    """Protocol-level garbage is uvicorn's to refuse; the server must stay up and fast."""
    assert server.server is not None
    garbage = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 200_000 + b"\r\n\r\n",
        b"\r\n" * 1000,
        b"POST " + b"/" * 70_000 + b" HTTP/1.1\r\n\r\n",
    ]
    for data in garbage:
        with socket.create_connection(("127.0.0.1", server.server.port), timeout=5) as sock:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                reply = sock.recv(65536)
            except OSError:
                reply = b""
        assert not reply.startswith(b"HTTP/1.1 5"), (data[:60], reply[:200])
    health = httpx.get(f"{server.url}/__admin/health", timeout=2)
    assert health.status_code == 200


# --- the admin API --------------------------------------------------------------------------

BOMB = "\n".join(
    ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    + ["rules: *a9"]
)
yaml_ish = st.text(
    alphabet=st.sampled_from(list("rules:-{}[]&*!|>'\"#\n aNx0.?,%@`")), max_size=200
)


def _admin_rules(server: Target, body: bytes, content_type: str) -> httpx.Response:
    response = server.send(
        "POST", "/__admin/rules", content=body, headers={"content-type": content_type}
    )
    try:  # a 500 closes the connection: clean up on a fresh one
        httpx.delete(f"{server.url}/__admin/rules", timeout=CLIENT_TIMEOUT_S)
    except httpx.HTTPError:
        pass  # the server is down; the next test restarts it and the last test reports it
    return response


@fuzz(60)
@given(
    body=st.one_of(yaml_ish.map(str.encode), st.binary(max_size=200), json_any.map(encode)),
    content_type=st.sampled_from(["application/yaml", "application/json", "text/plain"]),
)
def test_admin_rules_garbage(server: Target, body: bytes, content_type: str) -> None:
    response = _admin_rules(server, body, content_type)
    assert_answer(response, body)
    assert response.status_code in (201, 400, 413), (response.status_code, body)


@pytest.mark.parametrize(
    "name",
    [
        "billion laughs",
        "deep flow nesting",
        "deep block nesting",
        "over the size limit",
        "python tag",
        "merge key loop",
        "huge anchor fan-out",
        "a path, not a document",
        "non-finite latency",
        "binary tag",
    ],
)
def test_admin_rules_hostile_documents(server: Target, name: str) -> None:
    doc = {
        "billion laughs": BOMB,
        "deep flow nesting": "rules: " + "[" * 2000 + "]" * 2000,
        "deep block nesting": "rules:\n" + "".join("  " * i + "- \n" for i in range(1, 300)),
        "over the size limit": "rules:\n" + "  - {reply: {content: x}}\n" * 200_000,
        "python tag": "rules: !!python/object/apply:os.system ['true']",
        "merge key loop": "a: &a {<<: *a}\nrules: []",
        "huge anchor fan-out": "x: &x "
        + "y" * 100_000
        + "\nrules: ["
        + ", ".join(["*x"] * 2000)
        + "]",
        "a path, not a document": "/etc/passwd",
        "non-finite latency": "rules: [{reply: {content: x, latency: {ttft_ms: .inf}}}]",
        "binary tag": "rules: [{reply: {content: !!binary aGk=}}]",
    }[name]
    response = _admin_rules(server, doc.encode(), "application/yaml")
    assert_answer(response, name)
    assert response.status_code in (400, 413), (name, response.status_code, response.text[:300])
    assert server.chat(with_fields()).status_code == 200


HOSTILE_NAMES = [
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    "a\x00b",
    "a\\..\\b",
    "C:/x",
    "",
    " ",
    ".",
    "..",
    "a/",
    "a" * 300,
    "a/" * 2000 + "x",
    "\udcff",
    "\n",
    "~/x",
    "%2e%2e/x",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[repr(n)[:24] for n in HOSTILE_NAMES])
def test_admin_cassette_hostile_names(server: Target, name: str) -> None:
    body = json.dumps({"name": name}).encode()
    response = server.send(
        "PUT", "/__admin/cassette", content=body, headers={"content-type": "application/json"}
    )
    try:
        assert_answer(response, name)
        if ".." in name.split("/") or name.startswith("/"):
            assert response.status_code == 400, response.text
        if response.status_code == 200:  # a name it took must not break the next request
            assert_answer(server.chat(with_fields()), f"chat after cassette {name!r}")
    finally:
        server.send("DELETE", "/__admin/cassette")


@fuzz(40)
@given(
    body=st.one_of(
        json_any.map(lambda v: encode({"name": v})), json_any.map(encode), st.binary(max_size=40)
    )
)
def test_admin_cassette_garbage(server: Target, body: bytes) -> None:
    response = server.send(
        "PUT", "/__admin/cassette", content=body, headers={"content-type": "application/json"}
    )
    try:
        assert_answer(response, body)
    finally:
        server.send("DELETE", "/__admin/cassette")


def test_other_admin_endpoints_with_bodies_and_queries(server: Target) -> None:
    for method, path, body in [
        ("POST", "/__admin/reset", b"\xff" * 100),
        ("DELETE", "/__admin/requests", b"[1,2"),
        ("GET", "/__admin/requests?status=%ff&rule=" + "x" * 5000, b""),
        ("GET", "/__admin/requests?model=a&model=b&unknown=1", b""),
    ]:
        assert_answer(server.send(method, path, content=body), (method, path))


# --- the other families ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [{}, {"stream": True}, {"background": True, "store": True}],
    ids=["whole", "stream", "background"],
)
def test_a_conversation_held_elsewhere_is_continued(server: Target, extra: dict[str, Any]) -> None:
    """Under --cassettes a conversation the store does not hold reads as no earlier turns (an
    upstream may hold it): the turn is answered, not a 500 when its items are added."""
    body = {"model": "gpt-4o-mini", "input": "hi", "conversation": "conv_elsewhere", **extra}
    response = server.send(
        "POST", "/v1/responses", content=encode(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_wrong_method_on_the_messages_paths_is_answered_in_its_shape(
    server: Target, method: str, path: str
) -> None:
    """Without anthropic-version too: the path says which family the client speaks."""
    response = server.send(method, path)
    assert response.status_code == 405, response.text[:300]
    body = response.json()
    assert body["type"] == "error" and body["request_id"], body
    assert body["error"]["type"] == "invalid_request_error", body
    assert f"{method} {path}" in body["error"]["message"], body


def test_the_server_was_never_restarted(target: Target) -> None:
    """Runs last: every earlier request left the server answering (no restart needed)."""
    target.ensure()
    assert target.restarts == 0, f"the server had to be restarted {target.restarts} time(s)"
    assert "Traceback" not in target.log(), target.log()[-4000:]
