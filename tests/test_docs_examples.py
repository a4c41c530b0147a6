"""Every example of README.md and docs/*.md runs, and prints what the page shows.

The convention a page follows (console transcripts, files, `<!-- doc: … -->` comments,
placeholders) is written at the top of tests/doc_examples.py. The pages with the most
servers to start run in tests/test_docs_examples_gateways.py, so that two test workers
share the time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doc_examples import HEAVY, PAGES, ROOT, PageRun, has_examples, unaccounted


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_runnable_block_runs_or_says_why_not(page: Path) -> None:
    problems = unaccounted(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if has_examples(p) and p.name not in HEAVY],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_page_shows_what_its_examples_print(page: Path, tmp_path: Path) -> None:
    run = PageRun(page, tmp_path)
    run.run()
    if run.failures:
        pytest.fail("\n\n".join(run.failures), pytrace=False)
