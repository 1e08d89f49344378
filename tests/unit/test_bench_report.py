"""The bench's verdicts (bench/report.py): a target row says "met" only when its numbers meet it."""

import datetime

from bench.report import Environment, FlushRow, OverheadRow, RestoreRow, Results, render


def rendered(results: Results) -> str:
    env = Environment(
        pyodide="0",
        python="3",
        autosync="0",
        started=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        wall_s=1.0,
        settings="test",
    )
    return render(env, results)


def row_of(text: str, what: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {what} |"))


def restore(autosync_ms: float, peak_mib: float) -> RestoreRow:
    return RestoreRow(
        "restore one 200 MiB file",
        autosync_ms=autosync_ms,
        idbfs_ms=400.0,
        autosync_peak_mib=peak_mib,
        idbfs_peak_mib=650.0,
        baseline_mib=240.0,
        runs=4,
        min_ratio=1.5,
        max_peak_mib=228.0,
    )


def test_restore_meets_its_target_only_when_fast_enough_and_within_the_memory_bound():
    assert "≥ 1.5x: met; peak ≤ 228 MiB: met" in row_of(
        rendered(Results(restore=[restore(200.0, 203.0)])), "restore one 200 MiB file"
    )
    slow = row_of(rendered(Results(restore=[restore(300.0, 203.0)])), "restore one 200 MiB file")
    assert "≥ 1.5x: **not met**" in slow
    big = row_of(rendered(Results(restore=[restore(200.0, 300.0)])), "restore one 200 MiB file")
    assert "peak ≤ 228 MiB: **not met**" in big


def rename(autosync_ms: float, small_ms: float) -> FlushRow:
    return FlushRow(
        "flush after renaming a 200 MiB file",
        autosync_ms=autosync_ms,
        idbfs_ms=2000.0,
        persist_ms=None,
        min_ratio=100.0,
        rename=True,
        small_file_ms=small_ms,
        max_vs_small=3.0,
    )


def test_rename_is_held_to_its_own_small_file_flush_as_well_as_to_idbfs():
    fine = row_of(
        rendered(Results(flush=[rename(3.0, 2.0)])), "flush after renaming a 200 MiB file"
    )
    assert "≥ 100x: met; ≤ 3x the small-file flush: met" in fine
    slow = row_of(
        rendered(Results(flush=[rename(9.0, 2.0)])), "flush after renaming a 200 MiB file"
    )
    assert "≥ 100x: met; ≤ 3x the small-file flush: **not met**" in slow


def test_overhead_row_shows_the_interquartile_range_of_its_pairs():
    row = OverheadRow(
        "10,000 sqlite3 inserts",
        with_ms=42.0,
        without_ms=41.0,
        overhead_pct=2.4,
        q1_pct=-1.5,
        q3_pct=4.0,
        blocks=12,
        runs_per_block=100,
        flushes_per_block=2.0,
        max_overhead_pct=3.0,
    )
    text = row_of(rendered(Results(overhead=[row])), "10,000 sqlite3 inserts")
    assert "| +2.4% | -1.5% to +4.0% |" in text
    assert "≤ 3%: met" in text
