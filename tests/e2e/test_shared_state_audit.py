"""Replicas on one Redis, seen by the official clients: what Redis refuses (out of memory,
an ACL) is a precise 503 or start-up error, never a 500 with a traceback."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import redis

from tests.conftest import RedisServer, RunningServer, start_server

from .helpers import failed_start

RULES = """\
version: 1
rules:
  - name: steps
    match: { last_user: { contains: "next step" } }
    sequence:
      - { content: "step 1" }
      - { content: "step 2" }
    then: cycle
  - name: slowly
    match: { last_user: { contains: "slowly" } }
    reply:
      content: "one two three four five six seven eight nine ten eleven twelve"
      latency: { ttft_ms: 50, inter_token_ms: 40 }
"""


@pytest.fixture(scope="module")
def replicas(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningServer]]:
    folder = tmp_path_factory.mktemp("audit")
    (folder / "rules.yaml").write_text(RULES)
    args = ("--scenarios", str(folder / "rules.yaml"), "--state", redis_server.url)
    servers = [start_server(*args, "--state-prefix", "audit:", tmp_path=folder) for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()
    for server in servers:
        assert "Traceback" not in server.log(), server.log()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def _openai(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def _anthropic(server: RunningServer) -> anthropic.Anthropic:
    # The version the API's documentation names (the SDK's own default may be newer).
    version = {"anthropic-version": "2023-06-01"}
    return anthropic.Anthropic(
        base_url=server.url, api_key="sk-ant", max_retries=0, default_headers=version
    )


def test_a_command_redis_refuses_is_a_503_naming_why(
    replicas: list[RunningServer], redis_client: redis.Redis
):
    """Redis out of memory (`maxmemory` under `noeviction`) refuses writes: a request that
    needs state got a 500 and a traceback in the log; now the documented 503."""
    first, second = replicas
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "next step"}]}
    policy = redis_client.config_get("maxmemory-policy")["maxmemory-policy"]
    redis_client.config_set("maxmemory-policy", "noeviction")
    redis_client.config_set("maxmemory", 1)
    try:
        with _openai(first) as client, pytest.raises(openai.InternalServerError) as refused:
            client.chat.completions.create(**ask)  # type: ignore[call-overload]
        assert refused.value.status_code == 503
        assert refused.value.response.headers["retry-after"] == "1"
        error = refused.value.response.json()["error"]
        assert error["code"] == "state_unavailable" and error["type"] == "server_error"
        assert "refused a command: command not allowed when used memory" in error["message"]
        with (
            _anthropic(second) as claude,
            pytest.raises(anthropic.APIStatusError) as also,
        ):
            claude.messages.create(
                model="claude-3-5-haiku-latest",
                max_tokens=10,
                messages=[{"role": "user", "content": "next step"}],
            )
        assert also.value.status_code == 503
        with _openai(second) as client, pytest.raises(openai.InternalServerError):
            client.conversations.create()
    finally:
        redis_client.config_set("maxmemory", 0)
        redis_client.config_set("maxmemory-policy", policy)
    with _openai(second) as client:
        answer = client.chat.completions.create(**ask)  # type: ignore[call-overload]
    assert answer.choices[0].message.content in ("step 1", "step 2")


def test_an_acl_that_does_not_cover_the_keys_is_a_startup_error(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
):
    redis_client.acl_setuser(
        "elsewhere", enabled=True, passwords=["+pw"], keys=["other:*"], commands=["+@all"]
    )
    url = f"redis://elsewhere:pw@127.0.0.1:{redis_server.port}/0"
    done = failed_start(tmp_path, "--state", url)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "redis://elsewhere:***@127.0.0.1:" in done.stderr and ":pw@" not in done.stderr
    assert "Redis refused: " in done.stderr and "no permissions" in done.stderr
    assert "starts with 'mockllm:'" in done.stderr


def test_workers_without_a_state_store_say_what_clients_store_is_per_process(
    monkeypatch: pytest.MonkeyPatch,
):
    """`--workers 2` alone: a response stored through one process is a 404 through the
    other (3 retrieves in 10, measured); the start-up warning named only sequences,
    credits, rate limits, the journal and run-time rules."""
    from click.testing import CliRunner

    import mockllm.cli as cli
    from mockllm.server import MockServer

    said: list[str] = []
    monkeypatch.setattr(MockServer, "run", lambda self: None)
    monkeypatch.setattr(cli.logger, "warning", lambda message, *args: said.append(message % args))
    result = CliRunner().invoke(cli.main, ["serve", "--workers", "2", "--port", "0"])
    assert result.exit_code == 0, result.output
    (warning,) = [s for s in said if "without --state" in s]
    assert "2 workers without --state: each process keeps its own state" in warning
    assert "responses, conversations, chat completions" in warning


def test_conversations_are_kept_as_stored_responses_are_the_last_ones_made(
    redis_server: RedisServer, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
):
    """docs/families.md: conversations are kept like stored responses, the last 10,000;
    they were all kept, in memory and on Redis, so a long load that makes conversations
    grew the store without end. Here the last 3 (the same code, a smaller ring)."""
    from mockllm import stored_conversations
    from mockllm.config import ServerConfig
    from mockllm.server import MockServer

    monkeypatch.setattr(stored_conversations, "LIMIT", 3, raising=False)
    config = ServerConfig(port=0, state=redis_server.url, state_prefix="conversations:")
    server = MockServer(config).start()
    try:
        item = {"type": "message", "role": "user", "content": "hi"}
        with openai.OpenAI(base_url=server.base_url, api_key="sk", max_retries=0) as client:
            made = [client.conversations.create(items=[item]).id for _ in range(5)]
            assert len(set(made)) == 5
            for gone in made[:2]:
                with pytest.raises(openai.NotFoundError):
                    client.conversations.retrieve(gone)
            assert [client.conversations.retrieve(c).id for c in made[2:]] == made[2:]
            client.conversations.delete(made[2])
            made.append(client.conversations.create().id)
            assert [client.conversations.retrieve(c).id for c in made[3:]] == made[3:]
        kept = list(redis_client.scan_iter("conversations:text:conversation:*"))
        assert len(kept) == 3
    finally:
        server.stop()


def test_a_rule_added_on_one_replica_answers_on_the_others_once_the_post_returns(
    replicas: list[RunningServer],
):
    """The other processes noticed a change within a quarter of a second, so the request a
    test sent right after POST /__admin/rules went, through a balancer, to a replica that
    did not have the rule yet (20 in 20, measured on three replicas)."""
    first, second = replicas
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "added?"}]}
    rule = "version: 1\nrules:\n  - name: added\n    match: { last_user: { contains: added } }\n"
    with httpx.Client() as http, _openai(second) as client:
        for i in range(2):
            document = rule + f"    reply: {{ content: 'added {i}' }}\n"
            headers = {"content-type": "application/yaml"}
            posted = http.post(f"{first.url}/__admin/rules", content=document, headers=headers)
            assert posted.status_code == 201, posted.text
            answer = client.chat.completions.create(**ask)  # type: ignore[call-overload]
            assert answer.choices[0].message.content == f"added {i}"
            assert http.delete(f"{second.url}/__admin/rules").status_code == 200
            with _openai(first) as other:
                answer = other.chat.completions.create(**ask)  # type: ignore[call-overload]
            assert not str(answer.choices[0].message.content).startswith("added")


def test_an_inspector_page_is_cleared_by_a_reset_made_through_another_replica(
    replicas: list[RunningServer],
):
    """A page open on one replica kept showing every exchange after POST /__admin/reset
    through another (the journal was empty; its page said so, this one never did)."""
    from tests.feed_reader import FeedReader

    first, second = replicas
    reader = FeedReader(f"{first.url}/__admin/feed")
    try:
        reader.wait(lambda name, _: name == "snapshot")
        with _openai(second) as client:
            answered = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )
        exchange_id = answered.headers["x-request-id"]
        reader.wait(lambda name, data: name == "rows" and exchange_id in {r["id"] for r in data})
        assert httpx.post(f"{second.url}/__admin/reset").status_code == 200
        reader.wait(lambda name, _: name == "cleared", timeout=3)
    finally:
        reader.close()


def test_a_background_stream_runs_on_while_redis_is_away(
    replicas: list[RunningServer], redis_client: redis.Redis
):
    """A background response's stream looks for a cancellation between writes; when Redis
    dropped the connection the look raised, the stream was cut (the SDK's 'Connection
    error.') and the log had a traceback."""
    first, second = replicas
    with _openai(first) as client:
        stream = client.responses.create(
            model="gpt-4o-mini", input="slowly", background=True, stream=True
        )
        seen = []
        for event in stream:
            seen.append(event.type)
            if len(seen) == 6:
                redis_client.client_kill_filter(_type="normal")  # every client but this one
        assert seen[-1] == "response.completed", seen
    # Both replicas are back on Redis by themselves.
    deadline = time.monotonic() + 5
    for server in replicas:
        while httpx.get(f"{server.url}/__admin/requests").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_database_that_is_not_a_number_is_refused(monkeypatch: pytest.MonkeyPatch):
    """`redis://HOST:PORT/stage` served from database 0, as every server given no number
    does, and so shared its state; the CLI's table says DB is a number."""
    from click.testing import CliRunner

    import mockllm.cli as cli
    from mockllm.server import MockServer

    monkeypatch.setattr(MockServer, "run", lambda self: None)
    url = "redis://:s3cret@127.0.0.1:1/stage"
    result = CliRunner().invoke(cli.main, ["serve", "--port", "0", "--state", url])
    assert result.exit_code == 1, result.output
    assert "the database is a number (redis://HOST:PORT/DB), found 'stage'" in result.output
    assert "redis://:***@127.0.0.1:1/stage" in result.output and "s3cret" not in result.output


@pytest.mark.parametrize(
    ("login", "said"),
    [
        ("", "Redis asks for a password and the URL gives none"),
        (":wrong@", "Redis refused the login: invalid username-password pair"),
    ],
)
def test_a_redis_that_asks_for_a_password_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, login: str, said: str
):
    """A password-protected Redis and a URL without one (or a wrong one) was 'cannot reach
    Redis: HELLO must be called with the client already authenticated, …': it was
    reached."""
    from click.testing import CliRunner

    import mockllm.cli as cli
    from mockllm.server import MockServer
    from tests.conftest import free_port, redis_binary

    port = free_port()
    locked = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--requirepass", "s3cret", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                with redis.Redis(port=port, password="s3cret") as probe:
                    probe.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        monkeypatch.setattr(MockServer, "run", lambda self: None)
        url = f"redis://{login}127.0.0.1:{port}/0"
        result = CliRunner().invoke(cli.main, ["serve", "--port", "0", "--state", url])
    finally:
        locked.terminate()
        locked.wait(5)
    assert result.exit_code == 1, result.output
    assert said in result.output and "cannot reach" not in result.output


def test_a_key_whose_figures_change_in_the_keys_file_starts_again_from_them(
    redis_server: RedisServer, tmp_path: Path
):
    """docs/gateways.md: a key whose credits, rpm or tpm changed starts again from its new
    figures, the others keep their balance. The balance and buckets carried on: 10 credits
    with 9 spent, then 20 in the file, showed total 20, used 19, remaining 1."""
    keys = tmp_path / "keys.yaml"
    figures = "  - { key: ak_a, credits: 10, rpm: 5 }\n  - { key: ak_b, credits: 10 }\n"
    prices = 'prices:\n  "*": { prompt: 0, completion: 1000 }\n'
    keys.write_text("keys:\n" + figures + prices)
    (tmp_path / "rules.yaml").write_text(
        "version: 1\nrules:\n  - name: three\n    reply: { content: one two three }\n"
    )
    server = start_server(
        "--profile", "ainative", "--keys", str(keys), "--scenarios", str(tmp_path / "rules.yaml"),
        "--state", redis_server.url, "--state-prefix", "figures:", tmp_path=tmp_path,
    )  # fmt: skip

    def ask(key: str) -> int:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        path = "/v1/public/chat/completions"
        return httpx.post(server.url + path, json=body, headers={"x-api-key": key}).status_code

    def balance(key: str) -> dict[str, float]:
        path = "/api/v1/public/credits/balance"
        return dict(httpx.get(server.url + path, headers={"x-api-key": key}).json())

    try:
        assert [ask("ak_a") for _ in range(3)] + [ask("ak_b")] == [200] * 4
        keys.write_text("keys:\n" + figures.replace("10, rpm: 5", "20, rpm: 4", 1) + prices)
        deadline = time.monotonic() + 5
        while balance("ak_a")["total_credits"] != 20:
            assert time.monotonic() < deadline, "the keys file was not read again"
            time.sleep(0.05)
        assert balance("ak_a") == {"total_credits": 20, "used_credits": 0, "remaining_credits": 20}
        assert balance("ak_b")["remaining_credits"] == 7  # unchanged: carries on
        assert [ask("ak_a") for _ in range(5)] == [200] * 4 + [429]  # rpm 4, from full
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log()
