"""Ways to read autosync's stored data back, measured one by one in freshly started browsers.

``.build/venv/bin/python -m bench.read_paths`` saves a tree of ``--files`` 1 KiB files and one
``--mib`` MiB file with autosync (storage format 3: node records, the large file as 256 KiB Blob
chunks), and the same large file with IDBFS (one value). Then each way of reading runs in a newly
started Chromium on a plain page of the same origin (no Pyodide: only the reads are timed, in the
page, from ``indexedDB.open`` to the last byte in memory), the ways taking turns, ``--runs`` times,
with the renderer's peak memory above its baseline (bench.memory). Results: bench/RESTORE_PATHS.md
(written by hand from a run; this script prints the table).

Node records (the ``nodes`` store):

  batches     what restore.js does: one readonly transaction per 2,000 records, getAllKeys + getAll
  count       describe()'s ``count()`` of the store alone
  one-pass    getAllKeys() + getAll() of the whole store in one transaction
  records     ``getAllRecords()`` (keys and values in one request; Chromium only), 2,000 per
              transaction
  records-all ``getAllRecords()`` of the whole store in one request

The large file (the ``chunks`` store; IDBFS for comparison):

  blob-one    what store.readFiles does: getAllKeys + getAll of the chunk handles, 64 per request
              and 4 requests in flight, then ``new Blob(handles).arrayBuffer()``
  blob-par4   the handles, then 4 groups read with ``arrayBuffer()`` at once and copied into place
  blob-byob   the handles, then ``new Blob(handles).stream()`` read with a BYOB reader straight
              into the file's buffer (no second copy)
  idbfs       IDBFS's value for the same file: one ``get`` (the bytes come back as one Uint8Array)
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from playwright.sync_api import Page as PwPage

from . import memory
from .harness import Session, progress
from .storage import NEVER_MS

TREE, LARGE, IDBFS = "/rp_tree", "/rp_large", "/rp_idbfs"

# window.readPath(way, database, argument) -> [ms, ms to open, check], and the writers of the
# layouts and records experiments: bench/read_paths.js.
# (Its leading comment lines go: Playwright calls a string only if it starts as a function.)
JS = "".join(
    line
    for line in (Path(__file__).resolve().parent / "read_paths.js").read_text().splitlines(True)
    if not line.startswith("//")
)

TREE_WAYS = [
    "batches",
    "count",
    "batches+count",
    "count,batches",
    "batches-1tx",
    "records-1tx",
    "records-1tx+count",
    "one-pass",
    "records",
    "records-all",
]
LARGE_WAYS = ["blob-one", "blob-par4", "blob-byob", "idbfs"]


def _plain_page(session: Session) -> PwPage:
    session.browser.close()
    session.browser.start()
    assert session.browser._browser is not None
    context = session.browser._browser.contexts[0]
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(session.server.url + "demo.css")
    page.evaluate(JS)
    return page


def layouts(mib: int, runs: int) -> None:
    """One file of ``mib`` MiB stored as 1 .. 800 Blob parts, and as one Uint8Array value."""
    counts = [1, 4, 16, 64, 200, 800]
    with Session() as session:
        raw = _plain_page(session)
        raw.evaluate("([m, c]) => window.writeLayouts(m, c)", [mib, counts])
        ways = [("parts", n) for n in counts] + [
            ("slices", 4),
            ("groups", 2),
            ("groups", 4),
            ("groups", 16),
            ("value", 0),
        ]
        times: dict[str, list[float]] = defaultdict(list)
        peaks: dict[str, list[float]] = defaultdict(list)
        for run in range(-1, runs):
            shift = run % len(ways)
            for way, n in ways[shift:] + ways[:shift]:
                raw = _plain_page(session)
                with memory.Peak(memory.renderer(session.browser.pid)) as peak:
                    took, _, check = raw.evaluate(
                        "([w, k]) => window.readPath(w, 'rp_layouts', k)", [way, n]
                    )
                name = f"{way} {n}" if n else way
                progress(f"{name}: {took:.1f} ms {check}")
                if run >= 0:
                    times[name].append(took)
                    peaks[name].append(peak.above_baseline_mib)
        print(f"| {mib} MiB stored as | median (ms) | min .. max | peak above baseline (MiB) |")
        print("| --- | ---: | ---: | ---: |")
        for name, t in times.items():
            print(
                f"| {name} | {statistics.median(t):.1f} | {min(t):.1f} .. {max(t):.1f} "
                f"| +{statistics.median(peaks[name]):.0f} |"
            )


def records(files: int, runs: int) -> None:
    """``files`` node-like records with 1 KiB inline, and bare records beside one pack Blob."""
    with Session() as session:
        raw = _plain_page(session)
        raw.evaluate("n => window.writeRecords(n)", files)
        ways = ["inline", "bare", "bare+pack"]
        times: dict[str, list[float]] = defaultdict(list)
        for run in range(-1, runs):
            shift = run % len(ways)
            for way in ways[shift:] + ways[:shift]:
                raw = _plain_page(session)
                took, _, check = raw.evaluate("w => window.readPath(w, 'rp_records', '')", way)
                progress(f"{way}: {took:.1f} ms {check}")
                if run >= 0:
                    times[way].append(took)
        print(f"| {files:,} records | median (ms) | min .. max |")
        print("| --- | ---: | ---: |")
        for way, t in times.items():
            print(f"| {way} | {statistics.median(t):.1f} | {min(t):.1f} .. {max(t):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.read_paths", description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--only", choices=["tree", "large", "layouts", "records"], default=None)
    args = parser.parse_args()
    if args.only == "layouts":
        layouts(args.mib, args.runs)
        return
    if args.only == "records":
        records(args.files, args.runs)
        return
    with Session() as session:
        page = session.open()
        progress(f"saving {args.files:,} files and a {args.mib} MiB file")
        page.python(
            f"mt = await autosync.start('{TREE}', debounce_ms={NEVER_MS}, max_wait_ms={NEVER_MS}).ready()\n"
            f"fill_tree('{TREE}', {args.files})\nawait mt.flush()\n"
            f"ml = await autosync.start('{LARGE}', debounce_ms={NEVER_MS}, max_wait_ms={NEVER_MS}).ready()\n"
            f"write_large('{LARGE}', {args.mib})\nawait ml.flush()\n"
            f"idb = idbfs('{IDBFS}')\nwrite_large('{IDBFS}', {args.mib})\nawait syncfs(idb, False)\nNone"
        )
        ways = []
        if args.only in (None, "tree"):
            ways += [(w, f"autosync:{TREE}", "") for w in TREE_WAYS]
        if args.only in (None, "large"):
            ways += [(w, f"autosync:{LARGE}", "") for w in LARGE_WAYS if w != "idbfs"]
            ways.append(("idbfs", IDBFS, f"{IDBFS}/big.bin"))
        times: dict[str, list[float]] = defaultdict(list)
        opens: dict[str, list[float]] = defaultdict(list)
        peaks: dict[str, list[float]] = defaultdict(list)
        checks: dict[str, object] = {}
        for run in range(-1, args.runs):
            shift = run % len(ways)
            for way, db, key in ways[shift:] + ways[:shift]:
                raw = _plain_page(session)
                with memory.Peak(memory.renderer(session.browser.pid)) as peak:
                    took, opened, check = raw.evaluate(
                        "([w, n, k]) => window.readPath(w, n, k)", [way, db, key]
                    )
                if run >= 0:
                    times[way].append(took)
                    opens[way].append(opened)
                    peaks[way].append(peak.above_baseline_mib)
                checks[way] = check
                progress(
                    f"{way}: {took:.1f} ms (open {opened:.1f}), +{peak.above_baseline_mib:.0f} MiB"
                )
        print(
            "| way | median (ms) | of which open (ms) | min .. max (ms) | peak above baseline (MiB) | check |"
        )
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for way, _, _ in ways:
            t = times[way]
            print(
                f"| {way} | {statistics.median(t):.1f} | {statistics.median(opens[way]):.1f} "
                f"| {min(t):.1f} .. {max(t):.1f} | +{statistics.median(peaks[way]):.0f} | {checks[way]} |"
            )


if __name__ == "__main__":
    main()
