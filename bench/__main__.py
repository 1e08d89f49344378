"""``./dev bench``: autosync against Emscripten's IDBFS, side by side in one headless Chromium run.

Groups (``--only``, comma-separated; all by default):

  trees     flush after changing one 1 KiB file in trees of ``--files`` files: autosync's
            ``await m.flush()`` against IDBFS ``syncfs(false)`` and IDBFS ``{autoPersist: true}``;
  large     the same after a 1-byte append to one file of each ``--large`` size (MiB);
  restore   restore after a reload of those trees and files: ``await autosync.start().ready()`` against
            mounting IDBFS and ``syncfs(true)``;
  overhead  write-path cost: os.write() and sqlite3 workloads in an autosync directory against a
            plain MEMFS one, in the same page;
  crash     the crash window: SIGKILL Chromium while a writer runs, restart, and see how old the
            saved state was.

The tables are printed and written to bench/RESULTS.md (unless ``--no-write``) with the machine, the
browser, Pyodide and the date. bench/README.md says how each number is taken.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from . import crash, overhead, storage
from .harness import Session, progress
from .report import Environment, Failure, Results, render

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
GROUPS = ("trees", "large", "restore", "overhead", "crash")


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
        default=[1000, 5000, 20000],
        help="tree sizes (default 1000,5000,20000)",
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
        help="runs per flush/restore cell for trees (default 5)",
    )
    parser.add_argument(
        "--large-repeats",
        metavar="N",
        type=_positive,
        default=5,
        help="runs per flush/restore cell for large files (default 5)",
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
        "--no-write", action="store_true", help="print only, leave RESULTS.md as it is"
    )
    return parser.parse_args(argv)


def _storage(
    session: Session,
    results: Results,
    subject: storage.Subject,
    repeats: int,
    *,
    flush: bool,
    restore: bool,
) -> None:
    flushed, restored = storage.measure(session, subject, repeats, flush=flush, restore=restore)
    results.flush += flushed
    results.restore += restored


def _settings(args: argparse.Namespace, groups: set[str]) -> str:
    """The options that shaped this run, for the results' header."""
    said = []
    if groups & {"trees", "restore"}:
        said.append(
            f"trees of {', '.join(f'{n:,}' for n in args.files)} files: {args.repeats} runs"
        )
    if groups & {"large", "restore"}:
        sizes = ", ".join(f"{n:,}" for n in args.large)
        said.append(f"files of {sizes} MiB: {args.large_repeats} runs")
    if "overhead" in groups:
        said.append(f"overhead: {args.overhead_blocks} blocks per variant")
    if "crash" in groups:
        said.append(f"crash: {args.kills} kills per writer")
    return f"groups {','.join(g for g in GROUPS if g in groups)}; " + "; ".join(said)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    groups = set(args.only)
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    results = Results()

    def run(group: str, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as e:
            traceback.print_exc()
            results.failures.append(Failure(group, f"{type(e).__name__}: {e}".splitlines()[0]))

    with Session() as session:
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
                    session,
                    results,
                    subject,
                    repeats,
                    flush=group in groups,
                    restore="restore" in groups,
                ),
            )
        if "overhead" in groups:
            run(
                "overhead",
                lambda: results.overhead.extend(overhead.measure(session, args.overhead_blocks)),
            )
        if "crash" in groups:
            run("crash", lambda: results.crash.extend(crash.measure(session, args.kills)))
        if not session.versions:
            session.open()
        versions = session.versions

    env = Environment(
        pyodide=versions["pyodide"],
        python=versions["python"],
        autosync=versions["autosync"],
        started=started,
        wall_s=time.monotonic() - t0,
        settings=_settings(args, groups),
    )
    text = render(env, results)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        progress(f"written to {RESULTS}")
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
