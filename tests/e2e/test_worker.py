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
