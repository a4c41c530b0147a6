"""Redis killed under load and started again: requests that need state get the documented
503 meanwhile, the others are answered, no traceback is logged, the server recovers by
itself, and the balance adds up to the last credit afterwards."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from mockllm.tokens import count_tokens
from tests.conftest import RedisServer, start_server
from tests.e2e.test_shared_state import BALANCE, CHAT, PAID_REPLY, SCENARIO, chat_body

START_CREDITS = 1_000_000
LOAD_S = 4.0
KILL_AT_S = 1.0
RESTART_AT_S = 2.5


async def _load(urls: list[str], redis: RedisServer) -> list[tuple[str, int, dict[str, object]]]:
    results: list[tuple[str, int, dict[str, object]]] = []
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=50)
    kinds = [("paid", "ak_paid", "paid")] * 5 + [("steps", "ak_free", "next step")] * 3
    kinds += [("stateless", "ak_free", "hello")] * 4
    started = time.monotonic()
    killed = restarted = False
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(i: int, kind: str, key: str, text: str) -> None:
            response = await client.post(
                urls[i % len(urls)] + CHAT, json=chat_body(text), headers={"x-api-key": key}
            )
            body = response.json()
            results.append((kind, response.status_code, body))

        round_ = 0
        while (elapsed := time.monotonic() - started) < LOAD_S:
            if elapsed >= KILL_AT_S and not killed:
                redis.kill()
                killed = True
            if elapsed >= RESTART_AT_S and not restarted:
                await asyncio.to_thread(redis.start)
                restarted = True
            await asyncio.gather(*(one(round_ + i, *k) for i, k in enumerate(kinds)))
            round_ += 1
    return results


def test_redis_killed_and_restarted_under_load(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
):
    redis = RedisServer(tmp_path_factory.mktemp("redis-outage"), durable=True).start()
    price = count_tokens(PAID_REPLY)  # one credit per completion token
    (tmp_path / "rules.yaml").write_text(SCENARIO)
    (tmp_path / "keys.yaml").write_text(
        "keys:\n  - key: ak_free\n  - key: ak_paid\n"
        f"    credits: {START_CREDITS}\n"
        'prices:\n  "*": { prompt: 0, completion: 1000 }\n'
    )
    server = start_server(
        "--profile", "ainative",
        "--keys", str(tmp_path / "keys.yaml"),
        "--scenarios", str(tmp_path / "rules.yaml"),
        "--state", redis.url,
        "--workers", "2",
        "--ttft-ms", "20",  # answers in flight when Redis goes
        tmp_path=tmp_path,
    )  # fmt: skip
    try:
        results = asyncio.run(_load([server.url], redis))
        statuses = Counter((kind, status) for kind, status, _ in results)
        assert {status for _, status in statuses} <= {200, 503}, statuses
        assert statuses[("stateless", 503)] == 0, statuses  # answered all along
        assert statuses[("paid", 503)] + statuses[("steps", 503)] > 0, "never saw the outage"
        for _, status, body in results:
            if status == 503:
                error = body["error"]
                assert isinstance(error, dict) and error["code"] == "state_unavailable"
                assert set(error) == {"message", "type", "param", "code"}
                assert "127.0.0.1" in str(error["message"])

        # Recovered by itself: stateful requests are answered again.
        deadline = time.monotonic() + 10
        while True:
            response = httpx.post(
                server.url + CHAT, json=chat_body("paid"), headers={"x-api-key": "ak_paid"}
            )
            if response.status_code == 200:
                break
            assert response.status_code == 503 and time.monotonic() < deadline, response.text
            time.sleep(0.1)
        paid = statuses[("paid", 200)] + 1
        balance = httpx.get(server.url + BALANCE, headers={"x-api-key": "ak_paid"}).json()
        assert balance["remaining_credits"] == START_CREDITS - paid * price, (paid, balance)
    finally:
        assert server.stop() == 0, server.log()
        redis.stop()
    log = server.log()
    assert "Traceback" not in log, log
    assert "unreachable" in log and "reachable again" in log


def test_a_stored_chat_completion_is_answered_while_redis_is_away_and_kept_once_back(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
):
    """`store: true` keeps the completion as a stored response is kept: written once Redis
    is back, never failing the answer (it was a 500, with a traceback in the log)."""
    redis = RedisServer(tmp_path_factory.mktemp("redis-stored"), durable=True).start()
    server = start_server("--state", redis.url, tmp_path=tmp_path)
    body = {"model": "gpt-4o-mini", "store": True, "messages": [{"role": "user", "content": "hi"}]}
    try:
        redis.kill()
        answered = [httpx.post(server.base_url + "/chat/completions", json=body) for _ in range(2)]
        assert [r.status_code for r in answered] == [200, 200], answered[-1].text
        completion_id = answered[0].json()["id"]
        assert answered[1].json()["id"] == completion_id
        redis.start()
        deadline = time.monotonic() + 10
        while True:
            listed = httpx.get(server.base_url + "/chat/completions")
            if listed.status_code == 200:
                break
            assert listed.status_code == 503 and time.monotonic() < deadline, listed.text
            time.sleep(0.1)
        assert [c["id"] for c in listed.json()["data"]] == [completion_id]
        kept = httpx.get(f"{server.base_url}/chat/completions/{completion_id}")
        # The same request is the same answer (one id): the later one is what is kept.
        assert kept.status_code == 200 and kept.json() == {**answered[-1].json(), "metadata": {}}
    finally:
        assert server.stop() == 0, server.log()
        redis.stop()
    assert "Traceback" not in server.log(), server.log()
