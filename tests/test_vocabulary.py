"""cl100k_base token ids read back to text: known ids, multilingual round trips, characters
cut between tokens, the ids at the edges, the bundled file against tiktoken's own."""

from __future__ import annotations

import hashlib
import lzma
from importlib import resources

import httpx
import pytest

from mockllm import vocabulary
from mockllm.app import create_app
from mockllm.config import ServerConfig

# What tiktoken's cl100k_base encodes each text as (tiktoken 0.14, `encode`).
ENCODED = {
    "hello world": [15339, 1917],
    " hello": [24748],
    "I forgot my password": [40, 29695, 856, 3636],
    "我忘了密码": [37046, 26203, 246, 35287, 33967],
    "Привет, мир!": [54745, 28089, 8341, 11, 11562, 78746, 0],
    "こんにちは 🌍": [90115, 11410, 234, 235],
    "مرحبا": [10386, 11318, 30925, 22071, 5821],
    "naïve café": [3458, 38672, 588, 53050],
}


@pytest.mark.parametrize(("text", "ids"), list(ENCODED.items()))
def test_ids_read_back_to_their_text(text, ids):
    assert vocabulary.decode(ids) == text


def test_a_character_cut_between_tokens_reads_as_a_replacement_character():
    # 忘 is two tokens (26203, 246); 🌍 three (11410 ends " ", then 234, 235), as tiktoken's
    # decode gives them: bytes read with errors="replace".
    assert vocabulary.decode([37046, 26203]) == "我\ufffd"
    assert vocabulary.decode([246, 35287]) == "\ufffd了"
    assert vocabulary.decode([90115, 11410, 234]) == "こんにちは \ufffd"


def test_the_ids_at_the_edges():
    assert vocabulary.decode([0]) == "!"
    assert vocabulary.decode([100255]) != ""
    assert vocabulary.decode([100256]) == ""  # no token of cl100k_base has it
    assert vocabulary.decode([100257]) == "<|endoftext|>"
    assert vocabulary.decode([]) == ""
    for outside in ([-1], [100258], [15339, 2**40]):
        with pytest.raises(ValueError, match="token ids go from 0 to 100257"):
            vocabulary.decode(outside)


def test_the_bundled_file_is_tiktokens():
    packed = resources.files("mockllm").joinpath("vocab/cl100k_base.tiktoken.xz").read_bytes()
    text = lzma.decompress(packed)
    # tiktoken's expected_hash for cl100k_base.tiktoken (tiktoken_ext/openai_public.py).
    assert hashlib.sha256(text).hexdigest() == (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
    )


def test_every_id_reads_as_tiktoken_reads_it(tiktoken_offline):
    encoding = tiktoken_offline.get_encoding("cl100k_base")
    blob, starts = vocabulary._table()
    assert [encoding.decode_single_token_bytes(i) for i in range(100256)] == [
        blob[starts[i] : starts[i + 1]] for i in range(100256)
    ]
    for text, ids in ENCODED.items():
        assert encoding.encode(text) == ids


@pytest.mark.anyio
async def test_the_vocabulary_is_read_on_the_first_embeddings_request_only():
    """Not at start-up, not for chat: a server that embeds nothing never reads it. The
    first embeddings request reads it, once (a string's tokens are counted with it, a
    token array is read with it)."""
    for kept in (
        vocabulary._table,
        vocabulary._ids,
        vocabulary._count_kept,
        vocabulary._piece_count,
    ):
        kept.cache_clear()  # what earlier tests of this process left
    app = create_app(ServerConfig())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mockllm") as http:
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi there"}]}
        assert (await http.post("/v1/chat/completions", json=chat)).status_code == 200
        assert vocabulary._table.cache_info().currsize == 0
        strings = {"model": "text-embedding-3-small", "input": ["reset my password", "hi"]}
        assert (await http.post("/v1/embeddings", json=strings)).status_code == 200
        assert vocabulary._table.cache_info().currsize == 1
        refused = {"model": "text-embedding-3-small", "input": [[15339, 100258]]}
        assert (await http.post("/v1/embeddings", json=refused)).status_code == 400
        tokens = {"model": "text-embedding-3-small", "input": [[15339, 1917]]}
        assert (await http.post("/v1/embeddings", json=tokens)).status_code == 200
        assert vocabulary._table.cache_info().misses == 1  # read once
