"""The CLI's consoles and output, made in one place.

Output piped to a file or another program gets a wide page instead of rich's 80-column
default, so tables keep every column. Everything printed passes `terminal_safe`: scraped
titles and texts may carry terminal escapes (clear the screen, set the window title) that
must never reach the user's terminal raw.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import TextIO

from rich.console import Console
from rich.segment import Segment

# Width of tables written to a pipe or file: wide enough for the leads and runs tables.
PIPE_WIDTH = 200

# C0 controls but tab and newline, DEL, and C1 controls (0x9B alone starts an escape sequence
# on some terminals); also the Unicode line/paragraph separators that break a line silently.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def terminal_safe(text: str, *, json: bool = False) -> str:
    """`text` without control characters (tab and newline kept).

    With `json`, each control is written as its \\uXXXX escape instead: JSON text stays valid
    and keeps its data, and the terminal still sees no raw control.
    """
    if json:
        return _CONTROLS.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
    return _CONTROLS.sub("", text)


class SafeConsole(Console):
    """A rich Console that strips control characters from the text it is given, before rich
    adds its own styling codes (which are the only escapes that reach the terminal)."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            seg if seg.control else Segment(terminal_safe(seg.text), seg.style) for seg in buffer
        )


def make_console(stderr: bool = False) -> Console:
    """A console for stdout (or stderr): terminal width on a terminal, PIPE_WIDTH otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPE_WIDTH
    return SafeConsole(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def echo_json(text: str, stream: TextIO | None = None) -> None:
    """Write one line of JSON text (controls escaped) to stdout or `stream`."""
    out = stream or sys.stdout
    out.write(terminal_safe(text, json=True) + "\n")


def echo_line(text: str) -> None:
    """Write one line of plain text (controls stripped) to stdout."""
    sys.stdout.write(terminal_safe(text) + "\n")
