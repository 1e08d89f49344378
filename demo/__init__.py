"""autosync's demo: a page where Pyodide keeps /data saved, and a headless run through a real crash.

``./dev demo`` serves it on http://127.0.0.1:8000; ``./dev demo --headless`` drives Chromium itself.
The browser control in :mod:`demo.browser` is shared with the end-to-end tests.
"""
