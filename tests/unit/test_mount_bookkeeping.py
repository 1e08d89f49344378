"""The mount's flush loop on plain CPython, with an in-memory stand-in for the JavaScript half.

The real hooks and IndexedDB are exercised in tests/pyodide and tests/e2e; these tests pin the
Python-side bookkeeping: what stays pending after a failure, backoff, stop and status.
"""

from __future__ import annotations

import asyncio

import pytest
from stand_in import NO_TIMERS, Backend, run, run_to_end, started

from autosync.config import resolve
from autosync.errors import FlushError, RestoreError
from autosync.mount import Mount, RestoreProgress


def test_background_loop_saves_a_change_after_the_debounce():
    async def scenario():
        b = Backend()
        m = await started(b, debounce_ms=10, max_wait_ms=50).ready()
        b.change("a.txt")
        for _ in range(100):
            if b.saved:
                break
            await asyncio.sleep(0.01)
        assert b.saved == [["a.txt"]]
        assert m.status().state == "idle" and m.status().flush_count == 1
        await m.stop()

    run(scenario())


def test_failed_flush_keeps_changes_pending_and_reports_the_error():
    async def scenario():
        b = Backend()
        m = await started(b, **NO_TIMERS).ready()
        b.change("a.txt")
        b.fail_next = 1
        with pytest.raises(FlushError, match="QuotaExceededError"):
            await m.flush()
        s = m.status()
        assert s.state == "retrying" and s.dirty and s.pending_changes == 1
        assert "QuotaExceededError" in (s.last_error or "")
        assert s.consecutive_failures == 1
        assert b.held_ms == [10**6]  # write-path flushes wait out the same backoff
        await m.flush()
        assert b.saved == [["a.txt"]]
        s = m.status()
        assert s.state == "idle" and s.consecutive_failures == 0 and not s.dirty
        await m.stop()

    run(scenario())


def test_background_failures_are_retried_until_saved():
    async def scenario():
        b = Backend()
        m = await started(b, debounce_ms=1, max_wait_ms=5, retry_min_ms=5, retry_max_ms=10).ready()
        b.fail_next = 3
        b.change("x")
        for _ in range(200):
            if b.saved:
                break
            await asyncio.sleep(0.01)
        assert b.saved == [["x"]]
        assert m.status().consecutive_failures == 0
        await m.stop()

    run(scenario())


def test_stop_saves_pending_changes_then_detaches():
    async def scenario():
        b = Backend()
        m = await started(b, **NO_TIMERS).ready()
        b.change("late.txt")
        await m.stop()
        assert b.saved == [["late.txt"]]
        assert b.detached and m.status().state == "stopped"

    run(scenario())


def test_stop_whose_final_save_fails_keeps_running():
    async def scenario():
        b = Backend()
        m = await started(b, **NO_TIMERS).ready()
        b.change("x")
        b.fail_next = 1
        with pytest.raises(FlushError):
            await m.stop()
        assert not b.detached and m.status().state == "retrying"
        await m.stop()
        assert b.saved == [["x"]] and b.detached

    run(scenario())


@pytest.mark.parametrize("blocking", [False, True], ids=["in_background", "blocking"])
def test_failed_restore_detaches_reports_and_allows_a_new_start(blocking):
    async def scenario():
        b = Backend()
        b.restore_error = RuntimeError("UnknownError: Internal error opening backing store")
        m = Mount(resolve({"path": "/data"}, environ={}), b)
        if blocking:  # where pyodide.ffi.can_run_sync(): start() itself raises
            with pytest.raises(RestoreError, match="backing store"):
                m.begin(blocking=True, run_sync=run_to_end)
        else:
            m.begin(blocking=False, run_sync=run_to_end)
        with pytest.raises(RestoreError, match="backing store"):
            await m.ready()
        status = m.status()
        assert status.state == "failed" and "restore failed" in (status.last_error or "")
        assert b.detached and m.restartable and not m.stopped
        b.change("x")
        with pytest.raises(RestoreError):  # nothing is saved over data that could not be read
            await m.flush()
        await m.stop()
        assert b.saved == [] and m.status().state == "stopped"

    run(scenario())


def test_module_flush_and_stop_skip_a_mount_whose_restore_failed(monkeypatch):
    import autosync

    async def scenario():
        broken, healthy = Backend(), Backend()
        broken.restore_error = RuntimeError("UnknownError: Internal error opening backing store")
        failed = Mount(resolve({"path": "/a"}, environ={}), broken)
        failed.begin(blocking=False, run_sync=run_to_end)
        running = Mount(resolve({"path": "/b", **NO_TIMERS}, environ={}), healthy)
        running.begin(blocking=False, run_sync=run_to_end)
        monkeypatch.setattr(autosync, "_mounts", {"/a": failed, "/b": running})
        with pytest.raises(RestoreError):
            await failed.ready()
        await running.ready()
        healthy.change("x")
        await autosync.flush()
        assert healthy.saved == [["x"]]
        with pytest.raises(RestoreError):  # named, it still reports its failure
            await autosync.flush("/a")
        await autosync.stop()
        assert running.status().state == "stopped" and failed.status().state == "failed"

    run(scenario())


def test_restore_progress_reaches_the_callback_and_the_status():
    async def scenario():
        seen: list[RestoreProgress] = []
        b = Backend()
        m = Mount(resolve({"path": "/data", **NO_TIMERS}, environ={}), b, on_progress=seen.append)
        m.begin(blocking=False, run_sync=run_to_end)
        await m.ready()
        assert seen == [RestoreProgress(1, 2, 10, 20), RestoreProgress(2, 2, 20, 20)]
        assert m.status().restore_progress == RestoreProgress(2, 2, 20, 20)
        assert b.started
        await m.stop()

    run(scenario())


def test_a_failing_progress_callback_does_not_fail_the_restore(caplog):
    def broken(progress: RestoreProgress) -> None:
        raise ValueError("display gone")

    async def scenario():
        m = Mount(
            resolve({"path": "/data", **NO_TIMERS}, environ={}), Backend(), on_progress=broken
        )
        m.begin(blocking=False, run_sync=run_to_end)
        await m.ready()
        assert m.status().state == "idle"
        await m.stop()

    run(scenario())
    assert "on_progress callback failed" in caplog.text


def test_the_handle_is_not_awaitable_and_ready_returns_it():
    # JavaScript takes any Python awaitable for a promise: a handle that awaited to itself, returned
    # from runPythonAsync, would be adopted again and again and never settle.
    async def scenario():
        m = started(Backend(), **NO_TIMERS)
        assert not hasattr(m, "__await__")
        assert await m.ready() is m
        await m.stop()

    run(scenario())


def test_one_warning_per_streak_of_failures_and_a_note_when_saving_works_again(caplog):
    async def scenario():
        b = Backend()
        m = await started(b, **NO_TIMERS).ready()
        b.change("a.txt")
        b.fail_next = 3
        for _ in range(3):
            with pytest.raises(FlushError):
                await m.flush()
        await m.flush()
        await m.stop()

    with caplog.at_level("DEBUG", logger="autosync"):
        run(scenario())
    failures = [r for r in caplog.records if "flush failed" in r.getMessage()]
    assert [r.levelname for r in failures] == ["WARNING", "DEBUG", "DEBUG"]
    assert any(
        r.levelname == "INFO" and "saving works again after 3 failed attempts" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("kind", ["unavailable", "blocked"])
def test_indexeddb_refused_at_start_is_a_storage_unavailable_error(kind):
    from autosync._pyodide import JsFailure
    from autosync.errors import StorageUnavailableError

    async def scenario():
        b = Backend()
        b.restore_error = JsFailure("SecurityError: The operation is insecure.", kind)
        m = Mount(resolve({"path": "/data"}, environ={}), b)
        m.begin(blocking=False, run_sync=run_to_end)
        with pytest.raises(StorageUnavailableError) as caught:
            await m.ready()
        message = str(caught.value)
        assert "IndexedDB, the browser's storage, is unavailable here" in message
        assert "SecurityError: The operation is insecure." in message
        assert "stay in memory only" in message
        assert m.status().state == "failed" and b.detached

    run(scenario())
