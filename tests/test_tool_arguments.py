"""The arguments the default generator reads from the prompt for a tool's call."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mockllm.prompt_reading import math_words
from mockllm.tool_arguments import (
    REQUEST_TIME,
    argument_hints,
    hints_per_place,
)
from mockllm.tool_policy import choose_tool
from tests.tool_requests import ASK, WEATHER, call, conversation, function, tool


def hints_for(text: str, properties: dict[str, Any]) -> dict[str, Any]:
    """What a user's message gives a tool `f` of these properties."""
    offered = function("f", {"type": "object", "properties": properties})
    request = conversation({"role": "user", "content": text}, tools=[offered])
    return argument_hints(request, request.tools[0])


def test_argument_hints_read_the_prompt() -> None:
    request = conversation(ASK, tools=[WEATHER, tool("search", "Search the web", query=1)])
    assert argument_hints(request, request.tools[0]) == {"city": "Paris"}
    assert argument_hints(request, request.tools[1]) == {"query": ASK["content"]}


def test_an_expression_argument_gets_the_arithmetic_the_message_asks() -> None:
    calculator = tool("calculator", "Evaluates arithmetic.", expression=1)
    asked = conversation({"role": "user", "content": "What is 23*19?"}, tools=[calculator])
    assert argument_hints(asked, asked.tools[0]) == {"expression": "23*19"}


def test_arguments_take_the_numbers_addresses_tickers_and_currencies_asked() -> None:
    def hints(text: str, **types: str) -> dict[str, object]:
        properties = {name: {"type": kind} for name, kind in types.items()}
        return hints_for(text, properties)

    assert hints("Multiply 23 by 19", a="integer", b="integer") == {"a": 23, "b": 19}
    assert hints("Add 2 and 40.", a="number", b="number") == {"a": 2, "b": 40}
    assert hints(
        "Convert 100 USD to EUR", amount="number", from_currency="string", to_currency="string"
    ) == {
        "amount": 100,
        "from_currency": "USD",
        "to_currency": "EUR",
    }
    assert hints("What is the stock price of AAPL?", ticker="string") == {"ticker": "AAPL"}
    assert hints("Email bob@example.com now", to="string") == {"to": "bob@example.com"}
    assert hints("Read README.md and summarise it", file_path="string") == {
        "file_path": "README.md"
    }
    assert hints("open src/app.py, then ./notes/todo.txt.", path="string") == {"path": "src/app.py"}
    assert hints("cat /etc/hosts", filename="string") == {"filename": "/etc/hosts"}
    # Not a file: a number, a version, the end of a sentence.
    assert hints("Read it. Version v1.2.3 costs 3.14", file_path="string") == {}


def test_a_number_hint_must_fit_its_schema() -> None:
    from mockllm.fake import instance_from_schema

    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer", "maximum": 10}, "b": {"type": "number"}},
        "required": ["a", "b"],
    }
    value = instance_from_schema(schema, 1, hints={"a": 23, "b": 19})
    assert isinstance(value, dict) and value["b"] == 19 and value["a"] <= 10


def test_a_place_is_named_on_one_line() -> None:
    # CrewAI writes the task, a blank line, then its criteria: "Weather report for Paris\n\n
    # This is the expected criteria…" names Paris, not "Paris\n\nThis".
    task = "\nCurrent Task: Weather report for Paris\n\nThis is the expected criteria"
    request = conversation({"role": "user", "content": task}, tools=[WEATHER])
    assert argument_hints(request, request.tools[0]) == {"city": "Paris"}
    spaced = conversation({"role": "user", "content": "Is it raining in New York City?"})
    assert argument_hints(spaced, request.tools[0]) == {"city": "New York City"}


def test_each_place_a_message_lists_gets_its_own_hints() -> None:
    weather = conversation(
        {"role": "user", "content": "Get the weather in Paris and in Rome"}, tools=[WEATHER]
    )
    assert hints_per_place(weather, weather.tools[0]) == [{"city": "Paris"}, {"city": "Rome"}]
    three = conversation(
        {"role": "user", "content": "The weather in Paris, London and New York"}, tools=[WEATHER]
    )
    assert [h["city"] for h in hints_per_place(three, three.tools[0])] == [
        "Paris",
        "London",
        "New York",
    ]
    for one in ("What is the weather in Paris, France?", "Weather in Oslo and the time in Tokyo"):
        asked = conversation({"role": "user", "content": one}, tools=[WEATHER])
        assert hints_per_place(asked, asked.tools[0]) == [argument_hints(asked, asked.tools[0])]


def test_a_person_and_an_address_are_read_as_a_model_reads_them() -> None:
    def hints(text: str, *names: str) -> dict[str, object]:
        properties = {name: {"type": "integer" if name == "age" else "string"} for name in names}
        return hints_for(text, properties)

    assert hints("Extract the person: Alice, 30", "name", "age") == {"name": "Alice", "age": 30}
    assert hints("Bob is 25 and lives in Rome", "name", "age") == {"name": "Bob", "age": 25}
    assert hints("Name: Carol; age 51", "name", "age") == {"name": "Carol", "age": 51}
    assert hints("John Smith is 42 years old.", "name") == {"name": "John Smith"}
    assert hints("The office is at 221B Baker Street, London.", "street", "city") == {
        "street": "221B Baker Street",
        "city": "London",
    }
    # A street is no person, and a message that names no one gives no name.
    assert hints("Ship it to 10 Downing Street please", "name") == {}
    assert hints("Summarize this article for me", "name") == {}
    assert hints("What is the weather in Paris?", "city") == {"city": "Paris"}


def test_arguments_read_a_list_of_places_an_id_a_quote_and_a_language() -> None:
    def hints(asked: str, **properties: Any) -> dict[str, Any]:
        return hints_for(asked, properties)

    cities = {"type": "array", "items": {"type": "string"}}
    assert hints("Weather in Paris, Rome and Oslo?", cities=cities) == {
        "cities": ["Paris", "Rome", "Oslo"]
    }
    assert hints("Weather in Paris?", cities=cities) == {"cities": ["Paris"]}
    string = {"type": "string"}
    assert hints("Look up order #A-1042.", order_id=string) == {"order_id": "A-1042"}
    assert hints("Call me at 3pm about it.", ticket_id=string) == {}
    said = hints('Translate "good morning" into German.', text=string, target_language=string)
    assert said == {"text": "good morning", "target_language": "German"}
    assert hints("What's John's plan?", text=string) == {"text": "What's John's plan?"}


def test_a_message_body_says_what_the_message_asks_to_say() -> None:
    email = tool("send_email", "Send an email.", to=1, subject=1, body=1)
    for asked, said in (
        ("Email bob@example.com saying the meeting moved to 3pm.", "The meeting moved to 3pm"),
        ("Text Ann with the message: 'running late, start without me'", "Running late, start"),
    ):
        request = conversation({"role": "user", "content": asked}, tools=[email])
        hints = argument_hints(request, request.tools[0])
        assert str(hints["body"]).startswith(said) and str(hints["subject"]).startswith(said)
    plain = conversation({"role": "user", "content": "Email bob@example.com."}, tools=[email])
    assert argument_hints(plain, plain.tools[0]) == {"to": "bob@example.com"}


def test_the_places_left_are_read_past_a_call_whose_place_is_not_text() -> None:
    """A call of the turn whose place argument is a list (a scripted rule's, another
    model's) counts as no place asked."""
    listed = {"role": "user", "content": "What is the weather in Paris and in Rome?"}
    odd = {**call("get_weather", "c1")}
    odd["function"] = {"name": "get_weather", "arguments": '{"city": ["Paris"]}'}
    back = conversation(
        listed,
        {"role": "assistant", "content": None, "tool_calls": [odd]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C and sunny"},
        tools=[WEATHER],
    )
    assert choose_tool(back, seed=1) == "get_weather"  # Paris and Rome are still to ask


def test_from_and_to_are_the_ends_of_a_trip_or_of_a_conversion() -> None:
    """`from`/`to` (and `origin`/`destination`) take the places after those words; of a
    tool that converts currencies, the currencies the message names, by code or name."""

    def hints(text: str, name: str, description: str, *keys: str) -> dict[str, object]:
        offered = tool(name, description, **dict.fromkeys(keys, 1))
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0])

    trip = "Book a flight to Rome from New York."
    assert hints(trip, "book_flight", "Books a flight", "origin", "destination") == {
        "origin": "New York",
        "destination": "Rome",
    }
    assert hints(trip, "book_flight", "Books a flight", "from", "to") == {
        "from": "New York",
        "to": "Rome",
    }
    money = "Convert 100 dollars into euros."
    assert hints(money, "convert", "Converts between currencies", "from", "to") == {
        "from": "USD",
        "to": "EUR",
    }


def test_a_sentiment_a_date_and_a_list_are_read_from_the_message() -> None:
    """A sentiment enum by the text's words (a negation turns one, both make it mixed when
    the enum has that), the dates the message gives in order (ISO, or written out), and
    the things or the people it lists."""

    def hints(text: str, **properties: Any) -> dict[str, object]:
        return hints_for(text, properties)

    feeling = {"type": "string", "enum": ["POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"]}
    assert hints("The box was broken and late.", sentiment=feeling) == {"sentiment": "NEGATIVE"}
    assert hints("It is not bad at all.", sentiment=feeling) == {"sentiment": "POSITIVE"}
    assert hints("Great screen, awful battery.", sentiment=feeling) == {"sentiment": "MIXED"}
    assert hints("It arrived on Tuesday.", sentiment=feeling) == {"sentiment": "NEUTRAL"}
    assert hints("It arrived.", unit={"type": "string", "enum": ["c", "f"]}) == {}
    days = {"start_date": {"type": "string"}, "end": {"type": "string", "format": "date-time"}}
    assert hints("From March 3rd, 2025 to 7 April 2025.", **days) == {
        "start_date": "2025-03-03",
        "end": "2025-04-07T00:00:00Z",
    }
    strings = {"type": "array", "items": {"type": "string"}}
    assert hints("Invite Ada Lovelace, Alan Turing and Grace to lunch.", guests=strings) == {
        "guests": ["Ada Lovelace", "Alan Turing", "Grace"]
    }
    assert hints("Tom lives in Leeds, and likes chess and hiking.", hobbies=strings) == {
        "hobbies": ["chess", "hiking"]
    }


def test_a_title_and_a_description_are_what_a_request_says_after_its_colon() -> None:
    offered = tool("create_issue", "Create an issue", title=1, summary=1, details=1)
    text = "File a bug: the export button does nothing on Safari."
    request = conversation({"role": "user", "content": text}, tools=[offered])
    assert argument_hints(request, request.tools[0]) == {
        "title": "The export button does nothing",
        "summary": "The export button does nothing on Safari.",
        "details": "The export button does nothing on Safari.",
    }


def test_a_time_zone_is_the_one_named_or_the_zone_of_the_place() -> None:
    offered = tool("get_current_time", "Get the current time in a timezone", timezone=1)

    def zone(text: str) -> object:
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0]).get("timezone")

    assert zone("What time is it in Europe/Paris?") == "Europe/Paris"
    assert zone("What time is it in New York?") == "America/New_York"
    assert zone("Is it late in San Francisco?") == "America/Los_Angeles"
    assert zone("What time is it?") is None


def test_a_boolean_named_as_a_question_is_answered_by_the_message() -> None:
    def verdict(text: str, name: str) -> object:
        offered = function(
            "classify", {"type": "object", "properties": {name: {"type": "boolean"}}}
        )
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0]).get(name)

    assert verdict("What is the derivative of x^2?", "is_math_homework") is True
    assert verdict("Where is my order?", "is_math_homework") is False
    assert verdict("I want a refund.", "isRefundRequest") is True
    assert verdict("Tell me a joke.", "is_off_topic") is False
    assert verdict("Tell me a joke.", "is_safe") is True
    assert verdict("Tell me a joke.", "include_images") is None


def test_the_things_a_message_counts_fill_an_array_of_records() -> None:
    record = {
        "type": "object",
        "properties": {"item": {"type": "string"}, "qty": {"type": "integer"}},
        "required": ["item", "qty"],
    }
    offered = function(
        "place_order",
        {
            "type": "object",
            "properties": {"lines": {"type": "array", "items": record}},
        },
    )

    def lines(text: str) -> object:
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0]).get("lines")

    assert lines("Order 3 pizzas, 2 cokes, and 10 napkins.") == [
        {"item": "pizzas", "qty": 3},
        {"item": "cokes", "qty": 2},
        {"item": "napkins", "qty": 10},
    ]
    assert lines("Order 1 pizza.") is None  # one thing is not a list
    assert lines("Order 2.5 pizzas and 1 coke.") is None  # not a whole number


def test_a_boolean_with_a_default_is_not_read_as_a_verdict() -> None:
    setting = {"type": "boolean", "default": True}
    offered = function("create_repo", {"type": "object", "properties": {"is_private": setting}})
    request = conversation(
        {"role": "user", "content": "Create a repo named demo."}, tools=[offered]
    )
    assert argument_hints(request, request.tools[0]) == {}


def test_an_array_takes_the_number_of_things_a_message_asks_for() -> None:
    offered = function(
        "brainstorm",
        {
            "type": "object",
            "properties": {"ideas": {"type": "array", "items": {"type": "string"}}},
        },
    )

    def ideas(text: str) -> object:
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0]).get("ideas")

    assert ideas("Give me 10 startup ideas.") == 10
    assert ideas("Generate three short bios of famous scientists.") == 3
    for said in (
        "John is 34 years old.",  # an age, a length, a number past twelve: no count
        "Summarize it in 3 sentences.",
        "Generate 30 names.",
        "Order 2.5 pizzas.",
        "One of the ideas.",
    ):
        assert ideas(said) is None, said


def test_an_object_property_takes_the_texts_the_message_gives_for_its_own() -> None:
    address = {
        "type": "object",
        "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
    }
    offered = function(
        "save_contact",
        {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "home": {"$ref": "#/$defs/Address"},  # pydantic's nested model
                "work": {"anyOf": [address, {"type": "null"}]},  # and an optional one
            },
            "$defs": {"Address": address},
        },
    )
    text = "Save Jane Doe, who lives at 10 Downing Street, London."
    request = conversation({"role": "user", "content": text}, tools=[offered])
    hints = argument_hints(request, request.tools[0])
    place = {"street": "10 Downing Street", "city": "London"}
    assert hints["home"] == place and hints["work"] == place
    assert isinstance(hints["home"], dict) and hints["name"] == "Jane Doe"


def test_a_count_is_how_many_things_the_message_asks_for() -> None:
    def counts(text: str, name: str = "count") -> object:
        offered = function(
            "joke_factory", {"type": "object", "properties": {name: {"type": "integer"}}}
        )
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0]).get(name)

    assert counts("Tell me 3 jokes.") == 3
    assert counts("Show me the five latest orders.", "limit") == 5
    assert counts("Search for news about the 2022 world cup.") is None  # not a count
    assert counts("Tell me a joke.") is None
    assert counts("Show page 2 of the results.", "page") is None


def test_an_array_of_objects_takes_the_values_given_for_each() -> None:
    user = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    offered = function(
        "IterableUser",
        {
            "$defs": {"User": user},
            "type": "object",
            "properties": {"tasks": {"type": "array", "items": {"$ref": "#/$defs/User"}}},
        },
    )

    def tasks(text: str) -> object:
        request = conversation({"role": "user", "content": text}, tools=[offered])
        found = argument_hints(request, request.tools[0]).get("tasks")
        return None if found is None else list(found)

    assert tasks("Extract the users: Alice is 30, Bob is 25 and Carol is 41.") == [
        {"name": "Alice", "age": 30},
        {"name": "Bob", "age": 25},
        {"name": "Carol", "age": 41},
    ]
    assert tasks("Alice is 30 and lives in Paris, Bob is 25 and lives in Rome.") == [
        {"name": "Alice", "age": 30},
        {"name": "Bob", "age": 25},
    ]
    assert tasks("John Smith is 34 and lives at 221B Baker Street, London.") is None  # one


def test_arithmetic_is_read_where_a_calculation_is_asked() -> None:
    calculator = tool("calculator", "Evaluate an arithmetic expression.", expression=1)

    def expression(text: str) -> object:
        request = conversation({"role": "user", "content": text}, tools=[calculator])
        return argument_hints(request, request.tools[0]).get("expression")

    assert expression("What is 15% of 240?") == "240 * 15 / 100"
    assert expression("What is 23*19?") == "23*19"
    assert expression("Days between 2024-01-01 and 2024-03-15?") is None  # days, not sums
    assert expression("What was on 03/15/2024?") is None
    assert math_words("Add a reminder for 9am.") == frozenset()
    assert math_words("Take it 3 times a day.") == frozenset()
    assert math_words("Where is product 55123?") == frozenset()
    assert "add" in math_words("Add 3 and 4.")
    assert "multiply" in math_words("What is 3 times 4?")


def test_a_venue_or_a_business_is_the_one_the_message_names() -> None:
    def hints(text: str, **names: int) -> dict[str, Any]:
        request = conversation({"role": "user", "content": text}, tools=[tool("book", **names)])
        return argument_hints(request, request.tools[0])

    assert hints("Book a table at Chez Panisse for 4.", restaurant=1) == {
        "restaurant": "Chez Panisse"
    }
    assert hints("Book a room at the Hilton in Paris.", hotel=1, city=1) == {
        "hotel": "Hilton",
        "city": "Paris",
    }
    assert hints("What does Acme Corp do?", company=1) == {"company": "Acme Corp"}
    assert hints("Find me a restaurant nearby.", restaurant=1) == {}


def test_a_homework_verdict_is_read_from_the_math_a_message_asks() -> None:
    def verdict(text: str) -> object:
        offered = function(
            "check",
            {
                "type": "object",
                "properties": {"is_homework": {"type": "boolean"}},
            },
        )
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0]).get("is_homework")

    assert verdict("Can you solve 2x + 3 = 11 for x?") is True
    assert verdict("Where is my order 55123?") is False


def test_a_number_argument_is_not_the_digits_of_an_identifier() -> None:
    refund = function(
        "refund",
        {
            "type": "object",
            "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
        },
    )

    def hints(text: str) -> dict[str, Any]:
        request = conversation({"role": "user", "content": text}, tools=[refund])
        return argument_hints(request, request.tools[0])

    assert hints("Refund order 8812 for 25.50.") == {"order_id": "8812", "amount": 25.5}
    assert hints("Order A-1023 costs 59.90.") == {"order_id": "A-1023", "amount": 59.9}
    user = {"user_id": {"type": "integer"}}
    request = conversation(
        {"role": "user", "content": "Look up user 42."},
        tools=[function("get_user", {"properties": user})],
    )
    assert argument_hints(request, request.tools[0]) == {"user_id": 42}  # a number id keeps it


def test_a_date_time_takes_the_time_given_after_its_day() -> None:
    moment = {"type": "string", "format": "date-time"}
    offered = function(
        "create_event", {"type": "object", "properties": {"start": moment, "end": moment}}
    )

    def hints(text: str) -> dict[str, Any]:
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0])

    assert hints("From May 1, 2024, 2pm until May 1, 2024 at 3:30 pm.") == {
        "start": "2024-05-01T14:00:00Z",
        "end": "2024-05-01T15:30:00Z",
    }
    assert hints("The party starts on 2025-07-01 at 18:30.") == {"start": "2025-07-01T18:30:00Z"}
    assert hints("On 2025-07-01 9 apples arrive.") == {"start": "2025-07-01T00:00:00Z"}


def test_a_list_of_things_is_read_past_their_articles() -> None:
    strings = {"type": "array", "items": {"type": "string"}}
    offered = function("order", {"properties": {"items": strings}})

    def items(text: str) -> object:
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0]).get("items")

    assert items("It has a keyboard and a mouse.") == ["keyboard", "mouse"]
    assert items("I bought an apple, a pear and some grapes.") == ["apple", "pear", "grapes"]
    assert items("Tom likes chess and hiking.") == ["chess", "hiking"]


def test_a_place_argument_is_the_place_named_before_when_the_message_names_none() -> None:
    population = tool("get_population", "Get the population of a city.", city=1)
    request = conversation(
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "It is sunny in Paris."},
        {"role": "user", "content": "What about Rome?"},
        {"role": "assistant", "content": "It is sunny in Rome."},
        {"role": "user", "content": "And how many people live there?"},
        tools=[population],
    )
    assert choose_tool(request, 0) == "get_population"
    assert argument_hints(request, request.tools[0]) == {"city": "Rome"}


def test_an_event_s_name_and_day_are_the_ones_the_message_gives() -> None:
    text = {"type": "string"}
    strings = {"type": "array", "items": text}
    properties = {"name": text, "title": text, "date": text, "participants": strings}
    offered = function("CalendarEvent", {"properties": properties})

    def hints(text: str) -> dict[str, Any]:
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0])

    assert hints("Alice and Bob are going to a science fair on Friday.") == {
        "name": "Science Fair",
        "title": "Science Fair",
        "date": "Friday",
        "participants": ["Alice", "Bob"],
    }
    assert hints("Schedule the quarterly review on May 1, 2024.") == {
        "name": "Quarterly Review",
        "title": "Quarterly Review",
        "date": "2024-05-01",
    }
    assert hints("Bob is 25.")["name"] == "Bob"  # a person's name where one is spoken of


def test_the_things_a_message_counts_fill_items_of_a_model_type() -> None:
    line = {
        "type": "object",
        "properties": {"product": {"type": "string"}, "quantity": {"type": "integer"}},
        "required": ["product", "quantity"],
    }
    lines = {"type": "array", "items": {"$ref": "#/$defs/LineItem"}}
    offered = function("place_order", {"$defs": {"LineItem": line}, "properties": {"items": lines}})
    request = conversation({"role": "user", "content": "2 notebooks and 3 pens."}, tools=[offered])
    found = argument_hints(request, request.tools[0])["items"]
    assert list(found) == [
        {"product": "notebooks", "quantity": 2},
        {"product": "pens", "quantity": 3},
    ]


def test_a_query_is_what_the_message_says_to_search_for() -> None:
    def query(text: str) -> object:
        request = conversation({"role": "user", "content": text}, tools=[tool("search", query=1)])
        return argument_hints(request, request.tools[0]).get("query")

    asked = "What is the weather in Toronto? Also search for who won the super bowl."
    assert query(asked) == "who won the super bowl"
    assert query("Who won the world cup in 2022?") == "Who won the world cup in 2022?"


def test_a_handoff_s_reason_is_what_the_message_asks() -> None:
    offered = tool("transfer_to_escalation_agent", "Handoff to the Escalation agent.", reason=1)
    text = "I want to talk to a human now!"
    request = conversation({"role": "user", "content": text}, tools=[offered])
    assert choose_tool(request, 0) == "transfer_to_escalation_agent"
    assert argument_hints(request, request.tools[0]) == {"reason": text}


def test_a_calculation_asked_in_words_is_written_as_arithmetic() -> None:
    calculator = tool("calculator", "Evaluate an arithmetic expression.", expression=1)

    def expression(text: str) -> object:
        request = conversation({"role": "user", "content": text}, tools=[calculator])
        return argument_hints(request, request.tools[0]).get("expression")

    assert expression("Add 3 and 4.") == "3 + 4"
    assert expression("Subtract 3 from 10.") == "10 - 3"
    assert expression("Multiply 23 by 19") == "23 * 19"
    assert expression("What is the sum of 12 and 30?") == "12 + 30"


def test_a_number_argument_takes_a_number_written_with_its_unit() -> None:
    offered = function("set_thermostat", {"properties": {"temperature": {"type": "number"}}})

    def temperature(text: str) -> object:
        request = conversation({"role": "user", "content": text}, tools=[offered])
        return argument_hints(request, request.tools[0]).get("temperature")

    assert temperature("Set it to 21C.") == 21
    assert temperature("Set it to 21.5C, please.") == 21.5
    assert temperature("Do it at 3pm on the 2nd.") is None  # a time, a day: no amounts


def _offered(name: str, **properties: dict[str, Any]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties}
    return function(name, parameters)


def test_cities_named_in_lower_case_are_places() -> None:
    """instructor's "What's the weather in toronto and dallas?": a city argument is called
    for each, a list of cities holds both, written as places are; a word that is no city
    ("in metric") is none."""
    asked = {"role": "user", "content": "What's the weather in toronto and dallas?"}
    one = conversation(asked, tools=[_offered("get_weather", city={"type": "string"})])
    assert hints_per_place(one, one.tools[0]) == [{"city": "Toronto"}, {"city": "Dallas"}]
    cities = {"type": "array", "items": {"type": "string"}}
    listed = conversation(asked, tools=[_offered("get_weather", cities=cities)])
    assert argument_hints(listed, listed.tools[0]) == {"cities": ["Toronto", "Dallas"]}
    alone = conversation(
        {"role": "user", "content": "how warm is it in new york right now"},
        tools=[_offered("get_weather", city={"type": "string"})],
    )
    assert argument_hints(alone, alone.tools[0]) == {"city": "New York"}
    none = conversation(
        {"role": "user", "content": "show it in metric please, at center court or at nice spots"},
        tools=[_offered("get_weather", city={"type": "string"})],
    )
    assert argument_hints(none, none.tools[0]) == {}


def test_each_place_gets_the_value_of_an_enum_named_after_it() -> None:
    units = {"type": "string", "enum": ["metric", "imperial"]}
    weather = _offered("get_weather", city={"type": "string"}, units=units)
    for text in (
        "What's the weather in Toronto in metric and Dallas in imperial?",
        "weather for toronto in metric and dallas in imperial",
    ):
        request = conversation({"role": "user", "content": text}, tools=[weather])
        assert hints_per_place(request, request.tools[0]) == [
            {"city": "Toronto", "units": "metric"},
            {"city": "Dallas", "units": "imperial"},
        ]


def test_a_time_said_relative_to_now_counts_from_the_request_s_time() -> None:
    at = dt.datetime(2026, 12, 7, 15, 30, tzinfo=dt.UTC).timestamp()  # a Monday
    moment = {"type": "string", "format": "date-time"}

    def hints(text: str, **properties: dict[str, Any]) -> dict[str, object]:
        request = conversation(
            {"role": "user", "content": text}, tools=[_offered("remind", **properties)]
        )
        token = REQUEST_TIME.set(at)
        try:
            return argument_hints(request, request.tools[0])
        finally:
            REQUEST_TIME.reset(token)

    assert hints("Remind me tomorrow at 9am to call Bob", when=moment) == {
        "when": "2026-12-08T09:00:00Z"
    }
    assert hints("Remind me tomorrow at 9am", time={"type": "string"}) == {
        "time": "2026-12-08T09:00:00"
    }
    assert hints("next Monday", datetime=moment) == {"datetime": "2026-12-14T00:00:00Z"}
    assert hints("next Monday", when={"type": "string"}) == {"when": "2026-12-14"}
    assert hints("the day after tomorrow", datetime=moment) == {"datetime": "2026-12-09T00:00:00Z"}
    assert hints("Follow up next week at 10:30", when=moment) == {"when": "2026-12-14T10:30:00Z"}
    assert hints("Ping me in 2 hours", when=moment) == {"when": "2026-12-07T17:30:00Z"}
    assert hints("Dinner tonight at 8", when=moment) == {"when": "2026-12-07T20:00:00Z"}
    assert hints("Dinner tonight at 8", date={"type": "string", "format": "date"}) == {
        "date": "2026-12-07"
    }
    # a weekday alone stays one for a day's string; a date it is for a date-time
    assert hints("Call mom on Friday at 6pm", date={"type": "string"}) == {"date": "Friday"}
    assert hints("Call mom on Friday at 6pm", when=moment) == {"when": "2026-12-11T18:00:00Z"}


def test_an_event_a_sentence_opens_with_is_named_by_it() -> None:
    event = _offered("create_event", title={"type": "string"}, date={"type": "string"})
    request = conversation(
        {"role": "user", "content": "The launch party starts at 7pm on Friday"}, tools=[event]
    )
    assert argument_hints(request, request.tools[0]) == {"title": "Launch Party", "date": "Friday"}


def test_a_frozen_clock_gives_the_same_moment_for_tomorrow() -> None:
    """Under --freeze-time "tomorrow" is the day after the frozen time (2026-12-07 23:50
    UTC), whatever the day the server runs on, and two servers answer alike."""
    from mockllm.config import ServerConfig
    from mockllm.engine import Answer, Engine
    from tests.factories import make_chat_request

    remind = _offered("remind", when={"type": "string", "format": "date-time"})
    asked = {"role": "user", "content": "Remind me tomorrow at 9am to call Bob"}

    def arguments() -> str:
        engine = Engine(ServerConfig(freeze_time=1796687400))
        outcome = engine.handle(
            make_chat_request(messages=[asked], tools=[remind], tool_choice="required")
        )
        assert isinstance(outcome, Answer)
        return outcome.rendered.choices[0].tool_calls[0].arguments

    assert arguments() == arguments() == '{"when":"2026-12-08T09:00:00Z"}'


def test_a_reminder_s_text_is_what_the_message_asks_to_be_reminded_of() -> None:
    """Without the time it is due ("Remind me tomorrow at 9am to call Bob" -> "Call Bob"),
    for a reminder's tool; another tool's text is read as before."""
    remind = tool("set_reminder", "Set a reminder.", text=1, title=1)
    for asked, what in (
        ("Remind me tomorrow at 9am to call Bob", "Call Bob"),
        ("Remind me to call Bob tomorrow at 9am.", "Call Bob"),
        ("Remind me in 2 hours to stretch", "Stretch"),
        ("remind me next monday at 10am about the launch party", "The launch party"),
    ):
        request = conversation({"role": "user", "content": asked}, tools=[remind])
        assert argument_hints(request, request.tools[0]) == {"text": what, "title": what}
    said = "Remind me: translate 'good morning' to French"
    translate = conversation(
        {"role": "user", "content": said}, tools=[tool("translate", "Translate a text.", text=1)]
    )
    assert argument_hints(translate, translate.tools[0]) == {"text": "good morning"}
