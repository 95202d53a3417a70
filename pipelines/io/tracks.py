"""Subtitle tracks inside a container (.mkv/.mp4): list them, pick one, extract it losslessly.

Fansub and Blu-ray rips carry their subtitles as tracks inside the video, often several: a full
dialogue track, a "Signs & Songs" track for viewers who understand the spoken language, one
per language. ffprobe lists them; ffmpeg copies the chosen one out unchanged (``-c:s copy``) so
the ASS Name field, styles and timings arrive exactly as authored. Image tracks (PGS, VobSub)
hold pictures of text, which castlist cannot read: they get a clear error naming the fix.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import MediaError, SubtitleError
from pipelines.io.media import find_tool
from pipelines.io.paths import slug

log = logging.getLogger(__name__)

_TIMEOUT_S = 600

TEXT_CODECS = {"ass": ".ass", "ssa": ".ass", "subrip": ".srt", "srt": ".srt", "webvtt": ".vtt"}
"""Text codecs copied out as they are, with the extension that keeps their format."""
CONVERT_CODECS = {"mov_text": ".srt", "text": ".srt"}
"""Text codecs with no file format of their own (MP4 timed text): converted to SRT."""
IMAGE_CODECS = ("hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub", "dvb_teletext")
"""Bitmap subtitles: pictures of text, unreadable without OCR."""

# ISO 639-1 -> 639-2 for the languages fansubs come in, so `--subs-lang en` matches "eng"
_LANG_ALIASES = {
    "en": "eng", "ja": "jpn", "jp": "jpn", "zh": "chi", "zho": "chi", "ko": "kor",
    "fr": "fre", "fra": "fre", "de": "ger", "deu": "ger", "es": "spa", "it": "ita",
    "pt": "por", "ru": "rus", "ar": "ara", "pl": "pol", "nl": "dut", "nld": "dut",
}  # fmt: skip
_SIGNS_TITLE_RE = re.compile(
    r"\b(?:signs?|songs?|s\s*&\s*s|karaoke|forced|typeset(?:ting)?|lyrics?|commentary)\b", re.I
)
_DIALOGUE_TITLE_RE = re.compile(r"\b(?:dialogue|dialog|full|subtitles|main)\b", re.I)


@dataclass(frozen=True)
class SubtitleTrack:
    """One subtitle stream as ffprobe reports it. ``index`` counts subtitle streams from 0
    (what ``--subs-track`` and ffmpeg's ``-map 0:s:N`` mean)."""

    index: int
    codec: str
    language: str = ""
    title: str = ""
    default: bool = False
    forced: bool = False

    @property
    def is_text(self) -> bool:
        return self.codec in TEXT_CODECS or self.codec in CONVERT_CODECS

    @property
    def is_image(self) -> bool:
        return self.codec in IMAGE_CODECS

    @property
    def extension(self) -> str:
        return TEXT_CODECS.get(self.codec) or CONVERT_CODECS.get(self.codec, ".srt")

    @property
    def title_class(self) -> int:
        """0: says dialogue; 1: says nothing; 2: says signs/songs (or is a forced track)."""
        if self.forced or _SIGNS_TITLE_RE.search(self.title):
            return 2
        return 0 if _DIALOGUE_TITLE_RE.search(self.title) else 1

    def describe(self) -> str:
        bits = [f"track {self.index}", self.codec]
        if self.language:
            bits.append(self.language)
        if self.title:
            bits.append(repr(self.title))
        return " ".join(bits)


def tracks_from_probe(data: dict) -> list[SubtitleTrack]:
    """Subtitle tracks in ffprobe's ``-show_streams`` JSON, in stream order."""
    out = []
    streams = [s for s in data.get("streams") or [] if s.get("codec_type") == "subtitle"]
    for n, s in enumerate(streams):
        tags = {k.lower(): str(v) for k, v in (s.get("tags") or {}).items()}
        disp = s.get("disposition") or {}
        out.append(
            SubtitleTrack(
                index=n,
                codec=str(s.get("codec_name") or "unknown"),
                language=tags.get("language", "").lower(),
                title=tags.get("title", ""),
                default=bool(disp.get("default")),
                forced=bool(disp.get("forced")),
            )
        )
    return out


def list_tracks(media: str | Path) -> list[SubtitleTrack]:
    """Subtitle tracks of a media file (empty for a file without any)."""
    media = Path(media)
    cmd = [find_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_streams"]
    cmd += ["-select_streams", "s", str(media)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"cannot list the subtitle tracks of {media}: ffprobe timed out") from exc
    if proc.returncode != 0:
        raise MediaError(f"cannot list the subtitle tracks of {media}: {proc.stderr.strip()}")
    try:
        return tracks_from_probe(json.loads(proc.stdout or "{}"))
    except json.JSONDecodeError as exc:
        raise MediaError(f"cannot list the subtitle tracks of {media}: bad ffprobe output") from exc


def normalize_lang(lang: str) -> str:
    lang = lang.strip().lower()
    return _LANG_ALIASES.get(lang, lang)


def candidates(
    tracks: list[SubtitleTrack], media: Path, lang: str | None = None, track: int | None = None
) -> list[SubtitleTrack]:
    """The text tracks allowed by ``--subs-track``/``--subs-lang``; errors say what exists."""
    listing = "; ".join(t.describe() for t in tracks) or "none"
    if track is not None:
        chosen = [t for t in tracks if t.index == track]
        if not chosen:
            raise SubtitleError(
                f"{media} has no subtitle track {track} (tracks count from 0; it has: {listing})"
            )
        pool = chosen
    elif lang:
        want = normalize_lang(lang)
        pool = [t for t in tracks if normalize_lang(t.language) == want]
        if not pool:
            raise SubtitleError(
                f"{media} has no subtitle track in language {lang!r} (it has: {listing}); "
                "choose one with --subs-track N"
            )
    else:
        pool = list(tracks)
    text = [t for t in pool if t.is_text]
    if not text:
        image = [t for t in pool if t.is_image]
        if image:
            raise SubtitleError(
                f"{media}: subtitle {image[0].describe()} is an image track ({image[0].codec}): "
                "pictures of text that castlist cannot read. OCR it to SRT elsewhere (e.g. "
                "Subtitle Edit) and give it with --subs FILE, or transcribe the audio with --asr"
            )
        raise SubtitleError(
            f"{media}: no text subtitle track castlist can read (it has: {listing})"
        )
    return text


def extract_tracks(
    media: str | Path, tracks: list[SubtitleTrack], out_dir: str | Path
) -> dict[int, Path]:
    """Copy the given tracks out of ``media`` in one ffmpeg pass; returns index -> file.

    ASS/SRT/WebVTT are copied bit for bit; MP4 timed text is converted to SRT. Each file is
    written under a temporary name and renamed, so a killed run leaves no half file behind.
    """
    media = Path(media)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = slug(media.stem)
    cmd = [find_tool("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(media)]
    final: dict[int, Path] = {}
    tmp: dict[int, Path] = {}
    for t in tracks:
        final[t.index] = out_dir / f"{stem}.track{t.index}{t.extension}"
        tmp[t.index] = out_dir / f".{stem}.track{t.index}.partial{t.extension}"
        codec = "copy" if t.codec in TEXT_CODECS else "srt"
        cmd += ["-map", f"0:s:{t.index}", "-c:s", codec, str(tmp[t.index])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        _cleanup(tmp.values())
        raise MediaError(
            f"ffmpeg took over {_TIMEOUT_S} s extracting subtitles of {media}"
        ) from exc
    if proc.returncode != 0:
        _cleanup(tmp.values())
        last = (proc.stderr or "").strip().splitlines()[-1:] or ["no message"]
        raise SubtitleError(f"cannot extract subtitles from {media} (ffmpeg said: {last[0]})")
    for i, path in tmp.items():
        os.replace(path, final[i])
    return final


def _cleanup(paths) -> None:
    for p in paths:
        Path(p).unlink(missing_ok=True)


def _speech_lines(path: Path) -> int:
    from pipelines.io.subtitles import load_subtitles

    try:
        events = load_subtitles(path).events
    except SubtitleError:
        return 0
    return sum(1 for ev in events if not ev.skip_reason)


def embedded_subtitles(
    media: str | Path,
    out_dir: str | Path,
    lang: str | None = None,
    track: int | None = None,
) -> Path | None:
    """The best embedded text subtitle track of ``media``, extracted into ``out_dir``.

    None when the file has no subtitle tracks at all. Choice: ``track`` (an index) or
    ``lang`` narrows the tracks; among what is left, a title saying "Dialogue"/"Full" beats
    one saying nothing, which beats "Signs & Songs"/forced; then the track with the most
    speech lines (signs and songs are counted out by the subtitle reader), then the default.
    """
    media = Path(media)
    tracks = list_tracks(media)
    if not tracks:
        return None
    pool = candidates(tracks, media, lang, track)
    files = extract_tracks(media, pool, out_dir)
    if len(pool) == 1:
        chosen = pool[0]
    else:
        speech = {t.index: _speech_lines(files[t.index]) for t in pool}
        chosen = min(pool, key=lambda t: (t.title_class, -speech[t.index], not t.default, t.index))
        log.info(
            "%s: using subtitle %s (%d speech lines); others: %s",
            media.name,
            chosen.describe(),
            speech[chosen.index],
            ", ".join(f"{t.describe()} ({speech[t.index]})" for t in pool if t is not chosen),
        )
    for t in pool:
        if t is not chosen:
            files[t.index].unlink(missing_ok=True)
    return files[chosen.index]
