"""Issue 8 item 6: a missing or broken vectors file is a clear error naming the file and the
fix, or is repaired by ``run``; never "0 speech lines in 0 groups", never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.errors import VectorsError
from pipelines.stages import run as run_module
from pipelines.stages.run import run, status
from pipelines.store import doctor
from pipelines.store.workspace import Workspace
from tests.reliability.store_fixtures import MODEL, N_LINES, first_group, make_workspace, voice_file


class FakeEmbedder:
    """Stands in for CAM++: the same vector per line index, so reruns are comparable."""

    name = MODEL
    dim = 16

    def __call__(self, segments, progress=None):
        rng = np.random.default_rng(7)
        return rng.normal(size=(len(segments), self.dim)).astype(np.float32)


def _break(path: Path, how: str) -> None:
    if how == "deleted":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(b"this is not a numpy file at all" * 10)
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif how == "wrong-shape":
        np.save(path, np.zeros((N_LINES - 3, 16), np.float32))
    elif how == "one-d":
        np.save(path, np.zeros(N_LINES, np.float32))
    elif how == "nan":
        X = np.load(path)
        X[4, 2] = np.nan
        np.save(path, X)
    elif how == "pickled":
        np.save(path, np.array([{"a": 1}] * N_LINES, dtype=object), allow_pickle=True)
    else:
        raise AssertionError(how)


HOW = ["deleted", "garbage", "truncated", "wrong-shape", "one-d", "nan", "pickled"]


@pytest.mark.parametrize("how", HOW)
def test_label_on_broken_vectors_names_the_file_and_the_fix(tmp_path, capsys, how) -> None:
    root = make_workspace(tmp_path / "ws")
    group = first_group(root)
    path = voice_file(root)
    _break(path, how)
    code = main(["label", str(root), "--group", group, "--name", "Mio"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1
    assert str(path) in err
    assert f"castlist run {root}" in err and f"castlist doctor {root} --repair" in err
    with Workspace.open(root) as ws:  # the hand label itself was stored before the regroup
        assert set(ws.human_labels().values()) == {"Mio"}


@pytest.mark.parametrize("how", HOW)
def test_load_vectors_validates(tmp_path, how) -> None:
    root = make_workspace(tmp_path / "ws")
    _break(voice_file(root), how)
    with Workspace.open(root) as ws, pytest.raises(VectorsError, match="ep01"):
        ws.vectors.load("ep01", "voice", MODEL)
    with Workspace.open(root) as ws:  # the other episode is untouched
        assert ws.vectors.load("ep02", "voice", MODEL).shape == (N_LINES, 16)


def test_vectors_not_computed_yet_are_none_not_an_error(tmp_path) -> None:
    root = make_workspace(tmp_path / "ws")
    with Workspace.open(root) as ws:
        assert ws.vectors.load("ep01", "voice", "another-model") is None
        assert ws.vectors.load("ep01", "face", "yunet") is None


@pytest.mark.parametrize("how", ["deleted", "garbage", "nan", "wrong-shape"])
def test_run_recomputes_a_stage_whose_file_is_bad(tmp_path, monkeypatch, how) -> None:
    root = make_workspace(tmp_path / "ws")
    # a minute of silence instead of the fixture's placeholder media
    silence = np.zeros(16000 * 60, np.float32)
    monkeypatch.setattr(run_module, "episode_audio", lambda ws, ep: silence)
    path = voice_file(root)
    _break(path, how)
    with Workspace.open(root) as ws:
        summary = run(ws, embedder=FakeEmbedder())
        assert "recomputed missing or invalid vectors: ep01 voice" in summary
        assert ws.stage_done("ep01", "voice", MODEL)
        X = ws.vectors.load("ep01", "voice", MODEL)
        assert X.shape == (N_LINES, 16) and np.isfinite(X).all()
        assert "48 speech lines" in summary  # both episodes grouped again, nothing lost
        assert "regrouped the whole season (vectors were recomputed: ep01 voice" in status(ws)
        assert doctor.bad_stages(ws) == []


def test_run_forgets_a_bad_file_of_a_model_it_does_not_use(tmp_path, monkeypatch) -> None:
    """A workspace that once ran another --voice keeps that model's stage marks; a missing
    file there is not recomputed, so run must not say it was, nor regroup the season for it."""
    root = make_workspace(tmp_path / "ws")
    monkeypatch.setattr(
        run_module, "episode_audio", lambda ws, ep: np.zeros(16000 * 60, np.float32)
    )
    with Workspace.open(root) as ws:
        ws.mark_stage("ep01", "voice", "an-earlier-model")  # its file was never there
        summary = run(ws, embedder=FakeEmbedder())
        assert "recomputed" not in summary
        assert "vectors of a model this run does not use: ep01 voice (an-earlier-model)" in summary
        assert not ws.stage_done("ep01", "voice", "an-earlier-model")
        assert "vectors were recomputed" not in status(ws)
        assert doctor.bad_stages(ws) == []


def test_doctor_repair_clears_the_stage_and_reports(tmp_path, capsys) -> None:
    root = make_workspace(tmp_path / "ws")
    _break(voice_file(root, "ep02"), "nan")
    assert main(["doctor", str(root)]) == 1
    out = capsys.readouterr().out
    assert "ep02 voice" in out and "NaN" in out and "--repair" in out
    assert main(["doctor", str(root), "--repair"]) == 0
    out = capsys.readouterr().out
    assert "cleared ep02 voice" in out and f"castlist run {root}" in out
    with Workspace.open(root) as ws:
        assert not ws.stage_done("ep02", "voice", MODEL)
        assert ws.stage_done("ep01", "voice", MODEL)
        assert ws.vectors.load("ep02", "voice", MODEL) is None  # not computed yet, again


def test_a_failed_vectors_write_leaves_no_temporary_file(tmp_path, monkeypatch) -> None:
    import errno
    import os

    root = make_workspace(tmp_path / "ws")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", full)
    from pipelines.errors import DiskFullError

    with Workspace.open(root) as ws, pytest.raises(DiskFullError, match="disk full"):
        ws.vectors.save("ep01", "voice", MODEL, np.zeros((N_LINES, 16)))
    leftovers = [p.name for p in (root / "vectors" / "ep01").iterdir()]
    assert not [n for n in leftovers if "tmp" in n]
