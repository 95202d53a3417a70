"""Grouping on acted voices: per voice model and method, beside the LibriSpeech pseudo-episodes.

    python benchmarks/bench_acted.py --work bench-out/acted       # build once, report
    python benchmarks/bench_acted.py --cached --libri bench-out/grouping --json out.json
    python benchmarks/bench_acted.py --more --work bench-out/acted-more   # twelve more episodes

Episodes (benchmarks/acted_data.py): 22 game characters on Durarara!! 03, 5 VTubers on
Toradora! 13, 5 VTubers + 3 game characters on Toradora! 14, each at 15 and 5 dB music+noise;
one acted clip per line, no clip twice. Per episode and voice model: same/different-speaker
mean cosine, leave-one-out 1-NN accuracy; per method: number of groups, edge P/R/F1, B-cubed
F1, operations/100 lines. Methods: castlist (ReliableFirstClustering's defaults, what ``castlist run``
does without hand labels), castlist with the calibration switched off (the thresholds tuned on
LibriSpeech, i.e. castlist before issue 10), plain HDBSCAN, the Speaker-Grouping-style AHC, and
plain average-linkage HAC at its best threshold in hindsight (best edge F1 and best ops/100,
each picked separately on the episode's own truth: a bound no unsupervised method can know).
``--libri`` adds the same rows for the LibriSpeech/AMI pseudo-episodes of
benchmarks/bench_grouping.py (mean over its episodes).

Hooks for other benchmarks: :func:`load_acted` (the cached episodes as
``benchmarks.grouping_data.Season`` objects), :func:`episode_items` (per episode: name, X,
lines frame with ``truth``, integer truth codes), :func:`voice_stats`, :func:`method_labels`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import acted_data  # noqa: E402
from benchmarks.baselines import HDBSCANBaseline, SpeakerGroupingBaseline  # noqa: E402
from benchmarks.grouping_data import Season, load  # noqa: E402
from grouping.cluster import ReliableFirstClustering  # noqa: E402
from grouping.confidence import heuristic_reliability  # noqa: E402
from grouping.metrics import bcubed, edge_prf, operations  # noqa: E402
from grouping.vectors import normalize_rows  # noqa: E402
from pipelines.stages.season import episode_constraints  # noqa: E402

log = logging.getLogger("bench_acted")

MODELS = ("campplus", "anime", "ecapa")
HAC_THRESHOLDS = np.round(np.arange(-0.3, 0.951, 0.01), 2)
# castlist before issue 10: the same clustering with thresholds fixed at the LibriSpeech tuning
UNCALIBRATED = {"calibrate": False}
# the calibration without its weak-evidence path (thresholds only raised, tail at 1.2 spreads):
# what it did before weak episodes were centred
RAISE_ONLY = {"weak_strategy": "raise", "tail_z": 1.2}


def load_acted(work: Path = acted_data.DEFAULT_WORK) -> list[Season]:
    """Every cached acted episode under ``work`` (one Season of one episode each)."""
    return [load(r) for r in acted_data.cached(work)]


def episode_items(
    seasons: list[Season],
) -> Iterator[tuple[str, np.ndarray, pd.DataFrame, np.ndarray]]:
    """(name, voice vectors of the speech lines, their lines frame with ``truth``, truth codes)."""
    for s in seasons:
        for ep, X, df in zip(s.episodes, s.X, s.frames, strict=True):
            name = s.name if len(s.episodes) == 1 else f"{s.name}/{ep}"
            yield name, X, df, pd.factorize(df["truth"].fillna("?"))[0]


def voice_stats(X: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """Same/different-speaker mean cosine over all pairs, leave-one-out 1-NN accuracy."""
    Xn = normalize_rows(X)
    S = Xn @ Xn.T
    same = t[:, None] == t[None, :]
    off = ~np.eye(len(t), dtype=bool)
    np.fill_diagonal(S, -np.inf)
    nn = S.argmax(1)
    np.fill_diagonal(S, 0.0)
    return {
        "cos_same": float(S[same & off].mean()) if (same & off).any() else float("nan"),
        "cos_diff": float(S[~same].mean()) if (~same).any() else float("nan"),
        "loo_1nn": float((t[nn] == t).mean()),
    }


def scores(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    e = edge_prf(t, p)
    return {
        "groups": int(len(np.unique(p[p >= 0])) + np.sum(p < 0)),
        "P": e["precision"],
        "R": e["recall"],
        "F1": e["f1"],
        "B3": bcubed(t, p)["f1"],
        "ops": operations(t, p)["per_100_lines"],
    }


def castlist_labels(X: np.ndarray, df: pd.DataFrame, params: dict | None = None) -> np.ndarray:
    """What pipelines.stages.season.group_season does to one episode without hand labels."""
    rel = heuristic_reliability((df["end"] - df["start"]).to_numpy(dtype=float))
    cons = episode_constraints(df, {}, {}, [])
    return ReliableFirstClustering(**(params or {})).fit_predict(X, rel, cons)


def hac_rows(X: np.ndarray, t: np.ndarray) -> list[dict]:
    """Plain average-linkage HAC over all lines at its best threshold in hindsight."""
    Xn = normalize_rows(X)
    Z = linkage(pdist(Xn, metric="cosine"), method="average")
    sweep = []
    for thr in HAC_THRESHOLDS:
        lab = fcluster(Z, t=1.0 - thr, criterion="distance") - 1
        sweep.append({"threshold": float(thr), **scores(t, lab)})
    sw = pd.DataFrame(sweep)
    best_f1 = sw.loc[sw["F1"].idxmax()]
    best_ops = sw.loc[sw["ops"].idxmin()]
    return [
        {"method": "HAC, best F1 threshold (hindsight)", **best_f1.to_dict()},
        {"method": "HAC, best ops threshold (hindsight)", **best_ops.to_dict()},
    ]


def method_rows(X: np.ndarray, df: pd.DataFrame, t: np.ndarray) -> list[dict]:
    dur = (df["end"] - df["start"]).to_numpy(dtype=float)
    labels = {
        "castlist": castlist_labels(X, df),
        "castlist, raise-only calibration": castlist_labels(X, df, RAISE_ONLY),
        "castlist, uncalibrated (before)": castlist_labels(X, df, UNCALIBRATED),
        "HDBSCAN": HDBSCANBaseline().fit_predict(X),
        "Speaker-Grouping AHC": SpeakerGroupingBaseline().fit_predict(
            X, heuristic_reliability(dur)
        ),
    }
    rows = [{"method": m, **scores(t, p)} for m, p in labels.items()]
    return rows + hac_rows(X, t)


def method_labels(X: np.ndarray, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Hook: the unsupervised labels of castlist (as configured now) and of the baselines."""
    return {
        "castlist": castlist_labels(X, df),
        "castlist, uncalibrated (before)": castlist_labels(X, df, UNCALIBRATED),
        "HDBSCAN": HDBSCANBaseline().fit_predict(X),
    }


def model_seasons(seasons: list[Season], model: str) -> list[Season] | None:
    """The seasons with vectors of ``model`` (embedded into the cached workspace when missing
    and the model can load here); None when it cannot."""
    from pipelines.errors import CastlistError
    from pipelines.stages.run import embed_episode, voice_embedder
    from pipelines.store.workspace import Workspace

    try:
        embedder = voice_embedder(model)
    except (CastlistError, ImportError, OSError, ValueError) as exc:
        log.warning("%s: not measured (%s)", model, str(exc).splitlines()[0][:160])
        return None
    out = []
    for s in seasons:
        ws = Workspace.open(s.root / "ws")
        Xs = []
        for ep, df in zip(s.episodes, s.frames, strict=True):
            Xs.append(embed_episode(ws, ep, embedder)[df["idx"].to_numpy()])
        ws.close()
        out.append(
            Season(s.name, s.series, s.root, s.episodes, Xs, s.feats, s.frames, embedder.name)
        )
    return out


def run(seasons: list[Season], model: str, corpus: str) -> pd.DataFrame:
    rows = []
    for name, X, df, t in episode_items(seasons):
        stats = voice_stats(X, t)
        base = {"corpus": corpus, "model": model, "episode": name, "lines": len(t),
                "voices": int(t.max() + 1), **stats}  # fmt: skip
        rows += [{**base, **r} for r in method_rows(X, df, t)]
        log.info("%s %s done", model, name)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", default=str(acted_data.DEFAULT_WORK))
    ap.add_argument("--data", default=str(acted_data.DATA))
    ap.add_argument("--cached", action="store_true", help="only read what is built")
    ap.add_argument(
        "--more", action="store_true", help="the twelve more episodes (acted_data.MORE_SPECS)"
    )
    ap.add_argument("--libri", help="bench_grouping cache (e.g. bench-out/grouping)")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--json", help="also write every row here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    work = Path(args.work)
    specs = acted_data.MORE_SPECS if args.more else acted_data.SPECS
    roots = (
        acted_data.cached(work) if args.cached else acted_data.build(work, Path(args.data), specs)
    )
    acted = [load(r) for r in roots]
    libri = []
    if args.libri:
        from benchmarks.grouping_data import cached

        libri = [load(r) for r in cached(Path(args.libri))]
    tables = []
    missing = []
    for model in args.models:
        if model == "campplus":
            a, lb = acted, libri
        else:
            a = model_seasons(acted, model)
            lb = model_seasons(libri, model) if a is not None and libri else []
        if a is None:
            missing.append(model)
            continue
        tables.append(run(a, model, "acted"))
        if lb:
            tables.append(run(lb, model, "librispeech"))
    res = pd.concat(tables, ignore_index=True)
    fmt = {"float_format": lambda v: f"{v:.3f}"}
    pd.set_option("display.width", 200)
    cols = ["groups", "P", "R", "F1", "B3", "ops"]
    for (corpus, model), part in res.groupby(["corpus", "model"], sort=False):
        print(f"\n== {corpus}, {model}: voice evidence per episode ==")
        print(part.groupby("episode", sort=False)[["lines", "voices", "cos_same", "cos_diff", "loo_1nn"]].first().to_string(**fmt))  # fmt: skip
        print(f"\n== {corpus}, {model}: per episode ==")
        print(part.set_index(["episode", "method"])[cols].to_string(**fmt))
        print(f"\n== {corpus}, {model}: mean over {part['episode'].nunique()} episodes ==")
        print(part.groupby("method", sort=False)[["cos_same", "cos_diff", "loo_1nn", *cols]].mean().to_string(**fmt))  # fmt: skip
    for model in missing:
        print(f"\n{model}: not measured here: no weights offline")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"rows": res.to_dict("records"), "not_measured": missing}, indent=1, default=float
            ),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
