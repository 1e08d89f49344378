// One mount in one Pyodide runtime on Node (autosync/js/mount.js with hooks, flush, restore): what
// a restore makes of saved and of damaged data, directory metadata, the clock, and failed or
// stalled flushes. Python is not involved: the file system is driven through Pyodide's FS, as the
// program's calls would reach it. The same behaviours are tested in Chromium in tests/e2e.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { tab, start, flush } from "./harness.mjs";

// `t` changes files; `other` reads them back as a reload would: its own memory, the same IndexedDB.
let t;
let other;
let serial = 0;
before(async () => {
  [t, other] = [await tab(), await tab()];
});

// `path` as a reload sees it: mounted afresh in the other runtime (forgetting any earlier mount of
// it there, whose files were in memory only).
const mountedThere = new Map();
async function reloaded(path, restoredOut) {
  const earlier = mountedThere.get(path);
  if (earlier) {
    earlier.detach();
    other.FS.unmount(path);
  }
  const m = await start(other, path, { restoredOut });
  mountedThere.set(path, m);
  return { fs: other.FS, m };
}


const newPath = () => `/m${++serial}`;

function raw(dbName, write) {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(dbName);
    r.onsuccess = () => {
      const db = r.result;
      const tx = db.transaction(["nodes", "chunks", "meta"], "readwrite");
      write(tx);
      tx.oncomplete = () => {
        db.close();
        resolve();
      };
      tx.onerror = () => reject(tx.error);
    };
  });
}

function keys(dbName, store) {
  return new Promise((resolve) => {
    const r = indexedDB.open(dbName);
    r.onsuccess = () => {
      const db = r.result;
      const q = db.transaction([store]).objectStore(store).getAllKeys();
      q.onsuccess = () => {
        db.close();
        resolve(q.result);
      };
    };
  });
}

test("saved modes never stop the restore: read-only and unsearchable directories, read-only files", async () => {
  const path = newPath();
  const m = await start(t, path);
  const FS = t.FS;
  FS.mkdir(`${path}/docs`);
  FS.writeFile(`${path}/docs/report.txt`, "report");
  FS.mkdir(`${path}/docs/sub`);
  FS.writeFile(`${path}/docs/sub/notes.txt`, "notes");
  FS.mkdir(`${path}/hidden`);
  FS.writeFile(`${path}/hidden/x`, "x");
  FS.writeFile(`${path}/ro.txt`, "read only");
  FS.symlink("docs", `${path}/to-docs`);
  FS.chmod(`${path}/docs/sub`, 0o555);
  FS.chmod(`${path}/docs`, 0o555);
  FS.chmod(`${path}/hidden`, 0o666);
  FS.chmod(`${path}/ro.txt`, 0o444);
  await flush(m);
  const restoredStats = {};
  const R = (await reloaded(path, restoredStats)).fs;
  assert.deepEqual(restoredStats.failed, []);
  assert.equal(restoredStats.files, 4);
  assert.equal(R.stat(`${path}/docs`).mode, 0o40555);
  assert.equal(R.stat(`${path}/docs/sub`).mode, 0o40555);
  assert.equal(R.stat(`${path}/hidden`).mode, 0o40666);
  assert.equal(R.stat(`${path}/ro.txt`).mode, 0o100444);
  assert.equal(Buffer.from(R.readFile(`${path}/docs/sub/notes.txt`)).toString(), "notes");
  assert.equal(Buffer.from(R.readFile(`${path}/to-docs/report.txt`)).toString(), "report");
  R.chmod(`${path}/hidden`, 0o777);
  assert.equal(Buffer.from(R.readFile(`${path}/hidden/x`)).toString(), "x");
});

test("the mount root's mode and mtime are saved and restored", async () => {
  const path = newPath();
  const m = await start(t, path);
  t.FS.writeFile(`${path}/a`, "a");
  t.FS.chmod(path, 0o700);
  t.FS.utime(path, 1500000000000, 1500000000000);
  await flush(m);
  const { fs } = await reloaded(path);
  assert.equal(fs.stat(path).mode, 0o40700);
  assert.equal(fs.stat(path).mtime.getTime(), 1500000000000);
});

test("creating or removing a child saves the directory's new mtime", async () => {
  const path = newPath();
  const m = await start(t, path);
  t.FS.mkdir(`${path}/d`);
  t.FS.utime(`${path}/d`, 1000, 1000);
  await flush(m);
  t.FS.writeFile(`${path}/d/child`, "c"); // the directory's mtime becomes now
  const after = t.FS.stat(`${path}/d`).mtime.getTime();
  assert.ok(after > 1000);
  await flush(m);
  const { fs } = await reloaded(path);
  assert.equal(fs.stat(`${path}/d`).mtime.getTime(), after);
  t.FS.utime(`${path}/d`, 2000, 2000);
  await flush(m);
  t.FS.unlink(`${path}/d/child`);
  const removed = t.FS.stat(`${path}/d`).mtime.getTime();
  await flush(m);
  const second = await reloaded(path);
  assert.equal(second.fs.stat(`${path}/d`).mtime.getTime(), removed);
});

test("damaged records are reported with their path and reason, left stored, and the good ones restored", async () => {
  const path = newPath();
  const db = `autosync:${path}`;
  const m = await start(t, path);
  t.FS.mkdir(`${path}/good`);
  t.FS.writeFile(`${path}/good/file.txt`, "fine");
  await flush(m);
  const goodId = t.FS.lookupPath(`${path}/good`).node.asid;
  const FILE = 0o100644;
  await raw(db, (tx) => {
    const nodes = tx.objectStore("nodes");
    nodes.put("not a record", [0, "string-value"]);
    nodes.put({ id: 901, mode: FILE, mtime: NaN, size: 0, contents: new Uint8Array(0) }, [0, "nan-mtime"]);
    nodes.put({ id: 902, mode: FILE, mtime: 1, size: 1, contents: new Uint8Array(1) }, [0, "nul\0name"]);
    nodes.put({ id: 903, mode: FILE, mtime: 1, size: 3, contents: "abc" }, [0, "wrong-contents"]);
    nodes.put({ id: 904, mode: FILE, mtime: 1, size: 5, contents: new Uint8Array(2) }, [goodId, "size-disagrees"]);
    nodes.put({ id: 905, mode: 0o60644, mtime: 1 }, [0, "block-device"]);
    nodes.put({ id: 906, mode: FILE, mtime: 1, size: 0, contents: new Uint8Array(0) }, [0, ".."]);
    nodes.put({ id: 907, mode: FILE, mtime: 1, size: 0, contents: new Uint8Array(0) }, [777777, "orphan"]);
    nodes.put({ id: 908, mode: FILE, mtime: 1, size: 600000 }, [0, "bad-chunk"]);
    tx.objectStore("chunks").put("not bytes", [908, 0]);
    nodes.put({ id: 909, mode: FILE, mtime: 1, size: 600000 }, [0, "bad-run"]);
    tx.objectStore("chunks").put("not bytes", [909, 0, 3]);
  });
  const stats = {};
  const { fs: F, m: m2 } = await reloaded(path, stats);
  const failed = stats.failed.join("\n");
  for (const expected of [
    /string-value: its value is not a record/,
    /nan-mtime: its mtime NaN is not a time/,
    /nul\\u0000name: the name contains a NUL character/,
    /wrong-contents: its contents are not bytes/,
    /good\/size-disagrees: its size 5 disagrees with its 2 bytes/,
    /block-device: its mode 60644 is not a file, directory or symlink/,
    /\.\.: the path has a '\.\.' segment/,
    /\(directory 777777\)\/orphan: its directory \(id 777777\) is missing/,
    /bad-chunk: its chunks could not be read: chunk 0 is not bytes/,
    /bad-run: its chunks could not be read: the run at chunk 0 is not bytes/,
  ]) {
    assert.match(failed, expected);
  }
  assert.equal(stats.failed.length, 10);
  assert.deepEqual(F.readdir(path).sort(), [".", "..", "good"]);
  assert.equal(Buffer.from(F.readFile(`${path}/good/file.txt`)).toString(), "fine");
  // Saving goes on around them, and never touches them.
  F.writeFile(`${path}/good/file.txt`, "changed");
  F.rename(`${path}/good`, `${path}/better`);
  await flush(m2);
  assert.equal((await keys(db, "nodes")).length, 10 + 2);
  // Until asked: then they go.
  const discarded = await m2.discardDamaged();
  assert.equal(discarded.value, 10);
  assert.equal((await keys(db, "nodes")).length, 2);
  assert.deepEqual(await keys(db, "chunks"), []);
});

test("a garbled format record fails the restore; a missing one is reported and the data restored", async () => {
  const path = newPath();
  const m = await start(t, path);
  t.FS.writeFile(`${path}/a`, "a");
  await flush(m);
  await raw(`autosync:${path}`, (tx) => tx.objectStore("meta").delete("format"));
  const stats = {};
  const { fs } = await reloaded(path, stats);
  assert.deepEqual(stats.failed, [`(format record): missing; the data is read as format ${t.lib.store.FORMAT_VERSION}`]);
  assert.equal(Buffer.from(fs.readFile(`${path}/a`)).toString(), "a");
  await raw(`autosync:${path}`, (tx) => tx.objectStore("meta").put("garbage", "format"));
  await assert.rejects(reloaded(path), (e) => e.kind === "format" && /format record is not a record/.test(e.message));
});

test("a wall clock stepped back makes the oldest change due at once, not in the future", async () => {
  const path = newPath();
  const m = await start(t, path);
  const realNow = Date.now;
  try {
    t.FS.writeFile(`${path}/a`, "a");
    Date.now = () => realNow() - 3600 * 1000;
    const pending = m.pending();
    assert.ok(pending.firstAgeMs >= 10 ** 9, `age ${pending.firstAgeMs}`);
    // And the write path, whose change times are MEMFS's Date.now() stamps, flushes on its own.
    m.start(1000, false, { persist: false });
    const before = m.stats.writePath;
    t.FS.writeFile(`${path}/b`, "b");
    assert.equal(m.stats.writePath, before + 1);
  } finally {
    Date.now = realNow;
  }
});

test("a flush with a refused request commits nothing and keeps every change pending", async () => {
  const path = newPath();
  const m = await start(t, path);
  t.FS.writeFile(`${path}/kept`, "v1");
  await flush(m);
  t.FS.writeFile(`${path}/kept`, "v2");
  t.FS.writeFile(`${path}/new`, "n");
  t.api.faults.fail = 1;
  await assert.rejects(flush(m), /ConstraintError/);
  assert.equal(m.pending().entries, 2);
  const { fs } = await reloaded(path);
  assert.deepEqual(fs.readdir(path).sort(), [".", "..", "kept"]);
  assert.equal(Buffer.from(fs.readFile(`${path}/kept`)).toString(), "v1");
  await flush(m);
  const again = await reloaded(path);
  assert.equal(Buffer.from(again.fs.readFile(`${path}/new`)).toString(), "n");
});

// Two flushes under way (the write path, fsync): IndexedDB commits the later one even if the
// earlier one fails. The later one's snapshot must hold by itself.
test("a flush that fails while a later one commits leaves no file made of two versions, no entry under two names", async () => {
  const path = newPath();
  const m = await start(t, path);
  const chunk = m.chunkSize;
  const size = 3 * chunk;
  t.FS.writeFile(`${path}/big`, new Uint8Array(size).fill(1));
  t.FS.mkdir(`${path}/d`);
  await flush(m);
  const overwrite = (at, value) => {
    const stream = t.FS.open(`${path}/big`, "r+");
    t.FS.write(stream, new Uint8Array(10).fill(value), 0, 10, at);
    t.FS.close(stream);
  };
  overwrite(0, 2);
  t.FS.rename(`${path}/d`, `${path}/e`);
  t.api.faults.fail = 1;
  const first = m.flusher.issue({});
  overwrite(2 * chunk, 3);
  t.FS.utime(`${path}/e`, 5000, 5000);
  const second = m.flusher.issue({});
  await assert.rejects(first, /ConstraintError/);
  await second;
  const { fs, m: back } = await reloaded(path);
  assert.deepEqual(back.damaged, []);
  assert.deepEqual(fs.readdir(path).sort(), [".", "..", "big", "e"]);
  assert.ok(Buffer.compare(Buffer.from(fs.readFile(`${path}/big`)), Buffer.from(t.FS.readFile(`${path}/big`))) === 0, "big as the later flush saw it");
  await flush(m);
});

test("a flush whose transaction never settles is given up on; the next one saves", async () => {
  const path = newPath();
  const m = await start(t, path);
  t.FS.writeFile(`${path}/a`, "a");
  t.api.faults.hang = 1;
  t.api.faults.stallMs = 300;
  try {
    await assert.rejects(flush(m), (e) => e.kind === "stalled");
    assert.equal(m.stats.stalls, 1);
    assert.equal(m.pending().entries, 1);
    assert.equal(m.flusher.inflight.size, 0);
    await flush(m);
  } finally {
    t.api.faults.stallMs = undefined;
  }
  const { fs } = await reloaded(path);
  assert.equal(Buffer.from(fs.readFile(`${path}/a`)).toString(), "a");
});

test("describeError names Emscripten's errno and the operation", () => {
  let error;
  try {
    t.FS.mkdir("/");
  } catch (e) {
    error = e;
  }
  assert.equal(t.lib.tree.describeError(error, "creating directory"), "EEXIST creating directory");
});

test("a restore whose reads never come back is given up on, as 'stalled'", async () => {
  const path = newPath();
  const m = await start(t, path);
  t.FS.writeFile(`${path}/a`, "a");
  await flush(m);
  // The restore runs in the other runtime, which has its own faults.
  other.api.faults.hangReads = 1;
  other.api.faults.readStallMs = 200;
  try {
    await assert.rejects(reloaded(path), (e) => e.kind === "stalled" && /did not finish reading the saved entries/.test(e.message));
  } finally {
    other.api.faults.readStallMs = undefined;
  }
  const { fs } = await reloaded(path);
  assert.equal(Buffer.from(fs.readFile(`${path}/a`)).toString(), "a");
});
