"""Issue 8 item 13a and the resume rule, on real media: while `castlist run` works, a second
run says who holds the workspace; kill -9 or SIGTERM in the middle, then the same command,
ends with the same export as an uninterrupted run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.demo.episodes import build_episode, demo_pool, synthetic_turns
from pipelines.store import lock

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg"),
]
REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "pipelines.cli"]
# one thread each: the machine running the tests is often shared
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    out = tmp_path_factory.mktemp("media")
    pool = demo_pool()
    eps = []
    for n in range(2):
        turns = synthetic_turns(n_lines=12, n_main=3, n_minor=0, seed=n, duration_s=30.0)
        voices = dict(zip(sorted({t.speaker for t in turns}), pool.ids, strict=False))
        eps.append(
            build_episode(turns, pool, out, f"ep{n + 1:02d}", seed=n, snr_db=20.0, voices=voices)
        )
    return eps


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *map(str, args)], env=ENV, cwd=REPO, capture_output=True, text=True, check=False
    )


def prepared(root: Path, episodes) -> Path:
    assert cli("init", root).returncode == 0
    for ep in episodes:
        done = cli("add", root, ep.media, "--subs", ep.srt)
        assert done.returncode == 0, done.stderr
    return root


def export(root: Path, out: Path) -> str:
    done = cli("export", root, "-f", "csv", "-o", out)
    assert done.returncode == 0, done.stderr
    return out.read_text()


def test_interrupted_runs_resume_to_the_same_export(tmp_path, episodes, monkeypatch, capsys):
    reference = prepared(tmp_path / "ref", episodes)
    done = cli("run", reference)
    assert done.returncode == 0, done.stderr
    expected = export(reference, tmp_path / "ref.csv")

    monkeypatch.setattr(lock, "DEFAULT_WAIT_S", 0.2)
    for sig in (signal.SIGKILL, signal.SIGTERM):
        root = prepared(tmp_path / f"ws{int(sig)}", episodes)
        proc = subprocess.Popen(
            [*CLI, "run", str(root)], env=ENV, cwd=REPO, stderr=subprocess.PIPE, text=True
        )
        for line in proc.stderr:  # stop it once the second episode is being embedded
            if "voice ep02" in line:
                # meanwhile a second writer is told who is working, and does nothing
                assert main(["run", str(root)]) == 2
                err = capsys.readouterr().err
                assert f"workspace busy: `castlist run` (pid {proc.pid})" in err
                proc.send_signal(sig)
                break
        _, rest = proc.communicate(timeout=120)
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL
        else:  # a clean stop: the same message as Ctrl+C, lock released
            assert proc.returncode == 130, rest
            assert "interrupted; run the same command again to resume" in rest
            assert "Traceback" not in rest
        resumed = cli("run", root)
        assert resumed.returncode == 0, resumed.stderr
        assert export(root, tmp_path / f"out{int(sig)}.csv") == expected
