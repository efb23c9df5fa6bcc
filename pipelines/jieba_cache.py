"""jieba start-up cache: the prefix dictionary with added words and a POS subset, in one file.

jieba's own cache is read with marshal.load from a file (~0.55 s); marshal.loads of the same
bytes takes ~0.2 s, and the POS subset replaces parsing dict.txt (~0.45 s). The file is keyed
on everything it depends on and checksummed, so a stale or garbled one is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jieba

log = logging.getLogger(__name__)

# Bump when what the cache holds, or how it is computed, changes.
CACHE_FORMAT = 1
# Start of every cache file, followed by the CRC-32 of the rest: garbled files are rebuilt.
_CACHE_MAGIC = b"greywatch-jieba\x00"
_CRC_BYTES = 4


@dataclass(frozen=True, slots=True)
class JiebaState:
    """What a process needs from jieba: prefix dictionary, its total, the POS subset."""

    key: str
    freq: dict[str, int]
    total: int
    tags: dict[str, str]


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/greywatch, or ~/.cache/greywatch (XDG base directory rules)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "greywatch"


def dict_file(tok: jieba.Tokenizer) -> str:
    """Path of the tokenizer's dictionary (jieba's dict.txt unless set_dictionary was used)."""
    with tok.get_dict_file() as f:
        return str(getattr(f, "name", ""))


def cache_key(
    version: str,
    dict_file: str,
    words: list[str],
    kept: tuple[frozenset[str], ...],
    min_freq: int,
) -> str:
    """Everything the cached state depends on: formats, jieba and its dictionary, our inputs."""
    try:
        st = os.stat(dict_file)
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "?"
    parts = [
        str(CACHE_FORMAT),
        f"{sys.version_info[0]}.{sys.version_info[1]}",
        str(marshal.version),
        version,
        dict_file,
        stamp,
        "\t".join(words),
        *(" ".join(sorted(tags)) for tags in kept),
        str(min_freq),
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def load_state(path: Path, key: str) -> JiebaState | None:
    """The cached state for `key`, or None when absent, stale or damaged (never raises)."""
    try:
        blob = path.read_bytes()
        head = len(_CACHE_MAGIC) + _CRC_BYTES
        crc = int.from_bytes(blob[len(_CACHE_MAGIC) : head], "big")
        if not blob.startswith(_CACHE_MAGIC) or zlib.crc32(memoryview(blob)[head:]) != crc:
            raise ValueError("bad header or checksum")
        got, freq, total, tags = marshal.loads(memoryview(blob)[head:])
        if got != key or not (isinstance(freq, dict) and isinstance(tags, dict)):
            raise ValueError("stale or malformed")
        return JiebaState(key, freq, int(total), tags)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a cache never breaks extraction: rebuild instead
        log.debug("jieba cache %s ignored: %s", path, exc)
        return None


def save_state(path: Path, state: JiebaState) -> None:
    """Write the cache atomically (temp file + rename) and drop older versions; errors are
    logged and ignored (read-only home, full disk)."""
    try:
        body = marshal.dumps((state.key, state.freq, state.total, state.tags))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jieba-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_CACHE_MAGIC + zlib.crc32(body).to_bytes(_CRC_BYTES, "big") + body)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for old in path.parent.glob("jieba-*.bin"):
            if old != path:
                old.unlink(missing_ok=True)
    except Exception as exc:
        log.debug("jieba cache %s not written: %s", path, exc)


def pos_subset(
    dictionary: bytes, kept: frozenset[str], common: frozenset[str], min_freq: int
) -> dict[str, str]:
    """word → tag for the dictionary words tagged in `kept`, or in `common` with a frequency of
    `min_freq` or more: the part of jieba.posseg's table the rules use (a later line of
    the dictionary wins, as in posseg)."""
    out: dict[str, str] = {}
    for line in dictionary.decode("utf-8").splitlines():
        parts = line.strip().split(" ")
        if len(parts) != 3:
            continue  # blank, or untagged (posseg would refuse the whole dictionary)
        word, freq, tag = parts
        if tag in kept or (tag in common and int(freq) >= min_freq):
            out[word] = tag
        else:
            out.pop(word, None)
    return out


def prepare(
    tok: jieba.Tokenizer,
    version: str,
    words: list[str],
    kept: tuple[frozenset[str], frozenset[str]],
    min_freq: int,
    cache: Path,
) -> dict[str, str]:
    """Add `words` to `tok` and return the POS subset (see pos_subset), both restored from
    the cache in `cache` when it holds them for this jieba, dictionary and input (else written)."""
    key = cache_key(version, dict_file(tok), words, kept, min_freq)
    path = cache / f"jieba-{key[:16]}.bin"
    cached = load_state(path, key)
    with tok.lock:
        if cached is not None and not tok.initialized:
            tok.FREQ, tok.total = cached.freq, cached.total
            tok.initialized = True
            return cached.tags
        pristine = not tok.initialized  # nobody else added words: the state is ours to cache
        for word in words:
            tok.add_word(word)
    if cached is not None:
        tags = cached.tags
    else:
        with tok.get_dict_file() as f:
            tags = pos_subset(f.read(), *kept, min_freq)
    if pristine:
        save_state(path, JiebaState(key, tok.FREQ, tok.total, tags))
    return tags
