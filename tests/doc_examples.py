"""Run the examples of README.md and docs/*.md, and compare what they print with the page.

How a page marks its examples (the tests in tests/test_docs_examples.py hold every page to
this; tests/test_docs.py checks the rest of the docs):

- A ```console block is a terminal transcript and always runs: each `$ ` line is a bash
  command (continued by a trailing `\\` or a here-document); the lines after it, up to
  the next `$ `, are what it prints (standard output and error together). Commands run in
  the page's folder (which holds a copy of `scenarios/`), with the project's `.venv/bin`
  first on PATH (`mockllm`, `python`) and `$OPENAI_API_KEY` set to a made-up key; `$?` is
  the status of the command before, as in one terminal.
- A block whose first line is `# some/file.ext` is a file: it is written into the page's
  folder (as that path) when the run reaches it, replacing what was there.
- Before a block, an HTML comment says what else to do with it (GitHub does not show it):

    <!-- doc: serve -->        the next block is one `mockllm serve …` (or `record …`)
                               command: start it, in the folder, as the server of the port
                               it shows (8000 unless it says `--port N`), stopping the one
                               that had that port
    <!-- doc: serve mockllm serve ARGS -->
                               the same, for a command the page names only in its prose
    <!-- doc: sh -->           run the next block's commands; each must succeed
    <!-- doc: python -->       run the next block (Python, in one namespace per page, so a
                               later block sees what an earlier one defined); if the block
                               after it has no language (or `text`), it is what the
                               snippet prints
    <!-- doc: python needs=MODULE -->
                               the same, skipped (saying so) where MODULE is not installed
    <!-- doc: log -->          the next block's lines appear, in order, in the log of the
                               server started last
    <!-- doc: js needs=PACKAGE -->
                               run the next block with node (as an ES module), comparing
                               a block without language after it as for python; skipped
                               (saying so) unless node finds PACKAGE, e.g. from a
                               node_modules folder named by $MOCKLLM_DOCS_NODE_MODULES
    <!-- doc: skip REASON -->  the next block is not run, for the reason given

  A `console` block needs no comment. A block in sh, bash, python or js needs one: a
  runnable block that neither runs nor says why fails the suite.

Placeholders: each server listens on a free port, shown as the port the page writes (8000
unless its command says `--port N`); commands are run with the real ports. Both the page
and the run are read with these replaced before they are compared, so a page may show a
real value or the placeholder:

    chatcmpl-<id>  call_<id>  req_<id>     ids
    "created":<time>                       `created`, unless it is --freeze-time 1700000000
    date: <date>                           the Date header
    <time>                                 a log line's timestamp
    ms=<ms>                                an exchange's duration in a log line
    [<pid>]                                a process id in uvicorn's log lines

and `[...]` stands for any text within a line, or, as a line of its own, for any lines.
Trailing spaces and blank lines at the end of an output are not compared.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HEAVY = ("gateways.md", "troubleshooting.md", "recording.md")  # run by a test file of their own
OUTPUT = ("", "text")  # the languages of a block that shows what a snippet printed
RUNNABLE = {"console", "sh", "bash", "shell", "python", "py", "js", "javascript"}
SHOWN_PORT = 8000
COMMAND_TIMEOUT_S = 90
LOG_WAIT_S = 10.0  # how long a `doc: log` block waits for its lines
EXAMPLE_KEY = "sk-docs-example-0000000000000000000000"
NODE_MODULES = "MOCKLLM_DOCS_NODE_MODULES"  # a node_modules folder for the js examples

_FENCE = re.compile(r"^```([\w-]*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*doc:\s*(.*?)\s*-->\s*$")
_NAMED = re.compile(r"^# (\S+\.(?:py|ya?ml|json|txt|js))\s*$")
PLACEHOLDERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"chatcmpl-[A-Za-z0-9]{29}"), "chatcmpl-<id>"),
    (re.compile(r"call_[A-Za-z0-9]{24}"), "call_<id>"),
    (re.compile(r"\breq_[0-9A-Za-z]{8,}"), "req_<id>"),
    (re.compile(r'("created":\s?)(?!1700000000\b)\d{10}\b'), r"\1<time>"),
    (re.compile(r"^date: .*$", re.I | re.M), "date: <date>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"), "<time>"),
    (re.compile(r"\bms=\d+"), "ms=<ms>"),
    (re.compile(r"process \[\d+\]"), "process [<pid>]"),
]
ANY = "[...]"


@dataclass(frozen=True)
class Block:
    """One fenced block of a page, with the directive written just before it (if any)."""

    page: Path
    line: int  # of the opening fence, counted from 1
    lang: str
    text: str
    directive: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def named(self) -> str | None:
        first = self.text.split("\n", 1)[0]
        match = _NAMED.match(first)
        return match.group(1) if match and self.directive is None else None


@dataclass(frozen=True)
class Standalone:
    """A directive that stands for itself (a server named only in the prose)."""

    page: Path
    line: int
    directive: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def read_page(page: Path) -> list[Block | Standalone]:
    """A page's fenced blocks (top-level fences only) and standalone directives, in order."""
    items: list[Block | Standalone] = []
    lines = page.read_text(encoding="utf-8").split("\n")
    pending: tuple[int, str] | None = None  # a directive waiting for its block
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        fence = _FENCE.match(line)
        if directive:
            if pending is not None:
                items.append(Standalone(page, pending[0], pending[1]))
            text = directive.group(1)
            if text.startswith(("serve mockllm", "serve .venv/bin/mockllm")):
                items.append(Standalone(page, i + 1, text))
                pending = None
            else:
                pending = (i + 1, text)
        elif fence:
            end = i + 1
            while end < len(lines) and lines[end].rstrip() != "```":
                end += 1
            text = "\n".join(lines[i + 1 : end])
            items.append(Block(page, i + 1, fence.group(1), text, pending[1] if pending else None))
            pending = None
            i = end
        elif line.strip() and pending is not None:
            items.append(Standalone(page, pending[0], pending[1]))
            pending = None
        i += 1
    return items


def unaccounted(page: Path) -> list[str]:
    """Runnable blocks of the page that neither run nor say why not."""
    out = []
    for item in read_page(page):
        if isinstance(item, Standalone):
            if not item.directive.startswith("serve mockllm"):
                out.append(
                    f"{item.where}: a doc comment ({item.directive!r}) with no block after it"
                )
            continue
        if item.lang not in RUNNABLE or item.lang == "console" or item.named:
            continue
        kind = (item.directive or "").split(" ", 1)[0]
        if kind == "skip" and len(item.directive or "") <= len("skip "):
            out.append(f"{item.where}: `doc: skip` needs a reason")
        elif kind not in ("serve", "sh", "python", "skip", "js"):
            out.append(
                f"{item.where}: a {item.lang} block that neither runs (<!-- doc: sh -->, "
                "<!-- doc: python -->, <!-- doc: serve -->) nor says why not "
                "(<!-- doc: skip REASON -->)"
            )
    return out


# --- comparing --------------------------------------------------------------------------


def normalize(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    text = "\n".join(lines)
    for pattern, replacement in PLACEHOLDERS:
        text = pattern.sub(replacement, text)
    return text


def line_matches(expected: str, actual: str) -> bool:
    if ANY not in expected:
        return expected == actual
    parts = [re.escape(p) for p in expected.split(ANY)]
    return re.fullmatch(".*".join(parts), actual, re.S) is not None


def matches(expected: str, actual: str) -> bool:
    """Whether the run printed what the page shows (both normalized; `[...]` wildcards)."""
    want, got = normalize(expected).split("\n"), normalize(actual).split("\n")
    if want == [""]:
        want = []
    if got == [""]:
        got = []

    def walk(i: int, j: int) -> bool:
        while i < len(want):
            if want[i] == ANY:
                return any(walk(i + 1, k) for k in range(j, len(got) + 1))
            if j >= len(got) or not line_matches(want[i], got[j]):
                return False
            i, j = i + 1, j + 1
        return j == len(got)

    return walk(0, 0)


def difference(expected: str, actual: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            normalize(expected).split("\n"),
            normalize(actual).split("\n"),
            "the page shows",
            "the run printed",
            lineterm="",
        )
    )


# --- console transcripts ------------------------------------------------------------------


def transcript(text: str) -> list[tuple[str, str]]:
    """(command, expected output) for each `$ ` command of a console block."""
    steps: list[tuple[list[str], list[str]]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = [line[2:]]
            heredoc = re.search(r"<<-?\s*'?(\w+)'?", line)
            while command[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                command.append(lines[i])
            if heredoc:
                while i + 1 < len(lines):
                    i += 1
                    command.append(lines[i])
                    if lines[i].strip() == heredoc.group(1):
                        break
            steps.append((command, []))
        elif steps:
            steps[-1][1].append(line)
        i += 1
    return [("\n".join(c), "\n".join(o)) for c, o in steps]


# --- a page's run ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PageRun:
    """One page run top to bottom in its own folder, with at most one server at a time."""

    page: Path
    folder: Path
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    servers: dict[int, Server] = field(default_factory=dict)  # by the port the page shows
    last: Server | None = None  # the server started last (whose log `doc: log` reads)
    namespace: dict[str, Any] = field(default_factory=dict)
    status: int = 0  # exit status of the last command

    def __post_init__(self) -> None:
        venv = Path(sys.prefix)
        # A copy, so that an example that writes into scenarios/ cannot change the project's.
        shutil.copytree(ROOT / "scenarios", self.folder / "scenarios", dirs_exist_ok=True)
        links = [(".venv", venv)]
        if os.environ.get(NODE_MODULES):
            links.append(("node_modules", Path(os.environ[NODE_MODULES])))
        for name, target in links:
            link = self.folder / name
            if not link.exists():
                link.symlink_to(target)
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MOCKLLM_", "OPENAI_", "PYTEST_", "COV_"))
        }
        self.env.update({"PATH": path, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"})
        self.env["OPENAI_API_KEY"] = EXAMPLE_KEY  # `$OPENAI_API_KEY` in an example: made up

    # ports: the page writes SHOWN_PORT (or its own), the run uses a free one

    def to_run(self, text: str) -> str:
        for shown, server in self.servers.items():
            text = re.sub(rf"(?<=[:/ ]){shown}\b", str(server.port), text)
        return text

    def as_shown(self, text: str) -> str:
        for shown, server in self.servers.items():
            text = re.sub(rf"(?<=[:/ ]){server.port}\b", str(shown), text)
        return text

    def fail(self, where: str, message: str) -> None:
        self.failures.append(f"{where}: {message}")

    # the steps

    def run(self) -> None:
        items = read_page(self.page)
        try:
            for index, item in enumerate(items):
                if isinstance(item, Standalone):
                    self.serve(item.directive.removeprefix("serve "), item.where)
                    continue
                self.step(item, items[index + 1] if index + 1 < len(items) else None)
        finally:
            for shown in list(self.servers):
                self.stop(shown)

    def step(self, block: Block, after: Block | Standalone | None) -> None:
        kind, _, argument = (block.directive or "").partition(" ")
        if block.named:
            target = self.folder / block.named
            if not target.resolve().is_relative_to(self.folder.resolve()):
                # a file of the repository (scenarios/…): shown, never written over
                self.skipped.append(f"{block.where}: shows {block.named} of the repository")
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            # The name line stays (a reader copies the whole block), except in JSON.
            text = block.text.split("\n", 1)[1] if block.named.endswith(".json") else block.text
            target.write_text(text + "\n")
        elif kind == "skip":
            self.skipped.append(f"{block.where}: {argument}")
        elif block.lang == "console":
            self.console(block)
        elif kind == "serve":
            self.serve(block.text.strip(), block.where)
        elif kind == "sh":
            self.shell(block)
        elif kind == "python":
            expected = after if isinstance(after, Block) and after.lang in OUTPUT else None
            self.python(block, argument, expected)
        elif kind == "log":
            self.log(block)
        elif kind == "js":
            expected = after if isinstance(after, Block) and after.lang in OUTPUT else None
            self.javascript(block, argument, expected)

    def console(self, block: Block) -> None:
        status = 0  # `$?` of the command before, as in one terminal
        for command, expected in transcript(block.text):
            actual = self.execute(f"(exit {status}); {command}", block.where, shown=command)
            status = self.status
            if actual is not None and not matches(expected, self.as_shown(actual)):
                self.fail(
                    block.where,
                    f"$ {command}\n{difference(expected, self.as_shown(actual))}",
                )

    def shell(self, block: Block) -> None:
        for command in _commands(block.text):
            self.execute(command, block.where, must_succeed=True)

    def execute(
        self, command: str, where: str, must_succeed: bool = False, shown: str | None = None
    ) -> str | None:
        try:
            done = subprocess.run(
                ["bash", "-c", self.to_run(command)],
                cwd=self.folder,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=COMMAND_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            self.fail(where, f"$ {shown or command}\ndid not finish within {COMMAND_TIMEOUT_S} s")
            return None
        self.status = done.returncode
        output = done.stdout.decode("utf-8", "replace")
        if must_succeed and done.returncode != 0:
            self.fail(where, f"$ {shown or command}\nexited with {done.returncode}:\n{output}")
        return output

    def python(self, block: Block, argument: str, expected: Block | None) -> None:
        needs = re.findall(r"needs=(\S+)", argument)
        missing = [m for m in needs if importlib.util.find_spec(m) is None]
        if missing:
            self.skipped.append(f"{block.where}: needs {', '.join(missing)}, not installed")
            return
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.chdir(self.folder):
                code = compile(self.to_run(block.text), block.where, "exec")
                exec(code, self.namespace)  # noqa: S102 - the page's own example
        except Exception as exc:  # noqa: BLE001 - reported as the page's failure
            self.fail(block.where, f"raised {type(exc).__name__}: {exc}\n{out.getvalue()}")
            return
        if expected is not None and not matches(expected.text, self.as_shown(out.getvalue())):
            self.fail(block.where, difference(expected.text, self.as_shown(out.getvalue())))

    def javascript(self, block: Block, argument: str, expected: Block | None) -> None:
        needs = re.findall(r"needs=(\S+)", argument)
        missing = [m for m in needs if not node_has(m, self.folder)]
        if shutil.which("node") is None or missing:
            self.skipped.append(f"{block.where}: needs node and {', '.join(needs)}")
            return
        script = self.folder / "example.mjs"
        script.write_text(self.to_run(block.text))
        output = self.execute(f"node {script.name}", block.where, must_succeed=True)
        if expected is not None and output is not None:
            if not matches(expected.text, self.as_shown(output)):
                self.fail(block.where, difference(expected.text, self.as_shown(output)))

    def log(self, block: Block) -> None:
        """Each line of the block appears in the server's log, in order. A server writes an
        exchange's line just after its answer, so the log is read again for a while."""
        deadline = time.monotonic() + LOG_WAIT_S
        while True:
            missing, log = self._missing_from_log(block)
            if missing is None:
                return
            if time.monotonic() > deadline:
                self.fail(block.where, f"not in the server's log: {missing}\nlog:\n{log}")
                return
            time.sleep(0.05)

    def _missing_from_log(self, block: Block) -> tuple[str | None, str]:
        log = self.as_shown(self.last.log.read_text(errors="replace")) if self.last else ""
        got = normalize(log).split("\n")
        position = 0
        for wanted in normalize(block.text).split("\n"):
            found = next(
                (k for k in range(position, len(got)) if line_matches(wanted, got[k])), None
            )
            if found is None:
                return wanted, log
            position = found + 1
        return None, log

    def serve(self, command: str, where: str) -> None:
        """Start the command as the server of the port it shows (8000 unless it says
        `--port N`), stopping the one that had that port; wait until it is healthy."""
        shown_flag = re.search(r"--port[ =](\d+)", command)
        shown = int(shown_flag.group(1)) if shown_flag else SHOWN_PORT
        self.stop(shown)
        port = free_port()
        run = self.to_run(command.replace(shown_flag.group(0), "") if shown_flag else command)
        run += f" --port {port}"
        log_path = self.folder / f"server-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {run}"],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, port, log_path)
        self.servers[shown] = self.last = server
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.fail(where, f"{command} exited:\n{log_path.read_text()}")
                del self.servers[shown]
                return
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/__admin/health", timeout=1).is_success:
                    return
            time.sleep(0.05)
        self.fail(where, f"{command} did not become healthy:\n{log_path.read_text()}")

    def stop(self, shown: int) -> None:
        server = self.servers.pop(shown, None)
        if server is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(5)


@dataclass
class Server:
    """A server a page started: its process, the port it really listens on, its log."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path


def _commands(text: str) -> Iterator[str]:
    """The commands of a sh block: lines joined at a trailing `\\`; comments left out."""
    current: list[str] = []
    for line in text.split("\n"):
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current.append(line)
        if not line.endswith("\\"):
            yield "\n".join(current)
            current = []
    if current:
        yield "\n".join(current)


def has_examples(page: Path) -> bool:
    return any(
        isinstance(item, Standalone)
        or (
            item.lang == "console"
            or (item.directive or "").split(" ")[0] in ("sh", "python", "serve")
        )
        for item in read_page(page)
    )


def node_has(module: str, folder: Path) -> bool:
    node = shutil.which("node")
    if node is None:
        return False
    probe = subprocess.run(
        [node, "-e", f"require.resolve({module!r})"], cwd=folder, capture_output=True
    )
    return probe.returncode == 0
