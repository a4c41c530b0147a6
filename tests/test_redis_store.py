"""The state stores: MemoryStore and RedisStore (against a real redis-server) keep the same
promises; RedisStore also shares them between processes and survives Redis going away."""

from __future__ import annotations

import itertools
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import pytest

from mockllm import state, stored_completions
from mockllm.accounts import Accounts, keys_text
from mockllm.errors import ConfigError, RequestError, StateUnavailable
from mockllm.redis_store import RedisStore, mask_url
from mockllm.state import MemoryStore, StateStore, open_store
from tests.conftest import RedisServer, free_port

_prefixes = itertools.count()


@pytest.fixture
def new_redis(redis_server: RedisServer) -> Iterator[Callable[..., RedisStore]]:
    """Stores on the module's Redis, under a prefix of their own per test (as many
    processes of one server would be)."""
    prefix = f"test{next(_prefixes)}:"
    made: list[RedisStore] = []

    def make(url: str | None = None) -> RedisStore:
        store = RedisStore(url or redis_server.url, prefix)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> StateStore:
    if request.param == "memory":
        return MemoryStore()
    made: StateStore = request.getfixturevalue("new_redis")()
    return made


class Entry:
    def __init__(self, n: int) -> None:
        self.n = n

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n}


def test_counters_count_from_zero(store: StateStore):
    assert [store.incr("a"), store.incr("a"), store.incr("b")] == [0, 1, 0]


def test_a_recent_counter_counts_and_is_listed_and_reset(store: StateStore):
    assert [store.incr_recent("seq:c1"), store.incr_recent("seq:c1")] == [0, 1]
    store.incr("seq:global")
    assert store.counters("seq:") == {"seq:c1": 2, "seq:global": 1}
    store.reset()
    assert store.counters("seq:") == {} and store.incr_recent("seq:c1") == 0


def test_only_the_latest_recent_counters_are_kept_in_memory(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(state, "RECENT_COUNTERS", 3)
    store = MemoryStore()
    for name in "abc":
        store.incr_recent(name)
    store.incr_recent("a")  # used again: now the latest
    store.incr_recent("d")  # one too many: b, the least lately used, goes
    assert store.counters("") == {"a": 2, "c": 1, "d": 1}
    assert store.incr("kept") == 0 and store.incr_recent("e") == 0
    assert "kept" in store.counters("")  # plain counters are never let go


def test_a_recent_counter_on_redis_expires_a_week_after_its_last_use(
    new_redis: Callable[..., RedisStore], redis_server: RedisServer
):
    import redis

    store = new_redis()
    assert [store.incr_recent("week:c1"), store.incr_recent("week:c1")] == [0, 1]
    store.incr("week:plain")
    client = redis.Redis.from_url(redis_server.url)
    recent = [k for k in client.scan_iter(match="*count:week:c1")]
    plain = [k for k in client.scan_iter(match="*count:week:plain")]
    assert len(recent) == 1 and 0 < client.ttl(recent[0]) <= 7 * 24 * 3600
    assert client.ttl(plain[0]) == -1  # no end
    client.close()


def test_update_replaces_and_deletes(store: StateStore):
    assert store.update("k", lambda old: ("1", old)) is None
    assert store.update("k", lambda old: ((old or "") + "2", old)) == "1"
    assert store.update("k", lambda old: (None, old)) == "12"
    assert store.update("k", lambda old: (old, old)) is None


def test_buckets_start_full_and_refuse_when_empty(store: StateStore):
    now = time.monotonic()
    assert store.take("r", (2.0, 100.0), (1.0, 30.0), 60.0, now) == (
        True,
        pytest.approx((1.0, 70.0), abs=0.01),
    )
    ok, levels = store.take("r", (2.0, 100.0), (1.0, 30.0), 60.0, now)
    assert ok and levels[0] == pytest.approx(0.0, abs=0.01)
    ok, levels = store.take("r", (2.0, 100.0), (1.0, 30.0), 60.0, now)
    assert not ok and levels[1] == pytest.approx(40.0, abs=0.1)  # nothing taken


def test_holds_never_overspend_and_release_the_rest(store: StateStore):
    hold = store.reserve("c", 100, 10, 7, None, 60)
    assert hold is not None and (hold.held, hold.units) == (94, 12)
    assert store.balance("c", 100) == 6
    assert store.reserve("c", 100, 10, 7, None, 60) is None  # 6 < 10: nothing held
    assert store.release(hold, 17) in (83, None)  # a shared store does not wait to know
    assert store.balance("c", 100) == 83
    assert store.release(hold, 17) is None  # once only
    assert store.balance("c", 100) == 83
    capped = store.reserve("c", 100, 0, 1, 5, 60)
    assert capped is not None and (capped.held, capped.units) == (5, 5)
    store.reset()
    assert store.balance("c", 100) == 100
    assert store.release(capped, 0) is None  # forgiven by the reset


def test_documents_are_bounded_oldest_out(store: StateStore):
    for name in "abc":
        store.put_document("response", name, name.encode(), 2)
    assert store.get_document("response", "a") is None
    assert store.get_document("response", "c") == b"c"
    assert store.delete_document("response", "c") and not store.delete_document("response", "c")


def test_replace_document_writes_only_a_document_that_is_there(store: StateStore):
    assert store.replace_document("k", "a", b"1") is False
    assert store.get_document("k", "a") is None  # nothing written
    store.put_document("k", "a", b"1", 10)
    store.put_document("k", "b", b"2", 10)
    assert store.replace_document("k", "a", b"3") is True
    assert store.get_document("k", "a") == b"3"
    assert store.document_names("k") == ["a", "b"]  # in its place
    store.delete_document("k", "a")
    assert store.replace_document("k", "a", b"4") is False
    assert store.get_document("k", "a") is None


def test_a_stored_completion_deleted_while_another_process_updates_it_stays_deleted(
    new_redis: Callable[..., RedisStore],
):
    """Process A reads the completion to update its metadata; process B deletes it before
    A writes. A's update is the API's 404, and the completion does not come back."""
    updater, deleter = new_redis(), new_redis()
    completion = {"id": "chatcmpl-race", "object": "chat.completion", "model": "gpt-4o"}
    stored_completions.keep(updater, completion, {"messages": [], "metadata": {"a": "1"}})

    class DeletedOnceRead(RedisStore):
        def get_document(self, kind: str, name: str) -> bytes | None:
            found = super().get_document(kind, name)
            stored_completions.delete(deleter, name)  # B, between A's read and write
            return found

    racing = DeletedOnceRead(updater.url, updater.prefix)
    try:
        with pytest.raises(RequestError) as refused:
            stored_completions.update(racing, "chatcmpl-race", {"metadata": {"a": "2"}})
    finally:
        racing.close()
    assert refused.value.status == 404
    assert refused.value.message == "Chat completion with id 'chatcmpl-race' not found."
    for store in (updater, deleter):
        assert store.get_document(stored_completions.KIND, "chatcmpl-race") is None


def test_document_names_in_the_order_they_were_last_put(store: StateStore):
    for name in ("a", "b", "c", "a"):
        store.put_document("listed", name, b"", 10)
    store.delete_document("listed", "b")
    assert store.document_names("listed") == ["c", "a"]
    assert store.document_names("none such") == []


def test_journal_is_bounded_ordered_and_updated(store: StateStore):
    entries = [Entry(i) for i in range(5)]
    for entry in entries:
        store.journal_add(entry, 3)
    entries[4].n = 44
    store.journal_update(entries[4])
    assert store.journal() == [{"n": 2}, {"n": 3}, {"n": 44}]
    store.journal_clear()
    assert store.journal() == []


def test_reset_keeps_settings(store: StateStore):
    store.put_setting("cassette", "a")
    version, _ = store.settings()
    store.incr("x")
    store.journal_add(Entry(1), 10)
    store.reset()
    assert store.settings() == (version, {"cassette": "a"})
    assert store.incr("x") == 0 and store.journal() == []
    store.put_setting("cassette", None)
    assert store.settings_version() > version and store.settings()[1] == {}


def test_update_setting_changes_it_atomically_and_bumps_the_version(store: StateStore):
    version = store.settings_version()
    assert store.update_setting("rules", lambda old: (f"{old}+a", old)) is None
    assert store.update_setting("rules", lambda old: (f"{old}+b", old)) == "None+a"
    assert store.settings() == (store.settings_version(), {"rules": "None+a+b"})
    assert store.settings_version() > version
    store.update_setting("rules", lambda old: (None, None))
    assert store.settings()[1] == {}


def test_update_setting_tries_again_when_another_process_changed_it(
    new_redis: Callable[..., RedisStore],
):
    one, two = new_redis(), new_redis()
    raced = []

    def add(old: str | None) -> tuple[str, None]:
        if not raced:  # another process changes it between the read and the write
            raced.append(two.update_setting("rules", lambda o: (f"{o or ''}[two]", None)))
        return f"{old or ''}[one]", None

    one.update_setting("rules", add)
    assert one.settings()[1] == {"rules": "[two][one]"}


# --- Redis only ----------------------------------------------------------------------------


def test_two_processes_share_one_state(new_redis: Callable[..., RedisStore]):
    first, second = new_redis(), new_redis()
    assert first.process_number != second.process_number
    assert [first.incr("s"), second.incr("s"), first.incr("s")] == [0, 1, 2]
    first.journal_add(Entry(1), 10)
    second.journal_add(Entry(2), 10)
    assert second.journal() == [{"n": 1}, {"n": 2}]
    second.reset()
    assert first.incr("s") == 0 and first.journal() == []


def test_prefixes_keep_servers_apart(redis_server: RedisServer):
    one, other = RedisStore(redis_server.url, "one:"), RedisStore(redis_server.url, "other:")
    try:
        one.reset()
        other.reset()
        one.incr("s")
        other.reset()
        assert one.incr("s") == 1
    finally:
        one.close()
        other.close()


def test_credits_are_exact_across_processes_and_threads(new_redis: Callable[..., RedisStore]):
    keys = keys_text(
        textwrap.dedent(
            """
            keys:
              - key: k
                credits: 12.35
            prices:
              m: { prompt: 0.15, completion: 1.1 }
            """
        )
    )
    accounts = [Accounts(keys, new_redis()) for _ in range(3)]
    charged: list[Fraction] = []
    lock = threading.Lock()

    def spend(mine: Accounts) -> None:
        for _ in range(40):
            # An exchange as the gateway pays for it: hold, then settle what was sent.
            held = mine.reserve("k", "m", 100, 900)
            amount = mine.settle(held, 900).amount if held is not None else Fraction(0)
            with lock:
                charged.append(amount)

    threads = [threading.Thread(target=spend, args=(a,)) for a in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    left = accounts[0].balance("k")
    assert left is not None and left >= 0
    assert left + sum(charged) == Fraction("12.35")
    assert left < Fraction(15, 100) * 100 / 1000 + Fraction(11, 10) / 1000  # spent to the end


def test_holds_of_a_dead_process_expire(new_redis: Callable[..., RedisStore]):
    dead, alive = new_redis(), new_redis()
    assert dead.reserve("c", 10, 10, 0, None, 0.05) is not None
    assert alive.reserve("c", 10, 10, 0, None, 60) is None
    time.sleep(0.1)
    assert alive.balance("c", 10) == 10
    assert alive.reserve("c", 10, 10, 0, None, 60) is not None


def test_startup_error_names_the_url_without_its_password():
    port = free_port()
    with pytest.raises(ConfigError) as caught:
        open_store(f"redis://:s3cret@127.0.0.1:{port}/0")
    message = str(caught.value)
    assert f"redis://:***@127.0.0.1:{port}/0" in message and "s3cret" not in message
    assert "cannot reach Redis" in message
    with pytest.raises(ConfigError, match="expected 'memory' or a Redis URL"):
        open_store("postgres://x")
    assert mask_url("redis://user:pw@h:1/2") == "redis://user:***@h:1/2"


def test_an_outage_refuses_state_keeps_releases_and_recovers(
    tmp_path_factory: pytest.TempPathFactory,
):
    server = RedisServer(tmp_path_factory.mktemp("outage"), durable=True).start()
    store = RedisStore(server.url, "outage:")
    try:
        hold = store.reserve("c", 100, 10, 0, None, 60)
        assert hold is not None and store.balance("c", 100) == 90
        store.journal_add(Entry(1), 10)
        server.kill()
        with pytest.raises(StateUnavailable) as caught:
            store.incr("s")
        assert caught.value.status == 503 and "127.0.0.1" in caught.value.message
        with pytest.raises(StateUnavailable):  # at once, without waiting on a socket
            store.incr("s")
        assert store.release(hold, 4) is None  # kept for later
        store.journal_add(Entry(2), 10)  # kept for later
        server.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                balance = store.balance("c", 100)
                break
            except StateUnavailable:
                assert time.monotonic() < deadline, "never recovered"
                time.sleep(0.05)
        assert balance == 96  # the release arrived, once
        assert store.journal() == [{"n": 1}, {"n": 2}]
    finally:
        store.close()
        server.stop()


def test_the_first_journal_entry_of_a_pass_goes_at_once_the_others_at_its_end(
    new_redis: Callable[..., RedisStore],
):
    import asyncio

    writer, reader = new_redis(), new_redis()

    async def one_pass() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        entries = [Entry(i) for i in range(3)]
        for entry in entries:
            writer.journal_add(entry, 10)
        # Another process, before this pass ends (waiting without giving the loop a turn):
        # the first entry's write was sent at once and lands without one; it may take a
        # moment on a loaded machine, and the others must still be waiting then.
        deadline = time.monotonic() + 2
        during = reader.journal()
        while not during and time.monotonic() < deadline:
            time.sleep(0.005)
            during = reader.journal()
        await asyncio.sleep(0.01)
        return during, reader.journal()

    during, after = asyncio.run(one_pass())
    assert during == [{"n": 0}]
    assert after == [{"n": 0}, {"n": 1}, {"n": 2}]
