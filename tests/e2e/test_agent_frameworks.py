"""Requests that Python agent frameworks send, replayed against the default generator.

Each body in tests/data/python-agent-frameworks.json was taken from mockllm's journal
(`GET /__admin/requests`) while the framework ran against it: CrewAI's task prompts, and
smolagents' CodeAgent (1.26.0, 1.15.0 and 1.9.2: code between '<code>' tags, after 'Code:'
up to '<end_code>', tools as signatures or as a list) and ToolCallingAgent (calls and
results written back as text), LlamaIndex's text-completion program (0.14: the schema
with every brace doubled) and DSPy's signatures (3.4: Predict and ReAct through its Chat,
JSON and XML adapters). The answers are checked as the framework reads them."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pytest
from openai import OpenAI
from pydantic import BaseModel, Field

CAPTURED: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "python-agent-frameworks.json").read_text("utf-8")
)


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


# The code of a step: after '<code>' (the stop sequence '</code>' ends the answer) or in a
# ```py fence (the stop sequence '<end_code>' ends it after the fence).
_CODE = re.compile(r"(?:<code>|```py)\n(.*?)(?:</code>|```|\Z)", re.DOTALL)


def _step(client: OpenAI, body: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The answer's text and the calls its code makes, each (function, keyword arguments)."""
    reply = client.chat.completions.create(**body)
    text = reply.choices[0].message.content or ""
    assert text.startswith("Thought: "), text
    found = _CODE.search(text)
    assert found is not None, text
    calls = [
        (node.func.id, {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg})
        for node in ast.walk(ast.parse(found.group(1)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]
    return text, calls


def _final(text: str) -> str:
    """The literal a step's code passes to `final_answer`."""
    tree = ast.parse(_CODE.search(text).group(1))  # type: ignore[union-attr]
    call = next(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "final_answer"
    )
    return str(ast.literal_eval(call.args[0]))


@pytest.mark.parametrize(
    ("key", "opening"),
    [
        ("smolagents_code_weather", "<code>\n"),
        ("smolagents_1_15_code_weather", "Code:\n```py\n"),
        ("smolagents_1_9_code_weather", "Code:\n```py\n"),
    ],
)
def test_a_smolagents_code_agent_calls_its_tool_then_final_answer(
    client: OpenAI, key: str, opening: str
) -> None:
    """The first step's code calls get_weather(city='Paris') and prints what it returns;
    once its printed result is back as the observation, the code calls final_answer with
    it. The code is written the way each release's prompt asks."""
    first, second = CAPTURED[key]
    text, calls = _step(client, first)
    assert opening in text
    assert ("get_weather", {"city": "Paris"}) in calls
    assert "final_answer" not in [name for name, _ in calls]
    text, calls = _step(client, second)
    assert opening in text
    assert [name for name, _ in calls] == ["final_answer"]
    assert "The weather in Paris is 18C and sunny." in _final(text)


def test_a_smolagents_code_agent_calls_its_tool_for_each_city_the_task_lists(
    client: OpenAI,
) -> None:
    """ "Get the weather in Paris and in Rome": one step calls get_weather for each, and the
    final answer carries both results."""
    first, second = CAPTURED["smolagents_code_two_cities"]
    _, calls = _step(client, first)
    assert [c for c in calls if c[0] == "get_weather"] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    text, calls = _step(client, second)
    said = _final(text)
    assert "in Paris is 18C" in said and "in Rome is 18C" in said


def test_a_smolagents_code_agent_works_arithmetic_out_with_its_calculator(
    client: OpenAI,
) -> None:
    (first,) = CAPTURED["smolagents_code_arithmetic"]
    _, calls = _step(client, first)
    assert ("calculator", {"expression": "23*19"}) in calls


def test_a_smolagents_task_no_tool_relates_to_is_answered_at_once(client: OpenAI) -> None:
    (first,) = CAPTURED["smolagents_code_no_tool"]
    text, calls = _step(client, first)
    assert [name for name, _ in calls] == ["final_answer"]
    assert _final(text)


@pytest.mark.parametrize(
    "key", ["smolagents_tool_calling_weather", "smolagents_1_9_tool_calling_weather"]
)
def test_a_smolagents_tool_calling_agent_ends_once_its_written_result_is_back(
    client: OpenAI, key: str
) -> None:
    """ToolCallingAgent writes the call back as assistant text ('Calling tools:\n[…]') and
    its result as a user message ('Observation:\n…', once after 'Call id: …'): the next
    call is final_answer with the result, not get_weather again."""
    *_, last = CAPTURED[key]
    reply = client.chat.completions.create(**last)
    calls = reply.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["final_answer"]  # type: ignore[union-attr]
    answer = json.loads(calls[0].function.arguments)["answer"]  # type: ignore[union-attr]
    assert "The weather in Paris is 18C and sunny." in answer


def test_a_smolagents_tool_calling_agent_first_calls_the_tool_the_task_names(
    client: OpenAI,
) -> None:
    first, _ = CAPTURED["smolagents_tool_calling_weather"]
    reply = client.chat.completions.create(**first)
    calls = reply.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", {"city": "Paris"})
    ]


class _Unit(StrEnum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class _Address(BaseModel):
    street: str
    city: str
    zip_code: str | None = None


class _Person(BaseModel):
    """The model whose schema the captured LlamaIndex prompt carries."""

    name: str
    age: int = Field(ge=0, le=130)
    kind: Literal["employee", "contractor"]
    unit: _Unit
    address: _Address
    tags: list[str] = Field(max_length=5)
    past: list[_Address]
    nickname: str | None = None


def test_a_llamaindex_text_completion_program_gets_an_instance_of_its_doubled_brace_schema(
    client: OpenAI,
) -> None:
    """LLMTextCompletionProgram appends "Here's a JSON schema to follow:" and the model's
    schema with every brace doubled ({{"$defs": {{"Address": …}}}}) to the prompt, and reads
    the first JSON object of the answer. The answer was the bare enum value "employee" (the
    only whole JSON in the prompt was an enum's schema), which it cannot read."""
    (body,) = CAPTURED["llamaindex_text_program"]
    assert '{{"$defs": {{"Address": {{"properties"' in body["messages"][0]["content"]
    reply = client.chat.completions.create(**body)
    _Person.model_validate_json(reply.choices[0].message.content or "")


# DSPy's ChatAdapter reads an answer as the text under each `[[ ## field ## ]]` line.
_DSPY_FIELD = re.compile(r"^\[\[ ## (\w+) ## \]\]\s*$", re.MULTILINE)


def _dspy_fields(text: str) -> dict[str, str]:
    heads = list(_DSPY_FIELD.finditer(text))
    return {
        head.group(1): text[
            head.end() : (heads[i + 1].start() if i + 1 < len(heads) else None)
        ].strip()
        for i, head in enumerate(heads)
    }


def _said(client: OpenAI, body: dict[str, Any]) -> str:
    return client.chat.completions.create(**body).choices[0].message.content or ""


def _check_predicted(fields: dict[str, Any]) -> None:
    """The values of `answer: str, sentiment: Literal['positive', 'negative', 'neutral'],
    keywords: list[str], confident: bool, year: int`, as DSPy's parse_value reads them."""
    assert set(fields) == {"answer", "sentiment", "keywords", "confident", "year"}
    assert isinstance(fields["answer"], str) and fields["answer"]
    assert fields["sentiment"] in ("positive", "negative", "neutral")
    keywords = fields["keywords"]
    keywords = json.loads(keywords) if isinstance(keywords, str) else keywords
    assert isinstance(keywords, list) and all(isinstance(k, str) for k in keywords)
    assert fields["confident"] in (True, False, "True", "False")
    assert isinstance(int(fields["year"]), int)


def test_a_dspy_chat_adapter_prediction_gives_every_output_field_under_its_marker(
    client: OpenAI,
) -> None:
    """The ChatAdapter's prompt lists the output fields with their types and asks for each
    under its marker, ending with `[[ ## completed ## ]]`; the answer was free text, which
    it cannot parse (AdapterParseError, then a retry through the JSONAdapter)."""
    (body,) = CAPTURED["dspy_chat_predict"]
    text = _said(client, body)
    assert text.rstrip().endswith("[[ ## completed ## ]]"), text
    fields = _dspy_fields(text)
    fields.pop("completed")
    _check_predicted(fields)


def test_a_dspy_json_adapter_prediction_is_an_object_of_the_typed_fields(
    client: OpenAI,
) -> None:
    """Without a response format (litellm's hosted_vllm/ provider), the JSONAdapter shows
    the fields as an object of placeholders with their notes ("must exactly match … one of:
    positive; negative; neutral"); every value was a string of words."""
    (body,) = CAPTURED["dspy_json_predict"]
    assert "response_format" not in body
    _check_predicted(json.loads(_said(client, body)))


def _steps(client: OpenAI, bodies: list[dict[str, Any]], read: Any) -> list[dict[str, Any]]:
    return [read(_said(client, body)) for body in bodies]


def _marked(text: str) -> dict[str, Any]:
    fields = _dspy_fields(text)
    if "next_tool_args" in fields:
        fields["next_tool_args"] = json.loads(fields["next_tool_args"])
    return fields


@pytest.mark.parametrize(
    ("key", "read"), [("dspy_chat_react", _marked), ("dspy_json_object_react", json.loads)]
)
def test_a_dspy_react_agent_calls_each_tool_the_question_names_then_finishes(
    client: OpenAI, key: str, read: Any
) -> None:
    """dspy.ReAct (tools get_weather(city, unit='celsius') and add(a, b); "What is the
    weather in Paris? Also add 23 and 19.") asks for next_thought, next_tool_name and
    next_tool_args, the steps so far in the trajectory input: the first step calls a tool
    with the question's values; once both observations are back it is `finish`, and the
    extraction's answer says what they said. The first step was free text (parse error),
    then a JSON object of strings, so the loop never acted."""
    bodies = CAPTURED[key]
    first, _, done, extract = _steps(client, bodies, read)
    calls = {"add": {"a": 23, "b": 19}, "get_weather": {"city": "Paris", "unit": "celsius"}}
    assert first["next_tool_name"] in calls
    assert first["next_tool_args"] == calls[first["next_tool_name"]]
    assert (done["next_tool_name"], done["next_tool_args"]) == ("finish", {})
    assert "42" in extract["answer"] and "18C and sunny" in extract["answer"]


def test_a_dspy_tool_calls_output_calls_a_tool_its_tools_input_lists(client: OpenAI) -> None:
    """A signature with a `tools: list[dspy.Tool]` input and a `dspy.ToolCalls` output, under
    the ChatAdapter's default (no native function calling), shows each tool as
    `weather, whose description is <desc>…</desc>. It takes arguments {…}.` in the input
    and the calls' JSON schema in the output's note: the calls named random words
    ({"name": "Leslie Patrick", "args": {}})."""
    (body,) = CAPTURED["dspy_chat_tool_calls"]
    fields = _dspy_fields(_said(client, body))
    assert json.loads(fields["outputs"]) == {
        "tool_calls": [{"name": "weather", "args": {"city": "Paris"}}]
    }


def test_a_dspy_react_step_reads_a_trajectory_the_xml_adapter_wrote(client: OpenAI) -> None:
    """The XMLAdapter writes the trajectory in tags (`<tool_name_0>\nadd\n</tool_name_0>`),
    and its JSON fallback sends it so under the `[[ ## trajectory ## ]]` marker: add has run,
    get_weather is next (add was called again and again). Its extraction, two text fields,
    is answered in the XMLAdapter's tags."""
    step, extract = CAPTURED["dspy_xml_react"]
    answer = json.loads(_said(client, step))
    assert answer["next_tool_name"] == "get_weather"
    assert answer["next_tool_args"] == {"city": "Paris", "unit": "celsius"}
    root = ET.fromstring(f"<dspy_root>{_said(client, extract)}</dspy_root>")
    assert [child.tag for child in root] == ["reasoning", "answer"]
    said = root.find("answer").text or ""  # type: ignore[union-attr]
    assert "42" in said and "18C and sunny" in said


def test_an_agent_handed_the_conversation_answers_it_without_reporting_the_handoff(
    client: OpenAI,
) -> None:
    """The OpenAI Agents SDK (openai-agents 0.20) hands a question to an agent without tools
    by sending the triage's transfer_to_french_agent call and its result, {"assistant":
    "french_agent"}, with no `tools`: the answer reported that result as what a tool found
    ('Here is what I found. transfer_to_french_agent returned: {"assistant": …}')."""
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Please answer in French: what is the capital of France?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_L5Gl4yI4afhMhf8q1IehcG1a",
                        "type": "function",
                        "function": {"name": "transfer_to_french_agent", "arguments": "{}"},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_L5Gl4yI4afhMhf8q1IehcG1a",
                "content": '{"assistant": "french_agent"}',
            },
        ],
    }
    reply = client.chat.completions.create(**body)
    text = reply.choices[0].message.content or ""
    assert text and reply.choices[0].finish_reason == "stop"
    assert "transfer_to_french_agent" not in text and '{"assistant"' not in text, text


def _calls(client: OpenAI, body: dict[str, Any]) -> list[Any]:
    """The tool calls of the answer (the workflow streams; the same body is read whole)."""
    reply = client.chat.completions.create(**{**body, "stream": False})
    return list(reply.choices[0].message.tool_calls or [])


def test_a_llamaindex_workflow_agent_does_the_work_before_handing_off(client: OpenAI) -> None:
    """LlamaIndex's AgentWorkflow (llama-index-core 0.14) offers each agent a `handoff`
    tool (to_agent, reason) listing the other agents in its description ("Currently
    available agents:\n{'WriteAgent': 'Writes a short report from the research.'}"). The
    research agent called handoff and get_weather together, handoff to an agent named by
    random words ('Agent national choice father not found'): the tool that does the work
    comes first, alone."""
    (body,) = CAPTURED["llamaindex_agent_workflow_handoff"]
    calls = _calls(client, body)
    assert [(c.function.name, json.loads(c.function.arguments).get("city")) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", "Paris")
    ]


def test_a_llamaindex_handoff_names_an_agent_its_description_lists(client: OpenAI) -> None:
    """When no tool that does the work relates ("Write a short report on our progress."),
    the handoff is called, to an agent the tool lists."""
    (body,) = CAPTURED["llamaindex_agent_workflow_handoff"]
    asked = {
        **body,
        "messages": [
            body["messages"][0],
            {"role": "user", "content": "Write a short report on our progress."},
        ],
    }
    calls = _calls(client, asked)
    assert [c.function.name for c in calls] == ["handoff"]  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments)["to_agent"] == "WriteAgent"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("asked", "agent"),
    [
        ("Hola, ¿cómo estás?", "transfer_to_spanish_agent"),
        ("Hello, how are you?", "transfer_to_english_agent"),
    ],
)
def test_a_triage_agent_hands_off_by_the_language_of_the_request(
    client: OpenAI, asked: str, agent: str
) -> None:
    """The OpenAI Agents SDK's first handoff example (openai-agents 0.20): a triage agent
    told to "Handoff to the appropriate agent based on the language of the request", with
    transfer_to_spanish_agent and transfer_to_english_agent. No handoff's words are in the
    message, so it answered in text itself and never handed off."""
    (body,) = CAPTURED["openai_agents_language_triage"]
    system, _ = body["messages"]
    calls = _calls(client, {**body, "messages": [system, {"role": "user", "content": asked}]})
    assert [c.function.name for c in calls] == [agent]


_FENCED_JSON = re.compile(r"```json\n(.*?)\n```", re.DOTALL)


def test_llamaindex_text_selectors_answer_the_choice_the_question_is_about(
    client: OpenAI,
) -> None:
    """LLMSingleSelector and LLMMultiSelector (a RouterQueryEngine's, llama-index-core 0.14)
    list numbered choices ("(1) Useful for questions about the weather") and ask for a JSON
    list of {choice, reason}, showing an example with bare keys and doubled braces: the
    answer was {"answer": …, "confidence": …} and the selector failed (KeyError: 'choice')."""
    single, multi, _, _ = CAPTURED["llamaindex_selectors"]
    assert [c["choice"] for c in json.loads(_said(client, single))] == [1]  # the weather
    assert [c["choice"] for c in json.loads(_said(client, multi))] == [2]  # 23 plus 19


def test_llamaindex_pydantic_selectors_call_their_tool_with_a_listed_choice(
    client: OpenAI,
) -> None:
    """PydanticSingleSelector and PydanticMultiSelector force SingleSelection(index, reason)
    or MultiSelection(selections); the index was any integer (11, 52 and 17 among three
    choices, which the router cannot route)."""
    _, _, single, multi = CAPTURED["llamaindex_selectors"]
    (call,) = _calls(client, single)
    assert json.loads(call.function.arguments)["index"] == 1
    (call,) = _calls(client, multi)
    assert [s["index"] for s in json.loads(call.function.arguments)["selections"]] == [1]


def test_a_llamaindex_question_generator_sends_each_part_to_a_listed_tool(
    client: OpenAI,
) -> None:
    """LLMQuestionGenerator (a SubQuestionQueryEngine's) shows examples of <Tools>, <User
    Question> and <Output> and leaves the last <Output> to the model: the answer followed
    the last object shown, the tools' own listing ({"weather": …, "math": …}), where
    {"items": [{"sub_question", "tool_name"}]} was asked (a ValidationError)."""
    (body,) = CAPTURED["llamaindex_question_gen"]
    found = _FENCED_JSON.search(_said(client, body))
    assert found is not None
    items = json.loads(found.group(1))["items"]
    assert [item["tool_name"] for item in items] == ["weather", "history"]
    assert all(isinstance(item["sub_question"], str) and item["sub_question"] for item in items)


@pytest.mark.parametrize(
    ("asked", "agent"),
    [
        ("I was charged twice for my subscription", "transfer_to_billing_agent"),
        ("the app crashes when I log in", "transfer_to_technical_support_agent"),
        ("How much is the pro plan?", "transfer_to_sales_agent"),
    ],
)
def test_a_triage_agent_hands_off_to_the_domain_the_request_is_about(
    client: OpenAI, asked: str, agent: str
) -> None:
    """A triage agent of the OpenAI Agents SDK (openai-agents 0.25) with three handoffs whose
    descriptions name a domain ("billing questions: payments, refunds and invoices",
    "technical support", "sales and pricing questions"), asked in other words than theirs:
    it answered in text itself and never handed off."""
    (body,) = CAPTURED["openai_agents_domain_triage"]
    system, _ = body["messages"]
    calls = _calls(client, {**body, "messages": [system, {"role": "user", "content": asked}]})
    assert [c.function.name for c in calls] == [agent]


def _arguments(client: OpenAI, key: str) -> list[dict[str, Any]]:
    """The arguments of each call the answer to a captured body makes."""
    (body,) = CAPTURED[key]
    return [json.loads(c.function.arguments) for c in _calls(client, body)]


def test_instructor_s_parallel_weather_is_called_for_each_city_named_in_lower_case(
    client: OpenAI,
) -> None:
    """instructor's parallel tools example (instructor 1.17, Mode.PARALLEL_TOOLS, response
    model Iterable[Weather | GoogleSearch]): "What is the weather in toronto and dallas…?"
    named no place in capitals, so Weather was called once, with a made-up address."""
    assert [a["location"] for a in _arguments(client, "instructor_parallel_weather")] == [
        "Toronto",
        "Dallas",
    ]


def test_the_units_asked_for_each_city_are_that_city_s(client: OpenAI) -> None:
    """Weather(location, units: metric | imperial) for "Toronto in metric and Dallas in
    imperial": called for Toronto alone, its units left to chance as two were named."""
    called = [
        (a["location"], a["units"]) for a in _arguments(client, "instructor_weather_units_per_city")
    ]
    assert called == [("Toronto", "metric"), ("Dallas", "imperial")]


def test_a_reminder_for_tomorrow_at_9am_is_due_tomorrow_at_9(client: OpenAI) -> None:
    """instructor's Reminder(task, when: datetime) for "Remind me tomorrow at 9am to call
    Bob": `when` was any date-time (2012-04-08T00:10:22Z); it is the day after the
    request's, at 09:00."""
    (body,) = CAPTURED["instructor_reminder"]
    reply = client.chat.completions.create(**body)
    (call,) = reply.choices[0].message.tool_calls or []
    tomorrow = dt.datetime.fromtimestamp(reply.created, dt.UTC).date() + dt.timedelta(days=1)
    assert json.loads(call.function.arguments) == {  # type: ignore[union-attr]
        "task": "Call Bob",
        "when": f"{tomorrow}T09:00:00Z",
    }


def test_an_event_a_sentence_opens_with_is_the_event_s_name(client: OpenAI) -> None:
    """instructor's Event(name, date) for "The launch party starts at 7pm on Friday": the
    name was a made-up person's (Brenda Wilson)."""
    assert _arguments(client, "instructor_event") == [{"name": "Launch Party", "date": "Friday"}]


def test_a_pydantic_ai_agent_asked_to_remind_sets_the_reminder_for_tomorrow(
    client: OpenAI,
) -> None:
    """pydantic-ai (1.x) with tools get_weather(city) and set_reminder(text, when: datetime),
    asked "Remind me tomorrow at 9am to call Bob": no tool was called (the agent answered in
    text); set_reminder is, `when` tomorrow at 09:00."""
    body = {
        "model": "gpt-4o-mini",
        "stream": False,
        "messages": [{"role": "user", "content": "Remind me tomorrow at 9am to call Bob"}],
        "tool_choice": "auto",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Get the weather for a city.",
                    "parameters": {
                        "additionalProperties": False,
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                        "type": "object",
                    },
                    "strict": True,
                },
            },
            {
                "type": "function",
                "function": {
                    "name": "set_reminder",
                    "description": "Set a reminder.",
                    "parameters": {
                        "additionalProperties": False,
                        "properties": {
                            "text": {"type": "string"},
                            "when": {"format": "date-time", "type": "string"},
                        },
                        "required": ["text", "when"],
                        "type": "object",
                    },
                    "strict": True,
                },
            },
        ],
    }
    reply = client.chat.completions.create(**body)
    (call,) = reply.choices[0].message.tool_calls or []
    tomorrow = dt.datetime.fromtimestamp(reply.created, dt.UTC).date() + dt.timedelta(days=1)
    assert call.function.name == "set_reminder"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments)["when"] == f"{tomorrow}T09:00:00Z"  # type: ignore[union-attr]
