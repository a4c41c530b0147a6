"""Templates over a request."""

from __future__ import annotations

import pytest

from mockllm.template import TemplateError, compile_template, render
from tests.factories import make_chat_request

TOOL_TURN = [
    {"role": "user", "content": "weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "arguments": '{"city": "Paris", "days": [1, 2]}',
                },
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain", "plain"),
        ("{{ last_user }}!", "weather in Paris?!"),
        ("{{model}} / {{ provider | default('none') }}", "gpt-4o / none"),
        ("{{ tool_args.city | upper }}", "PARIS"),
        ("{{ tool_args.days[1] }}", "2"),
        ("{{ tool_calls[0].name }}", "get_weather"),
        ("{{ tool_result }}", "18C"),
        ("{{ turn }}", "1"),
        ("{{ messages[0].role }}", "user"),
        ("{{ tool_args.days | json }}", "[1,2]"),
        ("{{ tool_args.nothing }}", ""),
        ("{{ body.metadata.run }}", "r1"),
    ],
)
def test_render(source: str, expected: str):
    request = make_chat_request(messages=TOOL_TURN, metadata={"run": "r1"})
    assert render(compile_template(source), request) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ lastuser }}", "did you mean 'last_user'"),
        ("{{ model | shout }}", "unknown filter 'shout'"),
        ("{{ model | default(x) }}", "is not a literal"),
        ("{{ 3 }}", "expected a variable name"),
    ],
)
def test_bad_templates(source: str, message: str):
    with pytest.raises(TemplateError, match=message):
        compile_template(source)
