"""Shared pytest setup for autosync's tests (host, Pyodide and end-to-end).

Run everything through ``./dev test [pytest args]``: it builds the local Pyodide
distribution in ``.build/dist`` (no CDN here) and the autosync wheel, then runs pytest
with ``--dist-dir=.build/dist --rt=node,chrome`` (see pytest.ini).

How a Pyodide test loads the autosync wheel
-------------------------------------------
``./dev setup`` copies ``autosync-<version>-py3-none-any.whl`` into ``.build/dist`` and
registers it as package ``autosync`` in the dist's ``pyodide-lock.json``. So, in both
the node and the chrome runtime::

    from pytest_pyodide import run_in_pyodide

    @run_in_pyodide(packages=["autosync"])
    def test_something(selenium):
        import autosync  # import inside the body: only this function's source is shipped

Also verified in both runtimes: ``packages=["autosync-<version>-py3-none-any.whl"]`` (by file
name, relative to the dist dir), and ``selenium.load_package("autosync")`` /
``selenium.load_package("autosync-<version>-py3-none-any.whl")`` from a plain host-side test taking the
``selenium`` / ``selenium_standalone`` fixture. The package must be listed: an ``import``
in the test body alone does NOT load it.

Pitfalls: JS callbacks made from Python must be ``create_once_callable``/``create_proxy``
(a borrowed proxy is destroyed after the call). In node, an exception thrown from an
IndexedDB event handler kills the node process and the test then fails with a pexpect
TIMEOUT (60 s); JS ``null`` arrives in Python as ``pyodide.ffi.jsnull``, not ``None``.

Fixtures: ``selenium`` shares one Pyodide per module (IndexedDB, mounts and patches carry
over between tests); ``selenium_standalone`` is a fresh runtime per test.

In node, IndexedDB comes from npm ``fake-indexeddb`` (in memory, per node process): it is
installed as ``indexedDB``/``IDB*`` globals both for Emscripten's IDBFS and for ``js.*``.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from pytest_pyodide import get_global_config

from demo.browser import CHROMIUM_FLAGS

ROOT = Path(__file__).resolve().parent.parent
FAKE_INDEXEDDB = ROOT / "node_modules" / "fake-indexeddb" / "auto" / "index.js"

CHROMEDRIVER = "/usr/bin/chromedriver"
# Globals that fake-indexeddb/auto defines; copied into pytest-pyodide's node vm context
# so that `import js; js.indexedDB` works as in a browser.
IDB_GLOBALS = [
    "indexedDB",
    "IDBCursor",
    "IDBCursorWithValue",
    "IDBDatabase",
    "IDBFactory",
    "IDBIndex",
    "IDBKeyRange",
    "IDBObjectStore",
    "IDBOpenDBRequest",
    "IDBRecord",
    "IDBRequest",
    "IDBTransaction",
    "IDBVersionChangeEvent",
]

# Selenium Manager must not try to download a driver or a browser.
os.environ.setdefault("SE_OFFLINE", "true")
os.environ.setdefault("SE_CHROMEDRIVER", CHROMEDRIVER)


def _configure_pytest_pyodide() -> None:
    cfg = get_global_config()
    chrome = cfg.get_flags("chrome")
    cfg.set_flags("chrome", chrome + [f for f in CHROMIUM_FLAGS if f not in chrome])
    node = cfg.get_flags("node")
    if "--require" not in node:
        cfg.set_flags("node", [*node, "--require", shlex.quote(str(FAKE_INDEXEDDB))])
    missing = [g for g in IDB_GLOBALS if g not in cfg.get_node_extra_globals()]
    cfg.add_node_extra_globals(missing)


_configure_pytest_pyodide()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder: tests/pyodide -> ``pyodide``, tests/e2e -> ``e2e``,
    tests/clients -> ``clients`` and ``e2e`` (they drive real Chromium too)."""
    markers = {"pyodide": ["pyodide"], "e2e": ["e2e"], "clients": ["clients", "e2e"]}
    for item in items:
        parts = item.path.relative_to(ROOT).parts
        if len(parts) > 1 and parts[0] == "tests":
            for marker in markers.get(parts[1], []):
                item.add_marker(marker)
