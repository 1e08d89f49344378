"""The demo's headless run (README's first command) passes: write, reload, kill, restart."""

import pytest

from demo.__main__ import main

pytestmark = pytest.mark.e2e


def test_headless_demo_reports_everything_survived(capsys):
    assert main(["--headless"]) == 0
    out = capsys.readouterr().out
    assert "[ok] notes.txt after the crash" in out
    assert "LOST" not in out
