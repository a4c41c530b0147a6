"""The package's public surface and the direction of its imports."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

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


def test_the_app_starts_without_faker():
    """faker (about 50 ms of start-up) is imported by the first answer that draws from it:
    a server answering from rules only never loads it."""
    assert "faker" not in _imported_after("mockllm.app")


def test_every_data_file_of_the_package_is_package_data():
    """A file under mockllm/ other than Python reaches a built wheel, and so the Docker image
    (which pip-installs the package), only if a package-data pattern names it: the model
    catalogue, the gateway profiles, the inspector page, the cl100k_base vocabulary."""
    root = Path(mockllm.__file__).parent
    pyproject = tomllib.loads((root.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["mockllm"]
    packaged = {path for pattern in patterns for path in root.glob(pattern)}
    data = {
        path
        for path in root.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }
    assert data - packaged == set()
    assert root / "vocab" / "cl100k_base.tiktoken.xz" in packaged


def test_the_build_metadata_is_current():
    """`project.license` as a table makes setuptools print a deprecation warning (twice per
    build, with a removal date) on every `pip install` of the package: a bare SPDX
    expression, which setuptools reads from 77 on, says the same without it."""
    root = Path(mockllm.__file__).parent.parent
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    assert pyproject["build-system"]["requires"] == ["setuptools>=77"]
