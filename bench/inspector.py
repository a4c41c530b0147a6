"""Paced-stream fidelity with an inspector page open, against none open, on one server.

    .venv/bin/python bench/inspector.py [--streams 200 1000] [--pairs 4] [--json PATH]

Starts mockllm on bench/scenarios/bench.yaml (as bench/run.py does) and runs the paced
measurement (`bench-paced-50`: TTFT 100 ms, then 20 ms per token, 50 tokens; ideal
1080 ms) in rounds that alternate between no page and a page open in headless Chromium
(Debian's, driven by Playwright, as the tests do): closed, open, open, closed, … so that
the machine's drift lands on both alike. Prints each mode's medians over its rounds and
open ÷ closed. See docs/performance.md for results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from replies import PACED_50  # noqa: E402
from run import (  # noqa: E402
    BENCH_YAML,
    _loadavg,
    _raise_nofile,
    cpu_seconds,
    loadgen,
    start_server,
)

from tests.e2e.browser import CHROMIUM_FLAGS, chromium_path  # noqa: E402

METRICS = (
    ("duration p50 / ideal", ("duration_ratio", "p50")),
    ("duration p99 / ideal", ("duration_ratio", "p99")),
    ("TTFT p50 ms", ("ttft_ms", "p50")),
    ("TTFT p99 ms", ("ttft_ms", "p99")),
    ("gap p99 ms", ("gap_ms", "p99")),
)


def paced_round(port: int, streams: int, warmup: int) -> dict[str, Any]:
    return loadgen(
        "paced", "--port", port, "--model", PACED_50.name, "--streams", streams,
        "--rounds", 1, "--warmup-rounds", warmup,
        "--expect", len(PACED_50.chunks), "--ideal-ms", PACED_50.ideal_ms,
    )  # fmt: skip


def _children_cpu() -> float:
    """CPU time of this process's descendants."""
    me = os.getpid()
    return cpu_seconds(me) - cpu_seconds_self(me)


def cpu_seconds_self(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FeedReader:
    """Reads /__admin/feed over a socket in a thread, as fast as it comes, and counts it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"GET /__admin/feed HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        self.received = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while data := self.sock.recv(1 << 16):
                self.received += len(data)
        except OSError:
            pass

    def close(self) -> int:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)
        return self.received


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--pairs", type=int, default=4, help="closed/open pairs per level")
    parser.add_argument("--json", type=Path, default=BENCH / "results" / "inspector.json")
    parser.add_argument(
        "--client", choices=("page", "feed"), default="page",
        help="page: the inspector in headless Chromium; feed: only its event feed, read "
        "over a socket (the server's share of the cost, without the browser's)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    _raise_nofile()
    from playwright.sync_api import sync_playwright

    load_before = _loadavg()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mockllm-bench-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_FLAGS))
        run = start_server("mockllm", BENCH_YAML, Path(tmp))
        url = f"http://127.0.0.1:{run.port}/__admin/ui"
        try:
            for streams in args.streams:
                rounds: dict[str, list[dict[str, Any]]] = {"closed": [], "open": []}
                paced_round(run.port, streams, warmup=1)  # unmeasured
                order = ["closed", "open", "open", "closed"] * ((args.pairs + 1) // 2)
                for mode in order[: 2 * args.pairs]:
                    context = page = reader = None
                    if mode == "open" and args.client == "page":
                        context = browser.new_context(viewport={"width": 1440, "height": 860})
                        page = context.new_page()
                        page.goto(url)
                        page.wait_for_selector('#conn[data-state="live"]', timeout=10000)
                    elif mode == "open":
                        reader = FeedReader(run.port)
                    time.sleep(0.5)
                    server_cpu, tree_cpu = cpu_seconds(run.proc.pid), _children_cpu()
                    found = paced_round(run.port, streams, warmup=0)
                    found["server_cpu_s"] = cpu_seconds(run.proc.pid) - server_cpu
                    # This process's children but the server (the loadgen has exited):
                    # Playwright's driver and the browser.
                    found["browser_cpu_s"] = _children_cpu() - tree_cpu - found["server_cpu_s"]
                    if page is not None:
                        drawn = page.eval_on_selector_all(
                            "#exchanges tbody tr", "rows => rows.length"
                        )
                        found["rows_drawn"] = drawn
                        context.close()  # type: ignore[union-attr]
                    if reader is not None:
                        found["feed_bytes"] = reader.close()
                    rounds[mode].append(found)
                    print(
                        f"{streams} streams, page {mode:6}: duration p50 "
                        f"{found['duration_ratio']['p50']:.3f} "
                        f"p99 {found['duration_ratio']['p99']:.3f}"
                        f", TTFT p99 {found['ttft_ms']['p99']:.1f} ms, server CPU "
                        f"{found['server_cpu_s']:.2f} s, browser CPU {found['browser_cpu_s']:.2f} s"
                        f", errors {found['errors']}",
                        flush=True,
                    )
                results[str(streams)] = rounds
        finally:
            run.stop()
            browser.close()
    table = []
    for streams, rounds in results.items():
        for label, (group, stat) in METRICS:
            closed = statistics.median(r[group][stat] for r in rounds["closed"])
            opened = statistics.median(r[group][stat] for r in rounds["open"])
            table.append((f"paced {streams}: {label}", closed, opened, opened / closed))
        for label, key in (("server CPU s", "server_cpu_s"), ("browser CPU s", "browser_cpu_s")):
            closed = statistics.median(r[key] for r in rounds["closed"])
            opened = statistics.median(r[key] for r in rounds["open"])
            table.append((f"paced {streams}: {label}", closed, opened, None))
        errors = sum(r["errors"] for mode in rounds.values() for r in mode)
        table.append((f"paced {streams}: errors", 0, errors, None))
    print(f"\nload average (1 min) before: {load_before:.2f}, after: {_loadavg():.2f}")
    print(f"{'metric (median over rounds)':40} {'closed':>9} {'open':>9} {'open/closed':>12}")
    for metric, closed, opened, ratio in table:
        shown = f"{ratio:.3f}" if ratio is not None else "-"
        print(f"{metric:40} {closed:9.3f} {opened:9.3f} {shown:>12}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rounds": results, "table": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
