"""What the two scaling sweeps (sweep_rules.py, sweep_cassettes.py) share: start-up
timing, CPU per request, and the text of their tables."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from run import cpu_seconds, start_server


def startup(name: str, path: Path, workdir: Path, repeats: int, timeout: float) -> dict[str, Any]:
    """Start server `name` on `path` `repeats` times: the time to healthy and the server's
    CPU time by then (which other work on the machine moves less than the wall time)."""
    times, cpu = [], []
    for _ in range(repeats):
        run = start_server(name, path, workdir, timeout=timeout)
        times.append(run.start_to_healthy_s)
        cpu.append(cpu_seconds(run.proc.pid))
        run.stop()
    return {
        "runs_s": times,
        "median_s": statistics.median(times),
        "cpu_s": cpu,
        "median_cpu_s": statistics.median(cpu),
    }


def per_request_us(found: dict[str, Any]) -> float | None:
    """The server's CPU per response of a load turn, in µs."""
    return found["server_cpu_s"] / found["responses"] * 1e6 if found["responses"] else None


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def text_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """Columns right-aligned under their heads, a rule of dashes below the heads."""
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True))
        for line in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_targets(checks: list[dict[str, Any]], width: int) -> str:
    """One line a target: what it says, the figure, PASS / FAIL / n/a."""
    out = []
    for check in checks:
        value = check["value"]
        shown = "-" if value is None else f"{value:.3f}" if isinstance(value, float) else value
        result = {True: "PASS", False: "FAIL", None: "n/a"}[check["passed"]]
        out.append(f"{check['target']:<{width}} {shown:>8}  {result}")
    return "\n".join(out)
