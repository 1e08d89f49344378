// autosync's JavaScript half: hooks inside Emscripten's in-memory file system, the set of changes
// since the last save, and the flush that turns them into one IndexedDB transaction.
//
// Loaded once by autosync/_pyodide.py, which evaluates this file and calls the function it evaluates
// to with Emscripten's FS object and the storage layer (store.js). Everything that must run
// synchronously inside a file-system call lives here: noticing a change, taking a consistent snapshot
// of several files for one transaction, and starting a flush from the write path itself when Python
// has not yielded to the event loop for longer than max_wait_ms (its timers cannot fire then, and
// calling back into Python from inside a system call is not safe). Deciding when to flush while the
// event loop runs is Python's job (autosync/scheduler.py).
//
// Paths handed across are relative to the mount point ("notes/a.txt"); "" is the mount root itself.
(function autosyncFactory(FS, store) {
  "use strict";

  const MEMFS = FS.filesystems.MEMFS;
  // Emscripten's errno for EIO, returned by fsync when a flush could not even be started.
  const EIO = 29;

  // Monotonic where available; some embeddings (a Node vm context) lack `performance`. For durations.
  const now = typeof performance !== "undefined" ? () => performance.now() : () => Date.now();
  // The change tracker's clock (ms). The write path must not read a clock of its own: in Chromium 156
  // performance.now() took ~170 ns and Date.now() ~40 ns, against ~1.1 us for a whole 100-byte
  // os.write(). MEMFS's write has just set the node's mtime from Date.now(), so writes pass that
  // reading; the rarer changes (create, unlink, setattr, ...) read this clock themselves.
  const clock = () => Date.now();

  // A node's times. Emscripten 3.1.58 (Pyodide 0.27) keeps one `timestamp` per node, which stat reports
  // as atime, mtime and ctime; later versions keep `atime`, `mtime` and `ctime` and no `timestamp`.
  const ONE_TIMESTAMP = "timestamp" in FS.root;
  const mtimeOf = ONE_TIMESTAMP ? (node) => node.timestamp : (node) => node.mtime;
  // Entries saved on Pyodide 0.27 by autosync 0.1.0 before mtimeOf existed have no time: such a node
  // keeps the time it was created with, since a NaN time makes every stat of it throw inside the
  // system call (a fatal error for Pyodide).
  function setTimes(node, ms) {
    if (!Number.isFinite(ms)) return;
    if (ONE_TIMESTAMP) node.timestamp = ms;
    else node.atime = node.mtime = node.ctime = ms;
  }

  function describeError(e) {
    if (e && e.name && e.message) return `${e.name}: ${e.message}`;
    return String((e && (e.message || e.name)) || e);
  }

  // ---------------------------------------------------------------- the in-memory tree

  // Path of `node` relative to `root`, or null when the node is no longer in the tree.
  function relativePath(node, root) {
    const parts = [];
    for (let n = node; n !== root; n = n.parent) {
      if (n.parent === n || !n.parent.contents || n.parent.contents[n.name] !== n) return null;
      parts.push(n.name);
    }
    return parts.reverse().join("/");
  }

  function childPath(dir, name) {
    return dir ? `${dir}/${name}` : name;
  }

  function parentPath(rel) {
    const slash = rel.lastIndexOf("/");
    return slash === -1 ? "" : rel.slice(0, slash);
  }

  function findNode(root, rel) {
    let node = root;
    if (!rel) return node;
    for (const part of rel.split("/")) {
      if (!FS.isDir(node.mode) || node.mounted) return null;
      node = node.contents[part];
      if (!node) return null;
    }
    return node;
  }

  function walk(node, visit, rel = "") {
    visit(node, rel);
    if (FS.isDir(node.mode) && !node.mounted) {
      for (const name of Object.keys(node.contents)) walk(node.contents[name], visit, childPath(rel, name));
    }
  }

  // Whether a directory strictly above `rel` (the root "" included) is in `trees`.
  function coveredAbove(rel, trees) {
    if (rel === "") return false;
    if (trees.has("")) return true;
    for (let i = rel.indexOf("/"); i !== -1; i = rel.indexOf("/", i + 1)) {
      if (trees.has(rel.slice(0, i))) return true;
    }
    return false;
  }

  // Whether `rel` or a directory above it is in `trees`.
  function covered(rel, trees) {
    return trees.has(rel) || coveredAbove(rel, trees);
  }

  // ---------------------------------------------------------------- change tracking

  // What changed since the last flush. `paths`: entries whose own state changed (created, removed,
  // chmod, utime, truncate); `trees`: subtrees to save or remove whole (rename, rmdir, restart);
  // `nodes`: files whose bytes changed, with the chunk indices touched (null: the whole file).
  class Tracker {
    constructor(chunkSize) {
      this.chunkSize = chunkSize;
      this.paused = false;
      this.reset();
      this.waiters = [];
    }

    reset() {
      this.paths = new Set();
      this.trees = new Set();
      this.nodes = new Map();
      this.count = 0;
      this.firstAt = 0;
      this.lastAt = 0;
      // The chunk the last write touched, already recorded: small writes in a row hit the same
      // chunk, and skip the map and set lookups.
      this.hotNode = null;
      this.hotChunk = -1;
    }

    // `t`: the change's time on `clock`.
    touch(t) {
      if (this.count === 0) this.firstAt = t;
      this.lastAt = t;
      this.count++;
      if (this.waiters.length) this.wake();
    }

    path(rel, t) {
      if (this.paused || rel === null) return;
      this.paths.add(rel);
      this.touch(t);
    }

    tree(rel, t) {
      if (this.paused || rel === null) return;
      this.trees.add(rel);
      this.touch(t);
    }

    // Bytes [start, end) of a file's contents changed.
    bytes(node, start, end, t) {
      if (this.paused || end <= start) return;
      const first = Math.floor(start / this.chunkSize);
      const last = Math.floor((end - 1) / this.chunkSize);
      if (node !== this.hotNode || first !== this.hotChunk || last !== first) {
        let chunks = this.nodes.get(node);
        if (chunks === undefined) this.nodes.set(node, (chunks = new Set()));
        if (chunks !== null) for (let i = first; i <= last; i++) chunks.add(i);
        this.hotNode = node;
        this.hotChunk = last;
      }
      this.touch(t);
    }

    // A file's contents were replaced as a whole.
    whole(node, t) {
      if (this.paused) return;
      this.nodes.set(node, null);
      this.touch(t);
    }

    // The chunk size is the stored one, known after the restore has read the format record.
    useChunkSize(chunkSize) {
      if (chunkSize === this.chunkSize) return;
      this.chunkSize = chunkSize;
      this.hotNode = null;
      for (const node of this.nodes.keys()) this.nodes.set(node, null);
    }

    // Empties the tracker into a normalized change set: nothing listed that a listed subtree covers.
    take(root) {
      const trees = new Set([...this.trees].filter((rel) => !coveredAbove(rel, this.trees)));
      const paths = new Set(this.paths);
      for (const node of this.nodes.keys()) {
        const rel = relativePath(node, root);
        if (rel !== null) paths.add(rel);
      }
      const taken = {
        trees: [...trees],
        paths: [...paths].filter((rel) => !covered(rel, trees)),
        nodes: this.nodes,
        count: this.count,
        firstAt: this.firstAt,
        lastAt: this.lastAt,
      };
      this.reset();
      return taken;
    }

    // Returns the changes of a failed flush, counted from their original time.
    giveBack(taken) {
      for (const rel of taken.paths) this.paths.add(rel);
      for (const rel of taken.trees) this.trees.add(rel);
      this.firstAt = this.count ? Math.min(this.firstAt, taken.firstAt) : taken.firstAt;
      this.lastAt = this.count ? Math.max(this.lastAt, taken.lastAt) : taken.lastAt;
      this.count += taken.count;
      this.wake();
    }

    wake() {
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    }

    whenDirty() {
      if (this.count > 0) return Promise.resolve();
      return new Promise((resolve) => this.waiters.push(resolve));
    }

    // Whether the program changed `rel` (or a directory above it) since the last take.
    touches(rel) {
      return this.paths.has(rel) || covered(rel, this.trees);
    }
  }

  // ---------------------------------------------------------------- hooks

  // Per-mount copies of MEMFS's operation tables whose mutating operations tell the tracker, then let
  // the mount start a flush if one is overdue. Only nodes of this mount point at them, so the rest of
  // the file system and MEMFS itself stay untouched.
  function makeOps(mount) {
    const tracker = mount.tracker;
    const rel = (node) => relativePath(node, mount.root);
    const base = MEMFS.ops_table;
    const ops = {
      dir: { node: { ...base.dir.node }, stream: { ...base.dir.stream } },
      file: { node: { ...base.file.node }, stream: { ...base.file.stream } },
      link: { node: { ...base.link.node }, stream: { ...base.link.stream } },
    };
    // An entry created, removed or replaced (`tree`: a whole subtree), outside the write path.
    function entryChanged(rel, tree = false) {
      const t = clock();
      if (tree) tracker.tree(rel, t);
      else tracker.path(rel, t);
      mount.changed(t);
    }
    const setattr = base.file.node.setattr;
    for (const kind of ["dir", "file", "link"]) {
      // chmod, utime and truncate all land here.
      ops[kind].node.setattr = (node, attr) => {
        const before = node.usedBytes;
        setattr(node, attr);
        const t = clock();
        tracker.path(rel(node), t);
        // Growing exposes zeros over whatever an earlier, longer version stored; shrinking needs
        // no chunk written, the stored size cuts the last chunk and later chunks are deleted.
        if (attr.size !== undefined && FS.isFile(node.mode)) {
          tracker.bytes(node, before, node.usedBytes, t);
        }
        mount.changed(t);
      };
      // fsync(2) on a file or directory under the mount: save now (see Mount.fsync).
      ops[kind].stream.fsync = () => mount.fsync();
    }
    ops.dir.node.mknod = (parent, name, mode, dev) => {
      const node = adopt(base.dir.node.mknod(parent, name, mode, dev));
      entryChanged(childPath(rel(parent), name));
      return node;
    };
    ops.dir.node.symlink = (parent, name, target) => {
      const node = adopt(base.dir.node.symlink(parent, name, target));
      entryChanged(childPath(rel(parent), name));
      return node;
    };
    ops.dir.node.rename = (oldNode, newDir, newName) => {
      const from = rel(oldNode);
      base.dir.node.rename(oldNode, newDir, newName);
      const t = clock();
      tracker.tree(from, t);
      tracker.tree(childPath(rel(newDir), newName), t);
      mount.changed(t);
    };
    ops.dir.node.unlink = (parent, name) => {
      base.dir.node.unlink(parent, name);
      entryChanged(childPath(rel(parent), name));
    };
    ops.dir.node.rmdir = (parent, name) => {
      base.dir.node.rmdir(parent, name);
      entryChanged(childPath(rel(parent), name), true);
    };
    // A write at `position` changes [position, end) and, past the old end, the hole before it.
    // This runs for every write(2): keep it lean (see `clock`).
    const write = base.file.stream.write;
    ops.file.stream.write = (stream, buffer, offset, length, position, canOwn) => {
      const node = stream.node;
      const before = node.usedBytes;
      const written = write(stream, buffer, offset, length, position, canOwn);
      if (written) {
        // MEMFS's write just set mtime from Date.now(): the change's time on `clock`.
        const t = mtimeOf(node);
        // canOwn makes MEMFS adopt the buffer as the whole file, whatever the position.
        if (canOwn) tracker.whole(node, t);
        else tracker.bytes(node, position < before ? position : before, position + written, t);
        mount.changed(t);
      }
      return written;
    };
    ops.file.stream.msync = (stream, buffer, offset, length, flags) => {
      const node = stream.node;
      const before = node.usedBytes;
      const result = base.file.stream.msync(stream, buffer, offset, length, flags);
      const t = clock();
      tracker.bytes(node, Math.min(offset, before), offset + length, t);
      mount.changed(t);
      return result;
    };

    const ours = new Map();
    const theirs = new Map();
    for (const kind of ["dir", "file", "link"]) {
      ours.set(base[kind].node, ops[kind].node);
      ours.set(base[kind].stream, ops[kind].stream);
      theirs.set(ops[kind].node, base[kind].node);
      theirs.set(ops[kind].stream, base[kind].stream);
    }
    function swap(node, table) {
      node.node_ops = table.get(node.node_ops) || node.node_ops;
      node.stream_ops = table.get(node.stream_ops) || node.stream_ops;
    }
    function adopt(node) {
      swap(node, ours);
      return node;
    }
    return { adopt, swap, ours, theirs };
  }

  // ---------------------------------------------------------------- a mount

  // Restore reads entries in batches of this many: small records (a small file's bytes at most).
  const ENTRY_BATCH = 2000;

  class Mount {
    constructor(mountpoint, dbName) {
      this.mountpoint = mountpoint;
      this.dbName = dbName;
      this.chunkSize = store.CHUNK_SIZE;
      this.tracker = new Tracker(this.chunkSize);
      this.db = null;
      this.ops = makeOps(this);
      this.detached = false;
      // Whether the in-memory tree holds everything that was saved, i.e. a restore has succeeded.
      this.restored = false;
      // node -> {rel, chunked}: the stored copy at `rel` is this node's, in that layout, so a change
      // to some of its bytes may rewrite just their chunks. Set when a flush is issued (transactions
      // commit in the order they are created) and dropped if that flush fails.
      this.synced = new WeakMap();
      // Flushes issued and not yet settled, oldest first.
      this.inflight = new Set();
      // Absent values are undefined, not null: Pyodide turns undefined into None (null into jsnull).
      this.stats = {
        flushes: 0,
        lastFlushAt: undefined,
        lastDurationMs: undefined,
        lastBytes: undefined,
        lastError: undefined,
        failures: 0,
        writePath: 0,
      };
      this.progress = undefined;
      // Set by start() once restored: flushes may then start from the write path, fsync and page hide.
      this.running = null;
      this.holdUntil = 0;
      const self = this;
      const type = {
        mount(mount) {
          return self.ops.adopt(MEMFS.mount(mount));
        },
      };
      this.root = FS.mount(type, {}, mountpoint);
    }

    async database() {
      if (!this.db) {
        const db = await store.open(this.dbName);
        const forget = () => {
          if (this.db === db) this.db = null;
        };
        // Closed under us (storage cleared): the next flush opens it again.
        db.onclose = forget;
        // Another tab deleting or upgrading the database must not be blocked by us.
        db.onversionchange = () => {
          db.close();
          forget();
        };
        this.db = db;
      }
      return this.db;
    }

    // ------------------------------------------------------------ restore

    // Reads what was saved (migrating Emscripten IDBFS data on first use) and recreates it in memory,
    // in batches, reporting progress to `onProgress` (and this.progress) after each batch. Anything the
    // program created, changed or deleted under the mount meanwhile wins over the saved copy.
    async restore(onProgress) {
      const db = await this.database();
      let { format, entries } = await store.describe(db);
      let migrated = 0;
      if (format === undefined && entries === 0) {
        migrated = await store.migrateIdbfs(db, this.mountpoint);
        if (migrated) ({ format, entries } = await store.describe(db));
      } else if (format !== undefined && format.version > store.FORMAT_VERSION) {
        throw new Error(
          `the data of ${this.mountpoint} was saved by a newer autosync (storage format ${format.version}, ` +
            `this one reads up to ${store.FORMAT_VERSION}); upgrade autosync`
        );
      }
      // Format 1 had no chunks (every file inline): any chunk size reads it.
      this.chunkSize = (format && format.chunkSize) || store.CHUNK_SIZE;
      this.tracker.useChunkSize(this.chunkSize);

      const progress = (this.progress = { entriesDone: 0, entriesTotal: entries, bytesDone: 0, bytesTotal: 0 });
      const report = () => {
        if (onProgress) onProgress(progress);
      };
      const keys = [];
      const values = [];
      await store.readInBatches(db, store.ENTRIES, ENTRY_BATCH, (k, v) => {
        for (let i = 0; i < k.length; i++) {
          keys.push(k[i]);
          values.push(v[i]);
          if (v[i].size !== undefined) progress.bytesTotal += v[i].size;
          else if (v[i].contents !== undefined) progress.bytesTotal += v[i].contents.byteLength;
        }
        progress.entriesDone += k.length;
        report();
      });

      const stats = { files: 0, dirs: 0, links: 0, bytes: 0, kept: 0, failed: [], migrated };
      const dirTimes = [];
      const chunked = [];
      this.paused(() => {
        for (let i = 0; i < keys.length; i++) {
          const rel = keys[i];
          const entry = values[i];
          if (!rel) continue;
          if (FS.isDir(entry.mode)) this.restoreDir(rel, entry, stats, dirTimes);
          else if (FS.isLink(entry.mode)) this.restoreLink(rel, entry, stats);
          else if (entry.contents !== undefined) {
            const bytes = entry.contents instanceof Uint8Array ? entry.contents : new Uint8Array(entry.contents);
            progress.bytesDone += bytes.byteLength;
            // A format-1 file larger than a chunk is stored inline: its next change rewrites it whole.
            this.restoreFile(rel, entry, bytes, bytes.byteLength <= this.chunkSize ? false : null, stats);
          } else chunked.push([rel, entry]);
        }
      });
      report();

      if (chunked.length) await this.restoreChunked(db, chunked, stats, progress, report);
      // Creating children bumps a directory's mtime, so directories get theirs back last.
      this.paused(() => {
        for (const [node, mtime] of dirTimes.reverse()) setTimes(node, mtime);
      });
      this.restored = true;
      return stats;
    }

    // Files stored without inline bytes, in key order, each created as soon as it is read back whole.
    async restoreChunked(db, files, stats, progress, report) {
      await store.readFiles(
        db,
        files.map(([rel, entry]) => ({ rel, size: entry.size || 0 })),
        this.chunkSize,
        (f, bytes, error) => {
          const [rel, entry] = files[f];
          if (error) stats.failed.push(`${rel}: ${describeError(error)}`);
          else this.paused(() => this.restoreFile(rel, entry, bytes, true, stats));
        },
        (n) => {
          progress.bytesDone += n;
          report();
        }
      );
      progress.bytesDone = progress.bytesTotal;
      report();
    }

    paused(work) {
      this.tracker.paused = true;
      try {
        work();
      } finally {
        this.tracker.paused = false;
      }
    }

    // The parent directory node if `rel` may be created from the saved copy, else null (counted kept).
    restorable(rel, stats) {
      const parent = findNode(this.root, parentPath(rel));
      const name = rel.slice(rel.lastIndexOf("/") + 1);
      if (!parent || !FS.isDir(parent.mode) || this.tracker.touches(rel)) {
        stats.kept++;
        return null;
      }
      const existing = parent.contents[name];
      if (existing) {
        if (!FS.isDir(existing.mode)) stats.kept++;
        return null;
      }
      return parent;
    }

    restoreDir(rel, entry, stats, dirTimes) {
      if (!this.restorable(rel, stats)) return;
      const path = `${this.mountpoint}/${rel}`;
      try {
        dirTimes.push([FS.mkdir(path, entry.mode & 0o7777), entry.mtime]);
        stats.dirs++;
      } catch (e) {
        stats.failed.push(`${rel}: ${e.message || e}`);
      }
    }

    restoreLink(rel, entry, stats) {
      if (!this.restorable(rel, stats)) return;
      try {
        const node = FS.symlink(entry.link, `${this.mountpoint}/${rel}`);
        // Set on the node: FS.utime would follow the link.
        if (node) setTimes(node, entry.mtime);
        stats.links++;
      } catch (e) {
        stats.failed.push(`${rel}: ${e.message || e}`);
      }
    }

    // `chunked`: the stored layout (true/false), or null when the stored copy must be rewritten.
    restoreFile(rel, entry, bytes, chunked, stats) {
      if (!this.restorable(rel, stats)) return;
      try {
        // The node adopts `bytes` (read from IndexedDB, so nobody else holds them): no copy.
        const node = FS.create(`${this.mountpoint}/${rel}`, entry.mode & 0o7777);
        node.contents = bytes;
        node.usedBytes = bytes.byteLength;
        setTimes(node, entry.mtime);
        if (chunked !== null) this.synced.set(node, { rel, chunked });
        stats.files++;
        stats.bytes += bytes.byteLength;
      } catch (e) {
        stats.failed.push(`${rel}: ${e.message || e}`);
      }
    }

    // ------------------------------------------------------------ flushing

    // Called by Python once restored: from now on the write path, fsync and page hide may flush.
    start(maxWaitMs, flushOnHide) {
      this.running = { maxWaitMs };
      this.removeListeners = flushOnHide ? this.onPageHide(() => this.flushQuietly()) : null;
    }

    // After every tracked change: if the oldest unsaved change is older than max_wait_ms, no Python
    // timer has been able to run (it would have flushed by then), so the write path flushes itself.
    // The transaction is created and committed right here; IndexedDB finishes it in the background
    // even while this thread stays busy.
    changed(t) {
      const running = this.running;
      if (!running || !this.db || this.tracker.count === 0) return;
      if (t - this.tracker.firstAt < running.maxWaitMs || t < this.holdUntil) return;
      this.stats.writePath++;
      this.issue().catch(() => {});
    }

    // fsync(2): start a flush of everything pending now. Returns an errno for Emscripten.
    fsync() {
      if (!this.running || this.tracker.count === 0) return 0;
      if (!this.db) {
        this.flushQuietly();
        return 0;
      }
      try {
        this.snapshotNow().catch(() => {});
        return 0;
      } catch {
        return EIO;
      }
    }

    // Saves everything changed so far; resolves once it and every flush issued before it committed,
    // rejects if any of them failed (their changes are pending again). Undefined when nothing to do.
    flush() {
      const earlier = [...this.inflight];
      let mine = null;
      if (this.tracker.count > 0) {
        mine = this.db
          ? this.issue()
          : this.database().then(
              () => this.issue(),
              (e) => {
                this.stats.failures++;
                this.stats.lastError = describeError(e);
                throw e;
              }
            );
      }
      if (!mine && earlier.length === 0) return undefined;
      return Promise.allSettled([...earlier, mine || Promise.resolve(null)]).then((results) => {
        const failed = results.find((r) => r.status === "rejected");
        if (failed) throw failed.reason;
        return results[results.length - 1].value || { puts: 0, deletes: 0, bytes: 0 };
      });
    }

    // A flush whose outcome is only recorded in this.stats (page hide, fsync while reopening).
    flushQuietly() {
      const done = this.flush();
      if (done) done.catch(() => {});
    }

    // Takes the snapshot synchronously; a synchronous failure is thrown (see fsync), not returned.
    snapshotNow() {
      const taken = this.tracker.take(this.root);
      const written = [];
      const started = now();
      let writer = null;
      try {
        writer = new store.Writer(this.db, this.chunkSize);
        this.snapshot(writer, taken, written);
      } catch (e) {
        if (writer) writer.abort();
        this.failed(taken, written, e);
        // A closed connection (storage cleared, browser shutting down) is reopened by the next attempt.
        if (e && e.name === "InvalidStateError") this.db = null;
        throw e;
      }
      const done = writer.commit().then(
        (stats) => {
          this.inflight.delete(done);
          this.stats.flushes++;
          this.stats.failures = 0;
          this.stats.lastFlushAt = Date.now();
          this.stats.lastDurationMs = now() - started;
          this.stats.lastBytes = stats.bytes;
          return stats;
        },
        (e) => {
          this.inflight.delete(done);
          this.failed(taken, written, e);
          throw e;
        }
      );
      this.inflight.add(done);
      return done;
    }

    issue() {
      try {
        return this.snapshotNow();
      } catch (e) {
        return Promise.reject(e);
      }
    }

    failed(taken, written, e) {
      // What the transaction wrote is unknown now, and the chunk lists are not given back: the next
      // save of these files rewrites them whole.
      for (const node of written) this.synced.delete(node);
      for (const node of taken.nodes.keys()) this.synced.delete(node);
      this.tracker.giveBack(taken);
      this.stats.failures++;
      this.stats.lastError = describeError(e);
    }

    snapshot(writer, taken, written) {
      for (const rel of taken.trees) {
        // The whole mount (after a restart): the store becomes exactly what is in memory.
        if (rel === "") writer.clear();
        const node = findNode(this.root, rel);
        if (!node) {
          writer.remove(rel);
          continue;
        }
        // A renamed or recreated directory: drop what was stored below it, then store it whole.
        if (rel !== "") writer.removeBelow(rel);
        walk(node, (n, r) => this.save(writer, n, r, null, true, written), rel);
      }
      for (const rel of taken.paths) {
        const node = findNode(this.root, rel);
        if (!node) {
          writer.remove(rel);
          continue;
        }
        const chunks = taken.nodes.get(node);
        this.save(writer, node, rel, chunks === undefined ? [] : chunks, false, written);
      }
    }

    // Puts one node: a file's chunks listed in `chunks` (null: all), all of them if `whole`.
    save(writer, node, rel, chunks, whole, written) {
      if (!rel) return;
      if (FS.isFile(node.mode)) {
        const bytes = (node.contents || new Uint8Array(0)).subarray(0, node.usedBytes);
        const prior = this.synced.get(node);
        const same = !whole && prior !== undefined && prior.rel === rel;
        const chunkedNow = store.chunkCount(bytes.byteLength, this.chunkSize) > 0;
        const all = !same || chunks === null || (chunkedNow && !prior.chunked);
        writer.file(rel, node.mode, mtimeOf(node), bytes, all ? null : chunks, same && !prior.chunked);
        this.synced.set(node, { rel, chunked: chunkedNow });
        written.push(node);
      } else if (FS.isDir(node.mode)) {
        writer.dir(rel, node.mode, mtimeOf(node));
      } else if (FS.isLink(node.mode)) {
        writer.link(rel, node.mode, mtimeOf(node), node.link);
      } else {
        // Device nodes are not saved (see README): restoring one as a regular file would be wrong.
        writer.remove(rel);
      }
    }

    // Python's scheduler holds back write-path flushes after a failure (backoff).
    hold(ms) {
      this.holdUntil = clock() + ms;
    }

    pending() {
      const t = clock();
      const tracker = this.tracker;
      return {
        count: tracker.count,
        entries: tracker.paths.size + tracker.trees.size + this.writtenOnly(),
        firstAgeMs: tracker.count ? t - tracker.firstAt : 0,
        lastAgeMs: tracker.count ? t - tracker.lastAt : 0,
        inflight: this.inflight.size,
      };
    }

    // Files changed only through their bytes (not already counted as a changed path).
    writtenOnly() {
      let n = 0;
      for (const node of this.tracker.nodes.keys()) {
        if (!this.tracker.paths.has(relativePath(node, this.root))) n++;
      }
      return n;
    }

    whenDirty() {
      return this.tracker.whenDirty();
    }

    wake() {
      this.tracker.wake();
    }

    // Stops tracking: the mount stays, with MEMFS's own operations on every node and open stream.
    detach() {
      if (this.detached) return;
      this.detached = true;
      this.running = null;
      if (this.removeListeners) this.removeListeners();
      this.removeListeners = null;
      this.tracker.wake();
      walk(this.root, (node) => this.ops.swap(node, this.ops.theirs));
      for (const stream of FS.streams) {
        if (stream && this.ops.theirs.has(stream.stream_ops)) stream.stream_ops = this.ops.theirs.get(stream.stream_ops);
      }
      if (this.db) this.db.close();
      this.db = null;
    }

    // Resumes tracking after detach(), for start() on a path that was stopped or failed to restore.
    // Nothing was tracked while detached, so everything in memory is marked as changed: after a stop
    // the memory is the whole truth and the next flush makes the store match it (deletions included);
    // after a failed restore the saved data was never read, so local entries are only added to it.
    reattach() {
      if (!this.detached) return;
      this.detached = false;
      this.tracker = new Tracker(this.chunkSize);
      this.synced = new WeakMap();
      this.ops = makeOps(this);
      walk(this.root, (node) => this.ops.swap(node, this.ops.ours));
      for (const stream of FS.streams) {
        if (stream && this.ops.ours.has(stream.stream_ops)) stream.stream_ops = this.ops.ours.get(stream.stream_ops);
      }
      const t = clock();
      if (this.restored) this.tracker.tree("", t);
      else walk(this.root, (node, rel) => rel && this.tracker.path(rel, t));
    }

    // Save when the page goes away: the snapshot and the requests go out synchronously, since the
    // page may be gone before any task runs. Best effort: the browser may still cut the commit.
    onPageHide(callback) {
      const target = globalThis.document;
      if (!target || !globalThis.addEventListener) return () => {};
      const onVisibility = () => {
        if (target.visibilityState === "hidden") callback();
      };
      target.addEventListener("visibilitychange", onVisibility);
      globalThis.addEventListener("pagehide", callback);
      return () => {
        target.removeEventListener("visibilitychange", onVisibility);
        globalThis.removeEventListener("pagehide", callback);
      };
    }
  }

  function collectMounts() {
    const out = [];
    const stack = [FS.root.mount];
    while (stack.length) {
      const mount = stack.pop();
      out.push(mount);
      stack.push(...mount.mounts);
    }
    return out;
  }

  return {
    FORMAT_VERSION: store.FORMAT_VERSION,
    CHUNK_SIZE: store.CHUNK_SIZE,
    hasIndexedDB: () => typeof indexedDB !== "undefined",
    attach(mountpoint, dbName) {
      let existing = collectMounts().find((m) => m.mountpoint === mountpoint && m.autosync);
      if (existing) {
        existing = existing.autosync;
        existing.reattach();
        return existing;
      }
      const mount = new Mount(mountpoint, dbName);
      mount.root.mount.autosync = mount;
      return mount;
    },
    // Mount points of every mount below `/`, with the name of its file system type when it is ours.
    mounts() {
      return collectMounts().map((m) => [m.mountpoint, m.autosync ? "autosync" : "other"]);
    },
  };
});
