"""The simulated annotator: answers castlist's own review queue from the truth.

    python benchmarks/bench_review.py --work bench-out/grouping            # pseudo-episodes
    python benchmarks/bench_review.py --acted bench-out/acted               # acted episodes
    python benchmarks/bench_review.py --work ... --seasons 2 --max-ops 80 --json out.json
    python benchmarks/bench_review.py --acted bench-out/acted --calibration  # names by confidence
    python benchmarks/bench_review.py --acted bench-out/acted --calibration --calibration-plot docs/name_calibration.png

Each answer goes through ``pipelines.review.queue.answer`` exactly as the browser's buttons do (a
logged human action, then a regroup). After every answer the share of speech lines carrying
their true name is recorded; when the queue has nothing left to ask the annotator fixes the
remaining wrong lines one at a time (each one operation). A ``check`` answer costs one
operation for the look plus one per line the annotator corrects (counted as reached only
after the last of them). Reported per episode: operations
per 100 lines to reach 90/95/99/100% correct names, lines named right per answer until 90%,
and the worst drop one answer caused (no answer may cost more than 0.5 points).

Pseudo-episodes: the last embedded episode(s) of each season of the cache of
``benchmarks/bench_grouping.py`` (real CAM++ vectors of LibriSpeech/AMI voices on real anime
turn structure), imported into a fresh workspace with ``castlist import``. Acted episodes: workspaces under ``--acted`` that hold
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

from pipelines.export.evaluate import align  # noqa: E402
from pipelines.records import AMBIENT, SURE  # noqa: E402
from pipelines.review.answers import likely_right  # noqa: E402
from pipelines.store.workspace import Workspace  # noqa: E402

log = logging.getLogger("bench_review")

TARGETS = (0.90, 0.95, 0.99, 1.00)
MAX_DROP_PP = 0.5
"""No answer may lower the share of correctly named lines by more than this (points)."""


NameSample = tuple[float, float, bool]  # a machine name's (score, confidence, right)
_BINS = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]  # of a calibration table


@dataclass
class Curve:
    """One simulated review: the state after every operation."""

    lines: int
    correct: list[float] = field(default_factory=list)  # share right, [0] = before any answer
    kinds: list[str] = field(default_factory=list)  # the operation that led to each state
    seconds: float = 0.0
    idle: int = 0  # answers that named no line right (the line was right already, or a "no")
    machine_names: list[NameSample] = field(default_factory=list)
    # at each look: the share likely right by the score, by the confidence, and the true share
    estimates: list[tuple[float, float, float]] = field(default_factory=list)

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
                "idle answers": self.idle,
                **{f"n_{k}": v for k, v in Counter(self.kinds).items()},
                "seconds": self.seconds,
            }
        )
        return out


def truth_of_lines(ws: Workspace, truth: pd.DataFrame) -> dict[str, str]:
    """Line id -> true speaker, matched once (by line id or by times, as ``castlist eval``)."""
    a = align(ws, truth)
    return dict(zip(a["id"], a["truth"].astype(str), strict=True))


def _against_truth(ws: Workspace, truth: Mapping[str, str]) -> pd.DataFrame:
    """The speech lines ``truth`` knows, with ``right``: whether each carries its true name."""
    df = ws.lines_frame(speech_only=True)
    df = df[df["id"].isin(list(truth))]
    right = df["speaker"].astype(object).to_numpy() == df["id"].map(truth).to_numpy()
    return df.assign(right=right)


def _share(lines: pd.DataFrame) -> float:
    return float(lines["right"].mean()) if len(lines) else 0.0


def _machine_names(lines: pd.DataFrame) -> list[NameSample]:
    mine = lines[lines["source"] == "propagated"]
    return list(
        zip(
            mine["score"].astype(float),
            mine["confidence"].astype(float),
            mine["right"],
            strict=True,
        )
    )


def calibration_table(samples: list[NameSample], by: str = "confidence") -> pd.DataFrame:
    """Machine names by ``by`` (``score``: the voice model's own probability; ``confidence``:
    what castlist reports, the score through the map the answers fit): how many, the mean
    said, and the share right. A probability that means what it says is right about as often
    as it says, and more often the higher it is."""
    d = pd.DataFrame(samples, columns=["score", "confidence", "right"])
    bins = pd.cut(d[by], _BINS, include_lowest=True)
    out = d.groupby(bins, observed=True).agg(
        names=("right", "size"), said=(by, "mean"), right=("right", "mean")
    )
    return out.rename_axis(by).reset_index()


def calibration_error(table: pd.DataFrame) -> float:
    """Expected calibration error of a :func:`calibration_table`: how far, weighted by names,
    the share right is from what was said."""
    return float(
        ((table["said"] - table["right"]).abs() * table["names"]).sum() / table["names"].sum()
    )


def estimate_errors(estimates: list[tuple[float, float, float]]) -> pd.DataFrame:
    """How far ``status``'s "likely right" share (``pipelines.review.answers.likely_right``)
    is from the true share, read by the voice model's score and by the reported confidence:
    mean absolute gap and mean gap (negative: it reads low), over every look."""
    e = np.asarray(estimates, dtype=np.float64).reshape(-1, 3)
    rows = []
    for i, by in enumerate(("score", "confidence")):
        gap = e[:, i] - e[:, 2]
        rows.append(
            {"by": by, "looks": len(e), "mean |gap|": np.abs(gap).mean(), "mean gap": gap.mean()}
        )
    return pd.DataFrame(rows)


def plot_calibration(tables: Mapping[str, pd.DataFrame], path: Path) -> None:
    """Reliability diagram of :func:`calibration_table` tables: what was said against how often
    it was right, one curve per table, each point as big as its count of names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="right as often as said")
    for (name, t), marker in zip(tables.items(), "osD^v<>", strict=False):
        error = calibration_error(t)
        ax.plot(t["said"], t["right"], marker + "-", label=f"{name} (error {error:.3f})")
        ax.scatter(t["said"], t["right"], s=t["names"] / t["names"].max() * 120, alpha=0.3)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="probability said", ylabel="share of names right")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _majority(ids, truth: Mapping[str, str]) -> str | None:
    names = [truth[i] for i in ids if i in truth]
    return Counter(names).most_common(1)[0][0] if names else None


def reply_for(ws: Workspace, q, truth: Mapping[str, str]) -> str | dict[str, str | None]:
    """What a person who knows every voice answers to ``q`` (``check``: "yes", or the lines
    that are someone else with their names)."""
    if q.kind == "check":
        name = q.suggestions[0][0]
        wrong = {lid: truth.get(lid) for lid in q.lines if truth.get(lid) != name}
        return wrong or "yes"
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
    ws: Workspace,
    truth: Mapping[str, str],
    max_ops: int | None = None,
    fix: bool = True,
    calibration_every: int | None = None,
) -> Curve:
    """Answer ``ws``'s review queue from ``truth`` (line id -> name) until every line is named
    right, ``max_ops`` operations are spent, or (``fix`` False) the queue is empty;
    ``calibration_every``: every that many operations, the machine's names with their
    confidence and whether they are right go into ``Curve.machine_names``."""
    from pipelines.review.queue import answer, questions
    from pipelines.stages.run import regroup

    t0 = time.perf_counter()
    regroup(ws)
    curve = Curve(lines=len(truth))
    lines = _against_truth(ws, truth)  # the state after the last operation
    curve.correct.append(_share(lines))
    max_ops = max_ops if max_ops is not None else len(truth)
    asked: Counter = Counter()
    next_look = 0
    while curve.ops < max_ops and curve.correct[-1] < 1.0 - 1e-12:
        if calibration_every and curve.ops >= next_look:
            curve.machine_names += _machine_names(lines)
            by_score = likely_right(lines.assign(confidence=lines["score"]))
            curve.estimates.append((by_score, likely_right(lines), _share(lines)))
            next_look = curve.ops + calibration_every
        qs = [q for q in questions(ws, limit=5) if asked[q.id] < 2]
        if qs:
            q = qs[0]
            asked[q.id] += 1
            reply = reply_for(ws, q, truth)
            answer(ws, q, reply, who="sim")
            kind = q.kind
            if isinstance(reply, dict):  # each corrected line of a check is one more operation
                curve.kinds += ["check-fix"] * len(reply)
                curve.correct += curve.correct[-1:] * len(reply)
        elif fix:
            wrong = lines[~lines["right"]]
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
        lines = _against_truth(ws, truth)
        curve.correct.append(_share(lines))
        if curve.correct[-1] <= curve.correct[-2]:
            curve.idle += 1
        log.debug("op %d %s -> %.4f", curve.ops, kind, curve.correct[-1])
    curve.seconds = time.perf_counter() - t0
    return curve


# ------------------------------------------------------------------ episodes to review
def _season_episodes(root: Path, tmp: Path) -> list[tuple[str, pd.DataFrame, np.ndarray]]:
    """(episode id, speech lines with 'truth' = voice, their vectors) of one cached season,
    finished or still being built (then only its embedded episodes; read from a copy)."""
    src = tmp / f"{root.name}-src"
    shutil.copytree(root / "ws", src, ignore=shutil.ignore_patterns("cache"))
    if (root / "truth.csv").is_file():
        truth = pd.read_csv(root / "truth.csv")
    else:
        parts = sorted((root / "media").glob("*.truth.csv"))
        truth = pd.concat(
            [pd.read_csv(f).assign(episode=f.name.split(".")[0]) for f in parts], ignore_index=True
        )
    out = []
    with Workspace.open(src) as ws:
        model = ws.get_meta("voice_model")
        for ep in ws.episodes():
            if model is not None:
                X = ws.vectors.load(ep.id, "voice", model)
            else:  # still being built: no model name yet, only the episode's vectors file
                found = sorted(ws.vectors.path(ep.id, "voice", "x").parent.glob("voice__*.npy"))
                X = np.load(found[0]) if found else None
            if X is None:
                continue
            df = ws.lines_frame(ep.id, speech_only=True).reset_index(drop=True)
            t = truth[truth["episode"] == ep.id]
            key = t["start"].map("{:.2f}".format) + "|" + t["end"].map("{:.2f}".format)
            own = df["start"].map("{:.2f}".format) + "|" + df["end"].map("{:.2f}".format)
            df = df.assign(truth=own.map(dict(zip(key, t["voice"], strict=False))))
            keep = df["truth"].notna().to_numpy()
            out.append((ep.id, df[keep].reset_index(drop=True), X[df["idx"].to_numpy()[keep]]))
    return out


def pseudo_episodes(
    work: Path, tmp: Path, n: int, per_season: int = 1, offset: float = 0.0
) -> Iterator[tuple[str, Workspace, dict]]:
    """The last ``per_season`` embedded episodes of the first ``n`` seasons under ``work``
    (the grouping benchmark cache, one season per series), each imported into a fresh
    workspace through ``castlist import``, with its truth (the voice of each line);
    ``offset``: the vectors imported with a common direction (another model's scale, see
    ``benchmarks.grouping_data.with_offset``)."""
    from benchmarks.grouping_data import with_offset
    from pipelines.stages.importer import import_lines

    roots = sorted(p for p in Path(work).iterdir() if (p / "ws").is_dir())[:n]
    for root in roots:
        for ep_id, df, X in _season_episodes(root, tmp)[-per_season:]:
            name = f"{root.name}/{ep_id}"
            table, npy = tmp / f"{root.name}-{ep_id}.csv", tmp / f"{root.name}-{ep_id}.npy"
            cols = ["episode", "start", "end", "text", "speaker"]
            df.assign(episode="ep", speaker=df["truth"])[cols].to_csv(table, index=False)
            np.save(npy, with_offset(X, offset) if offset else X)
            ws = Workspace.init(tmp / f"{root.name}-{ep_id}-ws")
            import_lines(ws, table, {"voice": npy})
            truth = truth_of_lines(ws, pd.read_csv(ws.root / "imported_truth.csv"))
            yield name, ws, truth


def acted_episodes(
    root: Path, tmp: Path, signal: float = 0.0
) -> Iterator[tuple[str, Workspace, dict]]:
    """Every finished ``*/ws`` (``DONE`` and ``truth.csv`` beside it) under ``root``, copied
    first; the identity scored is the acted voice (``voice`` column) when there is one;
    ``signal``: each voice's vectors given a direction of its own (a stronger voice model, see
    ``benchmarks.grouping_data.with_speaker_signal``)."""
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
        truth = truth_of_lines(ws, t)
        if signal:
            _add_speaker_signal(ws, truth, signal)
        yield name, ws, truth


def _add_speaker_signal(ws: Workspace, truth: Mapping[str, str], a: float) -> None:
    from benchmarks.grouping_data import with_speaker_signal

    model = ws.get_meta("voice_model")
    for ep in ws.episodes():
        X = ws.vectors.load(ep.id, "voice", model)
        df = ws.lines_frame(ep.id)
        voices = np.full(len(X), "?", dtype=object)  # lines nobody speaks share one direction
        voices[df["idx"].to_numpy()] = df["id"].map(truth).fillna("?").to_numpy()
        ws.vectors.save(ep.id, "voice", model, with_speaker_signal(X, voices, a))


def open_set_precision(ws: Workspace, truth: Mapping[str, str], ks=(1, 2, 3, None)) -> list:
    """Name the groups of the ``k`` biggest voices (None: every voice) the way a person
    does (``name_group`` on the group holding most of the voice's lines), regroup, and score
    the machine's names: precision of the propagated names, and how many lines of voices
    nobody named the machine named anyway (the open-set leak of issue 9, item 5; lines a
    person's ``name_group`` covered are the person's, not counted); then the same for the
    names at least ``SURE``, the ones ``castlist features`` takes by default."""
    from pipelines.stages.run import regroup

    regroup(ws)
    base = ws.actions.revision()
    sizes = Counter(truth.values())
    rows = []
    for k in ks:
        while ws.actions.revision() > base and ws.actions.undo(who="bench") is not None:
            pass
        regroup(ws)
        voices = [v for v, _ in sizes.most_common(k)]
        df = ws.lines_frame(speech_only=True).assign(truth=lambda d: d["id"].map(truth))
        for v in voices:
            part = df[df["truth"] == v]
            if part["group_id"].notna().any():
                ws.name_group(str(part["group_id"].mode().iloc[0]), v, who="bench")
        regroup(ws)
        df = ws.lines_frame(speech_only=True).assign(truth=lambda d: d["id"].map(truth))
        df = df[df["truth"].notna()]
        prop = df[df["source"] == "propagated"]
        sure = prop[pd.to_numeric(prop["confidence"], errors="coerce").fillna(0.0) >= SURE]
        leak = ~prop["truth"].isin(voices)
        rows.append(
            {
                "named voices": "all" if k is None else k,
                "propagated": len(prop),
                "precision": _precision(prop),
                "propagated to unnamed voices": int(leak.sum()),
                # what `castlist features` takes by default (a machine's name >= 50% sure)
                f"propagated >= {SURE:.0%} sure": len(sure),
                "its precision": _precision(sure),
                "its leak": int(leak[sure.index].sum()),
                "correct share": float((df["speaker"] == df["truth"]).mean()),
            }
        )
    return rows


def _precision(named: pd.DataFrame) -> float:
    return float((named["speaker"] == named["truth"]).mean()) if len(named) else 1.0


def run(episodes, max_ops: int | None, curves: list | None = None) -> pd.DataFrame:
    """The review of each episode; ``curves``: collects each episode's :class:`Curve`, with the
    machine's names and the likely-right estimates every 10 operations (see
    ``calibration_table``, :func:`estimate_errors`)."""
    rows = []
    every = 10 if curves is not None else None
    for name, ws, truth in episodes:
        try:
            curve = simulate(ws, truth, max_ops=max_ops, calibration_every=every)
        finally:
            ws.close()
        if curves is not None:
            curves.append(curve)
        rows.append({"episode": name, **curve.summary()})
        log.info("%s: %s", name, json.dumps(rows[-1], default=float))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", help="the grouping benchmark cache (bench_grouping.py --work)")
    ap.add_argument("--acted", help="folder of acted workspaces (*/ws + */truth.csv)")
    ap.add_argument("--seasons", type=int, default=5, help="pseudo-episodes: seasons (series)")
    ap.add_argument("--per-season", type=int, default=1, help="pseudo-episodes per season")
    ap.add_argument("--max-ops", type=int, default=None, help="default: one per line")
    ap.add_argument("--json", help="also write the per-episode table here")
    ap.add_argument(
        "--check-size",
        type=int,
        default=None,
        help="lines per check question (grouping.review.CHECK_SIZE; 1: a who question each)",
    )
    ap.add_argument(
        "--precision", action="store_true", help="open-set precision with 1/2/3/all named, only"
    )
    ap.add_argument(
        "--calibration",
        action="store_true",
        help="also: the machine's names every 10 operations, by confidence, and how many are right",
    )
    ap.add_argument(
        "--calibration-plot",
        metavar="PNG",
        help="with --calibration: draw the tables (said against right) into this picture",
    )
    ap.add_argument(
        "--projection",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="group in the label space re-learnt from hand labels (pipelines.stages.season."
        "LEARNED_SPACE; default: the shipped setting)",
    )
    ap.add_argument(
        "--offset", type=float, default=0.0,
        help="pseudo-episodes: import the vectors with a common direction of this length",
    )  # fmt: skip
    ap.add_argument(
        "--speaker-signal", type=float, default=0.0,
        help="acted episodes: give each voice a direction of its own of this length (a "
        "stronger voice model on the same voices; 0.7: leave-one-out 1-NN ~0.9)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    if args.check_size is not None:
        import grouping.review

        grouping.review.CHECK_SIZE = args.check_size
    if args.projection is not None:
        import pipelines.stages.season

        pipelines.stages.season.LEARNED_SPACE = args.projection
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    tables: dict[str, pd.DataFrame] = {}
    calibration: dict[str, pd.DataFrame] = {}
    estimates: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sets = {}
        if args.work:
            sets["pseudo"] = pseudo_episodes(
                Path(args.work), tmp, args.seasons, args.per_season, args.offset
            )
        if args.acted:
            sets["acted"] = acted_episodes(Path(args.acted), tmp, args.speaker_signal)
        for kind, eps in sets.items():
            if args.precision:
                rows = []
                for name, ws, truth in eps:
                    with ws:
                        rows += [{"episode": name, **r} for r in open_set_precision(ws, truth)]
                tables[f"{kind} open-set precision"] = pd.DataFrame(rows)
            else:
                curves: list | None = [] if args.calibration else None
                tables[kind] = run(eps, args.max_ops, curves)
                seen = [s for c in curves or () for s in c.machine_names]
                for by in ("score", "confidence") if seen else ():
                    calibration[f"{kind}, by {by}"] = calibration_table(seen, by)
                if curves:
                    estimates[kind] = estimate_errors([e for c in curves for e in c.estimates])
    _report(tables, calibration, estimates)
    if args.calibration_plot and calibration:
        plot_calibration(calibration, Path(args.calibration_plot))
        print(f"wrote {args.calibration_plot}")
    if args.json:
        out = {k: t.to_dict("records") for k, t in tables.items()}
        Path(args.json).write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")


def _report(tables: dict, calibration: dict, estimates: dict) -> None:
    fmt = {"float_format": lambda v: f"{v:.2f}"}
    for name, t in tables.items():
        print(f"\n== simulated review, {name} episodes ==")
        print(t.to_string(index=False, **fmt))
        if len(t) and "worst drop (pp)" in t:
            med = {
                c: statistics.median(t[c].fillna(float("inf")))
                for c in t.columns
                if c.startswith("ops/")
            }
            print("median " + ", ".join(f"{k} {v:.1f}" for k, v in med.items()))
            worst = t["worst drop (pp)"].max()
            print(f"worst drop of one answer: {worst:.2f} pp (limit {MAX_DROP_PP})")
    for name, t in calibration.items():
        print(f"\n== {name}: the machine's names every 10 operations ==")
        print(t.to_string(index=False, **fmt))
        print(f"expected calibration error {calibration_error(t):.3f}")
    for name, t in estimates.items():
        print(f"\n== {name}: the share likely right (status) against the true share ==")
        print(t.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
