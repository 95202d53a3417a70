"""The action log: every human action with the rows it changed, which is what undo and redo
replay across restarts.

Rows are only ever added to the log; what changes is an action's ``state``: ``done`` while in
effect, ``undone`` after an undo (a redo makes it ``done`` again), ``abandoned`` when a new action
ends the redo chain. An undo or a redo is itself logged as a new row naming the action it
replayed. An action based on a stale view of the lines it touches is refused with
:class:`ConflictError`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.errors import ConflictError, NotFoundError
from pipelines.store import database

log = logging.getLogger(__name__)

TRACKED = ("labels", "locks", "groups")
"""The per-line tables an action may change."""

Rows = dict[str, dict[str, Any]]
Change = Callable[[Rows, int], Rows]
Plan = Callable[[], tuple[Sequence[str], Change]]


@dataclass(frozen=True)
class Action:
    """One logged action as the history shows it; ``state`` is done, undone or abandoned."""

    id: int
    at: str
    who: str
    verb: str
    args: dict[str, Any]
    state: str


class ActionLog:
    """The ``actions`` table and the per-line rows its actions change.

    :meth:`record` runs one action as a plan inside one write transaction: the plan reads the
    current rows and returns the line ids it touches and a function from their current rows
    (plus the new action id) to the rows it wants; the log stores both sides."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def revision(self) -> int:
        """The id of the newest action: a view based on it is current."""
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM actions").fetchone()[0]

    def state(self) -> int:
        """The id of the newest action in effect (0: none). Undo and redo move it, so one set of
        actions in effect is one state, whichever way it was reached: a new action after an
        undo abandons the undone ones, so an id never stands for two sets."""
        row = self.conn.execute(
            "SELECT COALESCE(MAX(id), 0) FROM actions WHERE state='done' "
            "AND verb NOT IN ('undo', 'redo')"
        ).fetchone()
        return int(row[0])

    def reachable_states(self) -> set[int]:
        """Every :meth:`state` undo and redo can still reach (abandoned actions' are gone)."""
        rows = self.conn.execute(
            "SELECT id FROM actions WHERE state IN ('done', 'undone') "
            "AND verb NOT IN ('undo', 'redo')"
        ).fetchall()
        return {0} | {int(r[0]) for r in rows}

    def _snapshot(self, line_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        snap: dict[str, dict[str, Any]] = {t: {} for t in TRACKED}
        if not line_ids:
            return snap
        marks = ",".join("?" * len(line_ids))
        cols = {
            "labels": "speaker, source, confidence",
            "locks": "lock",
            "groups": "group_id, character, reliability, character_id",
        }
        for table in TRACKED:
            for lid in line_ids:
                snap[table][lid] = None
            for row in self.conn.execute(
                f"SELECT line_id, {cols[table]} FROM {table} WHERE line_id IN ({marks})",
                list(line_ids),
            ):
                snap[table][row[0]] = {k: row[k] for k in row.keys() if k != "line_id"}  # noqa: SIM118
        return snap

    def _check_fresh(self, line_ids: Sequence[str], base_rev: int | None) -> None:
        if base_rev is None or not line_ids:
            return
        marks = ",".join("?" * len(line_ids))
        newer = self.conn.execute(
            f"SELECT MAX(rev) FROM (SELECT rev FROM labels WHERE line_id IN ({marks}) "
            f"UNION ALL SELECT rev FROM locks WHERE line_id IN ({marks}))",
            [*line_ids, *line_ids],
        ).fetchone()[0]
        if newer is not None and newer > base_rev:
            raise ConflictError(
                f"these lines were changed by action #{newer} after you loaded the page "
                f"(you saw #{base_rev}); reload and try again"
            )

    def _apply(self, rows: dict[str, Any], rev: int) -> None:
        for lid, value in rows.get("labels", {}).items():
            self.conn.execute("DELETE FROM labels WHERE line_id=?", (lid,))
            if value is not None:
                self.conn.execute(
                    "INSERT INTO labels(line_id, speaker, source, confidence, rev) VALUES (?, ?, ?, ?, ?)",
                    (lid, value["speaker"], value["source"], value["confidence"], rev),
                )
        for lid, value in rows.get("locks", {}).items():
            self.conn.execute("DELETE FROM locks WHERE line_id=?", (lid,))
            if value is not None:
                self.conn.execute(
                    "INSERT INTO locks(line_id, lock, rev) VALUES (?, ?, ?)",
                    (lid, value["lock"], rev),
                )
        for lid, value in rows.get("groups", {}).items():
            self.conn.execute("DELETE FROM groups WHERE line_id=?", (lid,))
            if value is not None:
                self.conn.execute(
                    "INSERT INTO groups(line_id, group_id, character, reliability, character_id) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        lid,
                        value["group_id"],
                        value["character"],
                        value["reliability"],
                        value.get("character_id"),
                    ),
                )

    def record(
        self, verb: str, args: dict[str, Any], plan: Plan, who: str, base_rev: int | None
    ) -> Action:
        with database.transaction(self.conn):
            line_ids, change = plan()
            self._check_fresh(line_ids, base_rev)
            action_id = self.revision() + 1
            before = self._snapshot(line_ids)
            after = change(before, action_id)
            cannot = [sorted(p) for p in after.pop("cannot", [])]
            before_partial = {t: {lid: before[t][lid] for lid in after.get(t, {})} for t in TRACKED}
            self.conn.execute(
                "INSERT INTO actions(id, at, who, verb, args, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    action_id,
                    database.now(),
                    who,
                    verb,
                    json.dumps(args),
                    json.dumps(before_partial),
                    json.dumps({**after, "cannot": cannot}),
                ),
            )
            self._apply(after, action_id)
            self.conn.executemany(
                "INSERT OR IGNORE INTO cannot_link(a, b, action_id) VALUES (?, ?, ?)",
                [(a, b, action_id) for a, b in cannot],
            )
            self._retire_vanished(before["groups"], action_id)
            # a new action ends the redo chain: what was undone before it never comes back
            self.conn.execute("UPDATE actions SET state='abandoned' WHERE state='undone'")
        log.info("action #%d %s %s", action_id, verb, args)
        return self.get(action_id)

    def _retire_vanished(self, before: dict[str, dict | None], action_id: int) -> None:
        """Record group/character ids an action emptied (e.g. merged away), with where their
        lines went, so the next command given such an id says what happened to it."""
        for col, kind in (("group_id", "group"), ("character_id", "character")):
            old = {lid: row[col] for lid, row in before.items() if row and row.get(col)}
            for rid in sorted(set(old.values())):
                if self.conn.execute(
                    f"SELECT 1 FROM groups WHERE {col}=? LIMIT 1", (rid,)
                ).fetchone():
                    continue
                lids = [lid for lid, v in old.items() if v == rid]
                marks = ",".join("?" * len(lids))
                now = Counter(
                    r[0]
                    for r in self.conn.execute(
                        f"SELECT {col} FROM groups WHERE line_id IN ({marks})", lids
                    )
                    if r[0]
                )
                successor = now.most_common(1)[0][0] if now else None
                self.conn.execute(
                    "INSERT OR REPLACE INTO retired_ids(id, kind, successor, why, action_id, at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        rid,
                        kind,
                        successor,
                        "merged" if successor else "gone",
                        action_id,
                        database.now(),
                    ),
                )

    def get(self, action_id: int) -> Action:
        r = self.conn.execute("SELECT * FROM actions WHERE id=?", (action_id,)).fetchone()
        if r is None:
            raise NotFoundError(f"no action #{action_id}")
        return Action(r["id"], r["at"], r["who"], r["verb"], json.loads(r["args"]), r["state"])

    def history(self, limit: int = 50) -> list[Action]:
        rows = self.conn.execute(
            "SELECT id FROM actions ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [self.get(r[0]) for r in rows]

    def undo(self, who: str = "cli") -> Action | None:
        """Undo the newest action that is still in effect; None when there is nothing to undo."""
        with database.transaction(self.conn):
            row = self.conn.execute(
                "SELECT * FROM actions WHERE state='done' AND verb NOT IN ('undo', 'redo') "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            self._replay(row, "before", who, "undo")
        return self.get(row["id"])

    def redo(self, who: str = "cli") -> Action | None:
        """Redo the action undone last (a stack, as in every editor); None when there is none.

        Undone actions always follow every action still in effect (a new action abandons the
        undone ones), so the one undone last is the oldest undone."""
        with database.transaction(self.conn):
            row = self.conn.execute(
                "SELECT * FROM actions WHERE state='undone' ORDER BY id ASC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            self._replay(row, "after", who, "redo")
        return self.get(row["id"])

    def _replay(self, row: sqlite3.Row, side: str, who: str, verb: str) -> None:
        """Put back one side of a logged action: ``before`` (undo) or ``after`` (redo).

        Only the action's own cannot-link rows go or come back: a pair that an earlier
        action also made stays, credited to that action."""
        rows = json.loads(row[side])
        cannot = [tuple(sorted(p)) for p in json.loads(row["after"]).get("cannot", [])]
        cur = self.conn.execute(
            "INSERT INTO actions(at, who, verb, args, before, after) VALUES (?, ?, ?, ?, '{}', '{}')",
            (database.now(), who, verb, json.dumps({"action": row["id"]})),
        )
        self._apply(rows, cur.lastrowid)
        if side == "before":
            self.conn.execute("DELETE FROM cannot_link WHERE action_id=?", (row["id"],))
        else:
            self.conn.executemany(
                "INSERT OR IGNORE INTO cannot_link(a, b, action_id) VALUES (?, ?, ?)",
                [(a, b, row["id"]) for a, b in cannot],
            )
        self.conn.execute(
            "UPDATE actions SET state=? WHERE id=?",
            ("undone" if side == "before" else "done", row["id"]),
        )
