"""Mount.export_zip / import_zip / download on plain CPython, with the stand-in backend."""

from __future__ import annotations

import io
import zipfile

import pytest
from stand_in import NO_TIMERS, Backend, run, run_to_end

from autosync import _pyodide
from autosync.config import resolve
from autosync.errors import AutosyncError, RestoreError
from autosync.mount import Mount


def mounted(tmp_path, backend: Backend) -> Mount:
    (tmp_path / "data").mkdir(exist_ok=True)
    mount = Mount(resolve({"path": str(tmp_path / "data"), **NO_TIMERS}, environ={}), backend)
    mount.begin(blocking=False, run_sync=run_to_end)
    return mount


def test_import_zip_returns_once_a_flush_has_saved_the_files(tmp_path):
    async def scenario():
        b = Backend()
        m = mounted(tmp_path, b)
        (tmp_path / "data" / "a.txt").write_text("A")
        zipped = await m.export_zip()
        (tmp_path / "data" / "a.txt").unlink()
        b.change("a.txt")  # what the hooks would record for the import's writes
        result = await m.import_zip(zipped)
        assert result.written == ("a.txt",)
        assert b.saved == [["a.txt"]]  # flushed before import_zip returned
        assert (tmp_path / "data" / "a.txt").read_text() == "A"
        await m.stop()

    run(scenario())


def test_import_zip_into_a_directory_whose_restore_failed_writes_nothing(tmp_path):
    async def scenario():
        b = Backend()
        b.restore_error = RuntimeError("UnknownError: Internal error opening backing store")
        m = mounted(tmp_path, b)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr("a.txt", "A")
        with pytest.raises(RestoreError):
            await m.import_zip(buffer.getvalue())
        assert list((tmp_path / "data").iterdir()) == []

    run(scenario())


def test_download_offers_the_zip_under_the_directory_name(tmp_path, monkeypatch):
    offered: list[tuple[bytes, str]] = []
    monkeypatch.setattr(_pyodide, "has_document", lambda: True)
    monkeypatch.setattr(_pyodide, "offer_download", lambda data, name: offered.append((data, name)))

    async def scenario():
        m = mounted(tmp_path, Backend())
        (tmp_path / "data" / "a.txt").write_text("A")
        await m.download()
        await m.download("mine.zip")
        await m.stop()

    run(scenario())
    (data, name), (_, mine) = offered
    assert name.startswith("data-") and name.endswith(".zip") and mine == "mine.zip"
    assert zipfile.ZipFile(io.BytesIO(data)).read("a.txt") == b"A"


def test_download_without_a_page_says_what_to_do_instead(tmp_path, monkeypatch):
    monkeypatch.setattr(_pyodide, "has_document", lambda: False)

    async def scenario():
        m = mounted(tmp_path, Backend())
        with pytest.raises(AutosyncError, match=r"Web Worker.*export_zip\(\)"):
            await m.download()
        await m.stop()

    run(scenario())
