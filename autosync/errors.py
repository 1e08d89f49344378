"""Exceptions raised by autosync.

Every error autosync raises derives from :class:`AutosyncError`, so ``except autosync.AutosyncError``
catches them all::

    try:
        autosync.start("data")
    except autosync.ConfigError as e:
        print(e)   # path 'data' must be absolute, like '/data'
"""

from __future__ import annotations


class AutosyncError(Exception):
    """Base class of every autosync error."""


class ConfigError(AutosyncError, ValueError):
    """A setting is unknown or has a bad value; the message names the key and the value."""


class NotInPyodideError(AutosyncError, RuntimeError):
    """autosync was started outside Pyodide, or in a Pyodide runtime without IndexedDB."""


class UnsupportedPyodideError(AutosyncError, RuntimeError):
    """autosync was started in a Pyodide older than the oldest it supports (0.27)."""


class MountError(AutosyncError, OSError):
    """The directory cannot be mounted (not a directory, not empty, inside another mount...)."""


class RestoreError(AutosyncError):
    """The saved state could not be read back; nothing saved was changed."""


class StorageUnavailableError(RestoreError):
    """The browser refused IndexedDB (private mode, sandboxed frame, storage disabled, or blocked by
    another tab holding an older version open): files stay in memory only, and are not saved."""


class FlushError(AutosyncError):
    """Saving to IndexedDB failed; the unsaved changes stay pending and are retried."""


class ArchiveError(AutosyncError, ValueError):
    """A zip cannot be imported (an entry would leave the directory, or conflicts with what is
    there...) or exported to the path given; the message names the entry or path. A refused
    import has written nothing."""
