"""The faces stage on a real (tiny) video: a real face photo is shown during some lines."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipelines.records import SubtitleEvent
from pipelines.stages import faces
from pipelines.stages.faces import (
    FACEMETA_COLUMNS,
    choose_style,
    face_fuser,
    load_faces,
    thumb_path,
)
from pipelines.stages.run import embed_faces, run_faces
from pipelines.store.workspace import Workspace

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")
pytest.importorskip("cv2")

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "faces"
W, H, FPS = 320, 240, 4
LINES = [(0.5 + 2.0 * i, 2.0 + 2.0 * i) for i in range(6)]
SHOWN = {1: "img44.jpg", 3: "img46.jpg", 4: "img5.jpg"}  # img44/img46 are one person
ON = [i in SHOWN for i in range(len(LINES))]
ON_COL = FACEMETA_COLUMNS.index("on_screen")


def _slide(name: str | None) -> np.ndarray:
    from PIL import Image

    canvas = np.full((H, W, 3), 90, dtype=np.uint8)
    if name is None:
        return canvas
    img = Image.open(PHOTOS / name).convert("RGB")
    img.thumbnail((W, H - 20))
    x0, y0 = (W - img.width) // 2, (H - img.height) // 2
    canvas[y0 : y0 + img.height, x0 : x0 + img.width] = np.asarray(img)
    return canvas


def render(path: Path, duration: float) -> Path:
    """An mkv whose frames show the photo of the line they fall in (grey between lines)."""
    slides = {name: _slide(name) for name in [None, *SHOWN.values()]}
    frames = []
    for k in range(int(duration * FPS)):
        t = (k + 0.5) / FPS
        line = next((i for i, (a, b) in enumerate(LINES) if a <= t < b), None)
        frames.append(slides[SHOWN.get(line)] if line is not None else slides[None])
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{W}x{H}", "-r", str(FPS), "-i", "pipe:0", "-c:v", "mpeg4", "-q:v", "2"]
    subprocess.run([*cmd, str(path)], input=np.stack(frames).tobytes(), check=True)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("video") / "ep.mkv", 13.0)


@pytest.fixture(scope="module")
def live():
    from embeddings.faces import face_backend

    return face_backend("live")


def _workspace(root: Path, media: Path, kind: str = "video") -> tuple[Workspace, str]:
    ws = Workspace.init(root)
    subs = root.parent / f"{root.name}.srt"
    subs.write_text("x")
    events = [SubtitleEvent(a, b, f"line {i}") for i, (a, b) in enumerate(LINES)]
    episode, _ = ws.add_episode(media, subs, 13.0, kind, events, {})
    return ws, episode.id


def test_stage_finds_the_shown_faces_writes_thumbs_and_resumes(tmp_path, video, live, monkeypatch):
    ws, ep = _workspace(tmp_path / "ws", video)
    calls = []
    embed_faces(ws, ep, live, progress=lambda what, done, total: calls.append((done, total)))
    face, meta = load_faces(ws, ep, live.name)
    assert face.shape == (len(LINES), live.dim) and meta.shape == (len(LINES), 5)
    assert (meta[:, ON_COL] > 0.5).tolist() == ON
    assert (np.abs(face).sum(axis=1) > 0).tolist() == ON
    same, other = float(face[1] @ face[3]), float(face[1] @ face[4])
    assert same > 0.5 > other, (same, other)
    for i, line in enumerate(ws.lines(ep)):
        assert thumb_path(ws, line.id).is_file() == ON[i]
    assert calls[-1] == (3 * len(LINES), 3 * len(LINES))  # three frames per line (live)
    assert ws.stage_done(ep, "faces", live.name)

    def boom(*args, **kwargs):
        raise AssertionError("a finished episode was decoded again")

    monkeypatch.setattr(faces, "iter_frames", boom)
    embed_faces(ws, ep, live)  # resumable: nothing to do


def test_one_frame_per_line_when_asked(tmp_path, video, live):
    ws, ep = _workspace(tmp_path / "ws", video)
    calls = []
    embed_faces(ws, ep, live, lambda w, d, t: calls.append(t), frames_per_line=1)
    _, meta = load_faces(ws, ep, live.name)
    assert calls[-1] == len(LINES)
    assert (meta[:, ON_COL] > 0.5).tolist() == ON


def test_audio_only_episode_is_skipped_cleanly(tmp_path, live, monkeypatch):
    wav = tmp_path / "ep.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=d=13", str(wav)], check=True
    )
    ws, ep = _workspace(tmp_path / "ws", wav, kind="audio")
    monkeypatch.setattr(faces, "iter_frames", lambda *a, **k: iter(()))
    embed_faces(ws, ep, live)
    assert load_faces(ws, ep, live.name) is None
    assert not ws.stage_done(ep, "faces", live.name)
    assert choose_style(ws) == "off"  # no video to look at


def test_style_override_and_guess(tmp_path, video):
    ws, _ = _workspace(tmp_path / "ws", video)
    ws.set_meta("face_style", "anime")
    assert choose_style(ws) == "anime"
    ws.set_meta("face_style", "auto")
    assert choose_style(ws, max_frames=4) == "live"  # real photos
    assert ws.get_meta("face_style") == "live"  # decided once for the season


def test_run_faces_then_fused_vectors(tmp_path, video, live):
    ws, ep = _workspace(tmp_path / "ws", video)
    rng = np.random.default_rng(0)
    voice = rng.normal(size=(len(LINES), 16)).astype(np.float32)
    voice /= np.linalg.norm(voice, axis=1, keepdims=True)
    ws.vectors.save(ep, "voice", "v", voice)
    assert face_fuser(ws, "v")(ep, voice) is voice  # no faces yet: voice untouched
    assert run_faces(ws, backend=live) == live.name
    X = face_fuser(ws, "v", face_weight=0.4)(ep, voice)
    assert X.shape == (len(LINES), 16 + live.dim)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    off = [i for i in range(len(LINES)) if not ON[i]]
    cos_v = voice[off] @ voice[off].T
    np.testing.assert_allclose(X[off] @ X[off].T, cos_v, atol=1e-5)
    # the two lines showing the same person come closer than their voices alone say
    assert X[1] @ X[3] > 0.6 * float(voice[1] @ voice[3]) + 0.4 * 0.5


def test_face_roster_groups_people_and_draws_the_sheet(tmp_path, video, live):
    from PIL import Image

    from pipelines.errors import WorkspaceError
    from pipelines.stages.face_roster import cluster_faces, collect, group_faces

    ws, ep = _workspace(tmp_path / "ws", video)
    with pytest.raises(WorkspaceError, match="castlist run"):
        cluster_faces(ws)
    run_faces(ws, backend=live)
    summary = cluster_faces(ws)
    ids, vectors = collect(ws, live.name)
    assert ids == [ln.id for i, ln in enumerate(ws.lines(ep)) if ON[i]]
    labels = group_faces(vectors, 0.4)
    assert labels.tolist() == [0, 0, 1]  # img44 and img46 are one person, img5 another
    assert "3 of 6 speech lines" in summary and "2 face groups" in summary
    with Image.open(ws.root / "faces.png") as sheet:
        assert sheet.width > 500 and sheet.height >= 2 * 96
        pixels = np.asarray(sheet.convert("RGB"))
    assert pixels.std() > 20  # thumbnails were pasted, not an empty page


def test_guess_turns_faces_off_when_no_sampled_frame_has_a_face(tmp_path, video):
    class Blind:
        def detect(self, images):
            return [[] for _ in images]

    ws, _ = _workspace(tmp_path / "ws", video)
    assert choose_style(ws, max_frames=4, detectors=(Blind(), Blind())) == "off"
    assert ws.get_meta("face_style") == "off"


def test_insightface_is_selectable_and_a_missing_pack_names_the_env_var(tmp_path, monkeypatch):
    from pipelines.errors import ModelError

    ws = Workspace.init(tmp_path / "ws")
    ws.set_meta("face_style", "insightface")
    assert choose_style(ws) == "live"
    monkeypatch.setenv("CASTLIST_INSIGHTFACE_DIR", str(tmp_path / "packs"))
    with pytest.raises(ModelError, match="CASTLIST_INSIGHTFACE_DIR") as info:
        run_faces(ws)
    assert str(tmp_path / "packs" / "models" / "buffalo_l") in str(info.value)
