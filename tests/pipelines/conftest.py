"""Fixtures: workspaces filled with synthetic lines and vectors (no media, no model), so the
rules of the workspace and the grouping stage are tested in milliseconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.records import SubtitleEvent
from pipelines.store.workspace import Workspace

MODEL = "test-voice-v1"


def planted_episode(
    rng: np.random.Generator, speakers: list[int], dim: int = 32, noise: float = 0.35
):
    """Lines 2 s apart, no overlap; each speaker a random direction plus noise."""
    centres = np.random.default_rng(1234).normal(size=(20, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    X = centres[speakers] + noise * rng.normal(size=(len(speakers), dim)) / np.sqrt(dim)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    events = [SubtitleEvent(2.0 * i, 2.0 * i + 1.6, f"line {i}") for i in range(len(speakers))]
    return events, X.astype(np.float32)


@pytest.fixture
def make_ws(tmp_path: Path):
    def make(episodes: list[list[int]], seed: int = 0) -> Workspace:
        ws = Workspace.init(tmp_path / "ws")
        rng = np.random.default_rng(seed)
        for n, speakers in enumerate(episodes):
            media = tmp_path / f"ep{n + 1:02d}.mkv"
            subs = tmp_path / f"ep{n + 1:02d}.srt"
            media.write_bytes(b"x")
            subs.write_text(f"episode {n}")
            events, X = planted_episode(rng, speakers)
            ep, _ = ws.add_episode(media, subs, 2.0 * len(speakers) + 5, "video", events, {})
            ws.vectors.save(ep.id, "voice", MODEL, X)
        ws.set_meta("voice_model", MODEL)
        return ws

    return make


def weak_workspace(root: Path, seed: int = 3, noise: float = 1.3) -> tuple[Workspace, list[int]]:
    """Four voices the vectors barely separate (as acted voices), grouped, the first line of
    each named by hand: the machine's names are doubtful, so the queue checks them in
    batches. Returns the workspace (under ``root / "ws"``) and each line's true speaker."""
    from pipelines.stages.run import regroup

    speakers = [int(s) for s in np.random.default_rng(seed).integers(0, 4, 60)]
    events, X = planted_episode(np.random.default_rng(0), speakers, noise=noise)
    ws = Workspace.init(root / "ws")
    (root / "ep01.mkv").write_bytes(b"x")
    (root / "ep01.srt").write_text("x")
    ep, _ = ws.add_episode(root / "ep01.mkv", root / "ep01.srt", 200.0, "video", events, {})
    ws.vectors.save(ep.id, "voice", MODEL, X)
    ws.set_meta("voice_model", MODEL)
    regroup(ws)
    seen: set[int] = set()
    for line, s in zip(ws.lines(), speakers, strict=True):
        if s not in seen:
            seen.add(s)
            ws.name_lines([line.id], f"s{s}")
    regroup(ws)
    return ws, speakers


def first_check(ws: Workspace):
    """The first ``check`` question of ``ws``'s queue, made the top one by skipping what
    comes before it (a weak season's groups that carry only guesses are asked about first),
    as an annotator would on the Review page."""
    from pipelines.review.queue import answer, questions

    while True:
        q = questions(ws, limit=5)[0]
        if q.kind == "check":
            return q
        answer(ws, q, "skip", who="test")
