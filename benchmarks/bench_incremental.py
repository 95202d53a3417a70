"""Episode 27 added to a labelled 26-episode season: incremental grouping vs a full regroup.

Not a test. Run from the repo root: ``python benchmarks/bench_incremental.py [--runs 3]``.

The season is synthetic (``benchmarks/synthetic.py``: 192-d vectors, a main cast in
every episode, recurring and one-off characters), imported as ``castlist import`` does, and
labelled the way a person answering the review's group questions would: one hand name per
episode group, on its longest line, then a regroup. Episode 27 is then added with its vectors
(an imported episode: nothing to embed, so the figures are the grouping step alone; with media,
``castlist run`` embeds only the new episode in both modes since vectors are cached per
episode) and ``castlist run`` groups it, once incrementally (the default) and once with
``--regroup all``, each on a fresh copy of the labelled workspace. Reported: wall time of the
grouping step (median of ``--runs``), how many existing lines' group, character or label
changed (right after the run, and after the full regroup the next review answer runs), and the
share of episode 27's lines named right (a voice nobody named in the season is right when left
unnamed).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import make_season
from pipelines.records import SubtitleEvent
from pipelines.review.queue import questions
from pipelines.stages.importer import import_lines
from pipelines.stages.run import regroup, run
from pipelines.store.workspace import Workspace


def _order(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Rows of one episode in the order the importer stores its lines."""
    return np.lexsort((np.arange(len(start)), end, start))


def build(work: Path, n_episodes: int, seed: int) -> tuple[Path, dict[str, str], tuple]:
    """The labelled season (``n_episodes``) in ``work/base``, the truth per line id, and the
    next episode's (events, vectors, truth names)."""
    s = make_season(n_episodes + 1, seed=seed)
    name = np.array([f"S{k}" for k in s.speaker])
    frames, vecs, truth = [], [], {}
    for e in range(n_episodes):
        rows = np.flatnonzero(s.episode == e)
        rows = rows[_order(s.start[rows], s.end[rows])]
        ep = f"ep{e + 1:02d}"
        frames.append(
            pd.DataFrame(
                {"episode": ep, "start": s.start[rows], "end": s.end[rows],
                 "text": [f"line {r}" for r in rows]}
            )
        )  # fmt: skip
        vecs.append(s.X[rows])
        truth.update({f"{ep}-{i:04d}": name[r] for i, r in enumerate(rows)})
    base = work / "base"
    shutil.rmtree(base, ignore_errors=True)
    pd.concat(frames).to_csv(work / "lines.csv", index=False)
    np.save(work / "voice.npy", np.concatenate(vecs))
    with Workspace.init(base) as ws:
        import_lines(ws, work / "lines.csv", {"voice": work / "voice.npy"})
        label_every_group(ws, truth)
    rows = np.flatnonzero(s.episode == n_episodes)
    rows = rows[_order(s.start[rows], s.end[rows])]
    events = [SubtitleEvent(float(s.start[r]), float(s.end[r]), f"line {r}") for r in rows]
    ep = f"ep{n_episodes + 1:02d}"
    truth.update({f"{ep}-{i:04d}": name[r] for i, r in enumerate(rows)})
    return base, truth, (ep, events, s.X[rows], None)


def label_every_group(ws: Workspace, truth: dict[str, str]) -> None:
    """What a person answering every group question does: one hand name per episode group,
    on its longest line; then the regroup every action runs."""
    df = ws.lines_frame(speech_only=True).assign(dur=lambda d: d["end"] - d["start"])
    picks = df.sort_values(["dur", "id"], ascending=[False, True]).drop_duplicates("group_id")
    for lid in picks["id"]:
        ws.name_lines([lid], truth[lid])
    regroup(ws)


def build_real(root: Path, work: Path) -> tuple[Path, dict[str, str], tuple]:
    """A cached pseudo-season of real CAM++ vectors (``benchmarks/grouping_data.py``): its
    episodes but the last, labelled, in ``work/base``; the last one is the episode to add.
    Truth is the voice of each line (the builder reuses voices for some one-line roles)."""
    from benchmarks.grouping_data import load

    season = load(root)
    base = work / "base"
    shutil.rmtree(base, ignore_errors=True)
    truth: dict[str, str] = {}
    parts = []
    for ep, X, F, df in zip(season.episodes, season.X, season.feats, season.frames, strict=True):
        events = [SubtitleEvent(float(r.start), float(r.end), str(r.text)) for r in df.itertuples()]
        truth.update({f"{ep}-{i:04d}": str(v) for i, v in enumerate(df["truth"])})
        parts.append((ep, events, X, F))
    with Workspace.init(base) as ws:
        ws.set_meta("voice_model", season.model)
        ws.set_meta("voice_backend", "imported")
        for part in parts[:-1]:
            add_episode(ws, work, part)
        run(ws)
        label_every_group(ws, truth)
    return base, truth, parts[-1]


def add_episode(ws: Workspace, work: Path, episode) -> None:
    """An episode with its vectors, under the season's voice model (an imported episode)."""
    ep, events, X, feats = episode
    model = ws.get_meta("voice_model")
    media, subs = work / f"{ep}.media", work / f"{ep}.lines"
    subs.write_text(ep)
    end = max(e.end for e in events)
    ws.add_episode(media, subs, end, "imported", events, {}, episode_id=ep)
    ws.vectors.save(ep, "voice", model, X)
    if feats is not None:
        ws.vectors.save(ep, "linefeat", "v1", feats)
    ws.mark_stage(ep, "voice", model)


def rows_of(ws: Workspace) -> pd.DataFrame:
    cols = ["id", "episode_id", "speaker", "source", "group_id", "character_id"]
    return ws.lines_frame(speech_only=True)[cols].set_index("id")


def one_run(base: Path, work: Path, truth: dict[str, str], episode, mode: str) -> dict:
    root = work / f"run-{mode}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(base, root)
    with Workspace.open(root) as ws:
        given = set(ws.human_labels().values())
        before = rows_of(ws)
        add_episode(ws, work, episode)
        t = time.perf_counter()
        summary = run(ws, regroup_mode=mode)
        seconds = time.perf_counter() - t
        after = rows_of(ws)
        last = json.loads(ws.get_meta("last_grouping") or "{}")
        first = questions(ws, limit=10)
        about_new = sum(
            q.fresh and any(x and x.startswith(episode[0] + "-") for x in (q.line_id, *q.groups))
            for q in first
        )
        regroup(ws)  # what the next review answer does first: the season regroups
        then = rows_of(ws).loc[before.index]
    old = after.loc[before.index]
    changed = (old.fillna("") != before.fillna("")).any(axis=1)
    changed_then = (then.fillna("") != before.fillna("")).any(axis=1)
    new = after[after["episode_id"] == episode[0]]
    true = new.index.map(truth).to_numpy()
    speaker = new["speaker"].fillna("").to_numpy()
    # a line whose speaker nobody named anywhere in the season is right when left unnamed
    nameable = np.isin(true, list(given))
    right = np.where(nameable, speaker == true, speaker == "")
    named = speaker != ""
    return {
        "seconds": seconds,
        "mode": last.get("mode"),
        "existing_changed": int(changed.sum()),
        "first_questions": f"{about_new} of {len(first)}",
        "changed_after_next_regroup": int(changed_then.sum()),
        "existing": len(before),
        "new_lines": len(new),
        "named_right": float(right[nameable].mean()),
        "newcomers_unnamed": float(right[~nameable].mean()) if (~nameable).any() else 1.0,
        "right": float(right.mean()),
        "named_share": float(named.mean()),
        "precision": float(right[named].mean()) if named.any() else float("nan"),
        "summary": summary.splitlines()[-2:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=26)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp one)")
    ap.add_argument(
        "--real",
        type=Path,
        metavar="SEASON",
        help="instead of the synthetic season: a cached pseudo-season of real CAM++ vectors "
        "(a folder with DONE, truth.csv and ws/ from benchmarks/grouping_data.py); its last "
        "episode is the one added",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    if args.real:
        base, truth, episode = build_real(args.real, work)
    else:
        base, truth, episode = build(work, args.episodes, args.seed)
    with Workspace.open(base) as ws:
        n_eps = len(ws.episodes())
        n_lines, n_human = len(ws.lines_frame(speech_only=True)), len(ws.human_labels())
    print(
        f"season{' ' + args.real.name if args.real else ''}: {n_eps} episodes, {n_lines} lines, "
        f"{n_human} hand labels (built in {time.perf_counter() - t:.0f} s); adding "
        f"{episode[0]} ({len(episode[1])} lines)"
    )
    results: dict[str, list[dict]] = {"auto": [], "all": []}
    for _ in range(args.runs):
        for mode in results:  # interleaved, so machine load hits both alike
            results[mode].append(one_run(base, work, truth, episode, mode))
    print(
        "grouping s: median (runs); changed: existing lines whose group, character or label "
        "moved; right: the added episode's lines named right (a voice nobody named: left unnamed); "
        "named right: over lines of named voices; newcomers: their lines left unnamed"
    )
    print(f"{'':<22}{'grouping s':>26}{'changed':>14}{'right':>7}{'named right':>12}"
          f"{'newcomers':>10}{'precision':>10}")  # fmt: skip
    for mode, label in (("auto", "incremental (default)"), ("all", "full (--regroup all)")):
        rs = results[mode]
        secs = [r["seconds"] for r in rs]
        r = rs[0]
        runs = ", ".join(f"{x:.2f}" for x in secs)
        print(
            f"{label:<22}{statistics.median(secs):>6.2f} ({runs}){'':>1}"
            f"{r['existing_changed']:>6} of {r['existing']:<5}{r['right']:>7.3f}"
            f"{r['named_right']:>12.3f}{r['newcomers_unnamed']:>10.3f}{r['precision']:>10.3f}"
        )
        print(f"{'':<22}mode {r['mode']}: {' | '.join(r['summary'])}")
        print(
            f"{'':<22}after the next human action's regroup: {r['changed_after_next_regroup']} "
            "existing lines differ from before the episode was added"
        )
        print(f"{'':<22}first review questions about the added episode: {r['first_questions']}")
    inc = statistics.median(r["seconds"] for r in results["auto"])
    full = statistics.median(r["seconds"] for r in results["all"])
    print(f"speed-up: {full / inc:.1f}x")


if __name__ == "__main__":
    main()
