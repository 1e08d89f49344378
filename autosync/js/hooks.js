// What changed, noticed inside each file-system call: per-mount copies of MEMFS's operation tables
// whose mutating operations tell a Tracker, and the Tracker, the set of changes since the last flush.
//
// Everything here runs synchronously inside Emscripten's FS calls, from Python or C, so it must be
// cheap (a write costs a map lookup at most, see `bytes`) and must never call into Python.
(function autosyncHooks(FS, lib) {
  "use strict";

  const MEMFS = FS.filesystems.MEMFS;
  // Emscripten's errno for EINVAL (its numbers are not Linux's).
  const EINVAL = 28;

  // ---------------------------------------------------------------- the change set

  // What changed since the last flush was taken, by node: `nodes` maps a node whose record must be
  // written again (created, moved, chmod, utime, truncate, bytes written, a child added or removed)
  // to the chunk indices its writes touched (a Set), null for all of its bytes, or undefined for
  // none; `removed` holds nodes taken out of the tree (unlink, rmdir, replaced by a rename).
  class Tracker {
    constructor(chunkSize) {
      this.chunkSize = chunkSize;
      this.paused = false;
      // While the restore runs: the names created, removed or moved locally in each directory,
      // which the restore must leave alone (local changes win).
      this.names = null;
      this.waiters = [];
      this.reset();
    }

    reset() {
      this.nodes = new Map();
      // Directories in `nodes` only because a child came or went (their mtime changed): not counted
      // as changes of their own in pending().
      this.parents = new Set();
      this.removed = new Set();
      this.count = 0;
      this.firstAt = 0;
      this.lastAt = 0;
      // The chunk the last write touched, already recorded: small writes in a row hit the same
      // chunk, and skip the map and set lookups.
      this.hotNode = null;
      this.hotChunk = -1;
    }

    // `t`: the change's time in ms (Date.now() as MEMFS stamps it).
    touch(t) {
      if (this.count === 0) this.firstAt = t;
      this.lastAt = t;
      this.count++;
      if (this.waiters.length) this.wake();
    }

    // The node's own record changed (mode, times, size, place); its bytes as far as recorded.
    meta(node, t) {
      if (this.paused) return;
      if (!this.nodes.has(node)) this.nodes.set(node, undefined);
      this.parents.delete(node);
      this.touch(t);
    }

    // A child of directory `dir` came, went or moved: its mtime changed.
    childChanged(dir, t) {
      if (this.paused) return;
      if (!this.nodes.has(dir)) {
        this.nodes.set(dir, undefined);
        this.parents.add(dir);
      }
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

    // All of a file's bytes changed (created, or its contents replaced as a whole).
    whole(node, t) {
      if (this.paused) return;
      this.nodes.set(node, null);
      if (this.hotNode === node) this.hotNode = null;
      this.touch(t);
    }

    created(node, parent, t) {
      if (this.paused) return;
      this.name(parent, node.name);
      this.childChanged(parent, t);
      if (FS.isFile(node.mode)) this.whole(node, t);
      else this.meta(node, t);
    }

    dropped(node, parent, name, t) {
      if (this.paused) return;
      this.name(parent, name);
      this.nodes.delete(node);
      if (this.hotNode === node) this.hotNode = null;
      this.removed.add(node);
      this.childChanged(parent, t);
    }

    moved(node, from, fromName, to, replaced, t) {
      if (this.paused) return;
      this.name(from, fromName);
      this.name(to, node.name);
      if (replaced) this.dropped(replaced, to, node.name, t);
      this.childChanged(from, t);
      this.childChanged(to, t);
      this.meta(node, t);
    }

    name(parent, name) {
      if (this.names === null) return;
      let set = this.names.get(parent);
      if (!set) this.names.set(parent, (set = new Set()));
      set.add(name);
    }

    // Whether the program created, removed or moved `name` in `parent` while the restore ran.
    touchedName(parent, name) {
      const set = this.names && this.names.get(parent);
      return !!set && set.has(name);
    }

    // The chunk size is the stored one, known after the restore has read the format record.
    useChunkSize(chunkSize) {
      if (chunkSize === this.chunkSize) return;
      this.chunkSize = chunkSize;
      this.hotNode = null;
      for (const node of this.nodes.keys()) if (FS.isFile(node.mode)) this.nodes.set(node, null);
    }

    // Empties the tracker; returns what it held.
    take() {
      const taken = { nodes: this.nodes, parents: this.parents, removed: this.removed, count: this.count, firstAt: this.firstAt, lastAt: this.lastAt };
      this.reset();
      return taken;
    }

    // Returns the changes of a failed flush, counted from their original time. Their bytes are
    // written whole next time: what the failed transaction wrote is unknown.
    giveBack(taken) {
      for (const node of taken.nodes.keys()) {
        if (this.removed.has(node)) continue;
        if (taken.parents.has(node) && !this.nodes.has(node)) this.parents.add(node);
        this.nodes.set(node, FS.isFile(node.mode) ? null : this.nodes.get(node));
      }
      for (const node of taken.removed) {
        this.nodes.delete(node);
        this.removed.add(node);
      }
      this.hotNode = null;
      this.firstAt = this.count ? Math.min(this.firstAt, taken.firstAt) : taken.firstAt;
      this.lastAt = this.count ? Math.max(this.lastAt, taken.lastAt) : taken.lastAt;
      this.count += taken.count;
      this.wake();
    }

    // Whether this node has changes of its own waiting (not counting a removal).
    pendingOn(node) {
      return this.nodes.has(node);
    }

    // How many files, directories and links have changes of their own waiting.
    entries() {
      return this.nodes.size - this.parents.size + this.removed.size;
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
  }

  // ---------------------------------------------------------------- hooks

  // Per-mount copies of MEMFS's operation tables whose mutating operations tell the tracker, then let
  // the mount start a flush if one is overdue. Only nodes of this mount point at them, so the rest of
  // the file system and MEMFS itself stay untouched.
  function makeOps(mount) {
    const base = MEMFS.ops_table;
    const ops = {
      dir: { node: { ...base.dir.node }, stream: { ...base.dir.stream } },
      file: { node: { ...base.file.node }, stream: { ...base.file.stream } },
      link: { node: { ...base.link.node }, stream: { ...base.link.stream } },
    };
    // Read when called: reattach() gives the mount a new tracker.
    const tracker = () => mount.tracker;
    const clock = () => Date.now();
    const setattr = base.file.node.setattr;
    for (const kind of ["dir", "file", "link"]) {
      // chmod, utime and truncate all land here.
      ops[kind].node.setattr = (node, attr) => {
        const before = node.usedBytes;
        setattr(node, attr);
        const t = clock();
        const tr = tracker();
        tr.meta(node, t);
        // Growing exposes zeros over whatever an earlier, longer version stored; shrinking needs
        // no chunk written, the stored size cuts the last chunk and later chunks are deleted.
        if (attr.size !== undefined && FS.isFile(node.mode)) tr.bytes(node, before, node.usedBytes, t);
        mount.changed(t);
      };
      // fsync(2) on a file or directory under the mount: save now (see Mount.fsync).
      ops[kind].stream.fsync = (stream) => mount.fsync(stream);
    }
    ops.dir.node.mknod = (parent, name, mode, dev) => {
      const node = adopt(base.dir.node.mknod(parent, name, mode, dev));
      const t = clock();
      tracker().created(node, parent, t);
      mount.changed(t);
      return node;
    };
    ops.dir.node.symlink = (parent, name, target) => {
      const node = adopt(base.dir.node.symlink(parent, name, target));
      const t = clock();
      tracker().created(node, parent, t);
      mount.changed(t);
      return node;
    };
    ops.dir.node.rename = (node, newDir, newName) => {
      // FS.rename checks "not into itself" on the paths as written, so through a symlink a
      // directory could be moved into its own subdirectory and drop out of the tree with everything
      // in it. rename(2) refuses that with EINVAL.
      for (let d = newDir; d.parent !== d; d = d.parent) if (d === node) throw new FS.ErrnoError(EINVAL);
      const from = node.parent;
      const fromName = node.name;
      // MEMFS replaces an existing target (a file, or an empty directory).
      const target = Object.prototype.hasOwnProperty.call(newDir.contents, newName) ? newDir.contents[newName] : null;
      const replaced = target !== node ? target : null;
      base.dir.node.rename(node, newDir, newName);
      // Emscripten's MEMFS before 4.0 (Pyodide 0.27) leaves a replaced node in FS's name table:
      // its name then looks taken (O_EXCL fails) and open() without O_EXCL writes into the
      // replaced, unlinked node, where nothing can find the bytes. Later MEMFS removes it itself
      // (removing it again is a no-op).
      if (replaced) FS.hashRemoveNode(replaced);
      const t = clock();
      tracker().moved(node, from, fromName, newDir, replaced, t);
      mount.changed(t);
    };
    for (const remove of ["unlink", "rmdir"]) {
      ops.dir.node[remove] = (parent, name) => {
        const node = parent.contents[name];
        base.dir.node[remove](parent, name);
        const t = clock();
        tracker().dropped(node, parent, name, t);
        mount.changed(t);
      };
    }
    // A write at `position` changes [position, end) and, past the old end, the hole before it.
    // This runs for every write(2): keep it lean (no clock read of its own, see Mount.changed).
    const write = base.file.stream.write;
    const stamp = lib.tree.ONE_TIMESTAMP ? "timestamp" : "mtime";
    ops.file.stream.write = (stream, buffer, offset, length, position, canOwn) => {
      const node = stream.node;
      const before = node.usedBytes;
      const written = write(stream, buffer, offset, length, position, canOwn);
      if (written) {
        // MEMFS's write just set mtime from Date.now(): the change's time.
        const t = node[stamp];
        // canOwn makes MEMFS adopt the buffer as the whole file, whatever the position.
        if (canOwn) mount.tracker.whole(node, t);
        else mount.tracker.bytes(node, position < before ? position : before, position + written, t);
        mount.changed(t);
      }
      return written;
    };
    ops.file.stream.msync = (stream, buffer, offset, length, flags) => {
      const node = stream.node;
      const before = node.usedBytes;
      const result = base.file.stream.msync(stream, buffer, offset, length, flags);
      const t = clock();
      mount.tracker.bytes(node, Math.min(offset, before), offset + length, t);
      mount.changed(t);
      return result;
    };
    // Another tab's version of a file held open for writing waits until it is closed.
    ops.file.stream.close = (stream) => {
      if (base.file.stream.close) base.file.stream.close(stream);
      mount.closed(stream);
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
    // Puts `table`'s operations on every node below `root` and every open stream of them.
    function swapAll(root, table) {
      lib.tree.walk(root, (node) => swap(node, table));
      for (const stream of FS.streams) {
        if (stream && table.has(stream.stream_ops)) stream.stream_ops = table.get(stream.stream_ops);
      }
    }
    return { adopt, swapAll, ours, theirs };
  }

  return { Tracker, makeOps };
});
