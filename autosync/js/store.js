// How one autosync directory is laid out in IndexedDB: the storage format, reading it back in
// batches, writing changes into a transaction, and reading data saved by Emscripten's IDBFS.
//
// Loaded by autosync/_pyodide.py before autosync.js, which receives what this evaluates to.
//
// Format 2 (this one). Database "autosync:<mount point>", IndexedDB version 2, three object stores
// with out-of-line keys:
//   meta     "format" -> {version: 2, chunkSize}
//   entries  relative path ("notes/a.txt"; never "") -> {mode, mtime} for a directory,
//            {mode, mtime, link} for a symlink, {mode, mtime, size, contents?} for a file. A file of
//            at most chunkSize bytes carries its bytes inline in `contents`; a larger one has none.
//   chunks   [relative path, chunk index] -> chunkSize bytes (the last one shorter) for files larger
//            than chunkSize, as a Blob (or a Uint8Array where there are no Blobs; readers take both).
//            A missing chunk reads as zeros (holes, zero-filled regions).
// Format 1 (autosync 0.1) had no chunks store and every file inline, whatever its size; it is read
// as it is, and a file is rewritten in format 2 the next time it changes.
(function autosyncStore() {
  "use strict";

  const FORMAT_VERSION = 2;
  // The IndexedDB schema version: bumped when object stores are added (format 1 had version 1).
  const DB_VERSION = 2;
  const ENTRIES = "entries";
  const CHUNKS = "chunks";
  const META = "meta";
  const STORES = [ENTRIES, CHUNKS, META];
  // 256 KiB measured best among 16 KiB..4 MiB in Chromium (bench/CHUNK_SIZE.md): a one-chunk
  // rewrite still commits in about a millisecond, while restoring or writing a 200 MB file
  // needs few enough requests to stay within a few percent of one big put.
  const CHUNK_SIZE = 256 * 1024;
  // Emscripten's IDBFS, whose data is migrated on the first start of a mount point.
  const IDBFS_STORE = "FILE_DATA";

  function requestPromise(request) {
    return new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = (event) => {
        event.preventDefault();
        reject(request.error);
      };
    });
  }

  function transactionDone(tx) {
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      // An abort (quota exceeded, a failed put) reaches onabort; onerror fires first for request errors.
      tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
      tx.onerror = (event) => event.preventDefault();
    });
  }

  function open(name) {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(name, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        for (const store of STORES) if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = (event) => {
        event.preventDefault();
        const error = request.error;
        if (error && error.name === "VersionError") {
          reject(new Error(`the data in ${name} was saved by a newer autosync (its database is newer than version ${DB_VERSION}); upgrade autosync`));
        } else {
          reject(error);
        }
      };
      request.onblocked = () => reject(new Error(`IndexedDB database ${name} is blocked by another connection`));
    });
  }

  // ------------------------------------------------------------------ keys

  // Every key that starts with `rel + "/"`; "0" is the character after "/".
  function entriesBelow(rel) {
    return IDBKeyRange.bound(rel + "/", rel + "0", false, true);
  }

  // Chunks `from` onwards of one file.
  function chunksFrom(rel, from) {
    return IDBKeyRange.bound([rel, from], [rel, Infinity]);
  }

  // Chunks of every file below `rel`: arrays compare element by element, and [p] sorts before [p, 0].
  function chunksBelow(rel) {
    return IDBKeyRange.bound([rel + "/"], [rel + "0"], false, true);
  }

  function chunkCount(size, chunkSize) {
    return size <= chunkSize ? 0 : Math.ceil(size / chunkSize);
  }

  // A chunk as stored: a Blob where there are Blobs, else a copy of its bytes. Chromium keeps every
  // value over 64 KiB in a blob file of its own anyway; stored as a Blob, a chunk comes back from a
  // read as a handle, and a restore has the browser assemble a whole file from its chunks in one
  // read instead of bringing each chunk into the page and copying it (a 200 MiB file came back
  // about a third faster). The Blob constructor copies `piece` at once: the snapshot is taken here.
  const hasBlobs = typeof Blob === "function";
  const chunkValue = hasBlobs ? (piece) => new Blob([piece]) : (piece) => piece.slice();

  function isZero(bytes) {
    // Early exit on the first non-zero byte keeps this cheap for real data; only holes scan fully.
    const words = bytes.byteOffset % 4 === 0 && bytes.byteLength % 4 === 0
      ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
      : bytes;
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    return true;
  }

  // ------------------------------------------------------------------ writing

  // Writes changes into one readwrite transaction. IndexedDB clones every value inside put(), so the
  // caller may hand views of live file contents: the transaction holds a snapshot from that moment.
  // Views are sliced first, since cloning a view clones its whole underlying buffer.
  class Writer {
    constructor(db, chunkSize) {
      this.tx = db.transaction(STORES, "readwrite");
      this.done = transactionDone(this.tx);
      this.entries = this.tx.objectStore(ENTRIES);
      this.chunks = this.tx.objectStore(CHUNKS);
      this.chunkSize = chunkSize;
      this.stats = { puts: 0, deletes: 0, bytes: 0 };
    }

    dir(rel, mode, mtime) {
      this.entries.put({ mode, mtime }, rel);
      this.stats.puts++;
    }

    link(rel, mode, mtime, link) {
      this.entries.put({ mode, mtime, link }, rel);
      this.stats.puts++;
    }

    // A file's entry, and its chunks: all of them when `chunks` is null, else those listed. `bytes`
    // is a view of exactly the file's contents. `known` says the stored copy already has this
    // file's layout (inline or chunked) at `rel`; otherwise stale chunks are removed first.
    file(rel, mode, mtime, bytes, chunks, known) {
      const size = bytes.byteLength;
      const count = chunkCount(size, this.chunkSize);
      if (count === 0) {
        this.entries.put({ mode, mtime, size, contents: bytes.slice() }, rel);
        this.stats.bytes += size;
        if (!known) this.chunks.delete(chunksFrom(rel, 0));
      } else {
        this.entries.put({ mode, mtime, size }, rel);
        this.chunks.delete(chunksFrom(rel, count));
        if (chunks === null) {
          for (let i = 0; i < count; i++) this.chunk(rel, bytes, i);
        } else {
          for (const i of chunks) if (i < count) this.chunk(rel, bytes, i);
        }
      }
      this.stats.puts++;
    }

    chunk(rel, bytes, i) {
      const piece = bytes.subarray(i * this.chunkSize, (i + 1) * this.chunkSize);
      if (isZero(piece)) {
        this.chunks.delete([rel, i]);
      } else {
        this.chunks.put(chunkValue(piece), [rel, i]);
        this.stats.bytes += piece.byteLength;
      }
    }

    // `rel` and everything below it.
    remove(rel) {
      this.entries.delete(rel);
      this.chunks.delete(chunksFrom(rel, 0));
      this.removeBelow(rel);
    }

    removeBelow(rel) {
      this.entries.delete(entriesBelow(rel));
      this.chunks.delete(chunksBelow(rel));
      this.stats.deletes++;
    }

    clear() {
      this.entries.clear();
      this.chunks.clear();
    }

    // Issues the writes: the transaction commits without waiting for another task.
    commit() {
      this.tx.objectStore(META).put({ version: FORMAT_VERSION, chunkSize: this.chunkSize }, "format");
      if (this.tx.commit) this.tx.commit();
      return this.done.then(() => this.stats);
    }

    abort() {
      this.done.catch(() => {});
      this.tx.abort();
    }
  }

  // ------------------------------------------------------------------ reading

  // The format record and the number of entries; `format` is undefined for a new database.
  async function describe(db) {
    const tx = db.transaction([ENTRIES, META], "readonly");
    const [format, entries] = await Promise.all([
      requestPromise(tx.objectStore(META).get("format")),
      requestPromise(tx.objectStore(ENTRIES).count()),
    ]);
    return { format, entries };
  }

  // Reads `store` in key order, `count` records per transaction; calls `batch(keys, values)` for each.
  async function readInBatches(db, storeName, count, batch) {
    let range = null;
    for (;;) {
      const tx = db.transaction([storeName], "readonly");
      const store = tx.objectStore(storeName);
      const [keys, values] = await Promise.all([
        requestPromise(store.getAllKeys(range, count)),
        requestPromise(store.getAll(range, count)),
      ]);
      if (keys.length === 0) return;
      await batch(keys, values);
      if (keys.length < count) return;
      range = IDBKeyRange.lowerBound(keys[keys.length - 1], true);
    }
  }

  // Reads the chunks of `files` ([{rel, size}], in key order) in one readonly transaction, `perBatch`
  // chunks per request with up to `window` requests in flight: reading ahead while earlier batches
  // are copied was the fastest way measured (bench/CHUNK_SIZE.md), and the window bounds memory.
  // Calls `batch(fileIndex, last, keys, values)` in key order, `last` telling whether the batch ends
  // the file (holes are missing keys, so the keys cannot tell); resolves when all were handled.
  function readChunks(db, files, chunkSize, perBatch, window, batch) {
    const plan = [];
    files.forEach((file, f) => {
      const count = chunkCount(file.size, chunkSize);
      for (let i = 0; i < count; i += perBatch) plan.push([f, i, Math.min(count, i + perBatch) - 1]);
    });
    if (plan.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const tx = db.transaction([CHUNKS], "readonly");
      const store = tx.objectStore(CHUNKS);
      let issued = 0;
      let handled = 0;
      let failure = null;
      tx.oncomplete = () => (failure ? reject(failure) : resolve());
      tx.onabort = () => reject(failure || tx.error || new Error("IndexedDB transaction aborted"));
      const next = () => {
        while (issued < plan.length && issued - handled < window) {
          const [f, from, to] = plan[issued++];
          const last = to === chunkCount(files[f].size, chunkSize) - 1;
          const range = IDBKeyRange.bound([files[f].rel, from], [files[f].rel, to]);
          const keys = store.getAllKeys(range);
          const values = store.getAll(range);
          values.onsuccess = () => {
            try {
              batch(f, last, keys.result, values.result);
            } catch (e) {
              failure = e;
              tx.abort();
              return;
            }
            handled++;
            next();
          };
        }
      };
      next();
    });
  }

  // Chunks are read about 16 MiB per request with four requests in flight, so memory stays bounded
  // while requests stay few.
  const CHUNK_BATCH_BYTES = 16 * 1024 * 1024;
  const CHUNK_BATCHES_IN_FLIGHT = 4;

  // Reads back whole files stored without inline bytes (`files`: [{rel, size}], in key order). Calls
  // `file(index, bytes)` for each with a new Uint8Array of exactly its size (or `file(index, null,
  // error)` if it could not be assembled): first, as zeros, those of at most one chunk (an entry
  // written without contents has no chunks to read), then the others in order; and
  // `progress(byteCount)` as bytes come in. Chunks stored as arrays are copied into the file as they arrive; chunks stored as Blobs
  // are collected as handles, and the browser assembles the file from them in one read once its
  // last batch is in, one file at a time. Either way the memory beyond the files handed out is the
  // batches in flight plus the one file being assembled.
  async function readFiles(db, files, chunkSize, file, progress) {
    files.forEach(({ size }, f) => {
      if (chunkCount(size, chunkSize) === 0) file(f, new Uint8Array(size));
    });
    const buffers = files.map(() => null);
    const blobs = files.map(() => null);
    let assembling = Promise.resolve();
    await readChunks(
      db,
      files,
      chunkSize,
      Math.max(1, Math.floor(CHUNK_BATCH_BYTES / chunkSize)),
      CHUNK_BATCHES_IN_FLIGHT,
      (f, last, keys, values) => {
        const size = files[f].size;
        let copied = 0;
        for (let i = 0; i < keys.length; i++) {
          const offset = keys[i][1] * chunkSize;
          const value = values[i];
          if (isBlob(value)) {
            (blobs[f] || (blobs[f] = [])).push([offset, value]);
            continue;
          }
          // Allocated at the first array; missing chunks (holes) stay zeros.
          const bytes = buffers[f] || (buffers[f] = new Uint8Array(size));
          const piece = value.subarray(0, size - offset);
          bytes.set(piece, offset);
          copied += piece.byteLength;
        }
        if (copied) progress(copied);
        if (!last) return;
        const bytes = buffers[f];
        const parts = blobs[f];
        buffers[f] = blobs[f] = null;
        if (!parts) {
          file(f, bytes || new Uint8Array(size));
          return;
        }
        assembling = assembling.then(async () => {
          let whole;
          try {
            whole = await assemble(size, parts, bytes);
          } catch (e) {
            file(f, null, e);
            return;
          }
          progress(parts.reduce((n, [offset, blob]) => n + Math.min(blob.size, size - offset), 0));
          file(f, whole);
        });
      }
    );
    await assembling;
  }

  function isBlob(value) {
    return hasBlobs && value instanceof Blob;
  }

  // A file of `size` bytes from the chunk Blobs `parts` ([offset, Blob], by offset), read by the
  // browser in one go; around them, `bytes` (chunks that came as arrays) or zeros.
  async function assemble(size, parts, bytes) {
    const pieces = [];
    const fill = (from, to) => {
      if (to > from) pieces.push(bytes ? bytes.subarray(from, to) : new Uint8Array(to - from));
    };
    let at = 0;
    for (const [offset, blob] of parts) {
      fill(at, offset);
      const length = Math.min(blob.size, size - offset);
      pieces.push(length < blob.size ? blob.slice(0, length) : blob);
      at = offset + length;
    }
    fill(at, size);
    const whole = new Uint8Array(await new Blob(pieces).arrayBuffer());
    if (whole.byteLength !== size) throw new Error(`assembled ${whole.byteLength} bytes, expected ${size}`);
    return whole;
  }

  // Opens Emscripten IDBFS's database for `mountpoint` only if it already exists: opening without a
  // version creates a missing database, so the upgrade that would create it is aborted instead.
  function openExistingIdbfs(mountpoint) {
    return new Promise((resolve, reject) => {
      let created = false;
      const request = indexedDB.open(mountpoint);
      request.onupgradeneeded = () => {
        created = true;
        request.transaction.abort();
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = (event) => {
        event.preventDefault();
        if (created) resolve(null);
        else reject(request.error);
      };
    });
  }

  // IDBFS's records for `mountpoint` as [relative path, {mode, mtime, contents?, link?}], or null.
  async function readIdbfs(mountpoint) {
    const db = await openExistingIdbfs(mountpoint);
    if (!db) return null;
    try {
      if (!db.objectStoreNames.contains(IDBFS_STORE)) return null;
      const tx = db.transaction([IDBFS_STORE], "readonly");
      const store = tx.objectStore(IDBFS_STORE);
      const prefix = mountpoint.endsWith("/") ? mountpoint : mountpoint + "/";
      const range = IDBKeyRange.bound(prefix, prefix.slice(0, -1) + "0", false, true);
      const [keys, values] = await Promise.all([
        requestPromise(store.getAllKeys(range)),
        requestPromise(store.getAll(range)),
      ]);
      return keys.map((key, i) => {
        const value = values[i];
        const entry = { mode: value.mode, mtime: value.timestamp ? value.timestamp.getTime() : Date.now() };
        if (value.contents !== undefined) entry.contents = new Uint8Array(value.contents);
        if (value.link !== undefined) entry.link = value.link;
        return [key.slice(prefix.length), entry];
      });
    } finally {
      db.close();
    }
  }

  // Copies IDBFS's records into this store, in format 2, in one transaction.
  async function migrateIdbfs(db, mountpoint) {
    const legacy = await readIdbfs(mountpoint);
    if (!legacy || legacy.length === 0) return 0;
    const writer = new Writer(db, CHUNK_SIZE);
    for (const [rel, entry] of legacy) {
      if (entry.link !== undefined) writer.link(rel, entry.mode, entry.mtime, entry.link);
      else if (entry.contents !== undefined) writer.file(rel, entry.mode, entry.mtime, entry.contents, null, false);
      else writer.dir(rel, entry.mode, entry.mtime);
    }
    await writer.commit();
    return legacy.length;
  }

  return {
    FORMAT_VERSION,
    CHUNK_SIZE,
    ENTRIES,
    CHUNKS,
    open,
    describe,
    readInBatches,
    readChunks,
    readFiles,
    migrateIdbfs,
    chunkCount,
    Writer,
  };
});
