"""The inspector of one process sees what another answered when they share their state
(`--state redis://…`): the feed tails the shared journal while a page is open."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RedisServer, RunningServer, start_server
from tests.feed_reader import FeedReader

RULES = """\
version: 1
rules:
  - name: hello
    match: { last_user: { contains: hello } }
    reply: { content: "Hello from a shared server." }
"""


@pytest.fixture(scope="module")
def pair(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningServer]]:
    folder = tmp_path_factory.mktemp("shared-inspector")
    (folder / "rules.yaml").write_text(RULES)
    args = (
        "--scenarios", str(folder / "rules.yaml"),
        "--state", redis_server.url, "--state-prefix", "inspector:",
    )  # fmt: skip
    servers = [start_server(*args, tmp_path=folder) for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


def test_a_page_on_one_process_shows_what_another_answered(pair: list[RunningServer]):
    first, second = pair
    reader = FeedReader(f"{first.url}/__admin/feed")
    try:
        hello = reader.wait(lambda name, _: name == "hello")
        assert hello["shared"] is True and hello["note"] is None
        reader.wait(lambda name, _: name == "snapshot")
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
        answered = httpx.post(f"{second.base_url}/chat/completions", json=body, timeout=10)
        assert answered.status_code == 200
        exchange_id = answered.headers["x-request-id"]
        rows = reader.wait(
            lambda name, data: name == "rows" and any(r["id"] == exchange_id for r in data),
            timeout=5,
        )
        row = next(r for r in rows if r["id"] == exchange_id)
        assert row["here"] is False and row["by"].startswith("hello (")
        detail = httpx.get(f"{first.url}/__admin/requests/{exchange_id}").json()
        assert detail["request"]["body"] == body
        assert "Another process answered" in detail["note"]
        state = httpx.get(f"{first.url}/__admin/state").json()
        assert state["process"]["shared"] is True
        assert {r["name"]: r["answered"] for r in state["rules"]}["hello"] >= 1
    finally:
        reader.close()


def test_a_process_shows_its_own_answers_with_no_page_open(pair: list[RunningServer]):
    first, second = pair
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello again"}]}
    answered = httpx.post(
        f"{first.base_url}/chat/completions",
        json=body,
        headers={"authorization": "Bearer sk-own-1234567890"},
        timeout=10,
    )
    assert answered.status_code == 200
    exchange_id = answered.headers["x-request-id"]
    mine = httpx.get(f"{first.url}/__admin/requests/{exchange_id}").json()
    assert mine["row"]["here"] is True and mine["note"] is None
    assert mine["answer"]["kind"] != "elsewhere"
    shown = str(mine["request"]["headers"])
    assert "authorization" in shown and "sk-own-1234567890" not in shown  # masked
    theirs = httpx.get(f"{second.url}/__admin/requests/{exchange_id}").json()
    assert theirs["row"]["here"] is False and "Another process answered" in theirs["note"]
