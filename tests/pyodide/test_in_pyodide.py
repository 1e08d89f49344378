"""autosync inside real Pyodide, in Node (fake-indexeddb) and in Chromium (real IndexedDB).

Each test uses its own directory: the ``selenium`` fixture shares one Pyodide per module.
"""

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["autosync"])
async def test_start_returns_an_awaitable_handle_that_saves_changes(selenium):
    import autosync

    m = autosync.start("/t-handle", debounce_ms=10, max_wait_ms=100)
    assert await m.ready() is m
    assert m.status().state == "idle"
    with open("/t-handle/a.txt", "w") as f:
        f.write("hello")
    s = m.status()
    assert s.dirty and s.pending_changes >= 1
    await autosync.flush("/t-handle")
    s = autosync.status("/t-handle")
    assert not s.dirty and s.flush_count >= 1 and s.last_flush_at is not None
    await m.stop()
    assert m.status().state == "stopped"


@run_in_pyodide(packages=["autosync"])
async def test_restore_never_overwrites_files_written_before_it_completes(selenium):
    import os

    import pyodide_js

    import autosync

    m = await autosync.start("/t-early").ready()
    for name in ("a.txt", "b.txt"):
        with open(f"/t-early/{name}", "w") as f:
            f.write("saved")
    await m.stop()
    pyodide_js.FS.unmount("/t-early")  # forget the files in memory, as a reload would
    assert os.listdir("/t-early") == []

    # runPython cannot block on the restore, so it runs in the background while we write
    pyodide_js.runPython(
        "import autosync\nautosync.start('/t-early')\nopen('/t-early/a.txt', 'w').write('local')\n"
    )
    m2 = autosync.mounts()[-1]
    assert m2 is not m
    await m2.ready()
    assert open("/t-early/a.txt").read() == "local"
    assert open("/t-early/b.txt").read() == "saved"
    assert m2.status().restored["kept"] == 1
    await m2.stop()

    pyodide_js.FS.unmount("/t-early")
    await autosync.start("/t-early").ready()
    assert open("/t-early/a.txt").read() == "local"
    await autosync.stop("/t-early")


@run_in_pyodide(packages=["autosync"])
async def test_stop_leaves_emscripten_operations_as_they_were(selenium):
    import os

    import pyodide_js
    from pyodide.code import run_js

    import autosync

    ops_of = run_js(
        "(FS, path, fd) => {"
        "  const memfs = FS.filesystems.MEMFS.ops_table.file;"
        "  const node = FS.lookupPath(path).node;"
        "  return [node.node_ops === memfs.node, node.stream_ops === memfs.stream,"
        "          FS.streams[fd].stream_ops === memfs.stream];"
        "}"
    )
    m = await autosync.start("/t-stop").ready()
    f = open("/t-stop/open.log", "w")  # stays open across stop()
    f.write("x")
    f.flush()
    assert list(ops_of(pyodide_js.FS, "/t-stop/open.log", f.fileno())) == [False, False, False]
    await m.stop()
    assert list(ops_of(pyodide_js.FS, "/t-stop/open.log", f.fileno())) == [True, True, True]
    f.write("after stop")
    f.flush()
    assert m.status().pending_changes == 0

    # start() again resumes saving, with the files in place
    m2 = await autosync.start("/t-stop").ready()
    assert os.listdir("/t-stop") == ["open.log"]
    await m2.flush()  # what changed while stopped
    f.write("!")
    f.flush()
    assert m2.status().pending_changes == 1
    f.close()
    await m2.stop()


@run_in_pyodide(packages=["autosync"])
async def test_failed_flush_keeps_changes_pending_and_recovers(selenium):
    import pytest

    import autosync

    m = await autosync.start("/t-fail", debounce_ms=60000, max_wait_ms=60000).ready()
    with open("/t-fail/a.txt", "w") as f:
        f.write("kept")
    m._backend._js.db.close()  # IndexedDB refuses every transaction on a closed connection
    with pytest.raises(autosync.FlushError, match="InvalidStateError"):
        await m.flush()
    s = m.status()
    assert s.state == "retrying" and s.dirty and s.pending_changes == 1
    assert "InvalidStateError" in s.last_error
    with open("/t-fail/a.txt", "a") as f:  # writing never raises, whatever the store does
        f.write("!")
    await m.flush()  # reconnects
    s = m.status()
    assert s.state == "idle" and not s.dirty and s.consecutive_failures == 0
    await m.stop()


@run_in_pyodide(packages=["autosync"])
async def test_bad_mount_points_are_refused_and_nothing_is_lost(selenium):
    import os

    import pytest

    import autosync

    m = await autosync.start("/t-bad", debounce_ms=100).ready()
    assert autosync.start("/t-bad/", debounce_ms=100) is m
    with pytest.raises(autosync.ConfigError, match=r"debounce_ms: 100\.0 now, 200\.0 asked"):
        autosync.start("/t-bad", debounce_ms=200)
    with pytest.raises(autosync.MountError, match="inside the autosync directory '/t-bad'"):
        autosync.start("/t-bad/inner")
    inner = await autosync.start("/t-outer/inner").ready()
    with pytest.raises(
        autosync.MountError, match="contains the autosync directory '/t-outer/inner'"
    ):
        autosync.start("/t-outer")
    await inner.stop()
    with open("/t-file", "w") as f:
        f.write("keep me")
    with pytest.raises(autosync.MountError, match="is a file"):
        autosync.start("/t-file")
    assert open("/t-file").read() == "keep me"
    os.makedirs("/t-full")
    with open("/t-full/x", "w") as f:
        f.write("keep me too")
    with pytest.raises(autosync.MountError, match="already holds 1 entries"):
        autosync.start("/t-full")
    assert open("/t-full/x").read() == "keep me too"
    with pytest.raises(autosync.ConfigError, match="must be absolute"):
        autosync.start("t-rel")
    with pytest.raises(autosync.ConfigError, match="debounce_ms"):
        autosync.start("/t-x", debounce_ms="soon")
    await m.stop()


@run_in_pyodide(packages=["autosync"])
def test_durable_fsync_outside_a_dedicated_worker_is_refused(selenium):
    import pytest

    import autosync

    # Node and a page's main thread have no synchronous access to the Origin Private File System.
    with pytest.raises(
        autosync.ConfigError,
        match=r"durable_fsync=True \(argument\) needs .* in dedicated Web Workers only",
    ):
        autosync.start("/t-durable", durable_fsync=True)
    assert "/t-durable" not in [mount.path for mount in autosync.mounts()]


@run_in_pyodide(packages=["autosync"])
async def test_data_from_a_newer_format_is_refused_and_left_untouched(selenium):
    import os

    import pyodide_js
    import pytest
    from pyodide.code import run_js

    import autosync

    store = run_js(
        "(action) => new Promise((ok, bad) => {"
        "  const r = indexedDB.open('autosync:/t-newer');"
        "  r.onupgradeneeded = () => { r.result.createObjectStore('entries');"
        "                              r.result.createObjectStore('meta'); };"
        "  r.onerror = () => bad(r.error);"
        "  r.onsuccess = () => {"
        "    const db = r.result, tx = db.transaction(['entries', 'meta'], 'readwrite');"
        "    if (action === 'write') {"
        "      tx.objectStore('meta').put({version: 99}, 'format');"
        "      tx.objectStore('entries').put({mode: 33188, mtime: 0, future: true}, 'x');"
        "    } else if (action === 'downgrade') {"
        "      tx.objectStore('meta').put({version: 1}, 'format');"
        "    }"
        "    const get = tx.objectStore('meta').get('format');"
        "    tx.oncomplete = () => { db.close(); ok(get.result.version); };"
        "  };"
        "})"
    )
    assert await store("write") == 99
    with pytest.raises(autosync.RestoreError, match="newer autosync \\(storage format 99"):
        await autosync.start("/t-newer").ready()
    assert autosync.status("/t-newer").state == "failed"
    with open("/t-newer/local.txt", "w") as f:  # not saved, and saving it must not downgrade
        f.write("local")
    assert await store("read") == 99

    # Once the data is readable, start() restores it and adds what was written meanwhile to it.
    assert await store("downgrade") == 1
    m = await autosync.start("/t-newer").ready()
    assert sorted(os.listdir("/t-newer")) == ["local.txt", "x"]
    await m.stop()
    pyodide_js.FS.unmount("/t-newer")  # forget the files in memory, as a reload would
    await autosync.start("/t-newer").ready()
    assert sorted(os.listdir("/t-newer")) == ["local.txt", "x"]
    assert open("/t-newer/local.txt").read() == "local"
    await autosync.stop("/t-newer")


@run_in_pyodide(packages=["autosync"])
async def test_start_after_stop_saves_what_changed_while_stopped(selenium):
    import os

    import pyodide_js

    import autosync

    m = await autosync.start("/t-resume").ready()
    for name in ("keep.txt", "gone.txt", "sub/deep.txt"):
        os.makedirs(os.path.dirname(f"/t-resume/{name}"), exist_ok=True)
        with open(f"/t-resume/{name}", "w") as f:
            f.write("v1")
    await m.stop()
    # Nothing is tracked while stopped; start() must still save exactly this state.
    with open("/t-resume/keep.txt", "w") as f:
        f.write("v2")
    os.remove("/t-resume/gone.txt")
    os.remove("/t-resume/sub/deep.txt")
    os.rmdir("/t-resume/sub")
    with open("/t-resume/new.txt", "w") as f:
        f.write("new")

    m = await autosync.start("/t-resume").ready()
    assert sorted(os.listdir("/t-resume")) == ["keep.txt", "new.txt"]  # nothing came back
    assert m.status().dirty
    await m.stop()
    pyodide_js.FS.unmount("/t-resume")  # forget the files in memory, as a reload would
    await autosync.start("/t-resume").ready()
    assert sorted(os.listdir("/t-resume")) == ["keep.txt", "new.txt"]
    assert open("/t-resume/keep.txt").read() == "v2"
    await autosync.stop("/t-resume")


@run_in_pyodide(packages=["autosync"])
async def test_a_name_freed_after_a_rename_over_it_can_be_used_again_and_is_saved(selenium):
    # The atomic-save pattern: write a temporary file and rename it over the target. MEMFS before
    # Emscripten 4.0 (Pyodide 0.27) kept the replaced file in its name table, so once the name
    # was free again, O_EXCL failed and a plain open() wrote into the replaced file: listed
    # nowhere, saved nowhere.
    import os

    import pyodide_js

    import autosync

    m = await autosync.start("/t-replace").ready()
    for name, text in (("a", "old a"), ("a.tmp", "new a"), ("b", "old b"), ("b.tmp", "new b")):
        with open(f"/t-replace/{name}", "w") as f:
            f.write(text)
    os.replace("/t-replace/a.tmp", "/t-replace/a")
    os.replace("/t-replace/b.tmp", "/t-replace/b")
    os.remove("/t-replace/a")
    os.rename("/t-replace/b", "/t-replace/b.bak")
    with open("/t-replace/a", "w") as f:
        f.write("a again")
    with open("/t-replace/b", "x") as f:
        f.write("b again")
    assert sorted(os.listdir("/t-replace")) == ["a", "b", "b.bak"]
    await m.stop()
    pyodide_js.FS.unmount("/t-replace")  # forget the files in memory, as a reload would
    await autosync.start("/t-replace").ready()
    saved = {n: open(f"/t-replace/{n}").read() for n in sorted(os.listdir("/t-replace"))}
    assert saved == {"a": "a again", "b": "b again", "b.bak": "new b"}
    await autosync.stop("/t-replace")


@run_in_pyodide(packages=["autosync"])
async def test_a_directory_cannot_be_moved_into_itself_through_a_symlink(selenium):
    # Emscripten's rename checks "not into itself" on the paths as written: through a symlink,
    # plain Pyodide moves the directory into its own subdirectory, where it and everything in it
    # drop out of the tree. Linux says EINVAL, and so does an autosync directory.
    import errno
    import os

    import pyodide_js

    import autosync

    m = await autosync.start("/t-into-itself").ready()
    os.makedirs("/t-into-itself/b/c")
    with open("/t-into-itself/b/c/f", "w") as f:
        f.write("kept")
    os.symlink("b", "/t-into-itself/link")
    try:
        os.rename("/t-into-itself/b", "/t-into-itself/link/c/moved")
    except OSError as e:
        assert e.errno == errno.EINVAL, e
    else:
        raise AssertionError("the move into itself was allowed")
    assert sorted(os.listdir("/t-into-itself")) == ["b", "link"]
    await m.stop()
    pyodide_js.FS.unmount("/t-into-itself")
    await autosync.start("/t-into-itself").ready()
    assert open("/t-into-itself/b/c/f").read() == "kept"
    await autosync.stop("/t-into-itself")


@run_in_pyodide(packages=["autosync"])
async def test_device_nodes_are_not_saved_as_files(selenium):
    import os
    import stat

    import pyodide_js

    import autosync

    m = await autosync.start("/t-dev").ready()
    # Python's os has no mknod in Pyodide; C code reaches the same FS.mknod.
    pyodide_js.FS.mknod("/t-dev/null", stat.S_IFCHR | 0o666, pyodide_js.FS.makedev(1, 3))
    with open("/t-dev/file.txt", "w") as f:
        f.write("a file")
    await m.stop()
    pyodide_js.FS.unmount("/t-dev")  # forget the files in memory, as a reload would
    m = await autosync.start("/t-dev").ready()
    assert os.listdir("/t-dev") == ["file.txt"]
    assert m.status().restored["failed"] == []
    await m.stop()


@run_in_pyodide(packages=["autosync"])
async def test_deleting_the_database_elsewhere_is_not_blocked_and_saving_goes_on(selenium):
    from pyodide.code import run_js

    import autosync

    m = await autosync.start("/t-vc").ready()
    with open("/t-vc/a.txt", "w") as f:
        f.write("a")
    await m.flush()
    # As another tab clearing the app's storage would: our open connection must give way.
    await run_js(
        "() => new Promise((ok, bad) => {"
        "  const r = indexedDB.deleteDatabase('autosync:/t-vc');"
        "  r.onsuccess = () => ok(); r.onerror = () => bad(r.error);"
        "  r.onblocked = () => bad(new Error('blocked'));"
        "})"
    )()
    with open("/t-vc/b.txt", "w") as f:
        f.write("b")
    await m.flush()
    assert m.status().state == "idle" and m.status().consecutive_failures == 0
    await m.stop()


@run_in_pyodide(packages=["autosync"])
async def test_a_restored_tree_can_be_walked_and_keeps_its_times(selenium):
    import os

    import pyodide_js

    import autosync

    def times(top):
        out = {}
        for where, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(where, name)
                out[os.path.relpath(path, top)] = os.lstat(path).st_mtime
        return out

    m = await autosync.start("/t-times").ready()
    os.makedirs("/t-times/sub/deeper")
    with open("/t-times/sub/deeper/f.txt", "w") as f:
        f.write("x")
    os.symlink("sub/deeper/f.txt", "/t-times/link")
    for i, path in enumerate(["/t-times/sub/deeper/f.txt", "/t-times/sub/deeper", "/t-times/sub"]):
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i))
    before = times("/t-times")
    await m.stop()
    pyodide_js.FS.unmount("/t-times")  # forget the files in memory, as a reload would
    await autosync.start("/t-times").ready()
    assert times("/t-times") == before
    await autosync.stop("/t-times")


@run_in_pyodide(packages=["autosync"])
async def test_entries_saved_without_a_time_restore_with_the_time_of_the_restore(selenium):
    import os
    import time

    from pyodide.code import run_js

    import autosync

    # What autosync saved on Pyodide 0.27 before it read that version's node times: no mtime.
    await run_js(
        "() => new Promise((ok, bad) => {"
        "  const r = indexedDB.open('autosync:/t-timeless', 2);"
        "  r.onupgradeneeded = () => ['entries', 'chunks', 'meta'].forEach("
        "    (s) => r.result.createObjectStore(s));"
        "  r.onerror = () => bad(r.error);"
        "  r.onsuccess = () => {"
        "    const db = r.result, tx = db.transaction(['entries', 'meta'], 'readwrite');"
        "    tx.objectStore('meta').put({version: 2, chunkSize: 262144}, 'format');"
        "    tx.objectStore('entries').put({mode: 0o40755, mtime: undefined}, 'sub');"
        "    tx.objectStore('entries').put("
        "      {mode: 0o100644, size: 1, contents: new Uint8Array([120])}, 'sub/f.txt');"
        "    tx.oncomplete = () => { db.close(); ok(); };"
        "  };"
        "})"
    )()
    started = time.time()
    m = await autosync.start("/t-timeless").ready()
    walked = {
        os.path.join(where, name): os.stat(os.path.join(where, name)).st_mtime
        for where, dirs, files in os.walk("/t-timeless")
        for name in dirs + files
    }
    assert sorted(walked) == ["/t-timeless/sub", "/t-timeless/sub/f.txt"]
    assert all(started - 1 <= t <= time.time() + 1 for t in walked.values()), walked
    assert open("/t-timeless/sub/f.txt").read() == "x"
    await m.stop()


@run_in_pyodide(packages=["autosync"])
def test_start_in_a_pyodide_older_than_0_27_is_refused(selenium):
    import os

    import pyodide
    import pytest

    import autosync

    running = pyodide.__version__
    pyodide.__version__ = "0.26.4"
    try:
        with pytest.raises(autosync.UnsupportedPyodideError, match=r"this is Pyodide 0\.26\.4"):
            autosync.start("/t-old")
    finally:
        pyodide.__version__ = running
    assert not os.path.exists("/t-old")


@run_in_pyodide(packages=["autosync"])
async def test_a_slow_restore_without_on_progress_logs_the_real_progress(selenium):
    import logging
    import os

    import pyodide_js

    import autosync
    from autosync import notebook

    m = await autosync.start("/t-progress-log").ready()
    for i in range(3):  # over one chunk each: the restore reports each file's bytes
        with open(f"/t-progress-log/f{i}", "wb") as f:
            f.write(os.urandom(300_000))
    await m.stop()
    pyodide_js.FS.unmount("/t-progress-log")

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("autosync")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    # Every restore counts as slow, and every report is logged.
    limits = notebook.SHOW_AFTER_S, notebook.LOG_EVERY_S
    notebook.SHOW_AFTER_S, notebook.LOG_EVERY_S = 0.0, 0.0
    try:
        await autosync.start("/t-progress-log").ready()
    finally:
        notebook.SHOW_AFTER_S, notebook.LOG_EVERY_S = limits
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert "autosync /t-progress-log: restoring, 3 of 3 entries, 0 bytes of 878.9 KiB" in messages
    assert any(", 293.0 KiB of 878.9 KiB" in m for m in messages)  # after the first file
    assert messages[-1].startswith("autosync /t-progress-log: restored 3 files")
    await autosync.stop("/t-progress-log")
