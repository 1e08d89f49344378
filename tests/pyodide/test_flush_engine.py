"""The flush engine inside real Pyodide (Node with fake-indexeddb, and Chromium): chunked storage,
incremental flushes, flushes from the write path and from fsync, and restore progress.

Each test uses its own directory: the ``selenium`` fixture shares one Pyodide per module.
"""

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["autosync"])
async def test_a_small_change_to_a_large_file_writes_only_its_chunk(selenium):
    import os

    import autosync
    from autosync import _pyodide

    chunk = _pyodide._js_api().CHUNK_SIZE
    m = await autosync.start("/t-chunk", debounce_ms=10**6, max_wait_ms=10**6).ready()
    with open("/t-chunk/big.bin", "wb") as f:
        f.write(os.urandom(12 * chunk + 100))
    await m.flush()
    assert m.status().last_flush_bytes == 12 * chunk + 100

    with open("/t-chunk/big.bin", "r+b") as f:
        f.seek(5 * chunk + 7)
        f.write(b"!")
    await m.flush()
    assert m.status().last_flush_bytes == chunk

    with open("/t-chunk/big.bin", "ab") as f:  # the last chunk grows
        f.write(b"tail")
    await m.flush()
    assert m.status().last_flush_bytes == 104

    os.chmod("/t-chunk/big.bin", 0o600)  # metadata only
    await m.flush()
    assert m.status().last_flush_bytes == 0
    await m.stop()


@run_in_pyodide(packages=["autosync"])
async def test_random_writes_truncations_and_holes_restore_byte_identical(selenium):
    import hashlib
    import os
    import random

    import pyodide_js

    import autosync
    from autosync import _pyodide

    chunk = _pyodide._js_api().CHUNK_SIZE
    rng = random.Random(7)
    m = await autosync.start("/t-random", debounce_ms=10**6, max_wait_ms=10**6).ready()
    path = "/t-random/file.bin"
    with open(path, "wb") as f:
        f.write(rng.randbytes(6 * chunk + 11))
    await m.flush()
    for step in range(40):
        with open(path, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            kind = step % 5
            if kind == 0:  # overwrite somewhere inside
                f.seek(rng.randrange(size))
                f.write(rng.randbytes(rng.randrange(1, 3 * chunk)))
            elif kind == 1:  # append
                f.seek(0, 2)
                f.write(rng.randbytes(rng.randrange(1, chunk)))
            elif kind == 2:  # shrink
                f.truncate(rng.randrange(size // 2, size))
            elif kind == 3:  # grow with zeros
                f.truncate(size + rng.randrange(1, 2 * chunk))
            else:  # a hole: write past the end
                f.seek(size + rng.randrange(1, 3 * chunk))
                f.write(rng.randbytes(100))
        if step % 3 == 2:
            await m.flush()
    # Shrink below one chunk and grow again in the same flush window: no stale bytes may reappear.
    with open("/t-random/shrunk.bin", "wb") as f:
        f.write(b"\xff" * (3 * chunk))
    await m.flush()
    os.truncate("/t-random/shrunk.bin", 10)
    os.truncate("/t-random/shrunk.bin", 2 * chunk + 5)
    os.utime(path, (1_600_000_000, 1_600_000_000))
    os.chmod(path, 0o640)
    await m.flush()

    def digest(p):
        with open(p, "rb") as f:
            data = f.read()
        st = os.stat(p)
        return hashlib.sha256(data).hexdigest(), len(data), st.st_mode, int(st.st_mtime)

    before = {p: digest(p) for p in (path, "/t-random/shrunk.bin")}
    await m.stop()
    pyodide_js.FS.unmount("/t-random")  # forget the files in memory, as a reload would
    await autosync.start("/t-random").ready()
    after = {p: digest(p) for p in before}
    assert after == before
    with open("/t-random/shrunk.bin", "rb") as f:
        assert f.read() == b"\xff" * 10 + b"\0" * (2 * chunk - 5)
    await autosync.stop("/t-random")


@run_in_pyodide(packages=["autosync"])
async def test_fsync_starts_a_flush_at_once(selenium):
    import asyncio
    import os

    import autosync

    m = await autosync.start("/t-fsync", debounce_ms=10**6, max_wait_ms=10**6).ready()
    fd = os.open("/t-fsync/log.txt", os.O_WRONLY | os.O_CREAT)
    os.write(fd, b"must be durable")
    assert m.status().pending_changes == 1
    os.fsync(fd)  # no await in between: the snapshot was taken inside fsync
    assert m.status().pending_changes == 0
    os.close(fd)
    for _ in range(100):
        if m.status().flush_count:
            break
        await asyncio.sleep(0.01)
    assert m.status().flush_count == 1 and m.status().write_path_flushes == 0
    await m.stop()


@run_in_pyodide(packages=["autosync"])
async def test_the_write_path_flushes_while_python_does_not_yield(selenium):
    import asyncio
    import time

    import autosync

    m = await autosync.start("/t-busy", debounce_ms=50, max_wait_ms=50).ready()
    deadline = time.monotonic() + 0.6
    n = 0
    with open("/t-busy/counter.txt", "w") as f:
        while time.monotonic() < deadline:  # never yields to the event loop
            f.seek(0)
            f.write(str(n))
            f.flush()
            n += 1
    flushes_while_busy = m.status().write_path_flushes
    await asyncio.sleep(0.1)
    s = m.status()
    assert flushes_while_busy >= 3, flushes_while_busy
    assert s.flush_count >= flushes_while_busy
    await m.stop()


@run_in_pyodide(packages=["autosync"])
async def test_a_failed_partial_flush_rewrites_the_whole_file_next_time(selenium):
    import os

    import pytest

    import autosync
    from autosync import _pyodide

    api = _pyodide._js_api()
    chunk = api.CHUNK_SIZE
    m = await autosync.start("/t-refail", debounce_ms=10**6, max_wait_ms=10**6).ready()
    with open("/t-refail/big.bin", "wb") as f:
        f.write(os.urandom(4 * chunk))
    await m.flush()
    with open("/t-refail/big.bin", "r+b") as f:
        f.write(b"changed")
    api.faults.fail = 1  # IndexedDB refuses a request inside the next flush's transaction
    with pytest.raises(autosync.FlushError, match="ConstraintError"):
        await m.flush()
    await m.flush()  # what the failed one wrote is unknown, so the file goes whole
    assert m.status().last_flush_bytes == 4 * chunk
    await m.stop()


@run_in_pyodide(packages=["autosync"])
async def test_restore_reports_progress_to_the_callback_and_status(selenium):
    import itertools
    import os

    import pyodide_js

    import autosync
    from autosync import _pyodide

    chunk = _pyodide._js_api().CHUNK_SIZE
    m = await autosync.start("/t-progress").ready()
    os.makedirs("/t-progress/d")
    for i in range(30):
        with open(f"/t-progress/d/{i}.txt", "w") as f:
            f.write("x" * i)
    with open("/t-progress/big.bin", "wb") as f:
        f.write(os.urandom(100 * chunk))
    await m.stop()
    pyodide_js.FS.unmount("/t-progress")

    seen = []
    m = autosync.start("/t-progress", on_progress=seen.append)
    await m.ready()
    last = seen[-1]
    assert last.entries_done == last.entries_total == 32
    assert last.bytes_done == last.bytes_total == 100 * chunk + sum(range(30))
    assert len(seen) >= 3  # entries, small files, then the chunks of the large file in batches
    assert all(a.bytes_done <= b.bytes_done for a, b in itertools.pairwise(seen))
    assert m.status().restore_progress == last
    await m.stop()
