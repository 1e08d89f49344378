"""The soak's seeded generator: random changes to a directory, as data.

Pure Python (runs on CPython, imports nothing from autosync): a step is a small dict such as
``{"op": "write", "path": "a/b", "offset": 262143, "n": 7, "seed": 51}``, and the page turns it
into the real call (tests/soak/inpage.py). A :class:`Generator` keeps a shadow of each tab's tree
(kinds, sizes, writable bit, open files) so that the steps it makes are valid: the page may then
run them strictly, and an operation that fails there is itself a finding. The same seed gives the
same steps, as long as the shadow is reset from the same restored tree after each kill.

    gen = Generator(seed=7)
    block = gen.block()        # Block(tab=0, steps=[{...}, ...]): changes, then maybe a flush or kill
    gen.reset(0, description)  # after a kill: the tree as restored
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

CHUNK = 256 * 1024  # autosync's chunk size (store.js CHUNK_SIZE); the runner checks the page agrees
NAMES = ("a", "b", "c", "d", "e")  # few names, so paths collide: rename over, create where deleted
# With kinds_apart, each kind of entry has names of its own: two tabs never make a file and a
# directory (or a symlink) of one path.
NAMES_APART = {"f": ("a", "b"), "d": ("d", "e"), "l": ("c",)}
MAX_DEPTH = 3
MAX_FILE = 3 * CHUNK + CHUNK // 2
MAX_TOTAL = 6 * 1024 * 1024
SLOTS = 3  # files kept open at once
# Owner write and search bits stay on for directories: without them the program could not work in
# them, which tests permissions, not autosync.
DIR_MODES = (0o755, 0o700, 0o777, 0o711, 0o750)
FILE_MODES = (0o644, 0o600, 0o666, 0o755, 0o640, 0o444, 0o400)
LINK_TARGETS = ("a", "../b", "c/d", "/soak/a", "nowhere", ".", "x" * 40)

# What a step does, and how often, by kind. Flushes and kills end a block.
WEIGHTS: dict[str, float] = {
    "create": 8,
    "write": 12,
    "append": 5,
    "truncate": 5,
    "rename": 9,
    "unlink": 4,
    "mkdir": 5,
    "rmdir": 3,
    "rmtree": 1,
    "symlink": 3,
    "chmod": 3,
    "utime": 3,
    "open": 3,
    "fdwrite": 5,
    "fdtruncate": 1,
    "close": 2,
    "fsync": 1.5,
    "flush": 6,
    "kill": 0.6,
    "kill_flush": 0.6,
    "kill_fsync": 0.3,
}
ENDS_BLOCK = {"flush", "fsync", "kill", "kill_flush", "kill_fsync"}
KILLS = {"kill", "kill_flush", "kill_fsync"}


@dataclass
class Node:
    kind: str  # "f" file, "d" directory, "l" symlink
    size: int = 0
    writable: bool = True
    children: dict[str, Node] = field(default_factory=dict)


@dataclass
class Shadow:
    """One tab's tree as the generator believes it is, and the files it holds open."""

    root: Node = field(default_factory=lambda: Node("d"))
    # slot -> the node it writes to (still there, or gone from the tree)
    open: dict[int, Node] = field(default_factory=dict)

    def walk(self) -> list[tuple[str, Node]]:
        out: list[tuple[str, Node]] = []
        stack: list[tuple[str, Node]] = [("", self.root)]
        while stack:
            path, node = stack.pop()
            out.append((path, node))
            for name in sorted(node.children):
                stack.append((join(path, name), node.children[name]))
        return out

    def lookup(self, path: str) -> Node | None:
        node = self.root
        for part in path.split("/") if path else []:
            if node.kind != "d" or part not in node.children:
                return None
            node = node.children[part]
        return node

    def total(self) -> int:
        return sum(n.size for _, n in self.walk() if n.kind == "f")

    @classmethod
    def from_description(cls, description: dict[str, list[Any]]) -> Shadow:
        """The tree a page described (tests/soak/inpage.py ``describe``), with nothing open."""
        shadow = cls()
        for path in sorted(description, key=lambda p: p.count("/") if p else -1):
            entry = description[path]
            kind, mode = entry[0], entry[1]
            if not path:
                continue
            parent = shadow.lookup(parent_of(path))
            assert parent is not None and parent.kind == "d", f"{path}: no parent in {description}"
            node = Node(kind, size=entry[3] if kind == "f" else 0, writable=bool(mode & 0o222))
            parent.children[path.rsplit("/", 1)[-1]] = node
        return shadow


def join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def depth(path: str) -> int:
    return path.count("/") + 1 if path else 0


def inside(path: str, top: str) -> bool:
    """Whether ``path`` is ``top`` or below it."""
    return path == top or path.startswith(top + "/")


@dataclass
class Block:
    """Steps one tab runs in one go: changes, and possibly a flush or kill at the end."""

    tab: int
    steps: list[dict[str, Any]]


class Generator:
    """Steps for ``tabs`` tabs on one directory, from ``seed``."""

    def __init__(
        self, seed: int, *, tabs: int = 1, kills: bool = True, kinds_apart: bool = False
    ) -> None:
        self.seed = seed
        self.kinds_apart = kinds_apart
        self.rng = random.Random(seed)
        self.shadows = [Shadow() for _ in range(tabs)]
        self.weights = {k: w for k, w in WEIGHTS.items() if kills or k not in KILLS}

    def reset(self, tab: int, description: dict[str, list[Any]]) -> None:
        self.shadows[tab] = Shadow.from_description(description)

    def shadow(self, tab: int) -> Shadow:
        return copy.deepcopy(self.shadows[tab])

    def set_shadow(self, tab: int, shadow: Shadow) -> None:
        self.shadows[tab] = copy.deepcopy(shadow)
        self.shadows[tab].open.clear()

    def block(self) -> Block:
        tab = self.rng.randrange(len(self.shadows))
        steps: list[dict[str, Any]] = []
        for _ in range(self.rng.randint(1, 6)):
            step = self.step(tab)
            steps.append(step)
            if step["op"] in ENDS_BLOCK:
                break
        return Block(tab, steps)

    def step(self, tab: int) -> dict[str, Any]:
        """One valid step for ``tab`` (its shadow is updated as if it ran)."""
        shadow = self.shadows[tab]
        kinds = list(self.weights)
        weights = list(self.weights.values())
        for _ in range(200):
            op = self.rng.choices(kinds, weights)[0]
            step: dict[str, Any] | None = getattr(self, "_" + op)(shadow)
            if step is not None:
                step["op"] = op
                return step
        raise AssertionError(f"seed {self.seed}: no valid step found")  # pragma: no cover

    # ------------------------------------------------------------ choosing

    def _pick(self, shadow: Shadow, kinds: str, *, root: bool = False) -> tuple[str, Node] | None:
        found = [(p, n) for p, n in shadow.walk() if n.kind in kinds and (root or p)]
        return self.rng.choice(found) if found else None

    def _new_path(self, shadow: Shadow, kind: str) -> tuple[str, Node] | None:
        """A free name for an entry of ``kind`` in a directory not too deep: (path, its parent)."""
        dirs = [(p, n) for p, n in shadow.walk() if n.kind == "d" and depth(p) < MAX_DEPTH]
        self.rng.shuffle(dirs)
        names = NAMES_APART[kind] if self.kinds_apart else NAMES
        for path, node in dirs:
            free = [name for name in names if name not in node.children]
            if free:
                return join(path, self.rng.choice(free)), node
        return None

    def _length(self) -> int:
        r = self.rng.random()
        if r < 0.5:
            return self.rng.randint(1, 300)
        if r < 0.8:
            return self.rng.randint(300, 70_000)
        return self.rng.randint(CHUNK - 5, 2 * CHUNK + 999)

    def _offset(self, size: int) -> int:
        r = self.rng.random()
        if r < 0.45:
            return self.rng.randint(0, size)
        if r < 0.75:  # at a chunk boundary, or one byte either side
            k = self.rng.randint(0, max(1, size // CHUNK + 1))
            return max(0, k * CHUNK + self.rng.choice((-1, 0, 1)))
        return size + self.rng.randint(1, CHUNK + CHUNK // 2)  # past the end: a hole

    def _fit(self, offset: int, n: int) -> tuple[int, int] | None:
        """``offset`` and ``n`` shrunk to stay within MAX_FILE, or None."""
        if offset >= MAX_FILE:
            return None
        return offset, min(n, MAX_FILE - offset)

    def _room(self, shadow: Shadow, grow: int) -> bool:
        return shadow.total() + grow <= MAX_TOTAL

    def _seed(self) -> int:
        return self.rng.randrange(1 << 30)

    # ------------------------------------------------------------ one kind each

    def _create(self, s: Shadow) -> dict[str, Any] | None:
        place = self._new_path(s, "f")
        n = self.rng.choice((0, self._length()))
        if place is None or n > MAX_FILE or not self._room(s, n):
            return None
        path, parent = place
        parent.children[path.rsplit("/", 1)[-1]] = Node("f", size=n)
        return {"path": path, "n": n, "seed": self._seed()}

    def _written(self, s: Shadow, node: Node, offset: int, n: int) -> tuple[int, int] | None:
        """A write of ``n`` bytes at ``offset`` fitted within MAX_FILE and MAX_TOTAL, with the
        shadow updated: (offset, n), or None if there is no room."""
        fit = self._fit(offset, n)
        if fit is None or not self._room(s, max(0, fit[0] + fit[1] - node.size)):
            return None
        node.size = max(node.size, fit[0] + fit[1])
        return fit

    def _write(self, s: Shadow) -> dict[str, Any] | None:
        found = self._pick(s, "f")
        if found is None or not found[1].writable:
            return None
        path, node = found
        fit = self._written(s, node, self._offset(node.size), self._length())
        if fit is None:
            return None
        return {"path": path, "offset": fit[0], "n": fit[1], "seed": self._seed()}

    def _append(self, s: Shadow) -> dict[str, Any] | None:
        found = self._pick(s, "f")
        if found is None or not found[1].writable:
            return None
        path, node = found
        fit = self._written(s, node, node.size, self._length())
        if fit is None:
            return None
        return {"path": path, "n": fit[1], "seed": self._seed()}

    def _new_size(self, s: Shadow, node: Node) -> int | None:
        if self.rng.random() < 0.5:
            size = self.rng.choice((0, self.rng.randint(0, node.size), node.size - 1))
        else:
            size = node.size + self.rng.choice((1, self.rng.randint(1, CHUNK + CHUNK // 2)))
        if size < 0 or size > MAX_FILE or not self._room(s, size - node.size):
            return None
        node.size = size
        return size

    def _truncate(self, s: Shadow) -> dict[str, Any] | None:
        found = self._pick(s, "f")
        if found is None or not found[1].writable:
            return None
        size = self._new_size(s, found[1])
        return None if size is None else {"path": found[0], "size": size}

    def _rename(self, s: Shadow) -> dict[str, Any] | None:
        found = self._pick(s, "fdl")
        if found is None:
            return None
        src, node = found
        src_parent = s.lookup(parent_of(src))
        assert src_parent is not None
        if self.rng.random() < 0.4:  # over an existing entry of a kind rename may replace
            if node.kind == "d":
                targets = [
                    (p, n)
                    for p, n in s.walk()
                    if p and n.kind == "d" and not n.children and not inside(p, src)
                ]
            else:
                kinds = node.kind if self.kinds_apart else "fl"
                targets = [(p, n) for p, n in s.walk() if p and n.kind in kinds and p != src]
            if not targets:
                return None
            dst, _ = self.rng.choice(targets)
            dst_parent = s.lookup(parent_of(dst))
        else:
            place = self._new_path(s, node.kind)
            if place is None:
                return None
            dst, dst_parent = place
            if inside(dst, src):
                return None
        assert dst_parent is not None
        if node.kind == "d" and depth(dst) + self._height(node) > MAX_DEPTH + 1:
            return None
        del src_parent.children[src.rsplit("/", 1)[-1]]
        dst_parent.children[dst.rsplit("/", 1)[-1]] = node
        return {"path": src, "to": dst}

    def _height(self, node: Node) -> int:
        if node.kind != "d" or not node.children:
            return 0
        return 1 + max(self._height(c) for c in node.children.values())

    def _unlink(self, s: Shadow) -> dict[str, Any] | None:
        found = self._pick(s, "fl")
        if found is None:
            return None
        self._detach(s, found[0])
        return {"path": found[0]}

    def _detach(self, s: Shadow, path: str) -> None:
        parent = s.lookup(parent_of(path))
        assert parent is not None
        del parent.children[path.rsplit("/", 1)[-1]]

    def _mkdir(self, s: Shadow) -> dict[str, Any] | None:
        place = self._new_path(s, "d")
        if place is None:
            return None
        path, parent = place
        parent.children[path.rsplit("/", 1)[-1]] = Node("d")
        return {"path": path}

    def _rmdir(self, s: Shadow) -> dict[str, Any] | None:
        empty = [p for p, n in s.walk() if p and n.kind == "d" and not n.children]
        if not empty:
            return None
        path = self.rng.choice(empty)
        self._detach(s, path)
        return {"path": path}

    def _rmtree(self, s: Shadow) -> dict[str, Any] | None:
        full = [p for p, n in s.walk() if p and n.kind == "d" and n.children]
        if not full:
            return None
        path = self.rng.choice(full)
        self._detach(s, path)
        return {"path": path}

    def _symlink(self, s: Shadow) -> dict[str, Any] | None:
        place = self._new_path(s, "l")
        if place is None:
            return None
        path, parent = place
        parent.children[path.rsplit("/", 1)[-1]] = Node("l")
        return {"path": path, "target": self.rng.choice(LINK_TARGETS)}

    def _chmod(self, s: Shadow) -> dict[str, Any] | None:
        found = self._pick(s, "fd", root=self.rng.random() < 0.1)
        if found is None:
            return None
        path, node = found
        mode = self.rng.choice(DIR_MODES if node.kind == "d" else FILE_MODES)
        node.writable = bool(mode & 0o222)
        return {"path": path, "mode": mode}

    def _utime(self, s: Shadow) -> dict[str, Any] | None:
        found = self._pick(s, "fd", root=self.rng.random() < 0.1)
        if found is None:
            return None
        # 2001..2030, to the nanosecond: what survives is whatever precision the page keeps.
        mtime = self.rng.randrange(10**18, 19 * 10**17)
        return {"path": found[0], "atime": mtime - self.rng.randrange(10**12), "mtime": mtime}

    def _open(self, s: Shadow) -> dict[str, Any] | None:
        free = [slot for slot in range(SLOTS) if slot not in s.open]
        found = self._pick(s, "f")
        if not free or found is None or not found[1].writable:
            return None
        slot = self.rng.choice(free)
        s.open[slot] = found[1]
        return {"path": found[0], "slot": slot}

    def _slot(self, s: Shadow) -> tuple[int, Node] | None:
        return self.rng.choice(sorted(s.open.items(), key=lambda i: i[0])) if s.open else None

    def _fdwrite(self, s: Shadow) -> dict[str, Any] | None:
        found = self._slot(s)
        if found is None:
            return None
        slot, node = found
        fit = self._written(s, node, self._offset(node.size), self._length())
        if fit is None:
            return None
        return {"slot": slot, "offset": fit[0], "n": fit[1], "seed": self._seed()}

    def _fdtruncate(self, s: Shadow) -> dict[str, Any] | None:
        found = self._slot(s)
        # ftruncate checks the file's mode, even on a descriptor open for writing.
        if found is None or not found[1].writable:
            return None
        size = self._new_size(s, found[1])
        return None if size is None else {"slot": found[0], "size": size}

    def _close(self, s: Shadow) -> dict[str, Any] | None:
        found = self._slot(s)
        if found is None:
            return None
        del s.open[found[0]]
        return {"slot": found[0]}

    def _fsync(self, s: Shadow) -> dict[str, Any] | None:
        found = self._slot(s)
        return None if found is None else {"slot": found[0]}

    def _flush(self, s: Shadow) -> dict[str, Any] | None:
        return {}

    def _kill(self, s: Shadow) -> dict[str, Any] | None:
        return {}

    def _kill_flush(self, s: Shadow) -> dict[str, Any] | None:
        # How long after starting the flush the browser dies: often before it commits, sometimes after.
        return {"delay_ms": self.rng.choice((0, 1, 3, 10, 30, 100, self.rng.randint(0, 60)))}

    def _kill_fsync(self, s: Shadow) -> dict[str, Any] | None:
        found = self._slot(s)
        if found is None:
            return None
        return {
            "slot": found[0],
            "delay_ms": self.rng.choice((0, 2, 10, 50, self.rng.randint(0, 40))),
        }


def describe_step(step: dict[str, Any]) -> str:
    """``write(path='a/b', offset=3, n=7, seed=51)``: a step as one line, for messages."""
    args = ", ".join(f"{k}={v!r}" for k, v in step.items() if k != "op")
    return f"{step['op']}({args})"
