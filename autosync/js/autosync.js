// autosync's JavaScript half: hooks inside Emscripten's in-memory file system and the IndexedDB store.
//
// Loaded once by autosync/_pyodide.py, which evaluates this file and calls the function it evaluates to
// with Emscripten's FS object. Everything that must run synchronously inside a file-system call (noticing
// a change) or inside one JavaScript turn (taking a consistent snapshot of several files for one
// IndexedDB transaction) lives here; deciding *when* to flush is Python's job (autosync/scheduler.py).
//
// Paths handed across are relative to the mount point ("notes/a.txt"); "" is the mount root itself.
(function autosyncFactory(FS) {
  "use strict";

  const MEMFS = FS.filesystems.MEMFS;
  const FORMAT_VERSION = 1;
  const ENTRIES = "entries";
  const META = "meta";
  // Emscripten's IDBFS, which we read to migrate data saved by apps that used it directly.
  const IDBFS_STORE = "FILE_DATA";

  // Monotonic where available; some embeddings (a Node vm context) lack `performance`.
  const now = typeof performance !== "undefined" ? () => performance.now() : () => Date.now();

  // ---------------------------------------------------------------- IndexedDB helpers

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

  function openStore(name) {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(name, FORMAT_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(ENTRIES)) db.createObjectStore(ENTRIES);
        if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = (event) => {
        event.preventDefault();
        reject(request.error);
      };
      request.onblocked = () => reject(new Error(`IndexedDB database ${name} is blocked by another connection`));
    });
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

  async function readIdbfs(mountpoint) {
    const db = await openExistingIdbfs(mountpoint);
    if (!db) return null;
    try {
      if (!db.objectStoreNames.contains(IDBFS_STORE)) return null;
      const tx = db.transaction([IDBFS_STORE], "readonly");
      const store = tx.objectStore(IDBFS_STORE);
      const [keys, values] = await Promise.all([
        requestPromise(store.getAllKeys()),
        requestPromise(store.getAll()),
      ]);
      const prefix = mountpoint.endsWith("/") ? mountpoint : mountpoint + "/";
      const entries = [];
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        if (typeof key !== "string" || !key.startsWith(prefix)) continue;
        const value = values[i];
        const entry = { mode: value.mode, mtime: value.timestamp ? value.timestamp.getTime() : Date.now() };
        if (value.contents !== undefined) entry.contents = new Uint8Array(value.contents);
        if (value.link !== undefined) entry.link = value.link;
        entries.push([key.slice(prefix.length), entry]);
      }
      return entries;
    } finally {
      db.close();
    }
  }

  // All three requests go out in one go: a transaction left without pending requests commits.
  function readAll(db) {
    const tx = db.transaction([ENTRIES, META], "readonly");
    const store = tx.objectStore(ENTRIES);
    return Promise.all([
      requestPromise(tx.objectStore(META).get("format")),
      requestPromise(store.getAllKeys()),
      requestPromise(store.getAll()),
    ]);
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

  // The stored form of one node. IndexedDB clones the value inside put(), so handing it a view of the
  // live file contents is a snapshot; but cloning a view clones its whole buffer, so views into a larger
  // buffer (MEMFS over-allocates for appends) are sliced to their used length first.
  function entryOf(node) {
    const entry = { mode: node.mode, mtime: node.mtime };
    if (FS.isFile(node.mode)) {
      const contents = node.contents || new Uint8Array(0);
      const used = node.usedBytes;
      entry.contents =
        contents.byteOffset === 0 && contents.byteLength === used && contents.buffer.byteLength === used
          ? contents
          : contents.slice(0, used);
    } else if (FS.isLink(node.mode)) {
      entry.link = node.link;
    }
    return entry;
  }

  function subtreeRange(rel) {
    // Every key that starts with `rel + "/"`; "0" is the character after "/".
    return IDBKeyRange.bound(rel + "/", rel + "0", false, true);
  }

  // ---------------------------------------------------------------- change tracking

  class Tracker {
    constructor() {
      this.paused = false;
      this.paths = new Set(); // entries whose own state changed
      this.trees = new Set(); // entries whose whole subtree must be rewritten (rename) or removed
      this.nodes = new Set(); // files written through a stream; resolved to paths when taken
      this.count = 0;
      this.firstAt = 0;
      this.lastAt = 0;
      this.waiters = [];
    }

    touch() {
      const t = now();
      if (this.count === 0) this.firstAt = t;
      this.lastAt = t;
      this.count++;
      if (this.waiters.length) this.wake();
    }

    path(rel) {
      if (this.paused || rel === null) return;
      this.paths.add(rel);
      this.touch();
    }

    tree(rel) {
      if (this.paused || rel === null) return;
      this.trees.add(rel);
      this.touch();
    }

    node(node) {
      if (this.paused) return;
      this.nodes.add(node);
      this.touch();
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
      if (this.trees.has("") || this.paths.has(rel) || this.trees.has(rel)) return true;
      for (let i = rel.indexOf("/"); i !== -1; i = rel.indexOf("/", i + 1)) {
        if (this.trees.has(rel.slice(0, i))) return true;
      }
      return false;
    }
  }

  // ---------------------------------------------------------------- hooks

  // Per-mount copies of MEMFS's operation tables whose mutating operations tell the tracker. Only nodes
  // of this mount point at them, so the rest of the file system and MEMFS itself stay untouched.
  function makeOps(mount) {
    const tracker = mount.tracker;
    const root = () => mount.root;
    const rel = (node) => relativePath(node, root());
    const base = MEMFS.ops_table;
    const ops = {
      dir: { node: { ...base.dir.node }, stream: { ...base.dir.stream } },
      file: { node: { ...base.file.node }, stream: { ...base.file.stream } },
      link: { node: { ...base.link.node }, stream: { ...base.link.stream } },
    };
    const setattr = base.file.node.setattr;
    for (const kind of ["dir", "file", "link"]) {
      // chmod, utime and truncate (which does not change mtime on current Emscripten) all land here.
      ops[kind].node.setattr = (node, attr) => {
        setattr(node, attr);
        tracker.path(rel(node));
      };
    }
    ops.dir.node.mknod = (parent, name, mode, dev) => {
      const node = adopt(base.dir.node.mknod(parent, name, mode, dev));
      tracker.path(childPath(rel(parent), name));
      return node;
    };
    ops.dir.node.symlink = (parent, name, target) => {
      const node = adopt(base.dir.node.symlink(parent, name, target));
      tracker.path(childPath(rel(parent), name));
      return node;
    };
    ops.dir.node.rename = (oldNode, newDir, newName) => {
      const from = rel(oldNode);
      base.dir.node.rename(oldNode, newDir, newName);
      tracker.tree(from);
      tracker.tree(childPath(rel(newDir), newName));
    };
    ops.dir.node.unlink = (parent, name) => {
      base.dir.node.unlink(parent, name);
      tracker.path(childPath(rel(parent), name));
    };
    ops.dir.node.rmdir = (parent, name) => {
      base.dir.node.rmdir(parent, name);
      tracker.tree(childPath(rel(parent), name));
    };
    ops.file.stream.write = (stream, buffer, offset, length, position, canOwn) => {
      const written = base.file.stream.write(stream, buffer, offset, length, position, canOwn);
      tracker.node(stream.node);
      return written;
    };
    ops.file.stream.msync = (stream, buffer, offset, length, flags) => {
      const result = base.file.stream.msync(stream, buffer, offset, length, flags);
      tracker.node(stream.node);
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

  function walk(node, visit, rel = "") {
    visit(node, rel);
    if (FS.isDir(node.mode) && !node.mounted) {
      for (const name of Object.keys(node.contents)) walk(node.contents[name], visit, childPath(rel, name));
    }
  }

  // ---------------------------------------------------------------- a mount

  class Mount {
    constructor(mountpoint, dbName) {
      this.mountpoint = mountpoint;
      this.dbName = dbName;
      this.tracker = new Tracker();
      this.db = null;
      this.ops = makeOps(this);
      this.detached = false;
      // Whether the in-memory tree holds everything that was saved, i.e. a restore has succeeded.
      this.restored = false;
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
        const db = await openStore(this.dbName);
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

    // Reads what was saved (migrating Emscripten IDBFS data on first use) and recreates it in memory.
    // Anything the program created, changed or deleted under the mount meanwhile wins over the saved copy.
    async restore() {
      const db = await this.database();
      let [meta, keys, values] = await readAll(db);
      let migrated = 0;
      if (meta === undefined && keys.length === 0) {
        const legacy = await readIdbfs(this.mountpoint);
        if (legacy && legacy.length) {
          const tx = db.transaction([ENTRIES, META], "readwrite");
          const done = transactionDone(tx);
          const store = tx.objectStore(ENTRIES);
          for (const [key, entry] of legacy) store.put(entry, key);
          tx.objectStore(META).put({ version: FORMAT_VERSION, migratedFrom: "idbfs" }, "format");
          await done;
          migrated = legacy.length;
          [meta, keys, values] = await readAll(db);
        }
      } else if (meta !== undefined && meta.version > FORMAT_VERSION) {
        throw new Error(
          `the data of ${this.mountpoint} was saved by a newer autosync (storage format ${meta.version}, ` +
            `this one reads up to ${FORMAT_VERSION}); upgrade autosync`
        );
      }
      const stats = this.apply(keys, values);
      this.restored = true;
      return { ...stats, migrated };
    }

    apply(keys, values) {
      const stats = { files: 0, dirs: 0, links: 0, bytes: 0, kept: 0, failed: [] };
      const dirTimes = [];
      const tracker = this.tracker;
      const order = keys.map((_, i) => i).sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
      tracker.paused = true;
      try {
        for (const i of order) {
          const rel = keys[i];
          const entry = values[i];
          if (!rel) continue;
          const slash = rel.lastIndexOf("/");
          const parent = findNode(this.root, slash === -1 ? "" : rel.slice(0, slash));
          const name = rel.slice(slash + 1);
          if (!parent || !FS.isDir(parent.mode) || tracker.touches(rel)) {
            stats.kept++;
            continue;
          }
          if (parent.contents[name]) {
            if (!FS.isDir(parent.contents[name].mode)) stats.kept++;
            continue;
          }
          const path = `${this.mountpoint}/${rel}`;
          try {
            if (FS.isDir(entry.mode)) {
              FS.mkdir(path, entry.mode & 0o7777);
              dirTimes.push([path, entry.mtime]);
              stats.dirs++;
            } else if (FS.isLink(entry.mode)) {
              FS.symlink(entry.link, path);
              stats.links++;
            } else {
              const contents = entry.contents instanceof Uint8Array ? entry.contents : new Uint8Array(entry.contents);
              FS.writeFile(path, contents, { canOwn: true });
              FS.chmod(path, entry.mode & 0o7777);
              FS.utime(path, entry.mtime, entry.mtime);
              stats.files++;
              stats.bytes += contents.byteLength;
            }
          } catch (e) {
            stats.failed.push(`${rel}: ${e.message || e}`);
          }
        }
        // Creating children bumps a directory's mtime, so directories get theirs back last.
        for (const [path, mtime] of dirTimes.reverse()) FS.utime(path, mtime, mtime);
      } finally {
        tracker.paused = false;
      }
      return stats;
    }

    // Hands over what changed since the last call; the caller keeps it until a commit succeeds.
    take() {
      const tracker = this.tracker;
      const paths = [...tracker.paths];
      for (const node of tracker.nodes) {
        const rel = relativePath(node, this.root);
        if (rel !== null) paths.push(rel);
      }
      const t = now();
      const taken = {
        paths,
        trees: [...tracker.trees],
        count: tracker.count,
        firstAgeMs: tracker.count ? t - tracker.firstAt : 0,
        lastAgeMs: tracker.count ? t - tracker.lastAt : 0,
      };
      tracker.paths = new Set();
      tracker.trees = new Set();
      tracker.nodes = new Set();
      tracker.count = 0;
      return taken;
    }

    pending() {
      return this.tracker.count;
    }

    whenDirty() {
      return this.tracker.whenDirty();
    }

    wake() {
      this.tracker.wake();
    }

    // Saves the current state of `paths` (and of everything below `trees`) in one transaction. The
    // snapshot is taken synchronously, before this returns its promise, so files changed together
    // (a database and its journal) are saved together.
    commit(paths, trees) {
      if (!this.db) return this.database().then(() => this.commit(paths, trees));
      try {
        return this.snapshot(this.db, paths, trees);
      } catch (e) {
        // A closed connection (storage cleared, browser shutting down) is reopened by the next attempt.
        if (e && e.name === "InvalidStateError") this.db = null;
        return Promise.reject(e);
      }
    }

    snapshot(db, paths, trees) {
      const tx = db.transaction([ENTRIES, META], "readwrite");
      const done = transactionDone(tx);
      const store = tx.objectStore(ENTRIES);
      const stats = { puts: 0, deletes: 0, bytes: 0 };
      const put = (node, rel) => {
        if (!rel) return;
        // Device nodes are not saved (see README): restoring one as a regular file would be wrong.
        if (!(FS.isFile(node.mode) || FS.isDir(node.mode) || FS.isLink(node.mode))) {
          store.delete(rel);
          return;
        }
        const entry = entryOf(node);
        store.put(entry, rel);
        stats.puts++;
        if (entry.contents) stats.bytes += entry.contents.byteLength;
      };
      const remove = (rel) => {
        store.delete(rel);
        store.delete(subtreeRange(rel));
        stats.deletes++;
      };
      try {
        for (const rel of trees) {
          // The whole mount (after a restart): the store becomes exactly what is in memory.
          if (rel === "") store.clear();
          const node = findNode(this.root, rel);
          if (!node) {
            remove(rel);
            continue;
          }
          // A renamed directory: drop whatever was stored below its new name, then store it whole.
          store.delete(subtreeRange(rel));
          walk(node, put, rel);
        }
        for (const rel of paths) {
          const node = findNode(this.root, rel);
          if (node) put(node, rel);
          else remove(rel);
        }
        tx.objectStore(META).put({ version: FORMAT_VERSION }, "format");
      } catch (e) {
        done.catch(() => {});
        tx.abort();
        throw e;
      }
      if (tx.commit) tx.commit();
      return done.then(() => stats);
    }

    // Stops tracking: the mount stays, with MEMFS's own operations on every node and open stream.
    detach() {
      if (this.detached) return;
      this.detached = true;
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
      this.tracker = new Tracker();
      this.ops = makeOps(this);
      walk(this.root, (node) => this.ops.swap(node, this.ops.ours));
      for (const stream of FS.streams) {
        if (stream && this.ops.ours.has(stream.stream_ops)) stream.stream_ops = this.ops.ours.get(stream.stream_ops);
      }
      if (this.restored) this.tracker.tree("");
      else walk(this.root, (node, rel) => rel && this.tracker.path(rel));
    }

    // Best effort save when the page goes away; `callback` is Python's synchronous flush starter.
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
    FORMAT_VERSION,
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
