"""Frames at chosen times: one ffmpeg pass per episode, raw RGB through a pipe.

Seeking once per line would restart the decoder hundreds of times per episode; instead one
ffmpeg process decodes the span that holds the wanted times, a ``select`` filter keeps the frame
nearest each time, and ``showinfo`` reports each kept frame's timestamp so the frames map back
to the times (several times may share one frame). The filter goes through a script file, since a
season's 1000 times do not fit in one command-line argument.
"""

from __future__ import annotations

import logging
import queue
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pipelines.errors import MediaError
from pipelines.io.media import MediaInfo, file_arg, find_tool, probe

log = logging.getLogger(__name__)

DEFAULT_WIDTH = 1280
"""animeface misses small faces: true faces found in 2/5 pictures at 640 wide, 4/5 at 960, 5/5
at 1280 (benchmarks/bench_faces.py). YuNet is fine at any of these."""

_PTS_RE = re.compile(r"\bn:\s*(\d+)\b.*?\bpts_time:\s*(-?[0-9.eE+-]+)")
_SEEK_MARGIN_S = 2.0


def line_times(start: float, end: float) -> tuple[float, float, float]:
    """Three times inside a line: a quarter in, the middle, a quarter from the end.

    Kept away from the edges because subtitle timings lead and trail the shot by a few frames,
    and the first and last frames are where cuts happen.
    """
    duration = max(0.0, end - start)
    return (start + 0.25 * duration, start + 0.5 * duration, end - 0.25 * duration)


def frame_difference(frames: Sequence[np.ndarray]) -> float:
    """Largest mean absolute difference between consecutive frames, in [0, 1].

    A cheap scene-cut signal for one line's frames: the same shot stays well under ~0.1 even
    with motion, a cut between two shots is usually far above it. 0.0 for fewer than 2 frames.
    """
    worst = 0.0
    for a, b in zip(frames[:-1], frames[1:], strict=True):
        if a.shape != b.shape:
            raise ValueError(f"frames differ in shape: {a.shape} vs {b.shape}")
        step = max(1, min(a.shape[:2]) // 90)  # ~1/100 of the pixels is plenty for a mean
        diff = np.abs(a[::step, ::step].astype(np.int16) - b[::step, ::step].astype(np.int16))
        worst = max(worst, float(diff.mean()) / 255.0)
    return worst


def _output_size(width: int | None, src_w: int, src_h: int) -> tuple[int, int]:
    if width is None or width >= src_w:
        w, h = src_w, src_h
    else:
        w, h = width, src_h * width / src_w
    # even sizes keep every pixel format happy
    return max(2, int(round(w / 2)) * 2), max(2, int(round(h / 2)) * 2)


def _select_expression(targets: Sequence[float]) -> str:
    """A ``select`` expression keeping the first frame at or after each sorted target.

    A frame is kept when some target lies in (previous frame's time, its time]. A flat sum over
    the targets breaks ffmpeg's expression parser past a few hundred terms and costs O(n) per
    frame; instead a binary search of nested ``if``s finds the largest target <= t (depth
    log2 n) and keeps the frame when that target is later than the previous frame.
    """

    def largest(lo: int, hi: int) -> str:  # precondition: targets[lo] <= t
        if hi - lo == 1:
            return f"lt(prev_t,{targets[lo]:.6f})+isnan(prev_t)"
        mid = (lo + hi) // 2
        return f"if(gte(t,{targets[mid]:.6f}),{largest(mid, hi)},{largest(lo, mid)})"

    return f"if(gte(t,{targets[0]:.6f}),{largest(0, len(targets))},0)"


def _checked_times(path: Path, info: MediaInfo, times: Sequence[float]) -> list[float]:
    """The frame times as floats, refused early and by name when the file has no video, a time
    is not a time, or the subtitles run past the video (a cut other than the subtitles')."""
    if not info.has_video or not info.width or not info.height:
        raise MediaError(f"cannot take frames from {path}: it has no video stream")
    times = [float(t) for t in times]
    bad = [t for t in times if not np.isfinite(t) or t < 0]
    if bad:
        raise ValueError(f"frame times must be finite and >= 0, got {bad[:3]}")
    if times and info.duration and max(times) > info.duration + 0.5:
        raise MediaError(
            f"cannot take a frame at {max(times):.3f} s from {path}: "
            f"the video is only {info.duration:.3f} s long (subtitles for another cut?)"
        )
    return times


def _frames_command(path: Path, seek: float, span: float, script_path: Path) -> list[str]:
    """One ffmpeg pass from ``seek`` for ``span`` seconds that keeps the frames the filter
    script selects and writes them as raw RGB to stdout, with showinfo's times on stderr."""
    return [
        find_tool("ffmpeg"),
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "info",
        "-ss",
        f"{seek:.6f}",
        "-t",
        f"{span:.6f}",
        "-i",
        file_arg(path),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-filter_script:v",
        str(script_path),
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "pipe:1",
    ]


def iter_frames(
    media: str | Path, times: Sequence[float], width: int | None = DEFAULT_WIDTH
) -> Iterator[tuple[list[int], np.ndarray]]:
    """Yield ``(indices into times, RGB frame)`` in time order, decoding the file once.

    The frame for a time is the one nearest it. Streaming keeps memory to one frame, which
    matters for an episode's ~1000 frames; :func:`extract_frames` collects them.
    """
    path = Path(media)
    info = probe(path)
    times = _checked_times(path, info, times)
    if not times:
        return
    half_frame = 0.5 / (info.fps or 25.0)
    order = sorted(range(len(times)), key=lambda i: times[i])
    seek = max(0.0, times[order[0]] - _SEEK_MARGIN_S)
    # -ss before -i restarts timestamps at the seek point, so targets move with it
    # aiming half a frame early makes "first frame at or after" the nearest frame; no frame
    # follows the last one, so near the end aim at the last frame itself
    latest = info.duration - 3 * half_frame if info.duration else float("inf")
    targets = [max(0.0, min(times[i] - half_frame, latest) - seek) for i in order]
    span = times[order[-1]] - seek + _SEEK_MARGIN_S
    out_w, out_h = _output_size(width, info.width, info.height)
    frame_bytes = out_w * out_h * 3

    with tempfile.NamedTemporaryFile("w", suffix=".ffilter", delete=False) as script:
        script.write(
            f"select='{_select_expression(targets)}',"
            f"scale={out_w}:{out_h}:flags=area,setsar=1,showinfo"
        )
        script_path = Path(script.name)
    cmd = _frames_command(path, seek, span, script_path)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pts: queue.Queue[float | None] = queue.Queue()
    tail: list[str] = []

    def drain_stderr() -> None:
        # showinfo writes one line per kept frame before that frame reaches the pipe
        for raw in proc.stderr:
            text = raw.decode("utf-8", "replace").rstrip()
            match = _PTS_RE.search(text) if "showinfo" in text else None
            if match:
                pts.put(float(match.group(2)))
            else:
                tail[:] = (tail + [text])[-20:]
        pts.put(None)

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    pos = 0  # next position in ``order`` still waiting for a frame
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if not buf:
                break
            if len(buf) < frame_bytes:
                raise MediaError(f"cannot take frames from {path}: ffmpeg stopped mid-frame")
            frame_t = pts.get(timeout=60)
            if frame_t is None:
                raise MediaError(f"cannot take frames from {path}: lost ffmpeg's frame times")
            frame = np.frombuffer(buf, dtype=np.uint8).reshape(out_h, out_w, 3)
            # this frame is the first at or after every target up to it not yet served
            served = []
            while pos < len(order) and targets[pos] <= frame_t + 1e-6:
                served.append(order[pos])
                pos += 1
            if served:
                yield served, frame
        proc.wait()
        reader.join(timeout=10)
        if proc.returncode != 0:
            last = next((ln for ln in reversed(tail) if ln.strip()), "no message")
            raise MediaError(f"cannot take frames from {path}: corrupt video (ffmpeg said: {last})")
        if pos < len(order):
            missing = times[order[pos]]
            raise MediaError(
                f"cannot take a frame at {missing:.3f} s from {path}: the video ends before it"
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        script_path.unlink(missing_ok=True)


def extract_frames(
    media: str | Path,
    times: Sequence[float],
    out_dir: str | Path | None = None,
    width: int | None = DEFAULT_WIDTH,
) -> list[np.ndarray]:
    """The frames nearest ``times`` (RGB uint8, ``width`` wide, aspect kept), in ``times``' order.

    One ffmpeg pass over the file. With ``out_dir`` each frame is also saved as
    ``{index:05d}.jpg`` (index into ``times``) for thumbnails. Raises :class:`MediaError`
    naming the file for a missing, corrupt or video-less file and for times past its end.
    """
    frames: list[np.ndarray | None] = [None] * len(times)
    for indices, frame in iter_frames(media, times, width):
        for i in indices:
            frames[i] = frame
    if out_dir is not None:
        from PIL import Image

        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(folder / f"{i:05d}.jpg", quality=90)
    return frames  # type: ignore[return-value]
