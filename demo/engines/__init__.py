"""Real browsers on the demo page: Chromium, Firefox ESR and WebKitGTK (Safari's engine).

Every engine has the interface of :mod:`demo.engines.base`: start the browser on a profile
directory, open the demo page, run Python in it, reload, SIGKILL the whole browser, restart.

    with Server() as server, launch("firefox", profile_dir) as browser:
        page = browser.open(server.url)
        page.python("open('/data/x', 'w').write('hi')")
        browser.kill()
        page = browser.restart().open(server.url)

``ENGINES`` names them: ``chromium``, ``firefox``, ``webkit`` (on-disk website data) and
``webkit-ephemeral`` (in memory, as in Safari's Private Browsing). Each module imports only its
own driver's dependencies, so this package imports without any browser installed.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .base import Browser, Page

__all__ = ["ENGINES", "Browser", "Page", "engine", "launch"]

# name -> "module:class"
ENGINES = {
    "chromium": "chromium:Chromium",
    "firefox": "firefox:Firefox",
    "webkit": "webkit:WebKit",
    "webkit-ephemeral": "webkit:WebKitEphemeral",
}


def engine(name: str) -> type[Browser]:
    """The driver class of an engine, e.g. ``engine("webkit").version()``."""
    try:
        module, cls = ENGINES[name].split(":")
    except KeyError:
        raise ValueError(f"unknown browser engine {name!r}; known: {', '.join(ENGINES)}") from None
    driver: type[Browser] = getattr(importlib.import_module(f".{module}", __name__), cls)
    return driver


def launch(name: str, profile: Path | str) -> Browser:
    """A driver for engine ``name`` on ``profile``, not started yet (``with`` starts it)."""
    return engine(name)(profile)
