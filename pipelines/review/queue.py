"""The review queue on a workspace: ranked questions, and answers that become human actions.

``questions`` gathers what the grouping stage stored (groups, characters, names with their
probabilities, voice vectors) and lets :mod:`grouping.review` rank the questions; ``answer``
turns a reply into the workspace action a person would have taken by hand (merge, separate,
name, ambient) and regroups, so every answer is logged, undoable and respected by every
re-run. Questions a person dismissed ("no" to ambient, "skip") are remembered in the
workspace meta and not asked again.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grouping.calibrate import SimilarityCalibration
from grouping.review import SAME_MIDPOINT, SAME_SCALE, Candidate, rank_candidates
from pipelines.errors import UsageError
from pipelines.records import AMBIENT, LabelSource, Line
from pipelines.review.answers import Answered, answers_about_names, record_answers
from pipelines.stages.grouping_state import unreviewed_episodes
from pipelines.stages.season import GROUP_CARRY, season_scale
from pipelines.store.workspace import Workspace
from pipelines.wording import count

log = logging.getLogger(__name__)

__all__ = ["Question", "answer", "questions", "why_empty"]

_DISMISSED = "review_dismissed"
CONFIDENT_SUGGESTION = 0.5
"""A group question asks "Is this group NAME?" (and "yes" takes NAME) from this probability
of its top suggestion up; below it, "Who is this group?"."""

PURITY_PAIRS = 50_000
"""Pairs of lines the season's one-speaker/two-speaker mixture is fitted on for the queue (a
season of any size costs about the same: ~0.1 s)."""


@dataclass(frozen=True)
class Question:
    id: str  # stable key
    kind: str  # "group" | "same" | "who" | "check" | "ambient"
    groups: tuple[str, ...]  # group: (group, group of the top suggestion?); same: both groups
    line_id: str | None  # who/ambient: the line; group: its most typical line
    suggestions: tuple[tuple[str, float], ...]  # (name, probability), best first
    saves: float  # lines the answer is expected to name right (one answer = one operation)
    text: str
    lines: tuple[str, ...] = ()  # group: samples (the answer names the first); check: all
    size: int = 0  # group: lines in the character; same: the smaller one's; check: lines
    fresh: bool = False  # about lines of an episode the last run added (asked first)

    @property
    def gain(self) -> str:
        """What answering does, in the annotator's words ("names about 12 lines")."""
        if self.kind == "same":
            return "one answer then names both"
        if self.kind == "check":
            wrong = int(round(self.saves))
            return f"checks {count(self.size, 'line')}" + (
                f", about {wrong} wrong" if wrong else ""
            )
        n = max(1, int(round(self.saves)))
        return "names 1 line" if n == 1 else f"names about {n} lines"


def answer_commands(q: Question, ws_arg: str) -> list[str]:
    """The CLI commands that answer ``q`` (NAME: the name to give), so that what ``castlist
    review`` prints can be acted on with the ids it shows."""
    ws = shlex.quote(ws_arg)
    top = q.suggestions[0][0] if q.suggestions else None
    if q.kind == "group":
        # what the browser's answer does: name the most typical line and let the name spread
        # as far as the voices agree; naming the whole group by hand is the stronger option
        confident = bool(q.suggestions) and q.suggestions[0][1] >= CONFIDENT_SUGGESTION
        name = shlex.quote(top if confident else "NAME")
        line = f"castlist label {ws} --line {q.lines[0]} --name {name}" if q.lines else None
        group = f"castlist label {ws} --group {q.groups[0]} --name {name}"
        if line is None:
            return [group]
        return [line, f"(every line of the group by hand: {group})"]
    if q.kind == "same":
        a, b = q.groups[:2]
        return [f"yes: castlist merge {ws} {a} {b}", f"no: castlist separate {ws} {a} {b}"]
    if q.kind == "check":
        every = " ".join(f"--line {lid}" for lid in q.lines)
        return [
            f"castlist label {ws} {every} --name {shlex.quote(top or 'NAME')}",
            f"(first a line that is someone else: castlist label {ws} --line ID --name NAME, "
            "and leave it out above)",
        ]
    if q.kind == "who":
        return [
            f"castlist label {ws} --line {q.line_id} --name NAME",
            f"(crowd, song, narration: castlist label {ws} --ambient --line {q.line_id})",
        ]
    return [f"yes: castlist label {ws} --ambient --line {q.line_id}"]


def _dismissed(ws: Workspace) -> set[str]:
    return set(json.loads(ws.get_meta(_DISMISSED) or "[]"))


def _dismiss(ws: Workspace, qid: str) -> None:
    ws.set_meta(_DISMISSED, json.dumps(sorted(_dismissed(ws) | {qid})))


def _short(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


_SONG = re.compile(r"[♪♫♬～〜]|^\s*[(（\[].*[)）\]]\s*$")
_WORD = re.compile(r"\w")


def unusual_lines(df: pd.DataFrame, short_s: float = 0.7) -> np.ndarray:
    """Lines that may be ambient rather than dialogue: song-like text (♪, ～, all in
    brackets), text without a letter, or very short lines with at most two words."""
    text = df["text"].fillna("").astype(str)
    dur = (df["end"] - df["start"]).to_numpy(dtype=float)
    song = text.map(lambda t: bool(_SONG.search(t))).to_numpy()
    blank = text.map(lambda t: not _WORD.search(t)).to_numpy()
    tiny = (dur < short_s) & (text.str.split().str.len().fillna(0).to_numpy() <= 2)
    return song | blank | tiny


def questions(ws: Workspace, limit: int = 20) -> list[Question]:
    """The ``limit`` questions that name the most lines per answer, best first (empty before
    grouping)."""
    season = _Season.read(ws)
    if season is None:
        return []
    dismissed = _dismissed(ws)
    out: list[Question] = []
    seen_lines: set[str] = set()
    for c in season.candidates(ws):
        if c.kind in ("who", "ambient") and str(season.df.at[c.a, "id"]) in seen_lines:
            continue
        if c.kind == "check" and seen_lines.intersection(
            str(season.df.at[i, "id"]) for i in c.lines
        ):
            continue
        q = season.question(c)
        if q.id in dismissed:
            continue
        if q.kind == "check":
            seen_lines.update(q.lines)
        elif q.line_id and q.kind != "group":
            seen_lines.add(q.line_id)
        out.append(q)
        if len(out) >= limit:
            break
    return out


def why_empty(ws: Workspace, ws_arg: str) -> str:
    """Why the queue has nothing to ask, so an empty answer never reads as a failure."""
    season = _Season.read(ws)
    if season is None:
        return f"nothing to review yet: run `castlist run {shlex.quote(ws_arg)}` first"
    frame = ws.lines_frame(speech_only=True)
    unnamed = int(frame["speaker"].isna().sum())
    return (
        f"nothing to review: no question is worth an answer ({unnamed} of {len(frame)} lines "
        "unnamed). Browse the groups with `castlist ui` or list them with `castlist status`"
    )


class _Season:
    """The grouped speech lines of a season as the review ranks them: vectors, character and
    group indices, names, and the wording of each kind of question."""

    def __init__(self, df: pd.DataFrame, X: np.ndarray) -> None:
        self.df, self.X = df, X
        self.chars, self.character = np.unique(df["character"].astype(str), return_inverse=True)
        self.groups, self.group = np.unique(df["group_id"].astype(str), return_inverse=True)
        speaker = df["speaker"].where(df["speaker"].notna() & (df["speaker"] != AMBIENT), None)
        has = speaker.notna().to_numpy()
        character = self.character
        # a character's name: the name most of its named lines carry
        self.name_of: dict[int, str] = {
            int(g): str(speaker[has & (character == g)].value_counts().index[0])
            for g in np.unique(character[has])
        }
        self.named = np.zeros(len(self.chars), bool)
        self.named[list(self.name_of)] = True
        # a name shared by several characters points at the lowest of them
        self.char_of_name = {v: k for k, v in sorted(self.name_of.items(), reverse=True)}
        char_of_name = self.char_of_name
        self.name_idx = np.array(
            [
                char_of_name.get(s, int(c)) if ok else -1
                for s, c, ok in zip(speaker, character, has, strict=True)
            ]
        )
        self.has = has
        sizes = df.groupby(["character", "group_id"]).size().reset_index(name="n")
        rep = sizes.sort_values("n", ascending=False).drop_duplicates("character")
        self.rep_group = dict(zip(rep["character"].astype(str), rep["group_id"], strict=True))
        self.n_of = np.bincount(character, minlength=len(self.chars))
        # a season character can span groups of several episodes: say so, so "18-line group
        # ep02-g0" never sits beside a 10-line ep02-g0 on the Groups page
        self.groups_of = sizes.groupby("character")["group_id"].nunique()

    @classmethod
    def read(cls, ws: Workspace) -> _Season | None:
        model = ws.get_meta("voice_model")
        df = ws.lines_frame(speech_only=True)
        if model is None or df.empty:
            return None
        df = df[df["group_id"].notna()].reset_index(drop=True)
        rows, vecs = [], []
        for ep_id, part in df.groupby("episode_id", sort=False):
            X = ws.vectors.load(ep_id, "voice", model)
            if X is None:
                continue
            rows.append(part.index.to_numpy())
            vecs.append(X[part["idx"].to_numpy()])
        if not rows:
            return None
        df = df.loc[np.concatenate(rows)].reset_index(drop=True)
        return cls(df, np.concatenate(vecs))

    def candidates(self, ws: Workspace) -> list[Candidate]:
        df = self.df
        human = (df["source"] == LabelSource.HUMAN.value).to_numpy()
        hand = np.where(human & self.has, self.name_idx, -1)
        # the voice model's own score: the queue's thresholds were measured on its scale
        conf = np.where(self.has, df["score"].fillna(0.0).to_numpy(dtype=float), 0.0)
        conf[human] = 1.0
        reliability = df["reliability"].fillna(0.5).to_numpy(dtype=float)
        # pairs a person already separated (cannot-links between characters' lines)
        char_of_line = dict(zip(df["id"], self.character.tolist(), strict=True))
        separated = set()
        for a, b in ws.cannot_links():
            ca, cb = char_of_line.get(a), char_of_line.get(b)
            if ca is not None and cb is not None and ca != cb:
                separated.add((min(ca, cb), max(ca, cb)))
        # episodes the last run added to a grouped season: their questions first
        fresh = df["episode_id"].isin(unreviewed_episodes(ws)).to_numpy()
        scale = season_scale(ws)  # another voice model reads centroid cosines higher up
        return rank_candidates(
            self.X, self.character, self.named, conf, human, reliability, separated,
            name=self.name_idx, group=self.group, unusual=unusual_lines(df), hand_name=hand,
            fresh=fresh, checked=self.checked(ws), same_pair=self.same_pair,
            group_carry=float(ws.get_meta(GROUP_CARRY) or 1.0),
            same_midpoint=scale.carry(SAME_MIDPOINT), same_scale=scale.stretch(SAME_SCALE),
        )  # fmt: skip

    @functools.cached_property
    def pair_mixture(self) -> SimilarityCalibration:
        """The season's one-speaker/two-speaker mixture of pair cosines, fitted on first use:
        a season whose characters all carry names asks no group question and fits nothing."""
        return SimilarityCalibration(max_pairs=PURITY_PAIRS).fit(self.X)

    def same_pair(self, cos: np.ndarray) -> np.ndarray:
        """P(one speaker | a pair's cosine) on this season's own vectors: what a group's
        purity, and so a group question's worth, is estimated from."""
        cal = self.pair_mixture
        return np.ones(np.shape(cos)) if cal.source_ == "degenerate" else cal.same_probability(cos)

    def checked(self, ws: Workspace) -> np.ndarray:
        """(characters, 2): per name (by its character index), how many answers about a line
        the machine had given that name confirmed it and how many gave another name."""
        out = np.zeros((len(self.chars), 2))
        char_of_name = self.char_of_name  # the index the lines' names point at
        human = self.df["source"] == LabelSource.HUMAN.value
        hand = dict(zip(self.df["id"][human], self.df["speaker"][human], strict=True))
        for machine, _, right in answers_about_names(ws, hand):
            if machine in char_of_name:
                out[char_of_name[machine], 0 if right else 1] += 1
        return out

    def label(self, g: int) -> str:
        return self.name_of.get(g, self.chars[g])

    def named_suggestions(self, c: Candidate) -> tuple[tuple[str, float], ...]:
        """A candidate's suggestions by name, best first: characters that carry one name (a
        machine's guess on weak voice evidence spreads one name over several) are one
        suggestion with their probabilities summed, not "Alice 38%, Alice 22%"."""
        by_name: dict[str, float] = {}
        for k, p in c.suggestions:
            by_name[self.label(k)] = by_name.get(self.label(k), 0.0) + p
        return tuple(sorted(by_name.items(), key=lambda kv: -kv[1]))

    def question(self, c: Candidate) -> Question:
        if c.kind == "group":
            q = self._group_question(c)
        elif c.kind == "same":
            q = self._same_question(c)
        elif c.kind == "check":
            q = self._check_question(c)
        else:
            q = self._line_question(c)
        return dataclasses.replace(q, fresh=c.fresh) if c.fresh else q

    def _group_question(self, c: Candidate) -> Question:
        df, chars = self.df, self.chars
        lid = str(df.at[c.lines[0], "id"]) if c.lines else None
        gid = str(self.groups[self.group[c.lines[0]]]) if c.lines else self.rep_group[chars[c.a]]
        sugg = self.named_suggestions(c)
        top = sugg[0][0] if sugg and sugg[0][1] >= CONFIDENT_SUGGESTION else None
        # "no" separates the group from the top name's most likely character
        best = next((k for k, _ in c.suggestions if self.label(k) == top), None)
        top_group = (self.rep_group[chars[best]],) if best is not None and best != c.a else ()
        size = int(self.n_of[c.a])
        spans = int(self.groups_of.get(chars[c.a], 1))
        what = f"{size}-line group" if spans <= 1 else f"{size}-line voice ({spans} groups)"
        if top:
            text = f"Is this {what} {top}?"
        else:
            hint = " (probably someone not named yet)" if self.named.any() else ""
            if sugg and sugg[0][1] >= 0.05:  # "closest: Oto 0%" says nothing
                hint = f" (closest named: {sugg[0][0]} {sugg[0][1]:.0%}; probably someone new)"
            text = f"Who is this {what}?{hint}"
        return Question(
            f"group:{gid}", "group", (gid, *top_group), lid, sugg, c.saves, text,
            tuple(str(df.at[i, "id"]) for i in c.lines), size,
        )  # fmt: skip

    def _same_question(self, c: Candidate) -> Question:
        ga, gb = self.rep_group[self.chars[c.a]], self.rep_group[self.chars[c.b]]
        qid = "same:" + "|".join(sorted((ga, gb)))
        text = (
            f"Are these two unnamed groups ({count(self.n_of[c.a], 'line')}, "
            f"{count(self.n_of[c.b], 'line')}) one character?"
        )
        small = int(min(self.n_of[c.a], self.n_of[c.b]))
        return Question(qid, "same", (ga, gb), None, (), c.saves, text, (), small)

    def _check_question(self, c: Candidate) -> Question:
        name = self.label(c.a)
        ids = tuple(str(self.df.at[i, "id"]) for i in c.lines)
        groups = tuple(dict.fromkeys(str(self.df.at[i, "group_id"]) for i in c.lines))
        text = f"Are these {count(len(ids), 'line')} {name}? (correct any that are someone else)"
        return Question(
            f"check:{name}:{ids[0]}+{len(ids) - 1}", "check", groups, ids[0], ((name, c.p),),
            c.saves, text, ids, len(ids),
        )  # fmt: skip

    def _line_question(self, c: Candidate) -> Question:
        row = self.df.iloc[c.a]
        lid = str(row["id"])
        if c.kind == "ambient":
            text = f'Is {lid} "{_short(row["text"])}" ambient (crowd, song, narration)?'
            return Question(
                "ambient:" + lid, "ambient", (str(row["group_id"]),), lid, (), c.saves, text,
                (), 1,
            )  # fmt: skip
        sugg = self.named_suggestions(c)
        hint = ""
        if sugg and sugg[0][1] >= 0.2:
            hint = " Maybe: " + ", ".join(f"{n} {p:.0%}" for n, p in sugg if p >= 0.05)
        elif sugg:
            hint = f" Probably someone not named yet (closest: {sugg[0][0]})."
        text = (
            f"Who says {lid} ({row['start']:.1f}-{row['end']:.1f} s) "
            f'"{_short(row["text"])}"?' + hint
        )
        return Question(
            "who:" + lid, "who", (str(row["group_id"]),), lid, sugg, c.saves, text, (), 1
        )


def answer(
    ws: Workspace,
    question: Question,
    reply: str | Mapping[str, str | None],
    who: str = "ui",
    base_rev: int | None = None,
):
    """Apply a reply and regroup; returns the regroup result (None when nothing changed).

    ``group``: a name names the group's most typical line (the first sample: one voice,
    whatever the other samples turn out to be; propagation names the rest), "yes" takes
    the top suggestion, "no" separates the group from the suggested character's group,
    "ambient" marks the whole group ambient. ``same``: "yes" merges, "no" separates.
    ``who``: a name names the line, "ambient" marks it ambient. ``ambient``: "yes"/"ambient"
    marks it, "no" dismisses the question, any other reply is taken as the speaker's name.
    ``check``: "yes" names every line the suggested name; a mapping line id -> name gives
    those lines other names ("ambient" for crowds and songs; None: not sure, left out) and
    the rest the suggested name. "skip" dismisses any question."""
    from pipelines.stages.run import regroup

    if isinstance(reply, str):
        reply = reply.strip()
        if not reply:
            raise UsageError("an empty reply; answer 'yes', 'no', a name, 'ambient' or 'skip'")
        if reply.lower() == "skip":
            _dismiss(ws, question.id)
            return None
    elif question.kind != "check":
        raise UsageError(f"{question.id}: answer with a name, 'yes', 'no' or 'skip'")
    act = {"group": _answer_group, "same": _answer_same, "who": _answer_line,
           "ambient": _answer_line, "check": _answer_check}.get(question.kind)  # fmt: skip
    if act is None:
        raise UsageError(f"unknown question kind {question.kind!r}")
    if not act(ws, question, reply, {"who": who, "base_rev": base_rev}):
        _dismiss(ws, question.id)
        return None
    return regroup(ws)


def _answer_group(ws: Workspace, question: Question, reply: str, edit: dict) -> bool:
    """Apply a reply to a group question; False: nothing to change (dismiss it)."""
    if not question.lines:
        raise UsageError(f"{question.id}: the question names no lines")
    low = reply.lower()
    if low == "ambient":
        ws.mark_ambient(ws.group_lines(question.groups[0]), **edit)
    elif low == "no":
        if len(question.groups) < 2:
            return False
        ws.separate_groups(*question.groups[:2], **edit)
    elif low == "yes":
        if not question.suggestions or question.suggestions[0][1] < CONFIDENT_SUGGESTION:
            raise UsageError(f"{question.id}: nobody is suggested; answer with a name")
        ws.name_lines(list(question.lines[:1]), question.suggestions[0][0], **edit)
    else:
        ws.name_lines(list(question.lines[:1]), reply, **edit)
    return True


def _answer_check(
    ws: Workspace, question: Question, reply: str | Mapping[str, str | None], edit: dict
) -> bool:
    """A ``check`` question: the lines take the suggested name but where the reply says
    otherwise, in one action (one undo)."""
    name = question.suggestions[0][0]
    if isinstance(reply, str):
        if reply.lower() != "yes":
            raise UsageError(
                f"{question.id}: answer 'yes' (every line is {name}) or say which lines are "
                "someone else"
            )
        reply = {}
    unknown = sorted(set(reply) - set(question.lines))
    if unknown:
        raise UsageError(f"{question.id}: {', '.join(unknown)} not among the lines checked")
    names = {}
    for lid in question.lines:
        given = reply.get(lid, name)
        if given is None or not str(given).strip():
            continue  # not sure: left as it was
        given = str(given).strip()
        names[lid] = AMBIENT if given.lower() == "ambient" else given
    if not names:
        return False
    machine = {lid: _machine_says(ws.line(lid)) for lid in names}
    ws.check_lines(names, name, **edit)
    record_answers(ws, machine)
    return True


def _machine_says(line: Line) -> Answered:
    """What the machine said of a line before a person answers about it: its name and how sure
    (see ``pipelines.review.answers``)."""
    if line.label_source == LabelSource.HUMAN.value:
        return ("", None)
    return (line.speaker or "", line.score)


def _answer_same(ws: Workspace, question: Question, reply: str, edit: dict) -> bool:
    low = reply.lower()
    if low not in ("yes", "no"):
        raise UsageError(f"{question.id}: answer 'yes', 'no' or 'skip', not {reply!r}")
    a, b = question.groups
    if low == "yes":
        ws.merge_groups([a, b], **edit)
    else:
        ws.separate_groups(a, b, **edit)
    return True


def _answer_line(ws: Workspace, question: Question, reply: str, edit: dict) -> bool:
    """A ``who`` or ``ambient`` question about one line."""
    if question.line_id is None:
        raise UsageError(f"{question.id}: the question names no line")
    low = reply.lower()
    if low in ("ambient", "yes" if question.kind == "ambient" else "ambient"):
        ws.mark_ambient([question.line_id], **edit)
    elif question.kind == "ambient" and low == "no":
        return False
    elif low in ("yes", "no"):
        raise UsageError(f"{question.id}: answer with the speaker's name, not {reply!r}")
    else:
        machine = _machine_says(ws.line(question.line_id))
        ws.name_lines([question.line_id], reply, **edit)
        record_answers(ws, {question.line_id: machine})
    return True
