"""The record of answers about machine names, and the season's names calibrated on it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from grouping.name_calibration import NameCalibration
from pipelines.cli import main
from pipelines.records import AMBIENT, NAME_CALIBRATION, LabelSource
from pipelines.review.answers import (
    CHECKED,
    answered,
    likely_right,
    likely_right_note,
    record_answers,
    recorded,
)
from pipelines.review.queue import answer, questions
from pipelines.stages.run import regroup, status
from pipelines.store.workspace import Workspace
from tests.pipelines.conftest import first_check, weak_workspace


def _truth(ws: Workspace, speakers: list[int]) -> dict[str, str]:
    return {ln.id: f"s{s}" for ln, s in zip(ws.lines(), speakers, strict=True)}


def _machine_named(ws: Workspace) -> dict[str, tuple[str, float]]:
    df = ws.lines_frame(speech_only=True)
    df = df[df["source"] == LabelSource.PROPAGATED.value]
    return dict(zip(df["id"], zip(df["speaker"], df["score"], strict=True), strict=True))


def test_a_check_records_what_the_machine_said_of_each_line_and_how_sure(tmp_path):
    ws, speakers = weak_workspace(tmp_path)
    truth = _truth(ws, speakers)
    q = first_check(ws)
    said = _machine_named(ws)
    answer(ws, q, {lid: truth[lid] for lid in q.lines if truth[lid] != q.suggestions[0][0]})
    record = recorded(ws)
    for lid in q.lines:
        name, p = record[lid]
        assert name == said[lid][0] and p == pytest.approx(said[lid][1], abs=1e-4)


def test_answered_reads_each_record_against_the_hand_label_now(tmp_path):
    ws, _ = weak_workspace(tmp_path)
    a, b, c, d = (ln.id for ln in ws.lines()[10:14])
    record_answers(ws, {a: ("s0", 0.9), b: ("s1", 0.8), c: ("s2", 0.7), d: (None, 0.3)})
    ws.name_lines([a], "s0")
    ws.name_lines([b], "s3")
    ws.mark_ambient([c])
    p, right = answered(ws, ws.human_labels())
    # a confirmed, b corrected, c was no one (its name was wrong), d the machine never named
    assert sorted(zip(p.tolist(), right.tolist(), strict=True)) == [
        (0.7, False),
        (0.8, False),
        (0.9, True),
    ]
    ws.actions.undo()  # the ambient mark undone: c's answer no longer counts
    assert sorted(answered(ws, ws.human_labels())[0].tolist()) == [0.8, 0.9]
    assert AMBIENT not in {name for name, _ in recorded(ws).values()}


def test_records_written_before_the_probability_was_kept_still_count_per_name(tmp_path):
    ws, _ = weak_workspace(tmp_path)
    lid = ws.lines()[5].id
    ws.set_meta(CHECKED, json.dumps({lid: "s1"}))
    assert recorded(ws) == {lid: ("s1", None)}
    ws.name_lines([lid], "s1")
    p, right = answered(ws, ws.human_labels())
    assert p.size == 0  # no probability to calibrate with, but the name's record reads


def test_answers_set_how_sure_the_names_are_reported_and_change_nothing_else(tmp_path):
    """After enough answers, each machine name's reported confidence is its score through the
    map the answers fit; the names, their scores (which the queue reads) and the questions are
    what the same season without the record gives."""
    ws, speakers = weak_workspace(tmp_path)
    root, truth = ws.root, _truth(ws, speakers)
    for q in iter(lambda: next(iter(questions(ws, limit=1)), None), None):  # the queue first
        if q.kind == "check":
            name = q.suggestions[0][0]
            answer(ws, q, {lid: truth[lid] for lid in q.lines if truth[lid] != name} or "yes")
        else:
            answer(ws, q, truth[q.line_id] if q.kind == "who" else "skip")
    ws.close()
    for lid in sorted(_machine_named(Workspace.open(root)))[:12]:  # then lines named by hand
        assert main(["label", str(root), "--line", lid, "--name", truth[lid]]) == 0
    ws = Workspace.open(root)
    p, right = answered(ws, ws.human_labels())
    cal = NameCalibration().fit(p, right)
    assert len(p) >= 10 and not cal.identity_
    without = Workspace.open(shutil.copytree(root, tmp_path / "without"))
    without.set_meta(CHECKED, "{}")
    regroup(without)
    regroup(ws)
    assert without.name_calibration() is None and ws.name_calibration() is not None
    df, raw = ws.lines_frame(speech_only=True), without.lines_frame(speech_only=True)
    cols = ["id", "speaker", "source", "score", "group_id"]
    pd.testing.assert_frame_equal(df[cols], raw[cols])
    machine = (df["source"] == LabelSource.PROPAGATED.value).to_numpy()
    assert machine.sum() > 10
    expected = cal.transform(raw["confidence"].to_numpy(float)[machine])
    assert np.allclose(df["confidence"].to_numpy(float)[machine], expected, atol=1e-9)
    assert not np.allclose(expected, raw["confidence"].to_numpy(float)[machine])
    assert df.loc[~machine, "confidence"].equals(raw.loc[~machine, "confidence"])
    line = ws.line(df["id"][machine].iloc[0])
    assert (line.score, line.confidence) == pytest.approx(
        (raw["score"][machine].iloc[0], expected[0])
    )
    assert [q.id for q in questions(ws, limit=5)] == [q.id for q in questions(without, limit=5)]
    said = f"{float(cal.transform(np.array(0.9))):.0%}"
    assert f"name confidence: from {len(p)} answers about the machine's names" in status(ws)
    assert f"gives 90% is reported as {said})" in status(ws)
    assert "name confidence" not in status(without)
    assert f"likely right: about {likely_right(df):.0%} of {len(df)} speech lines" in status(ws)
    assert likely_right(df) != likely_right(raw)  # the estimate reads the calibrated confidence


def test_likely_right_counts_hand_names_as_right_machine_names_by_confidence_none_as_wrong():
    lines = pd.DataFrame(
        {
            "speaker": ["Ann", "Bob", None, AMBIENT, "Cy"],
            "source": ["human", "propagated", "cluster", "human", "propagated"],
            "confidence": [1.0, 0.6, 0.9, 1.0, None],
        }
    )
    assert likely_right(lines) == pytest.approx((1 + 0.6 + 0 + 1 + 0) / 5)
    assert likely_right_note(lines).startswith("likely right: about 52% of 5 speech lines")
    assert likely_right_note(lines[lines["source"] != "propagated"]) is None


def test_an_unreadable_calibration_reports_the_voice_model_s_probability(tmp_path, caplog):
    ws, _ = weak_workspace(tmp_path)
    before = ws.lines_frame()
    ws.set_meta(NAME_CALIBRATION, "{not json")
    after = ws.lines_frame()
    pd.testing.assert_frame_equal(before, after)
    assert "unreadable name calibration" in caplog.text
