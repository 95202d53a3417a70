"""Voice-stage throughput with Ray on 1 vs 2 worker processes, and the catalogue projection.

    OMP_NUM_THREADS=1 python benchmarks/bench_ray.py --repeats 3
    python benchmarks/bench_ray.py --episodes 6 --lines 80 --minutes 3.2 --json out.json

A season of demo-voice pseudo-episodes (real LibriSpeech speech, music at 15 dB, subtitles
without names) is embedded, cold each time, (1) in-process, (2) with ``run --ray`` on a local
Ray cluster of 1 and then 2 worker processes (one CPU each). Each Ray run counts from task
submission to the last episode recorded by the driver: worker start, model load, audio
extraction and CAM++ included; the cluster's own start is timed apart. The driver's share per
episode (reading the episode's rows, checking and recording its files) is timed on its own.

The projection for a catalogue (default 1,300 episodes, 430,000 lines) on M machines of P
worker processes each:

    T(M) = S + max(L / (M * P * r * e), E * d) + G

r: lines/s of one worker process in steady state (sum of task times, one worker); e: the
measured efficiency of P processes on one machine (speed-up / P); S: start-up (cluster join,
worker start, model load: the 1-worker wall time minus its task times); d: driver seconds per
episode (the driver records episodes one at a time, so it bounds the throughput); G: the season
grouping on the driver (not run here: the README's 1M-line figure is its upper bound). Machines
are assumed to add like the processes of one machine (episodes are independent, vectors go to
shared storage): an assumption, not a measurement, beyond one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.pseudo_seasons import build_demo_season
from pipelines.stages.distributed import episode_job, record, run_on_ray
from pipelines.stages.episode_task import StageSpec
from pipelines.stages.ingest import add_episode
from pipelines.stages.run import DEFAULT_VOICE, embed_episode, voice_embedder
from pipelines.store.workspace import Workspace

GROUP_1M_SECONDS = 37.6
"""README: grouping 1,000,000 lines (benchmarks/bench_grouping_speed.py); an upper bound for G."""


def _spin(n: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def cpu_control(n: int = 15_000_000) -> float:
    """Speed-up of 2 processes over 1 on a pure-Python loop (2.0 on two idle cores): what this
    machine offered at the time, against which the Ray speed-up is read."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [1000, 1000]))  # both processes up before timing
        t0 = time.perf_counter()
        pool.submit(_spin, n).result()
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        list(pool.map(_spin, [n, n]))
        two = time.perf_counter() - t0
    return 2 * one / two


def fresh_workspace(media: list, root: Path) -> Path:
    with Workspace.init(root) as ws:
        for episode in media:
            add_episode(ws, episode.media, episode.srt)
    return root


def in_process(template: Path, root: Path) -> dict[str, float]:
    ws_dir = shutil.copytree(template, root)
    t0 = time.perf_counter()
    with Workspace.open(ws_dir) as ws:
        embedder = voice_embedder(DEFAULT_VOICE)
        for episode in ws.episodes():
            embed_episode(ws, episode.id, embedder)
    return {"wall": time.perf_counter() - t0}


def with_ray(template: Path, root: Path, workers: int) -> dict:
    import ray

    ws_dir = shutil.copytree(template, root)
    t0 = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=workers,
        include_dashboard=False,
        object_store_memory=100 * 2**20,
        logging_level="ERROR",
    )
    start = time.perf_counter() - t0
    try:
        with Workspace.open(ws_dir) as ws:
            key = voice_embedder(DEFAULT_VOICE).name
            t0 = time.perf_counter()
            results = run_on_ray(ws, "auto", StageSpec(DEFAULT_VOICE, None, "cpu"), key, None)
            wall = time.perf_counter() - t0
            driver = driver_seconds(ws, results)
    finally:
        ray.shutdown()
    tasks = [r.seconds["voice"] for r in results]
    return {
        "cluster_start": start,
        "wall": wall,
        "task_sum": sum(tasks),
        "processes": len({r.pid for r in results}),
        "driver_per_episode": driver,
    }


def driver_seconds(ws: Workspace, results: list, repeats: int = 5) -> float:
    """Median seconds the driver spends per episode: building its job and recording it."""
    times = []
    for _ in range(repeats):
        for result in results:
            t0 = time.perf_counter()
            episode_job(ws, ws.episode(result.episode_id), frozenset())
            record(ws, result)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def projection(
    r: float, e: float, per_machine: int, start: float, d: float, episodes: int, lines: int
) -> list[dict[str, float]]:
    group = GROUP_1M_SECONDS * min(1.0, lines / 1e6) if lines <= 1e6 else GROUP_1M_SECONDS
    rows = []
    for m in (1, 2, 4, 8, 16, 32, 64, 128):
        work = lines / (m * per_machine * r * e)
        total = start + max(work, episodes * d) + group
        rows.append({"machines": m, "hours": total / 3600, "driver_bound": episodes * d >= work})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--episodes", type=int, default=6)
    ap.add_argument("--lines", type=int, default=80)
    ap.add_argument("--minutes", type=float, default=3.2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--catalogue-episodes", type=int, default=1300)
    ap.add_argument("--catalogue-lines", type=int, default=430_000)
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument(
        "--worker-niceness",
        default="0",
        help="RAY_worker_niceness of the workers (Ray's own default is 15, which on a machine "
        "shared with other work hands the CPU to everything else first; 0 competes like the "
        "in-process run does)",
    )
    args = ap.parse_args()
    os.environ["RAY_worker_niceness"] = args.worker_niceness  # noqa: SIM112 (Ray's spelling)

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        tmp = Path(tmp)
        media = build_demo_season(tmp / "media", args.episodes, args.lines, args.minutes * 60)
        template = fresh_workspace(media, tmp / "template")
        with Workspace.open(template) as ws:
            n_lines = sum(len(ws.lines(e.id, speech_only=True)) for e in ws.episodes())
        audio = sum(e.duration for e in media)
        print(
            f"season: {args.episodes} episodes, {n_lines} speech lines, {audio / 60:.1f} min; "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
            f"Ray worker niceness {args.worker_niceness}, "
            f"{os.cpu_count()} CPUs (shared with other work: quote medians)"
        )
        runs: dict[str, list[dict]] = {"in-process": [], "ray-1": [], "ray-2": []}
        controls: list[float] = []
        for rep in range(args.repeats):  # interleaved, so load changes hit every setting
            controls.append(cpu_control())
            runs["in-process"].append(in_process(template, tmp / f"inproc{rep}"))
            for workers in (1, 2):
                runs[f"ray-{workers}"].append(
                    with_ray(template, tmp / f"ray{workers}-{rep}", workers)
                )
            print(
                f"repeat {rep + 1}: control speed-up {controls[-1]:.2f}; "
                + ", ".join(f"{k} {v[-1]['wall']:.1f} s" for k, v in runs.items())
            )

    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in runs.items()}
    print(f"\n{'setting':<12} {'wall s':>8} {'lines/s':>8} {'x real time':>11}")
    for k, m in med.items():
        print(f"{k:<12} {m['wall']:8.1f} {n_lines / m['wall']:8.1f} {audio / m['wall']:11.1f}")
    speedup = med["ray-1"]["wall"] / med["ray-2"]["wall"]
    control = statistics.median(controls)
    for k in ("ray-1", "ray-2"):
        print(f"{k}: tasks busy {med[k]['task_sum'] / med[k]['wall']:.2f} processes on average")
    e = speedup / 2
    r = n_lines / med["ray-1"]["task_sum"]
    start = med["ray-1"]["cluster_start"] + med["ray-1"]["wall"] - med["ray-1"]["task_sum"]
    d = med["ray-1"]["driver_per_episode"]
    print(
        f"\n2 vs 1 worker processes: speed-up {speedup:.2f} (efficiency {e:.2f}); "
        f"Ray on 1 worker vs in-process: {med['ray-1']['wall'] / med['in-process']['wall']:.2f}x the time"
    )
    print(
        f"control: 2 plain processes ran {control:.2f}x as fast as 1 on this machine at the same "
        f"time (2.00 on two idle cores); Ray's 2-worker speed-up is {speedup / control:.0%} of it"
    )
    # on a dedicated machine the control reads 2.0; Ray's share of it is the efficiency there
    e_dedicated = min(1.0, speedup / control)
    print(
        f"model: r = {r:.1f} lines/s per worker process (steady state, one worker), e = {e:.2f} "
        f"here ({e_dedicated:.2f} on dedicated machines: Ray's share of the control), "
        f"S = {start:.1f} s start-up, d = {d * 1000:.1f} ms driver time per episode, "
        f"G <= {GROUP_1M_SECONDS} s grouping"
    )
    rows = projection(r, e, 2, start, d, args.catalogue_episodes, args.catalogue_lines)
    dedicated = projection(
        r, e_dedicated, 2, start, d, args.catalogue_episodes, args.catalogue_lines
    )
    print(
        f"\ncatalogue: {args.catalogue_episodes} episodes, {args.catalogue_lines} lines, "
        "machines of 2 worker processes like this one; hours at e as measured here | at e "
        "on dedicated machines"
    )
    for row, ded in zip(rows, dedicated, strict=True):
        bound = "  (driver-bound)" if ded["driver_bound"] else ""
        print(
            f"  {row['machines']:>4} machines: {row['hours']:6.2f} h | {ded['hours']:6.2f} h{bound}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "runs": runs,
                    "medians": med,
                    "lines": n_lines,
                    "audio_s": audio,
                    "controls": controls,
                    "projection": rows,
                    "projection_dedicated": dedicated,
                },
                indent=1,
            )  # fmt: skip
        )


if __name__ == "__main__":
    main()
