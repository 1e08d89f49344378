// The storage format (autosync/js/store.js) on plain Node with fake-indexeddb: what a Writer puts is
// what the readers read back, byte for byte; a failed request leaves nothing of its transaction;
// records that cannot be restored are named with the reason; older formats are upgraded in place.
// The same code runs in real Chromium in tests/pyodide and tests/e2e. Run by `./dev test`.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./harness.mjs";
import { fixture, writeFixture } from "./fixtures.mjs";

const { store } = load(null, ["store"]);

// A small chunk size keeps the files of these tests small; the format records it per database.
const CHUNK = 16;
const FILE = 0o100644;
const DIR = 0o40755;
const LINK = 0o120777;

let serial = 0;
const freshName = () => `autosync:/test-${++serial}`;
const freshDb = () => store.open(freshName());

function pattern(size, seed = 1) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) % 251 || 1;
  return out;
}

async function write(db, build) {
  const writer = new store.Writer(db, { chunkSize: CHUNK });
  build(writer);
  return writer.commit(5000);
}

// Puts a file record with its bytes at [parent, name].
function putFile(w, parent, name, id, bytes, mtime = 1) {
  w.putNode([parent, name], { id, mode: FILE, mtime, v: 1, ...w.fileData(id, bytes, null, false) });
}

async function nodes(db) {
  const out = new Map();
  await store.readNodes(db, 1000, (keys, values) => keys.forEach((key, i) => out.set(store.keyString(key), values[i])));
  return out;
}

async function readFile(db, id, size, chunkSize = CHUNK) {
  const got = [];
  await store.readFiles(db, null, [{ id, size }], chunkSize, (f, bytes, error) => got.push([bytes, error]), () => {});
  assert.equal(got.length, 1);
  assert.equal(got[0][1], undefined, String(got[0][1]));
  return got[0][0];
}

async function chunkKeys(db) {
  const tx = db.transaction([store.CHUNKS], "readonly");
  const request = tx.objectStore(store.CHUNKS).getAllKeys();
  return new Promise((resolve) => (request.onsuccess = () => resolve(request.result)));
}

test("a new database has the format record with its chunk size and an epoch", async () => {
  const db = await freshDb();
  const info = await store.describe(db);
  assert.equal(info.format.version, store.FORMAT_VERSION);
  assert.equal(info.format.chunkSize, store.CHUNK_SIZE);
  assert.ok(Number.isSafeInteger(info.format.epoch));
  assert.deepEqual([info.nodes, info.logHead, info.root], [0, 0, undefined]);
});

test("files are inline up to a chunk, chunks beyond; directories and symlinks keep mode and mtime", async () => {
  const db = await freshDb();
  const big = pattern(CHUNK * 3 + 5);
  const stats = await write(db, (w) => {
    w.putNode([0, "d"], { id: 7, mode: DIR, mtime: 10, v: 1 });
    w.putNode([7, "l"], { id: 8, mode: LINK, mtime: 11, v: 1, link: "../small" });
    putFile(w, 0, "small", 9, Uint8Array.of(1, 2, 3), 12);
    putFile(w, 7, "big", 10, big, 14);
    w.putRoot({ mode: DIR, mtime: 3, v: 1 });
    w.log({ tab: 1, v: 1, puts: [[0, "d"]], dels: [], at: 0 });
  });
  assert.equal(stats.bytes, 3 + big.byteLength);
  assert.equal(stats.logKey, 1);
  const saved = await nodes(db);
  assert.deepEqual([...saved.keys()].sort(), ["0/d", "0/small", "7/big", "7/l"]);
  assert.deepEqual(saved.get("0/small"), { id: 9, mode: FILE, mtime: 12, v: 1, size: 3, contents: Uint8Array.of(1, 2, 3) });
  assert.deepEqual(saved.get("7/big"), { id: 10, mode: FILE, mtime: 14, v: 1, size: big.byteLength });
  assert.deepEqual(await readFile(db, 10, big.byteLength), big);
  const info = await store.describe(db);
  assert.deepEqual(info.root, { mode: DIR, mtime: 3, v: 1 });
  assert.equal(info.logHead, 1);
});

test("listed chunks are rewritten over the file's run, the others stay", async () => {
  const db = await freshDb();
  const file = pattern(CHUNK * 4);
  file.fill(0, CHUNK, CHUNK * 2);
  await write(db, (w) => putFile(w, 0, "f", 5, file));
  assert.deepEqual(await chunkKeys(db), [[5, 0, 4]]);
  const changed = file.slice();
  changed[CHUNK * 2 + 3] ^= 0xff;
  changed[0] ^= 0xff; // not listed: must not be written
  const stats = await write(db, (w) => w.putNode([0, "f"], { id: 5, mode: FILE, mtime: 2, v: 2, ...w.fileData(5, changed, [2], true) }));
  assert.equal(stats.bytes, CHUNK);
  assert.deepEqual(await chunkKeys(db), [[5, 0, 4], [5, 2]]);
  const expected = file.slice();
  expected[CHUNK * 2 + 3] ^= 0xff;
  assert.deepEqual(await readFile(db, 5, file.byteLength), expected);
});

test("a whole file is stored in runs of RUN_CHUNKS chunks; an all-zero run is not stored (a hole)", async () => {
  const db = await freshDb();
  const runs = store.RUN_CHUNKS;
  const file = pattern(CHUNK * (2 * runs + 1) + 3);
  file.fill(0, CHUNK * runs, CHUNK * 2 * runs);
  await write(db, (w) => putFile(w, 0, "f", 5, file));
  assert.deepEqual(await chunkKeys(db), [[5, 0, runs], [5, 2 * runs, 2]]);
  assert.deepEqual(await readFile(db, 5, file.byteLength), file);
});

for (const blobs of [true, false]) {
  test(`single chunks override the run they lie in, zeros included; a group written whole is a run again (${blobs ? "Blobs" : "arrays"})`, async () => {
    const db = await freshDb();
    const writeAs = async (build) => {
      const w = new store.Writer(db, { chunkSize: CHUNK, blobs });
      build(w);
      return w.commit(5000);
    };
    const file = pattern(CHUNK * 5);
    await writeAs((w) => putFile(w, 0, "f", 5, file));
    const changed = file.slice();
    changed.fill(7, CHUNK, CHUNK + 3);
    changed.fill(0, CHUNK * 3, CHUNK * 4);
    await writeAs((w) => w.fileData(5, changed, [1, 3], true));
    assert.deepEqual(await chunkKeys(db), [[5, 0, 5], [5, 1], [5, 3]]);
    assert.deepEqual(await readFile(db, 5, changed.byteLength), changed);
    const again = pattern(CHUNK * 5, 9);
    await writeAs((w) => w.fileData(5, again, [0, 1, 2, 3, 4], true));
    assert.deepEqual(await chunkKeys(db), [[5, 0, 5]]);
    assert.deepEqual(await readFile(db, 5, again.byteLength), again);
  });
}

for (const blobs of [true, false]) {
  test(`a file of several runs reads back across requests, single chunks over runs included (${blobs ? "Blobs" : "arrays"})`, async () => {
    // At the real chunk size a request holds one run: this file takes three.
    const db = await freshDb();
    const chunk = store.CHUNK_SIZE;
    const runs = store.RUN_CHUNKS;
    const writeAs = (build) => {
      const w = new store.Writer(db, { chunkSize: chunk, blobs });
      build(w);
      return w.commit(5000);
    };
    const file = pattern(chunk * (2 * runs + 3) - 5);
    file.fill(0, chunk * 3, chunk * 5);
    await writeAs((w) => w.fileData(5, file, null, false));
    file.fill(9, chunk * (runs + 1), chunk * (runs + 1) + 7);
    file.fill(0, chunk * (runs + 4), chunk * (runs + 5));
    file.fill(8, chunk * 2 * runs + 1, chunk * 2 * runs + 9);
    await writeAs((w) => w.fileData(5, file, [runs + 1, runs + 4, 2 * runs], true));
    assert.deepEqual(await chunkKeys(db), [[5, 0, runs], [5, runs, runs], [5, runs + 1], [5, runs + 4], [5, 2 * runs], [5, 2 * runs, 3]]);
    assert.deepEqual(await readFile(db, 5, file.byteLength, chunk), file);
  });
}

test("a file that shrinks is cut by its size, and grown again reads zeros, not the old bytes; small goes inline", async () => {
  const db = await freshDb();
  await write(db, (w) => putFile(w, 0, "f", 5, pattern(CHUNK * 4)));
  await write(db, (w) => w.fileData(5, pattern(CHUNK * 2 + 1), [], true));
  assert.deepEqual(await chunkKeys(db), [[5, 0, 4]]);
  assert.deepEqual(await readFile(db, 5, CHUNK * 2 + 1), pattern(CHUNK * 2 + 1));
  // Grown back (a truncate up, or a write past the end): what the hooks list is the grown part.
  const grown = new Uint8Array(CHUNK * 4);
  grown.set(pattern(CHUNK * 2 + 1));
  await write(db, (w) => w.fileData(5, grown, [2, 3], true));
  assert.deepEqual(await readFile(db, 5, grown.byteLength), grown);
  await write(db, (w) => putFile(w, 0, "f", 5, Uint8Array.of(7)));
  assert.deepEqual(await chunkKeys(db), []);
});

test("a failed request aborts the whole transaction: nothing of it is stored", async () => {
  const db = await freshDb();
  await write(db, (w) => putFile(w, 0, "kept", 1, Uint8Array.of(1)));
  store.faults.fail = 1;
  store.faults.failAfterPuts = 2;
  await assert.rejects(
    write(db, (w) => {
      putFile(w, 0, "a", 2, pattern(CHUNK * 3));
      putFile(w, 0, "b", 3, Uint8Array.of(2));
      putFile(w, 0, "c", 4, Uint8Array.of(3));
      w.deleteNode([0, "kept"]);
    }),
    (e) => e.autosyncKind === "failed" && /ConstraintError/.test(e.message)
  );
  assert.deepEqual([...(await nodes(db)).keys()], ["0/kept"]);
  assert.deepEqual(await chunkKeys(db), []);
  store.faults.failAfterPuts = 1;
});

test("a transaction whose completion never comes is given up on after the bound, as 'stalled'", async () => {
  const db = await freshDb();
  store.faults.hang = 1;
  const started = Date.now();
  await assert.rejects(
    (() => {
      const w = new store.Writer(db, { chunkSize: CHUNK });
      putFile(w, 0, "a", 2, Uint8Array.of(1));
      return w.commit(200);
    })(),
    (e) => e.autosyncKind === "stalled"
  );
  assert.ok(Date.now() - started < 5000);
  // Nothing waits behind it: the next transaction commits.
  await write(db, (w) => putFile(w, 0, "b", 3, Uint8Array.of(1)));
  assert.ok((await nodes(db)).has("0/b"));
});

test("durability 'strict' is asked of the transaction where the browser takes it", async () => {
  const db = await freshDb();
  const w = new store.Writer(db, { chunkSize: CHUNK, durability: "strict" });
  assert.equal(w.tx.durability, "strict");
  await w.commit(5000);
  assert.equal(new store.Writer(db, { chunkSize: CHUNK }).tx.durability, "default");
});

test("where Blobs cannot be stored, chunks are bytes, and read back the same", async () => {
  const db = await freshDb();
  const big = pattern(CHUNK * 3 + 1);
  await (async () => {
    const w = new store.Writer(db, { chunkSize: CHUNK, blobs: false });
    putFile(w, 0, "f", 4, big);
    await w.commit(5000);
  })();
  const tx = db.transaction([store.CHUNKS], "readonly");
  const value = await new Promise((resolve) => {
    const r = tx.objectStore(store.CHUNKS).get([4, 0, 4]);
    r.onsuccess = () => resolve(r.result);
  });
  assert.ok(value instanceof Uint8Array);
  assert.deepEqual(await readFile(db, 4, big.byteLength), big);
  assert.equal(await store.canStoreBlobs(), true);
});

test("storage that refuses Blobs is detected by the probe", async () => {
  // As WebKit's in-memory IndexedDB does, the Blob's put request fails (here: a second add of one
  // key, a real refusal by fake-indexeddb).
  const factory = {
    open(...args) {
      const request = indexedDB.open(...args);
      const onsuccess = () => {
        const db = request.result;
        const transaction = db.transaction.bind(db);
        db.transaction = (...t) => {
          const tx = transaction(...t);
          const objectStore = tx.objectStore.bind(tx);
          tx.objectStore = (name) => {
            const s = objectStore(name);
            const put = s.put.bind(s);
            s.put = (value, key) => {
              if (!(value instanceof Blob)) return put(value, key);
              s.add(1, "taken");
              return s.add(1, "taken");
            };
            return s;
          };
          return tx;
        };
      };
      Object.defineProperty(request, "onsuccess", {
        set(handler) {
          request.addEventListener("success", () => {
            onsuccess();
            handler();
          });
        },
      });
      return request;
    },
  };
  assert.equal(await store.canStoreBlobs({ factory }), false);
  assert.equal(await store.canStoreBlobs(), true);
});

test("readFiles: holes, chunks stored as Int8Array (format 2 wrote MEMFS's HEAP8 slices), and bad chunks", async () => {
  const db = await freshDb();
  const size = CHUNK * 4 + 3;
  const file = pattern(size);
  file.fill(0, CHUNK, CHUNK * 3);
  await write(db, (w) => putFile(w, 0, "f", 5, file));
  assert.deepEqual(await readFile(db, 5, size), file);
  const tx = db.transaction([store.CHUNKS], "readwrite");
  tx.objectStore(store.CHUNKS).put(new Int8Array(pattern(CHUNK, 9).buffer), [5, 1]);
  tx.objectStore(store.CHUNKS).put("not bytes", [6, 0]);
  await new Promise((resolve) => (tx.oncomplete = resolve));
  file.set(pattern(CHUNK, 9), CHUNK);
  assert.deepEqual(await readFile(db, 5, size), file);
  const got = [];
  await store.readFiles(db, null, [{ id: 6, size: CHUNK * 2 }], CHUNK, (f, bytes, error) => got.push(error && error.message), () => {});
  assert.deepEqual(got, ["chunk 0 is not bytes"]);
});

test("readFiles: a run of a bad length, unaligned, too long or not bytes is its file's problem only", async () => {
  const db = await freshDb();
  const runs = store.RUN_CHUNKS;
  const tx = db.transaction([store.CHUNKS], "readwrite");
  const chunks = tx.objectStore(store.CHUNKS);
  chunks.put(pattern(CHUNK * 2), [7, 0, runs + 1]);
  chunks.put(pattern(CHUNK * 2), [8, 0, 1]);
  chunks.put(pattern(CHUNK * 2), [9, 0, 2]);
  chunks.put(pattern(CHUNK * 2), [9, 3, 2]);
  chunks.put(new Blob([pattern(CHUNK * 3)]), [10, 0, 2]);
  chunks.put("not bytes", [11, 0, 2]);
  chunks.put(pattern(CHUNK * 2, 5), [12, 0, 2]);
  await new Promise((resolve) => (tx.oncomplete = resolve));
  const files = [7, 8, 9, 10, 11, 12].map((id) => ({ id, size: CHUNK * 5 }));
  const got = new Map();
  await store.readFiles(db, null, files, CHUNK, (f, bytes, error) => got.set(files[f].id, error ? error.message : bytes), () => {});
  assert.equal(got.get(7), `the run at chunk 0 has a bad length (${runs + 1})`);
  assert.equal(got.get(8), "the run at chunk 0 has a bad length (1)");
  assert.equal(got.get(9), "the run at chunk 3 has a bad length (2)");
  assert.equal(got.get(10), "the run at chunk 0 is not at most its chunks");
  assert.equal(got.get(11), "the run at chunk 0 is not bytes");
  const good = new Uint8Array(CHUNK * 5);
  good.set(pattern(CHUNK * 2, 5));
  assert.deepEqual(got.get(12), good);
});

test("deleting a file's chunks takes its runs and single chunks, and no other file's", async () => {
  const db = await freshDb();
  const runs = store.RUN_CHUNKS;
  const file = pattern(CHUNK * (runs + 5));
  await write(db, (w) => {
    putFile(w, 0, "f", 5, file);
    putFile(w, 0, "g", 6, pattern(CHUNK * 3));
  });
  await write(db, (w) => w.fileData(5, file, [1, runs + 2], true));
  assert.deepEqual(await chunkKeys(db), [[5, 0, runs], [5, 1], [5, runs, 5], [5, runs + 2], [6, 0, 3]]);
  // From an index on (a file cut short): runs starting there or later go, one starting before stays.
  await write(db, (w) => w.deleteChunks(5, runs + 1));
  assert.deepEqual(await chunkKeys(db), [[5, 0, runs], [5, 1], [5, runs, 5], [6, 0, 3]]);
  await write(db, (w) => w.deleteChunks(5, 0));
  assert.deepEqual(await chunkKeys(db), [[6, 0, 3]]);
});

test("recordProblem names what makes a record unusable, and passes good ones", () => {
  const ok = { id: 5, mode: FILE, mtime: 1, v: 1, size: 2, contents: Uint8Array.of(1, 2) };
  assert.equal(store.recordProblem([0, "a"], ok, CHUNK), null);
  const cases = [
    [[0, ".."], ok, "'..' segment"],
    [[0, ""], ok, "empty segment"],
    [[0, "a/b"], ok, "contains '/'"],
    [[0, "a\0b"], ok, "NUL"],
    [["x", "a"], ok, "not [parent id, name]"],
    [[0, "a"], "text", "not a record"],
    [[0, "a"], [1, 2], "not a record"],
    [[0, "a"], { ...ok, id: undefined }, "no valid id"],
    [[0, "a"], { ...ok, mtime: NaN }, "not a time"],
    [[0, "a"], { ...ok, mtime: "1" }, "not a time"],
    [[0, "a"], { ...ok, mode: 0o10644 }, "not a file, directory or symlink"],
    [[0, "a"], { ...ok, mode: -1 }, "not a file mode"],
    [[0, "a"], { ...ok, contents: "ab" }, "not bytes"],
    [[0, "a"], { ...ok, size: 3 }, "disagrees"],
    [[0, "a"], { ...ok, size: -1, contents: undefined }, "not a size"],
    [[0, "a"], { id: 5, mode: FILE, mtime: 1, size: 5 }, "neither inline nor in chunks"],
    [[0, "a"], { id: 5, mode: LINK, mtime: 1 }, "link target"],
  ];
  for (const [key, value, why] of cases) {
    const problem = store.recordProblem(key, value, CHUNK);
    assert.ok(problem && problem.includes(why), `${JSON.stringify(key)}: ${problem} (expected ${why})`);
  }
});

test("formatProblem: a newer or garbled format record is refused; a missing one is not", () => {
  assert.equal(store.formatProblem(undefined), null);
  assert.equal(store.formatProblem({ version: 2, chunkSize: 5 }), null);
  assert.match(store.formatProblem({ version: 99 }), /newer autosync \(storage format 99/);
  assert.match(store.formatProblem("garbage"), /not a record/);
  assert.match(store.formatProblem({ version: "3" }), /no version/);
  assert.match(store.formatProblem({ version: 3, chunkSize: -1 }), /bad chunk size/);
});

for (const name of ["format1", "format2", "format3", "idbfs"]) {
  test(`stored ${name} data is upgraded in place to the current format and reads back the same`, async () => {
    const data = fixture(name);
    const dbName = await writeFixture(data, ++serial);
    const db = await store.open(dbName.autosync);
    let info = await store.describe(db);
    if (name === "idbfs") {
      assert.equal(info.nodes, 0);
      assert.equal(await store.migrateIdbfs(db, dbName.mountpoint, store.CHUNK_SIZE), data.expect.length);
      info = await store.describe(db);
    }
    assert.equal(info.format.version, store.FORMAT_VERSION);
    assert.ok(!db.objectStoreNames.contains("entries"));
    const saved = await nodes(db);
    // Rebuild paths from the tree.
    const paths = new Map([[0, ""]]);
    const byPath = new Map();
    for (let pending = [...saved.entries()]; pending.length; ) {
      const later = [];
      for (const [key, value] of pending) {
        const parent = Number(key.slice(0, key.indexOf("/")));
        const nameOf = key.slice(key.indexOf("/") + 1);
        if (!paths.has(parent)) later.push([key, value]);
        else {
          const path = paths.get(parent) ? `${paths.get(parent)}/${nameOf}` : nameOf;
          paths.set(value.id, path);
          byPath.set(path, value);
        }
      }
      assert.ok(later.length < pending.length, "every record has its directory");
      pending = later;
    }
    for (const entry of data.expect) {
      const value = byPath.get(entry.path);
      assert.ok(value, `${entry.path} is there`);
      assert.equal(value.mode, entry.mode, entry.path);
      assert.equal(value.mtime, entry.mtime, entry.path);
      if (entry.link !== undefined) assert.equal(value.link, entry.link);
      if (entry.bytes !== undefined) {
        const bytes = value.contents !== undefined ? store.inlineBytes(value) : await readFile(db, value.id, value.size, info.format.chunkSize);
        assert.deepEqual(Buffer.from(bytes).toString("base64"), entry.bytes, entry.path);
      }
    }
    assert.equal(byPath.size, data.expect.length);
    db.close();
  });
}

test("format 3 data keeps its epoch and chunk size through the upgrade", async () => {
  const data = fixture("format3");
  const stored = data.records.meta.find(([key]) => key === "format")[1];
  const dbName = await writeFixture(data, ++serial);
  const db = await store.open(dbName.autosync);
  const info = await store.describe(db);
  assert.deepEqual([info.format.version, info.format.chunkSize, info.format.epoch, info.format.upgradedFrom], [store.FORMAT_VERSION, stored.chunkSize, stored.epoch, 3]);
  assert.equal(info.logHead, 1);
  db.close();
});

test("data of a newer format in an older database is refused and left as it was", async () => {
  const name = freshName();
  await new Promise((resolve) => {
    const r = indexedDB.open(name, 2);
    r.onupgradeneeded = () => {
      r.result.createObjectStore("entries");
      r.result.createObjectStore("meta");
      r.result.createObjectStore("chunks");
      r.transaction.objectStore("meta").put({ version: 99 }, "format");
      r.transaction.objectStore("entries").put({ mode: FILE, mtime: 1, future: true }, "x");
    };
    r.onsuccess = () => {
      r.result.close();
      resolve();
    };
  });
  await assert.rejects(store.open(name), (e) => e.autosyncKind === "format" && /newer autosync \(storage format 99/.test(e.message));
  const version = await new Promise((resolve) => {
    const r = indexedDB.open(name);
    r.onsuccess = () => {
      const db = r.result;
      resolve([db.version, [...db.objectStoreNames].sort()]);
      db.close();
    };
  });
  assert.deepEqual(version, [2, ["chunks", "entries", "meta"]]);
});

test("IDBFS data of other mount points is not migrated, and none is created by looking", async () => {
  const db = await freshDb();
  assert.equal(await store.migrateIdbfs(db, "/never-mounted", CHUNK), 0);
  const names = (await indexedDB.databases()).map((d) => d.name);
  assert.ok(!names.includes("/never-mounted"));
});

test("chunkCount: a file of at most one chunk has none", () => {
  assert.equal(store.chunkCount(0, CHUNK), 0);
  assert.equal(store.chunkCount(CHUNK, CHUNK), 0);
  assert.equal(store.chunkCount(CHUNK + 1, CHUNK), 2);
});
