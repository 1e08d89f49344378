"""Chunk size for autosync's chunked storage of large files, decided by measurement.

``.build/venv/bin/python -m bench.chunk_size`` (after ``./dev setup``) runs real headless Chromium
with a persistent, disk-backed profile, on a page served by ``demo.server.Server`` (plain JS, no
Pyodide), and for each chunk size measures the storage design being implemented: a file is stored
as chunks in an object store ``chunks`` with keys ``[path, index]`` -> ``Uint8Array`` (each chunk a
``.slice()`` of the file's contents), one readwrite transaction per flush (puts, then
``tx.commit()``), and a restore reads the chunks back in key order in batches:

  (a) small change: rewrite ONE chunk of a 200 MiB file (slice + put + the file's entry), from
      ``db.transaction()`` to ``oncomplete``: what a 1-byte append or a 4 KiB page write costs;
  (d) 50 random 4 KiB page writes spread over the file, every dirty chunk saved in one transaction;
  (b) full write of the 200 MiB file as chunks in one transaction, to ``oncomplete``; also how long
      the page's main thread is blocked queueing the puts, and the peak extra RSS of Chromium;
  (c) restore of that file into one ``Uint8Array``, batches of ~16 MiB of chunks per ``getAll``:
      sequential batches in one readonly transaction, all batches issued at once in one
      transaction, and a cursor (``--modes txper`` adds one transaction per batch).

Sizes are 16 KiB to 4 MiB plus 32 KiB: Chromium stores a value whose serialization exceeds 64 KiB
as a separate blob file instead of inside LevelDB, so 32 KiB is the largest power of two kept
inline and 64 KiB already is one file per chunk.

Each cell is the median of several runs timed in the page with ``performance.now()``. Every chunk
size runs in a new profile and browser (its database deleted at the end); after each full write the
benchmark waits for Chromium to go idle and reports the CPU it used in the background meanwhile.
The tables are printed and written to CHUNK_SIZE.md with the machine and the date; a
``## Recommendation`` section already in that file is kept.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page as PwPage

from demo.browser import Browser
from demo.server import Server

OUT = Path(__file__).resolve().parent / "CHUNK_SIZE.md"
KIB = 1024
MIB = 1024 * KIB
PAGE = 4 * KIB  # a SQLite page / a small write
RESTORE_MODES = ("seq", "txper", "pipe", "cursor")
RESTORE_TITLES = {
    "seq": "restore: sequential getAll, 1 tx",
    "txper": "restore: 1 tx per getAll",
    "pipe": "restore: all getAlls at once, 1 tx",
    "cursor": "restore: cursor, 1 tx",
}

# Installed once per page load as window.cb. Everything is timed inside the page.
JS = r"""
() => {
  const DB = "chunkbench";
  const req = (r) => new Promise((ok, bad) => {
    r.onsuccess = () => ok(r.result);
    r.onerror = () => bad(r.error);
  });
  const done = (tx) => new Promise((ok, bad) => {
    tx.oncomplete = () => ok();
    tx.onabort = () => bad(tx.error || new Error("transaction aborted"));
  });
  let db = null;
  let data = null;
  let seed = 12345;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
  const chunkOf = (i, chunk) => data.slice(i * chunk, Math.min((i + 1) * chunk, data.length));
  const entry = (path, chunk) => ({ size: data.length, chunk, mtime: Date.now() });

  window.cb = {
    async open() {
      const r = indexedDB.open(DB, 1);
      r.onupgradeneeded = () => {
        r.result.createObjectStore("chunks");
        r.result.createObjectStore("entries");
      };
      db = await req(r);
    },
    async drop() {
      if (db) db.close();
      db = null;
      await req(indexedDB.deleteDatabase(DB));
    },
    fill(bytes) {
      data = new Uint8Array(bytes);
      const u = new Uint32Array(data.buffer);
      let x = 2463534242;  // xorshift32: incompressible, reproducible contents
      for (let i = 0; i < u.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; u[i] = x >>> 0; }
    },
    // (b) the whole file as chunks, one transaction.
    async writeAll(path, chunk) {
      const t0 = performance.now();
      const tx = db.transaction(["chunks", "entries"], "readwrite");
      const d = done(tx);
      const store = tx.objectStore("chunks");
      const n = Math.ceil(data.length / chunk);
      for (let i = 0; i < n; i++) store.put(chunkOf(i, chunk), [path, i]);
      tx.objectStore("entries").put(entry(path, chunk), path);
      tx.commit();
      const queued = performance.now();
      await d;
      return { ms: performance.now() - t0, blockedMs: queued - t0, chunks: n };
    },
    // (a) and (d): the program writes `writes` random 4 KiB pages (not timed), then one flush
    // rewrites every chunk they dirtied, in one transaction (timed, slices included).
    async scattered(path, chunk, writes) {
      const pages = data.length / 4096;
      const dirty = new Set();
      for (let k = 0; k < writes; k++) {
        const off = Math.floor(rand() * pages) * 4096;
        data.fill(k & 255, off, off + 4096);
        dirty.add(Math.floor(off / chunk));
      }
      const t0 = performance.now();
      const tx = db.transaction(["chunks", "entries"], "readwrite");
      const d = done(tx);
      const store = tx.objectStore("chunks");
      for (const i of dirty) store.put(chunkOf(i, chunk), [path, i]);
      tx.objectStore("entries").put(entry(path, chunk), path);
      tx.commit();
      await d;
      return { ms: performance.now() - t0, chunks: dirty.size };
    },
    // A flush that writes only the file's entry: the floor under any chunk size.
    async entryOnly(path, chunk) {
      const t0 = performance.now();
      const tx = db.transaction(["chunks", "entries"], "readwrite");
      const d = done(tx);
      tx.objectStore("entries").put(entry(path, chunk), path);
      tx.commit();
      await d;
      return performance.now() - t0;
    },
    // (c) read the file's chunks back in key order and assemble them into one Uint8Array.
    async restore(path, mode, batchBytes) {
      const t0 = performance.now();
      const meta = await req(db.transaction("entries", "readonly").objectStore("entries").get(path));
      const { size, chunk } = meta;
      const n = Math.ceil(size / chunk);
      const per = Math.max(1, Math.round(batchBytes / chunk));
      const out = new Uint8Array(size);
      let off = 0;
      let reads = 0;
      const take = (vals) => { for (const v of vals) { out.set(v, off); off += v.byteLength; } };
      const range = (lo, hi) => IDBKeyRange.bound([path, lo], [path, hi]);
      if (mode === "seq" || mode === "txper") {
        let tx = null;
        for (let next = 0; next < n; next += per) {
          if (tx === null || mode === "txper") tx = db.transaction("chunks", "readonly");
          take(await req(tx.objectStore("chunks").getAll(range(next, Infinity), per)));
          reads++;
        }
      } else if (mode === "pipe") {
        const store = db.transaction("chunks", "readonly").objectStore("chunks");
        const batches = [];
        for (let lo = 0; lo < n; lo += per) batches.push(req(store.getAll(range(lo, lo + per - 1), per)));
        reads = batches.length;
        for (const b of batches) take(await b);
      } else if (mode === "cursor") {
        const store = db.transaction("chunks", "readonly").objectStore("chunks");
        await new Promise((ok, bad) => {
          const r = store.openCursor(range(0, Infinity));
          r.onerror = () => bad(r.error);
          r.onsuccess = () => {
            const c = r.result;
            if (!c) return ok();
            out.set(c.value, off); off += c.value.byteLength; reads++;
            c.continue();
          };
        });
      } else {
        throw new Error("unknown mode " + mode);
      }
      const ms = performance.now() - t0;
      if (off !== size) throw new Error(`restored ${off} bytes, expected ${size}`);
      // Checked after the clock stops: the bytes are the file's (sampled every 4 KiB).
      for (let p = 0; p < size; p += 4093) if (out[p] !== data[p]) throw new Error(`byte ${p} differs`);
      return { ms, reads };
    },
  };
}
"""


class RssSampler:
    """Peak extra resident memory of a Chromium process tree while a block runs (sampled /proc).

    RSS is summed over processes, so pages shared between them count more than once; only the
    difference to the baseline taken when the block starts is reported, split into the renderer(s)
    (where the page's JS runs) and everything else (browser process with the IndexedDB backend,
    GPU/utility processes).
    """

    def __init__(self, root_pid: int, interval: float = 0.01) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pids: dict[int, bool] = {}
        self.base = (0, 0)
        self.peak = (0, 0)

    def _tree(self) -> dict[int, bool]:
        parents: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            parents[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
        tree = {self.root_pid}
        grew = True
        while grew:
            grew = False
            for pid, ppid in parents.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        renderer: dict[int, bool] = {}
        for pid in tree:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            renderer[pid] = b"--type=renderer" in cmd
        return renderer

    def _sample(self) -> tuple[int, int]:
        rend = other = 0
        for pid, is_renderer in self._pids.items():
            try:
                rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self._page
            except (OSError, IndexError, ValueError):
                continue
            if is_renderer:
                rend += rss
            else:
                other += rss
        return rend, other

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            r, o = self._sample()
            self.peak = (max(self.peak[0], r), max(self.peak[1], o))

    def __enter__(self) -> RssSampler:
        self._pids = self._tree()
        self.base = self.peak = self._sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        r, o = self._sample()
        self.peak = (max(self.peak[0], r), max(self.peak[1], o))

    @property
    def extra_mib(self) -> tuple[float, float]:
        """(renderer, rest) peak minus baseline, in MiB."""
        return (
            (self.peak[0] - self.base[0]) / MIB,
            (self.peak[1] - self.base[1]) / MIB,
        )


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids``."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(root_pid: int, cap: float = 20.0) -> tuple[float, float]:
    """Wait until Chromium is idle (under 10% of a core for 0.5 s, at most ``cap`` seconds).

    Returns (seconds waited, CPU seconds Chromium used meanwhile): the background work left after
    ``oncomplete``, e.g. LevelDB compacting what was just written.
    """
    pids = list(RssSampler(root_pid)._tree())
    start, cpu0 = time.monotonic(), tree_cpu(pids)
    last = cpu0
    while time.monotonic() - start < cap:
        time.sleep(0.5)
        now = tree_cpu(pids)
        if now - last < 0.05:
            break
        last = now
    return time.monotonic() - start, tree_cpu(pids) - cpu0


@dataclass
class Row:
    chunk: int
    chunks: int = 0
    one_chunk: list[float] = field(default_factory=list)
    scattered: list[float] = field(default_factory=list)
    scattered_chunks: list[int] = field(default_factory=list)
    full: list[float] = field(default_factory=list)
    full_blocked: list[float] = field(default_factory=list)
    full_mem: list[tuple[float, float]] = field(default_factory=list)
    full_after_cpu: list[float] = field(default_factory=list)
    restore: dict[str, list[float]] = field(default_factory=dict)
    restore_reads: dict[str, int] = field(default_factory=dict)
    restore_mem: list[tuple[float, float]] = field(default_factory=list)
    disk_mib: float = 0.0
    disk_files: int = 0


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def du(path: Path) -> tuple[int, int]:
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.stat(os.path.join(root, name)).st_size
                files += 1
            except OSError:
                pass
    return total, files


def gc(page: PwPage) -> None:
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("HeapProfiler.collectGarbage")
    finally:
        cdp.detach()


def ev(page: PwPage, expr: str, arg: Any = None) -> Any:
    return page.evaluate(expr, arg)


def measure(
    url: str,
    chunk: int,
    file_bytes: int,
    repeats: int,
    small_repeats: int,
    batch_bytes: int,
    modes: list[str],
) -> Row:
    # Every chunk size gets a new profile and browser, so the work Chromium does in the background
    # for the previous size (LevelDB compaction, deleting blob files) does not disturb this one.
    with (
        tempfile.TemporaryDirectory(prefix="autosync-chunk-") as tmp,
        Browser(tmp) as browser,
    ):
        return _measure(
            browser, url, Path(tmp), chunk, file_bytes, repeats, small_repeats, batch_bytes, modes
        )


def _measure(
    browser: Browser,
    url: str,
    profile: Path,
    chunk: int,
    file_bytes: int,
    repeats: int,
    small_repeats: int,
    batch_bytes: int,
    modes: list[str],
) -> Row:
    assert browser._proc is not None and browser._browser is not None
    root_pid = browser._proc.pid
    context = browser._browser.contexts[0]
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(url)
    ev(page, JS)
    ev(page, "() => cb.drop()")
    ev(page, "() => cb.open()")
    ev(page, "n => cb.fill(n)", file_bytes)
    settle(root_pid)
    row = Row(chunk)
    label = f"{chunk // KIB} KiB"

    # (b) full writes: a new 200 MiB file per run (big0, big1, ...).
    for k in range(repeats):
        gc(page)
        time.sleep(0.3)
        with RssSampler(root_pid) as mem:
            r = ev(page, "([p, c]) => cb.writeAll(p, c)", [f"big{k}", chunk])
        row.full.append(r["ms"])
        row.full_blocked.append(r["blockedMs"])
        row.full_mem.append(mem.extra_mib)
        row.chunks = r["chunks"]
        waited, cpu = settle(root_pid)
        row.full_after_cpu.append(cpu)
        print(
            f"  {label}: full write {k + 1}/{repeats}: {r['ms']:.0f} ms, then {cpu:.1f} s CPU "
            f"in the background ({waited:.1f} s)",
            flush=True,
        )
    idb = profile / "Default" / "IndexedDB"
    total, files = du(idb)
    row.disk_mib, row.disk_files = total / MIB / repeats, files // repeats

    # (c) restores, rotating over the files written above.
    for mode in modes:
        row.restore[mode] = []
        for k in range(repeats):
            gc(page)
            time.sleep(0.2)
            with RssSampler(root_pid) as mem:
                r = ev(page, "([p, m, b]) => cb.restore(p, m, b)", [f"big{k}", mode, batch_bytes])
            row.restore[mode].append(r["ms"])
            row.restore_reads[mode] = r["reads"]
            if mode == "seq":
                row.restore_mem.append(mem.extra_mib)
        print(f"  {label}: {RESTORE_TITLES[mode]} {med(row.restore[mode]):.0f} ms", flush=True)
    # (a) one chunk, (d) 50 scattered 4 KiB pages, on big0 (after the restores: this changes the
    # page's copy of the file, which the restores check their bytes against).
    for _ in range(small_repeats):
        row.one_chunk.append(ev(page, "([p, c]) => cb.scattered(p, c, 1)", ["big0", chunk])["ms"])
    print(f"  {label}: one-chunk rewrite {med(row.one_chunk):.1f} ms", flush=True)
    for _ in range(repeats):
        r = ev(page, "([p, c]) => cb.scattered(p, c, 50)", ["big0", chunk])
        row.scattered.append(r["ms"])
        row.scattered_chunks.append(r["chunks"])
    print(f"  {label}: 50 scattered pages {med(row.scattered):.1f} ms", flush=True)

    ev(page, "() => cb.drop()")
    return row


def floor_ms(browser: Browser, url: str, repeats: int) -> float:
    assert browser._browser is not None
    context = browser._browser.contexts[0]
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(url)
    ev(page, JS)
    ev(page, "() => cb.drop()")
    ev(page, "() => cb.open()")
    ev(page, "n => cb.fill(n)", 4096)
    samples = [float(ev(page, "() => cb.entryOnly('f', 4096)")) for _ in range(repeats)]
    ev(page, "() => cb.drop()")
    return statistics.median(samples)


def tables(rows: list[Row], file_bytes: int, batch_bytes: int, modes: list[str]) -> list[str]:
    size = f"{file_bytes // MIB} MiB"
    out = [
        f"Small changes to a {size} file (each flush is one readwrite transaction; "
        "slices included; ms):",
        "",
        "| chunk | chunks per file | (a) rewrite 1 chunk | (d) 50 random 4 KiB writes "
        "| chunks written by (d) |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        out.append(
            f"| {r.chunk // KIB} KiB | {r.chunks} | {med(r.one_chunk):.1f} "
            f"| {med(r.scattered):.1f} | {statistics.median(r.scattered_chunks):.0f} |"
        )
    out += [
        "",
        f"Whole {size} file (ms; MB/s = 10^6 bytes/s; peak extra RSS of Chromium in MiB as "
        "renderer + rest, rest = browser process with the IndexedDB backend):",
        "",
        "| chunk | (b) full write | MB/s | main thread blocked | peak extra RSS "
        "| background CPU after write (s) | "
        + " | ".join(f"(c) {RESTORE_TITLES[m].removeprefix('restore: ')}" for m in modes)
        + " | restore peak extra RSS | on disk per file (files) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | "
        + " | ".join("---:" for _ in modes)
        + " | ---: | ---: |",
    ]
    for r in rows:
        fm = (max(m[0] for m in r.full_mem), max(m[1] for m in r.full_mem))
        rm = (
            (max(m[0] for m in r.restore_mem), max(m[1] for m in r.restore_mem))
            if r.restore_mem
            else (float("nan"), float("nan"))
        )
        cells = " | ".join(f"{med(r.restore[m]):.0f}" for m in modes)
        out.append(
            f"| {r.chunk // KIB} KiB | {med(r.full):.0f} | {file_bytes / 1e3 / med(r.full):.0f} "
            f"| {med(r.full_blocked):.0f} | {fm[0]:.0f} + {fm[1]:.0f} "
            f"| {med(r.full_after_cpu):.1f} | {cells} "
            f"| {rm[0]:.0f} + {rm[1]:.0f} | {r.disk_mib:.0f} MiB ({r.disk_files}) |"
        )
    reads = ", ".join(
        f"{r.chunk // KIB} KiB: {r.restore_reads.get('seq', 0)}" for r in rows if r.restore_reads
    )
    out += [
        "",
        f"Restore batches hold ~{batch_bytes // MIB} MiB of chunks each (getAll count = "
        f"{batch_bytes // MIB} MiB / chunk size); getAll calls per file: {reads}. "
        "Peak RSS columns are the worst of the runs.",
    ]
    return out


def report(
    rows: list[Row],
    floor: float,
    file_bytes: int,
    batch_bytes: int,
    repeats: int,
    small_repeats: int,
    modes: list[str],
    seconds: float,
    load: tuple[float, float],
) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Chunk size for large files",
        "",
        "Measured by `.build/venv/bin/python -m bench.chunk_size` "
        f"on {now}: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}; headless Chromium (`{Browser.version()}`) with a persistent, "
        "disk-backed profile, plain JS in a page served by `demo.server.Server`, default "
        "transaction durability. A file of incompressible bytes is stored as chunks "
        "`[path, index] -> Uint8Array` (each a `.slice()` of the file's contents) in a store "
        "`chunks`, plus a small entry per file in a store `entries`, both written in the same "
        "transaction. Medians of "
        f"{repeats} runs ({small_repeats} for the one-chunk rewrite), timed in the page from "
        "`db.transaction()` to `oncomplete` (or to the last byte copied, for restores). Each "
        "chunk size runs in a new profile and browser; after each full write the benchmark waits "
        "for Chromium to go idle (at most 20 s) before going on, and reports the CPU it used "
        "meanwhile. A flush that writes only the entry costs "
        f"{floor:.1f} ms (the floor under every chunk size). Total run time {seconds:.0f} s; "
        f"1-minute load average {load[0]:.1f} at the start and {load[1]:.1f} at the end (the "
        "machine is shared: other processes ran meanwhile).",
        "",
        *tables(rows, file_bytes, batch_bytes, modes),
        "",
        "Restores read from the OS page cache (the files were just written), as after a reload; "
        "a cold start after a reboot would add disk reads.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chunk_size", description=__doc__)
    parser.add_argument("--sizes", default="16,32,64,256,1024,4096", help="chunk sizes in KiB")
    parser.add_argument("--file-mib", type=int, default=200)
    parser.add_argument("--batch-mib", type=int, default=16, help="restore batch size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small-repeats", type=int, default=11, help="runs of (a)")
    parser.add_argument(
        "--modes", default="seq,pipe,cursor", help=f"restore variants: {', '.join(RESTORE_MODES)}"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, keep CHUNK_SIZE.md")
    args = parser.parse_args(argv)
    sizes = [int(s) * KIB for s in args.sizes.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in RESTORE_MODES:
            parser.error(f"unknown restore mode {m!r}; choose from {', '.join(RESTORE_MODES)}")
    file_bytes, batch_bytes = args.file_mib * MIB, args.batch_mib * MIB
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    with Server() as server:
        # Same origin as the demo, but a document without Pyodide: nothing else in the page.
        url = server.url + "demo.css"
        with tempfile.TemporaryDirectory(prefix="autosync-chunk-") as tmp, Browser(tmp) as browser:
            floor = floor_ms(browser, url, args.small_repeats)
        for chunk in sizes:
            print(f"chunk size {chunk // KIB} KiB", flush=True)
            rows.append(
                measure(
                    url,
                    chunk,
                    file_bytes,
                    args.repeats,
                    args.small_repeats,
                    batch_bytes,
                    modes,
                )
            )
    seconds = time.monotonic() - started
    load = (load_before, os.getloadavg()[0])
    text = report(
        rows, floor, file_bytes, batch_bytes, args.repeats, args.small_repeats, modes, seconds, load
    )
    print(text)
    if not args.no_write:
        kept = ""
        if OUT.exists():
            old = OUT.read_text()
            at = old.find("\n## Recommendation")
            if at != -1:
                kept = old[at:]
        OUT.write_text(text + kept)
        print(f"written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
