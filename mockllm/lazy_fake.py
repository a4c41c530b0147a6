"""`fake` (mockllm.fake), imported on first use: loading faker takes about 50 ms of the
server's start-up, and answers scripted word for word never need it."""

from __future__ import annotations

from typing import Any


class _Fake:
    """Stands in for the `mockllm.fake` module: the first attribute asked for imports it,
    and each attribute is kept on the instance, so that later lookups cost what a module's
    do."""

    def __getattr__(self, name: str) -> Any:
        from mockllm import fake as module

        value = getattr(module, name)
        self.__dict__[name] = value
        return value


fake: Any = _Fake()
