"""The embeddings dialect without HTTP: the Conversation `parse` builds, its 400s, and the
vectors `answer` writes (unit length, one vector per text whatever the batch, base64 as
the float32 bytes)."""

from __future__ import annotations

import base64
import math
import struct
from dataclasses import replace
from typing import Any

import orjson
import pytest

from mockllm.conversation import Message
from mockllm.dialects import ParseContext, embeddings
from mockllm.errors import RequestError
from mockllm.render import render
from mockllm.rules import ErrorSpec, Fault, Reply
from mockllm.wire import JSON_TYPE
from tests.factories import make_embeddings_request

INVALID_INPUT = (
    "'$.input' is invalid. Please check the API reference: "
    "https://platform.openai.com/docs/api-reference."
)


def refused(body: dict[str, Any]) -> RequestError:
    with pytest.raises(RequestError) as info:
        embeddings.parse(orjson.dumps(body), {}, embeddings.PATH, ParseContext())
    assert info.value.status == 400
    return info.value


def answered(request: Any, fault: Fault | None = None) -> Any:
    rendered = render(Reply(is_default=True), request, 1)
    return embeddings.answer(rendered, request, 1700000000, fault)


def vectors(**request: Any) -> list[list[float]]:
    body = answered(make_embeddings_request(**request)).body
    return [item["embedding"] for item in orjson.loads(body)["data"]]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- parse ----------------------------------------------------------------------------------


def test_each_input_is_a_user_message():
    request = make_embeddings_request(input=["How do I reset it?", "Revenue grew"], user="u1")
    assert request.messages == (
        Message("user", "How do I reset it?"),
        Message("user", "Revenue grew"),
    )
    assert (request.api, request.path, request.turn, request.max_tokens) == (
        "embeddings",
        "/v1/embeddings",
        2,
        0,
    )
    wire = request.wire
    assert wire.texts == ("How do I reset it?", "Revenue grew")
    # "How", " do", " I", " reset", " it", "?" and "Revenue", " grew".
    assert (wire.tokens, request.input_tokens) == (8, 8)
    assert (wire.dimensions, wire.native, wire.encoding, wire.seed) == (1536, 1536, "float", 0)


def test_token_arrays_are_read_back_to_their_text():
    # cl100k_base, as tiktoken encodes "hello world" and "我忘了密码"; usage counts the ids.
    one = make_embeddings_request(input=[15339, 1917])
    assert (one.wire.texts, one.wire.tokens) == (("hello world",), 2)
    assert one.messages == (Message("user", "hello world"),)
    two = make_embeddings_request(input=[[15339, 1917], [37046, 26203, 246, 35287, 33967]])
    assert (two.wire.texts, two.wire.tokens) == (("hello world", "我忘了密码"), 7)
    edges = make_embeddings_request(input=[[0], [100256], [100257], [37046, 26203]])
    assert edges.wire.texts == ("!", "", "<|endoftext|>", "我\ufffd")


def test_a_token_array_has_the_vector_of_its_text():
    """Bit for bit: the same text, so the same vector, in floats and in base64."""
    for encoding_format in ("float", "base64"):
        as_text = vectors(input=["hello world", "我忘了密码"], encoding_format=encoding_format)
        as_ids = vectors(
            input=[[15339, 1917], [37046, 26203, 246, 35287, 33967]],
            encoding_format=encoding_format,
        )
        assert as_ids == as_text
    usage = orjson.loads(answered(make_embeddings_request(input=[[15339, 1917]])).body)["usage"]
    assert usage == {"prompt_tokens": 2, "total_tokens": 2}


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ([-1], -1),
        ([[15339, 1917], [15339, 100258]], 100258),
        ([[100276]], 100276),
        ([15339, 2**63], 2**63),
        ([[18446744073709551615]], 18446744073709551615),
    ],
)
def test_an_id_outside_the_vocabulary_is_refused_in_the_api_words(value, token):
    error = refused({"model": "text-embedding-3-small", "input": value})
    assert (error.param, error.code) == (None, None)
    assert error.message == (
        f"Invalid token in prompt: {token}. Minimum value is 0, maximum value is 100257 "
        "(inclusive)."
    )


def test_sizes_by_model_and_dimensions():
    assert make_embeddings_request(model="text-embedding-3-large").wire.native == 3072
    custom = make_embeddings_request(model="bge-small", dimensions_default=384)
    assert (custom.wire.native, custom.wire.dimensions) == (384, 384)
    cut = make_embeddings_request(dimensions=256, encoding_format="base64", seed=7)
    assert (cut.wire.native, cut.wire.dimensions, cut.wire.encoding, cut.wire.seed) == (
        1536,
        256,
        "base64",
        7,
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        [1.5],
        [[]],
        ["ok", 3],
        [[1, 2], "x"],
        ["x", [1, 2]],
        [[1], 2],
        [True, 1],
        [[1, False]],
        [[1.0]],
        [["x"]],
        [[[1]]],
        {"text": "x"},
        [1e30],
    ],
)
def test_an_input_the_api_refuses(value):
    error = refused({"model": "text-embedding-3-small", "input": value})
    assert (error.param, error.message) == (None, INVALID_INPUT)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "Invalid 'input': input cannot be an empty array."),
        (["x"] * 2049, "Invalid 'input': array length must be 2048 or less."),
        ([[1]] * 2049, "Invalid 'input': array length must be 2048 or less."),
        ([1] * 2049, "Invalid 'input': array length must be 2048 or less."),
        ([""], "Invalid 'input[0]': input cannot be an empty string."),
        (["a", ""], "Invalid 'input[1]': input cannot be an empty string."),
    ],
)
def test_an_empty_list_one_too_long_and_an_empty_item_have_their_own_words(value, message):
    error = refused({"model": "text-embedding-3-small", "input": value})
    assert (error.param, error.code, error.message) == (None, None, message)


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"input": "x"}, "model", "Missing required parameter: 'model'."),
        ({"model": "text-embedding-3-small"}, "input", "Missing required parameter: 'input'."),
        (
            {"model": "text-embedding-3-small", "input": "x", "encoding_format": "int8"},
            "encoding_format",
            "Invalid value: 'int8'. Supported values are: 'float' and 'base64'.",
        ),
        (
            {"model": "text-embedding-ada-002", "input": "x", "dimensions": 256},
            None,
            "This model does not support specifying dimensions.",
        ),
        (
            {"model": "text-embedding-3-small", "input": "x", "dimensions": 4000},
            "dimensions",
            "Invalid value for 'dimensions' = 4000. Must be less than or equal to 1536.",
        ),
        (
            {"model": "text-embedding-3-small", "input": "x", "dimensions": 0},
            "dimensions",
            "Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got "
            "0 instead.",
        ),
        (
            {"model": "text-embedding-3-small", "input": "x" + " x" * 8999},
            None,
            "Invalid 'input': maximum context length is 8192 tokens.",
        ),
        (
            {"model": "text-embedding-3-small", "input": ["x" + " x" * 7999] * 40},
            None,
            "Requested 320000 tokens, max 300000 tokens per request",
        ),
        (
            {"model": "text-embedding-3-small", "input": [[15339] * 9000]},
            "input[0]",
            "Invalid 'input[0]': maximum input length is 8192 tokens.",
        ),
        (
            {"model": "text-embedding-3-small", "input": [[15339] * 8000] * 40},
            None,
            "Requested 320000 tokens, max 300000 tokens per request",
        ),
        (
            {"model": "text-embedding-3-small", "input": "x", "user": 5},
            "user",
            "Invalid type for 'user': expected a string, but got an integer instead.",
        ),
    ],
)
def test_bad_requests_are_refused_in_the_api_wording(body, param, message):
    error = refused(body)
    assert (error.param, error.message) == (param, message)


# --- answers --------------------------------------------------------------------------------


def test_the_list_of_embeddings_in_input_order():
    request = make_embeddings_request(input=["alpha beta", "gamma"])
    body = answered(request)
    assert (body.status, body.content_type, body.events) == (200, JSON_TYPE, ())
    answer = orjson.loads(body.body)
    assert list(answer) == ["object", "data", "model", "usage"]
    assert (answer["object"], answer["model"]) == ("list", "text-embedding-3-small")
    assert [(d["object"], d["index"], len(d["embedding"])) for d in answer["data"]] == [
        ("embedding", 0, 1536),
        ("embedding", 1, 1536),
    ]
    assert answer["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


@pytest.mark.parametrize("dimensions", [None, 256, 7])
def test_vectors_have_unit_length(dimensions):
    extra = {"dimensions": dimensions} if dimensions else {}
    for vector in vectors(input=["a short text", "another, longer text here"], **extra):
        assert len(vector) == (dimensions or 1536)
        assert math.isclose(math.sqrt(cosine(vector, vector)), 1.0, rel_tol=1e-5)


def test_a_text_has_one_vector_alone_or_in_any_batch():
    alone = vectors(input="reset my password")[0]
    first = vectors(input=["reset my password", "quarterly revenue"])[0]
    last = vectors(input=["quarterly revenue", "weather", "reset my password"])[2]
    assert alone == first == last


def test_vectors_depend_on_the_text_the_model_and_the_seed():
    base = vectors(input="reset my password")[0]
    assert vectors(input="reset my passwords")[0] != base
    assert vectors(input="reset my password", model="text-embedding-3-large")[0][:8] != base[:8]
    assert vectors(input="reset my password", seed=1)[0] != base


def test_texts_that_share_words_are_closer():
    query, related, unrelated = vectors(
        input=["I forgot my password", "How do I reset my password?", "Revenue grew ten percent"]
    )
    assert cosine(query, related) > cosine(query, unrelated) + 0.2


def test_a_cut_vector_is_the_normalised_prefix_of_the_full_one():
    full = vectors(input="the same text")[0]
    short = vectors(input="the same text", dimensions=256)[0]
    norm = math.sqrt(cosine(full[:256], full[:256]))
    assert short == pytest.approx([v / norm for v in full[:256]], rel=1e-4, abs=1e-6)


def test_base64_is_the_little_endian_float32_bytes():
    floats = vectors(input=["one", "two"])
    encoded = vectors(input=["one", "two"], encoding_format="base64")
    for as_floats, as_base64 in zip(floats, encoded, strict=True):
        raw = base64.b64decode(as_base64)
        assert len(raw) == 4 * 1536
        # JSON numbers are float32 values in their shortest form: packed, the same bytes.
        assert raw == struct.pack(f"<{len(as_floats)}f", *as_floats)


def test_the_answer_is_due_after_the_latency():
    request = make_embeddings_request()
    rendered = replace(render(Reply(is_default=True), request, 1), offsets=(0.3,))
    assert embeddings.answer(rendered, request, 0, None).offsets == (0.3,)


def test_faults_of_an_embeddings_answer():
    request = make_embeddings_request(input="x")
    intact = answered(request).body
    assert answered(request, Fault(malformed_chunk_at=1)).body == intact[: len(intact) // 2]
    cut = answered(request, Fault(disconnect_after_tokens=1))
    assert (cut.body, cut.abort_after) == (intact, len(intact) // 2)
    failed = answered(request, Fault(error_after_tokens=0, error=ErrorSpec(502)))
    assert failed.status == 502
    assert failed.body == (
        b'{"error":{"message":"Bad gateway.","type":"server_error","param":null,'
        b'"code":"bad_gateway"}}'
    )


def test_errors_refusals_and_headers_in_openai_shape():
    body = embeddings.failure(ErrorSpec(429), 0.1)
    assert (body.status, body.offsets) == (429, (0.1,))
    assert orjson.loads(body.body)["error"]["code"] == "rate_limit_exceeded"
    assert embeddings.refusal(RequestError(400, INVALID_INPUT, param="input")) == (
        b'{"error":{"message":"' + INVALID_INPUT.encode() + b'",'
        b'"type":"invalid_request_error","param":"input","code":null}}'
    )
    assert embeddings.headers(429, ())[0] == ("retry-after", "1")


def test_a_null_encoding_format_is_the_default():
    body = {"model": "text-embedding-3-small", "input": "hi", "encoding_format": None}
    request = embeddings.DIALECT.parse(orjson.dumps(body), {}, embeddings.PATH, ParseContext())
    plain = embeddings.DIALECT.parse(
        orjson.dumps({k: v for k, v in body.items() if k != "encoding_format"}),
        {},
        embeddings.PATH,
        ParseContext(),
    )
    assert request.wire == plain.wire


def test_a_question_is_closest_to_the_text_about_its_subject():
    """What a text is about decides what it is near: stop words and punctuation do not
    (they ranked the Paris text first for "what is the dog called"), and inflections
    meet (`dogs`, `dog`; `named`, `name`)."""
    from mockllm.dialects.embeddings import vector

    docs = [
        "Our office dog is named Biscuit and he loves walks.",
        "The weather in Paris is usually mild in the spring.",
        "To cancel your subscription, open Settings and choose Billing.",
        "The capital of Japan is Tokyo.",
    ]
    model = "text-embedding-3-small"
    vectors = [vector(d, model, 0, 1536, 1536) for d in docs]
    questions = {
        "What's the name of the dog?": 0,
        "what is the dog called": 0,
        "dogs": 0,
        "Is it usually mild in Paris?": 1,
        "How do I cancel my subscription?": 2,
        "What is the capital of Japan?": 3,
    }
    for question, expected in questions.items():
        q = vector(question, model, 0, 1536, 1536)
        scores = [float(q @ v) for v in vectors]
        assert max(range(4), key=scores.__getitem__) == expected, (question, scores)
