"""Run schemathesis against mockllm/openapi.yaml on a local server: no answer may be a 5xx.

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python -m reliability.schemathesis_run [--requests 10000] [--seed N]

Starts `mockllm serve` on a free loopback port (memory capped), runs schemathesis with
the `not_a_server_error` check in rounds until at least `--requests` requests were sent,
and prints the figures as JSON. Adding rules at run time is fuzzed against a server of
its own, so that a generated rule (say, one that scripts a 500) cannot turn the other
operations' answers into scripted errors. Exit status 1 when any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from reliability.proc import cap_memory, free_port, rss_kb

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "mockllm" / "openapi.yaml"


def start_server(tmp: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (tmp / "cassettes").mkdir(exist_ok=True)
    log = (tmp / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockllm",
            "serve",
            "--port",
            str(port),
            "--cassettes",
            str(tmp / "cassettes"),
            "--no-reload",
            *args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    cap_memory(proc.pid)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/__admin/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"mockllm did not start; see {log.name}")


def schemathesis() -> str:
    found = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(found).exists():
        raise SystemExit("schemathesis is not installed: pip install -e '.[fuzz]'")
    return found


def run_round(url: str, examples: int, seed: int, report: Path, only: list[str]) -> dict[str, int]:
    """One schemathesis run; the number of requests it sent and of failures it found."""
    command = [
        schemathesis(),
        "run",
        str(SPEC),
        "--url",
        url,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--request-timeout",
        "10",
        "--continue-on-failure",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--suppress-health-check",
        "all",
        "--generation-database",
        ":memory:",
        *only,
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=report.parent)
    tail = done.stdout[-2500:]
    requests = failures = 0
    for line in report.read_text().splitlines():
        requests += line.count('"response":{')
        failures += line.count('"failure_info":{')
    return {"requests": requests, "failures": failures, "exit": done.returncode, "tail": tail}  # type: ignore[dict-item]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="at least this many requests")
    parser.add_argument(
        "--examples", type=int, default=150, help="max examples per operation, per round"
    )
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mockllm-schemathesis-"))
    figures: dict[str, object] = {"rounds": []}
    total = failed = 0
    round_no = 0
    started = time.monotonic()
    while total < args.requests:
        for name, only in (
            ("api", ["--exclude-operation-id", "addRules"]),
            ("add-rules", ["--include-operation-id", "addRules"]),
        ):
            proc, url = start_server(tmp)
            rss_before = rss_kb(proc.pid)
            report = tmp / f"round-{round_no}-{name}.ndjson"
            result = run_round(url, args.examples, args.seed + round_no, report, only)
            alive = proc.poll() is None
            healthy = alive and httpx.get(f"{url}/__admin/health", timeout=5).status_code == 200
            rss_after = rss_kb(proc.pid) if alive else 0
            proc.terminate()
            proc.wait(15)
            logs = "".join(p.read_text(errors="replace") for p in tmp.glob("server-*.log"))
            entry = {
                "round": round_no,
                "part": name,
                "requests": result["requests"],
                "failures": result["failures"],
                "schemathesis_exit": result["exit"],
                "server_healthy_after": healthy,
                "server_exit": proc.returncode,
                "rss_kb_before": rss_before,
                "rss_kb_after": rss_after,
            }
            figures["rounds"].append(entry)  # type: ignore[attr-defined]
            total += int(result["requests"])
            failures = max(int(result["failures"]), 1 if result["exit"] else 0)
            failed += failures + (0 if healthy else 1)
            if result["failures"] or result["exit"] not in (0,):
                print(result["tail"], file=sys.stderr)
            print(json.dumps(entry), file=sys.stderr, flush=True)
        round_no += 1
    figures.update(
        requests=total,
        failures=failed,
        seconds=round(time.monotonic() - started, 1),
        tracebacks_in_logs=logs.count("Traceback"),
        work_dir=str(tmp),
    )
    print(json.dumps(figures, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
