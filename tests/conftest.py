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

Pyodide versions
----------------
``--dist-dir`` picks the Pyodide under test: ``.build/dist`` is the newest (every test runs on it),
``.build/dist-0.27`` and the like are the older pinned versions. ``./dev test`` runs pytest once more
on each older one with ``-m "pyodide or every_pyodide"``: every Pyodide test (all sharing one
runtime per browser, see ``selenium_module_scope``) and the end-to-end tests marked
``every_pyodide``, on the demo page's ``?pyodide=0.27``. A test marked ``needs_package("sqlite3")``
skips, saying why, where that Pyodide has the package only on its CDN.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_pyodide import get_global_config
from pytest_pyodide.fixture import selenium_common

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


@dataclass(frozen=True)
class PyodideUnderTest:
    """The distribution given by ``--dist-dir``: ``.build/dist`` (newest) or ``.build/dist-0.27``..."""

    dist: Path

    @property
    def label(self) -> str:
        """``""`` for the newest, else the version line: ``"0.27"`` for ``.build/dist-0.27``."""
        return self.dist.name.removeprefix("dist").lstrip("-")

    def missing_offline(self, package: str) -> str | None:
        """Why ``package`` cannot be loaded from this dist, or None if it can."""
        lock = json.loads((self.dist / "pyodide-lock.json").read_text())
        entry = lock["packages"].get(package)
        if entry is None or (self.dist / entry["file_name"]).is_file():
            return None  # in the standard library, or assembled by build_dist
        return (
            f"needs {package}, which Pyodide {self.label or 'newest'} (Python "
            f"{lock['info']['python']}) ships as a separate package, {entry['file_name']}, served "
            "only from Pyodide's CDN: not in the npm package, not on PyPI, so not available offline"
        )


def pyodide_under_test(config: pytest.Config) -> PyodideUnderTest:
    return PyodideUnderTest(Path(config.option.dist_dir))


@pytest.fixture(scope="session")
def pyodide_label(request: pytest.FixtureRequest) -> str:
    """The Pyodide under test: ``""`` for the newest, ``"0.27"`` for ``.build/dist-0.27``..."""
    return pyodide_under_test(request.config).label


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder: tests/pyodide -> ``pyodide``, tests/e2e -> ``e2e``, tests/clients ->
    ``clients`` and ``e2e`` (they drive real Chromium too); skip a test whose ``needs_package``
    this Pyodide cannot load offline."""
    markers = {"pyodide": ["pyodide"], "e2e": ["e2e"], "clients": ["clients", "e2e"]}
    under_test = pyodide_under_test(config)
    for item in items:
        parts = item.path.relative_to(ROOT).parts
        if len(parts) > 1 and parts[0] == "tests":
            for marker in markers.get(parts[1], []):
                item.add_marker(marker)
        for mark in item.iter_markers("needs_package"):
            reason = under_test.missing_offline(mark.args[0])
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def _shared_pyodides(web_server_main: Any) -> Iterator[tuple[contextlib.ExitStack, dict[str, Any]]]:
    # Depends on the web server so that the runtimes close before it does.
    with contextlib.ExitStack() as stack:
        yield stack, {}


@pytest.fixture(scope="module")
def selenium_module_scope(
    request: pytest.FixtureRequest,
    runtime: str,
    web_server_main: Any,
    playwright_browsers: Any,
    _shared_pyodides: tuple[contextlib.ExitStack, dict[str, Any]],
    pyodide_label: str,
) -> Iterator[Any]:
    """pytest-pyodide's Pyodide behind the ``selenium`` fixture: one per module and runtime on the
    newest Pyodide, as the plugin does; on an older one, one per runtime for the whole run, since
    loading Pyodide takes ~10 s and the older versions must fit a small share of the suite's time
    (every test uses its own directories, so they may share a runtime)."""
    if not pyodide_label:
        with selenium_common(request, runtime, web_server_main, browsers=playwright_browsers) as s:
            yield s
        return
    stack, runners = _shared_pyodides
    if runtime not in runners:
        runners[runtime] = stack.enter_context(
            selenium_common(request, runtime, web_server_main, browsers=playwright_browsers)
        )
    yield runners[runtime]
