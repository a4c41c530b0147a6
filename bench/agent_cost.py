"""What a coding agent's request costs the server, in one process (no sockets).

    .venv/bin/python bench/agent_cost.py [--requests 60] [--passes 3]

The requests are the ones tests/data/agent-clis.json holds, as Claude Code, Codex and the
Claude Agent SDK sent them (a system prompt of tens of kilobytes, two dozen tools, the
results of earlier calls). Each is sent through the server's ASGI app with no rule (the
default generator answers, as an agent pointed at mockllm with no scenario gets), its last
user text ending with a counter so that no two are alike, as an agent session's turns are
not; and then the same request again and again, which the server's memo answers. Best of
`--passes` passes of CPU time per request; every answer must be a 200.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import orjson  # noqa: E402
from asgi_post import post  # noqa: E402

from mockllm.app import create_app  # noqa: E402
from mockllm.config import ServerConfig  # noqa: E402

REQUESTS = BENCH.parent / "tests" / "data" / "agent-clis.json"


def numbered(body: dict[str, Any]) -> Callable[[int], bytes]:
    """Request n: the body, not streamed, the last text of its last message or item (a
    user's text, or a tool's result) ending with " #n"."""

    def make(n: int) -> bytes:
        copied = copy.deepcopy(body)
        copied["stream"] = False
        items = copied.get("messages") or copied.get("input")
        _number_last_text(items, n)
        return orjson.dumps(copied)

    return make


def _number_last_text(node: Any, n: int) -> bool:
    """Append " #n" to the last string under a text, content or output key; False when
    there is none."""
    entries = list(enumerate(node)) if isinstance(node, list) else []
    if isinstance(node, dict):
        entries = [(k, v) for k, v in node.items() if k in ("text", "content", "output")]
    for key, value in reversed(entries):
        if isinstance(value, str) and isinstance(node, dict):
            node[key] = f"{value} #{n}"
            return True
        if isinstance(value, dict | list) and _number_last_text(value, n):
            return True
    return False


async def best_ms(app: Any, case: dict[str, Any], passes: list[list[bytes]]) -> float:
    """The least CPU time a request of the passes took, in milliseconds."""
    best = float("inf")
    for bodies in passes:
        started = time.process_time()
        for body in bodies:
            status = await post(app, case["path"], case["headers"], body)
            if status != 200:
                raise SystemExit(f"{case['path']}: answered {status}")
        best = min(best, (time.process_time() - started) / len(bodies))
    return best * 1e3


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=60, help="requests a pass")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    cases = json.loads(REQUESTS.read_text())
    app = create_app(ServerConfig(reload=False, log_level="warning"))
    print("| request | body | each its own: ms a request | the same again: ms a request |")
    print("|---|---|---|---|")
    counter = 0
    for name, case in cases.items():
        make = numbered(case["body"])
        await post(app, case["path"], case["headers"], make(0))  # first use: imports
        varied = []  # a pass of requests each its own, never seen before
        for _ in range(args.passes):
            varied.append([make(counter := counter + i + 1) for i in range(args.requests)])
        own = await best_ms(app, case, varied)
        same = await best_ms(app, case, [[make(0)] * args.requests] * args.passes)
        size = len(orjson.dumps(case["body"])) // 1024
        print(f"| {name} ({case['path']}) | {size} KB | {own:.2f} | {same:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
