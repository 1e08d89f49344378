"""Two tabs on one directory: how soon one tab sees what another committed, and what a second tab
costs the first.

Two pages of one browser (the same profile and origin) start autosync on the same directory
(``debounce_ms=500, max_wait_ms=2000``, the README's defaults). Tab A fills it with 1,000 files of
1 KiB and a probe file, tab B restores it.

* Seen: the writing tab rewrites the probe file with a new number and flushes (``await m.flush()``
  returns once IndexedDB committed). The other tab polls its own file system for that number every
  millisecond (``scheduler.postTask`` with a delay of 1 ms, which the browser does not clamp the way
  it clamps nested timers) and notes when it shows up. The time from the writer's flush returning
  until the other tab shows the new contents is taken on both pages' clock,
  ``performance.timeOrigin + performance.now()``: the same system clock, in fractions of a ms. Two
  series: the same tab writes every time (it keeps the directory's Web Lock), and the tabs take
  turns (every flush first takes the lock from the other tab, which saves what it has pending and
  lets go).
* Alone or not: in tab A, the flush after changing 1 of the 1,000 files, and blocks of 200,000
  ``os.write()`` of 100 bytes (as in bench.overhead, so the max-wait flushes run inside the block),
  first with A alone, then with B open on the same directory (catching up after each of A's
  commits), then alone again after B was closed. Alone is the median of both alone phases.

    rows = measure(session, commits=20, runs=10, blocks=3)
"""

from __future__ import annotations

import math

from demo.browser import Page

from .harness import Session, median, progress
from .overhead import BLOCK_MAX_WAITS, WORKLOADS
from .report import AloneRow, SeenRow

DEBOUNCE_MS = 500
MAX_WAIT_MS = 2000
ROOT = "/shared"
FILES = 1000

START = f"""
m = await autosync.start('{ROOT}', debounce_ms={DEBOUNCE_MS}, max_wait_ms={MAX_WAIT_MS}).ready()
ov = m
None
"""

# Notes when the probe file first shows each contents, polling every millisecond. It looks at the
# node's bytes directly: no stream is opened, so autosync's hooks see nothing.
WATCH = """
_watch = run_js('''(FS, path) => {
  const seen = new Map();
  const decoder = new TextDecoder();
  let last = null;
  let stopped = false;
  const poll = () => {
    if (stopped) return;
    let text = null;
    try {
      const node = FS.lookupPath(path).node;
      text = decoder.decode(node.contents.subarray(0, node.usedBytes));
    } catch {
      // not there (yet)
    }
    if (text !== null && text !== last) {
      last = text;
      if (!seen.has(text)) seen.set(text, performance.timeOrigin + performance.now());
    }
    scheduler.postTask(poll, { delay: 1 });
  };
  poll();
  return { at: (text) => (seen.has(text) ? seen.get(text) : -1), stop: () => { stopped = true; } };
}''')(FS, 'PROBE')
clock = run_js("() => performance.timeOrigin + performance.now()")
None
"""

WRITE = """
with open('{probe}', 'w') as f:
    f.write('{k}')
t = time.perf_counter()
await m.flush()
[ms(t), clock()]
"""


def _seen(
    pages: dict[str, Page], writers: list[str], commits: int, tag: str
) -> tuple[list[float], list[float]]:
    """Latency (writer's flush returned -> other tab shows it) and the writer's flush, per commit."""
    latencies: list[float] = []
    flushes: list[float] = []
    # Commit -1 is a warm-up (the first flush may wait for the lock): not counted.
    for k in range(-1, commits):
        writer = writers[(k + 1) % len(writers)]
        watcher = next(name for name in pages if name != writer)
        text = f"{tag}{k}"
        flush_ms, committed_at = pages[writer].python(WRITE.format(probe=f"{ROOT}/probe", k=text))
        seen_at = -1.0
        for _ in range(2000):
            seen_at = float(pages[watcher].python(f"_watch.at('{text}')"))
            if seen_at >= 0:
                break
            pages[watcher].python("await asyncio.sleep(0.005)")
        if seen_at < 0:
            raise AssertionError(f"the other tab never showed the commit {text!r}")
        if k >= 0:
            latencies.append(seen_at - float(committed_at))
            flushes.append(float(flush_ms))
    return latencies, flushes


def _small_flushes(page: Page, runs: int) -> list[float]:
    times = []
    for k in range(-1, runs):
        took = page.python(
            f"t = time.perf_counter()\nrewrite_start(tree_file('{ROOT}'), {k})\nawait m.flush()\nms(t)"
        )
        if k >= 0:
            times.append(float(took))
    return times


def _blocks(page: Page, runs: int, blocks: int) -> list[float]:
    return [
        float(page.python(f"await block(many_writes, '{ROOT}', {runs})")[0]) for _ in range(blocks)
    ]


def measure(
    session: Session, commits: int, runs: int, blocks: int
) -> tuple[list[SeenRow], list[AloneRow]]:
    a = session.open()
    progress(f"tabs: filling {ROOT} in tab A")
    a.python(START + f"fill_tree('{ROOT}', {FILES})\nawait m.flush()\n{WORKLOADS}")
    a.python(f"await block(many_writes, '{ROOT}', 2)")
    one_run_ms = float(a.python(f"await block(many_writes, '{ROOT}', 2)")[0])
    block_runs = max(1, math.ceil(BLOCK_MAX_WAITS * MAX_WAIT_MS / one_run_ms))

    progress(f"tabs: tab A alone, {runs} flushes and {blocks} blocks of {block_runs} runs")
    alone_flush = _small_flushes(a, runs)
    alone_blocks = _blocks(a, block_runs, blocks)

    progress("tabs: opening tab B on the same directory")
    b = session.new_tab(a)
    b.python(START + "None")
    pages = {"A": a, "B": b}
    for page in pages.values():
        page.python(WATCH.replace("PROBE", f"{ROOT}/probe"))
    progress(f"tabs: {commits} commits by tab A, seen in tab B")
    same_seen, same_flush = _seen(pages, ["A"], commits, "same")
    progress(f"tabs: {commits} commits by tabs taking turns")
    turns_seen, turns_flush = _seen(pages, ["A", "B"], commits, "turns")
    for page in pages.values():
        page.python("_watch.stop()\nNone")

    progress(f"tabs: tab A with tab B open, {runs} flushes and {blocks} blocks")
    with_flush = _small_flushes(a, runs)
    with_blocks = _blocks(a, block_runs, blocks)
    b.raw.close()
    progress(f"tabs: tab A alone again, {runs} flushes and {blocks} blocks")
    alone_flush += _small_flushes(a, runs)
    alone_blocks += _blocks(a, block_runs, blocks)

    seen_rows = [
        SeenRow(what, len(seen), median(seen), max(seen), median(flushes))
        for what, seen, flushes in (
            (
                "the same tab commits every time (it keeps the directory's lock)",
                same_seen,
                same_flush,
            ),
            (
                "the tabs take turns (each flush first takes the lock from the other tab)",
                turns_seen,
                turns_flush,
            ),
        )
    ]
    alone_rows = [
        AloneRow(
            f"flush after changing 1 of {FILES:,} files (1 KiB each)",
            alone_ms=median(alone_flush),
            with_ms=median(with_flush),
            samples=f"{runs} + {runs} alone, {runs} with",
        ),
        AloneRow(
            "200,000 os.write() of 100 bytes to one open file (per run, in blocks as in the overhead)",
            alone_ms=median(alone_blocks),
            with_ms=median(with_blocks),
            samples=f"{blocks} + {blocks} blocks alone, {blocks} with, {block_runs} runs each",
        ),
    ]
    return seen_rows, alone_rows
