"""What every browser driver offers: start, open the demo page, run Python in it, reload, kill.

A driver starts its browser in a new session, so the browser and every process it spawns share
one process group, and :meth:`Browser.kill` is a real ``SIGKILL`` of all of them at once: no
unload handlers, no clean shutdown. The profile directory outlives the processes, so whatever the
engine keeps on disk (IndexedDB) survives reloads, restarts and kills as it would for a user.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

# Loading Pyodide and the wheel; WebKit compiles the wasm module slower than Chromium does.
LOAD_TIMEOUT_S = 120.0
PYODIDE_READY = "window.pyodideReady === true"
# A Python call may run for a while (a restore, an awaited flush); one that never answers is a
# hang, and a driver that reads its own channel (Firefox, WebKit) raises TimeoutError after this.
COMMAND_TIMEOUT_S = 120.0


class Page(ABC):
    """The demo page with Pyodide and autosync loaded; runs Python through ``runPythonAsync``."""

    def python(self, code: str) -> Any:
        """Run ``code`` with ``runPythonAsync`` (top-level await allowed); returns its last value.

        The result is converted to JSON in Python, so return plain data (str, int, list, dict...).
        A Python exception is re-raised here as RuntimeError with the traceback.
        """
        result = self._run_py(code)
        if result.get("error"):
            raise RuntimeError(result["error"])
        return json.loads(result["value"])

    @abstractmethod
    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if a promise), as plain data."""

    def _wait_until_ready(self, engine: str) -> None:
        wait_until(lambda: self.evaluate(PYODIDE_READY) is True, f"Pyodide loading in {engine}")

    @abstractmethod
    def _run_py(self, code: str) -> dict[str, Any]:
        """What ``window.runPy(code)`` resolved to: ``{value: JSON text}`` or ``{error: text}``."""


class JsonPage(Page):
    """A page whose driver carries only strings back: every result crosses as JSON text."""

    # runPy never rejects, so the JSON text it resolves to is all there is to carry back.
    RUN_PY = "async (code) => JSON.stringify(await window.runPy(code))"
    # Indirect eval: the expression runs in the page's global scope, as typed in its console.
    EVALUATE = "async (expression) => JSON.stringify(await (0, eval)(expression))"

    def evaluate(self, expression: str) -> Any:
        text = self._call(self.EVALUATE, expression)
        return None if text is None else json.loads(text)

    def _run_py(self, code: str) -> dict[str, Any]:
        text = self._call(self.RUN_PY, code)
        assert text is not None
        result: dict[str, Any] = json.loads(text)
        return result

    @abstractmethod
    def _call(self, function: str, arg: str) -> str | None:
        """Await the async JS ``function`` called with the string ``arg``; the string it returns."""


def wait_until(ready: Callable[[], bool], what: str, timeout_s: float = LOAD_TIMEOUT_S) -> None:
    """Poll ``ready`` every 100 ms; TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.1)


class Browser(ABC):
    """One browser on one profile directory, across kills and restarts.

    ``jspi`` says whether ``start()`` can block on the restore (``pyodide.ffi.can_run_sync()``
    inside ``runPythonAsync``); where it cannot, Python must ``await autosync.start(...).ready()``.
    """

    name: ClassVar[str]
    jspi: ClassVar[bool]

    def __init__(self, profile: Path | str) -> None:
        self.profile = Path(profile)
        self.profile.mkdir(parents=True, exist_ok=True)
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    @abstractmethod
    def version() -> str:
        """The browser's name and version, as its own binary reports them."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def start(self) -> Self:
        """Start the browser on the profile and connect to it."""

    @abstractmethod
    def open(self, url: str) -> Page:
        """Load ``url`` (the demo page) in the browser's one tab; returns once Pyodide is ready."""

    @abstractmethod
    def reload(self, page: Page) -> Page:
        """Reload the page; returns once Pyodide is ready again."""

    @abstractmethod
    def _disconnect(self) -> None:
        """Drop the connection to the browser (it may already be dead)."""

    def _quit(self) -> bool:
        """Ask the browser to exit cleanly; True if asked (it then gets a moment to do so)."""
        return False

    @property
    def pid(self) -> int:
        """The browser process's id; every process of this browser is in its session."""
        assert self._proc is not None, "browser not started"
        return self._proc.pid

    def _spawn(self, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        self._proc = subprocess.Popen(argv, start_new_session=True, **popen)
        return self._proc

    def _check_alive(self, doing: str) -> None:
        if self._proc is not None and not self._alive():
            raise RuntimeError(
                f"{self.name} exited with code {self._proc.returncode} while {doing}"
            )

    def kill(self) -> None:
        """SIGKILL every process of the browser at once: no unload handlers, no clean shutdown."""
        if self._proc is not None and self._alive():
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._disconnect()

    def restart(self) -> Self:
        self.kill()
        return self.start()

    def close(self) -> None:
        """Ask the browser to exit, then SIGTERM (and at last SIGKILL) whatever is left."""
        if self._proc is not None and self._alive():
            with contextlib.suppress(Exception):
                if self._quit():
                    self._proc.wait(timeout=10)
        if self._proc is not None and self._alive():
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._disconnect()

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
