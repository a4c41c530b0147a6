"""Hot reload: watch scenario files and swap in their rules when they change.

Polls file modification times off the request path (a few stat calls every
interval). A file that no longer validates keeps the previous rules and logs why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from mockllm.errors import ScenarioError
from mockllm.loader import load_scenarios, scenario_files
from mockllm.rules import Rule

logger = logging.getLogger("mockllm.reload")

Stamp = tuple[tuple[str, int, int], ...]


def stamp(paths: tuple[Path, ...]) -> Stamp:
    """What the scenario files look like now: name, mtime and size of each."""
    out = []
    for path in scenario_files(paths):
        try:
            info = path.stat()
        except OSError:
            out.append((str(path), -1, -1))
            continue
        out.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(out)


class Reloader:
    """Reloads rules from `paths` when their stamp changes; `apply` receives the new rules."""

    def __init__(
        self,
        paths: tuple[Path, ...],
        apply: Callable[[tuple[Rule, ...]], None],
        interval_s: float = 0.5,
    ) -> None:
        self.paths = paths
        self.apply = apply
        self.interval_s = interval_s
        self.last = stamp(paths)
        self.loaded = 0
        self.failed = 0

    def check(self) -> bool:
        """Reload if anything changed; True when new rules were applied."""
        now = stamp(self.paths)
        if now == self.last:
            return False
        self.last = now
        try:
            rules = load_scenarios(self.paths)
        except ScenarioError as exc:
            self.failed += 1
            logger.error(
                "scenarios changed but do not validate; keeping the previous rules:\n%s", exc
            )
            return False
        self.apply(rules)
        self.loaded += 1
        logger.info("reloaded %d rules from %d file(s)", len(rules), len(now))
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await asyncio.to_thread(self.check)
