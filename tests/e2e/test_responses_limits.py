"""`max_output_tokens` bounds every token of the output, the reasoning's too (the API
reference: "an upper bound for the number of tokens that can be generated for a response,
including visible output tokens and reasoning tokens"), through the official SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai.types.responses import Response

from tests.openai_schemas import check

from ..conftest import RunningServer, start_server
from .helpers import openai_sdk, write_scenario

REASONING = (
    "The user wants a short answer about tides: the moon pulls the sea toward it, and the "
    "earth turns beneath that bulge twice a day."
)
RULES = f"""\
version: 1
rules:
  - name: thinks-then-answers
    match: {{ last_user: {{ contains: "tides" }} }}
    reply:
      reasoning: "{REASONING}"
      content: "The moon's pull raises the sea twice a day, and the sun's adds a little."
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("limits")
    rules = write_scenario(tmp, RULES)
    running = start_server("--scenarios", str(rules), "--freeze-time", "1700000000", tmp_path=tmp)
    yield running
    running.stop()


def _usage(response: Response) -> tuple[int, int]:
    assert response.usage is not None
    return response.usage.output_tokens, response.usage.output_tokens_details.reasoning_tokens


def test_the_reasoning_counts_against_max_output_tokens(server: RunningServer) -> None:
    sdk = openai_sdk(server)
    whole = sdk.responses.create(model="gpt-4o", input="Why are there tides?")
    output, reasoning = _usage(whole)
    assert whole.status == "completed" and 16 < reasoning < output
    cut = sdk.responses.create(model="gpt-4o", input="Why are there tides?", max_output_tokens=40)
    check("Response", cut.model_dump(mode="json", exclude_unset=True))
    assert (cut.status, cut.incomplete_details and cut.incomplete_details.reason) == (
        "incomplete",
        "max_output_tokens",
    )
    assert _usage(cut) == (40, reasoning)
    assert whole.output_text.startswith(cut.output_text) and cut.output_text
    assert [item.status for item in cut.output if item.type == "message"] == ["incomplete"]


def test_reasoning_past_max_output_tokens_leaves_no_answer(server: RunningServer) -> None:
    sdk = openai_sdk(server)
    for stream in (False, True):
        if stream:
            with sdk.responses.stream(
                model="gpt-4o", input="Why are there tides?", max_output_tokens=16
            ) as events:
                kinds = [event.type for event in events]
            assert kinds[-1] == "response.incomplete"
            assert "response.content_part.added" not in kinds
            continue
        cut = sdk.responses.create(
            model="gpt-4o", input="Why are there tides?", max_output_tokens=16
        )
        assert cut.status == "incomplete" and _usage(cut) == (16, 16)
        assert [item.type for item in cut.output] == ["reasoning"]
        summary = cut.output[0].summary[0].text  # type: ignore[union-attr]
        assert REASONING.startswith(summary) and summary != REASONING
        assert cut.output_text == ""
