"""Incremental seasons: episodes added to a grouped season are grouped alone and linked to the
characters the season already has, instead of regrouping every episode.

A labelled season is work a person has checked: its groups, ids, names and decisions must not
move because episode 27 arrived. So the new episodes are clustered one at a time exactly as a
full regroup would (:class:`pipelines.stages.season.EpisodeGrouper`), and the roster linker then sees
every existing character as a fixed anchor (one known id per character, made of all its
groups): a new group joins the existing character whose lines its voice matches, or, matching
none, becomes a new character with a fresh id. Names spread into the new lines from the
season's hand labels with the same open-set rule as a full regroup (a line takes a name only
where its voice is closer to that name's evidence than to every unnamed character). Only the
new lines' rows are written; every existing row stays as it was.

A full regroup stays one flag away (``castlist run --regroup all``) and still runs whenever
anything but new episodes changed (:func:`pipelines.stages.grouping_state.added_episodes`).
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd

from grouping.calibrate import CosineScale
from grouping.cluster import ReliableFirstClustering
from grouping.confidence import default_confidence
from grouping.link import RosterLinker
from grouping.propagate import NamePropagator
from pipelines.errors import UsageError
from pipelines.records import AMBIENT, LabelSource
from pipelines.stages.faces import face_fuser
from pipelines.stages.grouping_state import (
    LAST_RUN,
    UNREVIEWED,
    added_episodes,
    describe_incremental,
    grouped_counts,
    state_meta,
)
from pipelines.stages.hints import propose_names
from pipelines.stages.label_space import identity, label_projection
from pipelines.stages.season import (
    LEARNED_SPACE,
    MIN_LABELLED_FOR_RECALIBRATION,
    VOICE_EVIDENCE,
    EpisodeGrouper,
    SeasonResult,
    character_names,
    group_season,
    link_roster,
    machine_label,
    members_by_label,
    name_calibration_meta,
    named_by_hand,
    named_groups,
    refined_model,
    scaled_linker,
    spread_names,
    voice_evidence_meta,
    vouch_roster,
    vouched_groups,
)
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)

REGROUP_CHOICES = ("auto", "all")
"""``castlist run --regroup``: "auto" groups only added episodes when nothing else changed,
"all" regroups every episode."""


def group(ws: Workspace, voice_model: str, regroup: str = "auto", repaired=()) -> SeasonResult:
    """The grouping step of ``castlist run`` and ``castlist import``: only the added episodes
    when that is right (``regroup="auto"``, nothing else changed, no vectors recomputed),
    else the whole season. Records what it did for ``castlist status`` and which episodes
    the review queue asks about first."""
    if regroup not in REGROUP_CHOICES:
        raise UsageError(f"--regroup {regroup}: use one of {', '.join(REGROUP_CHOICES)}")
    added = added_episodes(ws, voice_model)
    why = added.why_not
    if regroup == "all":
        why = "asked for with --regroup all"
    elif repaired:
        why = "vectors were recomputed: " + ", ".join(str(bad) for bad in repaired)
    started = time.perf_counter()
    # episodes added to a season grouped before: the review queue asks about them first
    unreviewed = {UNREVIEWED: json.dumps(added.episodes)} if added.episodes else {}
    if why is None:
        result = group_new_episodes(ws, voice_model, added.episodes, extra_meta=unreviewed)
        log.info("%s in %.2f s", result.incremental_line, time.perf_counter() - started)
        return result
    result = group_season(ws, voice_model, extra_meta=unreviewed)
    last = {"mode": "full", "why": why, "seconds": round(time.perf_counter() - started, 3)}
    ws.set_meta(LAST_RUN, json.dumps(last))  # what status says; the run's time is known now
    return result


def group_new_episodes(
    ws: Workspace,
    voice_model: str,
    new: list[str],
    propagator: NamePropagator | None = None,
    linker: RosterLinker | None = None,
    extra_meta: dict[str, str] | None = None,
) -> SeasonResult:
    """Group the episodes ``new`` (none of their lines grouped yet) and link them to the
    season's existing characters, writing only their lines' rows."""
    started = time.perf_counter()
    human, locks, cannot = ws.human_labels(), ws.locks(), ws.cannot_links()
    prev_group, _ = ws.previous_ids()
    minter = ws.id_minter()
    fuse_faces = face_fuser(ws, voice_model)
    project = label_projection(ws, voice_model, human, fuse_faces) if LEARNED_SPACE else identity
    model = default_confidence()
    if model is not None and len(human) >= MIN_LABELLED_FOR_RECALIBRATION:
        model = refined_model(ws, voice_model, human, model)
    grouper = EpisodeGrouper(
        ws, voice_model, human, locks, cannot, prev_group, minter,
        ReliableFirstClustering(), fuse_faces, project, model,
    )  # fmt: skip
    blocks = [b for b in (grouper.group(ep) for ep in new) if b is not None]
    old = _existing(ws, grouper, set(new))
    result = SeasonResult()
    evidence = json.loads(ws.get_meta(VOICE_EVIDENCE) or "{}").get("per_episode", {})
    evidence.update({b.df["episode"].iat[0]: b.evidence for b in blocks if b.evidence})
    if not blocks:
        _write(ws, voice_model, grouper, [], [], minter, result, new, old, 0, 0, extra_meta)
        return result
    df_new = pd.concat([b.df for b in blocks], ignore_index=True)
    X_new = np.concatenate([b.X for b in blocks])
    keys_new = np.array([k for b in blocks for k in b.keys])
    scale = CosineScale.of_evidence(evidence)  # the season's scale, as a full regroup reads it
    vouched_new = vouched_groups(
        X_new, df_new["id"].to_numpy(), keys_new, df_new["episode"], human,
        np.concatenate([b.placed for b in blocks]), cannot, scale,
    )  # fmt: skip
    trusted_new = vouched_new == keys_new
    reliability_new = np.concatenate([b.reliability for b in blocks])

    # one index per existing character (its id), then the new lines' characters after them
    chars = sorted(old.df["cid"].unique()) if len(old.df) else []
    index_of = {c: i for i, c in enumerate(chars)}
    shown = dict(zip(old.df["cid"], old.df["character"], strict=False))
    names = sorted({n for n in human.values() if n != AMBIENT})
    name_id = {n: i for i, n in enumerate(names)}
    df = pd.concat([old.df.drop(columns=["cid"]), df_new], ignore_index=True)
    X = np.concatenate([old.X, X_new]) if len(old.df) else X_new
    group_of = np.concatenate([old.df["group_id"].to_numpy(dtype=object), keys_new])
    y = np.array([name_id.get(human.get(lid, ""), -1) for lid in df["id"]], dtype=np.int64)
    n_old = len(old.df)
    old_char = np.array([index_of[c] for c in old.df["cid"]], dtype=np.int64)
    # an existing line's hand name is evidence for its character only when the character
    # carries that name (a full regroup's "trusted": the others only loosely joined)
    old_name = old.df["id"].map(lambda lid: human.get(lid, "")).to_numpy(dtype=object)
    old_shown = old.df["character"].to_numpy(dtype=object)
    trusted = np.concatenate([(old_name == "") | (old_name == old_shown), trusted_new])

    roster = _link_to_existing(
        df, X, group_of, y, trusted, n_old, old_char, len(chars), names, shown, chars, locks,
        cannot, linker or scaled_linker(scale),
    )  # fmt: skip
    new_rows = np.arange(n_old, len(df))
    fresh_ids = _fresh_character_ids(df_new["id"].tolist(), roster[new_rows], len(chars), minter)
    cid_of = {i: c for c, i in index_of.items()} | fresh_ids
    # existing lines speak for their own character where trusted; new ones as vouched
    vouch = np.where(trusted, roster, -1)
    vouch[new_rows] = vouch_roster(vouched_new, group_of, roster)
    anchored = np.zeros(len(df), bool)  # the new lines that built a hand-named group
    core_new = np.concatenate([b.core for b in blocks])
    anchored[new_rows] = core_new & named_by_hand(vouched_new, keys_new)
    spread = spread_names(df, X, y, roster, vouch, evidence, propagator, anchored, scale)
    pred, p_name = spread.pred, spread.p_name
    voted = character_names(y, roster, vouch)
    character_name = {}
    for r in np.unique(roster[new_rows]):
        r = int(r)
        if r < len(chars):
            character_name[r] = shown[chars[r]]
            continue
        character_name[r] = names[voted[r]] if r in voted else cid_of[r]
    group_rows, label_rows = [], []
    for i in new_rows:
        lid, r = df["id"].iat[i], int(roster[i])
        j = i - n_old
        group_rows.append(
            (lid, keys_new[j], character_name[r], float(reliability_new[j]), cid_of[r])
        )
        if lid in human:
            result.sources[LabelSource.HUMAN.value] += 1
            continue
        label_rows.append(machine_label(lid, i, pred, p_name, names, float(reliability_new[j])))
        if label_rows[-1][1] is not None:
            result.propagated[label_rows[-1][1]] += 1
    label_rows = _with_hints(ws, df, old.df, roster, group_of, label_rows, n_old)
    for _, speaker, source, _ in label_rows:
        result.sources[source if speaker is not None else "unnamed"] += 1
    extra_meta = (
        voice_evidence_meta(evidence) | name_calibration_meta(ws, human) | (extra_meta or {})
    )
    linked = {int(r) for r in roster[new_rows] if r < len(chars)}
    fresh = {int(r) for r in roster[new_rows] if r >= len(chars)}
    result.n_lines = len(df)
    result.n_groups = len(np.unique(group_of))
    result.n_characters = len(chars) + len(fresh)
    _write(
        ws, voice_model, grouper, group_rows, label_rows, minter, result, new, old,
        len(linked), len(fresh), extra_meta, time.perf_counter() - started,
    )  # fmt: skip
    return result


class _Existing:
    """The season's grouped lines outside the new episodes, as stored: rows (with ``cid``, the
    character id) and the vectors grouping read for them."""

    def __init__(self, df: pd.DataFrame, X: np.ndarray) -> None:
        self.df, self.X = df, X


def _existing(ws: Workspace, grouper: EpisodeGrouper, new: set[str]) -> _Existing:
    df = ws.lines_frame(speech_only=True)
    df = df[df["group_id"].notna() & ~df["episode_id"].isin(new)]
    parts, vecs = [], []
    for ep, part in df.groupby("episode_id", sort=False):
        X_all = ws.vectors.load(str(ep), "voice", grouper.voice_model)
        if X_all is None:  # grouped once, its vectors gone: the grouping stays as it is
            continue
        parts.append(part.assign(episode=ep))
        vecs.append(grouper.vectors(str(ep), part, X_all))
    if not parts:
        return _Existing(df.assign(episode="", cid="").iloc[:0], np.zeros((0, 1), np.float32))
    out = pd.concat(parts, ignore_index=True)
    out["cid"] = out["character_id"].fillna(out["character"]).astype(str)
    return _Existing(out, np.concatenate(vecs))


def _link_to_existing(
    df: pd.DataFrame,
    X: np.ndarray,
    group_of: np.ndarray,
    y: np.ndarray,
    trusted: np.ndarray,
    n_old: int,
    old_char: np.ndarray,
    n_chars: int,
    names: list[str],
    shown: dict[str, str],
    chars: list[str],
    locks: dict[str, str],
    cannot: list[tuple[str, str]],
    linker: RosterLinker,
) -> np.ndarray:
    """Character index per line: existing groups are fixed to their character; a new group
    whose trusted lines carry a hand name is fixed to the character of that name (an existing
    one, or a new one per name); the linker places the rest."""
    char_of_name = {shown[c]: i for i, c in enumerate(chars) if shown[c] != c}
    by_name = named_groups(y, trusted)

    def fixed_of(gidx: np.ndarray, n_groups: int) -> np.ndarray:
        fixed = np.full(n_groups, -1, dtype=np.int64)
        fixed[gidx[:n_old]] = old_char
        vote = by_name(gidx, n_groups)
        extra: dict[str, int] = {}
        for g in np.unique(gidx[n_old:]):
            if vote[g] >= 0:
                name = names[vote[g]]
                fixed[g] = char_of_name.get(name, extra.setdefault(name, n_chars + len(extra)))
        return fixed

    _, roster = link_roster(df, X, group_of.astype(str), fixed_of, locks, cannot, linker)
    if not np.array_equal(roster[:n_old], old_char):  # known ids are kept by the linker
        raise AssertionError("an existing character moved while linking new episodes")
    return roster


def _fresh_character_ids(
    line_ids: list[str], roster: np.ndarray, n_chars: int, minter
) -> dict[int, str]:
    """A fresh id per new character (index >= ``n_chars``), biggest first."""
    out: dict[int, str] = {}
    for r in members_by_label(line_ids, roster):
        if r >= n_chars:
            out[int(r)] = minter.character()
    return out


def _with_hints(ws, df, old_df, roster, group_of, label_rows, n_old: int) -> list:
    """The new lines' label rows with subtitle-hint names, proposed from the whole season
    (the existing lines' stored labels count as what they are); existing rows are dropped."""
    stored = [
        (lid, speaker if isinstance(speaker, str) else None, source, confidence)
        for lid, speaker, source, confidence in zip(
            old_df["id"],
            old_df["speaker"],
            old_df["source"].fillna("cluster"),
            old_df["confidence"],
            strict=True,
        )  # fmt: skip
        if source != LabelSource.HUMAN.value
    ]
    new_ids = set(df["id"].iloc[n_old:])
    rows = propose_names(ws, df, roster, group_of, stored + label_rows)
    return [row for row in rows if row[0] in new_ids]


def _write(
    ws, voice_model, grouper, group_rows, label_rows, minter, result, new, old, linked, fresh,
    extra_meta, seconds: float = 0.0,
) -> None:  # fmt: skip
    """Add the new lines' rows and the records of what this grouping covered, in one go."""
    counts = grouped_counts(ws)
    counts.update(grouper.covered)
    covered = [ep.id for ep in ws.episodes() if ep.id in counts]
    n_lines = sum(grouper.covered.values())
    last = {
        "mode": "incremental",
        "episodes": list(new),
        "lines": n_lines,
        "linked": linked,
        "new": fresh,
        "seconds": round(seconds, 3),
    }
    meta = state_meta(ws, voice_model, covered, counts) | {LAST_RUN: json.dumps(last)}
    ws.add_machine_results(group_rows, label_rows, minter=minter, meta=meta | (extra_meta or {}))
    result.incremental_line = describe_incremental(last)
    log.info("%s (%d existing lines untouched)", result.incremental_line, len(old.df))
