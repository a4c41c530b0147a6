"""Soak: 1000 concurrent paced streams plus non-streaming load for 60 s, on one server.

    .venv/bin/python -m reliability.soak [--streams 1000] [--seconds 60] [--plain 50]

Passes when no exchange failed (every stream is a 200 ending in `data: [DONE]` with all
its deltas; every non-streaming answer is a 200 with a completion), the server's resident
memory grew less than 5 % between the end of the warm-up and the end of the run, and the
journal never held more than its size. Prints the figures as JSON; exit status 1 on a
failure. Traffic goes to 127.0.0.1 only; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from reliability.proc import cap_memory, fd_count, free_port, raw_request, rss_kb

TOKENS = 50
TTFT_MS, GAP_MS = 100, 20
SCENARIO = f"""\
version: 1
rules:
  - name: paced
    match: {{ model: paced }}
    reply:
      content: "{" ".join(f"w{i}" for i in range(TOKENS))}"
      latency: {{ ttft_ms: {TTFT_MS}, inter_token_ms: {GAP_MS} }}
"""
JOURNAL_SIZE = 1000
WARM_UP_S = 10.0


class Tally:
    def __init__(self) -> None:
        self.streams = 0
        self.plain = 0
        self.errors: list[str] = []
        self.durations: list[float] = []


async def exchange(port: int, body: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(-1), 15)
    finally:
        writer.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


async def streamer(port: int, stop: float, tally: Tally) -> None:
    body = json.dumps(
        {"model": "paced", "stream": True, "messages": [{"role": "user", "content": "soak"}]}
    ).encode()
    request = raw_request("/v1/chat/completions", body, {"Connection": "close"})
    while time.monotonic() < stop:
        started = time.monotonic()
        try:
            status, data = await exchange(port, request)
        except (OSError, TimeoutError) as exc:
            tally.errors.append(f"stream: {exc!r}")
            continue
        if status != 200 or b"data: [DONE]" not in data or data.count(b'"content":"') < TOKENS:
            tally.errors.append(f"stream: status {status}, {len(data)} bytes: {data[-200:]!r}")
            continue
        tally.streams += 1
        tally.durations.append(time.monotonic() - started)


async def plain(port: int, stop: float, tally: Tally, worker: int) -> None:
    n = 0
    while time.monotonic() < stop:
        n += 1
        body = json.dumps(
            {
                "model": "gpt-4o-mini",
                "max_tokens": 40,
                "messages": [{"role": "user", "content": f"plain {worker} {n}"}],
            }
        ).encode()
        try:
            status, data = await exchange(
                port, raw_request("/v1/chat/completions", body, {"Connection": "close"})
            )
        except (OSError, TimeoutError) as exc:
            tally.errors.append(f"plain: {exc!r}")
            continue
        if status != 200 or b'"object":"chat.completion"' not in data:
            tally.errors.append(f"plain: status {status}: {data[-200:]!r}")
            continue
        tally.plain += 1


async def watch(
    pid: int, url: str, stop: float, samples: list[tuple[float, int]], journal: list[int]
) -> None:
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < stop:
            await asyncio.sleep(2)
            samples.append((round(time.monotonic() - start, 1), rss_kb(pid)))
            response = await client.get(f"{url}/__admin/requests")
            journal.append(len(response.json()["requests"]))


async def load(port: int, pid: int, streams: int, plains: int, seconds: float) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}"
    tally = Tally()
    samples: list[tuple[float, int]] = []
    journal: list[int] = []
    stop = time.monotonic() + WARM_UP_S + seconds
    tasks = [streamer(port, stop, tally) for _ in range(streams)]
    tasks += [plain(port, stop, tally, i) for i in range(plains)]
    tasks.append(watch(pid, url, stop, samples, journal))
    started = time.monotonic()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    after_warm_up = [rss for t, rss in samples if t >= WARM_UP_S]
    base = after_warm_up[0] if after_warm_up else samples[0][1]
    end = samples[-1][1]
    ideal = (TTFT_MS + GAP_MS * TOKENS) / 1000
    durations = sorted(tally.durations)
    return {
        "streams_completed": tally.streams,
        "plain_completed": tally.plain,
        "errors": len(tally.errors),
        "first_errors": tally.errors[:5],
        "seconds": round(elapsed, 1),
        "stream_seconds_p50": round(statistics.median(durations), 3) if durations else None,
        "stream_seconds_p99": round(durations[int(len(durations) * 0.99) - 1], 3)
        if durations
        else None,
        "stream_ideal_seconds": ideal,
        "rss_kb_after_warm_up": base,
        "rss_kb_end": end,
        "rss_growth_percent": round((end - base) * 100 / base, 2),
        "rss_samples_kb": samples,
        "journal_max": max(journal) if journal else 0,
        "journal_size": JOURNAL_SIZE,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--plain", type=int, default=50, help="non-streaming clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured, after the warm-up")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mockllm-soak-"))
    (tmp / "paced.yaml").write_text(SCENARIO)
    port = free_port()
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockllm",
            "serve",
            "--port",
            str(port),
            "--scenarios",
            str(tmp / "paced.yaml"),
            "--journal-size",
            str(JOURNAL_SIZE),
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    cap_memory(proc.pid)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{port}/__admin/health", timeout=1).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("mockllm did not start") from None
                time.sleep(0.1)
        fds_before = fd_count(proc.pid)
        figures = asyncio.run(load(port, proc.pid, args.streams, args.plain, args.seconds))
        time.sleep(1)
        figures["fds_before"] = fds_before
        figures["fds_after"] = fd_count(proc.pid)
        figures["tracebacks_in_log"] = (
            (tmp / "server.log").read_text(errors="replace").count("Traceback")
        )
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
    figures["server_exit"] = proc.returncode
    ok = (
        figures["errors"] == 0
        and float(figures["rss_growth_percent"]) < 5  # type: ignore[arg-type]
        and int(figures["journal_max"]) <= JOURNAL_SIZE  # type: ignore[call-overload]
        and figures["tracebacks_in_log"] == 0
        and proc.returncode == 0
    )
    figures["passed"] = ok
    print(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
