"""Fixtures the end-to-end modules share; a module that needs another server defines its
own `server`, which the fixtures here then use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from tests.conftest import RunningServer, start_server


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server of the module's own: no scenarios, the default generator answers, seed 5."""
    name = request.module.__name__.rpartition(".")[2]
    running = start_server("--seed", "5", tmp_path=tmp_path_factory.mktemp(name))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[OpenAI]:
    """The openai SDK on the module's server (no retries)."""
    with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk
