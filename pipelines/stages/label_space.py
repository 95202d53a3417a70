"""The season's label-learned voice space: reads hand labels and vectors from the workspace,
fits grouping.projection.LabelProjection on them, and hands the grouping stage one function to
apply to every episode's rows before clustering, linking and propagation.

Kept out of pipelines/stages/season.py so that the grouping stage gains a single call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from grouping.projection import LabelProjection
from pipelines.records import AMBIENT
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)

Fuse = Callable[[str, np.ndarray], np.ndarray]


def label_projection(
    ws: Workspace,
    voice_model: str,
    human: dict[str, str],
    fuse: Fuse | None = None,
    projection: LabelProjection | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """``rows -> rows`` in the space learned from ``human`` (line id -> name) over every
    episode's speech lines; the identity while there are too few repeated labels.

    ``fuse`` is the grouping stage's own ``(episode_id, voice rows) -> rows`` (faces fused in),
    so the projection is learned on exactly the vectors it will transform."""
    named = {lid: n for lid, n in human.items() if n != AMBIENT}
    if not named:
        return _identity
    fuse = fuse or (lambda episode_id, X: X)
    Xs, ys = [], []
    for episode in ws.episodes():
        X_all = ws.vectors.load(episode.id, "voice", voice_model)
        if X_all is None:
            continue
        df = ws.lines_frame(episode.id, speech_only=True)
        if df.empty:
            continue
        Xs.append(fuse(episode.id, X_all)[df["idx"].to_numpy()])
        ys.append(df["id"].map(lambda lid: named.get(lid, "")).to_numpy())
    if not Xs:
        return _identity
    names = np.concatenate(ys)
    codes = np.full(len(names), -1, np.int64)
    has = names != ""
    if has.any():
        _, codes[has] = np.unique(names[has], return_inverse=True)
    proj = (projection or LabelProjection()).fit(np.concatenate(Xs), codes)
    if proj.identity_:
        return _identity
    log.info(
        "voice space learned from %d hand labels (%d dof, shrinkage %.2f)",
        int(has.sum()), proj.dof_, proj.shrinkage_,
    )  # fmt: skip
    return proj.transform


def _identity(X: np.ndarray) -> np.ndarray:
    return X


identity = _identity
"""The projection that leaves vectors as they are (what :func:`label_projection` returns
without enough labels)."""


def is_identity(fn: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Whether ``fn`` (from :func:`label_projection`) leaves the vectors as they are."""
    return fn is _identity
