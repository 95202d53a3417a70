"""Downstream numbers (issue 13): feature speed, dataset export cost, timbre centroid accuracy.

    python benchmarks/bench_features.py speed --runs 3        # demo: lines/s and RTF
    python benchmarks/bench_features.py centroids             # demo, LibriSpeech, acted voices
    python benchmarks/bench_features.py export --episodes 26  # pseudo-season export time/disk

``speed`` builds the demo workspace (``castlist demo``), then per run copies it and times
``castlist features`` from scratch (prosody: pyin) and the CAM++ embedding of the same lines
(timbre; the voice stage computes it during ``castlist run``; features reuse it). Real-time
factor = compute seconds / seconds of speech (< 1 is faster than real time).

``centroids``: nearest-centroid accuracy of character timbre centroids on held-back lines
(30 % per character, 5 seeds, mean): the demo episode (LibriSpeech voices with music), read
speech (librispeech_test_other, 10 speakers x 10) and acted voices (../shared/data/
acted_voices: 22 game characters and 5 VTubers, Japanese), with CAM++; ``--acted`` adds the
acted pseudo-episodes of benchmarks/acted_data.py (SNR 15 dB).

``export``: a pseudo-season of N episodes, each the demo episode looped ``--loops`` times
(80 x loops lines, distinct files), with the demo's vectors, labels and prosody tiled onto it
(no model run: this measures the export, not the models); times ``export -f dataset`` and its
disk use, and ``--video`` on ``--video-episodes`` episodes (extrapolated per line).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.stages.features import (  # noqa: E402
    PROSODY,
    PROSODY_MODEL,
    Selection,
    nearest_centroid_accuracy,
    run_features,
    select_lines,
)
from pipelines.store.workspace import Workspace  # noqa: E402

DATA = REPO.parent / "shared" / "data"
OUT = REPO / "bench-out" / "features"


def demo_workspace(root: Path) -> tuple[Path, Path]:
    """(workspace, truth csv) of the demo, built once under ``root``."""
    from pipelines.demo.walkthrough import run_demo

    ws = root / "demo" / "workspace"
    if not (ws / "castlist.db").is_file():
        run_demo(root / "demo")
    truth = root / "demo_truth.csv"
    if not truth.is_file():
        import pandas as pd

        from pipelines.demo.episodes import build_demo

        episode = build_demo(Path(tempfile.mkdtemp()))
        pd.DataFrame([t.__dict__ for t in episode.truth]).to_csv(truth, index=False)
    return ws, truth


def _disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------ speed
def cmd_speed(args: argparse.Namespace) -> dict:
    from pipelines.io.audio import episode_audio
    from pipelines.io.media import SAMPLE_RATE, cut, load_audio
    from pipelines.stages.run import voice_embedder

    ws_dir, _ = demo_workspace(OUT)
    embedder = voice_embedder("campplus")
    from pipelines.stages.features import prosody_of

    prosody_of(np.zeros(16000, np.float32), "warm-up")  # librosa import and JIT, not timed
    embedder([np.zeros(16000, np.float32)])
    prosody, timbre = [], []
    for run in range(args.runs):
        tmp = Path(tempfile.mkdtemp()) / "ws"
        shutil.copytree(ws_dir, tmp)
        with Workspace.open(tmp) as ws:
            for ep in ws.episodes():
                ws.vectors.path(ep.id, PROSODY, PROSODY_MODEL).unlink(missing_ok=True)
                ws.unmark_stage(ep.id, PROSODY, PROSODY_MODEL)
            t0 = time.perf_counter()
            result = run_features(ws, Selection())
            dt = time.perf_counter() - t0
            prosody.append((result.lines, result.seconds_now, dt))
            table = select_lines(ws, Selection())
            audio = load_audio(episode_audio(ws, table["episode_id"].iloc[0]))
            segments = [
                cut(audio, SAMPLE_RATE, s, e)
                for s, e in zip(table["start"], table["end"], strict=True)
            ]
            t0 = time.perf_counter()
            embedder(segments)
            dt = time.perf_counter() - t0
            timbre.append((len(segments), sum(s.size for s in segments) / SAMPLE_RATE, dt))
        shutil.rmtree(tmp.parent)
        print(f"run {run + 1}: prosody {prosody[-1][2]:.2f} s, timbre {timbre[-1][2]:.2f} s")

    def summary(rows: list[tuple[int, float, float]]) -> dict:
        n, secs = rows[0][0], rows[0][1]
        t = statistics.median(r[2] for r in rows)
        return {
            "lines": n,
            "speech_s": round(secs, 1),
            "median_s": round(t, 2),
            "runs_s": [round(r[2], 2) for r in rows],
            "lines_per_s": round(n / t, 1),
            "rtf": round(t / secs, 4),
        }

    return {
        "prosody (pyin, castlist features)": summary(prosody),
        "timbre (CAM++)": summary(timbre),
    }


# ------------------------------------------------------------------------------ centroids
def _accuracy(names: np.ndarray, X: np.ndarray, seeds: int = 5) -> dict:
    accs = [nearest_centroid_accuracy(names, X, seed=s) for s in range(seeds)]
    return {
        "characters": int(len(set(names))),
        "lines": int(len(names)),
        "held_back_per_seed": accs[0][1],
        "accuracy_mean": round(float(np.mean([a for a, _ in accs])), 3),
        "accuracy_min": round(float(np.min([a for a, _ in accs])), 3),
    }


def _embed_files(paths: list[Path]) -> np.ndarray:
    from pipelines.demo.episodes import _load_audio
    from pipelines.stages.run import voice_embedder

    embedder = voice_embedder("campplus")
    return embedder([_load_audio(p) for p in paths])


def cmd_centroids(args: argparse.Namespace) -> dict:
    import csv

    import pandas as pd

    from pipelines.export.evaluate import align

    out = {}
    ws_dir, truth = demo_workspace(OUT)
    with Workspace.open(ws_dir) as ws:
        df = align(ws, pd.read_csv(truth)).dropna(subset=["truth"])
        model = ws.get_meta("voice_model")
        V = ws.vectors.load(df["episode_id"].iloc[0], "voice", model)
        out["demo (LibriSpeech voices + music, 1 episode)"] = _accuracy(
            df["truth"].astype(str).to_numpy(), V[df["idx"].to_numpy()]
        )
    libri = sorted((DATA / "librispeech_test_other").glob("*/*.flac"))
    if libri:
        names = np.array([p.parent.name for p in libri])
        out["read speech (librispeech_test_other)"] = _accuracy(names, _embed_files(libri))
    manifest = DATA / "acted_voices" / "manifest.csv"
    if manifest.is_file():
        with manifest.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for source, label in (
            ("bluearchive_a", "acted: 22 game characters"),
            (None, "acted: 5 VTubers"),
        ):
            picked = [
                r
                for r in rows
                if (r["source"] == source if source else r["source"] != "bluearchive_a")
            ]
            paths = [DATA / "acted_voices" / r["clip"] for r in picked]
            names = np.array([f"{r['source']}/{r['speaker']}" for r in picked])
            out[label] = _accuracy(names, _embed_files(paths))
    if args.acted:
        out.update(acted_episodes())
    return out


def acted_episodes() -> dict:
    """Acted pseudo-episodes (benchmarks/acted_data.py, SNR 15 dB: acted clips laid on real
    named-ASS turn structures with music under them), built and embedded once, cached under
    bench-out/features/acted; accuracy over each episode's characters."""
    from benchmarks import acted_data
    from benchmarks.grouping_data import load

    specs = tuple(s for s in acted_data.SPECS if s.name.endswith("_snr15"))
    roots = acted_data.build(OUT / "acted", specs=specs)
    out = {}
    for root in roots:
        season = load(root)
        for frame, X in zip(season.frames, season.X, strict=True):
            keep = frame["character"].notna().to_numpy()
            names = frame["character"][keep].astype(str).to_numpy()
            out[f"acted pseudo-episode {root.name}"] = _accuracy(names, X[keep])
    return out


# ------------------------------------------------------------------------------ export
def _loop_media(src_media: Path, src_srt: Path, loops: int, length: float, out: Path) -> None:
    """One long episode: the demo looped (video and audio), its subtitles shifted each loop."""
    import pysrt

    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i",
         str(src_media), "-c", "copy", str(out)],
        check=True,
    )  # fmt: skip
    subs = pysrt.open(str(src_srt))

    def stamp(seconds: float) -> str:
        ms = int(round(seconds * 1000))
        h, m, s = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
        return f"{h:02d}:{m:02d}:{s:02d},{ms % 1000:03d}"

    blocks = []
    for k in range(loops):
        for item in subs:
            start = item.start.ordinal / 1000 + k * length
            end = item.end.ordinal / 1000 + k * length
            blocks.append(f"{len(blocks) + 1}\n{stamp(start)} --> {stamp(end)}\n{item.text}\n")
    out.with_suffix(".srt").write_text("\n".join(blocks), encoding="utf-8")


def cmd_export(args: argparse.Namespace) -> dict:
    from pipelines.export.tables import export
    from pipelines.io.media import probe
    from pipelines.stages.ingest import add_episode

    ws_dir, _ = demo_workspace(OUT)
    root = Path(args.work)
    if root.exists():
        shutil.rmtree(root)
    (root / "media").mkdir(parents=True)
    with Workspace.open(ws_dir) as demo:
        ep = demo.episodes()[0]
        if demo.vectors.load(ep.id, PROSODY, PROSODY_MODEL) is None:
            run_features(demo)
        model = demo.get_meta("voice_model")
        V = demo.vectors.load(ep.id, "voice", model)
        F = demo.vectors.load(ep.id, "linefeat", "v1")
        P = demo.vectors.load(ep.id, PROSODY, PROSODY_MODEL)
        df = demo.lines_frame(ep.id)
        media, srt = Path(ep.media), Path(ep.subs)
    length = probe(media).duration
    first = root / "media" / "ep01.mkv"
    _loop_media(media, srt, args.loops, length, first)
    t_build = time.perf_counter()
    ws = Workspace.init(root / "season")
    for n in range(1, args.episodes + 1):
        m = root / "media" / f"ep{n:02d}.mkv"
        if n > 1:
            shutil.copyfile(first, m)
            shutil.copyfile(first.with_suffix(".srt"), m.with_suffix(".srt"))
        added = add_episode(ws, m, m.with_suffix(".srt"))
        e = added.episode.id
        ws.vectors.save(e, "voice", model, np.tile(V, (args.loops, 1)))
        ws.vectors.save(e, "linefeat", "v1", np.tile(F, (args.loops, 1)))
        ws.mark_stage(e, "voice", model)
        ws.vectors.save(e, PROSODY, PROSODY_MODEL, np.tile(P, (args.loops, 1)))
        ws.mark_stage(e, PROSODY, PROSODY_MODEL)
    ws.set_meta("voice_model", model)
    groups, labels = [], []
    for e in ws.episodes():
        for ln in ws.lines(e.id):
            src = df.iloc[ln.idx % len(df)]
            groups.append((ln.id, f"{e.id}-g0", src["character"] or "C000", 1.0))
            labels.append((ln.id, src["speaker"], "propagated", float(src["confidence"] or 0.9)))
    ws.write_machine_results(groups, labels)
    result = run_features(ws, Selection())
    t_build = time.perf_counter() - t_build
    n_lines = result.lines
    print(f"pseudo-season: {args.episodes} episodes, {n_lines} lines (built in {t_build:.0f} s)")
    out: dict = {"episodes": args.episodes, "lines": n_lines}
    times = []
    for run in range(args.runs):
        target = root / f"dataset{run}"
        t0 = time.perf_counter()
        export(ws, "dataset", target)
        times.append(time.perf_counter() - t0)
        print(f"export -f dataset run {run + 1}: {times[-1]:.1f} s")
    out["dataset_s_median"] = round(statistics.median(times), 1)
    out["dataset_s_runs"] = [round(t, 1) for t in times]
    out["dataset_lines_per_s"] = round(n_lines / statistics.median(times), 1)
    out["dataset_disk_mb"] = round(_disk(root / "dataset0") / 1e6, 1)
    out["dataset_disk_by_part_mb"] = {
        p.name: round(_disk(p) / 1e6, 1)
        for p in sorted((root / "dataset0").iterdir())
        if p.is_dir()
    }
    if args.video_episodes:
        keep = {e.id for e in ws.episodes()[: args.video_episodes]}
        sub = Workspace.init(root / "video_season")
        for e in ws.episodes():
            if e.id in keep:
                added = add_episode(sub, Path(e.media), Path(e.subs))
                for mod, mdl in (("voice", model), ("linefeat", "v1"), (PROSODY, PROSODY_MODEL)):
                    sub.vectors.save(added.episode.id, mod, mdl, ws.vectors.load(e.id, mod, mdl))
                sub.mark_stage(added.episode.id, "voice", model)
                sub.mark_stage(added.episode.id, PROSODY, PROSODY_MODEL)
        sub.set_meta("voice_model", model)
        sub.write_machine_results(
            [g for g in groups if g[0].rsplit("-", 1)[0] in keep],
            [lab for lab in labels if lab[0].rsplit("-", 1)[0] in keep],
        )
        run_features(sub, Selection())
        sub_lines = len(select_lines(sub, Selection()))
        t0 = time.perf_counter()
        export(sub, "dataset", root / "video0", video=True)
        tv = time.perf_counter() - t0
        video_mb = _disk(root / "video0" / "video") / 1e6
        out["video_sample"] = {
            "episodes": args.video_episodes,
            "lines": sub_lines,
            "seconds": round(tv, 1),
            "video_mb": round(video_mb, 1),
        }
        per_line = tv / sub_lines
        out["with_video_extrapolated_s"] = round(per_line * n_lines, 0)
        out["with_video_extrapolated_disk_mb"] = round(
            out["dataset_disk_mb"] + video_mb / sub_lines * n_lines, 0
        )
        sub.close()
    ws.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--runs", type=int, default=3)
    p = sub.add_parser("centroids")
    p.add_argument(
        "--acted", action="store_true", help="also acted pseudo-episodes (builds 3, ~minutes)"
    )
    p = sub.add_parser("export")
    p.add_argument("--episodes", type=int, default=26)
    p.add_argument("--loops", type=int, default=4, help="demo loops per episode (80 lines each)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--video-episodes", type=int, default=1)
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "castlist-bench-export"))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"speed": cmd_speed, "centroids": cmd_centroids, "export": cmd_export}[args.cmd](args)
    (OUT / f"{args.cmd}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
