"""Tie a helper process's life to its parent: when the crawl dies, its workers die too.

A forked analysis worker blocks on a pipe whose write end it shares with the crawl, so it never
sees EOF; killed with SIGKILL, the crawl would leave it running forever (holding a database
connection). Linux's parent-death signal ends it at once; a watchdog thread that polls the
parent's pid covers other systems and the moment before the signal was armed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading

logger = logging.getLogger(__name__)

# prctl(2) option: signal delivered to this process when its parent thread dies.
PR_SET_PDEATHSIG = 1
# How often the watchdog checks that the parent is still there (seconds).
WATCHDOG_INTERVAL_S = 1.0


def arm_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send `sig` to this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def parent_alive(parent_pid: int) -> bool:
    """Whether `parent_pid` is still this process's parent (an orphan is adopted by another)."""
    return os.getppid() == parent_pid


def _watch(parent_pid: int, interval: float) -> None:
    stop = threading.Event()
    while not stop.wait(interval):
        if not parent_alive(parent_pid):
            os._exit(1)


def start_watchdog(parent_pid: int, interval: float = WATCHDOG_INTERVAL_S) -> threading.Thread:
    """A daemon thread that ends this process (os._exit) once `parent_pid` is gone."""
    thread = threading.Thread(
        target=_watch, args=(parent_pid, interval), name="parent-watchdog", daemon=True
    )
    thread.start()
    return thread


def die_with_parent(parent_pid: int) -> None:
    """Make this (child) process end when `parent_pid` ends: death signal, watchdog, and the
    parent's signal handlers undone (SIGTERM kills, Ctrl-C is the parent's to handle)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    armed = arm_parent_death_signal()
    if not parent_alive(parent_pid):  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        logger.debug("no parent-death signal here: relying on the watchdog")
    start_watchdog(parent_pid)
