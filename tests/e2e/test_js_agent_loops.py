"""Requests that JavaScript agent loops send, replayed against the default generator.

Each body in tests/data/js-agent-loops.json was taken from mockllm's journal (`GET
/__admin/requests`) while the library ran against it: LangChain.js's `createAgent`
(langchain 1.5 with @langchain/openai 1.5 and @langchain/anthropic 1.5) and the OpenAI
Agents SDK for JavaScript (@openai/agents 0.20, on the Responses API). The answers are
checked as the library reads them: the call its loop runs, with the arguments its tool
takes, and the answer that ends the loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic
from openai import OpenAI

from ..conftest import RunningServer

CAPTURED: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "js-agent-loops.json").read_text("utf-8")
)


def _body(key: str) -> dict[str, Any]:
    body: dict[str, Any] = CAPTURED[key]["body"]
    return body


@pytest.fixture(scope="module")
def claude(server: RunningServer) -> Iterator[Anthropic]:
    with Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk


def test_langchain_tool_strategy_ends_with_its_extract_tool(claude: Anthropic) -> None:
    """`createAgent({ responseFormat: z.object(...) })` on ChatAnthropic offers the schema
    as a tool named `extract-2` ("Tool for extracting structured output from the model's
    response.") beside the agent's tools, with `tool_choice: any`. Once get_weather's
    result is back, the loop ends when `extract-2` is called (ReactAgent.js routes every
    `extract-` call to its exit); it was called with a temperature of 18.54 and a summary
    of random words. (A tool named like a class, `Weather`, was called after an unrelated
    tool the agent also offered.)"""
    reply = claude.messages.create(**_body("langchain_anthropic_tool_strategy_after_results"))
    assert reply.stop_reason == "tool_use"
    (call,) = [block for block in reply.content if block.type == "tool_use"]
    assert call.name == "extract-2"
    assert call.input["city"] == "Oslo"
    assert call.input["temperature_c"] == 18
    assert "It is 18C and sunny in Oslo." in call.input["summary"]


def test_a_currency_conversion_reads_the_codes_into_from_and_to(client: OpenAI) -> None:
    """`convert_currency({ amount, from, to })`, as LangChain.js's tool examples write it:
    "Convert 100 USD to EUR." called it with `from: "light summer continue"`."""
    reply = client.chat.completions.create(**_body("langchain_openai_convert_currency"))
    (call,) = reply.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "convert_currency"
    assert json.loads(call.function.arguments) == {"amount": 100, "from": "USD", "to": "EUR"}
    assert reply.choices[0].finish_reason == "tool_calls"


def test_an_order_status_result_is_said_in_the_answer(client: OpenAI) -> None:
    """A tool's result `{"order_id": "55123", "status": "delivered", "carrier": "DHL"}`:
    the answer said the id and the carrier and left out the status, the one value asked
    for ("status" was read as how the call went, as in Google ADK's `"status":
    "success"`)."""
    body = _body("langchain_openai_order_status_after_results")
    reply = client.chat.completions.create(**body)
    assert reply.choices[0].finish_reason == "stop"
    assert not reply.choices[0].message.tool_calls
    assert "status delivered" in (reply.choices[0].message.content or "")
    # The Agents SDK's loop on the Responses API: a `function_call_output` item.
    answer = client.responses.create(**_body("openai_agents_order_status_after_results"))
    assert answer.status == "completed"
    assert [item.type for item in answer.output] == ["message"]
    assert "status shipped" in answer.output_text


def test_a_sentiment_is_read_from_the_words_of_the_text(client: OpenAI) -> None:
    """The AI SDK's `generateObject` with `z.enum(["positive", "negative", "neutral"])`, as
    its classification examples write it: "I love this product, it is great!" was
    "negative" (an enum value was taken only when the message names it)."""
    body = _body("ai_sdk_generate_object_sentiment_chat")
    said = set()
    for seed in range(4):
        reply = client.chat.completions.create(**body, seed=seed)
        said.add(json.loads(reply.choices[0].message.content or "")["sentiment"])
    assert said == {"positive"}


def test_an_extraction_reads_the_date_and_the_people_listed(client: OpenAI) -> None:
    """`generateObject` on the Responses API with `z.object({ title, date:
    z.string().describe("ISO date"), attendees: z.array(z.string()), location:
    z.string().nullable() })`: "Team meeting with Alice and Bob on 2024-05-01 in Berlin."
    gave the date 1992-10-18 and attendees ["whether", "rather who", …]."""
    answer = client.responses.create(**_body("ai_sdk_generate_object_event_responses"))
    event = json.loads(answer.output_text)
    assert (event["date"], event["attendees"], event["location"]) == (
        "2024-05-01",
        ["Alice", "Bob"],
        "Berlin",
    )


def test_an_extraction_reads_the_things_a_person_likes(claude: Anthropic) -> None:
    """@anthropic-ai/sdk's `messages.parse` with `zodOutputFormat(z.object({ name, age,
    city, hobbies: z.array(z.string()) }))`: "…likes chess and hiking." gave hobbies of
    random words."""
    reply = claude.messages.create(**_body("anthropic_messages_parse_person"))
    assert reply.stop_reason == "end_turn"
    person = json.loads("".join(b.text for b in reply.content if b.type == "text"))
    assert person == {
        "name": "Tom Baker",
        "age": 41,
        "city": "Leeds",
        "hobbies": ["chess", "hiking"],
    }


def test_a_question_about_warmth_calls_the_weather_tool(claude: Anthropic) -> None:
    """The AI SDK's `generateText` on Anthropic, a weather tool ("Get the weather in a
    location") and, after a greeting, "Is it warm in Tokyo right now?": answered in text
    with no call, as "warm" was not read as a word of the weather."""
    # (max_tokens 64000 as the AI SDK sends it: the SDK asks for a timeout to read it whole)
    reply = claude.messages.create(**_body("ai_sdk_anthropic_warm_in_tokyo"), timeout=30)
    assert reply.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in reply.content if b.type == "tool_use"] == [
        ("weather", {"location": "Tokyo"})
    ]


def test_a_ticket_is_titled_and_described_by_what_the_message_says(client: OpenAI) -> None:
    """`createTicket({ title, priority: z.enum([...]), description })` on the Responses API:
    "Create a high priority ticket: the login page is down for all users." was called
    with a title and a description of random words."""
    answer = client.responses.create(**_body("ai_sdk_create_ticket_responses"))
    (call,) = [item for item in answer.output if item.type == "function_call"]
    assert call.name == "createTicket"
    assert json.loads(call.arguments) == {
        "title": "The login page is down",
        "priority": "high",
        "description": "The login page is down for all users.",
    }


def test_agents_as_tools_call_only_the_translator_asked_for(client: OpenAI) -> None:
    """The Agents SDK's agents-as-tools example: an orchestrator with
    `translate_to_spanish` and `translate_to_french` (`agent.asTool`), asked "Translate
    \\"good morning\\" to Spanish.", called both, in one answer (parallel calls) or one after
    the other: "translate" named the French one too."""
    answer = client.responses.create(**_body("openai_agents_agents_as_tools_responses"))
    calls = [item for item in answer.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["translate_to_spanish"]
    body = _body("openai_agents_agents_as_tools_chat_after_results")
    reply = client.chat.completions.create(**body)
    assert reply.choices[0].finish_reason == "stop"
    assert "translate_to_spanish returned" in (reply.choices[0].message.content or "")


def test_a_structured_answer_after_a_tool_says_what_it_found(client: OpenAI) -> None:
    """The AI SDK's `streamText` with a weather tool and `output: Output.object({ schema:
    z.object({ location, temperatureF, advice }) })`: once the tool's result is back, the
    answer's `advice` was a random word ("maybe"): only a property named for the answer
    (`answer`, `summary`…) carried what the tools found."""
    body = _body("ai_sdk_stream_text_output_after_results_chat")
    with client.chat.completions.create(**body) as stream:
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    said = json.loads(text)
    assert (said["location"], said["temperatureF"]) == ("Denver", 72)
    assert "location Denver, temperature 72" in said["advice"]


def test_an_extraction_leaves_null_what_the_text_does_not_say(client: OpenAI) -> None:
    """openai-node's `responses.parse` with `zodTextFormat(z.object({ name, age, city,
    email: z.string().nullable() }), "person")`: "Maria Garcia is 29 and lives in
    Madrid." gave an invented email ("matthew47@example.com") as often as null."""
    body = _body("openai_node_responses_parse_person")
    said = set()
    for n in range(4):
        answer = client.responses.create(**body, metadata={"try": str(n)})
        person = json.loads(answer.output_text)
        said.add((person["name"], person["age"], person["city"], person["email"]))
    assert said == {("Maria Garcia", 29, "Madrid", None)}


def test_a_time_zone_argument_is_the_zone_of_the_place_asked(claude: Anthropic) -> None:
    """LangChain.js's createAgent on ChatAnthropic with get_current_time({ timezone:
    z.string().describe("IANA timezone, e.g. Europe/Paris") }): "What is the weather in
    Oslo and what time is it in Tokyo?" asked the time of a random zone
    ("Indian/Antananarivo")."""
    reply = claude.messages.create(**_body("langchain_anthropic_weather_and_time"))
    assert reply.stop_reason == "tool_use"
    calls = {b.name: b.input for b in reply.content if b.type == "tool_use"}
    assert calls == {
        "get_weather": {"city": "Oslo"},
        "get_current_time": {"timezone": "Asia/Tokyo"},
    }


def test_a_tool_that_raised_is_reported_as_failed(client: OpenAI) -> None:
    """The Agents SDK's result for a tool that raised is its default error text, "An error
    occurred while running the tool. Please try again.": the answer said "get_user
    returned: An error occurred…", as if the tool had found that."""
    answer = client.responses.create(**_body("openai_agents_tool_error_after_results"))
    assert answer.status == "completed"
    assert answer.output_text.startswith("I couldn't get that. get_user failed:")


def test_a_guardrail_verdict_is_read_from_the_message(client: OpenAI) -> None:
    """The Agents SDK's input guardrail example: an agent with `outputType: z.object({
    isMathHomework: z.boolean(), reasoning: z.string() })`, whose verdict trips the
    guardrail. The boolean was drawn at random, so "I want a refund for my shoes." tripped
    it (the run threw InputGuardrailTripwireTriggered) and "Can you solve 3x + 5 = 20 for
    me?" passed."""
    verdicts = {}
    for key in ("openai_agents_guardrail_math", "openai_agents_guardrail_refund"):
        body = _body(key)
        verdicts[key] = {
            json.loads(client.responses.create(**body, metadata={"n": str(n)}).output_text)[
                "isMathHomework"
            ]
            for n in range(3)
        }
    assert verdicts == {
        "openai_agents_guardrail_math": {True},
        "openai_agents_guardrail_refund": {False},
    }


def test_an_extraction_reads_the_things_a_list_counts(client: OpenAI) -> None:
    """The Agents SDK with `outputType: z.object({ items: z.array(z.object({ name, quantity:
    z.number().int() })) })` on Chat Completions: "Extract the shopping list: 2 apples, 3
    bananas and 1 melon." gave items named after people ("Jill Garcia") with random
    quantities."""
    reply = client.chat.completions.create(**_body("openai_agents_shopping_list_chat"))
    assert json.loads(reply.choices[0].message.content or "") == {
        "items": [
            {"name": "apples", "quantity": 2},
            {"name": "bananas", "quantity": 3},
            {"name": "melon", "quantity": 1},
        ]
    }


def test_an_extraction_reads_the_phone_number_given(claude: Anthropic) -> None:
    """createAgent with `responseFormat: [Contact, Weather]` on ChatAnthropic offers two
    `extract-` tools under `tool_choice: any`; "Extract contact info from: John Doe,
    john@example.com, (555) 123-4567" calls the contact's, whose phone was invented
    ("(934)627-8483")."""
    reply = claude.messages.create(**_body("langchain_anthropic_tool_strategy_contact"))
    (call,) = [block for block in reply.content if block.type == "tool_use"]
    assert (call.name, call.input) == (
        "extract-7",
        {"name": "John Doe", "email": "john@example.com", "phone": "(555) 123-4567"},
    )
