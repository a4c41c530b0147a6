"""`GET /metrics` under vLLM's names, read as vLLM's users read it: the gauges the endpoint
picker and autoscalers scrape, the per-request histograms dashboards plot, and their
values mid-flight under concurrent paced streams.

One server for the module; each test uses its own model id, so that its series are its
own. Timing figures are checked against the schedule the server holds, with bounds that
survive a busy 2-core machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningServer, start_server

from .helpers import journal, make_chat_request, write_scenario
from .test_metrics import scrape, total

RULES = """\
version: 1
rules:
  - name: plain
    match: { last_user: { contains: "plain" } }
    reply: { content: "Plain words." }
  - name: gapped
    match: { last_user: { contains: "gapped" } }
    reply: { chunks: ["a", " b", " c", " d", " e"], latency: { ttft_ms: 20, inter_token_ms: 10 } }
  - name: paced
    match: { last_user: { contains: "paced" } }
    latency_model: { ttft_ms: 10, inter_token_ms: 40, max_concurrency: 2, max_queue: 10 }
    reply: { chunks: ["a", " b", " c", " d", " e"] }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("load_audit")
    running = start_server(
        "--scenarios", str(write_scenario(tmp, RULES)), "--metrics-names", "vllm", tmp_path=tmp
    )
    yield running
    running.stop()


def _post(server: RunningServer, content: str, model: str, **fields: object) -> dict:
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json=make_chat_request(content, model=model, **fields),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_queue_and_cache_gauges_are_there_without_a_latency_model(server):
    # The endpoint picker reads vllm:num_requests_waiting and vllm:kv_cache_usage_perc
    # from every scrape ("metric family not found" otherwise); vLLM always has them.
    _post(server, "plain", "audit-plain")
    found = scrape(server.url)
    v = {"model_name": "audit-plain", "engine": "0"}
    for name in ("vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert tuple(sorted(v.items())) in found.get(name, {}), name
        assert total(found, name, **v) == 0
    assert total(found, "vllm:num_requests_running", **v) == 0


def test_a_whole_answers_gaps_count_as_inter_token_latency(server):
    # vLLM counts a gap per generated token at its engine, whether the answer is streamed
    # or sent whole (vllm/v1/metrics/stats.py, IterationStats.update_from_output).
    answer = _post(server, "gapped", "audit-gapped")
    assert answer["choices"][0]["message"]["content"] == "a b c d e"
    found = scrape(server.url)
    v = {"model_name": "audit-gapped", "engine": "0"}
    assert total(found, "vllm:inter_token_latency_seconds_count", **v) == 4  # 5 deltas
    assert total(found, "vllm:inter_token_latency_seconds_sum", **v) == pytest.approx(0.04)
    mine = {"family": "chat", "model": "audit-gapped"}
    assert total(found, "mockllm_inter_token_seconds_count", **mine) == 4


def test_vllms_phases_and_request_parameters_are_counted(server):
    # What vLLM's dashboards plot beside TTFT and e2e (vllm/v1/metrics/loggers.py): the
    # prefill, decode and running time of each answer, its mean time per output token, the
    # max_tokens and n it asked, its longest choice, and the preemptions (none here).
    model = "audit-phases"
    one = _post(server, "gapped", model, max_tokens=50)
    two = _post(server, "gapped", model, max_tokens=40, n=2)
    assert [c["message"]["content"] for c in two["choices"]] == ["a b c d e"] * 2
    tokens = one["usage"]["completion_tokens"]
    assert two["usage"]["completion_tokens"] == 2 * tokens and tokens > 1
    rows = [e for e in journal(server.url) if e["model"] == model]
    assert [e["first_token_ms"] for e in rows] == [20.0, 20.0]
    decode = [e["duration_ms"] / 1000 - 0.02 for e in rows]
    assert all(0.035 < d < 2 for d in decode)  # 4 gaps of 10 ms, then the last byte
    found = scrape(server.url)
    v = {"model_name": model, "engine": "0"}
    sums = {
        name: total(found, f"vllm:{name}_sum", **v)
        for name in (
            "request_prefill_time_seconds", "request_decode_time_seconds",
            "request_inference_time_seconds", "request_time_per_output_token_seconds",
            "request_params_max_tokens", "request_params_n",
            "request_max_num_generation_tokens",
        )
    }  # fmt: skip
    assert all(total(found, f"vllm:{name}_count", **v) == 2 for name in sums)
    assert sums["request_prefill_time_seconds"] == pytest.approx(0.04)
    assert sums["request_decode_time_seconds"] == pytest.approx(sum(decode), abs=0.002)
    assert sums["request_inference_time_seconds"] == pytest.approx(sum(decode) + 0.04, abs=0.002)
    tpot = sums["request_time_per_output_token_seconds"]
    assert tpot == pytest.approx(sum(decode) / (tokens - 1), abs=0.002)
    assert sums["request_params_max_tokens"] == 90
    assert sums["request_params_n"] == 3
    assert total(found, "vllm:request_params_n_bucket", le="1.0", **v) == 1
    assert sums["request_max_num_generation_tokens"] == 2 * tokens
    assert total(found, "vllm:num_preemptions_total", **v) == 0
    assert (("engine", "0"), ("model_name", model)) in found["vllm:num_preemptions_total"]
    # the name dashboards used before vLLM 0.11 (vLLM's own Grafana example among them)
    for part in ("count", "sum"):
        assert total(found, f"vllm:time_per_output_token_seconds_{part}", **v) == total(
            found, f"vllm:inter_token_latency_seconds_{part}", **v
        )
