"""A minimal WebKitGTK browser, driven over stdin/stdout by :mod:`demo.engines.webkit`.

Run with Debian's ``/usr/bin/python3`` (its ``gi`` bindings are Debian packages):

    /usr/bin/python3 webkit_host.py DATA_DIR      # IndexedDB on disk under DATA_DIR
    /usr/bin/python3 webkit_host.py --ephemeral   # in memory, as in Safari's Private Browsing
    /usr/bin/python3 webkit_host.py --version

It starts its own Xvfb (WebKitGTK needs a display; Xvfb picks a free one) in its own process group,
so killing the host's group kills the display and every WebKit process with it. WebKit's own
MiniBrowser cannot serve here: in automation mode it always keeps website data in memory.

Protocol: one JSON object per line. The host first writes ``{"ready": VERSION}``; then each request
``{"id": N, "op": ..., ...}`` gets one reply ``{"id": N, "value": ...}`` or ``{"id": N, "error": MSG}``:

- ``{"op": "open", "url": U}`` / ``{"op": "reload"}``: replies when the load has finished;
- ``{"op": "call", "body": JS, "args": {NAME: STRING}}``: the body of an async JS function of
  ``args``; replies with the string it resolves to;
- ``{"op": "quit"}``.

This module imports on any Python; ``gi`` is imported only when it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any, TextIO


def start_xvfb() -> subprocess.Popen[bytes]:
    """Xvfb on the first free display; sets DISPLAY."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        [
            "/usr/bin/Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as displayfd:
        display = displayfd.readline().strip()
    if not display:
        raise SystemExit(f"Xvfb did not start (exit code {xvfb.poll()})")
    os.environ["DISPLAY"] = f":{display}"
    return xvfb


def version() -> str:
    import gi

    gi.require_version("WebKit2", "4.1")
    from gi.repository import WebKit2

    numbers = (
        WebKit2.get_major_version(),
        WebKit2.get_minor_version(),
        WebKit2.get_micro_version(),
    )
    return "WebKitGTK " + ".".join(map(str, numbers))


def serve(data_dir: str | None, out: TextIO) -> None:
    import gi

    gi.require_version("Gtk", "3.0")
    gi.require_version("WebKit2", "4.1")
    from gi.repository import GLib, Gtk, WebKit2

    def reply(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    if data_dir is None:
        data = WebKit2.WebsiteDataManager.new_ephemeral()
    else:
        data = WebKit2.WebsiteDataManager(
            base_data_directory=os.path.join(data_dir, "data"),
            base_cache_directory=os.path.join(data_dir, "cache"),
        )
    context = WebKit2.WebContext(website_data_manager=data)
    view = WebKit2.WebView(web_context=context)
    # A shown window: a hidden page would have its timers throttled, which delays flushes.
    window = Gtk.Window()
    window.set_default_size(1024, 768)
    window.add(view)
    window.show_all()

    loading: list[int] = []  # id of the request waiting for the current load to finish

    def on_load_changed(_view: Any, event: Any) -> None:
        if event == WebKit2.LoadEvent.FINISHED and loading:
            reply({"id": loading.pop(), "value": None})

    def on_load_failed(_view: Any, _event: Any, uri: str, error: Any) -> bool:
        if loading:
            reply({"id": loading.pop(), "error": f"loading {uri} failed: {error.message}"})
        return False

    view.connect("load-changed", on_load_changed)
    view.connect("load-failed", on_load_failed)

    def handle(line: str) -> bool:
        request = json.loads(line)
        rid, op = request.get("id"), request["op"]
        if op == "open":
            loading.append(rid)
            view.load_uri(request["url"])
        elif op == "reload":
            loading.append(rid)
            view.reload()
        elif op == "call":
            args = GLib.Variant(
                "a{sv}", {k: GLib.Variant("s", v) for k, v in request.get("args", {}).items()}
            )

            def done(_view: Any, result: Any) -> None:
                try:
                    value = view.call_async_javascript_function_finish(result)
                    reply({"id": rid, "value": None if value.is_undefined() else value.to_string()})
                except GLib.Error as e:
                    reply({"id": rid, "error": e.message})

            view.call_async_javascript_function(request["body"], -1, args, None, None, None, done)
        elif op == "quit":
            Gtk.main_quit()
        else:
            reply({"id": rid, "error": f"unknown op {op!r}"})
        return False

    def read_requests() -> None:
        for line in sys.stdin:
            GLib.idle_add(handle, line)
        GLib.idle_add(lambda: Gtk.main_quit() or False)  # the driver went away

    threading.Thread(target=read_requests, daemon=True).start()
    reply({"ready": version()})
    Gtk.main()


def main(argv: list[str]) -> int:
    if argv == ["--version"]:
        print(version())
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    # Only protocol lines go to stdout: WebKit and its child processes log to fd 1 as well.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    xvfb = start_xvfb()
    try:
        serve(None if argv[0] == "--ephemeral" else argv[0], out)
    finally:
        xvfb.terminate()
        xvfb.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
