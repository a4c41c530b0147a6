"""`--profile vllm`: mockllm answers as vLLM's OpenAI-compatible server, through the
openai SDK and raw HTTP (one server for the module)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from mockllm.app import create_app
from mockllm.config import ServerConfig
from tests.conftest import RunningServer, start_server

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
CONTEXT = 131072  # Llama-3.1-8B-Instruct's max_model_len, as the profile serves it


AT_START: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}  # /metrics before traffic


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        "--profile", "vllm", "--seed", "5", "--metrics-names", "vllm",
        tmp_path=tmp_path_factory.mktemp("vllm"),
    )  # fmt: skip
    AT_START.update(_scrape(running.url))  # before any test's request
    yield running
    running.stop()


def _scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of /metrics, parsed as Prometheus parses it: name → labels → value."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _value(
    found: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str
) -> float:
    """The sample of the served model (engine 0) with these labels; KeyError when absent."""
    wanted = tuple(sorted({"model_name": MODEL, "engine": "0", **labels}.items()))
    return found[name][wanted]


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def _error(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 400, response.text
    error: dict[str, object] = response.json()["error"]
    return error


def test_ping_version_and_health_answer_as_vllm(http: httpx.Client):
    for method in ("GET", "POST"):
        ping = http.request(method, "/ping")
        assert (ping.status_code, ping.content) == (200, b"")
    health = http.get("/health")
    assert (health.status_code, health.content) == (200, b"")
    assert http.get("/version").json() == {"version": "0.21.0"}


def test_models_are_listed_as_vllm_lists_them(client: OpenAI, http: httpx.Client):
    (card,) = http.get("/v1/models").json()["data"]
    permission = card.pop("permission")
    created = card.pop("created")
    assert card == {
        "id": MODEL,
        "object": "model",
        "owned_by": "vllm",
        "root": MODEL,
        "parent": None,
        "max_model_len": CONTEXT,
    }
    (granted,) = permission
    assert granted.pop("id").startswith("modelperm-") and granted.pop("created") == created
    assert granted == {
        "object": "model_permission",
        "allow_create_engine": False,
        "allow_sampling": True,
        "allow_logprobs": True,
        "allow_search_indices": False,
        "allow_view": True,
        "allow_fine_tuning": False,
        "organization": "*",
        "group": None,
        "is_blocking": False,
    }
    assert [m.id for m in client.models.list()] == [MODEL]


def test_tokenize_counts_as_usage_does_and_detokenize_gives_the_text_back(
    client: OpenAI, http: httpx.Client
):
    text = "Hello world, tokenizers split antidisestablishment and 12345 like this!\n"
    answer = http.post("/tokenize", json={"model": MODEL, "prompt": text}).json()
    assert answer["count"] == len(answer["tokens"]) and answer["max_model_len"] == CONTEXT
    assert answer["token_strs"] is None
    back = http.post("/detokenize", json={"model": MODEL, "tokens": answer["tokens"]})
    assert back.json() == {"prompt": text}
    strs = http.post("/tokenize", json={"prompt": "Hello world", "return_token_strs": True})
    assert strs.json()["token_strs"] == ["Hello", "Ġworld"]  # byte-level, as HF writes them

    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why is the sky blue?"},
    ]
    counted = http.post("/tokenize", json={"model": MODEL, "messages": messages}).json()
    reply = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=3)  # type: ignore[arg-type]
    assert reply.usage is not None and counted["count"] == reply.usage.prompt_tokens
    completion = client.completions.create(model=MODEL, prompt=text, max_tokens=3)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == answer["count"]


def test_tokenize_and_detokenize_refuse_bad_bodies_as_vllm_does(http: httpx.Client):
    missing = _error(http.post("/tokenize", json={"model": MODEL}))
    assert missing == {
        "message": "2 validation errors:\n"
        "  {'type': 'missing', 'loc': 'body.prompt', 'msg': 'Field required', "
        "'input': '<dict of 1 items>'}\n"
        "  {'type': 'missing', 'loc': 'body.messages', 'msg': 'Field required', "
        "'input': '<dict of 1 items>'}",
        "type": "Bad Request",
        "param": "body.prompt",
        "code": 400,
    }
    not_ids = _error(http.post("/detokenize", json={"tokens": [1, "a", 1.5]}))
    assert not_ids["param"] == "body.tokens.1"
    assert "'type': 'int_parsing'" in str(not_ids["message"])
    assert "'type': 'int_from_float'" in str(not_ids["message"])
    no_list = _error(http.post("/detokenize", json={"tokens": 5}))
    assert no_list["message"] == (
        "1 validation error:\n  {'type': 'list_type', 'loc': 'body.tokens', "
        "'msg': 'Input should be a valid list', 'input': '5'}"
    )
    as_form = _error(http.post("/tokenize", data={"prompt": "Hello"}))
    assert as_form == {
        "message": "1 validation error:\n  Unsupported Media Type: Only 'application/json' "
        "is allowed",
        "type": "Bad Request",
        "param": None,
        "code": 400,
    }
    negative = _error(http.post("/detokenize", json={"tokens": [-1]}))
    assert negative == {
        "message": "1 validation error:\n  out of range integral type conversion attempted",
        "type": "Bad Request",
        "param": None,
        "code": 400,
    }


def test_a_prompt_over_the_context_is_refused_in_vllm_words(client: OpenAI, http: httpx.Client):
    long = "a " * CONTEXT  # a token a word: over the context with the chat framing
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": long}])
    error = refused.value.body
    assert isinstance(error, dict) and error["type"] == "BadRequestError"
    assert (error["param"], error["code"]) == ("input_tokens", 400)
    assert str(error["message"]).startswith(
        f"You passed {CONTEXT + 8} input tokens and requested 0 output tokens. However, the "
        f"model's context length is only {CONTEXT} tokens, resulting in a maximum input length "
        f"of {CONTEXT} tokens. Please reduce the length of the input prompt. "
        f"(parameter=input_tokens, value={CONTEXT + 8})"
    )
    body = {"model": MODEL, "prompt": "a " * (CONTEXT - 20), "max_tokens": 100}
    assert _error(http.post("/v1/completions", json=body)) == {
        "message": f"You passed {CONTEXT - 19} input tokens and requested 100 output tokens. "
        f"However, the model's context length is only {CONTEXT} tokens, resulting in a maximum "
        f"input length of {CONTEXT - 100} tokens. Please reduce the length of the input prompt. "
        f"(parameter=input_tokens, value={CONTEXT - 19})",
        "type": "BadRequestError",
        "param": "input_tokens",
        "code": 400,
    }


def test_more_output_tokens_than_the_context_are_refused_in_vllm_words(http: httpx.Client):
    hello = [{"role": "user", "content": "Hello"}]
    for name, path, extra in (
        ("max_tokens", "/v1/chat/completions", {"messages": hello}),
        ("max_completion_tokens", "/v1/chat/completions", {"messages": hello}),
        ("max_tokens", "/v1/completions", {"prompt": "Hello"}),
    ):
        body = {"model": MODEL, name: CONTEXT + 1, **extra}
        assert _error(http.post(path, json=body)) == {
            "message": f"{name}={CONTEXT + 1} cannot be greater than "
            f"max_model_len=max_total_tokens={CONTEXT}. Please request fewer output tokens. "
            f"(parameter={name}, value={CONTEXT + 1})",
            "type": "BadRequestError",
            "param": name,
            "code": 400,
        }


HELLO = [{"role": "user", "content": "Hello"}]
# vLLM 0.21.0's ChatCompletionResponse, ChatCompletionResponseChoice and ChatMessage,
# every field in its order (vllm/entrypoints/openai/chat_completion/protocol.py)
ANSWER_KEYS = [
    "id", "object", "created", "prompt_routed_experts", "model", "choices", "service_tier",
    "system_fingerprint", "usage", "prompt_logprobs", "prompt_token_ids", "prompt_text",
    "kv_transfer_params",
]  # fmt: skip
CHOICE_KEYS = [
    "index", "message", "logprobs", "finish_reason", "stop_reason", "token_ids", "routed_experts"
]  # fmt: skip
HEX16 = re.compile(r"chatcmpl-[0-9a-f]{16}")


def _chunks(response: httpx.Response) -> list[dict[str, Any]]:
    lines = response.text.split("\n\n")
    assert lines[-2:] == ["data: [DONE]", ""], lines[-3:]
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-2]]


def test_a_chat_answer_is_written_as_vllm_writes_it(client: OpenAI, http: httpx.Client):
    body = {"model": MODEL, "max_tokens": 4, "messages": HELLO}
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["server"] == "uvicorn"
    assert not [h for h in response.headers if h.startswith(("x-", "openai-", "access-"))]
    answer = response.json()
    assert list(answer) == ANSWER_KEYS and HEX16.fullmatch(answer["id"])
    assert answer["system_fingerprint"].startswith("vllm-0.21.0-")
    assert [answer[k] for k in ANSWER_KEYS[-4:]] == [None] * 4
    assert answer["service_tier"] is None and answer["prompt_routed_experts"] is None
    (choice,) = answer["choices"]
    assert list(choice) == CHOICE_KEYS
    assert (choice["finish_reason"], choice["stop_reason"], choice["logprobs"]) == (
        "length",
        None,
        None,
    )
    message = choice["message"]
    assert message == {
        "role": "assistant",
        "content": message["content"],
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "tool_calls": [],
        "reasoning": None,
    }
    usage = answer["usage"]
    assert list(usage) == [
        "prompt_tokens",
        "total_tokens",
        "completion_tokens",
        "prompt_tokens_details",
    ]
    assert usage["completion_tokens"] == 4 and usage["prompt_tokens_details"] is None
    named = http.post("/v1/chat/completions", json=body, headers={"X-Request-Id": "trace-7"})
    assert named.json()["id"] == "chatcmpl-trace-7"  # vLLM's id is the client's, when given
    reply = client.chat.completions.create(model=MODEL, max_tokens=4, messages=HELLO)  # type: ignore[arg-type]
    assert reply.choices[0].message.content and reply.model == MODEL


def test_a_streamed_chat_answer_is_written_as_vllm_streams_it(client: OpenAI, http: httpx.Client):
    body = {"model": MODEL, "max_tokens": 3, "messages": HELLO, "stream": True}
    response = http.post("/v1/chat/completions", json=body)
    assert response.headers["server"] == "uvicorn" and "x-request-id" not in response.headers
    first, *deltas, last = _chunks(response)
    head = {"object": "chat.completion.chunk", "model": MODEL}
    assert first == {
        "id": first["id"],
        "created": first["created"],
        **head,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
        "prompt_token_ids": None,
        "prompt_text": None,
    }
    assert list(first) == [
        "id",
        "object",
        "created",
        "model",
        "choices",
        "prompt_token_ids",
        "prompt_text",
    ]
    assert HEX16.fullmatch(first["id"])
    for delta in deltas:
        assert list(delta) == ["id", "object", "created", "model", "choices"]
        assert list(delta["choices"][0]) == [
            "index",
            "delta",
            "logprobs",
            "finish_reason",
            "token_ids",
        ]
    # The finish comes with the last token, and names the fingerprint when no usage follows.
    assert len(deltas) == 2 and last["system_fingerprint"].startswith("vllm-0.21.0-")
    (ending,) = last["choices"]
    assert list(ending) == [
        "index",
        "delta",
        "logprobs",
        "finish_reason",
        "stop_reason",
        "token_ids",
    ]
    assert ending["finish_reason"] == "length" and ending["delta"]["content"]

    with_usage = http.post(
        "/v1/chat/completions", json={**body, "stream_options": {"include_usage": True}}
    )
    *_, ended, usage = _chunks(with_usage)
    assert "system_fingerprint" not in ended
    assert usage == {
        "id": usage["id"],
        "created": usage["created"],
        **head,
        "choices": [],
        "usage": {"prompt_tokens": 8, "total_tokens": 11, "completion_tokens": 3},
        "system_fingerprint": last["system_fingerprint"],
    }
    stopped = _chunks(http.post("/v1/chat/completions", json={**body, "max_tokens": 200}))
    assert stopped[-1]["choices"][0]["delta"] == {"content": ""}  # the end of turn says nothing
    assert stopped[-1]["choices"][0]["finish_reason"] == "stop"
    streamed = client.chat.completions.create(
        model=MODEL, max_tokens=3, messages=HELLO, stream=True
    )  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)


def test_a_model_the_server_does_not_serve_is_not_found(client: OpenAI, http: httpx.Client):
    with pytest.raises(openai.NotFoundError) as refused:
        client.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    assert refused.value.body == {
        "message": "The model `gpt-4o` does not exist.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }
    # Checked before the context, as vLLM checks it first, on completions too.
    for path, extra in (
        ("/v1/chat/completions", {"messages": HELLO}),
        ("/v1/completions", {"prompt": "Hi"}),
    ):
        body = {"model": "Qwen/Qwen2.5-0.5B-Instruct", "max_tokens": CONTEXT + 1, **extra}
        missing = http.post(path, json=body)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == 404
    # A body that is not a JSON object is refused as it is elsewhere, never a 500.
    for raw in (b"{not json", b"[1]"):
        broken = http.post(
            "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
        )
        assert broken.status_code == 400, broken.text
    # A request naming no model is answered by the one the server serves.
    unnamed = http.post("/v1/chat/completions", json={"messages": HELLO, "max_tokens": 2})
    assert unnamed.status_code == 200 and unnamed.json()["model"] == MODEL


def test_vllms_series_of_the_served_model_are_there_before_any_request():
    # As vLLM makes them at start (vllm/v1/metrics/loggers.py), for the endpoint picker,
    # KEDA and dashboards that read them before any traffic.
    for gauge in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
    ):
        assert _value(AT_START, gauge) == 0
    for reason in ("stop", "length", "abort", "error", "repetition"):
        assert _value(AT_START, "vllm:request_success_total", finished_reason=reason) == 0
    for reason in ("capacity", "deferred"):
        assert _value(AT_START, "vllm:num_requests_waiting_by_reason", reason=reason) == 0
    awake = "vllm:engine_sleep_state"
    assert _value(AT_START, awake, sleep_state="awake") == 1
    assert _value(AT_START, awake, sleep_state="weights_offloaded") == 0
    assert _value(AT_START, awake, sleep_state="discard_all") == 0
    for source in ("local_compute", "local_cache_hit", "external_kv_transfer"):
        assert _value(AT_START, "vllm:prompt_tokens_by_source_total", source=source) == 0
    for counter in (
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:prefix_cache_queries_total",
        "vllm:prefix_cache_hits_total",
        "vllm:num_preemptions_total",
        "vllm:prompt_tokens_cached_total",
        "vllm:external_prefix_cache_queries_total",
        "vllm:external_prefix_cache_hits_total",
        "vllm:mm_cache_queries_total",
        "vllm:mm_cache_hits_total",
    ):
        assert _value(AT_START, counter) == 0
    for histogram in (
        "vllm:time_to_first_token_seconds",
        "vllm:inter_token_latency_seconds",
        "vllm:e2e_request_latency_seconds",
        "vllm:request_queue_time_seconds",
        "vllm:request_prompt_tokens",
        "vllm:request_generation_tokens",
        "vllm:request_params_n",
        "vllm:request_params_max_tokens",
        "vllm:request_max_num_generation_tokens",
        "vllm:request_prefill_kv_computed_tokens",
    ):
        assert _value(AT_START, f"{histogram}_count") == 0
        assert _value(AT_START, f"{histogram}_bucket", le="+Inf") == 0


def test_n_choices_count_as_vllm_counts_its_child_requests(
    server: RunningServer, http: httpx.Client
):
    # vLLM runs each of n choices as a request of its own (vllm/v1/engine/parallel_sampling.py,
    # output_processor.py, vllm/v1/metrics/stats.py): each finishes, is counted and
    # prefills the prompt; the parent's n and longest choice are observed once.
    before = _scrape(server.url)
    body = {"model": MODEL, "n": 3, "max_tokens": 40, "messages": HELLO}
    answer = http.post("/v1/chat/completions", json=body).json()
    reasons = [c["finish_reason"] for c in answer["choices"]]
    usage = answer["usage"]
    deadline = time.monotonic() + 5
    after = before
    while _value(after, "vllm:request_params_n_count") == _value(
        before, "vllm:request_params_n_count"
    ):
        assert time.monotonic() < deadline, "the answer was not counted"
        after = _scrape(server.url)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    for reason in ("stop", "length"):
        assert grew("vllm:request_success_total", finished_reason=reason) == reasons.count(reason)
    assert grew("vllm:request_prompt_tokens_count") == 3
    assert grew("vllm:request_prompt_tokens_sum") == 3 * usage["prompt_tokens"]
    assert grew("vllm:prompt_tokens_total") == 3 * usage["prompt_tokens"]
    by_source = [
        grew("vllm:prompt_tokens_by_source_total", source=source)
        for source in ("local_compute", "local_cache_hit", "external_kv_transfer")
    ]
    assert sum(by_source) == 3 * usage["prompt_tokens"]  # as vLLM's add up
    assert grew("vllm:request_generation_tokens_count") == 3
    assert grew("vllm:request_generation_tokens_sum") == usage["completion_tokens"]
    assert grew("vllm:generation_tokens_total") == usage["completion_tokens"]
    for each in (
        "vllm:e2e_request_latency_seconds_count",
        "vllm:time_to_first_token_seconds_count",
        "vllm:request_params_max_tokens_count",
        "vllm:request_time_per_output_token_seconds_count",
        "vllm:request_prefill_kv_computed_tokens_count",
    ):
        assert grew(each) == 3, each
    assert (grew("vllm:request_params_n_count"), grew("vllm:request_params_n_sum")) == (1, 3)
    assert grew("vllm:request_max_num_generation_tokens_count") == 1


def test_a_text_completion_is_written_as_vllm_writes_it(client: OpenAI, http: httpx.Client):
    body = {"model": MODEL, "max_tokens": 3, "prompt": "Hello", "logprobs": 1}
    response = http.post("/v1/completions", json=body, headers={"X-Request-Id": "t-1"})
    assert response.headers["server"] == "uvicorn" and "x-request-id" not in response.headers
    answer = response.json()
    # vLLM 0.21.0's CompletionResponse, CompletionResponseChoice and CompletionLogProbs
    # (vllm/entrypoints/openai/completion/protocol.py), every field in its order
    assert list(answer) == [
        "id", "object", "created", "prompt_routed_experts", "model", "choices", "service_tier",
        "system_fingerprint", "usage", "kv_transfer_params",
    ]  # fmt: skip
    assert answer["id"] == "cmpl-t-1" and answer["system_fingerprint"].startswith("vllm-0.21.0-")
    (choice,) = answer["choices"]
    assert list(choice) == [
        "index", "text", "logprobs", "finish_reason", "stop_reason", "token_ids",
        "prompt_logprobs", "prompt_token_ids", "routed_experts",
    ]  # fmt: skip
    assert list(choice["logprobs"]) == ["text_offset", "token_logprobs", "tokens", "top_logprobs"]
    assert (choice["finish_reason"], choice["stop_reason"]) == ("length", None)
    assert list(answer["usage"])[1] == "total_tokens"

    streamed = _chunks(http.post("/v1/completions", json={**body, "stream": True}))
    for chunk in streamed:
        assert list(chunk) == ["id", "object", "created", "model", "choices"] + (
            ["system_fingerprint"] if chunk["choices"][0]["finish_reason"] else []
        )
        assert list(chunk["choices"][0]) == [
            "index", "text", "logprobs", "finish_reason", "stop_reason", "prompt_token_ids",
            "token_ids",
        ]  # fmt: skip
    assert streamed[-1]["choices"][0]["finish_reason"] == "length"
    assert streamed[-1]["choices"][0]["text"]  # the last token carries the finish
    completion = client.completions.create(model=MODEL, prompt="Hello", max_tokens=3)
    assert completion.choices[0].text and completion.model == MODEL


def test_continuous_usage_stats_put_the_usage_so_far_on_every_chunk(http: httpx.Client):
    # vLLM's own stream option (vllm/entrypoints/utils.py should_include_usage): with
    # include_usage, every chunk names the tokens so far, then the usage chunk follows.
    options = {"include_usage": True, "continuous_usage_stats": True}
    for path, extra in (
        ("/v1/chat/completions", {"messages": HELLO}),
        ("/v1/completions", {"prompt": "Hello"}),
    ):
        body = {"model": MODEL, "max_tokens": 4, "stream": True, "stream_options": options, **extra}
        *chunks, final = _chunks(http.post(path, json=body))
        used = [c["usage"]["completion_tokens"] for c in chunks]
        assert used == sorted(used) and used[-1] == final["usage"]["completion_tokens"] == 4
        assert {c["usage"]["prompt_tokens"] for c in chunks} == {final["usage"]["prompt_tokens"]}
        assert all(
            list(c["usage"]) == ["prompt_tokens", "total_tokens", "completion_tokens"]
            for c in chunks
        )
    usual = {"model": MODEL, "max_tokens": 4, "stream": True, "messages": HELLO}
    usual["stream_options"] = {"include_usage": True}
    plain = _chunks(http.post("/v1/chat/completions", json=usual))
    assert all("usage" not in c for c in plain[:-1])


@pytest.mark.anyio
async def test_every_served_model_name_is_taken_and_answers_carry_the_first(tmp_path: Path):
    # vllm serve MODEL --served-model-name llama llama-8b: both names are taken, the model's
    # own path is not; answers, cards and metrics name the first (BaseModelPath,
    # OpenAIServingModels.model_name and is_base_model; PrometheusStatLogger's model_name).
    profile = tmp_path / "aliases.yaml"
    profile.write_text(
        f"extends: vllm\nname: aliases\nmodels: {{default: {MODEL}, listed: [llama, llama-8b]}}\n"
    )
    app = create_app(ServerConfig(profile=str(profile), metrics_names=("vllm",)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mockllm") as http:
        cards = (await http.get("/v1/models")).json()["data"]
        assert [(c["id"], c["root"]) for c in cards] == [("llama", MODEL), ("llama-8b", MODEL)]
        body = {"model": "llama-8b", "max_tokens": 2, "messages": HELLO}
        answer = await http.post("/v1/chat/completions", json=body)
        assert answer.status_code == 200 and answer.json()["model"] == "llama"
        refused = await http.post("/v1/chat/completions", json={**body, "model": MODEL})
        assert refused.status_code == 404
        metrics = (await http.get("/metrics")).text
    assert (
        'vllm:request_success_total{engine="0",finished_reason="length",model_name="llama"} 1.0'
        in metrics
    )
    assert 'model_name="llama-8b"' not in metrics


def test_values_vllm_reads_in_pydantics_lax_mode_are_taken(http: httpx.Client):
    # FastAPI validates vLLM's request models in pydantic's lax mode: the Gateway API
    # Inference Extension's metrics guide sends "include_usage": "true" to a vLLM server.
    guide = {
        "model": MODEL,
        "prompt": "whats your fav movie?",
        "max_tokens": 10,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": "true"},
    }
    *_, usage = _chunks(http.post("/v1/completions", json=guide))
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0
    lax = {"model": MODEL, "messages": HELLO, "max_tokens": "3", "stream": "false", "n": 2.0}
    answer = http.post("/v1/chat/completions", json={**lax, "temperature": "0.5", "top_k": "5"})
    assert answer.status_code == 200, answer.text
    assert [c["finish_reason"] for c in answer.json()["choices"]] == ["length", "length"]
    assert answer.json()["usage"]["completion_tokens"] == 6
    for wrong in ({"max_tokens": "three"}, {"stream": "maybe"}, {"max_tokens": 2.5}):
        assert http.post("/v1/chat/completions", json={**lax, **wrong}).status_code == 400


def test_return_token_ids_gives_the_prompts_and_the_answers_ids(http: httpx.Client):
    # vLLM's return_token_ids (an agent's RL trainer reads them): the prompt's ids, as
    # /tokenize gives them, and the answer's, which /detokenize reads back to its text.
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why is the sky blue?"},
    ]
    body = {"model": MODEL, "max_tokens": 4, "messages": messages, "return_token_ids": True}
    tokenized = http.post("/tokenize", json={"model": MODEL, "messages": messages}).json()
    answer = http.post("/v1/chat/completions", json=body).json()
    assert answer["prompt_token_ids"] == tokenized["tokens"]
    (choice,) = answer["choices"]
    assert len(choice["token_ids"]) == answer["usage"]["completion_tokens"] == 4
    back = http.post("/detokenize", json={"tokens": choice["token_ids"]}).json()["prompt"]
    assert back == choice["message"]["content"]

    first, *rest = _chunks(http.post("/v1/chat/completions", json={**body, "stream": True}))
    assert first["prompt_token_ids"] == tokenized["tokens"]
    ids = [i for chunk in rest for i in chunk["choices"][0]["token_ids"]]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in rest)
    assert http.post("/detokenize", json={"tokens": ids}).json()["prompt"] == text

    prompt = {"model": MODEL, "max_tokens": 4, "prompt": "Hello world", "return_token_ids": True}
    (written,) = http.post("/v1/completions", json=prompt).json()["choices"]
    assert written["prompt_token_ids"] == [9906, 1917]  # as /tokenize gives them
    back = http.post("/detokenize", json={"tokens": written["token_ids"]}).json()["prompt"]
    assert back == written["text"]


def test_a_single_model_path_is_not_served(http: httpx.Client):
    # vLLM has no /v1/models/{model}: FastAPI's 404 through vLLM's HTTPException handler.
    for method in ("GET", "DELETE"):
        missing = http.request(method, f"/v1/models/{MODEL}")
        assert missing.status_code == 404
        assert missing.json() == {
            "error": {"message": "Not Found", "type": "Not Found", "param": None, "code": 404}
        }
