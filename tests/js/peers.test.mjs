// Several tabs on one directory (autosync/js/peers.js), on Node: two Pyodide runtimes in one process
// share fake-indexeddb and Node's BroadcastChannel, as two tabs of one origin share IndexedDB. With a
// stand-in for the Web Locks API (browsers have one; Node has none) and without one (Node, pages
// that are not secure contexts), since autosync coordinates differently in the two cases. The same
// scenarios run in real Chromium in tests/e2e/test_tabs.py.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Locks, tab, until } from "./harness.mjs";

const CHUNK = 262144;

function pattern(size, seed) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) % 251 || 1;
  return out;
}

let serial = 0;

// Another tab, loaded while `navigator` is out of Pyodide's way.
async function thirdTab() {
  const nav = globalThis.navigator;
  delete globalThis.navigator;
  try {
    return await tab();
  } finally {
    if (nav) globalThis.navigator = nav;
  }
}

async function start(t, path, options = {}) {
  if (!t.FS.analyzePath(path).exists) t.FS.mkdirTree(path);
  const m = t.api.attach(path, `autosync:${path}`);
  const restored = await m.restore(null);
  if (restored.error) throw new Error(restored.error);
  m.start(10 ** 9, false, { keepConflicts: !!options.keepConflicts, persist: false });
  return m;
}

async function flush(m) {
  const done = m.flush();
  if (!done) return null;
  const outcome = await done;
  if (outcome.error) throw Object.assign(new Error(outcome.error), { kind: outcome.kind });
  return outcome.value;
}

const read = (t, path) => Buffer.from(t.FS.readFile(path)).toString();
const exists = (t, path) => t.FS.analyzePath(path).exists;
const list = (t, path) => t.FS.readdir(path).filter((n) => n !== "." && n !== "..").sort();

for (const withLocks of [true, false]) {
  describe(withLocks ? "with Web Locks" : "without Web Locks", () => {
    let a;
    let b;
    before(async () => {
      [a, b] = [await tab(), await tab()];
      // Set after Pyodide has loaded: it tells Node from a browser by `navigator`.
      if (withLocks) globalThis.navigator = { locks: new Locks() };
    });
    after(() => {
      delete globalThis.navigator;
    });

    test("a file, a directory and a deletion committed in one tab show up in the other", async () => {
      const dir = `/p${++serial}`;
      const ma = await start(a, dir);
      const mb = await start(b, dir);
      a.FS.writeFile(`${dir}/gone.txt`, "x");
      await flush(ma);
      await until(() => exists(b, `${dir}/gone.txt`), 3000, "gone.txt in tab b");
      a.FS.mkdir(`${dir}/d`);
      a.FS.writeFile(`${dir}/d/new.txt`, "from a");
      a.FS.unlink(`${dir}/gone.txt`);
      await flush(ma);
      await until(() => exists(b, `${dir}/d/new.txt`) && !exists(b, `${dir}/gone.txt`), 3000, "a's commit in tab b");
      assert.equal(read(b, `${dir}/d/new.txt`), "from a");
      // And back: b's change reaches a.
      b.FS.writeFile(`${dir}/d/new.txt`, "from b");
      await flush(mb);
      await until(() => read(a, `${dir}/d/new.txt`) === "from b", 3000, "b's change in tab a");
      ma.detach();
      mb.detach();
    });

    test("renames of a file and of a directory move the same node in the other tab", async () => {
      const dir = `/p${++serial}`;
      const ma = await start(a, dir);
      a.FS.mkdir(`${dir}/src`);
      a.FS.writeFile(`${dir}/src/big.bin`, pattern(3 * CHUNK, 1));
      a.FS.writeFile(`${dir}/f.txt`, "f");
      await flush(ma);
      const mb = await start(b, dir);
      const node = b.FS.lookupPath(`${dir}/src/big.bin`).node;
      a.FS.rename(`${dir}/src`, `${dir}/dst`);
      a.FS.rename(`${dir}/f.txt`, `${dir}/dst/g.txt`);
      const stats = await flush(ma);
      // The 3-chunk file is not written again: only f.txt's one inline byte (small files' bytes
      // live in their record).
      assert.equal(stats.bytes, 1);
      await until(() => exists(b, `${dir}/dst/g.txt`), 3000, "the renames in tab b");
      assert.deepEqual(list(b, dir), ["dst"]);
      assert.equal(b.FS.lookupPath(`${dir}/dst/big.bin`).node, node);
      assert.deepEqual(b.FS.readFile(`${dir}/dst/big.bin`), pattern(3 * CHUNK, 1));
      ma.detach();
      mb.detach();
    });

    // Which tab flushes later depends on how the lock changes hands (a tab that gives way saves
    // first): the tests find the winner from what is stored, and check everything against it.
    async function conflictOutcome(ma, mb, path, va, vb) {
      await Promise.all([flush(ma), flush(mb)]);
      const c = await thirdTab();
      const mc = await start(c, path.slice(0, path.lastIndexOf("/")));
      const stored = c.FS.readFile(path);
      mc.detach();
      const aWon = Buffer.compare(Buffer.from(stored), Buffer.from(va)) === 0;
      assert.ok(aWon || Buffer.compare(Buffer.from(stored), Buffer.from(vb)) === 0, "the stored file is one tab's whole version");
      return aWon ? [ma, mb, a, b, va, vb] : [mb, ma, b, a, vb, va];
    }

    test("a multi-chunk file changed in different chunks by two tabs is stored as one tab's whole version", async () => {
      const dir = `/p${++serial}`;
      const ma = await start(a, dir);
      a.FS.writeFile(`${dir}/db.bin`, pattern(8 * CHUNK, 2));
      await flush(ma);
      const mb = await start(b, dir);
      const va = pattern(8 * CHUNK, 2);
      va.fill(0xaa, 0, 10); // chunk 0, in tab a
      const vb = pattern(8 * CHUNK, 2);
      vb.fill(0xbb, 6 * CHUNK, 6 * CHUNK + 10); // chunk 6, in tab b
      const fa = a.FS.open(`${dir}/db.bin`, "r+");
      a.FS.write(fa, va.subarray(0, 10), 0, 10, 0);
      a.FS.close(fa);
      const fb = b.FS.open(`${dir}/db.bin`, "r+");
      b.FS.write(fb, vb.subarray(6 * CHUNK, 6 * CHUNK + 10), 0, 10, 6 * CHUNK);
      b.FS.close(fb);
      const [winner, loser, , loserTab, won] = await conflictOutcome(ma, mb, `${dir}/db.bin`, va, vb);
      await until(() => Buffer.compare(Buffer.from(loserTab.FS.readFile(`${dir}/db.bin`)), Buffer.from(won)) === 0, 3000, "the winner's version in the other tab");
      assert.match(winner.shared().conflicts.map((c) => `${c.path}: ${c.what}`).join(), /db\.bin: changed in this tab and in another tab: this tab's version is kept/);
      await until(() => loser.shared().conflicts.length, 3000, "the conflict reported in the other tab");
      assert.match(loser.shared().conflicts[0].what, /the other tab's version is kept/);
      ma.detach();
      mb.detach();
    });

    test("with keep_conflicts the other tab's version is kept beside the winner", async () => {
      const dir = `/p${++serial}`;
      const ma = await start(a, dir, { keepConflicts: true });
      a.FS.writeFile(`${dir}/notes.txt`, "base");
      await flush(ma);
      const mb = await start(b, dir, { keepConflicts: true });
      const [va, vb] = [new TextEncoder().encode("version a"), new TextEncoder().encode("version b")];
      a.FS.writeFile(`${dir}/notes.txt`, va);
      b.FS.writeFile(`${dir}/notes.txt`, vb);
      const [winner, , winnerTab, loserTab, won, lostVersion] = await conflictOutcome(ma, mb, `${dir}/notes.txt`, va, vb);
      assert.deepEqual(list(winnerTab, dir), ["notes.txt", "notes.txt.conflict-1"]);
      assert.deepEqual(winnerTab.FS.readFile(`${dir}/notes.txt.conflict-1`), lostVersion);
      assert.equal(winner.shared().conflicts[0].keptAs, "notes.txt.conflict-1");
      await until(() => exists(loserTab, `${dir}/notes.txt.conflict-1`), 3000, "the copy in the other tab");
      assert.deepEqual(loserTab.FS.readFile(`${dir}/notes.txt`), won);
      assert.deepEqual(loserTab.FS.readFile(`${dir}/notes.txt.conflict-1`), lostVersion);
      ma.detach();
      mb.detach();
    });

    test("start() after stop() saves what changed here and never deletes what another tab saved", async () => {
      const dir = `/p${++serial}`;
      const ma = await start(a, dir);
      a.FS.writeFile(`${dir}/mine.txt`, "a");
      a.FS.writeFile(`${dir}/old.txt`, "a");
      await flush(ma);
      ma.detach(); // stop(): a keeps its files in memory, untracked
      const mb = await start(b, dir);
      b.FS.writeFile(`${dir}/theirs.txt`, "b");
      await flush(mb);
      a.FS.writeFile(`${dir}/mine.txt`, "a again"); // while stopped
      a.FS.unlink(`${dir}/old.txt`);
      const ma2 = a.api.attach(dir, `autosync:${dir}`);
      assert.ok(!(await ma2.restore(null)).error);
      ma2.start(10 ** 9, false, { persist: false });
      assert.equal(read(a, `${dir}/theirs.txt`), "b", "b's file reached a on restart");
      await flush(ma2);
      const c = await thirdTab();
      const mc = await start(c, dir);
      assert.deepEqual(list(c, dir), ["mine.txt", "theirs.txt"]);
      assert.equal(read(c, `${dir}/mine.txt`), "a again");
      for (const m of [ma2, mb, mc]) m.detach();
    });

    test("a file held open for writing is not swapped under it; the other version comes once it is closed", async () => {
      const dir = `/p${++serial}`;
      const ma = await start(a, dir);
      a.FS.writeFile(`${dir}/log.txt`, "v1");
      await flush(ma);
      const mb = await start(b, dir);
      const open = b.FS.open(`${dir}/log.txt`, "r+");
      a.FS.writeFile(`${dir}/log.txt`, "v2 from a");
      await flush(ma);
      await until(() => mb.shared().deferred === 1, 3000, "the deferred change in tab b");
      assert.equal(read(b, `${dir}/log.txt`), "v1");
      b.FS.close(open);
      assert.equal(read(b, `${dir}/log.txt`), "v2 from a");
      assert.equal(mb.shared().deferred, 0);
      ma.detach();
      mb.detach();
    });

    test("a directory another tab deleted comes back when this tab added to it", async () => {
      const dir = `/p${++serial}`;
      const ma = await start(a, dir);
      a.FS.mkdir(`${dir}/d`);
      a.FS.writeFile(`${dir}/d/x`, "x");
      await flush(ma);
      const mb = await start(b, dir);
      b.FS.writeFile(`${dir}/d/added-in-b`, "b");
      a.FS.unlink(`${dir}/d/x`);
      a.FS.rmdir(`${dir}/d`);
      await flush(ma);
      await flush(mb);
      await until(() => exists(a, `${dir}/d/added-in-b`), 3000, "d back in tab a");
      assert.deepEqual(list(a, `${dir}/d`), ["added-in-b"]);
      const c = await thirdTab();
      const mc = await start(c, dir);
      assert.deepEqual(list(c, `${dir}/d`), ["added-in-b"]);
      for (const m of [ma, mb, mc]) m.detach();
    });
  });
}
