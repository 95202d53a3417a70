"""``castlist run --ray``: the per-episode stages as Ray tasks, one task per episode.

A catalogue (hundreds of episodes) is too much for one machine's voice and face models, so the
stages that look at one episode at a time (audio extraction, separation when asked, voice
embedding, faces) run as Ray tasks across a cluster, and only the cheap season grouping runs
on the driver. Without ``--ray`` nothing here is imported and ``castlist run`` stays one process.

The workspace database keeps one writer, this driver: SQLite over shared storage is not safe
for many writers, and a single writer keeps today's resume rule. Each task
(:mod:`pipelines.stages.episode_task`) writes its episode's files into the workspace folder
and hands back the stages it finished; the driver checks the files and records the marks as
each task finishes. So a killed worker is retried by Ray, a killed driver leaves the finished
episodes marked, and the next run skips them exactly as an in-process run would.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from pipelines.errors import CastlistError, UsageError, VectorsError
from pipelines.io.vectorfiles import read_vectors_file, stage_files
from pipelines.records import Episode, Progress
from pipelines.stages.devices import choose_device
from pipelines.stages.episode_task import EpisodeJob, EpisodeResult, StageSpec, run_episode

log = logging.getLogger(__name__)

INSTALL_HINT = "install Ray with `pip install 'castlist[ray]'` (or `pip install ray==2.60.0`)"
TASK_RETRIES = 3
"""Times Ray reruns an episode whose worker process or node died (a Python exception in the
stage itself is not retried: it would fail the same way)."""
LOCAL_OBJECT_STORE = 200 * 2**20
"""Object store of a cluster ``--ray auto`` starts on this machine: tasks return small arrays
and marks (vectors go to files), so Ray's default of 30% of RAM would only take memory."""


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            f"--ray needs Ray, which is not installed here ({exc}); {INSTALL_HINT}"
        ) from exc
    return ray


def connect(address: str) -> Any:
    """Join the Ray cluster ``--ray`` names; the ray module, initialised.

    ``auto``: the cluster this process is already in, else the one ``RAY_ADDRESS`` or the
    last ``ray start`` on this machine points to when it answers, else a new one on this
    machine (small object store, no dashboard). Anything else is a cluster address (``HOST:PORT``, ``ray://...``).
    Workers get this driver's code on their path, so a checkout runs the same code everywhere.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    code = str(Path(__file__).resolve().parents[2])  # the folder holding pipelines/
    path = os.pathsep.join(p for p in (code, os.environ.get("PYTHONPATH", "")) if p)
    common = {
        "runtime_env": {"env_vars": {"PYTHONPATH": path}},
        "log_to_driver": True,
        "logging_level": logging.WARNING,
    }
    if address != "auto":
        if "://" not in address and _answers(address) is None:
            raise UsageError(
                f"--ray {address}: nothing answers there; start a cluster with "
                "`ray start --head` and pass the address it prints, or use --ray auto"
            )
        try:
            ray.init(address=address, **common)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            if isinstance(exc.__cause__, ray.exceptions.AuthenticationError):
                raise UsageError(_token_hint(address, exc.__cause__)) from exc
            raise UsageError(
                f"--ray {address}: cannot join that Ray cluster ({exc}); start one with "
                "`ray start --head` and pass the address it prints, or use --ray auto"
            ) from exc
        return ray
    known = _known_cluster(ray)
    if known is not None:
        try:
            ray.init(address="auto", **common)
            return ray
        except ConnectionError as exc:
            if isinstance(exc.__cause__, ray.exceptions.AuthenticationError):
                raise UsageError(_token_hint("auto", exc.__cause__)) from exc
            log.warning("the Ray cluster at %s does not answer (%s)", known, exc)
    log.info("no Ray cluster running: starting one on this machine")
    ray.init(
        address="local",
        object_store_memory=LOCAL_OBJECT_STORE,
        include_dashboard=False,
        **common,
    )
    return ray


def _known_cluster(ray) -> str | None:
    """The address ``ray.init(address="auto")`` would join (``RAY_ADDRESS``, else the last
    ``ray start`` on this machine), when something listens there. A cluster that was killed
    leaves its address behind, and joining it hangs instead of failing, so a port that does
    not answer counts as no cluster."""
    address = os.environ.get("RAY_ADDRESS")
    if not address:
        try:
            from ray._private.utils import read_ray_address  # where `ray start` leaves it

            address = read_ray_address()
        except (ImportError, OSError):
            address = None
    if not address:
        return None
    if "://" in address:  # ray://... (Ray client) or http://...: leave it to Ray
        return address
    return _answers(address)


def _answers(address: str) -> str | None:
    """``address`` (HOST:PORT) when something accepts a connection there within 2 s."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2):
            return address
    except (OSError, ValueError):
        return None


def _token_hint(address: str, exc: Exception) -> str:
    return (
        f"--ray {address}: the Ray cluster wants its authentication token ({exc}); run with "
        "RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
    )


def episode_job(ws, episode: Episode, done: frozenset[tuple[str, str]] | None = None) -> EpisodeJob:
    """The job of one episode; ``done``, its marked stages, when the caller read them already
    (reading every stage row once per episode would cost the driver O(episodes^2))."""
    from pipelines.io.audio import SEPARATE_META_KEY as META_KEY

    if done is None:
        done = frozenset((s, k) for e, s, k in ws.stage_rows() if e == episode.id)
    meta = {META_KEY: ws.get_meta(META_KEY) or ""}
    lines = ws.lines_frame(episode.id)
    return EpisodeJob(str(ws.root.resolve()), episode, lines, meta, done)


def pending(ws, episode: Episode, spec: StageSpec, voice_key: str, face_key: str | None) -> bool:
    """Whether a task has anything to do for this episode (the stages check again, but a task
    per finished episode would cost a worker round trip each on every rerun)."""
    from pipelines.io.audio import model_key

    if spec.separate and not ws.stage_done(episode.id, "separate", model_key(spec.separate)):
        return True
    if not ws.stage_done(episode.id, "voice", voice_key):
        return True
    return (
        face_key is not None
        and episode.kind == "video"
        and not ws.stage_done(episode.id, "faces", face_key)
    )


def record(ws, result: EpisodeResult) -> None:
    """The driver's single write per finished episode: each stage's files are checked, then
    the stage is marked done, so a mark never points at a file that is not there."""
    n_rows = ws.line_count(result.episode_id)
    for stage, key in result.marks:
        for modality, model in stage_files(stage, key):
            path = ws.vectors.path(result.episode_id, modality, model)
            _, problem = read_vectors_file(path, n_rows)
            if problem:
                raise VectorsError(
                    f"{path} {problem} after a worker on {result.host} finished episode "
                    f"{result.episode_id}: is the workspace folder the same on every node?"
                )
        ws.mark_stage(result.episode_id, stage, key)


def task_options(ray, spec: StageSpec) -> dict[str, Any]:
    """One CPU per task; one GPU too where the cluster has GPUs and the device is not cpu."""
    gpus = float(ray.cluster_resources().get("GPU", 0))
    wants_gpu = gpus > 0 and choose_device(spec.device, cuda_available=lambda: True) != "cpu"
    return {"num_cpus": 1, "num_gpus": 1 if wants_gpu else 0, "max_retries": TASK_RETRIES}


def run_on_ray(
    ws,
    address: str,
    spec: StageSpec,
    voice_key: str,
    face_key: str | None,
    progress: Progress | None = None,
) -> list[EpisodeResult]:
    """Run the per-episode stages of every unfinished episode as Ray tasks and record each
    one as it finishes; returns what the tasks reported. Errors raised by a stage come back
    as the same CastlistError (after the other episodes are recorded)."""
    episodes = ws.episodes()
    todo = [e for e in episodes if pending(ws, e, spec, voice_key, face_key)]
    total, done = len(episodes), len(episodes) - len(todo)
    label = "episodes (ray)"
    if progress:
        progress(label, done, total)
    if not todo:
        return []  # a rerun with every episode recorded needs no cluster at all
    ray = connect(address)
    options = task_options(ray, spec)
    task = ray.remote(run_episode).options(**options)
    spec_ref = ray.put(spec)
    marked: dict[str, set[tuple[str, str]]] = {}
    for episode_id, stage, key in ws.stage_rows():
        marked.setdefault(episode_id, set()).add((stage, key))
    waiting = {
        task.remote(episode_job(ws, e, frozenset(marked.get(e.id, ()))), spec_ref): e.id
        for e in todo
    }
    log.info(
        "ray: %d episode task(s) on %s CPU / %s GPU (%d already done)",
        len(todo),
        ray.cluster_resources().get("CPU", 0),
        ray.cluster_resources().get("GPU", 0),
        done,
    )
    results: list[EpisodeResult] = []
    errors: list[BaseException] = []
    while waiting:
        ready, _ = ray.wait(list(waiting), num_returns=1)
        ref = ready[0]
        episode_id = waiting.pop(ref)
        try:
            result = ray.get(ref)
        except Exception as exc:  # a stage's error, or a worker that died TASK_RETRIES times
            errors.append(_unwrap(ray, exc, episode_id))
            continue
        record(ws, result)
        results.append(result)
        done += 1
        log.info(
            "ray: %s done on %s (pid %d, %s) in %s",
            episode_id,
            result.host,
            result.pid,
            result.device,
            ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()),
        )
        if progress:
            progress(label, done, total)
    if errors:
        if len(errors) > 1:
            log.error("ray: %d episodes failed; the first error follows", len(errors))
        raise errors[0]
    return results


def _unwrap(ray, exc: Exception, episode_id: str) -> BaseException:
    """The CastlistError a stage raised (as if the run were in-process), or one that says a
    worker kept dying."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, CastlistError):
        return cause
    if isinstance(exc, ray.exceptions.RayTaskError):
        return exc  # a bug in a stage: its traceback matters
    return CastlistError(
        f"episode {episode_id}: its Ray worker died {TASK_RETRIES + 1} times ({type(exc).__name__}: "
        f"{exc}); the finished episodes are recorded, run the same command again to resume"
    )


def run_stages_on_ray(
    ws,
    address: str,
    voice: str,
    weights: str | dict[str, str] | None,
    separate: str | None,
    device: str,
    progress: Progress | None = None,
) -> str:
    """``castlist run --ray``'s stages: the driver settles every choice the in-process run
    makes (separation model, voice model name, face backend), the tasks do the work. Returns
    the voice model's name, what the vectors are keyed by."""
    from pipelines.stages.faces import MODEL_META, build_face_backend, face_choice
    from pipelines.stages.run import voice_embedder
    from pipelines.stages.separate import SeparatedEmbedder, set_model

    import_ray()  # before any choice is stored: a missing Ray changes nothing
    model = set_model(ws, separate)
    embedder = voice_embedder(voice, weights)  # on the CPU, for its name (cheap to load)
    voice_key = SeparatedEmbedder(embedder, model).name if model else embedder.name
    del embedder
    choice = face_choice(ws)
    backend = build_face_backend(ws, choice) if choice else None
    face_key = backend.name if backend is not None else None
    spec = StageSpec(voice, weights, device, model, choice if backend is not None else None)
    run_on_ray(ws, address, spec, voice_key, face_key, progress)
    ws.set_meta(MODEL_META, face_key or "")
    return voice_key
