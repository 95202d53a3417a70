"""Vectors files: which stage writes which file, and whether a file is usable.

Vectors live beside the database as ``vectors/<episode>/<modality>__<model>.npy``, one row
per line of the episode. A stage is marked done only after its files are written, so a
missing or broken file under a done stage means someone deleted or damaged it: readers
raise a clear error, ``castlist run`` and ``castlist doctor --repair`` clear the mark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LINEFEAT = ("linefeat", "v1")
"""(modality, model) of the per-line acoustic facts the voice stage stores beside the vectors,
which the confidence model reads."""
LINE_FEATURES = ("duration", "rms_db", "active_ratio")
"""The columns of the LINEFEAT file, in order."""

# Which files each stage writes, keyed by line order (row i = line i of the episode). A stage
# not listed here (an imported modality) writes one file named after itself.
STAGE_FILES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "voice": (("voice", None), LINEFEAT),  # None: the stage's key (the model)
    "faces": (("face", None), ("facemeta", None)),
    # the vocals wav lives in cache/separated, not in vectors/: separate.prepare checks it
    "separate": (),
}


OPTIONAL_FILES = {LINEFEAT}
"""Files readers can do without (imported voice vectors come without line features): a
missing one loads as None; ``doctor`` still has ``run`` remake it for media episodes."""


def stage_files(stage: str, key: str) -> list[tuple[str, str]]:
    """(modality, model) of every vectors file the stage (stage, key) writes."""
    return [
        (m, key if model is None else model)
        for m, model in STAGE_FILES.get(stage, ((stage, None),))
    ]


def stage_of_file(modality: str, model: str) -> list[tuple[str, str | None]]:
    """(stage, key or None for any key) of the stages that write this vectors file."""
    found = [
        (stage, model if m_model is None else None)
        for stage, files in STAGE_FILES.items()
        for m, m_model in files
        if m == modality and (m_model is None or m_model == model)
    ]
    return found or [(modality, model)]


def read_vectors_file(path: Path, n_rows: int) -> tuple[np.ndarray | None, str]:
    """Load a vectors file and say what is wrong with it (``""`` when nothing is)."""
    try:
        X = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        return None, f"cannot be read as a .npy array ({type(exc).__name__}: {exc})"
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        return None, f"has shape {getattr(X, 'shape', '?')}, expected (lines, dim)"
    if X.shape[0] != n_rows:
        return None, f"has {X.shape[0]} rows but the episode has {n_rows} lines"
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        return None, f"has dtype {X.dtype}, expected numbers"
    if not np.isfinite(X).all():
        n_bad = int((~np.isfinite(X)).any(axis=1).sum())
        return None, f"has NaN or infinite values in {n_bad} rows"
    return X, ""
