"""WebKitGTK (Safari's engine), hosted by ``webkit_host.py`` under Xvfb, driven over its stdio.

``WebKit`` keeps website data in the profile directory, on disk, as Safari does normally;
``WebKitEphemeral`` keeps it in memory for as long as the browser runs, as Safari's Private
Browsing does (IndexedDB survives a reload there, not a restart, and refuses Blobs).
WebKit has no JSPI: ``start()`` must be awaited.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import IO, Any, Self

from .base import COMMAND_TIMEOUT_S, Browser, JsonPage, Page

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi and gir1.2-webkit2-4.1
HOST = Path(__file__).with_name("webkit_host.py")


class WebKitPage(JsonPage):
    def __init__(self, browser: WebKit) -> None:
        self._browser = browser
        self._wait_until_ready("WebKit")

    def _call(self, function: str, arg: str) -> str | None:
        text: str | None = self._browser.call(f"return await ({function})(arg)", arg=arg)
        return text


class WebKit(Browser):
    name = "webkit"
    jspi = False
    ephemeral = False

    def __init__(self, profile: Path | str) -> None:
        super().__init__(profile)
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0

    @staticmethod
    def version() -> str:
        out = subprocess.run(
            [SYSTEM_PYTHON, str(HOST), "--version"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    def start(self) -> Self:
        log = self.profile / "browser.log"
        with log.open("ab") as stderr:
            proc = self._spawn(
                [SYSTEM_PYTHON, str(HOST), "--ephemeral" if self.ephemeral else str(self.profile)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self._replies = queue.Queue()
        threading.Thread(target=_read_lines, args=(proc.stdout, self._replies), daemon=True).start()
        ready = self._reply("start")
        if "ready" not in ready:
            raise RuntimeError(f"webkit host did not start: {ready} (see {log})")
        return self

    def call(self, body: str, **args: str) -> Any:
        """Run ``body`` as an async JS function of ``args`` in the page; returns its result."""
        return self._request("call", body=body, args=args)

    def _send(self, op: str, **fields: Any) -> int:
        assert self._proc is not None and self._proc.stdin is not None, "browser not started"
        self._next_id += 1
        request = {"id": self._next_id, "op": op, **fields}
        self._proc.stdin.write((json.dumps(request) + "\n").encode())
        self._proc.stdin.flush()
        return self._next_id

    def _request(self, op: str, **fields: Any) -> Any:
        sent = self._send(op, **fields)
        while True:
            message = self._reply(f"an answer to {op!r}")
            if message.get("id") != sent:
                continue  # the answer to a request whose caller gave up on it
            if "error" in message:
                raise RuntimeError(f"webkit: {op}: {message['error']}")
            return message.get("value")

    def _reply(self, waiting_for: str) -> dict[str, Any]:
        try:
            message = self._replies.get(timeout=COMMAND_TIMEOUT_S)
        except queue.Empty:
            raise TimeoutError(f"webkit: no {waiting_for} in {COMMAND_TIMEOUT_S:.0f} s") from None
        if message is None:
            self._check_alive(f"waiting for {waiting_for} (see {self.profile / 'browser.log'})")
            raise RuntimeError(f"webkit host closed its output while waiting for {waiting_for}")
        return message

    def open(self, url: str) -> WebKitPage:
        self._request("open", url=url)
        return WebKitPage(self)

    def reload(self, page: Page) -> WebKitPage:
        self._request("reload")
        return WebKitPage(self)

    def _quit(self) -> bool:
        self._send("quit")
        return True

    def _disconnect(self) -> None:
        if self._proc is not None:
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(Exception):
                        pipe.close()


class WebKitEphemeral(WebKit):
    name = "webkit-ephemeral"
    ephemeral = True


def _read_lines(pipe: IO[bytes] | None, into: queue.Queue[dict[str, Any] | None]) -> None:
    assert pipe is not None
    with contextlib.suppress(ValueError, OSError):  # closed by _disconnect
        for line in pipe:
            into.put(json.loads(line))
    into.put(None)
