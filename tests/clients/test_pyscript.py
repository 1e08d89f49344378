"""autosync in PyScript pages, on the main thread and in a worker, in headless Chromium.

The site (built by scripts/build_clients.py from clients/pyscript/) loads the autosync wheel through
the config's ``packages`` (a ``./`` URL) into a local Pyodide; its script counts the page's loads in
``/data/count`` and marks the page once autosync's timer saved the new count.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from demo.browser import LOAD_TIMEOUT_MS, Browser
from demo.server import Server

PAGES = {"main thread": "index.html", "worker": "worker.html"}


def saved_count(page: Page) -> int:
    """The count this load wrote, once it is in IndexedDB; fails on a PyScript error."""
    page.wait_for_function(
        "document.body.dataset.saved || document.querySelector('.py-error')",
        timeout=LOAD_TIMEOUT_MS,
        polling=100,
    )
    error = page.locator(".py-error")
    assert not error.count(), error.first.inner_text()
    assert page.evaluate("document.body.dataset.canRunSync") == "True"  # JSPI: start() can block
    return int(page.evaluate("document.body.dataset.saved"))


@pytest.fixture(scope="module")
def site(sites: Path) -> Iterator[Server]:
    # Cross-origin isolated: PyScript's worker reaches the page's DOM through SharedArrayBuffer.
    with Server(root=sites / "pyscript", isolated=True) as server:
        yield server


@pytest.mark.parametrize("where", PAGES)
def test_counter_survives_a_reload_and_a_browser_kill(
    where: str, site: Server, browser: Browser
) -> None:
    page = browser.goto(site.url + PAGES[where])
    assert saved_count(page) == 1
    page.reload()
    assert saved_count(page) == 2
    browser.restart()  # SIGKILL of every Chromium process, then the same profile again
    assert saved_count(browser.goto(site.url + PAGES[where])) == 3
