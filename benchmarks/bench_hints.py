"""Names from subtitle hints, before any human action, on real CAM++ vectors of pseudo-episodes.

    python benchmarks/bench_hints.py --work bench-out/grouping

For each cached season (see benchmarks/grouping_data.py; read only: each run works on a copy of
the database and vectors) a share of the speech lines (10%, 30%, 100%) keeps its
character name from the named ASS as a ``name_hint``, the rest none, and castlist's real
regroup (``group_season``) runs with no hand label. Reported per share: lines named correctly
(speaker == the ASS character), lines named wrongly (the errors hints add), lines left unnamed.
Without hints every line stays unnamed, so the baseline is 0 named / 0 wrong.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.grouping_data import cached, load  # noqa: E402
from pipelines.stages.season import group_season  # noqa: E402
from pipelines.store.workspace import DB_NAME, Workspace  # noqa: E402

log = logging.getLogger("bench_hints")
SHARES = (0.1, 0.3, 1.0)


def _copy_workspace(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    # copied, not linked: the workspace refuses paths that resolve outside its folder
    shutil.copytree(src / "vectors", dst / "vectors")
    return dst


def run_share(root: Path, share: float, seed: int = 0) -> dict[str, float]:
    season = load(root)
    truth = pd.concat(season.frames, ignore_index=True)[["id", "character"]].dropna()
    # lines_frame has a "character" column of its own (the season character id)
    truth = truth.rename(columns={"character": "true_name"})
    rng = np.random.default_rng(seed)
    keep = rng.random(len(truth)) < share
    with tempfile.TemporaryDirectory(prefix="bench-hints-") as tmp:
        ws = Workspace.open(_copy_workspace(root / "ws", Path(tmp) / "ws"))
        with ws.conn:
            ws.conn.execute("UPDATE lines SET name_hint=''")
            ws.conn.executemany(
                "UPDATE lines SET name_hint=? WHERE id=?",
                [
                    (c, lid)
                    for lid, c, k in zip(truth["id"], truth["true_name"], keep, strict=True)
                    if k
                ],
            )
        group_season(ws, season.model)
        df = ws.lines_frame(speech_only=True).merge(truth, on="id")
        ws.close()
    named = df["speaker"].notna()
    right = named & (df["speaker"] == df["true_name"])
    n = len(df)
    return {
        "lines": n,
        "hinted": int(keep.sum()),
        "right": right.sum() / n,
        "wrong": (named & ~right).sum() / n,
        "unnamed": (~named).sum() / n,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", default=str(REPO / "bench-out" / "grouping"))
    ap.add_argument("--shares", type=float, nargs="+", default=list(SHARES))
    ap.add_argument("--seeds", type=int, default=1, help="draws of which lines keep names")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    roots = cached(Path(args.work))
    if not roots:
        raise SystemExit(f"no cached seasons under {args.work}; build them with bench_grouping.py")
    rows = []
    for root in roots:
        for share, seed in itertools.product(args.shares, range(args.seeds)):
            r = run_share(root, share, seed)
            rows.append({"season": root.name, "share": share, "seed": seed, **r})
            print(
                f"{root.name:40s} seed {seed} hints {share:>4.0%}: named right {r['right']:.1%}, "
                f"wrong {r['wrong']:.1%}, unnamed {r['unnamed']:.1%} ({r['lines']} lines)",
                flush=True,
            )
    df = pd.DataFrame(rows)
    print("\n| lines keeping their name | named right, no human action | named wrong | unnamed |")
    print("|---|---|---|---|")
    for share, g in df.groupby("share"):
        print(
            f"| {share:.0%} | {g['right'].mean():.1%} | {g['wrong'].mean():.1%} "
            f"| {g['unnamed'].mean():.1%} |"
        )
    n_lines = df[df["seed"] == 0].groupby("share")["lines"].sum().iloc[0]
    print(f"(mean over {len(roots)} seasons x {args.seeds} draws; {n_lines} lines)")


if __name__ == "__main__":
    main()
