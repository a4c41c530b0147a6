"""`GET /metrics` under vLLM's names, read as vLLM's users read it: the gauges the endpoint
picker and autoscalers scrape, the per-request histograms dashboards plot, and their
values mid-flight under concurrent paced streams.

One server for the module; each test uses its own model id, so that its series are its
own. Timing figures are checked against the schedule the server holds, with bounds that
survive a busy 2-core machine.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

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
    latency_model: { ttft_ms: 10, inter_token_ms: 100, max_concurrency: 2, max_queue: 10 }
    reply: { chunks: ["a", " b", " c", " d", " e", " f", " g", " h", " i", " j", " k", " l"] }
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
    # max_tokens and n it asked, its longest choice, and the preemptions (none here). Each
    # of n choices is a request of vLLM's own (vllm/v1/engine/parallel_sampling.py): the
    # first four figures and max_tokens are counted for each choice, n and the longest
    # choice once.
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
    each = ("request_params_n", "request_max_num_generation_tokens")
    assert all(
        total(found, f"vllm:{name}_count", **v) == (2 if name in each else 3) for name in sums
    )
    decoded = decode[0] + 2 * decode[1]  # the second answer's two choices
    assert sums["request_prefill_time_seconds"] == pytest.approx(0.06)
    assert sums["request_decode_time_seconds"] == pytest.approx(decoded, abs=0.003)
    assert sums["request_inference_time_seconds"] == pytest.approx(decoded + 0.06, abs=0.003)
    tpot = sums["request_time_per_output_token_seconds"]
    assert tpot == pytest.approx(decoded / (tokens - 1), abs=0.003)
    assert sums["request_params_max_tokens"] == 50 + 2 * 40
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


def _stream(server: RunningServer, content: str, model: str) -> socket.socket:
    """A streamed request sent on a socket of its own, left unread: the client closes the
    socket to go away (the answer is written on its schedule meanwhile)."""
    body = json.dumps(make_chat_request(content, model=model, stream=True)).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    return sock


def _gauges(client: httpx.Client, url: str, v: dict[str, str]) -> tuple[float, float]:
    """vLLM's running and waiting for one model, as a scrape reads them (its lines read
    as they are: the whole page parsed takes longer than the changes it is polled for)."""
    labels = {f'{k}="{value}"' for k, value in v.items()}
    found = {"vllm:num_requests_running": 0.0, "vllm:num_requests_waiting": 0.0}
    for line in client.get(f"{url}/metrics").text.splitlines():
        name, _, rest = line.partition("{")
        if name in found:
            inside, _, value = rest.partition("} ")
            if set(inside.split(",")) == labels:
                found[name] = float(value)
    return found["vllm:num_requests_running"], found["vllm:num_requests_waiting"]


def _until(client: httpx.Client, url: str, v: dict[str, str], wanted: tuple[int, int]) -> None:
    """Scrape until vLLM's running and waiting are `wanted`; never past the capacity (2)."""
    deadline = time.monotonic() + 5
    while (seen := _gauges(client, url, v)) != wanted:
        assert seen[0] <= 2 and sum(seen) <= 4 and time.monotonic() < deadline, seen


def test_running_and_waiting_mid_flight_follow_the_configured_capacity(server):
    # Four paced streams of a model whose latency model admits two at a time (each lasts
    # about 1.1 s, unless its client leaves): scraped while they run, vLLM's gauges say 2
    # running and 2 waiting, never more than 2 running; 0 and 0 once the clients are gone.
    model = "audit-paced"
    v = {"model_name": model, "engine": "0"}
    with httpx.Client(timeout=10) as client:
        streams = [_stream(server, f"paced {i}", model) for i in range(4)]
        _until(client, server.url, v, (2, 2))
        for sock in streams:
            sock.close()
        _until(client, server.url, v, (0, 0))


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


def test_a_queued_request_whose_client_leaves_gives_up_its_place(server):
    # vLLM cancels a request whose client disconnects and takes it out of its waiting
    # queue at once (vllm/entrypoints/utils.py, with_cancellation): the waiting gauge drops
    # then, not when the request's turn would have come.
    model = "audit-gone"
    v = {"model_name": model, "engine": "0"}
    with httpx.Client(timeout=10) as client:
        running = [_stream(server, f"paced {i}", model) for i in range(2)]
        _until(client, server.url, v, (2, 0))
        queued = _stream(server, "paced 2", model)
        _until(client, server.url, v, (2, 1))
        queued.close()
        left = time.monotonic()
        while (seen := _gauges(client, server.url, v)) != (2, 0):
            assert time.monotonic() - left < 0.3, seen  # the two others still run
        for sock in running:
            sock.close()
        _until(client, server.url, v, (0, 0))
    gone = [e for e in journal(server.url) if e["model"] == model and e["status"] == 0]
    assert [e["error"] for e in gone] == ["client disconnected"]
