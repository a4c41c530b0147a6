"""What metrics cost a request, measured in one process: the same app with and without.

    .venv/bin/python bench/metrics_cost.py [--rounds 40] [--block 500]

Drives two apps built from `bench/scenarios/bench.yaml` (metrics on, the default; and
`metrics=False`) through their ASGI interface, no sockets: blocks of identical requests,
one block per app in turn (ABBA), and reports the median over rounds of each block's CPU
time per request (the collector paused within blocks), and the median of the on/off
ratios of neighbouring blocks. A load test's
numbers move with the machine; these move much less, because both apps see the same
moments. Non-streaming `bench-fast-50`, streaming `bench-fast-200`, and `bench-paced-50`
with its pacing removed (the same 50-event stream, sent at once).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from asgi_post import post  # noqa: E402
from replies import FAST_50, FAST_200, request_body  # noqa: E402

from mockllm.app import create_app  # noqa: E402
from mockllm.config import ServerConfig  # noqa: E402

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}


async def _block(app: Any, body: bytes, count: int) -> float:
    # The collector runs whenever allocations pass its threshold, in whichever block is
    # running then: off during a block, on between them, so both apps pay the same.
    gc.disable()
    started = time.process_time()
    for _ in range(count):
        await post(app, "/v1/chat/completions", HEADERS, body)
    elapsed = time.process_time() - started
    gc.enable()
    return elapsed / count


async def measure(rounds: int, block: int) -> dict[str, Any]:
    scenario = BENCH / "scenarios" / "bench.yaml"
    apps = {
        "on": create_app(ServerConfig(scenarios=(scenario,), reload=False, log_level="warning")),
        "off": create_app(
            ServerConfig(scenarios=(scenario,), reload=False, log_level="warning", metrics=False)
        ),
    }
    apps["on"].metrics.start()  # type: ignore[union-attr]  # as the server's start-up does
    await asyncio.sleep(0.5)  # the import of prometheus-client, off the loop, is over
    cases = {
        "non-stream 50 tokens": request_body(FAST_50.name, stream=False),
        "stream 200 tokens": request_body(FAST_200.name, stream=True),
    }
    out: dict[str, Any] = {}
    for case, body in cases.items():
        for app in apps.values():
            await _block(app, body, block)  # warm-up: caches filled
        times: dict[str, list[float]] = {"on": [], "off": []}
        ratios = []
        for i in range(rounds):
            order = ("on", "off") if i % 2 == 0 else ("off", "on")
            found = {name: await _block(apps[name], body, block) for name in order}
            for name, seconds in found.items():
                times[name].append(seconds)
            ratios.append(found["on"] / found["off"])
            gc.collect()
        out[case] = {
            "on_us": statistics.median(times["on"]) * 1e6,
            "off_us": statistics.median(times["off"]) * 1e6,
            "ratio": statistics.median(ratios),
        }
    apps["on"].metrics.exposition()  # type: ignore[union-attr]  # the figures still publish
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--block", type=int, default=500)
    args = parser.parse_args(argv)
    import os

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    load = os.getloadavg()[0]
    result = asyncio.run(measure(args.rounds, args.block))
    print(f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f}")
    print(f"{'case':<22} {'metrics off':>12} {'metrics on':>11} {'on / off':>9}")
    for case, found in result.items():
        print(
            f"{case:<22} {found['off_us']:>9.1f} µs {found['on_us']:>8.1f} µs "
            f"{found['ratio']:>9.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
