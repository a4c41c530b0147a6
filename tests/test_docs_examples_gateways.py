"""The examples of the pages that start the most servers (see tests/test_docs_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doc_examples import HEAVY, ROOT, PageRun


@pytest.mark.parametrize("name", HEAVY)
def test_the_page_shows_what_its_examples_print(name: str, tmp_path: Path) -> None:
    run = PageRun(ROOT / "docs" / name, tmp_path)
    run.run()
    if run.failures:
        pytest.fail("\n\n".join(run.failures), pytrace=False)
