"""Request tasks start at most a bounded number per event-loop pass, in arrival order, so
that under a burst the loop keeps reading sockets (and stamping arrivals) between
passes; under ordinary load a request's task starts at once."""

from __future__ import annotations

import asyncio

from mockllm.server import _Admission


class _Recorder:
    """Stands in for the protocol: starting a task schedules its first step, as
    `create_task` does, and the step notes the pass it runs in."""

    def __init__(self, passes: list[int]) -> None:
        self.passes = passes
        self.started: list[tuple[object, int]] = []

    def _start_now(self, cycle: object, app: object) -> None:
        asyncio.get_running_loop().call_soon(self._step, cycle)

    def _step(self, cycle: object) -> None:
        self.started.append((cycle, self.passes[0]))


async def _run(arrivals: list[int]) -> list[tuple[object, int]]:
    """`arrivals[k]` requests arrive in pass k (as the loop's socket reads would deliver
    them, all at once); return (request, pass its task's first step ran in) for each."""
    loop = asyncio.get_running_loop()
    admission = _Admission(loop)
    passes = [0]
    protocol = _Recorder(passes)
    number = 0
    for count in [*arrivals, *([0] * 60)]:
        for _ in range(count):
            admission.start(protocol, number, None)  # type: ignore[arg-type]
            number += 1
        await asyncio.sleep(0)  # the rest of this pass and the start of the next
        passes[0] += 1
    return protocol.started


def _per_pass(started: list[tuple[object, int]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for _, ran_in in started:
        counts[ran_in] = counts.get(ran_in, 0) + 1
    return counts


def test_a_burst_starts_in_order_a_bounded_number_per_pass() -> None:
    """100 requests a pass for 10 passes: while they keep arriving, at most `PER_PASS`
    start a pass; once a pass reads nothing new, at most `PER_QUIET_PASS`."""
    started = asyncio.run(_run([100] * 10))
    assert [request for request, _ in started] == list(range(1000))  # arrival order, all
    counts = _per_pass(started)
    assert all(counts.get(p, 0) <= _Admission.PER_PASS for p in range(10)), counts
    assert max(counts.values()) <= _Admission.PER_QUIET_PASS
    # ...and no pass is skipped while requests wait.
    assert sorted(counts) == list(range(min(counts), max(counts) + 1)), counts
    quiet_passes = max(counts) - 10 + 1
    assert quiet_passes <= (1000 - 10 * _Admission.PER_PASS) // _Admission.PER_QUIET_PASS + 2


def test_ordinary_load_starts_at_once() -> None:
    """A few requests a pass: each runs in the pass after it arrived, none waits longer."""
    started = asyncio.run(_run([3, 0, 5, 1, 0, 7]))
    arrived_in = [0, 0, 0, 2, 2, 2, 2, 2, 3, 5, 5, 5, 5, 5, 5, 5]
    assert [p for _, p in started] == arrived_in  # (a step is labelled with the pass before)


def test_later_arrivals_wait_behind_earlier_ones() -> None:
    """A burst, then more requests while it drains: none overtakes a waiting one."""
    started = asyncio.run(_run([200, 10, 10]))
    assert [request for request, _ in started] == list(range(220))
    passes = [p for _, p in started]
    assert passes == sorted(passes)
