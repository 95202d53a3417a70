"""Audio clips and face thumbnails of single lines, for the browser, cut on demand.

Clips are derived data: they live under ``cache/clips`` in the workspace, are written
atomically (a half-written wav is never served) and can be deleted at any time. They are sliced
from the episode's cached 16 kHz audio, which is extracted once if missing, so one clip costs a
file seek rather than a decode of the episode.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipelines.io.audio import episode_audio
from pipelines.io.media import SAMPLE_RATE, write_clip
from pipelines.io.paths import component, safe_join
from pipelines.stages.faces import thumb_path
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)

PAD = 0.1
"""Seconds of context kept on each side of a line, so its first syllable is not clipped."""


def clips_dir(ws: Workspace) -> Path:
    return ws.cache_dir / "clips"


def clip_path(ws: Workspace, line_id: str, pad: float = PAD) -> Path:
    """A wav of one line (cut and cached on first use). Raises MediaError without audio."""
    out = safe_join(clips_dir(ws), component(line_id, ".wav"))
    if out.is_file():
        return out
    line = ws.line(line_id)
    src = episode_audio(ws, line.episode_id)
    start = max(0.0, line.start - pad)
    end = max(line.end + pad, start + 0.05)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_clip(src, out, start, end, sample_rate=SAMPLE_RATE)
    log.debug("cut clip %s (%.2f-%.2f s)", out, start, end)
    return out


def shown_thumb(ws: Workspace, line_id: str) -> Path | None:
    """The face thumbnail of a line when the face stage left one, for the browser to show."""
    path = thumb_path(ws, line_id)
    return path if path.is_file() else None
