"""The JSON a prompt asks for: the JSON Schema (or example object) it carries, and whether
it wants the answer in a Markdown code fence.

Libraries that use JSON mode put the schema in the messages themselves:

- instructor (`Mode.JSON`, `Mode.MD_JSON`) appends to the system message "As a genius
  expert, your task is to understand the content and provide the parsed objects in json
  that match the following json_schema:" and the model's `model_json_schema()`;
  `MD_JSON` also adds the user message "Return the correct JSON response within a ```json
  codeblock. not the JSON_SCHEMA" (instructor/mode_json.py);
- LangChain's `PydanticOutputParser` format instructions show an example schema, an
  example instance, then "Here is the output schema:" and the schema in a ``` fence;
- pydantic-ai's prompted output: "Always respond with a JSON object matching this
  description and schema:" and the schema;
- Agno's JSON mode lists the fields (`<json_fields>["city", "summary"]</json_fields>`),
  then "Here are the properties for each field:" and the schema's `properties` alone
  (`<json_field_properties>{"city": {"type": "string"}, …}</json_field_properties>`).

So the schema is the last schema-shaped JSON object in the system and user messages, in
fenced blocks or in the prose (an object of property schemas is an object's); an object
that is not a schema is an example, and its shape is followed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mockllm.cache import per_text
from mockllm.conversation import Conversation

_FENCED = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)
_ASKS_FENCE = re.compile(
    r"```json|json\s*code\s*-?\s*block|code\s*-?\s*block[^.\n]{0,40}\bjson\b", re.IGNORECASE
)
_PRESENTS_SHAPE = re.compile(
    r"\b(format|schema|structure|shape|example|template|like this|respond|return|output)\b"
    r"|\b(like|as)\s*:?\s*\{",
    re.IGNORECASE,
)
_SCHEMA_TYPES = frozenset(("object", "array", "string", "number", "integer", "boolean", "null"))
_SCHEMA_MARKS = ("$schema", "$defs", "definitions", "anyOf", "oneOf", "allOf")
SCANNED_CHARS = 200_000  # of each message: a prompt this long has its schema before
MAX_ATTEMPTS = 500  # `{` positions tried per message


def prompt_schema(request: Conversation) -> dict[str, Any] | None:
    """The JSON Schema the system and user messages carry (an example object's shape when
    they carry an example), or None."""
    found: dict[str, Any] | None = None
    found_object: dict[str, Any] | None = None  # the last schema of an object
    example: dict[str, Any] | None = None
    for message in request.messages:
        if message.role not in ("system", "developer", "user"):
            continue
        text = message.text[:SCANNED_CHARS]
        # In a user message, an object is data to work on unless the text presents it as
        # the shape of the answer ("respond in this format: {…}").
        shapes = message.role != "user" or _PRESENTS_SHAPE.search(text) is not None
        for value in _message_objects(text):
            if is_schema(value):
                found = value
                if _is_object_schema(value):
                    found_object = value
            elif _is_properties(value):
                found = found_object = {
                    "type": "object",
                    "properties": value,
                    "required": list(value),
                }
            elif shapes:
                example = value
    # A schema whose braces the prompt template doubled ({{ … }}) is not JSON as a whole;
    # the fragments read from it are its parts (an enum's schema): the object wins.
    if found_object is not None:
        return found_object
    if found is not None:
        return found
    if example is not None:
        return schema_of(example)
    return named_keys_schema(request)


# "with the keys name, age and email", "fields: `title` / `year`", "name and age fields"
_ITEM = r"[`'\"]?[A-Za-z_][A-Za-z0-9_]{0,39}[`'\"]?"
_SEP = r"(?:[ \t]*,[ \t]*(?:and[ \t]+|or[ \t]+)?|[ \t]+(?:and|or)[ \t]+|[ \t]*/[ \t]*)"
_KEY_WORDS = r"(?:keys|fields|properties|attributes)"
_KEYS_AFTER = re.compile(
    rf"\b{_KEY_WORDS}\b[ \t]*(?:named|called)?[ \t]*:?[ \t]*"
    rf"(?P<keys>{_ITEM}(?:{_SEP}{_ITEM}){{0,19}})",
    re.IGNORECASE,
)
_KEYS_BEFORE = re.compile(
    rf"(?P<keys>{_ITEM}(?:{_SEP}{_ITEM}){{1,19}})[ \t]+{_KEY_WORDS}\b", re.IGNORECASE
)
_NOT_KEYS = frozenset(
    (
        "a an and are as be by each for from in is json like must object of on only or per "
        "please should such that the these this those to which will with you your following"
    ).split()
)
# A rating or score a model writes whole ("rating": 8), which an integer field reads (a
# pydantic `rating: int` refuses 3.14) as a number field does.
_INTEGER_WORDS = (
    "age", "count", "year", "quantity", "qty", "number", "num", "total", "rank", "rating",
    "score", "stars",
)  # fmt: skip
_NUMBER_WORDS = (
    "price", "amount", "cost", "confidence", "probability", "temperature",
    "latitude", "longitude", "lat", "lon", "lng", "percent", "percentage", "weight", "height",
)  # fmt: skip
_BOOLEAN_PREFIXES = ("is_", "has_", "can_", "should_", "was_")
_LIST_WORDS = frozenset(
    ("tags", "items", "skills", "keywords", "hobbies", "steps", "ingredients", "names", "topics")
)


def named_keys_schema(request: Conversation) -> dict[str, Any] | None:
    """A schema for the object a prompt that asks for JSON describes by its keys alone
    ("Return a JSON object with the keys name, age and email"), each key's type read from
    its name (age: integer, price: number, is_…: boolean, tags: strings); None when the
    prompt does not ask for JSON or names no keys."""
    if not mentions_json(request):
        return None
    for text in (request.last_user, request.system):
        keys = _named_keys(text[:SCANNED_CHARS])
        if keys:
            properties = {key: _type_of(key) for key in keys}
            return {"type": "object", "properties": properties, "required": list(keys)}
    return None


def _named_keys(text: str) -> list[str]:
    for pattern in (_KEYS_AFTER, _KEYS_BEFORE):
        for match in pattern.finditer(text):
            words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", match.group("keys"))
            if any(w.lower() in _NOT_KEYS for w in words[:1]):
                continue  # prose after the word ("fields for a person"), not a list of keys
            keys = [w for w in dict.fromkeys(words) if w.lower() not in _NOT_KEYS]
            if keys:
                return keys
    return []


def _type_of(key: str) -> dict[str, Any]:
    lowered = key.lower()
    last = re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", key)[-1].lower() or lowered
    if lowered.startswith(_BOOLEAN_PREFIXES):
        return {"type": "boolean"}
    if last in _INTEGER_WORDS or lowered.endswith("_count") or lowered == "id":
        return {"type": "integer"}
    if last in _NUMBER_WORDS:
        return {"type": "number"}
    if lowered in _LIST_WORDS:
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "string"}


def asks_for_fence(request: Conversation) -> bool:
    """Whether the prompt asks for JSON in a Markdown code block (instructor's MD_JSON), not
    only names one to forbid it (CrewAI: "Ensure the final output does not include any code
    block markers like ```json or ```python.")."""
    return _asks_fence(request.last_user) or _asks_fence(request.system)


_NEGATION = re.compile(r"\b(?:not|no|never|without|avoid|don't|doesn't|nor)\b", re.IGNORECASE)


def _names_json(text: str) -> bool:
    """Whether "json" is in the text in any case, as each pattern here needs: a few
    nanoseconds a character, where the patterns' own search takes tens (a 7 MB prompt
    took 0.3 s for them all)."""
    return "json" in text.casefold()


@per_text
def _asks_fence(text: str) -> bool:
    if not _names_json(text):
        return False
    for found in _ASKS_FENCE.finditer(text):
        sentence = re.split(r"[.!?]\s|\n", text[: found.start()])[-1]
        if _NEGATION.search(sentence) is None:
            return True
    return False


# "You MUST answer with JSON." (the Vercel AI SDK's prompt for JSON without a schema),
# "Respond in JSON format", "Return the result as valid JSON", "Output only a JSON object".
_ASKS_JSON = re.compile(
    r"\b(?:answer|respond|reply|return|output|format|write|give|provide|generate|create|"
    r"produce|list|describe|summari[sz]e|extract)\w*\b[^.\n]{0,40}?"
    r"\b(?:in|with|as|only|using)\s+(?:(?:valid|a|an|only|the|plain|raw|pure|strict)\s+)*"
    r"json\b",
    re.IGNORECASE,
)


def asks_for_json(request: Conversation) -> bool:
    """Whether the system message or the last user message tells the model to answer in
    JSON, schema or not."""
    return _asks_json_in(request.system) or _asks_json_in(request.last_user)


@per_text
def _asks_json_in(text: str) -> bool:
    return _names_json(text) and _ASKS_JSON.search(text) is not None


# "json" as a word of its own: a file name ending in it ("settings.json", Claude Code's
# system prompt names several) or Python's module (`json.py`, `import json`) asks for no
# JSON answer.
_JSON_WORD = re.compile(r"(?<![.\w])(?<!import )json(?!\.\w)", re.IGNORECASE)


def mentions_json(request: Conversation) -> bool:
    """Whether the last user message or the system message speaks of JSON (not only of a
    `.json` file)."""
    return _names_json_word(request.last_user) or _names_json_word(request.system)


@per_text
def _names_json_word(text: str) -> bool:
    return _names_json(text) and _JSON_WORD.search(text) is not None


def is_schema(value: dict[str, Any]) -> bool:
    """Whether an object reads as a JSON Schema rather than as an instance."""
    properties = value.get("properties")
    if isinstance(properties, dict) and properties:
        return all(isinstance(p, dict | bool) for p in properties.values())
    if value.get("type") in _SCHEMA_TYPES and ("items" in value or "enum" in value):
        return True
    return any(mark in value for mark in _SCHEMA_MARKS)


# The keywords of a property's schema, as a prompt that shows the properties alone writes
# them: each property is all of these, and has a type (or what stands for one).
_PROPERTY_KEYWORDS = frozenset(
    ("type", "description", "title", "items", "enum", "const", "format", "default",
     "examples", "properties", "required", "additionalProperties", "minimum", "maximum",
     "minLength", "maxLength", "pattern", "minItems", "maxItems", "$ref", "anyOf", "oneOf",
     "allOf", "nullable")
)  # fmt: skip
_TYPE_STANDS_IN = ("$ref", "anyOf", "oneOf", "allOf", "enum", "const")


def _is_properties(value: dict[str, Any]) -> bool:
    """Whether an object reads as a schema's `properties` alone: every value the schema of
    a property (`{"city": {"type": "string"}, "age": {"type": "integer"}}`), not an
    instance (`{"city": {"type": "home"}}` names no JSON type)."""
    return bool(value) and all(
        isinstance(sub, dict)
        and sub.keys() <= _PROPERTY_KEYWORDS
        and (_names_type(sub.get("type")) or any(k in sub for k in _TYPE_STANDS_IN))
        for sub in value.values()
    )


def _names_type(kind: object) -> bool:
    if isinstance(kind, list):
        return bool(kind) and all(k in _SCHEMA_TYPES for k in kind)
    return kind in _SCHEMA_TYPES


def schema_of(example: Any) -> dict[str, Any]:
    """A schema for values shaped like `example`: the same keys, values of the same types."""
    if isinstance(example, dict):
        return {
            "type": "object",
            "properties": {k: schema_of(v) for k, v in example.items()},
            "required": list(example),
        }
    if isinstance(example, list):
        return {"type": "array", "items": schema_of(example[0]) if example else {}}
    if isinstance(example, bool):
        return {"type": "boolean"}
    if isinstance(example, int):
        return {"type": "integer"}
    if isinstance(example, float):
        return {"type": "number"}
    if example is None:
        return {"type": "null"}
    return {"type": "string"}


def _message_objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects a message shows, read with its braces undoubled when a prompt
    template escaped them all and sent them so: LlamaIndex's text-completion program
    appends `Here's a JSON schema to follow: {{"$defs": {{"Address": …}}}}`, where only
    leaf fragments (`{"type": "string"}`, an enum's schema) read as JSON."""
    found = _objects(text)
    if "{{" not in text:  # JSON itself never opens two objects in a row
        return found
    undoubled = _objects(text.replace("{{", "{").replace("}}", "}"))
    if any(is_schema(value) and _is_object_schema(value) for value in undoubled):
        return undoubled
    return found


def _is_object_schema(value: dict[str, Any]) -> bool:
    return value.get("type") == "object" or isinstance(value.get("properties"), dict)


def _objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects in a text, in the order they appear (fenced blocks and prose)."""
    found: list[tuple[int, dict[str, Any]]] = []
    for match in _FENCED.finditer(text):
        value = _loads(match.group(1).strip())
        if isinstance(value, dict):
            found.append((match.start(), value))
    # The prose around the fences: fenced text blanked out, so that offsets stay the same.
    prose = _FENCED.sub(lambda m: " " * len(m.group(0)), text)
    found += _inline_objects(prose)
    return [value for _, value in sorted(found, key=lambda item: item[0])]


def _inline_objects(text: str) -> list[tuple[int, dict[str, Any]]]:
    decoder = json.JSONDecoder()
    found = []
    start = text.find("{")
    attempts = 0
    while start >= 0 and attempts < MAX_ATTEMPTS:
        attempts += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            found.append((start, value))
        start = text.find("{", end)
    return found


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
