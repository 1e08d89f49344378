// How one autosync directory is laid out in IndexedDB: the storage format and its upgrades, the
// transaction a flush writes into, batched reads, and the containment checks on what is read back.
// Nothing here knows Emscripten: it deals in ids, keys, records and bytes.
//
// Format 4 (this one). Database "autosync:<mount point>", IndexedDB version 4, four object stores:
//   nodes   [parent id, name] -> a record per file, directory or symlink. The mount root is id 0
//           and has no key of its own; every other node has a random id that never changes, so a
//           rename is one delete and one put of its record, whatever it holds.
//             {id, mode, mtime, v}                     a directory
//             {id, mode, mtime, v, link}               a symlink
//             {id, mode, mtime, v, size, contents?}    a file; `contents` holds the bytes of a file
//                                                       of at most chunkSize bytes, inline
//           `v` is the commit that wrote the record (see `log`).
//   chunks  the bytes of a file larger than a chunk, as Blobs, or Uint8Arrays where Blobs cannot be
//           stored:
//             [file id, first chunk index, n] -> a run: chunks first .. first+n-1 (2 <= n <=
//                                      RUN_CHUNKS, first a multiple of RUN_CHUNKS), as written
//                                      together by one flush (the last run of a file may be shorter)
//             [file id, chunk index]  -> one chunk, chunkSize bytes or fewer (the file's end; empty
//                                      for zeros); where it lies inside a run, it is the newer and
//                                      overrides the run's bytes there
//           A chunk that neither holds reads as zeros (holes, zero-filled regions).
//   meta    "format" -> {version: 4, chunkSize, epoch}; "root" -> {mode, mtime, v} of the mount
//           root; "logFloor" -> the log key below which records were trimmed.
//   log     auto-increment key -> {tab, v, puts: [keys], dels: [keys], conflicts?, at}: one record
//           per commit, naming the node keys it wrote and deleted, so other tabs and workers can
//           catch up with what changed without reading everything again.
// Format 3 (no runs: every chunk on its own) is format 4 data as it is: its upgrade changes the
// version number only. Format 2 (autosync 0.1 with chunks: "entries" keyed by relative path, chunks
// keyed [path, index]) and format 1 (no chunks, every file inline) are upgraded in place by the
// IndexedDB upgrade itself, in one versionchange transaction: it commits whole or not at all.
(function autosyncStore() {
  "use strict";

  const FORMAT_VERSION = 4;
  // The IndexedDB schema version (format 1 had version 1, format 2 version 2, format 3 version 3).
  const DB_VERSION = 4;
  const NODES = "nodes";
  const CHUNKS = "chunks";
  const META = "meta";
  const LOG = "log";
  const STORES = [NODES, CHUNKS, META, LOG];
  const ROOT = 0;
  // 256 KiB measured best among 16 KiB..4 MiB in Chromium (bench/CHUNK_SIZE.md): a one-chunk
  // rewrite still commits in about a millisecond, while restoring or writing a 200 MB file
  // needs few enough requests to stay within a few percent of one big put.
  const CHUNK_SIZE = 256 * 1024;
  // Chunks written together are stored as one run of up to this many (16 MiB): a whole file, or a
  // group of RUN_CHUNKS chunks (aligned) all written in one flush. A browser reads a Blob back at a
  // cost per stored piece (about 0.5-1 ms each in Chromium, bench/RESTORE.md): a 200 MiB file in 13
  // runs comes back about twice as fast as in 800 chunks. Single chunks written later lie over a run
  // and override its bytes there.
  const RUN_CHUNKS = 64;
  // Emscripten's IDBFS, whose data is migrated on the first start of a mount point.
  const IDBFS_STORE = "FILE_DATA";
  // Format 1 and 2 stores, read by the upgrade.
  const OLD_ENTRIES = "entries";
  // What a name may be: one path component Python can open.
  const MAX_NAME = 255;

  // ------------------------------------------------------------------ errors

  // Every failure that leaves this file is a plain Error with a `kind` autosync understands. A
  // DOMException handed to Python as it is fails conversion in Pyodide ("invalid exception object").
  function storageError(e, context) {
    if (e && e.autosyncKind) return e;
    const name = (e && e.name) || "Error";
    const text = (e && e.message) || String(e || "unknown error");
    const kinds = {
      QuotaExceededError: "quota",
      InvalidStateError: "closed",
      SecurityError: "unavailable",
      VersionError: "version",
      TimeoutError: "stalled",
    };
    const error = new Error(`${context ? context + ": " : ""}${name}: ${text}`);
    error.autosyncKind = kinds[name] || "failed";
    error.browserName = name;
    return error;
  }

  function requestPromise(request) {
    return new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = (event) => {
        // The transaction's own handlers decide about it; this promise only reports.
        event.preventDefault();
        reject(storageError(request.error));
      };
    });
  }

  // Settles when `tx` has committed (resolves) or aborted (rejects). A failed request aborts the
  // whole transaction: its error is not prevented, and abort() is called as well, so nothing of it
  // is committed (preventing it, as autosync once did, let WebKit commit a flush without the chunk
  // it had refused).
  function settle(tx) {
    return new Promise((resolve, reject) => {
      let error = null;
      // WebKit was seen to fire complete after a refused request once commit() was called: a
      // transaction with a failed request never counts as committed.
      tx.oncomplete = () => (error ? reject(storageError(error)) : resolve());
      tx.onerror = (event) => {
        error = error || (event.target && event.target.error) || tx.error;
        try {
          tx.abort();
        } catch {
          // already finishing: onabort follows
        }
      };
      tx.onabort = () => reject(storageError(error || tx.error || { name: "AbortError", message: "the transaction was aborted" }));
    });
  }

  // `promise`, or a rejection of kind "stalled" once `ms` passed without it settling (then
  // `onStall` runs): WebKit was seen to fire neither complete nor abort for a transaction whose
  // Blob put it refused, and nothing may wait on such a transaction forever.
  function bounded(promise, ms, what, onStall) {
    if (!(ms > 0) || ms === Infinity) return promise;
    let timer;
    const stall = new Promise((_, reject) => {
      timer = setTimeout(() => {
        if (onStall) onStall();
        const e = new Error(`IndexedDB did not finish ${what} within ${Math.round(ms / 100) / 10} s`);
        e.autosyncKind = "stalled";
        reject(e);
      }, ms);
    });
    return Promise.race([promise, stall]).finally(() => clearTimeout(timer));
  }

  // ------------------------------------------------------------------ opening and upgrading

  function randomId() {
    // 53 random bits where crypto is available (it is in browsers, workers and Node).
    if (globalThis.crypto && globalThis.crypto.getRandomValues) {
      const words = globalThis.crypto.getRandomValues(new Uint32Array(2));
      return (words[0] & 0x1fffff) * 0x100000000 + words[1] || 1;
    }
    return Math.floor(Math.random() * Number.MAX_SAFE_INTEGER) || 1;
  }

  // Opens (creating or upgrading) the database `name`. Rejects with kind "unavailable" where
  // IndexedDB refuses (private modes, sandboxed frames), "blocked" when another connection to an
  // older version does not give way within `timeoutMs`, "version" when the data is newer.
  function open(name, { timeoutMs = 10000 } = {}) {
    return new Promise((resolve, reject) => {
      let request;
      try {
        if (typeof indexedDB === "undefined" || !indexedDB) throw Object.assign(new Error("this browser has no IndexedDB"), { name: "NotSupportedError" });
        request = indexedDB.open(name, DB_VERSION);
      } catch (e) {
        reject(unavailable(e));
        return;
      }
      let settled = false;
      const finish = (outcome, value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome(value);
      };
      const timer = setTimeout(() => {
        const e = new Error(
          blocked
            ? `the database ${name} is held open in an older version by another tab or worker, which did not close it within ${timeoutMs / 1000} s; close other tabs of this site`
            : `IndexedDB did not open ${name} within ${timeoutMs / 1000} s`
        );
        e.autosyncKind = blocked ? "blocked" : "unavailable";
        finish(reject, e);
      }, timeoutMs);
      let blocked = false;
      request.onblocked = () => {
        blocked = true;
      };
      request.onupgradeneeded = (event) => {
        // An upgrade moving a large format-2 store may take long: it is progress, not a stall.
        clearTimeout(timer);
        try {
          upgrade(request.result, request.transaction, event.oldVersion, (problem) => {
            // Data of a newer format in an older database: left as it is (the upgrade is undone).
            const e = new Error(problem);
            e.autosyncKind = "format";
            finish(reject, e);
            request.transaction.abort();
          });
        } catch (e) {
          request.transaction.abort();
          finish(reject, storageError(e, "upgrading the stored data"));
        }
      };
      request.onsuccess = () => {
        const db = request.result;
        if (settled) db.close();
        else finish(resolve, db);
      };
      request.onerror = (event) => {
        event.preventDefault();
        const error = request.error;
        if (error && error.name === "VersionError") {
          const e = new Error(`the data in ${name} was saved by a newer autosync (its database is newer than version ${DB_VERSION}); upgrade autosync`);
          e.autosyncKind = "version";
          finish(reject, e);
        } else if (error && error.name === "AbortError") {
          finish(reject, storageError(error, "upgrading the stored data"));
        } else {
          finish(reject, unavailable(error));
        }
      };
    });
  }

  function abortQuietly(tx) {
    try {
      tx.abort();
    } catch {
      // already finished
    }
  }

  function unavailable(e) {
    const error = storageError(e);
    error.autosyncKind = "unavailable";
    return error;
  }

  // Creates the format-4 stores, and moves format-1/2 data into them, inside the upgrade's own
  // transaction: the old stores are dropped only once everything was copied.
  function upgrade(db, tx, oldVersion, refuse) {
    for (const store of STORES) {
      if (!db.objectStoreNames.contains(store)) db.createObjectStore(store, store === LOG ? { autoIncrement: true } : undefined);
    }
    const meta = tx.objectStore(META);
    if (oldVersion === 3) {
      // Format 3 holds no runs: the same data is format 4. Chunk size and epoch stay.
      const request = meta.get("format");
      request.onsuccess = () => {
        const previous = request.result;
        const problem = formatProblem(previous);
        if (problem) refuse(problem);
        else meta.put({ chunkSize: CHUNK_SIZE, epoch: randomId(), ...(previous || {}), version: FORMAT_VERSION, upgradedFrom: 3 }, "format");
      };
      return;
    }
    if (oldVersion === 0 || !db.objectStoreNames.contains(OLD_ENTRIES)) {
      meta.put({ version: FORMAT_VERSION, chunkSize: CHUNK_SIZE, epoch: randomId() }, "format");
      return;
    }
    const old = tx.objectStore(OLD_ENTRIES);
    const formatRequest = meta.get("format");
    const keysRequest = old.getAllKeys();
    const valuesRequest = old.getAll();
    valuesRequest.onsuccess = () => {
      const previous = formatRequest.result;
      const problem = formatProblem(previous);
      if (problem) {
        refuse(problem);
        return;
      }
      const chunkSize = (previous && previous.chunkSize) || CHUNK_SIZE;
      const { ids } = writeTree(tx, keysRequest.result, valuesRequest.result, chunkSize);
      meta.put({ version: FORMAT_VERSION, chunkSize, epoch: randomId(), upgradedFrom: (previous && previous.version) || oldVersion }, "format");
      // Format-2 chunks are keyed [path, index]: re-key them by the file's id. Arrays of a number
      // sort before arrays of a string, so the cursor never meets a chunk it wrote itself.
      const chunks = tx.objectStore(CHUNKS);
      const cursorRequest = chunks.openCursor(IDBKeyRange.lowerBound([""]));
      cursorRequest.onsuccess = () => {
        const cursor = cursorRequest.result;
        if (!cursor) {
          db.deleteObjectStore(OLD_ENTRIES);
          return;
        }
        const [path, index] = cursor.key;
        const id = ids.get(path);
        if (id !== undefined) chunks.put(cursor.value, [id, index]);
        // A chunk of no known file was unreachable before the upgrade too: it is not carried over.
        cursor.delete();
        cursor.continue();
      };
    };
  }

  // Writes records keyed by relative path ("a/b.txt", as formats 1-2 and IDBFS keep them) as a
  // tree of node records into `tx`, creating any missing parent directory; chunks are the caller's. A
  // record that cannot be carried over is kept under meta ["legacy", key] with the reason, for the
  // restore to report. Returns the id given to each path.
  function writeTree(tx, keys, values, chunkSize) {
    const nodes = tx.objectStore(NODES);
    const meta = tx.objectStore(META);
    const ids = new Map([["", ROOT]]);
    const dirs = new Set([""]);
    const entries = [];
    keys.forEach((key, i) => {
      const value = values[i];
      const problem = typeof key !== "string" ? "its key is not a path" : pathProblem(key) || (!isObject(value) ? "its value is not a record" : null);
      if (problem) meta.put({ key, value, reason: problem }, ["legacy", String(key)]);
      else entries.push([key, value]);
    });
    // Parents first: a path sorts after every path that is a prefix of it.
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const ensureDir = (path) => {
      if (ids.has(path)) return ids.get(path);
      const slash = path.lastIndexOf("/");
      const parent = ensureDir(slash === -1 ? "" : path.slice(0, slash));
      const id = randomId();
      ids.set(path, id);
      dirs.add(path);
      nodes.put({ id, mode: 0o40777, mtime: Date.now(), v: 0 }, [parent, path.slice(slash + 1)]);
      return id;
    };
    for (const [path, value] of entries) {
      if (ids.has(path)) continue;
      const slash = path.lastIndexOf("/");
      const parent = ensureDir(slash === -1 ? "" : path.slice(0, slash));
      const id = randomId();
      ids.set(path, id);
      const record = { ...value, id, v: 0 };
      // autosync 0.1 on Pyodide 0.27 saved no mtimes (it read a field that version lacks): such a
      // file comes back with the time of the upgrade rather than not at all.
      if (typeof value.mtime !== "number" || !Number.isFinite(value.mtime)) record.mtime = Date.now();
      if (isFileMode(value.mode)) {
        const inline = value.contents;
        if (inline !== undefined) {
          const bytes = asUint8(inline);
          record.size = bytes.byteLength;
          if (bytes.byteLength > chunkSize) {
            // Format 1 kept large files inline: they become chunks.
            delete record.contents;
            for (let i = 0; i * chunkSize < bytes.byteLength; i++) {
              const piece = bytes.subarray(i * chunkSize, (i + 1) * chunkSize);
              if (!isZero(piece)) tx.objectStore(CHUNKS).put(piece.slice(), [id, i]);
            }
          } else {
            record.contents = bytes;
          }
        } else if (record.size === undefined) {
          record.size = 0;
        }
      }
      if (isDirMode(value.mode)) dirs.add(path);
      nodes.put(record, [parent, path.slice(slash + 1)]);
    }
    return { ids };
  }

  // ------------------------------------------------------------------ records and containment

  // Type checks that hold across JavaScript realms: values read from IndexedDB may come from another
  // realm than this code (Node's vm contexts, where pytest-pyodide runs Pyodide), and instanceof
  // fails there.
  const tag = (value) => Object.prototype.toString.call(value);
  // MEMFS files written from the WebAssembly heap hold Int8Arrays (slices of HEAP8), and autosync
  // before format 3 stored them as they were: any array of bytes is bytes.
  const BYTE_ARRAYS = new Set(["[object Uint8Array]", "[object Int8Array]", "[object Uint8ClampedArray]"]);
  const isBytes = (value) => BYTE_ARRAYS.has(tag(value));
  const isArrayBuffer = (value) => tag(value) === "[object ArrayBuffer]";
  const isBlob = (value) => hasBlobs && tag(value) === "[object Blob]";
  const isDate = (value) => tag(value) === "[object Date]";

  // A Uint8Array over `value` (bytes, another typed array's bytes, or an ArrayBuffer), no copy.
  function asUint8(value) {
    if (isBytes(value)) return value;
    if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return new Uint8Array(value);
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value) && !ArrayBuffer.isView(value);
  }
  const isFileMode = (mode) => (mode & 0o170000) === 0o100000;
  const isDirMode = (mode) => (mode & 0o170000) === 0o040000;
  const isLinkMode = (mode) => (mode & 0o170000) === 0o120000;

  // Why a relative path cannot be used as one, or null.
  function pathProblem(path) {
    if (path === "") return "the path is empty";
    if (path.startsWith("/")) return "the path is absolute";
    for (const part of path.split("/")) {
      const problem = nameProblem(part);
      if (problem) return problem;
    }
    return null;
  }

  // Why `name` cannot be a directory entry Python can use, or null.
  function nameProblem(name) {
    if (typeof name !== "string") return "the name is not a string";
    if (name === "") return "the path has an empty segment";
    if (name === "." || name === "..") return `the path has a '${name}' segment`;
    if (name.includes("/")) return "the name contains '/'";
    if (name.includes("\0")) return "the name contains a NUL character";
    if (name.length > MAX_NAME) return `the name is longer than ${MAX_NAME} characters`;
    return null;
  }

  // Latest time accepted as an mtime: year 9999, well inside what a JS Date and a 64-bit stat hold.
  const MAX_TIME = 253402300799999;

  // Why a stored node record (key [parent, name] -> value) cannot be restored, or null. Checks
  // what the restore relies on, so that it never creates an entry Python cannot use.
  function recordProblem(key, value, chunkSize) {
    if (!Array.isArray(key) || key.length !== 2 || !Number.isSafeInteger(key[0])) return "its key is not [parent id, name]";
    const name = nameProblem(key[1]);
    if (name) return name;
    if (!isObject(value)) return "its value is not a record";
    if (!Number.isSafeInteger(value.id) || value.id === ROOT) return "it has no valid id";
    const mode = value.mode;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o177777) return `its mode ${String(mode)} is not a file mode`;
    if (!isFileMode(mode) && !isDirMode(mode) && !isLinkMode(mode)) return `its mode ${mode.toString(8)} is not a file, directory or symlink`;
    if (typeof value.mtime !== "number" || !Number.isFinite(value.mtime) || value.mtime < 0 || value.mtime > MAX_TIME) return `its mtime ${String(value.mtime)} is not a time`;
    if (isLinkMode(mode)) {
      if (typeof value.link !== "string" || value.link === "" || value.link.includes("\0")) return "its link target is not a path";
    } else if (isFileMode(mode)) {
      if (!Number.isSafeInteger(value.size) || value.size < 0) return `its size ${String(value.size)} is not a size`;
      if (value.contents !== undefined) {
        if (!isBytes(value.contents) && !isArrayBuffer(value.contents)) return "its contents are not bytes";
        if (value.contents.byteLength !== value.size) return `its size ${value.size} disagrees with its ${value.contents.byteLength} bytes of contents`;
      } else if (value.size <= chunkSize && value.size > 0) {
        // Written without inline bytes: a file of one chunk or less has no chunks, so it would read
        // as zeros. Only an entry written empty-handed (size 0) is legitimate here.
        return `its ${value.size} bytes are neither inline nor in chunks`;
      }
    }
    return null;
  }

  // Why the mount root's record (meta "root") cannot be applied, or null.
  function rootProblem(root) {
    if (!isObject(root)) return "its record is not a record";
    if (!Number.isInteger(root.mode) || !isDirMode(root.mode)) return `its mode ${String(root.mode)} is not a directory's`;
    if (typeof root.mtime !== "number" || !Number.isFinite(root.mtime) || root.mtime < 0 || root.mtime > MAX_TIME) return `its mtime ${String(root.mtime)} is not a time`;
    return null;
  }

  // The bytes of a valid inline record, as a Uint8Array nobody else holds.
  function inlineBytes(value) {
    const c = value.contents;
    return asUint8(c);
  }

  // ------------------------------------------------------------------ keys

  function chunkCount(size, chunkSize) {
    return size <= chunkSize ? 0 : Math.ceil(size / chunkSize);
  }

  // Chunks `from` onwards of one file.
  function chunksFrom(id, from) {
    return IDBKeyRange.bound([id, from], [id, Infinity]);
  }

  function keyString(key) {
    return `${key[0]}/${key[1]}`;
  }

  // A chunk as stored: a Blob where Blobs can be stored, else a copy of its bytes. Chromium keeps
  // every value over 64 KiB in a blob file of its own anyway; stored as a Blob, a chunk comes back
  // from a read as a handle, and a restore has the browser assemble a whole file from its chunks in
  // one read instead of copying each chunk in the page (a 200 MiB file came back about a third
  // faster). Both copy `piece` at once: the snapshot is taken here.
  const hasBlobs = typeof Blob === "function";
  const asBlob = (piece) => new Blob([piece]);
  const asBytes = (piece) => piece.slice();

  function isZero(bytes) {
    // Early exit on the first non-zero byte keeps this cheap for real data; only holes scan fully.
    const words = bytes.byteOffset % 4 === 0 && bytes.byteLength % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : bytes;
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    return true;
  }

  // Whether a Blob can be stored: WebKit's in-memory IndexedDB (Safari's Private Browsing) refuses
  // them ("Error preparing Blob/File data to be stored"). Checked once per connection, in a
  // database of its own and without commit(): in WebKit a refused Blob put in a transaction that
  // was asked to commit can block its object store for the rest of the session, while one that
  // was not aborts cleanly. A probe that does not settle counts as a refusal.
  const PROBE_DB = "autosync:blob-probe";

  async function canStoreBlobs({ timeoutMs = 3000, factory = globalThis.indexedDB } = {}) {
    if (!hasBlobs) return false;
    let db = null;
    try {
      db = await bounded(
        new Promise((resolve, reject) => {
          const request = factory.open(PROBE_DB, 1);
          request.onupgradeneeded = () => request.result.createObjectStore("probe");
          request.onsuccess = () => resolve(request.result);
          request.onerror = (event) => {
            event.preventDefault();
            reject(request.error);
          };
        }),
        timeoutMs,
        "opening the probe database"
      );
      const tx = db.transaction(["probe"], "readwrite");
      const done = settle(tx);
      tx.objectStore("probe").put(new Blob([new Uint8Array([1])]), 1);
      tx.objectStore("probe").delete(1);
      await bounded(done, timeoutMs, "a test write", () => abortQuietly(tx));
      return true;
    } catch {
      return false;
    } finally {
      if (db) db.close();
    }
  }

  // ------------------------------------------------------------------ writing

  // Failures the tests inject into real transactions. `fail`: the next n flushes have a request
  // refused after `failAfterPuts` puts (a real ConstraintError, which aborts the transaction);
  // `hang`: the next n flushes commit, but their completion is never reported (as WebKit did);
  // `stallMs`: the bound on a commit instead of the one computed from its size.
  // `hangReads`: the next n batches of node records read are never reported (a restore that
  // stalls); `readStallMs`: the bound on each read instead of the default.
  const faults = { fail: 0, failAfterPuts: 1, hang: 0, stallMs: undefined, hangReads: 0, readStallMs: undefined };

  // One commit: a readwrite transaction over every store. IndexedDB clones a value inside put(), so
  // the caller may hand views of live file contents: the transaction holds a snapshot from that
  // moment (views are sliced first, since cloning a view clones its whole buffer). Requests run in
  // the order they are issued; any failed request aborts the whole transaction.
  class Writer {
    constructor(db, { chunkSize, blobs = hasBlobs, durability }) {
      this.tx = durability ? db.transaction(STORES, "readwrite", { durability }) : db.transaction(STORES, "readwrite");
      this.done = settle(this.tx);
      this.nodes = this.tx.objectStore(NODES);
      this.chunks = this.tx.objectStore(CHUNKS);
      this.meta = this.tx.objectStore(META);
      this.chunkSize = chunkSize;
      this.chunkValue = blobs && hasBlobs ? asBlob : asBytes;
      this.stats = { puts: 0, deletes: 0, bytes: 0 };
      this.failAt = 0;
      if (faults.fail > 0) {
        faults.fail--;
        this.failAt = faults.failAfterPuts;
      }
      if (faults.hang > 0) {
        faults.hang--;
        this.tx.oncomplete = this.tx.onabort = this.tx.onerror = null;
      }
    }

    putNode(key, record) {
      this.nodes.put(record, key);
      this.counted();
    }

    putRoot(record) {
      this.meta.put(record, "root");
      this.counted();
    }

    counted() {
      this.stats.puts++;
      if (this.stats.puts === this.failAt) {
        // The second add of one key is refused by IndexedDB itself, mid-transaction.
        this.meta.add(0, ["fault"]);
        this.meta.add(0, ["fault"]);
      }
    }

    deleteNode(key) {
      this.nodes.delete(key);
      this.stats.deletes++;
    }

    deleteChunks(id, from = 0) {
      this.chunks.delete(chunksFrom(id, from));
    }

    // A file's bytes: inline in the returned record fields when they fit one chunk, else as chunks
    // under `id` (all of them when `chunks` is null, else those listed). `known` says the stored copy
    // already has this layout; otherwise stale chunks are removed first. A group of RUN_CHUNKS chunks
    // written whole (a whole file, or every chunk of the group listed) is stored as one run.
    fileData(id, bytes, chunks, known) {
      const size = bytes.byteLength;
      const count = chunkCount(size, this.chunkSize);
      if (count === 0) {
        if (!known) this.deleteChunks(id, 0);
        this.stats.bytes += size;
        return { size, contents: bytes.slice() };
      }
      if (chunks === null) {
        // Whatever was stored, runs and single chunks, gives way to the new runs.
        this.deleteChunks(id, 0);
        for (let first = 0; first < count; first += RUN_CHUNKS) this.run(id, bytes, first, Math.min(count, first + RUN_CHUNKS), false);
        return { size };
      }
      this.deleteChunks(id, count);
      const groups = new Map();
      for (const i of chunks) {
        if (i >= count) continue;
        const first = i - (i % RUN_CHUNKS);
        const list = groups.get(first);
        if (list) list.push(i);
        else groups.set(first, [i]);
      }
      for (const [first, list] of groups) {
        const end = Math.min(count, first + RUN_CHUNKS);
        if (list.length === end - first && end - first > 1) this.run(id, bytes, first, end, true);
        else for (const i of list) this.chunk(id, bytes, i);
      }
      return { size };
    }

    // Chunks [first, end) as one run, replacing the group's run and single chunks (`replace`; a
    // whole file's were all deleted already). An all-zero run is not stored: a hole.
    run(id, bytes, first, end, replace) {
      if (replace) this.chunks.delete(IDBKeyRange.bound([id, first], [id, end - 1, Infinity]));
      const piece = bytes.subarray(first * this.chunkSize, end * this.chunkSize);
      if (isZero(piece)) return;
      this.chunks.put(this.chunkValue(piece), end - first === 1 ? [id, first] : [id, first, end - first]);
      this.stats.bytes += piece.byteLength;
    }

    // One chunk on its own. It may lie inside a run, whose bytes it overrides, zeros included: an
    // all-zero chunk is stored empty (read as zeros), not deleted (which would uncover the run).
    chunk(id, bytes, i) {
      const piece = bytes.subarray(i * this.chunkSize, (i + 1) * this.chunkSize);
      if (isZero(piece)) {
        this.chunks.put(this.chunkValue(piece.subarray(0, 0)), [id, i]);
      } else {
        this.chunks.put(this.chunkValue(piece), [id, i]);
        this.stats.bytes += piece.byteLength;
      }
    }

    // Reads the log records after `key` before anything is written, and calls `then(keys, records)`
    // from the request's success callback, while the transaction is still active.
    logAfter(key, then) {
      const log = this.tx.objectStore(LOG);
      const range = IDBKeyRange.lowerBound(key, true);
      const keys = log.getAllKeys(range);
      const records = log.getAll(range);
      records.onsuccess = () => then(keys.result, records.result);
    }

    // The commit's log record; resolves the promise returned by commit() with its key as `logKey`.
    log(entry) {
      this.logRequest = this.tx.objectStore(LOG).add(entry);
    }

    // This tab's fsync journal `id` (journal.js): the commit holds its entries up to `seq`.
    markJournal(id, seq) {
      this.meta.put(seq, ["journal", id]);
    }

    // The mark of a journal that no longer exists.
    unmarkJournal(id) {
      this.meta.delete(["journal", id]);
    }

    // Drops log records below `below` (others have had time to read them; a tab further behind
    // reads everything again, see peers.js).
    trimLog(below) {
      this.tx.objectStore(LOG).delete(IDBKeyRange.upperBound(below, true));
      this.meta.put(below, "logFloor");
    }

    // Issues the commit: the transaction commits without waiting for another task. Rejects if it
    // aborts, or has not settled within `timeoutMs` (then it is aborted, if it still can be).
    commit(timeoutMs) {
      if (this.tx.commit) this.tx.commit();
      const done = this.done.then(() => ({ ...this.stats, logKey: this.logRequest ? this.logRequest.result : undefined }));
      return bounded(done, faults.stallMs == null ? timeoutMs : faults.stallMs, "saving", () => this.abort());
    }

    abort() {
      this.done.catch(() => {});
      abortQuietly(this.tx);
    }
  }

  // ------------------------------------------------------------------ reading

  // Everything a start needs before reading nodes, in one readonly transaction: the format record
  // (undefined for a new database), the root's record, how many nodes there are, and where the log
  // stands. Legacy records the upgrade could not carry over come along for the report.
  async function describe(db) {
    const tx = db.transaction(STORES, "readonly");
    const meta = tx.objectStore(META);
    const head = new Promise((resolve, reject) => {
      const request = tx.objectStore(LOG).openKeyCursor(null, "prev");
      request.onsuccess = () => resolve(request.result ? request.result.key : 0);
      request.onerror = () => reject(storageError(request.error));
    });
    const [format, root, floor, nodes, legacy, logHead] = await Promise.all([
      requestPromise(meta.get("format")),
      requestPromise(meta.get("root")),
      requestPromise(meta.get("logFloor")),
      requestPromise(tx.objectStore(NODES).count()),
      requestPromise(meta.getAll(IDBKeyRange.bound(["legacy"], ["legacy", []]))),
      head,
    ]);
    return { format, root, logFloor: floor || 0, nodes, legacy, logHead };
  }

  // For replaying fsync journals (journal.js): how far commits hold each journal (journal id -> last
  // entry held), and, with `withWriters` (there are entries to check), which tab made each commit
  // still in the log (version -> tab).
  async function readJournalMarks(db, withWriters) {
    const tx = db.transaction([META, LOG], "readonly");
    const range = IDBKeyRange.bound(["journal"], ["journal", []]);
    const meta = tx.objectStore(META);
    const [keys, values, log] = await Promise.all([
      requestPromise(meta.getAllKeys(range)),
      requestPromise(meta.getAll(range)),
      withWriters ? requestPromise(tx.objectStore(LOG).getAll()) : [],
    ]);
    const marks = new Map(keys.map((key, i) => [String(key[1]), Number.isSafeInteger(values[i]) ? values[i] : 0]));
    const writers = new Map();
    for (const record of log) if (isObject(record)) writers.set(record.v, String(record.tab));
    return { marks, writers };
  }

  // Why a format record cannot be read, or null. Only this makes a restore fail as a whole.
  function formatProblem(format) {
    if (format === undefined) return null;
    if (!isObject(format)) return "the format record is not a record";
    if (!Number.isInteger(format.version) || format.version < 1) return `the format record has no version (${JSON.stringify(format.version)})`;
    if (format.version > FORMAT_VERSION) return `the data was saved by a newer autosync (storage format ${format.version}, this one reads up to ${FORMAT_VERSION}); upgrade autosync`;
    if (format.chunkSize !== undefined && (!Number.isSafeInteger(format.chunkSize) || format.chunkSize < 1)) return `the format record has a bad chunk size (${JSON.stringify(format.chunkSize)})`;
    return null;
  }

  // A read of one batch that takes longer than this counts as stalled.
  const READ_STALL_MS = 60000;

  // Reads the node records in key order, `count` per transaction; calls `batch(keys, values)`.
  async function readNodes(db, count, batch) {
    let range = null;
    for (;;) {
      const tx = db.transaction([NODES], "readonly");
      const store = tx.objectStore(NODES);
      let read = Promise.all([requestPromise(store.getAllKeys(range, count)), requestPromise(store.getAll(range, count))]);
      if (faults.hangReads > 0) {
        faults.hangReads--;
        read = new Promise(() => {});
      }
      const [keys, values] = await bounded(read, faults.readStallMs == null ? READ_STALL_MS : faults.readStallMs, "reading the saved entries");
      if (keys.length === 0) return;
      await batch(keys, values);
      if (keys.length < count) return;
      range = IDBKeyRange.lowerBound(keys[keys.length - 1], true);
    }
  }

  // In one readonly transaction `tx` (or a new one): the log records after `from`, the trim floor,
  // and the current records of every key they name.
  async function readChanges(db, from) {
    const tx = db.transaction(STORES, "readonly");
    const log = tx.objectStore(LOG);
    const range = IDBKeyRange.lowerBound(from, true);
    const [keys, records, floor, format, root] = await Promise.all([
      requestPromise(log.getAllKeys(range)),
      requestPromise(log.getAll(range)),
      requestPromise(tx.objectStore(META).get("logFloor")),
      requestPromise(tx.objectStore(META).get("format")),
      requestPromise(tx.objectStore(META).get("root")),
    ]);
    return { tx, keys, records, floor: floor || 0, format, root };
  }

  // The current records at `keys` ([parent, name]), in `tx`.
  function readRecords(tx, keys) {
    const nodes = tx.objectStore(NODES);
    return Promise.all(keys.map((key) => requestPromise(nodes.get(key))));
  }

  // Reads the chunks of `files` ([{id, size}]) in the readonly transaction `tx`, `perBatch` chunks
  // (a multiple of RUN_CHUNKS: no run is split) per request with up to `window` requests in flight:
  // reading ahead while earlier batches are copied was the fastest way measured
  // (bench/CHUNK_SIZE.md), and the window bounds memory. Calls
  // `batch(fileIndex, last, keys, values)` in order, `last` telling whether the batch ends the file
  // (holes are missing keys, so the keys cannot tell); resolves when all were handled.
  function readChunks(tx, files, chunkSize, perBatch, window, batch) {
    const plan = [];
    files.forEach((file, f) => {
      const count = chunkCount(file.size, chunkSize);
      for (let i = 0; i < count; i += perBatch) plan.push([f, i, Math.min(count, i + perBatch) - 1]);
    });
    if (plan.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const store = tx.objectStore(CHUNKS);
      let issued = 0;
      let handled = 0;
      let failed = false;
      const fail = (e) => {
        if (failed) return;
        failed = true;
        reject(storageError(e));
      };
      const next = () => {
        while (!failed && issued < plan.length && issued - handled < window) {
          const [f, from, to] = plan[issued++];
          const last = to === chunkCount(files[f].size, chunkSize) - 1;
          // Runs are keyed [id, first, count]: [id, to, Infinity] takes in one starting at `to`.
          const range = IDBKeyRange.bound([files[f].id, from], [files[f].id, to, Infinity]);
          const keys = store.getAllKeys(range);
          const values = store.getAll(range);
          keys.onerror = values.onerror = (event) => {
            event.preventDefault();
            fail(event.target.error);
          };
          values.onsuccess = () => {
            try {
              batch(f, last, keys.result, values.result);
            } catch (e) {
              fail(e);
              return;
            }
            handled++;
            if (handled === plan.length) resolve();
            else next();
          };
        }
      };
      next();
    });
  }

  // Chunks are read about 16 MiB per request (at least one run's worth: RUN_CHUNKS chunks, 16 MiB
  // at 256 KiB) with four requests in flight, so memory stays bounded while requests stay few; a
  // request never splits a run.
  const CHUNK_BATCH_BYTES = 16 * 1024 * 1024;
  const CHUNK_BATCHES_IN_FLIGHT = 4;
  const chunksPerBatch = (chunkSize) => RUN_CHUNKS * Math.max(1, Math.floor(CHUNK_BATCH_BYTES / (RUN_CHUNKS * chunkSize)));

  // Reads back whole files stored as chunks (`files`: [{id, size}]) in the readonly transaction `tx`
  // (null: a new one of `db`). Calls `file(index, bytes)` for each with a new Uint8Array of exactly
  // its size, or `file(index, null, error)` if it could not be assembled: first, as zeros, those of
  // at most one chunk, then the others in order; and `progress(byteCount)` as bytes come in. Chunks
  // stored as arrays are copied into the file as they arrive; chunks stored as Blobs are collected
  // as handles, and the browser assembles the file from them in one read once its last batch is in,
  // one file at a time; single chunks inside a run stored as a Blob are read after it, in one more
  // read, and copied over it. A chunk beyond the file's end, or longer than a chunk (a run: than its
  // chunks), is a problem of that file (reported through `file`), not of the others.
  async function readFiles(db, tx, files, chunkSize, file, progress) {
    files.forEach(({ size }, f) => {
      if (chunkCount(size, chunkSize) === 0) file(f, new Uint8Array(size));
    });
    if (!files.some(({ size }) => chunkCount(size, chunkSize) > 0)) return;
    const buffers = files.map(() => null);
    const blobs = files.map(() => null);
    const overrides = files.map(() => null);
    const problems = files.map(() => null);
    let assembling = Promise.resolve();
    await readChunks(tx || db.transaction([CHUNKS], "readonly"), files, chunkSize, chunksPerBatch(chunkSize), CHUNK_BATCHES_IN_FLIGHT, (f, last, keys, values) => {
      const size = files[f].size;
      const problem = (text) => (problems[f] = problems[f] || text);
      // Arrays are copied here; allocated at the first one, missing chunks (holes) stay zeros.
      const copy = (value, offset) => {
        const bytes = buffers[f] || (buffers[f] = new Uint8Array(size));
        const piece = asUint8(value).subarray(0, size - offset);
        bytes.set(piece, offset);
        return piece.byteLength;
      };
      let copied = 0;
      // A batch holds whole runs (batches start and end at multiples of RUN_CHUNKS): runs first,
      // then the single chunks, which are newer than a run they lie in.
      const blobRuns = [];
      keys.forEach((key, i) => {
        if (key.length !== 3) return;
        const [, first, n] = key;
        const value = values[i];
        const room = n * chunkSize;
        if (!Number.isSafeInteger(n) || n < 2 || n > RUN_CHUNKS || first % RUN_CHUNKS !== 0) problem(`the run at chunk ${first} has a bad length (${String(n)})`);
        else if (isBlob(value) && value.size <= room) {
          (blobs[f] || (blobs[f] = [])).push([first * chunkSize, value]);
          blobRuns.push([first, first + n]);
        } else if (isBytes(value) && value.byteLength <= room) copied += copy(value, first * chunkSize);
        else problem(`the run at chunk ${first} is not ${isBytes(value) || isBlob(value) ? "at most its chunks" : "bytes"}`);
      });
      keys.forEach((key, i) => {
        if (key.length === 3) return;
        const index = key[1];
        const value = values[i];
        const offset = index * chunkSize;
        const length = isBlob(value) ? value.size : isBytes(value) ? value.byteLength : -1;
        if (length < 0 || length > chunkSize) {
          problem(`chunk ${index} is not ${length < 0 ? "bytes" : "at most a chunk"}`);
          return;
        }
        if (blobRuns.some(([a, b]) => index >= a && index < b)) {
          (overrides[f] || (overrides[f] = [])).push([offset, value]);
          return;
        }
        // Shorter than a chunk (the file's end, or stored empty: zeros) over a run stored as an array.
        if (buffers[f]) buffers[f].fill(0, offset, Math.min(size, offset + chunkSize));
        if (isBlob(value)) (blobs[f] || (blobs[f] = [])).push([offset, value]);
        else copied += copy(value, offset);
      });
      if (copied) progress(copied);
      if (!last) return;
      const bytes = buffers[f];
      const parts = blobs[f];
      const over = overrides[f];
      buffers[f] = blobs[f] = overrides[f] = null;
      if (problems[f]) {
        file(f, null, new Error(problems[f]));
        return;
      }
      if (!parts) {
        file(f, bytes || new Uint8Array(size));
        return;
      }
      parts.sort((a, b) => a[0] - b[0]);
      assembling = assembling.then(async () => {
        let whole;
        try {
          whole = await assemble(size, parts, bytes);
          if (over) await overwrite(whole, over, chunkSize);
        } catch (e) {
          file(f, null, e);
          return;
        }
        progress(parts.reduce((n, [offset, blob]) => n + Math.min(blob.size, size - offset), 0));
        file(f, whole);
      });
    });
    await assembling;
  }

  // Copies single chunks (`over`: [offset, Blob or bytes]) over `whole`, each zero-filled to a whole
  // chunk; the Blobs are read in one go.
  async function overwrite(whole, over, chunkSize) {
    const handles = over.filter(([, value]) => isBlob(value)).map(([, value]) => value);
    const read = handles.length ? new Uint8Array(await new Blob(handles).arrayBuffer()) : null;
    let at = 0;
    for (const [offset, value] of over) {
      let piece;
      if (isBlob(value)) {
        piece = read.subarray(at, at + value.size);
        at += value.size;
      } else {
        piece = asUint8(value);
      }
      const end = Math.min(whole.byteLength, offset + chunkSize);
      whole.fill(0, offset, end);
      whole.set(piece.subarray(0, end - offset), offset);
    }
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

  // ------------------------------------------------------------------ Emscripten's IDBFS

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
        else reject(storageError(request.error));
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
      const [keys, values] = await Promise.all([requestPromise(store.getAllKeys(range)), requestPromise(store.getAll(range))]);
      return keys.map((key, i) => {
        const value = values[i];
        if (!isObject(value)) return [key.slice(prefix.length), value];
        const time = isDate(value.timestamp) ? value.timestamp.getTime() : NaN;
        const entry = { mode: value.mode, mtime: Number.isFinite(time) ? time : Date.now() };
        if (value.contents !== undefined) entry.contents = value.contents;
        if (value.link !== undefined) entry.link = value.link;
        return [key.slice(prefix.length), entry];
      });
    } finally {
      db.close();
    }
  }

  // Copies IDBFS's records into this (empty) store, in one transaction. Returns how many.
  async function migrateIdbfs(db, mountpoint, chunkSize) {
    const legacy = await readIdbfs(mountpoint);
    if (!legacy || legacy.length === 0) return 0;
    const tx = db.transaction(STORES, "readwrite");
    const done = settle(tx);
    writeTree(
      tx,
      legacy.map(([path]) => path),
      legacy.map(([, entry]) => entry),
      chunkSize
    );
    tx.objectStore(META).put({ version: FORMAT_VERSION, chunkSize, epoch: randomId(), migratedFrom: "IDBFS" }, "format");
    if (tx.commit) tx.commit();
    await done;
    return legacy.length;
  }

  return {
    FORMAT_VERSION,
    DB_VERSION,
    CHUNK_SIZE,
    RUN_CHUNKS,
    ROOT,
    NODES,
    CHUNKS,
    META,
    LOG,
    open,
    describe,
    formatProblem,
    readNodes,
    readChanges,
    readJournalMarks,
    readRecords,
    readChunks,
    readFiles,
    migrateIdbfs,
    canStoreBlobs,
    hasBlobs,
    recordProblem,
    rootProblem,
    nameProblem,
    inlineBytes,
    asUint8,
    chunkCount,
    keyString,
    randomId,
    storageError,
    settle,
    bounded,
    faults,
    isFileMode,
    isDirMode,
    isLinkMode,
    Writer,
  };
});
