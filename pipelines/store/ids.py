"""Stable group and character ids across regroups.

Every human action regroups the season, and the clustering numbers its groups afresh each
time. A user reads an id (``ep01-g3``, ``C007``) in one command's output and types it into the
next, so an id must keep meaning the same lines: a new group inherits the id of the previous
group whose lines it mostly holds, and an id that no longer has such a group is retired (never
reused) with a note of what became of it.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Retired:
    """A previous id no group carries any more, and where most of its lines went."""

    id: str
    successor: str | None  # the new id holding most of its lines (None: none grouped)
    merged: bool  # True: a majority of its lines sit in ``successor``; False: split up


def match_ids(
    previous: Mapping[str, str], clusters: Sequence[Sequence[str]]
) -> tuple[list[str | None], dict[str, Counter]]:
    """Which previous id each new cluster keeps (None: it needs a fresh one).

    ``previous`` maps line id -> previous id; ``clusters`` are the new groups as lists of
    line ids. A previous id may pass to the new cluster that holds a strict majority of its
    lines still being grouped ("most of its lines stay together"); when several previous ids
    qualify for one cluster, or one id for several, the largest overlap wins (greedy, ties
    by id, so the result is deterministic). Returns the kept id per cluster and, per previous
    id, how many of its lines went to each cluster index.
    """
    spread: dict[str, Counter] = {}
    for c, members in enumerate(clusters):
        for lid in members:
            old = previous.get(lid)
            if old is not None:
                spread.setdefault(old, Counter())[c] += 1
    candidates = sorted(
        (
            (-n, old, c)
            for old, where in spread.items()
            for c, n in where.items()
            if 2 * n > sum(where.values())
        ),
    )
    kept: list[str | None] = [None] * len(clusters)
    used: set[str] = set()
    for _, old, c in candidates:
        if kept[c] is None and old not in used:
            kept[c] = old
            used.add(old)
    return kept, spread


def retired_ids(
    previous: Mapping[str, str], new_ids: Sequence[str], spread: Mapping[str, Counter]
) -> list[Retired]:
    """The previous ids that ``new_ids`` (one per cluster) no longer carry."""
    live = set(new_ids)
    out = []
    for old in sorted(set(previous.values()) - live):
        where = spread.get(old)
        if not where:
            out.append(Retired(old, None, False))
            continue
        c, n = where.most_common(1)[0]
        out.append(Retired(old, new_ids[c], 2 * n > sum(where.values())))
    return out


def describe_retired(kind: str, rid: str, successor: str | None, why: str, action: str) -> str:
    """The one-line answer to "what happened to this id?"."""
    if why == "merged" and successor:
        what = f"was merged into {successor}"
    elif why == "split" and successor:
        what = f"was split up (most of its lines are now in {successor})"
    else:
        what = "no longer has any grouped lines (marked ambient or skipped)"
    return f"{kind} {rid} {what} {action}; see `castlist status`"


class IdMinter:
    """Hands out group and character ids never used before in this workspace.

    Counters live in the meta table (``next_id:<episode>``, ``next_id:characters``); any id
    already in the groups or retired tables is skipped, so workspaces from before the
    counters existed are safe too. :meth:`save` must run inside the caller's transaction; it
    never lowers a counter, so two regroups racing (a browser tab and the CLI) cannot hand the
    same fresh id out twice."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.used: set[str] = set()
        for row in conn.execute(
            "SELECT group_id, character_id, character FROM groups "
            "UNION SELECT id, NULL, NULL FROM retired_ids"
        ):
            self.used.update(v for v in row if v)
        self.counters = {
            k[len("next_id:") :]: int(v)
            for k, v in conn.execute("SELECT key, value FROM meta WHERE key LIKE 'next_id:%'")
        }

    def _next(self, scope: str, fmt: Callable[[int], str]) -> str:
        n = self.counters.get(scope, 0)
        while fmt(n) in self.used:
            n += 1
        self.counters[scope] = n + 1
        self.used.add(fmt(n))
        return fmt(n)

    def group(self, episode_id: str, single: bool = False) -> str:
        letter = "u" if single else "g"
        return self._next(episode_id, lambda n: f"{episode_id}-{letter}{n}")

    def character(self) -> str:
        return self._next("characters", lambda n: f"C{n:03d}")

    def save(self) -> None:
        self.conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
            "value=MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            [(f"next_id:{k}", str(v)) for k, v in self.counters.items()],
        )
