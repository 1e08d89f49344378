// Stored data of older autosync formats and of Emscripten's IDBFS (tests/fixtures/*.json), written
// by the code of those days (scripts/make_fixtures.mjs), and the helpers to put them into an
// IndexedDB: fake-indexeddb here, a real browser's through the same encoding in tests/e2e.
//
// A fixture is JSON: {database: {name, version, stores: {name: options}}, mountpoint,
// records: {store: [[key, value], ...]}, expect: [{path, mode, mtime, bytes?, link?}]}. Values that
// JSON cannot hold are tagged: {"$bytes": base64, "$array": "Uint8Array"|"Int8Array"},
// {"$blob": base64}, {"$date": ms}.
import { readFileSync } from "node:fs";

export function fixture(name) {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), "utf8"));
}

export function encode(value) {
  if (value instanceof Date) return { $date: value.getTime() };
  if (ArrayBuffer.isView(value)) {
    return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64"), $array: value.constructor.name };
  }
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  return value;
}

export function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === "object") {
    if ("$date" in value) return new Date(value.$date);
    if ("$bytes" in value) {
      const bytes = Uint8Array.from(Buffer.from(value.$bytes, "base64"));
      return value.$array === "Int8Array" ? new Int8Array(bytes.buffer) : bytes;
    }
    if ("$blob" in value) return new Blob([Buffer.from(value.$blob, "base64")]);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

// Writes `data` into a new database, under a mount point made unique by `serial`. Returns the
// names to open: {autosync: "autosync:<mountpoint>", mountpoint}.
export async function writeFixture(data, serial) {
  const mountpoint = `${data.mountpoint}-${serial}`;
  const rename = (key) => (typeof key === "string" && key.startsWith(data.mountpoint + "/") ? mountpoint + key.slice(data.mountpoint.length) : key);
  const name = data.database.name === data.mountpoint ? mountpoint : `autosync:${mountpoint}`;
  await new Promise((resolve, reject) => {
    const request = indexedDB.open(name, data.database.version);
    request.onupgradeneeded = () => {
      for (const [store, options] of Object.entries(data.database.stores)) {
        const created = request.result.createObjectStore(store, options.keyPath || options.autoIncrement ? options : undefined);
        for (const index of options.indexes || []) created.createIndex(index, index);
      }
      for (const [store, records] of Object.entries(data.records)) {
        const s = request.transaction.objectStore(store);
        for (const [key, value] of records) s.put(decode(value), rename(decode(key)));
      }
    };
    request.onsuccess = () => {
      request.result.close();
      resolve();
    };
    request.onerror = () => reject(request.error);
  });
  return { autosync: `autosync:${mountpoint}`, mountpoint };
}

// Every record of every store of database `name`, encoded (for making fixtures).
export async function dump(name) {
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open(name);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const stores = {};
  const records = {};
  for (const store of db.objectStoreNames) {
    const tx = db.transaction([store], "readonly");
    const s = tx.objectStore(store);
    stores[store] = { indexes: [...s.indexNames], ...(s.autoIncrement ? { autoIncrement: true } : {}) };
    const [keys, values] = await Promise.all(
      [s.getAllKeys(), s.getAll()].map((r) => new Promise((resolve) => (r.onsuccess = () => resolve(r.result))))
    );
    records[store] = [];
    for (let i = 0; i < keys.length; i++) {
      const value = values[i] instanceof Blob ? { $blob: Buffer.from(await values[i].arrayBuffer()).toString("base64") } : encode(values[i]);
      records[store].push([encode(keys[i]), value]);
    }
  }
  const database = { name, version: db.version, stores };
  db.close();
  return { database, records };
}
