"""``./dev demo``: serve the demo page; ``./dev demo --headless``: drive a browser through a crash.

The headless run writes files from Python in the page, reloads, SIGKILLs the whole browser,
restarts it on the same profile and prints what came back. It exits 1 if anything that should
have survived did not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from .server import Server

DEBOUNCE_S = 0.5  # what demo.js passes to autosync.start()
MARGIN_S = 1.5

LISTING = """
import os
out = {}
for top, dirs, names in os.walk('/data'):
    for name in names:
        p = os.path.join(top, name)
        out[p] = os.path.getsize(p)
out
"""


def serve(port: int) -> int:
    with Server(port) as server:
        print(f"autosync demo on {server.url}  (Ctrl-C to stop)")
        print("Write a note or run Python, reload the page: /data comes back.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print()
    return 0


def headless(engine: str) -> int:
    from .engines import engine as driver

    failures = []

    def check(label: str, ok: bool, detail: object) -> None:
        print(f"  [{'ok' if ok else 'LOST'}] {label}: {detail}")
        if not ok:
            failures.append(label)

    browser_type = driver(engine)
    with (
        tempfile.TemporaryDirectory(prefix="autosync-demo-") as profile,
        Server() as server,
        browser_type(profile) as browser,
    ):
        print(f"{browser_type.version()} (headless, profile {profile}) -> {server.url}")
        page = browser.open(server.url)
        print("1. write /data/config.json and a row in /data/visits.db (connection left open)")
        page.python(
            "import sqlite3\n"
            "open('/data/config.json', 'w').write('{\"theme\": \"dark\"}')\n"
            "db = sqlite3.connect('/data/visits.db')\n"
            "db.execute('create table visits (n)')\n"
            "db.execute('insert into visits values (1)')\n"
            "db.commit()\n"
            "None"
        )
        time.sleep(DEBOUNCE_S + MARGIN_S)
        print("2. reload the page")
        page = browser.reload(page)
        print("   /data now holds:", page.python(LISTING))
        config = page.python("open('/data/config.json').read()")
        check("config.json after reload", config == '{"theme": "dark"}', config)

        print("3. append to notes.txt, wait past debounce_ms, then SIGKILL every browser process")
        page.python("open('/data/notes.txt', 'a').write('written before the crash\\n')\nNone")
        time.sleep(DEBOUNCE_S + MARGIN_S)
        browser.kill()
        print("4. start the browser again on the same profile")
        browser.start()
        page = browser.open(server.url)
        print("   /data now holds:", page.python(LISTING))
        notes = page.python("open('/data/notes.txt').read()")
        check("notes.txt after the crash", notes == "written before the crash\n", repr(notes))
        rows = page.python(
            "import sqlite3\n"
            "db = sqlite3.connect('/data/visits.db')\n"
            "[db.execute('select count(*) from visits').fetchone()[0],"
            " db.execute('pragma integrity_check').fetchone()[0]]"
        )
        check("visits.db after reload and crash", rows == [1, "ok"], rows)
        status = page.python(
            "s = autosync.status('/data')\n[s.state, s.restored.get('files'), s.flush_count]"
        )
        print(f"   autosync status: state={status[0]}, restored files={status[1]}")
    if failures:
        print("FAILED:", ", ".join(failures))
        return 1
    print("Everything written more than debounce_ms before the crash survived.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__.splitlines()[0])
    parser.add_argument("--headless", action="store_true", help="drive a browser, print results")
    parser.add_argument(
        "--engine",
        choices=["chromium", "firefox", "webkit"],
        default="chromium",
        help="the browser --headless drives (default: chromium)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    args = parser.parse_args(argv)
    return headless(args.engine) if args.headless else serve(args.port)


if __name__ == "__main__":
    sys.exit(main())
