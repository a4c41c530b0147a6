"""Responses API items that name stored ones: `item_reference`, output items replayed with
their ids (and the reasoning item they came after), stateless reasoning replay with
`encrypted_content`, and the text's logprobs when `include` asks — through the official
SDK against a real server."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import RunningServer

from .helpers import RESPONSES_WEATHER, openai_sdk, sdk_refusal

WEATHER = RESPONSES_WEATHER
ASK = {"role": "user", "content": "What is the weather in Paris?"}


def as_input(item: Any) -> dict[str, Any]:
    return item.model_dump(exclude_none=True)


def test_an_item_reference_names_a_stored_output_item(server: RunningServer) -> None:
    client = openai_sdk(server)
    first = client.responses.create(
        model="gpt-4o", input=[ASK], tools=[WEATHER], tool_choice="required"
    )
    call = next(o for o in first.output if o.type == "function_call")
    second = client.responses.create(
        model="gpt-4o",
        tools=[WEATHER],
        input=[
            ASK,
            {"type": "item_reference", "id": call.id},
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},
        ],
    )
    assert second.status == "completed" and second.output_text
    unknown = "msg_" + "0" * 48
    body = sdk_refusal(
        404,
        lambda: client.responses.create(
            model="gpt-4o", input=[ASK, {"type": "item_reference", "id": unknown}]
        ),
    )
    assert body["message"] == (
        f"Item with id '{unknown}' not found. Items are not persisted when `store` is set to "
        "false. Try again with `store` set to true, or remove this item from your input."
    )


def test_reasoning_of_an_unstored_response_is_replayed_only_encrypted(
    server: RunningServer,
) -> None:
    client = openai_sdk(server)
    first = client.responses.create(model="o4-mini", input="Hi", store=False)
    reasoning = first.output[0]
    assert reasoning.type == "reasoning" and not getattr(reasoning, "encrypted_content", None)
    later = [as_input(reasoning), {"role": "user", "content": "And then?"}]
    body = sdk_refusal(
        404,
        lambda: client.responses.create(
            model="o4-mini", store=False, input=[{"role": "user", "content": "Hi"}, *later]
        ),
    )
    assert body["message"].startswith(f"Item with id '{reasoning.id}' not found.")

    sealed = client.responses.create(
        model="o4-mini", input="Hi", store=False, include=["reasoning.encrypted_content"]
    )
    item = sealed.output[0]
    assert item.type == "reasoning" and item.encrypted_content.startswith("gAAAAAB")
    again = client.responses.create(
        model="o4-mini",
        store=False,
        input=[{"role": "user", "content": "Hi"}, as_input(item), {"role": "user", "content": "?"}],
    )
    assert again.status == "completed"


def test_a_reasoning_models_call_is_replayed_with_its_reasoning(server: RunningServer) -> None:
    client = openai_sdk(server)
    first = client.responses.create(
        model="o4-mini", input=[ASK], tools=[WEATHER], tool_choice="required"
    )
    reasoning, call = first.output[0], first.output[1]
    assert (reasoning.type, call.type) == ("reasoning", "function_call")
    answer = {"type": "function_call_output", "call_id": call.call_id, "output": "18C"}
    body = sdk_refusal(
        400,
        lambda: client.responses.create(
            model="o4-mini", tools=[WEATHER], input=[ASK, as_input(call), answer]
        ),
    )
    assert body["message"] == (
        f"Item '{call.id}' of type 'function_call' was provided without its required "
        f"'reasoning' item: '{reasoning.id}'."
    )
    done = client.responses.create(
        model="o4-mini", tools=[WEATHER], input=[ASK, as_input(reasoning), as_input(call), answer]
    )
    assert done.status == "completed"


def test_include_output_text_logprobs_gives_the_texts_logprobs(server: RunningServer) -> None:
    client = openai_sdk(server)
    asked = {"include": ["message.output_text.logprobs"], "top_logprobs": 2}
    whole = client.responses.create(model="gpt-4o", input="Say hi", **asked)
    part = whole.output[0].content[0]
    assert part.type == "output_text"
    assert "".join(p.token for p in part.logprobs) == part.text
    assert all(len(p.top_logprobs) == 2 for p in part.logprobs)
    assert len(part.logprobs) == whole.usage.output_tokens
    streamed = []
    with client.responses.stream(model="gpt-4o", input="Say hi", **asked) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                streamed += event.logprobs
        final = stream.get_final_response()
    assert [p.token for p in streamed] == [p.token for p in part.logprobs]
    assert final.output[0].content[0].logprobs == part.logprobs
    plain = client.responses.create(model="gpt-4o", input="Say hi")
    assert plain.output[0].content[0].logprobs == []


def test_input_tokens_counts_what_usage_counts(server: RunningServer) -> None:
    client = openai_sdk(server)
    asked: dict[str, Any] = {
        "model": "gpt-4o",
        "input": "Tell me a joke about cats",
        "instructions": "Be brief.",
        "tools": [WEATHER],
    }
    counted = client.responses.input_tokens.count(**asked)
    assert counted.object == "response.input_tokens"
    assert counted.input_tokens == client.responses.create(**asked).usage.input_tokens
    body = sdk_refusal(400, lambda: client.responses.input_tokens.count(model="gpt-4o", input=5))
    assert body["param"] == "input"


def test_counts_and_compactions_carry_the_api_headers(server: RunningServer) -> None:
    """As every answer of the OpenAI API does: `openai-processing-ms` too."""
    body = {"model": "gpt-4o", "input": "Tell me a joke about cats"}
    for path in ("/responses/input_tokens", "/responses/compact"):
        answer = httpx.post(
            server.base_url + path, json=body, headers={"authorization": "Bearer sk-test"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers.get("openai-processing-ms") == "0", path
        assert answer.headers.get("openai-version") == "2020-10-01", path
        assert answer.headers["x-request-id"].startswith("req_"), path


def test_input_tokens_takes_what_the_sdk_sends_without_a_model(server: RunningServer) -> None:
    """Nothing in the count's body is required (the OpenAPI document's TokenCountsBody),
    and it takes `personality`, a style preset of at most 64 characters, which
    `responses.create` does not."""
    client = openai_sdk(server)
    asked: dict[str, Any] = {"input": "Tell me a joke about cats", "instructions": "Be brief."}
    counted = client.responses.input_tokens.count(**asked)
    assert (
        counted.input_tokens
        == client.responses.input_tokens.count(model="gpt-4o", **asked).input_tokens
    )
    styled = client.responses.input_tokens.count(model="gpt-4o", personality="friendly", **asked)
    assert styled.input_tokens == counted.input_tokens
    long = sdk_refusal(400, lambda: client.responses.input_tokens.count(personality="x" * 65))
    assert long == {
        "message": "Invalid 'personality': string too long. Expected a string with maximum "
        "length 64, but got a string with length 65 instead.",
        "type": "invalid_request_error",
        "param": "personality",
        "code": "string_above_max_length",
    }


def test_a_stateless_client_sends_its_output_back_by_value(server: RunningServer) -> None:
    """The cookbook's stateless loop (store=False, context += response.output): messages
    and calls sent back by value are taken; only a reasoning item needs its sealed
    content, and content mockllm did not seal could not be verified."""
    client = openai_sdk(server)
    context: list[Any] = [{"role": "user", "content": "Tell me a joke about cats."}]
    first = client.responses.create(model="gpt-4o-mini", input=context, store=False)
    context += [as_input(o) for o in first.output]
    context.append({"role": "user", "content": "Another one."})
    again = client.responses.create(model="gpt-4o-mini", input=context, store=False)
    assert again.status == "completed"
    asked: dict[str, Any] = {"store": False, "include": ["reasoning.encrypted_content"]}
    calls = client.responses.create(
        model="o4-mini", input=[ASK], tools=[WEATHER], tool_choice="required", **asked
    )
    loop = [ASK, *[as_input(o) for o in calls.output]]
    call = calls.output[-1]
    loop.append({"type": "function_call_output", "call_id": call.call_id, "output": "18C"})
    done = client.responses.create(model="o4-mini", input=loop, tools=[WEATHER], **asked)
    assert done.status == "completed"
    forged = {**as_input(calls.output[0]), "encrypted_content": "gAAAAABgarbage"}
    body = sdk_refusal(
        400,
        lambda: client.responses.create(model="o4-mini", input=[ASK, forged], store=False),
    )
    assert body["code"] == "invalid_encrypted_content"


def test_includes_a_model_cannot_give_are_refused(server: RunningServer) -> None:
    client = openai_sdk(server)
    body = sdk_refusal(
        400,
        lambda: client.responses.create(
            model="o4-mini", input="Hi", include=["message.output_text.logprobs"]
        ),
    )
    assert (body["message"], body["param"]) == (
        "logprobs are not supported with reasoning models.",
        "include",
    )
    body = sdk_refusal(
        400,
        lambda: client.responses.create(
            model="gpt-4o", input="Hi", include=["reasoning.encrypted_content"]
        ),
    )
    assert body["message"] == "Encrypted content is not supported with this model."


def test_bad_ids_limits_and_depths_are_400s(server: RunningServer) -> None:
    import httpx

    base = server.base_url
    bad_id = {"model": "gpt-4o", "input": [{"role": "user", "content": "hi", "id": []}]}
    assert httpx.post(f"{base}/responses", json=bad_id).status_code == 400
    made = httpx.post(f"{base}/responses", json={"model": "gpt-4o", "input": "hi"}).json()
    odd = httpx.get(f"{base}/responses/{made['id']}/input_items", params={"limit": "²"})
    assert odd.status_code == 400 and odd.json()["error"]["param"] == "limit"
    deep: Any = {"type": "string"}
    for _ in range(300):
        deep = {"type": "object", "properties": {"a": deep}}
    tool = {"type": "function", "name": "f", "strict": False, "parameters": deep}
    body = {"model": "gpt-4o", "input": "hi", "truncation": "auto", "tools": [tool]}
    assert httpx.post(f"{base}/responses", json=body).status_code == 400
