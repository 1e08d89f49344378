// Makes tests/fixtures/*.json: data as older autosync versions and Emscripten's IDBFS stored it,
// written by their own code (autosync's store.js of format 2 taken from git history, IDBFS from the
// pinned Pyodide), so the upgrade tests read what users really have. Run from the repository root:
//   node scripts/make_fixtures.mjs [format1 format2 format3 idbfs]   (default: all)
import "fake-indexeddb/auto";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import vm from "node:vm";
import { loadPyodide } from "pyodide";
import { dump } from "../tests/js/fixtures.mjs";

// The last commit with storage format 2, and the last with format 3 (main before format 4).
const FORMAT2_COMMIT = "da0027b";
const FORMAT3_COMMIT = "59bec10";
const MOUNT = "/data";
const FILE = 0o100644;
const DIR = 0o40755;
const LINK = 0o120777;
const CHUNK = 262144;
// Format 2 recorded its chunk size per database: a small one keeps the fixture small while its
// files still span several chunks.
const FORMAT2_CHUNK = 4096;

function pattern(size, seed) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) % 251 || 1;
  return out;
}

const b64 = (bytes) => Buffer.from(bytes).toString("base64");

// A tree with every kind of entry: nested directories, small and chunked files (one with a hole,
// one stored from WebAssembly memory as an Int8Array, one just over the current chunk size, which
// formats 1 and IDBFS kept inline), an empty file, a symlink.
const big = pattern(FORMAT2_CHUNK * 3 + 100, 3);
big.fill(0, FORMAT2_CHUNK, FORMAT2_CHUNK * 2);
const small = new TextEncoder().encode("hello from an older autosync\n");
const tree = [
  { path: "docs", mode: DIR, mtime: 1600000000000 },
  { path: "docs/notes.txt", mode: FILE, mtime: 1600000001000, bytes: small },
  { path: "docs/sub", mode: DIR, mtime: 1600000002000 },
  { path: "docs/sub/big.bin", mode: FILE, mtime: 1600000003000, bytes: big },
  { path: "empty", mode: FILE, mtime: 1600000004000, bytes: new Uint8Array(0) },
  { path: "heap.bin", mode: FILE, mtime: 1600000005000, bytes: pattern(CHUNK + 7, 5), int8: true },
  { path: "link", mode: LINK, mtime: 1600000006000, link: "docs/notes.txt" },
];
const expect = tree.map(({ path, mode, mtime, bytes, link }) => ({ path, mode, mtime, ...(bytes ? { bytes: b64(bytes) } : {}), ...(link ? { link } : {}) }));

async function format2() {
  const source = execFileSync("git", ["show", `${FORMAT2_COMMIT}:autosync/js/store.js`], { encoding: "utf8" });
  const store = vm.runInThisContext(source)();
  const name = `autosync:${MOUNT}`;
  const db = await store.open(name);
  const writer = new store.Writer(db, FORMAT2_CHUNK);
  for (const e of tree) {
    if (e.mode === DIR) writer.dir(e.path, e.mode, e.mtime);
    else if (e.mode === LINK) writer.link(e.path, e.mode, e.mtime, e.link);
    else writer.file(e.path, e.mode, e.mtime, e.int8 ? new Int8Array(e.bytes.buffer) : e.bytes, null, false);
  }
  await writer.commit();
  db.close();
  return { ...(await dump(name)), mountpoint: MOUNT, expect };
}

async function format3() {
  // Nodes keyed [parent id, name], every chunk on its own (no runs); chunk size recorded per database.
  const source = execFileSync("git", ["show", `${FORMAT3_COMMIT}:autosync/js/store.js`], { encoding: "utf8" });
  const store = vm.runInThisContext(source)();
  const name = `autosync:${MOUNT}-f3`;
  let db = await store.open(name);
  await new Promise((resolve) => {
    const tx = db.transaction(["meta"], "readwrite");
    const meta = tx.objectStore("meta");
    const get = meta.get("format");
    get.onsuccess = () => meta.put({ ...get.result, chunkSize: FORMAT2_CHUNK }, "format");
    tx.oncomplete = resolve;
  });
  const writer = new store.Writer(db, { chunkSize: FORMAT2_CHUNK });
  const ids = new Map([["", 0]]);
  tree.forEach((e, i) => {
    const slash = e.path.lastIndexOf("/");
    const key = [ids.get(slash === -1 ? "" : e.path.slice(0, slash)), e.path.slice(slash + 1)];
    const id = 100 + i;
    ids.set(e.path, id);
    const record = { id, mode: e.mode, mtime: e.mtime, v: 1 };
    if (e.mode === LINK) record.link = e.link;
    if (e.bytes) Object.assign(record, writer.fileData(id, e.int8 ? new Int8Array(e.bytes.buffer) : e.bytes, null, false));
    writer.putNode(key, record);
  });
  writer.putRoot({ mode: DIR, mtime: 1600000000000, v: 1 });
  writer.log({ tab: 1, v: 1, puts: [], dels: [], at: 1600000000000 });
  await writer.commit(10000);
  db.close();
  const data = await dump(name);
  data.database.name = `autosync:${MOUNT}`;
  return { ...data, mountpoint: MOUNT, expect };
}

async function format1() {
  // autosync 0.1 before chunks: database version 1, stores "entries" and "meta", every file inline.
  const name = `autosync:${MOUNT}-f1`;
  await new Promise((resolve) => {
    const r = indexedDB.open(name, 1);
    r.onupgradeneeded = () => {
      r.result.createObjectStore("entries");
      r.result.createObjectStore("meta");
      const tx = r.transaction;
      tx.objectStore("meta").put({ version: 1 }, "format");
      for (const e of tree) {
        const value = { mode: e.mode, mtime: e.mtime };
        if (e.link) value.link = e.link;
        if (e.bytes) value.contents = e.bytes;
        tx.objectStore("entries").put(value, e.path);
      }
    };
    r.onsuccess = () => {
      r.result.close();
      resolve();
    };
  });
  const data = await dump(name);
  data.database.name = `autosync:${MOUNT}`;
  return { ...data, mountpoint: MOUNT, expect };
}

async function idbfs() {
  const pyodide = await loadPyodide();
  const FS = pyodide.FS;
  FS.mkdir(MOUNT);
  FS.mount(FS.filesystems.IDBFS, {}, MOUNT);
  for (const e of tree) {
    const path = `${MOUNT}/${e.path}`;
    if (e.mode === DIR) FS.mkdir(path, e.mode & 0o7777);
    else if (e.mode === LINK) FS.symlink(e.link, path);
    else FS.writeFile(path, e.bytes, { mode: e.mode & 0o7777 });
  }
  // Children first, then their directories: creating a child bumps the directory's mtime.
  for (const e of [...tree].reverse()) if (e.mode !== LINK) FS.utime(`${MOUNT}/${e.path}`, e.mtime, e.mtime);
  await new Promise((resolve, reject) => FS.syncfs(false, (err) => (err ? reject(err) : resolve())));
  const data = await dump(MOUNT);
  // IDBFS keeps symlinks' times as the time of the sync: expect what it stored.
  const stored = new Map(data.records.FILE_DATA.map(([key, value]) => [key, value]));
  const expected = expect.map((e) => (e.link ? { ...e, mtime: stored.get(`${MOUNT}/${e.path}`).timestamp.$date } : e));
  return { ...data, mountpoint: MOUNT, expect: expected };
}

const only = process.argv.slice(2);
for (const [name, make] of Object.entries({ format1, format2, format3, idbfs })) {
  if (only.length && !only.includes(name)) continue;
  const data = await make();
  writeFileSync(new URL(`../tests/fixtures/${name}.json`, import.meta.url), JSON.stringify(data, null, 1) + "\n");
  console.log(`tests/fixtures/${name}.json: ${Object.values(data.records).reduce((n, r) => n + r.length, 0)} records`);
}
