"""The JSON a prompt asks for: the schema it carries, as the libraries write it."""

from __future__ import annotations

import json
from textwrap import dedent

from pydantic import BaseModel

from mockllm.prompt_json import asks_for_fence, asks_for_json, prompt_schema, schema_of
from tests.factories import make_chat_request


class User(BaseModel):
    name: str
    age: int


# instructor's JSON and MD_JSON modes (instructor/mode_json.py): the system message.
INSTRUCTOR_SYSTEM = dedent(
    f"""
    As a genius expert, your task is to understand the content and provide
    the parsed objects in json that match the following json_schema:\n

    {json.dumps(User.model_json_schema(), indent=2, ensure_ascii=False)}

    Make sure to return an instance of the JSON, not the schema itself
    """
)
MD_JSON_ASK = "Return the correct JSON response within a ```json codeblock. not the JSON_SCHEMA"

# LangChain's PydanticOutputParser format instructions: an example schema and instance
# first, the real schema last, in a fence.
LANGCHAIN = """The output should be formatted as a JSON instance that conforms to the JSON schema below.

As an example, for the schema {"properties": {"foo": {"title": "Foo", "description": "a list of strings", "type": "array", "items": {"type": "string"}}}, "required": ["foo"]}
the object {"foo": ["bar", "baz"]} is a well-formatted instance of the schema. The object {"properties": {"foo": ["bar", "baz"]}} is not well-formatted.

Here is the output schema:
```
{"properties": {"setup": {"title": "Setup", "type": "string"}, "punchline": {"title": "Punchline", "type": "string"}}, "required": ["setup", "punchline"]}
```"""  # noqa: E501


def request(*messages: tuple[str, str], **fields: object) -> object:
    return make_chat_request(messages=[{"role": r, "content": c} for r, c in messages], **fields)


def test_instructor_json_mode_schema_is_found() -> None:
    asked = request(("system", INSTRUCTOR_SYSTEM), ("user", "Extract: Jane Doe is 30"))
    assert prompt_schema(asked) == User.model_json_schema()  # type: ignore[arg-type]
    assert not asks_for_fence(asked)  # type: ignore[arg-type]


def test_instructor_md_json_asks_for_a_fence() -> None:
    asked = request(
        ("system", INSTRUCTOR_SYSTEM), ("user", f"Extract: Jane Doe is 30\n\n{MD_JSON_ASK}")
    )
    assert asks_for_fence(asked)  # type: ignore[arg-type]
    assert prompt_schema(asked) == User.model_json_schema()  # type: ignore[arg-type]


def test_the_last_schema_wins_over_examples() -> None:
    asked = request(("user", f"Tell me a joke.\n{LANGCHAIN}"))
    schema = prompt_schema(asked)  # type: ignore[arg-type]
    assert schema is not None and set(schema["properties"]) == {"setup", "punchline"}


def test_an_example_object_gives_its_shape() -> None:
    asked = request(("user", 'Answer in JSON like {"city": "Paris", "population": 2100000}.'))
    assert prompt_schema(asked) == {  # type: ignore[arg-type]
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    assert schema_of([{"ok": True}]) == {
        "type": "array",
        "items": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
    }


def test_data_in_a_user_message_is_not_a_shape() -> None:
    asked = request(("user", 'Summarize this JSON for me: {"orders": 3, "late": 1}'))
    assert prompt_schema(asked) is None  # type: ignore[arg-type]


def test_no_json_no_schema() -> None:
    asked = request(("user", "Write {a poem} about {the sea}."))
    assert prompt_schema(asked) is None  # type: ignore[arg-type]
    assert not asks_for_fence(asked)  # type: ignore[arg-type]


def test_keys_named_in_a_prompt_that_asks_for_json_give_the_shape() -> None:
    cases = {
        "Return a JSON object with the keys name, age and email.": ["name", "age", "email"],
        "Give me JSON with name and age fields for a person.": ["name", "age"],
        "Answer in JSON with keys: `title`, `year`, `rating`, `is_sequel`, `tags`.": [
            "title",
            "year",
            "rating",
            "is_sequel",
            "tags",
        ],
        "List books as JSON objects with fields title / author.": ["title", "author"],
    }
    for text, keys in cases.items():
        schema = prompt_schema(request(("user", text)))  # type: ignore[arg-type]
        assert schema is not None and list(schema["properties"]) == keys, text
        assert schema["required"] == keys
    schema = prompt_schema(
        request(("user", "Answer in JSON with keys: `year`, `rating`, `is_sequel`, `tags`."))
    )
    assert schema is not None
    assert {k: v["type"] for k, v in schema["properties"].items()} == {
        "year": "integer",
        "rating": "integer",
        "is_sequel": "boolean",
        "tags": "array",
    }


def test_words_that_are_not_a_list_of_keys_give_no_shape() -> None:
    for text in (
        "Describe the key differences between JSON and YAML.",
        "Explain the properties of water, in JSON.",
        "Return the fields for each record as JSON.",
    ):
        assert prompt_schema(request(("user", text))) is None, text  # type: ignore[arg-type]
    assert prompt_schema(request(("user", "Use the keys name and age."))) is None  # no JSON


def test_an_object_schema_wins_over_the_fragments_of_a_template_with_doubled_braces():
    """LlamaIndex's text-completion program shows the schema with its braces doubled: the
    prompt holds no whole schema, only fragments (an enum's), and the answer was a bare
    enum value. The last object schema read wins over later fragments."""
    from mockllm.prompt_json import prompt_schema
    from tests.factories import make_chat_request

    text = (
        'Answer with JSON for this schema: {{"type": "object", "properties": '
        '{"title": {"type": "string"}, "status": {"$ref": "#/$defs/Status"}}, '
        '"required": ["title"]}} where $defs is {"Status": {"enum": ["open", "closed"], '
        '"type": "string"}}'
    )
    schema = prompt_schema(make_chat_request(messages=[{"role": "user", "content": text}]))
    assert schema is not None and "properties" in schema


def test_an_instruction_to_answer_in_json_is_read_with_or_without_a_schema() -> None:
    def asks(system: str, user: str = "Make a person") -> bool:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return asks_for_json(make_chat_request(messages=messages))

    # The Vercel AI SDK's instruction for JSON without a schema, and others like it.
    for said in (
        "You MUST answer with JSON.",
        "Respond in JSON format.",
        "Return the result as valid JSON.",
        "Output only a JSON object.",
    ):
        assert asks(said), said
    # A request with nothing but the user's words (the AI SDK's generateObject with
    # output 'no-schema' on Anthropic sends only those).
    for said in (
        "Generate a lasagna recipe as JSON.",
        "Create a list of three fruits in JSON format.",
        "Extract the names and ages as JSON.",
        "Summarize the article in JSON.",
    ):
        assert asks("", said), said
    # Talk about JSON is not an instruction to answer in it.
    for said in (
        "Explain what JSON is.",
        "How do I return JSON from Flask?",
        "Parse this JSON",
        "Describe the JSON format briefly.",
        "Generate a report about JSON parsers.",
    ):
        assert not asks("You are helpful.", said), said


def test_a_fence_named_to_forbid_it_is_not_asked_for() -> None:
    def fenced(user: str) -> bool:
        return asks_for_fence(request(("system", "You are helpful."), ("user", user)))  # type: ignore[arg-type]

    # CrewAI's words after a task's output schema.
    assert not fenced(
        "Format your final answer according to the following OpenAPI schema: {}\n\n"
        "Do not include the OpenAPI schema in the final output. Ensure the final output "
        "does not include any code block markers like ```json or ```python."
    )
    assert not fenced("Answer without a ```json fence.")
    assert fenced(f"Extract: Jane Doe is 30\n\n{MD_JSON_ASK}")
    assert fenced("Don't explain. Put the answer in a json code block.")
