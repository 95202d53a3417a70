"""Train the shipped line-confidence model on real CAM++ vectors of the pseudo-episodes.

    python benchmarks/train_confidence.py              # builds bench-out/grouping if needed
    python benchmarks/train_confidence.py --target centroid --no-save

Features: grouping.confidence.episode_features (duration, kNN similarity, margin, mutual kNN,
neighbour coherence) plus the voice stage's per-line acoustics (rms_db, active_ratio).
Target (default ``knn``): do at least half of the line's 10 nearest lines in its episode share
its true voice (grouping.confidence.reliability_targets). Writes grouping/data/confidence_v1.json,
docs/confidence_calibration.md and docs/confidence_reliability.png, and prints a held-out-series
calibration table (the model is fitted on the other series, then on all for shipping).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.grouping_data import MORE_CONFIGS, build, cached, load  # noqa: E402
from grouping.confidence import (  # noqa: E402
    LineConfidence,
    default_model_path,
    episode_features,
    reliability_targets,
)
from grouping.vectors import normalize_rows  # noqa: E402

log = logging.getLogger("train_confidence")

QUALITY = ("duration", "log_duration", "rms_db", "active_ratio")
"""Features of the line itself (``--features quality``). The shipped model also reads the
line's kNN neighbourhood, which predicts grouping success far better (held-out AUC ~0.9 vs
~0.7) but marks every line of a rare character as unreliable (a voice heard 3 times has no
dense neighbourhood); that is why the clustering core is still chosen by duration (see
pipelines/stages/season.py, ``core_by``)."""


def centroid_targets(X: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1 where the line is closer to its own voice's centroid (itself left out) than to any
    other voice's centroid: it would attach to the right group."""
    Xn = normalize_rows(X, dtype=None)
    codes, t = np.unique(truth, return_inverse=True)
    S = np.zeros((len(codes), X.shape[1]))
    np.add.at(S, t, Xn)
    cnt = np.bincount(t, minlength=len(codes)).astype(float)
    sims = Xn @ S.T  # sum of similarities to each voice
    own = (sims[np.arange(len(t)), t] - 1.0) / np.maximum(cnt[t] - 1, 1)
    other = sims / np.maximum(cnt, 1)
    other[np.arange(len(t)), t] = -np.inf
    y = (own > other.max(1)).astype(np.int64)
    y[cnt[t] < 2] = -1  # a voice heard once has no centroid to attach to
    return y


def season_table(season, target: str):
    """Per line of the season: features, target, series name."""
    Fs, ys = [], []
    names = None
    for X, F_ac, df in zip(season.X, season.feats, season.frames, strict=True):
        truth = df["truth"].fillna("?").to_numpy()
        dur = (df["end"] - df["start"]).to_numpy(dtype=float)
        extra = {"rms_db": F_ac[:, 1], "active_ratio": F_ac[:, 2]} if F_ac is not None else {}
        F, names, idx = episode_features(X, dur, **extra)
        codes = np.unique(truth, return_inverse=True)[1]
        y = reliability_targets(codes, idx) if target == "knn" else centroid_targets(X, truth)
        Fs.append(F)
        ys.append(y)
    return np.concatenate(Fs), np.concatenate(ys), names


def calibration(
    p: np.ndarray, y: np.ndarray, bins: int = 10
) -> list[tuple[float, float, float, int]]:
    edges = np.linspace(0, 1, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (p >= lo) & (p < hi if hi < 1 else p <= hi)
        if m.any():
            out.append((lo, float(p[m].mean()), float(y[m].mean()), int(m.sum())))
    return out


def ece(p: np.ndarray, y: np.ndarray) -> float:
    return float(sum(n * abs(mp - fy) for _, mp, fy, n in calibration(p, y)) / len(p))


def auc(p: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", default=str(REPO / "bench-out" / "grouping"))
    ap.add_argument("--target", choices=["knn", "centroid"], default="knn")
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument(
        "--features", choices=["quality", "all"], default="all",
        help="quality: the line's own acoustics only; all: plus its kNN neighbourhood",
    )  # fmt: skip
    ap.add_argument("--out", help="write the model here instead of the shipped path (no docs)")
    ap.add_argument("--cached", action="store_true", help="use only seasons already built")
    ap.add_argument("--no-save", action="store_true", help="print only; do not write files")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work = Path(args.work)
    seasons = [
        load(r) for r in (cached(work) if args.cached else build(work, configs=MORE_CONFIGS))
    ]
    data = {}
    for s in seasons:
        F, y, names = season_table(s, args.target)
        if args.features == "quality":
            cols = [i for i, n in enumerate(names) if n in QUALITY]
            F, names = F[:, cols], [names[i] for i in cols]
        data.setdefault(s.series, []).append((F, y))
    series = sorted(data)
    held_p, held_y, held_dur = [], [], []
    print(f"target={args.target}  lines={sum(len(y) for v in data.values() for _, y in v)}")
    for s in series:
        Ftr = np.concatenate([F for o in series if o != s for F, _ in data[o]])
        ytr = np.concatenate([y for o in series if o != s for _, y in data[o]])
        Fte = np.concatenate([F for F, _ in data[s]])
        yte = np.concatenate([y for _, y in data[s]])
        model = LineConfidence(C=args.C, class_weight=None).fit(Ftr, ytr, names)
        keep = yte >= 0
        p = model.predict_proba(Fte[keep], names)
        held_p.append(p)
        held_y.append(yte[keep])
        held_dur.append(Fte[keep, names.index("duration")])
        print(f"  held out {s:<28} AUC {auc(p, yte[keep]):.3f}  ECE {ece(p, yte[keep]):.3f}")
    p, y, dur = np.concatenate(held_p), np.concatenate(held_y), np.concatenate(held_dur)
    from grouping.confidence import heuristic_reliability

    h = heuristic_reliability(dur)
    print(f"held-out overall: AUC {auc(p, y):.3f} ECE {ece(p, y):.3f}; "
          f"duration heuristic AUC {auc(h, y):.3f} ECE {ece(h, y):.3f}; base rate {y.mean():.3f}")  # fmt: skip
    table = calibration(p, y)
    Fall = np.concatenate([F for v in data.values() for F, _ in v])
    yall = np.concatenate([y for v in data.values() for _, y in v])
    final = LineConfidence(C=args.C, class_weight=None).fit(Fall, yall, names)
    print("weights (standardised): " + ", ".join(
        f"{n} {c:+.2f}" for n, c in zip(final.feature_names_, final.coef_, strict=True)))  # fmt: skip
    if args.no_save:
        return
    path = Path(args.out) if args.out else default_model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    final.save(path)
    if args.out:
        print(f"wrote {path}")
        return
    docs = REPO / "docs"
    lines = [
        "# Line-confidence model: reliability curve",
        "",
        "Reproduce: `python benchmarks/train_confidence.py` (writes grouping/data/confidence_v1.json,",
        "this file and confidence_reliability.png). Real CAM++ vectors of the pseudo-episodes in",
        f"bench-out/grouping ({len(seasons)} seasons, {len(yall)} lines, target `{args.target}`:",
        "at least half of a line's 10 nearest lines in its episode share its voice).",
        "Probabilities below are *held out by series*: each series scored by a model fitted on the",
        "other series.",
        "",
        f"AUC {auc(p, y):.3f}, expected calibration error {ece(p, y):.3f} "
        f"(duration heuristic: AUC {auc(h, y):.3f}, ECE {ece(h, y):.3f}); base rate {y.mean():.3f}.",
        "",
        "| bin | mean predicted | observed reliable | lines |",
        "|---|---|---|---|",
    ]
    lines += [f"| {lo:.1f}-{lo + 0.1:.1f} | {mp:.3f} | {fy:.3f} | {n} |" for lo, mp, fy, n in table]
    lines += ["", "![reliability curve](confidence_reliability.png)", ""]
    (docs / "confidence_calibration.md").write_text("\n".join(lines), encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    ax.plot([t[1] for t in table], [t[2] for t in table], "o-", label="LineConfidence (held out)")
    th = calibration(h, y)
    ax.plot([t[1] for t in th], [t[2] for t in th], "s:", label="duration heuristic")
    ax.set_xlabel("predicted P(reliable)")
    ax.set_ylabel("observed share reliable")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(docs / "confidence_reliability.png", dpi=100)
    print(f"wrote {path}, docs/confidence_calibration.md, docs/confidence_reliability.png")


if __name__ == "__main__":
    main()
