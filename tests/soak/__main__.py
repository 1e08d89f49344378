"""``./dev soak``: random steps and kills in real Chromium, seed after seed, until the time is up.

    ./dev soak --minutes 10              # random seeds for 10 minutes, one tab
    ./dev soak --minutes 10 --tabs 2     # two tabs of one profile on the same directory
    ./dev soak --seed 1234 [--tabs 2]    # replay one seed (--trace prints every step)

Prints each seed's counts, the totals (operations, flushes, kills), and for a failure the seed and
step that replay it; exits 1 if any seed failed. With --keep-going, a failing seed does not end the
soak (to look past a failure that is already known).
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import tempfile
import time
from pathlib import Path

from demo.browser import Browser
from demo.server import Server
from tests.soak.runner import ChromiumEnv, Counts, SoakFailure, run_one_tab, run_two_tabs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=0, help="keep going until then")
    parser.add_argument("--seed", type=int, help="the first seed (alone: replay only it)")
    parser.add_argument("--tabs", type=int, choices=(1, 2), default=1)
    parser.add_argument("--steps", type=int, default=300, help="steps per seed (default 300)")
    parser.add_argument("--trace", action="store_true", help="print every step as it runs")
    parser.add_argument("--keep-going", action="store_true", help="go on after a failing seed")
    parser.add_argument(
        "--kinds-apart",
        action="store_true",
        help="two tabs: never a file and a directory (or symlink) of one path (looks past such bugs)",
    )
    args = parser.parse_args(argv)
    if args.seed is None and not args.minutes:
        parser.error("give --minutes, --seed, or both")
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    run = (
        functools.partial(run_two_tabs, kinds_apart=args.kinds_apart)
        if args.tabs == 2
        else run_one_tab
    )
    deadline = time.monotonic() + args.minutes * 60
    total = Counts()
    seeds = 0
    failures: list[SoakFailure] = []
    t0 = time.monotonic()
    with Server() as server:
        while not failures or args.keep_going:
            with (
                tempfile.TemporaryDirectory(prefix="autosync-soak-") as tmp,
                Browser(Path(tmp) / "profile") as browser,
            ):
                try:
                    total.add(
                        run(
                            ChromiumEnv(browser, server.url),
                            seed,
                            args.steps,
                            log=lambda line: print(line, flush=True),
                            trace=(lambda line: print("  ", line)) if args.trace else None,
                        )
                    )
                except SoakFailure as failure:
                    print(f"\nFAILED: {failure}\n", flush=True)
                    failures.append(failure)
                    total.add(failure.counts)
            seeds += 1
            seed += 1
            if args.minutes == 0 or time.monotonic() >= deadline:
                break
    minutes = (time.monotonic() - t0) / 60
    tabs = f"{args.tabs} tab{'s' * (args.tabs > 1)}"
    print(
        f"\nsoak: {seeds} seeds ({tabs}) in {minutes:.1f} min, {len(failures)} failed: "
        f"{total.operations} operations, {total.flushes} flushes, {total.kills} kills"
        + (
            f" ({total.before} before / {total.after} after an interrupted flush)"
            if args.tabs == 1
            else f" ({total.skipped} steps skipped: the other tab had changed the tree)"
        )
    )
    for failed in failures:
        print(f"  failed: seed {failed.seed}, step {failed.index}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
