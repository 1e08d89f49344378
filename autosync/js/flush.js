// Saving: a snapshot of everything changed, written in one IndexedDB transaction per flush. Flushes
// start from Python's scheduler (through Mount.flush), from the write path when Python has not
// yielded for max_wait_ms, from fsync(2), and when the page is hidden.
//
// A flush is all or nothing: any failed request aborts its transaction, a transaction that neither
// commits nor aborts within a bound is given up on, and either way every change it held is pending
// again, to be written whole by the next attempt. Removals are issued before puts, so a key freed
// and taken again in one flush ends up holding the new record.
(function autosyncFlush(FS, lib) {
  "use strict";

  const { store, tree } = lib;
  const { chunkCount } = store;

  // How long a commit may take before it counts as stalled: a base for the browser's own latency,
  // plus time for the bytes (a slow disk writes a few MB/s).
  const STALL_BASE_MS = 20000;
  const STALL_BYTES_PER_MS = 4000;
  // Log records kept for tabs that are behind; one further behind reads every record again.
  const LOG_KEEP = 1000;

  const sameKey = (a, b) => a[0] === b[0] && a[1] === b[1];

  class Flusher {
    constructor(mount) {
      this.mount = mount;
      // Flushes issued and not yet settled.
      this.inflight = new Set();
      // With an fsync journal: node -> the versions its stored record may be at while flushes that
      // wrote it are under way (the one before and each one written), for journal.js.
      this.uncertain = new Map();
      // Each flush under way -> node -> what it changed of the node: the places its record was
      // deleted from (`keys`) and the chunks changed since the snapshot before (`chunks`, null for
      // all). A later flush writes them again: were an earlier one to fail and the later one to
      // commit, the later record would otherwise lie over chunks of the version before the failed
      // flush -- a file made of two versions -- or leave the node stored under its old name too.
      // (Once a flush has failed, failed() makes the next save of its nodes whole.)
      this.flying = new Map();
      // The newest log key this tab knows of, and the lowest still kept.
      this.logKey = 0;
      this.logFloor = 0;
      // Absent values are undefined, not null: Pyodide turns undefined into None (null into jsnull).
      this.stats = {
        flushes: 0,
        lastFlushAt: undefined,
        lastDurationMs: undefined,
        lastBytes: undefined,
        lastError: undefined,
        lastErrorKind: undefined,
        failures: 0,
        writePath: 0,
        stalls: 0,
      };
    }

    // Takes the snapshot and issues the transaction, synchronously; a synchronous failure is thrown.
    // `whole`: write every changed file whole (a flush that cannot know what another tab wrote).
    // `durability`: "strict" for fsync. `conflicts`: for the log record (see peers.js).
    issue(options = {}) {
      let writer;
      try {
        writer = this.writer(options);
      } catch (e) {
        throw this.failed(this.mount.tracker.take(), [], e);
      }
      return this.write(writer, options);
    }

    // The same as a promise that never throws synchronously.
    issueAsync(options) {
      try {
        return this.issue(options);
      } catch (e) {
        return Promise.reject(store.storageError(e));
      }
    }

    // A flush that first checks, inside its transaction, that every log record after the one this
    // tab caught up to is its own. Resolves to the commit's promise, or to null (nothing written)
    // when another tab committed meanwhile: the caller catches up and tries again.
    issueChecked(options = {}) {
      let writer;
      try {
        writer = this.writer(options);
      } catch (e) {
        return Promise.reject(store.storageError(e));
      }
      const mount = this.mount;
      return new Promise((resolve, reject) => {
        writer.done.catch(reject);
        writer.logAfter(this.logKey, (keys, records) => {
          if (records.some((r) => !r || r.tab !== mount.tab)) {
            writer.abort();
            resolve(null);
            return;
          }
          if (keys.length) this.logKey = keys[keys.length - 1];
          try {
            resolve(this.write(writer, options));
          } catch (e) {
            reject(e);
          }
        });
      });
    }

    writer({ durability }) {
      const mount = this.mount;
      return new store.Writer(mount.db, { chunkSize: mount.chunkSize, blobs: mount.blobs, durability });
    }

    write(writer, { whole = false, conflicts = [] }) {
      this.mount.peers.beforeFlush();
      conflicts = conflicts.concat(this.mount.takeConflicts());
      const taken = this.mount.tracker.take();
      const started = now();
      const journal = this.mount.journal && this.mount.journal.open ? this.mount.journal : null;
      let written = [];
      let mark = 0;
      const changes = new Map();
      try {
        written = this.snapshot(writer, taken, whole, conflicts, changes);
        this.trim(writer);
        if (journal) mark = this.markJournal(writer, journal, written, this.inflight.size === 0);
      } catch (e) {
        writer.abort();
        throw this.failed(taken, written, e, conflicts);
      }
      const bytes = writer.stats.bytes;
      const over = () => {
        this.inflight.delete(done);
        this.flying.delete(done);
        if (!this.inflight.size) this.uncertain.clear();
      };
      const done = writer.commit(STALL_BASE_MS + bytes / STALL_BYTES_PER_MS).then(
        (stats) => {
          over();
          this.committed(written, stats, started);
          if (journal) journal.covered(mark);
          return stats;
        },
        (e) => {
          over();
          if (e && e.autosyncKind === "stalled") this.stats.stalls++;
          throw this.failed(taken, written, e, conflicts);
        }
      );
      this.inflight.add(done);
      this.flying.set(done, changes);
      return done;
    }

    committed(written, stats, started) {
      const mount = this.mount;
      for (const [node, , removed] of written) if (removed) mount.registry.forget(node);
      if (stats.logKey !== undefined && stats.logKey > this.logKey) this.logKey = stats.logKey;
      const s = this.stats;
      s.flushes++;
      s.failures = 0;
      s.lastFlushAt = Date.now();
      s.lastDurationMs = now() - started;
      s.lastBytes = stats.bytes;
      mount.peers.announce(stats.logKey);
    }

    failed(taken, written, e, conflicts = []) {
      const mount = this.mount;
      mount.conflictsToLog.push(...conflicts);
      // What the transaction wrote did not happen: each node's record is where it was before, or
      // (if an earlier flush is still in flight) where that one puts it. The next save of each
      // deletes every key it may be under and writes its bytes whole.
      for (const [node, prev, removed] of written) {
        if (removed) {
          node.saved = prev;
          continue;
        }
        const tried = node.saved ? node.saved.keys : [];
        const keys = prev ? prev.keys.slice() : [];
        for (const key of tried) if (!keys.some((k) => sameKey(k, key))) keys.push(key);
        // Still moved, if it was (peers.js movedHere): the tried key is among the places only.
        const at = prev ? prev.at || prev.keys : undefined;
        node.saved = { keys, at, chunked: null, v: prev ? prev.v : 0, mode: prev ? prev.mode : -1, mtime: prev ? prev.mtime : -1, size: prev ? prev.size : -1 };
      }
      mount.tracker.giveBack(taken);
      for (const id of taken.orphans || []) mount.orphans.add(id);
      const s = this.stats;
      s.failures++;
      const error = store.storageError(e);
      s.lastError = error.message;
      s.lastErrorKind = error.autosyncKind;
      // A closed connection (storage cleared, browser shutting down) is reopened by the next attempt.
      if (error.autosyncKind === "closed") mount.forgetDatabase();
      mount.flushFailed(error);
      return error;
    }

    // Writes the changes `taken` into `writer`; returns [node, previous saved state, removed] for
    // every node whose saved state it changed, for failed() to undo. Notes in `changes` what it
    // changed of each node (see this.flying).
    snapshot(writer, taken, whole, conflicts, changes) {
      const mount = this.mount;
      const reg = mount.registry;
      const root = mount.root;
      const v = store.randomId();
      const written = [];
      const puts = [];
      const dels = [];
      let rootWritten = false;
      const deleteKey = (key, node) => {
        if (this.claimed(key, node)) return;
        writer.deleteNode(key);
        dels.push(key);
      };
      // Every place `node`'s record may be: as this tab knows it, and as flushes under way found it.
      const placesOf = (node, saved) => {
        const keys = saved ? saved.keys.slice() : [];
        for (const c of this.flown(node)) for (const k of c.keys) if (!keys.some((o) => sameKey(o, k))) keys.push(k);
        return keys;
      };

      taken.orphans = [...mount.orphans];
      mount.orphans.clear();
      for (const id of taken.orphans) if (!reg.get(id)) writer.deleteChunks(id, 0);
      for (const node of taken.removed) {
        const prev = node.saved;
        if (!prev) {
          reg.forget(node);
          continue;
        }
        for (const key of placesOf(node, prev)) deleteKey(key, node);
        // A node without an id (one that gave its id up, peers.js takeOwnId) has no chunks of its own.
        if (!FS.isDir(node.mode) && !FS.isLink(node.mode) && node.asid !== undefined) writer.deleteChunks(node.asid, 0);
        node.saved = undefined;
        written.push([node, prev, true]);
      }

      // Where each changed node goes; its parents are saved first if they were never saved.
      const plan = [];
      const planned = new Set();
      const place = (node, chunks) => {
        if (planned.has(node)) return;
        if (node !== root) {
          if (!tree.inTree(node, root)) return;
          if (!FS.isFile(node.mode) && !FS.isDir(node.mode) && !FS.isLink(node.mode)) {
            // Device nodes are not saved (see README): restoring one as a regular file would be wrong.
            if (node.saved) for (const key of node.saved.keys) deleteKey(key, node);
            return;
          }
          if (node.parent !== root && !node.parent.saved) place(node.parent, undefined);
        }
        planned.add(node);
        const key = node === root ? null : reg.keyOf(node);
        for (const old of placesOf(node, node.saved)) if (!key || !sameKey(old, key)) deleteKey(old, node);
        plan.push([node, chunks, key]);
      };
      for (const [node, chunks] of taken.nodes) place(node, chunks);

      for (const [node, chunks, key] of plan) {
        const prev = node.saved;
        const id = reg.idOf(node);
        const mtime = tree.mtimeOf(node);
        const saved = { keys: key ? [key] : [], chunked: null, v, mode: node.mode, mtime, size: -1 };
        // Its own chunks only (those of the flushes under way are theirs); undefined: not a file.
        let own;
        if (node === root) {
          writer.putRoot({ mode: node.mode, mtime, v });
        } else if (FS.isFile(node.mode)) {
          const bytes = store.asUint8(node.contents || new Uint8Array(0)).subarray(0, node.usedBytes);
          const chunkedNow = chunkCount(bytes.byteLength, mount.chunkSize) > 0;
          // Only some chunks if the stored copy is known to be this file's, chunked, and the
          // flush may rely on what this tab knows of the store.
          const partial = !whole && prev && prev.chunked === true && chunkedNow;
          const list = partial ? this.withFlying(node, chunks === undefined ? [] : chunks) : null;
          const data = writer.fileData(id, bytes, list, !!prev && prev.chunked === chunkedNow);
          own = list === null ? null : chunks || [];
          writer.putNode(key, { id, mode: node.mode, mtime, v, ...data });
          saved.chunked = chunkedNow;
          saved.size = bytes.byteLength;
        } else if (FS.isDir(node.mode)) {
          writer.putNode(key, { id, mode: node.mode, mtime, v });
        } else {
          writer.putNode(key, { id, mode: node.mode, mtime, v, link: node.link });
        }
        if (key) {
          puts.push(key);
          changes.set(node, { keys: prev ? prev.keys : [], chunks: own });
        } else rootWritten = true;
        node.saved = saved;
        written.push([node, prev, false]);
      }
      const entry = { tab: mount.tab, v, puts, dels, at: Date.now() };
      if (rootWritten) entry.root = true;
      if (conflicts.length) entry.conflicts = conflicts;
      writer.log(entry);
      return written;
    }

    // Records in the commit how far it holds this tab's fsync journal, and notes the versions the
    // records it writes may be at until it lands. Returns the entry to report to the journal once it
    // has. Only a flush `alone` (no other one under way) holds every entry written so far: their
    // changes were then either committed or pending, so in this snapshot. An earlier flush still
    // under way may hold some of them and fail, giving them back to a later flush.
    markJournal(writer, journal, written, alone) {
      for (const stale of journal.staleMarks.splice(0)) if (stale !== journal.id) writer.unmarkJournal(stale);
      for (const [node, prev, removed] of written) {
        if (removed || !FS.isFile(node.mode)) continue;
        let versions = this.uncertain.get(node);
        if (!versions) this.uncertain.set(node, (versions = new Set()));
        // v 0: never stored (a failed first flush leaves that, see failed()).
        versions.add(prev && prev.v ? prev.v : null);
        versions.add(node.saved.v);
      }
      const mark = alone ? journal.toMark() : 0;
      if (mark) writer.markJournal(journal.id, mark);
      return mark;
    }

    // Whether another node's record is at `key`, so deleting it for `node` would lose that record.
    claimed(key, node) {
      const parent = this.mount.registry.get(key[0]);
      if (!parent || !parent.contents || !Object.prototype.hasOwnProperty.call(parent.contents, key[1])) return false;
      const other = parent.contents[key[1]];
      return other !== node && !!other.saved && other.saved.keys.some((k) => sameKey(k, key));
    }

    // The chunks of `node` to write: those changed since the last snapshot (`chunks`, null for
    // all) and those flushes under way wrote.
    withFlying(node, chunks) {
      let all = chunks;
      for (const c of this.flown(node)) {
        if (c.chunks === undefined) continue;
        if (all === null || c.chunks === null) return null;
        if (all === chunks) all = new Set(chunks);
        for (const i of c.chunks) all.add(i);
      }
      return all;
    }

    // What the flushes under way changed of `node` (see this.flying), one entry per flush.
    *flown(node) {
      for (const flight of this.flying.values()) {
        const c = flight.get(node);
        if (c) yield c;
      }
    }

    // Drops old log records now and then; the log only serves tabs that are behind.
    trim(writer) {
      if (this.logKey - this.logFloor > 2 * LOG_KEEP) {
        this.logFloor = this.logKey - LOG_KEEP;
        writer.trimLog(this.logFloor);
      }
    }

    // Resolves once every flush issued so far has settled; rejects if one of them failed.
    settled() {
      const all = [...this.inflight];
      if (all.length === 0) return Promise.resolve(null);
      return Promise.allSettled(all).then((results) => {
        const failed = results.find((r) => r.status === "rejected");
        if (failed) throw failed.reason;
        return results[results.length - 1].value;
      });
    }
  }

  // Monotonic where available; some embeddings (a Node vm context) lack `performance`. For durations.
  const now = typeof performance !== "undefined" ? () => performance.now() : () => Date.now();

  return { Flusher, now, sameKey, STALL_BASE_MS };
});
