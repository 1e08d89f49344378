"""autosync in a dedicated Web Worker: the same guarantees as on the page, and the same data."""

from __future__ import annotations

import pytest
from e2e_timing import FLUSH_ALLOWANCE_S

pytestmark = pytest.mark.e2e

DEBOUNCE_MS = 300


@pytest.mark.needs_package("sqlite3")
def test_files_written_in_a_worker_survive_a_kill_and_reach_the_page(session):
    page = session.start(DEBOUNCE_MS, worker=True)
    # A worker scope has no document: the page-hide hooks must stay out of the way there.
    assert page.python(
        "import js\nhasattr(js, 'WorkerGlobalScope') and not hasattr(js, 'document')"
    )
    page.python(
        "import sqlite3\n"
        "open('/data/from-worker.txt', 'w').write('worker')\n"
        "db = sqlite3.connect('/data/w.db')\n"
        "db.execute('create table t (n)')\n"
        "db.executemany('insert into t values (?)', [(i,) for i in range(100)])\n"
        "db.commit()\n"
        "None"
    )
    session.kill_after(DEBOUNCE_MS / 1000 + FLUSH_ALLOWANCE_S)

    page = session.restart(worker=True)
    assert page.python("open('/data/from-worker.txt').read()") == "worker"

    page = session.start(DEBOUNCE_MS)
    assert page.python(
        "import sqlite3\n"
        "db = sqlite3.connect('/data/w.db')\n"
        "[db.execute('select count(*) from t').fetchone()[0],"
        " db.execute('pragma integrity_check').fetchone()[0],"
        " open('/data/from-worker.txt').read()]"
    ) == [100, "ok", "worker"]


def test_durable_fsync_in_a_worker_keeps_a_file_no_commit_could_save_before_a_kill(session):
    # Another tab holds the directory's Web Lock and never lets go (as a tab running Python that
    # never yields would): the worker's commits must wait for it, so when the browser is killed
    # right after os.fsync returns, only the journal in the Origin Private File System has the file.
    holder = session.open()
    holder.raw.evaluate(
        "() => { navigator.locks.request('autosync:/data', () => new Promise(() => {})); }"
    )
    never = 10**6
    page = session.start(never, never, worker=True, another_tab=True, durable_fsync=True)
    assert page.python(
        "import os, autosync\n"
        "fd = os.open('/data/synced.txt', os.O_WRONLY | os.O_CREAT, 0o644)\n"
        "os.write(fd, b'fsynced in a worker')\n"
        "os.fsync(fd)\n"
        "os.close(fd)\n"
        "[autosync.status().durable_fsync, autosync.status().state]"
    ) == [True, "waiting"]
    session.browser.kill()

    # Without the journal (a page's main thread), the file is not there: no commit landed.
    page = session.restart(debounce_ms=never, max_wait_ms=never)
    assert page.python("import os\nos.path.exists('/data/synced.txt')") is False
    page = session.start(never, never, worker=True, another_tab=True, durable_fsync=True)
    assert page.python(
        "import autosync\n"
        "await autosync.flush()\n"
        "[open('/data/synced.txt').read(), autosync.status().restored['failed']]"
    ) == ["fsynced in a worker", []]
    session.browser.kill()

    page = session.restart(debounce_ms=never, max_wait_ms=never)
    assert page.python("open('/data/synced.txt').read()") == "fsynced in a worker"
