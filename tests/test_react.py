"""Text agents (ReAct prompts): the next step until observations are back, then the final
answer under the prompt's own word for it."""

from __future__ import annotations

import json
import random

from mockllm.react import react_answer
from tests.factories import make_chat_request

CHAIN_PROMPT = """Answer the question as well as you can, with these tools:

get_weather: The current weather in a city.
calculator: Works out arithmetic.

Use this format:

Question: the question to answer
Thought: what to do next
Action: the action to take, one of [get_weather, calculator]
Action Input: the input to the action
Observation: what the action returned
... (Thought/Action/Action Input/Observation may repeat)
Thought: I now know the final answer
Final Answer: the final answer to the question

Begin!

Question: What is the weather in Paris?
Thought:"""

WEATHER_ARGS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
INDEX_SYSTEM = "\n".join(
    [
        "You answer questions with the tools below.",
        "",
        "## Tools",
        "> Tool Name: multiply",
        "Tool Description: Multiplies two numbers.",
        'Tool Args: {"type": "object", "properties": {"a": {"type": "integer"}}}',
        "",
        "> Tool Name: get_weather",
        "Tool Description: The current weather for a city.",
        f"Tool Args: {json.dumps(WEATHER_ARGS)}",
        "",
        "## Output Format",
        "Thought: what you think",
        "Action: tool name (one of multiply, get_weather) if using a tool.",
        "Action Input: the input to the tool, in a JSON format representing the kwargs "
        '(e.g. {"input": "hello world", "num_beams": 5})',
        "",
        "Then the tool answers with:",
        "Observation: tool response",
        "",
        "When you have enough information:",
        "Thought: I can answer without using any more tools.",
        "Answer: [your answer here]",
    ]
)


def answer(*messages: dict[str, str]) -> str | None:
    request = make_chat_request(messages=list(messages))
    return react_answer(request, random.Random(1), "en_US")


def test_a_single_prompt_agent_acts_then_answers_under_final_answer():
    step = answer({"role": "user", "content": CHAIN_PROMPT})
    assert step == (
        "Thought: I need to use a tool to help me answer the question.\n"
        "Action: get_weather\nAction Input: Paris"
    )
    done = answer(
        {
            "role": "user",
            "content": CHAIN_PROMPT
            + " I need the weather.\nAction: get_weather\nAction Input: Paris\n"
            "Observation: 18C and sunny\nThought:",
        }
    )
    assert (
        done == "Thought: I can answer without using any more tools.\nFinal Answer: 18C and sunny"
    )


def test_a_chat_agent_acts_with_json_arguments_then_answers():
    ask = {"role": "user", "content": "What is the weather in Paris?"}
    step = answer({"role": "system", "content": INDEX_SYSTEM}, ask)
    assert step is not None
    head, _, given = step.partition("\nAction Input: ")
    assert head.endswith("Action: get_weather")
    assert json.loads(given) == {"city": "Paris"}
    done = answer(
        {"role": "system", "content": INDEX_SYSTEM},
        ask,
        {"role": "assistant", "content": step},
        {"role": "user", "content": "Observation: 18C and sunny"},
    )
    assert done == "Thought: I can answer without using any more tools.\nAnswer: 18C and sunny"


def test_other_prompts_are_not_react_and_draw_nothing():
    rng = random.Random(1)
    state = rng.getstate()
    request = make_chat_request(messages=[{"role": "user", "content": 'Return JSON like {"a": 1}'}])
    assert react_answer(request, rng, "en_US") is None
    assert rng.getstate() == state


def test_a_question_no_tool_relates_to_is_answered_at_once():
    prompt = CHAIN_PROMPT.replace("What is the weather in Paris?", "Tell me a joke.")
    step = answer({"role": "user", "content": prompt})
    assert step is not None
    assert step.startswith("Thought: I can answer without using any more tools.\nFinal Answer: ")


def test_each_tool_the_question_names_acts_before_the_final_answer():
    prompt = CHAIN_PROMPT.replace(
        "What is the weather in Paris?", "What is the weather in Oslo and what is 12*12?"
    )
    steps = []
    scratch = prompt
    for observed in ("first", "second"):
        step = answer({"role": "user", "content": scratch})
        assert step is not None and "\nAction: " in step
        steps.append(step.split("\nAction: ", 1)[1])
        scratch = f"{scratch} {step}\nObservation: {observed}\nThought:"
    assert sorted(steps) == ["calculator\nAction Input: 12*12", "get_weather\nAction Input: Oslo"]
    done = answer({"role": "user", "content": scratch})
    assert done == "Thought: I can answer without using any more tools.\nFinal Answer: first second"


def test_a_conversational_agent_asks_under_new_input():
    prompt = CHAIN_PROMPT.replace("Question: What is the weather in Paris?", "").replace(
        "Begin!", "Previous conversation history:\n\nNew input: What is the weather in Paris?"
    )
    step = answer({"role": "user", "content": prompt})
    assert step is not None and step.endswith("Action: get_weather\nAction Input: Paris")


SEARCH_PROMPT = """Answer the following questions as best you can. You have access to the following tools:

tavily_search_results_json: A search engine optimized for comprehensive, accurate, and trusted results. Useful for when you need to answer questions about current events. Input should be a search query.

Use the following format:

Question: the input question you must answer
Thought: you should always think about what to do
Action: the action to take, should be one of [tavily_search_results_json]
Action Input: the input to the action
Observation: the result of the action
... (this Thought/Action/Action Input/Observation can repeat N times)
Thought: I now know the final answer
Final Answer: the final answer to the original input question

Begin!

Question: {question}
Thought:"""  # noqa: E501  (LangChain hub's hwchase17/react, with a search tool)


def test_a_question_no_tool_relates_to_is_looked_up_with_the_search_tool():
    """LangChain's ReAct demo: "what is LangChain?" with a search tool searches it, then
    answers with what it found; small talk is answered at once."""
    asked = SEARCH_PROMPT.replace("{question}", "Who won the world cup in 2022?")
    step = answer({"role": "user", "content": asked})
    assert step == (
        "Thought: I need to use a tool to help me answer the question.\n"
        "Action: tavily_search_results_json\nAction Input: Who won the world cup in 2022?"
    )
    seen = " I should search.\nAction: tavily_search_results_json\nAction Input: Who won"
    done = answer({"role": "user", "content": asked + seen + "\nObservation: Argentina.\nThought:"})
    assert done == "Thought: I can answer without using any more tools.\nFinal Answer: Argentina."
    small = answer({"role": "user", "content": SEARCH_PROMPT.replace("{question}", "hi there")})
    assert small is not None and "Final Answer: " in small


def test_a_tool_the_question_names_only_by_a_shared_word_does_not_act_again():
    """translate_to_french shares "translate" with translate_to_spanish: once the Spanish one
    has answered "Translate 'good morning' to Spanish.", the final answer comes."""
    prompt = (
        CHAIN_PROMPT.replace(
            "get_weather: The current weather in a city.\ncalculator: Works out arithmetic.",
            "translate_to_spanish: Translates to Spanish.\n"
            "translate_to_french: Translates to French.",
        )
        .replace("[get_weather, calculator]", "[translate_to_spanish, translate_to_french]")
        .replace("What is the weather in Paris?", "Translate 'good morning' to Spanish.")
    )
    step = answer({"role": "user", "content": prompt})
    assert step is not None and "\nAction: translate_to_spanish\n" in step
    scratch = f"{prompt} {step}\nObservation: buenos días\nThought:"
    done = answer({"role": "user", "content": scratch})
    assert done == "Thought: I can answer without using any more tools.\nFinal Answer: buenos días"
