"""Copies of a directory out and back in, as zip files: what ``export_zip``/``import_zip`` run.

:meth:`autosync.Mount.export_zip`, :meth:`~autosync.Mount.import_zip` and
:meth:`~autosync.Mount.download` call these functions on their directory; they work on any
directory, also on plain CPython::

    >>> import os, tempfile
    >>> from autosync import archive
    >>> src, dst = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> with open(os.path.join(src, "notes.txt"), "w") as f:
    ...     _ = f.write("hello")
    >>> archive.import_zip(dst, archive.export_zip(src))
    <ImportResult: 1 written, 0 kept>
    >>> open(os.path.join(dst, "notes.txt")).read()
    'hello'

A zip holds every file, directory and symbolic link below the directory (not the directory
itself), with paths relative to it. Each entry keeps its Unix mode (``external_attr``; a link is
stored as a link, its target as its contents) and its mtime three ways: the DOS date (2-second
steps, what every unzip reads), Info-ZIP's extended timestamp (seconds) and the NTFS extra field
(100 ns steps, so the millisecond mtimes of Emscripten's file system come back exactly). Device
files, FIFOs and sockets are left out, as autosync does not save them either.

The export is one synchronous walk: in Pyodide nothing else runs meanwhile, so the zip is one
consistent snapshot. An import checks the whole zip before it writes anything, see
:func:`import_zip`.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shutil
import stat
import struct
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, NoReturn

from .errors import ArchiveError

#: What :func:`import_zip` reads: the zip's bytes, a binary file object, or a path.
Source = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]
#: Sets a symbolic link's own times (atime_ns, mtime_ns), without following it.
LinkTimes = Callable[[str, int, int], None]

_COPY_BUFFER = 1 << 20
_COMPRESS_LEVEL = 1
_UNIX = 3  # ZipInfo.create_system: external_attr holds a Unix mode in its upper 16 bits
_DOS_DIRECTORY = 0x10
_EXTENDED_TIMESTAMP = 0x5455  # Info-ZIP "UT": flags, then mtime as signed 32-bit seconds
_NTFS = 0x000A  # mtime, atime, ctime in 100 ns units since 1601-01-01
_NTFS_EPOCH = 11_644_473_600 * 10**7  # 1601-01-01 to 1970-01-01, in 100 ns units
_KINDS = {stat.S_IFDIR: "directory", stat.S_IFREG: "file", stat.S_IFLNK: "symbolic link"}


def export_zip(root: str, path: str | os.PathLike[str] | None = None) -> bytes | None:
    """Zip everything below ``root``; returns the zip's bytes, or writes it to ``path``.

    ``path`` must lie outside ``root`` (the zip would otherwise copy itself, and be saved).

    >>> export_zip("/data")[:2]                                    # doctest: +SKIP
    b'PK'
    >>> export_zip("/data", "/tmp/data.zip")                       # doctest: +SKIP
    """
    root = os.path.abspath(root)
    if path is None:
        buffer = io.BytesIO()
        _write_zip(root, buffer)
        return buffer.getvalue()
    target = os.path.abspath(os.fspath(path))
    if _inside(target, root):
        raise ArchiveError(
            f"cannot export {root!r} to {target!r}: the zip would be inside the directory it "
            f"copies; choose a path outside {root!r}"
        )
    try:
        with open(target, "wb") as f:
            _write_zip(root, f)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise
    return None


def _write_zip(root: str, out: IO[bytes]) -> None:
    with zipfile.ZipFile(out, "w") as zf:
        for rel, st in _walk(root):
            full = os.path.join(root, rel)
            kind = stat.S_IFMT(st.st_mode)
            if kind == stat.S_IFDIR:
                zf.mkdir(_entry_info(rel + "/", st))
            elif kind == stat.S_IFLNK:
                zf.writestr(_entry_info(rel, st), os.fsencode(os.readlink(full)))
            elif kind == stat.S_IFREG:
                info = _entry_info(rel, st)
                info.compress_type = zipfile.ZIP_DEFLATED
                # zlib's fastest level: the page is busy while the zip is built, and on text it
                # compresses ~2.7x faster than the default level 6 for about the same size.
                # (A slot up to Python 3.12, an alias of compress_level since 3.13.)
                info._compresslevel = _COMPRESS_LEVEL  # type: ignore[attr-defined]
                info.file_size = st.st_size  # lets zipfile choose ZIP64 for files over 2 GiB
                with open(full, "rb") as src, zf.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, _COPY_BUFFER)


def _walk(root: str, rel: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """Every entry below ``root``, sorted, parents before children; links are not followed."""
    for name in sorted(os.listdir(os.path.join(root, rel))):
        child = f"{rel}/{name}" if rel else name
        st = os.lstat(os.path.join(root, child))
        yield child, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, child)


def _entry_info(name: str, st: os.stat_result) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _dos_date_time(st.st_mtime))
    info.create_system = _UNIX
    info.external_attr = (st.st_mode & 0xFFFF) << 16
    if stat.S_ISDIR(st.st_mode):
        info.external_attr |= _DOS_DIRECTORY
        info.CRC = 0
    info.extra = _time_extras(st.st_atime_ns, st.st_mtime_ns)
    return info


def _dos_date_time(seconds: float) -> tuple[int, int, int, int, int, int]:
    # The DOS format covers 1980-2107 in local time; the extra fields carry the exact time.
    try:
        t = time.localtime(seconds)
    except (OverflowError, OSError, ValueError):
        return (1980, 1, 1, 0, 0, 0)
    if t.tm_year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if t.tm_year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _time_extras(atime_ns: int, mtime_ns: int) -> bytes:
    extra = b""
    seconds = mtime_ns // 10**9
    if -(2**31) <= seconds < 2**31:
        extra += struct.pack("<HHBi", _EXTENDED_TIMESTAMP, 5, 1, seconds)
    mtime, atime = mtime_ns // 100 + _NTFS_EPOCH, atime_ns // 100 + _NTFS_EPOCH
    if 0 <= mtime < 2**64 and 0 <= atime < 2**64:
        extra += struct.pack("<HHIHHQQQ", _NTFS, 32, 0, 1, 24, mtime, atime, mtime)
    return extra


def _entry_times(info: zipfile.ZipInfo) -> tuple[int, int]:
    """(atime_ns, mtime_ns) of an entry: NTFS times if present, else Unix seconds, else DOS time."""
    extra, unix = info.extra, None
    while len(extra) >= 4:
        tag, size = struct.unpack_from("<HH", extra)
        data, extra = extra[4 : 4 + size], extra[4 + size :]
        if tag == _NTFS and len(data) >= 32 and struct.unpack_from("<HH", data, 4) == (1, 24):
            mtime, atime = struct.unpack_from("<QQ", data, 8)
            return (atime - _NTFS_EPOCH) * 100, (mtime - _NTFS_EPOCH) * 100
        if tag == _EXTENDED_TIMESTAMP and len(data) >= 5 and data[0] & 1:
            unix = struct.unpack_from("<i", data, 1)[0] * 10**9
    if unix is None:
        unix = int(time.mktime((*info.date_time, 0, 0, -1))) * 10**9
    return unix, unix


# ---------------------------------------------------------------------------------- import


@dataclass(frozen=True, repr=False)
class ImportResult:
    """What :func:`import_zip` did, as paths relative to the directory (directories end in ``/``).

    ``written``: files, links and directories created or replaced; ``kept``: entries of the zip
    that already existed and were left as they were (``overwrite=False``).
    """

    written: tuple[str, ...]
    kept: tuple[str, ...]

    def __repr__(self) -> str:
        shown = ", ".join(self.kept[:3]) + (", ..." if len(self.kept) > 3 else "")
        return f"<ImportResult: {len(self.written)} written, {len(self.kept)} kept" + (
            f" ({shown})>" if self.kept else ">"
        )


@dataclass(frozen=True)
class _Entry:
    rel: str
    kind: str  # one of _KINDS' values
    mode: int
    times: tuple[int, int]
    info: zipfile.ZipInfo
    target: str | None = None  # of a link


def import_zip(
    root: str,
    source: Source,
    *,
    overwrite: bool = False,
    link_times: LinkTimes | None = None,
) -> ImportResult:
    """Put the files, directories and links of a zip below ``root``, with their modes and mtimes.

    Existing files and links are kept unless ``overwrite`` is true (then they are replaced; the
    import never writes through an existing link). Existing directories are merged into.
    ``link_times`` sets a link's own times where ``os.utime`` cannot (Pyodide); without it, links
    get the time of the import.

    The whole zip is checked before anything is written, and :class:`ArchiveError` names the first
    entry that cannot be imported: a name that is absolute or contains ``..`` or a NUL character,
    a device file or FIFO, an entry that appears twice, an entry below a file or link (of the zip
    or of the directory), a file where a directory is (or the reverse), damaged data.

    >>> import_zip("/data", open("/tmp/data.zip", "rb"))           # doctest: +SKIP
    <ImportResult: 12 written, 1 kept (notes.txt)>
    """
    root = os.path.abspath(root)
    with _open_zip(source, root) as zf:
        entries = _check(zf, root)
        return _write(zf, root, entries, overwrite, link_times or _utime_link)


@contextlib.contextmanager
def _open_zip(source: Source, root: str) -> Iterator[zipfile.ZipFile]:
    file: str | IO[bytes]
    if isinstance(source, bytes | bytearray | memoryview):
        file = io.BytesIO(source)
    elif isinstance(source, str | os.PathLike):
        file = os.path.abspath(os.fspath(source))
        if _inside(file, root):
            # The import may replace the zip itself while reading it.
            with open(file, "rb") as f:
                file = io.BytesIO(f.read())
    elif callable(getattr(source, "read", None)):
        file = source if _seekable(source) else io.BytesIO(source.read())
    else:
        raise TypeError(
            f"source: expected the zip's bytes, a binary file object or a path, got "
            f"{type(source).__name__}"
        )
    try:
        zf = zipfile.ZipFile(file)
    except zipfile.BadZipFile as e:
        raise ArchiveError(f"cannot import: the source is not a readable zip file ({e})") from e
    with zf:
        yield zf


def _seekable(f: IO[bytes]) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _check(zf: zipfile.ZipFile, root: str) -> list[_Entry]:
    """Every entry of the zip, validated against itself and ``root``, parents first."""
    entries: dict[str, _Entry] = {}
    for info in zf.infolist():
        entry = _entry(zf, info)
        if entry is None:
            continue
        if entry.rel in entries:
            _refuse(info, "appears twice in the zip")
        entries[entry.rel] = entry

    existing: dict[str, int | None] = {}  # rel -> st_mode of what is in root now (None: missing)

    def mode_in_root(rel: str) -> int | None:
        if rel not in existing:
            try:
                existing[rel] = os.lstat(os.path.join(root, rel)).st_mode
            except FileNotFoundError:
                existing[rel] = None
        return existing[rel]

    for rel, entry in entries.items():
        parent = posixpath.dirname(rel)
        while parent:
            above = entries.get(parent)
            if above is not None and above.kind != "directory":
                _refuse(entry.info, f"is below {parent!r}, which is a {above.kind} in the zip")
            mode = mode_in_root(parent)
            if mode is not None and not stat.S_ISDIR(mode):
                # Writing below a link could land outside the directory.
                _refuse(
                    entry.info,
                    f"is below {parent!r}, which exists here as a {_kind_name(mode)}; move it away",
                )
            parent = posixpath.dirname(parent)
        mode = mode_in_root(rel)
        if mode is not None and stat.S_ISDIR(mode) != (entry.kind == "directory"):
            _refuse(entry.info, f"is a {entry.kind} but exists here as a {_kind_name(mode)}")

    for entry in entries.values():
        if entry.kind == "file":
            try:
                with zf.open(entry.info) as f:  # zipfile checks the CRC at the end
                    while f.read(_COPY_BUFFER):
                        pass
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                _refuse(entry.info, f"is damaged in the zip ({e})")
    return sorted(entries.values(), key=lambda e: e.rel)


def _entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Entry | None:
    name = info.orig_filename
    if "\x00" in name:
        _refuse(info, "has a NUL character in its name")
    if name.startswith("/"):
        _refuse(info, "is an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        _refuse(info, "would leave the directory ('..')")
    if not parts:
        return None  # the directory itself ("./"): nothing to create

    unix = info.external_attr >> 16 if info.create_system == _UNIX else 0
    kind = stat.S_IFMT(unix)
    if name.endswith("/") or kind == stat.S_IFDIR:
        kind = stat.S_IFDIR
    elif kind == 0:  # written without a Unix mode (e.g. on Windows): a plain file
        kind = stat.S_IFREG
    if kind not in _KINDS:
        _refuse(info, f"is a {_kind_name(unix)}; autosync keeps files, directories and links")
    mode = stat.S_IMODE(unix) or (0o755 if kind == stat.S_IFDIR else 0o644)

    target = None
    if kind == stat.S_IFLNK:
        try:
            target = os.fsdecode(zf.read(info))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            _refuse(info, f"is damaged in the zip ({e})")
        if not target or "\x00" in target:
            _refuse(info, f"is a symbolic link with an invalid target {target!r}")
    return _Entry("/".join(parts), _KINDS[kind], mode, _entry_times(info), info, target)


def _write(
    zf: zipfile.ZipFile, root: str, entries: list[_Entry], overwrite: bool, link_times: LinkTimes
) -> ImportResult:
    written: list[str] = []
    kept: list[str] = []
    directories: list[_Entry] = []
    for entry in entries:
        path = os.path.join(root, entry.rel)
        exists = os.path.lexists(path)
        if entry.kind == "directory":
            if not exists:
                os.makedirs(path)
                written.append(entry.rel + "/")
            if overwrite or not exists:
                directories.append(entry)
            continue
        if exists and not overwrite:
            kept.append(entry.rel)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if exists:
            os.unlink(path)  # never write through what is there (a link may point anywhere)
        if entry.kind == "symbolic link":
            assert entry.target is not None
            os.symlink(entry.target, path)
            link_times(path, *entry.times)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as dst, zf.open(entry.info) as src:
                shutil.copyfileobj(src, dst, _COPY_BUFFER)
            os.chmod(path, entry.mode)
            os.utime(path, ns=entry.times)
        written.append(entry.rel)
    # Creating children changes a directory's mtime: directories get theirs last, deepest first.
    for entry in reversed(directories):
        path = os.path.join(root, entry.rel)
        os.chmod(path, entry.mode)
        os.utime(path, ns=entry.times)
    return ImportResult(tuple(written), tuple(kept))


def _utime_link(path: str, atime_ns: int, mtime_ns: int) -> None:
    if os.utime in os.supports_follow_symlinks:
        os.utime(path, ns=(atime_ns, mtime_ns), follow_symlinks=False)


def _refuse(info: zipfile.ZipInfo, why: str) -> NoReturn:
    raise ArchiveError(f"zip entry {info.orig_filename!r} {why}; nothing was imported")


def _kind_name(mode: int) -> str:
    kind = stat.S_IFMT(mode)
    if kind in _KINDS:
        return _KINDS[kind]
    names = {stat.S_IFIFO: "FIFO", stat.S_IFCHR: "character device", stat.S_IFBLK: "block device"}
    return names.get(kind, "socket" if kind == stat.S_IFSOCK else f"special file ({kind:o})")


def _inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def default_name(root: str) -> str:
    """``data-20261130-142501.zip`` for ``/data``: the directory's name and the local time."""
    name = os.path.basename(root.rstrip("/")) or "autosync"
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.zip"
