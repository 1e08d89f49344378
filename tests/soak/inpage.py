"""The page's half of the soak: runs inside Pyodide (a Chromium page, or Node), never on the host.

The runner (tests/soak/runner.py) sends this file's source once per page load, as module
``_soak``, and then calls it from small code blocks::

    _out = await _soak.start()                                # restore; the tree as restored
    _out = _soak.run([{"op": "write", ...}, ...], strict=True)
    _out = _soak.describe()
    await _soak.mount.flush()                                 # in the same block: what it saves

Steps come from tests/soak/steps.py; file contents are made here from each step's seed, so a step
is a few numbers however many bytes it writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shutil
import stat
from typing import Any

ROOT = "/soak"
# Only explicit flushes (and fsync) save: the runner knows exactly what each one snapshots.
SETTINGS: dict[str, Any] = {
    "debounce_ms": 10**7,
    "max_wait_ms": 10**7,
    "flush_on_hide": False,
    "persist": False,
}

REMOVING = ("unlink", "rmdir", "rmtree", "rename")

mount: Any = None
fds: dict[int, int] = {}
later: Any = None  # a flush started without waiting for it (a kill follows)


def full(path: str) -> str:
    return f"{ROOT}/{path}" if path else ROOT


def data(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:24]


def version(content: bytes) -> dict[str, Any]:
    """A file's content as a two-tab run records it: its hash, size, and the hash of each of its
    chunks (to tell which version each part of a mixed file came from)."""
    chunk = 256 * 1024  # steps.CHUNK; start() reports the page's, which the runner checks
    return {
        "sha": digest(content),
        "size": len(content),
        "chunks": [digest(content[i : i + chunk]) for i in range(0, len(content), chunk)],
    }


def file_version(path: str) -> dict[str, Any]:
    with open(full(path), "rb") as f:
        return version(f.read())


def listing_and_versions() -> dict[str, Any]:
    """:func:`listing`, and the :func:`version` of every file (what a two-tab run starts from)."""
    files = [p for p, st in _walk() if stat.S_ISREG(st.st_mode)]
    return {"ids": listing(), "versions": {p: file_version(p) for p in files}}


async def start() -> dict[str, Any]:
    """Start autosync on ROOT (the restore included); the tree as restored."""
    global mount
    import autosync
    from autosync import _pyodide

    fds.clear()
    mount = autosync.start(ROOT, **SETTINGS)
    # Waits for the restore: Mount.ready() where the handle has it, else the handle is awaitable.
    mount = await (mount.ready() if hasattr(mount, "ready") else mount)
    return {
        "tree": describe(),
        "failed": [str(f) for f in mount.status().restored.get("failed", [])],
        "restored": {k: v for k, v in mount.status().restored.items() if k != "failed"},
        "chunk": int(_pyodide._js_api().CHUNK_SIZE),
    }


def describe() -> dict[str, list[Any]]:
    """Every entry under ROOT (ROOT itself as ""), by path relative to it:
    ``["d", mode, mtime_ns]``, ``["f", mode, mtime_ns, size, sha]``, ``["l", mode, mtime_ns, target]``.
    """
    out: dict[str, list[Any]] = {}
    stack = [""]
    while stack:
        path = stack.pop()
        st = os.lstat(full(path))
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            out[path] = ["d", mode, st.st_mtime_ns]
            stack.extend(f"{path}/{n}" if path else n for n in os.listdir(full(path)))
        elif stat.S_ISLNK(mode):
            out[path] = ["l", mode, st.st_mtime_ns, os.readlink(full(path))]
        else:
            with open(full(path), "rb") as f:
                content = f.read()
            out[path] = ["f", mode, st.st_mtime_ns, len(content), digest(content)]
    return out


def listing() -> dict[str, list[int]]:
    """Every path under ROOT (nothing is read), with the autosync ids of its entry and of every
    directory above it: the ids a flush right after this stores them under."""
    return {p: _ids(p, assign=True) for p, _ in _walk() if p}


def after_flush(listed: dict[str, list[int]]) -> dict[str, list[int]]:
    """``listed`` with the ids its paths have now: the flush may have merged an entry with another
    tab's of the same name, which gives it that entry's id."""
    out = {}
    for path, ids in listed.items():
        try:
            now = _ids(path, assign=False)
        except Exception:
            now = []
        out[path] = sorted(set(ids) | set(now))
    return out


def _node(path: str) -> Any:
    import pyodide_js

    return pyodide_js.FS.lookupPath(full(path)).node


def _ids(path: str, *, assign: bool) -> list[int]:
    """autosync's ids (tree.js Registry: stable across tabs) of ``path`` and its directories.
    Without ``assign``, a node that has none (never saved, never listed) has none here either."""
    registry = _node("").mount.autosync.registry
    parts = path.split("/")
    out = []
    for i in range(1, len(parts) + 1):
        node = _node("/".join(parts[:i]))
        asid = registry.idOf(node) if assign else getattr(node, "asid", None)
        if asid is not None:
            out.append(int(asid))
    return out


def _removed(s: dict[str, Any]) -> list[int]:
    """Ids of the entries a removing step takes away (or moves, for a rename's source)."""
    paths = [s["path"]] + ([s["to"]] if s["op"] == "rename" else [])
    out = []
    for path in paths:
        if os.path.lexists(full(path)):
            asid = getattr(_node(path), "asid", None)
            if asid is not None:
                out.append(int(asid))
    return out


def _walk() -> list[tuple[str, os.stat_result]]:
    out = []
    stack = [""]
    while stack:
        path = stack.pop()
        st = os.lstat(full(path))
        out.append((path, st))
        if stat.S_ISDIR(st.st_mode):
            stack.extend(f"{path}/{n}" if path else n for n in os.listdir(full(path)))
    return out


def _write_at(fd: int, offset: int, content: bytes) -> None:
    os.lseek(fd, offset, os.SEEK_SET)
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view) :]


def _read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, size) if size else b""


def step(s: dict[str, Any], *, record: bool = True) -> dict[str, Any]:
    """Runs one step; with ``record``, returns what a two-tab run records of it: the file's
    content afterwards (``version``), or the link's target."""
    op = s["op"]
    path = full(s.get("path", ""))
    if op == "create":
        with open(path, "xb") as f:
            f.write(data(s["seed"], s["n"]))
    elif op == "write":
        fd = os.open(path, os.O_WRONLY)
        try:
            _write_at(fd, s["offset"], data(s["seed"], s["n"]))
        finally:
            os.close(fd)
    elif op == "append":
        with open(path, "ab") as f:
            f.write(data(s["seed"], s["n"]))
    elif op == "truncate":
        os.truncate(path, s["size"])
    elif op == "rename":
        os.rename(path, full(s["to"]))
    elif op == "unlink":
        os.unlink(path)
    elif op == "mkdir":
        os.mkdir(path)
    elif op == "rmdir":
        os.rmdir(path)
    elif op == "rmtree":
        shutil.rmtree(path)
    elif op == "symlink":
        os.symlink(s["target"], path)
        return {"link": s["target"]}
    elif op == "chmod":
        # With two tabs the path may be a directory the other tab made of a file's name: it keeps
        # its owner's rwx, or neither tab could work in it (a test of permissions, not of autosync).
        os.chmod(path, s["mode"] | (0o700 if os.path.isdir(path) else 0))
    elif op == "utime":
        os.utime(path, ns=(s["atime"], s["mtime"]))
    elif op == "open":
        fds[s["slot"]] = os.open(path, os.O_RDWR)
    elif op == "fdwrite":
        _write_at(fds[s["slot"]], s["offset"], data(s["seed"], s["n"]))
        return {"version": version(_read_fd(fds[s["slot"]]))} if record else {}
    elif op == "fdtruncate":
        os.ftruncate(fds[s["slot"]], s["size"])
        return {"version": version(_read_fd(fds[s["slot"]]))} if record else {}
    elif op == "close":
        os.close(fds.pop(s["slot"]))
    elif op == "fsync":
        os.fsync(fds[s["slot"]])  # starts a flush, its snapshot taken inside the call
    else:
        raise ValueError(f"unknown step {op!r}")
    if record and op in ("create", "write", "append", "truncate"):
        return {"version": file_version(s["path"])}
    return {}


def run(steps: list[dict[str, Any]], *, strict: bool) -> dict[str, Any]:
    """Runs ``steps`` in order. Strict: stops at the first failure (the generator expected every
    step to succeed). Otherwise a failing step (another tab changed the tree) is noted and skipped.
    """
    results: list[dict[str, Any]] = []
    for i, s in enumerate(steps):
        try:
            if strict:
                results.append({"ok": True, **step(s, record=False)})
                continue
            removed = _removed(s) if s["op"] in REMOVING else []
            results.append({"ok": True, **step(s), **({"removed": removed} if removed else {})})
        except Exception as e:
            if strict or not isinstance(e, OSError | KeyError):
                return {"results": results, "failed": i, "error": f"{type(e).__name__}: {e}"}
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    return {"results": results, "failed": None, "error": None}


def flush_later() -> None:
    """Starts a flush and returns at once (the runner kills the browser while it runs)."""
    global later
    later = asyncio.ensure_future(mount.flush())


def abandon() -> None:
    """A crash, as near as one runtime gets to one (Node): the mount is dropped without a flush,
    and its files with it."""
    import pyodide_js

    import autosync

    m = mount
    if m._task is not None:
        m._task.cancel()
    m._backend.detach()
    del autosync._mounts[ROOT]
    for fd in fds.values():
        os.close(fd)
    fds.clear()
    pyodide_js.FS.unmount(ROOT)


async def reload() -> None:
    """A reload without a browser (Node): stop (which saves everything), then forget the files."""
    import pyodide_js

    await mount.stop()
    for fd in fds.values():
        os.close(fd)
    fds.clear()
    pyodide_js.FS.unmount(ROOT)


_STORED_JS = """async (name) => {
  const db = await new Promise((ok, ko) => {
    const r = indexedDB.open(name);
    r.onsuccess = () => ok(r.result);
    r.onerror = () => ko(r.error);
  });
  const tx = db.transaction(["nodes", "chunks", "log"], "readonly");
  const all = (store, what) => new Promise((ok, ko) => {
    const r = tx.objectStore(store)[what]();
    r.onsuccess = () => ok(r.result);
    r.onerror = () => ko(r.error);
  });
  const [keys, values, chunks, logKeys, logs] = await Promise.all([
    all("nodes", "getAllKeys"), all("nodes", "getAll"), all("chunks", "getAllKeys"),
    all("log", "getAllKeys"), all("log", "getAll")]);
  db.close();
  const v = (i) => values[i] || {};
  return JSON.stringify({
    nodes: keys.map((k, i) => {
      const c = v(i).contents;
      return [k, v(i).id, v(i).v, v(i).mode, v(i).size, c === undefined ? null : (c.size ?? c.length)];
    }),
    chunks,
    log: logKeys.map((k, i) => [k, logs[i].tab, logs[i].v, logs[i].puts, logs[i].dels, logs[i].conflicts]),
  });
}"""


def key_of(path: str) -> list[Any]:
    """The stored key ([parent id, name]) of the entry at ``path``, for failure reports."""
    ids = _ids(path, assign=False)
    return [ids[-2] if len(ids) > 1 else 0, path.rsplit("/", 1)[-1]]


async def stored() -> dict[str, Any]:
    """What IndexedDB holds for ROOT, for failure reports: node records ([parent id, name], id,
    commit, mode, size, inline bytes), chunk keys ([id, index], or [id, first, n] for a run) and
    the commit log."""
    import json

    from pyodide.code import run_js

    return dict(json.loads(await run_js(_STORED_JS)("autosync:" + ROOT)))
