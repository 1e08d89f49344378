"""The renderer's memory during a measurement, from Linux's /proc.

Chromium runs a page's JavaScript (and its dedicated workers) in one renderer process; its peak
resident set (``VmHWM``) is reset just before the measurement by writing ``5`` to
``/proc/<pid>/clear_refs`` and read right after it, so the peak covers exactly that span, sampled by
the kernel (nothing is missed between polls). The resident set just before (``VmRSS``) is the
baseline: what the page held with Pyodide loaded and nothing restored.

    pid = renderer(session.browser.pid)
    with Peak(pid) as peak:
        page.python("...")
    peak.above_baseline_mib
"""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType

MIB = 1 << 20


def _status(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/<pid>/status, in bytes."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"/proc/{pid}/status has no {field}")
    return int(found.group(1)) * 1024


def _session_processes(session_id: int) -> list[tuple[int, bytes]]:
    found = []
    for name in Path("/proc").iterdir():
        if not name.name.isdigit():
            continue
        try:
            # Fields after the command's closing parenthesis: state, ppid, pgrp, session, ...
            fields = (name / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != session_id:
                continue
            found.append((int(name.name), (name / "cmdline").read_bytes()))
        except (OSError, IndexError, ValueError):
            continue
    return found


def renderer(browser_pid: int) -> int:
    """The renderer process of the one page a freshly started browser shows.

    Chromium starts every process of a browser in the session it was started in (``start_new_session``
    in demo.browser). Among its renderers, those for Chromium's own UI (``--top-chrome-webui``) and
    extensions are left out; of the rest, the page with Pyodide loaded is by far the largest.
    """
    candidates = [
        pid
        for pid, cmd in _session_processes(browser_pid)
        if b"--type=renderer" in cmd
        and b"--top-chrome-webui" not in cmd
        and b"--extension-process" not in cmd
    ]
    if not candidates:
        raise RuntimeError(f"no renderer process found in the session of Chromium {browser_pid}")
    return max(candidates, key=lambda pid: _status(pid, "VmRSS"))


class Peak:
    """The peak resident memory of process ``pid`` while the ``with`` block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = 0
        self.peak = 0

    def __enter__(self) -> Peak:
        self.baseline = _status(self.pid, "VmRSS")
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.peak = _status(self.pid, "VmHWM")

    @property
    def baseline_mib(self) -> float:
        return self.baseline / MIB

    @property
    def peak_mib(self) -> float:
        return self.peak / MIB

    @property
    def above_baseline_mib(self) -> float:
        return (self.peak - self.baseline) / MIB
