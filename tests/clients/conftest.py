"""Fixtures for the real-client tests: the sites ``./dev setup`` builds in ``.build/clients``.

``scripts/build_clients.py`` builds them (offline, from the pins in ``clients/``): a JupyterLite site
per release line, with the Pyodide its kernel pins and autosync in the site's ``pypi/`` folder, and a
PyScript site whose pages load the autosync wheel through ``packages``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.browser import Browser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sites() -> Path:
    """Where the client sites are: one folder per site."""
    return ROOT / ".build" / "clients"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Real headless Chromium on a fresh persistent profile (kept across restarts and kills)."""
    with Browser(tmp_path / "profile") as b:
        yield b
