"""Request validation: the real API's 400s, naming the field."""

from __future__ import annotations

import orjson
import pytest

from mockllm.conversation import Conversation, api_key_of
from mockllm.dialects import chat
from mockllm.errors import RequestError

OK = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def parse(body: object) -> Conversation:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return chat.parse(raw, {}, "/v1/chat/completions")


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, None),
        (b"[1]", None, "invalid_type"),
        ({"messages": OK["messages"]}, "model", None),
        ({"model": 3, "messages": OK["messages"]}, "model", "invalid_type"),
        ({"model": "m"}, "messages", "missing_required_parameter"),
        ({"model": "m", "messages": []}, "messages", "empty_array"),
        (
            {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "invalid_value",
        ),
        (
            {"model": "m", "messages": [{"role": "user"}]},
            "messages[0].content",
            "missing_required_parameter",
        ),
        ({**OK, "temperature": "hot"}, "temperature", "invalid_type"),
        ({**OK, "n": 0}, "n", "integer_below_min_value"),
        ({**OK, "n": 129}, "n", "integer_above_max_value"),
        ({**OK, "n": "2"}, "n", "invalid_type"),
        ({**OK, "stream": "yes"}, "stream", "invalid_type"),
        ({**OK, "max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({**OK, "stream_options": {"include_usage": True}}, "stream_options", None),
        ({**OK, "tool_choice": "required"}, "tool_choice", None),
        ({**OK, "stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
        ({**OK, "response_format": {"type": "json_object"}}, "messages", None),
        ({**OK, "response_format": {"type": "xml"}}, "response_format.type", "invalid_value"),
        ({**OK, "top_logprobs": 3}, "top_logprobs", None),
    ],
)
def test_bad_requests(body: object, param: str | None, code: str | None):
    with pytest.raises(RequestError) as info:
        parse(body)
    assert info.value.status == 400
    assert info.value.param == param
    assert info.value.code == code
    assert info.value.message


def test_valid_request_is_parsed():
    request = parse(
        {
            **OK,
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "done"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_completion_tokens": 9,
            "stop": "\n",
        }
    )
    assert request.messages[1].text == "a"
    assert request.last_tool_calls[0].name == "f"
    assert (request.stream, request.include_usage, request.max_tokens, request.stop) == (
        True,
        True,
        9,
        ("\n",),
    )


def test_stream_flag_does_not_change_the_seed_key():
    a = parse({**OK, "stream": True})
    b = parse({**OK, "stream": False})
    assert a.canonical == b.canonical


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"authorization": "Bearer sk-1"}, "sk-1"),
        ({"x-api-key": "ak_2"}, "ak_2"),
        ({"api-key": "k3"}, "k3"),
        ({"authorization": "Basic xyz"}, None),
        ({}, None),
    ],
)
def test_api_key_headers(headers: dict[str, str], key: str | None):
    assert api_key_of(headers) == key
