"""mockllm: an OpenAI-compatible Chat Completions server that answers from scripts."""

from __future__ import annotations

__version__ = "0.1.0"
