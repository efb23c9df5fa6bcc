"""Process helpers for tests that kill crawls: children of a pid, and whether a pid is gone."""

from __future__ import annotations

import time
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # state, ppid, … (the name may hold spaces)


def children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """The process has ended (no /proc entry, or a zombie waiting to be reaped)."""
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def wait_gone(pids: list[int], bound_s: float = 30.0) -> list[int]:
    """Poll until every pid has ended or `bound_s` passed; returns those still alive."""
    deadline = time.monotonic() + bound_s
    alive = [p for p in pids if not gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if not gone(p)]
    return alive
