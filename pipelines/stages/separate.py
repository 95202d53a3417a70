"""The optional separate stage: music and effects removed before voices are embedded.

``castlist run --separate gaps`` needs no weights: each line is filtered against the music bed
heard in the subtitle gaps around it (:mod:`pipelines.io.gap_filter`). ``castlist run
--separate MODEL`` runs audio-separator (UVR MDX-Net vocal models such as
``UVR-MDX-NET-Voc_FT.onnx``) over each episode once and caches the vocals as a 16 kHz wav beside
the plain audio (``cache/separated``). While a model is set, the voice stage and the line clips
read the vocals instead of the mix, and voice vectors are keyed by voice model *and* separation
model, so vectors of separated and unseparated audio never mix.

Models come from audio-separator's model folder (``$AUDIO_SEPARATOR_MODEL_DIR``, else its
default ``/tmp/audio-separator-models``), where it downloads them when online, or from a path to
the model file. Offline, that folder must also hold the UVR index files audio-separator reads
(``download_checks.json``, ``mdx_model_data.json``, ``vr_model_data.json``), as a machine that
was online once leaves them.

audio-separator's MDX path imports ``onnx2torch``, which imports torchvision; castlist only
uses the onnxruntime path (segment size equal to the model's own), so when onnx2torch cannot be
imported a placeholder stands in for it and says so if it is ever called.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import types
from pathlib import Path

import soundfile as sf

from pipelines.errors import MediaError, ModelError
from pipelines.io.atomic import atomic_path
from pipelines.io.audio import (
    SEPARATE_META_KEY,
    current_separation_model,
    mixed_audio,
    model_key,
    separated_path,
)
from pipelines.io.gap_filter import suppress_bed
from pipelines.io.media import SAMPLE_RATE, extract_audio, load_audio

log = logging.getLogger(__name__)

GAPS = "gaps"
"""The built-in separation, no weights: the music bed under each line estimated from the
subtitle gaps around it and filtered out (``pipelines.io.gap_filter``)."""
SEPARATION_RATE = 44100
"""What UVR models are trained on: the episode is decoded at this rate for them."""
DEFAULT_MODEL_DIR = "/tmp/audio-separator-models"
INSTALL_HINT = (
    "install audio-separator without its torch pins: pip install --no-deps audio-separator "
    "onnx2torch-py313 && pip install librosa pydub onnx onnxruntime six"
)


def model_location(model: str) -> tuple[Path, str]:
    """(folder, file name) of a separation model given as a path or as a file name."""
    path = Path(model).expanduser()
    if path.parent != Path(".") or path.is_file():
        return path.resolve().parent, path.name
    folder = Path(os.environ.get("AUDIO_SEPARATOR_MODEL_DIR", DEFAULT_MODEL_DIR))
    return folder, model


def _import_separator():
    if "onnx2torch" not in sys.modules:
        try:
            import onnx2torch  # noqa: F401
        except ImportError:
            stub = types.ModuleType("onnx2torch")

            def convert(*_a, **_k):
                raise ModelError(
                    "this separation model needs onnx2torch (and torchvision); castlist runs MDX "
                    "models on onnxruntime with their own segment size"
                )

            stub.convert = convert
            sys.modules["onnx2torch"] = stub
    try:
        from audio_separator.separator import Separator
    except ImportError as exc:
        raise ModelError(f"--separate needs audio-separator ({exc}); {INSTALL_HINT}") from exc
    return Separator


def load_separator(model: str, work_dir: Path):
    """An audio-separator Separator with ``model`` loaded, writing into ``work_dir``."""
    folder, name = model_location(model)
    if not (folder / name).is_file():
        raise ModelError(
            f"separation model {name} not found in {folder}: download it there (audio-separator "
            f"--download_model_only {name}) or give the path to the model file"
        )
    Separator = _import_separator()
    sep = Separator(
        log_level=logging.WARNING,
        model_file_dir=str(folder),
        output_dir=str(work_dir),
        output_single_stem="Vocals",
        sample_rate=SEPARATION_RATE,
    )
    try:
        sep.load_model(name)
    except Exception as exc:  # network errors offline, unknown hashes, bad files
        raise ModelError(
            f"cannot load separation model {folder / name}: {exc}. Offline, {folder} must hold "
            "audio-separator's index files (download_checks.json, mdx_model_data.json, "
            "vr_model_data.json) with this model in them"
        ) from exc
    return sep


def filter_gaps(ws, episode_id: str, out: Path) -> Path:
    """The built-in ``gaps`` separation: each line filtered against the music bed of the
    subtitle gaps around it (:mod:`pipelines.io.gap_filter`), written as ``out``."""
    lines = ws.lines_frame(episode_id)
    audio = load_audio(mixed_audio(ws, episode_id))
    clean = suppress_bed(audio, SAMPLE_RATE, lines["start"], lines["end"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".wav") as tmp:
        sf.write(tmp, clean, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    return out


def separate_episode(ws, episode_id: str, model: str, separator=None) -> Path:
    """Vocals of one episode as a 16 kHz mono wav (cached: a second call only looks)."""
    out = separated_path(ws, episode_id, model)
    if out.is_file() and ws.stage_done(episode_id, "separate", model_key(model)):
        return out
    if model == GAPS:
        filter_gaps(ws, episode_id, out)
        ws.mark_stage(episode_id, "separate", model_key(model))
        return out
    media = Path(ws.episode(episode_id).media)
    with tempfile.TemporaryDirectory(prefix="castlist-separate-") as tmp:
        tmp = Path(tmp)
        mix = extract_audio(media, tmp / "mix.wav", sample_rate=SEPARATION_RATE)
        separator = separator or load_separator(model, tmp)
        separator.output_dir = str(tmp)
        if getattr(separator, "model_instance", None) is not None:
            separator.model_instance.output_dir = str(tmp)
        try:
            files = separator.separate(str(mix), {"Vocals": "vocals"})
        except ModelError:
            raise
        except Exception as exc:
            raise MediaError(f"separating the voices of {media} failed: {exc}") from exc
        vocals = [Path(f) if Path(f).is_absolute() else tmp / f for f in files]
        vocals = [p for p in vocals if "vocals" in p.name.lower()] or vocals
        if not vocals or not vocals[0].is_file():
            raise MediaError(f"separating {media} wrote no vocals file")
        extract_audio(vocals[0], out, sample_rate=SAMPLE_RATE)
    ws.mark_stage(episode_id, "separate", model_key(model))
    log.info("separated the voices of %s with %s -> %s", episode_id, model, out)
    return out


class SeparatedEmbedder:
    """A voice embedder whose name says the vectors came from separated audio."""

    def __init__(self, inner, model: str) -> None:
        self.inner = inner
        self.name = f"{inner.name}+sep-{model_key(model)}"
        self.dim = inner.dim

    def __call__(self, items, /, **kwargs):
        return self.inner(items, **kwargs)


def set_model(ws, model: str | None) -> str | None:
    """Turn separation on (a model name/path), off ("off"/"none") or leave it (None); the
    model now in use."""
    if model is not None:
        ws.set_meta(SEPARATE_META_KEY, "" if model.lower() in ("off", "none", "") else model)
    return current_separation_model(ws)


def prepare(ws, model: str | None, embedder, progress=None):
    """Turn separation on (a model name/path), off ("off"/"none"), or leave it as it is
    (None); run it over every episode when on. Returns the embedder the voice stage uses."""
    model = set_model(ws, model)
    if model is None:
        return embedder
    episodes = ws.episodes()
    separator = None
    for n, episode in enumerate(episodes):
        if progress:
            progress("separate", n, len(episodes))
        if not (
            separated_path(ws, episode.id, model).is_file()
            and ws.stage_done(episode.id, "separate", model_key(model))
        ):
            if model != GAPS:
                separator = separator or load_separator(model, ws.cache_dir / "separated")
            separate_episode(ws, episode.id, model, separator)
    if progress:
        progress("separate", len(episodes), len(episodes))
    return SeparatedEmbedder(embedder, model)
