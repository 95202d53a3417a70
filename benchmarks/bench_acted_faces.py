"""What drawn faces add where voices sit close: acted-voice episodes given an anime video.

    python benchmarks/bench_acted_faces.py --acted bench-out/acted --work bench-out/acted-faces
    python benchmarks/bench_review.py --acted bench-out/acted-faces   # review with faces

The acted pseudo-episodes of ``benchmarks/bench_acted.py`` whose voices number at most the
drawn characters of ``../shared/data/anime_character_images`` (the five VTubers) get a
1280x720 video: each voice is one drawn character, and during each line the shot shows the
speaker with ``--p-on``, a listener of the scene with ``--p-listener``, nobody otherwise (the
shot model of ``benchmarks/bench_vision.py``). A shot varies in size, position, brightness,
mirror and background. One picture per character is an easy face task (a real show draws
its characters from many angles), so the gains here are an upper bound on what faces add.

Then castlist's own path: ``add_episode`` -> CAM++ -> anime faces -> the episode grouping with
each fusion setting (edge F1, annotator operations per 100 lines) and names from 1 and 3 hand
labels per voice (``group_season``), voice only against voice + faces. The built workspaces
(``--work``, with ``truth.csv``) feed ``bench_review.py --acted``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import sys
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_labels import _set_labels  # noqa: E402
from benchmarks.bench_vision import encode_shots, plan_shots  # noqa: E402
from embeddings.faces import face_backend  # noqa: E402
from grouping.cluster import ReliableFirstClustering  # noqa: E402
from grouping.confidence import heuristic_reliability  # noqa: E402
from grouping.metrics import edge_prf, operations  # noqa: E402
from pipelines.export.evaluate import align  # noqa: E402
from pipelines.stages import faces as face_stage  # noqa: E402
from pipelines.stages import season  # noqa: E402
from pipelines.stages.ingest import add_episode  # noqa: E402
from pipelines.stages.run import embed_episode, run_faces, voice_embedder  # noqa: E402
from pipelines.stages.season import episode_constraints, group_season  # noqa: E402
from pipelines.store.workspace import Workspace  # noqa: E402

log = logging.getLogger("bench_acted_faces")

DATA = REPO.parent / "shared" / "data"
W, H, FPS = 1280, 720, 2
SETTINGS = [  # label, face weight, min agreement with the voice-predicted face
    ("voice only", 0.0, None),
    ("faces, castlist default (w=0.3, agree>=0.5)", face_stage.DEFAULT_FACE_WEIGHT, 0.5),
    ("faces, w=0.3, no agreement gate", 0.3, None),
    ("faces, w=0.5, no agreement gate", 0.5, None),
]


@dataclass(frozen=True)
class Line:
    start: float
    speaker: str


def _shot(picture: Image.Image | None, rng) -> np.ndarray:
    canvas = Image.new("RGB", (W, H), tuple(int(v) for v in rng.integers(30, 200, 3)))
    if picture is None:
        return np.asarray(canvas)
    img = picture.copy()
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.85, 1.15)))
    img.thumbnail((W, int(H * rng.uniform(0.75, 1.0))))
    x0 = int(rng.integers(0, W - img.width + 1))
    canvas.paste(img, (x0, (H - img.height) // 2))
    return np.asarray(canvas)


def render(lines: list[Line], shown, pictures, wav: Path, out: Path, rng) -> Path:
    """An mkv with the episode's audio: each line's shot from its start to the next line's."""
    with wave.open(str(wav)) as w:
        duration = w.getnframes() / w.getframerate()
    shots = [_shot(pictures[s] if s else None, rng) for s in shown]
    return encode_shots(shots, [line.start for line in lines], duration, wav, out, FPS, quality=3)


def build(src: Path, dst: Path, p_on: float, p_listener: float, seed: int) -> Path:
    """The workspace of one acted episode with video (cached: ``DONE`` beside it)."""
    if (dst / "DONE").is_file():
        return dst
    truth = pd.read_csv(src / "truth.csv")
    voices = sorted(truth["voice"].unique())
    names = sorted(p.stem for p in (DATA / "anime_character_images").glob("*.jpg"))
    if len(voices) > len(names):
        raise SystemExit(f"{src.name}: {len(voices)} voices but {len(names)} drawn characters")
    pictures = {
        v: Image.open(DATA / "anime_character_images" / f"{n}.jpg").convert("RGB")
        for v, n in zip(voices, names, strict=False)
    }
    lines = [Line(float(r.start), str(r.voice)) for r in truth.itertuples()]
    rng = np.random.default_rng(seed)
    shown = plan_shots(lines, p_on, p_listener, rng)
    if dst.exists():
        shutil.rmtree(dst)
    (dst / "media").mkdir(parents=True)
    mkv = render(
        lines, shown, pictures, src / "media" / "ep01.wav", dst / "media" / "ep01.mkv", rng
    )
    shutil.copy(src / "media" / "ep01.srt", dst / "media" / "ep01.srt")
    truth.assign(shown=[s or "" for s in shown]).to_csv(dst / "truth.csv", index=False)
    ws = Workspace.init(dst / "ws")
    add_episode(ws, mkv, dst / "media" / "ep01.srt")
    embedder = voice_embedder("campplus")
    for episode in ws.episodes():
        log.info("%s: voice", dst.name)
        embed_episode(ws, episode.id, embedder)
    ws.set_meta("voice_model", embedder.name)
    ws.set_meta("voice_backend", "campplus")
    log.info("%s: faces", dst.name)
    run_faces(ws, backend=face_backend("anime"))
    ws.close()
    (dst / "DONE").write_text("acted + anime faces\n")
    return dst


def grouping_scores(root: Path) -> list[dict]:
    """Edge F1 and ops/100 of the episode grouping, per fusion setting (before any label)."""
    truth = pd.read_csv(root / "truth.csv")
    rows = []
    with Workspace.open(root / "ws") as ws:
        model = ws.get_meta("voice_model")
        face_model = ws.get_meta(face_stage.MODEL_META) or ""
        episode = ws.episodes()[0]
        df = ws.lines_frame(episode.id, speech_only=True).reset_index(drop=True)
        idx = df["idx"].to_numpy()
        t = pd.factorize(truth["voice"].to_numpy()[idx])[0]
        shown = truth["shown"].fillna("").to_numpy()[idx]
        speaker_seen = shown == truth["voice"].to_numpy()[idx]
        reliable = face_stage.load_faces(ws, episode.id, face_model)
        n_faces = int(face_stage.reliable_rows(reliable[1])[idx].sum()) if reliable else 0
        for label, weight, agree in SETTINGS:
            fuser = face_stage.face_fuser(ws, model, weight, min_agreement=agree)
            X = fuser(episode.id, ws.vectors.load(episode.id, "voice", model))[idx]
            rel = heuristic_reliability((df["end"] - df["start"]).to_numpy(dtype=float))
            labels = ReliableFirstClustering().fit_predict(
                X, rel, episode_constraints(df, {}, {}, [])
            )
            rows.append(
                {
                    "episode": root.name,
                    "setting": label,
                    "edge F1": edge_prf(t, labels)["f1"],
                    "ops/100": operations(t, labels)["per_100_lines"],
                    "groups": int(labels.max() + 1),
                    "lines": len(t),
                    "speaker in shot": int(speaker_seen.sum()),
                    "clear faces": n_faces,
                }
            )
    return rows


@contextlib.contextmanager
def fusion(weight: float, agree: float | None) -> Iterator[None]:
    """``group_season`` fuses faces at this weight and agreement gate."""
    shipped = season.face_fuser
    season.face_fuser = lambda ws, model: face_stage.face_fuser(
        ws, model, weight, min_agreement=agree
    )
    try:
        yield
    finally:
        season.face_fuser = shipped


def name_scores(root: Path, tmp: Path, seeds: int) -> list[dict]:
    """Share of the other lines named right from 1 and 3 hand labels per voice."""
    truth = pd.read_csv(root / "truth.csv").assign(speaker=lambda d: d["voice"])
    rows = []
    for label, weight, agree in SETTINGS:
        for per in (1, 3):
            for seed in range(seeds):
                dst = tmp / f"{root.name}-{per}-{seed}"
                shutil.copytree(root / "ws", dst)
                with Workspace.open(dst) as ws:
                    _set_labels(ws, align(ws, truth), per, seed)
                    with fusion(weight, agree):
                        group_season(ws, ws.get_meta("voice_model"))
                    out = align(ws, truth)
                    out = out[out["source"] != "human"]
                    right = (out["speaker"].astype(str) == out["truth"].astype(str)).mean()
                shutil.rmtree(dst)
                rows.append({"episode": root.name, "setting": label, "labels": per, "right": right})
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--acted", required=True, help="the bench_acted.py cache (*/truth.csv)")
    ap.add_argument("--work", required=True, help="the video workspaces are built here")
    ap.add_argument("--episodes", nargs="+", default=["vtuber5_snr15", "vtuber5_snr5"])
    ap.add_argument("--p-on", type=float, default=0.6)
    ap.add_argument("--p-listener", type=float, default=0.25)
    ap.add_argument("--seeds", type=int, default=3, help="label draws per setting")
    ap.add_argument("--json", help="also write the tables here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    if not (DATA / "anime_character_images").is_dir():
        raise SystemExit(f"{DATA} not found: this benchmark needs ../shared/data")
    work = Path(args.work)
    roots = [
        build(Path(args.acted) / name, work / name, args.p_on, args.p_listener, seed)
        for seed, name in enumerate(args.episodes)
    ]
    groups = pd.DataFrame([r for root in roots for r in grouping_scores(root)])
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    names = pd.DataFrame([r for root in roots for r in name_scores(root, tmp, args.seeds)])
    shutil.rmtree(tmp)
    fmt = {"float_format": lambda v: f"{v:.3f}"}
    print("\n== grouping before any label (per episode) ==")
    print(groups.to_string(index=False, **fmt))
    print(groups.groupby("setting", sort=False)[["edge F1", "ops/100"]].mean().to_string(**fmt))
    print(f"\n== other lines named right from hand labels (mean of {args.seeds} draws) ==")
    print(
        names.groupby(["setting", "labels"], sort=False)["right"].mean().unstack().to_string(**fmt)
    )
    if args.json:
        out = {"grouping": groups.to_dict("records"), "names": names.to_dict("records")}
        Path(args.json).write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
