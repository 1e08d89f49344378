"""``./dev bench``: autosync against Emscripten's IDBFS, side by side in one headless Chromium run.

Groups (``--only``, comma-separated; all by default):

  trees     flush after changing one 1 KiB file in trees of ``--files`` files, and after renaming
            the tree's directory: autosync's ``await m.flush()`` against IDBFS ``syncfs(false)``
            and IDBFS ``{autoPersist: true}``;
  large     the same after a 1-byte append to one file of each ``--large`` size (MiB), after
            changing a 1 KiB file beside it, and after renaming it;
  restore   restore of those trees and files, each side in a freshly started browser, with the
            renderer's peak memory: ``await autosync.start().ready()`` against mounting IDBFS and
            ``syncfs(true)``;
  overhead  write-path cost: os.write() and sqlite3 workloads in an autosync directory against a
            plain MEMFS one, in the same page;
  tabs      two tabs on one directory: how soon one sees the other's commit, and the first tab's
            flush and write path with a second tab open against alone;
  opfs      the OPFS study: a prototype store on OPFS synchronous access handles against autosync's
            IndexedDB store in a dedicated worker: flush, restore, and fsync then SIGKILL;
  crash     the crash window: SIGKILL Chromium while a writer runs, restart, and see how old the
            saved state was.

The tables are printed and written to bench/RESULTS.md (unless ``--no-write``) with the machine, the
browser, Pyodide and the date. bench/README.md says how each number is taken.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from . import crash, opfs, overhead, storage, tabs
from . import restore as restore_
from .harness import Session, progress
from .report import Environment, Failure, Results, render

T = TypeVar("T")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
GROUPS = ("trees", "large", "restore", "overhead", "crash", "tabs", "opfs")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return sizes


def _groups(text: str) -> list[str]:
    groups = [g.strip() for g in text.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown or not groups:
        raise argparse.ArgumentTypeError(
            f"unknown group {', '.join(unknown) or repr(text)}; choose from {', '.join(GROUPS)}"
        )
    return groups


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Quick look: ./dev bench --only trees,large --files 1000 --large 10 --repeats 2 "
        "--no-write",
    )
    parser.add_argument(
        "--only",
        metavar="GROUPS",
        type=_groups,
        default=list(GROUPS),
        help=f"groups to run (default: all of {','.join(GROUPS)})",
    )
    parser.add_argument(
        "--files",
        metavar="N,...",
        type=_sizes,
        default=[1000, 5000, 20000, 100000],
        help="tree sizes (default 1000,5000,20000,100000; renamed up to 20,000)",
    )
    parser.add_argument(
        "--large",
        metavar="MIB,...",
        type=_sizes,
        default=[10, 50, 200],
        help="large file sizes in MiB (default 10,50,200)",
    )
    parser.add_argument(
        "--repeats",
        metavar="N",
        type=_positive,
        default=5,
        help="runs per flush cell for trees (default 5)",
    )
    parser.add_argument(
        "--large-repeats",
        metavar="N",
        type=_positive,
        default=5,
        help="runs per flush cell for large files (default 5)",
    )
    parser.add_argument(
        "--rename-repeats",
        metavar="N",
        type=_positive,
        default=3,
        help="runs per rename flush cell (default 3; IDBFS takes ~20 s per run at 20,000 files)",
    )
    parser.add_argument(
        "--restore-runs",
        metavar="N",
        type=_positive,
        default=4,
        help="restores of each side per size, each in a freshly started browser (default 4)",
    )
    parser.add_argument(
        "--overhead-blocks",
        metavar="N",
        type=_positive,
        default=12,
        help="timed blocks (each ~5 s of runs) of each overhead variant (default 12)",
    )
    parser.add_argument(
        "--kills",
        metavar="N",
        type=_positive,
        default=8,
        help="browser kills per crash writer (default 8)",
    )
    parser.add_argument(
        "--tab-commits",
        metavar="N",
        type=_positive,
        default=20,
        help="commits per two-tab series (default 20)",
    )
    parser.add_argument(
        "--tab-runs",
        metavar="N",
        type=_positive,
        default=10,
        help="small-file flushes per phase, alone / with a second tab (default 10)",
    )
    parser.add_argument(
        "--tab-blocks",
        metavar="N",
        type=_positive,
        default=3,
        help="os.write() blocks per phase, alone / with a second tab (default 3)",
    )
    parser.add_argument(
        "--opfs-files",
        metavar="N",
        type=_positive,
        default=20_000,
        help="files in the OPFS study's tree (default 20000)",
    )
    parser.add_argument(
        "--opfs-mib",
        metavar="MIB",
        type=_positive,
        default=200,
        help="the OPFS study's large file (default 200)",
    )
    parser.add_argument(
        "--fsync-kills",
        metavar="N",
        type=_positive,
        default=40,
        help="fsync-then-SIGKILL runs per side in the OPFS study (default 40)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only, leave RESULTS.md as it is"
    )
    return parser.parse_args(argv)


def _storage(
    results: Results,
    subject: storage.Subject,
    repeats: int,
    args: argparse.Namespace,
    *,
    flush: bool,
    restore: bool,
) -> None:
    # A browser profile of its own per subject: the other subjects' data does not weigh on its
    # database, and goes away with it.
    with Session() as session:
        saved = storage.prepare(session, subject, repeats, args.rename_repeats, flush=flush)
        results.flush += saved.rows
        if restore:
            results.restore.append(restore_.measure(session, saved, args.restore_runs))


def _settings(args: argparse.Namespace, groups: set[str]) -> str:
    """The options that shaped this run, for the results' header."""
    said = []
    if groups & {"trees", "restore"}:
        said.append(
            f"trees of {', '.join(f'{n:,}' for n in args.files)} files: {args.repeats} flush runs"
            f" ({args.rename_repeats} for renames)"
        )
    if groups & {"large", "restore"}:
        sizes = ", ".join(f"{n:,}" for n in args.large)
        said.append(f"files of {sizes} MiB: {args.large_repeats} flush runs")
    if "restore" in groups:
        said.append(f"restore: {args.restore_runs} runs per side")
    if "overhead" in groups:
        said.append(f"overhead: {args.overhead_blocks} blocks per variant")
    if "crash" in groups:
        said.append(f"crash: {args.kills} kills per writer")
    if "opfs" in groups:
        said.append(
            f"opfs: {args.opfs_files:,} files and {args.opfs_mib} MiB, {args.repeats} flush runs, "
            f"{args.restore_runs} restores per side, {args.fsync_kills} fsync kills per side"
        )
    if "tabs" in groups:
        said.append(
            f"tabs: {args.tab_commits} commits per series, {args.tab_runs} flushes and "
            f"{args.tab_blocks} blocks per phase"
        )
    return f"groups {','.join(g for g in GROUPS if g in groups)}; " + "; ".join(said)


def in_session(measure: Callable[..., list[T]], *args: Any) -> list[T]:
    """``measure(session, *args)`` in a browser with a profile of its own."""
    with Session() as session:
        return measure(session, *args)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    groups = set(args.only)
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    results = Results()

    loads = [os.getloadavg()[0]]

    def run(group: str, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as e:
            traceback.print_exc()
            results.failures.append(Failure(group, f"{type(e).__name__}: {e}".splitlines()[0]))
        loads.append(os.getloadavg()[0])

    subjects = []
    if groups & {"trees", "restore"}:
        subjects += [(storage.tree(n), args.repeats, "trees") for n in args.files]
    if groups & {"large", "restore"}:
        subjects += [(storage.large(mib), args.large_repeats, "large") for mib in args.large]
    for subject, repeats, group in subjects:
        run(
            subject.key,
            functools.partial(
                _storage,
                results,
                subject,
                repeats,
                args,
                flush=group in groups,
                restore="restore" in groups,
            ),
        )
    if "overhead" in groups:
        run(
            "overhead",
            lambda: results.overhead.extend(in_session(overhead.measure, args.overhead_blocks)),
        )
    if "crash" in groups:
        run("crash", lambda: results.crash.extend(in_session(crash.measure, args.kills)))
    if "tabs" in groups:

        def two_tabs() -> None:
            with Session() as session:
                seen, alone = tabs.measure(
                    session, args.tab_commits, args.tab_runs, args.tab_blocks
                )
            results.seen.extend(seen)
            results.alone.extend(alone)

        run("tabs", two_tabs)
    if "opfs" in groups:

        def opfs_study() -> None:
            with Session() as session:
                flushed, restored, durability = opfs.measure(
                    session,
                    files=args.opfs_files,
                    mib=args.opfs_mib,
                    repeats=args.repeats,
                    runs=args.restore_runs,
                    kills=args.fsync_kills,
                )
            results.opfs_flush.extend(flushed)
            results.opfs_restore.extend(restored)
            results.durability.extend(durability)

        run("opfs", opfs_study)
    if not Session.versions:
        with Session() as session:
            session.open()
    versions = Session.versions

    env = Environment(
        pyodide=versions["pyodide"],
        python=versions["python"],
        autosync=versions["autosync"],
        started=started,
        wall_s=time.monotonic() - t0,
        settings=_settings(args, groups),
        loads=tuple(loads),
    )
    text = render(env, results)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        progress(f"written to {RESULTS}")
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
