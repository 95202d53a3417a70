"""Faces: per-line summaries, the style guess, and the backend registry.

The face record and the backend protocol live in :mod:`embeddings.face_types` (re-exported here).

Backends live in :mod:`embeddings.faces_live` (YuNet + SFace, real photos and live action) and
:mod:`embeddings.faces_anime` (animeface + a colour descriptor, drawn characters);
:mod:`embeddings.insight` is the optional insightface backend. Everything here works on arrays
only: a "line" is just the list of frames the caller took inside one subtitle line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

# the public face API lives in face_types and is re-exported from here
from embeddings.face_types import (  # noqa: F401
    Box,
    Face,
    FaceBackend,
    check_rgb,
    detect_and_embed,
    l2_normalise,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Per-line summary


@dataclass(frozen=True, eq=False)
class LineFaces:
    """What the faces in one line's frames say about who may be speaking.

    ``on_screen`` is True when one clear face is present in most frames and is the same person
    across them; only then is ``vector`` (the mean of that face's vectors, re-normalised) set.
    ``main_size`` is the main face's mean height as a fraction of the frame height;
    ``consistency`` is the mean pairwise cosine of the main face's vectors across frames.
    """

    n_faces: int
    main_size: float
    score: float
    on_screen: bool
    consistency: float
    vector: np.ndarray | None


MIN_FACE_SIZE = 0.08
"""A face smaller than this share of the frame height is a bystander, not the shot's subject."""
MIN_CONSISTENCY = 0.5
"""Mean pairwise cosine of a line's main faces above which they are one person (SFace: same
person ~0.7, different people ~0.1)."""


def summarise_line(
    faces_per_frame: Sequence[Sequence[Face]],
    frame_heights: Sequence[int] | int,
    *,
    min_size: float = MIN_FACE_SIZE,
    min_consistency: float = MIN_CONSISTENCY,
    min_presence: float = 0.6,
    dominance: float = 2.0,
) -> LineFaces:
    """Summarise the faces found in one line's frames.

    The main face of a frame is its largest; it is "clear" when it is at least ``dominance``
    times larger than the next face (a two-shot says nothing about who speaks) and at least
    ``min_size`` of the frame height. The line is ``on_screen`` when clear main faces appear in
    at least ``min_presence`` of the frames and their vectors agree (mean pairwise cosine >=
    ``min_consistency``; SFace's same-person cosine is ~0.7, different people ~0.1).
    """
    n_frames = len(faces_per_frame)
    heights = [frame_heights] * n_frames if isinstance(frame_heights, int) else list(frame_heights)
    if len(heights) != n_frames:
        raise ValueError("frame_heights must have one entry per frame")
    if n_frames == 0:
        return LineFaces(0, 0.0, 0.0, False, 0.0, None)

    n_faces = max((len(f) for f in faces_per_frame), default=0)
    mains: list[Face] = []
    sizes: list[float] = []
    for faces, height in zip(faces_per_frame, heights, strict=True):
        if not faces:
            continue
        ranked = sorted(faces, key=lambda f: f.area, reverse=True)
        main = ranked[0]
        size = main.box[3] / max(1, height)
        clear = len(ranked) == 1 or main.area >= dominance * ranked[1].area
        if clear and size >= min_size:
            mains.append(main)
            sizes.append(size)
    if not mains:
        return LineFaces(n_faces, 0.0, 0.0, False, 0.0, None)

    vectors = np.stack([m.vector for m in mains]).astype(np.float32)
    if len(mains) > 1:
        sims = vectors @ vectors.T
        iu = np.triu_indices(len(mains), k=1)
        consistency = float(sims[iu].mean())
    else:
        consistency = 1.0
    present = len(mains) / n_frames >= min_presence
    on_screen = bool(present and consistency >= min_consistency)
    vector = l2_normalise(vectors.mean(axis=0)) if on_screen else None
    return LineFaces(
        n_faces=n_faces,
        main_size=float(np.mean(sizes)),
        score=float(np.mean([m.score for m in mains])),
        on_screen=on_screen,
        consistency=consistency,
        vector=vector,
    )


# ---------------------------------------------------------------------------------------------
# Which detector fits a show


Style = Literal["anime", "live"]


@dataclass(frozen=True)
class StyleGuess:
    """The verdict of :func:`guess_style` with the evidence behind it, for logging and the UI.

    ``*_size`` is the median size of each detector's largest face per frame where it found one,
    as a share of the frame's short side (0.0 when it found none); ``reason`` says in words
    why the style was chosen."""

    style: Style
    anime_hits: int
    live_hits: int
    n_frames: int
    anime_size: float = 0.0
    live_size: float = 0.0
    reason: str = ""


LIVE_RATIO = 0.3
"""animeface in under this share of YuNet's frames: live action."""
ANIME_RATIO = 0.8
"""animeface in at least this share of YuNet's frames: anime. In between, face sizes decide."""
REAL_FACE_SIZE = 0.2
"""In between, YuNet's median face at least this share of the frame's short side is a real
face: YuNet's real faces measured 0.22-0.55 (median 0.33) on faces_identities at 480-1280 px,
the drawn faces it fires on 0.07-0.21 (median 0.11) on anime_character_images."""


def _median_size(found: Sequence[Sequence[Box]], frames: Sequence[np.ndarray]) -> float:
    sizes = [
        max(min(b[2], b[3]) for b in boxes) / max(1, min(frame.shape[:2]))
        for boxes, frame in zip(found, frames, strict=True)
        if boxes
    ]
    return float(np.median(sizes)) if sizes else 0.0


def guess_style(
    frames: Sequence[np.ndarray],
    live_detector,
    anime_detector,
    *,
    max_frames: int = 12,
    ratio: float = LIVE_RATIO,
) -> StyleGuess:
    """Decide whether a set of frames is anime or live action from both detectors' hit rates
    and face sizes. ``*_detector`` are objects with ``detect(images) -> list[list[box]]``.

    Measured (faces_identities, 33 real photos; anime_character_images, 5 drawn ones, at 640
    and 1280 px): YuNet finds a face in every real photo, large (median 0.33 of the short
    side), and animeface in 2-3 of 33, often on the real face itself; on drawn pictures YuNet
    fires on 4 of 5 but small (median 0.11) and animeface on 3-4 of 5. A live-action video gave
    animeface 5 and YuNet 12 of 12 frames (0.42): the old rule (animeface in >= 0.4x YuNet's
    frames) called that anime. Now: animeface in under ``ratio`` (0.3) of YuNet's frames is
    live, in at least 0.8 anime, and in between YuNet's face size decides (>= 0.2 of the short
    side: real faces). With no face found by either, live action is the safe default (its
    descriptor is a real face model); the caller decides whether to turn faces off.
    """
    if not frames:
        raise ValueError("guess_style needs at least one frame")
    step = max(1, len(frames) // max_frames)
    sample = list(frames[::step][:max_frames])
    live_found = live_detector.detect(sample)
    anime_found = anime_detector.detect(sample)
    live_hits = sum(bool(b) for b in live_found)
    anime_hits = sum(bool(b) for b in anime_found)
    live_size = _median_size(live_found, sample)
    anime_size = _median_size(anime_found, sample)
    n = len(sample)
    counts = f"animeface found faces in {anime_hits} of {n} frames, yunet in {live_hits}"
    sizes = f"median {live_size:.2f} of the short side; real >= {REAL_FACE_SIZE}"
    rate = anime_hits / live_hits if live_hits else float("inf")
    if not anime_hits:
        style, why = "live", ("no face found by either detector" if not live_hits else counts)
    elif not live_hits:
        style, why = "anime", counts
    elif rate < ratio:
        style, why = "live", f"{counts}: mostly real faces"
    elif rate >= ANIME_RATIO:
        style, why = "anime", f"{counts}: mostly drawn faces"
    elif live_size >= REAL_FACE_SIZE:
        style, why = "live", f"{counts}; yunet's faces are big ({sizes}): real faces"
    else:
        style, why = "anime", f"{counts}; yunet's faces are small ({sizes}): drawn faces"
    guess = StyleGuess(style, anime_hits, live_hits, n, anime_size, live_size, why)  # type: ignore[arg-type]
    log.info("style guess: %s", guess)
    return guess


FACE_BACKENDS: dict[str, tuple[str, str]] = {
    "live": ("embeddings.faces_live", "YuNetSFace"),
    "anime": ("embeddings.faces_anime", "AnimeFaceColour"),
    "insightface": ("embeddings.insight", "InsightFace"),
}
"""Backend name -> (module, class); imported on first use, since cv2, animeface and insightface
are each optional. ``live`` and ``anime`` are the offline defaults of those styles."""


def face_backend(name: str, **kwargs) -> FaceBackend:
    """Build the face backend called ``name`` (a style's default, or ``insightface``)."""
    try:
        module, cls = FACE_BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(FACE_BACKENDS))
        raise ValueError(f"unknown face backend {name!r}; known: {known}") from None
    import importlib

    return getattr(importlib.import_module(module), cls)(**kwargs)
