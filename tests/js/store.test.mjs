// The storage format (autosync/js/store.js) on plain Node with fake-indexeddb: what a Writer puts is
// what describe/readInBatches/readChunks read back, byte for byte, and old data (format 1, IDBFS) is
// read. Fast checks of the format's rules; the same code runs in real Chromium in tests/pyodide and
// tests/e2e. Run by `./dev test` (node --test tests/js).
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";

// store.js evaluates to a function that builds the module (as autosync/_pyodide.py calls it).
const store = vm.runInThisContext(readFileSync(new URL("../../autosync/js/store.js", import.meta.url), "utf8"))();

// A small chunk size keeps the files of these tests small; the format records it per database.
const CHUNK = 16;
const FILE = 0o100644;
const DIR = 0o40755;
const LINK = 0o120777;

let serial = 0;
async function freshDb() {
  return store.open(`autosync:/test-${++serial}`);
}

function bytes(...values) {
  return Uint8Array.from(values);
}

function pattern(size, seed = 1) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) % 251 || 1;
  return out;
}

async function write(db, build) {
  const writer = new store.Writer(db, CHUNK);
  build(writer);
  return writer.commit();
}

async function entries(db) {
  const out = new Map();
  await store.readInBatches(db, store.ENTRIES, 1000, (keys, values) => {
    keys.forEach((key, i) => out.set(key, values[i]));
  });
  return out;
}

// The bytes of a chunked file, as a restore reads them back.
async function readFile(db, rel, size, chunkSize = CHUNK) {
  const got = [];
  let reported = 0;
  await store.readFiles(db, [{ rel, size }], chunkSize, (f, bytes, error) => got.push([f, bytes, error]), (n) => (reported += n));
  assert.equal(got.length, 1, `${rel} read back ${got.length} times`);
  const [f, bytes, error] = got[0];
  assert.equal(error, undefined);
  assert.equal(f, 0);
  assert.equal(bytes.byteLength, size);
  assert.ok(reported <= size, `progress reported ${reported} bytes of ${size}`);
  return bytes;
}

async function chunkKeys(db) {
  const tx = db.transaction([store.CHUNKS], "readonly");
  const request = tx.objectStore(store.CHUNKS).getAllKeys();
  return new Promise((resolve) => (request.onsuccess = () => resolve(request.result)));
}

test("a new database has no format record; a commit writes it with the chunk size", async () => {
  const db = await freshDb();
  assert.deepEqual(await store.describe(db), { format: undefined, entries: 0 });
  await write(db, (w) => w.dir("d", DIR, 5));
  assert.deepEqual(await store.describe(db), { format: { version: 2, chunkSize: CHUNK }, entries: 1 });
});

test("small files are inline, large ones in chunks; directories and symlinks keep mode and mtime", async () => {
  const db = await freshDb();
  const big = pattern(CHUNK * 3 + 5);
  const stats = await write(db, (w) => {
    w.dir("d", DIR, 10);
    w.link("d/l", LINK, 11, "../small");
    w.file("small", FILE, 12, bytes(1, 2, 3), null, false);
    w.file("empty", FILE, 13, new Uint8Array(0), null, false);
    w.file("d/big", FILE, 14, big, null, false);
  });
  assert.equal(stats.bytes, 3 + big.byteLength);
  const saved = await entries(db);
  assert.deepEqual([...saved.keys()], ["d", "d/big", "d/l", "empty", "small"]);
  assert.deepEqual(saved.get("d"), { mode: DIR, mtime: 10 });
  assert.deepEqual(saved.get("d/l"), { mode: LINK, mtime: 11, link: "../small" });
  assert.deepEqual(saved.get("small"), { mode: FILE, mtime: 12, size: 3, contents: bytes(1, 2, 3) });
  assert.deepEqual(saved.get("empty"), { mode: FILE, mtime: 13, size: 0, contents: new Uint8Array(0) });
  assert.deepEqual(saved.get("d/big"), { mode: FILE, mtime: 14, size: big.byteLength });
  assert.deepEqual(await readFile(db, "d/big", big.byteLength), big);
  // Chunks are Blobs where there are Blobs (as in Node and browsers).
  const chunk = await new Promise((resolve) => {
    const request = db.transaction([store.CHUNKS]).objectStore(store.CHUNKS).get(["d/big", 0]);
    request.onsuccess = () => resolve(request.result);
  });
  assert.ok(chunk instanceof Blob);
  assert.deepEqual(new Uint8Array(await chunk.arrayBuffer()), big.slice(0, CHUNK));
});

test("a view of a larger buffer stores only its own bytes", async () => {
  const db = await freshDb();
  const buffer = pattern(100);
  await write(db, (w) => w.file("f", FILE, 1, buffer.subarray(10, 14), null, false));
  assert.deepEqual((await entries(db)).get("f").contents, buffer.slice(10, 14));
});

test("listed chunks are rewritten, the others stay; zero chunks are not stored (holes)", async () => {
  const db = await freshDb();
  const file = pattern(CHUNK * 4);
  file.fill(0, CHUNK, CHUNK * 2); // chunk 1 is a hole
  await write(db, (w) => w.file("f", FILE, 1, file, null, false));
  assert.deepEqual(await chunkKeys(db), [["f", 0], ["f", 2], ["f", 3]]);

  const changed = file.slice();
  changed[CHUNK * 2 + 3] ^= 0xff; // in chunk 2
  changed[0] ^= 0xff; // in chunk 0, not listed: must not be written
  const stats = await write(db, (w) => w.file("f", FILE, 2, changed, [2], true));
  assert.equal(stats.bytes, CHUNK);
  const expected = file.slice();
  expected[CHUNK * 2 + 3] ^= 0xff;
  assert.deepEqual(await readFile(db, "f", file.byteLength), expected);
});

test("a file that shrinks loses the chunks past its end; one that becomes small goes inline", async () => {
  const db = await freshDb();
  await write(db, (w) => w.file("f", FILE, 1, pattern(CHUNK * 4), null, false));
  const shorter = pattern(CHUNK * 2 + 1);
  await write(db, (w) => w.file("f", FILE, 2, shorter, [], true));
  assert.deepEqual(await chunkKeys(db), [["f", 0], ["f", 1], ["f", 2]]);
  assert.deepEqual(await readFile(db, "f", shorter.byteLength), pattern(CHUNK * 4).slice(0, CHUNK * 2 + 1));

  await write(db, (w) => w.file("f", FILE, 3, bytes(7), null, false));
  assert.deepEqual(await chunkKeys(db), []);
  assert.deepEqual((await entries(db)).get("f").contents, bytes(7));
});

test("remove takes the entry, its chunks and everything below; siblings with a common prefix stay", async () => {
  const db = await freshDb();
  await write(db, (w) => {
    w.dir("a", DIR, 1);
    w.file("a/x", FILE, 1, pattern(CHUNK * 2), null, false);
    w.dir("a/b", DIR, 1);
    w.file("a/b/y", FILE, 1, bytes(1), null, false);
    w.file("a-b", FILE, 1, pattern(CHUNK * 2), null, false);
    w.file("ab", FILE, 1, bytes(2), null, false);
  });
  await write(db, (w) => w.remove("a"));
  assert.deepEqual([...(await entries(db)).keys()], ["a-b", "ab"]);
  assert.deepEqual(await chunkKeys(db), [["a-b", 0], ["a-b", 1]]);

  await write(db, (w) => w.clear());
  assert.deepEqual((await store.describe(db)).entries, 0);
  assert.deepEqual(await chunkKeys(db), []);
});

test("readInBatches and readChunks cover everything in key order, batch by batch", async () => {
  const db = await freshDb();
  const sizes = [CHUNK * 5 + 1, CHUNK * 2, CHUNK * 3];
  await write(db, (w) => sizes.forEach((size, i) => w.file(`f${i}`, FILE, i, pattern(size, i), null, false)));
  const batches = [];
  await store.readInBatches(db, store.ENTRIES, 2, (keys) => batches.push(keys));
  assert.deepEqual(batches, [["f0", "f1"], ["f2"]]);

  const files = sizes.map((size, i) => ({ rel: `f${i}`, size }));
  const order = [];
  await store.readChunks(db, files, CHUNK, 2, 3, (f, last, keys, values) => {
    order.push([f, last, keys.map((k) => k[1])]);
    assert.equal(values.length, keys.length);
  });
  assert.deepEqual(order, [
    [0, false, [0, 1]],
    [0, false, [2, 3]],
    [0, true, [4, 5]],
    [1, true, [0, 1]],
    [2, false, [0, 1]],
    [2, true, [2]],
  ]);

  const seen = [];
  await store.readFiles(db, files, CHUNK, (f, bytes) => seen.push([f, bytes]), () => {});
  assert.deepEqual(
    seen,
    sizes.map((size, i) => [i, pattern(size, i)])
  );
});

test("readFiles: holes and a stored chunk longer than the file read right; chunks stored as arrays too", async () => {
  const db = await freshDb();
  const size = CHUNK * 4 + 3;
  const file = pattern(size);
  file.fill(0, CHUNK, CHUNK * 3); // chunks 1 and 2: holes
  await write(db, (w) => w.file("f", FILE, 1, file, null, false));
  assert.deepEqual(await readFile(db, "f", size), file);
  // A hole at the end (a file grown by truncate): no chunk stored after the first.
  const tail = pattern(CHUNK * 3);
  tail.fill(0, CHUNK);
  await write(db, (w) => w.file("t", FILE, 1, tail, null, false));
  assert.deepEqual(await readFile(db, "t", tail.byteLength), tail);
  // The entry says the file is shorter than its last stored chunk (cut by a truncation).
  assert.deepEqual(await readFile(db, "f", CHUNK * 3 + 1), file.slice(0, CHUNK * 3 + 1));

  // Chunks stored as plain arrays (where there are no Blobs), alone and mixed with Blobs.
  const tx = db.transaction([store.CHUNKS], "readwrite");
  tx.objectStore(store.CHUNKS).put(pattern(CHUNK, 9), ["f", 1]);
  tx.objectStore(store.CHUNKS).put(pattern(CHUNK, 8), ["g", 0]);
  tx.objectStore(store.CHUNKS).put(pattern(5, 7), ["g", 1]);
  await new Promise((resolve) => (tx.oncomplete = resolve));
  file.set(pattern(CHUNK, 9), CHUNK);
  assert.deepEqual(await readFile(db, "f", size), file);
  const g = new Uint8Array(CHUNK + 5);
  g.set(pattern(CHUNK, 8));
  g.set(pattern(5, 7), CHUNK);
  assert.deepEqual(await readFile(db, "g", CHUNK + 5), g);
});

test("a format-1 database (no chunks store) is upgraded in place and read as it is", async () => {
  const name = `autosync:/format1-${++serial}`;
  await new Promise((resolve, reject) => {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore("entries");
      request.result.createObjectStore("meta");
    };
    request.onsuccess = () => {
      const db = request.result;
      const tx = db.transaction(["entries", "meta"], "readwrite");
      tx.objectStore("meta").put({ version: 1 }, "format");
      tx.objectStore("entries").put({ mode: FILE, mtime: 3, contents: pattern(CHUNK * 3) }, "old");
      tx.oncomplete = () => {
        db.close();
        resolve();
      };
      tx.onerror = () => reject(tx.error);
    };
  });
  const db = await store.open(name);
  assert.ok(db.objectStoreNames.contains(store.CHUNKS));
  assert.deepEqual(await store.describe(db), { format: { version: 1 }, entries: 1 });
  assert.deepEqual((await entries(db)).get("old").contents, pattern(CHUNK * 3));
});

test("IDBFS data for the same mount point is migrated into format 2; other mount points are not", async () => {
  const mountpoint = `/idbfs-${++serial}`;
  const big = pattern(store.CHUNK_SIZE + 10);
  await new Promise((resolve, reject) => {
    const request = indexedDB.open(mountpoint, 21);
    request.onupgradeneeded = () => request.result.createObjectStore("FILE_DATA").createIndex("timestamp", "timestamp");
    request.onsuccess = () => {
      const db = request.result;
      const tx = db.transaction(["FILE_DATA"], "readwrite");
      const files = tx.objectStore("FILE_DATA");
      files.put({ timestamp: new Date(1000), mode: DIR }, `${mountpoint}/d`);
      files.put({ timestamp: new Date(2000), mode: FILE, contents: bytes(4, 5) }, `${mountpoint}/d/f`);
      files.put({ timestamp: new Date(3000), mode: FILE, contents: big }, `${mountpoint}/big`);
      files.put({ timestamp: new Date(4000), mode: LINK, link: "d/f" }, `${mountpoint}/l`);
      files.put({ timestamp: new Date(5000), mode: FILE, contents: bytes(9) }, `${mountpoint}x/other`);
      tx.oncomplete = () => {
        db.close();
        resolve();
      };
      tx.onerror = () => reject(tx.error);
    };
  });
  const db = await store.open(`autosync:${mountpoint}`);
  assert.equal(await store.migrateIdbfs(db, mountpoint), 4);
  const saved = await entries(db);
  assert.deepEqual([...saved.keys()], ["big", "d", "d/f", "l"]);
  assert.deepEqual(saved.get("d"), { mode: DIR, mtime: 1000 });
  assert.deepEqual(saved.get("d/f"), { mode: FILE, mtime: 2000, size: 2, contents: bytes(4, 5) });
  assert.deepEqual(saved.get("l"), { mode: LINK, mtime: 4000, link: "d/f" });
  assert.deepEqual(saved.get("big"), { mode: FILE, mtime: 3000, size: big.byteLength });
  assert.deepEqual(await readFile(db, "big", big.byteLength, store.CHUNK_SIZE), big);
  assert.equal((await store.describe(db)).format.chunkSize, store.CHUNK_SIZE);

  // No IDBFS database: nothing migrated, and none is created by looking.
  assert.equal(await store.migrateIdbfs(db, "/never-mounted"), 0);
  const names = (await indexedDB.databases()).map((d) => d.name);
  assert.ok(!names.includes("/never-mounted"));
});

test("readFiles hands out files with no chunks to read as zeros of their size", async () => {
  const db = await freshDb();
  const big = pattern(CHUNK * 2);
  await write(db, (w) => w.file("big", FILE, 1, big, null, false));
  const seen = [];
  const files = [{ rel: "a", size: 5 }, { rel: "big", size: big.byteLength }, { rel: "z", size: 0 }];
  await store.readFiles(db, files, CHUNK, (f, bytes, error) => seen.push([f, bytes, error]), () => {});
  seen.sort((x, y) => x[0] - y[0]);
  assert.deepEqual(seen, [
    [0, new Uint8Array(5), undefined],
    [1, big, undefined],
    [2, new Uint8Array(0), undefined],
  ]);
});

test("chunkCount: a file of at most one chunk has none", () => {
  assert.equal(store.chunkCount(0, CHUNK), 0);
  assert.equal(store.chunkCount(CHUNK, CHUNK), 0);
  assert.equal(store.chunkCount(CHUNK + 1, CHUNK), 2);
  assert.equal(store.chunkCount(CHUNK * 3, CHUNK), 3);
});
