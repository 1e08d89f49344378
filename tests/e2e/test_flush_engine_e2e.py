"""The flush engine, end to end: Python that never yields, fsync, large chunked files, old formats.

Real headless Chromium, SIGKILLed between the change and the check (see conftest.Session):

- a synchronous Python loop that never returns to the event loop is still saved every max_wait;
- ``os.fsync()`` saves the file at once, whatever the debounce;
- a multi-MB file edited in place (writes, appends, truncations, holes) across many incremental
  flushes restores byte for byte, and a region dropped and grown back reads as zeros;
- data saved by the previous storage format (1) and by plain Emscripten IDBFS is restored.
"""

from __future__ import annotations

import random
import time

import pytest
from e2e_timing import FLUSH_ALLOWANCE_S
from trees import describe

pytestmark = pytest.mark.e2e

# Settings under which no timer can save anything during a test: only what the test exercises can.
NEVER_MS = 60_000


def assert_same_tree(actual, expected, *, mtime_tolerance_s=0.0):
    assert sorted(actual) == sorted(expected), "the restored directory holds other paths"
    for path, want in expected.items():
        got = actual[path]
        without_mtime = {k: v for k, v in got.items() if k != "mtime_ns"}
        assert without_mtime == {k: v for k, v in want.items() if k != "mtime_ns"}, path
        if "mtime_ns" in want:
            off_s = abs(got["mtime_ns"] - want["mtime_ns"]) / 1e9
            assert off_s <= mtime_tolerance_s, f"{path}: mtime off by {off_s:.3f} s"


def start_python_without_waiting(page, code):
    """Run ``code`` on the page from a timer, and return at once (while it runs, the page is busy)."""
    page.raw.evaluate("code => { setTimeout(() => window.runPy(code), 0); }", code)


# ------------------------------------------------------------------ Python that never yields

LOOP_MAX_WAIT_MS = 1000
# As large as max_wait allows; the loop writes without pause, so the debounce never ends anyway.
LOOP_DEBOUNCE_MS = LOOP_MAX_WAIT_MS
LOOP_S = 6.0
# Later than max_wait plus one flush after the loop started, so that a state saved before the
# loop (all an engine that flushes only when Python yields can have) is too old to pass.
KILL_AFTER_S = (3.0, 4.5)


@pytest.mark.needs_package("sqlite3")
def test_python_that_never_yields_is_saved_every_max_wait_until_a_kill(session):
    page = session.start(debounce_ms=LOOP_DEBOUNCE_MS, max_wait_ms=LOOP_MAX_WAIT_MS)
    # Two writers kept open across the loop: a fixed-size record rewritten in place with one
    # pwrite (every snapshot sees a whole record), and a sqlite database committed each step.
    page.python(
        "import os, sqlite3, time\n"
        "record = os.open('/data/loop.rec', os.O_RDWR | os.O_CREAT)\n"
        "db = sqlite3.connect('/data/loop.db')\n"
        "db.execute('create table state (i integer, at real)')\n"
        "db.execute('insert into state values (0, 0)')\n"
        "def save(i, at):\n"
        "    os.pwrite(record, f'{i:12d} {at:20.6f}\\n'.encode(), 0)\n"
        "    db.execute('update state set i = ?, at = ?', (i, at))\n"
        "    db.commit()\n"
        "save(0, time.time())\n"
        "await autosync.flush()\n"
        "None"
    )
    start_python_without_waiting(
        page,
        f"end = time.time() + {LOOP_S}\n"
        "i = 0\n"
        "while (now := time.time()) < end:\n"
        "    i += 1\n"
        "    save(i, now)\n",
    )
    loop_started = time.time()
    time.sleep(random.Random().uniform(*KILL_AFTER_S))
    killed_at = time.time()
    session.browser.kill()
    assert killed_at - loop_started < LOOP_S - 0.5, "the loop had (nearly) ended: inconclusive"
    page = session.restart(debounce_ms=LOOP_DEBOUNCE_MS, max_wait_ms=LOOP_MAX_WAIT_MS)
    saved = page.python(
        "import sqlite3\n"
        "i, at = open('/data/loop.rec').read().split()\n"
        "db = sqlite3.connect('/data/loop.db')\n"
        "{'record': [int(i), float(at)],"
        " 'sqlite': list(db.execute('select i, at from state').fetchone()),"
        " 'integrity': db.execute('pragma integrity_check').fetchone()[0]}"
    )
    assert saved["integrity"] == "ok"
    bound_s = LOOP_MAX_WAIT_MS / 1000 + FLUSH_ALLOWANCE_S
    for writer in ("record", "sqlite"):
        step, at = saved[writer]
        age_s = killed_at - at
        assert age_s <= bound_s, (
            f"{writer}: killed {killed_at - loop_started:.2f} s into a loop that never yields; "
            f"the saved state (step {step}) was {age_s:.2f} s old, more than {bound_s:.2f} s"
        )


# ------------------------------------------------------------------ fsync


# Resolves once every readwrite transaction created before it in any database of the page's origin
# has committed: a readonly transaction over the same stores is queued behind them. No timer runs
# and no Python runs in the meantime.
SETTLE_INDEXEDDB = """async () => {
  for (const { name } of await indexedDB.databases()) {
    const db = await new Promise((ok, fail) => {
      const request = indexedDB.open(name);
      request.onsuccess = () => ok(request.result);
      request.onerror = () => fail(request.error);
    });
    if (db.objectStoreNames.length) {
      const tx = db.transaction([...db.objectStoreNames], "readonly");
      await new Promise((ok, fail) => {
        tx.oncomplete = ok;
        tx.onabort = () => fail(tx.error);
      });
    }
    db.close();
  }
}"""


def test_fsync_saves_the_file_before_a_kill(session):
    page = session.start(debounce_ms=NEVER_MS, max_wait_ms=NEVER_MS)
    page.python(
        "import os\n"
        "fd = os.open('/data/synced.txt', os.O_WRONLY | os.O_CREAT, 0o644)\n"
        "os.write(fd, b'fsynced')\n"
        "os.fsync(fd)\n"
        "os.write(fd, b' and more, never synced')  # may or may not be saved: not checked\n"
        "None"
    )
    # fsync is a synchronous call: it can start a commit, not wait for it to land. A SIGKILL sent as
    # soon as such a call returned lost the commit in 6 of 40 runs (100 bytes) and 15 of 20 runs
    # (2 MB) of a JavaScript probe on this 2-core machine, so the kill waits until IndexedDB has
    # applied what is queued (4-19 ms measured; 30 of 30 survived): no timer, and no Python runs.
    page.raw.evaluate(SETTLE_INDEXEDDB)
    session.browser.kill()
    page = session.restart(debounce_ms=NEVER_MS, max_wait_ms=NEVER_MS)
    saved = page.python(
        "import os\n"
        "p = '/data/synced.txt'\n"
        "open(p, 'rb').read()[:7].decode() if os.path.exists(p) else 'no /data/synced.txt'"
    )
    assert saved == "fsynced"


# ------------------------------------------------------------------ large files, chunked storage

MIB = 1024 * 1024

# Python for the page: seeded random edits of a 6 MB file, six rounds with a flush after each.
# Every round makes each kind of edit once, in random order; `model` is what the file must hold.
EDIT_LARGE_FILE = """
import os, random
rnd = random.Random({seed})
MiB = 1024 * 1024
path = '/data/large.bin'
model = bytearray(rnd.randbytes(6 * MiB + 12345))
with open(path, 'wb') as f:
    f.write(model)
os.chmod(path, 0o600)
fd = os.open(path, os.O_RDWR)
appender = os.open(path, os.O_WRONLY | os.O_APPEND)
await autosync.flush()
flushes_before = autosync.status('/data').flush_count

def write_at(offset, data):
    model.extend(bytes(max(0, offset - len(model))))
    model[offset:offset + len(data)] = data

for _ in range(6):
    kinds = ['write', 'write', 'boundary', 'append', 'hole', 'grow', 'shrink']
    rnd.shuffle(kinds)
    for kind in kinds:
        size = len(model)
        data = rnd.randbytes(rnd.randrange(1, 300 * 1024))
        if kind == 'write':
            offset = rnd.randrange(0, size + 1)
            os.pwrite(fd, data, offset)
        elif kind == 'boundary':  # across a MiB boundary, which is a chunk boundary too
            offset, data = rnd.randrange(1, size // MiB + 1) * MiB - 3, data[:6]
            os.pwrite(fd, data, offset)
        elif kind == 'append':
            offset = size
            os.write(appender, data)
        elif kind == 'hole':  # seek past the end, then write: the gap reads as zeros
            offset = size + rnd.randrange(1, MiB)
            os.lseek(fd, offset, os.SEEK_SET)
            os.write(fd, data)
        else:
            if kind == 'grow':
                new_size = size + rnd.randrange(1, MiB)
            else:
                new_size = rnd.randrange(size * 6 // 10, size * 95 // 100)
            if rnd.random() < 0.5:
                os.truncate(path, new_size)
            else:
                os.ftruncate(fd, new_size)
            del model[new_size:]
            model.extend(bytes(new_size - len(model)))
            continue
        write_at(offset, data)
    await autosync.flush()
os.close(fd)
os.close(appender)
with open(path, 'rb') as f:
    assert f.read() == model, 'the file in memory differs from the model of the edits'
autosync.status('/data').flush_count - flushes_before
"""


def test_large_files_edited_across_incremental_flushes_restore_byte_identical(session):
    seed = random.Random().randrange(2**32)
    page = session.start(debounce_ms=NEVER_MS, max_wait_ms=NEVER_MS)
    # A file dropped below one chunk and grown back within one flush window: whatever the chunk
    # size, the stored chunks past 1000 bytes are stale and must not come back.
    page.python(
        "import os\n"
        "path = '/data/regrown.bin'\n"
        "with open(path, 'wb') as f:\n"
        f"    f.write(b'\\xa5' * {3 * MIB})\n"
        "await autosync.flush()\n"
        "fd = os.open(path, os.O_RDWR)\n"
        "os.ftruncate(fd, 1000)\n"
        f"os.ftruncate(fd, {2 * MIB + 5})\n"
        f"os.lseek(fd, {3 * MIB + 77}, os.SEEK_SET)  # and a hole past the end\n"
        "os.write(fd, b'tail')\n"
        "os.close(fd)\n"
        "await autosync.flush()\n"
        "None"
    )
    assert page.python(EDIT_LARGE_FILE.format(seed=seed)) == 6, f"seed {seed}"
    before = describe(page)
    assert before["large.bin"]["size"] > 3 * MIB, f"seed {seed}"
    page = session.restart(debounce_ms=NEVER_MS, max_wait_ms=NEVER_MS)
    regrown = page.python(
        "data = open('/data/regrown.bin', 'rb').read()\n"
        "gap = data[1000:-4]\n"
        "{'size': len(data), 'head': data[:1000] == b'\\xa5' * 1000, 'tail': data[-4:].decode(),"
        " 'first_nonzero_in_gap': 1000 + len(gap) - len(gap.lstrip(b'\\0')) if gap.strip(b'\\0')"
        " else None}"
    )
    assert regrown == {
        "size": 3 * MIB + 81,
        "head": True,
        "tail": "tail",
        "first_nonzero_in_gap": None,
    }
    assert describe(page) == before, f"seed {seed}"


# ------------------------------------------------------------------ data saved by older formats

# What autosync's storage format 1 held: entries keyed by the path relative to the mount point.
FORMAT_1_MTIME_MS = 1_600_000_000_000
FORMAT_1 = {
    "docs": {"mode": 0o40755, "mtime": FORMAT_1_MTIME_MS},
    "docs/a.txt": {"mode": 0o100644, "mtime": FORMAT_1_MTIME_MS + 1000, "text": "from format 1\n"},
    "docs/big.bin": {"mode": 0o100600, "mtime": FORMAT_1_MTIME_MS + 2000, "random": 2_500_003},
    "docs/empty.txt": {"mode": 0o100644, "mtime": FORMAT_1_MTIME_MS + 3000, "text": ""},
    "empty": {"mode": 0o40700, "mtime": FORMAT_1_MTIME_MS + 4000},
    "link": {"mode": 0o120777, "mtime": FORMAT_1_MTIME_MS + 5000, "link": "docs/a.txt"},
}

# Writes FORMAT_1 the way format 1 stored it; returns each file's sha256 and size.
WRITE_FORMAT_1 = """async (spec) => {
  const values = {};
  const files = {};
  for (const [key, { mode, mtime, text, random, link }] of Object.entries(spec)) {
    const value = (values[key] = { mode, mtime });
    if (link !== undefined) value.link = link;
    if (text !== undefined) value.contents = new TextEncoder().encode(text);
    if (random !== undefined) {
      value.contents = new Uint8Array(random);
      let x = 0x9e3779b9;  // xorshift32: bytes no compression makes small
      for (let i = 0; i < random; i++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        value.contents[i] = x & 0xff;
      }
    }
    if (value.contents) {
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", value.contents));
      const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      files[key] = { sha256, size: value.contents.length };
    }
  }
  const request = indexedDB.open("autosync:/data", 1);
  request.onupgradeneeded = () => {
    request.result.createObjectStore("entries");
    request.result.createObjectStore("meta");
  };
  const db = await new Promise((ok, fail) => {
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  // All puts in one go, with no await in between: a transaction left idle commits.
  const tx = db.transaction(["entries", "meta"], "readwrite");
  for (const [key, value] of Object.entries(values)) tx.objectStore("entries").put(value, key);
  tx.objectStore("meta").put({ version: 1 }, "format");
  await new Promise((ok, fail) => {
    tx.oncomplete = ok;
    tx.onabort = () => fail(tx.error);
  });
  db.close();  // an open connection would block the new code's upgrade of the database
  return files;
}"""


def test_data_saved_by_storage_format_1_is_restored_and_kept(session):
    page = session.open()
    files = page.raw.evaluate(WRITE_FORMAT_1, FORMAT_1)
    expected = {}
    for key, spec in FORMAT_1.items():
        if "link" in spec:
            expected[key] = {"link": spec["link"]}
            continue
        entry = {"mode": oct(spec["mode"] & 0o7777), "mtime_ns": spec["mtime"] * 1_000_000}
        entry.update(files.get(key, {"dir": True}))
        expected[key] = entry
    page.python(
        f"import autosync\nawait autosync.start('/data', debounce_ms={NEVER_MS}, "
        f"max_wait_ms={NEVER_MS}).ready()\nNone"
    )
    assert_same_tree(describe(page), expected, mtime_tolerance_s=1.0)

    # Then changed by the new code (a whole rewrite, and a patch across a MiB boundary inside the
    # large file), saved, and restored by a fresh browser: old and new data together.
    page.python(
        "import os\n"
        "open('/data/docs/a.txt', 'w').write('changed after the upgrade\\n')\n"
        "fd = os.open('/data/docs/big.bin', os.O_WRONLY)\n"
        f"os.pwrite(fd, b'patched' * 100, {2 * MIB - 300})\n"
        "os.close(fd)\n"
        "await autosync.flush()\n"
        "None"
    )
    before = describe(page)
    assert before["docs/big.bin"]["sha256"] != expected["docs/big.bin"]["sha256"]
    page = session.restart(debounce_ms=NEVER_MS, max_wait_ms=NEVER_MS)
    assert_same_tree(describe(page), before)


def test_large_file_and_nested_empty_dir_saved_by_plain_idbfs_are_restored(session):
    page = session.open()
    page.python(
        "import os, random, pyodide_js\n"
        "from pyodide.code import run_js\n"
        "os.makedirs('/data')\n"
        "pyodide_js.FS.mount(pyodide_js.FS.filesystems.IDBFS, {}, '/data')\n"
        "os.makedirs('/data/a/b/empty')\n"
        "with open('/data/a/large.bin', 'wb') as f:\n"
        f"    f.write(random.Random(7).randbytes({5 * MIB + 4321}))\n"
        "os.chmod('/data/a/large.bin', 0o600)\n"
        "sync = run_js('(FS) => new Promise((ok, bad) => FS.syncfs(false, e => e ? bad(e) : ok()))')\n"
        "await sync(pyodide_js.FS)\n"
        "None"
    )
    before = describe(page)
    session.browser.kill()
    page = session.restart()
    assert_same_tree(describe(page), before)
    assert page.python("autosync.status('/data').restored['migrated']") == len(before)
