"""Scoring a workspace against ground truth (``castlist eval``, the demo, the benchmarks).

Truth is a table with ``speaker`` and either ``line_id`` or ``start``/``end`` (plus
``episode`` when the workspace has several). Lines are matched on start and end times within
a small tolerance (ASS files hold centiseconds); truth rows that match nothing are counted and
reported, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grouping.metrics import bcubed, edge_prf, label_accuracy, operations
from pipelines.errors import InputError
from pipelines.records import AMBIENT
from pipelines.store.workspace import Workspace


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


TIME_TOLERANCE = 0.02
"""Seconds a truth row's start and end may each differ from a line's and still match it: ASS
files hold centiseconds, so truth written in milliseconds is up to 5 ms off (and rounding
both sides to 10 ms put such rows in different buckets)."""


def _match_times(lines: pd.DataFrame, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(line row, truth row) pairs, one to one, whose start and end both agree within
    :data:`TIME_TOLERANCE`; the closest pairs are matched first."""
    ls, le = lines["start"].to_numpy(float), lines["end"].to_numpy(float)
    ts, te = truth["start"].to_numpy(float), truth["end"].to_numpy(float)
    order = np.argsort(ls)
    ls_sorted = ls[order]
    cand = []
    for j in range(len(ts)):
        lo = np.searchsorted(ls_sorted, ts[j] - TIME_TOLERANCE, "left")
        hi = np.searchsorted(ls_sorted, ts[j] + TIME_TOLERANCE, "right")
        for i in order[lo:hi]:
            if abs(le[i] - te[j]) <= TIME_TOLERANCE:
                cand.append((abs(ls[i] - ts[j]) + abs(le[i] - te[j]), int(i), j))
    used_l, used_t, pairs = set(), set(), []
    for _, i, j in sorted(cand):
        if i not in used_l and j not in used_t:
            used_l.add(i)
            used_t.add(j)
            pairs.append((i, j))
    pairs.sort()
    return np.array([p[0] for p in pairs], int), np.array([p[1] for p in pairs], int)


def align(ws: Workspace, truth: pd.DataFrame) -> pd.DataFrame:
    """Workspace speech lines joined with their true speaker (column ``truth``).

    Truth rows that match no line are not scored; how many is kept in
    ``result.attrs["truth_unmatched"]`` so a report can say so."""
    lines = ws.lines_frame(speech_only=True)
    if "line_id" in truth.columns:
        t = truth[["line_id", "speaker"]].rename(columns={"line_id": "id", "speaker": "truth"})
        t = t.drop_duplicates("id")
        merged = lines.merge(t, on="id")
        unmatched = int((~t["id"].isin(lines["id"])).sum())
    else:
        many = len(ws.episodes()) > 1
        if many and "episode" not in truth.columns:
            raise InputError("truth for a multi-episode workspace needs an 'episode' column")
        t = truth.assign(_ep=truth["episode"].astype(str) if many else "")
        t = t.drop_duplicates(["_ep", "start", "end"]).reset_index(drop=True)
        lines = lines.assign(_ep=lines["episode_id"].astype(str) if many else "")
        parts, unmatched = [], 0
        for ep, tp in t.groupby("_ep", sort=False):
            lp = lines[lines["_ep"] == ep].reset_index(drop=True)
            li, ti = _match_times(lp, tp.reset_index(drop=True))
            unmatched += len(tp) - len(ti)
            parts.append(lp.iloc[li].assign(truth=tp["speaker"].to_numpy()[ti]))
        merged = (
            pd.concat(parts, ignore_index=True).drop(columns="_ep")
            if parts
            else lines.drop(columns="_ep").iloc[:0]
        )
        if "truth" not in merged.columns:
            merged = merged.assign(truth=pd.Series(dtype=object))
    out = merged[merged["truth"].notna() & (merged["truth"].astype(str) != "")]
    out.attrs["truth_unmatched"] = unmatched
    return out


def _codes(values: pd.Series, missing: set) -> np.ndarray:
    codes, _ = pd.factorize(values.astype(str))
    return np.where(values.isna() | values.astype(str).isin(missing), -1, codes)


def evaluate(ws: Workspace, truth: pd.DataFrame) -> dict[str, float]:
    df = align(ws, truth)
    unmatched = df.attrs.get("truth_unmatched", 0)
    df = df[df["truth"].astype(str) != AMBIENT]
    t = _codes(df["truth"], set())
    # the character id, not its shown name: two characters named alike are still two groups
    groups = _codes(df["character_id"].fillna(df["character"]), set())
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
        "truth_unmatched": int(unmatched),
    }


def format_report(scores: dict[str, float]) -> str:
    named = (
        f"{scores['name_coverage']:.1%} covered, {scores['name_accuracy']:.1%} correct"
        if scores["name_coverage"] > 0
        else "nothing named yet (name a line or a group with `castlist label`)"
    )
    unmatched = scores.get("truth_unmatched", 0)
    return "\n".join(
        [
            f"lines scored      {scores['lines']}",
            f"true speakers     {scores['speakers']}",
            f"groups found      {scores['groups']}",
            f"edge P / R / F1   {scores['edge_precision']:.3f} / {scores['edge_recall']:.3f} / {scores['edge_f1']:.3f}",
            f"B-cubed F1        {scores['bcubed_f1']:.3f}",
            f"operations/100    {scores['ops_per_100']:.1f} ({scores['moves']} moves + {scores['merges']} merges)",
            f"named lines       {named}",
        ]
        + (
            [f"truth rows        {unmatched} matched no line (times off by more than 20 ms?)"]
            if unmatched
            else []
        )
    )
