"""Requests that Python agent frameworks send on the Anthropic Messages API and the OpenAI
Responses API, replayed against the default generator.

Each body in tests/data/py-agent-loops-families.json was taken from mockllm's journal
(`GET /__admin/requests`) while the framework ran against it with no scenario:
pydantic-ai 2.78 (AnthropicModel, OpenAIResponsesModel), the OpenAI Agents SDK 0.25 (its
default Responses model, and LitellmModel("anthropic/…")), LangChain 1.5's create_agent
and with_structured_output (langchain-anthropic 1.7, langchain-openai 1.8 with
use_responses_api), instructor 1.17 (ANTHROPIC_JSON, RESPONSES_TOOLS), LlamaIndex 0.14's
FunctionAgent and AgentWorkflow on OpenAIResponses, Agno 3.1 (Claude, OpenAIResponses),
Strands Agents 1.65 (AnthropicModel) and litellm.responses (1.110). A body the framework
streamed is replayed as a stream, read the way the SDK reads one. The answers are checked
as the framework reads them: the call its loop runs, with the arguments its tool takes;
the stop reason or status that ends the loop; the final text carrying the tool's result;
the structured output's values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic
from anthropic.types import Message
from openai import OpenAI
from openai.types.responses import Response

from ..conftest import RunningServer

CAPTURED: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parents[1] / "data" / "py-agent-loops-families.json").read_text("utf-8")
)


@pytest.fixture(scope="module")
def claude(server: RunningServer) -> Iterator[Anthropic]:
    with Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk


def _message(claude: Anthropic, key: str, nth: int = 0) -> Message:
    """The answer to the nth request of a Messages loop (a streamed one read as a stream)."""
    body = dict(CAPTURED[key][nth])
    if body.pop("stream", False):
        with claude.messages.stream(**body) as stream:
            return stream.get_final_message()
    return claude.messages.create(**body, timeout=30)  # (as the SDK asks of a large max_tokens)


def _response(client: OpenAI, key: str, nth: int = 0) -> Response:
    """The answer to the nth request of a Responses loop (a streamed one read as a stream)."""
    body = dict(CAPTURED[key][nth])
    if body.pop("stream", False):
        with client.responses.stream(**body) as stream:
            return stream.get_final_response()
    return client.responses.create(**body)


def _message_calls(reply: Message) -> list[tuple[str, dict[str, Any]]]:
    return [(b.name, dict(b.input)) for b in reply.content if b.type == "tool_use"]


def _response_calls(reply: Response) -> list[tuple[str, dict[str, Any]]]:
    return [(o.name, json.loads(o.arguments)) for o in reply.output if o.type == "function_call"]


def _text(reply: Message) -> str:
    return "".join(b.text for b in reply.content if b.type == "text")


def test_a_delegating_tool_asks_for_as_many_things_as_the_message(
    claude: Anthropic, client: OpenAI
) -> None:
    """pydantic-ai's agent delegation example: `joke_factory(ctx, count: int)` for "Tell me
    3 jokes." was called with a count of 4, or 10: `count` was never read from the message
    (a search's result count is not a number the message gives, "news about the 2022
    cup"), though it asks for three things."""
    messages = _message_calls(_message(claude, "pydantic_ai_anthropic_delegation"))
    assert messages == [("joke_factory", {"count": 3})]
    responses = _response_calls(_response(client, "pydantic_ai_responses_delegation"))
    assert responses == [("joke_factory", {"count": 3})]


def test_a_structured_output_tool_is_called_once_the_results_are_back(
    claude: Anthropic,
) -> None:
    """Strands' `agent(…, structured_output_model=Weather)` offers `Weather` beside its tools
    ("This StructuredOutputTool should only be invoked as the last and final tool"), with
    `tool_choice` left to the model. Once get_weather's result was back the answer was
    text, so Strands asked again with the tool forced ("You must format the previous
    response as structured output."), and that call got a random city and temperature. Now
    the loop's second turn calls `Weather` with what the result says."""
    first = _message(claude, "strands_anthropic_weather_output")
    assert _message_calls(first) == [("get_weather", {"city": "Oslo"})]
    reply = _message(claude, "strands_anthropic_weather_output", 1)
    assert reply.stop_reason == "tool_use"
    ((name, weather),) = _message_calls(reply)
    assert name == "Weather"
    assert (weather["city"], weather["temperature_c"]) == ("Oslo", 18)
    assert "It is 18C and sunny in Oslo." in weather["conditions"]


_USERS = [{"name": "Alice", "age": 30}, {"name": "Bob", "age": 25}, {"name": "Carol", "age": 41}]


def test_an_iterable_extraction_reads_each_item_the_message_lists(
    claude: Anthropic, client: OpenAI
) -> None:
    """instructor's `create_iterable(response_model=User)` asks for `IterableUser`, whose
    `tasks` is an array of `User` ({"$ref": "#/$defs/User"}): "Extract the users: Alice is
    30, Bob is 25 and Carol is 41." got one to three users of random names and ages, in
    each mode (ANTHROPIC_TOOLS' forced tool, ANTHROPIC_JSON's schema in the system prompt,
    RESPONSES_TOOLS' forced function with a json_schema text format)."""
    reply = _message(claude, "instructor_anthropic_tools_users")
    assert _message_calls(reply) == [("IterableUser", {"tasks": _USERS})]
    text = _text(_message(claude, "instructor_anthropic_json_users"))
    assert json.loads(text[text.index("{") : text.rindex("}") + 1]) == {"tasks": _USERS}
    response = _response(client, "instructor_responses_tools_users")
    assert _response_calls(response) == [("IterableUser", {"tasks": _USERS})]


def _is_anthropic(key: str) -> bool:
    return "anthropic" in key


def _calls(claude: Anthropic, client: OpenAI, key: str, nth: int) -> list[tuple[str, Any]]:
    """The calls the nth answer of a loop makes: stop reason `tool_use`, or a response
    whose output holds function calls."""
    if _is_anthropic(key):
        reply = _message(claude, key, nth)
        assert reply.stop_reason == "tool_use"
        return _message_calls(reply)
    response = _response(client, key, nth)
    assert response.status == "completed"
    return _response_calls(response)


def _final(claude: Anthropic, client: OpenAI, key: str, nth: int) -> str:
    """The text that ends a loop: stop reason `end_turn`, or a completed response with no
    call."""
    if _is_anthropic(key):
        reply = _message(claude, key, nth)
        assert (reply.stop_reason, _message_calls(reply)) == ("end_turn", [])
        return _text(reply)
    response = _response(client, key, nth)
    assert (response.status, _response_calls(response)) == ("completed", [])
    return response.output_text


@pytest.mark.parametrize(
    ("key", "call", "found"),
    [
        ("pydantic_ai_anthropic_weather", ("get_weather", {"city": "Paris"}), "sunny in Paris"),
        ("pydantic_ai_responses_weather", ("get_weather", {"city": "Paris"}), "sunny in Paris"),
        ("langchain_anthropic_stock", ("get_stock_price", {"ticker": "NVDA"}), "NVDA is trading"),
        ("langchain_responses_stock", ("get_stock_price", {"ticker": "NVDA"}), "NVDA is trading"),
        ("agno_anthropic_order", ("get_order_status", {"order_id": "55123"}), "Order 55123 was"),
        ("agno_responses_order", ("get_order_status", {"order_id": "55123"}), "Order 55123 was"),
        ("llamaindex_responses_multiply", ("multiply", {"a": 23, "b": 19}), "437"),
        ("litellm_responses_weather", ("get_weather", {"city": "Tokyo"}), "22C and cloudy"),
    ],
)
def test_a_loop_calls_the_tool_asked_for_then_answers_with_its_result(
    claude: Anthropic, client: OpenAI, key: str, call: tuple[str, Any], found: str
) -> None:
    """pydantic-ai, LangChain's create_agent, Agno, LlamaIndex's FunctionAgent and
    litellm.responses: the first turn calls the tool the question is about with the
    arguments it gives (a city, a ticker, an order's id, two numbers); the second, its
    result back, ends the loop with text that says it."""
    assert _calls(claude, client, key, 0) == [call]
    assert found in _final(claude, client, key, 1)


@pytest.mark.parametrize(
    "key",
    [
        "pydantic_ai_anthropic_native_person",
        "pydantic_ai_responses_native_person",
        "langchain_anthropic_json_schema_person",
        "langchain_responses_json_schema_person",
        "instructor_anthropic_json_person",
        "instructor_responses_tools_person",
    ],
)
def test_a_structured_output_carries_the_values_the_message_states(
    claude: Anthropic, client: OpenAI, key: str
) -> None:
    """pydantic-ai's NativeOutput (the Messages API's `output_config` schema, the Responses
    API's json_schema format), LangChain's `with_structured_output(method="json_schema")`,
    instructor's ANTHROPIC_JSON (the schema in the system prompt) and RESPONSES_TOOLS (a
    forced function): "Alice Smith is 30 and lives in Berlin." is that person."""
    if key == "instructor_responses_tools_person":
        ((_, person),) = _calls(claude, client, key, 0)
    else:
        text = _final(claude, client, key, 0)
        person = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert person == {"name": "Alice Smith", "age": 30, "city": "Berlin"}


@pytest.mark.parametrize(
    "key", ["pydantic_ai_anthropic_weather_output", "pydantic_ai_responses_weather_output"]
)
def test_an_output_tool_after_the_results_carries_what_they_say(
    claude: Anthropic, client: OpenAI, key: str
) -> None:
    """pydantic-ai's `output_type=Weather` (its `final_result` tool, a call required):
    once get_weather's result is back, `final_result` ends the run with its values."""
    ((name, weather),) = _calls(claude, client, key, 0)
    assert name == "final_result"
    assert (weather["city"], weather["temperature_c"]) == ("Oslo", 18)
    assert "It is 18C and sunny in Oslo." in weather["conditions"]


def test_an_agents_sdk_output_type_is_json_of_what_the_tool_found(
    claude: Anthropic, client: OpenAI
) -> None:
    """The OpenAI Agents SDK's `output_type=Weather` on its Responses model (a json_schema
    text format, no output tool): the answer after the result is that JSON."""
    weather = json.loads(_final(claude, client, "agents_sdk_responses_output_type", 0))
    assert (weather["city"], weather["temperature_c"]) == ("Oslo", 18)


@pytest.mark.parametrize(
    ("key", "handoff", "city"),
    [
        ("agents_sdk_responses_handoff", ("transfer_to_weather_agent", {}), "Madrid"),
        ("agents_sdk_litellm_anthropic_handoff", ("transfer_to_weather_agent", {}), "Madrid"),
        ("llamaindex_responses_handoff", ("handoff", {"to_agent": "WeatherAgent"}), "Berlin"),
    ],
)
def test_a_triage_hands_off_and_the_agent_it_chose_answers(
    claude: Anthropic, client: OpenAI, key: str, handoff: tuple[str, Any], city: str
) -> None:
    """The OpenAI Agents SDK's handoffs (on its Responses model, and through LitellmModel
    on the Messages API) and LlamaIndex's AgentWorkflow: the triage agent hands the weather
    question to the weather agent, which calls get_weather for the city, then answers with
    its result."""
    ((name, arguments),) = _calls(claude, client, key, 0)
    assert name == handoff[0] and handoff[1].items() <= arguments.items()
    assert _calls(claude, client, key, 1) == [("get_weather", {"city": city})]
    assert f"18C and sunny in {city}." in _final(claude, client, key, 2)


def test_a_date_argument_is_the_day_the_message_gives(claude: Anthropic, client: OpenAI) -> None:
    """pydantic-ai's tool `book_table(restaurant: str, people: int, day: date)` (`day`:
    `{"type": "string", "format": "date"}`): "…for 4 people on June 14, 2025." was read as
    2025-06-14, but a value read from the message was only taken by a string of no format,
    or of a web address's or an email's, so the day was a random one (2004-07-12)."""
    ((_, anthropic),) = _calls(claude, client, "pydantic_ai_anthropic_book_table", 0)
    ((_, responses),) = _calls(claude, client, "pydantic_ai_responses_book_table", 0)
    for booking in (anthropic, responses):
        assert (booking["people"], booking["day"]) == (4, "2025-06-14")


@pytest.mark.parametrize(
    ("key", "call"),
    [
        (
            "pydantic_ai_anthropic_days_between",
            ("days_between", {"start": "2024-01-01", "end": "2024-03-15"}),
        ),
        ("pydantic_ai_anthropic_percent", ("calculator", {"expression": "240 * 15 / 100"})),
        ("pydantic_ai_responses_subtract", ("calculator", {"expression": "10 - 3"})),
    ],
)
def test_arithmetic_is_what_asks_for_a_calculation(
    claude: Anthropic, client: OpenAI, key: str, call: tuple[str, Any]
) -> None:
    """An agent with a calculator among its tools: "How many days are there between
    2024-01-01 and 2024-03-15?" called `calculator("2024-01-01")` (a day's digits read as a
    subtraction), not `days_between`; "What is 15% of 240?" called nothing (a share of a
    number was no calculation); "Subtract 3 from 10." called it with random words (a
    calculation asked in words was none to write)."""
    assert _calls(claude, client, key, 0) == [call]


def test_a_word_of_arithmetic_with_no_numbers_to_work_on_asks_no_calculation(
    claude: Anthropic, client: OpenAI
) -> None:
    """ "Add a reminder to call mom tomorrow at 9am." called `calculator` (`add`, and a
    digit), not `add_reminder`."""
    ((name, _),) = _calls(claude, client, "pydantic_ai_responses_reminder", 0)
    assert name == "add_reminder"


def test_a_restaurant_argument_is_the_one_the_message_names(
    claude: Anthropic, client: OpenAI
) -> None:
    """`book_table(restaurant: str, …)` for "Book a table at Chez Panisse…" was called with
    a restaurant of random words ("form full member")."""
    for key in ("pydantic_ai_anthropic_book_table", "pydantic_ai_responses_book_table"):
        ((_, booking),) = _calls(claude, client, key, 0)
        assert booking["restaurant"] == "Chez Panisse"


def test_a_homework_guardrail_trips_on_an_equation(claude: Anthropic, client: OpenAI) -> None:
    """The OpenAI Agents SDK's input guardrail, its agent told "Check if the user is asking
    you to do their math homework." with `output_type` `{is_homework: bool, reasoning}`:
    "Can you solve 2x + 3 = 11 for x?" got `is_homework: false` (only a verdict named for
    math read the message's math), so the tripwire never fired."""
    verdict = json.loads(_final(claude, client, "agents_sdk_responses_homework_guardrail", 0))
    assert verdict["is_homework"] is True


def test_an_amount_is_not_the_digits_of_an_identifier(claude: Anthropic, client: OpenAI) -> None:
    """pydantic-ai's `refund(order_id: str, amount: float)` for "Refund order 8812 for
    25.50." was called with an amount of 8812, and instructor's `Order(order_id, items,
    total)` read from "Order A-1023 has a keyboard and a mouse, total 59.90." got a total
    of 1023: the numbers of the message were handed out in order, the identifier's too."""
    calls = _calls(claude, client, "pydantic_ai_anthropic_refund", 0)
    assert calls == [("refund", {"order_id": "8812", "amount": 25.5})]
    ((_, order),) = _calls(claude, client, "instructor_responses_tools_order", 0)
    assert (order["order_id"], order["total"]) == ("A-1023", 59.9)


def test_a_date_time_argument_is_the_day_and_the_time_the_message_gives(
    claude: Anthropic, client: OpenAI
) -> None:
    """instructor's ANTHROPIC_TOOLS extraction of `Event(name: str, starts_at: datetime)`
    (`{"type": "string", "format": "date-time"}`) from "The launch party starts on
    2025-07-01 at 18:30." started at midnight: the time after the day was not read."""
    ((_, event),) = _calls(claude, client, "instructor_anthropic_tools_event", 0)
    assert event["starts_at"] == "2025-07-01T18:30:00Z"


def test_a_list_of_things_takes_them_without_their_articles(
    claude: Anthropic, client: OpenAI
) -> None:
    """instructor's `Order(order_id, items: list[str], total)` from "Order A-1023 has a
    keyboard and a mouse, total 59.90." got three items of random words: a list was only
    read when no article stood before its things."""
    ((_, order),) = _calls(claude, client, "instructor_responses_tools_order", 0)
    assert order["items"] == ["keyboard", "mouse"]


def test_a_structured_output_asked_after_the_loop_carries_what_the_tools_found(
    claude: Anthropic, client: OpenAI
) -> None:
    """Strands' `agent.structured_output(Weather)` after `agent("What is the weather in
    Oslo?")` sends the conversation (get_weather's call, its result, the text answer) with
    the `Weather` tool alone, forced: the results of get_weather, a tool that request no
    longer offers, were passed over as another agent's, and the temperature was a random
    one (7) and the conditions a random word."""
    ((name, weather),) = _calls(claude, client, "strands_anthropic_structured_output_after", 0)
    assert name == "Weather"
    assert (weather["city"], weather["temperature_c"]) == ("Oslo", 18)
    assert "It is 18C and sunny in Oslo." in weather["conditions"]


def test_a_follow_up_about_the_place_asked_before_calls_the_tool_for_it(
    claude: Anthropic, client: OpenAI
) -> None:
    """A pydantic-ai conversation on OpenAIResponsesModel (`message_history`): "What is the
    weather in Paris?", "What about Rome?", then "And how many people live there?" with
    get_population ("Get the population of a city.") offered was answered with random
    text: "people" said nothing of a population, and "there" named no place."""
    calls = _calls(claude, client, "pydantic_ai_responses_follow_up_there", 0)
    assert calls == [("get_population", {"city": "Rome"})]


@pytest.mark.parametrize(
    "key", ["openai_responses_parse_calendar_event", "anthropic_messages_parse_calendar_event"]
)
def test_the_calendar_event_of_the_structured_outputs_guide_is_read_from_the_message(
    claude: Anthropic, client: OpenAI, key: str
) -> None:
    """The structured outputs guide's example, `CalendarEvent(name, date: str,
    participants)` from "Alice and Bob are going to a science fair on Friday." (the
    Responses API's `responses.parse(text_format=…)`, the Messages API's
    `messages.parse(output_format=…)`), was named after a random person (Richard
    Wilson) on a random day (1975-10-16)."""
    text = _final(claude, client, key, 0)
    assert json.loads(text) == {
        "name": "Science Fair",
        "date": "Friday",
        "participants": ["Alice", "Bob"],
    }


def test_an_order_s_lines_of_a_model_type_are_the_things_the_message_counts(
    claude: Anthropic, client: OpenAI
) -> None:
    """pydantic-ai's `place_order(customer_id: str, items: list[LineItem])` (`items`:
    `{"$ref": "#/$defs/LineItem"}`, a product and a quantity) for "Place an order for
    customer C-881: 2 notebooks and 3 pens." got lines of random words and numbers: the
    things a message counts were read only for items written in place, not through a
    `$ref`."""
    ((_, order),) = _calls(claude, client, "pydantic_ai_anthropic_order_lines", 0)
    assert order == {
        "customer_id": "C-881",
        "items": [{"product": "notebooks", "quantity": 2}, {"product": "pens", "quantity": 3}],
    }


def test_parallel_extraction_calls_each_model_the_message_asks_for(
    claude: Anthropic, client: OpenAI
) -> None:
    """instructor's ANTHROPIC_PARALLEL_TOOLS (`Iterable[Weather | GoogleSearch]`: both
    offered as tools named like classes, `tool_choice` auto): "What is the weather in
    Toronto and Dallas? Also search for who won the super bowl." called Weather for
    Toronto alone: a tool named like a class was never called beside another, and a
    search's query was the whole message."""
    calls = _calls(claude, client, "instructor_anthropic_parallel_tools", 0)
    found = [(name, args.get("location") or args.get("query")) for name, args in calls]
    assert sorted(found) == [
        ("GoogleSearch", "who won the super bowl"),
        ("Weather", "Dallas"),
        ("Weather", "Toronto"),
    ]


def test_a_customer_who_asks_for_a_human_is_handed_off_with_the_reason(
    claude: Anthropic, client: OpenAI
) -> None:
    """The OpenAI Agents SDK's `handoff(escalation_agent, input_type=Escalation)` (its tool
    takes a `reason`), the support agent told "Escalate angry customers.": "I am furious,
    your service is terrible, I want to talk to a human now!" got a text answer of random
    words (nothing said the escalation agent's words), and LlamaIndex's AgentWorkflow
    handed off with a reason of random words."""
    calls = _calls(claude, client, "agents_sdk_responses_escalation", 0)
    reason = "I am furious, your service is terrible, I want to talk to a human now!"
    assert calls == [("transfer_to_escalation_agent", {"reason": reason})]
    ((_, handoff),) = _calls(claude, client, "llamaindex_responses_handoff", 0)
    assert handoff["reason"] == "What is the weather in Berlin?"


def test_a_number_with_its_unit_is_read_into_a_structured_output(
    claude: Anthropic, client: OpenAI
) -> None:
    """Agno's `parser_model` turns the agent's answer into its `output_schema`: "create a
    structured output from the provided user message", the message "Here is what I found.
    get_weather returned: It is 18C and sunny in Oslo.". `temperature_c` was random (92):
    a number with a unit written after it ("18C") was no number."""
    weather = json.loads(_final(claude, client, "agno_responses_parser_model", 0))
    assert (weather["city"], weather["temperature_c"]) == ("Oslo", 18)
