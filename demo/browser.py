"""Real headless Chromium with a persistent profile: open the demo page, reload, kill, restart.

Chromium is started by us (not by Playwright) in its own process group, so a crash is a real
``SIGKILL`` of every Chromium process; Playwright attaches over the DevTools protocol. The profile
directory outlives the process, so IndexedDB survives reloads, restarts and kills as it would for
a user.

    with Server() as server, Browser(profile_dir) as browser:
        page = browser.open(server.url)
        page.python("open('/data/x', 'w').write('hi')")
        browser.kill()
        page = browser.restart().open(server.url)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser as PwBrowser
from playwright.sync_api import Page as PwPage
from playwright.sync_api import Playwright, sync_playwright

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
LOAD_TIMEOUT_MS = 120_000


class Page:
    """The demo page with Pyodide and autosync loaded; runs Python through ``runPythonAsync``."""

    def __init__(self, page: PwPage) -> None:
        self.raw = page
        page.wait_for_function("window.pyodideReady === true", timeout=LOAD_TIMEOUT_MS, polling=100)

    def python(self, code: str) -> Any:
        """Run ``code`` with ``runPythonAsync`` (top-level await allowed); returns its last value.

        The result is converted to JSON in Python, so return plain data (str, int, list, dict...).
        A Python exception is re-raised here as RuntimeError with the traceback.
        """
        result = self.raw.evaluate("code => window.runPy(code)", code)
        if result.get("error"):
            raise RuntimeError(result["error"])
        return json.loads(result["value"])


class Browser:
    def __init__(self, profile: Path | str) -> None:
        self.profile = Path(profile)
        self.profile.mkdir(parents=True, exist_ok=True)
        self._proc: subprocess.Popen[bytes] | None = None
        self._pw: Playwright | None = None
        self._browser: PwBrowser | None = None

    @staticmethod
    def version() -> str:
        """What ``chromium --version`` prints."""
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=False)
        return out.stdout.strip()

    @property
    def pid(self) -> int:
        """The browser process's id; every Chromium process of this browser is in its session."""
        assert self._proc is not None, "browser not started"
        return self._proc.pid

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Browser:
        port_file = self.profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)
        self._proc = subprocess.Popen(
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
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited at start with code {self._proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port within 60 s")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        return self

    def open(self, url: str) -> Page:
        assert self._browser is not None, "browser not started"
        context = self._browser.contexts[0]
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(url)
        return Page(page)

    def reload(self, page: Page) -> Page:
        page.raw.reload()
        return Page(page.raw)

    def kill(self) -> None:
        """SIGKILL every Chromium process at once: no unload handlers, no clean shutdown."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._detach()

    def restart(self) -> Browser:
        self.kill()
        return self.start()

    def close(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(Exception):
                self._browser.close()
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._detach()

    def _detach(self) -> None:
        self._browser = None
        if self._pw is not None:
            with contextlib.suppress(Exception):
                self._pw.stop()
            self._pw = None
