"""A static file server on 127.0.0.1 for the demo page, the local Pyodide and the autosync wheel.

Serves ``demo/static/`` at ``/`` and the assembled distribution (``.build/dist``: Pyodide's files
and the freshly built autosync wheel) at ``/pyodide/``; each older pinned Pyodide that ``./dev``
assembled (``.build/dist-0.27``...) at ``/pyodide-0.27/``..., which the page loads with
``?pyodide=0.27``. Nothing is fetched from the network.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = Path(__file__).resolve().parent / "static"
DIST = ROOT / ".build" / "dist"
# /pyodide/ -> .build/dist, /pyodide-0.27/ -> .build/dist-0.27
_DIST_PATH = re.compile(r"/pyodide(-[0-9]+(?:\.[0-9]+)*)?/")
WHEEL = "autosync-0.1.0-py3-none-any.whl"

_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the base class declares it as a plain attribute
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        **_TYPES,
    }

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        dist = _DIST_PATH.match(clean)
        if dist:
            return str(
                DIST.with_name(DIST.name + (dist[1] or "")) / clean[dist.end() :].lstrip("/")
            )
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
