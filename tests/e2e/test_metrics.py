"""`GET /metrics` after known traffic: every counter equals what was sent, histograms count
each exchange, vLLM's names with `--metrics-names vllm`, every worker under `--workers`."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .helpers import journal, make_chat_request, write_scenario

RULES = """\
version: 1
rules:
  - name: hello
    match: { last_user: { contains: "hello" } }
    reply: { chunks: ["Hi", " there", ",", " friend", "."] }
  - name: broken
    match: { last_user: { contains: "break" } }
    reply: { chunks: ["one", " two", " three", " four"], fault: { disconnect_after_tokens: 2 } }
"""
KEYS = """\
keys:
  - key: sk-team-a-0001
    alias: team-a
  - key: sk-team-b-0002
    alias: team-b
    rpm: 1
prices:
  "*": { prompt: 0.5, completion: 1.5 }
"""
VLLM_NAMES = {
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds",
    "vllm:prompt_tokens",
    "vllm:generation_tokens",
    "vllm:prefix_cache_hits",
    "vllm:prefix_cache_queries",
}


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Samples by name, then by their sorted labels."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def total(found: dict, metric: str, **wanted: str) -> float:
    """The sum of a sample over the label sets that have the wanted labels."""
    return sum(
        value
        for labels, value in found.get(metric, {}).items()
        if all(dict(labels).get(k) == v for k, v in wanted.items())
    )


@pytest.fixture
def metrics_server(serve, tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text(KEYS)
    return serve(
        "--scenarios", str(write_scenario(tmp_path, RULES)),
        "--keys", str(keys),
        "--latency-model", "qwen2.5-0.5b-l4",
        "--metrics-names", "vllm",
    )  # fmt: skip


def test_metrics_equal_the_traffic_sent(metrics_server):
    url, base = metrics_server.url, metrics_server.base_url
    client = openai.OpenAI(base_url=base, api_key="sk-team-a-0001", max_retries=0)
    prompt = completion = 0
    for _ in range(3):
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
        )
        assert answer.usage is not None
        prompt += answer.usage.prompt_tokens
        completion += answer.usage.completion_tokens
    for _ in range(2):
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.usage is not None:
                prompt += chunk.usage.prompt_tokens
                completion += chunk.usage.completion_tokens
    response = client.responses.create(model="gpt-4o-mini", input="hello")
    assert response.usage is not None
    prompt += response.usage.input_tokens
    completion += response.usage.output_tokens
    vectors = client.embeddings.create(model="text-embedding-3-small", input="hello")
    prompt += vectors.usage.prompt_tokens
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    with httpx.Client(timeout=10) as raw, pytest.raises(httpx.RemoteProtocolError):
        raw.post(  # the fault cuts the stream
            f"{base}/chat/completions",
            json=make_chat_request("break", stream=True),
            headers={"authorization": "Bearer sk-team-a-0001"},
        )
    limited = openai.OpenAI(base_url=base, api_key="sk-team-b-0002", max_retries=0)
    team_b = limited.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    ).usage
    assert team_b is not None
    with pytest.raises(openai.RateLimitError):
        limited.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
        )
    client.close()
    limited.close()
    time.sleep(0.2)  # the cut stream's exchange ends when the server sees the close
    (cut,) = [e["usage"] for e in journal(url) if e["rule"] == "rules.yaml#broken"]
    assert cut["completion_tokens"] == 2  # "one", " two": what left before the cut

    found = scrape(url)
    requests = "mockllm_requests_total"
    assert total(found, requests) == 3 + 2 + 1 + 1 + 1 + 1 + 2
    assert total(found, requests, family="chat", source="rule", name="rules.yaml#hello",
                 status="200") == 3 + 2 + 1  # fmt: skip
    assert total(found, requests, family="responses", name="rules.yaml#hello") == 1
    assert total(found, requests, family="embeddings", path="/v1/embeddings") == 1
    # a made-up model id takes no label of its own (they are kept for real models)
    assert total(found, requests, model="other", status="404", source="refused") == 1
    assert total(found, requests, model="no-such-model") == 0
    assert total(found, requests, status="429", source="refused") == 1
    assert total(found, "mockllm_rate_limit_refusals_total", key="team-b") == 1
    assert total(found, "mockllm_faults_total", kind="disconnect_after_tokens") == 1
    assert total(found, "mockllm_request_duration_seconds_count") == 11
    # Answers: 6 chat from `hello` (team b's one included), the cut stream, one response,
    # one embeddings request.
    assert total(found, "mockllm_time_to_first_token_seconds_count") == 9
    # 5 deltas, 4 gaps, streamed or not: 6 chat answers from `hello` and the response
    assert total(found, "mockllm_inter_token_seconds_count") == 7 * 4
    responses_prompt = total(found, "mockllm_prompt_tokens_total", family="responses")
    assert responses_prompt == response.usage.input_tokens
    # Every answer's tokens: the ones counted above, team b's answer and the cut stream's.
    answers = prompt + team_b.prompt_tokens + cut["prompt_tokens"]
    assert total(found, "mockllm_prompt_tokens_total") == answers
    sent = completion + team_b.completion_tokens + cut["completion_tokens"]
    assert total(found, "mockllm_completion_tokens_total") == sent
    assert total(found, "mockllm_requests_in_flight") == 0
    assert total(found, "mockllm_streams_in_flight") == 0
    # Credits: what the prices (0.5 and 1.5 per 1K) say team a's answers cost.
    team_a = Fraction(prompt + cut["prompt_tokens"], 2000) + Fraction(
        3 * (completion + cut["completion_tokens"]), 2000
    )
    spent = total(found, "mockllm_credits_spent_total", key="team-a")
    assert spent == pytest.approx(float(team_a))
    assert not any("sk-team" in str(labels) for series in found.values() for labels in series)
    # The same figures under vLLM's names, with vLLM's labels.
    assert VLLM_NAMES <= {name.removesuffix("_total").removesuffix("_count") for name in found}
    v = {"model_name": "gpt-4o-mini", "engine": "0"}
    assert total(found, "vllm:time_to_first_token_seconds_count", **v) == total(
        found, "mockllm_time_to_first_token_seconds_count", model="gpt-4o-mini"
    )
    assert total(found, "vllm:inter_token_latency_seconds_count", **v) == 7 * 4
    assert total(found, "vllm:prompt_tokens_total") == answers
    assert total(found, "vllm:prefix_cache_queries_total") >= total(
        found, "vllm:prefix_cache_hits_total"
    )
    assert total(found, "vllm:num_requests_running") == 0


def test_histogram_buckets_are_cumulative_and_end_at_the_count(metrics_server):
    client = openai.OpenAI(
        base_url=metrics_server.base_url, api_key="sk-team-a-0001", max_retries=0
    )
    for _ in range(4):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
        )
    client.close()
    found = scrape(metrics_server.url)
    for name in ("mockllm_time_to_first_token_seconds", "vllm:e2e_request_latency_seconds"):
        buckets = sorted(
            (float(dict(labels)["le"]), value) for labels, value in found[f"{name}_bucket"].items()
        )
        values = [v for _, v in buckets]
        assert values == sorted(values) and values[-1] == 4
        assert buckets[-1][0] == float("inf")


def test_without_metrics_there_is_no_metrics_path(serve):
    server = serve("--no-metrics")
    assert httpx.get(f"{server.url}/metrics", timeout=5).status_code == 404


def test_workers_figures_cover_every_process(serve):
    server = serve("--workers", "2")
    for _ in range(12):  # a new connection each: the kernel spreads them over the workers
        with httpx.Client(timeout=10) as client:
            response = client.post(
                f"{server.base_url}/chat/completions",
                json=make_chat_request("hello"),
                headers={"authorization": "Bearer sk-test"},
            )
            assert response.status_code == 200
    deadline = time.monotonic() + 10
    counts = ("mockllm_requests_total", "mockllm_request_duration_seconds_count")
    while True:  # each worker publishes every second, one metric after another: a scrape
        found = scrape(server.url)  # in the middle of a publish can see the first alone
        if all(total(found, name) == 12 for name in counts) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert total(found, "mockllm_requests_total") == 12
    assert total(found, "mockllm_request_duration_seconds_count") == 12


KV_RULES = """\
version: 1
rules:
  - name: held
    match: { last_user: { contains: "hold" } }
    latency_model:
      { ttft_ms: 10, inter_token_ms: 40, max_concurrency: 32, prefix_cache_tokens: 200 }
    reply: { content: "a b c d e f g h i j k l m n o p q r s t u v w x y z" }
"""


def _streams(base: str, words: list[str]) -> list[threading.Thread]:
    def one(word: str) -> None:
        with httpx.Client(timeout=30) as client:
            request = make_chat_request(f"hold {word}", stream=True)
            with client.stream("POST", f"{base}/chat/completions", json=request) as response:
                for _ in response.iter_bytes():
                    pass

    threads = [threading.Thread(target=one, args=(word,)) for word in words]
    for thread in threads:
        thread.start()
    return threads


def test_kv_cache_usage_is_the_running_requests_tokens_over_the_cache(serve, tmp_path):
    server = serve(
        "--scenarios", str(write_scenario(tmp_path, KV_RULES)), "--metrics-names", "vllm"
    )  # fmt: skip
    v = {"model_name": "gpt-4o-mini", "engine": "0"}
    threads = _streams(server.base_url, ["alpha", "bravo", "charlie"])
    # All three running (26 deltas 40 ms apart take a second): read when the server says so,
    # as a busy machine may start the third thread late.
    deadline = time.monotonic() + 0.8
    during = scrape(server.url)
    while total(during, "vllm:num_requests_running", **v) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
        during = scrape(server.url)
    assert total(during, "vllm:num_requests_running", **v) == 3
    for thread in threads:
        thread.join()
    held = sum(
        e["usage"]["prompt_tokens"] - e["usage"]["cached_tokens"] + e["usage"]["completion_tokens"]
        for e in journal(server.url)
        if e["rule"] == "rules.yaml#held"
    )
    assert 0 < held < 200
    assert total(during, "vllm:kv_cache_usage_perc", **v) == pytest.approx(held / 200)
    threads = _streams(server.base_url, [f"word{i}" for i in range(8)])
    time.sleep(0.4)  # more than the cache holds: a real server preempts past it
    assert total(scrape(server.url), "vllm:kv_cache_usage_perc", **v) == 1.0
    for thread in threads:
        thread.join()
    assert total(scrape(server.url), "vllm:kv_cache_usage_perc", **v) == 0


def test_vllms_request_figures_count_each_answer_once(metrics_server):
    url, base = metrics_server.url, metrics_server.base_url
    client = openai.OpenAI(base_url=base, api_key="sk-team-a-0001", max_retries=0)
    for _ in range(2):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
        )
    cut_short = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "a story"}], max_tokens=3
    )
    assert cut_short.choices[0].finish_reason == "length"
    with httpx.Client(timeout=10) as raw, pytest.raises(httpx.RemoteProtocolError):
        raw.post(  # the fault cuts the stream: vLLM counts an aborted request
            f"{base}/chat/completions",
            json=make_chat_request("break", stream=True),
            headers={"authorization": "Bearer sk-team-a-0001"},
        )
    limited = openai.OpenAI(base_url=base, api_key="sk-team-b-0002", max_retries=0)
    limited.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    with pytest.raises(openai.RateLimitError):  # refused: not a request vLLM would count
        limited.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
        )
    client.close()
    limited.close()
    time.sleep(0.2)  # the cut stream's exchange ends when the server sees the close
    answers = [e for e in journal(url) if e["status"] == 200 and e["model"] == "gpt-4o-mini"]
    assert len(answers) == 5
    found = scrape(url)
    v = {"model_name": "gpt-4o-mini", "engine": "0"}
    success = "vllm:request_success_total"
    assert total(found, success, finished_reason="stop", **v) == 3
    assert total(found, success, finished_reason="length", **v) == 1
    assert total(found, success, finished_reason="abort", **v) == 1
    prompt = sum(e["usage"]["prompt_tokens"] for e in answers)
    completion = sum(e["usage"]["completion_tokens"] for e in answers)
    assert total(found, "vllm:request_prompt_tokens_count", **v) == 5
    assert total(found, "vllm:request_prompt_tokens_sum", **v) == prompt
    assert total(found, "vllm:request_generation_tokens_sum", **v) == completion
    assert total(found, "vllm:request_prompt_tokens_bucket", le="+Inf", **v) == 5
    assert total(found, "vllm:request_queue_time_seconds_count", **v) == 5


QUEUE_RULES = """\
version: 1
rules:
  - name: one-at-a-time
    match: { last_user: { contains: "hold" } }
    latency_model: { ttft_ms: 10, inter_token_ms: 100, max_concurrency: 1 }
    reply: { chunks: ["a", " b", " c", " d"] }
"""


def test_vllms_queue_time_is_the_time_answers_waited_for_capacity(serve, tmp_path):
    server = serve(
        "--scenarios", str(write_scenario(tmp_path, QUEUE_RULES)), "--metrics-names", "vllm"
    )  # fmt: skip
    # The second and third are sent once the first is admitted (in the journal): on a busy
    # machine, threads started together could reach the server after it was done.
    threads = _streams(server.base_url, ["one"])
    deadline = time.monotonic() + 10
    while not journal(server.url):
        assert time.monotonic() < deadline, "the first request never reached the journal"
        time.sleep(0.005)
    threads += _streams(server.base_url, ["two", "three"])
    for thread in threads:
        thread.join()
    waited = sum(e["load"]["queued_ms"] for e in journal(server.url) if e["load"]) / 1000
    assert waited > 0.1  # one at a time: the second and third waited for the first
    found = scrape(server.url)
    v = {"model_name": "gpt-4o-mini", "engine": "0"}
    assert total(found, "vllm:request_queue_time_seconds_count", **v) == 3
    assert total(found, "vllm:request_queue_time_seconds_sum", **v) == pytest.approx(waited, 1e-3)


def test_a_very_long_model_id_is_counted_as_other(metrics_server):
    long_id = "m" * 100_000  # a rule that matches any model answers it
    with httpx.Client(timeout=10) as client:
        response = client.post(
            f"{metrics_server.base_url}/chat/completions",
            json={**make_chat_request("hello"), "model": long_id},
            headers={"authorization": "Bearer sk-team-a-0001"},
        )
    assert response.status_code == 200
    page = httpx.get(f"{metrics_server.url}/metrics", timeout=10).text
    assert long_id[:300] not in page and len(page) < 100_000
    assert total(scrape(metrics_server.url), "mockllm_requests_total", model="other") == 1
