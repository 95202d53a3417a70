"""Cost of the store's safety nets on a synthetic 26-episode season (about 10,000 lines):
the rolling backup before a writing command (taken, and skipped when nothing changed),
opening the workspace, validated vector loads, ``castlist doctor``, and the workspace lock.

    python benchmarks/bench_store.py [--episodes 26] [--lines 385] [--dir /tmp/bench_store]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipelines.records import SubtitleEvent
from pipelines.stages.run import regroup
from pipelines.store import backup, doctor
from pipelines.store.lock import WorkspaceLock
from pipelines.store.workspace import Workspace

MODEL = "bench-voice-v1"


def build(root: Path, episodes: int, lines: int, dim: int = 192) -> Path:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(14, dim))
    with Workspace.init(root / "ws") as ws:
        for n in range(episodes):
            X = centres[rng.integers(0, 14, lines)] + 0.5 * rng.normal(size=(lines, dim))
            events = [SubtitleEvent(2.0 * i, 2.0 * i + 1.6, f"line {i}") for i in range(lines)]
            media, subs = root / f"ep{n + 1:02d}.mkv", root / f"ep{n + 1:02d}.srt"
            media.write_bytes(b"x")
            subs.write_text(str(n))
            ep, _ = ws.add_episode(media, subs, 2.0 * lines + 5, "audio", events, {})
            ws.vectors.save(ep.id, "voice", MODEL, X.astype(np.float32))
            ws.mark_stage(ep.id, "voice", MODEL)
        ws.set_meta("voice_model", MODEL)
        regroup(ws)
    return root / "ws"


def timed(fn: Callable[[], object], repeats: int = 5) -> float:
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=26)
    ap.add_argument("--lines", type=int, default=385)
    ap.add_argument("--dir", default="/tmp/bench_store")
    args = ap.parse_args()
    ws_root = build(Path(args.dir), args.episodes, args.lines)
    db_mb = (ws_root / "castlist.db").stat().st_size / 1e6

    def changed_backup() -> None:
        with Workspace.open(ws_root) as ws:
            ws.set_meta("bench", str(time.time()))
        backup.back_up(ws_root)

    def load_all() -> None:
        with Workspace.open(ws_root) as ws:
            for ep in ws.episodes():
                ws.vectors.load(ep.id, "voice", MODEL)

    def load_raw() -> None:
        with Workspace.open(ws_root) as ws:
            for ep in ws.episodes():
                np.load(ws.vectors.path(ep.id, "voice", MODEL))

    def lock() -> None:
        with WorkspaceLock(ws_root, "bench"):
            pass

    n = args.episodes * args.lines
    print(f"{n} lines, castlist.db {db_mb:.1f} MB")
    print(f"backup taken (set_meta + online backup): {timed(changed_backup):.3f} s")
    print(
        f"backup skipped (nothing changed):        {timed(lambda: backup.back_up(ws_root)):.3f} s"
    )
    print(
        f"open workspace:                          {timed(lambda: Workspace.open(ws_root).close()):.4f} s"
    )
    print(
        f"load all voice vectors, validated:       {timed(load_all):.3f} s (raw np.load {timed(load_raw):.3f} s)"
    )
    print(
        f"doctor check (integrity + vectors):      {timed(lambda: doctor.check(ws_root), 3):.3f} s"
    )
    print(f"lock acquire + release:                  {timed(lock) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
