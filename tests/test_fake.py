"""Tests for mockllm.fake: locale detection, seeded prose, faker providers, schema instances."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AnyUrl, BaseModel, Field
from pydantic.networks import IPv4Address, IPv6Address

from mockllm import fake
from mockllm.languages import locale_of

HAN = re.compile("[\u4e00-\u9fff]")

# jsonschema checks some formats only with optional packages installed; check the rest here.
FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checkers = dict(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or (
        dt.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    )


@FORMATS.checks("time")
def _is_time(value: object) -> bool:
    pattern = r"\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"
    return not isinstance(value, str) or re.fullmatch(pattern, value) is not None


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme and urlsplit(value).netloc)


@FORMATS.checks("duration")
def _is_duration(value: object) -> bool:
    pattern = r"P(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?"
    return not isinstance(value, str) or re.fullmatch(pattern, value) is not None


@FORMATS.checks("hostname")
def _is_hostname(value: object) -> bool:
    label = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    return not isinstance(value, str) or re.fullmatch(rf"{label}(\.{label})*", value) is not None


def assert_valid(schema: Any, instance: object) -> None:
    validator = jsonschema.Draft202012Validator(schema, format_checker=FORMATS)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, f"{json.dumps(instance, ensure_ascii=False)}\n" + "\n".join(errors)


def make_object(required: bool = True, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(properties)
    return schema


# ---- fake_text -------------------------------------------------------------------------


def test_fake_text_is_deterministic() -> None:
    assert fake.fake_text(7, "en_US", 40) == fake.fake_text(7, "en_US", 40)
    assert fake.fake_text(7, "en_US", 40) != fake.fake_text(8, "en_US", 40)
    assert fake.fake_text(7, "zh_CN", 40) == fake.fake_text(7, "zh_CN", 40)


def test_output_is_the_same_in_another_process() -> None:
    schemas = [SCHEMAS["nested"], SCHEMAS["formats"], SCHEMAS["enum_array"], TREE]
    code = (
        "import json, sys; from mockllm import fake; schemas = json.load(sys.stdin); "
        "print(json.dumps([fake.fake_text(42, 'ja_JP', 30), "
        "fake.faker_call(3, 'zh_CN', 'paragraphs', {'count': 2}), "
        "*[fake.instance_from_schema(s, 9, 'de_DE') for s in schemas]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(schemas),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONHASHSEED": "12345"},  # set order must not leak into output
    )
    assert json.loads(out.stdout) == [
        fake.fake_text(42, "ja_JP", 30),
        fake.faker_call(3, "zh_CN", "paragraphs", {"count": 2}),
        *[fake.instance_from_schema(schema, 9, "de_DE") for schema in schemas],
    ]


@pytest.mark.parametrize("max_words", [1, 5, 20, 100, 500])
def test_fake_text_length_follows_max_words(max_words: int) -> None:
    text = fake.fake_text(3, "en_US", max_words)
    assert 0.8 * max_words <= len(text.split()) <= 1.2 * max_words
    assert text[0].isupper()
    assert text.endswith(".")


@pytest.mark.parametrize("max_words", [5, 30, 200])
def test_fake_text_in_chinese_is_han_characters(max_words: int) -> None:
    text = fake.fake_text(3, "zh_CN", max_words)
    han = len(HAN.findall(text))
    assert 0.6 * max_words <= han / 2 <= 1.4 * max_words
    assert text.endswith("。")
    assert "." not in text
    assert locale_of(text) == "zh_CN"


@pytest.mark.parametrize(
    "locale", ["ja_JP", "ko_KR", "ru_RU", "uk_UA", "ar_AA", "he_IL", "el_GR", "th_TH"]
)
def test_fake_text_speaks_the_locale(locale: str) -> None:
    assert locale_of(fake.fake_text(11, locale, 30)) == locale


def test_fake_text_with_no_words_is_empty() -> None:
    assert fake.fake_text(1, "en_US", 0) == ""


# ---- faker providers -------------------------------------------------------------------


def test_faker_call_paragraph_in_chinese() -> None:
    text = fake.faker_call(5, "zh_CN", "paragraph", {"sentences": 4})
    assert HAN.search(text)
    assert text.endswith("。")
    assert text == fake.faker_call(5, "zh_CN", "paragraph", {"sentences": 4})


def test_faker_call_joins_lists() -> None:
    assert len(fake.faker_call(1, "en_US", "paragraphs", {"paragraphs": 3}).split("\n\n")) == 3
    assert len(fake.faker_call(1, "en_US", "words", {"words": 4}).split()) == 4
    assert len(fake.faker_call(1, "en_US", "words", {"count": 2}).split()) == 2
    sentence = fake.faker_call(1, "en_US", "sentence", {"words": 5, "variable_nb_words": False})
    assert len(sentence.split()) == 5


def test_faker_call_values_are_text() -> None:
    moment = dt.datetime.fromisoformat(fake.faker_call(3, "en_US", "date_time", {}))
    assert moment < dt.datetime(2025, 1, 2)  # pinned, so the output does not drift by day
    uuid.UUID(fake.faker_call(3, "en_US", "uuid4", {}))
    assert "@" in fake.faker_call(3, "de_DE", "email", {})
    assert fake.faker_call(3, "en_US", "random_int", {"min": 5, "max": 5}) == "5"
    assert fake.faker_call(3, "en_US", "date", {"pattern": "%Y"}).isdigit()


def test_seeding_is_safe_across_threads() -> None:
    seeds = list(range(40))
    expected = [fake.fake_text(seed, "en_US", 30) for seed in seeds]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(lambda seed: fake.fake_text(seed, "en_US", 30), seeds)) == expected


def test_faker_call_is_seeded() -> None:
    names = {fake.faker_call(seed, "en_US", "name", {}) for seed in range(10)}
    assert len(names) > 5
    assert fake.faker_call(4, "ja_JP", "city", {}) == fake.faker_call(4, "ja_JP", "city", {})


@pytest.mark.parametrize("locale", ["en_US", "zh_CN", "ko_KR", "fr_QC"])
def test_every_allowed_provider_answers_text(locale: str) -> None:
    for provider in fake.FAKER_PROVIDERS:
        assert fake.check_faker_spec(provider, {}) is None
        assert isinstance(fake.faker_call(1, locale, provider, {}), str)


def test_check_faker_spec_accepts_aliases() -> None:
    assert fake.check_faker_spec("paragraph", {"sentences": 4}) is None
    assert fake.check_faker_spec("text", {"max_chars": 80}) is None
    assert fake.check_faker_spec("sentences", {"sentences": 2}) is None


def test_check_faker_spec_suggests_a_provider() -> None:
    message = fake.check_faker_spec("paragrph", {})
    assert message is not None
    assert "did you mean 'paragraph'" in message
    assert "valid providers:" in message


@pytest.mark.parametrize(
    "provider", ["seed_instance", "random", "seed", "__class__", "_Generator__random", "format"]
)
def test_check_faker_spec_rejects_non_providers(provider: str) -> None:
    assert fake.check_faker_spec(provider, {}) is not None
    with pytest.raises(ValueError):
        fake.faker_call(1, "en_US", provider, {})


def test_check_faker_spec_names_valid_arguments() -> None:
    message = fake.check_faker_spec("paragraph", {"sentnces": 4})
    assert message is not None
    assert "'sentnces'" in message
    assert "did you mean 'sentences'" in message
    assert "valid: sentences, variable_nb_sentences, ext_word_list" in message


def test_check_faker_spec_rejects_bad_values() -> None:
    assert "from 0 to" in (fake.check_faker_spec("paragraphs", {"count": 10**9}) or "")
    assert "rejected" in (fake.check_faker_spec("date_time", {"tzinfo": "UTC"}) or "")
    with pytest.raises(ValueError, match="no argument"):
        fake.faker_call(1, "en_US", "name", {"sentences": 2})


def test_check_locale() -> None:
    assert fake.check_locale("zh_CN") is None
    message = fake.check_locale("zh-CN")
    assert message is not None
    assert "did you mean 'zh_CN'" in message


# ---- instance_from_schema: hand-written schemas ----------------------------------------

TREE = {
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
            },
            "required": ["label", "children", "parent"],
        }
    },
    "$ref": "#/$defs/Node",
}

SCHEMAS: dict[str, Any] = {
    "nested": make_object(
        user=make_object(name={"type": "string"}, address=make_object(city={"type": "string"})),
        active={"type": "boolean"},
    ),
    "enum_array": {
        "type": "array",
        "items": {"enum": ["red", "green", "blue", "black"]},
        "minItems": 2,
        "maxItems": 4,
        "uniqueItems": True,
    },
    "any_of_null": make_object(
        note={"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]}
    ),
    "type_list": make_object(v={"type": ["integer", "null"], "minimum": 10, "maximum": 12}),
    "tree": TREE,
    "definitions_draft7": {
        "definitions": {"Id": {"type": "string", "format": "uuid"}},
        "type": "array",
        "items": {"$ref": "#/definitions/Id"},
        "minItems": 1,
    },
    "pattern": {"type": "string", "pattern": r"^[A-Z]{3}-\d{4}$"},
    "pattern_unanchored": {"type": "string", "pattern": r"\d{2}x", "minLength": 6},
    "pattern_groups": {"type": "string", "pattern": r"^(ab|cd)-\1-[^aeiou\s]{3}(?i:ok)$"},
    "pattern_decimal": {"type": "string", "pattern": r"^(?!^[-+.]*$)[+-]?0*\d*\.?\d*$"},
    "pattern_length": {"type": "string", "pattern": "^[a-z]+$", "minLength": 12, "maxLength": 14},
    "number_exclusive": {
        "type": "number",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": 1,
        "multipleOf": 0.1,
    },
    "number_cents": {"type": "number", "minimum": 10, "maximum": 20, "multipleOf": 0.01},
    "integer_exclusive": {
        "type": "integer",
        "exclusiveMinimum": 14,
        "exclusiveMaximum": 35,
        "multipleOf": 7,
    },
    "negative_bound": {"type": "integer", "maximum": -50},
    "unique_integers": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 5},
        "minItems": 5,
        "uniqueItems": True,
    },
    "formats": make_object(
        **{
            name: {"type": "string", "format": name}
            for name in (
                *("date-time", "date", "time", "email", "uri", "uuid", "ipv4", "ipv6"),
                *("hostname", "duration"),
            )
        }
    ),
    "string_lengths": make_object(
        description={"type": "string", "minLength": 30, "maxLength": 40},
        name={"type": "string", "maxLength": 3},
        code={"type": "string", "minLength": 8, "maxLength": 8},
    ),
    "all_of": {
        "allOf": [
            make_object(a={"type": "integer", "minimum": 5}),
            make_object(b={"type": "string"}),
            {"properties": {"a": {"maximum": 6}}},
        ]
    },
    "prefix_items": {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"const": "x"}],
        "items": False,
        "minItems": 2,
    },
    "contains": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 100},
        "contains": {"minimum": 90},
        "minContains": 2,
    },
    "additional_properties": {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": 0},
        "minProperties": 2,
    },
    "pattern_properties": {
        "type": "object",
        "patternProperties": {"^x_[a-z]+$": {"type": "boolean"}},
        "additionalProperties": False,
        "minProperties": 2,
    },
    "property_names": {
        "type": "object",
        "propertyNames": {"pattern": "^[a-c]{4}$"},
        "additionalProperties": {"type": "null"},
        "minProperties": 1,
    },
    "const_and_enum": make_object(
        kind={"const": "event"}, level={"enum": [1, "two", None, 3.5, {"a": [1]}]}
    ),
    "no_type": make_object(a={"minimum": 3}, b={"maxLength": 2}, c={"items": {"type": "null"}}),
    "empty": {},
    "true": True,
    "dependent_required": {
        **make_object(required=False, card={"type": "string"}, cvv={"type": "string"}),
        "required": ["card"],
        "dependentRequired": {"card": ["cvv"]},
    },
    "one_of_consts": {"oneOf": [{"const": 1}, {"const": "one"}, {"type": "boolean"}]},
    "ref_with_siblings": {
        "$defs": {"Name": {"type": "string"}},
        "$ref": "#/$defs/Name",
        "maxLength": 4,
    },
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_instance_is_valid(name: str) -> None:
    schema = SCHEMAS[name]
    for seed in range(25):
        assert_valid(schema, fake.instance_from_schema(schema, seed))


@pytest.mark.parametrize("name", ["nested", "string_lengths", "tree", "formats"])
def test_instance_is_valid_in_chinese(name: str) -> None:
    for seed in range(10):
        assert_valid(SCHEMAS[name], fake.instance_from_schema(SCHEMAS[name], seed, "zh_CN"))


def test_instance_of_draft4_and_openapi_spellings() -> None:
    flags = {
        "type": "integer",
        "minimum": 1,
        "maximum": 3,
        "exclusiveMinimum": True,
        "exclusiveMaximum": True,
    }
    nullable = make_object(x={"type": "string", "nullable": True, "maxLength": 3})
    seen = set()
    for seed in range(40):
        jsonschema.Draft4Validator(flags).validate(fake.instance_from_schema(flags, seed))
        value = fake.instance_from_schema(nullable, seed)
        assert isinstance(value, dict)
        assert value["x"] is None or len(value["x"]) <= 3
        seen.add(value["x"] is None)
    assert seen == {True, False}


def test_instance_is_deterministic() -> None:
    schema = SCHEMAS["nested"]
    assert fake.instance_from_schema(schema, 3) == fake.instance_from_schema(schema, 3)
    values = {json.dumps(fake.instance_from_schema(schema, seed)) for seed in range(10)}
    assert len(values) > 5


def test_instance_strings_follow_property_names() -> None:
    schema = make_object(
        email={"type": "string"},
        city={"type": "string"},
        id={"type": "string"},
        createdAt={"type": "string"},
        tags={"type": "array", "items": {"type": "string"}},
    )
    instance = fake.instance_from_schema(schema, 1)
    assert isinstance(instance, dict)
    assert "@" in instance["email"]
    assert instance["city"][0].isupper()
    uuid.UUID(instance["id"])
    dt.datetime.fromisoformat(instance["createdAt"])
    assert all(" " not in tag for tag in instance["tags"])


def test_instance_recursion_is_bounded() -> None:
    def depth(node: Any) -> int:
        kids = [*node["children"], *([node["parent"]] if node["parent"] else [])]
        return 1 + max((depth(kid) for kid in kids), default=0)

    assert max(depth(fake.instance_from_schema(TREE, seed)) for seed in range(50)) <= 8


def test_instance_of_hopeless_schemas_terminates() -> None:
    loop = {"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}
    fake.instance_from_schema(loop, 1)
    forever = {"type": "object", "properties": {"me": {"$ref": "#"}}, "required": ["me"]}
    fake.instance_from_schema(forever, 1)
    fan = {"$defs": {"A": {"allOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/A"}]}}}
    fake.instance_from_schema({**fan, "$ref": "#/$defs/A"}, 1)
    assert fake.instance_from_schema({"anyOf": [{"$ref": "#"}, {"type": "null"}]}, 1) is None


def test_instance_of_unreadable_schema_raises() -> None:
    with pytest.raises(ValueError, match="properties must be an object"):
        fake.instance_from_schema({"type": "object", "properties": ["a"]}, 1)


def test_check_schema() -> None:
    for schema in SCHEMAS.values():
        assert fake.check_schema(schema) is None
    assert "cannot resolve $ref '#/$defs/Missing'" in (
        fake.check_schema({"$defs": {"Node": {}}, "$ref": "#/$defs/Missing"}) or ""
    )
    assert "valid: #/$defs/Node" in (
        fake.check_schema({"$defs": {"Node": {}}, "items": {"$ref": "#/$defs/Nod"}}) or ""
    )
    assert "only local refs" in (fake.check_schema({"$ref": "https://x.test/s.json"}) or "")
    assert "unknown type 'str'" in (fake.check_schema({"type": "str"}) or "")
    assert "not a valid regular expression" in (fake.check_schema({"pattern": "(["}) or "")
    assert "expected an object or a boolean" in (fake.check_schema([1, 2]) or "")
    assert "multipleOf must be greater than 0" in (fake.check_schema({"multipleOf": 0}) or "")
    assert "properties must be an object" in (fake.check_schema({"properties": []}) or "")
    assert "minLength must be an integer" in (fake.check_schema({"minLength": "3"}) or "")
    nested = {"properties": {"a": {"items": [{"type": "x"}]}}}
    assert "schema at /properties/a/items/0: unknown type 'x'" in (fake.check_schema(nested) or "")
    # Values and property names are not schemas: they may look like anything.
    assert fake.check_schema({"enum": [{"$ref": "not a schema"}]}) is None
    assert fake.check_schema(make_object(required={"type": "string"})) is None


# ---- instance_from_schema: pydantic and OpenAI schemas ---------------------------------


class Color(StrEnum):
    RED = "red"
    GREEN = "green"


class Address(BaseModel):
    street: str
    city: str
    zip_code: str = Field(pattern=r"^\d{5}$")


class Circle(BaseModel):
    kind: Literal["circle"]
    radius: float = Field(gt=0)


class Square(BaseModel):
    kind: Literal["square"]
    side: int = Field(ge=1, le=10)


class Person(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    age: int = Field(ge=0, lt=130)
    email: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=5)
    favourite: Color
    address: Address
    scores: dict[str, float] = {}
    kind: Literal["person"] = "person"
    born: dt.date
    wakes: dt.time
    created_at: dt.datetime
    id: uuid.UUID
    website: AnyUrl | None = None
    ip: IPv4Address
    ip6: IPv6Address | None = None
    wait: dt.timedelta
    price: Decimal
    ratio: float = Field(gt=0, le=1, multiple_of=0.05)
    pair: tuple[int, str]
    lucky: set[int] = Field(min_length=3)
    shape: Annotated[Circle | Square, Field(discriminator="kind")]


class TreeNode(BaseModel):
    value: int
    children: list[TreeNode] = []


class Step(BaseModel):
    explanation: str
    output: str


class Reasoning(BaseModel):
    steps: list[Step]
    final_answer: str
    confidence: float
    color: Color
    address: Address | None
    tree: TreeNode


class Weather(BaseModel):
    city: str
    unit: Literal["c", "f"]
    days: int = Field(ge=1, le=7)


@pytest.mark.parametrize("model", [Person, TreeNode, Address, Reasoning, Weather])
def test_instance_from_pydantic_schema(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    assert fake.check_schema(schema) is None
    for seed in range(25):
        instance = fake.instance_from_schema(schema, seed)
        assert_valid(schema, instance)
        model.model_validate(instance)


@pytest.mark.parametrize("model", [Reasoning, Weather, TreeNode])
def test_instance_from_openai_strict_schema(model: type[BaseModel]) -> None:
    from openai import pydantic_function_tool
    from openai.lib._pydantic import to_strict_json_schema

    strict = to_strict_json_schema(model)
    parameters = pydantic_function_tool(model)["function"].get("parameters")
    for schema in (strict, parameters):
        assert fake.check_schema(schema) is None
        for seed in range(25):
            instance = fake.instance_from_schema(schema, seed, "ja_JP")
            assert_valid(schema, instance)
            model.model_validate(instance)


# ---- instance_from_schema: random satisfiable schemas ----------------------------------

NAMES = ["city", "email", "id", "name", "description", "tags", "count", "a", "b", "value"]
PATTERNS = [r"^\d{3}-\d{2}$", r"^(foo|bar)[0-9]*$", r"^[A-Z][a-z]{2,5}$", r"^x+y?$", r"[0-9]"]
FORMAT_NAMES = ["date-time", "date", "time", "email", "uuid", "ipv4", "ipv6", "uri", "hostname"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-50, 50), st.text(max_size=5))


@st.composite
def string_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["plain", "pattern", "letters", "format"]))
    if kind == "pattern":
        return {"type": "string", "pattern": draw(st.sampled_from(PATTERNS))}
    if kind == "format":
        return {"type": "string", "format": draw(st.sampled_from(FORMAT_NAMES))}
    low = draw(st.integers(1 if kind == "letters" else 0, 20))
    schema: dict[str, Any] = {"type": "string", "minLength": low}
    schema["maxLength"] = low + draw(st.integers(0, 10))
    if kind == "letters":
        schema["pattern"] = "^[a-z]+$"
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """Bounds around a value known to satisfy them, so the schema is satisfiable."""
    integer = draw(st.booleans())
    steps = [None, 1, 2, 3, 7] if integer else [None, 0.5, 0.25, 0.1, 2.5, 3]
    step = draw(st.sampled_from(steps))
    k = draw(st.integers(-1000, 1000))
    middle = k * (step or 1)
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    if step is not None:
        schema["multipleOf"] = step
    for side, sign in (("Minimum", -1), ("Maximum", 1)):
        gap = draw(st.none() | st.integers(0, 50))
        if gap is not None:
            exclusive = gap > 0 and draw(st.booleans())
            schema[f"exclusive{side}" if exclusive else side.lower()] = middle + sign * gap
    return schema


@st.composite
def unique_arrays(draw: st.DrawFn) -> dict[str, Any]:
    values = draw(st.lists(st.integers(), min_size=6, max_size=10, unique=True))
    low = draw(st.integers(0, 3))
    return {
        "type": "array",
        "items": {"enum": values},
        "uniqueItems": True,
        "minItems": low,
        "maxItems": low + 3,
    }


LEAVES = st.one_of(
    string_schemas(),
    number_schemas(),
    unique_arrays(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    SCALARS.map(lambda v: {"const": v}),
    st.lists(SCALARS, min_size=1, max_size=5, unique_by=json.dumps).map(lambda v: {"enum": v}),
    st.just({}),
)
Children = st.SearchStrategy[dict[str, Any]]


@st.composite
def objects(draw: st.DrawFn, children: Children) -> dict[str, Any]:
    properties = draw(st.dictionaries(st.sampled_from(NAMES), children, max_size=4))
    required = draw(st.lists(st.sampled_from(sorted(properties) or ["-"]), unique=True))
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = [name for name in required if name in properties]
    if draw(st.booleans()):
        schema["additionalProperties"] = False
    if properties and draw(st.booleans()):
        schema["minProperties"] = draw(st.integers(0, len(properties)))
    return schema


@st.composite
def arrays(draw: st.DrawFn, children: Children) -> dict[str, Any]:
    low = draw(st.integers(0, 3))
    high = low + draw(st.integers(0, 3))
    return {"type": "array", "items": draw(children), "minItems": low, "maxItems": high}


@st.composite
def nullable(draw: st.DrawFn, children: Children) -> dict[str, Any]:
    child = draw(children)
    if isinstance(child.get("type"), str):
        return {**child, "type": [child["type"], "null"]}
    return {"anyOf": [child, {"type": "null"}]}


@st.composite
def all_of(draw: st.DrawFn, children: Children) -> dict[str, Any]:
    """Two object schemas over different property names, so they never conflict."""
    left = draw(st.dictionaries(st.sampled_from(["a1", "a2"]), children, max_size=2))
    right = draw(st.dictionaries(st.sampled_from(["b1", "b2"]), children, max_size=2))
    return {
        "allOf": [
            {"type": "object", "properties": left, "required": sorted(left)},
            {"type": "object", "properties": right, "required": sorted(right)[:1]},
        ]
    }


def extend(children: Children) -> Children:
    return st.one_of(
        objects(children),
        arrays(children),
        nullable(children),
        all_of(children),
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"anyOf": c}),
    )


BODIES = st.recursive(LEAVES, extend, max_leaves=12)


@st.composite
def schemas(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(BODIES)
    wrap = draw(st.sampled_from(["plain", "defs", "recursive"]))
    if wrap == "defs":
        return {
            "$defs": {"Item": body},
            "type": "object",
            "properties": {
                "first": {"$ref": "#/$defs/Item"},
                "more": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
            },
            "required": ["first"],
        }
    if wrap == "recursive":
        node = {
            "type": "object",
            "properties": {
                "value": body,
                "next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
            },
            "required": ["value", "next", "children"],
        }
        return {"$defs": {"Node": node}, "$ref": "#/$defs/Node"}
    return body


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=schemas(), seed=st.integers(0, 2**32), locale=st.sampled_from(["en_US", "zh_CN"]))
def test_instance_of_random_schema_is_valid(schema: dict[str, Any], seed: int, locale: str) -> None:
    assert fake.check_schema(schema) is None
    instance = fake.instance_from_schema(schema, seed, locale)
    assert_valid(schema, instance)
    assert fake.instance_from_schema(schema, seed, locale) == instance


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=schemas(), seeds=st.lists(st.integers(0, 2**32), min_size=3, max_size=3))
def test_kept_schema_gives_what_the_schema_sent_gives(schema: dict[str, Any], seeds: list[int]):
    """A schema's JSON text is kept with the facts of its parts; the schema sent again (a
    new object, the same text) gets the value, and leaves the draws, that a walk of the
    schema itself makes."""
    from mockllm.schema_instances import build_instance, checked_instance

    text = partial(fake._schema_text, "en_US")
    for seed in seeds:
        sent = json.loads(json.dumps(schema))  # each request parses its own copy
        kept_rng, walk_rng = random.Random(seed), random.Random(seed)
        got = checked_instance(sent, kept_rng, text)
        assert got == build_instance(schema, walk_rng, text)
        assert kept_rng.random() == walk_rng.random()


def test_kept_schema_values_can_be_changed_freely() -> None:
    """A `const` or `enum` value handed out is the caller's own: changing it changes no
    later answer."""
    schema = {
        "type": "object",
        "properties": {"fixed": {"const": {"a": [1]}}, "pick": {"enum": [[1, 2]]}},
        "required": ["fixed", "pick"],
    }
    first = fake.instance_from_schema(schema, 1)
    first["fixed"]["a"].append(2)  # type: ignore[index]
    first["pick"].append(3)  # type: ignore[index]
    assert fake.instance_from_schema(schema, 1) == {"fixed": {"a": [1]}, "pick": [1, 2]}
    assert schema["properties"]["fixed"] == {"const": {"a": [1]}}  # type: ignore[index]


SAFE = 9007199254740991  # zod's int() bounds, and JavaScript's safe integers


@pytest.mark.parametrize(
    ("schema", "low", "high"),
    [
        ({"type": "integer", "minimum": -SAFE, "maximum": SAFE}, 0, 100),
        ({"type": "number", "minimum": -1e300, "maximum": 1e300}, 0, 100),
        ({"type": "integer", "exclusiveMinimum": 0, "maximum": 10**12}, 1, 100),
        ({"type": "integer", "minimum": 10**9}, 10**9, 10**9 + 100),
        ({"type": "integer", "minimum": -SAFE, "maximum": -(10**6)}, -(10**6) - 100, -(10**6)),
    ],
    ids=["safe-int", "huge-number", "positive", "large-minimum", "all-negative"],
)
def test_wide_numeric_ranges_give_plausible_values(schema: dict[str, Any], low: int, high: int):
    """An age typed `z.number().int()` should look like an age, not -7868431262730605."""
    for seed in range(30):
        value = fake.instance_from_schema(schema, seed)
        assert_valid(schema, value)
        assert low <= value <= high, (schema, value)


# --- instances read like a model's answer ----------------------------------------------------


def test_optional_properties_are_filled_in() -> None:
    """A model asked for an object fills in its optional properties: never `{}` for a
    one-property schema, every property at the top level."""
    one = {"type": "object", "properties": {"summary": {"type": "string"}}}
    many = {"type": "object", "properties": {k: {"type": "string"} for k in "abcdef"}}
    for seed in range(30):
        assert "summary" in fake.instance_from_schema(one, seed)
        assert set(fake.instance_from_schema(many, seed)) == set("abcdef")  # type: ignore[arg-type]


def test_examples_and_defaults_are_used_when_they_fit() -> None:
    schema = {
        "type": "object",
        "properties": {
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "city": {"type": "string", "examples": ["Paris", "Lagos"]},
            "level": {"type": "integer", "minimum": 1, "maximum": 3, "examples": [99]},
        },
    }
    values = [fake.instance_from_schema(schema, seed) for seed in range(60)]
    cities = [v["city"] for v in values]  # type: ignore[index]
    assert sum(c in ("Paris", "Lagos") for c in cities) >= 30  # most of the time
    assert sum(v["unit"] == "celsius" for v in values) > 30  # type: ignore[index]
    assert all(1 <= v["level"] <= 3 for v in values)  # an example out of bounds is not used
    jsonschema.Draft202012Validator(schema).validate(values[0])


def test_numbers_sit_where_values_of_that_name_do() -> None:
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer"},
            "price": {"type": "number", "minimum": 0},
            "latitude": {"type": "number"},
            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "year": {"type": "integer", "maximum": 2000},
        },
    }
    for seed in range(40):
        value = fake.instance_from_schema(schema, seed)
        jsonschema.Draft202012Validator(schema).validate(value)
        assert 18 <= value["age"] <= 80  # type: ignore[index]
        assert 5 <= value["price"] <= 500  # type: ignore[index]
        assert -90 <= value["latitude"] <= 90  # type: ignore[index]
        assert 1990 <= value["year"] <= 2000  # type: ignore[index]


def test_hints_fill_plain_strings_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "short": {"type": "string", "maxLength": 2},
        },
        "required": ["city", "code", "short"],
    }
    hints = {"city": "Paris", "code": "Paris", "short": "Paris"}
    value = fake.instance_from_schema(schema, 1, hints=hints)
    assert value["city"] == "Paris"  # type: ignore[index]
    assert value["code"] != "Paris" and value["short"] != "Paris"  # type: ignore[index]
    jsonschema.Draft202012Validator(schema).validate(value)


@pytest.mark.parametrize(
    "locale", ["en_US", "de_DE", "zh_CN", "ja_JP", "fr_FR", "pt_BR", "ru_RU", "ko_KR", "en_GB"]
)
def test_kept_draws_and_formats_are_faker_s_own(locale: str) -> None:
    """mockllm keeps each weighted table's running sums, draws from lists through faker's
    `choices_distribution` directly and splits each format string once; every value of
    every provider it may call is what faker's own generator, untouched, gives for the same
    seed, and the generator's random state ends where faker's does."""
    import warnings

    from faker import Factory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = Factory.create(locale)
    voice = fake._voice(locale)
    generator = voice.generator
    assert isinstance(generator.parse, fake._FormatKept)
    assert any(isinstance(p.random_elements, fake._WeightsKept) for p in generator.providers)
    providers = set(fake.FAKER_PROVIDERS) | set(fake._PROPERTY_PROVIDERS.values())
    compared = 0
    for provider in sorted(providers):
        if not hasattr(plain, provider):
            continue
        params = fake._params(provider)
        kwargs = {"end_datetime": fake._END} if "end_datetime" in params else {}
        for seed in range(30):
            plain.seed_instance(seed)
            generator.seed_instance(seed)
            expected = getattr(plain, provider)(**kwargs)
            assert getattr(generator, provider)(**kwargs) == expected, (provider, seed)
            assert generator.random.random() == plain.random.random(), (provider, seed)
            compared += 1
    assert compared >= 30 * 60


def test_kept_format_defers_to_faker_for_argument_groups_and_unknown_tokens() -> None:
    generator = fake._voice("en_US").generator
    generator.set_arguments("small", {"min_value": 3, "max_value": 3})
    try:
        assert generator.parse("{{ pyint:small }} and {{pyint:small}}") == "3 and 3"
    finally:
        generator.del_arguments("small")
    assert generator.parse("plain text") == "plain text"
    assert generator.parse("") == ""
    with pytest.raises(AttributeError, match="Unknown formatter 'no_such_provider'"):
        generator.parse("{{no_such_provider}}")


@pytest.mark.parametrize("locale", ["en_US", "zh_CN", "ja_JP", "ko_KR", "de_DE", "la", "ru_RU"])
def test_prose_drawn_directly_is_faker_s_own_sentences(locale: str) -> None:
    """fake_text draws a sentence's words itself where faker's lorem provider is the base
    one; the text is what faker's `sentence` writes from the same seed."""

    def through_faker(seed: int, max_words: int) -> str:
        voice = fake._voice(locale)
        sentences = []
        voice.generator.seed_instance(seed)
        left = max_words
        while left > 0:
            size = min(left, voice.generator.random.randint(4, 12))
            if left - size < 3:
                size = left
            sentence = voice.lorem.sentence(size, False, voice.words)
            sentences.append(sentence[:-1] + voice.period)
            left -= size
        return voice.connector.join(sentences)

    assert fake._voice(locale).pool is not None
    for seed in range(40):
        for words in (1, 2, 5, 13, 60):
            assert fake.fake_text(seed, locale, words) == through_faker(seed, words)


@pytest.mark.parametrize("locale", ["en_US", "zh_CN", "de_DE", "la"])
def test_schema_words_drawn_directly_are_faker_s_own(locale: str) -> None:
    import random as stdlib_random

    for seed in range(100):
        for kind in ("", "word"):
            direct, through = stdlib_random.Random(seed), stdlib_random.Random(seed)
            got = fake._schema_text(locale, "zzqx" if not kind else "word", direct)
            if kind:
                want = fake._run(locale, through, "word", {})
            else:
                nb = 1 + through.getrandbits(64) % 3
                want = fake._run(locale, through, "words", {"nb": nb})
            assert got == want, (seed, kind)
            assert direct.random() == through.random()  # the same draws were made


# zod 4's `z.email()`, `z.iso.datetime()` and `z.uuid()`, as its JSON Schema writes them:
# a format and the pattern zod checks it with.
ZOD_EMAIL = (
    r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+"
    r"[A-Za-z]{2,}$"
)
ZOD_DATETIME = (
    r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|"
    r"\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|"
    r"(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z))$"
)
ZOD_UUID = (
    r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-"
    r"[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$"
)


def test_a_format_with_its_pattern_gets_a_value_of_the_format() -> None:
    """The format's value when the pattern takes it (an address, a moment, a UUID), not
    text made up from the pattern's characters."""
    schema = {
        "type": "object",
        "properties": {
            "contact": {"type": "string", "format": "email", "pattern": ZOD_EMAIL},
            "when": {"type": "string", "format": "date-time", "pattern": ZOD_DATETIME},
            "ref": {"type": "string", "format": "uuid", "pattern": ZOD_UUID},
        },
        "required": ["contact", "when", "ref"],
        "additionalProperties": False,
    }
    for seed in range(20):
        value = fake.instance_from_schema(schema, seed)
        jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(value)
        assert isinstance(value, dict)
        assert re.fullmatch(
            r"[a-z0-9._]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}", value["contact"]
        ), value
        assert dt.datetime.fromisoformat(value["when"].replace("Z", "+00:00"))
        assert uuid.UUID(value["ref"]).version == 4


def test_a_date_read_from_the_prompt_fills_a_date_or_a_date_time() -> None:
    schema = {
        "type": "object",
        "properties": {
            "day": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "other": {"type": "string", "format": "date"},
        },
    }
    hints = {"day": "2025-06-14", "at": "2025-06-14T00:00:00Z", "other": "June 14"}
    value: Any = fake.instance_from_schema(schema, 1, "en_US", hints)
    assert (value["day"], value["at"]) == ("2025-06-14", "2025-06-14T00:00:00Z")
    assert value["other"] != "June 14"  # not a date of the format
