"""A static file server on 127.0.0.1 for the demo page, the local Pyodide and the autosync wheel.

Serves ``demo/static/`` at ``/`` and the assembled distribution (``.build/dist``: Pyodide's files
and the freshly built autosync wheel) at ``/pyodide/``; each older pinned Pyodide that ``./dev``
assembled (``.build/dist-0.27``...) at ``/pyodide-0.27/``..., which the page loads with
``?pyodide=0.27``. Nothing is fetched from the network. ``Server(root=DIR)`` serves one directory
instead (the client test sites in ``.build/clients``).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from pathlib import Path

from autosync import __version__

ROOT = Path(__file__).resolve().parent.parent
STATIC = Path(__file__).resolve().parent / "static"
DIST = ROOT / ".build" / "dist"
# The file name the build gives the wheel (name, version, pure-Python tag): derived, never written out.
WHEEL = f"autosync-{__version__}-py3-none-any.whl"
# Cross-origin isolation: what a page needs for SharedArrayBuffer (PyScript's worker uses it to
# reach the page's DOM synchronously).
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}

_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the base class declares it as a plain attribute
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        **_TYPES,
    }

    mounts: dict[str, Path]  # URL prefix -> directory, tried in order
    extra_headers: dict[str, str]

    def do_GET(self) -> None:
        # A GET of an action's path (see Server.actions) runs it with the query, then answers 204.
        path, _, query = self.path.partition("?")
        action = getattr(self.server, "actions", {}).get(path)
        if action is None:
            super().do_GET()
            return
        action(query)
        self.send_response(204)
        self.end_headers()

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, directory in self.mounts.items():
            if clean.startswith(prefix):
                return str(directory / clean[len(prefix) :].lstrip("/"))
        raise AssertionError("the mounts end with '/'")

    def end_headers(self) -> None:
        # Each reload must load the current wheel and page, never a cached one.
        self.send_header("Cache-Control", "no-store")
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server:
    """``with Server() as s: s.url`` -- serves until the block ends. Port 0 picks a free one.

    ``root`` serves that directory at ``/`` instead of the demo; ``isolated`` adds the
    cross-origin isolation headers.
    """

    def __init__(self, port: int = 0, *, root: Path | None = None, isolated: bool = False) -> None:
        if root is None:
            if not (DIST / WHEEL).is_file():
                raise FileNotFoundError(f"{DIST / WHEEL} is missing; run ./dev setup first")
            mounts = {"/pyodide/": DIST}
            for older in sorted(DIST.parent.glob(DIST.name + "-*")):
                mounts[f"/pyodide{older.name[len(DIST.name) :]}/"] = older
            mounts["/"] = STATIC
        elif not root.is_dir():
            raise FileNotFoundError(f"{root} is missing; run ./dev setup first")
        else:
            mounts = {"/": root}
        handler = type(
            "Handler",
            (_Handler,),
            {"mounts": mounts, "extra_headers": ISOLATION_HEADERS if isolated else {}},
        )
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        #: path -> a function the page can run on the host with a GET of that path, given the
        #: query string (the bench kills the browser from the page this way, the moment it asks).
        self.actions: dict[str, Callable[[str], None]] = {}
        self._httpd.actions = self.actions  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
