"""The code is formatted, linted and typed as pyproject.toml says; a change that is not fails here.

`ruff format`, `ruff check` and `mypy --strict` (on mockllm/) run as the suite's own
commands would, from the project's environment.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["mockllm", "tests", "bench", "scripts"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    done = run("ruff", "format", "--check", *CHECKED)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_check_finds_nothing() -> None:
    done = run("ruff", "check", "--no-cache", *CHECKED)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_passes_on_the_package() -> None:
    done = run("mypy", "mockllm")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
