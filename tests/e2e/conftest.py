"""Fixtures for end-to-end tests: the demo server and a real browser with a persistent profile.

A test runs in Chromium unless marked ``@pytest.mark.engines(...)`` with the engines of
:data:`demo.engines.ENGINES` it should run in; it is then parametrized by engine
(``test_x[firefox]``). Chromium runs every scenario; Firefox and WebKit run the core ones.

The page loads the Pyodide under test (``--dist-dir``, see tests/conftest.py): the newest, or an
older one through the demo page's ``?pyodide=0.27``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.engines import ENGINES, Browser, Page, launch
from demo.engines.chromium import Chromium
from demo.server import Server


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("engines")
    if marker is None:
        return
    unknown = set(marker.args) - set(ENGINES)
    if unknown:
        raise pytest.UsageError(f"unknown engines {sorted(unknown)}; known: {list(ENGINES)}")
    metafunc.parametrize("engine", marker.args)


@pytest.fixture
def engine() -> str:
    """The browser engine of a test not marked with ``engines``."""
    return "chromium"


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


class Session:
    """One browser profile across restarts; every page is the demo page in manual mode."""

    def __init__(self, browser: Browser, server: Server, pyodide: str) -> None:
        self.browser = browser
        self.server = server
        self.pyodide = pyodide

    def open(self, *, worker: bool = False, another_tab: bool = False) -> Page:
        """The demo page; with ``worker``, its Python runs in a dedicated Web Worker; with
        ``another_tab``, in a new tab beside the open ones (Chromium), as a user opening the app
        twice."""
        query = "?manual=1" + ("&worker=1" if worker else "")
        if self.pyodide:
            query += f"&pyodide={self.pyodide}"
        if another_tab:
            assert isinstance(self.browser, Chromium), "several tabs: Chromium only"
            return self.browser.open_another(self.server.url + query)
        page = self.browser.open(self.server.url + query)
        if not self.pyodide:
            return page
        running = page.python("import pyodide\npyodide.__version__")
        assert running.startswith(self.pyodide + "."), f"asked for {self.pyodide}, got {running}"
        return page

    def start(
        self,
        debounce_ms: int = 300,
        max_wait_ms: int = 1000,
        *,
        worker: bool = False,
        another_tab: bool = False,
        **more: object,
    ) -> Page:
        """Open the page and start autosync on /data (restore included)."""
        page = self.open(worker=worker, another_tab=another_tab)
        args = ", ".join(
            f"{k}={v!r}"
            for k, v in {"debounce_ms": debounce_ms, "max_wait_ms": max_wait_ms, **more}.items()
        )
        page.python(f"import autosync\nawait autosync.start('/data', {args}).ready()\nNone")
        return page

    def start_call(self, args: str) -> str:
        """``autosync.start('/data', args)`` as a user would write it in this engine: plain where
        start() blocks until the restore is done (JSPI), awaited where it cannot block (WebKit)."""
        call = f"autosync.start('/data', {args})"
        return call if self.browser.jspi else f"await {call}.ready()"

    def kill_after(self, seconds: float) -> None:
        time.sleep(seconds)
        self.browser.kill()

    def restart(self, **settings: object) -> Page:
        """Kill the browser if it runs, start it again on the same profile, start autosync."""
        self.browser.restart()
        return self.start(**settings)  # type: ignore[arg-type]


@pytest.fixture
def session(tmp_path: Path, server: Server, engine: str, pyodide_label: str) -> Iterator[Session]:
    with launch(engine, tmp_path / "profile") as browser:
        yield Session(browser, server, pyodide_label)
