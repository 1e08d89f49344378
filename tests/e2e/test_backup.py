"""Copies out and back in, in real Chromium: a zip brings /data back after the origin's storage
is cleared from outside (as "clear site data" would), and a page offers it as a download."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from trees import describe

pytestmark = pytest.mark.e2e

# A tree with what a zip must carry: contents (one file over 1 MiB, so several 256 KiB chunks
# in IndexedDB), subdirectories (one empty), a symbolic link, modes and millisecond mtimes.
WRITE_TREE = """
import os
os.makedirs('/data/sub/deep')
os.makedirs('/data/empty')
with open('/data/notes.txt', 'w') as f:
    f.write('hello')
with open('/data/big.bin', 'wb') as f:
    f.write(os.urandom(1_500_000))
with open('/data/sub/deep/readonly.txt', 'w') as f:
    f.write('read only')
os.symlink('../notes.txt', '/data/sub/link')
os.chmod('/data/notes.txt', 0o600)
os.chmod('/data/sub/deep/readonly.txt', 0o444)
os.chmod('/data/sub/deep', 0o700)
for rel, ms in [('sub/deep/readonly.txt', 1_700_000_000_001), ('sub/deep', 1_400_000_000_000),
                ('sub', 1_500_000_000_987), ('notes.txt', 1_600_000_000_123),
                ('big.bin', 1_650_000_000_456), ('empty', 1_300_000_000_500)]:
    os.utime('/data/' + rel, ns=(ms * 10**6, ms * 10**6))
"""

# Links keep their mtimes in a zip too (describe() leaves them out).
LINK_MTIME = "str(os.lstat('/data/sub/link').st_mtime_ns)"


def start(page):
    page.python("import autosync, os\ndata = await autosync.start('/data').ready()\nNone")


def everything(page):
    return describe(page), page.python(LINK_MTIME)


def test_exported_zip_brings_everything_back_after_the_origin_storage_is_cleared(session):
    page = session.start()
    page.python(WRITE_TREE + "data = autosync.mounts()[0]\nNone")
    before = everything(page)
    assert len(before[0]) == 7 and before[0]["sub/link"] == {"link": "../notes.txt"}
    zipped = page.python(
        "import base64\nzipped = await data.export_zip()\nawait data.stop()\n"
        "base64.b64encode(zipped).decode()"
    )
    cdp = page.raw.context.new_cdp_session(page.raw)
    cdp.send(
        "Storage.clearDataForOrigin",
        {"origin": session.server.url.rstrip("/"), "storageTypes": "indexeddb"},
    )

    page = session.browser.reload(page)
    start(page)
    assert describe(page) == {}  # the saved copy is gone
    page.raw.evaluate("zipped => { window.zipped = zipped }", zipped)
    result = page.python(
        "import base64, js\n"
        "result = await data.import_zip(base64.b64decode(js.zipped))\n"
        "[sorted(result.written), list(result.kept)]"
    )
    tree = before[0]
    assert result == [sorted(rel + "/" if "dir" in tree[rel] else rel for rel in tree), []]
    assert everything(page) == before

    page = session.browser.reload(page)  # import_zip returned once saved: no wait needed
    start(page)
    assert everything(page) == before


def test_download_offers_the_same_zip_export_zip_returns(session, tmp_path):
    page = session.start()
    page.python("import os\nos.makedirs('/data/sub')\nopen('/data/sub/a.txt', 'w').write('A')")
    with page.raw.expect_download() as download:
        page.python("await autosync.mounts()[0].download('backup.zip')\nNone")
    assert download.value.suggested_filename == "backup.zip"
    saved = tmp_path / "backup.zip"
    download.value.save_as(saved)
    exported = page.python(
        "import base64\nbase64.b64encode(await autosync.mounts()[0].export_zip()).decode()"
    )
    assert saved.read_bytes() == base64.b64decode(exported)
    assert zipfile.ZipFile(io.BytesIO(saved.read_bytes())).read("sub/a.txt") == b"A"
