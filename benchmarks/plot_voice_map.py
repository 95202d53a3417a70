"""A picture of why acted voices are hard: each line's voice vector in 2-D, coloured by who
speaks it, for a read-speech and an acted pseudo-episode side by side.

    python benchmarks/plot_voice_map.py --read bench-out/grouping --acted bench-out/acted \
        --out docs/voice_map.png

Reads the benchmark caches (``bench_grouping.py``, ``bench_acted.py``): the stored CAM++
vectors of one episode of each, their truth, and castlist's own groups before any label (the
marker shape). t-SNE on cosine distances, the same settings for both panels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.manifold import TSNE

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grouping.metrics import edge_prf  # noqa: E402
from grouping.vectors import normalize_rows  # noqa: E402
from pipelines.export.evaluate import align  # noqa: E402
from pipelines.stages.run import regroup  # noqa: E402
from pipelines.store.workspace import Workspace  # noqa: E402


def episode(root: Path, episode_id: str, tmp: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, true speaker, castlist group) of one episode's speech lines, grouped on a copy."""
    import shutil

    dst = tmp / root.name
    shutil.copytree(root / "ws", dst, ignore=shutil.ignore_patterns("cache"))
    truth = pd.read_csv(root / "truth.csv")
    truth = truth[truth["episode"] == episode_id].assign(speaker=lambda d: d["voice"])
    with Workspace.open(dst) as ws:
        regroup(ws)
        model = ws.get_meta("voice_model")
        df = ws.lines_frame(episode_id, speech_only=True).reset_index(drop=True)
        a = align(ws, truth)
        t = df["id"].map(dict(zip(a["id"], a["truth"].astype(str), strict=True)))
        keep = t.notna().to_numpy()
        X = ws.vectors.load(episode_id, "voice", model)[df["idx"].to_numpy()]
    return X[keep], t[keep].to_numpy(), df["group_id"].to_numpy()[keep]


def panel(ax, X, speaker, group, title: str) -> None:
    Y = TSNE(metric="cosine", init="pca", perplexity=20, random_state=0).fit_transform(
        normalize_rows(X)
    )
    names, codes = np.unique(speaker, return_inverse=True)
    order = np.argsort(-np.bincount(codes))  # the biggest voices get the distinct colours
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    colours = plt.get_cmap("tab10")(np.minimum(rank[codes], 9) % 10)
    colours[rank[codes] >= 9] = (0.6, 0.6, 0.6, 1.0)  # the rest in grey
    ax.scatter(Y[:, 0], Y[:, 1], c=colours, s=14, linewidths=0)
    f1 = edge_prf(codes, np.unique(group, return_inverse=True)[1])["f1"]
    ax.set_title(
        f"{title}\n{len(X)} lines, {names.size} voices; castlist's groups: edge F1 {f1:.2f}",
        fontsize=9,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def main(argv: list[str] | None = None) -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--read", required=True, help="bench_grouping.py cache")
    ap.add_argument("--acted", required=True, help="bench_acted.py cache")
    ap.add_argument("--read-season", default="toradora_a5909__snr10_s0")
    ap.add_argument("--acted-episode", default="mixed8_snr15")
    ap.add_argument("--out", default=str(REPO / "docs" / "voice_map.png"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        read = episode(Path(args.read) / args.read_season, "ep01", Path(tmp))
        acted = episode(Path(args.acted) / args.acted_episode, "ep01", Path(tmp))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    panel(
        axes[0], *read, f"read speech (LibriSpeech voices): {args.read_season.split('_')[0]} ep01"
    )
    panel(axes[1], *acted, f"acted voices (VTubers, game characters): {args.acted_episode}")
    fig.suptitle(
        "CAM++ voice vectors, t-SNE; colour = who speaks (top 9 voices, the rest grey)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
