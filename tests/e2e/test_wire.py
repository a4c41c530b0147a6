"""The wire contract, byte by byte, against the bundled scenarios (raw httpx)."""

from __future__ import annotations

import json
import time

import pytest

from .helpers import (
    COUNT_CHUNKS,
    FROZEN,
    HELLO_REPLY,
    UNMATCHED_PROMPT,
    check_completion,
    check_error,
    content_deltas,
    make_chat_request,
    post_chat,
    stream_chunks,
)


def test_completion_body_has_every_field(examples_server):
    body = make_chat_request("Hello!", model="gpt-4o-2024-08-06")
    response = post_chat(examples_server.base_url, body)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    completion = check_completion(data)
    assert completion.id.startswith("chatcmpl-") and len(completion.id) > len("chatcmpl-")
    assert data["object"] == "chat.completion"
    assert data["created"] == FROZEN
    assert data["model"] == "gpt-4o-2024-08-06"
    assert isinstance(data["system_fingerprint"], str) and data["system_fingerprint"]
    assert len(data["choices"]) == 1
    choice = data["choices"][0]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == HELLO_REPLY
    assert choice["message"]["refusal"] is None
    assert "tool_calls" not in choice["message"] or choice["message"]["tool_calls"] is None
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["prompt_tokens"] + usage["completion_tokens"] == usage["total_tokens"]


def test_completion_headers(examples_server):
    response = post_chat(examples_server.base_url, make_chat_request("Hello!"))
    assert response.status_code == 200
    assert response.headers.get("x-request-id"), response.headers
    processing = response.headers.get("openai-processing-ms")
    assert processing is not None and processing.isdigit(), response.headers
    assert int(response.headers["content-length"]) == len(response.content)


def test_default_generator_body_has_every_field(examples_server):
    response = post_chat(
        examples_server.base_url, make_chat_request(UNMATCHED_PROMPT, model="gpt-4o")
    )
    assert response.status_code == 200, response.text
    data = response.json()
    check_completion(data)
    assert data["created"] == FROZEN
    assert data["model"] == "gpt-4o-2024-08-06"  # the dated model the alias stands for
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["choices"][0]["message"]["content"].strip()
    usage = data["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] == usage["total_tokens"]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [("Hello!", HELLO_REPLY), ("count to five", "".join(COUNT_CHUNKS)), (UNMATCHED_PROMPT, None)],
    ids=["scripted", "chunks", "default"],
)
def test_stream_framing(examples_server, prompt, expected):
    response, raw, chunks = stream_chunks(
        examples_server.base_url, make_chat_request(prompt, model="gpt-4o")
    )
    assert response.headers.get("x-request-id")
    assert len({c["id"] for c in chunks}) == 1, "one id across the stream"
    assert chunks[0]["id"].startswith("chatcmpl-")
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["created"] == FROZEN
        assert chunk["model"] == "gpt-4o-2024-08-06"
        assert chunk["choices"], "no usage chunk (choices: []) without include_usage"
        assert chunk.get("usage") is None
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    for chunk in chunks[1:]:
        assert (
            "role" not in chunk["choices"][0]["delta"]
            or chunk["choices"][0]["delta"]["role"] is None
        )
    finishing = [c for c in chunks if c["choices"][0]["finish_reason"] is not None]
    assert len(finishing) == 1 and finishing[0] is chunks[-1]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text = "".join(content_deltas(chunks))
    if expected is not None:
        assert text == expected
    else:
        assert text.strip()


def test_stream_include_usage(examples_server):
    body = make_chat_request("Hello!", stream_options={"include_usage": True})
    _, _, chunks = stream_chunks(examples_server.base_url, body)

    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] == usage["total_tokens"]
    for chunk in chunks[:-1]:
        assert "usage" in chunk and chunk["usage"] is None, chunk
        assert chunk["choices"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    deltas = content_deltas(chunks)
    assert "".join(deltas) == HELLO_REPLY
    # Completion tokens are the tokens streamed, and agree with the non-streaming answer.
    whole = post_chat(examples_server.base_url, make_chat_request("Hello!")).json()
    assert usage["completion_tokens"] == whole["usage"]["completion_tokens"]
    assert usage["prompt_tokens"] == whole["usage"]["prompt_tokens"]


def test_exact_stream_chunks(examples_server):
    _, _, chunks = stream_chunks(examples_server.base_url, make_chat_request("count to five"))
    assert content_deltas(chunks) == COUNT_CHUNKS

    whole = post_chat(examples_server.base_url, make_chat_request("count to five")).json()
    assert whole["choices"][0]["message"]["content"] == "".join(COUNT_CHUNKS)


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_truncates(examples_server, field):
    body = make_chat_request("Hello!", **{field: 3})

    whole = post_chat(examples_server.base_url, body).json()
    check_completion(whole)
    choice = whole["choices"][0]
    assert choice["finish_reason"] == "length"
    assert whole["usage"]["completion_tokens"] == 3
    content = choice["message"]["content"]
    assert content and content != HELLO_REPLY and HELLO_REPLY.startswith(content)

    _, _, chunks = stream_chunks(
        examples_server.base_url, {**body, "stream_options": {"include_usage": True}}
    )
    deltas = content_deltas(chunks)
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert len(deltas) == 3
    assert "".join(deltas) == content
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


def test_stop_cuts_before_the_first_match(examples_server):
    body = make_chat_request("count to five", stop=[","])

    whole = post_chat(examples_server.base_url, body).json()
    check_completion(whole)
    assert whole["choices"][0]["message"]["content"] == "One"
    assert whole["choices"][0]["finish_reason"] == "stop"

    _, _, chunks = stream_chunks(examples_server.base_url, body)
    assert "".join(content_deltas(chunks)) == "One"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stop_as_a_string(examples_server):
    whole = post_chat(examples_server.base_url, make_chat_request("Hello!", stop=" help")).json()
    assert whole["choices"][0]["message"]["content"] == "Hello! How can I"
    assert whole["choices"][0]["finish_reason"] == "stop"


def test_n_choices(examples_server):
    body = make_chat_request("Hello!", n=3)

    whole = post_chat(examples_server.base_url, body).json()
    check_completion(whole)
    assert [c["index"] for c in whole["choices"]] == [0, 1, 2]
    for choice in whole["choices"]:
        assert choice["message"]["content"] == HELLO_REPLY
        assert choice["finish_reason"] == "stop"

    _, _, chunks = stream_chunks(examples_server.base_url, body)
    assert len({c["id"] for c in chunks}) == 1
    for index in range(3):
        events = [ch for c in chunks for ch in c["choices"] if ch["index"] == index]
        assert events[0]["delta"].get("role") == "assistant"
        assert "".join(content_deltas(chunks, index)) == HELLO_REPLY
        finishes = [e["finish_reason"] for e in events if e["finish_reason"] is not None]
        assert finishes == ["stop"]
    assert {ch["index"] for c in chunks for ch in c["choices"]} == {0, 1, 2}


def test_n_default_generator(examples_server):
    whole = post_chat(
        examples_server.base_url, make_chat_request(UNMATCHED_PROMPT, model="gpt-4o", n=2)
    ).json()
    check_completion(whole)
    assert [c["index"] for c in whole["choices"]] == [0, 1]
    assert all(c["message"]["content"] for c in whole["choices"])


def test_content_parts_are_accepted(examples_server):
    parts = [
        {"type": "text", "text": "Hello there"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    response = post_chat(examples_server.base_url, make_chat_request(parts))
    assert response.status_code == 200, response.text
    assert check_completion(response.json()).choices[0].message.content == HELLO_REPLY


def test_assistant_tool_calls_with_null_content_are_accepted(examples_server):
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "look something up"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": json.dumps({"q": "x"})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc123", "content": "nothing found"},
            {"role": "user", "content": "Hello again"},
        ],
    }
    response = post_chat(examples_server.base_url, body)
    assert response.status_code == 200, response.text
    assert check_completion(response.json()).choices[0].message.content == HELLO_REPLY


def test_optional_fields_are_accepted(examples_server):
    body = make_chat_request(
        "Hello!",
        user="u-1",
        metadata={"test_id": "wire"},
        seed=5,
        temperature=0.2,
        prompt_cache_key="k",
    )
    response = post_chat(examples_server.base_url, body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == HELLO_REPLY


def test_unknown_fields_are_refused_as_openai_refuses_them(examples_server):
    body = make_chat_request("Hello!", some_future_field={"x": 1})
    error = check_error(post_chat(examples_server.base_url, body), 400)
    assert error == {
        "message": "Unrecognized request argument supplied: some_future_field",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_template_over_the_request(examples_server):
    # greeting.yaml#echo: "You said: {{ last_user }} (model {{ model }})"
    response = post_chat(
        examples_server.base_url, make_chat_request("echo ping 42", model="gpt-4.1")
    )
    content = check_completion(response.json()).choices[0].message.content
    assert content == "You said: echo ping 42 (model gpt-4.1)"


def test_chinese_scripted_reply_streams_whole(examples_server):
    expected = "你好！我是一个模拟助手，有什么可以帮你的吗？"  # chinese.yaml#nihao
    _, _, chunks = stream_chunks(
        examples_server.base_url,
        make_chat_request("你好", model="deepseek-chat", stream_options={"include_usage": True}),
    )
    deltas = content_deltas(chunks)
    assert "".join(deltas) == expected
    assert chunks[-1]["usage"]["completion_tokens"] == len(deltas)


def test_provider_header_gives_chinese_text(examples_server):
    # chinese.yaml#chinese-chatter: faker paragraph in zh_CN for X-AI-Provider: deepseek
    response = post_chat(
        examples_server.base_url,
        make_chat_request(UNMATCHED_PROMPT, model="deepseek-chat"),
        headers={"X-AI-Provider": "deepseek"},
    )
    content = check_completion(response.json()).choices[0].message.content
    han = sum(1 for ch in content if "\u4e00" <= ch <= "\u9fff")
    assert han >= 10, content


def test_logprobs(examples_server):
    body = make_chat_request("Hello!", logprobs=True, top_logprobs=2)
    whole = post_chat(examples_server.base_url, body).json()
    completion = check_completion(whole)
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    assert "".join(t.token for t in logprobs.content) == HELLO_REPLY
    for token in logprobs.content:
        assert token.logprob <= 0
        assert len(token.top_logprobs) == 2
        assert token.bytes == list(token.token.encode())

    _, _, chunks = stream_chunks(examples_server.base_url, body)
    for chunk in chunks:
        choice = chunk["choices"][0]
        if choice["delta"].get("content"):
            tokens = choice["logprobs"]["content"]
            assert "".join(t["token"] for t in tokens) == choice["delta"]["content"]


def test_n_limit(examples_server):
    ok = post_chat(
        examples_server.base_url, make_chat_request(UNMATCHED_PROMPT, model="gpt-4o", n=128)
    )
    assert ok.status_code == 200
    assert len(ok.json()["choices"]) == 128
    too_many = post_chat(
        examples_server.base_url, make_chat_request(UNMATCHED_PROMPT, model="gpt-4o", n=129)
    )
    assert too_many.status_code == 400
    assert too_many.json()["error"]["param"] == "n"


def test_without_flags_no_rules_and_current_time(serve, tmp_path):
    # Nothing is read implicitly from the working directory (the server runs in tmp_path).
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "greeting.yaml").write_text(
        'version: 1\nrules:\n  - name: cwd\n    match: { last_user: "Hello!" }\n'
        '    reply: { content: "read from the working directory" }\n',
        encoding="utf-8",
    )
    server = serve()
    before = time.time()
    response = post_chat(server.base_url, make_chat_request("Hello!", model="gpt-4o"))
    after = time.time()
    data = check_completion(response.json())
    assert data.choices[0].message.content not in ("read from the working directory", HELLO_REPLY)
    assert int(before) - 1 <= data.created <= after + 1
