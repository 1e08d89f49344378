"""Runs the JavaScript tests of this folder (``node --test``, plain Node with fake-indexeddb).

They check autosync's JavaScript on its own, fast; the same code runs in real Chromium in
tests/pyodide and tests/e2e. One pytest test per ``*.test.mjs`` file; a failure shows Node's report.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@pytest.mark.parametrize("script", sorted(p.name for p in HERE.glob("*.test.mjs")))
def test_node(script: str) -> None:
    node = shutil.which("node")
    assert node, "node is not on PATH"
    assert (ROOT / "node_modules" / "fake-indexeddb").is_dir(), "run ./dev setup (npm ci) first"
    done = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(HERE / script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"node --test {script} failed:\n{done.stdout}\n{done.stderr}"
