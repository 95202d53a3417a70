"""``castlist faces WS``: group the season's on-screen faces so a person can name characters by
face, and draw them as a contact sheet.

Only lines whose face the fusion rule trusts (one clear, consistent face) take part. Faces are
grouped by average-linkage clustering on cosine distance, cut where the model's same-person
cosines end (SFace: same person ~0.7, different ~0.1; the anime colour descriptor sits higher
for everyone). The sheet is ``faces.png`` in the workspace: a row per face group, largest
first, its most typical faces first, each row labelled with the group and the voice characters
its lines currently belong to.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grouping.vectors import normalize_rows
from pipelines.errors import WorkspaceError
from pipelines.stages.faces import MODEL_META, load_faces, reliable_rows, thumb_path
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)

SHEET_NAME = "faces.png"
CUT_SIMILARITY = {"live": 0.4, "anime": 0.8}
"""Average-linkage cosine at which merging stops, per style (anime colour descriptors of
different characters still share skin and line colours, so their cosines run high)."""
TILE = 96
PER_ROW = 10
LABEL_W = 170


@dataclass(frozen=True)
class FaceGroups:
    """Face groups of a season: ``line_ids`` with their ``labels`` (-1 for none)."""

    line_ids: list[str]
    labels: np.ndarray
    vectors: np.ndarray


def collect(ws: Workspace, model: str) -> tuple[list[str], np.ndarray]:
    """Line ids and face vectors of every line with a reliable face, in season order."""
    ids: list[str] = []
    rows: list[np.ndarray] = []
    for episode in ws.episodes():
        faces = load_faces(ws, episode.id, model)
        if faces is None:
            continue
        face, meta = faces
        keep = reliable_rows(meta)
        by_idx = {ln.idx: ln.id for ln in ws.lines(episode.id)}
        for idx in np.flatnonzero(keep):
            ids.append(by_idx[int(idx)])
            rows.append(face[idx])
    vectors = np.stack(rows).astype(np.float32) if rows else np.zeros((0, 1), np.float32)
    return ids, vectors


def group_faces(vectors: np.ndarray, cut_similarity: float) -> np.ndarray:
    """Average-linkage groups on cosine distance; one face is its own group."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    X = normalize_rows(vectors, dtype=None)
    ahc = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage="average",
        distance_threshold=1.0 - cut_similarity,
    )
    labels = ahc.fit_predict(X)
    # number groups by size, largest first, so the sheet and the summary read top-down
    order = np.argsort(-np.bincount(labels), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels]


def _style_of(model: str) -> str:
    return "anime" if model.startswith("animeface") else "live"


def draw_sheet(
    ws: Workspace, groups: FaceGroups, path: Path, characters: dict[str, str] | None = None
) -> Path:
    """A PNG with one row per face group: its label, then up to PER_ROW thumbnails, most typical
    (closest to the group's mean face) first."""
    from PIL import Image, ImageDraw

    characters = characters or {}
    labels = groups.labels
    ids = np.array(groups.line_ids)
    n_groups = int(labels.max()) + 1 if labels.size else 0
    width = LABEL_W + PER_ROW * (TILE + 4) + 4
    height = max(1, n_groups) * (TILE + 8) + 8
    sheet = Image.new("RGB", (width, height), (245, 245, 245))
    draw = ImageDraw.Draw(sheet)
    if n_groups == 0:
        draw.text((8, 8), "no clear faces on screen in this workspace", fill=(0, 0, 0))
    for g in range(n_groups):
        members = np.flatnonzero(labels == g)
        centre = groups.vectors[members].mean(axis=0)
        members = members[np.argsort(-(groups.vectors[members] @ centre), kind="stable")]
        y = 8 + g * (TILE + 8)
        voices = Counter(characters.get(lid) for lid in ids[members] if characters.get(lid))
        voice_text = ", ".join(f"{c} {n}" for c, n in voices.most_common(2))
        draw.text((8, y + 4), f"face group F{g:02d}", fill=(0, 0, 0))
        draw.text((8, y + 22), f"{len(members)} line{'s' * (len(members) != 1)}", fill=(60, 60, 60))
        if voice_text:
            draw.text((8, y + 40), f"voice: {voice_text}", fill=(60, 60, 60))
        for k, m in enumerate(members[:PER_ROW]):
            x = LABEL_W + k * (TILE + 4)
            thumb = thumb_path(ws, ids[m])
            if thumb.is_file():
                with Image.open(thumb) as img:
                    tile = img.convert("RGB")
                    tile.thumbnail((TILE, TILE))
                    sheet.paste(tile, (x + (TILE - tile.width) // 2, y + (TILE - tile.height) // 2))
            else:
                draw.rectangle((x, y, x + TILE, y + TILE), outline=(180, 180, 180))
        if len(members) > PER_ROW:
            draw.text((width - 40, y + TILE - 14), f"+{len(members) - PER_ROW}", fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    sheet.save(tmp)
    tmp.replace(path)
    return path


def cluster_faces(ws: Workspace, cut_similarity: float | None = None) -> str:
    """Group the season's on-screen faces, write ``faces.png`` and return a one-paragraph
    summary for the CLI."""
    model = ws.get_meta(MODEL_META) or ""
    if not model:
        raise WorkspaceError(
            f"{ws.root}: no face vectors yet; run `castlist run {ws.root}` on video episodes "
            "with faces on (the default) first"
        )
    cut = CUT_SIMILARITY[_style_of(model)] if cut_similarity is None else cut_similarity
    ids, vectors = collect(ws, model)
    labels = group_faces(vectors, cut)
    groups = FaceGroups(ids, labels, vectors)
    characters = {lid: ch for lid, ch in zip(*_characters(ws), strict=True)}
    path = draw_sheet(ws, groups, ws.root / SHEET_NAME, characters)
    if not ids:
        return f"no clear faces on screen in {ws.root}; contact sheet: {path}"
    sizes = np.bincount(labels)
    top = ", ".join(f"F{g:02d} ({n})" for g, n in enumerate(sizes[:12]))
    n_lines = sum(len(ws.lines(e.id, speech_only=True)) for e in ws.episodes())
    log.info("faces: %d faces in %d groups", len(ids), len(sizes))
    return (
        f"{len(ids)} of {n_lines} speech lines show one clear face; {len(sizes)} face groups "
        f"({int(np.sum(sizes == 1))} single faces): {top}\ncontact sheet: {path}"
    )


def _characters(ws: Workspace) -> tuple[list[str], list[str]]:
    df = ws.lines_frame(speech_only=True)
    name = df["speaker"].where(df["speaker"].notna(), df["character"])
    keep = name.notna()
    return df["id"][keep].tolist(), name[keep].astype(str).tolist()
