"""``castlist demo``: a whole run on a small realistic episode built from bundled audio.

The episode is made here (real LibriSpeech voices laid on a synthetic turn structure, music
mixed in, an .mkv with a video stream, subtitles without names) so the demo needs nothing
beyond the installed package. It runs the same commands a user would, then shows the result
next to the truth, first unsupervised and then after one hand label per character.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pipelines.demo.episodes import build_demo
from pipelines.errors import WorkspaceError
from pipelines.export.evaluate import align, evaluate, format_report
from pipelines.stages.ingest import add_episode
from pipelines.stages.run import regroup, run
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)


def label_one_line_per_character(ws: Workspace, truth: pd.DataFrame) -> int:
    """What a person does first: name one (the longest) line of each character."""
    df = align(ws, truth)
    df = df.assign(duration=df["end"] - df["start"]).sort_values("duration", ascending=False)
    picks = df.drop_duplicates("truth")
    for row in picks.itertuples():
        ws.name_lines([row.id], str(row.truth), who="demo")
    return len(picks)


def run_demo(
    root: Path | None = None, progress: Callable[[str, int, int], None] | None = None
) -> str:
    root = Path(root or "castlist-demo").resolve()
    media_dir, ws_dir = root / "media", root / "workspace"
    marker = root / ".castlist-demo"
    if root.exists() and any(root.iterdir()):
        if not marker.exists():
            raise WorkspaceError(
                f"{root}: exists and is not a castlist demo folder; pass --dir NEW_FOLDER"
            )
        shutil.rmtree(root)  # a previous demo: start afresh
    root.mkdir(parents=True)
    marker.touch()
    episode = build_demo(media_dir)
    truth = pd.DataFrame([t.__dict__ for t in episode.truth])
    ws = Workspace.init(ws_dir)
    with ws:
        added = add_episode(ws, episode.media, episode.srt)
        summary = run(ws, progress=progress)
        before = evaluate(ws, truth)
        n = label_one_line_per_character(ws, truth)
        regroup(ws)
        after = evaluate(ws, truth)
    return "\n".join(
        [
            f"demo episode: {episode.media} ({episode.duration:.0f} s, {added.summary})",
            summary,
            "",
            "== unsupervised (voice only) ==",
            format_report(before),
            "",
            f"== after naming one line of each of the {n} characters ==",
            format_report(after),
            "",
            f"workspace left in {ws_dir}: try `castlist status {ws_dir}` or "
            f"`castlist export {ws_dir} -f csv -o demo.csv`",
        ]
    )
