"""The workspace's SQLite database: schema, connection settings and transactions.

One file per workspace, WAL mode so the CLI and several browser tabs can read while one
writes; every write goes through :func:`transaction`, so a killed process never leaves half
an action behind.
"""

from __future__ import annotations

import datetime as _dt
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
-- One row per pair and the action that made it, so undoing one action removes only its own
-- pairs (action_id 0: made before actions were recorded per pair).
CREATE TABLE IF NOT EXISTS cannot_link (
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    action_id INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (a, b, action_id)
);
-- The machine's latest grouping: line -> episode group -> season character.
CREATE TABLE IF NOT EXISTS groups (
    line_id TEXT PRIMARY KEY REFERENCES lines(id),
    group_id TEXT NOT NULL,
    character TEXT NOT NULL,
    reliability REAL,
    character_id TEXT
);
-- Group and character ids that no longer exist, and what became of them, so a command given
-- an old id says what happened instead of acting on other lines.
CREATE TABLE IF NOT EXISTS retired_ids (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    successor TEXT,
    why TEXT NOT NULL,
    action_id INTEGER NOT NULL DEFAULT 0,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stages (
    episode_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    done_at TEXT NOT NULL,
    PRIMARY KEY (episode_id, stage, key)
);
-- Every human action, which undo/redo and audits read. Rows are only added, and undo and redo
-- change only the state column of an action, never its before/after rows.
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    verb TEXT NOT NULL,
    args TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
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


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def migrate(conn: sqlite3.Connection) -> None:
    """Bring a schema-1 workspace made by an older castlist up to date, in place.

    The changes are additive (a table, a nullable column, one more key column), so the
    schema version stays 1 and nothing a user stored is lost: old cannot-links are credited
    to the newest action that made them, and actions undone before a newer action was taken
    (which an old redo could resurrect) are marked abandoned."""
    import json

    needs_pairs = "action_id" not in _columns(conn, "cannot_link")
    needs_char = "character_id" not in _columns(conn, "groups")
    has_retired = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='retired_ids'"
    ).fetchone()
    stale = conn.execute(
        "SELECT 1 FROM actions u WHERE u.state='undone' AND EXISTS (SELECT 1 FROM actions d "
        "WHERE d.state='done' AND d.verb NOT IN ('undo', 'redo') AND d.id > u.id)"
    ).fetchone()
    if not (needs_pairs or needs_char or stale) and has_retired:
        return
    with transaction(conn):
        if needs_char:
            conn.execute("ALTER TABLE groups ADD COLUMN character_id TEXT")
        if needs_pairs:
            made_by: dict[tuple[str, str], int] = {}
            for aid, after in conn.execute(
                "SELECT id, after FROM actions WHERE state='done' ORDER BY id"
            ):
                for a, b in json.loads(after).get("cannot", []):
                    made_by[(a, b)] = aid
            pairs = [
                (a, b, made_by.get((a, b), 0))
                for a, b in conn.execute("SELECT a, b FROM cannot_link")
            ]
            conn.execute("ALTER TABLE cannot_link RENAME TO cannot_link_v0")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        if needs_pairs:
            conn.executemany("INSERT INTO cannot_link(a, b, action_id) VALUES (?, ?, ?)", pairs)
            conn.execute("DROP TABLE cannot_link_v0")
        conn.execute(
            "UPDATE actions SET state='abandoned' WHERE state='undone' AND EXISTS (SELECT 1 "
            "FROM actions d WHERE d.state='done' AND d.verb NOT IN ('undo', 'redo') "
            "AND d.id > actions.id)"
        )


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


def now() -> str:
    """The time stamps every table stores: UTC, to the second, ISO 8601."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
