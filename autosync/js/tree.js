// The in-memory side of a mount: Emscripten's MEMFS nodes, the ids autosync gives them, and the
// direct node operations that restoring and applying other tabs' changes use.
//
// Restore and propagation build and change nodes directly (MEMFS.createNode, the name table), not
// through FS.mkdir/FS.create/FS.rename: those check permissions, so a saved read-only directory
// would refuse its own children (EACCES), and they walk paths, which costs per level. A node's
// saved mode is set as it is, at once; nothing here can be refused by the permissions or by the
// clock.
(function autosyncTree(FS, lib) {
  "use strict";

  const MEMFS = FS.filesystems.MEMFS;
  const { ROOT, isFileMode, isDirMode, isLinkMode } = lib.store;

  // Emscripten's errno values (its own numbering, not Linux's), for messages a user can read.
  const ERRNO_NAMES = {
    1: "E2BIG", 2: "EACCES", 8: "EBADF", 10: "EBUSY", 20: "EEXIST", 22: "EFBIG", 28: "EINVAL",
    29: "EIO", 31: "EISDIR", 32: "ELOOP", 33: "EMFILE", 37: "ENAMETOOLONG", 44: "ENOENT",
    48: "ENOMEM", 51: "ENOSPC", 54: "ENOTDIR", 55: "ENOTEMPTY", 63: "EPERM", 69: "EROFS", 75: "EXDEV",
  };

  // "EACCES creating file" for an Emscripten ErrnoError (whose message is empty), else the message.
  function describeError(e, operation) {
    let text;
    if (e && typeof e.errno === "number" && e.name === "ErrnoError") text = ERRNO_NAMES[e.errno] || `errno ${e.errno}`;
    else if (e && e.name && e.message) text = e.name === "Error" ? e.message : `${e.name}: ${e.message}`;
    else text = String((e && (e.message || e.name)) || e);
    return operation ? `${text} ${operation}` : text;
  }

  // Path of `node` relative to `root`, or null when the node is no longer in the tree.
  function relativePath(node, root) {
    const parts = [];
    for (let n = node; n !== root; n = n.parent) {
      if (n.parent === n || !n.parent.contents || n.parent.contents[n.name] !== n) return null;
      parts.push(n.name);
    }
    return parts.reverse().join("/");
  }

  // Whether `node` is still reachable from `root`.
  function inTree(node, root) {
    for (let n = node; n !== root; n = n.parent) {
      if (n.parent === n || !n.parent.contents || n.parent.contents[n.name] !== n) return false;
    }
    return true;
  }

  // Whether `node` is `dir` or inside it (as the tree stands, reachable or not).
  function within(node, dir) {
    for (let n = node; ; n = n.parent) {
      if (n === dir) return true;
      if (n.parent === n) return false;
    }
  }

  function childPath(dir, name) {
    return dir ? `${dir}/${name}` : name;
  }

  // Every node below and including `node`, parents before children, without recursion (a tree may
  // be deeper than the JavaScript stack). File systems mounted inside are not entered.
  function walk(node, visit, rel = "") {
    const stack = [[node, rel]];
    while (stack.length) {
      const [n, r] = stack.pop();
      visit(n, r);
      if (FS.isDir(n.mode) && !n.mounted && n.contents) {
        for (const name of Object.keys(n.contents)) stack.push([n.contents[name], childPath(r, name)]);
      }
    }
  }

  // ------------------------------------------------------------------ ids

  // Ids of nodes created in this tab: a random 32-bit prefix and a counter, unique across tabs with
  // overwhelming probability and cheap to make. Restored nodes keep their stored ids.
  class Ids {
    constructor() {
      this.prefix = 0;
      this.counter = 0;
      this.renew();
    }
    renew() {
      this.prefix = (lib.store.randomId() % 0xffffffff) + 1;
      this.counter = 0;
    }
    next() {
      if (this.counter >= 0x1fffff) this.renew();
      return this.prefix * 0x200000 + ++this.counter;
    }
  }

  // A mount's map from id to node, and the id of each node (`node.asid`). The root is id 0.
  class Registry {
    constructor(root) {
      this.root = root;
      this.ids = new Ids();
      this.byId = new Map([[ROOT, root]]);
      root.asid = ROOT;
    }
    // The node's id, given one now if it has none (and its parents first: keys name the parent).
    idOf(node) {
      if (node.asid === undefined) this.set(node, this.ids.next());
      return node.asid;
    }
    set(node, id) {
      if (node.asid !== undefined && this.byId.get(node.asid) === node) this.byId.delete(node.asid);
      node.asid = id;
      this.byId.set(id, node);
    }
    get(id) {
      return this.byId.get(id);
    }
    forget(node) {
      if (node.asid !== undefined && this.byId.get(node.asid) === node) this.byId.delete(node.asid);
    }
    // The key [parent id, name] under which `node` belongs now.
    keyOf(node) {
      return [this.idOf(node.parent), node.name];
    }
  }

  // ------------------------------------------------------------------ direct node operations

  // Creates `name` in directory node `parent` from a stored record (already checked), with its mode,
  // times and contents, adopting `bytes` (nobody else holds them). Returns the node.
  function makeNode(parent, name, record, bytes, adopt) {
    const mode = record.mode;
    const node = MEMFS.createNode(parent, name, mode, 0);
    node.mode = mode;
    if (isFileMode(mode)) {
      node.contents = bytes;
      node.usedBytes = bytes.byteLength;
    } else if (isLinkMode(mode)) {
      node.link = record.link;
    }
    setTimes(node, record.mtime);
    adopt(node);
    return node;
  }

  // Gives `node` a stored record's mode, mtime and (for files) bytes, in place: open streams keep
  // reading the same node.
  function updateNode(node, record, bytes) {
    node.mode = record.mode;
    if (isFileMode(record.mode) && bytes) {
      node.contents = bytes;
      node.usedBytes = bytes.byteLength;
    } else if (isLinkMode(record.mode)) {
      node.link = record.link;
    }
    setTimes(node, record.mtime);
  }

  // Emscripten 3.1.58 (Pyodide 0.27) keeps one `timestamp` per node instead of atime, mtime and
  // ctime; reading `mtime` there gives undefined.
  const ONE_TIMESTAMP = "timestamp" in FS.root;

  function mtimeOf(node) {
    return ONE_TIMESTAMP ? node.timestamp : node.mtime;
  }

  function setTimes(node, mtime) {
    if (ONE_TIMESTAMP) node.timestamp = mtime;
    else node.atime = node.mtime = node.ctime = mtime;
  }

  // Takes `node` out of its directory, as unlink/rmdir do after their checks.
  function unlinkNode(node) {
    FS.hashRemoveNode(node);
    delete node.parent.contents[node.name];
  }

  // Moves `node` to `name` in `parent`, as rename does after its checks; the caller has removed
  // whatever was there.
  function moveNode(node, parent, name) {
    FS.hashRemoveNode(node);
    delete node.parent.contents[node.name];
    parent.contents[name] = node;
    node.parent = parent;
    node.name = name;
    FS.hashAddNode(node);
  }

  // The nodes that have a stream open for writing (but `closing`), which must not be swapped
  // under it.
  function openForWriting(closing = null) {
    const nodes = new Set();
    for (const stream of FS.streams) {
      // O_WRONLY is 1, O_RDWR 2 (the access mode is the low two bits).
      if (stream && stream !== closing && stream.node && (stream.flags & 3) !== 0) nodes.add(stream.node);
    }
    return nodes;
  }

  return {
    ERRNO_NAMES,
    describeError,
    relativePath,
    inTree,
    within,
    childPath,
    walk,
    Registry,
    makeNode,
    updateNode,
    setTimes,
    mtimeOf,
    ONE_TIMESTAMP,
    unlinkNode,
    moveNode,
    openForWriting,
    isFileMode,
    isDirMode,
    isLinkMode,
  };
});
