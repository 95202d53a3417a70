"""``castlist`` as a user runs it: the verbs on real media with the real voice model, and one
clear error line (no traceback, nothing lost) for each kind of bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.demo.episodes import build_episode, demo_pool, synthetic_turns
from pipelines.store.workspace import Workspace

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/ffmpeg").exists() and os.system("which ffmpeg >/dev/null"),
    reason="needs ffmpeg",
)


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    """Two short real-voice episodes with the same cast (mkv with video, SRT without names)."""
    out = tmp_path_factory.mktemp("media")
    pool = demo_pool()
    eps = []
    for n in range(2):
        turns = synthetic_turns(n_lines=24, n_main=3, n_minor=0, seed=n, duration_s=60.0)
        voices = {
            name: v for name, v in zip(sorted({t.speaker for t in turns}), pool.ids, strict=False)
        }
        eps.append(
            build_episode(
                turns, pool, out, f"ep{n + 1:02d}", seed=n, snr_db=20.0, video=True, voices=voices
            )
        )
    return eps


def castlist(*args: str, capsys=None) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr() if capsys else None
    return code, captured.out if captured else "", captured.err if captured else ""


def test_the_users_day_end_to_end(tmp_path, episodes, capsys):
    ws = tmp_path / "season"
    assert castlist("init", ws, capsys=capsys)[0] == 0
    for ep in episodes:
        code, out, _ = castlist("add", ws, ep.media, "--subs", ep.srt, capsys=capsys)
        assert code == 0 and "added" in out
    code, out, _ = castlist("add", ws, episodes[0].media, "--subs", episodes[0].srt, capsys=capsys)
    assert "unchanged" in out  # idempotent
    code, out, err = castlist("run", ws, capsys=capsys)
    assert code == 0, err
    assert "season characters" in out and "voice ep01" in err  # summary and progress
    with Workspace.open(ws) as w:
        lines = w.lines()
        assert all(ln.group for ln in lines)
        first = lines[0]
    code, out, _ = castlist("label", ws, "--line", first.id, "--name", "Kyon", capsys=capsys)
    assert code == 0, out
    assert "Kyon" in out and "named" in out  # says what the label did
    code, _, _ = castlist("run", ws, capsys=capsys)  # cheap re-run keeps the human label
    with Workspace.open(ws) as w:
        assert w.human_labels() == {first.id: "Kyon"}
        named = [ln for ln in w.lines() if ln.speaker == "Kyon"]
        assert len(named) > 1
    for fmt, name in (
        ("csv", "out.csv"),
        ("jsonl", "out.jsonl"),
        ("rttm", "rttm"),
        ("clips", "clips"),
    ):
        assert castlist("export", ws, "-f", fmt, "-o", tmp_path / name, capsys=capsys)[0] == 0
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert len(rows) == len(lines)
    assert {
        "episode",
        "line_id",
        "start",
        "end",
        "text",
        "speaker",
        "group",
        "label_source",
        "confidence",
    } <= set(rows[0])
    assert rows[0]["speaker"] == "Kyon" and rows[0]["label_source"] == "human"
    records = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert records[0]["line_id"] == first.id
    rttm = (tmp_path / "rttm" / "ep01.rttm").read_text().splitlines()
    assert rttm and all(r.startswith("SPEAKER ep01 1 ") for r in rttm)
    assert "Kyon" in rttm[0]
    manifest = [
        json.loads(x) for x in (tmp_path / "clips" / "manifest.jsonl").read_text().splitlines()
    ]
    assert {m["speaker"] for m in manifest} == {"Kyon"} and len(manifest) == len(named)
    import soundfile as sf

    info = sf.info(tmp_path / "clips" / manifest[0]["audio"])
    assert info.samplerate == 16000 and info.channels == 1
    assert abs(info.duration - (manifest[0]["end"] - manifest[0]["start"])) < 0.05
    code, out, _ = castlist("status", ws, capsys=capsys)
    assert "2 episodes" in out and "human" in out


def _make(cmd: list[str]) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *cmd], check=True)


@pytest.mark.parametrize(
    "case", ["missing", "no_audio", "corrupt", "empty_subs", "past_end", "no_subs"]
)
def test_bad_input_is_one_clear_line_and_nothing_is_lost(tmp_path, episodes, capsys, case):
    ws = tmp_path / "ws"
    castlist("init", ws, capsys=capsys)
    castlist("add", ws, episodes[0].media, "--subs", episodes[0].srt, capsys=capsys)
    before = Workspace.open(ws).lines_frame()
    srt = episodes[0].srt
    if case == "missing":
        media = tmp_path / "nope.mkv"
    elif case == "no_audio":
        media = tmp_path / "silent.mkv"
        _make(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=3", media.as_posix()])
    elif case == "corrupt":
        media = tmp_path / "broken.mkv"
        media.write_bytes(episodes[0].media.read_bytes()[:4000])
    elif case == "empty_subs":
        media, srt = episodes[1].media, tmp_path / "empty.srt"
        srt.write_text("")
    elif case == "past_end":
        media = tmp_path / "short.wav"
        _make(["-f", "lavfi", "-i", "sine=duration=2", media.as_posix()])
    else:
        media = tmp_path / "lonely.mkv"
        media.write_bytes(episodes[1].media.read_bytes())
        srt = None
    args = ["add", ws, media] + (["--subs", srt] if srt else [])
    code, out, err = castlist(*args, capsys=capsys)
    assert code == 2
    assert err.startswith("castlist: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    named = {"empty_subs": "empty.srt", "past_end": srt.name if srt else ""}.get(case, media.name)
    assert named in err
    after = Workspace.open(ws).lines_frame()
    assert after.equals(before)


def test_not_a_workspace(tmp_path, capsys):
    code, _, err = castlist("run", tmp_path, capsys=capsys)
    assert code == 2 and str(tmp_path) in err and "castlist init" in err


@pytest.mark.slow  # real processes killed mid-run (~40 s); the fast loop resumes in-process
def test_killed_run_resumes_to_the_same_result(tmp_path, episodes):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "pipelines.cli"]
    results = []
    for kill in (False, True):
        ws = tmp_path / f"ws{kill}"
        subprocess.run([*cli, "init", ws], check=True, env=env)
        for ep in episodes:
            subprocess.run([*cli, "add", ws, ep.media, "--subs", ep.srt], check=True, env=env)
        if kill:
            proc = subprocess.Popen([*cli, "run", ws], env=env, stderr=subprocess.PIPE, text=True)
            for line in proc.stderr:  # kill once the second episode is being embedded
                if "voice ep02" in line:
                    proc.send_signal(signal.SIGKILL)
                    break
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            with Workspace.open(ws) as w:
                # killed while embedding ep02: ep01's vectors are kept, ep02 starts over
                done_stages = {(ep, stage) for ep, stage, _ in w.stage_rows()}
                assert ("ep01", "voice") in done_stages
                assert ("ep02", "voice") not in done_stages
        done = subprocess.run([*cli, "run", ws], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        with Workspace.open(ws) as w:
            results.append([(ln.id, ln.group) for ln in w.lines()])
    assert results[0] == results[1]
