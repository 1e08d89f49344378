"""Fixtures for end-to-end tests: the demo server and a real Chromium with a persistent profile."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.browser import Browser, Page
from demo.server import Server


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


class Session:
    """One browser profile across restarts; every page is the demo page in manual mode."""

    def __init__(self, browser: Browser, server: Server) -> None:
        self.browser = browser
        self.server = server

    def open(self, *, worker: bool = False) -> Page:
        """The demo page; with ``worker``, its Python runs in a dedicated Web Worker."""
        return self.browser.open(self.server.url + "?manual=1" + ("&worker=1" if worker else ""))

    def start(
        self,
        debounce_ms: int = 300,
        max_wait_ms: int = 1000,
        *,
        worker: bool = False,
        **more: object,
    ) -> Page:
        """Open the page and start autosync on /data (restore included)."""
        page = self.open(worker=worker)
        args = ", ".join(
            f"{k}={v!r}"
            for k, v in {"debounce_ms": debounce_ms, "max_wait_ms": max_wait_ms, **more}.items()
        )
        page.python(f"import autosync\nawait autosync.start('/data', {args}).ready()\nNone")
        return page

    def kill_after(self, seconds: float) -> None:
        time.sleep(seconds)
        self.browser.kill()

    def restart(self, **settings: object) -> Page:
        """Kill Chromium if it runs, start it again on the same profile, start autosync."""
        self.browser.restart()
        return self.start(**settings)  # type: ignore[arg-type]


@pytest.fixture
def session(tmp_path: Path, server: Server) -> Iterator[Session]:
    with Browser(tmp_path / "profile") as browser:
        yield Session(browser, server)
