// A prototype store in the Origin Private File System, for the bench's OPFS study (bench/OPFS.md).
// Not part of autosync: it has no change tracking of its own (the bench names what changed), no
// other tabs, no compaction, no containment of damaged data. It answers one question: what would a
// store on OPFS synchronous access handles (dedicated workers only) give autosync in flush, restore
// and fsync durability, against its IndexedDB store.
//
// Layout: one OPFS file "<name>.log", written only at its end through one synchronous access
// handle opened at start: a sequence of batches, one per flush,
//   [u32 header bytes][u32 payload bytes][header: JSON array of operations][payload bytes]
// operations, applied in order at restore:
//   ["dir", path, mode, mtime]
//   ["put", path, mode, mtime, size, parts, whole]   parts [[file offset, length], ...]: their bytes
//                                                    follow in the payload, in that order; `whole`:
//                                                    they replace every earlier part of the file
//   ["mv", from, to]                                 a file or a whole directory, one record
//   ["del", path]
// A batch whose end lies past the end of the log (a write cut short by a crash) is ignored, so a
// batch is all or nothing. Files larger than a chunk are written in chunks of 256 KiB (as autosync
// does), and only the chunks that changed.
//
// A synchronous write() lands in the operating system at once: a killed browser loses nothing that
// a write() returned for. flush() asks the OS to put it on the disk (it survives a power cut too).
(FS) => {
  "use strict";

  const MEMFS = FS.filesystems.MEMFS;
  const CHUNK = 256 * 1024;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const isFile = (mode) => (mode & 0o170000) === 0o100000;
  const isDir = (mode) => (mode & 0o170000) === 0o040000;

  class Store {
    constructor(handle, mountpoint, durable) {
      this.handle = handle;
      this.mountpoint = mountpoint;
      // flush() after every batch (fsync on the disk), or only write() (in the OS).
      this.durable = durable;
      this.end = handle.getSize();
      this.stats = { batches: 0, bytes: 0 };
    }

    static async open(name, mountpoint, durable) {
      const root = await navigator.storage.getDirectory();
      const file = await root.getFileHandle(`${name}.log`, { create: true });
      return new Store(await file.createSyncAccessHandle(), mountpoint, durable);
    }

    close() {
      this.handle.close();
    }

    rel(path) {
      return path.slice(this.mountpoint.length + 1);
    }

    // Writes one batch: `changes` are ["file", path] (the whole file), ["chunks", path, from, to]
    // (the chunks holding bytes [from, to) and the new size), ["tree", path] (everything below),
    // ["mv", from, to], ["del", path], with absolute paths. Returns the bytes written.
    save(changes) {
      const ops = [];
      const payload = [];
      const putFile = (path, node, from, to) => {
        const bytes = node.contents ? node.contents.subarray(0, node.usedBytes) : new Uint8Array(0);
        const size = bytes.byteLength;
        const parts = [];
        if (size <= CHUNK) {
          parts.push([0, size]);
          payload.push(bytes);
        } else {
          const first = Math.floor(Math.min(from, size) / CHUNK);
          const last = Math.ceil(Math.min(to, size) / CHUNK);
          for (let i = first; i < last; i++) {
            const piece = bytes.subarray(i * CHUNK, Math.min(size, (i + 1) * CHUNK));
            parts.push([i * CHUNK, piece.byteLength]);
            payload.push(piece);
          }
        }
        ops.push(["put", this.rel(path), node.mode, node.mtime, size, parts, from === 0 && to >= size]);
      };
      const walk = (path, node) => {
        if (isDir(node.mode)) {
          if (path !== this.mountpoint) ops.push(["dir", this.rel(path), node.mode, node.mtime]);
          for (const name of Object.keys(node.contents)) walk(`${path}/${name}`, node.contents[name]);
        } else if (isFile(node.mode)) {
          putFile(path, node, 0, Infinity);
        }
      };
      for (const [kind, path, a, b] of changes) {
        if (kind === "mv") ops.push(["mv", this.rel(path), this.rel(a)]);
        else if (kind === "del") ops.push(["del", this.rel(path)]);
        else {
          const node = FS.lookupPath(path).node;
          if (kind === "tree") walk(path, node);
          else if (kind === "file") putFile(path, node, 0, Infinity);
          else putFile(path, node, a, b);
        }
      }
      return this.append(ops, payload);
    }

    append(ops, payload) {
      const header = encoder.encode(JSON.stringify(ops));
      const payloadBytes = payload.reduce((n, p) => n + p.byteLength, 0);
      const lengths = new Uint8Array(8);
      const view = new DataView(lengths.buffer);
      view.setUint32(0, header.byteLength, true);
      view.setUint32(4, payloadBytes, true);
      let at = this.end;
      for (const piece of [lengths, header, ...payload]) {
        const written = this.handle.write(piece, { at });
        if (written !== piece.byteLength) throw new Error(`OPFS wrote ${written} of ${piece.byteLength} bytes`);
        at += written;
      }
      if (this.durable) this.handle.flush();
      this.end = at;
      this.stats.batches++;
      this.stats.bytes += 8 + header.byteLength + payloadBytes;
      return payloadBytes;
    }

    // Reads the log back and makes what it holds under the (empty) mount point. Returns counts.
    restore() {
      const handle = this.handle;
      const size = handle.getSize();
      const entries = new Map();
      const lengths = new Uint8Array(8);
      const view = new DataView(lengths.buffer);
      let at = 0;
      while (at + 8 <= size) {
        handle.read(lengths, { at });
        const headerBytes = view.getUint32(0, true);
        const payloadBytes = view.getUint32(4, true);
        const end = at + 8 + headerBytes + payloadBytes;
        if (end > size) break;
        const header = new Uint8Array(headerBytes);
        handle.read(header, { at: at + 8 });
        let p = at + 8 + headerBytes;
        for (const op of JSON.parse(decoder.decode(header))) {
          const [kind, path] = op;
          if (kind === "dir") {
            entries.set(path, { mode: op[2], mtime: op[3] });
          } else if (kind === "put") {
            const [, , mode, mtime, fileSize, parts, whole] = op;
            const prev = entries.get(path);
            const entry = { mode, mtime, size: fileSize, parts: whole || !prev || !prev.parts ? [] : prev.parts };
            for (const [offset, length] of parts) {
              entry.parts.push([offset, p, length]);
              p += length;
            }
            entries.set(path, entry);
          } else if (kind === "mv") {
            const to = op[2];
            const moved = [];
            for (const [key, value] of entries) {
              if (key === path || key.startsWith(path + "/")) moved.push([key, value]);
            }
            for (const [key, value] of moved) {
              entries.delete(key);
              entries.set(to + key.slice(path.length), value);
            }
          } else if (kind === "del") {
            for (const key of [...entries.keys()]) if (key === path || key.startsWith(path + "/")) entries.delete(key);
          }
        }
        at = end;
      }
      // Parents before children: a path sorts after its prefixes.
      const paths = [...entries.keys()].sort();
      const root = FS.lookupPath(this.mountpoint).node;
      const nodes = new Map([["", root]]);
      const counts = { files: 0, dirs: 0, bytes: 0, logBytes: size };
      // Small files, read afterwards: one read() per file made 20,000 of them as slow as
      // IndexedDB, so files lying next to each other in the log are read together (16 MiB at
      // most) and each gets a copy of its own bytes.
      const small = [];
      for (const path of paths) {
        const entry = entries.get(path);
        const slash = path.lastIndexOf("/");
        const parent = nodes.get(slash === -1 ? "" : path.slice(0, slash));
        if (!parent) continue;
        const node = MEMFS.createNode(parent, path.slice(slash + 1), entry.mode, 0);
        if (isFile(entry.mode)) {
          if (entry.size <= CHUNK && entry.parts.length === 1 && entry.parts[0][2] === entry.size) {
            small.push([entry.parts[0][1], entry.size, node]);
          } else {
            const bytes = new Uint8Array(entry.size);
            for (const [offset, logAt, length] of entry.parts) {
              const end = Math.min(entry.size, offset + length);
              if (end > offset) handle.read(bytes.subarray(offset, end), { at: logAt });
            }
            node.contents = bytes;
          }
          node.usedBytes = entry.size;
          counts.files++;
          counts.bytes += entry.size;
        } else {
          nodes.set(path, node);
          counts.dirs++;
        }
        node.atime = node.mtime = node.ctime = entry.mtime;
        adopt(node);
      }
      small.sort((a, b) => a[0] - b[0]);
      for (let i = 0; i < small.length; ) {
        const start = small[i][0];
        let end = start + small[i][1];
        let j = i + 1;
        while (j < small.length && small[j][0] === end && end - start < 16 * 1024 * 1024) end += small[j++][1];
        const run = new Uint8Array(end - start);
        handle.read(run, { at: start });
        for (; i < j; i++) {
          const [at, length, node] = small[i];
          node.contents = run.slice(at - start, at - start + length);
        }
      }
      return counts;
    }
  }

  // MEMFS with fsync(2) saving the file to the store at once; every other operation is MEMFS's.
  const base = MEMFS.ops_table;
  const ops = {};
  const ours = new Map();
  // mount point -> Store
  const current = new Map();
  for (const kind of ["dir", "file", "link"]) {
    ops[kind] = { node: { ...base[kind].node }, stream: { ...base[kind].stream } };
    ours.set(base[kind].node, ops[kind].node);
    ours.set(base[kind].stream, ops[kind].stream);
    ops[kind].stream.fsync = (stream) => {
      const store = current.get(mountOf(stream.node));
      if (!store) return 0;
      store.save([["file", FS.getPath(stream.node)]]);
      return 0;
    };
  }
  function adopt(node) {
    node.node_ops = ours.get(node.node_ops) || node.node_ops;
    node.stream_ops = ours.get(node.stream_ops) || node.stream_ops;
    return node;
  }
  ops.dir.node.mknod = (parent, name, mode, dev) => adopt(base.dir.node.mknod(parent, name, mode, dev));
  ops.dir.node.symlink = (parent, name, target) => adopt(base.dir.node.symlink(parent, name, target));
  function mountOf(node) {
    return node.mount.mountpoint;
  }

  // Mounts an OPFS-backed directory at `mountpoint` and restores it; resolves to [store, counts].
  async function start(name, mountpoint, durable) {
    const store = await Store.open(name, mountpoint, durable);
    FS.mkdirTree(mountpoint);
    FS.mount({ mount: (m) => adopt(MEMFS.mount(m)) }, {}, mountpoint);
    current.set(mountpoint, store);
    return [store, store.restore()];
  }

  return { start, CHUNK };
};
