"""Adding episodes: probe the media, find and read its subtitles, store the lines.

Everything that can be wrong with a user's files is found here, before anything is written,
so a bad file never leaves a half-added episode behind.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import MediaError, SubtitleError
from pipelines.io.media import probe
from pipelines.io.subtitles import (
    SubtitleSummary,
    find_subtitles,
    load_subtitles,
    summarize,
    validate_against_media,
)
from pipelines.io.tracks import embedded_subtitles
from pipelines.records import Episode
from pipelines.stages.hints import with_hints
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)


class NoSubtitles(SubtitleError):
    """An episode has no subtitles beside it or inside it (the CLI may offer ASR)."""


@dataclass(frozen=True)
class Added:
    episode: Episode
    created: bool
    summary: SubtitleSummary
    source: str = ""
    """Where the lines came from, for the user: a file, an embedded track, or ASR."""


def add_episode(
    ws: Workspace,
    media: str | Path,
    subs: str | Path | None = None,
    subs_lang: str | None = None,
    subs_track: int | None = None,
    asr: str | None = None,
    asr_model: str | None = None,
    asr_lang: str | None = None,
) -> Added:
    """Add one episode. Subtitles: ``subs``, else a file beside the media, else the media's
    embedded text track (``subs_lang``/``subs_track`` pick it and skip the file beside),
    else speech recognition when ``asr`` is "on" or "auto" (``asr_lang``: the spoken language,
    detected when None)."""
    media = Path(media)
    if not media.exists():
        raise MediaError(f"{media}: file not found")
    info = probe(media)
    if not info.has_audio:
        raise MediaError(f"{media}: has no audio stream; castlist needs the episode's soundtrack")
    if subs is None and asr != "on":
        subs = find_episode_subtitles(ws, media, subs_lang, subs_track, asr)
    if subs is None:
        from pipelines.stages.asr import transcribe_to_subtitles

        subs = transcribe_to_subtitles(ws, media, asr_model, asr_lang)
        source = f"speech recognition -> {subs}"
    else:
        source = describe_source(ws, Path(subs))
    parsed = load_subtitles(subs)
    events = validate_against_media(with_hints(parsed.events), info.duration, subs)
    summary = summarize(events, parsed.n_comments)
    episode, created = ws.add_episode(
        media,
        Path(subs),
        info.duration,
        "video" if info.has_video else "audio",
        events,
        {**summary.skipped, **({"comment": parsed.n_comments} if parsed.n_comments else {})},
    )
    log.info("%s %s: %s; %s", "added" if created else "unchanged", episode.id, summary, source)
    return Added(episode, created, summary, source)


def describe_source(ws: Workspace, subs: Path) -> str:
    """Name the subtitle source ("embedded subtitle track N" for a track extracted into the
    cache, else the file): the user sees which of several tracks castlist picked, so a wrong
    pick is noticed at once."""
    m = re.search(r"\.track(\d+)\.\w+$", subs.name)
    if m and subs.parent == ws.cache_dir / "subs":
        return f"embedded subtitle track {m.group(1)}"
    return f"subtitles {subs}"


def find_episode_subtitles(
    ws: Workspace,
    media: Path,
    subs_lang: str | None = None,
    subs_track: int | None = None,
    asr: str | None = None,
) -> Path | None:
    """The file beside the media, else its embedded track (extracted into the workspace
    cache). None means "transcribe" (only with ``asr='auto'``); otherwise no subtitles is an
    error that lists the ways out."""
    explicit = subs_lang is not None or subs_track is not None
    beside = None if explicit else find_subtitles(media)
    if beside is not None:
        return beside
    inside = embedded_subtitles(media, ws.cache_dir / "subs", subs_lang, subs_track)
    if inside is not None:
        return inside
    if asr == "auto":
        log.info("%s: no subtitles beside or inside it; transcribing", media)
        return None
    raise NoSubtitles(
        f"{media}: no subtitles found beside it (looked for {media.stem}.ass/.ssa/.srt/.vtt) "
        "or inside it; give one with --subs FILE, or transcribe the audio with --asr"
    )
