// The fsync journal (autosync/js/journal.js) on Node: real Pyodide runtimes ("tabs") sharing
// fake-indexeddb, with a stand-in for the Origin Private File System (harness.mjs Opfs). A kill is
// a tab dropped without a flush, its journal's handle released as the browser releases it. The
// same in real Chromium, with a SIGKILL: tests/e2e/test_worker.py.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { tab, start, flush, killWithJournal as kill, Opfs } from "./harness.mjs";

const CHUNK = 262144;
const opfs = new Opfs();
let a;
let b;
let c;
let serial = 0;

before(async () => {
  [a, b, c] = [await tab(), await tab(), await tab()];
  // After Pyodide has loaded: it tells Node from a browser by `navigator`.
  opfs.install();
});
after(() => opfs.uninstall());

const text = (s) => new TextEncoder().encode(s);
const read = (t, path) => Buffer.from(t.FS.readFile(path)).toString();
const exists = (t, path) => t.FS.analyzePath(path).exists;

// Writes `bytes` at `position` of `path` in tab `t` and calls fsync(2) on it; returns its errno.
function writeAndFsync(t, path, bytes, { position = 0, flags = "w" } = {}) {
  const stream = t.FS.open(path, flags);
  t.FS.write(stream, bytes, 0, bytes.byteLength, position);
  const errno = stream.stream_ops.fsync(stream);
  t.FS.close(stream);
  return errno;
}

// The next commit of tab `t` fails, as one the browser never got to write.
function failNextCommit(t) {
  t.lib.store.faults.fail = 1;
}

const journals = (dir) => opfs.files("autosync-journals", encodeURIComponent(`autosync:${dir}`));

test("a file fsync'd before a kill is restored although its commit never landed", async () => {
  const dir = `/j${++serial}`;
  const ma = await start(a, dir, { durableFsync: true });
  a.FS.mkdir(`${dir}/new`);
  failNextCommit(a);
  assert.equal(writeAndFsync(a, `${dir}/new/f.txt`, text("fsynced")), 0);
  await kill(ma);
  // A torn entry after it (a kill during a later fsync) is ignored.
  const [[, bytes]] = [...journals(dir)];
  const file = opfs.root.children.get("autosync-journals").children.get(encodeURIComponent(`autosync:${dir}`)).children.values().next().value;
  file.data = Uint8Array.from([...bytes, 0x41, 0x53, 0x4a, 0x31, 200, 0, 0, 0]);

  const control = await start(c, `${dir}-control`, { name: `autosync:${dir}` });
  assert.ok(!exists(c, `${dir}-control/new/f.txt`), "the commit did not land");
  control.detach();

  const restored = {};
  const mb = await start(b, dir, { durableFsync: true, restoredOut: restored });
  assert.deepEqual(restored.failed, []);
  assert.equal(read(b, `${dir}/new/f.txt`), "fsynced");
  await flush(mb);
  assert.deepEqual([...journals(dir).keys()], [`${mb.journal.id}.journal`], "the replayed journal is gone once committed");
  mb.detach();
  assert.equal(journals(dir).size, 0, "an empty journal is removed at stop");

  const again = {};
  const mc = await start(c, dir, { restoredOut: again });
  assert.equal(read(c, `${dir}/new/f.txt`), "fsynced");
  assert.deepEqual(again.failed, []);
  mc.detach();
});

test("an entry a commit holds is not replayed, so a file deleted after its fsync stays deleted", async () => {
  const dir = `/j${++serial}`;
  const ma = await start(a, dir, { durableFsync: true });
  // A kill between each commit and the emptying of the journal.
  ma.journal.covered = function (seq) {
    if (seq > this.marked) this.marked = seq;
  };
  writeAndFsync(a, `${dir}/f.txt`, text("fsynced, then deleted"));
  await ma.flusher.settled();
  a.FS.unlink(`${dir}/f.txt`);
  await flush(ma);
  await kill(ma);
  assert.equal(journals(dir).size, 1);

  const restored = {};
  const mb = await start(b, dir, { durableFsync: true, restoredOut: restored });
  assert.deepEqual(restored.failed, []);
  assert.ok(!exists(b, `${dir}/f.txt`));
  mb.detach();
});

test("an fsync'd version never reverts another tab's later commit; it is reported and kept beside", async () => {
  const dir = `/j${++serial}`;
  const ma = await start(a, dir, { durableFsync: true });
  a.FS.writeFile(`${dir}/f.txt`, "one");
  await flush(ma);
  const mb = await start(b, dir);
  failNextCommit(a);
  writeAndFsync(a, `${dir}/f.txt`, text("from a, fsynced"));
  await kill(ma);
  b.FS.writeFile(`${dir}/f.txt`, "from b, later");
  await flush(mb);
  mb.detach();

  const restored = {};
  const mc = await start(c, dir, { durableFsync: true, restoredOut: restored });
  assert.equal(read(c, `${dir}/f.txt`), "from b, later");
  assert.equal(restored.failed.length, 1);
  assert.match(restored.failed[0], /^f\.txt: saved by os\.fsync .* changed in another tab since: the later commit is kept; the fsync'd version is now f\.txt\.conflict-1$/);
  assert.equal(read(c, `${dir}/f.txt.conflict-1`), "from a, fsynced");
  await flush(mc);
  mc.detach();
});

test("a change to a multi-chunk file is journaled as its chunks and restored over the stored version", async () => {
  const dir = `/j${++serial}`;
  const ma = await start(a, dir, { durableFsync: true });
  const big = new Uint8Array(3 * CHUNK + 100).map((_, i) => (i * 7) % 251);
  a.FS.writeFile(`${dir}/big`, big);
  await flush(ma);
  failNextCommit(a);
  const patch = text("patched!");
  writeAndFsync(a, `${dir}/big`, patch, { position: CHUNK + 5, flags: "r+" });
  assert.ok(ma.journal.size < CHUNK + 1024, `one chunk journaled, not the file (${ma.journal.size} bytes)`);
  await kill(ma);

  const restored = {};
  const mb = await start(b, dir, { durableFsync: true, restoredOut: restored });
  assert.deepEqual(restored.failed, []);
  const expected = big.slice();
  expected.set(patch, CHUNK + 5);
  assert.ok(Buffer.from(b.FS.readFile(`${dir}/big`)).equals(Buffer.from(expected)));
  await flush(mb);
  mb.detach();
  const mc = await start(c, dir);
  assert.ok(Buffer.from(c.FS.readFile(`${dir}/big`)).equals(Buffer.from(expected)), "and saved by the tab that replayed it");
  mc.detach();
});

test("a running tab's journal is left to it", async () => {
  const dir = `/j${++serial}`;
  const ma = await start(a, dir, { durableFsync: true });
  failNextCommit(a);
  writeAndFsync(a, `${dir}/f.txt`, text("a's, not committed yet"));
  await ma.flusher.settled().catch(() => {});
  const restored = {};
  const mb = await start(b, dir, { durableFsync: true, restoredOut: restored });
  assert.deepEqual(restored.failed, []);
  assert.ok(!exists(b, `${dir}/f.txt`), "not replayed while a runs");
  await flush(ma);
  await mb.peers.catchUp();
  assert.equal(read(b, `${dir}/f.txt`), "a's, not committed yet");
  assert.deepEqual([...journals(dir).values()].map((d) => d.byteLength), [0, 0]);
  ma.detach();
  mb.detach();
});

test("fsync fails with EIO when the journal cannot be written, and the change is saved as before", async () => {
  const dir = `/j${++serial}`;
  const ma = await start(a, dir, { durableFsync: true });
  const write = ma.journal.handle.write;
  // A full origin: OPFS writes what fits, here nothing.
  ma.journal.handle.write = () => 0;
  assert.equal(writeAndFsync(a, `${dir}/f.txt`, text("not durable")), 29);
  ma.journal.handle.write = write;
  await flush(ma);
  ma.detach();
  const mb = await start(b, dir);
  assert.equal(read(b, `${dir}/f.txt`), "not durable");
  mb.detach();
});

test("several fsyncs of one file, none committed, restore its last fsync'd version", async () => {
  const dir = `/j${++serial}`;
  const ma = await start(a, dir, { durableFsync: true });
  a.FS.writeFile(`${dir}/log`, "saved;");
  await flush(ma);
  a.lib.store.faults.fail = 3;
  writeAndFsync(a, `${dir}/log`, text("one;"), { position: 6, flags: "r+" });
  await ma.flusher.settled().catch(() => {});
  writeAndFsync(a, `${dir}/log`, text("two;"), { position: 10, flags: "r+" });
  writeAndFsync(a, `${dir}/new`, text("new"));
  writeAndFsync(a, `${dir}/new`, text("new, again"));
  await kill(ma);
  a.lib.store.faults.fail = 0;

  const restored = {};
  const mb = await start(b, dir, { durableFsync: true, restoredOut: restored });
  assert.deepEqual(restored.failed, []);
  assert.equal(read(b, `${dir}/log`), "saved;one;two;");
  assert.equal(read(b, `${dir}/new`), "new, again");
  mb.detach();
});

test("a journal started again in the same tab is not taken for one a commit already holds", async () => {
  const dir = `/j${++serial}`;
  let ma = await start(a, dir, { durableFsync: true });
  writeAndFsync(a, `${dir}/first`, text("first"));
  await flush(ma);
  ma.detach();
  ma = await start(a, dir);
  ma.detach();
  ma = await start(a, dir, { durableFsync: true });
  failNextCommit(a);
  writeAndFsync(a, `${dir}/second`, text("second, fsynced"));
  await kill(ma);

  const restored = {};
  const mb = await start(b, dir, { durableFsync: true, restoredOut: restored });
  assert.deepEqual(restored.failed, []);
  assert.equal(read(b, `${dir}/second`), "second, fsynced");
  mb.detach();
});
