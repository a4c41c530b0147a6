"""The default generator's answer once this turn's tool results are back."""

from __future__ import annotations

from mockllm.tool_policy import is_final_tool
from mockllm.tool_results import answer_hints, found_answer, results_answer, unavailable_answer
from tests.tool_requests import ASK, FINAL, WEATHER, call, conversation


def test_results_answer_in_the_prompt_language() -> None:
    back = conversation(
        {"role": "user", "content": "北京天气怎么样？"},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "晴，25度"},
        tools=[WEATHER],
    )
    assert results_answer(back, "zh_CN") == "根据查询结果，get_weather 返回：晴，25度。"


def test_a_handoffs_result_is_left_out_of_the_answer() -> None:
    handed = conversation(
        ASK,
        {"role": "assistant", "content": None, "tool_calls": [call("transfer_to_weather", "h1")]},
        {"role": "tool", "tool_call_id": "h1", "content": '{"assistant": "Weather agent"}'},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        tools=[WEATHER],
    )
    assert results_answer(handed, "en_US") == "Here is what I found. get_weather returned: 18C."


def test_a_final_answer_tool_carries_what_the_results_said() -> None:
    asked = {"role": "user", "content": "What is the weather in Paris?"}
    back = conversation(
        asked,
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "Sunny, 21C"},
        tools=[WEATHER, FINAL],
    )
    schema = back.tool("final_result").parameters
    said = "Here is what I found. get_weather returned: Sunny, 21C."
    assert answer_hints(back, schema, "en_US") == {"answer": said}
    # Before any result: nothing. A number property takes the number the result gives.
    before = conversation(asked, tools=[WEATHER, FINAL])
    assert answer_hints(before, schema, "en_US") == {}
    numbers = {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert answer_hints(back, numbers, "en_US") == {"n": 21}
    # Any required string for a tool; only an answer-named one for a structured output.
    submit = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
    }
    assert answer_hints(back, submit, "en_US") == {"title": said}
    assert answer_hints(back, submit, "en_US", any_required=False) == {}
    # A structured output's prose about what was found (`advice`, `conditions`).
    prose = {"type": "object", "properties": {"advice": {"type": "string"}}}
    assert answer_hints(back, prose, "en_US", any_required=False) == {"advice": said}
    # Not a string the message gives a value for (pydantic-ai's Weather: city, conditions).
    weather = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "conditions": {"type": "string"}},
        "required": ["city", "conditions"],
    }
    assert answer_hints(back, weather, "en_US") == {"conditions": said}
    assert is_final_tool(back.tool("final_result")) and not is_final_tool(back.tool("get_weather"))


def test_a_result_object_is_reported_by_what_its_values_say() -> None:
    said = "Here is what I found. get_weather returned: "
    report = '{"status": "success", "report": "It is 18C and sunny."}'
    assert found_answer([("get_weather", report)], "en_US") == said + "It is 18C and sunny."
    pairs = "{'temperature': 18, 'conditions': 'sunny', 'error': None}"  # a dict's repr
    assert found_answer([("get_weather", pairs)], "en_US") == (
        said + "temperature 18, conditions sunny."
    )
    nested = '{"a": ' * 5000 + "1" + "}" * 5000  # deeper than the parsers go: quoted
    assert found_answer([("get_weather", nested)], "en_US").startswith(said + '{"a": {"a":')
    for text in ('{"status": "success"}', "{not an object}", "[1, 2]", "{[1]: 2}"):
        assert found_answer([("get_weather", text)], "en_US") == said + text + "."


def test_only_a_result_that_reports_a_failure_is_answered_as_one() -> None:
    said = found_answer(
        [
            ("grep_logs", "Errors are rare in this log."),
            ("status", '{"error": null, "report": "All systems up."}'),
        ],
        "en_US",
    )
    assert said == (
        "Here is what I found. grep_logs returned: Errors are rare in this log. "
        "status returned: All systems up."
    )
    assert found_answer([("lookup", "Exception: timed out")], "zh_CN") == (
        "查询没有成功。lookup 出错：timed out。"
    )


def test_results_and_failures_are_reported_in_every_language_of_the_generator() -> None:
    """Each language the generator writes in has its own words for what a tool returned
    and for a call that failed (a server tool this server cannot run among them)."""
    results = [("get_weather", "18C")]
    assert found_answer(results, "es_ES") == "Esto es lo que encontré. get_weather devolvió: 18C."
    assert found_answer(results, "de_DE") == "Das habe ich gefunden. get_weather lieferte: 18C."
    assert found_answer(results, "pt_BR") == "Aqui está o que encontrei. get_weather retornou: 18C."
    assert unavailable_answer(["web_search"], "nl_NL") == (
        "Dat kon ik niet ophalen. web_search mislukte: unavailable."
    )
    assert unavailable_answer(["web_search"], "fr_FR") == (
        "Je n'ai pas pu l'obtenir. web_search a échoué : unavailable."
    )
    assert unavailable_answer(["web_search"], "ru_RU") == (
        "Не удалось это получить. web_search завершился с ошибкой: unavailable."
    )
    locales = "es_ES fr_FR de_DE it_IT pl_PL cs_CZ da_DK vi_VN ru_RU uk_UA ar_AA fa_IR".split()
    locales += "he_IL el_GR th_TH zh_CN ja_JP ko_KR pt_BR nl_NL".split()
    english = found_answer(results, "en_US")
    said = {found_answer(results, locale) for locale in locales}
    assert english not in said and len(said) == len(locales)


def test_a_structured_answer_reads_the_results_of_tools_no_longer_offered() -> None:
    """A structured output asked for alone after the loop (Strands' `structured_output`
    offers the schema's tool and no other): what get_weather found fills it."""
    weather = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temperature_c": {"type": "integer"}},
        "required": ["city", "temperature_c"],
    }
    offered = {"type": "function", "function": {"name": "Weather", "parameters": weather}}
    request = conversation(
        {"role": "user", "content": "What is the weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "It is 18C and sunny in Oslo."},
        tools=[offered],
    )
    assert answer_hints(request, weather, "en_US") == {"temperature_c": 18}
