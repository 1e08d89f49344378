"""Where the time of ``await autosync.start(path).ready()`` goes, phase by phase, in a fresh browser.

``.build/venv/bin/python -m bench.profile_restore --files 20000`` (or ``--mib 200``) saves that
subject with autosync, then restores it ``--runs`` times, each in a newly started Chromium, with
autosync's JavaScript loaded through an instrumented loader: the functions of the restore path
(store.open, the Blob probe, describe, readNodes and the code handling each batch, readFiles,
settling the lock, catching up) record when they start and end. Printed: each phase's time from
the call, and the part of the whole not inside any recorded phase (Python, the hooks' setup).
Nothing of autosync is changed; the instrumented functions are wrappers around its own.

Also ``--idbfs`` times IDBFS's restore split into opening the database, reading the values and
writing them into MEMFS, for comparison.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

from .harness import Session, progress
from .storage import NEVER_MS

# Evaluates autosync's modules like autosync/_pyodide.py does, wrapping the named functions of the
# named modules (and class prototypes) so that each call records [name, start, end] in ms.
LOADER = r"""(FS, sources) => {
  const marks = (globalThis.autosyncMarks = []);
  const wrap = (owner, key, name) => {
    const f = owner[key];
    if (typeof f !== "function") return;
    owner[key] = function (...args) {
      const t = performance.now();
      const end = () => marks.push([name, t, performance.now()]);
      let out;
      try {
        out = f.apply(this, args);
      } catch (e) {
        end();
        throw e;
      }
      if (out && typeof out.then === "function") return out.finally(end);
      end();
      return out;
    };
  };
  const plan = {
    store: ["open", "canStoreBlobs", "describe", "readNodes", "readFiles", "readChanges", "migrateIdbfs"],
    restore: ["restore"],
  };
  const protos = { peers: [["Peers", ["settleIn", "catchUp", "acquire"]]] };
  const lib = {};
  for (const [name, source] of sources) {
    lib[name] = (0, eval)(source)(FS, lib);
    for (const key of plan[name] || []) wrap(lib[name], key, `${name}.${key}`);
    for (const [cls, keys] of protos[name] || []) {
      for (const key of keys) wrap(lib[name][cls].prototype, key, `${cls}.${key}`);
    }
  }
  // The batch callback of readNodes: how much of its time is the restore's own work per batch.
  const readNodes = lib.store.readNodes;
  lib.store.readNodes = (db, count, batch) => {
    const timed = async (keys, values) => {
      const t = performance.now();
      await batch(keys, values);
      marks.push(["restore: handle a batch of nodes", t, performance.now()]);
    };
    return readNodes(db, count, timed);
  };
  // Mount is not exported: its methods are wrapped on the instance attach() returns.
  const attach = lib.mount.attach;
  lib.mount.attach = (...args) => {
    const mount = attach(...args);
    for (const key of ["database", "restoreAsync"]) wrap(mount, key, `Mount.${key}`);
    return mount;
  };
  return lib.mount;
}"""

INSTALL = f"""
import autosync._pyodide as _p
from autosync._pyodide import _JS_MODULES
from importlib import resources
from pyodide.ffi import to_js
_sources = to_js([[n, resources.files("autosync").joinpath("js", f"{{n}}.js").read_text("utf-8")]
                  for n in _JS_MODULES])
_p._api = run_js({LOADER!r})(FS, _sources)
None
"""

RUN = """
t0 = run_js("performance.now()")
t = time.perf_counter()
await autosync.start('{root}').ready()
total = ms(t)
marks = run_js("globalThis.autosyncMarks").to_py()
[total, [[name, start - t0, end - t0] for name, start, end in marks]]
"""

IDBFS = """
t0 = time.perf_counter()
mount = idbfs('{root}')
opened = run_js('''(IDBFS, mount) => new Promise((ok, bad) =>
  IDBFS.getDB(mount.mountpoint, (e, db) => e ? bad(e) : ok(db)))''')
db = await opened(FS.filesystems.IDBFS, mount)
t_open = ms(t0)
remote = run_js('''(IDBFS, mount) => new Promise((ok, bad) =>
  IDBFS.getRemoteSet(mount, (e, set) => e ? bad(e) : ok(set)))''')
await remote(FS.filesystems.IDBFS, mount)
t_keys = ms(t0)
await syncfs(mount, True)
[t_open, t_keys, ms(t0)]
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_restore", description=__doc__)
    parser.add_argument("--files", type=int, default=0, help="a tree of this many 1 KiB files")
    parser.add_argument("--mib", type=int, default=0, help="one file of this many MiB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idbfs", action="store_true", help="also time IDBFS's restore in parts")
    args = parser.parse_args()
    make = (
        f"fill_tree('{{root}}', {args.files})"
        if args.files
        else f"write_large('{{root}}', {args.mib})"
    )
    root = "/profiled"
    with Session() as session:
        page = session.open()
        progress("filling")
        page.python(
            f"m = await autosync.start('{root}', debounce_ms={NEVER_MS}, max_wait_ms={NEVER_MS}).ready()\n"
            f"{make.format(root=root)}\nawait m.flush()\n"
            + (
                f"idb = idbfs('/idbfs')\n{make.format(root='/idbfs')}\nawait syncfs(idb, False)\n"
                if args.idbfs
                else ""
            )
            + "None"
        )
        phases: dict[str, list[tuple[float, float]]] = defaultdict(list)
        totals = []
        for run in range(args.runs):
            page = session.fresh()
            page.python(INSTALL)
            total, marks = page.python(RUN.format(root=root))
            totals.append(total)
            spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for name, start, end in marks:
                spans[name].append((start, end))
            print(f"run {run}: total {total:.1f} ms")
            for name, list_ in sorted(spans.items(), key=lambda item: item[1][0][0]):
                busy = sum(end - start for start, end in list_)
                first, last = list_[0][0], max(end for _, end in list_)
                print(
                    f"  {name:40s} x{len(list_):<5d} {first:8.1f} .. {last:8.1f} ms  (sum {busy:.1f})"
                )
                phases[name].append((busy, last))
            if args.idbfs:
                page = session.fresh()
                opened, keys, whole = page.python(IDBFS.format(root="/idbfs"))
                print(
                    f"  IDBFS: database open {opened:.1f}, remote keys {keys:.1f}, "
                    f"whole restore {whole:.1f} ms"
                )
        print(f"median total {statistics.median(totals):.1f} ms")


if __name__ == "__main__":
    main()
