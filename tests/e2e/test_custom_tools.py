"""Custom tools (free-form input, optionally held to a grammar) as the API answers them,
through the official SDK and raw httpx: on Chat Completions a call of one is a
`{"type": "custom", "custom": {"name", "input"}}` tool call (streamed as `custom.input`
pieces), on the Responses API a `custom_tool_call` item; a tool choice that forces one is
answered with a call of it, its input matching the tool's regular expression."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion_message_custom_tool_call import (
    ChatCompletionMessageCustomToolCall,
)
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
)
from openai.types.responses import Response, ResponseCustomToolCall, ResponseStreamEvent
from pydantic import TypeAdapter

from mockllm.cli import main
from tests.openai_schemas import check

from ..conftest import RunningServer, start_server
from .helpers import openai_sdk, sse_payloads, write_scenario

QUERY = "SELECT count(*) FROM users;"
JSON_INPUT = '{"a": 1,  "b": [2]}'  # a custom tool's input that reads as JSON: text all the same
RULES = f"""\
version: 1
rules:
  - name: count
    match: {{ last_user: {{ contains: "count the users" }}, last_message: {{ role: user }} }}
    reply:
      content: "Let me count them."
      tool_calls:
        - name: run_sql
          arguments: {json.dumps(QUERY)}
        - name: get_weather
          arguments: {{ city: Paris }}
  - name: counted
    match: {{ last_message: {{ role: tool, content: {{ contains: "42" }} }} }}
    reply: {{ content: "There are 42 users." }}
  - name: json-input
    match: {{ last_user: {{ contains: "json input" }} }}
    reply:
      tool_calls:
        - name: run_sql
          arguments: {json.dumps(JSON_INPUT)}
  - name: any-query
    match: {{ last_user: {{ contains: "any query" }} }}
    reply:
      tool_calls:
        - name: run_sql
          generate: from_schema
"""
SQL_GRAMMAR = r"SELECT (count\(\*\)|[a-z_]+) FROM [a-z_]+;"
CHAT_SQL: Any = {
    "type": "custom",
    "custom": {
        "name": "run_sql",
        "description": "Run one SQL query.",
        "format": {"type": "grammar", "grammar": {"syntax": "regex", "definition": SQL_GRAMMAR}},
    },
}
CHAT_WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
RESPONSES_SQL: Any = {
    "type": "custom",
    "name": "run_sql",
    "description": "Run one SQL query.",
    "format": {"type": "grammar", "syntax": "regex", "definition": SQL_GRAMMAR},
}
EVENTS = TypeAdapter(ResponseStreamEvent)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("custom-tools")
    rules = write_scenario(tmp, RULES)
    running = start_server("--scenarios", str(rules), "--freeze-time", "1700000000", tmp_path=tmp)
    yield running
    running.stop()


def _post(server: RunningServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}{path}", json=body, headers={"authorization": "Bearer x"}, timeout=10
    )


def _chunks(server: RunningServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = _post(server, "/chat/completions", {**body, "stream": True})
    assert raw.status_code == 200, raw.text
    payloads = sse_payloads(raw.content)
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


def _tool_deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for c in chunks for t in c["choices"][0]["delta"].get("tool_calls") or ()]


def _fits(text: str) -> bool:
    return re.fullmatch(SQL_GRAMMAR, text) is not None


# --- Chat Completions -------------------------------------------------------------------


def test_a_rules_call_of_a_custom_tool_is_a_custom_tool_call(server: RunningServer) -> None:
    body: Any = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Please count the users."}],
        "tools": [CHAT_SQL, CHAT_WEATHER],
    }
    raw = _post(server, "/chat/completions", body).json()
    check("CreateChatCompletionResponse", raw)
    message = raw["choices"][0]["message"]
    custom, function = message["tool_calls"]
    assert list(custom) == ["id", "type", "custom"] and custom["id"].startswith("call_")
    assert (custom["type"], custom["custom"]) == ("custom", {"name": "run_sql", "input": QUERY})
    assert function["type"] == "function" and function["function"]["name"] == "get_weather"

    sdk = openai_sdk(server)
    answer = sdk.chat.completions.create(**body)
    calls = answer.choices[0].message.tool_calls or []
    assert isinstance(calls[0], ChatCompletionMessageCustomToolCall)
    assert (calls[0].custom.name, calls[0].custom.input) == ("run_sql", QUERY)
    assert isinstance(calls[1], ChatCompletionMessageFunctionToolCall)
    # The client runs the query and sends the call back with its result.
    results: Any = [
        {"role": "tool", "tool_call_id": calls[1].id, "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "42"},
    ]
    again = sdk.chat.completions.create(
        **{
            **body,
            "messages": [
                *body["messages"],
                answer.choices[0].message.model_dump(exclude_none=True),
                *results,
            ],
        }
    )
    assert again.choices[0].message.content == "There are 42 users."


def test_a_streamed_custom_tool_call_sends_its_input_in_pieces(server: RunningServer) -> None:
    """The API streams a custom tool's call as it streams a function's: a delta that opens it
    (id, type, name, an empty input), then pieces of its input, under `custom` where a
    function's go under `function` (openai/openai-python#2530, openai/openai-openapi#576;
    pi's chat-completions client reads `custom.name` and appends `custom.input`)."""
    body: Any = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Please count the users."}],
        "tools": [CHAT_SQL, CHAT_WEATHER],
    }
    whole = ChatCompletion.model_validate(_post(server, "/chat/completions", body).json())
    called = whole.choices[0].message.tool_calls or []
    deltas = [d for d in _tool_deltas(_chunks(server, body)) if d["index"] == 0]
    assert deltas[0] == {
        "index": 0,
        "id": called[0].id,
        "type": "custom",
        "custom": {"name": "run_sql", "input": ""},
    }
    assert len(deltas) > 2 and all(list(d) == ["index", "custom"] for d in deltas[1:])
    assert all(list(d["custom"]) == ["input"] for d in deltas[1:])
    assert "".join(d["custom"]["input"] for d in deltas) == QUERY

    # The SDK reads the pieces (its delta type names only functions: the custom part is an
    # extra field, as openai/openai-python#2530 reports of the API's stream) ...
    sdk = openai_sdk(server)
    read = [
        call
        for chunk in sdk.chat.completions.create(**body, stream=True)
        for call in chunk.choices[0].delta.tool_calls or ()
        if call.index == 0
    ]
    assert read[0].type == "custom"  # type: ignore[comparison-overlap]
    assert "".join(c.model_extra["custom"]["input"] for c in read) == QUERY  # type: ignore[index]
    # ... and its stream helper gathers the call from them.
    with sdk.chat.completions.stream(**body) as stream:
        for _ in stream:
            pass
        gathered = stream.current_completion_snapshot.choices[0].message.tool_calls or []
    assert gathered[0].type == "custom"  # type: ignore[comparison-overlap]
    assert (gathered[0].model_extra or {})["custom"] == {"name": "run_sql", "input": QUERY}
    assert gathered[1].function.name == "get_weather"


def test_a_forced_custom_tool_is_called_with_input_its_grammar_takes(
    server: RunningServer,
) -> None:
    sdk = openai_sdk(server)
    ask = [{"role": "user", "content": "Hello there."}]
    for choice, finish in (
        ({"type": "custom", "custom": {"name": "run_sql"}}, "stop"),  # as a named function
        ("required", "tool_calls"),
        ({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [CHAT_SQL]}},
         "tool_calls"),
    ):  # fmt: skip
        body: Any = {"model": "gpt-4o", "messages": ask, "tools": [CHAT_SQL], "tool_choice": choice}
        answer = sdk.chat.completions.create(**body)
        (call,) = answer.choices[0].message.tool_calls or []
        assert isinstance(call, ChatCompletionMessageCustomToolCall), choice
        assert call.custom.name == "run_sql" and _fits(call.custom.input), call.custom.input
        assert answer.choices[0].finish_reason == finish
        deltas = _tool_deltas(_chunks(server, body))
        assert deltas[0]["custom"] == {"name": "run_sql", "input": ""}
        assert "".join(d["custom"]["input"] for d in deltas) == call.custom.input


@pytest.mark.parametrize(
    ("form", "pattern"),
    [
        ({"type": "text"}, None),
        ({"type": "grammar", "grammar": {"syntax": "lark", "definition": 'start: "hi"'}}, None),
        ({"type": "grammar", "grammar": {"syntax": "regex", "definition": r"\d{3}-[a-z]{2}"}},
         r"\d{3}-[a-z]{2}"),
        # RE2's spellings: a POSIX class, \z, flags first.
        ({"type": "grammar", "grammar": {"syntax": "regex", "definition": r"[[:digit:]]{4}\z"}},
         r"[0-9]{4}"),
        ({"type": "grammar", "grammar": {"syntax": "regex", "definition": "(?i)yes|no"}},
         "(?i)yes|no"),
        # What Python cannot read: any text.
        ({"type": "grammar", "grammar": {"syntax": "regex", "definition": r"\p{Greek}+"}}, None),
        ({"type": "grammar", "grammar": {"syntax": "regex", "definition": "("}}, None),
    ],
)  # fmt: skip
def test_any_grammar_gets_an_input(
    server: RunningServer, form: dict[str, Any], pattern: str | None
) -> None:
    tool = {"type": "custom", "custom": {"name": "note", "format": form}}
    body: Any = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hello."}],
        "tools": [tool],
        "tool_choice": {"type": "custom", "custom": {"name": "note"}},
    }
    raw = _post(server, "/chat/completions", body)
    assert raw.status_code == 200, raw.text
    (call,) = raw.json()["choices"][0]["message"]["tool_calls"]
    assert call["type"] == "custom" and call["custom"]["name"] == "note"
    assert call["custom"]["input"], call
    if pattern is not None:
        assert re.fullmatch(pattern, call["custom"]["input"]), call


# --- Responses API ----------------------------------------------------------------------


def test_a_forced_custom_tool_is_a_custom_tool_call_item(server: RunningServer) -> None:
    sdk = openai_sdk(server)
    for choice in (
        {"type": "custom", "name": "run_sql"},
        "required",
        {"type": "allowed_tools", "mode": "required", "tools": [RESPONSES_SQL]},
    ):  # fmt: skip
        body: Any = {"model": "gpt-4o", "input": "Hello there.", "tools": [RESPONSES_SQL],
                     "tool_choice": choice}  # fmt: skip
        raw = _post(server, "/responses", body).json()
        check("Response", raw)
        (item,) = raw["output"]
        assert list(item) == ["id", "type", "status", "call_id", "input", "name"]
        assert (item["type"], item["name"], item["status"]) == (
            "custom_tool_call",
            "run_sql",
            "completed",
        )
        assert item["id"].startswith("ctc_") and _fits(item["input"]), item
        assert raw["tool_choice"] == choice
        answer = sdk.responses.create(**body)
        assert isinstance(answer.output[0], ResponseCustomToolCall)

        streamed = _post(server, "/responses", {**body, "stream": True})
        events = [
            json.loads(block.split(b"\n")[1][len(b"data: ") :])
            for block in streamed.content[:-2].split(b"\n\n")
        ]
        for event in events:
            EVENTS.validate_python(event)
        pieces = [
            e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"
        ]
        (done,) = [e for e in events if e["type"] == "response.custom_tool_call_input.done"]
        final = Response.model_validate(events[-1]["response"])
        assert isinstance(final.output[0], ResponseCustomToolCall)
        assert "".join(pieces) == done["input"] == final.output[0].input
        assert _fits(done["input"])


def test_a_rule_generates_a_custom_tools_input_from_its_grammar(server: RunningServer) -> None:
    """`generate: from_schema` on a rule's call of a custom tool the tool choice does not
    force writes an input its grammar takes, on both families."""
    sdk = openai_sdk(server)
    chat = sdk.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Run any query."}], tools=[CHAT_SQL]
    )
    (call,) = chat.choices[0].message.tool_calls or ()
    assert isinstance(call, ChatCompletionMessageCustomToolCall)
    assert call.custom.name == "run_sql" and _fits(call.custom.input), call
    answer = sdk.responses.create(model="gpt-4o", input="Run any query.", tools=[RESPONSES_SQL])
    (item,) = answer.output
    assert isinstance(item, ResponseCustomToolCall)
    assert item.name == "run_sql" and _fits(item.input), item


def test_recorded_custom_tool_calls_convert_to_rules_that_answer_them(
    server: RunningServer, tmp_path: Path
) -> None:
    """Custom tool calls recorded from an upstream (chat and the Responses API, whole and
    streamed) become rules (`mockllm cassette to-scenario`) whose answers carry the same
    calls with the same input."""
    folder = tmp_path / "cassettes"
    recorder = start_server(
        "--upstream", server.base_url, "--cassettes", str(folder), "--cassette", "sql",
        "--record-mode", "all", tmp_path=tmp_path,
    )  # fmt: skip
    chat: Any = {"model": "gpt-4o", "tools": [CHAT_SQL],
                 "messages": [{"role": "user", "content": "Please count the users."}]}  # fmt: skip
    responses: Any = {"model": "gpt-4o", "tools": [RESPONSES_SQL],
                      "input": "Please count the users, one more time."}  # fmt: skip
    try:
        for path, body in (("/chat/completions", chat), ("/responses", responses)):
            for stream in (False, True):
                assert _post(recorder, path, {**body, "stream": stream}).status_code == 200
    finally:
        recorder.stop()
    result = CliRunner().invoke(main, ["cassette", "to-scenario", str(folder / "sql.yaml")])
    assert result.exit_code == 0, result.output
    scenario = tmp_path / "sql-rules.yaml"
    scenario.write_text(result.output)
    replies = [r for rule in yaml.safe_load(result.output)["rules"] for r in rule["sequence"]]
    sql = [c["arguments"] for r in replies for c in r["tool_calls"] if c["name"] == "run_sql"]
    assert sql == [QUERY] * 4  # the input as text, whole and put back together from pieces

    served = start_server("--scenarios", str(scenario), tmp_path=tmp_path)
    try:
        sdk = openai_sdk(served)
        for _ in range(2):  # each rule's sequence: the whole answer, then the streamed one
            call = (sdk.chat.completions.create(**chat).choices[0].message.tool_calls or [])[0]
            assert isinstance(call, ChatCompletionMessageCustomToolCall)
            assert (call.custom.name, call.custom.input) == ("run_sql", QUERY)
            item = sdk.responses.create(**responses).output[-2]  # the text, then the calls
            assert isinstance(item, ResponseCustomToolCall), item
            assert (item.name, item.input) == ("run_sql", QUERY)
    finally:
        served.stop()


def test_the_inspectors_rule_keeps_a_custom_tools_input_as_text(server: RunningServer) -> None:
    """ "Make a rule" from an exchange that called a custom tool writes its input as the
    text it was, spacing and all, though it reads as JSON."""
    body = {"model": "gpt-4o", "tools": [CHAT_SQL],
            "messages": [{"role": "user", "content": "Send the json input."}]}  # fmt: skip
    answered = _post(server, "/chat/completions", body)
    call = answered.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["custom"] == {"name": "run_sql", "input": JSON_INPUT}
    made = httpx.get(f"{server.url}/__admin/requests/{answered.headers['x-request-id']}/rule")
    assert made.status_code == 200, made.text
    (rule,) = yaml.safe_load(made.text)["rules"]
    assert rule["reply"]["tool_calls"][0]["arguments"] == JSON_INPUT
