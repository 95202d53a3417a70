"""The grouping stage: from stored vectors and human decisions to groups, a season roster and
propagated names.

It is cheap (no model runs), so it runs after every ``castlist run`` and after every human
action. It reads human knowledge from the workspace and turns it into constraints: lines
sharing a lock or a hand-given name must link; lines a person separated, lines with different
hand-given names and lines overlapping in time cannot link. Human labels are only read here,
never written.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from grouping.calibrate import TUNING, CosineScale, SimilarityCalibration
from grouping.cluster import ReliableFirstClustering
from grouping.confidence import (
    LineConfidence,
    default_confidence,
    episode_features,
    heuristic_reliability,
    reliability_targets,
)
from grouping.constraints import Constraints
from grouping.link import RosterLinker
from grouping.name_calibration import NameCalibration
from grouping.propagate import (
    FULL_GROUP_WEIGHT,
    NamePropagator,
    hold_guesses,
    label_neighbour_agreement,
    name_probability,
    weak_group_weight,
)
from grouping.turns import TurnSmoother
from grouping.vectors import centre_rows, normalize_rows
from pipelines.io.vectorfiles import LINE_FEATURES, LINEFEAT
from pipelines.records import AMBIENT, NAME_CALIBRATION, LabelSource
from pipelines.review.answers import answered
from pipelines.stages.faces import face_fuser
from pipelines.stages.grouping_state import state_meta
from pipelines.stages.hints import propose_names
from pipelines.stages.label_space import identity, is_identity, label_projection
from pipelines.store.ids import IdMinter, match_ids, retired_ids
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class SeasonResult:
    n_lines: int = 0
    n_groups: int = 0
    n_characters: int = 0
    sources: Counter = field(default_factory=Counter)
    # what a command reports as "what happened": lines per name named by propagation before
    # and after this regroup, hand-named lines that only loosely joined their group (so their
    # name did not spread to it), hand-named lines alone in their group whose name speaks for
    # the group their voice matched (line -> group), and ids this regroup retired (id ->
    # (successor, why))
    propagated_before: Counter = field(default_factory=Counter)
    propagated: Counter = field(default_factory=Counter)
    loose: set[str] = field(default_factory=set)
    adopted: dict[str, str] = field(default_factory=dict)
    retired: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    # set when only added episodes were grouped (pipelines/incremental.py): what that did;
    # ``sources`` then counts the new lines' labels only
    incremental_line: str = ""

    def __str__(self) -> str:
        named = ", ".join(f"{n} {s}" for s, n in sorted(self.sources.items()))
        if self.incremental_line:
            return (
                f"{self.incremental_line}; labels of the new lines: {named or 'none'}\n"
                f"season: {self.n_lines} speech lines in {self.n_groups} episode groups, "
                f"{self.n_characters} season characters"
            )
        return (
            f"{self.n_lines} speech lines in {self.n_groups} episode groups, "
            f"{self.n_characters} season characters; labels: {named or 'none'}"
        )


def refined_model(
    ws: Workspace, voice_model: str, human: dict[str, str], model: LineConfidence
) -> LineConfidence:
    """The shipped model recalibrated on every episode's hand-labelled lines."""
    Fs, Xs, ys, names = [], [], [], []
    for episode in ws.episodes():
        X_all = ws.vectors.load(episode.id, "voice", voice_model)
        if X_all is None:
            continue
        df = ws.lines_frame(episode.id, speech_only=True)
        if df.empty or not df["id"].isin(list(human)).any():
            continue
        X = X_all[df["idx"].to_numpy()]
        _, F, names = episode_reliability(ws, episode.id, df, X, model)
        if F is None:
            return model
        lab = df["id"].map(lambda lid: human.get(lid, "")).to_numpy()
        keep = (lab != "") & (lab != AMBIENT)
        Fs.append(F[keep])
        Xs.append(X[keep])
        ys.append(lab[keep])
    if not Fs:
        return model
    y = pd.factorize(np.concatenate(ys))[0]
    return refine_with_labels(model, np.concatenate(Fs), names, np.concatenate(Xs), y)


def _pair_chain(members: list[int]) -> list[tuple[int, int]]:
    return list(zip(members, members[1:], strict=False))


def episode_constraints(
    df: pd.DataFrame,
    human: dict[str, str],
    locks: dict[str, str],
    cannot: list[tuple[str, str]],
    timing: bool = True,
) -> Constraints:
    """Constraints over the rows of one episode's candidate lines (``df`` order).

    ``timing``: add the cannot-links of lines overlapping in time (False for the pairs the
    similarity calibration learns from: two overlapping lines' vectors share audio, so on a
    pseudo-episode their 33 different-speaker pairs averaged cosine 0.50 against 0.05 for
    different speakers at large, and calling the voice evidence weak split 483 lines of 17
    voices into 187 groups).

    Human decisions can contradict each other (a merged group, then one of its lines named
    as someone else). Newer, finer decisions win: a line whose hand name differs from the
    name most of its lock carries leaves that lock, and a cannot-link that still falls inside
    a must-link component is dropped rather than failing the whole regroup."""
    pos = {lid: i for i, lid in enumerate(df["id"])}
    must: list[tuple[int, int]] = []
    by_key: dict[str, list[int]] = defaultdict(list)
    lock_names: dict[str, Counter] = defaultdict(Counter)
    for lid in pos:
        if lid in locks and lid in human:
            lock_names[locks[lid]][human[lid]] += 1
    for lid, i in pos.items():
        if lid in locks:
            votes = lock_names.get(locks[lid])
            if not (votes and lid in human and human[lid] != votes.most_common(1)[0][0]):
                by_key["lock:" + locks[lid]].append(i)
        if lid in human:
            by_key["name:" + human[lid]].append(i)
    for members in by_key.values():
        must += _pair_chain(members)
    names = {k: v[0] for k, v in by_key.items() if k.startswith("name:")}
    reps = list(names.values())
    cannot_pairs = [(a, b) for i, a in enumerate(reps) for b in reps[i + 1 :]]
    cannot_pairs += [(pos[a], pos[b]) for a, b in cannot if a in pos and b in pos]
    human_cons = Constraints(np.array(must).reshape(-1, 2), np.array(cannot_pairs).reshape(-1, 2))
    if len(human_cons.cannot_link) and len(human_cons.must_link):
        comp = human_cons.components(len(df))
        cl = human_cons.cannot_link
        keep = comp[cl[:, 0]] != comp[cl[:, 1]]
        if not keep.all():
            log.info("%d contradictory cannot-links dropped", int((~keep).sum()))
            human_cons = Constraints(human_cons.must_link, cl[keep])
    if not timing:
        return human_cons
    timing = Constraints.from_intervals(df["start"].to_numpy(), df["end"].to_numpy())
    if len(timing.cannot_link) and len(human_cons.must_link):
        # a person said two overlapping lines are one speaker (one line split in two events):
        # the person wins over the timing rule
        comp = human_cons.components(len(df))
        cl = timing.cannot_link
        timing = Constraints(cannot_link=cl[comp[cl[:, 0]] != comp[cl[:, 1]]])
    return human_cons.merged(timing)


def _group_pairs(
    line_ids: np.ndarray, gidx: np.ndarray, locks: dict[str, str], cannot: list[tuple[str, str]]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Human decisions between lines, lifted to pairs of episode groups for the linker."""
    group_of_line = dict(zip(line_ids.tolist(), gidx.tolist(), strict=False))
    by_lock: dict[str, set[int]] = defaultdict(set)
    for lid, lock in locks.items():
        if lid in group_of_line:
            by_lock[lock].add(group_of_line[lid])
    must = [pair for gs in by_lock.values() for pair in _pair_chain(sorted(gs))]
    cant = {
        (group_of_line[a], group_of_line[b])
        for a, b in cannot
        if a in group_of_line and b in group_of_line and group_of_line[a] != group_of_line[b]
    }
    return must, sorted(cant)


def members_by_label(line_ids: list[str], labels: np.ndarray) -> dict[int, list[str]]:
    """Line ids per label, biggest first (ties by label), so fresh ids follow size order."""
    out: dict[int, list[str]] = defaultdict(list)
    for lid, lab in zip(line_ids, labels.tolist(), strict=True):
        out[lab].append(lid)
    return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def _stable_group_ids(
    episode_id: str,
    line_ids: list[str],
    labels: np.ndarray,
    previous: dict[str, str],
    minter: IdMinter,
) -> tuple[list[str], list[tuple[str, str, str | None, str]]]:
    """Group id per line: the previous id where most of that group's lines stay together,
    else a fresh one (``-u`` for a line left on its own); plus the episode's retired ids."""
    by_label = members_by_label(line_ids, labels)
    uniq = [lab for lab in by_label if lab >= 0]
    members = [by_label[lab] for lab in uniq]
    members += [[lid] for lid in by_label.get(-1, [])]
    mine = set(line_ids)
    before = {
        lid: g for lid, g in previous.items() if lid in mine or g.startswith(episode_id + "-")
    }
    kept, spread = match_ids(before, members)
    ids = [k or minter.group(episode_id, single=c >= len(uniq)) for c, k in enumerate(kept)]
    of_line = {lid: ids[c] for c, group in enumerate(members) for lid in group}
    gone = [
        (r.id, "group", r.successor, "merged" if r.merged else ("split" if r.successor else "gone"))
        for r in retired_ids(before, ids, spread)
    ]
    return [of_line[lid] for lid in line_ids], gone


def _stable_character_ids(
    line_ids: list[str], roster: np.ndarray, previous: dict[str, str], minter: IdMinter
) -> tuple[dict[int, str], list[tuple[str, str, str | None, str]]]:
    """Character id per roster index, kept from the previous grouping by the same rule."""
    by_index = members_by_label(line_ids, roster)
    order, members = list(by_index), list(by_index.values())
    kept, spread = match_ids(previous, members)
    ids = [k or minter.character() for k in kept]
    gone = [
        (
            r.id,
            "character",
            r.successor,
            "merged" if r.merged else ("split" if r.successor else "gone"),
        )
        for r in retired_ids(previous, ids, spread)
    ]
    return dict(zip(order, ids, strict=True)), gone


VOICE_EVIDENCE = "voice_evidence"
"""Workspace meta key: JSON of the last regroup's calibration (weak/ok per episode)."""


def voice_evidence_meta(per_episode: dict[str, dict]) -> dict[str, str]:
    """The workspace meta that records what the calibration said about each episode's voices
    (for ``castlist status`` and the next regroup's weak/ok verdict), to be written in the
    grouping's own transaction: a killed run leaves both or neither. Empty: nothing to say."""
    if not per_episode:
        return {}
    weak = sorted(e for e, ev in per_episode.items() if ev.get("voice_evidence") == "weak")
    summary = {
        "voice_evidence": "weak" if weak else "ok",
        "weak_episodes": weak,
        "episodes": len(per_episode),
        "separation": round(float(np.median([ev["separation"] for ev in per_episode.values()])), 2),
        "per_episode": per_episode,
    }
    return {VOICE_EVIDENCE: json.dumps(summary, sort_keys=True)}


def name_calibration_meta(ws: Workspace, human: dict[str, str]) -> dict[str, str]:
    """The workspace meta saying how sure the machine's names are, fitted on the answers
    people have given about them so far (``grouping.name_calibration``). Only what is reported
    reads it (``Workspace.lines_frame``'s ``confidence``): names, the review queue and the
    answers' record keep the voice model's own score, on whose scale the queue's thresholds
    were measured (``docs/benchmarks_acted.md``)."""
    names = NameCalibration().fit(*answered(ws, human))
    return {NAME_CALIBRATION: json.dumps(names.to_dict())}


def season_scale(ws: Workspace) -> CosineScale:
    """The cosine scale of the season's voice vectors, as the last regroup measured it."""
    stored = json.loads(ws.get_meta(VOICE_EVIDENCE) or "{}")
    return CosineScale.of_evidence(stored.get("per_episode", {}))


def voice_evidence_line(ws: Workspace) -> str | None:
    """One status line when the voices of some episodes could not be told apart well."""
    raw = ws.get_meta(VOICE_EVIDENCE)
    ev = json.loads(raw) if raw else {}
    if ev.get("voice_evidence") != "weak":
        return None
    weak = ev["weak_episodes"]
    return (
        f"voice evidence: weak in {len(weak)} of {ev['episodes']} episodes "
        f"({', '.join(weak[:5])}{', ...' if len(weak) > 5 else ''}; median separation "
        f"{ev['separation']:.1f}, >= 2.5 is ok): voices sit close, so groups were over-split; "
        "merging two groups is one action"
    )


WEAK_PROPAGATION = {
    "vote": "centroid",
    "temperature": 0.3,
    "learned_space": True,
    "learned_temperature": 0.1,
    "abstain_below": 0.0,
    "open_set": False,
    "group_weight": 0.0,
}
"""NamePropagator settings when most of the season's lines come from episodes with weak voice
evidence (acted voices: two lines of one character at cosine ~0.42, two characters at ~0.36).
There the read-speech settings abstained on ~90% of the lines and named the rest worse than a
nearest-centroid classifier on the same labels (acted benchmark, 3 labels per character: 0.17
of the other lines named right against the classifier's 0.39): a labelled neighbour is barely
evidence, over-split groups carry little, and every small unnamed group held its lines back.
So names come from the nearest named character's mean labelled vector, on vectors with each
episode's mean removed (as its grouping reads them), smoothed by the turn-taking of the dialogue
(grouping/turns.py); every line gets one, and its probability says how sure that is.

The softmax over the named characters runs at ``temperature`` 0.3, not the read-speech 0.05:
centred cosines spread wider, and a sharp softmax made every line's voice evidence near-certain,
so the turn-taking (and the hand-named neighbours it carries) could not move a name. Lines named
right beyond the labelled ones, acted benchmark, 1/2/3/5 labels per character (10 draws; a
nearest-centroid classifier on the same labels: 0.264/0.317/0.372/0.406): raw vectors at 0.05
0.284/0.373/0.453/0.518; centred at 0.05 0.318/0.384/0.436/0.471; centred at 0.12/0.2/0.3/0.4/0.6
0.342/0.356/0.361/0.364/0.367 with 1 label and 0.477/0.482/0.483/0.478/0.470 with 3
(``python benchmarks/bench_labels.py acted --per 1 2 3 5 --seeds 10``).

``group_weight`` 0 is where :func:`spread_names` starts; it raises it (``weak_group_weight``)
once the hand labels show that a voice's nearest labelled lines are its own.

``learned_space``: once two characters have repeated hand labels, the cosines to the named means
are read after whitening the spread *within* the named characters (``LabelProjection``, WCCN
shrunk by Ledoit-Wolf), at ``learned_temperature`` 0.1: on acted voices a line's delivery
(shouting, whispering, music) moves its vector further than the speaker does, and the hand
labels show which directions those are. Only the vote reads that space; groups and the roster
stay on the plain vectors (``LEARNED_SPACE``: regrouping there made the review three times as
dear). Simulated review of the six acted episodes (``bench_review.py --acted``), median ops/100
to 90% / 100% right names: 45.1 / 58.2 -> 36.3 / 51.1, lines named per answer to 90% 2.04 ->
2.57; over six speaker-signal strengths (0-1.0) the mean to 100% goes 49.0 -> 39.7 (learned
temperature 0.05 / 0.07 / 0.12 / 0.15 / 0.2: 38.2 / 38.9 / 41.0 / 42.7 / 44.8; the mean worst
drop 0.57 / 0.51 / 0.49 / 0.38 / 0.56 against 0.46 at 0.1). Names from 2 / 3 / 5 random labels
per voice 0.425 / 0.477 / 0.523 -> 0.430 / 0.493 / 0.555 (``bench_labels.py acted --seeds
10``); read speech never takes this path."""


WEAK_REACH = 0.45
"""The share of a weak group's other lines that a name given to its typical line reaches when the
group itself carries no name: the name's new mean and the turn-taking move the nearest of them.
Measured on the acted benchmark, CAM++ as it is: with group questions worth all their lines a
group answer named 5.9 lines right on average where it promised 12.6; at 0.45 it promises 9.4
and names 11.0 (``bench_review.py --acted``; the review to 100% costs 58.2 ops/100 at 0.45,
59.3 worth one line, 57.1 at 0.25, 60.1 at 0.5)."""

GROUP_CARRY = "group_carry"
"""Workspace meta: how far a name given to one line of a group reaches the rest
(``SpreadNames.group_carry``), which the review queue's group questions are worth."""

HELD_GUESSES = "held_guesses"
"""Workspace meta: per action state (``ActionLog.state``), the lines whose guess held its name
there (``grouping.propagate.hold_guesses``) and that name. Holding reads the names the season
had, so without it an undo and a regroup would not bring the names back exactly."""


def guesses_to_hold(
    line_ids: Iterable[str],
    name_id: dict[str, int],
    prev_labels: dict[str, tuple[str | None, str]],
    held_here: dict[str, str] | None,
) -> np.ndarray:
    """Per line, the name index (-1: none) a weak season's guess holds on to: the names this
    action state was given before where it was named before (an undo, a redo, a rerun: back
    to exactly those), otherwise the machine's names so far."""
    if held_here is not None:
        return np.array([name_id.get(held_here.get(lid, ""), -1) for lid in line_ids], np.int64)
    out = []
    for lid in line_ids:
        name, source = prev_labels.get(lid, (None, ""))
        out.append(name_id.get(name, -1) if source == LabelSource.PROPAGATED.value else -1)
    return np.array(out, dtype=np.int64)


def _raw_verdict(previous: dict | None, voice_model: str) -> str | None:
    """The weak/ok verdict an earlier regroup read on this episode's unprojected vectors."""
    if not previous or previous.get("model") != voice_model:
        return None
    return previous.get("raw_voice_evidence")


def weak_season(evidence: dict[str, dict], lines: dict[str, int]) -> bool:
    """Whether most lines (``lines``: episode id -> line count) sit in weak-evidence episodes."""
    weak = sum(n for ep, n in lines.items() if evidence.get(ep, {}).get("voice_evidence") == "weak")
    return 2 * weak > sum(lines.values())


LEARNED_SPACE = False
"""Whether grouping and naming work in the space learned from hand labels
(pipelines/stages/label_space.py). Off: on the LibriSpeech pseudo-episodes it lowered the share of
lines named right from 1 / 3 hand labels per voice and episode from 0.952 / 0.961 to 0.915 /
0.867 (``python benchmarks/bench_grouping.py --cached --only labels``), and on the acted
episodes it moved castlist's names by +0.00 / +0.02 / +0.00 / -0.01 with 1 / 2 / 3 / 5 labels
per character (``python benchmarks/bench_labels.py acted``: castlist with and without it);
the simulated review of acted episodes to 90% correct names cost 55-82 operations per 100 lines
with it and 37-78 without (``python benchmarks/bench_review.py --acted``). On the LibriSpeech
review it tripled the operations to 100% right names (angel_beats ep03 30.9 vs 13.4 per 100
lines; durarara ep03 46.5 vs 11.6): one right answer naming a stray line of one voice re-learnt
the space enough to merge that voice with another (14.7 and 43.3 points of right names lost;
``python benchmarks/bench_review.py --projection``)."""


def episode_reliability(
    ws: Workspace, episode_id: str, df: pd.DataFrame, X: np.ndarray, model: LineConfidence | None
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """P(line's voice vector places it right) per row of ``df``, with its features.

    The learned model reads the vector's neighbourhood and the acoustic facts the voice stage
    saved; when those are missing (imported vectors, an older workspace) or no model is
    available, the duration heuristic stands in. Returns (reliability, features, names);
    features is None on the fallback."""
    durations = (df["end"] - df["start"]).to_numpy(dtype=float)
    if model is None or len(df) < 3:
        return heuristic_reliability(durations), None, []
    feats = ws.vectors.load(episode_id, *LINEFEAT)
    extra = {}
    if feats is not None and feats.ndim == 2 and feats.shape[1] == len(LINE_FEATURES):
        rows = feats[df["idx"].to_numpy()]
        extra = {"rms_db": rows[:, 1], "active_ratio": rows[:, 2]}
    F, names, _ = episode_features(X, durations, **extra)
    try:
        return model.predict_proba(F, names), F, names
    except ValueError:
        log.debug("%s: features for the confidence model missing; duration heuristic", episode_id)
        return heuristic_reliability(durations), None, []


MIN_LABELLED_FOR_RECALIBRATION = 40
"""Hand-labelled lines a season needs before the confidence model is recalibrated on them:
fewer give Platt scaling too few lines of both outcomes to fit a slope."""


def refine_with_labels(
    model: LineConfidence, F: np.ndarray, names: list[str], X: np.ndarray, y: np.ndarray,
    min_labelled: int = MIN_LABELLED_FOR_RECALIBRATION,
) -> LineConfidence:  # fmt: skip
    """Recalibrate the shipped model on this season's own hand labels (Platt scaling of its
    score), when there are enough labelled lines of both outcomes; otherwise unchanged.

    Target per labelled line: do its nearest labelled neighbours share its name. Only the
    slope and offset move, so a few dozen labels cannot overfit the feature weights."""
    lab = np.flatnonzero(y >= 0)
    if lab.size < min_labelled:
        return model
    from sklearn.linear_model import LogisticRegression

    from grouping.knn import knn

    idx, _ = knn(X[lab], min(5, lab.size - 1))
    t = reliability_targets(y[lab], idx)
    if min(np.sum(t == 1), np.sum(t == 0)) < 5:
        return model
    z = model.decision_function(F[lab], names).reshape(-1, 1)
    platt = LogisticRegression(C=1.0).fit(z, t)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    refined = LineConfidence.from_dict(model.to_dict())
    refined.coef_ = refined.coef_ * a
    refined.intercept_ = refined.intercept_ * a + b
    return refined


@dataclass
class EpisodeBlock:
    """One episode grouped on its own: its candidate lines (``df`` with an ``episode``
    column), the vectors grouping and naming read, a stable group id per line, the ids it
    retired, P(voice places the line right), which lines' membership is evidence (built the
    group or joined it clearly), which lines built their group (``core``) and what the
    similarity calibration said (None: none ran)."""

    df: pd.DataFrame
    X: np.ndarray
    keys: list[str]
    retired: list[tuple[str, str, str | None, str]]
    reliability: np.ndarray
    placed: np.ndarray
    core: np.ndarray
    evidence: dict | None


@dataclass
class EpisodeGrouper:
    """Groups one episode at a time under the season's human decisions: what a full regroup
    does per episode, and all an incremental run does for a newly added one."""

    ws: Workspace
    voice_model: str
    human: dict[str, str]
    locks: dict[str, str]
    cannot: list[tuple[str, str]]
    prev_group: dict[str, str]
    minter: IdMinter
    clusterer: ReliableFirstClustering
    fuse_faces: Callable[[str, np.ndarray], np.ndarray]
    project: Callable[[np.ndarray], np.ndarray]
    model: LineConfidence | None
    core_by: str = "duration"
    previous: dict = field(default_factory=dict)
    covered: dict[str, int] = field(default_factory=dict)  # episode -> lines it grouped

    def __post_init__(self) -> None:
        raw = self.ws.get_meta(VOICE_EVIDENCE) or "{}"
        self.previous = json.loads(raw).get("per_episode", {})

    def candidates(self, episode_id: str) -> pd.DataFrame:
        """The episode's lines that take part in grouping: speech, not marked ambient."""
        df = self.ws.lines_frame(episode_id)
        human = self.human
        keep = (df["skip_reason"] == "") & df["id"].map(lambda lid: human.get(lid) != AMBIENT)
        return df[keep.to_numpy()].reset_index(drop=True)

    def vectors(self, episode_id: str, df: pd.DataFrame, X_all: np.ndarray) -> np.ndarray:
        """The rows grouping and naming read: voice, fused with faces where there are any."""
        fused = self.fuse_faces(episode_id, X_all)[df["idx"].to_numpy()]
        return fused if is_identity(self.project) else self.project(fused)

    def group(self, episode_id: str) -> EpisodeBlock | None:
        ws, clusterer, voice_model = self.ws, self.clusterer, self.voice_model
        X_all = ws.vectors.load(episode_id, "voice", voice_model)
        if X_all is None:
            return None
        df = self.candidates(episode_id)
        self.covered[episode_id] = len(df)
        if df.empty:
            return None
        reliability, _, _ = episode_reliability(
            ws, episode_id, df, X_all[df["idx"].to_numpy()], self.model
        )
        core_score = (
            reliability
            if self.core_by == "confidence"
            else heuristic_reliability((df["end"] - df["start"]).to_numpy(dtype=float))
        )
        X = self.vectors(episode_id, df, X_all)
        cons = episode_constraints(df, self.human, self.locks, self.cannot)
        # no human or timing pair is a fair sample of "same" or "different" voices: a split's
        # cannot-links and the lines a review asks about are the hard cases, and overlapping
        # lines share audio. Learning from them flipped an episode to "weak evidence" after one
        # review answer (21 points of right names lost) and every LibriSpeech episode with
        # overlaps to weak (edge F1 0.96 -> 0.55), so the similarity calibration reads the
        # episode's own pair distribution only
        labels = clusterer.fit_predict(X, core_score, cons, calibration_constraints=Constraints())
        ev = None
        if getattr(clusterer, "calibration_", None) is not None:
            ev = clusterer.calibration_.evidence()
            if not is_identity(self.project):
                # whitened by the labels, the vectors calibrate better than the voices are told
                # apart: whether the evidence is weak is read on the vectors before the
                # projection (once per episode and model, then kept in the workspace meta)
                ev["voice_evidence"] = (
                    _raw_verdict(self.previous.get(episode_id), voice_model)
                    or (
                        SimilarityCalibration()
                        # the episode's own pairs only (see the clustering above), unprojected
                        .fit(self.fuse_faces(episode_id, X_all)[df["idx"].to_numpy()])
                        .evidence()["voice_evidence"]
                    )
                )
            ev["raw_voice_evidence"], ev["model"] = ev["voice_evidence"], voice_model
        keys, gone = _stable_group_ids(
            episode_id, df["id"].tolist(), labels, self.prev_group, self.minter
        )
        # lines whose group membership is itself evidence: they built the group, a person tied
        # them to it, or they joined it clearly. A hand-named line that merely attached with a
        # weak score must not name its group (nor the season character) after itself.
        used = getattr(clusterer, "thresholds_", {})
        cal = getattr(clusterer, "calibration_", None)
        floor = (TUNING if cal is None else CosineScale.of_calibration(cal)).carry(0.5)
        strong = getattr(clusterer, "probabilities_", np.ones(len(labels))) >= max(
            used.get("reliable_attach_threshold", clusterer.reliable_attach_threshold), floor
        )
        core = getattr(clusterer, "core_", np.ones(len(labels), bool))
        return EpisodeBlock(
            df.assign(episode=episode_id), X, keys, gone, reliability, core | strong, core, ev
        )


def group_season(
    ws: Workspace,
    voice_model: str,
    clusterer: ReliableFirstClustering | None = None,
    confidence: LineConfidence | None | str = "default",
    propagator: NamePropagator | None = None,
    core_by: str = "duration",
    linker: RosterLinker | None = None,
    extra_meta: dict[str, str] | None = None,
) -> SeasonResult:
    """Regroup the whole season (``extra_meta``: workspace meta written with its results).

    ``confidence``: the line-confidence model whose calibrated P(voice vector places the line
    right) is stored per line and drives the review queue ("default": the shipped one,
    recalibrated on this season's hand labels when there are enough; None: the duration
    heuristic). ``core_by``: which score decides the lines that may *build* groups:
    "duration" (the heuristic; measured better on held-out series, see
    docs/benchmarks_grouping.md: the learned score also marks clean lines of rare characters
    unreliable, so minor characters get absorbed) or "confidence" (the learned score).
    ``propagator``: a configured NamePropagator (e.g. ``abstain_below=0`` to name every line);
    ``linker``: a configured RosterLinker."""
    human = ws.human_labels()
    locks = ws.locks()
    cannot = ws.cannot_links()
    prev_group, prev_character = ws.previous_ids()
    prev_labels = ws.label_sources()
    minter = ws.id_minter()
    retired: list[tuple[str, str, str | None, str]] = []
    clusterer = clusterer or ReliableFirstClustering()
    fuse_faces = face_fuser(ws, voice_model)
    # identity until enough labels
    project = label_projection(ws, voice_model, human, fuse_faces) if LEARNED_SPACE else identity
    refine = isinstance(confidence, str)
    model = default_confidence() if isinstance(confidence, str) else confidence
    if refine and model is not None and len(human) >= MIN_LABELLED_FOR_RECALIBRATION:
        model = refined_model(ws, voice_model, human, model)

    grouper = EpisodeGrouper(
        ws, voice_model, human, locks, cannot, prev_group, minter, clusterer, fuse_faces,
        project, model, core_by,
    )  # fmt: skip
    frames, vectors, group_keys, reliabilities, placed, cores = [], [], [], [], [], []
    evidence: dict[str, dict] = {}
    for episode in ws.episodes():
        block = grouper.group(episode.id)
        if block is None:
            continue
        if block.evidence is not None:
            evidence[episode.id] = block.evidence
        group_keys += block.keys
        retired += block.retired
        frames.append(block.df)
        vectors.append(block.X)
        reliabilities.append(block.reliability)
        placed.append(block.placed)
        cores.append(block.core)

    written_with = voice_evidence_meta(evidence) | name_calibration_meta(ws, human)
    written_with |= extra_meta or {}
    result = SeasonResult()
    result.propagated_before = Counter(
        name for name, source in prev_labels.values() if source == LabelSource.PROPAGATED.value
    )
    if not frames:
        gone = [(g, "group", None, "gone") for g in sorted(set(prev_group.values()))]
        gone += [(c, "character", None, "gone") for c in sorted(set(prev_character.values()))]
        covered = state_meta(ws, voice_model, list(grouper.covered), grouper.covered)
        ws.write_machine_results([], [], retired=gone, minter=minter, meta=covered | written_with)
        return result
    df = pd.concat(frames, ignore_index=True)
    X = np.concatenate(vectors)
    reliability = np.concatenate(reliabilities)
    trusted = np.concatenate(placed)
    group_of = np.array(group_keys)
    # the season's cosine scale: a model whose vectors share a common direction reads every
    # cosine constant below (adoption, linking, naming) higher up
    scale = CosineScale.of_evidence(evidence)
    vouched = vouched_groups(
        X, df["id"].to_numpy(), group_of, df["episode"], human, trusted, cannot, scale
    )
    trusted = vouched == group_of

    names = sorted({n for n in human.values() if n != AMBIENT})
    name_id = {n: i for i, n in enumerate(names)}
    y = np.array([name_id.get(human.get(lid, ""), -1) for lid in df["id"]])
    groups, roster = link_roster(
        df, X, group_of, named_groups(y, trusted), locks, cannot, linker or scaled_linker(scale)
    )
    vouch = vouch_roster(vouched, group_of, roster)
    anchored = np.concatenate(cores) & named_by_hand(vouched, group_of)
    state, held_by_state = ws.actions.state(), json.loads(ws.get_meta(HELD_GUESSES) or "{}")
    previous = guesses_to_hold(df["id"], name_id, prev_labels, held_by_state.get(str(state)))
    spread = spread_names(df, X, y, roster, vouch, evidence, propagator, anchored, scale, previous)
    pred, p_name = spread.pred, spread.p_name
    if spread.held is not None:  # remembered per state, for what undo and redo return to
        held_by_state[str(state)] = {
            df["id"].iat[i]: names[pred[i]] for i in np.flatnonzero(spread.held)
        }
        reachable = ws.actions.reachable_states()
        written_with[HELD_GUESSES] = json.dumps(
            {k: v for k, v in held_by_state.items() if int(k) in reachable}
        )
    written_with[GROUP_CARRY] = f"{spread.group_carry:.4f}"
    character_name = {r: names[k] for r, k in character_names(y, roster, vouch).items()}
    character_ids, gone = _stable_character_ids(df["id"].tolist(), roster, prev_character, minter)
    retired += gone
    group_rows, label_rows = [], []
    for i, lid in enumerate(df["id"]):
        cid = character_ids[int(roster[i])]
        character = character_name.get(int(roster[i]), cid)
        group_rows.append((lid, group_of[i], character, float(reliability[i]), cid))
        if lid in human:
            result.sources[LabelSource.HUMAN.value] += 1
            continue
        label_rows.append(machine_label(lid, i, pred, p_name, names, float(reliability[i])))
        if label_rows[-1][1] is not None:
            result.sources[LabelSource.PROPAGATED.value] += 1
            result.propagated[label_rows[-1][1]] += 1
        else:
            result.sources["unnamed"] += 1
    label_rows = propose_names(ws, df, roster, group_of, label_rows, result.sources)  # hints
    covered = state_meta(ws, voice_model, list(grouper.covered), grouper.covered)
    ws.write_machine_results(
        group_rows, label_rows, retired=retired, minter=minter, meta=covered | written_with
    )
    result.loose = {lid for lid, v in zip(df["id"], vouch, strict=True) if lid in human and v < 0}
    result.adopted = {
        lid: v for lid, v, g in zip(df["id"], vouched, group_of, strict=True) if v and v != g
    }
    result.retired = {rid: (successor, why) for rid, _, successor, why in retired}
    result.n_lines = len(df)
    result.n_groups = len(groups)
    result.n_characters = len(np.unique(roster))
    return result


def link_roster(
    df: pd.DataFrame,
    X: np.ndarray,
    group_of: np.ndarray,
    fixed_of: Callable[[np.ndarray, int], np.ndarray],
    locks: dict[str, str],
    cannot: list[tuple[str, str]],
    linker: RosterLinker,
) -> tuple[np.ndarray, np.ndarray]:
    """The season roster: episode groups linked into characters. ``fixed_of(gidx, n_groups)``
    says which character each group is fixed to (-1: the linker places it). Returns (groups,
    character per line)."""
    groups, gidx = np.unique(group_of, return_inverse=True)
    centroids = np.zeros((len(groups), X.shape[1]), dtype=np.float32)
    np.add.at(centroids, gidx, X)
    centroids = normalize_rows(centroids)
    sizes = np.bincount(gidx, minlength=len(groups))
    group_episode = np.zeros(len(groups), dtype=np.int64)
    group_episode[gidx] = pd.factorize(df["episode"])[0]
    fixed = fixed_of(gidx, len(groups))
    group_must, group_cannot = _group_pairs(df["id"].to_numpy(), gidx, locks, cannot)
    linker.fit(
        centroids, group_episode, sizes, fixed=fixed, must_link=group_must, cannot_link=group_cannot
    )
    return groups, linker.roster_[gidx]


def scaled_linker(scale: CosineScale) -> RosterLinker:
    """The roster linker whose bars sit where its defaults sit on the tuning set's scale."""
    tuned = RosterLinker()
    return RosterLinker(
        threshold=scale.carry(tuned.threshold),
        same_episode_threshold=scale.carry(tuned.same_episode_threshold),
    )


def named_groups(y: np.ndarray, trusted: np.ndarray) -> Callable[[np.ndarray, int], np.ndarray]:
    """``fixed_of`` for :func:`link_roster`: a group whose lines carry a hand name (see
    :func:`character_vote`) is fixed to that name's index."""

    def fixed_of(gidx: np.ndarray, n_groups: int) -> np.ndarray:
        order = np.argsort(gidx, kind="stable")  # one pass over the lines, not one per group
        bounds = np.searchsorted(gidx[order], np.arange(n_groups + 1))
        rows = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return np.array([character_vote(y[r], trusted[r]) for r in rows], dtype=np.int64)

    return fixed_of


@dataclass
class SpreadNames:
    """What :func:`spread_names` gives: ``propagator`` fitted (None when nothing is named);
    per line ``pred`` its name index (-1: none), ``p_name`` that name's probability, ``held``
    whether it held its previous name (None where guesses do not hold: clear voices);
    ``group_carry`` how far a name given to one line of a group reaches the rest (1 on clear
    voices; on weak ones the share of ``group_weight`` the labels opened, at least
    ``WEAK_REACH``)."""

    propagator: NamePropagator | None
    pred: np.ndarray | None
    p_name: np.ndarray | None
    held: np.ndarray | None
    group_carry: float = 1.0


def spread_names(
    df: pd.DataFrame,
    X: np.ndarray,
    y: np.ndarray,
    roster: np.ndarray,
    vouch: np.ndarray,
    evidence: dict[str, dict],
    propagator: NamePropagator | None,
    anchored: np.ndarray | None = None,
    scale: CosineScale = TUNING,
    previous: np.ndarray | None = None,
) -> SpreadNames:
    """Names spread from the hand labels ``y`` (-1: none), abstaining when unsure; ``vouch``:
    per line, the character its hand name speaks for (-1: none, see :func:`vouch_roster`);
    ``anchored``: lines the open-set rule never holds back (see ``NamePropagator.fit``);
    ``scale``: the season's cosine scale, which the kNN vote's evidence floor is read on;
    ``previous``: per line, the name index the machine gave it before (-1: none), which a
    weak season's guesses hold on to (``grouping.propagate.hold_guesses``)."""
    weak = propagator is None and weak_season(evidence, df.groupby("episode").size().to_dict())
    held = np.zeros(len(y), bool) if weak and previous is not None else None
    if weak:  # the episode's shared sound removed, as its grouping did (grouping/cluster.py)
        X = centre_rows(X, by=df["episode"], dtype=None)
    # groups carry names only where the labels show that a voice's nearest lines are its own
    # (a better voice model on acted voices); with CAM++ on acted voices they are not, and a
    # group there is one voice in three
    group_weight = weak_group_weight(label_neighbour_agreement(X, y)) if weak else None
    carry = 1.0 if group_weight is None else max(group_weight / FULL_GROUP_WEIGHT, WEAK_REACH)
    if not (y >= 0).any():
        return SpreadNames(None, None, None, held, carry)
    if propagator is None:
        floor = scale.carry(NamePropagator().min_sim)
        propagator = NamePropagator(**WEAK_PROPAGATION) if weak else NamePropagator(min_sim=floor)
    if group_weight is not None:
        propagator.set_params(group_weight=group_weight)
        log.debug("weak season: groups carry names at %.2f", group_weight)
    propagator = propagator.fit(X, y, groups=np.where(y < 0, roster, vouch), anchored=anchored)
    # no X: the training lines' probabilities *with* their character's evidence (passing X
    # would score them by kNN alone, which left most of a one-label character unnamed)
    proba = propagator.predict_proba()
    pred = propagator.predict()
    if weak:
        # where the voice barely tells characters apart, who spoke the lines around a line
        # is evidence too (grouping/turns.py); hand-named lines anchor their neighbours
        proba = TurnSmoother().transform(proba, df["start"], df["end"], df["episode"])
        pred = propagator.classes_[proba.argmax(1)].astype(np.int64)
        # every line keeps its best name, but how sure that is also weighs the characters
        # nobody named yet: with one name known, a vote among the named says 100% everywhere
        proba = proba * propagator.known_share()[:, None]
        if held is not None:
            pred, held = hold_guesses(pred, proba, propagator.classes_, previous, y >= 0)
    p_name = name_probability(proba, propagator.classes_, pred)
    return SpreadNames(propagator, pred, p_name, held, carry)


def machine_label(
    lid: str,
    i: int,
    pred: np.ndarray | None,
    p_name: np.ndarray | None,
    names: list[str],
    reliability: float,
) -> tuple[str, str | None, str, float]:
    """The label row the machine writes for line ``lid`` (row ``i``) that nobody named by
    hand: the name propagation gave it with that name's probability ``p_name``, or none
    (source cluster, with its reliability)."""
    if pred is not None and pred[i] >= 0:
        return (lid, names[pred[i]], LabelSource.PROPAGATED.value, float(p_name[i]))
    return (lid, None, LabelSource.CLUSTER.value, reliability)


def character_vote(y: np.ndarray, trusted: np.ndarray) -> int:
    """The name index a character carries (-1: none) from its lines' hand names ``y`` (-1:
    none): the majority of the trusted ones, or, when every line of it was named by hand (a
    one-line character a person named), of those. A loosely placed hand-named line must not
    name a group of other lines, but a character made only of hand-named lines is what the
    hands say (the demo's one-line Shopkeeper showed as a machine's guess)."""
    votes = y[(y >= 0) & trusted]
    if not votes.size and y.size and (y >= 0).all():
        votes = y
    return int(np.bincount(votes).argmax()) if votes.size else -1


ADOPT_MIN_COSINE = 0.55
"""Cosine of a stranded hand-named line to another group's mean vector from which that group may
take its name: where two lines of one CAM++ voice sit on read speech (``same_probability``'s
midpoint); acted voices rarely reach it, so there the line names itself only."""

ADOPT_MARGIN = 0.1
"""How much nearer that group the line must be than to its own group and every other group."""


def vouched_groups(
    X: np.ndarray,
    line_ids: np.ndarray,
    group_of: np.ndarray,
    episode_of: pd.Series | np.ndarray,
    human: dict[str, str],
    trusted: np.ndarray,
    cannot: list[tuple[str, str]] = (),
    scale: CosineScale = TUNING,
) -> np.ndarray:
    """Per hand-named line, the group its name speaks for ("" none, and for every other
    line):

    - its own group when its place there is ``trusted``, or when it only loosely joined the
      group but still belongs to it: no other line of the group is named otherwise by hand,
      and its voice is closer to the rest of its group than to any other group of its episode;
    - for a line that stands alone in a group of its own, the group of its episode its voice
      clearly matches (``ADOPT_MIN_COSINE``, ``ADOPT_MARGIN``, read on the season's
      ``scale``), when no line there carries
      another hand name and no person separated the line from it.

    Naming the first line of each character is what a person watching from the start does;
    that line is often a short "eh..." that joined the main character's group weakly, or one
    that overlaps another line of the same speaker (the overlap keeps the two apart, so it
    stands alone). Without these rules it named one line and left the character's group
    unnamed (issue 9, item 4: 154 lines); with them the group is named unless the line's voice
    says it is someone else's."""
    group_of = np.asarray(group_of, dtype=object)
    name = np.array([human.get(lid, "") for lid in line_ids], dtype=object)
    named = (name != "") & (name != AMBIENT)
    out = np.where(np.asarray(trusted, bool) & named, group_of, "").astype(object)
    groups, gidx = np.unique(group_of.astype(str), return_inverse=True)
    sizes = np.bincount(gidx, minlength=len(groups))
    loose = np.flatnonzero(named & ((out == "") | (sizes[gidx] == 1)))
    if loose.size == 0:
        return out
    Xn = normalize_rows(X, dtype=None)
    sums = np.zeros((len(groups), X.shape[1]))
    np.add.at(sums, gidx, Xn)
    episode = np.zeros(len(groups), dtype=np.int64)
    episode[gidx] = pd.factorize(np.asarray(episode_of))[0]
    row_of = {lid: i for i, lid in enumerate(line_ids)}
    apart: defaultdict[int, set[int]] = defaultdict(set)  # line -> groups a person kept it from
    for a, b in cannot:
        if a in row_of and b in row_of:
            apart[row_of[a]].add(int(gidx[row_of[b]]))
            apart[row_of[b]].add(int(gidx[row_of[a]]))

    def named_only(g: int, i: int) -> bool:  # no line of group g named other than line i
        return not set(name[(gidx == g) & named]) - {name[i]}

    for i in loose:
        g = gidx[i]
        peers = np.flatnonzero(
            (episode == episode[g]) & (sizes >= 2) & (np.arange(len(groups)) != g)
        )
        sims = normalize_rows(sums[peers], dtype=None) @ Xn[i]
        if sizes[g] >= 2:
            rest = sums[g] - Xn[i]
            own = float(Xn[i] @ rest) / max(float(np.linalg.norm(rest)), 1e-9)
            if named_only(g, i) and (peers.size == 0 or own > float(sims.max())):
                out[i] = group_of[i]
            continue
        if peers.size == 0:
            continue
        order = np.argsort(-sims)
        best = peers[order[0]]
        margin = sims[order[0]] - (sims[order[1]] if order.size > 1 else -1.0)
        if (
            sims[order[0]] >= scale.carry(ADOPT_MIN_COSINE)
            and margin >= scale.stretch(ADOPT_MARGIN)
            and named_only(best, i)
            and best not in apart[i]
        ):
            out[i] = groups[best]
    return out


def named_by_hand(vouched: np.ndarray, group_of: np.ndarray) -> np.ndarray:
    """Per line, whether a hand name speaks for its group (:func:`vouched_groups`)."""
    return np.isin(np.asarray(group_of, dtype=str), np.asarray(vouched[vouched != ""], dtype=str))


def vouch_roster(vouched: np.ndarray, group_of: np.ndarray, roster: np.ndarray) -> np.ndarray:
    """Per line, the character (roster index) its hand name speaks for (-1: none), from the
    groups of :func:`vouched_groups`."""
    character_of = dict(zip(np.asarray(group_of, dtype=str), roster.tolist(), strict=False))
    return np.array([character_of.get(str(g), -1) if g else -1 for g in vouched], np.int64)


def character_names(y: np.ndarray, roster: np.ndarray, vouch: np.ndarray) -> dict[int, int]:
    """Character (roster index) -> the name index it carries, for every character some hand
    name speaks for (:func:`character_vote` over its lines and the lines vouching for it)."""
    out = {}
    for r in np.unique(roster):
        rows = (roster == r) | (vouch == r)
        k = character_vote(y[rows], vouch[rows] == r)
        if k >= 0:
            out[int(r)] = k
    return out
