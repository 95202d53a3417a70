"""The record of what the machine had said about each line a person then named, and what
the confidence it calibrates lets castlist say about the season.

Every answer about a machine-named line is a free, held-out test of the machine: it named the
line X with probability p, and the person said Y. The review queue reads the record per name
(a name confirmed line after line stops being asked about); the season reads it to calibrate
how sure its names say they are (``grouping.name_calibration``). The record keeps the machine's
side only; the person's side is the line's hand label now, so an undone answer no longer counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipelines.records import AMBIENT, LabelSource
from pipelines.wording import count

__all__ = [
    "CHECKED",
    "Answered",
    "answered",
    "answers_about_names",
    "calibration_note",
    "likely_right",
    "likely_right_note",
    "record_answers",
    "recorded",
]

CHECKED = "review_checked"
"""Workspace meta: line id -> [the machine's name for the line when a person answered a question
about it ("" when unnamed), that name's probability then as the voice model gave it (its
``score``; null: not known)]. Records written before the probability was kept hold the name
alone."""

Answered = tuple[str, float | None]


def recorded(ws) -> dict[str, Answered]:
    """Line id -> (the machine's name then, "" when none; its probability then, or None)."""
    raw = json.loads(ws.get_meta(CHECKED) or "{}")
    out: dict[str, Answered] = {}
    for lid, value in raw.items():
        name, p = (value, None) if isinstance(value, str) else (value[0], value[1])
        out[lid] = (name or "", None if p is None else float(p))
    return out


def record_answers(ws, machine: Mapping[str, Answered]) -> None:
    """Remember, for each line a person just named, the machine's name and its probability
    before the answer (lines the machine had not named: ``(None, ...)`` or ``("", ...)``)."""
    raw = json.loads(ws.get_meta(CHECKED) or "{}")
    for lid, (name, p) in machine.items():
        named = isinstance(name, str) and bool(name) and name != AMBIENT
        raw[lid] = [name if named else "", round(float(p), 4) if named and p is not None else None]
    ws.set_meta(CHECKED, json.dumps(raw, sort_keys=True))


def answers_about_names(ws, human: Mapping[str, str]) -> list[tuple[str, float | None, bool]]:
    """Per recorded line the machine had named and a person has named since: (the machine's
    name, its probability then or None, whether the line's hand label in ``human`` is that
    name; an ambient mark: it was not)."""
    out = []
    for lid, (name, prob) in recorded(ws).items():
        given = human.get(lid)
        if name and isinstance(given, str):
            out.append((name, prob, given == name))
    return out


def answered(ws, human: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The machine names people have since answered about whose probability was recorded, as
    (probability, right) arrays (see :func:`answers_about_names`)."""
    seen = [(p, right) for _, p, right in answers_about_names(ws, human) if p is not None]
    p, right = zip(*seen, strict=True) if seen else ((), ())
    return np.asarray(p, dtype=np.float64), np.asarray(right, dtype=bool)


def calibration_note(ws) -> str | None:
    """How far the answers so far have moved the machine's names' confidence (None: not yet),
    so that a confidence read in ``status``, the browser or an export is not taken for the
    voice model's own."""
    names = ws.name_calibration()
    if names is None:
        return None
    said = float(names.transform(np.array(0.9)))
    return (
        f"name confidence: from {count(names.n_answers_, 'answer')} about the machine's names "
        f"(a name the voice model gives 90% is reported as {said:.0%})"
    )


def likely_right(lines: pd.DataFrame) -> float:
    """The share of ``lines`` (a ``lines_frame``) expected to carry their right name: a hand
    name (or ambient mark) counts as right, a machine name as sure as its confidence, a line
    with no name as wrong. Honest only as far as the confidence is: simulated review, every 10
    operations, mean gap to the true share (``bench_review.py --calibration``): acted 0.104 by
    the voice model's score, 0.063 by the confidence (12 more episodes 0.084 / 0.049), with a
    stronger voice model (``--speaker-signal 0.7``) 0.071 / 0.071, read speech 0.062 / 0.068;
    always low on average (by 2-7 points: names are surer than the answers about doubtful lines
    say)."""
    if lines.empty:
        return 0.0
    human, machine = (_named_by(lines, s) for s in (LabelSource.HUMAN, LabelSource.PROPAGATED))
    conf = pd.to_numeric(lines["confidence"], errors="coerce").fillna(0.0)
    return float(np.where(human, 1.0, np.where(machine, conf, 0.0)).mean())


def _named_by(lines: pd.DataFrame, source: LabelSource) -> pd.Series:
    return (lines["source"] == source.value) & lines["speaker"].notna()


def likely_right_note(lines: pd.DataFrame) -> str | None:
    """``status``'s and the overview's words for :func:`likely_right` (None: no machine names,
    where the counts say it all)."""
    if not _named_by(lines, LabelSource.PROPAGATED).any():
        return None
    return (
        f"likely right: about {likely_right(lines):.0%} of {count(len(lines), 'speech line')} "
        "(hand names, and each machine name as sure as its confidence; the estimate tends to "
        "read low)"
    )
