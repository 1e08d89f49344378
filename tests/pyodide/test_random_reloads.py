"""Random changes, flushes and crashes in one Pyodide runtime on Node (fake-indexeddb), checked
against the soak's one-tab model (tests/soak/runner.py).

Node has no browser to kill: a crash drops the mount without a flush and forgets its files, then
starts it again in the same runtime (inpage.abandon); a kill during a flush becomes a reload that
stops the mount first (inpage.reload). Chromium runs the same seeds with real SIGKILLs in
tests/e2e/test_random_kills.py; ``./dev soak`` runs many more.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.soak.runner import ReloadEnv, run_one_tab


class NodeTarget:
    """The soak's Target over pytest-pyodide's runtime: ``_out`` comes back as JSON."""

    def __init__(self, selenium: Any) -> None:
        self.selenium = selenium

    def python(self, code: str) -> Any:
        return json.loads(
            self.selenium.run_async(code + "\nimport json as _json\n_json.dumps(_out)")
        )


@pytest.mark.parametrize("seed", [11, 18, 44])
def test_random_changes_restore_as_the_last_saved_tree_after_crashes_and_reloads(
    runtime: str, request: pytest.FixtureRequest, seed: int
) -> None:
    if runtime != "node":
        pytest.skip("in Chromium these run with real kills: tests/e2e/test_random_kills.py")
    selenium = request.getfixturevalue("selenium_standalone")
    selenium.load_package("autosync")
    counts = run_one_tab(ReloadEnv(NodeTarget(selenium)), seed, 300)
    assert counts.kills >= 3 and counts.flushes >= 10, counts
