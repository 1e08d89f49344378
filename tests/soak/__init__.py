"""The soak: random changes, flushes and SIGKILLs of real browsers, checked against a model.

- steps.py   a seeded generator of every kind of change to a directory (pure Python, as data)
- inpage.py  what runs inside Pyodide: the steps, and the tree's description
- runner.py  drives pages (Chromium, or one Node runtime), kills them, and checks each restore
             against the model (one tab) or what two tabs may have left (two tabs)
- __main__   ``./dev soak --minutes N [--seed S] [--tabs 2]``: many seeds until the time is up

A few seeds run in the test command: tests/e2e/test_random_kills.py (Chromium, kills) and
tests/pyodide/test_random_reloads.py (Node, reloads).
"""
