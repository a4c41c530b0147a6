"""`GET /metrics` under vLLM's names, read as vLLM's users read it: the gauges the endpoint
picker and autoscalers scrape, the per-request histograms dashboards plot, and their
values mid-flight under concurrent paced streams.

One server for the module; each test uses its own model id, so that its series are its
own. Timing figures are checked against the schedule the server holds, with bounds that
survive a busy 2-core machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

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
    latency_model: { ttft_ms: 10, inter_token_ms: 25, max_concurrency: 2, max_queue: 10 }
    reply: { chunks: ["a", " b", " c", " d", " e"] }
  - name: cached
    match: { last_user: { contains: "cached" } }
    latency_model: { ttft_ms: 5, prefix_cache_tokens: 4096, prefix_block_tokens: 32 }
    reply: { content: "From the cache." }
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


def test_a_made_up_model_id_leaves_no_series(server):
    # vLLM answers a model it does not serve with a 404 and counts nothing for it; a
    # refused made-up id took no label of its own (mockllm_requests_total counts it under
    # model="other"), but left vLLM's gauges (and the in-flight ones) a model_name="other".
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json=make_chat_request("hello", model="no-such-model-here"),
        timeout=10,
    )
    assert response.status_code == 404
    found = scrape(server.url)
    in_flight = ("mockllm_requests_in_flight", "mockllm_streams_in_flight")
    assert not [
        (name, labels)
        for name, series in found.items()
        for labels in series
        if dict(labels).get("model_name") == "other"
        or (name in in_flight and dict(labels).get("model") == "other")
    ]


def test_the_cache_usage_is_there_under_its_older_name_too(server):
    # vllm:gpu_cache_usage_perc, renamed vllm:kv_cache_usage_perc in 0.9 and still there
    # as a deprecated name after: the endpoint picker's protocol and vLLM's own Grafana
    # example read it.
    _post(server, "plain", "audit-old-names")
    found = scrape(server.url)
    v = {"model_name": "audit-old-names", "engine": "0"}
    assert tuple(sorted(v.items())) in found.get("vllm:gpu_cache_usage_perc", {})
    assert total(found, "vllm:gpu_cache_usage_perc", **v) == total(
        found, "vllm:kv_cache_usage_perc", **v
    )


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


def test_the_cache_config_names_the_block_size_and_the_blocks(server):
    # vllm:cache_config_info (an info gauge at 1): the endpoint picker reads block_size and
    # num_gpu_blocks from it to size its prefix-cache index to the server's.
    _post(server, "cached", "audit-cache")
    found = scrape(server.url)
    info = {
        "block_size": "32", "cache_dtype": "auto", "enable_prefix_caching": "True",
        "engine": "0", "num_gpu_blocks": "128",
    }  # fmt: skip
    assert found["vllm:cache_config_info"] == {tuple(sorted(info.items())): 1.0}


def _streams(client: httpx.Client, base_url: str, count: int, model: str) -> list[threading.Thread]:
    def one(i: int) -> None:
        request = make_chat_request(f"paced {i}", model=model, stream=True)
        with client.stream("POST", f"{base_url}/chat/completions", json=request) as got:
            assert got.status_code == 200
            for _ in got.iter_bytes():
                pass

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _gauges(client: httpx.Client, url: str, v: dict[str, str]) -> tuple[float, float]:
    """vLLM's running and waiting for one model, as a scrape reads them."""
    running = waiting = 0.0
    for family in text_string_to_metric_families(client.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == "vllm:num_requests_running" and sample.labels == v:
                running = sample.value
            elif sample.name == "vllm:num_requests_waiting" and sample.labels == v:
                waiting = sample.value
    return running, waiting


def test_running_and_waiting_mid_flight_follow_the_configured_capacity(server):
    # Four paced streams, two at a time (max_concurrency 2): read while they run, vLLM's
    # gauges never say more than 2 running, say 2 running with others waiting at some
    # point (a busy machine may start the threads apart: not always all 4 at once), and
    # 0 and 0 once they are done.
    model = "audit-paced"
    v = {"model_name": model, "engine": "0"}
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=8)) as client:
        threads = _streams(client, server.base_url, 4, model)
        peak = (0.0, 0.0)
        while any(thread.is_alive() for thread in threads):
            seen = _gauges(client, server.url, v)
            assert seen[0] <= 2 and sum(seen) <= 4, seen  # never past the capacity
            peak = max(peak, seen)
        assert peak[0] == 2 and peak[1] >= 1, peak
        assert _gauges(client, server.url, v) == (0, 0)
    found = scrape(server.url)
    assert total(found, "vllm:request_queue_time_seconds_count", **v) == 4
    assert total(found, "vllm:request_queue_time_seconds_sum", **v) > 0


def test_a_scrape_asking_for_openmetrics_gets_it_compressed_as_it_asks(server):
    # vLLM serves /metrics with prometheus-client's ASGI app, which answers the format a
    # scraper's Accept names (Prometheus asks for OpenMetrics first) and gzips when asked.
    _post(server, "plain", "audit-openmetrics")
    accept = (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
        "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
    )
    with httpx.Client(timeout=10) as client:
        got = client.get(
            f"{server.url}/metrics", headers={"accept": accept, "accept-encoding": "gzip"}
        )
        plain = client.get(f"{server.url}/metrics", headers={"accept-encoding": "identity"})
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert got.headers["content-encoding"] == "gzip"
    assert got.text.endswith("# EOF\n")  # httpx decoded the gzip
    families = {f.name: f for f in openmetrics_families(got.text)}
    assert families["vllm:request_success"].type == "counter"
    assert "vllm:request_success_created" not in families  # a counter's created time
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "content-encoding" not in plain.headers
