"""What one ``castlist run --ray`` task runs: every per-episode stage of one episode, without
the workspace database.

A worker runs the very same stage glue as the in-process run (:func:`pipelines.stages.run.
embed_episode`, :func:`~pipelines.stages.run.embed_faces`, the separation stage) against an
:class:`EpisodeView`: a picklable stand-in for the workspace that the driver fills with one
episode's rows. The view writes what the stages write to files (vectors, audio, vocals,
thumbnails: atomically, into the workspace folder, which must be on storage every node mounts
at the same path) and, instead of marking stages done in the database, keeps the marks for the
driver (:mod:`pipelines.stages.distributed`), the database's only writer. Nothing here imports
Ray: the driver wraps :func:`run_episode` as a task, and the tests call it directly.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import VectorsError, WorkspaceError
from pipelines.io.vectorfiles import read_vectors_file
from pipelines.records import Episode
from pipelines.stages.devices import choose_device


@dataclass(frozen=True)
class StageSpec:
    """What every task runs: the same for all episodes of one ``castlist run``."""

    voice: str
    voice_weights: str | dict[str, str] | None
    device: str = "auto"
    separate: str | None = None  # separation model (name or path), None: off
    faces: tuple[str, dict] | None = None  # (face backend name, kwargs), None: off


@dataclass(frozen=True)
class EpisodeJob:
    """One episode as the driver read it from the database, plus where its files go."""

    root: str
    episode: Episode
    lines: pd.DataFrame  # ws.lines_frame(episode): what the stage glue reads
    meta: dict[str, str]
    done: frozenset[tuple[str, str]]  # (stage, key) already marked for this episode


@dataclass
class EpisodeResult:
    """What a task hands back: the stage marks for the driver to record, and where and how
    long it ran (the benchmark and the progress log read these)."""

    episode_id: str
    marks: list[tuple[str, str]]
    seconds: dict[str, float] = field(default_factory=dict)
    host: str = ""
    pid: int = 0
    device: str = "cpu"


class _EpisodeVectors:
    """The vectors files of one episode: written exactly where (and as atomically as) the
    workspace's :class:`~pipelines.store.vectors.VectorStore` writes them; read without the
    database (a worker never opens it)."""

    def __init__(self, root: Path, n_rows: int) -> None:
        from pipelines.store.vectors import VectorStore

        # path() and save() never touch the database: no connection is handed over
        self._files = VectorStore(root, None, lambda _episode: n_rows)  # type: ignore[arg-type]
        self.n_rows = n_rows

    def path(self, episode_id: str, modality: str, model: str) -> Path:
        return self._files.path(episode_id, modality, model)

    def save(self, episode_id: str, modality: str, model: str, array: np.ndarray) -> Path:
        return self._files.save(episode_id, modality, model, array)

    def load(self, episode_id: str, modality: str, model: str) -> np.ndarray | None:
        path = self.path(episode_id, modality, model)
        if not path.is_file():
            return None
        X, problem = read_vectors_file(path, self.n_rows)
        if problem:
            raise VectorsError(f"{path}: {problem}; run `castlist run` again to recompute it")
        return X


class EpisodeView:
    """The part of :class:`~pipelines.store.workspace.Workspace` the per-episode stage glue
    uses, for one episode, without the database: reads come from the job, files go to the
    workspace folder exactly where the workspace writes them, stage marks are kept for the
    driver."""

    read_only = False

    def __init__(self, job: EpisodeJob) -> None:
        self.root = Path(job.root)
        self.job = job
        self.marks: list[tuple[str, str]] = []
        self.vectors = _EpisodeVectors(self.root, len(job.lines))

    # the workspace's own cache layout, shared rather than copied
    from pipelines.store.workspace import Workspace as _W

    cache_dir = _W.cache_dir
    audio_path = _W.audio_path
    del _W

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return self.job.meta.get(key, default)

    def episode(self, episode_id: str) -> Episode:
        self._check(episode_id)
        return self.job.episode

    def lines_frame(self, episode_id: str | None = None, speech_only: bool = False) -> pd.DataFrame:
        self._check(episode_id or self.job.episode.id)
        lines = self.job.lines
        return lines[lines["skip_reason"] == ""] if speech_only else lines.copy()

    def line_count(self, episode_id: str) -> int:
        self._check(episode_id)
        return len(self.job.lines)

    def stage_done(self, episode_id: str, stage: str, key: str) -> bool:
        self._check(episode_id)
        return (stage, key) in self.job.done or (stage, key) in self.marks

    def mark_stage(self, episode_id: str, stage: str, key: str) -> None:
        self._check(episode_id)
        self.marks.append((stage, key))

    def _check(self, episode_id: str) -> None:
        if episode_id != self.job.episode.id:
            raise WorkspaceError(
                f"a task for episode {self.job.episode.id} asked for {episode_id}: "
                "a task sees only its own episode"
            )


_MODELS: dict[tuple, Any] = {}
"""Models loaded in this worker process, reused by its next tasks (Ray keeps workers alive
between tasks, and a model load costs seconds)."""


def _cached(key: tuple, build: Callable[[], Any]) -> Any:
    if key not in _MODELS:
        _MODELS[key] = build()
    return _MODELS[key]


def run_episode(job: EpisodeJob, spec: StageSpec) -> EpisodeResult:
    """Every per-episode stage of one episode, as the in-process run does them; the body of
    each Ray task, and callable without Ray (the tests run it in-process too)."""
    from pipelines.stages.faces import with_device
    from pipelines.stages.memory import bound_heap, release_free_memory
    from pipelines.stages.run import embed_episode, embed_faces, voice_embedder
    from pipelines.stages.separate import SeparatedEmbedder, separate_episode

    if not Path(job.root).is_dir():
        raise WorkspaceError(
            f"the workspace {job.root} is not visible on {socket.gethostname()}: put it on storage "
            "every Ray node mounts at the same path"
        )
    bound_heap()
    view = EpisodeView(job)
    episode_id = job.episode.id
    device = choose_device(spec.device)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    if spec.separate:
        separate_episode(view, episode_id, spec.separate)
        seconds["separate"] = time.perf_counter() - t
    embedder = _cached(
        ("voice", spec.voice, repr(spec.voice_weights), device),
        lambda: voice_embedder(spec.voice, spec.voice_weights, device=device),
    )
    if spec.separate:
        embedder = SeparatedEmbedder(embedder, spec.separate)
    t = time.perf_counter()
    embed_episode(view, episode_id, embedder)
    seconds["voice"] = time.perf_counter() - t
    release_free_memory()
    if spec.faces is not None and job.episode.kind == "video":
        from embeddings.faces import face_backend

        name, kwargs = with_device(spec.faces, device)
        backend = _cached(
            ("faces", name, repr(sorted(kwargs.items()))), lambda: face_backend(name, **kwargs)
        )
        t = time.perf_counter()
        embed_faces(view, episode_id, backend)
        seconds["faces"] = time.perf_counter() - t
        release_free_memory()
    return EpisodeResult(episode_id, view.marks, seconds, socket.gethostname(), os.getpid(), device)
