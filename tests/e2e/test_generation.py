"""The default generator (no rules): structured output, forced tool calls, language,
length, logprobs, `n` and determinism, through a real server."""

from __future__ import annotations

import datetime as dt
import json
import re
import string
import uuid
from concurrent.futures import ThreadPoolExecutor
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from openai import OpenAI
from pydantic import BaseModel, Field

from ..conftest import start_server
from .helpers import (
    FROZEN,
    check_chunk,
    check_completion,
    check_error,
    content_deltas,
    journal,
    make_chat_request,
    post_chat,
    stream_chunks,
)

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    # jsonschema checks date-time only with rfc3339-validator installed; this is RFC 3339's
    # shape: a full date, "T", a time and an offset (Z or +hh:mm).
    if not isinstance(value, str):
        return True
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", value
    ):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


def assert_valid(instance: Any, schema: dict[str, Any]) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in Draft202012Validator(schema, format_checker=FORMATS).iter_errors(instance)
    ]
    assert not errors, f"{json.dumps(instance)}\n" + "\n".join(errors)


@pytest.fixture(scope="module")
def gen_server(tmp_path_factory):
    """No scenarios: every answer is the default generator's. `--lenient`: these tests are
    about what is generated, and some of their schemas (pydantic `dict` fields, string
    lengths) are ones the real API refuses in strict mode (tests/e2e/test_parity.py)."""
    tmp = tmp_path_factory.mktemp("generation")
    server = start_server("--seed", "11", "--freeze-time", str(FROZEN), "--lenient", tmp_path=tmp)
    yield server
    server.stop()


_clients: dict[str, OpenAI] = {}


@pytest.fixture(scope="module", autouse=True)
def _close_clients():
    yield
    for client in _clients.values():
        client.close()
    _clients.clear()


def client_for(server) -> OpenAI:
    """One SDK client per server, closed when the module's tests are done."""
    client = _clients.get(server.base_url)
    if client is None:
        client = _clients[server.base_url] = OpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0
        )
    return client


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def sent_request(server, prompt: str) -> dict[str, Any]:
    """The body the server received for the (unique) prompt, from the journal."""
    found = [
        e["request"]
        for e in journal(server.url)
        if isinstance(e["request"], dict) and e["request"].get("messages") == user(prompt)
    ]
    assert found, f"no journal entry for {prompt!r}"
    return found[-1]  # type: ignore[no-any-return]


# --- structured output: chat.completions.parse --------------------------------------------


class Tier(StrEnum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class EventKind(IntEnum):
    MEETING = 1
    CALL = 2
    TRIP = 3


class Money(BaseModel):
    amount: Annotated[float, Field(ge=0, le=10_000)]
    currency: Literal["EUR", "USD", "JPY"]


class InvoiceLine(BaseModel):
    sku: Annotated[str, Field(pattern=r"^[A-Z]{3}-\d{4}$")]
    quantity: Annotated[int, Field(ge=1, le=99)]
    price: Money
    note: str | None


class Customer(BaseModel):
    name: Annotated[str, Field(min_length=2, max_length=40)]
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
    tier: Tier | None


class Invoice(BaseModel):
    number: Annotated[str, Field(pattern=r"^INV-[0-9]{6}$")]
    issued_at: dt.datetime
    due: dt.date
    customer: Customer
    lines: Annotated[list[InvoiceLine], Field(min_length=1, max_length=5)]
    totals_by_currency: dict[str, int]
    status: Literal["draft", "sent", "paid"]


class Location(BaseModel):
    city: str
    country_code: Annotated[str, Field(min_length=2, max_length=2)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class Attendee(BaseModel):
    name: str
    optional: bool
    role: Literal["host", "guest"] | None


class Event(BaseModel):
    title: Annotated[str, Field(min_length=3, max_length=60)]
    kind: EventKind
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    attendees: Annotated[list[Attendee], Field(max_length=3)]
    where: Location | None


class Schedule(BaseModel):
    owner: str
    week: Annotated[int, Field(ge=1, le=53)]
    events: list[Event]


class Category(BaseModel):
    """Recursive: the schema refers to itself through $defs."""

    name: Annotated[str, Field(min_length=1, max_length=30)]
    slug: Annotated[str, Field(pattern=r"^[a-z]+(-[a-z]+)*$")]
    children: list[Category]


class Product(BaseModel):
    title: str
    price: Annotated[float, Field(gt=0, le=999.99)]
    stock: Annotated[int, Field(ge=0, le=10_000)]
    tags: Annotated[list[str], Field(min_length=1, max_length=4)]
    category: Category


class Catalog(BaseModel):
    products: Annotated[list[Product], Field(min_length=1, max_length=3)]
    counts: dict[str, int]


class TextAnswer(BaseModel):
    kind: Literal["text"]
    text: Annotated[str, Field(max_length=80)]


class ScaleAnswer(BaseModel):
    kind: Literal["scale"]
    value: Annotated[int, Field(ge=1, le=10)]


class ChoiceAnswer(BaseModel):
    kind: Literal["choice"]
    picked: list[Literal["a", "b", "c", "d"]]


class Survey(BaseModel):
    respondent: uuid.UUID
    submitted: dt.date
    answers: list[Annotated[TextAnswer | ScaleAnswer | ChoiceAnswer, Field(discriminator="kind")]]
    comment: Annotated[str, Field(max_length=140)] | None


class Settings(BaseModel):
    theme: Literal["light", "dark", "system"]
    notifications: bool
    volume: Annotated[int, Field(ge=0, le=100)]


class Profile(BaseModel):
    id: uuid.UUID
    username: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{2,15}$")]
    age: Annotated[int, Field(ge=13, le=120)]
    homepage: str | None
    created: dt.datetime
    birthday: dt.date | None
    scores: dict[str, int]
    tier: Tier
    settings: Settings
    rating: Annotated[float, Field(ge=0.0, le=5.0)]


RICH_MODELS = [Invoice, Schedule, Catalog, Survey, Profile]


@pytest.mark.parametrize("model", RICH_MODELS, ids=[m.__name__ for m in RICH_MODELS])
def test_parse_rich_models(gen_server, model):
    client = client_for(gen_server)
    for attempt in range(3):  # three prompts: three different instances
        prompt = f"Invent a {model.__name__.lower()} (variant {attempt})."
        completion = client.chat.completions.parse(
            model="gpt-4o-2024-08-06", messages=user(prompt), response_format=model
        )
        choice = completion.choices[0]
        assert choice.finish_reason == "stop"
        assert isinstance(choice.message.parsed, model), choice.message.content
        form = sent_request(gen_server, prompt)["response_format"]
        assert form["type"] == "json_schema" and form["json_schema"]["strict"] is True
        assert_valid(json.loads(choice.message.content), form["json_schema"]["schema"])


def test_parse_streamed_structured_output(gen_server):
    prompt = "Stream an invoice."
    with client_for(gen_server).chat.completions.stream(
        model="gpt-4o-2024-08-06", messages=user(prompt), response_format=Invoice
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert len(deltas) > 5
    message = final.choices[0].message
    assert isinstance(message.parsed, Invoice)
    assert "".join(deltas) == message.content


STRICT_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "population": {"type": "integer", "minimum": 0},
        "founded": {"type": ["string", "null"], "format": "date"},
        "districts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "kind": {"type": "string", "enum": ["urban", "suburban", "rural"]},
                },
                "required": ["name", "kind"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["city", "population", "founded", "districts"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_strict_json_schema_by_hand(gen_server, stream):
    body = make_chat_request(
        "Describe a city.",
        model="gpt-4o",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "strict": True, "schema": STRICT_SCHEMA},
        },
    )
    if stream:
        _, _, chunks = stream_chunks(gen_server.base_url, body)
        text = "".join(content_deltas(chunks))
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    else:
        response = post_chat(gen_server.base_url, body)
        assert response.status_code == 200, response.text
        text = check_completion(response.json()).choices[0].message.content
    assert_valid(json.loads(text), STRICT_SCHEMA)


# --- forced tool calls ------------------------------------------------------------------------


def tool(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": f"The {name} tool.", "parameters": parameters},
    }


BOOK_FLIGHT = tool(
    "book_flight",
    {
        "type": "object",
        "properties": {
            "origin": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "destination": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "date": {"type": "string", "format": "date"},
            "cabin": {"type": "string", "enum": ["economy", "premium", "business", "first"]},
            "passengers": {
                "type": "array",
                "minItems": 1,
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 2, "maxLength": 60},
                        "email": {"type": "string", "format": "email"},
                        "age": {"type": "integer", "minimum": 0, "maximum": 120},
                        "seat": {"type": "string", "enum": ["aisle", "window", "middle"]},
                    },
                    "required": ["name", "email", "age"],
                    "additionalProperties": False,
                },
            },
            "flexible": {"type": "boolean"},
        },
        "required": ["origin", "destination", "date", "cabin", "passengers"],
        "additionalProperties": False,
    },
)
CREATE_TICKET = tool(
    "create_ticket",
    {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "title": {"type": "string", "minLength": 5, "maxLength": 80},
            "priority": {"type": "string", "enum": ["p0", "p1", "p2", "p3"]},
            "labels": {
                "type": "array",
                "items": {"type": "string", "enum": ["bug", "feature", "docs", "infra"]},
                "maxItems": 3,
                "uniqueItems": True,
            },
            "assignee": {
                "type": "object",
                "properties": {
                    "email": {"type": "string", "format": "email"},
                    "team": {"type": "string", "enum": ["core", "web", "data"]},
                },
                "required": ["email", "team"],
                "additionalProperties": False,
            },
            "due": {"type": "string", "format": "date-time"},
            "estimate_hours": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 40,
                "multipleOf": 0.5,
            },
            "watchers": {
                "type": ["array", "null"],
                "items": {"type": "string", "format": "email"},
                "maxItems": 5,
            },
        },
        "required": ["id", "title", "priority", "labels", "assignee", "due", "estimate_hours"],
        "additionalProperties": False,
    },
)
SEARCH_PRODUCTS = tool(
    "search_products",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 50},
            "filters": {
                "type": "object",
                "properties": {
                    "price": {
                        "type": "object",
                        "properties": {
                            "min": {"type": "number", "minimum": 0, "maximum": 100},
                            "max": {"type": "number", "minimum": 100, "maximum": 10_000},
                        },
                        "required": ["min", "max"],
                        "additionalProperties": False,
                    },
                    "categories": {
                        "type": "array",
                        "items": {"enum": ["books", "garden", "toys", "tools"]},
                        "minItems": 1,
                        "maxItems": 2,
                    },
                    "in_stock": {"type": "boolean"},
                },
                "required": ["price", "categories"],
                "additionalProperties": False,
            },
            "sort": {"enum": ["relevance", "price_asc", "price_desc", "newest"]},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50},
            "page_token": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9]{8}$"},
            "ip": {"type": "string", "format": "ipv4"},
        },
        "required": ["query", "filters", "sort", "limit", "page_token"],
        "additionalProperties": False,
    },
)
RICH_TOOLS = [BOOK_FLIGHT, CREATE_TICKET, SEARCH_PRODUCTS]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in RICH_TOOLS}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_named_tool_choice_calls_that_function(gen_server, name):
    body = make_chat_request(
        "Please do the thing.",
        model="gpt-4o",
        tools=RICH_TOOLS,
        tool_choice={"type": "function", "function": {"name": name}},
        n=5,  # five choices: five argument sets to validate
    )
    response = post_chat(gen_server.base_url, body)
    assert response.status_code == 200, response.text
    completion = check_completion(response.json())
    assert len(completion.choices) == 5
    whole_calls = []
    for choice in completion.choices:
        # the API's finish reason when tool_choice names the function (vllm pull 25054)
        assert choice.finish_reason == "stop"
        assert choice.message.content is None
        calls = choice.message.tool_calls
        assert calls is not None and len(calls) == 1
        call = calls[0]
        assert call.type == "function" and call.function.name == name
        assert re.fullmatch(r"call_[A-Za-z0-9]{24}", call.id), call.id
        assert_valid(json.loads(call.function.arguments), SCHEMAS[name])
        whole_calls.append((call.id, call.function.arguments))
    assert len({c for c in whole_calls}) == 5

    # Streamed, the fragments rebuild exactly the same calls.
    _, _, chunks = stream_chunks(gen_server.base_url, body)
    streamed: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for fragment in choice["delta"].get("tool_calls") or []:
                assert fragment["index"] == 0
                if choice["index"] not in streamed:
                    assert fragment["function"]["name"] == name and fragment["id"]
                    streamed[choice["index"]] = {"id": fragment["id"], "arguments": ""}
                else:
                    assert "id" not in fragment and "name" not in fragment["function"]
                streamed[choice["index"]]["arguments"] += fragment["function"]["arguments"]
    assert [(streamed[i]["id"], streamed[i]["arguments"]) for i in range(5)] == whole_calls


@pytest.mark.parametrize("parallel", [None, True, False], ids=["default", "parallel", "serial"])
def test_required_tool_choice_with_several_tools(gen_server, parallel):
    """`required` with three tools: the default generator makes one call (to one of the
    offered tools, whatever `parallel_tool_calls` says), with valid arguments."""
    extra = {} if parallel is None else {"parallel_tool_calls": parallel}
    for prompt in ("Do something useful.", "Use a tool, any tool.", "Help me out."):
        completion = client_for(gen_server).chat.completions.create(
            model="gpt-4o", messages=user(prompt), tools=RICH_TOOLS, tool_choice="required", **extra
        )
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls
        assert calls is not None and len(calls) == 1, calls
        assert calls[0].function.name in SCHEMAS
        assert_valid(json.loads(calls[0].function.arguments), SCHEMAS[calls[0].function.name])


def test_auto_and_none_tool_choice_answer_in_text(gen_server):
    for choice_value in ("auto", "none"):
        completion = client_for(gen_server).chat.completions.create(
            model="gpt-4o", messages=user("Just chat."), tools=RICH_TOOLS, tool_choice=choice_value
        )
        assert completion.choices[0].finish_reason == "stop"
        assert not completion.choices[0].message.tool_calls
        assert completion.choices[0].message.content


WEB_SEARCH = tool(
    "duckduckgo_search",
    {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "search query to look up"}},
        "required": ["query"],
    },
)


def test_a_question_is_looked_up_with_the_search_tool_then_answered(gen_server):
    """An agent with a web search tool asks a question that shares no word with it: the
    model searches with the question, then answers with what came back (two requests)."""
    sdk = client_for(gen_server)
    messages: list[Any] = user("Who won the world cup in 2022?")
    first = sdk.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEB_SEARCH])
    (call,) = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "duckduckgo_search"
    assert json.loads(call.function.arguments) == {"query": "Who won the world cup in 2022?"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Argentina beat France on penalties."},
    ]
    second = sdk.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEB_SEARCH])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == (
        "Here is what I found. duckduckgo_search returned: Argentina beat France on penalties."
    )


def allowed(mode: str, *names: str) -> dict[str, Any]:
    tools = [{"type": "function", "function": {"name": n}} for n in names]
    return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_allowed_tools_required_calls_one_of_them(gen_server, stream):
    """`allowed_tools` with mode `required`: a call to one of the listed tools, never another."""
    client = client_for(gen_server)
    for prompt in ("Do something useful.", "Use a tool, any tool."):
        request = {
            "model": "gpt-4o",
            "messages": user(prompt),
            "tools": RICH_TOOLS,
            "tool_choice": allowed("required", "search_products"),
        }
        if stream:
            with client.chat.completions.stream(**request) as events:
                completion = events.get_final_completion()
        else:
            completion = client.chat.completions.create(**request)
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls
        assert calls is not None and len(calls) == 1
        assert calls[0].function.name == "search_products"
        assert_valid(json.loads(calls[0].function.arguments), SCHEMAS["search_products"])


def test_allowed_tools_auto_and_a_custom_tool_answer_in_text(gen_server):
    # A custom tool forced by name is called: tests/e2e/test_custom_tools.py.
    custom = {"type": "custom", "custom": {"name": "scratchpad"}}
    for tool_choice in (allowed("auto", "book_flight", "create_ticket"), "auto"):
        completion = client_for(gen_server).chat.completions.create(
            model="gpt-4o",
            messages=user("Just chat."),
            tools=[*RICH_TOOLS, custom],
            tool_choice=tool_choice,
        )
        assert completion.choices[0].finish_reason == "stop"
        assert not completion.choices[0].message.tool_calls
        assert completion.choices[0].message.content


@pytest.mark.parametrize(
    ("tool_choice", "param", "fragment"),
    [
        (allowed("required", "get_time"), "tool_choice.allowed_tools.tools[0]", "'get_time'"),
        (allowed("sometimes", "book_flight"), "tool_choice.allowed_tools.mode", "'sometimes'"),
        ({"type": "allowed_tools"}, "tool_choice.allowed_tools", "allowed_tools"),
        ({"type": "custom", "custom": {"name": "nope"}}, "tool_choice", "'nope'"),
        ({"type": "banana"}, "tool_choice.type", "'banana'"),
    ],
)
def test_bad_tool_choice_objects_are_refused_by_name(gen_server, tool_choice, param, fragment):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(gen_server).chat.completions.create(
            model="gpt-4o", messages=user("Hi."), tools=RICH_TOOLS, tool_choice=tool_choice
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == param, error
    assert fragment in error["message"], error


# --- response_format json_object --------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt", ["Reply in JSON about tides.", "请用JSON格式回答：今天天气怎么样？"], ids=["en", "zh"]
)
def test_json_object_streamed(gen_server, prompt):
    body = make_chat_request(prompt, model="gpt-4o", response_format={"type": "json_object"})
    whole = check_completion(post_chat(gen_server.base_url, body).json())
    value = json.loads(whole.choices[0].message.content)
    assert isinstance(value, dict) and value
    _, _, chunks = stream_chunks(gen_server.base_url, body)
    assert json.loads("".join(content_deltas(chunks))) == value


def test_json_mode_follows_the_keys_the_prompt_names(gen_server):
    client = OpenAI(base_url=gen_server.base_url, api_key="sk-test", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": "Invent a user. Return a JSON object with the keys name, age, "
                "email and is_admin.",
            }
        ],
        response_format={"type": "json_object"},
    )
    value = json.loads(completion.choices[0].message.content or "")
    assert list(value) == ["name", "age", "email", "is_admin"]
    assert isinstance(value["age"], int) and isinstance(value["is_admin"], bool)
    assert "@" in value["email"] and " " in value["name"]


def test_json_object_needs_the_word_json(gen_server):
    body = make_chat_request("Reply about tides.", response_format={"type": "json_object"})
    error = check_error(post_chat(gen_server.base_url, body), 400)
    assert error["param"] == "messages"


# --- language ---------------------------------------------------------------------------------

HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
KANA = re.compile("[\u3040-\u30ff]")
HANGUL = re.compile("[\uac00-\ud7af]")


def letters(text: str) -> list[str]:
    return [ch for ch in text if ch.isalpha()]


def answer(server, prompt: str, **fields: Any) -> str:
    response = post_chat(server.base_url, make_chat_request(prompt, model="gpt-4o", **fields))
    assert response.status_code == 200, response.text
    return check_completion(response.json()).choices[0].message.content


@pytest.mark.parametrize(
    "prompt",
    ["请介绍一下长城的历史。", "你今天过得怎么样？给我讲个故事吧。", "北京有哪些好吃的？"],
)
def test_chinese_prompt_gets_chinese(gen_server, prompt):
    text = answer(gen_server, prompt)
    chars = letters(text)
    han = [ch for ch in chars if HAN.match(ch)]
    assert len(han) >= 20 and len(han) / len(chars) >= 0.9, text
    assert "。" in text


@pytest.mark.parametrize(
    "prompt", ["日本の首都について教えてください。", "おすすめの本はありますか？"]
)
def test_japanese_prompt_gets_kana(gen_server, prompt):
    text = answer(gen_server, prompt)
    chars = letters(text)
    kana = [ch for ch in chars if KANA.match(ch)]
    cjk = [ch for ch in chars if KANA.match(ch) or HAN.match(ch)]
    assert len(kana) >= 10, text
    assert len(cjk) / len(chars) >= 0.8, text


def test_korean_prompt_gets_hangul(gen_server):
    text = answer(gen_server, "한국의 수도에 대해 알려주세요.")
    chars = letters(text)
    assert sum(1 for ch in chars if HANGUL.match(ch)) / len(chars) >= 0.8, text


@pytest.mark.parametrize("prompt", ["Tell me about bread.", "What should I cook tonight?"])
def test_english_prompt_gets_latin(gen_server, prompt):
    text = answer(gen_server, prompt)
    chars = letters(text)
    assert len(chars) >= 50
    assert all(ch in string.ascii_letters for ch in chars), text


def _faker_words(locale: str) -> set[str]:
    """The words faker writes text of `locale` with (its lorem list, else its company
    catch phrases' words, which read as the language where faker's lorem is Latin)."""
    from faker import Faker

    generator = Faker(locale)
    provider = next(p for p in generator.providers if hasattr(p, "catch_phrase_words"))
    lorem = next(p for p in generator.providers if hasattr(p, "word_list"))
    words = set(lorem.word_list) if type(lorem).__module__.split(".")[-1] != "la" else set()
    words |= {w for group in provider.catch_phrase_words for w in group}
    return {w.lower() for w in words}


@pytest.mark.parametrize(
    ("prompt", "locale"),
    [
        ("¿Qué tiempo hace hoy en Madrid? Dime la verdad.", "es_ES"),
        ("Bonjour, quelle est la météo à Paris aujourd'hui ?", "fr_FR"),
        ("Wie ist das Wetter heute in München? Ich möchte es wissen.", "de_DE"),
        ("Ciao, che tempo fa oggi a Roma? È bello?", "it_IT"),
        ("Jaka jest dzisiaj pogoda w Krakowie? Proszę powiedz mi.", "pl_PL"),
        ("Jaké je dnes počasí v Praze? Prosím, řekni mi to.", "cs_CZ"),
        ("Hvordan er vejret i København i dag? Jeg vil gerne vide det.", "da_DK"),
        ("Thời tiết hôm nay ở Hà Nội thế nào? Xin cảm ơn bạn.", "vi_VN"),
        ("Hoe is het weer vandaag in Amsterdam? Ik wil het graag weten.", "nl_NL"),
        # Written without accents, as chat often is: told by its words all the same.
        ("Dime el tiempo en Madrid por favor", "es_ES"),
        ("Qual e il tempo a Roma oggi? Grazie per la risposta", "it_IT"),
    ],
)
def test_a_prompt_in_latin_letters_gets_text_in_its_language(gen_server, prompt, locale):
    text = answer(gen_server, prompt)
    words = re.findall(r"[^\W\d_]+", text.lower())
    known = _faker_words(locale)
    assert len(words) >= 20, text
    assert sum(w in known for w in words) >= 0.9 * len(words), text


@pytest.mark.parametrize(
    ("system", "prompt", "locale"),
    [
        # The OpenAI Agents SDK's agents as tools: the Spanish agent's instructions.
        ("You translate the user's message to Spanish", "Hi! How are you today?", "es_ES"),
        ("You are a helpful assistant. Always respond in German.", "Tell me a story.", "de_DE"),
        ("", "Write a short poem about the sea in Italian.", "it_IT"),
    ],
)
def test_an_answer_is_in_the_language_the_prompt_asks_for(gen_server, system, prompt, locale):
    messages = [{"role": "system", "content": system}] if system else []
    body = {"model": "gpt-4o", "messages": [*messages, {"role": "user", "content": prompt}]}
    response = post_chat(gen_server.base_url, body)
    assert response.status_code == 200, response.text
    text = response.json()["choices"][0]["message"]["content"]
    words = re.findall(r"[^\W\d_]+", text.lower())
    assert len(words) >= 20, text
    assert sum(w in _faker_words(locale) for w in words) >= 0.9 * len(words), text


@pytest.mark.parametrize(
    "prompt", ["Olá, você está bem? Como está o tempo em Lisboa?", "Voce pode me ajudar? Obrigado"]
)
def test_a_portuguese_prompt_gets_neither_english_nor_latin_filler(gen_server, prompt):
    # Faker's Portuguese lorem is Latin filler; the answer is in Portuguese words.
    from faker import Faker

    english, latin = (set(Faker(loc).get_words_list()) for loc in ("en_US", "la"))
    words = re.findall(r"[^\W\d_]+", answer(gen_server, prompt).lower())
    assert len(words) >= 20, words
    assert sum(w in english or w in latin for w in words) <= 0.1 * len(words), words
    assert {"casa", "tempo", "dia", "trabalho"} & set(words) or any(
        ch in "ãçõáéêóíú" for w in words for ch in w
    ), words


@pytest.mark.parametrize(
    ("prompt", "first", "last"),
    [
        ("Какая сегодня погода в Москве?", "\u0400", "\u04ff"),
        ("ما هو الطقس اليوم في القاهرة؟", "\u0600", "\u06ff"),
        ("Τι καιρό κάνει σήμερα στην Αθήνα;", "\u0370", "\u03ff"),
        ("מה מזג האוויר היום בתל אביב?", "\u0590", "\u05ff"),
    ],
)
def test_a_prompt_in_another_script_gets_text_in_that_script(gen_server, prompt, first, last):
    chars = letters(answer(gen_server, prompt))
    assert len(chars) >= 50
    assert sum(first <= ch <= last for ch in chars) >= 0.95 * len(chars), "".join(chars)


def test_locale_flag_sets_the_language(gen_server, serve):
    french = serve("--locale", "fr_FR", "--seed", "11", "--freeze-time", str(FROZEN))
    prompt = "Tell me about bread."
    text = answer(french, prompt)
    assert text != answer(gen_server, prompt)
    chars = letters(text)
    assert all(
        ch in string.ascii_letters or ch in "àâæçéèêëîïôœùûüÿÀÂÆÇÉÈÊËÎÏÔŒÙÛÜŸ" for ch in chars
    )
    assert any(ch in "àâæçéèêëîïôœùûüÿ" for ch in text.lower()), text
    english = set(re.findall(r"[a-z]+", answer(gen_server, prompt).lower()))
    words = set(re.findall(r"[a-zàâæçéèêëîïôœùûüÿ]+", text.lower()))
    assert len(words & english) <= len(words) // 4, (words & english, text)


# --- length -----------------------------------------------------------------------------------


def test_no_max_tokens_gives_a_paragraph(gen_server):
    for prompt in ("Tell me about bread.", "Describe a harbour at dawn.", "What is a comet?"):
        response = post_chat(gen_server.base_url, make_chat_request(prompt, model="gpt-4o"))
        completion = check_completion(response.json())
        choice = completion.choices[0]
        text = choice.message.content
        assert choice.finish_reason == "stop"
        words = text.split()
        assert 20 <= len(words) <= 120, text
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
        assert len(sentences) >= 2, text
        assert all(s[0].isupper() and s[-1] in ".!?" for s in sentences), text
        assert "  " not in text and text == text.strip()
        assert completion.usage.completion_tokens >= len(words)


@pytest.mark.parametrize("limit", [1, 4, 16, 40, 500])
@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_bounds_the_answer(gen_server, limit, field):
    body = make_chat_request(
        "Tell me a long story about the sea.", model="gpt-4o", **{field: limit}
    )
    whole = check_completion(post_chat(gen_server.base_url, body).json())
    choice = whole.choices[0]
    used = whole.usage.completion_tokens
    assert 1 <= used <= limit
    if choice.finish_reason == "length":
        assert used == limit
    else:
        assert choice.finish_reason == "stop" and choice.message.content.rstrip()[-1] in ".!?"
    if limit <= 16:
        assert choice.finish_reason == "length", choice.message.content
    if limit == 500:
        assert choice.finish_reason == "stop"

    _, _, chunks = stream_chunks(
        gen_server.base_url, {**body, "stream_options": {"include_usage": True}}
    )
    deltas = content_deltas(chunks)
    assert "".join(deltas) == choice.message.content
    assert chunks[-1]["usage"]["completion_tokens"] == used == len(deltas)
    assert chunks[-2]["choices"][0]["finish_reason"] == choice.finish_reason


# --- logprobs ---------------------------------------------------------------------------------


def check_token(entry: dict[str, Any], top: int) -> None:
    assert entry["logprob"] <= 0
    assert entry["bytes"] == list(entry["token"].encode())
    alternatives = entry["top_logprobs"]
    assert len(alternatives) == top, (top, entry)
    assert all(a["logprob"] <= 0 and a["bytes"] == list(a["token"].encode()) for a in alternatives)
    assert len({a["token"] for a in alternatives}) == top, alternatives


@pytest.mark.parametrize("prompt", ["Say something.", "请说点什么。"], ids=["en", "zh"])
def test_logprobs_cover_every_token(gen_server, prompt):
    body = make_chat_request(prompt, model="gpt-4o", logprobs=True, top_logprobs=3)
    whole = post_chat(gen_server.base_url, body).json()
    check_completion(whole)
    choice = whole["choices"][0]
    tokens = choice["logprobs"]["content"]
    assert "".join(t["token"] for t in tokens) == choice["message"]["content"]
    assert len(tokens) == whole["usage"]["completion_tokens"]
    for entry in tokens:
        check_token(entry, 3)

    _, _, chunks = stream_chunks(gen_server.base_url, body)
    streamed = []
    for chunk in chunks:
        delta = chunk["choices"][0] if chunk["choices"] else None
        if delta and delta["delta"].get("content"):
            part = delta["logprobs"]["content"]
            assert "".join(t["token"] for t in part) == delta["delta"]["content"]
            streamed += part
    assert streamed == tokens


def test_top_logprobs_are_sorted_most_likely_first(gen_server):
    """As the API sends them: the alternatives at a position, most likely first."""
    body = make_chat_request("Say something.", model="gpt-4o", logprobs=True, top_logprobs=5)
    tokens = post_chat(gen_server.base_url, body).json()["choices"][0]["logprobs"]["content"]
    unsorted = [
        (t["token"], [a["logprob"] for a in t["top_logprobs"]])
        for t in tokens
        if [a["logprob"] for a in t["top_logprobs"]]
        != sorted((a["logprob"] for a in t["top_logprobs"]), reverse=True)
    ]
    assert not unsorted, f"{len(unsorted)} of {len(tokens)} positions: {unsorted[:3]}"


def test_top_logprobs_20_gives_20(gen_server):
    """`top_logprobs` accepts up to 20; each position then lists 20 alternatives."""
    body = make_chat_request("Say something.", model="gpt-4o", logprobs=True, top_logprobs=20)
    response = post_chat(gen_server.base_url, body)
    assert response.status_code == 200, response.text
    tokens = response.json()["choices"][0]["logprobs"]["content"]
    counts = sorted({len(t["top_logprobs"]) for t in tokens})
    assert counts == [20], f"top_logprobs lengths seen: {counts}"


# --- n ----------------------------------------------------------------------------------------


def test_n_gives_distinct_choices(gen_server):
    body = make_chat_request("Write a line about rain.", model="gpt-4o", n=4)
    whole = check_completion(post_chat(gen_server.base_url, body).json())
    texts = [c.message.content for c in whole.choices]
    assert [c.index for c in whole.choices] == [0, 1, 2, 3]
    assert len(set(texts)) == 4 and all(texts)
    _, _, chunks = stream_chunks(
        gen_server.base_url, {**body, "stream_options": {"include_usage": True}}
    )
    assert ["".join(content_deltas(chunks, i)) for i in range(4)] == texts
    deltas = sum(len(content_deltas(chunks, i)) for i in range(4))
    assert whole.usage.completion_tokens == chunks[-1]["usage"]["completion_tokens"] == deltas


def test_n_with_structured_output(gen_server):
    body = make_chat_request(
        "Describe a city.",
        model="gpt-4o",
        n=4,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "strict": True, "schema": STRICT_SCHEMA},
        },
    )
    whole = check_completion(post_chat(gen_server.base_url, body).json())
    values = [json.loads(c.message.content) for c in whole.choices]
    for value in values:
        assert_valid(value, STRICT_SCHEMA)
    assert len({json.dumps(v, sort_keys=True) for v in values}) == 4


# --- determinism across processes (what test_determinism.py does not cover) ---------------

DETERMINISM_CASES: dict[str, dict[str, Any]] = {
    "structured": make_chat_request(
        "Describe a city.",
        model="gpt-4o",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "strict": True, "schema": STRICT_SCHEMA},
        },
    ),
    "rich-tool": make_chat_request(
        "Book it.",
        model="gpt-4o",
        tools=RICH_TOOLS,
        tool_choice={"type": "function", "function": {"name": "create_ticket"}},
    ),
    "japanese": make_chat_request("日本の首都について教えてください。", model="gpt-4o"),
    "n4-logprobs": make_chat_request(
        "Say something.", model="gpt-4o", n=4, logprobs=True, top_logprobs=3
    ),
    "cut": make_chat_request("Tell me a long story.", model="gpt-4o", max_tokens=7),
}


def _determinism_answers(server) -> dict[str, bytes]:
    out = {}
    for name, body in DETERMINISM_CASES.items():
        response = post_chat(server.base_url, body)
        assert response.status_code == 200, (name, response.text)
        out[name] = response.content
        _, raw, _ = stream_chunks(
            server.base_url, {**body, "stream_options": {"include_usage": True}}
        )
        out[f"{name}/stream"] = raw
    return out


def test_same_seed_same_bytes_other_seed_other_values(gen_server, serve):
    with ThreadPoolExecutor(2) as pool:
        same, other = pool.map(
            lambda seed: serve("--seed", seed, "--freeze-time", str(FROZEN)), ["11", "12"]
        )
    first = _determinism_answers(gen_server)
    assert _determinism_answers(gen_server) == first  # the same process, again
    again = _determinism_answers(same)
    for name in first:
        assert again[name] == first[name], name

    changed = _determinism_answers(other)
    for name in DETERMINISM_CASES:
        a, b = json.loads(first[name]), json.loads(changed[name])
        assert a["created"] == b["created"] == FROZEN
        assert a["id"] != b["id"], name
        assert a["choices"] != b["choices"], name
    tool_a = json.loads(first["rich-tool"])["choices"][0]["message"]["tool_calls"][0]
    tool_b = json.loads(changed["rich-tool"])["choices"][0]["message"]["tool_calls"][0]
    assert tool_a["id"] != tool_b["id"]
    assert tool_a["function"]["arguments"] != tool_b["function"]["arguments"]


# --- property: generated schemas as forced tools' parameters ------------------------------

PROPERTY_NAMES = st.sampled_from(
    [
        "city",
        "email",
        "name",
        "id",
        "count",
        "tags",
        "note",
        "when",
        "score",
        "flag",
        "kind",
        "items",
        "x",
        "title",
        "zip",
        "created_at",
        "url",
        "price",
        "level",
        "description",
    ]
)
PATTERNS = st.sampled_from(
    [r"^[A-Z]{3}$", r"^\d{4}-\d{2}$", r"^[a-z]+(-[a-z]+)*$", r"^SKU-[0-9]{6}$", r"^[a-f0-9]{8}$"]
)


@st.composite
def string_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["plain", "length", "enum", "format", "pattern"]))
    schema: dict[str, Any] = {"type": "string"}
    if kind == "length":
        low = draw(st.integers(0, 12))
        schema |= {"minLength": low, "maxLength": low + draw(st.integers(0, 30))}
    elif kind == "enum":
        words = st.text(alphabet=string.ascii_letters + " -_", min_size=1, max_size=12)
        schema["enum"] = draw(st.lists(words, min_size=1, max_size=5, unique=True))
    elif kind == "format":
        schema["format"] = draw(st.sampled_from(["date", "date-time", "email", "uuid", "ipv4"]))
    elif kind == "pattern":
        schema["pattern"] = draw(PATTERNS)
    return schema


@st.composite
def integer_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    low = draw(st.none() | st.integers(-1000, 1000))
    if low is not None:
        schema["minimum"] = low
    if draw(st.booleans()):
        schema["maximum"] = (low if low is not None else 0) + draw(st.integers(10, 500))
        if draw(st.booleans()):
            schema["multipleOf"] = draw(st.sampled_from([2, 5]))
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> dict[str, Any]:
    low = draw(st.floats(-1000, 1000, allow_nan=False))
    schema: dict[str, Any] = {"type": "number"}
    schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["maximum"] = low + draw(st.floats(1, 1000))
    return schema


SCALARS = st.one_of(
    string_schemas(),
    integer_schemas(),
    number_schemas(),
    st.just({"type": "boolean"}),
    st.lists(st.integers(-5, 5), min_size=1, max_size=4, unique=True).map(lambda v: {"enum": v}),
    string_schemas().map(lambda s: {**s, "type": ["string", "null"]}),
)


def arrays_of(items: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        low = draw(st.integers(0, 3))
        return {
            "type": "array",
            "items": draw(items),
            "minItems": low,
            "maxItems": low + draw(st.integers(0, 3)),
        }

    return build()


def objects_of(values: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        props = draw(st.dictionaries(PROPERTY_NAMES, values, min_size=1, max_size=5))
        required = draw(st.lists(st.sampled_from(sorted(props)), unique=True))
        schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
        if draw(st.booleans()):
            schema["additionalProperties"] = False
        return schema

    return build()


TOOL_PARAMETERS = objects_of(
    st.recursive(SCALARS, lambda inner: arrays_of(inner) | objects_of(inner), max_leaves=8)
)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(parameters=TOOL_PARAMETERS, prompt=st.sampled_from(["Go.", "请调用工具。", "Call it now."]))
def test_forced_tool_arguments_follow_any_schema(gen_server, parameters, prompt):
    Draft202012Validator.check_schema(parameters)
    body = make_chat_request(
        prompt,
        model="gpt-4o",
        tools=[tool("probe", parameters), WEATHER_FREE_TOOL],
        tool_choice={"type": "function", "function": {"name": "probe"}},
    )
    response = post_chat(gen_server.base_url, body)
    assert response.status_code == 200, response.text
    calls = response.json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["probe"]
    assert_valid(json.loads(calls[0]["function"]["arguments"]), parameters)


@pytest.mark.parametrize("prompt", ["Make up a record number 0.", "Use 7, 1 and 100."])
def test_numbers_read_from_the_prompt_are_used_only_where_the_schema_takes_them(gen_server, prompt):
    """instructor (1.17, TOOLS mode) sends pydantic's `Field(multiple_of=5, gt=0, lt=100)`
    as multipleOf and exclusive bounds; "Make up a record number 0." put 0 there (and 7 in
    a multiple of 5, 1 in a ratio below 1), which pydantic refused (Input should be greater
    than 0). A number from the prompt is used only where all of the schema's keywords hold."""
    parameters = {
        "type": "object",
        "properties": {
            "step": {
                "type": "integer",
                "multipleOf": 5,
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 100,
            },
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "count": {"type": "integer", "minimum": 0},
        },
        "required": ["step", "ratio", "count"],
    }
    body = make_chat_request(
        prompt,
        model="gpt-4o",
        tools=[tool("Big", parameters)],
        tool_choice={"type": "function", "function": {"name": "Big"}},
    )
    response = post_chat(gen_server.base_url, body)
    assert response.status_code == 200, response.text
    calls = response.json()["choices"][0]["message"]["tool_calls"]
    assert_valid(json.loads(calls[0]["function"]["arguments"]), parameters)


# A second tool, so that the property test also checks the named one is the one called.
WEATHER_FREE_TOOL = tool("unused", {"type": "object", "properties": {"q": {"type": "string"}}})


def test_chinese_structured_output_streams_valid_json(gen_server):
    body = make_chat_request(
        "请用JSON描述一个城市。",
        model="deepseek-chat",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "strict": True, "schema": STRICT_SCHEMA},
        },
    )
    _, _, chunks = stream_chunks(gen_server.base_url, body)
    for chunk in chunks:
        check_chunk(chunk)
    assert_valid(json.loads("".join(content_deltas(chunks))), STRICT_SCHEMA)


def test_a_react_text_agent_loop_finishes(gen_server) -> None:
    """A LangChain-style ReAct prompt (tools named in the text, `stop` at the next
    Observation): the model acts, reads the observation, and gives its Final Answer."""
    from tests.test_react import CHAIN_PROMPT

    client = client_for(gen_server)
    prompt = CHAIN_PROMPT
    for _ in range(4):
        reply = client.chat.completions.create(
            model="gpt-4o", messages=user(prompt), stop=["\nObservation"]
        )
        text = reply.choices[0].message.content or ""
        if "Final Answer:" in text:
            assert text.endswith("Final Answer: 18C and sunny")
            return
        action = re.search(r"Action: (\w+)\nAction Input: (.+)", text)
        assert action is not None, text
        assert action.groups() == ("get_weather", "Paris")
        prompt += f" {text}\nObservation: 18C and sunny\nThought:"
    pytest.fail("the agent did not finish")


def test_a_structured_chat_agent_loop_finishes(gen_server) -> None:
    """LangChain's structured chat agent (its `hwchase17/structured-chat-agent` prompt, as
    LangChain rendered it): the model answers the step as a JSON blob, reads the observation
    LangChain writes after it into the human message, and ends with a Final Answer blob."""
    from tests.test_json_agents import CAPTURED, PARIS, blob

    first = CAPTURED["structured_chat"][0]
    client = client_for(gen_server)
    chunks = client.chat.completions.create(
        model=first["model"], messages=first["messages"], stop=first["stop"], stream=True
    )
    step = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert blob(step) == {"action": "get_weather", "action_input": {"city": "Paris"}}
    # The prompt's human message is "{input}\n\n{agent_scratchpad}\n (reminder …)"; the
    # scratchpad is the step, then "\nObservation: <result>\nThought: ".
    system, human = first["messages"]
    scratchpad = f"{step}\nObservation: It is 18C and sunny in Paris.\nThought: "
    asked = human["content"].replace(f"{PARIS}\n\n", f"{PARIS}\n\n{scratchpad}", 1)
    done = client.chat.completions.create(
        model=first["model"],
        messages=[system, {"role": "user", "content": asked}],
        stop=first["stop"],
    )
    assert done.choices[0].finish_reason == "stop"
    final = blob(done.choices[0].message.content or "")
    assert final == {"action": "Final Answer", "action_input": "It is 18C and sunny in Paris."}


def test_a_loop_that_ends_through_a_final_answer_tool_answers_with_the_results(
    gen_server,
) -> None:
    """As smolagents' ToolCallingAgent runs it: every turn must call a tool (`required`),
    and the loop ends when `final_answer` is called. The answer it carries is what the
    tools said, as the text answer after results would be."""
    client = client_for(gen_server)
    tools = [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": {
                    "type": "object",
                    "properties": {argument: {"type": "string"}},
                    "required": [argument],
                },
            },
        }
        for name, description, argument in (
            ("get_weather", "Get the weather for a city.", "city"),
            ("final_answer", "Provides a final answer to the given problem.", "answer"),
        )
    ]
    messages: list[Any] = user("What is the weather in Paris?")
    for _ in range(4):
        reply = client.chat.completions.create(
            model="gpt-4o", messages=messages, tools=tools, tool_choice="required"
        )
        calls = reply.choices[0].message.tool_calls or []
        assert len(calls) == 1, reply
        function = calls[0].function  # type: ignore[union-attr]
        if function.name == "final_answer":
            answer = json.loads(function.arguments)["answer"]
            assert answer == "Here is what I found. get_weather returned: Sunny, 21C."
            return
        assert (function.name, json.loads(function.arguments)) == ("get_weather", {"city": "Paris"})
        messages += [
            reply.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": "Sunny, 21C"},
        ]
    pytest.fail("the agent did not finish")


class _Person(BaseModel):
    name: str
    age: int


class _Address(BaseModel):
    street: str
    city: str


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Extract the person: Alice, 30", _Person(name="Alice", age=30)),
        ("Name: Carol; age 51", _Person(name="Carol", age=51)),
        ("The office is at 221B Baker Street, London.",
         _Address(street="221B Baker Street", city="London")),
        ("Ship it to 10 Downing Street, London please",
         _Address(street="10 Downing Street", city="London")),
    ],
)  # fmt: skip
def test_several_output_types_the_one_the_prompt_fills_is_given(
    gen_server: Any, prompt: str, expected: BaseModel
) -> None:
    """pydantic-ai's output_type=[Person, Address]: a tool per type, a call required; the
    answer is the type the prompt describes, with what it says."""
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": f"final_result_{kind.__name__.lstrip('_')}",
                "description": "The final response which ends this conversation",
                "parameters": kind.model_json_schema(),
            },
        }
        for kind in (_Person, _Address)
    ]
    answer = client_for(gen_server).chat.completions.create(
        model="gpt-4o",
        messages=user(prompt),
        tools=tools,
        tool_choice="required",  # type: ignore[arg-type]
    )
    (call,) = answer.choices[0].message.tool_calls or ()
    assert call.type == "function"
    assert call.function.name == f"final_result_{type(expected).__name__.lstrip('_')}"
    assert type(expected).model_validate_json(call.function.arguments) == expected


@pytest.mark.parametrize(
    "prompt", ["Generate a lasagna recipe as JSON.", "Extract the names and ages as JSON."]
)
def test_a_message_that_asks_for_json_alone_is_answered_in_json(gen_server, prompt):
    # The AI SDK's generateObject with output 'no-schema' sends only the user's words (on
    # Anthropic, no instruction of its own) and parses the answer as JSON.
    assert isinstance(json.loads(answer(gen_server, prompt)), dict)


HEROES = {
    "type": "object",
    "properties": {
        "elements": {  # the AI SDK's generateObject with output 'array' wraps its schema so
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "description": {"type": "string"}},
                "required": ["name", "description"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["elements"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("prompt", "count"),
    [
        ("Generate 3 hero descriptions for a fantasy role playing game.", 3),
        ("Give me five hero descriptions.", 5),
        ("Generate 12 heroes.", 12),
    ],
)
def test_an_array_holds_as_many_items_as_the_message_asks_for(gen_server, prompt, count):
    fmt = {"type": "json_schema", "json_schema": {"name": "h", "schema": HEROES, "strict": True}}
    for _ in range(2):  # whatever the seed draws
        said = json.loads(answer(gen_server, prompt, response_format=fmt))
        assert len(said["elements"]) == count, said
        prompt += " Thanks!"


PERSON = {  # pydantic's Person with a nested Address (a $ref into $defs), strict
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "address": {"$ref": "#/$defs/Address"},
    },
    "required": ["name", "age", "address"],
    "additionalProperties": False,
    "$defs": {
        "Address": {
            "type": "object",
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "email": {"type": "string"},
            },
            "required": ["street", "city", "email"],
            "additionalProperties": False,
        }
    },
}


def test_an_extraction_fills_a_nested_object_from_the_message(gen_server):
    prompt = "John Smith is 34 and lives at 221B Baker Street, London. Email: john@example.com."
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON, "strict": True}}
    said = json.loads(answer(gen_server, prompt, response_format=fmt))
    assert said == {
        "name": "John Smith",
        "age": 34,
        "address": {"street": "221B Baker Street", "city": "London", "email": "john@example.com"},
    }


def test_a_reference_cycle_in_a_tool_s_property_is_no_server_error(gen_server):
    cycle = {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}
    params = {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": cycle}
    tool = {"type": "function", "function": {"name": "save", "parameters": params}}
    body = make_chat_request("Save it.", tools=[tool], tool_choice="required")
    assert post_chat(gen_server.base_url, body).status_code == 200
