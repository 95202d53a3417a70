"""The review queue on a workspace: ranked questions, and answers that become human actions.

``questions`` gathers what the grouping stage stored (groups, characters, names with their
probabilities, voice vectors) and lets :mod:`grouping.review` rank the questions; ``answer``
turns a reply into the workspace action a person would have taken by hand (merge, separate,
name, ambient) and regroups, so every answer is logged, undoable and respected by every
re-run. Questions a person dismissed ("no" to ambient, "skip") are remembered in the
workspace meta and not asked again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np

from grouping.review import rank_candidates
from pipelines.errors import UsageError
from pipelines.records import AMBIENT, LabelSource
from pipelines.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["Question", "questions", "answer"]

_DISMISSED = "review_dismissed"


@dataclass(frozen=True)
class Question:
    id: str  # stable key
    kind: str  # "same" | "who" | "ambient"
    groups: tuple[str, ...]  # for "same": the two group ids
    line_id: str | None  # for "who" / "ambient"
    suggestions: tuple[tuple[str, float], ...]  # for "who": (name, probability), best first
    saves: float  # expected annotator operations saved
    text: str


def _dismissed(ws: Workspace) -> set[str]:
    return set(json.loads(ws.get_meta(_DISMISSED) or "[]"))


def _dismiss(ws: Workspace, qid: str) -> None:
    ws.set_meta(_DISMISSED, json.dumps(sorted(_dismissed(ws) | {qid})))


def _short(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def questions(ws: Workspace, limit: int = 20) -> list[Question]:
    """The ``limit`` questions that save the most work, best first (empty before grouping)."""
    model = ws.get_meta("voice_model")
    df = ws.lines_frame(speech_only=True)
    if model is None or df.empty:
        return []
    df = df[df["group_id"].notna()].reset_index(drop=True)
    if df.empty:
        return []
    rows, vecs = [], []
    for ep_id, part in df.groupby("episode_id", sort=False):
        X = ws.load_vectors(ep_id, "voice", model)
        if X is None:
            continue
        rows.append(part.index.to_numpy())
        vecs.append(X[part["idx"].to_numpy()])
    if not rows:
        return []
    order = np.concatenate(rows)
    df = df.loc[order].reset_index(drop=True)
    X = np.concatenate(vecs)
    human = (df["source"] == LabelSource.HUMAN.value).to_numpy()
    chars, character = np.unique(df["character"].astype(str), return_inverse=True)
    speaker = df["speaker"].where(df["speaker"].notna(), None)
    # a character is named when any of its lines carries a (human or propagated) name
    named = np.zeros(len(chars), bool)
    name_of: dict[int, str] = {}
    for g in range(len(chars)):
        names = speaker[(character == g) & speaker.notna().to_numpy()]
        names = names[names != AMBIENT]
        if len(names):
            named[g] = True
            name_of[g] = str(names.value_counts().index[0])
    conf = np.where(
        speaker.notna().to_numpy(), df["confidence"].fillna(0.0).to_numpy(dtype=float), 0.0
    )
    conf[human] = 1.0
    reliability = df["reliability"].fillna(0.5).to_numpy(dtype=float)
    # pairs a person already separated (cannot-links between characters' lines)
    char_of_line = dict(zip(df["id"], character.tolist(), strict=True))
    separated = set()
    for a, b in ws.cannot_links():
        ca, cb = char_of_line.get(a), char_of_line.get(b)
        if ca is not None and cb is not None and ca != cb:
            separated.add((min(ca, cb), max(ca, cb)))
    cands = rank_candidates(X, character, named, conf, human, reliability, separated)

    # the biggest episode group stands for a character in "same" questions
    sizes = df.groupby(["character", "group_id"]).size().reset_index(name="n")
    rep = sizes.sort_values("n", ascending=False).drop_duplicates("character")
    rep_group = dict(zip(rep["character"].astype(str), rep["group_id"], strict=True))
    dismissed = _dismissed(ws)
    out: list[Question] = []
    seen_lines: set[str] = set()
    for c in cands:
        if c.kind == "same":
            ga, gb = rep_group[chars[c.a]], rep_group[chars[c.b]]
            qid = "same:" + "|".join(sorted((ga, gb)))
            label_a = name_of.get(c.a, chars[c.a])
            label_b = name_of.get(c.b, chars[c.b])
            text = (
                f"Are {label_a} ({int((character == c.a).sum())} lines) and {label_b} "
                f"({int((character == c.b).sum())} lines) the same character? "
                f"(P(yes) {c.p:.0%})"
            )
            q = Question(qid, "same", (ga, gb), None, (), c.saves, text)
        else:
            lid = str(df.at[c.a, "id"])
            if lid in seen_lines:
                continue
            row = df.iloc[c.a]
            if c.kind == "who":
                sugg = tuple((name_of.get(g, chars[g]), p) for g, p in c.suggestions)
                hint = ", ".join(f"{n} {p:.0%}" for n, p in sugg[:3])
                if sugg and sugg[0][1] < 0.2:
                    hint = f"probably someone not named yet (closest: {sugg[0][0]})"
                text = (
                    f"Who says {lid} ({row['start']:.1f}-{row['end']:.1f} s) "
                    f'"{_short(row["text"])}"?' + (f" Maybe: {hint}" if hint else "")
                )
                q = Question("who:" + lid, "who", (str(row["group_id"]),), lid, sugg, c.saves, text)
            else:
                text = f'Is {lid} "{_short(row["text"])}" ambient (crowd, song, narration)?'
                q = Question(
                    "ambient:" + lid, "ambient", (str(row["group_id"]),), lid, (), c.saves, text
                )
        if q.id in dismissed:
            continue
        if q.line_id:
            seen_lines.add(q.line_id)
        out.append(q)
        if len(out) >= limit:
            break
    return out


def answer(
    ws: Workspace, question: Question, reply: str, who: str = "ui", base_rev: int | None = None
):
    """Apply a reply and regroup; returns the regroup result (None when nothing changed).

    ``same``: "yes" merges, "no" separates. ``who``: a name names the line, "ambient" marks
    it ambient. ``ambient``: "yes"/"ambient" marks it, "no" dismisses the question, any other
    reply is taken as the speaker's name. "skip" dismisses any question."""
    from pipelines.run import regroup

    reply = reply.strip()
    low = reply.lower()
    if not reply:
        raise UsageError("an empty reply; answer 'yes', 'no', a name, 'ambient' or 'skip'")
    if low == "skip":
        _dismiss(ws, question.id)
        return None
    if question.kind == "same":
        if low not in ("yes", "no"):
            raise UsageError(f"{question.id}: answer 'yes', 'no' or 'skip', not {reply!r}")
        a, b = question.groups
        if low == "yes":
            ws.merge_groups([a, b], who=who, base_rev=base_rev)
        else:
            ws.separate_groups(a, b, who=who, base_rev=base_rev)
    elif question.kind in ("who", "ambient"):
        if question.line_id is None:
            raise UsageError(f"{question.id}: the question names no line")
        if low in ("ambient", "yes" if question.kind == "ambient" else "ambient"):
            ws.mark_ambient([question.line_id], who=who, base_rev=base_rev)
        elif question.kind == "ambient" and low == "no":
            _dismiss(ws, question.id)
            return None
        elif low in ("yes", "no"):
            raise UsageError(f"{question.id}: answer with the speaker's name, not {reply!r}")
        else:
            ws.name_lines([question.line_id], reply, who=who, base_rev=base_rev)
    else:
        raise UsageError(f"unknown question kind {question.kind!r}")
    return regroup(ws)
