"""The faces stage: who is on screen while each line is spoken.

For every speech line of a video episode a few frames inside the line (one ffmpeg pass per
episode) go through the face backend; :func:`embeddings.faces.summarise_line` turns them into one
face vector (set only when one clear, consistent face is on screen) and five numbers the fusion
rule reads. :func:`faces_of_lines` is a function from plain inputs (the lines, the video's path,
the backend) to arrays; :func:`pipelines.stages.run.embed_faces` reads those inputs from the
workspace and stores what it returns: one row per line, keyed by the backend's name, written
atomically, marked done only after the files exist, and a thumbnail of each on-screen line's
main face in ``cache/thumbs/{line_id}.jpg`` for the cluster browser.

The rest reads what the stage stored: the season's face style, the fusion of faces with voices
for the grouping stage, and the thumbnails.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from embeddings.base import ProgressHook
from embeddings.faces import (
    Face,
    FaceBackend,
    detect_and_embed,
    face_backend,
    guess_style,
    summarise_line,
)
from pipelines.errors import MediaError
from pipelines.io.frames import DEFAULT_WIDTH, iter_frames, line_times
from pipelines.io.media import probe
from pipelines.io.paths import component, safe_join
from pipelines.records import Episode
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)

FaceStyle = Literal["live", "anime", "off"]

STAGE = "faces"
FACE = "face"
FACEMETA = "facemeta"
FACEMETA_COLUMNS = ("n_faces", "main_size", "score", "on_screen", "consistency")
"""Columns of the "facemeta" modality, in order."""

STYLE_META = "face_style"
INSIGHTFACE = "insightface"
"""``--faces insightface``: live action with an insightface model pack instead of YuNet+SFace."""
INSIGHTFACE_ENV = "CASTLIST_INSIGHTFACE_DIR"
"""The folder holding ``models/buffalo_l/*.onnx`` (insightface packs come from its own site)."""
THUMB_SIZE = 128
"""Long side of a face thumbnail in pixels: a card in the browser shows them at ~64-96 px."""


def thumbs_dir(ws: Workspace) -> Path:
    return ws.cache_dir / "thumbs"


def thumb_path(ws: Workspace, line_id: str) -> Path:
    return safe_join(thumbs_dir(ws), component(line_id, ".jpg"))


def default_frames_per_line(backend: FaceBackend) -> int:
    """Three frames for live action (cuts and head turns are common, YuNet+SFace do ~16 img/s);
    the middle one for anime (animeface does ~1.3 img/s at 1280 px, and drawn shots hold still)."""
    return 1 if type(backend).__module__.endswith("faces_anime") else 3


def frame_times(start: float, end: float, n: int) -> tuple[float, ...]:
    """``n`` times inside a line: the middle for one, :func:`line_times` for three, else evenly
    spaced away from the edges."""
    if n < 1:
        raise ValueError(f"frames_per_line must be >= 1, got {n}")
    if n == 1:
        return (start + 0.5 * max(0.0, end - start),)
    if n == 3:
        return line_times(start, end)
    duration = max(0.0, end - start)
    return tuple(start + duration * (i + 1) / (n + 1) for i in range(n))


def is_video(episode: Episode) -> bool:
    """Whether the episode's media is there and has a video stream to look for faces in."""
    if episode.kind != "video":
        return False
    try:
        info = probe(Path(episode.media))
    except MediaError as exc:
        log.warning("faces: skipping %s: %s", episode.id, exc)
        return False
    return bool(info.has_video and info.width and info.height)


def _crop(frame: np.ndarray, face: Face, margin: float = 0.25) -> np.ndarray:
    """The face box grown by ``margin`` on each side (hair and chin make a face recognisable)."""
    x, y, w, h = face.box
    x0 = max(0, int(x - margin * w))
    y0 = max(0, int(y - margin * h))
    x1 = min(frame.shape[1], int(x + (1 + margin) * w))
    y1 = min(frame.shape[0], int(y + (1 + margin) * h))
    if x1 <= x0 or y1 <= y0:
        return frame
    return frame[y0:y1, x0:x1]


def _small(image: np.ndarray) -> bytes:
    """A JPEG of at most THUMB_SIZE pixels on its long side, kept as bytes (a season holds
    thousands of candidates; a few kB each is nothing, full frames would be gigabytes)."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(image))
    img.thumbnail((THUMB_SIZE, THUMB_SIZE))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


class LineFaces(NamedTuple):
    """What the faces stage returns for one episode, one row per line in line order."""

    vectors: np.ndarray
    """(n_lines, backend.dim) float32; zero rows where no one clear face is on screen."""
    meta: np.ndarray
    """(n_lines, len(FACEMETA_COLUMNS)) float32: the numbers the fusion rule reads."""
    thumbs: dict[int, bytes]
    """Row -> JPEG of the line's largest face, for the lines with a clear face on screen."""


def faces_of_lines(
    lines: pd.DataFrame,
    media: str | Path,
    backend: FaceBackend,
    progress: ProgressHook | None = None,
    frames_per_line: int | None = None,
) -> LineFaces:
    """Detect and embed the faces at each speech line of one video episode.

    ``lines`` has one row per line in line order with ``start``, ``end`` and ``skip_reason``
    (non-empty: not speech, left as a zero row); ``media`` is the episode's video, decoded in
    one ffmpeg pass; ``progress(done, total)`` counts frames.
    """
    n_frames = frames_per_line or default_frames_per_line(backend)
    speech = np.flatnonzero((lines["skip_reason"].fillna("") == "").to_numpy())
    starts = lines["start"].to_numpy(dtype=float)
    ends = lines["end"].to_numpy(dtype=float)
    times: list[float] = []
    owner: list[int] = []  # row in ``lines`` of each time
    for row in speech:
        for t in frame_times(starts[row], ends[row], n_frames):
            times.append(t)
            owner.append(int(row))

    faces_at: list[list[Face]] = [[] for _ in times]
    height_at = [1] * len(times)
    best: dict[int, tuple[int, bytes]] = {}  # row -> (area, thumbnail) of its largest face
    served = 0
    for indices, frame in iter_frames(media, times, width=DEFAULT_WIDTH):
        found = detect_and_embed(backend, [frame])[0]
        main = max(found, key=lambda f: f.area, default=None)
        for i in indices:
            faces_at[i] = found
            height_at[i] = frame.shape[0]
            row = owner[i]
            if main is not None and main.area > best.get(row, (0, b""))[0]:
                best[row] = (main.area, _small(_crop(frame, main)))
        served += len(indices)
        if progress:
            progress(served, len(times))

    vectors = np.zeros((len(lines), backend.dim), dtype=np.float32)
    meta = np.zeros((len(lines), len(FACEMETA_COLUMNS)), dtype=np.float32)
    thumbs: dict[int, bytes] = {}
    by_line: dict[int, list[int]] = {}
    for i, row in enumerate(owner):
        by_line.setdefault(row, []).append(i)
    for row in speech:
        idx = by_line.get(int(row), [])
        summary = summarise_line([faces_at[i] for i in idx], [height_at[i] for i in idx])
        meta[row] = (
            summary.n_faces,
            summary.main_size,
            summary.score,
            float(summary.on_screen),
            summary.consistency,
        )
        if summary.on_screen and summary.vector is not None:
            vectors[row] = summary.vector
            if row in best:
                thumbs[int(row)] = best[int(row)][1]
    log.info(
        "faces: %d of %d speech lines with a clear face on screen (%s, %d frames/line)",
        int(np.abs(vectors).sum(axis=1).astype(bool).sum()),
        len(speech),
        backend.name,
        n_frames,
    )
    return LineFaces(vectors, meta, thumbs)


def load_faces(ws: Workspace, episode_id: str, model: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(face vectors, facemeta) of an episode, or None when the stage has not run on it."""
    face = ws.vectors.load(episode_id, FACE, model)
    meta = ws.vectors.load(episode_id, FACEMETA, model)
    if face is None or meta is None:
        return None
    return face, meta


# ------------------------------------------------------------------------------ style


def _sample_frames(ws: Workspace, max_frames: int, max_episodes: int) -> list[np.ndarray]:
    """Frames at the middle of evenly spread speech lines of the first video episodes."""
    videos = [e for e in ws.episodes() if is_video(e)][:max_episodes]
    frames: list[np.ndarray] = []
    per_episode = max(1, -(-max_frames // max(1, len(videos))))
    for episode in videos:
        speech = ws.lines(episode.id, speech_only=True)
        if not speech:
            continue
        pick = np.linspace(0, len(speech) - 1, min(per_episode, len(speech))).round().astype(int)
        times = [speech[i].start + 0.5 * (speech[i].end - speech[i].start) for i in pick]
        frames += [f for _, f in iter_frames(episode.media, times, width=DEFAULT_WIDTH)]
    return frames[:max_frames]


GUESS_META = "face_style_guess"
GUESS_WIDTH = 1280
"""Frames narrower than this are also shown to animeface enlarged to at least this width:
it misses small drawn faces (2/5 development pictures at 640 px, 5/5 at 1280), so a 640-px
anime episode was guessed live, or "off" when YuNet saw nothing either."""


class _BothScales:
    """A detector that looks at each frame as it is and enlarged to ``width``, and keeps
    whichever finds more faces (boxes in the frame's own pixels). Enlarging alone is not
    enough: measured on the anime pictures at 480 px, it finds faces the plain frame misses
    and misses some the plain frame finds."""

    def __init__(self, detector, width: int = GUESS_WIDTH) -> None:
        self.detector = detector
        self.width = width

    def detect(self, images: Sequence[np.ndarray]) -> list[list]:
        plain = self.detector.detect(images)
        small = [i for i, im in enumerate(images) if im.shape[1] < self.width]
        if not small:
            return plain
        big = self.detector.detect(_enlarged([images[i] for i in small], self.width))
        for i, boxes in zip(small, big, strict=True):
            if len(boxes) > len(plain[i]):
                f = -(-self.width // images[i].shape[1])
                plain[i] = [tuple(round(v / f) for v in b) for b in boxes]
        return plain


def _enlarged(frames: Sequence[np.ndarray], width: int) -> list[np.ndarray]:
    from PIL import Image

    out = []
    for frame in frames:
        h, w = frame.shape[:2]
        factor = -(-width // max(1, w))
        if factor <= 1:
            out.append(frame)
            continue
        big = Image.fromarray(frame).resize((w * factor, h * factor), Image.BICUBIC)
        out.append(np.asarray(big))
    return out


def choose_style(
    ws: Workspace, max_frames: int = 12, max_episodes: int = 2, detectors: Sequence = ()
) -> FaceStyle:
    """The workspace's face style: the user's choice in meta ``face_style`` when it is one of
    live/anime/off, otherwise a guess from frames of the first video episodes, stored there so
    every episode of the season is embedded by the same backend ("off" when there is no video).
    Why it chose what it chose goes to meta ``face_style_guess`` (``castlist run`` prints it).

    ``detectors`` (live, anime) replaces the default detectors, for tests.
    """
    chosen = (ws.get_meta(STYLE_META) or "auto").strip().lower()
    if chosen in ("live", "anime", "off"):
        return chosen  # type: ignore[return-value]
    if chosen == INSIGHTFACE:
        return "live"
    if chosen != "auto":
        log.warning("faces: unknown %s %r in the workspace; guessing instead", STYLE_META, chosen)
    frames = _sample_frames(ws, max_frames, max_episodes)
    if not frames:
        log.info("faces: no video episodes, faces off")
        ws.set_meta(GUESS_META, "off: no video episodes")
        return "off"
    live, anime = detectors or (face_backend("live"), face_backend("anime"))
    width = max(f.shape[1] for f in frames)
    scale_note = f" (frames {width} px wide)"
    if width < GUESS_WIDTH:
        anime = _BothScales(anime, GUESS_WIDTH)
        scale_note = f" (frames {width} px wide; animeface also saw them at >= {GUESS_WIDTH} px)"
    guess = guess_style(frames, live, anime, max_frames=max_frames)
    style: FaceStyle = guess.style if guess.live_hits or guess.anime_hits else "off"
    if style == "off":
        why = (
            f"off: no face found by animeface or yunet in {guess.n_frames} sampled frames"
            f"{scale_note}; if the show has faces on screen, "
            "choose with `castlist run --faces anime` or `--faces live`"
        )
    else:
        why = f"{style}: {guess.reason}{scale_note}"
    log.info("faces: %s", why)
    ws.set_meta(STYLE_META, style)
    ws.set_meta(GUESS_META, why)
    return style


def style_summary(ws: Workspace) -> str:
    """One line for ``castlist run``: the face style in use and why."""
    style = ws.get_meta(STYLE_META) or "auto"
    guess = ws.get_meta(GUESS_META) or ""
    if guess and style in ("auto", guess.split(":", 1)[0]):
        return f"faces: {guess} (change with --faces live|anime|off)"
    if style == "auto":
        return "faces: not chosen yet"
    return f"faces: {style} (chosen with --faces)"


# ------------------------------------------------------------------------------ backend

FaceChoice = tuple[str, dict]
"""(name for :func:`embeddings.faces.face_backend`, its keyword arguments): what a Ray worker
needs to build the same backend the driver chose."""


def face_choice(ws: Workspace) -> FaceChoice | None:
    """The face backend the workspace's style asks for, None when faces are off."""
    import os

    from embeddings.errors import BackendUnavailable

    chosen = ws.get_meta(STYLE_META) or "auto"
    try:
        style = choose_style(ws)
    except BackendUnavailable as exc:
        return _unavailable(chosen, exc)
    if chosen == INSIGHTFACE:
        return INSIGHTFACE, {"root": os.environ.get(INSIGHTFACE_ENV, ".")}
    return (style, {}) if style != "off" else None


def build_face_backend(ws: Workspace, choice: FaceChoice) -> FaceBackend | None:
    """The backend of ``choice``, or None when its library is missing (see _unavailable)."""
    from embeddings.errors import BackendUnavailable
    from embeddings.faces import face_backend

    try:
        return face_backend(choice[0], **choice[1])
    except BackendUnavailable as exc:
        return _unavailable(ws.get_meta(STYLE_META) or "auto", exc)


def _unavailable(chosen: str, exc: Exception) -> None:
    """Faces off (logged) when the user did not ask for them; when they did, a ModelError
    saying what to install."""
    from pipelines.errors import ModelError

    if chosen in ("live", "anime", INSIGHTFACE):
        raise ModelError(str(exc)) from exc
    log.warning("faces off: %s", exc)
    return None


def with_device(choice: FaceChoice, device: str) -> FaceChoice:
    """``choice`` on the GPU where its models can run there
    (:func:`pipelines.stages.devices.face_device`)."""
    from pipelines.stages.devices import choose_device, face_device

    where = face_device(choose_device(device), style=choice[0])
    return choice if where == "cpu" else (choice[0], {**choice[1], "device": where})


# ------------------------------------------------------------------------------ season


MODEL_META = "face_model"
WEIGHT_META = "face_weight"
DEFAULT_FACE_WEIGHT = 0.3
"""Share of the fused cosine given to faces where both lines have a reliable one
(benchmarks/bench_vision.py; docs/benchmarks_vision.md)."""
DEFAULT_MIN_AGREEMENT = 0.5
"""A face counts only when it agrees this well with the faces of the line's nearest voices:
without this gate, listener shots cost more than faces gain (docs/benchmarks_vision.md)."""


def reliable_rows(meta: np.ndarray) -> np.ndarray:
    """:func:`grouping.fusion.face_reliable` on a stored facemeta array."""
    from embeddings.faces import MIN_CONSISTENCY, MIN_FACE_SIZE
    from grouping.fusion import face_reliable

    col = {c: i for i, c in enumerate(FACEMETA_COLUMNS)}
    return face_reliable(
        meta[:, col["on_screen"]] > 0.5,
        meta[:, col["consistency"]],
        meta[:, col["main_size"]],
        min_consistency=MIN_CONSISTENCY,
        min_size=MIN_FACE_SIZE,
    )


def face_fuser(
    ws: Workspace,
    voice_model: str,
    face_weight: float | None = None,
    method: str = "procrustes",
    min_agreement: float | None = DEFAULT_MIN_AGREEMENT,
) -> Callable[[str, np.ndarray], np.ndarray]:
    """A function ``(episode_id, voice rows of all its lines) -> rows to group by``.

    Voice alone when the workspace has no face vectors; otherwise voice fused with faces
    (:func:`grouping.fusion.fuse`) through one voice-to-face map fitted on the whole season, so
    the fused vectors of different episodes (audio-only ones too) are comparable for linking.
    """
    from grouping.fusion import fuse, voice_to_face_map

    model = ws.get_meta(MODEL_META) or ""
    weight = (
        float(ws.get_meta(WEIGHT_META) or DEFAULT_FACE_WEIGHT)
        if face_weight is None
        else face_weight
    )
    loaded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if model and weight > 0:
        for episode in ws.episodes():
            faces = load_faces(ws, episode.id, model)
            if faces is not None:
                loaded[episode.id] = (faces[0], reliable_rows(faces[1]))
    pairs = []
    for episode_id, (face, reliable) in loaded.items():
        voice = ws.vectors.load(episode_id, "voice", voice_model)
        if voice is not None and len(voice) == len(face) and reliable.any():
            pairs.append((voice[reliable], face[reliable]))
    if not pairs:
        return lambda episode_id, X: X
    V = np.concatenate([p[0] for p in pairs])
    F = np.concatenate([p[1] for p in pairs])
    mapping = voice_to_face_map(V, F, np.ones(len(V), dtype=bool))
    log.info("faces: fusing %d reliable faces at weight %.2f (%s)", len(V), weight, model)

    def apply(episode_id: str, X: np.ndarray) -> np.ndarray:
        face, reliable = loaded.get(episode_id, (None, np.zeros(len(X), dtype=bool)))
        if face is not None and len(face) != len(X):
            log.warning("faces: %s face rows do not match its lines; voice only", episode_id)
            face, reliable = None, np.zeros(len(X), dtype=bool)
        return fuse(
            X, face, reliable, weight, method=method, mapping=mapping, min_agreement=min_agreement
        )

    return apply
