"""A chat stream of one choice without a fault is encoded by a shorter path: the same
events, due at the same offsets, as the general interleaving of choices writes."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from mockllm.conversation import Conversation
from mockllm.dialects import chat
from mockllm.loader import load_text
from mockllm.render import render
from mockllm.rules import Fault, Latency

RULES = load_text(
    """
version: 1
rules:
  - name: plain
    match: { last_user: { contains: "plain" } }
    reply:
      content: "one two three four five six seven eight nine ten eleven twelve"
  - name: chunked
    match: { last_user: { contains: "chunked" } }
    reply:
      content: "one two three four five six seven eight nine ten eleven twelve"
      latency: { ttft_ms: 100, inter_token_ms: 20, tokens_per_chunk: 3 }
  - name: reasoning
    match: { last_user: { contains: "reasoning" } }
    reply:
      content: "The answer is four."
      reasoning: "Two and two make four, as the question says."
  - name: tool
    match: { last_user: { contains: "tool" } }
    reply:
      tool_calls:
        - name: get_weather
          arguments: { city: "Paris", unit: "celsius", days: 3 }
  - name: generated
    match: { last_user: { contains: "generated" } }
    reply:
      faker: { provider: paragraph }
  - name: empty
    match: { last_user: { contains: "empty" } }
    reply:
      content: ""
"""
)


def _request(prompt: str, usage: bool, extra: dict[str, object]) -> Conversation:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        **({"stream_options": {"include_usage": True}} if usage else {}),
        **extra,
    }
    return chat.parse(orjson.dumps(body), {}, chat.PATH)


@pytest.mark.parametrize("usage", [False, True])
@pytest.mark.parametrize("name", [rule.name for rule in RULES])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_choice_without_a_fault_is_encoded_as_the_general_path_does(
    name: str, usage: bool, seed: int
) -> None:
    rule = next(rule for rule in RULES if rule.name == name)
    request = _request(f"{name} please", usage, {})
    pacing = Latency(100, 20, 0, None)
    rendered = render(rule.replies[0], request, seed, pacing)
    assert len(rendered.choices) == 1
    quick = chat.stream(rendered, 1_700_000_000, usage, None)
    general = chat.stream(rendered, 1_700_000_000, usage, Fault())  # a fault that does nothing
    assert quick == general
    assert quick.events[-1] == b"data: [DONE]\n\n"
    assert len(quick.events) == len(quick.offsets)


def test_offsets_shorter_than_the_ticks_repeat_the_last_one() -> None:
    rule = next(rule for rule in RULES if rule.name == "chunked")
    rendered = render(rule.replies[0], _request("chunked", False, {}), 5, Latency(100, 20, 0, 1))
    cut = dataclasses.replace(rendered, offsets=rendered.offsets[:2])
    quick = chat.stream(cut, 1_700_000_000, False, None)
    assert quick == chat.stream(cut, 1_700_000_000, False, Fault())
    assert quick.offsets[2:-2] == (cut.offsets[1],) * (len(quick.offsets) - 4)


def test_several_choices_interleave() -> None:
    rule = next(rule for rule in RULES if rule.name == "plain")
    rendered = render(rule.replies[0], _request("plain", False, {"n": 2}), 5, Latency(100, 20))
    events = chat.stream(rendered, 1_700_000_000, False, None).events
    indexes = [orjson.loads(e[6:])["choices"][0]["index"] for e in events[:-1]]
    assert indexes[:4] == [0, 1, 0, 1]
