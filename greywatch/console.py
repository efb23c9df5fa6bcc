"""The CLI's consoles, made in one place: output piped to a file or another program gets a
wide page instead of rich's 80-column default, so tables keep every column."""

from __future__ import annotations

import sys

from rich.console import Console

# Width of tables written to a pipe or file: wide enough for the leads and runs tables.
PIPE_WIDTH = 200


def make_console(stderr: bool = False) -> Console:
    """A console for stdout (or stderr): terminal width on a terminal, PIPE_WIDTH otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)
