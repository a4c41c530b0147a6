"""The package's public surface and the direction of its imports."""

from __future__ import annotations

import subprocess
import sys

import mockllm


def test_public_names_are_exactly_all():
    assert sorted(mockllm.__all__) == [
        "MockServer",
        "ServerConfig",
        "__version__",
        "create_app",
        "load_scenarios",
    ]
    for name in mockllm.__all__:
        assert getattr(mockllm, name) is not None


def _imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_engine_does_not_import_http_libraries():
    loaded = _imported_after("mockllm.engine")
    assert "starlette" not in loaded
    assert "uvicorn" not in loaded
    assert "httpx" not in loaded


def test_only_server_imports_uvicorn():
    loaded = _imported_after("mockllm.app")
    assert "starlette" in loaded
    assert "uvicorn" not in loaded


def test_faker_and_vcr_stay_in_their_rooms():
    loaded = _imported_after("mockllm.loader")
    assert "vcr" not in loaded
    assert "starlette" not in loaded
