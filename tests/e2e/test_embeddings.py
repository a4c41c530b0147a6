"""Embeddings through the official openai SDK (sync and async) and raw httpx."""

from __future__ import annotations

import asyncio
import base64
import math
import struct
import time
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.openai_schemas import check

from ..conftest import RunningServer, start_server
from .helpers import journal, write_scenario

RULES = """\
version: 1
rules:
  - name: embeddings-down
    match: { api: embeddings, model: broken-embedding }
    reply: { error: { status: 503 } }
  - name: slow-embeddings
    match: { api: embeddings, model: slow-embedding }
    reply: { latency: { ttft_ms: 300 } }
  - name: no-passwords
    match: { api: embeddings, model: guarded-embedding, last_user: { contains: password } }
    reply: { error: { status: 403 } }
"""
CORPUS = [
    "How do I reset my password?",
    "Steps to change the password of your account",
    "Quarterly revenue grew by ten percent",
    "The cat sat on the warm windowsill",
    "Bake the bread at 220 degrees for thirty minutes",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("embeddings")
    rules = write_scenario(tmp, RULES)
    running = start_server("--scenarios", str(rules), "--seed", "3", tmp_path=tmp)
    yield running
    running.stop()


def client(server: RunningServer, max_retries: int = 0) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=max_retries)


def post(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/embeddings",
        json=body,
        headers={"authorization": "Bearer sk-test"},
        timeout=10,
    )


def float32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_float_vectors_have_the_model_size_and_unit_length(server: RunningServer) -> None:
    raw = post(server, {"model": "text-embedding-3-small", "input": "hello world"})
    assert raw.status_code == 200
    body = raw.json()
    check("CreateEmbeddingResponse", body)
    assert list(body) == ["object", "data", "model", "usage"]
    (item,) = body["data"]
    assert list(item) == ["object", "index", "embedding"]
    vector = item["embedding"]
    assert len(vector) == 1536
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-5)
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    large = post(server, {"model": "text-embedding-3-large", "input": "hello world"}).json()
    assert len(large["data"][0]["embedding"]) == 3072


def test_sdk_default_base64_gives_the_same_vectors_as_float(server: RunningServer) -> None:
    sdk = client(server)
    via_base64 = sdk.embeddings.create(model="text-embedding-3-small", input="hello world")
    via_float = sdk.embeddings.create(
        model="text-embedding-3-small", input="hello world", encoding_format="float"
    )
    # Both carry the same float32 values: base64 their bytes, JSON their shortest decimals.
    assert float32(via_base64.data[0].embedding) == float32(via_float.data[0].embedding)
    raw = post(
        server,
        {"model": "text-embedding-3-small", "input": "hello world", "encoding_format": "base64"},
    ).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == via_base64.data[0].embedding


def test_dimensions_cut_and_renormalise(server: RunningServer) -> None:
    sdk = client(server)
    full = (
        sdk.embeddings.create(
            model="text-embedding-3-large", input="lighthouse", encoding_format="float"
        )
        .data[0]
        .embedding
    )
    short = (
        sdk.embeddings.create(
            model="text-embedding-3-large",
            input="lighthouse",
            dimensions=256,
            encoding_format="float",
        )
        .data[0]
        .embedding
    )
    assert len(short) == 256
    assert math.isclose(math.sqrt(sum(v * v for v in short)), 1.0, rel_tol=1e-5)
    norm = math.sqrt(sum(v * v for v in full[:256]))
    assert all(
        math.isclose(s, f / norm, rel_tol=1e-4, abs_tol=1e-6)
        for s, f in zip(short, full[:256], strict=True)
    )


def test_a_list_is_answered_in_order_and_a_text_keeps_its_vector(server: RunningServer) -> None:
    sdk = client(server)
    batch = sdk.embeddings.create(model="text-embedding-3-small", input=CORPUS)
    assert [d.index for d in batch.data] == list(range(len(CORPUS)))
    alone = sdk.embeddings.create(model="text-embedding-3-small", input=CORPUS[3])
    assert alone.data[0].embedding == batch.data[3].embedding
    again = client(server).embeddings.create(model="text-embedding-3-small", input=CORPUS)
    assert [d.embedding for d in again.data] == [d.embedding for d in batch.data]
    other_model = sdk.embeddings.create(model="text-embedding-ada-002", input=CORPUS[3])
    assert other_model.data[0].embedding != alone.data[0].embedding


def test_texts_that_share_words_rank_closer(server: RunningServer) -> None:
    sdk = client(server)
    corpus = [d.embedding for d in sdk.embeddings.create(
        model="text-embedding-3-small", input=CORPUS, encoding_format="float"
    ).data]  # fmt: skip
    query = (
        sdk.embeddings.create(
            model="text-embedding-3-small",
            input="I forgot my password, how do I reset it?",
            encoding_format="float",
        )
        .data[0]
        .embedding
    )
    scores = [cosine(query, doc) for doc in corpus]
    ranking = sorted(range(len(CORPUS)), key=lambda i: -scores[i])
    assert ranking[:2] == [0, 1]  # the two password documents first
    assert scores[0] > 0.3 and max(scores[2:]) < 0.15


# cl100k_base ids, as tiktoken encodes each text.
HELLO_WORLD = [15339, 1917]
FORGOT_PASSWORD = [40, 29695, 856, 3636]  # "I forgot my password"
CHINESE = [37046, 26203, 246, 35287, 33967]  # "我忘了密码"


def test_a_token_array_has_the_vector_of_its_text(server: RunningServer) -> None:
    with client(server) as sdk:
        check_token_arrays(server, sdk)


def check_token_arrays(server: RunningServer, sdk: OpenAI) -> None:
    texts = ["hello world", "I forgot my password", "我忘了密码"]
    as_text = sdk.embeddings.create(model="text-embedding-3-small", input=texts)
    as_ids = sdk.embeddings.create(
        model="text-embedding-3-small", input=[HELLO_WORLD, FORGOT_PASSWORD, CHINESE]
    )
    assert [d.embedding for d in as_ids.data] == [d.embedding for d in as_text.data]
    assert (as_ids.usage.prompt_tokens, as_ids.usage.total_tokens) == (11, 11)
    one = sdk.embeddings.create(model="text-embedding-3-large", input=HELLO_WORLD, dimensions=256)
    same = sdk.embeddings.create(
        model="text-embedding-3-large", input="hello world", dimensions=256
    )
    assert one.data[0].embedding == same.data[0].embedding and one.usage.prompt_tokens == 2
    raw = post(
        server,
        {"model": "text-embedding-3-small", "input": [HELLO_WORLD], "encoding_format": "float"},
    ).json()
    check("CreateEmbeddingResponse", raw)
    assert float32(raw["data"][0]["embedding"]) == float32(as_text.data[0].embedding)
    assert journal(server.url)[-1]["request"]["input"] == [HELLO_WORLD]


def test_an_id_outside_the_vocabulary_is_a_400(server: RunningServer) -> None:
    with client(server) as sdk, pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="text-embedding-3-small", input=[15339, 100277])
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "message": "Invalid token in prompt: 100277. Minimum value is 0, maximum value is "
        "100257 (inclusive).",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    for value in ([[-5]], [[2**64 - 1]], [[1, 2**64]]):  # 2**64 is read as a decimal
        raw = post(server, {"model": "text-embedding-3-small", "input": value})
        assert raw.status_code == 400, raw.text


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"model": "text-embedding-3-small"}, "input", "Missing required parameter: 'input'."),
        ({"model": "text-embedding-3-small", "input": ""}, None, "'$.input' is invalid."),
        ({"model": "text-embedding-3-small", "input": []}, None, "cannot be an empty array."),
        ({"model": "text-embedding-3-small", "input": [1, "a"]}, None, "'$.input' is invalid."),
        (
            {"model": "text-embedding-3-small", "input": [[1], "a"]},
            None,
            "'$.input' is invalid.",
        ),
        ({"model": "text-embedding-3-small", "input": [[]]}, None, "'$.input' is invalid."),
        ({"model": "text-embedding-3-small", "input": [True]}, None, "'$.input' is invalid."),
        ({"input": "x"}, "model", "Missing required parameter: 'model'."),
        (
            {"model": "text-embedding-ada-002", "input": "x", "dimensions": 8},
            None,
            "This model does not support specifying dimensions.",
        ),
        (
            {"model": "text-embedding-3-small", "input": "x", "dimensions": 4000},
            "dimensions",
            "Must be less than or equal to 1536.",
        ),
        (
            {"model": "text-embedding-3-small", "input": "x", "encoding_format": "int8"},
            "encoding_format",
            "Supported values are: 'float' and 'base64'.",
        ),
    ],
)
def test_bad_requests_name_the_field(
    server: RunningServer, body: dict[str, Any], param: str | None, message: str
) -> None:
    raw = post(server, body)
    assert raw.status_code == 400, raw.text
    error = raw.json()["error"]
    assert error["param"] == param and message in error["message"]


def test_an_input_over_the_context_is_refused(server: RunningServer) -> None:
    raw = post(server, {"model": "text-embedding-3-small", "input": " ".join(["word"] * 9000)})
    assert raw.status_code == 400
    assert raw.json()["error"]["message"] == (
        "Invalid 'input': maximum context length is 8192 tokens."
    )


def test_a_rule_matches_the_text_of_a_token_array(server: RunningServer) -> None:
    guarded = {"model": "guarded-embedding", "input": [HELLO_WORLD, FORGOT_PASSWORD]}
    assert post(server, guarded).status_code == 403
    assert journal(server.url)[-1]["rule"] == "rules.yaml#no-passwords"
    assert post(server, {**guarded, "input": [HELLO_WORLD]}).status_code == 200


# Each query shares its subject with one document, in another form (plural, -ing).
LIBRARY = [
    "To reset your password, open Settings and choose Security.",
    "Our office dog is named Biscuit and he loves long walks.",
    "Quarterly revenue grew by ten percent thanks to strong sales.",
    "Bake the sourdough bread at 220 degrees for thirty minutes.",
    "The train to Lyon leaves from platform four every hour.",
    "Invoices are emailed on the first day of each month.",
    "Water the tomato plants early in the morning during summer.",
    "The telescope shows the rings of Saturn on clear nights.",
    "Refunds reach your card within five business days.",
    "The chess club meets on Thursday evenings in the library.",
]
SEARCHES = [
    "resetting passwords",
    "what are the dogs called",
    "revenues growing",
    "baking breads",
    "trains leaving Lyon",
    "emailing an invoice",
    "watering tomatoes",
    "Saturn ring",
    "refund to cards",
    "chess clubs meeting",
]


def test_langchain_sends_token_arrays_and_ranks_by_shared_words(
    server: RunningServer, tiktoken_offline: Any
) -> None:
    """LangChain's OpenAIEmbeddings encodes texts with tiktoken and sends the ids: each
    search finds its document first (2 of 10 did while ids were embedded as ids)."""
    from langchain_openai import OpenAIEmbeddings

    embedder = OpenAIEmbeddings(
        model="text-embedding-3-small", base_url=server.base_url, api_key="sk-test", max_retries=0
    )
    documents = embedder.embed_documents(LIBRARY)
    sent = journal(server.url)[-1]["request"]["input"]
    assert sent[0] == tiktoken_offline.get_encoding("cl100k_base").encode(LIBRARY[0])
    found = []
    for search in SEARCHES:
        query = embedder.embed_query(search)
        scores = [cosine(query, document) for document in documents]
        found.append(max(range(len(LIBRARY)), key=scores.__getitem__))
    assert found == list(range(len(LIBRARY)))


def test_rules_answer_embeddings_with_errors_and_latency(server: RunningServer) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client(server).embeddings.create(model="broken-embedding", input="x")
    assert caught.value.status_code == 503
    started = time.monotonic()
    slow = client(server).embeddings.create(model="slow-embedding", input="x")
    assert time.monotonic() - started >= 0.28 and len(slow.data[0].embedding) == 1536
    entry = journal(server.url)[-1]
    assert entry["api"] == "embeddings" and entry["rule"] == "rules.yaml#slow-embeddings"


def test_an_unknown_model_is_a_404(server: RunningServer) -> None:
    raw = post(server, {"model": "no-such-model", "input": "x"})
    assert raw.status_code == 404 and raw.json()["error"]["code"] == "model_not_found"


def test_other_embedding_models_use_the_configured_size(tmp_path: Any) -> None:
    running = start_server("--embedding-dimensions", "384", tmp_path=tmp_path)
    try:
        body = post(running, {"model": "bge-small-en", "input": "x"}).json()
        assert len(body["data"][0]["embedding"]) == 384
    finally:
        running.stop()


def test_async_client(server: RunningServer) -> None:
    async def main() -> list[list[float]]:
        async with AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as sdk:
            answer = await sdk.embeddings.create(model="text-embedding-3-small", input=CORPUS[:2])
            return [d.embedding for d in answer.data]

    vectors = asyncio.run(main())
    expected = client(server).embeddings.create(model="text-embedding-3-small", input=CORPUS[:2])
    assert vectors == [d.embedding for d in expected.data]
