"""The inspector's live feed: rows as exchanges happen, timing noted only while a page is
open, nothing added to an exchange while none is, and a server that stops ends it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockllm.config import ServerConfig
from mockllm.feed import QUEUE_BYTES, Feed, SharedTail, Subscription, sse
from mockllm.journal import Exchange, Follower, Journal
from mockllm.server import MockServer
from mockllm.state import MemoryStore
from tests.feed_reader import FeedReader

RULES = """\
version: 1
rules:
  - name: paced
    match: { model: paced-model }
    reply: { content: "one two three four five", latency: { ttft_ms: 60, inter_token_ms: 15 } }
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MockServer]:
    scenario = tmp_path / "paced.yaml"
    scenario.write_text(RULES)
    running = MockServer(ServerConfig(port=0, scenarios=(scenario,), reload=False)).start()
    yield running
    running.stop()


def post(
    server: MockServer, model: str, content: str = "hi", stream: bool = True
) -> httpx.Response:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10)


def row_of(exchange_id: str, done: bool) -> Callable[[str, Any], bool]:
    return lambda name, data: (
        name == "rows" and any(r["id"] == exchange_id and r["done"] is done for r in data)
    )


def test_rows_arrive_as_exchanges_happen_and_their_timing_is_measured(server: MockServer):
    reader = FeedReader(f"{server.url}/__admin/feed")
    try:
        hello = reader.wait(lambda name, _: name == "hello")
        assert hello["shared"] is False and "this process only" in hello["note"]
        reader.wait(lambda name, data: name == "snapshot" and data == [])
        answer = post(server, "paced-model")
        answered = time.monotonic()
        exchange_id = answer.headers["x-request-id"]
        reader.wait(row_of(exchange_id, True), timeout=2)
        assert time.monotonic() - answered < 1.0
        sent_rows = [r for name, rows in reader.events if name == "rows" for r in rows]
        mine = [r for r in sent_rows if r["id"] == exchange_id]
        # The whole row once; when the page had it before the end, the end sends only
        # what changed.
        assert mine[0]["by"] == "paced (paced.yaml:3)" and mine[0]["model"] == "paced-model"
        assert all(r.get("part") for r in mine[1:]) and "by" not in mine[-1] or len(mine) == 1
        row = {k: v for r in mine for k, v in r.items()}
        assert row["done"] is True and row["ttft_measured"] is True
        assert 59 <= row["ttft_ms"] < 1000
        detail = httpx.get(f"{server.url}/__admin/requests/{exchange_id}").json()
        assert dict(detail["sent_headers"])["x-request-id"] == exchange_id
        timing = detail["timing"]
        assert timing["measured"] is True
        assert timing["pace"] == {
            "ttft_ms": 60.0,
            "inter_token_ms": 15.0,
            "jitter_ms": 0.0,
            "from": "paced.yaml#paced",
        }
        # Every event was sent, none before it was due.
        assert None not in timing["sent_ms"]
        assert all(s >= d - 1 for s, d in zip(timing["sent_ms"], timing["due_ms"], strict=True))
    finally:
        reader.close()


def test_an_exchange_seen_while_no_page_is_open_gets_nothing_more(server: MockServer):
    journal = server.app.engine.journal
    assert journal is not None
    post(server, "paced-model")
    [before] = journal.kept()
    assert before.ticks is None  # no page: the writer noted nothing
    assert "add" not in vars(journal) and "finish" not in vars(journal)
    reader = FeedReader(f"{server.url}/__admin/feed")
    reader.wait(lambda name, data: name == "snapshot" and len(data) == 1)
    assert vars(journal)["add"].__func__ is Journal._add_followed
    reader.close()
    deadline = time.monotonic() + 5
    while "add" in vars(journal) and time.monotonic() < deadline:
        time.sleep(0.02)
    # The page left: the journal's own methods again, and nothing kept for the feed.
    assert "add" not in vars(journal) and "finish" not in vars(journal)
    assert server.app.feed.subscribers == []


def test_a_clear_empties_every_page(server: MockServer):
    post(server, "paced-model", stream=False)
    reader = FeedReader(f"{server.url}/__admin/feed")
    try:
        reader.wait(lambda name, data: name == "snapshot" and len(data) == 1)
        assert httpx.delete(f"{server.url}/__admin/requests").status_code == 200
        reader.wait(lambda name, _: name == "cleared")
    finally:
        reader.close()


def test_stopping_the_server_ends_the_feed(tmp_path: Path):
    running = MockServer(ServerConfig(port=0, reload=False)).start()
    reader = FeedReader(f"{running.url}/__admin/feed")
    reader.wait(lambda name, _: name == "snapshot")
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 3  # not uvicorn's 5 s wait for open connections
    reader.wait(lambda name, _: name == "closed")
    reader.close()


# --- without a server ----------------------------------------------------------------------


def test_following_the_journal_swaps_its_methods_only_while_followed():
    journal = Journal(MemoryStore(), 10)
    seen: list[str] = []

    class Recorder(Follower):
        def added(self, exchange: Exchange) -> None:
            seen.append(f"added {exchange.id}")

        def finished(self, exchange: Exchange) -> None:
            seen.append(f"finished {exchange.id}")

        def cleared(self) -> None:
            seen.append("cleared")

    journal.add(Exchange("a", "POST", "/", 0.0))
    stop = journal.follow(Recorder())
    exchange = Exchange("b", "POST", "/", 0.0)
    journal.add(exchange)
    journal.finish(exchange)
    journal.clear()
    stop()
    journal.add(Exchange("c", "POST", "/", 0.0))
    assert seen == ["added b", "finished b", "cleared"]
    assert "add" not in vars(journal) and [e["id"] for e in journal.entries()] == ["c"]
    assert journal.find("c") is not None and journal.find("a") is None


@pytest.mark.anyio
async def test_a_page_that_falls_behind_gets_a_fresh_snapshot():
    feed = Feed(Journal(MemoryStore(), 10), lambda e: {"id": e.id}, lambda: {})
    subscription = feed.subscribe()
    events = subscription.events()
    assert (await events.__anext__()).startswith(b"event: hello")
    assert (await events.__anext__()).startswith(b"event: snapshot")
    chunk = sse("rows", ["x" * 1024])
    for _ in range(QUEUE_BYTES // len(chunk) + 2):
        subscription.put(chunk)
    assert subscription.behind and not subscription.queue
    assert (await events.__anext__()).startswith(b"event: snapshot")
    await events.aclose()
    assert feed.subscribers == []


@pytest.mark.anyio
async def test_a_row_goes_whole_once_then_only_what_its_end_changed():
    journal = Journal(MemoryStore(), 10)
    feed = Feed(journal, lambda e: {"id": e.id, "whole": True}, lambda: {},
                update=lambda e: {"id": e.id, "part": True})  # fmt: skip
    subscription = feed.subscribe()
    first, second = Exchange("a", "POST", "/", 0.0), Exchange("b", "POST", "/", 0.0)
    journal.add(first)
    journal.add(second)
    journal.finish(second)  # ended before the flush: one whole row
    assert first.ticks == [] and feed.is_live(first) and not feed.is_live(second)
    feed._flush()
    journal.finish(first)  # the page has its row: only the end
    feed._flush()
    sent = b"".join(subscription.queue).decode()
    assert sent == (
        'event: rows\ndata: [{"id":"a","whole":true},{"id":"b","whole":true}]\n\n'
        'event: rows\ndata: [{"id":"a","part":true}]\n\n'
    )
    feed.unsubscribe(subscription)
    assert "add" not in vars(journal)


def test_a_shared_journal_tail_reports_new_and_changed_entries():
    class SharedJournal(Journal):
        def __init__(self) -> None:
            super().__init__(MemoryStore(), 10)
            self.json: list[dict[str, Any]] = []

        def entries(self) -> list[Any]:  # type: ignore[override]
            return list(self.json)

    journal = SharedJournal()
    journal.json = [{"id": "a", "status": 200, "duration_ms": 5.0}]
    tail = SharedTail(journal, lambda _: None)
    tail.seen = {"a": (200, 5.0)}
    b = {"id": "b", "status": 200, "duration_ms": 0.0}
    assert tail.changes([*journal.json, b]) == [b]
    b_done = {**b, "duration_ms": 12.0}
    assert tail.changes([*journal.json, b_done]) == [b_done]
    assert tail.changes([*journal.json, b_done]) == []


def test_subscription_close_ends_its_events():
    subscription = Subscription(Feed(None, lambda e: {}, lambda: {}))
    subscription.close()
    assert subscription.closed and subscription.wakeup.is_set()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
