"""Face style guess on real pictures: the old rule (hit counts only, frames as sampled) against
the new one (hit rates and face sizes; animeface also sees small frames enlarged to 1280 px).

Not a test: it prints a small table. Run from the repo root:
    python benchmarks/bench_face_style.py [--data ../shared/data] [--width 640]

Live action: faces_identities photos in "episodes" of 12 frames, each photo scaled to
``--width`` as a frame of a small video would be; plus one hard episode of 12 frames built so
that animeface fires on many of them (every photo it fires on, then their mirror images, then
others), which is what a live-action video that was guessed anime looked like. Anime: each
anime_character_images picture alone as a one-frame "episode" at 480 and 640 px, and all five.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from embeddings.faces import face_backend, guess_style
from pipelines.stages.faces import GUESS_WIDTH, _BothScales

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def frame(path: Path, width: int) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    return np.asarray(image.resize((width, round(image.height * width / image.width))))


def old_rule(frames, live, anime) -> str:
    """The rule before issue 8: anime when animeface fires in >= 0.4x YuNet's frames."""
    lh = sum(bool(b) for b in live.detect(frames))
    ah = sum(bool(b) for b in anime.detect(frames))
    if not (lh or ah):
        return "off"
    return "anime" if ah >= 1 and ah >= 0.4 * lh else "live"


def new_rule(frames, live, anime) -> tuple[str, str]:
    g = guess_style(frames, live, _BothScales(anime, GUESS_WIDTH))
    return (g.style if g.live_hits or g.anime_hits else "off"), g.reason


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--live-episodes", type=int, default=3)
    args = ap.parse_args()
    live, anime = face_backend("live"), face_backend("anime")
    photos = sorted((args.data / "faces_identities").rglob("*.jpg"))
    pictures = sorted((args.data / "anime_character_images").glob("*.jpg"))
    cases: list[tuple[str, str, list[np.ndarray]]] = []
    frames = [frame(p, args.width) for p in photos[: 12 * args.live_episodes]]
    for i in range(args.live_episodes):
        cases.append((f"live photos {12 * i}-{12 * i + 11}", "live", frames[12 * i : 12 * i + 12]))
    fired = [f for f, boxes in zip(frames, anime.detect(frames), strict=True) if boxes]
    hard = (fired + [f[:, ::-1].copy() for f in fired])[:6]
    hard += [f for f in frames if not any(f is h for h in fired)][: 12 - len(hard)]
    cases.append((f"live, animeface-heavy ({len(fired)} fired)", "live", hard))
    for width in (480, 640):
        for p in pictures:
            cases.append((f"anime {p.stem} @{width}", "anime", [frame(p, width)]))
    cases.append(("anime all five @640", "anime", [frame(p, 640) for p in pictures]))
    print("| case | truth | old rule | new rule | new rule's reason |\n|---|---|---|---|---|")
    right = {"old": 0, "new": 0}
    t0 = time.monotonic()
    for name, truth, fr in cases:
        old = old_rule(fr, live, anime)
        new, why = new_rule(fr, live, anime)
        right["old"] += old == truth
        right["new"] += new == truth
        print(f"| {name} | {truth} | {old} | {new} | {why} |")
    n = len(cases)
    print(
        f"\nright: old {right['old']}/{n}, new {right['new']}/{n} ({time.monotonic() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
