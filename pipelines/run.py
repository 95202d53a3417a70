"""``castlist run``: every stage over every episode, resumable, then the cheap season regroup."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from embeddings.voice import load_voice_embedder
from pipelines.errors import ModelError, WorkspaceError
from pipelines.faces_stage import run_faces
from pipelines.season import SeasonResult, group_season
from pipelines.separate import prepare as separate_stage
from pipelines.voice import embed_episode
from pipelines.workspace import Workspace

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
DEFAULT_VOICE = "campplus"


def voice_embedder(name: str):  # noqa: ANN201
    from embeddings.errors import BackendUnavailable

    try:
        return load_voice_embedder(name)
    except BackendUnavailable as exc:
        raise ModelError(str(exc)) from exc


def run(
    ws: Workspace,
    voice: str | None = None,
    progress: Progress | None = None,
    embedder=None,
    separate: str | None = None,
) -> str:  # noqa: ANN001
    """Embed what is not embedded yet, then regroup the season. Safe to interrupt and re-run."""
    episodes = ws.episodes()
    if not episodes:
        raise WorkspaceError(
            f"{ws.root}: no episodes yet; add some with `castlist add {ws.root} ep01.mkv`"
        )
    if all(ep.kind == "imported" for ep in episodes):  # vectors came with the lines
        return f"{summary_of_skips(ws)}\n{regroup(ws)}"
    voice = voice or ws.get_meta("voice_backend") or DEFAULT_VOICE
    embedder = embedder or voice_embedder(voice)
    if any(ep.kind == "imported" for ep in episodes):
        raise WorkspaceError(
            f"{ws.root}: mixes imported lines with media episodes; keep imported embeddings "
            "in a workspace of their own"
        )
    embedder = separate_stage(ws, separate, embedder, progress)  # music off when asked
    for n, episode in enumerate(episodes, 1):
        if progress:
            progress("episodes", n - 1, len(episodes))
        embed_episode(ws, episode.id, embedder, progress)
    if progress:
        progress("episodes", len(episodes), len(episodes))
    ws.set_meta("voice_backend", voice)
    ws.set_meta("voice_model", embedder.name)
    run_faces(ws, progress)
    result = group_season(ws, embedder.name)
    return f"{summary_of_skips(ws)}\n{result}"


def regroup(ws: Workspace) -> SeasonResult:
    """Re-apply every human decision and re-propagate names (no model runs)."""
    model = ws.get_meta("voice_model")
    if model is None:
        raise WorkspaceError(f"{ws.root}: nothing embedded yet; run `castlist run {ws.root}` first")
    return group_season(ws, model)


def summary_of_skips(ws: Workspace) -> str:
    skipped: Counter = Counter()
    for episode in ws.episodes():
        skipped.update(ws.skipped_counts(episode.id))
    if not skipped:
        return "no lines skipped"
    return "skipped lines (not grouped): " + ", ".join(
        f"{n} {why}" for why, n in skipped.most_common()
    )


def status(ws: Workspace) -> str:
    df = ws.lines_frame()
    out = [f"workspace {ws.root}: {len(ws.episodes())} episodes, {len(df)} lines"]
    if df.empty:
        return out[0]
    speech = df[df["skip_reason"] == ""]
    counts = speech["source"].fillna("not grouped yet").value_counts()
    out.append(
        f"speech lines: {len(speech)} (" + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")"
    )
    out.append(summary_of_skips(ws))
    if speech["group_id"].notna().any():
        top = speech.groupby("character").size().sort_values(ascending=False)
        out.append(
            f"characters ({len(top)}): " + ", ".join(f"{c} ({n})" for c, n in top.head(15).items())
        )
    history = ws.history(limit=5)
    if history:
        out.append("last actions: " + "; ".join(f"#{a.id} {a.verb} ({a.state})" for a in history))
    return "\n".join(out)
