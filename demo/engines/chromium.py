"""Debian's Chromium, headless, driven by Playwright over the DevTools protocol.

Chromium is started by us (not by Playwright), so a kill reaches every Chromium process;
Playwright only attaches to it.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any, Self

from playwright.sync_api import Browser as PwBrowser
from playwright.sync_api import Page as PwPage
from playwright.sync_api import Playwright, sync_playwright

from .base import LOAD_TIMEOUT_S, PYODIDE_READY, Browser, Page, wait_until

CHROMIUM = "/usr/bin/chromium"
# What Chromium needs on this kind of machine (root, no GPU, no network but the loopback).
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
]


class ChromiumPage(Page):
    """``raw`` is the Playwright page, for the Chromium-only tests that evaluate JS directly."""

    def __init__(self, page: PwPage) -> None:
        self.raw = page
        page.wait_for_function(PYODIDE_READY, timeout=LOAD_TIMEOUT_S * 1000, polling=100)

    def evaluate(self, expression: str) -> Any:
        return self.raw.evaluate(expression)

    def _run_py(self, code: str) -> dict[str, Any]:
        result: dict[str, Any] = self.raw.evaluate("code => window.runPy(code)", code)
        return result


class Chromium(Browser):
    name = "chromium"
    jspi = True

    def __init__(self, profile: Path | str) -> None:
        super().__init__(profile)
        self._pw: Playwright | None = None
        self._browser: PwBrowser | None = None

    @staticmethod
    def version() -> str:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=False)
        return out.stdout.strip()

    def start(self) -> Self:
        port_file = self.profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)
        self._spawn(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def port_written() -> bool:
            self._check_alive("starting")
            return port_file.exists() and bool(port_file.read_text().strip())

        wait_until(port_written, "chromium opening its DevTools port", 60)
        port = int(port_file.read_text().split()[0])
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        return self

    def open(self, url: str) -> ChromiumPage:
        return ChromiumPage(self.goto(url))

    def goto(self, url: str) -> PwPage:
        """Any page (not only the demo) in the browser's one tab, as Playwright's page."""
        assert self._browser is not None, "browser not started"
        context = self._browser.contexts[0]
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(url)
        return page

    def open_another(self, url: str) -> ChromiumPage:
        """The demo page in a new tab of the same profile: another tab of the same origin."""
        assert self._browser is not None, "browser not started"
        page = self._browser.contexts[0].new_page()
        page.goto(url)
        return ChromiumPage(page)

    def reload(self, page: Page) -> ChromiumPage:
        assert isinstance(page, ChromiumPage)
        page.raw.reload()
        return ChromiumPage(page.raw)

    def _quit(self) -> bool:
        # Over CDP, Playwright's close() only disconnects: the process group is ended after it.
        if self._browser is not None:
            self._browser.close()
        return False

    def _disconnect(self) -> None:
        self._browser = None
        if self._pw is not None:
            with contextlib.suppress(Exception):
                self._pw.stop()
            self._pw = None
