"""Fusing voice and face vectors into one vector per line, so every cosine-based step (core
clustering, attachment, the season roster, name propagation) uses faces where they are
reliable and nothing changes where they are not.

The fused vector is ``[sqrt(1 - w) * voice, sqrt(w) * face_part]``, both parts unit length, so
it is unit length and a dot product of two fused vectors is ``(1 - w) * voice cosine + w * face
part cosine``. A line with a reliable face uses its face vector as face part. A line without
one uses its *voice-predicted face*: its voice vector through an orthogonal map fitted
(Procrustes) from the voices to the faces of the lines that have both. An orthogonal map keeps
cosines, so

- two lines without a face keep exactly their voice cosine;
- a line without a face is compared with a line with one through the face that its voice
  predicts, which is about the voice cosine again: no penalty for lacking a face (the simple
  alternative, a zero face part, multiplies those cosines by ``sqrt(1 - w)``, which splits
  speakers into "seen" and "unseen" groups; benchmarks/bench_vision.py measures both);
- two lines with faces get the weighted voice + face cosine.

Arrays only: which faces are reliable is decided by :func:`face_reliable` from the per-line
face summary numbers.
"""

from __future__ import annotations

import numpy as np

from .vectors import normalize_rows

__all__ = ["face_agreement", "face_reliable", "fuse", "voice_to_face_map", "FUSION_METHODS"]

FUSION_METHODS = ("procrustes", "zero")


def face_reliable(
    on_screen,
    consistency,
    main_size,
    *,
    min_consistency: float,
    min_size: float,
) -> np.ndarray:
    """A line's face is evidence of its speaker when one clear face is on screen, the same
    person across the line's frames, and big enough to be the subject of the shot (the face
    backend's thresholds: ``embeddings.faces.MIN_CONSISTENCY`` and ``MIN_FACE_SIZE``)."""
    on = np.asarray(on_screen).astype(bool)
    return (
        on
        & (np.asarray(consistency, dtype=np.float64) >= min_consistency)
        & (np.asarray(main_size, dtype=np.float64) >= min_size)
    )


def voice_to_face_map(voice: np.ndarray, face: np.ndarray, face_reliable) -> np.ndarray:
    """The orthogonal (d, d) map, d = max(dv, df), taking voices closest to faces over the
    reliable lines (Procrustes). Fit it once per season so faceless lines of every episode
    get comparable predicted faces."""
    V = normalize_rows(voice)
    F = np.asarray(face, dtype=np.float32)
    reliable = np.asarray(face_reliable, dtype=bool).ravel()
    d = max(V.shape[1], F.shape[1])
    source = np.zeros((int(reliable.sum()), d), dtype=np.float64)
    target = np.zeros_like(source)
    source[:, : V.shape[1]] = V[reliable]
    target[:, : F.shape[1]] = normalize_rows(F[reliable])
    u, _, vt = np.linalg.svd(source.T @ target)
    return (u @ vt).astype(np.float32)


def face_agreement(voice: np.ndarray, face: np.ndarray, face_reliable, k: int = 5) -> np.ndarray:
    """Per line, the cosine between its face and the mean face of the ``k`` reliable lines whose
    voices are nearest its own (0 where the line has no reliable face or no such neighbours).

    A line whose visible face is the speaker's agrees with the faces seen on the speaker's other
    lines (SFace: ~0.6); a listener in shot does not (~0.1). Nearest neighbours, not a fitted
    map: a map fitted on these very lines would also learn the listener shots.
    """
    V = normalize_rows(voice)
    reliable = np.asarray(face_reliable, dtype=bool).ravel()
    out = np.zeros(len(V), dtype=np.float32)
    idx = np.flatnonzero(reliable)
    if len(idx) < 2:
        return out
    F = normalize_rows(np.asarray(face, dtype=np.float32)[idx])
    sims = V[idx] @ V[idx].T
    np.fill_diagonal(sims, -np.inf)
    k = min(k, len(idx) - 1)
    nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    predicted = normalize_rows(F[nearest].mean(axis=1))
    out[idx] = np.sum(F * predicted, axis=1)
    return out


def fuse(
    voice: np.ndarray,
    face: np.ndarray | None,
    face_reliable: np.ndarray,
    face_weight: float = 0.3,
    method: str = "procrustes",
    mapping: np.ndarray | None = None,
    min_agreement: float | None = None,
) -> np.ndarray:
    """Fused unit vectors (n, dv + max(dv, df)).

    ``face`` rows of lines that are not ``face_reliable`` are ignored (zeros are fine there).
    ``method`` "procrustes" (default) gives faceless lines their voice-predicted face through
    ``mapping`` (from :func:`voice_to_face_map`; fitted on these lines when None), "zero" gives
    them a zero face part (for comparison). Without ``mapping``, the result is the normalised
    voice alone (n, dv) when there is no face array, no reliable face or ``face_weight`` is 0;
    with one it always has the fused width, so episodes without faces (audio-only) stack with
    the others and keep their voice cosines.

    ``min_agreement`` also drops the faces that disagree with the faces of
    the line's nearest voices (:func:`face_agreement` below it): most of those are a listener
    in shot.
    """
    V = normalize_rows(voice)
    n, dv = V.shape
    if not 0.0 <= face_weight <= 1.0:
        raise ValueError(f"face_weight must be in [0, 1], got {face_weight}")
    if method not in FUSION_METHODS:
        raise ValueError(f"unknown fusion method {method!r}; expected one of {FUSION_METHODS}")
    reliable = np.asarray(face_reliable, dtype=bool).ravel()
    if reliable.shape != (n,):
        raise ValueError(f"face_reliable must have {n} entries, got {reliable.shape}")
    if face is None:
        reliable = np.zeros(n, dtype=bool)
    if mapping is None and (face is None or face_weight == 0.0 or not reliable.any()):
        return V
    d = mapping.shape[0] if mapping is not None else max(dv, np.shape(face)[1])
    faces = np.zeros((n, d), dtype=np.float32)
    if reliable.any():
        F = np.asarray(face, dtype=np.float32)
        if F.ndim != 2 or len(F) != n or F.shape[1] > d:
            raise ValueError(f"face must be (n={n}, df <= {d}), got {F.shape}")
        faces[reliable, : F.shape[1]] = normalize_rows(F[reliable])
    if min_agreement is not None:
        agree = face_agreement(V, faces, reliable) >= min_agreement
        faces[reliable & ~agree] = 0.0
        reliable = reliable & agree
    if method == "procrustes":
        M = mapping if mapping is not None else voice_to_face_map(V, face, reliable)
        if M.shape != (d, d) or d < dv:
            raise ValueError(f"mapping must be ({d}, {d}) with {d} >= {dv}, got {M.shape}")
        voices = np.zeros((n, d), dtype=np.float32)
        voices[:, :dv] = V
        faces[~reliable] = voices[~reliable] @ M
        out = np.hstack([np.sqrt(1.0 - face_weight) * V, np.sqrt(face_weight) * faces])
    else:
        scale = np.where(reliable, np.sqrt(1.0 - face_weight), 1.0).astype(np.float32)[:, None]
        out = np.hstack([scale * V, np.sqrt(face_weight) * faces])
    return normalize_rows(out)
