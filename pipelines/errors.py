"""Exceptions users can act on, defined at the bottom layer so every layer may raise them.

The CLI prints each as one line (plus a hint), never a traceback. Exit codes: 2 for a problem
in input or configuration the user must fix, 1 for a database that is momentarily unusable.
"""

from __future__ import annotations

import re


class GreywatchError(Exception):
    """Base for errors caused by input or configuration; `hint` says how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InputError(GreywatchError):
    """A file, line, row or field of user input is invalid; the message names where."""


class ConfigError(GreywatchError):
    """A configuration file (sources, lexicon, scope rules) or variable is invalid."""


class StorageError(GreywatchError):
    """The database cannot be used right now (unreachable, locked): exit 1, try again."""

    exit_code = 1


class DatabaseURLError(StorageError):
    """The database URL cannot be read (unknown scheme, port not a number)."""

    exit_code = 2


class NoDatabaseError(StorageError):
    """A read-only command was pointed at a database that does not exist yet."""

    exit_code = 2


class NotADatabaseError(StorageError):
    """The URL names a file that is not a SQLite database."""

    exit_code = 2


class SchemaTooOldError(StorageError):
    """The database is at an older migration than this greywatch: `db upgrade` fixes it."""

    exit_code = 2


class SchemaTooNewError(StorageError):
    """The database was migrated by a newer greywatch: upgrade greywatch, not the database."""

    exit_code = 2


class PermissionDeniedError(StorageError):
    """The database user may not read or change what greywatch needs."""

    exit_code = 2


# scheme://userinfo@ — the userinfo runs to the last "@" of the URL (passwords may hold "@" or
# "/" unescaped), so the whole of it is masked, never a tail of it.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s'\"]*@")


def mask_userinfo(text: str) -> str:
    """`text` with the user and password of every URL in it replaced by ***."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
