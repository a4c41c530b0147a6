"""Requests that Python agent loops and structured-output helpers send, replayed against
the default generator.

Each body in tests/data/python-agent-loops.json was taken from mockllm's journal
(`GET /__admin/requests`) while the library ran against it: LangGraph's prebuilt
create_react_agent (langgraph 1.2 with langchain-openai 1.8, on Chat Completions and the
Responses API, and langchain-anthropic 1.7), LangChain's `with_structured_output` (its
json_schema and json_mode methods), pydantic-ai's agents (2.78: tool, prompted and
native output, on OpenAI and on Anthropic), Agno's JSON mode and Team (agno 3.1),
AutoGen's teams (autogen-agentchat 0.7.5: RoundRobinGroupChat, SelectorGroupChat,
Swarm), litellm.completion (1.110), Google ADK (2.13, through LiteLlm),
langgraph-supervisor (0.0.31), smolagents' ToolCallingAgent (1.26), the OpenAI Agents
SDK (0.24) and CrewAI (1.15). The answers are checked as the library reads them: a call's
arguments as its tool takes them, a structured output validated against the model it was
asked for, a final answer with no calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic
from openai import OpenAI
from pydantic import BaseModel, Field

from ..conftest import RunningServer

CAPTURED: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "python-agent-loops.json").read_text("utf-8")
)


@pytest.fixture(scope="module")
def claude(server: RunningServer) -> Iterator[Anthropic]:
    with Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk


def _said(client: OpenAI, body: dict[str, Any]) -> str:
    return client.chat.completions.create(**body).choices[0].message.content or ""


def _claude_said(claude: Anthropic, body: dict[str, Any]) -> str:
    """The text of a Messages answer (a streamed body is read whole: with a timeout, as the
    SDK asks of a whole answer that may be long)."""
    reply = claude.messages.create(**{**body, "stream": False}, timeout=30)
    return "".join(block.text for block in reply.content if block.type == "text")


class _Report(BaseModel):
    """Agno's `output_schema`."""

    city: str
    temperature_c: int
    summary: str


@pytest.mark.parametrize("key", ["agno_json_mode_report", "agno_anthropic_json_mode_report"])
def test_agno_json_mode_gets_an_object_of_the_fields_it_lists(
    client: OpenAI, claude: Anthropic, key: str
) -> None:
    """Agno's JSON mode (`use_json_mode=True`) lists the fields in `<json_fields>` and
    shows their schemas alone, `{"city": {"type": "string"}, "temperature_c": {"type":
    "integer"}, …}`, under "Here are the properties for each field:". The answer, once the
    tool's result was back, followed that object's shape ({"city": {"type": "deep"}, …}),
    and Agno could not read it as its output_schema."""
    _, last = CAPTURED[key]
    assert "<json_field_properties>" in json.dumps(last)
    text = _claude_said(claude, last) if "system" in last else _said(client, last)
    _Report.model_validate_json(text)


class _Joke(BaseModel):
    """LangChain's with_structured_output example."""

    setup: str
    punchline: str
    rating: int | None = None


def test_a_langchain_json_mode_joke_rates_it_with_a_whole_number(client: OpenAI) -> None:
    """`with_structured_output(Joke, method="json_mode")` sends JSON mode and the prompt
    "respond in JSON with `setup`, `punchline`, and `rating` keys"; `rating` was a
    fraction (3.14), which Joke's `rating: Optional[int]` refuses (OutputParserException)."""
    (body,) = CAPTURED["langchain_json_mode_joke"]
    assert body["response_format"] == {"type": "json_object"}
    joke = _Joke.model_validate_json(_said(client, body))
    assert joke.rating is not None


class _Person(BaseModel):
    """LangChain's example of an extraction."""

    name: str = Field(description="The person's full name")
    age: int = Field(description="Age in years")
    city: str | None = Field(default=None, description="Where they live")


def test_a_strict_schema_extraction_fills_an_optional_field_from_the_prompt(
    client: OpenAI, claude: Anthropic
) -> None:
    """A strict schema writes an optional field as required and nullable (`city: {"anyOf":
    [{"type": "string"}, {"type": "null"}]}`: LangChain's json_schema method, pydantic-ai's
    NativeOutput): the city the message names went to the field only when the branch drawn
    to check it was the string's, else it was random words ('South Cheryl')."""
    (body,) = CAPTURED["langchain_json_schema_person"]
    person = _Person.model_validate_json(_said(client, body))
    assert (person.name, person.age, person.city) == ("John Smith", 34, "Paris")
    (body,) = CAPTURED["pydantic_ai_anthropic_native_person"]
    assert body["output_config"]["format"]["type"] == "json_schema"
    person = _Person.model_validate_json(_claude_said(claude, body))
    assert (person.name, person.age, person.city) == ("Alice Johnson", 34, "Berlin")


def test_agno_json_mode_reads_the_place_and_the_tool_result_into_its_fields(
    client: OpenAI, claude: Anthropic
) -> None:
    """ "Write a weather report for Paris.", the get_weather result back: the city is the
    one the task names, and the summary says what the tool found (both were random words,
    as every JSON-mode answer's fields were)."""
    for key in ("agno_json_mode_report", "agno_anthropic_json_mode_report"):
        _, last = CAPTURED[key]
        text = _claude_said(claude, last) if "system" in last else _said(client, last)
        report = _Report.model_validate_json(text)
        assert report.city == "Paris"
        assert "It is 18C and sunny in Paris." in report.summary


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("langchain_json_mode_person", ("John Smith", 34, "Paris")),
        ("pydantic_ai_prompted_person", ("Alice Johnson", 34, "Berlin")),
    ],
)
def test_a_json_mode_extraction_reads_the_values_the_message_gives(
    client: OpenAI, key: str, expected: tuple[str, int, str]
) -> None:
    """JSON mode with the keys named in the message ("Respond in JSON with the keys name,
    age and city", LangChain's json_mode) or the schema in the system message (pydantic-ai's
    PromptedOutput): the values were random (Penny Davis, 24, Blackhaven) where a
    json_schema answer read them from the message."""
    (body,) = CAPTURED[key]
    person = _Person.model_validate_json(_said(client, body))
    assert (person.name, person.age, person.city) == expected


class _Weather(BaseModel):
    """pydantic-ai's `output_type`, offered as the `final_result` tool."""

    city: str
    temperature_c: int
    conditions: str


def _final_result(client: OpenAI, claude: Anthropic, body: dict[str, Any]) -> _Weather:
    """The arguments of the answer's final_result call, as pydantic-ai reads them."""
    if "tool_choice" in body and body["tool_choice"] == {"type": "any"}:
        reply = claude.messages.create(**{**body, "stream": False}, timeout=30)
        (call,) = [block for block in reply.content if block.type == "tool_use"]
        assert call.name == "final_result"
        return _Weather.model_validate(call.input)
    (call,) = client.chat.completions.create(**body).choices[0].message.tool_calls or []
    assert call.function.name == "final_result"  # type: ignore[union-attr]
    return _Weather.model_validate_json(call.function.arguments)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "key", ["pydantic_ai_weather_output", "pydantic_ai_anthropic_weather_output"]
)
def test_a_pydantic_ai_output_tool_carries_the_place_and_what_the_tool_found(
    client: OpenAI, claude: Anthropic, key: str
) -> None:
    """pydantic-ai with a tool and `output_type=Weather` requires a call (tool_choice
    `required`, Anthropic's `any`): get_weather(city='Paris') first, then, once "It is 18C
    and sunny in Paris." is back, `final_result`. Its first required string, `city`, got
    the whole text answer ('Here is what I found. get_weather returned: …') and
    `temperature_c` a random number: the city is the one the question names, the
    temperature the one the tool gave, the text answer in `conditions`."""
    first, last = CAPTURED[key]
    assert first["messages"][-1]["role"] == "user"
    weather = _final_result(client, claude, last)
    assert (weather.city, weather.temperature_c) == ("Paris", 18)
    assert "It is 18C and sunny in Paris." in weather.conditions


def _called(client: OpenAI, claude: Anthropic, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """Each tool call of the answer, (name, arguments), on either API."""
    if "input_schema" in json.dumps(body.get("tools")):
        reply = claude.messages.create(**body, timeout=30)
        return [(b.name, b.input) for b in reply.content if b.type == "tool_use"]
    message = client.chat.completions.create(**body).choices[0].message
    return [
        (c.function.name, json.loads(c.function.arguments))  # type: ignore[union-attr]
        for c in message.tool_calls or []
    ]


def test_an_enum_argument_takes_the_value_the_message_names(
    client: OpenAI, claude: Anthropic
) -> None:
    """litellm.completion (1.110) with get_weather(city, unit: "celsius" | "fahrenheit")
    and "What's the weather in Paris in celsius?" (on OpenAI and on Anthropic): the unit
    was drawn from the enum, "fahrenheit" as often as not; it is the one the message
    names (in any case)."""
    for key in ("litellm_weather_in_celsius", "litellm_anthropic_weather_in_celsius"):
        (body,) = CAPTURED[key]
        for unit in ("celsius", "fahrenheit"):
            text = json.dumps(body).replace("in celsius", f"in {unit.capitalize()}")
            asked = json.loads(text)
            called = _called(client, claude, asked)
            assert called == [("get_weather", {"city": "Paris", "unit": unit})], key


def _cities(client: OpenAI, claude: Anthropic, body: dict[str, Any], path: str) -> list[Any]:
    """The `city` of each get_weather call of the answer, on the API the body was sent to."""
    if path == "messages":
        reply = claude.messages.create(**body, timeout=30)
        calls = [(b.name, b.input) for b in reply.content if b.type == "tool_use"]
    elif path == "responses":
        answer = client.responses.create(**body)
        calls = [
            (item.name, json.loads(item.arguments))
            for item in answer.output
            if item.type == "function_call"
        ]
    else:
        message = client.chat.completions.create(**body).choices[0].message
        calls = [
            (c.function.name, json.loads(c.function.arguments))  # type: ignore[union-attr]
            for c in message.tool_calls or []
        ]
    assert {name for name, _ in calls} <= {"get_weather"}, calls
    return [arguments["city"] for _, arguments in calls]  # type: ignore[index]


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("langgraph_two_cities", "chat"),
        ("langgraph_responses_two_cities", "responses"),
        ("langgraph_anthropic_two_cities", "messages"),
    ],
)
def test_a_langgraph_agent_asks_its_tool_once_for_each_city_the_question_lists(
    client: OpenAI, claude: Anthropic, key: str, path: str
) -> None:
    """LangGraph's create_react_agent (langgraph 1.2, langchain-openai 1.8 with and without
    use_responses_api, langchain-anthropic 1.7), "What is the weather in Paris and in
    Rome?", parallel calls allowed: get_weather was called for Paris alone, and the final
    answer said nothing of Rome. It is called for each city in the same answer."""
    first, _ = CAPTURED[key]
    assert _cities(client, claude, first, path) == ["Paris", "Rome"]


def test_one_call_at_a_time_asks_the_next_city_once_the_first_is_back(
    client: OpenAI, claude: Anthropic
) -> None:
    """With parallel_tool_calls false, get_weather(city='Paris') first; once its result is
    back, get_weather(city='Rome') (the loop ended there, without Rome); once both are
    back, the text answer gives both."""
    first, second, last = CAPTURED["langgraph_two_cities_one_call_at_a_time"]
    assert first["parallel_tool_calls"] is False
    assert _cities(client, claude, first, "chat") == ["Paris"]
    assert _cities(client, claude, second, "chat") == ["Rome"]
    message = client.chat.completions.create(**last).choices[0].message
    assert not message.tool_calls
    assert "sunny in Paris" in (message.content or "") and "sunny in Rome" in (
        message.content or ""
    )


class _LangChainWeather(BaseModel):
    """Weather report."""

    city: str = Field(description="The city")
    temperature: float = Field(description="Temperature in Celsius")
    condition: str = Field(description="Weather condition")


@pytest.mark.parametrize(
    "key", ["langchain_tool_strategy_weather", "langchain_anthropic_tool_strategy_weather"]
)
def test_a_langchain_tool_strategy_answer_carries_what_the_tool_found(
    client: OpenAI, claude: Anthropic, key: str
) -> None:
    """LangChain's create_agent (langchain 1.5) with `response_format=ToolStrategy(Weather)`
    offers the schema as a tool named `Weather` beside get_weather: get_weather first,
    then, its "It is 18C and sunny in Paris." back, `Weather`, whose temperature was a
    random number (-4.05) where the tool said 18."""
    first, last = CAPTURED[key]
    assert [name for name, _ in _called(client, claude, first)] == ["get_weather"]
    ((name, arguments),) = _called(client, claude, last)
    assert name == "Weather"
    weather = _LangChainWeather.model_validate(arguments)
    assert (weather.city, weather.temperature) == ("Paris", 18)
    assert "It is 18C and sunny in Paris." in weather.condition


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("adk_litellm_weather", "get_weather returned: It is 18C and sunny in Paris."),
        ("adk_litellm_anthropic_weather", "get_weather returned: It is 18C and sunny in Paris."),
        ("adk_litellm_multiply", "multiply returned: 437."),
    ],
)
def test_a_google_adk_agent_answers_with_what_its_tool_reported(
    client: OpenAI, claude: Anthropic, key: str, said: str
) -> None:
    """Google ADK (2.13, through its LiteLlm model, litellm 1.110) sends a function's
    returned dict as the result, `{"status": "success", "report": "It is 18C and sunny in
    Paris."}` as its own docs write tools, `{"result": 437}`: the final answer quoted the
    object ('get_weather returned: {"status": "success", "report": …}.'). It says what the
    object says."""
    _, last = CAPTURED[key]
    result = json.dumps(last["messages"][-1]["content"])
    assert '\\"status\\": \\"success\\"' in result or '\\"result\\": 437' in result
    if "input_schema" in json.dumps(last["tools"]):
        text = _claude_said(claude, last)
    else:
        reply = client.chat.completions.create(**last).choices[0]
        assert not reply.message.tool_calls
        text = reply.message.content or ""
    assert text == f"Here is what I found. {said}"


@pytest.mark.parametrize(
    "key", ["langgraph_supervisor_back", "langgraph_supervisor_anthropic_back"]
)
def test_a_langgraph_supervisor_passes_on_its_experts_answer(
    client: OpenAI, claude: Anthropic, key: str
) -> None:
    """langgraph-supervisor (0.0.31): the supervisor calls transfer_to_weather_expert, the
    expert answers ("Here is what I found. get_weather returned: It is 18C and sunny in
    Paris.") and hands back (transfer_back_to_supervisor). The supervisor's last answer,
    the graph's result, was random words: it passes on what the expert said."""
    (body,) = CAPTURED[key]
    expert = "Here is what I found. get_weather returned: It is 18C and sunny in Paris."
    if "input_schema" in json.dumps(body["tools"]):
        reply = claude.messages.create(**body, timeout=30)
        assert [block.type for block in reply.content] == ["text"]
        text = reply.content[0].text  # type: ignore[union-attr]
    else:
        message = client.chat.completions.create(**body).choices[0].message
        assert not message.tool_calls
        text = message.content or ""
    assert text == expert


def test_an_autogen_selector_names_a_listed_participant(client: OpenAI) -> None:
    """AutoGen's SelectorGroupChat (autogen-agentchat 0.7.5) asks which participant speaks
    next: the roles as `name: description`, the conversation as `source: text` lines, and
    "select the next role from ['planning_agent', 'weather_agent'] to play. Only return
    the role." The answer was random words; after three tries the team logged "Model
    failed to select a speaker" and fell back to the first participant. The answer is a
    name: the planner, whose description says it engages first on a new task; once it has
    spoken, the agent the last message relates to."""
    (body,) = CAPTURED["autogen_selector_first"]
    prompt = body["messages"][0]["content"]
    assert "Only return the role." in prompt
    assert _said(client, body) == "planning_agent"
    asked = "user: What is the weather in Paris?\n"
    planned = asked + "planning_agent: weather_agent, please look up the weather in Paris.\n"
    later = {**body, "messages": [{"role": "system", "content": prompt.replace(asked, planned)}]}
    assert _said(client, later) == "weather_agent"


@pytest.mark.parametrize(
    ("key", "word"),
    [("autogen_round_robin_critic", "APPROVE"), ("autogen_selector_planner", "TERMINATE")],
)
def test_an_autogen_team_ends_on_the_word_its_agent_is_told_to_say(
    client: OpenAI, key: str, word: str
) -> None:
    """AutoGen's team examples (autogen-agentchat 0.7.5) end on a word: the critic of a
    RoundRobinGroupChat is told "Respond with 'APPROVE' to when your feedbacks are
    addressed." (TextMentionTermination("APPROVE")), the planner of a SelectorGroupChat
    "When all tasks are complete, summarize the findings and end with "TERMINATE"." Neither
    answer said it, so each team ran until its MaxMessageTermination."""
    (body,) = CAPTURED[key]
    assert _said(client, body).endswith(f"\n\n{word}")


def test_an_autogen_swarm_agent_hands_back_and_the_team_ends(
    client: OpenAI, claude: Anthropic
) -> None:
    """AutoGen's Swarm example (autogen-agentchat 0.7.5): the travel agent hands "I need to
    refund my flight." to flights_refunder (transfer_to_flights_refunder), whose
    instructions say "When the transaction is complete, handoff to the travel agent to
    finalize."; the Swarm runs the same agent until it hands off. The refunder answered in
    text again and again until the team's MaxMessageTermination(15). Asked to go on after
    its own answer, it hands off to the agent its instructions name; the travel agent,
    handed "Transferred to travel_agent, adopting the role of travel_agent immediately.",
    no longer hands the refund back (it called transfer_to_flights_refunder again) but
    answers, ending with the TERMINATE its instructions ask for."""
    (refunder,) = CAPTURED["autogen_swarm_refunder_goes_on"]
    assert refunder["messages"][-1]["role"] == "assistant"
    assert _called(client, claude, refunder) == [("transfer_to_travel_agent", {})]
    (travel,) = CAPTURED["autogen_swarm_travel_agent_back"]
    assert travel["messages"][-1]["content"].startswith("Transferred to travel_agent")
    message = client.chat.completions.create(**travel).choices[0].message
    assert not message.tool_calls
    assert (message.content or "").endswith("\n\nTERMINATE")


@pytest.mark.parametrize(
    ("key", "member", "answer"),
    [
        (
            "agno_team_weather",
            "weather-agent",
            "Here is what I found. get_weather returned: It is 18C and sunny in Paris.",
        ),
        ("agno_team_multiply", "math-agent", "Here is what I found. multiply returned: 437."),
    ],
)
def test_an_agno_team_leader_delegates_to_the_member_whose_role_fits(
    client: OpenAI, key: str, member: str, answer: str
) -> None:
    """An Agno Team (agno 3.1, coordinate mode) lists its members in the leader's system
    message (`<member id="weather-agent" name="Weather Agent">\\n  Role: Looks up the
    weather`) and offers delegate_task_to_member(member_id, task). The leader answered
    every question in random words itself, the members never ran. It gives the task to the
    member whose role the question relates to, and once the member's answer is back, that
    is its answer."""
    first, last = CAPTURED[key]
    (call,) = client.chat.completions.create(**first).choices[0].message.tool_calls or []
    assert call.function.name == "delegate_task_to_member"  # type: ignore[union-attr]
    arguments = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert arguments == {"member_id": member, "task": first["messages"][-1]["content"]}
    assert last["messages"][-1]["content"] == answer
    message = client.chat.completions.create(**last).choices[0].message
    assert not message.tool_calls and message.content == answer


def test_tool_arguments_take_the_places_the_id_the_quote_and_the_language_asked_for(
    client: OpenAI, claude: Anthropic
) -> None:
    """LangGraph's create_react_agent (langgraph 1.2, langchain-openai 1.8) with
    get_weather_for_cities(cities: list[str]), lookup_order(order_id: str) and
    translate(text, target_language): the list, the id and the language were drawn at
    random (["Fergusonport"], a UUID, "Herero") and `text` was the whole message. They are
    what the message gives."""
    expected = {
        "langgraph_cities_list": ("get_weather_for_cities", {"cities": ["Paris", "Rome"]}),
        "langgraph_order_id": ("lookup_order", {"order_id": "12345"}),
        "langgraph_translate": (
            "translate",
            {"text": "good morning", "target_language": "French"},
        ),
    }
    for key, call in expected.items():
        (body,) = CAPTURED[key]
        assert _called(client, claude, body) == [call], key


def test_an_email_tool_says_what_the_message_asks_to_say(client: OpenAI, claude: Anthropic) -> None:
    """pydantic-ai (2.78) with send_email(to, subject, body) and "Send an email to
    bob@example.com saying the meeting moved to 3pm.": the address was read, but the
    subject and body were random sentences, which the tool sent. They say what the message
    asks to say."""
    (body,) = CAPTURED["pydantic_ai_send_email"]
    ((name, arguments),) = _called(client, claude, body)
    assert name == "send_email"
    assert arguments == {
        "to": "bob@example.com",
        "subject": "The meeting moved to 3pm",
        "body": "The meeting moved to 3pm.",
    }


def test_a_langgraph_swarm_hands_off_again_for_a_new_question(
    client: OpenAI, claude: Anthropic
) -> None:
    """langgraph-swarm (0.1) with its README's agents: Alice (add, transfer_to_bob) and Bob
    (transfer_to_alice). On the thread's third turn, "i'd like to speak to Bob again",
    Alice's transfer_to_bob of the first turn kept her from handing off again (she answered
    herself), and Bob, handed the question, read it as a follow-up and called the last tool
    of the thread, transfer_to_alice, back again. Alice hands off; Bob answers."""
    alice, bob = CAPTURED["langgraph_swarm_third_turn"]
    assert _called(client, claude, alice) == [("transfer_to_bob", {})]
    message = client.chat.completions.create(**bob).choices[0].message
    assert not message.tool_calls and message.content


LOOKUP = {
    "name": "lookup",
    "description": "Look up a record by its id.",
    "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
}


def test_a_tool_result_marked_as_an_error_is_reported_as_a_failure(claude: Anthropic) -> None:
    """The Anthropic SDK's tool runner (and the AI SDK) send a tool that raised as a
    tool_result with is_error: the answer says the call failed, as a model would, not
    "Here is what I found"."""
    asked = {"role": "user", "content": "Find record 7."}
    called = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"id": "7"}}],
    }
    failed = {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": "database offline",
                "is_error": True,
            }
        ],
    }
    reply = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=300,
        tools=[LOOKUP],  # type: ignore[list-item]
        messages=[asked, called, failed],  # type: ignore[list-item]
    )
    assert reply.stop_reason == "end_turn"
    text = "".join(block.text for block in reply.content if block.type == "text")
    assert text == "I couldn't get that. lookup failed: database offline."


def test_an_error_a_framework_writes_as_the_result_is_reported_as_a_failure(
    client: OpenAI,
) -> None:
    """LangGraph's ToolNode writes a tool's exception as the result: "Error:
    ValueError('database offline')\\n Please fix your mistakes."; one of two results an
    object with an `error`."""
    tool = {"type": "function", "function": {**LOOKUP, "parameters": LOOKUP["input_schema"]}}
    del tool["function"]["input_schema"]  # type: ignore[attr-defined]
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": "lookup", "arguments": a}}
        for i, a in enumerate(('{"id": "7"}', '{"id": "8"}'))
    ]
    messages = [
        {"role": "user", "content": "Find records 7 and 8."},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {
            "role": "tool",
            "tool_call_id": "call_0",
            "content": "Error: ValueError('database offline')\n Please fix your mistakes.",
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"error": "no such record"}'},
    ]
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[tool])  # type: ignore[arg-type,list-item]
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content == (
        "I couldn't get that. lookup failed: ValueError('database offline'). "
        "lookup failed: no such record."
    )


def _one_call(client: OpenAI, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The one call of an answer, as smolagents' ToolCallingAgent runs it."""
    calls = client.chat.completions.create(**body).choices[0].message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function"
    return calls[0].function.name, json.loads(calls[0].function.arguments)


def test_a_smolagents_tool_calling_agent_looks_up_the_question_then_answers(
    client: OpenAI,
) -> None:
    """smolagents' ToolCallingAgent (tool_choice required; web_search, visit_webpage and
    its final_answer; the task as "New task:\n…", a result back as the user's
    "Observation:\n…") asked "Who won the world cup in 2022?" called final_answer at once
    with random words, and "Summarize https://example.com/blog/post-1." likewise. The
    question is searched (its query the question, not "New task:"), the page read, and
    final_answer then gives what the search found; small talk is answered at once."""
    first, second = CAPTURED["smolagents_tool_calling_world_cup"]
    assert first["tool_choice"] == "required"
    assert _one_call(client, first) == ("web_search", {"query": "Who won the world cup in 2022?"})
    name, arguments = _one_call(client, second)
    assert name == "final_answer" and "Argentina won the 2022 FIFA World Cup" in str(arguments)
    (page,) = CAPTURED["smolagents_tool_calling_read_page"]
    assert _one_call(client, page) == ("visit_webpage", {"url": "https://example.com/blog/post-1"})
    (hello,) = CAPTURED["smolagents_tool_calling_small_talk"]
    assert _one_call(client, hello)[0] == "final_answer"


UNAVAILABLE = "I couldn't get that. web_search failed: unavailable."


@pytest.mark.parametrize(
    "key",
    [
        "langchain_responses_web_search",
        "agents_sdk_web_search",
        "pydantic_ai_web_search",
        "langchain_anthropic_web_search",
        "pydantic_ai_anthropic_web_search",
    ],
)
def test_a_question_is_searched_with_the_built_in_web_search(
    client: OpenAI, claude: Anthropic, key: str
) -> None:
    """The providers' own web search, alone: LangChain's ChatOpenAI(use_responses_api=True)
    with {"type": "web_search"} and ChatAnthropic with web_search_20250305, the Agents
    SDK's WebSearchTool, pydantic-ai's NativeTool(WebSearchTool()) on the Responses API and
    on Anthropic. "Who won the world cup in 2022?" was answered in random words with no
    search; it is searched (the call fails, as this server searches nothing) and the answer
    says so. Small talk is still answered without one."""
    (body,) = CAPTURED[key]
    question = "Who won the world cup in 2022?"
    hello = json.loads(json.dumps(body).replace(question, "hi, how are you?"))
    if "messages" in body:
        reply = claude.messages.create(**{**body, "stream": False}, timeout=30)
        searched = [b.input for b in reply.content if b.type == "server_tool_use"]
        assert searched == [{"query": question}]
        assert reply.content[-1].type == "text" and reply.content[-1].text == UNAVAILABLE
        assert reply.stop_reason == "end_turn"
        chatted = claude.messages.create(**{**hello, "stream": False}, timeout=30)
        assert [b.type for b in chatted.content] == ["text"]
    else:
        response = client.responses.create(**body)
        calls = [item for item in response.output if item.type == "web_search_call"]
        assert len(calls) == 1 and calls[0].status == "failed"
        assert calls[0].action.type == "search" and calls[0].action.query == question
        assert response.output_text == UNAVAILABLE
        chatted = client.responses.create(**hello)
        assert [item.type for item in chatted.output] == ["message"]


def test_a_crewai_agent_reads_the_task_its_template_wraps(client: OpenAI) -> None:
    """CrewAI's agent sends its task as "Current Task: …\n\nThis is the expected criteria
    for your final answer: …": with duckduckgo_search, fetch_page and get_current_weather
    every task called get_current_weather (the template's "current") with the location
    "Task". The task is what it asks: the question is searched, the page read, the weather
    asked for Seattle, and small talk calls nothing."""
    question, page, hello, weather = CAPTURED["crewai_tasks"]
    assert "Current Task: Who won" in question["messages"][1]["content"]
    assert _one_call(client, question) == (
        "duckduckgo_search",
        {"query": "Who won the world cup in 2022?"},
    )
    assert _one_call(client, page) == ("fetch_page", {"url": "https://example.com/blog/post-1"})
    assert _one_call(client, weather) == ("get_current_weather", {"location": "Seattle"})
    assert client.chat.completions.create(**hello).choices[0].message.tool_calls is None


@pytest.mark.parametrize(
    ("question", "lead", "said"),
    [
        (
            "Qual é o tempo em Lisboa hoje?",
            "Aqui está o que encontrei. ",
            "get_weather retornou: 18C e ensolarado.",
        ),
        (
            "Hoe is het weer in Amsterdam vandaag?",
            "Dit heb ik gevonden. ",
            "get_weather gaf terug: 18C en zonnig.",
        ),
    ],
)
def test_a_portuguese_or_dutch_question_gets_its_tool_s_result_in_its_language(
    client: OpenAI, claude: Anthropic, question: str, lead: str, said: str
) -> None:
    """The answer built from a tool's result is written in the question's language:
    Portuguese and Dutch questions got "Here is what I found. get_weather returned: …"."""
    weather = {
        "name": "get_weather",
        "description": "Get the weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    call = {"id": "call_1", "type": "function"}
    call["function"] = {"name": "get_weather", "arguments": '{"city": "x"}'}
    result = said.split(": ", 1)[1].rstrip(".")
    messages = [
        {"role": "user", "content": question},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": result},
    ]
    body = {
        "model": "gpt-4o",
        "messages": messages,
        "tools": [{"type": "function", "function": weather}],
    }
    assert _said(client, body) == lead + said
    tool = {"name": "get_weather", "description": weather["description"]}
    tool["input_schema"] = weather["parameters"]
    turns = [
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": result}],
        },
    ]
    claude_body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 200,
        "messages": turns,
        "tools": [tool],
    }
    assert _claude_said(claude, claude_body) == lead + said
