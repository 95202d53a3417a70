"""The record of what the machine had said about each line a person then named.

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

from pipelines.records import AMBIENT
from pipelines.wording import count

__all__ = ["CHECKED", "Answered", "answered", "calibration_note", "record_answers", "recorded"]

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


def answered(ws, human: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The machine names people have since answered about, as (probability, right) arrays:
    right where the line's hand label (``human``) is the name the machine gave it."""
    p, right = [], []
    for lid, (name, prob) in recorded(ws).items():
        given = human.get(lid)
        if name and prob is not None and isinstance(given, str):  # ambient: the name was wrong
            p.append(prob)
            right.append(given == name)
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
