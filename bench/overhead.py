"""What autosync costs a program that writes: the same workload in an autosync directory and in a
plain MEMFS directory of the same page.

autosync runs with the README's defaults (``debounce_ms=500, max_wait_ms=2000``). A single run of a
workload is shorter than ``max_wait_ms``, so alone it would never meet a flush: its changes would
be saved after it ended. To count the flushes a program that keeps writing pays for, the timed unit
is a block of runs done back to back, about ``BLOCK_MAX_WAITS`` times ``max_wait_ms`` long (the run
count per block is set from untimed warm-up runs in plain MEMFS), yielding to the event loop
between batches: in the autosync directory the changes never stop, the max-wait flushes fall due
inside the block and run there, on the timers or from the write path. The changes left at the
end of an autosync block are flushed, untimed, so that no flush spills into the next block. The
variants alternate block by block (ABBA); the overhead is the median, over the pairs of blocks run
next to each other, of (autosync block / plain block - 1), per-run times being block time / runs.

    rows = measure(session, blocks=6)
"""

from __future__ import annotations

import math
import statistics

from .harness import Session, median, progress
from .report import OverheadRow

DEBOUNCE_MS = 500
MAX_WAIT_MS = 2000
BLOCK_MAX_WAITS = 2.5
WARM_UP_RUNS = 3
MAX_OVERHEAD_PCT = 3.0

OURS = "/overhead_autosync"
PLAIN = "/overhead_memfs"

# In-page workloads, one run each; block() times runs back to back.
WORKLOADS = r"""
import sqlite3
RECORD = b"r" * 100
ROW = "s" * 80

async def many_writes(root, calls=200_000, batch=1_000):
    fd = os.open(f"{root}/writes.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    for _ in range(calls // batch):
        for _ in range(batch):
            os.write(fd, RECORD)
        await asyncio.sleep(0)
    os.close(fd)

async def sqlite_inserts(root, rows=10_000, per_commit=100):
    path = f"{root}/inserts.db"
    for p in (path, path + "-journal"):
        if os.path.exists(p):
            os.unlink(p)
    db = sqlite3.connect(path)
    db.execute("create table t (i integer primary key, s text)")
    db.commit()
    for _ in range(rows // per_commit):
        for _ in range(per_commit):
            db.execute("insert into t (s) values (?)", (ROW,))
        db.commit()
        await asyncio.sleep(0)
    db.close()

async def block(workload, root, runs):
    before = ov.status().flush_count
    t = time.perf_counter()
    for _ in range(runs):
        await workload(root)
    took = ms(t)
    flushes = ov.status().flush_count - before
    if root == ov.path:
        await ov.flush()
    return [took / runs, flushes]
None
"""

CASES = [
    ("many_writes", "200,000 os.write() of 100 bytes to one open file"),
    ("sqlite_inserts", "10,000 sqlite3 inserts, a commit every 100"),
]


def measure(session: Session, blocks: int) -> list[OverheadRow]:
    page = session.open()
    page.python(
        f"ov = await autosync.start('{OURS}', debounce_ms={DEBOUNCE_MS}, "
        f"max_wait_ms={MAX_WAIT_MS}).ready()\nos.makedirs('{PLAIN}')\n{WORKLOADS}"
    )
    rows = []
    for workload, label in CASES:
        # Warm-up, not counted: a few runs of each, the plain ones sizing the blocks.
        page.python(f"await block({workload}, '{OURS}', {WARM_UP_RUNS})")
        one_run_ms, _ = page.python(f"await block({workload}, '{PLAIN}', {WARM_UP_RUNS})")
        runs = max(1, math.ceil(BLOCK_MAX_WAITS * MAX_WAIT_MS / float(one_run_ms)))
        progress(f"overhead: {workload}, {blocks} blocks of {runs} runs for each variant")
        per_run: dict[str, list[float]] = {OURS: [], PLAIN: []}
        flushes: dict[str, list[int]] = {OURS: [], PLAIN: []}
        for b in range(blocks):
            # ABBA: neither variant always runs first, or always right after the other.
            for root in (OURS, PLAIN) if b % 2 == 0 else (PLAIN, OURS):
                took, count = page.python(f"await block({workload}, '{root}', {runs})")
                per_run[root].append(float(took))
                flushes[root].append(int(count))
        if any(flushes[PLAIN]):
            progress(f"overhead: warning: autosync flushed during plain blocks: {flushes[PLAIN]}")
        pairs = [
            ours / plain - 1 for ours, plain in zip(per_run[OURS], per_run[PLAIN], strict=True)
        ]
        quartiles = (
            statistics.quantiles(pairs, n=4, method="inclusive")
            if len(pairs) > 1
            else [pairs[0]] * 3
        )
        rows.append(
            OverheadRow(
                label,
                with_ms=median(per_run[OURS]),
                without_ms=median(per_run[PLAIN]),
                overhead_pct=median(pairs) * 100,
                q1_pct=quartiles[0] * 100,
                q3_pct=quartiles[2] * 100,
                blocks=blocks,
                runs_per_block=runs,
                flushes_per_block=sum(flushes[OURS]) / blocks,
                max_overhead_pct=MAX_OVERHEAD_PCT,
            )
        )
    return rows
