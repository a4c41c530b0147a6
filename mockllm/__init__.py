"""mockllm: an OpenAI-compatible Chat Completions server that answers from scripts.

The names below are imported lazily, so that `import mockllm.engine` (or any pure
room) does not pull in Starlette or uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["MockServer", "ServerConfig", "__version__", "create_app", "load_scenarios"]

if TYPE_CHECKING:
    from mockllm.app import create_app
    from mockllm.config import ServerConfig
    from mockllm.loader import load_scenarios
    from mockllm.server import MockServer

_WHERE = {
    "MockServer": "mockllm.server",
    "ServerConfig": "mockllm.config",
    "create_app": "mockllm.app",
    "load_scenarios": "mockllm.loader",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'mockllm' has no attribute {name!r}")
