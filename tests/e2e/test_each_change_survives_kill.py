"""Every kind of change under the mount is saved without a flush call and survives a SIGKILL.

Each case: prepare a state and save it explicitly (the "before"), make one change, wait past the
debounce, kill Chromium, restart it, start autosync again and look at the restored directory.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from e2e_timing import FLUSH_ALLOWANCE_S

pytestmark = pytest.mark.e2e

DEBOUNCE_MS = 300


@dataclass(frozen=True)
class Case:
    before: str
    change: str
    check: str
    expected: object


CASES = {
    "create": Case(
        "",
        "open('/data/new.txt', 'w').write('created')",
        "open('/data/new.txt').read()",
        "created",
    ),
    "write_to_file_kept_open": Case(
        "",
        "keep = open('/data/open.log', 'a')\nkeep.write('line 1\\n')\nkeep.flush()",
        "open('/data/open.log').read()",
        "line 1\n",
    ),
    "logging_filehandler_kept_open": Case(
        "",
        "import logging\n"
        "handler = logging.FileHandler('/data/app.log')\n"
        "log = logging.getLogger('e2e')\n"
        "log.addHandler(handler)\n"
        "log.warning('it happened')",
        "open('/data/app.log').read()",
        "it happened\n",
    ),
    "truncate_by_reopening": Case(
        "open('/data/t.txt', 'w').write('x' * 1000)",
        "open('/data/t.txt', 'w').close()",
        "os.path.getsize('/data/t.txt')",
        0,
    ),
    "ftruncate": Case(
        "open('/data/t.txt', 'w').write('0123456789' * 10)",
        "os.truncate('/data/t.txt', 15)",
        "open('/data/t.txt').read()",
        "012345678901234",
    ),
    "rename_within": Case(
        "open('/data/a.txt', 'w').write('A')",
        "os.rename('/data/a.txt', '/data/b.txt')",
        "sorted(os.listdir('/data')), open('/data/b.txt').read()",
        [["b.txt"], "A"],
    ),
    "rename_directory": Case(
        "os.makedirs('/data/d/sub')\nopen('/data/d/sub/f.txt', 'w').write('deep')",
        "os.rename('/data/d', '/data/e')",
        "sorted(os.listdir('/data')), open('/data/e/sub/f.txt').read()",
        [["e"], "deep"],
    ),
    "move_into_mount": Case(
        "open('/tmp/outside.txt', 'w').write('moved in')",
        "import shutil\nshutil.move('/tmp/outside.txt', '/data/inside.txt')",
        "open('/data/inside.txt').read()",
        "moved in",
    ),
    "move_out_of_mount": Case(
        "open('/data/leaving.txt', 'w').write('bye')",
        "import shutil\nshutil.move('/data/leaving.txt', '/tmp/left.txt')",
        "os.listdir('/data')",
        [],
    ),
    "unlink": Case(
        "open('/data/gone.txt', 'w').write('x')\nopen('/data/stays.txt', 'w').write('y')",
        "os.remove('/data/gone.txt')",
        "os.listdir('/data')",
        ["stays.txt"],
    ),
    "mkdir": Case(
        "",
        "os.makedirs('/data/a/b/c')",
        "os.path.isdir('/data/a/b/c'), os.listdir('/data/a/b/c')",
        [True, []],
    ),
    "rmdir": Case(
        "os.makedirs('/data/empty')",
        "os.rmdir('/data/empty')",
        "os.listdir('/data')",
        [],
    ),
    "symlink": Case(
        "open('/data/target.txt', 'w').write('T')",
        "os.symlink('target.txt', '/data/link')",
        "os.readlink('/data/link'), open('/data/link').read()",
        ["target.txt", "T"],
    ),
    "chmod": Case(
        "open('/data/m.txt', 'w').write('x')",
        "os.chmod('/data/m.txt', 0o640)",
        "oct(os.stat('/data/m.txt').st_mode & 0o777)",
        "0o640",
    ),
    "utime": Case(
        "open('/data/old.txt', 'w').write('x')",
        "os.utime('/data/old.txt', (1_000_000_000, 1_000_000_000))",
        "os.stat('/data/old.txt').st_mtime",
        1_000_000_000,
    ),
}


# On every older Pyodide too: a file kept open, written without close, survives a kill.
EVERY_PYODIDE = {"write_to_file_kept_open"}


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
        page.python(f"import os\n{case.before}\nawait autosync.flush()\nNone")
    page.python(f"import os\n{case.change}\nNone")
    session.kill_after(DEBOUNCE_MS / 1000 + FLUSH_ALLOWANCE_S)
    page = session.restart()
    assert page.python(f"import os\n{case.check}") == case.expected
