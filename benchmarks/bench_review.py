"""The simulated annotator: answers castlist's own review queue from the truth.

    python benchmarks/bench_review.py --work bench-out/grouping            # pseudo-episodes
    python benchmarks/bench_review.py --acted bench-out/acted               # acted episodes
    python benchmarks/bench_review.py --work ... --seasons 2 --max-ops 80 --json out.json

Each answer goes through ``pipelines.review.answer`` exactly as the browser's buttons do (a
logged human action, then a regroup). After every answer the share of speech lines carrying
their true name is recorded; when the queue has nothing left to ask the annotator fixes the
remaining wrong lines one at a time (each one operation). Reported per episode: operations
per 100 lines to reach 90/95/99/100% correct names, lines named right per answer until 90%,
and the worst drop one answer caused (no answer may cost more than 0.5 points).

Pseudo-episodes: the last episode of each cached season of ``benchmarks/bench_grouping.py``
(real CAM++ vectors of LibriSpeech/AMI voices on real anime turn structure), imported into a
fresh workspace with ``castlist import``. Acted episodes: workspaces under ``--acted`` that hold
a ``truth.csv`` beside ``ws/`` (written by ``benchmarks/bench_acted.py``).
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
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.evaluate import align  # noqa: E402
from pipelines.records import AMBIENT  # noqa: E402
from pipelines.workspace import Workspace  # noqa: E402

log = logging.getLogger("bench_review")

TARGETS = (0.90, 0.95, 0.99, 1.00)
MAX_DROP_PP = 0.5
"""No answer may lower the share of correctly named lines by more than this (points)."""


@dataclass
class Curve:
    """One simulated review: the state after every operation."""

    lines: int
    correct: list[float] = field(default_factory=list)  # share right, [0] = before any answer
    kinds: list[str] = field(default_factory=list)  # the operation that led to each state
    seconds: float = 0.0

    @property
    def ops(self) -> int:
        return len(self.kinds)

    def ops_to(self, share: float) -> int | None:
        """Operations until at least ``share`` of the lines were named right (None: never)."""
        for i, c in enumerate(self.correct):
            if c >= share - 1e-9:
                return i
        return None

    def per_100(self, share: float) -> float:
        n = self.ops_to(share)
        return float("nan") if n is None else 100.0 * n / self.lines

    def worst_drop_pp(self) -> float:
        d = -np.diff(np.asarray(self.correct)) * 100.0
        return float(max(0.0, d.max())) if d.size else 0.0

    def named_per_answer(self, until: float = 0.90) -> float:
        """Lines newly named right per operation, until ``until`` of them are."""
        n = self.ops_to(until)
        n = self.ops if n is None else n
        if n == 0:
            return float("nan")
        return (self.correct[n] - self.correct[0]) * self.lines / n

    def summary(self) -> dict:
        out = {f"ops/100 to {int(t * 100)}%": self.per_100(t) for t in TARGETS}
        out.update(
            {
                "lines": self.lines,
                "ops": self.ops,
                "start": self.correct[0] if self.correct else float("nan"),
                "end": self.correct[-1] if self.correct else float("nan"),
                "named per answer to 90%": self.named_per_answer(),
                "worst drop (pp)": self.worst_drop_pp(),
                **{f"n_{k}": v for k, v in Counter(self.kinds).items()},
                "seconds": self.seconds,
            }
        )
        return out


def truth_of_lines(ws: Workspace, truth: pd.DataFrame) -> dict[str, str]:
    """Line id -> true speaker, matched once (by line id or by times, as ``castlist eval``)."""
    a = align(ws, truth)
    return dict(zip(a["id"], a["truth"].astype(str), strict=True))


def share_correct(ws: Workspace, truth: Mapping[str, str]) -> float:
    df = ws.lines_frame(speech_only=True)
    df = df[df["id"].isin(list(truth))]
    if df.empty:
        return 0.0
    right = df["speaker"].astype(object).to_numpy() == df["id"].map(truth).to_numpy()
    return float(np.mean(right))


def _majority(ids, truth: Mapping[str, str]) -> str | None:
    names = [truth[i] for i in ids if i in truth]
    return Counter(names).most_common(1)[0][0] if names else None


def reply_for(ws: Workspace, q, truth: Mapping[str, str]) -> str:
    """What a person who knows every voice answers to ``q``."""
    if q.kind == "same":
        a, b = (_majority(ws.group_lines(g), truth) for g in q.groups[:2])
        return "yes" if a is not None and a == b else "no"
    if q.kind == "group":
        # the answer names the first sample (the group's most typical line): its voice
        samples = getattr(q, "lines", ())
        name = truth.get(samples[0]) if samples else _majority(ws.group_lines(q.groups[0]), truth)
        return "skip" if name is None else name
    name = truth.get(q.line_id) if q.line_id else None
    if name is None:
        return "skip"
    if name == AMBIENT:
        return "ambient" if q.kind == "who" else "yes"
    return name  # "who": the name; "ambient": not ambient, and here is who says it


def simulate(
    ws: Workspace, truth: Mapping[str, str], max_ops: int | None = None, fix: bool = True
) -> Curve:
    """Answer ``ws``'s review queue from ``truth`` (line id -> name) until every line is named
    right, ``max_ops`` operations are spent, or (``fix`` False) the queue is empty."""
    from pipelines.review import answer, questions
    from pipelines.run import regroup

    t0 = time.perf_counter()
    regroup(ws)
    curve = Curve(lines=len(truth))
    curve.correct.append(share_correct(ws, truth))
    max_ops = max_ops if max_ops is not None else len(truth)
    asked: Counter = Counter()
    while curve.ops < max_ops and curve.correct[-1] < 1.0 - 1e-12:
        qs = [q for q in questions(ws, limit=5) if asked[q.id] < 2]
        if qs:
            q = qs[0]
            asked[q.id] += 1
            reply = reply_for(ws, q, truth)
            answer(ws, q, reply, who="sim")
            kind = q.kind
        elif fix:
            df = ws.lines_frame(speech_only=True)
            df = df[df["id"].isin(list(truth))]
            wrong = df[df["speaker"].astype(object).to_numpy() != df["id"].map(truth).to_numpy()]
            if wrong.empty:
                break
            lid = str(wrong["id"].iloc[0])
            name = truth[lid]
            if name == AMBIENT:
                ws.mark_ambient([lid], who="sim")
            else:
                ws.name_lines([lid], name, who="sim")
            regroup(ws)
            kind = "fix"
        else:
            break
        curve.kinds.append(kind)
        curve.correct.append(share_correct(ws, truth))
        log.debug("op %d %s -> %.4f", curve.ops, kind, curve.correct[-1])
    curve.seconds = time.perf_counter() - t0
    return curve


# ------------------------------------------------------------------ episodes to review
def pseudo_episodes(work: Path, tmp: Path, n: int) -> Iterator[tuple[str, Workspace, dict]]:
    """The last episode of the first ``n`` cached seasons (one per series), each imported
    into a fresh workspace, with its truth."""
    from benchmarks.grouping_data import cached, load
    from pipelines.importer import import_lines

    first: dict[str, object] = {}
    for root in cached(work):
        s = load(root)
        first.setdefault(s.series, s)
    for s in list(first.values())[:n]:
        df, X = s.frames[-1], s.X[-1]
        table, npy = tmp / f"{s.name}.csv", tmp / f"{s.name}.npy"
        cols = ["episode", "start", "end", "text", "speaker"]
        df.assign(episode="ep", speaker=df["truth"])[cols].to_csv(table, index=False)
        np.save(npy, X)
        ws = Workspace.init(tmp / f"{s.name}-ws")
        import_lines(ws, table, {"voice": npy})
        truth = truth_of_lines(ws, pd.read_csv(ws.root / "imported_truth.csv"))
        yield s.name, ws, truth


def acted_episodes(root: Path, tmp: Path) -> Iterator[tuple[str, Workspace, dict]]:
    """Every finished ``*/ws`` (``DONE`` and ``truth.csv`` beside it) under ``root``, copied
    first; the identity scored is the acted voice (``voice`` column) when there is one."""
    for ws_dir in sorted(Path(root).glob("*/ws")):
        truth_csv = ws_dir.parent / "truth.csv"
        if not (truth_csv.is_file() and (ws_dir.parent / "DONE").is_file()):
            continue
        name = ws_dir.parent.name
        dst = tmp / f"acted-{name}"
        shutil.copytree(ws_dir, dst)
        ws = Workspace.open(dst)
        t = pd.read_csv(truth_csv)
        if "voice" in t.columns:
            t = t.assign(speaker=t["voice"])
        yield name, ws, truth_of_lines(ws, t)


def run(episodes, max_ops: int | None) -> pd.DataFrame:
    rows = []
    for name, ws, truth in episodes:
        try:
            curve = simulate(ws, truth, max_ops=max_ops)
        finally:
            ws.close()
        rows.append({"episode": name, **curve.summary()})
        log.info("%s: %s", name, json.dumps(rows[-1], default=float))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", help="the grouping benchmark cache (bench_grouping.py --work)")
    ap.add_argument("--acted", help="folder of acted workspaces (*/ws + */truth.csv)")
    ap.add_argument("--seasons", type=int, default=5, help="pseudo-episodes: seasons (series)")
    ap.add_argument("--max-ops", type=int, default=None, help="default: one per line")
    ap.add_argument("--json", help="also write the per-episode table here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.work:
            tables["pseudo"] = run(
                pseudo_episodes(Path(args.work), tmp, args.seasons), args.max_ops
            )
        if args.acted:
            tables["acted"] = run(acted_episodes(Path(args.acted), tmp), args.max_ops)
    fmt = {"float_format": lambda v: f"{v:.2f}"}
    for name, t in tables.items():
        print(f"\n== simulated review, {name} episodes ==")
        print(t.to_string(index=False, **fmt))
        if len(t):
            med = {c: statistics.median(t[c].dropna()) for c in t.columns if c.startswith("ops/")}
            print("median " + ", ".join(f"{k} {v:.1f}" for k, v in med.items()))
            worst = t["worst drop (pp)"].max()
            print(f"worst drop of one answer: {worst:.2f} pp (limit {MAX_DROP_PP})")
    if args.json:
        out = {k: t.to_dict("records") for k, t in tables.items()}
        Path(args.json).write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
