"""Scoring a workspace against ground truth (``castlist eval``, the demo, the benchmarks).

Truth is a table with ``speaker`` and either ``line_id`` or ``start``/``end`` (plus
``episode`` when the workspace has several). Lines are matched on times rounded to 10 ms, the
precision ASS files hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grouping.metrics import bcubed, edge_prf, label_accuracy, operations
from pipelines.errors import InputError
from pipelines.records import AMBIENT
from pipelines.workspace import Workspace


def read_truth(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: truth file not found")
    df = pd.read_csv(path) if path.suffix != ".jsonl" else pd.read_json(path, lines=True)
    if "speaker" not in df.columns or not (
        {"line_id"} <= set(df.columns) or {"start", "end"} <= set(df.columns)
    ):
        raise InputError(
            f"{path}: truth needs a 'speaker' column and 'line_id' or 'start'+'end' columns"
        )
    return df


def _key(df: pd.DataFrame, episode_col: str | None) -> pd.Series:
    ep = df[episode_col].astype(str) if episode_col else ""
    return (
        ep
        + "|"
        + df["start"].round(2).map("{:.2f}".format)
        + "|"
        + df["end"].round(2).map("{:.2f}".format)
    )


def align(ws: Workspace, truth: pd.DataFrame) -> pd.DataFrame:
    """Workspace speech lines joined with their true speaker (unmatched lines dropped)."""
    lines = ws.lines_frame(speech_only=True)
    if "line_id" in truth.columns:
        merged = lines.merge(
            truth[["line_id", "speaker"]].rename(columns={"line_id": "id", "speaker": "truth"}),
            on="id",
        )
    else:
        many = len(ws.episodes()) > 1
        if many and "episode" not in truth.columns:
            raise InputError("truth for a multi-episode workspace needs an 'episode' column")
        lines = lines.assign(key=_key(lines, "episode_id" if many else None))
        t = truth.assign(key=_key(truth, "episode" if many else None))[["key", "speaker"]]
        merged = lines.merge(
            t.rename(columns={"speaker": "truth"}).drop_duplicates("key"), on="key"
        )
    return merged[merged["truth"].notna() & (merged["truth"].astype(str) != "")]


def _codes(values: pd.Series, missing: set) -> np.ndarray:
    codes, _ = pd.factorize(values.astype(str))
    return np.where(values.isna() | values.astype(str).isin(missing), -1, codes)


def evaluate(ws: Workspace, truth: pd.DataFrame) -> dict[str, float]:
    df = align(ws, truth)
    df = df[df["truth"].astype(str) != AMBIENT]
    t = _codes(df["truth"], set())
    groups = _codes(df["character"], set())
    names = df["speaker"].where(df["speaker"] != AMBIENT)
    # predicted names in the truth's code space (unknown names count wrong, abstentions -1)
    lookup = {name: i for i, name in enumerate(pd.factorize(df["truth"].astype(str))[1])}
    named = np.array([lookup.get(n, -2) if isinstance(n, str) else -1 for n in names])
    edge = edge_prf(t, groups)
    ops = operations(t, groups)
    acc = label_accuracy(t, named)
    return {
        "lines": int(len(df)),
        "speakers": int(len(np.unique(t))),
        "groups": int(len(np.unique(groups[groups >= 0]))),
        "edge_precision": edge["precision"],
        "edge_recall": edge["recall"],
        "edge_f1": edge["f1"],
        "bcubed_f1": bcubed(t, groups)["f1"],
        "ops_per_100": ops["per_100_lines"],
        "moves": ops["moves"],
        "merges": ops["merges"],
        "name_accuracy": acc["accuracy"],
        "name_coverage": acc["coverage"],
    }


def format_report(scores: dict[str, float]) -> str:
    return "\n".join(
        [
            f"lines scored      {scores['lines']}",
            f"true speakers     {scores['speakers']}",
            f"groups found      {scores['groups']}",
            f"edge P / R / F1   {scores['edge_precision']:.3f} / {scores['edge_recall']:.3f} / {scores['edge_f1']:.3f}",
            f"B-cubed F1        {scores['bcubed_f1']:.3f}",
            f"operations/100    {scores['ops_per_100']:.1f} ({scores['moves']} moves + {scores['merges']} merges)",
            f"named lines       {scores['name_coverage']:.1%} covered, {scores['name_accuracy']:.1%} correct",
        ]
    )
