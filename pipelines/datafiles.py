"""Checked reading of the YAML data files people tune (pipelines/data, storage/data).

A bad edit (a missing key, a scalar where a list belongs, an unquoted area code) stops the
load with one `DataFileError` naming the file and the key, never a KeyError deep inside.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import yaml

from pipelines.errors import ConfigError


class DataFileError(ConfigError, ValueError):
    """A data file is invalid; the message is "<file>: <key>: <what is wrong>"."""


def fail(path: Path, key: str, what: str) -> NoReturn:
    """Raise the one-line error naming file and key."""
    raise DataFileError(f"{path}: {key}: {what}", hint="fix the file (see the comments in it)")


def read_mapping(path: Path) -> dict[str, Any]:
    """The file's top-level mapping; unreadable, unparsable or non-mapping files fail."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot be read ({exc})") from exc
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DataFileError(f"{path}: not valid YAML{where}") from exc
    if not isinstance(data, dict):
        raise DataFileError(f"{path}: expected a mapping of keys at the top level")
    return data


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def text(path: Path, key: str, value: Any) -> str:
    """`value` as a non-empty string, or fail naming `key`."""
    if not isinstance(value, str) or not value.strip():
        fail(path, key, f"expected a non-empty string, got {_shown(value)}")
    return value


def strings(path: Path, key: str, value: Any, empty_ok: bool = False) -> list[str]:
    """`value` as a list of non-empty strings (non-empty itself unless `empty_ok`)."""
    if value is None and empty_ok:
        return []
    if not isinstance(value, list):
        fail(path, key, f"expected a list of strings, got {_shown(value)}")
    if not value and not empty_ok:
        fail(path, key, "is empty")
    return [text(path, f"{key}[{i}]", item) for i, item in enumerate(value)]


def string_lists(
    path: Path, data: dict[str, Any], required: Iterable[str], optional: Iterable[str] = ()
) -> None:
    """Check that each required key holds a non-empty string list, each optional one a list."""
    for key in required:
        if key not in data:
            fail(path, key, "missing")
        strings(path, key, data[key])
    for key in optional:
        strings(path, key, data.get(key), empty_ok=True)


def mapping(path: Path, key: str, value: Any, empty_ok: bool = True) -> dict[Any, Any]:
    """`value` as a mapping (None counts as empty when `empty_ok`)."""
    if value is None and empty_ok:
        return {}
    if not isinstance(value, dict) or (not value and not empty_ok):
        fail(path, key, f"expected a mapping, got {_shown(value)}")
    return value


def format_fields(path: Path, key: str, template: str, allowed: frozenset[str]) -> None:
    """Fail unless every {field} of a str.format template is one of `allowed`."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        fail(path, key, f"bad {{field}} syntax ({exc})")
    unknown = sorted(n for n in names if n not in allowed)
    if unknown:
        known = ", ".join("{" + n + "}" for n in sorted(allowed))
        fail(path, key, f"unknown field {{{unknown[0]}}} (known: {known})")
