"""The one place that touches Pyodide, JavaScript and Emscripten's FS.

Everything else in autosync imports on plain CPython; this module imports ``js``, ``pyodide`` and
``pyodide_js`` only inside its functions, so importing it outside Pyodide works and
:func:`require_pyodide` reports the problem in words. The JavaScript half lives in ``js/autosync.js``
and is evaluated once, on first use.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol, cast

from .errors import NotInPyodideError

IN_PYODIDE = "_pyodide_core" in sys.modules or sys.platform == "emscripten"


@dataclass(frozen=True)
class Taken:
    """Changes reported by the hooks since the previous take (ages in ms, measured by JavaScript)."""

    paths: list[str]
    trees: list[str]
    count: int
    first_age_ms: float
    last_age_ms: float


class MountBackend(Protocol):
    """The browser-side operations a mount needs; :class:`JsMount` is the Pyodide implementation."""

    def restore(self) -> Awaitable[dict[str, Any]]: ...
    def take(self) -> Taken: ...
    def commit(self, paths: Sequence[str], trees: Sequence[str]) -> Awaitable[dict[str, Any]]: ...
    def when_dirty(self) -> Awaitable[None]: ...
    def wake(self) -> None: ...
    def detach(self) -> None: ...
    def on_page_hide(self, callback: Callable[[], None]) -> Callable[[], None]: ...


def require_pyodide() -> None:
    if not IN_PYODIDE:
        raise NotInPyodideError(
            "autosync runs inside Pyodide (browser main thread, Web Worker or Node), where it saves "
            "files to IndexedDB; this is CPython "
            f"{sys.version.split()[0]} on {sys.platform}. Load autosync in Pyodide, e.g. with "
            "micropip.install() or pyodide.loadPackage()."
        )


_api: Any = None


def _js_api() -> Any:
    global _api
    if _api is None:
        import pyodide_js
        from pyodide.code import run_js

        source = resources.files("autosync").joinpath("js/autosync.js").read_text("utf-8")
        _api = run_js(source)(pyodide_js.FS)
    return _api


def has_indexeddb() -> bool:
    return bool(_js_api().hasIndexedDB())


def mounts() -> dict[str, str]:
    """Every mount point of Emscripten's FS, mapped to ``"autosync"`` or ``"other"``."""
    return {str(point): str(kind) for point, kind in _js_api().mounts().to_py()}


def can_run_sync() -> bool:
    try:
        from pyodide.ffi import can_run_sync as can
    except ImportError:  # Pyodide before JSPI support
        return False
    return bool(can())


def run_sync(awaitable: Awaitable[Any]) -> Any:
    from pyodide.ffi import run_sync as run

    return run(awaitable)


def error_text(error: BaseException) -> str:
    """A JavaScript error as ``Name: message``; Python errors as themselves."""
    return str(error) or type(error).__name__


class JsMount:
    """One autosync mount as seen from Python: a thin typed wrapper over the JavaScript object."""

    def __init__(self, mountpoint: str, db_name: str) -> None:
        self._js = _js_api().attach(mountpoint, db_name)

    def restore(self) -> Awaitable[dict[str, Any]]:
        return _converted(self._js.restore())

    def take(self) -> Taken:
        t = self._js.take()
        return Taken(
            paths=list(t.paths.to_py()),
            trees=list(t.trees.to_py()),
            count=int(t.count),
            first_age_ms=float(t.firstAgeMs),
            last_age_ms=float(t.lastAgeMs),
        )

    def commit(self, paths: Sequence[str], trees: Sequence[str]) -> Awaitable[dict[str, Any]]:
        from pyodide.ffi import to_js

        return _converted(self._js.commit(to_js(list(paths)), to_js(list(trees))))

    def when_dirty(self) -> Awaitable[None]:
        return cast(Awaitable[None], self._js.whenDirty())

    def wake(self) -> None:
        self._js.wake()

    def detach(self) -> None:
        self._js.detach()

    def on_page_hide(self, callback: Callable[[], None]) -> Callable[[], None]:
        from pyodide.ffi import create_proxy

        proxy = create_proxy(callback)
        remove = self._js.onPageHide(proxy)

        def unregister() -> None:
            remove()
            proxy.destroy()

        return unregister


async def _converted(promise: Any) -> dict[str, Any]:
    result = await promise
    return cast(dict[str, Any], result.to_py())
