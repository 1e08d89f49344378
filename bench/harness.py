"""The bench's browser session and the helpers every measurement loads into the page.

One :class:`Session` is one Chromium with a throw-away, disk-backed profile and the demo server; each
measurement opens the demo page in manual mode (Pyodide loaded, autosync not started), loads
:data:`PAGE_HELPERS` and times its work inside the page with ``time.perf_counter()``::

    with Session() as session:
        page = session.open()
        ms = page.python("t = time.perf_counter()\\nawait m.flush()\\nms(t)")
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from demo.browser import Browser, Page
from demo.server import Server

# Python run once in every page, after each load. The three sides measured:
#   autosync        ``m = await autosync.start(path, ...).ready()``, saved with ``await m.flush()``;
#   IDBFS           ``idbfs(path)``, saved with ``await syncfs(mount, False)``;
#   IDBFS autoPersist  ``idbfs(path, auto_persist=True)``, saved by Emscripten itself;
#                   ``await persisted(mount)`` returns once that save has committed.
#
# syncfs() runs IDBFS's own syncfs for one mount, which is all that FS.syncfs() does per IDBFS mount;
# FS.syncfs() itself would also sync the autoPersist mount living in the same page.
#
# persisted() observes Emscripten's autoPersist state machine (src/lib/libidbfs.js): a change queues
# a persist (mount.idbPersistState becomes a timer id), the timer runs IDBFS.syncfs(mount, false,
# onPersistComplete), and onPersistComplete sets the state back to 0, or starts another persist if
# changes came in meanwhile ('again'). IDBFS calls that callback from the readwrite transaction's
# oncomplete, i.e. once IndexedDB has committed. The wrapper below calls Emscripten's callback first
# and then, if the state is 0 (nothing queued, nothing running), resolves the waiters: the time
# from the change to that moment is the time until the change is committed. A persist that fails is
# ignored by Emscripten; here it rejects the waiters.
PAGE_HELPERS = r"""
import asyncio, os, sys, time, autosync, pyodide, pyodide_js
from pyodide.code import run_js
FS = pyodide_js.FS
_idbfs_mount = run_js("(FS, path, autoPersist) => FS.mount(FS.filesystems.IDBFS, {autoPersist}, path).mount")
_idbfs_sync = run_js('''(IDBFS, mount, populate) =>
  new Promise((ok, bad) => IDBFS.syncfs(mount, populate, (e) => e ? bad(e) : ok()))''')
_persisted = run_js('''(IDBFS) => {
  if (!IDBFS.benchPersistObserved) {
    IDBFS.benchPersistObserved = true;
    const syncfs = IDBFS.syncfs;
    IDBFS.syncfs = (mount, populate, callback) => syncfs(mount, populate, (error) => {
      callback(error);
      if (populate || !(mount.opts && mount.opts.autoPersist)) return;
      if (error) mount.benchPersistError = error;
      if (mount.idbPersistState !== 0) return;
      const waiters = mount.benchPersistWaiters || [];
      mount.benchPersistWaiters = [];
      const failure = mount.benchPersistError;
      mount.benchPersistError = undefined;
      for (const [ok, bad] of waiters) failure ? bad(failure) : ok();
    });
  }
  return (mount) => new Promise((ok, bad) => {
    if (!mount.idbPersistState) return ok();
    (mount.benchPersistWaiters ||= []).push([ok, bad]);
  });
}''')(FS.filesystems.IDBFS)

def idbfs(path, auto_persist=False):
    os.makedirs(path)
    return _idbfs_mount(FS, path, auto_persist)

async def syncfs(mount, populate):
    await _idbfs_sync(FS.filesystems.IDBFS, mount, populate)

async def persisted(mount):
    await _persisted(mount)

def ms(since):
    return (time.perf_counter() - since) * 1000

def fill_tree(root, n):
    # Under one directory of its own (t, or u once renamed), in directories of 100 files.
    blob = b"x" * 1024
    for i in range(n):
        d = f"{root}/t/d{i // 100}"
        if i % 100 == 0:
            os.makedirs(d, exist_ok=True)
        with open(f"{d}/f{i}.txt", "wb") as f:
            f.write(blob)

def tree_dir(root):
    return f"{root}/t" if os.path.exists(f"{root}/t") else f"{root}/u"

def count_files(root):
    return sum(len(names) for _, _, names in os.walk(root))

def tree_file(root):
    return f"{tree_dir(root)}/d0/f0.txt"

def rewrite_start(path, k):
    with open(path, "r+b") as f:
        f.write(str(k).encode())

def toggle(a, b):
    # Renames whichever of the two exists to the other: each run renames, the next one back.
    os.rename(*((a, b) if os.path.exists(a) else (b, a)))

MIB = 1 << 20

def write_large(root, mib):
    # Random bytes: nothing on the way to disk can compress them away. A small file beside it is
    # the one-small-file change of the same directory.
    block = os.urandom(MIB)
    with open(f"{root}/big.bin", "wb") as f:
        for _ in range(mib):
            f.write(block)
    with open(f"{root}/small.txt", "wb") as f:
        f.write(b"s" * 1024)

def big_path(root):
    return f"{root}/big.bin" if os.path.exists(f"{root}/big.bin") else f"{root}/big2.bin"

def fingerprint(root):
    # The size and the last bytes (where the appends went): a restore brought back the whole file.
    path = big_path(root)
    with open(path, "rb") as f:
        f.seek(-min(64, os.path.getsize(path)), 2)
        return [os.path.getsize(path), f.read().hex()]

def append_byte(root):
    with open(big_path(root), "ab") as f:
        f.write(b"+")

None
"""


def median(samples: Sequence[float]) -> float:
    return float(statistics.median(samples))


def progress(message: str) -> None:
    """One line of progress on stderr, so that stdout holds only the table."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Session:
    """Chromium with a fresh profile on disk, and the demo page served from this checkout."""

    #: Pyodide's, Python's and autosync's versions, as the first page loaded in any session reports.
    versions: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="autosync-bench-")
        self.server = Server()
        self.browser = Browser(Path(self._profile.name))

    def __enter__(self) -> Session:
        self.server.__enter__()
        try:
            self.browser.start()
        except BaseException:
            self.server.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.browser.close()
        finally:
            self.server.__exit__(kind, error, traceback)
            self._profile.cleanup()

    def url(self, query: str = "") -> str:
        return self.server.url + "?manual=1" + (f"&{query}" if query else "")

    def open(self, query: str = "") -> Page:
        """A fresh demo page (a new Pyodide) with :data:`PAGE_HELPERS` loaded.

        ``query`` adds to the page's URL: ``"worker"`` runs Python in a dedicated Web Worker.
        """
        return self._ready(self.browser.open(self.url(query)))

    def new_tab(self, beside: Page, query: str = "") -> Page:
        """A second demo page in the same browser and profile as ``beside`` (another tab)."""
        raw = beside.raw.context.new_page()
        raw.goto(self.url(query))
        return self._ready(Page(raw))

    def reload(self, page: Page) -> Page:
        return self._ready(self.browser.reload(page))

    def restart(self) -> Page:
        """SIGKILL every Chromium process if still running, start again on the same profile, open."""
        self.browser.restart()
        return self.open()

    def fresh(self, query: str = "") -> Page:
        """Close Chromium (cleanly: no recovery at the next start), start it on the same profile, open.

        Nothing of the last browser is left: no renderer memory, no open database, no cache of the
        IndexedDB backend; what was saved is read back from disk (the OS's page cache).
        """
        self.browser.close()
        self.browser.start()
        return self.open(query)

    def _ready(self, page: Page) -> Page:
        page.python(PAGE_HELPERS)
        if not Session.versions:
            Session.versions = page.python(
                "{'pyodide': pyodide.__version__, 'python': sys.version.split()[0],"
                " 'autosync': autosync.__version__}"
            )
        return page
