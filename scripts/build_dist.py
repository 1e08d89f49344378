#!/usr/bin/env python3
"""Assemble the local Pyodide distribution used by the tests (``.build/dist``).

Pyodide's CDN is unreachable here, so the dist must be complete locally:

* the core files of the npm package ``pyodide`` (``node_modules/pyodide``);
* the pure-Python wheels that pytest-pyodide's ``run_in_pyodide`` loads into
  Pyodide (``pytest`` and its dependency closure from ``pyodide-lock.json``,
  ``tblib``) plus ``micropip`` and ``ipython``, downloaded from PyPI at the pinned versions
  below and stored under the lock file's ``file_name``;
* a rewritten ``pyodide-lock.json`` whose ``sha256`` entries match those files
  (Chromium checks them).

Subcommands::

    build_dist.py build [--root DIR]        # (re)assemble .build/dist
    build_dist.py add-wheel WHEEL [--root]  # copy a project wheel into the dist and
                                            # register it in the local lock file

Downloads are cached in ``.build/cache/wheels`` so a rebuild is offline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

# Lock-file package name -> PyPI version. Matches pyodide@314.0.7's pyodide-lock.json.
# `packaging` is not in the lock's dependency list for pytest but pytest requires it.
PINNED_WHEELS: dict[str, str] = {
    "pytest": "9.0.2",
    "tblib": "3.2.2",
    "micropip": "0.11.1",
    "iniconfig": "2.3.0",
    "pluggy": "1.6.0",
    "packaging": "26.1",
    "pygments": "2.20.0",
    "exceptiongroup": "1.3.1",
    "attrs": "26.1.0",
    "six": "1.17.0",
    "more-itertools": "11.0.1",
    "py": "1.11.0",
    "setuptools": "82.0.1",
    "pyparsing": "3.3.2",
    "atomicwrites": "1.4.1",  # sdist only on PyPI: built locally with `pip wheel`
    # IPython and its closure (the notebook extension's end-to-end test runs a real IPython shell)
    "ipython": "9.12.0",
    "asttokens": "3.0.1",
    "decorator": "5.2.1",
    "executing": "2.2.1",
    "matplotlib-inline": "0.2.1",
    "prompt-toolkit": "3.0.52",
    "pure-eval": "0.2.3",
    "stack-data": "0.6.3",
    "traitlets": "5.14.3",
    "wcwidth": "0.6.0",
}
SDIST_ONLY = {"atomicwrites"}
# Extra dependencies added to the local lock (pytest imports packaging).
EXTRA_DEPENDS: dict[str, list[str]] = {"pytest": ["packaging"]}

CORE_SKIP = {"package.json", "README.md"}
PYODIDE_PY_VERSION = "3.14"


def log(msg: str) -> None:
    print(f"[build_dist] {msg}", flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_cached(cache: Path, name: str, version: str) -> Path | None:
    want = norm(name)
    for whl in cache.glob("*.whl"):
        parts = whl.name.split("-")
        if len(parts) >= 5 and norm(parts[0]) == want and parts[1] == version:
            return whl
    return None


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    subprocess.run(cmd, check=True)


def fetch_wheels(cache: Path) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    missing = {n: v for n, v in PINNED_WHEELS.items() if not find_cached(cache, n, v)}
    binary = {n: v for n, v in missing.items() if n not in SDIST_ONLY}
    if binary:
        log(f"downloading {len(binary)} wheels from PyPI: {', '.join(sorted(binary))}")
        pip(
            "download", "-q", "--no-deps", "--only-binary=:all:",
            "--python-version", PYODIDE_PY_VERSION, "-d", str(cache),
            *(f"{n}=={v}" for n, v in binary.items()),
        )  # fmt: skip
    for name in SDIST_ONLY & missing.keys():
        log(f"building wheel for {name} (sdist only)")
        pip("wheel", "-q", "--no-deps", "-w", str(cache), f"{name}=={PINNED_WHEELS[name]}")
    out = {}
    for name, version in PINNED_WHEELS.items():
        whl = find_cached(cache, name, version)
        if whl is None:
            raise SystemExit(f"wheel for {name}=={version} not found in {cache}")
        if not whl.name.endswith("-none-any.whl"):
            raise SystemExit(f"{whl.name} is not a pure-Python wheel")
        out[name] = whl
    return out


def build(root: Path) -> None:
    src = root / "node_modules" / "pyodide"
    dist = root / ".build" / "dist"
    cache = root / ".build" / "cache" / "wheels"
    if not (src / "pyodide-lock.json").is_file():
        raise SystemExit(f"{src} is missing: run `npm ci` first")

    wheels = fetch_wheels(cache)

    tmp = Path(tempfile.mkdtemp(prefix="dist.", dir=root / ".build"))
    try:
        for f in src.iterdir():
            if f.is_file() and f.name not in CORE_SKIP and not f.name.endswith(".d.ts"):
                shutil.copy2(f, tmp / f.name)
        lock = json.loads((src / "pyodide-lock.json").read_text())
        packages = lock["packages"]
        for name, whl in wheels.items():
            entry = packages.get(name)
            version = PINNED_WHEELS[name]
            if entry is None:
                raise SystemExit(f"{name} is not in pyodide-lock.json")
            if entry["version"] != version:
                log(f"note: {name} lock={entry['version']} pinned={version}; updating lock entry")
                entry["version"] = version
                entry["file_name"] = whl.name
            dest = tmp / entry["file_name"]
            shutil.copy2(whl, dest)
            entry["sha256"] = sha256(dest)
            for dep in EXTRA_DEPENDS.get(name, []):
                if dep not in entry["depends"]:
                    entry["depends"].append(dep)
        (tmp / "pyodide-lock.json").write_text(json.dumps(lock))
        if dist.exists():
            shutil.rmtree(dist)
        tmp.rename(dist)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    n_files = sum(1 for _ in dist.iterdir())
    log(f"assembled {dist} ({n_files} files, pyodide {lock['info'].get('python')})")


def wheel_metadata(whl: Path) -> tuple[str, str, list[str]]:
    with zipfile.ZipFile(whl) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
        top = sorted(
            {
                n.split("/")[0].removesuffix(".py")
                for n in zf.namelist()
                if ".dist-info/" not in n and (n.endswith(".py") or "/" in n)
            }
        )
    return meta["Name"], meta["Version"], top


def add_wheel(root: Path, whl: Path) -> None:
    """Copy a project wheel into the dist and register it in the local lock file.

    Registration lets tests load it by package name (``packages=["autosync"]``) and
    lets ``run_in_pyodide`` auto-load it from ``import autosync`` in the test body.
    """
    dist = root / ".build" / "dist"
    lock_path = dist / "pyodide-lock.json"
    name, version, imports = wheel_metadata(whl)
    key = norm(name)
    prefix = name.replace("-", "_")
    for old in dist.glob(f"{prefix}-*.whl"):
        if old.name != whl.name:
            old.unlink()
    dest = dist / whl.name
    if whl.resolve() != dest.resolve():
        shutil.copy2(whl, dest)
    lock = json.loads(lock_path.read_text())
    lock["packages"][key] = {
        "name": key,
        "version": version,
        "file_name": whl.name,
        "install_dir": "site",
        "sha256": sha256(dest),
        "package_type": "package",
        "imports": imports,
        "depends": [],
        "tool": {},
        "unvendored_tests": False,
    }
    lock_path.write_text(json.dumps(lock))
    log(f"registered {whl.name} in {lock_path.relative_to(root)} (imports: {', '.join(imports)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build")
    aw = sub.add_parser("add-wheel")
    aw.add_argument("wheel", type=Path)
    args = ap.parse_args()
    root = args.root.resolve()
    if args.cmd == "build":
        build(root)
    else:
        add_wheel(root, args.wheel.resolve())


if __name__ == "__main__":
    main()
