"""ASR lines against subtitle lines on one pseudo-episode (LibriSpeech voices, music at 10 dB).

    python benchmarks/bench_asr.py --episode bench-out/grouping/<season>/media/ep01 \
        --seconds 300

Takes the first ``--seconds`` of a pseudo-episode (``ep01.wav`` + ``ep01.srt`` +
``ep01.truth.csv``, as benchmarks/grouping_data.py renders them), makes lines twice (from the
subtitles, and from speech recognition with the bundled whisper tiny.en) in two workspaces, embeds
and groups both with castlist's own path, and reports:

- boundary error: for each true line start (end), the distance to the nearest ASR line start
  (end); median and share within 0.3 s; the share of true lines with no ASR line over them;
- purity: share of ASR line time spoken by the line's main voice;
- grouping: edge F1 and B-cubed F1 of the unsupervised grouping, each line's truth being the
  voice that speaks most of it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grouping.metrics import bcubed, edge_prf  # noqa: E402
from pipelines.io.subtitles import load_subtitles, write_srt  # noqa: E402
from pipelines.stages.ingest import add_episode  # noqa: E402
from pipelines.stages.run import run  # noqa: E402
from pipelines.store.workspace import Workspace  # noqa: E402

log = logging.getLogger("bench_asr")


def overlap_truth(lines: pd.DataFrame, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per line, the voice speaking most of it ("" when none) and that voice's share."""
    voices, purity = [], []
    for s, e in zip(lines["start"], lines["end"], strict=True):
        ov = np.clip(np.minimum(e, truth["end"]) - np.maximum(s, truth["start"]), 0, None)
        by_voice = pd.Series(ov.to_numpy()).groupby(truth["voice"].to_numpy()).sum()
        if by_voice.max() <= 0:
            voices.append("")
            purity.append(0.0)
        else:
            voices.append(str(by_voice.idxmax()))
            purity.append(float(by_voice.max() / by_voice.sum()))
    return np.array(voices), np.array(purity)


def boundary_errors(lines: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    out = {}
    for col in ("start", "end"):
        d = np.abs(truth[col].to_numpy()[:, None] - lines[col].to_numpy()[None, :]).min(axis=1)
        out[f"{col}_median_s"] = float(np.median(d))
        out[f"{col}_within_0.3s"] = float(np.mean(d <= 0.3))
    covered = [
        bool(((lines["start"] < e) & (lines["end"] > s)).any())
        for s, e in zip(truth["start"], truth["end"], strict=True)
    ]
    out["true_lines_missed"] = 1.0 - float(np.mean(covered))
    return out


def score(ws: Workspace, truth: pd.DataFrame) -> dict[str, float]:
    df = ws.lines_frame(speech_only=True)
    voices, purity = overlap_truth(df, truth)
    keep = voices != ""
    t = pd.factorize(voices[keep])[0]
    p = pd.factorize(df["group_id"].fillna("none").to_numpy()[keep])[0]
    return {
        "lines": len(df),
        "purity": float(np.mean(purity[keep])) if keep.any() else 0.0,
        "edge_f1": edge_prf(t, p)["f1"],
        "bcubed_f1": bcubed(t, p)["f1"],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--episode", required=True, help="path prefix of the pseudo-episode files")
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--asr-model", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    base = Path(args.episode)
    truth = pd.read_csv(f"{base}.truth.csv")
    truth = truth[truth["end"] <= args.seconds].reset_index(drop=True)
    audio, sr = sf.read(f"{base}.wav", dtype="float32")
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as tmp:
        tmp = Path(tmp)
        wav = tmp / "media" / "ep.wav"
        wav.parent.mkdir()
        sf.write(wav, audio[: int(args.seconds * sr)], sr)
        subs = load_subtitles(f"{base}.srt").events
        srt = write_srt([e for e in subs if e.end <= args.seconds], tmp / "ep.subs.srt")
        rows = {}
        for how in ("subtitles", "asr"):
            ws = Workspace.init(tmp / f"ws_{how}")
            t0 = time.perf_counter()
            if how == "subtitles":
                add_episode(ws, wav, srt)
            else:
                add_episode(ws, wav, asr="on", asr_model=args.asr_model)
            t_add = time.perf_counter() - t0
            run(ws)
            rows[how] = {**score(ws, truth), "add_s": round(t_add, 1)}
            if how == "asr":
                df = ws.lines_frame(speech_only=True)
                rows[how].update(boundary_errors(df, truth))
            ws.close()
    print(f"episode {base} (first {args.seconds:.0f} s, {len(truth)} true lines)")
    print(pd.DataFrame(rows).T.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
