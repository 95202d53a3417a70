"""The built-in ``--separate gaps``: the music bed heard between the lines, filtered out from
under them (pipelines.io.gap_filter), and the separate stage that writes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.io.gap_filter import suppress_bed
from pipelines.records import SubtitleEvent
from pipelines.store.workspace import Workspace

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "demo" / "data"
SR = 16000
LINES = [(0.5, 3.0), (4.0, 6.5)]


def _episode() -> tuple[np.ndarray, np.ndarray]:
    """(mix, voice alone): read speech in two lines over a music bed that never stops."""
    speech, _ = sf.read(DEMO / "1688-142285-0000.flac", dtype="float32")
    n = SR * 8
    voice = np.zeros(n, np.float32)
    for a, b in LINES:
        voice[int(a * SR) : int(b * SR)] = speech[: int(b * SR) - int(a * SR)]
    t = np.arange(n) / SR
    rng = np.random.default_rng(0)
    bed = 0.03 * (
        np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 330 * t) + np.sin(2 * np.pi * 1100 * t)
    )
    bed = bed + 0.01 * rng.standard_normal(n)
    return (voice + bed).astype(np.float32), voice


def _snr_db(clean: np.ndarray, other: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean**2) / np.sum((other - clean) ** 2)))


def test_the_bed_heard_between_lines_is_taken_out_from_under_them():
    mix, voice = _episode()
    out = suppress_bed(mix, SR, [a for a, _ in LINES], [b for _, b in LINES])
    inside = np.zeros(mix.size, bool)
    for a, b in LINES:
        inside[int(a * SR) : int(b * SR)] = True
    before, after = _snr_db(voice[inside], mix[inside]), _snr_db(voice[inside], out[inside])
    assert after >= before + 5.0, (before, after)  # the bed is mostly gone under the lines
    assert np.array_equal(out[~inside], mix[~inside])  # the gaps themselves are left alone
    assert out.dtype == np.float32 and out.shape == mix.shape


def test_a_line_without_gaps_around_it_reads_its_bed_from_its_quietest_frames():
    mix, voice = _episode()
    out = suppress_bed(mix, SR, [0.0], [8.0])  # one line over the whole episode: no gap at all
    assert np.isfinite(out).all()
    assert _snr_db(voice, out) > _snr_db(voice, mix)


@pytest.fixture
def gap_ws(tmp_path):
    mix, _ = _episode()
    wav = tmp_path / "ep01.wav"
    sf.write(wav, mix, SR)
    subs = tmp_path / "ep01.srt"
    subs.write_text("x")
    ws = Workspace.init(tmp_path / "ws")
    events = [SubtitleEvent(a, b, f"line {i}") for i, (a, b) in enumerate(LINES)]
    ws.add_episode(wav, subs, len(mix) / SR, "audio", events, {})
    yield ws
    ws.close()


class FakeVoice:
    """Stands in for CAM++ (what the stage hands it is what is tested)."""

    name, dim = "fake-voice", 4

    def __call__(self, items, **kw):
        return np.ones((len(items), 4), np.float32)


def test_separate_gaps_needs_no_weights_and_keys_its_vectors_apart(gap_ws):
    from pipelines.io.audio import episode_audio, separated_path
    from pipelines.stages.separate import prepare
    from pipelines.store.doctor import bad_stages

    ep = gap_ws.episodes()[0].id
    mixed = episode_audio(gap_ws, ep)
    emb = prepare(gap_ws, "gaps", FakeVoice())
    assert emb.name == "fake-voice+sep-gaps"
    out = separated_path(gap_ws, ep, "gaps")
    assert episode_audio(gap_ws, ep) == out  # the voice stage and the clips read it now
    filtered, sr = sf.read(out, dtype="float32")
    plain, _ = sf.read(mixed, dtype="float32")
    assert sr == SR and filtered.shape == plain.shape
    line = slice(int(LINES[0][0] * SR), int(LINES[0][1] * SR))
    assert np.sum(filtered[line] ** 2) < np.sum(plain[line] ** 2)  # the bed's share is gone
    assert gap_ws.stage_done(ep, "separate", "gaps") and bad_stages(gap_ws) == []
    stamp = out.stat().st_mtime_ns
    assert prepare(gap_ws, None, FakeVoice()).name == emb.name  # on until turned off
    assert out.stat().st_mtime_ns == stamp  # and not filtered twice
    assert prepare(gap_ws, "off", FakeVoice()).name == "fake-voice"
    assert episode_audio(gap_ws, ep) == mixed
