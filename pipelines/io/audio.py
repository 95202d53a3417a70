"""An episode's audio as the stages and the browser read it: one 16 kHz wav per episode in the
workspace cache, extracted from the media once, or the separated vocals while a separation model
is on.

Every reader (the voice stage, the exports, the feature stage, the browser's clips) goes through
:func:`episode_audio`, so they all hear the same waveform and none decodes the episode twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.errors import MediaError
from pipelines.io.media import SAMPLE_RATE, extract_audio
from pipelines.io.paths import slug

if TYPE_CHECKING:
    from pipelines.store.workspace import Workspace

SEPARATE_META_KEY = "separate_model"
"""Workspace meta key naming the separation model that is on ("" or absent: off)."""

# episode media that failed to decode, keyed by (path, mtime): the browser asks for many clips
# of one episode per page and must not call ffmpeg on a broken file for each of them
_FAILED: dict[tuple[str, float], str] = {}


def model_key(model: str) -> str:
    """A short stable name for a separation model, used in cache files and vector keys."""
    return slug(Path(model).name.rsplit(".", 1)[0], "model")


def separated_path(ws: Workspace, episode_id: str, model: str) -> Path:
    return ws.cache_dir / "separated" / f"{episode_id}.{model_key(model)}.wav"


def current_separation_model(ws: Workspace) -> str | None:
    return ws.get_meta(SEPARATE_META_KEY) or None


def separated_audio(ws: Workspace, episode_id: str) -> Path | None:
    """The episode's cached vocals when a separation model is on and has run, else None."""
    model = current_separation_model(ws)
    if model is None:
        return None
    path = separated_path(ws, episode_id, model)
    return path if path.is_file() else None


def episode_audio(ws: Workspace, episode_id: str) -> Path:
    """The episode's cached 16 kHz wav, extracted now if it is not there yet (its separated
    vocals instead while ``run --separate`` is on)."""
    separated = separated_audio(ws, episode_id)
    if separated is not None:
        return separated
    return mixed_audio(ws, episode_id)


def mixed_audio(ws: Workspace, episode_id: str) -> Path:
    """The episode's own 16 kHz wav (music and all), extracted now if it is not there yet."""
    path = ws.audio_path(episode_id)
    if path.is_file():
        return path
    media = Path(ws.episode(episode_id).media)
    key = (str(media), media.stat().st_mtime if media.exists() else -1.0)
    if key in _FAILED:
        raise MediaError(_FAILED[key])
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        extract_audio(media, path, sample_rate=SAMPLE_RATE)
    except MediaError as exc:
        _FAILED[key] = str(exc)
        raise
    return path
