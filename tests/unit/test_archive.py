"""Zips out and back in (autosync.archive) on plain CPython, against temporary directories."""

from __future__ import annotations

import io
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest

from autosync import archive
from autosync.errors import ArchiveError

# Emscripten keeps milliseconds; the zip's NTFS field keeps 100 ns steps.
MTIMES = {
    "notes.txt": 1_600_000_000_123_000_000,
    "big.bin": 1_650_000_000_456_700_000,
    "sub": 1_500_000_000_987_000_000,
    "sub/deep": 1_400_000_000_000_000_000,
    "sub/deep/readonly.txt": 1_700_000_000_001_000_000,
    "empty": 1_300_000_000_500_000_000,
    "sub/link": 1_200_000_000_250_000_000,
    "dangling": 1_100_000_000_000_100_000,
}


def make_tree(root: Path) -> None:
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("hello")
    (root / "big.bin").write_bytes(os.urandom(1_500_000))  # over 1 MiB: several copy buffers
    (root / "sub" / "deep" / "readonly.txt").write_text("ro")
    (root / "sub" / "link").symlink_to("../notes.txt")
    (root / "dangling").symlink_to("/nowhere/at/all")
    os.chmod(root / "notes.txt", 0o600)
    os.chmod(root / "sub" / "deep" / "readonly.txt", 0o444)
    os.chmod(root / "sub" / "deep", 0o700)
    for rel, ns in sorted(MTIMES.items(), reverse=True):  # children before their directories
        os.utime(root / rel, ns=(ns, ns), follow_symlinks=False)


def manifest(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything an import must bring back: kind and mode, mtime, contents or link target."""
    found: dict[str, tuple[object, ...]] = {}
    for rel, st in archive._walk(str(root)):
        path = root / rel
        if stat.S_ISLNK(st.st_mode):
            what: object = os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            what = path.read_bytes()
        else:
            what = None
        found[rel] = (st.st_mode, st.st_mtime_ns, what)
    return found


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    make_tree(root)
    return root


@pytest.fixture
def target(tmp_path: Path) -> Path:
    root = tmp_path / "dst"
    root.mkdir()
    return root


def zip_of(*entries: tuple[str, int, bytes]) -> bytes:
    """A zip of (name, Unix mode, data) entries, written the way other tools do."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, mode, data in entries:
            info = zipfile.ZipInfo(name, (2020, 1, 2, 3, 4, 6))
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def test_export_then_import_brings_back_contents_modes_mtimes_and_links(tree, target):
    result = archive.import_zip(str(target), archive.export_zip(str(tree)))
    assert manifest(target) == manifest(tree)
    assert "sub/link" in result.written and "empty/" in result.written and result.kept == ()


def test_exported_zip_holds_directories_links_and_unix_modes_for_any_unzip(tree):
    with zipfile.ZipFile(io.BytesIO(archive.export_zip(str(tree)))) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        assert set(infos) == {
            "big.bin",
            "dangling",
            "empty/",
            "notes.txt",
            "sub/",
            "sub/deep/",
            "sub/deep/readonly.txt",
            "sub/link",
        }
        assert stat.S_ISLNK(infos["sub/link"].external_attr >> 16)
        assert zf.read("sub/link") == b"../notes.txt"
        assert infos["sub/deep/"].external_attr >> 16 == stat.S_IFDIR | 0o700
        assert infos["notes.txt"].external_attr >> 16 == stat.S_IFREG | 0o600
        assert zf.testzip() is None


def test_export_to_a_path_writes_the_same_zip(tree, tmp_path):
    out = tmp_path / "backup.zip"
    assert archive.export_zip(str(tree), out) is None
    restored = tmp_path / "restored"
    restored.mkdir()
    archive.import_zip(str(restored), str(out))
    assert manifest(restored) == manifest(tree)


def test_export_refuses_a_path_inside_the_directory(tree):
    with pytest.raises(ArchiveError, match="inside the directory it copies"):
        archive.export_zip(str(tree), tree / "sub" / "backup.zip")
    assert not (tree / "sub" / "backup.zip").exists()


def test_import_keeps_existing_files_unless_asked_to_overwrite(tree, target):
    zipped = archive.export_zip(str(tree))
    (target / "notes.txt").write_text("mine")
    (target / "sub").mkdir()
    (target / "sub" / "link").write_text("a file where the zip has a link")
    result = archive.import_zip(str(target), zipped)
    assert set(result.kept) == {"notes.txt", "sub/link"}
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "big.bin").read_bytes() == (tree / "big.bin").read_bytes()
    assert "kept (notes.txt, sub/link)" in repr(result)

    result = archive.import_zip(str(target), zipped, overwrite=True)
    assert result.kept == () and "notes.txt" in result.written
    assert manifest(target) == manifest(tree)


def test_overwrite_replaces_a_link_instead_of_writing_through_it(tmp_path, target):
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    (target / "notes.txt").symlink_to(outside)
    archive.import_zip(str(target), zip_of(("notes.txt", 0o100644, b"new")), overwrite=True)
    assert outside.read_text() == "untouched"
    assert not (target / "notes.txt").is_symlink()
    assert (target / "notes.txt").read_text() == "new"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("/etc/passwd", "is an absolute path"),
        ("../escape.txt", r"would leave the directory \('..'\)"),
        ("sub/../../escape.txt", r"would leave the directory \('..'\)"),
    ],
)
def test_import_refuses_entries_that_would_leave_the_directory(target, name, why):
    zipped = zip_of(("fine.txt", 0o100644, b"ok"), (name, 0o100644, b"evil"))
    with pytest.raises(ArchiveError, match=f"zip entry {name!r} {why}; nothing was imported"):
        archive.import_zip(str(target), zipped)
    assert os.listdir(target) == []


def test_import_refuses_a_name_with_a_nul_character(target):
    # zipfile cuts names at NUL when it writes them, so the NUL is put into the bytes afterwards
    zipped = zip_of(("fine.txt", 0o100644, b"ok"), ("evilX.txt", 0o100644, b"x"))
    zipped = zipped.replace(b"evilX.txt", b"evil\x00.txt")
    with pytest.raises(ArchiveError, match=r"'evil\\x00.txt' has a NUL character"):
        archive.import_zip(str(target), zipped)
    assert os.listdir(target) == []


def test_import_refuses_writing_below_a_link_of_the_zip(target):
    zipped = zip_of(("out", 0o120777, b"/tmp"), ("out/evil.txt", 0o100644, b"x"))
    with pytest.raises(ArchiveError, match=r"'out/evil\.txt' is below 'out', which is a symbolic"):
        archive.import_zip(str(target), zipped)
    assert os.listdir(target) == []


def test_import_refuses_writing_below_an_existing_link(tmp_path, target):
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "sub").symlink_to(outside)
    zipped = zip_of(("sub/evil.txt", 0o100644, b"x"))
    with pytest.raises(ArchiveError, match="below 'sub', which exists here as a symbolic link"):
        archive.import_zip(str(target), zipped, overwrite=True)
    assert os.listdir(outside) == []


def test_import_refuses_a_file_where_a_directory_is(target):
    (target / "sub").mkdir()
    with pytest.raises(ArchiveError, match="'sub' is a file but exists here as a directory"):
        archive.import_zip(str(target), zip_of(("sub", 0o100644, b"x")), overwrite=True)


def test_import_refuses_device_files_fifos_and_duplicates(target):
    with pytest.raises(ArchiveError, match="'pipe' is a FIFO"):
        archive.import_zip(str(target), zip_of(("pipe", stat.S_IFIFO | 0o644, b"")))
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile's own, on writing it
        twice = zip_of(("a.txt", 0o100644, b"1"), ("a.txt", 0o100644, b"2"))
    with pytest.raises(ArchiveError, match=r"'a\.txt' appears twice"):
        archive.import_zip(str(target), twice)
    assert os.listdir(target) == []


def test_import_refuses_damaged_data_before_writing(target):
    zipped = zip_of(("first.txt", 0o100644, b"fine"), ("second.txt", 0o100644, b"A" * 1000))
    damaged = zipped.replace(b"A" * 1000, b"A" * 999 + b"B")
    with pytest.raises(ArchiveError, match=r"'second\.txt' is damaged in the zip"):
        archive.import_zip(str(target), damaged)
    assert os.listdir(target) == []


def test_import_of_something_else_than_a_zip_says_so(target):
    with pytest.raises(ArchiveError, match="not a readable zip file"):
        archive.import_zip(str(target), b"just some text")


def test_import_reads_zips_without_unix_modes_with_default_modes(target):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ("docs/", "docs/readme.txt"):
            info = zipfile.ZipInfo(name, (2020, 1, 2, 3, 4, 6))
            info.create_system = 0  # MS-DOS: no Unix mode in external_attr
            zf.writestr(info, b"" if name.endswith("/") else b"hi")
    archive.import_zip(str(target), buffer.getvalue())
    assert stat.S_IMODE(os.stat(target / "docs").st_mode) == 0o755
    readme = os.stat(target / "docs" / "readme.txt")
    assert stat.S_IMODE(readme.st_mode) == 0o644
    assert readme.st_mtime_ns == int(time.mktime((2020, 1, 2, 3, 4, 6, 0, 0, -1))) * 10**9


def test_import_takes_bytes_file_objects_and_paths(tree, tmp_path):
    zipped = archive.export_zip(str(tree))
    path = tmp_path / "backup.zip"
    path.write_bytes(zipped)
    for i, source in enumerate((zipped, io.BytesIO(zipped), str(path), path)):
        root = tmp_path / f"into-{i}"
        root.mkdir()
        archive.import_zip(str(root), source)
        assert manifest(root) == manifest(tree)


def test_import_of_a_zip_inside_the_directory_may_replace_it(tree, target):
    zipped = archive.export_zip(str(tree))
    inside = target / "notes.txt"  # the zip holds an entry of the same name
    inside.write_bytes(zipped)
    archive.import_zip(str(target), inside, overwrite=True)
    assert inside.read_text() == "hello"


def test_default_name_is_the_directory_and_the_time():
    assert archive.default_name("/data").startswith("data-")
    assert archive.default_name("/data").endswith(".zip")
