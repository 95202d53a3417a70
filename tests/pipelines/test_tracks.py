"""Embedded subtitle tracks: real .mkv files muxed by ffmpeg, listed, chosen and extracted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.errors import SubtitleError
from pipelines.io.tracks import candidates, embedded_subtitles, list_tracks, tracks_from_probe
from pipelines.stages.ingest import add_episode
from pipelines.store.workspace import Workspace

ASS_HEAD = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1
Style: Sign,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def _ass(rows: list[tuple[str, str, str, str, str]]) -> str:
    return ASS_HEAD + "".join(
        f"Dialogue: 0,{a},{b},{style},{name},0,0,0,,{text}\n" for a, b, style, name, text in rows
    )


DIALOGUE = _ass(
    [
        ("0:00:00.50", "0:00:02.00", "Default", "Kyon", "What a day."),
        ("0:00:02.50", "0:00:04.00", "Default", "Haruhi", "Listen to me!"),
        ("0:00:04.50", "0:00:06.00", "Default", "Kyon", "I am listening."),
        ("0:00:06.50", "0:00:08.00", "Default", "", "HARUHI: No you are not."),
    ]
)
SIGNS = _ass(
    [
        ("0:00:01.00", "0:00:03.00", "Sign", "", "North High School"),
        ("0:00:05.00", "0:00:07.00", "Sign", "", "Literature Club"),
    ]
)


def _mux(tmp: Path, name: str, tracks: list[tuple[str, str, str, str]], video=True) -> Path:
    """An .mkv with a 10 s sine (and a colour video) and the given (suffix, text, title,
    language) subtitle tracks, in that order."""
    inputs, maps, meta = [], [], []
    inputs += ["-f", "lavfi", "-i", "sine=frequency=300:duration=10"]
    n_in = 1
    if video:
        inputs += ["-f", "lavfi", "-i", "color=c=blue:s=64x48:d=10:r=5"]
        maps += ["-map", "1:v"]
        n_in = 2
    maps = ["-map", "0:a", *maps]
    for k, (suffix, text, title, lang) in enumerate(tracks):
        (tmp / "src").mkdir(exist_ok=True)  # not beside the .mkv: that file would win
        sub = tmp / "src" / f"{name}.in{k}{suffix}"
        sub.write_text(text, encoding="utf-8")
        inputs += ["-i", str(sub)]
        maps += ["-map", f"{n_in + k}:s"]
        meta += [f"-metadata:s:s:{k}", f"title={title}", f"-metadata:s:s:{k}", f"language={lang}"]
    out = tmp / f"{name}.mkv"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, *maps, "-c:a", "pcm_s16le"]
    if video:
        cmd += ["-c:v", "mjpeg"]
    cmd += ["-c:s", "copy", *meta, "-t", "10", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def two_tracks(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("mkv")
    return _mux(
        tmp,
        "ep01",
        [(".ass", SIGNS, "Signs & Songs", "eng"), (".ass", DIALOGUE, "Dialogue", "eng")],
    )


def test_tracks_are_listed_with_titles_and_languages(two_tracks):
    tracks = list_tracks(two_tracks)
    assert [(t.index, t.codec, t.language, t.title) for t in tracks] == [
        (0, "ass", "eng", "Signs & Songs"),
        (1, "ass", "eng", "Dialogue"),
    ]
    assert [t.title_class for t in tracks] == [2, 0]


def test_dialogue_beats_signs_and_names_survive_extraction(two_tracks, tmp_path):
    path = embedded_subtitles(two_tracks, tmp_path / "cache")
    assert path is not None and path.name == "ep01.track1.ass"
    text = path.read_text(encoding="utf-8")
    assert "Dialogue: 0,0:00:00.50,0:00:02.00,Default,Kyon," in text  # copied, Name kept
    assert not (tmp_path / "cache" / "ep01.track0.ass").exists()  # the loser is not left behind


def test_untitled_tracks_are_told_apart_by_their_share_of_sign_lines(tmp_path):
    mkv = _mux(tmp_path, "ep02", [(".ass", SIGNS, "", "eng"), (".ass", DIALOGUE, "", "eng")])
    assert embedded_subtitles(mkv, tmp_path / "c").name == "ep02.track1.ass"


def test_track_and_language_choose_explicitly(tmp_path):
    mkv = _mux(
        tmp_path, "ep03", [(".ass", DIALOGUE, "English", "eng"), (".srt", _srt(), "JP", "jpn")]
    )
    assert embedded_subtitles(mkv, tmp_path / "c", lang="ja").suffix == ".srt"
    assert embedded_subtitles(mkv, tmp_path / "c", track=0).name == "ep03.track0.ass"
    with pytest.raises(SubtitleError, match="no subtitle track 5.*track 0 ass eng"):
        embedded_subtitles(mkv, tmp_path / "c", track=5)
    with pytest.raises(SubtitleError, match="language 'fre'"):
        embedded_subtitles(mkv, tmp_path / "c", lang="fre")


def _srt() -> str:
    return (
        "1\n00:00:00,500 --> 00:00:02,000\nこんにちは\n\n2\n00:00:03,000 --> 00:00:05,000\nはい\n"
    )


def test_image_tracks_say_they_are_not_text_and_what_to_do(tmp_path):
    data = {
        "streams": [
            {"codec_type": "audio", "codec_name": "flac"},
            {"codec_type": "subtitle", "codec_name": "hdmv_pgs_subtitle", "tags": {"language": "eng"}},
        ]
    }  # fmt: skip
    tracks = tracks_from_probe(data)
    assert tracks[0].is_image and not tracks[0].is_text
    with pytest.raises(SubtitleError, match=r"image track.*OCR.*--subs FILE.*--asr"):
        candidates(tracks, tmp_path / "ep.mkv")
    # a text track next to the image one is used
    data["streams"].append({"codec_type": "subtitle", "codec_name": "subrip"})
    assert [t.index for t in candidates(tracks_from_probe(data), tmp_path / "ep.mkv")] == [1]


def test_add_uses_the_embedded_track_and_reads_its_names(two_tracks, tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    added = add_episode(ws, two_tracks)
    lines = ws.lines(added.episode.id)
    assert [ln.name_hint for ln in lines] == ["Kyon", "Haruhi", "Kyon", "Haruhi"]
    assert lines[3].text == "No you are not."  # the hearing-impaired tag left the text
    assert Path(added.episode.subs).parent == ws.cache_dir / "subs"
    assert added.source == "embedded subtitle track 1"
    # adding it again is a no-op: the extracted track is byte-identical
    assert add_episode(ws, two_tracks).created is False
    ws.close()


def test_cli_add_with_track_and_without_subtitles(two_tracks, tmp_path, capsys, monkeypatch):
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    assert main(["add", str(ws), str(two_tracks), "--subs-track", "0"]) == 2
    assert "no speech lines" in capsys.readouterr().err  # signs-only track: said, not hidden
    bare = tmp_path / "bare.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=3", str(bare)], check=True
    )
    assert main(["add", str(ws), str(bare)]) == 2
    err = capsys.readouterr().err
    assert "no subtitles found beside it" in err and "--asr" in err
    # on a terminal, castlist asks before transcribing; "no" keeps the clear error
    import pipelines.cli as cli

    asked = []
    monkeypatch.setattr(cli, "_ask", lambda q: asked.append(q) or False)
    assert main(["add", str(ws), str(bare)]) == 2
    assert asked == [f"{bare}: no subtitles; transcribe it?"]
    assert main(["add", str(ws), str(two_tracks), "--subs-lang", "eng"]) == 0
    out = capsys.readouterr().out
    assert "4 speech lines" in out
    assert "from embedded subtitle track 1" in out  # which of the tracks was used is said
