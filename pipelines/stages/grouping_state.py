"""What the last grouping covered, so ``castlist run`` can tell "episodes were added to a
grouped season and nothing else changed" (group only the new ones) from everything else
(regroup the season).

The record is written in the same transaction as the groups it describes
(:meth:`Workspace.write_machine_results` ``meta``): a killed run leaves both or neither, so a
stale record can only make the next run regroup everything, never skip a change.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from pipelines.store.workspace import Workspace
from pipelines.wording import count

log = logging.getLogger(__name__)

STATE = "grouping_state"
"""Meta key: JSON of the grouping in the groups table (model, face model, newest human action,
grouped lines per episode)."""
LAST_RUN = "last_grouping"
"""Meta key: JSON of what the last ``castlist run``/``import`` did to the grouping (incremental
or full, and why), for ``castlist status``."""
UNREVIEWED = "unreviewed_episodes"
"""Meta key: JSON list of the episodes the last run added to an already grouped season; the
review queue asks about them first."""


def grouped_counts(ws: Workspace) -> dict[str, int]:
    """Grouped lines per episode, as the groups table holds them now."""
    rows = ws.conn.execute(
        "SELECT lines.episode_id, COUNT(*) FROM groups JOIN lines ON lines.id = groups.line_id "
        "GROUP BY lines.episode_id"
    )
    return {ep: int(n) for ep, n in rows}


def state_meta(
    ws: Workspace, voice_model: str, episodes: list[str], counts: dict[str, int]
) -> dict[str, str]:
    """The record of a grouping of ``episodes`` (``counts``: grouped lines of each)."""
    state = {
        "model": voice_model,
        "face_model": ws.get_meta("face_model") or "",
        "face_weight": ws.get_meta("face_weight") or "",
        "revision": ws.actions.revision(),
        "episodes": {ep: int(counts.get(ep, 0)) for ep in episodes},
    }
    return {STATE: json.dumps(state, sort_keys=True)}


@dataclass(frozen=True)
class Added:
    """Episodes added since the last grouping, and whether grouping them alone is right."""

    episodes: list[str]  # episodes the last grouping did not cover (in season order)
    why_not: str | None  # None: only these changed, group them alone; else why not


def added_episodes(ws: Workspace, voice_model: str) -> Added:
    """Which episodes are new since the last grouping, and whether nothing else changed.

    Anything that may have moved an existing line's group makes the whole season regroup:
    another voice or face model, a human action not yet grouped (``label --no-propagate``, a
    regroup that failed), an episode re-added with other subtitles or removed, or grouped
    lines that differ from the record."""
    raw = ws.get_meta(STATE)
    episodes = [ep.id for ep in ws.episodes()]
    if not raw:
        if not grouped_counts(ws):
            return Added([], "first grouping of the season")
        return Added([], "the season has not been grouped by this castlist version yet")
    state = json.loads(raw)
    before: dict[str, int] = state.get("episodes", {})
    new = [ep for ep in episodes if ep not in before]
    why = None
    if state.get("model") != voice_model:
        why = f"voice model changed ({state.get('model')} -> {voice_model})"
    elif (state.get("face_model"), state.get("face_weight")) != (
        ws.get_meta("face_model") or "",
        ws.get_meta("face_weight") or "",
    ):
        why = "face model or face weight changed"
    elif state.get("revision") != ws.actions.revision():
        why = "human decisions changed since the last grouping"
    elif set(before) - set(episodes):
        why = "an episode was removed"
    elif not new:
        why = "no new episodes"
    else:
        counts = grouped_counts(ws)
        changed = sorted(ep for ep, n in before.items() if counts.get(ep, 0) != n)
        if changed:
            why = f"episode {changed[0]} changed since the last grouping"
        elif any(counts.get(ep, 0) for ep in new):
            why = "a new episode is grouped already"
    return Added(new, why)


def describe_incremental(last: dict) -> str:
    """The one line that says what an incremental grouping did."""
    n = len(last["episodes"])
    return (
        f"incremental: grouped {count(n, 'new episode')} ({last['lines']} lines), "
        f"linked to {count(last['linked'], 'existing character')}, "
        f"{last['new']} new"
    )


def last_run_line(ws: Workspace) -> str | None:
    """What the last run did to the grouping, for ``castlist status``."""
    raw = ws.get_meta(LAST_RUN)
    if not raw:
        return None
    last = json.loads(raw)
    if last.get("mode") == "incremental":
        return describe_incremental(last)
    why = f" ({last['why']})" if last.get("why") else ""
    return f"last run regrouped the whole season{why}"


def unreviewed_episodes(ws: Workspace) -> set[str]:
    """The episodes whose questions the review queue asks first."""
    return set(json.loads(ws.get_meta(UNREVIEWED) or "[]"))
