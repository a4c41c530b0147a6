"""A ramp from 1 to 1000 concurrent streams against a latency model, and what TTFT does.

    .venv/bin/python bench/ramp.py [--model llama-3.1-8b-h100] [--peak 1000] [--ramp-s 30]

Starts `mockllm serve --latency-model MODEL` on a loopback port, then keeps a rising
number of streams open: the target goes from 1 to `--peak` over `--ramp-s` seconds, a new
stream starting whenever one ends or the target rises, each the same chat request with a
long system prompt (mockllm's own work per request is then small, so the two cores the
client and the server share matter less; the prefix cache serves the prompt).
Every stream's TTFT is measured at the client; `/metrics` is read every half second for
the server's own view (requests running, queue length). Writes the figures to JSON and a
plot to SVG (docs/load-ramp.svg by default), drawn here without a plotting library.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable
SYSTEM = "You are the support assistant of a shop that sells lamps, bulbs and shades. " * 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(model: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    argv = [
        PYTHON, "-m", "mockllm", "serve", "--port", str(port), "--latency-model", model,
        "--log-level", "warning", "--seed", "1",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/__admin/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"mockllm did not start:\n{log.read_text()}")


_CONTENT = re.compile(rb'"delta":\{"content":"[^"]')


async def one_stream(host: str, port: int, i: int, max_tokens: int) -> dict[str, Any]:
    """One streamed chat request on its own connection (asyncio streams: light enough
    for a thousand at once on the machine that also runs the server)."""
    body = json.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Which bulb fits the lamp on page 12?"},
            ],
            "stream": True,
            "max_tokens": max_tokens,
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer sk-ramp\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(host, port)
    sent = time.monotonic()
    writer.write(head + body)
    first = None
    received = b""  # until the first content delta; after it, bytes are only drained
    status = 0
    while True:
        data = await reader.read(65536)
        if not data:
            break
        if first is None:
            received += data
            if _CONTENT.search(received):
                first = time.monotonic() - sent
                status = int(received.split(b" ", 2)[1])
    writer.close()
    if first is None and received.startswith(b"HTTP/"):
        status = int(received.split(b" ", 2)[1])
    return {"sent": sent, "ttft_s": first, "duration_s": time.monotonic() - sent, "status": status}


async def ramp(url: str, peak: int, ramp_s: float, max_tokens: int) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    # Warm up: the first answer imports the text generator, the first scrape
    # prometheus-client; neither belongs in the ramp.
    await one_stream(host, int(port), -1, max_tokens)
    async with httpx.AsyncClient(timeout=30) as client:
        await client.get(f"{url}/metrics")
    results: list[dict[str, Any]] = []
    samples: list[dict[str, float]] = []
    in_flight = 0
    started = time.monotonic()

    async def run(i: int) -> None:
        nonlocal in_flight
        in_flight += 1
        at_send = in_flight
        try:
            found = await one_stream(host, int(port), i, max_tokens)
            found["in_flight_at_send"] = at_send
            results.append(found)
        finally:
            in_flight -= 1

    async def watch() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                text = (await client.get(f"{url}/metrics")).text
                view = _server_view(text)
                samples.append(
                    {"t": time.monotonic() - started, "client_in_flight": in_flight, **view}
                )
                await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch())
    tasks: set[asyncio.Task[None]] = set()
    i = 0
    while (elapsed := time.monotonic() - started) < ramp_s:
        target = 1 + (peak - 1) * elapsed / ramp_s
        while in_flight < target:
            task = asyncio.create_task(run(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    watcher.cancel()
    for result in results:
        result["sent"] -= started
    return {"streams": sorted(results, key=lambda r: r["sent"]), "samples": samples}


def _server_view(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    view = {"running": 0.0, "queued": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mockllm_group_requests_running":
                view["running"] += sample.value
            elif sample.name == "mockllm_queue_length":
                view["queued"] += sample.value
    return view


# --- the plot ----------------------------------------------------------------------------


def svg(data: dict[str, Any], title: str) -> str:
    """Two panels over time: streams open (client) with requests running and queued
    (server's /metrics); every stream's TTFT, with the median of each second."""
    width, height, left, right, top, gap, panel = 900, 560, 70, 70, 40, 60, 200
    streams = [s for s in data["streams"] if s["ttft_s"] is not None]
    samples = data["samples"]
    t_max = max([s["sent"] + s["duration_s"] for s in streams] + [1.0])
    x = lambda t: left + (width - left - right) * t / t_max  # noqa: E731
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
    ]

    def axes(y0: float, y_max: float, label: str, unit: str) -> Any:
        y = lambda v: y0 + panel - panel * v / y_max  # noqa: E731
        out.append(f'<line x1="{left}" y1="{y0 + panel}" x2="{width - right}" y2="{y0 + panel}" '
                   'stroke="black"/>')  # fmt: skip
        out.append(f'<line x1="{left}" y1="{y0}" x2="{left}" y2="{y0 + panel}" stroke="black"/>')
        for k in range(5):
            v = y_max * k / 4
            out.append(
                f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{v:,.0f}{unit}</text>'
            )
            out.append(f'<line x1="{left}" y1="{y(v)}" x2="{width - right}" y2="{y(v)}" '
                       'stroke="#ddd"/>')  # fmt: skip
        out.append(f'<text x="16" y="{y0 + panel / 2}" transform="rotate(-90 16 {y0 + panel / 2})" '
                   f'text-anchor="middle">{label}</text>')  # fmt: skip
        return y

    def line(points: list[tuple[float, float]], color: str, name: str, at: int) -> None:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{width - right + 6}" y="{at}" fill="{color}">{name}</text>')

    y0 = top
    counts_max = max(
        [1]
        + [s["client_in_flight"] for s in samples]
        + [s["queued"] + s["running"] for s in samples]
    )
    y = axes(y0, counts_max * 1.05, "requests", "")
    line([(x(s["t"]), y(s["client_in_flight"])) for s in samples], "#1f77b4", "open", y0 + 12)
    line([(x(s["t"]), y(s["running"])) for s in samples], "#2ca02c", "running", y0 + 28)
    line([(x(s["t"]), y(s["queued"])) for s in samples], "#d62728", "queued", y0 + 44)

    y0 = top + panel + gap
    ttft_max = max(s["ttft_s"] for s in streams) * 1.05
    y = axes(y0, ttft_max, "TTFT (s)", "")
    for s in streams[:: max(1, len(streams) // 1000)]:
        out.append(f'<circle cx="{x(s["sent"]):.1f}" cy="{y(s["ttft_s"]):.1f}" r="1.5" '
                   'fill="#ff7f0e" fill-opacity="0.4"/>')  # fmt: skip
    by_second: dict[int, list[float]] = {}
    for s in streams:
        by_second.setdefault(int(s["sent"]), []).append(s["ttft_s"])
    medians = [(x(k + 0.5), y(statistics.median(v))) for k, v in sorted(by_second.items())]
    line(medians, "#000000", "median", y0 + 12)
    axis_y = y0 + panel + 18
    for k in range(0, int(t_max) + 1, max(1, int(t_max) // 10)):
        out.append(f'<text x="{x(k)}" y="{axis_y}" text-anchor="middle">{k}</text>')
    caption = "seconds since the ramp began (TTFT: by when the stream was sent)"
    out.append(f'<text x="{width / 2}" y="{axis_y + 20}" text-anchor="middle">{caption}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _title(meta: dict[str, Any]) -> str:
    return (
        f"mockllm --latency-model {meta['model']}: streams ramped from 1 to {meta['peak']} "
        f"over {meta['ramp_s']:g} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama-3.1-8b-h100", help="latency model preset or file")
    parser.add_argument("--peak", type=int, default=1000, help="streams open at the end")
    parser.add_argument("--ramp-s", type=float, default=30.0, help="seconds to reach the peak")
    parser.add_argument("--max-tokens", type=int, default=20, help="tokens per answer")
    parser.add_argument("--json", type=Path, default=BENCH / "results" / "ramp.json")
    parser.add_argument("--svg", type=Path, default=ROOT / "docs" / "load-ramp.svg")
    parser.add_argument("--replot", action="store_true", help="only redraw the SVG from --json")
    args = parser.parse_args(argv)
    if args.replot:
        data = json.loads(args.json.read_text())
        args.svg.write_text(svg(data, _title(data["meta"])))
        return 0
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="mockllm-ramp-") as tmp:
        proc, url = start(args.model, Path(tmp) / "server.log")
        try:
            load_before = os.getloadavg()[0]
            data = asyncio.run(ramp(url, args.peak, args.ramp_s, args.max_tokens))
            metrics = httpx.get(f"{url}/metrics", timeout=10).text
        finally:
            proc.terminate()
            proc.wait(10)
    streams = [s for s in data["streams"] if s["ttft_s"] is not None]
    refused = sum(1 for s in data["streams"] if s["status"] != 200)
    data["meta"] = {
        "model": args.model,
        "peak": args.peak,
        "ramp_s": args.ramp_s,
        "max_tokens": args.max_tokens,
        "streams": len(data["streams"]),
        "refused": refused,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg()[0],
        "ttft_p50_s": statistics.median(s["ttft_s"] for s in streams),
        "ttft_max_s": max(s["ttft_s"] for s in streams),
        "max_queued": max(s["queued"] for s in data["samples"]),
        "metrics_tail": [line for line in metrics.splitlines() if "queue" in line][:6],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=1) + "\n")
    args.svg.write_text(svg(data, _title(data["meta"])))
    print(json.dumps(data["meta"], indent=2))
    print(f"wrote {args.json} and {args.svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
