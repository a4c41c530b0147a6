"""The Python snippets of docs/families.md run against a real server and print what the
page shows below them (a ```python block followed by a ```text block)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..conftest import ROOT, SCENARIOS, start_server

PAGES = ("families.md",)
PAIR = re.compile(r"```python\n(.*?)```\n\n```text\n(.*?)```", re.S)
SHOWN_PORT = "127.0.0.1:8000"


def snippets() -> list[tuple[str, int, str, str]]:
    found = []
    for page in PAGES:
        text = (ROOT / "docs" / page).read_text()
        for i, match in enumerate(PAIR.finditer(text)):
            found.append((page, i, match.group(1), match.group(2)))
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # As `./scripts/serve` serves: the bundled scenarios, default seed.
    running = start_server("--scenarios", str(SCENARIOS), tmp_path=tmp_path_factory.mktemp("d"))
    yield running
    running.stop()


def test_the_pages_have_snippets() -> None:
    assert len(snippets()) >= 3


@pytest.mark.parametrize(("page", "index", "code", "shown"), snippets())
def test_snippet_prints_what_the_page_shows(
    served: Any, tmp_path: Path, page: str, index: int, code: str, shown: str
) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(code.replace(SHOWN_PORT, f"127.0.0.1:{served.port}"))
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == shown, f"{page} snippet {index} printed:\n{run.stdout}"


def test_the_rule_shown_is_the_bundled_one() -> None:
    page = (ROOT / "docs" / "families.md").read_text()
    shown = re.search(r"```yaml\n(  - name: refund-policy.*?)```", page, re.S)
    assert shown is not None
    bundled = (SCENARIOS / "support.yaml").read_text()
    lines = [line for line in shown.group(1).splitlines() if line.strip()]
    kept = [line for line in bundled.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "\n".join(lines) in "\n".join(kept)
