"""Several processes, one state (`--state redis://…`): `--workers 2`, `--workers 4`, and two
`mockllm serve` processes on two ports sharing one real redis-server answer as one server.

Every request opens a new connection, so the kernel spreads them over the workers; the
journal's request ids carry the number of the process that answered, which shows that
more than one did.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockllm.tokens import count_tokens
from tests.conftest import RedisServer, RunningServer, start_server

from .helpers import failed_start

PAID_REPLY = "one two three four five"
PAID_ANSWERS = 37
STEPS = 10
CHAT = "/v1/public/chat/completions"
BALANCE = "/api/v1/public/credits/balance"
MODEL = "claude-3-5-sonnet-20241022"

STEP_LINES = "".join(f'      - {{ content: "step {i}" }}\n' for i in range(1, STEPS + 1))
SCENARIO = (
    "version: 1\n"
    "rules:\n"
    "  - name: steps\n"
    '    match: { last_user: { contains: "next step" } }\n'
    "    sequence:\n" + STEP_LINES + "    then: cycle\n"
    "  - name: steps-per-key\n"
    '    match: { last_user: { contains: "per key" } }\n'
    "    sequence_scope: api_key\n"
    "    sequence:\n" + STEP_LINES + "  - name: paid\n"
    '    match: { last_user: { contains: "paid" } }\n'
    f'    reply: {{ content: "{PAID_REPLY}" }}\n'
)


def keys_yaml() -> str:
    # One credit per completion token: the balance pays for exactly PAID_ANSWERS answers.
    return textwrap.dedent(
        f"""
        keys:
          - key: ak_free
          - key: ak_paid
            credits: {PAID_ANSWERS * count_tokens(PAID_REPLY)}
          - key: ak_rpm
            rpm: 60
        prices:
          "*": {{ prompt: 0, completion: 1000 }}
        """
    )


@dataclass
class Cluster:
    """One server made of several processes: the URLs that reach it (one per process when
    they listen on ports of their own)."""

    urls: list[str]
    servers: list[RunningServer]
    processes: int

    def url(self, i: int) -> str:
        return self.urls[i % len(self.urls)]

    def logs(self) -> str:
        return "\n".join(s.log() for s in self.servers)


_prefixes = itertools.count()


def start_cluster(kind: str, redis: RedisServer, tmp_path: Path, *extra: str) -> Cluster:
    (tmp_path / "rules.yaml").write_text(SCENARIO)
    (tmp_path / "keys.yaml").write_text(keys_yaml())
    args = [
        "--profile", "ainative",
        "--keys", str(tmp_path / "keys.yaml"),
        "--scenarios", str(tmp_path / "rules.yaml"),
        "--state", redis.url,
        "--state-prefix", f"cluster{next(_prefixes)}:",
        *extra,
    ]  # fmt: skip
    if kind == "two-servers":
        servers = [start_server(*args, tmp_path=tmp_path) for _ in range(2)]
        return Cluster([s.url for s in servers], servers, 2)
    workers = int(kind.removeprefix("workers"))
    server = start_server(*args, "--workers", str(workers), tmp_path=tmp_path)
    return Cluster([server.url], [server], workers)


@pytest.fixture(scope="module", params=["workers2", "workers4", "two-servers"])
def cluster(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    started = start_cluster(request.param, redis_server, tmp_path_factory.mktemp("cluster"))
    try:
        wait_for_every_process(started)
        yield started
    finally:
        codes = [server.stop() for server in started.servers]
    assert codes == [0] * len(codes), started.logs()
    assert "Traceback" not in started.logs(), started.logs()


def chat_body(text: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}]}


async def _send_all(cluster: Cluster, key: str, texts: list[str]) -> list[httpx.Response]:
    # No keep-alive: every request a new connection, spread over the processes.
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=100)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        return await asyncio.gather(
            *(
                client.post(cluster.url(i) + CHAT, json=chat_body(t), headers={"x-api-key": key})
                for i, t in enumerate(texts)
            )
        )


def send_all(cluster: Cluster, key: str, texts: list[str]) -> list[httpx.Response]:
    """POST every text at once, spread over the cluster's processes."""
    return asyncio.run(_send_all(cluster, key, texts))


def content(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def reset(cluster: Cluster, i: int = 0) -> None:
    assert httpx.post(cluster.url(i) + "/__admin/reset").status_code == 200


def journal(cluster: Cluster, i: int = 0) -> list[dict[str, Any]]:
    response = httpx.get(cluster.url(i) + "/__admin/requests")
    assert response.status_code == 200, response.text
    return list(response.json()["requests"])


def answering_processes(entries: list[dict[str, Any]]) -> set[int]:
    # req_<16 hex: seed><16 hex: count>, the count starting at the process's number << 40.
    return {int(e["id"][-16:], 16) >> 40 for e in entries}


def wait_for_every_process(cluster: Cluster, timeout_s: float = 60) -> None:
    """Until each process has answered a request: workers start one after the other, and
    the first healthy one would otherwise take every connection for a while."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as http:
        i = 0
        while len(seen) < cluster.processes:
            assert time.monotonic() < deadline, f"only processes {seen} answered"
            response = http.post(
                cluster.url(i) + CHAT, json=chat_body("hello"), headers={"x-api-key": "ak_free"}
            )
            seen.add(int(response.headers["x-request-id"][-16:], 16) >> 40)
            i += 1
    reset(cluster)


def test_a_sequence_gives_each_step_exactly_once_per_cycle(cluster: Cluster):
    reset(cluster)
    texts = [f"next step #{i}" for i in range(STEPS * 10)]
    answers = Counter(content(r) for r in send_all(cluster, "ak_free", texts))
    assert answers == {f"step {i}": 10 for i in range(1, STEPS + 1)}

    entries = journal(cluster, 1)
    assert len(entries) == len(texts)
    assert len({e["id"] for e in entries}) == len(texts)  # each exchange once
    sent = sorted(e["request"]["messages"][0]["content"] for e in entries)
    assert sent == sorted(texts)
    assert len(answering_processes(entries)) > 1, "one process answered everything"

    # One call after the other, on every process in turn: the steps in order, and the
    # journal in the order of the calls.
    reset(cluster, 1)
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as http:
        got = [
            content(
                http.post(
                    cluster.url(i) + CHAT,
                    json=chat_body(f"next step, call {i}"),
                    headers={"x-api-key": "ak_free"},
                )
            )
            for i in range(STEPS)
        ]
    assert got == [f"step {i}" for i in range(1, STEPS + 1)]
    called = [e["request"]["messages"][0]["content"] for e in journal(cluster)]
    assert called == [f"next step, call {i}" for i in range(STEPS)]


def test_a_balance_pays_for_exactly_its_answers(cluster: Cluster):
    reset(cluster)
    responses = send_all(cluster, "ak_paid", ["paid"] * 100)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: PAID_ANSWERS, 402: 100 - PAID_ANSWERS}, statuses
    assert {content(r) for r in responses if r.status_code == 200} == {PAID_REPLY}
    refused = next(r for r in responses if r.status_code == 402).json()["error"]
    assert refused["code"] == "insufficient_credits"
    for i in range(len(cluster.urls)):
        balance = httpx.get(cluster.url(i) + BALANCE, headers={"x-api-key": "ak_paid"})
        assert balance.json()["remaining_credits"] == 0
    reset(cluster)
    assert content(send_all(cluster, "ak_paid", ["paid"])[0]) == PAID_REPLY


def test_requests_per_minute_hold_across_processes(cluster: Cluster):
    reset(cluster)
    started = time.monotonic()
    responses = send_all(cluster, "ak_rpm", [f"hello {i}" for i in range(100)])
    elapsed = time.monotonic() - started
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(admitted) + len(refused) == 100
    # The bucket refills one request a second: exactly 60 when the burst took under 1 s.
    assert 60 <= len(admitted) <= 60 + int(elapsed), (len(admitted), elapsed)
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in admitted)
    assert remaining[0] == 0 and remaining[-1] <= 59
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert all(r.headers["x-ratelimit-remaining-requests"] == "0" for r in refused)


def test_rules_added_on_one_process_answer_on_all_and_reset_resets_all(cluster: Cluster):
    document = "version: 1\nrules:\n  - name: added\n    match: { last_user: { contains: added } }\n    reply: { content: from the admin API }\n"  # noqa: E501
    posted = httpx.post(
        cluster.url(0) + "/__admin/rules",
        content=document,
        headers={"content-type": "application/yaml"},
    )
    assert posted.status_code == 201, posted.text
    texts = [f"added {i}" for i in range(20)]
    assert {content(r) for r in send_all(cluster, "ak_free", texts)} == {"from the admin API"}
    listed = httpx.get(cluster.url(1) + "/__admin/rules").json()["rules"]
    assert [r["name"] for r in listed if r["runtime"]] == ["added"]

    send_all(cluster, "ak_free", ["next step"] * 3)
    assert httpx.post(cluster.url(1) + "/__admin/reset").status_code == 200
    assert journal(cluster, 0) == []
    assert {content(r) for r in send_all(cluster, "ak_free", ["next step"])} == {"step 1"}

    assert httpx.delete(cluster.url(1) + "/__admin/rules").status_code == 200
    assert "from the admin API" not in {content(r) for r in send_all(cluster, "ak_free", texts)}


def test_rules_added_at_once_on_several_processes_are_all_kept(cluster: Cluster):
    """Each process adds its rules to the stored ones in one atomic step: none is lost when
    others add theirs at the same moment (each used to write back the list it had read)."""

    def document(i: int) -> str:
        return f"version: 1\nrules:\n  - name: at-once-{i}\n    reply: {{ content: '{i}' }}\n"

    async def post_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_keepalive_connections=0, max_connections=100)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        cluster.url(i) + "/__admin/rules",
                        content=document(i),
                        headers={"content-type": "application/yaml"},
                    )
                    for i in range(30)
                )
            )

    try:
        assert {r.status_code for r in asyncio.run(post_all())} == {201}
        wanted = {f"at-once-{i}" for i in range(30)}
        for i in range(cluster.processes * 2):
            listed = httpx.get(cluster.url(i) + "/__admin/rules").json()["rules"]
            assert {r["name"] for r in listed if r["runtime"]} == wanted
    finally:
        assert httpx.delete(cluster.url(0) + "/__admin/rules").status_code == 200


def test_a_reset_keeps_the_state_of_a_prefix_that_starts_with_its_own(
    redis_server: RedisServer, tmp_path: Path
):
    """Servers under `PREFIX` and `PREFIX` + `ci:` are apart: a reset of the first used to
    delete every key starting with its prefix, the other server's too."""
    (tmp_path / "rules.yaml").write_text(SCENARIO)
    prefix = f"nested{next(_prefixes)}:"
    args = ["--profile", "ainative", "--scenarios", str(tmp_path / "rules.yaml")]
    servers = [
        start_server(*args, "--state", redis_server.url, "--state-prefix", name, tmp_path=tmp_path)
        for name in (prefix, prefix + "ci:")
    ]
    try:
        outer, inner = (Cluster([s.url], [s], 1) for s in servers)
        assert content(send_all(inner, "ak_free", ["next step"])[0]) == "step 1"
        assert content(send_all(outer, "ak_free", ["next step"])[0]) == "step 1"
        reset(outer)
        assert content(send_all(outer, "ak_free", ["next step"])[0]) == "step 1"
        assert content(send_all(inner, "ak_free", ["next step"])[0]) == "step 2"
        assert len(journal(inner)) == 2
    finally:
        for server in servers:
            server.stop()


def test_redis_unreachable_at_start_is_an_error_naming_it(tmp_path: Path):
    from tests.conftest import free_port

    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    done = failed_start(tmp_path, "--state", url)
    assert done.returncode == 1, done.stderr
    assert "redis://:***@127.0.0.1:" in done.stderr and "cannot reach Redis" in done.stderr
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr


def test_the_pytest_plugins_server_shares_state_with_other_processes(
    redis_server: RedisServer, tmp_path: Path
):
    """A session server with `ServerConfig(state=...)` (as `mockllm_config` gives it): rules
    a test adds answer on another process, and its journal holds that process's exchanges."""
    from mockllm.config import ServerConfig
    from mockllm.pytest_plugin import MockLLM
    from mockllm.server import MockServer

    prefix = f"plugin{next(_prefixes)}:"
    config = ServerConfig(port=0, state=redis_server.url, state_prefix=prefix)
    session = MockServer(config).start()
    other = start_server("--state", redis_server.url, "--state-prefix", prefix, tmp_path=tmp_path)
    try:
        handle = MockLLM(session)
        handle.reset()
        handle.add_rules({"name": "from-test", "reply": {"content": "added by the test"}})
        # `add_rules` returns once every process sharing the store has the rule.
        answer = httpx.post(other.base_url + "/chat/completions", json=chat_body("hi"))
        assert content(answer) == "added by the test"
        handle.assert_called(rule="from-test")
        handle.reset()
        assert handle.requests == []
        assert content(httpx.post(other.base_url + "/chat/completions", json=chat_body("hi"))) != (
            "added by the test"
        )
    finally:
        other.stop()
        session.stop()


def run_batch(cluster: Cluster, key: str, text: str, count: int) -> dict[str, Any]:
    """A batch of `count` chat requests saying `text`, uploaded through the first process,
    made through the second and read through the first again (the batch as it ended)."""
    headers = {"x-api-key": key}
    line = {"method": "POST", "url": "/v1/chat/completions", "body": chat_body(text)}
    lines = "".join(json.dumps({"custom_id": f"r{i}", **line}) + "\n" for i in range(count))
    upload = httpx.post(
        cluster.url(0) + "/v1/files",
        headers=headers,
        files={"file": ("in.jsonl", lines.encode())},
        data={"purpose": "batch"},
    )
    assert upload.status_code == 200, upload.text
    made = httpx.post(
        cluster.url(1) + "/v1/batches",
        headers=headers,
        json={
            "input_file_id": upload.json()["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
    )
    assert made.status_code == 200, made.text
    done = httpx.get(cluster.url(0) + f"/v1/batches/{made.json()['id']}", headers=headers)
    return dict(done.json())


def test_a_batch_made_through_one_process_is_read_through_another_and_paid_for(
    cluster: Cluster,
):
    """A batch's files and state are in the shared store, and its requests pay from the
    key's balance as the same requests sent one by one would: PAID_ANSWERS of them."""
    reset(cluster)
    done = run_batch(cluster, "ak_paid", "paid", 40)
    assert done["status"] == "completed", done
    assert done["request_counts"] == {"total": 40, "completed": PAID_ANSWERS, "failed": 3}
    errors = httpx.get(
        cluster.url(1) + f"/v1/files/{done['error_file_id']}/content",
        headers={"x-api-key": "ak_paid"},
    )
    assert [json.loads(e)["response"]["status_code"] for e in errors.text.splitlines()] == [402] * 3


def test_a_batchs_requests_are_not_held_to_the_keys_rate_limit(cluster: Cluster):
    """The Batch API's limits are its own (OpenAI's batch guide): 100 requests in a batch
    of a key allowed 60 a minute are all answered, and leave its minute untouched."""
    reset(cluster)
    done = run_batch(cluster, "ak_rpm", "hello", 100)
    assert done["request_counts"] == {"total": 100, "completed": 100, "failed": 0}, done
    answered = send_all(cluster, "ak_rpm", ["hello"])[0]
    assert answered.headers["x-ratelimit-remaining-requests"] == "59"


def test_no_api_key_is_written_in_redis(cluster: Cluster, redis_server: RedisServer):
    """Redis keeps its data on disk (and anyone who can list it sees the names): the keys'
    balances and buckets are named by a digest, and nothing stored holds a key."""
    import redis

    reset(cluster)
    send_all(cluster, "ak_paid", ["paid"] * 3)
    send_all(cluster, "ak_rpm", ["paid"] * 2)
    # A sequence counted per key keeps a counter per key, named by the key's digest.
    assert [content(r) for r in send_all(cluster, "ak_paid", ["per key"])] == ["step 1"]
    assert [content(r) for r in send_all(cluster, "ak_rpm", ["per key"])] == ["step 1"]
    client = redis.Redis.from_url(redis_server.url)
    try:
        stored = []
        for name in client.scan_iter(count=1000):
            kind = client.type(name)
            if kind == b"string":
                stored.append(client.get(name) or b"")
            elif kind == b"hash":
                stored += [b"%s=%s" % pair for pair in client.hgetall(name).items()]
            elif kind == b"list":
                stored += client.lrange(name, 0, -1)
            elif kind == b"zset":
                stored += [member for member, _ in client.zrange(name, 0, -1, withscores=True)]
            elif kind == b"set":
                stored += list(client.smembers(name))
            stored.append(name)
    finally:
        client.close()
    assert stored
    for secret in (b"ak_paid", b"ak_rpm"):
        assert not [s for s in stored if secret in s], secret
