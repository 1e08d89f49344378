"""When the browser's storage fails, in real Chromium: a full disk (quota, through the DevTools
protocol), IndexedDB refused or blocked at start, and failures injected into real transactions (a
request refused mid-flush, a commit never reported). Nothing hangs, nothing half-written is kept,
the errors say what happened, and what was saved before survives a kill."""

from __future__ import annotations

import time

import pytest
from e2e_timing import FLUSH_ALLOWANCE_S, HANG_S
from page_log import COLLECT_LOG

pytestmark = pytest.mark.e2e

DEBOUNCE_MS = 200
AFTER_DEBOUNCE_S = DEBOUNCE_MS / 1000 + FLUSH_ALLOWANCE_S
SMALL = 32 * 1024  # below the size over which Chromium keeps a value in a file of its own


def storage(page):
    """A DevTools session on the page (Storage.* works on a page session, not a browser one)."""
    cdp = page.raw.context.new_cdp_session(page.raw)
    origin = page.raw.evaluate("location.origin")
    return cdp, origin


def test_a_full_disk_is_reported_retried_and_saved_once_space_is_freed(session):
    settings = {"debounce_ms": DEBOUNCE_MS, "retry_min_ms": 200, "retry_max_ms": 400}
    page = session.open()
    # Little room, set before IndexedDB is first opened: Chromium's IndexedDB asks how much space
    # is left when it opens a database and then only every half minute or so, counting what it
    # writes meanwhile. It checks at commit for values kept in the database (a Blob's bytes, and
    # any value over 64 KiB, which Chromium keeps in a file beside it, count only afterwards): the
    # test fills the disk with files small enough to be kept inline, and random, since Chromium
    # compresses values.
    cdp, origin = storage(page)
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": 4 * SMALL})
    page.python(
        "import autosync, os\n"
        f"await autosync.start('/data', {', '.join(f'{k}={v}' for k, v in settings.items())}).ready()\n"
        "open('/data/before.txt', 'w').write('saved before')\n"
        "await autosync.flush()"
    )
    page.python(COLLECT_LOG)
    written, failed = 0, "saved"
    while failed == "saved":
        written += 1
        assert written <= 8, "the disk never filled"
        page.python(f"open('/data/big{written}.bin', 'wb').write(os.urandom({SMALL}))\nNone")
        started = time.monotonic()
        failed = page.python(
            "try:\n"
            "    await autosync.flush()\n"
            "    result = 'saved'\n"
            "except autosync.FlushError as e:\n"
            "    result = str(e)\n"
            "result"
        )
    took = time.monotonic() - started
    assert "the browser's storage for this site is full" in failed, failed
    assert "QuotaExceededError" in failed and " MB used of " in failed, failed
    assert took < HANG_S, f"flush() took {took:.1f} s to fail"
    time.sleep(2)  # several background retries (every 200-400 ms), all failing
    status = page.python(
        "s = autosync.status('/data')\n"
        "[s.state, s.last_error, s.consecutive_failures, s.pending_changes, s.quota]"
    )
    assert status[0] == "retrying" and "storage for this site is full" in status[1], status
    assert status[2] >= 3 and status[3] >= 1 and isinstance(status[4], int), status
    warnings = page.python(
        "[m for level, m in collected.seen if level == 'WARNING' and 'flush failed' in m]"
    )
    assert len(warnings) == 1, warnings  # one per streak, not per retry
    # Space comes back: the next retry saves everything pending, without being asked.
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin})
    deadline = time.monotonic() + HANG_S
    while page.python("autosync.status('/data').state") != "idle":
        assert time.monotonic() < deadline, "the retries did not save once space came back"
        time.sleep(0.1)
    assert page.python("[m for level, m in collected.seen if 'saving works again' in m]"), (
        "no note that saving works again"
    )
    session.kill_after(0)
    page = session.restart(debounce_ms=DEBOUNCE_MS)
    assert (
        page.python(
            "import os\n[open('/data/before.txt').read()]"
            f" + [os.path.getsize(f'/data/big{{i}}.bin') for i in range(1, {written + 1})]"
        )
        == ["saved before"] + [SMALL] * written
    )


def test_status_shows_the_browsers_storage(session):
    page = session.start(DEBOUNCE_MS)
    persisted, usage, quota = page.python(
        "s = autosync.status('/data')\n[s.persisted, s.usage, s.quota]"
    )
    assert isinstance(persisted, bool)
    assert isinstance(usage, int) and isinstance(quota, int) and quota > 0


def test_indexeddb_refused_at_start_says_so_and_keeps_the_files_in_memory(session):
    page = session.open()
    page.raw.evaluate(
        "() => { indexedDB.open = () => {"
        "  throw new DOMException('The operation is insecure.', 'SecurityError'); }; }"
    )
    result = page.python(
        "import autosync, os\n"
        "os.makedirs('/data')\n"
        "try:\n"
        "    autosync.start('/data')\n"
        "    result = 'started'\n"
        "except autosync.StorageUnavailableError as e:\n"
        "    result = str(e)\n"
        "open('/data/kept.txt', 'w').write('in memory')\n"
        "[result, open('/data/kept.txt').read(), autosync.status('/data').state]"
    )
    assert "IndexedDB, the browser's storage, is unavailable here" in result[0]
    assert "SecurityError: The operation is insecure." in result[0]
    assert result[1:] == ["in memory", "failed"]


def test_indexeddb_blocked_by_a_tab_holding_an_older_version_fails_within_seconds(session):
    holder = session.open()
    # An old tab that opened the database at format 2's version and never closes it.
    holder.raw.evaluate(
        "() => new Promise((ok) => {"
        "  const r = indexedDB.open('autosync:/data', 2);"
        "  r.onupgradeneeded = () => ['entries', 'chunks', 'meta'].forEach("
        "    (s) => r.result.createObjectStore(s));"
        "  r.onsuccess = () => { window.held = r.result; ok(); };"
        "})"
    )
    page = session.open(another_tab=True)
    started = time.monotonic()
    result = page.python(
        "import autosync\n"
        "try:\n"
        "    autosync.start('/data')\n"
        "    result = 'started'\n"
        "except autosync.StorageUnavailableError as e:\n"
        "    result = str(e)\n"
        "result"
    )
    took = time.monotonic() - started
    assert "held open in an older version by another tab or worker" in result, result
    assert took < HANG_S, f"took {took:.1f} s"


def test_a_request_refused_inside_a_flush_leaves_nothing_of_it_stored(session):
    page = session.start(10**6, 10**6)
    page.python(
        "import os\nopen('/data/big.bin', 'wb').write(b'1' * (3 * 256 * 1024))\n"
        "await autosync.flush()\nNone"
    )
    result = page.python(
        "from autosync import _pyodide\n"
        "with open('/data/big.bin', 'r+b') as f:\n"
        "    f.seek(2 * 256 * 1024)\n"
        "    f.write(b'2' * 1000)\n"
        "open('/data/new.txt', 'w').write('new')\n"
        "_pyodide._js_api().faults.fail = 1\n"
        "try:\n"
        "    await autosync.flush()\n"
        "    result = 'saved'\n"
        "except autosync.FlushError as e:\n"
        "    result = str(e)\n"
        "s = autosync.status('/data')\n"
        "[result, s.state, s.pending_changes]"
    )
    assert "ConstraintError" in result[0] and result[1:] == ["retrying", 2], result
    session.kill_after(0)  # before any retry could save it
    page = session.restart(debounce_ms=10**6, max_wait_ms=10**6)
    assert page.python(
        "import os\nd = open('/data/big.bin', 'rb').read()\n"
        "[os.path.exists('/data/new.txt'), d.count(b'2'), len(d)]"
    ) == [False, 0, 3 * 256 * 1024]


def test_a_flush_never_reported_as_settled_is_given_up_on_and_the_next_one_saves(session):
    page = session.start(10**6, 10**6)
    result = page.python(
        "from autosync import _pyodide\n"
        "faults = _pyodide._js_api().faults\n"
        "faults.hang = 1\n"
        "faults.stallMs = 1000\n"
        "open('/data/a.txt', 'w').write('a')\n"
        "try:\n"
        "    await autosync.flush()\n"
        "    result = 'saved'\n"
        "except autosync.FlushError as e:\n"
        "    result = str(e)\n"
        "faults.stallMs = None\n"
        "s = autosync.status('/data')\n"
        "first = [result, s.state, s.stalled_flushes]\n"
        "await autosync.flush()\n"
        "first + [autosync.status('/data').state]"
    )
    assert "did not finish saving within 1 s" in result[0], result
    assert result[1:] == ["retrying", 1, "idle"], result
    session.kill_after(0)
    page = session.restart(debounce_ms=10**6, max_wait_ms=10**6)
    assert page.python("open('/data/a.txt').read()") == "a"
