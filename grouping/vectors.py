"""Unit rows: the one place a vector, or each row of a matrix, is scaled to length 1.

Every cosine in castlist is a dot product of unit rows, so the embedders, the grouping
algorithms, the stages and the browser all normalise here and agree on the edge cases: a zero
row (a line without a vector) stays zero instead of becoming NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


def normalize_rows(X, dtype: DTypeLike | None = np.float32) -> np.ndarray:
    """A C-contiguous copy of ``X`` whose rows (its last axis) have unit length; zero rows stay
    zero.

    ``dtype`` float32 by default, what the kNN index and the stored vectors use; None keeps the
    input's floating type, for the float64 arithmetic of centroids and calibration.
    """
    X = np.asarray(X)
    if dtype is None:
        dtype = np.result_type(X.dtype, np.float32)
    X = np.array(X, dtype=dtype, copy=True, order="C")
    if X.ndim == 0:
        raise ValueError("expected a vector or a 2-d array of vectors, got a scalar")
    norms = np.linalg.norm(X, axis=-1, keepdims=True)
    np.divide(X, norms, out=X, where=norms > 0)
    return X


def centre_rows(X, by=None, dtype: DTypeLike | None = np.float32) -> np.ndarray:
    """Unit rows with the mean unit row removed (per value of ``by``, e.g. the episode of each
    row; None: one mean), then made unit again.

    Where the voice evidence is weak, what every line of an episode shares (the music bed, the
    language, the acted register) outweighs the speaker in the raw cosine; removing it leaves
    the differences between the lines."""
    Xn = normalize_rows(X, dtype=dtype)
    codes = (
        np.zeros(len(Xn), np.int64)
        if by is None
        else np.unique(np.asarray(by).astype(str), return_inverse=True)[1].ravel()
    )
    for c in np.unique(codes):
        rows = codes == c
        Xn[rows] -= Xn[rows].mean(0)
    return normalize_rows(Xn, dtype=dtype)
