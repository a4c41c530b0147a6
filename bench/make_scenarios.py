"""Write the scenario files mockllm loads for the benchmark.

`bench/scenarios/bench.yaml` is committed; regenerate it with

    .venv/bin/python bench/make_scenarios.py

run.py writes the 100-rule file for the start-up test into a temporary directory, and
checks that the committed file still matches what this module writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from replies import MODELS, BenchModel

BENCH_YAML = Path(__file__).resolve().parent / "scenarios" / "bench.yaml"


def _q(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar with the same escapes.
    return json.dumps(text, ensure_ascii=False)


def _flow(value: object) -> str:
    """`value` as a YAML flow node: bare keys, JSON-quoted strings."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return _q(str(value))


# Rules of the kind a real scenario file holds: they match on message content, so the
# selector has to look at every one of them before it reaches the benchmark's rules.
# Each takes a suffix that keeps generated copies distinct; none matches the benchmark's
# requests (see replies.USER_PROMPT and replies.SYSTEM_PROMPT), nor the varied phases'
# (the same prompt ending " #N", and replies.GENERATED_MODEL, which must reach mockllm's
# generator: run.py checks the journal for it).
_CONTENT_RULES: tuple[tuple[str, Callable[[str], dict[str, object]], str], ...] = (
    (
        "ask-weather",
        lambda s: {"last_user": {"contains": f"weather{s}"}},
        "It is 18 degrees and sunny in Paris.",
    ),
    (
        "order-status",
        lambda s: {"model": "gpt-4o*", "last_user": {"regex": f"^order{s} \\d+"}},
        "Your order has shipped and arrives on Tuesday.",
    ),
    (
        "refund-anywhere",
        lambda s: {"any_message": {"glob": f"*refund{s}*"}},
        "Refunds take five to seven business days.",
    ),
    (
        "translate-french",
        lambda s: {"last_user": {"regex": f"(?i)^translate{s} .+ to french"}},
        "Bonjour tout le monde.",
    ),
    (
        "password-reset",
        lambda s: {"last_user": {"contains": f"password reset{s}"}},
        "A reset link has been sent to your email address.",
    ),
    (
        "pirate-persona",
        lambda s: {"system": {"contains": f"pirate{s}"}},
        "Arr, the treasure be buried under the old oak.",
    ),
    (
        "invoice-lookup",
        lambda s: {"model": "gpt-4o-mini", "last_user": {"regex": f"invoice{s} #?\\d{{4,}}"}},
        "Invoice 10442 was paid on March 3.",
    ),
    (
        "shipping-eta",
        lambda s: {"any_message": {"contains": f"tracking number{s}"}},
        "The parcel is in transit and due in two days.",
    ),
    (
        "sql-helper",
        lambda s: {"last_user": {"glob": f"*SELECT * FROM{s}*"}},
        "That query scans the whole table; add an index on created_at.",
    ),
    ("greeting", lambda s: {"last_user": f"hello{s}"}, "Hello! How can I help you today?"),
    (
        "code-review",
        lambda s: {"last_user": {"contains": f"review this diff{s}"}},
        "The change looks correct; consider a test for the empty case.",
    ),
    (
        "arithmetic",
        lambda s: {"last_user": {"regex": f"^what is{s} \\d+ \\+ \\d+\\??$"}},
        "The answer is 42.",
    ),
    (
        "cancel-subscription",
        lambda s: {"any_message": {"glob": f"*cancel*subscription{s}*"}},
        "Your subscription will end at the close of this billing period.",
    ),
    (
        "legal-contract",
        lambda s: {
            "system": {"contains": f"legal assistant{s}"},
            "last_user": {"contains": "contract"},
        },
        "This clause limits liability to the fees paid in the last year.",
    ),
    (
        "claude-models",
        lambda s: {"model": f"claude-*{s}"},
        "I am a different assistant, answering from a scenario.",
    ),
    (
        "poems",
        lambda s: {"last_user": [{"contains": f"haiku{s}"}, {"contains": f"poem{s}"}]},
        "Autumn moonlight, a worm digs silently into the chestnut.",
    ),
    (
        "recipes",
        lambda s: {"model": "gpt-4*", "last_user": {"contains": f"recipe{s}"}},
        "Whisk two eggs with a pinch of salt and cook on low heat.",
    ),
)


def _content_rule(index: int, suffix: str) -> str:
    name, match, content = _CONTENT_RULES[index % len(_CONTENT_RULES)]
    label = name if not suffix else f"{name}-{index}"
    return (
        f"  - name: {label}\n"
        f"    match: {_flow(match(suffix))}\n"
        f"    reply:\n"
        f"      content: {_q(content)}\n"
    )


def _bench_rule(model: BenchModel) -> str:
    chunks = ", ".join(_q(chunk) for chunk in model.chunks)
    text = (
        f"  - name: {model.name}\n"
        f"    match: {_flow({'model': model.name})}\n"
        f"    reply:\n"
        f"      content: {_q(model.content)}\n"
        f"      chunks: [{chunks}]\n"
    )
    if model.is_paced:
        text += (
            f"      latency: {{ ttft_ms: {model.ttft_ms}, "
            f"inter_token_ms: {model.inter_token_ms} }}\n"
        )
    return text


def scenario_text(total_rules: int = len(_CONTENT_RULES) + len(MODELS)) -> str:
    """A scenario with content rules first and the benchmark's rules last."""
    extra = total_rules - len(MODELS)
    if extra < 0:
        raise ValueError(f"total_rules must be at least {len(MODELS)}, got {total_rules}")
    generated = extra != len(_CONTENT_RULES)
    lines = [
        "# Generated by bench/make_scenarios.py; edit that file, not this one.\n",
        f"# {extra} rules that match on content and never match the benchmark's requests,\n",
        "# then the benchmark's rules (one per model run.py sends).\n",
        "version: 1\n",
        "rules:\n",
    ]
    lines += [_content_rule(i, f" v{i}" if generated else "") for i in range(extra)]
    lines += [_bench_rule(model) for model in MODELS.values()]
    return "".join(lines)


if __name__ == "__main__":
    BENCH_YAML.parent.mkdir(exist_ok=True)
    BENCH_YAML.write_text(scenario_text(), encoding="utf-8")
    print(f"wrote {BENCH_YAML}")
