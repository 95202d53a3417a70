"""Grouping benchmarks on real CAM++ vectors of pseudo-episodes (docs/benchmarks_grouping.md).

    python benchmarks/bench_grouping.py                   # build/cache (~15-20 min once), then all
    python benchmarks/bench_grouping.py --cached --only unsup labels
    python benchmarks/bench_grouping.py --more            # + a 20 dB casting per series
    python benchmarks/bench_grouping.py --cached --tune   # grid for the clustering defaults
    python benchmarks/bench_grouping.py --cached --only unsup labels --offset 0.8   # another scale

Seasons: the first 3 episodes of each series in ../shared/data/anime_subtitles_named, rendered
with LibriSpeech/AMI voices and music+noise at 10 dB (casting seed 0; --more adds 20 dB, seed 1),
added and embedded through castlist's own path, cached under --work. Truth = the voice of each
line. ``speed`` times the real regroup on synthetic vectors (1k/10k/100k lines).

Sections: ``unsup`` per-episode edge P/R/F1, B-cubed F1, ops/100 for castlist vs the
Speaker-Grouping-style AHC baseline vs plain HDBSCAN; ``labels`` 1 and 3 hand labels per
voice: accuracy at full coverage and at 95% coverage (castlist through group_season vs the
community kNN vote); ``season`` accuracy on episode N+1 before any human action after 1..N
are labelled; ``review`` simulated annotator, castlist's queue vs random order.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.baselines import HDBSCANBaseline, SpeakerGroupingBaseline, knn_label_vote  # noqa: E402
from benchmarks.grouping_data import (  # noqa: E402
    DEFAULT_CONFIGS,
    MORE_CONFIGS,
    build,
    cached,
    load,
    with_offset,
)
from grouping.cluster import ReliableFirstClustering  # noqa: E402
from grouping.confidence import default_confidence, episode_features, heuristic_reliability  # noqa: E402
from grouping.metrics import bcubed, edge_prf, operations  # noqa: E402
from grouping.propagate import NamePropagator  # noqa: E402
from pipelines.export.evaluate import align  # noqa: E402
from pipelines.stages.season import episode_constraints, group_season  # noqa: E402
from pipelines.store.vectors import VectorStore  # noqa: E402
from pipelines.store.workspace import Workspace  # noqa: E402

log = logging.getLogger("bench_grouping")


# ------------------------------------------------------------------ helpers
def reliability_of(X, df, F_ac, model):
    dur = (df["end"] - df["start"]).to_numpy(dtype=float)
    if model is None:
        return heuristic_reliability(dur)
    extra = {"rms_db": F_ac[:, 1], "active_ratio": F_ac[:, 2]} if F_ac is not None else {}
    F, names, _ = episode_features(X, dur, **extra)
    return model.predict_proba(F, names)


def scores(t, p) -> dict[str, float]:
    e = edge_prf(t, p)
    return {
        "P": e["precision"],
        "R": e["recall"],
        "F1": e["f1"],
        "B3": bcubed(t, p)["f1"],
        "ops": operations(t, p)["per_100_lines"],
    }


def episodes(seasons):
    for s in seasons:
        for ep, X, F, df in zip(s.episodes, s.X, s.feats, s.frames, strict=True):
            t = pd.factorize(df["truth"].fillna("?"))[0]
            yield s, ep, X, F, df, t


def castlist_episode(X, F, df, model, params=None, core_by="duration"):
    """What group_season does to one episode without human input."""
    rel = reliability_of(X, df, F, model if core_by == "confidence" else None)
    cons = episode_constraints(df, {}, {}, [])
    return ReliableFirstClustering(**(params or {})).fit_predict(X, rel, cons)


def mean_table(rows: list[dict], by: str = "method") -> pd.DataFrame:
    return pd.DataFrame(rows).groupby(by).mean(numeric_only=True)


# ------------------------------------------------------------------ sections
def run_unsup(seasons, model) -> pd.DataFrame:
    rows = []
    for s, _ep, X, F, df, t in episodes(seasons):
        dur = (df["end"] - df["start"]).to_numpy(dtype=float)
        methods = {
            "castlist": castlist_episode(X, F, df, model),
            "castlist, learned-confidence core": castlist_episode(
                X, F, df, model, core_by="confidence"
            ),
            "Speaker-Grouping AHC": SpeakerGroupingBaseline().fit_predict(
                X, heuristic_reliability(dur)
            ),
            "HDBSCAN": HDBSCANBaseline().fit_predict(X),
        }
        for name, labels in methods.items():
            rows.append({"method": name, "season": s.name, "series": s.series, **scores(t, labels)})
    return pd.DataFrame(rows)


def tune(seasons, model) -> None:
    grid = {
        "core_threshold": [0.35, 0.38, 0.4, 0.45],
        "attach_threshold": [-1.0, 0.25, 0.3],
        "reliable_attach_threshold": [0.45, 0.5],
        "top_m": [1, 3],
        "reliability_threshold": [0.5, 0.85, 0.95],
        "leftover_threshold": [0.45, 0.55],
    }
    keys = list(grid)
    eps = list(episodes(seasons))
    cache = {}
    for s, ep, X, F, df, _t in eps:
        cache[(s.name, ep)] = (reliability_of(X, df, F, None), episode_constraints(df, {}, {}, []))
    results = []
    for combo in itertools.product(*grid.values()):
        params = dict(zip(keys, combo, strict=True))
        params["reliable_attach_threshold"] = max(
            params["attach_threshold"], params["reliable_attach_threshold"]
        )
        for s, ep, X, _F, _df, t in eps:
            rel, cons = cache[(s.name, ep)]
            lab = ReliableFirstClustering(**params).fit_predict(X, rel, cons)
            results.append({**params, "series": s.series, **scores(t, lab)})
    res = pd.DataFrame(results)
    series = sorted(res["series"].unique())
    print("held-out-series choice (minimise ops/100 on the other series, their edge F1 >= 0.95):")
    for held in series:
        train = res[res["series"] != held].groupby(keys).mean(numeric_only=True)
        best = train[train["F1"] >= 0.95]["ops"].idxmin()
        test = res[res["series"] == held].groupby(keys).mean(numeric_only=True).loc[best]
        print(f"  {held:<28} best {dict(zip(keys, best, strict=True))}: held-out F1 "
              f"{test['F1']:.3f} ops {test['ops']:.2f}")  # fmt: skip
    allm = res.groupby(keys).mean(numeric_only=True).sort_values("ops")
    print(allm.head(8).to_string(float_format=lambda v: f"{v:.3f}"))


def _copy_ws(src: Path, dst: Path) -> Workspace:
    shutil.copytree(src, dst)
    return Workspace.open(dst)


def _pick_labels(df: pd.DataFrame, per_voice: int, rng) -> pd.DataFrame:
    """What an annotator does: name ``per_voice`` random lines (of at least 1 s when the
    voice has them) of every voice."""
    df = df.assign(dur=df["end"] - df["start"])
    picks = []
    for _, part in df.groupby("truth"):
        pool = part[part["dur"] >= 1.0]
        pool = pool if len(pool) else part
        picks.append(
            pool.sample(min(per_voice, len(pool)), random_state=int(rng.integers(1 << 30)))
        )
    return pd.concat(picks)


def run_labels(seasons, tmp: Path, per_voice_list=(1, 3)) -> pd.DataFrame:
    """castlist: group_season with hand labels, names with probabilities (no abstention), then
    accuracy over all lines and over the 95% most confident; baseline: kNN vote per episode."""
    rows = []
    for s in seasons:
        truth = pd.read_csv(s.root / "truth.csv")
        truth = truth.assign(speaker=truth["voice"])
        for per in per_voice_list:
            rng = np.random.default_rng(per)
            ws = _copy_ws(s.root / "ws", tmp / f"{s.name}-l{per}")
            aligned = align(ws, truth)
            for _ep_id, part in aligned.groupby("episode_id"):
                for r in _pick_labels(part, per, rng).itertuples():
                    ws.name_lines([r.id], str(r.truth), who="bench")
            group_season(
                ws, ws.get_meta("voice_model"), propagator=NamePropagator(abstain_below=0.0)
            )
            out = align(ws, truth)
            out = out[out["source"] != "human"]
            ok = (out["speaker"] == out["truth"]).to_numpy()
            conf = out["confidence"].fillna(0).to_numpy()
            keep = conf >= np.quantile(conf, 0.05)
            rows.append({"method": f"castlist, {per}/voice", "season": s.name,
                         "acc_full": ok.mean(), "acc_95": ok[keep].mean()})  # fmt: skip
            # community baseline: kNN vote from the same labelled lines, per episode
            human = ws.human_labels()
            okb, confb = [], []
            for X, df in zip(s.X, s.frames, strict=True):
                ids = ws.lines_frame(df["episode_id"].iloc[0], speech_only=True)["id"]
                names = ids.map(human).fillna("").to_numpy()
                codes, uniq = pd.factorize(pd.Series(names).where(names != "", None))
                pred = knn_label_vote(X, codes, k=5)
                unl = codes < 0
                tru = df["truth"].to_numpy()
                pn = np.array([uniq[c] if c >= 0 else "" for c in pred])
                okb.append((pn == tru)[unl])
                # vote share of the winner among the 5 nearest labels as its confidence
                from grouping.knn import knn_search

                lab = np.flatnonzero(~unl)
                idx, _ = knn_search(X[unl], X[lab], min(5, lab.size))
                confb.append((codes[lab][idx] == pred[unl][:, None]).mean(1))
            okb, confb = np.concatenate(okb), np.concatenate(confb)
            keep = np.argsort(-confb, kind="stable")[: int(np.ceil(0.95 * len(confb)))]
            rows.append({"method": f"kNN vote (community), {per}/voice", "season": s.name,
                         "acc_full": okb.mean(), "acc_95": okb[keep].mean()})  # fmt: skip
            ws.close()
    return pd.DataFrame(rows)


def run_season(seasons, tmp: Path) -> pd.DataFrame:
    """Label episodes 1..N completely, regroup, score episode N+1 (no human action on it)."""
    rows = []
    for s in seasons:
        truth = pd.read_csv(s.root / "truth.csv")
        truth = truth.assign(speaker=truth["voice"])
        for n in range(1, len(s.episodes)):
            ws = _copy_ws(s.root / "ws", tmp / f"{s.name}-s{n}")
            aligned = align(ws, truth)
            done = aligned[aligned["episode_id"].isin(s.episodes[:n])]
            for name, part in done.groupby("truth"):
                ws.name_lines(part["id"].tolist(), str(name), who="bench")
            t0 = time.perf_counter()
            group_season(ws, ws.get_meta("voice_model"))
            dt = time.perf_counter() - t0
            out = align(ws, truth)
            out = out[out["episode_id"] == s.episodes[n]]
            named = out["speaker"].notna()
            known = out["truth"].isin(set(done["truth"]))
            rows.append({
                "season": s.name, "labelled_episodes": n,
                "coverage": named.mean(),
                "accuracy_named": (out["speaker"] == out["truth"])[named].mean(),
                "accuracy_all": (out["speaker"] == out["truth"]).mean(),
                "known_voice_share": known.mean(),
                "regroup_s": dt,
            })  # fmt: skip
            ws.close()
    return pd.DataFrame(rows)


def simulate_review(ws: Workspace, truth: pd.DataFrame, order: str, rng, max_ops: int) -> dict:
    """Answer questions from truth until every speech line carries its true name. When the
    queue has nothing left to ask, the annotator fixes remaining wrong lines one at a time."""
    from pipelines.review.queue import answer, questions
    from pipelines.stages.run import regroup

    regroup(ws)
    ops = {"same": 0, "who": 0, "ambient": 0, "fix": 0}

    def wrong() -> pd.DataFrame:
        a = align(ws, truth)
        return a[a["speaker"] != a["truth"]]

    def truth_of_group(gid: str) -> str:
        a = align(ws, truth)
        return a[a["group_id"] == gid]["truth"].mode().iloc[0]

    total = 0
    while total < max_ops:
        bad = wrong()
        if bad.empty:
            break
        qs = questions(ws, limit=1 if order == "queue" else 10_000)
        q = None
        if qs:
            q = qs[0] if order == "queue" else qs[int(rng.integers(len(qs)))]
        if q is None:
            row = bad.iloc[int(rng.integers(len(bad)))] if order == "random" else bad.iloc[0]
            ws.name_lines([row["id"]], str(row["truth"]), who="sim")
            regroup(ws)
            ops["fix"] += 1
        elif q.kind == "same":
            same = truth_of_group(q.groups[0]) == truth_of_group(q.groups[1])
            answer(ws, q, "yes" if same else "no", who="sim")
            ops["same"] += 1
        elif q.kind == "who":
            name = (
                truth.set_index("line_id")["speaker"].get(q.line_id) if "line_id" in truth else None
            )
            if name is None:
                a = align(ws, truth)
                name = a.set_index("id")["truth"][q.line_id]
            answer(ws, q, str(name), who="sim")
            ops["who"] += 1
        else:
            answer(ws, q, "no", who="sim")  # pseudo-episodes hold no ambient lines
            ops["ambient"] += 1
        total += 1
    a = align(ws, truth)
    return {
        **ops,
        "total": total,
        "lines": len(a),
        "correct": float((a["speaker"] == a["truth"]).mean()),
    }


def run_review(seasons, tmp: Path, max_ops: int) -> pd.DataFrame:
    """One episode (the last) per season, imported through `castlist import` into a fresh
    workspace, then the simulated annotator with castlist's queue vs random question order."""
    from pipelines.stages.importer import import_lines

    rows = []
    for s in seasons:
        df, X = s.frames[-1], s.X[-1]
        table = tmp / f"{s.name}-review.csv"
        npy = tmp / f"{s.name}-review.npy"
        df.assign(episode="ep", speaker=df["truth"])[["episode", "start", "end", "text", "speaker"]].to_csv(
            table, index=False
        )  # fmt: skip
        np.save(npy, X)
        for order in ("queue", "random"):
            ws = Workspace.init(tmp / f"{s.name}-review-{order}")
            import_lines(ws, table, {"voice": npy})
            truth = pd.read_csv(ws.root / "imported_truth.csv")
            t0 = time.perf_counter()
            res = simulate_review(ws, truth, order, np.random.default_rng(0), max_ops)
            rows.append(
                {"season": s.name, "order": order, **res, "seconds": time.perf_counter() - t0}
            )
            log.info("review %s %s: %s", s.name, order, res)
            ws.close()
    return pd.DataFrame(rows)


def run_speed(sizes, tmp: Path, repeats: int = 3) -> pd.DataFrame:
    """Wall time of the real regroup (pipelines.stages.season.group_season: per-episode features,
    confidence, clustering, roster linking, DB write) on synthetic CAM++-sized vectors in a
    workspace of ~330-line episodes. Median of ``repeats`` runs (one run above 50k lines)."""
    from benchmarks.synthetic import make_season
    from pipelines.records import SubtitleEvent

    rows = []
    for n in sizes:
        s = make_season(max(1, round(n / 330)), seed=7)
        ws = Workspace.init(tmp / f"speed-{n}")
        stub = tmp / "stub.bin"
        stub.write_bytes(b"x")
        for ep in np.unique(s.episode):
            r = np.flatnonzero(s.episode == ep)
            events = [
                SubtitleEvent(float(a), float(b), "...")
                for a, b in zip(s.start[r], s.end[r], strict=True)
            ]
            media = tmp / f"speed-{n}-{ep}.mkv"
            media.write_bytes(b"x")
            e, _ = ws.add_episode(media, stub, float(s.end[r].max()) + 1, "video", events, {})
            ws.vectors.save(e.id, "voice", "synthetic", s.X[r])
        times = []
        for _ in range(repeats if n <= 50_000 else 1):
            t0 = time.perf_counter()
            res = group_season(ws, "synthetic")
            times.append(time.perf_counter() - t0)
        rows.append({"lines": res.n_lines, "episodes": len(np.unique(s.episode)),
                     "median_s": statistics.median(times), "runs": len(times)})  # fmt: skip
        log.info("speed %s", rows[-1])
        ws.close()
    return pd.DataFrame(rows)


@contextlib.contextmanager
def offset_vectors(a: float) -> Iterator[None]:
    """Every voice vector read from a workspace given a common direction
    (:func:`benchmarks.grouping_data.with_offset`): the scale of another voice model."""
    load = VectorStore.load

    def offset_load(self, episode_id: str, modality: str, model: str):
        X = load(self, episode_id, modality, model)
        return X if X is None or modality != "voice" else with_offset(X, a)

    VectorStore.load = offset_load
    try:
        yield
    finally:
        VectorStore.load = load


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", default=str(REPO / "bench-out" / "grouping"))
    ap.add_argument("--more", action="store_true", help="4 conditions per series (SNR 5-20 dB)")
    ap.add_argument(
        "--only", nargs="*", default=["unsup", "labels", "season", "review", "speed"],
        help="sections: unsup labels season review speed",
    )  # fmt: skip
    ap.add_argument("--cached", action="store_true", help="every season already built, no building")
    ap.add_argument("--tune", action="store_true")
    ap.add_argument("--review-seasons", type=int, default=4, help="seasons in the review loop")
    ap.add_argument("--max-ops", type=int, default=150)
    ap.add_argument("--json", help="also write all tables here")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument(
        "--offset", type=float, default=0.0,
        help="give every voice vector a common direction of this length (another model's scale)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    with offset_vectors(args.offset) if args.offset else contextlib.nullcontext():
        run(args)


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    work = Path(args.work)
    configs = MORE_CONFIGS if args.more else DEFAULT_CONFIGS
    roots = cached(work) if args.cached else build(work, configs=configs)
    seasons = [load(r) for r in roots]
    n_lines = sum(len(df) for s in seasons for df in s.frames)
    print(
        f"{len(seasons)} seasons, {sum(len(s.episodes) for s in seasons)} episodes, {n_lines} lines"
    )
    model = default_confidence()
    if args.tune:
        tune(seasons, model)
        return
    out = {}
    fmt = {"float_format": lambda v: f"{v:.3f}"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "unsup" in args.only:
            t = run_unsup(seasons, model)
            out["unsup"] = t.to_dict("records")
            print("\n== unsupervised, per episode (mean over episodes) ==")
            print(mean_table(t.to_dict("records")).to_string(**fmt))
            print(t.groupby(["series", "method"])[["F1", "ops"]].mean().unstack().to_string(**fmt))
        if "labels" in args.only:
            t = run_labels(seasons, tmp)
            out["labels"] = t.to_dict("records")
            print("\n== hand labels per voice: accuracy on the other lines ==")
            print(mean_table(t.to_dict("records")).to_string(**fmt))
        if "season" in args.only:
            t = run_season(seasons, tmp)
            out["season"] = t.to_dict("records")
            print("\n== season: episode N+1 before any human action ==")
            print(t.groupby("labelled_episodes").mean(numeric_only=True).to_string(**fmt))
            print(f"median regroup time {statistics.median(t['regroup_s']):.2f} s")
        if "review" in args.only:
            first = {}
            for season in seasons:  # one season per series
                first.setdefault(season.series, season)
            chosen = list(first.values())[: args.review_seasons]
            t = run_review(chosen, tmp, args.max_ops)
            out["review"] = t.to_dict("records")
            print(
                "\n== review loop: operations to 100% correct names (last episode of a season) =="
            )
            print(t.to_string(**fmt))
            print(t.groupby("order")[["total", "lines"]].median().to_string(**fmt))
        if "speed" in args.only:
            t = run_speed(args.sizes, tmp)
            out["speed"] = t.to_dict("records")
            print("\n== regroup time (pipelines.stages.season.group_season, synthetic vectors) ==")
            print(t.to_string(**fmt))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
