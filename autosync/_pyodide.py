"""The one place that touches Pyodide, JavaScript and Emscripten's FS.

Everything else in autosync imports on plain CPython; this module imports ``js``, ``pyodide`` and
``pyodide_js`` only inside its functions, so importing it outside Pyodide works and
:func:`require_pyodide` reports the problem in words. The JavaScript half lives in ``js/autosync.js``
and is evaluated once, on first use.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol, cast

from .errors import NotInPyodideError, UnsupportedPyodideError

IN_PYODIDE = "_pyodide_core" in sys.modules or sys.platform == "emscripten"
# The oldest Pyodide line autosync runs on; ./dev test runs every pinned line from it to the newest.
OLDEST_PYODIDE = (0, 27)


@dataclass(frozen=True)
class Pending:
    """Unsaved changes as the hooks see them (ages in ms, measured by JavaScript)."""

    #: Changes recorded since the last flush was issued (0: nothing unsaved).
    count: int
    #: Distinct files, directories and subtrees among them.
    entries: int
    first_age_ms: float
    last_age_ms: float
    #: Flushes issued and not yet committed.
    inflight: int


@dataclass(frozen=True)
class FlushStats:
    """What the JavaScript half counts of every flush, whoever started it."""

    flushes: int
    #: ``time.time()`` of the last successful commit.
    last_flush_at: float | None
    last_duration_ms: float | None
    #: File bytes the last successful flush wrote (whole chunks, small files whole).
    last_bytes: int | None
    last_error: str | None
    #: Failed flushes since the last successful one.
    failures: int
    #: Flushes started from the write path because Python had not yielded for ``max_wait_ms``.
    write_path: int
    #: What kind of failure ``last_error`` was ("quota", "closed", "stalled", "waiting", ...).
    last_error_kind: str | None = None
    #: Flushes given up on because IndexedDB neither committed nor aborted them in time.
    stalls: int = 0


@dataclass(frozen=True)
class Shared:
    """What other tabs and the browser's storage look like from one mount."""

    #: Conflicts with other tabs, oldest first: dicts with ``path``, ``at`` (ms), ``what``, ``keptAs``.
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    #: Changes wait because another tab or worker is saving this directory.
    waiting_for_peer: bool = False
    #: Changes from other tabs waiting until a file open for writing here is closed.
    deferred: int = 0
    #: ``navigator.storage.persisted()``: whether the browser promised to keep the data.
    persisted: bool | None = None
    usage: int | None = None
    quota: int | None = None
    #: IndexedDB refuses Blobs, as WebKit's in-memory storage (Safari Private Browsing) does.
    refuses_blobs: bool = False
    #: os.fsync journals its file in the Origin Private File System (``durable_fsync``).
    durable_fsync: bool = False


class JsFailure(Exception):
    """A failure reported by the JavaScript half: ``kind`` says what failed, the message how."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


EventCallback = Callable[[str, dict[str, Any]], None]


class MountBackend(Protocol):
    """The browser-side operations a mount needs; :class:`JsMount` is the Pyodide implementation."""

    def restore(
        self, on_progress: Callable[[dict[str, Any]], None] | None
    ) -> Awaitable[dict[str, Any]]: ...
    def progress(self) -> dict[str, Any] | None: ...
    def start(
        self,
        max_wait_ms: float,
        flush_on_hide: bool,
        *,
        keep_conflicts: bool,
        persist: bool | str,
        on_event: EventCallback,
    ) -> None: ...
    def pending(self) -> Pending: ...
    def flush(self) -> Awaitable[dict[str, Any]] | None: ...
    def stats(self) -> FlushStats: ...
    def shared(self) -> Shared: ...
    def hold(self, ms: float) -> None: ...
    def when_dirty(self) -> Awaitable[None]: ...
    def wake(self) -> None: ...
    def discard_damaged(self) -> Awaitable[int]: ...
    def detach(self) -> None: ...


def require_pyodide() -> None:
    if not IN_PYODIDE:
        raise NotInPyodideError(
            "autosync runs inside Pyodide (browser main thread, Web Worker or Node), where it saves "
            "files to IndexedDB; this is CPython "
            f"{sys.version.split()[0]} on {sys.platform}. Load autosync in Pyodide, e.g. with "
            "micropip.install() or pyodide.loadPackage()."
        )
    import pyodide

    check_pyodide_version(pyodide.__version__)


def check_pyodide_version(version: str) -> None:
    """Raise :class:`UnsupportedPyodideError` if ``version`` (``pyodide.__version__``) is too old.

    A version that does not start with two numbers is let through: it cannot be judged.
    """
    parsed = re.match(r"(\d+)\.(\d+)", version)
    if parsed is not None and (int(parsed[1]), int(parsed[2])) < OLDEST_PYODIDE:
        oldest = ".".join(map(str, OLDEST_PYODIDE))
        raise UnsupportedPyodideError(
            f"autosync supports Pyodide {oldest} and newer; this is Pyodide {version}. Load "
            f"autosync in Pyodide {oldest} or newer (the README lists the versions it is tested on)."
        )


_api: Any = None

# The JavaScript half, one file per concern, in the order they build on each other.
_JS_MODULES = ("store", "tree", "hooks", "flush", "peers", "journal", "restore", "mount")

# Evaluates each module's source, which evaluates to a function of (FS, lib) returning its exports.
_LOADER = """(FS, sources) => {
  const lib = {};
  for (const [name, source] of sources) lib[name] = (0, eval)(source)(FS, lib);
  return lib.mount;
}"""


def _js_api() -> Any:
    global _api
    if _api is None:
        import pyodide_js
        from pyodide.code import run_js
        from pyodide.ffi import to_js

        def source(name: str) -> str:
            return resources.files("autosync").joinpath("js", f"{name}.js").read_text("utf-8")

        sources = to_js([[name, source(name)] for name in _JS_MODULES])
        _api = run_js(_LOADER)(pyodide_js.FS, sources)
    return _api


def has_indexeddb() -> bool:
    return bool(_js_api().hasIndexedDB())


def can_journal() -> bool:
    """Whether OPFS synchronous access handles exist here (dedicated workers): ``durable_fsync``."""
    return bool(_js_api().canJournal())


def mounts() -> dict[str, str]:
    """Every mount point of Emscripten's FS, mapped to ``"autosync"`` or ``"other"``."""
    return {str(point): str(kind) for point, kind in _js_api().mounts().to_py()}


_snippets: dict[str, Any] = {}


def _js_function(source: str) -> Any:
    """The JavaScript function ``source`` evaluates to, evaluated once."""
    if source not in _snippets:
        from pyodide.code import run_js

        _snippets[source] = run_js(source)
    return _snippets[source]


def set_link_times(path: str, atime_ns: int, mtime_ns: int) -> None:
    """Set a symbolic link's own times: Pyodide's os.utime cannot (no follow_symlinks=False)."""
    import pyodide_js

    # Through the node's setattr, as FS.utime would do but without following the link, so the
    # mount's hooks see the change.
    _js_function(
        "(FS, path, atime, mtime) => {"
        "  const node = FS.lookupPath(path, { follow: false }).node;"
        "  node.node_ops.setattr(node, { atime, mtime });"
        "}"
    )(pyodide_js.FS, path, atime_ns // 10**6, mtime_ns // 10**6)  # ms; a float of ns rounds


def has_document() -> bool:
    """Whether this is a page (a worker or Node has no ``document`` to offer a download from)."""
    import js

    return hasattr(js, "document")


def offer_download(data: bytes, filename: str) -> None:
    """Have the page offer ``data`` as a file download named ``filename``."""
    from pyodide.ffi import to_js

    _js_function(
        "(bytes, filename) => {"
        "  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/zip' }));"
        "  const a = Object.assign(document.createElement('a'), { href: url, download: filename });"
        "  document.body.append(a);"
        "  a.click();"
        "  a.remove();"
        # Not revoked at once: the browser may still be reading the Blob (FileSaver.js waits 40 s).
        "  setTimeout(() => URL.revokeObjectURL(url), 40000);"
        "}"
    )(to_js(data), filename)


def can_run_sync() -> bool:
    try:
        from pyodide.ffi import can_run_sync as can
    except ImportError:  # Pyodide before JSPI support
        return False
    return bool(can())


def run_sync(awaitable: Awaitable[Any]) -> Any:
    from pyodide.ffi import run_sync as run

    return run(awaitable)


class JsMount:
    """One autosync mount as seen from Python: a thin typed wrapper over the JavaScript object."""

    def __init__(self, mountpoint: str, db_name: str, *, durable_fsync: bool = False) -> None:
        from pyodide.ffi import to_js

        options = to_js({"durableFsync": durable_fsync}, dict_converter=_js_object)
        self._js = _js_api().attach(mountpoint, db_name, options)
        self._proxies: list[Any] = []

    def restore(
        self, on_progress: Callable[[dict[str, Any]], None] | None
    ) -> Awaitable[dict[str, Any]]:
        if on_progress is None:
            return _converted(self._js.restore())
        from pyodide.ffi import create_proxy

        proxy = create_proxy(lambda progress: on_progress(progress.to_py()))
        return _converted(self._js.restore(proxy), finally_=proxy.destroy)

    def progress(self) -> dict[str, Any] | None:
        progress = self._js.progress
        return None if progress is None else cast(dict[str, Any], progress.to_py())

    def start(
        self,
        max_wait_ms: float,
        flush_on_hide: bool,
        *,
        keep_conflicts: bool,
        persist: bool | str,
        on_event: EventCallback,
    ) -> None:
        from pyodide.ffi import create_proxy, to_js

        def event(kind: str, detail: Any) -> None:
            on_event(str(kind), detail.to_py() if hasattr(detail, "to_py") else {})

        proxy = create_proxy(event)
        self._proxies.append(proxy)
        self._js.onEvent = proxy
        options = to_js(
            {"keepConflicts": keep_conflicts, "persist": persist}, dict_converter=_js_object
        )
        self._js.start(max_wait_ms, flush_on_hide, options)

    def pending(self) -> Pending:
        p = self._js.pending()
        return Pending(
            count=int(p.count),
            entries=int(p.entries),
            first_age_ms=float(p.firstAgeMs),
            last_age_ms=float(p.lastAgeMs),
            inflight=int(p.inflight),
        )

    def flush(self) -> Awaitable[dict[str, Any]] | None:
        promise = self._js.flush()
        return None if promise is None else _converted(promise)

    def stats(self) -> FlushStats:
        s = self._js.stats
        return FlushStats(
            flushes=int(s.flushes),
            last_flush_at=None if s.lastFlushAt is None else float(s.lastFlushAt) / 1000.0,
            last_duration_ms=None if s.lastDurationMs is None else float(s.lastDurationMs),
            last_bytes=None if s.lastBytes is None else int(s.lastBytes),
            last_error=None if s.lastError is None else str(s.lastError),
            failures=int(s.failures),
            write_path=int(s.writePath),
            last_error_kind=None if s.lastErrorKind is None else str(s.lastErrorKind),
            stalls=int(s.stalls),
        )

    def shared(self) -> Shared:
        s = self._js.shared().to_py()
        return Shared(
            conflicts=[dict(c) for c in s["conflicts"]],
            waiting_for_peer=bool(s["waitingForPeer"]),
            deferred=int(s["deferred"]),
            persisted=s["persisted"],
            usage=None if s["usage"] is None else int(s["usage"]),
            quota=None if s["quota"] is None else int(s["quota"]),
            refuses_blobs=bool(s["refusesBlobs"]),
            durable_fsync=bool(s["durableFsync"]),
        )

    def hold(self, ms: float) -> None:
        self._js.hold(ms)

    def when_dirty(self) -> Awaitable[None]:
        return cast(Awaitable[None], self._js.whenDirty())

    def wake(self) -> None:
        self._js.wake()

    async def discard_damaged(self) -> int:
        return int(await _converted(self._js.discardDamaged()))

    def detach(self) -> None:
        self._js.detach()
        self._js.onEvent = None
        for proxy in self._proxies:
            proxy.destroy()
        self._proxies.clear()


def _js_object(entries: Any) -> Any:
    from js import Object

    return Object.fromEntries(entries)


async def _converted(promise: Any, finally_: Callable[[], None] | None = None) -> Any:
    """The value of a JavaScript outcome (mount.js: never rejects), or JsFailure for its error."""
    try:
        outcome = await promise
    finally:
        if finally_ is not None:
            finally_()
    if outcome.error is not None:
        raise JsFailure(str(outcome.error), str(outcome.kind))
    value = outcome.value
    return value.to_py() if hasattr(value, "to_py") else value
