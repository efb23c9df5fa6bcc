"""A helper process dies with its parent (crawler.lifeline): real processes, real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.proc_util import wait_gone

# The parent forks a child that arms its lifeline (or only the watchdog), prints the child's
# pid and waits; the child would sleep for five minutes and ignores SIGTERM, like the
# analysis worker did with Scrapy's handler inherited through fork.
PARENT = """
import os, signal, sys, time
from crawler import lifeline
parent = os.getpid()
child = os.fork()
if child == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.argv[1] == "full":
        lifeline.die_with_parent(parent)
    elif sys.argv[1] == "watchdog":
        lifeline.start_watchdog(parent, interval=0.2)
    print(os.getpid(), flush=True)
    time.sleep(300)
    os._exit(0)
time.sleep(300)
"""


def _orphan_after_parent_killed(mode: str, bound_s: float = 30) -> tuple[int, list[int]]:
    proc = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return child, wait_gone([child], bound_s)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("mode", ["full", "watchdog"])
def test_child_dies_with_its_parent(mode: str) -> None:
    _child, alive = _orphan_after_parent_killed(mode)
    assert alive == []


def test_without_a_lifeline_the_child_is_orphaned() -> None:
    """The control: the same child without a lifeline outlives its parent."""
    child, alive = _orphan_after_parent_killed("none", bound_s=2)
    try:
        assert alive == [child]
    finally:
        os.kill(child, signal.SIGKILL)
