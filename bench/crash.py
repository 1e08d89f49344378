"""The crash window: how old the oldest unsaved change is when the whole browser is killed.

A writer in the page rewrites one fixed-size record ``"<i> <time.time()>"`` in place with one
``os.pwrite`` on a file it keeps open, so every snapshot autosync takes holds a whole record. Record
0 is written and flushed before the run starts. At a random moment the host SIGKILLs every Chromium
process (``Browser.kill()``), restarts Chromium on the same profile, starts autosync on the same
directory and reads the record back. The age of the oldest unsaved change at the kill is taken as
``kill wall time - saved time.time()``: the first write after the saved one is the oldest unsaved
change, so this over-counts by at most one write interval. When the saved record is still record 0,
nothing of the run was saved and the age is the time since the run started.

Two writers:

* steady: an asyncio task writing every 50 ms, the event loop free in between;
* busy: one cell that writes every 10 ms for 10 s in a plain ``while`` loop (busy-waiting in
  between), never yielding to the event loop. It is started from a ``setTimeout`` in the page so
  that the host is not blocked while it runs.

    rows = measure(session, kills=5)
"""

from __future__ import annotations

import random
import time

from demo.browser import Page

from .harness import Session, progress
from .report import CrashRow

DEBOUNCE_MS = 500
MAX_WAIT_MS = 2000
# Room for one flush to commit after it falls due, on a loaded 2-core machine (as the e2e tests).
ALLOWANCE_MS = 1500
STEADY_INTERVAL_S = 0.05
BUSY_INTERVAL_S = 0.01
BUSY_RUN_S = 10.0
# When to kill, in seconds after the run started: late enough that several max_wait periods passed,
# and for the busy cell, before it ends.
STEADY_KILL_S = (3.0, 8.0)
BUSY_KILL_S = (3.0, 9.0)

PREPARE = """
cw = await autosync.start('{path}', debounce_ms={debounce}, max_wait_ms={max_wait}).ready()
stamp = os.open('{path}/stamp', os.O_RDWR | os.O_CREAT)
def record(i, now):
    os.pwrite(stamp, f"{{i:12d}} {{now:20.6f}}\\n".encode(), 0)
"""

# Record 0, saved before the run: what a kill leaves when nothing of the run was saved.
BASELINE = """
record(0, time.time())
await cw.flush()
None
"""

STEADY = """
async def steady_writer():
    i = 0
    while True:
        i += 1
        record(i, time.time())
        await asyncio.sleep({interval})
steady = asyncio.ensure_future(steady_writer())
None
"""

# Run from a timer by the page: no top-level await, never yields until the end.
BUSY = """
end = time.time() + {run_s}
i = 0
next_at = 0.0
while (now := time.time()) < end:
    if now >= next_at:
        i += 1
        record(i, now)
        next_at = now + {interval}
"""

READ_BACK = """
await autosync.start('{path}', debounce_ms={debounce}, max_wait_ms={max_wait}).ready()
i, at = open('{path}/stamp').read().split()
[int(i), float(at)]
"""


def _start_without_waiting(page: Page, code: str) -> None:
    """Run ``code`` in the page from a timer and return at once; the page is busy while it runs."""
    page.raw.evaluate("code => { setTimeout(() => window.runPy(code), 0); }", code)


def measure(session: Session, kills: int) -> list[CrashRow]:
    settings = {"debounce": DEBOUNCE_MS, "max_wait": MAX_WAIT_MS}
    rows = []
    rng = random.Random()
    page = session.open()
    for name, label in (
        ("steady", f"steady writer: asyncio task writing every {STEADY_INTERVAL_S * 1000:g} ms"),
        (
            "busy",
            f"one cell writing every {BUSY_INTERVAL_S * 1000:g} ms for {BUSY_RUN_S:g} s "
            "without yielding",
        ),
    ):
        progress(f"crash: {name} writer, {kills} kills")
        ages = []
        nothing_saved = 0
        for n in range(kills):
            path = f"/crash_{name}_{n}"
            page.python(PREPARE.format(path=path, **settings) + "None")
            if name == "busy":
                # A short run first: a cell that fails at once would look like one never saved.
                page.python(BUSY.format(run_s=0.05, interval=BUSY_INTERVAL_S) + "None")
            page.python(BASELINE)
            if name == "steady":
                page.python(STEADY.format(interval=STEADY_INTERVAL_S))
                delay = rng.uniform(*STEADY_KILL_S)
            else:
                _start_without_waiting(
                    page, BUSY.format(run_s=BUSY_RUN_S, interval=BUSY_INTERVAL_S)
                )
                delay = rng.uniform(*BUSY_KILL_S)
            time.sleep(delay)
            killed_at = time.time()
            session.browser.kill()
            page = session.restart()
            i, saved_at = page.python(READ_BACK.format(path=path, **settings))
            ages.append((killed_at - saved_at) * 1000)
            nothing_saved += i == 0
            progress(
                f"crash: {name} killed {delay:.1f} s in, saved record {i}, {ages[-1]:.0f} ms old"
            )
        rows.append(
            CrashRow(
                label,
                ages_ms=ages,
                nothing_saved=nothing_saved,
                debounce_ms=DEBOUNCE_MS,
                max_wait_ms=MAX_WAIT_MS,
                allowance_ms=ALLOWANCE_MS,
            )
        )
    return rows
