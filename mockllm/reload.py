"""Hot reload: watch scenario files, the profile file and the keys file; swap in what they
say when they change.

Polls file modification times off the request path (a few stat calls every interval). A
change is loaded whole and applied in one step (a new tuple of rules, a new gateway); a
file that no longer validates keeps what was loaded before and logs every problem.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mockllm.errors import Problem, ScenarioError
from mockllm.loader import load_scenarios, scenario_files

if TYPE_CHECKING:
    from mockllm.gateway import Gateway
    from mockllm.rules import Rule
    from mockllm.state import StateStore

logger = logging.getLogger("mockllm.reload")

Stamp = tuple[tuple[str, int, int], ...]


def stamp(paths: Iterable[Path]) -> Stamp:
    """What the files look like now: name, mtime and size of each."""
    out = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            out.append((str(path), -1, -1))
            continue
        out.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(out)


class Watch:
    """Some files, how to load them, and what to do with what was loaded.

    `files` is asked again at every check (a folder may gain files, a profile may extend
    another); `load` raises ScenarioError (ProfileError too) for files that do not validate.
    """

    def __init__(
        self,
        what: str,
        files: Callable[[], list[Path]],
        load: Callable[[], Any],
        apply: Callable[[Any], str],
        kept: str,
    ) -> None:
        self.what = what  # "a scenario file", "the keys file keys.yaml", …
        self.files = files
        self.load = load
        self.apply = apply  # returns the log line saying what changed
        self.kept = kept  # what stays when a change does not validate
        self.last = stamp(files())
        self.loaded = 0
        self.failed = 0
        # Why the files on disk are not what is served: the last change's problems, until
        # a change validates (the admin API lists them beside the rules).
        self.problems: tuple[Problem, ...] = ()

    def check(self) -> bool:
        """Reload if anything changed; True when something new was applied."""
        now = stamp(self.files())
        if now == self.last:
            return False
        self.last = now
        try:
            loaded = self.load()
        except ScenarioError as exc:
            self.failed += 1
            self.problems = tuple(exc.problems)
            logger.error(
                "%s changed but does not validate (%d problem(s)); keeping %s:\n%s",
                self.what,
                len(exc.problems),
                self.kept,
                "\n".join(f"  {p}" for p in exc.problems),
            )
            return False
        self.loaded += 1
        self.problems = ()
        logger.info("%s", self.apply(loaded))
        self.last = stamp(self.files())  # a profile may now extend other files
        return True


def scenario_watch(paths: tuple[Path, ...], apply: Callable[[tuple[Rule, ...]], None]) -> Watch:
    """Scenario files and folders: their rules, loaded again as a whole."""

    def applied(rules: tuple[Rule, ...]) -> str:
        apply(rules)
        return f"reloaded {len(rules)} rules from {len(scenario_files(paths))} file(s)"

    return Watch(
        "a scenario file",
        lambda: scenario_files(paths),
        lambda: load_scenarios(paths),
        applied,
        "the previous rules",
    )


def gateway_watch(
    profile: str,
    keys: Path | None,
    store: StateStore,
    frozen: float | None,
    current: Callable[[], Gateway],
    apply: Callable[[Gateway], None],
) -> Watch | None:
    """The profile file (and the files it extends) and the keys file, loaded again into a
    new gateway over the same state. Balances and buckets carry on from where they are,
    but for a key whose figures changed (credits, rpm, tpm), which starts from its new
    ones (its state is kept under a name that holds them, so replicas that each reload
    the file agree without a reset); `POST /__admin/reset` starts every key again. None
    when there is no file to watch (a built-in profile and no keys file)."""
    from mockllm.gateway import Gateway

    def files() -> list[Path]:
        return [*profile_files(profile), *([keys] if keys is not None else [])]

    if not files():
        return None
    named = [f"the profile {profile}"] if profile_files(profile) else []
    named += [f"the keys file {keys}"] if keys is not None else []
    what = " or ".join(named)

    def load() -> Gateway:
        return Gateway.load(profile, keys, store, frozen)

    def applied(new: Gateway) -> str:
        old = current()
        apply(new)
        parts = [f"profile {new.profile.name}"]
        if new.accounts.keys is not None:
            count = len(new.accounts.keys.keys)
            parts.append(f"{count} {'key' if count == 1 else 'keys'}")
        if new.profile.models_path != old.profile.models_path:
            logger.warning(
                "the profile's models_path changed to %s: it is served from the next start; "
                "until then at %s",
                new.profile.models_path,
                old.profile.models_path,
            )
        return "reloaded " + ", ".join(parts)

    return Watch(what, files, load, applied, "the previous profile and keys")


def profile_files(profile: str) -> list[Path]:
    """The files a profile is read from: the file named, then each file it extends (a
    built-in name is none). A file that cannot be read ends the list, still on it."""
    from mockllm.profiles import builtin_profiles

    found: list[Path] = []
    name, base = profile, Path.cwd()
    while name and not (name in builtin_profiles() and not name.endswith((".yaml", ".yml"))):
        path = Path(name) if Path(name).is_absolute() else base / name
        if path in found:
            break
        found.append(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            break
        parent = data.get("extends") if isinstance(data, dict) else None
        name, base = (str(parent) if parent else ""), path.parent
    return found


class Reloader:
    """Checks its watches every `interval_s`, off the event loop."""

    def __init__(self, watches: Iterable[Watch | None], interval_s: float = 0.5) -> None:
        self.watches = [w for w in watches if w is not None]
        self.interval_s = interval_s

    def check(self) -> bool:
        """Check every watch; True when any applied a change."""
        return any([watch.check() for watch in self.watches])

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await asyncio.to_thread(self.check)
