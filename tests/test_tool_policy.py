"""The default generator's tool policy: which tool it calls, or none, and when."""

from __future__ import annotations

from typing import Any

from mockllm.conversation import Tool
from mockllm.prompt_reading import relatedness
from mockllm.tool_arguments import (
    argument_hints,
)
from mockllm.tool_policy import choose_tool, choose_tools, look_up_tool, search_tool
from mockllm.tool_results import results_answer
from tests.factories import make_responses_request
from tests.tool_requests import ASK, FINAL, TIME, WEATHER, call, conversation, tool


def test_auto_calls_the_related_tool_then_answers_with_the_result() -> None:
    first = conversation(ASK, tools=[TIME, WEATHER])
    assert choose_tool(first, seed=1) == "get_weather"
    assert choose_tool(conversation(ASK, tools=[TIME, WEATHER], tool_choice="auto"), 1)
    back = conversation(
        ASK,
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C and sunny"},
        tools=[TIME, WEATHER],
    )
    assert choose_tool(back, seed=1) is None
    answer = results_answer(back, "en_US")
    assert answer == "Here is what I found. get_weather returned: 18C and sunny."


def test_auto_answers_in_text_when_no_tool_relates() -> None:
    chat = conversation({"role": "user", "content": "Tell me a joke."}, tools=[TIME, WEATHER])
    assert choose_tool(chat, seed=1) is None
    assert relatedness("Tell me a joke.", chat.tools[0]) == 0


def test_required_moves_on_to_a_tool_not_yet_called() -> None:
    first = conversation(ASK, tools=[WEATHER, FINAL], tool_choice="required")
    assert choose_tool(first, seed=3) == "get_weather"
    back = conversation(
        ASK,
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        tools=[WEATHER, FINAL],
        tool_choice="required",
    )
    assert choose_tool(back, seed=3) == "final_result"


def test_required_with_nothing_related_ends_through_the_output_tool() -> None:
    for seed in range(20):
        joke = conversation(
            {"role": "user", "content": "Tell me a joke."},
            tools=[TIME, WEATHER, FINAL],
            tool_choice="required",
        )
        assert choose_tool(joke, seed) == "final_result"


def test_required_ends_through_the_tool_named_for_the_answer_before_a_search() -> None:
    """A search tool "returns the top results" (a word of answering): final_answer, named for
    it, ends the loop instead."""
    search = tool("web_search", "Search the web and return the top results.", query=1)
    final = tool("final_answer", "Provides a final answer to the given problem.", answer=1)
    for seed in range(20):
        joke = conversation(
            {"role": "user", "content": "Tell me a joke."},
            tools=[WEATHER, search, final],
            tool_choice="required",
        )
        assert choose_tool(joke, seed) == "final_answer"


def test_allowed_tools_and_named_choices_are_kept() -> None:
    named = conversation(
        ASK,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert choose_tool(named, 1) == "get_time"
    none = conversation(ASK, tools=[WEATHER], tool_choice="none")
    assert choose_tool(none, 1) is None


def test_ties_are_broken_by_the_seed_and_repeat() -> None:
    a, b = tool("lookup_a", "lookup"), tool("lookup_b", "lookup")
    ask = {"role": "user", "content": "Do a lookup."}
    picks = {choose_tool(conversation(ask, tools=[a, b]), seed) for seed in range(40)}
    assert picks == {"lookup_a", "lookup_b"}
    assert choose_tool(conversation(ask, tools=[a, b]), 7) == choose_tool(
        conversation(ask, tools=[a, b]), 7
    )


TWO_CITIES = {"role": "user", "content": "What time is it in Tokyo, and the weather in Oslo?"}


LOCAL_TIME = tool("get_time", "Local time in a city.", city=1)


def test_every_tool_the_message_names_is_called_in_one_turn() -> None:
    both = conversation(TWO_CITIES, tools=[WEATHER, LOCAL_TIME, FINAL])
    assert sorted(choose_tools(both, seed=1)) == ["get_time", "get_weather"]
    # one call when parallel calls are off, the tool is named, or the message names one
    single = conversation(TWO_CITIES, tools=[WEATHER, LOCAL_TIME], parallel_tool_calls=False)
    assert len(choose_tools(single, seed=1)) == 1
    named = {"type": "function", "function": {"name": "get_time"}}
    assert choose_tools(
        conversation(TWO_CITIES, tools=[WEATHER, LOCAL_TIME], tool_choice=named), 1
    ) == ("get_time",)
    assert choose_tools(conversation(ASK, tools=[WEATHER, LOCAL_TIME]), 1) == ("get_weather",)
    # each call reads the place named after its own word
    tools = {t.name: t for t in both.tools}
    assert argument_hints(both, tools["get_weather"]) == {"city": "Oslo"}
    assert argument_hints(both, tools["get_time"]) == {"city": "Tokyo"}
    # once the results are back, the answer is text
    back = conversation(
        TWO_CITIES,
        {"role": "assistant", "tool_calls": [call("get_time", "c1"), call("get_weather", "c2")]},
        {"role": "tool", "tool_call_id": "c1", "content": "21:00"},
        {"role": "tool", "tool_call_id": "c2", "content": "4C, snow"},
        tools=[WEATHER, LOCAL_TIME],
    )
    assert choose_tools(back, seed=1) == ()


def test_after_a_handoff_the_new_agent_calls_its_own_tool() -> None:
    """The transfer tool's result (a tool no longer offered) is not this agent's result:
    it calls its own tool, as the Agents SDK's billing agent should after triage."""
    invoice = tool("lookup_invoice", "Look up an invoice by its number.", invoice_id=1)
    ask = {"role": "user", "content": "I have a question about my invoice INV-123 billing"}
    handed = conversation(
        ask,
        {"role": "assistant", "content": None, "tool_calls": [call("transfer_to_billing", "h1")]},
        {"role": "tool", "tool_call_id": "h1", "content": '{"assistant": "Billing agent"}'},
        tools=[invoice],
    )
    assert choose_tool(handed, seed=1) == "lookup_invoice"
    done = conversation(
        ask,
        {"role": "assistant", "content": None, "tool_calls": [call("transfer_to_billing", "h1")]},
        {"role": "tool", "tool_call_id": "h1", "content": '{"assistant": "Billing agent"}'},
        {"role": "assistant", "content": None, "tool_calls": [call("lookup_invoice", "c2")]},
        {"role": "tool", "tool_call_id": "c2", "content": "INV-123: paid"},
        tools=[invoice],
    )
    assert choose_tool(done, seed=1) is None


def test_a_short_follow_up_asks_the_last_tool_again() -> None:
    """ "And in Rome?" after a weather question: the same tool, for the new place."""
    follow_up = conversation(
        ASK,
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "assistant", "content": "It is 18C in Paris."},
        {"role": "user", "content": "And in Rome?"},
        tools=[TIME, WEATHER],
    )
    assert choose_tool(follow_up, seed=1) == "get_weather"
    assert argument_hints(follow_up, follow_up.tools[1]) == {"city": "Rome"}
    idle = conversation(*follow_up.body["messages"][:-1], {"role": "user", "content": "thanks!"})
    assert choose_tool(idle, seed=1) is None


def test_one_call_at_a_time_calls_each_tool_the_message_names() -> None:
    ask = {"role": "user", "content": "What is the weather in Oslo and the time in Tokyo?"}
    first = conversation(ask, tools=[WEATHER, TIME], parallel_tool_calls=False)
    assert choose_tools(first, seed=1) == ("get_weather",)
    after = conversation(
        ask,
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "4C"},
        tools=[WEATHER, TIME],
        parallel_tool_calls=False,
    )
    assert choose_tools(after, seed=1) == ("get_time",)
    done = conversation(
        *after.body["messages"],
        {"role": "assistant", "content": None, "tool_calls": [call("get_time", "c2")]},
        {"role": "tool", "tool_call_id": "c2", "content": "21:00"},
        tools=[WEATHER, TIME],
        parallel_tool_calls=False,
    )
    assert choose_tools(done, seed=1) == ()


def test_arithmetic_asks_for_the_tools_that_calculate() -> None:
    add = tool("add", "Add two integers.", a=1, b=1)
    multiply = tool("multiply", "Multiply two integers.", a=1, b=1)
    both = conversation(
        {"role": "user", "content": "What is 3 * 12? Also, what is 11 + 49?"},
        tools=[add, multiply, WEATHER],
    )
    assert set(choose_tools(both, seed=1)) == {"add", "multiply"}
    calculator = tool("calculator", "Evaluates arithmetic.", expression=1)
    times = conversation(
        {"role": "user", "content": "What is 7 times 6?"}, tools=[calculator, WEATHER]
    )
    assert choose_tool(times, seed=1) == "calculator"


def test_a_structured_output_tool_comes_after_the_tools_that_find_things() -> None:
    """LangChain's ToolStrategy offers the answer's schema as a tool named after its class
    (`Weather`): the real tool is called first, and not in parallel with it; then the
    output tool, not a tool the message does not ask for. LangChain.js names the tool of a
    schema with no title `extract-1`."""
    report = tool("Weather", "A weather report.", city=1)
    asked = conversation(ASK, tools=[WEATHER, report], tool_choice="required")
    assert choose_tools(asked, seed=1) == ("get_weather",)
    turn = (
        ASK,
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    )
    after = conversation(*turn, tools=[WEATHER, report], tool_choice="required")
    assert choose_tools(after, seed=1) == ("Weather",)
    extract = tool("extract-1", "Tool for extracting structured output.", city=1)
    for output in (report, extract):
        later = conversation(*turn, tools=[WEATHER, TIME, output], tool_choice="required")
        name = output["function"]["name"]
        assert {choose_tools(later, seed=seed) for seed in range(4)} == {(name,)}


def test_of_several_answering_tools_the_one_the_message_fills_is_called() -> None:
    def output(tool_name: str, properties: dict[str, str]) -> dict[str, Any]:
        schema = {"type": "object", "properties": {k: {"type": v} for k, v in properties.items()}}
        description = "The final response which ends this conversation"
        function = {"name": tool_name, "description": description, "parameters": schema}
        return {"type": "function", "function": function}

    person = output("final_result_Person", {"name": "string", "age": "integer"})
    address = output("final_result_Address", {"street": "string", "city": "string"})
    for text, expected in (
        ("Extract the person: Alice, 30", "final_result_Person"),
        ("Name: Carol; age 51", "final_result_Person"),
        ("The office is at 221B Baker Street, London.", "final_result_Address"),
        ("Ship it to 10 Downing Street, London please", "final_result_Address"),
    ):
        for seed in range(8):  # not the seed's choice
            request = conversation(
                {"role": "user", "content": text}, tools=[person, address], tool_choice="required"
            )
            assert choose_tool(request, seed) == expected, (text, seed)


SEARCH = tool(
    "tavily_search_results_json",
    "A search engine optimized for comprehensive, accurate, and trusted results. Useful for "
    "when you need to answer questions about current events. Input should be a search query.",
    query=1,
)


WIKIPEDIA = tool("wikipedia", "A wrapper around Wikipedia.", q=1)


def test_a_question_no_tool_relates_to_is_looked_up_with_a_search_tool() -> None:
    """A model asked something it can look up calls the search tool it has, though the
    question shares no word with it; not for small talk or a request to do something, nor
    when a tool relates by its words, and once the results are back it answers."""
    for question in (
        "Who won the world cup in 2022?",
        "what is the capital of france",
        "Wer hat die Weltmeisterschaft 2022 gewonnen?",
    ):
        asked = {"role": "user", "content": question}
        assert choose_tools(conversation(asked, tools=[WEATHER, SEARCH]), 1) == (
            "tavily_search_results_json",
        )
        assert choose_tool(conversation(asked, tools=[WIKIPEDIA]), 1) == "wikipedia"
    for other in ("How are you?", "hi", "Tell me a joke about cats", "Summarize our chat."):
        said = {"role": "user", "content": other}
        assert choose_tool(conversation(said, tools=[SEARCH]), 1) is None, other
    # a lookup of one record by its id is no search
    order = tool("lookup_order", "Look up the status of an order by its id.", order_id=1)
    asked = {"role": "user", "content": "Who won the world cup in 2022?"}
    assert choose_tool(conversation(asked, tools=[order]), 1) is None
    assert choose_tool(conversation(ASK, tools=[SEARCH, WEATHER]), 1) == "get_weather"
    question = "Who won the world cup in 2022?"
    built_in = make_responses_request(input=question, tools=[{"type": "web_search"}])
    assert choose_tool(built_in, 1) == "web_search"  # it fails, and the answer says so
    function = {"type": "function", **SEARCH["function"]}
    both = make_responses_request(input=question, tools=[{"type": "web_search"}, function])
    assert choose_tool(both, 1) == "tavily_search_results_json"  # its own search first
    query = {"type": "object", "properties": {"query": {"type": "string"}}}
    claudes = Tool("web_search", "", query, server=True)
    tool_search = Tool("tool_search_tool_bm25", "", query, server=True)
    assert search_tool(question, [claudes]) is claudes
    assert search_tool(question, [tool_search]) is None  # it finds tools, not answers
    asked = {"role": "user", "content": "Who won the world cup in 2022?"}
    back = conversation(
        asked,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call(SEARCH["function"]["name"], "c1")],
        },  # fmt: skip
        {"role": "tool", "tool_call_id": "c1", "content": "Argentina won the 2022 World Cup."},
        tools=[SEARCH],
    )
    assert choose_tool(back, 1) is None
    assert results_answer(back, "en_US") == (
        "Here is what I found. tavily_search_results_json returned: Argentina won the 2022 "
        "World Cup."
    )


def test_a_message_about_a_tools_subject_in_other_words_calls_it() -> None:
    """ "Will it rain in Seattle?" is about the weather, "How is AAPL trading?" about a
    stock's price: a model calls those tools though the message has none of their words;
    their own words still count more, and an unrelated message calls nothing."""
    weather = tool("get_current_weather", "Get the current weather in a location", location=1)
    stock = tool("get_stock_price", "Get the current price of a stock by ticker", ticker=1)
    rates = tool("convert", "Convert an amount between currencies", amount=1)
    tools = [weather, stock, rates, TIME]
    for said, called in (
        ("Will it rain in Seattle tomorrow?", "get_current_weather"),
        ("Do I need an umbrella in London?", "get_current_weather"),
        ("How is AAPL trading today?", "get_stock_price"),
        ("How many euros is 100 dollars?", "convert"),
    ):
        asked = {"role": "user", "content": said}
        assert choose_tools(conversation(asked, tools=tools), 1) == (called,), said
    for said in ("Tell me a joke", "What is the capital of France?"):
        assert choose_tool(conversation({"role": "user", "content": said}, tools=tools), 1) is None
    # its own words first: the weather's time zone is the time tool's
    asked = {"role": "user", "content": "What time is it in the zone where it rains?"}
    assert choose_tool(conversation(asked, tools=tools), 1) == "get_time"


FETCH = {
    "type": "function",
    "function": {
        "name": "fetch",
        "description": "Fetches a URL from the internet and optionally extracts its contents.",
        "parameters": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "format": "uri"},
                "max_length": {"type": "integer"},
            },
            "required": ["url"],
        },
    },
}


def test_a_page_the_message_names_is_read_with_the_tool_that_takes_an_address() -> None:
    """ "Summarize https://…" with the MCP fetch server's tool: a model reads the page, its
    address the argument (of format uri), the address's digits no number of another."""
    asked = {"role": "user", "content": "Summarize https://example.com/blog/post-1."}
    request = conversation(asked, tools=[WEATHER, FETCH])
    assert choose_tools(request, 1) == ("fetch",)
    assert argument_hints(request, request.tools[1]) == {"url": "https://example.com/blog/post-1"}
    said = {"role": "user", "content": "Summarize our chat."}
    assert choose_tool(conversation(said, tools=[FETCH]), 1) is None
    # a ReAct prompt's tool reads its input as text: one described as reading a URL
    reads = Tool("requests_get", "Fetch the content of a URL.", {})
    assert look_up_tool("What does https://example.com say?", [reads]) == reads


def results_back(question: str, called: str, result: str) -> tuple[dict[str, Any], ...]:
    """A user's question, the call of a tool, and its result."""
    return (
        {"role": "user", "content": question},
        {"role": "assistant", "content": None, "tool_calls": [call(called, "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": result},
    )


def test_an_output_tool_follows_the_results_only_when_it_ends_the_turn() -> None:
    """With `auto`, once the results are back: the structured output's tool that says it
    comes last (Strands' `Weather`), or one the message relates to; not another tool named
    like a class."""
    last = tool("Weather", "Invoke as the last and final tool.", city=1)
    unrelated = tool("WebSearch", "Search the web.", query=1)
    messages = results_back("What is the weather in Oslo?", "get_weather", "18C and sunny")
    assert choose_tool(conversation(*messages, tools=[WEATHER, last, unrelated]), 0) == "Weather"
    assert choose_tool(conversation(*messages, tools=[WEATHER, unrelated]), 0) is None


def test_tools_named_like_classes_are_called_together_when_only_such_are_offered() -> None:
    """instructor's parallel tools (`Weather`, `GoogleSearch`) are each a model to fill;
    LangChain's structured output tool (`Weather` beside get_weather) is not called
    beside the tools it follows."""
    weather, search = tool("Weather", location=1), tool("GoogleSearch", query=1)
    asked = {"role": "user", "content": "What is the weather in Toronto? Search who won."}
    together = choose_tools(conversation(asked, tools=[weather, search]), 0)
    assert sorted(together) == ["GoogleSearch", "Weather"]
    assert choose_tools(conversation(asked, tools=[WEATHER, weather, search]), 0) == (
        "get_weather",
    )


def test_an_app_whose_tools_are_all_named_like_classes_ends_its_turn_in_text() -> None:
    """Claude Code's tools are all named like classes (`Agent`, `Bash`, `Read`), and an
    agent's description says it returns a final result: once the results were back, the
    turn went on with `Agent` instead of ending in text. A structured output's tool stands
    apart from the app's own tools (Strands' `Weather` beside get_weather)."""
    agent = tool("Agent", "Launch an agent; it returns its final result.", prompt=1)
    bash = tool("Bash", "Run a shell command and return its output.", command=1)
    messages = results_back("What is the capital of France?", "Bash", "Paris")
    assert choose_tool(conversation(*messages, tools=[agent, bash]), 0) is None


def test_a_triage_routes_by_the_cue_words_of_a_handoff_s_domain() -> None:
    """A message in other words than a handoff's domain ("charged" for billing, "crashes"
    for technical support, "plan" for sales, "tracking" for shipping) goes to that handoff;
    one about none of them to none."""
    handoffs = [
        tool("transfer_to_billing_agent", "Handles billing questions"),
        tool("transfer_to_tech_agent", "Technical support"),
        tool("transfer_to_sales_agent", "Sales questions"),
        tool("transfer_to_shipping_agent", "Shipping and delivery questions"),
    ]

    def routed(text: str) -> str | None:
        return choose_tool(conversation({"role": "user", "content": text}, tools=handoffs), 7)

    assert routed("I was charged twice for my subscription") == "transfer_to_billing_agent"
    assert routed("the app crashes when I log in") == "transfer_to_tech_agent"
    assert routed("Can I upgrade my plan?") == "transfer_to_sales_agent"
    assert routed("Where is my package? The tracking page is empty.") == (
        "transfer_to_shipping_agent"
    )
    assert routed("Tell me a joke") is None


def test_a_message_that_asks_to_be_reminded_calls_the_reminder_tool() -> None:
    """pydantic-ai's tools get_weather and set_reminder, asked "Remind me tomorrow at 9am to
    call Bob": "remind" is not a word of "set_reminder" as the words are read, so no tool
    related and the agent answered in text."""
    tools = [WEATHER, tool("set_reminder", "Set a reminder.", text=1, when=1)]
    asked = {"role": "user", "content": "Remind me tomorrow at 9am to call Bob"}
    assert choose_tool(conversation(asked, tools=tools), 3) == "set_reminder"
