"""The workspace's SQLite database: schema, connection settings and transactions.

One file per workspace, WAL mode so the CLI and several browser tabs can read while one
writes; every write goes through :func:`transaction`, so a killed process never leaves half
an action behind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (
    id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL UNIQUE,
    media TEXT NOT NULL,
    subs TEXT NOT NULL,
    subs_sha TEXT NOT NULL,
    duration REAL NOT NULL,
    kind TEXT NOT NULL,
    skipped TEXT NOT NULL DEFAULT '{}',
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lines (
    id TEXT PRIMARY KEY,
    episode_id TEXT NOT NULL REFERENCES episodes(id),
    idx INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    text TEXT NOT NULL,
    name_hint TEXT NOT NULL DEFAULT '',
    skip_reason TEXT NOT NULL DEFAULT '',
    UNIQUE (episode_id, idx)
);
-- Current speaker of each line. A row with source='human' is never written by a machine.
CREATE TABLE IF NOT EXISTS labels (
    line_id TEXT PRIMARY KEY REFERENCES lines(id),
    speaker TEXT,
    source TEXT NOT NULL,
    confidence REAL,
    rev INTEGER NOT NULL DEFAULT 0
);
-- Human grouping decisions: lines sharing a lock must stay together, lines listed in
-- cannot_link must stay apart. Both survive every re-run.
CREATE TABLE IF NOT EXISTS locks (
    line_id TEXT PRIMARY KEY REFERENCES lines(id),
    lock TEXT NOT NULL,
    rev INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cannot_link (
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    PRIMARY KEY (a, b)
);
-- The machine's latest grouping: line -> episode group -> season character.
CREATE TABLE IF NOT EXISTS groups (
    line_id TEXT PRIMARY KEY REFERENCES lines(id),
    group_id TEXT NOT NULL,
    character TEXT NOT NULL,
    reliability REAL
);
CREATE TABLE IF NOT EXISTS stages (
    episode_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    done_at TEXT NOT NULL,
    PRIMARY KEY (episode_id, stage, key)
);
-- Append-only log of every human action, which undo/redo and audits read.
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    verb TEXT NOT NULL,
    args TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    undoes INTEGER,
    state TEXT NOT NULL DEFAULT 'done'
);
CREATE INDEX IF NOT EXISTS lines_episode ON lines(episode_id);
CREATE INDEX IF NOT EXISTS groups_group ON groups(group_id);
CREATE INDEX IF NOT EXISTS locks_lock ON locks(lock);
"""


READ_WRITE, READ_ONLY, IMMUTABLE = "rw", "ro", "immutable"


def connect(path: Path, mode: str = READ_WRITE) -> sqlite3.Connection:
    """A connection in one of three modes.

    ``rw``: the normal one (WAL). ``ro``: ``file:...?mode=ro``, for a workspace castlist may
    not write; it still needs the ``-shm`` file. ``immutable``: for read-only media where not
    even ``-shm`` can be created; SQLite then reads the main file only, so it must not be
    used while someone writes (nobody can, on read-only media).
    """
    if mode == READ_WRITE:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    else:
        query = "mode=ro" if mode == READ_ONLY else "immutable=1"
        uri = f"{Path(path).resolve().as_uri()}?{query}"
        conn = sqlite3.connect(
            uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False
        )
    conn.row_factory = sqlite3.Row
    if mode == READ_WRITE:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _cannot_write(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    return (
        name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY"))
        or "unable to open database" in text
        or "readonly database" in text
    )


def open_existing(path: Path, probe: str) -> tuple[sqlite3.Connection, str, Any]:
    """Open an existing database, falling back to read-only modes when it cannot be written.

    Decided by trying (``probe`` is a read query run on each attempt), not by ``os.access``:
    root may write to files whose modes say no, and nobody may write on a read-only mount.
    Returns (connection, mode, the probe's first row). Errors other than "cannot write here"
    propagate from the read-write attempt, so a damaged file is reported as damaged.
    """
    first: sqlite3.Error | None = None
    for mode in (READ_WRITE, READ_ONLY, IMMUTABLE):
        conn = None
        try:
            conn = connect(path, mode)
            row = conn.execute(probe).fetchone()
            return conn, mode, row
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            if first is None:
                first = exc
            if not _cannot_write(exc):
                raise
    assert first is not None
    raise first


def create(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    with transaction(conn):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE so two writers queue instead of failing half-way."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
