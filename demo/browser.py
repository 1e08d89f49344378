"""The Chromium driver under its first name (the benchmarks and the Pyodide tests import it).

See :mod:`demo.engines` for every engine and :mod:`demo.engines.base` for the interface.
"""

from demo.engines.chromium import CHROMIUM, CHROMIUM_FLAGS
from demo.engines.chromium import Chromium as Browser
from demo.engines.chromium import ChromiumPage as Page

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "Browser", "Page"]
