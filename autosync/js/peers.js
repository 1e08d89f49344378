// Several tabs and workers on one directory: who may write, how each learns what the others
// committed, and what happens when two changed the same file.
//
// - Writing. Every flush of a directory runs while its tab holds the directory's Web Lock (exclusive,
//   named after the database). A tab keeps the lock once it has it, so a lone tab never waits, and
//   gives it up when another tab asks (BroadcastChannel "want"), after saving what it has pending.
//   Having taken the lock, a tab first catches up with what others committed; after that nobody else
//   writes until it lets go, so what it knows of the store is exact, and a flush may write only the
//   chunks that changed -- from the write path too, while Python does not yield. Where there are no
//   Web Locks (Node; pages that are not a secure context) every flush instead checks, inside its own
//   transaction, that no other tab committed since this one caught up, and a flush that cannot wait
//   for that check (write path, fsync, page hide) writes its files whole.
// - Learning. Each commit adds a log record naming the keys it wrote and deleted, and is announced
//   on a BroadcastChannel; a tab that hears of it (or finds it by polling) reads the log from where it
//   stands and applies the records to its memory: new, changed, moved and deleted files appear in
//   the program's open()/os.listdir(). A file this tab holds open for writing is not swapped under
//   it: its new version waits until the file is closed.
// - Conflicts. When another tab changed (or deleted) a file this tab has unsaved changes to, the
//   flush that comes later wins the whole file: this tab's, since it flushes after catching up. Both
//   tabs report it (status().conflicts, a WARNING), and with keep_conflicts the other version is
//   kept beside it as "<name>.conflict-<n>". Directories merge: their children are records of
//   their own, and a directory another tab deleted comes back if this tab added to it.
(function autosyncPeers(FS, lib) {
  "use strict";

  const { store, tree } = lib;
  const { sameKey } = lib.flush;

  // A missed announcement (a tab killed right after its commit, no BroadcastChannel) is found by
  // polling the log this often.
  const POLL_MS = 2000;
  // A tab waiting for the lock asks again this often (the holder may have been busy).
  const WANT_REPEAT_MS = 500;
  // How many conflicts status() keeps.
  const CONFLICTS_KEPT = 50;

  class Peers {
    constructor(mount) {
      this.mount = mount;
      const nav = globalThis.navigator;
      this.locks = nav && nav.locks && typeof nav.locks.request === "function" ? nav.locks : null;
      this.channel = null;
      this.owner = false;
      this.caughtUp = false;
      this.releaseLock = null;
      this.requested = null;
      this.wantTimer = null;
      this.givingWay = false;
      this.catching = null;
      this.again = false;
      this.pollTimer = null;
      this.conflicts = [];
      this.conflictSerial = 0;
      // node -> a change from another tab that waits until the node is closed
      this.deferred = new Map();
      this.stopped = true;
    }

    // Whether this tab may write without checking first: it holds the lock and has caught up.
    get exclusive() {
      return this.locks !== null && this.owner && this.caughtUp;
    }

    // Whether a flush that cannot check first may run at all (see the top of this file).
    get mayWriteBlind() {
      return this.locks === null || this.exclusive;
    }

    start() {
      this.stopped = false;
      if (typeof BroadcastChannel === "function") {
        this.channel = background(new BroadcastChannel(this.mount.dbName));
        this.channel.onmessage = (event) => this.onMessage(event.data);
      }
      this.pollTimer = background(setInterval(() => this.catchUpQuietly(), POLL_MS));
      if (this.locks) this.acquire().catch(() => {});
    }

    stop() {
      this.stopped = true;
      clearInterval(this.pollTimer);
      clearInterval(this.wantTimer);
      this.pollTimer = this.wantTimer = null;
      if (this.channel) this.channel.close();
      this.channel = null;
      this.letGo();
    }

    // ------------------------------------------------------------ the lock

    // Resolves once this tab holds the directory's lock.
    acquire() {
      if (this.owner) return Promise.resolve();
      if (!this.requested) {
        this.requested = new Promise((granted, failed) => {
          this.locks
            .request(this.mount.dbName, { mode: "exclusive" }, () => {
              clearInterval(this.wantTimer);
              this.wantTimer = null;
              this.requested = null;
              if (this.stopped) return undefined;
              this.owner = true;
              this.caughtUp = false;
              granted();
              // Catch up at once, so that the write path may flush as soon as possible.
              if (this.mount.restored) this.catchUp().catch((e) => this.mount.noteError(e));
              return new Promise((release) => (this.releaseLock = release));
            })
            .catch((e) => {
              this.requested = null;
              failed(store.storageError(e));
            });
        });
        this.post({ type: "want" });
        this.wantTimer = background(setInterval(() => this.post({ type: "want" }), WANT_REPEAT_MS));
      }
      return this.requested;
    }

    // Makes this tab able to write: holds the lock (where there are locks) and has caught up.
    async ready(timeoutMs) {
      if (this.locks && !this.owner) {
        await store.bounded(this.acquire(), timeoutMs, "", null).catch((e) => {
          if (e.autosyncKind !== "stalled") throw e;
          const error = new Error(
            `another tab or worker has been saving ${this.mount.mountpoint} for ${Math.round(timeoutMs / 1000)} s and has not given way ` +
              "(it may be running Python that does not yield); the changes here stay pending and are saved once it does"
          );
          error.autosyncKind = "waiting";
          throw error;
        });
      }
      if (!this.caughtUp) await this.catchUp();
    }

    // Another tab asked for the lock: save what is pending, then let go.
    async giveWay() {
      if (!this.owner || this.givingWay) return;
      this.givingWay = true;
      try {
        await this.mount.flushBeforeGivingWay();
      } catch {
        // Failed or not: the changes stay pending and are saved when the lock comes back.
      } finally {
        this.givingWay = false;
        this.letGo();
        if (!this.stopped && this.mount.tracker.count > 0) this.acquire().catch(() => {});
      }
    }

    letGo() {
      this.owner = false;
      this.caughtUp = false;
      const release = this.releaseLock;
      this.releaseLock = null;
      if (release) release();
    }

    // ------------------------------------------------------------ messages

    post(message) {
      if (!this.channel) return;
      try {
        this.channel.postMessage({ ...message, tab: this.mount.tab });
      } catch {
        // a closed channel: nobody to tell
      }
    }

    announce(logKey) {
      this.post({ type: "commit", logKey });
    }

    onMessage(message) {
      if (!message || message.tab === this.mount.tab || this.stopped) return;
      if (message.type === "want") {
        if (this.owner) this.giveWay();
      } else if (message.type === "commit") {
        if (!(message.logKey <= this.mount.flusher.logKey)) this.catchUpQuietly();
      }
    }

    // ------------------------------------------------------------ catching up

    catchUpQuietly() {
      if (this.stopped || !this.mount.restored) return;
      this.catchUp().catch((e) => this.mount.noteError(e));
    }

    // Applies every commit of other tabs since the last catch-up. One at a time.
    catchUp() {
      if (this.catching) {
        this.again = true;
        return this.catching;
      }
      this.catching = (async () => {
        do {
          this.again = false;
          await this.catchUpOnce();
        } while (this.again);
      })().finally(() => {
        this.catching = null;
      });
      return this.catching;
    }

    // Once the restore is done: waits up to `ms` for the lock (another tab may be busy), and
    // catches up, so that a lone tab can flush from the write path right after start().
    async settleIn(ms) {
      if (this.locks) await store.bounded(this.acquire(), ms, "", null).catch(() => {});
      await this.catchUp();
    }

    async catchUpOnce() {
      const mount = this.mount;
      // Owning the lock, nobody else commits: after this catch-up, what this tab knows is exact.
      const owned = this.locks !== null && this.owner;
      const db = await mount.database();
      const flusher = mount.flusher;
      const from = flusher.logKey;
      const { tx, keys, records, floor, format, root } = await store.readChanges(db, from);
      if (format && mount.epoch !== undefined && format.epoch !== mount.epoch) {
        // Deleted and created again (cleared site data, or another tab): nothing known holds.
        await this.rescan(db, false);
        mount.epoch = format.epoch;
      } else if (from < floor) {
        // Behind the trimmed log: compare everything.
        await this.rescan(db, true);
      } else {
        await this.applyLog(db, tx, keys, records, root);
      }
      if (owned && this.owner) this.caughtUp = true;
    }

    async applyLog(db, tx, keys, records, root) {
      const mount = this.mount;
      const flusher = mount.flusher;
      const head = keys.length ? keys[keys.length - 1] : flusher.logKey;
      const touched = new Map();
      const lost = new Map();
      let rootChanged = false;
      for (const record of records) {
        if (!record || record.tab === mount.tab) continue;
        for (const key of [...(record.dels || []), ...(record.puts || [])]) touched.set(store.keyString(key), key);
        if (record.root) rootChanged = true;
        for (const c of record.conflicts || []) lost.set(store.keyString(c.key), c.lost);
      }
      if (touched.size || rootChanged) {
        const keyList = [...touched.values()];
        const values = await store.readRecords(tx, keyList);
        const items = keyList.map((key, i) => ({ key, record: values[i] }));
        await this.fetchBytes(db, tx, items);
        this.apply(items, { absentMeansDeleted: true, lost, root: root || null });
      }
      if (head > flusher.logKey) flusher.logKey = head;
    }

    // Everything stored, compared with memory: after the log was trimmed past this tab, or after
    // the database was created again (then what is missing is not taken as deleted).
    async rescan(db, absentMeansDeleted) {
      const mount = this.mount;
      const info = await store.describe(db);
      const items = [];
      const seen = new Set();
      await store.readNodes(db, 2000, (keys, values) => {
        keys.forEach((key, i) => {
          items.push({ key, record: values[i] });
          seen.add(store.keyString(key));
        });
      });
      for (const node of mount.registry.byId.values()) {
        if (!node.saved || node === mount.root) continue;
        for (const key of node.saved.keys) {
          if (!seen.has(store.keyString(key))) {
            if (absentMeansDeleted) items.push({ key, record: undefined });
            else node.saved = undefined;
          }
        }
      }
      const tx = db.transaction([store.CHUNKS], "readonly");
      await this.fetchBytes(db, tx, items);
      this.apply(items, { absentMeansDeleted, lost: new Map(), root: info.root || null });
      mount.flusher.logKey = info.logHead;
    }

    // Reads the bytes of the changed files among `items` that this tab has not got.
    async fetchBytes(db, tx, items) {
      const mount = this.mount;
      const chunked = [];
      for (const item of items) {
        const r = item.record;
        if (!r || store.recordProblem(item.key, r, mount.chunkSize) || !store.isFileMode(r.mode)) continue;
        const node = mount.registry.get(r.id);
        if (node && node.saved && node.saved.v === r.v) continue;
        if (r.contents !== undefined) item.bytes = store.inlineBytes(r).slice();
        else chunked.push(item);
      }
      if (!chunked.length) return;
      await store.readFiles(
        db,
        tx,
        chunked.map((item) => ({ id: item.record.id, size: item.record.size })),
        mount.chunkSize,
        (f, bytes, error) => {
          if (error) chunked[f].problem = error.message;
          else chunked[f].bytes = bytes;
        },
        () => {}
      );
    }

    // ------------------------------------------------------------ applying other tabs' changes

    apply(items, { absentMeansDeleted, lost, root, closing = null }) {
      const mount = this.mount;
      const reg = mount.registry;
      const tracker = mount.tracker;
      const writing = tree.openForWriting(closing);
      // Directory times to end with: as they were, since adding and removing children bumps them,
      // or as a directory's own record says (which wins, whenever it is applied).
      const dirTimes = new Map();
      const keepTime = (dir) => {
        if (dir && !dirTimes.has(dir)) dirTimes.set(dir, tree.mtimeOf(dir));
      };
      const recordTime = (dir, mtime) => {
        dirTimes.set(dir, mtime);
      };
      const times = { keep: keepTime, record: recordTime };
      const puts = [];
      const dels = [];
      for (const item of items) {
        if (item.record === undefined) {
          if (absentMeansDeleted) dels.push(item);
        } else if (store.recordProblem(item.key, item.record, mount.chunkSize) || item.problem) {
          // A damaged record from elsewhere is reported like one found by a restore, and not applied.
          mount.noteDamaged(item.key, item.problem || store.recordProblem(item.key, item.record, mount.chunkSize));
          // What is stored of this tab's node of that id is not what this tab has: its next save
          // goes whole, never as some chunks over another version's.
          const node = item.record && typeof item.record === "object" ? reg.get(item.record.id) : undefined;
          if (node && node.saved) node.saved = { ...node.saved, chunked: null };
        } else {
          puts.push(item);
        }
      }
      // Ids that other tabs moved or wrote: a node found where one of them now belongs moves too.
      const putIds = new Set(puts.map((item) => item.record.id));
      const floating = new Set();
      // Takes whatever stands at `name` in `parent` out of the way of `node`.
      const clear = (parent, name, node) => {
        if (!Object.prototype.hasOwnProperty.call(parent.contents, name)) return true;
        const other = parent.contents[name];
        if (other === node) return true;
        // Moved in the other tab too: its record puts it elsewhere, unless this tab moved it here
        // and has not saved since -- then it stays (applyPut), and is in the way like any entry
        // of this tab's own. Taken out, it would never come back.
        if (other.asid !== undefined && putIds.has(other.asid) && !(tracker.pendingOn(other) && movedHere(other))) {
          keepTime(parent);
          tree.unlinkNode(other);
          floating.add(other);
          return true;
        }
        if (tracker.pendingOn(other) || !other.saved) return false;
        const key = [reg.idOf(parent), name];
        if (lost.get(store.keyString(key)) === other.saved.v) {
          this.conflict(other, key, null, "changed in this tab and in another tab: the other tab's entry is kept", null, true);
        }
        keepTime(parent);
        tree.unlinkNode(other);
        reg.forget(other);
        return true;
      };

      tracker.paused = true;
      try {
        // Applies the records of `items` whose directory `parentFor` finds, in rounds until a round
        // applies none (a record may wait for its directory's); returns the others.
        const inRounds = (items, parentFor) => {
          let pending = items;
          for (let progress = true; pending.length && progress; ) {
            progress = false;
            const later = [];
            for (const item of pending) {
              const parent = parentFor(reg.get(item.key[0]));
              if (parent && FS.isDir(parent.mode)) {
                progress = true;
                this.applyPut(item, parent, { writing, times, clear, lost, floating });
              } else later.push(item);
            }
            pending = later;
          }
          return pending;
        };
        // Puts, parents first.
        let pending = inRounds(puts, (dir) => (dir && tree.inTree(dir, mount.root) && !floating.has(dir) ? dir : null));
        // Still no parent: it was removed here. A directory this tab deleted comes back for it (and
        // its own parents with it); one brought back for an earlier record serves the later ones.
        pending = inRounds(pending, (dir) => (!dir ? null : tree.inTree(dir, mount.root) ? dir : tracker.removed.has(dir) ? this.resurrect(dir, clear) : null));
        for (const item of pending) mount.noteDamaged(item.key, "its directory is missing");
        for (const node of floating) {
          // Moved out of the way and not placed again: another tab removed it.
          reg.forget(node);
        }
        // Deletions, children before parents (longer keys are not deeper, so sort by depth).
        const gone = [];
        // Nodes by the keys they are stored under as far as this tab knows, made when first needed.
        let byKey = null;
        const storedAt = (key) => {
          if (!byKey) {
            byKey = new Map();
            for (const n of reg.byId.values()) {
              if (!n.saved) continue;
              for (const k of n.saved.keys) {
                const s = store.keyString(k);
                const list = byKey.get(s);
                if (list) list.push(n);
                else byKey.set(s, [n]);
              }
            }
          }
          return byKey.get(store.keyString(key)) || [];
        };
        for (const item of [...dels, ...puts]) {
          const parent = reg.get(item.key[0]);
          const here = parent && parent.contents && Object.prototype.hasOwnProperty.call(parent.contents, item.key[1]) ? parent.contents[item.key[1]] : null;
          const storedHere = here && here.saved && here.saved.keys.some((k) => sameKey(k, item.key));
          // Another tab put another entry where this one is stored: it deleted this one there.
          const replaced = storedHere && item.record && item.record.id !== here.asid;
          if (storedHere && (!item.record || (replaced && !tracker.pendingOn(here)))) {
            // (clear() usually took such an entry out of the other tab's way already; it is still
            // here when the other tab's entry stays elsewhere in this tab: one this tab moved.)
            gone.push([depth(here), here, item.key]);
          } else if (replaced) {
            // This tab's entry stays (its changes keep it: see clear), its record and maybe its
            // chunks deleted: the next flush writes it whole, never as some chunks over what is
            // no longer stored.
            here.saved = { ...here.saved, chunked: null };
            if (FS.isFile(here.mode)) this.track((t) => t.whole(here, Date.now()));
          }
          // Moved away in this tab since it was stored there (a rename not saved yet), and its
          // record there deleted by the other tab, or replaced by another entry's (a deletion and
          // a new entry of that name in one commit): the other tab deleted it, and its chunks with
          // it. This tab's change keeps it, written whole.
          for (const moved of storedAt(item.key)) {
            if (moved === here || putIds.has(moved.asid) || !tree.inTree(moved, mount.root)) continue;
            moved.saved = { ...forgetKey(moved.saved, item.key), chunked: null };
            if (FS.isFile(moved.mode)) {
              this.conflict(moved, item.key, undefined, "moved in this tab, deleted in another tab: this tab's version is kept", null);
              this.track((t) => t.whole(moved, Date.now()));
            }
          }
        }
        gone.sort((a, b) => b[0] - a[0]);
        for (const [, node, key] of gone) this.applyDelete(node, key, { writing, keepTime, putIds });

        if (root && root.v !== (mount.root.saved && mount.root.saved.v) && !tracker.pendingOn(mount.root)) {
          mount.root.mode = root.mode;
          recordTime(mount.root, root.mtime);
          mount.root.saved = { keys: [], chunked: null, v: root.v, mode: root.mode, mtime: root.mtime, size: -1 };
        }
        for (const [dir, mtime] of dirTimes) tree.setTimes(dir, mtime);
      } finally {
        tracker.paused = false;
      }
    }

    applyPut(item, parent, { writing, times, clear, lost, floating }) {
      const keepTime = times.keep;
      const mount = this.mount;
      const reg = mount.registry;
      const tracker = mount.tracker;
      const { key, record } = item;
      const name = key[1];
      let node = reg.get(record.id);
      const isDir = store.isDirMode(record.mode);
      if (node && !tree.inTree(node, mount.root) && !floating.has(node)) {
        if (tracker.removed.has(node)) {
          // Deleted here, changed there.
          const back = store.isDirMode(node.mode) ? this.resurrect(node, clear, [parent, name]) : null;
          if (back) {
            // A directory comes back; its record is taken as it is now.
            node = back;
          } else {
            // What this tab still shows at that place was replaced there: it goes too (the
            // deletion's flush then removes the record, unless an entry of this tab's own is there).
            clear(parent, name, node);
            this.conflict(node, key, record, "deleted here, changed in another tab: deleted", item);
            node.saved = { keys: withKey(node.saved, key), chunked: null, v: record.v, mode: record.mode, mtime: record.mtime, size: -1 };
            return;
          }
        } else {
          node = undefined;
        }
      }
      if (node && kindOf(node.mode) !== kindOf(record.mode)) {
        // The id now names another kind of entry (damaged data, or a tab that took it over): this
        // node cannot become that, so it gives way, unless it has changes of its own here.
        if (tracker.pendingOn(node)) {
          this.conflict(node, key, record, `changed in this tab, replaced by a ${kindOf(record.mode)} in another tab: this tab's version is kept`, item);
          this.takeOwnId(node);
          return;
        }
        if (tree.inTree(node, mount.root)) {
          keepTime(node.parent);
          tree.unlinkNode(node);
        }
        floating.delete(node);
        reg.forget(node);
        node = undefined;
      }
      if (node) {
        floating.delete(node);
        const here = tree.inTree(node, mount.root) && node.parent === parent && node.name === name;
        const loop = !here && isDir && tree.within(parent, node);
        if (!here && isDir && ((tracker.pendingOn(node) && movedHere(node)) || loop)) {
          // A directory this tab moved and has not saved since stays where this tab put it (its
          // flush is the later one), as a file does; and one the other tab moved into a directory
          // this tab has moved into it stays too: moving it there would make a loop.
          const movedThere = !node.saved || !node.saved.keys.some((k) => sameKey(k, key));
          if (movedThere) {
            const why = loop ? `moved in another tab into ${tree.relativePath(parent, mount.root)}, which this tab moved into it` : "moved in this tab and in another tab";
            this.conflict(node, key, record, `${why}: this tab's place is kept`, item);
          }
          node.saved = keptOver(node, key, record);
          this.track((t) => t.meta(node, Date.now()));
          return;
        }
        const both = tracker.pendingOn(node) && !isDir;
        if (both && !here && movedHere(node)) {
          // Both moved it: it stays where this tab put it (the later flush wins), and what this
          // tab had at the other tab's place was replaced there.
          clear(parent, name, node);
        } else if (!here) {
          if (!clear(parent, name, node)) {
            // This tab's own entry there (new, or changed) moves aside: going over the other tab's
            // record would drop what the other tab moved there (a directory: with its children).
            const local = parent.contents[name];
            const aside = this.moveAside(local);
            this.conflict(local, key, record, `made or changed in this tab where another tab moved a ${kindOf(record.mode)}: both are kept, this tab's ${kindOf(local.mode)} is now ${aside}`, item, true);
          }
          keepTime(node.parent);
          keepTime(parent);
          if (tree.inTree(node, mount.root)) tree.moveNode(node, parent, name);
          else {
            parent.contents[name] = node;
            node.parent = parent;
            node.name = name;
            FS.hashAddNode(node);
          }
        }
        if (both) {
          // Both changed it: this tab's version goes whole over the other one's (see the top); the
          // next flush deletes the other record's key if this tab keeps it elsewhere.
          this.conflict(node, key, record, "changed in this tab and in another tab: this tab's version is kept", item);
          node.saved = keptOver(node, key, record);
          this.track((t) => t.whole(node, Date.now()));
          return;
        }
        if (!node.saved || node.saved.v !== record.v) {
          if (writing.has(node) && !tracker.pendingOn(node)) {
            // The stored copy is the other tab's now: whatever this tab writes next goes whole.
            this.deferred.set(node, item);
            node.saved = { ...node.saved, keys: withKey(node.saved, key), chunked: null };
            return;
          }
          const mine = node.saved && lost.get(store.keyString(key)) === node.saved.v;
          if (!tracker.pendingOn(node)) {
            tree.updateNode(node, record, item.bytes);
            if (isDir) times.record(node, record.mtime);
          }
          if (mine) this.conflict(node, key, record, "changed in this tab and in another tab: the other tab's version is kept", item, true);
        }
        node.saved = savedOf(key, record, mount.chunkSize);
        return;
      }
      // A node this tab does not have.
      if (!clear(parent, name, null)) {
        const local = parent.contents[name];
        if (store.isDirMode(local.mode) && isDir && !local.saved) {
          // Both made the directory: one directory, this tab's id gives way to the stored one.
          reg.set(local, record.id);
          local.saved = savedOf(key, record, mount.chunkSize);
          return;
        }
        if (store.isDirMode(local.mode) && isDir) {
          // A directory this tab saved before (under its own id, with its children stored under that
          // id) moved here, and another tab made a directory of that name: both stay, this tab's
          // beside the other one.
          const aside = this.moveAside(local);
          this.conflict(local, key, record, `moved here in this tab and made in another tab: both directories are kept, this tab's is now ${aside}`, item, true);
        } else if (kindOf(local.mode) !== kindOf(record.mode) && isDir) {
          // A file or symlink here, a directory there: the other tab's children are stored under
          // that directory, so it stays, and this tab's entry moves aside, to be saved by the next
          // flush under its new name. Going over the directory's record would leave its children
          // stored under a directory no record names.
          const aside = this.moveAside(local);
          this.conflict(local, key, record, `created in this tab as a ${kindOf(local.mode)} and, as a directory, in another tab: the directory is kept, this tab's ${kindOf(local.mode)} is now ${aside}`, item, true);
        } else if (kindOf(local.mode) !== kindOf(record.mode)) {
          // A directory here, a file or symlink there: this tab's directory goes over the other's
          // record with its own id, and the other's chunks go with the next flush.
          this.conflict(local, key, record, `created in this tab and, as a ${kindOf(record.mode)}, in another tab: this tab's ${kindOf(local.mode)} is kept`, item);
          mount.orphans.add(record.id);
          // The other tab's record is among the places to delete, but not where this tab's
          // directory was stored: one this tab moved here still counts as moved (movedHere).
          const at = local.saved ? local.saved.at || local.saved.keys : undefined;
          local.saved = { keys: withKey(local.saved, key), at, chunked: null, v: record.v, mode: local.mode, mtime: tree.mtimeOf(local), size: -1 };
          this.track((t) => t.meta(local, Date.now()));
          return;
        } else {
          // Both created a file of that name: this tab's goes over it, with the stored id, whole.
          this.conflict(local, key, record, "created in this tab and in another tab: this tab's file is kept", item);
          // Saved before under an id of its own (moved here): that id's chunks go with the next flush.
          if (local.saved && local.asid !== undefined) mount.orphans.add(local.asid);
          const keys = withKey(local.saved, key);
          reg.set(local, record.id);
          local.saved = { keys, chunked: null, v: record.v, mode: local.mode, mtime: tree.mtimeOf(local), size: -1 };
          this.track((t) => (FS.isFile(local.mode) ? t.whole(local, Date.now()) : t.meta(local, Date.now())));
          return;
        }
      }
      keepTime(parent);
      const bytes = store.isFileMode(record.mode) ? item.bytes || new Uint8Array(record.size) : null;
      const created = tree.makeNode(parent, name, record, bytes, mount.ops.adopt);
      if (isDir) times.record(created, record.mtime);
      reg.set(created, record.id);
      created.saved = savedOf(key, record, mount.chunkSize);
    }

    applyDelete(node, key, { writing, keepTime, putIds }) {
      const mount = this.mount;
      const tracker = mount.tracker;
      // Nothing is stored at `key` any more; what is stored elsewhere under this id stays known.
      node.saved = forgetKey(node.saved, key);
      // Moved away (its record is among the puts): the old place only.
      if (putIds.has(node.asid)) return;
      if (tracker.pendingOn(node)) {
        if (store.isDirMode(node.mode)) return;
        this.conflict(node, key, undefined, "changed in this tab, deleted in another tab: this tab's version is kept", null);
        this.track((t) => (FS.isFile(node.mode) ? t.whole(node, Date.now()) : t.meta(node, Date.now())));
        return;
      }
      if (writing.has(node)) {
        // The chunks are gone too: whatever this tab writes next goes whole.
        this.deferred.set(node, { key, record: undefined });
        if (node.saved) node.saved = { ...node.saved, chunked: null };
        return;
      }
      if (FS.isDir(node.mode) && Object.keys(node.contents).length) {
        // Others emptied it as far as they knew; what is still here (added here) keeps it.
        this.track((t) => t.meta(node, Date.now()));
        return;
      }
      keepTime(node.parent);
      tree.unlinkNode(node);
      mount.registry.forget(node);
      node.saved = undefined;
    }

    // Puts a directory this tab deleted back, since another tab added to it: at `at` ([parent,
    // name], where the other tab's record now puts it) or else where it was stored. If this tab
    // made a new directory of that name meanwhile, that one takes the deleted one's id (both are one
    // directory, as when two tabs make a directory of one name); any other entry of this tab's at
    // that name moves aside, as where another tab moved a directory: the directory's children are
    // stored under its id, and going over its record would leave them under a directory no record
    // names. `clear` takes an entry the other tab replaced out of the way. Returns the directory
    // node that now stands for `node`, or null if it has no place to go back to.
    resurrect(node, clear, at = null) {
      const mount = this.mount;
      const tracker = mount.tracker;
      if (!node.saved || !node.saved.keys.length) return null;
      let parent;
      let name;
      if (at) [parent, name] = at;
      else {
        [parent, name] = [mount.registry.get(node.saved.keys[0][0]), node.saved.keys[0][1]];
        // Its directory was deleted here too: that one comes back first.
        if (parent && parent !== node && !tree.inTree(parent, mount.root) && tracker.removed.has(parent)) parent = this.resurrect(parent, clear);
      }
      if (!parent || !tree.inTree(parent, mount.root)) return null;
      if (!clear(parent, name, node)) {
        const local = parent.contents[name];
        if (FS.isDir(local.mode) && !local.saved) {
          tracker.removed.delete(node);
          mount.registry.forget(node);
          mount.registry.set(local, node.asid);
          local.saved = node.saved;
          this.track((t) => t.meta(local, Date.now()));
          return local;
        }
        const aside = this.moveAside(local);
        const key = [mount.registry.idOf(parent), name];
        this.conflict(local, key, null, `put here in this tab where it deleted a directory another tab added to: both are kept, this tab's ${kindOf(local.mode)} is now ${aside}`, null, true);
      }
      node.name = name;
      node.parent = parent;
      parent.contents[name] = node;
      FS.hashAddNode(node);
      tracker.removed.delete(node);
      this.track((t) => t.meta(node, Date.now()));
      return node;
    }

    // `stream` is being closed: a change of another tab that waited for its file comes now, unless
    // another stream still writes to it.
    closed(stream) {
      const node = stream.node;
      const item = this.deferred.get(node);
      if (!item || tree.openForWriting(stream).has(node)) return;
      this.deferred.delete(node);
      this.apply([item], { absentMeansDeleted: true, lost: new Map(), root: null, closing: stream });
    }

    // Records a conflict on `node` (reported by status() and logged by Python), and with
    // keep_conflicts puts the other tab's version beside it.
    conflict(node, key, record, what, item, lostHere = false) {
      const mount = this.mount;
      const path = tree.relativePath(node, mount.root) || store.keyString(key);
      const entry = { path, at: Date.now(), what };
      if (!lostHere && mount.keepConflicts && record && item && store.isFileMode(record.mode) && item.bytes) {
        entry.keptAs = this.keepCopy(node, record, item.bytes);
      }
      if (!lostHere && record) mount.conflictsToLog.push({ key, lost: record.v });
      this.conflicts.push(entry);
      if (this.conflicts.length > CONFLICTS_KEPT) this.conflicts.shift();
      mount.emit("conflict", entry);
    }

    // A name "<name>.conflict-<n>" not taken in `parent`.
    conflictName(parent, name) {
      let free;
      do {
        free = `${name}.conflict-${++this.conflictSerial}`;
      } while (Object.prototype.hasOwnProperty.call(parent.contents, free));
      return free;
    }

    // Moves this tab's `node` to a free name "<name>.conflict-<n>" beside it, as a rename the next
    // flush saves; returns its new path.
    moveAside(node) {
      const mount = this.mount;
      const parent = node.parent;
      const from = node.name;
      tree.moveNode(node, parent, this.conflictName(parent, from));
      // Written whole under its new name: what is stored of it may have been overwritten meanwhile.
      node.saved = node.saved ? { ...node.saved, chunked: null } : undefined;
      this.track((t) => {
        const at = Date.now();
        t.moved(node, parent, from, parent, null, at);
        if (FS.isFile(node.mode)) t.whole(node, at);
      });
      return tree.relativePath(node, mount.root);
    }

    // The other tab's version as a new file "<name>.conflict-<n>" beside `node`; returns its path.
    keepCopy(node, record, bytes) {
      const mount = this.mount;
      const parent = node.parent;
      const copy = tree.makeNode(parent, this.conflictName(parent, node.name), record, bytes.slice(), mount.ops.adopt);
      this.track((t) => t.created(copy, parent, Date.now()));
      return tree.relativePath(copy, mount.root);
    }

    // `node` keeps its changes under an id of its own, leaving the stored record of its old id (and
    // that id's chunks) to whoever has it now; the next flush writes it whole, in its place.
    takeOwnId(node) {
      const mount = this.mount;
      mount.registry.forget(node);
      node.asid = undefined;
      node.saved = node.saved ? { ...node.saved, chunked: null } : undefined;
      this.track((t) => (FS.isFile(node.mode) ? t.whole(node, Date.now()) : t.meta(node, Date.now())));
    }

    // Before a flush: a file this tab changed while another tab's version of it waited for the file
    // to be closed goes whole over that version, which is reported.
    beforeFlush() {
      if (!this.deferred.size) return;
      for (const [node, item] of this.deferred) {
        if (!this.mount.tracker.pendingOn(node)) continue;
        this.deferred.delete(node);
        const what = item.record === undefined ? "deleted in another tab" : "changed in another tab";
        this.conflict(node, item.key, item.record, `changed in this tab while it was open, ${what}: this tab's version is kept`, item);
      }
    }

    // Records a change of this tab's own while other tabs' changes are applied (tracking paused).
    track(change) {
      const tracker = this.mount.tracker;
      const paused = tracker.paused;
      tracker.paused = false;
      try {
        change(tracker);
      } finally {
        tracker.paused = paused;
      }
    }
  }

  // A timer or channel that does not keep a Node process alive by itself (browsers have no such
  // notion).
  function background(handle) {
    if (handle && typeof handle.unref === "function") handle.unref();
    return handle;
  }

  function depth(node) {
    let d = 0;
    for (let n = node; n.parent !== n; n = n.parent) d++;
    return d;
  }

  // `saved` without `key` among the places its record may be.
  function forgetKey(saved, key) {
    return saved ? { ...saved, keys: saved.keys.filter((k) => !sameKey(k, key)) } : saved;
  }

  // Whether `node`, in the tree, stands somewhere other than where it was last stored: moved here
  // and not saved since. Where it was stored is `saved.at` if known apart from the places its
  // record may be (`saved.keys`, which may also name another tab's record this tab goes over).
  function movedHere(node) {
    if (!node.saved || node.parent === node) return false;
    const id = node.parent.asid;
    return !(node.saved.at || node.saved.keys).some((k) => k[0] === id && k[1] === node.name);
  }

  // The keys of `saved` (every place its record may be stored, each deleted by the next flush unless
  // the node is saved there) and `key`. Replacing them by `key` alone would leave the old places
  // stored: one entry under two names.
  function withKey(saved, key) {
    const keys = saved ? saved.keys.slice() : [];
    if (!keys.some((k) => sameKey(k, key))) keys.push(key);
    return keys;
  }

  // What this tab knows of `node`, kept where this tab has it, once the other tab's `record` for it
  // was stored at `key`: that place goes with the next flush, which writes the node whole.
  function keptOver(node, key, record) {
    return { keys: withKey(node.saved, key), at: [key], chunked: null, v: record.v, mode: node.mode, mtime: tree.mtimeOf(node), size: -1 };
  }

  // "file", "directory" or "symlink": a node cannot change from one to another.
  function kindOf(mode) {
    return store.isDirMode(mode) ? "directory" : store.isLinkMode(mode) ? "symlink" : "file";
  }

  // What this tab knows of a record it has applied.
  function savedOf(key, record, chunkSize) {
    return {
      keys: [key],
      chunked: store.isFileMode(record.mode) ? store.chunkCount(record.size, chunkSize) > 0 : null,
      v: record.v,
      mode: record.mode,
      mtime: record.mtime,
      size: store.isFileMode(record.mode) ? record.size : -1,
    };
  }

  return { Peers, savedOf, POLL_MS };
});
