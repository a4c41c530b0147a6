"""Requests that Python agent frameworks send, replayed against the default generator.

Each body in tests/data/python-agent-frameworks.json was taken from mockllm's journal
(`GET /__admin/requests`) while the framework ran against it: CrewAI's task prompts. The
answers are checked as the framework reads them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from ..conftest import RunningServer, start_server

CAPTURED: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "python-agent-frameworks.json").read_text("utf-8")
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server("--seed", "5", tmp_path=tmp_path_factory.mktemp("frameworks"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def test_a_crewai_task_calls_its_tool_with_the_place_it_names(client: OpenAI) -> None:
    """CrewAI writes the task, a blank line, then the criteria of its answer ("Weather
    report for Paris\\n\\nThis is the expected criteria…"): the city is Paris."""
    first, _ = CAPTURED["crewai_output_pydantic"]
    reply = client.chat.completions.create(**first)
    calls = reply.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", {"city": "Paris"})
    ]


def test_a_crewai_task_with_an_output_schema_ends_with_bare_json(client: OpenAI) -> None:
    """Once the tool's result is back, the final answer is an instance of the schema the task
    prompt carries, without the code fence the prompt forbids ("Ensure the final output
    does not include any code block markers like ```json")."""
    _, second = CAPTURED["crewai_output_pydantic"]
    reply = client.chat.completions.create(**second)
    text = reply.choices[0].message.content or ""
    assert not text.startswith("```"), text
    report = json.loads(text)
    assert set(report) == {"city", "summary"} and all(isinstance(v, str) for v in report.values())
