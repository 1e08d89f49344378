"""autosync: persistent, automatically saved directories for Python in Pyodide.

Everything under a directory is restored from the browser's IndexedDB at start and saved back
automatically, shortly after each change, whichever code made it (``open()``, ``os``, ``sqlite3``,
``shelve``, ``logging``, C extensions)::

    import autosync
    autosync.start("/data", debounce_ms=500)    # restores /data, then keeps it saved
    with open("/data/config.json", "w") as f:   # saved within debounce_ms of the last change
        f.write("{}")

Where Pyodide cannot block on a promise (Node; ``pyodide.runPython`` without JSPI) the restore runs
in the background; ``data = await autosync.start("/data").ready()`` waits for it.

Module-level :func:`flush`, :func:`stop` and :func:`status` act on every mount (or the one named).
Settings can also come from environment variables and a TOML file: see :mod:`autosync.config`.
"""

from __future__ import annotations

from . import _pyodide
from .archive import ImportResult
from .config import Settings, differences, normalize_path, resolve
from .errors import (
    ArchiveError,
    AutosyncError,
    ConfigError,
    FlushError,
    MountError,
    NotInPyodideError,
    RestoreError,
    StorageUnavailableError,
    UnsupportedPyodideError,
)
from .mount import Conflict, Mount, ProgressCallback, RestoreProgress, Status, check_mount_point
from .notebook import RestoreReporter, load_ipython_extension

__version__ = "0.1.0"
__all__ = [
    "ArchiveError",
    "AutosyncError",
    "ConfigError",
    "Conflict",
    "FlushError",
    "ImportResult",
    "Mount",
    "MountError",
    "NotInPyodideError",
    "RestoreError",
    "RestoreProgress",
    "Settings",
    "Status",
    "StorageUnavailableError",
    "UnsupportedPyodideError",
    "flush",
    "load_ipython_extension",
    "mounts",
    "start",
    "status",
    "stop",
]

_mounts: dict[str, Mount] = {}


def start(
    path: str | None = None,
    *,
    debounce_ms: float | None = None,
    max_wait_ms: float | None = None,
    retry_min_ms: float | None = None,
    retry_max_ms: float | None = None,
    flush_on_hide: bool | None = None,
    keep_conflicts: bool | None = None,
    persist: bool | str | None = None,
    durable_fsync: bool | None = None,
    config_file: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> Mount:
    """Restore ``path`` from IndexedDB and keep it saved; returns its :class:`Mount` handle.

    ``path`` must be an absolute directory that is missing or empty (it is created), not ``/``
    and not inside another autosync directory. Unset arguments come from ``AUTOSYNC_*``
    environment variables, then from the TOML file (``config_file``, ``$AUTOSYNC_CONFIG`` or
    ``./autosync.toml``), then from the defaults: ``debounce_ms=500``, ``max_wait_ms=2000``,
    ``retry_min_ms=1000``, ``retry_max_ms=60000``, ``flush_on_hide=True``,
    ``keep_conflicts=False``, ``persist="auto"``, ``durable_fsync=False``.

    ``durable_fsync=True`` makes ``os.fsync`` return only once the file's bytes are on disk (in a
    journal in the Origin Private File System, replayed by the next start if the browser dies
    before the IndexedDB commit lands). Browsers offer that in dedicated Web Workers only;
    elsewhere ``start()`` raises :class:`ConfigError`.

    Where ``pyodide.ffi.can_run_sync()`` is true (``runPythonAsync`` with JSPI, e.g. a notebook
    cell in Chromium), returns after the restore; elsewhere the restore finishes in the background
    and ``await autosync.start(...).ready()`` waits for it. Files written before the restore
    completes are never overwritten or deleted by it. ``on_progress``, if given, is called with a
    :class:`RestoreProgress` after each batch the restore reads (``status().restore_progress``
    shows the same); it is not a setting, so it does not come from the environment or TOML.
    Without it, a restore that takes more than a second shows a progress bar in a notebook and
    INFO lines on the ``"autosync"`` logger elsewhere (:class:`~autosync.notebook.RestoreReporter`).

    Calling ``start()`` again for a running directory returns the same handle if the settings are
    the same, and raises :class:`ConfigError` naming the settings that differ otherwise. After
    :func:`stop`, ``start()`` resumes with the files in place: what another tab saved meanwhile is
    applied, and its first flush saves what changed here while stopped (never removing what it did
    not remove). After a failed restore, ``start()`` tries the restore again.

    >>> data = autosync.start("/data", debounce_ms=250)            # doctest: +SKIP
    >>> data.status().state                                        # doctest: +SKIP
    'idle'
    """
    passed = {
        "path": path,
        "debounce_ms": debounce_ms,
        "max_wait_ms": max_wait_ms,
        "retry_min_ms": retry_min_ms,
        "retry_max_ms": retry_max_ms,
        "flush_on_hide": flush_on_hide,
        "keep_conflicts": keep_conflicts,
        "persist": persist,
        "durable_fsync": durable_fsync,
    }
    settings = resolve({k: v for k, v in passed.items() if v is not None}, config_file=config_file)
    existing = _mounts.get(settings.path)
    if existing is not None and not existing.restartable:
        changed = differences(existing.settings, settings)
        if changed:
            raise ConfigError(
                f"{settings.path!r} is already saved by autosync with other settings ("
                + ", ".join(
                    f"{k}: {getattr(existing.settings, k)!r} now, {getattr(settings, k)!r} asked"
                    for k in changed
                )
                + "); await autosync.stop() it first to change them"
            )
        return existing

    _pyodide.require_pyodide()
    if not _pyodide.has_indexeddb():
        raise StorageUnavailableError(
            "IndexedDB, the browser's storage, is unavailable here: this runtime has none (plain "
            "Node.js, or a browser context that disables it). In Node, load an IndexedDB "
            "implementation such as the npm package fake-indexeddb before Pyodide"
        )
    check_mount_point(settings.path, _pyodide.mounts())
    if settings.durable_fsync and not _pyodide.can_journal():
        raise ConfigError(
            f"durable_fsync=True ({settings.sources.get('durable_fsync', 'argument')}) needs the "
            "Origin Private File System's synchronous access handles, which browsers offer in "
            "dedicated Web Workers only (not on a page's main thread, not in Node): run Pyodide "
            "in a worker, or leave durable_fsync off (os.fsync then starts a commit it cannot "
            "wait for)"
        )
    backend = _pyodide.JsMount(
        settings.path, "autosync:" + settings.path, durable_fsync=settings.durable_fsync
    )
    if on_progress is None:
        on_progress = RestoreReporter(settings.path)
    mount = Mount(settings, backend, on_progress=on_progress)
    _mounts[settings.path] = mount
    mount.begin(blocking=_pyodide.can_run_sync(), run_sync=_pyodide.run_sync)
    return mount


def mounts() -> list[Mount]:
    """Every mount started in this process, stopped ones included."""
    return list(_mounts.values())


def _select(path: str | None) -> list[Mount]:
    if path is None:
        # Every running mount: one whose restore failed saves nothing and must not stop the others.
        return [m for m in _mounts.values() if not m.restartable]
    key = normalize_path(path)
    if key not in _mounts:
        raise AutosyncError(
            f"{key!r} is not an autosync directory; started: {sorted(_mounts) or 'none'}. "
            f"Use autosync.start({key!r}) first."
        )
    return [_mounts[key]]


async def flush(path: str | None = None) -> None:
    """Save every pending change of ``path`` (default: of every running mount); returns once committed.

    >>> await autosync.flush()                                     # doctest: +SKIP
    """
    for mount in _select(path):
        await mount.flush()


async def stop(path: str | None = None) -> None:
    """Final save, then stop saving ``path`` (default: every running mount) and remove the hooks.

    >>> await autosync.stop("/data")                               # doctest: +SKIP
    """
    for mount in _select(path):
        await mount.stop()


def status(path: str | None = None) -> Status:
    """The :class:`Status` of ``path``, or of the only mount when ``path`` is omitted.

    >>> autosync.status().pending_changes                          # doctest: +SKIP
    0
    """
    if path is None:
        if len(_mounts) != 1:
            raise AutosyncError(
                "autosync.status() without a path needs exactly one mount; started: "
                f"{sorted(_mounts) or 'none'}"
            )
        return next(iter(_mounts.values())).status()
    return _select(path)[0].status()
