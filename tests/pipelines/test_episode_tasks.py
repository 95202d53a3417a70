"""What a Ray task runs, run here without Ray: one episode's stages against an EpisodeView.

The task must write exactly what the in-process stages write, never touch the database (the
driver is its only writer), and hand back the stage marks for the driver to record."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from pipelines.errors import VectorsError, WorkspaceError
from pipelines.stages.distributed import episode_job, pending, record
from pipelines.stages.episode_task import EpisodeView, StageSpec, run_episode
from pipelines.stages.run import DEFAULT_VOICE, embed_episode, voice_embedder
from pipelines.store.workspace import Workspace
from tests.pipelines.season_helpers import copy_workspace, season_workspace

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> Path:
    return season_workspace(
        tmp_path_factory.mktemp("season"), n_episodes=1, n_lines=16, duration_s=40
    )


@pytest.fixture(scope="module")
def embedder():
    return voice_embedder(DEFAULT_VOICE, None)


def _db_bytes(ws_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in ws_dir.glob("castlist.db*")}


def test_task_writes_what_the_stage_writes_and_leaves_the_db_to_the_driver(
    season, embedder, tmp_path
):
    here = copy_workspace(season, tmp_path / "here")
    there = copy_workspace(season, tmp_path / "there")
    with Workspace.open(here) as ws:
        episode = ws.episodes()[0]
        expected = embed_episode(ws, episode.id, embedder)
    with Workspace.open(there) as ws:
        job = episode_job(ws, ws.episodes()[0])
        spec = StageSpec(DEFAULT_VOICE, None, device="cpu")
        assert pending(ws, job.episode, spec, embedder.name, None)
    before = _db_bytes(there)
    result = run_episode(job, spec)
    assert _db_bytes(there) == before  # the worker never wrote the database
    assert result.marks == [("voice", embedder.name)]
    assert result.device == "cpu" and result.seconds["voice"] > 0
    with Workspace.open(there) as ws:
        assert not ws.stage_done(job.episode.id, "voice", embedder.name)
        record(ws, result)  # the driver's write
        assert ws.stage_done(job.episode.id, "voice", embedder.name)
        np.testing.assert_allclose(
            ws.vectors.load(job.episode.id, "voice", embedder.name), expected, atol=1e-6
        )
        assert ws.vectors.load(job.episode.id, "linefeat", "v1") is not None
        assert not pending(ws, job.episode, spec, embedder.name, None)


def test_a_finished_episode_is_not_recomputed_by_a_task(season, embedder, tmp_path, monkeypatch):
    there = copy_workspace(season, tmp_path / "ws")
    with Workspace.open(there) as ws:
        episode = ws.episodes()[0]
        embed_episode(ws, episode.id, embedder)
        job = episode_job(ws, episode)
    assert ("voice", embedder.name) in job.done

    def boom(*args, **kwargs):
        raise AssertionError("a finished episode's audio was embedded again")

    monkeypatch.setattr("pipelines.stages.run.episode_audio", boom)
    result = run_episode(job, StageSpec(DEFAULT_VOICE, None, device="cpu"))
    assert result.marks == []


def test_driver_refuses_a_mark_whose_file_is_missing(season, embedder, tmp_path):
    there = copy_workspace(season, tmp_path / "ws")
    with Workspace.open(there) as ws:
        job = episode_job(ws, ws.episodes()[0])
    result = run_episode(job, StageSpec(DEFAULT_VOICE, None, device="cpu"))
    with Workspace.open(there) as ws:
        ws.vectors.path(job.episode.id, "voice", embedder.name).unlink()
        with pytest.raises(VectorsError, match="same on every node"):
            record(ws, result)
        assert not ws.stage_done(job.episode.id, "voice", embedder.name)


def test_view_is_one_episode_only_and_reads_without_sqlite(season, monkeypatch):
    with Workspace.open(season) as ws:
        job = episode_job(ws, ws.episodes()[0])
        lines = ws.lines_frame(job.episode.id)
    monkeypatch.setattr(sqlite3, "connect", None)  # a view must not open the database
    view = EpisodeView(job)
    assert view.lines_frame(job.episode.id).equals(lines)
    assert (
        view.vectors.path(job.episode.id, "voice", "m").parent
        == Path(job.root) / "vectors" / job.episode.id
    )
    assert view.audio_path(job.episode.id).parent == Path(job.root) / "cache" / "audio"
    with pytest.raises(WorkspaceError, match="only its own episode"):
        view.lines_frame("ep99")


def test_task_on_a_node_without_the_workspace_says_so(season):
    with Workspace.open(season) as ws:
        job = episode_job(ws, ws.episodes()[0])
    from dataclasses import replace

    lost = replace(job, root="/nonexistent/castlist-ws")
    with pytest.raises(WorkspaceError, match="same path"):
        run_episode(lost, StageSpec(DEFAULT_VOICE, None, device="cpu"))


def test_faces_through_a_task_match_the_stage(tmp_path, embedder):
    """The faces stage in a task: same vectors, same thumbnails as in-process."""
    pytest.importorskip("cv2")
    from embeddings.faces import face_backend
    from pipelines.stages.faces import load_faces, thumb_path
    from pipelines.stages.run import embed_faces
    from tests.pipelines.test_faces_stage import _workspace, render

    video = render(tmp_path / "ep.mkv", 13.0)
    live = face_backend("live")
    ws_a, ep = _workspace(tmp_path / "a", video)
    embed_faces(ws_a, ep, live)
    ws_b, _ = _workspace(tmp_path / "b", video)
    # the test video is silent: its voice stage counts as done, the task does the faces
    ws_b.vectors.save(ep, "voice", embedder.name, np.zeros((len(ws_b.lines(ep)), embedder.dim)))
    ws_b.mark_stage(ep, "voice", embedder.name)
    job = episode_job(ws_b, ws_b.episode(ep))
    spec = StageSpec(DEFAULT_VOICE, None, device="cpu", faces=("live", {}))
    result = run_episode(job, spec)
    assert result.marks == [("faces", live.name)]
    record(ws_b, result)
    fa, ma = load_faces(ws_a, ep, live.name)
    fb, mb = load_faces(ws_b, ep, live.name)
    np.testing.assert_allclose(fa, fb, atol=1e-6)
    np.testing.assert_allclose(ma, mb, atol=1e-6)
    for line in ws_a.lines(ep):
        assert thumb_path(ws_a, line.id).is_file() == thumb_path(ws_b, line.id).is_file()


def test_run_without_ray_never_imports_it_and_ray_asked_without_it_names_the_extra(monkeypatch):
    import subprocess
    import sys

    code = (
        "import sys, pipelines.cli, pipelines.stages.run, pipelines.stages.distributed, "
        "pipelines.stages.episode_task; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    from pipelines.errors import UsageError
    from pipelines.stages.distributed import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed
    with pytest.raises(UsageError, match=r"castlist\[ray\]"):
        import_ray()


@pytest.mark.slow
def test_separation_then_voice_in_one_task(season, tmp_path, embedder):
    """``run --separate`` under Ray: the task separates, then embeds the vocals, and hands
    back both marks; the vectors are those of the in-process stages."""
    pytest.importorskip("onnx")
    pytest.importorskip("audio_separator")
    from benchmarks.tiny_separator import make_mdx_model_dir
    from pipelines.io.audio import SEPARATE_META_KEY, separated_path
    from pipelines.stages.separate import model_key, prepare

    model = str(make_mdx_model_dir(tmp_path / "models"))
    with Workspace.open(season) as ws:  # one short episode of real speech with music
        first = ws.episodes()[0]
    here = Workspace.open(copy_workspace(season, tmp_path / "here"))
    there = Workspace.open(copy_workspace(season, tmp_path / "there"))
    ep = first.id
    separated = prepare(here, model, embedder)
    expected = embed_episode(here, ep, separated)
    there.set_meta(SEPARATE_META_KEY, model)
    result = run_episode(
        episode_job(there, there.episode(ep)),
        StageSpec(DEFAULT_VOICE, None, device="cpu", separate=model),
    )
    assert result.marks == [("separate", model_key(model)), ("voice", separated.name)]
    assert set(result.seconds) == {"separate", "voice"}
    for mark in result.marks:
        assert not there.stage_done(ep, *mark)
    record(there, result)
    assert separated_path(there, ep, model).is_file()
    np.testing.assert_allclose(there.vectors.load(ep, "voice", separated.name), expected, atol=1e-5)
    here.close()
    there.close()


def test_ray_address_where_nothing_answers_is_refused_at_once(monkeypatch):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
    import socket
    import time

    from pipelines.errors import UsageError
    from pipelines.stages.distributed import _known_cluster, connect

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(UsageError, match="nothing answers there"):
        connect(f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 10
    # a cluster killed without `ray stop` leaves its address: `--ray auto` must not join it
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    assert _known_cluster(__import__("ray")) is None
