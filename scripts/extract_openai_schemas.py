"""Write tests/data/openai-schemas.json: the schemas of OpenAI's OpenAPI document that the
schema tests validate answers against, with everything they refer to.

    .venv/bin/python scripts/extract_openai_schemas.py PATH/TO/openapi.yaml

The document is OpenAI's public openai/openai-openapi `openapi.yaml` (MIT licence); the
tests read only the extracted file, so they need nothing outside this repository.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOTS = (
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "Response",
    "ResponseStreamEvent",
    "ResponseItemList",
    "CreateEmbeddingResponse",
    "ErrorResponse",
)
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "openai-schemas.json"


def closure(schemas: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    """The roots and every schema they refer to, transitively."""
    found: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = schemas[name]
        stack: list[Any] = [schemas[name]]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                    pending.append(ref.rsplit("/", 1)[-1])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return found


def main() -> None:
    spec = yaml.safe_load(Path(sys.argv[1]).read_text())
    schemas = closure(spec["components"]["schemas"], ROOTS)
    info = spec.get("info", {})
    document = {
        "source": "openai/openai-openapi openapi.yaml (MIT licence), "
        f"info.version {info.get('version')}",
        "components": {"schemas": schemas},
    }
    OUT.write_text(json.dumps(document, sort_keys=True) + "\n")
    print(f"{len(schemas)} schemas -> {OUT}")


if __name__ == "__main__":
    main()
