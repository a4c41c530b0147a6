"""Schemas as users write them, for the structured-output audit: pydantic v2 models (the
`model` entries, sent through the SDKs' parse helpers) and JSON schemas written by hand or by
the Vercel AI SDK's zod conversion (the `schema` entries, in tests/data/schemas/)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from decimal import Decimal
from enum import IntEnum, StrEnum
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import jsonschema
from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    conint,
    conlist,
    constr,
)

# pydantic's EmailStr needs email-validator; this is the schema it makes.
EmailStr = Annotated[str, WithJsonSchema({"type": "string", "format": "email"})]
SCHEMAS = Path(__file__).resolve().parent / "data" / "schemas"


class Color(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Priority(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class Address(BaseModel):
    street: str
    city: str
    postal_code: str = Field(pattern=r"^\d{5}(-\d{4})?$")
    country: Literal["US", "CA", "MX"]


class Person(BaseModel):
    name: str
    age: Annotated[int, Field(ge=0, le=130, description="Age in whole years")]
    email: EmailStr
    address: Address
    nickname: str | None


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    breed: str
    good_boy: bool


class Fish(BaseModel):
    kind: Literal["fish"]
    water: Literal["fresh", "salt"]


class PetOwner(BaseModel):
    owner: str
    pet: Annotated[Cat | Dog | Fish, Field(discriminator="kind")]


class TreeNode(BaseModel):
    value: str
    children: list[TreeNode]


class Comment(BaseModel):
    author: str
    text: str
    replies: list[Comment]


class Thread(BaseModel):
    title: str
    comments: list[Comment]


class Bounds(BaseModel):
    score: float = Field(gt=0, lt=1)
    percent: conint(ge=0, le=100)  # type: ignore[valid-type]
    temperature: float = Field(ge=-273.15, le=1000)
    step: int = Field(multiple_of=5, ge=0, le=100)
    tiny: float = Field(gt=0.0, le=0.001)


class Strings(BaseModel):
    sku: constr(pattern=r"^[A-Z]{3}-\d{4}$")  # type: ignore[valid-type]
    slug: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    hex_color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    phone: str = Field(pattern=r"^\+?[1-9]\d{1,14}$")


class Lengths(BaseModel):
    code: constr(min_length=4, max_length=8)  # type: ignore[valid-type]
    title: str = Field(min_length=1, max_length=60)


class Lists(BaseModel):
    tags: conlist(str, min_length=2, max_length=5)  # type: ignore[valid-type]
    scores: list[int] = Field(min_length=1, max_length=3)
    matrix: list[list[float]]


class UniqueTags(BaseModel):
    tags: set[str]


class Formats(BaseModel):
    created_at: datetime
    day: date
    at: time
    id: UUID
    email: EmailStr
    ipv4: IPv4Address
    ipv6: IPv6Address


class Link(BaseModel):
    url: AnyUrl
    label: str


class Colors(BaseModel):
    primary: Color
    others: list[Color]
    priority: Priority


class Nested(BaseModel):
    metadata: dict[str, str]
    counts: dict[str, int]


class Point(BaseModel):
    coords: tuple[float, float]
    labelled: tuple[str, int, bool]


class Described(BaseModel):
    """A product listing."""

    name: Annotated[str, Field(description="The product's display name")]
    price: Annotated[float, Field(description="Price in USD", ge=0)]
    currency: Annotated[Literal["USD", "EUR"], Field(description="ISO 4217 code")]


class Step(BaseModel):
    explanation: str
    output: str


class MathReasoning(BaseModel):
    steps: list[Step]
    final_answer: str


class CalendarEvent(BaseModel):
    name: str
    date: str
    participants: list[str]


class Optionals(BaseModel):
    maybe_int: int | None
    maybe_list: list[str] | None
    maybe_model: Address | None
    either: int | str
    maybe_either: int | str | None


class Decimals(BaseModel):
    amount: Decimal
    ratio: float


class Node(BaseModel):
    name: str
    left: Node | None
    right: Node | None


class Employee(BaseModel):
    name: str
    manager: Employee | None
    reports: list[Employee]


class Invoice(BaseModel):
    class Line(BaseModel):
        sku: str
        quantity: int = Field(ge=1)
        unit_price: float = Field(ge=0)

    number: str
    issued: date
    lines: list[Line] = Field(min_length=1)
    total: float


class SearchAction(BaseModel):
    action: Literal["search"]
    query: str


class AnswerAction(BaseModel):
    action: Literal["answer"]
    text: str
    confidence: float = Field(ge=0, le=1)


class Agent(BaseModel):
    thought: str
    next: SearchAction | AnswerAction = Field(discriminator="action")


class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    score: float = Field(ge=-1, le=1)


class Extraction(BaseModel):
    entities: list[Annotated[Person | Address, Field(union_mode="left_to_right")]]


class Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: int
    b: bool


class WithDefaults(BaseModel):
    query: str
    limit: int = 10
    sort: Literal["asc", "desc"] = "asc"


class DeepA(BaseModel):
    class DeepB(BaseModel):
        class DeepC(BaseModel):
            class DeepD(BaseModel):
                leaf: str

            d: DeepD

        c: DeepC

    b: DeepB


class Timeline(BaseModel):
    events: list[CalendarEvent] = Field(max_length=4)
    starts: datetime
    ends: datetime | None


class Ticket(BaseModel):
    title: str
    severity: Literal[1, 2, 3, 4]
    labels: list[Literal["bug", "feature", "docs"]]
    assignee: EmailStr | None


class Matrix(BaseModel):
    rows: list[list[int]] = Field(min_length=2, max_length=2)


class Recipe(BaseModel):
    class Ingredient(BaseModel):
        name: str
        amount: float = Field(gt=0)
        unit: Literal["g", "ml", "tsp", "tbsp", "cup", "piece"]

    title: str
    servings: int = Field(ge=1, le=12)
    ingredients: list[Ingredient]
    steps: list[str]


MODELS: dict[str, type[BaseModel]] = {
    cls.__name__: cls
    for cls in (
        Person, PetOwner, TreeNode, Thread, Bounds, Strings, Lists, Formats, Link, Colors,
        Nested, Point, Described, MathReasoning, CalendarEvent, Optionals, Decimals, Node,
        Employee, Invoice, Agent, Sentiment, Extraction, Forbid, WithDefaults, DeepA,
        Timeline, Ticket, Matrix, Recipe, Lengths, UniqueTags,
    )
}  # fmt: skip


# What the API refuses of what `to_strict_json_schema` sends for these models: a
# discriminated union is `oneOf` ("Invalid schema for response_format 'PetOwner': In
# context=('properties', 'pet'), 'oneOf' is not permitted.", quoted by users), a dict is an
# open object, a tuple has no `items`, string lengths and sets are not taken.
OPENAI_REFUSED = {
    "PetOwner": "In context=('properties', 'pet'), 'oneOf' is not permitted.",
    "Agent": "In context=('properties', 'next'), 'oneOf' is not permitted.",
    "Link": "In context=('properties', 'url'), 'minLength' is not permitted.",
    "Lengths": "In context=('properties', 'code'), 'minLength' is not permitted.",
    "UniqueTags": "In context=('properties', 'tags'), 'uniqueItems' is not permitted.",
    "Nested": "In context=('properties', 'metadata'), 'additionalProperties' is required to "
    "be supplied and to be false.",
    "Point": "In context=('properties', 'coords'), array schema missing items.",
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The hand-written and zod-made schemas, by file name (without .json)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(SCHEMAS.glob("*.json"))}


# `jsonschema` checks these formats only with optional packages; the answers' are checked
# by the RFC 3339 / ISO 8601 / RFC 1123 shapes.
_FORMATS = jsonschema.FormatChecker()
_SHAPES = {
    "date-time": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)",
    "time": r"\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)",
    "duration": r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?",
    "hostname": r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
    "uri": r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+",
}
for _name, _shape in _SHAPES.items():
    _FORMATS.checks(_name)(
        lambda value, shape=re.compile(_shape): (
            not isinstance(value, str) or shape.fullmatch(value) is not None
        )
    )


def problems(schema: dict[str, Any], value: Any) -> list[str]:
    """What Draft 2020-12, with format checking, finds wrong with `value`."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
