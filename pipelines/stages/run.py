"""``castlist run``: every stage over every episode, resumable, then the cheap season regroup.

The orchestrator: the stages are functions from plain inputs to arrays (the lines table, the
path of a waveform or video, a model), and only this module reads their inputs from the
workspace and stores what they return. A stage is marked done after its files are written, so an
interrupted run redoes at most one episode.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from embeddings.base import Embedder
from embeddings.errors import BackendUnavailable
from embeddings.faces import FaceBackend
from embeddings.voice import load_voice_embedder
from pipelines.errors import ModelError, UsageError, WorkspaceError
from pipelines.io import atomic
from pipelines.io.audio import current_separation_model, episode_audio
from pipelines.io.vectorfiles import LINEFEAT
from pipelines.records import SURE, LabelSource, Progress
from pipelines.review.answers import calibration_note, likely_right_note
from pipelines.stages import faces
from pipelines.stages.devices import check_device, choose_device
from pipelines.stages.grouping_state import last_run_line
from pipelines.stages.incremental import group
from pipelines.stages.memory import bound_heap, release_free_memory
from pipelines.stages.season import SeasonResult, group_season, voice_evidence_line
from pipelines.stages.separate import prepare as separate_stage
from pipelines.stages.voice import embed_lines
from pipelines.store.doctor import repair_vectors
from pipelines.store.workspace import Workspace
from pipelines.wording import count

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


def voice_embedder(name: str, weights: str | dict[str, str] | None = None, device: str = "cpu"):
    """The voice backend ``name`` (a fusion when '+'-joined), errors as CastlistErrors."""
    try:
        return load_voice_embedder(name, weights=weights, device=device)
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
    regroup_mode: str = "auto",
    device: str = "auto",
    ray: str | None = None,
) -> str:
    """Embed what is not embedded yet, then group: only the added episodes when the season
    was grouped and nothing else changed (``regroup_mode="auto"``), else the whole season
    (``"all"``: always). Safe to interrupt and re-run.

    ``device``: auto|cpu|cuda[:N] for the voice (and, where OpenCV has CUDA, face) models.
    ``ray``: None runs every stage here; ``auto`` or a cluster address runs the per-episode
    stages as Ray tasks (:mod:`pipelines.stages.distributed`), the grouping still here."""
    check_device(device)
    if ray is None:
        choose_device(device)  # cuda asked where there is none: say so before any work
    episodes = ws.episodes()
    if not episodes:
        raise WorkspaceError(
            f"{ws.root}: no episodes yet; add some with `castlist add {ws.root} ep01.mkv`"
        )
    repaired = repair_vectors(ws)  # stages marked done whose files are gone or bad: redo them
    if all(ep.kind == "imported" for ep in episodes):  # vectors came with the lines
        model = ws.get_meta("voice_model")
        if model is None:
            return f"{summary_of_skips(ws)}\n{regroup(ws)}"  # says what to do
        return f"{summary_of_skips(ws)}\n{group(ws, model, regroup_mode, repaired)}"
    weights = voice_weights_arg(voice_weights)
    if voice is None or voice == ws.get_meta("voice_backend"):  # same model: same weights file
        weights = weights or json.loads(ws.get_meta("voice_weights") or "null")
    voice = voice or ws.get_meta("voice_backend") or DEFAULT_VOICE
    if any(ep.kind == "imported" for ep in episodes):
        raise WorkspaceError(
            f"{ws.root}: mixes imported lines with media episodes; keep imported embeddings "
            "in a workspace of their own"
        )
    if ray is not None:
        from pipelines.stages.distributed import run_stages_on_ray

        model = run_stages_on_ray(ws, ray, voice, weights, separate, device, progress)
    else:
        model = _run_stages_here(ws, voice, weights, separate, device, progress, embedder)
    ws.set_meta("voice_backend", voice)
    ws.set_meta("voice_weights", json.dumps(weights))
    ws.set_meta("voice_model", model)
    # a bad file of a model this run does not use (an earlier --voice) is only forgotten:
    # saying it was recomputed, and regrouping the season for it, would both be wrong
    redone = [bad for bad in repaired if ws.stage_done(bad.episode_id, bad.stage, bad.key)]
    result = group(ws, model, regroup_mode, redone)
    said = "".join(f"recomputed missing or invalid vectors: {bad}\n" for bad in redone)
    said += "".join(
        f"forgot missing or invalid vectors of a model this run does not use: {bad}\n"
        for bad in repaired
        if bad not in redone
    )
    return f"{said}{summary_of_skips(ws)}\n{faces.style_summary(ws)}\n{result}"


def _run_stages_here(
    ws: Workspace,
    voice: str,
    weights: str | dict[str, str] | None,
    separate: str | None,
    device: str,
    progress: Progress | None,
    embedder=None,
) -> str:
    """The per-episode stages in this process, one episode after another; the voice model's
    name (what the vectors are keyed by)."""
    episodes = ws.episodes()
    embedder = embedder or voice_embedder(voice, weights, device=choose_device(device))
    embedder = separate_stage(ws, separate, embedder, progress)  # music off when asked
    bound_heap()  # freed activations go back to the system: bounded memory per episode
    for n, episode in enumerate(episodes, 1):
        if progress:
            progress("episodes", n - 1, len(episodes))
        embed_episode(ws, episode.id, embedder, progress)
        release_free_memory()
    if progress:
        progress("episodes", len(episodes), len(episodes))
    ws.set_meta("voice_model", embedder.name)  # recorded before faces, as before
    run_faces(ws, progress, device=device)
    release_free_memory()
    return embedder.name


# ----------------------------------------------------------------------------- stage glue
# Each stage is a function from plain inputs to arrays; these read its inputs from the
# workspace, skip what is already stored (a killed run redoes at most one episode), and store
# what it returns, marking the stage done only after its files are written.


def embed_episode(
    ws: Workspace, episode_id: str, embedder: Embedder, progress: Progress | None = None
) -> np.ndarray:
    """The voice stage on one episode (resumable: the stored vectors when already done)."""
    stored = ws.vectors.load(episode_id, "voice", embedder.name)
    if stored is not None and ws.stage_done(episode_id, "voice", embedder.name):
        return stored
    lines = ws.lines_frame(episode_id)
    hook = (lambda done, total: progress(f"voice {episode_id}", done, total)) if progress else None
    out = embed_lines(lines, episode_audio(ws, episode_id), embedder, hook)
    ws.vectors.save(episode_id, "voice", embedder.name, out.vectors)
    ws.vectors.save(episode_id, *LINEFEAT, out.features)
    ws.mark_stage(episode_id, "voice", embedder.name)
    return out.vectors


def embed_faces(
    ws: Workspace,
    episode_id: str,
    backend: FaceBackend,
    progress: Progress | None = None,
    frames_per_line: int | None = None,
) -> None:
    """The faces stage on one episode (resumable).

    Audio-only episodes, and episodes whose media is gone or has no video stream, are skipped
    (nothing stored, nothing marked): their lines group by voice alone.
    """
    done = ws.stage_done(episode_id, faces.STAGE, backend.name)
    if done and ws.vectors.load(episode_id, faces.FACE, backend.name) is not None:
        return
    episode = ws.episode(episode_id)
    if not faces.is_video(episode):
        log.info("faces: %s has no video; its lines group by voice alone", episode_id)
        return
    lines = ws.lines_frame(episode_id)
    hook = (lambda done, total: progress(f"faces {episode_id}", done, total)) if progress else None
    out = faces.faces_of_lines(lines, episode.media, backend, hook, frames_per_line)
    speech = (lines["skip_reason"].fillna("") == "").to_numpy()
    for row, line_id in enumerate(lines["id"]):
        thumb = faces.thumb_path(ws, line_id)
        if row in out.thumbs:
            thumb.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(thumb, out.thumbs[row])
        elif speech[row]:
            thumb.unlink(missing_ok=True)  # a stale thumbnail from an older model
    ws.vectors.save(episode_id, faces.FACE, backend.name, out.vectors)
    ws.vectors.save(episode_id, faces.FACEMETA, backend.name, out.meta)
    ws.mark_stage(episode_id, faces.STAGE, backend.name)


def run_faces(
    ws: Workspace,
    progress: Progress | None = None,
    backend: FaceBackend | None = None,
    device: str = "auto",
) -> str | None:
    """The faces stage over every episode (resumable); returns the model name, None when off.

    The style comes from :func:`~pipelines.stages.faces.choose_style`; the model name is stored in meta
    ``face_model`` for :func:`~pipelines.stages.faces.face_fuser`.
    """
    if backend is None:
        choice = faces.face_choice(ws)
        if choice is not None:
            backend = faces.build_face_backend(ws, faces.with_device(choice, device))
        if backend is None:
            ws.set_meta(faces.MODEL_META, "")
            return None
    episodes = ws.episodes()
    for n, episode in enumerate(episodes):
        if progress:
            progress("faces: episodes", n, len(episodes))
        embed_faces(ws, episode.id, backend, progress)
    if progress:
        progress("faces: episodes", len(episodes), len(episodes))
    ws.set_meta(faces.MODEL_META, backend.name)
    return backend.name


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


def _named(named: float, sure: float) -> str:
    """ "100% named", or "100% named (8% sure)" where most names are the machine's guesses
    (weak voice evidence: every line gets its likeliest name, however unlikely)."""
    text = f"{named:.0%} named"
    return text if round(100 * sure) >= round(100 * named) else f"{text} ({sure:.0%} sure)"


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
    weak = voice_evidence_line(ws)
    if (
        weak
        and current_separation_model(ws) is None
        and any(ep.kind != "imported" for ep in ws.episodes())
    ):
        # the one lever a person has here without new weights (docs/benchmarks_acted.md)
        weak += (
            f"\nmusic under the lines? `castlist run {shlex.quote(str(ws.root))} --separate "
            "gaps` filters out what plays between them (acted voices: 0.01-0.03 more names "
            "right from hand labels)"
        )
    notes = [weak, calibration_note(ws), likely_right_note(speech), last_run_line(ws)]
    out += [line for line in notes if line]
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
    sure = (speech["source"] == LabelSource.HUMAN.value) | (
        pd.to_numeric(speech["confidence"], errors="coerce").fillna(0.0) >= SURE
    )
    grouped = speech[speech["group_id"].notna()].assign(
        cid=lambda d: d["character_id"].fillna(d["character"]),
        named=lambda d: d["speaker"].notna(),
        sure=sure & speech["speaker"].notna(),
    )
    out = []
    chars = (
        grouped.groupby("cid")
        .agg(
            name=("character", "first"),
            n=("id", "size"),
            groups=("group_id", "nunique"),
            named=("named", "mean"),
            sure=("sure", "mean"),
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
            f"  {who:<24} {r['n']:>5} line{'' if r['n'] == 1 else 's'} in "
            f"{count(r['groups'], 'group')}, {_named(r['named'], r['sure'])}"
        )
    groups = (
        grouped.groupby("group_id")
        .agg(
            n=("id", "size"),
            name=("character", "first"),
            cid=("cid", "first"),
            named=("named", "mean"),
            sure=("sure", "mean"),
        )
        .reset_index()
        .sort_values(["n", "group_id"], ascending=[False, True])
    )
    out.append(f"groups ({len(groups)}; for --group, merge, move --to, separate):")
    for r in groups.head(STATUS_MAX_GROUPS).itertuples():
        who = f"{r.name} ({r.cid})" if r.name != r.cid else str(r.cid)
        lines = "line " if r.n == 1 else "lines"
        out.append(f"  {r.group_id:<16} {r.n:>5} {lines}  {who:<28} {_named(r.named, r.sure)}")
    if len(groups) > STATUS_MAX_GROUPS:
        out.append(
            f"  ... and {len(groups) - STATUS_MAX_GROUPS} smaller groups "
            "(`castlist export` lists every line's group)"
        )
    return out
