"""Saving a change, for autosync and Emscripten's IDBFS side by side; and the saved directories the
restore measurement (bench.restore) reads back.

Two kinds of directory contents ("subjects"): a tree of N files of 1 KiB in one directory, and one
large file with a 1 KiB file beside it. For each, one page holds the same contents three times -- in
an autosync directory, in an IDBFS mount and in an IDBFS mount with ``{autoPersist: true}`` --
everything saved; then each kind of change the subject has (rewrite the start of one file of the
tree, rename the tree's directory; append one byte to the large file, rewrite the small file, rename
the large file) is timed, from just before the change, until it is committed: ``await m.flush()``,
``await syncfs(mount, False)``, and for autoPersist until Emscripten's own persist has committed
(see ``bench.harness``). The three sides take turns, in a rotating order, after one untimed round.

    saved = prepare(session, tree(20_000), repeats=5, flush=True)
    saved.rows  # FlushRow per change
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .harness import Session, median, progress
from .report import FlushRow

# What the targets ask, by (subject, change): IDBFS syncfs time / autosync time at least this.
FLUSH_TARGETS = {
    ("tree20000", "touch"): 50.0,
    ("large200", "append"): 50.0,
    ("tree20000", "rename"): 50.0,
    ("large200", "rename"): 100.0,
}
# A rename is a few metadata writes: at most this many times the one-small-file flush of the same
# directory.
MAX_RENAME_VS_SMALL = 3.0

# No background flush during these measurements: every flush is one we time.
NEVER_MS = 600_000
# IDBFS saves a renamed directory by rewriting every file in it (129 s per syncfs for 100,000 files
# on the reference machine): trees larger than the target's 20,000 files are not renamed.
MAX_RENAMED_FILES = 20_000

SIDES = ("autosync", "idbfs", "persist")


@dataclass(frozen=True)
class Change:
    """One kind of change to a subject, as in-page Python (``{root}`` the directory, ``{k}`` the run)."""

    kind: str
    label: str
    code: str
    #: The change whose flush is the one-small-file flush of the same directory (for renames).
    reference: str | None = None

    @property
    def rename(self) -> bool:
        return self.kind == "rename"


@dataclass(frozen=True)
class Subject:
    """What a directory holds, as in-page Python; ``{root}`` is the directory."""

    key: str
    restore_label: str
    make: str
    changes: tuple[Change, ...]
    #: An expression whose value must be the same after a restore as before.
    fingerprint: str
    #: For a tree, its number of files (the flush rows of trees are compared by size).
    files: int | None = None
    #: For a large file, its size in MiB.
    mib: int | None = None


def tree(n: int) -> Subject:
    rename = Change(
        "rename",
        f"flush after renaming the directory of {n:,} files",
        "toggle('{root}/t', '{root}/u')",
        reference="touch",
    )
    return Subject(
        key=f"tree{n}",
        restore_label=f"restore {n:,} files (1 KiB each)",
        make=f"fill_tree('{{root}}', {n})",
        changes=(
            Change(
                "touch",
                f"flush after changing 1 of {n:,} files (1 KiB each)",
                "rewrite_start(tree_file('{root}'), {k})",
            ),
            *((rename,) if n <= MAX_RENAMED_FILES else ()),
        ),
        fingerprint="count_files('{root}')",
        files=n,
    )


def large(mib: int) -> Subject:
    return Subject(
        key=f"large{mib}",
        restore_label=f"restore one {mib} MiB file",
        make=f"write_large('{{root}}', {mib})",
        changes=(
            Change(
                "append",
                f"flush after a 1-byte append to a {mib} MiB file",
                "append_byte('{root}')",
            ),
            Change(
                "small",
                f"flush after changing a 1 KiB file beside a {mib} MiB file",
                "rewrite_start('{root}/small.txt', {k})",
            ),
            Change(
                "rename",
                f"flush after renaming a {mib} MiB file",
                "toggle('{root}/big.bin', '{root}/big2.bin')",
                reference="small",
            ),
        ),
        fingerprint="fingerprint('{root}')",
        mib=mib,
    )


@dataclass
class Saved:
    """A subject saved by each side, and what it must look like when restored."""

    subject: Subject
    #: side -> directory
    roots: dict[str, str]
    #: side -> the subject's fingerprint as saved
    fingerprints: dict[str, Any]
    rows: list[FlushRow] = field(default_factory=list)


def prepare(
    session: Session, subject: Subject, repeats: int, rename_repeats: int, *, flush: bool
) -> Saved:
    """Fills and saves the subject on each side; with ``flush``, times each kind of change.

    Renames run ``rename_repeats`` times and without the autoPersist side, which saves a rename
    with the same whole syncfs as plain IDBFS (seconds to minutes each for large trees).
    """
    roots = {side: f"/{side}_{subject.key}" for side in SIDES}
    ours, theirs, auto = (roots[side] for side in SIDES)
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

    rows = []
    if flush:
        saves = {
            ours: "await m.flush()",
            theirs: "await syncfs(idb, False)",
            auto: "await persisted(ap)",
        }
        measured: dict[str, dict[str, float]] = {}
        for change in subject.changes:
            runs = rename_repeats if change.rename else repeats
            progress(f"{subject.key}: flush after {change.kind}, {runs} runs")
            order = [root for root in saves if not (change.rename and root == auto)]
            times: dict[str, list[float]] = {root: [] for root in order}
            # Run -1 warms up each side's path for this change and is not counted.
            for k in range(-1, runs):
                shift = k % len(order)
                for root in order[shift:] + order[:shift]:
                    code = change.code.format(root=root, k=k)
                    took = page.python(f"t = time.perf_counter()\n{code}\n{saves[root]}\nms(t)")
                    if k >= 0:
                        times[root].append(float(took))
            measured[change.kind] = {root: median(t) for root, t in times.items()}
            reference = measured[change.reference][ours] if change.reference else None
            target = FLUSH_TARGETS.get((subject.key, change.kind))
            rows.append(
                FlushRow(
                    change.label,
                    autosync_ms=measured[change.kind][ours],
                    idbfs_ms=measured[change.kind][theirs],
                    persist_ms=measured[change.kind].get(auto),
                    min_ratio=target,
                    tree_files=subject.files if change.kind == "touch" else None,
                    rename=change.rename,
                    small_file_ms=reference,
                    max_vs_small=MAX_RENAME_VS_SMALL if reference and target else None,
                )
            )
    restorable = {side: roots[side] for side in ("autosync", "idbfs")}
    fingerprints = {
        side: page.python(subject.fingerprint.format(root=root))
        for side, root in restorable.items()
    }
    return Saved(subject, restorable, fingerprints, rows)
