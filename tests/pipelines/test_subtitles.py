"""Subtitle reading (encodings, formats, non-speech flags), checks, discovery and writing."""

from __future__ import annotations

import codecs
from collections import Counter
from pathlib import Path

import pysubs2
import pytest

from pipelines.errors import SubtitleError
from pipelines.io.subtitles import (
    classify,
    clean_text,
    find_subtitles,
    format_duration,
    load_subtitles,
    read_subtitles,
    summarize,
    validate_against_media,
    write_ass,
    write_srt,
)
from pipelines.records import SubtitleEvent

REPO = Path(__file__).resolve().parents[2]
NAMED_ASS = REPO.parent / "shared" / "data" / "anime_subtitles_named" / "ass"


def srt_text(lines: list[str]) -> str:
    blocks = []
    for i, line in enumerate(lines):
        blocks.append(f"{i + 1}\n00:00:{i * 2:02d},500 --> 00:00:{i * 2 + 1:02d},750\n{line}\n")
    return "\n".join(blocks)


LINES = {
    "gbk": [
        "你好，我们今天去学校吧。",
        "这是一个非常重要的问题，请认真回答。",
        "我不知道他在说什么。",
    ],
    "big5": [
        "你好，我們今天去學校吧。",
        "這是一個非常重要的問題，請認真回答。",
        "我不知道他在說什麼。",
    ],
    "shift_jis": [
        "おはようございます。今日は学校に行きます。",
        "これはとても大切な問題です。",
        "彼が何を言っているのか分からない。",
    ],
    "cp1252": ["Où est la bibliothèque, s'il vous plaît ?", "C'était très intéressant.", "Ça va ?"],
    "cp1251": ["Привет! Как дела?", "Я не знаю, что он говорит.", "До завтра."],
    "euc_kr": ["안녕하세요, 선배님.", "이게 뭐야?", "잠깐만 기다려!"],
}


@pytest.mark.parametrize(
    ("encoding", "lines", "bom"),
    [
        ("utf-8", LINES["shift_jis"], b""),
        ("utf-8", LINES["gbk"], codecs.BOM_UTF8),
        ("utf-16-le", LINES["big5"], codecs.BOM_UTF16_LE),
        ("utf-16-be", LINES["gbk"], codecs.BOM_UTF16_BE),
        ("utf-16-le", LINES["gbk"], b""),  # no BOM: found by its NUL bytes
        ("gbk", LINES["gbk"], b""),
        ("big5", LINES["big5"], b""),
        ("shift_jis", LINES["shift_jis"], b""),
        ("cp1252", LINES["cp1252"], b""),
        ("cp1251", LINES["cp1251"], b""),
        ("euc_kr", LINES["euc_kr"], b""),
    ],
)
def test_encodings(tmp_path: Path, encoding: str, lines: list[str], bom: bytes) -> None:
    path = tmp_path / "episode.srt"
    path.write_bytes(bom + srt_text(lines).replace("\n", "\r\n").encode(encoding))
    sub = load_subtitles(path)
    assert [e.text for e in sub.events] == lines
    assert [e.start for e in sub.events] == [0.5, 2.5, 4.5]
    assert [e.end for e in sub.events] == [1.75, 3.75, 5.75]
    assert all(not e.skip_reason for e in sub.events)


def test_ass_in_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "ep.ass"
    ass = ASS_HEADER + "Dialogue: 0,0:00:01.00,0:00:02.00,Default,大河,0,0,0,,竜児！\n"
    path.write_bytes(ass.encode("utf-16"))  # Python writes a BOM
    (ev,) = read_subtitles(path)
    assert (ev.text, ev.name_hint) == ("竜児！", "大河")


def test_garbage_bytes_name_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "broken file.srt"
    path.write_bytes(bytes(range(256)) * 8 + bytes(reversed(range(256))) * 8)
    with pytest.raises(SubtitleError) as err:
        read_subtitles(path)
    msg = str(err.value)
    assert "broken file.srt" in msg and "UTF-8" in msg and "iconv -f GBK -t UTF-8" in msg


def test_empty_and_eventless_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.srt"
    empty.write_bytes(b"")
    with pytest.raises(SubtitleError, match="empty.srt is empty"):
        read_subtitles(empty)
    blank = tmp_path / "blank.ass"
    blank.write_text("\n\n  \n")
    with pytest.raises(SubtitleError, match="blank.ass is empty"):
        read_subtitles(blank)
    prose = tmp_path / "notes.srt"
    prose.write_text("just some notes\nnothing timed here\n")
    with pytest.raises(SubtitleError, match="no subtitle events found in .*notes.srt"):
        read_subtitles(prose)
    with pytest.raises(SubtitleError, match="not found"):
        read_subtitles(tmp_path / "missing.srt")


ASS_HEADER = """[Script Info]
ScriptType: v4.00+
PlayResX: 1280
PlayResY: 720

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,48,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""

ASS_EVENTS = [
    # (start, end, style, name, text, expected skip_reason, expected clean text)
    (
        "0:00:05.00",
        "0:00:07.00",
        "Main",
        "Ryuji",
        r"{\be1}Hello\Nthere,   Taiga!",
        "",
        "Hello there, Taiga!",
    ),
    ("0:00:01.00", "0:00:03.00", "OP Romaji", "", r"{\k20}so{\k30}ra", "song", "sora"),
    ("0:00:01.00", "0:00:03.00", "Default", "", r"{\kf45}ki{\kf30}mi", "song", "kimi"),
    ("0:00:02.00", "0:00:04.00", "ED_TL", "", "Under the same sky", "song", "Under the same sky"),
    ("0:00:06.00", "0:00:08.00", "Insert Song", "", "la la la", "song", "la la la"),
    (
        "0:00:06.50",
        "0:00:09.00",
        "Sign_School",
        "",
        r"{\pos(100,200)}Staff Room",
        "sign",
        "Staff Room",
    ),
    (
        "0:00:06.50",
        "0:00:09.00",
        "Default",
        "",
        r"{\p1}m 0 0 l 100 0 100 100{\p0}",
        "sign",
        "m 0 0 l 100 0 100 100",
    ),
    ("0:00:07.00", "0:00:09.00", "NextTitle", "", "Episode 2", "sign", "Episode 2"),
    (
        "0:00:07.00",
        "0:00:09.00",
        "TL Note",
        "",
        "Senpai: an upperclassman",
        "sign",
        "Senpai: an upperclassman",
    ),
    ("0:00:07.50", "0:00:08.50", "Main", "[SFX", "Bang!", "sign", "Bang!"),
    ("0:00:08.00", "0:00:10.00", "Main", "Taiga", r"{\i1}{\i0}", "empty", ""),
    ("0:00:09.00", "0:00:09.00", "Main", "Taiga", "Huh?", "zero-length", "Huh?"),
    # overlapping speech by two people is normal
    (
        "0:00:09.50",
        "0:00:12.00",
        "Main",
        "Ami",
        r"Good morning!\nEveryone!",
        "",
        "Good morning! Everyone!",
    ),
    ("0:00:10.00", "0:00:11.00", "Main", "Minori", "Morning!", "", "Morning!"),
    # a stacked copy (border layer) of the line above
    ("0:00:10.00", "0:00:11.00", "Main", "Minori", "{\\bord4}Morning!", "duplicate", "Morning!"),
    # names and styles that only look like the patterns
    ("0:00:12.00", "0:00:13.00", "Ended", "Ed", "Brother!", "", "Brother!"),
    ("0:00:13.00", "0:00:14.00", "Tsubasa", "Voice and text at bottom", "Hey.", "", "Hey."),
]


def write_test_ass(path: Path) -> Path:
    lines = [
        f"Dialogue: 0,{s},{e},{style},{name},0,0,0,,{text}"
        for s, e, style, name, text, _, _ in ASS_EVENTS
    ]
    lines.insert(3, r"Comment: 0,0:00:05.00,0:00:06.00,Main,Ryuji,0,0,0,,{timing note} hidden")
    path.write_text(ASS_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_ass_flags_cleaning_names_and_order(tmp_path: Path) -> None:
    sub = load_subtitles(write_test_ass(tmp_path / "ep.ass"))
    assert sub.format == "ass" and sub.n_comments == 1
    events = sub.events
    assert [e.start for e in events] == sorted(e.start for e in events)
    assert all("hidden" not in e.text for e in events)
    by_start_text = {(e.start, e.text, e.skip_reason): e for e in events}
    for s, _end, style, name, _, reason, clean in ASS_EVENTS:
        start = pysubs2.time.timestamp_to_ms(pysubs2.time.TIMESTAMP.match(s).groups()) / 1000
        ev = by_start_text[(start, clean, reason)]
        assert ev.style == style and ev.name_hint == name
    summary = sub.summary()
    assert summary.speech == 5 and summary.total == len(ASS_EVENTS)
    assert str(summary) == (
        "5 speech lines; skipped: 5 sign, 4 song, 1 duplicate, 1 empty, 1 zero-length; "
        "1 comments dropped"
    )


def test_clean_text() -> None:
    assert clean_text(r"{\an8\pos(1,2)}Wait{\i1}—{\i0}\Nplease\hstay ") == "Wait— please stay"
    assert clean_text("<i>Hello</i>\n<font color=red>you</font>") == "Hello you"
    assert clean_text("a < b > c") == "a < b > c"
    assert clean_text(r"{\p1}") == ""


@pytest.mark.parametrize(
    ("text", "style", "name", "reason"),
    [
        ("Hi", "Dialogue", "Ryuji", ""),
        ("Hi", "OP1", "", "song"),
        ("Hi", "ED-English", "", "song"),
        ("Hi", "Karaoke", "", "song"),
        ("Hi", "Lyrics", "", "song"),
        ("Hi", "kanji", "", "song"),
        ("Hi", "Main", "Song", "song"),
        ("Hi", "Screen Text", "", "sign"),
        ("Hi", "Typesetting", "", "sign"),
        ("Hi", "Caption", "", "sign"),
        ("Hi", "Ep Title", "", "sign"),
        ("Hi", "Next Episode", "", "sign"),
        ("Hi", "Credits", "Text", "sign"),
        ("Hi", "Main", "Text on phone", "sign"),
        ("Hi", "Main", "Miki/Text", "sign"),
        (r"{\frz12.5}Hi", "Main", "", "sign"),
        # a bare "Text" Name is a placeholder some groups use for dialogue
        ("Do you understand Russian?", "Dialog Russian", "Text", ""),
        ("Hi", "Opera", "Edward", ""),
        ("Hi", "Tsubasa", "Ed", ""),
        ("Hi", "Ended", "", ""),
        (r"{\frz0}Hi", "Main", "", ""),
        ("Hi", "Main", "Ryuji (thoughts)", ""),
        ("", "Main", "Ryuji", "empty"),
    ],
)
def test_classify(text: str, style: str, name: str, reason: str) -> None:
    assert classify(text, style, name) == reason


def test_srt_and_vtt(tmp_path: Path) -> None:
    srt = tmp_path / "ep.srt"
    srt.write_text(
        "2\n00:00:04,000 --> 00:00:05,000\n<i>Second</i>\n\n"
        "1\n00:00:01,000 --> 00:00:02,500\nFirst\nline\n\n"
        "3\n00:00:06,000 --> 00:00:06,000\nZero\n",
        encoding="utf-8",
    )
    events = read_subtitles(srt)
    assert [(e.start, e.end, e.text) for e in events] == [
        (1.0, 2.5, "First line"),
        (4.0, 5.0, "Second"),
        (6.0, 6.0, "Zero"),
    ]
    assert [e.skip_reason for e in events] == ["", "", "zero-length"]
    vtt = tmp_path / "ep.vtt"
    vtt.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello\n", encoding="utf-8")
    (ev,) = read_subtitles(vtt)
    assert (ev.start, ev.end, ev.text) == (1.0, 2.0, "Hello")
    # an ASS file saved with a .srt name is read as what it is
    ass_as_srt = tmp_path / "wrong.srt"
    ass_as_srt.write_text(ASS_HEADER + "Dialogue: 0,0:00:01.00,0:00:02.00,Default,Ami,0,0,0,,Hi\n")
    (ev,) = read_subtitles(ass_as_srt)
    assert ev.name_hint == "Ami"


def ev(start: float, end: float, text: str = "x", reason: str = "") -> SubtitleEvent:
    return SubtitleEvent(start=start, end=end, text=text, skip_reason=reason)


def test_validate_against_media() -> None:
    events = [
        ev(1, 2, "a"),
        ev(1.5, 3, "b"),  # overlaps a: fine
        ev(8, 12, "c"),  # runs past the end: clipped
        ev(11, 12, "d"),  # starts after the end
        ev(11, 13, "e", "song"),  # keeps its own reason
        ev(1, 2, "a"),  # duplicate of the first
    ]
    out = validate_against_media(events, 10.0, "ep01.ass")
    assert [(e.text, e.end, e.skip_reason) for e in out] == [
        ("a", 2, ""),
        ("b", 3, ""),
        ("c", 10.0, ""),
        ("d", 12, "past-end"),
        ("e", 13, "song"),
        ("a", 2, "duplicate"),
    ]
    assert summarize(out).skipped == {"duplicate": 1, "past-end": 1, "song": 1}


def test_validate_wrong_file() -> None:
    events = [ev(t, t + 2) for t in range(0, 3721, 60)]
    with pytest.raises(SubtitleError) as err:
        validate_against_media(events, 24 * 60, "/x/ep02.srt")
    msg = str(err.value)
    assert "ep02.srt end at 1h02m but the media lasts 24m: wrong file?" in msg


def test_validate_needs_speech() -> None:
    with pytest.raises(SubtitleError, match="ep.ass has no events"):
        validate_against_media([], 100, "ep.ass")
    with pytest.raises(SubtitleError, match=r"ep.ass has no speech lines.*2 sign"):
        validate_against_media([ev(1, 2, "a", "sign"), ev(3, 4, "b", "sign")], 100, "ep.ass")
    # an unknown media duration skips the timing checks
    assert validate_against_media([ev(500, 501)], 0, "ep.ass")[0].skip_reason == ""


def test_format_duration() -> None:
    assert format_duration(3720) == "1h02m"
    assert format_duration(1440) == "24m"
    assert format_duration(95) == "1m35s"
    assert format_duration(7.46) == "7.5s"


def test_find_subtitles(tmp_path: Path) -> None:
    video = tmp_path / "Show - 01.mkv"
    video.write_bytes(b"")
    assert find_subtitles(video) is None
    for name in ["Show - 010.srt", "Show - 01.mkv.txt", "Show - 01.en.forced.x.srt", "Other.ass"]:
        (tmp_path / name).write_text("x")
    assert find_subtitles(video) is None
    (tmp_path / "Show - 01.en.srt").write_text("x")
    assert find_subtitles(video) == tmp_path / "Show - 01.en.srt"
    (tmp_path / "Show - 01.SRT").write_text("x")
    assert find_subtitles(video) == tmp_path / "Show - 01.SRT"
    (tmp_path / "Show - 01.vtt").write_text("x")
    assert find_subtitles(video) == tmp_path / "Show - 01.SRT"
    (tmp_path / "Show - 01.eng.ass").write_text("x")
    assert find_subtitles(video) == tmp_path / "Show - 01.eng.ass"
    (tmp_path / "Show - 01.ass").write_text("x")
    assert find_subtitles(video) == tmp_path / "Show - 01.ass"


def test_write_round_trip(tmp_path: Path) -> None:
    events = [
        SubtitleEvent(1.23, 2.5, "Hello there!", "Ryuji", "Main"),
        SubtitleEvent(2.0, 3.0, "你好，大河。", "Taiga", "Main"),
        SubtitleEvent(4.0, 5.5, "Under the same sky", "", "OP Romaji", "song"),
    ]
    ass = read_subtitles(write_ass(events, tmp_path / "out.ass"))
    assert [(e.start, e.end, e.text, e.name_hint, e.style, e.skip_reason) for e in ass] == [
        (e.start, e.end, e.text, e.name_hint, e.style, e.skip_reason) for e in events
    ]
    nameless = read_subtitles(write_ass(events, tmp_path / "anon.ass", with_names=False))
    assert [e.name_hint for e in nameless] == ["", "", ""]
    srt = read_subtitles(write_srt(events, tmp_path / "out.srt"))
    assert [(e.start, e.end, e.text) for e in srt] == [(e.start, e.end, e.text) for e in events]
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["anon.ass", "out.ass", "out.srt"]


@pytest.mark.shared
@pytest.mark.skipif(not NAMED_ASS.is_dir(), reason="needs ../shared/data")
def test_real_named_ass_files() -> None:
    files = sorted(NAMED_ASS.rglob("*.ass"))
    assert len(files) >= 70
    totals: Counter[str] = Counter()
    for path in files:
        sub = load_subtitles(path)
        raw = pysubs2.load(str(path), encoding="utf-8-sig")
        raw_names = Counter(e.name.strip() for e in raw.events if not e.is_comment)
        assert sub.n_comments == sum(e.is_comment for e in raw.events)
        assert Counter(e.name_hint for e in sub.events) == raw_names
        speech = [e for e in sub.events if not e.skip_reason]
        assert len(speech) > 100, path.name
        named = sum(bool(e.name_hint) for e in speech)
        assert named / len(speech) > 0.95, path.name
        totals.update(e.skip_reason for e in sub.events)
    # few flags overall: fansub credits and signs, a handful of songs, nothing wild
    assert totals["sign"] < 0.1 * totals[""]
    assert totals["song"] < 0.01 * totals[""]
    assert totals["empty"] + totals["zero-length"] < 100
