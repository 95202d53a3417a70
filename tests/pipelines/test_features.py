"""``castlist features``: selection, prosody on known pitches, caching/resume, timbre
summaries and face flags, on a tiny real workspace (a wav episode added through ingest)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.cli import main
from pipelines.errors import UsageError, VectorsError, WorkspaceError
from pipelines.stages.features import (
    PROSODY,
    PROSODY_COLUMNS,
    PROSODY_MODEL,
    Selection,
    character_timbre,
    count_chars,
    count_morae,
    features_table,
    load_characters,
    load_prosody,
    nearest_centroid_accuracy,
    run_features,
    select_lines,
)
from pipelines.store.workspace import Workspace
from tests.pipelines.downstream_helpers import F0, MODEL, build_tiny_ws


@pytest.fixture
def ws(tmp_path: Path):
    ws = build_tiny_ws(tmp_path)
    yield ws
    ws.close()


def test_count_morae_and_chars():
    assert count_morae("こんにちは") == 5
    assert count_morae("ちょっと") == 3  # cho + small tsu + to
    assert count_morae("キャー") == 2  # kya + long vowel mark
    assert count_morae("Hello 世界") == 0
    assert count_chars("Hello, world!") == 10
    assert count_chars("待って。") == 3


def test_selection_parse_refuses_bad_options():
    assert Selection.parse(0.5, "human").sources == ("human",)
    with pytest.raises(UsageError):
        Selection.parse(1.5, None)
    with pytest.raises(UsageError):
        Selection.parse(0.0, "human,guess")


def test_selection_filters_source_confidence_and_ambient(ws: Workspace):
    default = select_lines(ws, Selection())
    assert set(default["speaker"]) == {"Aki", "Ben"}  # the ambient line never
    assert "cluster" not in set(default["source"])
    # by default a machine's name under 50% sure is no dataset material
    assert len(default) == 5 and (default["confidence"] >= 0.5).all()
    assert Selection.parse(None, None) == Selection()
    every_name = select_lines(ws, Selection(0.0, ("human", "propagated")))
    assert len(every_name) == 6
    human = select_lines(ws, Selection(0.0, ("human",)))
    assert set(human["source"]) == {"human"} and len(human) == 2
    everything = select_lines(ws, Selection(0.0, ("human", "propagated", "cluster")))
    assert len(everything) == 7


def test_prosody_finds_the_known_pitch_and_rates(ws: Workspace):
    run_features(ws)
    table = features_table(ws)
    for row in table.itertuples():
        assert row.f0_median_hz == pytest.approx(F0[row.speaker], rel=0.03)
        assert row.voiced_ratio > 0.8
        assert row.duration_s == pytest.approx(1.5, abs=0.01)
        assert row.f0_range_st < 1.0  # a steady tone
    first = table.iloc[0]  # こんにちは: 5 morae in 1.5 s
    assert first["morae_per_s"] == pytest.approx(5 / 1.5, rel=0.01)
    assert (table.loc[table["speaker"] == "Ben", "morae_per_s"] == 0).all()  # English text


def test_features_are_cached_per_episode_and_resume(ws: Workspace):
    first = run_features(ws, Selection(0.5, ("human", "propagated")))
    assert first.analysed_now == 5
    P = load_prosody(ws, "ep01")
    assert P.shape == (ws.line_count("ep01"), len(PROSODY_COLUMNS))
    assert ws.stage_done("ep01", PROSODY, PROSODY_MODEL)
    again = run_features(ws, Selection(0.5, ("human", "propagated")))
    assert again.analysed_now == 0
    assert first.unsure == 0 and "sure" not in str(first)
    assert first.left_out == 1 and "left out 1 line whose machine name" in str(first)
    wider = run_features(ws, Selection(0.0))  # one more line (confidence 0.3) is selected
    assert wider.analysed_now == 1 and wider.lines == 6
    assert wider.unsure == 1
    assert "1 of these lines carry a machine's name under 50% sure" in str(wider)
    # rows analysed before are kept as they were, not recomputed
    P2 = load_prosody(ws, "ep01")
    done_before = P[:, 0] == 1
    np.testing.assert_array_equal(P2[done_before], P[done_before])


def test_newly_named_line_needs_a_rerun_before_export(ws: Workspace):
    run_features(ws)
    cluster_line = select_lines(ws, Selection(0.0, ("cluster",)))["id"].iloc[0]
    ws.name_lines([cluster_line], "Aki")  # now human: selected, but not analysed yet
    with pytest.raises(WorkspaceError, match="castlist features"):
        features_table(ws)
    assert run_features(ws).analysed_now == 1
    assert cluster_line in set(features_table(ws)["id"])


def test_deleted_prosody_file_is_reported(ws: Workspace):
    run_features(ws)
    ws.vectors.path("ep01", PROSODY, PROSODY_MODEL).unlink()
    with pytest.raises(VectorsError):
        load_prosody(ws, "ep01")


def test_character_timbre_and_saved_summary(ws: Workspace):
    run_features(ws)
    records, C = load_characters(ws)
    assert [r["name"] for r in records] == ["Aki", "Ben"]
    assert C.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(C, axis=1), 1.0, rtol=1e-5)
    assert np.argmax(C[0]) == 0 and np.argmax(C[1]) == 1  # the planted directions
    table = select_lines(ws, Selection())
    assert set(records[0]["typical"]) <= set(table.loc[table["speaker"] == "Aki", "id"])


def test_character_timbre_orders_typical_lines_and_spread():
    X = np.array([[1, 0], [0.9, 0.1], [0.5, 0.5], [0, 1]], dtype=np.float32)
    chars = character_timbre(["a", "a", "a", "b"], ["l0", "l1", "l2", "l3"], X, k=2)
    a = chars[0]
    assert a.n_lines == 3 and a.typical[-1] != "l2" and len(a.typical) == 2
    assert a.spread > 0 and chars[1].spread == pytest.approx(0.0, abs=1e-6)


def test_nearest_centroid_accuracy_separates_planted_voices():
    rng = np.random.default_rng(0)
    names = np.repeat(["a", "b", "c"], 20)
    X = np.eye(8)[np.repeat([0, 1, 2], 20)] + 0.2 * rng.normal(size=(60, 8))
    acc, n = nearest_centroid_accuracy(names, X)
    assert n == 18 and acc == 1.0
    noise = rng.normal(size=(60, 8))
    acc_noise, _ = nearest_centroid_accuracy(names, noise)
    assert acc_noise < 0.8


def test_face_flag_and_crop_from_the_faces_stage(ws: Workspace):
    from pipelines.stages.faces import FACEMETA, FACEMETA_COLUMNS, MODEL_META, thumb_path

    n = ws.line_count("ep01")
    meta = np.zeros((n, len(FACEMETA_COLUMNS)), dtype=np.float32)
    meta[0, FACEMETA_COLUMNS.index("on_screen")] = 1.0
    ws.vectors.save("ep01", FACEMETA, "testface", meta)
    ws.set_meta(MODEL_META, "testface")
    thumb = thumb_path(ws, "ep01-0000")
    thumb.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(thumb)
    run_features(ws)
    table = features_table(ws).set_index("id")
    assert bool(table.loc["ep01-0000", "if_face"]) is True
    assert table.loc["ep01-0000", "face_crop"] == str(thumb)
    assert not table.drop(index="ep01-0000")["if_face"].any()


def test_cli_features_runs_and_refuses_bad_sources(ws: Workspace, capsys):
    root = str(ws.root)
    ws.close()
    assert main(["features", root, "--sources", "nobody"]) == 2
    assert "--sources" in capsys.readouterr().err
    assert main(["features", root, "--min-confidence", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "5 lines of 2 characters" in out
    with Workspace.open(root) as again:
        assert json.loads(again.get_meta("features_selection"))["min_confidence"] == 0.5


def test_no_voice_vectors_is_a_clear_error(tmp_path: Path):
    ws = build_tiny_ws(tmp_path)
    ws.set_meta("voice_model", "")
    with pytest.raises(WorkspaceError, match="castlist run"):
        run_features(ws)
    ws.set_meta("voice_model", MODEL)
    ws.close()


@pytest.mark.slow  # imports transformers (~5 s)
def test_optional_emotion_models_are_cached_and_exported(ws: Workspace, tmp_path: Path):
    pytest.importorskip("transformers")
    from embeddings.emotion import load_emotion
    from pipelines.export.tables import export
    from pipelines.stages.features import emotion_rows
    from tests.embeddings.test_emotion import tiny_speech_model, tiny_text_model

    speech = load_emotion("speech", tiny_speech_model(tmp_path / "ser"))
    text = load_emotion("text", tiny_text_model(tmp_path / "ter"))
    run_features(ws, emotion={"speech": speech, "text": text})
    table = select_lines(ws, Selection())
    E = emotion_rows(ws, table, "speech")
    assert E.shape == (len(table), 4)
    np.testing.assert_allclose(E.sum(axis=1), 1.0, rtol=1e-5)
    stored = ws.vectors.load("ep01", "emotion_text", text.name)
    assert stored[:, 0].sum() == len(table)  # done flags of exactly the selected lines
    (path,) = export(ws, "dataset", tmp_path / "ds")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["emotion_models"]["emotion"]["labels"] == list(speech.labels)
    for r in doc["lines"]:
        e = np.load(tmp_path / "ds" / r["features"]["emotion"])
        t = np.load(tmp_path / "ds" / r["features"]["text"])
        assert e.shape == (4,) and t.shape == (3,)
    with pytest.raises(UsageError):
        run_features(ws, emotion={"vision": speech})


def test_prosody_of_an_episode_whose_lines_changed_is_recomputed(ws: Workspace):
    """Re-added subtitles clear the episode's stage marks: old rows (of other lines) are
    ignored, not read as this episode's prosody."""
    run_features(ws)
    path = ws.vectors.path("ep01", PROSODY, PROSODY_MODEL)
    np.save(path, np.ones((3, len(PROSODY_COLUMNS)), dtype=np.float32))  # stale: 3 old lines
    ws.unmark_stage("ep01", PROSODY, PROSODY_MODEL)
    assert load_prosody(ws, "ep01") is None
    assert run_features(ws).analysed_now == 5  # the selected lines, all recomputed
    assert load_prosody(ws, "ep01").shape[0] == ws.line_count("ep01")


def test_missing_pitch_tracker_names_the_extra(ws: Workspace, monkeypatch):
    import sys

    from pipelines.errors import ModelError

    monkeypatch.setitem(sys.modules, "librosa", None)  # import librosa raises ImportError
    with pytest.raises(ModelError, match=r"castlist\[features\]"):
        run_features(ws)


@pytest.mark.slow  # imports transformers (~5 s)
def test_cli_emotion_model_that_does_not_load(ws: Workspace, tmp_path: Path, capsys):
    pytest.importorskip("transformers")
    root = str(ws.root)
    ws.close()
    (tmp_path / "empty").mkdir()
    assert main(["features", root, "--speech-emotion", str(tmp_path / "empty")]) == 2
    assert "save_pretrained" in capsys.readouterr().err


def test_a_selection_that_leaves_every_name_out_says_how_to_take_them(ws: Workspace):
    with pytest.raises(WorkspaceError, match="left out.*--min-confidence 0"):
        run_features(ws, Selection(0.99, ("propagated",)))
