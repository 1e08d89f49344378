// Failures the soak found with two tabs (tests/soak, ./dev soak --tabs 2), each reduced to the few
// steps that make it happen every time: two Pyodide runtimes in one process share fake-indexeddb,
// with and without a stand-in for Web Locks (as tests/js/peers.test.mjs does), and a third one
// restores what they left. Each test fails until autosync is fixed.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { Locks, flush, start, tab, until } from "./harness.mjs";

const CHUNK = 262144;

const read = (t, path) => Buffer.from(t.FS.readFile(path)).toString();
const exists = (t, path) => t.FS.analyzePath(path).exists;
const list = (t, path) => t.FS.readdir(path).filter((n) => n !== "." && n !== "..").sort();

function pattern(size, seed) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) % 251 || 1;
  return out;
}

let serial = 0;

for (const withLocks of [true, false]) {
  describe(withLocks ? "with Web Locks" : "without Web Locks", () => {
    // a and b are the two tabs; c restores what they saved.
    let a;
    let b;
    let c;
    // Every mount a test started, detached after it whether it passed or not: a mount left running
    // (its poll timer, its BroadcastChannel) would keep node from exiting.
    const started = [];
    const mount = async (t, dir, options) => {
      const m = await start(t, dir, options);
      started.push(m);
      return m;
    };
    // What `c` restores of `dir`: the restore's counts (with `failed`).
    const restoreInC = async (dir) => {
      const restored = {};
      await mount(c, dir, { restoredOut: restored });
      return restored;
    };

    before(async () => {
      [a, b, c] = [await tab(), await tab(), await tab()];
      // Set after Pyodide has loaded: it tells Node from a browser by `navigator`.
      if (withLocks) globalThis.navigator = { locks: new Locks() };
    });
    after(() => {
      delete globalThis.navigator;
    });
    afterEach(() => {
      for (const m of started.splice(0)) m.detach();
    });

    // ./dev soak --seed 3 --tabs 2 (and 204): the catch-up read both of the other tab's commits at
    // once, and the file ended up stored under both keys (its id twice).
    test("a file changed here while another tab changed and then moved it is stored once", async () => {
      const dir = `/s${++serial}`;
      const ma = await mount(a, dir);
      a.FS.mkdir(`${dir}/d`);
      a.FS.mkdir(`${dir}/e`);
      a.FS.writeFile(`${dir}/d/x`, "base");
      await flush(ma);
      const mb = await mount(b, dir);
      a.FS.writeFile(`${dir}/d/x`, "changed in a");
      b.FS.writeFile(`${dir}/d/x`, "changed in b");
      await flush(mb);
      b.FS.rename(`${dir}/d/x`, `${dir}/e/y`);
      await flush(mb);
      await flush(ma);
      const restored = await restoreInC(dir);
      assert.deepEqual(restored.failed, [], "the restore found no damaged records");
      const places = [`${dir}/d/x`, `${dir}/e/y`].filter((p) => exists(c, p));
      assert.equal(places.length, 1, `stored once, found at ${places}`);
      assert.equal(read(c, places[0]), "changed in a", "the later flush's whole version");
    });

    // The same two keys, later (./dev soak --seed 200 --tabs 2 --kinds-apart): deleting the file
    // removes one of them and its chunks, and the other comes back after a restore as zeros.
    test("a file changed here while another tab changed and moved it, then deleted, stays deleted", async () => {
      const dir = `/s${++serial}`;
      const big = (byte) => new Uint8Array(3 * CHUNK + 5).fill(byte);
      const ma = await mount(a, dir);
      a.FS.mkdir(`${dir}/d`);
      a.FS.mkdir(`${dir}/e`);
      a.FS.writeFile(`${dir}/d/x`, big(1));
      await flush(ma);
      const mb = await mount(b, dir);
      a.FS.writeFile(`${dir}/d/x`, big(2));
      b.FS.writeFile(`${dir}/d/x`, big(3));
      await flush(mb);
      b.FS.rename(`${dir}/d/x`, `${dir}/e/y`);
      await flush(mb);
      await flush(ma);
      await until(() => !exists(b, `${dir}/e/y`), 3000, "tab a's version in tab b");
      a.FS.unlink(`${dir}/d/x`);
      await flush(ma);
      await restoreInC(dir);
      assert.deepEqual([list(c, `${dir}/d`), list(c, `${dir}/e`)], [[], []], "nothing came back");
    });

    // ./dev soak --seed 207 --tabs 2 --kinds-apart: the deletion waited for the file to be closed,
    // the next flush wrote only the chunk written meanwhile, and the store held that chunk beside
    // zeros where the deletion had removed the others.
    test("a file held open for writing that another tab deleted is saved whole by its next flush", async () => {
      const dir = `/s${++serial}`;
      const ma = await mount(a, dir);
      a.FS.writeFile(`${dir}/f`, pattern(3 * CHUNK, 4));
      await flush(ma);
      const mb = await mount(b, dir);
      const open = b.FS.open(`${dir}/f`, "r+");
      try {
        a.FS.unlink(`${dir}/f`);
        await flush(ma);
        await until(() => mb.shared().deferred === 1, 3000, "the deletion waiting in tab b");
        b.FS.write(open, new Uint8Array(10).fill(9), 0, 10, 2 * CHUNK + 5);
        await flush(mb);
      } finally {
        b.FS.close(open);
      }
      await restoreInC(dir);
      const version = pattern(3 * CHUNK, 4);
      version.fill(9, 2 * CHUNK + 5, 2 * CHUNK + 15);
      assert.ok(exists(c, `${dir}/f`), "tab b's later flush kept the file");
      assert.ok(Buffer.compare(Buffer.from(c.FS.readFile(`${dir}/f`)), Buffer.from(version)) === 0, "tab b's whole version");
    });

    // ./dev soak --seed 202 --tabs 2 --kinds-apart: the other tab's file stayed stored under the
    // removed directory's id, where no restore finds it.
    test("a file added to a directory another tab removed and made again is not lost", async () => {
      const dir = `/s${++serial}`;
      const ma = await mount(a, dir);
      a.FS.mkdir(`${dir}/d`);
      await flush(ma);
      const mb = await mount(b, dir);
      a.FS.rmdir(`${dir}/d`);
      a.FS.mkdir(`${dir}/d`);
      b.FS.writeFile(`${dir}/d/added-in-b`, "b");
      await flush(mb);
      await flush(ma);
      const restored = await restoreInC(dir);
      assert.deepEqual(restored.failed, [], "the restore found no damaged records");
      assert.equal(read(c, `${dir}/d/added-in-b`), "b");
    });

    // ./dev soak --seed 101 --tabs 2 (and 108, 109: os.listdir() of a path os.lstat() called a
    // directory failed with ENOTDIR): the tab whose file lost to the other tab's directory of the
    // same name kept a file node with a directory's mode.
    test("a directory here and a file of the same name in another tab: both tabs end with one usable entry", async () => {
      const dir = `/s${++serial}`;
      const ma = await mount(a, dir);
      const mb = await mount(b, dir);
      a.FS.mkdir(`${dir}/b`);
      b.FS.writeFile(`${dir}/b`, "a file");
      await flush(mb);
      await flush(ma);
      const usable = (t) => {
        const isDir = t.FS.isDir(t.FS.lstat(`${dir}/b`).mode);
        try {
          if (isDir) t.FS.readdir(`${dir}/b`);
          else t.FS.readFile(`${dir}/b`);
          return isDir ? "directory" : "file";
        } catch (e) {
          return `a ${isDir ? "directory" : "file"} by its mode that fails with errno ${e.errno}`;
        }
      };
      await until(() => usable(b) !== "file", 3000, "tab a's commit in tab b");
      assert.deepEqual([usable(a), usable(b)], ["directory", "directory"], "tab a's flush came later and wins");
    });
  });
}
