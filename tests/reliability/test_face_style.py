"""The face style guess weighs both detectors' hit rates and face sizes, looks at small frames
enlarged too, and `castlist run` says which style it chose and why (issue 8, item 14)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from embeddings.faces import guess_style
from pipelines.records import SubtitleEvent
from pipelines.stages import faces
from pipelines.stages.faces import GUESS_META, _BothScales, choose_style, style_summary
from pipelines.store.workspace import Workspace

REPO_PHOTOS = Path(__file__).resolve().parents[1] / "data" / "faces"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED / "faces_identities").is_dir() or not (SHARED / "anime_character_images").is_dir(),
    reason="../shared/data not present",
)
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


class Planted:
    """A detector that 'finds' one square face of ``size`` px in the first ``hits`` frames."""

    def __init__(self, hits: int, size: int) -> None:
        self.hits, self.size = hits, size

    def detect(self, images):
        return [
            [(10, 10, self.size, self.size)] if i < self.hits else [] for i in range(len(images))
        ]


FRAMES = [np.zeros((720, 1280, 3), dtype=np.uint8)] * 12


def test_the_reported_live_video_is_live() -> None:
    """animeface on 5 of 12 frames, YuNet on 12 of 12 (the issue's numbers); YuNet's faces are
    big, animeface's small: real faces, which the hit-count rule called anime."""
    guess = guess_style(FRAMES, Planted(12, 300), Planted(5, 170))
    assert guess.style == "live"
    assert (guess.anime_hits, guess.live_hits) == (5, 12)
    assert guess.live_size == pytest.approx(300 / 720) and "big" in guess.reason


def test_the_same_rates_with_small_yunet_faces_are_anime() -> None:
    guess = guess_style(FRAMES, Planted(12, 60), Planted(5, 170))
    assert guess.style == "anime" and "small" in guess.reason


def test_clear_cases_follow_the_hit_rates() -> None:
    assert guess_style(FRAMES, Planted(12, 300), Planted(2, 300)).style == "live"
    assert guess_style(FRAMES, Planted(12, 100), Planted(10, 120)).style == "anime"
    # many animeface hits but YuNet's faces far bigger: real faces
    assert guess_style(FRAMES, Planted(12, 400), Planted(8, 100)).style == "live"
    assert guess_style(FRAMES, Planted(0, 0), Planted(3, 100)).style == "anime"


# ------------------------------------------------------------------ real frames, real detectors
def still_video(path: Path, pictures: list[Path], width: int, seconds: float = 2.0) -> Path:
    """An mkv showing each picture for ``seconds``, ``width`` px wide (padded to even sizes)."""
    cmd = ["ffmpeg", "-v", "error", "-y"]
    for p in pictures:
        cmd += ["-loop", "1", "-t", str(seconds), "-i", str(p.resolve())]
    chains = "".join(
        f"[{i}:v]scale={width}:{width * 9 // 16}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{width * 9 // 16}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=4[v{i}];"
        for i in range(len(pictures))
    )
    concat = "".join(f"[v{i}]" for i in range(len(pictures)))
    cmd += ["-filter_complex", f"{chains}{concat}concat=n={len(pictures)}:v=1:a=0[out]"]
    cmd += ["-map", "[out]", "-c:v", "mpeg4", "-q:v", "2", str(path)]
    subprocess.run(cmd, check=True)
    return path


def video_ws(root: Path, pictures: list[Path], width: int) -> Workspace:
    video = still_video(root / "ep.mkv", pictures, width)
    subs = root / "ep.srt"
    subs.write_text("x")
    events = [
        SubtitleEvent(2.0 * i + 0.5, 2.0 * i + 1.5, f"line {i}") for i in range(len(pictures))
    ]
    ws = Workspace.init(root / "ws")
    ws.add_episode(video, subs, 2.0 * len(pictures), "video", events, {})
    return ws


@needs_ffmpeg
def test_repo_photos_are_live_and_the_reason_is_stored(tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    pytest.importorskip("animeface")
    photos = sorted(REPO_PHOTOS.glob("*.jpg"))
    ws = video_ws(tmp_path, photos, 640)
    assert choose_style(ws) == "live"
    why = ws.get_meta(GUESS_META)
    # animeface fires on one photo when it is enlarged; YuNet's big faces outvote it
    assert why.startswith("live: animeface found faces in ") and "yunet in 3" in why
    assert "640 px wide" in why
    assert style_summary(ws).startswith("faces: live: animeface found faces")


def test_run_prints_the_face_style(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.stages import run as run_module
    from tests.reliability.paths_helpers import MODEL, build_ws

    class Embedder:
        name, dim = MODEL, 16

    monkeypatch.setattr(run_module, "embed_episode", lambda *a, **k: None)  # vectors are there
    with Workspace.open(build_ws(tmp_path)) as ws:
        summary = run_module.run(ws, embedder=Embedder())
    assert "faces: off: no video episodes" in summary


@pytest.mark.slow
@pytest.mark.shared
@needs_shared
def test_live_photos_that_animeface_fires_on_are_still_live() -> None:
    """The reported case with real frames: 12 frames of real people at 640 px of which
    animeface fires on about 5 (the photos it fires on, and their mirror images)."""
    from PIL import Image

    from embeddings.faces import face_backend

    pytest.importorskip("animeface")

    def frame(name: str) -> np.ndarray:
        path = next((SHARED / "faces_identities").rglob(name))
        image = Image.open(path).convert("RGB")
        return np.asarray(image.resize((640, round(image.height * 640 / image.width))))

    fired = [frame(n) for n in ("img24.jpg", "img27.jpg", "img3.jpg", "img35.jpg")]
    others = [frame(f"img{n}.jpg") for n in (1, 2, 4, 5, 6, 7)]
    frames = fired + [fired[2][:, ::-1].copy(), fired[3][:, ::-1].copy()] + others
    live, anime = face_backend("live"), _BothScales(face_backend("anime"))
    guess = guess_style(frames, live, anime)
    assert guess.anime_hits >= 4 and guess.live_hits >= 11  # really the hard case
    assert guess.style == "live", guess


@pytest.mark.slow
@pytest.mark.shared
@needs_shared
@pytest.mark.parametrize("stem", ["raidenShogun", "zhongli"])
def test_small_anime_stills_are_anime(stem: str) -> None:
    """At 480 px animeface misses these faces and YuNet finds one: the old guess said live.
    Looking at the frame enlarged as well finds the drawn face."""
    from PIL import Image

    from embeddings.faces import face_backend

    pytest.importorskip("animeface")
    image = Image.open(SHARED / "anime_character_images" / f"{stem}.jpg").convert("RGB")
    frame = np.asarray(image.resize((480, round(image.height * 480 / image.width))))
    guess = guess_style([frame], face_backend("live"), _BothScales(face_backend("anime")))
    assert guess.style == "anime" and guess.anime_hits == 1, guess


@pytest.mark.slow
@pytest.mark.shared
@needs_shared
@needs_ffmpeg
def test_an_anime_still_with_no_face_found_says_why(tmp_path: Path) -> None:
    pytest.importorskip("animeface")
    ws = video_ws(tmp_path, [SHARED / "anime_character_images" / "ayaka.jpg"], 640)
    assert choose_style(ws) == "off"
    why = ws.get_meta(GUESS_META)
    assert "no face found" in why and "--faces anime" in why and "640 px" in why
    assert "--faces" in style_summary(ws)


def test_both_scales_maps_boxes_back() -> None:
    class SeesOnlyBig:
        def detect(self, images):
            return [[(200, 100, 120, 120)] if im.shape[1] >= 1280 else [] for im in images]

    small = np.zeros((360, 640, 3), dtype=np.uint8)
    assert _BothScales(SeesOnlyBig()).detect([small]) == [[(100, 50, 60, 60)]]
    assert faces._enlarged([small], 1280)[0].shape == (720, 1280, 3)
