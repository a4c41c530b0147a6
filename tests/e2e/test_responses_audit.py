"""The Responses API's refusals, word for word as the API words them: what a request
gets for a Chat Completions argument, a misspelt one, a malformed item — through the
official SDK and raw httpx against a real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.conftest import RunningServer

from .helpers import sdk_refusal


def refusal(server: RunningServer, body: dict[str, Any]) -> tuple[int, Any, Any, str]:
    """The status, param, code and message of the error a request body is answered with."""
    answer = httpx.post(
        f"{server.base_url}/responses",
        json=body,
        headers={"authorization": "Bearer sk-test"},
        timeout=10,
    )
    assert answer.status_code != 200, answer.text[:200]
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    return answer.status_code, error["param"], error["code"], error["message"]


def test_chat_messages_are_refused_naming_input(server: RunningServer, client: OpenAI) -> None:
    body = sdk_refusal(
        400,
        lambda: client.responses.create(
            model="gpt-4o", extra_body={"messages": [{"role": "user", "content": "hi"}]}
        ),
    )
    assert (body["param"], body["code"], body["message"]) == (
        None,
        "unsupported_parameter",
        "Unsupported parameter: 'messages'. In the Responses API, this parameter has moved to "
        "'input'. Try again with the new parameter. See the API documentation for more "
        "information: https://platform.openai.com/docs/api-reference/responses/create.",
    )
    sent = {"model": "gpt-4o", "input": "hi", "messages": [{"role": "user", "content": "hi"}]}
    assert refusal(server, sent)[1:3] == (None, "unsupported_parameter")


@pytest.mark.parametrize(
    ("name", "help"),
    [
        ("stop", " Did you mean 'store'?"),
        ("sto", " Did you mean 'store'?"),
        ("st", ""),  # three edits from 'store'
        ("stre", " Did you mean 'store' or 'stream'?"),  # as near: in name order
        ("strem", " Did you mean 'stream' or 'store'?"),  # nearest first
        ("tool", " Did you mean 'tools'?"),
        ("inclde", " Did you mean 'include'?"),
        ("inpu", ""),  # 'input' is in the body already
        ("seed", ""),
    ],
)
def test_an_unknown_argument_is_refused_with_the_apis_spelling_help(
    server: RunningServer, name: str, help: str
) -> None:
    body = {"model": "gpt-4o", "input": "ping", name: 1}
    assert refusal(server, body) == (
        400,
        name,
        "unknown_parameter",
        f"Unknown parameter: '{name}'.{help}",
    )


def test_top_logprobs_are_refused_on_a_reasoning_model(server: RunningServer) -> None:
    words = "logprobs are not supported with reasoning models."
    asked = {"model": "gpt-5.5", "input": "ping", "top_logprobs": 1}
    assert refusal(server, asked) == (400, "top_logprobs", "unsupported_parameter", words)
    both = {**asked, "include": ["message.output_text.logprobs"]}
    assert refusal(server, both) == (400, "include", "unsupported_parameter", words)
    for body in (
        {**asked, "reasoning": {"effort": "none"}},  # not reasoning now
        {**asked, "model": "gpt-4o"},
        {**asked, "top_logprobs": 0},
    ):
        answer = httpx.post(f"{server.base_url}/responses", json=body, timeout=10)
        assert answer.status_code == 200, answer.text


def test_an_empty_input_with_nothing_else_is_refused(server: RunningServer, client: OpenAI) -> None:
    words = (
        "One of \"input\" or \"previous_response_id\" or 'prompt' or 'conversation' must be "
        "provided."
    )
    for empty in ("", []):
        # before the model's own refusals (gpt-5.5 takes no temperature)
        body = {"model": "gpt-5.5", "input": empty, "temperature": 0.5}
        assert refusal(server, body) == (400, None, "missing_required_parameter", words)
    first = client.responses.create(model="gpt-4o", input="Hello")
    later = client.responses.create(model="gpt-4o", input=[], previous_response_id=first.id)
    assert later.status == "completed"


def assistant(**extra: Any) -> dict[str, Any]:
    """An assistant message as a client sends an earlier output back."""
    content = [{"type": "output_text", "annotations": [], "logprobs": [], "text": "OK"}]
    return {"id": "msg_probe", "type": "message", "status": "completed", "role": "assistant",
            "content": content, **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("sent", "param"),
    [
        ({"input": [{"role": "user", "content": "ping", "bogus": 1}]}, "input[0].bogus"),
        ({"input": [{"role": "user", "content": "ping", "phase": "final_answer"}]},
         "input[0].phase"),
        ({"input": [assistant(zzz=1), {"role": "user", "content": "ping"}]}, "input[0].zzz"),
        ({"input": "ping", "text": {"zzz": 1}}, "text.zzz"),
        ({"input": "ping", "reasoning": {"bogus": 1}}, "reasoning.bogus"),
        ({"input": "ping", "reasoning": {"generate_summary": "concise"}},
         "reasoning.generate_summary"),
        ({"input": "ping", "stream_options": {"include_usage": True}},
         "stream_options.include_usage"),
        ({"input": "ping", "prompt_cache_options": {"bogus": 1}}, "prompt_cache_options.bogus"),
    ],
)  # fmt: skip
def test_an_unknown_member_of_an_object_is_refused_by_its_path(
    server: RunningServer, sent: dict[str, Any], param: str
) -> None:
    body = {"model": "gpt-5.5", "temperature": 0.5, **sent}  # before the model's refusals
    assert refusal(server, body) == (
        400,
        param,
        "unknown_parameter",
        f"Unknown parameter: '{param}'.",
    )


def test_an_assistant_phase_is_taken_and_checked(server: RunningServer, client: OpenAI) -> None:
    later = {"role": "user", "content": "again"}
    for phase in ("commentary", "final_answer", None):
        turn = [{"role": "user", "content": "ping"}, assistant(phase=phase), later]
        assert client.responses.create(model="gpt-4o", input=turn).status == "completed"
    body = {"model": "gpt-4o", "input": [assistant(phase="bogus"), later]}
    assert refusal(server, body) == (
        400,
        "input[0].phase",
        "invalid_value",
        "Invalid value: 'bogus'. Supported values are: 'commentary' and 'final_answer'.",
    )


ITEM_TYPES = (
    "'additional_tools', 'agent_message', 'apply_patch_call', 'apply_patch_call_output', "
    "'code_interpreter_call', 'compaction', 'compaction_trigger', 'computer_call', "
    "'computer_call_output', 'custom_tool_call', 'custom_tool_call_output', 'file_search_call', "
    "'function_call', 'function_call_output', 'image_generation_call', 'item_reference', "
    "'local_shell_call', 'local_shell_call_output', 'mcp_approval_request', "
    "'mcp_approval_response', 'mcp_call', 'mcp_list_tools', 'message', 'multi_agent_call', "
    "'multi_agent_call_output', 'program', 'program_output', 'reasoning', 'shell_call', "
    "'shell_call_output', 'tool_search_call', 'tool_search_output', and 'web_search_call'"
)
ROLES = "'assistant', 'system', 'developer', and 'user'"


@pytest.mark.parametrize(
    ("item", "param", "code", "message"),
    [
        (7, "input[0]", "invalid_type",
         "Invalid type for 'input[0]': expected an input item, but got an integer instead."),
        (None, "input[0]", "invalid_type",
         "Invalid type for 'input[0]': expected an input item, but got null instead."),
        ({"type": "bogus_item"}, "input[0]", "invalid_value",
         f"Invalid value: 'bogus_item'. Supported values are: {ITEM_TYPES}."),
        ({"type": 7, "role": "user", "content": "ping"}, "input[0]", "invalid_value",
         f"Invalid value: ''. Supported values are: {ITEM_TYPES}."),
        ({"role": "bogus", "content": "ping"}, "input[0]", "invalid_value",
         f"Invalid value: 'bogus'. Supported values are: {ROLES}."),
        ({}, "input[0]", "invalid_value", f"Invalid value: ''. Supported values are: {ROLES}."),
        ({"role": "user", "content": [{"type": "bogus", "text": "x"}]},
         "input[0].content[0].type", "invalid_value",
         "Invalid value: 'bogus'. Supported values are: 'input_text', 'input_image', "
         "'input_audio', 'output_text', 'refusal', 'input_file', 'computer_screenshot', "
         "'summary_text', and 'encrypted_content'."),
        ({"role": "user", "content": [{"type": "output_text", "text": "x"}]},
         "input[0].content[0]", "invalid_value",
         "Invalid value: 'output_text'. Supported values are: 'input_text', 'input_image', "
         "'input_file', 'scoped_content', and 'input_audio'."),
        ({"role": "assistant", "content": [{"type": "input_text", "text": "x"}]},
         "input[0].content[0]", "invalid_value",
         "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'."),
    ],
)  # fmt: skip
def test_a_malformed_input_item_is_refused_in_the_apis_words(
    server: RunningServer, item: Any, param: str, code: str, message: str
) -> None:
    body = {"model": "gpt-4o", "input": [item, {"role": "user", "content": "ping"}]}
    assert refusal(server, body) == (400, param, code, message)


def test_penalties_are_taken_and_echoed_or_refused_by_a_reasoning_model(
    server: RunningServer,
) -> None:
    body = {"model": "gpt-4o", "input": "ping", "presence_penalty": 0.5, "frequency_penalty": 1}
    answer = httpx.post(f"{server.base_url}/responses", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    echoed = answer.json()
    assert (echoed["presence_penalty"], echoed["frequency_penalty"]) == (0.5, 1.0)
    for name in ("presence_penalty", "frequency_penalty"):
        refused = {"model": "gpt-5.5", "input": "ping", name: 0.5}
        assert refusal(server, refused) == (
            400,
            name,
            None,
            f"Unsupported parameter: '{name}' is not supported with this model.",
        )
    far = {"model": "gpt-4o", "input": "ping", "presence_penalty": 3}
    assert refusal(server, far)[1:3] == ("presence_penalty", "decimal_above_max_value")


def test_a_model_the_server_does_not_have_is_the_apis_400(
    server: RunningServer, client: OpenAI
) -> None:
    for model in ("", "no-such-model"):
        body = sdk_refusal(400, lambda m=model: client.responses.create(model=m, input="ping"))
        assert (body["param"], body["code"], body["message"]) == (
            "model",
            "model_not_found",
            f"The requested model '{model}' does not exist.",
        )
    chat = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert chat.status_code == 404  # Chat Completions words it its own way


def test_a_conversation_is_refused_with_a_previous_response_and_unknown_alone(
    server: RunningServer,
) -> None:
    # Both unknown: exclusive before either is looked up.
    both = {"model": "gpt-4o", "input": "ping", "conversation": "conv_x",
            "previous_response_id": "resp_x"}  # fmt: skip
    assert refusal(server, both) == (
        400,
        None,
        "mutually_exclusive_parameters",
        "Mutually exclusive parameters: ''. Ensure you are only providing one of: "
        "'pre..._id' or 'conversation'.",
    )
    alone = {"model": "gpt-4o", "input": "ping", "conversation": "conv_x"}
    assert refusal(server, alone) == (404, None, None, "Conversation with id 'conv_x' not found.")


def test_gpt_5_6_takes_the_max_effort(server: RunningServer, client: OpenAI) -> None:
    answer = client.responses.create(
        model="gpt-5.6-terra", input="ping", reasoning={"effort": "max"}
    )
    assert answer.status == "completed" and answer.reasoning.effort == "max"
    assert refusal(server, {"model": "gpt-5.5", "input": "ping", "reasoning": {"effort": "max"}})[
        1:3
    ] == ("reasoning.effort", "unsupported_value")


def test_an_effort_the_model_does_not_take_is_refused_naming_the_model(
    server: RunningServer,
) -> None:
    for model, effort, supported in (
        ("gpt-5.6-terra", "minimal", "'none', 'low', 'medium', 'high', 'xhigh', and 'max'"),
        ("gpt-5-mini", "none", "'minimal', 'low', 'medium', and 'high'"),
    ):
        body = {"model": model, "input": "ping", "reasoning": {"effort": effort}}
        assert refusal(server, body) == (
            400,
            "reasoning.effort",
            "unsupported_value",
            f"Unsupported value: '{effort}' is not supported with the '{model}' model. "
            f"Supported values are: {supported}.",
        )


@pytest.mark.parametrize(
    ("sent", "param", "expected", "got"),
    [
        ({"temperature": "hot"}, "temperature", "a decimal", "a string"),
        ({"top_p": "wide"}, "top_p", "a decimal", "a string"),
        ({"presence_penalty": "x"}, "presence_penalty", "a decimal", "a string"),
        ({"tools": "x"}, "tools", "an array of tools", "a string"),
        ({"context_management": "x"}, "context_management", "an array of objects", "a string"),
        ({"moderation": "x"}, "moderation", "an object", "a string"),
        ({"tool_choice": 7}, "tool_choice",
         "one of an object or 'none', 'auto', or 'required'", "an integer"),
        ({"truncation": {"a": 1}}, "truncation", "one of 'auto' or 'disabled'", "an object"),
        ({"service_tier": {"a": 1}}, "service_tier",
         "one of 'auto', 'default', 'fast', 'flex', or 'priority'", "an object"),
        ({"metadata": "x"}, "metadata", "a metadata object", "a string"),
        ({"prompt_cache_retention": {"a": 1}}, "prompt_cache_retention",
         "one of 'in_memory' or '24h'", "an object"),
        ({"include": "x"}, "include",
         "an array of one of 'fil...lts', 'web...lts', 'web...ces', 'mes...url', 'com...url', "
         "'cod...uts', 'rea...ent', or 'mes...obs'", "a string"),
        ({"model": "gpt-5.5", "reasoning": {"effort": 5}}, "reasoning.effort",
         "one of 'minimal', 'low', 'medium', or 'high'", "an integer"),
        ({"model": "gpt-5.5", "reasoning": {"effort": ["low"]}}, "reasoning.effort",
         "one of one of 'none', 'minimal', 'low', 'medium', 'high', 'xhigh', or 'max' or "
         "integer", "an array"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_refused_in_the_apis_words(
    server: RunningServer, sent: dict[str, Any], param: str, expected: str, got: str
) -> None:
    body = {"model": "gpt-4o", "input": "ping", **sent}
    assert refusal(server, body) == (
        400,
        param,
        "invalid_type",
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
    )


def test_enum_values_are_listed_in_the_apis_order(server: RunningServer) -> None:
    body = {"model": "gpt-4o", "input": "ping", "text": {"format": {"type": "bogus"}}}
    assert refusal(server, body)[1:] == (
        "text.format.type",
        "invalid_value",
        "Invalid value: 'bogus'. Supported values are: 'json_object', 'text', and 'json_schema'.",
    )
    body = {"model": "gpt-5.5", "input": "ping", "reasoning": {"summary": "bogus"}}
    assert refusal(server, body)[1:] == (
        "reasoning.summary",
        "invalid_value",
        "Invalid value: 'bogus'. Supported values are: 'concise', 'detailed', and 'auto'.",
    )


@pytest.mark.parametrize(
    ("sent", "param"),
    [
        ({"temperature": "hot"}, "temperature"),  # its type before its refusal
        ({"text": {"verbosity": "bogus"}}, "text.verbosity"),
        ({"input": [{}]}, "input[0]"),
        ({"previous_response_id": "resp_x"}, "previous_response_id"),
        ({"input": 7, "previous_response_id": "resp_x"}, "input"),  # and before the lookup
        ({"top_logprobs": 1}, "temperature"),  # and the logprobs after it
        ({"include": ["message.output_text.logprobs"]}, "temperature"),
    ],
)
def test_a_models_refusal_comes_after_the_fields_are_checked(
    server: RunningServer, sent: dict[str, Any], param: str
) -> None:
    body = {"model": "gpt-5.5", "input": "ping", "temperature": 0.5, **sent}
    assert refusal(server, body)[1] == param


def test_a_model_before_gpt_5_takes_only_medium_verbosity(
    server: RunningServer, client: OpenAI
) -> None:
    for model in ("gpt-4.1-mini", "gpt-4o"):
        body = {"model": model, "input": "ping", "text": {"verbosity": "low"}}
        assert refusal(server, body) == (
            400,
            "text.verbosity",
            "unsupported_value",
            f"Unsupported value: 'low' is not supported with the '{model}' model. "
            "Supported values are: 'medium'.",
        )
    taken = client.responses.create(model="gpt-4o", input="ping", text={"verbosity": "medium"})
    assert taken.text.verbosity == "medium"
    terse = client.responses.create(model="gpt-5-mini", input="ping", text={"verbosity": "low"})
    assert terse.text.verbosity == "low"


def test_input_is_required_even_with_a_previous_response(
    server: RunningServer, client: OpenAI
) -> None:
    first = client.responses.create(model="gpt-4o", input="Hello")
    words = (400, "input", "missing_required_parameter", "Missing required parameter: 'input'.")
    body = {"model": "gpt-4o", "previous_response_id": first.id}
    assert refusal(server, body) == words
    assert refusal(server, {"model": "gpt-4o", "zzz_unknown": 1}) == words  # before the rest


def test_an_image_or_mcp_tool_naming_no_source_is_refused(server: RunningServer) -> None:
    image = {"role": "user", "content": [{"type": "input_text", "text": "What is it?"},
                                         {"type": "input_image", "detail": "auto"}]}  # fmt: skip
    assert refusal(server, {"model": "gpt-4o", "input": [image]}) == (
        400,
        "input[0].content[1]",
        "missing_mutually_exclusive_parameters",
        "Missing mutually exclusive parameters: 'input[0].content[1]'. Ensure you are "
        "providing exactly one of: 'file_id' or 'image_url'.",
    )
    tool = {"type": "mcp", "server_label": "dice"}
    assert refusal(server, {"model": "gpt-4o", "input": "Roll", "tools": [tool]}) == (
        400,
        "tools[0]",
        "missing_mutually_exclusive_parameters",
        "Missing mutually exclusive parameters: 'tools[0]'. Ensure you are providing exactly "
        "one of: 'server_url', 'connector_id', or 'tunnel_id'.",
    )


def test_a_null_model_or_input_is_a_wrong_type(server: RunningServer) -> None:
    for name in ("model", "input"):
        body = {"model": "gpt-4o", "input": "ping", name: None}
        assert refusal(server, body) == (
            400,
            name,
            "invalid_type",
            f"Invalid type for '{name}': expected a string, but got an object instead.",
        )


def test_gpt_5_6_takes_only_the_24h_prompt_cache(server: RunningServer, client: OpenAI) -> None:
    body = {"model": "gpt-5.6-terra", "input": "ping", "prompt_cache_retention": "in_memory"}
    assert refusal(server, body) == (
        400,
        "prompt_cache_retention",
        "invalid_parameter",
        "This model is compatible only with 24h extended prompt caching",
    )
    kept = client.responses.create(
        model="gpt-5.6-terra", input="ping", prompt_cache_retention="24h"
    )
    assert kept.prompt_cache_retention == "24h"
    older = client.responses.create(
        model="gpt-5.5", input="ping", prompt_cache_retention="in_memory"
    )
    assert older.prompt_cache_retention == "in_memory"
