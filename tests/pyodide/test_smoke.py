"""Smoke test: the autosync wheel loads in Pyodide and IndexedDB is available.

Runs once per runtime given by --rt (node and chrome under ./dev test).
"""

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["autosync"])
def test_autosync_loads_and_indexeddb_exists(selenium):
    from importlib.metadata import version

    import js

    import autosync

    assert autosync.__version__ == version("autosync")  # the wheel's metadata took it from there
    assert js.indexedDB is not None
    assert callable(js.indexedDB.open)
