"""The workspace: one folder holding a season's episodes, lines, labels, groups, vectors and
the log of every human action.

Every reader (CLI, stages, the Streamlit browser) goes through :class:`Workspace`, so the
rules live in one place: machine writes never touch a human label, every human action is
logged with the rows it changed (which is what undo/redo replay), and an action based on a
stale view of the lines it touches is refused with :class:`ConflictError`.

This module holds the tables of episodes, lines, labels and groups and the human actions on
them; ``ws.vectors`` (:mod:`pipelines.store.vectors`) holds the vectors files and ``ws.actions``
(:mod:`pipelines.store.actions`) the action log with undo and redo.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from grouping.name_calibration import NameCalibration
from pipelines import faults
from pipelines.errors import ConflictError, NotFoundError, UsageError, WorkspaceError
from pipelines.io.paths import slug
from pipelines.records import (
    AMBIENT,
    NAME_CALIBRATION,
    Episode,
    LabelSource,
    Line,
    SubtitleEvent,
)
from pipelines.store import database
from pipelines.store.actions import Action, ActionLog, Change, Rows
from pipelines.store.ids import IdMinter, describe_retired
from pipelines.store.vectors import VectorStore

log = logging.getLogger(__name__)

_PROPAGATED = LabelSource.PROPAGATED.value

DB_NAME = "castlist.db"


def file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _human(name: str) -> dict[str, Any]:
    return {"speaker": name, "source": LabelSource.HUMAN.value, "confidence": 1.0}


def _lock_rows(line_ids: Sequence[str], cur: Rows, action_id: int) -> dict[str, Any]:
    """One lock for all these lines: the oldest lock among them, or a new one."""
    held = sorted({row["lock"] for lid in line_ids if (row := cur["locks"].get(lid))})
    lock = held[0] if held else f"k{action_id}"
    return {lid: {"lock": lock} for lid in line_ids}


class Workspace:
    """A castlist workspace folder. Open one with :meth:`open` or make one with :meth:`init`."""

    def __init__(self, root: Path, conn: sqlite3.Connection) -> None:
        self.root = root
        self.conn = conn
        self.vectors = VectorStore(root, conn, self.line_count)
        self.actions = ActionLog(conn)
        self.read_only = False

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def init(cls, root: str | Path) -> Workspace:
        root = Path(root)
        try:
            try:
                os.stat(root)  # raises ELOOP on a symlink loop, which Path.exists() hides
            except FileNotFoundError:
                if root.is_symlink():
                    raise WorkspaceError(
                        f"{root} is a symlink to a missing folder ({os.readlink(root)}); "
                        "create that folder or choose another path"
                    ) from None
            if (root / DB_NAME).exists():
                return cls.open(root)
            if root.exists() and any(root.iterdir()):
                raise WorkspaceError(
                    f"{root}: folder exists and is not empty; choose a new folder for the workspace"
                )
            root.mkdir(parents=True, exist_ok=True)
            conn = database.create(root / DB_NAME)
        except OSError as exc:  # a symlink loop, no permission, a full or read-only disk
            raise faults.explain_os_error(exc, root) from exc
        except sqlite3.Error as exc:
            raise faults.explain_sqlite_error(exc, root / DB_NAME, root) from exc
        return cls(root, conn)

    @classmethod
    def open(cls, root: str | Path) -> Workspace:
        """Open a workspace; read-only (``ws.read_only``) when it cannot be written, so
        commands that only read work on read-only media."""
        root = Path(root)
        db = root / DB_NAME
        try:
            is_db = db.is_file()
        except OSError as exc:
            raise faults.explain_os_error(exc, root) from exc
        if not is_db:
            from pipelines.store.backup import newest_good_backup

            good = newest_good_backup(root)
            if good is not None:  # the database went missing, its backups did not
                raise WorkspaceError(
                    f"{db} is missing; restore the newest backup with "
                    f"`castlist doctor {root} --restore {good.name}`"
                )
            raise WorkspaceError(
                f"{root}: not a castlist workspace (no {DB_NAME}); create one with "
                f"`castlist init {root}`"
            )
        try:
            conn, mode, version = database.open_existing(
                db, "SELECT value FROM meta WHERE key='schema_version'"
            )
        except sqlite3.Error as exc:
            raise faults.explain_sqlite_error(exc, db, root) from exc
        if version is None or int(version[0]) != database.SCHEMA_VERSION:
            conn.close()
            raise WorkspaceError(
                f"{db}: workspace schema {version and version[0]} is not supported"
            )
        if mode != database.READ_WRITE:
            log.info("%s: opened read-only (%s): it cannot be written", db, mode)
        wal = db.with_name(DB_NAME + "-wal")
        if mode == database.IMMUTABLE and wal.is_file() and wal.stat().st_size:
            log.warning(
                "%s is read-only and its last changes are still in %s, which cannot be read "
                "from here: copy the whole folder to a writable disk to see them",
                db,
                wal.name,
            )
        if mode == database.READ_WRITE:
            database.migrate(conn)  # a read-only copy of an older workspace is read as it is
        ws = cls(root, conn)
        ws.read_only = mode != database.READ_WRITE
        return ws

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def audio_path(self, episode_id: str) -> Path:
        from pipelines.io.paths import component, safe_join

        return safe_join(self.root, "cache", "audio", component(episode_id, ".wav"))

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with database.transaction(self.conn):
            self._write_meta({key: value})

    # ------------------------------------------------------------------ episodes & lines
    def add_episode(
        self,
        media: Path,
        subs: Path,
        duration: float,
        kind: str,
        events: Sequence[SubtitleEvent],
        skipped: dict[str, int],
        episode_id: str | None = None,
    ) -> tuple[Episode, bool]:
        """Store an episode and its lines. Returns (episode, created).

        Re-adding the same media with unchanged subtitles is a no-op; changed subtitles are
        refused when people have already labelled lines of that episode, so no human work is
        lost by accident.
        """
        media = Path(media).resolve()
        subs = Path(subs).resolve()
        sha = file_sha(subs)
        existing = self.conn.execute(
            "SELECT * FROM episodes WHERE media=?", (str(media),)
        ).fetchone()
        if existing is not None:
            if existing["subs_sha"] == sha:
                return self._episode(existing), False
            n_human = self.conn.execute(
                "SELECT COUNT(*) FROM labels JOIN lines ON lines.id=labels.line_id "
                "WHERE lines.episode_id=? AND labels.source='human'",
                (existing["id"],),
            ).fetchone()[0]
            if n_human:
                raise WorkspaceError(
                    f"{subs}: subtitles changed for episode {existing['id']} which already has "
                    f"{n_human} hand labels; add the new file as a new episode instead"
                )
            episode_id = existing["id"]
        with database.transaction(self.conn):
            if existing is not None:
                self._delete_episode_rows(episode_id)
                idx = existing["idx"]
            else:
                idx = self.conn.execute(
                    "SELECT COALESCE(MAX(idx), -1) + 1 FROM episodes"
                ).fetchone()[0]
                episode_id = episode_id or self._unique_episode_id(slug(media.stem))
            self.conn.execute(
                "INSERT INTO episodes(id, idx, media, subs, subs_sha, duration, kind, skipped, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    episode_id,
                    idx,
                    str(media),
                    str(subs),
                    sha,
                    duration,
                    kind,
                    json.dumps(skipped),
                    database.now(),
                ),
            )
            self.conn.executemany(
                "INSERT INTO lines(id, episode_id, idx, start, end, text, name_hint, skip_reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        f"{episode_id}-{i:04d}",
                        episode_id,
                        i,
                        ev.start,
                        ev.end,
                        ev.text,
                        ev.name_hint,
                        ev.skip_reason,
                    )
                    for i, ev in enumerate(events)
                ],
            )
        return self.episode(episode_id), True

    def _unique_episode_id(self, base: str) -> str:
        taken = {r[0] for r in self.conn.execute("SELECT id FROM episodes")}
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        return candidate

    def _delete_episode_rows(self, episode_id: str) -> None:
        for table in ("labels", "locks", "groups"):
            self.conn.execute(
                f"DELETE FROM {table} WHERE line_id IN (SELECT id FROM lines WHERE episode_id=?)",
                (episode_id,),
            )
        for table in ("lines", "stages", "episodes"):
            key = "id" if table == "episodes" else "episode_id"
            self.conn.execute(f"DELETE FROM {table} WHERE {key}=?", (episode_id,))

    @staticmethod
    def _episode(row: sqlite3.Row) -> Episode:
        return Episode(
            row["id"], row["idx"], row["media"], row["subs"], row["duration"], row["kind"]
        )

    def episodes(self) -> list[Episode]:
        return [self._episode(r) for r in self.conn.execute("SELECT * FROM episodes ORDER BY idx")]

    def episode(self, episode_id: str) -> Episode:
        row = self.conn.execute("SELECT * FROM episodes WHERE id=?", (episode_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no episode {episode_id!r} in {self.root}; see `castlist status`")
        return self._episode(row)

    def skipped_counts(self, episode_id: str) -> dict[str, int]:
        row = self.conn.execute("SELECT skipped FROM episodes WHERE id=?", (episode_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    _LINE_QUERY = """
        SELECT lines.*, labels.speaker, labels.source, labels.confidence,
               groups.group_id, groups.character, groups.reliability, locks.lock,
               groups.character_id
        FROM lines
        JOIN episodes ON episodes.id = lines.episode_id
        LEFT JOIN labels ON labels.line_id = lines.id
        LEFT JOIN groups ON groups.line_id = lines.id
        LEFT JOIN locks ON locks.line_id = lines.id
    """

    def _line(self, r: sqlite3.Row, names: NameCalibration | None) -> Line:
        score = r["confidence"]
        confidence = score
        if names is not None and score is not None and r["source"] == _PROPAGATED:
            confidence = float(names.transform(score))
        return Line(
            id=r["id"], episode_id=r["episode_id"], idx=r["idx"], start=r["start"],
            end=r["end"], text=r["text"], name_hint=r["name_hint"], skip_reason=r["skip_reason"],
            speaker=r["speaker"], label_source=r["source"], confidence=confidence,
            group=r["group_id"], score=score,
        )  # fmt: skip

    def name_calibration(self) -> NameCalibration | None:
        """How sure the machine's names are as the answers about them say (None: as the voice
        model says); the season's regroup fits it (see ``pipelines.records.NAME_CALIBRATION``)."""
        raw = self.get_meta(NAME_CALIBRATION)
        try:
            names = NameCalibration.from_dict(json.loads(raw)) if raw else None
        except (ValueError, KeyError, TypeError):  # refitted by the next regroup
            log.warning("%s: unreadable name calibration; read as the voice model says", self.root)
            return None
        return None if names is None or names.identity_ else names

    def lines(self, episode_id: str | None = None, speech_only: bool = False) -> list[Line]:
        names = self.name_calibration()
        return [self._line(r, names) for r in self._line_rows(episode_id, speech_only)]

    def _line_rows(self, episode_id: str | None, speech_only: bool) -> list[sqlite3.Row]:
        where, params = [], []
        if episode_id is not None:
            where.append("lines.episode_id=?")
            params.append(episode_id)
        if speech_only:
            where.append("lines.skip_reason=''")
        sql = self._LINE_QUERY + (" WHERE " + " AND ".join(where) if where else "")
        return self.conn.execute(sql + " ORDER BY episodes.idx, lines.idx", params).fetchall()

    def lines_frame(self, episode_id: str | None = None, speech_only: bool = False) -> pd.DataFrame:
        """All lines with their current label, group and lock, one row each (for UI/export).
        ``confidence`` is how sure a name is as people's answers show (``name_calibration``),
        ``score`` the stored value it comes from (a machine name: the voice model's own)."""
        rows = self._line_rows(episode_id, speech_only)
        columns = [
            "id",
            "episode_id",
            "idx",
            "start",
            "end",
            "text",
            "name_hint",
            "skip_reason",
            "speaker",
            "source",
            "confidence",
            "group_id",
            "character",
            "reliability",
            "lock",
            "character_id",
        ]
        df = pd.DataFrame([tuple(r[c] for c in columns) for r in rows], columns=columns)
        df["score"] = df["confidence"]
        names = self.name_calibration()
        machine = (df["source"] == _PROPAGATED) & df["score"].notna()
        if names is not None and machine.any():
            df.loc[machine, "confidence"] = names.transform(df.loc[machine, "score"].astype(float))
        return df

    def line(self, line_id: str) -> Line:
        rows = self.conn.execute(self._LINE_QUERY + " WHERE lines.id=?", (line_id,)).fetchall()
        if not rows:
            raise NotFoundError(f"no line {line_id!r} in {self.root}; line ids look like ep01-0042")
        return self._line(rows[0], self.name_calibration())

    def line_count(self, episode_id: str) -> int:
        return self.conn.execute(
            "SELECT COUNT(*) FROM lines WHERE episode_id=?", (episode_id,)
        ).fetchone()[0]

    # ------------------------------------------------------------------ stages
    def stage_rows(self) -> list[tuple[str, str, str]]:
        """Every (episode, stage, key) marked done."""
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute("SELECT episode_id, stage, key FROM stages ORDER BY 1, 2")
        ]

    def unmark_stage(self, episode_id: str, stage: str, key: str) -> None:
        with database.transaction(self.conn):
            self.conn.execute(
                "DELETE FROM stages WHERE episode_id=? AND stage=? AND key=?",
                (episode_id, stage, key),
            )

    def stage_done(self, episode_id: str, stage: str, key: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM stages WHERE episode_id=? AND stage=? AND key=?",
            (episode_id, stage, key),
        ).fetchone()
        return row is not None

    def mark_stage(self, episode_id: str, stage: str, key: str) -> None:
        with database.transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO stages(episode_id, stage, key, done_at) VALUES (?, ?, ?, ?)",
                (episode_id, stage, key, database.now()),
            )

    # ------------------------------------------------------------------ machine writes
    def write_machine_results(
        self,
        groups: Iterable[tuple],
        labels: Iterable[tuple[str, str | None, str, float | None]],
        retired: Iterable[tuple[str, str, str | None, str]] = (),
        minter: IdMinter | None = None,
        meta: dict[str, str] | None = None,
    ) -> None:
        """Replace the machine grouping and machine labels in one transaction.

        ``groups`` rows are (line_id, group_id, character, reliability[, character_id]) where
        character is what users read (the name, or the id while unnamed); ``labels`` rows are
        (line_id, speaker, source, confidence) with source 'propagated' or 'cluster'. Rows of
        lines with a human label are left exactly as they are. ``retired`` rows (id, kind,
        successor, why) record ids this grouping no longer carries; ``minter`` persists the
        id counters so a fresh id is never handed out twice; ``meta`` keys are written in the
        same transaction (what this grouping covered: a killed run leaves both or neither).
        """
        groups = [(*row, None)[:5] for row in groups]
        with database.transaction(self.conn):
            self._bump_machine_version()
            self.conn.execute("DELETE FROM groups")
            self._insert_groups(groups)
            action_id = self.actions.revision()
            self.conn.executemany(
                "INSERT OR REPLACE INTO retired_ids(id, kind, successor, why, action_id, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(*row, action_id, database.now()) for row in retired],
            )
            # an id that is live again (an undo brought its lines back) is no longer retired
            self.conn.execute(
                "DELETE FROM retired_ids WHERE id IN (SELECT group_id FROM groups) "
                "OR id IN (SELECT character_id FROM groups)"
            )
            if minter is not None:
                minter.save()
            self.conn.execute("DELETE FROM labels WHERE source != 'human'")
            self._insert_machine_labels(labels)
            self._write_meta(meta)

    def add_machine_results(
        self,
        groups: Iterable[tuple],
        labels: Iterable[tuple[str, str | None, str, float | None]],
        minter: IdMinter | None = None,
        meta: dict[str, str] | None = None,
    ) -> None:
        """Add the machine grouping and labels of lines not grouped yet (a newly added
        episode), in one transaction, leaving every other line's rows as they are.

        Rows are shaped as for :meth:`write_machine_results`; a line with a human label keeps
        it. A line that already has a group is refused: this only ever adds."""
        groups = [(*row, None)[:5] for row in groups]
        with database.transaction(self.conn):
            self._bump_machine_version()
            try:
                self._insert_groups(groups)
            except sqlite3.IntegrityError as exc:
                raise WorkspaceError(
                    f"{self.root}: a line of the new episodes is grouped already ({exc}); "
                    f"regroup the season with `castlist run {self.root} --regroup all`"
                ) from exc
            if minter is not None:
                minter.save()
            line_ids = [(row[0],) for row in groups]
            self.conn.executemany(
                "DELETE FROM labels WHERE line_id=? AND source != 'human'", line_ids
            )
            self._insert_machine_labels(labels)
            self._write_meta(meta)

    def _bump_machine_version(self) -> None:
        """Inside the caller's transaction: readers (the browser) see that groups changed."""
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES ('machine_version', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def _insert_groups(self, groups: list[tuple]) -> None:
        self.conn.executemany(
            "INSERT INTO groups(line_id, group_id, character, reliability, character_id) "
            "VALUES (?, ?, ?, ?, ?)",
            groups,
        )

    def _insert_machine_labels(self, labels: Iterable[tuple]) -> None:
        """Machine label rows; a line's human label (or any row already there) stays."""
        self.conn.executemany(
            "INSERT INTO labels(line_id, speaker, source, confidence) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(line_id) DO NOTHING",
            [row for row in labels if row[2] != LabelSource.HUMAN.value],
        )

    def _write_meta(self, meta: dict[str, str] | None) -> None:
        """Meta keys inside the caller's transaction."""
        self.conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            list((meta or {}).items()),
        )

    # ------------------------------------------------------------------ human knowledge
    def human_labels(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT line_id, speaker FROM labels WHERE source='human'"))

    def locks(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT line_id, lock FROM locks"))

    def label_sources(self) -> dict[str, tuple[str | None, str]]:
        """line -> (speaker, source) of every labelled line."""
        return {
            r[0]: (r[1], r[2])
            for r in self.conn.execute("SELECT line_id, speaker, source FROM labels")
        }

    def cannot_links(self) -> list[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self.conn.execute("SELECT DISTINCT a, b FROM cannot_link ORDER BY a, b")
        ]

    def previous_ids(self) -> tuple[dict[str, str], dict[str, str]]:
        """The current grouping's (line -> group id, line -> character id), which the next
        regroup keeps where the lines stay together. Workspaces grouped by an older castlist
        have no character id column filled: their displayed ``C###`` ids stand in."""
        groups, characters = {}, {}
        for lid, gid, cid, shown in self.conn.execute(
            "SELECT line_id, group_id, character_id, character FROM groups"
        ):
            groups[lid] = gid
            if cid is None and re.fullmatch(r"C\d+", shown or ""):
                cid = shown
            if cid is not None:
                characters[lid] = cid
        return groups, characters

    def id_minter(self) -> IdMinter:
        return IdMinter(self.conn)

    def retired(self, some_id: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM retired_ids WHERE id=?", (some_id,)).fetchone()

    def _gone(self, kind: str, some_id: str) -> NotFoundError:
        """The error for an id that does not exist, saying what became of it if it once did."""
        row = self.retired(some_id)
        if row is None:
            return NotFoundError(f"no {kind} {some_id!r} in {self.root}; see `castlist status`")
        act = self.conn.execute(
            "SELECT verb FROM actions WHERE id=?", (row["action_id"],)
        ).fetchone()
        when = (
            f"by action #{row['action_id']} ({act[0]})"
            if act is not None
            else "when the season was grouped"
        )
        return NotFoundError(describe_retired(kind, some_id, row["successor"], row["why"], when))

    def data_version(self) -> tuple[int, int]:
        """(newest human action, hash of the meta table): a cache keyed on it is current,
        since every machine write bumps ``machine_version`` there."""
        meta = tuple(self.conn.execute("SELECT key, value FROM meta ORDER BY key"))
        return self.actions.revision(), hash(tuple(map(tuple, meta)))

    def group_lines(self, group_id: str) -> list[str]:
        ids = [
            r[0]
            for r in self.conn.execute("SELECT line_id FROM groups WHERE group_id=?", (group_id,))
        ]
        if not ids:
            raise self._gone("group", group_id)
        return ids

    def character_lines(self, character: str) -> list[str]:
        """Lines of a season character, given by its id (``C007``) or by the name it shows."""
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT line_id FROM groups WHERE character_id=? OR character=?",
                (character, character),
            )
        ]
        if not ids:
            raise self._gone("character", character)
        return ids

    # ------------------------------------------------------------------ human actions
    # Each action is a plan run inside one write transaction: it reads the current rows and
    # returns the line ids it touches and a function from their current rows (plus the new
    # action id, used to mint lock ids) to the rows it wants.

    def name_lines(
        self,
        line_ids: Sequence[str],
        name: str,
        who: str = "cli",
        base_rev: int | None = None,
        verb: str = "name",
    ) -> Action:
        """A person says these lines are spoken by ``name`` (AMBIENT for crowds/songs)."""
        name = name.strip()
        if not name:
            raise UsageError("a speaker name must not be empty")
        args = {"lines": list(line_ids), "name": name}
        return self._label(dict.fromkeys(line_ids, name), verb, args, who, base_rev)

    def check_lines(
        self,
        names: Mapping[str, str],
        checked: str,
        who: str = "cli",
        base_rev: int | None = None,
    ) -> Action:
        """A person checked lines the machine had named ``checked`` and gave each its speaker
        (mostly that name, a few corrected): one action, so one undo takes the answer back."""
        names = {lid: str(name).strip() for lid, name in names.items()}
        if not names or not all(names.values()):
            raise UsageError("a check names at least one line, and every name is non-empty")
        args = {"lines": list(names), "name": checked, "names": names}
        return self._label(names, "check", args, who, base_rev)

    def _label(
        self, names: dict[str, str], verb: str, args: dict, who: str, base_rev: int | None
    ) -> Action:
        """One logged action giving each line its hand name."""

        def plan() -> tuple[list[str], Change]:
            self._require_lines(list(names))
            return list(names), lambda cur, aid: {
                "labels": {lid: _human(name) for lid, name in names.items()}
            }

        return self.actions.record(verb, args, plan, who, base_rev)

    def name_group(
        self, group_id: str, name: str, who: str = "cli", base_rev: int | None = None
    ) -> Action:
        """Name a whole group and lock it; lines a person named otherwise keep their names.

        A group most of whose lines already carry one hand-given name is renamed: those lines
        take the new name (a typo fixed, a character recognised later)."""
        name = name.strip()
        if not name:
            raise UsageError("a speaker name must not be empty")

        def plan() -> tuple[list[str], Change]:
            human = self.human_labels()
            members = self.group_lines(group_id)
            old = self.group_name(group_id, members, human)
            ok = {name, old}
            ids = [lid for lid in members if human.get(lid, name) in ok]
            ids = self._with_locked(ids)
            if old is not None:  # the group's lock also holds lines of its old name elsewhere
                ids = [lid for lid in ids if human.get(lid, name) in ok]

            def change(cur: Rows, aid: int) -> Rows:
                return {
                    "labels": {lid: _human(name) for lid in ids},
                    "locks": _lock_rows(ids, cur, aid),
                }

            return ids, change

        return self.actions.record(
            "name_group", {"group": group_id, "name": name}, plan, who, base_rev
        )

    def group_name(
        self, group_id: str, members: Sequence[str] | None = None, human: dict | None = None
    ) -> str | None:
        """The hand-given name most (over half) of a group's lines carry, if any."""
        members = self.group_lines(group_id) if members is None else members
        human = self.human_labels() if human is None else human
        votes = Counter(human[lid] for lid in members if lid in human)
        if not votes:
            return None
        top, n = votes.most_common(1)[0]
        return top if 2 * n > len(members) and top != AMBIENT else None

    def mark_ambient(
        self, line_ids: Sequence[str], who: str = "cli", base_rev: int | None = None
    ) -> Action:
        return self.name_lines(line_ids, AMBIENT, who=who, base_rev=base_rev, verb="ambient")

    def merge_groups(
        self, group_ids: Sequence[str], who: str = "cli", base_rev: int | None = None
    ) -> Action:
        """These groups are one character: their lines stay together in every re-run."""
        group_ids = list(dict.fromkeys(group_ids))
        if len(group_ids) < 2:
            raise UsageError("merge needs at least two different groups")

        def plan() -> tuple[list[str], Change]:
            ids = self._with_locked([lid for g in group_ids for lid in self.group_lines(g)])
            human = self.human_labels()
            names = sorted({human[lid] for lid in ids if lid in human})
            if len(names) > 1:
                raise ConflictError(
                    f"groups {', '.join(group_ids)} hold lines people named "
                    f"{', '.join(repr(n) for n in names)}: they are different characters; "
                    "move those lines first (or rename them alike)"
                )
            target, character = group_ids[0], self._group_character(group_ids[0])
            target_cid = self._group_character_id(target)

            def change(cur: Rows, aid: int) -> Rows:
                rows: Rows = {
                    "locks": _lock_rows(ids, cur, aid),
                    "groups": {
                        lid: {
                            **cur["groups"][lid],
                            "group_id": target,
                            "character": character,
                            "character_id": target_cid,
                        }
                        for lid in ids
                        if cur["groups"][lid]
                    },
                }
                if names:  # one group was named: the merged lines take that name
                    rows["labels"] = {lid: _human(names[0]) for lid in ids}
                return rows

            return ids, change

        return self.actions.record("merge", {"groups": group_ids}, plan, who, base_rev)

    def move_lines(
        self,
        line_ids: Sequence[str],
        group_id: str | None = None,
        who: str = "cli",
        base_rev: int | None = None,
        verb: str = "move",
    ) -> Action:
        """Move lines into ``group_id`` (None: into a new group of their own).

        The moved lines are locked with their new group and may never again join the lines
        of the group they left (cannot-link).
        """
        moving = list(dict.fromkeys(line_ids))

        def plan() -> tuple[list[str], Change]:
            self._require_lines(moving)
            left_behind = {
                lid for g in self._groups_of(moving) for lid in self.group_lines(g)
            } - set(moving)
            if group_id is None:
                target_ids: list[str] = []
                new_group = character = ""
                target_name = None
            else:
                target_ids = self._with_locked(self.group_lines(group_id))
                new_group, character = group_id, self._group_character(group_id)
                names = {self.human_labels().get(lid) for lid in target_ids} - {None}
                target_name = names.pop() if len(names) == 1 else None
            touched = list(dict.fromkeys([*moving, *target_ids]))
            # a split makes a new group per episode, with an id never used before
            into: dict[str, str] = dict.fromkeys(moving, new_group)
            target_cid = self._group_character_id(group_id) if group_id else None
            if group_id is None:
                minter, fresh = self.id_minter(), {}
                for lid in moving:
                    ep = self.line(lid).episode_id
                    into[lid] = fresh.setdefault(ep, minter.group(ep))
                minter.save()

            def change(cur: Rows, aid: int) -> Rows:
                labels: dict[str, Any] = {}
                for lid in moving:
                    if target_name is not None:
                        labels[lid] = _human(target_name)
                    elif (cur["labels"][lid] or {}).get("source") == "human":
                        labels[lid] = None  # no longer the character it was named
                return {
                    "labels": labels,
                    "locks": _lock_rows(
                        touched,
                        {**cur, "locks": {lid: cur["locks"][lid] for lid in target_ids}},
                        aid,
                    ),
                    "groups": {
                        lid: {
                            "group_id": into[lid],
                            # a split line stays its character until the regroup says otherwise
                            "character": character
                            or (cur["groups"][lid] or {}).get("character", f"Cs{aid}"),
                            "reliability": (cur["groups"][lid] or {}).get("reliability"),
                            "character_id": target_cid
                            if group_id
                            else (cur["groups"][lid] or {}).get("character_id"),
                        }
                        for lid in moving
                    },
                    "cannot": [[a, b] for a in moving for b in sorted(left_behind)],
                }

            return touched, change

        args = {"lines": moving, "group": group_id}
        return self.actions.record(verb, args, plan, who, base_rev)

    def separate_groups(
        self, group_a: str, group_b: str, who: str = "cli", base_rev: int | None = None
    ) -> Action:
        """A person says two groups are different characters: they never merge again."""
        if group_a == group_b:
            raise UsageError("a group cannot be separated from itself")

        def plan() -> tuple[list[str], Change]:
            a = self._with_locked(self.group_lines(group_a))
            b = self._with_locked(self.group_lines(group_b))
            return [*a, *b], lambda cur, aid: {"cannot": [[x, y] for x in a for y in b]}

        return self.actions.record("separate", {"groups": [group_a, group_b]}, plan, who, base_rev)

    def split_lines(
        self, line_ids: Sequence[str], who: str = "cli", base_rev: int | None = None
    ) -> Action:
        """Split lines off their group into a new group that may never rejoin it."""
        return self.move_lines(line_ids, None, who=who, base_rev=base_rev, verb="split")

    def _groups_of(self, line_ids: Sequence[str]) -> set[str]:
        marks = ",".join("?" * len(line_ids))
        return {
            r[0]
            for r in self.conn.execute(
                f"SELECT DISTINCT group_id FROM groups WHERE line_id IN ({marks})", list(line_ids)
            )
        }

    def _with_locked(self, line_ids: Sequence[str]) -> list[str]:
        """The lines plus every line locked together with one of them."""
        if not line_ids:
            return []
        marks = ",".join("?" * len(line_ids))
        extra = [
            r[0]
            for r in self.conn.execute(
                f"SELECT line_id FROM locks WHERE lock IN "
                f"(SELECT lock FROM locks WHERE line_id IN ({marks}))",
                list(line_ids),
            )
        ]
        return list(dict.fromkeys([*line_ids, *extra]))

    def _group_character_id(self, group_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT character_id FROM groups WHERE group_id=? LIMIT 1", (group_id,)
        ).fetchone()
        return row[0] if row else None

    def _group_character(self, group_id: str) -> str:
        row = self.conn.execute(
            "SELECT character FROM groups WHERE group_id=? LIMIT 1", (group_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no group {group_id!r} in {self.root}")
        return row[0]

    def _require_lines(self, line_ids: Sequence[str]) -> None:
        if not line_ids:
            raise UsageError("no lines given")
        marks = ",".join("?" * len(line_ids))
        found = {
            r[0]
            for r in self.conn.execute(
                f"SELECT id FROM lines WHERE id IN ({marks})", list(line_ids)
            )
        }
        missing = [lid for lid in line_ids if lid not in found]
        if missing:
            raise NotFoundError(
                f"no line {missing[0]!r} in {self.root}; line ids look like ep01-0042"
            )
