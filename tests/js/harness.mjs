// Loads real Pyodide (its Emscripten file system) in Node with fake-indexeddb, and autosync's
// JavaScript modules the way autosync/_pyodide.py does, so each module's behaviour can be tested
// on Node alone: no Python code runs, the file system is driven through Pyodide's FS.
import "fake-indexeddb/auto";
import { readFileSync, readdirSync as fsReaddirSync, statSync as fsStatSync } from "node:fs";
import vm from "node:vm";
import { loadPyodide } from "pyodide";

export const MODULES = ["store", "tree", "hooks", "flush", "peers", "journal", "restore", "mount"];

export function source(name) {
  return readFileSync(new URL(`../../autosync/js/${name}.js`, import.meta.url), "utf8");
}

// The modules built on `FS` (null: only the ones that do not need it, e.g. store).
export function load(FS, names = MODULES) {
  const lib = {};
  for (const name of names) lib[name] = vm.runInThisContext(source(name))(FS, lib);
  return lib;
}

// A Pyodide runtime ("a tab"): its FS and the autosync API object (lib.mount).
export async function tab() {
  const pyodide = await loadPyodide();
  const FS = pyodide.FS;
  const lib = load(FS);
  return { pyodide, FS, lib, api: lib.mount };
}

// Mounts `path` in `runtime` as autosync.start() does (timers are Python's, so none here: only
// flush() and the write path save). Rejects with `kind` if the restore fails; `restoredOut`, if
// given, receives the restore's counts.
// `name`: the database, if not the one for `path`.
export async function start(runtime, path, { keepConflicts = false, restoredOut = null, name = null, durableFsync = false } = {}) {
  if (!runtime.FS.analyzePath(path).exists) runtime.FS.mkdirTree(path);
  const m = runtime.api.attach(path, name || `autosync:${path}`, { durableFsync });
  const outcome = await m.restore(null);
  if (outcome.error) throw Object.assign(new Error(outcome.error), { kind: outcome.kind });
  if (restoredOut) Object.assign(restoredOut, outcome.value);
  m.start(10 ** 9, false, { keepConflicts, persist: false });
  return m;
}

// Saves everything pending in mount `m`; the commit's stats, or null when there was nothing.
export async function flush(m) {
  const done = m.flush();
  if (!done) return null;
  const outcome = await done;
  if (outcome.error) throw Object.assign(new Error(outcome.error), { kind: outcome.kind });
  return outcome.value;
}

// Resolves after `ms` milliseconds.
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Waits until `check()` is truthy (polled), or fails after `ms`.
export async function until(check, ms = 5000, what = "a condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// A stand-in for the browser's Web Locks API, shared by every tab of this process (Node has none):
// exclusive locks granted in request order, held until the callback's promise settles.
export class Locks {
  constructor() {
    this.held = new Map();
    this.queues = new Map();
  }
  request(name, options, callback) {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(name) || [];
      this.queues.set(name, queue);
      queue.push({ callback, resolve, reject });
      this.grant(name);
    });
  }
  grant(name) {
    if (this.held.get(name)) return;
    const queue = this.queues.get(name);
    if (!queue || !queue.length) return;
    const { callback, resolve, reject } = queue.shift();
    this.held.set(name, true);
    Promise.resolve()
      .then(() => callback({ name, mode: "exclusive" }))
      .then(resolve, reject)
      .finally(() => {
        this.held.set(name, false);
        this.grant(name);
      });
  }
}

// Copies the autosync package from this checkout into `pyodide`'s site-packages, for tests that
// run Python (import autosync) in a Node tab.
export function installAutosync(pyodide) {
  const { readdirSync, statSync } = require_fs();
  const from = new URL("../../autosync/", import.meta.url).pathname;
  const site = pyodide.runPython("import sysconfig; sysconfig.get_paths()['purelib']");
  const copy = (src, dst) => {
    pyodide.FS.mkdirTree(dst);
    for (const name of readdirSync(src)) {
      if (name === "__pycache__") continue;
      const path = `${src}/${name}`;
      if (statSync(path).isDirectory()) copy(path, `${dst}/${name}`);
      else pyodide.FS.writeFile(`${dst}/${name}`, readFileSync(path));
    }
  };
  copy(from.replace(/\/$/, ""), `${site}/autosync`);
}

function require_fs() {
  return { readdirSync: fsReaddirSync, statSync: fsStatSync };
}

// A kill of a tab with durable_fsync: mount `m` dropped without a flush (once the commits under
// way have settled), its journal's lock released as the browser releases a dead worker's.
export async function killWithJournal(m) {
  await m.flusher.settled().catch(() => {});
  m.journal.handle.close();
  m.journal.handle = null;
  m.detach();
}

// A stand-in for the Origin Private File System as a dedicated worker sees it (Node has none):
// directories, files, and synchronous access handles that lock their file until closed, as
// Chromium's do. install() puts it where journal.js looks (navigator.storage.getDirectory).
export class Opfs {
  constructor() {
    this.root = new OpfsDirectory();
  }
  install() {
    globalThis.FileSystemSyncAccessHandle = OpfsSyncHandle;
    const nav = globalThis.navigator || (globalThis.navigator = {});
    nav.storage = { ...(nav.storage || {}), getDirectory: async () => this.root };
  }
  uninstall() {
    delete globalThis.FileSystemSyncAccessHandle;
    if (globalThis.navigator && globalThis.navigator.storage) delete globalThis.navigator.storage.getDirectory;
  }
  // The files under `path` (names), name -> bytes.
  files(...path) {
    let dir = this.root;
    for (const name of path) dir = dir.children.get(name);
    const out = new Map();
    if (dir) for (const [name, entry] of dir.children) if (entry.kind === "file") out.set(name, entry.data);
    return out;
  }
}

function domError(name, message) {
  return Object.assign(new Error(message), { name });
}

class OpfsDirectory {
  constructor() {
    this.kind = "directory";
    this.children = new Map();
  }
  async getDirectoryHandle(name, { create = false } = {}) {
    return this.child(name, create, OpfsDirectory);
  }
  async getFileHandle(name, { create = false } = {}) {
    return this.child(name, create, OpfsFile);
  }
  child(name, create, Kind) {
    let entry = this.children.get(name);
    if (!entry) {
      if (!create) throw domError("NotFoundError", `${name} not found`);
      this.children.set(name, (entry = new Kind()));
    }
    if (!(entry instanceof Kind)) throw domError("TypeMismatchError", `${name} is of another kind`);
    return entry;
  }
  async removeEntry(name) {
    const entry = this.children.get(name);
    if (!entry) throw domError("NotFoundError", `${name} not found`);
    if (entry.locked) throw domError("NoModificationAllowedError", `${name} is in use`);
    this.children.delete(name);
  }
  async *entries() {
    for (const pair of [...this.children]) yield pair;
  }
}

class OpfsFile {
  constructor() {
    this.kind = "file";
    this.data = new Uint8Array(0);
    this.locked = false;
  }
  async createSyncAccessHandle() {
    if (this.locked) throw domError("NoModificationAllowedError", "the file is open elsewhere");
    this.locked = true;
    return new OpfsSyncHandle(this);
  }
}

class OpfsSyncHandle {
  constructor(file) {
    this.file = file;
    this.flushes = 0;
  }
  bytes(buffer) {
    return buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  read(buffer, { at = 0 } = {}) {
    const out = this.bytes(buffer);
    const n = Math.max(0, Math.min(out.byteLength, this.file.data.byteLength - at));
    out.set(this.file.data.subarray(at, at + n));
    return n;
  }
  write(buffer, { at = 0 } = {}) {
    const bytes = this.bytes(buffer);
    if (at + bytes.byteLength > this.file.data.byteLength) this.truncate(at + bytes.byteLength);
    this.file.data.set(bytes, at);
    return bytes.byteLength;
  }
  truncate(size) {
    const data = new Uint8Array(size);
    data.set(this.file.data.subarray(0, Math.min(size, this.file.data.byteLength)));
    this.file.data = data;
  }
  getSize() {
    return this.file.data.byteLength;
  }
  flush() {
    this.flushes++;
  }
  close() {
    this.file.locked = false;
  }
}
