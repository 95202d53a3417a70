"""Build pseudo-episodes (and the shipped demo voices) from the development data.

    python benchmarks/make_pseudo.py                       # 2 episodes x 4 series x SNRs
    python benchmarks/make_pseudo.py --snr clean 10 --episodes 3 --video
    python benchmarks/make_pseudo.py --snr 10 --keep-names 0.3  # ASS keeps 30% of its names
    python benchmarks/make_pseudo.py demo --out /tmp/demo  # the built-in demo episode
    python benchmarks/make_pseudo.py demo-data             # regenerate pipelines/demo/data

The development data lives in ../shared/data beside the repository (see its README); the ASS
texts are read only to build local pseudo-episodes, never copied into the repo.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.pseudo_seasons import build_season, thin_names  # noqa: E402
from pipelines.demo.episodes import (  # noqa: E402
    SAMPLE_RATE,
    VoicePool,
    active_frames,
    build_demo,
)

DATA = REPO.parent / "shared" / "data"

# the demo voices: 3 female + 3 male main voices, one of each for one-off characters
DEMO_MAIN = ("1998", "3331", "533", "1688", "3005", "2609")
DEMO_EXTRA = ("367", "2033")
DEMO_SECONDS = {"main": 38.0, "extra": 7.0}


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()


def series_episodes(data: Path, n: int) -> dict[str, list[Path]]:
    """The first ``n`` episodes (by path) of each series in anime_subtitles_named."""
    root = data / "anime_subtitles_named" / "ass"
    out = {}
    for series in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(series.rglob("*.ass"))
        out[series.name] = files[:n]
    return out


def voice_pool(data: Path, ami: bool = True) -> VoicePool:
    pool = VoicePool.from_folder(data / "librispeech_test_other", prefix="libri:")
    if ami:
        tests = data / "ami_meetings" / "tests_data"
        extra = VoicePool.rttm_voices(sorted(tests.glob("*.rttm")))
        extra.update(
            VoicePool.rttm_voices([data / "ami_meetings" / "sample" / "sample.rttm"], prefix="ami:")
        )
        pool = pool.with_extra(extra)
    return pool


def cmd_season(args: argparse.Namespace) -> None:
    data = Path(args.data)
    pool = voice_pool(data, ami=not args.no_ami)
    print(f"voice pool: {len(pool.voices)} main + {len(pool.extra)} extra voices")
    snrs = [None if s == "clean" else float(s) for s in args.snr]
    for series, files in series_episodes(data, args.episodes).items():
        if args.series and not any(s.lower() in series.lower() for s in args.series):
            continue
        for snr in snrs:
            tag = "clean" if snr is None else f"snr{snr:g}"
            out = Path(args.out) / _slug(series) / tag
            t0 = time.perf_counter()
            eps = build_season(
                files, pool, out, seed=args.seed, snr_db=snr, music=not args.no_music,
                video=args.video, names=[_slug(f.parent.name) for f in files],
            )  # fmt: skip
            dt = time.perf_counter() - t0
            for ep in eps:
                if args.keep_names < 1.0:
                    kept = thin_names(ep.ass, args.keep_names, ep.ass, seed=args.seed)
                    print(f"{ep.ass}: names kept on {kept} of {len(ep.truth)} lines")
                n_chars = len({t.speaker for t in ep.truth})
                n_voices = len({t.voice for t in ep.truth})
                print(
                    f"{ep.media}  {len(ep.truth)} lines  {n_chars} characters"
                    f"  {n_voices} voices  {ep.duration:.0f} s"
                )
            print(f"  {series} [{tag}]: {len(eps)} episodes in {dt:.1f} s")


def cmd_demo(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    ep = build_demo(args.out, seed=args.seed)
    print(
        f"{ep.media}  {len(ep.truth)} lines  {ep.duration:.0f} s  in {time.perf_counter() - t0:.1f} s"
    )
    for p in (ep.srt, ep.ass, ep.truth_csv):
        print(p)


def cmd_demo_data(args: argparse.Namespace) -> None:
    """Copy trimmed LibriSpeech utterances into the package (see ATTRIBUTION.md there)."""
    src = Path(args.data) / "librispeech_test_other"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.flac"):
        old.unlink()
    speakers_txt = (src / "SPEAKERS.TXT").read_text(encoding="utf-8").splitlines()
    meta = {}
    for row in speakers_txt:
        f = [c.strip() for c in row.split("|")]
        if len(f) == 5 and f[0].isdigit():
            meta[f[0]] = {"gender": f[1], "reader": f[4]}
    manifest: dict = {
        "source": "LibriSpeech test-other (openslr.org/12), via Resemblyzer's audio_data",
        "license": "CC BY 4.0",
        "sample_rate": SAMPLE_RATE,
        "speakers": {},
    }
    total = 0
    for spk in DEMO_MAIN + DEMO_EXTRA:
        role = "main" if spk in DEMO_MAIN else "extra"
        budget = DEMO_SECONDS[role]
        files = []
        for f in sorted((src / spk).glob("*.flac")):
            if budget <= 0.5:
                break
            x, sr = sf.read(str(f), dtype="float32")
            assert sr == SAMPLE_RATE, f
            act = np.flatnonzero(active_frames(x))
            a = max(0, act[0] - 5) * 320  # keep 100 ms around the speech
            b = min(len(x), (act[-1] + 6) * 320)
            b = min(b, a + int(budget * SAMPLE_RATE))
            clip = x[a:b]
            name = f.name
            sf.write(str(out / name), clip, SAMPLE_RATE, format="FLAC", subtype="PCM_16",
                     compression_level=1.0)  # fmt: skip
            files.append({"file": name, "source": f"{spk}/{f.name}",
                          "start_s": round(a / SAMPLE_RATE, 3), "end_s": round(b / SAMPLE_RATE, 3)})  # fmt: skip
            budget -= len(clip) / SAMPLE_RATE
            total += len(clip)
        manifest["speakers"][spk] = {"role": role, **meta.get(spk, {}), "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {out}: {total / SAMPLE_RATE:.0f} s of audio, {size / 1e6:.2f} MB")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("command", nargs="?", default="season", choices=["season", "demo", "demo-data"])
    ap.add_argument("--data", default=str(DATA), help="the shared development data folder")
    ap.add_argument("--out", default=None, help="output folder")
    ap.add_argument("--episodes", type=int, default=2, help="episodes per series")
    ap.add_argument("--series", nargs="*", help="only series whose name contains one of these")
    ap.add_argument("--snr", nargs="+", default=["clean", "15", "5"], help="dB, or 'clean'")
    ap.add_argument("--no-music", action="store_true", help="pink noise only as background")
    ap.add_argument("--no-ami", action="store_true", help="LibriSpeech voices only")
    ap.add_argument("--video", action="store_true", help="write .mkv with a video stream")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--keep-names", type=float, default=1.0, metavar="SHARE",
        help="the .ass keeps the Name field on only this share of lines (0..1)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    if args.command == "demo-data":
        args.out = args.out or str(REPO / "pipelines" / "demo" / "data")
        cmd_demo_data(args)
        return
    if not Path(args.data).is_dir() and args.command == "season":
        sys.exit(f"no development data at {args.data} (see --data)")
    args.out = args.out or (
        "/tmp/castlist_pseudo" if args.command == "season" else "/tmp/castlist_demo"
    )
    {"season": cmd_season, "demo": cmd_demo}[args.command](args)


if __name__ == "__main__":
    main()
