"""A static file server on 127.0.0.1 for the demo page, the local Pyodide and the autosync wheel.

Serves ``demo/static/`` at ``/`` and the assembled distribution (``.build/dist``: Pyodide's files
and the freshly built autosync wheel) at ``/pyodide/``. Nothing is fetched from the network.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = Path(__file__).resolve().parent / "static"
DIST = ROOT / ".build" / "dist"
WHEEL = "autosync-0.1.0-py3-none-any.whl"

_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the base class declares it as a plain attribute
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        **_TYPES,
    }

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
        if clean.startswith("/pyodide/"):
            return str(DIST / clean[len("/pyodide/") :].lstrip("/"))
        return str(STATIC / clean.lstrip("/"))

    def end_headers(self) -> None:
        # Each reload must load the current wheel and page, never a cached one.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server:
    """``with Server() as s: s.url`` -- serves until the block ends. Port 0 picks a free one."""

    def __init__(self, port: int = 0) -> None:
        if not (DIST / WHEEL).is_file():
            raise FileNotFoundError(f"{DIST / WHEEL} is missing; run ./dev setup first")
        handler = functools.partial(_Handler, directory=str(STATIC))
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
