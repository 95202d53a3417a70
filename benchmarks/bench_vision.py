"""Grouping gain from vision: voice only vs voice + face on video pseudo-episodes whose
on-screen faces are known.

    python benchmarks/bench_vision.py [--episodes 3] [--snr 10 0] [--p-on 0.6]   # ~6 min

Each pseudo-episode (pipelines/demo/episodes.py: synthetic turns, LibriSpeech/AMI voices, music and
noise at the given SNR) gets a video built here from still photos of
../shared/data/faces_identities: each character is one identity; during each line the shot
shows the speaker's face with probability ``p_on``, otherwise a listener of the scene (another
character of nearby lines) with ``p_listener``, otherwise nobody. Shots vary in photo, size and
position. The real path runs: ``add_episode`` -> voice stage (CAM++) -> faces stage (YuNet +
SFace) -> :func:`pipelines.stages.faces.face_fuser` -> ReliableFirstClustering per episode
(timing constraints only, as in ``castlist run`` before any human label). Scores are edge F1
and annotator operations per 100 lines (grouping.metrics), on all lines and on the lines where
the speaker is off screen. The face stage's cost is the median of 3 cold runs on one episode.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.make_pseudo import voice_pool  # noqa: E402
from embeddings.faces import face_backend  # noqa: E402
from grouping.cluster import ReliableFirstClustering  # noqa: E402
from grouping.confidence import heuristic_reliability  # noqa: E402
from grouping.metrics import edge_prf, operations  # noqa: E402
from pipelines.demo.episodes import Turn, _snap, build_episode, synthetic_turns  # noqa: E402
from pipelines.stages.faces import FACEMETA_COLUMNS, face_fuser  # noqa: E402
from pipelines.stages.ingest import add_episode  # noqa: E402
from pipelines.stages.run import (  # noqa: E402
    embed_episode,
    embed_faces,
    run_faces,
    voice_embedder,
)
from pipelines.stages.season import episode_constraints  # noqa: E402
from pipelines.store.workspace import Workspace  # noqa: E402

DATA = REPO.parent / "shared" / "data"
W, H, FPS = 640, 360, 4
CONDITIONS = [  # label, fusion method, face weight, min agreement with the voice-predicted face
    ("voice only", None, 0.0, None),
    ("zero face part, w=0.3", "zero", 0.3, None),
    ("procrustes, w=0.2", "procrustes", 0.2, None),
    ("procrustes, w=0.3", "procrustes", 0.3, None),
    ("zero face part, w=0.3, agree>=0.3", "zero", 0.3, 0.3),
    ("procrustes, w=0.5", "procrustes", 0.5, None),
    ("procrustes, w=0.3, agree>=0.3", "procrustes", 0.3, 0.3),
    ("procrustes, w=0.3, agree>=0.5", "procrustes", 0.3, 0.5),
    ("procrustes, w=0.4, agree>=0.3", "procrustes", 0.4, 0.3),
    ("procrustes, w=0.5, agree>=0.3", "procrustes", 0.5, 0.3),
    ("procrustes, w=0.5, agree>=0.4", "procrustes", 0.5, 0.4),
]


def identities(root: Path, min_photos: int = 4) -> list[list[Path]]:
    """Photo lists of the identities with at least ``min_photos`` photos, largest first."""
    rows = list(csv.DictReader((root / "identity_clusters_from_pair_labels.csv").open()))
    by_id: dict[str, list[Path]] = {}
    for r in rows:
        by_id.setdefault(r["identity_cluster"], []).append(
            root / "tests" / "unit" / "dataset" / r["file"]
        )
    return [v for _, v in sorted(by_id.items(), key=lambda kv: -len(kv[1])) if len(v) >= min_photos]


def plan_shots(turns: list[Turn], p_on: float, p_listener: float, rng) -> list[str | None]:
    """Who is in shot during each line: the speaker, a listener from the scene, or nobody."""
    shown: list[str | None] = []
    mains = sorted({t.speaker for t in turns})
    for i, t in enumerate(turns):
        u = rng.random()
        if u < p_on:
            shown.append(t.speaker)
        elif u < p_on + p_listener:
            near = {turns[j].speaker for j in range(max(0, i - 3), min(len(turns), i + 4))}
            others = sorted(near - {t.speaker}) or sorted(set(mains) - {t.speaker})
            shown.append(str(rng.choice(others)))
        else:
            shown.append(None)
    return shown


def _shot(photo: Path | None, rng) -> np.ndarray:
    canvas = np.empty((H, W, 3), dtype=np.uint8)
    canvas[:] = rng.integers(40, 200, 3)  # a plain set: colour varies with the shot
    if photo is None:
        return canvas
    img = Image.open(photo).convert("RGB")
    target = int(H * rng.uniform(0.6, 0.95))
    img.thumbnail((W, target))
    x0 = int(rng.integers(0, W - img.width + 1))
    y0 = (H - img.height) // 2
    canvas[y0 : y0 + img.height, x0 : x0 + img.width] = np.asarray(img)
    return canvas


def render_video(turns, shown, faces, wav: Path, out: Path, duration: float, rng) -> Path:
    """An mkv: each line's shot from its start until the next line starts, the episode audio."""
    shots = [_shot(rng.choice(faces[s]) if s else None, rng) for s in shown]
    return encode_shots(shots, [t.start for t in turns], duration, wav, out, FPS, quality=4)


def encode_shots(
    shots: list[np.ndarray], starts, duration: float, wav: Path, out: Path, fps: int, quality: int
) -> Path:
    """An mkv of ``shots`` (equal-sized RGB frames), each held from its ``starts`` time until
    the next one's, over the audio of ``wav``; a dark frame before the first."""
    starts = np.asarray(starts, dtype=np.float64)
    height, width = shots[0].shape[:2]
    blank = np.full((height, width, 3), 20, dtype=np.uint8)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0", "-i", str(wav)]
    cmd += ["-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-q:v", str(quality)]
    cmd += ["-c:a", "flac", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for k in range(int(np.ceil(duration * fps))):
        i = int(np.searchsorted(starts, (k + 0.5) / fps, side="right")) - 1
        proc.stdin.write((shots[i] if i >= 0 else blank).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed writing {out}")
    return out


def build(work: Path, n_episodes: int, snr: float, p_on: float, p_listener: float, seed: int):
    """Video pseudo-episodes of one season; returns (name, mkv, srt, truth speakers, shown)."""
    pool = voice_pool(DATA)
    ids = identities(DATA / "faces_identities")
    all_turns = [
        _snap(synthetic_turns(n_lines=100, n_main=6, n_minor=2, seed=seed + e, duration_s=240))
        for e in range(n_episodes)
    ]
    counts = Counter(t.speaker for turns in all_turns for t in turns)
    vmap = pool.assign(counts, seed)
    characters = sorted(counts, key=lambda c: (-counts[c], c))
    if len(characters) > len(ids):
        raise SystemExit(f"{len(characters)} characters but {len(ids)} identities with photos")
    faces = {c: ids[i] for i, c in enumerate(characters)}
    rng = np.random.default_rng(seed)
    out = []
    for e, turns in enumerate(all_turns):
        name = f"ep{e + 1:02d}"
        ep = build_episode(turns, pool, work, name, seed * 100 + e, snr_db=snr, voices=vmap)
        shown = plan_shots(turns, p_on, p_listener, rng)
        mkv = render_video(turns, shown, faces, ep.media, work / f"{name}.mkv", ep.duration, rng)
        out.append((name, mkv, ep.srt, [t.speaker for t in turns], shown))
    return out


def score(truth, pred, mask) -> tuple[float, float]:
    t = np.asarray(truth)[mask]
    p = np.asarray(pred)[mask]
    return edge_prf(t, p)["f1"], operations(t, p)["per_100_lines"]


def evaluate(ws: Workspace, voice_model: str, episodes) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, list[float]]] = {}
    for label, method, weight, agree in CONDITIONS:
        fuser = (
            face_fuser(ws, voice_model, weight, method, min_agreement=agree)
            if method
            else (lambda e, X: X)
        )
        acc: dict[str, list[float]] = {}
        for (_, _, _, speakers, shown), episode in zip(episodes, ws.episodes(), strict=True):
            df = ws.lines_frame(episode.id)
            keep = (df["skip_reason"] == "").to_numpy()
            X_all = fuser(episode.id, ws.vectors.load(episode.id, "voice", voice_model))
            df = df[keep].reset_index(drop=True)
            X = X_all[df["idx"].to_numpy()]
            reliability = heuristic_reliability((df["end"] - df["start"]).to_numpy())
            labels = ReliableFirstClustering().fit_predict(
                X, reliability, episode_constraints(df, {}, {}, [])
            )
            names = sorted(set(speakers))
            truth = np.array([names.index(s) for s in speakers])[df["idx"].to_numpy()]
            off = np.array([s != sp for s, sp in zip(shown, speakers, strict=True)])
            off = off[df["idx"].to_numpy()]
            listener = np.array(
                [s is not None and s != sp for s, sp in zip(shown, speakers, strict=True)]
            )
            listener = listener[df["idx"].to_numpy()]
            for key, mask in (("all", slice(None)), ("off", off), ("listener", listener)):
                f1, ops = score(truth, labels, mask)
                acc.setdefault(f"f1_{key}", []).append(f1)
                acc.setdefault(f"ops_{key}", []).append(ops)
        results[label] = {k: float(np.mean(v)) for k, v in acc.items()}
    return results


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--snr", type=float, nargs="+", default=[10.0, 0.0])
    ap.add_argument("--p-on", type=float, default=0.6)
    ap.add_argument("--p-listener", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timing-repeats", type=int, default=3)
    ap.add_argument("--work", help="keep built episodes and vectors here and reuse them")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (DATA / "faces_identities").is_dir():
        raise SystemExit(f"{DATA} not found: this benchmark needs ../shared/data")
    embedder = voice_embedder("campplus")
    live = face_backend("live")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(args.work) if args.work else Path(tmp)
        for snr in args.snr:
            t0 = time.perf_counter()
            work = tmp / f"snr{snr:g}_n{args.episodes}_p{args.p_on:g}_s{args.seed}"
            cached = work / "episodes.json"
            if cached.is_file():  # --work: reuse built episodes and stored vectors
                episodes = [tuple(e) for e in json.loads(cached.read_text())]
            else:
                episodes = build(work, args.episodes, snr, args.p_on, args.p_listener, args.seed)
                cached.write_text(
                    json.dumps(
                        [[str(x) if isinstance(x, Path) else x for x in e] for e in episodes]
                    )
                )
            t_build = time.perf_counter() - t0
            ws = Workspace.init(work / "ws")
            for _, mkv, srt, _, _ in episodes:
                add_episode(ws, mkv, srt)
            t0 = time.perf_counter()
            for episode in ws.episodes():
                embed_episode(ws, episode.id, embedder)
            t_voice = (time.perf_counter() - t0) / len(episodes)
            t0 = time.perf_counter()
            run_faces(ws, backend=live)
            t_faces = (time.perf_counter() - t0) / len(episodes)
            on_col = FACEMETA_COLUMNS.index("on_screen")
            n_on = sum(
                int((ws.vectors.load(e.id, "facemeta", live.name)[:, on_col] > 0.5).sum())
                for e in ws.episodes()
            )
            n_lines = sum(len(e[3]) for e in episodes)
            n_spk = sum(sum(s == sp for s, sp in zip(e[4], e[3], strict=True)) for e in episodes)
            n_lis = sum(
                sum(s is not None and s != sp for s, sp in zip(e[4], e[3], strict=True))
                for e in episodes
            )
            print(
                f"\n## SNR {snr:g} dB, {len(episodes)} episodes, {n_lines} lines "
                f"(speaker in shot {n_spk}, listener {n_lis}, nobody {n_lines - n_spk - n_lis}; "
                f"face stage found a clear face in {n_on}); build {t_build:.0f} s, "
                f"voice {t_voice:.1f} s/ep, faces {t_faces:.1f} s/ep"
            )
            res = evaluate(ws, embedder.name, episodes)
            print(
                "| condition | edge F1 all | ops/100 all | F1 speaker off screen | "
                "ops/100 off screen | F1 listener in shot | ops/100 listener |"
            )
            print("|---|---|---|---|---|---|---|")
            for label, r in res.items():
                print(
                    f"| {label} | {r['f1_all']:.3f} | {r['ops_all']:.1f} | {r['f1_off']:.3f} | "
                    f"{r['ops_off']:.1f} | {r['f1_listener']:.3f} | {r['ops_listener']:.1f} |"
                )
            if snr == args.snr[0] and args.timing_repeats:
                name, mkv, srt, _, _ = episodes[0]
                times = []
                for k in range(args.timing_repeats):
                    with Workspace.init(tmp / f"timing{snr:g}_{k}") as tws:
                        ep = add_episode(tws, mkv, srt).episode
                        t0 = time.perf_counter()
                        embed_faces(tws, ep.id, live)
                        times.append(time.perf_counter() - t0)
                print(
                    f"\nface stage on {name} ({episodes[0][3].__len__()} lines, "
                    f"{3 * len(episodes[0][3])} frames at {W}x{H}): median "
                    f"{statistics.median(times):.1f} s of {[round(t, 1) for t in times]}"
                )
            ws.close()


if __name__ == "__main__":
    main()
