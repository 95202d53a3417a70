"""Adding episodes: probe the media, find and read its subtitles, store the lines.

Everything that can be wrong with a user's files is found here, before anything is written,
so a bad file never leaves a half-added episode behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import MediaError, SubtitleError
from pipelines.media import probe
from pipelines.records import Episode
from pipelines.subtitles import (
    SubtitleSummary,
    find_subtitles,
    load_subtitles,
    summarize,
    validate_against_media,
)
from pipelines.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Added:
    episode: Episode
    created: bool
    summary: SubtitleSummary


def add_episode(ws: Workspace, media: str | Path, subs: str | Path | None = None) -> Added:
    media = Path(media)
    if not media.exists():
        raise MediaError(f"{media}: file not found")
    info = probe(media)
    if not info.has_audio:
        raise MediaError(f"{media}: has no audio stream; castlist needs the episode's soundtrack")
    if subs is None:
        subs = find_subtitles(media)
        if subs is None:
            raise SubtitleError(
                f"{media}: no subtitles found beside it (looked for {media.stem}.ass/.ssa/.srt/.vtt);"
                " give one with --subs FILE"
            )
    parsed = load_subtitles(subs)
    events = validate_against_media(parsed.events, info.duration, subs)
    summary = summarize(events, parsed.n_comments)
    episode, created = ws.add_episode(
        media,
        Path(subs),
        info.duration,
        "video" if info.has_video else "audio",
        events,
        {**summary.skipped, **({"comment": parsed.n_comments} if parsed.n_comments else {})},
    )
    log.info("%s %s: %s", "added" if created else "unchanged", episode.id, summary)
    return Added(episode, created, summary)
