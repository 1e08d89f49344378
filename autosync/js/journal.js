// A durable os.fsync in dedicated workers (the durable_fsync setting). fsync(2) can only start an
// IndexedDB commit, not wait for it: a kill in the few milliseconds before it lands loses the file.
// With this setting, fsync first appends the file's unsaved bytes to a journal in the Origin Private
// File System through a synchronous access handle, whose flush() returns once they are on disk, and
// only then returns. IndexedDB stays the store of record:
//
// - Each tab or worker has a journal file of its own (a synchronous access handle locks its file).
//   The flush fsync starts commits as before; every commit writes, in its own transaction, how far
//   it covers this tab's journal (meta ["journal", tab] = the last entry whose change it holds), and
//   once a commit covers every entry the journal is emptied.
// - A restore replays the journals of tabs that are gone (a live tab's file is locked) from their
//   mark on. An entry names the versions of the stored file it was written against; where the store
//   holds another one now, a tab committed that file after the fsync (or the commit landed after
//   all), and the entry is not applied: never reverted over a later commit. That is reported, with
//   the fsync'd version kept beside as "<name>.conflict-<n>" where the entry holds all of it.
//   A replayed journal is removed once a commit holds what it brought.
//
// An entry: "ASJ1" | u32 body length | u32 FNV-1a of the body | body, where body = u32 header
// length | header (JSON) | bytes. The file is written at its end only; a torn or damaged entry ends
// it (a kill during fsync: that fsync never returned).
(function autosyncJournal(FS, lib) {
  "use strict";

  const { store, tree } = lib;
  const MAGIC = 0x314a5341; // "ASJ1", little-endian
  const HEAD = 12;
  const DIR = "autosync-journals";
  const SUFFIX = ".journal";
  const APPLIED = "applied";
  const HELD = "held";
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  // Synchronous access handles exist in dedicated workers only (not on a page, not in Node).
  function available() {
    const nav = globalThis.navigator;
    return typeof globalThis.FileSystemSyncAccessHandle === "function" && !!(nav && nav.storage && typeof nav.storage.getDirectory === "function");
  }

  function fnv(bytes) {
    let h = 0x811c9dc5;
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
    return h >>> 0;
  }

  function encode(header, parts) {
    const json = encoder.encode(JSON.stringify(header));
    let length = 4 + json.byteLength;
    for (const p of parts) length += p.byteLength;
    const out = new Uint8Array(HEAD + length);
    const view = new DataView(out.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, length, true);
    view.setUint32(HEAD, json.byteLength, true);
    out.set(json, HEAD + 4);
    let at = HEAD + 4 + json.byteLength;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    view.setUint32(8, fnv(out.subarray(HEAD)), true);
    return out;
  }

  // The entries of a journal, up to the first torn or damaged one: [{header, bytes}].
  function decode(handle) {
    const size = handle.getSize();
    const out = [];
    const head = new Uint8Array(HEAD);
    const view = new DataView(head.buffer);
    for (let at = 0; at + HEAD <= size; ) {
      if (handle.read(head, { at }) !== HEAD || view.getUint32(0, true) !== MAGIC) break;
      const length = view.getUint32(4, true);
      if (length < 4 || at + HEAD + length > size) break;
      const body = new Uint8Array(length);
      if (handle.read(body, { at: at + HEAD }) !== length || fnv(body) !== view.getUint32(8, true)) break;
      const jsonLength = new DataView(body.buffer).getUint32(0, true);
      if (4 + jsonLength > length) break;
      let header;
      try {
        header = JSON.parse(decoder.decode(body.subarray(4, 4 + jsonLength)));
      } catch {
        break;
      }
      if (!header || typeof header !== "object") break;
      out.push({ header, bytes: body.subarray(4 + jsonLength) });
      at += HEAD + length;
    }
    return out;
  }

  class Journal {
    constructor(mount) {
      this.mount = mount;
      // "<tab>.<n>": its file's name and its mark's key. New for every journal, so that one started
      // again in the same tab never takes the marks of an earlier one for its own.
      this.id = `${mount.tab}.${store.randomId()}`;
      this.dir = null;
      this.handle = null;
      this.size = 0;
      // The last entry written, and the last one a commit holds (meta ["journal", tab]).
      this.seq = 0;
      this.marked = 0;
      // Other tabs' journals replayed by the restore: removed once a commit holds what they brought.
      this.replayed = [];
      // Marks of journals that no longer exist, deleted by the next flush.
      this.staleMarks = [];
    }

    get open() {
      return this.handle !== null;
    }

    // Opens (creating) this tab's journal. Asynchronous, as the browser's API is: done at start.
    async openOwn() {
      if (this.handle) return;
      if (!available()) {
        const e = new Error(
          "durable_fsync needs the Origin Private File System's synchronous access handles, which browsers offer in dedicated Web Workers only; run Pyodide in a worker, or leave durable_fsync off"
        );
        e.autosyncKind = "journal";
        throw e;
      }
      try {
        const root = await globalThis.navigator.storage.getDirectory();
        const top = await root.getDirectoryHandle(DIR, { create: true });
        this.dir = await top.getDirectoryHandle(encodeURIComponent(this.mount.dbName), { create: true });
        const file = await this.dir.getFileHandle(this.id + SUFFIX, { create: true });
        this.handle = await file.createSyncAccessHandle();
        // After stop() and start() the same tab reopens its journal: what it holds stays.
        this.size = this.handle.getSize();
      } catch (e) {
        const error = new Error(`durable_fsync: the journal in the Origin Private File System could not be opened: ${(e && e.name) || ""} ${(e && e.message) || e}`.trim());
        error.autosyncKind = "journal";
        throw error;
      }
    }

    // fsync(2) on `node`: appends what of it is not in the store yet and waits for the disk.
    // Synchronous; throws if the journal cannot be written (fsync then fails with EIO).
    record(node) {
      const mount = this.mount;
      const tracker = mount.tracker;
      const uncertain = mount.flusher.uncertain.get(node);
      const pending = tracker.nodes.has(node);
      // Neither changed since the last snapshot nor in a commit still under way: stored already.
      if (!pending && !uncertain) return;
      const id = mount.registry.idOf(node);
      const path = tree.relativePath(node, mount.root);
      if (path === null || path === "") return;
      const saved = node.saved;
      const size = node.usedBytes;
      const bytes = store.asUint8(node.contents || new Uint8Array(0)).subarray(0, size);
      const chunks = pending ? tracker.nodes.get(node) : null;
      // In a commit under way only: a flush after this entry holds it, so the journal is emptied.
      if (!pending) tracker.meta(node, Date.now());
      const header = { seq: this.seq + 1, at: Date.now(), id, path: path.split("/"), size, mode: node.mode, mtime: tree.mtimeOf(node) };
      let parts;
      if (!uncertain && saved && saved.chunked === true && chunks !== null) {
        // Only the chunks written since the stored version, which is known to have landed.
        const cs = mount.chunkSize;
        const list = chunks ? [...chunks].filter((i) => i * cs < size).sort((a, b) => a - b) : [];
        header.known = [saved.v];
        header.chunks = list;
        parts = list.map((i) => bytes.subarray(i * cs, Math.min((i + 1) * cs, size)));
      } else {
        // All of it: the stored version may be any of those a commit under way leaves.
        const known = new Set(uncertain || []);
        // v 0: never stored (a failed first flush leaves that, see flush.js failed()).
        known.add(saved && saved.v ? saved.v : null);
        header.known = [...known];
        parts = [bytes];
      }
      const entry = encode(header, parts);
      // A short write (the origin's quota) leaves a torn entry, which the next one overwrites.
      if (this.handle.write(entry, { at: this.size }) !== entry.byteLength) throw new Error("the fsync journal could not be written in full (is the storage full?)");
      this.handle.flush();
      this.size += entry.byteLength;
      this.seq = header.seq;
    }

    // For a flush's snapshot: the entry it covers, if its commit should record it.
    toMark() {
      return this.handle && this.seq > this.marked ? this.seq : 0;
    }

    // A commit that holds entries up to `seq` (0: none of this tab's) has landed.
    covered(seq) {
      if (seq > this.marked) this.marked = seq;
      if (this.handle && this.seq === this.marked && this.size > 0) {
        this.handle.truncate(0);
        this.handle.flush();
        this.size = 0;
      }
      if (this.replayed.length) {
        const done = this.replayed.splice(0);
        for (const { name, handle } of done) {
          handle.close();
          this.dir.removeEntry(name).catch(() => {});
        }
      }
    }

    // Reads the journals of tabs that are gone and applies what the store does not hold yet, after a
    // restore. Returns problems to report (strings), as the restore reports damaged records.
    async replay(db) {
      const problems = [];
      const found = [];
      const files = new Set();
      for await (const [name, handle] of this.dir.entries()) {
        if (!name.endsWith(SUFFIX)) continue;
        const journal = name.slice(0, -SUFFIX.length);
        const tab = journal.split(".")[0];
        files.add(journal);
        if (journal === this.id || handle.kind !== "file") continue;
        let sync;
        try {
          sync = await handle.createSyncAccessHandle();
        } catch {
          continue; // held by a tab or worker that is running: it saves its own
        }
        const entries = decode(sync);
        // Held until a commit holds what it brought, so that no other tab replays it meanwhile.
        this.replayed.push({ name, handle: sync });
        for (const entry of entries) found.push({ journal, tab, ...entry });
      }
      const { marks, writers } = await store.readJournalMarks(db, found.length > 0);
      for (const [journal] of marks) if (!files.has(journal)) this.staleMarks.push(journal);
      found.sort((a, b) => a.header.at - b.header.at || a.header.seq - b.header.seq);
      let applied = 0;
      // Nodes this replay changed: a later entry of the same file goes over the earlier one.
      const replayed = new Set();
      for (const entry of found) {
        if (entry.header.seq <= (marks.get(entry.journal) || 0)) continue;
        const outcome = this.apply(entry, replayed, writers);
        if (outcome === APPLIED) applied++;
        else if (outcome !== HELD) problems.push(outcome);
      }
      // Nothing for a commit to hold: the journals can go now.
      if (!applied) this.covered(0);
      return problems;
    }

    // Applies one entry past its journal's mark: APPLIED, HELD (a later commit of the same tab holds
    // it: a commit without a mark, taken while another was under way), or a problem to report.
    apply({ tab, header, bytes }, replayed, writers) {
      const mount = this.mount;
      const reg = mount.registry;
      const shown = header.path.join("/");
      const problem = entryProblem(header, bytes, mount.chunkSize);
      if (problem) return `${shown}: the fsync journal of tab ${tab} holds a damaged entry (${problem}); not applied`;
      let node = reg.get(header.id);
      if (node && !tree.inTree(node, mount.root)) node = undefined;
      const stored = node && node.saved ? node.saved.v : null;
      if (node && mount.tracker.nodes.has(node) && !replayed.has(node)) {
        return `${shown}: saved by os.fsync in a tab or worker that closed before committing it, and changed here while the restore ran: this change is kept`;
      }
      if (node && !header.known.includes(stored) && writers.get(stored) === tab) return HELD;
      if (!header.known.includes(stored) || (node && !FS.isFile(node.mode))) {
        const why = `${shown}: saved by os.fsync in a tab or worker that closed before committing it, and changed in another tab since: the later commit is kept`;
        if (header.chunks) return `${why}; the fsync'd change is lost`;
        const kept = this.placeNew(header, bytes, true);
        return kept ? `${why}; the fsync'd version is now ${tree.relativePath(kept, mount.root)}` : `${why}; the fsync'd version could not be placed`;
      }
      if (!node) {
        node = this.placeNew(header, bytes, false);
        if (!node) return `${shown}: saved by os.fsync in a tab or worker that closed before committing it, but its directory is now a file: not applied`;
        reg.set(node, header.id);
        replayed.add(node);
        return APPLIED;
      }
      let contents = bytes.slice();
      if (header.chunks) {
        contents = new Uint8Array(header.size);
        const old = store.asUint8(node.contents || new Uint8Array(0)).subarray(0, node.usedBytes);
        contents.set(old.subarray(0, Math.min(old.byteLength, header.size)));
        let at = 0;
        for (const i of header.chunks) {
          const n = Math.min(mount.chunkSize, header.size - i * mount.chunkSize);
          contents.set(bytes.subarray(at, at + n), i * mount.chunkSize);
          at += n;
        }
      }
      tree.updateNode(node, header, contents);
      mount.tracker.whole(node, Date.now());
      replayed.add(node);
      return APPLIED;
    }

    // The directory `path` (names) belongs in, made where missing; null if a non-directory is in
    // the way.
    parentOf(path) {
      const mount = this.mount;
      let dir = mount.root;
      for (const name of path.slice(0, -1)) {
        if (Object.prototype.hasOwnProperty.call(dir.contents, name)) {
          dir = dir.contents[name];
          if (!FS.isDir(dir.mode)) return null;
          continue;
        }
        const made = tree.makeNode(dir, name, { mode: 0o40777, mtime: Date.now() }, null, mount.ops.adopt);
        mount.tracker.created(made, dir, Date.now());
        dir = made;
      }
      return dir;
    }

    // The entry's file made where it belonged, or `beside` that (always, or where that name is
    // taken) as "<name>.conflict-<n>"; the node, or null where a non-directory is in the way.
    placeNew(header, bytes, beside) {
      const mount = this.mount;
      const parent = this.parentOf(header.path);
      if (!parent) return null;
      let name = header.path[header.path.length - 1];
      if (beside || Object.prototype.hasOwnProperty.call(parent.contents, name)) name = mount.peers.conflictName(parent, name);
      const node = tree.makeNode(parent, name, header, bytes.slice(), mount.ops.adopt);
      mount.tracker.created(node, parent, Date.now());
      return node;
    }

    // Closes this tab's journal (stop, detach): removed when nothing in it is uncommitted.
    close() {
      const handle = this.handle;
      if (!handle) return;
      this.handle = null;
      const empty = this.size === 0;
      handle.close();
      if (empty) this.dir.removeEntry(this.id + SUFFIX).catch(() => {});
      for (const { handle: h } of this.replayed.splice(0)) h.close();
    }
  }

  // Why an entry read back cannot be applied, or null.
  function entryProblem(header, bytes, chunkSize) {
    const { id, path, size, mode, mtime, known, chunks } = header;
    if (!Number.isSafeInteger(id) || id <= 0) return "no id";
    if (!Array.isArray(path) || !path.length || path.some((n) => store.nameProblem(n))) return "a bad path";
    if (!Number.isSafeInteger(size) || size < 0) return "a bad size";
    if (!store.isFileMode(mode)) return "not a file's mode";
    if (!Number.isFinite(mtime)) return "a bad time";
    if (!Array.isArray(known)) return "no versions";
    if (chunks === undefined) return bytes.byteLength === size ? null : "bytes that disagree with its size";
    if (!Array.isArray(chunks) || chunks.some((i) => !Number.isSafeInteger(i) || i < 0 || i * chunkSize >= size)) return "bad chunks";
    const expected = chunks.reduce((n, i) => n + Math.min(chunkSize, size - i * chunkSize), 0);
    return bytes.byteLength === expected ? null : "bytes that disagree with its chunks";
  }

  return { Journal, available, encode, decode };
});
