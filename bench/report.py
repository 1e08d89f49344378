"""What the bench found, and the markdown it becomes (printed, and written to bench/RESULTS.md).

The measurement modules return these rows; :func:`render` lays them out as one table per group,
under a header naming the machine, the browser, Pyodide and the date::

    text = render(environment, flush_rows, restore_rows, overhead_rows, crash_rows, notes)
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from demo.browser import Browser

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class FlushRow:
    """Time from a change until it is committed to IndexedDB, for each side (medians, ms)."""

    what: str
    autosync_ms: float
    idbfs_ms: float
    persist_ms: float | None
    #: Target: IDBFS syncfs time / autosync time at least this.
    min_ratio: float | None = None
    #: The number of files, when the row is a tree's one-file change.
    tree_files: int | None = None
    #: A rename, shown with the one-small-file flush of the same directory.
    rename: bool = False
    #: autosync's one-small-file flush in the same directory (ms), for renames.
    small_file_ms: float | None = None
    #: Target: autosync's rename flush at most this many times its one-small-file flush.
    max_vs_small: float | None = None


# Target: autosync's flush in the largest tree measured takes at most this many times its flush in
# the smallest. "Does not grow with the number of files" with room for noise: the times are a few
# milliseconds, where one scheduling hiccup of the renderer or the IndexedDB backend shows.
MAX_TREE_GROWTH = 1.5


@dataclass(frozen=True)
class RestoreRow:
    """Time to bring a saved directory back in a freshly started browser, and the renderer's peak
    memory meanwhile above what the page held before (medians)."""

    what: str
    autosync_ms: float
    idbfs_ms: float
    autosync_peak_mib: float
    idbfs_peak_mib: float
    #: The renderer's resident memory just before a restore (Pyodide loaded), MiB.
    baseline_mib: float
    runs: int
    #: Target: IDBFS time / autosync time at least this.
    min_ratio: float | None = None
    #: Target: autosync's peak above the baseline at most this (MiB).
    max_peak_mib: float | None = None


@dataclass(frozen=True)
class OverheadRow:
    """A workload timed in an autosync directory and in a plain MEMFS one (median ms per run)."""

    what: str
    with_ms: float
    without_ms: float
    #: The median over pairs of neighbouring blocks of (with / without - 1), in percent: slow drifts
    #: of the machine (garbage collection, the browser's own work) cancel within a pair.
    overhead_pct: float
    #: The interquartile range of those pairs (25th and 75th percentile), in percent: the noise.
    q1_pct: float
    q3_pct: float
    blocks: int
    runs_per_block: int
    #: autosync flushes that ran inside the timed blocks, per block.
    flushes_per_block: float
    max_overhead_pct: float


@dataclass(frozen=True)
class CrashRow:
    """Age of the oldest unsaved change when the browser was killed, one sample per kill."""

    what: str
    ages_ms: list[float]
    #: Kills after which nothing of the run was saved (the age is then counted from its start).
    nothing_saved: int
    debounce_ms: float
    max_wait_ms: float
    #: The target is max age <= max_wait_ms + this (room for one flush to commit).
    allowance_ms: float

    @property
    def bound_ms(self) -> float:
        return self.max_wait_ms + self.allowance_ms


@dataclass(frozen=True)
class SeenRow:
    """From a commit in one tab until another tab of the same directory shows it (ms)."""

    what: str
    commits: int
    median_ms: float
    max_ms: float
    #: The writing tab's flush (median), lock handover included when the tabs take turns.
    flush_ms: float


@dataclass(frozen=True)
class AloneRow:
    """A single-tab measurement with the tab alone, and with a second tab open on the directory."""

    what: str
    alone_ms: float
    with_ms: float
    samples: str


@dataclass(frozen=True)
class OpfsFlushRow:
    """A change saved by autosync's IndexedDB store and by the OPFS prototype, in a worker (ms)."""

    what: str
    idb_ms: float
    #: After os.fsync (IndexedDB durability "strict"), waited for.
    idb_strict_ms: float | None
    #: The batch written with the access handle's write(): in the OS, survives a killed browser.
    opfs_ms: float
    #: The same followed by the handle's flush(): on the disk.
    opfs_durable_ms: float


@dataclass(frozen=True)
class OpfsRestoreRow:
    """A restore in a worker, each side in a freshly started browser (medians)."""

    what: str
    idb_ms: float
    opfs_ms: float
    idb_peak_mib: float
    opfs_peak_mib: float
    runs: int


@dataclass(frozen=True)
class DurabilityRow:
    """Writes os.fsync'd and then lost to a SIGKILL of the browser right after fsync returned."""

    what: str
    writes: int
    lost: int
    #: From fsync returning (in the worker) until the host had killed the browser (median).
    kill_after_ms: float


@dataclass(frozen=True)
class Failure:
    """A group that raised instead of measuring."""

    group: str
    error: str


@dataclass
class Results:
    flush: list[FlushRow] = field(default_factory=list)
    restore: list[RestoreRow] = field(default_factory=list)
    overhead: list[OverheadRow] = field(default_factory=list)
    crash: list[CrashRow] = field(default_factory=list)
    seen: list[SeenRow] = field(default_factory=list)
    alone: list[AloneRow] = field(default_factory=list)
    opfs_flush: list[OpfsFlushRow] = field(default_factory=list)
    opfs_restore: list[OpfsRestoreRow] = field(default_factory=list)
    durability: list[DurabilityRow] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


@dataclass(frozen=True)
class Environment:
    pyodide: str
    python: str
    autosync: str
    started: datetime.datetime
    wall_s: float
    settings: str
    #: The 1-minute load average, sampled at the start and after each group.
    loads: tuple[float, ...] = ()


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(theirs: float | None, ours: float) -> str:
    if theirs is None:
        return "—"
    return f"{theirs / ours:,.1f}x" if ours > 0 else "∞"


def _verdict(text: str, met: bool) -> str:
    return f"{text}: {'met' if met else '**not met**'}"


def _ratio_target(theirs: float, ours: float, minimum: float | None, against: str) -> str:
    if minimum is None:
        return "—"
    met = ours > 0 and theirs / ours >= minimum
    return _verdict(f"{against} ≥ {minimum:g}x", met)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def _os() -> str:
    name = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return f"{name}, kernel {platform.release()}"


def _revision() -> str:
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


# The bench itself keeps about two processes busy (the browser and its host); a load average well
# above the 2 cores means others ran too.
BUSY_LOAD = 3.0


def _load(loads: tuple[float, ...]) -> list[str]:
    if not loads:
        return []
    line = f"- 1-minute load average during the run: {min(loads):.1f} to {max(loads):.1f}"
    if max(loads) > BUSY_LOAD:
        line += (
            f" (**measured on a busy machine**: above {BUSY_LOAD:g}, other processes competed for "
            "the cores; treat small differences as noise)"
        )
    return [line]


def _growth(rows: list[FlushRow]) -> list[str]:
    """How the flush of one changed file grows from the smallest tree measured to the largest."""
    trees = sorted((r for r in rows if r.tree_files is not None), key=lambda r: r.tree_files or 0)
    if len(trees) < 2:
        return []
    small, big = trees[0], trees[-1]
    ours = big.autosync_ms / small.autosync_ms
    theirs = big.idbfs_ms / small.idbfs_ms
    met = ours <= MAX_TREE_GROWTH
    return [
        "",
        f"From {small.tree_files:,} to {big.tree_files:,} files, autosync's flush of one changed "
        f"file went from {_ms(small.autosync_ms)} to {_ms(big.autosync_ms)} ms ({ours:.2f}x), "
        f"IDBFS syncfs's from {_ms(small.idbfs_ms)} to {_ms(big.idbfs_ms)} ms ({theirs:.1f}x). "
        + _verdict(f"target: autosync's cost does not grow (≤ {MAX_TREE_GROWTH:g}x)", met)
        + ".",
    ]


def render(env: Environment, results: Results) -> str:
    lines = [
        "# autosync benchmark results",
        "",
        f"- date: {env.started.strftime('%Y-%m-%d %H:%M UTC')}, whole run {env.wall_s / 60:.1f} min",
        f"- machine: {_machine()}, {_os()}",
        f"- browser: headless `{Browser.version()}`",
        f"- Pyodide {env.pyodide} (Python {env.python}), autosync {env.autosync} "
        f"at `{_revision()}`",
        f"- settings: {env.settings}",
        *_load(env.loads),
        "",
        "Times are medians of the runs, timed inside the page (see bench/README.md for how each one "
        "is taken). Ratios are the other side's time / autosync's time: above 1 means autosync is "
        "faster.",
    ]
    if results.flush:
        changes = [f for f in results.flush if not f.rename]
        renames = [f for f in results.flush if f.rename]
        lines += [
            "",
            "## Saving a change: from the change until IndexedDB has committed it",
            "",
            "| measurement | autosync (ms) | IDBFS syncfs (ms) | IDBFS autoPersist (ms) "
            "| syncfs / autosync | autoPersist / autosync | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for f in changes:
            lines.append(
                f"| {f.what} | {_ms(f.autosync_ms)} | {_ms(f.idbfs_ms)} | {_ms(f.persist_ms)} "
                f"| {_ratio(f.idbfs_ms, f.autosync_ms)} | {_ratio(f.persist_ms, f.autosync_ms)} "
                f"| {_ratio_target(f.idbfs_ms, f.autosync_ms, f.min_ratio, 'syncfs / autosync')} |"
            )
        lines += _growth(results.flush)
        if renames:
            lines += [
                "",
                "## Saving a rename",
                "",
                "The one-small-file flush is autosync's flush after rewriting one 1 KiB file of the "
                "same directory, measured in the same page (the rows above).",
                "",
                "| measurement | autosync (ms) | IDBFS syncfs (ms) | IDBFS autoPersist (ms) "
                "| syncfs / autosync | autosync's one-small-file flush (ms) | rename / small-file "
                "flush | target |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            ]
            for f in renames:
                small = f.small_file_ms
                vs_small = f.autosync_ms / small if small else None
                targets = []
                if f.min_ratio is not None:
                    targets.append(
                        _ratio_target(f.idbfs_ms, f.autosync_ms, f.min_ratio, "syncfs / autosync")
                    )
                if f.max_vs_small is not None and vs_small is not None:
                    targets.append(
                        _verdict(
                            f"≤ {f.max_vs_small:g}x the small-file flush",
                            vs_small <= f.max_vs_small,
                        )
                    )
                lines.append(
                    f"| {f.what} | {_ms(f.autosync_ms)} | {_ms(f.idbfs_ms)} | {_ms(f.persist_ms)} "
                    f"| {_ratio(f.idbfs_ms, f.autosync_ms)} | {_ms(small)} "
                    f"| {'—' if vs_small is None else f'{vs_small:.1f}x'} "
                    f"| {'; '.join(targets) or '—'} |"
                )
    if results.restore:
        runs = results.restore[0].runs
        lines += [
            "",
            "## Restore, each side in a freshly started browser",
            "",
            f"Each restore ran in a newly started Chromium with only that directory restored: {runs} "
            "runs per side, sides alternating (bench/README.md). Peak memory is the renderer "
            "process's peak resident memory during the restore (VmHWM) above what it held just "
            "before with Pyodide loaded "
            f"(median baseline {results.restore[0].baseline_mib:.0f} MiB).",
            "",
            "| measurement | autosync (ms) | IDBFS mount + syncfs(true) (ms) | IDBFS / autosync "
            "| autosync peak (MiB) | IDBFS peak (MiB) | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in results.restore:
            targets = []
            if r.min_ratio is not None:
                targets.append(
                    _ratio_target(r.idbfs_ms, r.autosync_ms, r.min_ratio, "IDBFS / autosync")
                )
            if r.max_peak_mib is not None:
                targets.append(
                    _verdict(
                        f"peak ≤ {r.max_peak_mib:,.0f} MiB", r.autosync_peak_mib <= r.max_peak_mib
                    )
                )
            lines.append(
                f"| {r.what} | {_ms(r.autosync_ms)} | {_ms(r.idbfs_ms)} "
                f"| {_ratio(r.idbfs_ms, r.autosync_ms)} | +{r.autosync_peak_mib:,.0f} "
                f"| +{r.idbfs_peak_mib:,.0f} | {'; '.join(targets) or '—'} |"
            )
    if results.overhead:
        lines += [
            "",
            "## Write-path overhead: the same work in an autosync directory and in plain MEMFS",
            "",
            "The overhead is the median over pairs of neighbouring blocks of (autosync block / "
            "plain block - 1); the interquartile range of those pairs shows the noise: a difference "
            "inside it is not a difference.",
            "",
            "| measurement (per run) | with autosync (ms) | plain MEMFS (ms) | overhead "
            "| interquartile range | blocks of runs, each | flushes per block | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for o in results.overhead:
            lines.append(
                f"| {o.what} | {_ms(o.with_ms)} | {_ms(o.without_ms)} | {o.overhead_pct:+.1f}% "
                f"| {o.q1_pct:+.1f}% to {o.q3_pct:+.1f}% "
                f"| {o.blocks} of {o.runs_per_block} | {o.flushes_per_block:.1f} "
                f"| {_verdict(f'≤ {o.max_overhead_pct:g}%', o.overhead_pct <= o.max_overhead_pct)} |"
            )
    if results.crash:
        lines += [
            "",
            "## Crash window: age of the oldest unsaved change when Chromium is SIGKILLed",
            "",
            "| measurement | kills | median age (ms) | max age (ms) | nothing saved "
            "| debounce / max_wait (ms) | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for c in results.crash:
            worst = max(c.ages_ms)
            lines.append(
                f"| {c.what} | {len(c.ages_ms)} | {_ms(statistics.median(c.ages_ms))} "
                f"| {_ms(worst)} | {c.nothing_saved} | {c.debounce_ms:g} / {c.max_wait_ms:g} "
                f"| {_verdict(f'max ≤ max_wait + {c.allowance_ms / 1000:g} s', worst <= c.bound_ms)}"
                " |"
            )
    if results.seen or results.alone:
        lines += [
            "",
            "## Two tabs on one directory",
            "",
            "Two pages of one browser run autosync on the same directory (bench/README.md). Seen: "
            "from the writing tab's `await flush()` returning (committed) until the other tab's "
            "file system shows the new contents, polled every millisecond.",
            "",
            "| commits | count | seen after, median (ms) | seen after, max (ms) "
            "| writer's flush, median (ms) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for t in results.seen:
            lines.append(
                f"| {t.what} | {t.commits} | {_ms(t.median_ms)} | {_ms(t.max_ms)} "
                f"| {_ms(t.flush_ms)} |"
            )
        lines += [
            "",
            "The first tab's own numbers, alone and with a second tab open on the same directory "
            "(catching up after each of its commits):",
            "",
            "| measurement (medians) | alone (ms) | with a second tab (ms) | with / alone | samples |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for a in results.alone:
            lines.append(
                f"| {a.what} | {_ms(a.alone_ms)} | {_ms(a.with_ms)} "
                f"| {a.with_ms / a.alone_ms:.2f}x | {a.samples} |"
            )
    if results.opfs_flush or results.opfs_restore or results.durability:
        lines += [
            "",
            "## OPFS study: a prototype OPFS store against autosync's IndexedDB store, in a worker",
            "",
            "bench/opfs_store.js (a log of batches written through one synchronous access handle) "
            "and autosync, in the same dedicated worker; bench/OPFS.md says what it means.",
        ]
    if results.opfs_flush:
        lines += [
            "",
            "| measurement | autosync (ms) | autosync, os.fsync (strict) (ms) | OPFS write() (ms) "
            "| OPFS write() + flush() (ms) | autosync / OPFS write() + flush() |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for change in results.opfs_flush:
            lines.append(
                f"| {change.what} | {_ms(change.idb_ms)} | {_ms(change.idb_strict_ms)} "
                f"| {_ms(change.opfs_ms)} | {_ms(change.opfs_durable_ms)} "
                f"| {_ratio(change.idb_ms, change.opfs_durable_ms)} |"
            )
    if results.opfs_restore:
        lines += [
            "",
            "| measurement | autosync (ms) | OPFS (ms) | autosync / OPFS | autosync peak (MiB) "
            "| OPFS peak (MiB) | runs |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in results.opfs_restore:
            lines.append(
                f"| {row.what} | {_ms(row.idb_ms)} | {_ms(row.opfs_ms)} "
                f"| {_ratio(row.idb_ms, row.opfs_ms)} | +{row.idb_peak_mib:,.0f} "
                f"| +{row.opfs_peak_mib:,.0f} | {row.runs} |"
            )
    if results.durability:
        lines += [
            "",
            "| os.fsync of 100 bytes, then SIGKILL of the browser | writes | lost "
            "| killed after fsync returned, median (ms) |",
            "| --- | ---: | ---: | ---: |",
        ]
        for d in results.durability:
            lines.append(f"| {d.what} | {d.writes} | {d.lost} | {_ms(d.kill_after_ms)} |")
    if results.failures:
        lines += ["", "## Failed", ""]
        for failure in results.failures:
            lines.append(f"- {failure.group}: `{failure.error}`")
    return "\n".join(lines) + "\n"
