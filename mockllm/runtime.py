"""What is changed at run time (rules added through the admin API or the pytest plugin, the
chosen cassette), kept in the state store so that every process sharing it answers alike.

The process that makes a change applies it at once; the others notice it within
`WATCH_EVERY_S` (they poll a version number: one small read, off the request path), and
say which version they have applied. The change (an admin call, the pytest plugin) then
waits until every live process has applied it, so that the next request, whichever
process answers it, sees it.
Rules are kept as the scenario documents they came in, and every process compiles them
the same way, in the same order, so rule names, refs and sequence counters agree.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Sequence

import orjson

from mockllm.cache import Memo
from mockllm.engine import Engine
from mockllm.errors import ScenarioError, StateUnavailable
from mockllm.loader import load_text, mark_runtime
from mockllm.rules import Rule

logger = logging.getLogger("mockllm.runtime")

WATCH_EVERY_S = 0.25
ALIVE_S = 4 * WATCH_EVERY_S  # a process not heard from for this long has stopped
SETTLE_MAX_S = 1.0  # a change waits at most this long for the others (a stalled one)
SETTLE_POLL_S = 0.01
RULES = "rules"
CASSETTE = "cassette"

Document = tuple[str, str]  # (source name, scenario text)


# Every addition compiles the documents added before it again (their rules come first):
# kept, a run that adds a rule per test without removing them compiles each document once,
# not once per later addition (400 additions took 31 ms each, and growing).
_COMPILED: Memo[tuple[str, str, int], tuple[Rule, ...]] = Memo(4096, 64 << 20)


def _compiled(source: str, text: str, base: int) -> tuple[Rule, ...]:
    key = (source, text, base)
    rules = _COMPILED.get(key)
    if rules is None:
        rules = mark_runtime(load_text(text, source, order_base=base))
        _COMPILED.put(key, rules, len(text))
    return rules


def compile_documents(documents: Sequence[Document], base: int) -> list[tuple[int, Rule]]:
    """The rules of documents added in this order, each with the index of its document;
    a rule replaces an earlier one of the same name. Raises ScenarioError."""
    rules: dict[str, tuple[int, Rule]] = {}  # by name, in order: a replaced one moves last
    for index, (source, text) in enumerate(documents):
        added = _compiled(source, text, base)
        base += len(added)
        for rule in added:
            rules.pop(rule.name, None)
        for rule in added:
            rules[rule.name] = (index, rule)
    return list(rules.values())


class Runtime:
    """The run-time rules and cassette of one engine, kept in its store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.version = -1  # the store's settings version last applied
        self._lock = threading.Lock()

    @property
    def is_shared(self) -> bool:
        return bool(getattr(self.engine.store, "is_shared", False))

    def _base(self) -> int:
        file_rules = [r.order for r in self.engine.rules if not r.added_at_runtime]
        return max(file_rules, default=0) + 1

    def _documents(self, raw: str | None) -> list[Document]:
        return [(str(s), str(t)) for s, t in orjson.loads(raw)] if raw else []

    def add_rules(self, documents: Iterable[Document]) -> tuple[Rule, ...]:
        """Add the rules of scenario documents (ScenarioError when one does not validate);
        the rules added."""
        new = list(documents)

        def added(raw: str | None) -> tuple[str | None, tuple[int, list[tuple[int, Rule]]]]:
            kept = self._documents(raw)
            compiled = compile_documents([*kept, *new], base)
            # Documents whose every rule was replaced by a later one are dropped.
            used = sorted({index for index, _ in compiled})
            every = [*kept, *new]
            value = orjson.dumps([every[i] for i in used]).decode() if used else None
            return value, (len(kept), compiled)

        with self._lock:
            base = self._base()
            # One atomic change of the stored documents: rules another process adds at the
            # same moment are kept, not overwritten by this process's older copy. The
            # version is not marked as seen: a change another process makes just after
            # this one is then applied by the next `sync`, not taken as already applied.
            first_new, compiled = self.engine.store.update_setting(RULES, added)
            self._apply_rules(tuple(rule for _, rule in compiled))
        return tuple(rule for index, rule in compiled if index >= first_new)

    def remove_rules(self) -> None:
        """Remove every rule added at run time."""
        with self._lock:
            self.engine.store.put_setting(RULES, None)
            self._apply_rules(())
            self._sync_version()

    def choose_cassette(self, name: str | None) -> None:
        """The cassette for the following requests (None: back to `--cassette`)."""
        with self._lock:
            self.engine.store.put_setting(CASSETTE, name)
            self.engine.cassette = name
            self._sync_version()

    def _apply_rules(self, runtime: tuple[Rule, ...]) -> None:
        engine = self.engine
        engine.set_rules((*(r for r in engine.rules if not r.added_at_runtime), *runtime))

    def _sync_version(self) -> None:
        if self.is_shared:
            self.version = self.engine.store.settings_version()

    def _report(self) -> None:
        store = self.engine.store
        store.put_applied(store.process_number, self.version)

    def _published(self) -> int | None:
        """After a change made here: the settings version every process must reach, this
        one having reached it (None: no other process to wait for)."""
        if not self.is_shared:
            return None
        try:
            target = self.engine.store.settings_version()
            self.sync()
            self._report()
        except StateUnavailable:
            return None
        return target

    def _waiting(self, target: int) -> bool:
        try:
            return any(v < target for v in self.engine.store.applied(ALIVE_S))
        except StateUnavailable:
            return False  # nothing to learn: the change is made

    def settle(self) -> None:
        """Wait until every live process has applied the change just made here (blocking:
        for a thread other than the server's, the pytest plugin's)."""
        target = self._published()
        deadline = time.monotonic() + SETTLE_MAX_S
        while target is not None and self._waiting(target) and time.monotonic() < deadline:
            time.sleep(SETTLE_POLL_S)

    async def settled(self) -> None:
        """`settle`, on the server's event loop (an admin call)."""
        target = self._published()
        deadline = time.monotonic() + SETTLE_MAX_S
        while target is not None and self._waiting(target) and time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_POLL_S)

    def sync(self) -> None:
        """Apply what other processes changed since the last look (a shared store only).
        Raises StateUnavailable."""
        if not self.is_shared:
            return
        store = self.engine.store
        if store.settings_version() == self.version:
            return
        with self._lock:
            version, settings = store.settings()
            self.version = version
            self.engine.cassette = settings.get(CASSETTE)
            try:
                compiled = compile_documents(self._documents(settings.get(RULES)), self._base())
            except ScenarioError as exc:  # validated where they were added; not here
                logger.error("run-time rules from the state store do not validate:\n%s", exc)
                return
            self._apply_rules(tuple(rule for _, rule in compiled))

    async def watch(self) -> None:
        """Keep applying other processes' changes, every `WATCH_EVERY_S` (a shared store)."""
        if not self.is_shared:
            return
        failing = False
        while True:
            try:
                self.sync()
                self._report()  # and that this process is alive
                failing = False
            except StateUnavailable:
                pass  # the store logs when it goes and when it is back
            except Exception:  # noqa: BLE001 - the watch must go on; said once, not 4 a second
                if not failing:
                    logger.exception("could not read the run-time settings from the store")
                failing = True
            await asyncio.sleep(WATCH_EVERY_S)
