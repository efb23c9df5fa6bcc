"""Run one measurement in a forked child, so each starts with a fresh heap and its peak RSS
is its own; a child that dies is reported instead of leaving the bench waiting forever."""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable
from typing import Any


def run_in_child(target: Callable[..., None], *args: Any) -> Any:
    """`target(*args, q)` in a forked process; what it puts on `q` is returned."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    while True:
        try:
            out = q.get(timeout=5)
            break
        except queue.Empty:
            if not p.is_alive():
                raise SystemExit(f"benchmark child failed (exit code {p.exitcode})") from None
    p.join()
    return out
