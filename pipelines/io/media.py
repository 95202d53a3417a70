"""Media I/O through ffmpeg: probe a file, extract its audio, cut per-line clips.

ffmpeg and ffprobe are run as subprocesses (no Python bindings: the command-line tools are what
users already have and what their errors mention). Every failure becomes one
:class:`~pipelines.errors.MediaError` naming the file. Every output is written under a temporary
name and renamed into place, so a killed run never leaves a half-written wav that looks complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from embeddings.base import SAMPLE_RATE
from pipelines.errors import MediaError
from pipelines.io.atomic import atomic_path

log = logging.getLogger(__name__)

_PROBE_TIMEOUT_S = 120
# ffprobe messages (at -v error) that mean the file is cut short even though its header parses:
# a partly downloaded or partly copied mkv still has its header and a duration.
_TRUNCATION_MARKERS = ("File ended prematurely", "Truncating packet", "moov atom not found")


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a media file. ``duration`` is 0.0 when ffprobe cannot tell."""

    path: Path
    duration: float
    has_audio: bool
    has_video: bool
    audio_codec: str | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    audio_duration: float | None = None  # the first audio stream's own length, when known
    n_audio_streams: int = 0


def find_tool(name: str) -> str:
    """Path of ``ffmpeg`` or ``ffprobe``; :class:`MediaError` telling how to install it."""
    exe = shutil.which(name)
    if exe is None:
        raise MediaError(
            f"{name} is not installed or not on PATH; castlist needs ffmpeg to read media: "
            "install it (`apt-get install ffmpeg`, `brew install ffmpeg` or `conda install ffmpeg`)"
        )
    return exe


def file_arg(path: str | Path) -> str:
    """``path`` as ffmpeg/ffprobe must see it: an absolute ``file:`` URL, so a name such as
    ``-i.mkv`` is never read as an option and ``http:x.mkv`` never as a protocol."""
    return "file:" + os.path.abspath(path)


def _check_input(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise MediaError(f"media file not found: {path}")
    if not path.is_file():
        raise MediaError(f"media path is not a file: {path}")
    return path


def _last_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def _fraction(value: str | None) -> float | None:
    if not value or "/" not in value:
        return None
    num, den = value.split("/", 1)
    try:
        n, d = float(num), float(den)
    except ValueError:
        return None
    return n / d if d else None


def _seconds(value: object) -> float | None:
    """ffprobe durations: "12.34" in ``duration``, "00:00:12.340000000" in Matroska tags."""
    if value is None:
        return None
    text = str(value)
    try:
        if ":" in text:
            h, m, s = text.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        return float(text)
    except ValueError:
        return None


def _stream_duration(stream: dict) -> float | None:
    tags = {k.upper(): v for k, v in (stream.get("tags") or {}).items()}
    return _seconds(stream.get("duration")) or _seconds(tags.get("DURATION"))


def _tolerance(duration: float) -> float:
    """How much shorter than announced a stream may decode before we call the file truncated:
    encoders pad and trim a little, a cut download loses minutes."""
    return max(1.0, 0.05 * duration)


def _raise_if_truncated(path: Path, stderr: str, last_packet: float | None = None) -> None:
    said = next((m for m in _TRUNCATION_MARKERS if m in stderr), None)
    if said is None and last_packet is None:
        return
    detail = f"ffprobe said: {said}" if said else f"its data stops at {last_packet:.1f} s"
    raise MediaError(
        f"cannot read {path}: the file is truncated or corrupt, e.g. an unfinished download "
        f"or copy ({detail}); get a complete copy of it"
    )


def _check_tail(path: Path, duration: float, stream: str) -> None:
    """Seek to the last seconds the header announces and read the packets from there.

    A file cut short keeps its header (and so its duration), and ffprobe's normal pass reads
    only the start; one seek near the end finds the cut for ~50 ms instead of a full decode.
    """
    at = max(0.0, duration - max(1.0, 0.02 * duration))
    cmd = [find_tool("ffprobe"), "-v", "error", "-read_intervals", f"{at:.3f}%"]
    cmd += ["-select_streams", stream, "-show_entries", "packet=pts_time", "-of", "csv=p=0"]
    try:
        proc = subprocess.run(
            [*cmd, file_arg(path)], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        log.warning("%s: could not check the end of the file (ffprobe timed out)", path)
        return
    times = []
    for line in (proc.stdout or "").split():
        try:
            times.append(float(line.strip(",")))
        except ValueError:
            continue
    last = max(times) if times else None
    short = last is not None and last < duration - _tolerance(duration)
    _raise_if_truncated(path, proc.stderr or "", last if short else None)


def probe(path: str | Path) -> MediaInfo:
    """Read a media file's streams and duration with ffprobe.

    Raises :class:`MediaError` for a missing file, a file ffprobe cannot read (corrupt, not
    media) and a truncated one (it parses but ends early).
    """
    path = _check_input(path)
    cmd = [
        find_tool("ffprobe"),
        "-v",
        "warning",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        file_arg(path),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"cannot read {path}: ffprobe took over {_PROBE_TIMEOUT_S} s") from exc
    stderr = proc.stderr or ""
    if proc.returncode != 0:
        raise MediaError(
            f"cannot read {path}: corrupt or not a media file (ffprobe said: {_last_line(stderr)})"
        )
    _raise_if_truncated(path, stderr)
    try:
        data = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise MediaError(f"cannot read {path}: ffprobe gave unreadable output") from exc
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    # cover art in an mp3 or m4a is a one-frame "video" stream: not a video
    video = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not streams and not fmt:
        raise MediaError(f"cannot read {path}: corrupt or not a media file (no streams)")
    durations = [d for d in (_stream_duration(s) for s in audio + video) if d]
    duration = _seconds(fmt.get("duration")) or (max(durations) if durations else 0.0)
    if not duration:
        log.warning("%s: ffprobe reports no duration", path)
    a = audio[0] if audio else {}
    v = video[0] if video else {}
    fps = _fraction(v.get("avg_frame_rate")) or _fraction(v.get("r_frame_rate"))
    # a VBR mp3 without a header gets a duration guessed from its bitrate: no use checking it
    estimated = "Estimating duration from bitrate" in stderr
    if duration and (audio or video) and not estimated:
        own = _stream_duration(a or v)  # the stream's own length, when the container says
        _check_tail(path, own or float(duration), "a:0" if audio else "v:0")
    return MediaInfo(
        path=path,
        duration=float(duration),
        has_audio=bool(audio),
        has_video=bool(video),
        audio_codec=a.get("codec_name"),
        video_codec=v.get("codec_name"),
        width=v.get("width"),
        height=v.get("height"),
        fps=fps,
        audio_duration=_stream_duration(a) if a else None,
        n_audio_streams=len(audio),
    )


def require_audio(info: MediaInfo) -> MediaInfo:
    """Raise :class:`MediaError` naming the file when it has no audio stream."""
    if not info.has_audio:
        what = "video only" if info.has_video else "no audio or video"
        raise MediaError(
            f"{info.path} has no audio stream ({what}): castlist tells speakers apart by "
            "their voices; use a release of this episode with audio"
        )
    return info


def _raise_if_disk_full(tmp: Path, stderr: str) -> None:
    """A full disk makes ffmpeg fail or stop short: say so, not "corrupt media"."""
    from pipelines import faults

    if "No space left on device" in stderr or "Disk quota exceeded" in stderr:
        raise faults.disk_full(tmp.parent)
    if faults.disk_looks_full(tmp.parent):
        raise faults.disk_full(tmp.parent)


def _run_ffmpeg(args: list[str], src: Path, tmp: Path, timeout: float | None) -> None:
    cmd = [find_tool("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error", "-y"]
    cmd += [*args, file_arg(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        tmp.unlink(missing_ok=True)
        raise MediaError(f"ffmpeg took over {timeout} s on {src}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        _raise_if_disk_full(tmp, proc.stderr or "")
        raise MediaError(
            f"cannot decode the audio of {src}: corrupt or not a media file "
            f"(ffmpeg said: {_last_line(proc.stderr or '')})"
        )


def extract_audio(
    path: str | Path,
    out_wav: str | Path,
    sample_rate: int = SAMPLE_RATE,
    audio_stream: int = 0,
    timeout: float | None = None,
) -> Path:
    """Decode one audio stream of ``path`` to mono 16-bit PCM wav at ``sample_rate``.

    The wav appears at ``out_wav`` only once complete. A decoded length well short of what the
    container announces means a truncated file, which is an error rather than a short episode.
    """
    info = require_audio(probe(path))
    if audio_stream >= info.n_audio_streams:
        raise MediaError(
            f"{info.path} has {info.n_audio_streams} audio stream(s); "
            f"audio stream {audio_stream} does not exist (streams count from 0)"
        )
    out = Path(out_wav)
    out.parent.mkdir(parents=True, exist_ok=True)
    args = ["-i", file_arg(info.path), "-map", f"0:a:{audio_stream}", "-vn", "-sn", "-dn"]
    args += ["-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le", "-f", "wav"]
    with atomic_path(out, suffix=".wav") as tmp:
        _run_ffmpeg(args, info.path, tmp, timeout)
        try:
            got = sf.info(str(tmp)).duration
        except RuntimeError as exc:
            raise MediaError(f"ffmpeg wrote no readable audio for {info.path}") from exc
        expected = info.audio_duration or info.duration
        if expected and got < expected - _tolerance(expected):
            _raise_if_disk_full(tmp, "")
            raise MediaError(
                f"cannot read all of {info.path}: its audio stops at {got:.1f} s but the file "
                f"says {expected:.1f} s; the file is truncated or corrupt"
            )
    log.debug("extracted %.1f s of audio from %s to %s", got, info.path, out)
    return out


def load_audio(wav: str | Path, sample_rate: int | None = SAMPLE_RATE) -> np.ndarray:
    """A wav (or any file soundfile reads) as float32 mono in [-1, 1].

    There is no resampling here: a rate other than ``sample_rate`` is an error (extract the
    audio again with :func:`extract_audio`); pass ``sample_rate=None`` to accept any rate.
    """
    wav = Path(wav)
    if not wav.is_file():
        raise MediaError(f"audio file not found: {wav}")
    try:
        data, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    except RuntimeError as exc:  # soundfile's LibsndfileError
        raise MediaError(f"cannot read audio {wav}: {exc}") from exc
    if sample_rate is not None and sr != sample_rate:
        raise MediaError(
            f"{wav} is sampled at {sr} Hz, expected {sample_rate} Hz: extract it again"
        )
    return data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0].copy()


def cut(audio: np.ndarray, sr: int, start: float, end: float) -> np.ndarray:
    """Samples of ``audio`` between ``start`` and ``end`` seconds, clamped to the signal.

    Returns a view (no copy); empty when the span is empty or outside the signal.
    """
    n = len(audio)
    i = min(n, max(0, int(round(start * sr))))
    j = min(n, max(i, int(round(end * sr))))
    return audio[i:j]


def write_clip(
    path: str | Path,
    out: str | Path,
    start: float,
    end: float,
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    """Write the span ``[start, end)`` of a media file's audio as a mono 16-bit wav.

    A wav already at ``sample_rate`` is sliced directly (fast: exports write thousands of
    clips); anything else goes through ffmpeg.
    """
    src = _check_input(path)
    if end <= start:
        raise MediaError(f"empty clip {start:.3f}-{end:.3f} s requested from {src}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        src_info = sf.info(str(src)) if src.suffix.lower() == ".wav" else None
    except RuntimeError:
        src_info = None
    with atomic_path(out, suffix=".wav") as tmp:
        if src_info is not None and src_info.samplerate == sample_rate:
            first = min(src_info.frames, max(0, int(round(start * sample_rate))))
            last = min(src_info.frames, max(first, int(round(end * sample_rate))))
            data, _ = sf.read(str(src), start=first, stop=last, dtype="float32", always_2d=True)
            sf.write(str(tmp), data.mean(axis=1), sample_rate, "PCM_16")
        else:
            args = ["-ss", f"{start:.3f}", "-t", f"{end - start:.3f}", "-i", file_arg(src)]
            args += ["-map", "0:a:0"]
            args += ["-vn", "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le", "-f", "wav"]
            _run_ffmpeg(args, src, tmp, timeout=None)
    return out


VIDEO_FPS = 25
"""Frame rate of per-line video clips: what the talking-face and lip-sync models downstream
read (seed 000's layout)."""


def write_video_clip(
    path: str | Path, out: str | Path, start: float, end: float, fps: int = VIDEO_FPS
) -> Path:
    """Write ``[start, end)`` of a video file as an H.264 mp4 at ``fps`` with 16 kHz mono AAC
    audio; appears at ``out`` only once complete. Deterministic output (no encoder metadata
    with dates, one thread), so re-exports give the same bytes."""
    src = _check_input(path)
    if end <= start:
        raise MediaError(f"empty clip {start:.3f}-{end:.3f} s requested from {src}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # -t after -i: as an input option a low-frame-rate source's last frame overshoots it
    args = ["-ss", f"{start:.3f}", "-i", file_arg(src), "-t", f"{end - start:.3f}"]
    args += ["-map", "0:v:0", "-map", "0:a:0?", "-r", str(fps), "-c:v", "libx264"]
    args += ["-preset", "veryfast", "-pix_fmt", "yuv420p", "-threads", "1"]
    args += ["-c:a", "aac", "-ac", "1", "-ar", str(SAMPLE_RATE)]
    args += ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
    args += ["-flags:a", "+bitexact", "-movflags", "+faststart", "-f", "mp4"]
    with atomic_path(out, suffix=".mp4") as tmp:
        _run_ffmpeg(args, src, tmp, timeout=None)
    return out
