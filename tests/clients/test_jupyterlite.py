"""autosync in JupyterLite, driven through the REPL app's real UI in headless Chromium.

For the newest JupyterLite release line and the one before (``LINES`` in scripts/build_clients.py),
each in a site built offline with ``jupyter lite build``: ``%pip install autosync`` from the site's
``pypi/`` folder, the README's two lines, a file written, then a new kernel (a page reload, and
after one more file, a browser SIGKILL and restart): ``%pip install`` and the same two lines bring
the files back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from demo.browser import LOAD_TIMEOUT_MS, Browser
from demo.server import Server

LINES = ["0.8", "0.7"]
REPL = "repl/index.html?kernel=python"
# The cells a user types: install from the site's pypi/ folder, then the README's two lines.
INSTALL = "%pip install autosync"
README_LINES = 'import autosync\nautosync.start("/data", debounce_ms=500)'
# Waits (without flushing) until autosync's own timer has saved every change.
WAIT_SAVED = (
    "import asyncio\n"
    "while autosync.status().dirty or not autosync.status().flush_count: await asyncio.sleep(0.05)"
)
NOTE = "kept across kernels"


class Repl:
    """JupyterLite's REPL page: type a cell into the prompt, Shift+Enter, read what it printed."""

    CELLS = ".jp-CodeConsole-content .jp-Cell"

    def __init__(self, page: Page) -> None:
        self.page = page
        page.wait_for_selector(".jp-CodeConsole-promptCell .cm-content", timeout=LOAD_TIMEOUT_MS)

    def run(self, code: str) -> str:
        """The cell's output as text; a Python error (stderr output) raises with its text."""
        done = self.page.locator(self.CELLS).count()
        self.page.click(".jp-CodeConsole-promptCell .cm-content")
        self.page.keyboard.insert_text(code)
        self.page.keyboard.press("Shift+Enter")
        # A run cell moves into the log with prompt "[*]:", then "[n]:" once the kernel answered.
        self.page.wait_for_function(
            """([selector, n]) => {
                const cell = document.querySelectorAll(selector)[n];
                return cell && /\\[\\d+\\]/.test(cell.querySelector(".jp-InputPrompt").textContent);
            }""",
            arg=[self.CELLS, done],
            timeout=LOAD_TIMEOUT_MS,
        )
        cell = self.page.locator(self.CELLS).nth(done)
        text = cell.locator(".jp-OutputArea").inner_text()
        if cell.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count():
            raise RuntimeError(f"cell {code!r} failed:\n{text}")
        return text

    def start_autosync(self) -> str:
        self.run(INSTALL)
        return self.run(README_LINES)


def write_note_and_wait_until_saved(repl: Repl, name: str) -> None:
    repl.run(f"open('/data/{name}', 'w').write({NOTE!r})")
    repl.run(WAIT_SAVED)


@pytest.mark.parametrize("line", LINES)
def test_file_survives_a_new_kernel_after_reload_and_after_a_browser_kill(
    line: str, sites: Path, browser: Browser
) -> None:
    with Server(root=sites / f"jupyterlite-{line}" / "site") as site:
        repl = Repl(browser.goto(site.url + REPL))
        assert "idle" in repl.start_autosync()
        write_note_and_wait_until_saved(repl, "note.txt")

        repl.page.reload()
        repl = Repl(repl.page)
        assert "idle" in repl.start_autosync()  # not "restoring": start() waited (JSPI)
        assert NOTE in repl.run("open('/data/note.txt').read()")
        write_note_and_wait_until_saved(repl, "second.txt")

        browser.restart()  # SIGKILL of every Chromium process, then the same profile again
        repl = Repl(browser.goto(site.url + REPL))
        assert "idle" in repl.start_autosync()
        listed = repl.run("import os\nsorted(os.listdir('/data'))")
        assert "['note.txt', 'second.txt']" in listed, listed
        assert NOTE in repl.run("open('/data/second.txt').read()")
