"""DSPy signature prompts read by the default generator (front-door checks of the real
adapters' requests are in tests/e2e/test_agent_frameworks.py)."""

from __future__ import annotations

import random

import pytest

from mockllm.signatures import signature_answer
from tests.factories import make_chat_request

_HEAD = "Your input fields are:\n1. `q` (str):\nYour output fields are:\n"


def _answer(system: str, user: str = "[[ ## q ## ]]\nWhat now?") -> str | None:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return signature_answer(make_chat_request(messages=messages), random.Random(1), "en_US")


def test_a_prompt_without_a_signature_is_left_to_the_other_answers() -> None:
    assert _answer("You are a helpful assistant.", "What now?") is None
    assert _answer("Your output fields are:\n1. `a` (str):") is None  # no inputs: not DSPy
    assert _answer(_HEAD) is None  # no fields listed


@pytest.mark.parametrize(
    "system",
    [
        _HEAD + "1. `a` (weird(type)):\n[[ ## completed ## ]]",
        _HEAD + "1. `a` (dict):\n{a}        # note: the value you produce must adhere to the "
        'JSON schema: {"$ref": "#/nope"}\n[[ ## completed ## ]]',
        _HEAD + "1. `a` (Literal[]):\n{a}        # note: the value you produce must exactly "
        "match (no extra characters) one of: \n[[ ## completed ## ]]",
        _HEAD + "1. `a` (int):\nOutputs will be a JSON object with the following fields.\n{ no",
        _HEAD + "1. `next_thought` (str):\n2. `next_tool_name` (str):\n3. `next_tool_args` "
        "(dict):\n(1) t, whose description is <desc>x</desc>. It takes arguments {'a': [1]}.\n"
        "(2) u, whose description is <desc>x</desc>. It takes arguments {1: 2}.\n"
        "(3) v, whose description is <desc>x</desc>. It takes arguments {'a': {'type': 'x'}}.\n"
        "[[ ## completed ## ]]",
    ],
)
def test_a_signature_the_generator_cannot_read_fully_still_gets_every_field(system: str) -> None:
    """Types, notes, schemas and tool lists it cannot read give a plausible value, never an
    error (a 500 to the client)."""
    said = _answer(system, "[[ ## q ## ]]\nuse t, u and v\n\n[[ ## trajectory ## ]]\n")
    assert said is not None and said.strip()
