// The restore at start: reads what was saved (upgrading older formats, migrating Emscripten IDBFS
// data on first use) in batches, with progress, and rebuilds it in memory.
//
// Damaged or foreign records are contained: each is checked before anything is made of it (store.js
// recordProblem), and one that would leave the directory, be unusable to Python, or crash the
// runtime is not restored but reported (path and reason) and left in IndexedDB as it is. Nodes are
// made directly (tree.js), so saved permissions cannot refuse the restore its own work. Anything the
// program created, changed or deleted under the mount while the restore ran wins over the saved copy.
(function autosyncRestore(FS, lib) {
  "use strict";

  const { store, tree } = lib;

  // Node records are read in batches of this many per transaction (a small file's bytes at most).
  const NODE_BATCH = 2000;
  // A read that takes longer than this is taken as stalled.
  const READ_STALL_MS = 60000;

  async function restore(mount, onProgress) {
    const db = await mount.database();
    let info = await store.bounded(store.describe(db), READ_STALL_MS, "reading the saved data's description");
    const problem = store.formatProblem(info.format);
    if (problem) {
      const e = new Error(problem);
      e.autosyncKind = "format";
      throw e;
    }
    const stats = { files: 0, dirs: 0, links: 0, bytes: 0, kept: 0, failed: [], migrated: 0 };
    if (info.nodes === 0 && info.root === undefined && info.logHead === 0) {
      stats.migrated = await store.migrateIdbfs(db, mount.mountpoint, store.CHUNK_SIZE);
      if (stats.migrated) info = await store.describe(db);
    }
    if (info.format === undefined) stats.failed.push(`(format record): missing; the data is read as format ${store.FORMAT_VERSION}`);
    for (const { key, reason } of info.legacy || []) {
      stats.failed.push(`${String(key)}: not carried over from an older format (${reason})`);
      mount.damaged.push({ metaKey: ["legacy", String(key)] });
    }
    mount.epoch = info.format ? info.format.epoch : undefined;
    mount.chunkSize = (info.format && info.format.chunkSize) || store.CHUNK_SIZE;
    mount.tracker.useChunkSize(mount.chunkSize);
    mount.flusher.logKey = info.logHead;
    mount.flusher.logFloor = info.logFloor;

    const progress = (mount.progress = { entriesDone: 0, entriesTotal: info.nodes, bytesDone: 0, bytesTotal: 0 });
    const report = () => {
      if (onProgress) onProgress(progress);
    };
    // parent id -> [[name, record, key]]
    const children = new Map();
    // Records that fail their checks, reported once the tree tells their directory's path.
    const bad = [];
    await store.readNodes(db, NODE_BATCH, (keys, values) => {
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        const value = values[i];
        const why = store.recordProblem(key, value, mount.chunkSize);
        if (why) {
          bad.push([key, why, value]);
          continue;
        }
        if (store.isFileMode(value.mode)) progress.bytesTotal += value.size;
        let list = children.get(key[0]);
        if (!list) children.set(key[0], (list = []));
        list.push([key[1], value, key]);
      }
      progress.entriesDone += keys.length;
      report();
    });

    const dirTimes = [];
    const chunked = [];
    const seen = new Set([store.ROOT]);
    const pathOf = new Map([[store.ROOT, ""]]);
    // Breadth first from the root: a directory is made before its children, whatever the key order.
    const queue = [[mount.root, ""]];
    const skipped = new Set();
    for (let q = 0; q < queue.length; q++) {
      const [dir, rel] = queue[q];
      const list = children.get(dir.asid);
      if (!list) continue;
      children.delete(dir.asid);
      for (const [name, value, key] of list) {
        const path = tree.childPath(rel, name);
        if (seen.has(value.id)) {
          damaged(mount, stats, key, `its id ${value.id} is used by another entry`, path);
          skipped.add(value.id);
          continue;
        }
        seen.add(value.id);
        const made = restoreOne(mount, stats, dir, name, value, key, path, chunked, progress);
        if (made === null) {
          skipped.add(value.id);
          continue;
        }
        if (store.isDirMode(value.mode)) {
          pathOf.set(value.id, path);
          queue.push([made, path]);
          if (made.saved.v === value.v) dirTimes.push([made, value.mtime]);
        }
      }
    }
    for (const [key, why, value] of bad) {
      const dir = Array.isArray(key) ? pathOf.get(key[0]) : undefined;
      damaged(mount, stats, key, why, dir === undefined ? undefined : tree.childPath(dir, printable(key[1])), value);
    }
    // What no directory reached: below an entry that was not restored (kept locally, or damaged),
    // or in no directory at all.
    const parentOf = new Map();
    for (const [parentId, list] of children) for (const [, value] of list) parentOf.set(value.id, parentId);
    const belowSkipped = (id) => {
      for (let at = id, steps = 0; at !== undefined && steps <= parentOf.size; at = parentOf.get(at), steps++) {
        if (skipped.has(at)) return true;
      }
      return false;
    };
    for (const [parentId, list] of children) {
      for (const [name, value, key] of list) {
        if (belowSkipped(parentId)) stats.kept++;
        else damaged(mount, stats, key, seen.has(parentId) ? "its parent is not a directory" : `its directory (id ${parentId}) is missing`, `(directory ${parentId})/${name}`, value);
      }
    }
    report();

    if (chunked.length) await restoreChunked(mount, db, chunked, stats, progress, report);
    // Creating children bumps a directory's mtime, so directories get theirs back last, deepest first.
    for (let i = dirTimes.length - 1; i >= 0; i--) tree.setTimes(dirTimes[i][0], dirTimes[i][1]);
    const root = mount.root;
    if (info.root && !store.rootProblem(info.root)) {
      if (!mount.tracker.pendingOn(root)) {
        root.mode = info.root.mode;
        tree.setTimes(root, info.root.mtime);
      }
      root.saved = { keys: [], chunked: null, v: info.root.v, mode: info.root.mode, mtime: info.root.mtime, size: -1 };
    } else if (info.root) {
      stats.failed.push("(the directory itself): its saved mode or mtime is not valid");
    }
    mount.restored = true;
    return stats;
  }

  // Makes one entry from its record under `dir`, unless the program's own changes win. Returns the
  // node made (or the local directory kept, which children then join), or null.
  function restoreOne(mount, stats, dir, name, value, key, path, chunked, progress) {
    const tracker = mount.tracker;
    const exists = Object.prototype.hasOwnProperty.call(dir.contents, name);
    if (tracker.touchedName(dir, name) || exists) {
      const local = exists ? dir.contents[name] : null;
      if (local && FS.isDir(local.mode) && store.isDirMode(value.mode)) {
        // Made here before the restore reached it: the saved children join it.
        mount.registry.set(local, value.id);
        local.saved = { keys: [key], chunked: null, v: undefined, mode: value.mode, mtime: value.mtime, size: -1 };
        return local;
      }
      stats.kept++;
      if (local && local.asid === undefined) {
        // The local file takes the saved one's place and id: its first flush writes it whole over it.
        mount.registry.set(local, value.id);
        local.saved = { keys: [key], chunked: null, v: value.v, mode: value.mode, mtime: value.mtime, size: -1 };
      }
      return null;
    }
    try {
      if (store.isFileMode(value.mode) && value.contents === undefined && value.size > 0) {
        chunked.push({ dir, name, value, key, path });
        return null;
      }
      const bytes = store.isFileMode(value.mode) ? (value.size ? store.inlineBytes(value) : new Uint8Array(0)) : null;
      const node = tree.makeNode(dir, name, value, bytes, mount.ops.adopt);
      adopted(mount, node, value, key, stats);
      if (bytes) progress.bytesDone += bytes.byteLength;
      return node;
    } catch (e) {
      damaged(mount, stats, key, tree.describeError(e, `creating ${kindOf(value.mode)}`), path, value);
      return null;
    }
  }

  function adopted(mount, node, value, key, stats) {
    mount.registry.set(node, value.id);
    node.saved = lib.peers.savedOf(key, value, mount.chunkSize);
    if (store.isDirMode(value.mode)) stats.dirs++;
    else if (store.isLinkMode(value.mode)) stats.links++;
    else {
      stats.files++;
      stats.bytes += value.size;
    }
  }

  // Files stored as chunks, each made as soon as it is read back whole.
  async function restoreChunked(mount, db, files, stats, progress, report) {
    await store.readFiles(
      db,
      null,
      files.map(({ value }) => ({ id: value.id, size: value.size })),
      mount.chunkSize,
      (f, bytes, error) => {
        const { dir, name, value, key, path } = files[f];
        if (error) {
          damaged(mount, stats, key, `its chunks could not be read: ${tree.describeError(error)}`, path, value);
          return;
        }
        if (Object.prototype.hasOwnProperty.call(dir.contents, name) || mount.tracker.touchedName(dir, name) || !tree.inTree(dir, mount.root)) {
          stats.kept++;
          return;
        }
        try {
          adopted(mount, tree.makeNode(dir, name, value, bytes, mount.ops.adopt), value, key, stats);
        } catch (e) {
          damaged(mount, stats, key, tree.describeError(e, "creating file"), path, value);
        }
      },
      (n) => {
        progress.bytesDone += n;
        report();
      }
    );
    progress.bytesDone = progress.bytesTotal;
    report();
  }

  function kindOf(mode) {
    return store.isDirMode(mode) ? "directory" : store.isLinkMode(mode) ? "symlink" : "file";
  }

  // Reports a record that is not restored, and keeps its key (and id, for its chunks) for
  // Mount.discardDamaged().
  function damaged(mount, stats, key, why, path, value) {
    const where = path || describeKey(key);
    stats.failed.push(`${where}: ${why}`);
    mount.damaged.push({ key, id: value && Number.isSafeInteger(value.id) ? value.id : undefined });
  }

  function describeKey(key) {
    if (Array.isArray(key) && key.length === 2) {
      return key[0] === store.ROOT ? printable(key[1]) : `(directory ${key[0]})/${printable(key[1])}`;
    }
    return JSON.stringify(key) || String(key);
  }

  // A name as it can be shown: control characters escaped.
  function printable(name) {
    return typeof name === "string" ? JSON.stringify(name).slice(1, -1) : String(name);
  }

  return { restore, describeKey };
});
