"""``./dev bench``: autosync against plain IDBFS ``syncfs``, side by side in one Chromium run.

Measures, for trees of N files of 1 KiB:
  * flush after changing one file: ``await autosync.flush()`` vs ``FS.syncfs(false)`` on IDBFS;
  * restore after a reload: ``await autosync.start()`` vs mounting IDBFS and ``FS.syncfs(true)``.
Each number is the median of several runs, timed inside the page with ``time.perf_counter()``.
Results are printed and written to bench/RESULTS.md with the machine and the date. Ratios are
IDBFS time / autosync time: above 1 means autosync is faster.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from demo.browser import Browser, Page
from demo.server import Server

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

SETUP = """
import os, time, autosync, pyodide_js
from pyodide.code import run_js
FS = pyodide_js.FS
_sync = run_js("(FS, populate) => new Promise((ok, bad) => FS.syncfs(populate, e => e ? bad(e) : ok()))")
async def syncfs(populate):
    await _sync(FS, populate)
def fill(root, n):
    blob = b"x" * 1024
    for i in range(n):
        d = f"{root}/d{i // 100}"
        if i % 100 == 0:
            os.makedirs(d, exist_ok=True)
        with open(f"{d}/f{i}.txt", "wb") as f:
            f.write(blob)
def touch_one(root, k):
    with open(f"{root}/d0/f0.txt", "r+b") as f:
        f.write(str(k).encode())
None
"""


def median_ms(page: Page, code: str, repeats: int) -> float:
    samples: list[float] = []
    for k in range(repeats):
        samples.append(float(page.python(code.replace("{k}", str(k)))))
    return statistics.median(samples)


def run(files: list[int], repeats: int) -> list[tuple[str, float, float]]:
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="autosync-bench-") as profile,
        Server() as server,
        Browser(profile) as browser,
    ):
        url = server.url + "?manual=1"
        for n in files:
            a, b = f"/a{n}", f"/b{n}"
            page = browser.open(url)
            page.python(SETUP)
            page.python(
                f"m = await autosync.start('{a}', debounce_ms=600000, max_wait_ms=600000)\n"
                f"fill('{a}', {n})\nawait m.flush()\n"
                f"os.makedirs('{b}')\nFS.mount(FS.filesystems.IDBFS, {{}}, '{b}')\n"
                f"fill('{b}', {n})\nawait syncfs(False)\nNone"
            )
            ours = median_ms(
                page,
                f"touch_one('{a}', {{k}})\nt = time.perf_counter()\nawait m.flush()\n"
                "(time.perf_counter() - t) * 1000",
                repeats,
            )
            theirs = median_ms(
                page,
                f"touch_one('{b}', {{k}})\nt = time.perf_counter()\nawait syncfs(False)\n"
                "(time.perf_counter() - t) * 1000",
                repeats,
            )
            rows.append((f"flush after changing 1 of {n} files (1 KiB)", theirs, ours))

            restore_ours, restore_theirs = [], []
            for _ in range(repeats):
                page = browser.reload(page)
                page.python(SETUP)
                restore_ours.append(
                    page.python(
                        f"t = time.perf_counter()\nawait autosync.start('{a}')\n"
                        "(time.perf_counter() - t) * 1000"
                    )
                )
                restore_theirs.append(
                    page.python(
                        f"os.makedirs('{b}')\nFS.mount(FS.filesystems.IDBFS, {{}}, '{b}')\n"
                        "t = time.perf_counter()\nawait syncfs(True)\n"
                        "(time.perf_counter() - t) * 1000"
                    )
                )
                count = page.python(
                    f"[sum(len(f) for _, _, f in os.walk('{a}')),"
                    f" sum(len(f) for _, _, f in os.walk('{b}'))]"
                )
                assert count == [n, n], f"restored {count}, expected {n} files each"
            rows.append(
                (
                    f"restore {n} files (1 KiB) after reload",
                    statistics.median(restore_theirs),
                    statistics.median(restore_ours),
                )
            )
    return rows


def report(rows: list[tuple[str, float, float]], repeats: int) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# autosync benchmark results",
        "",
        f"Measured {now} on {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}; headless Chromium "
        f"(`{Browser.version()}`), Pyodide 314.0.7. Median of {repeats} runs per cell, timed in "
        "the page. Ratio = IDBFS / autosync (above 1: autosync is faster).",
        "",
        "| measurement | IDBFS syncfs (ms) | autosync (ms) | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, theirs, ours in rows:
        lines.append(f"| {name} | {theirs:.1f} | {ours:.1f} | {theirs / ours:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev bench", description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="1000,5000,20000", help="tree sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only, keep RESULTS.md")
    args = parser.parse_args(argv)
    rows = run([int(n) for n in args.files.split(",")], args.repeats)
    text = report(rows, args.repeats)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
