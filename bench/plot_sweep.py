"""Plot the rule-count sweep: requests/s of mockllm and the reference against the number of
rules, and the server's CPU per request, drawn as SVG without a plotting library.

    python bench/plot_sweep.py [--json bench/results/sweep-rules.json] [--svg docs/rules-sweep.svg]

Both axes are logarithmic: the rule counts span three decades, and so does mockllm's
throughput. Each size's figures come from its own alternating turns (bench/sweep_rules.py);
the dashed line is the target for 1,000 rules, 0.8 x the 20-rule server's requests/s.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

MOCKLLM = "#d62728"
REFERENCE = "#1f77b4"
TARGET = "#7f7f7f"


def _decades(low: float, high: float) -> tuple[float, float]:
    """The powers of ten around [low, high]."""
    return 10 ** math.floor(math.log10(low)), 10 ** math.ceil(math.log10(high))


def _ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 times each power of ten between low and high."""
    out = []
    k = math.floor(math.log10(low))
    while 10**k <= high:
        out += [m * 10**k for m in (1, 2, 5) if low <= m * 10**k <= high]
        k += 1
    return out


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def svg(data: dict[str, Any]) -> str:
    """Two panels over the rule count: requests/s (mockllm, reference, the 1,000-rule
    target) and server CPU microseconds per request."""
    rows = sorted((row for row in data["table"] if row["requests_per_s"]), key=lambda r: r["rules"])
    if not rows:
        raise ValueError("the JSON holds no measured size")
    width, height, left, right, top, gap, panel = 900, 640, 90, 150, 50, 80, 210
    x_low, x_high = _decades(min(r["rules"] for r in rows), max(r["rules"] for r in rows))

    x_end = x_high * 2  # room after the last point for its label

    def x(rules: float) -> float:
        share = (math.log10(rules) - math.log10(x_low)) / (math.log10(x_end / x_low))
        return left + (width - left - right) * share

    meta = data["meta"]
    title = (
        f"mockllm rule-count sweep: varied non-streaming requests, c={meta['concurrency']}, "
        f"{meta['cpus']} CPUs, commit {meta['git_commit'][:7]}"
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>',
    ]

    def panel_axes(y0: float, low: float, high: float, label: str) -> Any:
        y_low, y_high = _decades(low, high)

        def y(value: float) -> float:
            share = (math.log10(value) - math.log10(y_low)) / math.log10(y_high / y_low)
            return y0 + panel - panel * share

        x1, x2, y_bottom = left, width - right, y0 + panel
        for tick in _ticks(y_low, y_high):
            major = math.log10(tick).is_integer()
            colour = "#ccc" if major else "#eee"
            out.append(f'<line x1="{x1}" y1="{y(tick):.1f}" x2="{x2}" y2="{y(tick):.1f}" '
                       f'stroke="{colour}"/>')  # fmt: skip
            out.append(f'<text x="{x1 - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                       f"{_number(tick)}</text>")  # fmt: skip
        for tick in _ticks(x_low, x_high):
            out.append(f'<line x1="{x(tick):.1f}" y1="{y0}" x2="{x(tick):.1f}" y2="{y_bottom}" '
                       'stroke="#eee"/>')  # fmt: skip
        out.append(f'<line x1="{x1}" y1="{y_bottom}" x2="{x2}" y2="{y_bottom}" stroke="black"/>')
        out.append(f'<line x1="{x1}" y1="{y0}" x2="{x1}" y2="{y_bottom}" stroke="black"/>')
        middle = y0 + panel / 2
        out.append(f'<text x="18" y="{middle}" transform="rotate(-90 18 {middle})" '
                   f'text-anchor="middle">{label}</text>')  # fmt: skip
        for tick in _ticks(x_low, x_high):
            out.append(f'<text x="{x(tick):.1f}" y="{y_bottom + 16}" text-anchor="middle">'
                       f"{tick:,.0f}</text>")  # fmt: skip
        return y

    def series(points: list[tuple[float, float]], y: Any, colour: str, name: str, at: float,
               labels: bool = True, dashed: bool = False) -> None:  # fmt: skip
        path = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in points)
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')  # fmt: skip
        if not dashed:
            for a, b in points:
                out.append(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="4" fill="{colour}"/>')
                if labels:
                    out.append(f'<text x="{x(a) + 6:.1f}" y="{y(b) - 7:.1f}" fill="{colour}">'
                               f"{_number(b)}</text>")  # fmt: skip
        out.append(f'<text x="{width - right + 10}" y="{at:.1f}" fill="{colour}">{name}</text>')

    # Requests per second.
    y0 = top
    mock = [(r["rules"], r["requests_per_s"]) for r in rows]
    ref = [
        (r["rules"], r["reference_requests_per_s"]) for r in rows if r["reference_requests_per_s"]
    ]
    values = [b for _, b in mock + ref]
    y = panel_axes(y0, min(values), max(values), "requests/s")
    series(ref, y, REFERENCE, "reference", y0 + 14)
    series(mock, y, MOCKLLM, "mockllm", y0 + 32)
    base = next((r["requests_per_s"] for r in rows if r["rules"] == 20), None)
    if base:
        series([(x_low, 0.8 * base), (x_end, 0.8 * base)], y, TARGET,
               f"0.8 x 20 rules ({0.8 * base:,.0f})", y0 + 50, dashed=True)  # fmt: skip

    # CPU per request.
    y0 = top + panel + gap
    mock_cpu = [(r["rules"], r["cpu_us_per_request"]) for r in rows if r["cpu_us_per_request"]]
    ref_cpu = [(r["rules"], r["reference_cpu_us_per_request"]) for r in rows
               if r["reference_cpu_us_per_request"]]  # fmt: skip
    values = [b for _, b in mock_cpu + ref_cpu]
    y = panel_axes(y0, min(values), max(values), "server CPU µs per request")
    series(ref_cpu, y, REFERENCE, "reference", y0 + 14)
    series(mock_cpu, y, MOCKLLM, "mockllm", y0 + 32)

    caption = "rules in the scenario file (the one that answers at 95 %; log scale)"
    out.append(f'<text x="{(left + width - right) / 2}" y="{y0 + panel + 40}" '
               f'text-anchor="middle">{caption}</text>')  # fmt: skip
    load = f"load average {meta['loadavg_before']:.2f} before, {meta['loadavg_after']:.2f} after"
    out.append(f'<text x="{width - 10}" y="{height - 10}" text-anchor="end" fill="#777" '
               f'font-size="11">{meta["date"]}, {load}</text>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=BENCH / "results" / "sweep-rules.json")
    parser.add_argument("--svg", type=Path, default=ROOT / "docs" / "rules-sweep.svg")
    parser.add_argument("--quick", action="store_true", help="accepted for symmetry: no effect")
    args = parser.parse_args(argv)
    data = json.loads(args.json.read_text())
    args.svg.write_text(svg(data), encoding="utf-8")
    print(f"wrote {args.svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
