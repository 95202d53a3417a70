"""Name the real cause of an operating-system or SQLite failure, as a :class:`CastlistError`.

A full disk, a read-only workspace, a permission problem and a damaged database all surface
as ``OSError`` or ``sqlite3.Error`` from deep inside a command; the advice differs (free
space, copy the workspace, fix permissions, restore a backup), so they are told apart here,
once, by errno and SQLite error code, and by trying rather than by asking ``os.access`` (root
ignores file modes, so only an attempted write tells whether a folder can be written).
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import tempfile
from pathlib import Path

from pipelines.errors import (
    AccessError,
    BusyError,
    CastlistError,
    DamagedError,
    DiskFullError,
    InputError,
    ReadOnlyError,
    WorkspaceError,
)

log = logging.getLogger(__name__)

LOW_SPACE_BYTES = 1 << 20
"""Below this much free space an unexplained write or I/O error is taken to be a full disk."""


def free_bytes(path: str | Path) -> int | None:
    """Free space for unprivileged writers on the file system holding ``path`` (or its
    nearest existing parent); None when it cannot be told."""
    p = Path(path)
    for candidate in (p, *p.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize
    return None


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def disk_full(where: str | Path) -> DiskFullError:
    return DiskFullError(
        f"disk full: no space left to write {where} ({_size(free_bytes(where))} free there); "
        "free some space and run the same command again (what was already stored is intact)"
    )


def read_only(where: str | Path) -> ReadOnlyError:
    return ReadOnlyError(
        f"{where} is read-only (read-only disk or no write permission): commands that only "
        "read (status, export to a writable place, eval, review) work; to change the "
        "workspace, copy it to a writable disk"
    )


def disk_looks_full(where: str | Path) -> bool:
    free = free_bytes(where)
    return free is not None and free < LOW_SPACE_BYTES


def writable(folder: str | Path) -> bool:
    """Whether a file can be created in ``folder``, found out by creating one."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def explain_os_error(exc: OSError, where: str | Path | None = None) -> CastlistError:
    """The :class:`CastlistError` that says what an ``OSError`` means for the user."""
    target = exc.filename or where or "a file"
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return disk_full(target)
    if code == errno.EROFS:
        return read_only(target)
    if code in (errno.EACCES, errno.EPERM):
        return AccessError(
            f"permission denied: {target}; check the owner and permissions of that file or "
            "folder (or use a folder you own)"
        )
    if code == errno.ELOOP:
        return WorkspaceError(
            f"{target}: too many levels of symbolic links (a symlink loop); point it at a "
            "real folder or choose another path"
        )
    if code == errno.ENAMETOOLONG:
        return InputError(f"file name too long: {str(target)[:80]}...; choose a shorter path")
    if code == errno.EIO and where is not None and disk_looks_full(where):
        return disk_full(target)
    return CastlistError(f"{target}: {exc.strerror or exc}")


def explain_sqlite_error(
    exc: sqlite3.Error, db: str | Path, workspace: str | Path | None = None
) -> CastlistError:
    """Tell a full disk, a read-only workspace, a busy one and a damaged database apart."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    folder = Path(db).parent
    if name == "SQLITE_FULL" or "disk is full" in text:
        return disk_full(db)
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        # opened read-only because not even its -shm file could be created: maybe a full disk
        return disk_full(db) if disk_looks_full(folder) else read_only(workspace or folder)
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or "locked" in text:
        return BusyError(f"{db} is locked by another process; wait for it to finish and try again")
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in text:
        if disk_looks_full(folder):
            return disk_full(db)
        if not writable(folder):
            return read_only(workspace or folder)
        return CastlistError(f"{db}: the disk reported an I/O error ({exc}); check the disk")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        if not Path(db).exists():
            return WorkspaceError(f"{db}: database file missing")
        try:
            Path(db).open("rb").close()
        except OSError as os_exc:
            return explain_os_error(os_exc, db)
        if disk_looks_full(folder):
            return disk_full(db)
        if not writable(folder):
            return read_only(workspace or folder)
        return CastlistError(f"cannot open {db} ({exc})")
    if (
        name in ("SQLITE_CORRUPT", "SQLITE_NOTADB")
        or "malformed" in text
        or "not a database" in text
    ):
        return damaged(db, workspace, exc)
    if name.startswith("SQLITE_PERM") or name.startswith("SQLITE_AUTH"):
        return AccessError(f"permission denied by SQLite on {db} ({exc})")
    return CastlistError(f"{db}: database error ({exc})")


def damaged(db: str | Path, workspace: str | Path | None, exc: object) -> DamagedError:
    """ "Damaged" with the exact command that restores the newest backup that is intact."""
    from pipelines.store.backup import newest_good_backup

    root = Path(workspace) if workspace else Path(db).parent
    good = newest_good_backup(root)
    if good is not None:
        fix = f"restore the newest good backup with `castlist doctor {root} --restore {good.name}`"
    else:
        fix = "no intact backup exists in its backups/ folder; restore it from your own copy"
    return DamagedError(f"{db}: database is damaged ({exc}); {fix}")


def explain(exc: BaseException, workspace: str | Path | None = None) -> CastlistError | None:
    """The user-facing error for an environment failure, or None for anything else (a bug)."""
    if isinstance(exc, CastlistError):
        return exc
    if isinstance(exc, OSError):
        return explain_os_error(exc, workspace)
    if isinstance(exc, sqlite3.Error):
        from pipelines.store.workspace import DB_NAME

        root = Path(workspace) if workspace else Path(".")
        return explain_sqlite_error(exc, root / DB_NAME, root)
    return None
