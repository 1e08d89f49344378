# Counts this page's loads in /data/count: autosync keeps /data in IndexedDB across reloads.
# PyScript runs this with top-level await (hence the noqa: F704).
import asyncio
import os

from pyodide.ffi import can_run_sync
from pyscript import document

import autosync

data = await autosync.start("/data", debounce_ms=100).ready()  # noqa: F704
count = 1
if os.path.exists("/data/count"):
    with open("/data/count") as f:
        count += int(f.read())
flushes = data.status().flush_count
with open("/data/count", "w") as f:
    f.write(str(count))
document.getElementById("count").textContent = str(count)
# Tell the test once the new count is in IndexedDB (saved by autosync's own timer, no flush call).
while data.status().flush_count == flushes or data.status().dirty:
    await asyncio.sleep(0.05)  # noqa: F704
document.body.dataset.canRunSync = str(can_run_sync())
document.body.dataset.saved = str(count)
