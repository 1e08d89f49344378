"""Saving a small change, and restoring, for autosync and Emscripten's IDBFS side by side.

Two kinds of directory contents ("subjects"): a tree of N files of 1 KiB, and one large file.
For each, one page holds the same contents three times -- in an autosync directory, in an IDBFS
mount and in an IDBFS mount with ``{autoPersist: true}`` -- everything saved; then:

* flush: change the contents (rewrite the start of one file of the tree / append one byte to the
  large file) and time, from just before the change, until the change is committed: ``await
  m.flush()``, ``await syncfs(mount, False)``, and for autoPersist until Emscripten's own persist
  has committed (see ``bench.harness``). The three sides take turns, in a rotating order, after
  one untimed round.
* restore: reload the page, then time ``await autosync.start(path).ready()`` and mounting IDBFS plus
  ``syncfs(mount, True)``, in alternating order; both are checked to have brought everything back.

    flush_rows, restore_rows = measure(session, tree(20_000), repeats=5, flush=True, restore=True)
"""

from __future__ import annotations

from dataclasses import dataclass

from .harness import Session, median, progress
from .report import FlushRow, RestoreRow

# What the targets ask, by subject: IDBFS time / autosync time at least this much.
FLUSH_TARGETS = {"tree20000": 50.0, "large200": 50.0}
RESTORE_TARGETS = {"tree20000": 2.0, "large200": 1.0}

# No background flush during these measurements: every flush is one we time.
NEVER_MS = 600_000


@dataclass(frozen=True)
class Subject:
    """What a directory holds, as in-page Python; ``{root}`` is the directory, ``{k}`` the run."""

    key: str
    flush_label: str
    restore_label: str
    make: str
    change: str
    #: An expression whose value must be the same after a restore as before the reload.
    fingerprint: str
    #: For a tree, its number of files (the flush rows of trees are compared by size).
    files: int | None = None


def tree(n: int) -> Subject:
    return Subject(
        key=f"tree{n}",
        flush_label=f"flush after changing 1 of {n:,} files (1 KiB each)",
        restore_label=f"restore {n:,} files (1 KiB each)",
        make=f"fill_tree('{{root}}', {n})",
        change="touch_tree('{root}', {k})",
        fingerprint="count_files('{root}')",
        files=n,
    )


def large(mib: int) -> Subject:
    return Subject(
        key=f"large{mib}",
        flush_label=f"flush after a 1-byte append to a {mib} MiB file",
        restore_label=f"restore one {mib} MiB file",
        make=f"write_large('{{root}}/big.bin', {mib})",
        change="append_byte('{root}/big.bin')",
        fingerprint="fingerprint('{root}/big.bin')",
    )


def measure(
    session: Session, subject: Subject, repeats: int, *, flush: bool, restore: bool
) -> tuple[list[FlushRow], list[RestoreRow]]:
    ours, theirs, auto = (f"/{side}_{subject.key}" for side in ("autosync", "idbfs", "persist"))
    page = session.open()
    progress(f"{subject.key}: filling the directories")
    setup = (
        f"m = await autosync.start('{ours}', debounce_ms={NEVER_MS}, max_wait_ms={NEVER_MS}).ready()\n"
        f"{subject.make.format(root=ours)}\nawait m.flush()\n"
        f"idb = idbfs('{theirs}')\n{subject.make.format(root=theirs)}\nawait syncfs(idb, False)\n"
    )
    if flush:
        setup += (
            f"ap = idbfs('{auto}', auto_persist=True)\n"
            f"{subject.make.format(root=auto)}\nawait persisted(ap)\n"
        )
    page.python(setup + "None")

    flush_rows = []
    if flush:
        progress(f"{subject.key}: flush, {repeats} runs")
        sides = [
            (ours, "await m.flush()"),
            (theirs, "await syncfs(idb, False)"),
            (auto, "await persisted(ap)"),
        ]
        times: dict[str, list[float]] = {root: [] for root, _ in sides}
        # Run -1 warms up each side's small-change path and is not counted.
        for k in range(-1, repeats):
            for root, save in sides[k % 3 :] + sides[: k % 3]:
                change = subject.change.format(root=root, k=k)
                took = page.python(f"t = time.perf_counter()\n{change}\n{save}\nms(t)")
                if k >= 0:
                    times[root].append(float(took))
        flush_rows.append(
            FlushRow(
                subject.flush_label,
                autosync_ms=median(times[ours]),
                idbfs_ms=median(times[theirs]),
                persist_ms=median(times[auto]),
                min_ratio=FLUSH_TARGETS.get(subject.key),
                tree_files=subject.files,
            )
        )

    restore_rows = []
    if restore:
        progress(f"{subject.key}: restore, {repeats} reloads")
        restores = [
            (ours, f"t = time.perf_counter()\nawait autosync.start('{ours}').ready()\nms(t)"),
            (
                theirs,
                f"t = time.perf_counter()\nidb = idbfs('{theirs}')\nawait syncfs(idb, True)\nms(t)",
            ),
        ]
        restored: dict[str, list[float]] = {ours: [], theirs: []}
        saved = {root: page.python(subject.fingerprint.format(root=root)) for root in restored}
        for k in range(repeats):
            page = session.reload(page)
            for root, code in restores[k % 2 :] + restores[: k % 2]:
                restored[root].append(float(page.python(code)))
            for root, want in saved.items():
                got = page.python(subject.fingerprint.format(root=root))
                if got != want:
                    raise AssertionError(f"{root} restored as {got!r}, saved as {want!r}")
        restore_rows.append(
            RestoreRow(
                subject.restore_label,
                autosync_ms=median(restored[ours]),
                idbfs_ms=median(restored[theirs]),
                min_ratio=RESTORE_TARGETS.get(subject.key),
            )
        )
    return flush_rows, restore_rows
