"""Read, check and write subtitle files (SRT, ASS/SSA, WebVTT).

Every event of a file becomes a :class:`~pipelines.records.SubtitleEvent`; events that are not
speech (songs, on-screen signs, empty or zero-length lines, lines past the end of the media,
exact duplicates) are kept and carry a short ``skip_reason`` instead of being dropped, so the
run summary can say what was skipped and why. Only ASS comment events are dropped (they are
never displayed), and they are counted.

Real subtitle files arrive in every encoding a fansubber's editor could save, so the bytes are
decoded here (BOM first, then strict UTF-8, then a guess among the usual legacy codepages) and
the parsers only ever see text.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pysrt
import pysubs2

from pipelines.errors import SubtitleError
from pipelines.io.atomic import atomic_text
from pipelines.records import SubtitleEvent

log = logging.getLogger(__name__)

SUBTITLE_EXTENSIONS = (".ass", ".ssa", ".srt", ".vtt")
"""Extensions :func:`find_subtitles` looks for, best first: ASS carries speaker names."""

# ---------------------------------------------------------------------------------------------
# Skip reasons (short, stable strings: they are stored in the workspace and shown in summaries).
EMPTY = "empty"
ZERO_LENGTH = "zero-length"
SONG = "song"
SIGN = "sign"
PAST_END = "past-end"
DUPLICATE = "duplicate"
NEGATIVE_TIME = "negative-time"

# One table of every heuristic that marks an event as not speech: (reason, field, regex).
# ``style`` and ``name`` patterns run on the lower-cased field with camelCase and punctuation
# turned into spaces ("NextTitle" -> "next title", "AB!_Note" -> "ab note"), so word boundaries
# keep "ED" from matching "Ended" or "TS" from matching "Tsubasa". ``text`` patterns run on the
# raw event text (override tags included). The first matching row wins; rows were checked on
# 75 real fansub ASS files of four series (see tests/pipelines/test_subtitles.py).
NON_SPEECH_PATTERNS: tuple[tuple[str, str, str], ...] = (
    # karaoke timing tags and vector drawings are never dialogue
    (SONG, "text", r"\\(?:k|K|kf|ko)\d"),
    (SIGN, "text", r"\\p[1-9]"),
    # rotated text is typesetting on a screen or a wall, not dialogue
    (SIGN, "text", r"\\fr[xyz]?-?(?:[1-9]|0\.\d*[1-9])"),
    # songs: opening/ending/insert songs, karaoke and lyric styles, their translations
    (
        SONG,
        "style",
        r"\b(?:op|ed|opening|ending|songs?|karaoke|kara|lyrics?|insert|kfx|romaji|kanji"
        r"|singing|(?:op|ed)\d+)\b",
    ),
    # signs: typesetting, titles, credits, translator notes, next-episode previews
    (
        SIGN,
        "style",
        r"\b(?:signs?|titles?|captions?|notes?|screen|typeset(?:ting)?|ts|tl ?notes?"
        r"|credits?|staff|logo|eyecatch|next (?:ep|episode|time)|ep title|preview)\b",
    ),
    # the Name field, where fansubbers label a non-speech event instead of a speaker
    # (no "op"/"ed" here: Ed is a name people have)
    (SONG, "name", r"^(?:songs?|singing|lyrics?|karaoke|chorus)$"),
    # A bare "Text" is too often a fansubber's placeholder for dialogue to trust, but text
    # qualified ("Text on phone", "Miki/Text") is on-screen writing.
    (SIGN, "name", r"\b(?:signs?|titles?|credits?|sfx|tl ?notes?|typeset)\b|^\[|^text .|. text$"),
)
_COMPILED_PATTERNS = tuple(
    (reason, where, re.compile(pattern)) for reason, where, pattern in NON_SPEECH_PATTERNS
)

_OVERRIDE_RE = re.compile(r"\{[^}]*\}")
_HTML_TAG_RE = re.compile(r"</?(?:i|b|u|s|font|c|v|lang|ruby|rt)(?:[ .][^>]*)?>", re.IGNORECASE)
_HARD_BREAK_RE = re.compile(r"\\[Nnh]")
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NON_WORD_RE = re.compile(r"[\W_]+")


def _sub_before_last(pattern: re.Pattern[str], closer: str, text: str) -> str:
    """``pattern.sub("", text)`` in linear time for a pattern that must end with ``closer``.

    Tried at every opening character, ``\\{[^}]*\\}`` scans to the end of the text whenever no
    closing character follows, which made a 90 KB line full of ``{`` or ``<i `` take over a
    minute (quadratic). No match can end after the last ``closer``, so the tail after it is
    kept as it is and the regex only sees text where every attempt finds its closer.
    """
    last = text.rfind(closer)
    if last < 0:
        return text
    return pattern.sub("", text[: last + 1]) + text[last + 1 :]


def clean_text(raw: str) -> str:
    """Text as a viewer reads it: override tags and HTML tags gone, line breaks as spaces."""
    text = _sub_before_last(_OVERRIDE_RE, "}", raw)
    text = _sub_before_last(_HTML_TAG_RE, ">", text)
    text = _HARD_BREAK_RE.sub(" ", text)
    return " ".join(text.split())


def _words(field_value: str) -> str:
    spaced = _CAMEL_RE.sub(" ", field_value)
    return " ".join(_NON_WORD_RE.sub(" ", spaced).lower().split())


def classify(raw_text: str, style: str = "", name: str = "") -> str:
    """The reason an event with this raw text, style and Name is not speech, or ``""``.

    Timing reasons (zero-length, past-end, duplicate) need more than one event's fields and
    are set by :func:`read_subtitles` and :func:`validate_against_media`.
    """
    if not clean_text(raw_text) and not re.search(r"\\p[1-9]", raw_text):
        return EMPTY
    # a Name in brackets ("[SFX", "[Sign on door]") is a translator's description, not a speaker
    name_words = ("[" if name.lstrip().startswith("[") else "") + _words(name)
    fields = {"text": raw_text, "style": _words(style), "name": name_words}
    for reason, where, pattern in _COMPILED_PATTERNS:
        if pattern.search(fields[where]):
            return reason
    return ""


# ---------------------------------------------------------------------------------------------
# Decoding


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Legacy encodings subtitles really come in; charset-normalizer chooses among these only, so a
# short CJK file is not "detected" as some exotic codepage. Shift-JIS files are written by
# Windows editors, i.e. in cp932: it is a superset (NEC/IBM extensions such as "①") and maps
# 0x8160 to "～" where strict shift_jis gives "〜", so the family is always decoded as cp932.
_LEGACY_ENCODINGS = ("gb18030", "big5", "cp932", "euc_jp", "euc_kr", "cp1252", "cp1251")
_SHIFT_JIS_FAMILY = ("shift_jis", "sjis", "s_jis", "ms932", "ms_kanji", "windows_31j", "cp932")
_KANA_RE = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


def _looks_like_text(text: str) -> bool:
    """Reject decodings full of control characters: that is what binary garbage becomes."""
    if not text.strip():
        return True
    bad = sum(
        1
        for ch in text
        if ch not in "\r\n\t\f" and unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")
    )
    return bad <= max(1, len(text) // 1000) and "\ufffd" not in text


def decode_subtitle_bytes(data: bytes, path: str | Path = "<bytes>") -> tuple[str, str]:
    """Decode a subtitle file's bytes; returns ``(text, encoding)``.

    Order: a BOM decides; else strict UTF-8; else BOM-less UTF-16 (many NUL bytes); else the
    best legacy codepage according to charset-normalizer. Raises :class:`SubtitleError` naming
    the file when nothing gives readable text.
    """
    found = _decode_by_bom(data, path) or _decode_unicode(data) or _decode_legacy(data)
    if found is None:
        raise _undecodable(
            path, "its encoding is not UTF-8, UTF-16, GBK, Big5, Shift-JIS or cp1252"
        )
    return found


def _decode_by_bom(data: bytes, path: str | Path) -> tuple[str, str] | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise _undecodable(
                    path, f"it starts with a {encoding} BOM but is not {encoding}"
                ) from exc
            return text.lstrip("\ufeff"), "utf-8-sig" if encoding == "utf-8-sig" else encoding
    return None


def _strict(data: bytes, encoding: str) -> str | None:
    """``data`` decoded, when it decodes without error and reads as text."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    return text if _looks_like_text(text) else None


def _decode_unicode(data: bytes) -> tuple[str, str] | None:
    """Strict UTF-8, else BOM-less UTF-16 when a quarter of the bytes are NUL (the NULs' side
    tells the byte order)."""
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    if len(data) >= 4 and data.count(0) > len(data) // 4:
        odd_zeros = data[1::2].count(0)
        even_zeros = data[0::2].count(0)
        encoding = "utf-16-le" if odd_zeros > even_zeros else "utf-16-be"
        text = _strict(data, encoding)
        if text is not None:
            return text, encoding
    return None


def _decode_legacy(data: bytes) -> tuple[str, str] | None:
    """The legacy codepage whose reading has the fewest mixed-script words."""
    from charset_normalizer import from_bytes

    candidates: list[tuple[int, int, str, str]] = []
    for rank, match in enumerate(from_bytes(data, cp_isolation=list(_LEGACY_ENCODINGS))):
        text, encoding = str(match), match.encoding
        if encoding.lower().replace("-", "_") in _SHIFT_JIS_FAMILY:
            text, encoding = data.decode("cp932", errors="replace"), "cp932"
        if _looks_like_text(text):
            candidates.append((_mixed_script_words(text), rank, text, encoding))
    if not candidates or min(candidates)[3] not in ("cp932", "euc_jp"):
        # Japanese read in another codepage is valid text of rare characters (GBK: "①さくら"
        # -> "嘆偝偔傜"; cp1251: Cyrillic), and charset-normalizer may rank that first. Kana
        # need the lead bytes 0x82/0x83 in cp932, which the other codepages' text hardly ever
        # has, so a strict cp932 reading that is mostly kana is the Japanese file it looks like.
        text = _strict(data, "cp932")
        if text is not None and _reads_as_japanese(text):
            candidates = [(_mixed_script_words(text), -1, text, "cp932")]
    if not candidates:
        return None
    _, _, text, encoding = min(candidates)
    return text, encoding


_LATIN = r"A-Za-z\u00c0-\u024f"
_MIXED_WORD_RES = (
    # Latin letters glued to Cyrillic/Greek ones: French in cp1251 reads "Зa va"
    re.compile(rf"[{_LATIN}][\u0370-\u03ff\u0400-\u04ff]|[\u0370-\u03ff\u0400-\u04ff][{_LATIN}]"),
    # Hangul glued to Han: Chinese in EUC-KR reads "乖쳬浬걸"
    re.compile(r"[\uac00-\ud7af][\u4e00-\u9fff]|[\u4e00-\u9fff][\uac00-\ud7af]"),
)


def _mixed_script_words(text: str) -> int:
    """How often letters of two scripts touch: rare in real text, common in a wrong codepage.

    charset-normalizer's first guess on a short file can be a codepage that turns every
    accented letter into a Cyrillic one; this breaks the tie the way a reader would.
    """
    return sum(len(rx.findall(text)) for rx in _MIXED_WORD_RES)


def _reads_as_japanese(text: str) -> bool:
    """Kana make up a fifth of the non-ASCII characters: true of any Japanese sentence
    (particles, okurigana), never of Chinese or Korean text read in a Japanese codepage."""
    n_kana = len(_KANA_RE.findall(text))
    return n_kana > 0 and n_kana * 5 >= len(_NON_ASCII_RE.findall(text))


def _undecodable(path: str | Path, why: str) -> SubtitleError:
    name = Path(path).name
    return SubtitleError(
        f"cannot read subtitles {path}: {why} (or it is not a text file). Re-save it as UTF-8, "
        f"e.g. `iconv -f GBK -t UTF-8 '{name}' > fixed.srt`, or open it in a subtitle editor "
        f"and save as UTF-8."
    )


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class SubtitleFile:
    """A parsed subtitle file: its events plus what reading it found out."""

    path: Path
    events: list[SubtitleEvent]
    format: str  # "ass", "ssa", "srt" or "vtt"
    encoding: str
    n_comments: int = 0  # ASS comment events, dropped because they are never displayed

    def summary(self) -> SubtitleSummary:
        return summarize(self.events, n_comments=self.n_comments)


def _sniff_format(text: str, suffix: str) -> str:
    head = text.lstrip()[:4000]
    if re.search(r"^\s*\[(?:Script Info|V4\+? Styles|Events)\]", head, re.MULTILINE | re.I):
        return "ssa" if suffix == ".ssa" else "ass"
    if head.startswith("WEBVTT"):
        return "vtt"
    if suffix in (".ass", ".ssa", ".vtt") and not re.search(r"-->", head):
        return suffix[1:]
    return "srt"


def load_subtitles(path: str | Path) -> SubtitleFile:
    """Read a subtitle file into events sorted by start (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise SubtitleError(f"subtitle file not found: {path}")
    data = path.read_bytes()
    if not data.strip():
        raise SubtitleError(f"subtitle file {path} is empty")
    text, encoding = decode_subtitle_bytes(data, path)
    fmt = _sniff_format(text, path.suffix.lower())
    try:
        if fmt == "srt":
            events, n_comments = _parse_srt(text), 0
        else:
            events, n_comments = _parse_with_pysubs2(text, fmt)
    except SubtitleError:
        raise
    except Exception as exc:  # the parsers raise many types on malformed input
        raise SubtitleError(f"cannot parse subtitles {path} as {fmt.upper()}: {exc}") from exc
    if not events and not n_comments:
        raise SubtitleError(
            f"no subtitle events found in {path} (read as {fmt.upper()} in {encoding}): "
            "is it really a subtitle file?"
        )
    events.sort(key=lambda e: (e.start, e.end))
    events = mark_duplicates(events)
    log.debug("read %d events (%d comments dropped) from %s", len(events), n_comments, path)
    return SubtitleFile(path, events, fmt, encoding, n_comments)


def read_subtitles(path: str | Path) -> list[SubtitleEvent]:
    """Events of a subtitle file sorted by start; non-speech events carry a ``skip_reason``."""
    return load_subtitles(path).events


def _event(start: float, end: float, raw: str, name: str = "", style: str = "") -> SubtitleEvent:
    """One event; a time before 0 is clamped to 0 and the event skipped as
    ``"negative-time"`` (counted in the add summary), never stored with its sign flipped."""
    reason = classify(raw, style, name)
    if start < 0 or end < 0:
        reason = reason or NEGATIVE_TIME
        start, end = max(0.0, start), max(0.0, end)
    if not reason and end <= start:
        reason = ZERO_LENGTH
    return SubtitleEvent(
        start=start,
        end=end,
        text=clean_text(raw),
        name_hint=name.strip(),
        style=style,
        skip_reason=reason,
    )


# A timestamp (``H:MM:SS,mmm``, ``MM:SS.mmm``) with an optional minus sign, in a ``-->`` line.
_TIMESTAMP_RE = re.compile(r"(-?)\s*((?:\d+:)?\d+:\d+(?:[.,]\d+)?)")
_ARROW_LINE_RE = re.compile(r"^(.*?)-->(.*)$", re.MULTILINE)


def _seconds(stamp: str) -> float:
    main, _, frac = stamp.replace(",", ".").partition(".")
    total = 0
    for part in main.split(":"):
        total = total * 60 + int(part)
    return total + (int(frac) / 10 ** len(frac) if frac else 0.0)


Signs = dict[tuple[float, float], list[tuple[bool, bool]]]


def _negative_timings(text: str) -> Signs:
    """For each ``-->`` line, in file order and keyed by its times without sign: whether its
    start and its end have a minus sign. pysrt and pysubs2's VTT reader drop the sign, so
    "-00:00:05,000" would otherwise be stored as +5 s."""
    found: Signs = {}
    for match in _ARROW_LINE_RE.finditer(text):
        stamps = [_TIMESTAMP_RE.search(side) for side in match.groups()]
        if stamps[0] is None or stamps[1] is None:
            continue
        key = (round(_seconds(stamps[0].group(2)), 3), round(_seconds(stamps[1].group(2)), 3))
        found.setdefault(key, []).append((bool(stamps[0].group(1)), bool(stamps[1].group(1))))
    return found


def _signed(found: Signs, start: float, end: float) -> tuple[float, float]:
    """(start, end) with the signs the file wrote (as parsed when it wrote none)."""
    flags = found.get((round(abs(start), 3), round(abs(end), 3)))
    if not flags:
        return start, end
    neg_start, neg_end = flags.pop(0)
    return (-abs(start) if neg_start else start), (-abs(end) if neg_end else end)


def _parse_srt(text: str) -> list[SubtitleEvent]:
    # ERROR_PASS: pysrt's ERROR_LOG writes bytes to a text stream and crashes on Python 3
    items = pysrt.SubRipFile.from_string(text, error_handling=pysrt.SubRipFile.ERROR_PASS)
    n_arrows = len(re.findall(r"-->", text))
    if n_arrows > len(items):
        log.warning(
            "SRT: %d of %d timed blocks could not be parsed", n_arrows - len(items), n_arrows
        )
    negative = _negative_timings(text) if re.search(r"-\s*\d+:\d", text) else {}
    events = []
    for item in items:
        start, end = item.start.ordinal / 1000.0, item.end.ordinal / 1000.0
        events.append(_event(*_signed(negative, start, end), item.text))
    return events


def _parse_with_pysubs2(text: str, fmt: str) -> tuple[list[SubtitleEvent], int]:
    subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    events: list[SubtitleEvent] = []
    n_comments = 0
    # ASS keeps the sign of a negative time; pysubs2's VTT reader drops it
    negative = _negative_timings(text) if fmt == "vtt" and re.search(r"-\s*\d+:\d", text) else {}
    for ev in subs.events:
        if ev.is_comment:
            n_comments += 1
            continue
        start, end = _signed(negative, ev.start / 1000.0, ev.end / 1000.0)
        events.append(_event(start, end, ev.text, ev.name, ev.style))
    return events, n_comments


def mark_duplicates(events: Sequence[SubtitleEvent]) -> list[SubtitleEvent]:
    """Mark every repeat of an event with the same start, end and text as ``"duplicate"``.

    Fansub files often stack the same line twice (a second layer for a border or a blur);
    counting it twice would give one voice two lines. Names may differ between the copies;
    the first one (in file order after sorting) is kept as speech.
    """
    seen: set[tuple[float, float, str]] = set()
    out: list[SubtitleEvent] = []
    for ev in events:
        key = (round(ev.start, 3), round(ev.end, 3), ev.text)
        if ev.text and key in seen and ev.skip_reason in ("", DUPLICATE):
            ev = replace(ev, skip_reason=DUPLICATE)
        elif not ev.skip_reason:
            seen.add(key)
        out.append(ev)
    return out


# ---------------------------------------------------------------------------------------------
# Summary


@dataclass(frozen=True)
class SubtitleSummary:
    """Counts of speech and skipped events, for the run summary ("drop nothing silently")."""

    total: int
    speech: int
    skipped: dict[str, int] = field(default_factory=dict)
    n_comments: int = 0

    def __str__(self) -> str:
        parts = [f"{self.speech} speech lines"]
        if self.skipped:
            parts.append(
                "skipped: " + ", ".join(f"{n} {reason}" for reason, n in self.skipped.items())
            )
        if self.n_comments:
            parts.append(f"{self.n_comments} comments dropped")
        return "; ".join(parts)


def summarize(events: Iterable[SubtitleEvent], n_comments: int = 0) -> SubtitleSummary:
    """Count events by skip reason (most frequent first); speech events have no reason."""
    counts = Counter(ev.skip_reason for ev in events)
    speech = counts.pop("", 0)
    total = speech + sum(counts.values())
    skipped = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return SubtitleSummary(total=total, speech=speech, skipped=skipped, n_comments=n_comments)


# ---------------------------------------------------------------------------------------------
# Checks against the media


def format_duration(seconds: float) -> str:
    """``3720 -> "1h02m"``, ``1440 -> "24m"``, ``95 -> "1m35s"``, ``7.5 -> "7.5s"``."""
    seconds = max(0.0, float(seconds))
    if seconds >= 3600:
        h, rest = divmod(int(round(seconds)), 3600)
        return f"{h}h{rest // 60:02d}m"
    if seconds >= 600:
        return f"{int(round(seconds / 60))}m"
    if seconds >= 60:
        m, s = divmod(int(round(seconds)), 60)
        return f"{m}m{s:02d}s"
    return f"{seconds:.1f}s"


def validate_against_media(
    events: Sequence[SubtitleEvent], media_duration: float, path: str | Path
) -> list[SubtitleEvent]:
    """Check events against the media they belong to; returns the corrected events.

    Lines starting at or after the end of the media become ``"past-end"``; lines running past
    it are clipped. More than half of the speech lines past the end means the subtitles belong
    to another video, which is an error rather than something to paper over. Overlapping lines
    are fine (people talk over each other); exact duplicates are marked ``"duplicate"``.
    ``media_duration <= 0`` (unknown) skips the timing checks.
    """
    name = Path(path).name
    if not events:
        raise SubtitleError(f"subtitle file {path} has no events")
    events = mark_duplicates(events)
    n_speech = sum(1 for ev in events if not ev.skip_reason)
    if n_speech == 0:
        raise SubtitleError(
            f"subtitle file {path} has no speech lines: all {len(events)} events are skipped "
            f"({summarize(events)}); are these sign/song-only subtitles?"
        )
    if media_duration <= 0:
        return list(events)
    out: list[SubtitleEvent] = []
    n_past = 0
    for ev in events:
        if ev.start >= media_duration:
            if not ev.skip_reason:
                n_past += 1
                ev = replace(ev, skip_reason=PAST_END)
        elif ev.end > media_duration:
            ev = replace(ev, end=float(media_duration))
        out.append(ev)
    if n_past * 2 > n_speech:
        last = max(ev.end for ev in events)
        raise SubtitleError(
            f"subtitles {name} end at {format_duration(last)} but the media lasts "
            f"{format_duration(media_duration)}: wrong file? ({n_past} of {n_speech} speech "
            "lines start after the end)"
        )
    if n_past:
        log.warning("%s: %d lines start after the end of the media; skipped", name, n_past)
    return out


# ---------------------------------------------------------------------------------------------
# Finding subtitles beside a video

_LANG_TAG_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


def find_subtitles(media: str | Path) -> Path | None:
    """The subtitle file beside ``media``: ``ep01.ass``/``.ssa``/``.srt``/``.vtt`` or a
    language-tagged one like ``ep01.en.srt``. ASS wins over the rest because its Name field
    carries speakers; an untagged file wins over a tagged one of the same format."""
    media = Path(media)
    try:
        siblings = [p for p in media.parent.iterdir() if p.is_file()]
    except OSError:
        return None
    stem = media.stem
    ranked: list[tuple[int, int, str, Path]] = []
    for p in siblings:
        suffix = p.suffix.lower()
        if p == media or suffix not in SUBTITLE_EXTENSIONS:
            continue
        base = p.name[: -len(p.suffix)]
        if base == stem:
            tagged = 0
        elif base.startswith(stem + ".") and _LANG_TAG_RE.match(base[len(stem) + 1 :]):
            tagged = 1
        else:
            continue
        ranked.append((SUBTITLE_EXTENSIONS.index(suffix), tagged, p.name, p))
    if not ranked:
        return None
    ranked.sort()
    if len(ranked) > 1:
        log.info(
            "%s: using %s (also found: %s)",
            media.name,
            ranked[0][3].name,
            ", ".join(r[3].name for r in ranked[1:]),
        )
    return ranked[0][3]


# ---------------------------------------------------------------------------------------------
# Writing


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text(path, newline="\n") as fh:
        fh.write(text)


def write_srt(events: Iterable[SubtitleEvent], path: str | Path) -> Path:
    """Write events as UTF-8 SRT (no names: SRT has no field for them)."""
    path = Path(path)
    subs = pysrt.SubRipFile()
    for i, ev in enumerate(events, start=1):
        subs.append(
            pysrt.SubRipItem(
                index=i,
                start=pysrt.SubRipTime.from_ordinal(int(round(ev.start * 1000))),
                end=pysrt.SubRipTime.from_ordinal(int(round(ev.end * 1000))),
                text=ev.text,
            )
        )
    lines = []
    for item in subs:
        lines.append(str(item).rstrip("\n") + "\n")
    _atomic_write_text(path, "\n".join(lines))
    return path


def write_ass(events: Iterable[SubtitleEvent], path: str | Path, with_names: bool = True) -> Path:
    """Write events as UTF-8 ASS, keeping each event's style and (optionally) its Name."""
    path = Path(path)
    subs = pysubs2.SSAFile()
    default = subs.styles["Default"]
    for ev in events:
        style = ev.style or "Default"
        if style not in subs.styles:
            subs.styles[style] = default.copy()
        subs.events.append(
            pysubs2.SSAEvent(
                start=int(round(ev.start * 1000)),
                end=int(round(ev.end * 1000)),
                text=ev.text.replace("\n", "\\N"),
                name=ev.name_hint if with_names else "",
                style=style,
            )
        )
    _atomic_write_text(path, subs.to_string("ass"))
    return path
