"""Peak memory (RSS) of `castlist run` per stage on a long pseudo-episode, as a user runs it.

    python benchmarks/bench_memory.py --minutes 24 --repeats 3            # voice + faces
    python benchmarks/bench_memory.py --minutes 24 --faces off

Builds a pseudo-episode (demo voices, a video track) once, then for each repeat runs
`castlist init/add/run` in a child process and samples the child's RSS every 20 ms; the stage
is read from the progress lines `run` prints. Prints the median peak per stage and overall, and the median wall time of `run`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.demo.episodes import build_episode, demo_pool, synthetic_turns  # noqa: E402

CLI = [sys.executable, "-m", "pipelines.cli"]
_STAGE = re.compile(r"\]\s+([a-z]+)")


def one_run(media: Path, subs: Path, root: Path, faces: str) -> dict[str, float]:
    subprocess.run([*CLI, "init", str(root)], check=True, capture_output=True)
    subprocess.run([*CLI, "add", str(root), str(media), "--subs", str(subs)], check=True,
                   capture_output=True)  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "run", str(root), "--faces", faces], stderr=subprocess.PIPE, text=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    stage, peaks = ["start"], {}
    ps = psutil.Process(proc.pid)

    def sample() -> None:
        while proc.poll() is None:
            try:
                rss = ps.memory_info().rss
            except psutil.NoSuchProcess:
                break
            peaks[stage[0]] = max(peaks.get(stage[0], 0), rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for line in proc.stderr:
        m = _STAGE.search(line)
        if m:
            stage[0] = {"episodes": "voice"}.get(m.group(1), m.group(1))
    proc.wait()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"castlist run failed with {proc.returncode}")
    out = {k: v / 2**20 for k, v in peaks.items()}
    out["overall"] = max(out.values())
    out["seconds"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=24.0)
    ap.add_argument("--lines", type=int, default=330)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--faces", default="live", choices=["live", "anime", "off"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        turns = synthetic_turns(n_lines=args.lines, n_main=8, n_minor=6, seed=0,
                                duration_s=args.minutes * 60)  # fmt: skip
        ep = build_episode(turns, demo_pool(), tmp / "media", "ep", seed=0, snr_db=15.0,
                           video=True)  # fmt: skip
        runs = [one_run(ep.media, ep.srt, tmp / f"ws{i}", args.faces) for i in range(args.repeats)]
    print(f"episode: {ep.duration / 60:.1f} min, {args.lines} lines, --faces {args.faces}")
    stages = sorted({k for r in runs for k in r} - {"seconds"}, key=lambda k: (k == "overall", k))
    print(f"{'stage':<12}{'median peak MiB':>16}   runs")
    for k in stages:
        vals = [r.get(k, 0.0) for r in runs]
        print(f"{k:<12}{statistics.median(vals):>16.0f}   " + " ".join(f"{v:.0f}" for v in vals))
    secs = [r["seconds"] for r in runs]
    print(
        f"`castlist run` wall time: median {statistics.median(secs):.1f} s (runs "
        + " / ".join(f"{v:.1f}" for v in secs)
        + ")"
    )


if __name__ == "__main__":
    main()
