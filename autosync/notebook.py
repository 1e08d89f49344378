"""autosync in IPython and Jupyter notebooks, JupyterLite's Pyodide kernel among them.

In a notebook cell::

    %load_ext autosync      # starts the configured directory, shows its status
    %autosync               # every autosync directory: state, unsaved changes, saves, restore
    %autosync flush         # save now; returns once committed
    %autosync stop          # final save, then stop saving

``%load_ext autosync`` calls :func:`autosync.start` without arguments, so the directory and its
settings come from ``AUTOSYNC_*`` environment variables or an ``autosync.toml`` (see
:mod:`autosync.config`). A JupyterLite site can ship the file with its contents, next to the
notebooks (the kernel's working directory)::

    # autosync.toml
    path = "/data"

:class:`~autosync.Mount` and :class:`~autosync.Status` show as a table in a notebook. A restore
that takes longer than :data:`SHOW_AFTER_S` shows a progress bar there (IPython's display, updated
in place), and INFO lines on the ``"autosync"`` logger elsewhere. IPython is imported only inside
these functions, and only where it is already loaded: autosync depends on nothing.
"""

from __future__ import annotations

import html
import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import _pyodide

if TYPE_CHECKING:
    from .mount import RestoreProgress, Status

log = logging.getLogger("autosync")

#: A restore that has not finished after this many seconds shows its progress.
SHOW_AFTER_S = 1.0
#: The progress bar is redrawn at most this often...
UPDATE_EVERY_S = 0.25
#: ...and outside a notebook, a progress line is logged at most this often.
LOG_EVERY_S = 2.0


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext autosync``: add the ``%autosync`` magic, start the configured directory."""
    from . import start

    ipython.register_magic_function(autosync_magic, magic_kind="line", magic_name="autosync")
    _show_table([start().status()])


def autosync_magic(line: str) -> None:
    """``%autosync [flush|stop]``: show every autosync directory; or save now; or stop saving."""
    from IPython.core.error import UsageError

    from . import flush, mounts, stop

    command = line.strip()
    if command in ("flush", "stop"):
        if not _pyodide.can_run_sync():
            raise UsageError(
                f"%autosync {command} cannot wait for IndexedDB in this kernel (no JSPI); "
                f"run `await autosync.{command}()` in a cell instead"
            )
        _pyodide.run_sync(flush() if command == "flush" else stop())
    elif command:
        raise UsageError(
            f"unknown %autosync command {command!r}; use %autosync, %autosync flush or "
            "%autosync stop"
        )
    _show_table([m.status() for m in mounts()])


def _shell() -> Any:
    """The running IPython shell if it shows rich output (a notebook, JupyterLite), else None."""
    ipython = sys.modules.get("IPython")  # never imported here: loaded means a shell may run
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or type(shell).__name__ == "TerminalInteractiveShell":
        return None
    return shell


def _show_table(statuses: list[Status]) -> None:
    from IPython.display import display  # a terminal shows the text/plain part

    display({"text/plain": status_text(statuses), "text/html": status_html(statuses)}, raw=True)


# ---------------------------------------------------------------------------------- tables

_COLUMNS = ("directory", "state", "unsaved", "saves", "restored")


def _cells(s: Status, now: float) -> tuple[str, ...]:
    if s.flush_count:
        saves = f"{s.flush_count}"
        if s.last_flush_at is not None:
            saves += f", last {_duration(max(now - s.last_flush_at, 0))} ago"
        details = [f"{s.last_flush_duration_ms:.0f} ms"] if s.last_flush_duration_ms else []
        if s.last_flush_bytes is not None:
            details.append(_size(s.last_flush_bytes))
        saves += f" ({', '.join(details)})" if details else ""
    else:
        saves = "none yet"
    return (
        s.path,
        s.state,
        f"{s.pending_changes} changes" if s.dirty else "none",
        saves,
        _restored(s),
    )


def _restored(s: Status) -> str:
    if s.state == "restoring":
        p = s.restore_progress
        return "starting" if p is None else _progress_words(p)
    r = s.restored
    if not r:
        return "nothing" if s.state != "failed" else "failed"
    parts = [
        f"{r.get('files', 0):,} files",
        f"{r.get('dirs', 0):,} dirs",
        f"{r.get('links', 0):,} links",
        _size(r.get("bytes", 0)),
    ]
    for key, words in (("kept", "kept local"), ("migrated", "migrated from IDBFS")):
        if r.get(key):
            parts.append(f"{r[key]:,} {words}")
    if r.get("failed"):
        parts.append(f"{len(r['failed']):,} failed")
    return ", ".join(parts)


def status_html(statuses: Iterable[Status]) -> str:
    """A compact HTML table, one row per directory (and one for its last error, if any)."""
    now = time.time()
    rows = []
    for s in statuses:
        cells = [html.escape(c) for c in _cells(s, now)]
        cells[0] = f"<code>{cells[0]}</code>"
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        if s.last_error:
            rows.append(
                f'<tr><td></td><td colspan="{len(_COLUMNS) - 1}" style="color: #b00">'
                f"{html.escape(s.last_error)}</td></tr>"
            )
    if not rows:
        return "<p>autosync: no directory started (<code>%load_ext autosync</code>)</p>"
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    return (
        '<table class="autosync-status" style="text-align: left">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def status_text(statuses: Iterable[Status]) -> str:
    """The same as :func:`status_html`, one line per directory, for plain-text frontends."""
    now = time.time()
    lines = []
    for s in statuses:
        path, state, unsaved, saves, restored = _cells(s, now)
        lines.append(
            f"autosync {path}: {state}; unsaved: {unsaved}; saves: {saves}; restored: {restored}"
        )
        if s.last_error:
            lines.append(f"  error: {s.last_error}")
    return "\n".join(lines) or "autosync: no directory started (%load_ext autosync)"


# ---------------------------------------------------------------------------------- progress


class RestoreReporter:
    """Shows a restore that takes longer than :data:`SHOW_AFTER_S`, from its ``on_progress`` calls.

    In a notebook: a progress bar, drawn once and then updated in place (IPython's
    ``display_id``); elsewhere, INFO lines on the ``"autosync"`` logger every :data:`LOG_EVERY_S`.
    :func:`autosync.start` uses one when it is given no ``on_progress``. The time counts from
    when the reporter is made, so opening the database is included.
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._started = clock()
        self._shown_at: float | None = None
        self._handle: Any = None  # IPython's DisplayHandle of the bar, in a notebook
        self._drawn: RestoreProgress | None = None

    def __call__(self, progress: RestoreProgress) -> None:
        now = self._clock()
        elapsed = now - self._started
        if elapsed < SHOW_AFTER_S:
            return
        complete = _complete(progress)
        if self._shown_at is None:
            if _shell() is not None:
                from IPython.display import display

                self._handle = display(self._bundle(progress, elapsed), raw=True, display_id=True)
                self._drawn = progress
            elif not complete:  # a finished restore is logged by the mount itself
                log.info("autosync %s: restoring, %s", self.path, _progress_words(progress))
            self._shown_at = now
        elif self._handle is not None:
            # The restore reports its end twice (after small files, after large ones).
            if progress != self._drawn and (complete or now - self._shown_at >= UPDATE_EVERY_S):
                self._handle.update(self._bundle(progress, elapsed), raw=True)
                self._shown_at = now
                self._drawn = progress
        elif not complete and now - self._shown_at >= LOG_EVERY_S:
            log.info("autosync %s: restoring, %s", self.path, _progress_words(progress))
            self._shown_at = now

    def _bundle(self, p: RestoreProgress, elapsed: float) -> dict[str, str]:
        if _complete(p):
            words = (
                f"restored {p.entries_total:,} entries, {_size(p.bytes_total)} "
                f"in {_duration(elapsed)}"
            )
        else:
            words = f"restoring, {_progress_words(p)}"
        fraction = _fraction(p)
        return {
            "text/plain": f"autosync {self.path}: {words} [{fraction:.0%}]",
            "text/html": (
                f'<div class="autosync-progress"><progress value="{fraction:.3f}" max="1" '
                f'style="width: 16em; vertical-align: middle"></progress> '
                f"<code>{html.escape(self.path)}</code>: {html.escape(words)}</div>"
            ),
        }


def _complete(p: RestoreProgress) -> bool:
    return p.entries_done >= p.entries_total and p.bytes_done >= p.bytes_total


def _fraction(p: RestoreProgress) -> float:
    """Entries, then bytes, each half of the bar: never moves back as ``bytes_total`` grows."""
    entries = p.entries_done / p.entries_total if p.entries_total else 1.0
    # With no bytes to read, the second half fills only once every entry is read.
    data = p.bytes_done / p.bytes_total if p.bytes_total else float(entries >= 1.0)
    return min(1.0, (entries + data) / 2)


def _progress_words(p: RestoreProgress) -> str:
    return (
        f"{p.entries_done:,} of {p.entries_total:,} entries, "
        f"{_size(p.bytes_done)} of {_size(p.bytes_total)}"
    )


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024:
            if unit == "bytes":
                return "1 byte" if n == 1 else f"{n:.0f} bytes"
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
