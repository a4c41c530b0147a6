"""What the two scaling sweeps (sweep_rules.py, sweep_cassettes.py) share: start-up
timing, CPU per request, and the text of their tables."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from run import (
    BENCH,
    PYTHON,
    ROOT,
    Plan,
    _loadavg,
    _meta,
    _raise_nofile,
    _say,
    cpu_seconds,
    start_server,
)


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


def arguments(description: str, name: str, what: str, keep: str) -> argparse.ArgumentParser:
    """The options both sweeps take; `name` names the results file, `what` the sizes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="short turns, one start per size")
    default = BENCH / "results" / f"{name}.json"
    parser.add_argument(
        "--json", type=Path, default=default,
        help=f"where to write the results (default: bench/results/{name}.json)",
    )  # fmt: skip
    parser.add_argument("--sizes", help=f"{what} counts, comma-separated")
    parser.add_argument("--no-profile", action="store_true", help="skip the start-up profile")
    parser.add_argument("--keep", type=Path, help=keep)
    return parser


def sizes_of(args: argparse.Namespace, default: Sequence[int]) -> list[int]:
    text = args.sizes or ",".join(map(str, default))
    return sorted({int(s) for s in text.split(",") if s.strip()})


def ready() -> float | None:
    """Before a sweep: wrk present, file limits raised, mockllm's bytecode compiled (so the
    first start-up does not pay for it); the load average now, or None without wrk."""
    if shutil.which("wrk") is None:
        _say("error: wrk is not on PATH (Debian package wrk)")
        return None
    _raise_nofile()
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "mockllm")], check=False)
    load = _loadavg()
    _say(f"load average (1 min) at start: {load:.2f}")
    return load


def report(
    args: argparse.Namespace,
    plan: Plan,
    data: dict[str, Any],
    rows: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    run: dict[str, Any],
) -> int:
    """Write the results as JSON and print them; the exit status (0: every target met).

    `run`: `elapsed_s`, `loadavg_before`, `meta` (more run facts), `title`, `lines`
    (printed before the table), `render` (the table), `width` (of the targets' names),
    `serve` (the option that named the profiled start-up's input)."""
    meta = {
        **_meta(True, argparse.Namespace(quick=args.quick, no_wrk=False)),
        "elapsed_s": run["elapsed_s"],
        "loadavg_before": run["loadavg_before"],
        "loadavg_after": _loadavg(),
        **run["meta"],
        "concurrency": plan.requests_concurrency,
    }
    document = {"meta": meta, "plan": asdict(plan), **data, "table": rows, "targets": checks}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print()
    print(
        f"{run['title']}, {meta['cpus']} CPUs, {meta['non_stream_client']}, "
        f"c={plan.requests_concurrency}, {run['load']}; "
        f"{plan.slices} turns of {plan.requests_s / plan.slices:g} s per server and size"
        f"{'; QUICK' if args.quick else ''}"
    )
    print(
        f"load average (1 min) at start: {meta['loadavg_before']:.2f}, "
        f"at end: {meta['loadavg_after']:.2f}"
    )
    for line in run.get("lines", ()):
        print(line)
    print(run["render"](rows))
    print()
    print(render_targets(checks, run["width"]))
    if "startup_profile" in data:
        prof = data["startup_profile"]
        print(
            f"\nstart-up profile, mockllm serve {run['serve']} {prof['file']} until healthy "
            f"({prof['healthy_under_profile_s']:.2f} s under cProfile, {prof['profiled']}); "
            f"top {len(prof['top']) - 1} by own time:"
        )
        print("\n".join(prof["top"]))
    print(f"\nwrote {args.json} ({run['elapsed_s']:.0f} s)")
    return 0 if all(check["passed"] for check in checks) else 1
