"""The labelling chain of issue 9, run from the CLI exactly as a user would.

One episode of a cached pseudo-episode season (real CAM++ vectors, see
``benchmarks/grouping_data.py``) is imported with ``castlist import`` into a fresh workspace.
Then two users:

* **by group id**: reads the group ids of the first ``castlist export``, decides who each group
  of 5+ lines is (its majority true speaker), and names them one by one with ``castlist label
  --group ID --name NAME`` (every command regroups, so later ids are read after earlier actions);
* **first line**: names the first line of each character with 3+ lines, with the line ids of
  the first export (``castlist label --line ID --name NAME``).

It prints the share of lines named correctly, how many hand labels went to lines of another
speaker (a wrong human label is never revisited), and each command's own report.
Run: ``python benchmarks/bench_user_chain.py`` (a few seconds per scenario).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.cli import main as castlist

# a season folder that `python benchmarks/bench_grouping.py --work bench-out/grouping` builds
CACHE = Path(__file__).resolve().parents[1] / "bench-out/grouping/angel_beats_a6564__snr10_s0"


def import_table(season: Path, episode: str, out: Path) -> tuple[Path, Path]:
    """lines.csv (speech lines, true speaker as the hint column) and voice.npy."""
    uri = f"file:{season / 'ws' / 'castlist.db'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        rows = db.execute(
            "SELECT idx, start, end, text FROM lines WHERE episode_id=? AND skip_reason='' "
            "ORDER BY idx",
            (episode,),
        ).fetchall()
    lines = pd.DataFrame(rows, columns=["idx", "start", "end", "text"])
    truth = pd.read_csv(season / "media" / f"{episode}.truth.csv")
    lines = lines.merge(truth[["idx", "speaker"]], on="idx")
    X = np.load(next((season / "ws" / "vectors" / episode).glob("voice__*.npy")))
    lines.assign(episode=episode)[["episode", "start", "end", "text", "speaker"]].to_csv(
        out / "lines.csv", index=False
    )
    np.save(out / "voice.npy", X[lines["idx"].to_numpy()])
    return out / "lines.csv", out / "voice.npy"


def run(*argv: object) -> str:
    """One castlist command; its output, or SystemExit with it when the command failed (a
    failed export silently re-read an older file once and scored the wrong workspace)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        code = castlist([str(a) for a in argv])
    if code:
        raise SystemExit(f"castlist {' '.join(map(str, argv))} failed ({code}):\n{buf.getvalue()}")
    return buf.getvalue()


def export(ws: Path, path: Path) -> pd.DataFrame:
    run("export", ws, "-f", "csv", "-o", path, "--force")
    with open(path, newline="") as fh:
        return pd.DataFrame(list(csv.DictReader(fh)))


def score(ws: Path, tmp: Path, truth: pd.Series) -> str:
    df = export(ws, tmp / "final.csv").set_index("line_id")
    t = truth.reindex(df.index)
    named = df["speaker"] != ""
    correct = (df["speaker"] == t) & named
    hand = df["label_source"] == "human"
    wrong_hand = int((hand & (df["speaker"] != t)).sum())
    return (
        f"{correct.mean():.3f} of {len(df)} lines named correctly "
        f"({named.mean():.1%} named); {int(hand.sum())} hand labels, {wrong_hand} on lines of "
        "another speaker"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--season", type=Path, default=CACHE)
    parser.add_argument("--episode", default="ep01")
    parser.add_argument("--quiet", action="store_true", help="no per-command reports")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        table, vectors = import_table(args.season, args.episode, tmp)
        truth = pd.read_csv(table)
        for scenario in ("by group id", "first line"):
            ws = tmp / scenario.replace(" ", "_")
            run("import", ws, "--lines", table, "--vectors", f"voice={vectors}")
            first = export(ws, tmp / "first.csv")
            first["truth"] = truth["speaker"].to_numpy()  # export keeps the table's order
            lines_truth = first.set_index("line_id")["truth"]
            steps = []
            if scenario == "by group id":
                sizes = first["group"].value_counts()
                for group in sizes[sizes >= 5].index:
                    who = Counter(first.loc[first["group"] == group, "truth"]).most_common(1)[0][0]
                    steps.append(("--group", group, who))
            else:
                counts = first["truth"].value_counts()
                for who in first["truth"].dropna().drop_duplicates():
                    if counts[who] >= 3:
                        line = first.loc[first["truth"] == who, "line_id"].iloc[0]
                        steps.append(("--line", line, who))
            print(f"== {scenario}: {len(steps)} commands, {len(first)} lines ==")
            for flag, some_id, who in steps:
                out = run("label", ws, flag, some_id, "--name", who)
                if not args.quiet:
                    print(f"$ castlist label WS {flag} {some_id} --name {who}")
                    print("  " + "\n  ".join(out.strip().splitlines()[:3]))
            print(score(ws, tmp, lines_truth))


if __name__ == "__main__":
    main()
