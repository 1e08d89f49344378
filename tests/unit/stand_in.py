"""A stand-in for the JavaScript half of a mount, for tests of the Python side on plain CPython."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from autosync._pyodide import FlushStats, Pending, Shared
from autosync.config import resolve
from autosync.mount import Mount


class Backend:
    """The JavaScript half in miniature: pending paths, flushes that commit or fail and give back."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.saved: list[list[str]] = []
        self.fail_next = 0
        self.detached = False
        self.started = False
        self.held_ms: list[float] = []
        self.dirty = asyncio.Event()
        self.restore_error: Exception | None = None
        self.flushes = 0
        self.failures = 0
        self.last_error: str | None = None
        self._progress: dict[str, Any] | None = None
        # What restore() reports, one (entries_done, entries_total, bytes_done, bytes_total) per
        # batch; before_step runs before each (e.g. to move a test's clock on).
        self.steps = [(1, 2, 10, 20), (2, 2, 20, 20)]
        self.before_step: Callable[[], None] = lambda: None
        self.first_at = self.last_at = 0.0

    def change(self, path: str) -> None:
        if not self.paths:
            self.first_at = time.monotonic()
        self.last_at = time.monotonic()
        self.paths.append(path)
        self.dirty.set()

    async def restore(self, on_progress):
        if self.restore_error is not None:
            raise self.restore_error
        for entries_done, entries_total, bytes_done, bytes_total in self.steps:
            self.before_step()
            self._progress = {
                "entriesDone": entries_done,
                "entriesTotal": entries_total,
                "bytesDone": bytes_done,
                "bytesTotal": bytes_total,
            }
            if on_progress is not None:
                on_progress(self._progress)
        return {"files": 2}

    def progress(self):
        return self._progress

    def start(self, max_wait_ms: float, flush_on_hide: bool, **options: Any) -> None:
        self.started = True
        self.options = options

    def pending(self) -> Pending:
        if not self.paths:
            return Pending(0, 0, 0.0, 0.0, 0)
        now = time.monotonic()
        ages = (now - self.first_at) * 1000, (now - self.last_at) * 1000
        return Pending(len(self.paths), len(set(self.paths)), *ages, 0)

    def flush(self):
        if not self.paths:
            return None
        taken, self.paths = self.paths, []
        self.dirty.clear()

        async def done() -> dict[str, Any]:
            if self.fail_next:
                self.fail_next -= 1
                if not self.paths:
                    self.first_at = self.last_at = time.monotonic()
                self.paths = taken + self.paths
                self.failures += 1
                self.last_error = "QuotaExceededError: the quota has been exceeded"
                raise RuntimeError(self.last_error)
            self.saved.append(taken)
            self.flushes += 1
            self.failures = 0
            return {"puts": len(taken)}

        return done()

    def stats(self) -> FlushStats:
        return FlushStats(self.flushes, None, None, None, self.last_error, self.failures, 0)

    def shared(self) -> Shared:
        return Shared()

    async def discard_damaged(self) -> int:
        return 0

    def hold(self, ms: float) -> None:
        self.held_ms.append(ms)

    async def when_dirty(self) -> None:
        await self.dirty.wait()

    def wake(self) -> None:
        pass

    def detach(self) -> None:
        self.detached = True


# Long enough that no timer fires during a test: only explicit flush() and stop() save.
NO_TIMERS = {
    "debounce_ms": 10**6,
    "max_wait_ms": 10**6,
    "retry_min_ms": 10**6,
    "retry_max_ms": 10**6,
}


def started(backend: Backend, **settings: Any) -> Mount:
    mount = Mount(resolve({"path": "/data", **settings}, environ={}), backend)
    mount.begin(blocking=False, run_sync=run_to_end)
    return mount


def run_to_end(awaitable: Any) -> Any:
    """pyodide.ffi.run_sync for the fake backend, whose coroutines never suspend."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the fake backend suspended")


def run(coro):
    return asyncio.run(coro)
