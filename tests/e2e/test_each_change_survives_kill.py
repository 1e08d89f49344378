"""Every kind of change under the mount is saved without a flush call and survives a SIGKILL.

Each case: prepare a state and save it explicitly (the "before"), make one change, wait past the
debounce, kill the browser, restart it, start autosync again and look at the restored directory.
Chromium gets one kill per case. Firefox and WebKit start Pyodide several times slower, so there
every case runs in its own directory and one kill covers them all (each still checked by name).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from e2e_timing import FLUSH_ALLOWANCE_S

pytestmark = pytest.mark.e2e

DEBOUNCE_MS = 300


@dataclass(frozen=True)
class Case:
    """Python snippets run with ``d`` = the case's directory (``/data`` when alone)."""

    before: str
    change: str
    check: str
    expected: object


# Over one chunk (256 KiB): the writes below touch one chunk, the truncation drops the last ones.
LARGE_SRC = "bytes(range(256)) * (3 * 1024 + 7)"  # 786,176 bytes: 3 chunks and a bit
LARGE = eval(LARGE_SRC)  # the same bytes on the host, for the expected digests


CASES = {
    "create": Case(
        "",
        "open(f'{d}/new.txt', 'w').write('created')",
        "open(f'{d}/new.txt').read()",
        "created",
    ),
    "write_to_file_kept_open": Case(
        "",
        "keep = open(f'{d}/open.log', 'a')\nkeep.write('line 1\\n')\nkeep.flush()",
        "open(f'{d}/open.log').read()",
        "line 1\n",
    ),
    "logging_filehandler_kept_open": Case(
        "",
        "import logging\n"
        "handler = logging.FileHandler(f'{d}/app.log')\n"
        "log = logging.getLogger('e2e')\n"
        "log.addHandler(handler)\n"
        "log.warning('it happened')",
        "open(f'{d}/app.log').read()",
        "it happened\n",
    ),
    "truncate_by_reopening": Case(
        "open(f'{d}/t.txt', 'w').write('x' * 1000)",
        "open(f'{d}/t.txt', 'w').close()",
        "os.path.getsize(f'{d}/t.txt')",
        0,
    ),
    "write_into_large_file": Case(
        f"open(f'{{d}}/large.bin', 'wb').write({LARGE_SRC})",
        "with open(f'{d}/large.bin', 'r+b') as f:\n    f.seek(300_000)\n    f.write(b'X' * 10)",
        "import hashlib\nhashlib.sha256(open(f'{d}/large.bin', 'rb').read()).hexdigest()",
        hashlib.sha256(LARGE[:300_000] + b"X" * 10 + LARGE[300_010:]).hexdigest(),
    ),
    "truncate_large_file": Case(
        f"open(f'{{d}}/large.bin', 'wb').write({LARGE_SRC})",
        "os.truncate(f'{d}/large.bin', 300_000)",
        "import hashlib\nhashlib.sha256(open(f'{d}/large.bin', 'rb').read()).hexdigest()",
        hashlib.sha256(LARGE[:300_000]).hexdigest(),
    ),
    "ftruncate": Case(
        "open(f'{d}/t.txt', 'w').write('0123456789' * 10)",
        "os.truncate(f'{d}/t.txt', 15)",
        "open(f'{d}/t.txt').read()",
        "012345678901234",
    ),
    "rename_within": Case(
        "open(f'{d}/a.txt', 'w').write('A')",
        "os.rename(f'{d}/a.txt', f'{d}/b.txt')",
        "sorted(os.listdir(d)), open(f'{d}/b.txt').read()",
        [["b.txt"], "A"],
    ),
    "rename_directory": Case(
        "os.makedirs(f'{d}/d/sub')\nopen(f'{d}/d/sub/f.txt', 'w').write('deep')",
        "os.rename(f'{d}/d', f'{d}/e')",
        "sorted(os.listdir(d)), open(f'{d}/e/sub/f.txt').read()",
        [["e"], "deep"],
    ),
    "move_into_mount": Case(
        "open('/tmp/outside.txt', 'w').write('moved in')",
        "import shutil\nshutil.move('/tmp/outside.txt', f'{d}/inside.txt')",
        "open(f'{d}/inside.txt').read()",
        "moved in",
    ),
    "move_out_of_mount": Case(
        "open(f'{d}/leaving.txt', 'w').write('bye')",
        "import shutil\nshutil.move(f'{d}/leaving.txt', '/tmp/left.txt')",
        "os.listdir(d)",
        [],
    ),
    "unlink": Case(
        "open(f'{d}/gone.txt', 'w').write('x')\nopen(f'{d}/stays.txt', 'w').write('y')",
        "os.remove(f'{d}/gone.txt')",
        "os.listdir(d)",
        ["stays.txt"],
    ),
    "mkdir": Case(
        "",
        "os.makedirs(f'{d}/a/b/c')",
        "os.path.isdir(f'{d}/a/b/c'), os.listdir(f'{d}/a/b/c')",
        [True, []],
    ),
    "rmdir": Case(
        "os.makedirs(f'{d}/empty')",
        "os.rmdir(f'{d}/empty')",
        "os.listdir(d)",
        [],
    ),
    "symlink": Case(
        "open(f'{d}/target.txt', 'w').write('T')",
        "os.symlink('target.txt', f'{d}/link')",
        "os.readlink(f'{d}/link'), open(f'{d}/link').read()",
        ["target.txt", "T"],
    ),
    "chmod": Case(
        "open(f'{d}/m.txt', 'w').write('x')",
        "os.chmod(f'{d}/m.txt', 0o640)",
        "oct(os.stat(f'{d}/m.txt').st_mode & 0o777)",
        "0o640",
    ),
    "utime": Case(
        "open(f'{d}/old.txt', 'w').write('x')",
        "os.utime(f'{d}/old.txt', (1_000_000_000, 1_000_000_000))",
        "os.stat(f'{d}/old.txt').st_mtime",
        1_000_000_000,
    ),
}


# On every older Pyodide too: a file kept open, written without close, survives a kill.
EVERY_PYODIDE = {"write_to_file_kept_open"}


def in_dir(d: str, snippet: str) -> str:
    return f"import os\nd = {d!r}\n{snippet}"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=[pytest.mark.every_pyodide] if n in EVERY_PYODIDE else [])
        for n in CASES
    ],
)
def test_change_survives_browser_kill(session, name):
    case = CASES[name]
    page = session.start(debounce_ms=DEBOUNCE_MS, max_wait_ms=1000)
    if case.before:
        page.python(in_dir("/data", f"{case.before}\nawait autosync.flush()\nNone"))
    page.python(in_dir("/data", f"{case.change}\nNone"))
    session.kill_after(DEBOUNCE_MS / 1000 + FLUSH_ALLOWANCE_S)
    page = session.restart()
    assert page.python(in_dir("/data", case.check)) == case.expected


@pytest.mark.engines("firefox", "webkit")
def test_every_change_survives_one_browser_kill(session):
    dirs = {name: f"/data/{name}" for name in CASES}
    page = session.start(debounce_ms=DEBOUNCE_MS, max_wait_ms=1000)
    for name, case in CASES.items():
        page.python(in_dir(dirs[name], f"os.mkdir(d)\n{case.before}\nNone"))
    page.python("await autosync.flush()\nNone")
    for name, case in CASES.items():
        page.python(in_dir(dirs[name], f"{case.change}\nNone"))
    session.kill_after(DEBOUNCE_MS / 1000 + FLUSH_ALLOWANCE_S)
    page = session.restart()
    lost = {}
    for name, case in CASES.items():
        try:
            got = page.python(in_dir(dirs[name], case.check))
        except RuntimeError as e:
            got = str(e).strip().splitlines()[-1]
        if got != case.expected:
            lost[name] = f"expected {case.expected!r}, got {got!r}"
    assert not lost, "changes lost in the kill:\n" + "\n".join(f"{k}: {v}" for k, v in lost.items())
