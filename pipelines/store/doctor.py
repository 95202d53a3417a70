"""``castlist doctor``: check a workspace, list its backups, restore one, repair vectors.

The database is checked with SQLite's ``integrity_check`` and its schema version; every
stage marked done must have its vectors files, loadable, 2-D, one row per line and finite.
Vectors are derived data, so a bad file is repaired by deleting it and clearing its stage
mark: the next ``castlist run`` re-runs that stage (``run`` does this by itself too).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import faults
from pipelines.errors import UsageError, WorkspaceError
from pipelines.io.vectorfiles import OPTIONAL_FILES, read_vectors_file, stage_files
from pipelines.store import backup, database
from pipelines.store.workspace import DB_NAME, Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BadStage:
    """A stage marked done whose files are missing or invalid."""

    episode_id: str
    stage: str
    key: str
    problems: tuple[str, ...]
    imported: bool  # vectors came from the user: castlist cannot remake them

    def __str__(self) -> str:
        return f"{self.episode_id} {self.stage} ({self.key}): " + "; ".join(self.problems)


@dataclass
class Report:
    root: Path
    database: str = ""  # "ok" or what is wrong with castlist.db
    schema: str = ""
    bad_stages: list[BadStage] = field(default_factory=list)
    backups: list[backup.Backup] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # what --repair / --restore did

    @property
    def healthy(self) -> bool:
        return self.database == "ok" and not self.bad_stages

    def __str__(self) -> str:
        out = [f"workspace {self.root}"]
        out.append(f"database: {self.database}")
        if self.schema:
            out.append(f"schema: {self.schema}")
        if self.database == "ok":
            if self.bad_stages:
                out.append(f"vectors: {len(self.bad_stages)} stage(s) with missing or bad files")
                out += [f"  {b}" for b in self.bad_stages]
                fix = [b for b in self.bad_stages if not b.imported]
                if fix:
                    out.append(
                        f"  fix: `castlist doctor {self.root} --repair`, then `castlist run "
                        f"{self.root}` (run also repairs them by itself)"
                    )
                if len(fix) < len(self.bad_stages):
                    out.append("  imported vectors cannot be remade: import them again")
            else:
                out.append("vectors: every stage marked done has valid files")
        elif (good := _newest_good(self.backups)) is not None:
            out.append(f"fix: `castlist doctor {self.root} --restore {good.name}`")
        out.append(f"backups ({len(self.backups)}, newest first):")
        out += [
            f"  {b.name}  {b.when}{'  [' + b.note + ']' if b.note else ''}" for b in self.backups
        ]
        if not self.backups:
            out[-1] += " none yet (one is made before each command that writes)"
        out += self.actions
        return "\n".join(out)


def _newest_good(backups: list[backup.Backup]) -> backup.Backup | None:
    return next((b for b in backups if b.note != "pre-restore" and backup.is_intact(b.path)), None)


def _integrity(db: Path) -> tuple[str, str]:
    """(database verdict, schema verdict), read-only."""
    try:
        conn, _, _ = database.open_existing(db, "SELECT 1")
    except sqlite3.Error as exc:
        return f"cannot be opened: {exc}", ""
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
        if rows != ["ok"]:
            return "DAMAGED: " + "; ".join(rows[:5]), ""
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.Error as exc:
        return f"DAMAGED: {exc}", ""
    finally:
        conn.close()
    version = row[0] if row else None
    if version is None or str(version) != str(database.SCHEMA_VERSION):
        return "ok", f"version {version} is not the supported {database.SCHEMA_VERSION}"
    return "ok", f"version {version} (current)"


def bad_stages(ws: Workspace) -> list[BadStage]:
    """Stages marked done whose vectors files are missing, unreadable or invalid."""
    kinds = {ep.id: ep.kind for ep in ws.episodes()}
    found = []
    for episode_id, stage, key in ws.stage_rows():
        n_rows = ws.line_count(episode_id)
        imported = kinds.get(episode_id) == "imported"
        problems = []
        for modality, model in stage_files(stage, key):
            path = ws.vectors.path(episode_id, modality, model)
            if not path.is_file():
                if imported and (modality, model) in OPTIONAL_FILES:
                    continue
                problems.append(f"{path} missing")
                continue
            _, problem = read_vectors_file(path, n_rows)
            if problem:
                problems.append(f"{path} {problem}")
        if problems:
            found.append(BadStage(episode_id, stage, key, tuple(problems), imported))
    return found


def repair_vectors(ws: Workspace) -> list[BadStage]:
    """Clear the stage mark (and delete the bad files) of every stage whose vectors are
    missing or invalid, so the next run recomputes them. Imported vectors are left alone
    (only a new import can replace them). Returns the stages cleared."""
    cleared = []
    for bad in bad_stages(ws):
        if bad.imported:
            continue
        for modality, model in stage_files(bad.stage, bad.key):
            path = ws.vectors.path(bad.episode_id, modality, model)
            _, problem = read_vectors_file(path, ws.line_count(bad.episode_id))
            if problem and path.is_file():
                path.unlink()
        ws.unmark_stage(bad.episode_id, bad.stage, bad.key)
        log.warning("vectors of %s: recomputing them", bad)
        cleared.append(bad)
    return cleared


def check(root: str | Path) -> Report:
    root = Path(root)
    db = root / DB_NAME
    report = Report(root, backups=backup.list_backups(root))
    if not db.is_file():
        if not report.backups:
            raise WorkspaceError(f"{root}: not a castlist workspace (no {DB_NAME})")
        report.database = f"MISSING: {db} is gone"
        return report
    report.database, report.schema = _integrity(db)
    if report.database == "ok" and report.schema.endswith("(current)"):
        with Workspace.open(root) as ws:
            report.bad_stages = bad_stages(ws)
    return report


def repair(root: str | Path) -> Report:
    report = check(root)
    if report.database != "ok":
        report.actions.append("repair: the database itself is damaged; restore a backup first")
        return report
    with Workspace.open(root) as ws:
        cleared = repair_vectors(ws)
        report.bad_stages = bad_stages(ws)
    for bad in cleared:
        report.actions.append(f"repair: cleared {bad.episode_id} {bad.stage} ({bad.key})")
    if cleared:
        report.actions.append(f"now run `castlist run {root}` to recompute them")
    elif not report.bad_stages:
        report.actions.append("repair: nothing to repair")
    return report


def _find_backup(root: Path, name: str) -> Path:
    candidates = [Path(name), root / backup.BACKUP_DIR / name, root / name]
    for path in candidates:
        if path.is_file():
            return path
    listed = ", ".join(b.name for b in backup.list_backups(root)[:3]) or "none"
    raise UsageError(
        f"no backup {name!r} in {root / backup.BACKUP_DIR} (newest: {listed}); "
        f"see `castlist doctor {root}`"
    )


def restore(root: str | Path, name: str) -> Report:
    """Put a backup in place of castlist.db, keeping the current file as a pre-restore copy."""
    root = Path(root)
    source = _find_backup(root, name)
    if not backup.is_intact(source):
        raise UsageError(f"{source} is itself damaged; choose another backup")
    db = root / DB_NAME
    (root / backup.BACKUP_DIR).mkdir(exist_ok=True)
    kept: Path | None = None
    if db.is_file():
        if backup.is_intact(db):
            made = backup.back_up(root, note="pre-restore", force=True)
            kept = made.path if made else None
        else:  # a damaged file cannot be read by the backup API: keep its bytes as they are
            tag = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            kept = root / backup.BACKUP_DIR / f"castlist-{tag}-{'0' * 12}-pre-restore.db"
            shutil.copyfile(db, kept)
            if Path(f"{db}-wal").is_file():
                shutil.copyfile(f"{db}-wal", f"{kept}-wal")
    tmp = db.with_name(DB_NAME + ".restoring")
    try:
        backup.copy_database(source, tmp)
        # the old write-ahead log belongs to the old file; left there, SQLite would replay it
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, db)
    except (OSError, sqlite3.Error) as exc:
        tmp.unlink(missing_ok=True)
        raise faults.explain(exc, root) from exc
    report = check(root)
    report.actions.append(f"restored {source.name} into {db}")
    if kept is not None:
        report.actions.append(f"the file it replaced is kept as {kept}")
    return report
