"""When to flush: debounce, a maximum wait, and backoff after failures.

Pure logic with no clock of its own and no I/O: every method takes the current time, so tests drive it
with made-up times and the mount loop drives it with ``time.monotonic()``. All times are milliseconds.

    >>> from autosync.scheduler import Scheduler
    >>> s = Scheduler(debounce_ms=500, max_wait_ms=2000, retry_min_ms=1000, retry_max_ms=60000)
    >>> s.due_at(first_change=0, last_change=0)      # quiet after one change: debounce
    500
    >>> s.due_at(first_change=0, last_change=1900)   # steady writer: the maximum wait caps it
    2000
    >>> s.failed(now=2100)                           # a failed flush is retried after backoff
    1000.0
    >>> s.due_at(first_change=0, last_change=1900)
    3100.0
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Scheduler:
    debounce_ms: float
    max_wait_ms: float
    retry_min_ms: float
    retry_max_ms: float
    #: Consecutive failed flushes.
    failures: int = 0
    #: No flush before this time (set after a failure).
    retry_at: float | None = None

    def due_at(self, first_change: float | None, last_change: float | None) -> float | None:
        """When the next flush should start, or None when nothing is unsaved.

        ``first_change`` is the time of the oldest unsaved change, ``last_change`` of the newest.
        """
        if first_change is None or last_change is None:
            return None
        due = min(last_change + self.debounce_ms, first_change + self.max_wait_ms)
        if self.retry_at is not None:
            due = max(due, self.retry_at)
        return due

    def failed(self, now: float) -> float:
        """Record a failed flush at ``now``; returns the delay before the next attempt."""
        self.failures += 1
        delay = min(self.retry_min_ms * 2.0 ** (self.failures - 1), self.retry_max_ms)
        self.retry_at = now + delay
        return delay

    def succeeded(self) -> None:
        """Record a successful flush: the backoff starts over."""
        self.failures = 0
        self.retry_at = None
