"""Determinism: with --freeze-time the same request gives the same bytes, across processes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from .helpers import UNMATCHED_PROMPT, WEATHER_TOOL, make_chat_request, post_chat, stream_chunks

# Requests the default generator answers (no scenarios are loaded).
GENERATED = {
    "plain": make_chat_request(UNMATCHED_PROMPT, model="gpt-4o"),
    "n2": make_chat_request("Write two short lines about rain.", model="gpt-4o-mini", n=2),
    "chinese": make_chat_request("请介绍一下北京的天气和历史。", model="deepseek-chat"),
    "json": make_chat_request(
        "Answer in JSON.", model="gpt-4o", response_format={"type": "json_object"}
    ),
    "tool": make_chat_request(
        "Call the tool.", model="gpt-4o", tools=[WEATHER_TOOL], tool_choice="required"
    ),
    "logprobs": make_chat_request("Say something.", model="gpt-4o", logprobs=True, top_logprobs=2),
}
STREAMED = {
    "plain": {**GENERATED["plain"], "stream_options": {"include_usage": True}},
    "tool": GENERATED["tool"],
}


@pytest.mark.parametrize("prompt", ["Hello!", UNMATCHED_PROMPT], ids=["scripted", "default"])
def test_same_request_same_bytes(examples_server, prompt):
    body = make_chat_request(prompt, model="gpt-4o")
    first = post_chat(examples_server.base_url, body)
    second = post_chat(examples_server.base_url, body)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content


@pytest.mark.parametrize("prompt", ["count to five", UNMATCHED_PROMPT], ids=["scripted", "default"])
def test_same_stream_same_bytes(examples_server, prompt):
    body = make_chat_request(prompt, model="gpt-4o", stream_options={"include_usage": True})
    _, first, _ = stream_chunks(examples_server.base_url, body)
    _, second, _ = stream_chunks(examples_server.base_url, body)
    assert first == second


def _answers(server) -> dict[str, bytes]:
    out = {}
    for name, body in GENERATED.items():
        response = post_chat(server.base_url, body)
        assert response.status_code == 200, (name, response.text)
        out[name] = response.content
    for name, body in STREAMED.items():
        _, raw, _ = stream_chunks(server.base_url, body)
        out[f"stream-{name}"] = raw
    return out


def test_the_seed_decides_generated_bytes(serve):
    """Two processes with the same --seed agree byte for byte; another --seed differs."""
    flags = {
        "a": ("--seed", "3", "--freeze-time", "1700000000"),
        "b": ("--seed", "3", "--freeze-time", "1700000000"),
        "other": ("--seed", "4", "--freeze-time", "1700000000"),
    }
    with ThreadPoolExecutor(len(flags)) as pool:
        started = list(pool.map(lambda args: serve(*args), flags.values()))
    servers = dict(zip(flags, started, strict=True))

    one, two = _answers(servers["a"]), _answers(servers["b"])
    assert one.keys() == two.keys()
    for name in one:
        assert one[name] == two[name], name

    body = GENERATED["plain"]
    a = post_chat(servers["a"].base_url, body).json()
    b = post_chat(servers["other"].base_url, body).json()
    assert a["created"] == b["created"] == 1700000000
    assert a["choices"][0]["message"]["content"] != b["choices"][0]["message"]["content"]
    assert a["id"] != b["id"]
