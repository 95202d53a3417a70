"""The one way to turn a name or an id into a file-system path.

Character names, episode ids and line ids come from people and from other tools' tables, and
castlist uses them as folder and file names (clips export, RTTM files, vectors, caches). A name
such as ``../../x``, ``/tmp/x`` or a 300-character title must never reach ``open()`` as it is:
:func:`component` makes one safe path component of any text, and :func:`safe_join` refuses a
path that resolves outside its root (a symlink pointing elsewhere included).

Distinct names give distinct components: whenever cleaning changes the text (``Mary Jane`` ->
``Mary_Jane``) a short hash of the original is appended, so ``Mary Jane`` and ``Mary_Jane`` stay
two speakers. A text that is already safe is kept as it is, so ids like ``ep01`` and names like
``Kyon`` or ``涼宮ハルヒ`` keep their readable paths.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from pipelines.errors import CastlistError, InputError

MAX_BYTES = 120
"""Longest component (UTF-8 bytes, suffix included): far below the usual 255-byte limit, so a
temporary prefix or suffix still fits."""

HASH_LEN = 10
_HASHED = re.compile(rf"-[0-9a-f]{{{HASH_LEN}}}$")
# path separators, characters Windows/SMB shares refuse, and whitespace
_UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')


class UnsafePathError(InputError):
    """A name or id would make a path outside the folder it belongs in."""


class OutputError(CastlistError):
    """An output path cannot be written as asked (exists, is a folder, no permission...)."""


def _clean(text: str) -> str:
    # control, format, surrogate and unassigned characters (category C*) go; separators and
    # whitespace become "_"; no leading dot (hidden, "..") or dash (read as an option)
    kept = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    kept = _UNSAFE.sub("_", kept)
    return kept.lstrip(".-").rstrip(". ")


def _cut(text: str, max_bytes: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", "ignore")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LEN]


def component(name: object, suffix: str = "", default: str = "unnamed") -> str:
    """``name`` as one safe path component, ``suffix`` (e.g. ``.wav``) appended.

    Injective: a name that needs no cleaning is returned unchanged (plus ``suffix``); any other
    name gets ``-`` and 10 hex digits of its SHA-1, and so does a clean name that already ends
    like a hash, so a cleaned name can never equal another name's untouched one.
    """
    text = str(name)
    cleaned = _clean(text)
    budget = MAX_BYTES - len(suffix.encode("utf-8"))
    if cleaned == text and text and not _HASHED.search(text) and len(text.encode()) <= budget:
        return text + suffix
    stem = _cut(cleaned, budget - HASH_LEN - 1).rstrip(". ") or default
    return f"{stem}-{_digest(text)}{suffix}"


def is_safe_component(name: str, max_bytes: int = 64) -> bool:
    """True when ``name`` is usable as an id that becomes a path: :func:`component` keeps it
    unchanged and it is at most ``max_bytes`` long."""
    return bool(name) and component(name) == name and len(name.encode("utf-8")) <= max_bytes


def safe_join(root: str | Path, *parts: str) -> Path:
    """``root / parts...``, refused with :class:`UnsafePathError` when it resolves outside
    ``root`` (absolute parts, ``..``, or a symlink that points elsewhere). The path is returned
    as joined, not resolved, so it reads like the root it was given."""
    base = Path(os.path.realpath(root))
    joined = Path(root).joinpath(*parts)
    path = Path(os.path.realpath(joined))
    if path != base and base not in path.parents:
        shown = "/".join(str(p) for p in parts)
        raise UnsafePathError(f"refusing to write {shown!r}: it would land outside {base}")
    return joined


def slug(text: str, default: str = "episode", limit: int | None = 40) -> str:
    """A name cut down to ASCII letters, digits and underscores (``limit`` at most; None:
    uncut), for ids and file names that must read the same everywhere."""
    out = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")
    return out[:limit] or default
