"""Grouping time for 1k / 10k / 100k synthetic lines, and quality against the baselines.

Not a test. Run from the repo root: ``python benchmarks/bench_grouping_speed.py [--sizes ...]``.
Grouping runs per episode (~330 lines each, as castlist does), then the roster linker joins
the episode groups into season characters.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines import HDBSCANBaseline, SpeakerGroupingBaseline
from benchmarks.synthetic import make_episode, make_season
from grouping.cluster import ReliableFirstClustering
from grouping.confidence import heuristic_reliability
from grouping.constraints import Constraints
from grouping.knn import knn, knn_search
from grouping.link import RosterLinker
from grouping.metrics import bcubed, edge_prf, operations


def group_season(s, clusterer) -> np.ndarray:
    """Per-episode clustering then cross-episode linking; season-wide character per line."""
    labels = np.full(len(s.X), -1, np.int64)
    cents, eps, sizes = [], [], []
    offset = 0
    for ep in np.unique(s.episode):
        rows = np.flatnonzero(s.episode == ep)
        cons = Constraints.from_intervals(s.start[rows], s.end[rows])
        lab = clusterer.fit(s.X[rows], heuristic_reliability(s.duration[rows]), cons).labels_
        g = lab.max(initial=-1) + 1
        if g:
            sums = np.zeros((g, s.X.shape[1]))
            np.add.at(sums, lab[lab >= 0], s.X[rows][lab >= 0])
            cents.append(sums)
            eps.append(np.full(g, ep))
            sizes.append(np.bincount(lab[lab >= 0], minlength=g))
        labels[rows] = np.where(lab >= 0, lab + offset, -1)
        offset += g
    roster = RosterLinker().fit_predict(
        np.vstack(cents), np.concatenate(eps), np.concatenate(sizes)
    )
    return np.where(labels >= 0, roster[np.maximum(labels, 0)], -1)


def speed(sizes: list[int], with_knn: bool, calibrate: bool = True) -> None:
    print(f"{'lines':>8} {'episodes':>8} {'group+link s':>12} {'lines/s':>9} {'edge F1':>8}")
    for n in sizes:
        s = make_season(max(1, math.ceil(n / 293)), seed=7)  # ~293 lines per synthetic episode
        t = time.perf_counter()
        season = group_season(s, ReliableFirstClustering(calibrate=calibrate))
        dt = time.perf_counter() - t
        f1 = edge_prf(s.speaker, season)["f1"]
        print(
            f"{len(s.X):>8} {len(np.unique(s.episode)):>8} {dt:>12.2f} {len(s.X) / dt:>9.0f} {f1:>8.3f}"
        )
        if with_knn:
            t = time.perf_counter()
            idx, _ = knn(s.X, 15)
            print(
                f"{'':>8} global kNN graph (k=15, {'exact' if len(s.X) <= 20000 else 'HNSW'}): "
                f"{time.perf_counter() - t:.2f} s, recall@15 against exact search "
                f"{recall_at_k(s.X, idx, 15):.4f} (500 sampled lines)"
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"{'':>8} peak memory of this process so far: {peak:.2f} GB")


def recall_at_k(X: np.ndarray, idx: np.ndarray, k: int, n_queries: int = 500) -> float:
    """Share of the true k nearest neighbours (exact inner-product search, self excluded) that
    the graph ``idx`` holds, on ``n_queries`` sampled rows."""
    rows = np.random.default_rng(0).choice(len(X), min(n_queries, len(X)), replace=False)
    true, _ = knn_search(X[rows], X, k + 1, exact=True)
    hits = 0
    for r, t in zip(rows, true, strict=True):
        t = [j for j in t if j != r][:k]
        hits += len(set(t) & set(idx[r].tolist()))
    return hits / (len(rows) * k)


def quality(n_episodes: int) -> None:
    methods = {
        "ReliableFirst (ahc)": lambda: ReliableFirstClustering(),
        "ReliableFirst (hdbscan)": lambda: ReliableFirstClustering(method="hdbscan", min_samples=1),
        "SpeakerGrouping baseline": lambda: SpeakerGroupingBaseline(),
        "HDBSCAN baseline": lambda: HDBSCANBaseline(),
    }
    print(f"\nper-episode quality, mean over {n_episodes} synthetic episodes")
    print(
        f"{'method':<26} {'edgeP':>6} {'edgeR':>6} {'edgeF1':>6} {'B3F1':>6} {'ops/100':>7} {'CLviol':>6}"
    )
    for name, make in methods.items():
        rows = []
        for seed in range(n_episodes):
            e = make_episode(seed=100 + seed)
            cons = Constraints.from_intervals(e.start, e.end, e.episode)
            lab = make().fit(e.X, heuristic_reliability(e.duration), cons).labels_
            p = edge_prf(e.speaker, lab)
            rows.append(
                [
                    p["precision"],
                    p["recall"],
                    p["f1"],
                    bcubed(e.speaker, lab)["f1"],
                    operations(e.speaker, lab)["per_100_lines"],
                    cons.violates(lab)["cannot_link"],
                ]
            )
        m = np.mean(rows, 0)
        print(
            f"{name:<26} {m[0]:>6.3f} {m[1]:>6.3f} {m[2]:>6.3f} {m[3]:>6.3f} {m[4]:>7.2f} {m[5]:>6.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument(
        "--episodes", type=int, default=20, help="episodes for the quality table (0: none)"
    )
    ap.add_argument("--knn", action="store_true", help="also time a global kNN graph")
    ap.add_argument(
        "--calibrate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the per-episode similarity calibration castlist ships with (--no-calibrate: the "
        "tuned thresholds as they are, to see what the calibration costs)",
    )
    args = ap.parse_args()
    speed(args.sizes, args.knn, args.calibrate)
    if args.episodes > 0:
        quality(args.episodes)


if __name__ == "__main__":
    main()
