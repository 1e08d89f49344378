"""One autosync mount: restore at start, the background flush loop, flush/stop/status.

:func:`autosync.start` creates a :class:`Mount` per directory. The backend (the JavaScript half,
through :mod:`autosync._pyodide`) records what changed and turns it into IndexedDB transactions; the
mount asks it how old the unsaved changes are, asks the :class:`~autosync.scheduler.Scheduler` when
to save, starts flushes, retries failed ones with backoff and reports status. Nothing here imports
``js``: the backend is passed in, so this module imports on CPython.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from . import _pyodide, archive
from ._pyodide import JsFailure, MountBackend
from .config import Settings
from .errors import AutosyncError, FlushError, RestoreError, StorageUnavailableError
from .scheduler import Scheduler

log = logging.getLogger("autosync")

State = Literal[
    "restoring", "idle", "pending", "flushing", "waiting", "retrying", "failed", "stopped"
]


@dataclass(frozen=True)
class RestoreProgress:
    """How far a restore has come; passed to ``on_progress`` and shown in :attr:`Status.restore_progress`.

    Entries (files, directories, links) are read first, in batches; then the bytes of large files,
    in batches of chunks. ``bytes_total`` grows while entries are read and is final after that.
    """

    entries_done: int
    entries_total: int
    bytes_done: int
    bytes_total: int

    @classmethod
    def from_js(cls, p: dict[str, Any]) -> RestoreProgress:
        return cls(
            int(p["entriesDone"]), int(p["entriesTotal"]), int(p["bytesDone"]), int(p["bytesTotal"])
        )


@dataclass(frozen=True)
class Conflict:
    """Two tabs (or workers) changed the same file since they last agreed on it.

    The flush that came later won the whole file; ``what`` says which version is kept here, and
    ``kept_as`` names the copy of the other version when ``keep_conflicts`` is on.
    """

    #: The file, relative to the directory.
    path: str
    #: When it was noticed (``time.time()``).
    at: float
    what: str
    kept_as: str | None = None

    @classmethod
    def from_js(cls, c: dict[str, Any]) -> Conflict:
        kept = c.get("keptAs")
        return cls(str(c["path"]), float(c["at"]) / 1000.0, str(c["what"]), kept and str(kept))


@dataclass(frozen=True)
class Status:
    """A snapshot of a mount's state, from :meth:`Mount.status` or :func:`autosync.status`.

    ``state`` is one of ``"restoring"`` (reading the saved data), ``"idle"`` (everything saved),
    ``"pending"`` (changes wait for the next flush), ``"flushing"`` (a flush is committing),
    ``"waiting"`` (another tab or worker is saving this directory; these changes follow),
    ``"retrying"`` (the last flush failed; changes are kept and retried with backoff), ``"failed"``
    (the restore failed; nothing is saved) and ``"stopped"``.
    """

    path: str
    state: State
    #: Whether anything changed that is not committed yet.
    dirty: bool
    #: Distinct files, directories and subtrees waiting to be saved.
    pending_changes: int
    #: Successful flushes since start, whoever started them (timer, flush(), write path, fsync).
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
    #: Progress of the restore (final once it is done); None before it has read anything.
    restore_progress: RestoreProgress | None = None
    #: Flushes started from the write path because Python had not yielded for ``max_wait_ms``.
    write_path_flushes: int = 0
    #: File bytes the last successful flush wrote: the changed chunks of large files, small files whole.
    last_flush_bytes: int | None = None
    #: Conflicts with other tabs or workers on this directory, oldest first (the last 50).
    conflicts: tuple[Conflict, ...] = ()
    #: Changes from other tabs waiting until a file this tab holds open for writing is closed.
    deferred_changes: int = 0
    #: Whether the browser promised to keep the data (``navigator.storage.persisted()``).
    persisted: bool | None = None
    #: The site's storage use and quota in bytes, as the browser reports them.
    usage: int | None = None
    quota: int | None = None
    #: True where IndexedDB looks in-memory (it refuses Blobs, as Safari's Private Browsing does):
    #: the data then lasts for this browsing session only.
    ephemeral: bool = False
    #: Flushes given up on because IndexedDB neither committed nor aborted them in time.
    stalled_flushes: int = 0
    #: ``os.fsync`` returns once its file is on disk (``durable_fsync``, dedicated workers).
    durable_fsync: bool = False

    def _repr_html_(self) -> str:
        from .notebook import status_html

        return status_html([self])


def _now_ms() -> float:
    return time.monotonic() * 1000.0


ProgressCallback = Callable[[RestoreProgress], None]


class Mount:
    """A directory kept saved in IndexedDB. Returned by :func:`autosync.start`.

    :meth:`ready` waits for the restore where :func:`~autosync.start` could not block::

        data = await autosync.start("/data").ready()   # Node, Safari, pyodide.runPython
        await data.flush()                             # returns once everything is committed
        print(data.status().flush_count)
        await data.stop()
    """

    def __init__(
        self,
        settings: Settings,
        backend: MountBackend,
        *,
        on_progress: ProgressCallback | None = None,
        clock: Callable[[], float] = _now_ms,
    ) -> None:
        self.settings = settings
        self._backend = backend
        self._on_progress = on_progress
        self._clock = clock
        self._scheduler = Scheduler(
            debounce_ms=settings.debounce_ms,
            max_wait_ms=settings.max_wait_ms,
            retry_min_ms=settings.retry_min_ms,
            retry_max_ms=settings.retry_max_ms,
        )
        self._lock = asyncio.Lock()
        self._state: State = "restoring"
        self._flushing = False
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[Mount] | None = None
        self._restore_error: str | None = None
        self._restored: dict[str, Any] = {}

    @property
    def path(self) -> str:
        return self.settings.path

    def __repr__(self) -> str:
        return f"<autosync.Mount {self.path!r} {self._state}>"

    def _repr_html_(self) -> str:
        from .notebook import status_html

        return status_html([self.status()])

    # ------------------------------------------------------------------ start

    def begin(self, *, blocking: bool, run_sync: Callable[[Awaitable[Any]], Any]) -> None:
        """Restore, then start the flush loop; block until restored when ``blocking``."""
        if blocking:
            future: asyncio.Future[Mount] = asyncio.get_event_loop().create_future()
            self._ready = future
            try:
                result = run_sync(self._backend.restore(self._progress_callback()))
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

    def _progress_callback(self) -> Callable[[dict[str, Any]], None] | None:
        on_progress = self._on_progress
        if on_progress is None:
            return None

        def report(progress: dict[str, Any]) -> None:
            try:
                on_progress(RestoreProgress.from_js(progress))
            except Exception:
                # A broken callback must not break the restore of the user's data.
                log.exception("autosync %s: the on_progress callback failed", self.path)

        return report

    async def _restore_in_background(self) -> Mount:
        try:
            result = await self._backend.restore(self._progress_callback())
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
        self._backend.start(
            self.settings.max_wait_ms,
            self.settings.flush_on_hide,
            keep_conflicts=self.settings.keep_conflicts,
            persist=self.settings.persist,
            on_event=self._on_event,
        )
        if self._backend.shared().refuses_blobs:
            log.info(
                "autosync %s: this browser's IndexedDB refuses Blobs, as in-memory storage such as "
                "Safari's Private Browsing does: the data lasts for this browsing session only",
                self.path,
            )
        self._task = asyncio.ensure_future(self._run())

    def _on_event(self, kind: str, detail: dict[str, Any]) -> None:
        """News from the JavaScript half that happened outside any call of ours."""
        if kind == "conflict":
            kept = detail.get("keptAs")
            log.warning(
                "autosync %s: conflict on %s: %s%s",
                self.path,
                detail.get("path"),
                detail.get("what"),
                f"; the other version is kept as {kept}" if kept else "",
            )
        elif kind == "damaged":
            log.error(
                "autosync %s: another tab saved %s, which cannot be applied: %s",
                self.path,
                detail.get("path"),
                detail.get("why"),
            )
        else:
            log.debug("autosync %s: %s: %s", self.path, kind, detail.get("message"))

    def _restore_failed(self, error: BaseException) -> RestoreError:
        """Record a failed restore and stop tracking; returns the error to raise."""
        kind = getattr(error, "kind", None) if isinstance(error, JsFailure) else None
        unavailable = kind in ("unavailable", "blocked")
        if unavailable:
            self._restore_error = (
                f"IndexedDB, the browser's storage, is unavailable here ({error}); the files "
                f"under {self.path} stay in memory only and are not saved. Private browsing modes, "
                "sandboxed frames and disabled site data refuse it"
            )
        else:
            self._restore_error = f"restore failed: {error}"
        self._state = "failed"
        log.error(
            "autosync %s: %s; changes to this directory are NOT being saved",
            self.path,
            self._restore_error,
        )
        self._backend.detach()
        cls = StorageUnavailableError if unavailable else RestoreError
        return cls(self._restore_error)

    async def ready(self) -> Mount:
        """Wait until the restore is done; returns this handle, or raises the restore's error.

        Where :func:`autosync.start` could not block (Node, Safari, ``pyodide.runPython``), the
        restore runs in the background; elsewhere it is done already and this returns at once::

            data = await autosync.start("/data").ready()

        The handle itself is not awaitable: JavaScript takes any Python awaitable for a promise, so
        a handle that awaited to itself, returned from ``runPythonAsync``, would never settle.
        """
        assert self._ready is not None, "Mount.begin() was not called"
        return await self._ready

    # ------------------------------------------------------------------ the flush loop

    async def _run(self) -> None:
        while True:
            pending = self._backend.pending()
            if not pending.count:
                await self._backend.when_dirty()
                continue
            if self._scheduler.failures and not self._backend.stats().failures:
                self._succeeded()  # a flush from the write path got through
            now = self._clock()
            due = self._scheduler.due_at(now - pending.first_age_ms, now - pending.last_age_ms)
            assert due is not None
            if due > now:
                await asyncio.sleep((due - now) / 1000.0)
                continue
            # Shielded: stop() cancels this loop, but a commit under way must finish its bookkeeping.
            with contextlib.suppress(FlushError):
                await asyncio.shield(self.flush())

    def _failed(self, error: BaseException) -> FlushError:
        delay = self._scheduler.failed(self._clock())
        # Write-path flushes wait out the same backoff.
        self._backend.hold(delay)
        message = str(error) or type(error).__name__
        # One WARNING per streak of failures; the retries of a streak are logged at DEBUG.
        log.log(
            logging.WARNING if self._scheduler.failures == 1 else logging.DEBUG,
            "autosync %s: flush failed (%s); %d changes stay pending, retrying in %.1f s",
            self.path,
            message,
            self._backend.pending().entries,
            delay / 1000.0,
        )
        return FlushError(f"saving {self.path} failed: {message}")

    def _succeeded(self) -> None:
        if self._scheduler.failures:
            log.info(
                "autosync %s: saving works again after %d failed attempts",
                self.path,
                self._scheduler.failures,
            )
        self._scheduler.succeeded()

    # ------------------------------------------------------------------ public API

    async def flush(self) -> None:
        """Save every change made so far; returns once IndexedDB has committed them.

        Raises :class:`~autosync.errors.FlushError` if saving fails; the changes stay pending and the
        background loop keeps retrying. Raises :class:`~autosync.errors.RestoreError` if the mount
        could not be restored: nothing is saved over data that could not be read.
        """
        await self.ready()  # raises RestoreError if the restore failed
        if self._state == "stopped":
            return
        async with self._lock:
            # The snapshot is taken here, synchronously; the await only waits for the commit.
            commit = self._backend.flush()
            if commit is None:
                return
            self._flushing = True
            try:
                stats = await commit
            except Exception as e:
                raise self._failed(e) from e
            finally:
                self._flushing = False
            self._succeeded()
            log.debug(
                "autosync %s: saved %d entries (%d bytes)",
                self.path,
                stats.get("puts", 0) + stats.get("deletes", 0),
                stats.get("bytes", 0),
            )

    async def stop(self) -> None:
        """Save the last changes, then stop tracking and remove every hook.

        The directory and its files stay where they are, in memory; later changes are not saved.
        If the final save fails, raises :class:`~autosync.errors.FlushError` and keeps running.
        """
        if self._state == "stopped":
            return
        with contextlib.suppress(RestoreError):
            await self.ready()
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
        self._backend.detach()
        self._state = "stopped"
        log.info("autosync %s: stopped after %d flushes", self.path, self._backend.stats().flushes)

    async def discard_damaged(self) -> int:
        """Delete the stored records the restore reported as damaged; returns how many.

        They are never touched otherwise: a record that could not be restored stays in IndexedDB,
        as it was, until this is called.

        >>> await data.discard_damaged()                               # doctest: +SKIP
        2
        """
        await self.ready()
        return await self._backend.discard_damaged()

    def status(self) -> Status:
        """The mount's current :class:`Status`."""
        pending = self._backend.pending()
        stats = self._backend.stats()
        shared = self._backend.shared()
        state = self._state
        if state == "idle":
            if self._flushing or pending.inflight:
                state = "flushing"
            elif stats.failures:
                state = "waiting" if stats.last_error_kind == "waiting" else "retrying"
            elif shared.waiting_for_peer:
                state = "waiting"
            elif pending.count:
                state = "pending"
        progress = self._backend.progress()
        return Status(
            path=self.path,
            state=state,
            dirty=bool(pending.count or pending.inflight) and state not in ("stopped", "failed"),
            pending_changes=pending.entries if state not in ("stopped", "failed") else 0,
            flush_count=stats.flushes,
            last_flush_at=stats.last_flush_at,
            last_flush_duration_ms=stats.last_duration_ms,
            last_error=self._restore_error or stats.last_error,
            consecutive_failures=stats.failures,
            restored=dict(self._restored),
            restore_progress=None if progress is None else RestoreProgress.from_js(progress),
            write_path_flushes=stats.write_path,
            last_flush_bytes=stats.last_bytes,
            conflicts=tuple(Conflict.from_js(c) for c in shared.conflicts),
            deferred_changes=shared.deferred,
            persisted=shared.persisted,
            usage=shared.usage,
            quota=shared.quota,
            ephemeral=shared.refuses_blobs,
            stalled_flushes=stats.stalls,
            durable_fsync=shared.durable_fsync,
        )

    # ------------------------------------------------------------------ copies out and back in

    @overload
    async def export_zip(self, path: None = None) -> bytes: ...
    @overload
    async def export_zip(self, path: str | os.PathLike[str]) -> None: ...
    async def export_zip(self, path: str | os.PathLike[str] | None = None) -> bytes | None:
        """A zip of the directory from one snapshot: its bytes, or written to ``path``.

        Waits for the restore first. ``path`` must be outside the directory. What the zip holds
        (files, directories, links, modes, mtimes) is described in :mod:`autosync.archive`::

            backup = await data.export_zip()
            await data.export_zip("/tmp/data.zip")
        """
        with contextlib.suppress(RestoreError):
            await self.ready()  # after a failed restore, what is in memory is still worth a copy
        return archive.export_zip(self.path, path)

    async def import_zip(
        self, source: archive.Source, *, overwrite: bool = False
    ) -> archive.ImportResult:
        """Put a zip's files, directories and links back; returns once they are saved.

        ``source`` is the zip's bytes, a binary file object or a path. Files and links that exist
        are kept unless ``overwrite``; the result lists what was written and what was kept. The
        whole zip is checked first: an entry that would leave the directory or clashes with what is
        there raises :class:`~autosync.errors.ArchiveError`, and nothing is written::

            result = await data.import_zip(backup)
            result.kept          # e.g. ('notes.txt',): already there, left as it was
        """
        await self.ready()  # the restore decides what exists; raises RestoreError if it failed
        result = archive.import_zip(
            self.path,
            source,
            overwrite=overwrite,
            link_times=_pyodide.set_link_times if _pyodide.IN_PYODIDE else None,
        )
        await self.flush()
        return result

    async def download(self, filename: str | None = None) -> None:
        """Offer a zip of the directory as a browser download (on a page, not in a worker).

        ``filename`` defaults to the directory's name and the time, e.g.
        ``data-20261130-142501.zip``::

            await data.download()
        """
        if not _pyodide.has_document():
            raise AutosyncError(
                "download() needs a page to offer the file from; here there is none (a Web "
                "Worker, or Node). Send the bytes of `await data.export_zip()` to the page instead"
            )
        _pyodide.offer_download(
            await self.export_zip(), filename or archive.default_name(self.path)
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
