"""What a restore must bring back whatever the saved permissions, the clock or the stored data say,
in real Chromium across reloads and SIGKILLs: read-only and unsearchable directories, read-only
files, symlinks to directories, deep trees, the mount root's own metadata, a wall clock that steps
back, records that cannot be restored (never deleted later), and fsync's durability."""

from __future__ import annotations

import time

import pytest
from e2e_timing import FLUSH_ALLOWANCE_S

pytestmark = pytest.mark.e2e

DEBOUNCE_MS = 300
MAX_WAIT_MS = 1000
AFTER_DEBOUNCE_S = DEBOUNCE_MS / 1000 + FLUSH_ALLOWANCE_S
DEPTH = 120

# A tree whose saved modes would refuse the restore its own work if it went through the file
# system's permission checks: a read-only directory with children (and grandchildren), a
# directory without search permission, a read-only file, a symlink to a directory, a deep chain.
MAKE_TREE = f"""
import os
os.makedirs('/data/docs/sub')
open('/data/docs/report.txt', 'w').write('report')
open('/data/docs/sub/notes.txt', 'w').write('notes')
os.makedirs('/data/hidden')
open('/data/hidden/x.txt', 'w').write('behind a directory without search permission')
open('/data/ro.txt', 'w').write('read only')
os.symlink('docs', '/data/to-docs')
deep = '/data/deep/' + '/'.join(['d'] * {DEPTH})
os.makedirs(deep)
open(deep + '/leaf.txt', 'w').write('leaf')
os.chmod('/data/docs/sub', 0o555)
os.chmod('/data/docs', 0o555)
os.chmod('/data/hidden', 0o666)
os.chmod('/data/ro.txt', 0o444)
None
"""

# What came back: modes first (as they are), then contents (search permission given back first).
CHECK_TREE = f"""
import os, autosync
modes = {{p: oct(os.stat('/data/' + p).st_mode) for p in ['docs', 'docs/sub', 'hidden', 'ro.txt']}}
listed = sorted(os.listdir('/data/docs'))
os.chmod('/data/hidden', 0o755)
deep = '/data/deep/' + '/'.join(['d'] * {DEPTH})
result = [modes, listed, open('/data/docs/sub/notes.txt').read(),
          open('/data/to-docs/report.txt').read(), open('/data/hidden/x.txt').read(),
          open('/data/ro.txt').read(), open(deep + '/leaf.txt').read(),
          autosync.status('/data').restored['failed']]
os.chmod('/data/hidden', 0o666)
result
"""

EXPECTED_TREE = [
    {"docs": "0o40555", "docs/sub": "0o40555", "hidden": "0o40666", "ro.txt": "0o100444"},
    ["report.txt", "sub"],
    "notes",
    "report",
    "behind a directory without search permission",
    "read only",
    "leaf",
    [],
]


def test_saved_permissions_never_stop_a_restore_across_reloads_kills_and_restarts(session):
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python(MAKE_TREE)
    time.sleep(AFTER_DEBOUNCE_S)
    page = session.browser.reload(page)
    page.python(
        f"import autosync\nawait autosync.start('/data', debounce_ms={DEBOUNCE_MS}).ready()\nNone"
    )
    assert page.python(CHECK_TREE) == EXPECTED_TREE

    # stop() and start() again, then a change: the first flush after a restart must not erase
    # anything (it once rewrote the store from memory, and the children of a read-only directory,
    # never restored, were deleted for good).
    page.python(
        "await autosync.stop('/data')\n"
        f"await autosync.start('/data', debounce_ms={DEBOUNCE_MS}).ready()\n"
        "open('/data/after-restart.txt', 'w').write('x')\n"
        "None"
    )
    session.kill_after(AFTER_DEBOUNCE_S)
    page = session.restart(debounce_ms=DEBOUNCE_MS)
    assert page.python(CHECK_TREE) == EXPECTED_TREE
    assert page.python("open('/data/after-restart.txt').read()") == "x"


def test_the_mount_roots_mode_and_mtime_survive_a_kill(session):
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python(
        "import os\n"
        "open('/data/a.txt', 'w').write('a')\n"
        "os.chmod('/data', 0o700)\n"
        "os.utime('/data', (1_500_000_000, 1_500_000_000))\n"
        "None"
    )
    session.kill_after(AFTER_DEBOUNCE_S)
    page = session.restart(debounce_ms=DEBOUNCE_MS)
    assert page.python("import os\nst = os.stat('/data')\n[oct(st.st_mode), st.st_mtime]") == [
        "0o40700",
        1_500_000_000,
    ]


def test_a_child_created_in_a_directory_saves_the_directorys_new_mtime(session):
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python(
        "import os\nos.mkdir('/data/d')\nos.utime('/data/d', (1_000_000_000, 1_000_000_000))\nNone"
    )
    time.sleep(AFTER_DEBOUNCE_S)
    bumped = page.python(
        "import os\nopen('/data/d/child', 'w').write('c')\nstr(os.stat('/data/d').st_mtime_ns)"
    )
    assert int(bumped) > 1_000_000_000 * 10**9
    session.kill_after(AFTER_DEBOUNCE_S)
    page = session.restart(debounce_ms=DEBOUNCE_MS)
    assert page.python("import os\nstr(os.stat('/data/d').st_mtime_ns)") == bumped


def test_a_wall_clock_stepped_back_does_not_hold_back_saving(session):
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python("open('/data/before.txt', 'w').write('1')\nNone")
    # The clock steps back an hour right after the change (NTP, a user, a laptop waking up): the
    # change now looks as if it were made in the future. Date.now is what the browser and
    # Emscripten read for wall time; Python's monotonic clock does not move.
    page.raw.evaluate(
        "() => { const real = Date.now.bind(Date); Date.now = () => real() - 3600 * 1000; }"
    )
    page.python("open('/data/after.txt', 'w').write('2')\nNone")
    session.kill_after(AFTER_DEBOUNCE_S)
    page = session.restart(debounce_ms=DEBOUNCE_MS)
    assert page.python("[open('/data/before.txt').read(), open('/data/after.txt').read()]") == [
        "1",
        "2",
    ]


# A damaged record put straight into IndexedDB, beside autosync's own (key [root, name]).
INJECT_DAMAGED = """async () => {
  const db = await new Promise((ok, bad) => {
    const r = indexedDB.open('autosync:/data');
    r.onsuccess = () => ok(r.result);
    r.onerror = () => bad(r.error);
  });
  const tx = db.transaction(['nodes'], 'readwrite');
  tx.objectStore('nodes').put({id: 4242, mode: 0o100644, mtime: NaN, size: 0}, [0, 'nan-mtime']);
  tx.objectStore('nodes').put('not a record', [0, 'string-value']);
  await new Promise((ok) => (tx.oncomplete = ok));
  db.close();
}"""

STORED_NAMES = """async () => {
  const db = await new Promise((ok) => {
    const r = indexedDB.open('autosync:/data');
    r.onsuccess = () => ok(r.result);
  });
  const keys = await new Promise((ok) => {
    const q = db.transaction(['nodes']).objectStore('nodes').getAllKeys();
    q.onsuccess = () => ok(q.result);
  });
  db.close();
  return keys.filter((k) => k[0] === 0).map((k) => k[1]).sort();
}"""


def test_a_record_that_cannot_be_restored_is_reported_and_never_deleted_later(session):
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python("open('/data/good.txt', 'w').write('good')\nNone")
    time.sleep(AFTER_DEBOUNCE_S)
    page.raw.evaluate(INJECT_DAMAGED)
    page = session.browser.reload(page)
    failed = page.python(
        "import autosync, os\n"
        f"m = await autosync.start('/data', debounce_ms={DEBOUNCE_MS}).ready()\n"
        "[sorted(os.listdir('/data')), m.status().restored['failed']]"
    )
    assert failed == [
        ["good.txt"],
        ["nan-mtime: its mtime NaN is not a time", "string-value: its value is not a record"],
    ]
    # Saving goes on, through stop() and start(), and never touches them.
    page.python(
        "open('/data/new.txt', 'w').write('n')\n"
        "await autosync.flush()\n"
        "await autosync.stop('/data')\n"
        "open('/data/while-stopped.txt', 'w').write('s')\n"
        f"await autosync.start('/data', debounce_ms={DEBOUNCE_MS}).ready()\n"
        "await autosync.flush()\n"
        "None"
    )
    assert page.raw.evaluate(STORED_NAMES) == [
        "good.txt",
        "nan-mtime",
        "new.txt",
        "string-value",
        "while-stopped.txt",
    ]
    # Until asked for.
    assert page.python("await autosync.mounts()[-1].discard_damaged()") == 2
    assert page.raw.evaluate(STORED_NAMES) == ["good.txt", "new.txt", "while-stopped.txt"]


def test_fsync_asks_the_browser_for_a_strict_commit(session):
    page = session.start(debounce_ms=10**6, max_wait_ms=10**6)
    page.raw.evaluate(
        "() => {"
        "  window.asked = [];"
        "  const transaction = IDBDatabase.prototype.transaction;"
        "  IDBDatabase.prototype.transaction = function (stores, mode, options) {"
        "    if (mode === 'readwrite' && this.name === 'autosync:/data')"
        "      window.asked.push((options && options.durability) || 'default');"
        "    return transaction.apply(this, arguments);"
        "  };"
        "}"
    )
    page.python(
        "import os, autosync\n"
        "open('/data/a.txt', 'w').write('a')\n"
        "await autosync.flush()\n"
        "fd = os.open('/data/b.txt', os.O_WRONLY | os.O_CREAT)\n"
        "os.write(fd, b'durable')\n"
        "os.fsync(fd)\n"
        "os.close(fd)\n"
        "None"
    )
    assert page.raw.evaluate("window.asked") == ["default", "strict"]
