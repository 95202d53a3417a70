"""Dataset exports read back: seed 000's layout, Speaker-Grouping's tables (and their
re-import), lhotse manifests loaded with lhotse; deterministic, inside -o only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipelines.cli import main
from pipelines.errors import WorkspaceError
from pipelines.export.datasets import parse_sg_time, sg_time
from pipelines.export.tables import export
from pipelines.io.paths import OutputError
from pipelines.stages.features import PROSODY_COLUMNS, Selection, run_features, select_lines
from pipelines.stages.importer import import_lines
from pipelines.store.workspace import Workspace
from tests.pipelines.downstream_helpers import F0, MODEL, build_tiny_ws


@pytest.fixture
def ws(tmp_path: Path):
    ws = build_tiny_ws(tmp_path)
    yield ws
    ws.close()


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_sg_time_round_trips():
    assert sg_time(89.46) == "00:01:29.460"
    assert sg_time(3723.0049) == "01:02:03.005"
    assert parse_sg_time("00:01:29.460") == pytest.approx(89.46)
    assert parse_sg_time("00:01:29,460") == pytest.approx(89.46)
    assert parse_sg_time("01:30") == 90.0
    with pytest.raises(ValueError):
        parse_sg_time("soon")


def test_dataset_needs_features_first(ws: Workspace, tmp_path: Path):
    with pytest.raises(WorkspaceError, match="castlist features"):
        export(ws, "dataset", tmp_path / "out")


def test_dataset_layout_reads_back(ws: Workspace, tmp_path: Path):
    run_features(ws)
    out = tmp_path / "out"
    (path,) = export(ws, "dataset", out)
    assert path == out / "tinyseason_dataset.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    lines = doc["lines"]
    expected = select_lines(ws, Selection())
    assert [r["line_id"] for r in lines] == expected["id"].tolist()
    assert {c["char_id"] for c in doc["characters"]} == {"Aki", "Ben"}
    V = ws.vectors.load("ep01", "voice", MODEL)
    for r in lines:
        assert r["char_id"] in F0 and r["if_face"] is False
        audio, sr = sf.read(out / r["wav"])
        assert sr == 16000 and audio.ndim == 1
        assert len(audio) / sr == pytest.approx(r["end"] - r["start"], abs=0.01)
        timbre = np.load(out / r["features"]["timbre"])
        np.testing.assert_array_equal(timbre, V[ws.line(r["line_id"]).idx])
        prosody = np.load(out / r["features"]["prosody"])
        assert prosody.shape == (len(PROSODY_COLUMNS) - 1,)
        f0 = prosody[list(PROSODY_COLUMNS[1:]).index("f0_median_hz")]
        assert f0 == pytest.approx(F0[r["char_id"]], rel=0.03)
        assert r["prosody"]["f0_median_hz"] == pytest.approx(float(f0), rel=1e-3)
    for c in doc["characters"]:
        centroid = np.load(out / c["timbre_centroid"])
        assert centroid.shape == (16,) and c["typical_lines"][0] in {r["line_id"] for r in lines}
    assert not (out / "video").exists()  # only with --video


def test_dataset_is_deterministic_and_refuses_non_empty_output(ws: Workspace, tmp_path: Path):
    run_features(ws)
    out = tmp_path / "out"
    export(ws, "dataset", out)
    first = _digest(out)
    with pytest.raises(OutputError, match="--force"):
        export(ws, "dataset", out)
    export(ws, "dataset", out, force=True)
    assert _digest(out) == first
    other = tmp_path / "other"
    export(ws, "dataset", other)
    assert _digest(other) == first  # nothing in the files depends on where they went


def test_hostile_character_name_stays_inside_the_output(ws: Workspace, tmp_path: Path):
    line = select_lines(ws, Selection())["id"].iloc[0]
    ws.name_lines([line], "../../escape/Aki")
    run_features(ws)
    out = tmp_path / "nested" / "out"
    export(ws, "dataset", out)
    export(ws, "lhotse", tmp_path / "nested" / "lh")
    inside = {p.resolve() for p in (tmp_path / "nested").rglob("*")}
    everything = {p.resolve() for p in tmp_path.rglob("*")} - inside
    assert not any("escape" in str(p) for p in everything)
    doc = json.loads((out / "tinyseason_dataset.json").read_text(encoding="utf-8"))
    names = {c["char_id"]: c["timbre_centroid"] for c in doc["characters"]}
    assert names["../../escape/Aki"].startswith("features/timbre_centroid/")
    assert (out / names["../../escape/Aki"]).is_file()


def test_speaker_grouping_tables_and_round_trip(ws: Workspace, tmp_path: Path):
    out = tmp_path / "sg"
    paths = export(ws, "speaker-grouping", out)
    assert {p.name for p in paths} == {"meta.jsonl", "ep01.parquet"}
    meta = pd.read_json(out / "ep01" / "meta.jsonl", lines=True, dtype=False)
    assert list(meta.columns[:6]) == [
        "人物",
        "人物台词",
        "开始时间",
        "结束时间",
        "audio_file",
        "screenshot_file",
    ]
    lines = ws.lines("ep01", speech_only=True)
    assert len(meta) == len(lines)
    assert meta["开始时间"].iloc[1] == "00:00:02.250"
    assert meta["audio_file"].tolist() == [f"audios/{i}.wav" for i in range(len(lines))]
    assert (meta["screenshot_file"] == "").all()  # an audio-only episode has no frames
    for i, ln in enumerate(lines):
        audio, sr = sf.read(out / "ep01" / meta["audio_file"].iloc[i])
        assert len(audio) / sr == pytest.approx(ln.end - ln.start, abs=0.01)
    named = dict(zip(meta["line_id"], meta["人物"], strict=True))
    assert named["ep01-0006"] == ""  # ambient: no character for their tools
    assert named["ep01-0000"] == "Aki"
    table = pd.read_parquet(out / "ep01.parquet")
    X = np.stack(table["audio_feature"].to_numpy())
    np.testing.assert_allclose(X, ws.vectors.load("ep01", "voice", MODEL)[[ln.idx for ln in lines]])

    # their tables come back into castlist unchanged: same lines, names as hints, same vectors
    back = Workspace.init(tmp_path / "back")
    import_lines(back, out, {})
    again = back.lines_frame(speech_only=True)
    orig = ws.lines_frame(speech_only=True)
    assert again["episode_id"].tolist() == orig["episode_id"].tolist()
    np.testing.assert_allclose(again["start"], orig["start"], atol=5e-4)
    np.testing.assert_allclose(again["end"], orig["end"], atol=5e-4)
    assert again["text"].tolist() == orig["text"].tolist()
    hints = [h or "" for h in again["name_hint"]]
    assert hints == [s if s != "<ambient>" else "" for s in orig["speaker"]]
    model = back.get_meta("voice_model")
    np.testing.assert_allclose(back.vectors.load("ep01", "voice", model), X, rtol=1e-6)
    back.close()


def test_speaker_grouping_meta_jsonl_imports_with_vectors(ws: Workspace, tmp_path: Path):
    out = tmp_path / "sg"
    export(ws, "speaker-grouping", out)
    np.save(tmp_path / "v.npy", np.stack(pd.read_parquet(out / "ep01.parquet")["audio_feature"]))
    back = Workspace.init(tmp_path / "back")
    summary = import_lines(back, out / "ep01" / "meta.jsonl", {"voice": tmp_path / "v.npy"})
    assert "imported 8 lines in 1 episodes" in summary  # every speech line
    assert back.episodes()[0].id == "ep01"  # from the episode column
    back.close()


def test_lhotse_manifests_load_with_lhotse(ws: Workspace, tmp_path: Path):
    lhotse = pytest.importorskip("lhotse")
    run_features(ws)
    out = tmp_path / "lh"
    export(ws, "lhotse", out)
    recordings = lhotse.load_manifest(out / "recordings.jsonl")
    supervisions = lhotse.load_manifest(out / "supervisions.jsonl")
    cuts = lhotse.load_manifest(out / "cuts.jsonl")
    assert isinstance(cuts, lhotse.CutSet)
    expected = select_lines(ws, Selection())
    assert sorted(s.id for s in supervisions) == sorted(expected["id"])
    by_id = expected.set_index("id")
    for sup in supervisions:
        assert sup.speaker == by_id.loc[sup.id, "speaker"]
        assert sup.text == by_id.loc[sup.id, "text"]
        assert sup.custom["label_source"] == by_id.loc[sup.id, "source"]
        assert sup.custom["f0_median_hz"] == pytest.approx(F0[sup.speaker], rel=0.03)
    rec = recordings[expected["id"].iloc[0]]
    assert rec.sampling_rate == 16000
    cut = next(iter(cuts))
    samples = cut.load_audio()
    assert samples.shape[-1] == pytest.approx(cut.duration * 16000, abs=2)
    assert cut.supervisions[0].speaker in F0


def test_cli_export_formats_and_video_flag(ws: Workspace, tmp_path: Path, capsys):
    root = str(ws.root)
    ws.close()
    assert main(["features", root]) == 0
    assert main(["export", root, "-f", "dataset", "-o", "-"]) == 2
    assert main(["export", root, "-f", "csv", "-o", str(tmp_path / "x.csv"), "--video"]) == 2
    capsys.readouterr()
    assert main(["export", root, "-f", "dataset", "-o", str(tmp_path / "ds"), "--video"]) == 0
    doc = json.loads((tmp_path / "ds" / "tinyseason_dataset.json").read_text(encoding="utf-8"))
    assert all(r["video"] == "" for r in doc["lines"])  # audio-only episode: no video clips


@pytest.mark.slow
def test_dataset_video_clips_are_25_fps(tmp_path: Path):
    """A real video episode (the demo's .mkv): --video writes 25 fps mp4 clips per line."""
    from pipelines.demo.episodes import build_demo
    from pipelines.io.media import probe
    from pipelines.stages.ingest import add_episode

    episode = build_demo(tmp_path / "media")
    ws = Workspace.init(tmp_path / "vs")
    add_episode(ws, episode.media, episode.srt)
    lines = ws.lines()[:3]
    ws.vectors.save(
        lines[0].episode_id, "voice", MODEL, np.eye(ws.line_count(lines[0].episode_id), 8)
    )
    ws.set_meta("voice_model", MODEL)
    for ln in lines:
        ws.name_lines([ln.id], "Aki")
    run_features(ws, Selection(0.0, ("human",)))
    export(ws, "dataset", tmp_path / "ds", video=True)
    doc = json.loads((tmp_path / "ds" / "vs_dataset.json").read_text(encoding="utf-8"))
    for r in doc["lines"]:
        info = probe(tmp_path / "ds" / r["video"])
        assert info.has_video and info.fps == pytest.approx(25.0)
        assert info.duration == pytest.approx(r["end"] - r["start"], abs=0.1)
    ws.close()


def test_imported_season_exports_timbre_without_audio(ws: Workspace, tmp_path: Path):
    """An imported season has no media: features keep the timbre and skip prosody; the
    dataset says so (no wav, no prosody file) instead of failing."""
    export(ws, "speaker-grouping", tmp_path / "sg")
    back = Workspace.init(tmp_path / "imported")
    import_lines(back, tmp_path / "sg", {})
    first = back.lines("ep01")[0].id
    back.name_lines([first], "Aki")
    result = run_features(back, Selection(0.0, ("human",)))
    assert result.skipped_episodes == ("ep01",) and result.analysed_now == 0
    (path,) = export(back, "dataset", tmp_path / "ds")
    (line,) = json.loads(path.read_text(encoding="utf-8"))["lines"]
    assert line["wav"] == "" and set(line["features"]) == {"timbre"}
    assert line["prosody"]["f0_median_hz"] is None
    assert np.load(tmp_path / "ds" / line["features"]["timbre"]).shape == (16,)
    back.close()


def test_lhotse_missing_names_the_extra(ws: Workspace, tmp_path: Path, monkeypatch):
    import sys

    from pipelines.errors import ModelError

    monkeypatch.setitem(sys.modules, "lhotse", None)
    with pytest.raises(ModelError, match=r"castlist\[lhotse\]"):
        export(ws, "lhotse", tmp_path / "lh")


def test_clips_hold_the_dataset_floor_and_say_what_they_left_out(ws: Workspace, tmp_path, caplog):
    """``-f clips`` feeds the downstream pipeline as ``-f dataset`` does: a machine's name
    under 50% sure (Ben's "Good night", 0.3) is left out unless asked for, and it says so."""
    export(ws, "clips", tmp_path / "sure")
    sure = [json.loads(x) for x in (tmp_path / "sure" / "manifest.jsonl").read_text().splitlines()]
    assert "Good night" not in {m["text"] for m in sure} and len(sure) == 6
    assert "left out 1 line whose machine name is under --min-confidence" in caplog.text
    root = str(ws.root)
    ws.close()
    assert (
        main(["export", root, "-f", "clips", "-o", str(tmp_path / "all"), "--min-confidence", "0"])
        == 0
    )
    every = [json.loads(x) for x in (tmp_path / "all" / "manifest.jsonl").read_text().splitlines()]
    assert {m["text"] for m in every} - {m["text"] for m in sure} == {"Good night"}
    assert (
        main(["export", root, "-f", "clips", "-o", str(tmp_path / "x"), "--min-confidence", "2"])
        == 2
    )
