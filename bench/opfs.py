"""The OPFS study: a prototype store on the Origin Private File System (bench/opfs_store.js) against
autosync's IndexedDB store, both in a dedicated Web Worker (the demo page's ``?worker`` mode), where
OPFS offers synchronous access handles.

* flush: the same changes in an autosync directory and in an OPFS directory of the same worker:
  rewrite a 1 KiB file, append 1 byte to a large file, rename the large file, rename a directory of
  many small files. autosync: ``await m.flush()`` (IndexedDB's default durability), and for the
  small file also ``os.fsync`` (durability "strict") waited for with ``await m.flush()``. OPFS: the
  batch written with the handle's ``write()`` (in the OS: survives a killed browser), and the same
  followed by ``flush()`` (on the disk: survives a power cut). Rotating order, medians.
* restore: each side restored in a freshly started browser, sides alternating (as bench.restore),
  with the renderer's peak memory (the worker runs in the page's renderer process).
* fsync: write 100 bytes to a file, ``os.fsync()`` it, and SIGKILL the browser as soon as the call
  returned to the host; restart and see whether the write survived. The sides alternate kill by
  kill; each restart checks the write of the side killed last time.

    flush_rows, restore_rows, durability_rows = measure(session, files=20_000, mib=200, ...)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.parse
from pathlib import Path
from typing import Any

from demo.browser import Page

from . import memory
from .harness import Session, median, progress
from .report import DurabilityRow, OpfsFlushRow, OpfsRestoreRow
from .storage import NEVER_MS

SOURCE = (Path(__file__).resolve().parent / "opfs_store.js").read_text()
WORKER = "worker"

IDB_TREE, OPFS_TREE = "/idb_tree", "/opfs_tree"
IDB_LARGE, OPFS_LARGE = "/idb_large", "/opfs_large"
IDB_FSYNC, OPFS_FSYNC = "/idb_fsync", "/opfs_fsync"

# Loads the prototype into the worker; ``opfs_start(name, path)`` mounts and restores one store.
LOAD = f"""
import json
_opfs = run_js({json.dumps(SOURCE)})(FS)
stores = {{}}
async def opfs_start(name, path, durable=True):
    store, counts = await _opfs.start(name, path, durable)
    stores[path] = store
    return counts.to_py()
def opfs_save(path, *changes, durable=True):
    store = stores[path]
    store.durable = durable
    return store.save(pyodide.ffi.to_js([list(c) for c in changes]))
None
"""

# A change per row: in-page Python for the autosync directory and for the OPFS one ({root}).
CHANGES = {
    "small": ("rewrite_start('{root}/small.txt', {k})", "('file', '{root}/small.txt')"),
    "append": (
        "n = os.path.getsize(big_path('{root}'))\nappend_byte('{root}')",
        "('chunks', big_path('{root}'), n, n + 1)",
    ),
    "rename_big": (
        "old = big_path('{root}')\ntoggle('{root}/big.bin', '{root}/big2.bin')",
        "('mv', old, big_path('{root}'))",
    ),
    "rename_tree": (
        "old = tree_dir('{root}')\ntoggle('{root}/t', '{root}/u')",
        "('mv', old, tree_dir('{root}'))",
    ),
}

TOKEN_BYTES = 100
# The worker asks the host to kill the browser itself, with a synchronous request to the bench's
# server the moment fsync returned: the kill does not wait for the answer to travel back through the
# page and the DevTools protocol (30-100 ms on a loaded machine).
KILL_PATH = "/__bench__/kill"
WRITE_AND_FSYNC = """
import js
fd = os.open('{root}/synced.txt', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, '{token}'.ljust({size}).encode())
os.fsync(fd)
kill = js.XMLHttpRequest.new()
kill.open('GET', f'{kill_path}?at={{time.time()}}', False)
kill.send()
"""
READ_TOKEN = """
p = '{root}/synced.txt'
open(p).read().strip() if os.path.exists(p) else ''
"""


def _load(page: Page) -> Page:
    page.python(LOAD)
    return page


def _flushes(page: Page, repeats: int, files: int, mib: int) -> list[OpfsFlushRow]:
    def timed(code: str) -> float:
        return float(page.python(f"t = time.perf_counter()\n{code}\nms(t)"))

    rows = []
    labels = {
        "small": "a 1 KiB file rewritten",
        "append": f"a 1-byte append to a {mib} MiB file",
        "rename_big": f"a {mib} MiB file renamed",
        "rename_tree": f"a directory of {files:,} files renamed",
    }
    for kind, label in labels.items():
        idb_code, opfs_change = CHANGES[kind]
        idb_root, opfs_root = (
            (IDB_TREE, OPFS_TREE) if kind == "rename_tree" else (IDB_LARGE, OPFS_LARGE)
        )
        mount = "mt" if kind == "rename_tree" else "ml"
        variants: dict[str, str] = {
            "idb": f"{idb_code.format(root=idb_root, k='{k}')}\nawait {mount}.flush()",
            "opfs": (
                f"{idb_code.format(root=opfs_root, k='{k}')}\n"
                f"opfs_save('{opfs_root}', {opfs_change.format(root=opfs_root)}, durable=False)"
            ),
            "opfs_durable": (
                f"{idb_code.format(root=opfs_root, k='{k}')}\n"
                f"opfs_save('{opfs_root}', {opfs_change.format(root=opfs_root)})"
            ),
        }
        if kind == "small":
            variants["idb_strict"] = (
                f"fd = os.open('{idb_root}/small.txt', os.O_RDWR)\nos.write(fd, b'{{k}}')\n"
                f"os.fsync(fd)\nos.close(fd)\nawait {mount}.flush()"
            )
        progress(f"opfs: flush after {kind}, {repeats} runs")
        times: dict[str, list[float]] = {v: [] for v in variants}
        order = list(variants)
        for k in range(-1, repeats):
            shift = k % len(order)
            for variant in order[shift:] + order[:shift]:
                took = timed(variants[variant].replace("{k}", str(k)))
                if k >= 0:
                    times[variant].append(took)
        rows.append(
            OpfsFlushRow(
                f"flush after {label}",
                idb_ms=median(times["idb"]),
                idb_strict_ms=median(times["idb_strict"]) if "idb_strict" in times else None,
                opfs_ms=median(times["opfs"]),
                opfs_durable_ms=median(times["opfs_durable"]),
            )
        )
    return rows


def _restore_code(side: str, name: str, root: str) -> str:
    if side == "idb":
        return f"t = time.perf_counter()\nawait autosync.start('{root}').ready()\nms(t)"
    return f"t = time.perf_counter()\nawait opfs_start('{name}', '{root}')\nms(t)"


def _restores(
    session: Session,
    runs: int,
    label: str,
    name: str,
    roots: dict[str, str],
    fingerprint: str,
    saved: dict[str, Any],
) -> OpfsRestoreRow:
    progress(f"opfs: restore {name}, {runs} runs of each side, each in a fresh browser")
    times: dict[str, list[float]] = {side: [] for side in roots}
    peaks: dict[str, list[float]] = {side: [] for side in roots}
    sides = list(roots)
    for k in range(-1, runs):
        for side in sides if k % 2 == 0 else sides[::-1]:
            page = _load(session.fresh(WORKER))
            with memory.Peak(memory.renderer(session.browser.pid)) as peak:
                took = float(page.python(_restore_code(side, name, roots[side])))
            got = page.python(fingerprint.format(root=roots[side]))
            if got != saved[roots[side]]:
                raise AssertionError(
                    f"{side} restored {roots[side]} as {got!r}, saved as {saved[roots[side]]!r}"
                )
            if k >= 0:
                times[side].append(took)
                peaks[side].append(peak.above_baseline_mib)
                progress(
                    f"opfs: {side} restored {name} in {took:.0f} ms, peak +{peak.above_baseline_mib:.0f} MiB"
                )
    return OpfsRestoreRow(
        label,
        idb_ms=median(times["idb"]),
        opfs_ms=median(times["opfs"]),
        idb_peak_mib=median(peaks["idb"]),
        opfs_peak_mib=median(peaks["opfs"]),
        runs=runs,
    )


def _durability(session: Session, kills: int) -> list[DurabilityRow]:
    progress(f"opfs: fsync then SIGKILL, {kills} kills per side")
    killed: list[float] = []

    def kill_now(query: str) -> None:
        os.killpg(session.browser.pid, signal.SIGKILL)
        fsync_returned = float(urllib.parse.parse_qs(query)["at"][0])
        killed.append((time.time() - fsync_returned) * 1000)

    session.server.actions[KILL_PATH] = kill_now
    roots = {"idb": IDB_FSYNC, "opfs": OPFS_FSYNC}
    start = (
        f"await autosync.start('{IDB_FSYNC}', debounce_ms={NEVER_MS}, max_wait_ms={NEVER_MS}).ready()\n"
        f"await opfs_start('fsync', '{OPFS_FSYNC}')\nNone"
    )
    lost = {side: 0 for side in roots}
    delays: dict[str, list[float]] = {side: [] for side in roots}
    expected: tuple[str, str] | None = None
    for n in range(2 * kills + 1):
        page = _load(session.fresh(WORKER))
        page.python(start)
        if expected is not None:
            side, token = expected
            got = page.python(READ_TOKEN.format(root=roots[side]))
            lost[side] += got != token
            progress(f"opfs: {side} fsync'd {token!r}, found {got!r} after the kill")
        if n == 2 * kills:
            break
        side = "idb" if n % 2 == 0 else "opfs"
        token = f"{side}-{n}"
        code = WRITE_AND_FSYNC.format(
            root=roots[side], token=token, size=TOKEN_BYTES, kill_path=KILL_PATH
        )
        with contextlib.suppress(Exception):  # the page dies under it
            page.python(code)
        if len(killed) != len(delays["idb"]) + len(delays["opfs"]) + 1:
            raise AssertionError(f"the worker did not ask for the kill after fsync ({token})")
        delays[side].append(killed[-1])
        session.browser.kill()
        expected = (side, token)
    return [
        DurabilityRow(
            'autosync (IndexedDB): os.fsync starts a commit with durability "strict"',
            writes=kills,
            lost=lost["idb"],
            kill_after_ms=median(delays["idb"]),
        ),
        DurabilityRow(
            "OPFS prototype: os.fsync writes the batch with write() and flush() on the access handle",
            writes=kills,
            lost=lost["opfs"],
            kill_after_ms=median(delays["opfs"]),
        ),
    ]


def measure(
    session: Session, *, files: int, mib: int, repeats: int, runs: int, kills: int
) -> tuple[list[OpfsFlushRow], list[OpfsRestoreRow], list[DurabilityRow]]:
    page = _load(session.open(WORKER))
    progress(f"opfs: filling {files:,} files and a {mib} MiB file on each side (worker)")
    page.python(
        f"mt = await autosync.start('{IDB_TREE}', debounce_ms={NEVER_MS}, max_wait_ms={NEVER_MS}).ready()\n"
        f"fill_tree('{IDB_TREE}', {files})\nawait mt.flush()\n"
        f"ml = await autosync.start('{IDB_LARGE}', debounce_ms={NEVER_MS}, max_wait_ms={NEVER_MS}).ready()\n"
        f"write_large('{IDB_LARGE}', {mib})\nawait ml.flush()\n"
        f"await opfs_start('tree', '{OPFS_TREE}')\nfill_tree('{OPFS_TREE}', {files})\n"
        f"opfs_save('{OPFS_TREE}', ('tree', '{OPFS_TREE}'))\n"
        f"await opfs_start('large', '{OPFS_LARGE}')\nwrite_large('{OPFS_LARGE}', {mib})\n"
        f"opfs_save('{OPFS_LARGE}', ('tree', '{OPFS_LARGE}'))\nNone"
    )
    flush_rows = _flushes(page, repeats, files, mib)
    # Each side's own contents (the random bytes and the number of appends differ between them).
    trees = {root: page.python(f"count_files('{root}')") for root in (IDB_TREE, OPFS_TREE)}
    larges = {root: page.python(f"fingerprint('{root}')") for root in (IDB_LARGE, OPFS_LARGE)}
    restore_rows = [
        _restores(
            session,
            runs,
            f"restore {files:,} files (1 KiB each)",
            "tree",
            {"idb": IDB_TREE, "opfs": OPFS_TREE},
            "count_files('{root}')",
            trees,
        ),
        _restores(
            session,
            runs,
            f"restore one {mib} MiB file",
            "large",
            {"idb": IDB_LARGE, "opfs": OPFS_LARGE},
            "fingerprint('{root}')",
            larges,
        ),
    ]
    return flush_rows, restore_rows, _durability(session, kills)
