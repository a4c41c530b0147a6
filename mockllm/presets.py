"""Named latency models: the numbers of published serving benchmarks, as `LatencyModel`s.

Each preset says where its numbers come from (docs/load.md shows the same table). What a
benchmark measured is taken as measured; what it did not measure (prefill rate, cache
size) is estimated from the model's size and the accelerator's datasheet, and the
`derivation` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from mockllm.rules import LatencyModel

NONE = "none"  # no latency model: fixed `latency` only (the default)


@dataclass(frozen=True, slots=True)
class Preset:
    """A latency model, the benchmark it comes from, and how each number was derived."""

    model: LatencyModel
    source: str  # the published benchmark (title and address)
    measured: str  # what the source measured, as the preset uses it
    derivation: str  # how the numbers follow from it


PRESETS: dict[str, Preset] = {
    "llama-3.1-8b-h100": Preset(
        LatencyModel(
            name="llama-3.1-8b-h100",
            ttft_ms=10.0,
            inter_token_ms=6.5,
            prefill_ms_per_1k=40.0,
            load_factor_at_capacity=7.2,
            ttft_load_factor_at_capacity=6.2,
            max_concurrency=64,
            max_queue=1024,
            queue_full_status=429,
            prefix_cache_tokens=400_000,
            prefix_block_tokens=16,
        ),
        source="InferenceBench, 'Recipe: concurrency sweep' (Llama-3.1-8B-Instruct, "
        "1x H100-80GB-HBM3, vLLM 0.21.0, fp16), "
        "https://yobitelcomm.github.io/bench/recipes/concurrency-sweep/",
        measured="concurrency 1: TTFT p50 13.98 ms, TPOT p50 6.48 ms; concurrency 64: "
        "TTFT p50 86.92 ms, TPOT p50 46.91 ms (short chat prompts)",
        derivation="inter_token_ms = TPOT at 1; load factors at 64 = 46.91 / 6.48 (gaps) "
        "and 86.92 / 13.98 (TTFT); prefill estimated at 2 x 8e9 FLOPs a token at 40 % of "
        "the H100's 989 dense BF16 TFLOPS (40 ms per 1000 tokens), so ttft_ms = 14 ms "
        "less a short prompt's prefill; cache: 128 KiB of KV a token in about 56 GB left "
        "after the weights; max_queue is a chosen bound (vLLM's own queue has none)",
    ),
    "qwen2.5-0.5b-l4": Preset(
        LatencyModel(
            name="qwen2.5-0.5b-l4",
            ttft_ms=22.0,
            inter_token_ms=5.1,
            prefill_ms_per_1k=20.0,
            load_factor_at_capacity=1.4,
            ttft_load_factor_at_capacity=5.0,
            max_concurrency=32,
            max_queue=1024,
            queue_full_status=503,
            prefix_cache_tokens=1_000_000,
            prefix_block_tokens=16,
        ),
        source="ai.wmx.dev, 'serving/raw-vllm: a concurrency sweep' (Qwen2.5-0.5B-Instruct "
        "BF16, 1x NVIDIA L4, vLLM v0.23.0, 256-token input, 128-token output), "
        "https://ai.wmx.dev/benchmarks",
        measured="concurrency 1: TTFT p50 27.0 ms, ITL p50 5.1 ms; concurrency 32: "
        "TTFT p50 135.3 ms, ITL p50 7.1 ms",
        derivation="inter_token_ms = ITL at 1; load factors at 32 = 7.1 / 5.1 (gaps) and "
        "135.3 / 27.0 (TTFT); prefill estimated at 2 x 0.5e9 FLOPs a token at 40 % of the "
        "L4's 121 dense BF16 TFLOPS (20 ms per 1000 tokens), so ttft_ms = 27 ms less the "
        "256-token prefill; cache: 12 KiB of KV a token in about 12 GB; max_queue is a "
        "chosen bound",
    ),
}


def preset_names() -> tuple[str, ...]:
    """Every name `--latency-model` and `latency_model:` accept besides a file."""
    return (NONE, *PRESETS)
