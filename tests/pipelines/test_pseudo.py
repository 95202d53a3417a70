"""Pseudo-episodes: turn structures, voice casting, rendering, and the shipped demo."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import Counter
from importlib import resources
from itertools import pairwise
from pathlib import Path

import numpy as np
import pysubs2
import pytest
import soundfile as sf
from scipy.signal import fftconvolve

from benchmarks.pseudo_seasons import build_season, thin_names, turns_from_ass
from pipelines.demo.episodes import (
    SAMPLE_RATE,
    TruthLine,
    Turn,
    VoicePool,
    build_demo,
    build_episode,
    demo_pool,
    synthetic_turns,
)
from pipelines.errors import InputError, SubtitleError
from pipelines.export.evaluate import read_truth

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="module")
def pool() -> VoicePool:
    return demo_pool()


def _write_ass(path: Path, turns: list[Turn], extra: list[pysubs2.SSAEvent] = ()) -> Path:
    subs = pysubs2.SSAFile()
    for t in turns:
        subs.events.append(
            pysubs2.SSAEvent(
                start=int(t.start * 1000), end=int(t.end * 1000), text=t.text, name=t.speaker
            )  # fmt: skip
        )
    subs.events.extend(extra)
    subs.save(str(path))
    return path


# ----------------------------------------------------------------------------- turns


def test_synthetic_turns_look_like_an_episode():
    turns = synthetic_turns(n_lines=80, n_main=6, n_minor=2, seed=3, duration_s=190)
    assert turns == synthetic_turns(n_lines=80, n_main=6, n_minor=2, seed=3, duration_s=190)
    assert turns != synthetic_turns(n_lines=80, n_main=6, n_minor=2, seed=4, duration_s=190)
    assert len(turns) == 80
    counts = Counter(t.speaker for t in turns)
    assert len(counts) == 8
    assert sorted(counts.values())[:2] == [1, 2]  # the one-offs
    assert all(c >= 2 for c in sorted(counts.values())[2:])
    durs = np.array([t.duration for t in turns])
    assert durs.min() >= 0.49 and durs.max() <= 4.01
    assert 0.15 < (durs < 1.5).mean() < 0.5  # interjections are common, not dominant
    assert all(a.start <= b.start for a, b in pairwise(turns))
    assert 170 < turns[-1].end < 195
    # mostly alternation, some bursts
    same = sum(a.speaker == b.speaker for a, b in pairwise(turns))
    assert 0 < same < 0.4 * len(turns)


def test_turns_from_ass_keeps_named_dialogue_only(tmp_path):
    lines = [
        Turn(1.0, 2.5, "Taiga", "Hey!"),
        Turn(3.0, 5.0, "Ryuji", "What?"),
        Turn(6.0, 7.0, "RYuji", "Fine."),
        Turn(8.0, 9.0, "Ryuji (thought)", "Ugh."),
    ]
    noise = [
        pysubs2.SSAEvent(start=1000, end=2500, text="Hey!", name="Taiga"),  # layered duplicate
        pysubs2.SSAEvent(start=500, end=900, text="Shop", name=""),  # no name
        pysubs2.SSAEvent(start=500, end=900, text="la la", name="Taiga", style="OP Romaji"),
        pysubs2.SSAEvent(start=500, end=900, text="Exit", name="Sign"),
        pysubs2.SSAEvent(start=500, end=900, text="x", name="Taiga", type="Comment"),
        pysubs2.SSAEvent(start=500, end=900, text="{\\pos(1,1)}", name="Taiga"),  # no text
    ]
    turns = turns_from_ass(_write_ass(tmp_path / "ep.ass", lines, noise))
    assert [(t.start, t.end, t.speaker) for t in turns] == [
        (1.0, 2.5, "Taiga"),
        (3.0, 5.0, "Ryuji"),
        (6.0, 7.0, "Ryuji"),
        (8.0, 9.0, "Ryuji"),
    ]
    with pytest.raises(SubtitleError):
        turns_from_ass(_write_ass(tmp_path / "empty.ass", [], noise[1:3]))


@pytest.mark.shared
@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
def test_turns_from_real_named_ass():
    root = DATA / "anime_subtitles_named" / "ass"
    for series in sorted(p for p in root.iterdir() if p.is_dir()):
        turns = turns_from_ass(sorted(series.rglob("*.ass"))[0])
        counts = Counter(t.speaker for t in turns)
        assert len(turns) > 150 and len(counts) >= 8, series.name
        assert counts.most_common(1)[0][1] > 50


# ----------------------------------------------------------------------------- voices


def test_assign_gives_main_voices_to_main_characters_and_reuses_last():
    rng = np.random.default_rng(0)
    tone = [rng.standard_normal(SAMPLE_RATE).astype(np.float32)]
    p = VoicePool({f"m{i}": tone for i in range(3)}, {f"x{i}": tone for i in range(2)})
    counts = {"A": 50, "B": 40, "C": 30, "d": 2, "e": 1, "f": 1, "g": 1}
    m = p.assign(counts, seed=1)
    assert m == p.assign(counts, seed=1)
    assert {m["A"], m["B"], m["C"]} == {"m0", "m1", "m2"}
    assert {m["d"], m["e"]} == {"x0", "x1"}
    assert m["f"] in ("x0", "x1") and m["g"] in ("x0", "x1")  # reuse: extra voices first
    perms = {tuple(p.assign(counts, seed=s)[c] for c in "ABC") for s in range(10)}
    assert len(perms) > 1  # the permutation depends on the seed


def test_rttm_voices_cut_single_speaker_segments(tmp_path):
    sr = SAMPLE_RATE
    t = np.arange(6 * sr) / sr
    audio = np.where(t < 3, np.sin(2 * np.pi * 200 * t), np.sin(2 * np.pi * 500 * t))
    sf.write(tmp_path / "reç.wav", audio.astype(np.float32), sr)  # as pyannote's "trñ00.wav"
    (tmp_path / "rec.rttm").write_text(
        "SPEAKER rec 1 0.000 3.700 <NA> <NA> A <NA> <NA>\n"
        "SPEAKER rec 1 3.300 2.700 <NA> <NA> B <NA> <NA>\n"
        "SPEAKER rec 1 0.300 0.600 <NA> <NA> D <NA> <NA>\n"
        "SPEAKER gone 1 0.000 3.000 <NA> <NA> C <NA> <NA>\n"
    )
    v = VoicePool.rttm_voices([tmp_path / "rec.rttm"])
    assert set(v) == {"ami:A", "ami:B"}  # D: too little audio; C: no recording
    assert [len(c) / sr for c in v["ami:A"]] == [2.4]  # overlaps cut; 0-0.3 s too short
    assert [len(c) / sr for c in v["ami:B"]] == [2.3]


# ----------------------------------------------------------------------------- rendering


def _line_audio(wav: np.ndarray, t: Turn | object, edge: float = 0.03) -> np.ndarray:
    a = int((t.start + edge) * SAMPLE_RATE)
    b = int((t.end - edge) * SAMPLE_RATE)
    return wav[a:b]


def test_episode_is_deterministic_and_aligned(tmp_path, pool):
    turns = synthetic_turns(n_lines=30, n_main=4, n_minor=1, seed=1, duration_s=70)
    e1 = build_episode(turns, pool, tmp_path / "a", "ep", seed=5, snr_db=10)
    build_episode(turns, pool, tmp_path / "b", "ep", seed=5, snr_db=10)
    e3 = build_episode(turns, pool, tmp_path / "c", "ep", seed=6, snr_db=10)
    for ext in (".wav", ".srt", ".ass", ".truth.csv"):
        assert (tmp_path / "a" / f"ep{ext}").read_bytes() == (
            tmp_path / "b" / f"ep{ext}"
        ).read_bytes()
    assert e1.media.read_bytes() != e3.media.read_bytes()

    # the truth file is what `castlist eval --truth` reads
    table = read_truth(e1.truth_csv)
    truth = [
        TruthLine(int(r.idx), float(r.start), float(r.end), r.speaker, r.voice)
        for r in table.itertuples()
    ]
    assert tuple(truth) == e1.truth
    srt = pysubs2.load(str(e1.srt))
    ass = pysubs2.load(str(e1.ass))
    assert len(srt) == len(ass) == len(truth) == len(turns)
    for r, s, a in zip(truth, srt, ass, strict=True):
        assert s.start == a.start == round(r.start * 1000)
        assert s.end == a.end == round(r.end * 1000)
        assert a.name == r.speaker and s.name == ""
        assert r.speaker not in s.text
    assert Counter(r.speaker for r in truth) == Counter(t.speaker for t in turns)
    info = sf.info(str(e1.media))
    assert info.samplerate == SAMPLE_RATE and info.channels == 1
    assert info.duration == pytest.approx(e1.duration, abs=0.01)


def test_speech_sits_at_line_times_in_the_right_voice(tmp_path, pool):
    turns = synthetic_turns(n_lines=30, n_main=4, n_minor=1, seed=2, duration_s=70)
    ep = build_episode(turns, pool, tmp_path, "clean", seed=0, snr_db=None)
    wav, _ = sf.read(str(ep.media), dtype="float32")
    inside = np.zeros(len(wav), dtype=bool)
    for r in ep.truth:
        inside[int(r.start * SAMPLE_RATE) : int(np.ceil(r.end * SAMPLE_RATE)) + 1] = True
        seg = _line_audio(wav, r)
        assert np.sqrt(np.mean(seg**2)) > 0.005, r
    assert np.abs(wav[~inside]).max() < 1e-4  # clean: silence between lines

    # each line is a crop of its own voice (normalised cross-correlation ~ 1)...
    by_speaker: dict[str, list] = {}
    for r in ep.truth:
        by_speaker.setdefault(r.speaker, []).append(r)
    overlapping = set()
    for a, b in pairwise(ep.truth):
        if b.start < a.end:
            overlapping |= {a.idx, b.idx}
    checked = 0
    for rows in by_speaker.values():
        for r in rows[:2]:
            if r.idx in overlapping or r.end - r.start < 0.6:
                continue
            snip = _line_audio(wav, r, edge=0.1)[: int(0.3 * SAMPLE_RATE)]
            own = pool.stream(r.voice)
            other = pool.stream(next(v for v in pool.ids if v != r.voice))
            assert _best_ncc(snip, own) > 0.99
            assert _best_ncc(snip, other) < 0.9
            checked += 1
    assert checked >= 3
    # ...and two lines of one character are different crops
    rows = max(by_speaker.values(), key=len)
    a, b = (_line_audio(wav, r, edge=0.1)[:4000] for r in rows[:2])
    assert not np.allclose(a, b, atol=1e-3)


def _best_ncc(snip: np.ndarray, stream: np.ndarray) -> float:
    snip = snip - snip.mean()
    corr = fftconvolve(stream, snip[::-1], mode="valid")
    energy = fftconvolve(stream**2, np.ones(len(snip)), mode="valid")
    return float(np.max(corr / (np.sqrt(np.maximum(energy, 1e-12)) * np.linalg.norm(snip))))


def test_background_is_mixed_at_the_requested_snr(tmp_path, pool):
    turns = synthetic_turns(n_lines=20, n_main=3, n_minor=0, seed=4, duration_s=60)
    clean = build_episode(turns, pool, tmp_path, "clean", seed=1, snr_db=None)
    noisy = build_episode(turns, pool, tmp_path, "noisy", seed=1, snr_db=5, music=True)
    s, _ = sf.read(str(clean.media), dtype="float32")
    x, _ = sf.read(str(noisy.media), dtype="float32")
    mask = np.zeros(len(s), dtype=bool)
    for r in clean.truth:
        mask[int(r.start * SAMPLE_RATE) : int(r.end * SAMPLE_RATE)] = True
    bg = x - s
    snr = 10 * np.log10(np.mean(s[mask] ** 2) / np.mean(bg**2))
    assert snr == pytest.approx(5, abs=0.5)
    gap = ~mask
    assert np.sqrt(np.mean(x[gap] ** 2)) > 0.003  # background between lines too


def test_season_keeps_each_characters_voice(tmp_path, pool):
    paths = []
    for i in range(2):
        turns = synthetic_turns(n_lines=20, n_main=4, n_minor=1 + i, seed=10 + i, duration_s=50)
        paths.append(_write_ass(tmp_path / f"src{i}.ass", turns))
    eps = build_season(paths, pool, tmp_path / "out", seed=0, snr_db=20)
    assert [e.name for e in eps] == ["ep01", "ep02"]
    voice_of: dict[str, str] = {}
    for ep in eps:
        for r in ep.truth:
            assert voice_of.setdefault(r.speaker, r.voice) == r.voice
    mains = [c for c, _ in Counter(r.speaker for e in eps for r in e.truth).most_common(4)]
    assert len({voice_of[c] for c in mains}) == 4
    assert all(voice_of[c] in pool.voices for c in mains)
    assert len(set(voice_of.values())) == len(voice_of)  # enough voices: nobody shares


# ----------------------------------------------------------------------------- demo


def test_demo_builds_from_package_data(tmp_path):
    base = resources.files("pipelines.demo.data")
    manifest = json.loads(base.joinpath("manifest.json").read_text())
    files = [f["file"] for s in manifest["speakers"].values() for f in s["files"]]
    assert all(base.joinpath(f).is_file() for f in files)
    size = sum(Path(str(base.joinpath(f))).stat().st_size for f in files)
    assert size < 5_000_000
    assert "CC BY 4.0" in base.joinpath("ATTRIBUTION.md").read_text()

    t0 = time.perf_counter()
    ep = build_demo(tmp_path, seed=0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 20  # ~1-2 s here; generous for a busy machine
    assert ep.media.suffix == ".mkv"
    assert 70 <= len(ep.truth) <= 100 and 120 <= ep.duration <= 200
    counts = Counter(r.speaker for r in ep.truth)
    assert len(counts) == 8 and min(counts.values()) == 1
    assert all(e.name == "" for e in pysubs2.load(str(ep.srt)))
    assert len({r.voice for r in ep.truth}) == 8

    if shutil.which("ffprobe"):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,sample_rate:format=duration",
             "-of", "json", str(ep.media)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        info = json.loads(out)
        kinds = sorted(s["codec_type"] for s in info["streams"])
        assert kinds == ["audio", "video"]
        audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
        assert audio["sample_rate"] == str(SAMPLE_RATE)
        assert float(info["format"]["duration"]) == pytest.approx(ep.duration, abs=0.6)


def _named_ass(path: Path, n: int) -> Path:
    subs = pysubs2.SSAFile()
    for i in range(n):
        subs.events.append(
            pysubs2.SSAEvent(start=i * 1000, end=i * 1000 + 800, text=f"l{i}", name=f"C{i % 3}")
        )
    subs.save(str(path))
    return path


def test_thin_names_keeps_about_the_share_asked_and_nothing_else_changes(tmp_path: Path) -> None:
    src = _named_ass(tmp_path / "full.ass", 400)
    kept = thin_names(src, 0.3, tmp_path / "thin.ass", seed=1)
    before, after = pysubs2.load(str(src)), pysubs2.load(str(tmp_path / "thin.ass"))
    named = [ev for ev in after.events if ev.name]
    assert kept == len(named)
    assert 0.22 < kept / 400 < 0.38
    assert [(e.start, e.end, e.text) for e in before] == [(e.start, e.end, e.text) for e in after]
    # a kept name is the line's own name, never another line's
    assert all(a.name == b.name for a, b in zip(before, after, strict=True) if b.name)
    # deterministic for a seed; everything kept at 1.0, nothing at 0.0
    assert thin_names(src, 0.3, tmp_path / "again.ass", seed=1) == kept
    assert thin_names(src, 1.0, tmp_path / "all.ass") == 400
    assert thin_names(src, 0.0, tmp_path / "none.ass") == 0
    with pytest.raises(InputError):
        thin_names(src, 1.5, tmp_path / "bad.ass")


def test_a_speaker_signal_makes_close_voices_nearest_neighbours_without_separating_pairs():
    """benchmarks.grouping_data.with_speaker_signal stands for a stronger voice model on acted
    voices: each line's nearest neighbour becomes its own voice far more often, while one
    voice's pairs and two voices' pairs stay close on average."""
    from benchmarks.grouping_data import with_speaker_signal
    from grouping.vectors import normalize_rows

    rng = np.random.default_rng(0)
    voices = np.repeat(np.arange(6), 20)
    common = rng.normal(size=64)
    X = (common + 1.2 * rng.normal(size=(len(voices), 64))).astype(np.float32)

    def nn1(V):
        Z = normalize_rows(V - V.mean(0))
        S = Z @ Z.T
        np.fill_diagonal(S, -9)
        return float(np.mean(voices[S.argmax(1)] == voices))

    Y = with_speaker_signal(X, voices, 0.7)
    assert Y.dtype == X.dtype and np.allclose(np.linalg.norm(Y, axis=1), 1.0, atol=1e-5)
    assert nn1(X) < 0.4 < 0.7 < nn1(Y)
    C = Y @ Y.T
    same = voices[:, None] == voices[None]
    np.fill_diagonal(same, False)
    assert C[same].mean() - C[~same & ~np.eye(len(Y), dtype=bool)].mean() < 0.5
    assert np.array_equal(Y, with_speaker_signal(X, voices, 0.7))  # seeded


@pytest.mark.shared
@pytest.mark.skipif(not (DATA / "acted_voices").is_dir(), reason="needs ../shared/data")
def test_every_acted_episode_names_one_subtitle_file_and_casts_each_voice_once():
    """The 18 acted benchmark episodes are picked by name parts; a spec matching two ASS files
    (or none) would silently measure another episode, and one casting a voice twice would
    mislabel its lines."""
    from benchmarks.acted_data import MORE_SPECS, SPECS, acted_voices, cast_and_lay, find_ass

    specs = SPECS + MORE_SPECS
    assert len({s.name for s in specs}) == len(specs) == 18
    bases = {(s.ass_parts, s.seed) for s in specs}
    assert len(bases) == 3 + len(MORE_SPECS)  # every further episode is a new structure or draw
    for spec in MORE_SPECS:
        turns = turns_from_ass(find_ass(DATA, spec.ass_parts))  # raises unless exactly one
        clips = acted_voices(DATA, spec.voices)
        laid = cast_and_lay(turns, clips, spec.seed)
        assert len(laid) >= 100
        assert len({clip for _, _, clip in laid}) == len(laid)  # no clip twice
        speakers_of = {}
        for turn, voice, _ in laid:
            speakers_of.setdefault(voice, set()).add(turn.speaker)
        assert all(len(s) == 1 for s in speakers_of.values())  # one character per voice
