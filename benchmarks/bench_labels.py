"""What a season's hand labels teach: name accuracy of the other lines with 1, 2, 3 and 5 labels
per character, plain cosine against a projection learned from the labels (grouping.projection),
next to a nearest-centroid classifier and 1-NN built from the same labels on the same vectors.

Three data sets, from cheap to end to end:

``clips``     every clip of ../shared/data/acted_voices embedded once with CAM++ (clean clips,
              cached under ``--clips-cache``); per source set (bluearchive, the five VTubers),
              random labels per speaker, classifiers on arrays only.
``acted``     the acted pseudo-episode workspaces (``--acted``, built by bench_acted.py): hand
              labels set through the Workspace API, then pipelines.season.group_season with the
              projection on and off; also the turn-taking evidence (item 5).
``grouping``  the LibriSpeech pseudo-episode cache (benchmarks/grouping_data.py): the same, to
              check that read speech does not get worse.

Usage (from the repository root):
    python benchmarks/bench_labels.py clips
    python benchmarks/bench_labels.py acted --acted /work/main/bench-out/acted
    python benchmarks/bench_labels.py grouping --work /work/main/bench-out/grouping
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

DATA = REPO.parent / "shared" / "data"
CLIPS_CACHE = Path("/work/main/bench-out/acted-clips")
SAMPLE_RATE = 16_000
log = logging.getLogger("bench_labels")


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
    from pipelines.run import voice_embedder

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
    from grouping.knn import normalize_rows

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
                P = LabelProjection().fit(Xs, y)
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


def end_to_end(root: Path, tmp: Path, per_voice: int, seed: int, projection: bool) -> dict:
    """Copy a cached pseudo-season, name lines through the Workspace API, regroup it with
    pipelines.season.group_season (the label-learned space on or off) and score the names of
    the other lines; the centroid / 1-NN baselines use the same labels on the raw vectors."""
    import shutil

    import pipelines.season as season
    from pipelines.evaluate import align
    from pipelines.label_space import label_projection
    from pipelines.workspace import Workspace

    dst = tmp / f"{root.name}-{per_voice}-{seed}-{int(projection)}"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(root / "ws", dst, ignore=shutil.ignore_patterns("cache"))
    ws = Workspace.open(dst)
    truth = _truth_of(root)
    _set_labels(ws, align(ws, truth), per_voice, seed)
    model = ws.get_meta("voice_model")
    saved = season.label_projection
    if not projection:
        season.label_projection = lambda *a, **k: lambda X: X
    try:
        season.group_season(ws, model)
    finally:
        season.label_projection = saved
    out = align(ws, truth)
    human = ws.human_labels()
    other = ~out["id"].isin(list(human)).to_numpy()
    tru = out["truth"].astype(str).to_numpy()
    row = {"season": root.name, "labels/voice": per_voice, "seed": seed}
    pred = out["speaker"].fillna("").astype(str).to_numpy()
    key = "castlist + projection" if projection else "castlist (cosine)"
    row[key], row[key + " coverage"], row[key + " acc named"] = _score(pred[other], tru[other])
    if not projection:  # baselines once per draw, on the raw vectors
        X, ys = [], []
        for ep in ws.episodes():
            df = out[out["episode_id"] == ep.id]
            X.append(ws.load_vectors(ep.id, "voice", model)[df["idx"].to_numpy()])
            ys.append(df["id"].map(human).fillna("").to_numpy())
        X, names = np.concatenate(X), np.concatenate(ys)
        uniq = sorted(set(names) - {""})
        y = np.array([uniq.index(n) if n else -1 for n in names])
        for name, fn in (("centroid", nearest_centroid), ("1-NN", one_nn)):
            p = np.array(uniq)[fn(X, y)]
            row[name] = _score(p[other], tru[other])[0]
        proj_space = label_projection(ws, model, human)(X)
        p = np.array(uniq)[nearest_centroid(proj_space, y)]
        row["centroid (projected)"] = _score(p[other], tru[other])[0]
    ws.close()
    shutil.rmtree(dst, ignore_errors=True)
    return row


def e2e_table(roots: list[Path], tmp: Path, per_voice=(1, 2, 3, 5), seeds: int = 3) -> pd.DataFrame:
    rows = []
    for root in roots:
        for k in per_voice:
            for seed in range(seeds):
                base = end_to_end(root, tmp, k, seed, projection=False)
                base.update(end_to_end(root, tmp, k, seed, projection=True))
                rows.append(base)
                log.info("%s", base)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["clips", "acted", "grouping"])
    ap.add_argument("--clips-cache", type=Path, default=CLIPS_CACHE)
    ap.add_argument("--seeds", type=int, default=20, help="random label draws per setting")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.what == "clips":
        X, m = clip_vectors(cache=args.clips_cache)
        print(X.shape, m["source"].value_counts().to_dict())
        print(clip_table(X, m, seeds=args.seeds).round(3).to_string())


if __name__ == "__main__":
    main()
