"""Face benchmark: detection rate and speed per detector, identity separation, style guess.

Not a test: it prints small tables. Run from the repo root:
    python benchmarks/bench_faces.py [--data ../shared/data]

Live action: YuNet + SFace on faces_identities (61 photos, 13 people; labels from
identity_clusters_from_pair_labels.csv). Anime: animeface on anime_character_images at several
frame widths; a detection counts only when a box holds the face centre checked by eye. The
anime colour descriptor is measured by jittering each true face's box, size and brightness (as
consecutive frames would) and asking whether the nearest neighbour is the same character.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from PIL import Image

from embeddings.faces_anime import AnimeFaceColour, describe
from embeddings.faces_live import YuNetSFace

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CENTRES = {  # face centres in each picture's own pixels, checked by eye (wanderer: two faces)
    "ayaka": [(591, 409)],
    "raidenShogun": [(466, 129)],
    "wanderer": [(1045, 397), (1438, 392)],
    "yaemiko": [(927, 572)],
    "zhongli": [(1271, 493)],
}


def load(path: Path, max_side: int | None = None) -> np.ndarray:
    image = Image.open(path)
    if max_side:
        image.draft("RGB", (max_side, max_side))
    return np.asarray(image.convert("RGB"))


def resize(image: np.ndarray, width: int | None) -> tuple[np.ndarray, float]:
    if width is None or width >= image.shape[1]:
        return image, 1.0
    scale = width / image.shape[1]
    size = (width, round(image.shape[0] * scale))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR)), scale


def separation(vectors: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    sims = vectors @ vectors.T
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    out = {"same": float(sims[same & off].mean()), "different": float(sims[~same].mean())}
    out["gap"] = out["same"] - out["different"]
    np.fill_diagonal(sims, -np.inf)
    out["nn_accuracy"] = float((labels[sims.argmax(axis=1)] == labels).mean())
    return out


def inside(point, box) -> bool:
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def jittered_descriptors(
    pictures: dict[str, np.ndarray], found: dict, per_face: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Colour descriptors of each true face (by CENTRES) with its box, size and brightness
    jittered as consecutive frames would; labels are picture name + face number."""
    rng = np.random.default_rng(seed)
    vectors, labels = [], []
    for name, centres in CENTRES.items():
        for k, centre in enumerate(centres):
            faces = [f for f in found[name] if inside(centre, f.box)]
            if not faces:
                continue
            x, y, w, _ = faces[0].box
            for _ in range(per_face):
                size = w * rng.uniform(0.85, 1.15)
                dx, dy = rng.uniform(-0.08, 0.08, 2) * w
                image = np.clip(pictures[name] * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8)
                vectors.append(
                    describe(image, (round(x + dx), round(y + dy), round(size), round(size)))
                )
                labels.append(f"{name}{k}")
    return np.stack(vectors), np.array(labels)


def bench_live(root: Path, live: YuNetSFace, anime: AnimeFaceColour) -> None:
    rows = list(csv.DictReader((root / "identity_clusters_from_pair_labels.csv").open()))
    folder = root / "tests" / "unit" / "dataset"
    images = [load(folder / r["file"], max_side=1000) for r in rows]
    start = time.perf_counter()
    found = live(images)
    seconds = time.perf_counter() - start
    hits = [i for i, faces in enumerate(found) if faces]
    vectors = np.stack([max(found[i], key=lambda f: f.area).vector for i in hits])
    labels = np.array([rows[i]["identity_cluster"] for i in hits])
    sep = separation(vectors, labels)
    print("## live action: YuNet + SFace on faces_identities")
    print(f"backend: {live.name}")
    print(f"detection rate: {len(hits)}/{len(rows)}  speed: {len(images) / seconds:.1f} images/s")
    print(
        f"identity: NN accuracy {sep['nn_accuracy']:.3f}, cosine same {sep['same']:.3f} "
        f"vs different {sep['different']:.3f} (gap {sep['gap']:.3f})"
    )
    small = [resize(im, 640)[0] for im in images]
    start = time.perf_counter()
    anime_hits = sum(bool(b) for b in anime.detect(small))
    seconds = time.perf_counter() - start
    print(
        f"animeface on the same photos (640 wide): faces in {anime_hits}/{len(rows)} "
        f"({len(images) / seconds:.1f} images/s)\n"
    )


def bench_anime(root: Path, live: YuNetSFace) -> None:
    pictures = {p.stem: load(p) for p in sorted(root.glob("*.jpg"))}
    anime = AnimeFaceColour(max_side=100_000)
    print("## anime: detection on anime_character_images (true = box holds the face centre)")
    print(
        "| width | animeface true/5 | animeface boxes | animeface img/s | YuNet any/5 | YuNet img/s |"
    )
    print("|---|---|---|---|---|---|")
    full = None
    for width in (640, 960, 1280, None):
        scaled = {k: resize(v, width) for k, v in pictures.items()}
        start = time.perf_counter()
        boxes = anime.detect([im for im, _ in scaled.values()])
        a_s = len(scaled) / (time.perf_counter() - start)
        true = 0
        for (name, (_, scale)), found in zip(scaled.items(), boxes, strict=True):
            centres = [(x * scale, y * scale) for x, y in CENTRES[name]]
            true += any(inside(c, b) for c in centres for b in found)
        start = time.perf_counter()
        live_boxes = live.detect([im for im, _ in scaled.values()])
        l_s = len(scaled) / (time.perf_counter() - start)
        print(
            f"| {width or 'native'} | {true} | {sum(map(len, boxes))} | {a_s:.2f} | "
            f"{sum(bool(b) for b in live_boxes)} | {l_s:.1f} |"
        )
        if width is None:
            full = dict(zip(pictures, anime(list(pictures.values())), strict=True))

    vectors, labels = jittered_descriptors(pictures, full, per_face=8)
    sep = separation(vectors, labels)
    print(
        f"\ncolour descriptor ({anime.name}), {len(set(labels))} characters x 8 jittered crops: "
        f"NN accuracy {sep['nn_accuracy']:.3f}, cosine same {sep['same']:.3f} vs different "
        f"{sep['different']:.3f} (gap {sep['gap']:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    live = YuNetSFace()
    bench_live(args.data / "faces_identities", live, AnimeFaceColour(max_side=640))
    bench_anime(args.data / "anime_character_images", live)


if __name__ == "__main__":
    main()
