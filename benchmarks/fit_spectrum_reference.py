"""Fit the reference spectrum the ``spectrum`` voice backend subtracts from every line.

    python benchmarks/fit_spectrum_reference.py            # writes embeddings/data/speech_spectrum_v1.json
    python benchmarks/fit_spectrum_reference.py --data ../shared/data/librispeech_test_other --no-save

The reference is the mean of ``embeddings.spectrum.line_spectrum`` over read-speech utterances
(LibriSpeech test-other, every flac): "average speech", so a line's vector says how its timbre
departs from it. Read speech only, never the acted voices the backend is measured on.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from embeddings.spectrum import REFERENCE, line_spectrum  # noqa: E402
from pipelines.io.media import load_audio  # noqa: E402

log = logging.getLogger("fit_spectrum_reference")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared/data/librispeech_test_other")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    files = sorted(args.data.rglob("*.flac"))
    if not files:
        raise SystemExit(f"no .flac files under {args.data}: give --data a LibriSpeech folder")
    rows = np.stack([line_spectrum(load_audio(f)) for f in files])
    mean = rows.mean(axis=0)
    log.info("%d utterances; mean |reference| %.3f", len(files), float(np.abs(mean).mean()))
    if args.no_save:
        return
    out = REPO / "embeddings/data" / REFERENCE
    record = {
        "source": f"{args.data.name}: {len(files)} utterances",
        "command": "python benchmarks/fit_spectrum_reference.py",
        "mean": [round(float(v), 5) for v in mean],
    }
    out.write_text(json.dumps(record) + "\n", encoding="utf-8")
    log.info("wrote %s", out)


if __name__ == "__main__":
    main()
