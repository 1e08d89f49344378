"""%load_ext autosync, %autosync, the status tables and the restore's progress, in real IPython.

The shell is IPython's own InteractiveShell, the class JupyterLite's Pyodide kernel and ipykernel
derive theirs from; the mount's JavaScript half is the stand-in backend, and ``run_sync`` (JSPI's
blocking wait in Pyodide) runs the event loop until the awaitable is done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from stand_in import Backend

import autosync
from autosync import _pyodide, notebook
from autosync.mount import RestoreProgress, Status


class KernelShell(InteractiveShell):
    """Not a terminal: rich output goes to a notebook."""


@pytest.fixture(scope="module")
def shell() -> Iterator[InteractiveShell]:
    yield KernelShell.instance()
    KernelShell.clear_instance()


class Runtime:
    """What autosync.start() needs from Pyodide, on CPython: stand-in backends, a blocking wait."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.backends: list[Backend] = []
        self.jspi = True
        self.configure_backend: Any = lambda backend: None
        monkeypatch.setattr(autosync, "_mounts", {})
        monkeypatch.setattr(_pyodide, "require_pyodide", lambda: None)
        monkeypatch.setattr(_pyodide, "has_indexeddb", lambda: True)
        monkeypatch.setattr(_pyodide, "mounts", lambda: {})
        monkeypatch.setattr(_pyodide, "JsMount", self.backend)
        monkeypatch.setattr(_pyodide, "can_run_sync", lambda: self.jspi)
        monkeypatch.setattr(_pyodide, "run_sync", self.loop.run_until_complete)

    def backend(self, mountpoint: str, db_name: str, *, durable_fsync: bool = False) -> Backend:
        backend = Backend()
        self.configure_backend(backend)
        self.backends.append(backend)
        return backend

    def close(self) -> None:
        self.loop.run_until_complete(autosync.stop())
        self.loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def runtime(shell, tmp_path, monkeypatch) -> Iterator[Runtime]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "autosync.toml").write_text(f'path = "{tmp_path}/data"\ndebounce_ms = 250\n')
    rt = Runtime(monkeypatch)
    shell.extension_manager.loaded.discard("autosync")
    yield rt
    rt.close()


def html_outputs(captured: Any) -> list[str]:
    return [o.data["text/html"] for o in captured.outputs if "text/html" in o.data]


def test_load_ext_starts_the_directory_of_autosync_toml_and_shows_it(shell, runtime, tmp_path):
    with capture_output() as captured:
        shell.run_line_magic("load_ext", "autosync")
    (mount,) = autosync.mounts()
    assert mount.path == f"{tmp_path}/data" and mount.settings.debounce_ms == 250
    assert mount.status().state == "idle"  # restored before load_ext returned (JSPI)
    (table,) = html_outputs(captured)
    assert f"<code>{tmp_path}/data</code>" in table and "<td>idle</td>" in table


def test_load_ext_without_a_configured_directory_says_how_to_give_one(shell, runtime, tmp_path):
    (tmp_path / "autosync.toml").unlink()
    with pytest.raises(autosync.ConfigError, match="no directory given"):
        shell.run_line_magic("load_ext", "autosync")


def test_autosync_magic_flushes_shows_and_stops(shell, runtime, tmp_path):
    with capture_output():
        shell.run_line_magic("load_ext", "autosync")
    (backend,) = runtime.backends
    backend.change("notes.txt")
    with capture_output() as captured:
        shell.run_line_magic("autosync", "flush")
    assert backend.saved == [["notes.txt"]]
    assert "<td>idle</td><td>none</td><td>1</td>" in html_outputs(captured)[0]  # unsaved, saves
    with capture_output() as captured:
        shell.run_line_magic("autosync", "")
    assert "<td>idle</td>" in html_outputs(captured)[0]
    with capture_output() as captured:
        shell.run_line_magic("autosync", "stop")
    assert backend.detached and "<td>stopped</td>" in html_outputs(captured)[0]


def test_autosync_magic_without_jspi_says_to_await_instead(shell, runtime):
    with capture_output():
        shell.run_line_magic("load_ext", "autosync")
    runtime.jspi = False
    with pytest.raises(UsageError, match=r"await autosync\.flush\(\)"):
        shell.run_line_magic("autosync", "flush")
    with pytest.raises(UsageError, match="use %autosync, %autosync flush or %autosync stop"):
        shell.run_line_magic("autosync", "sync")


def test_a_restore_slower_than_a_second_shows_a_bar_updated_in_place(shell, runtime):
    def slow(backend: Backend) -> None:
        backend.steps = [(2000, 4000, 0, 10**6), (4000, 4000, 0, 3 * 10**6)]
        backend.steps += [(4000, 4000, n * 10**6, 3 * 10**6) for n in (1, 2, 3)]
        backend.before_step = lambda: time.sleep(0.3)

    runtime.configure_backend = slow
    with capture_output() as captured:
        shell.run_line_magic("load_ext", "autosync")
    bars = [o for o in captured.outputs if "autosync-progress" in o.data.get("text/html", "")]
    assert len(bars) >= 2  # shown after a second, then updated
    assert not bars[0].update and all(b.update for b in bars[1:])
    assert len({b.transient["display_id"] for b in bars}) == 1
    assert 'value="1.000"' in bars[-1].data["text/html"]
    assert "restored 4,000 entries, 2.9 MiB in" in bars[-1].data["text/plain"]


def reporter_at(times: list[float]) -> notebook.RestoreReporter:
    clock = iter([0.0, *times])
    return notebook.RestoreReporter("/data", clock=lambda: next(clock))


def test_a_quick_restore_shows_nothing(shell):
    report = reporter_at([0.2, 0.9])
    with capture_output() as captured:
        report(RestoreProgress(1, 2, 0, 10))
        report(RestoreProgress(2, 2, 10, 10))
    assert captured.outputs == []


def test_the_bar_is_redrawn_at_most_four_times_a_second_but_always_at_the_end(shell):
    report = reporter_at([1.0, 1.1, 1.2, 1.3, 1.35, 1.4])
    with capture_output() as captured:
        report(RestoreProgress(1, 4, 0, 10))
        report(RestoreProgress(2, 4, 0, 10))  # 0.1 s later: skipped
        report(RestoreProgress(3, 4, 0, 10))  # 0.2 s later: skipped
        report(RestoreProgress(4, 4, 5, 10))  # 0.3 s later: drawn
        report(RestoreProgress(4, 4, 10, 10))  # 0.05 s later, but complete: drawn
        report(RestoreProgress(4, 4, 10, 10))  # the restore reports its end twice: drawn once
    assert [o.update for o in captured.outputs] == [False, True, True]


def test_outside_a_notebook_a_slow_restore_logs_progress_lines(monkeypatch, caplog):
    monkeypatch.setattr(notebook, "_shell", lambda: None)
    report = reporter_at([0.5, 1.5, 2.0, 3.6, 4.0])
    with caplog.at_level(logging.INFO, logger="autosync"):
        report(RestoreProgress(1, 5, 0, 10))  # too early
        report(RestoreProgress(2, 5, 0, 10))
        report(RestoreProgress(3, 5, 0, 10))  # 0.5 s after the last line: skipped
        report(RestoreProgress(4, 5, 0, 10))
        report(RestoreProgress(5, 5, 10, 10))  # done: the mount logs its summary itself
    assert [r.getMessage() for r in caplog.records] == [
        "autosync /data: restoring, 2 of 5 entries, 0 bytes of 10 bytes",
        "autosync /data: restoring, 4 of 5 entries, 0 bytes of 10 bytes",
    ]


def test_the_bar_never_moves_back_while_the_byte_total_grows():
    steps = [
        RestoreProgress(0, 3, 0, 0),
        RestoreProgress(1, 3, 0, 0),
        RestoreProgress(2, 3, 0, 500),
        RestoreProgress(3, 3, 0, 1000),
        RestoreProgress(3, 3, 600, 1000),
        RestoreProgress(3, 3, 1000, 1000),
    ]
    fractions = [notebook._fraction(p) for p in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert notebook._fraction(RestoreProgress(2, 2, 0, 0)) == 1.0  # only directories


STATUS = Status(
    path="/data",
    state="retrying",
    dirty=True,
    pending_changes=3,
    flush_count=2,
    last_flush_at=None,
    last_flush_duration_ms=4.0,
    last_error="QuotaExceededError: <quota> exceeded",
    restored={"files": 1200, "dirs": 3, "links": 1, "bytes": 5 * 2**20, "kept": 2},
    last_flush_bytes=2048,
)


def test_status_renders_as_a_compact_html_table_with_its_error_escaped():
    table = STATUS._repr_html_()
    assert table.startswith('<table class="autosync-status"')
    assert "<td><code>/data</code></td><td>retrying</td><td>3 changes</td>" in table
    assert "<td>2 (4 ms, 2.0 KiB)</td>" in table
    assert "1,200 files, 3 dirs, 1 links, 5.0 MiB, 2 kept local" in table
    assert "QuotaExceededError: &lt;quota&gt; exceeded" in table


def test_status_text_has_one_line_per_directory_and_its_error():
    text = notebook.status_text([STATUS, replace(STATUS, path="/logs", last_error=None)])
    assert text.splitlines() == [
        "autosync /data: retrying; unsaved: 3 changes; saves: 2 (4 ms, 2.0 KiB); "
        "restored: 1,200 files, 3 dirs, 1 links, 5.0 MiB, 2 kept local",
        "  error: QuotaExceededError: <quota> exceeded",
        "autosync /logs: retrying; unsaved: 3 changes; saves: 2 (4 ms, 2.0 KiB); "
        "restored: 1,200 files, 3 dirs, 1 links, 5.0 MiB, 2 kept local",
    ]


def test_a_mount_renders_its_status(shell, runtime):
    mount = autosync.start()
    assert "<td>idle</td>" in mount._repr_html_()
    formatted, _ = shell.display_formatter.format(mount)
    assert "autosync-status" in formatted["text/html"]
