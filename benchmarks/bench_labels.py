"""What a season's hand labels teach: name accuracy of the other lines with 1, 2, 3 and 5 labels
per character, plain cosine against a projection learned from the labels (grouping.projection),
next to a nearest-centroid classifier and 1-NN built from the same labels on the same vectors.

Three data sets, from cheap to end to end:

``clips``     every clip of ../shared/data/acted_voices embedded once with CAM++ (clean clips,
              cached under ``--clips-cache``); per source set (bluearchive, the five VTubers),
              random labels per speaker, classifiers on arrays only.
``acted``     the acted pseudo-episode workspaces (``--acted``, built by bench_acted.py): hand
              labels set through the Workspace API, then pipelines.stages.season.group_season with the
              projection on and off; also the turn-taking evidence (item 5).
``grouping``  the LibriSpeech pseudo-episode cache (benchmarks/grouping_data.py): the same, to
              check that read speech does not get worse.

Usage (from the repository root):
    python benchmarks/bench_labels.py clips
    python benchmarks/bench_labels.py acted --acted bench-out/acted
    python benchmarks/bench_labels.py grouping --work bench-out/grouping
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from embeddings.base import SAMPLE_RATE  # noqa: E402
from grouping.turns import GAP_EDGES, TurnSmoother  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CLIPS_CACHE = REPO / "bench-out" / "acted-clips"
log = logging.getLogger("bench_labels")
PROJECTION_KW: dict = {}
"""LabelProjection settings under test (``--min-dof``); empty: the class defaults."""


# --------------------------------------------------------------------------- clip vectors
def decode(path: Path) -> np.ndarray:
    """Any audio file as 16 kHz mono float32 (ffmpeg: soundfile here cannot read every mp3)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SAMPLE_RATE),
         "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.float32).copy()


def clip_vectors(
    data: Path = DATA, cache: Path = CLIPS_CACHE, voice: str = "campplus"
) -> tuple[np.ndarray, pd.DataFrame]:
    """(vectors, manifest rows) for every acted clip, embedded once and cached as .npy."""
    manifest = pd.read_csv(data / "acted_voices" / "manifest.csv")
    npy, csv = cache / f"{voice}.npy", cache / "clips.csv"
    if npy.exists() and csv.exists():
        X = np.load(npy)
        if len(X) == len(manifest):
            return X, pd.read_csv(csv)
    from pipelines.stages.run import voice_embedder

    embedder = voice_embedder(voice)
    waves = [decode(data / "acted_voices" / c) for c in manifest["clip"]]
    log.info("embedding %d clips with %s", len(waves), embedder.name)
    X = embedder(waves)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(npy, X)
    manifest.to_csv(csv, index=False)
    return X, manifest


def pick_labels(truth: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """-1 everywhere except ``per_class`` random rows of each class (all of a smaller class but
    one, so every class keeps at least one row to score)."""
    y = np.full(len(truth), -1, np.int64)
    for c in np.unique(truth):
        rows = np.flatnonzero(truth == c)
        k = min(per_class, max(len(rows) - 1, 1))
        y[rng.choice(rows, k, replace=False)] = c
    return y


def nearest_centroid(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Every row gets the class of the most cosine-similar class mean of the labelled rows."""
    from grouping.vectors import normalize_rows

    Xn = normalize_rows(X)
    classes = np.unique(y[y >= 0])
    C = normalize_rows(np.stack([Xn[y == c].mean(0) for c in classes]))
    return classes[(Xn @ C.T).argmax(1)]


def one_nn(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    from grouping.knn import knn_search

    lab = np.flatnonzero(y >= 0)
    idx, _ = knn_search(X, X[lab], 1)
    return y[lab][idx[:, 0]]


def propagate(X: np.ndarray, y: np.ndarray, abstain: bool = True) -> np.ndarray:
    """castlist's NamePropagator on the vectors alone (no groups): -1 where it abstains."""
    from grouping.propagate import NamePropagator

    p = NamePropagator() if abstain else NamePropagator(abstain_below=0.0, min_sim=-1.0)
    return p.fit(X, y).predict()


def clip_table(
    X: np.ndarray, m: pd.DataFrame, per_class=(1, 2, 3, 5), seeds: int = 20
) -> pd.DataFrame:
    """Share of the unlabelled clips named correctly (abstaining counts as not correct), mean
    over ``seeds`` random label draws, per clip set, labels per speaker and method."""
    from grouping.projection import LabelProjection

    sets = {"bluearchive (22 chars)": m["source"] == "bluearchive_a"}
    sets["vtubers (5)"] = m["source"] != "bluearchive_a"
    rows = []
    for set_name, mask in sets.items():
        Xs = X[mask.to_numpy()]
        truth = pd.factorize(m.loc[mask, "speaker"])[0]
        for k in per_class:
            acc: dict[str, list[float]] = {}
            for seed in range(seeds):
                y = pick_labels(truth, k, np.random.default_rng(seed))
                P = LabelProjection(**PROJECTION_KW).fit(Xs, y)
                Xp = P.transform(Xs)
                preds = {
                    "centroid (cosine)": nearest_centroid(Xs, y),
                    "1-NN (cosine)": one_nn(Xs, y),
                    "propagator (cosine)": propagate(Xs, y),
                    "propagator, full coverage (cosine)": propagate(Xs, y, abstain=False),
                    "centroid (projected)": nearest_centroid(Xp, y),
                    "1-NN (projected)": one_nn(Xp, y),
                    "propagator (projected)": propagate(Xp, y),
                    "propagator, full coverage (projected)": propagate(Xp, y, abstain=False),
                }
                other = y < 0
                for name, pred in preds.items():
                    acc.setdefault(name, []).append(float(np.mean(pred[other] == truth[other])))
            for name, a in acc.items():
                rows.append({"set": set_name, "labels/char": k, "method": name, "acc": np.mean(a)})
    t = pd.DataFrame(rows)
    return t.pivot_table(index=["set", "method"], columns="labels/char", values="acc", sort=False)


# --------------------------------------------------------------------------- turn-taking
def turn_prior(data: Path = DATA) -> np.ndarray:
    """P(next line is the same speaker | gap bin), counted on every named ASS episode of
    ../shared/data/anime_subtitles_named (real dialogue; no audio needed)."""
    from benchmarks.pseudo_seasons import turns_from_ass

    same = np.zeros(len(GAP_EDGES) + 1)
    total = np.zeros(len(GAP_EDGES) + 1)
    for f in sorted((data / "anime_subtitles_named" / "ass").rglob("*.ass")):
        t = sorted(turns_from_ass(f), key=lambda x: x.start)
        for a, b in zip(t, t[1:], strict=False):
            k = int(np.digitize(b.start - a.end, GAP_EDGES))
            total[k] += 1
            same[k] += a.speaker == b.speaker
    return same / np.maximum(total, 1)


def centroid_scores(X: np.ndarray, y: np.ndarray, temperature: float = 0.05) -> np.ndarray:
    """Softmax over classes of the cosine to each labelled class mean (n, c)."""
    from grouping.vectors import normalize_rows

    Xn = normalize_rows(X)
    classes = np.unique(y[y >= 0])
    C = normalize_rows(np.stack([Xn[y == c].mean(0) for c in classes]))
    S = (Xn @ C.T) / temperature
    S = np.exp(S - S.max(1, keepdims=True))
    return S / S.sum(1, keepdims=True)


def turn_table(roots: list[Path], per_voice=(1, 3), seeds: int = 10) -> pd.DataFrame:
    """Name accuracy of the other lines from the voice alone (nearest centroid, raw and in
    the label-learned space) against the same scores smoothed by the turn-taking prior."""
    from benchmarks.grouping_data import load
    from grouping.projection import LabelProjection

    prior = turn_prior()
    log.info("turn prior P(same | gap bin %s): %s", GAP_EDGES, np.round(prior, 3))
    # the smoother castlist ships, with the prior counted here and no restart after long gaps
    smoother = TurnSmoother(stay=tuple(prior), max_gap=float("inf"))
    rows = []
    for root in roots:
        s = load(root)
        for X, df in zip(s.X, s.frames, strict=True):
            truth = pd.factorize(df["truth"])[0]
            st, en = df["start"].to_numpy(float), df["end"].to_numpy(float)
            for k in per_voice:
                acc: dict[str, list[float]] = {}
                for seed in range(seeds):
                    y = pick_labels(truth, k, np.random.default_rng(seed))
                    other = y < 0
                    classes = np.unique(y[y >= 0])
                    Xp = LabelProjection().fit(X, y).transform(X)
                    for space, V in (("cosine", X), ("projected", Xp)):
                        P = centroid_scores(V, y)
                        lab = y >= 0  # hand labels are certain, and anchor their neighbours
                        P[lab] = np.eye(len(classes))[np.searchsorted(classes, y[lab])]
                        for how, Q in (
                            ("voice", P),
                            ("voice + turns", smoother.transform(P, st, en)),
                        ):
                            pred = classes[Q.argmax(1)]
                            acc.setdefault(f"centroid {space}, {how}", []).append(
                                float(np.mean(pred[other] == truth[other]))
                            )
                for name, a in acc.items():
                    rows.append(
                        {"episode": root.name, "labels/voice": k, "method": name, "acc": np.mean(a)}
                    )
    t = pd.DataFrame(rows)
    return t.pivot_table(
        index=["episode", "method"], columns="labels/voice", values="acc", sort=False
    )


# --------------------------------------------------------------------------- end to end
def _truth_of(root: Path) -> pd.DataFrame:
    truth = pd.read_csv(root / "truth.csv")
    return truth.assign(speaker=truth["voice"])  # the voice is what a voice method can know


def _set_labels(ws, aligned: pd.DataFrame, per_voice: int, seed: int) -> None:
    """Name ``per_voice`` random lines of every voice (per episode), as an annotator would."""
    from benchmarks.bench_grouping import _pick_labels

    rng = np.random.default_rng(seed)
    aligned = aligned.assign(truth=aligned["truth"].astype(str))
    for _ep, part in aligned.groupby("episode_id"):
        for r in _pick_labels(part, per_voice, rng).itertuples():
            ws.name_lines([r.id], str(r.truth), who="bench")


def _score(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """(share of lines named correctly, coverage, accuracy of the named)."""
    named = pred != ""
    ok = (pred == truth) & named
    return float(ok.mean()), float(named.mean()), float(ok.sum() / max(named.sum(), 1))


def turn_propagator(ws, model: str):
    """castlist's NamePropagator whose training-line probabilities are smoothed by the
    turn-taking evidence (rows in pipelines.stages.season's order: episodes, then speech lines)."""
    from grouping.propagate import NamePropagator
    from pipelines.records import AMBIENT

    human = ws.human_labels()
    parts = []
    for ep in ws.episodes():
        if ws.vectors.load(ep.id, "voice", model) is None:
            continue
        df = ws.lines_frame(ep.id)
        keep = (df["skip_reason"] == "") & df["id"].map(lambda lid: human.get(lid) != AMBIENT)
        parts.append(df[keep.to_numpy()])
    df = pd.concat(parts, ignore_index=True)

    class TurnPropagator(NamePropagator):
        def predict_proba(self, X=None):
            P = super().predict_proba(X)
            if X is not None or len(P) != len(df):
                return P
            return TurnSmoother().transform(P, df["start"], df["end"], df["episode_id"])

    return TurnPropagator()


def end_to_end(
    root: Path, tmp: Path, per_voice: int, seed: int, projection: bool, turns: bool = False
) -> dict:
    """Copy a cached pseudo-season, name lines through the Workspace API, regroup it with
    pipelines.stages.season.group_season (the label-learned space on or off) and score the names of
    the other lines; the centroid / 1-NN baselines use the same labels on the raw vectors."""
    import shutil
    from functools import partial

    import pipelines.stages.season as season
    from grouping.projection import LabelProjection
    from pipelines.export.evaluate import align
    from pipelines.stages.features import Selection, select_lines
    from pipelines.stages.label_space import label_projection
    from pipelines.store.workspace import Workspace

    learned = partial(label_projection, projection=LabelProjection(**PROJECTION_KW))

    dst = tmp / f"{root.name}-{per_voice}-{seed}-{int(projection)}"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(root / "ws", dst, ignore=shutil.ignore_patterns("cache"))
    ws = Workspace.open(dst)
    truth = _truth_of(root)
    _set_labels(ws, align(ws, truth), per_voice, seed)
    model = ws.get_meta("voice_model")
    saved, saved_flag = season.label_projection, season.LEARNED_SPACE
    season.label_projection = learned if projection else (lambda *a, **k: lambda X: X)
    season.LEARNED_SPACE = projection
    try:
        season.group_season(ws, model, propagator=turn_propagator(ws, model) if turns else None)
    finally:
        season.label_projection, season.LEARNED_SPACE = saved, saved_flag
    out = align(ws, truth)
    human = ws.human_labels()
    other = ~out["id"].isin(list(human)).to_numpy()
    tru = out["truth"].astype(str).to_numpy()
    row = {"season": root.name, "labels/voice": per_voice, "seed": seed}
    pred = out["speaker"].fillna("").astype(str).to_numpy()
    key = ("castlist + projection" if projection else "castlist (cosine)") + (
        " + turns" if turns else ""
    )
    row[key], row[key + " coverage"], row[key + " acc named"] = _score(pred[other], tru[other])
    # what `castlist features` takes by default (the machine's names at least SURE sure)
    sure = other & out["id"].isin(select_lines(ws, Selection())["id"]).to_numpy()
    row[key + " sure share"] = float(sure.sum() / max(other.sum(), 1))
    row[key + " sure acc"] = float((pred[sure] == tru[sure]).mean()) if sure.any() else np.nan
    if not projection and not turns:  # baselines once per draw, on the raw vectors
        X, ys = [], []
        for ep in ws.episodes():
            df = out[out["episode_id"] == ep.id]
            X.append(ws.vectors.load(ep.id, "voice", model)[df["idx"].to_numpy()])
            ys.append(df["id"].map(human).fillna("").to_numpy())
        X, names = np.concatenate(X), np.concatenate(ys)
        uniq = sorted(set(names) - {""})
        y = np.array([uniq.index(n) if n else -1 for n in names])
        for name, fn in (("centroid", nearest_centroid), ("1-NN", one_nn)):
            p = np.array(uniq)[fn(X, y)]
            row[name] = _score(p[other], tru[other])[0]
        proj_space = learned(ws, model, human)(X)
        p = np.array(uniq)[nearest_centroid(proj_space, y)]
        row["centroid (projected)"] = _score(p[other], tru[other])[0]
    ws.close()
    shutil.rmtree(dst, ignore_errors=True)
    return row


def e2e_table(
    roots: list[Path], tmp: Path, per_voice=(1, 2, 3, 5), seeds: int = 3, with_turns: bool = False
) -> pd.DataFrame:
    rows = []
    for root in roots:
        for k in per_voice:
            for seed in range(seeds):
                base = end_to_end(root, tmp, k, seed, projection=False)
                base.update(end_to_end(root, tmp, k, seed, projection=True))
                if with_turns:
                    base.update(end_to_end(root, tmp, k, seed, projection=False, turns=True))
                    base.update(end_to_end(root, tmp, k, seed, projection=True, turns=True))
                rows.append(base)
                log.info("%s", base)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["clips", "acted", "turns", "grouping"])
    ap.add_argument("--clips-cache", type=Path, default=CLIPS_CACHE)
    ap.add_argument("--acted", type=Path, default=REPO / "bench-out" / "acted")
    ap.add_argument("--work", type=Path, default=REPO / "bench-out" / "grouping")
    ap.add_argument("--only", nargs="*", help="episode folder names to keep")
    ap.add_argument("--per", type=int, nargs="*", default=[1, 2, 3, 5], help="labels per voice")
    ap.add_argument("--turns", action="store_true", help="also castlist with turn-taking evidence")
    ap.add_argument("--seeds", type=int, default=20, help="random label draws per setting")
    ap.add_argument("--min-dof", type=int, help="LabelProjection min_dof (default: the class's)")
    args = ap.parse_args(argv)
    if args.min_dof is not None:
        PROJECTION_KW["min_dof"] = args.min_dof
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    pd.set_option("display.width", 200)
    if args.what == "clips":
        X, m = clip_vectors(cache=args.clips_cache)
        print(clip_table(X, m, args.per, seeds=args.seeds).round(3).to_string())
        return
    base = args.acted if args.what in ("acted", "turns") else args.work
    roots = sorted(p.parent for p in base.glob("*/DONE"))
    if args.only:
        roots = [r for r in roots if r.name in args.only]
    if args.what == "turns":
        print(turn_table(roots, args.per, seeds=args.seeds).round(3).to_string())
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        t = e2e_table(roots, Path(tmp), args.per, seeds=args.seeds, with_turns=args.turns)
    cols = [c for c in t.columns if c not in ("season", "seed", "labels/voice")]
    print(t.groupby(["season", "labels/voice"])[cols].mean().round(3).to_string())
    print(t.groupby("labels/voice")[cols].mean().round(3).to_string())


if __name__ == "__main__":
    main()
