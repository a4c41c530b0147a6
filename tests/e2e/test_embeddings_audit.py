"""Embeddings against what the API answers, through the official openai SDK and raw httpx:
refusals in the API's words, and answers the SDK's own decoding reads alike."""

from __future__ import annotations

import struct
from typing import Any

import openai
import pytest
from openai import OpenAI

EMBEDDING = "text-embedding-3-small"
SENTENCE = "Quarterly revenue grew by ten percent thanks to strong sales. "


def float32(values: list[float]) -> tuple[float, ...]:
    return struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values))


def refused(client: OpenAI, **body: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(**body)
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict)
    return caught.value.body


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "Invalid 'input': input cannot be an empty array."),
        (["x"] * 2049, "Invalid 'input': array length must be 2048 or less."),
        ([[15339]] * 2049, "Invalid 'input': array length must be 2048 or less."),
        ([15339] * 2049, "Invalid 'input': array length must be 2048 or less."),
    ],
    ids=["empty-list", "2049-strings", "2049-token-arrays", "2049-ids"],
)
def test_an_empty_list_and_one_too_long_are_told_apart(
    client: OpenAI, value: Any, message: str
) -> None:
    assert refused(client, model=EMBEDDING, input=value) == {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([""], "Invalid 'input[0]': input cannot be an empty string."),
        (["a", "b", "", ""], "Invalid 'input[2]': input cannot be an empty string."),
    ],
    ids=["alone", "third"],
)
def test_an_empty_string_in_a_list_is_named_by_its_index(
    client: OpenAI, value: list[str], message: str
) -> None:
    assert refused(client, model=EMBEDDING, input=value) == {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_2048_inputs_are_answered(client: OpenAI) -> None:
    answer = client.embeddings.create(model=EMBEDDING, input=["x"] * 2048, dimensions=4)
    assert [d.index for d in answer.data] == list(range(2048))
    assert answer.usage.prompt_tokens == 2048


def test_the_sdk_reads_base64_alike_with_and_without_numpy(
    client: OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK asks for base64 unless told otherwise and decodes it with numpy when it can,
    else with the array module: both read the float32 values the float answer writes."""
    from openai.lib._parsing import _embeddings

    texts = ["hello world", "我忘了密码"]
    floats = client.embeddings.create(model=EMBEDDING, input=texts, encoding_format="float")
    with_numpy = client.embeddings.create(model=EMBEDDING, input=texts)
    monkeypatch.setattr(_embeddings, "has_numpy", lambda: False)
    without_numpy = client.embeddings.create(model=EMBEDDING, input=texts)
    expected = [float32(d.embedding) for d in floats.data]
    assert [tuple(d.embedding) for d in with_numpy.data] == expected
    assert [tuple(d.embedding) for d in without_numpy.data] == expected


def test_usage_counts_a_text_as_tiktoken_does(client: OpenAI, tiktoken_offline: Any) -> None:
    """cl100k_base is the embedding models' vocabulary: English prose, Russian, accents,
    typographic quotes, "½" and emoji are counted as tiktoken counts them."""
    cl100k = tiktoken_offline.get_encoding("cl100k_base")
    texts = [
        SENTENCE * 3,
        "Привет, как дела? Всё хорошо, спасибо.",
        "naïve café “quoted” — ½ cup, x² 🎉",
        "def f(x):\n    return x ** 2\n",
    ]
    answer = client.embeddings.create(model=EMBEDDING, input=texts, dimensions=4)
    expected = sum(len(cl100k.encode(text)) for text in texts)
    assert (answer.usage.prompt_tokens, answer.usage.total_tokens) == (expected, expected)


def test_the_8192_token_limit_counts_as_tiktoken_does(
    client: OpenAI, tiktoken_offline: Any
) -> None:
    cl100k = tiktoken_offline.get_encoding("cl100k_base")
    under, over = SENTENCE * 740, SENTENCE * 745
    assert len(cl100k.encode(under)) <= 8192 < len(cl100k.encode(over))
    answer = client.embeddings.create(model=EMBEDDING, input=under, dimensions=4)
    assert answer.usage.prompt_tokens == len(cl100k.encode(under))
    assert refused(client, model=EMBEDDING, input=over)["message"] == (
        "Invalid 'input': maximum context length is 8192 tokens."
    )
