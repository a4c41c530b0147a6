"""The Messages dialect against the API's own rules, without HTTP: structured outputs, the
typed request options, extended thinking's limits, tool-use turns, images and documents,
cache breakpoints and the Claude catalogue (each refusal in the API's words)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jsonschema
import orjson
import pytest

from mockllm.dialects import ParseContext
from mockllm.dialects import messages as dialect
from mockllm.dialects import messages_answer as wire
from mockllm.errors import RequestError
from mockllm.render import render
from mockllm.rules import ChoiceSpec, Reply
from mockllm.state import MemoryStore
from mockllm.template import compile_template

LENIENT = ParseContext(lenient=True)
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},  # a `minimum` is refused: the SDK writes it in a description
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}
TOOL = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def refused(context: ParseContext | None = None, **fields: Any) -> str:
    """The message of the 400 a request with these fields gets."""
    with pytest.raises(RequestError) as caught:
        parse(context, **fields)
    assert caught.value.status == 400
    return caught.value.message


def parse(context: ParseContext | None = None, **fields: Any) -> Any:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello"}],
        **fields,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return dialect.parse(
        orjson.dumps(body), {}, dialect.PATH, context or ParseContext(refuse_unknown=False)
    )


def text_of(request: Any, **reply: Any) -> str:
    """The text block of the answer a reply (or, with none, the generator) gives."""
    compiled = {k: compile_template(v) if isinstance(v, str) else v for k, v in reply.items()}
    chosen = Reply(choices=(ChoiceSpec(**compiled),)) if reply else Reply(is_default=True)
    content = wire.message_object(render(chosen, request, seed=7), request)["content"]
    texts = [b["text"] for b in content if b["type"] == "text"]
    assert len(texts) == 1, content
    return str(texts[0])


# --- 1. structured outputs and the typed options ---------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"output_config": {"format": {"type": "json_schema", "schema": PERSON}}},
        {"output_config": {"effort": "high", "format": {"type": "json_schema", "schema": PERSON}}},
        {"output_format": {"type": "json_schema", "schema": PERSON}},  # the beta's field
    ],
)
def test_a_json_output_format_gets_json_valid_against_its_schema(fields: dict[str, Any]) -> None:
    request = parse(**fields)
    assert request.response_format.type == "json_schema"
    jsonschema.validate(json.loads(text_of(request)), PERSON)
    thinking = parse(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 1024}, **fields)
    jsonschema.validate(json.loads(text_of(thinking)), PERSON)
    # a rule that says how, not what (only a thought): the text is still JSON of the schema
    jsonschema.validate(json.loads(text_of(request, reasoning="Think first.")), PERSON)
    assert text_of(request, content="scripted") == "scripted"  # a scripted text is kept


def test_without_an_output_format_the_answer_is_prose() -> None:
    request = parse(output_config={"effort": "low"})
    assert request.response_format.type == "text"
    with pytest.raises(ValueError):
        json.loads(text_of(request))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"output_config": {"format": {"type": "bogus", "schema": PERSON}}},
            "output_config.format.type: Input should be 'json_schema'",
        ),
        (
            {"output_config": {"format": {"type": "json_schema"}}},
            "output_config.format.schema: Field required",
        ),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": []}}},
            "output_config.format.schema: Input should be a valid dictionary",
        ),
        (
            {"output_config": {"effort": "ultra"}},
            "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
        ),
        (
            {"output_config": {"colour": "red"}},
            "output_config.colour: Extra inputs are not permitted",
        ),
        ({"output_config": 1}, "output_config: Input should be a valid dictionary"),
        ({"output_format": {"type": "text"}}, "output_format.type: Input should be 'json_schema'"),
        ({"service_tier": 1}, "service_tier: Input should be 'auto' or 'standard_only'"),
        ({"service_tier": "priority"}, "service_tier: Input should be 'auto' or 'standard_only'"),
        ({"speed": "x"}, "speed: Input should be 'standard' or 'fast'"),
        ({"container": 1}, "container: Input should be a valid string"),
        ({"container": []}, "container: Input should be a valid string"),
        (
            {"container": {"skills": [{"skill_id": "pptx", "type": "x"}]}},
            "container.skills.0.type: Input should be 'anthropic' or 'custom'",
        ),
        ({"cache_control": "x"}, "cache_control: Input should be a valid dictionary"),
        (
            {"cache_control": {"type": "ephemeral", "ttl": "2h"}},
            "cache_control.ephemeral.ttl: Input should be '5m' or '1h'",
        ),
        ({"inference_geo": 1}, "inference_geo: Input should be a valid string"),
        ({"mcp_servers": "x"}, "mcp_servers: Input should be a valid list"),
        ({"mcp_servers": [1]}, "mcp_servers.0: Input should be a valid dictionary"),
        (
            {"mcp_servers": [{"type": "url", "url": "https://mcp.example"}]},
            "mcp_servers.0.name: Field required",
        ),
        ({"diagnostics": []}, "diagnostics: Input should be a valid dictionary"),
        (
            {"diagnostics": {"previous_message_id": 7}},
            "diagnostics.previous_message_id: Input should be a valid string",
        ),
    ],
)
def test_typed_options_refuse_values_of_the_wrong_type(
    fields: dict[str, Any], message: str
) -> None:
    assert refused(**fields) == message
    assert refused(LENIENT, **fields) == message  # malformed: --lenient refuses it too


def test_well_typed_options_are_accepted() -> None:
    parse(
        service_tier="standard_only",
        speed="fast",
        container={"id": "container_1", "skills": [{"skill_id": "pptx", "type": "anthropic"}]},
        cache_control={"type": "ephemeral", "ttl": "1h"},
        inference_geo="us",
        mcp_servers=[{"type": "url", "name": "docs", "url": "https://mcp.example"}],
        diagnostics={"previous_message_id": None},
        output_config={"effort": "max"},
    )
    parse(container="container_1", speed=None, diagnostics={})


# --- 2. extended thinking's limits -------------------------------------------------------------

THINKING = {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024}}
TEMPERATURE_WORDS = (
    "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode. Please "
    "consult our documentation at https://platform.claude.com/docs/en/build-with-claude/"
    "extended-thinking"
)
DOCS = (
    "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/"
    "extended-thinking#important-considerations-when-using-extended-thinking"
)
ONE_SAMPLER = (
    "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({**THINKING, "temperature": 0.5}, TEMPERATURE_WORDS),
        ({"thinking": {"type": "adaptive"}, "temperature": 0}, TEMPERATURE_WORDS),
        (
            {**THINKING, "top_p": 0.9},
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled or "
            f"in adaptive mode. {DOCS}",
        ),
        (
            {**THINKING, "top_k": 5},
            f"`top_k` must be unset when thinking is enabled or in adaptive mode. {DOCS}",
        ),
        (
            {**THINKING, "model": "claude-3-5-haiku-20241022"},
            "'claude-3-5-haiku-20241022' does not support thinking.",
        ),
        (
            {**THINKING, "model": "claude-3-opus-20240229"},
            "'claude-3-opus-20240229' does not support thinking.",
        ),
        (
            {"thinking": {"type": "adaptive"}, "model": "claude-3-5-sonnet-20241022"},
            "'claude-3-5-sonnet-20241022' does not support thinking.",
        ),
        ({"temperature": 0.5, "top_p": 0.9}, ONE_SAMPLER),
        ({"temperature": 0.5, "top_p": 0.9, "model": "claude-haiku-4-5"}, ONE_SAMPLER),
        ({"temperature": 0.5, "top_p": 0.9, "model": "claude-opus-4-1-20250805"}, ONE_SAMPLER),
    ],
)
def test_what_thinking_and_the_model_do_not_take(fields: dict[str, Any], message: str) -> None:
    assert refused(**fields) == message
    parse(LENIENT, **fields)  # well-formed: --lenient takes it


def test_what_thinking_and_the_models_take() -> None:
    parse(model="claude-sonnet-4-20250514", **THINKING, temperature=1, top_p=0.95)
    parse(model="claude-sonnet-4-5", **THINKING, temperature=1)
    parse(**THINKING, top_p=1)
    parse(thinking={"type": "disabled"}, temperature=0.2, top_k=10)
    parse(model="claude-3-5-haiku-20241022", thinking={"type": "disabled"})
    # models before Opus 4.1 take both samplers
    parse(model="claude-sonnet-4-20250514", temperature=0.5, top_p=0.9)
    parse(model="claude-3-7-sonnet-20250219", temperature=0.5, top_p=0.9)
    parse(model="claude-opus-4-20250514", temperature=0.5, top_p=0.9)


# --- 3. thinking blocks kept through a tool loop -----------------------------------------------

USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "3C"}
THOUGHT = {"type": "thinking", "thinking": "Look it up.", "signature": "EqQBCkYIBxgC"}


def loop(assistant: list[dict[str, Any]], *after: dict[str, Any]) -> list[dict[str, Any]]:
    """user, the assistant's turn, the user's tool results (and more turns after)."""
    return [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": [RESULT]},
        *after,
    ]


def thinking_words(found: str, index: int = 1) -> str:
    return (
        f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
        f"found `{found}`. When `thinking` is enabled, a final `assistant` message must start "
        "with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` "
        "blocks). We recommend you include thinking blocks from previous turns. To avoid this "
        "requirement, disable `thinking`. Please consult our documentation at "
        "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    )


@pytest.mark.parametrize(
    ("assistant", "found"),
    [([USE], "tool_use"), ([{"type": "text", "text": "Looking."}, USE], "text")],
)
def test_a_tool_loop_that_dropped_its_thinking_is_refused(
    assistant: list[dict[str, Any]], found: str
) -> None:
    fields = {"tools": [TOOL], "messages": loop(assistant), **THINKING}
    assert refused(**fields) == thinking_words(found)
    parse(LENIENT, **fields)
    # a second user message after the results is combined with them: still the tool loop
    more = loop(assistant, {"role": "user", "content": "And tomorrow?"})
    assert refused(tools=[TOOL], messages=more, **THINKING) == thinking_words(found)


def test_thinking_blocks_kept_or_thinking_off_or_a_new_question_pass() -> None:
    parse(tools=[TOOL], messages=loop([THOUGHT, USE]), **THINKING)
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgB"}
    parse(tools=[TOOL], messages=loop([redacted, USE]), **THINKING)
    parse(tools=[TOOL], messages=loop([USE]))  # thinking off
    parse(tools=[TOOL], messages=loop([USE]), thinking={"type": "disabled"})
    # an earlier loop without thinking, then a new question: only the last loop counts
    earlier = [
        *loop([USE]),
        {"role": "assistant", "content": "It is 3C."},
        {"role": "user", "content": "Thanks! Anything else?"},
    ]
    parse(tools=[TOOL], messages=earlier, **THINKING)
    # counting tokens does not ask for it
    body = {"model": "claude-sonnet-4-5", "tools": [TOOL], "messages": loop([USE])}
    body["thinking"] = THINKING["thinking"]
    dialect.parse(orjson.dumps(body), {}, dialect.COUNT_TOKENS_PATH)


# --- 4. the Claude catalogue ---------------------------------------------------------------------

PREFILL = (
    "This model does not support assistant message prefill. The conversation must end with a "
    "user message."
)


@pytest.mark.parametrize(
    ("model", "most"),
    [
        ("claude-opus-4-5", 64000),
        ("claude-opus-4-5-20251101", 64000),
        ("claude-opus-4-6", 128000),
        ("claude-sonnet-4-6", 128000),
        ("claude-opus-4-1-20250805", 32000),
    ],
)
def test_each_claude_model_takes_its_own_max_tokens(model: str, most: int) -> None:
    assert parse(model=model, max_tokens=most).max_tokens == most
    assert refused(model=model, max_tokens=most + 1) == (
        f"max_tokens: {most + 1} > {most}, which is the maximum allowed number of output "
        f"tokens for {model}"
    )


@pytest.mark.parametrize("model", ["claude-opus-4-6", "claude-sonnet-4-6"])
def test_the_4_6_models_refuse_a_prefill(model: str) -> None:
    prefilled = [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "The colour is"},
    ]
    assert refused(model=model, messages=prefilled) == PREFILL
    parse(LENIENT, model=model, messages=prefilled)
    parse(model="claude-opus-4-5", messages=prefilled)  # earlier models take it
    parse(model=model, messages=prefilled[:1])


# --- 5. smaller refusals -----------------------------------------------------------------------

PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
CACHED = {"type": "ephemeral"}


def image(data: str, media_type: str = "image/png") -> list[dict[str, Any]]:
    source = {"type": "base64", "media_type": media_type, "data": data}
    block = {"type": "image", "source": source}
    return [{"role": "user", "content": [block, {"type": "text", "text": "What is this?"}]}]


def document(source: dict[str, Any]) -> list[dict[str, Any]]:
    block = {"type": "document", "source": source}
    return [{"role": "user", "content": [block, {"type": "text", "text": "Summarise it."}]}]


def cached_blocks(count: int) -> list[dict[str, Any]]:
    texts = [{"type": "text", "text": f"part {n}", "cache_control": CACHED} for n in range(count)]
    return [{"role": "user", "content": texts}]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"tool_choice": {"type": "any"}},
            "tool_choice.any may only be specified while providing tools",
        ),
        (
            {"tool_choice": {"type": "tool", "name": "get_weather"}, "tools": []},
            "tool_choice.tool may only be specified while providing tools",
        ),
        (
            {"messages": cached_blocks(5)},
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        (
            {
                "system": [{"type": "text", "text": "Terse.", "cache_control": CACHED}],
                "tools": [{**TOOL, "cache_control": CACHED}],
                "messages": cached_blocks(3),
            },
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        (
            {
                "messages": [
                    *loop([USE])[:2],
                    {"role": "user", "content": [{"type": "text", "text": "Here:"}, RESULT]},
                ],
                "tools": [TOOL],
            },
            "messages.2: Did not find 1 `tool_result` block(s) at the beginning of this "
            "message. Messages following `tool_use` blocks must begin with a matching number of "
            "`tool_result` blocks.",
        ),
    ],
)
def test_well_formed_requests_the_api_refuses(fields: dict[str, Any], message: str) -> None:
    assert refused(**fields) == message
    parse(LENIENT, **fields)  # --lenient takes them


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"messages": image("")},
            "messages.0.content.0.image.source.base64: image cannot be empty",
        ),
        (
            {"messages": image("not base64!")},
            "messages.0.content.0.image.source.base64: invalid base64 data",
        ),
        (
            {"messages": image("iVBORw0KGgo\u00e9")},  # a character outside ASCII
            "messages.0.content.0.image.source.base64: invalid base64 data",
        ),
        (
            {"messages": image("data:image/png;base64," + PNG)},
            "messages.0.content.0.image.source.base64: invalid base64 data",
        ),
        ({"messages": image("aGVsbG8=")}, "Could not process image"),  # "hello"
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "text",
                                "text": "hi",
                                "cache_control": {"type": "ephemeral", "ttl": "2h"},
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0.text.cache_control.ephemeral.ttl: Input should be '5m' or '1h'",
        ),
        (
            {
                "messages": document(
                    {"type": "base64", "media_type": "application/msword", "data": "eA=="}
                )
            },
            "messages.0.content.0.document.source.base64.media_type: Input should be "
            "'application/pdf'",
        ),
        (
            {"messages": document({"type": "base64", "media_type": "application/pdf"})},
            "messages.0.content.0.document.source.base64.data: Field required",
        ),
        (
            {"messages": document({"type": "text", "media_type": "text/html", "data": "<p>"})},
            "messages.0.content.0.document.source.text.media_type: Input should be 'text/plain'",
        ),
        (
            {"messages": document({"type": "pdf"})},
            "messages.0.content.0.document.source: Input tag 'pdf' found using 'type' does not "
            "match any of the expected tags: 'base64', 'text', 'content', 'url', 'file'",
        ),
        (
            {"messages": document({"type": "url"})},
            "messages.0.content.0.document.source.url.url: Field required",
        ),
    ],
)
def test_malformed_images_documents_and_breakpoints(fields: dict[str, Any], message: str) -> None:
    assert refused(**fields) == message
    assert refused(LENIENT, **fields) == message  # malformed: refused under --lenient too


def test_what_the_api_takes_of_these() -> None:
    parse(messages=image(PNG))
    parse(messages=cached_blocks(4))
    parse(tool_choice={"type": "auto"})  # auto and none need no tools
    parse(tool_choice={"type": "none"})
    parse(
        messages=document({"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="})
    )
    parse(messages=document({"type": "text", "media_type": "text/plain", "data": "Notes."}))
    parse(messages=document({"type": "content", "content": [{"type": "text", "text": "a"}]}))
    parse(messages=document({"type": "url", "url": "https://example.com/a.pdf"}))
    parse(messages=document({"type": "file", "file_id": "file_011"}))
    # tool results first, then the user's words: as the API wants it
    then_text = {"role": "user", "content": [RESULT, {"type": "text", "text": "Thanks"}]}
    parse(tools=[TOOL], messages=[*loop([USE])[:2], then_text])
    # a forced choice without tools, under --lenient, is answered as if there were no choice
    lenient = parse(LENIENT, tool_choice={"type": "any"})
    assert lenient.tool_choice is None
    assert text_of(lenient)


# --- 6. server-held threads --------------------------------------------------------------------


def threaded(store: Any, **fields: Any) -> Any:
    return parse(ParseContext(refuse_unknown=False, store=store), **fields)


def test_a_thread_is_held_under_the_answer_and_continued() -> None:
    store = MemoryStore()
    first = threaded(
        store,
        system="Be terse.",
        tools=[TOOL],
        thread={"type": "create"},
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    )
    assert first.wire.thread is not None
    rendered = render(
        Reply(choices=(ChoiceSpec(tool_calls=(), content=compile_template("Calling.")),)),
        first,
        seed=7,
    )
    dialect.remember(store, first, rendered, 0)
    reply_id = wire.message_id(rendered)
    assert store.get_document(dialect.THREAD_KIND, reply_id) is not None
    second = threaded(
        store,
        thread={"type": "continue", "previous_message_id": reply_id},
        messages=[{"role": "user", "content": "And tomorrow?"}],
    )
    assert [(m.role, m.text) for m in second.messages] == [
        ("system", "Be terse."),
        ("user", "Weather in Oslo?"),
        ("assistant", "Calling."),
        ("user", "And tomorrow?"),
    ]
    assert second.tool_names == {"get_weather"}  # the thread's tools
    assert second.body["messages"] == [{"role": "user", "content": "And tomorrow?"}]  # as sent
    assert parse(messages=[{"role": "user", "content": "hi"}]).wire.thread is None


def test_an_unknown_thread_is_a_404_the_sdk_recognises() -> None:
    with pytest.raises(RequestError) as caught:
        threaded(MemoryStore(), thread={"type": "continue", "previous_message_id": "msg_01x"})
    assert (caught.value.status, caught.value.code) == (404, "thread_not_found")
    body = json.loads(wire.refusal(caught.value, "req_1"))
    assert body == {
        "type": "error",
        "error": {
            "details": {"error_code": "thread_not_found"},
            "type": "not_found_error",
            "message": "No usable Thread state was found for `previous_message_id`.",
        },
        "request_id": "req_1",
    }
    assert refused(thread={"type": "fork"}) == (
        "thread: Input tag 'fork' found using 'type' does not match any of the expected tags: "
        "'create', 'continue'"
    )
    assert refused(thread={"type": "continue"}) == (
        "thread.continue.previous_message_id: Field required"
    )


def test_a_response_is_continued_once_and_a_continue_takes_no_system_or_tools() -> None:
    store = MemoryStore()
    first = threaded(store, thread={"type": "create"})
    rendered = render(Reply(choices=(ChoiceSpec(content=compile_template("Hi.")),)), first, seed=7)
    dialect.remember(store, first, rendered, 0)
    reply_id = wire.message_id(rendered)
    again = {"type": "continue", "previous_message_id": reply_id}
    second = threaded(store, thread=again)
    assert second.wire.continues == reply_id
    # asked only: the response is not continued until the continue is answered
    threaded(store, thread=again)
    second_rendered = render(
        Reply(choices=(ChoiceSpec(content=compile_template("Yes.")),)), second, seed=8
    )
    dialect.remember(store, second, second_rendered, 0)
    with pytest.raises(RequestError) as caught:
        threaded(store, thread=again)
    assert (caught.value.status, caught.value.code) == (400, "thread_already_continued")
    assert json.loads(wire.refusal(caught.value))["error"] == {
        "details": {"error_code": "thread_already_continued"},
        "type": "invalid_request_error",
        "message": "The response that `previous_message_id` names has already been continued, "
        "and each response can be continued only once. Continue from the Thread's most recent "
        "response `id`.",
    }
    latest = {"type": "continue", "previous_message_id": wire.message_id(second_rendered)}
    threaded(store, thread=latest)  # the latest one continues
    for fields, named in (
        ({"system": "Be terse."}, "`system`"),
        ({"tools": [TOOL]}, "`tools`"),
        ({"system": "x", "tools": [TOOL]}, "`system` and `tools`"),
    ):
        with pytest.raises(RequestError) as caught:
            threaded(store, thread=latest, **fields)
        assert (caught.value.status, caught.value.code) == (400, "thread_unsupported_request")
        assert caught.value.message.startswith(f"{named} cannot be sent with `thread.continue`")
        error = json.loads(wire.refusal(caught.value))["error"]
        assert error["details"] == {"error_code": "thread_unsupported_request"}
    # --lenient forks the thread and lets a continue replace its system
    lenient = ParseContext(refuse_unknown=False, store=store, lenient=True)
    parse(lenient, thread=again, system="Be terse.")


# --- 7. tool pairing -------------------------------------------------------------------------


def test_a_tool_use_takes_one_result_and_tool_use_ids_are_unique() -> None:
    twice = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [USE]},
        {"role": "user", "content": [RESULT, RESULT]},
    ]
    assert refused(tools=[TOOL], messages=twice) == (
        "messages.2.content.1: each tool_use must have a single result. Found multiple "
        "`tool_result` blocks with id: toolu_1"
    )
    same_id = loop([USE, USE])
    same_id[2] = {"role": "user", "content": [RESULT, RESULT]}
    assert refused(tools=[TOOL], messages=same_id) == (
        "messages.1.content.1: `tool_use` ids must be unique"
    )
    other = {**USE, "id": "toolu_2"}
    both = {"role": "user", "content": [RESULT, {**RESULT, "tool_use_id": "toolu_2"}]}
    parse(tools=[TOOL], messages=[*loop([USE, other])[:2], both])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "messages.0.content.0.document.source.base64: PDF cannot be empty"),
        (
            "aGVsbG8=",
            "messages.0.content.0.pdf.source.base64.data: The PDF specified was not valid.",
        ),
        (
            base64.b64encode(b"<html><body>not a pdf</body></html>").decode(),
            "messages.0.content.0.pdf.source.base64.data: The PDF specified was not valid.",
        ),
        (
            "JVBERi0\u00e9",
            "messages.0.content.0.pdf.source.base64.data: The PDF specified was not valid.",
        ),
        (
            "not base64!",
            "messages.0.content.0.pdf.source.base64.data: The PDF specified was not valid.",
        ),
    ],
)
def test_a_base64_document_must_be_a_pdf(data: str, message: str) -> None:
    source = {"type": "base64", "media_type": "application/pdf", "data": data}
    assert refused(messages=document(source)) == message
    pdf = base64.b64encode(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n").decode()
    parse(messages=document({**source, "data": pdf}))


# --- 9. thinking signatures ------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["AAAA", "not base64", "", wire.signature_for("Other.")])
def test_a_thinking_block_with_a_signature_no_one_gave_is_refused(signature: str) -> None:
    block = {"type": "thinking", "thinking": "Look it up.", "signature": signature}
    messages = loop([block, USE])
    assert refused(tools=[TOOL], messages=messages) == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    parse(LENIENT, tools=[TOOL], messages=messages)


def test_thinking_signed_here_or_by_the_api_and_redacted_thinking_pass() -> None:
    ours = {**THOUGHT, "signature": wire.signature_for("Look it up.")}
    parse(tools=[TOOL], messages=loop([ours, USE]), **THINKING)
    parse(tools=[TOOL], messages=loop([THOUGHT, USE]), **THINKING)  # the API's (a recording)
    redacted = {"type": "redacted_thinking", "data": "AAAA"}
    parse(tools=[TOOL], messages=loop([redacted, USE]), **THINKING)


# --- 10. Opus 4.7 and 4.8 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["claude-opus-4-7", "claude-opus-4-8", "claude-opus-4-8-20260601"]
)
def test_opus_4_7_and_later_think_adaptively_and_take_no_sampling(model: str) -> None:
    budget = {"type": "enabled", "budget_tokens": 2048}
    assert refused(model=model, max_tokens=4096, thinking=budget) == (
        '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" '
        'and "output_config.effort" to control thinking behavior.'
    )
    for name, value in (("temperature", 0.2), ("top_p", 0.9), ("top_k", 5)):
        assert refused(model=model, **{name: value}) == f"`{name}` is deprecated for this model."
        parse(LENIENT, model=model, **{name: value})
    parse(model=model, max_tokens=128000, thinking={"type": "adaptive"})
    assert refused(model=model, max_tokens=128001).startswith("max_tokens: 128001 > 128000")
    # Opus 4 itself still takes both
    parse(model="claude-opus-4-0", max_tokens=4096, thinking=budget, temperature=1)
