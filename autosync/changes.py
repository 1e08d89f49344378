"""The set of paths under a mount that changed since the last successful flush.

Pure data: the JavaScript hooks report raw changes (an entry changed; a subtree moved or went away),
this set merges them, hands a normalized :class:`Plan` to a flush, and takes the plan back if the flush
fails, so nothing is dropped. Paths are relative to the mount point; ``""`` is the mount root.

    >>> from autosync.changes import ChangeSet
    >>> c = ChangeSet()
    >>> c.add(paths=["a/x.txt", "b.txt"], trees=["a"], first_at=10.0, last_at=12.0)
    >>> plan = c.take()
    >>> plan.trees, plan.paths     # "a/x.txt" is saved as part of the tree "a"
    (('a',), ('b.txt',))
    >>> c.pending
    0
    >>> c.give_back(plan)         # the flush failed: everything is pending again
    >>> c.pending, c.first_at
    (2, 10.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def _ancestors(path: str) -> Iterable[str]:
    """``"a/b/c"`` -> ``"a/b"``, ``"a"``, ``""`` (the root); nothing for the root itself."""
    end = path.rfind("/")
    while end > 0:
        yield path[:end]
        end = path.rfind("/", 0, end)
    if path:
        yield ""


@dataclass(frozen=True)
class Plan:
    """What one flush saves: entries whose own state is saved, and subtrees saved (or removed) whole."""

    paths: tuple[str, ...]
    trees: tuple[str, ...]
    first_at: float | None = None
    last_at: float | None = None

    def __bool__(self) -> bool:
        return bool(self.paths or self.trees)

    def __len__(self) -> int:
        return len(self.paths) + len(self.trees)


class ChangeSet:
    """Pending changes of one mount, with the times of the oldest and newest of them."""

    def __init__(self) -> None:
        self._paths: set[str] = set()
        self._trees: set[str] = set()
        self.first_at: float | None = None
        self.last_at: float | None = None

    @property
    def pending(self) -> int:
        """How many distinct entries and subtrees are waiting to be saved."""
        return len(self._paths) + len(self._trees)

    def __bool__(self) -> bool:
        return self.pending > 0

    def add(
        self,
        paths: Iterable[str] = (),
        trees: Iterable[str] = (),
        *,
        first_at: float,
        last_at: float,
    ) -> None:
        """Record changes made between ``first_at`` and ``last_at``."""
        paths, trees = list(paths), list(trees)
        if not paths and not trees:
            return
        self._paths.update(paths)
        self._trees.update(trees)
        self.first_at = first_at if self.first_at is None else min(self.first_at, first_at)
        self.last_at = last_at if self.last_at is None else max(self.last_at, last_at)

    def take(self) -> Plan:
        """Empty the set into a normalized plan: no entry listed that a listed subtree covers."""
        trees = set(self._trees)
        covered = {t for t in trees if any(a in trees for a in _ancestors(t))}
        trees -= covered
        paths = {
            p for p in self._paths if p not in trees and not any(a in trees for a in _ancestors(p))
        }
        plan = Plan(tuple(sorted(paths)), tuple(sorted(trees)), self.first_at, self.last_at)
        self._paths.clear()
        self._trees.clear()
        self.first_at = self.last_at = None
        return plan

    def give_back(self, plan: Plan) -> None:
        """Return a plan whose flush failed; its changes count from their original times."""
        if not plan:
            return
        first = plan.first_at if plan.first_at is not None else self.first_at
        last = plan.last_at if plan.last_at is not None else self.last_at
        assert first is not None and last is not None
        self.add(plan.paths, plan.trees, first_at=first, last_at=last)
