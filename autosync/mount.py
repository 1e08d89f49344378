"""One autosync mount: restore at start, the background flush loop, flush/stop/status.

:func:`autosync.start` creates a :class:`Mount` per directory. The mount asks its backend (the
JavaScript half, through :mod:`autosync._pyodide`) for changes, keeps them in a
:class:`~autosync.changes.ChangeSet`, asks the :class:`~autosync.scheduler.Scheduler` when to save,
and commits. Nothing here imports ``js``: the backend is passed in, so this module imports on CPython.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Literal

from .changes import ChangeSet, Plan
from .config import Settings
from .errors import FlushError, RestoreError
from .scheduler import Scheduler

log = logging.getLogger("autosync")

State = Literal["restoring", "idle", "pending", "flushing", "retrying", "failed", "stopped"]


@dataclass(frozen=True)
class Status:
    """A snapshot of a mount's state, from :meth:`Mount.status` or :func:`autosync.status`.

    ``state`` is one of ``"restoring"`` (reading the saved data), ``"idle"`` (everything saved),
    ``"pending"`` (changes wait for the next flush), ``"flushing"``, ``"retrying"`` (the last flush
    failed; changes are kept and retried with backoff), ``"failed"`` (the restore failed; nothing is
    saved) and ``"stopped"``.
    """

    path: str
    state: State
    #: Whether anything changed since the last successful flush.
    dirty: bool
    #: Distinct files, directories and subtrees waiting to be saved.
    pending_changes: int
    #: Successful flushes since start.
    flush_count: int
    #: Wall-clock time (``time.time()``) when the last successful flush committed.
    last_flush_at: float | None
    #: How long that flush took, from snapshot to commit.
    last_flush_duration_ms: float | None
    #: The most recent error (of a flush or of the restore), or None if there never was one.
    last_error: str | None
    #: Failed flushes since the last successful one.
    consecutive_failures: int = 0
    #: What the restore brought back: counts of files, dirs, links, bytes, kept (local won), migrated.
    restored: dict[str, Any] = field(default_factory=dict)


def _now_ms() -> float:
    return time.monotonic() * 1000.0


class Mount:
    """A directory kept saved in IndexedDB. Returned by :func:`autosync.start`.

    Await it to wait for the restore where :func:`~autosync.start` could not block::

        data = await autosync.start("/data")     # Node, or pyodide.runPython without JSPI
        await data.flush()                       # returns once everything is committed
        print(data.status().flush_count)
        await data.stop()
    """

    def __init__(
        self,
        settings: Settings,
        backend: Any,
        *,
        clock: Callable[[], float] = _now_ms,
    ) -> None:
        self.settings = settings
        self._backend = backend
        self._clock = clock
        self._changes = ChangeSet()
        self._scheduler = Scheduler(
            debounce_ms=settings.debounce_ms,
            max_wait_ms=settings.max_wait_ms,
            retry_min_ms=settings.retry_min_ms,
            retry_max_ms=settings.retry_max_ms,
        )
        self._lock = asyncio.Lock()
        self._state: State = "restoring"
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[Mount] | None = None
        self._unregister_page_hide: Callable[[], None] | None = None
        self._flush_count = 0
        self._last_flush_at: float | None = None
        self._last_flush_ms: float | None = None
        self._last_error: str | None = None
        self._restored: dict[str, Any] = {}

    @property
    def path(self) -> str:
        return self.settings.path

    def __repr__(self) -> str:
        return f"<autosync.Mount {self.path!r} {self._state}>"

    # ------------------------------------------------------------------ start

    def begin(self, *, blocking: bool, run_sync: Callable[[Awaitable[Any]], Any]) -> None:
        """Restore, then start the flush loop; block until restored when ``blocking``."""
        if blocking:
            future: asyncio.Future[Mount] = asyncio.get_event_loop().create_future()
            self._ready = future
            try:
                result = run_sync(self._backend.restore())
            except Exception as e:
                error = self._restore_failed(e)
                # Later awaits (flush, stop) see the same failure. Marked as retrieved, since the
                # raise below reports it: asyncio would otherwise log it again when collected.
                future.set_exception(error)
                future.exception()
                raise error from e
            self._restore_done(result)
            future.set_result(self)
        else:
            self._ready = asyncio.ensure_future(self._restore_in_background())

    async def _restore_in_background(self) -> Mount:
        try:
            result = await self._backend.restore()
        except Exception as e:
            raise self._restore_failed(e) from e
        if self._state == "restoring":
            self._restore_done(result)
        return self

    def _restore_done(self, result: dict[str, Any]) -> None:
        self._restored = result
        failed = result.get("failed") or []
        for problem in failed:
            log.error("autosync %s: could not restore %s", self.path, problem)
        log.info(
            "autosync %s: restored %d files, %d directories, %d links (%d bytes)%s%s",
            self.path,
            result.get("files", 0),
            result.get("dirs", 0),
            result.get("links", 0),
            result.get("bytes", 0),
            f"; kept {result['kept']} local entries" if result.get("kept") else "",
            f"; migrated {result['migrated']} entries from IDBFS" if result.get("migrated") else "",
        )
        self._state = "idle"
        if self.settings.flush_on_hide:
            self._unregister_page_hide = self._backend.on_page_hide(self._flush_on_hide)
        self._task = asyncio.ensure_future(self._run())

    def _restore_failed(self, error: BaseException) -> RestoreError:
        """Record a failed restore and stop tracking; returns the error to raise."""
        self._last_error = f"restore failed: {error}"
        self._state = "failed"
        log.error(
            "autosync %s: %s; changes to this directory are NOT being saved",
            self.path,
            self._last_error,
        )
        self._backend.detach()
        return RestoreError(self._last_error)

    def __await__(self) -> Generator[Any, None, Mount]:
        assert self._ready is not None, "Mount.begin() was not called"
        return self._ready.__await__()

    # ------------------------------------------------------------------ the flush loop

    def _absorb(self) -> None:
        """Move the changes the hooks recorded into the change set."""
        taken = self._backend.take()
        if taken.count:
            now = self._clock()
            self._changes.add(
                taken.paths,
                taken.trees,
                first_at=now - taken.first_age_ms,
                last_at=now - taken.last_age_ms,
            )

    async def _run(self) -> None:
        while True:
            self._absorb()
            due = self._scheduler.due_at(self._changes.first_at, self._changes.last_at)
            if due is None:
                await self._backend.when_dirty()
                continue
            delay = due - self._clock()
            if delay > 0:
                await asyncio.sleep(delay / 1000.0)
                continue
            # Shielded: stop() cancels this loop, but a commit under way must finish its bookkeeping.
            with contextlib.suppress(FlushError):
                await asyncio.shield(self.flush())

    def _start_commit(self) -> Awaitable[None] | None:
        """Snapshot what changed and start committing it; None when nothing changed.

        The snapshot is taken before this returns, so the caller may await the result later.
        """
        self._absorb()
        plan = self._changes.take()
        if not plan:
            return None
        self._state = "flushing"
        started = self._clock()
        try:
            commit = self._backend.commit(plan.paths, plan.trees)
        except Exception as e:
            return self._failed(plan, e)
        return self._finish(plan, commit, started)

    async def _finish(self, plan: Plan, commit: Awaitable[dict[str, Any]], started: float) -> None:
        try:
            stats = await commit
        except Exception as e:
            await self._failed(plan, e)
            return
        self._scheduler.succeeded()
        self._flush_count += 1
        self._last_flush_at = time.time()
        self._last_flush_ms = self._clock() - started
        self._absorb()
        self._state = "pending" if self._changes else "idle"
        log.debug(
            "autosync %s: saved %d entries (%d bytes) in %.1f ms",
            self.path,
            stats.get("puts", 0) + stats.get("deletes", 0),
            stats.get("bytes", 0),
            self._last_flush_ms,
        )

    async def _failed(self, plan: Plan, error: BaseException) -> None:
        self._changes.give_back(plan)
        delay = self._scheduler.failed(self._clock())
        self._last_error = str(error) or type(error).__name__
        self._state = "retrying"
        log.warning(
            "autosync %s: flush failed (%s); %d changes stay pending, retrying in %.1f s",
            self.path,
            self._last_error,
            self._changes.pending,
            delay / 1000.0,
        )
        raise FlushError(f"saving {self.path} failed: {self._last_error}") from error

    def _flush_on_hide(self, *_: Any) -> None:
        # Called from a visibilitychange/pagehide event: the snapshot and the IndexedDB requests go
        # out now, synchronously, since the page may be gone before any task runs. It does not wait
        # for the lock: if a flush is committing, IndexedDB runs the two readwrite transactions in
        # the order they were created, so the newer snapshot still lands last.
        if self._state in ("stopped", "failed", "restoring"):
            return
        commit = self._start_commit()
        if commit is not None:
            task = asyncio.ensure_future(commit)
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # ------------------------------------------------------------------ public API

    async def flush(self) -> None:
        """Save every change made so far; returns once IndexedDB has committed them.

        Raises :class:`~autosync.errors.FlushError` if saving fails; the changes stay pending and the
        background loop keeps retrying. Raises :class:`~autosync.errors.RestoreError` if the mount
        could not be restored: nothing is saved over data that could not be read.
        """
        await self  # raises RestoreError if the restore failed
        if self._state == "stopped":
            return
        async with self._lock:
            commit = self._start_commit()
            if commit is not None:
                await commit

    async def stop(self) -> None:
        """Save the last changes, then stop tracking and remove every hook.

        The directory and its files stay where they are, in memory; later changes are not saved.
        If the final save fails, raises :class:`~autosync.errors.FlushError` and keeps running.
        """
        if self._state == "stopped":
            return
        with contextlib.suppress(RestoreError):
            await self
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._state != "failed":
            try:
                await self.flush()
            except FlushError:
                self._task = asyncio.ensure_future(self._run())
                raise
        if self._unregister_page_hide is not None:
            self._unregister_page_hide()
            self._unregister_page_hide = None
        self._backend.detach()
        self._state = "stopped"
        log.info("autosync %s: stopped after %d flushes", self.path, self._flush_count)

    def status(self) -> Status:
        """The mount's current :class:`Status`."""
        if self._state not in ("stopped", "failed", "restoring"):
            self._absorb()
        state = self._state
        if state == "idle" and self._changes:
            state = "pending"
        return Status(
            path=self.path,
            state=state,
            dirty=bool(self._changes) or state == "flushing",
            pending_changes=self._changes.pending,
            flush_count=self._flush_count,
            last_flush_at=self._last_flush_at,
            last_flush_duration_ms=self._last_flush_ms,
            last_error=self._last_error,
            consecutive_failures=self._scheduler.failures,
            restored=dict(self._restored),
        )

    @property
    def stopped(self) -> bool:
        return self._state == "stopped"

    @property
    def restartable(self) -> bool:
        """Whether :func:`autosync.start` may make a new mount for this directory."""
        return self._state in ("stopped", "failed")


def check_mount_point(path: str, mount_points: dict[str, str]) -> None:
    """Raise MountError unless ``path`` can become an autosync mount; create it if missing.

    ``mount_points`` maps every existing mount point to ``"autosync"`` or ``"other"``.
    """
    import os

    from .errors import MountError

    for point, kind in mount_points.items():
        if kind == "autosync" and point != path:
            if path.startswith(point + "/"):
                raise MountError(
                    f"{path!r} is inside the autosync directory {point!r}, which already saves "
                    f"everything below it; use {point!r} or a directory outside it"
                )
            if point.startswith(path + "/"):
                raise MountError(
                    f"{path!r} contains the autosync directory {point!r}; stop that one first "
                    f"(await autosync.stop({point!r})) or choose another directory"
                )
    existing = mount_points.get(path)
    if existing == "autosync":
        return  # stopped earlier; start() resumes it with its files in place
    if existing is not None:
        raise MountError(f"{path!r} is already a mount point of another file system")
    if os.path.islink(path):
        raise MountError(f"{path!r} is a symbolic link; give the directory it points to")
    if os.path.lexists(path) and not os.path.isdir(path):
        raise MountError(f"{path!r} is a file, not a directory; autosync saves a directory")
    if os.path.isdir(path):
        entries = os.listdir(path)
        if entries:
            shown = ", ".join(sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "")
            raise MountError(
                f"{path!r} already holds {len(entries)} entries ({shown}); autosync would hide them "
                "under its mount. Call autosync.start() before writing there, or move them away"
            )
        return
    try:
        os.makedirs(path)
    except OSError as e:
        raise MountError(f"cannot create {path!r}: {e.strerror or e}") from e
