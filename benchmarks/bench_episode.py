"""Wall time of a whole episode through castlist: `add` (probe, subtitles) then `run`
(audio extraction, CAM++ voice vectors, grouping), voice only, cold each time.

    python benchmarks/bench_episode.py --repeats 3            # 24 min, ~330 lines, demo voices
    python benchmarks/bench_episode.py --ass some_named.ass   # a real turn structure instead

Prints per-stage seconds, lines/s and real-time factor (episode seconds / wall seconds);
quote the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pseudo_seasons import turns_from_ass
from pipelines.demo.episodes import build_episode, demo_pool, synthetic_turns
from pipelines.io.audio import episode_audio
from pipelines.stages.ingest import add_episode
from pipelines.stages.run import embed_episode, voice_embedder
from pipelines.stages.season import group_season
from pipelines.store.workspace import Workspace


def one_run(media: Path, subs: Path, root: Path) -> dict[str, float]:
    t = {}
    t0 = time.perf_counter()
    ws = Workspace.init(root)
    added = add_episode(ws, media, subs)
    t["add"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    episode_audio(ws, added.episode.id)
    t["audio"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    embedder = voice_embedder("campplus")
    t["load_model"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    embed_episode(ws, added.episode.id, embedder)
    t["voice"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    group_season(ws, embedder.name)
    t["group"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    t["lines"] = added.summary.speech
    ws.close()
    return t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ass", help="a named ASS file whose turn structure to use")
    ap.add_argument("--minutes", type=float, default=24.0)
    ap.add_argument("--lines", type=int, default=330)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.ass:
            turns = turns_from_ass(args.ass)
        else:
            turns = synthetic_turns(
                n_lines=args.lines, n_main=8, n_minor=6, seed=0, duration_s=args.minutes * 60
            )
        ep = build_episode(
            turns, demo_pool(), tmp / "media", "bench", seed=0, snr_db=15.0, video=True
        )
        runs = [one_run(ep.media, ep.srt, tmp / f"ws{i}") for i in range(args.repeats)]
    keys = ["add", "audio", "load_model", "voice", "group", "total"]
    med = {k: statistics.median(r[k] for r in runs) for k in keys}
    speech_s = sum(t.end - t.start for t in turns)
    print(
        f"episode: {ep.duration / 60:.1f} min, {runs[0]['lines']:.0f} speech lines, {speech_s:.0f} s of speech"
    )
    print(f"{'stage':<12}{'median s':>10}{'runs':>30}")
    for k in keys:
        print(f"{k:<12}{med[k]:>10.2f}{'  '.join(f'{r[k]:.2f}' for r in runs):>30}")
    print(
        f"voice stage: {speech_s / med['voice']:.0f}x real time (speech s / wall s), {runs[0]['lines'] / med['voice']:.0f} lines/s"
    )
    print(
        f"whole episode: {ep.duration / med['total']:.0f}x real time, add->groups {med['total']:.1f} s"
    )


if __name__ == "__main__":
    main()
