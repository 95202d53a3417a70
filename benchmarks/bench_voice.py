"""Voice embedding benchmark: speed (real-time factor) and speaker separation on LibriSpeech.

Not a test: it prints a small table. Run from the repo root:
    python benchmarks/bench_voice.py [--data ../shared/data/librispeech_test_other]
    python benchmarks/bench_voice.py --backend anime --random-weights --crops none  # speed only
(``--random-weights`` saves an untrained network in the backend's file format: right for speed,
meaningless for separation.)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from embeddings.voice import load_voice_embedder

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/librispeech_test_other"


def load_pool(root: Path) -> tuple[list[np.ndarray], np.ndarray]:
    waves, speakers = [], []
    for path in sorted(root.glob("*/*.flac")):
        wave, sr = sf.read(path, dtype="float32")
        if sr != 16000:
            raise SystemExit(f"{path}: expected 16 kHz, got {sr}")
        waves.append(wave)
        speakers.append(path.parent.name)
    if not waves:
        raise SystemExit(f"no */*.flac under {root}")
    return waves, np.array(speakers)


def centre_crop(wave: np.ndarray, seconds: float | None) -> np.ndarray:
    if seconds is None or wave.size <= seconds * 16000:
        return wave
    n = int(seconds * 16000)
    start = (wave.size - n) // 2
    return wave[start : start + n]


def separation(emb: np.ndarray, speakers: np.ndarray) -> dict[str, float]:
    """Same-vs-different speaker cosine, nearest-neighbour speaker accuracy and EER."""
    sim = emb @ emb.T
    same = speakers[:, None] == speakers[None, :]
    off = ~np.eye(len(speakers), dtype=bool)
    s_same, s_diff = sim[same & off], sim[~same]
    nn = np.where(off, sim, -np.inf).argmax(axis=1)
    thresholds = np.sort(np.concatenate([s_same, s_diff]))
    frr = np.searchsorted(np.sort(s_same), thresholds) / s_same.size
    far = 1 - np.searchsorted(np.sort(s_diff), thresholds) / s_diff.size
    i = np.argmin(np.abs(frr - far))
    return {
        "same": float(s_same.mean()),
        "diff": float(s_diff.mean()),
        "gap": float(s_same.mean() - s_diff.mean()),
        "nn_acc": float((speakers[nn] == speakers).mean()),
        "eer": float((frr[i] + far[i]) / 2),
    }


def random_lines(waves: list[np.ndarray], n: int, lo: float, hi: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        wave = waves[rng.integers(len(waves))]
        length = min(int(rng.uniform(lo, hi) * 16000), wave.size)
        start = rng.integers(0, wave.size - length + 1)
        lines.append(wave[start : start + length])
    return lines


def random_weights(backend: str, folder: Path) -> dict[str, str]:
    """Untrained full-size networks saved as the hub files are, for the ECAPA parts of backend."""
    import torch

    from embeddings.ecapa_tdnn import AnimeSpeakerNet, EcapaTDNN

    files = {}
    for part in backend.split("+"):
        name = part.partition(":")[0]
        if name.startswith("anime"):
            files[name] = folder / f"{name}.pth"
            torch.save(AnimeSpeakerNet().state_dict(), files[name])
        elif name == "ecapa":
            files[name] = folder / "embedding_model.ckpt"
            torch.save(EcapaTDNN().state_dict(), files[name])
    return {k: str(v) for k, v in files.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--backend", default="campplus")
    ap.add_argument(
        "--crops", default="0.5,1,1.5,3,full", help="crop lengths in seconds, or 'full'"
    )
    ap.add_argument("--min-seconds", default="0,1.0", help="short-line padding settings")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--lines", type=int, default=150, help="1-4 s lines for the speed test")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--random-weights", action="store_true", help="untrained ECAPA weights")
    args = ap.parse_args()
    kw: dict = {}
    if args.random_weights:
        import tempfile

        kw["weights"] = random_weights(args.backend, Path(tempfile.mkdtemp()))

    waves, speakers = load_pool(args.data)
    print(f"{len(waves)} utterances, {len(set(speakers))} speakers from {args.data}\n")

    print("speed: 1-4 s lines, batched")
    print(f"{'threads':>7} {'lines':>6} {'audio s':>8} {'wall s':>7} {'RTF x':>7}")
    lines = random_lines(waves, args.lines, 1.0, 4.0)
    audio_s = sum(x.size for x in lines) / 16000
    for threads in [int(t) for t in args.threads.split(",")]:
        emb = load_voice_embedder(
            args.backend, num_threads=threads, batch_size=args.batch_size, **kw
        )
        emb(lines[:4])  # warm-up
        t0 = time.perf_counter()
        emb(lines)
        wall = time.perf_counter() - t0
        print(f"{threads:>7} {len(lines):>6} {audio_s:>8.1f} {wall:>7.2f} {audio_s / wall:>7.1f}")

    print("\nseparation: 100 utterances, centre crops")
    print(f"{'crop':>5} {'min_s':>5} {'same':>6} {'diff':>6} {'gap':>6} {'NN acc':>6} {'EER':>6}")
    for crop in [] if args.crops == "none" else args.crops.split(","):
        seconds = None if crop == "full" else float(crop)
        cropped = [centre_crop(w, seconds) for w in waves]
        for min_s in [float(m) for m in args.min_seconds.split(",")]:
            emb = load_voice_embedder(
                args.backend, min_seconds=min_s, batch_size=args.batch_size, **kw
            )
            r = separation(emb(cropped), speakers)
            print(
                f"{crop:>5} {min_s:>5.1f} {r['same']:>6.3f} {r['diff']:>6.3f} {r['gap']:>6.3f} "
                f"{r['nn_acc']:>6.2f} {r['eer']:>6.3f}"
            )


if __name__ == "__main__":
    main()
