// One autosync mount as JavaScript sees it, and the object autosync/_pyodide.py talks to: it ties
// the hooks (hooks.js), the flushes (flush.js), the restore (restore.js), the other tabs (peers.js)
// and the fsync journal (journal.js) to one directory of Emscripten's file system and one IndexedDB database.
//
// Deciding when to flush while the event loop runs is Python's job (autosync/scheduler.py); what
// must happen synchronously inside a file-system call -- noticing a change, starting a flush from
// the write path when Python has not yielded for max_wait_ms, fsync -- happens here, since calling
// back into Python from inside a system call is not safe.
(function autosyncMount(FS, lib) {
  "use strict";

  const { store, tree, hooks, flush, peers, journal, restore } = lib;
  const MEMFS = FS.filesystems.MEMFS;
  // Emscripten's errno for EIO, returned by fsync when a flush could not even be started.
  const EIO = 29;
  // How long Mount.flush waits for another tab to give way before it reports that.
  const PEER_WAIT_MS = 10000;
  // How long start() waits for another tab to hand over the directory's lock before it returns
  // anyway (the write path can flush only with the lock).
  const LOCK_AT_START_MS = 2000;
  // Reported instead of a negative age when the wall clock stepped back: due at once.
  const CLOCK_STEPPED_BACK_AGE = 1e12;

  // What a promise handed to Python settles to: {value} or {error, kind}. It never rejects, since a
  // rejection reaches Python wrapped beyond recognition (and a DOMException fails conversion).
  function outcome(promise) {
    return promise.then(
      (value) => ({ value, error: undefined, kind: undefined }),
      (e) => ({ value: undefined, error: String((e && e.message) || e), kind: (e && e.autosyncKind) || "failed" })
    );
  }

  class Mount {
    constructor(mountpoint, dbName, { durableFsync = false } = {}) {
      this.mountpoint = mountpoint;
      this.dbName = dbName;
      // This tab's (or worker's) name in log records and messages.
      this.tab = store.randomId();
      this.chunkSize = store.CHUNK_SIZE;
      this.blobs = true;
      this.refusesBlobs = false;
      this.tracker = new hooks.Tracker(this.chunkSize);
      this.db = null;
      this.opening = null;
      this.epoch = undefined;
      this.ops = hooks.makeOps(this);
      this.detached = false;
      // Whether the in-memory tree holds everything that was saved, i.e. a restore has succeeded.
      this.restored = false;
      this.flusher = new flush.Flusher(this);
      this.stats = this.flusher.stats;
      this.peers = new peers.Peers(this);
      // The fsync journal (durable_fsync), opened by the restore.
      this.journal = durableFsync ? new journal.Journal(this) : null;
      this.keepConflicts = false;
      // Conflicts found while catching up, named in this tab's next log record for the other tab.
      this.conflictsToLog = [];
      // Ids whose chunks the next flush deletes: records another tab wrote that this tab's entries
      // replaced (see peers.js).
      this.orphans = new Set();
      // Records the restore or a catch-up did not apply: [{key, id} | {metaKey}].
      this.damaged = [];
      this.progress = undefined;
      // Set by start() once restored: flushes may then start from the write path, fsync and page hide.
      this.running = null;
      this.holdUntil = 0;
      this.removeListeners = null;
      // Python's callback for conflicts and other news (see Mount.emit).
      this.onEvent = null;
      this.storage = { persisted: undefined, usage: undefined, quota: undefined };
      const self = this;
      const type = {
        mount(m) {
          return self.ops.adopt(MEMFS.mount(m));
        },
      };
      this.root = FS.mount(type, {}, mountpoint);
      this.registry = new tree.Registry(this.root);
    }

    // ------------------------------------------------------------ the database

    async database() {
      if (this.db) return this.db;
      if (!this.opening) {
        this.opening = (async () => {
          const db = await store.open(this.dbName);
          const forget = () => {
            if (this.db === db) this.forgetDatabase();
          };
          // Closed under us (storage cleared): the next flush opens it again.
          db.onclose = forget;
          // Another tab deleting or upgrading the database must not be blocked by us.
          db.onversionchange = () => {
            db.close();
            forget();
          };
          this.blobs = await store.canStoreBlobs();
          // Only a refusal says something about the storage (there are no Blobs in some embeddings).
          this.refusesBlobs = store.hasBlobs && !this.blobs;
          this.db = db;
          return db;
        })().finally(() => {
          this.opening = null;
        });
      }
      return this.opening;
    }

    // The connection is gone: the next flush reopens it and first checks what the store holds now
    // (it may have been cleared or created again elsewhere).
    forgetDatabase() {
      const db = this.db;
      this.db = null;
      this.peers.caughtUp = false;
      if (db) {
        try {
          db.close();
        } catch {
          // already closed
        }
      }
    }

    // ------------------------------------------------------------ restore

    // For Python: restores, then settles to the restore's counts (see outcome()).
    restore(onProgress) {
      return outcome(this.restoreAsync(onProgress));
    }

    async restoreAsync(onProgress) {
      // Before anything is read: a journal that cannot be opened fails the start at once.
      if (this.journal) await this.journal.openOwn();
      // Asks for the directory's lock now: holding it during the restore, nobody commits meanwhile.
      this.peers.start();
      if (this.restored) {
        // start() after stop(): the files are here; what other tabs committed meanwhile is applied.
        await this.database();
        await this.peers.settleIn(LOCK_AT_START_MS);
        return { files: 0, dirs: 0, links: 0, bytes: 0, kept: 0, failed: [], migrated: 0, resumed: true };
      }
      this.damaged = [];
      this.tracker.names = new Map();
      let stats;
      try {
        stats = await restore.restore(this, onProgress);
      } finally {
        this.tracker.names = null;
      }
      await this.peers.settleIn(LOCK_AT_START_MS);
      // What os.fsync journaled in tabs that are gone and no commit holds (journal.js): after
      // catching up, so that it is checked against the newest commits.
      if (this.journal) stats.failed.push(...(await this.journal.replay(await this.database())));
      return stats;
    }

    // ------------------------------------------------------------ flushing

    // Called by Python once restored: from now on the write path, fsync and page hide may flush.
    start(maxWaitMs, flushOnHide, options) {
      this.running = { maxWaitMs };
      this.keepConflicts = !!(options && options.keepConflicts);
      this.removeListeners = flushOnHide ? this.onPageHide(() => this.flushBlind({ quiet: true })) : null;
      this.askToPersist(options ? options.persist : "auto");
    }

    // After every tracked change: if the oldest unsaved change is older than max_wait_ms, no Python
    // timer has been able to run (it would have flushed by then), so the write path flushes itself.
    // A negative age means the wall clock stepped back since the change: that flush is due too.
    changed(t) {
      const running = this.running;
      if (running === null) return;
      const age = t - this.tracker.firstAt;
      if (age < running.maxWaitMs && age >= 0) return;
      if (flush.now() < this.holdUntil) return;
      if (this.flushBlind({ quiet: true })) this.stats.writePath++;
    }

    // A flush that runs now, synchronously, without waiting for anything (write path, fsync, page
    // hide). Returns whether one was issued.
    flushBlind({ durability, quiet } = {}) {
      if (!this.db || this.tracker.count === 0) {
        if (this.tracker.count && quiet) this.flushQuietly();
        return false;
      }
      if (!this.peers.mayWriteBlind) {
        // Another tab may be writing: this one's turn comes with the lock (asked for here).
        this.peers.acquire().catch(() => {});
        return false;
      }
      const done = this.flusher.issueAsync({ whole: !this.peers.exclusive, durability, conflicts: this.takeConflicts() });
      done.catch(() => {});
      return true;
    }

    // fsync(2) on `stream`: with durable_fsync, its file is on disk in the journal before this
    // returns (journal.js); then a flush of everything pending starts, with the strongest durability
    // the browser offers. Returns an errno for Emscripten.
    fsync(stream) {
      if (!this.running) return 0;
      if (this.journal && this.journal.open && stream && stream.node && FS.isFile(stream.node.mode)) {
        try {
          this.journal.record(stream.node);
        } catch (e) {
          this.noteError(e);
          return EIO;
        }
      }
      if (this.tracker.count === 0) return 0;
      if (!this.db || !this.peers.mayWriteBlind) {
        this.flushQuietly();
        return 0;
      }
      try {
        this.flusher.issue({ whole: !this.peers.exclusive, durability: "strict", conflicts: this.takeConflicts() }).catch(() => {});
        return 0;
      } catch {
        return EIO;
      }
    }

    // For Python: saves everything changed so far; settles (see outcome()) once it and every flush
    // issued before it committed, to an error if any of them failed (their changes are pending
    // again). Undefined when there is nothing to do.
    flush() {
      if (this.tracker.count === 0 && this.flusher.inflight.size === 0) return undefined;
      return outcome(this.flushAsync());
    }

    async flushAsync() {
      try {
        await this.database();
        let checked = null;
        if (this.tracker.count > 0) {
          await this.peers.ready(PEER_WAIT_MS);
          if (this.peers.exclusive) this.flusher.issue({ conflicts: this.takeConflicts() });
          else checked = await this.checkedFlush();
        }
        const stats = await this.flusher.settled();
        return stats || checked || { puts: 0, deletes: 0, bytes: 0 };
      } catch (e) {
        throw await this.failure(e);
      }
    }

    // A flush for a tab that may not write blind: inside its transaction, before writing, it checks
    // that nobody else committed since this tab caught up; if somebody did, it catches up and tries
    // again.
    async checkedFlush() {
      for (let attempt = 0; ; attempt++) {
        const done = await this.flusher.issueChecked({ conflicts: this.takeConflicts() });
        if (done !== null) return done;
        if (attempt >= 20) throw Object.assign(new Error("other tabs kept committing; the changes stay pending"), { autosyncKind: "busy" });
        await this.peers.catchUp();
      }
    }

    // Saves what is pending before another tab gets the lock.
    async flushBeforeGivingWay() {
      if (this.tracker.count > 0 && this.db && this.peers.exclusive) this.flusher.issue({ conflicts: this.takeConflicts() });
      await this.flusher.settled();
    }

    // A flush whose outcome is only recorded in this.stats (page hide, fsync while reopening).
    flushQuietly() {
      if (this.tracker.count === 0 && this.flusher.inflight.size === 0) return;
      this.flushAsync().catch(() => {});
    }

    takeConflicts() {
      return this.conflictsToLog.splice(0);
    }

    // The error to hand to Python for a failed flush: counted in the stats (once), and saying what
    // is full when the storage is.
    async failure(e) {
      const error = store.storageError(e);
      if (error.autosyncKind === "closed") this.forgetDatabase();
      if (!error.counted) {
        error.counted = true;
        this.stats.failures++;
        this.stats.lastError = error.message;
        this.stats.lastErrorKind = error.autosyncKind;
      }
      if (error.autosyncKind === "quota") {
        await this.refreshStorage();
        error.message = this.quotaMessage(error);
        this.stats.lastError = error.message;
      }
      return error;
    }

    // Called by the flusher for every failed flush, whoever started it.
    flushFailed(error) {
      error.counted = true;
      if (error.autosyncKind === "quota") {
        this.refreshStorage().then(() => {
          if (this.stats.lastErrorKind === "quota") this.stats.lastError = this.quotaMessage(error);
        });
      }
    }

    quotaMessage(error) {
      const { usage, quota } = this.storage;
      const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;
      const known = typeof usage === "number" && typeof quota === "number";
      const base = error.message.replace(/^the browser's storage for this site is full[^:]*: /, "");
      return `the browser's storage for this site is full${known ? ` (${mb(usage)} used of ${mb(quota)})` : ""}: ${base}`;
    }

    // ------------------------------------------------------------ the browser's storage

    async askToPersist(mode) {
      const storage = globalThis.navigator && globalThis.navigator.storage;
      if (!storage) return;
      try {
        // Firefox asks the user; elsewhere the browser decides by itself, silently.
        const prompts = /Firefox\//.test(globalThis.navigator.userAgent || "");
        if (storage.persist && (mode === true || (mode === "auto" && !prompts))) this.storage.persisted = await storage.persist();
        else if (storage.persisted) this.storage.persisted = await storage.persisted();
      } catch {
        // Not offered here (workers have no persist()).
      }
      await this.refreshStorage();
    }

    async refreshStorage() {
      const storage = globalThis.navigator && globalThis.navigator.storage;
      if (!storage || !storage.estimate) return;
      try {
        const { usage, quota } = await storage.estimate();
        this.storage.usage = usage;
        this.storage.quota = quota;
      } catch {
        // estimate() refused: keep what was known
      }
    }

    // ------------------------------------------------------------ what Python reads

    // Python's scheduler holds back write-path flushes after a failure (backoff).
    hold(ms) {
      this.holdUntil = flush.now() + ms;
    }

    pending() {
      const t = Date.now();
      const tracker = this.tracker;
      const age = (at) => {
        if (!tracker.count) return 0;
        const a = t - at;
        return a < 0 ? CLOCK_STEPPED_BACK_AGE : a;
      };
      return {
        count: tracker.count,
        entries: tracker.entries(),
        firstAgeMs: age(tracker.firstAt),
        lastAgeMs: age(tracker.lastAt),
        inflight: this.flusher.inflight.size,
      };
    }

    // What the other tabs and the browser's storage look like from here.
    shared() {
      const p = this.peers;
      return {
        conflicts: p.conflicts.slice(),
        waitingForPeer: p.locks !== null && !p.owner && this.tracker.count > 0,
        deferred: p.deferred.size,
        persisted: this.storage.persisted,
        usage: this.storage.usage,
        quota: this.storage.quota,
        refusesBlobs: this.refusesBlobs,
        locks: p.locks !== null,
        durableFsync: !!(this.journal && this.journal.open),
      };
    }

    // Python's callback: called with (kind, detail) for news it logs ("conflict", "error").
    emit(kind, detail) {
      if (!this.onEvent) return;
      try {
        this.onEvent(kind, detail);
      } catch {
        // A logging failure must not break applying changes.
      }
    }

    noteError(e) {
      this.emit("error", { message: store.storageError(e).message });
    }

    noteDamaged(key, why) {
      this.damaged.push({ key });
      this.emit("damaged", { path: restore.describeKey(key), why });
    }

    // For Python: deletes the records the restore reported as damaged (and their chunks); settles
    // to how many (see outcome()).
    discardDamaged() {
      return outcome(this.discardDamagedAsync());
    }

    async discardDamagedAsync() {
      const db = await this.database();
      const list = this.damaged.splice(0);
      if (!list.length) return 0;
      const tx = db.transaction([store.NODES, store.CHUNKS, store.META], "readwrite");
      const done = store.settle(tx);
      for (const { key, id, metaKey } of list) {
        if (metaKey) tx.objectStore(store.META).delete(metaKey);
        else {
          tx.objectStore(store.NODES).delete(key);
          if (id !== undefined && !this.registry.get(id)) tx.objectStore(store.CHUNKS).delete(IDBKeyRange.bound([id, 0], [id, Infinity]));
        }
      }
      await done;
      return list.length;
    }

    whenDirty() {
      return this.tracker.whenDirty();
    }

    wake() {
      this.tracker.wake();
    }

    // ------------------------------------------------------------ the program's files

    // A file was closed: another tab's version of it may now replace it.
    closed(stream) {
      if (this.peers.deferred.size) this.peers.closed(stream);
    }

    // Stops tracking: the mount stays, with MEMFS's own operations on every node and open stream.
    detach() {
      if (this.detached) return;
      this.detached = true;
      this.running = null;
      if (this.removeListeners) this.removeListeners();
      this.removeListeners = null;
      this.peers.stop();
      if (this.journal) this.journal.close();
      this.tracker.wake();
      this.ops.swapAll(this.root, this.ops.theirs);
      this.forgetDatabase();
    }

    // Resumes tracking after detach(), for start() on a path that was stopped or failed to restore.
    // Nothing was tracked while detached: what changed since is found by comparing the tree with
    // what this tab last saved (place, mode, mtime, size), so the next flush writes those changes
    // and removes only what this tab had saved and is gone now -- never what another tab saved.
    reattach() {
      if (!this.detached) return;
      this.detached = false;
      const old = this.tracker;
      this.tracker = new hooks.Tracker(this.chunkSize);
      this.ops = hooks.makeOps(this);
      this.ops.swapAll(this.root, this.ops.ours);
      this.peers = new peers.Peers(this);
      const t = Date.now();
      if (!this.restored) {
        // The saved data was never read: everything here is added to it (the restore keeps it).
        tree.walk(this.root, (node) => {
          if (node === this.root) return;
          if (FS.isFile(node.mode)) this.tracker.whole(node, t);
          else this.tracker.meta(node, t);
        });
        return;
      }
      const present = new Set();
      tree.walk(this.root, (node) => {
        present.add(node);
        const s = node.saved;
        if (node === this.root) {
          if (!s || s.mode !== node.mode || s.mtime !== tree.mtimeOf(node)) this.tracker.meta(node, t);
          return;
        }
        if (!s) {
          if (FS.isFile(node.mode)) this.tracker.whole(node, t);
          else this.tracker.meta(node, t);
          return;
        }
        const key = this.registry.keyOf(node);
        const moved = !s.keys.some((k) => flush.sameKey(k, key));
        const changed = s.mode !== node.mode || s.mtime !== tree.mtimeOf(node) || (FS.isFile(node.mode) && s.size !== node.usedBytes);
        if (changed && FS.isFile(node.mode)) this.tracker.whole(node, t);
        else if (changed || moved) this.tracker.meta(node, t);
      });
      for (const node of this.registry.byId.values()) {
        if (!present.has(node) && node.saved) this.tracker.dropped(node, node.parent, node.name, t);
      }
      for (const node of old.removed) if (node.saved) this.tracker.dropped(node, node.parent, node.name, t);
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
    // For tests: failures injected into real transactions (store.js).
    faults: store.faults,
    hasIndexedDB: () => typeof indexedDB !== "undefined" && indexedDB !== null,
    canJournal: journal.available,
    // `options.durableFsync`: journal fsync'd files (journal.js); start() fails where it cannot.
    attach(mountpoint, dbName, options = {}) {
      let existing = collectMounts().find((m) => m.mountpoint === mountpoint && m.autosync);
      if (existing) {
        existing = existing.autosync;
        existing.reattach();
        if (options.durableFsync && !existing.journal) existing.journal = new journal.Journal(existing);
        if (!options.durableFsync) existing.journal = null;
        return existing;
      }
      const mount = new Mount(mountpoint, dbName, options);
      mount.root.mount.autosync = mount;
      return mount;
    },
    // Mount points of every mount below `/`, with the name of its file system type when it is ours.
    mounts() {
      return collectMounts().map((m) => [m.mountpoint, m.autosync ? "autosync" : "other"]);
    },
  };
});
