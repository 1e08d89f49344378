"""Two versions of autosync's JavaScript restoring side by side: a change to the restore, measured.

``.build/venv/bin/python -m bench.ab_restore --base f62ec99 --mib 200`` saves the same subject
three times in one page -- with the JavaScript of git revision ``--base`` (storage format and all),
with the working tree's, and with IDBFS -- and restores each, every restore in a freshly started
browser, the three taking turns, ``--runs`` times (as bench.restore does). The Python half is the
working tree's for both; only ``autosync/js`` differs. Prints medians, the ratios, and the
renderer's peak memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from collections import defaultdict
from pathlib import Path

from . import memory
from .harness import Session, progress
from .storage import NEVER_MS

ROOT = Path(__file__).resolve().parent.parent

# Makes autosync use the JavaScript `sources` ([[module, source]]) from now on.
USE = """
import autosync._pyodide as _p
_p._api = run_js(_p._LOADER)(FS, pyodide.ffi.to_js(json.loads({sources!r})))
None
"""


def _sources(revision: str | None) -> str:
    from autosync._pyodide import _JS_MODULES

    def read(name: str) -> str:
        path = f"autosync/js/{name}.js"
        if revision is None:
            return (ROOT / path).read_text()
        return subprocess.run(
            ["git", "show", f"{revision}:{path}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    return json.dumps([[name, read(name)] for name in _JS_MODULES])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_restore", description=__doc__)
    parser.add_argument(
        "--base", default="main", help="git revision of the JavaScript to compare with"
    )
    parser.add_argument("--files", type=int, default=0, help="a tree of this many 1 KiB files")
    parser.add_argument("--mib", type=int, default=0, help="one file of this many MiB")
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    make = (
        f"fill_tree('{{root}}', {args.files})"
        if args.files
        else f"write_large('{{root}}', {args.mib})"
    )
    fingerprint = "count_files('{root}')" if args.files else "fingerprint('{root}')"
    sources = {"base": _sources(args.base), "new": _sources(None)}
    roots = {"base": "/ab_base", "new": "/ab_new", "idbfs": "/ab_idbfs"}
    with Session() as session:
        page = session.open()
        progress(f"saving with {args.base}, the working tree and IDBFS")
        page.python("import json\nNone")
        for side in ("base", "new"):
            never = f"debounce_ms={NEVER_MS}, max_wait_ms={NEVER_MS}"
            page.python(
                USE.format(sources=sources[side])
                + f"m = await autosync.start('{roots[side]}', {never}).ready()\n"
                f"{make.format(root=roots[side])}\nawait m.flush()\nNone"
            )
        idbfs_root = roots["idbfs"]
        page.python(
            f"idb = idbfs('{idbfs_root}')\n{make.format(root=idbfs_root)}\n"
            "await syncfs(idb, False)\nNone"
        )
        want = {side: page.python(fingerprint.format(root=root)) for side, root in roots.items()}
        times: dict[str, list[float]] = defaultdict(list)
        peaks: dict[str, list[float]] = defaultdict(list)
        sides = list(roots)
        for run in range(-1, args.runs):
            shift = run % len(sides)
            for side in sides[shift:] + sides[:shift]:
                page = session.fresh()
                root = roots[side]
                if side == "idbfs":
                    code = f"t = time.perf_counter()\nidb = idbfs('{root}')\nawait syncfs(idb, True)\nms(t)"
                else:
                    page.python("import json\n" + USE.format(sources=sources[side]))
                    code = f"t = time.perf_counter()\nawait autosync.start('{root}').ready()\nms(t)"
                with memory.Peak(memory.renderer(session.browser.pid)) as peak:
                    took = float(page.python(code))
                got = page.python(fingerprint.format(root=root))
                if got != want[side]:
                    raise AssertionError(f"{side} restored {got!r}, saved {want[side]!r}")
                progress(f"{side}: {took:.1f} ms, +{peak.above_baseline_mib:.0f} MiB")
                if run >= 0:
                    times[side].append(took)
                    peaks[side].append(peak.above_baseline_mib)
    med = {side: statistics.median(t) for side, t in times.items()}
    what = f"{args.files:,} files" if args.files else f"one {args.mib} MiB file"
    print(f"restore of {what}, {args.runs} runs each in a fresh browser (medians):")
    for side in sides:
        print(
            f"  {side:6s} {med[side]:8.1f} ms  (min {min(times[side]):.1f}, max {max(times[side]):.1f})"
            f"  IDBFS / this {med['idbfs'] / med[side]:.2f}x  peak +{statistics.median(peaks[side]):.0f} MiB"
        )


if __name__ == "__main__":
    main()
