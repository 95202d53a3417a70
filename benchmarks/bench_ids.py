"""Cost and effect of stable ids on a synthetic ~10,000-line, 26-episode season.

Times the season regroup (fresh ids, then matched to the previous grouping), one `label
--group` as the CLI runs it (action, regroup, and the before/after comparison that says what
happened), and reports how many group and character ids survived that action unchanged
(same id, same lines). Run: ``python benchmarks/bench_ids.py`` (about a minute here).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_ui import build
from pipelines.review.outcome import describe, frame
from pipelines.stages.run import regroup
from pipelines.store.workspace import Workspace


def members_by_label(df, column: str) -> dict[str, frozenset]:
    return {k: frozenset(v) for k, v in df.groupby(column)["id"]}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=26)
    parser.add_argument("--lines", type=int, default=385)
    parser.add_argument("--dir", default="/tmp/bench_ids")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = build(Path(args.dir), args.episodes, args.lines)
    with Workspace.open(root) as ws:
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            regroup(ws)
            times.append(time.perf_counter() - t)
        print(
            f"regroup, ids matched to the previous grouping: median {statistics.median(times):.2f} s"
        )
        before = ws.lines_frame(speech_only=True)
        gid = before["group_id"].value_counts().index[0]
        t = time.perf_counter()
        old = frame(ws)
        action = ws.name_group(gid, "Bench", who="bench")
        result = regroup(ws)
        text = describe(action, old, frame(ws), result, str(root))
        total = time.perf_counter() - t
        after = ws.lines_frame(speech_only=True)
    print(f"label --group {gid} as the CLI runs it: {total:.2f} s")
    print("  " + "\n  ".join(text))
    for column, what in (("group_id", "groups"), ("character_id", "characters")):
        a, b = members_by_label(before, column), members_by_label(after, column)
        same = sum(1 for k, v in a.items() if b.get(k) == v)
        kept = sum(1 for k in a if k in b)
        print(
            f"{what}: {len(a)} before; {kept} ids still in use, {same} with exactly the same lines"
        )


if __name__ == "__main__":
    main()
