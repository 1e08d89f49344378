"""Restores, each side on its own: every restore runs in a freshly started browser.

A restore measured in a page where the other side's files already fill memory pays for that memory
(a 200 MiB file makes the next restore of the same page slower), and one measured right after the
other side's reads a warm IndexedDB backend. So here every restore gets a new Chromium on the same
profile (closed cleanly, so that the next start has nothing to recover), a new page with Pyodide
loaded, and restores one side's directory only: ``await autosync.start(path).ready()`` against mounting
IDBFS and ``syncfs(mount, True)``, timed in the page from before the call until everything is in
memory. The sides alternate (autosync first in even runs, IDBFS in odd ones), after one untimed
round of both in a browser of its own. Each restore is checked against what was saved.

Beside the time, the renderer process's peak resident memory during the restore (``VmHWM``, reset
just before: bench.memory), above what the page held just before (Pyodide loaded, nothing restored).

    row = measure(session, saved, runs=4)
"""

from __future__ import annotations

from . import memory
from .harness import Session, median, progress
from .report import RestoreRow
from .storage import Saved

# What the targets ask, by subject: IDBFS time / autosync time at least this.
RESTORE_TARGETS = {
    "tree20000": 4.0,
    "tree100000": 4.0,
    "large10": 1.5,
    "large50": 1.5,
    "large200": 1.5,
}
# Peak renderer memory above the page's baseline during the restore of one large file: the file
# itself has to be in memory once (the format-2 restore took about 1.03x a 200 MiB file), plus 10%
# and a fixed allowance for what every restore holds for a moment whatever its size (Python
# compiling the call, the database opened; +4-6 MiB measured for 1,000 small files).
MAX_PEAK_VS_FILE = 1.1
PEAK_ALLOWANCE_MIB = 8


def _code(side: str, root: str) -> str:
    if side == "autosync":
        return f"t = time.perf_counter()\nawait autosync.start('{root}').ready()\nms(t)"
    return f"t = time.perf_counter()\nidb = idbfs('{root}')\nawait syncfs(idb, True)\nms(t)"


def _restore(session: Session, saved: Saved, side: str) -> tuple[float, memory.Peak]:
    page = session.fresh()
    root = saved.roots[side]
    with memory.Peak(memory.renderer(session.browser.pid)) as peak:
        took = float(page.python(_code(side, root)))
    got = page.python(saved.subject.fingerprint.format(root=root))
    if got != saved.fingerprints[side]:
        raise AssertionError(f"{root} restored as {got!r}, saved as {saved.fingerprints[side]!r}")
    return took, peak


def measure(session: Session, saved: Saved, runs: int) -> RestoreRow:
    subject = saved.subject
    progress(f"{subject.key}: restore, {runs} runs of each side, each in a fresh browser")
    sides = list(saved.roots)
    for side in sides:
        _restore(session, saved, side)
    times: dict[str, list[float]] = {side: [] for side in sides}
    peaks: dict[str, list[float]] = {side: [] for side in sides}
    baselines: list[float] = []
    for k in range(runs):
        for side in sides if k % 2 == 0 else sides[::-1]:
            took, peak = _restore(session, saved, side)
            times[side].append(took)
            peaks[side].append(peak.above_baseline_mib)
            baselines.append(peak.baseline_mib)
            progress(
                f"{subject.key}: {side} restored in {took:.0f} ms, peak +{peak.above_baseline_mib:.0f} MiB"
            )
    return RestoreRow(
        subject.restore_label,
        autosync_ms=median(times["autosync"]),
        idbfs_ms=median(times["idbfs"]),
        autosync_peak_mib=median(peaks["autosync"]),
        idbfs_peak_mib=median(peaks["idbfs"]),
        baseline_mib=median(baselines),
        runs=runs,
        min_ratio=RESTORE_TARGETS.get(subject.key),
        max_peak_mib=MAX_PEAK_VS_FILE * subject.mib + PEAK_ALLOWANCE_MIB if subject.mib else None,
    )
