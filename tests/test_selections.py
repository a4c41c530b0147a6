"""Prompts that list numbered choices or tools for a question (LlamaIndex's selectors and
question generator; their captured requests are replayed in
tests/e2e/test_agent_frameworks.py)."""

from __future__ import annotations

from mockllm.conversation import Tool
from mockllm.selections import selection_answer, selection_arguments, sub_questions_answer
from tests.factories import make_chat_request

_SELECTION = Tool(
    "SingleSelection",
    "",
    {"type": "object", "properties": {"index": {"type": "integer"}, "reason": {"type": "string"}}},
)


def _asking(text: str):  # type: ignore[no-untyped-def]
    return make_chat_request(messages=[{"role": "user", "content": text}])


def test_other_prompts_are_left_to_the_other_answers() -> None:
    plain = _asking("Return JSON like {choice: 1, reason: 'x'} for the best option.")
    assert selection_answer(plain) is None
    assert selection_arguments(plain, _SELECTION) is None
    assert sub_questions_answer(plain) is None


def test_a_selection_stays_within_the_numbered_choices() -> None:
    prompt = (
        "Some choices are given below. It is provided in a numbered list (1 to 2), where "
        "each item in the list corresponds to a summary.\n---------------------\n(1) Cats\n\n"
        "(2) Dogs\n\n(7) Not listed\n---------------------\nUsing only the choices above, "
        "return the choice that is most relevant to the question: 'Something else'"
    )
    assert selection_arguments(_asking(prompt), _SELECTION) == {
        "index": 1,
        "reason": "The question is most related to: Cats",
    }


def test_a_question_generator_prompt_with_unreadable_tools_is_left_alone() -> None:
    prompt = (
        "output a list of relevant sub-questions\n<Tools>\n```json\n{not json}\n```\n\n"
        "<User Question>\nWhy?\n\n<Output>\n"
    )
    assert sub_questions_answer(_asking(prompt)) is None
