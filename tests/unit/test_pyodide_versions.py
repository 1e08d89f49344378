"""Which Pyodide versions autosync accepts at start() (plain CPython: the comparison only)."""

import json
from pathlib import Path

import pytest

import autosync
from autosync._pyodide import OLDEST_PYODIDE, check_pyodide_version

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "version", ["0.27.0", "0.27.7", "0.28.0.dev0", "0.29.5", "314.0.7", "315.0.0a1"]
)
def test_pyodide_0_27_and_newer_are_accepted(version):
    check_pyodide_version(version)


@pytest.mark.parametrize("version", ["0.26.4", "0.25.1", "0.9.0", "0.2"])
def test_an_older_pyodide_is_refused_naming_both_versions(version):
    with pytest.raises(autosync.UnsupportedPyodideError) as raised:
        check_pyodide_version(version)
    assert isinstance(raised.value, autosync.AutosyncError)
    assert f"supports Pyodide 0.27 and newer; this is Pyodide {version}." in str(raised.value)


def test_a_version_that_cannot_be_read_is_let_through():
    check_pyodide_version("custom-build")


def test_the_oldest_supported_pyodide_is_the_oldest_the_suite_runs():
    pins = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    lines = [name.removeprefix("pyodide-") for name in pins if name.startswith("pyodide-")]
    oldest = min(tuple(int(n) for n in line.split(".")) for line in lines)
    assert oldest == OLDEST_PYODIDE
