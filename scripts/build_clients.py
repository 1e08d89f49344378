#!/usr/bin/env python3
"""Build the real-client test sites in ``.build/clients`` (JupyterLite and PyScript), offline.

What is built, from the pins in ``clients/``:

* ``pyodide-<version>/``: the Pyodide each JupyterLite kernel line pins (npm, ``clients/package.json``)
  with the kernel's own pure-Python wheels (micropip, ipython, jedi and their dependencies, as listed in
  that Pyodide's ``pyodide-lock.json``) downloaded from PyPI at the lock's versions, and the lock's
  ``sha256`` entries rewritten to match them (Chromium checks them; Pyodide rebuilt its copies).
* ``jupyterlite-<line>/``: a venv with that line's ``jupyterlite-core`` + ``jupyterlite-pyodide-kernel``
  (``clients/jupyterlite-<line>.txt``), a site source (``src/``: ``clients/jupyter-lite.json``, the
  Pyodide above under ``static/pyodide``, ``pypi/`` with the autosync wheel and ``comm``, which the
  kernel installs but no lock lists), and the site ``jupyter lite build`` makes of it (``site/``).
* ``pyscript/``: ``@pyscript/core``'s files, the Pyodide of the newest JupyterLite line (the closest we
  have to the 314.0.2 PyScript loads by default), the autosync wheel, and the pages of
  ``clients/pyscript/`` with the wheel's file name filled in.

Each part is rebuilt only when its inputs changed (stamps in ``.build/stamps``)::

    build_clients.py --wheel .build/dist/autosync-<version>-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_dist import CORE_SKIP, norm, pip, sha256

# The JupyterLite release lines under test: the newest and the one before. Each kernel line pins one
# Pyodide (its default CDN URL); `check_kernel_pin` fails the build if the two pins drift apart.
LINES = {"0.8": "314.0.6", "0.7": "0.29.3"}
NEWEST_LINE = "0.8"
# What the kernel installs at start (its worker calls loadPackage/piplite.install on these).
KERNEL_PACKAGES = ["micropip", "ipython", "jedi"]
# Wheels the kernel installs that are in no Pyodide lock: offered in the site's pypi/ folder.
PYPI_EXTRA = {"comm": "0.2.3"}
# Lock dependencies that are not pure-Python wheels (a CPython module built by Pyodide, served only
# from its CDN before 314). IPython runs without sqlite3 (no history), so the local lock drops them.
UNAVAILABLE_OFFLINE = {"sqlite3"}
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def clients(self) -> Path:
        return self.root / "clients"

    @property
    def out(self) -> Path:
        return self.root / ".build" / "clients"

    @property
    def cache(self) -> Path:
        return self.root / ".build" / "cache" / "wheels"

    @property
    def stamps(self) -> Path:
        return self.root / ".build" / "stamps"

    def npm_pyodide(self, version: str) -> Path:
        return self.clients / "node_modules" / f"pyodide-{version}"

    def pyodide(self, version: str) -> Path:
        return self.out / f"pyodide-{version}"

    def line(self, line: str) -> Path:
        return self.out / f"jupyterlite-{line}"


def log(msg: str) -> None:
    print(f"[build_clients] {msg}", flush=True)


def digest(*parts: Path | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.read_bytes() if isinstance(part, Path) else part.encode())
        h.update(b"\0")
    return h.hexdigest()


def fresh(p: Paths, name: str, want: str, target: Path) -> bool:
    stamp = p.stamps / name
    return target.exists() and stamp.is_file() and stamp.read_text().strip() == want


def stamp(p: Paths, name: str, want: str) -> None:
    p.stamps.mkdir(parents=True, exist_ok=True)
    (p.stamps / name).write_text(want + "\n")


def download(p: Paths, python: str, pins: dict[str, str]) -> dict[str, Path]:
    """PyPI wheels ``name==version`` for a Pyodide of Python ``python``, cached in .build/cache."""
    p.cache.mkdir(parents=True, exist_ok=True)

    def cached(name: str, version: str) -> Path | None:
        for whl in p.cache.glob("*.whl"):
            parts = whl.name.split("-")
            if norm(parts[0]) == norm(name) and parts[1] == version:
                return whl
        return None

    missing = [f"{n}=={v}" for n, v in pins.items() if cached(n, v) is None]
    if missing:
        log(f"downloading {len(missing)} wheels from PyPI: {', '.join(missing)}")
        pip(
            "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", python,
            "-d", str(p.cache), *missing,
        )  # fmt: skip
    out = {}
    for name, version in pins.items():
        whl = cached(name, version)
        if whl is None or not whl.name.endswith("-none-any.whl"):
            raise SystemExit(f"no pure-Python wheel for {name}=={version} in {p.cache}")
        out[name] = whl
    return out


def python_of(lock: dict[str, Any]) -> str:
    """``"3.13"`` for a lock of Python 3.13.2: what ``pip download --python-version`` wants."""
    return ".".join(lock["info"]["python"].split(".")[:2])


def build_pyodide(p: Paths, version: str) -> Path:
    """The npm Pyodide ``version`` plus the kernel's wheels, with a lock that matches them."""
    src = p.npm_pyodide(version)
    dest = p.pyodide(version)
    want = digest(p.clients / "package-lock.json", Path(__file__))
    if fresh(p, f"clients-pyodide-{version}", want, dest):
        return dest
    if not (src / "pyodide-lock.json").is_file():
        raise SystemExit(f"{src} is missing: run `npm ci` in clients/ first")
    lock = json.loads((src / "pyodide-lock.json").read_text())
    packages = {norm(name): entry for name, entry in lock["packages"].items()}
    python = python_of(lock)

    needed: dict[str, dict[str, object]] = {}
    todo = list(KERNEL_PACKAGES)
    while todo:
        name = norm(todo.pop())
        if name in needed or name in UNAVAILABLE_OFFLINE:
            continue
        entry = packages[name]
        entry["depends"] = [d for d in entry["depends"] if norm(d) not in UNAVAILABLE_OFFLINE]
        needed[name] = entry
        todo.extend(entry["depends"])
    wheels = download(p, python, {name: str(e["version"]) for name, e in needed.items()})

    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name not in CORE_SKIP and not f.name.endswith((".d.ts", ".map")):
            shutil.copy2(f, tmp / f.name)
    for name, entry in needed.items():
        target = tmp / str(entry["file_name"])
        shutil.copy2(wheels[name], target)
        entry["sha256"] = sha256(target)
    (tmp / "pyodide-lock.json").write_text(json.dumps(lock))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    stamp(p, f"clients-pyodide-{version}", want)
    log(f"assembled {dest.relative_to(p.root)} (Python {python}; {', '.join(sorted(needed))})")
    return dest


def build_venv(p: Paths, line: str) -> Path:
    requirements = p.clients / f"jupyterlite-{line}.txt"
    venv = p.line(line) / "venv"
    want = digest(requirements, sys.version)
    if fresh(p, f"clients-jupyterlite-{line}-venv", want, venv / "bin" / "jupyter"):
        return venv
    log(f"creating {venv.relative_to(p.root)} from {requirements.relative_to(p.root)}")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-r", str(requirements)],
        check=True,
    )  # fmt: skip
    stamp(p, f"clients-jupyterlite-{line}-venv", want)
    return venv


def check_kernel_pin(venv: Path, line: str, version: str) -> None:
    """The kernel's default pyodideUrl names the Pyodide it was built and tested against."""
    ext = venv / "share" / "jupyter" / "labextensions" / KERNEL_PLUGIN.split(":")[0]
    needle = f"/pyodide/v{version}/full/".encode()
    if not any(needle in js.read_bytes() for js in ext.glob("static/*.js")):
        raise SystemExit(
            f"jupyterlite-pyodide-kernel of line {line} does not pin Pyodide {version}: update "
            f"LINES in {Path(__file__).name} and the pyodide alias in clients/package.json together"
        )


def build_jupyterlite(p: Paths, line: str, wheel: Path, comm: Path) -> Path:
    version = LINES[line]
    pyodide = build_pyodide(p, version)
    venv = build_venv(p, line)
    check_kernel_pin(venv, line, version)
    base = p.line(line)
    site = base / "site"
    config = p.clients / "jupyter-lite.json"
    want = digest(
        config,
        Path(__file__),
        (p.stamps / f"clients-pyodide-{version}").read_text(),
        (p.stamps / f"clients-jupyterlite-{line}-venv").read_text(),
        wheel.name,
        sha256(wheel),
        comm.name,
    )
    if fresh(p, f"clients-jupyterlite-{line}-site", want, site / "jupyter-lite.json"):
        log(f"jupyterlite {line}: up to date")
        return site
    src = base / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(site, ignore_errors=True)
    (src / "pypi").mkdir(parents=True)
    shutil.copytree(pyodide, src / "static" / "pyodide")
    shutil.copy2(config, src / "jupyter-lite.json")
    for whl in (wheel, comm):
        shutil.copy2(whl, src / "pypi" / whl.name)
    log(f"jupyter lite build ({line}, Pyodide {version})")
    built = subprocess.run(
        [str(venv / "bin" / "jupyter"), "lite", "build", "--output-dir", str(site)],
        cwd=src,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"},
    )
    if built.returncode:
        raise SystemExit(f"jupyter lite build failed:\n{built.stdout}{built.stderr}")
    settings = json.loads((site / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = settings["litePluginSettings"][KERNEL_PLUGIN]
    if not kernel.get("disablePyPIFallback") or not kernel.get("pyodideUrl", "").startswith("./"):
        raise SystemExit(
            f"{site}/jupyter-lite.json does not use the local Pyodide offline: {kernel}"
        )
    stamp(p, f"clients-jupyterlite-{line}-site", want)
    return site


def build_pyscript(p: Paths, wheel: Path) -> Path:
    """The files of clients/pyscript/ (``{wheel}`` = the wheel's file name), PyScript, Pyodide."""
    pyodide = p.pyodide(LINES[NEWEST_LINE])
    core = p.clients / "node_modules" / "@pyscript" / "core" / "dist"
    files = sorted((p.clients / "pyscript").iterdir())
    site = p.out / "pyscript"
    want = digest(
        p.clients / "package-lock.json", Path(__file__), *files, wheel.name, sha256(wheel)
    )
    if fresh(p, "clients-pyscript", want, site / "index.html"):
        log("pyscript: up to date")
        return site
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(core, site / "pyscript", ignore=shutil.ignore_patterns("*.map"))
    shutil.copytree(pyodide, site / "pyodide")
    shutil.copy2(wheel, site / wheel.name)
    for f in files:
        (site / f.name).write_text(f.read_text().replace("{wheel}", wheel.name))
    stamp(p, "clients-pyscript", want)
    log(f"assembled {site.relative_to(p.root)}")
    return site


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--wheel", type=Path, required=True, help="the autosync wheel to offer")
    args = ap.parse_args()
    p = Paths(args.root.resolve())
    wheel = args.wheel.resolve()
    for line in LINES:
        lock = json.loads((p.npm_pyodide(LINES[line]) / "pyodide-lock.json").read_text())
        comm = download(p, python_of(lock), PYPI_EXTRA)["comm"]
        build_jupyterlite(p, line, wheel, comm)
    build_pyscript(p, wheel)


if __name__ == "__main__":
    main()
