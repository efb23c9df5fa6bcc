"""Exceptions users can act on: the CLI prints each as one line (with a hint), never a traceback."""

from __future__ import annotations


class GreywatchError(Exception):
    """Base for errors caused by input or configuration; `hint` says how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InputError(GreywatchError):
    """A file, line, row or field of user input is invalid; the message names where."""


class ConfigError(GreywatchError):
    """A configuration file (sources, lexicon, scope rules) is invalid."""


class StorageError(GreywatchError):
    """The database cannot be opened or is at the wrong schema version."""

    exit_code = 1
