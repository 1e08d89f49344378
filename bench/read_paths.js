// The ways of reading stored data that bench/read_paths.py times, installed into a plain page of
// the bench's origin (page.evaluate of this file's function). Each way is timed from indexedDB.open.
() => {
  const req = (r) => new Promise((ok, bad) => { r.onsuccess = () => ok(r.result); r.onerror = () => bad(r.error); });
  const open = (name) => req(indexedDB.open(name));
  const CHUNK = 256 * 1024;
  async function batches(db, store, count, useRecords) {
    let range = null;
    let n = 0;
    for (;;) {
      const tx = db.transaction([store], "readonly");
      const s = tx.objectStore(store);
      let keys;
      if (useRecords) {
        const records = await req(s.getAllRecords({ query: range, count }));
        keys = records.map((r) => r.key);
        n += records.length;
      } else {
        const [k] = await Promise.all([req(s.getAllKeys(range, count)), req(s.getAll(range, count))]);
        keys = k;
        n += k.length;
      }
      if (keys.length < count) return n;
      range = IDBKeyRange.lowerBound(keys[keys.length - 1], true);
    }
  }
  // The same batches chained in one transaction: each request issued from the last one's result.
  async function chained(db, store, count, useRecords) {
    const s = db.transaction([store], "readonly").objectStore(store);
    let range = null;
    let n = 0;
    for (;;) {
      let keys;
      if (useRecords) {
        keys = (await req(s.getAllRecords({ query: range, count }))).map((r) => r.key);
      } else {
        [keys] = await Promise.all([req(s.getAllKeys(range, count)), req(s.getAll(range, count))]);
      }
      n += keys.length;
      if (keys.length < count) return n;
      range = IDBKeyRange.lowerBound(keys[keys.length - 1], true);
    }
  }
  async function handles(db, id, perRequest, inFlight) {
    const tx = db.transaction(["chunks"], "readonly");
    const s = tx.objectStore("chunks");
    const all = await req(s.getAllKeys(IDBKeyRange.bound([id, 0], [id, Infinity])));
    const count = all.length ? all[all.length - 1][1] + 1 : 0;
    const out = [];
    let next = 0;
    const one = async () => {
      while (next < count) {
        const from = next;
        next += perRequest;
        const range = IDBKeyRange.bound([id, from], [id, Math.min(count, from + perRequest) - 1]);
        const [keys, values] = await Promise.all([req(s.getAllKeys(range)), req(s.getAll(range))]);
        keys.forEach((k, i) => (out[k[1]] = values[i]));
      }
    };
    await Promise.all(Array.from({ length: inFlight }, one));
    return out;
  }
  async function fileId(db, name) {
    const tx = db.transaction(["nodes"], "readonly");
    const record = await req(tx.objectStore("nodes").get([0, name]));
    return record;
  }
  const ways = {
    async batches(db) { return batches(db, "nodes", 2000, false); },
    async count(db) { return req(db.transaction(["nodes"], "readonly").objectStore("nodes").count()); },
    async "batches+count"(db) {
      const counted = req(db.transaction(["nodes"], "readonly").objectStore("nodes").count());
      const n = await batches(db, "nodes", 2000, false);
      return [n, await counted];
    },
    async "count,batches"(db) {
      const counted = await req(db.transaction(["nodes"], "readonly").objectStore("nodes").count());
      const n = await batches(db, "nodes", 2000, false);
      return [n, counted];
    },
    async "batches-1tx"(db) { return chained(db, "nodes", 2000, false); },
    async "records-1tx"(db) { return chained(db, "nodes", 2000, true); },
    async "records-1tx+count"(db) {
      const counted = req(db.transaction(["nodes"], "readonly").objectStore("nodes").count());
      const n = await chained(db, "nodes", 2000, true);
      return [n, await counted];
    },
    async "one-pass"(db) {
      const s = db.transaction(["nodes"], "readonly").objectStore("nodes");
      const [keys] = await Promise.all([req(s.getAllKeys()), req(s.getAll())]);
      return keys.length;
    },
    async records(db) { return batches(db, "nodes", 2000, true); },
    async "records-all"(db) {
      return (await req(db.transaction(["nodes"], "readonly").objectStore("nodes").getAllRecords())).length;
    },
    async "blob-one"(db) {
      const rec = await fileId(db, "big.bin");
      const parts = await handles(db, rec.id, 64, 4);
      const whole = new Uint8Array(await new Blob(parts).arrayBuffer());
      return [whole.byteLength, whole[whole.byteLength - 1]];
    },
    async "blob-par4"(db) {
      const rec = await fileId(db, "big.bin");
      const parts = await handles(db, rec.id, 64, 4);
      const whole = new Uint8Array(rec.size);
      const per = Math.ceil(parts.length / 4);
      await Promise.all([0, 1, 2, 3].map(async (g) => {
        const group = parts.slice(g * per, (g + 1) * per);
        if (!group.length) return;
        whole.set(new Uint8Array(await new Blob(group).arrayBuffer()), g * per * CHUNK);
      }));
      return [whole.byteLength, whole[whole.byteLength - 1]];
    },
    async "blob-byob"(db) {
      const rec = await fileId(db, "big.bin");
      const parts = await handles(db, rec.id, 64, 4);
      let buffer = new ArrayBuffer(rec.size);
      const reader = new Blob(parts).stream().getReader({ mode: "byob" });
      let at = 0;
      while (at < rec.size) {
        const { value, done } = await reader.read(new Uint8Array(buffer, at, rec.size - at));
        if (done) break;
        buffer = value.buffer;
        at += value.byteLength;
      }
      const whole = new Uint8Array(buffer);
      return [at, whole[whole.byteLength - 1]];
    },
    async idbfs(db, key) {
      const value = await req(db.transaction(["FILE_DATA"], "readonly").objectStore("FILE_DATA").get(key));
      return [value.contents.byteLength, value.contents[value.contents.byteLength - 1]];
    },
  };
  // The same bytes stored as `parts` Blobs (or one Uint8Array value): how much each part costs.
  window.writeLayouts = async (mib, partsList) => {
    const size = mib * 1024 * 1024;
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
    const db = await new Promise((ok, bad) => {
      const r = indexedDB.open("rp_layouts", 1);
      r.onupgradeneeded = () => { r.result.createObjectStore("blobs"); r.result.createObjectStore("values"); };
      r.onsuccess = () => ok(r.result);
      r.onerror = () => bad(r.error);
    });
    for (const parts of partsList) {
      const tx = db.transaction(["blobs"], "readwrite");
      const per = Math.ceil(size / parts);
      for (let i = 0; i < parts; i++) tx.objectStore("blobs").put(new Blob([bytes.subarray(i * per, Math.min(size, (i + 1) * per))]), [parts, i]);
      await new Promise((ok, bad) => { tx.oncomplete = ok; tx.onabort = () => bad(tx.error); });
    }
    const tx = db.transaction(["values"], "readwrite");
    tx.objectStore("values").put(bytes, "whole");
    await new Promise((ok, bad) => { tx.oncomplete = ok; tx.onabort = () => bad(tx.error); });
    db.close();
  };
  ways.parts = async (db, parts) => {
    const s = db.transaction(["blobs"], "readonly").objectStore("blobs");
    const handles = await req(s.getAll(IDBKeyRange.bound([parts, 0], [parts, Infinity])));
    const whole = new Uint8Array(await new Blob(handles).arrayBuffer());
    return [whole.byteLength, handles.length];
  };
  // `parts` Blobs, each cut into slices of 256 KiB: is the cost per backing blob or per piece?
  ways.slices = async (db, parts) => {
    const s = db.transaction(["blobs"], "readonly").objectStore("blobs");
    const handles = await req(s.getAll(IDBKeyRange.bound([parts, 0], [parts, Infinity])));
    const pieces = [];
    for (const h of handles) for (let at = 0; at < h.size; at += CHUNK) pieces.push(h.slice(at, Math.min(h.size, at + CHUNK)));
    const whole = new Uint8Array(await new Blob(pieces).arrayBuffer());
    return [whole.byteLength, pieces.length];
  };
  // 200 parts read as `groups` Blobs at once, each copied into place when it arrives.
  ways.groups = async (db, groups) => {
    const s = db.transaction(["blobs"], "readonly").objectStore("blobs");
    const handles = await req(s.getAll(IDBKeyRange.bound([200, 0], [200, Infinity])));
    const size = handles.reduce((n, h) => n + h.size, 0);
    const whole = new Uint8Array(size);
    const per = Math.ceil(handles.length / groups);
    let offset = 0;
    const starts = handles.map((h) => { const at = offset; offset += h.size; return at; });
    await Promise.all(Array.from({ length: groups }, async (_, g) => {
      const group = handles.slice(g * per, (g + 1) * per);
      if (!group.length) return;
      whole.set(new Uint8Array(await new Blob(group).arrayBuffer()), starts[g * per]);
    }));
    return [whole.byteLength, groups];
  };
  ways.value = async (db) => {
    const v = await req(db.transaction(["values"], "readonly").objectStore("values").get("whole"));
    return [v.byteLength, 1];
  };
  // 20,000 node-like records with 1 KiB of contents inline, the same without contents plus one Blob
  // holding every file's bytes (a "pack"): what the number and the size of records cost.
  window.writeRecords = async (n) => {
    const db = await new Promise((ok, bad) => {
      const r = indexedDB.open("rp_records", 1);
      r.onupgradeneeded = () => ["inline", "bare", "packs"].forEach((s) => r.result.createObjectStore(s));
      r.onsuccess = () => ok(r.result);
      r.onerror = () => bad(r.error);
    });
    const tx = db.transaction(["inline", "bare", "packs"], "readwrite");
    const pack = new Uint8Array(n * 1024);
    for (let i = 0; i < n; i++) {
      const contents = new Uint8Array(1024).fill(i % 251);
      pack.set(contents, i * 1024);
      const key = [Math.floor(i / 100) + 1, `f${i}.txt`];
      const record = { id: 1e9 + i, mode: 33188, mtime: 1.7e12, v: 12345678, size: 1024 };
      tx.objectStore("inline").put({ ...record, contents }, key);
      tx.objectStore("bare").put({ ...record, pack: 1, at: i * 1024 }, key);
    }
    tx.objectStore("packs").put(new Blob([pack]), 1);
    await new Promise((ok, bad) => { tx.oncomplete = ok; tx.onabort = () => bad(tx.error); });
    db.close();
  };
  ways.inline = async (db) => (await req(db.transaction(["inline"], "readonly").objectStore("inline").getAll())).length;
  ways.bare = async (db) => (await req(db.transaction(["bare"], "readonly").objectStore("bare").getAll())).length;
  ways["bare+pack"] = async (db) => {
    const tx = db.transaction(["bare", "packs"], "readonly");
    const [records, pack] = await Promise.all([req(tx.objectStore("bare").getAll()), req(tx.objectStore("packs").get(1))]);
    const bytes = new Uint8Array(await pack.arrayBuffer());
    let sum = 0;
    for (const r of records) sum += bytes.subarray(r.at, r.at + r.size).byteLength;
    return [records.length, sum];
  };
  window.readPath = async (way, name, key) => {
    const t = performance.now();
    const db = await open(name);
    const opened = performance.now() - t;
    const check = await ways[way](db, key);
    const took = performance.now() - t;
    db.close();
    return [took, opened, check];
  };
}
