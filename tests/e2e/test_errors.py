"""Errors: scripted statuses map to the SDK's exception classes; bad input gets a clear 4xx."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types import Model

from .helpers import (
    UNMATCHED_PROMPT,
    check_error,
    journal,
    make_chat_request,
    post_chat,
    reset,
)

ERROR_MODELS = [
    ("error-400", 400, openai.BadRequestError),
    ("error-401", 401, openai.AuthenticationError),
    ("error-402", 402, openai.APIStatusError),
    ("error-403", 403, openai.PermissionDeniedError),
    ("error-404", 404, openai.NotFoundError),
    ("error-429", 429, openai.RateLimitError),
    ("error-500", 500, openai.InternalServerError),
    ("error-503", 503, openai.InternalServerError),
]
SPECIFIC_CLASSES = (
    openai.BadRequestError,
    openai.AuthenticationError,
    openai.PermissionDeniedError,
    openai.NotFoundError,
    openai.ConflictError,
    openai.UnprocessableEntityError,
    openai.RateLimitError,
    openai.InternalServerError,
)


def client_for(server, **options) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", **{"max_retries": 0, **options})


@pytest.fixture
def fresh(examples_server):
    """The examples server with sequence counters and the journal back at the start."""
    reset(examples_server.url)
    yield examples_server
    reset(examples_server.url)


@pytest.mark.parametrize(
    ("model", "status", "exc_class"), ERROR_MODELS, ids=[m[0] for m in ERROR_MODELS]
)
def test_error_models_raise_the_sdk_exception(examples_server, model, status, exc_class):
    client = client_for(examples_server)
    with pytest.raises(exc_class) as caught:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status
    if status == 402:
        assert not isinstance(caught.value, SPECIFIC_CLASSES)
    assert caught.value.request_id, "errors carry x-request-id"


@pytest.mark.parametrize(
    ("model", "status", "exc_class"), ERROR_MODELS, ids=[m[0] for m in ERROR_MODELS]
)
def test_error_body_shape(examples_server, model, status, exc_class):
    response = post_chat(examples_server.base_url, make_chat_request("hi", model=model))
    error = check_error(response, status)
    assert response.headers.get("x-request-id")
    if status == 429:
        assert response.headers["retry-after"] == "2"
        assert response.headers.get("x-ratelimit-limit-requests")
        assert response.headers.get("x-ratelimit-remaining-requests")
    if model == "error-400":
        assert error["param"] == "messages"
        assert error["message"] == "Invalid 'messages': scripted bad request."
    if model == "error-402":
        assert error["code"] == "insufficient_credits"
        assert error["message"] == "Insufficient credits"
    if model == "error-403":
        assert error["code"] == "insufficient_user_quota"
        assert error["message"] == "insufficient balance"
    if model == "error-404":
        assert error["code"] == "model_not_found"


def test_api_key_rule_gives_402(examples_server):
    client = OpenAI(base_url=examples_server.base_url, api_key="ak_empty", max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 402
    assert caught.value.code == "insufficient_credits"


def test_quota_429_type_and_code(examples_server):
    error = check_error(
        post_chat(examples_server.base_url, make_chat_request("hi", model="error-quota")), 429
    )
    assert error["type"] == "insufficient_quota"
    assert error["code"] == "insufficient_quota"


@pytest.mark.parametrize("model", ["error-429", "error-500"])
def test_stream_request_to_an_error_model_gets_json(examples_server, model):
    response = post_chat(
        examples_server.base_url, make_chat_request("hi", model=model, stream=True)
    )
    check_error(response, int(model.rsplit("-", 1)[1]))
    assert b"data:" not in response.content

    client = client_for(examples_server)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    assert caught.value.status_code == int(model.rsplit("-", 1)[1])


def test_sdk_retries_the_flaky_sequence(fresh):
    client = client_for(fresh, max_retries=2)
    started = time.monotonic()
    completion = client.chat.completions.create(
        model="flaky-model", messages=[{"role": "user", "content": "try"}]
    )
    elapsed = time.monotonic() - started
    assert completion.choices[0].message.content == "third time lucky"
    assert elapsed >= 0.9, f"the SDK waited {elapsed:.2f}s; the 429 said Retry-After: 1"
    statuses = [e["status"] for e in journal(fresh.url) if e["model"] == "flaky-model"]
    assert statuses == [429, 503, 200]
    assert all(e["rule"] and "retry-then-succeed" in e["rule"] for e in journal(fresh.url))

    # then: repeat_last
    again = client_for(fresh).chat.completions.create(
        model="flaky-model", messages=[{"role": "user", "content": "try"}]
    )
    assert again.choices[0].message.content == "third time lucky"


def test_reset_restarts_the_sequence(fresh):
    client = client_for(fresh)
    messages = [{"role": "user", "content": "try"}]
    with pytest.raises(openai.RateLimitError) as first:
        client.chat.completions.create(model="flaky-model", messages=messages)
    assert first.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.InternalServerError) as second:
        client.chat.completions.create(model="flaky-model", messages=messages)
    assert second.value.status_code == 503
    assert (
        client.chat.completions.create(model="flaky-model", messages=messages)
        .choices[0]
        .message.content
        == "third time lucky"
    )
    reset(fresh.url)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="flaky-model", messages=messages)


# --- bad input ------------------------------------------------------------------------


def test_malformed_json(examples_server):
    check_error(post_chat(examples_server.base_url, b'{"model": "gpt-4o", "messages": ['), 400)


def test_model_missing(examples_server):
    error = check_error(
        post_chat(examples_server.base_url, {"messages": [{"role": "user", "content": "hi"}]}), 400
    )
    assert error["param"] == "model" or "model" in error["message"]


def test_messages_missing(examples_server):
    error = check_error(post_chat(examples_server.base_url, {"model": "gpt-4o"}), 400)
    assert error["param"] == "messages"


def test_messages_empty(examples_server):
    error = check_error(
        post_chat(examples_server.base_url, {"model": "gpt-4o", "messages": []}), 400
    )
    assert error["param"] == "messages"


@pytest.mark.parametrize(
    ("field", "value"), [("temperature", "hot"), ("n", "2"), ("stream", "yes")]
)
def test_wrong_types_name_the_param(examples_server, field, value):
    body = make_chat_request("hi", model="gpt-4o", **{field: value})
    error = check_error(post_chat(examples_server.base_url, body), 400)
    assert error["param"] == field
    assert field in error["message"]


def test_unknown_role(examples_server):
    body = {"model": "gpt-4o", "messages": [{"role": "wizard", "content": "hi"}]}
    error = check_error(post_chat(examples_server.base_url, body), 400)
    assert error["param"] == "messages[0].role"


def test_body_over_8_mib(examples_server):
    body = json.dumps(make_chat_request("x" * (8 * 1024 * 1024 + 10), model="gpt-4o")).encode()
    check_error(post_chat(examples_server.base_url, body, timeout=30), 413)
    assert post_chat(examples_server.base_url, make_chat_request("Hello!")).status_code == 200


def test_body_over_8_mib_without_content_length(examples_server):
    payload = json.dumps(make_chat_request("x" * (8 * 1024 * 1024 + 10), model="gpt-4o")).encode()

    def pieces():
        for i in range(0, len(payload), 1 << 20):
            yield payload[i : i + (1 << 20)]

    try:
        response = httpx.post(
            f"{examples_server.base_url}/chat/completions",
            content=pieces(),
            headers={"content-type": "application/json"},
            timeout=30,
        )
    except httpx.TransportError:
        response = None  # the server may close the upload early; then it must not have answered 2xx
    if response is not None:
        check_error(response, 413)
    assert post_chat(examples_server.base_url, make_chat_request("Hello!")).status_code == 200


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/nothing"), ("GET", "/v1/not/a/path")])
def test_unknown_path(examples_server, method, path):
    response = httpx.request(method, f"{examples_server.url}{path}", json={}, timeout=5)
    check_error(response, 404)


def test_get_on_chat_completions_lists_the_stored_ones_and_put_is_refused(examples_server):
    listed = httpx.get(f"{examples_server.base_url}/chat/completions", timeout=5)
    assert listed.status_code == 200 and listed.json()["object"] == "list"
    check_error(httpx.put(f"{examples_server.base_url}/chat/completions", timeout=5), 405)


def test_unknown_model(examples_server):
    # A prompt no bundled rule matches: no rule answers, so the model id decides.
    body = make_chat_request(UNMATCHED_PROMPT, model="no-such-model-xyz")
    error = check_error(post_chat(examples_server.base_url, body), 404)
    assert error["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client_for(examples_server).chat.completions.create(
            model="no-such-model-xyz", messages=body["messages"]
        )


def test_models_list(examples_server):
    response = httpx.get(f"{examples_server.base_url}/models", timeout=5)
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "list"
    for item in data["data"]:
        Model.model_validate(item)
        assert item["object"] == "model"
    ids = {m.id for m in client_for(examples_server).models.list()}
    assert {"gpt-4o", "flaky-model", "error-429"} <= ids


@pytest.mark.parametrize("model", ["gpt-4o", "flaky-model"])
def test_models_retrieve(examples_server, model):
    found = client_for(examples_server).models.retrieve(model)
    assert found.id == model
    assert found.object == "model"


def test_models_retrieve_unknown(examples_server):
    with pytest.raises(openai.NotFoundError):
        client_for(examples_server).models.retrieve("no-such-model-xyz")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v1/nothing", 404),
        ("PUT", "/v1/chat/completions", 405),
        ("GET", "/v1/models/no-such-model-xyz", 404),
    ],
)
def test_every_error_carries_a_request_id(examples_server, method, path, status):
    """PRODUCT.md: errors carry the headers the real service sends, x-request-id among them."""
    response = httpx.request(method, f"{examples_server.url}{path}", timeout=5)
    check_error(response, status)
    assert response.headers.get("x-request-id"), dict(response.headers)


def with_fields(extra: bytes) -> bytes:
    """A valid request body with extra raw JSON fields appended."""
    return b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], ' + extra + b"}"


BAD_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"\xff\xfe\x00garbage",
    b'{"model": 5, "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "gpt-4o", "messages": "hi"}',
    b'{"model": "gpt-4o", "messages": ["hi"]}',
    b'{"model": "gpt-4o", "messages": [{"content": "hi"}]}',
    b'{"model": "gpt-4o", "messages": [{"role": "user"}]}',
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}',
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "bogus"}]}]}',
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text"}]}]}',
    b'{"model": "gpt-4o", "messages": [{"role": "tool", "content": "x"}]}',
    b'{"model": "gpt-4o", "messages": [{"role": "assistant", "tool_calls": "x"}]}',
    with_fields(b'"n": 0'),
    with_fields(b'"n": 100000'),
    with_fields(b'"max_tokens": 0'),
    with_fields(b'"max_tokens": 1.5'),
    with_fields(b'"temperature": 9'),
    with_fields(b'"stop": 5'),
    with_fields(b'"stop": ["a","b","c","d","e"]'),
    with_fields(b'"tools": {}'),
    with_fields(b'"tools": [{"type": "function"}]'),
    with_fields(b'"tool_choice": "required"'),
    with_fields(b'"response_format": {"type": "xml"}'),
    with_fields(b'"response_format": {"type": "json_schema"}'),
    with_fields(b'"stream_options": {"include_usage": true}'),
    with_fields(b'"top_logprobs": 3'),
    with_fields(b'"metadata": "x"'),
    with_fields(b'"seed": "x"'),
    with_fields(b'"temperature": NaN'),
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_bad_input_is_a_4xx_never_a_500(examples_server, body):
    response = post_chat(examples_server.base_url, body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    check_error(response, response.status_code)
    assert "Traceback" not in response.text


def test_numbers_past_any_bound_are_a_400_not_a_500(examples_server):
    """An integer of 5,000 digits (past what Python's int() reads) in a Messages body, a
    model list's limit and an input-items limit: refused in each family's shape."""
    anthropic = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    huge = "9" * 5000
    body = (
        b'{"model":"claude-sonnet-4-20250514","max_tokens":' + huge.encode() + b","
        b'"messages":[{"role":"user","content":"hi"}]}'
    )
    base = examples_server.url
    messages = httpx.post(f"{base}/v1/messages", content=body, headers=anthropic)
    assert messages.status_code == 400, messages.text
    assert messages.json()["error"]["type"] == "invalid_request_error"
    models = httpx.get(f"{base}/v1/models", params={"limit": huge}, headers=anthropic)
    assert models.status_code == 400
    assert models.json()["error"]["message"] == "limit: Input should be less than or equal to 1000"
    made = httpx.post(f"{base}/v1/responses", json={"model": "gpt-4o", "input": "hi"}).json()
    items = httpx.get(f"{base}/v1/responses/{made['id']}/input_items", params={"limit": huge})
    assert items.status_code == 400 and items.json()["error"]["param"] == "limit"


def test_a_messages_body_that_is_not_utf8_is_named_without_pythons_words(examples_server):
    response = httpx.post(
        f"{examples_server.url}/v1/messages",
        content=b"\x1f\x8b\x08bad",
        headers={"anthropic-version": "2023-06-01", "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "The request body is not valid JSON: invalid UTF-8: byte 0x8b at position 1"
    )


def test_a_messages_body_encoding_is_refused_as_the_anthropic_sdk_names_it(examples_server):
    """The SDK tells these apart by `error.details.error_code` (400, not the OpenAI
    families' 415, for an encoding the API does not take)."""
    import anthropic

    headers = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    url = f"{examples_server.url}/v1/messages"
    body = b'{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}'
    cases = [
        ({"content-encoding": "br"}, body, 400, "request_body_encoding_unsupported"),
        ({"content-encoding": "gzip"}, b"not gzip", 400, "request_body_encoding_invalid"),
    ]
    for extra, data, status, code in cases:
        response = httpx.post(url, content=data, headers={**headers, **extra})
        assert response.status_code == status, response.text
        assert response.json()["error"]["details"] == {"error_code": code}
    client = anthropic.Anthropic(
        base_url=examples_server.url,
        api_key="k",
        max_retries=0,
        default_headers={"content-encoding": "br"},
    )
    try:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    except anthropic.BadRequestError as caught:
        assert caught.status_code == 400
    else:
        raise AssertionError("the br body was answered")


def test_prompt_cache_retention_takes_the_apis_two_values(examples_server):
    """The hyphenated 'in-memory' older SDKs typed is refused as the API refuses it (quoted
    in pydantic/pydantic-ai issue 4028); 'in_memory' and '24h' are taken."""
    client = client_for(examples_server)
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gpt-4o", messages=messages, prompt_cache_retention="in-memory"
        )
    assert refused.value.body == {
        "message": "Invalid value: 'in-memory'. Supported values are: 'in_memory' and '24h'.",
        "type": "invalid_request_error",
        "param": "prompt_cache_retention",
        "code": "invalid_value",
    }
    for value in ("in_memory", "24h"):
        answer = client.chat.completions.create(
            model="gpt-4o", messages=messages, prompt_cache_retention=value
        )
        assert answer.choices[0].message.role == "assistant"


def test_safety_identifier_and_functions_are_bounded_as_the_openapi_document_bounds_them(
    examples_server,
):
    client = client_for(examples_server)
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gpt-4o", messages=messages, safety_identifier="u" * 65
        )
    assert refused.value.body == {
        "message": "Invalid 'safety_identifier': string too long. Expected a string with "
        "maximum length 64, but got a string with length 65 instead.",
        "type": "invalid_request_error",
        "param": "safety_identifier",
        "code": "string_above_max_length",
    }
    client.chat.completions.create(model="gpt-4o", messages=messages, safety_identifier="u" * 64)
    functions = [{"name": f"f{i}", "parameters": {"type": "object"}} for i in range(129)]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-4o", messages=messages, functions=functions)
    assert refused.value.body["code"] == "array_above_max_length"
    assert refused.value.body["param"] == "functions"
    assert refused.value.body["message"] == (
        "Invalid 'functions': array too long. Expected an array with maximum length 128, but "
        "got an array with length 129 instead."
    )
    client.chat.completions.create(model="gpt-4o", messages=messages, functions=functions[:128])


AUDIO_PART = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "ogg"}}
BOUNDED_FIELDS = [
    # (fields added to a chat request, the param named, the code)
    ({"messages": [{"role": "user", "content": [AUDIO_PART]}]},
     "messages[0].content[0].input_audio.format", "invalid_value"),
    ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": 7}}]}]},
     "messages[0].content[0].file.file_id", "invalid_type"),
    ({"tools": [{"type": "function", "function": {"name": "f", "description": 5}}]},
     "tools[0].function.description", "invalid_type"),
    ({"stream": True, "stream_options": {"include_usage": "yes"}},
     "stream_options.include_usage", "invalid_type"),
    ({"audio": {"voice": "alloy", "format": "ogg"}, "modalities": ["text", "audio"]},
     "audio.format", "invalid_value"),
    ({"audio": {"format": "wav"}, "modalities": ["text", "audio"]},
     "audio.voice", "missing_required_parameter"),
    ({"prediction": {"type": "other", "content": "x"}}, "prediction.type", "invalid_value"),
    ({"prediction": {"type": "content", "content": 5}}, "prediction.content", "invalid_type"),
    ({"web_search_options": {"search_context_size": "huge"}},
     "web_search_options.search_context_size", "invalid_value"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "param", "code"), BOUNDED_FIELDS)
def test_nested_fields_are_checked_as_the_openapi_document_types_them(
    examples_server, fields, param, code
):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **fields}
    error = check_error(post_chat(examples_server.base_url, body), 400)
    assert (error["param"], error["code"]) == (param, code), error


def test_the_valid_forms_of_those_fields_are_answered(examples_server):
    client = client_for(examples_server)
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}}
    client.chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=[{"role": "user", "content": [audio]}],
        modalities=["text", "audio"],
        audio={"voice": {"id": "voice_1234"}, "format": "pcm16"},
    )
    client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "rewrite it"}],
        prediction={"type": "content", "content": [{"type": "text", "text": "old code"}]},
        web_search_options={
            "search_context_size": "low",
            "user_location": {"type": "approximate", "approximate": {"city": "Paris"}},
        },
        tools=[{"type": "function", "function": {"name": "f", "description": None}}],
    )
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True, "include_obfuscation": False},
    )
    assert [c for c in stream][-1].usage is not None
