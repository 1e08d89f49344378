"""The public API's behaviour outside Pyodide and without mounts (plain CPython)."""

import asyncio
import os

import pytest

import autosync


@pytest.fixture(autouse=True)
def _clean_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("AUTOSYNC_"):
            monkeypatch.delenv(name)


def test_start_outside_pyodide_says_where_autosync_runs():
    with pytest.raises(autosync.NotInPyodideError, match=r"runs inside Pyodide.*this is CPython"):
        autosync.start("/data")


def test_config_errors_come_before_the_runtime_check():
    with pytest.raises(autosync.ConfigError, match="debounce_ms"):
        autosync.start("/data", debounce_ms=-5)


def test_status_without_any_mount_explains_itself():
    with pytest.raises(autosync.AutosyncError, match="needs exactly one mount; started: none"):
        autosync.status()


def test_flush_of_an_unknown_directory_names_it():
    with pytest.raises(autosync.AutosyncError, match=r"'/nope' is not an autosync directory"):
        asyncio.run(autosync.flush("/nope"))


def test_flush_and_stop_without_mounts_do_nothing():
    asyncio.run(autosync.flush())
    asyncio.run(autosync.stop())


def test_every_error_is_an_autosync_error():
    for error in (
        autosync.ConfigError,
        autosync.MountError,
        autosync.NotInPyodideError,
        autosync.RestoreError,
        autosync.FlushError,
        autosync.ArchiveError,
    ):
        assert issubclass(error, autosync.AutosyncError)
