"""Runs the soak's steps in real pages, kills them, and checks what comes back against the model.

One tab (:func:`run_one_tab`). Flushes are explicit (the mount's timers are set hours out): right
before each ``await mount.flush()``, in the same synchronous block, the page describes its tree
(paths, modes, sizes, content hashes, link targets, mtimes), so the description is exactly what
that flush snapshots. The model is that list of descriptions:

- after an awaited flush returns, the saved tree is its description (every earlier flush has
  committed too: IndexedDB commits them in order);
- ``os.fsync`` starts a flush whose snapshot is taken inside the call and whose commit nobody
  awaits: it may or may not have landed when the browser dies;
- so after a kill the restored tree must equal the last awaited flush's description, or that of
  one of the flushes started after it (an fsync, or the flush the kill interrupted) -- never
  anything else, and ``status().restored["failed"]`` must be empty.

Two tabs of one profile (:func:`run_two_tabs`), each running its own steps on overlapping paths.
The tabs' flushes do not snapshot one tree: "the later flush wins the whole file", another
tab's commits reach a tab whenever it catches up, and a tab that gives the directory's lock
to the other one first saves what it has pending, between any two of its steps. So the
restored tree is not one a single flush described. What must hold after every kill:

- every restored file is byte-identical to a content one of the tabs had (made by one of its
  own steps, or restored): never parts of two versions. Every content either tab ever holds
  is made by its own steps (contents from the other tab arrive whole), so the page hashes
  the file after each step that changes bytes, and that set is complete;
- every restored symlink points where one of the tabs pointed one;
- every path that an awaited flush saved (in that tab's tree right before the flush, or
  restored at the start) is still there, unless one of the tabs removed it. "Removed" is
  judged twice over, since the tabs may see one entry under different paths: by path (the
  tab unlinked it or a directory above it, renamed it or a directory above it away, or
  renamed something over a directory above it), and by autosync's id of the entry and of
  the directories above it (stable across tabs: inpage.listing), of which the removing steps
  report theirs. Only steps that succeeded count;
- the restore reports no damaged records, and a second tab restores the same tree as the first.

Not asserted: modes and mtimes (either tab's, per entry), and whether anything extra is
there (a directory one tab removed comes back when the other added to it; a path can be
made of renames from both tabs).

Every failure is a :class:`SoakFailure` naming the seed, the step and what differed; a seed replays
the same steps (``./dev soak --seed S``) as long as every kill that interrupts a flush lands on the
same side of its commit, and, with two tabs, up to the first kill (what the tabs restore after it
decides what they do next).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.soak.steps import CHUNK, ENDS_BLOCK, Generator, Shadow, describe_step, inside

INPAGE = Path(__file__).with_name("inpage.py")
Tree = dict[str, list[Any]]


class Target(Protocol):
    """A page (or Node runtime) with the soak's in-page module loaded as ``_soak``."""

    def python(self, code: str) -> Any:
        """Runs ``code`` (top-level await allowed), which sets ``_out``; returns ``_out``."""
        ...


def prelude() -> str:
    """Code that loads tests/soak/inpage.py into a page as module ``_soak``."""
    return (
        "import types, sys\n"
        "_soak = types.ModuleType('_soak')\n"
        "sys.modules['_soak'] = _soak\n"
        f"exec(compile({INPAGE.read_text()!r}, 'soak/inpage.py', 'exec'), _soak.__dict__)\n"
        "_out = None"
    )


class Env(Protocol):
    """Where the tabs run, and what a kill is there."""

    def open(self, tabs: int) -> list[Target]:
        """Fresh tabs of one profile with ``_soak`` loaded (autosync not started)."""
        ...

    def crash(self, tabs: Sequence[Target], step: dict[str, Any], tab: int) -> Crash:
        """Ends the tabs at ``step`` (a kill step of tab ``tab``)."""
        ...


@dataclass
class Crash:
    #: Descriptions of flushes started by the crash step itself (the one it interrupts).
    started: list[Tree] = field(default_factory=list)
    #: Whether those flushes surely committed (Node's reload stops the mount, which saves).
    committed: bool = False


class SoakFailure(AssertionError):
    """A seed's run went wrong at step ``index``: the message says what, and how to replay it."""

    def __init__(
        self,
        seed: int,
        tabs: int,
        index: int,
        step: dict[str, Any] | None,
        what: str,
        counts: Counts,
        options: str = "",
    ) -> None:
        where = f"step {index}" + (f" {describe_step(step)}" if step else "")
        replay = (
            f"./dev soak --seed {seed} --steps {max(index, 1)}"
            + (" --tabs 2" if tabs == 2 else "")
            + options
        )
        super().__init__(
            f"seed {seed} ({tabs} tab{'s' * (tabs > 1)}), {where}: {what}\nreplay: {replay}"
        )
        self.seed = seed
        self.index = index
        #: What the run did before it failed.
        self.counts = counts


@dataclass
class Counts:
    operations: int = 0
    flushes: int = 0
    kills: int = 0
    #: Kills that interrupted a flush: how many restored the tree before it and after it.
    before: int = 0
    after: int = 0
    #: Two tabs: steps that failed because the other tab had changed the tree.
    skipped: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


# ---------------------------------------------------------------- where the tabs run


# A call into a page that has not answered after this long is taken as a hang (a loop that never
# ends): the browser is killed, which makes the call fail, and the seed fails saying so. The
# slowest honest call (a restore of the soak's tree, a flush waiting for the other tab) takes
# seconds.
HANG_S = 120.0


class PageTarget:
    """A Chromium page (demo.browser.Page); ``on_hang`` kills its browser."""

    def __init__(self, page: Any, on_hang: Callable[[], None]) -> None:
        self.page = page
        self.on_hang = on_hang

    def python(self, code: str) -> Any:
        hung = threading.Event()

        def fire() -> None:
            hung.set()
            self.on_hang()

        watchdog = threading.Timer(HANG_S, fire)
        watchdog.start()
        try:
            return self.page.python(code + "\n_out")
        except Exception as e:
            if hung.is_set():
                raise RuntimeError(
                    f"the page did not answer within {HANG_S:.0f} s (it hangs: a loop that never "
                    "ends?); the browser was killed"
                ) from e
            raise
        finally:
            watchdog.cancel()


class ChromiumEnv:
    """Tabs of one real Chromium profile (demo.browser.Browser); a kill is a SIGKILL of every
    Chromium process, and the tabs come back in a browser started again on the same profile."""

    def __init__(self, browser: Any, url: str) -> None:
        self.browser = browser
        self.url = url + "?manual=1"
        self.killed = False

    def open(self, tabs: int) -> list[Target]:
        if self.killed:
            self.browser.start()
            self.killed = False
        out: list[Target] = []
        for i in range(tabs):
            page = self.browser.open_another(self.url) if i else self.browser.open(self.url)
            target = PageTarget(page, self.hang)
            target.python(prelude())
            out.append(target)
        return out

    def hang(self) -> None:
        self.killed = True
        self.browser.kill()

    def crash(self, tabs: Sequence[Target], step: dict[str, Any], tab: int) -> Crash:
        started = start_flushes(tabs, step, tab, "_soak.flush_later()")
        time.sleep(step.get("delay_ms", 0) / 1000)
        self.browser.kill()
        self.killed = True
        return Crash(started)


class ReloadEnv:
    """One Pyodide runtime without a browser to kill (Node): a kill drops the mount without a
    flush and forgets its files (inpage.abandon); a kill during a flush becomes a reload that
    stops the mount first (inpage.reload), so everything is saved."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.loaded = False

    def open(self, tabs: int) -> list[Target]:
        assert tabs == 1, "one runtime is one tab"
        if not self.loaded:
            self.target.python(prelude())
            self.loaded = True
        return [self.target]

    def crash(self, tabs: Sequence[Target], step: dict[str, Any], tab: int) -> Crash:
        if step["op"] == "kill_flush":
            return Crash([describe_then(tabs[0], "await _soak.reload()")], committed=True)
        started = start_flushes(tabs, step, tab, "")
        tabs[0].python("_soak.abandon()\n_out = None")
        return Crash(started)


def start_flushes(tabs: Sequence[Target], step: dict[str, Any], tab: int, flush: str) -> list[Tree]:
    """For a kill step: starts the flushes it interrupts (``flush`` in every tab, or the fsync in
    tab ``tab``) without waiting for them; their trees, each described in the same block."""
    if step["op"] == "kill_flush" and flush:
        return [describe_then(t, flush) for t in (tabs[tab], *tabs[:tab], *tabs[tab + 1 :])]
    if step["op"] == "kill_fsync":
        fsync = {"op": "fsync", "slot": step["slot"]}
        strict = len(tabs) == 1
        return [
            describe_then(
                tabs[tab],
                f"_r = _soak.run([{fsync!r}], strict={strict})\n"
                "assert _r['failed'] is None, _r['error']",
            )
        ]
    return []


# ---------------------------------------------------------------- the in-page calls


def start(tab: Target) -> dict[str, Any]:
    restored: dict[str, Any] = tab.python("_out = await _soak.start()")
    assert restored["chunk"] == CHUNK, f"the page's chunk size is {restored['chunk']}, not {CHUNK}"
    return restored


def run_steps(tab: Target, steps: list[dict[str, Any]], *, strict: bool) -> dict[str, Any]:
    result: dict[str, Any] = tab.python(f"_out = _soak.run({steps!r}, strict={strict})")
    return result


def describe_then(tab: Target, then: str) -> Tree:
    """The tree, described in the same synchronous block as ``then`` (which starts a flush)."""
    tree: Tree = tab.python(f"_out = _soak.describe()\n{then}")
    return tree


def damaged(tab: Target, failed: list[str]) -> str:
    """The restore's complaints, with the stored records and log entries they concern."""
    ids = {int(m) for f in failed for m in re.findall(r"(?:\bid |\(directory )(\d+)", f)}
    return f"the restore reported damaged records: {failed}\n" + stored_report(tab, ids=ids)


def stored_summary(tab: Target, restored: dict[str, Any]) -> str:
    """How much IndexedDB holds, the restore's counts, and the last commits."""
    stored = tab.python("_out = await _soak.stored()")
    return (
        f"  the restore: {restored.get('restored')}\n"
        f"  stored: {len(stored['nodes'])} records, {len(stored['chunks'])} chunks, "
        f"{len(stored['log'])} commits; the last ones (log key, tab, commit, puts, dels, "
        "conflicts):\n    " + "\n    ".join(map(str, stored["log"][-5:]))
    )


def stored_report(tab: Target, *, ids: Iterable[int] = (), keys: Sequence[Any] = ()) -> str:
    """What IndexedDB holds about entries ``ids`` (and their children) and keys ``keys``: their
    records, chunks and the commits that wrote or deleted them."""
    stored = tab.python("_out = await _soak.stored()")
    wanted_ids = set(ids)
    nodes = [
        n for n in stored["nodes"] if n[1] in wanted_ids or n[0][0] in wanted_ids or n[0] in keys
    ]
    wanted = {json.dumps(n[0]) for n in nodes} | {json.dumps(k) for k in keys}
    node_ids = {n[1] for n in nodes} | wanted_ids
    chunks = {i: sorted(c[1:] for c in stored["chunks"] if c[0] == i) for i in node_ids}
    # From the first commit naming those keys on: a later one may have removed what they need
    # (their directory's record) without naming them.
    first = next(
        (
            i
            for i, r in enumerate(stored["log"])
            if wanted & {json.dumps(k) for k in (r[3] or []) + (r[4] or [])}
        ),
        len(stored["log"]),
    )
    log = stored["log"][first : first + 12]
    return (
        "  stored records ([parent id, name], id, commit, mode, size, inline bytes):\n    "
        + "\n    ".join(map(str, nodes))
        + f"\n  stored chunks by id ([index], or [first, n] for a run): {chunks}"
        + "\n  commits from the first that wrote or deleted those keys"
        + " (log key, tab, commit, puts, dels, conflicts):\n    "
        + "\n    ".join(map(str, log))
    )


# ---------------------------------------------------------------- comparing trees


def differences(
    expected: Tree, actual: Tree, *, root_mtime: bool = True, limit: int = 8
) -> list[str]:
    """What differs between two descriptions, one line per path (at most ``limit``)."""
    fields = {
        "d": ("mode", "mtime_ns"),
        "f": ("mode", "mtime_ns", "size", "sha"),
        "l": ("mode", "mtime_ns", "target"),
    }
    out = []
    for path in sorted(set(expected) | set(actual)):
        e, a = expected.get(path), actual.get(path)
        name = repr(path or "/")
        if e is None:
            out.append(f"{name}: not expected, restored as {a}")
        elif a is None:
            out.append(f"{name}: missing, expected {e}")
        elif e[0] != a[0]:
            out.append(f"{name}: expected {e}, restored {a}")
        else:
            diff = [
                f"{f} {ev!r} expected, {av!r} restored"
                for f, ev, av in zip(fields[e[0]], e[1:], a[1:], strict=True)
                if ev != av and not (f == "mtime_ns" and not path and not root_mtime)
            ]
            if diff:
                out.append(f"{name} ({e[0]}): " + "; ".join(diff))
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


@dataclass
class State:
    """A tree some flush snapshots, and the generator's shadow of it."""

    tree: Tree
    shadow: Shadow
    label: str
    #: The tree of a fresh start, before anything was saved: the directory's own mtime is the
    #: time start() created it, which nothing saves.
    fresh: bool = False


# ---------------------------------------------------------------- one tab


def run_one_tab(
    env: Env,
    seed: int,
    steps: int,
    *,
    log: Callable[[str], None] = print,
    trace: Callable[[str], None] | None = None,
) -> Counts:
    """``steps`` random steps in one tab, with kills; raises SoakFailure on the first mismatch.
    ``trace`` gets every step as it runs."""
    gen = Generator(seed)
    counts = Counts()
    [tab] = env.open(1)
    restored = start(tab)
    gen.reset(0, restored["tree"])
    committed = State(restored["tree"], gen.shadow(0), "the fresh start", fresh=True)
    maybe: list[State] = []
    index = 0
    batch: list[tuple[int, dict[str, Any]]] = []

    def fail(i: int, step: dict[str, Any] | None, what: str) -> SoakFailure:
        return SoakFailure(seed, 1, i, step, what, counts)

    def flush_batch() -> None:
        if not batch:
            return
        if trace:
            for i, step in batch:
                trace(f"{i} {describe_step(step)}")
        result = run_steps(tab, [s for _, s in batch], strict=True)
        if result["failed"] is not None:
            i, step = batch[result["failed"]]
            raise fail(i, step, f"the step failed in the page: {result['error']}")
        counts.operations += len(batch)
        batch.clear()

    step: dict[str, Any] | None = None
    try:
        while index < steps:
            block = gen.block()
            for step in block.steps:
                index += 1
                op = step["op"]
                if op not in ENDS_BLOCK:
                    batch.append((index, step))
                    continue
                flush_batch()
                label = f"step {index} {describe_step(step)}"
                if trace:
                    trace(f"{index} {describe_step(step)}")
                if op == "flush":
                    try:
                        tree = describe_then(tab, "await _soak.mount.flush()")
                    except RuntimeError as e:
                        raise fail(index, step, f"flush() raised: {e}") from e
                    counts.flushes += 1
                    fresh = committed.fresh and tree == committed.tree
                    committed, maybe = State(tree, gen.shadow(0), label, fresh), []
                elif op == "fsync":
                    try:
                        tree = describe_then(
                            tab,
                            f"_r = _soak.run([{step!r}], strict=True)\n"
                            "assert _r['failed'] is None, _r['error']",
                        )
                    except RuntimeError as e:
                        raise fail(index, step, f"fsync failed: {e}") from e
                    counts.flushes += 1
                    maybe.append(State(tree, gen.shadow(0), label))
                else:
                    crash = env.crash([tab], step, 0)
                    counts.kills += 1
                    started = [
                        State(t, gen.shadow(0), label + " (interrupted)") for t in crash.started
                    ]
                    candidates = started if crash.committed else [committed, *maybe, *started]
                    [tab] = env.open(1)
                    restored = start(tab)
                    if restored["failed"]:
                        raise fail(index, step, damaged(tab, restored["failed"]))
                    match = next(
                        (
                            c
                            for c in candidates
                            if not differences(c.tree, restored["tree"], root_mtime=not c.fresh)
                        ),
                        None,
                    )
                    if match is None:
                        report = "\n".join(
                            f"  against the tree at {c.label}:\n    "
                            + "\n    ".join(
                                differences(c.tree, restored["tree"], root_mtime=not c.fresh)
                            )
                            for c in candidates
                        )
                        raise fail(
                            index,
                            step,
                            "the restored tree is none of the trees a flush may have saved "
                            f"(the last awaited flush, or one started after it):\n{report}\n"
                            + stored_summary(tab, restored),
                        )
                    if started and not crash.committed:
                        if any(match is s for s in started):
                            counts.after += 1
                        else:
                            counts.before += 1
                    committed = State(
                        restored["tree"], match.shadow, f"the restore at {label}", match.fresh
                    )
                    maybe = []
                    gen.set_shadow(0, match.shadow)
                if index >= steps:
                    break
    except SoakFailure:
        raise
    except Exception as e:
        raise fail(index, step, f"{type(e).__name__}: {e}") from e
    flush_batch()
    log(
        f"seed {seed}: {counts.operations} operations, {counts.flushes} flushes, "
        f"{counts.kills} kills ({counts.before} before / {counts.after} after an interrupted flush)"
    )
    return counts


# ---------------------------------------------------------------- two tabs


def affected(path: str, removals: Iterable[tuple[str, str, str]]) -> bool:
    """Whether a removal took ``path`` away: it or a directory above it was unlinked, removed or
    renamed, or a rename replaced a directory above it."""
    for op, src, dst in removals:
        if inside(path, src):
            return True
        if op == "rename" and path.startswith(dst + "/"):
            return True
    return False


REMOVING = {"unlink", "rmdir", "rmtree", "rename"}


@dataclass
class Epoch:
    """What two tabs did since the last restore."""

    #: The tree restored at its start.
    tree: Tree
    #: Paths some flush surely saved (restored at the start, or in a tab's tree at an awaited
    #: flush), with the autosync ids of their entries and the directories above them.
    saved: dict[str, set[int]]
    #: Every content either tab had (see inpage.version), by hash; and link target.
    versions: dict[str, Version]
    links: set[str]
    removals: list[tuple[str, str, str]] = field(default_factory=list)
    #: Ids of the entries the tabs' removing steps took away (renames: moved away).
    removed: set[int] = field(default_factory=set)

    @classmethod
    def at(cls, tree: Tree, listed: dict[str, Any]) -> Epoch:
        """The epoch that starts with ``tree`` restored (``listed``: inpage.listing_and_versions)."""
        versions = {
            v["sha"]: Version(v["sha"], v["size"], v["chunks"], "restored", p)
            for p, v in listed["versions"].items()
        }
        links = {e[3] for e in tree.values() if e[0] == "l"}
        ids = listed["ids"]
        return cls(tree, {p: set(ids.get(p, ())) for p in tree if p}, versions, links)


@dataclass
class Version:
    """One content a tab had: made by step ``made`` at ``path``."""

    sha: str
    size: int
    #: Hashes of its 256 KiB chunks.
    chunks: list[str]
    made: str
    path: str


def mixed(content: dict[str, Any], versions: Iterable[Version]) -> str:
    """Where each chunk of ``content`` (inpage.version) matches a known version's chunk."""
    lines = []
    for i, sha in enumerate(content["chunks"]):
        same = [
            f"{v.made} ({v.path})" for v in versions if i < len(v.chunks) and v.chunks[i] == sha
        ]
        size = min(CHUNK, content["size"] - i * CHUNK)
        zeros = sha == hashlib.sha256(bytes(size)).hexdigest()[:24]
        lines.append(
            f"chunk {i}: "
            + (", ".join(same[:3]) if same else "all zeros" if zeros else "no version has it")
        )
    return "; ".join(lines)


def check_two_tabs(epoch: Epoch, tree: Tree, tab: Target) -> list[str]:
    """What is wrong with ``tree``, restored after a kill in ``tab``, given what the tabs did
    (see :func:`run_two_tabs`)."""
    problems = []
    for path, entry in sorted(tree.items()):
        if entry[0] == "f" and entry[4] not in epoch.versions:
            content = tab.python(f"_out = _soak.file_version({path!r})")
            key = tab.python(f"_out = _soak.key_of({path!r})")
            problems.append(
                f"{path!r}: restored {entry[3]} bytes (sha {entry[4]}) that neither tab ever had; "
                + mixed(content, epoch.versions.values())
                + "\n"
                + stored_report(tab, keys=[key])
            )
        if entry[0] == "l" and entry[3] not in epoch.links:
            problems.append(f"{path!r}: restored as a link to {entry[3]!r}, which no tab made")
    for path, ids in sorted(epoch.saved.items()):
        if path not in tree and not affected(path, epoch.removals) and not ids & epoch.removed:
            problems.append(
                f"{path!r}: saved by an awaited flush, removed by neither tab, missing after the restore"
            )
    return problems


def run_two_tabs(
    env: Env,
    seed: int,
    steps: int,
    *,
    log: Callable[[str], None] = print,
    trace: Callable[[str], None] | None = None,
    kinds_apart: bool = False,
) -> Counts:
    """``steps`` random steps shared by two tabs of one profile, on overlapping paths, with kills.

    What is asserted after every kill, and why no more: see the top of this module.
    """
    gen = Generator(seed, tabs=2, kinds_apart=kinds_apart)
    counts = Counts()

    def fail(i: int, step: dict[str, Any] | None, what: str) -> SoakFailure:
        return SoakFailure(seed, 2, i, step, what, counts, " --kinds-apart" if kinds_apart else "")

    def begin(at: int, step: dict[str, Any] | None) -> tuple[list[Target], Epoch]:
        tabs = env.open(2)
        first = start(tabs[0])
        second = start(tabs[1])
        for restored in (first, second):
            if restored["failed"]:
                raise fail(at, step, damaged(tabs[0], restored["failed"]))
        # The directory's own mtime is the time start() made it until a flush saves it.
        mismatch = differences(first["tree"], second["tree"], root_mtime=False)
        if mismatch:
            raise fail(
                at,
                step,
                "the second tab restored another tree than the first:\n  " + "\n  ".join(mismatch),
            )
        for t in range(2):
            gen.reset(t, first["tree"])
        return tabs, Epoch.at(first["tree"], tabs[0].python("_out = _soak.listing_and_versions()"))

    tabs, epoch = begin(0, None)
    index = 0
    step: dict[str, Any] | None = None
    try:
        while index < steps:
            block = gen.block()
            tab = tabs[block.tab]
            ops = [s for s in block.steps if s["op"] not in ENDS_BLOCK]
            if ops:
                result = run_steps(tab, ops, strict=False)
                if result["failed"] is not None:
                    step = ops[result["failed"]]
                    raise fail(
                        index + result["failed"] + 1, step, f"the page failed: {result['error']}"
                    )
                for i, (step, r) in enumerate(zip(ops, result["results"], strict=True)):
                    counts.operations += 1
                    if trace:
                        trace(
                            f"{index + i + 1} tab {block.tab}: {describe_step(step)}"
                            + ("" if r["ok"] else f" -> {r['error']}")
                        )
                    if not r["ok"]:
                        counts.skipped += 1
                        continue
                    if "version" in r:
                        v = r["version"]
                        made = f"tab {block.tab} step {index + i + 1}"
                        path = step.get("path", f"slot {step.get('slot')}")
                        epoch.versions.setdefault(
                            v["sha"], Version(v["sha"], v["size"], v["chunks"], made, path)
                        )
                    if "link" in r:
                        epoch.links.add(r["link"])
                    if step["op"] in REMOVING:
                        epoch.removals.append((step["op"], step["path"], step.get("to", "")))
                    epoch.removed.update(r.get("removed", ()))
            index += len(ops)
            end = block.steps[-1] if block.steps[-1]["op"] in ENDS_BLOCK else None
            if end is None:
                continue
            index += 1
            step = end
            op = end["op"]
            if trace:
                trace(f"{index} tab {block.tab}: {describe_step(end)}")
            if op == "flush":
                try:
                    listed: dict[str, list[int]] = tab.python(
                        "_listed = _soak.listing()\nawait _soak.mount.flush()\n"
                        "_out = _soak.after_flush(_listed)"
                    )
                except RuntimeError as e:
                    raise fail(index, end, f"tab {block.tab}: flush() raised: {e}") from e
                counts.flushes += 1
                for path, ids in listed.items():
                    epoch.saved.setdefault(path, set()).update(ids)
            elif op == "fsync":
                result = run_steps(tab, [end], strict=False)
                counts.flushes += 1
            else:
                env.crash(tabs, end, block.tab)
                counts.kills += 1
                tabs, restored = begin(index, end)
                problems = check_two_tabs(epoch, restored.tree, tabs[0])
                if problems:
                    raise fail(
                        index, end, f"after the kill (tab {block.tab}):\n  " + "\n  ".join(problems)
                    )
                epoch = restored
    except SoakFailure:
        raise
    except Exception as e:
        raise fail(index, step, f"{type(e).__name__}: {e}") from e
    log(
        f"seed {seed} (2 tabs): {counts.operations} operations ({counts.skipped} skipped), "
        f"{counts.flushes} flushes, {counts.kills} kills"
    )
    return counts
