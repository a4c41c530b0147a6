"""A loaded model server, seen from the client: TTFT by prompt length and by load, the
prefix cache, the queue and its refusals, and the same figures for the same arrivals.

Timing assertions compare orderings and differences with generous margins (the suite
runs on two shared cores); the exact figures are checked in the journal, where the
server writes what it scheduled.
"""

from __future__ import annotations

import concurrent.futures
import json
import time

import anthropic
import httpx
import openai
import pytest

from .helpers import journal, make_chat_request, write_scenario

LATE_S = 0.25  # how late a first token may reach the client on a loaded 2-core machine
LONG_SYSTEM = "You answer questions about lamps, bulbs and shades in the shop. " * 300
RULES = """\
version: 1
rules:
  - name: by-length
    match: { last_user: { contains: "length test" } }
    latency_model:
      { ttft_ms: 50, inter_token_ms: 5, prefill_ms_per_1k: 100, max_concurrency: 16 }
    reply: { chunks: ["a", " b", " c"] }
  - name: by-load
    match: { last_user: { contains: "load test" } }
    latency_model:
      { ttft_ms: 100, inter_token_ms: 10, load_factor_at_capacity: 4, max_concurrency: 7 }
    reply: { faker: { text: paragraph, nb_sentences: 8 } }
  - name: cached
    match: { last_user: { contains: "cache test" } }
    latency_model:
      ttft_ms: 30
      inter_token_ms: 2
      prefill_ms_per_1k: 200
      max_concurrency: 16
      prefix_cache_tokens: 100000
    reply: { chunks: ["a", " b"] }
  - name: capacity-429
    match: { last_user: { contains: "capacity 429" } }
    latency_model: { ttft_ms: 500, inter_token_ms: 10, max_concurrency: 2, max_queue: 1 }
    reply: { chunks: ["a", " b"] }
  - name: capacity-503
    match: { last_user: { contains: "capacity 503" } }
    latency_model:
      ttft_ms: 500
      inter_token_ms: 10
      max_concurrency: 1
      max_queue: 0
      queue_full_status: 503
      group: other
    reply: { chunks: ["a", " b"] }
  - name: seeded
    match: { last_user: { contains: "seeded" } }
    latency_model:
      ttft_ms: 1000
      inter_token_ms: 60
      jitter_ms: 6
      load_factor_at_capacity: 2
      max_concurrency: 9
      prefill_ms_per_1k: 40
      prefix_cache_tokens: 50000
    reply: { faker: { text: sentence }, latency: { tokens_per_chunk: 2 } }
"""


@pytest.fixture
def load_server(serve, tmp_path):
    return serve("--scenarios", str(write_scenario(tmp_path, RULES)), "--seed", "3")


def first_token(
    base_url: str, body: dict, client: httpx.Client | None = None
) -> tuple[float, dict]:
    """(seconds from sending to the first content delta, the usage chunk) of a stream."""
    first = None
    usage: dict = {}
    buffer = b""
    payload = {**body, "stream": True, "stream_options": {"include_usage": True}}
    with client or httpx.Client(timeout=30) as client:
        started = time.monotonic()
        with client.stream(
            "POST",
            f"{base_url}/chat/completions",
            json=payload,
            headers={"authorization": "Bearer sk-test"},
        ) as response:
            assert response.status_code == 200, response.read()
            for piece in response.iter_raw():
                buffer += piece
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    data = event[len(b"data: ") :]
                    if data == b"[DONE]":
                        continue
                    chunk = json.loads(data)
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    if first is None and any(c["delta"].get("content") for c in chunk["choices"]):
                        first = time.monotonic() - started
    assert first is not None
    return first, usage


def with_system(user: str, system: str = LONG_SYSTEM) -> dict:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }


def staggered(jobs: list, every_s: float) -> list:
    """Run the jobs in threads, each started `every_s` after the one before (a fixed
    arrival order); their results in that order."""

    def later(i: int, job):  # noqa: ANN001, ANN202
        time.sleep(i * every_s)
        return job()

    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(later, i, job) for i, job in enumerate(jobs)]
        return [f.result() for f in futures]


def in_arrival_order(jobs: list, server_url: str) -> list:
    """Run the jobs in threads, each started once the one before is in the server's
    journal (admitted), so that they reach it in this order however slow the machine;
    their results in that order."""
    seen = len(journal(server_url))
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = []
        for job in jobs:
            futures.append(pool.submit(job))
            seen += 1
            deadline = time.monotonic() + 10
            while len(journal(server_url)) < seen:
                assert time.monotonic() < deadline, "a request never reached the journal"
                time.sleep(0.005)
        return [f.result() for f in futures]


def test_ttft_grows_with_the_prompts_length_as_the_formula_says(load_server):
    base = load_server.base_url
    first_token(base, make_chat_request("length test, warm up"))
    short, short_usage = first_token(base, make_chat_request("length test"))
    long, long_usage = first_token(base, with_system("length test"))
    tokens = long_usage["prompt_tokens"] - short_usage["prompt_tokens"]
    assert tokens > 2500
    expected = 0.100 * tokens / 1000  # prefill_ms_per_1k x the extra tokens
    assert short >= 0.050 - 0.005 and long >= 0.050 + expected - 0.005
    assert expected - LATE_S <= long - short <= expected + LATE_S
    scheduled = [e["first_token_ms"] for e in journal(load_server.url)[-2:]]
    assert scheduled[0] == pytest.approx(50 + 0.1 * short_usage["prompt_tokens"], abs=0.01)
    assert scheduled[1] == pytest.approx(50 + 0.1 * long_usage["prompt_tokens"], abs=0.01)


def test_ttft_grows_with_the_requests_in_flight(load_server):
    base = load_server.base_url
    first_token(base, make_chat_request("load test, warm up"))
    alone, _ = first_token(base, make_chat_request("load test alone"))
    body = make_chat_request("load test")
    clients = [httpx.Client(timeout=30) for _ in range(7)]  # made before: arrivals 15 ms apart
    burst = staggered([lambda c=c: first_token(base, body, c)[0] for c in clients], 0.015)
    # The k-th request in flight of 7 (capacity 7, 4x at capacity) waits 1 + 3(k-1)/6 x TTFT.
    entries = journal(load_server.url)[-7:]
    assert [e["load"]["in_flight"] for e in entries] == [1, 2, 3, 4, 5, 6, 7]
    factors = [1 + 3 * k / 6 for k in range(7)]
    assert [e["load"]["load_factor"] for e in entries] == pytest.approx(factors)
    assert [e["first_token_ms"] for e in entries] == pytest.approx([100 * f for f in factors])
    # At the client (threads may reach the server in another order than they started):
    # the burst's TTFTs are the formula's, one per place in the queue of arrivals; never
    # early, and late only by what a loaded machine adds.
    assert 0.095 <= alone <= 0.100 + LATE_S
    measured = sorted(burst)
    for got, due in zip(measured, [0.1 * f for f in factors], strict=True):
        assert due - 0.005 <= got <= due + LATE_S, (measured, factors)
    assert measured[-1] > measured[0] + 0.2


def test_a_repeated_long_prefix_is_faster_and_billed_as_cached_tokens(load_server):
    """On chat, the Responses API and Anthropic's Messages API alike."""
    client = openai.OpenAI(base_url=load_server.base_url, api_key="sk-test", max_retries=0)

    def chat(question: str) -> tuple[float, int, int]:
        started = time.monotonic()
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": LONG_SYSTEM},
                {"role": "user", "content": question},
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
        first = None
        usage = None
        for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.monotonic() - started
            if chunk.usage is not None:
                usage = chunk.usage
        assert first is not None and usage is not None
        details = usage.prompt_tokens_details
        assert details is not None and details.cached_tokens is not None
        return first, usage.prompt_tokens, details.cached_tokens

    cold, prompt, cached = chat("cache test: which lamp?")
    assert cached == 0
    warm, prompt_again, cached_again = chat("cache test: and which bulb for it?")
    assert cached_again > 0.95 * prompt_again and cached_again % 16 == 0
    assert warm < cold - 0.25  # 0.2 s less per 1000 tokens no longer prefilled

    other = "You write short poems about the sea and its ships. " * 300

    def respond(question: str) -> tuple[float, int]:
        started = time.monotonic()
        response = client.responses.create(
            model="gpt-4o-mini", instructions=other, input=f"cache test: {question}"
        )
        assert response.usage is not None
        return time.monotonic() - started, response.usage.input_tokens_details.cached_tokens

    cold_s, none_cached = respond("a poem")
    warm_s, some_cached = respond("another poem")
    assert none_cached == 0 and some_cached > 2000
    assert warm_s < cold_s - 0.25

    # Anthropic's Messages API bills cache reads apart: input_tokens is the uncached rest.
    anthropic_client = anthropic.Anthropic(
        base_url=load_server.url, api_key="sk-test", max_retries=0
    )
    stories = "You tell short stories about trains crossing the mountains. " * 300

    def ask(question: str) -> tuple[float, int, int]:
        started = time.monotonic()
        message = anthropic_client.messages.create(
            model="claude-3-5-haiku-20241022",
            max_tokens=64,
            system=stories,
            messages=[{"role": "user", "content": f"cache test: {question}"}],
        )
        usage = message.usage
        return time.monotonic() - started, usage.cache_read_input_tokens or 0, usage.input_tokens

    cold_s, none_read, cold_input = ask("a story")
    warm_s, read, warm_input = ask("another story")
    assert none_read == 0 and read > 2000 and warm_input < 100 < cold_input
    assert warm_s < cold_s - 0.25
    anthropic_client.close()

    httpx.post(f"{load_server.url}/__admin/reset", timeout=5)  # empties the prefix caches
    assert respond("a third poem")[1] == 0
    client.close()


def test_past_capacity_and_queue_the_refusal_has_retry_after(load_server):
    base = load_server.base_url
    body = make_chat_request("capacity 429")

    def post(client: httpx.Client) -> httpx.Response:
        with client:
            return client.post(
                f"{base}/chat/completions", json=body, headers={"authorization": "Bearer sk-test"}
            )

    clients = [httpx.Client(timeout=30) for _ in range(4)]
    answers = staggered([lambda c=c: post(c) for c in clients], 0.05)
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 429]
    (refused,) = [r for r in answers if r.status_code == 429]
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    entries = journal(load_server.url)[-4:]
    queued = [e for e in entries if e["status"] == 200 and e["load"]["queued_ms"] > 50]
    assert len(queued) == 1  # the third waited for a slot; its wait counts in its TTFT
    assert queued[0]["first_token_ms"] == pytest.approx(500 + queued[0]["load"]["queued_ms"])
    assert [e["source"] for e in entries].count("capacity") == 1

    client = openai.OpenAI(base_url=base, api_key="sk-test", max_retries=0)

    def sdk() -> Exception | None:
        try:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "capacity 503"}]
            )
        except openai.APIStatusError as exc:
            return exc
        return None

    outcomes = staggered([sdk, sdk], 0.05)
    client.close()
    (refusal,) = [o for o in outcomes if o is not None]  # one answered, one refused
    assert isinstance(refusal, openai.InternalServerError) and refusal.status_code == 503
    assert int(refusal.response.headers["retry-after"]) >= 1


def _seeded_run(server) -> list:  # noqa: ANN001
    base = server.base_url
    system = "You keep a lighthouse and answer in short sentences. " * 60

    def ask(i: int):  # noqa: ANN202
        client = httpx.Client(timeout=30)  # made before the request is sent

        def go() -> tuple:
            with client:
                response = client.post(
                    f"{base}/chat/completions",
                    json={**with_system(f"seeded question {i % 2}", system), "stream": True},
                    headers={"authorization": "Bearer sk-test"},
                )
            return response.status_code, response.headers["openai-processing-ms"], response.content

        return go

    answers = in_arrival_order([ask(i) for i in range(5)], server.url)  # all 5 overlap
    entries = journal(server.url)[-5:]
    figures = []
    for entry, answer in zip(entries, answers, strict=True):
        load = {k: v for k, v in entry["load"].items() if k != "queued_ms"}
        figures.append((load, entry["first_token_ms"], entry["usage"], answer))
    return figures


def test_the_same_arrivals_with_the_same_seed_give_the_same_figures(serve, tmp_path):
    rules = write_scenario(tmp_path, RULES)
    flags = ("--scenarios", str(rules), "--seed", "11", "--freeze-time", "1700000000")
    first = _seeded_run(serve(*flags))
    second = _seeded_run(serve(*flags))
    assert [f[0]["in_flight"] for f in first] == [1, 2, 3, 4, 5]
    assert [f[0]["cached_tokens"] > 0 for f in first] == [False, True, True, True, True]
    assert first == second
