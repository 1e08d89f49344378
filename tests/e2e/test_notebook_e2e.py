"""%load_ext autosync in a real IPython shell inside Pyodide in Chromium, run as a notebook cell.

The shell is IPython's InteractiveShell (what JupyterLite's kernel and ipykernel derive from) with
a display publisher that records what a notebook would receive; cells run with
``run_cell_async`` inside ``runPythonAsync``, as a JupyterLite kernel runs them (JSPI).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

KERNEL = """
import pyodide_js
await pyodide_js.loadPackage('ipython')
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

received = []  # what the notebook would get: [mime types, display id, update?, text]

class Publisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
        received.append([sorted(data), (transient or {}).get('display_id'), update,
                         data.get('text/plain')])

class KernelShell(InteractiveShell):
    pass

shell = KernelShell.instance(display_pub_class=Publisher)
None
"""


def test_load_ext_restores_within_the_cell_with_a_progress_bar_and_magics_save(session):
    page = session.start()
    page.python(
        "import os\n"
        "for i in range(4):\n"
        "    open(f'/data/f{i}', 'wb').write(os.urandom(400_000))\n"
        "await autosync.flush()\n"
    )
    page = session.browser.reload(page)  # a new kernel
    page.python(KERNEL)
    cell = page.python(
        "import os\nfrom autosync import notebook\n"
        # as a JupyterLite site ships it, in the kernel's working directory
        "open('autosync.toml', 'w').write('path = \"/data\"\\n')\n"
        "notebook.SHOW_AFTER_S = 0.0  # a restore this small takes less than the real second\n"
        "result = await shell.run_cell_async('%load_ext autosync')\n"
        "[result.success, repr(result.error_in_exec), sorted(os.listdir('/data')), received]"
    )
    success, error, restored, received = cell
    assert (success, error) == (True, "None")
    assert restored == ["f0", "f1", "f2", "f3"]  # back before the cell returned
    *bars, table = received
    assert len({bar[1] for bar in bars}) == 1 and bars[0][1] is not None  # one bar...
    assert [bar[2] for bar in bars[1:]] == [True] * (len(bars) - 1)  # ...updated in place
    assert bars[-1][3].startswith("autosync /data: restored 4 entries, 1.5 MiB in")
    assert table[:3] == [["text/html", "text/plain"], None, False]
    assert table[3].startswith("autosync /data: idle; unsaved: none; saves: none yet")

    saved = page.python(
        "import autosync\nopen('/data/new.txt', 'w').write('x')\n"
        "received.clear()\n"
        "result = await shell.run_cell_async('%autosync flush')\n"
        "[result.success, autosync.status().flush_count, received[-1][3]]"
    )
    assert saved[:2] == [True, 1]
    assert saved[2].startswith("autosync /data: idle; unsaved: none; saves: 1, last")
