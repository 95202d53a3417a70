"""Rolling backups of ``castlist.db``, taken before every command that writes.

SQLite's online backup API copies a consistent snapshot (WAL included) while the database
is open; the last :data:`KEEP` copies stay in ``WORKSPACE/backups/``. A backup is skipped
when nothing changed since the newest one: each file name carries a short stamp of the
database's content (row counts, newest ids and times, the meta table), which is cheap to
compute and changes with every write castlist makes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pipelines.io.atomic import atomic_path

log = logging.getLogger(__name__)

KEEP = 10
"""How many rolling backups to keep (``CASTLIST_BACKUPS`` overrides; 0 turns them off)."""

BACKUP_DIR = "backups"
_NAME_RE = re.compile(r"^castlist-(\d{8}T\d{6}\d*Z)-([0-9a-f]{12})(-[a-z-]+)?\.db$")
_TABLES = ("episodes", "lines", "labels", "locks", "cannot_link", "groups", "stages", "actions")


@dataclass(frozen=True)
class Backup:
    path: Path
    at: str  # UTC, as in the name: 20261129T083000123456Z
    stamp: str
    note: str  # "" for a rolling backup, "pre-restore" for the copy doctor --restore keeps

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def when(self) -> str:
        t = _dt.datetime.strptime(self.at[:15], "%Y%m%dT%H%M%S")
        return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def keep_count() -> int:
    try:
        return max(0, int(os.environ.get("CASTLIST_BACKUPS", KEEP)))
    except ValueError:
        return KEEP


def content_stamp(conn: sqlite3.Connection) -> str:
    """A short hash that changes whenever castlist writes anything to the database."""
    h = hashlib.sha256()
    for table in _TABLES:
        h.update(
            repr(conn.execute(f"SELECT COUNT(*), MAX(rowid) FROM {table}").fetchone()[:]).encode()
        )
    h.update(repr(conn.execute("SELECT MAX(done_at) FROM stages").fetchone()[:]).encode())
    h.update(repr(conn.execute("SELECT MAX(added_at) FROM episodes").fetchone()[:]).encode())
    h.update(repr(conn.execute("SELECT MAX(rev) FROM labels").fetchone()[:]).encode())
    h.update(
        repr([tuple(r) for r in conn.execute("SELECT key, value FROM meta ORDER BY key")]).encode()
    )
    return h.hexdigest()[:12]


def list_backups(root: str | Path) -> list[Backup]:
    """Backups in ``root/backups``, newest first."""
    folder = Path(root) / BACKUP_DIR
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        m = _NAME_RE.match(name)
        if m:
            found.append(Backup(folder / name, m.group(1), m.group(2), (m.group(3) or "")[1:]))
    return sorted(found, key=lambda b: b.at, reverse=True)


def is_intact(path: Path) -> bool:
    """Whether a database file passes SQLite's quick check (read-only, never modifies it)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def newest_good_backup(root: str | Path) -> Backup | None:
    for b in list_backups(root):
        if is_intact(b.path):
            return b
    return None


def _now_tag() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def copy_database(src: Path, dest: Path) -> None:
    """Snapshot ``src`` into ``dest`` with the online backup API, atomically."""
    source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True)
    try:
        with atomic_path(dest, suffix=".partial") as tmp:
            target = sqlite3.connect(tmp)
            try:
                source.backup(target)
            finally:
                target.close()
    finally:
        source.close()


def back_up(root: str | Path, note: str = "", force: bool = False) -> Backup | None:
    """Back ``root/castlist.db`` up unless the newest backup already holds this content.

    Returns the new backup, or None when it was skipped (unchanged, turned off, no
    database). Raises ``sqlite3.Error`` / ``OSError`` (a damaged database, a full disk):
    the caller decides whether that stops the command.
    """
    from pipelines.store.workspace import DB_NAME

    keep = keep_count()
    db = Path(root) / DB_NAME
    if (keep == 0 and not force) or not db.is_file():
        return None
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        stamp = content_stamp(conn)
    finally:
        conn.close()
    existing = [b for b in list_backups(root) if not b.note]
    if not force and existing and existing[0].stamp == stamp:
        log.debug("backup skipped: %s unchanged since %s", db, existing[0].name)
        return None
    folder = Path(root) / BACKUP_DIR
    folder.mkdir(exist_ok=True)
    suffix = f"-{note}" if note else ""
    dest = folder / f"castlist-{_now_tag()}-{stamp}{suffix}.db"
    copy_database(db, dest)
    for old in existing[max(keep - 1, 0) :]:
        old.path.unlink(missing_ok=True)
    log.info("backed up %s to %s", db, dest)
    return Backup(dest, dest.name.split("-")[1], stamp, note)
