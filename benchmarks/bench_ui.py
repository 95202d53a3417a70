"""Render time of the browser's pages on a synthetic 26-episode season (about 10,000 lines).

Builds a workspace of planted voices (no media, so no clips are cut), groups it with the real
season stage, then renders each page with Streamlit's AppTest: once cold (empty caches) and
three times warm (what an annotator sees on every click), and reports the median. It also
times one action (name a group) including the re-propagation that follows it.

    python benchmarks/bench_ui.py [--episodes 26] [--lines 385] [--dir /tmp/bench_ui]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

from grouping.vectors import normalize_rows
from pipelines.records import SubtitleEvent
from pipelines.stages.run import regroup
from pipelines.store.workspace import Workspace

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
MODEL = "bench-voice-v1"
PAGES = ("Overview", "Groups", "Group", "Review", "Map", "History")


def build(root: Path, episodes: int, lines: int, speakers: int = 14, dim: int = 192) -> Path:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    ws = Workspace.init(root / "ws")
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(speakers, dim))
    centres = normalize_rows(centres, dtype=None)
    weights = 1.0 / np.arange(1, speakers + 1)  # a few leads speak most lines
    weights /= weights.sum()
    for n in range(episodes):
        who = rng.choice(speakers, size=lines, p=weights)
        X = centres[who] + 0.45 * rng.normal(size=(lines, dim)) / np.sqrt(dim)
        X = normalize_rows(X, dtype=None)
        events = [
            SubtitleEvent(2.0 * i, 2.0 * i + 1.6, f"line {i} of ep {n}") for i in range(lines)
        ]
        media, subs = root / f"ep{n + 1:02d}.mkv", root / f"ep{n + 1:02d}.srt"
        media.write_bytes(b"x")
        subs.write_text(str(n))
        ep, _ = ws.add_episode(media, subs, 2.0 * lines + 5, "video", events, {})
        ws.vectors.save(ep.id, "voice", MODEL, X.astype(np.float32))
    ws.set_meta("voice_model", MODEL)
    t = time.perf_counter()
    regroup(ws)
    print(f"built {episodes * lines} lines; season regroup {time.perf_counter() - t:.2f} s")
    ws.close()
    return root / "ws"


def render(root: Path, page: str, repeats: int = 3) -> tuple[float, list[float]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(root)
    at.session_state["page"] = page
    at.session_state["play_clips"] = False
    t = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    warm = []
    for _ in range(repeats):
        t = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t)
    return cold, warm


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=26)
    parser.add_argument("--lines", type=int, default=385)
    parser.add_argument("--dir", default="/tmp/bench_ui")
    args = parser.parse_args()
    root = build(Path(args.dir), args.episodes, args.lines)
    print(f"{'page':10s} {'first (s)':>10s} {'median of 3 (s)':>16s}")
    for page in PAGES:
        cold, warm = render(root, page)
        print(f"{page:10s} {cold:10.3f} {statistics.median(warm):16.3f}")
    with Workspace.open(root) as ws:
        gid = ws.lines_frame(speech_only=True)["group_id"].value_counts().index[0]
        t = time.perf_counter()
        ws.name_group(gid, "Bench", who="bench")
        acted = time.perf_counter() - t
        regroup(ws)
        total = time.perf_counter() - t
    print(f"action name_group: {acted * 1000:.0f} ms; with re-propagation: {total:.2f} s")


if __name__ == "__main__":
    main()
