"""The CLI's error types, kept importable from here; they live in `pipelines.errors` so that
every layer (pipelines, storage, crawler) can raise them without importing the CLI."""

from __future__ import annotations

from pipelines.errors import (
    ConfigError,
    DatabaseURLError,
    GreywatchError,
    InputError,
    NoDatabaseError,
    NotADatabaseError,
    PermissionDeniedError,
    SchemaTooNewError,
    SchemaTooOldError,
    StorageError,
    mask_userinfo,
)

__all__ = [
    "ConfigError",
    "DatabaseURLError",
    "GreywatchError",
    "InputError",
    "NoDatabaseError",
    "NotADatabaseError",
    "PermissionDeniedError",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "StorageError",
    "mask_userinfo",
]
