"""The Chromium driver under its first name (the benchmarks and the Pyodide tests import it).

See :mod:`demo.engines` for every engine and :mod:`demo.engines.base` for the interface.
"""

from demo.engines.base import LOAD_TIMEOUT_S
from demo.engines.chromium import CHROMIUM, CHROMIUM_FLAGS
from demo.engines.chromium import Chromium as Browser
from demo.engines.chromium import ChromiumPage as Page

# Playwright counts in milliseconds.
LOAD_TIMEOUT_MS = int(LOAD_TIMEOUT_S * 1000)

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "LOAD_TIMEOUT_MS", "Browser", "Page"]
