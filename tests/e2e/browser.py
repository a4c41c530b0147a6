"""A real headless browser for the inspector's tests: Debian's Chromium, driven by Playwright.

Playwright's own browser download cannot run here (and is not needed): the tests launch
the Chromium the system has. A missing browser or driver fails the tests with a message
saying how to install it; they are never skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the tests run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium calls home at start, and this machine's closed network
    # refuses it, many times over.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str:
    """The browser to drive: $MOCKLLM_CHROMIUM, else Debian's chromium; fails clearly."""
    wanted = os.environ.get("MOCKLLM_CHROMIUM")
    for candidate in [wanted] if wanted else ["/usr/bin/chromium", "chromium", "chromium-browser"]:
        found = shutil.which(candidate) if not os.path.isabs(candidate) else candidate
        if found and os.access(found, os.X_OK):
            return found
    pytest.fail(
        "The inspector's browser tests need Chromium, and none was found "
        f"({wanted or '/usr/bin/chromium'}). Install it with `apt-get install -y chromium` "
        "(./scripts/test does this when it runs as root), or point MOCKLLM_CHROMIUM at one.",
        pytrace=False,
    )


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright `Browser`), closed afterwards."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "The inspector's browser tests need the `playwright` package (the test extra: "
            "pip install -e '.[test]').",
            pytrace=False,
        )
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=path, args=list(CHROMIUM_FLAGS))
        try:
            yield browser
        finally:
            browser.close()


def screenshot_dir(default: Path) -> Path:
    """Where the tests save their screenshots: $MOCKLLM_SCREENSHOTS (docs/inspector/ when
    making the documentation's pictures), else a temporary folder."""
    folder = Path(os.environ.get("MOCKLLM_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def inspector_page(browser: Any, url: str) -> Iterator[Any]:
    """The inspector open in a new browser context, its feed live; no script error may
    happen on it (checked when it closes)."""
    # The page's content security policy would refuse Playwright's own polling scripts;
    # bypassing it also shows that the page escapes what it shows without the policy's help.
    context = browser.new_context(viewport={"width": 1440, "height": 860}, bypass_csp=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(f"{url}/__admin/ui")
    opened.wait_for_selector('#conn[data-state="live"]', timeout=5000)
    yield opened
    context.close()
    assert errors == [], errors
