"""``castlist run``: every stage over every episode, resumable, then the cheap season regroup."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pandas as pd

from embeddings.voice import load_voice_embedder
from pipelines.errors import ModelError, UsageError, WorkspaceError
from pipelines.records import Progress
from pipelines.stages.faces import run_faces, style_summary
from pipelines.stages.memory import bound_heap, release_free_memory
from pipelines.stages.season import SeasonResult, group_season, voice_evidence_line
from pipelines.stages.separate import prepare as separate_stage
from pipelines.stages.voice import embed_episode
from pipelines.store.doctor import repair_vectors
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_VOICE = "campplus"


def voice_weights_arg(values: list[str] | str | None) -> str | dict[str, str] | None:
    """``--voice-weights`` values as one absolute path, or ``{model: path}`` from NAME=PATH."""
    if not values:
        return None
    from embeddings.voice import VOICE_BACKENDS

    plain: list[str] = []
    named: dict[str, str] = {}
    for value in [values] if isinstance(values, str) else values:
        name, sep, path = value.partition("=")
        if sep and name in VOICE_BACKENDS:
            named[name] = str(Path(path).expanduser().resolve())
        else:
            plain.append(str(Path(value).expanduser().resolve()))
    if plain and (named or len(plain) > 1):
        raise UsageError(
            "--voice-weights: give one PATH for one voice model, or NAME=PATH per model of a "
            "fusion (e.g. --voice-weights anime=embedding_model.pth)"
        )
    return plain[0] if plain else named


def voice_embedder(name: str, weights: str | dict[str, str] | None = None):
    """The voice backend ``name`` (a fusion when '+'-joined), errors as CastlistErrors."""
    from embeddings.errors import BackendUnavailable

    try:
        return load_voice_embedder(name, weights=weights)
    except BackendUnavailable as exc:
        raise ModelError(f"voice model {name!r}: {exc}") from exc
    except ValueError as exc:
        raise UsageError(f"--voice {name}: {exc}") from exc


def run(
    ws: Workspace,
    voice: str | None = None,
    progress: Progress | None = None,
    embedder=None,
    voice_weights: list[str] | str | None = None,
    separate: str | None = None,
) -> str:
    """Embed what is not embedded yet, then regroup the season. Safe to interrupt and re-run."""
    episodes = ws.episodes()
    if not episodes:
        raise WorkspaceError(
            f"{ws.root}: no episodes yet; add some with `castlist add {ws.root} ep01.mkv`"
        )
    repaired = repair_vectors(ws)  # stages marked done whose files are gone or bad: redo them
    if all(ep.kind == "imported" for ep in episodes):  # vectors came with the lines
        return f"{summary_of_skips(ws)}\n{regroup(ws)}"
    weights = voice_weights_arg(voice_weights)
    if voice is None or voice == ws.get_meta("voice_backend"):  # same model: same weights file
        weights = weights or json.loads(ws.get_meta("voice_weights") or "null")
    voice = voice or ws.get_meta("voice_backend") or DEFAULT_VOICE
    embedder = embedder or voice_embedder(voice, weights)
    if any(ep.kind == "imported" for ep in episodes):
        raise WorkspaceError(
            f"{ws.root}: mixes imported lines with media episodes; keep imported embeddings "
            "in a workspace of their own"
        )
    embedder = separate_stage(ws, separate, embedder, progress)  # music off when asked
    bound_heap()  # freed activations go back to the system: bounded memory per episode
    for n, episode in enumerate(episodes, 1):
        if progress:
            progress("episodes", n - 1, len(episodes))
        embed_episode(ws, episode.id, embedder, progress)
        release_free_memory()
    if progress:
        progress("episodes", len(episodes), len(episodes))
    ws.set_meta("voice_backend", voice)
    ws.set_meta("voice_weights", json.dumps(weights))
    ws.set_meta("voice_model", embedder.name)
    run_faces(ws, progress)
    release_free_memory()
    result = group_season(ws, embedder.name)
    redone = "".join(f"recomputed missing or invalid vectors: {bad}\n" for bad in repaired)
    return f"{redone}{summary_of_skips(ws)}\n{style_summary(ws)}\n{result}"


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
    out += [line for line in [voice_evidence_line(ws)] if line]
    if speech["group_id"].notna().any():
        out += _roster_lines(speech)
    history = ws.actions.history(limit=5)
    if history:
        out.append("last actions: " + "; ".join(f"#{a.id} {a.verb} ({a.state})" for a in history))
    return "\n".join(out)


STATUS_MAX_GROUPS = 80


def _roster_lines(speech: pd.DataFrame) -> list[str]:
    """Characters and groups with the ids the commands accept, biggest first.

    A character is shown by its id and, once named, its name (``--character`` takes
    either); "named" counts lines carrying any name, by hand or propagated."""
    grouped = speech[speech["group_id"].notna()].assign(
        cid=lambda d: d["character_id"].fillna(d["character"]),
        named=lambda d: d["speaker"].notna(),
    )
    out = []
    chars = (
        grouped.groupby("cid")
        .agg(
            name=("character", "first"),
            n=("id", "size"),
            groups=("group_id", "nunique"),
            named=("named", "mean"),
        )
        .sort_values(["n", "name"], ascending=[False, True])
    )
    # what the machine calls a character nobody named (subtitle names, propagation): shown
    # with a "~" so the user sees it without mistaking it for a confirmed name
    guess = (
        grouped[grouped["named"]].groupby("cid")["speaker"].agg(lambda s: s.value_counts().index[0])
    )
    out.append(
        f"characters ({len(chars)}; --character takes the id or the name; ~NAME: a machine's "
        "guess, not yet confirmed):"
    )
    for cid, r in chars.iterrows():
        who = f"{cid} {r['name']}" if r["name"] != cid else str(cid)
        if r["name"] == cid and cid in guess.index:
            who = f"{cid} ~{guess[cid]}"
        out.append(
            f"  {who:<24} {r['n']:>5} line{'' if r['n'] == 1 else 's'} in {r['groups']} group"
            f"{'' if r['groups'] == 1 else 's'}, {r['named']:.0%} named"
        )
    groups = (
        grouped.groupby("group_id")
        .agg(
            n=("id", "size"),
            name=("character", "first"),
            cid=("cid", "first"),
            named=("named", "mean"),
        )
        .reset_index()
        .sort_values(["n", "group_id"], ascending=[False, True])
    )
    out.append(f"groups ({len(groups)}; for --group, merge, move --to, separate):")
    for r in groups.head(STATUS_MAX_GROUPS).itertuples():
        who = f"{r.name} ({r.cid})" if r.name != r.cid else str(r.cid)
        lines = "line " if r.n == 1 else "lines"
        out.append(f"  {r.group_id:<16} {r.n:>5} {lines}  {who:<28} {r.named:.0%} named")
    if len(groups) > STATUS_MAX_GROUPS:
        out.append(
            f"  ... and {len(groups) - STATUS_MAX_GROUPS} smaller groups "
            "(`castlist export` lists every line's group)"
        )
    return out
