"""What choosing a rule costs as the scenario set grows, in one process (no sockets).

    .venv/bin/python bench/select_cost.py [--sizes 20,200,1000,10000] [--requests 3000]

For each size, writes the benchmark's scenario file with that many rules (its content
rules repeated with distinct suffixes, then the benchmark's rules: see make_scenarios.py),
and times selecting the answering rule for varied requests (a counter in the prompt),
two ways: testing every rule in turn (`selector.select` over all of them), and through
the rule index (`RuleIndex.candidates`, as the server does). Best of five passes of CPU
time; both must choose the same rule.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import orjson  # noqa: E402
from make_scenarios import scenario_text  # noqa: E402
from replies import FAST_50, SYSTEM_PROMPT, USER_PROMPT  # noqa: E402

from mockllm.dialects import ParseContext, chat  # noqa: E402
from mockllm.loader import load_text  # noqa: E402
from mockllm.rule_index import RuleIndex  # noqa: E402
from mockllm.selector import ordered, select  # noqa: E402
from mockllm.state import MemoryStore  # noqa: E402


def requests(count: int) -> list[object]:
    context = ParseContext(refuse_unknown=False)
    out = []
    for i in range(count):
        body = {
            "model": FAST_50.name,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"{USER_PROMPT} #{i}"},
            ],
        }
        out.append(chat.parse(orjson.dumps(body), {}, "/v1/chat/completions", context))
    return out


def best_us(run: object, sent: list[object], passes: int = 5) -> float:
    best = float("inf")
    for _ in range(passes):
        started = time.process_time()
        for request in sent:
            run(request)  # type: ignore[operator]
        best = min(best, time.process_time() - started)
    return best / len(sent) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,200,1000,10000")
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    sent = requests(args.requests)
    store = MemoryStore()
    print(
        f"{'rules':>6}  {'every rule':>11}  {'index':>9}  {'candidates':>10}  {'index built':>11}"
    )
    for size in (int(n) for n in args.sizes.split(",")):
        rules = ordered(load_text(scenario_text(size), f"bench-{size}.yaml"))
        started = time.perf_counter()
        index = RuleIndex(rules)
        built = time.perf_counter() - started
        scan = [select(rules, r, store, 0) for r in sent[:50]]  # type: ignore[arg-type]
        found = [select(index.candidates(r), r, store, 0) for r in sent[:50]]  # type: ignore[arg-type]
        assert [s and s.rule.name for s in scan] == [s and s.rule.name for s in found]
        every = best_us(
            lambda r, rules=rules: select(rules, r, store, 0), sent, 3 if size > 2000 else 5
        )
        indexed = best_us(lambda r, index=index: select(index.candidates(r), r, store, 0), sent)
        count = len(index.candidates(sent[0]))  # type: ignore[arg-type]
        print(f"{size:>6}  {every:>8.1f} µs  {indexed:>6.1f} µs  {count:>10}  {built:>9.2f} s")


if __name__ == "__main__":
    main()
