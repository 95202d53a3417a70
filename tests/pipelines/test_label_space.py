"""The grouping stage in the label-learned voice space: it turns on only with repeated hand
labels, and a machine never moves a hand label whatever the space."""

from __future__ import annotations

import numpy as np

from pipelines.stages.label_space import label_projection
from pipelines.stages.run import regroup

from .conftest import MODEL

SPEAKERS = [0, 1, 2, 0, 1, 2, 0, 1, 0, 2, 1, 0, 3, 0, 1, 2, 0, 1, 2, 0] * 2


def _first_lines(ws, per_speaker: int) -> dict[str, int]:
    """line id -> speaker of the first ``per_speaker`` lines of every speaker 0..2."""
    picked: dict[str, int] = {}
    count = dict.fromkeys((0, 1, 2), 0)
    for ln, s in zip(ws.lines(), SPEAKERS, strict=False):
        if s in count and count[s] < per_speaker:
            picked[ln.id] = s
            count[s] += 1
    return picked


def test_one_label_per_speaker_leaves_the_space_alone(make_ws):
    ws = make_ws([SPEAKERS])
    for lid, s in _first_lines(ws, 1).items():
        ws.name_lines([lid], f"char{s}")
    project = label_projection(ws, MODEL, ws.human_labels())
    X = np.random.default_rng(0).normal(size=(5, 32)).astype(np.float32)
    assert project(X) is X


def test_repeated_labels_change_the_space_and_never_move_a_hand_label(make_ws, monkeypatch):
    import pipelines.stages.season

    monkeypatch.setattr(pipelines.stages.season, "LEARNED_SPACE", True)  # off by default
    ws = make_ws([SPEAKERS])
    labels = _first_lines(ws, 4)
    # one deliberately "wrong" hand label: a person's word stands over any voice evidence
    odd = next(lid for lid, s in labels.items() if s == 2)
    for lid, s in labels.items():
        ws.name_lines([lid], "char1" if lid == odd else f"char{s}")
    human = ws.human_labels()
    X = ws.vectors.load(ws.episodes()[0].id, "voice", MODEL)
    assert not np.allclose(label_projection(ws, MODEL, human)(X), X)
    for _ in range(2):
        regroup(ws)
        assert ws.human_labels() == human
        by_id = {ln.id: ln for ln in ws.lines()}
        for lid, name in human.items():
            assert by_id[lid].speaker == name and by_id[lid].label_source == "human"
    for ln, s in zip(ws.lines(), SPEAKERS, strict=False):
        if s == 0:  # a speaker nobody contradicted is still named throughout
            assert ln.speaker == "char0", (ln.id, ln.speaker)
