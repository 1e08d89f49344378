"""Files under an autosync directory survive reloads and SIGKILLed browsers, with no flush call."""

from __future__ import annotations

import hashlib
import random
import time

import pytest
from e2e_timing import FLUSH_ALLOWANCE_S, HANG_S

pytestmark = pytest.mark.e2e

DEBOUNCE_MS = 300
MAX_WAIT_MS = 1000
AFTER_DEBOUNCE_S = DEBOUNCE_MS / 1000 + FLUSH_ALLOWANCE_S


# Every entry below /data with what a restore must bring back: kind, size and mtime (a symlink's own).
TREE = """
import os
tree = {}
for where, dirs, files in os.walk('/data'):
    for name in dirs + files:
        path = os.path.join(where, name)
        st = os.lstat(path)
        tree[path] = [oct(st.st_mode), st.st_size, st.st_mtime]
tree
"""


@pytest.mark.every_pyodide
def test_nested_directories_survive_reload_with_their_times(session):
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python(
        "import os\n"
        "os.makedirs('/data/projects/2024/drafts')\n"
        "open('/data/projects/2024/drafts/plan.md', 'w').write('# plan')\n"
        "open('/data/projects/readme.txt', 'w').write('hello')\n"
        "os.symlink('projects/readme.txt', '/data/latest')\n"
        "os.utime('/data/projects/2024', (1_600_000_000, 1_600_000_000))\n"
        "None"
    )
    before = page.python(TREE)
    time.sleep(AFTER_DEBOUNCE_S)
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)  # loads the page anew: a reload
    assert page.python(TREE) == before


@pytest.mark.engines("chromium", "firefox", "webkit", "webkit-ephemeral")
def test_config_json_survives_reload_without_flush(session):
    page = session.open()
    start = session.start_call("debounce_ms=500")
    page.python(
        f"import autosync\n{start}\n"
        "open('/data/config.json', 'w').write('{\"theme\": \"dark\"}')\n"
        "None"
    )
    time.sleep(0.5 + FLUSH_ALLOWANCE_S)
    page = session.browser.reload(page)
    assert (
        page.python(f"import autosync\n{start}\nopen('/data/config.json').read()")
        == '{"theme": "dark"}'
    )


@pytest.mark.engines("chromium", "webkit-ephemeral")
def test_file_of_several_chunks_survives_reload_without_flush(session):
    # Over 256 KiB: stored as chunks (Blobs where the browser can store them). WebKit's in-memory
    # IndexedDB (Safari's Private Browsing) refuses Blobs: the flush must neither hang nor lose it.
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python(
        "import hashlib\n"
        "data = hashlib.sha256(b'seed').digest() * (800 * 1024 // 32)  # 800 KiB: 4 chunks\n"
        "open('/data/big.bin', 'wb').write(data)\n"
        "open('/data/small.txt', 'w').write('next to it')\n"
        "None"
    )
    time.sleep(AFTER_DEBOUNCE_S)
    before_reload = page.python(
        "s = autosync.status('/data')\n[s.state, s.last_error, s.ephemeral]"
    )
    # autosync tells in-memory storage (it refuses Blobs) from storage on disk.
    assert before_reload[2] == (session.browser.name == "webkit-ephemeral"), before_reload
    page = session.browser.reload(page)
    restored = page.python(
        "import asyncio, autosync, hashlib\n"
        "async def restore():\n"
        f"    await autosync.start('/data', debounce_ms={DEBOUNCE_MS}, max_wait_ms={MAX_WAIT_MS}).ready()\n"
        "    data = open('/data/big.bin', 'rb').read()\n"
        "    return [len(data), hashlib.sha256(data).hexdigest(), open('/data/small.txt').read()]\n"
        "try:\n"
        f"    result = await asyncio.wait_for(restore(), {HANG_S})\n"
        "except TimeoutError:\n"
        "    s = autosync.status('/data')\n"
        f"    result = f'restore still running after {HANG_S} s: {{s.state}}, {{s.last_error}}'\n"
        "result"
    )
    big = hashlib.sha256(b"seed").digest() * (800 * 1024 // 32)
    expected = [len(big), hashlib.sha256(big).hexdigest(), "next to it"]
    assert restored == expected, (
        f"before the reload autosync was {before_reload} [state, last_error, ephemeral]"
    )


def test_page_hide_starts_a_flush_before_the_debounce(session):
    # A real reload tears the page down while the transaction may still be running (best effort,
    # see README); dispatching the event checks deterministically that hiding the page saves.
    page = session.start(debounce_ms=60_000, max_wait_ms=60_000)
    page.python("open('/data/last-second.txt', 'w').write('saved on pagehide')\nNone")
    page.raw.evaluate("window.dispatchEvent(new Event('pagehide'))")
    session.kill_after(FLUSH_ALLOWANCE_S)
    page = session.restart()
    assert page.python("open('/data/last-second.txt').read()") == "saved on pagehide"


@pytest.mark.engines("chromium", "firefox", "webkit")
def test_file_survives_browser_kill_after_debounce(session):
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python("open('/data/config.json', 'w').write('{}')\nNone")
    session.kill_after(AFTER_DEBOUNCE_S)
    page = session.restart()
    assert page.python("open('/data/config.json').read()") == "{}"


@pytest.mark.every_pyodide
@pytest.mark.needs_package("sqlite3")
@pytest.mark.engines("chromium", "firefox", "webkit")
def test_open_sqlite_connection_survives_kill(session):
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python(
        "import sqlite3\n"
        "db = sqlite3.connect('/data/app.db')\n"
        "db.execute('create table t (n integer, s text)')\n"
        "db.executemany('insert into t values (?, ?)', [(i, 'x' * i) for i in range(500)])\n"
        "db.commit()\n"
        "None"
    )  # the connection stays open: the file is never closed before the kill
    session.kill_after(AFTER_DEBOUNCE_S)
    page = session.restart()
    assert page.python(
        "import sqlite3\n"
        "db = sqlite3.connect('/data/app.db')\n"
        "[db.execute('select count(*), sum(n) from t').fetchone(),"
        " db.execute('pragma integrity_check').fetchone()[0]]"
    ) == [[500, sum(range(500))], "ok"]


def test_steady_writer_killed_at_random_loses_at_most_max_wait(session):
    interval_s = 0.05
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python(
        "import asyncio, json, time\n"
        "async def writer():\n"
        "    i = 0\n"
        "    while True:\n"
        "        i += 1\n"
        "        with open('/data/counter.json', 'w') as f:\n"
        "            json.dump({'i': i, 'at': time.time()}, f)\n"
        f"        await asyncio.sleep({interval_s})\n"
        "writer_task = asyncio.ensure_future(writer())\n"
        "None"
    )
    delay = random.Random().uniform(2.0, 6.0)
    time.sleep(delay)
    killed_at = time.time()
    session.browser.kill()
    page = session.restart()
    saved = page.python("import json\njson.load(open('/data/counter.json'))")
    age = killed_at - saved["at"]
    assert saved["i"] > 1
    # the first write after the saved one is the oldest unsaved change; it is at most max_wait
    # (plus one flush) old at the kill
    assert age <= MAX_WAIT_MS / 1000 + FLUSH_ALLOWANCE_S + interval_s, (
        f"killed {delay:.2f} s into the run; saved state was {age:.2f} s old"
    )


def test_two_writes_in_the_same_millisecond_are_both_saved(session):
    page = session.start(DEBOUNCE_MS, MAX_WAIT_MS)
    page.python(
        "import autosync, os\n"
        "p = '/data/same-ms.txt'\n"
        "open(p, 'w').write('first')\n"
        "await autosync.flush()\n"
        "t = os.stat(p).st_mtime_ns\n"
        "open(p, 'r+').write('SECOND')\n"
        "os.utime(p, ns=(t, t))  # same mtime as the saved copy: mtime-based sync would skip it\n"
        "None"
    )
    session.kill_after(AFTER_DEBOUNCE_S)
    page = session.restart()
    assert page.python("open('/data/same-ms.txt').read()") == "SECOND"


def test_data_saved_by_plain_idbfs_is_restored(session):
    page = session.open()
    page.python(
        "import os, pyodide_js\n"
        "from pyodide.code import run_js\n"
        "os.makedirs('/data')\n"
        "pyodide_js.FS.mount(pyodide_js.FS.filesystems.IDBFS, {}, '/data')\n"
        "os.makedirs('/data/docs')\n"
        "open('/data/docs/readme.txt', 'w').write('from idbfs')\n"
        "os.symlink('docs/readme.txt', '/data/link')\n"
        "sync = run_js('(FS) => new Promise((ok, bad) => FS.syncfs(false, e => e ? bad(e) : ok()))')\n"
        "await sync(pyodide_js.FS)\n"
        "None"
    )
    session.browser.kill()
    page = session.restart()
    assert page.python(
        "import os\n"
        "[open('/data/docs/readme.txt').read(), os.readlink('/data/link'),"
        " autosync.status('/data').restored['migrated']]"
    ) == ["from idbfs", "docs/readme.txt", 3]
