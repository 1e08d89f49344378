"""Debian's Firefox ESR, headless, driven over its own WebDriver BiDi endpoint.

geckodriver is neither packaged by Debian nor downloadable here, and is not needed: Firefox
started with ``--remote-debugging-port`` speaks WebDriver BiDi itself on
``ws://127.0.0.1:PORT/session``, and writes the port it chose into the profile.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any, Self

import websocket

from .base import COMMAND_TIMEOUT_S, Browser, JsonPage, Page, wait_until

FIREFOX = "/usr/bin/firefox-esr"
# Quiet offline: no update, telemetry, Safe Browsing or captive-portal requests, and no crash
# recovery (tab restore, safe-mode prompt) when started again after a SIGKILL.
USER_JS = {
    "remote.prefs.recommended": True,
    "app.update.enabled": False,
    "app.update.auto": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.sessionstore.resume_from_crash": False,
    "toolkit.startup.max_resumed_crashes": -1,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.update.enabled": False,
}


class BidiError(RuntimeError):
    """A WebDriver BiDi command failed (the message is Firefox's)."""


class FirefoxPage(JsonPage):
    def __init__(self, browser: Firefox, context: str) -> None:
        self._browser = browser
        self.context = context
        self._wait_until_ready("Firefox")

    def _call(self, function: str, arg: str) -> str | None:
        reply = self._browser.command(
            "script.callFunction",
            functionDeclaration=function,
            arguments=[{"type": "string", "value": arg}],
            target={"context": self.context},
            awaitPromise=True,
        )
        if reply["type"] == "exception":
            text = reply["exceptionDetails"].get("text")
            raise BidiError(f"JavaScript error in Firefox: {text}")
        value: str | None = reply["result"].get("value")  # absent for undefined
        return value


class Firefox(Browser):
    name = "firefox"
    jspi = True

    def __init__(self, profile: Path | str) -> None:
        super().__init__(profile)
        self._ws: websocket.WebSocket | None = None
        self._next_id = 0

    @staticmethod
    def version() -> str:
        out = subprocess.run([FIREFOX, "--version"], capture_output=True, text=True, check=False)
        return out.stdout.strip()

    def start(self) -> Self:
        (self.profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in USER_JS.items())
        )
        port_file = self.profile / "WebDriverBiDiServer.json"
        port_file.unlink(missing_ok=True)
        log = (self.profile / "browser.log").open("ab")
        with log:
            self._spawn(
                [
                    FIREFOX,
                    "--headless",
                    "--no-remote",
                    "--profile",
                    str(self.profile),
                    "--remote-debugging-port=0",
                    "about:blank",
                ],
                stdout=log,
                stderr=log,
            )

        def port_written() -> bool:
            self._check_alive(f"starting (see {self.profile / 'browser.log'})")
            return port_file.exists() and bool(port_file.read_text().strip())

        wait_until(port_written, "firefox opening its WebDriver BiDi port", 60)
        port = json.loads(port_file.read_text())["ws_port"]
        self._ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/session", suppress_origin=True, timeout=COMMAND_TIMEOUT_S
        )
        self.command("session.new", capabilities={})
        return self

    def command(self, method: str, **params: Any) -> Any:
        """Send one WebDriver BiDi command and return its result (events are not subscribed)."""
        assert self._ws is not None, "browser not started"
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") != self._next_id:
                continue
            if message.get("type") == "error":
                raise BidiError(f"{method}: {message['error']}: {message.get('message')}")
            return message["result"]

    def open(self, url: str) -> FirefoxPage:
        context = self.command("browsingContext.getTree")["contexts"][0]["context"]
        self.command("browsingContext.navigate", context=context, url=url, wait="complete")
        return FirefoxPage(self, context)

    def reload(self, page: Page) -> FirefoxPage:
        assert isinstance(page, FirefoxPage)
        self.command("browsingContext.reload", context=page.context, wait="complete")
        return FirefoxPage(self, page.context)

    def _quit(self) -> bool:
        self.command("browser.close")
        return True

    def _disconnect(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.close()
            self._ws = None
