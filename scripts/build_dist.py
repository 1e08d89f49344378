#!/usr/bin/env python3
"""Assemble the local Pyodide distributions used by the tests: one per pinned Pyodide version.

Pyodide's CDN is unreachable here, so each distribution must be complete locally. The versions are
the npm packages named ``pyodide`` (the newest, assembled in ``.build/dist``) and ``pyodide-<X.Y>``
(npm aliases of older lines, e.g. ``"pyodide-0.27": "npm:pyodide@0.27.7"``, assembled in
``.build/dist-<X.Y>``) in package.json. Each distribution holds:

* the core files of its npm package (``node_modules/pyodide``, ``node_modules/pyodide-0.27``...);
* the pure-Python wheels that pytest-pyodide's ``run_in_pyodide`` loads into Pyodide (``pytest``
  and its dependency closure, ``tblib``) plus ``micropip``, downloaded from PyPI at exactly the
  versions that version's ``pyodide-lock.json`` lists and stored under the lock's ``file_name``;
* a rewritten ``pyodide-lock.json`` whose ``sha256`` entries match those files (Chromium checks
  them; Pyodide's own builds of these wheels differ from PyPI's).

Packages the lock lists that are not pure Python (``sqlite3`` before Pyodide 314, numpy...) stay
CDN-only: the tests that need them skip on that version (tests/conftest.py).

Subcommands::

    build_dist.py build [--root DIR]        # (re)assemble every .build/dist*
    build_dist.py add-wheel WHEEL [--root]  # copy a project wheel into every dist and
                                            # register it in their lock files

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
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

# What pytest-pyodide loads into Pyodide (with their `depends` closure in the lock), and micropip.
ROOT_PACKAGES = ["pytest", "tblib", "micropip"]
# The newest Pyodide also gets IPython: the notebook extension's end-to-end test runs a real IPython
# shell there (before 314, IPython's lock entry depends on the CDN-only sqlite3).
NEWEST_EXTRA_PACKAGES = ["ipython"]
# Dependencies missing from the lock's entries: pytest imports packaging.
EXTRA_DEPENDS: dict[str, list[str]] = {"pytest": ["packaging"]}
# Only an sdist on PyPI: built locally with `pip wheel`.
SDIST_ONLY = {"atomicwrites"}

CORE_SKIP = {"package.json", "README.md"}
NEWEST_NPM_NAME = "pyodide"


@dataclass(frozen=True)
class Version:
    """One pinned Pyodide: its npm package folder and the dist folder assembled from it."""

    npm_name: str  # "pyodide" (the newest) or "pyodide-0.27"
    dist: Path

    @property
    def label(self) -> str:
        return self.npm_name.removeprefix(NEWEST_NPM_NAME).lstrip("-") or "newest"


def versions(root: Path) -> list[Version]:
    """The Pyodide versions pinned in package.json, the newest first."""
    deps = json.loads((root / "package.json").read_text())["devDependencies"]
    names = sorted(n for n in deps if n == NEWEST_NPM_NAME or n.startswith(NEWEST_NPM_NAME + "-"))
    if NEWEST_NPM_NAME not in names:
        raise SystemExit(f"package.json pins no '{NEWEST_NPM_NAME}' (the newest Pyodide)")
    older = [n for n in names if n != NEWEST_NPM_NAME]
    build = root / ".build"
    return [Version(NEWEST_NPM_NAME, build / "dist")] + [
        Version(n, build / ("dist" + n.removeprefix(NEWEST_NPM_NAME))) for n in reversed(older)
    ]


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


def needed_wheels(packages: dict[str, dict[str, object]], roots: list[str]) -> dict[str, str]:
    """Lock package name -> version, for ``roots`` and everything they depend on."""
    out: dict[str, str] = {}
    todo = list(roots)
    # `depends` may spell a name otherwise than its key (prompt_toolkit, prompt-toolkit).
    keys = {norm(key): key for key in packages}
    while todo:
        wanted = todo.pop()
        name = keys.get(norm(wanted))
        if name is None:
            raise SystemExit(f"{wanted} is not in pyodide-lock.json")
        if name in out:
            continue
        entry = packages[name]
        out[name] = str(entry["version"])
        depends = entry["depends"]
        assert isinstance(depends, list)
        todo.extend(depends + EXTRA_DEPENDS.get(name, []))
    return out


def fetch_wheels(cache: Path, wanted: dict[str, str], python: str) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    missing = {n: v for n, v in wanted.items() if not find_cached(cache, n, v)}
    binary = {n: v for n, v in missing.items() if n not in SDIST_ONLY}
    if binary:
        log(f"downloading {len(binary)} wheels from PyPI: {', '.join(sorted(binary))}")
        pip(
            "download", "-q", "--no-deps", "--only-binary=:all:",
            "--python-version", python, "-d", str(cache),
            *(f"{n}=={v}" for n, v in binary.items()),
        )  # fmt: skip
    for name in SDIST_ONLY & missing.keys():
        log(f"building wheel for {name} (sdist only)")
        pip("wheel", "-q", "--no-deps", "-w", str(cache), f"{name}=={wanted[name]}")
    out = {}
    for name, version in wanted.items():
        whl = find_cached(cache, name, version)
        if whl is None:
            raise SystemExit(f"wheel for {name}=={version} not found in {cache}")
        if not whl.name.endswith("-none-any.whl"):
            raise SystemExit(f"{whl.name} is not a pure-Python wheel")
        out[name] = whl
    return out


def build_one(root: Path, version: Version) -> None:
    src = root / "node_modules" / version.npm_name
    cache = root / ".build" / "cache" / "wheels"
    if not (src / "pyodide-lock.json").is_file():
        raise SystemExit(f"{src} is missing: run `npm ci` first")
    lock = json.loads((src / "pyodide-lock.json").read_text())
    packages = lock["packages"]
    python = ".".join(lock["info"]["python"].split(".")[:2])
    roots = ROOT_PACKAGES + (NEWEST_EXTRA_PACKAGES if version.npm_name == NEWEST_NPM_NAME else [])
    wheels = fetch_wheels(cache, needed_wheels(packages, roots), python)

    tmp = Path(tempfile.mkdtemp(prefix="dist.", dir=root / ".build"))
    try:
        for f in src.iterdir():
            if f.is_file() and f.name not in CORE_SKIP and not f.name.endswith(".d.ts"):
                shutil.copy2(f, tmp / f.name)
        for name, whl in wheels.items():
            entry = packages[name]
            dest = tmp / entry["file_name"]
            shutil.copy2(whl, dest)
            entry["sha256"] = sha256(dest)
            for dep in EXTRA_DEPENDS.get(name, []):
                if dep not in entry["depends"]:
                    entry["depends"].append(dep)
        (tmp / "pyodide-lock.json").write_text(json.dumps(lock))
        if version.dist.exists():
            shutil.rmtree(version.dist)
        tmp.rename(version.dist)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    npm_version = json.loads((src / "package.json").read_text())["version"]
    log(f"assembled {version.dist.relative_to(root)}: Pyodide {npm_version}, Python {python}")


def build(root: Path) -> None:
    pinned = versions(root)
    for version in pinned:
        build_one(root, version)
    # A version no longer pinned must not be tested any more.
    for stale in (root / ".build").glob("dist-*"):
        if stale not in {v.dist for v in pinned}:
            log(f"removing {stale.relative_to(root)} (not pinned in package.json)")
            shutil.rmtree(stale)


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
    """Copy a project wheel into every dist and register it in their local lock files.

    Registration lets tests load it by package name (``packages=["autosync"]``) and
    lets ``run_in_pyodide`` auto-load it from ``import autosync`` in the test body.
    """
    name, version, imports = wheel_metadata(whl)
    key = norm(name)
    prefix = name.replace("-", "_")
    for dist in (v.dist for v in versions(root)):
        lock_path = dist / "pyodide-lock.json"
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
        log(
            f"registered {whl.name} in {lock_path.relative_to(root)} (imports: {', '.join(imports)})"
        )


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
