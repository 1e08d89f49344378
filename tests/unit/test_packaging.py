"""The package as PyPI and micropip see it: one version, derived file names, metadata that passes twine.

Builds the sdist and the wheel from this checkout (``python -m build --no-isolation``: offline, with
the pinned hatchling of the dev venv) and checks them with ``twine check --strict``.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

import autosync
from demo.server import WHEEL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def wheel_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(name).decode())


def test_sdist_and_wheel_pass_twine_check(built: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, built.values())],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_version_comes_from_autosync_version_only(built: dict[str, Path]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert wheel_metadata(built["wheel"])["Version"] == autosync.__version__
    assert built["wheel"].name == WHEEL
    assert built["sdist"].name == f"autosync-{autosync.__version__}.tar.gz"


def test_wheel_file_name_is_written_nowhere_in_the_repository() -> None:
    """Docs, pages and scripts derive the wheel's name (or load it by package name)."""
    tracked = subprocess.run(
        ["git", "grep", "-n", "-F", WHEEL, "--", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert tracked.returncode == 1, f"the wheel's file name is written out:\n{tracked.stdout}"


def test_wheel_is_typed_and_declares_where_it_runs(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as zf:
        names = set(zf.namelist())
    js = {f"autosync/js/{f.name}" for f in (ROOT / "autosync" / "js").glob("*.js")}
    assert {"autosync/py.typed", *js} <= names
    meta = wheel_metadata(built["wheel"])
    assert {
        "Framework :: Pyodide",
        "Environment :: WebAssembly :: Emscripten",
        "Typing :: Typed",
    } <= set(meta.get_all("Classifier", []))
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("Requires-Dist") is None  # nothing beyond Pyodide
